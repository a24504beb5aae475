//! The review workflow from the command line: `diff`, `explain`, the lint in `check`, and the
//! matrix and Aerleon targets, with their exit codes. The fixtures bring their own catalogue
//! family (`--catalogue DIR`), so these tests do not move when the embedded catalogue does.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CATALOGUE: &str = r#"
[family]
id = "rt"
title = "Review test family"

[parameters.rt_api_port]
type = "int"
default = 8443
description = "API port of the web tier"
source = "Review test fixture"

[components.rt-client]
name = "Test client"
platform = "client"

[components.rt-web]
name = "Test web server"
platform = "linux"

[components.rt-db]
name = "Test database"
platform = "linux"

[components.rt-cloud]
name = "Test cloud service"
platform = "internet"
fqdns = ["*.rt.example", "api.rt-cloud.example"]

[components.rt-lonely]
name = "Test component without flows"
platform = "linux"

[[flows]]
id = "rt-client-web"
from = "rt-client"
to = "rt-web"
protocol = "tcp"
ports = [443]
purpose = "Users open the web application"
source = "Review test fixture, section 1"
from_internet = true

[[flows]]
id = "rt-web-db"
from = "rt-web"
to = "rt-db"
protocol = "tcp"
ports = [5432]
purpose = "The web tier queries the database"
source = "Review test fixture, section 2"

[[flows]]
id = "rt-web-db-api"
from = "rt-web"
to = "rt-db"
protocol = "tcp"
ports = ["$rt_api_port"]
purpose = "The web tier calls the database's API"
source = "Review test fixture, section 3"

[[flows]]
id = "rt-web-cloud"
from = "rt-web"
to = "rt-cloud"
protocol = "tcp"
ports = [443]
purpose = "The web tier reports to the cloud service"
source = "Review test fixture, section 4"
"#;

const TOPOLOGY: &str = r#"
name = "rt"
description = "Review <test> | \"quoted\" & more"

[zones.internet]
cidrs = ["0.0.0.0/0"]

[zones.dmz]
cidrs = ["192.0.2.0/24"]

[zones.data]
cidrs = ["198.51.100.0/24"]

[components.users]
kind = "rt-client"
zone = "internet"

[components.web]
kind = "rt-web"
zone = "dmz"
hosts = ["192.0.2.10", "192.0.2.11"]

[components.db]
kind = "rt-db"
zone = "data"
hosts = ["198.51.100.5"]
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("cat")).unwrap();
        std::fs::write(root.join("cat/rt.toml"), CATALOGUE).unwrap();
        Fixture { _dir: dir, root }
    }

    /// Write a topology: the base text plus `extra`.
    fn topology(&self, name: &str, extra: &str) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, format!("{TOPOLOGY}\n{extra}")).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        let cat = self.root.join("cat");
        Command::new(common::bin())
            .arg("--catalogue")
            .arg(&cat)
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- diff ----

#[test]
fn diff_equal_topologies_exit_0() {
    let fx = Fixture::new();
    let a = fx.topology("a.toml", "");
    let out = fx.run(&["diff", s(&a), s(&a)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no flow changes"));
}

#[test]
fn diff_reports_added_removed_widened_and_moved_with_exit_1() {
    let fx = Fixture::new();
    let old = fx.topology("old.toml", "");
    // New: the API port moves (changed), the web tier gets a third host (addresses moved),
    // a jump host is added (added flows), and the database flows from web keep their ids.
    let new = fx.topology(
        "new.toml",
        "[parameters]\nrt_api_port = 9443\n\n[[additions]]\nid = \"ssh\"\nfrom = \"web\"\nto = \"db\"\nprotocol = \"tcp\"\nports = [22]\npurpose = \"Admin SSH\"\nreason = \"CHG-1\"\n",
    );
    let new_text = std::fs::read_to_string(&new)
        .unwrap()
        .replace("\"192.0.2.11\"]", "\"192.0.2.11\", \"192.0.2.12\"]");
    std::fs::write(&new, new_text).unwrap();

    let out = fx.run(&["diff", s(&old), s(&new)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(
        t.contains("~ web-to-db-tcp")
            && t.contains("ports changed: tcp/5432,8443 → tcp/22,5432,9443 (+22,9443 -8443)"),
        "{t}"
    );
    assert!(t.contains("source addresses: +192.0.2.12/32"), "{t}");

    let out = fx.run(&["diff", s(&old), s(&new), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["equal"], false);
    let changed = v["changed"].as_array().unwrap();
    let db = changed.iter().find(|c| c["id"] == "web-to-db-tcp").unwrap();
    assert_eq!(db["ports"], "changed");
    assert_eq!(db["ports_added"], serde_json::json!(["22", "9443"]));
    assert_eq!(db["ports_removed"], serde_json::json!(["8443"]));

    // Reverse direction: narrowed is reported from the other side.
    let out = fx.run(&["diff", s(&new), s(&old), "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(1));
    let md = text(&out.stdout);
    assert!(md.starts_with("### Firewall flow changes"), "{md}");
    assert!(md.contains("#### Changed"), "{md}");
    assert!(md.contains("-192.0.2.12/32"), "{md}");
}

#[test]
fn diff_flows_mode_compares_two_flows_json_files() {
    let fx = Fixture::new();
    let old = fx.topology("old.toml", "");
    let new = fx.topology(
        "new.toml",
        "[[removals]]\ncatalogue = \"rt-web-cloud\"\nreason = \"no reporting\"\n",
    );
    let a = fx.root.join("a.json");
    let b = fx.root.join("b.json");
    for (t, f) in [(&old, &a), (&new, &b)] {
        let out = fx.run(&["flows", s(t), "--format", "json", "--out", s(f)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let out = fx.run(&["diff", "--flows", s(&a), s(&b)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("- web-to-rt-cloud-tcp"), "{t}");
    assert!(t.contains("0 added, 1 removed, 0 changed"), "{t}");
    let out = fx.run(&["diff", "--flows", s(&a), s(&a)]);
    assert_eq!(out.status.code(), Some(0));
    // A file that is not flows JSON is invalid input, not a difference.
    let out = fx.run(&["diff", "--flows", s(&old), s(&a)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a flows JSON file"));
}

// ---- explain ----

#[test]
fn explain_allowed_names_flow_purpose_and_source() {
    let fx = Fixture::new();
    let t = fx.topology("t.toml", "");
    let out = fx.run(&[
        "explain",
        s(&t),
        "--from",
        "192.0.2.10",
        "--to",
        "db",
        "--port",
        "tcp/8443",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(
        o.starts_with("allowed: tcp/8443 from 192.0.2.10 to db"),
        "{o}"
    );
    assert!(o.contains("flow web-to-db-tcp"), "{o}");
    assert!(o.contains("The web tier calls the database's API"), "{o}");
    assert!(o.contains("Review test fixture, section 3"), "{o}");
    // Only the entry that carries the port is explained.
    assert!(!o.contains("section 2"), "{o}");
}

#[test]
fn explain_matches_domains_with_wildcards() {
    let fx = Fixture::new();
    let t = fx.topology("t.toml", "");
    let ok = fx.run(&[
        "explain",
        s(&t),
        "--from",
        "web",
        "--to",
        "a.b.rt.example",
        "--port",
        "tcp/443",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    let bare = fx.run(&[
        "explain",
        s(&t),
        "--from",
        "web",
        "--to",
        "rt.example",
        "--port",
        "tcp/443",
    ]);
    assert_eq!(bare.status.code(), Some(1), "{}", text(&bare.stdout));
}

#[test]
fn explain_not_allowed_lists_near_misses_with_exit_1() {
    let fx = Fixture::new();
    let t = fx.topology("t.toml", "");
    // Same endpoints, another port.
    let out = fx.run(&[
        "explain",
        s(&t),
        "--from",
        "web",
        "--to",
        "db",
        "--port",
        "tcp/22",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let o = text(&out.stdout);
    assert!(o.starts_with("not allowed: tcp/22 from web to db"), "{o}");
    assert!(
        o.contains("same source and destination, another protocol or port"),
        "{o}"
    );
    assert!(o.contains("flow web-to-db-tcp"), "{o}");
    // Same destination and port from another zone: an internal address is not "the internet".
    let out = fx.run(&[
        "explain",
        s(&t),
        "--from",
        "198.51.100.5",
        "--to",
        "192.0.2.10",
        "--port",
        "tcp/443",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let o = text(&out.stdout);
    assert!(
        o.contains("same destination and port, from users (zone internet)"),
        "{o}"
    );
    // The internet itself may reach the web tier on 443.
    let out = fx.run(&[
        "explain",
        s(&t),
        "--from",
        "203.0.113.7",
        "--to",
        "192.0.2.10",
        "--port",
        "tcp/443",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn explain_usage_errors_exit_64() {
    let fx = Fixture::new();
    let t = fx.topology("t.toml", "");
    for args in [
        ["--from", "nosuch", "--to", "db", "--port", "tcp/1"],
        ["--from", "web", "--to", "db", "--port", "tcp/0"],
        ["--from", "web", "--to", "db", "--port", "http/80"],
        ["--from", "web.vip", "--to", "db", "--port", "tcp/1"],
    ] {
        let mut a = vec!["explain", s(&t)];
        a.extend(args);
        let out = fx.run(&a);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

// ---- lint ----

#[test]
fn lint_warnings_in_check_and_deny_warnings() {
    let fx = Fixture::new();
    let clean = fx.topology("clean.toml", "");
    let out = fx.run(&["check", s(&clean), "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let noisy = fx.topology(
        "noisy.toml",
        r#"
[parameters]
rt_api_port = 8443

[components.web2]
kind = "rt-web"
zone = "dmz"
hosts = ["192.0.2.10"]

[components.lonely]
kind = "rt-lonely"
zone = "data"
hosts = ["198.51.100.9"]

[components.dataset]
kind = "rt-client"
zone = "data"

[[additions]]
id = "open-db"
from = "users"
to = "db"
protocol = "tcp"
ports = [5432]
purpose = "Direct database access"
reason = "CHG-2"

[[additions]]
id = "wide"
from = "web"
to = "db"
protocol = "udp"
ports = ["1000-3000"]
purpose = "Streaming"
reason = "CHG-3"

[[additions]]
id = "rpc"
from = "web"
to = "db"
protocol = "tcp"
ports = [135, "49152-65535"]
purpose = "RPC"
reason = "CHG-4"
"#,
    );
    let out = fx.run(&["check", s(&noisy)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let e = text(&out.stderr);
    // web2 sits on an address of web: its flows are within web's.
    assert!(
        e.contains("flow web2-to-db-tcp (tcp 5432,8443) is redundant: flow web-to-db-tcp already allows it"),
        "{e}"
    );
    assert!(
        e.contains("addition `open-db` opens tcp 5432 from the internet zone `internet` to db"),
        "{e}"
    );
    assert!(e.contains("flow web-to-db-udp allows 2001 ports"), "{e}");
    assert!(
        !e.contains("web-to-db-tcp allows"),
        "dynamic RPC range is not wide: {e}"
    );
    assert!(e.contains("component `lonely` has no flow"), "{e}");
    assert!(
        e.contains("component `dataset` has no hosts, so it is all of zone `data`, which also holds `db`, `lonely`: every flow to or from `dataset` applies to them as well"),
        "{e}"
    );
    assert!(
        e.contains("parameter `rt_api_port` is set to its default (8443)"),
        "{e}"
    );
    // Spans point into the topology.
    assert!(e.contains("noisy.toml:"), "{e}");
    let out = fx.run(&["check", s(&noisy), "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(1));
}

// ---- matrix and aerleon ----

#[test]
fn matrix_escapes_text_in_every_format() {
    let fx = Fixture::new();
    let t = fx.topology(
        "t.toml",
        "[[additions]]\nid = \"x\"\nfrom = \"web\"\nto = \"db\"\nprotocol = \"tcp\"\nports = [1]\npurpose = \"</script><b>\\\"x\\\"</b>`]--> | ;\"\nreason = \"=cmd()\"\n",
    );
    let out_dir = fx.root.join("out");
    let out = fx.run(&[
        "generate",
        s(&t),
        "--target",
        "matrix",
        "--out",
        s(&out_dir),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(out_dir.join("rt.html")).unwrap();
    assert!(!html.contains("</script><b>"), "raw markup leaked");
    assert!(html.contains("&lt;/script&gt;&lt;b&gt;&quot;x&quot;"));
    assert!(html.contains("Review &lt;test&gt; | &quot;quoted&quot; &amp; more"));
    assert!(!html.contains("http://"));
    assert!(!html.contains("https://"));
    // Self-contained: nothing loaded from elsewhere; links lead within the page only.
    for needle in [" src=", "@import", "url(http", "url(\x27", "url(\"h"] {
        assert!(!html.contains(needle), "{needle}");
    }
    assert!(html.matches(" href=").count() > 0);
    assert_eq!(
        html.matches(" href=").count(),
        html.matches(" href=\"#").count(),
        "every link is an anchor of the page"
    );
    let md = std::fs::read_to_string(out_dir.join("rt.md")).unwrap();
    let mermaid = &md[md.find("```mermaid").unwrap()..];
    let mermaid = &mermaid[..mermaid[3..].find("```").unwrap() + 3];
    // In the diagram no label can close its quotes or the code fence.
    for line in mermaid.lines().skip(1) {
        assert!(!line.contains('`'), "{line}");
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }
    let csv = std::fs::read_to_string(out_dir.join("rt.csv")).unwrap();
    assert!(
        csv.contains(",'=cmd()") || csv.contains("reason: '=cmd()"),
        "{csv}"
    );
}

#[test]
fn aerleon_export_lands_in_subdirectories() {
    let fx = Fixture::new();
    let t = fx.topology("t.toml", "");
    let out_dir = fx.root.join("out");
    let out = fx.run(&[
        "generate",
        s(&t),
        "--target",
        "aerleon",
        "--out",
        s(&out_dir),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for f in [
        "rt.aerleon/policies/pol/rt.yaml",
        "rt.aerleon/def/networks.yaml",
        "rt.aerleon/def/services.yaml",
    ] {
        let p = out_dir.join(f);
        assert!(p.is_file(), "{f}");
        let body: String = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let _: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn write_all_is_atomic_with_subdirectories() {
    let fx = Fixture::new();
    let t = fx.topology("t.toml", "");
    let out_dir = fx.root.join("out");
    let out = Command::new(common::bin())
        .arg("--catalogue")
        .arg(fx.root.join("cat"))
        .args([
            "generate",
            s(&t),
            "--target",
            "aerleon",
            "--out",
            s(&out_dir),
        ])
        .env("CTXFW_FAIL_AFTER", "rt.aerleon/def/networks.yaml")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    // Nothing left behind: no files, no temporary files, no new directories.
    let left: Vec<_> = walk(&out_dir);
    assert!(left.is_empty(), "{left:?}");
    assert!(!out_dir.join("rt.aerleon").exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Aerleon's own `aclgen` renders the export for four platforms.
#[test]
fn aclgen_renders_the_export() {
    let Some(aclgen) = common::aclgen() else {
        return;
    };
    let fx = Fixture::new();
    let t = fx.topology(
        "t.toml",
        "[[additions]]\nid = \"icmp\"\nfrom = \"web\"\nto = \"db\"\nprotocol = \"icmp\"\npurpose = \"Ping, caf\u{e9} \u{1F600}\"\nreason = \"monitoring\"\n",
    );
    let out_dir = fx.root.join("out");
    let out = fx.run(&[
        "generate",
        s(&t),
        "--target",
        "aerleon",
        "--out",
        s(&out_dir),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    run_aclgen(&aclgen, &out_dir.join("rt.aerleon"), "rt");
    // Every example topology too (where the embedded catalogue knows its kinds).
    for topo in common::example_topologies() {
        let dir = tempfile::tempdir().unwrap();
        let out = export_aerleon(&topo, dir.path());
        if out.status.code() == Some(2) {
            eprintln!(
                "skipped {}: does not load with this catalogue",
                topo.display()
            );
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let name = topo.file_stem().unwrap().to_string_lossy().to_string();
        run_aclgen(&aclgen, &dir.path().join(format!("{name}.aerleon")), &name);
    }
}

/// `ctxfw generate TOPO --target aerleon --out DIR` with the embedded catalogue.
fn export_aerleon(topo: &Path, dir: &Path) -> Output {
    Command::new(common::bin())
        .args(["generate", s(topo), "--target", "aerleon", "--out", s(dir)])
        .output()
        .unwrap()
}

fn run_aclgen(aclgen: &Path, dir: &Path, name: &str) {
    let outputs = common::run_aclgen(aclgen, dir);
    for ext in ["jcl", "acl", "xml", "srx"] {
        let file = format!("{name}.{ext}");
        let body = outputs
            .get(&file)
            .unwrap_or_else(|| panic!("aclgen wrote no {file}"));
        assert!(
            body.contains("permit") || body.contains("accept") || body.contains("allow"),
            "{file}: no allowing rule:\n{body}"
        );
    }
}

/// The Aerleon export leaves the zones' networks out of the internet (`source-exclude`), and
/// every platform aclgen renders says so: Juniper with `except`, Cisco and SRX by listing the
/// networks between the zones'. Their networks cover every address outside the zones and none
/// inside.
#[test]
fn aclgen_leaves_the_zones_out_of_the_internet() {
    let Some(aclgen) = common::aclgen() else {
        return;
    };
    let topo = common::root().join("topologies/onprem-cvad.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = export_aerleon(&topo, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let base = dir.path().join("onprem-cvad.aerleon");
    run_aclgen(&aclgen, &base, "onprem-cvad");
    let read =
        |ext: &str| std::fs::read_to_string(base.join(format!("out/onprem-cvad.{ext}"))).unwrap();
    let zones: Vec<ipnet::Ipv4Net> = [
        "10.0.10.0/24",
        "10.0.99.0/24",
        "10.1.0.0/16",
        "198.51.100.0/24",
    ]
    .iter()
    .map(|n| n.parse().unwrap())
    .collect();
    let term = "remote-users-to-netscaler_vip-tcp";
    // Juniper: the default route with each zone's network excepted.
    let jcl = read("jcl");
    let at = jcl.find(&format!("term {term} {{")).expect("the term");
    let block = &jcl[at..at + jcl[at..].find("then accept").unwrap()];
    assert!(block.contains("0.0.0.0/0;"), "{block}");
    for z in &zones {
        assert!(block.contains(&format!("{z} except;")), "{z}: {block}");
    }
    // Networks that cover exactly what no zone holds: none inside a zone, 2^32 minus the zones'
    // addresses in all.
    let exact = |nets: &[ipnet::Ipv4Net], what: &str| {
        for n in nets {
            assert!(
                !zones.iter().any(|z| z.contains(n) || n.contains(z)),
                "{what}: {n} overlaps a zone"
            );
        }
        let size = |n: &ipnet::Ipv4Net| 1u64 << (32 - n.prefix_len());
        let inside: u64 = zones.iter().map(size).sum();
        assert_eq!(
            nets.iter().map(size).sum::<u64>(),
            (1u64 << 32) - inside,
            "{what}: {nets:?}"
        );
    };
    // Cisco: one `permit` per network, written as address and wildcard.
    let acl = read("acl");
    let at = acl
        .find(&format!("remark {term}\n"))
        .expect("the Cisco term");
    let cisco: Vec<ipnet::Ipv4Net> = acl[at..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with(" permit") || l.starts_with(" remark"))
        .filter(|l| l.starts_with(" permit"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let wildcard: std::net::Ipv4Addr = w[3].parse().unwrap();
            let len = 32 - u32::from(wildcard).count_ones() as u8;
            ipnet::Ipv4Net::new(w[2].parse().unwrap(), len).unwrap()
        })
        .collect();
    exact(&cisco, "cisco");
    // SRX: an address book entry per network of the term's source.
    let srx = read("srx");
    let prefix = format!("address {}_SRC_EXCLUDE_", term.to_uppercase());
    let book: Vec<ipnet::Ipv4Net> = srx
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&prefix))
        // `<n> <network>;` defines an entry; `<n>;` names one in an address set.
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| n.trim_end_matches(';').parse().unwrap())
        .collect();
    exact(&book, "srx");
}
