//! Golden files: every topology in `topologies/` is generated and compared byte for byte with
//! `golden/<name>/`. `UPDATE_GOLDEN=1 cargo test` rewrites them; a pull request that changes
//! rules therefore shows the rule change itself.

mod common;

use std::path::Path;

use ctxfw::output::OutFile;
use ctxfw::render::Renderer;

fn outputs(path: &Path) -> (String, Vec<OutFile>) {
    let loaded = ctxfw::load(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = Renderer::new(None).unwrap();
    let files =
        ctxfw::render::flows::review_files(&r, &loaded.topology, &loaded.resolution).unwrap();
    (loaded.topology.name.clone(), files)
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
        for f in files {
            let gp = dir.join(&f.name);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&gp, &f.content).unwrap();
                continue;
            }
            let old = std::fs::read_to_string(&gp).unwrap_or_default();
            if old != f.content {
                let diff = similar::TextDiff::from_lines(&old, &f.content)
                    .unified_diff()
                    .header(&format!("golden/{name}/{}", f.name), "generated")
                    .to_string();
                failures.push(diff);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden files differ (run `UPDATE_GOLDEN=1 cargo test` if the change is intended):\n{}",
        failures.join("\n")
    );
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
