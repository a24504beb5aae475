//! The command line as a user meets it: exit codes, formats, help, errors.

mod common;

use common::{ctxfw, text};

const ONPREM: &str = "topologies/onprem-cvad.toml";

#[test]
fn check_accepts_every_example() {
    for t in common::example_topologies() {
        let out = ctxfw(&["check", t.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            t.display(),
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("valid"), "{}", text(&out.stderr));
    }
}

#[test]
fn check_reports_invalid_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "name = \"bad\"\n[zones.a]\ncidrs = [\"10.0.0.1/24\"]\n").unwrap();
    let out = ctxfw(&["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:3:10"), "{err}");
    assert!(err.contains("did you mean \"10.0.0.0/24\"?"), "{err}");
}

#[test]
fn check_deny_warnings_exits_1_on_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.toml");
    // A removal that matches nothing is legal but suspicious: a warning.
    std::fs::write(
        &p,
        "name = \"w\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n[components.sf]\nkind = \"storefront\"\nzone = \"a\"\n[[removals]]\ncatalogue = \"ad-member-smb\"\nreason = \"no DC here\"\n",
    )
    .unwrap();
    assert_eq!(
        ctxfw(&["check", p.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let out = ctxfw(&["check", p.to_str().unwrap(), "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("matches no flow"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn flows_json_is_the_contract() {
    let out = ctxfw(&["flows", ONPREM, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["topology"], "onprem-cvad");
    let flows = v["flows"].as_array().unwrap();
    assert!(!flows.is_empty());
    let keys = [
        "id",
        "catalogue",
        "from",
        "from_kinds",
        "from_zone",
        "from_interface",
        "from_addresses",
        "to",
        "to_kinds",
        "to_zone",
        "to_interface",
        "to_addresses",
        "to_fqdns",
        "protocol",
        "ports",
        "purpose",
        "source",
        "reason",
    ];
    for f in flows {
        let obj = f.as_object().unwrap();
        let got: Vec<&str> = obj.keys().map(String::as_str).take(keys.len()).collect();
        assert_eq!(got, keys, "contract fields first, in order");
        for a in f["from_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .chain(f["to_addresses"].as_array().unwrap())
        {
            assert!(a.as_str().unwrap().parse::<ipnet::IpNet>().is_ok(), "{a}");
        }
        for p in f["ports"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            assert!(ctxfw::flow::PortRange::parse(p).is_ok(), "{p}");
        }
    }
    // The same input gives the same bytes.
    assert_eq!(
        out.stdout,
        ctxfw(&["flows", ONPREM, "--format", "json"]).stdout
    );
}

#[test]
fn flows_formats() {
    let table = text(&ctxfw(&["flows", ONPREM]).stdout);
    assert!(table.starts_with("#   from"), "{table}");
    assert!(table.trim_end().ends_with("flows"));
    let csv = text(&ctxfw(&["flows", ONPREM, "--format", "csv"]).stdout);
    assert!(csv.starts_with("id,from_zone,from,"));
    let md = text(&ctxfw(&["flows", ONPREM, "--format", "markdown"]).stdout);
    assert!(md.starts_with("# Flows of `onprem-cvad`"));
    assert!(md.contains("| # | from | to | protocol | ports |"));
}

#[test]
fn flows_out_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.json");
    let r = ctxfw(&[
        "flows",
        ONPREM,
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0));
    assert!(out.is_file());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names, vec!["f.json".to_string()], "no temporary files left");
}

#[test]
fn catalogue_browsing() {
    let all = ctxfw(&["catalogue"]);
    assert_eq!(all.status.code(), Some(0));
    let s = text(&all.stdout);
    assert!(
        s.contains("delivery-controller") && s.contains("Parameters"),
        "{s}"
    );
    let k = text(&ctxfw(&["catalogue", "storefront"]).stdout);
    assert!(k.contains("StoreFront") && k.contains("Flows:"), "{k}");
    let p = text(&ctxfw(&["catalogue", "--parameters"]).stdout);
    assert!(p.contains("xml_port = 80"), "{p}");
    let bad = ctxfw(&["catalogue", "storefrnt"]);
    assert_eq!(bad.status.code(), Some(64));
    assert!(text(&bad.stderr).contains("did you mean \"storefront\"?"));
}

#[test]
fn help_and_usage_errors() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["flows", "--help"],
        vec!["catalogue", "--help"],
    ] {
        let out = ctxfw(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            text(&out.stdout).contains("Examples:"),
            "{args:?}: {}",
            text(&out.stdout)
        );
    }
    assert_eq!(ctxfw(&["frobnicate"]).status.code(), Some(64));
    assert_eq!(
        ctxfw(&["flows", ONPREM, "--format", "xml"]).status.code(),
        Some(64)
    );
}

#[test]
fn missing_file_is_an_io_error() {
    // A file that cannot be read is an I/O error (74), not invalid input (2).
    let out = ctxfw(&["check", "no/such/file.toml"]);
    assert_eq!(out.status.code(), Some(74));
    assert!(
        text(&out.stderr).contains("cannot read topology no/such/file.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn generate_nftables_to_stdout_and_host_lockout_warning() {
    let lab = common::root().join("tests/fixtures/netfilter-lab.toml");
    let out = std::process::Command::new(common::bin())
        .args(["generate", lab.to_str().unwrap(), "--target", "nftables"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("table inet ctxfw-netfilter-lab {"));
    assert!(text.contains("hook forward"));
    assert!(
        !text.contains("hook input"),
        "a zone firewall leaves the host's own traffic alone"
    );
    // `db` has no inbound SSH flow: a warning; `dc` has one (lab-ssh): none.
    let host = |h: &str| {
        std::process::Command::new(common::bin())
            .args([
                "generate",
                lab.to_str().unwrap(),
                "--target",
                "nftables",
                "--host",
                h,
            ])
            .output()
            .unwrap()
    };
    let db = host("db");
    assert!(db.status.success());
    let err = String::from_utf8_lossy(&db.stderr);
    assert!(
        err.contains("warning: host firewall for `db` allows no inbound SSH"),
        "{err}"
    );
    let dc = host("dc");
    assert!(!String::from_utf8_lossy(&dc.stderr).contains("inbound SSH"));
    assert!(String::from_utf8_lossy(&dc.stdout).contains("hook input"));
    // iptables with IPv6 networks writes two files: --out is needed.
    let ipt = std::process::Command::new(common::bin())
        .args(["generate", lab.to_str().unwrap(), "--target", "iptables"])
        .output()
        .unwrap();
    assert_eq!(ipt.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&ipt.stderr).contains("netfilter-lab.rules6"));
}

/// `generate --out` says how many files each target wrote, in one line; `--verbose` lists them
/// first, in target order.
#[test]
fn generate_prints_a_summary_and_lists_files_when_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let r = ctxfw(&["generate", "topologies/onprem-cvad.toml", "--out", o]);
    assert_eq!(r.status.code(), Some(0));
    let err = text(&r.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("wrote "))
        .unwrap_or_else(|| panic!("no summary: {err}"));
    let last = lines[at];
    assert_eq!(
        last,
        format!(
            "wrote 23 files to {o}: flows 2, windows 6, nftables 1, iptables 1, matrix 4, probes 6, aerleon 3"
        )
    );
    // The targets `all` skipped are named, with why.
    assert_eq!(
        &lines[at + 1..],
        [
            "skipped aws: no zone has location = \"aws\", so the aws target has nothing to write; set `location = \"aws\"` on the zones that are in aws",
            "skipped azure: no zone has location = \"azure\", so the azure target has nothing to write; set `location = \"azure\"` on the zones that are in azure",
            "skipped gcp: no zone has location = \"gcp\", so the gcp target has nothing to write; set `location = \"gcp\"` on the zones that are in gcp",
            "skipped terraform: no zone has location = \"aws\", \"azure\" or \"gcp\", so the terraform target has nothing to write; set `location` on the zones that are in a cloud",
        ],
        "{err}"
    );
    assert!(!err.contains("wrote /"), "{err}");
    let r = ctxfw(&[
        "generate",
        "topologies/onprem-cvad.toml",
        "--out",
        o,
        "--verbose",
    ]);
    let err = text(&r.stderr);
    let listed: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("wrote /"))
        .collect();
    assert_eq!(listed.len(), 23, "{err}");
    assert!(listed[0].ends_with("/out/onprem-cvad.flows.json"), "{err}");
    assert!(
        listed[22].ends_with("/out/onprem-cvad.aerleon/def/services.yaml"),
        "{err}"
    );
    assert!(err.lines().any(|l| l == last), "{err}");
}

#[test]
fn a_workbook_without_a_temporary_directory_is_an_io_error_and_nothing_is_written() {
    // The workbook's flows sheet goes through a scratch file in TMPDIR.
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = std::process::Command::new(common::bin())
        .args([
            "generate",
            "topologies/two-site.toml",
            "--target",
            "matrix",
            "--out",
        ])
        .arg(&out_dir)
        .env("TMPDIR", dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("set TMPDIR"),
        "{}",
        text(&out.stderr)
    );
    assert!(!out_dir.exists());
}
