//! What a change board reads (issue 22): `diff` says why each flow changed, the workbook read
//! back by a real reader, the diagrams measured in a real browser, the Mermaid block within
//! GitHub's limits, and the grouped view.

mod common;

use std::path::{Path, PathBuf};

use common::tools;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn two_site() -> String {
    std::fs::read_to_string(common::root().join("topologies/two-site.toml")).unwrap()
}

/// The two-site example changed the ways a change request changes a site: a parameter
/// (EDT off), a parameter that gives ports (the SQL instance's), a component removed (hq's
/// FAS), a component's addresses (dr's domain controller), an addition and a removal.
fn two_site_changed() -> String {
    let t = two_site();
    let replace = |t: String, a: &str, b: &str| {
        assert!(t.contains(a), "{a}");
        t.replace(a, b)
    };
    let t = replace(t, "xml_port = 443\n", "xml_port = 443\nedt = false\n");
    let t = replace(
        t,
        "sql_named_instance_ports = [1435]",
        "sql_named_instance_ports = [1436]",
    );
    let t = replace(
        t,
        "[components.hq-fas]\nkind = \"fas\"\nzone = \"hq-core\"\nsite = \"hq\"\nhosts = [\"10.10.10.31\", \"10.10.10.32\"]\n",
        "",
    );
    let t = replace(
        t,
        "hosts = [\"10.20.10.5\"]",
        "hosts = [\"10.20.10.5\", \"10.20.10.6\"]",
    );
    t + "\n[[additions]]\nid = \"adm-to-sql\"\nfrom = \"adm\"\nto = \"sql\"\nprotocol = \"tcp\"\nports = [1435]\npurpose = \"ADM's reporting database\"\nreason = \"CHG-42\"\n\n[[removals]]\ncatalogue = \"cvad-director-vda-ra\"\nreason = \"Help desk uses another remote tool\"\n"
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn diff_attributes_every_changed_flow_to_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "old.toml", &two_site());
    let new = write(dir.path(), "new.toml", &two_site_changed());
    let o = common::ctxfw(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes: Vec<String> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}: {}",
                c["what"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["detail"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "parameter edt: true → false",
        "parameter sql_named_instance_ports: [\"1435\"] → [\"1436\"]",
        "component removed hq-fas: fas",
        "component changed dr-dc: addresses",
        "addition added adm-to-sql: ",
        "removal added cvad-director-vda-ra: Help desk uses another remote tool",
    ] {
        assert!(
            changes.iter().any(|c| c == want),
            "{want} not in {changes:#?}"
        );
    }
    let causes = d["causes"].as_object().unwrap();
    let mut ids: Vec<(&str, &Value)> = Vec::new();
    for k in ["added", "removed", "changed"] {
        for f in d[k].as_array().unwrap() {
            let id = f["id"].as_str().unwrap();
            ids.push((id, f));
        }
    }
    assert!(
        ids.len() >= 20,
        "the variant changes many flows: {}",
        ids.len()
    );
    let why = |id: &str| -> Vec<String> {
        causes
            .get(id)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{id} has no cause"))
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    for (id, _) in &ids {
        let w = why(id);
        assert!(!w.is_empty(), "{id}");
        // The catalogue is the same on both sides: every change is the topology's.
        assert!(w.iter().all(|c| !c.starts_with("catalogue")), "{id}: {w:?}");
    }
    let has = |id: &str, cause: &str| {
        let w = why(id);
        assert!(
            w.iter().any(|c| c.starts_with(cause)),
            "{id}: {w:?} lacks {cause}"
        );
    };
    // EDT off: the users' UDP to the Gateways and the Gateways' UDP to the VDAs go.
    has("remote-users-to-hq-gw.vip-udp", "parameter edt");
    has("hq-gw.snip-to-hq-vdas-udp", "parameter edt");
    has("hq-vdas-to-hq-fas-tcp", "component removed hq-fas");
    has("hq-ddc-to-sql-tcp", "parameter sql_named_instance_ports");
    has("adm-to-sql-tcp", "addition added adm-to-sql");
    has("hq-vdas-to-dr-dc-tcp", "component changed dr-dc");
    has(
        "hq-ddc-to-hq-vdas-tcp",
        "removal added cvad-director-vda-ra",
    );

    // The same from two flows files, and in the table and the Markdown.
    let flows = |t: &Path, name: &str| {
        let o = common::ctxfw(&["flows", t.to_str().unwrap(), "--format", "json"]);
        write(dir.path(), name, &text(&o.stdout))
    };
    let (fo, fnew) = (flows(&old, "old.json"), flows(&new, "new.json"));
    let o = common::ctxfw(&[
        "diff",
        "--flows",
        fo.to_str().unwrap(),
        fnew.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let df: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(df["causes"], d["causes"]);
    assert_eq!(df["changes"], d["changes"]);
    let o = common::ctxfw(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    let table = text(&o.stdout);
    assert!(
        table.starts_with(&format!(
            "{} -> {}\n* parameter edt: true → false (",
            old.display(),
            new.display()
        )),
        "{table}"
    );
    assert!(
        table.contains("    because: parameter edt: true → false"),
        "{table}"
    );
    let o = common::ctxfw(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    let md = text(&o.stdout);
    let changes_at = md.find("#### What changed in the topology").unwrap();
    assert!(changes_at < md.find("#### Added").unwrap(), "{md}");
    assert!(md.contains("| why |"), "{md}");
}
