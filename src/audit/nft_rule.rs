//! One nftables rule read from its JSON expressions: the packets its matches select (a union
//! of cubes of the packet space), what could not be evaluated, and its verdict.

use std::collections::HashMap;

use serde_json::Value;

use super::json::{Doc, Path};
use super::model::{Action, Rule};
use super::nft::HINT;
use super::nft_expr::{addr_set, expr_text, icmp_type, match_text, num_set, unwrap_elem};
use super::parse::Context;
use super::space::{port_protocols, proto_number, Cube, Fam, Set, ICMP, ICMPV6};
use crate::diag::Diagnostic;

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

pub(super) struct RuleReader<'a> {
    pub(super) doc: &'a Doc<'a>,
    pub(super) ctx: &'a Context<'a>,
    pub(super) sets: &'a HashMap<(String, String, String), Vec<Value>>,
    pub(super) family: &'a str,
    pub(super) table: &'a str,
    pub(super) chains: &'a HashMap<(String, String, String), usize>,
    pub(super) at: Path,
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
    pub(super) fn rules(
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
                acc.unknown.push(match_text(x));
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
        // The numbers up to `max` the values name (protocols, ports, ICMP types), or all the
        // others when the match is negated.
        let numbers = |max: u128, name: &dyn Fn(&str) -> Option<u8>, what: &str| {
            let mut set = Set::empty();
            for v in &vals {
                set = set.union(&num_set(unwrap_elem(v), max, name).ok_or_else(|| bad(what, v))?);
            }
            Ok::<_, Box<Diagnostic>>(if negate {
                Set::range(0, max).minus(&set)
            } else {
                set
            })
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
                    out.extend(narrow_addresses(c, set, negate, input));
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
                    out.extend(narrow_addresses(c, set, negate, matches!(f, Field::Src(_))));
                }
                acc.cubes = out;
            }
            Field::Proto(fam) => {
                let set = numbers(255, &proto_number, "a protocol")?;
                for c in &mut acc.cubes {
                    if fam.is_none_or(|f| f == c.fam) {
                        c.proto = c.proto.intersect(&set);
                    }
                }
                acc.cubes
                    .retain(|c| fam.is_none_or(|f| f == c.fam) && !c.is_empty());
            }
            Field::Port(proto) => {
                let set = numbers(65535, &|_| None, "a port")?;
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
                let set = numbers(255, &|s| icmp_type(p, s), "an ICMP type")?;
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

/// `c` with its source (`src`) or destination addresses narrowed to `set`, or to every other
/// address when `negate`; `None` when no packet is left.
fn narrow_addresses(mut c: Cube, set: Set, negate: bool, src: bool) -> Option<Cube> {
    let set = if negate { c.fam.all().minus(&set) } else { set };
    let side = if src { &mut c.src } else { &mut c.dst };
    *side = side.intersect(&set);
    (!c.is_empty()).then_some(c)
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
