//! What the nftables and iptables targets share: the plan's rules split per IP family, the
//! named address sets they match, the chains a perspective owns, the domain list, and the
//! warnings a Linux rule set deserves (a host firewall with no way in for its administrators).

use std::collections::BTreeSet;

use crate::{HashMap, HashSet};
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

use super::concat;
use crate::flow::{shared_key, Flow, PortRange, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::{self, Direction, Perspective, Rule};
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn suffix(self) -> &'static str {
        match self {
            Family::Ipv4 => "v4",
            Family::Ipv6 => "v6",
        }
    }
    /// The nftables data type of an address of this family.
    pub fn nft_type(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4_addr",
            Family::Ipv6 => "ipv6_addr",
        }
    }
    fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::Ipv4,
            IpNet::V6(_) => Family::Ipv6,
        }
    }
}

/// A named address set: one endpoint (a component, one of its interfaces, or a whole zone) in
/// one family.
#[derive(Debug, Clone, Serialize)]
pub struct AddrSet {
    /// `comp.ddc.v4`, `comp.netscaler.snip.v4`, `zone.vda.v4`: `.` cannot occur in topology
    /// names, so names never collide; every part is a valid nft identifier character.
    pub name: String,
    pub family: Family,
    /// What the set is, for a reader.
    pub label: String,
    /// Addresses as written in rule sets: hosts bare, networks with their prefix.
    pub elements: Vec<String>,
}

/// One allow rule in one family.
#[derive(Debug, Clone, Serialize)]
pub struct FwRule {
    pub flow: String,
    pub family: Family,
    pub direction: Direction,
    pub src_set: String,
    pub dst_set: String,
    /// Shared by the rules with the same addresses (formatted once).
    pub src: Arc<[String]>,
    pub dst: Arc<[String]>,
    /// The same addresses as networks (aggregated, sorted), for layouts that compare them.
    #[serde(skip)]
    pub src_nets: Vec<IpNet>,
    #[serde(skip)]
    pub dst_nets: Vec<IpNet>,
    pub protocol: Protocol,
    /// The sorted port ranges (empty for protocols without ports).
    #[serde(skip)]
    pub ports: Vec<PortRange>,
    /// The kernel comment: flow id, domains, purpose (each target's filter cuts it to size).
    pub comment: String,
    /// The summary for `#` lines above the rule: endpoints and ports, then the domains when
    /// there are any. [`FwRule::notes`] adds one line per catalogue entry.
    pub summary: Vec<String>,
    /// The flow whose catalogue entries [`FwRule::notes`] lists, by index into the shared
    /// flows: made only for a layout that prints them (the concatenated nftables layout does
    /// not, and formatting them for 100,000 flows took a tenth of its time).
    #[serde(skip)]
    pub flow_ref: Option<(Arc<Vec<Flow>>, usize)>,
    /// Without a flow: the purpose line.
    #[serde(skip)]
    pub purpose: Option<String>,
    /// The same flow's rule for the other family came just before (its notes are there).
    pub repeat: bool,
}

/// One chain a perspective owns.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    /// `forward`, `input`, `output`.
    pub hook: String,
    pub direction: Direction,
    pub rules: Vec<FwRule>,
}

pub struct Model {
    pub sets: Vec<AddrSet>,
    pub chains: Vec<Chain>,
    pub domains: Vec<String>,
    pub families: Vec<Family>,
}

/// `10.0.0.5` for a host, `10.0.0.0/24` for a network.
pub fn net_str(n: &IpNet) -> String {
    crate::flow::NetText::host_or_net(n).as_str().to_owned()
}

fn only(nets: &[IpNet], fam: Family) -> Vec<IpNet> {
    nets.iter()
        .filter(|n| Family::of(n) == fam)
        .copied()
        .collect()
}

/// The model of the run's perspective, made once for the targets that use it (nftables and
/// iptables under `all`); the warnings found making it are reported by each.
pub fn shared_model(ctx: &Ctx<'_>) -> Arc<(Model, Vec<crate::diag::Diagnostic>)> {
    let made = ctx.shared.netfilter.get(|| ctx.with_own_warnings(model));
    for w in &made.1 {
        ctx.add_warning(w.clone());
    }
    made
}

/// Build the rules, sets and chains of one perspective.
fn model(ctx: &Ctx<'_>) -> Model {
    let (topo, res) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let perspective = ctx.opts.perspective();
    let rules = plan::plan(res, &perspective);
    let mut families = vec![Family::Ipv4];
    if topo.has_ipv6() {
        families.push(Family::Ipv6);
    }
    let hooks: Vec<(&str, Direction)> = match perspective {
        Perspective::Zone => vec![("forward", Direction::Forward)],
        Perspective::Host(_) => vec![
            ("input", Direction::Inbound),
            ("output", Direction::Outbound),
        ],
    };
    let mut chains: Vec<Chain> = hooks
        .iter()
        .map(|(h, d)| Chain {
            hook: (*h).to_string(),
            direction: *d,
            rules: Vec::new(),
        })
        .collect();
    let mut domains = BTreeSet::new();
    // Flow ids are unique; an index instead of a scan per rule keeps this linear.
    let by_id: HashMap<&str, usize> = res
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    let mut sets_of = SetIndex {
        sets: Vec::new(),
        seen: HashSet::default(),
        zone_nets: HashMap::default(),
        names: HashMap::default(),
        texts: HashMap::default(),
        topo,
    };
    for r in &rules {
        let flow = by_id.get(r.flow.as_str()).copied();
        let mut made = false;
        for &fam in &families {
            if (r.protocol == Protocol::Icmp && fam != Family::Ipv4)
                || (r.protocol == Protocol::Icmpv6 && fam != Family::Ipv6)
            {
                continue;
            }
            let (src, dst) = (only(&r.src, fam), only(&r.dst, fam));
            if src.is_empty() || dst.is_empty() {
                continue;
            }
            let f = flow.map(|i| &res.flows[i]);
            let src_set = sets_of.set_for(f, true, &r.from, &r.from_zone, fam, &src);
            let dst_set = sets_of.set_for(f, false, &r.to, &r.to_zone, fam, &dst);
            let chain = chains
                .iter_mut()
                .find(|c| c.direction == r.direction)
                .expect("a chain per direction");
            chain.rules.push(FwRule {
                flow: r.flow.clone(),
                family: fam,
                direction: r.direction,
                src_set,
                dst_set,
                src: sets_of.text(&src),
                dst: sets_of.text(&dst),
                src_nets: src,
                dst_nets: dst,
                protocol: r.protocol,
                ports: r.ports.ranges().to_vec(),
                comment: comment(r),
                summary: summary(r),
                flow_ref: flow.map(|i| (res.flows.clone(), i)),
                purpose: flow.is_none().then(|| r.purpose.to_string()),
                repeat: chain.rules.last().is_some_and(|p| p.flow == r.flow),
            });
            made = true;
        }
        if made {
            domains.extend(r.fqdns.iter().cloned());
        } else {
            ctx.warn(
                format!(
                    "flow `{}` has no rule: its source and destination share no IP family{}",
                    r.flow,
                    if matches!(r.protocol, Protocol::Icmp | Protocol::Icmpv6) {
                        " for this ICMP version"
                    } else {
                        ""
                    }
                ),
                "give both components addresses of the same family (IPv4 or IPv6)",
            );
        }
    }
    if let Perspective::Host(h) = &perspective {
        lockout_warning(ctx, h, &rules);
    }
    let mut sets = sets_of.sets;
    sets.sort_by(|a, b| (a.family, &a.name).cmp(&(b.family, &b.name)));
    Model {
        sets,
        chains,
        domains: domains.into_iter().collect(),
        families,
    }
}

/// An end of a rule: its component's and interface's shared names (by address), a family.
type EndKey = (usize, usize, Family);

/// The sets made so far, with indexes so each lookup is constant time.
struct SetIndex<'t> {
    sets: Vec<AddrSet>,
    seen: HashSet<String>,
    zone_nets: HashMap<(&'t str, Family), Vec<IpNet>>,
    /// Set names found for an end (its component's and interface's shared names, a family)
    /// with its addresses: most rules reuse an end, and naming one aggregated its addresses.
    names: HashMap<EndKey, Vec<(Vec<IpNet>, String)>>,
    /// Addresses as text, made once for each list of them.
    texts: HashMap<Vec<IpNet>, Arc<[String]>>,
    topo: &'t Topology,
}

impl<'t> SetIndex<'t> {
    /// `nets` as rule-set text, shared by every rule with the same list.
    fn text(&mut self, nets: &[IpNet]) -> Arc<[String]> {
        if let Some(t) = self.texts.get(nets) {
            return t.clone();
        }
        let t: Arc<[String]> = nets.iter().map(net_str).collect();
        self.texts.insert(nets.to_vec(), t.clone());
        t
    }

    /// The set an endpoint's addresses go in, added on first use.
    fn set_for(
        &mut self,
        flow: Option<&Flow>,
        source: bool,
        comp: &Arc<str>,
        zone: &'t str,
        fam: Family,
        nets: &[IpNet],
    ) -> String {
        let iface = flow.and_then(|f| {
            if source {
                f.from_interface.as_ref()
            } else {
                f.to_interface.as_ref()
            }
        });
        let key = (shared_key(comp), iface.map_or(0, shared_key), fam);
        if let Some((_, name)) = self
            .names
            .get(&key)
            .and_then(|known| known.iter().find(|(n, _)| n.as_slice() == nets))
        {
            return name.clone();
        }
        let name = self.name_set(comp, iface.map(|i| &**i), zone, fam, nets);
        self.names
            .entry(key)
            .or_default()
            .push((nets.to_vec(), name.clone()));
        name
    }

    fn name_set(
        &mut self,
        comp: &str,
        iface: Option<&str>,
        zone: &'t str,
        fam: Family,
        nets: &[IpNet],
    ) -> String {
        let topo = self.topo;
        let zone_nets = self
            .zone_nets
            .entry((zone, fam))
            .or_insert_with(|| plan::aggregate(&only(&topo.zone(zone).cidrs, fam)));
        let whole_zone = plan::aggregate(nets) == *zone_nets;
        let name = match (whole_zone, iface) {
            (true, _) => format!("zone.{zone}.{}", fam.suffix()),
            (false, Some(i)) => format!("comp.{comp}.{i}.{}", fam.suffix()),
            (false, None) => format!("comp.{comp}.{}", fam.suffix()),
        };
        if !self.seen.contains(&name) {
            // Only a new set needs its label (most rules reuse a set).
            let label = match (whole_zone, iface) {
                (true, _) => format!("zone {zone}, {}", fam_label(fam)),
                (false, Some(i)) => {
                    format!("{comp} interface {i} (zone {zone}), {}", fam_label(fam))
                }
                (false, None) => format!("{comp} (zone {zone}), {}", fam_label(fam)),
            };
            self.seen.insert(name.clone());
            let elements = self.text(nets).to_vec();
            self.sets.push(AddrSet {
                name: name.clone(),
                family: fam,
                label,
                elements,
            });
        }
        name
    }
}

pub(super) fn fam_label(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

fn comment(r: &Rule) -> String {
    if r.fqdns.is_empty() {
        concat(&[&r.flow, ": ", &r.purpose])
    } else {
        concat(&[&r.flow, " [", &r.fqdns.join(" "), "]: ", &r.purpose])
    }
}

/// The summary lines of a rule's notes: endpoints and ports, then the domains.
fn summary(r: &Rule) -> Vec<String> {
    let mut line = concat(&[
        &r.flow,
        ": ",
        &r.from,
        " (",
        &r.from_zone,
        ") -> ",
        &r.to,
        " (",
        &r.to_zone,
        "), ",
        r.protocol.name(),
    ]);
    if !r.ports.is_empty() {
        line.push(' ');
        r.ports.push_to(&mut line);
    }
    let mut out = vec![line];
    if !r.fqdns.is_empty() {
        out.push(concat(&["  domains: ", &r.fqdns.join(", ")]));
    }
    out
}

impl FwRule {
    /// The full explanation, for `#` lines above the rule: the summary, then each catalogue
    /// entry merged into the flow with its ports and purpose.
    pub fn notes(&self) -> Vec<String> {
        let mut out = self.summary.clone();
        match (&self.flow_ref, &self.purpose) {
            (Some((flows, i)), _) => {
                for p in &flows[*i].parts {
                    let ports = if p.ports.is_empty() {
                        String::new()
                    } else {
                        p.ports.text() + ": "
                    };
                    out.push(concat(&["  ", &ports, &p.purpose, " [", &p.catalogue, "]"]));
                    if let Some(reason) = &p.reason {
                        out.push(concat(&["    reason: ", reason]));
                    }
                }
            }
            (None, Some(purpose)) => out.push(concat(&["  ", purpose])),
            (None, None) => {}
        }
        out
    }
}

/// A host firewall drops new connections its flows do not allow, SSH included: say so when no
/// flow lets anyone manage the host over SSH.
fn lockout_warning(ctx: &Ctx<'_>, host: &str, rules: &[Rule]) {
    let ssh = rules.iter().any(|r| {
        r.direction == Direction::Inbound && r.protocol == Protocol::Tcp && r.ports.contains(22)
    });
    if !ssh {
        ctx.warn(
            format!(
                "host firewall for `{host}` allows no inbound SSH (tcp/22): loading it keeps open sessions but refuses new SSH connections"
            ),
            format!(
                "add an [[additions]] entry from your admin component to `{host}` with protocol = \"tcp\", ports = [22] and a reason, or keep console access while you load it (docs: \"Not locking yourself out\")"
            ),
        );
    }
}

/// The domain list file, when flows reach internet services by name.
pub fn domains_file(topo: &Topology, m: &Model) -> Option<OutFile> {
    if m.domains.is_empty() {
        return None;
    }
    let mut content = String::new();
    for d in &m.domains {
        content.push_str(d);
        content.push('\n');
    }
    Some(OutFile {
        name: format!("{}.domains.txt", topo.name),
        content,
    })
}

/// A short, stable tag for names that had to be cut (FNV-1a, 16 bits as hex).
pub fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:04x}", (h ^ (h >> 16)) & 0xffff)
}
