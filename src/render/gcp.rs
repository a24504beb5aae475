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

use crate::flow::{EndId, Flow, FlowEnd, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan;
use crate::topology::{Location, Topology};
use crate::HashMap;

use super::cloud::{self, Family};
use super::flows::end_label;

pub const MAX_NAME: usize = 63;
pub const MAX_DESCRIPTION: usize = 2048;
pub const ALLOW_PRIORITY: u32 = 1000;
/// Rules from or to the internet (a default route): after the flows between zones and after
/// [`INSIDE_PRIORITY`], so they reach only what no other zone holds.
pub const OUTSIDE_PRIORITY: u32 = 1100;
/// Denies the zones' networks to and from an instance with internet rules, so those rules
/// (which say `0.0.0.0/0`) do not reach them.
pub const INSIDE_PRIORITY: u32 = 1050;
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
    let fold = |c: char| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    };
    // Every name of every rule goes through here (twice): byte by byte when it is ASCII, a
    // character at a time (one `-` per character) when not.
    let mut n = String::with_capacity(s.len() + 3);
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        n.push_str("fw-");
    }
    if s.is_ascii() {
        n.extend(s.bytes().map(|b| fold(char::from(b))));
    } else {
        n.extend(s.chars().map(fold));
    }
    if n.len() > MAX_NAME {
        n = cloud::bounded(&n, MAX_NAME, "-");
    }
    n.truncate(n.trim_end_matches('-').len());
    n
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// Into GCP, for the flow at this index: from the source's tag (`None`, a source in GCP)
    /// or from its ranges of one family.
    In(u32, Option<Family>),
    /// Out of GCP, for the flow at this index, to its destination's ranges of one family.
    Out(u32, Family),
    /// The egress deny rule of one family.
    Deny(Family),
    /// The deny rule, ingress (`true`) or egress, of one family, for the zones' networks to and
    /// from the instances with internet rules.
    Inside(bool, Family),
}

impl Spec {
    fn flow(self) -> Option<usize> {
        match self {
            Spec::In(i, _) | Spec::Out(i, _) => Some(i as usize),
            Spec::Deny(_) | Spec::Inside(..) => None,
        }
    }
}

/// The firewall resources of the topology's `gcp` zones, each made as it is written: made
/// all at once, their names, descriptions, ranges and ports would be most of the target's
/// memory. Everything is checked up front, names for uniqueness too.
#[derive(Debug)]
pub struct Firewalls {
    topology: String,
    network: String,
    flows: Arc<Vec<Flow>>,
    /// Each GCP component's network tag, in topology order.
    tags: IndexMap<String, Arc<str>, foldhash::fast::RandomState>,
    specs: Vec<Spec>,
    /// A flow end's ranges of one family, by the end (every flow of a component shares it).
    ranges: HashMap<(EndId, Family), Arc<[String]>>,
    /// The zones' networks a default route leaves out.
    internal: plan::Internal,
    /// The tags of the instances with internet rules, per [`Spec::Inside`] rule (ingress
    /// first, then by family).
    inside_tags: HashMap<(bool, Family), Vec<Arc<str>>>,
}

impl Firewalls {
    fn tag(&self, c: &str) -> Arc<str> {
        self.tags
            .get(c)
            .cloned()
            .unwrap_or_else(|| rfc1035(c).into())
    }

    fn ranges(&self, end: &FlowEnd, fam: Family) -> Arc<[String]> {
        self.ranges[&(end.id, fam)].clone()
    }

    /// The resource's name: `<topology>-in-<from>-to-<to>-<protocol>[-v6]`, `-out-` for
    /// egress, `<topology>-deny-egress[-v6]`, made RFC 1035.
    fn name(&self, spec: Spec) -> String {
        let v6 = |fam: Option<Family>| if fam == Some(Family::V6) { "-v6" } else { "" };
        let (way, i, fam) = match spec {
            Spec::In(i, fam) => ("in", i, fam),
            Spec::Out(i, fam) => ("out", i, Some(fam)),
            Spec::Deny(fam) => {
                return rfc1035(&format!("{}-deny-egress{}", self.topology, v6(Some(fam))))
            }
            Spec::Inside(ingress, fam) => {
                let way = if ingress { "ingress" } else { "egress" };
                return rfc1035(&format!(
                    "{}-deny-inside-{way}{}",
                    self.topology,
                    v6(Some(fam))
                ));
            }
        };
        let f = &self.flows[i as usize];
        // `rfc1035` turns the `.` before an interface into `-`, as every other character.
        rfc1035(
            &[
                self.topology.as_str(),
                "-",
                way,
                "-",
                &end_label(&f.from, &f.from_end.interface),
                "-to-",
                &end_label(&f.to, &f.to_end.interface),
                "-",
                f.protocol.name(),
                v6(fam),
            ]
            .concat(),
        )
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
                let f = &self.flows[i as usize];
                let mut r = rule("INGRESS", vec![self.tag(&f.to)]);
                match fam {
                    None => r.source_tags = Some([self.tag(&f.from)]),
                    Some(fam) => {
                        r.source_ranges = Some(self.ranges(&f.from_end, fam));
                        if self.outside(&f.from_end.addresses, fam) {
                            r.priority = OUTSIDE_PRIORITY;
                        }
                    }
                }
                r.allowed = allowed(f);
                r
            }
            Spec::Out(i, fam) => {
                let f = &self.flows[i as usize];
                let mut r = rule("EGRESS", vec![self.tag(&f.from)]);
                r.destination_ranges = Some(self.ranges(&f.to_end, fam));
                if self.outside(&f.to_end.addresses, fam) {
                    r.priority = OUTSIDE_PRIORITY;
                }
                r.allowed = allowed(f);
                r
            }
            Spec::Inside(ingress, fam) => {
                let tags = self.inside_tags[&(ingress, fam)].clone();
                let mut r = rule(if ingress { "INGRESS" } else { "EGRESS" }, tags);
                r.priority = INSIDE_PRIORITY;
                let nets: Arc<[String]> = self
                    .internal
                    .nets(fam == Family::V6)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                if ingress {
                    r.source_ranges = Some(nets);
                } else {
                    r.destination_ranges = Some(nets);
                }
                r.denied = Some([Allowed {
                    ip_protocol: "all",
                    ports: None,
                }]);
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

    /// Whether addresses of one family are a default route less the other zones' networks.
    fn outside(&self, addrs: &[IpNet], fam: Family) -> bool {
        let v6 = fam == Family::V6;
        !self.internal.nets(v6).is_empty()
            && addrs
                .iter()
                .any(|n| n.prefix_len() == 0 && matches!(n, IpNet::V6(_)) == v6)
    }

    /// A flow's rule description, or the deny rule's.
    fn description(&self, spec: Spec) -> Arc<str> {
        if let Spec::Inside(ingress, _) = spec {
            return format!(
                "ctxfw {}: the internet rules (priority {OUTSIDE_PRIORITY}, 0.0.0.0/0 or ::/0) mean every address no other zone holds: deny the zones' networks {} these instances first; flows between zones are allowed at priority {ALLOW_PRIORITY}",
                self.topology,
                if ingress { "to" } else { "from" }
            )
            .into();
        }
        match spec.flow() {
            Some(i) => cloud::truncate(&cloud::describe(&self.flows[i]), MAX_DESCRIPTION).into(),
            None => format!(
                "ctxfw {}: deny egress not allowed by a rule above (GCP's implied rule allows all)",
                self.topology
            )
            .into(),
        }
    }

    /// Who a resource is for, in the error about two of one name.
    fn owner(&self, spec: Spec) -> String {
        match (spec.flow(), spec) {
            (Some(i), _) => format!("flow {}", self.flows[i].id),
            (None, Spec::Inside(..)) => "the deny rule for the zones' networks".into(),
            (None, _) => "the egress deny rule".into(),
        }
    }

    /// Refuse two resources of one name, reporting the first repeat in resource order and
    /// the resource before it with that name, as [`cloud::check_unique`] over all names does.
    /// Names are compared by hash first, so they need not all be held at once.
    fn check_unique(&self, topo: &Topology, hashes: Vec<(u64, u32)>) -> Result<()> {
        let mut hashes = hashes;
        hashes.sort_unstable();
        // (repeat, earlier) pairs of equal names; hashes alone could collide.
        let mut first: Option<(usize, usize)> = None;
        for group in hashes.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
            let named: Vec<(usize, String)> = group
                .iter()
                .map(|&(_, k)| (k as usize, self.name(self.specs[k as usize])))
                .collect();
            for (n, (k, name)) in named.iter().enumerate() {
                let earlier = named[..n].iter().rev().find(|(_, other)| other == name);
                if let Some(&(e, _)) = earlier {
                    if first.is_none_or(|(r, _)| *k < r) {
                        first = Some((*k, e));
                    }
                }
            }
        }
        if let Some((k, e)) = first {
            let name = self.name(self.specs[k]);
            let (a, b) = (self.owner(self.specs[e]), self.owner(self.specs[k]));
            cloud::check_unique(topo, "GCP firewall name", [(&*name, &*a), (&*name, &*b)])?;
        }
        Ok(())
    }

    /// The VPC network every resource names (`global/networks/<name>`).
    pub fn network(&self) -> &str {
        &self.network
    }

    /// Each resource in order, made only when it is written.
    pub fn each(&self) -> impl Iterator<Item = FirewallToWrite<'_>> {
        // A flow's rules are adjacent and share its description: made once per flow.
        let mut last: Option<(usize, Arc<str>)> = None;
        self.specs.iter().map(move |&spec| {
            let description = match (spec.flow(), &last) {
                (Some(i), Some((j, d))) if i == *j => d.clone(),
                (flow, _) => {
                    let d = self.description(spec);
                    if let Some(i) = flow {
                        last = Some((i, d.clone()));
                    }
                    d
                }
            };
            FirewallToWrite {
                name: self.name(spec),
                firewalls: self,
                spec,
                description,
            }
        })
    }
}

impl Serialize for Firewalls {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.each())
    }
}

/// The firewall resources of the topology's `gcp` zones.
pub fn firewalls(topo: &Topology, flows: &Arc<Vec<Flow>>) -> Result<Firewalls> {
    cloud::zones(topo, Location::Gcp, "gcp")?;
    let comps = cloud::components(topo, Location::Gcp);
    // Each component's network tag, made once.
    let tags: IndexMap<String, Arc<str>, _> = comps
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
        ranges: HashMap::default(),
        internal: plan::Internal::of(topo),
        inside_tags: HashMap::default(),
    };
    let mut ranges = |end: &FlowEnd, fam: Family| {
        fws.ranges
            .entry((end.id, fam))
            .or_insert_with(|| cloud::nets(&end.addresses, fam).into());
    };
    for (i, f) in flows.iter().enumerate() {
        let from_in = cloud::in_cloud(topo, &f.from_end.zone, Location::Gcp);
        let to_in = cloud::in_cloud(topo, &f.to_end.zone, Location::Gcp);
        if !from_in && !to_in {
            continue;
        }
        let fams = cloud::families(f);
        let i = i as u32;
        if to_in {
            // A source inside the network is named by its tag: one rule for both families.
            if from_in {
                fws.specs.push(Spec::In(i, None));
            } else {
                for &fam in &fams {
                    fws.specs.push(Spec::In(i, Some(fam)));
                    ranges(&f.from_end, fam);
                }
            }
        }
        if from_in {
            for &fam in &fams {
                fws.specs.push(Spec::Out(i, fam));
                ranges(&f.to_end, fam);
            }
        }
    }
    // Instances with internet rules: the zones' networks are denied to and from them before
    // those rules, in the order their rules come.
    let mut inside: Vec<(bool, Family)> = Vec::new();
    for k in 0..fws.specs.len() {
        let (ingress, fam, tag) = match fws.specs[k] {
            Spec::In(i, Some(fam)) => {
                let f = &flows[i as usize];
                if !fws.outside(&f.from_end.addresses, fam) {
                    continue;
                }
                (true, fam, fws.tag(&f.to))
            }
            Spec::Out(i, fam) => {
                let f = &flows[i as usize];
                if !fws.outside(&f.to_end.addresses, fam) {
                    continue;
                }
                (false, fam, fws.tag(&f.from))
            }
            _ => continue,
        };
        let tags = fws.inside_tags.entry((ingress, fam)).or_default();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
        if !inside.contains(&(ingress, fam)) {
            inside.push((ingress, fam));
        }
    }
    inside.sort_by_key(|&(ingress, fam)| (!ingress, fam));
    fws.specs
        .extend(inside.into_iter().map(|(i, fam)| Spec::Inside(i, fam)));
    // GCP's implied egress rule allows everything: deny what no rule above allows.
    fws.specs.push(Spec::Deny(Family::V4));
    if topo.has_ipv6() {
        fws.specs.push(Spec::Deny(Family::V6));
    }
    let mut hashes = Vec::with_capacity(fws.specs.len());
    let hasher = foldhash::quality::FixedState::default();
    for (k, &spec) in fws.specs.iter().enumerate() {
        let name = fws.name(spec);
        hashes.push((std::hash::BuildHasher::hash_one(&hasher, &name), k as u32));
        check(topo, &fws.firewall(spec, &name, "".into()))?;
    }
    fws.check_unique(topo, hashes)?;
    Ok(fws)
}

/// A firewall resource, made from its spec only when the JSON writer reaches it.
pub struct FirewallToWrite<'a> {
    pub name: String,
    firewalls: &'a Firewalls,
    spec: Spec,
    description: Arc<str>,
}

impl FirewallToWrite<'_> {
    /// The resource itself.
    pub fn firewall(&self) -> Firewall<'_> {
        self.firewalls
            .firewall(self.spec, &self.name, self.description.clone())
    }
}

impl Serialize for FirewallToWrite<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.firewall().serialize(s)
    }
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
    cloud::warn_shared(ctx, Location::Gcp, "network tag");
    ctx.write(&format!("{}.gcp.json", t.name), |w| {
        super::write_json_doc(w, &fw)
    })?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition `rfc1035` had before it worked byte by byte.
    fn rfc1035_by_chars(s: &str) -> String {
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
        n.trim_end_matches('-').to_string()
    }

    #[test]
    fn rfc1035_is_its_character_definition() {
        let pieces = [
            "",
            "a",
            "Z",
            "0",
            "9x",
            "-",
            "_",
            ".",
            "é",
            "Ωmega",
            "日本",
            "x-",
            "--",
            "A_b.C",
            "sixty-three-characters-long-name-that-goes-on-and-on-and-on-xyz",
        ];
        for a in pieces {
            for b in pieces {
                for c in ["", "-", "1", "é-", &"y".repeat(70)] {
                    let s = format!("{a}{b}{c}");
                    assert_eq!(rfc1035(&s), rfc1035_by_chars(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn names_are_rfc1035() {
        assert_eq!(rfc1035("VDA_pool.vip"), "vda-pool-vip");
        assert_eq!(rfc1035("1st"), "fw-1st");
        assert!(valid_name(&rfc1035(&"a-".repeat(60))));
        assert!(valid_name(&rfc1035("x-")));
    }
}
