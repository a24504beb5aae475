//! The change-request attachment: `<topology>.md` (header, Mermaid flowchart, rule table),
//! `<topology>.csv` (the same table) and `<topology>.html` (one self-contained page: the
//! diagram as inline SVG drawn here, a sortable and filterable table, print CSS).
//!
//! Every string from the topology or the catalogue reaches the Markdown through the `md` or
//! `mermaid` filter, the HTML through `xml` (the SVG is built here with the same function),
//! the CSV through `flows::push_row`. Nothing depends on the run: no dates, no paths.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

use super::flows::{end_label, join_nets, push_row};
use super::xml_escape;
use crate::flow::{EndId, Flow, FlowEnd};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::topology::Topology;
use crate::HashMap;

/// A box in the diagram: a component, or one of its interfaces when that sits in another zone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Node {
    zone: String,
    label: String,
}

/// The diagram node of one end of a flow.
fn node_of(
    topo: &Topology,
    name: &str,
    iface: &Option<impl std::fmt::Display>,
    zone: &str,
) -> Node {
    let label = match (topo.components.get(name), iface) {
        (Some(c), Some(i)) if c.zone != zone => format!("{name}.{i}"),
        _ => name.to_string(),
    };
    Node {
        zone: zone.to_string(),
        label,
    }
}

/// Zones in drawing order: default-route (internet) zones first, then the topology's order.
fn zone_order(topo: &Topology) -> Vec<String> {
    let mut z: Vec<&crate::topology::Zone> = topo.zones.values().collect();
    z.sort_by_key(|z| !z.default_route);
    z.into_iter().map(|z| z.name.clone()).collect()
}

struct Graph {
    zones: Vec<String>,
    /// Nodes per zone, sorted.
    nodes: BTreeMap<String, Vec<Node>>,
    /// (from node, to node) -> protocol/ports labels, in flow order.
    edges: BTreeMap<(Node, Node), Vec<String>>,
}

fn graph(topo: &Topology, flows: &[Flow]) -> Graph {
    let mut nodes: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    let mut add = |n: &Node| {
        let v = nodes.entry(n.zone.clone()).or_default();
        if !v.contains(n) {
            v.push(n.clone());
        }
    };
    for c in topo.components.values() {
        add(&Node {
            zone: c.zone.clone(),
            label: c.name.clone(),
        });
    }
    // A flow's ends by their ids: each distinct end becomes a node once, and edges are
    // gathered by node number, then ordered by node once each (a node and an ordered-map
    // lookup per flow compared strings all the way).
    let mut ends: HashMap<EndId, usize> = HashMap::default();
    // Node numbers by content too: two ends with equal texts are one node.
    let mut numbers: HashMap<Node, usize> = HashMap::default();
    let mut end_nodes: Vec<Node> = Vec::new();
    let mut node = |name: &Arc<str>, end: &FlowEnd| {
        *ends.entry(end.id).or_insert_with(|| {
            let n = node_of(topo, name, &end.interface, &end.zone);
            *numbers.entry(n.clone()).or_insert_with(|| {
                add(&n);
                end_nodes.push(n);
                end_nodes.len() - 1
            })
        })
    };
    let mut by_pair: HashMap<(usize, usize), Vec<String>> = HashMap::default();
    for f in flows {
        let a = node(&f.from, &f.from_end);
        let b = node(&f.to, &f.to_end);
        let label = proto_ports(f);
        let v = by_pair.entry((a, b)).or_default();
        if !v.contains(&label) {
            v.push(label);
        }
    }
    let edges: BTreeMap<(Node, Node), Vec<String>> = by_pair
        .into_iter()
        .map(|((a, b), labels)| ((end_nodes[a].clone(), end_nodes[b].clone()), labels))
        .collect();
    for v in nodes.values_mut() {
        v.sort();
    }
    Graph {
        zones: zone_order(topo),
        nodes,
        edges,
    }
}

fn proto_ports(f: &Flow) -> String {
    let mut s = String::with_capacity(8 + 12 * f.ports.ranges().len());
    s.push_str(f.protocol.name());
    if !f.ports.is_empty() {
        s.push('/');
        f.ports.push_to(&mut s);
    }
    s
}

/// Why a flow is there: the parameters that switched it on, a topology reason, or always.
fn why(f: &Flow) -> String {
    let s = super::flows::switched_by(f);
    if s.is_empty() {
        "always (catalogue)".into()
    } else {
        s
    }
}

const COLUMNS: [&str; 11] = [
    "#",
    "source zone",
    "source",
    "source addresses",
    "destination zone",
    "destination",
    "destination addresses",
    "protocol/ports",
    "purpose",
    "documented source",
    "switched by / reason",
];

/// The address texts of the flows' ends, made once per end instead of once per flow and
/// file: a component's (or interface's) addresses are one shared list in every flow it has.
#[derive(Default)]
struct NetTexts(HashMap<EndId, Arc<str>>);

impl NetTexts {
    fn of(flows: &[Flow]) -> NetTexts {
        let mut t = NetTexts::default();
        for f in flows {
            for end in [&f.from_end, &f.to_end] {
                t.0.entry(end.id)
                    .or_insert_with(|| join_nets(&end.addresses).into());
            }
        }
        t
    }

    fn get(&self, end: &FlowEnd) -> Arc<str> {
        match self.0.get(&end.id) {
            Some(t) => t.clone(),
            None => join_nets(&end.addresses).into(),
        }
    }
}

/// A component's label, or `component.interface`.
fn end_value(name: &Arc<str>, iface: &Option<Arc<str>>) -> minijinja::Value {
    match iface {
        Some(_) => end_label(name, iface).into(),
        None => minijinja::Value::from(name.clone()),
    }
}

/// One row's cells, as template values in `COLUMNS` order: the flow's shared texts are not
/// copied, and short ones need no allocation.
fn row(i: usize, f: &Flow, nets: &NetTexts) -> [minijinja::Value; 11] {
    use minijinja::Value;
    let dst = nets.get(&f.to_end);
    let dst = if f.to_fqdns.is_empty() {
        Value::from(dst)
    } else {
        super::concat(&[&f.to_fqdns.join(" "), " (", &dst, ")"]).into()
    };
    [
        (i + 1).to_string().into(),
        Value::from(f.from_end.zone.clone()),
        end_value(&f.from, &f.from_end.interface),
        Value::from(nets.get(&f.from_end)),
        Value::from(f.to_end.zone.clone()),
        end_value(&f.to, &f.to_end.interface),
        dst,
        proto_ports(f).into(),
        Value::from(f.purpose.clone()),
        Value::from(f.source.clone()),
        why(f).into(),
    ]
}

/// The templates' context; `rows` is made one row at a time as a template reaches it.
#[derive(Serialize)]
struct Context<'a> {
    topology: &'a str,
    description: &'a str,
    parameters: Vec<Value>,
    at_default: usize,
    /// Template values made once for the Markdown and the HTML.
    zones: minijinja::Value,
    edges: minijinja::Value,
    columns: [&'static str; 11],
    rows: minijinja::Value,
    removed: &'a [crate::resolve::Removed],
    /// Laid out and written when a template prints it (44 MB at 100,000 flows).
    svg: minijinja::Value,
}

fn context<'a>(
    topo: &'a Topology,
    res: &'a crate::resolve::Resolution,
    nets: Arc<NetTexts>,
) -> Context<'a> {
    let flows = &res.flows;
    let g = Arc::new(graph(topo, flows));
    #[derive(Serialize)]
    struct NodeCtx {
        id: String,
        label: String,
        kinds: String,
    }
    #[derive(Serialize)]
    struct ZoneCtx<'z> {
        id: String,
        name: &'z str,
        cidrs: String,
        description: &'z str,
        nodes: Vec<NodeCtx>,
    }
    #[derive(Serialize)]
    struct EdgeCtx<'e> {
        from: &'e str,
        to: &'e str,
        label: String,
    }
    let mut ids: HashMap<&Node, String> = HashMap::default();
    let mut zones = Vec::new();
    for (zi, z) in g.zones.iter().enumerate() {
        let zone = topo.zone(z);
        let nodes: Vec<NodeCtx> = g
            .nodes
            .get(z)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|n| {
                let id = format!("n{}", ids.len());
                ids.insert(n, id.clone());
                let kinds = topo
                    .components
                    .get(n.label.split('.').next().unwrap_or(""))
                    .map(|c| c.kinds.join(", "))
                    .unwrap_or_else(|| "internet service".into());
                NodeCtx {
                    id,
                    label: n.label.clone(),
                    kinds,
                }
            })
            .collect();
        zones.push(ZoneCtx {
            id: format!("z{zi}"),
            name: z,
            cidrs: join_nets(&zone.cidrs),
            description: zone.description.as_deref().unwrap_or_default(),
            nodes,
        });
    }
    let edges: Vec<EdgeCtx<'_>> = g
        .edges
        .iter()
        .map(|((a, b), labels)| EdgeCtx {
            from: &ids[a],
            to: &ids[b],
            label: labels.join(", "),
        })
        .collect();
    let params: Vec<Value> = res
        .parameters
        .iter()
        .filter(|p| p.set)
        .map(|p| json!({"name": p.name, "value": p.value.to_string(), "default": p.default.to_string()}))
        .collect();
    let at_default = res.parameters.iter().filter(|p| !p.set).count();
    Context {
        topology: &topo.name,
        description: &topo.description,
        parameters: params,
        at_default,
        zones: minijinja::Value::from_serialize(&zones),
        edges: minijinja::Value::from_serialize(&edges),
        columns: COLUMNS,
        rows: super::lazy_view(res.flows.clone(), move |i, f| {
            minijinja::Value::from_iter(row(i, f, &nets))
        }),
        removed: &res.removed,
        svg: super::streamed_text(move |out| write_svg(&g, out)),
    }
}

/// The matrix as CSV, written row by row.
fn write_csv(flows: &[Flow], nets: &NetTexts, w: &mut dyn std::io::Write) -> Result<()> {
    super::flows::write_rows(w, &COLUMNS, flows, |out, i, f| {
        push_row(
            out,
            row(i, f, nets)
                .iter()
                .map(|c| c.as_str().unwrap_or_default()),
        )
    })
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let topo = &ctx.loaded.topology;
    let res = &ctx.loaded.resolution;
    let nets = Arc::new(NetTexts::of(&res.flows));
    let v = context(topo, res, nets.clone());
    // Each file is written as it is made (159 MB together at 100,000 flows).
    ctx.write(&format!("{}.md", topo.name), |w| {
        ctx.renderer.render_ser_to("matrix.md.j2", &v, w)
    })?;
    ctx.write(&format!("{}.csv", topo.name), |w| {
        write_csv(&res.flows, &nets, w)
    })?;
    ctx.write(&format!("{}.html", topo.name), |w| {
        ctx.renderer.render_ser_to("matrix.html.j2", &v, w)
    })?;
    Ok(Vec::new())
}

// ---- SVG: a deterministic layout, no Graphviz ----
//
// Zones are columns (PER_ROW to a row), components are boxes stacked inside them. Flows are
// orthogonal lines: out of the source's side, along to the gap next to the destination's
// zone, up or down in that gap (each flow in its own lane), and into the destination. A flow
// within one column uses the gap to its right. Labels sit on the vertical run, moved along it
// until they overlap no other label or box. Draw order: zones, lines, components, labels.

const NODE_W: i64 = 190;
const NODE_H: i64 = 40;
const NODE_GAP: i64 = 16;
const ZONE_PAD: i64 = 16;
const ZONE_HEAD: i64 = 46;
const ZONE_W: i64 = NODE_W + 2 * ZONE_PAD;
/// Room between zone columns for the lines and their labels.
const COL_GAP: i64 = 190;
const LANE: i64 = 7;
const ROW_GAP: i64 = 70;
const PER_ROW: usize = 4;
const MARGIN: i64 = 20;
const LABEL_H: i64 = 14;

/// Text cut to `max` characters with an ellipsis (the full text is in the `<title>`).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('\u{2026}');
        t
    }
}

type Rect = (i64, i64, i64, i64); // x, y, w, h

fn overlaps(a: &Rect, b: &Rect) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

/// Rectangles bucketed by grid cell, so "does this overlap anything" looks at neighbours only
/// (a scan of every label placed so far is quadratic in flows: minutes at 100,000 flows).
#[derive(Default)]
struct Grid {
    cells: HashMap<(i64, i64), Vec<Rect>>,
}

impl Grid {
    const CELL: i64 = 128;

    fn cells_of(r: &Rect) -> impl Iterator<Item = (i64, i64)> {
        let (x0, x1) = (
            r.0.div_euclid(Self::CELL),
            (r.0 + r.2).div_euclid(Self::CELL),
        );
        let (y0, y1) = (
            r.1.div_euclid(Self::CELL),
            (r.1 + r.3).div_euclid(Self::CELL),
        );
        (x0..=x1).flat_map(move |x| (y0..=y1).map(move |y| (x, y)))
    }

    fn insert(&mut self, r: Rect) {
        for c in Self::cells_of(&r) {
            self.cells.entry(c).or_default().push(r);
        }
    }

    fn hits(&self, r: &Rect) -> bool {
        Self::cells_of(r).any(|c| {
            self.cells
                .get(&c)
                .is_some_and(|v| v.iter().any(|o| overlaps(o, r)))
        })
    }
}

fn write_svg(g: &Graph, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
    let heights: Vec<i64> = g
        .zones
        .iter()
        .map(|z| {
            let n = g.nodes.get(z).map_or(0, Vec::len) as i64;
            ZONE_HEAD + n.max(1) * (NODE_H + NODE_GAP) - NODE_GAP + ZONE_PAD
        })
        .collect();
    let col_x = |c: i64| MARGIN + c * (ZONE_W + COL_GAP);
    let mut boxes: Vec<(i64, i64, i64, i64)> = Vec::new(); // column, x, y, h
    let mut y = MARGIN;
    for chunk in heights.chunks(PER_ROW) {
        let row_h = chunk.iter().copied().max().unwrap_or(0);
        for (c, h) in chunk.iter().enumerate() {
            boxes.push((c as i64, col_x(c as i64), y, *h));
        }
        y += row_h + ROW_GAP;
    }
    let cols = g.zones.len().clamp(1, PER_ROW) as i64;
    // A gap after the last column too, for flows within it.
    let width = col_x(cols) - MARGIN + MARGIN;
    let height = y - ROW_GAP + MARGIN;

    // Node positions (top-left) and their column.
    let mut pos: BTreeMap<&Node, (i64, i64, i64)> = BTreeMap::new();
    // Boxes and labels placed so far, which a new label must not cover.
    let mut taken = Grid::default();
    for (zi, z) in g.zones.iter().enumerate() {
        let (c, x, y, _) = boxes[zi];
        for (ni, n) in g
            .nodes
            .get(z)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let nx = x + ZONE_PAD;
            let ny = y + ZONE_HEAD + ni as i64 * (NODE_H + NODE_GAP);
            pos.insert(n, (c, nx, ny));
            taken.insert((nx, ny, NODE_W, NODE_H));
        }
    }

    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"Zones, components and flows\">"
    )?;
    out.write_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#2f4f6f\"/></marker></defs>\n")?;
    for (zi, z) in g.zones.iter().enumerate() {
        let (_, x, y, h) = boxes[zi];
        writeln!(
            out,
            "<g class=\"zone\"><rect x=\"{x}\" y=\"{y}\" width=\"{ZONE_W}\" height=\"{h}\" rx=\"8\" fill=\"#eef3f8\" stroke=\"#5b7a99\" stroke-width=\"1.5\"/><text x=\"{}\" y=\"{}\" font-size=\"15\" font-weight=\"bold\" fill=\"#1c3550\">{}</text></g>",
            x + ZONE_PAD,
            y + 24,
            xml_escape(&clip(z, 24))
        )?;
    }

    // Lanes used so far in each gap (gap g lies right of column g).
    let mut lanes: BTreeMap<i64, i64> = BTreeMap::new();
    let lanes_per_gap = (COL_GAP - 24) / LANE;
    let mut labels: Vec<(Rect, String)> = Vec::new();
    // Spread the ends on a box's side so lines to one box do not merge.
    let mut ends: BTreeMap<(String, bool), i64> = BTreeMap::new();
    let end_y = |n: &Node, right: bool, y: i64, ends: &mut BTreeMap<(String, bool), i64>| {
        let k = ends
            .entry((format!("{}/{}", n.zone, n.label), right))
            .or_insert(0);
        let off = [0, -8, 8, -16, 16][(*k % 5) as usize];
        *k += 1;
        y + NODE_H / 2 + off
    };
    for ((a, b), ports) in &g.edges {
        let (Some(&(ac, ax, ay)), Some(&(bc, bx, by))) = (pos.get(a), pos.get(b)) else {
            continue;
        };
        // Which gap carries the vertical run, and which sides the line leaves and enters.
        let (gap, a_right, b_right) = match ac.cmp(&bc) {
            std::cmp::Ordering::Less => (bc - 1, true, false),
            std::cmp::Ordering::Greater => (bc, false, true),
            std::cmp::Ordering::Equal => (ac, true, true),
        };
        let lane = {
            let l = lanes.entry(gap).or_insert(0);
            *l += 1;
            (*l - 1) % lanes_per_gap
        };
        let gap_lo = col_x(gap) + ZONE_W;
        let gx = gap_lo + 12 + lane * LANE;
        let y1 = end_y(a, a_right, ay, &mut ends);
        let y2 = end_y(b, b_right, by, &mut ends);
        let x1 = if a_right { ax + NODE_W } else { ax };
        let x2 = if b_right { bx + NODE_W } else { bx };
        let d = format!("M{x1},{y1} H{gx} V{y2} H{x2}");
        let text = ports.join(", ");
        writeln!(
            out,
            "<path class=\"flow\" d=\"{d}\" fill=\"none\" stroke=\"#2f4f6f\" stroke-opacity=\"0.6\" stroke-width=\"1.2\" marker-end=\"url(#arrow)\"><title>{} \u{2192} {}: {}</title></path>",
            xml_escape(&a.label),
            xml_escape(&b.label),
            xml_escape(&text)
        )?;
        // The label: on the vertical run, in the gap, clear of other labels and boxes.
        let clipped = clip(&text, 28);
        let w = clipped.chars().count() as i64 * 6 + 8;
        let lx = (gx - w / 2).clamp(gap_lo + 2, gap_lo + COL_GAP - w - 2);
        let mid = (y1 + y2) / 2 - LABEL_H / 2;
        let mut spot = (lx, mid, w, LABEL_H);
        for step in 0..200 {
            let dy = if step % 2 == 0 {
                step / 2
            } else {
                -(step / 2 + 1)
            } * (LABEL_H + 1);
            let cand = (lx, (mid + dy).max(2), w, LABEL_H);
            if !taken.hits(&cand) {
                spot = cand;
                break;
            }
        }
        taken.insert(spot);
        labels.push((spot, clipped));
    }
    for (n, &(_, nx, ny)) in &pos {
        writeln!(
            out,
            "<g class=\"node\"><title>{}</title><rect x=\"{nx}\" y=\"{ny}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\" fill=\"#ffffff\" stroke=\"#2f4f6f\"/><text x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\" fill=\"#102030\">{}</text></g>",
            xml_escape(&n.label),
            nx + NODE_W / 2,
            ny + NODE_H / 2 + 5,
            xml_escape(&clip(&n.label, 24))
        )?;
    }
    for ((x, y, w, h), text) in &labels {
        writeln!(
            out,
            "<g class=\"flow-label\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"3\" fill=\"#fffbe6\" stroke=\"#c9b458\" stroke-width=\"0.6\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#263238\">{}</text></g>",
            x + w / 2,
            y + h - 3,
            xml_escape(text)
        )?;
    }
    out.write_str("</svg>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 4), "abc\u{2026}");
    }
}
