//! Review lint: legal but questionable things in a resolved topology, reported as warnings by
//! `ctxfw check` (`--deny-warnings` makes them fail). Only `check` runs them: `flows` and
//! `generate` print the warnings that change their output (a random port left out, a removal
//! that matches nothing), not review advice.
//!
//! - redundant flows: a flow between the same two zones as a broader flow, with the same
//!   protocol, whose source addresses, destination addresses and ports all lie within it (the
//!   same zone pair: a zone firewall sees two zone pairs on different interfaces; flows reached
//!   by domain names are left out: their addresses are the whole internet, the names tell them
//!   apart);
//! - inbound from an internet zone through a topology `[[additions]]` entry (the catalogue's
//!   `from_internet` flows are the only ones meant to face the internet);
//! - wide port ranges: more than `WIDE_PORTS` ports in one flow, not counting the documented
//!   dynamic RPC range 49152-65535 (Windows RPC, AD); `1-65535` is reported as any port;
//! - components that no flow touches;
//! - a component without hosts (all of its zone) in a zone that also holds other components:
//!   its flows apply to their addresses too;
//! - parameters set to their default value.

use crate::{HashMap, HashSet};

use ipnet::IpNet;

use crate::diag::Diagnostic;
use crate::flow::{Flow, PortRange, PortSet, Protocol};
use crate::topology::Topology;
use crate::Loaded;

/// More ports than this in one flow (outside 49152-65535) is a wide range.
pub const WIDE_PORTS: u32 = 1024;

/// The IANA dynamic range that Windows RPC and AD use; documented by Microsoft and Citrix.
pub const DYNAMIC_RPC: PortRange = PortRange {
    lo: 49152,
    hi: 65535,
};

fn within(inner: &[IpNet], outer: &[IpNet]) -> bool {
    !inner.is_empty() && inner.iter().all(|i| outer.iter().any(|o| o.contains(i)))
}

/// `a` is covered by `b`: same protocol, addresses and ports within.
fn shadowed_by(a: &Flow, b: &Flow) -> bool {
    a.protocol == b.protocol
        && a.from_end.zone == b.from_end.zone
        && a.to_end.zone == b.to_end.zone
        && a.to_fqdns.is_empty()
        && b.to_fqdns.is_empty()
        && within(&a.from_end.addresses, &b.from_end.addresses)
        && within(&a.to_end.addresses, &b.to_end.addresses)
        && b.ports.covers(&a.ports)
}

/// Ports counted for the width check: everything outside the dynamic RPC range.
fn counted_ports(p: &PortSet) -> u32 {
    p.ranges()
        .iter()
        .map(|r| {
            let lo = u32::from(r.lo);
            let hi = u32::from(r.hi);
            let overlap = if hi < u32::from(DYNAMIC_RPC.lo) || lo > u32::from(DYNAMIC_RPC.hi) {
                0
            } else {
                hi.min(u32::from(DYNAMIC_RPC.hi)) - lo.max(u32::from(DYNAMIC_RPC.lo)) + 1
            };
            (hi - lo + 1) - overlap
        })
        .sum()
}

pub fn lint(loaded: &Loaded) -> Vec<Diagnostic> {
    let topo = &loaded.topology;
    let flows = &loaded.resolution.flows;
    let touched: HashSet<&str> = flows.iter().flat_map(|f| [&*f.from, &*f.to]).collect();
    let mut out = redundant(topo, flows);
    out.extend(internet_additions(topo, flows));
    out.extend(wide_ranges(topo, flows));
    out.extend(untouched(topo, &touched));
    out.extend(whole_zones(topo, &touched));
    out.extend(parameters_at_default(loaded));
    out
}

/// A warning at component `name`'s place in the file (or at the file).
fn at_component(topo: &Topology, d: Diagnostic, name: &str) -> Diagnostic {
    match topo.components.get(name) {
        Some(c) => d.at(&topo.file, c.span.clone()),
        None => d.in_file(&topo.file),
    }
}

/// Flows another flow of the same zone pair and protocol already allows.
fn redundant(topo: &Topology, flows: &[Flow]) -> Vec<Diagnostic> {
    // Only flows of one protocol and zone pair can shadow each other, so compare within those
    // groups (all flows against all would be quadratic at scale).
    let mut groups: HashMap<(Protocol, &str, &str), Vec<usize>> = HashMap::default();
    for (i, f) in flows.iter().enumerate() {
        if f.to_fqdns.is_empty() {
            groups
                .entry((f.protocol, &f.from_end.zone, &f.to_end.zone))
                .or_default()
                .push(i);
        }
    }
    let mut out = Vec::new();
    for (i, a) in flows.iter().enumerate() {
        let Some(group) = groups.get(&(a.protocol, &*a.from_end.zone, &*a.to_end.zone)) else {
            continue;
        };
        let broader = group
            .iter()
            .map(|&j| (j, &flows[j]))
            .find(|(j, b)| *j != i && shadowed_by(a, b) && (!shadowed_by(b, a) || *j < i));
        if let Some((_, b)) = broader {
            // Point at the end whose addresses make it narrower.
            let narrower = if a.from != b.from { &a.from } else { &a.to };
            out.push(
                at_component(
                    topo,
                    Diagnostic::warning(format!(
                        "flow {} ({} {}) is redundant: flow {} already allows it ({} {})",
                        a.id, a.protocol, a.ports, b.id, b.protocol, b.ports
                    )),
                    narrower,
                )
                .hint("a firewall needs only the broader rule; check that the addresses of the two components are meant to overlap"),
            );
        }
    }
    out
}

/// `[[additions]]` that open a flow from an internet zone.
fn internet_additions(topo: &Topology, flows: &[Flow]) -> Vec<Diagnostic> {
    let file = &topo.file;
    let mut out = Vec::new();
    for f in flows.iter() {
        let internet = topo
            .zones
            .get(&*f.from_end.zone)
            .is_some_and(|z| z.default_route);
        if !internet {
            continue;
        }
        for p in f.parts.iter().filter(|p| p.catalogue.starts_with("site:")) {
            let id = &p.catalogue["site:".len()..];
            let span = topo
                .additions
                .iter()
                .find(|a| a.id == id)
                .map(|a| a.span.clone());
            let d = Diagnostic::warning(format!(
                "addition `{id}` opens {} {} from the internet zone `{}` to {}",
                f.protocol,
                f.ports,
                f.from_end.zone,
                crate::render::flows::end_label(&f.to, &f.to_end.interface)
            ))
            .hint("only the catalogue's internet-facing flows (users to the Gateway VIP) should come from the internet; put the source in its own zone if it is not the whole internet");
            out.push(match span {
                Some(s) => d.at(file, s),
                None => d.in_file(file),
            });
        }
    }
    out
}

/// Flows with more than [`WIDE_PORTS`] ports outside the dynamic RPC range.
fn wide_ranges(topo: &Topology, flows: &[Flow]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for f in flows.iter().filter(|f| f.protocol.has_ports()) {
        let n = counted_ports(&f.ports);
        if n <= WIDE_PORTS {
            continue;
        }
        let what = if f.ports.count() == 65535 {
            "any port".to_string()
        } else {
            format!("{n} ports")
        };
        let d = Diagnostic::warning(format!(
            "flow {} allows {what} ({} {})",
            f.id, f.protocol, f.ports
        ));
        // An addition that brings the wide range is the place to fix; else the source.
        let addition = f
            .parts
            .iter()
            .filter(|p| counted_ports(&p.ports) > WIDE_PORTS)
            .find_map(|p| p.catalogue.strip_prefix("site:"))
            .and_then(|id| topo.additions.iter().find(|a| a.id == id));
        let d = match addition {
            Some(a) => d.at(&topo.file, a.span.clone()),
            None => at_component(topo, d, &f.from),
        };
        out.push(
            d.hint(format!(
                "ranges above {WIDE_PORTS} ports (other than the dynamic RPC range 49152-65535) are hard to justify in review; pin the service to fixed ports"
            )),
        );
    }
    out
}

/// Components no flow touches.
fn untouched(topo: &Topology, touched: &HashSet<&str>) -> Vec<Diagnostic> {
    topo.components
        .values()
        .filter(|c| !touched.contains(c.name.as_str()))
        .map(|c| {
            Diagnostic::warning(format!("component `{}` has no flow", c.name))
                .at(&topo.file, c.span.clone())
                .hint("its kinds have no flow to or from the other components here; check the kind, the zone's internet setting and the sites, or remove it")
        })
        .collect()
}

/// A whole-zone component beside others: its rules name the zone's networks, theirs too.
fn whole_zones(topo: &Topology, touched: &HashSet<&str>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for c in topo.components.values() {
        if c.hosts.is_some()
            || topo.zone(&c.zone).default_route
            || !touched.contains(c.name.as_str())
        {
            continue;
        }
        let others: Vec<&str> = topo
            .components
            .values()
            .filter(|o| {
                o.name != c.name
                    && (o.zone == c.zone || o.interfaces.values().any(|i| i.zone == c.zone))
            })
            .map(|o| o.name.as_str())
            .collect();
        if let Some(first) = others.first() {
            let list = others
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(
                Diagnostic::warning(format!(
                    "component `{}` has no hosts, so it is all of zone `{}`, which also holds {list}: every flow to or from `{}` applies to them as well",
                    c.name, c.zone, c.name
                ))
                .at(&topo.file, c.span.clone())
                .hint(format!(
                    "list the hosts of `{}`, or put `{first}` in a zone of its own, if its flows are not meant for them",
                    c.name
                )),
            );
        }
    }
    out
}

/// Parameters the topology sets to their default.
fn parameters_at_default(loaded: &Loaded) -> Vec<Diagnostic> {
    let topo = &loaded.topology;
    let mut out = Vec::new();
    for (name, v) in &topo.parameters {
        let Some(p) = loaded.catalogue.parameters.get(name) else {
            continue;
        };
        if v.get_ref() == &p.default {
            out.push(
                Diagnostic::warning(format!(
                    "parameter `{name}` is set to its default ({})",
                    p.default
                ))
                .at(&topo.file, v.span())
                .hint("harmless; remove the line, or keep it to document the choice"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_rpc_range_is_not_wide() {
        let p = |s: &[&str]| PortSet::from_ranges(s.iter().map(|x| PortRange::parse(x).unwrap()));
        assert_eq!(counted_ports(&p(&["135", "49152-65535"])), 1);
        assert_eq!(counted_ports(&p(&["1-65535"])), 65535 - 16384);
        assert_eq!(counted_ports(&p(&["49000-49200"])), 152);
    }
}
