//! iptables: `iptables-restore --noflush` files, `<topology>.rules` (IPv4) and
//! `<topology>.rules6` (IPv6, when the topology has IPv6 networks).
//!
//! ctxfw owns its chains (`CTXFW-<topology>`, `-in`/`-out` for a host firewall): each load
//! empties and refills them (`:CHAIN - [0:0]` flushes an existing chain under `--noflush`), so
//! re-loading is idempotent and other rules survive. iptables-restore cannot insert a rule only
//! when it is missing, so the jump from the built-in chain is a checked one-liner
//! (`iptables -C ... || iptables -I ...`) printed in the file header and the docs.

use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use super::concat;
use super::netfilter::{self, short_hash, Family, FwRule, Model};
use crate::flow::{Flow, PortRange, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::{Direction, Perspective};

/// Longest chain name iptables accepts.
pub const CHAIN_MAX: usize = 28;
/// Ports one `-m multiport` match takes; a range counts as two.
pub const MULTIPORT_MAX: usize = 15;

/// `CTXFW-<topology><suffix>`, cut to 28 characters; a cut name ends in a hash of the full
/// one so two long topology names do not share chains.
pub fn chain_name(topology: &str, suffix: &str) -> String {
    let full = format!("CTXFW-{topology}{suffix}");
    if full.len() <= CHAIN_MAX {
        return full;
    }
    let tag = short_hash(&full);
    let keep = CHAIN_MAX - "CTXFW-".len() - suffix.len() - tag.len() - 1;
    format!("CTXFW-{}-{tag}{suffix}", &topology[..keep])
}

/// Port ranges as multiport chunks: at most 15 ports per chunk, a range counting as two.
pub fn port_chunks(ports: &[PortRange]) -> Vec<Vec<PortRange>> {
    let mut chunks: Vec<Vec<PortRange>> = Vec::new();
    let mut used = 0;
    for p in ports {
        let cost = if p.is_single() { 1 } else { 2 };
        if chunks.is_empty() || used + cost > MULTIPORT_MAX {
            chunks.push(Vec::new());
            used = 0;
        }
        chunks.last_mut().expect("a chunk").push(*p);
        used += cost;
    }
    chunks
}

fn port_str(p: &PortRange) -> String {
    if p.is_single() {
        p.lo.to_string()
    } else {
        format!("{}:{}", p.lo, p.hi)
    }
}

/// The match part of each line one rule of flow `f` becomes (one per multiport chunk).
fn matches(r: &FwRule, f: &Flow) -> Vec<String> {
    let addrs = concat(&["-s ", &r.src.join(","), " -d ", &r.dst.join(",")]);
    let p = f.protocol.name();
    match f.protocol {
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp => port_chunks(f.ports.ranges())
            .iter()
            .map(|chunk| {
                if chunk.len() == 1 {
                    concat(&[
                        &addrs,
                        " -p ",
                        p,
                        " -m ",
                        p,
                        " --dport ",
                        &port_str(&chunk[0]),
                    ])
                } else {
                    let list: Vec<String> = chunk.iter().map(port_str).collect();
                    concat(&[
                        &addrs,
                        " -p ",
                        p,
                        " -m multiport --dports ",
                        &list.join(","),
                    ])
                }
            })
            .collect(),
        Protocol::Icmpv6 => vec![concat(&[&addrs, " -p ipv6-icmp"])],
        _ => vec![concat(&[&addrs, " -p ", p])],
    }
}

/// One chain in the template: its rules are made template values one at a time.
#[derive(Serialize)]
struct ChainCtx {
    name: String,
    builtin: &'static str,
    loopback: Option<&'static str>,
    rules: minijinja::Value,
}

#[derive(Serialize)]
struct FileCtx<'a> {
    topology: &'a str,
    description: &'a str,
    host: Option<&'a str>,
    family: Family,
    cmd: &'static str,
    file: String,
    log_drops: bool,
    chains: Vec<ChainCtx>,
    domains: &'a [String],
}

/// A rule of `m` as the template reads it.
fn rule_value(m: &Model, r: &FwRule) -> minijinja::Value {
    #[derive(Serialize)]
    struct RuleCtx<'a> {
        flow: &'a str,
        lines: Vec<String>,
        comment: String,
        notes: Vec<String>,
        repeat: bool,
    }
    let f = m.flow(r);
    minijinja::Value::from_serialize(RuleCtx {
        flow: &f.id,
        lines: matches(r, f),
        comment: netfilter::comment(f),
        notes: netfilter::notes(f),
        repeat: r.repeat,
    })
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let topo = &ctx.loaded.topology;
    let shared = netfilter::shared_model(ctx);
    let m = &shared.0;
    let host = match ctx.opts.perspective() {
        Perspective::Host(h) => Some(h),
        Perspective::Zone => None,
    };
    // Each chain's rules of each family (IPv4, IPv6), by index into the shared model.
    let split: Vec<(Direction, [Arc<Vec<usize>>; 2])> = m
        .chains
        .iter()
        .map(|c| {
            let (v4, v6): (Vec<usize>, Vec<usize>) =
                (0..c.rules.len()).partition(|&k| c.rules[k].family == Family::Ipv4);
            (c.direction, [v4.into(), v6.into()])
        })
        .collect();
    for &fam in &m.families {
        let chains: Vec<ChainCtx> = split
            .iter()
            .enumerate()
            .map(|(c, (direction, by_fam))| {
                let (builtin, suffix, loopback) = match direction {
                    Direction::Forward => ("FORWARD", "", None),
                    Direction::Inbound => ("INPUT", "-in", Some("-i lo")),
                    Direction::Outbound => ("OUTPUT", "-out", Some("-o lo")),
                };
                let rules = by_fam[usize::from(fam == Family::Ipv6)].clone();
                let model = shared.clone();
                ChainCtx {
                    name: chain_name(&topo.name, suffix),
                    builtin,
                    loopback,
                    rules: super::lazy_view(rules, move |_, &k| {
                        rule_value(&model.0, &model.0.chains[c].rules[k])
                    }),
                }
            })
            .collect();
        let (cmd, ext) = match fam {
            Family::Ipv4 => ("iptables", "rules"),
            Family::Ipv6 => ("ip6tables", "rules6"),
        };
        let value = FileCtx {
            topology: &topo.name,
            description: &topo.description,
            host: host.as_deref(),
            family: fam,
            cmd,
            file: format!("{}.{ext}", topo.name),
            log_drops: ctx.opts.log_drops,
            chains,
            domains: &m.domains,
        };
        ctx.write(&format!("{}.{ext}", topo.name), |w| {
            ctx.renderer.render_ser_to("iptables.rules.j2", &value, w)
        })?;
    }
    Ok(netfilter::domains_file(topo, m).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_fit() {
        assert_eq!(chain_name("onprem-cvad", ""), "CTXFW-onprem-cvad");
        let long = chain_name("a-very-long-topology-name-for-a-site", "-out");
        assert_eq!(long.len(), CHAIN_MAX);
        assert!(long.ends_with("-out"));
        assert_ne!(
            long,
            chain_name("a-very-long-topology-name-for-b-site", "-out")
        );
    }

    #[test]
    fn multiport_counts_ranges_twice() {
        let ports: Vec<PortRange> = (1..=14)
            .map(|p| PortRange::single(p * 10))
            .chain([PortRange { lo: 1000, hi: 2000 }])
            .collect();
        let chunks = port_chunks(&ports);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len(), 14);
        assert_eq!(chunks[1], vec![PortRange { lo: 1000, hi: 2000 }]);
        let exactly: Vec<PortRange> = (1..=15).map(PortRange::single).collect();
        assert_eq!(port_chunks(&exactly).len(), 1);
    }
}
