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

#[test]
fn failure_part_way_leaves_nothing_behind_and_old_files_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let ok = ctxfw(&["generate", ONPREM, "--target", "all", "--out", out], &[]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    // Mark every file, then fail after staging the first one: nothing may change.
    for n in &names {
        std::fs::write(dir.path().join(n), "old").unwrap();
    }
    let fail = ctxfw(
        &["generate", ONPREM, "--target", "all", "--out", out],
        &[("CTXFW_FAIL_AFTER", &names[0])],
    );
    assert_eq!(
        fail.status.code(),
        Some(74),
        "{}",
        String::from_utf8_lossy(&fail.stderr)
    );
    assert!(String::from_utf8_lossy(&fail.stderr).contains("injected failure"));
    let mut after: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    after.sort();
    assert_eq!(after, names, "no temporary file left behind");
    for n in &names {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(n)).unwrap(),
            "old",
            "{n} was touched"
        );
    }
}

#[test]
fn every_example_is_byte_identical_across_processes() {
    for t in common::example_topologies() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [&a, &b] {
            let r = ctxfw(
                &[
                    "generate",
                    t.to_str().unwrap(),
                    "--target",
                    "all",
                    "--out",
                    d.path().to_str().unwrap(),
                ],
                &[],
            );
            assert_eq!(
                r.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&r.stderr)
            );
        }
        let list = |d: &tempfile::TempDir| {
            let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d.path())
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap_or_default(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(list(&a), list(&b), "{}", t.display());
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
    // 2: invalid input
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = 1\n").unwrap();
    assert_eq!(
        ctxfw(&["check", bad.to_str().unwrap()], &[]).status.code(),
        Some(2)
    );
    // 74: output cannot be written (the output "directory" is a file)
    let file = dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let r = ctxfw(
        &[
            "generate",
            ONPREM,
            "--target",
            "all",
            "--out",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        r.status.code(),
        Some(74),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}
