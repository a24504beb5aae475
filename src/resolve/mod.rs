//! Topology x catalogue -> flows.
//!
//! Every catalogue flow whose condition holds binds each component of its source kind to each
//! component of its destination kind; interface roles pick addresses; flows with the same
//! endpoints and protocol are merged. Knows nothing about output targets.

use crate::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::catalogue::{
    lookup, CatFlow, Catalogue, KindRef, ParamType, ParamValue, Platform, PortItem, Scope,
};
use crate::diag::Diagnostic;
use crate::flow::{ser_ports, Flow, FlowEnd, FlowPart, Part, PortSet, Protocol};
use crate::topology::Topology;

mod binds;
mod ends;
mod merge;

use binds::{binds, Needed, Removals, Settings};
use ends::{ends, internet_kind, Arena, End, KindIndex};
use merge::{add, summarise, Merged};

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
    let overrides = overrides(topo);
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

/// The parameters the topology sets, by name.
fn overrides(topo: &Topology) -> IndexMap<String, ParamValue> {
    topo.parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.get_ref().clone()))
        .collect()
}

pub fn resolve(topo: &Topology, cat: &Catalogue) -> Resolution {
    resolve_bounded(topo, cat, binding_bound(topo, cat))
}

/// [`resolve`] with the topology's [`binding_bound`] already known (`check_size` finds it).
pub fn resolve_bounded(topo: &Topology, cat: &Catalogue, bound: usize) -> Resolution {
    let overrides = overrides(topo);
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
    let mut internet = InternetWarned::default();
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
                if internet.unwarned(topo, k) && !ends(&cf.to, &cf.to_role, true).is_empty() {
                    warnings.push(internet.warn(
                        topo,
                        k,
                        format!(
                            "components here are reached from `{k}` on the internet ({}), but no zone holds 0.0.0.0/0 or ::/0",
                            cat.kinds[k].name
                        ),
                    ));
                }
            }
            continue;
        }
        let dests = ends(&cf.to, &cf.to_role, true);
        if let (true, KindRef::Kind(k)) = (dests.is_empty(), &cf.to) {
            let to_internet = cat
                .kind(k)
                .is_some_and(|k| k.platform == Platform::Internet);
            if to_internet && internet.unwarned(topo, k) {
                warnings.push(internet.warn(
                    topo,
                    k,
                    format!(
                        "components here need the internet service `{k}` ({}), but no zone holds 0.0.0.0/0 or ::/0",
                        cat.kinds[k].fqdns.join(", ")
                    ),
                ));
            }
        }
        let needed = (!cf.needs.is_empty()).then(|| Needed::new(topo, &index, &cf.needs));
        let pairs = pairs(cf, &sources, &dests, |s, d| {
            binds(topo, cf, s, d)
                && per_pair.is_none_or(|c| settings.hold(c, &get, s, d))
                && needed.as_ref().is_none_or(|n| n.present(s, d))
        });
        if pairs.is_empty() {
            continue;
        }
        let (ports, missing) = ports_of(cat, &overrides, cf);
        if ports.is_empty() && cf.protocols.iter().any(|p| p.has_ports()) {
            warnings.push(no_fixed_port(topo, cf, &missing));
            continue;
        }
        // The parameters that switch this flow, once for all its bindings.
        let params: Vec<&str> = cf.when.as_ref().map(|c| c.params()).unwrap_or_default();
        // The entry's part, with its ports and without (a protocol without ports), shared by
        // every binding.
        let (with_ports, without_ports) = (part(cf, ports), part(cf, PortSet::new()));
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
    warnings.extend(unused_removals(topo, &removal_used));
    add_additions(topo, &mut arena, &mut merged);
    let flows = ordered(merged.flows, &arena);
    Resolution {
        flows: Arc::new(flows),
        ends: arena.ends.into_iter().map(|(_, end, _)| end).collect(),
        removed,
        parameters: settings_of(cat, &overrides),
        warnings,
    }
}

/// The internet kinds already warned about, so that a topology without an internet zone
/// hears once per kind that flows to or from the internet get no rules.
#[derive(Default)]
struct InternetWarned(Vec<String>);

impl InternetWarned {
    fn unwarned(&self, topo: &Topology, kind: &str) -> bool {
        topo.internet_zones().next().is_none() && !self.0.iter().any(|w| w == kind)
    }

    fn warn(&mut self, topo: &Topology, kind: &str, message: String) -> Diagnostic {
        self.0.push(kind.to_string());
        Diagnostic::warning(message)
            .in_file(&topo.file)
            .hint("add an internet zone with cidrs = [\"0.0.0.0/0\"] so these flows get rules")
    }
}

/// Each source with each destination it may bind to (`holds`), in source order, then
/// destination order. A source of one site only binds to its own site's destinations and to
/// those without a site (unless the flow crosses sites), so only those are tried.
fn pairs<'e, 'a>(
    cf: &CatFlow,
    sources: &'e [End<'a>],
    dests: &'e [End<'a>],
    holds: impl Fn(&End<'a>, &End<'a>) -> bool,
) -> Vec<(&'e End<'a>, &'e End<'a>)> {
    let mut by_site: HashMap<Option<&str>, Vec<usize>> = HashMap::default();
    if !cf.cross_site {
        for (i, d) in dests.iter().enumerate() {
            by_site.entry(d.end.site.as_deref()).or_default().push(i);
        }
    }
    let no_site: &[usize] = by_site.get(&None).map_or(&[], Vec::as_slice);
    let mut pairs = Vec::new();
    let mut candidates: Vec<usize> = Vec::new();
    for s in sources {
        candidates.clear();
        match s.end.site.as_deref() {
            Some(site) if !cf.cross_site => {
                let own = by_site.get(&Some(site)).map_or(&[][..], Vec::as_slice);
                candidates.extend_from_slice(own);
                candidates.extend_from_slice(no_site);
                // The destinations' order, as a scan of all of them would give.
                candidates.sort_unstable();
            }
            _ => candidates.extend(0..dests.len()),
        }
        for &i in &candidates {
            if holds(s, &dests[i]) {
                pairs.push((s, &dests[i]));
            }
        }
    }
    pairs
}

/// A flow whose ports come from parameters nobody has set yet ("random port" services).
fn no_fixed_port(topo: &Topology, cf: &CatFlow, missing: &[String]) -> Diagnostic {
    let params: Vec<String> = missing.iter().map(|p| format!("parameters.{p}")).collect();
    Diagnostic::warning(format!(
        "flow `{}` ({}) has no fixed port yet, so no rule is made for it",
        cf.id, cf.purpose
    ))
    .in_file(&topo.file)
    .hint(format!(
        "configure fixed ports on the servers and set {}",
        params.join(", ")
    ))
}

/// A catalogue entry's part of a flow, with `ports`.
fn part(cf: &CatFlow, ports: PortSet) -> FlowPart {
    FlowPart::new(Part {
        catalogue: cf.id.as_str().into(),
        ports,
        purpose: cf.purpose.clone(),
        source: cf.source.clone(),
        condition: cf.when_text.clone(),
        reason: None,
        note: cf.note.clone(),
        fixes: cf.fixes.clone(),
    })
}

/// A warning for each `[[removals]]` entry that matched no flow.
fn unused_removals<'t>(
    topo: &'t Topology,
    used: &'t [bool],
) -> impl Iterator<Item = Diagnostic> + 't {
    topo.removals
        .iter()
        .zip(used)
        .filter(|(_, used)| !**used)
        .map(|(r, _)| {
            Diagnostic::warning(format!(
                "removal of `{}` matches no flow of this topology",
                r.catalogue
            ))
            .at(&topo.file, r.span.clone())
            .hint("check the catalogue id and the from/to components, or delete the removal")
        })
}

/// The topology's own `[[additions]]`, merged like catalogue flows.
fn add_additions(topo: &Topology, arena: &mut Arena, merged: &mut Merged) {
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
        add(merged, &s, &d, a.protocol, part, &[], true);
    }
}

/// The flows ordered by their ends' names and interfaces, then protocol (the order the output
/// has always had), each summarised.
fn ordered(mut flows: Vec<Flow>, arena: &Arena) -> Vec<Flow> {
    let ranks = arena.ranks();
    flows.sort_by_cached_key(|f| {
        (
            ranks[f.from_end.id.index()],
            ranks[f.to_end.id.index()],
            f.protocol,
        )
    });
    flows.iter_mut().for_each(summarise);
    flows
}

/// Every catalogue parameter's effective value, and whether the topology set it.
fn settings_of(cat: &Catalogue, overrides: &IndexMap<String, ParamValue>) -> Vec<ParamSetting> {
    cat.parameters
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
        .collect()
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
