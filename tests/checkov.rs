//! Policy scanners as consumers: checkov (from `.ci/run`'s virtual environment, offline) scans
//! the CloudFormation, ARM and Terraform outputs of the cloud example, and what it finds must be
//! exactly the findings docs/cloud.md lists with their reasons, so a new finding fails.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::render::Renderer;
use serde_json::Value;

const BEGIN: &str = "<!-- checkov findings: begin -->";
const END: &str = "<!-- checkov findings: end -->";

/// (check id, resource, file) as checkov names them.
type Finding = (String, String, String);

/// The findings docs/cloud.md lists, each with a reason.
fn documented() -> BTreeSet<Finding> {
    let doc = std::fs::read_to_string(common::root().join("docs/cloud.md")).unwrap();
    let (start, end) = match (doc.find(BEGIN), doc.find(END)) {
        (Some(s), Some(e)) => (s + BEGIN.len(), e),
        _ => panic!("docs/cloud.md lacks the checkov findings markers"),
    };
    let mut out = BTreeSet::new();
    for line in doc[start..end].lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`'))
            .collect();
        if cells[0] == "check" || cells[0].starts_with("---") {
            continue;
        }
        assert_eq!(cells.len(), 4, "check | resource | file | why: {line}");
        assert!(cells[3].len() > 20, "a finding without its reason: {line}");
        out.insert((cells[0].into(), cells[1].into(), cells[2].into()));
    }
    out
}

/// The checkov program beside the test Python (a pip install puts it there).
fn checkov() -> Option<PathBuf> {
    let py = common::tools::python("checkov", "checkov", "checkov")?;
    Some(py.with_file_name("checkov"))
}

#[test]
fn checkov_findings_are_exactly_the_documented_ones() {
    let documented = documented();
    assert!(!documented.is_empty());
    let Some(checkov) = checkov() else { return };
    let path = common::root().join("topologies/cloud-resource-locations.toml");
    let loaded = ctxfw::load(&path, None).unwrap();
    let r = Renderer::new(None).unwrap();
    let t: Vec<_> = TARGETS
        .iter()
        .filter(|t| ["aws", "azure", "terraform"].contains(&t.name))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for f in generate::generate(&loaded, &r, &Options::default(), &t).unwrap() {
        std::fs::write(dir.path().join(&f.name), f.content).unwrap();
    }
    // Offline: no guideline download, no platform key; a failed check is exit 1.
    let out = Command::new(&checkov)
        .arg("-d")
        .arg(dir.path())
        .args([
            "--framework",
            "cloudformation",
            "arm",
            "terraform_json",
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ])
        .env_remove("BC_API_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "checkov failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("checkov's report is not JSON: {e}\n{stdout}"));
    let reports = match reports {
        Value::Array(v) => v,
        one => vec![one],
    };
    let mut scanned = BTreeSet::new();
    let mut found = BTreeSet::new();
    for rep in &reports {
        let kind = rep["check_type"].as_str().unwrap_or_default().to_string();
        let summary = &rep["summary"];
        assert_eq!(summary["parsing_errors"], 0, "{kind}: {summary}");
        // A framework that parsed nothing would pass without looking.
        assert!(
            summary["passed"].as_u64().unwrap_or(0) > 0,
            "{kind}: {summary}"
        );
        scanned.insert(kind);
        for c in rep["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let file = c["file_path"].as_str().unwrap_or_default();
            let file = file.rsplit('/').next().unwrap_or(file);
            found.insert((
                c["check_id"].as_str().unwrap_or_default().to_string(),
                c["resource"].as_str().unwrap_or_default().to_string(),
                file.to_string(),
            ));
        }
    }
    assert_eq!(
        scanned,
        BTreeSet::from([
            "arm".into(),
            "cloudformation".into(),
            "terraform_json".into()
        ]),
        "every output was scanned"
    );
    let new: Vec<_> = found.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "checkov's findings differ from docs/cloud.md (\"Policy scanners\"): fix the generator, \
         or document a finding the deployment needs with its reason.\nnew: {new:#?}\nno longer found: {gone:#?}"
    );
}
