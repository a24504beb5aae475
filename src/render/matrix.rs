//! The change-request attachment: `<topology>.md` (header, Mermaid overview of the zones,
//! rule tables), `<topology>.csv` (the rules as one table), `<topology>.html` (one
//! self-contained page: the overview and each zone pair's components as inline SVG, the
//! tables with a filter and sortable columns, print CSS) and `<topology>.xlsx` (the workbook,
//! [`super::workbook`]).
//!
//! Rows come in the review's order ([`crate::review`]): flows between zones by zone pair, site
//! and component, then flows within a zone in a section of their own; with `--group`, the
//! flows of a recurring service fold into one row per zone pair, expanded one click (HTML) or
//! one table (Markdown) away.
//!
//! Every string from the topology or the catalogue reaches the Markdown through the `md` or
//! `mermaid` filter, the HTML through `xml` (the SVG is built with the same function), the CSV
//! through `flows::push_row`, the workbook as text cells with the CSV's formula guard. Nothing
//! depends on the run: no dates, no paths.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

use super::diagram::{self, Arrow, Column, Ladder};
use super::flows::{end_label, join_nets, push_row};
use crate::flow::{EndId, Flow, FlowEnd};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::review::{self, Line, Review};
use crate::HashMap;

pub const COLUMNS: [&str; 14] = [
    "#",
    "flow id",
    "source zone",
    "destination zone",
    "site",
    "source",
    "source addresses",
    "destination",
    "destination addresses",
    "protocol/ports",
    "crosses zone firewall",
    "purpose",
    "documented source",
    "switched by / reason",
];

/// The column of the ports (HTML breaks it after commas only).
pub const PORTS: usize = 9;

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

/// The address texts of the flows' ends, made once per end instead of once per flow and
/// file: a component's (or interface's) addresses are one shared list in every flow it has.
#[derive(Default)]
pub struct NetTexts(HashMap<EndId, Arc<str>>);

impl NetTexts {
    pub fn of(flows: &[Flow]) -> NetTexts {
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

/// One flow's cells, in `COLUMNS` order; `n` is its row number.
pub fn cells(n: usize, f: &Flow, nets: &NetTexts) -> [String; 14] {
    let dst = nets.get(&f.to_end);
    let dst = if f.to_fqdns.is_empty() {
        dst.to_string()
    } else {
        format!("{} ({dst})", f.to_fqdns.join(" "))
    };
    [
        n.to_string(),
        f.id.clone(),
        f.from_end.zone.to_string(),
        f.to_end.zone.to_string(),
        review::site_text(f),
        end_label(&f.from, &f.from_end.interface),
        nets.get(&f.from_end).to_string(),
        end_label(&f.to, &f.to_end.interface),
        dst,
        proto_ports(f),
        review::firewall_text(f).to_string(),
        f.purpose.to_string(),
        f.source.to_string(),
        why(f),
    ]
}

/// Row numbers as a short list: `3, 5-8, 12`.
fn number_list(mut v: Vec<usize>) -> String {
    v.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if j > i + 1 {
            format!("{}-{}", v[i], v[j])
        } else if j == i + 1 {
            format!("{}, {}", v[i], v[j])
        } else {
            v[i].to_string()
        });
        i = j + 1;
    }
    out.join(", ")
}

/// Distinct texts in first-seen order, joined.
fn distinct<'s>(items: impl Iterator<Item = &'s str>, sep: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for s in items {
        if !s.is_empty() && !seen.contains(&s) {
            seen.push(s);
        }
    }
    seen.join(sep)
}

/// A service row's cells: what its flows have in common, and their union.
fn service_cells(r: &Review, service: usize, members: &[usize]) -> [String; 14] {
    let fl = |i: usize| &r.flows[i];
    let first = fl(members[0]);
    let sites: Vec<String> = members.iter().map(|&i| review::site_text(fl(i))).collect();
    let mut per_proto: Vec<(crate::flow::Protocol, crate::flow::PortSet)> = Vec::new();
    for &i in members {
        let f = fl(i);
        match per_proto.iter_mut().find(|(p, _)| *p == f.protocol) {
            Some((_, set)) => *set = set.union(&f.ports),
            None => per_proto.push((f.protocol, f.ports.clone())),
        }
    }
    per_proto.sort_by_key(|(p, _)| *p);
    let ports: Vec<String> = per_proto
        .iter()
        .map(|(p, set)| {
            if set.is_empty() {
                p.to_string()
            } else {
                format!("{p}/{set}")
            }
        })
        .collect();
    let froms: Vec<String> = members
        .iter()
        .map(|&i| end_label(&fl(i).from, &fl(i).from_end.interface))
        .collect();
    let tos: Vec<String> = members
        .iter()
        .map(|&i| end_label(&fl(i).to, &fl(i).to_end.interface))
        .collect();
    let whys: Vec<String> = members.iter().map(|&i| why(fl(i))).collect();
    let s = &r.services[service];
    [
        number_list(members.iter().map(|&i| r.number[i]).collect()),
        format!("{} ({} flows)", s.name, members.len()),
        first.from_end.zone.to_string(),
        first.to_end.zone.to_string(),
        distinct(sites.iter().map(String::as_str), ", "),
        distinct(froms.iter().map(String::as_str), ", "),
        format!("in the {} flows below", members.len()),
        distinct(tos.iter().map(String::as_str), ", "),
        format!("in the {} flows below", members.len()),
        ports.join("; "),
        review::firewall_text(first).to_string(),
        s.about.clone(),
        distinct(members.iter().map(|&i| &*fl(i).source), "; "),
        distinct(whys.iter().map(String::as_str), "; "),
    ]
}

/// One table line for the templates.
#[derive(Serialize)]
struct LineCtx {
    /// The service's anchor (`svc-3`) when the line folds several flows.
    service: Option<String>,
    cells: [String; 14],
    /// A service's flows, each as cells.
    members: Vec<[String; 14]>,
}

fn line_ctx(r: &Review, nets: &NetTexts, k: usize, line: &Line) -> LineCtx {
    match line {
        Line::Flow(i) => LineCtx {
            service: None,
            cells: cells(r.number[*i], &r.flows[*i], nets),
            members: Vec::new(),
        },
        Line::Service { service, flows } => LineCtx {
            service: Some(format!("svc-{k}")),
            cells: service_cells(r, *service, flows),
            members: flows
                .iter()
                .map(|&i| cells(r.number[i], &r.flows[i], nets))
                .collect(),
        },
    }
}

/// Mermaid's own limits, which GitHub keeps: a diagram of more than 50,000 characters or 500
/// edges is not drawn. The overview stays well under both; past them it loses its labels, then
/// the block gives way to a sentence.
const MERMAID_MAX_TEXT: usize = 40_000;
const MERMAID_MAX_EDGES: usize = 400;
/// Zone pairs drawn in the HTML: the overview only up to this many arrows, a component view
/// for the first this many pairs. Past it a ladder is taller than anyone reads, and the
/// drawings outgrow the tables they summarise; the tables keep every flow.
pub const MAX_DRAWN: usize = 200;

/// The zone pairs with flows between them: the overview's edges.
fn between_pairs(r: &Review) -> impl Iterator<Item = &review::Pair> {
    r.pairs.iter().filter(|p| !p.within())
}

/// An edge's label: its count and main services (at most `max`).
fn pair_label(r: &Review, p: &review::Pair, max: usize) -> (String, String) {
    let services = r.main_services(&p.flows);
    let n = p.flows.len();
    let mut names: Vec<&str> = services.iter().take(max).map(|(s, _)| *s).collect();
    let more = services.len().saturating_sub(max);
    let more_text = format!("+{more} more");
    if more > 0 {
        names.push(&more_text);
    }
    let count = format!("{n} flow{}", if n == 1 { "" } else { "s" });
    let all: Vec<String> = services.iter().map(|(s, c)| format!("{s} ({c})")).collect();
    (
        format!("{count}: {}", names.join(", ")),
        format!(
            "{} \u{2192} {}: {count}: {}",
            p.from_zone,
            p.to_zone,
            all.join(", ")
        ),
    )
}

/// The Mermaid overview: zones (grouped by site) and one edge per zone pair.
fn mermaid(r: &Review) -> Value {
    let index = r.zone_index();
    let zone_id = |z: &str| format!("z{}", index.get(z).copied().unwrap_or(0));
    let zone = |z: &review::ZoneInfo| {
        let cidrs = &z.cidrs;
        let mut c = join_nets(&cidrs[..cidrs.len().min(2)]);
        if cidrs.len() > 2 {
            c.push_str(&format!(" +{}", cidrs.len() - 2));
        }
        json!({"id": zone_id(&z.name), "name": z.name, "cidrs": c})
    };
    let mut sites: Vec<(String, Vec<Value>)> = Vec::new();
    let mut loose: Vec<Value> = Vec::new();
    for z in &r.zones {
        match &z.site {
            Some(s) => match sites.iter_mut().find(|(n, _)| n == s) {
                Some((_, v)) => v.push(zone(z)),
                None => sites.push((s.clone(), vec![zone(z)])),
            },
            None => loose.push(zone(z)),
        }
    }
    let edges = |max: Option<usize>| -> Vec<Value> {
        between_pairs(r)
            .map(|p| {
                let label = match max {
                    Some(m) => pair_label(r, p, m).0,
                    None => format!("{} flows", p.flows.len()),
                };
                json!({"from": zone_id(&p.from_zone), "to": zone_id(&p.to_zone), "label": label})
            })
            .collect()
    };
    // What the block's text comes to, labels escaped as the template escapes them.
    let size = |edges: &[Value]| -> usize {
        let nodes: usize = r.zones.iter().map(|z| 40 + 2 * z.name.len()).sum();
        nodes
            + edges
                .iter()
                .map(|e| 24 + super::mermaid_label(e["label"].as_str().unwrap_or("")).len())
                .sum::<usize>()
    };
    // Past the edge limit the block is left out whatever its labels: none are made.
    let fits = between_pairs(r).count() <= MERMAID_MAX_EDGES;
    let mut e = if fits { edges(Some(2)) } else { Vec::new() };
    if fits && size(&e) > MERMAID_MAX_TEXT {
        e = edges(None);
    }
    let fits = fits && size(&e) <= MERMAID_MAX_TEXT;
    json!({
        "fits": fits,
        "sites": sites.into_iter().map(|(s, z)| json!({"name": s, "zones": z})).collect::<Vec<_>>(),
        "zones": loose,
        "edges": if fits { e } else { Vec::new() },
    })
}

/// The overview: one column per zone, one arrow per zone pair, each leading to that pair's view.
fn overview(r: &Review) -> Ladder {
    let within: HashMap<&str, usize> = r
        .pairs
        .iter()
        .filter(|p| p.within())
        .map(|p| (p.from_zone.as_str(), p.flows.len()))
        .collect();
    let columns = r
        .zones
        .iter()
        .map(|z| {
            let cidrs = &z.cidrs;
            let mut lines: Vec<String> = cidrs.iter().take(2).map(|c| c.to_string()).collect();
            if cidrs.len() > 2 {
                lines.push(format!("+{} networks", cidrs.len() - 2));
            }
            lines.push(match &z.site {
                Some(s) => format!("site {s}"),
                None if z.default_route => "internet".into(),
                None => "shared".into(),
            });
            if let Some(n) = within.get(z.name.as_str()) {
                lines.push(format!("{n} within"));
            }
            Column {
                title: z.name.clone(),
                lines,
            }
        })
        .collect();
    let col = r.zone_index();
    let arrows = between_pairs(r)
        .enumerate()
        .map(|(k, p)| {
            let (label, title) = pair_label(r, p, 3);
            let (head, rest) = label.split_once(": ").unwrap_or((&label, ""));
            let items: Vec<String> = rest.split(", ").map(str::to_string).collect();
            Arrow {
                from: col[p.from_zone.as_str()],
                to: col[p.to_zone.as_str()],
                label: diagram::wrap(&format!("{head}: "), &items, ", ", 44),
                title,
                href: Some(format!("#pair-{k}")),
            }
        })
        .collect();
    Ladder { columns, arrows }
}

/// One zone pair's components and flows (or one zone's, for flows within it).
fn pair_view(r: &Review, p: &review::Pair) -> Ladder {
    let mut ends: Vec<String> = Vec::new();
    let mut zone_of: Vec<String> = Vec::new();
    let mut col = |name: String, zone: &str| match ends.iter().position(|e| *e == name) {
        Some(i) => i,
        None => {
            ends.push(name);
            zone_of.push(zone.to_string());
            ends.len() - 1
        }
    };
    let mut arrows = Vec::new();
    // Sources first, then destinations, so arrows run one way where they can.
    let from: Vec<usize> = p
        .flows
        .iter()
        .map(|&i| {
            let f = &r.flows[i];
            col(end_label(&f.from, &f.from_end.interface), &f.from_end.zone)
        })
        .collect();
    for (k, &i) in p.flows.iter().enumerate() {
        let f = &r.flows[i];
        let to = col(end_label(&f.to, &f.to_end.interface), &f.to_end.zone);
        let items: Vec<String> = f.ports.ranges().iter().map(|p| p.to_string()).collect();
        let head = format!(
            "#{} {}{}",
            r.number[i],
            f.protocol,
            if items.is_empty() { "" } else { "/" }
        );
        let mut label = diagram::wrap(&head, &items, ",", 44);
        label.push(r.label(i).to_string());
        arrows.push(Arrow {
            from: from[k],
            to,
            label,
            title: format!(
                "#{} {}: {} \u{2192} {} {}",
                r.number[i],
                f.id,
                end_label(&f.from, &f.from_end.interface),
                end_label(&f.to, &f.to_end.interface),
                proto_ports(f)
            ),
            href: Some(format!("#flow-{}", r.number[i])),
        });
    }
    let columns = ends
        .into_iter()
        .zip(zone_of)
        .map(|(title, zone)| Column {
            title,
            lines: vec![zone],
        })
        .collect();
    Ladder { columns, arrows }
}

/// The templates' context.
#[derive(Serialize)]
struct Context<'a> {
    topology: &'a str,
    description: &'a str,
    parameters: Vec<Value>,
    at_default: usize,
    group: bool,
    columns: [&'static str; 14],
    ports_column: usize,
    flows: usize,
    between: minijinja::Value,
    within: minijinja::Value,
    mermaid: Value,
    removed: &'a [crate::resolve::Removed],
    /// The overview, laid out and written when a template prints it (not past `MAX_DRAWN`
    /// arrows).
    overview: minijinja::Value,
    /// Each zone pair's view, for the first `MAX_DRAWN` pairs: `id`, `title`, `svg`.
    views: Vec<minijinja::Value>,
    /// Zone pairs in all, and between zones (the overview's arrows).
    pairs: usize,
    between_pairs: usize,
    max_drawn: usize,
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let loaded = ctx.loaded;
    let topo = &loaded.topology;
    let res = &loaded.resolution;
    let nets = Arc::new(NetTexts::of(&res.flows));
    let r = Arc::new(Review::new(topo, &loaded.catalogue, &res.flows));
    let group = ctx.opts.group;
    let params: Vec<Value> = res
        .parameters
        .iter()
        .filter(|p| p.set)
        .map(|p| json!({"name": p.name, "value": p.value.to_string(), "default": p.default.to_string()}))
        .collect();
    let lines = |flows: &[usize]| -> minijinja::Value {
        let lines = Arc::new(r.lines(flows, group));
        let (r, nets) = (r.clone(), nets.clone());
        super::lazy_list(lines.len(), move |k| {
            minijinja::Value::from_serialize(line_ctx(&r, &nets, k, &lines[k]))
        })
    };
    let views = r
        .pairs
        .iter()
        .take(MAX_DRAWN)
        .enumerate()
        .map(|(k, p)| {
            let title = if p.within() {
                format!("within {}", p.from_zone)
            } else {
                format!("{} \u{2192} {}", p.from_zone, p.to_zone)
            };
            let (r2, k2) = (r.clone(), k);
            // Flows between zones come first, so a pair's index is its overview arrow's.
            let id = if p.within() {
                format!("within-{}", p.from_zone)
            } else {
                format!("pair-{k}")
            };
            let svg_id = format!("view-{k}");
            let svg = super::streamed_text(move |out| {
                pair_view(&r2, &r2.pairs[k2]).write_svg(&svg_id, out)
            });
            minijinja::context! {
                id => id,
                title => title,
                flows => p.flows.len(),
                services => r.main_services(&p.flows).iter().map(|(s, c)| format!("{s} ({c})")).collect::<Vec<_>>().join(", "),
                svg => svg,
            }
        })
        .collect();
    let v = {
        let r2 = r.clone();
        Context {
            topology: &topo.name,
            description: &topo.description,
            parameters: params,
            at_default: res.parameters.iter().filter(|p| !p.set).count(),
            group,
            columns: COLUMNS,
            ports_column: PORTS,
            flows: res.flows.len(),
            between: lines(r.between_zones()),
            within: lines(r.within_zones()),
            mermaid: mermaid(&r),
            removed: &res.removed,
            overview: super::streamed_text(move |out| overview(&r2).write_svg("overview", out)),
            views,
            pairs: r.pairs.len(),
            between_pairs: between_pairs(&r).count(),
            max_drawn: MAX_DRAWN,
        }
    };
    // The workbook (its cells and their compression, the costliest file) is made beside the
    // text files; each text file is written as it is made, never held whole.
    let previous = ctx.opts.previous.as_deref();
    std::thread::scope(|s| {
        let book = s.spawn(|| super::workbook::build(loaded, previous, &r, &nets));
        let texts = (|| {
            ctx.write(&format!("{}.md", topo.name), |w| {
                ctx.renderer.render_ser_to("matrix.md.j2", &v, w)
            })?;
            ctx.write(&format!("{}.csv", topo.name), |w| write_csv(&r, &nets, w))?;
            ctx.write(&format!("{}.html", topo.name), |w| {
                ctx.renderer.render_ser_to("matrix.html.j2", &v, w)
            })
        })();
        let book = book
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        texts?;
        let book = book?;
        ctx.write(&format!("{}.xlsx", topo.name), |w| Ok(w.write_all(&book)?))
    })?;
    Ok(Vec::new())
}

/// The matrix as CSV, in the review's order, written row by row.
fn write_csv(r: &Review, nets: &NetTexts, w: &mut dyn std::io::Write) -> Result<()> {
    super::flows::write_rows(w, &COLUMNS, &r.order, |out, _, &i| {
        push_row(out, cells(r.number[i], &r.flows[i], nets))
    })
}

/// Sites of the flows, in first-seen order (for summaries).
pub fn sites(r: &Review, flows: &[usize]) -> String {
    let set: Vec<String> = flows
        .iter()
        .map(|&i| review::site_text(&r.flows[i]))
        .collect();
    let mut seen = BTreeSet::new();
    set.into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The zone pairs' summary rows: from, to, flows, main services, sites.
pub fn pair_summary(r: &Review) -> Vec<[String; 5]> {
    r.pairs
        .iter()
        .map(|p| {
            let services: Vec<String> = r
                .main_services(&p.flows)
                .iter()
                .map(|(s, c)| format!("{s} ({c})"))
                .collect();
            [
                p.from_zone.clone(),
                p.to_zone.clone(),
                p.flows.len().to_string(),
                services.join(", "),
                sites(r, &p.flows),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_lists_are_short() {
        assert_eq!(number_list(vec![3, 5, 6, 7, 8, 12, 13]), "3, 5-8, 12, 13");
        assert_eq!(number_list(vec![1]), "1");
    }
}
