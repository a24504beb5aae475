//! Connectivity probes (`generate --target probes`) and `ctxfw verify`: the scripts parse (the
//! tree-sitter PowerShell grammar, `sh -n`) and run only their own commands; in a lab of
//! network namespaces with a listener the POSIX script reports open, refused and blocked
//! correctly, and `ctxfw verify` turns its result file into the report.

mod common;

use common::sh;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::output::OutFile;
use ctxfw::render::Renderer;
use tree_sitter::{Node, Parser};

/// The only commands a probe script runs.
const COMMANDS: &[&str] = &[
    "Set-StrictMode",
    "New-Object",
    "Test-TcpPort",
    "Write-Output",
    "ForEach-Object",
    "ConvertTo-Json",
    "Set-Content",
    "Get-Date",
];

fn probes(path: &Path, catalogue: Option<&Path>) -> Vec<OutFile> {
    let loaded = ctxfw::load(path, catalogue).unwrap();
    let r = Renderer::new(None).unwrap();
    let t: Vec<_> = TARGETS.iter().filter(|t| t.name == "probes").collect();
    generate::generate(&loaded, &r, &Options::default(), &t).unwrap()
}

fn ps_commands(name: &str, text: &str) -> Vec<String> {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_powershell::LANGUAGE.into())
        .unwrap();
    let tree = p.parse(text, None).unwrap();
    let mut out = Vec::new();
    let mut stack: Vec<Node> = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        assert!(
            !n.is_error() && !n.is_missing(),
            "{name} does not parse at {:?}: {:?}",
            n.start_position(),
            &text[n.byte_range()].chars().take(80).collect::<String>()
        );
        if n.kind() == "command_name" {
            out.push(text[n.byte_range()].to_string());
        }
        let mut c = n.walk();
        stack.extend(n.children(&mut c).collect::<Vec<_>>());
    }
    out
}

fn sh_parses(name: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    let out = Command::new("sh").arg("-n").arg(&p).output().unwrap();
    assert!(
        out.status.success(),
        "{name}: sh -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn probe_scripts_parse_and_run_only_their_commands() {
    let mut scripts = 0;
    for path in common::example_topologies() {
        for f in probes(&path, None) {
            if f.name.ends_with(".ps1") {
                for c in ps_commands(&f.name, &f.content) {
                    assert!(COMMANDS.contains(&c.as_str()), "{}: runs {c}", f.name);
                }
                scripts += 1;
            } else if f.name.ends_with(".sh") {
                sh_parses(&f.name, &f.content);
                scripts += 1;
            } else {
                assert!(f.name.ends_with(".probes.txt"), "{}", f.name);
            }
        }
    }
    assert!(scripts >= 10, "only {scripts} scripts");
}

// ---- the lab --------------------------------------------------------------------------------

fn lab_tools() -> bool {
    let root = sh("test \"$(id -u)\" = 0").0;
    let missing: Vec<&str> = ["ip", "nft", "python3", "bash", "timeout"]
        .into_iter()
        .filter(|t| !sh(&format!("command -v {t}")).0)
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let msg = format!("probes lab: skipped: needs root and {missing:?}");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI must run it");
    }
    eprintln!("{msg}");
    false
}

/// Namespaces and a listener, removed on drop whatever happens.
struct Lab {
    names: Vec<String>,
    listener: Option<std::process::Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(c) = &mut self.listener {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn must(script: &str) -> String {
    let (ok, out) = sh(script);
    assert!(ok, "{script}\n{out}");
    out
}

#[test]
fn probe_script_reports_open_refused_and_blocked_and_verify_reports_them() {
    if !lab_tools() {
        return;
    }
    let root = common::root();
    let topo = root.join("tests/fixtures/audit/probe-lab.toml");
    let cat = root.join("tests/fixtures/audit/catalogue");
    let files = probes(&topo, Some(&cat));
    let script = files
        .iter()
        .find(|f| f.name == "probe-lab-client.probes.sh")
        .expect("a script for the Linux client");
    let notes = files
        .iter()
        .find(|f| f.name == "probe-lab.probes.txt")
        .unwrap();
    assert!(
        notes.content.contains("client-to-srv-open-udp"),
        "{}",
        notes.content
    );
    let tmp = tempfile::tempdir().unwrap();
    let script_path = tmp.path().join(&script.name);
    std::fs::write(&script_path, &script.content).unwrap();

    let id = std::process::id();
    let (c, s) = (format!("ctxpc{id}"), format!("ctxps{id}"));
    let mut lab = Lab {
        names: Vec::new(),
        listener: None,
    };
    for n in [&c, &s] {
        must(&format!("ip netns add {n}"));
        lab.names.push(n.clone());
    }
    must(&format!(
        "ip link add pc{id} type veth peer name ps{id}
         ip link set pc{id} netns {c}; ip link set ps{id} netns {s}
         ip -n {c} link set lo up; ip -n {c} link set pc{id} up
         ip -n {c} addr add 198.18.1.10/24 dev pc{id}; ip -n {c} route add 198.18.2.0/24 dev pc{id}
         ip -n {s} link set lo up; ip -n {s} link set ps{id} up
         for a in 10 20 30; do ip -n {s} addr add 198.18.2.$a/24 dev ps{id}; done
         ip -n {s} route add 198.18.1.0/24 dev ps{id}
         ip netns exec {s} nft 'add table inet lab; add chain inet lab in {{ type filter hook input priority 0; policy accept; }}; add rule inet lab in ip daddr 198.18.2.30 drop'"
    ));
    // A listener on srv-open's ports; nothing listens on srv-refused; srv-blocked is dropped.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &s, "python3"])
        .arg(root.join("tests/fixtures/netprobe.py"))
        .args(["listen", "198.18.2.10", "tcp:8000", "tcp:9000", "tcp:9010"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    lab.listener = Some(child);

    let result = tmp.path().join("client.json");
    let out = must(&format!(
        "cd {dir} && PROBE_TIMEOUT=1 ip netns exec {c} sh {script} {result}",
        dir = tmp.path().display(),
        script = script_path.display(),
        result = result.display()
    ));
    let line_of = |addr: &str, port: u16| -> String {
        out.lines()
            .find(|l| l.contains(&format!("-> {addr}:{port}")))
            .unwrap_or_else(|| panic!("no probe of {addr}:{port} in\n{out}"))
            .to_string()
    };
    assert!(line_of("198.18.2.10", 8000).starts_with("open "), "{out}");
    assert!(line_of("198.18.2.10", 9000).starts_with("open "), "{out}");
    assert!(
        line_of("198.18.2.10", 9010).contains("last port of 9000-9010"),
        "{out}"
    );
    assert!(
        line_of("198.18.2.20", 8000).starts_with("refused "),
        "{out}"
    );
    assert!(
        line_of("198.18.2.30", 8000).starts_with("blocked "),
        "{out}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(doc["component"], "client");
    assert_eq!(doc["probes"].as_array().unwrap().len(), 5);

    // verify: the blocked flow with its purpose and source, what passed, what was not tried.
    let v = Command::new(common::bin())
        .args(["verify"])
        .arg(&topo)
        .arg("--catalogue")
        .arg(&cat)
        .arg(&result)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let ids = |k: &str| -> Vec<String> {
        report[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["flow"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("blocked"), ["client-to-srv-blocked-tcp"]);
    assert_eq!(
        report["blocked"][0]["purpose"],
        "The client reaches a server that drops it"
    );
    assert!(report["blocked"][0]["source"]
        .as_str()
        .unwrap()
        .contains("probe-lab"));
    assert_eq!(
        ids("passed"),
        ["client-to-srv-open-tcp", "client-to-srv-refused-tcp"]
    );
    assert_eq!(ids("not_tried"), ["client-to-srv-open-udp"]);
}

#[test]
fn verify_refuses_a_file_that_is_not_a_result_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = common::root();
    let topo = root.join("tests/fixtures/audit/probe-lab.toml");
    let cat = root.join("tests/fixtures/audit/catalogue");
    let bad: PathBuf = tmp.path().join("r.json");
    std::fs::write(
        &bad,
        "{\"ctxfw_probes\": 1, \"component\": \"client\",\n \"probes\": [\n  {\"flow\": \"x\", \"address\": \"1.2.3.4\", \"port\": 70000, \"result\": \"open\"}]}\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .arg("verify")
        .arg(&topo)
        .arg("--catalogue")
        .arg(&cat)
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("r.json:3:"), "{err}");
    assert!(err.contains("`port` must be a port number"), "{err}");
}
