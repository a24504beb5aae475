//! What auditing finds at each point of a rule set (required flows it blocks, space it opens
//! beyond them, rules whose effect cannot be evaluated, rules never reached), and the report's
//! lists made of it.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::eval::{By, Decided, Evaluator, Maybe, RuleRef, Walk};
use super::flows::{Need, Required};
use super::index::Index;
use super::model::{self, Action, Model, Scope};
use super::space::{self, iv_nets, minus_all, Cube, Fam, Set, ICMP, ICMPV6, SEL_MAX};
use super::{Blocked, Opening, RuleInfo, RuleNote, TooOpen, Unknown, MAX_OPENINGS};

/// What the audit evaluates with: the flows, the rule set, whose host firewall it is.
pub(super) struct Auditor<'a> {
    req: &'a Required,
    model: &'a Model,
    host: Option<&'a str>,
    /// The ICMP every network needs (errors, path MTU, IPv6 neighbour discovery): counted as
    /// required at every point.
    infra: Vec<Cube>,
    /// Evaluates one required flow, to say what decides it.
    flow_ev: Evaluator<'a>,
    /// Walks a point's whole space once, recording which rules the space reaches.
    space_ev: Evaluator<'a>,
}

impl<'a> Auditor<'a> {
    pub fn new(req: &'a Required, model: &'a Model, host: Option<&'a str>) -> Auditor<'a> {
        let mut space_ev = Evaluator::new(model);
        space_ev.record = true;
        space_ev.need_drops = false;
        Auditor {
            req,
            model,
            host,
            infra: super::flows::infrastructure(),
            flow_ev: Evaluator::new(model),
            space_ev,
        }
    }
}

/// A rule whose effect cannot be evaluated: the point it was met at, the required flows it
/// decides, and the space it may open beyond them.
type UnknownRule = (String, HashSet<usize>, Vec<Cube>);

/// What the walks of every point found, before it is put in words.
#[derive(Default)]
pub(super) struct Findings {
    /// (required flow, what blocks it, point) -> the pieces blocked, and the point.
    blocked: BTreeMap<(usize, By, String), (Vec<Cube>, String)>,
    /// (point, accepting rule) -> what it accepts beyond the required flows.
    too_open: BTreeMap<(String, By), Vec<Cube>>,
    unknown: BTreeMap<RuleRef, UnknownRule>,
    /// Required flows of a family the rule set has no rules for, and why.
    pub not_audited: BTreeMap<String, String>,
    /// Rules some walk reached, and whether they allowed a required flow there.
    reached: HashMap<RuleRef, bool>,
    /// Rules a walk found shadowed, with the rules (and points) before them that take all.
    shadowed: HashMap<RuleRef, Vec<(String, RuleRef)>>,
    /// The required flows evaluated at some point.
    pub checked: HashSet<usize>,
    scope_of_point: HashMap<String, Scope>,
}

impl Findings {
    /// Audit point `p`: the required flows through it, then what it allows beyond them.
    pub fn point(&mut self, a: &Auditor<'_>, p: &model::Point) {
        self.scope_of_point.insert(p.label.clone(), p.scope.clone());
        // Everything the point allows between the topology's addresses, once; only the
        // families the rule set speaks for (the others are not audited, and said so).
        let mut w = Walk::default();
        let space: Vec<Cube> = a
            .req
            .scope_space(&p.scope, a.host)
            .into_iter()
            .filter(|c| a.model.families.contains(&c.fam))
            .collect();
        a.space_ev.point(&p.chains, space, false, &mut w);
        let required = self.required_through(a, p, &w);
        self.beyond_required(p, &w, required);
    }

    /// Evaluate every required flow through `p` whose fate the whole-space walk `w` does not
    /// settle; returns every required flow through `p`.
    fn required_through(&mut self, a: &Auditor<'_>, p: &model::Point, w: &Walk) -> Vec<Cube> {
        let accepted: Vec<Vec<Cube>> = w
            .decided
            .iter()
            .filter(|d| d.accept)
            .map(|d| vec![d.cube.clone()])
            .collect();
        let accepted_index = Index::new(&accepted);
        let maybe: Vec<Vec<Cube>> = w.maybe.iter().map(|m| vec![m.cube.clone()]).collect();
        let maybe_index = Index::new(&maybe);
        let mut required: Vec<Cube> = a.infra.clone();
        required.extend(super::loopback());
        required.extend(a.model.infrastructure.iter().cloned());
        let crossing = a
            .req
            .needs
            .iter()
            .enumerate()
            .filter(|(_, n)| a.req.crosses(n, &p.scope, a.host));
        for (i, need) in crossing {
            let mine = self.audited_part(a.model, need);
            if mine.is_empty() {
                continue;
            }
            self.checked.insert(i);
            required.extend(mine.iter().cloned());
            // A flow inside what the point accepts, where no unevaluable rule could change
            // that, is allowed; any other is evaluated on its own, to say what decides it.
            let meets_maybe = maybe_index
                .candidates(&mine)
                .unwrap_or_else(|| (0..maybe.len()).collect())
                .into_iter()
                .any(|k| mine.iter().any(|c| c.intersects(&maybe[k][0])));
            if !meets_maybe && outside(mine.clone(), &accepted, &accepted_index).is_empty() {
                continue;
            }
            self.evaluate(a, p, i, mine);
        }
        required
    }

    /// The pieces of `need` in the families the rule set has rules for; the others are noted
    /// as not audited.
    fn audited_part(&mut self, model: &Model, need: &Need) -> Vec<Cube> {
        let (mine, others): (Vec<Cube>, Vec<Cube>) = need
            .cubes
            .iter()
            .cloned()
            .partition(|c| model.families.contains(&c.fam));
        for c in &others {
            self.not_audited.insert(
                need.id.clone(),
                format!(
                    "{} (the rule set has no {} rules)",
                    c.fam.name(),
                    c.fam.name()
                ),
            );
        }
        mine
    }

    /// Required flow `i` (as `cubes`) through `p` on its own: what blocks it, and which
    /// unevaluable rules decide it.
    fn evaluate(&mut self, a: &Auditor<'_>, p: &model::Point, i: usize, cubes: Vec<Cube>) {
        let mut fw = Walk::default();
        a.flow_ev.point(&p.chains, cubes, true, &mut fw);
        for d in &fw.decided {
            let (sure, unsure) = split_by_maybe(d, &fw.maybe);
            if !d.accept && !sure.is_empty() {
                let e = self
                    .blocked
                    .entry((i, d.by, p.label.clone()))
                    .or_insert_with(|| (Vec::new(), p.label.clone()));
                e.0.extend(sure);
            }
            for (r, _) in unsure {
                self.unknown_at(r, p).1.insert(i);
            }
        }
    }

    fn unknown_at(&mut self, r: RuleRef, p: &model::Point) -> &mut UnknownRule {
        self.unknown
            .entry(r)
            .or_insert_with(|| (p.label.clone(), HashSet::new(), Vec::new()))
    }

    /// What `p` accepts outside the `required` flows (surely, or through an unevaluable rule),
    /// and which of its rules were reached or shadowed.
    fn beyond_required(&mut self, p: &model::Point, w: &Walk, required: Vec<Cube>) {
        // One piece per item, as the index takes them.
        let required: Vec<Vec<Cube>> = required.into_iter().map(|c| vec![c]).collect();
        let index = Index::new(&required);
        for d in w.decided.iter().filter(|d| d.accept) {
            let (sure, unsure) = split_by_maybe(d, &w.maybe);
            for s in sure {
                let extra = outside(vec![s], &required, &index);
                if !extra.is_empty() {
                    self.too_open
                        .entry((p.label.clone(), d.by))
                        .or_default()
                        .extend(extra);
                }
            }
            for (r, x) in unsure {
                let extra = outside(vec![x], &required, &index);
                self.unknown_at(r, p).2.extend(extra);
            }
        }
        for m in w.maybe.iter().filter(|m| m.accept != Some(false)) {
            let extra = outside(vec![m.cube.clone()], &required, &index);
            self.unknown_at(m.rule, p).2.extend(extra);
        }
        for (r, cubes) in &w.reached {
            let used = cubes.iter().any(|c| {
                index
                    .candidates(std::slice::from_ref(c))
                    .unwrap_or_else(|| (0..required.len()).collect())
                    .into_iter()
                    .any(|i| required[i][0].intersects(c))
            });
            *self.reached.entry(*r).or_insert(false) |= used;
        }
        for (r, by) in &w.shadowed {
            self.shadowed
                .entry(*r)
                .or_default()
                .extend(by.iter().map(|b| (p.label.clone(), *b)));
        }
    }

    fn scope(&self, label: &str) -> Scope {
        self.scope_of_point
            .get(label)
            .cloned()
            .unwrap_or(Scope::Forward)
    }

    /// The required flows blocked, each with what blocks it.
    pub fn blocked(&self, req: &Required, model: &Model) -> Vec<Blocked> {
        self.blocked
            .iter()
            .map(|((i, by, _), (cubes, point))| {
                let need = &req.needs[*i];
                let mut sel = Set::empty();
                let mut src: BTreeMap<Fam, Set> = BTreeMap::new();
                let mut dst: BTreeMap<Fam, Set> = BTreeMap::new();
                for c in cubes {
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
                    by: rule_info(model, point, *by),
                }
            })
            .collect()
    }

    /// The rules that accept more than the flows need, the widest first.
    pub fn too_open(&self, req: &Required, model: &Model) -> Vec<TooOpen> {
        let mut too_open: Vec<TooOpen> = self
            .too_open
            .iter()
            .filter_map(|((point, by), cubes)| {
                let (openings, more, size) = openings(req, &self.scope(point), cubes);
                if openings.is_empty() {
                    return None;
                }
                Some(TooOpen {
                    rule: rule_info(model, point, *by),
                    size,
                    openings,
                    more,
                })
            })
            .collect();
        too_open.sort_by(|a, b| b.size.total_cmp(&a.size).then(a.rule.cmp(&b.rule)));
        too_open
    }

    /// The unevaluable rules that decide a required flow or may open more.
    pub fn unknown(&self, req: &Required, model: &Model) -> Vec<Unknown> {
        self.unknown
            .iter()
            .filter_map(|(r, (point, flows, cubes))| {
                let (may_open, _, _) = openings(req, &self.scope(point), cubes);
                if flows.is_empty() && may_open.is_empty() {
                    return None;
                }
                let mut ids: Vec<String> = flows.iter().map(|&i| req.needs[i].id.clone()).collect();
                ids.sort();
                Some(Unknown {
                    rule: rule_info(model, point, By::Rule(*r)),
                    why: model.chains[r.chain].rules[r.rule].unknown.clone(),
                    flows: ids,
                    may_open,
                })
            })
            .collect()
    }

    /// The rules no walk reached (shadowed) and the accepting rules that allow nothing the
    /// flows need wherever they were reached (unused).
    pub fn rule_notes(
        &self,
        req: &Required,
        model: &Model,
        points: &[&model::Point],
    ) -> (Vec<RuleNote>, Vec<RuleNote>) {
        let point_of_chain = chain_points(model, points);
        let mut shadowed = Vec::new();
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
                match (self.reached.get(&r), self.shadowed.get(&r)) {
                    (None, Some(by)) => {
                        let mut by: Vec<RuleInfo> = by
                            .iter()
                            .map(|(pt, b)| rule_info(model, pt, By::Rule(*b)))
                            .collect();
                        by.sort();
                        by.dedup();
                        shadowed.push(RuleNote {
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
        (shadowed, unused)
    }
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

/// A set of numbers as `1,3-5`.
fn ranges(s: &Set) -> String {
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
}

/// `tcp`, the flow's ports or ICMP types as text.
fn selector_text(proto: u8, sel: &Set) -> String {
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
                ("other IP protocols".to_string(), ranges(&sel))
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

/// The space of `rest` outside every piece of `cuts` (one piece each, found through `index`).
fn outside(mut rest: Vec<Cube>, cuts: &[Vec<Cube>], index: &Index) -> Vec<Cube> {
    let cands = index
        .candidates(&rest)
        .unwrap_or_else(|| (0..cuts.len()).collect());
    for k in cands {
        if rest.iter().any(|x| x.intersects(&cuts[k][0])) {
            rest = minus_all(rest, &cuts[k][0]);
        }
        if rest.is_empty() {
            break;
        }
    }
    rest
}
