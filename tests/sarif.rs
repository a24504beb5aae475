//! `check --format sarif` against the SARIF 2.1.0 JSON schema.
//!
//! The schema is the copy the `serde-sarif` crate (a dev-dependency) ships in its sources
//! (`src/schema.json`, the OASIS schema its types are generated from); this machine reaches
//! only package registries, so the schema comes with a package. It is validated by the Python
//! `jsonschema` package (Draft 7, as the schema declares), and the log is also read into
//! serde-sarif's types.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// `src/schema.json` of the serde-sarif package this build uses, found through cargo.
fn schema() -> PathBuf {
    // This platform's packages only: all are in the local cache once the tests are built.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = Command::new(env!("CARGO"))
        .current_dir(common::root())
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif is a dev-dependency");
    let schema = PathBuf::from(manifest).with_file_name("src/schema.json");
    let text = std::fs::read_to_string(&schema).unwrap();
    assert!(
        text.contains("Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"),
        "{}",
        schema.display()
    );
    schema
}

/// A check run with errors (with a related location), warnings and an unreadable file.
fn sarif_log(dir: &std::path::Path) -> (Option<i32>, String) {
    let bad = dir.join("bad zones.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\n[zones.core]\ncidrs = [\"10.0.10.0/24\"]\n[zones.core2]\ncidrs = [\"10.0.10.128/25\"]\n[zones.lab]\ncidrs = [\"10.0.20.5/24\"]\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .current_dir(common::root())
        .arg("check")
        .arg(&bad)
        .args([
            "topologies/onprem-cvad.toml",
            "no/such/file.toml",
            "--format",
            "sarif",
        ])
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let dir = tempfile::tempdir().unwrap();
    let (code, log) = sarif_log(dir.path());
    assert_eq!(code, Some(74), "the unreadable file decides the exit code");
    // serde-sarif's types: every required field there and of the right type.
    let typed: serde_sarif::sarif::Sarif = serde_json::from_str(&log).expect("SARIF types");
    assert_eq!(typed.runs.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    let levels: Vec<&str> = results
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"error") && levels.contains(&"warning"),
        "{levels:?}"
    );
    let overlap = results
        .iter()
        .find(|r| r["message"]["text"].as_str().unwrap().contains("overlaps"))
        .expect("the overlap error");
    let region = &overlap["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 5);
    assert!(overlap["relatedLocations"].is_array(), "{overlap}");
    let uri = overlap["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.ends_with("bad%20zones.toml"), "{uri}");

    let Some(py) = common::tools::python("SARIF schema", "jsonschema", "jsonschema") else {
        return;
    };
    let log_file = dir.path().join("check.sarif");
    std::fs::write(&log_file, &log).unwrap();
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
for e in errors:
    print("/".join(map(str, e.path)), e.message)
sys.exit(1 if errors else 0)
"#;
    let out = Command::new(py)
        .args(["-c", script])
        .arg(schema())
        .arg(&log_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SARIF schema: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The validator finds what it should: a log that breaks the schema fails.
#[test]
fn the_schema_check_can_fail() {
    let Some(py) = common::tools::python("SARIF schema", "jsonschema", "jsonschema") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, log) = sarif_log(dir.path());
    let mut v: serde_json::Value = serde_json::from_str(&log).unwrap();
    v["runs"][0]["results"][0]["level"] = "fatal".into();
    let broken = dir.path().join("broken.sarif");
    std::fs::write(&broken, v.to_string()).unwrap();
    let out = Command::new(py)
        .args([
            "-c",
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))",
        ])
        .arg(schema())
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'fatal' is not one of"));
}
