//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::SourceFile;
use ctxfw::resolve::{resolve, Resolution};
use ctxfw::topology::{self, Topology};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example topology: `topologies/*.toml`, sorted.
pub fn example_topologies() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("topologies"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

pub fn catalogue() -> Catalogue {
    Catalogue::embedded().unwrap_or_else(|e| panic!("embedded catalogue invalid:\n{e}"))
}

pub fn parse_str(name: &str, text: &str) -> Result<Topology, ctxfw::diag::Invalid> {
    topology::parse(SourceFile::new(name, text), &catalogue()).map(|(t, _)| t)
}

pub fn resolve_str(text: &str) -> (Topology, Resolution) {
    let cat = catalogue();
    let (t, _) =
        topology::parse(SourceFile::new("test.toml", text), &cat).unwrap_or_else(|e| panic!("{e}"));
    let r = resolve(&t, &cat);
    (t, r)
}

pub fn resolve_file(path: &Path) -> (Topology, Resolution) {
    resolve_str(&std::fs::read_to_string(path).unwrap())
}

/// Path of the built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ctxfw"))
}

/// Run a shell script (with the sbin directories on PATH): whether it succeeded, and its
/// standard output and error.
pub fn sh(script: &str) -> (bool, String) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("PATH=$PATH:/usr/sbin:/sbin\n{script}"))
        .output()
        .expect("sh runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
