//! Topology x catalogue -> flows.
//!
//! Every catalogue flow whose condition holds binds each component of its source kind to each
//! component of its destination kind; interface roles pick addresses; flows with the same
//! endpoints and protocol are merged. Knows nothing about output targets.

use crate::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};

use crate::catalogue::{
    lookup, CatFlow, Catalogue, KindRef, ParamType, ParamValue, Platform, PortItem, Scope,
};
use crate::cond::{self, Cond, Literal};
use crate::diag::Diagnostic;
use crate::flow::{ser_ports, EndId, Flow, FlowEnd, FlowPart, Part, PortSet, Protocol};
use crate::topology::{Component, Topology};
use toml::Spanned;

/// A catalogue flow the topology removed, with its reason.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Removed {
    pub catalogue: String,
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    #[serde(serialize_with = "ser_ports")]
    pub ports: PortSet,
    pub purpose: String,
    pub reason: String,
}

/// An effective parameter value, and whether the topology set it.
#[derive(Debug, Clone)]
pub struct ParamSetting {
    pub name: String,
    pub value: ParamValue,
    pub default: ParamValue,
    pub set: bool,
}

#[derive(Debug, Clone)]
pub struct Resolution {
    /// Shared so a template can read the flows one by one without a copy. A `Vec` (not a
    /// slice) because the merged flows are sorted where they were made: a copy into an exact
    /// slice held the flows twice at the resolution's peak.
    pub flows: std::sync::Arc<Vec<Flow>>,
    /// Every end of the flows, by [`EndId`]: `ends[f.from_end.id.index()]` is `f.from_end`.
    pub ends: Vec<Arc<FlowEnd>>,
    pub removed: Vec<Removed>,
    pub parameters: Vec<ParamSetting>,
    pub warnings: Vec<Diagnostic>,
}

/// One end of a binding before merging; its flows share its texts.
struct End<'a> {
    /// The component and its index in the topology; `None` for an internet service the
    /// topology does not place.
    comp: Option<(usize, &'a Component)>,
    name: Arc<str>,
    /// Kinds, zone, interface, addresses and site, as every flow of this end holds them.
    end: Arc<FlowEnd>,
    /// What flows merge by: the index of the end's name and interface in [`Arena::labels`].
    label: u32,
    fqdns: Vec<String>,
}

/// Every end the flows have, made once and numbered by [`EndId`]: a component on one of its
/// interfaces, or an internet service nobody places in one internet zone. Names, zones and
/// sites are one shared copy each, whichever end or flow uses them.
#[derive(Default)]
struct Arena {
    texts: HashSet<Arc<str>>,
    /// By id: the end's name, the end, its label.
    ends: Vec<(Arc<str>, Arc<FlowEnd>, u32)>,
    made: HashMap<Owner, EndId>,
    /// Each distinct name and interface: two ends with the same ones (an internet service in
    /// an IPv4 and an IPv6 internet zone) merge into the same flows.
    labels: IndexSet<(Arc<str>, Option<Arc<str>>), foldhash::fast::RandomState>,
}

/// What an end is the end of.
#[derive(PartialEq, Eq, Hash)]
enum Owner {
    /// A component, by its index in the topology, on one of its interfaces (or its hosts).
    Component(usize, Option<Arc<str>>),
    /// An internet service (its kind) standing for an internet zone.
    Internet(Arc<str>, Arc<str>),
}

impl Arena {
    fn text(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.texts.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.texts.insert(a.clone());
        a
    }

    /// The end of `owner`, named `name`, made by `make` the first time; `comp` and `fqdns` are
    /// what this binding knows of it besides.
    fn end<'t>(
        &mut self,
        owner: Owner,
        name: &str,
        make: impl FnOnce(&mut Self, EndId) -> FlowEnd,
        comp: Option<(usize, &'t Component)>,
        fqdns: Vec<String>,
    ) -> End<'t> {
        let id = match self.made.get(&owner) {
            Some(&id) => id,
            None => {
                // Ends are bounded by the components and zones, far below u32::MAX.
                let id = EndId(self.ends.len() as u32);
                let end = make(self, id);
                let name = self.text(name);
                let (label, _) = self
                    .labels
                    .insert_full((name.clone(), end.interface.clone()));
                self.ends.push((name, Arc::new(end), label as u32));
                self.made.insert(owner, id);
                id
            }
        };
        let (name, end, label) = self.ends[id.index()].clone();
        End {
            comp,
            name,
            end,
            label,
            fqdns,
        }
    }

    /// The end of component `i` on its interface `role`, or on its hosts when it has no such
    /// interface.
    fn component<'t>(
        &mut self,
        topo: &'t Topology,
        i: usize,
        role: Option<&str>,
        fqdns: Vec<String>,
    ) -> End<'t> {
        let c = &topo.components[i];
        let iface = role
            .filter(|r| c.interfaces.contains_key(*r))
            .map(|r| self.text(r));
        let make = |a: &mut Self, id| {
            let (zone, addrs) = topo.addresses(c, iface.as_deref());
            FlowEnd {
                id,
                kinds: c.kinds.as_slice().into(),
                zone: a.text(&zone),
                interface: iface.clone(),
                addresses: addrs.into(),
                site: c.site.as_deref().map(|s| a.text(s)),
            }
        };
        let owner = Owner::Component(i, iface.clone());
        self.end(owner, &c.name, make, Some((i, c)), fqdns)
    }

    /// Ranks of the ends' labels in text order (name, then interface, none first): the order
    /// of flows by their ends, indexed by end id.
    fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_unstable_by_key(|&l| &self.labels[l]);
        let mut rank = vec![0; order.len()];
        for (r, l) in order.into_iter().enumerate() {
            rank[l] = r as u32;
        }
        self.ends.iter().map(|e| rank[e.2 as usize]).collect()
    }
}

/// The flows merged so far, each found by its ends' labels and its protocol.
#[derive(Default)]
struct Merged {
    flows: Vec<Flow>,
    index: HashMap<(u32, u32, Protocol), usize>,
}

/// Most component-to-component bindings a topology may resolve to (the 100,000-flow benchmark
/// topology needs about 240,000). Every catalogue flow binds
/// each component of its source kind to each of its destination kind, so the count grows with
/// the square of the components per kind: ten thousand components would take minutes and tens of
/// gigabytes. A deployment lists a group of servers of one role as one component with `hosts`.
pub const MAX_BINDINGS: usize = 500_000;

/// An upper bound on the bindings [`resolve`] would make, counted without building them: for
/// each catalogue flow whose condition holds, sources times the destinations they may bind to
/// (their own site's and those without a site, or every one when the flow crosses sites), times
/// protocols, plus additions. Interfaces are ignored, so it never undercounts.
pub fn binding_bound(topo: &Topology, cat: &Catalogue) -> usize {
    let overrides: IndexMap<String, ParamValue> = topo
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.get_ref().clone()))
        .collect();
    let get = lookup(cat, &overrides);
    let index = KindIndex::new(topo, cat);
    let sites: Vec<Option<&str>> = topo
        .components
        .values()
        .map(|c| c.site.as_deref())
        .collect();
    let mut total = topo.additions.len();
    for cf in cat.flows.iter().filter(|f| f.scope == Scope::Network) {
        // A condition the component settings decide may hold for some pairs: counted.
        if cf.when.as_ref().and_then(|c| c.decided(&get)) == Some(false) {
            continue;
        }
        let from = index.components(&cf.from);
        if from.is_empty() {
            continue;
        }
        let to = index.components(&cf.to);
        // Destinations per site; a flow to an internet service the topology does not place
        // still binds once per source.
        let mut per_site: HashMap<Option<&str>, usize> = HashMap::default();
        for &i in to {
            *per_site.entry(sites[i]).or_default() += 1;
        }
        let unsited = per_site.get(&None).copied().unwrap_or(0);
        let n: usize = from
            .iter()
            .map(|&i| {
                match sites[i] {
                    Some(s) if !cf.cross_site => {
                        per_site.get(&Some(s)).copied().unwrap_or(0) + unsited
                    }
                    _ => to.len(),
                }
                .max(1)
            })
            .fold(0usize, usize::saturating_add);
        total = total.saturating_add(n.saturating_mul(cf.protocols.len()));
    }
    total
}

pub fn resolve(topo: &Topology, cat: &Catalogue) -> Resolution {
    resolve_bounded(topo, cat, binding_bound(topo, cat))
}

/// [`resolve`] with the topology's [`binding_bound`] already known (`check_size` finds it).
pub fn resolve_bounded(topo: &Topology, cat: &Catalogue, bound: usize) -> Resolution {
    let overrides: IndexMap<String, ParamValue> = topo
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.get_ref().clone()))
        .collect();
    let get = lookup(cat, &overrides);
    let mut warnings = Vec::new();
    // Room for every flow the bindings can make, reserved once: the address space costs
    // nothing until a flow is written, and growing by doubling copied the flows and kept the
    // old copies in the process's peak.
    let mut merged = Merged {
        flows: Vec::with_capacity(bound.min(MAX_BINDINGS)),
        ..Merged::default()
    };
    let mut removed = Vec::new();
    let mut removal_used = vec![false; topo.removals.len()];
    let removals = Removals::new(topo);
    let mut warned_internet: Vec<String> = Vec::new();
    let index = KindIndex::new(topo, cat);
    let settings = Settings::new(topo, cat);
    let mut arena = Arena::default();
    // The ends of a kind and role, made once: many catalogue flows share them.
    let mut ends_cache: HashMap<(KindRef, Option<String>, bool), Rc<Vec<End<'_>>>> =
        HashMap::default();

    for cf in cat.flows.iter().filter(|f| f.scope == Scope::Network) {
        // What the parameters decide is decided here; a condition the component settings
        // decide is tried for each pair below.
        let per_pair = match cf.when.as_ref().map(|c| (c, c.decided(&get))) {
            Some((_, Some(false))) => continue,
            Some((c, None)) => Some(c),
            _ => None,
        };
        let mut ends = |r: &KindRef, role: &Option<String>, dest: bool| {
            ends_cache
                .entry((r.clone(), role.clone(), dest))
                .or_insert_with(|| {
                    Rc::new(ends(
                        topo,
                        cat,
                        &index,
                        &mut arena,
                        r,
                        role.as_deref(),
                        dest,
                    ))
                })
                .clone()
        };
        let sources = ends(&cf.from, &cf.from_role, false);
        if sources.is_empty() {
            if let Some(k) = internet_kind(cat, &cf.from) {
                if topo.internet_zones().next().is_none()
                    && !warned_internet.iter().any(|w| w == k)
                    && !ends(&cf.to, &cf.to_role, true).is_empty()
                {
                    warned_internet.push(k.to_string());
                    warnings.push(
                        Diagnostic::warning(format!(
                            "components here are reached from `{k}` on the internet ({}), but no zone holds 0.0.0.0/0 or ::/0",
                            cat.kinds[k].name
                        ))
                        .in_file(&topo.file)
                        .hint("add an internet zone with cidrs = [\"0.0.0.0/0\"] so these flows get rules"),
                    );
                }
            }
            continue;
        }
        let dests = ends(&cf.to, &cf.to_role, true);
        if dests.is_empty() && !sources.is_empty() {
            if let KindRef::Kind(k) = &cf.to {
                let internet = cat
                    .kind(k)
                    .is_some_and(|k| k.platform == Platform::Internet);
                if internet
                    && topo.internet_zones().next().is_none()
                    && !warned_internet.contains(k)
                {
                    warned_internet.push(k.clone());
                    warnings.push(
                        Diagnostic::warning(format!(
                            "components here need the internet service `{k}` ({}), but no zone holds 0.0.0.0/0 or ::/0",
                            cat.kinds[k].fqdns.join(", ")
                        ))
                        .in_file(&topo.file)
                        .hint("add an internet zone with cidrs = [\"0.0.0.0/0\"] so these flows get rules"),
                    );
                }
            }
        }
        // Destinations by site: a source of one site only binds to its own site's destinations
        // and to those without a site (unless the flow crosses sites), so only those are tried;
        // candidates keep the destinations' order, as a full scan would.
        let mut by_site: HashMap<Option<&str>, Vec<usize>> = HashMap::default();
        if !cf.cross_site {
            for (i, d) in dests.iter().enumerate() {
                by_site.entry(d.end.site.as_deref()).or_default().push(i);
            }
        }
        let no_site: &[usize] = by_site.get(&None).map_or(&[], Vec::as_slice);
        let needed = (!cf.needs.is_empty()).then(|| Needed::new(topo, &index, &cf.needs));
        let mut pairs = Vec::new();
        let mut candidates: Vec<usize> = Vec::new();
        for s in sources.iter() {
            candidates.clear();
            match s.end.site.as_deref() {
                Some(site) if !cf.cross_site => {
                    let own = by_site.get(&Some(site)).map_or(&[][..], Vec::as_slice);
                    candidates.extend_from_slice(own);
                    candidates.extend_from_slice(no_site);
                    candidates.sort_unstable();
                }
                _ => candidates.extend(0..dests.len()),
            }
            for &i in &candidates {
                let d = &dests[i];
                if binds(topo, cf, s, d)
                    && per_pair.is_none_or(|c| settings.hold(c, &get, s, d))
                    && needed.as_ref().is_none_or(|n| n.present(s, d))
                {
                    pairs.push((s, d));
                }
            }
        }
        if pairs.is_empty() {
            continue;
        }
        let (ports, missing) = ports_of(cat, &overrides, cf);
        let needs_ports = cf.protocols.iter().any(|p| p.has_ports());
        if needs_ports && ports.is_empty() {
            let params: Vec<String> = missing.iter().map(|p| format!("parameters.{p}")).collect();
            warnings.push(
                Diagnostic::warning(format!(
                    "flow `{}` ({}) has no fixed port yet, so no rule is made for it",
                    cf.id, cf.purpose
                ))
                .in_file(&topo.file)
                .hint(format!(
                    "configure fixed ports on the servers and set {}",
                    params.join(", ")
                )),
            );
            continue;
        }
        // The parameters that switch this flow, once for all its bindings.
        let params: Vec<&str> = cf.when.as_ref().map(|c| c.params()).unwrap_or_default();
        // The entry's part, with its ports and without (a protocol without ports), shared by
        // every binding.
        let id: Arc<str> = cf.id.as_str().into();
        let part_with = |ports: PortSet| {
            FlowPart::new(Part {
                catalogue: id.clone(),
                ports,
                purpose: cf.purpose.clone(),
                source: cf.source.clone(),
                condition: cf.when_text.clone(),
                reason: None,
                note: cf.note.clone(),
                fixes: cf.fixes.clone(),
            })
        };
        let (with_ports, without_ports) = (part_with(ports), part_with(PortSet::new()));
        for (s, d) in pairs {
            for &proto in &cf.protocols {
                let part = if proto.has_ports() {
                    with_ports.clone()
                } else {
                    without_ports.clone()
                };
                if let Some(i) = removals.first(&cf.id, &s.name, &d.name) {
                    removal_used[i] = true;
                    removed.push(Removed {
                        catalogue: cf.id.clone(),
                        from: s.name.to_string(),
                        to: d.name.to_string(),
                        protocol: proto,
                        ports: part.ports.clone(),
                        purpose: cf.purpose.to_string(),
                        reason: topo.removals[i].reason.clone(),
                    });
                    continue;
                }
                add(&mut merged, s, d, proto, part, &params, false);
            }
        }
    }
    for (i, used) in removal_used.iter().enumerate() {
        if !used {
            let r = &topo.removals[i];
            warnings.push(
                Diagnostic::warning(format!(
                    "removal of `{}` matches no flow of this topology",
                    r.catalogue
                ))
                .at(&topo.file, r.span.clone())
                .hint("check the catalogue id and the from/to components, or delete the removal"),
            );
        }
    }
    for a in &topo.additions {
        let mut end = |name: &str, role: &Option<String>| {
            let i = topo.components.get_index_of(name).expect("checked");
            arena.component(topo, i, role.as_deref(), Vec::new())
        };
        let (s, d) = (end(&a.from, &a.from_interface), end(&a.to, &a.to_interface));
        let part = FlowPart::new(Part {
            catalogue: format!("site:{}", a.id).into(),
            ports: a.ports.clone(),
            purpose: a.purpose.as_str().into(),
            source: format!("Topology {}, [[additions]] {}", topo.name, a.id).into(),
            condition: None,
            reason: Some(a.reason.clone()),
            note: None,
            fixes: Vec::new().into(),
        });
        add(&mut merged, &s, &d, a.protocol, part, &[], true);
    }
    let parameters = cat
        .parameters
        .values()
        .map(|p| ParamSetting {
            name: p.name.clone(),
            value: overrides
                .get(&p.name)
                .cloned()
                .unwrap_or_else(|| p.default.clone()),
            default: p.default.clone(),
            set: overrides.contains_key(&p.name),
        })
        .collect();
    // Ordered by their ends' names and interfaces, then protocol: the order the output has
    // always had.
    let ranks = arena.ranks();
    let mut flows = merged.flows;
    flows.sort_by_cached_key(|f| {
        (
            ranks[f.from_end.id.index()],
            ranks[f.to_end.id.index()],
            f.protocol,
        )
    });
    flows.iter_mut().for_each(summarise);
    Resolution {
        flows: Arc::new(flows),
        ends: arena.ends.into_iter().map(|(_, end, _)| end).collect(),
        removed,
        parameters,
        warnings,
    }
}

/// The topology's removals by what they name (catalogue id, and `from` and `to` when given),
/// each the first in the file: a binding finds the first removal that matches it with four
/// look-ups instead of a scan of every removal.
struct Removals<'t>(HashMap<(&'t str, Option<&'t str>, Option<&'t str>), usize>);

impl<'t> Removals<'t> {
    fn new(topo: &'t Topology) -> Self {
        let mut first = HashMap::default();
        for (i, r) in topo.removals.iter().enumerate() {
            first
                .entry((r.catalogue.as_str(), r.from.as_deref(), r.to.as_deref()))
                .or_insert(i);
        }
        Removals(first)
    }

    /// The first removal of catalogue flow `id` that matches `from` and `to`.
    fn first(&self, id: &str, from: &str, to: &str) -> Option<usize> {
        if self.0.is_empty() {
            return None;
        }
        [
            (Some(from), Some(to)),
            (Some(from), None),
            (None, Some(to)),
            (None, None),
        ]
        .into_iter()
        .filter_map(|(f, t)| self.0.get(&(id, f, t)).copied())
        .min()
    }
}

/// Whether a catalogue flow binds this source to this destination.
fn binds(topo: &Topology, cf: &CatFlow, s: &End<'_>, d: &End<'_>) -> bool {
    let same = matches!((s.comp, d.comp), (Some((a, _)), Some((b, _))) if a == b);
    if cf.within_component && !same {
        return false;
    }
    // Flows meant to cross sites (GSLB, SD-WAN paths) join two components, never one to itself.
    if cf.cross_site && same {
        return false;
    }
    if same {
        // Co-located kinds talk on the host itself; peers of one kind (controller to
        // controller, an HA pair) need more than one address between them.
        if cf.from != cf.to {
            return false;
        }
        let (sa, da) = (&s.end.addresses, &d.end.addresses);
        let lone_host = sa == da && sa.len() == 1 && sa[0].prefix_len() == sa[0].max_prefix_len();
        if lone_host {
            return false;
        }
    }
    // Components in an internet zone are untrusted: only flows meant to face the internet.
    if !cf.from_internet && topo.zone(&s.end.zone).default_route {
        return false;
    }
    if !cf.cross_site {
        if let (Some(a), Some(b)) = (&s.end.site, &d.end.site) {
            if a != b {
                return false;
            }
        }
    }
    true
}

/// Components matching one end of a catalogue flow. For an internet-service destination that
/// no component places, the zone holding the default route stands in, with the domains.
fn ends<'a>(
    topo: &'a Topology,
    cat: &Catalogue,
    index: &KindIndex,
    arena: &mut Arena,
    r: &KindRef,
    role: Option<&str>,
    dest: bool,
) -> Vec<End<'a>> {
    let mut out: Vec<End<'a>> = index
        .components(r)
        .iter()
        .map(|&i| {
            let fqdns = topo.components[i]
                .kinds
                .iter()
                .filter_map(|k| cat.kind(k))
                .filter(|k| k.platform == Platform::Internet)
                .flat_map(|k| k.fqdns.clone())
                .collect();
            arena.component(topo, i, role, fqdns)
        })
        .collect();
    // An internet service nobody places stands for the internet zone: as a destination with its
    // domain names (Citrix Cloud), as a source for what the internet at large starts (resolvers
    // querying a public ADNS service).
    if out.is_empty() {
        if let KindRef::Kind(k) = r {
            if let Some(kind) = cat.kind(k).filter(|k| k.platform == Platform::Internet) {
                for z in topo.internet_zones() {
                    let owner = Owner::Internet(arena.text(&kind.id), arena.text(&z.name));
                    let make = |a: &mut Arena, id| FlowEnd {
                        id,
                        kinds: [kind.id.clone()].into(),
                        zone: a.text(&z.name),
                        interface: None,
                        addresses: z
                            .cidrs
                            .iter()
                            .filter(|c| c.prefix_len() == 0)
                            .copied()
                            .collect(),
                        site: None,
                    };
                    let fqdns = if dest { kind.fqdns.clone() } else { Vec::new() };
                    out.push(arena.end(owner, &kind.id, make, None, fqdns));
                }
            }
        }
    }
    out
}

/// The kind a flow end names when it is an internet service.
fn internet_kind<'c>(cat: &'c Catalogue, r: &KindRef) -> Option<&'c str> {
    match r {
        KindRef::Kind(k) => cat
            .kind(k)
            .filter(|k| k.platform == Platform::Internet)
            .map(|k| k.id.as_str()),
        KindRef::Trait(_) => None,
    }
}

/// Settings as flows see them: a component's own value, or the default of the first of its
/// kinds (with the kinds they extend) that declares the setting. Defaults are gathered per kind,
/// not per component: a topology has thousands of components and a few dozen kinds.
struct Settings<'t> {
    defaults: HashMap<&'t str, Vec<(&'t str, &'t ParamValue)>>,
}

impl<'t> Settings<'t> {
    fn new(topo: &'t Topology, cat: &'t Catalogue) -> Settings<'t> {
        let mut defaults: HashMap<&'t str, Vec<(&'t str, &'t ParamValue)>> = HashMap::default();
        for c in topo.components.values() {
            for k in &c.kinds {
                if defaults.contains_key(k.as_str()) {
                    continue;
                }
                let mut values: Vec<(&str, &ParamValue)> = Vec::new();
                for e in cat.expand_kind(k) {
                    for (name, p) in cat.kind(&e).map(|kd| &kd.settings).into_iter().flatten() {
                        if !values.iter().any(|(n, _)| n == name) {
                            values.push((name.as_str(), &p.default));
                        }
                    }
                }
                defaults.insert(k.as_str(), values);
            }
        }
        Settings { defaults }
    }

    fn get(&self, e: &End<'_>, name: &str) -> Option<Literal> {
        let (_, c) = e.comp?;
        let own = c.settings.get(name).map(Spanned::get_ref);
        let value = own.or_else(|| {
            c.kinds.iter().find_map(|k| {
                self.defaults
                    .get(k.as_str())?
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
            })
        });
        value.and_then(ParamValue::literal)
    }

    /// Whether a condition naming `from.<setting>` / `to.<setting>` holds for this pair.
    fn hold(
        &self,
        c: &Cond,
        get: &dyn Fn(&str) -> Option<Literal>,
        s: &End<'_>,
        d: &End<'_>,
    ) -> bool {
        c.eval(&|n: &str| match cond::setting(n) {
            Some((cond::End::From, name)) => self.get(s, name),
            Some((cond::End::To, name)) => self.get(d, name),
            None => get(n),
        })
    }
}

/// The sites holding a kind a flow `needs` (`None`: a component without a site).
struct Needed<'t> {
    sites: Vec<Option<&'t str>>,
}

impl<'t> Needed<'t> {
    fn new(topo: &'t Topology, index: &KindIndex, needs: &[KindRef]) -> Needed<'t> {
        let comps: Vec<&Component> = topo.components.values().collect();
        let mut sites: Vec<Option<&str>> = needs
            .iter()
            .flat_map(|r| index.components(r))
            .map(|&i| comps[i].site.as_deref())
            .collect();
        sites.sort_unstable();
        sites.dedup();
        Needed { sites }
    }

    /// A needed component sits in the site of either end, without a site, or anywhere when
    /// neither end has a site.
    fn present(&self, s: &End<'_>, d: &End<'_>) -> bool {
        let (a, b) = (s.end.site.as_deref(), d.end.site.as_deref());
        self.sites
            .iter()
            .any(|site| site.is_none() || (a.is_none() && b.is_none()) || *site == a || *site == b)
    }
}

/// Which components match a kind or a trait (through the kinds they extend), computed once per
/// topology instead of once per catalogue flow and component.
struct KindIndex {
    kinds: HashMap<String, Vec<usize>>,
    traits: HashMap<String, Vec<usize>>,
}

impl KindIndex {
    fn new(topo: &Topology, cat: &Catalogue) -> KindIndex {
        let mut kinds: HashMap<String, Vec<usize>> = HashMap::default();
        let mut traits: HashMap<String, Vec<usize>> = HashMap::default();
        let mut expanded: HashMap<&str, Vec<String>> = HashMap::default();
        // Component indices are pushed in order, each at most once per key: lists stay sorted.
        let push = |map: &mut HashMap<String, Vec<usize>>, key: &str, i: usize| {
            let v = map.entry(key.to_string()).or_default();
            if v.last() != Some(&i) {
                v.push(i);
            }
        };
        for (i, c) in topo.components.values().enumerate() {
            for k in &c.kinds {
                let all = expanded
                    .entry(k.as_str())
                    .or_insert_with(|| cat.expand_kind(k));
                for e in all.iter() {
                    push(&mut kinds, e, i);
                    if let Some(kd) = cat.kinds.get(e) {
                        for t in &kd.traits {
                            push(&mut traits, t, i);
                        }
                    }
                }
            }
        }
        KindIndex { kinds, traits }
    }

    /// Indices (in topology order) of the components matching `r`, as [`Catalogue::matches`].
    fn components(&self, r: &KindRef) -> &[usize] {
        let hit = match r {
            KindRef::Kind(k) => self.kinds.get(k),
            KindRef::Trait(t) => self.traits.get(t),
        };
        hit.map_or(&[], Vec::as_slice)
    }
}

/// The ports of a catalogue flow under the current parameters, and the `ports` parameters that
/// were empty (a "random port" service nobody has pinned yet).
fn ports_of(
    cat: &Catalogue,
    overrides: &IndexMap<String, ParamValue>,
    cf: &CatFlow,
) -> (PortSet, Vec<String>) {
    let mut ranges = Vec::new();
    let mut missing = Vec::new();
    for item in &cf.ports {
        match item {
            PortItem::Fixed(r) => ranges.push(*r),
            PortItem::Param(name) => {
                let value = overrides.get(name).unwrap_or(&cat.parameters[name].default);
                match value {
                    ParamValue::Int(i) => {
                        if let Ok(p) = u16::try_from(*i) {
                            if p > 0 {
                                ranges.push(crate::flow::PortRange::single(p));
                            }
                        }
                    }
                    ParamValue::Ports(set)
                        if set.is_empty() && cat.parameters[name].ty == ParamType::Ports =>
                    {
                        missing.push(name.clone())
                    }
                    ParamValue::Ports(set) => ranges.extend(set.ranges().iter().copied()),
                    _ => {}
                }
            }
        }
    }
    (PortSet::from_ranges(ranges), missing)
}

/// A merged flow as its first binding makes it: its ends and protocol, no part merged yet.
fn new_flow(s: &End<'_>, d: &End<'_>, proto: Protocol, catalogue: &Arc<str>) -> Flow {
    Flow {
        id: flow_id(s, d, proto),
        catalogue: catalogue.clone(),
        from: s.name.clone(),
        from_end: s.end.clone(),
        to: d.name.clone(),
        to_end: d.end.clone(),
        to_fqdns: Vec::new(),
        protocol: proto,
        ports: PortSet::new(),
        purpose: "".into(),
        source: "".into(),
        reason: None,
        intra_zone: s.end.zone == d.end.zone,
        parameters: Vec::new(),
        parts: Vec::new(),
    }
}

fn add(
    merged: &mut Merged,
    s: &End<'_>,
    d: &End<'_>,
    proto: Protocol,
    part: FlowPart,
    params: &[&str],
    is_addition: bool,
) {
    let flows = &mut merged.flows;
    let i = *merged
        .index
        .entry((s.label, d.label, proto))
        .or_insert_with(|| {
            flows.push(new_flow(s, d, proto, &part.catalogue));
            flows.len() - 1
        });
    let flow = &mut flows[i];
    for f in &d.fqdns {
        if !flow.to_fqdns.contains(f) {
            flow.to_fqdns.push(f.clone());
        }
    }
    for &p in params {
        if !flow.parameters.iter().any(|x| x == p) {
            flow.parameters.push(p.to_string());
        }
    }
    // The same catalogue entry can reach one merged flow twice (e.g. through two kinds of a
    // co-located component); keep it once. An addition's id is unique, and its part has a
    // `site:` name no catalogue id has: it is new (a flow may merge thousands of them).
    if !is_addition && flow.parts.iter().any(|p| p.catalogue == part.catalogue) {
        return;
    }
    // Exactly one more while few: most flows have one or two parts, and a first push leaves
    // room for four, most of it never used across hundreds of thousands of flows (peak
    // memory: BENCHMARKS.md); past a few, doubling, or a flow of many parts is copied on
    // every one.
    if flow.parts.len() < 8 {
        flow.parts.reserve_exact(1);
    }
    flow.parts.push(part);
}

/// A merged flow's purpose, source and reason: its parts' texts joined (once, after merging;
/// joining on every added part was quadratic in the parts of a flow).
fn summarise(flow: &mut Flow) {
    // The union of the parts' ports, made once: a part of a catalogue entry met twice has the
    // same ports as the one kept. Most flows have one part, or parts with the same ports.
    let first = &flow.parts[0].ports;
    flow.ports = if flow.parts.iter().all(|p| p.ports == *first) {
        first.clone()
    } else {
        PortSet::from_ranges(flow.parts.iter().flat_map(|p| p.ports.ranges()).copied())
    };
    flow.purpose = joined(flow.parts.iter().map(|p| &p.purpose));
    flow.source = joined(flow.parts.iter().map(|p| &p.source));
    let reasons: Vec<&str> = flow
        .parts
        .iter()
        .filter_map(|p| p.reason.as_deref())
        .collect();
    flow.reason = (!reasons.is_empty()).then(|| join(reasons.into_iter()));
}

/// [`join`], sharing the text itself when the parts have only one (most flows).
fn joined<'a>(texts: impl Iterator<Item = &'a Arc<str>> + Clone) -> Arc<str> {
    let mut filled = texts.clone().filter(|t| !t.is_empty());
    match filled.next() {
        Some(first) if filled.all(|t| t == first) => first.clone(),
        _ => join(texts.map(|t| &**t)).into(),
    }
}

/// Join distinct texts in order: after a sentence with a space, after a fragment with "; ".
fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut seen: HashSet<&str> = HashSet::default();
    let mut out = String::new();
    for item in items {
        if item.is_empty() || !seen.insert(item) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(if out.ends_with(['.', '!', '?']) {
                " "
            } else {
                "; "
            });
        }
        out.push_str(item);
    }
    out
}

/// `<from>[.<interface>]-to-<to>[.<interface>]-<protocol>`, pieced together into one string
/// of the right size: it is made for every new flow (BENCHMARKS.md, "Changes, measured").
fn flow_id(s: &End<'_>, d: &End<'_>, proto: Protocol) -> String {
    let len = |e: &End<'_>| e.name.len() + e.end.interface.as_ref().map_or(0, |i| i.len() + 1);
    let mut id = String::with_capacity(len(s) + len(d) + 12);
    for (e, sep) in [(s, "-to-"), (d, "-")] {
        id.push_str(&e.name);
        if let Some(i) = &e.end.interface {
            id.push('.');
            id.push_str(i);
        }
        id.push_str(sep);
    }
    id.push_str(proto.name());
    id
}
