//! The matrix's diagrams as inline SVG, drawn here (no Graphviz, no script needed to read
//! them): ladder diagrams, as engineers draw packet flows. Each column is a zone (the
//! overview) or a component (a zone pair's view), each arrow has a row of its own with its
//! label above it, so no label covers another however many there are, and none is cut: the
//! drawing grows to fit the longest. Long port lists break only after a comma, never inside
//! a number. Text is monospaced so its width is known here.

use super::xml_escape;

/// One column: a title and lines under it.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    pub lines: Vec<String>,
}

/// One arrow between two columns (the same one for traffic within it), with its label lines.
#[derive(Debug, Clone)]
pub struct Arrow {
    pub from: usize,
    pub to: usize,
    pub label: Vec<String>,
    /// The tooltip: the whole story of the arrow.
    pub title: String,
    /// Where a click on the arrow leads (`#id` in the same page).
    pub href: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Ladder {
    pub columns: Vec<Column>,
    pub arrows: Vec<Arrow>,
}

/// Width of a character of the labels (12 px monospace: 0.6 em, rounded up; DejaVu Sans Mono's
/// 0.602 em is the widest common one, and tests/change_board.rs measures it in Chromium).
const CHAR_W: f64 = 7.5;
/// Width of a character of the column titles (13 px bold monospace).
const TITLE_W: f64 = 8.2;
const LINE_H: f64 = 15.0;
const MARGIN: f64 = 16.0;
const MIN_GAP: f64 = 150.0;
const LOOP_W: f64 = 36.0;
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

/// `items` joined by `sep` into lines of at most `max` characters where possible, each line
/// broken only after a separator (a port list never breaks inside a number); the first line
/// starts with `prefix`.
pub fn wrap(prefix: &str, items: &[String], sep: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = prefix.to_string();
    let mut fresh = true;
    for (i, it) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{it}{sep}")
        } else {
            it.clone()
        };
        let len = line.chars().count() + piece.trim_end().chars().count();
        if !fresh && len > max {
            lines.push(line.trim_end().to_string());
            line = String::new();
        }
        line.push_str(&piece);
        fresh = false;
    }
    lines.push(line.trim_end().to_string());
    lines
}

fn text_w(s: &str, w: f64) -> f64 {
    s.chars().count() as f64 * w
}

impl Ladder {
    /// The drawing, as one `<svg>` element inside an HTML page (which needs no namespace);
    /// `id` names it in the page.
    pub fn write_svg(&self, id: &str, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        let n = self.columns.len();
        // Column widths and centres: titles fit their box, neighbours at least MIN_GAP apart.
        let widths: Vec<f64> = self
            .columns
            .iter()
            .map(|c| {
                let t = text_w(&c.title, TITLE_W);
                let l = c
                    .lines
                    .iter()
                    .map(|l| text_w(l, CHAR_W))
                    .fold(0.0, f64::max);
                t.max(l) + 20.0
            })
            .collect();
        let mut centre = Vec::with_capacity(n);
        let mut x = MARGIN;
        for (i, w) in widths.iter().enumerate() {
            if i == 0 {
                x += w / 2.0;
            } else {
                x += (widths[i - 1] / 2.0 + w / 2.0 + 24.0).max(MIN_GAP);
            }
            centre.push(x);
        }
        let head_lines = self
            .columns
            .iter()
            .map(|c| c.lines.len())
            .max()
            .unwrap_or(0);
        let head_h = 26.0 + head_lines as f64 * LINE_H + 8.0;
        let mut right = centre
            .last()
            .map_or(2.0 * MARGIN, |c| c + widths[n - 1] / 2.0)
            + MARGIN;

        // Arrow rows: label lines, then the arrow (and a loop's drop).
        struct Placed {
            y_label: f64,
            y_arrow: f64,
            label_x: f64,
            label_w: f64,
            x1: f64,
            x2: f64,
        }
        let mut placed = Vec::with_capacity(self.arrows.len());
        let mut y = MARGIN + head_h + 18.0;
        for a in &self.arrows {
            let (x1, x2) = (centre[a.from], centre[a.to]);
            let label_w = a
                .label
                .iter()
                .map(|l| text_w(l, CHAR_W))
                .fold(0.0, f64::max)
                + 10.0;
            let label_h = a.label.len() as f64 * LINE_H + 4.0;
            let label_x = if a.from == a.to {
                x1 + LOOP_W + 8.0
            } else {
                ((x1 + x2) / 2.0 - label_w / 2.0).max(MARGIN)
            };
            right = right.max(label_x + label_w + MARGIN);
            let y_arrow = y + label_h + 6.0;
            placed.push(Placed {
                y_label: y,
                y_arrow,
                label_x,
                label_w,
                x1,
                x2,
            });
            y = y_arrow + if a.from == a.to { 14.0 } else { 0.0 } + 16.0;
        }
        let height = y + MARGIN;
        let width = right.ceil();
        writeln!(
            out,
            "<svg id=\"{id}\" class=\"ladder\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" font-family=\"{FONT}\" role=\"img\">"
        )?;
        writeln!(
            out,
            "<defs><marker id=\"{id}-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#2f4f6f\"/></marker></defs>"
        )?;
        // Lifelines first, then the column heads over them.
        for (i, c) in self.columns.iter().enumerate() {
            let (cx, w) = (centre[i], widths[i]);
            writeln!(
                out,
                "<line class=\"lifeline\" x1=\"{cx}\" y1=\"{}\" x2=\"{cx}\" y2=\"{}\" stroke=\"#9fb3c8\" stroke-dasharray=\"4 3\"/>",
                MARGIN + head_h,
                height - MARGIN
            )?;
            write!(
                out,
                "<g class=\"column\"><rect x=\"{}\" y=\"{MARGIN}\" width=\"{w}\" height=\"{head_h}\" rx=\"6\" fill=\"#eef3f8\" stroke=\"#5b7a99\"/><text class=\"title\" x=\"{cx}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#1c3550\">{}</text>",
                cx - w / 2.0,
                MARGIN + 20.0,
                xml_escape(&c.title)
            )?;
            for (j, l) in c.lines.iter().enumerate() {
                write!(
                    out,
                    "<text class=\"sub\" x=\"{cx}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#34495e\">{}</text>",
                    MARGIN + 20.0 + (j + 1) as f64 * LINE_H,
                    xml_escape(l)
                )?;
            }
            out.write_str("</g>\n")?;
        }
        for (k, (a, p)) in self.arrows.iter().zip(&placed).enumerate() {
            let d = if a.from == a.to {
                format!("M{},{} h{LOOP_W} v14 h-{LOOP_W}", p.x1, p.y_arrow)
            } else {
                format!("M{},{} H{}", p.x1, p.y_arrow, p.x2)
            };
            if let Some(h) = &a.href {
                write!(out, "<a href=\"{}\">", xml_escape(h))?;
            }
            write!(
                out,
                "<g class=\"edge\" data-edge=\"{k}\"><title>{}</title><path class=\"edge-line\" d=\"{d}\" fill=\"none\" stroke=\"#2f4f6f\" stroke-width=\"1.6\" marker-end=\"url(#{id}-arrow)\"/><g class=\"edge-label\" data-edge=\"{k}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"#fffbe6\" stroke=\"#c9b458\" stroke-width=\"0.6\"/><text font-size=\"12\" fill=\"#263238\">",
                xml_escape(&a.title),
                p.label_x,
                p.y_label,
                p.label_w,
                a.label.len() as f64 * LINE_H + 4.0,
            )?;
            for (j, l) in a.label.iter().enumerate() {
                write!(
                    out,
                    "<tspan x=\"{}\" y=\"{}\">{}</tspan>",
                    p.label_x + 5.0,
                    p.y_label + (j + 1) as f64 * LINE_H - 2.0,
                    xml_escape(l)
                )?;
            }
            out.write_str("</text></g></g>")?;
            if a.href.is_some() {
                out.write_str("</a>")?;
            }
            out.write_str("\n")?;
        }
        out.write_str("</svg>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_only_after_a_separator() {
        let items: Vec<String> = ["53", "88", "135", "389", "445", "464", "49152-65535"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let lines = wrap("tcp/", &items, ",", 16);
        assert_eq!(lines, ["tcp/53,88,135,", "389,445,464,", "49152-65535"]);
        // An item longer than a line stays whole.
        assert_eq!(wrap("", &items[6..], ",", 3), ["49152-65535"]);
        assert_eq!(wrap("x ", &[], ",", 3), ["x"]);
    }

    #[test]
    fn every_arrow_has_one_label_and_the_drawing_fits_it() {
        let l = Ladder {
            columns: vec![
                Column {
                    title: "a".into(),
                    lines: vec![],
                },
                Column {
                    title: "b".into(),
                    lines: vec!["10.0.0.0/8".into()],
                },
            ],
            arrows: vec![
                Arrow {
                    from: 0,
                    to: 1,
                    label: vec!["x".repeat(300)],
                    title: "t".into(),
                    href: None,
                },
                Arrow {
                    from: 1,
                    to: 1,
                    label: vec!["<loop>".into()],
                    title: "t".into(),
                    href: Some("#p".into()),
                },
            ],
        };
        let mut s = String::new();
        l.write_svg("d", &mut s).unwrap();
        assert_eq!(s.matches("class=\"edge-label\"").count(), 2);
        assert!(s.contains("&lt;loop&gt;"));
        let width: f64 = s
            .split("width=\"")
            .nth(1)
            .and_then(|w| w.split('"').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(width >= 300.0 * CHAR_W, "{width}");
    }
}
