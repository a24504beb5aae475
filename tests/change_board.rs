//! What a change board reads (issue 22): `diff` says why each flow changed, the workbook read
//! back by a real reader, the diagrams measured in a real browser, the Mermaid block within
//! GitHub's limits, and the grouped view.

mod common;

use std::path::{Path, PathBuf};

use common::tools;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn two_site() -> String {
    std::fs::read_to_string(common::root().join("topologies/two-site.toml")).unwrap()
}

/// The two-site example changed the ways a change request changes a site: a parameter
/// (EDT off), a parameter that gives ports (the SQL instance's), a component removed (hq's
/// FAS), a component's addresses (dr's domain controller), an addition and a removal.
fn two_site_changed() -> String {
    let t = two_site();
    let replace = |t: String, a: &str, b: &str| {
        assert!(t.contains(a), "{a}");
        t.replace(a, b)
    };
    let t = replace(t, "xml_port = 443\n", "xml_port = 443\nedt = false\n");
    let t = replace(
        t,
        "sql_named_instance_ports = [1435]",
        "sql_named_instance_ports = [1436]",
    );
    let t = replace(
        t,
        "[components.hq-fas]\nkind = \"fas\"\nzone = \"hq-core\"\nsite = \"hq\"\nhosts = [\"10.10.10.31\", \"10.10.10.32\"]\n",
        "",
    );
    let t = replace(
        t,
        "hosts = [\"10.20.10.5\"]",
        "hosts = [\"10.20.10.5\", \"10.20.10.6\"]",
    );
    t + "\n[[additions]]\nid = \"adm-to-sql\"\nfrom = \"adm\"\nto = \"sql\"\nprotocol = \"tcp\"\nports = [1435]\npurpose = \"ADM's reporting database\"\nreason = \"CHG-42\"\n\n[[removals]]\ncatalogue = \"cvad-director-vda-ra\"\nreason = \"Help desk uses another remote tool\"\n"
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn diff_attributes_every_changed_flow_to_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "old.toml", &two_site());
    let new = write(dir.path(), "new.toml", &two_site_changed());
    let o = common::ctxfw(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes: Vec<String> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}: {}",
                c["what"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["detail"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "parameter edt: true → false",
        "parameter sql_named_instance_ports: [\"1435\"] → [\"1436\"]",
        "component removed hq-fas: fas",
        "component changed dr-dc: addresses",
        "addition added adm-to-sql: ",
        "removal added cvad-director-vda-ra: Help desk uses another remote tool",
    ] {
        assert!(
            changes.iter().any(|c| c == want),
            "{want} not in {changes:#?}"
        );
    }
    let causes = d["causes"].as_object().unwrap();
    let mut ids: Vec<(&str, &Value)> = Vec::new();
    for k in ["added", "removed", "changed"] {
        for f in d[k].as_array().unwrap() {
            let id = f["id"].as_str().unwrap();
            ids.push((id, f));
        }
    }
    assert!(
        ids.len() >= 20,
        "the variant changes many flows: {}",
        ids.len()
    );
    let why = |id: &str| -> Vec<String> {
        causes
            .get(id)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{id} has no cause"))
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    for (id, _) in &ids {
        let w = why(id);
        assert!(!w.is_empty(), "{id}");
        // The catalogue is the same on both sides: every change is the topology's.
        assert!(w.iter().all(|c| !c.starts_with("catalogue")), "{id}: {w:?}");
    }
    let has = |id: &str, cause: &str| {
        let w = why(id);
        assert!(
            w.iter().any(|c| c.starts_with(cause)),
            "{id}: {w:?} lacks {cause}"
        );
    };
    // EDT off: the users' UDP to the Gateways and the Gateways' UDP to the VDAs go.
    has("remote-users-to-hq-gw.vip-udp", "parameter edt");
    has("hq-gw.snip-to-hq-vdas-udp", "parameter edt");
    has("hq-vdas-to-hq-fas-tcp", "component removed hq-fas");
    has("hq-ddc-to-sql-tcp", "parameter sql_named_instance_ports");
    has("adm-to-sql-tcp", "addition added adm-to-sql");
    has("hq-vdas-to-dr-dc-tcp", "component changed dr-dc");
    has(
        "hq-ddc-to-hq-vdas-tcp",
        "removal added cvad-director-vda-ra",
    );

    // The same from two flows files, and in the table and the Markdown.
    let flows = |t: &Path, name: &str| {
        let o = common::ctxfw(&["flows", t.to_str().unwrap(), "--format", "json"]);
        write(dir.path(), name, &text(&o.stdout))
    };
    let (fo, fnew) = (flows(&old, "old.json"), flows(&new, "new.json"));
    let o = common::ctxfw(&[
        "diff",
        "--flows",
        fo.to_str().unwrap(),
        fnew.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let df: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(df["causes"], d["causes"]);
    assert_eq!(df["changes"], d["changes"]);
    let o = common::ctxfw(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    let table = text(&o.stdout);
    assert!(
        table.starts_with(&format!(
            "{} -> {}\n* parameter edt: true → false (",
            old.display(),
            new.display()
        )),
        "{table}"
    );
    assert!(
        table.contains("    because: parameter edt: true → false"),
        "{table}"
    );
    let o = common::ctxfw(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    let md = text(&o.stdout);
    let changes_at = md.find("#### What changed in the topology").unwrap();
    assert!(changes_at < md.find("#### Added").unwrap(), "{md}");
    assert!(md.contains("| why |"), "{md}");
}

/// Measures the page as laid out: every diagram label inside its box, inside its drawing and
/// clear of every other label and column head; one label per arrow; no port number broken
/// across lines in the tables. Writes the findings as JSON into `<pre id="geometry">`.
const MEASURE: &str = r#"<script>
(function () {
  var out = { problems: [], svgs: 0, edges: 0, labels: 0, overview_edges: 0, port_cells: 0, columns: 0 };
  function bad(what) { if (out.problems.length < 50) { out.problems.push(what); } }
  Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  Array.prototype.forEach.call(document.querySelectorAll("tr[hidden]"), function (r) { r.hidden = false; });
  function inside(a, b, slack) {
    return a.left >= b.left - slack && a.right <= b.right + slack && a.top >= b.top - slack && a.bottom <= b.bottom + slack;
  }
  function meets(a, b) {
    return a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  }
  Array.prototype.forEach.call(document.querySelectorAll("svg.ladder"), function (svg) {
    out.svgs++;
    var box = svg.getBoundingClientRect();
    var heads = [];
    Array.prototype.forEach.call(svg.querySelectorAll("g.column"), function (g) {
      out.columns++;
      var r = g.querySelector("rect").getBoundingClientRect();
      heads.push(r);
      Array.prototype.forEach.call(g.querySelectorAll("text"), function (t) {
        if (!inside(t.getBoundingClientRect(), r, 1)) { bad(svg.id + ": column text cut: " + t.textContent); }
      });
    });
    var labels = [];
    Array.prototype.forEach.call(svg.querySelectorAll("g.edge"), function (e) {
      out.edges++;
      if (svg.id === "overview") { out.overview_edges++; }
      var ls = e.querySelectorAll("g.edge-label");
      var ps = e.querySelectorAll("path.edge-line");
      if (ls.length !== 1 || ps.length !== 1) { bad(svg.id + ": edge " + e.getAttribute("data-edge") + " has " + ls.length + " labels, " + ps.length + " lines"); }
      Array.prototype.forEach.call(ls, function (l) {
        out.labels++;
        var bg = l.querySelector("rect").getBoundingClientRect();
        var t = l.querySelector("text");
        var tr = t.getBoundingClientRect();
        if (t.textContent.indexOf("\u2026") !== -1) { bad(svg.id + ": ellipsis in " + t.textContent); }
        if (!inside(tr, bg, 1)) { bad(svg.id + ": label overflows its box: " + t.textContent + " " + JSON.stringify([tr.left, tr.right, bg.left, bg.right])); }
        if (!inside(bg, box, 0.5)) { bad(svg.id + ": label cut by the drawing's edge: " + t.textContent); }
        labels.push([bg, t.textContent]);
      });
    });
    for (var i = 0; i < labels.length; i++) {
      for (var j = i + 1; j < labels.length; j++) {
        if (meets(labels[i][0], labels[j][0])) { bad(svg.id + ": labels overlap: " + labels[i][1] + " / " + labels[j][1]); }
      }
      heads.forEach(function (h) {
        if (meets(labels[i][0], h)) { bad(svg.id + ": label over a column head: " + labels[i][1]); }
      });
    }
  });
  Array.prototype.forEach.call(document.querySelectorAll("td.ports"), function (td) {
    out.port_cells++;
    var walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode())) {
      var re = /\d+(-\d+)?/g, m;
      while ((m = re.exec(node.data))) {
        var range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        var tops = {};
        Array.prototype.forEach.call(range.getClientRects(), function (r) { if (r.width > 0) { tops[Math.round(r.top)] = 1; } });
        if (Object.keys(tops).length > 1) { bad("port broken across lines: " + m[0] + " in " + td.textContent); }
      }
    }
  });
  var pre = document.createElement("pre");
  pre.id = "geometry";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}());
</script>"#;

/// The findings of [`MEASURE`] on `html` (the page as ctxfw wrote it, plus the script).
fn measure(browser: &Path, html: &str, width: u32) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let page = html.replace("</body>", &format!("{MEASURE}\n</body>"));
    let p = write(dir.path(), "page.html", &page);
    let dom = tools::chromium_dom(browser, &p, width);
    let start = dom
        .find("<pre id=\"geometry\">")
        .expect("the measuring script ran")
        + 19;
    let json = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    let json = json
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// The matrix HTML of a topology, and its flows JSON.
fn matrix_html(topology: &Path, group: bool) -> (String, Value) {
    let loaded = ctxfw::load(topology, None).unwrap();
    let r = ctxfw::render::Renderer::new(None).unwrap();
    let opts = ctxfw::generate::Options {
        group,
        ..Default::default()
    };
    let files = ctxfw::generate::generate(
        &loaded,
        &r,
        &opts,
        &ctxfw::generate::select("matrix").unwrap(),
    )
    .unwrap();
    let html = files
        .into_iter()
        .find(|f| f.name.ends_with(".html"))
        .unwrap()
        .content;
    (
        html,
        ctxfw::render::flows::json(&loaded.topology, &loaded.resolution),
    )
}

/// The diagrams of the 200-flow two-site example, as Chromium lays them out: no label cut or
/// covered, every arrow labelled once, one arrow per zone pair in the overview, no port broken
/// inside a number; and of the other examples, grouped or not, at two widths.
#[test]
fn diagrams_stay_readable_at_200_flows_in_a_browser() {
    let Some(browser) = tools::chromium("diagrams_stay_readable_at_200_flows_in_a_browser") else {
        return;
    };
    let mut pages = Vec::new();
    for path in common::example_topologies() {
        for group in [false, true] {
            pages.push((path.clone(), group));
        }
    }
    for (path, group) in pages {
        let (html, flows) = matrix_html(&path, group);
        let flows = flows["flows"].as_array().unwrap();
        let pairs: std::collections::BTreeSet<(&str, &str)> = flows
            .iter()
            .filter(|f| f["from_zone"] != f["to_zone"])
            .map(|f| {
                (
                    f["from_zone"].as_str().unwrap(),
                    f["to_zone"].as_str().unwrap(),
                )
            })
            .collect();
        let two_site = path.ends_with("two-site.toml");
        if two_site {
            assert!(flows.len() >= 200, "{} flows", flows.len());
        }
        for width in if two_site && !group {
            vec![1280, 1920]
        } else {
            vec![1280]
        } {
            let m = measure(&browser, &html, width);
            let what = format!("{} (group {group}, {width} px)", path.display());
            assert_eq!(m["problems"], serde_json::json!([]), "{what}");
            assert_eq!(
                m["overview_edges"].as_u64().unwrap() as usize,
                pairs.len(),
                "{what}"
            );
            // The overview and one view per zone pair (and per zone with flows within it).
            let svgs = m["svgs"].as_u64().unwrap() as usize;
            assert!(svgs > pairs.len(), "{what}: {svgs} drawings");
            // Every flow is one arrow of its pair's view, besides the overview's.
            assert_eq!(
                m["edges"].as_u64().unwrap() as usize,
                flows.len() + pairs.len(),
                "{what}"
            );
            assert_eq!(m["labels"], m["edges"], "{what}");
            assert!(
                m["port_cells"].as_u64().unwrap() as usize >= flows.len(),
                "{what}"
            );
        }
    }
}

const READ_WORKBOOK: &str = r#"
import csv, json, sys
import openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"sheets": wb.sheetnames, "formulas": 0}
for ws in wb.worksheets:
    for row in ws.iter_rows():
        for c in row:
            if c.data_type == "f":
                out["formulas"] += 1
flows = wb["Flows"]
out["freeze"] = flows.freeze_panes
out["filter"] = flows.auto_filter.ref
out["widths"] = {k: v.width for k, v in flows.column_dimensions.items()}
rows = [[("" if c is None else str(c)) for c in r] for r in flows.iter_rows(values_only=True)]
with open(sys.argv[2], newline="", encoding="utf-8") as f:
    out["same_as_csv"] = rows == list(csv.reader(f))
out["rows"] = len(rows)
# How each column's cells are aligned below the header: vertical, wrapped.
align = {}
for r in flows.iter_rows(min_row=2):
    for c in r:
        align.setdefault(c.column_letter, set()).add((c.alignment.vertical, bool(c.alignment.wrap_text)))
out["align"] = {k: sorted(list(x) for x in v) for k, v in align.items()}
summary = [[c for c in r if c is not None] for r in wb["Summary"].iter_rows(values_only=True)]
out["summary"] = [r for r in summary if r]
print(json.dumps(out))
"#;

/// The workbook as a spreadsheet program reads it (openpyxl): two sheets, the flows sheet with
/// a frozen header, a filter over every row and set widths, its cells the CSV's cells exactly
/// (order, text, formula guard), no formula anywhere; the summary with the zone pairs and,
/// with --previous, what changed since and why.
#[test]
fn the_workbook_reads_back_as_the_csv_with_a_summary() {
    let Some(py) = tools::python(
        "the_workbook_reads_back_as_the_csv_with_a_summary",
        "openpyxl",
        "openpyxl",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "old.toml", &two_site());
    // The same name as the example: one topology in two versions.
    let new = write(dir.path(), "two-site.toml", &two_site_changed());
    let out = dir.path().join("out");
    let o = common::ctxfw(&[
        "generate",
        new.to_str().unwrap(),
        "--target",
        "matrix",
        "--previous",
        old.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let script = write(dir.path(), "read.py", READ_WORKBOOK);
    let r = std::process::Command::new(&py)
        .arg(&script)
        .arg(out.join("two-site.xlsx"))
        .arg(out.join("two-site.csv"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", text(&r.stderr));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["sheets"], serde_json::json!(["Summary", "Flows"]));
    assert_eq!(v["formulas"], 0);
    assert_eq!(v["freeze"], "A2");
    let rows = v["rows"].as_u64().unwrap();
    assert!(rows > 150, "{rows}");
    assert_eq!(v["filter"], format!("A1:N{rows}"));
    assert_eq!(v["same_as_csv"], true);
    assert!(v["widths"]["L"].as_f64().unwrap() > 50.0, "{}", v["widths"]);
    // Every cell top-aligned (rows grow with wrapped texts); texts wrap in the address,
    // purpose, source and reason columns, never in ids or port lists.
    for (col, a) in v["align"].as_object().unwrap() {
        let wraps = ["G", "I", "L", "M", "N"].contains(&col.as_str());
        assert_eq!(a, &serde_json::json!([["top", wraps]]), "column {col}");
    }
    let summary: Vec<String> = v["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    let has = |s: &str| summary.iter().any(|l| l.starts_with(s));
    assert!(has("Firewall change request | two-site"), "{summary:#?}");
    assert!(has("hq-dmz | hq-core | "), "{summary:#?}");
    assert!(
        has(&format!("Changes since {}: ", old.display())),
        "{summary:#?}"
    );
    assert!(has("parameter | edt | true → false"), "{summary:#?}");
    assert!(
        summary.iter().any(
            |l| l.starts_with("flow removed | remote-users-to-hq-gw.vip-udp")
                && l.ends_with("parameter edt: true → false")
        ),
        "{summary:#?}"
    );
}

/// Past `MAX_DRAWN` zone pairs the page draws neither the overview nor more component views,
/// and says so; the tables still hold every flow. 260 zones, each a VDA reaching the next
/// zone's Delivery Controller: 259 pairs between zones.
#[test]
fn drawings_stop_at_their_bound_and_say_so() {
    let n = 260;
    let mut t = String::from("name = \"wide\"\n");
    for i in 0..n {
        t.push_str(&format!(
            "[zones.z{i}]\ncidrs = [\"10.{}.{}.0/24\"]\n[components.vda{i}]\nkind = \"vda\"\nzone = \"z{i}\"\nhosts = [\"10.{}.{}.1\"]\n",
            i / 256, i % 256, i / 256, i % 256
        ));
    }
    for i in 1..n {
        t.push_str(&format!(
            "[[additions]]\nid = \"a{i}\"\nfrom = \"vda{}\"\nto = \"vda{i}\"\nprotocol = \"tcp\"\nports = [80]\npurpose = \"p{i}\"\nreason = \"r{i}\"\n",
            i - 1
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "wide.toml", &t);
    let (html, flows) = matrix_html(&path, false);
    let between = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["from_zone"] != f["to_zone"])
        .map(|f| (f["from_zone"].to_string(), f["to_zone"].to_string()))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(between > ctxfw::render::matrix::MAX_DRAWN, "{between}");
    assert!(!html.contains("id=\"overview\""), "the overview is drawn");
    let note = format!("Not drawn: this topology has {between} zone pairs with flows between them");
    assert!(
        html.contains(&note),
        "{note}\n{}",
        html.find("Not drawn")
            .map_or("no note", |i| &html[i..i + 120])
    );
    assert_eq!(
        html.matches("<details class=\"view\"").count(),
        ctxfw::render::matrix::MAX_DRAWN
    );
    assert!(html.contains("Views are drawn for the first 200 of"));
    // Every flow keeps its row.
    for f in flows["flows"].as_array().unwrap() {
        assert!(html.contains(&format!(">{}<", f["id"].as_str().unwrap())));
    }
}
