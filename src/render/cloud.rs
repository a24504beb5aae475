//! What the three cloud targets (AWS, Azure, GCP) share: which flows touch a cloud's zones,
//! rule descriptions, bounded names, and the value checks the cloud validators do not make.
//!
//! A cloud target covers the zones whose `location` is its cloud. A flow whose destination sits
//! in such a zone becomes an inbound rule for the destination; a flow whose source sits in one
//! becomes an outbound rule for the source (both when both do). Peers outside the cloud
//! (on-premises networks, the internet) are written as address ranges.

use anyhow::Result;
use ipnet::IpNet;

use crate::flow::Flow;
use crate::generate::NothingToRender;
use crate::plan::aggregate;
use crate::render::flows::end_label;
use crate::topology::{Location, Topology, Zone};

/// The zones of one cloud, in topology order; [`NothingToRender`] when there are none.
pub fn zones<'a>(topo: &'a Topology, loc: Location, target: &str) -> Result<Vec<&'a Zone>> {
    let zones: Vec<&Zone> = topo.zones.values().filter(|z| z.location == loc).collect();
    if zones.is_empty() {
        return Err(NothingToRender(format!(
            "{}: no zone has location = \"{}\", so the {target} target has nothing to write; \
             set `location = \"{}\"` on the zones that are in {target}",
            topo.file.name,
            loc.name(),
            loc.name()
        ))
        .into());
    }
    Ok(zones)
}

/// Whether a zone is in the given cloud.
pub fn in_cloud(topo: &Topology, zone: &str, loc: Location) -> bool {
    topo.zones.get(zone).is_some_and(|z| z.location == loc)
}

/// Components with their main zone or an interface in the cloud, in topology order.
pub fn components(topo: &Topology, loc: Location) -> Vec<&str> {
    topo.components
        .values()
        .filter(|c| {
            in_cloud(topo, &c.zone, loc)
                || c.interfaces.values().any(|i| in_cloud(topo, &i.zone, loc))
        })
        .map(|c| c.name.as_str())
        .collect()
}

/// Components whose rules in a cloud stand for several of their address lists: a security group
/// (AWS) or network tag (GCP) belongs to the instance, not to one of its interfaces, so a flow
/// to or from one interface opens its ports on the others. The component with those lists'
/// names (`main` for its own hosts), in topology order.
pub fn shared_by_interfaces(topo: &Topology, loc: Location) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for c in topo.components.values() {
        let mut ends: Vec<String> = Vec::new();
        if in_cloud(topo, &c.zone, loc) {
            ends.push("main".into());
        }
        ends.extend(
            c.interfaces
                .values()
                .filter(|i| in_cloud(topo, &i.zone, loc))
                .map(|i| i.role.clone()),
        );
        if ends.len() > 1 {
            out.push((c.name.clone(), ends));
        }
    }
    out
}

/// Say so for each of [`shared_by_interfaces`]; `what` names the cloud's rule owner.
pub fn warn_shared(ctx: &crate::generate::Ctx<'_>, loc: Location, what: &str) {
    for (c, ends) in shared_by_interfaces(&ctx.loaded.topology, loc) {
        ctx.warn(
            format!(
                "{}: component `{c}` has one {what} for all its addresses ({}): a flow to or from one of them opens its ports on all of them",
                loc.name(),
                ends.join(", ")
            ),
            "describe an interface that must stay apart as a component of its own (docs/cloud.md, \"What the clouds cannot tell apart\")",
        );
    }
}

/// IP family of a rule: the clouds keep IPv4 and IPv6 ranges in separate fields or rules.
pub use crate::flow::Family;

/// Aggregated networks of one family, as strings.
pub fn nets(addrs: &[IpNet], fam: Family) -> Vec<String> {
    aggregate(addrs)
        .iter()
        .filter(|n| Family::of(n) == fam)
        .map(ToString::to_string)
        .collect()
}

/// The families both ends of a flow have (a rule needs the same family on both sides).
pub fn families(f: &Flow) -> Vec<Family> {
    [Family::V4, Family::V6]
        .into_iter()
        .filter(|fam| {
            fam.carries(f.protocol)
                && f.from_end.addresses.iter().any(|n| Family::of(n) == *fam)
                && f.to_end.addresses.iter().any(|n| Family::of(n) == *fam)
        })
        .collect()
}

/// One line a reviewer reads next to a rule: the endpoints, the ports, why, and the domain
/// names for an internet service. Text from the topology is kept as written; each target
/// then applies its own limits (AWS charset, Azure length).
pub fn describe(f: &Flow) -> String {
    let mut s = format!(
        "{} to {} {} {}",
        end_label(&f.from, &f.from_end.interface),
        end_label(&f.to, &f.to_end.interface),
        f.protocol,
        if f.ports.is_empty() {
            "any".to_string()
        } else {
            f.ports.to_string()
        }
    );
    if !f.to_fqdns.is_empty() {
        s.push_str(&format!(" ({})", f.to_fqdns.join(", ")));
    }
    s.push_str(": ");
    s.push_str(&f.purpose);
    if let Some(r) = &f.reason {
        s.push_str(" Reason: ");
        s.push_str(r);
    }
    s
}

/// [`describe`] for the part of a flow on one port range: only the purposes of the merged
/// catalogue entries that use those ports (AWS writes one rule per range).
pub fn describe_range(f: &Flow, r: &crate::flow::PortRange) -> String {
    let range = crate::flow::PortSet::from_ranges([*r]);
    let mut purposes: Vec<&str> = f
        .parts
        .iter()
        .filter(|p| p.ports.intersects(&range))
        .map(|p| &*p.purpose)
        .collect();
    purposes.dedup();
    let mut one = f.clone();
    one.ports = range;
    if !purposes.is_empty() {
        one.purpose = purposes.join(" ").into();
    }
    describe(&one)
}

/// At most `max` characters; a cut ends with `...` so the reader knows there is more
/// (the whole text is in the flows review file).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out = out.trim_end().to_string();
    out.push_str("...");
    out
}

/// FNV-1a, 32 bits: a stable short hash for names that must be cut to a length limit.
pub fn fnv(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `s` if it fits in `max` characters, else its start and an 8-digit hash of the whole, so
/// two long names that share a start stay distinct and the same input gives the same name.
pub fn bounded(s: &str, max: usize, sep: &str) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let tail = format!("{sep}{:08x}", fnv(s));
    let head: String = s.chars().take(max - tail.len()).collect();
    let head = head.trim_end_matches(['-', '.', '_']);
    format!("{head}{tail}")
}

/// Every name must be unique within its scope; the first duplicate is an error that names
/// both sources, since the clouds would otherwise reject or silently merge them.
pub fn check_unique<'a>(
    topo: &Topology,
    what: &str,
    names: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
    for (name, origin) in names {
        if let Some(prev) = seen.insert(name, origin) {
            anyhow::bail!(
                "{}: {what} `{name}` is generated for both {prev} and {origin}; rename one of them \
                 (names that differ only in case, `-` or `_` collide in the cloud)",
                topo.file.name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_characters() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abc...");
        assert_eq!(truncate("ééééééé", 5), "éé...");
    }

    #[test]
    fn bounded_names_are_stable_and_short() {
        let long = "a".repeat(100);
        let b = bounded(&long, 63, "-");
        assert_eq!(b.len(), 63);
        assert_eq!(b, bounded(&long, 63, "-"));
        assert_ne!(b, bounded(&format!("{long}b"), 63, "-"));
        assert_eq!(bounded("short", 63, "-"), "short");
    }
}
