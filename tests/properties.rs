//! Property tests: random VALID topologies (random zones with non-overlapping CIDRs, IPv4 and
//! IPv6, an optional internet zone; random components of random catalogue kinds with random
//! hosts inside their zones and random interfaces for kinds with roles; random parameters from
//! their allowed values; random additions) must resolve and render without panic, and:
//! - every flow's from_addresses lie inside from_zone's networks, to_addresses inside to_zone's;
//! - resolving twice gives identical flows;
//! - merging never widens a flow: its ports are exactly the union of its parts' ports, and each
//!   part's ports are exactly the catalogue entry's ports under the parameters (or the
//!   addition's);
//! - every target renders; JSON outputs parse; PowerShell scripts parse with tree-sitter; on a
//!   subset of cases nft and iptables-restore check the rule sets in a throwaway namespace.
//!
//! And no free text (every description, purpose and reason a topology has), at any length up
//! to the 2,000-character limit and in any Unicode a topology accepts (4-byte characters, line
//! separators, every target's syntax), changes what an output means: the same topology with
//! plain text gives the same flows, the same rules once nft and iptables have loaded both
//! (comments aside), the same PowerShell syntax trees (comments and verbatim string text
//! aside), the same JSON (descriptions, purposes, reasons and comments aside), the same
//! Aerleon export and, through aclgen, the same Juniper, SRX, Cisco and Palo Alto
//! configurations (comments aside), and the same Markdown, CSV and HTML structure.
//!
//! Case counts are modest so `cargo test` stays fast; `PROPTEST_CASES=1000` runs more.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use ctxfw::catalogue::{Catalogue, ParamType, ParamValue, PortItem, Scope};
use ctxfw::diag::SourceFile;
use ctxfw::flow::{PortRange, PortSet};
use ctxfw::generate::{Options, TARGETS};
use ctxfw::render::Renderer;
use proptest::prelude::*;

fn catalogue() -> &'static Catalogue {
    static C: OnceLock<Catalogue> = OnceLock::new();
    C.get_or_init(common::catalogue)
}

/// Draws from a list of random numbers; past its end, zeros (the "simplest" choice), so
/// proptest shrinks a failing case towards fewer and simpler parts.
struct Choices<'a>(std::slice::Iter<'a, u32>);

impl Choices<'_> {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.0.next().map_or(0, |&x| x as usize % n)
    }
    fn flip(&mut self) -> bool {
        self.below(2) == 1
    }
}

struct ZoneSpec {
    name: String,
    v4: Option<(u8, u8)>, // 10.<i>.0.0/<prefix>
    v6: bool,             // 2001:db8:<i>::/64
    internet: bool,
}

impl ZoneSpec {
    fn host(&self, c: &mut Choices<'_>) -> IpAddr {
        let i: u16 = self.name[1..].parse().unwrap_or(0);
        match self.v4 {
            Some((n, _)) if !self.v6 || c.flip() => {
                IpAddr::V4(Ipv4Addr::new(10, n, 0, 1 + c.below(250) as u8))
            }
            _ if self.v6 => IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                i,
                0,
                0,
                0,
                0,
                1 + c.below(1000) as u16,
            )),
            _ => unreachable!("a zone has a network"),
        }
    }
}

const COMMON: &[&str] = &[
    "vda",
    "delivery-controller",
    "storefront",
    "workspace-app",
    "domain-controller",
    "sql-server",
    "license-server",
    "director",
];

/// A valid topology built from random choices, with plain free text.
fn topology(choices: &[u32]) -> String {
    let mut n = 0;
    topology_with(choices, &mut || {
        n += 1;
        format!("text {n}")
    })
}

/// A TOML string holding `s` exactly.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A valid topology built from random choices, every free-text field (the topology's, zones'
/// and components' descriptions, additions' purposes and reasons, a removal's reason) filled
/// by `text`, in the same places for the same choices whatever `text` gives.
fn topology_with(choices: &[u32], text: &mut dyn FnMut() -> String) -> String {
    let cat = catalogue();
    let c = &mut Choices(choices.iter());
    let mut t = format!("name = \"prop\"\ndescription = {}\n", toml_str(&text()));
    let mut zones: Vec<ZoneSpec> = Vec::new();
    if c.flip() {
        zones.push(ZoneSpec {
            name: "internet".into(),
            v4: None,
            v6: false,
            internet: true,
        });
    }
    for i in 0..1 + c.below(5) {
        let v6 = c.below(3) == 0;
        let v4 = (!v6 || c.flip()).then(|| (i as u8, [16u8, 20, 24][c.below(3)]));
        zones.push(ZoneSpec {
            name: format!("z{i}"),
            v4,
            v6,
            internet: false,
        });
    }
    for z in &zones {
        let mut cidrs = Vec::new();
        if z.internet {
            cidrs.push("\"0.0.0.0/0\"".to_string());
            cidrs.push("\"::/0\"".to_string());
        }
        if let Some((n, p)) = z.v4 {
            cidrs.push(format!("\"10.{n}.0.0/{p}\""));
        }
        if z.v6 {
            let i: u16 = z.name[1..].parse().unwrap();
            cidrs.push(format!("\"2001:db8:{i:x}::/64\""));
        }
        t.push_str(&format!(
            "[zones.{}]\ncidrs = [{}]\n",
            z.name,
            cidrs.join(", ")
        ));
        if c.flip() {
            t.push_str(&format!("description = {}\n", toml_str(&text())));
        }
    }
    // Parameters: each set or not, to an allowed value.
    let mut params = String::new();
    for p in cat.parameters.values() {
        if !c.flip() {
            continue;
        }
        let value = if !p.values.is_empty() {
            p.values[c.below(p.values.len())].clone()
        } else {
            match p.ty {
                ParamType::Bool => ParamValue::Bool(c.flip()),
                ParamType::Int => ParamValue::Int(1024 + c.below(60000) as i64),
                ParamType::Ports => {
                    let lo = 1024 + c.below(60000) as u16;
                    ParamValue::Ports(PortSet::from_ranges([PortRange {
                        lo,
                        hi: lo + c.below(20) as u16,
                    }]))
                }
                ParamType::String => continue,
            }
        };
        let text = match value {
            ParamValue::Ports(set) => format!(
                "[{}]",
                set.to_strings()
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ParamValue::Str(s) => format!("{s:?}"),
            v => v.to_string(),
        };
        params.push_str(&format!("{} = {text}\n", p.name));
    }
    if !params.is_empty() {
        t.push_str(&format!("[parameters]\n{params}"));
    }
    let kinds: Vec<_> = cat.kinds.values().collect();
    let placeable: Vec<usize> = (0..zones.len()).collect();
    let n = 1 + c.below(7);
    let mut names = Vec::new();
    for i in 0..n {
        // Half the time one of the kinds most flows join (and those with interface roles), so
        // components meet; otherwise any kind of the catalogue.
        let kind = if c.flip() {
            let common: Vec<_> = kinds
                .iter()
                .filter(|k| !k.roles.is_empty() || COMMON.contains(&k.id.as_str()))
                .collect();
            common[c.below(common.len())]
        } else {
            kinds[c.below(kinds.len())]
        };
        // Mostly in a private zone; sometimes in the internet zone.
        let zi = placeable[c.below(placeable.len())];
        let z = &zones[zi];
        let name = format!("c{i}");
        t.push_str(&format!(
            "[components.{name}]\nkind = \"{}\"\nzone = \"{}\"\n",
            kind.id, z.name
        ));
        if c.flip() {
            t.push_str(&format!("description = {}\n", toml_str(&text())));
        }
        if !z.internet && c.below(3) > 0 {
            let mut hosts: Vec<String> = (0..1 + c.below(3))
                .map(|_| format!("\"{}\"", z.host(c)))
                .collect();
            hosts.sort();
            hosts.dedup();
            t.push_str(&format!("hosts = [{}]\n", hosts.join(", ")));
        }
        for role in &kind.roles {
            if !c.flip() {
                continue;
            }
            let zi = c.below(zones.len());
            let z = &zones[zi];
            t.push_str(&format!(
                "[components.{name}.interfaces.{role}]\nzone = \"{}\"\n",
                z.name
            ));
            if !z.internet && c.flip() {
                t.push_str(&format!("hosts = [\"{}\"]\n", z.host(c)));
            }
        }
        names.push(name);
    }
    for i in 0..c.below(3) {
        let (from, to) = (&names[c.below(n)], &names[c.below(n)]);
        let proto = ["tcp", "udp", "icmp"][c.below(3)];
        let ports = if proto == "icmp" {
            String::new()
        } else {
            let lo = 1 + c.below(65000);
            format!("ports = [{lo}, \"{}-{}\"]\n", lo + 2, lo + 2 + c.below(30))
        };
        t.push_str(&format!(
            "[[additions]]\nid = \"a{i}\"\nfrom = \"{from}\"\nto = \"{to}\"\nprotocol = \"{proto}\"\n{ports}purpose = {}\nreason = {}\n",
            toml_str(&text()),
            toml_str(&text())
        ));
    }
    if c.below(3) == 0 {
        // A catalogue flow this topology does without (it may bind nothing: a warning).
        let flows: Vec<_> = cat
            .flows
            .iter()
            .filter(|f| f.scope == Scope::Network)
            .collect();
        t.push_str(&format!(
            "[[removals]]\ncatalogue = \"{}\"\nreason = {}\n",
            flows[c.below(flows.len())].id,
            toml_str(&text())
        ));
    }
    t
}

/// The catalogue entry's ports under the topology's parameters, computed here independently.
fn catalogue_ports(topo: &ctxfw::topology::Topology, id: &str) -> PortSet {
    let cat = catalogue();
    let cf = cat
        .flows
        .iter()
        .find(|f| f.id == id && f.scope == Scope::Network)
        .unwrap_or_else(|| panic!("no catalogue flow {id}"));
    let mut ranges = Vec::new();
    for item in &cf.ports {
        match item {
            PortItem::Fixed(r) => ranges.push(*r),
            PortItem::Param(p) => {
                let v = topo
                    .parameters
                    .get(p)
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_else(|| cat.parameters[p].default.clone());
                match v {
                    ParamValue::Int(i) if (1..=65535).contains(&i) => {
                        ranges.push(PortRange::single(i as u16))
                    }
                    ParamValue::Ports(s) => ranges.extend(s.ranges().iter().copied()),
                    _ => {}
                }
            }
        }
    }
    PortSet::from_ranges(ranges)
}

static CASE: AtomicUsize = AtomicUsize::new(0);

fn netfilter_tools() -> bool {
    common::tools::require(
        "properties: real-parser checks",
        &[
            ("nft", "nftables"),
            ("iptables-restore", "iptables"),
            ("ip6tables-restore", "iptables"),
            ("unshare", "util-linux"),
        ],
        true,
    )
}

/// nft -c and iptables-restore --test on the files, in a throwaway network namespace.
fn real_parsers(files: &[ctxfw::output::OutFile], topo_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let cmd = if f.name.ends_with(".nft") {
            "nft -c -f"
        } else if f.name.ends_with(".rules") {
            "iptables-restore --test --noflush"
        } else if f.name.ends_with(".rules6") {
            "ip6tables-restore --test --noflush"
        } else {
            continue;
        };
        let p = dir.path().join(&f.name);
        std::fs::write(&p, &f.content).unwrap();
        let out = common::in_netns(&format!("{cmd} {}", p.display()));
        assert!(
            out.status.success(),
            "{}: {cmd} failed: {}\n--- topology\n{topo_text}\n--- file\n{}",
            f.name,
            String::from_utf8_lossy(&out.stderr),
            f.content
        );
    }
}

fn powershell_parses(name: &str, text: &str) {
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_powershell::LANGUAGE.into())
        .unwrap();
    let tree = p.parse(text, None).unwrap();
    assert!(
        !tree.root_node().has_error(),
        "{name} does not parse as PowerShell"
    );
}

fn check(choices: &[u32]) {
    let cat = catalogue();
    let text = topology(choices);
    let (topo, warnings) = ctxfw::topology::parse(SourceFile::new("prop.toml", text.as_str()), cat)
        .unwrap_or_else(|e| panic!("generated topology is invalid:\n{e}\n--- topology\n{text}"));
    ctxfw::check_size(&topo, cat).unwrap_or_else(|e| panic!("{e}"));
    let r1 = ctxfw::resolve::resolve(&topo, cat);
    let r2 = ctxfw::resolve::resolve(&topo, cat);
    assert_eq!(r1.flows, r2.flows, "resolving twice differs");
    assert_eq!(format!("{:?}", r1.removed), format!("{:?}", r2.removed));

    for f in r1.flows.iter() {
        for (zone, addrs, end) in [
            (&f.from_end.zone, &f.from_end.addresses, "from"),
            (&f.to_end.zone, &f.to_end.addresses, "to"),
        ] {
            let z = &topo.zones[&**zone];
            for a in addrs.iter() {
                assert!(
                    z.cidrs.iter().any(|c| c.contains(a)),
                    "{}: {end} address {a} outside zone {zone} {:?}\n{text}",
                    f.id,
                    z.cidrs
                );
            }
            assert!(!addrs.is_empty(), "{}: no {end} addresses", f.id);
        }
        let union = f
            .parts
            .iter()
            .fold(PortSet::new(), |acc, p| acc.union(&p.ports));
        assert_eq!(
            f.ports, union,
            "{}: ports are not the union of its parts",
            f.id
        );
        assert_eq!(
            f.protocol.has_ports(),
            !f.ports.is_empty(),
            "{}: ports for a protocol without ports, or none for one with",
            f.id
        );
        for p in &f.parts {
            let expected = match p.catalogue.strip_prefix("site:") {
                Some(id) => topo
                    .additions
                    .iter()
                    .find(|a| a.id == id)
                    .unwrap()
                    .ports
                    .clone(),
                None if f.protocol.has_ports() => catalogue_ports(&topo, &p.catalogue),
                None => PortSet::new(),
            };
            assert_eq!(
                p.ports, expected,
                "{}: part {} was widened or narrowed",
                f.id, p.catalogue
            );
        }
    }

    // Every target, zone perspective and the first component's host perspective.
    let first = topo.components.keys().next().cloned();
    let loaded = ctxfw::Loaded {
        catalogue: cat.clone(),
        topology: topo,
        resolution: r1,
        warnings,
    };
    let renderer = Renderer::new(None).unwrap();
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    for t in TARGETS {
        let mut perspectives = vec![Options::default()];
        if t.host_aware {
            perspectives.push(Options {
                host: first.clone(),
                ..Options::default()
            });
        }
        if t.name == "nftables" {
            // The layout large topologies get; overlapping random zones and hosts test that
            // no two elements of a set overlap (the kernel refuses those).
            perspectives.push(Options {
                nft_layout: ctxfw::render::nftables::Layout::Concat,
                ..Options::default()
            });
        }
        for opts in perspectives {
            let files = common::generate_files(&loaded, &renderer, &opts, t)
                .unwrap_or_else(|e| panic!("{} {:?}: {e:#}\n{text}", t.name, opts.host));
            for f in &files {
                assert!(!f.content.contains('\0'), "{}: NUL in output", f.name);
                if f.name.ends_with(".json") {
                    serde_json::from_str::<serde_json::Value>(&f.content)
                        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", f.name));
                }
                if f.name.ends_with(".ps1") {
                    powershell_parses(&f.name, &f.content);
                }
            }
            // The kernel's own parsers on every eighth case (each check forks a namespace).
            if case % 8 == 0 && ["nftables", "iptables"].contains(&t.name) && tools() {
                real_parsers(&files, &text);
            }
        }
    }
}

fn tools() -> bool {
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(netfilter_tools)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_valid_topologies_keep_the_invariants(choices in prop::collection::vec(any::<u32>(), 0..160)) {
        check(&choices);
    }
}

/// The generator itself: the simplest choices give a valid topology.
#[test]
fn the_simplest_random_topology_is_valid() {
    check(&[]);
}

/// The generator is not trivial: over fixed pseudo-random choices it yields flows, merged flows
/// (several parts), interface ends, IPv6 and parameterised ports, so the invariants above bite.
#[test]
fn random_topologies_exercise_the_resolver() {
    let cat = catalogue();
    let mut x: u32 = 0x2545_F491;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let (mut flows, mut merged, mut ifaces, mut v6, mut params) = (0, 0, 0, 0, 0);
    for _ in 0..128 {
        let choices: Vec<u32> = (0..160).map(|_| next()).collect();
        let text = topology(&choices);
        let (topo, _) = ctxfw::topology::parse(SourceFile::new("prop.toml", text.as_str()), cat)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let r = ctxfw::resolve::resolve(&topo, cat);
        flows += r.flows.len();
        merged += r.flows.iter().filter(|f| f.parts.len() > 1).count();
        ifaces += r
            .flows
            .iter()
            .filter(|f| f.from_end.interface.is_some() || f.to_end.interface.is_some())
            .count();
        v6 += r
            .flows
            .iter()
            .filter(|f| f.to_end.addresses.iter().any(|a| a.addr().is_ipv6()))
            .count();
        params += r.flows.iter().filter(|f| !f.parameters.is_empty()).count();
    }
    assert!(
        flows > 150 && merged > 10 && ifaces > 5 && v6 > 10 && params > 5,
        "flows {flows}, merged {merged}, interfaces {ifaces}, IPv6 {v6}, parameterised {params}"
    );
}

// ---- Free text changes nothing but comments ----

/// Pieces of free text: the syntax of every target (comment ends, quotes, escapes, statements,
/// markup, formula starts) and characters of every width (line and paragraph separators, a
/// byte-order mark, a zero-width space, accented letters, CJK, 4-byte characters).
const PIECES: &[&str] = &[
    "*/",
    "/*",
    "\"",
    "'",
    "\\",
    "\\\"",
    "#",
    ";",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\n",
    "\t",
    "$(",
    "${",
    "`",
    "'@",
    "@'",
    "#>",
    "<#",
    " -j ACCEPT ",
    "\nCOMMIT\n",
    "*filter",
    " accept ",
    " term x { then accept; } ",
    " policy p { then { permit; } } ",
    "<script>",
    "]]>",
    "<!--",
    "|",
    "![x](https://a.example/i.png)",
    "[l](u)",
    "~~~",
    "```",
    "**",
    "_",
    "=1+1",
    ";=1+1",
    "\t=1",
    "+",
    "-",
    "@",
    "%",
    "&",
    "\u{2019}",
    "\u{2018}",
    "\u{201A}",
    "\u{201B}",
    "\u{201C}",
    "\u{201D}",
    "\u{a0}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{200b}",
    "\u{e9}",
    "\u{6f22}",
    "\u{1F600}",
    "\u{1D54F}",
    " ",
    "x",
];

/// Whether a topology accepts `c` in free text (it refuses control characters but line feed
/// and tab, and bidirectional marks).
fn accepted(c: char) -> bool {
    !((c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}'))
}

/// Free text a topology accepts: pieces and random characters, short or long (up to the
/// 2,000-character limit).
fn free_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => prop::sample::select(PIECES).prop_map(String::from),
        1 => any::<char>().prop_filter_map("refused", |c| accepted(c).then(|| c.to_string())),
        1 => (0x10000u32..0x110000).prop_filter_map("not a char", |n| char::from_u32(n).map(String::from)),
    ];
    (prop::collection::vec(piece, 1..24), 0..4usize, 1..2000usize).prop_map(|(pieces, size, n)| {
        let joined: String = pieces.concat();
        // Mostly short; a quarter as long as `n`, up to the limit.
        let text = if size == 0 {
            joined.repeat(n / joined.chars().count().max(1) + 1)
        } else {
            joined
        };
        // At least one character that shows: a blank description is no paragraph at all in
        // the Markdown, which is not a change of meaning but would differ in structure.
        let text: String = text.chars().take(1999).collect();
        if text.trim().is_empty() {
            format!("{text}x")
        } else {
            text
        }
    })
}

/// What an output means to the program that reads it, with what free text may change
/// (comments, descriptions, Markdown and CSV cell text) left out; files the kernel loads are
/// only named here and compared after a real load ([`loaded`]).
fn meaning(name: &str, text: &str) -> String {
    let ext = name.rsplit('.').next().unwrap_or_default();
    match ext {
        "nft" | "rules" | "rules6" => String::new(),
        "json" => {
            let mut v: serde_json::Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
            blank_text(&mut v);
            v.to_string()
        }
        "yaml" => {
            let body: String = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            let mut v: serde_json::Value = serde_json::from_str(&yaml_escapes_as_json(&body))
                .unwrap_or_else(|e| panic!("{name}: not JSON-shaped YAML: {e}"));
            blank_text(&mut v);
            v.to_string()
        }
        "ps1" => powershell_tokens(name, text).join("\n"),
        "md" => common::md_structure(text).join("\n"),
        "csv" => csv_shape(name, text),
        "html" => html_tags(text).join(" "),
        "txt" => text.to_string(),
        "xlsx" => workbook_shape(text),
        _ => panic!("{name}: no meaning defined for this kind of file; add one to `meaning`"),
    }
}

/// A workbook's cells (as `common::xlsx_cells` lists them) without the ones that hold free
/// text: the description on the summary, purpose, documented source and reason on the flows
/// sheet. Every other cell, and where each one is, must stay.
fn workbook_shape(cells: &str) -> String {
    let mut sheet = "";
    let mut out = Vec::new();
    for line in cells.lines() {
        if let Some(s) = line.strip_prefix("## ") {
            sheet = s;
            out.push(line);
            continue;
        }
        let at = line.split(':').next().unwrap_or_default();
        let col = at.trim_end_matches(|c: char| c.is_ascii_digit());
        let free = match sheet {
            "Summary" => at == "B2",
            _ => ["L", "M", "N"].contains(&col),
        };
        if !free {
            out.push(line);
        }
    }
    out.join("\n")
}

/// The Aerleon YAML (JSON with YAML's `\UXXXXXXXX` escapes for characters beyond the Basic
/// Multilingual Plane) as JSON: those escapes become the characters.
fn yaml_escapes_as_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('U') => {
                let hex: String = chars.by_ref().take(8).collect();
                let n = u32::from_str_radix(&hex, 16).expect("8 hex digits");
                out.push(char::from_u32(n).expect("a character"));
            }
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Blanks the values of the keys that carry free text: descriptions, purposes, reasons,
/// comments (flows JSON, cloud templates, the Aerleon policy).
fn blank_text(v: &mut serde_json::Value) {
    const TEXT: &[&str] = &[
        "description",
        "Description",
        "GroupDescription",
        "purpose",
        "reason",
        "comment",
    ];
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if TEXT.contains(&k.as_str()) && x.is_string() {
                    *x = serde_json::Value::String(String::new());
                } else {
                    blank_text(x);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(blank_text),
        _ => {}
    }
}

/// A PowerShell script as its syntax tree: every node's kind, and the text of every token but
/// comments and the characters of verbatim strings (free text lives there; an expandable
/// string's variables and subexpressions stay in the tree). A parse error fails.
fn powershell_tokens(name: &str, text: &str) -> Vec<String> {
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_powershell::LANGUAGE.into())
        .unwrap();
    let tree = p.parse(text, None).unwrap();
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        assert!(
            !n.is_error() && !n.is_missing(),
            "{name} does not parse at {:?}",
            n.start_position()
        );
        match n.kind() {
            "comment" => continue,
            k @ ("verbatim_string_characters" | "verbatim_here_string_characters") => {
                out.push(k.to_string());
                continue;
            }
            k if n.child_count() == 0 => out.push(format!("{k} {}", &text[n.byte_range()])),
            k => out.push(k.to_string()),
        }
        let mut c = n.walk();
        let children: Vec<_> = n.children(&mut c).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// A CSV file's shape as RFC 4180 reads it: the number of fields of each record.
fn csv_shape(name: &str, text: &str) -> String {
    let mut records = Vec::new();
    let (mut fields, mut quoted, mut at_start) = (1, false, true);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if at_start => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
            }
            ('"', true) => quoted = false,
            (',', false) => {
                fields += 1;
                at_start = true;
                continue;
            }
            ('\r', false) if chars.peek() == Some(&'\n') => {}
            ('\n', false) => {
                records.push(fields);
                fields = 1;
                at_start = true;
                continue;
            }
            ('"', false) => panic!("{name}: a quote inside an unquoted field"),
            _ => {}
        }
        at_start = false;
    }
    assert!(!quoted, "{name}: a quoted field is not closed");
    format!("{records:?}")
}

/// The names of an HTML document's tags in order (text is escaped, so every `<` is markup).
fn html_tags(text: &str) -> Vec<&str> {
    text.split('<')
        .skip(1)
        .map(|t| {
            t.split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or("")
        })
        .collect()
}

/// Loads every nft and iptables file of `files` into the kernel, each in turn in one throwaway
/// network namespace, and lists what the kernel holds: `nft -j list ruleset` without comments
/// and handles, `iptables-save` without comments and its dated lines.
fn loaded(files: &[(String, String)]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::from("set -e\n");
    let mut names = Vec::new();
    for (i, (name, text)) in files.iter().enumerate() {
        let p = dir.path().join(format!("{i}-{}", name.replace('/', "_")));
        std::fs::write(&p, text).unwrap();
        let cmd = if name.ends_with(".nft") {
            format!(
                "nft flush ruleset\nnft -f {0}\nnft -j list ruleset",
                p.display()
            )
        } else if name.ends_with(".rules") {
            format!("iptables-restore {0}\niptables-save", p.display())
        } else if name.ends_with(".rules6") {
            format!("ip6tables-restore {0}\nip6tables-save", p.display())
        } else {
            continue;
        };
        script.push_str(&format!("{cmd}\necho '@@ctxfw-end@@'\n"));
        names.push(name.clone());
    }
    if names.is_empty() {
        return Vec::new();
    }
    let out = common::in_netns(&script);
    assert!(
        out.status.success(),
        "loading failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        files
            .iter()
            .map(|(n, t)| format!("--- {n}\n{t}"))
            .collect::<String>()
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let parts: Vec<&str> = text.split("@@ctxfw-end@@\n").collect();
    names
        .into_iter()
        .zip(parts)
        .map(|(name, listing)| {
            let kept = if name.ends_with(".nft") {
                let mut v: serde_json::Value =
                    serde_json::from_str(listing).unwrap_or_else(|e| panic!("{name}: nft -j: {e}"));
                strip_keys(&mut v, &["comment", "handle", "metainfo"]);
                v.to_string()
            } else {
                listing
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(without_ipt_comment)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            (name, kept)
        })
        .collect()
}

fn strip_keys(v: &mut serde_json::Value, keys: &[&str]) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !keys.contains(&k.as_str()));
            m.values_mut().for_each(|x| strip_keys(x, keys));
        }
        serde_json::Value::Array(a) => {
            a.retain(|x| {
                !x.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("metainfo"))
            });
            a.iter_mut().for_each(|x| strip_keys(x, keys));
        }
        _ => {}
    }
}

/// An `iptables-save` line without its `-m comment --comment ...` (quoted, with `\"` escapes,
/// or one word).
fn without_ipt_comment(line: &str) -> String {
    let Some(i) = line.find("-m comment --comment ") else {
        return line.to_string();
    };
    let rest = &line[i + "-m comment --comment ".len()..];
    let end = if let Some(q) = rest.strip_prefix('"') {
        let mut escaped = false;
        let close = q
            .char_indices()
            .find(|&(_, c)| {
                let stop = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                stop
            })
            .map(|(j, _)| j)
            .unwrap_or_else(|| panic!("unclosed comment: {line}"));
        close + 2
    } else {
        rest.find(' ').unwrap_or(rest.len())
    };
    format!("{}{}", &line[..i], rest[end..].trim_start())
}

static TEXT_CASE: AtomicUsize = AtomicUsize::new(0);

/// Every target's files for a topology text: zone perspective, the first component's host
/// perspective, the concatenated nftables layout.
fn all_outputs(text: &str) -> (Vec<(String, String)>, ctxfw::resolve::Resolution) {
    let cat = catalogue();
    let (topo, warnings) = ctxfw::topology::parse(SourceFile::new("prop.toml", text), cat)
        .unwrap_or_else(|e| panic!("generated topology is invalid:\n{e}\n--- topology\n{text}"));
    let resolution = ctxfw::resolve::resolve(&topo, cat);
    let first = topo.components.keys().next().cloned();
    let loaded = ctxfw::Loaded {
        catalogue: cat.clone(),
        topology: topo,
        resolution,
        warnings,
    };
    let renderer = Renderer::new(None).unwrap();
    let mut out = Vec::new();
    for t in TARGETS {
        let mut perspectives = vec![("zone", Options::default())];
        if t.host_aware {
            perspectives.push((
                "host",
                Options {
                    host: first.clone(),
                    ..Options::default()
                },
            ));
        }
        if t.name == "matrix" {
            // The grouped view folds services: its rows must not change with the text either.
            perspectives.push((
                "group",
                Options {
                    group: true,
                    ..Options::default()
                },
            ));
        }
        if t.name == "nftables" {
            perspectives.push((
                "concat",
                Options {
                    nft_layout: ctxfw::render::nftables::Layout::Concat,
                    ..Options::default()
                },
            ));
        }
        for (label, opts) in perspectives {
            let files = common::generate_files(&loaded, &renderer, &opts, t)
                .unwrap_or_else(|e| panic!("{} ({label}): {e:#}\n{text}", t.name));
            out.extend(
                files
                    .into_iter()
                    .map(|f| (format!("{}/{label}/{}", t.name, f.name), f.content)),
            );
        }
    }
    (out, loaded.resolution)
}

/// A zone, a component and an addition from it to the first random component, so that free
/// text always reaches a flow between zones (the Aerleon export holds only those, and random
/// topologies often have none).
fn with_text_flow(t: String, text: &mut dyn FnMut() -> String) -> String {
    format!(
        "{t}[zones.ztext]\ncidrs = [\"10.200.0.0/24\"]\n\
         [components.ctext]\nkind = \"vda\"\nzone = \"ztext\"\nhosts = [\"10.200.0.5\"]\n\
         [[additions]]\nid = \"text\"\nfrom = \"ctext\"\nto = \"c0\"\nprotocol = \"tcp\"\n\
         ports = [22, \"2200-2210\"]\npurpose = {}\nreason = {}\n",
        toml_str(&text()),
        toml_str(&text())
    )
}

/// One case: the random topology with the random texts, and with plain ones.
fn text_changes_nothing(choices: &[u32], texts: &[String]) {
    let mut i = 0;
    let mut hostile_text = || {
        i += 1;
        texts[i % texts.len()].clone()
    };
    let hostile = topology_with(choices, &mut hostile_text);
    let hostile = with_text_flow(hostile, &mut hostile_text);
    let mut n = 0;
    let plain = with_text_flow(topology(choices), &mut || {
        n += 1;
        format!("plain text {n}")
    });
    let (h, rh) = all_outputs(&hostile);
    let (b, rb) = all_outputs(&plain);
    // The same flows, ports and addresses.
    let key = |r: &ctxfw::resolve::Resolution| {
        r.flows
            .iter()
            .map(|f| {
                format!(
                    "{} {} {:?} {:?} {}",
                    f.id,
                    f.ports,
                    f.from_end.addresses,
                    f.to_end.addresses,
                    f.parts.len()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        key(&rh),
        key(&rb),
        "the flows differ\n--- topology\n{hostile}"
    );
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&h), names(&b), "other files\n--- topology\n{hostile}");
    for ((name, ht), (_, bt)) in h.iter().zip(&b) {
        assert!(!ht.contains('\0'), "{name}: NUL");
        assert_eq!(
            meaning(name, ht),
            meaning(name, bt),
            "{name}: means something else with this text\n--- topology\n{hostile}\n--- file\n{ht}"
        );
    }
    let case = TEXT_CASE.fetch_add(1, Ordering::Relaxed);
    if tools() {
        for ((name, hl), (_, bl)) in loaded(&h).iter().zip(loaded(&b)) {
            assert_eq!(
                hl, &bl,
                "{name}: the kernel holds other rules with this text\n--- topology\n{hostile}"
            );
        }
    }
    // aclgen takes about a second a run: every third case.
    if case % 3 == 0 {
        if let Some(aclgen) = aclgen_once() {
            let (ha, ba) = (aerleon(&aclgen, &h), aerleon(&aclgen, &b));
            assert_eq!(ha.keys().collect::<Vec<_>>(), ba.keys().collect::<Vec<_>>());
            for (name, text) in &ha {
                assert_eq!(
                    common::aclgen_without_comments(name, text),
                    common::aclgen_without_comments(name, &ba[name]),
                    "{name}: aclgen's configuration differs outside comments\n--- topology\n{hostile}\n--- file\n{text}"
                );
            }
        }
    }
}

fn aclgen_once() -> Option<std::path::PathBuf> {
    static A: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    A.get_or_init(common::aclgen).clone()
}

/// aclgen's outputs for the Aerleon export among `files` (none when the topology has no flow
/// between zones: aclgen fails on a policy without filters).
fn aerleon(
    aclgen: &Path,
    files: &[(String, String)],
) -> std::collections::BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut export = None;
    for (name, text) in files {
        let Some(rel) = name.strip_prefix("aerleon/zone/") else {
            continue;
        };
        if rel.contains("/policies/") && text.contains("\"filters\": []") {
            return Default::default();
        }
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        export = rel.split('/').next().map(|e| dir.path().join(e));
    }
    match export {
        Some(e) => common::run_aclgen(aclgen, &e),
        None => Default::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// No free text, at any length up to the limit and in any Unicode a topology accepts,
    /// changes what a target means: the rule sets the kernel loads, the scripts PowerShell
    /// parses, the cloud templates, the Aerleon export (and aclgen's configurations from it),
    /// the flows, the review files' structure.
    #[test]
    fn free_text_changes_nothing_but_comments(
        choices in prop::collection::vec(any::<u32>(), 0..160),
        texts in prop::collection::vec(free_text(), 1..8),
    ) {
        text_changes_nothing(&choices, &texts);
    }
}
