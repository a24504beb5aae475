//! What a change board reads, whichever file it opens: the order of the matrix (zone pair,
//! then site, then component), which firewall a flow is for (the zone firewall, or only the
//! hosts' own firewalls when both ends share a zone), its site, and the named services that
//! recurring catalogue groups fold into (an Active Directory member's ports, HDX). The matrix
//! (Markdown, CSV, HTML), the workbook and the diagrams all read this, so they agree row for
//! row and number for number.

use std::collections::BTreeMap;

use crate::catalogue::{Catalogue, KindRef};
use crate::flow::Flow;
use crate::topology::Topology;
use crate::HashMap;

/// A previous version's flows (`generate --previous OLD.toml`): the workbook says what changed
/// since, and why.
#[derive(Debug)]
pub struct Previous {
    /// As the user named it (a path).
    pub name: String,
    /// Its flows JSON document.
    pub doc: serde_json::Value,
}

/// A zone as the review shows it: in drawing order, with the site its components belong to.
#[derive(Debug, Clone)]
pub struct ZoneInfo {
    pub name: String,
    pub cidrs: Vec<ipnet::IpNet>,
    /// The one site of the zone's components that have a site; `None` for shared zones.
    pub site: Option<String>,
    pub default_route: bool,
}

/// The flows from one zone to another (or within one zone), in matrix order.
#[derive(Debug, Clone)]
pub struct Pair {
    pub from_zone: String,
    pub to_zone: String,
    /// Indices into the flows.
    pub flows: Vec<usize>,
}

impl Pair {
    pub fn within(&self) -> bool {
        self.from_zone == self.to_zone
    }
}

/// A named service: catalogue entries that recur together for many components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub about: String,
}

/// One line of a table: a flow, or (grouped view) a service folding several flows of one
/// zone pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Flow(usize),
    Service { service: usize, flows: Vec<usize> },
}

#[derive(Debug)]
pub struct Review {
    /// Shared with the resolution, so templates can read the review as they go.
    pub flows: std::sync::Arc<Vec<Flow>>,
    /// Flow indices in matrix order: every flow between zones, then every flow within one.
    pub order: Vec<usize>,
    /// How many of `order` cross the zone firewall (they come first).
    pub between: usize,
    /// Each flow's row number (1-based, matrix order), by flow index.
    pub number: Vec<usize>,
    pub zones: Vec<ZoneInfo>,
    /// Zone pairs with flows between them, in matrix order; then zones with flows within.
    pub pairs: Vec<Pair>,
    pub services: Vec<Service>,
    /// Each flow's service, when every catalogue entry merged into it belongs to one.
    service_of: Vec<Option<usize>>,
    /// What each flow serves, for summaries: its service, else the destination's kind.
    label_of: Vec<String>,
}

/// Display names of the catalogue's traits that make a service (the others show their id).
const TRAIT_NAMES: &[(&str, &str)] = &[
    ("ad-member", "Active Directory member"),
    ("sql-client", "SQL Server client"),
    ("citrix-licensed", "Citrix licensing"),
    ("wem-agent", "WEM agent"),
];

/// HDX is no trait: its entries are the session ports users reach VDAs on, directly or
/// through a Gateway (`cvad-hdx-*`, `ns-gw-hdx-*`, the legacy `*-ica` ones).
const HDX: (&str, &str) = (
    "HDX sessions",
    "ICA, session reliability (CGP) and adaptive transport (EDT) of users' sessions to the VDAs, directly or through the Gateway.",
);

/// The service a catalogue entry belongs to, as (key, name, about).
fn service_of_entry(cat: &Catalogue, id: &str) -> Option<(String, String, String)> {
    let f = cat.flows.iter().find(|f| f.id == id)?;
    for end in [&f.from, &f.to] {
        if let KindRef::Trait(t) = end {
            let name = TRAIT_NAMES
                .iter()
                .find(|(k, _)| k == t)
                .map_or_else(|| t.clone(), |(_, n)| n.to_string());
            let about = cat
                .traits
                .get(t)
                .map(|t| t.description.clone())
                .unwrap_or_default();
            return Some((format!("trait:{t}"), name, about));
        }
    }
    if id.contains("hdx") || id.ends_with("-ica") {
        return Some(("hdx".into(), HDX.0.into(), HDX.1.into()));
    }
    None
}

/// Zones in drawing order: default-route (internet) zones, then each site's zones (sites in the
/// order the topology first names them), then shared zones; the topology's order within each.
fn zones(topo: &Topology) -> Vec<ZoneInfo> {
    let mut sites: Vec<&str> = Vec::new();
    let mut of_zone: HashMap<&str, Vec<&str>> = HashMap::default();
    for c in topo.components.values() {
        let Some(s) = c.site.as_deref() else { continue };
        if !sites.contains(&s) {
            sites.push(s);
        }
        let placed =
            std::iter::once(c.zone.as_str()).chain(c.interfaces.values().map(|i| i.zone.as_str()));
        for z in placed {
            let v = of_zone.entry(z).or_default();
            if !v.contains(&s) {
                v.push(s);
            }
        }
    }
    let mut out: Vec<ZoneInfo> = topo
        .zones
        .values()
        .map(|z| ZoneInfo {
            name: z.name.clone(),
            cidrs: z.cidrs.clone(),
            site: match of_zone.get(z.name.as_str()).map(Vec::as_slice) {
                Some([one]) => Some(one.to_string()),
                _ => None,
            },
            default_route: z.default_route,
        })
        .collect();
    let rank = |z: &ZoneInfo| match (&z.default_route, &z.site) {
        (true, _) => 0,
        (false, Some(s)) => 1 + sites.iter().position(|x| x == s).unwrap_or(0),
        (false, None) => 1 + sites.len(),
    };
    out.sort_by_key(rank);
    out
}

/// A flow's site as a column shows it: the site of its ends (`hq`), both when they differ
/// (`hq → dr`), or `shared` when neither end has one.
pub fn site_text(f: &Flow) -> String {
    match (f.from_end.site.as_deref(), f.to_end.site.as_deref()) {
        (Some(a), Some(b)) if a != b => format!("{a} \u{2192} {b}"),
        (Some(a), _) | (None, Some(a)) => a.to_string(),
        (None, None) => "shared".into(),
    }
}

/// Whether the zone firewall sees the flow, as the matrix's column says it.
pub fn firewall_text(f: &Flow) -> &'static str {
    if f.intra_zone {
        "no: within the zone, host firewalls only"
    } else {
        "yes"
    }
}

impl Review {
    pub fn new(topo: &Topology, cat: &Catalogue, shared: &std::sync::Arc<Vec<Flow>>) -> Review {
        let flows: &[Flow] = shared;
        let zones = zones(topo);
        let zone_rank: HashMap<&str, usize> = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.name.as_str(), i))
            .collect();
        let mut site_rank: HashMap<&str, usize> = HashMap::default();
        for c in topo.components.values() {
            if let Some(s) = c.site.as_deref() {
                let n = site_rank.len();
                site_rank.entry(s).or_insert(n);
            }
        }
        let site_key = |f: &Flow| {
            let r = |s: &Option<std::sync::Arc<str>>| {
                s.as_deref().map_or(usize::MAX, |s| {
                    site_rank.get(s).copied().unwrap_or(usize::MAX - 1)
                })
            };
            (
                r(&f.from_end.site).min(r(&f.to_end.site)),
                r(&f.from_end.site),
                r(&f.to_end.site),
            )
        };
        let zr = |z: &str| zone_rank.get(z).copied().unwrap_or(usize::MAX);
        let mut order: Vec<usize> = (0..flows.len()).collect();
        order.sort_by_cached_key(|&i| {
            let f = &flows[i];
            (
                f.intra_zone,
                zr(&f.from_end.zone),
                zr(&f.to_end.zone),
                site_key(f),
                f.from.clone(),
                f.from_end.interface.clone(),
                f.to.clone(),
                f.to_end.interface.clone(),
                f.protocol,
                i,
            )
        });
        let between = order.iter().filter(|&&i| !flows[i].intra_zone).count();
        let mut number = vec![0; flows.len()];
        for (n, &i) in order.iter().enumerate() {
            number[i] = n + 1;
        }
        let mut pairs: Vec<Pair> = Vec::new();
        for &i in &order {
            let f = &flows[i];
            match pairs.last_mut() {
                Some(p) if *p.from_zone == *f.from_end.zone && *p.to_zone == *f.to_end.zone => {
                    p.flows.push(i)
                }
                _ => pairs.push(Pair {
                    from_zone: f.from_end.zone.to_string(),
                    to_zone: f.to_end.zone.to_string(),
                    flows: vec![i],
                }),
            }
        }
        // Services, by the catalogue entries merged into each flow (an entry looked up once).
        let mut keys: Vec<String> = Vec::new();
        let mut services: Vec<Service> = Vec::new();
        let mut entry_service: HashMap<&str, Option<usize>> = HashMap::default();
        let mut service_of = Vec::with_capacity(flows.len());
        for f in flows {
            let mut one: Option<Option<usize>> = None;
            for p in &f.parts {
                let s = *entry_service.entry(&p.catalogue).or_insert_with(|| {
                    let (key, name, about) = service_of_entry(cat, &p.catalogue)?;
                    Some(match keys.iter().position(|k| *k == key) {
                        Some(i) => i,
                        None => {
                            keys.push(key);
                            services.push(Service { name, about });
                            services.len() - 1
                        }
                    })
                });
                one = match one {
                    None => Some(s),
                    Some(prev) if prev == s => Some(prev),
                    Some(_) => Some(None),
                };
            }
            service_of.push(one.flatten());
        }
        let label_of = flows
            .iter()
            .zip(&service_of)
            .map(|(f, s)| match s {
                Some(s) => services[*s].name.clone(),
                // Kind ids are what engineers call them, and short (`sql-server`).
                None => f
                    .to_end
                    .kinds
                    .first()
                    .map_or_else(|| f.to.to_string(), |k| k.to_string()),
            })
            .collect();
        Review {
            flows: shared.clone(),
            order,
            between,
            number,
            zones,
            pairs,
            services,
            service_of,
            label_of,
        }
    }

    /// Each zone's place in `zones`, by name.
    pub fn zone_index(&self) -> crate::HashMap<&str, usize> {
        self.zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.name.as_str(), i))
            .collect()
    }

    /// The flows between zones, in matrix order.
    pub fn between_zones(&self) -> &[usize] {
        &self.order[..self.between]
    }

    /// The flows within a zone, in matrix order.
    pub fn within_zones(&self) -> &[usize] {
        &self.order[self.between..]
    }

    /// What a flow serves, in a few words: its service, else the destination's kind.
    pub fn label(&self, flow: usize) -> &str {
        &self.label_of[flow]
    }

    pub fn service(&self, flow: usize) -> Option<usize> {
        self.service_of[flow]
    }

    /// The main services of some flows, most flows first: (label, flows).
    pub fn main_services(&self, flows: &[usize]) -> Vec<(&str, usize)> {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in flows {
            *count.entry(self.label(i)).or_default() += 1;
        }
        let mut v: Vec<(&str, usize)> = count.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// The lines of a table of `flows` (in matrix order): with `group`, the flows of one zone
    /// pair that belong to one service fold into one line where it is the first of them, when
    /// the service has at least two flows in that pair.
    pub fn lines(&self, flows: &[usize], group: bool) -> Vec<Line> {
        if !group {
            return flows.iter().map(|&i| Line::Flow(i)).collect();
        }
        let pair_of = |i: usize| {
            let f = &self.flows[i];
            (f.from_end.zone.clone(), f.to_end.zone.clone())
        };
        let mut members: HashMap<(std::sync::Arc<str>, std::sync::Arc<str>, usize), Vec<usize>> =
            HashMap::default();
        for &i in flows {
            if let Some(s) = self.service_of[i] {
                let (a, b) = pair_of(i);
                members.entry((a, b, s)).or_default().push(i);
            }
        }
        let mut out = Vec::new();
        for &i in flows {
            let folded = self.service_of[i].and_then(|s| {
                let (a, b) = pair_of(i);
                let m = &members[&(a, b, s)];
                (m.len() >= 2).then_some((s, m))
            });
            match folded {
                Some((s, m)) if m[0] == i => out.push(Line::Service {
                    service: s,
                    flows: m.clone(),
                }),
                Some(_) => {}
                None => out.push(Line::Flow(i)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> crate::Loaded {
        crate::load(
            std::path::Path::new(&format!("topologies/{name}.toml")),
            None,
        )
        .expect("example loads")
    }

    #[test]
    fn rows_go_by_zone_pair_then_site_and_flows_within_a_zone_last() {
        let l = load("two-site");
        let r = Review::new(&l.topology, &l.catalogue, &l.resolution.flows);
        let rank = r.zone_index();
        let key = |i: usize| {
            let f = &r.flows[i];
            (f.intra_zone, rank[&*f.from_end.zone], rank[&*f.to_end.zone])
        };
        assert!(r.order.windows(2).all(|w| key(w[0]) <= key(w[1])));
        assert!(r.between_zones().iter().all(|&i| !r.flows[i].intra_zone));
        assert!(r.within_zones().iter().all(|&i| r.flows[i].intra_zone));
        assert_eq!(r.order.len(), r.flows.len());
        // The sites are not interleaved: hq's zones come before dr's, the internet first.
        let names: Vec<&str> = r.zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names[0], "internet");
        let last_hq = names.iter().rposition(|n| n.starts_with("hq-")).unwrap();
        let first_dr = names.iter().position(|n| n.starts_with("dr-")).unwrap();
        assert!(last_hq < first_dr, "{names:?}");
        // Numbers follow the order.
        for (n, &i) in r.order.iter().enumerate() {
            assert_eq!(r.number[i], n + 1);
        }
    }

    #[test]
    fn a_service_folds_only_where_it_recurs_in_a_zone_pair() {
        let l = load("two-site");
        let r = Review::new(&l.topology, &l.catalogue, &l.resolution.flows);
        let lines = r.lines(r.between_zones(), true);
        let ad = r
            .services
            .iter()
            .position(|s| s.name == "Active Directory member")
            .expect("AD member service");
        let folded: Vec<&Vec<usize>> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Service { service, flows } if *service == ad => Some(flows),
                _ => None,
            })
            .collect();
        assert!(!folded.is_empty());
        let mut seen = 0;
        for l in &lines {
            seen += match l {
                Line::Flow(_) => 1,
                Line::Service { flows, .. } => {
                    assert!(flows.len() >= 2);
                    flows.len()
                }
            };
        }
        assert_eq!(seen, r.between, "every flow is on one line");
    }
}
