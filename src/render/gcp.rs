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

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

use crate::flow::{Flow, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::topology::{Location, Topology};

use super::cloud::{self, Family};

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

fn allowed(f: &Flow) -> Value {
    let mut a = Map::new();
    a.insert("IPProtocol".into(), json!(protocol(f)));
    if f.protocol.has_ports() {
        a.insert("ports".into(), json!(f.ports.to_strings()));
    }
    json!([a])
}

/// The list of firewall resources as a JSON value.
pub fn firewalls(topo: &Topology, flows: &[Flow]) -> Result<Value> {
    cloud::zones(topo, Location::Gcp, "gcp")?;
    let comps = cloud::components(topo, Location::Gcp);
    let tag = |c: &str| rfc1035(c);
    let tags: Vec<(String, String)> = comps
        .iter()
        .map(|c| (tag(c), format!("component `{c}`")))
        .collect();
    cloud::check_unique(
        topo,
        "GCP network tag",
        tags.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    )?;
    let network = format!("global/networks/{}", rfc1035(&topo.name));
    let mut out: Vec<Value> = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    let label = |s: &str, i: &Option<String>| match i {
        Some(i) => format!("{s}-{i}"),
        None => s.to_string(),
    };
    for f in flows {
        let from_in = cloud::in_cloud(topo, &f.from_zone, Location::Gcp);
        let to_in = cloud::in_cloud(topo, &f.to_zone, Location::Gcp);
        if !from_in && !to_in {
            continue;
        }
        let description = cloud::truncate(&cloud::describe(f), MAX_DESCRIPTION);
        let fams = cloud::families(f);
        let base = format!(
            "{}-to-{}-{}",
            label(&f.from, &f.from_interface),
            label(&f.to, &f.to_interface),
            f.protocol
        );
        if to_in {
            // A source inside the network is named by its tag: one rule for both families.
            let sources: Vec<(Option<Family>, &str, Value)> = if from_in {
                vec![(None, "sourceTags", json!([tag(&f.from)]))]
            } else {
                fams.iter()
                    .map(|fam| {
                        (
                            Some(*fam),
                            "sourceRanges",
                            json!(cloud::nets(&f.from_addresses, *fam)),
                        )
                    })
                    .collect()
            };
            for (fam, key, val) in sources {
                let v6 = if fam == Some(Family::V6) { "-v6" } else { "" };
                let name = rfc1035(&format!("{}-in-{base}{v6}", topo.name));
                names.push((name.clone(), format!("flow {}", f.id)));
                let mut r = Map::new();
                r.insert("kind".into(), json!("compute#firewall"));
                r.insert("name".into(), json!(name));
                r.insert("description".into(), json!(description));
                r.insert("network".into(), json!(network));
                r.insert("direction".into(), json!("INGRESS"));
                r.insert("priority".into(), json!(ALLOW_PRIORITY));
                r.insert(key.into(), val);
                r.insert("targetTags".into(), json!([tag(&f.to)]));
                r.insert("allowed".into(), allowed(f));
                out.push(Value::Object(r));
            }
        }
        if from_in {
            for fam in &fams {
                let v6 = if *fam == Family::V6 { "-v6" } else { "" };
                let name = rfc1035(&format!("{}-out-{base}{v6}", topo.name));
                names.push((name.clone(), format!("flow {}", f.id)));
                out.push(json!({
                    "kind": "compute#firewall",
                    "name": name,
                    "description": description,
                    "network": network,
                    "direction": "EGRESS",
                    "priority": ALLOW_PRIORITY,
                    "destinationRanges": cloud::nets(&f.to_addresses, *fam),
                    "targetTags": [tag(&f.from)],
                    "allowed": allowed(f),
                }));
            }
        }
    }
    // GCP's implied egress rule allows everything: deny what no rule above allows.
    let all_tags: Vec<&str> = tags.iter().map(|(t, _)| t.as_str()).collect();
    let mut fams = vec![("0.0.0.0/0", "")];
    if topo.has_ipv6() {
        fams.push(("::/0", "-v6"));
    }
    for (range, v6) in fams {
        let name = rfc1035(&format!("{}-deny-egress{v6}", topo.name));
        names.push((name.clone(), "the egress deny rule".into()));
        out.push(json!({
            "kind": "compute#firewall",
            "name": name,
            "description": format!("ctxfw {}: deny egress not allowed by a rule above (GCP's implied rule allows all)", topo.name),
            "network": network,
            "direction": "EGRESS",
            "priority": DENY_PRIORITY,
            "destinationRanges": [range],
            "targetTags": all_tags,
            "denied": [{ "IPProtocol": "all" }],
        }));
    }
    cloud::check_unique(
        topo,
        "GCP firewall name",
        names.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    )?;
    check(topo, &out)?;
    Ok(Value::Array(out))
}

/// ctxfw's own value checks: names, tags, priority, direction, protocol, ports.
fn check(topo: &Topology, rules: &[Value]) -> Result<()> {
    let file = &topo.file.name;
    for r in rules {
        let n = r["name"].as_str().unwrap_or_default();
        if !valid_name(n) {
            bail!("{file}: internal error: firewall name `{n}` is not RFC 1035");
        }
        for t in r["targetTags"]
            .as_array()
            .into_iter()
            .chain(r["sourceTags"].as_array())
            .flatten()
        {
            if !valid_name(t.as_str().unwrap_or_default()) {
                bail!("{file}: internal error: network tag {t} is not RFC 1035");
            }
        }
        if !["INGRESS", "EGRESS"].contains(&r["direction"].as_str().unwrap_or_default()) {
            bail!("{file}: internal error: direction in `{n}`");
        }
        if !(0..=65535).contains(&r["priority"].as_i64().unwrap_or(-1)) {
            bail!("{file}: internal error: priority in `{n}`");
        }
        if r["targetTags"].as_array().is_none_or(Vec::is_empty) {
            bail!("{file}: internal error: `{n}` has no target tag");
        }
        for a in r["allowed"].as_array().into_iter().flatten() {
            for p in a["ports"].as_array().into_iter().flatten() {
                let p = p.as_str().unwrap_or_default();
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
    let content = ctx.renderer.render_json("gcp.json.j2", "firewalls", fw)?;
    Ok(vec![OutFile {
        name: format!("{}.gcp.json", t.name),
        content,
    }])
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
