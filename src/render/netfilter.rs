//! What the nftables and iptables targets share: the plan's rules split per IP family, the
//! named address sets they match, the chains a perspective owns, the domain list, and the
//! warnings a Linux rule set deserves (a host firewall with no way in for its administrators).

use std::collections::BTreeSet;

use crate::{HashMap, HashSet};
use std::sync::Arc;

use ipnet::IpNet;

use crate::flow::{EndId, Flow, FlowEnd, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::{self, Direction, Perspective};
use crate::resolve::Resolution;
use crate::topology::Topology;

pub use crate::flow::Family;

impl Family {
    pub fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }
    /// The nftables data type of an address of this family.
    pub fn nft_type(self) -> &'static str {
        match self {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        }
    }
}

/// A named address set: one endpoint (a component, one of its interfaces, or a whole zone) in
/// one family.
#[derive(Debug, Clone)]
pub struct AddrSet {
    /// `comp.ddc.v4`, `comp.netscaler.snip.v4`, `zone.vda.v4`: `.` cannot occur in topology
    /// names, so names never collide; every part is a valid nft identifier character.
    pub name: Arc<str>,
    pub family: Family,
    /// What the set is, for a reader.
    pub label: String,
    /// Addresses as written in rule sets: hosts bare, networks with their prefix.
    pub elements: Arc<[String]>,
}

/// One allow rule in one family. Its flow's texts (id, ports, comment, notes) are read from
/// the flow when the rule is written ([`Model::flow`]): copied into every rule, they were
/// most of the model's memory.
#[derive(Debug, Clone)]
pub struct FwRule {
    /// The rule's flow, by index into [`Model::flows`].
    pub flow: usize,
    pub family: Family,
    pub src_set: Arc<str>,
    pub dst_set: Arc<str>,
    /// The end is every address outside its set: a default route, which leaves out the
    /// networks of the other zones (its set is [`INSIDE`], and its addresses below are those
    /// networks).
    pub src_not: bool,
    pub dst_not: bool,
    /// Shared by the rules with the same addresses (formatted once).
    pub src: Arc<[String]>,
    pub dst: Arc<[String]>,
    /// The same addresses as networks (aggregated, sorted), for layouts that compare them.
    pub src_nets: Arc<[IpNet]>,
    pub dst_nets: Arc<[IpNet]>,
    /// Zone firewall: the interfaces facing the source's and the destination's zone, when the
    /// topology names them.
    pub iif: Option<Arc<Bound>>,
    pub oif: Option<Arc<Bound>>,
    /// The same flow's rule for the other family came just before (its notes are there).
    pub repeat: bool,
}

/// A zone's firewall interfaces, as a rule matches them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bound {
    pub zone: Arc<str>,
    pub names: Arc<[String]>,
}

/// The set of the networks a default route leaves out: `inside.v4`, `inside.v6`.
pub const INSIDE: &str = "inside";

/// One chain a perspective owns.
#[derive(Debug, Clone)]
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
    /// The resolution's flows, which the rules point into.
    pub flows: Arc<Vec<Flow>>,
}

impl Model {
    /// The flow a rule comes from.
    pub fn flow(&self, r: &FwRule) -> &Flow {
        &self.flows[r.flow]
    }
}

/// `10.0.0.5` for a host, `10.0.0.0/24` for a network.
pub fn net_str(n: &IpNet) -> String {
    let mut out = String::new();
    push_net(&mut out, n);
    out
}

/// [`net_str`] written onto the end of `out`, without a string of its own.
pub fn push_net(out: &mut String, n: &IpNet) {
    use std::fmt::Write;
    let _ = if n.prefix_len() == n.max_prefix_len() {
        write!(out, "{}", n.addr())
    } else {
        write!(out, "{n}")
    };
}

fn only(nets: &[IpNet], fam: Family) -> Vec<IpNet> {
    nets.iter()
        .filter(|n| Family::of(n) == fam)
        .copied()
        .collect()
}

/// Build the rules, sets and chains of one perspective.
pub fn model(ctx: &Ctx<'_>) -> Model {
    let (topo, res) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let perspective = ctx.opts.perspective();
    // The plan's flows and directions; its rules' fields are the flows' own.
    let selected = plan::selected(res, &perspective);
    let mut families = vec![Family::V4];
    if topo.has_ipv6() {
        families.push(Family::V6);
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
    let internal = plan::Internal::of(topo);
    let mut sets_of = SetIndex {
        sets: Vec::new(),
        seen: HashSet::default(),
        zone_nets: HashMap::default(),
        names: HashMap::default(),
        texts: HashMap::default(),
        nets: HashMap::default(),
        inside: [false, true].map(|v6| internal.nets(v6).into()),
        internal,
        topo,
    };
    // Zone firewall: the bound zones' interfaces, one shared value per zone.
    let bound_zones: HashMap<&str, Arc<Bound>> = match perspective {
        Perspective::Zone => topo
            .zones
            .values()
            .filter(|z| !z.interfaces.is_empty())
            .map(|z| {
                let b = Bound {
                    zone: z.name.as_str().into(),
                    names: z.interfaces.clone().into(),
                };
                (z.name.as_str(), Arc::new(b))
            })
            .collect(),
        Perspective::Host(_) => HashMap::default(),
    };
    let bound = |zone: &str| -> Option<Arc<Bound>> {
        if bound_zones.is_empty() {
            return None;
        }
        bound_zones.get(zone).cloned()
    };
    for &(i, direction) in &selected {
        let f = &res.flows[i];
        let mut made = false;
        for &fam in &families {
            if (f.protocol == Protocol::Icmp && fam != Family::V4)
                || (f.protocol == Protocol::Icmpv6 && fam != Family::V6)
            {
                continue;
            }
            let ((src, src_not), (dst, dst_not)) =
                (sets_of.nets(&f.from_end, fam), sets_of.nets(&f.to_end, fam));
            if src.is_empty() || dst.is_empty() {
                continue;
            }
            let src_set = sets_of.set_for(f, true, fam, &src, src_not);
            let dst_set = sets_of.set_for(f, false, fam, &dst, dst_not);
            let chain = chains
                .iter_mut()
                .find(|c| c.direction == direction)
                .expect("a chain per direction");
            chain.rules.push(FwRule {
                flow: i,
                family: fam,
                src_set,
                dst_set,
                src_not,
                dst_not,
                src: sets_of.text(&src),
                dst: sets_of.text(&dst),
                src_nets: src,
                dst_nets: dst,
                iif: bound(&f.from_end.zone),
                oif: bound(&f.to_end.zone),
                repeat: chain.rules.last().is_some_and(|p| p.flow == i),
            });
            made = true;
        }
        if made {
            domains.extend(f.to_fqdns.iter().cloned());
        } else {
            ctx.warn(
                format!(
                    "flow `{}` has no rule: its source and destination share no IP family{}",
                    f.id,
                    if matches!(f.protocol, Protocol::Icmp | Protocol::Icmpv6) {
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
        lockout_warning(ctx, h, res, &selected);
    }
    let mut sets = sets_of.sets;
    sets.sort_by(|a, b| (a.family, &a.name).cmp(&(b.family, &b.name)));
    Model {
        sets,
        chains,
        domains: domains.into_iter().collect(),
        families,
        flows: res.flows.clone(),
    }
}

/// An end of a rule: its flow end, a family.
type EndKey = (EndId, Family);

/// A flow end's addresses of one family, and whether they stand for a default route.
type EndOf = (Arc<[IpNet]>, bool);

/// A set's addresses and its name.
type NamedNets = (Arc<[IpNet]>, Arc<str>);

/// The sets made so far, with indexes so each lookup is constant time.
struct SetIndex<'t> {
    sets: Vec<AddrSet>,
    seen: HashSet<Arc<str>>,
    zone_nets: HashMap<(&'t str, Family), Vec<IpNet>>,
    /// Set names found for an end (its component's and interface's shared names, a family)
    /// with its addresses: most rules reuse an end, and naming one aggregated its addresses.
    names: HashMap<EndKey, Vec<NamedNets>>,
    /// Addresses as text, made once for each list of them.
    texts: HashMap<Arc<[IpNet]>, Arc<[String]>>,
    /// A flow end's addresses of one family, and whether they stand for a default route
    /// ([`SetIndex::nets`]).
    nets: HashMap<(EndId, Family), EndOf>,
    /// What a default route leaves out, and those networks per family (IPv4, IPv6).
    internal: plan::Internal,
    inside: [Arc<[IpNet]>; 2],
    topo: &'t Topology,
}

impl<'t> SetIndex<'t> {
    /// The addresses of one family of a flow end, made once per end (every flow of a
    /// component shares it) and shared by the rules: its networks, aggregated; or for a
    /// default route (`true`) the networks it leaves out ([`plan::Internal`]).
    fn nets(&mut self, end: &FlowEnd, fam: Family) -> EndOf {
        let (internal, inside) = (&self.internal, &self.inside);
        let list = &end.addresses;
        self.nets
            .entry((end.id, fam))
            .or_insert_with(|| {
                let v6 = fam == Family::V6;
                if internal.wide(list, v6) {
                    (inside[usize::from(v6)].clone(), true)
                } else {
                    (only(&plan::aggregate(list), fam).into(), false)
                }
            })
            .clone()
    }

    /// `nets` as rule-set text, shared by every rule with the same list.
    fn text(&mut self, nets: &Arc<[IpNet]>) -> Arc<[String]> {
        if let Some(t) = self.texts.get(nets) {
            return t.clone();
        }
        let t: Arc<[String]> = nets.iter().map(net_str).collect();
        self.texts.insert(nets.clone(), t.clone());
        t
    }

    /// The set an end of `flow` (its source or destination) goes in, added on first use; for
    /// an end outside every other zone (`not`), the set of those zones' networks.
    fn set_for(
        &mut self,
        flow: &'t Flow,
        source: bool,
        fam: Family,
        nets: &Arc<[IpNet]>,
        not: bool,
    ) -> Arc<str> {
        if not {
            return self.inside(fam, nets);
        }
        let (comp, end) = if source {
            (&flow.from, &flow.from_end)
        } else {
            (&flow.to, &flow.to_end)
        };
        let (zone, iface) = (&end.zone, end.interface.as_ref());
        let key = (end.id, fam);
        if let Some((_, name)) = self
            .names
            .get(&key)
            .and_then(|known| known.iter().find(|(n, _)| **n == **nets))
        {
            return name.clone();
        }
        let name = self.name_set(comp, iface.map(|i| &**i), zone, fam, nets);
        self.names
            .entry(key)
            .or_default()
            .push((nets.clone(), name.clone()));
        name
    }

    /// `inside.v4`: the networks of every zone that does not hold the default route.
    fn inside(&mut self, fam: Family, nets: &Arc<[IpNet]>) -> Arc<str> {
        let name: Arc<str> = format!("{INSIDE}.{}", fam.suffix()).into();
        if let Some(known) = self.seen.get(&name) {
            return known.clone();
        }
        self.seen.insert(name.clone());
        let elements = self.text(nets);
        self.sets.push(AddrSet {
            name: name.clone(),
            family: fam,
            label: format!(
                "the networks of every zone but the default route's, {}: a default route (the internet) is every address outside them",
                fam_label(fam)
            ),
            elements,
        });
        name
    }

    fn name_set(
        &mut self,
        comp: &str,
        iface: Option<&str>,
        zone: &'t str,
        fam: Family,
        nets: &Arc<[IpNet]>,
    ) -> Arc<str> {
        let topo = self.topo;
        let zone_nets = self
            .zone_nets
            .entry((zone, fam))
            .or_insert_with(|| plan::aggregate(&only(&topo.zone(zone).cidrs, fam)));
        let whole_zone = plan::aggregate(nets) == *zone_nets;
        let name: Arc<str> = match (whole_zone, iface) {
            (true, _) => format!("zone.{zone}.{}", fam.suffix()),
            (false, Some(i)) => format!("comp.{comp}.{i}.{}", fam.suffix()),
            (false, None) => format!("comp.{comp}.{}", fam.suffix()),
        }
        .into();
        if let Some(known) = self.seen.get(&name) {
            return known.clone();
        }
        // Only a new set needs its label (most rules reuse a set).
        let label = match (whole_zone, iface) {
            (true, _) => format!("zone {zone}, {}", fam_label(fam)),
            (false, Some(i)) => {
                format!("{comp} interface {i} (zone {zone}), {}", fam_label(fam))
            }
            (false, None) => format!("{comp} (zone {zone}), {}", fam_label(fam)),
        };
        self.seen.insert(name.clone());
        let elements = self.text(nets);
        self.sets.push(AddrSet {
            name: name.clone(),
            family: fam,
            label,
            elements,
        });
        name
    }
}

pub(super) fn fam_label(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

/// The kernel comment of a flow's rules: flow id, domains, purpose (each target's filter cuts
/// it to size).
pub fn comment(f: &Flow) -> String {
    if f.to_fqdns.is_empty() {
        [f.id.as_str(), ": ", &f.purpose].concat()
    } else {
        [
            f.id.as_str(),
            " [",
            &f.to_fqdns.join(" "),
            "]: ",
            &f.purpose,
        ]
        .concat()
    }
}

/// The summary for `#` lines above a flow's rules: endpoints and ports, then the domains when
/// there are any. [`notes`] adds one line per catalogue entry.
pub fn summary(f: &Flow) -> Vec<String> {
    let mut line = [
        f.id.as_str(),
        ": ",
        &f.from,
        " (",
        &f.from_end.zone,
        ") -> ",
        &f.to,
        " (",
        &f.to_end.zone,
        "), ",
        f.protocol.name(),
    ]
    .concat();
    if !f.ports.is_empty() {
        line.push(' ');
        f.ports.push_to(&mut line);
    }
    let mut out = vec![line];
    if !f.to_fqdns.is_empty() {
        out.push(["  domains: ", &f.to_fqdns.join(", ")].concat());
    }
    out
}

/// The full explanation, for `#` lines above a flow's rules: the summary, then each catalogue
/// entry merged into the flow with its ports and purpose.
pub fn notes(f: &Flow) -> Vec<String> {
    let mut out = summary(f);
    for p in &f.parts {
        let ports = if p.ports.is_empty() {
            String::new()
        } else {
            p.ports.text() + ": "
        };
        out.push(["  ", &ports, &p.purpose, " [", &p.catalogue, "]"].concat());
        if let Some(reason) = &p.reason {
            out.push(["    reason: ", reason].concat());
        }
    }
    out
}

/// A host firewall drops new connections its flows do not allow, SSH included: say so when no
/// flow lets anyone manage the host over SSH.
fn lockout_warning(ctx: &Ctx<'_>, host: &str, res: &Resolution, selected: &[(usize, Direction)]) {
    let ssh = selected.iter().any(|&(i, d)| {
        let f = &res.flows[i];
        d == Direction::Inbound && f.protocol == Protocol::Tcp && f.ports.contains(22)
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
