//! Text that means something to an output's reader stays text: each test puts one kind of
//! hostile free text into a topology and its extension catalogue, and checks the output with
//! the program that reads it (aclgen's Juniper and SRX configurations, a CSV reader with every
//! separator a spreadsheet offers, a CommonMark/GFM parser, the terminal's view of the CLI),
//! against the same topology with plain text where that applies.

mod common;

use common::{s, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The free-text fields that reach outputs: the topology's and zones' descriptions, an
/// addition's purpose and reason, a removal's reason, a catalogue flow's purpose and source.
#[derive(Clone)]
struct Texts {
    description: String,
    zone: String,
    component: String,
    purpose: String,
    reason: String,
    removal: String,
    cat_purpose: String,
    cat_source: String,
    /// The name of a parameter the extension catalogue defines.
    param: String,
}

impl Texts {
    fn plain() -> Texts {
        Texts {
            description: "Topology description".into(),
            zone: "Zone description".into(),
            component: "Component description".into(),
            purpose: "Break-glass SSH".into(),
            reason: "Change 1234".into(),
            removal: "Not used here".into(),
            cat_purpose: "The app queries the database".into(),
            cat_source: "Escaping test fixture".into(),
            param: "esc_port".into(),
        }
    }
}

/// A TOML string holding `s` exactly.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A topology (`esc.toml`) and its extension catalogue (`cat/`) in a temporary directory.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new(t: &Texts) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("cat")).unwrap();
        std::fs::write(
            root.join("cat/esc.toml"),
            format!(
                r#"[family]
id = "esc"
title = "Escaping test family"

[parameters.{}]
type = "int"
default = 8080
description = "A parameter no flow uses"
source = "Escaping test fixture"

[components.esc-app]
name = "Test application"
platform = "linux"

[components.esc-db]
name = "Test database"
platform = "linux"

[[flows]]
id = "esc-app-db"
from = "esc-app"
to = "esc-db"
protocol = "tcp"
ports = [5432]
purpose = {}
source = {}

[[flows]]
id = "esc-db-app"
from = "esc-db"
to = "esc-app"
protocol = "udp"
ports = [514]
purpose = "Database logs to the application"
source = "Escaping test fixture"
"#,
                q(&t.param),
                q(&t.cat_purpose),
                q(&t.cat_source)
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("esc.toml"),
            format!(
                r#"name = "esc"
description = {}

[zones.a]
cidrs = ["10.0.0.0/24"]
description = {}

[zones.b]
cidrs = ["10.0.1.0/24"]

[components.app]
kind = "esc-app"
zone = "a"
hosts = ["10.0.0.5"]
description = {}

[components.db]
kind = "esc-db"
zone = "b"
hosts = ["10.0.1.5"]

[[additions]]
id = "ssh"
from = "app"
to = "db"
protocol = "tcp"
ports = [22]
purpose = {}
reason = {}

[[removals]]
catalogue = "esc-db-app"
reason = {}
"#,
                q(&t.description),
                q(&t.zone),
                q(&t.component),
                q(&t.purpose),
                q(&t.reason),
                q(&t.removal)
            ),
        )
        .unwrap();
        Fixture { _dir: dir, root }
    }

    fn topology(&self) -> PathBuf {
        self.root.join("esc.toml")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(common::bin())
            .arg("--catalogue")
            .arg(self.root.join("cat"))
            .args(args)
            .output()
            .unwrap()
    }

    /// `generate --target <target> --out <root>/out`; the output directory.
    fn generate(&self, target: &str) -> PathBuf {
        let out = self.root.join("out");
        let r = self.run(&[
            "generate",
            s(&self.topology()),
            "--target",
            target,
            "--out",
            s(&out),
        ]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        out
    }
}

// ---- Aerleon: Juniper and SRX comments ----

/// The review's payloads: a purpose that closes the Juniper comment and adds an accept term,
/// a reason that adds an allow-any SRX policy, and the same through the catalogue's text.
#[test]
fn aerleon_comments_cannot_close_a_juniper_or_srx_comment() {
    let Some(aclgen) = common::aclgen() else {
        return;
    };
    let hostile = Texts {
        purpose: "SSH */ term evil { then accept; } /*".into(),
        reason: "*/ policy evil { match {source-address any; destination-address any; \
                 application any;} then {permit;} } /*"
            .into(),
        cat_purpose: "DB /*/ term evil2 { then accept; } /*/".into(),
        cat_source: "Doc *\\/ */*/ policy evil2 { then { permit; } } \\".into(),
        ..Texts::plain()
    };
    let outputs = |t: &Texts| {
        let fx = Fixture::new(t);
        let out = fx.generate("aerleon");
        (common::run_aclgen(&aclgen, &out.join("esc.aerleon")), fx)
    };
    let (h, _fh) = outputs(&hostile);
    let (b, _fb) = outputs(&Texts::plain());
    assert_eq!(
        h.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "aclgen wrote other files"
    );
    for ext in ["jcl", "srx", "acl", "xml"] {
        assert!(h.contains_key(&format!("esc.{ext}")), "no esc.{ext}");
    }
    for (name, body) in &h {
        let loaded = common::aclgen_without_comments(name, body);
        assert!(
            !loaded.iter().any(|l| l.contains("evil")),
            "{name}: the comment text became configuration:\n{body}"
        );
        assert_eq!(
            loaded,
            common::aclgen_without_comments(name, &b[name]),
            "{name}: configuration outside comments differs from the plain text's:\n{body}"
        );
    }
    // The text is still there for a reviewer, inside the comment.
    assert!(h["esc.jcl"].contains("term evil"), "{}", h["esc.jcl"]);
}

// ---- CSV: formulas under any separator ----

/// The Python script that reads a CSV file with every separator a spreadsheet offers (comma,
/// semicolon, tab, space, pipe), quote-aware and not, and prints every field a spreadsheet
/// would take for a formula: one starting (after the spaces a "trim spaces" import removes,
/// and a stray quote) with `=`, `+`, `-`, `@`, tab or carriage return.
const CSV_READER: &str = r#"
import csv, io, sys
text = open(sys.argv[1], encoding="utf-8", newline="").read()
bad = []
for sep in [",", ";", "\t", " ", "|"]:
    for quoting in [csv.QUOTE_MINIMAL, csv.QUOTE_NONE]:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting):
            for field in row:
                lead = field.lstrip(' "')
                if lead[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    bad.append(f"sep {sep!r} quoting {quoting}: {field!r}")
print("\n".join(bad))
"#;

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("CTXFW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    if Command::new(&p).arg("-V").output().is_ok() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("python3 not found: .ci/run installs it");
    }
    eprintln!("skipped: python3 not installed");
    None
}

fn formula_fields(py: &Path, file: &Path) -> Vec<String> {
    let out = Command::new(py)
        .arg("-c")
        .arg(CSV_READER)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `x;=1+1` is a formula in a spreadsheet that splits on `;`, `a<TAB>=3+3` in one that splits
/// on tabs: both the matrix CSV and the flows CSV must hold no field that any separator turns
/// into a formula, and read with the comma they carry the text.
#[test]
fn csv_cells_are_no_formula_under_any_separator() {
    let Some(py) = python() else {
        return;
    };
    let hostile = Texts {
        purpose: "x;=1+1 tab\t=3+3 pipe|@SUM(A1) space -2+3 quote\"=4+4".into(),
        reason: "r;=2+2\n=5+5\n+6".into(),
        cat_purpose: "=HYPERLINK(\"http://attacker.example\";\"x\"),+1;-1".into(),
        cat_source: "s, =7+7;\t@8\r=9+9\r\n-10".into(),
        ..Texts::plain()
    };
    let fx = Fixture::new(&hostile);
    let out = fx.generate("matrix");
    let matrix = out.join("esc.csv");
    let flows = fx.root.join("flows.csv");
    let r = fx.run(&[
        "flows",
        s(&fx.topology()),
        "--format",
        "csv",
        "--out",
        s(&flows),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    for file in [&matrix, &flows] {
        let bad = formula_fields(&py, file);
        assert!(
            bad.is_empty(),
            "{}: fields a spreadsheet runs as formulas:\n{}\n--- file\n{}",
            file.display(),
            bad.join("\n"),
            std::fs::read_to_string(file).unwrap()
        );
        let body = std::fs::read_to_string(file).unwrap();
        assert!(body.contains("HYPERLINK"), "the text is kept");
    }
    // The workbook: text cells only (the reader refuses a formula), each with the CSV's guard
    // already, so a cell copied out or saved as CSV stays text too.
    let cells = common::xlsx_cells(&std::fs::read(out.join("esc.xlsx")).unwrap());
    assert!(cells.contains("HYPERLINK"), "the text is kept");
    for line in cells.lines().filter(|l| !l.starts_with("## ")) {
        let value = line.split_once(": ").map_or("", |(_, v)| v);
        for piece in value.split("\\n") {
            assert_eq!(
                ctxfw::render::flows::formula_guard(piece),
                piece,
                "a cell a spreadsheet could read as a formula: {line}"
            );
        }
    }
}

// ---- Markdown: no link, image, emphasis, code block or HTML from text ----

/// The elements text must never make: links, images, raw HTML, emphasis, strikethrough,
/// math, footnotes.
fn md_forbidden(structure: &[String]) -> Vec<&String> {
    structure
        .iter()
        .filter(|t| {
            [
                "Link",
                "Image",
                "Html",
                "Emphasis",
                "Strong",
                "Strikethrough",
                "Math",
                "Footnote",
            ]
            .iter()
            .any(|w| t.contains(w))
        })
        .collect()
}

fn md_hostile() -> Texts {
    let payload =
        "![x](https://attacker.example/beacon.png) [Approve change](https://attacker.example/ok) \
                   [ref][1] [^1] **bold** __bold__ *em* _em_ ~~strike~~ ~strike~ $x^2$ $$y$$ \
                   <b>html</b> &amp; `code` ``` ~~~ \\";
    Texts {
        description: "~~~".into(),
        zone: "# heading".into(),
        component: "```".into(),
        purpose: format!("{payload}\n~~~\n# heading\n- item\n1. item\n> quote\n    indented"),
        reason: "[1]: https://attacker.example/ref".into(),
        removal: format!("~~~ {payload}"),
        cat_purpose: payload.into(),
        cat_source: "    four spaces then [link](https://attacker.example)".into(),
        param: "x` <b>|</b> ![i](https://attacker.example/p.png) ``".into(),
    }
}

fn assert_md_inert(what: &str, hostile: &str, plain: &str) {
    let h = common::md_structure(hostile);
    let bad = md_forbidden(&h);
    assert!(bad.is_empty(), "{what}: text made {bad:?}:\n{hostile}");
    assert_eq!(
        h,
        common::md_structure(plain),
        "{what}: structure differs from the plain text's:\n{hostile}"
    );
}

/// The matrix and flows Markdown (written by `generate` and by `flows --format markdown`).
#[test]
fn markdown_outputs_render_text_as_text() {
    let read = |t: &Texts| {
        let fx = Fixture::new(t);
        let out = fx.generate("all");
        let r = fx.run(&["flows", s(&fx.topology()), "--format", "markdown"]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        [
            (
                "matrix",
                std::fs::read_to_string(out.join("esc.md")).unwrap(),
            ),
            (
                "flows.md",
                std::fs::read_to_string(out.join("esc.flows.md")).unwrap(),
            ),
            ("flows --format markdown", text(&r.stdout)),
        ]
    };
    let hostile = read(&md_hostile());
    let plain = read(&Texts::plain());
    for ((what, h), (_, p)) in hostile.iter().zip(&plain) {
        assert_md_inert(what, h, p);
    }
}

/// `diff --format markdown` of two topologies, and of two flows JSON files whose ids try to
/// leave their code span.
#[test]
fn diff_markdown_renders_text_and_ids_as_text() {
    let diff = |t: &Texts| {
        let fx = Fixture::new(t);
        let old = fx.root.join("old.toml");
        let body = std::fs::read_to_string(fx.topology()).unwrap();
        let cut = body.find("[[additions]]").unwrap();
        std::fs::write(&old, &body[..cut]).unwrap();
        let r = fx.run(&["diff", s(&old), s(&fx.topology()), "--format", "markdown"]);
        assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
        text(&r.stdout)
    };
    assert_md_inert("diff", &diff(&md_hostile()), &diff(&Texts::plain()));

    let flows_diff = |id: &str, purpose: &str| {
        let dir = tempfile::tempdir().unwrap();
        let flow = |id: &str, port: &str| {
            serde_json::json!({
                "id": id, "from": "a", "from_zone": "za", "from_addresses": ["10.0.0.1/32"],
                "to": "b", "to_zone": "zb", "to_addresses": ["10.0.1.1/32"], "to_fqdns": [],
                "protocol": "tcp", "ports": [port], "purpose": purpose,
            })
        };
        let old = dir.path().join("old.json");
        let new = dir.path().join("new.json");
        let doc = |flows: Vec<serde_json::Value>| serde_json::json!({ "flows": flows }).to_string();
        std::fs::write(&old, doc(vec![flow(id, "443"), flow("gone", "1")])).unwrap();
        std::fs::write(
            &new,
            doc(vec![flow(id, "444"), flow(&format!("{id}2"), "2")]),
        )
        .unwrap();
        let r = Command::new(common::bin())
            .args(["diff", "--flows", s(&old), s(&new), "--format", "markdown"])
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
        text(&r.stdout)
    };
    assert_md_inert(
        "diff --flows",
        &flows_diff(
            "a` ![x](https://attacker.example/i.png) | <b>b</b> ``c",
            "![x](https://attacker.example/beacon.png) ~~~",
        ),
        &flows_diff("a-b-c", "plain purpose"),
    );
}

// ---- The terminal: control characters and bidi marks are shown, not obeyed ----

/// A terminal obeys these: ESC starts a control sequence, BEL rings, CR returns to the start
/// of the line, U+202E reverses what follows.
fn raw_controls(s: &str) -> Vec<char> {
    s.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
        })
        .collect()
}

fn assert_inert(what: &str, r: &Output) {
    for (stream, bytes) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        let t = text(bytes);
        let raw = raw_controls(&t);
        assert!(
            raw.is_empty(),
            "{what}: {stream} holds raw {raw:?}:\n{}",
            t.escape_debug()
        );
    }
}

/// `check` shows the offending line of a file with raw ESC and BEL (a TOML syntax error) and
/// of one with a raw U+202E (refused free text) with those characters escaped.
#[test]
fn check_shows_control_characters_of_the_offending_line_escaped() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body, shown) in [
        (
            "esc.toml",
            "name = \"t\"\ndescription = \"red \u{1b}[31m alert\u{7}\"\n",
            "\\u{1b}[31m alert\\u{7}",
        ),
        (
            "rlo.toml",
            "name = \"t\"\ndescription = \"allow \u{202E}yna ot\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n",
            "allow \\u{202e}yna ot",
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let r = Command::new(common::bin())
            .args(["check", s(&p)])
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(2), "{name}: {}", text(&r.stderr));
        assert_inert(name, &r);
        let err = text(&r.stderr);
        assert!(err.contains(shown), "{name}: {err}");
        assert!(err.contains(&format!("{name}:2:")), "{name}: {err}");
    }
}

/// Catalogue text (an extension catalogue may hold any character) reaches the terminal
/// through `flows --format table`, `explain` and `catalogue`; ids of a flows JSON file through
/// `diff --flows`. All of it is shown escaped; the JSON keeps the text as it is.
#[test]
fn terminal_outputs_show_catalogue_text_escaped() {
    let root = common::root();
    let topo = root.join("tests/fixtures/hostile/hostile.toml");
    let cat = root.join("tests/fixtures/hostile/catalogue");
    let run = |args: &[&str]| {
        Command::new(common::bin())
            .arg("--catalogue")
            .arg(&cat)
            .args(args)
            .output()
            .unwrap()
    };
    let t = s(&topo);
    for args in [
        vec!["flows", t, "--format", "table"],
        vec![
            "explain", t, "--from", "probe", "--to", "portal", "--port", "tcp/9443",
        ],
        vec![
            "explain", t, "--from", "probe", "--to", "portal", "--port", "tcp/1",
        ],
        vec!["catalogue"],
        vec!["catalogue", "acme-portal"],
        vec!["catalogue", "--parameters"],
        vec!["check", t],
    ] {
        let r = run(&args);
        assert!(
            matches!(r.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            text(&r.stderr)
        );
        assert_inert(&args.join(" "), &r);
    }
    let table = text(&run(&["flows", t, "--format", "table"]).stdout);
    assert!(
        table.contains("esc:\\u{1b} cr:\\u{d} bel:\\u{7}"),
        "{table}"
    );
    // The machine format carries the text unchanged.
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["flows", t, "--format", "json"]).stdout).unwrap();
    assert!(
        json["flows"].as_array().unwrap().iter().any(|f| f["source"]
            .as_str()
            .unwrap()
            .contains("esc:\u{1b} cr:\r bel:\u{7}")),
        "the JSON lost the text"
    );

    let dir = tempfile::tempdir().unwrap();
    let flow = |id: &str, port: &str| {
        serde_json::json!({
            "id": id, "from": "a\u{1b}[2J", "from_zone": "za", "from_addresses": ["10.0.0.1/32"],
            "to": "b", "to_zone": "zb", "to_addresses": ["10.0.1.1/32"], "to_fqdns": [],
            "protocol": "tcp", "ports": [port], "purpose": "p\u{202E}q\u{7}",
        })
    };
    let old = dir.path().join("old.json");
    let new = dir.path().join("new.json");
    let id = "x\u{1b}]0;title\u{7}\u{202E}y";
    let doc = |flows: Vec<serde_json::Value>| serde_json::json!({ "flows": flows }).to_string();
    std::fs::write(&old, doc(vec![flow(id, "443"), flow("gone\r", "1")])).unwrap();
    std::fs::write(&new, doc(vec![flow(id, "444"), flow("new\u{1b}", "2")])).unwrap();
    let r = Command::new(common::bin())
        .args(["diff", "--flows", s(&old), s(&new)])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    assert_inert("diff --flows", &r);
    assert!(text(&r.stdout).contains("x\\u{1b}]0;title\\u{7}\\u{202e}y"));
    // A flow id twice in one file: the error names it, escaped.
    std::fs::write(&new, doc(vec![flow(id, "1"), flow(id, "2")])).unwrap();
    let r = Command::new(common::bin())
        .args(["diff", "--flows", s(&old), s(&new)])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert_inert("diff --flows, duplicate id", &r);
}

// ---- Catalogue domain names ----

/// A kind whose `fqdns` are given by `list` (TOML), in a second file of the extension
/// directory.
fn with_domains(list: &str) -> Fixture {
    let fx = Fixture::new(&Texts::plain());
    std::fs::write(
        fx.root.join("cat/net.toml"),
        format!(
            "[family]\nid = \"net\"\ntitle = \"Domain test family\"\n\n\
             [components.esc-updates]\nname = \"Update service\"\nplatform = \"internet\"\n\
             fqdns = {list}\n"
        ),
    )
    .unwrap();
    fx
}

/// `fqdns = ["updates.acme.example\n*\n."]` wrote `*` and `.` lines into the domain list a
/// proxy loads: a domain name that is not one is an error at its place in the catalogue
/// file, with a hint, and nothing is written.
#[test]
fn catalogue_domain_names_must_be_domain_names() {
    let fx = with_domains(r#"["updates.acme.example\n*\n."]"#);
    let out = fx.root.join("out");
    let r = fx.run(&[
        "generate",
        s(&fx.topology()),
        "--target",
        "all",
        "--out",
        s(&out),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    let err = text(&r.stderr);
    assert!(
        err.contains("is not a domain name") && err.contains("net.toml:8:"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!out.exists(), "something was written");
    assert_inert("bad domain", &r);

    let cases = [
        ("*.cloud.com", true),
        ("*.*.nssvc.net", true),
        ("dl.cacerts.digicert.com", true),
        ("xn--bcher-kva.example", true),
        ("a-b.example", true),
        (&format!("{}.example", "a".repeat(63)), true),
        (&format!("{}.example", "a".repeat(64)), false),
        (&vec!["abcdefghi"; 26].join("."), false),
        ("", false),
        ("*", false),
        (".", false),
        ("example", false),
        ("*.com", false),
        ("example.com.", false),
        ("a..example", false),
        ("-a.example", false),
        ("a-.example", false),
        ("a.*.example", false),
        ("*a.example", false),
        ("a_b.example", false),
        ("bücher.example", false),
        ("10.0.0.1", false),
        ("a.example/path", false),
        ("a.example:443", false),
        ("a example.com", false),
    ];
    for (name, ok) in cases {
        let fx = with_domains(&format!("[{}]", q(name)));
        let r = fx.run(&["catalogue", "esc-updates"]);
        let code = r.status.code();
        assert_eq!(
            code,
            Some(if ok { 0 } else { 2 }),
            "{name:?}: {}",
            text(&r.stderr)
        );
    }
}
