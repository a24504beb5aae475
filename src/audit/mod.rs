//! `ctxfw audit`: does a firewall's current rule set implement the topology's flows, and no
//! more? Read the rule set as the platform's own tool prints it ([`parse`]), evaluate every
//! required flow against it with that platform's semantics ([`eval`]), and look for what it
//! allows between the topology's zones beyond those flows.
//!
//! Independent of the render layer: it reads the flows through [`flows`] only.

pub mod aws;
pub mod azure;
pub mod cloud;
pub mod eval;
pub mod flows;
pub mod gcp;
pub mod iptables;
pub mod json;
pub mod model;
pub mod nft;
mod nft_expr;
mod nft_rule;
pub mod nft_text;
pub mod parse;
pub mod report;
pub mod space;
pub mod verify;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use eval::{By, Decided, Evaluator, Index, Maybe, RuleRef, Walk};
use flows::{Need, Required};
use model::{Action, Model, Scope, Target};
use space::{iv_nets, minus_all, Cube, Fam, Set, ICMP, ICMPV6, SEL_MAX};

/// What the user asked for besides the rule set.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Audit a host firewall of this component (its input and output chains).
    pub host: Option<String>,
}

/// A rule (or a chain's policy) as the report names it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleInfo {
    /// Where it applies: `forward hook`, `security group SgX (ingress)`.
    pub point: String,
    /// How to find it: `forward #4`, `rule allow-web`, `policy drop of forward`.
    pub rule: String,
    /// Line in the rule-set file, when it has lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub text: String,
}

/// Part of a required flow the rule set does not allow.
#[derive(Debug, Clone, Serialize)]
pub struct Blocked {
    pub flow: String,
    pub from: String,
    pub to: String,
    pub protocol: String,
    pub ports: String,
    pub purpose: String,
    pub source: String,
    /// The ports (or `all`) and addresses that are blocked.
    pub blocked_ports: String,
    pub from_addresses: Vec<String>,
    pub to_addresses: Vec<String>,
    pub by: RuleInfo,
}

/// Space allowed between two zones beyond every required flow.
#[derive(Debug, Clone, Serialize)]
pub struct Opening {
    pub from_zone: String,
    pub to_zone: String,
    pub protocol: String,
    pub ports: String,
    pub from_addresses: Vec<String>,
    pub to_addresses: Vec<String>,
    /// Source addresses x destination addresses x ports (or ICMP types).
    pub size: f64,
}

/// A rule that allows more than the flows need, with what.
#[derive(Debug, Clone, Serialize)]
pub struct TooOpen {
    pub rule: RuleInfo,
    /// Everything it opens, all zone pairs.
    pub size: f64,
    /// The largest openings (at most [`MAX_OPENINGS`]).
    pub openings: Vec<Opening>,
    /// Zone pairs and protocols beyond those listed.
    pub more: usize,
}

/// Openings listed per rule; a rule to the internet opens something towards every zone.
pub const MAX_OPENINGS: usize = 20;

/// A rule whose effect ctxfw cannot evaluate, and what depends on it.
#[derive(Debug, Clone, Serialize)]
pub struct Unknown {
    pub rule: RuleInfo,
    pub why: Vec<String>,
    /// Required flows whose verdict depends on it.
    pub flows: Vec<String>,
    /// What it may allow beyond the required flows.
    pub may_open: Vec<Opening>,
}

/// A shadowed or unused rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleNote {
    pub rule: RuleInfo,
    /// For a shadowed rule: the earlier rules that decide its packets first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<RuleInfo>,
}

/// A required flow the rule set does not speak for (an IP family it has no rules for).
#[derive(Debug, Clone, Serialize)]
pub struct NotAudited {
    pub flow: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub topology: String,
    pub ruleset: String,
    pub format: String,
    pub perspective: String,
    pub points: Vec<String>,
    pub flows_checked: usize,
    pub blocked: Vec<Blocked>,
    pub too_open: Vec<TooOpen>,
    pub unknown: Vec<Unknown>,
    pub shadowed: Vec<RuleNote>,
    pub unused: Vec<RuleNote>,
    pub not_audited: Vec<NotAudited>,
    pub notes: Vec<String>,
}

impl Report {
    /// Blocked, too open or undecidable: the rule set does not provably implement the flows.
    pub fn has_findings(&self) -> bool {
        !self.blocked.is_empty() || !self.too_open.is_empty() || !self.unknown.is_empty()
    }
}

/// A usage mistake found while auditing (a host firewall without `--host`): exit 64.
pub use crate::generate::UsageError;

fn rule_info(model: &Model, point: &str, by: By) -> RuleInfo {
    match by {
        By::Rule(r) => {
            let rule = &model.chains[r.chain].rules[r.rule];
            RuleInfo {
                point: point.to_string(),
                rule: rule.label.clone(),
                line: (rule.line > 0).then_some(rule.line),
                text: rule.text.clone(),
            }
        }
        By::Policy(c) => {
            let chain = &model.chains[c];
            let verdict = if chain.policy.unwrap_or(true) {
                "accept"
            } else {
                "drop"
            };
            RuleInfo {
                point: point.to_string(),
                rule: format!("policy {verdict} of {}", chain.name),
                line: None,
                text: chain.policy_label.clone(),
            }
        }
    }
}

/// `tcp`, the flow's ports or ICMP types as text.
fn selector_text(proto: u8, sel: &Set) -> String {
    let ranges = |s: &Set| -> String {
        s.ivs()
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    match proto {
        ICMP | ICMPV6 => {
            let t = sel.intersect(&Set::range(0, 255));
            if t == Set::range(0, 255) {
                "all types".into()
            } else {
                format!("type {}", ranges(&t))
            }
        }
        p if space::port_protocols().intersects(&Set::point(p as u128)) => {
            let t = sel.intersect(&Set::range(1, SEL_MAX));
            if t == Set::range(1, SEL_MAX) {
                "all ports".into()
            } else {
                ranges(&t)
            }
        }
        _ => String::new(),
    }
}

const MAX_LISTED: usize = 8;

fn nets_text(fam: Fam, set: &Set) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for &iv in set.ivs() {
        for n in iv_nets(fam, iv) {
            if out.len() == MAX_LISTED {
                out.push("... and more".to_string());
                return out;
            }
            out.push(n.to_string());
        }
    }
    out
}

/// Pieces of space, cut by zone pair and protocol, as openings (largest first). Protocols
/// without ports or types are one opening, listed by number.
fn openings(req: &Required, scope: &Scope, cubes: &[Cube]) -> (Vec<Opening>, usize, f64) {
    // Protocol class: a protocol with ports or types, or every other one (256).
    type Key = (usize, usize, u16, Fam);
    let has_selector = |p: u8| {
        matches!(p, ICMP | ICMPV6) || space::port_protocols().intersects(&Set::point(p as u128))
    };
    // Each piece by zone pair and protocol class, with its size; `add` is told it.
    let each = |add: &mut dyn FnMut(Key, &Set, &Set, &Set, f64)| {
        for c in cubes {
            let dsts = req.by_zone_index(c.fam, &c.dst);
            for (zs, s) in req.by_zone_index(c.fam, &c.src) {
                for (zd, d) in &dsts {
                    if *scope == Scope::Forward && zs == *zd {
                        continue;
                    }
                    let pair = s.count() * d.count();
                    for &(a, b) in c.proto.ivs() {
                        for p in a..=b {
                            let p8 = p as u8;
                            // Each family's own ICMP only.
                            if (c.fam == Fam::V4 && p8 == ICMPV6)
                                || (c.fam == Fam::V6 && p8 == ICMP)
                            {
                                continue;
                            }
                            let size = pair * space::selector_count(p8, &c.sel);
                            if size == 0.0 {
                                continue;
                            }
                            let class = if has_selector(p8) { p8 as u16 } else { 256 };
                            let sel = if class == 256 {
                                Set::point(p)
                            } else {
                                c.sel.clone()
                            };
                            add((zs, *zd, class, c.fam), &s, d, &sel, size);
                        }
                    }
                }
            }
        }
    };
    // Sizes first; addresses only for the openings that are listed.
    let mut sizes: BTreeMap<Key, f64> = BTreeMap::new();
    each(&mut |k, _, _, _, size| *sizes.entry(k).or_insert(0.0) += size);
    let mut ranked: Vec<(Key, f64)> = sizes.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: f64 = ranked.iter().map(|e| e.1).sum();
    let more = ranked.len().saturating_sub(MAX_OPENINGS);
    ranked.truncate(MAX_OPENINGS);
    let mut acc: BTreeMap<Key, (Set, Set, Set, f64)> = ranked
        .iter()
        .map(|(k, size)| (*k, (Set::empty(), Set::empty(), Set::empty(), *size)))
        .collect();
    each(&mut |k, s, d, sel, _| {
        if let Some(e) = acc.get_mut(&k) {
            e.0 = e.0.union(s);
            e.1 = e.1.union(d);
            e.2 = e.2.union(sel);
        }
    });
    let mut all: Vec<(Key, (Set, Set, Set, f64))> = acc.into_iter().collect();
    all.sort_by(|a, b| b.1 .3.total_cmp(&a.1 .3).then_with(|| a.0.cmp(&b.0)));
    let out: Vec<Opening> = all
        .into_iter()
        .map(|((zs, zd, class, fam), (s, d, sel, size))| {
            let (protocol, ports) = if class == 256 {
                let n = sel
                    .ivs()
                    .iter()
                    .map(|&(a, b)| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                ("other IP protocols".to_string(), n)
            } else {
                (
                    space::proto_name(class as u8),
                    selector_text(class as u8, &sel),
                )
            };
            Opening {
                from_zone: req.zones[zs].name.clone(),
                to_zone: req.zones[zd].name.clone(),
                protocol,
                ports,
                from_addresses: nets_text(fam, &s),
                to_addresses: nets_text(fam, &d),
                size,
            }
        })
        .collect();
    (out, more, total)
}

/// The space of `cube` outside every `cut` (found through `index`).
fn outside(cube: Cube, cuts: &[Cube], index: &Index) -> Vec<Cube> {
    let mut rest = vec![cube];
    let cands = index
        .candidates(&rest)
        .unwrap_or_else(|| (0..cuts.len()).collect());
    for i in cands {
        if rest.iter().any(|x| x.intersects(&cuts[i])) {
            rest = minus_all(rest, &cuts[i]);
        }
        if rest.is_empty() {
            break;
        }
    }
    rest
}

/// A decided piece split into what no unevaluable rule could change and what it could.
fn split_by_maybe(d: &Decided, maybe: &[Maybe]) -> (Vec<Cube>, Vec<(RuleRef, Cube)>) {
    let mut sure = vec![d.cube.clone()];
    let mut unsure = Vec::new();
    for m in maybe {
        if m.accept == Some(d.accept) {
            continue;
        }
        if let Some(x) = d.cube.intersect(&m.cube) {
            unsure.push((m.rule, x));
            sure = minus_all(sure, &m.cube);
        }
    }
    (sure, unsure)
}

/// The points of `model` this audit evaluates, or why none fits.
fn points<'m>(model: &'m Model, opts: &Options) -> Result<Vec<&'m model::Point>, UsageError> {
    let host_points: Vec<&model::Point> = model
        .points
        .iter()
        .filter(|p| {
            matches!(
                p.scope,
                Scope::Inbound(Target::Host) | Scope::Outbound(Target::Host)
            )
        })
        .collect();
    let other: Vec<&model::Point> = model
        .points
        .iter()
        .filter(|p| {
            !matches!(
                p.scope,
                Scope::Inbound(Target::Host) | Scope::Outbound(Target::Host)
            )
        })
        .collect();
    let forward_only = other.iter().all(|p| p.scope == Scope::Forward);
    match &opts.host {
        Some(_) if !host_points.is_empty() => Ok(host_points),
        Some(_) if forward_only => Err(UsageError(format!(
            "{}: --host names a host firewall, but this rule set has no input or output chain \
             (only {}); audit it without --host",
            model.file,
            other
                .iter()
                .map(|p| p.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Some(_) => Ok(other),
        None if !other.is_empty() => Ok(other),
        None if !host_points.is_empty() => Err(UsageError(format!(
            "{}: this rule set filters a host's own traffic (input and output chains) and has \
             no forward chain; pass --host COMPONENT to say whose firewall it is",
            model.file
        ))),
        None => Err(UsageError(format!(
            "{}: the rule set has no chain on a forward, input or output hook, and no security \
             rules; nothing filters traffic",
            model.file
        ))),
    }
}

/// `NAME=VALUE[,VALUE]` pairs from the command line.
fn pairs(args: &[String], what: &str) -> Result<Vec<(String, Vec<String>)>, UsageError> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((
                n.to_string(),
                v.split(',').map(|x| x.trim().to_string()).collect(),
            )),
            _ => Err(UsageError(format!(
                "{what} `{a}`: expected NAME=VALUE, e.g. {}",
                if what == "--interface" {
                    "eth1=dmz"
                } else {
                    "sg-0abc=storefront"
                }
            ))),
        })
        .collect()
}

/// Read every rule-set file and audit them as one firewall: the CLI's `ctxfw audit`.
pub fn run(
    loaded: &crate::Loaded,
    rulesets: &[std::path::PathBuf],
    format: Option<&str>,
    host: Option<String>,
    interfaces: &[String],
    binds: &[String],
) -> anyhow::Result<Report> {
    let req = Required::new(loaded);
    let t = &loaded.topology;
    let interfaces = pairs(interfaces, "--interface")?;
    for (_, zones) in &interfaces {
        for z in zones {
            if !t.zones.contains_key(z) {
                return Err(UsageError(format!(
                    "--interface: no zone `{z}` in {}; {}",
                    t.file.name,
                    crate::diag::choice_hint(z, t.zones.keys().map(String::as_str))
                ))
                .into());
            }
        }
    }
    let mut bind = Vec::new();
    for (n, v) in pairs(binds, "--bind")? {
        for x in v {
            if !t.components.contains_key(&x) && !t.zones.contains_key(&x) {
                return Err(UsageError(format!(
                    "--bind {n}={x}: no component or zone `{x}` in {}; {}",
                    t.file.name,
                    crate::diag::choice_hint(
                        &x,
                        t.components
                            .keys()
                            .chain(t.zones.keys())
                            .map(String::as_str)
                    )
                ))
                .into());
            }
            bind.push((n.clone(), x));
        }
    }
    let ctx = parse::Context {
        req: &req,
        interfaces,
        bind,
        locations: t
            .zones
            .values()
            .map(|z| (z.name.clone(), z.location))
            .collect(),
    };
    let format = format.and_then(parse::Format::parse);
    let mut model: Option<Model> = None;
    for path in rulesets {
        let m = parse::read(path, format, &ctx)?;
        match &mut model {
            Some(all) => all.merge(m),
            None => model = Some(m),
        }
    }
    let model = model.ok_or_else(|| UsageError("pass at least one --ruleset FILE".into()))?;
    let opts = Options { host };
    crate::generate::check_host(t, opts.host.as_deref())?;
    Ok(audit_required(&req, &model, &opts)?)
}

/// Audit `model` against the topology's flows.
pub fn audit(loaded: &crate::Loaded, model: &Model, opts: &Options) -> Result<Report, UsageError> {
    crate::generate::check_host(&loaded.topology, opts.host.as_deref())?;
    let req = Required::new(loaded);
    audit_required(&req, model, opts)
}

/// [`audit`] from the flows as spaces (the benchmark times this part).
pub fn audit_required(req: &Required, model: &Model, opts: &Options) -> Result<Report, UsageError> {
    let host = opts.host.as_deref();
    let points = points(model, opts)?;
    let infra = flows::infrastructure();
    let mut blocked: BTreeMap<(usize, By, String), (Vec<Cube>, String)> = BTreeMap::new();
    let mut too_open: BTreeMap<(String, By), Vec<Cube>> = BTreeMap::new();
    let mut unknown_flows: BTreeMap<RuleRef, (String, HashSet<usize>, Vec<Cube>)> = BTreeMap::new();
    let mut not_audited: BTreeMap<String, String> = BTreeMap::new();
    let mut reached: HashMap<RuleRef, bool> = HashMap::new();
    let mut shadowed: HashMap<RuleRef, Vec<(String, RuleRef)>> = HashMap::new();
    let mut checked: HashSet<usize> = HashSet::new();
    let flow_ev = Evaluator::new(model);
    let mut space_ev = Evaluator::new(model);
    space_ev.record = true;
    space_ev.need_drops = false;
    let mut scope_of_point: HashMap<String, Scope> = HashMap::new();
    for p in &points {
        scope_of_point.insert(p.label.clone(), p.scope.clone());
        let crossing: Vec<(usize, &Need)> = req
            .needs
            .iter()
            .enumerate()
            .filter(|(_, n)| req.crosses(n, &p.scope, host))
            .collect();
        // Everything the point allows between the topology's addresses, once; only the
        // families the rule set speaks for (the others are not audited, and said so).
        let mut w = Walk::default();
        let space: Vec<Cube> = req
            .scope_space(&p.scope, host)
            .into_iter()
            .filter(|c| model.families.contains(&c.fam))
            .collect();
        space_ev.point(&p.chains, space, false, &mut w);
        let accepted: Vec<Vec<Cube>> = w
            .decided
            .iter()
            .filter(|d| d.accept)
            .map(|d| vec![d.cube.clone()])
            .collect();
        let accepted_index = Index::new(&accepted);
        let maybe: Vec<Vec<Cube>> = w.maybe.iter().map(|m| vec![m.cube.clone()]).collect();
        let maybe_index = Index::new(&maybe);
        // Every required flow through this point.
        let mut required: Vec<Cube> = infra.clone();
        required.extend(loopback());
        required.extend(model.infrastructure.iter().cloned());
        for &(i, need) in &crossing {
            let (mine, others): (Vec<Cube>, Vec<Cube>) = need
                .cubes
                .iter()
                .cloned()
                .partition(|c| model.families.contains(&c.fam));
            for c in &others {
                not_audited.insert(
                    need.id.clone(),
                    format!(
                        "{} (the rule set has no {} rules)",
                        c.fam.name(),
                        c.fam.name()
                    ),
                );
            }
            if mine.is_empty() {
                continue;
            }
            checked.insert(i);
            required.extend(mine.iter().cloned());
            // A flow inside what the point accepts, where no unevaluable rule could change
            // that, is allowed; any other is evaluated on its own, to say what decides it.
            let meets_maybe = maybe_index
                .candidates(&mine)
                .unwrap_or_else(|| (0..maybe.len()).collect())
                .into_iter()
                .any(|k| mine.iter().any(|c| c.intersects(&maybe[k][0])));
            if !meets_maybe {
                let mut rest = mine.clone();
                let cands = accepted_index
                    .candidates(&rest)
                    .unwrap_or_else(|| (0..accepted.len()).collect());
                for k in cands {
                    if rest.iter().any(|x| x.intersects(&accepted[k][0])) {
                        rest = minus_all(rest, &accepted[k][0]);
                    }
                    if rest.is_empty() {
                        break;
                    }
                }
                if rest.is_empty() {
                    continue;
                }
            }
            let mut fw = Walk::default();
            flow_ev.point(&p.chains, mine, true, &mut fw);
            for d in &fw.decided {
                let (sure, unsure) = split_by_maybe(d, &fw.maybe);
                if !d.accept && !sure.is_empty() {
                    let e = blocked
                        .entry((i, d.by, p.label.clone()))
                        .or_insert_with(|| (Vec::new(), p.label.clone()));
                    e.0.extend(sure);
                }
                for (r, _) in unsure {
                    let e = unknown_flows
                        .entry(r)
                        .or_insert_with(|| (p.label.clone(), HashSet::new(), Vec::new()));
                    e.1.insert(i);
                }
            }
        }
        let index = Index::new(&required.iter().map(|c| vec![c.clone()]).collect::<Vec<_>>());
        for d in &w.decided {
            if !d.accept {
                continue;
            }
            let (sure, unsure) = split_by_maybe(d, &w.maybe);
            for s in sure {
                let extra = outside(s, &required, &index);
                if !extra.is_empty() {
                    too_open
                        .entry((p.label.clone(), d.by))
                        .or_default()
                        .extend(extra);
                }
            }
            for (r, x) in unsure {
                let extra = outside(x, &required, &index);
                let e = unknown_flows
                    .entry(r)
                    .or_insert_with(|| (p.label.clone(), HashSet::new(), Vec::new()));
                e.2.extend(extra);
            }
        }
        for m in &w.maybe {
            if m.accept == Some(false) {
                continue;
            }
            let extra = outside(m.cube.clone(), &required, &index);
            let e = unknown_flows
                .entry(m.rule)
                .or_insert_with(|| (p.label.clone(), HashSet::new(), Vec::new()));
            e.2.extend(extra);
        }
        for (r, cubes) in &w.reached {
            let used = cubes.iter().any(|c| {
                index
                    .candidates(std::slice::from_ref(c))
                    .unwrap_or_else(|| (0..required.len()).collect())
                    .into_iter()
                    .any(|i| required[i].intersects(c))
            });
            let e = reached.entry(*r).or_insert(false);
            *e |= used;
        }
        for (r, by) in &w.shadowed {
            shadowed
                .entry(*r)
                .or_default()
                .extend(by.iter().map(|b| (p.label.clone(), *b)));
        }
    }

    let scope = |label: &str| scope_of_point.get(label).cloned().unwrap_or(Scope::Forward);
    let blocked: Vec<Blocked> = blocked
        .into_iter()
        .map(|((i, by, _), (cubes, point))| {
            let need = &req.needs[i];
            let mut sel = Set::empty();
            let mut src: BTreeMap<Fam, Set> = BTreeMap::new();
            let mut dst: BTreeMap<Fam, Set> = BTreeMap::new();
            for c in &cubes {
                sel = sel.union(&c.sel);
                let s = src.entry(c.fam).or_default();
                *s = s.union(&c.src);
                let d = dst.entry(c.fam).or_default();
                *d = d.union(&c.dst);
            }
            let proto = need.cubes.first().map_or(0, |c| c.proto.lo() as u8);
            let texts = |m: &BTreeMap<Fam, Set>| -> Vec<String> {
                m.iter().flat_map(|(f, s)| nets_text(*f, s)).collect()
            };
            Blocked {
                flow: need.id.clone(),
                from: need.from.clone(),
                to: need.to.clone(),
                protocol: need.protocol.to_string(),
                ports: need.ports.clone(),
                purpose: need.purpose.clone(),
                source: need.source.clone(),
                blocked_ports: selector_text(proto, &sel),
                from_addresses: texts(&src),
                to_addresses: texts(&dst),
                by: rule_info(model, &point, by),
            }
        })
        .collect();
    let mut too_open: Vec<TooOpen> = too_open
        .into_iter()
        .filter_map(|((point, by), cubes)| {
            let (openings, more, size) = openings(req, &scope(&point), &cubes);
            if openings.is_empty() {
                return None;
            }
            Some(TooOpen {
                rule: rule_info(model, &point, by),
                size,
                openings,
                more,
            })
        })
        .collect();
    too_open.sort_by(|a, b| b.size.total_cmp(&a.size).then(a.rule.cmp(&b.rule)));
    let unknown: Vec<Unknown> = unknown_flows
        .into_iter()
        .filter_map(|(r, (point, flows, cubes))| {
            let (may_open, _, _) = openings(req, &scope(&point), &cubes);
            if flows.is_empty() && may_open.is_empty() {
                return None;
            }
            let mut ids: Vec<String> = flows.iter().map(|&i| req.needs[i].id.clone()).collect();
            ids.sort();
            Some(Unknown {
                rule: rule_info(model, &point, By::Rule(r)),
                why: model.chains[r.chain].rules[r.rule].unknown.clone(),
                flows: ids,
                may_open,
            })
        })
        .collect();
    // A rule is shadowed when no point's walk reached it; unused when it allows nothing the
    // flows need wherever it was reached.
    let point_of_chain = chain_points(model, &points);
    let mut shadowed_notes = Vec::new();
    let mut unused = Vec::new();
    for (c, chain) in model.chains.iter().enumerate() {
        let Some(point) = point_of_chain.get(&c) else {
            continue;
        };
        for (i, rule) in chain.rules.iter().enumerate() {
            let r = RuleRef { chain: c, rule: i };
            if rule.stateful_only || rule.implicit {
                continue;
            }
            match (reached.get(&r), shadowed.get(&r)) {
                (None, Some(by)) => {
                    let mut by: Vec<RuleInfo> = by
                        .iter()
                        .map(|(pt, b)| rule_info(model, pt, By::Rule(*b)))
                        .collect();
                    by.sort();
                    by.dedup();
                    shadowed_notes.push(RuleNote {
                        rule: rule_info(model, point, By::Rule(r)),
                        by,
                    });
                }
                (Some(false), _) | (None, None)
                    if rule.action == Action::Accept
                        && rule.unknown.is_empty()
                        && rule.space.iter().any(|c| req.families.contains(&c.fam)) =>
                {
                    unused.push(RuleNote {
                        rule: rule_info(model, point, By::Rule(r)),
                        by: Vec::new(),
                    });
                }
                _ => {}
            }
        }
    }
    let perspective = match &opts.host {
        Some(h) if points.iter().any(|p| p.scope != Scope::Forward) && is_host(&points) => {
            format!("host firewall of `{h}`")
        }
        _ if points.iter().all(|p| p.scope == Scope::Forward) => {
            "zone firewall (traffic between zones)".to_string()
        }
        _ => "security rules of the cloud networks".to_string(),
    };
    Ok(Report {
        topology: req.topology.clone(),
        ruleset: model.file.clone(),
        format: model.format.clone(),
        perspective,
        points: points.iter().map(|p| p.label.clone()).collect(),
        flows_checked: checked.len(),
        blocked,
        too_open,
        unknown,
        shadowed: shadowed_notes,
        unused,
        not_audited: not_audited
            .into_iter()
            .map(|(flow, why)| NotAudited { flow, why })
            .collect(),
        notes: model.notes.clone(),
    })
}

fn is_host(points: &[&model::Point]) -> bool {
    points.iter().all(|p| {
        matches!(
            p.scope,
            Scope::Inbound(Target::Host) | Scope::Outbound(Target::Host)
        )
    })
}

/// The first point (by label) each chain is reachable from, through jumps and gotos.
fn chain_points(model: &Model, points: &[&model::Point]) -> HashMap<usize, String> {
    let mut out: HashMap<usize, String> = HashMap::new();
    for p in points {
        let mut todo: Vec<usize> = p.chains.clone();
        while let Some(c) = todo.pop() {
            if out.contains_key(&c) {
                continue;
            }
            out.insert(c, p.label.clone());
            for r in &model.chains[c].rules {
                if let Action::Jump(t) | Action::Goto(t) = r.action {
                    todo.push(t);
                }
            }
        }
    }
    out
}

/// Loopback traffic: a host talking to itself, never between zones.
pub fn loopback() -> Vec<Cube> {
    let v4 = Set::range(0x7f00_0000, 0x7fff_ffff);
    let v6 = Set::point(1);
    vec![
        Cube {
            src: v4.clone(),
            ..Cube::all(Fam::V4)
        },
        Cube {
            dst: v4,
            ..Cube::all(Fam::V4)
        },
        Cube {
            src: v6.clone(),
            ..Cube::all(Fam::V6)
        },
        Cube {
            dst: v6,
            ..Cube::all(Fam::V6)
        },
    ]
}
