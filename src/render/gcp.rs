//! GCP: a JSON list of `compute#firewall` resources (the Compute Engine API's request body,
//! one per rule) for the VPC network that holds the `gcp` zones.
//!
//! - Every component with a zone or interface in GCP gets one network tag (its name in lower
//!   case, `_` and `.` as `-`); rules target it with `targetTags`.
//! - A flow into GCP is an `INGRESS` rule: `sourceTags` when the source is in GCP too,
//!   `sourceRanges` otherwise. A flow out of GCP is an `EGRESS` rule with `destinationRanges`
//!   (GCP egress rules cannot name tags as destinations).
//! - Allow rules have priority 1000. GCP allows all egress by default, so one rule per IP
//!   family at priority 65000 denies egress from every tagged instance; ingress is denied by
//!   GCP's implied rule.
//! - `network` is `global/networks/<topology name>`; the docs show how to point it at another
//!   network with `jq`.
//! - Names: RFC 1035, at most 63 characters; long names keep a stable hash.

use std::sync::Arc;

use anyhow::{bail, Result};
use indexmap::IndexMap;
use serde::Serialize;

use crate::flow::{Flow, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::topology::{Location, Topology};

use super::cloud::{self, Family};
use super::flows::end_label;

pub const MAX_NAME: usize = 63;
pub const MAX_DESCRIPTION: usize = 2048;
pub const ALLOW_PRIORITY: u32 = 1000;
pub const DENY_PRIORITY: u32 = 65000;

/// RFC 1035 label as GCP wants it: `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A valid RFC 1035 name from any label: lower case, other characters as `-`, a leading
/// `fw-` when it does not start with a letter, cut with a stable hash when too long.
pub fn rfc1035(s: &str) -> String {
    let mut n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if !n.starts_with(|c: char| c.is_ascii_lowercase()) {
        n = format!("fw-{n}");
    }
    let n = cloud::bounded(&n, MAX_NAME, "-");
    let n = n.trim_end_matches('-');
    n.to_string()
}

/// GCP `IPProtocol`: names where GCP has one, the IANA number otherwise.
fn protocol(f: &Flow) -> &'static str {
    match f.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        Protocol::Icmp => "icmp",
        Protocol::Icmpv6 => "58",
        Protocol::Esp => "esp",
        Protocol::Ah => "ah",
        Protocol::Gre => "47",
    }
}

/// One `compute#firewall` resource, fields in the order the API documents them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Firewall {
    pub kind: &'static str,
    pub name: String,
    pub description: Arc<str>,
    pub network: Arc<str>,
    pub direction: &'static str,
    pub priority: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_tags: Option<Vec<Arc<str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ranges: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_ranges: Option<Vec<String>>,
    pub target_tags: Vec<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<[Allowed; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<[Allowed; 1]>,
}

/// An `allowed` (or `denied`) entry: a protocol and, for TCP, UDP and SCTP, ports.
#[derive(Debug, Serialize)]
pub struct Allowed {
    #[serde(rename = "IPProtocol")]
    pub ip_protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
}

fn allowed(f: &Flow) -> Option<[Allowed; 1]> {
    Some([Allowed {
        ip_protocol: protocol(f),
        ports: f.protocol.has_ports().then(|| f.ports.to_strings()),
    }])
}

/// The firewall resources of the topology's `gcp` zones.
pub fn firewalls(topo: &Topology, flows: &[Flow]) -> Result<Vec<Firewall>> {
    cloud::zones(topo, Location::Gcp, "gcp")?;
    let comps = cloud::components(topo, Location::Gcp);
    // Each component's network tag, made once.
    let tags: IndexMap<&str, Arc<str>> = comps.iter().map(|c| (*c, rfc1035(c).into())).collect();
    let tag_owners: Vec<String> = tags.keys().map(|c| format!("component `{c}`")).collect();
    cloud::check_unique(
        topo,
        "GCP network tag",
        tags.values()
            .zip(&tag_owners)
            .map(|(t, o)| (&**t, o.as_str())),
    )?;
    let tag = |c: &str| -> Arc<str> { tags.get(c).cloned().unwrap_or_else(|| rfc1035(c).into()) };
    let network: Arc<str> = format!("global/networks/{}", rfc1035(&topo.name)).into();
    let mut out: Vec<Firewall> = Vec::new();
    let mut owners: Vec<String> = Vec::new();
    let rule = |name: String, description: &Arc<str>, direction, targets| Firewall {
        kind: "compute#firewall",
        name,
        description: description.clone(),
        network: network.clone(),
        direction,
        priority: ALLOW_PRIORITY,
        source_tags: None,
        source_ranges: None,
        destination_ranges: None,
        target_tags: targets,
        allowed: None,
        denied: None,
    };
    for f in flows {
        let from_in = cloud::in_cloud(topo, &f.from_zone, Location::Gcp);
        let to_in = cloud::in_cloud(topo, &f.to_zone, Location::Gcp);
        if !from_in && !to_in {
            continue;
        }
        let description: Arc<str> = cloud::truncate(&cloud::describe(f), MAX_DESCRIPTION).into();
        let fams = cloud::families(f);
        // `rfc1035` turns the `.` before an interface into `-`, as every other character.
        let base = format!(
            "{}-to-{}-{}",
            end_label(&f.from, &f.from_interface),
            end_label(&f.to, &f.to_interface),
            f.protocol
        );
        if to_in {
            // A source inside the network is named by its tag: one rule for both families.
            let sources: Vec<Option<Family>> = if from_in {
                vec![None]
            } else {
                fams.iter().copied().map(Some).collect()
            };
            for fam in sources {
                let v6 = if fam == Some(Family::V6) { "-v6" } else { "" };
                let name = rfc1035(&format!("{}-in-{base}{v6}", topo.name));
                let mut r = rule(name, &description, "INGRESS", vec![tag(&f.to)]);
                match fam {
                    None => r.source_tags = Some(vec![tag(&f.from)]),
                    Some(fam) => r.source_ranges = Some(cloud::nets(&f.from_addresses, fam)),
                }
                r.allowed = allowed(f);
                out.push(r);
                owners.push(format!("flow {}", f.id));
            }
        }
        if from_in {
            for fam in &fams {
                let v6 = if *fam == Family::V6 { "-v6" } else { "" };
                let name = rfc1035(&format!("{}-out-{base}{v6}", topo.name));
                let mut r = rule(name, &description, "EGRESS", vec![tag(&f.from)]);
                r.destination_ranges = Some(cloud::nets(&f.to_addresses, *fam));
                r.allowed = allowed(f);
                out.push(r);
                owners.push(format!("flow {}", f.id));
            }
        }
    }
    // GCP's implied egress rule allows everything: deny what no rule above allows.
    let mut fams = vec![("0.0.0.0/0", "")];
    if topo.has_ipv6() {
        fams.push(("::/0", "-v6"));
    }
    let description: Arc<str> = format!(
        "ctxfw {}: deny egress not allowed by a rule above (GCP's implied rule allows all)",
        topo.name
    )
    .into();
    for (range, v6) in fams {
        let name = rfc1035(&format!("{}-deny-egress{v6}", topo.name));
        let mut r = rule(
            name,
            &description,
            "EGRESS",
            tags.values().cloned().collect(),
        );
        r.priority = DENY_PRIORITY;
        r.destination_ranges = Some(vec![range.to_string()]);
        r.denied = Some([Allowed {
            ip_protocol: "all",
            ports: None,
        }]);
        out.push(r);
        owners.push("the egress deny rule".into());
    }
    cloud::check_unique(
        topo,
        "GCP firewall name",
        out.iter()
            .zip(&owners)
            .map(|(r, o)| (r.name.as_str(), o.as_str())),
    )?;
    check(topo, &out)?;
    Ok(out)
}

/// ctxfw's own value checks: names, tags, priority, direction, protocol, ports.
fn check(topo: &Topology, rules: &[Firewall]) -> Result<()> {
    let file = &topo.file.name;
    for r in rules {
        let n = &r.name;
        if !valid_name(n) {
            bail!("{file}: internal error: firewall name `{n}` is not RFC 1035");
        }
        for t in r.target_tags.iter().chain(r.source_tags.iter().flatten()) {
            if !valid_name(t) {
                bail!("{file}: internal error: network tag \"{t}\" is not RFC 1035");
            }
        }
        if !["INGRESS", "EGRESS"].contains(&r.direction) {
            bail!("{file}: internal error: direction in `{n}`");
        }
        if r.priority > 65535 {
            bail!("{file}: internal error: priority in `{n}`");
        }
        if r.target_tags.is_empty() {
            bail!("{file}: internal error: `{n}` has no target tag");
        }
        for a in r.allowed.iter().flatten() {
            for p in a.ports.iter().flatten() {
                if crate::flow::PortRange::parse(p).is_err() {
                    bail!("{file}: internal error: port {p} in `{n}`");
                }
            }
        }
    }
    Ok(())
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let fw = firewalls(t, &r.flows)?;
    ctx.write(&format!("{}.gcp.json", t.name), |w| {
        ctx.renderer
            .render_doc_to("gcp.json.j2", "firewalls", fw, w)
    })?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rfc1035() {
        assert_eq!(rfc1035("VDA_pool.vip"), "vda-pool-vip");
        assert_eq!(rfc1035("1st"), "fw-1st");
        assert!(valid_name(&rfc1035(&"a-".repeat(60))));
        assert!(valid_name(&rfc1035("x-")));
    }
}
