//! `ctxfw verify`: the result files of the probe scripts (`generate --target probes`) against
//! the topology's flows: which required flows did not get through, with their purpose and
//! documented source, and which were not tried.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::flows::Required;
use super::json::{Doc, Path as JPath};
use crate::diag::{read_text, Diagnostic, Invalid, SourceFile};
use crate::flow::Protocol;

const HINT: &str = "pass the JSON files the probe scripts wrote (generate --target probes)";

/// One probe result as a script wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct Tried {
    pub address: String,
    pub port: u16,
    pub result: String,
    pub detail: String,
    /// The result file and host that tried it.
    pub from_host: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowResult {
    pub flow: String,
    pub from: String,
    pub to: String,
    pub protocol: String,
    pub ports: String,
    pub purpose: String,
    pub source: String,
    pub tried: Vec<Tried>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotTried {
    pub flow: String,
    pub from: String,
    pub to: String,
    pub protocol: String,
    pub ports: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub topology: String,
    pub results: Vec<String>,
    /// Flows with a probe that found the path blocked.
    pub blocked: Vec<FlowResult>,
    /// Flows every probe of which got through (open, or refused: open path, nothing listening).
    pub passed: Vec<FlowResult>,
    pub not_tried: Vec<NotTried>,
    /// Probes for flows the topology does not have (results of an older topology).
    pub unknown_flows: Vec<String>,
}

impl Verification {
    pub fn has_findings(&self) -> bool {
        !self.blocked.is_empty()
    }
}

struct FileResults {
    component: String,
    host: String,
    probes: Vec<(String, Tried)>,
}

fn read(path: &Path) -> Result<FileResults, Invalid> {
    let text = read_text(path, "probe results")?;
    let text = text.trim_start_matches('\u{feff}').to_string();
    let file = SourceFile::new(path.display().to_string(), text);
    let one = |d: Box<Diagnostic>| Invalid {
        diagnostics: vec![*d],
    };
    let doc = Doc::parse(&file, "probe results").map_err(one)?;
    let root = JPath::default();
    if doc.root.get("ctxfw_probes").is_none() {
        return Err(one(doc.error(
            &root,
            "not a ctxfw probe result file (no `ctxfw_probes`)",
            HINT,
        )));
    }
    let component = doc.root["component"].as_str().unwrap_or("").to_string();
    let host = doc.root["host"].as_str().unwrap_or("").to_string();
    let mut probes = Vec::new();
    let list = doc.root["probes"]
        .as_array()
        .ok_or_else(|| one(doc.error(&root.key("probes"), "`probes` must be a list", HINT)))?;
    for (i, p) in list.iter().enumerate() {
        let at = root.key("probes").index(i);
        let s = |k: &str| -> Result<String, Invalid> {
            p[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| one(doc.error(&at.key(k), format!("`{k}` must be a string"), HINT)))
        };
        let flow = s("flow")?;
        let result = s("result")?;
        if !matches!(result.as_str(), "open" | "refused" | "blocked" | "error") {
            return Err(one(doc.error(
                &at.key("result"),
                format!("result `{result}` is not open, refused or blocked"),
                HINT,
            )));
        }
        let port = p["port"]
            .as_u64()
            .filter(|&n| n <= 65535)
            .ok_or_else(|| one(doc.error(&at.key("port"), "`port` must be a port number", HINT)))?;
        probes.push((
            flow,
            Tried {
                address: s("address")?,
                port: port as u16,
                result,
                detail: p["detail"].as_str().unwrap_or("").to_string(),
                from_host: format!("{} ({})", host, path.display()),
            },
        ));
    }
    Ok(FileResults {
        component,
        host,
        probes,
    })
}

/// Read result files and compare them with the flows.
pub fn verify(
    loaded: &crate::Loaded,
    results: &[std::path::PathBuf],
) -> Result<Verification, Invalid> {
    let req = Required::new(loaded);
    let mut by_flow: BTreeMap<String, Vec<Tried>> = BTreeMap::new();
    let mut components: BTreeSet<String> = BTreeSet::new();
    for path in results {
        let f = read(path)?;
        let _ = &f.host;
        components.insert(f.component.clone());
        for (flow, t) in f.probes {
            by_flow.entry(flow).or_default().push(t);
        }
    }
    let mut v = Verification {
        topology: req.topology.clone(),
        results: results.iter().map(|p| p.display().to_string()).collect(),
        blocked: Vec::new(),
        passed: Vec::new(),
        not_tried: Vec::new(),
        unknown_flows: Vec::new(),
    };
    let known: BTreeSet<&str> = req.needs.iter().map(|n| n.id.as_str()).collect();
    v.unknown_flows = by_flow
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .cloned()
        .collect();
    for n in &req.needs {
        let mk = |tried: Vec<Tried>| FlowResult {
            flow: n.id.clone(),
            from: n.from.clone(),
            to: n.to.clone(),
            protocol: n.protocol.to_string(),
            ports: n.ports.clone(),
            purpose: n.purpose.clone(),
            source: n.source.clone(),
            tried,
        };
        match by_flow.get(&n.id) {
            Some(tried) => {
                let bad: Vec<Tried> = tried
                    .iter()
                    .filter(|t| t.result == "blocked" || t.result == "error")
                    .cloned()
                    .collect();
                if bad.is_empty() {
                    v.passed.push(mk(tried.clone()));
                } else {
                    v.blocked.push(mk(bad));
                }
            }
            None => {
                let why = if n.protocol != Protocol::Tcp {
                    format!("{}: a connect probe tries TCP only", n.protocol)
                } else if !components.contains(&n.from) {
                    format!("no result file from {} (its probe script, or no script for its platform: see <topology>.probes.txt)", n.from)
                } else {
                    "its destination is a network or an internet service (see <topology>.probes.txt)".to_string()
                };
                v.not_tried.push(NotTried {
                    flow: n.id.clone(),
                    from: n.from.clone(),
                    to: n.to.clone(),
                    protocol: n.protocol.to_string(),
                    ports: n.ports.clone(),
                    why,
                });
            }
        }
    }
    Ok(v)
}

pub fn table(v: &Verification) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "verify of {} result file{} against topology `{}`: {}: {} flows passed, {} blocked, {} not tried",
        v.results.len(),
        if v.results.len() == 1 { "" } else { "s" },
        v.topology,
        if v.has_findings() { "BLOCKED" } else { "OK" },
        v.passed.len(),
        v.blocked.len(),
        v.not_tried.len()
    );
    if !v.blocked.is_empty() {
        let _ = writeln!(s, "\nBLOCKED (required flows that did not get through)");
        for b in &v.blocked {
            let _ = writeln!(
                s,
                "  {}: {} -> {} {} {}",
                b.flow, b.from, b.to, b.protocol, b.ports
            );
            for t in &b.tried {
                let _ = writeln!(
                    s,
                    "      {}:{} {} ({}) from {}",
                    t.address, t.port, t.result, t.detail, t.from_host
                );
            }
            let _ = writeln!(s, "      purpose: {}", b.purpose);
            let _ = writeln!(s, "      source: {}", b.source);
        }
    }
    if !v.not_tried.is_empty() {
        let _ = writeln!(s, "\nNOT TRIED");
        for n in &v.not_tried {
            let _ = writeln!(
                s,
                "  {}: {} -> {} {} {}: {}",
                n.flow, n.from, n.to, n.protocol, n.ports, n.why
            );
        }
    }
    if !v.unknown_flows.is_empty() {
        let _ = writeln!(
            s,
            "\nnote: results for flows the topology does not have (an older topology?): {}",
            v.unknown_flows.join(", ")
        );
    }
    s
}

pub fn json(v: &Verification) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("serialises");
    s.push('\n');
    s
}

pub fn markdown(v: &Verification) -> String {
    use std::fmt::Write;
    let cell = super::report::cell;
    let mut s = String::new();
    let _ = writeln!(s, "# Connectivity verification: {}\n", cell(&v.topology));
    let _ = writeln!(
        s,
        "**{}**: {} flows passed, {} blocked, {} not tried.\n",
        if v.has_findings() { "BLOCKED" } else { "OK" },
        v.passed.len(),
        v.blocked.len(),
        v.not_tried.len()
    );
    if !v.blocked.is_empty() {
        let _ = writeln!(s, "## Blocked\n\n| flow | from | to | blocked at | purpose | source |\n|---|---|---|---|---|---|");
        for b in &v.blocked {
            let at: Vec<String> = b
                .tried
                .iter()
                .map(|t| format!("{}:{} {}", t.address, t.port, t.detail))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&b.flow),
                cell(&b.from),
                cell(&b.to),
                cell(&at.join(", ")),
                cell(&b.purpose),
                cell(&b.source)
            );
        }
        s.push('\n');
    }
    if !v.not_tried.is_empty() {
        let _ = writeln!(
            s,
            "## Not tried\n\n| flow | protocol | ports | why |\n|---|---|---|---|"
        );
        for n in &v.not_tried {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                cell(&n.flow),
                cell(&n.protocol),
                cell(&n.ports),
                cell(&n.why)
            );
        }
        s.push('\n');
    }
    s
}
