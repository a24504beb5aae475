//! nftables: one `inet` table per topology, replaced atomically on every load.
//!
//! The file first declares the table (creating it when absent), deletes it, and declares it
//! again in full, all in one transaction: loading it on a fresh machine and re-loading it give
//! the same rule set, and no other table is touched. (`destroy table` would say this in one
//! line, but needs nftables 1.0.8; Debian 12 ships 1.0.6.)

use anyhow::Result;
use serde_json::{json, Value};

use super::netfilter::{self, Family, FwRule};
use crate::flow::{PortRange, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::Perspective;

/// The table ctxfw owns: `ctxfw-<topology>` (an nft identifier must start with a letter, and
/// the prefix says who owns it).
pub fn table_name(topology: &str) -> String {
    format!("ctxfw-{topology}")
}

/// `tcp dport { 80, 443, 6910-6930 }`, `udp dport 53`, `meta l4proto esp`.
fn matcher(r: &FwRule) -> String {
    let port = |p: &PortRange| {
        if p.is_single() {
            p.lo.to_string()
        } else {
            format!("{}-{}", p.lo, p.hi)
        }
    };
    match r.protocol {
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp => {
            let ports: Vec<String> = r.ports.iter().map(port).collect();
            let set = if ports.len() == 1 {
                ports[0].clone()
            } else {
                format!("{{ {} }}", ports.join(", "))
            };
            format!("{} dport {set}", r.protocol)
        }
        Protocol::Icmpv6 => "meta l4proto ipv6-icmp".into(),
        p => format!("meta l4proto {p}"),
    }
}

fn addr_keyword(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    }
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let topo = &ctx.loaded.topology;
    let m = netfilter::model(ctx);
    let chains: Vec<Value> = m
        .chains
        .iter()
        .map(|c| {
            let rules: Vec<Value> = c
                .rules
                .iter()
                .map(|r| {
                    let k = addr_keyword(r.family);
                    json!({
                        "flow": r.flow,
                        "family": r.family,
                        "match": format!("{k} saddr @{} {k} daddr @{} {}", r.src_set, r.dst_set, matcher(r)),
                        "comment": r.comment,
                        "notes": r.notes,
                            "repeat": r.repeat,
                    })
                })
                .collect();
            json!({"hook": c.hook, "direction": c.direction, "rules": rules})
        })
        .collect();
    let host = match ctx.opts.perspective() {
        Perspective::Host(h) => Some(h),
        Perspective::Zone => None,
    };
    let sets: Vec<Value> = m
        .sets
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "type": match s.family { Family::Ipv4 => "ipv4_addr", Family::Ipv6 => "ipv6_addr" },
                "label": s.label,
                "elements": s.elements,
            })
        })
        .collect();
    let value = json!({
        "topology": topo.name,
        "description": topo.description,
        "table": table_name(&topo.name),
        "host": host,
        "ipv6": m.families.contains(&Family::Ipv6),
        "counters": ctx.opts.counters,
        "log_drops": ctx.opts.log_drops,
        "sets": sets,
        "chains": chains,
        "domains": m.domains,
    });
    let mut files = vec![OutFile {
        name: format!("{}.nft", topo.name),
        content: ctx.renderer.render("nftables.nft.j2", &value)?,
    }];
    files.extend(netfilter::domains_file(topo, &m));
    Ok(files)
}
