//! Merging bindings into flows: one flow per pair of ends (name and interface) and protocol,
//! every catalogue entry behind it kept as a part.

use crate::{HashMap, HashSet};
use std::sync::Arc;

use crate::flow::{Flow, FlowPart, PortSet, Protocol};

use super::ends::End;

/// The flows merged so far, each found by its ends' labels and its protocol.
#[derive(Default)]
pub(super) struct Merged {
    pub(super) flows: Vec<Flow>,
    pub(super) index: HashMap<(u32, u32, Protocol), usize>,
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

pub(super) fn add(
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
pub(super) fn summarise(flow: &mut Flow) {
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
