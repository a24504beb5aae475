//! `iptables-save` and `ip6tables-save` output (the nft and legacy variants print the same
//! syntax), and iptables-restore files such as ctxfw's `.rules`: the `filter` table's chains
//! with their policies, `-A` rules with their matches and `-j` / `-g` targets.

use std::collections::HashMap;

use super::model::{Action, Chain, Model, Point, Rule, Scope, Target};
use super::parse::Context;
use super::space::{port_protocols, proto_number, Cube, Fam, Set, ICMP, ICMPV6, SCTP, TCP, UDP};
use crate::diag::{Diagnostic, SourceFile};

const HINT: &str = "the file must be iptables-save or ip6tables-save output (or an iptables-restore file); pass --ruleset-format to read it as another format";

/// A word of a rule line and where it starts.
struct Tok {
    text: String,
    at: usize,
}

/// Split a line as iptables-restore does: spaces separate words, double quotes group them,
/// a backslash escapes a quote.
fn words(line: &str, base: usize, file: &SourceFile) -> Result<Vec<Tok>, Box<Diagnostic>> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let start = i;
        let mut quoted = false;
        while let Some(&(j, c)) = chars.peek() {
            if c == '"' {
                quoted = !quoted;
                chars.next();
                continue;
            }
            if c == '\\' && quoted {
                chars.next();
                if let Some((_, n)) = chars.next() {
                    text.push(n);
                }
                continue;
            }
            if c.is_whitespace() && !quoted {
                break;
            }
            text.push(c);
            chars.next();
            let _ = j;
        }
        if quoted {
            return Err(Box::new(
                Diagnostic::error("unterminated quoted string")
                    .at(file, base + start..base + line.len())
                    .hint("close the quote; iptables-save writes comments as \"...\" with \\\" inside"),
            ));
        }
        out.push(Tok {
            text,
            at: base + start,
        });
    }
    Ok(out)
}

fn is_v6(file: &SourceFile) -> bool {
    let t = &file.text;
    if t.contains("ip6tables-save") || t.contains("ip6tables-restore") {
        return true;
    }
    if t.contains("iptables-save") || t.contains("iptables-restore") {
        return false;
    }
    let addr6 = t.lines().any(|l| {
        l.split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| {
                matches!(w[0], "-s" | "-d" | "--source" | "--destination") && w[1].contains(':')
            })
    });
    addr6 || t.contains("--icmpv6-type") || file.name.ends_with('6')
}

struct RawChain {
    name: String,
    policy: Option<bool>,
    line: usize,
    rules: Vec<(usize, usize, String, Vec<Tok>)>,
}

/// The filter table's chains as the file lists them, and the other tables it has.
struct Saved {
    chains: Vec<RawChain>,
    other_tables: Vec<String>,
}

impl Saved {
    fn has(&self, name: &str) -> bool {
        self.chains.iter().any(|c| c.name == name)
    }

    /// Chain `name`, declared (with `policy`, at `line`) unless it is already.
    fn declare(&mut self, name: &str, policy: Option<bool>, line: usize) -> &mut RawChain {
        let i = match self.chains.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.chains.push(RawChain {
                    name: name.to_string(),
                    policy,
                    line,
                    rules: Vec::new(),
                });
                self.chains.len() - 1
            }
        };
        &mut self.chains[i]
    }
}

pub fn parse(file: &SourceFile, ctx: &Context) -> Result<Model, Box<Diagnostic>> {
    let fam = if is_v6(file) { Fam::V6 } else { Fam::V4 };
    let saved = read_saved(file)?;
    let chains = &saved.chains;
    let index: HashMap<String, usize> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    let family_name = if fam == Fam::V4 {
        "iptables"
    } else {
        "ip6tables"
    };
    let mut model = Model {
        format: format!("{family_name}-save"),
        file: file.name.clone(),
        families: vec![fam],
        ..Model::default()
    };
    for c in chains {
        let builtin = matches!(c.name.as_str(), "INPUT" | "OUTPUT" | "FORWARD");
        let policy = if builtin {
            Some(c.policy.unwrap_or(true))
        } else {
            None
        };
        model.chains.push(Chain {
            name: c.name.clone(),
            rules: Vec::new(),
            policy,
            policy_label: format!(
                ":{} {} (line {})",
                c.name,
                if policy == Some(false) {
                    "DROP"
                } else {
                    "ACCEPT"
                },
                c.line
            ),
            families: vec![fam],
        });
    }
    let mut referenced = vec![false; chains.len()];
    for (ci, c) in chains.iter().enumerate() {
        for (k, (line, _, text, toks)) in c.rules.iter().enumerate() {
            let mut rule = read_rule(toks, fam, ctx, &index, file)?;
            if let Action::Jump(t) | Action::Goto(t) = rule.action {
                referenced[t] = true;
            }
            rule.line = *line;
            rule.label = format!("{} rule {}", c.name, k + 1);
            rule.text = shorten(text);
            model.chains[ci].rules.push(rule);
        }
    }
    add_points(&mut model, file, chains, &index, &referenced);
    for t in &saved.other_tables {
        model.notes.push(format!(
            "{}: table {t} is not evaluated (only filter decides what passes)",
            file.name
        ));
    }
    Ok(model)
}

/// The lines of an `iptables-save` file: chain declarations and policies, and each chain's
/// rules as words (read into rules once every chain is known, for jumps).
fn read_saved(file: &SourceFile) -> Result<Saved, Box<Diagnostic>> {
    let mut saved = Saved {
        chains: Vec::new(),
        other_tables: Vec::new(),
    };
    let mut table = String::new();
    let mut offset = 0usize;
    for (n, raw) in file.text.split_inclusive('\n').enumerate() {
        let line_no = n + 1;
        let base = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "COMMIT" {
            continue;
        }
        let err = |msg: String, hint: &str| {
            Box::new(
                Diagnostic::error(msg)
                    .at(file, base + lead..base + line.len().max(lead + 1))
                    .hint(hint.to_string()),
            )
        };
        if let Some(t) = trimmed.strip_prefix('*') {
            table = t.trim().to_string();
            if table != "filter" && !saved.other_tables.contains(&table) {
                saved.other_tables.push(table.clone());
            }
            continue;
        }
        if table.is_empty() {
            return Err(err(
                "rule outside a table: expected a `*filter` line first".into(),
                HINT,
            ));
        }
        if table != "filter" {
            continue;
        }
        if let Some(decl) = trimmed.strip_prefix(':') {
            let mut it = decl.split_whitespace();
            let name = it.next().unwrap_or("");
            let policy = match it.next() {
                Some("ACCEPT") => Some(true),
                Some("DROP") => Some(false),
                Some("-") | None => None,
                Some(p) => {
                    return Err(err(
                        format!("unknown chain policy `{p}`"),
                        "a built-in chain's policy is ACCEPT or DROP; a user chain's is -",
                    ))
                }
            };
            saved.declare(name, policy, line_no);
            continue;
        }
        let mut toks = words(trimmed, base + lead, file)?;
        // `iptables-save -c` puts the counters first.
        if toks.first().is_some_and(|t| t.text.starts_with('[')) {
            toks.remove(0);
        }
        let Some(first) = toks.first() else {
            continue;
        };
        match first.text.as_str() {
            "-A" | "--append" | "-I" | "--insert" => {
                let Some(name) = toks.get(1).map(|t| t.text.clone()) else {
                    return Err(err("`-A` without a chain name".into(), HINT));
                };
                let builtin = matches!(name.as_str(), "INPUT" | "OUTPUT" | "FORWARD");
                if !builtin && !saved.has(&name) {
                    return Err(Box::new(
                        Diagnostic::error(format!(
                            "rule for chain `{name}`, which is not declared"
                        ))
                        .at(file, toks[1].at..toks[1].at + name.len())
                        .hint(format!("declare it first with a `:{name} - [0:0]` line")),
                    ));
                }
                let rest: Vec<Tok> = toks.into_iter().skip(2).collect();
                saved.declare(&name, Some(true), line_no).rules.push((
                    line_no,
                    base + lead,
                    line.trim().to_string(),
                    rest,
                ));
            }
            "-N" | "--new-chain" => {
                if let Some(t) = toks.get(1) {
                    saved.declare(&t.text, None, line_no);
                }
            }
            "-P" | "--policy" => {
                let (Some(name), Some(p)) = (toks.get(1), toks.get(2)) else {
                    return Err(err("`-P` needs a chain and a policy".into(), HINT));
                };
                let policy = Some(p.text == "ACCEPT");
                saved.declare(&name.text, policy, line_no).policy = policy;
            }
            other => {
                return Err(err(
                    format!("unexpected `{other}`: not a chain declaration or an -A rule"),
                    HINT,
                ))
            }
        }
    }
    Ok(saved)
}

/// The points the file filters: its built-in chains, or for a file that fills only its own
/// chains (ctxfw's), the chain nothing jumps to, which the built-in chain jumps to as the
/// file's header says to hook it in.
fn add_points(
    model: &mut Model,
    file: &SourceFile,
    chains: &[RawChain],
    index: &HashMap<String, usize>,
    referenced: &[bool],
) {
    for (hook, builtin, scope) in [
        ("forward", "FORWARD", Scope::Forward),
        ("input", "INPUT", Scope::Inbound(Target::Host)),
        ("output", "OUTPUT", Scope::Outbound(Target::Host)),
    ] {
        if let Some(&i) = index.get(builtin) {
            model.points.push(Point {
                scope,
                chains: vec![i],
                label: format!("{builtin} chain"),
            });
            continue;
        }
        let suffix = match hook {
            "input" => Some("-in"),
            "output" => Some("-out"),
            _ => None,
        };
        let entry = chains.iter().enumerate().find(|(i, c)| {
            !referenced[*i]
                && c.policy.is_none()
                && match suffix {
                    Some(s) => c.name.ends_with(s),
                    None => !c.name.ends_with("-in") && !c.name.ends_with("-out"),
                }
        });
        if let Some((i, c)) = entry {
            model.chains[i].policy = Some(true);
            model.chains[i].policy_label = format!(
                "{builtin}'s policy (ACCEPT unless set; the file does not declare {builtin})"
            );
            model.notes.push(format!(
                "{}: the file does not declare {builtin}; chain {} is audited as what {builtin} jumps to first, with {builtin}'s default policy ACCEPT after it",
                file.name, c.name
            ));
            model.points.push(Point {
                scope,
                chains: vec![i],
                label: format!("{builtin} chain"),
            });
        }
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The match modules whose options are read (besides `comment`, which decides nothing).
const KNOWN_MODULES: [&str; 10] = [
    "tcp",
    "udp",
    "sctp",
    "multiport",
    "conntrack",
    "state",
    "icmp",
    "icmp6",
    "icmpv6",
    "iprange",
];

/// Whether the match `module` has the option `opt` (of the modules read here; an unknown
/// module may have any).
fn takes_option(module: &str, opt: &str) -> bool {
    let ports = ["--dport", "--destination-port", "--sport", "--source-port"];
    match module {
        "tcp" => ports.contains(&opt) || matches!(opt, "--syn" | "--tcp-flags" | "--tcp-option"),
        "udp" => ports.contains(&opt),
        "sctp" => ports.contains(&opt) || opt == "--chunk-types",
        "icmp" => opt == "--icmp-type",
        "icmp6" | "icmpv6" => opt == "--icmpv6-type",
        "multiport" => matches!(
            opt,
            "--dports" | "--destination-ports" | "--sports" | "--source-ports" | "--ports"
        ),
        "conntrack" => opt.starts_with("--ct"),
        "state" => opt == "--state",
        "comment" => opt == "--comment",
        "iprange" => matches!(opt, "--src-range" | "--dst-range"),
        "" => false,
        _ => true,
    }
}

/// Options that end a match module's options.
fn is_global(t: &str) -> bool {
    matches!(
        t,
        "-j" | "--jump"
            | "-g"
            | "--goto"
            | "-m"
            | "--match"
            | "-s"
            | "--source"
            | "--src"
            | "-d"
            | "--destination"
            | "--dst"
            | "-p"
            | "--protocol"
            | "-i"
            | "--in-interface"
            | "-o"
            | "--out-interface"
            | "!"
            | "-f"
            | "--fragment"
    )
}

fn addr_list(s: &str, fam: Fam) -> Option<Set> {
    let mut set = Set::empty();
    for a in s.split(',') {
        let net: ipnet::IpNet = if a.contains('/') {
            // iptables-save prints masks as prefix lengths; a dotted mask is legal input.
            match a.parse() {
                Ok(n) => n,
                Err(_) => {
                    let (addr, mask) = a.split_once('/')?;
                    let m: std::net::Ipv4Addr = mask.parse().ok()?;
                    let len = u32::from(m).leading_ones() as u8;
                    format!("{addr}/{len}").parse().ok()?
                }
            }
        } else {
            let ip: std::net::IpAddr = a.parse().ok()?;
            ipnet::IpNet::from(ip)
        };
        if Fam::of(&net) != fam {
            return None;
        }
        let (lo, hi) = super::space::net_iv(&net.trunc());
        set = set.union(&Set::range(lo, hi));
    }
    Some(set)
}

fn port_list(s: &str) -> Option<Set> {
    let mut set = Set::empty();
    for p in s.split(',') {
        let (a, b) = p.split_once(':').unwrap_or((p, p));
        let a: u16 = if a.is_empty() { 0 } else { a.parse().ok()? };
        let b: u16 = if b.is_empty() { 65535 } else { b.parse().ok()? };
        if a > b {
            return None;
        }
        set = set.union(&Set::range(a as u128, b as u128));
    }
    Some(set)
}

fn icmp_name(proto: u8, s: &str) -> Option<Set> {
    if s == "any" {
        return Some(Set::range(0, 255));
    }
    let ty = s.split('/').next()?;
    if let Ok(n) = ty.parse::<u8>() {
        return Some(Set::point(n as u128));
    }
    let alias = match ty {
        "ping" | "echo" => "echo-request",
        "pong" => "echo-reply",
        "neighbour-solicitation" | "neighbor-solicitation" => "nd-neighbor-solicit",
        "neighbour-advertisement" | "neighbor-advertisement" => "nd-neighbor-advert",
        "router-solicitation" if proto == ICMPV6 => "nd-router-solicit",
        "router-advertisement" if proto == ICMPV6 => "nd-router-advert",
        t => t,
    };
    if let Some(t) = super::nft_expr::icmp_type(proto, alias) {
        return Some(Set::point(t as u128));
    }
    // Code-level names mean their type (iptables lists codes as names too).
    let v4_codes = [
        ("network-unreachable", 3),
        ("host-unreachable", 3),
        ("protocol-unreachable", 3),
        ("port-unreachable", 3),
        ("fragmentation-needed", 3),
        ("ttl-zero-during-transit", 11),
        ("ttl-exceeded", 11),
        ("ip-header-bad", 12),
    ];
    let v6_codes = [
        ("no-route", 1),
        ("communication-prohibited", 1),
        ("address-unreachable", 1),
        ("port-unreachable", 1),
        ("ttl-zero-during-transit", 3),
        ("ttl-exceeded", 3),
    ];
    let codes: &[(&str, u8)] = if proto == ICMP { &v4_codes } else { &v6_codes };
    codes
        .iter()
        .find(|(n, _)| *n == ty)
        .map(|(_, t)| Set::point(*t as u128))
}

/// What a rule line says, gathered option by option.
struct RuleRead<'t> {
    toks: &'t [Tok],
    fam: Fam,
    file: &'t SourceFile,
    cube: Cube,
    unknown: Vec<String>,
    /// A state match that leaves out new connections: the rule never sees a flow's first packet.
    stateful_only: bool,
    /// The current `-m` module, whose options follow it.
    module: String,
    /// `-p tcp` loads the tcp match for an option no named module takes (`-p tcp --dport 22`),
    /// as iptables does; iptables-save always names it, a hand-written file need not.
    implicit: Option<&'static str>,
}

impl<'t> RuleRead<'t> {
    fn bad(&self, t: &Tok, msg: String, hint: &str) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error(msg)
                .at(self.file, t.at..t.at + t.text.len().max(1))
                .hint(hint.to_string()),
        )
    }

    /// The value of the option at `i`.
    fn value(&self, i: usize) -> Result<&'t Tok, Box<Diagnostic>> {
        let toks = self.toks;
        toks.get(i + 1)
            .ok_or_else(|| self.bad(&toks[i], format!("`{}` needs a value", toks[i].text), HINT))
    }

    /// Narrows the source (`src`) or destination side to `set`.
    fn narrow(&mut self, src: bool, set: &Set) {
        let side = if src {
            &mut self.cube.src
        } else {
            &mut self.cube.dst
        };
        *side = side.intersect(set);
    }

    /// Reads the `--` option of a match module at `i`, `!` before it if `neg`; returns where
    /// the next option starts.
    fn module_option(&mut self, i: usize, neg: bool) -> Result<usize, Box<Diagnostic>> {
        let toks = self.toks;
        let opt = toks[i].text.as_str();
        let vt = toks.get(i + 1).unwrap_or(&toks[i]);
        let v = toks.get(i + 1).map(|t| t.text.as_str()).unwrap_or("");
        let m = match self.implicit {
            Some(p) if !takes_option(&self.module, opt) && takes_option(p, opt) => p,
            _ => self.module.as_str(),
        };
        match (m, opt) {
            ("tcp" | "udp" | "sctp", "--dport" | "--destination-port")
            | ("multiport", "--dports" | "--destination-ports") => {
                let set = port_list(v).ok_or_else(|| {
                    self.bad(
                        vt,
                        format!("`{v}` is not a port, range (lo:hi) or list"),
                        "ports are 443, 6910:6930 or 80,443",
                    )
                })?;
                let cube = &mut self.cube;
                cube.sel = cube.sel.intersect(&negated(neg, set, Set::range(0, 65535)));
                cube.proto = cube.proto.intersect(&port_protocols());
            }
            ("tcp" | "udp" | "sctp", "--sport" | "--source-port")
            | ("multiport", "--sports" | "--source-ports") => {
                self.unknown.push(format!("{opt} {v} (source ports)"));
            }
            ("multiport", "--ports") => {
                self.unknown
                    .push(format!("--ports {v} (source or destination)"));
            }
            ("tcp", "--syn") => return Ok(i + 1),
            ("tcp", "--tcp-flags") => {
                self.unknown.push("--tcp-flags".into());
                return Ok(i + 3);
            }
            ("conntrack", "--ctstate") | ("state", "--state") => {
                let new = v.split(',').any(|s| s == "NEW" || s == "UNTRACKED") != neg;
                self.stateful_only |= !new;
            }
            ("comment", "--comment") => {}
            ("icmp", "--icmp-type") | ("icmp6" | "icmpv6", "--icmpv6-type") => {
                let p = if m == "icmp" { ICMP } else { ICMPV6 };
                let set = icmp_name(p, v).ok_or_else(|| {
                    self.bad(
                        vt,
                        format!("unknown ICMP type `{v}`"),
                        "use a type name as iptables-save prints it, or a number",
                    )
                })?;
                let cube = &mut self.cube;
                cube.proto = cube.proto.intersect(&Set::point(p as u128));
                cube.sel = cube.sel.intersect(&negated(neg, set, Set::range(0, 255)));
            }
            ("iprange", "--src-range" | "--dst-range") => {
                let r = v.split_once('-').and_then(|(a, b)| {
                    let a = addr_list(a, self.fam)?;
                    let b = addr_list(b, self.fam)?;
                    Some(Set::range(a.lo(), b.hi()))
                });
                let set = r.ok_or_else(|| {
                    self.bad(
                        vt,
                        format!("`{v}` is not an address range"),
                        "write 10.0.0.1-10.0.0.9",
                    )
                })?;
                let set = negated(neg, set, self.fam.all());
                self.narrow(opt == "--src-range", &set);
            }
            (m, o) => {
                if m.is_empty() {
                    self.unknown
                        .push(format!("{o} (an option of no match module)"));
                } else if KNOWN_MODULES.contains(&m) {
                    self.unknown.push(format!("-m {m} {o}"));
                }
                // An unknown module's option: its values run to the next option.
                let mut j = i + 1;
                while j < toks.len() && !toks[j].text.starts_with("--") && !is_global(&toks[j].text)
                {
                    j += 1;
                }
                return Ok(j);
            }
        }
        Ok(i + 2)
    }
}

/// `set`, or everything in `all` but `set` when the option was negated.
fn negated(neg: bool, set: Set, all: Set) -> Set {
    if neg {
        all.minus(&set)
    } else {
        set
    }
}

/// What `-j NAME` (`-g NAME` if `goto`) does with a packet.
fn jump(name: &str, goto: bool, chains: &HashMap<String, usize>) -> Action {
    match name {
        "ACCEPT" => Action::Accept,
        "DROP" | "REJECT" => Action::Drop,
        "RETURN" => Action::Return,
        "LOG" | "NFLOG" | "ULOG" | "MARK" | "CONNMARK" | "TRACE" | "AUDIT" | "CLASSIFY" | "CT"
        | "NOTRACK" | "DSCP" | "TOS" | "TCPMSS" => Action::Continue,
        "QUEUE" | "NFQUEUE" => Action::Unknown(format!("-j {name}")),
        name => match chains.get(name) {
            Some(&c) if goto => Action::Goto(c),
            Some(&c) => Action::Jump(c),
            None => Action::Unknown(format!("-j {name} (not a chain of the filter table)")),
        },
    }
}

fn read_rule(
    toks: &[Tok],
    fam: Fam,
    ctx: &Context,
    chains: &HashMap<String, usize>,
    file: &SourceFile,
) -> Result<Rule, Box<Diagnostic>> {
    let mut r = RuleRead {
        toks,
        fam,
        file,
        cube: Cube::all(fam),
        unknown: Vec::new(),
        stateful_only: false,
        module: String::new(),
        implicit: None,
    };
    let mut action = Action::Continue;
    let mut negate = false;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let opt = t.text.as_str();
        if opt == "!" {
            negate = true;
            i += 1;
            continue;
        }
        let neg = std::mem::take(&mut negate);
        match opt {
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                let v = r.value(i)?;
                let set = addr_list(&v.text, fam).ok_or_else(|| {
                    r.bad(v, format!("`{}` is not an {} address or network", v.text, fam.name()), "write 10.0.0.0/24 or 2001:db8::/64; an IPv6 address belongs in ip6tables-save output")
                })?;
                let src = opt.starts_with("-s") || opt.starts_with("--s");
                r.narrow(src, &negated(neg, set, fam.all()));
                i += 2;
            }
            "-p" | "--protocol" => {
                let v = r.value(i)?;
                let set = if v.text == "all" {
                    Set::range(0, 255)
                } else {
                    let p = proto_number(&v.text).ok_or_else(|| {
                        r.bad(
                            v,
                            format!("unknown protocol `{}`", v.text),
                            "use a name such as tcp, udp, icmp or a number",
                        )
                    })?;
                    Set::point(p as u128)
                };
                r.implicit = match u8::try_from(set.lo()) {
                    _ if neg => None,
                    Ok(TCP) => Some("tcp"),
                    Ok(UDP) => Some("udp"),
                    Ok(SCTP) => Some("sctp"),
                    Ok(ICMP) => Some("icmp"),
                    Ok(ICMPV6) => Some("icmpv6"),
                    _ => None,
                };
                r.cube.proto = r
                    .cube
                    .proto
                    .intersect(&negated(neg, set, Set::range(0, 255)));
                i += 2;
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let v = r.value(i)?;
                let input = opt.starts_with("-i") || opt.starts_with("--in");
                match ctx.interface(&v.text, fam) {
                    Some(set) => r.narrow(input, &negated(neg, set, fam.all())),
                    None => r.unknown.push(format!(
                        "{}{} {} (which zones it faces is not known: --interface NAME=ZONE)",
                        if neg { "! " } else { "" },
                        if input { "-i" } else { "-o" },
                        v.text
                    )),
                }
                i += 2;
            }
            "-f" | "--fragment" => {
                r.unknown.push("-f (fragments)".into());
                i += 1;
            }
            "-m" | "--match" => {
                r.module = r.value(i)?.text.clone();
                if !KNOWN_MODULES.contains(&r.module.as_str()) && r.module != "comment" {
                    r.unknown.push(match r.module.as_str() {
                        "set" => "-m set (an ipset's members are not known)".to_string(),
                        m => format!("-m {m}"),
                    });
                }
                i += 2;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let goto = opt.starts_with("-g") || opt.starts_with("--g");
                action = jump(&r.value(i)?.text, goto, chains);
                // Target options (--reject-with, --log-prefix ...) run to the line's end.
                break;
            }
            _ if opt.starts_with("--") => i = r.module_option(i, neg)?,
            _ => return Err(r.bad(
                t,
                format!("unexpected `{opt}` in a rule"),
                "iptables-save prints options such as -s, -d, -p, -m MODULE --OPTION, -j TARGET",
            )),
        }
    }
    let space = if r.stateful_only || r.cube.is_empty() {
        Vec::new()
    } else {
        vec![r.cube]
    };
    let mut unknown = r.unknown;
    unknown.sort();
    unknown.dedup();
    Ok(Rule {
        line: 0,
        label: String::new(),
        text: String::new(),
        space,
        unknown,
        action,
        stateful_only: r.stateful_only,
        implicit: false,
    })
}
