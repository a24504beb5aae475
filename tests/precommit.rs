//! The hooks in `.pre-commit-hooks.yaml`, run by the real `pre-commit` (PyPI) on a scratch
//! repository that uses them from this one, as a team would: pre-commit builds ctxfw with
//! `cargo install`, then the hooks pass on a consistent commit, and fail on a topology changed
//! without regenerating and on an invalid topology.
//!
//! Needs pre-commit (in the Python that .ci/run sets up, or on PATH), git and cargo; the build
//! uses `target/pre-commit/` (kept between runs) with a quick release profile.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pre_commit() -> Option<PathBuf> {
    let in_venv = std::env::var_os("CTXFW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join(".venv/bin/python"))
        .with_file_name("pre-commit");
    if in_venv.is_file() {
        return Some(in_venv);
    }
    if common::tools::on_path("pre-commit") {
        return Some("pre-commit".into());
    }
    common::tools::skip(
        "pre-commit hooks",
        "pre-commit not installed (run .ci/run, or: .venv/bin/pip install pre-commit)",
    );
    None
}

fn run(dir: &Path, program: &Path, args: &[&str]) -> Output {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    out
}

fn git(dir: &Path, args: &[&str]) {
    let out = run(dir, Path::new("git"), args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn hooks_pass_on_a_consistent_commit_and_fail_on_stale_files_and_errors() {
    let Some(pre_commit) = pre_commit() else {
        return;
    };
    if !common::tools::require(
        "pre-commit hooks",
        &[("git", "git"), ("cargo", "cargo")],
        false,
    ) {
        return;
    }
    let root = common::root();
    let scratch = tempfile::tempdir().unwrap();
    // pre-commit clones a hook repository at a revision: a snapshot of this working tree
    // (tracked and untracked files, as they are now) committed in a repository of its own, so
    // the hooks tested are the ones in the tree, committed or not.
    let hooks_repo = scratch.path().join("ctxfw");
    let files = run(
        &root,
        Path::new("git"),
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    assert!(files.status.success(), "{}", text(&files));
    for name in String::from_utf8_lossy(&files.stdout).split('\0') {
        let from = root.join(name);
        if name.is_empty() || !from.is_file() {
            continue;
        }
        let to = hooks_repo.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git(&hooks_repo, &["init", "-q"]);
    git(&hooks_repo, &["add", "-A"]);
    git(
        &hooks_repo,
        &[
            "-c",
            "user.email=ci@example.com",
            "-c",
            "user.name=CI",
            "commit",
            "-qm",
            "snapshot",
        ],
    );
    let head = run(&hooks_repo, Path::new("git"), &["rev-parse", "HEAD"]);
    assert!(head.status.success(), "{}", text(&head));
    let rev = String::from_utf8_lossy(&head.stdout).trim().to_string();

    let repo = scratch.path().join("site");
    std::fs::create_dir_all(repo.join("topologies")).unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["config", "user.email", "ci@example.com"]);
    git(&repo, &["config", "user.name", "CI"]);
    let site = std::fs::read_to_string(root.join("topologies/onprem-cvad.toml")).unwrap();
    std::fs::write(repo.join("topologies/site.toml"), &site).unwrap();
    let regenerate = || {
        let args = ["generate", "topologies/site.toml", "--target", "nftables"];
        let out = run(
            &repo,
            &common::bin(),
            &[&args[..], &["--out", "generated"]].concat(),
        );
        assert!(out.status.success(), "{}", text(&out));
    };
    regenerate();
    std::fs::write(
        repo.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n- repo: {}\n  rev: {rev}\n  hooks:\n  - id: ctxfw-check\n  - id: ctxfw-golden\n    args: [topologies/site.toml, --target, nftables, --out, generated]\n",
            hooks_repo.display()
        ),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "site"]);

    let hooks = |what: &str| {
        let out = Command::new(&pre_commit)
            .current_dir(&repo)
            .args(["run", "--all-files", "--color", "never"])
            .env("PRE_COMMIT_HOME", scratch.path().join("cache"))
            // A quick build, kept between runs: the hooks are tested, not the optimiser.
            .env("CARGO_TARGET_DIR", root.join("target/pre-commit"))
            .env("CARGO_PROFILE_RELEASE_LTO", "false")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
            .output()
            .expect("pre-commit runs");
        eprintln!("{what}:\n{}", text(&out));
        out
    };

    let out = hooks("consistent");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("ctxfw check") && t.contains("Passed"), "{t}");

    // The topology changes (StoreFront's XML port), the rule set is not regenerated.
    std::fs::write(
        repo.join("topologies/site.toml"),
        site.replace("xml_port = 80", "xml_port = 443"),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    let out = hooks("stale");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("ctxfw generated files are up to date") && t.contains("Failed"),
        "{t}"
    );
    assert!(t.contains("generated/onprem-cvad.nft: differs"), "{t}");

    // Regenerated: passes again.
    regenerate();
    git(&repo, &["add", "-A"]);
    assert_eq!(hooks("regenerated").status.code(), Some(0));

    // An invalid topology: ctxfw check fails with the position.
    std::fs::write(
        repo.join("topologies/site.toml"),
        site.replace("cidrs = [\"10.0.10.0/24\"", "cidrs = [\"10.0.10.5/24\""),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    let out = hooks("invalid");
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("has host bits set"), "{t}");
    assert!(t.contains("topologies/site.toml:"), "{t}");
}
