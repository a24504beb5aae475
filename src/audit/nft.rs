//! nftables rule sets in the JSON that `nft -j list ruleset` prints (libnftables-json(5)):
//! tables, named sets and verdict maps, base chains with hook, priority and policy, and rules
//! as lists of match and verdict statements.
//!
//! Only `filter` chains on the `forward`, `input` and `output` hooks of `ip`, `ip6` and `inet`
//! tables filter what the audit looks at; several such chains on one hook must each accept.

use std::collections::HashMap;

use serde_json::Value;

use super::json::{Doc, Path};
use super::model::{Action, Chain, Model, Point, Rule, Scope, Target};
use super::parse::Context;
use super::space::{self, port_protocols, proto_number, Cube, Fam, Set, ICMP, ICMPV6};
use crate::diag::{Diagnostic, SourceFile};

const HINT: &str = "the file must be `nft -j list ruleset` output (libnftables-json); pass --format to read it as another format";

/// `nft -j list ruleset` output.
pub fn parse_json(file: &SourceFile, ctx: &Context) -> Result<Model, Box<Diagnostic>> {
    let doc = Doc::parse(file, "nftables JSON")?;
    from_doc(&doc, ctx, "nftables JSON (nft -j)", &[])
}

/// A chain as read, before its rules are.
struct ChainDecl {
    family: String,
    table: String,
    name: String,
    hook: Option<String>,
    kind: String,
    prio: i64,
    policy: Option<bool>,
    at: Path,
}

/// The model from an nft JSON document; `lines` gives each rule's line (in order) when the
/// document was made from text.
pub fn from_doc(
    doc: &Doc,
    ctx: &Context,
    format: &str,
    lines: &[usize],
) -> Result<Model, Box<Diagnostic>> {
    let root = Path::default().key("nftables");
    let items = doc.root["nftables"]
        .as_array()
        .ok_or_else(|| doc.error(&root, "`nftables` is not a list", HINT))?;
    let mut sets: HashMap<(String, String, String), Vec<Value>> = HashMap::new();
    let mut chains: Vec<ChainDecl> = Vec::new();
    let mut notes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = root.index(i);
        if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            let key = names(s, doc, &at)?;
            let elems = s["elem"].as_array().cloned().unwrap_or_default();
            sets.insert(key, elems);
        } else if let Some(c) = item.get("chain") {
            let (family, table, name) = names(c, doc, &at)?;
            let prio = match &c["prio"] {
                Value::Number(n) => n.as_i64().unwrap_or(0),
                Value::String(s) => named_priority(s),
                _ => 0,
            };
            let policy = match c["policy"].as_str() {
                Some("accept") => Some(true),
                Some("drop") => Some(false),
                Some(p) => {
                    return Err(doc.error(
                        &at.key("chain").key("policy"),
                        format!("unknown chain policy `{p}`"),
                        "a base chain's policy is accept or drop",
                    ))
                }
                None => None,
            };
            chains.push(ChainDecl {
                family,
                table,
                name,
                hook: c["hook"].as_str().map(str::to_string),
                kind: c["type"].as_str().unwrap_or("").to_string(),
                prio,
                policy,
                at,
            });
        }
    }
    let index: HashMap<(String, String, String), usize> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.family.clone(), c.table.clone(), c.name.clone()), i))
        .collect();
    let mut model = Model {
        format: format.to_string(),
        file: doc.file.name.clone(),
        ..Model::default()
    };
    for c in &chains {
        let families = match c.family.as_str() {
            "ip" => vec![Fam::V4],
            "ip6" => vec![Fam::V6],
            "inet" => vec![Fam::V4, Fam::V6],
            _ => Vec::new(),
        };
        let base = c.hook.is_some();
        let policy = if base {
            Some(c.policy.unwrap_or(true))
        } else {
            None
        };
        model.chains.push(Chain {
            name: format!("{} {} {}", c.family, c.table, c.name),
            rules: Vec::new(),
            policy,
            policy_label: format!(
                "chain {} {{ type {} hook {} priority {}; policy {}; }}",
                c.name,
                c.kind,
                c.hook.as_deref().unwrap_or(""),
                c.prio,
                if policy == Some(false) {
                    "drop"
                } else {
                    "accept"
                }
            ),
            families,
        });
    }
    let mut n_rule = 0usize;
    for (i, item) in items.iter().enumerate() {
        let Some(r) = item.get("rule") else {
            continue;
        };
        let at = root.index(i).key("rule");
        let (family, table, chain) = names(r, doc, &root.index(i))?;
        let key = (family.clone(), table.clone(), chain.clone());
        let Some(&ci) = index.get(&key) else {
            return Err(doc.error(
                &at.key("chain"),
                format!("rule of chain `{chain}`, which the rule set does not declare"),
                HINT,
            ));
        };
        let line = lines.get(n_rule).copied().unwrap_or(0);
        n_rule += 1;
        let exprs = r["expr"]
            .as_array()
            .ok_or_else(|| doc.error(&at, "rule without `expr` list", HINT))?;
        let families = model.chains[ci].families.clone();
        let pos = model.chains[ci].rules.len() + 1;
        let handle = r["handle"]
            .as_u64()
            .map(|h| format!(" (handle {h})"))
            .unwrap_or_default();
        let label = format!("{} #{pos}{handle}", chains[ci].name);
        let text = rule_text(exprs, r["comment"].as_str());
        let reader = RuleReader {
            doc,
            ctx,
            sets: &sets,
            family: &family,
            table: &table,
            chains: &index,
            at: at.key("expr"),
        };
        let rules = reader
            .rules(exprs, &families, label, text)
            .map_err(|mut e| {
                // A document made from text: point at the rule's line, not into the JSON.
                if line > 0 {
                    let at = super::json::offset_of(&doc.file.text, line, 1);
                    let end = doc.file.text[at..]
                        .find('\n')
                        .map_or(doc.file.text.len(), |n| at + n);
                    e.span = Some(at..end.max(at + 1));
                }
                e
            })?;
        for mut rule in rules {
            rule.line = line;
            model.chains[ci].rules.push(rule);
        }
    }
    let mut hooks: Vec<(&str, i64, usize)> = Vec::new();
    for (i, c) in chains.iter().enumerate() {
        let Some(h) = c.hook.as_deref() else {
            continue;
        };
        if model.chains[i].families.is_empty() {
            notes.push(format!(
                "chain {} of the {} table {} is not evaluated: only ip, ip6 and inet tables filter routed and host traffic",
                c.name, c.family, c.table
            ));
            continue;
        }
        if c.kind != "filter" {
            notes.push(format!(
                "chain {} ({} on {}) is not evaluated: only filter chains decide what passes",
                c.name, c.kind, h
            ));
            continue;
        }
        if matches!(h, "forward" | "input" | "output") {
            hooks.push((h, c.prio, i));
        } else {
            notes.push(format!("chain {} on hook {h} is not evaluated", c.name));
        }
        let _ = &c.at;
    }
    hooks.sort_by_key(|&(h, p, i)| (h, p, i));
    for (hook, scope) in [
        ("forward", Scope::Forward),
        ("input", Scope::Inbound(Target::Host)),
        ("output", Scope::Outbound(Target::Host)),
    ] {
        let cs: Vec<usize> = hooks.iter().filter(|h| h.0 == hook).map(|h| h.2).collect();
        if !cs.is_empty() {
            model.points.push(Point {
                scope,
                chains: cs,
                label: format!("{hook} hook"),
            });
        }
    }
    model.families = model
        .chains
        .iter()
        .enumerate()
        .filter(|(i, _)| hooks.iter().any(|h| h.2 == *i))
        .flat_map(|(_, c)| c.families.iter().copied())
        .fold(Vec::new(), |mut v, f| {
            if !v.contains(&f) {
                v.push(f);
            }
            v
        });
    model.families.sort();
    model.notes = notes;
    Ok(model)
}

fn named_priority(s: &str) -> i64 {
    match s {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        other => {
            // `filter + 10`, `filter - 5`
            let (base, rest) = other.split_once(' ').unwrap_or((other, ""));
            let b = named_priority_base(base);
            let rest = rest.replace(' ', "");
            b + rest.parse::<i64>().unwrap_or(0)
        }
    }
}

fn named_priority_base(s: &str) -> i64 {
    match s {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "security" => 50,
        "srcnat" => 100,
        _ => s.parse().unwrap_or(0),
    }
}

fn names(o: &Value, doc: &Doc, at: &Path) -> Result<(String, String, String), Box<Diagnostic>> {
    let get = |k: &str| {
        o[k].as_str()
            .map(str::to_string)
            .ok_or_else(|| doc.error(at, format!("object without `{k}`"), HINT))
    };
    let table = if o.get("table").is_some() {
        get("table")?
    } else {
        String::new()
    };
    let name = if o.get("chain").is_some() && o.get("name").is_none() {
        get("chain")?
    } else {
        get("name")?
    };
    Ok((get("family")?, table, name))
}

/// A statement's text, close to how `nft list` prints it, for reports.
pub fn rule_text(exprs: &[Value], comment: Option<&str>) -> String {
    let mut parts: Vec<String> = exprs.iter().map(stmt_text).collect();
    if let Some(c) = comment {
        parts.push(format!("comment \"{}\"", shorten(c, 60)));
    }
    shorten(&parts.join(" "), 200)
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let cut: String = s.chars().take(n).collect();
        format!("{cut}...")
    }
}

fn stmt_text(v: &Value) -> String {
    let Some((k, x)) = v.as_object().and_then(|o| o.iter().next()) else {
        return v.to_string();
    };
    match k.as_str() {
        "match" => {
            let op = match x["op"].as_str().unwrap_or("==") {
                "==" | "in" => String::new(),
                o => format!("{o} "),
            };
            format!("{} {op}{}", expr_text(&x["left"]), expr_text(&x["right"]))
        }
        "accept" | "drop" | "return" | "continue" | "counter" => k.clone(),
        "reject" => "reject".into(),
        "jump" | "goto" => format!("{k} {}", x["target"].as_str().unwrap_or("?")),
        "vmap" => format!("{} vmap {}", expr_text(&x["key"]), expr_text(&x["data"])),
        "log" => "log".into(),
        "limit" => "limit".into(),
        _ => k.clone(),
    }
}

fn expr_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(expr_text).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            let Some((k, x)) = o.iter().next() else {
                return String::new();
            };
            match k.as_str() {
                "payload" => format!(
                    "{} {}",
                    x["protocol"].as_str().unwrap_or("?"),
                    x["field"].as_str().unwrap_or("?")
                ),
                "meta" | "ct" => {
                    let key = x["key"].as_str().unwrap_or("?");
                    if k == "meta" && matches!(key, "iif" | "oif" | "iifname" | "oifname") {
                        key.to_string()
                    } else {
                        format!("{k} {key}")
                    }
                }
                "prefix" => format!("{}/{}", expr_text(&x["addr"]), expr_text(&x["len"])),
                "range" => format!("{}-{}", expr_text(&x[0]), expr_text(&x[1])),
                "set" => match x {
                    Value::Array(a) => format!(
                        "{{ {} }}",
                        a.iter().map(expr_text).collect::<Vec<_>>().join(", ")
                    ),
                    other => expr_text(other),
                },
                "concat" => x
                    .as_array()
                    .map(|a| a.iter().map(expr_text).collect::<Vec<_>>().join(" . "))
                    .unwrap_or_default(),
                "elem" => expr_text(&x["val"]),
                "accept" | "drop" | "return" => k.clone(),
                "jump" | "goto" => format!("{k} {}", x["target"].as_str().unwrap_or("?")),
                _ => k.clone(),
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
    }
}

/// What a match's left side is, for reading its right side.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Src(Option<Fam>),
    Dst(Option<Fam>),
    /// The IP protocol, optionally of one family only.
    Proto(Option<Fam>),
    /// Destination port of these protocols (`None`: any with ports, `th dport`).
    Port(Option<u8>),
    IcmpType(u8),
    Family,
    Iface {
        input: bool,
    },
    CtState,
}

struct RuleReader<'a> {
    doc: &'a Doc<'a>,
    ctx: &'a Context<'a>,
    sets: &'a HashMap<(String, String, String), Vec<Value>>,
    family: &'a str,
    table: &'a str,
    chains: &'a HashMap<(String, String, String), usize>,
    at: Path,
}

/// A rule's matches applied so far: the space, and what could not be evaluated.
#[derive(Clone)]
struct Acc {
    cubes: Vec<Cube>,
    unknown: Vec<String>,
    /// Never matches a new connection (`ct state established`).
    stateful_only: bool,
}

impl RuleReader<'_> {
    fn rules(
        &self,
        exprs: &[Value],
        families: &[Fam],
        label: String,
        text: String,
    ) -> Result<Vec<Rule>, Box<Diagnostic>> {
        let mut acc = Acc {
            cubes: families.iter().map(|&f| Cube::all(f)).collect(),
            unknown: Vec::new(),
            stateful_only: false,
        };
        let mut action = Action::Continue;
        for (k, e) in exprs.iter().enumerate() {
            let at = self.at.index(k);
            let Some((key, x)) = e.as_object().and_then(|o| o.iter().next()) else {
                return Err(self.doc.error(&at, "a statement must be an object", HINT));
            };
            match key.as_str() {
                "match" => self.apply_match(&mut acc, x, &at)?,
                "accept" => action = Action::Accept,
                "drop" | "reject" => action = Action::Drop,
                "return" => action = Action::Return,
                "continue" => action = Action::Continue,
                "jump" | "goto" => {
                    let target = x["target"].as_str().unwrap_or("");
                    let id = (
                        self.family.to_string(),
                        self.table.to_string(),
                        target.to_string(),
                    );
                    let Some(&t) = self.chains.get(&id) else {
                        return Err(self.doc.error(
                            &at,
                            format!("{key} to chain `{target}`, which the table does not have"),
                            HINT,
                        ));
                    };
                    action = if key == "jump" {
                        Action::Jump(t)
                    } else {
                        Action::Goto(t)
                    };
                }
                "vmap" => return self.vmap(acc, x, &at, label, text),
                "counter" | "log" | "comment" | "mangle" | "notrack" | "meta" | "ct" | "quota" => {}
                "limit" => acc.unknown.push("rate limit (limit)".into()),
                "queue" => action = Action::Unknown("queue to user space".into()),
                other => acc
                    .unknown
                    .push(format!("statement `{other}` is not evaluated")),
            }
        }
        Ok(vec![finish(acc, action, label, text)])
    }

    /// A verdict map: one rule per element (elements do not overlap, so order is moot).
    fn vmap(
        &self,
        acc: Acc,
        x: &Value,
        at: &Path,
        label: String,
        text: String,
    ) -> Result<Vec<Rule>, Box<Diagnostic>> {
        let field = self.field(&x["key"]);
        let elems: Vec<Value> = match &x["data"] {
            Value::String(s) if s.starts_with('@') => self.set_elems(&s[1..], at)?,
            Value::Object(o) if o.contains_key("set") => {
                o["set"].as_array().cloned().unwrap_or_default()
            }
            _ => return Err(self.doc.error(at, "verdict map without elements", HINT)),
        };
        let mut out = Vec::new();
        for (n, el) in elems.iter().enumerate() {
            let (k, v) = match el {
                Value::Array(kv) if kv.len() == 2 => (&kv[0], &kv[1]),
                _ => continue,
            };
            let action = match v
                .as_object()
                .and_then(|o| o.keys().next())
                .map(String::as_str)
            {
                Some("accept") => Action::Accept,
                Some("drop") | Some("reject") => Action::Drop,
                Some("return") => Action::Return,
                Some("continue") => Action::Continue,
                Some(j @ ("jump" | "goto")) => {
                    let target = v[j]["target"].as_str().unwrap_or("");
                    let id = (
                        self.family.to_string(),
                        self.table.to_string(),
                        target.to_string(),
                    );
                    match self.chains.get(&id) {
                        Some(&t) if j == "jump" => Action::Jump(t),
                        Some(&t) => Action::Goto(t),
                        None => Action::Unknown(format!("{j} to unknown chain {target}")),
                    }
                }
                _ => Action::Unknown(format!("verdict {v}")),
            };
            let mut a = acc.clone();
            match field {
                Some(f) => self.restrict(&mut a, f, false, k, at)?,
                None => a.unknown.push(format!("map key {}", expr_text(&x["key"]))),
            }
            out.push(finish(
                a,
                action,
                format!("{label} (map element {})", n + 1),
                text.clone(),
            ));
        }
        Ok(out)
    }

    fn field(&self, left: &Value) -> Option<Field> {
        let o = left.as_object()?;
        if let Some(p) = o.get("payload") {
            let proto = p["protocol"].as_str()?;
            let fieldname = p["field"].as_str()?;
            return Some(match (proto, fieldname) {
                ("ip", "saddr") => Field::Src(Some(Fam::V4)),
                ("ip", "daddr") => Field::Dst(Some(Fam::V4)),
                ("ip6", "saddr") => Field::Src(Some(Fam::V6)),
                ("ip6", "daddr") => Field::Dst(Some(Fam::V6)),
                ("ip", "protocol") => Field::Proto(Some(Fam::V4)),
                ("ip6", "nexthdr") => Field::Proto(Some(Fam::V6)),
                ("th", "dport") => Field::Port(None),
                ("icmp", "type") => Field::IcmpType(ICMP),
                ("icmpv6", "type") => Field::IcmpType(ICMPV6),
                (p, "dport") => Field::Port(Some(proto_number(p)?)),
                _ => return None,
            });
        }
        if let Some(m) = o.get("meta") {
            return Some(match m["key"].as_str()? {
                "l4proto" => Field::Proto(None),
                "nfproto" | "protocol" => Field::Family,
                "iif" | "iifname" => Field::Iface { input: true },
                "oif" | "oifname" => Field::Iface { input: false },
                _ => return None,
            });
        }
        if let Some(c) = o.get("ct") {
            if c["key"].as_str()? == "state" && c.get("dir").is_none() {
                return Some(Field::CtState);
            }
        }
        None
    }

    fn apply_match(&self, acc: &mut Acc, x: &Value, at: &Path) -> Result<(), Box<Diagnostic>> {
        let op = x["op"].as_str().unwrap_or("==");
        let negate = match op {
            "==" | "in" => false,
            "!=" => true,
            _ => {
                acc.unknown.push(format!(
                    "{} {op} {}",
                    expr_text(&x["left"]),
                    expr_text(&x["right"])
                ));
                return Ok(());
            }
        };
        let left = &x["left"];
        if let Some(parts) = left.get("concat").and_then(Value::as_array) {
            let fields: Option<Vec<Field>> = parts.iter().map(|p| self.field(p)).collect();
            let (Some(fields), false) = (fields, negate) else {
                acc.unknown
                    .push(format!("{} {}", expr_text(left), expr_text(&x["right"])));
                return Ok(());
            };
            let elems = self.values(&x["right"], at)?;
            let mut union: Vec<Cube> = Vec::new();
            let mut unknown = Vec::new();
            for el in elems {
                let el = unwrap_elem(&el);
                let Some(vals) = el.get("concat").and_then(Value::as_array) else {
                    continue;
                };
                let mut a = Acc {
                    cubes: acc.cubes.clone(),
                    unknown: Vec::new(),
                    stateful_only: false,
                };
                for (f, v) in fields.iter().zip(vals) {
                    self.restrict(&mut a, *f, false, v, at)?;
                }
                union.extend(a.cubes);
                unknown.extend(a.unknown);
            }
            unknown.sort();
            unknown.dedup();
            acc.cubes = union;
            acc.unknown.extend(unknown);
            return Ok(());
        }
        match self.field(left) {
            Some(f) => self.restrict(acc, f, negate, &x["right"], at),
            None => {
                acc.unknown.push(format!(
                    "{} {}{}",
                    expr_text(left),
                    if negate { "!= " } else { "" },
                    expr_text(&x["right"])
                ));
                Ok(())
            }
        }
    }

    /// The values a right-hand side stands for (a named set's elements, a set, one value).
    fn values(&self, right: &Value, at: &Path) -> Result<Vec<Value>, Box<Diagnostic>> {
        Ok(match right {
            Value::String(s) if s.starts_with('@') => self.set_elems(&s[1..], at)?,
            Value::Object(o) if o.contains_key("set") => match &o["set"] {
                Value::Array(a) => a.clone(),
                v => vec![v.clone()],
            },
            Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        })
    }

    fn set_elems(&self, name: &str, at: &Path) -> Result<Vec<Value>, Box<Diagnostic>> {
        let key = (
            self.family.to_string(),
            self.table.to_string(),
            name.to_string(),
        );
        self.sets.get(&key).cloned().ok_or_else(|| {
            self.doc.error(
                at,
                format!("rule uses set `@{name}`, which the table does not have"),
                HINT,
            )
        })
    }

    /// Narrow the rule's space by one field's values.
    fn restrict(
        &self,
        acc: &mut Acc,
        f: Field,
        negate: bool,
        right: &Value,
        at: &Path,
    ) -> Result<(), Box<Diagnostic>> {
        let vals = self.values(right, at)?;
        let bad = |what: &str, v: &Value| {
            self.doc
                .error(at, format!("`{}` is not {what}", expr_text(v)), HINT)
        };
        match f {
            Field::CtState => {
                let states: Vec<String> = vals
                    .iter()
                    .flat_map(|v| match v {
                        Value::Array(a) => a.clone(),
                        v => vec![v.clone()],
                    })
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let new = states.iter().any(|s| s == "new") != negate;
                if !new {
                    acc.cubes.clear();
                    acc.stateful_only = true;
                }
            }
            Field::Iface { input } => {
                let names: Vec<String> = vals
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| expr_text(v), str::to_string))
                    .collect();
                let mut out = Vec::new();
                for c in std::mem::take(&mut acc.cubes) {
                    let mut set = Set::empty();
                    let mut known = true;
                    for n in &names {
                        match self.ctx.interface(n, c.fam) {
                            Some(s) => set = set.union(&s),
                            None => known = false,
                        }
                    }
                    if !known {
                        out.push(c);
                        continue;
                    }
                    let set = if negate { c.fam.all().minus(&set) } else { set };
                    let mut c = c;
                    if input {
                        c.src = c.src.intersect(&set);
                    } else {
                        c.dst = c.dst.intersect(&set);
                    }
                    if !c.is_empty() {
                        out.push(c);
                    }
                }
                acc.cubes = out;
                if names
                    .iter()
                    .any(|n| self.ctx.interface(n, Fam::V4).is_none())
                {
                    acc.unknown.push(format!(
                        "{} {}{} (which zones it faces is not known: --interface NAME=ZONE)",
                        if input { "iifname" } else { "oifname" },
                        if negate { "!= " } else { "" },
                        names.join(",")
                    ));
                }
            }
            Field::Family => {
                let mut fams = Vec::new();
                for v in &vals {
                    match v.as_str() {
                        Some("ipv4") | Some("ip") => fams.push(Fam::V4),
                        Some("ipv6") | Some("ip6") => fams.push(Fam::V6),
                        _ => return Err(bad("an IP family", v)),
                    }
                }
                acc.cubes.retain(|c| fams.contains(&c.fam) != negate);
            }
            Field::Src(fam) | Field::Dst(fam) => {
                let mut out = Vec::new();
                for c in std::mem::take(&mut acc.cubes) {
                    if fam.is_some_and(|f| f != c.fam) {
                        continue;
                    }
                    let mut set = Set::empty();
                    for v in &vals {
                        set = set.union(
                            &addr_set(unwrap_elem(v), c.fam).ok_or_else(|| bad("an address", v))?,
                        );
                    }
                    let set = if negate { c.fam.all().minus(&set) } else { set };
                    let mut c = c;
                    if matches!(f, Field::Src(_)) {
                        c.src = c.src.intersect(&set);
                    } else {
                        c.dst = c.dst.intersect(&set);
                    }
                    if !c.is_empty() {
                        out.push(c);
                    }
                }
                acc.cubes = out;
            }
            Field::Proto(fam) => {
                let mut set = Set::empty();
                for v in &vals {
                    set = set.union(
                        &num_set(unwrap_elem(v), 255, proto_number)
                            .ok_or_else(|| bad("a protocol", v))?,
                    );
                }
                let set = if negate {
                    Set::range(0, 255).minus(&set)
                } else {
                    set
                };
                for c in &mut acc.cubes {
                    if fam.is_none_or(|f| f == c.fam) {
                        c.proto = c.proto.intersect(&set);
                    }
                }
                acc.cubes
                    .retain(|c| fam.is_none_or(|f| f == c.fam) && !c.is_empty());
            }
            Field::Port(proto) => {
                let mut set = Set::empty();
                for v in &vals {
                    set = set.union(
                        &num_set(unwrap_elem(v), 65535, |_| None)
                            .ok_or_else(|| bad("a port", v))?,
                    );
                }
                let set = if negate {
                    Set::range(0, 65535).minus(&set)
                } else {
                    set
                };
                let protos = match proto {
                    Some(p) => Set::point(p as u128),
                    None => port_protocols(),
                };
                for c in &mut acc.cubes {
                    c.proto = c.proto.intersect(&protos);
                    c.sel = c.sel.intersect(&set);
                }
                acc.cubes.retain(|c| !c.is_empty());
            }
            Field::IcmpType(p) => {
                let fam = if p == ICMP { Fam::V4 } else { Fam::V6 };
                let mut set = Set::empty();
                for v in &vals {
                    set = set.union(
                        &num_set(unwrap_elem(v), 255, |s| icmp_type(p, s))
                            .ok_or_else(|| bad("an ICMP type", v))?,
                    );
                }
                let set = if negate {
                    Set::range(0, 255).minus(&set)
                } else {
                    set
                };
                for c in &mut acc.cubes {
                    c.proto = c.proto.intersect(&Set::point(p as u128));
                    c.sel = c.sel.intersect(&set);
                }
                acc.cubes.retain(|c| c.fam == fam && !c.is_empty());
            }
        }
        Ok(())
    }
}

fn finish(acc: Acc, action: Action, label: String, text: String) -> Rule {
    let mut unknown = acc.unknown;
    unknown.sort();
    unknown.dedup();
    Rule {
        line: 0,
        label,
        text,
        space: acc.cubes,
        unknown,
        action,
        stateful_only: acc.stateful_only,
        implicit: false,
    }
}

fn unwrap_elem(v: &Value) -> &Value {
    match v.get("elem") {
        Some(e) => e.get("val").unwrap_or(e),
        None => v,
    }
}

/// An address, prefix or range of one family as a set (`None`: not an address; an address of
/// the other family is the empty set).
pub fn addr_set(v: &Value, fam: Fam) -> Option<Set> {
    let one = |s: &str| -> Option<Option<u128>> {
        let a: std::net::IpAddr = s.parse().ok()?;
        Some(match (a, fam) {
            (std::net::IpAddr::V4(a), Fam::V4) => Some(u32::from(a) as u128),
            (std::net::IpAddr::V6(a), Fam::V6) => Some(u128::from(a)),
            _ => None,
        })
    };
    match v {
        Value::String(s) => Some(match one(s)? {
            Some(a) => Set::point(a),
            None => Set::empty(),
        }),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                let net: ipnet::IpNet = format!("{}/{}", p["addr"].as_str()?, p["len"].as_u64()?)
                    .parse()
                    .ok()?;
                if Fam::of(&net) != fam {
                    return Some(Set::empty());
                }
                let (lo, hi) = space::net_iv(&net.trunc());
                Some(Set::range(lo, hi))
            } else if let Some(r) = o.get("range") {
                let (a, b) = (one(r[0].as_str()?)?, one(r[1].as_str()?)?);
                Some(match (a, b) {
                    (Some(a), Some(b)) => Set::range(a, b),
                    _ => Set::empty(),
                })
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A number, name, or range of them as a set.
fn num_set(v: &Value, max: u128, name: impl Fn(&str) -> Option<u8>) -> Option<Set> {
    let one = |v: &Value| -> Option<u128> {
        match v {
            Value::Number(n) => n.as_u64().map(u128::from).filter(|&n| n <= max),
            Value::String(s) => s
                .parse::<u128>()
                .ok()
                .filter(|&n| n <= max)
                .or_else(|| name(s).map(u128::from)),
            _ => None,
        }
    };
    match v {
        Value::Object(o) if o.contains_key("range") => {
            let r = &o["range"];
            Some(Set::range(one(&r[0])?, one(&r[1])?))
        }
        v => Some(Set::point(one(v)?)),
    }
}

/// ICMP and ICMPv6 type names as nftables prints them.
pub fn icmp_type(proto: u8, s: &str) -> Option<u8> {
    let v4 = [
        ("echo-reply", 0),
        ("destination-unreachable", 3),
        ("source-quench", 4),
        ("redirect", 5),
        ("echo-request", 8),
        ("router-advertisement", 9),
        ("router-solicitation", 10),
        ("time-exceeded", 11),
        ("parameter-problem", 12),
        ("timestamp-request", 13),
        ("timestamp-reply", 14),
        ("info-request", 15),
        ("info-reply", 16),
        ("address-mask-request", 17),
        ("address-mask-reply", 18),
    ];
    let v6 = [
        ("destination-unreachable", 1),
        ("packet-too-big", 2),
        ("time-exceeded", 3),
        ("parameter-problem", 4),
        ("echo-request", 128),
        ("echo-reply", 129),
        ("mld-listener-query", 130),
        ("mld-listener-report", 131),
        ("mld-listener-done", 132),
        ("mld-listener-reduction", 132),
        ("nd-router-solicit", 133),
        ("nd-router-advert", 134),
        ("nd-neighbor-solicit", 135),
        ("nd-neighbor-advert", 136),
        ("nd-redirect", 137),
        ("router-renumbering", 138),
        ("ind-neighbor-solicit", 141),
        ("ind-neighbor-advert", 142),
        ("mld2-listener-report", 143),
    ];
    let table: &[(&str, u8)] = if proto == ICMP { &v4 } else { &v6 };
    table.iter().find(|(n, _)| *n == s).map(|(_, t)| *t)
}
