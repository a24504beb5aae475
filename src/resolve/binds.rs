//! Whether a catalogue flow binds a source to a destination: components, sites, the
//! internet, the components' settings, the kinds a flow needs, and the topology's removals.

use crate::HashMap;

use crate::catalogue::{CatFlow, Catalogue, KindRef, ParamValue};
use crate::cond::{self, Cond, Literal};
use crate::topology::{Component, Topology};
use toml::Spanned;

use super::ends::{End, KindIndex};

/// The topology's removals by what they name (catalogue id, and `from` and `to` when given),
/// each the first in the file: a binding finds the first removal that matches it with four
/// look-ups instead of a scan of every removal.
pub(super) struct Removals<'t>(HashMap<(&'t str, Option<&'t str>, Option<&'t str>), usize>);

impl<'t> Removals<'t> {
    pub(super) fn new(topo: &'t Topology) -> Self {
        let mut first = HashMap::default();
        for (i, r) in topo.removals.iter().enumerate() {
            first
                .entry((r.catalogue.as_str(), r.from.as_deref(), r.to.as_deref()))
                .or_insert(i);
        }
        Removals(first)
    }

    /// The first removal of catalogue flow `id` that matches `from` and `to`.
    pub(super) fn first(&self, id: &str, from: &str, to: &str) -> Option<usize> {
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
pub(super) fn binds(topo: &Topology, cf: &CatFlow, s: &End<'_>, d: &End<'_>) -> bool {
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

/// Settings as flows see them: a component's own value, or the default of the first of its
/// kinds (with the kinds they extend) that declares the setting. Defaults are gathered per kind,
/// not per component: a topology has thousands of components and a few dozen kinds.
pub(super) struct Settings<'t> {
    defaults: HashMap<&'t str, Vec<(&'t str, &'t ParamValue)>>,
}

impl<'t> Settings<'t> {
    pub(super) fn new(topo: &'t Topology, cat: &'t Catalogue) -> Settings<'t> {
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
    pub(super) fn hold(
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
pub(super) struct Needed<'t> {
    sites: Vec<Option<&'t str>>,
}

impl<'t> Needed<'t> {
    pub(super) fn new(topo: &'t Topology, index: &KindIndex, needs: &[KindRef]) -> Needed<'t> {
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
    pub(super) fn present(&self, s: &End<'_>, d: &End<'_>) -> bool {
        let (a, b) = (s.end.site.as_deref(), d.end.site.as_deref());
        self.sites
            .iter()
            .any(|site| site.is_none() || (a.is_none() && b.is_none()) || *site == a || *site == b)
    }
}
