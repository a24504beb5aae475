//! nftables rule sets in the JSON that `nft -j list ruleset` prints (libnftables-json(5)):
//! tables, named sets and verdict maps, base chains with hook, priority and policy, and rules
//! as lists of match and verdict statements.
//!
//! Only `filter` chains on the `forward`, `input` and `output` hooks of `ip`, `ip6` and `inet`
//! tables filter what the audit looks at; several such chains on one hook must each accept.

use std::collections::HashMap;

use serde_json::Value;

use super::json::{Doc, Path};
use super::model::{Chain, Model, Point, Scope, Target};
use super::nft_expr::rule_text;
use super::nft_rule::RuleReader;
use super::parse::Context;
use super::space::Fam;
use crate::diag::{Diagnostic, SourceFile};

pub(super) const HINT: &str = "the file must be `nft -j list ruleset` or `nft list ruleset` output; pass --ruleset-format to read it as another format";

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
}

/// A set, map or chain by family, table and name.
type Names = (String, String, String);

/// The named sets and maps (their elements) and the chains a document declares.
struct Declared {
    sets: HashMap<Names, Vec<Value>>,
    chains: Vec<ChainDecl>,
    /// Chains by their names, as positions in `chains`.
    index: HashMap<Names, usize>,
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
    let declared = declarations(doc, items, &root)?;
    let mut model = Model {
        format: format.to_string(),
        file: doc.file.name.clone(),
        ..Model::default()
    };
    model.chains = declared.chains.iter().map(chain).collect();
    let mut n_rule = 0usize;
    for (i, item) in items.iter().enumerate() {
        let Some(r) = item.get("rule") else {
            continue;
        };
        let line = lines.get(n_rule).copied().unwrap_or(0);
        n_rule += 1;
        add_rule(&mut model, doc, ctx, &declared, r, &root.index(i), line)?;
    }
    add_points(&mut model, &declared.chains);
    Ok(model)
}

/// The sets, maps and chains among the document's `items` (at `root`).
fn declarations(doc: &Doc, items: &[Value], root: &Path) -> Result<Declared, Box<Diagnostic>> {
    let mut sets: HashMap<Names, Vec<Value>> = HashMap::new();
    let mut chains: Vec<ChainDecl> = Vec::new();
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
            });
        }
    }
    let index = chains
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.family.clone(), c.table.clone(), c.name.clone()), i))
        .collect();
    Ok(Declared {
        sets,
        chains,
        index,
    })
}

/// The model's chain for a declared one, without its rules.
fn chain(c: &ChainDecl) -> Chain {
    let families = match c.family.as_str() {
        "ip" => vec![Fam::V4],
        "ip6" => vec![Fam::V6],
        "inet" => vec![Fam::V4, Fam::V6],
        _ => Vec::new(),
    };
    let policy = if c.hook.is_some() {
        Some(c.policy.unwrap_or(true))
    } else {
        None
    };
    Chain {
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
    }
}

/// Rule `r` (the item at `item`) read into its chain; `line` is its line when the document was
/// made from text (else 0).
fn add_rule(
    model: &mut Model,
    doc: &Doc,
    ctx: &Context,
    declared: &Declared,
    r: &Value,
    item: &Path,
    line: usize,
) -> Result<(), Box<Diagnostic>> {
    let at = item.key("rule");
    let (family, table, chain) = names(r, doc, item)?;
    let key = (family.clone(), table.clone(), chain.clone());
    let Some(&ci) = declared.index.get(&key) else {
        return Err(doc.error(
            &at.key("chain"),
            format!("rule of chain `{chain}`, which the rule set does not declare"),
            HINT,
        ));
    };
    let exprs = r["expr"]
        .as_array()
        .ok_or_else(|| doc.error(&at, "rule without `expr` list", HINT))?;
    let families = model.chains[ci].families.clone();
    let pos = model.chains[ci].rules.len() + 1;
    let handle = r["handle"]
        .as_u64()
        .map(|h| format!(" (handle {h})"))
        .unwrap_or_default();
    let label = format!("{} #{pos}{handle}", declared.chains[ci].name);
    let text = rule_text(exprs, r["comment"].as_str());
    let reader = RuleReader {
        doc,
        ctx,
        sets: &declared.sets,
        family: &family,
        table: &table,
        chains: &declared.index,
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
    Ok(())
}

/// The points: each hook the audit evaluates with its filter chains in priority order; the
/// families those chains filter; a note for every base chain that is not evaluated.
fn add_points(model: &mut Model, chains: &[ChainDecl]) {
    let mut hooks: Vec<(&str, i64, usize)> = Vec::new();
    for (i, c) in chains.iter().enumerate() {
        let Some(h) = c.hook.as_deref() else {
            continue;
        };
        if model.chains[i].families.is_empty() {
            model.notes.push(format!(
                "chain {} of the {} table {} is not evaluated: only ip, ip6 and inet tables filter routed and host traffic",
                c.name, c.family, c.table
            ));
            continue;
        }
        if c.kind != "filter" {
            model.notes.push(format!(
                "chain {} ({} on {}) is not evaluated: only filter chains decide what passes",
                c.name, c.kind, h
            ));
            continue;
        }
        if matches!(h, "forward" | "input" | "output") {
            hooks.push((h, c.prio, i));
        } else {
            model
                .notes
                .push(format!("chain {} on hook {h} is not evaluated", c.name));
        }
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
    let mut families: Vec<Fam> = Vec::new();
    for f in model
        .chains
        .iter()
        .enumerate()
        .filter(|(i, _)| hooks.iter().any(|h| h.2 == *i))
        .flat_map(|(_, c)| c.families.iter().copied())
    {
        if !families.contains(&f) {
            families.push(f);
        }
    }
    families.sort();
    model.families = families;
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
