//! nftables rule-set text: ctxfw's `.nft` files and `nft list ruleset` listings. Tables, named
//! interval sets (concatenated ones included) with their elements, base chains, and rules made
//! of payload, meta, ct and fib matches (flag lists, masks, comparisons), verdict maps,
//! counters, logs, statements that set values or translate addresses, and verdicts.
//!
//! The text is turned into the JSON `nft -j` would print for it, and read by the same code as
//! that JSON: one set of nftables semantics, two ways in.

use serde_json::{json, Map, Value};

use super::json::Doc;
use super::model::Model;
use super::nft_expr::{expr_text, BINOPS};
use super::parse::Context;
use crate::diag::{Diagnostic, SourceFile};

const HINT: &str = "ctxfw reads the nftables text it writes and the common forms of `nft list ruleset`; for this rule set pass `nft -j list ruleset` output instead, which names every expression";

/// The words that end a rule's matches with a verdict.
const VERDICTS: [&str; 8] = [
    "accept", "drop", "reject", "return", "continue", "jump", "goto", "queue",
];

#[derive(Debug, Clone, PartialEq)]
enum T {
    Word(String),
    Str(String),
    Punct(char),
    Newline,
}

#[derive(Debug, Clone)]
struct Tok {
    t: T,
    at: usize,
    line: usize,
}

fn lex(file: &SourceFile) -> Result<Vec<Tok>, Box<Diagnostic>> {
    let s = &*file.text;
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' | b';' => {
                out.push(Tok {
                    t: T::Newline,
                    at: i,
                    line,
                });
                line += usize::from(c == b'\n');
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                let mut text = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = s[i..].chars().next().expect("char");
                    text.push(ch);
                    i += ch.len_utf8();
                }
                if i >= b.len() {
                    return Err(Box::new(
                        Diagnostic::error("unterminated string")
                            .at(file, start..start + 1)
                            .hint("close the quote"),
                    ));
                }
                i += 1;
                out.push(Tok {
                    t: T::Str(text),
                    at: start,
                    line,
                });
            }
            b'{' | b'}' | b',' | b'@' => {
                out.push(Tok {
                    t: T::Punct(c as char),
                    at: i,
                    line,
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b'}' | b',' | b'"' | b'#'
                    )
                {
                    i += 1;
                }
                if start == i {
                    let ch = s[i..].chars().next().expect("char");
                    return Err(Box::new(
                        Diagnostic::error(format!("unexpected character `{ch}`"))
                            .at(file, i..i + ch.len_utf8())
                            .hint(HINT),
                    ));
                }
                out.push(Tok {
                    t: T::Word(s[start..i].to_string()),
                    at: start,
                    line,
                });
            }
        }
    }
    Ok(out)
}

struct P<'a> {
    toks: Vec<Tok>,
    i: usize,
    file: &'a SourceFile,
}

impl P<'_> {
    fn peek(&self) -> Option<&T> {
        self.toks.get(self.i).map(|t| &t.t)
    }

    fn at(&self) -> usize {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map_or(0, |t| t.at)
    }

    fn err(&self, msg: impl Into<String>) -> Box<Diagnostic> {
        let at = self.at();
        Box::new(Diagnostic::error(msg).at(self.file, at..at + 1).hint(HINT))
    }

    fn next(&mut self) -> Option<T> {
        let t = self.toks.get(self.i).map(|t| t.t.clone());
        self.i += 1;
        t
    }

    fn skip_nl(&mut self) {
        while self.peek() == Some(&T::Newline) {
            self.i += 1;
        }
    }

    fn word(&mut self) -> Result<String, Box<Diagnostic>> {
        match self.next() {
            Some(T::Word(w)) | Some(T::Str(w)) => Ok(w),
            _ => {
                self.i -= 1;
                Err(self.err("expected a name"))
            }
        }
    }

    fn expect(&mut self, c: char) -> Result<(), Box<Diagnostic>> {
        self.skip_nl();
        match self.next() {
            Some(T::Punct(p)) if p == c => Ok(()),
            _ => {
                self.i -= 1;
                Err(self.err(format!("expected `{c}`")))
            }
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(T::Word(x)) if x == w)
    }

    /// Skips a statement's arguments: up to the rule's next verdict, counter, log, comment or end.
    fn skip_arguments(&mut self) {
        loop {
            match self.peek() {
                None | Some(T::Newline) | Some(T::Punct('}')) => break,
                Some(T::Word(w))
                    if VERDICTS.contains(&w.as_str())
                        || matches!(w.as_str(), "counter" | "log" | "comment") =>
                {
                    break
                }
                // A set's braces: `snat to ip saddr map { ... }`.
                Some(T::Punct('{')) => self.skip_block(),
                _ => self.i += 1,
            }
        }
    }

    /// Skips up to the next `{` and through its block, nested blocks with it.
    fn skip_block(&mut self) {
        while !matches!(self.peek(), None | Some(T::Punct('{' | '}'))) {
            self.i += 1;
        }
        if self.peek() != Some(&T::Punct('{')) {
            return;
        }
        let mut depth = 0;
        while let Some(t) = self.next() {
            match t {
                T::Punct('{') => depth += 1,
                T::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
    }

    /// The line the next token is on.
    fn line(&self) -> usize {
        self.toks.get(self.i).map_or(0, |t| t.line)
    }
}

/// One value as nft -j writes it: an address, prefix, range, number or name.
fn value(w: &str) -> Value {
    if let Some((a, l)) = w.split_once('/') {
        if let Ok(len) = l.parse::<u64>() {
            return json!({"prefix": {"addr": a, "len": len}});
        }
    }
    if let Ok(n) = w.parse::<u64>() {
        return json!(n);
    }
    // Marks and masks: `nft list` prints them in hex, `nft -j` as numbers.
    if let Some(n) = w
        .strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
    {
        return json!(n);
    }
    if let Some((a, b)) = w.split_once('-') {
        let bound = |x: &str| -> Option<Value> {
            if let Ok(n) = x.parse::<u64>() {
                return Some(json!(n));
            }
            x.parse::<std::net::IpAddr>().ok().map(|_| json!(x))
        };
        if let (Some(a), Some(b)) = (bound(a), bound(b)) {
            return json!({"range": [a, b]});
        }
    }
    json!(w)
}

impl P<'_> {
    /// A value, `{ v, v }`, `@set` or `a . b . c`.
    fn rhs(&mut self) -> Result<Value, Box<Diagnostic>> {
        match self.peek() {
            Some(T::Punct('@')) => {
                self.i += 1;
                Ok(json!(format!("@{}", self.word()?)))
            }
            Some(T::Punct('{')) => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_nl();
                    match self.peek() {
                        Some(T::Punct('}')) => {
                            self.i += 1;
                            break;
                        }
                        Some(T::Punct(',')) => self.i += 1,
                        None => return Err(self.err("unclosed `{`")),
                        _ => items.push(self.element(true)?),
                    }
                }
                Ok(json!({"set": items}))
            }
            _ => {
                // `ct state established,related`: a list of flags, which `nft -j` prints as an
                // array.
                let first = self.element(false)?;
                if self.peek() != Some(&T::Punct(',')) {
                    return Ok(first);
                }
                let mut items = vec![first];
                while self.peek() == Some(&T::Punct(',')) {
                    self.i += 1;
                    items.push(self.element(false)?);
                }
                Ok(Value::Array(items))
            }
        }
    }

    /// One element: a value or a concatenation; in a set's braces, with its options and an
    /// optional `: verdict`.
    fn element(&mut self, in_set: bool) -> Result<Value, Box<Diagnostic>> {
        let mut parts = vec![value(&self.word()?)];
        while self.is_word(".") {
            self.i += 1;
            parts.push(value(&self.word()?));
        }
        let val = if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            json!({"concat": parts})
        };
        // Outside a set's braces, `counter` or `comment` after a value belong to the rule.
        let mut opts = if in_set {
            self.element_options()?
        } else {
            Map::new()
        };
        let val = if opts.is_empty() {
            val
        } else {
            opts.insert("val".into(), val);
            json!({"elem": opts})
        };
        if self.is_word(":") {
            self.i += 1;
            let v = self.word()?;
            let verdict = match v.as_str() {
                "jump" | "goto" => json!({v.clone(): {"target": self.word()?}}),
                other => json!({other: null}),
            };
            return Ok(json!([val, verdict]));
        }
        Ok(val)
    }

    /// An element's own options (`timeout 4h expires 3h59m`, as blocklist sets of fail2ban or
    /// CrowdSec hold, `counter packets 0 bytes 0`, `comment "..."`): kept beside its value, as
    /// `nft -j` keeps them.
    fn element_options(&mut self) -> Result<Map<String, Value>, Box<Diagnostic>> {
        let mut opts = Map::new();
        loop {
            match self.peek() {
                Some(T::Word(k)) if matches!(k.as_str(), "timeout" | "expires" | "comment") => {
                    let k = self.word()?;
                    opts.insert(k, json!(self.word()?));
                }
                Some(T::Word(k)) if k == "counter" => {
                    self.i += 1;
                    if self.is_word("packets") {
                        self.i += 4;
                    }
                    opts.insert("counter".into(), Value::Null);
                }
                _ => return Ok(opts),
            }
        }
    }

    /// A match's left side: `ip saddr`, `tcp dport`, `meta l4proto`, `iif`, `ct state`...
    fn lhs_one(&mut self) -> Result<Value, Box<Diagnostic>> {
        let w = self.word()?;
        Ok(match w.as_str() {
            "meta" | "ct" => {
                let key = self.word()?;
                json!({w: {"key": key}})
            }
            "iif" | "oif" | "iifname" | "oifname" | "mark" | "l4proto" | "nfproto" => {
                json!({"meta": {"key": w}})
            }
            // `fib saddr . iif oif`: flags joined by dots, then what is looked up.
            "fib" => {
                let mut flags = vec![self.word()?];
                while self.is_word(".") {
                    self.i += 1;
                    flags.push(self.word()?);
                }
                json!({"fib": {"result": self.word()?, "flags": flags}})
            }
            // `tcp option maxseg size`: an option's field, when one is named.
            "tcp" if self.is_word("option") => {
                self.i += 1;
                let name = self.word()?;
                let mut opt = json!({"name": name});
                if matches!(self.peek(), Some(T::Word(f)) if f.chars().all(|c| c.is_ascii_lowercase()) && !matches!(f.as_str(), "set" | "exists" | "missing"))
                {
                    opt["field"] = json!(self.word()?);
                }
                json!({"tcp option": opt})
            }
            _ => {
                let field = self.word()?;
                json!({"payload": {"protocol": w, "field": field}})
            }
        })
    }

    fn rule(&mut self) -> Result<(Vec<Value>, Option<String>), Box<Diagnostic>> {
        let mut exprs = Vec::new();
        let mut comment = None;
        while let Some(t) = self.peek().cloned() {
            let w = match t {
                T::Newline => break,
                T::Punct('}') => break,
                T::Word(w) => w,
                _ => return Err(self.err("unexpected token in a rule")),
            };
            match w.as_str() {
                "accept" | "drop" | "return" | "continue" => {
                    self.i += 1;
                    exprs.push(json!({w: null}));
                }
                "reject" => {
                    self.i += 1;
                    exprs.push(json!({"reject": null}));
                    // `reject with icmp type ...` options.
                    self.skip_arguments();
                }
                "jump" | "goto" => {
                    self.i += 1;
                    let target = self.word()?;
                    exprs.push(json!({w: {"target": target}}));
                }
                "counter" => {
                    self.i += 1;
                    if self.is_word("packets") {
                        self.i += 4;
                    } else if self.is_word("name") {
                        // A named counter object: `counter name "cnt_ssh"`.
                        self.i += 2;
                    }
                    exprs.push(json!({"counter": null}));
                }
                "comment" => {
                    self.i += 1;
                    comment = Some(self.word()?);
                }
                "log" => {
                    self.i += 1;
                    while matches!(self.peek(), Some(T::Word(x)) if matches!(x.as_str(), "prefix" | "level" | "group" | "flags"))
                    {
                        self.i += 2;
                    }
                    exprs.push(json!({"log": null}));
                }
                // Statements whose arguments are not evaluated: read up to the next verdict.
                "masquerade" | "snat" | "dnat" | "redirect" | "notrack" | "dup" | "fwd"
                | "synproxy" | "tproxy" | "queue" | "quota" | "flow" => {
                    self.i += 1;
                    self.skip_arguments();
                    exprs.push(json!({w: null}));
                }
                "limit" => {
                    self.i += 1;
                    // rate [over] N/unit [burst N packets|bytes]
                    self.skip_arguments();
                    exprs.push(json!({"limit": null}));
                }
                _ => {
                    let mut left = vec![self.lhs_one()?];
                    while self.is_word(".") {
                        self.i += 1;
                        left.push(self.lhs_one()?);
                    }
                    let mut left = if left.len() == 1 {
                        left.pop().expect("one")
                    } else {
                        json!({"concat": left})
                    };
                    // `meta mark & 0xff == 0x1`: a bitwise or shift operation on the field.
                    while let Some(T::Word(op)) = self.peek().cloned() {
                        if !BINOPS.contains(&op.as_str()) {
                            break;
                        }
                        self.i += 1;
                        let operand = self.rhs()?;
                        left = json!({op: [left, operand]});
                    }
                    if self.is_word("vmap") {
                        self.i += 1;
                        let data = self.rhs()?;
                        exprs.push(json!({"vmap": {"key": left, "data": data}}));
                        continue;
                    }
                    // `meta mark set 0x1`: a statement that changes the packet, not a match.
                    if self.is_word("set") {
                        self.i += 1;
                        self.skip_arguments();
                        exprs.push(json!({"mangle": {"key": left}}));
                        continue;
                    }
                    let mut op = "==".to_string();
                    if let Some(T::Word(o)) = self.peek() {
                        if matches!(o.as_str(), "==" | "!=" | "<" | ">" | "<=" | ">=") {
                            op = o.clone();
                            self.i += 1;
                        }
                    }
                    // A verdict where a value belongs means a form this reader does not know
                    // (it would take the verdict for the value): stop rather than misread it.
                    if let Some(T::Word(v)) = self.peek() {
                        if VERDICTS.contains(&v.as_str()) {
                            return Err(self.err(format!(
                                "`{}` is not followed by a value this reader knows",
                                expr_text(&left)
                            )));
                        }
                    }
                    let right = self.rhs()?;
                    // `tcp flags syn / fin,syn,rst,ack`: the field under a mask.
                    if self.is_word("/") {
                        self.i += 1;
                        left = json!({"&": [left, self.rhs()?]});
                    }
                    if right.is_array() && op == "==" {
                        op = "in".into();
                    }
                    exprs.push(json!({"match": {"op": op, "left": left, "right": right}}));
                }
            }
        }
        Ok((exprs, comment))
    }
}

/// What the file has read so far: tables, sets, chains and rules as `nft -j` lists them, and
/// each rule's line.
#[derive(Default)]
struct Listing {
    items: Vec<Value>,
    lines: Vec<usize>,
}

impl P<'_> {
    /// A `table FAMILY NAME { ... }` block (after `table`); it replaces a table of that name
    /// read before.
    fn table(&mut self, out: &mut Listing) -> Result<(), Box<Diagnostic>> {
        let family = self.word()?;
        let table = self.word()?;
        out.items
            .retain(|v| v.get("table").is_none_or(|t| t["name"] != json!(table)));
        out.items
            .push(json!({"table": {"family": family, "name": table}}));
        self.expect('{')?;
        loop {
            self.skip_nl();
            match self.peek().cloned() {
                Some(T::Punct('}')) => {
                    self.i += 1;
                    return Ok(());
                }
                Some(T::Word(k)) if k == "set" || k == "map" => {
                    self.i += 1;
                    let set = self.set(&family, &table)?;
                    out.items.push(json!({k: set}));
                }
                Some(T::Word(k)) if k == "chain" => {
                    self.i += 1;
                    self.chain(&family, &table, out)?;
                }
                // Stateful objects and flowtables (`counter cnt { ... }`, `quota`,
                // `ct helper`, `flowtable ft { ... }`): no rules, nothing to evaluate.
                Some(T::Word(k))
                    if matches!(
                        k.as_str(),
                        "flowtable"
                            | "counter"
                            | "quota"
                            | "limit"
                            | "ct"
                            | "secmark"
                            | "synproxy"
                            | "tunnel"
                    ) =>
                {
                    self.skip_block();
                }
                Some(_) => {
                    return Err(self.err("expected `set`, `map`, `chain` or an object in a table"))
                }
                None => return Err(self.err("unclosed table")),
            }
        }
    }

    /// A set's or chain's `NAME {`: its family, table and name as `nft -j` lists them.
    fn block_head(
        &mut self,
        family: &str,
        table: &str,
    ) -> Result<Map<String, Value>, Box<Diagnostic>> {
        let name = self.word()?;
        self.expect('{')?;
        let mut head = Map::new();
        head.insert("family".into(), json!(family));
        head.insert("table".into(), json!(table));
        head.insert("name".into(), json!(name));
        Ok(head)
    }

    /// A `set NAME { ... }` or `map` block (after its keyword): its name and elements.
    fn set(&mut self, family: &str, table: &str) -> Result<Map<String, Value>, Box<Diagnostic>> {
        let mut set = self.block_head(family, table)?;
        loop {
            self.skip_nl();
            match self.peek().cloned() {
                Some(T::Punct('}')) => {
                    self.i += 1;
                    return Ok(set);
                }
                Some(T::Word(k)) if k == "elements" => {
                    self.i += 1;
                    if self.is_word("=") {
                        self.i += 1;
                    }
                    let v = self.rhs()?;
                    set.insert("elem".into(), v["set"].clone());
                }
                Some(_) => {
                    // type, flags, policy...: up to the line's end.
                    while !matches!(self.peek(), None | Some(T::Newline) | Some(T::Punct('}'))) {
                        self.i += 1;
                    }
                }
                None => return Err(self.err("unclosed set")),
            }
        }
    }

    /// A `chain NAME { ... }` block (after `chain`): the chain, then its rules.
    fn chain(
        &mut self,
        family: &str,
        table: &str,
        out: &mut Listing,
    ) -> Result<(), Box<Diagnostic>> {
        let mut chain = self.block_head(family, table)?;
        let name = chain["name"].clone();
        let at = out.items.len();
        out.items.push(Value::Null);
        loop {
            self.skip_nl();
            match self.peek().cloned() {
                Some(T::Punct('}')) => {
                    self.i += 1;
                    break;
                }
                Some(T::Word(k)) if k == "type" => {
                    self.i += 1;
                    self.chain_type(&mut chain)?;
                }
                Some(T::Word(k)) if k == "policy" => {
                    self.i += 1;
                    chain.insert("policy".into(), json!(self.word()?));
                }
                Some(_) => {
                    let line = self.line();
                    let (expr, comment) = self.rule()?;
                    if expr.is_empty() {
                        return Err(self.err("expected a rule"));
                    }
                    let mut rule =
                        json!({"family": family, "table": table, "chain": name, "expr": expr});
                    if let Some(c) = comment {
                        rule["comment"] = json!(c);
                    }
                    out.items.push(json!({"rule": rule}));
                    out.lines.push(line);
                }
                None => return Err(self.err("unclosed chain")),
            }
        }
        out.items[at] = json!({"chain": chain});
        Ok(())
    }

    /// A base chain's `type filter hook forward [device ...] priority 0` (after `type`).
    fn chain_type(&mut self, chain: &mut Map<String, Value>) -> Result<(), Box<Diagnostic>> {
        chain.insert("type".into(), json!(self.word()?));
        if self.is_word("hook") {
            self.i += 1;
            chain.insert("hook".into(), json!(self.word()?));
        }
        if self.is_word("device") {
            self.i += 2;
        } else if self.is_word("devices") {
            // `devices = { eth0, eth1 }` (netdev chains).
            self.skip_block();
        }
        if self.is_word("priority") {
            self.i += 1;
            let mut prio = self.word()?;
            while matches!(self.peek(), Some(T::Word(x)) if x == "+" || x == "-") {
                let op = self.word()?;
                prio = format!("{prio} {op} {}", self.word()?);
            }
            let v = prio.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(prio));
            chain.insert("prio".into(), v);
        }
        Ok(())
    }
}

/// Parse ctxfw's nftables text.
pub fn parse(file: &SourceFile, ctx: &Context) -> Result<Model, Box<Diagnostic>> {
    let toks = lex(file)?;
    let mut p = P { toks, i: 0, file };
    let mut out = Listing::default();
    loop {
        p.skip_nl();
        let Some(t) = p.peek().cloned() else { break };
        match t {
            T::Word(w) if w == "table" => {
                p.i += 1;
                p.table(&mut out)?;
            }
            T::Word(w) if w == "delete" || w == "flush" => {
                // `delete table inet x`: the file replaces that table; what follows is it.
                while !matches!(p.peek(), None | Some(T::Newline)) {
                    p.i += 1;
                }
                let name = out
                    .items
                    .last()
                    .and_then(|v| v.get("table"))
                    .map(|t| t["name"].clone());
                if let Some(n) = name {
                    out.items
                        .retain(|v| v.get("table").is_none_or(|t| t["name"] != n));
                }
            }
            T::Word(w) if w == "add" || w == "insert" => {
                return Err(p.err("`add`/`insert` commands are not read; write the table as a block, as ctxfw and `nft list ruleset` do"));
            }
            _ => return Err(p.err("expected `table`")),
        }
    }
    // Chains and sets after their table, rules after their chains, as nft -j lists them.
    let Listing { items, lines } = out;
    let mut ordered: Vec<Value> = items
        .iter()
        .filter(|v| v.get("rule").is_none())
        .cloned()
        .collect();
    ordered.extend(items.iter().filter(|v| v.get("rule").is_some()).cloned());
    let doc = Doc {
        file,
        root: json!({"nftables": ordered}),
    };
    super::nft::from_doc(&doc, ctx, "nftables text", &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exprs(line: &str) -> Value {
        let file = SourceFile::new("t.nft", format!("{line}\n"));
        let mut p = P {
            toks: lex(&file).unwrap(),
            i: 0,
            file: &file,
        };
        Value::Array(p.rule().unwrap().0)
    }

    /// `nft list ruleset` lines beside what `nft -j list ruleset` printed for the same rules.
    #[test]
    fn listed_rules_read_as_nft_json_prints_them() {
        let cases = [
            (
                "ct state established,related accept",
                json!([{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]),
            ),
            (
                "fib daddr type local drop",
                json!([{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}, {"drop": null}]),
            ),
            (
                "meta mark & 0x0000ff00 == 0x00000100 drop",
                json!([{"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, 65280]}, "right": 256}}, {"drop": null}]),
            ),
            (
                "tcp flags syn / fin,syn,rst,ack tcp dport 1494 drop",
                json!([{"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["fin", "syn", "rst", "ack"]]}, "right": "syn"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 1494}}, {"drop": null}]),
            ),
            (
                "ip ttl < 5 drop",
                json!([{"match": {"op": "<", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 5}}, {"drop": null}]),
            ),
            (
                "ip saddr 172.17.0.0/16 oifname != \"docker0\" masquerade",
                json!([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "172.17.0.0", "len": 16}}}}, {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "docker0"}}, {"masquerade": null}]),
            ),
        ];
        for (text, json) in cases {
            assert_eq!(exprs(text), json, "{text}");
        }
    }

    /// A form this reader does not know is refused, not read with its verdict taken for a value.
    #[test]
    fn a_verdict_where_a_value_belongs_is_refused() {
        let file = SourceFile::new("t.nft", "osf version accept\n");
        let mut p = P {
            toks: lex(&file).unwrap(),
            i: 0,
            file: &file,
        };
        let e = p.rule().unwrap_err();
        assert!(
            e.message
                .contains("`osf version` is not followed by a value"),
            "{}",
            e.message
        );
    }

    /// A blocklist's elements carry their timeouts, which are no elements of their own.
    #[test]
    fn set_elements_keep_their_options() {
        let file = SourceFile::new(
            "t.nft",
            "{ 10.20.10.5 timeout 4h expires 3h59m59s988ms, 203.0.113.9 comment \"x\", 10.0.0.0/8 }",
        );
        let mut p = P {
            toks: lex(&file).unwrap(),
            i: 0,
            file: &file,
        };
        assert_eq!(
            p.rhs().unwrap(),
            json!({"set": [
                {"elem": {"timeout": "4h", "expires": "3h59m59s988ms", "val": "10.20.10.5"}},
                {"elem": {"comment": "x", "val": "203.0.113.9"}},
                {"prefix": {"addr": "10.0.0.0", "len": 8}}
            ]})
        );
    }

    /// Statements that change packets are no matches: the verdict after them still counts.
    #[test]
    fn set_statements_are_read_past() {
        assert_eq!(
            exprs("tcp flags syn tcp option maxseg size set rt mtu accept"),
            json!([{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": "syn"}}, {"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}}}}, {"accept": null}])
        );
        assert_eq!(
            exprs("ct mark set meta mark jump marked"),
            json!([{"mangle": {"key": {"ct": {"key": "mark"}}}}, {"jump": {"target": "marked"}}])
        );
    }
}
