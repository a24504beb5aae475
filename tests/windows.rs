//! The Windows Firewall target: every generated script parses with a real PowerShell grammar
//! (tree-sitter-powershell) without ERROR or MISSING nodes, runs only the template's own
//! cmdlets, and keeps every hostile string from a topology or an extension catalogue inside one
//! single-quoted literal.

mod common;

use std::path::{Path, PathBuf};

use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::output::OutFile;
use ctxfw::render::Renderer;
use tree_sitter::{Node, Parser, Tree};

const FIXTURE: &str = "tests/fixtures/windows-injection.toml";
const FIXTURE_CATALOGUE: &str = "tests/fixtures/windows-catalogue";

/// The only commands a generated script may run.
const COMMANDS: &[&str] = &[
    "Set-StrictMode",
    "Get-NetFirewallRule",
    "Remove-NetFirewallRule",
    "New-NetFirewallRule",
    "Out-Null",
    "Write-Verbose",
];

/// The only variables a generated script may name.
const VARIABLES: &[&str] = &[
    "$FirewallProfile",
    "$PolicyStore",
    "$Remove",
    "$ErrorActionPreference",
    "$Topology",
    "$Component",
    "$Group",
    "$existing",
    "$PSCmdlet",
    "$added",
    "$false",
];

fn windows_target() -> Vec<&'static generate::Target> {
    vec![TARGETS.iter().find(|t| t.name == "windows").unwrap()]
}

fn generate(topology: &Path, catalogue: Option<&Path>, opts: &Options) -> Vec<OutFile> {
    let loaded =
        ctxfw::load(topology, catalogue).unwrap_or_else(|e| panic!("{}: {e}", topology.display()));
    let r = Renderer::new(None).unwrap();
    generate::generate(&loaded, &r, opts, &windows_target())
        .unwrap_or_else(|e| panic!("{}: {e:#}", topology.display()))
}

fn fixture(outbound: bool) -> Vec<OutFile> {
    let root = common::root();
    generate(
        &root.join(FIXTURE),
        Some(&root.join(FIXTURE_CATALOGUE)),
        &Options {
            outbound,
            ..Options::default()
        },
    )
}

fn parse(text: &str) -> Tree {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("tree-sitter-powershell matches the tree-sitter ABI");
    p.parse(text, None).expect("parser returns a tree")
}

fn nodes<'t>(n: Node<'t>, out: &mut Vec<Node<'t>>) {
    out.push(n);
    let mut c = n.walk();
    for ch in n.children(&mut c) {
        nodes(ch, out);
    }
}

fn all_nodes(tree: &Tree) -> Vec<Node<'_>> {
    let mut v = Vec::new();
    nodes(tree.root_node(), &mut v);
    v
}

/// Every ERROR and MISSING node, with its position.
fn syntax_errors(tree: &Tree, text: &str) -> Vec<String> {
    all_nodes(tree)
        .into_iter()
        .filter(|n| n.is_error() || n.is_missing())
        .map(|n| {
            let p = n.start_position();
            format!(
                "{} at {}:{}: {:?}",
                if n.is_missing() { "MISSING" } else { "ERROR" },
                p.row + 1,
                p.column + 1,
                &text[n.byte_range()].chars().take(60).collect::<String>()
            )
        })
        .collect()
}

/// Parse, and check the grammar, the commands and the variables of one script.
fn check_script(name: &str, text: &str) -> Tree {
    let tree = parse(text);
    let errors = syntax_errors(&tree, text);
    assert!(
        errors.is_empty(),
        "{name} does not parse:\n{}",
        errors.join("\n")
    );
    for n in all_nodes(&tree) {
        let t = &text[n.byte_range()];
        match n.kind() {
            "command_name" | "command_name_expr" => assert!(
                COMMANDS.contains(&t),
                "{name}: runs `{t}`, which is not one of the template's commands {COMMANDS:?}"
            ),
            "command_invokation_operator" => panic!("{name}: invokes `{t}`"),
            "variable" => assert!(
                VARIABLES.contains(&t),
                "{name}: names variable `{t}`, not one of {VARIABLES:?}"
            ),
            "expandable_string_literal" | "expandable_here_string_literal" | "sub_expression" => {
                assert!(!t.contains("pwned"), "{name}: payload in {}: {t}", n.kind())
            }
            _ => {}
        }
    }
    tree
}

/// PowerShell's single-quote characters: `'` and U+2018..U+201B (the language specification,
/// `single-quote-character`). The tree-sitter grammar knows only `'`, so this reads every
/// verbatim literal again the way PowerShell does.
fn is_ps_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

/// Read a verbatim string literal as PowerShell does: returns the byte length PowerShell's
/// literal takes and its value.
fn ps_verbatim(text: &str) -> (usize, String) {
    let mut chars = text.char_indices().peekable();
    let (_, open) = chars.next().expect("a literal");
    assert!(is_ps_quote(open), "not a verbatim literal: {text}");
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if is_ps_quote(c) {
            match chars.peek() {
                Some(&(_, d)) if is_ps_quote(d) => {
                    value.push(d);
                    chars.next();
                }
                _ => return (i + c.len_utf8(), value),
            }
        } else {
            value.push(c);
        }
    }
    panic!("unterminated verbatim literal: {text}");
}

/// Every verbatim literal's value, after checking that PowerShell ends it where the grammar does.
fn verbatim_values(name: &str, tree: &Tree, text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    for n in all_nodes(tree) {
        if n.kind() == "verbatim_string_characters" {
            let t = &text[n.byte_range()];
            let (len, value) = ps_verbatim(t);
            assert_eq!(
                len,
                t.len(),
                "{name}: PowerShell ends the literal early, after {:?}",
                &t[..len]
            );
            out.push((n.byte_range(), value));
        }
    }
    out
}

/// The arguments of each `New-NetFirewallRule`: parameter name -> argument text.
fn rules(tree: &Tree, text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    for n in all_nodes(tree) {
        if n.kind() != "command" {
            continue;
        }
        let name = n.child_by_field_name("command_name").unwrap();
        if &text[name.byte_range()] != "New-NetFirewallRule" {
            continue;
        }
        let mut params: Vec<(String, String)> = Vec::new();
        if let Some(el) = n.child_by_field_name("command_elements") {
            let mut c = el.walk();
            for ch in el.children(&mut c) {
                let t = &text[ch.byte_range()];
                match ch.kind() {
                    "command_parameter" => params.push((t.to_string(), String::new())),
                    "command_argument_sep" => {}
                    _ => {
                        let last = params.last_mut().expect("argument after a parameter");
                        last.1.push_str(t);
                    }
                }
            }
        }
        out.push(params);
    }
    out
}

fn get<'a>(rule: &'a [(String, String)], p: &str) -> Option<&'a str> {
    rule.iter().find(|(k, _)| k == p).map(|(_, v)| v.as_str())
}

#[test]
fn every_example_script_parses_and_runs_only_firewall_cmdlets() {
    let mut scripts = 0;
    for path in common::example_topologies() {
        for outbound in [false, true] {
            let opts = Options {
                outbound,
                ..Options::default()
            };
            for f in generate(&path, None, &opts) {
                let tree = check_script(&f.name, &f.content);
                verbatim_values(&f.name, &tree, &f.content);
                scripts += 1;
            }
        }
    }
    assert!(scripts > 0, "no example topology has a Windows component");
}

#[test]
fn hostile_text_stays_inside_one_string_literal() {
    let topo = std::fs::read_to_string(common::root().join(FIXTURE)).unwrap();
    let cat =
        std::fs::read_to_string(common::root().join(FIXTURE_CATALOGUE).join("acme.toml")).unwrap();
    for outbound in [false, true] {
        let files = fixture(outbound);
        let mut emitted = String::new();
        for f in &files {
            let tree = check_script(&f.name, &f.content);
            let literals = verbatim_values(&f.name, &tree, &f.content);
            // Every payload marker in the script lies inside a verbatim literal.
            for (at, _) in f.content.match_indices("pwned") {
                assert!(
                    literals.iter().any(|(r, _)| r.start < at && at < r.end),
                    "{}: payload outside a string literal at byte {at}: {:?}",
                    f.name,
                    &f.content[at..(at + 40).min(f.content.len())]
                );
            }
            for (_, v) in &literals {
                emitted.push_str(v);
                emitted.push('\n');
            }
        }
        // The payloads did reach the scripts (the test is not vacuous) and read back intact.
        let mut markers = vec![
            "pwned-add1",
            "pwned-add2",
            "pwned-add3",
            "pwned-add4",
            "pwned-reason",
            "pwned-reason2",
            "pwned-reason3",
            "pwned-icmp",
            "pwned-icmp2",
            "pwned-esp",
            "pwned-cat1",
            "pwned-cat5",
            "pwned-src2",
        ];
        if outbound {
            markers.push("pwned-cloud");
        }
        for m in markers {
            assert!(
                emitted.contains(m),
                "payload {m} missing (outbound: {outbound})"
            );
        }
        for payload in [
            "it's ' ; Write-Output pwned-add1 ; '’ ; Write-Output pwned-add2 ; ‘‘ ‚ ‛ ; \" $(Write-Output pwned-add3) `$env:X ; #> <# ; newline:\nWrite-Output pwned-add4 ; '",
            "CHG-1 ' ; Write-Output pwned-reason ; ’ $(Write-Output pwned-reason2) ` ; #>\nWrite-Output pwned-reason3",
            // Control characters from the catalogue: NUL and ESC become U+FFFD, CR is dropped.
            "Admin UI ' ; Write-Output pwned-cat1 ; ’ ; Write-Output pwned-cat2 ; ‘ ‚ ‛ \" $(Write-Output pwned-cat3) `$x #> <#\nWrite-Output pwned-cat4 ; nul:\u{FFFD} esc:\u{FFFD} cr: ; Write-Output pwned-cat5 ; '",
        ] {
            assert!(
                emitted.contains(payload),
                "payload not read back intact: {payload:?}"
            );
        }
        assert!(topo.contains("pwned-add4") && cat.contains("pwned-cat5"));
        assert!(!emitted.contains('\0'), "NUL reached a script");
    }
}

#[test]
fn inbound_rules_serve_ports_outbound_only_when_asked() {
    for outbound in [false, true] {
        for f in fixture(outbound) {
            let tree = parse(&f.content);
            for r in rules(&tree, &f.content) {
                for p in [
                    "-Name",
                    "-DisplayName",
                    "-Group",
                    "-Description",
                    "-Direction",
                    "-Protocol",
                    "-RemoteAddress",
                    "-Action",
                    "-Profile",
                    "-Enabled",
                ] {
                    assert!(get(&r, p).is_some(), "{}: rule without {p}: {r:?}", f.name);
                }
                assert_eq!(get(&r, "-Group"), Some("$Group"));
                assert_eq!(get(&r, "-PolicyStore"), Some("$PolicyStore"));
                assert_eq!(get(&r, "-Action"), Some("Allow"));
                assert_eq!(get(&r, "-Profile"), Some("$FirewallProfile"));
                assert_eq!(get(&r, "-Enabled"), Some("True"));
                let proto = get(&r, "-Protocol").unwrap();
                let ports = ["'TCP'", "'UDP'"].contains(&proto);
                match get(&r, "-Direction").unwrap() {
                    "Inbound" => {
                        assert_eq!(get(&r, "-LocalPort").is_some(), ports, "{r:?}");
                        assert!(get(&r, "-RemotePort").is_none(), "{r:?}");
                    }
                    "Outbound" => {
                        assert!(outbound, "{}: outbound rule without --outbound", f.name);
                        assert_eq!(get(&r, "-RemotePort").is_some(), ports, "{r:?}");
                        assert!(get(&r, "-LocalPort").is_none(), "{r:?}");
                    }
                    d => panic!("direction {d}"),
                }
            }
        }
    }
    // The rules the fixture must produce, as NetSecurity spells them.
    let files = fixture(true);
    let script = |n: &str| {
        let f = files
            .iter()
            .find(|f| f.name == format!("win-injection-{n}.ps1"))
            .unwrap();
        let tree = parse(&f.content);
        rules(&tree, &f.content)
    };
    let dc = script("dc");
    let icmp = dc
        .iter()
        .find(|r| get(r, "-Protocol") == Some("'ICMPv4'"))
        .expect("ICMPv4 rule");
    assert_eq!(get(icmp, "-RemoteAddress"), Some("'10.9.0.10'"));
    assert_eq!(get(icmp, "-Direction"), Some("Inbound"));
    let portal = script("portal");
    let icmp6 = portal
        .iter()
        .find(|r| get(r, "-Protocol") == Some("'ICMPv6'"))
        .expect("ICMPv6 rule");
    // Only the IPv6 address of dc: ICMPv6 cannot reach its IPv4 one.
    assert_eq!(get(icmp6, "-RemoteAddress"), Some("'2001:db8:10::5'"));
    assert!(get(icmp6, "-RemotePort").is_none());
    let esp = portal
        .iter()
        .find(|r| get(r, "-Protocol") == Some("'50'"))
        .expect("ESP as protocol 50");
    assert!(get(esp, "-LocalPort").is_none());
    let gre = portal
        .iter()
        .find(|r| get(r, "-Protocol") == Some("'47'"))
        .expect("GRE as protocol 47");
    assert_eq!(get(gre, "-Direction"), Some("Outbound"));
    let cloud = portal
        .iter()
        .find(|r| get(r, "-Name").is_some_and(|n| n.contains("acme-cloud")))
        .expect("rule to the internet service");
    // Every address no other zone holds: the ranges between the zones' networks, per family.
    assert_eq!(
        get(cloud, "-RemoteAddress"),
        Some(
            "'0.0.0.0-10.0.9.255', '10.0.11.0-10.8.255.255', '10.10.0.0-255.255.255.255', \
             '::-2001:db8:f:ffff:ffff:ffff:ffff:ffff', \
             '2001:db8:10:1::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'"
        )
    );
    assert_eq!(get(cloud, "-RemotePort"), Some("'443'"));
    assert!(get(cloud, "-Description")
        .unwrap()
        .contains("Domains: api.acme.example"));
    let sql = script("sql-01_x");
    let add = sql
        .iter()
        .find(|r| get(r, "-Direction") == Some("Inbound"))
        .expect("inbound rule on sql");
    assert_eq!(get(add, "-LocalPort"), Some("'1433', '5022-5023'"));
    assert_eq!(get(add, "-RemoteAddress"), Some("'10.9.0.10'"));
}

#[test]
fn icmpv6_rules_name_only_ipv6_peers() {
    let files = fixture(false);
    let f = files
        .iter()
        .find(|f| f.name == "win-injection-dc.ps1")
        .unwrap();
    let tree = parse(&f.content);
    let r = rules(&tree, &f.content);
    // portal has only IPv4 addresses: an ICMPv6 rule from it could never match, so none.
    assert!(
        r.iter().all(|r| get(r, "-Protocol") != Some("'ICMPv6'")),
        "{r:?}"
    );
}

#[test]
fn scripts_converge_and_remove_their_group_first() {
    for f in fixture(true) {
        let c = &f.content;
        let comp = f
            .name
            .strip_prefix("win-injection-")
            .and_then(|n| n.strip_suffix(".ps1"))
            .unwrap();
        assert!(c.starts_with("#Requires -RunAsAdministrator\n#Requires -Modules NetSecurity\n"));
        assert!(c.contains("[CmdletBinding(SupportsShouldProcess)]\nparam("));
        assert!(c.contains(&format!("$Group = 'ctxfw win-injection {comp}'\n")));
        let get = c
            .find("Get-NetFirewallRule -PolicyStore $PolicyStore -Group $Group")
            .unwrap();
        let remove = c.find("Remove-NetFirewallRule").unwrap();
        let ret = c.find("if ($Remove) {\n    return\n}").unwrap();
        let first_new = c.find("New-NetFirewallRule").unwrap();
        assert!(
            get < remove && remove < ret && ret < first_new,
            "{}",
            f.name
        );
        // Every change asks ShouldProcess, so -WhatIf and -Confirm cover all of them.
        assert_eq!(
            c.matches("New-NetFirewallRule -PolicyStore $PolicyStore -Name")
                .count(),
            c.matches("$PSCmdlet.ShouldProcess(").count() - 1,
            "{}",
            f.name
        );
    }
}

#[test]
fn one_script_per_windows_component_and_host_narrows() {
    let names: Vec<String> = fixture(false).into_iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "win-injection-dc.ps1",
            "win-injection-sql-01_x.ps1",
            "win-injection-portal.ps1"
        ]
    );
    let root = common::root();
    let only = generate(
        &root.join(FIXTURE),
        Some(&root.join(FIXTURE_CATALOGUE)),
        &Options {
            host: Some("portal".into()),
            ..Options::default()
        },
    );
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].name, "win-injection-portal.ps1");
}

#[test]
fn output_is_deterministic() {
    assert_eq!(fixture(true), fixture(true));
}

#[test]
fn sctp_to_a_windows_component_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sctp.toml");
    std::fs::write(
        &p,
        r#"name = "sctp"
description = "SCTP to a Windows server"
[zones.core]
cidrs = ["10.0.0.0/24"]
[components.a]
kind = "admin-workstation"
zone = "core"
hosts = ["10.0.0.1"]
[components.sql]
kind = "sql-server"
zone = "core"
hosts = ["10.0.0.2"]
[[additions]]
id = "sctp"
from = "a"
to = "sql"
protocol = "sctp"
ports = [3868]
purpose = "Diameter"
reason = "test"
"#,
    )
    .unwrap();
    let loaded = ctxfw::load(&p, None).unwrap();
    let r = Renderer::new(None).unwrap();
    let e = generate::generate(&loaded, &r, &Options::default(), &windows_target()).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("sctp.toml") && msg.contains("sctp") && msg.contains("[[removals]]"),
        "{msg}"
    );
}

#[test]
fn cli_writes_the_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .current_dir(common::root())
        .args([
            "--catalogue",
            FIXTURE_CATALOGUE,
            "generate",
            FIXTURE,
            "--target",
            "windows",
            "--outbound",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| PathBuf::from(e.unwrap().file_name()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "win-injection-dc.ps1",
            "win-injection-portal.ps1",
            "win-injection-sql-01_x.ps1"
        ]
        .map(PathBuf::from)
    );
}

/// Address ranges as (family, first, last) numbers, merged: what a list of remote addresses
/// covers.
fn merged(mut v: Vec<(bool, u128, u128)>) -> Vec<(bool, u128, u128)> {
    v.sort();
    let mut out: Vec<(bool, u128, u128)> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(l) if l.0 == r.0 && r.1 <= l.2.saturating_add(1) => l.2 = l.2.max(r.2),
            _ => out.push(r),
        }
    }
    out
}

fn num(a: std::net::IpAddr) -> (bool, u128) {
    match a {
        std::net::IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        std::net::IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn span(n: &ipnet::IpNet) -> (bool, u128, u128) {
    let (v6, lo) = num(n.network());
    (v6, lo, num(n.broadcast()).1)
}

/// Every rule's `-RemoteAddress`, in every example and fixture with Windows components, covers
/// exactly the peer's addresses, where a default route (the internet) is every address outside
/// the other zones' networks: an internet rule never names an address of another zone.
#[test]
fn remote_addresses_are_the_peers_addresses_and_the_internet_leaves_the_zones_out() {
    let root = common::root();
    let mut topologies: Vec<(PathBuf, Option<PathBuf>)> = common::example_topologies()
        .into_iter()
        .map(|t| (t, None))
        .collect();
    topologies.push((root.join(FIXTURE), Some(root.join(FIXTURE_CATALOGUE))));
    topologies.push((root.join("tests/fixtures/internet-lab.toml"), None));
    let mut internet_rules = 0;
    for (t, cat) in &topologies {
        let loaded = ctxfw::load(t, cat.as_deref()).unwrap();
        let topo = &loaded.topology;
        let inside: Vec<(bool, u128, u128)> = merged(
            topo.zones
                .values()
                .filter(|z| !z.default_route)
                .flat_map(|z| z.cidrs.iter().map(span))
                .collect(),
        );
        // What a rule end may match, computed here from the zones (not by ctxfw's own code).
        let expected = |nets: &[ipnet::IpNet], families: [bool; 2]| {
            let mut v = Vec::new();
            for v6 in [false, true] {
                if !families[usize::from(v6)] {
                    continue;
                }
                let fam: Vec<&ipnet::IpNet> =
                    nets.iter().filter(|n| n.addr().is_ipv6() == v6).collect();
                if fam.iter().any(|n| n.prefix_len() == 0) {
                    let last = if v6 { u128::MAX } else { u128::from(u32::MAX) };
                    let mut at = Some(0u128);
                    for &(f, lo, hi) in inside.iter().filter(|r| r.0 == v6) {
                        if let Some(a) = at {
                            if lo > a {
                                v.push((f, a, lo - 1));
                            }
                        }
                        at = (hi < last).then(|| hi + 1);
                    }
                    if let Some(a) = at {
                        v.push((v6, a, last));
                    }
                } else {
                    v.extend(fam.iter().map(|n| span(n)));
                }
            }
            merged(v)
        };
        let files = generate(
            t,
            cat.as_deref(),
            &Options {
                outbound: true,
                ..Options::default()
            },
        );
        for f in &files {
            let tree = parse(&f.content);
            for r in rules(&tree, &f.content) {
                let name = get(&r, "-Name").unwrap().trim_matches('\'');
                let flow = loaded
                    .resolution
                    .flows
                    .iter()
                    .find(|fl| {
                        name.ends_with(&format!("-{}-in", fl.id))
                            || name.ends_with(&format!("-{}-out", fl.id))
                    })
                    .unwrap_or_else(|| panic!("{}: no flow for {name}", f.name));
                let inbound = get(&r, "-Direction") == Some("Inbound");
                let peer = if inbound {
                    &flow.from_end
                } else {
                    &flow.to_end
                };
                let families = match get(&r, "-Protocol") {
                    Some("'ICMPv4'") => [true, false],
                    Some("'ICMPv6'") => [false, true],
                    _ => [true, true],
                };
                let listed = get(&r, "-RemoteAddress").unwrap();
                let mut got = Vec::new();
                for a in listed.split(", ").map(|a| a.trim_matches('\'')) {
                    if a == "Any" {
                        got.push((false, 0, u128::from(u32::MAX)));
                        got.push((true, 0, u128::MAX));
                    } else if let Some((lo, hi)) = a.split_once('-') {
                        let (v6, lo) = num(lo.parse().unwrap());
                        got.push((v6, lo, num(hi.parse().unwrap()).1));
                    } else if let Ok(n) = a.parse::<ipnet::IpNet>() {
                        got.push(span(&n));
                    } else {
                        let (v6, x) = num(a.parse().unwrap());
                        got.push((v6, x, x));
                    }
                }
                let got = merged(got);
                assert_eq!(
                    got,
                    expected(&peer.addresses, families),
                    "{}: {name}: {listed}",
                    f.name
                );
                if peer.addresses.iter().any(|n| n.prefix_len() == 0) {
                    internet_rules += 1;
                    for g in &got {
                        assert!(
                            !inside
                                .iter()
                                .any(|z| z.0 == g.0 && z.1 <= g.2 && g.1 <= z.2),
                            "{}: {name}: {listed} reaches a zone",
                            f.name
                        );
                    }
                }
            }
        }
    }
    assert!(
        internet_rules >= 3,
        "{internet_rules} rules with the internet"
    );
}
