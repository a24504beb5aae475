//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod tools;

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::SourceFile;
use ctxfw::resolve::{resolve, Resolution};
use ctxfw::topology::{self, Topology};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example topology: `topologies/*.toml`, sorted.
pub fn example_topologies() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("topologies"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

pub fn catalogue() -> Catalogue {
    Catalogue::embedded().unwrap_or_else(|e| panic!("embedded catalogue invalid:\n{e}"))
}

pub fn parse_str(name: &str, text: &str) -> Result<Topology, ctxfw::diag::Invalid> {
    topology::parse(SourceFile::new(name, text), &catalogue()).map(|(t, _)| t)
}

pub fn resolve_str(text: &str) -> (Topology, Resolution) {
    let cat = catalogue();
    let (t, _) =
        topology::parse(SourceFile::new("test.toml", text), &cat).unwrap_or_else(|e| panic!("{e}"));
    let r = resolve(&t, &cat);
    (t, r)
}

pub fn resolve_file(path: &Path) -> (Topology, Resolution) {
    resolve_str(&std::fs::read_to_string(path).unwrap())
}

/// Path of the built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ctxfw"))
}

/// Run the built binary in the repository's root.
pub fn ctxfw(args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

/// Aerleon's `aclgen`: `CTXFW_ACLGEN`, else next to `CTXFW_PYTHON`, else `.venv/bin/aclgen`.
/// Missing: a failure under CI (`.ci/run` installs it), a skip message otherwise.
pub fn aclgen() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CTXFW_ACLGEN").map(PathBuf::from),
        std::env::var_os("CTXFW_PYTHON")
            .map(PathBuf::from)
            .and_then(|p| p.parent().map(|d| d.join("aclgen"))),
        Some(root().join(".venv/bin/aclgen")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_file() {
            return Some(c);
        }
    }
    tools::skip(
        "aerleon",
        "aclgen not installed (python3 -m venv .venv && .venv/bin/pip install aerleon)",
    );
    None
}

/// Renders an Aerleon export directory (`<topology>.aerleon`) with aclgen; its outputs by file
/// name (`<topology>.jcl`, `.srx`, `.acl`, `.xml`).
pub fn run_aclgen(aclgen: &Path, dir: &Path) -> std::collections::BTreeMap<String, String> {
    let out = std::process::Command::new(aclgen)
        .current_dir(dir)
        .args([
            "--base_directory",
            "policies",
            "--definitions_directory",
            "def",
            "--output_directory",
            "out",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aclgen failed in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// What a platform loads from one of aclgen's outputs (by file extension): the text without
/// its comments, as trimmed non-empty lines. Juniper and SRX (`jcl`, `srx`): `/* ... */`,
/// ended by the first `*/` as Junos reads it; Cisco (`acl`): `remark` lines; Palo Alto
/// (`xml`): `description` and `comments` elements (their text is XML-escaped).
pub fn aclgen_without_comments(file: &str, text: &str) -> Vec<String> {
    let ext = file.rsplit('.').next().unwrap_or_default();
    let mut kept = String::new();
    match ext {
        "jcl" | "srx" => {
            let mut rest = text;
            while let Some(i) = rest.find("/*") {
                kept.push_str(&rest[..i]);
                match rest[i + 2..].find("*/") {
                    Some(j) => rest = &rest[i + 2 + j + 2..],
                    None => panic!("{file}: a comment is not closed"),
                }
            }
            kept.push_str(rest);
        }
        "acl" => {
            for l in text.lines() {
                let words: Vec<&str> = l.split_whitespace().collect();
                let remark = words.first() == Some(&"remark")
                    || (words.first() == Some(&"access-list") && words.get(2) == Some(&"remark"));
                if !remark {
                    kept.push_str(l);
                    kept.push('\n');
                }
            }
        }
        "xml" => {
            let mut rest = text;
            loop {
                let open = ["<description>", "<comments>"]
                    .iter()
                    .filter_map(|t| rest.find(t).map(|i| (i, *t)))
                    .min();
                let Some((i, tag)) = open else { break };
                kept.push_str(&rest[..i]);
                let close = format!("</{}", &tag[1..]);
                let j = rest[i..]
                    .find(&close)
                    .unwrap_or_else(|| panic!("{file}: {tag} is not closed"));
                assert!(
                    !rest[i + tag.len()..i + j].contains('<'),
                    "{file}: markup inside {tag}"
                );
                rest = &rest[i + j + close.len()..];
            }
            kept.push_str(rest);
        }
        _ => kept.push_str(text),
    }
    kept.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// A Markdown document's structure as a GFM reader (tables, strikethrough, math, footnotes,
/// task lists) sees it: every block and inline element, with text reduced to `text`. A line
/// break written as `<br>` (how cells hold line breaks) and inline code (an id shown as code,
/// or as escaped text when a code span cannot hold it) count as text.
pub fn md_structure(md: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Options, Tag, TagEnd};
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_MATH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_GFM;
    let mut out: Vec<String> = Vec::new();
    for e in pulldown_cmark::Parser::new_ext(md, opts) {
        let token = match e {
            Event::Text(_) => "text".to_string(),
            Event::InlineHtml(h) if h.as_ref() == "<br>" => "text".to_string(),
            Event::Start(Tag::CodeBlock(kind)) => format!("code block {kind:?}"),
            Event::Start(tag) => format!("start {tag:?}"),
            Event::End(TagEnd::CodeBlock) => "end code block".to_string(),
            Event::End(tag) => format!("end {tag:?}"),
            Event::Code(_) => "text".to_string(),
            other => format!("{other:?}"),
        };
        if token == "text" && out.last().is_some_and(|t| t == "text") {
            continue;
        }
        out.push(token);
    }
    out
}

/// Standard output or error of a command, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One target's files for a loaded topology: none when the target has nothing to write for it.
/// One target's files (none when it has nothing to write for the topology); a workbook comes
/// as the text of its cell values ([`xlsx_cells`]), under its own name.
pub fn generate_files(
    loaded: &ctxfw::Loaded,
    renderer: &ctxfw::render::Renderer,
    opts: &ctxfw::generate::Options,
    target: &ctxfw::generate::Target,
) -> anyhow::Result<Vec<ctxfw::output::OutFile>> {
    match ctxfw::generate::generate_all(loaded, renderer, opts, &[target]) {
        Ok(g) => {
            let mut files = g.files;
            files.extend(g.binary.into_iter().map(|b| ctxfw::output::OutFile {
                content: xlsx_cells(&b.bytes),
                name: b.name,
            }));
            Ok(files)
        }
        Err(e)
            if e.downcast_ref::<ctxfw::generate::NothingToRender>()
                .is_some() =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// Runs a shell script in a throwaway network namespace (root, `unshare -n`).
pub fn in_netns(script: &str) -> std::process::Output {
    std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .output()
        .expect("unshare runs")
}

/// Whether `ctxfw explain` allows traffic from `src` to `dst` on `proto`/`port`: the oracle
/// the packet and cloud-rule tests compare the generated rules with.
pub fn explain_allows(
    loaded: &ctxfw::Loaded,
    proto: ctxfw::flow::Protocol,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    port: u16,
) -> bool {
    use ctxfw::explain::{explain, End, Query};
    let q = Query {
        topology: &loaded.topology,
        from: End::Net(ipnet::IpNet::from(src)),
        to: End::Net(ipnet::IpNet::from(dst)),
        port: Some((proto, Some(port))),
    };
    !explain(&loaded.resolution.flows, &q).allowed.is_empty()
}

/// Run a shell script (with the sbin directories on PATH): whether it succeeded, and its
/// standard output and error.
pub fn sh(script: &str) -> (bool, String) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("PATH=$PATH:/usr/sbin:/sbin\n{script}"))
        .output()
        .expect("sh runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A workbook's cell values as text, sheet by sheet (`## Summary`, then `A1: value` per
/// non-empty cell, row by row), read back with calamine: golden files and tests compare what a
/// spreadsheet shows, not the zip's bytes. Panics when a cell holds a formula.
pub fn xlsx_cells(bytes: &[u8]) -> String {
    use calamine::{Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("an xlsx file");
    let mut out = String::new();
    for name in wb.sheet_names() {
        let formulas = wb.worksheet_formula(&name).expect("formulas readable");
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "sheet {name} holds a formula"
        );
        let range = wb.worksheet_range(&name).expect("sheet readable");
        out.push_str(&format!("## {name}\n"));
        let (r0, c0) = range.start().unwrap_or((0, 0));
        for (r, row) in range.rows().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let text = match cell {
                    Data::Empty => continue,
                    Data::String(s) => s.replace('\\', "\\\\").replace('\n', "\\n"),
                    Data::Float(f) => f.to_string(),
                    Data::Int(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                let col = c0 as usize + c;
                let letters = if col < 26 {
                    ((b'A' + col as u8) as char).to_string()
                } else {
                    format!(
                        "{}{}",
                        (b'A' + (col / 26 - 1) as u8) as char,
                        (b'A' + (col % 26) as u8) as char
                    )
                };
                out.push_str(&format!("{letters}{}: {text}\n", r0 as usize + r + 1));
            }
        }
    }
    out
}

/// A topology `name` whose one AWS component (in `vpc_cidr`) is reached by `sources`
/// on-premises components, one addition each: enough rules to split a security group.
pub fn aws_fan_in(name: &str, vpc_cidr: &str, sources: usize) -> String {
    let mut text = format!(
        "name = \"{name}\"\n[zones.vpc]\ncidrs = [\"{vpc_cidr}\"]\nlocation = \"aws\"\n\
         [zones.onprem]\ncidrs = [\"10.1.0.0/24\"]\n\
         [components.target]\nkind = \"acme-agent\"\nzone = \"vpc\"\nhosts = [\"10.0.0.10\"]\n",
    );
    for i in 0..sources {
        text.push_str(&format!(
            "[components.src{i}]\nkind = \"acme-agent\"\nzone = \"onprem\"\nhosts = [\"10.1.0.{}\"]\n\
             [[additions]]\nid = \"a{i}\"\nfrom = \"src{i}\"\nto = \"target\"\nprotocol = \"tcp\"\n\
             ports = [443]\npurpose = \"p\"\nreason = \"r\"\n",
            i + 1
        ));
    }
    text
}
