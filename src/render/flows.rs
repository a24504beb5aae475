//! The resolved flows as JSON (the contract), a terminal table, CSV and Markdown.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

use crate::flow::Flow;
use crate::resolve::Resolution;
use crate::topology::Topology;

use super::Renderer;

/// `from` as a reader names it: `netscaler.snip (dmz)`.
pub fn end_label(name: &str, iface: &Option<impl AsRef<str>>) -> String {
    match iface {
        Some(i) => [name, ".", i.as_ref()].concat(),
        None => name.to_string(),
    }
}

/// Networks as text, space-separated (`10.0.0.0/24 10.0.1.5/32`), for tables and messages.
pub fn join_nets(v: &[ipnet::IpNet]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(20 * v.len());
    for (i, n) in v.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write!(out, "{n}").expect("a String takes every write");
    }
    out
}

/// Why the flow is there: the parameters that switched it, or a topology reason.
pub fn switched_by(f: &Flow) -> String {
    let mut parts = Vec::new();
    if !f.parameters.is_empty() {
        parts.push(["parameters: ", &f.parameters.join(", ")].concat());
    }
    if let Some(r) = &f.reason {
        parts.push(["reason: ", r].concat());
    }
    parts.join("; ")
}

/// The flows contract (format doc, "Machine-readable flows") plus extra fields.
pub fn json(topo: &Topology, res: &Resolution) -> Value {
    serde_json::to_value(contract(topo, res)).expect("flows serialise")
}

/// The contract document, borrowing the resolution: serialised straight to text or to a
/// template value, never through an intermediate `serde_json::Value` of every flow.
#[derive(Serialize)]
pub struct Contract<'a> {
    topology: &'a str,
    description: &'a str,
    parameters: serde_json::Map<String, Value>,
    flows: &'a [Flow],
    removed: &'a [crate::resolve::Removed],
}

pub fn contract<'a>(topo: &'a Topology, res: &'a Resolution) -> Contract<'a> {
    Contract {
        topology: &topo.name,
        description: &topo.description,
        parameters: res
            .parameters
            .iter()
            .map(|p| (p.name.clone(), p.value.to_json()))
            .collect(),
        flows: &res.flows,
        removed: &res.removed,
    }
}

/// The Markdown template's context: the contract's fields (flows read one by one) plus display
/// helpers computed in Rust.
#[derive(Serialize)]
pub struct Context<'a> {
    topology: &'a str,
    description: &'a str,
    parameters: serde_json::Map<String, Value>,
    /// The flows, each made a template value when the template reaches it.
    flows: minijinja::Value,
    removed: &'a [crate::resolve::Removed],
    /// One display row per flow (`n`, `from`, `to`, `ports`, `switch` and the flow's texts a
    /// table prints), made on demand too.
    rows: minijinja::Value,
    parameter_list: Vec<Value>,
    warnings: Vec<&'a str>,
}

/// One display row of `flows.md`: the texts a table row prints, made when the template asks
/// for them, rather than each flow serialised whole for the six fields a row prints.
#[derive(Debug)]
struct Row {
    flows: std::sync::Arc<Vec<Flow>>,
    i: usize,
}

impl Row {
    const KEYS: &'static [&'static str] = &[
        "n",
        "from",
        "from_zone",
        "to",
        "to_zone",
        "to_fqdns",
        "protocol",
        "ports",
        "purpose",
        "source",
        "switch",
    ];
}

impl minijinja::value::Object for Row {
    fn get_value(self: &std::sync::Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        use minijinja::Value;
        let f = &self.flows[self.i];
        Some(match key.as_str()? {
            "n" => Value::from(self.i + 1),
            "from" => end_label(&f.from, &f.from_end.interface).into(),
            "from_zone" => Value::from(f.from_end.zone.clone()),
            "to" => end_label(&f.to, &f.to_end.interface).into(),
            "to_zone" => Value::from(f.to_end.zone.clone()),
            "to_fqdns" => Value::from_serialize(&f.to_fqdns),
            "protocol" => Value::from_serialize(f.protocol),
            "ports" => f.ports.text().into(),
            "purpose" => Value::from(f.purpose.clone()),
            "source" => Value::from(f.source.clone()),
            "switch" => switched_by(f).into(),
            _ => return None,
        })
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(Self::KEYS)
    }
}

/// The Markdown template's context.
pub fn template_context<'a>(topo: &'a Topology, res: &'a Resolution) -> Context<'a> {
    let parameter_list: Vec<Value> = res
        .parameters
        .iter()
        .map(|p| json!({"name": p.name, "value": p.value.to_string(), "default": p.default.to_string(), "set": p.set}))
        .collect();
    let contract = contract(topo, res);
    Context {
        topology: contract.topology,
        description: contract.description,
        parameters: contract.parameters,
        flows: {
            let flows = res.flows.clone();
            super::lazy_list(flows.len(), move |i| {
                minijinja::Value::from_serialize(&flows[i])
            })
        },
        removed: contract.removed,
        rows: {
            let flows = res.flows.clone();
            super::lazy_list(flows.len(), move |i| {
                minijinja::Value::from_object(Row {
                    flows: flows.clone(),
                    i,
                })
            })
        },
        parameter_list,
        warnings: res.warnings.iter().map(|w| w.message.as_str()).collect(),
    }
}

pub fn markdown(r: &Renderer, topo: &Topology, res: &Resolution) -> Result<String> {
    super::into_string(|w| write_markdown(r, topo, res, w))
}

pub fn write_markdown(
    r: &Renderer,
    topo: &Topology,
    res: &Resolution,
    w: &mut dyn Write,
) -> Result<()> {
    r.render_ser_to("flows.md.j2", &template_context(topo, res), w)
}

pub fn json_text(topo: &Topology, res: &Resolution) -> String {
    super::into_string(|w| write_json(topo, res, w)).expect("flows serialise")
}

/// The contract's JSON, written as it is serialised: never held whole in memory.
pub fn write_json(topo: &Topology, res: &Resolution, w: &mut dyn Write) -> Result<()> {
    let mut w = std::io::BufWriter::new(w);
    serde_json::to_writer_pretty(&mut w, &contract(topo, res))?;
    w.write_all(b"\n")?;
    Ok(w.flush()?)
}

const CSV_HEADER: [&str; 14] = [
    "id",
    "from_zone",
    "from",
    "from_addresses",
    "to_zone",
    "to",
    "to_addresses",
    "to_fqdns",
    "protocol",
    "ports",
    "purpose",
    "source",
    "parameters",
    "reason",
];

pub fn csv(res: &Resolution) -> String {
    super::into_string(|w| write_csv(res, w)).expect("CSV writes")
}

/// The flows as CSV, written row by row.
pub fn write_csv(res: &Resolution, w: &mut dyn Write) -> Result<()> {
    write_rows(w, &CSV_HEADER, &res.flows, |out, _, f| {
        push_row(
            out,
            [
                f.id.clone(),
                f.from_end.zone.to_string(),
                end_label(&f.from, &f.from_end.interface),
                join_nets(&f.from_end.addresses),
                f.to_end.zone.to_string(),
                end_label(&f.to, &f.to_end.interface),
                join_nets(&f.to_end.addresses),
                f.to_fqdns.join(" "),
                f.protocol.to_string(),
                f.ports.text(),
                f.purpose.to_string(),
                f.source.to_string(),
                f.parameters.join(" "),
                f.reason.clone().unwrap_or_default(),
            ],
        )
    })
}

/// A CSV file: the header, then one row per item (`row` adds it with [`push_row`]), handed
/// to `w` in pieces of about 32 KB.
pub fn write_rows<T>(
    w: &mut dyn Write,
    header: &[&str],
    items: &[T],
    mut row: impl FnMut(&mut String, usize, &T),
) -> Result<()> {
    let mut out = String::new();
    push_row(&mut out, header);
    for (i, item) in items.iter().enumerate() {
        if out.len() >= 1 << 15 {
            w.write_all(out.as_bytes())?;
            out.clear();
        }
        row(&mut out, i, item);
    }
    Ok(w.write_all(out.as_bytes())?)
}

/// RFC 4180 quoting, with formulas kept out of every spreadsheet's reading: an apostrophe
/// goes before each `=`, `+`, `-`, `@`, tab or carriage return where a spreadsheet could start
/// a cell ([`cell_start`]), not only at the start of the comma-separated cell, because the
/// reader may split the line at another separator.
pub fn push_row<C: AsRef<str>>(out: &mut String, cells: impl IntoIterator<Item = C>) {
    let mut first = true;
    for c in cells {
        let c = c.as_ref();
        if !first {
            out.push(',');
        }
        first = false;
        let c = formula_guard(c);
        if c.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&c);
        }
    }
    out.push_str("\r\n");
}

/// A cell's text with an apostrophe before each `=`, `+`, `-`, `@`, tab or carriage return
/// where a spreadsheet could start a cell ([`cell_start`]): the CSV's cells and the workbook's.
pub fn formula_guard(c: &str) -> std::borrow::Cow<'_, str> {
    let b = c.as_bytes();
    if !(0..b.len()).any(|i| formula_start(b, i)) {
        return c.into();
    }
    let mut g = String::with_capacity(c.len() + 4);
    for (i, ch) in c.char_indices() {
        if formula_start(b, i) {
            g.push('\'');
        }
        g.push(ch);
    }
    g.into()
}

/// Whether byte `i` of a cell's text starts a formula: a formula character where a cell may
/// start.
fn formula_start(b: &[u8], i: usize) -> bool {
    matches!(b[i], b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') && cell_start(b, i)
}

/// Whether a spreadsheet could start a cell at byte `i` of a cell's text: at its start, or
/// after a separator it may split at (comma, semicolon in semicolon locales, tab, space, `|`),
/// a quote it may strip, or a line break a reader that does not follow the quoting sees.
fn cell_start(b: &[u8], i: usize) -> bool {
    i == 0
        || matches!(
            b[i - 1],
            b',' | b';' | b'\t' | b' ' | b'|' | b'"' | b'\n' | b'\r'
        )
}

/// An aligned table for the terminal: one line per merged flow, continuation lines for the
/// other catalogue entries merged into it (their ports and purpose).
pub fn table(res: &Resolution) -> String {
    let header = ["#", "from", "to", "proto", "ports", "purpose"];
    let mut rows: Vec<[String; 6]> = Vec::new();
    for (i, f) in res.flows.iter().enumerate() {
        for (j, p) in f.parts.iter().enumerate() {
            let purpose = if f.parts.len() > 1 {
                format!("[{}] {}", p.ports, p.purpose.replace('\n', " "))
            } else {
                p.purpose.replace('\n', " ")
            };
            rows.push(if j == 0 {
                [
                    (i + 1).to_string(),
                    format!(
                        "{} ({})",
                        end_label(&f.from, &f.from_end.interface),
                        f.from_end.zone
                    ),
                    format!(
                        "{} ({})",
                        end_label(&f.to, &f.to_end.interface),
                        f.to_end.zone
                    ),
                    f.protocol.to_string(),
                    f.ports.to_string(),
                    purpose,
                ]
            } else {
                [
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    purpose,
                ]
            });
        }
    }
    let mut width = header.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(5) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 6]| {
        for (i, c) in cells.iter().enumerate() {
            if i < 5 {
                out.push_str(c);
                out.push_str(&" ".repeat(width[i] - c.chars().count() + 2));
            } else {
                out.push_str(c);
            }
        }
        out.push('\n');
    };
    line(&mut out, header);
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    out.push_str(&format!("{} flows\n", res.flows.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_guards_formulas_wherever_a_cell_may_start() {
        let row = |cells: &[&str]| {
            let mut out = String::new();
            push_row(&mut out, cells);
            out
        };
        assert_eq!(row(&["=1+1", "plain"]), "'=1+1,plain\r\n");
        assert_eq!(row(&["x;=1+1"]), "x;'=1+1\r\n");
        assert_eq!(row(&["a\t=3", "b|@c"]), "a\t'=3,b|'@c\r\n");
        assert_eq!(row(&["reason: -2+3"]), "reason: '-2+3\r\n");
        assert_eq!(row(&["q\"=4"]), "\"q\"\"'=4\"\r\n");
        assert_eq!(row(&["l\n+5"]), "\"l\n'+5\"\r\n");
        // Where no cell can start, formula characters are text.
        assert_eq!(
            row(&["6910-6930", "a@b.example", "x=y"]),
            "6910-6930,a@b.example,x=y\r\n"
        );
    }
}
