//! Golden files: every topology in `topologies/` is generated and compared byte for byte with
//! `golden/<name>/`: the review files (`flows.json`, `flows.md`), every target's zone-firewall
//! output, and host-firewall outputs for each Linux component (`golden/<name>/host-<component>/`),
//! and the zone firewall's nftables file in the concatenated-set layout (`nft-concat/`). The
//! workbook is compared through its cell values (`<name>.xlsx.txt`, read back with calamine),
//! not its bytes; the matrix's grouped view (`--group`) is kept in `group/`.
//! `UPDATE_GOLDEN=1 cargo test` rewrites them; a pull request that changes rules therefore
//! shows the rule change itself.

mod common;

use std::path::{Path, PathBuf};

use ctxfw::catalogue::Platform;
use ctxfw::generate::{self, Options, Target, TARGETS};
use ctxfw::output::OutFile;
use ctxfw::render::nftables::Layout;
use ctxfw::render::Renderer;

/// Every expected file of one topology, relative to `golden/<name>/`.
fn outputs(path: &Path) -> (String, Vec<(PathBuf, OutFile)>) {
    let loaded = ctxfw::load(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = Renderer::new(None).unwrap();
    let mut out: Vec<(PathBuf, OutFile)> = Vec::new();
    // The review files (the `flows` target) are kept without the topology's name in front.
    let (flows, targets): (Vec<&Target>, Vec<&Target>) =
        TARGETS.iter().partition(|t| t.name == "flows");
    let prefix = format!("{}.", loaded.topology.name);
    for f in generate::generate(&loaded, &r, &Options::default(), &flows).unwrap() {
        let name = f.name.strip_prefix(&prefix).unwrap_or(&f.name).to_string();
        out.push((PathBuf::from(name), f));
    }
    let all = generate::generate_all(&loaded, &r, &Options::default(), &targets).unwrap();
    for f in all.files {
        out.push((PathBuf::from(&f.name), f));
    }
    for b in all.binary {
        let name = format!("{}.txt", b.name);
        let content = common::xlsx_cells(&b.bytes);
        out.push((PathBuf::from(&name), OutFile { name, content }));
    }
    let matrix: Vec<_> = targets
        .iter()
        .copied()
        .filter(|t| t.name == "matrix")
        .collect();
    let grouped = Options {
        group: true,
        ..Options::default()
    };
    for f in generate::generate(&loaded, &r, &grouped, &matrix).unwrap() {
        if f.name.ends_with(".md") || f.name.ends_with(".html") {
            out.push((PathBuf::from("group").join(&f.name), f));
        }
    }
    // The nftables layout that large topologies get (`--nft-layout concat`), zone firewall.
    let nft: Vec<_> = targets
        .iter()
        .copied()
        .filter(|t| t.name == "nftables")
        .collect();
    let concat = Options {
        nft_layout: Layout::Concat,
        ..Options::default()
    };
    for f in generate::generate(&loaded, &r, &concat, &nft).unwrap() {
        if f.name.ends_with(".nft") {
            out.push((PathBuf::from("nft-concat").join(&f.name), f));
        }
    }
    let host_targets: Vec<_> = targets.iter().copied().filter(|t| t.host_aware).collect();
    if !host_targets.is_empty() {
        for c in loaded.topology.components.values() {
            let linux = c.kinds.iter().any(|k| {
                loaded
                    .catalogue
                    .kind(k)
                    .is_some_and(|k| k.platform == Platform::Linux)
            });
            if !linux {
                continue;
            }
            let opts = Options {
                host: Some(c.name.clone()),
                ..Options::default()
            };
            for f in generate::generate(&loaded, &r, &opts, &host_targets).unwrap() {
                out.push((PathBuf::from(format!("host-{}", c.name)).join(&f.name), f));
            }
        }
    }
    (loaded.topology.name.clone(), out)
}

#[test]
fn golden_files_match() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let topologies = common::example_topologies();
    assert!(topologies.len() >= 4, "expected the example topologies");
    for path in topologies {
        let (name, files) = outputs(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert_eq!(
            name,
            stem,
            "{}: topology name must match its file name",
            path.display()
        );
        let dir = common::root().join("golden").join(&name);
        if update {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let mut expected: Vec<PathBuf> = Vec::new();
        for (rel, f) in files {
            let gp = dir.join(&rel);
            expected.push(rel.clone());
            if update {
                std::fs::create_dir_all(gp.parent().unwrap()).unwrap();
                std::fs::write(&gp, &f.content).unwrap();
                continue;
            }
            let old = std::fs::read_to_string(&gp).unwrap_or_default();
            if old != f.content {
                let diff = similar::TextDiff::from_lines(&old, &f.content)
                    .unified_diff()
                    .header(&format!("golden/{name}/{}", rel.display()), "generated")
                    .to_string();
                failures.push(diff);
            }
        }
        // Files in golden/ that nothing generates any more are stale.
        for entry in walk(&dir) {
            let rel = entry.strip_prefix(&dir).unwrap().to_path_buf();
            if !expected.contains(&rel) {
                failures.push(format!(
                    "golden/{name}/{} is not generated any more; delete it",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden files differ (run `UPDATE_GOLDEN=1 cargo test` if the change is intended):\n{}",
        failures.join("\n")
    );
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

#[test]
fn no_stray_golden_directories() {
    let names: Vec<String> = common::example_topologies()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    for e in std::fs::read_dir(common::root().join("golden")).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            names.contains(&n),
            "golden/{n} has no topology in topologies/"
        );
    }
}
