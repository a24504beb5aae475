//! `ctxfw check --format sarif`: the findings as a SARIF 2.1.0 log, the format code-scanning
//! services (GitHub, GitLab, Azure DevOps) read to show them on the topology's lines.

use serde_json::{json, Value};

use crate::report::{position, rule, Checked, Position, Rule};

/// The schema's own `$id`.
pub const SCHEMA: &str =
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json";

/// A file name as a SARIF `uri`: a relative reference with forward slashes and every byte
/// outside RFC 3986's unreserved characters percent-encoded; absolute paths as `file://` URIs.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(p: &Position, message: Option<&str>) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": uri(&p.file) } });
    if let (Some(line), Some(col)) = (p.line, p.column) {
        let mut region = json!({ "startLine": line, "startColumn": col });
        if let (Some(el), Some(ec)) = (p.end_line, p.end_column) {
            region["endLine"] = el.into();
            region["endColumn"] = ec.into();
        }
        physical["region"] = region;
    }
    let mut loc = json!({ "physicalLocation": physical });
    if let Some(m) = message {
        loc["message"] = json!({ "text": m });
    }
    loc
}

/// The SARIF log of a `check` run: one run of the tool `ctxfw`, one result per finding.
pub fn sarif(checked: &[Checked]) -> String {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "shortDescription": { "text": r.description() },
                "defaultConfiguration": {
                    "level": if *r == Rule::Suspicious { "warning" } else { "error" }
                },
            })
        })
        .collect();
    let mut results = Vec::new();
    for c in checked {
        for d in &c.diagnostics {
            let r = rule(d);
            let mut text = d.message.clone();
            if let Some(h) = &d.hint {
                text.push_str(" (hint: ");
                text.push_str(h);
                text.push(')');
            }
            let mut result = json!({
                "ruleId": r.id(),
                "ruleIndex": Rule::ALL.iter().position(|x| *x == r),
                "level": if d.is_error() { "error" } else { "warning" },
                "message": { "text": text },
                "locations": [location(&position(d, &c.file), None)],
            });
            if !d.labels.is_empty() {
                result["relatedLocations"] = d
                    .labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let mut loc =
                            location(&Position::of(&l.file, Some(&l.span)), Some(&l.message));
                        loc["id"] = i.into();
                        loc
                    })
                    .collect();
            }
            results.push(result);
        }
    }
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "ctxfw",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            // Columns count characters, as ctxfw's messages do.
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut text = serde_json::to_string_pretty(&log).expect("SARIF serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_encoded_references() {
        assert_eq!(uri("topologies/a b.toml"), "topologies/a%20b.toml");
        assert_eq!(uri("/srv/x.toml"), "file:///srv/x.toml");
        assert_eq!(uri("dir\\x#1.toml"), "dir/x%231.toml");
        assert_eq!(uri("zoné.toml"), "zon%C3%A9.toml");
    }
}
