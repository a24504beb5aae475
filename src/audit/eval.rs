//! Evaluate a packet space against a rule set with the platform's semantics: first match in
//! order, jumps and gotos into other chains and returns from them, the base chain's policy, and
//! several base chains on one hook each having to accept.
//!
//! Spaces are evaluated whole. The space reaching a rule is what the input and the rule's match
//! share, less what earlier rules of the chain took; only rules whose match meets the input are
//! looked at (an index on the destination), so a small flow against a large rule set visits a
//! few rules, and the whole address space visits each rule once.

use crate::HashMap;

use super::model::{Action, Model};
use super::space::{minus_all, Cube, Fam, Set};

/// A rule by chain and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef {
    pub chain: usize,
    pub rule: usize,
}

/// What decided a piece of space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum By {
    Rule(RuleRef),
    /// A base chain's policy.
    Policy(usize),
}

#[derive(Debug, Clone)]
pub struct Decided {
    pub cube: Cube,
    pub accept: bool,
    pub by: By,
}

/// A piece a rule with an unevaluable condition would decide if the condition held.
#[derive(Debug, Clone)]
pub struct Maybe {
    pub cube: Cube,
    pub rule: RuleRef,
    /// The verdict it would give; `None` when that cannot be said either (a jump).
    pub accept: Option<bool>,
}

/// Everything one evaluation found.
#[derive(Debug, Default)]
pub struct Walk {
    pub decided: Vec<Decided>,
    pub maybe: Vec<Maybe>,
    /// Per rule, the space that reached it (only when recording).
    pub reached: HashMap<RuleRef, Vec<Cube>>,
    /// Rules whose match met the input but that nothing reached, with the earlier rules that
    /// took their space.
    pub shadowed: HashMap<RuleRef, Vec<RuleRef>>,
}

/// Items (rules, flows) by the destination interval of their cubes, to find those that may
/// meet a space without looking at every one.
pub struct DstIndex {
    /// Index the source interval instead of the destination.
    src: bool,
    /// Per family: rule cubes by level (common prefix bits of the interval's ends) and the
    /// block they fall in.
    buckets: std::collections::BTreeMap<(Fam, u32, u128), Vec<usize>>,
    levels: HashMap<Fam, Vec<u32>>,
    /// Rules that match nothing known (unknown-only rules are still looked at).
    always: Vec<usize>,
}

/// The intervals a set is indexed and looked up by: each of them (the internet, every address
/// in no zone, is hundreds of intervals with the zones in its gaps), or the whole span of a
/// set of very many.
fn spans(set: &Set) -> Vec<(u128, u128)> {
    const MAX_SPANS: usize = 1024;
    if set.ivs().len() <= MAX_SPANS {
        set.ivs().to_vec()
    } else {
        vec![(set.lo(), set.hi())]
    }
}

fn level_of(fam: Fam, lo: u128, hi: u128) -> u32 {
    let common = (lo ^ hi).leading_zeros();
    let skip = 128 - fam.bits();
    common.saturating_sub(skip).min(fam.bits())
}

fn key(fam: Fam, level: u32, v: u128) -> u128 {
    let shift = fam.bits() - level;
    if shift >= 128 {
        0
    } else {
        v >> shift
    }
}

impl DstIndex {
    /// Item `i` is the `i`th list of cubes; an empty list is always a candidate.
    pub fn new<'a>(items: impl Iterator<Item = &'a [Cube]>) -> DstIndex {
        DstIndex::on(items, false)
    }

    /// The same on the source interval.
    pub fn new_src<'a>(items: impl Iterator<Item = &'a [Cube]>) -> DstIndex {
        DstIndex::on(items, true)
    }

    fn on<'a>(items: impl Iterator<Item = &'a [Cube]>, src: bool) -> DstIndex {
        let mut buckets: std::collections::BTreeMap<(Fam, u32, u128), Vec<usize>> =
            Default::default();
        let mut levels: HashMap<Fam, Vec<u32>> = HashMap::default();
        let mut always = Vec::new();
        for (i, space) in items.enumerate() {
            if space.is_empty() {
                always.push(i);
            }
            for c in space {
                let set = if src { &c.src } else { &c.dst };
                for (lo, hi) in spans(set) {
                    let l = level_of(c.fam, lo, hi);
                    let v = buckets.entry((c.fam, l, key(c.fam, l, lo))).or_default();
                    if v.last() != Some(&i) {
                        v.push(i);
                    }
                    let ls = levels.entry(c.fam).or_default();
                    if !ls.contains(&l) {
                        ls.push(l);
                    }
                }
            }
        }
        DstIndex {
            src,
            buckets,
            levels,
            always,
        }
    }

    /// Items whose cubes may meet the input, in order; `None`: too wide to ask, look at all.
    pub fn candidates(&self, input: &[Cube]) -> Option<Vec<usize>> {
        let mut v = self.unsorted(input, usize::MAX)?;
        v.sort_unstable();
        v.dedup();
        Some(v)
    }

    /// [`DstIndex::candidates`], in no order and with repeats; `None` past `cap` items.
    fn unsorted(&self, input: &[Cube], cap: usize) -> Option<Vec<usize>> {
        let mut out = self.always.clone();
        for c in input {
            let set = if self.src { &c.src } else { &c.dst };
            for (lo, hi) in spans(set) {
                for &l in self.levels.get(&c.fam).map(Vec::as_slice).unwrap_or(&[]) {
                    let (ka, kb) = (key(c.fam, l, lo), key(c.fam, l, hi));
                    for (_, v) in self.buckets.range((c.fam, l, ka)..=(c.fam, l, kb)) {
                        out.extend_from_slice(v);
                    }
                    if out.len() > cap {
                        return None;
                    }
                }
            }
        }
        Some(out)
    }
}

/// Items by destination, and by source for a query whose destinations are too wide to ask
/// (flows to the internet).
pub struct Index {
    dst: DstIndex,
    src: DstIndex,
}

impl Index {
    pub fn new(items: &[Vec<Cube>]) -> Index {
        Index {
            dst: DstIndex::new(items.iter().map(Vec::as_slice)),
            src: DstIndex::new_src(items.iter().map(Vec::as_slice)),
        }
    }

    fn of_rules(rules: &[super::model::Rule]) -> Index {
        Index {
            dst: DstIndex::new(rules.iter().map(|r| r.space.as_slice())),
            src: DstIndex::new_src(rules.iter().map(|r| r.space.as_slice())),
        }
    }

    /// Items that may meet the input, in order: those of the shorter of the lists by
    /// destination and by source (a query to or from the internet is wide on one side only);
    /// `None`: look at all.
    pub fn candidates(&self, input: &[Cube]) -> Option<Vec<usize>> {
        // A list longer than this is not worth making: the other side's, or every item.
        const CAP: usize = 4096;
        let d = self.dst.unsorted(input, CAP);
        let cap = d.as_ref().map_or(CAP, Vec::len);
        let mut out = match (d, self.src.unsorted(input, cap)) {
            (Some(d), Some(s)) if s.len() < d.len() => s,
            (Some(d), _) => d,
            (None, s) => s?,
        };
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

/// A model with an index per chain, ready to evaluate.
pub struct Evaluator<'m> {
    pub model: &'m Model,
    index: Vec<Index>,
    /// Record per-rule reach and shadowing (the whole-space walk only).
    pub record: bool,
    /// Work out what catch-all drops take piece by piece (to say what blocks a flow).
    pub need_drops: bool,
}

const MAX_DEPTH: usize = 64;

impl<'m> Evaluator<'m> {
    pub fn new(model: &'m Model) -> Evaluator<'m> {
        Evaluator {
            model,
            index: model
                .chains
                .iter()
                .map(|c| Index::of_rules(&c.rules))
                .collect(),
            record: false,
            need_drops: true,
        }
    }

    /// Evaluate `input` through a point's chains: what each one drops is final, what it
    /// accepts meets the next. `leftover`: also work out what falls to a drop policy (the
    /// whole-space walk skips it: nothing there is allowed).
    pub fn point(&self, chains: &[usize], input: Vec<Cube>, leftover: bool, w: &mut Walk) {
        // Each piece with what accepted it last (a chain that does not see its family lets
        // it pass without deciding anything).
        let mut pass: Vec<(Cube, Option<By>)> = input.into_iter().map(|c| (c, None)).collect();
        let last = chains.len().saturating_sub(1);
        for (k, &c) in chains.iter().enumerate() {
            let chain = &self.model.chains[c];
            let (mine, other): (Vec<_>, Vec<_>) = pass
                .into_iter()
                .partition(|(x, _)| chain.families.contains(&x.fam));
            let mut own = Walk::default();
            let want = leftover || chain.policy == Some(true);
            let mine: Vec<Cube> = mine.into_iter().map(|(x, _)| x).collect();
            let (_, rest) = self.walk(c, mine, want, 0, &mut own);
            if let Some(rest) = rest {
                let accept = chain.policy.unwrap_or(true);
                own.decided.extend(rest.into_iter().map(|cube| Decided {
                    cube,
                    accept,
                    by: By::Policy(c),
                }));
            }
            w.maybe.append(&mut own.maybe);
            for (r, v) in own.reached {
                w.reached.entry(r).or_default().extend(v);
            }
            for (r, v) in own.shadowed {
                w.shadowed.entry(r).or_default().extend(v);
            }
            pass = Vec::new();
            for d in own.decided {
                if d.accept && k < last {
                    pass.push((d.cube, Some(d.by)));
                } else {
                    w.decided.push(d);
                }
            }
            if k < last {
                pass.extend(other);
            } else {
                // A family no chain of the point sees is not filtered here: it passes.
                w.decided
                    .extend(other.into_iter().map(|(cube, by)| Decided {
                        cube,
                        accept: true,
                        by: by.unwrap_or(By::Policy(c)),
                    }));
            }
        }
    }

    /// One chain: the space its rules decide (accept or drop) and, when asked, what falls
    /// off its end.
    fn walk(
        &self,
        c: usize,
        input: Vec<Cube>,
        want_rest: bool,
        depth: usize,
        w: &mut Walk,
    ) -> (Term, Option<Vec<Cube>>) {
        let chain = &self.model.chains[c];
        if input.is_empty() || depth > MAX_DEPTH {
            return (Term::Cubes(Vec::new()), want_rest.then(|| input.clone()));
        }
        let rules: Vec<usize> = self.index[c]
            .candidates(&input)
            .unwrap_or_else(|| (0..chain.rules.len()).collect());
        // What each rule took, by rule; `done` lists them in order.
        let mut consumed = Consumed {
            by_rule: vec![None; chain.rules.len()],
            done: Vec::new(),
        };
        let mut terminal: Vec<Cube> = Vec::new();
        let mut all_terminal = false;
        // Something left this chain without a verdict (a return, a goto's target returning).
        let mut returned = false;
        let mut ended_by: Option<usize> = None;
        for i in rules {
            let rule = &chain.rules[i];
            let me = RuleRef { chain: c, rule: i };
            let meets = |x: &Cube| rule.space.iter().any(|r| r.intersects(x));
            if let Some(e) = ended_by {
                if self.record && !rule.stateful_only && input.iter().any(meets) {
                    w.shadowed
                        .entry(me)
                        .or_default()
                        .push(RuleRef { chain: c, rule: e });
                }
                continue;
            }
            let mut reach: Vec<Cube> = Vec::new();
            for x in &input {
                for r in &rule.space {
                    if let Some(y) = x.intersect(r) {
                        reach.push(y);
                    }
                }
            }
            if reach.is_empty() || rule.action == Action::Continue {
                // A rule without a verdict (log, counter) decides nothing.
                continue;
            }
            // A terminal rule that matches the whole input ends the chain: the rest of the
            // input is its, and nothing after it is reached. Without `need_drops` a drop there
            // is not cut into pieces (the whole-space walk: nothing dropped matters, and the
            // rest of a large rule set's space is many pieces).
            let catch_all = rule.unknown.is_empty()
                && !returned
                && matches!(rule.action, Action::Drop | Action::Return)
                && !(self.need_drops && rule.action == Action::Drop)
                && input.iter().all(|x| rule.space.iter().any(|r| r.covers(x)));
            if catch_all {
                all_terminal = rule.action == Action::Drop;
                ended_by = Some(i);
                if self.record {
                    w.reached.entry(me).or_default();
                }
                consumed.push(i, input.clone());
                continue;
            }
            let mut cut_by = Vec::new();
            // Only earlier rules whose match meets this one's can have taken part of it.
            let earlier: Vec<usize> = match self.index[c].candidates(&rule.space) {
                Some(v) => v
                    .into_iter()
                    .filter(|&j| j < i && consumed.by_rule[j].is_some())
                    .collect(),
                None => consumed.done.clone(),
            };
            for j in earlier {
                let cs = consumed.by_rule[j].as_ref().expect("consumed");
                let mut touched = false;
                for cc in cs {
                    if reach.iter().any(|x| x.intersects(cc)) {
                        touched = true;
                        reach = minus_all(reach, cc);
                    }
                }
                if touched {
                    cut_by.push(RuleRef { chain: c, rule: j });
                }
                if reach.is_empty() {
                    break;
                }
            }
            if reach.is_empty() {
                if self.record && !rule.stateful_only {
                    w.shadowed.entry(me).or_default().extend(cut_by);
                }
                continue;
            }
            if self.record {
                w.reached
                    .entry(me)
                    .or_default()
                    .extend(reach.iter().cloned());
            }
            if !rule.unknown.is_empty() {
                let accept = match rule.action {
                    Action::Accept => Some(true),
                    Action::Drop => Some(false),
                    _ => None,
                };
                w.maybe.extend(reach.into_iter().map(|cube| Maybe {
                    cube,
                    rule: me,
                    accept,
                }));
                continue;
            }
            match &rule.action {
                Action::Accept | Action::Drop => {
                    let accept = rule.action == Action::Accept;
                    w.decided.extend(reach.iter().map(|cube| Decided {
                        cube: cube.clone(),
                        accept,
                        by: By::Rule(me),
                    }));
                    terminal.extend(reach.iter().cloned());
                    consumed.push(i, reach);
                }
                Action::Jump(t) => match self.walk(*t, reach.clone(), false, depth + 1, w).0 {
                    Term::All => {
                        terminal.extend(reach.iter().cloned());
                        consumed.push(i, reach);
                    }
                    Term::Cubes(term) => {
                        terminal.extend(term.iter().cloned());
                        consumed.push(i, term);
                    }
                },
                Action::Goto(t) => {
                    match self.walk(*t, reach.clone(), false, depth + 1, w).0 {
                        Term::All => terminal.extend(reach.iter().cloned()),
                        Term::Cubes(term) => {
                            returned = true;
                            terminal.extend(term);
                        }
                    }
                    consumed.push(i, reach);
                }
                Action::Return => {
                    returned = true;
                    consumed.push(i, reach);
                }
                Action::Continue => {}
                Action::Unknown(_) => {
                    w.maybe.extend(reach.into_iter().map(|cube| Maybe {
                        cube,
                        rule: me,
                        accept: None,
                    }));
                }
            }
        }
        let rest = want_rest.then(|| {
            if ended_by.is_some() {
                return Vec::new();
            }
            let mut rest = input;
            for &j in &consumed.done {
                for cc in consumed.by_rule[j].as_deref().unwrap_or(&[]) {
                    if rest.iter().any(|x| x.intersects(cc)) {
                        rest = minus_all(rest, cc);
                    }
                }
                if rest.is_empty() {
                    break;
                }
            }
            rest
        });
        let term = if all_terminal {
            Term::All
        } else {
            Term::Cubes(terminal)
        };
        (term, rest)
    }
}

/// The space each rule of a chain took from its input.
struct Consumed {
    by_rule: Vec<Option<Vec<Cube>>>,
    done: Vec<usize>,
}

impl Consumed {
    fn push(&mut self, rule: usize, cubes: Vec<Cube>) {
        match &mut self.by_rule[rule] {
            Some(v) => v.extend(cubes),
            None => {
                self.by_rule[rule] = Some(cubes);
                self.done.push(rule);
            }
        }
    }
}

/// What a chain decided of its input.
enum Term {
    /// Every piece (a catch-all drop ended it).
    All,
    Cubes(Vec<Cube>),
}
