//! Injection across every target: tests/fixtures/hostile/hostile.toml (with the extension catalogue in
//! tests/fixtures/hostile/catalogue) puts quotes of every kind, backslashes, newlines, `$()`,
//! backticks, `;`, `#`, `*/`, `}`, markup, other targets' statements, near-limit strings, and
//! (in the catalogue) NUL, other control characters and bidirectional marks into every free-text
//! field. Each target's output must carry the text inertly: the same files, the same rules and
//! commands as the same topology with benign text, and it must still parse with the target's
//! real parser. A topology with control characters or bidi marks is refused with a clear error.
//!
//! Targets are walked generically from `TARGETS`; [`VALIDATORS`] adds a real-parser check per
//! target name. A target without an entry still gets the generic checks (UTF-8, JSON parses with
//! the same shape, every line without free text identical to the benign output).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::SourceFile;
use ctxfw::generate::{Options, TARGETS};
use ctxfw::output::OutFile;
use ctxfw::render::Renderer;

const HOSTILE: &str = "tests/fixtures/hostile/hostile.toml";
const HOSTILE_CATALOGUE: &str = "tests/fixtures/hostile/catalogue";
/// Every payload line holds this word; every benign replacement holds [`BENIGN`].
const MARK: &str = "pwned";
const BENIGN: &str = "benign";

/// Free-text keys: topology descriptions, purposes and reasons; catalogue titles, names and
/// sources.
const TEXT_KEYS: &[&str] = &[
    "description",
    "purpose",
    "reason",
    "title",
    "name",
    "source",
];

/// The same TOML with every free-text value replaced by a plain, numbered sentence.
fn benign(text: &str) -> String {
    fn walk(v: &mut toml::Value, key: Option<&str>, n: &mut usize) {
        match v {
            // The topology's own `name` names files: keep it unless it carries a payload.
            toml::Value::String(s)
                if key.is_some_and(|k| TEXT_KEYS.contains(&k))
                    && (s.contains(MARK) || key != Some("name")) =>
            {
                *n += 1;
                *s = format!("{BENIGN} text {n}");
            }
            toml::Value::Table(t) => {
                for (k, v) in t.iter_mut() {
                    walk(v, Some(k), n);
                }
            }
            toml::Value::Array(a) => {
                for v in a.iter_mut() {
                    walk(v, key, n);
                }
            }
            _ => {}
        }
    }
    let mut v: toml::Value = toml::from_str(text).expect("fixture is TOML");
    let mut n = 0;
    walk(&mut v, None, &mut n);
    assert!(n > 5, "nothing replaced");
    toml::to_string(&v).unwrap()
}

/// Every target's files, zone perspective and every component's host perspective.
fn outputs(topology: &str, catalogue_dir: &Path) -> BTreeMap<String, Vec<OutFile>> {
    let cat = Catalogue::load(Some(catalogue_dir)).unwrap_or_else(|e| panic!("{e}"));
    let (topo, warnings) = ctxfw::topology::parse(SourceFile::new("hostile.toml", topology), &cat)
        .unwrap_or_else(|e| panic!("{e}"));
    let resolution = ctxfw::resolve::resolve(&topo, &cat);
    let hosts: Vec<String> = topo.components.keys().cloned().collect();
    let loaded = ctxfw::Loaded {
        catalogue: cat,
        topology: topo,
        resolution,
        warnings,
    };
    let renderer = Renderer::new(None).unwrap();
    let mut out = BTreeMap::new();
    for t in TARGETS {
        let mut perspectives = vec![(String::from("zone"), Options::default())];
        if t.host_aware {
            for h in &hosts {
                perspectives.push((
                    format!("host {h}"),
                    Options {
                        host: Some(h.clone()),
                        ..Options::default()
                    },
                ));
            }
        }
        for (label, opts) in perspectives {
            let files = common::generate_files(&loaded, &renderer, &opts, t)
                .unwrap_or_else(|e| panic!("{} ({label}): {e:#}", t.name));
            out.insert(format!("{} ({label})", t.name), files);
        }
    }
    out
}

type Validator = fn(label: &str, hostile: &[OutFile], benign: &[OutFile]);

/// Real-parser checks per target name; targets not listed get the generic checks only.
const VALIDATORS: &[(&str, Validator)] = &[
    ("flows", flows_same_structure),
    ("nftables", nft_same_rules),
    ("iptables", iptables_same_rules),
    ("windows", windows_same_commands),
    ("aerleon", aclgen_same_configuration),
    ("probes", probes_same_commands),
    ("matrix", workbook_cells_are_guarded_text),
];

fn target_of(label: &str) -> &str {
    label.split(' ').next().unwrap()
}

#[test]
fn hostile_text_is_carried_inertly_by_every_target() {
    let root = common::root();
    let hostile_text = std::fs::read_to_string(root.join(HOSTILE)).unwrap();
    let hostile_cat = root.join(HOSTILE_CATALOGUE);
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&hostile_cat).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(tmp.path().join(p.file_name().unwrap()), benign(&text)).unwrap();
    }
    let hostile = outputs(&hostile_text, &hostile_cat);
    let plain = outputs(&benign(&hostile_text), tmp.path());
    assert_eq!(
        hostile.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    let mut carried = 0;
    for (label, files) in &hostile {
        let other = &plain[label];
        generic_checks(label, files, other);
        carried += files.iter().filter(|f| f.content.contains(MARK)).count();
        if let Some((_, check)) = VALIDATORS.iter().find(|(n, _)| *n == target_of(label)) {
            check(label, files, other);
        }
    }
    assert!(carried > 0, "no output carries the hostile text at all");
    // Every target that writes files for this topology shows some of the text to a reviewer.
    for t in TARGETS {
        let zone = &hostile[&format!("{} (zone)", t.name)];
        if !zone.is_empty() {
            assert!(
                zone.iter().any(|f| f.content.contains(MARK)),
                "{}: the hostile text vanished from every file",
                t.name
            );
        }
    }
}

/// Same file names; JSON parses with the same shape; every line that carries no free text is
/// the same as in the benign output (so no line, rule or command was added or lost).
fn generic_checks(label: &str, hostile: &[OutFile], benign: &[OutFile]) {
    let names = |v: &[OutFile]| v.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(hostile), names(benign), "{label}: file names differ");
    for (h, b) in hostile.iter().zip(benign) {
        if h.name.ends_with(".json") {
            let hv: serde_json::Value = serde_json::from_str(&h.content)
                .unwrap_or_else(|e| panic!("{label}: {} is not JSON: {e}", h.name));
            let bv: serde_json::Value = serde_json::from_str(&b.content).unwrap();
            assert_eq!(shape(&hv), shape(&bv), "{label}: {} shape differs", h.name);
        }
        let fixed = |text: &str| {
            let mut v: Vec<String> = text
                .lines()
                .filter(|l| !l.contains(MARK) && !l.contains(BENIGN))
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        let (hl, bl) = (fixed(&h.content), fixed(&b.content));
        if hl != bl {
            let extra: Vec<&String> = hl.iter().filter(|l| !bl.contains(l)).take(5).collect();
            let lost: Vec<&String> = bl.iter().filter(|l| !hl.contains(l)).take(5).collect();
            panic!(
                "{label}: {}: lines without free text differ from the benign output\nonly in hostile: {extra:#?}\nonly in benign: {lost:#?}",
                h.name
            );
        }
    }
}

/// A JSON value with every string and number blanked: keys, nesting and array lengths.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(_) => Value::String(String::new()),
        Value::Number(_) => Value::from(0),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        other => other.clone(),
    }
}

/// flows.json has the same structure (generic check); flows.md has the same table rows, each
/// with the same number of cells.
fn flows_same_structure(label: &str, hostile: &[OutFile], benign: &[OutFile]) {
    for (h, b) in hostile.iter().zip(benign) {
        if !h.name.ends_with(".md") {
            continue;
        }
        let rows = |t: &str| -> Vec<usize> {
            t.lines()
                .filter(|l| l.starts_with('|'))
                .map(|l| {
                    // Cell separators: `|` not escaped as `\|`.
                    let b = l.as_bytes();
                    (0..b.len())
                        .filter(|&i| {
                            b[i] == b'|' && (i == 0 || b[i - 1] != b'\\' || escaped_backslash(b, i))
                        })
                        .count()
                })
                .collect()
        };
        assert_eq!(
            rows(&h.content),
            rows(&b.content),
            "{label}: {}: table rows or cells differ",
            h.name
        );
        assert!(
            !h.content.contains("<script>"),
            "{label}: {}: raw HTML",
            h.name
        );
    }
}

/// The workbook (its cells as `common::xlsx_cells` lists them, which refuses formulas): every
/// text cell carries the CSV's formula guard already, so no spreadsheet reads one as a formula
/// once copied out or saved as CSV; no control character or bidi mark reaches a cell.
fn workbook_cells_are_guarded_text(label: &str, hostile: &[OutFile], _benign: &[OutFile]) {
    let book = hostile
        .iter()
        .find(|f| f.name.ends_with(".xlsx"))
        .unwrap_or_else(|| panic!("{label}: no workbook"));
    for line in book.content.lines().filter(|l| !l.starts_with("## ")) {
        let value = unescape_cell(line.split_once(": ").map_or("", |(_, v)| v));
        assert_eq!(
            ctxfw::render::flows::formula_guard(&value),
            value,
            "{label}: a cell a spreadsheet could read as a formula: {line}"
        );
        assert!(
            !value
                .chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t') || ctxfw::render::is_bidi(c)),
            "{label}: a control character or bidi mark in a cell: {line:?}"
        );
    }
}

/// A cell's text from its `common::xlsx_cells` line (`\\` and `\n` escaped).
fn unescape_cell(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

/// Whether the backslash before `b[i]` is itself escaped (an even run of backslashes).
fn escaped_backslash(b: &[u8], i: usize) -> bool {
    let run = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
    run % 2 == 0
}

fn root_and_tools(test: &str, tools: &[(&str, &str)]) -> bool {
    common::tools::require(test, tools, true)
}

/// Run a script in a throwaway network namespace; stdout, or a panic with the output.
fn in_netns(label: &str, script: &str) -> String {
    let out = common::in_netns(&format!("set -e\n{script}"));
    assert!(
        out.status.success(),
        "{label}: {script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Load both rule sets into the kernel and count the rules nft reports.
fn nft_same_rules(label: &str, hostile: &[OutFile], benign: &[OutFile]) {
    if !root_and_tools(
        "nft_same_rules",
        &[("nft", "nftables"), ("unshare", "util-linux")],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (h, b) in hostile.iter().zip(benign) {
        if !h.name.ends_with(".nft") {
            continue;
        }
        let count = |f: &OutFile, tag: &str| -> usize {
            let p = dir.path().join(format!("{tag}-{}", f.name));
            std::fs::write(&p, &f.content).unwrap();
            let json = in_netns(
                label,
                &format!("nft -f {0}\nnft -j list ruleset", p.display()),
            );
            let v: serde_json::Value = serde_json::from_str(&json).expect("nft -j gives JSON");
            v["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o.get("rule").is_some())
                .count()
        };
        let (nh, nb) = (count(h, "hostile"), count(b, "benign"));
        assert!(nb > 0, "{label}: no rules loaded");
        assert_eq!(
            nh, nb,
            "{label}: {}: rule count differs after a real load",
            h.name
        );
    }
}

/// Load both rule sets with iptables-restore and count the rules iptables-save lists.
fn iptables_same_rules(label: &str, hostile: &[OutFile], benign: &[OutFile]) {
    if !root_and_tools(
        "iptables_same_rules",
        &[
            ("iptables-restore", "iptables"),
            ("ip6tables-restore", "iptables"),
            ("unshare", "util-linux"),
        ],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (h, b) in hostile.iter().zip(benign) {
        let base = if h.name.ends_with(".rules") {
            "iptables"
        } else if h.name.ends_with(".rules6") {
            "ip6tables"
        } else {
            continue;
        };
        let count = |f: &OutFile, tag: &str| -> usize {
            let p = dir.path().join(format!("{tag}-{}", f.name));
            std::fs::write(&p, &f.content).unwrap();
            let saved = in_netns(
                label,
                &format!(
                    "{base}-restore --test --noflush {0}\n{base}-restore --noflush {0}\n{base}-save",
                    p.display()
                ),
            );
            saved.lines().filter(|l| l.starts_with("-A ")).count()
        };
        let (nh, nb) = (count(h, "hostile"), count(b, "benign"));
        assert!(nb > 0, "{label}: no rules loaded");
        assert_eq!(
            nh, nb,
            "{label}: {}: rule count differs after a real load",
            h.name
        );
    }
}

/// Render both Aerleon exports with aclgen: every platform's configuration is the same once
/// its comments are removed (Juniper and SRX comments end at the first `*/`).
fn aclgen_same_configuration(label: &str, hostile: &[OutFile], benign: &[OutFile]) {
    let Some(aclgen) = common::aclgen() else {
        return;
    };
    let render = |files: &[OutFile]| {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(&f.name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &f.content).unwrap();
        }
        let export = files[0].name.split('/').next().unwrap();
        common::run_aclgen(&aclgen, &dir.path().join(export))
    };
    let (h, b) = (render(hostile), render(benign));
    assert_eq!(
        h.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{label}: aclgen wrote other files"
    );
    for (name, text) in &h {
        assert_eq!(
            common::aclgen_without_comments(name, text),
            common::aclgen_without_comments(name, &b[name]),
            "{label}: {name}: configuration outside comments differs:\n{text}"
        );
    }
}

/// Parse both scripts with the PowerShell grammar: no syntax error, and the same commands in
/// the same order (so the same number of New-NetFirewallRule).
/// The commands a PowerShell script runs, in order; it must parse without an error.
fn ps_commands(label: &str, f: &OutFile) -> Vec<String> {
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_powershell::LANGUAGE.into())
        .unwrap();
    let tree = p.parse(&f.content, None).unwrap();
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        assert!(
            !n.is_error() && !n.is_missing(),
            "{label}: {} does not parse at {:?}",
            f.name,
            n.start_position()
        );
        if n.kind() == "command_name" {
            out.push(f.content[n.byte_range()].to_string());
        }
        let mut c = n.walk();
        let children: Vec<_> = n.children(&mut c).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

fn windows_same_commands(label: &str, hostile: &[OutFile], benign: &[OutFile]) {
    let commands = |f: &OutFile| ps_commands(label, f);
    for (h, b) in hostile.iter().zip(benign) {
        let (ch, cb) = (commands(h), commands(b));
        assert!(
            cb.iter().any(|c| c == "New-NetFirewallRule"),
            "{label}: {}: no rules",
            b.name
        );
        assert_eq!(ch, cb, "{label}: {}: commands differ", h.name);
    }
}

/// Probe scripts: PowerShell parses and runs the same commands; POSIX sh passes `sh -n` and
/// runs the same probes (one `probe` line per connection attempt).
fn probes_same_commands(label: &str, hostile: &[OutFile], benign: &[OutFile]) {
    for (h, b) in hostile.iter().zip(benign) {
        if h.name.ends_with(".ps1") {
            let ps = |f: &OutFile| ps_commands(label, f);
            assert_eq!(ps(h), ps(b), "{label}: {}: commands differ", h.name);
        } else if h.name.ends_with(".sh") {
            for f in [h, b] {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join(&f.name);
                std::fs::write(&p, &f.content).unwrap();
                let ok = Command::new("sh").arg("-n").arg(&p).status().unwrap();
                assert!(ok.success(), "{label}: {} does not parse", f.name);
            }
            let probes = |f: &OutFile| {
                f.content
                    .lines()
                    .filter(|l| l.starts_with("probe "))
                    .count()
            };
            assert_eq!(probes(h), probes(b), "{label}: {}", h.name);
        }
    }
}

/// Control characters and bidirectional marks in a topology's free text are refused, with the
/// code point, the file, line and column, and what to do.
#[test]
fn control_and_bidi_characters_in_a_topology_are_refused() {
    let base = std::fs::read_to_string(common::root().join(HOSTILE)).unwrap();
    let places = [
        ("description = ", "description"),
        ("[zones.core]\ncidrs = [\"10.0.10.0/24\", \"2001:db8:10::/64\"]\ndescription = ", "description"),
        ("[components.dc]\nkind = \"domain-controller\"\nzone = \"core\"\nhosts = [\"10.0.10.5\", \"2001:db8:10::5\"]\ndescription = ", "description"),
        ("id = \"quotes\"\nfrom = \"jump\"\nto = \"sql\"\nprotocol = \"tcp\"\nports = [1433, \"5022-5023\"]\npurpose = ", "purpose"),
        ("reason = ", "reason"),
    ];
    for c in [
        '\u{0}', '\u{7}', '\u{1b}', '\r', '\u{7f}', '\u{85}', '\u{200E}', '\u{200F}', '\u{202A}',
        '\u{202E}', '\u{2066}', '\u{2069}', '\u{061C}',
    ] {
        for (prefix, what) in places {
            let at = base
                .find(&format!("\n{prefix}\""))
                .unwrap_or_else(|| panic!("{prefix:?} not in fixture"))
                + 1
                + prefix.len();
            let text = format!("{}\"x\\u{:04X}y{}", &base[..at], c as u32, &base[at + 1..]);
            let err = common::parse_str("evil.toml", &text)
                .expect_err("control/bidi accepted")
                .to_string();
            let expect = format!("{what} contains the invisible character U+{:04X}", c as u32);
            assert!(err.contains(&expect), "{expect}\n{err}");
            assert!(err.contains("--> evil.toml:"), "{err}");
            assert!(err.contains("hint: remove control"), "{err}");
        }
    }
}

/// The same refusal through the CLI: exit 2 (invalid input), nothing written.
#[test]
fn the_cli_refuses_a_bidi_override_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("evil.toml");
    std::fs::write(
        &topo,
        "name = \"evil\"\ndescription = \"allow \\u202Eyna ot\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let r = Command::new(common::bin())
        .args([
            "generate",
            topo.to_str().unwrap(),
            "--target",
            "all",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("description contains the invisible character U+202E")
            && err.contains("evil.toml:2:15"),
        "{err}"
    );
    assert!(!out_dir.exists(), "something was written");
}
