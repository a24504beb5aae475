//! `ctxfw diff`: the flow-level meaning of a change. Two topologies (or two `flows.json` files,
//! e.g. a golden file before and after) are compared flow by flow, matched by flow id (stable
//! across runs): flows added, removed, and changed (ports widened or narrowed, addresses or
//! domains moved, purpose reworded).
//!
//! Both inputs go through the flows JSON contract, so the two modes share one code path.

use anyhow::{bail, Context, Result};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{json, Value};

use crate::flow::{ser_ports, PortRange, PortSet};
use crate::{HashMap, HashSet};

pub mod cause;

/// One flow as the contract describes it (the fields a reviewer compares).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: String,
    pub from: String,
    pub from_zone: String,
    pub from_addresses: Vec<String>,
    pub to: String,
    pub to_zone: String,
    pub to_addresses: Vec<String>,
    pub to_fqdns: Vec<String>,
    pub protocol: String,
    #[serde(serialize_with = "ser_ports")]
    pub ports: PortSet,
    pub purpose: String,
}

impl Entry {
    fn endpoints(&self) -> String {
        format!(
            "{} ({}) → {} ({})",
            self.from, self.from_zone, self.to, self.to_zone
        )
    }
    fn proto_ports(&self) -> String {
        if self.ports.is_empty() {
            self.protocol.clone()
        } else {
            format!("{}/{}", self.protocol, self.ports)
        }
    }
}

/// The largest flows JSON file `diff --flows` reads (one of 100,000 flows is about a quarter of
/// that).
pub const MAX_FLOWS_JSON: u64 = 1 << 30;

/// A flows JSON file (`-`: standard input) of at most [`MAX_FLOWS_JSON`] bytes. Anything but a JSON object (a binary,
/// /dev/zero) is refused at its first byte, before the rest is read.
pub fn read_flows_json(path: &std::path::Path) -> Result<Value> {
    use std::io::{BufRead, Read};
    let reading = || format!("reading {}", path.display());
    let not_flows = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "{}: not a flows JSON file ({e}); produce one with `ctxfw flows FILE --format json`",
            path.display()
        )
    };
    let too_large = || {
        anyhow::anyhow!(
            "{}: larger than {} MiB, more than a flows JSON file of ctxfw can be",
            path.display(),
            MAX_FLOWS_JSON >> 20
        )
    };
    // `-` is standard input, as in every Unix tool.
    let source: Box<dyn Read> = if crate::stdio::is_std(path) {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).with_context(reading)?;
        if file.metadata().with_context(reading)?.len() > MAX_FLOWS_JSON {
            return Err(too_large());
        }
        Box::new(file)
    };
    let mut reader = std::io::BufReader::new(source.take(MAX_FLOWS_JSON + 1));
    let first = loop {
        let buf = reader.fill_buf().with_context(reading)?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    if first != Some(b'{') {
        return Err(not_flows(&"it does not start with `{`"));
    }
    // Read whole and parsed from memory: serde_json reads a reader byte by byte, which is far
    // slower on a file of 100,000 flows (BENCHMARKS.md).
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).with_context(reading)?;
    if reader.get_ref().limit() == 0 {
        return Err(too_large());
    }
    serde_json::from_slice(&bytes).map_err(|e| not_flows(&e))
}

/// The flows of a flows JSON document (`ctxfw flows --format json`, `golden/<name>/flows.json`).
pub fn entries(doc: &Value, what: &str) -> Result<Vec<Entry>> {
    let flows = doc
        .get("flows")
        .and_then(Value::as_array)
        .with_context(|| {
            format!("{what}: no `flows` array; expected the output of `ctxfw flows --format json`")
        })?;
    let s = |f: &Value, k: &str| -> Result<String> {
        Ok(f.get(k)
            .and_then(Value::as_str)
            .with_context(|| format!("{what}: a flow has no string `{k}`"))?
            .to_string())
    };
    let list = |f: &Value, k: &str| -> Result<Vec<String>> {
        f.get(k)
            .and_then(Value::as_array)
            .with_context(|| format!("{what}: a flow has no array `{k}`"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .with_context(|| format!("{what}: `{k}` holds a non-string"))
            })
            .collect()
    };
    let mut out: Vec<Entry> = Vec::new();
    let mut ids: HashSet<String> = HashSet::default();
    for f in flows {
        let id = s(f, "id")?;
        let ports = list(f, "ports")?
            .iter()
            .map(|p| PortRange::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("{what}: flow {id}: {e}"))?;
        let iface = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
        let label = |name: String, i: Option<String>| match i {
            Some(i) => format!("{name}.{i}"),
            None => name,
        };
        if !ids.insert(id.clone()) {
            bail!("{what}: flow id {id} appears twice");
        }
        out.push(Entry {
            from: label(s(f, "from")?, iface("from_interface")),
            from_zone: s(f, "from_zone")?,
            from_addresses: list(f, "from_addresses")?,
            to: label(s(f, "to")?, iface("to_interface")),
            to_zone: s(f, "to_zone")?,
            to_addresses: list(f, "to_addresses")?,
            to_fqdns: list(f, "to_fqdns")?,
            protocol: s(f, "protocol")?,
            ports: PortSet::from_ranges(ports),
            purpose: s(f, "purpose")?,
            id,
        });
    }
    Ok(out)
}

/// A flow present on both sides with differences.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub id: String,
    pub old: Entry,
    pub new: Entry,
    /// `widened`, `narrowed`, `ports changed`, or none when only addresses or text moved.
    pub ports: Option<String>,
    #[serde(serialize_with = "ser_ports")]
    pub ports_added: PortSet,
    #[serde(serialize_with = "ser_ports")]
    pub ports_removed: PortSet,
    pub from_addresses_added: Vec<String>,
    pub from_addresses_removed: Vec<String>,
    pub to_addresses_added: Vec<String>,
    pub to_addresses_removed: Vec<String>,
    pub to_fqdns_added: Vec<String>,
    pub to_fqdns_removed: Vec<String>,
    pub zones_changed: bool,
    pub purpose_changed: bool,
}

impl Changed {
    /// One line per difference, for the table and Markdown outputs.
    pub fn details(&self) -> Vec<String> {
        let mut d = Vec::new();
        if let Some(kind) = &self.ports {
            let mut parts = Vec::new();
            if !self.ports_added.is_empty() {
                parts.push(format!("+{}", self.ports_added));
            }
            if !self.ports_removed.is_empty() {
                parts.push(format!("-{}", self.ports_removed));
            }
            d.push(format!(
                "ports {kind}: {} → {} ({})",
                self.old.proto_ports(),
                self.new.proto_ports(),
                parts.join(" ")
            ));
        }
        let moved = |what: &str, add: &[String], rem: &[String], d: &mut Vec<String>| {
            if !add.is_empty() || !rem.is_empty() {
                let mut parts: Vec<String> = add.iter().map(|a| format!("+{a}")).collect();
                parts.extend(rem.iter().map(|a| format!("-{a}")));
                d.push(format!("{what}: {}", parts.join(" ")));
            }
        };
        moved(
            "source addresses",
            &self.from_addresses_added,
            &self.from_addresses_removed,
            &mut d,
        );
        moved(
            "destination addresses",
            &self.to_addresses_added,
            &self.to_addresses_removed,
            &mut d,
        );
        moved(
            "destination domains",
            &self.to_fqdns_added,
            &self.to_fqdns_removed,
            &mut d,
        );
        if self.zones_changed {
            d.push(format!(
                "zones: {} → {}",
                self.old.endpoints(),
                self.new.endpoints()
            ));
        }
        if self.purpose_changed {
            d.push("purpose reworded".into());
        }
        d
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub old: String,
    pub new: String,
    pub added: Vec<Entry>,
    pub removed: Vec<Entry>,
    pub changed: Vec<Changed>,
    /// What changed in the topology, and why each flow changed ([`cause::explain`]).
    pub why: cause::Why,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Networks in `a` not covered by `b`'s networks, and the reverse: compared as address sets,
/// so `10.0.0.0/25 + 10.0.0.128/25` equals `10.0.0.0/24`.
fn nets_moved(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let parse = |v: &[String]| -> Option<Vec<IpNet>> { v.iter().map(|s| s.parse().ok()).collect() };
    match (parse(a), parse(b)) {
        (Some(na), Some(nb)) => {
            // The aggregates are disjoint and sorted: only the last one starting at or before
            // a network can hold it (a search, not a scan: flows can list many addresses).
            let start = |n: &IpNet| (matches!(n, IpNet::V6(_)), n.network());
            let covered = |n: &IpNet, set: &[IpNet]| {
                let i = set.partition_point(|s| start(s) <= start(n));
                i > 0 && set[i - 1].contains(n)
            };
            let agg_a = IpNet::aggregate(&na);
            let agg_b = IpNet::aggregate(&nb);
            let added = b
                .iter()
                .zip(&nb)
                .filter(|(_, n)| !covered(n, &agg_a))
                .map(|(s, _)| s.clone())
                .collect();
            let removed = a
                .iter()
                .zip(&na)
                .filter(|(_, n)| !covered(n, &agg_b))
                .map(|(s, _)| s.clone())
                .collect();
            (added, removed)
        }
        _ => strs_moved(a, b),
    }
}

fn strs_moved(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let (in_a, in_b): (HashSet<&String>, HashSet<&String>) =
        (a.iter().collect(), b.iter().collect());
    (
        b.iter().filter(|x| !in_a.contains(x)).cloned().collect(),
        a.iter().filter(|x| !in_b.contains(x)).cloned().collect(),
    )
}

pub fn diff(old_name: &str, old: &[Entry], new_name: &str, new: &[Entry]) -> Diff {
    let mut d = Diff {
        old: old_name.to_string(),
        new: new_name.to_string(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        why: cause::Why::default(),
    };
    let by_id: HashMap<&str, &Entry> = new.iter().map(|n| (n.id.as_str(), n)).collect();
    for o in old {
        match by_id.get(o.id.as_str()).copied() {
            None => d.removed.push(o.clone()),
            Some(n) => {
                let ports_added = n.ports.minus(&o.ports);
                let ports_removed = o.ports.minus(&n.ports);
                let ports = match (ports_added.is_empty(), ports_removed.is_empty()) {
                    (true, true) => None,
                    (false, true) => Some("widened".to_string()),
                    (true, false) => Some("narrowed".to_string()),
                    (false, false) => Some("changed".to_string()),
                };
                let (from_addresses_added, from_addresses_removed) =
                    nets_moved(&o.from_addresses, &n.from_addresses);
                let (to_addresses_added, to_addresses_removed) =
                    nets_moved(&o.to_addresses, &n.to_addresses);
                let (to_fqdns_added, to_fqdns_removed) = strs_moved(&o.to_fqdns, &n.to_fqdns);
                let c = Changed {
                    id: o.id.clone(),
                    old: o.clone(),
                    new: n.clone(),
                    ports,
                    ports_added,
                    ports_removed,
                    from_addresses_added,
                    from_addresses_removed,
                    to_addresses_added,
                    to_addresses_removed,
                    to_fqdns_added,
                    to_fqdns_removed,
                    zones_changed: o.from_zone != n.from_zone || o.to_zone != n.to_zone,
                    purpose_changed: o.purpose != n.purpose,
                };
                if !c.details().is_empty() {
                    d.changed.push(c);
                }
            }
        }
    }
    let old_ids: HashSet<&str> = old.iter().map(|o| o.id.as_str()).collect();
    d.added = new
        .iter()
        .filter(|n| !old_ids.contains(n.id.as_str()))
        .cloned()
        .collect();
    d
}

pub fn json_text(d: &Diff) -> String {
    let mut s = serde_json::to_string_pretty(&json!({
        "old": d.old,
        "new": d.new,
        "equal": d.is_empty(),
        "changes": d.why.changes,
        "added": d.added,
        "removed": d.removed,
        "changed": d.changed,
        "causes": d.why.causes,
    }))
    .expect("diff serialises");
    s.push('\n');
    s
}

/// Context for `templates/diff.md.j2`.
pub fn context(d: &Diff) -> Value {
    let entry = |e: &Entry| {
        json!({
            "id": e.id,
            "endpoints": e.endpoints(),
            "proto_ports": e.proto_ports(),
            "purpose": e.purpose,
            "why": d.why.causes.get(&e.id).cloned().unwrap_or_default(),
        })
    };
    json!({
        "old": d.old,
        "new": d.new,
        "equal": d.is_empty(),
        "changes": d.why.changes.iter().map(cause::Change::summary).collect::<Vec<_>>(),
        "added": d.added.iter().map(entry).collect::<Vec<_>>(),
        "removed": d.removed.iter().map(entry).collect::<Vec<_>>(),
        "changed": d.changed.iter().map(|c| {
            let mut v = entry(&c.new);
            v["details"] = json!(c.details());
            v
        }).collect::<Vec<_>>(),
    })
}

/// Plain text for the terminal.
pub fn table(d: &Diff) -> String {
    let mut out = format!("{} -> {}\n", d.old, d.new);
    for c in &d.why.changes {
        out.push_str(&format!("* {}\n", c.summary()));
    }
    if d.is_empty() {
        out.push_str("no flow changes\n");
        return out;
    }
    let because = |out: &mut String, id: &str| {
        if let Some(w) = d.why.causes.get(id) {
            out.push_str(&format!("    because: {}\n", w.join("; ")));
        }
    };
    for e in &d.added {
        out.push_str(&format!(
            "+ {}  {}  {}\n    {}\n",
            e.id,
            e.endpoints(),
            e.proto_ports(),
            e.purpose.replace('\n', " ")
        ));
        because(&mut out, &e.id);
    }
    for e in &d.removed {
        out.push_str(&format!(
            "- {}  {}  {}\n    {}\n",
            e.id,
            e.endpoints(),
            e.proto_ports(),
            e.purpose.replace('\n', " ")
        ));
        because(&mut out, &e.id);
    }
    for c in &d.changed {
        out.push_str(&format!(
            "~ {}  {}  {}\n",
            c.id,
            c.new.endpoints(),
            c.new.proto_ports()
        ));
        for line in c.details() {
            out.push_str(&format!("    {line}\n"));
        }
        because(&mut out, &c.id);
    }
    out.push_str(&format!(
        "{} added, {} removed, {} changed\n",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> PortSet {
        PortSet::from_ranges(s.iter().map(|p| PortRange::parse(p).unwrap()))
    }

    #[test]
    fn port_difference() {
        assert_eq!(
            set(&["1-100", "443"])
                .minus(&set(&["10-20", "90-95"]))
                .to_string(),
            "1-9,21-89,96-100,443"
        );
        assert_eq!(set(&["80"]).minus(&set(&["1-65535"])).to_string(), "");
        assert_eq!(set(&["65535"]).minus(&set(&["1"])).to_string(), "65535");
    }

    #[test]
    fn networks_compare_as_sets() {
        let a = vec!["10.0.0.0/24".to_string()];
        let b = vec!["10.0.0.0/25".to_string(), "10.0.0.128/25".to_string()];
        assert_eq!(nets_moved(&a, &b), (vec![], vec![]));
        let c = vec!["10.0.1.0/24".to_string()];
        assert_eq!(nets_moved(&a, &c), (c.clone(), a.clone()));
    }
}
