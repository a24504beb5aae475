//! Robustness: atomic output under injected failures, byte-identical output across processes,
//! size limits, and the documented exit codes.

mod common;

use std::process::{Command, Output};

fn ctxfw(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(common::bin());
    c.current_dir(common::root()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

const ONPREM: &str = "topologies/onprem-cvad.toml";

/// `generate` of the on-premises example's `target` into `out`.
fn generate_onprem(target: &str, out: &std::path::Path) -> Output {
    let out = out.to_str().unwrap();
    ctxfw(&["generate", ONPREM, "--target", target, "--out", out], &[])
}

/// Every file and directory below `dir` (paths relative to it; directories end in `/` and
/// have no content), so targets that write subdirectories (Aerleon) are covered too.
fn listing(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(root, &p, out);
            } else {
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

#[test]
fn failure_after_each_file_leaves_nothing_behind_and_old_files_untouched() {
    for t in common::example_topologies() {
        let topo = t.to_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let ok = ctxfw(&["generate", topo, "--target", "all", "--out", out], &[]);
        assert_eq!(
            ok.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let names: Vec<String> = listing(dir.path())
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| !n.ends_with('/'))
            .collect();
        assert!(names.len() >= 2, "{names:?}");
        // Mark every file, then fail after staging each file in turn, and instead of renaming
        // the first, a middle and the last one (a failed rename takes back the ones before it):
        // nothing may change and no temporary file may stay.
        for n in &names {
            std::fs::write(dir.path().join(n), format!("old {n}")).unwrap();
        }
        let before = listing(dir.path());
        let renames = [&names[0], &names[names.len() / 2], &names[names.len() - 1]];
        let failures = names
            .iter()
            .map(|n| ("CTXFW_FAIL_AFTER", n))
            .chain(renames.into_iter().map(|n| ("CTXFW_FAIL_RENAME", n)));
        for (var, n) in failures {
            let fail = ctxfw(
                &["generate", topo, "--target", "all", "--out", out],
                &[(var, n)],
            );
            let err = String::from_utf8_lossy(&fail.stderr);
            assert_eq!(
                fail.status.code(),
                Some(74),
                "{}: {var} {n}: {err}",
                t.display()
            );
            assert!(
                err.contains(&format!("injected failure ({var}) at {n}")),
                "{err}"
            );
            assert_eq!(
                listing(dir.path()),
                before,
                "{}: {var} at {n} changed the directory",
                t.display()
            );
        }
        // A new directory: a failure leaves it empty.
        let fresh = dir.path().join("fresh");
        let fail = ctxfw(
            &[
                "generate",
                topo,
                "--target",
                "all",
                "--out",
                fresh.to_str().unwrap(),
            ],
            &[("CTXFW_FAIL_AFTER", names.last().unwrap())],
        );
        assert_eq!(fail.status.code(), Some(74));
        assert!(listing(&fresh).is_empty(), "{:?}", listing(&fresh));
    }
}

/// An output name held by a directory (item 11 of the security review: `generate` exited 74
/// after replacing five files): found before any file is renamed, so nothing changes.
#[test]
fn a_directory_in_place_of_an_output_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let ok = ctxfw(&["generate", ONPREM, "--target", "all", "--out", out], &[]);
    assert_eq!(ok.status.code(), Some(0));
    // Whichever order the files are renamed in, none may be before this is found.
    let csv = dir.path().join("onprem-cvad.csv");
    std::fs::remove_file(&csv).unwrap();
    std::fs::create_dir(&csv).unwrap();
    for (n, _) in listing(dir.path()) {
        let p = dir.path().join(&n);
        if p.is_file() {
            std::fs::write(&p, "old").unwrap();
        }
    }
    let before = listing(dir.path());
    let r = ctxfw(&["generate", ONPREM, "--target", "all", "--out", out], &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(74), "{err}");
    assert!(err.contains("onprem-cvad.csv is a directory"), "{err}");
    assert_eq!(listing(dir.path()), before);
}

/// Links planted in a shared output directory (item 3 of the security review): under the
/// temporary names a run would have used (`.NAME.PID.N.tmp` for the next process ids), in
/// place of an output, and in place of a subdirectory. None is written through; the outputs
/// are regular files.
#[test]
fn planted_links_are_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let next_pid: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .map_or(0, |s| s.trim().parse().unwrap_or(0));
    for pid in next_pid + 1..next_pid + 400 {
        std::os::unix::fs::symlink(&victim, out.join(format!(".onprem-cvad.nft.{pid}.0.tmp")))
            .unwrap();
    }
    std::os::unix::fs::symlink(&victim, out.join("onprem-cvad.nft")).unwrap();
    let r = generate_onprem("nftables", &out);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let nft = std::fs::symlink_metadata(out.join("onprem-cvad.nft")).unwrap();
    assert!(nft.file_type().is_file());
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        400,
        "the planted links and the rule set, nothing else"
    );
    // A subdirectory planted as a link: refused, nothing written there or here.
    std::os::unix::fs::symlink(elsewhere.path(), out.join("onprem-cvad.aerleon")).unwrap();
    let before = listing(&out);
    let r = generate_onprem("all", &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(74), "{err}");
    assert!(
        err.contains("onprem-cvad.aerleon is a link or a file, not a directory"),
        "{err}"
    );
    assert_eq!(listing(&out), before);
    assert_eq!(
        listing(elsewhere.path()),
        vec![("victim".to_string(), b"precious".to_vec())]
    );
}

#[test]
fn flows_out_is_atomic_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flows.json");
    std::fs::write(&file, "old").unwrap();
    let r = ctxfw(
        &[
            "flows",
            ONPREM,
            "--format",
            "json",
            "--out",
            file.to_str().unwrap(),
        ],
        &[("CTXFW_FAIL_AFTER", "flows.json")],
    );
    assert_eq!(r.status.code(), Some(74));
    assert_eq!(
        listing(dir.path()),
        vec![("flows.json".into(), b"old".to_vec())]
    );
}

/// Every example, every target, zone perspective and every component's host perspective, in
/// two processes (each with its own hash seed): same exit code, same messages, same bytes.
#[test]
fn every_example_is_byte_identical_across_processes() {
    for t in common::example_topologies() {
        let (topo, _) = common::resolve_file(&t);
        let mut runs: Vec<Vec<String>> = vec![vec![]];
        for c in topo.components.keys() {
            runs.push(vec!["--host".into(), c.clone()]);
        }
        for extra in runs {
            let a = tempfile::tempdir().unwrap();
            let b = tempfile::tempdir().unwrap();
            let mut results = Vec::new();
            for d in [&a, &b] {
                let mut args: Vec<&str> = vec![
                    "generate",
                    t.to_str().unwrap(),
                    "--target",
                    "all",
                    "--out",
                    d.path().to_str().unwrap(),
                ];
                args.extend(extra.iter().map(String::as_str));
                let r = ctxfw(&args, &[]);
                let err =
                    String::from_utf8_lossy(&r.stderr).replace(d.path().to_str().unwrap(), "OUT");
                results.push((r.status.code(), err));
            }
            assert_eq!(results[0], results[1], "{} {extra:?}", t.display());
            assert!(
                matches!(results[0].0, Some(0)),
                "{} {extra:?}: {}",
                t.display(),
                results[0].1
            );
            assert_eq!(
                listing(a.path()),
                listing(b.path()),
                "{} {extra:?}",
                t.display()
            );
        }
    }
}

#[test]
fn ten_thousand_zones_are_handled() {
    let mut t = String::from("name = \"big\"\n");
    for i in 0..10_000u32 {
        t.push_str(&format!(
            "[zones.z{i}]\ncidrs = [\"10.{}.{}.0/24\"]\n",
            i / 256,
            i % 256
        ));
    }
    t.push_str("[components.sf]\nkind = \"storefront\"\nzone = \"z1\"\n[components.dc]\nkind = \"domain-controller\"\nzone = \"z9999\"\n");
    let (topo, res) = common::resolve_str(&t);
    assert_eq!(topo.zones.len(), 10_000);
    assert!(!res.flows.is_empty());
}

/// Components of a few kinds spread over 100 zones, `n` of them.
fn many_components(n: usize) -> String {
    const KINDS: [&str; 8] = [
        "vda",
        "delivery-controller",
        "storefront",
        "domain-controller",
        "sql-server",
        "director",
        "license-server",
        "workspace-app",
    ];
    let mut t = String::from("name = \"big\"\n[zones.internet]\ncidrs = [\"0.0.0.0/0\"]\n");
    for z in 0..100 {
        t.push_str(&format!("[zones.z{z}]\ncidrs = [\"10.{z}.0.0/16\"]\n"));
    }
    for i in 0..n {
        let z = i % 100;
        t.push_str(&format!(
            "[components.c{i}]\nkind = \"{}\"\nzone = \"z{z}\"\nhosts = [\"10.{z}.{}.{}\"]\n",
            KINDS[i % KINDS.len()],
            i / 100 / 250,
            i / 100 % 250 + 1
        ));
    }
    t
}

/// Flows grow with the square of the components per kind: 1,000 such components once took 46 s
/// and 3.8 GB, 3,000 were killed at 23 GB. The CLI now counts the bindings first and refuses.
#[test]
fn ten_thousand_components_are_refused_before_resolving() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.toml");
    std::fs::write(&p, many_components(10_000)).unwrap();
    let start = std::time::Instant::now();
    let r = ctxfw(&["flows", p.to_str().unwrap(), "--format", "json"], &[]);
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("10,000 components would bind into up to")
            && err.contains("more than ctxfw handles (500,000)")
            && err.contains("big.toml")
            && err.contains("hosts = [...]"),
        "{err}"
    );
    assert!(r.stdout.is_empty());
    assert!(took.as_secs() < 60, "took {took:?}");
}

/// A large topology under the limit still resolves, and every target renders it.
#[test]
fn two_hundred_components_resolve_and_render() {
    let text = many_components(200);
    let cat = common::catalogue();
    let (t, _) = ctxfw::topology::parse(ctxfw::diag::SourceFile::new("big.toml", text), &cat)
        .unwrap_or_else(|e| panic!("{e}"));
    ctxfw::check_size(&t, &cat).unwrap_or_else(|e| panic!("{e}"));
    let r = ctxfw::resolve::resolve(&t, &cat);
    assert!(r.flows.len() > 1000, "{}", r.flows.len());
    assert!(r.flows.len() <= ctxfw::resolve::MAX_BINDINGS);
}

#[test]
fn a_one_megabyte_string_is_refused_cleanly() {
    let big = "x".repeat(1 << 20);
    let t =
        format!("name = \"big\"\ndescription = \"{big}\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n");
    let err = common::parse_str("big.toml", &t).unwrap_err();
    assert!(
        err.to_string()
            .contains("description is longer than 2000 characters"),
        "{}",
        &err.to_string()[..200]
    );
}

#[test]
fn exit_codes_are_the_documented_ones() {
    // 0: valid
    assert_eq!(ctxfw(&["check", ONPREM], &[]).status.code(), Some(0));
    // 64: usage errors, before or after argument parsing
    assert_eq!(ctxfw(&["check"], &[]).status.code(), Some(64));
    assert_eq!(
        ctxfw(&["generate", ONPREM, "--target", "nope"], &[])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(
        ctxfw(&["generate", ONPREM, "--host", "nope"], &[])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(
        ctxfw(&["generate", ONPREM, "--templates", "no/such/dir"], &[])
            .status
            .code(),
        Some(64)
    );
    // 64: several files without --out
    assert_eq!(
        ctxfw(&["generate", ONPREM, "--target", "all"], &[])
            .status
            .code(),
        Some(64)
    );
    // 64: an unknown kind to browse
    assert_eq!(
        ctxfw(&["catalogue", "storefrnt"], &[]).status.code(),
        Some(64)
    );
    // 1: findings (warnings under --deny-warnings)
    let warn = tempfile::tempdir().unwrap();
    let w = warn.path().join("w.toml");
    std::fs::write(
        &w,
        "name = \"w\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n[components.sf]\nkind = \"storefront\"\nzone = \"a\"\n[[removals]]\ncatalogue = \"ad-member-smb\"\nreason = \"r\"\n",
    )
    .unwrap();
    let r = ctxfw(&["check", w.to_str().unwrap(), "--deny-warnings"], &[]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // 2: invalid input
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = 1\n").unwrap();
    assert_eq!(
        ctxfw(&["check", bad.to_str().unwrap()], &[]).status.code(),
        Some(2)
    );
    // 2: a topology that is not UTF-8 is invalid input, named with the offset
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"name = \"caf\xe9\"\n").unwrap();
    let r = ctxfw(&["check", latin1.to_str().unwrap()], &[]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&r.stderr)
            .contains("latin1.toml is not UTF-8 text (invalid byte at offset 11)"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // 74: an input that cannot be read (missing, a directory, a missing catalogue directory),
    // for every command that reads one
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["check", "no/such.toml"],
            "cannot read topology no/such.toml",
        ),
        (
            vec!["flows", "no/such.toml"],
            "cannot read topology no/such.toml",
        ),
        (
            vec!["generate", "no/such.toml"],
            "cannot read topology no/such.toml",
        ),
        (
            vec!["check", "topologies"],
            "cannot read topology topologies",
        ),
        (
            vec!["check", ONPREM, "--catalogue", "no/such/dir"],
            "cannot read catalogue directory no/such/dir",
        ),
        (
            vec!["catalogue", "--catalogue", "no/such/dir"],
            "cannot read catalogue directory no/such/dir",
        ),
    ];
    for (args, msg) in cases {
        let r = ctxfw(&args, &[]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(74), "{args:?}: {err}");
        assert!(
            err.contains(msg) && err.contains("hint:"),
            "{args:?}: {err}"
        );
    }
    // 74: output cannot be written (the output "directory" is a file)
    let file = dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let r = generate_onprem("all", &file);
    assert_eq!(
        r.status.code(),
        Some(74),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}
