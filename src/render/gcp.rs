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

use ipnet::IpNet;

use crate::flow::{shared_key, Flow, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::topology::{Location, Topology};
use crate::HashMap;

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
pub struct Firewall<'a> {
    pub kind: &'static str,
    pub name: &'a str,
    pub description: Arc<str>,
    pub network: &'a str,
    pub direction: &'static str,
    pub priority: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_tags: Option<[Arc<str>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ranges: Option<Arc<[String]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_ranges: Option<Arc<[String]>>,
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

/// What one firewall resource is made from.
#[derive(Debug, Clone, Copy)]
enum Spec {
    /// Into GCP, for the flow at this index: from the source's tag (`None`, a source in GCP)
    /// or from its ranges of one family.
    In(usize, Option<Family>),
    /// Out of GCP, for the flow at this index, to its destination's ranges of one family.
    Out(usize, Family),
    /// The egress deny rule of one family.
    Deny(Family),
}

/// The firewall resources of the topology's `gcp` zones, each made as it is written: made
/// all at once, their descriptions, ranges and ports were three quarters of the target's
/// memory at 10,000 flows. Their names are made (and checked) once, up front.
#[derive(Debug)]
pub struct Firewalls {
    topology: String,
    network: String,
    flows: Arc<Vec<Flow>>,
    /// Each GCP component's network tag, in topology order.
    tags: IndexMap<String, Arc<str>>,
    specs: Vec<Spec>,
    names: Vec<String>,
    /// A flow end's ranges of one family, by its shared address list (every flow of a
    /// component shares its list).
    ranges: HashMap<(usize, Family), Arc<[String]>>,
}

impl Firewalls {
    fn tag(&self, c: &str) -> Arc<str> {
        self.tags
            .get(c)
            .cloned()
            .unwrap_or_else(|| rfc1035(c).into())
    }

    fn ranges(&self, addrs: &Arc<[IpNet]>, fam: Family) -> Arc<[String]> {
        self.ranges[&(shared_key(addrs), fam)].clone()
    }

    /// The resource `spec` names `name`, with `description` (its flow's, for a flow rule).
    fn firewall<'a>(&'a self, spec: Spec, name: &'a str, description: Arc<str>) -> Firewall<'a> {
        let rule = |direction, targets| Firewall {
            kind: "compute#firewall",
            name,
            description: description.clone(),
            network: &self.network,
            direction,
            priority: ALLOW_PRIORITY,
            source_tags: None,
            source_ranges: None,
            destination_ranges: None,
            target_tags: targets,
            allowed: None,
            denied: None,
        };
        match spec {
            Spec::In(i, fam) => {
                let f = &self.flows[i];
                let mut r = rule("INGRESS", vec![self.tag(&f.to)]);
                match fam {
                    None => r.source_tags = Some([self.tag(&f.from)]),
                    Some(fam) => r.source_ranges = Some(self.ranges(&f.from_addresses, fam)),
                }
                r.allowed = allowed(f);
                r
            }
            Spec::Out(i, fam) => {
                let f = &self.flows[i];
                let mut r = rule("EGRESS", vec![self.tag(&f.from)]);
                r.destination_ranges = Some(self.ranges(&f.to_addresses, fam));
                r.allowed = allowed(f);
                r
            }
            Spec::Deny(fam) => {
                let mut r = rule("EGRESS", self.tags.values().cloned().collect());
                r.priority = DENY_PRIORITY;
                let range = if fam == Family::V6 {
                    "::/0"
                } else {
                    "0.0.0.0/0"
                };
                r.destination_ranges = Some([range.to_string()].into());
                r.denied = Some([Allowed {
                    ip_protocol: "all",
                    ports: None,
                }]);
                r
            }
        }
    }

    /// A flow's rule description, or the deny rule's.
    fn description(&self, spec: Spec) -> Arc<str> {
        match spec {
            Spec::In(i, _) | Spec::Out(i, _) => {
                cloud::truncate(&cloud::describe(&self.flows[i]), MAX_DESCRIPTION).into()
            }
            Spec::Deny(_) => format!(
                "ctxfw {}: deny egress not allowed by a rule above (GCP's implied rule allows all)",
                self.topology
            )
            .into(),
        }
    }

    /// Who a resource is for, in the error about two of one name.
    fn owner(&self, spec: Spec) -> String {
        match spec {
            Spec::In(i, _) | Spec::Out(i, _) => format!("flow {}", self.flows[i].id),
            Spec::Deny(_) => "the egress deny rule".into(),
        }
    }
}

impl Serialize for Firewalls {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A flow's rules are adjacent and share its description: made once per flow.
        let mut last: Option<(usize, Arc<str>)> = None;
        s.collect_seq(self.specs.iter().zip(&self.names).map(|(&spec, name)| {
            let description = match (spec, &last) {
                (Spec::In(i, _) | Spec::Out(i, _), Some((j, d))) if i == *j => d.clone(),
                _ => {
                    let d = self.description(spec);
                    if let Spec::In(i, _) | Spec::Out(i, _) = spec {
                        last = Some((i, d.clone()));
                    }
                    d
                }
            };
            self.firewall(spec, name, description)
        }))
    }
}

/// The firewall resources of the topology's `gcp` zones.
pub fn firewalls(topo: &Topology, flows: &Arc<Vec<Flow>>) -> Result<Firewalls> {
    cloud::zones(topo, Location::Gcp, "gcp")?;
    let comps = cloud::components(topo, Location::Gcp);
    // Each component's network tag, made once.
    let tags: IndexMap<String, Arc<str>> = comps
        .iter()
        .map(|c| (c.to_string(), rfc1035(c).into()))
        .collect();
    let tag_owners: Vec<String> = tags.keys().map(|c| format!("component `{c}`")).collect();
    cloud::check_unique(
        topo,
        "GCP network tag",
        tags.values()
            .zip(&tag_owners)
            .map(|(t, o)| (&**t, o.as_str())),
    )?;
    let mut fws = Firewalls {
        topology: topo.name.clone(),
        network: format!("global/networks/{}", rfc1035(&topo.name)),
        flows: flows.clone(),
        tags,
        specs: Vec::new(),
        names: Vec::new(),
        ranges: HashMap::default(),
    };
    let mut ranges = |addrs: &Arc<[IpNet]>, fam: Family| {
        fws.ranges
            .entry((shared_key(addrs), fam))
            .or_insert_with(|| cloud::nets(addrs, fam).into());
    };
    for (i, f) in flows.iter().enumerate() {
        let from_in = cloud::in_cloud(topo, &f.from_zone, Location::Gcp);
        let to_in = cloud::in_cloud(topo, &f.to_zone, Location::Gcp);
        if !from_in && !to_in {
            continue;
        }
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
                fws.names
                    .push(rfc1035(&format!("{}-in-{base}{v6}", topo.name)));
                fws.specs.push(Spec::In(i, fam));
                if let Some(fam) = fam {
                    ranges(&f.from_addresses, fam);
                }
            }
        }
        if from_in {
            for &fam in &fams {
                let v6 = if fam == Family::V6 { "-v6" } else { "" };
                fws.names
                    .push(rfc1035(&format!("{}-out-{base}{v6}", topo.name)));
                fws.specs.push(Spec::Out(i, fam));
                ranges(&f.to_addresses, fam);
            }
        }
    }
    // GCP's implied egress rule allows everything: deny what no rule above allows.
    let mut fams = vec![(Family::V4, "")];
    if topo.has_ipv6() {
        fams.push((Family::V6, "-v6"));
    }
    for (fam, v6) in fams {
        fws.names
            .push(rfc1035(&format!("{}-deny-egress{v6}", topo.name)));
        fws.specs.push(Spec::Deny(fam));
    }
    // Two resources of one name: reported as for every other cloud name.
    let mut seen: HashMap<&str, Spec> = HashMap::default();
    for (name, &spec) in fws.names.iter().zip(&fws.specs) {
        if let Some(prev) = seen.insert(name, spec) {
            let (a, b) = (fws.owner(prev), fws.owner(spec));
            cloud::check_unique(topo, "GCP firewall name", [(&**name, &*a), (&**name, &*b)])?;
        }
    }
    drop(seen);
    for (name, &spec) in fws.names.iter().zip(&fws.specs) {
        check(topo, &fws.firewall(spec, name, "".into()))?;
    }
    Ok(fws)
}

/// ctxfw's own value checks: names, tags, priority, direction, protocol, ports.
fn check(topo: &Topology, r: &Firewall<'_>) -> Result<()> {
    let file = &topo.file.name;
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
