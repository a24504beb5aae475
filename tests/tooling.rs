//! What a new user meets first, tried from the README alone: standard input and output,
//! finding kind names, explain's ends and ports, the formats for scripts and CI, colour and
//! --quiet.

mod common;

use std::process::{Command, Output, Stdio};

use common::{ctxfw, text};

fn ctxfw_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(common::bin())
        .current_dir(common::root())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Run a shell command line in `dir` with the binary as `ctxfw` and the repository's
/// topologies as `$T`, as the README shows the commands.
fn shell(dir: &std::path::Path, line: &str) -> Output {
    let bin = common::bin();
    Command::new("sh")
        .current_dir(dir)
        .env("T", common::root().join("topologies"))
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", bin.parent().unwrap().display()),
        )
        .args(["-c", line])
        .output()
        .unwrap()
}

#[test]
fn the_readme_redirect_writes_the_rule_set_with_its_domains_in_the_header() {
    let dir = tempfile::tempdir().unwrap();
    for t in common::example_topologies() {
        let name = t.file_stem().unwrap().to_string_lossy().to_string();
        let out = shell(
            dir.path(),
            &format!("ctxfw generate $T/{name}.toml --target nftables > {name}.nft"),
        );
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let nft = std::fs::read_to_string(dir.path().join(format!("{name}.nft"))).unwrap();
        // Byte for byte what --out writes, and the domain list (when there is one) in it.
        let golden = common::root().join(format!("golden/{name}/{name}.nft"));
        assert_eq!(nft, std::fs::read_to_string(golden).unwrap(), "{name}");
        let domains = common::root().join(format!("golden/{name}/{name}.domains.txt"));
        if let Ok(list) = std::fs::read_to_string(domains) {
            for d in list.lines() {
                assert!(nft.contains(&format!("#   {d}\n")), "{name}: {d}");
            }
        }
    }
}

#[test]
fn a_failure_with_nothing_printed_leaves_no_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    // Several files: the error names the command that works, and the shell's file is gone.
    let out = shell(
        dir.path(),
        "ctxfw generate $T/onprem-cvad.toml --target windows > rules.ps1",
    );
    assert_eq!(out.status.code(), Some(64));
    let err = text(&out.stderr);
    assert!(err.contains("--target windows --out out/"), "{err}");
    assert!(!dir.path().join("rules.ps1").exists(), "{err}");
    // An unknown target, an invalid topology: the same.
    let out = shell(
        dir.path(),
        "ctxfw generate $T/onprem-cvad.toml --target nope > x.nft",
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(!dir.path().join("x.nft").exists());
    std::fs::write(dir.path().join("bad.toml"), "name = \"bad\"\nzones = 3\n").unwrap();
    let out = shell(
        dir.path(),
        "ctxfw flows bad.toml --format json > flows.json",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("flows.json").exists());
    // A file with content is never touched, nor is a file that was not standard output.
    std::fs::write(dir.path().join("keep.nft"), "old\n").unwrap();
    let out = shell(
        dir.path(),
        "ctxfw generate bad.toml --target nftables >> keep.nft",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.nft")).unwrap(),
        "old\n"
    );
}

#[test]
fn dash_is_standard_input_and_output() {
    let topo = std::fs::read(common::root().join("topologies/onprem-cvad.toml")).unwrap();
    let out = ctxfw_stdin(&["check", "-"], &topo);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("<stdin>: valid"));
    let out = ctxfw_stdin(
        &["check", "-"],
        b"name = \"x\"\n[zones.a]\ncidrs = [\"10.0.0.1/24\"]\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--> <stdin>:3:10"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .current_dir(dir.path())
        .args(["flows", "-", "--format", "json", "--out", "-"])
        .stdin(std::fs::File::open(common::root().join("topologies/onprem-cvad.toml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["topology"], "onprem-cvad");
    let out = Command::new(common::bin())
        .current_dir(dir.path())
        .args(["generate"])
        .arg(common::root().join("topologies/onprem-cvad.toml"))
        .args(["--target", "nftables", "--out", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("#!/usr/sbin/nft -f"));
    let old = std::fs::read(common::root().join("golden/onprem-cvad/flows.json")).unwrap();
    let out = ctxfw_stdin(
        &["diff", "--flows", "-", "golden/onprem-cvad/flows.json"],
        &old,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Nothing called `-` was made.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn kind_names_engineers_use_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.toml");
    for (word, id) in [
        ("ddc", "delivery-controller"),
        ("sql", "sql-server"),
        ("license", "license-server"),
        ("provisioning-server", "pvs-server"),
        ("citrix-director", "director"),
        ("xenserver", "xenserver-host"),
    ] {
        std::fs::write(
            &p,
            format!("name = \"t\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n[components.x]\nkind = \"{word}\"\nzone = \"a\"\n"),
        )
        .unwrap();
        let out = ctxfw(&["check", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("did you mean \"{id}\"?")),
            "{word}: {err}"
        );
        // The catalogue shows the kind under that name too.
        let out = ctxfw(&["catalogue", word]);
        assert_eq!(out.status.code(), Some(0), "{word}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(&format!("({id})")), "{word}");
    }
    let out = ctxfw(&["catalogue", "--search", "provisioning"]);
    assert_eq!(out.status.code(), Some(0));
    let found = text(&out.stdout);
    assert!(
        found.contains("pvs-server") && found.contains("pvs-target"),
        "{found}"
    );
    let out = ctxfw(&["catalogue", "--search", "zzzqqq"]);
    assert_eq!(out.status.code(), Some(1));
    let out = ctxfw(&["catalogue", "--search", "netscaler", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first: Vec<&str> = v.as_array().unwrap()[..2]
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, ["netscaler-adc", "netscaler-gateway"]);
    assert_eq!(v[0]["matched"], "alias");
    // An alias of two kinds is not guessed.
    let out = ctxfw(&["catalogue", "netscaler"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("\"netscaler-gateway\""));
}

#[test]
fn explain_takes_zones_and_interfaces_and_hints_the_protocol() {
    let t = "topologies/onprem-cvad.toml";
    let out = ctxfw(&[
        "explain",
        t,
        "--from",
        "internet",
        "--to",
        "netscaler.vip",
        "--port",
        "tcp/443",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("allowed: tcp/443 from zone internet to netscaler.vip"));
    let out = ctxfw(&[
        "explain", t, "--from", "internet", "--to", "core", "--port", "tcp/1433",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = ctxfw(&[
        "explain",
        t,
        "--from",
        "internet",
        "--to",
        "netscaler",
        "--port",
        "443",
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("did you mean tcp/443 (or udp/443)?"));
    let out = ctxfw(&[
        "explain",
        t,
        "--from",
        "storefront",
        "--to",
        "ddc",
        "--port",
        "tcp/80",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["port"], "tcp/80");
    assert_eq!(v["flows"][0]["from"], "storefront");
    assert!(v["flows"][0]["ports"].is_array());
}

#[test]
fn catalogue_json_for_scripts() {
    let out = ctxfw(&["catalogue", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: usize = v["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kinds"].as_array().unwrap().len())
        .sum();
    assert_eq!(kinds, common::catalogue().kinds.len());
    let out = ctxfw(&["catalogue", "storefront", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], "storefront");
    assert!(!v["flows"].as_array().unwrap().is_empty());
    let out = ctxfw(&["catalogue", "--parameters", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "xml_port"));
    assert!(v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "vda" && p["name"] == "join"));
}

#[test]
fn check_formats_for_ci() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad, 100%: x.toml");
    std::fs::write(&bad, "name = \"b\"\n[zones.a]\ncidrs = [\"10.0.0.1/24\"]\n").unwrap();
    let bad = bad.to_str().unwrap();
    let out = ctxfw(&[
        "check",
        bad,
        "topologies/onprem-cvad.toml",
        "--format",
        "github",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let cmds = text(&out.stdout);
    let first = cmds.lines().next().unwrap();
    assert!(first.starts_with("::error file="), "{first}");
    assert!(
        first.contains("bad%2C 100%25%3A x.toml,line=3,col=10,"),
        "{first}"
    );
    assert!(
        first.contains("::zone network 10.0.0.1/24 has host bits set%0Ahint: "),
        "{first}"
    );
    assert!(
        cmds.lines()
            .any(|l| l.starts_with("::warning file=topologies/onprem-cvad.toml")),
        "{cmds}"
    );
    let out = ctxfw(&["check", bad, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["files"][0]["findings"][0];
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(3), Some(10))
    );
    assert_eq!(f["severity"], "error");
    // An unreadable file: exit 74 in every format.
    let out = ctxfw(&["check", "no/such.toml", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(74));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["results"][0]["ruleId"], "unreadable-file");
}

#[test]
fn colour_only_where_it_is_shown_and_quiet_prints_only_errors() {
    let bad = "tests/fixtures/no-such.toml";
    let esc = |o: &Output| text(&o.stderr).contains('\u{1b}');
    // Into a pipe (not a terminal): no colour unless asked.
    assert!(!esc(&ctxfw(&["check", bad])));
    assert!(esc(&ctxfw(&["check", bad, "--color", "always"])));
    assert!(!esc(&ctxfw(&["--color=never", "check", bad])));
    // auto on a terminal, and NO_COLOR: through script(1) when it is there.
    if common::tools::on_path("script") {
        let run = |env: &[(&str, &str)]| {
            let mut c = Command::new("script");
            c.args(["-qec"])
                .arg(format!("{} check {bad}", common::bin().display()))
                .arg("/dev/null")
                .current_dir(common::root());
            c.env_remove("NO_COLOR");
            for (k, v) in env {
                c.env(k, v);
            }
            c.output().unwrap()
        };
        assert!(
            text(&run(&[]).stdout).contains('\u{1b}'),
            "a terminal gets colour"
        );
        assert!(
            !text(&run(&[("NO_COLOR", "1")]).stdout).contains('\u{1b}'),
            "NO_COLOR"
        );
    }
    let out = ctxfw(&["check", "topologies/onprem-cvad.toml", "-q"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    let out = ctxfw(&["-q", "check", bad]);
    assert_eq!(out.status.code(), Some(74));
    assert!(text(&out.stderr).contains("error: cannot read topology"));
    let dir = tempfile::tempdir().unwrap();
    let out = ctxfw(&[
        "generate",
        "topologies/onprem-cvad.toml",
        "--target",
        "flows",
        "--out",
        dir.path().to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn generate_check_finds_stale_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let t = "topologies/onprem-cvad.toml";
    let gen = |extra: &[&str]| {
        let mut a = vec!["generate", t, "--target", "nftables", "--out", d];
        a.extend(extra);
        ctxfw(&a)
    };
    let out = gen(&["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("onprem-cvad.nft: missing"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(d).unwrap().count(),
        0,
        "--check writes nothing"
    );
    assert_eq!(gen(&[]).status.code(), Some(0));
    assert_eq!(gen(&["--check"]).status.code(), Some(0));
    let nft = dir.path().join("onprem-cvad.nft");
    let mut text_now = std::fs::read_to_string(&nft).unwrap();
    text_now.push_str("# edited by hand\n");
    std::fs::write(&nft, text_now).unwrap();
    let out = gen(&["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("differs"));
}

/// The README's usage-error example is the message ctxfw prints (every target listed).
#[test]
fn readme_shows_the_real_unknown_target_message_and_links_errors_md() {
    let out = ctxfw(&[
        "generate",
        "topologies/onprem-cvad.toml",
        "--target",
        "nope",
    ]);
    let message = text(&out.stderr)
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ")
        .to_string();
    for doc in ["README.md", "docs/errors.md"] {
        let body = std::fs::read_to_string(common::root().join(doc)).unwrap();
        assert!(
            body.contains(&format!("| unknown target | `{message}` |")),
            "{doc} must show: {message}"
        );
    }
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    // Every relative link of the README leads to a file; code spans hold examples, not links.
    let prose: String = readme
        .lines()
        .flat_map(|l| l.split('`').step_by(2).chain(["\n"]))
        .collect();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let target = &rest[..rest.find(')').unwrap()];
        // Only links: a regular expression such as `[a-z](...)` in the text is not one.
        let path_like = target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-#".contains(c));
        if !path_like || target.contains("://") || target.starts_with('#') {
            continue;
        }
        let path = target.split('#').next().unwrap();
        assert!(common::root().join(path).exists(), "README links {target}");
    }
}
