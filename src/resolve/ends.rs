//! The ends a catalogue flow binds: the components of a kind or trait on one of their
//! interfaces, or the internet zone standing for an internet service nobody places. Each end
//! is made once and shared by every flow that has it.

use crate::{HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexSet;

use crate::catalogue::{Catalogue, KindRef, Platform};
use crate::flow::{EndId, FlowEnd};
use crate::topology::{Component, Topology};

/// One end of a binding before merging; its flows share its texts.
pub(super) struct End<'a> {
    /// The component and its index in the topology; `None` for an internet service the
    /// topology does not place.
    pub(super) comp: Option<(usize, &'a Component)>,
    pub(super) name: Arc<str>,
    /// Kinds, zone, interface, addresses and site, as every flow of this end holds them.
    pub(super) end: Arc<FlowEnd>,
    /// What flows merge by: the index of the end's name and interface in [`Arena::labels`].
    pub(super) label: u32,
    pub(super) fqdns: Vec<String>,
}

/// Every end the flows have, made once and numbered by [`EndId`]: a component on one of its
/// interfaces, or an internet service nobody places in one internet zone. Names, zones and
/// sites are one shared copy each, whichever end or flow uses them.
#[derive(Default)]
pub(super) struct Arena {
    texts: HashSet<Arc<str>>,
    /// By id: the end's name, the end, its label.
    pub(super) ends: Vec<(Arc<str>, Arc<FlowEnd>, u32)>,
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
    pub(super) fn component<'t>(
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
    pub(super) fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_unstable_by_key(|&l| &self.labels[l]);
        let mut rank = vec![0; order.len()];
        for (r, l) in order.into_iter().enumerate() {
            rank[l] = r as u32;
        }
        self.ends.iter().map(|e| rank[e.2 as usize]).collect()
    }
}

/// Components matching one end of a catalogue flow. For an internet-service destination that
/// no component places, the zone holding the default route stands in, with the domains.
pub(super) fn ends<'a>(
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
pub(super) fn internet_kind<'c>(cat: &'c Catalogue, r: &KindRef) -> Option<&'c str> {
    match r {
        KindRef::Kind(k) => cat
            .kind(k)
            .filter(|k| k.platform == Platform::Internet)
            .map(|k| k.id.as_str()),
        KindRef::Trait(_) => None,
    }
}

/// Which components match a kind or a trait (through the kinds they extend), computed once per
/// topology instead of once per catalogue flow and component.
pub(super) struct KindIndex {
    kinds: HashMap<String, Vec<usize>>,
    traits: HashMap<String, Vec<usize>>,
}

impl KindIndex {
    pub(super) fn new(topo: &Topology, cat: &Catalogue) -> KindIndex {
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
    pub(super) fn components(&self, r: &KindRef) -> &[usize] {
        let hit = match r {
            KindRef::Kind(k) => self.kinds.get(k),
            KindRef::Trait(t) => self.traits.get(t),
        };
        hit.map_or(&[], Vec::as_slice)
    }
}
