//! What AWS security groups allow beyond the flows: two internet rules that meet inside AWS.

use crate::flow::{Flow, PortSet, Protocol};
use crate::generate::Ctx;
use crate::topology::{Location, Topology};

use super::{cloud, Family};

/// Where two internet rules meet inside AWS: `from`'s egress to the internet and `to`'s
/// ingress from it share a protocol and ports that no flow from `from` to `to` has. Security
/// groups cannot leave the zones' networks out of `0.0.0.0/0`, so they let `from` connect to
/// `to` on those ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub from: String,
    pub to: String,
    pub family: Family,
    pub protocol: Protocol,
    /// Empty for a protocol without ports.
    pub ports: PortSet,
}

/// Every [`Exposure`] of the topology's AWS components, in flow order.
pub fn exposures(topo: &Topology, flows: &[Flow]) -> Vec<Exposure> {
    let internal = crate::plan::Internal::of(topo);
    let wide = |addrs: &[ipnet::IpNet], fam: Family| {
        !internal.nets(fam == Family::V6).is_empty()
            && addrs
                .iter()
                .any(|n| n.prefix_len() == 0 && Family::of(n) == fam)
    };
    // Internet egress and ingress per component, family and protocol: ports.
    type Side = indexmap::IndexMap<(String, Family, Protocol), PortSet>;
    let (mut out, mut inb): (Side, Side) = (Side::new(), Side::new());
    let add = |side: &mut Side, comp: &str, fam: Family, f: &Flow| {
        side.entry((comp.to_string(), fam, f.protocol))
            .and_modify(|p| *p = p.union(&f.ports))
            .or_insert_with(|| f.ports.clone());
    };
    // What the flows between two components allow anyway, per protocol.
    let mut flowed: crate::HashMap<(&str, &str, Protocol), PortSet> = crate::HashMap::default();
    for f in flows {
        flowed
            .entry((&*f.from, &*f.to, f.protocol))
            .and_modify(|p| *p = p.union(&f.ports))
            .or_insert_with(|| f.ports.clone());
        for fam in cloud::families(f) {
            if cloud::in_cloud(topo, &f.from_end.zone, Location::Aws)
                && wide(&f.to_end.addresses, fam)
            {
                add(&mut out, &f.from, fam, f);
            }
            if cloud::in_cloud(topo, &f.to_end.zone, Location::Aws)
                && wide(&f.from_end.addresses, fam)
            {
                add(&mut inb, &f.to, fam, f);
            }
        }
    }
    let mut inb_by: indexmap::IndexMap<(Family, Protocol), Vec<(&str, &PortSet)>> =
        indexmap::IndexMap::new();
    for ((b, fam, proto), pb) in &inb {
        inb_by.entry((*fam, *proto)).or_default().push((b, pb));
    }
    let mut found = Vec::new();
    for ((a, fam, proto), pa) in &out {
        for &(b, pb) in inb_by.get(&(*fam, *proto)).into_iter().flatten() {
            // What both allow, less what the flows from `a` to `b` allow anyway.
            let meet = pa.minus(&pa.minus(pb));
            let anyway = flowed.get(&(a.as_str(), b, *proto));
            let meet = match anyway {
                Some(p) => meet.minus(p),
                None => meet,
            };
            let open = if proto.has_ports() {
                !meet.is_empty()
            } else {
                anyway.is_none()
            };
            if open {
                found.push(Exposure {
                    from: a.clone(),
                    to: b.to_string(),
                    family: *fam,
                    protocol: *proto,
                    ports: meet,
                });
            }
        }
    }
    found
}

/// Warn about [`exposures`], one warning per source and port set (a source reaching every
/// site's gateway is one warning, not one per gateway); the Terraform target says the same.
pub fn warn_exposures(ctx: &Ctx<'_>) {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let mut groups: indexmap::IndexMap<(String, Family, Protocol, PortSet), Vec<String>> =
        indexmap::IndexMap::new();
    for e in exposures(t, &r.flows) {
        groups
            .entry((e.from, e.family, e.protocol, e.ports))
            .or_default()
            .push(e.to);
    }
    const NAMED: usize = 5;
    for ((from, family, protocol, ports), to) in groups {
        let what = if ports.is_empty() {
            protocol.to_string()
        } else {
            format!("{protocol}/{ports}")
        };
        let all = if family == Family::V6 {
            "::/0"
        } else {
            "0.0.0.0/0"
        };
        let named: Vec<String> = to.iter().take(NAMED).map(|b| format!("`{b}`")).collect();
        let (whom, theirs) = match to.len() {
            1 => (named[0].clone(), "the other's allows"),
            n if n <= NAMED => (
                format!("{} and {}", named[..n - 1].join(", "), named[n - 1]),
                "theirs allow",
            ),
            n => (
                format!("{} and {} more components", named.join(", "), n - NAMED),
                "theirs allow",
            ),
        };
        ctx.warn(
            format!(
                "aws: `{from}` can connect to {whom} on {what}, which no flow allows: its security group allows {what} out to the internet ({all}) and {theirs} it in from the internet"
            ),
            "AWS security groups cannot leave the zones' networks out of the internet; close it with a network ACL between their subnets or AWS Network Firewall (docs/cloud.md, \"The internet in security groups\")",
        );
    }
}
