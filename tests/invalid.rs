//! Every invalid-input case: its message, its location (file:line:column, found from a marker
//! in the text) and its hint. Also: all errors are collected, and nothing is written.

mod common;

use std::process::Command;

const BASE: &str = r#"
name = "t"
description = "test"

[zones.internet]
cidrs = ["0.0.0.0/0"]

[zones.dmz]
cidrs = ["198.51.100.0/24"]

[zones.core]
cidrs = ["10.0.10.0/24"]

[components.sf]
kind = "storefront"
zone = "core"
hosts = ["10.0.10.21"]
"#;

struct Case {
    name: &'static str,
    text: String,
    message: &'static str,
    /// The error's span starts at the first occurrence of this text.
    at: &'static str,
    hint: &'static str,
}

fn case(
    name: &'static str,
    extra: &str,
    message: &'static str,
    at: &'static str,
    hint: &'static str,
) -> Case {
    Case {
        name,
        text: format!("{BASE}{extra}"),
        message,
        at,
        hint,
    }
}

fn line_col(text: &str, marker: &str) -> (usize, usize) {
    let off = text
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker:?} not in text"));
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn cases() -> Vec<Case> {
    vec![
        case("unknown top-level key", "\n[zonez.x]\ncidrs = []\n", "unknown key `zonez` in the topology", "zonez", "did you mean \"zones\"?"),
        case("unknown component key", "\n[components.x]\nkind = \"vda\"\nzone = \"core\"\nhostz = [\"10.0.10.9\"]\n", "unknown key `hostz` in component `x`", "hostz", "did you mean \"hosts\"?"),
        case("unknown kind", "\n[components.x]\nkind = \"storefrnt\"\nzone = \"core\"\n", "unknown component kind `storefrnt`", "\"storefrnt\"", "did you mean \"storefront\"?"),
        case("unknown zone", "\n[components.x]\nkind = \"vda\"\nzone = \"dmzz\"\n", "unknown zone `dmzz`", "\"dmzz\"", "did you mean \"dmz\"?"),
        case(
            "unknown interface role",
            "\n[components.ns]\nkind = \"netscaler-gateway\"\nzone = \"dmz\"\n[components.ns.interfaces.vipp]\nhosts = [\"198.51.100.10\"]\n",
            "unknown interface role `vipp`",
            "vipp",
            "did you mean \"vip\"?",
        ),
        case("interface on a kind without roles", "\n[components.x]\nkind = \"vda\"\nzone = \"core\"\n[components.x.interfaces.snip]\n", "unknown interface role `snip`", "snip]", "have no interface roles"),
        case("host outside its zone", "\n[components.x]\nkind = \"vda\"\nzone = \"core\"\nhosts = [\"10.0.11.5\"]\n", "host 10.0.11.5/32 is outside its zone `core`", "\"10.0.11.5\"", "zone `core` holds 10.0.10.0/24"),
        case(
            "interface host outside its zone",
            "\n[components.ns]\nkind = \"netscaler-gateway\"\nzone = \"dmz\"\n[components.ns.interfaces.vip]\nhosts = [\"10.0.10.9\"]\n",
            "host 10.0.10.9/32 is outside its zone `dmz`",
            "\"10.0.10.9\"",
            "move the host",
        ),
        case("network listed twice in a zone", "\n[zones.lab]\ncidrs = [\"10.0.20.0/24\", \"10.0.21.0/24\", \"10.0.20.0/24\"]\n", "network 10.0.20.0/24 is listed twice in zone `lab`", "\"10.0.20.0/24\"]", "remove one of them"),
        case("overlapping zones", "\n[zones.core2]\ncidrs = [\"10.0.10.128/25\"]\n", "zone `core2` network 10.0.10.128/25 overlaps zone `core` network 10.0.10.0/24", "\"10.0.10.128/25\"", "zones must not overlap"),
        case(
            "internet host in another zone",
            "\n[components.u]\nkind = \"workspace-app\"\nzone = \"internet\"\nhosts = [\"10.0.10.7\"]\n",
            "component `u`: host 10.0.10.7/32 is in zone `core` (10.0.10.0/24), not in zone `internet`",
            "\"10.0.10.7\"",
            "zone `internet` holds the default route",
        ),
        case("bad interface name", "\n[zones.lab]\ncidrs = [\"10.0.20.0/24\"]\ninterfaces = [\"eth 1\"]\n", "interface name \"eth 1\" must be 1 to 15 letters, digits, '.', '-' or '_'", "\"eth 1\"", "the name `ip link` shows"),
        case("empty interfaces", "\n[zones.lab]\ncidrs = [\"10.0.20.0/24\"]\ninterfaces = []\n", "zone `lab` has an empty interfaces list", "[]", "leave `interfaces` out"),
        case(
            "interface in two zones",
            "\n[zones.lab]\ncidrs = [\"10.0.20.0/24\"]\ninterfaces = ['eth1']\n[zones.lab2]\ncidrs = [\"10.0.21.0/24\"]\ninterfaces = [\"eth1\"]\n",
            "interface eth1 is listed in zone `lab` and in zone `lab2`",
            "\"eth1\"",
            "a firewall interface faces one zone",
        ),
        case("host bits set in a zone", "\n[zones.bad]\ncidrs = [\"10.0.20.5/24\"]\n", "zone network 10.0.20.5/24 has host bits set", "\"10.0.20.5/24\"", "did you mean \"10.0.20.0/24\"?"),
        case("host bits set in a host network", "\n[components.x]\nkind = \"vda\"\nzone = \"core\"\nhosts = [\"10.0.10.5/28\"]\n", "host network 10.0.10.5/28 has host bits set", "\"10.0.10.5/28\"", "\"10.0.10.0/28\""),
        case("not an address", "\n[zones.bad]\ncidrs = [\"10.0.300.0/24\"]\n", "`10.0.300.0/24` is not a valid zone network", "\"10.0.300.0/24\"", "write an IPv4 or IPv6 network"),
        case("address without prefix in a zone", "\n[zones.bad]\ncidrs = [\"10.0.20.0\"]\n", "`10.0.20.0` is not a valid zone network", "\"10.0.20.0\"", "needs a prefix length"),
        case("duplicate component name", "\n[components.sf]\nkind = \"vda\"\nzone = \"core\"\n", "TOML syntax", "[components.sf]\nkind = \"vda\"", "check quotes"),
        case("bad parameter value", "\n[parameters]\nxml_port = 8443\n", "parameter `xml_port` cannot be 8443", "8443", "allowed values: 80, 8080, 443"),
        case("parameter of the wrong type", "\n[parameters]\nedt = \"yes\"\n", "edt must be true or false, found a string", "\"yes\"", "without quotes"),
        case("unknown parameter", "\n[parameters]\nxml_prot = 80\n", "unknown parameter `xml_prot`", "xml_prot", "did you mean \"xml_port\"?"),
        case("bad component name", "\n[components.\"my sf\"]\nkind = \"vda\"\nzone = \"core\"\n", "component name \"my sf\"", "\"my sf\"", "names become file names"),
        case("component without zone", "\n[components.x]\nkind = \"vda\"\n", "component `x` has no zone", "x]", "add zone"),
        case("control character in description", "\n[zones.x]\ncidrs = [\"10.9.0.0/16\"]\ndescription = \"a\\u0007b\"\n", "description contains the invisible character U+0007", "\"a\\u0007b\"", "remove control"),
        case("bidi override in a reason", "\n[[removals]]\ncatalogue = \"ad-member-smb\"\nreason = \"ok\\u202Eevil\"\n", "reason contains the invisible character U+202E", "\"ok\\u202Eevil\"", "bidirectional"),
        case("addition without reason", "\n[[additions]]\nid = \"x\"\nfrom = \"sf\"\nto = \"sf\"\nprotocol = \"tcp\"\nports = [22]\n", "addition has no `reason`", "[[additions]]", "every output shows it"),
        case("addition with bad port", "\n[[additions]]\nid = \"x\"\nfrom = \"sf\"\nto = \"sf\"\nprotocol = \"tcp\"\nports = [70000]\nreason = \"r\"\n", "port 70000 is above 65535", "70000", "write 443"),
        case("addition to unknown component", "\n[[additions]]\nid = \"x\"\nfrom = \"sf\"\nto = \"sff\"\nprotocol = \"tcp\"\nports = [22]\nreason = \"r\"\n", "unknown component `sff`", "\"sff\"", "did you mean \"sf\"?"),
        case("removal of unknown flow", "\n[[removals]]\ncatalogue = \"ad-member-smbb\"\nreason = \"r\"\n", "unknown catalogue flow `ad-member-smbb`", "\"ad-member-smbb\"", "did you mean \"ad-member-smb\"?"),
        case("setting of another kind", "\n[components.x]\nkind = \"storefront\"\nzone = \"core\"\nmode = \"cluster\"\n", "component `x`: `mode` is not a setting of storefront", "mode =", "`mode` is a setting of netscaler-adc"),
        case("setting with a bad value", "\n[components.v]\nkind = \"vda\"\nzone = \"core\"\njoin = \"azure\"\n", "component `v`: setting `join` cannot be \"azure\"", "\"azure\"", "allowed values: \"ad\", \"hybrid\", \"entra\", \"none\" (default \"ad\")"),
        case("retired parameter", "\n[parameters]\nha_secure = false\n", "parameter `ha_secure` no longer exists", "ha_secure", "use rpc_secure"),
        case("bad topology name", "", "topology name \"Bad Name\" must match", "\"Bad Name\"", "it names the output files"),
        case("TOML syntax error", "\n[components.x\nkind = \"vda\"\n", "TOML syntax", "\n[components.x\n", "check quotes"),
    ]
}

#[test]
fn every_invalid_case_reports_message_location_and_hint() {
    for mut c in cases() {
        if c.name == "bad topology name" {
            c.text = c.text.replace("name = \"t\"", "name = \"Bad Name\"");
        }
        let err = match common::parse_str("t.toml", &c.text) {
            Ok(_) => panic!("case `{}` was accepted", c.name),
            Err(e) => e,
        };
        let d = err
            .errors()
            .find(|d| d.message.contains(c.message))
            .unwrap_or_else(|| {
                panic!(
                    "case `{}`: no error containing {:?} in:\n{err}",
                    c.name, c.message
                )
            });
        let marker = if c.at.starts_with('\n') {
            &c.at[1..]
        } else {
            c.at
        };
        let (line, col) = line_col(&c.text, marker);
        let loc = d.location().unwrap();
        // Syntax errors may point anywhere on the marked line.
        if c.message == "TOML syntax" {
            assert!(
                loc.starts_with(&format!("t.toml:{line}:"))
                    || loc.starts_with(&format!("t.toml:{}:", line + 1)),
                "case `{}`: at {loc}, expected line {line}\n{err}",
                c.name
            );
        } else {
            assert_eq!(
                loc,
                format!("t.toml:{line}:{col}"),
                "case `{}`:\n{err}",
                c.name
            );
        }
        let hint = d.hint.clone().unwrap_or_default();
        assert!(
            hint.contains(c.hint),
            "case `{}`: hint {hint:?} lacks {:?}",
            c.name,
            c.hint
        );
        let shown = d.to_string();
        assert!(
            shown.contains(&format!("--> t.toml:{line}:")) || c.message == "TOML syntax",
            "case `{}` renders:\n{shown}",
            c.name
        );
    }
}

#[test]
fn all_errors_are_collected_before_reporting() {
    let text = format!("{BASE}\n[components.a]\nkind = \"vdaa\"\nzone = \"core\"\n[components.b]\nkind = \"vda\"\nzone = \"nowhere\"\n[parameters]\nedt = 3\n");
    let err = common::parse_str("t.toml", &text).unwrap_err();
    let msgs: Vec<&str> = err.errors().map(|d| d.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("vdaa")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("nowhere")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("edt")), "{msgs:?}");
    assert!(
        err.to_string()
            .ends_with("3 errors in t.toml; nothing was written"),
        "{err}"
    );
}

#[test]
fn overlap_points_at_both_networks() {
    let text = format!("{BASE}\n[zones.core2]\ncidrs = [\"10.0.10.0/25\"]\n");
    let err = common::parse_str("t.toml", &text).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("overlapping network here"), "{shown}");
    assert_eq!(shown.matches("--> t.toml:").count(), 2, "{shown}");
}

#[test]
fn cli_writes_nothing_for_an_invalid_topology() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("bad.toml");
    std::fs::write(
        &topo,
        format!("{BASE}\n[components.x]\nkind = \"nope\"\nzone = \"core\"\n"),
    )
    .unwrap();
    let out = dir.path().join("flows.json");
    let r = Command::new(common::bin())
        .args([
            "flows",
            topo.to_str().unwrap(),
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("unknown component kind `nope`"), "{stderr}");
    assert!(stderr.contains("bad.toml:"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the topology remains"
    );
}

/// The table in docs/errors.md is generated from [`cases`] with each case's real message and
/// hint, so every case is documented and the documentation cannot drift from the parser.
/// `UPDATE_DOCS=1 cargo test --test invalid` rewrites it.
#[test]
fn docs_errors_md_lists_every_case() {
    const BEGIN: &str = "<!-- generated by tests/invalid.rs: begin -->\n";
    const END: &str = "<!-- generated by tests/invalid.rs: end -->\n";
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut table = String::from("| case | message | hint |\n|---|---|---|\n");
    for mut c in cases() {
        if c.name == "bad topology name" {
            c.text = c.text.replace("name = \"t\"", "name = \"Bad Name\"");
        }
        let err = common::parse_str("t.toml", &c.text).unwrap_err();
        let d = err
            .errors()
            .find(|d| d.message.contains(c.message))
            .unwrap();
        // Syntax errors quote the TOML parser; keep its first line.
        let message = d.message.lines().next().unwrap_or_default();
        table.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(c.name),
            cell(message),
            cell(d.hint.as_deref().unwrap_or(""))
        ));
    }
    let path = common::root().join("docs/errors.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (start, end) = match (doc.find(BEGIN), doc.find(END)) {
        (Some(s), Some(e)) => (s + BEGIN.len(), e),
        _ => panic!("docs/errors.md lacks the generated-table markers"),
    };
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let new = format!("{}{table}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    assert!(
        doc[start..end] == table,
        "docs/errors.md is out of date with tests/invalid.rs; run UPDATE_DOCS=1 cargo test --test invalid\n--- expected\n{table}"
    );
}
