//! `<topology>.xlsx`: the workbook change boards open. A summary sheet (the topology, the
//! parameters it sets, the flows per zone pair and, with `--previous`, what changed since that
//! version and why) and a sheet of flows in the matrix's order and columns, with a frozen
//! header, filters and column widths.
//!
//! Every text is a text cell, never a formula, and carries the CSV's formula guard so that a
//! cell copied out or saved as CSV stays text; control characters and bidirectional marks
//! (possible in an extension catalogue's text) become U+FFFD, as in the Markdown. The file holds
//! no date of its own (its document properties carry a fixed one), so the same input gives the
//! same bytes.

use std::borrow::Cow;

use anyhow::{Context, Result};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};

use super::matrix::{cells, pair_summary, NetTexts, COLUMNS};
use crate::review::{Previous, Review};
use crate::Loaded;

/// Excel's limit of characters in a cell.
const MAX_CELL: usize = 32_767;

/// Column widths of the flows sheet, in characters, in `COLUMNS` order. Port lists do not wrap
/// (a spreadsheet would break them inside a number): their column fits an AD member's list.
const WIDTHS: [f64; 14] = [
    6.0, 34.0, 14.0, 16.0, 10.0, 18.0, 26.0, 18.0, 30.0, 52.0, 14.0, 60.0, 40.0, 28.0,
];

/// A cell's text: guarded against formulas, without characters that hide text, within the
/// cell limit (a longer text is cut, and says so: the CSV has it whole).
pub fn cell_text(s: &str) -> Cow<'_, str> {
    let hides = |c: char| (c.is_control() && c != '\n' && c != '\t') || super::is_bidi(c);
    let clean: Cow<str> = if s.chars().any(hides) {
        s.chars()
            .map(|c| if hides(c) { '\u{FFFD}' } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    };
    let guarded = match clean {
        Cow::Borrowed(c) => super::flows::formula_guard(c),
        Cow::Owned(c) => super::flows::formula_guard(&c).into_owned().into(),
    };
    // Bytes bound characters: most texts are decided without counting.
    if guarded.len() <= MAX_CELL || guarded.chars().count() <= MAX_CELL {
        return guarded;
    }
    let note = " [cut: the CSV has the whole text]";
    let mut cut: String = guarded
        .chars()
        .take(MAX_CELL - note.chars().count())
        .collect();
    cut.push_str(note);
    cut.into()
}

/// Room for a wrapped text of `chars` characters in a column `width` characters wide: a
/// spreadsheet keeps the height a file gives, and the default row is one line.
fn fit_row(ws: &mut Worksheet, row: u32, chars: usize, width: usize) -> Result<()> {
    let lines = chars.div_ceil(width).max(1);
    if lines > 1 {
        ws.set_row_height(row, 15.0 * lines as f64)?;
    }
    Ok(())
}

fn text(ws: &mut Worksheet, row: u32, col: u16, s: &str, f: &Format) -> Result<()> {
    ws.write_string_with_format(row, col, cell_text(s), f)?;
    Ok(())
}

/// A cell in the workbook's default format (top-aligned): no format to look up, which the
/// library does by hashing the whole format, for every cell.
fn plain_text(ws: &mut Worksheet, row: u32, col: u16, s: &str) -> Result<()> {
    ws.write_string(row, col, cell_text(s))?;
    Ok(())
}

/// The workbook of `r`, with what changed since `previous` when given.
pub fn build(
    loaded: &Loaded,
    previous: Option<&Previous>,
    r: &Review,
    nets: &NetTexts,
) -> Result<Vec<u8>> {
    let topo = &loaded.topology;
    let mut wb = Workbook::new();
    // The library makes the Flows sheet's scratch file there: checked first, so that the error
    // names the directory and what to set.
    let tmp = std::env::temp_dir();
    let io = |e| match e {
        rust_xlsxwriter::XlsxError::IoError(e) => anyhow::Error::new(e),
        e => anyhow::Error::new(e),
    };
    wb.set_tempdir(&tmp).map_err(io).with_context(|| {
        format!(
            "the workbook is written through a temporary file, and {} is not a writable directory; set TMPDIR to one",
            tmp.display()
        )
    })?;
    // A fixed creation date: the properties would otherwise carry the time of the run.
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("Firewall change request: {}", topo.name))
            .set_creation_datetime(&ExcelDateTime::from_ymd(2000, 1, 1)?),
    );
    let formats = Formats::new();
    // Every cell is top-aligned: the default format says so once (Calibri 11's default row
    // and column sizes, 20 and 64 pixels).
    wb.set_default_format(&formats.plain, 20, 64)?;
    // Deflate level 2 instead of 6: most of saving a large workbook is compressing it, and
    // the file is only a little larger.
    wb.set_zip_compression_level(2);
    summary_sheet(&mut wb, &formats, loaded, previous, r)?;
    flows_sheet(&mut wb, &formats, r, nets)?;
    Ok(wb.save_to_buffer()?)
}

/// The cell formats the sheets share.
struct Formats {
    bold: Format,
    /// A table's header row.
    head: Format,
    /// A long text, wrapped.
    wrap: Format,
    plain: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            bold: Format::new().set_bold(),
            head: Format::new()
                .set_bold()
                .set_background_color(0xE3EBF3)
                .set_text_wrap()
                .set_align(FormatAlign::Top),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            plain: Format::new().set_align(FormatAlign::Top),
        }
    }
}

/// A table's header row at `row`.
fn header(ws: &mut Worksheet, row: u32, names: &[&str], f: &Formats) -> Result<()> {
    for (c, h) in names.iter().enumerate() {
        text(ws, row, c as u16, h, &f.head)?;
    }
    Ok(())
}

/// The summary sheet: the topology, its parameters, the flows per zone pair and, with a
/// previous version, what changed since.
fn summary_sheet(
    wb: &mut Workbook,
    f: &Formats,
    loaded: &Loaded,
    previous: Option<&Previous>,
    r: &Review,
) -> Result<()> {
    let (topo, res) = (&loaded.topology, &loaded.resolution);
    let (bold, plain) = (&f.bold, &f.plain);
    let ws = wb.add_worksheet();
    ws.set_name("Summary")?;
    ws.set_column_width(0, 26)?;
    ws.set_column_width(1, 34)?;
    ws.set_column_width(2, 30)?;
    ws.set_column_width(3, 90)?;
    ws.set_column_width(4, 40)?;
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    let mut row = 0u32;
    text(ws, row, 0, "Firewall change request", bold)?;
    text(ws, row, 1, &topo.name, bold)?;
    row += 1;
    text(ws, row, 0, "Description", plain)?;
    text(ws, row, 1, &topo.description, plain)?;
    row += 2;
    for (label, n) in [
        ("Flows", r.flows.len()),
        ("Between zones (zone firewall)", r.between),
        (
            "Within a zone (host firewalls only)",
            r.flows.len() - r.between,
        ),
    ] {
        text(ws, row, 0, label, plain)?;
        ws.write_number(row, 1, n as f64)?;
        row += 1;
    }
    row += 1;
    text(ws, row, 0, "Parameters set in the topology", bold)?;
    row += 1;
    header(ws, row, &["parameter", "value", "default"], f)?;
    row += 1;
    for p in res.parameters.iter().filter(|p| p.set) {
        text(ws, row, 0, &p.name, plain)?;
        text(ws, row, 1, &p.value.to_string(), plain)?;
        text(ws, row, 2, &p.default.to_string(), plain)?;
        row += 1;
    }
    let at_default = res.parameters.iter().filter(|p| !p.set).count();
    text(
        ws,
        row,
        0,
        &format!("{at_default} other parameters are at their catalogue defaults."),
        plain,
    )?;
    row += 2;
    text(ws, row, 0, "Flows per zone pair", bold)?;
    row += 1;
    header(
        ws,
        row,
        &[
            "source zone",
            "destination zone",
            "flows",
            "main services",
            "sites",
        ],
        f,
    )?;
    row += 1;
    for p in pair_summary(r) {
        text(ws, row, 0, &p[0], plain)?;
        text(ws, row, 1, &p[1], plain)?;
        ws.write_number(row, 2, p[2].parse::<f64>().unwrap_or(0.0))?;
        text(ws, row, 3, &p[3], plain)?;
        text(ws, row, 4, &p[4], plain)?;
        row += 1;
    }
    if let Some(prev) = previous {
        changes(ws, row + 1, f, loaded, prev)?;
    }
    Ok(())
}

/// What changed since `prev`, and why, from `row` on.
fn changes(
    ws: &mut Worksheet,
    mut row: u32,
    f: &Formats,
    loaded: &Loaded,
    prev: &Previous,
) -> Result<()> {
    let (topo, res) = (&loaded.topology, &loaded.resolution);
    let (plain, wrap) = (&f.plain, &f.wrap);
    let now = super::flows::json(topo, res);
    let d = crate::diff::cause::diff_docs(
        &prev.name,
        &prev.doc,
        &topo.file.name,
        &now,
        Some(&loaded.catalogue),
    )?;
    text(
        ws,
        row,
        0,
        &format!(
            "Changes since {}: {} flows added, {} removed, {} changed",
            prev.name,
            d.added.len(),
            d.removed.len(),
            d.changed.len()
        ),
        &f.bold,
    )?;
    row += 1;
    header(
        ws,
        row,
        &[
            "change",
            "flow or item",
            "from → to",
            "protocol/ports",
            "why",
        ],
        f,
    )?;
    row += 1;
    for c in &d.why.changes {
        text(ws, row, 0, &c.what, plain)?;
        text(ws, row, 1, &c.name, plain)?;
        text(ws, row, 4, &c.detail, wrap)?;
        fit_row(ws, row, c.detail.chars().count(), 40)?;
        row += 1;
    }
    let because = |id: &str| {
        d.why
            .causes
            .get(id)
            .map(|w| w.join("; "))
            .unwrap_or_default()
    };
    for (what, list) in [("flow added", &d.added), ("flow removed", &d.removed)] {
        for e in list {
            text(ws, row, 0, what, plain)?;
            text(ws, row, 1, &e.id, plain)?;
            text(ws, row, 2, &format!("{} → {}", e.from, e.to), plain)?;
            text(ws, row, 3, &format!("{}/{}", e.protocol, e.ports), plain)?;
            let why = because(&e.id);
            text(ws, row, 4, &why, wrap)?;
            fit_row(ws, row, why.chars().count(), 40)?;
            row += 1;
        }
    }
    for c in &d.changed {
        text(ws, row, 0, "flow changed", plain)?;
        text(ws, row, 1, &c.id, plain)?;
        text(ws, row, 2, &format!("{} → {}", c.new.from, c.new.to), plain)?;
        let (what, why) = (c.details().join("; "), because(&c.id));
        text(ws, row, 3, &what, wrap)?;
        text(ws, row, 4, &why, wrap)?;
        let lines = what
            .chars()
            .count()
            .div_ceil(90)
            .max(why.chars().count().div_ceil(40));
        fit_row(ws, row, lines, 1)?;
        row += 1;
    }
    Ok(())
}

/// The flows sheet, a row at a time through a temporary file: held whole, a large topology's
/// cells were most of the matrix target's memory. Texts go to the shared string table (zones,
/// purposes and sources repeat on every row), so each is stored and compressed once.
fn flows_sheet(wb: &mut Workbook, f: &Formats, r: &Review, nets: &NetTexts) -> Result<()> {
    let ws = wb.add_worksheet_with_low_memory()?;
    ws.set_name("Flows")?;
    header(ws, 0, &COLUMNS, f)?;
    for (c, w) in WIDTHS.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    ws.set_row_height(0, 30)?;
    for (n, &i) in r.order.iter().enumerate() {
        let row = n as u32 + 1;
        let cs = cells(r.number[i], &r.flows[i], nets);
        ws.write_number(row, 0, r.number[i] as f64)?;
        let mut lines = 1;
        for (c, v) in cs.iter().enumerate().skip(1) {
            if c >= 11 || c == 6 || c == 8 {
                text(ws, row, c as u16, v, &f.wrap)?;
                lines = lines.max(v.chars().count().div_ceil(WIDTHS[c] as usize - 2));
            } else {
                plain_text(ws, row, c as u16, v)?;
            }
        }
        fit_row(ws, row, lines, 1)?;
    }
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, r.order.len() as u32, COLUMNS.len() as u16 - 1)?;
    // Printed for the board: landscape, one page wide, the header on every page.
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(0, 0)?;
    Ok(())
}
