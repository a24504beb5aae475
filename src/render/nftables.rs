//! nftables: one `inet` table per topology, replaced atomically on every load.
//!
//! The file first declares the table (creating it when absent), deletes it, and declares it
//! again in full, all in one transaction: loading it on a fresh machine and re-loading it give
//! the same rule set, and no other table is touched. (`destroy table` would say this in one
//! line, but needs nftables 1.0.8; Debian 12 ships 1.0.6.)

use crate::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Result;
use ipnet::IpNet;
use serde::Serialize;

use super::netfilter::{self, Family, FwRule, Model};
use crate::flow::{Flow, PortRange, PortSet, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::{Direction, Perspective};

/// How addresses and ports reach the kernel.
///
/// `Sets` is one rule per flow over named sets of component and zone addresses: the easiest to
/// read. The kernel looks a set up by name with a linear scan of the table's sets (named and
/// anonymous), so loading grows with the square of the set count (BENCHMARKS.md has the
/// figures). `Concat` puts every flow in a few
/// concatenated interval sets (`saddr . daddr . protocol . port`) matched by one rule each, so
/// the set count stays constant and the load time linear in flows (each element carries its
/// flow id as a comment). `Auto` picks `Sets` up to [`AUTO_SET_LIMIT`] sets, else `Concat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    #[default]
    Auto,
    Sets,
    Concat,
}

/// Most kernel sets (named address sets plus one anonymous set per multi-port rule) the `Sets`
/// layout may use under `Auto`: few enough that the set lookups stay a small part of loading.
pub const AUTO_SET_LIMIT: usize = 1000;

fn kernel_sets(m: &Model) -> usize {
    let anonymous = m
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .filter(|r| m.flow(r).ports.ranges().len() > 1)
        .count();
    m.sets.len() + anonymous
}

/// The table ctxfw owns: `ctxfw-<topology>` (an nft identifier must start with a letter, and
/// the prefix says who owns it).
pub fn table_name(topology: &str) -> String {
    format!("ctxfw-{topology}")
}

/// `tcp dport { 80, 443, 6910-6930 }`, `udp dport 53`, `meta l4proto esp`.
fn matcher(f: &Flow) -> String {
    match f.protocol {
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp => {
            let ports: Vec<String> = f.ports.ranges().iter().map(PortRange::to_string).collect();
            let set = if ports.len() == 1 {
                ports[0].clone()
            } else {
                format!("{{ {} }}", ports.join(", "))
            };
            format!("{} dport {set}", f.protocol)
        }
        p => format!("meta l4proto {}", proto_name(p)),
    }
}

/// A protocol as nftables names it (`inet_proto`): ICMPv6 is `ipv6-icmp`.
fn proto_name(p: Protocol) -> String {
    match p {
        Protocol::Icmpv6 => "ipv6-icmp".into(),
        p => p.to_string(),
    }
}

/// A lookup's operator: an end outside every other zone is "not in" their networks.
fn not(outside: bool) -> &'static str {
    if outside {
        "!= "
    } else {
        ""
    }
}

/// `iifname "eth1" oifname { "eth2", "eth3" } `: the interfaces a zone firewall's rule
/// matches, when the topology binds its zones to them (nothing otherwise).
fn interfaces(iif: Option<&netfilter::Bound>, oif: Option<&netfilter::Bound>) -> String {
    let mut out = String::new();
    for (kw, b) in [("iifname", iif), ("oifname", oif)] {
        let Some(b) = b else { continue };
        let names: Vec<String> = b.names.iter().map(|n| format!("\"{n}\"")).collect();
        out.push_str(kw);
        if names.len() == 1 {
            out.push(' ');
            out.push_str(&names[0]);
        } else {
            out.push_str(" { ");
            out.push_str(&names.join(", "));
            out.push_str(" }");
        }
        out.push(' ');
    }
    out
}

fn addr_keyword(f: Family) -> &'static str {
    match f {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let shared = Arc::new(netfilter::model(ctx));
    let m: &netfilter::Model = &shared;
    let concat = match ctx.opts.nft_layout {
        Layout::Sets => false,
        Layout::Concat => true,
        Layout::Auto => kernel_sets(m) > AUTO_SET_LIMIT,
    };
    let (sets, chains) = if concat {
        concat_layout(&shared)
    } else {
        sets_layout(&shared)
    };
    let topo = &ctx.loaded.topology;
    let host = match ctx.opts.perspective() {
        Perspective::Host(h) => Some(h),
        Perspective::Zone => None,
    };
    let value = FileCtx {
        topology: &topo.name,
        description: &topo.description,
        table: table_name(&topo.name),
        host: host.as_deref(),
        ipv6: m.families.contains(&Family::V6),
        counters: ctx.opts.counters,
        log_drops: ctx.opts.log_drops,
        concat,
        sets,
        chains,
        domains: &m.domains,
    };
    ctx.write(&format!("{}.nft", topo.name), |w| {
        ctx.renderer.render_ser_to("nftables.nft.j2", &value, w)
    })?;
    Ok(netfilter::domains_file(topo, m).into_iter().collect())
}

/// The netfilter model, shared with the lazy template values made from it.
type SharedModel = Arc<Model>;

/// One rule per flow over named address sets.
fn sets_layout(shared: &SharedModel) -> (minijinja::Value, Vec<ChainCtx>) {
    let m: &netfilter::Model = shared;
    let chains = (0..m.chains.len())
        .map(|c| {
            let model = shared.clone();
            let rules = super::lazy_list(m.chains[c].rules.len(), move |k| {
                let m: &Model = &model;
                let r = &m.chains[c].rules[k];
                let f = m.flow(r);
                let kw = addr_keyword(r.family);
                minijinja::Value::from_serialize(RuleCtx {
                    flow: &f.id,
                    family: r.family,
                    matcher: [
                        &interfaces(r.iif.as_deref(), r.oif.as_deref()),
                        kw,
                        " saddr ",
                        not(r.src_not),
                        "@",
                        &r.src_set,
                        " ",
                        kw,
                        " daddr ",
                        not(r.dst_not),
                        "@",
                        &r.dst_set,
                        " ",
                        &matcher(f),
                    ]
                    .concat(),
                    comment: netfilter::comment(f),
                    notes: netfilter::notes(f),
                    repeat: r.repeat,
                })
            });
            chain_ctx(&m.chains[c], rules)
        })
        .collect();
    let model = shared.clone();
    let sets = super::lazy_list(m.sets.len(), move |i| {
        let s = &model.sets[i];
        minijinja::Value::from_serialize(SetCtx {
            name: &s.name,
            ty: s.family.nft_type(),
            label: &s.label,
            elements: Some(&s.elements),
            blocks: None,
        })
    });
    (sets, chains)
}

/// The template's context: sets and each chain's rules are made template values one at a
/// time as the template reaches them.
#[derive(Serialize)]
struct FileCtx<'a> {
    topology: &'a str,
    description: &'a str,
    table: String,
    host: Option<&'a str>,
    ipv6: bool,
    counters: bool,
    log_drops: bool,
    concat: bool,
    /// [`SetCtx`]s.
    sets: minijinja::Value,
    chains: Vec<ChainCtx>,
    domains: &'a [String],
}

#[derive(Serialize)]
struct ChainCtx {
    hook: String,
    /// Unused by the embedded template; an overriding one had it when the context was JSON.
    direction: Direction,
    rules: minijinja::Value,
}

/// A chain whose rules are [`RuleCtx`]s.
fn chain_ctx(c: &netfilter::Chain, rules: minijinja::Value) -> ChainCtx {
    ChainCtx {
        hook: c.hook.clone(),
        direction: c.direction,
        rules,
    }
}

#[derive(Serialize)]
struct RuleCtx<'a> {
    flow: &'a str,
    family: Family,
    #[serde(rename = "match")]
    matcher: String,
    comment: String,
    notes: Vec<String>,
    repeat: bool,
}

/// A named set: `elements` in the per-flow layout, `blocks` (one per flow) in the concat one.
#[derive(Serialize)]
struct SetCtx<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
    label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    elements: Option<&'a [String]>,
    /// [`BlockCtx`]s.
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<minijinja::Value>,
}

#[derive(Serialize)]
struct BlockCtx {
    notes: Vec<String>,
    elements: Vec<String>,
}

/// How many of `nets` strictly contain each of them. CIDR networks either nest or are
/// disjoint, so two different networks at the same depth never overlap.
fn depths(nets: &HashSet<IpNet>) -> HashMap<IpNet, usize> {
    nets.iter()
        .map(|n| {
            let d = (0..n.prefix_len())
                .filter(|&p| {
                    IpNet::new(n.addr(), p)
                        .map(|s| nets.contains(&s.trunc()))
                        .unwrap_or(false)
                })
                .count();
            (*n, d)
        })
        .collect()
}

/// Most elements in one concatenated set before the next shard of its layer starts. The
/// kernel's insertion into such a set slows as the set grows, so sets are kept small; each
/// shard costs one more set lookup, for new connections only.
pub const SHARD_MAX: usize = 2048;

/// The interfaces a rule matches coming in and going out (zone firewall, bound zones only).
type Ifs = (Option<Arc<netfilter::Bound>>, Option<Arc<netfilter::Bound>>);

/// What the sets of one layer share: the key of their elements and the rule matching them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Layer {
    ports: bool,
    /// How deeply the source networks nest among the chain's; `None`: the source is a default
    /// route, every address outside the other zones, which the rule matches with
    /// `!= @inside.<family>` and the elements leave out.
    src: Option<usize>,
    dst: Option<usize>,
    /// Zone firewall: the interfaces facing the source's and the destination's zones.
    iif: Option<Arc<netfilter::Bound>>,
    oif: Option<Arc<netfilter::Bound>>,
}

impl Layer {
    /// `<hook>.<family>.<ports|proto>.s<depth|x>.d<depth|x>[.from-<zone>][.to-<zone>]`.
    fn name(&self, hook: &str, fam: Family) -> String {
        let depth = |d: Option<usize>| d.map_or("x".to_string(), |d| d.to_string());
        let mut name = format!(
            "{hook}.{}.{}.s{}.d{}",
            fam.suffix(),
            if self.ports { "ports" } else { "proto" },
            depth(self.src),
            depth(self.dst)
        );
        for (way, b) in [("from", &self.iif), ("to", &self.oif)] {
            if let Some(b) = b {
                name.push_str(&format!(".{way}-{}", b.zone));
            }
        }
        name
    }

    /// The rule matching the layer's set `name`.
    fn matcher(&self, fam: Family, name: &str) -> String {
        let k = addr_keyword(fam);
        let mut out = interfaces(self.iif.as_deref(), self.oif.as_deref());
        let mut key = Vec::new();
        for (dir, depth) in [("saddr", self.src), ("daddr", self.dst)] {
            match depth {
                Some(_) => key.push(format!("{k} {dir}")),
                None => out.push_str(&format!(
                    "{k} {dir} != @{}.{} ",
                    netfilter::INSIDE,
                    fam.suffix()
                )),
            }
        }
        key.push("meta l4proto".into());
        if self.ports {
            key.push("th dport".into());
        }
        out.push_str(&key.join(" . "));
        out.push_str(" @");
        out.push_str(name);
        out
    }

    /// The set's element type and what it says, for the label.
    fn key(&self, fam: Family) -> (String, String) {
        let addr = fam.nft_type();
        let mut ty = Vec::new();
        let mut what = Vec::new();
        for (end, depth) in [("source", self.src), ("destination", self.dst)] {
            if depth.is_some() {
                ty.push(addr);
                what.push(end);
            }
        }
        ty.push("inet_proto");
        what.push("protocol");
        if self.ports {
            ty.push("inet_service");
            what.push("port");
        }
        (ty.join(" . "), what.join(" . "))
    }
}

/// One concatenated set in the making: the flows' elements in rule order, each flow's block
/// under its notes.
struct ConcatSet {
    /// [`Layer::name`]: the sets of one layer are its shards.
    layer: String,
    key: Layer,
    shard: usize,
    name: String,
    label: String,
    ty: String,
    family: Family,
    /// The networks of the set's chain and family, which its elements name by index.
    nets: Arc<Vec<IpNet>>,
    /// The set's elements, block after block. Kept as networks and ports and written as text
    /// when the template reaches them: as text up front, they would be a large part of the
    /// target's memory.
    elements: Vec<Element>,
    blocks: Vec<Block>,
    /// Notes after a block's summary, by block index in order: pairs whose ports an earlier
    /// flow has in the set (rare, so not a list in every block).
    notes: Vec<(u32, String)>,
}

/// One flow's elements in a set.
struct Block {
    /// The flow, by index into the model's flows.
    flow: u32,
    /// Where its elements end in the set's elements (they start where the block before ends).
    end: u32,
}

/// A source and destination network (by index into the set's networks, [`OUTSIDE`] for an
/// end the layer matches outside the set) and, for a protocol with ports, one port range.
struct Element {
    src: u32,
    dst: u32,
    ports: Option<PortRange>,
}

/// An element's end that is not in the set's key: a default route.
const OUTSIDE: u32 = u32::MAX;

/// The ports a pair of networks already has in a layer: the ports of the flow at this index
/// (most pairs are in one flow), or the union at this index of several flows' ports.
#[derive(Clone, Copy)]
enum Have {
    Flow(u32),
    Union(u32),
}

/// `10.0.0.5 . 10.1.0.0/24 . tcp`: the start of an element and of a note on one (an end that
/// is not in the key is left out).
fn pair_text(src: Option<&IpNet>, dst: Option<&IpNet>, proto: &str) -> String {
    let mut out = String::with_capacity(64);
    for n in [src, dst].into_iter().flatten() {
        super::netfilter::push_net(&mut out, n);
        out.push_str(" . ");
    }
    out.push_str(proto);
    out
}

/// Every flow of a chain in a few concatenated interval sets, one rule per set.
///
/// The kernel refuses overlapping elements in such a set, and flows may overlap: a component's
/// addresses lie inside a zone another flow names whole, two flows may share ports. Elements
/// go into sets by how deeply their source and destination networks nest among the chain's
/// networks (networks at equal depth are equal or disjoint), and within a set the ports a pair
/// of networks already has are taken out of a later flow's element (noted in the file).
///
/// A concatenated lookup cannot be negated, and a default route less the other zones' networks
/// would be dozens of networks in every element of every flow to the internet: an end that is
/// a default route is left out of the key, and the layer's rule matches it with
/// `!= @inside.<family>` before the lookup.
fn concat_layout(shared: &SharedModel) -> (minijinja::Value, Vec<ChainCtx>) {
    let m: &netfilter::Model = shared;
    let mut sets: Vec<ConcatSet> = Vec::new();
    let mut chains = Vec::new();
    for c in &m.chains {
        let mut rules: Vec<minijinja::Value> = Vec::new();
        for &fam in &m.families {
            let first = sets.len();
            // Layer (with ports, source depth, destination depth, interfaces by index into
            // `bound`) -> index in `sets` of its current (last) shard.
            let mut current: HashMap<(bool, Option<usize>, Option<usize>, u32), usize> =
                HashMap::default();
            let mut bound: Vec<Ifs> = Vec::new();
            let fr: Vec<&FwRule> = c.rules.iter().filter(|r| r.family == fam).collect();
            let src: HashSet<IpNet> = fr
                .iter()
                .filter(|r| !r.src_not)
                .flat_map(|r| r.src_nets.iter().copied())
                .collect();
            let dst: HashSet<IpNet> = fr
                .iter()
                .filter(|r| !r.dst_not)
                .flat_map(|r| r.dst_nets.iter().copied())
                .collect();
            let (src_depth, dst_depth) = (depths(&src), depths(&dst));
            let (ids, nets) = network_ids(&fr);
            let nets = Arc::new(nets);
            let mut covered = Covered::default();
            for r in &fr {
                let f = m.flow(r);
                let flow = r.flow as u32;
                let ports = f.protocol.has_ports();
                let want = ports_of(m, r.flow);
                // The same pair of networks on other interfaces is another match.
                let ifs = (r.iif.clone(), r.oif.clone());
                let ifs_id = match bound.iter().position(|b| *b == ifs) {
                    Some(k) => k as u32,
                    None => {
                        bound.push(ifs);
                        (bound.len() - 1) as u32
                    }
                };
                for s in ends(r.src_not, &r.src_nets) {
                    for d in ends(r.dst_not, &r.dst_nets) {
                        let (ds, dd) = (s.map(|s| src_depth[&s]), d.map(|d| dst_depth[&d]));
                        let layer = (ports, ds, dd, ifs_id);
                        let id = |n: Option<IpNet>| n.map_or(OUTSIDE, |n| ids[&n]);
                        let (si, di) = (id(s), id(d));
                        // The current shard of this layer; a full one is closed at a flow's
                        // first element, so a flow's block stays in one set.
                        let shard = match current.get(&layer) {
                            Some(&i)
                                if sets[i].elements.len() < SHARD_MAX
                                    || sets[i].blocks.last().is_some_and(|b| b.flow == flow) =>
                            {
                                None
                            }
                            Some(&i) => Some(sets[i].shard + 1),
                            None => Some(0),
                        };
                        let pair = (si, di, f.protocol, ifs_id);
                        if let Some(n) = shard {
                            let key = Layer {
                                ports,
                                src: ds,
                                dst: dd,
                                iif: r.iif.clone(),
                                oif: r.oif.clone(),
                            };
                            let mut set = new_set(key, n, &c.hook, fam);
                            set.nets = nets.clone();
                            sets.push(set);
                            current.insert(layer, sets.len() - 1);
                        }
                        let idx = current[&layer];
                        let set = &mut sets[idx];
                        let note = if ports {
                            let fresh = covered.fresh_ports(m, pair, flow, &want);
                            let skipped = want.count() - fresh.count();
                            let elements = fresh.ranges().iter().map(|&p| Element {
                                src: si,
                                dst: di,
                                ports: Some(p),
                            });
                            set.elements.extend(elements);
                            (skipped > 0).then(|| {
                                let pair = pair_text(s.as_ref(), d.as_ref(), &proto_name(f.protocol));
                                format!("{pair}: {skipped} of these ports are already in this set for an earlier flow")
                            })
                        } else if covered.present.insert(pair) {
                            set.elements.push(Element {
                                src: si,
                                dst: di,
                                ports: None,
                            });
                            None
                        } else {
                            let pair = pair_text(s.as_ref(), d.as_ref(), &proto_name(f.protocol));
                            Some(format!("{pair}: already in this set for an earlier flow"))
                        };
                        let end = set.elements.len() as u32;
                        match set.blocks.last_mut() {
                            Some(b) if b.flow == flow => b.end = end,
                            _ => set.blocks.push(Block { flow, end }),
                        }
                        if let Some(note) = note {
                            set.notes.push(((set.blocks.len() - 1) as u32, note));
                        }
                    }
                }
            }
            // By layer, then shard number (a name sort would put shard 10 before 2).
            sets[first..].sort_by(|a, b| (&a.layer, a.shard).cmp(&(&b.layer, b.shard)));
            rules.extend(sets[first..].iter().map(set_rule));
        }
        chains.push(chain_ctx(c, minijinja::Value::from(rules)));
    }
    (set_list(shared, sets), chains)
}

/// The rule that looks up the concatenated set `set`.
fn set_rule(set: &ConcatSet) -> minijinja::Value {
    minijinja::Value::from_serialize(RuleCtx {
        flow: &set.name,
        family: set.family,
        matcher: set.key.matcher(set.family, &set.name),
        comment: format!("flows in set {}", set.name),
        notes: vec![format!(
            "{} elements of {} flows: set {}",
            set.elements.len(),
            set.blocks.len(),
            set.name
        )],
        repeat: false,
    })
}

/// The table's sets as the template reads them: the networks a default route leaves out
/// first, then the concatenated `sets`, each block's elements made into text when reached.
fn set_list(shared: &SharedModel, sets: Vec<ConcatSet>) -> minijinja::Value {
    let m: &netfilter::Model = shared;
    // The sets of the networks a default route leaves out, which the rules negate, come first.
    let inside: Vec<usize> = (0..m.sets.len())
        .filter(|&i| m.sets[i].name.starts_with(netfilter::INSIDE))
        .collect();
    let (sets, model) = (Arc::new(sets), shared.clone());
    super::lazy_list(inside.len() + sets.len(), move |i| {
        if let Some(&k) = inside.get(i) {
            let s = &model.sets[k];
            return minijinja::Value::from_serialize(SetCtx {
                name: &s.name,
                ty: s.family.nft_type(),
                label: &s.label,
                elements: Some(&s.elements),
                blocks: None,
            });
        }
        let i = i - inside.len();
        let s = &sets[i];
        let (model, all) = (model.clone(), sets.clone());
        let blocks = super::lazy_list(s.blocks.len(), move |k| block_value(&model, &all[i], k));
        minijinja::Value::from_serialize(SetCtx {
            name: &s.name,
            ty: &s.ty,
            label: &s.label,
            elements: None,
            blocks: Some(blocks),
        })
    })
}

/// Every network of a chain's rules of one family once, named by index in the elements and the
/// layout's maps (a pair of networks was 36 bytes in each).
fn network_ids(fr: &[&FwRule]) -> (HashMap<IpNet, u32>, Vec<IpNet>) {
    let mut ids: HashMap<IpNet, u32> = HashMap::default();
    let mut nets: Vec<IpNet> = Vec::new();
    for r in fr {
        let (s, d) = (ends(r.src_not, &r.src_nets), ends(r.dst_not, &r.dst_nets));
        for n in s.iter().chain(d.iter()).flatten() {
            ids.entry(*n).or_insert_with(|| {
                nets.push(*n);
                (nets.len() - 1) as u32
            });
        }
    }
    (ids, nets)
}

/// A pair of networks (by index) with its protocol and interfaces (by index).
type Pair = (u32, u32, Protocol, u32);

/// What the sets of one chain and family already hold.
#[derive(Default)]
struct Covered {
    /// The ports a pair already has, for protocols with ports.
    ports: HashMap<Pair, Have>,
    unions: Vec<PortSet>,
    /// The pairs already present, for protocols without ports.
    present: HashSet<Pair>,
}

impl Covered {
    /// The ports of `want` (flow `flow`'s) that `pair` does not have yet; it has them all after.
    fn fresh_ports(&mut self, m: &Model, pair: Pair, flow: u32, want: &PortSet) -> PortSet {
        match self.ports.get(&pair).copied() {
            None => {
                self.ports.insert(pair, Have::Flow(flow));
                want.clone()
            }
            Some(Have::Flow(i)) => {
                let have = ports_of(m, i as usize);
                let fresh = want.minus(&have);
                self.unions.push(have.union(want));
                let u = Have::Union((self.unions.len() - 1) as u32);
                self.ports.insert(pair, u);
                fresh
            }
            Some(Have::Union(u)) => {
                let u = u as usize;
                let fresh = want.minus(&self.unions[u]);
                self.unions[u] = self.unions[u].union(want);
                fresh
            }
        }
    }
}

/// Flow `i`'s ports as a set.
fn ports_of(m: &Model, i: usize) -> PortSet {
    PortSet::from_ranges(m.flows[i].ports.ranges().iter().copied())
}

/// The networks an end of a rule puts in elements: its networks, or for a default route none
/// (`None`, matched outside the set).
fn ends(not: bool, nets: &[IpNet]) -> Vec<Option<IpNet>> {
    if not {
        vec![None]
    } else {
        nets.iter().copied().map(Some).collect()
    }
}

/// A block as the template reads it: the flow's summary and the block's notes, then its
/// elements as text.
fn block_value(m: &Model, set: &ConcatSet, k: usize) -> minijinja::Value {
    let b = &set.blocks[k];
    let f = &m.flows[b.flow as usize];
    // Endpoints, ports and domains; purposes and sources are in the flow matrix under the same
    // flow id (all of them here would slow loading the rule set considerably).
    let mut notes = netfilter::summary(f);
    let first = set.notes.partition_point(|(j, _)| (*j as usize) < k);
    notes.extend(
        set.notes[first..]
            .iter()
            .take_while(|(j, _)| *j as usize == k)
            .map(|(_, n)| n.clone()),
    );
    let proto = proto_name(f.protocol);
    let comment = super::nft_str(&f.id);
    let start = k.checked_sub(1).map_or(0, |p| set.blocks[p].end as usize);
    let nets = &set.nets;
    let net = |i: u32| (i != OUTSIDE).then(|| &nets[i as usize]);
    let elements = set.elements[start..b.end as usize]
        .iter()
        .map(|e| {
            let mut text = pair_text(net(e.src), net(e.dst), &proto);
            if let Some(p) = e.ports {
                text.push_str(" . ");
                text.push_str(&p.text());
            }
            text.push_str(" comment ");
            text.push_str(&comment);
            text
        })
        .collect();
    minijinja::Value::from_serialize(BlockCtx { notes, elements })
}

fn new_set(key: Layer, shard: usize, hook: &str, fam: Family) -> ConcatSet {
    let fam_label = netfilter::fam_label(fam);
    let nested = |end: &str, word: &str, d: Option<usize>| match d {
        Some(d) => format!("{end} networks{word} {d} deep"),
        None => format!("{end} outside the other zones (a default route)"),
    };
    let (ty, what) = key.key(fam);
    let mut label = format!(
        "{hook} {fam_label} flows {}: {}, {}",
        if key.ports {
            "with ports"
        } else {
            "without ports"
        },
        nested("source", " nested", key.src),
        nested("destination", "", key.dst),
    );
    for (way, b) in [("in from", &key.iif), ("out to", &key.oif)] {
        if let Some(b) = b {
            label.push_str(&format!(", {way} zone {} ({})", b.zone, b.names.join(", ")));
        }
    }
    label.push_str(&format!(" ({what})"));
    let layer = key.name(hook, fam);
    ConcatSet {
        label,
        ty,
        name: format!("{layer}.{shard}"),
        layer,
        key,
        shard,
        family: fam,
        nets: Arc::default(),
        elements: Vec::new(),
        blocks: Vec::new(),
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overriding_template_reads_each_chains_hook_and_direction() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("nftables.nft.j2"),
            "{% for c in chains %}{{ c.hook }}={{ c.direction }};{% endfor %}",
        )
        .unwrap();
        let renderer = crate::render::Renderer::new(Some(dir.path())).unwrap();
        let loaded = crate::load(std::path::Path::new("topologies/onprem-cvad.toml"), None)
            .expect("example loads");
        let nft = crate::generate::select("nftables").unwrap();
        let text = |opts: crate::generate::Options| {
            crate::generate::generate(&loaded, &renderer, &opts, &nft).unwrap()[0]
                .content
                .clone()
        };
        assert_eq!(text(Default::default()), "forward=forward;");
        let host = crate::generate::Options {
            host: Some("ddc".into()),
            ..Default::default()
        };
        assert_eq!(text(host), "input=inbound;output=outbound;");
    }

    #[test]
    fn ports_an_earlier_flow_has_in_a_set_are_left_out_of_a_later_ones_elements() {
        let loaded = crate::load(std::path::Path::new("tests/fixtures/overlap.toml"), None)
            .expect("fixture loads");
        let renderer = crate::render::Renderer::new(None).unwrap();
        let opts = crate::generate::Options {
            nft_layout: Layout::Concat,
            ..Default::default()
        };
        let nft = crate::generate::select("nftables").unwrap();
        let files = crate::generate::generate(&loaded, &renderer, &opts, &nft).unwrap();
        let text = &files[0].content;
        let start = text.find("elements = {").expect("a concatenated set");
        let end = start + text[start..].find('}').unwrap();
        let pair = "10.0.0.0/24 . 10.1.0.5 . tcp";
        let expected = [
            "elements = {".to_string(),
            "# x1-to-y-tcp: x1 (a) -> y (b), tcp 80,443".into(),
            format!("{pair} . 80 comment \"x1-to-y-tcp\","),
            format!("{pair} . 443 comment \"x1-to-y-tcp\","),
            "# x2-to-y-tcp: x2 (a) -> y (b), tcp 443,8080".into(),
            format!("# {pair}: 1 of these ports are already in this set for an earlier flow"),
            format!("{pair} . 8080 comment \"x2-to-y-tcp\","),
            "# x3-to-y-tcp: x3 (a) -> y (b), tcp 80,8080,9000".into(),
            format!("# {pair}: 2 of these ports are already in this set for an earlier flow"),
            format!("{pair} . 9000 comment \"x3-to-y-tcp\","),
        ];
        let lines: Vec<&str> = text[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines, expected, "{text}");
    }

    #[test]
    fn depth_counts_the_networks_around_one() {
        let nets: HashSet<IpNet> = [
            "0.0.0.0/0",
            "10.0.0.0/16",
            "10.0.1.0/24",
            "10.0.1.5/32",
            "10.9.0.1/32",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let d = depths(&nets);
        let at = |s: &str| d[&s.parse::<IpNet>().unwrap()];
        assert_eq!(at("0.0.0.0/0"), 0);
        assert_eq!(at("10.0.0.0/16"), 1);
        assert_eq!(at("10.0.1.0/24"), 2);
        assert_eq!(at("10.0.1.5/32"), 3);
        // Same depth as the /16, disjoint from it.
        assert_eq!(at("10.9.0.1/32"), 1);
    }
}
