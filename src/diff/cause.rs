//! Why flows changed: the changes of the topology (parameters, components, additions,
//! removals) and, for each added, removed or changed flow, the change that caused it.
//!
//! Both sides are flows JSON documents (the contract: every parameter's value, each flow's
//! ends with kinds, zone, site and addresses, its merged catalogue entries with their
//! conditions, the topology's removals), so `diff OLD.toml NEW.toml` and `diff --flows`
//! explain the same way. The catalogue says which parameters an entry's condition or ports
//! read; an entry whose text or ports moved while nothing in the topology did is a catalogue
//! change.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Diff;
use crate::catalogue::{Catalogue, PortItem};
use crate::HashMap;

/// A topology change found by comparing the two sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `parameter`, `component added`, `component removed`, `component changed`,
    /// `addition added`, `addition removed`, `addition changed`, `removal added`,
    /// `removal dropped`.
    pub what: String,
    /// The parameter, component, addition id or removed catalogue entry.
    pub name: String,
    /// `true → false`, `site hq → dr`, the removal's reason...
    pub detail: String,
    /// How many added, removed or changed flows it caused.
    pub flows: usize,
}

impl Change {
    /// One line with its count: `parameter edt: true → false (10 flows)`.
    pub fn summary(&self) -> String {
        format!(
            "{} ({} flow{})",
            self.text(),
            self.flows,
            if self.flows == 1 { "" } else { "s" }
        )
    }

    /// One line: `parameter edt: true → false`.
    pub fn text(&self) -> String {
        if self.detail.is_empty() {
            format!("{} {}", self.what, self.name)
        } else {
            format!("{} {}: {}", self.what, self.name, self.detail)
        }
    }
}

/// The topology's changes, and each changed flow's causes (indices into `changes`, or a
/// catalogue change).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Why {
    pub changes: Vec<Change>,
    /// By flow id: what caused the flow's change, as lines.
    pub causes: BTreeMap<String, Vec<String>>,
}

/// What one side says about a component: its kinds, site, and each interface's zone and
/// addresses.
#[derive(Debug, Default, PartialEq)]
struct Comp {
    kinds: Vec<String>,
    site: Option<String>,
    ends: BTreeMap<String, (String, Vec<String>)>,
}

struct Side<'a> {
    params: BTreeMap<&'a str, &'a Value>,
    comps: BTreeMap<String, Comp>,
    flows: HashMap<&'a str, &'a Value>,
    /// Additions by id: (ports, purpose).
    additions: BTreeMap<String, (Value, Value)>,
    /// Removals: (catalogue entry, reason), once each however many bindings they take.
    removals: std::collections::BTreeSet<(String, String)>,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn strs(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn parts(f: &Value) -> &[Value] {
    f.get("parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn side(doc: &Value) -> Side<'_> {
    let params = doc
        .get("parameters")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default();
    let mut comps: BTreeMap<String, Comp> = BTreeMap::new();
    let mut flows = HashMap::default();
    let mut additions = BTreeMap::new();
    for f in doc
        .get("flows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        flows.insert(f.get("id").and_then(Value::as_str).unwrap_or_default(), f);
        for end in ["from", "to"] {
            let c = comps.entry(s(f, end)).or_default();
            c.kinds = strs(f, &format!("{end}_kinds"));
            c.site = f
                .get(format!("{end}_site"))
                .and_then(Value::as_str)
                .map(str::to_string);
            c.ends.insert(
                s(f, &format!("{end}_interface")),
                (
                    s(f, &format!("{end}_zone")),
                    strs(f, &format!("{end}_addresses")),
                ),
            );
        }
        for p in parts(f) {
            if p.get("reason").is_some_and(|r| !r.is_null()) {
                additions.insert(
                    addition_id(&s(p, "catalogue")),
                    (p["ports"].clone(), p["purpose"].clone()),
                );
            }
        }
    }
    let removals = doc
        .get("removed")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| (s(r, "catalogue"), s(r, "reason")))
        .collect();
    Side {
        params,
        comps,
        flows,
        additions,
        removals,
    }
}

/// An addition's id as the topology names it (its entries are `site:<id>`).
fn addition_id(entry: &str) -> String {
    entry.strip_prefix("site:").unwrap_or(entry).to_string()
}

fn compact(v: &Value) -> String {
    v.to_string()
}

/// What differs between two sides' view of one component.
fn comp_detail(a: &Comp, b: &Comp) -> String {
    let mut d = Vec::new();
    if a.kinds != b.kinds {
        d.push(format!(
            "kind {} \u{2192} {}",
            a.kinds.join("+"),
            b.kinds.join("+")
        ));
    }
    if a.site != b.site {
        let t = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
        d.push(format!("site {} \u{2192} {}", t(&a.site), t(&b.site)));
    }
    for (iface, (zone, addrs)) in &b.ends {
        if let Some((z0, a0)) = a.ends.get(iface) {
            let at = if iface.is_empty() {
                String::new()
            } else {
                format!(" of {iface}")
            };
            if z0 != zone {
                d.push(format!("zone{at} {z0} \u{2192} {zone}"));
            } else if a0 != addrs {
                d.push(format!("addresses{at}"));
            }
        }
    }
    d.join(", ")
}

/// The parameters a catalogue entry reads (its condition and its ports).
fn entry_params<'c>(cat: Option<&'c Catalogue>, id: &str) -> Vec<&'c str> {
    let Some(f) = cat.and_then(|c| c.flows.iter().find(|f| f.id == id)) else {
        return Vec::new();
    };
    let mut v: Vec<&str> = f.when.as_ref().map(|c| c.params()).unwrap_or_default();
    v.extend(f.ports.iter().filter_map(|p| match p {
        PortItem::Param(n) => Some(n.as_str()),
        PortItem::Fixed(_) => None,
    }));
    v
}

/// Explain `d` (computed from `old` to `new`, two flows JSON documents).
pub fn explain(old: &Value, new: &Value, d: &Diff, cat: Option<&Catalogue>) -> Why {
    let (a, b) = (side(old), side(new));
    let mut changes = topology_changes(&a, &b);
    let why = Causes {
        changes: &changes,
        cat,
    };
    let ids = |f: &Value| -> Vec<String> { parts(f).iter().map(|p| s(p, "catalogue")).collect() };
    let mut causes = BTreeMap::new();
    for e in &d.added {
        if let Some(f) = b.flows.get(e.id.as_str()) {
            causes.insert(e.id.clone(), why.of(f, &ids(f), &b, &a));
        }
    }
    for e in &d.removed {
        if let Some(f) = a.flows.get(e.id.as_str()) {
            causes.insert(e.id.clone(), why.of(f, &ids(f), &a, &b));
        }
    }
    for c in &d.changed {
        let (Some(fo), Some(fnew)) = (a.flows.get(c.id.as_str()), b.flows.get(c.id.as_str()))
        else {
            continue;
        };
        let moved = moved_entries(fo, fnew);
        let mut w = why.of(fnew, &moved, &b, &a);
        if moved.is_empty() {
            // Only addresses or zones moved: the components' change says why.
            w.retain(|w| !w.starts_with("catalogue"));
            if w.is_empty() {
                w.push("catalogue change".into());
            }
        }
        causes.insert(c.id.clone(), w);
    }
    for c in &mut changes {
        let t = c.text();
        c.flows = causes.values().filter(|w| w.contains(&t)).count();
    }
    Why { changes, causes }
}

/// What changed in the topology from `a` to `b`: parameters, components, additions and
/// removals.
fn topology_changes(a: &Side<'_>, b: &Side<'_>) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    let change = |what: &str, name: &str, detail: String| Change {
        what: what.into(),
        name: name.into(),
        detail,
        flows: 0,
    };
    for (name, v) in &b.params {
        match a.params.get(name) {
            Some(o) if o != v => changes.push(change(
                "parameter",
                name,
                format!("{} \u{2192} {}", compact(o), compact(v)),
            )),
            None => changes.push(change("parameter", name, format!("new, {}", compact(v)))),
            _ => {}
        }
    }
    for name in a.params.keys().filter(|n| !b.params.contains_key(*n)) {
        changes.push(change("parameter", name, "gone".into()));
    }
    for (name, c) in &b.comps {
        match a.comps.get(name) {
            None => changes.push(change("component added", name, c.kinds.join("+"))),
            Some(o) => {
                let det = comp_detail(o, c);
                if !det.is_empty() {
                    changes.push(change("component changed", name, det));
                }
            }
        }
    }
    for (name, c) in &a.comps {
        if !b.comps.contains_key(name) {
            changes.push(change("component removed", name, c.kinds.join("+")));
        }
    }
    for (id, v) in &b.additions {
        match a.additions.get(id) {
            None => changes.push(change("addition added", id, String::new())),
            Some(o) if o != v => changes.push(change("addition changed", id, String::new())),
            _ => {}
        }
    }
    for id in a.additions.keys().filter(|i| !b.additions.contains_key(*i)) {
        changes.push(change("addition removed", id, String::new()));
    }
    for (entry, reason) in b.removals.difference(&a.removals) {
        changes.push(change("removal added", entry, reason.clone()));
    }
    for (entry, reason) in a.removals.difference(&b.removals) {
        changes.push(change("removal dropped", entry, reason.clone()));
    }
    changes
}

/// The catalogue entries of a changed flow that differ: present on one side only, or with
/// other ports or text.
fn moved_entries(old: &Value, new: &Value) -> Vec<String> {
    let by_id = |f: &Value| -> BTreeMap<String, Value> {
        parts(f)
            .iter()
            .map(|p| (s(p, "catalogue"), p.clone()))
            .collect()
    };
    let (po, pn) = (by_id(old), by_id(new));
    let mut moved: Vec<String> = po
        .iter()
        .filter(|(k, v)| pn.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    moved.extend(pn.keys().filter(|k| !po.contains_key(*k)).cloned());
    moved
}

/// The topology's changes, to say which caused a flow's difference.
struct Causes<'a> {
    changes: &'a [Change],
    cat: Option<&'a Catalogue>,
}

impl Causes<'_> {
    fn find(&self, what: &str, name: &str) -> Option<String> {
        self.changes
            .iter()
            .find(|c| c.what == what && c.name == name)
            .map(Change::text)
    }

    /// The causes of a difference in the entries `ids` of flow `f`, which `side_has` has and
    /// `other` has not (or differently).
    fn of(&self, f: &Value, ids: &[String], side_has: &Side<'_>, other: &Side<'_>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |c: Option<String>| {
            if let Some(c) = c {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        };
        for end in ["from", "to"] {
            let name = s(f, end);
            push(self.find("component added", &name));
            push(self.find("component removed", &name));
            push(self.find("component changed", &name));
        }
        for id in ids {
            let added = addition_id(id);
            push(self.find("addition added", &added));
            push(self.find("addition removed", &added));
            push(self.find("addition changed", &added));
            push(self.find("removal added", id));
            push(self.find("removal dropped", id));
            for p in entry_params(self.cat, id) {
                push(self.find("parameter", p));
            }
        }
        for p in strs(f, "parameters") {
            push(self.find("parameter", &p));
        }
        if out.is_empty() {
            // Nothing in the topology moved: the catalogue did (a newer ctxfw, --catalogue).
            let known = |id: &String| {
                other
                    .flows
                    .values()
                    .chain(side_has.flows.values())
                    .any(|g| parts(g).iter().any(|p| s(p, "catalogue") == *id))
            };
            let entries: Vec<&str> = ids
                .iter()
                .filter(|i| known(i))
                .map(String::as_str)
                .collect();
            out.push(if entries.is_empty() {
                "catalogue change".into()
            } else {
                format!("catalogue change: {}", entries.join(", "))
            });
        }
        out
    }
}

/// The diff of two flows JSON documents, each flow's change explained.
pub fn diff_docs(
    old_name: &str,
    old: &Value,
    new_name: &str,
    new: &Value,
    cat: Option<&Catalogue>,
) -> anyhow::Result<Diff> {
    let (a, b) = (
        super::entries(old, old_name)?,
        super::entries(new, new_name)?,
    );
    let mut d = super::diff(old_name, &a, new_name, &b);
    d.why = explain(old, new, &d, cat);
    Ok(d)
}
