//! Evaluate a packet space against a rule set with the platform's semantics: first match in
//! order, jumps and gotos into other chains and returns from them, the base chain's policy, and
//! several base chains on one hook each having to accept.
//!
//! Spaces are evaluated whole. The space reaching a rule is what the input and the rule's match
//! share, less what earlier rules of the chain took; only rules whose match meets the input are
//! looked at (an index on the destination), so a small flow against a large rule set visits a
//! few rules, and the whole address space visits each rule once.

use crate::HashMap;

use super::index::Index;
use super::model::{Action, Model};
use super::space::{minus_all, Cube};

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
            let (_, rest) = self.walk(c, mine, want, 0, &[], &mut own);
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
        outer: &[Layer<'_>],
        w: &mut Walk,
    ) -> (Term, Option<Vec<Cube>>) {
        let chain = &self.model.chains[c];
        if input.is_empty() || depth > MAX_DEPTH {
            return (Term::Cubes(Vec::new()), want_rest.then(|| input.clone()));
        }
        let rules: Vec<usize> = self.index[c]
            .candidates(&input)
            .unwrap_or_else(|| (0..chain.rules.len()).collect());
        let mut st = ChainState {
            consumed: Consumed {
                by_rule: vec![None; chain.rules.len()],
                done: Vec::new(),
            },
            terminal: Vec::new(),
            all_terminal: false,
            returned: false,
        };
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
                && !st.returned
                && matches!(rule.action, Action::Drop | Action::Return)
                && !(self.need_drops && rule.action == Action::Drop)
                && input.iter().all(|x| rule.space.iter().any(|r| r.covers(x)));
            if catch_all {
                st.all_terminal = rule.action == Action::Drop;
                ended_by = Some(i);
                if self.record {
                    // Earlier rules may have taken all of it.
                    let layers = with(outer, (c, &st.consumed, i));
                    self.note_reach(w, me, &layers, &input, false);
                }
                st.consumed.push(i, input.clone());
                continue;
            }
            if let (Action::Jump(t) | Action::Goto(t), true) =
                (&rule.action, rule.unknown.is_empty())
            {
                let goto = matches!(rule.action, Action::Goto(_));
                let into = Into {
                    chain: c,
                    rule: i,
                    target: *t,
                    goto,
                    depth,
                };
                let layers = with(outer, (c, &st.consumed, i));
                let took = self.jump(into, reach, &layers, w, &mut st.terminal, &mut st.returned);
                st.consumed.push(i, took);
                continue;
            }
            let (reach, mut cut_by) = self.cut(c, &st.consumed, i, reach, &rule.space);
            // A verdict, and what a rule with an unknown condition might do, hold only for
            // what the chains that jumped here left: cut that out too. A return's pieces are
            // only cut by later rules here, which what it took again does not change.
            let (reach, outer_by) = match (&rule.action, rule.unknown.is_empty()) {
                (Action::Return, true) => (reach, Vec::new()),
                _ => self.cut_layers(outer, reach),
            };
            cut_by.extend(outer_by);
            if reach.is_empty() {
                if self.record && !rule.stateful_only {
                    w.shadowed.entry(me).or_default().extend(cut_by);
                }
                continue;
            }
            self.settle(me, reach, outer, &mut st, w);
        }
        // What falls off the end, returns or comes back from a goto: the caller's (a base
        // chain's policy).
        let rest = want_rest.then(|| {
            if st.all_terminal {
                Vec::new()
            } else {
                rest_of(input, &st.terminal)
            }
        });
        let term = if st.all_terminal {
            Term::All
        } else {
            Term::Cubes(st.terminal)
        };
        (term, rest)
    }

    /// What rule `me` does with `reach`, the part of the chain's input that reaches it after
    /// the rules above and the outer layers took theirs.
    fn settle(
        &self,
        me: RuleRef,
        reach: Vec<Cube>,
        outer: &[Layer<'_>],
        st: &mut ChainState,
        w: &mut Walk,
    ) {
        let rule = &self.model.chains[me.chain].rules[me.rule];
        let i = me.rule;
        if self.record {
            if rule.action == Action::Return {
                // Not cut by the outer layers above.
                self.note_reach(w, me, outer, &reach, true);
            } else {
                w.reached
                    .entry(me)
                    .or_default()
                    .extend(reach.iter().cloned());
            }
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
            return;
        }
        match &rule.action {
            Action::Accept | Action::Drop => {
                let accept = rule.action == Action::Accept;
                w.decided.extend(reach.iter().map(|cube| Decided {
                    cube: cube.clone(),
                    accept,
                    by: By::Rule(me),
                }));
                st.terminal.extend(reach.iter().cloned());
                st.consumed.push(i, reach);
            }
            Action::Jump(_) | Action::Goto(_) => unreachable!("walked above"),
            Action::Return => {
                st.returned = true;
                st.consumed.push(i, reach);
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
}

/// Pieces from which [`Evaluator::cut`] looks the cubes taken up in an index made for the
/// call instead of testing every pair: making it costs more than testing a few pieces (a rule
/// per flow), and far less than testing thousands (a concat set rule's elements).
const INDEXED_CUT: usize = 64;

/// [`Evaluator::cut`] testing every cube the `earlier` rules took against the pieces.
fn cut_pairwise<'a>(
    c: usize,
    earlier: &[usize],
    mut pieces: Vec<Cube>,
    taken: impl Fn(usize) -> &'a Vec<Cube>,
) -> (Vec<Cube>, Vec<RuleRef>) {
    let mut cut_by = Vec::new();
    for &j in earlier {
        let mut touched = false;
        for cc in taken(j) {
            if pieces.iter().any(|x| x.intersects(cc)) {
                touched = true;
                pieces = minus_all(pieces, cc);
            }
        }
        if touched {
            cut_by.push(RuleRef { chain: c, rule: j });
        }
        if pieces.is_empty() {
            break;
        }
    }
    (pieces, cut_by)
}

/// [`Evaluator::cut`] for many pieces: each piece less the cubes the `earlier` rules took that
/// an index says may meet it, in the order the rules took them. A piece is cut by each cube
/// in turn as the pairwise loop does, so the pieces left, their order and the rules that cut
/// some are the same.
fn cut_indexed<'a>(
    c: usize,
    earlier: &[usize],
    pieces: Vec<Cube>,
    taken: impl Fn(usize) -> &'a Vec<Cube>,
) -> (Vec<Cube>, Vec<RuleRef>) {
    // Every cube taken, with the position of its rule in `earlier`, in order.
    let cubes: Vec<(usize, &Cube)> = earlier
        .iter()
        .enumerate()
        .flat_map(|(k, &j)| taken(j).iter().map(move |cc| (k, cc)))
        .collect();
    let index = Index::of_cubes(cubes.iter().map(|(_, cc)| *cc));
    let mut touched = vec![false; earlier.len()];
    let mut left = Vec::new();
    for p in pieces {
        let candidates = index
            .candidates(std::slice::from_ref(&p))
            .unwrap_or_else(|| (0..cubes.len()).collect());
        let mut frags = vec![p];
        for t in candidates {
            let (k, cc) = cubes[t];
            if frags.iter().any(|x| x.intersects(cc)) {
                touched[k] = true;
                frags = minus_all(frags, cc);
                if frags.is_empty() {
                    break;
                }
            }
        }
        left.extend(frags);
    }
    let cut_by = earlier
        .iter()
        .zip(touched)
        .filter(|(_, t)| *t)
        .map(|(&j, _)| RuleRef { chain: c, rule: j })
        .collect();
    (left, cut_by)
}

/// What the walk through one chain has found so far.
struct ChainState {
    /// What each rule took, by rule; `done` lists them in order.
    consumed: Consumed,
    /// What the chain decided (accepted or dropped), here or in chains it jumped to.
    terminal: Vec<Cube>,
    /// A catch-all drop ended the chain: everything it got is decided.
    all_terminal: bool,
    /// Something left this chain without a verdict (a return, a goto's target returning).
    returned: bool,
}

/// `input` less every piece of `terminal`: what falls off a chain's end.
fn rest_of(input: Vec<Cube>, terminal: &[Cube]) -> Vec<Cube> {
    let mut rest = input;
    for t in terminal {
        if rest.iter().any(|x| x.intersects(t)) {
            rest = minus_all(rest, t);
        }
        if rest.is_empty() {
            break;
        }
    }
    rest
}

impl Evaluator<'_> {
    /// `pieces` less what the rules of chain `c` before rule `below` took, found through the
    /// chain's index by `probe`; with the rules that took some.
    fn cut(
        &self,
        c: usize,
        consumed: &Consumed,
        below: usize,
        pieces: Vec<Cube>,
        probe: &[Cube],
    ) -> (Vec<Cube>, Vec<RuleRef>) {
        let earlier = self.earlier(c, consumed, below, probe);
        let taken = |j: usize| consumed.by_rule[j].as_ref().expect("consumed");
        if pieces.len() >= INDEXED_CUT {
            cut_indexed(c, &earlier, pieces, taken)
        } else {
            cut_pairwise(c, &earlier, pieces, taken)
        }
    }

    /// The rules of chain `c` before `below` that took something, in order; only those whose
    /// match meets `probe` can have taken part of it.
    fn earlier(&self, c: usize, consumed: &Consumed, below: usize, probe: &[Cube]) -> Vec<usize> {
        match self.index[c].candidates(probe) {
            Some(v) => v
                .into_iter()
                .filter(|&j| j < below && consumed.by_rule[j].is_some())
                .collect(),
            None => consumed.done.clone(),
        }
    }

    /// The rules that took all of `pieces` before each layer's `below` (a chain and the chains
    /// that jumped to it), or `None` when some is left. Told at once when one piece is larger
    /// than all it shares with them (the whole space after a few thousand flows); else worked
    /// out by cutting.
    fn taken_by(&self, layers: &[Layer<'_>], pieces: &[Cube]) -> Option<Vec<RuleRef>> {
        let larger = pieces.iter().any(|p| {
            let probe = std::slice::from_ref(p);
            let mut taken = 0.0;
            for &(c, consumed, below) in layers {
                taken += self
                    .earlier(c, consumed, below, probe)
                    .into_iter()
                    .filter_map(|j| consumed.by_rule[j].as_ref())
                    .flatten()
                    .filter_map(|cc| p.intersect(cc))
                    .map(|x| x.size())
                    .sum::<f64>();
            }
            // A margin for rounding: the sizes of IPv6 spaces are floats.
            p.size() > taken * (1.0 + 1e-9) + 1.0
        });
        if larger {
            return None;
        }
        let (left, by) = self.cut_layers(layers, pieces.to_vec());
        left.is_empty().then_some(by)
    }

    /// Record rule `me` as reached by what is left of `pieces` after `layers` (with the pieces
    /// when `keep`), or as shadowed by the rules that took them all.
    fn note_reach(
        &self,
        w: &mut Walk,
        me: RuleRef,
        layers: &[Layer<'_>],
        pieces: &[Cube],
        keep: bool,
    ) {
        match self.taken_by(layers, pieces) {
            None => {
                let kept = if keep { pieces } else { &[] };
                w.reached
                    .entry(me)
                    .or_default()
                    .extend(kept.iter().cloned());
            }
            Some(by) => w.shadowed.entry(me).or_default().extend(by),
        }
    }

    /// `pieces` less what every layer's earlier rules took, with those rules.
    fn cut_layers(&self, layers: &[Layer<'_>], mut pieces: Vec<Cube>) -> (Vec<Cube>, Vec<RuleRef>) {
        let mut by = Vec::new();
        for &(c, consumed, below) in layers.iter().rev() {
            let probe = pieces.clone();
            let (kept, b) = self.cut(c, consumed, below, pieces, &probe);
            pieces = kept;
            by.extend(b);
            if pieces.is_empty() {
                break;
            }
        }
        (pieces, by)
    }

    /// A jump or goto whose match met the input. The target chain walks what the rule's match
    /// and the input share before the earlier rules' part is cut out, and cuts each of its
    /// findings by what every chain on the way took before it (`layers`): a jump at the end of
    /// a long chain would otherwise carry the whole space into the target in as many pieces as
    /// the earlier rules cut it into. Returns what the rule took.
    fn jump(
        &self,
        into: Into,
        coarse: Vec<Cube>,
        layers: &[Layer<'_>],
        w: &mut Walk,
        terminal: &mut Vec<Cube>,
        returned: &mut bool,
    ) -> Vec<Cube> {
        let Into {
            chain: c,
            rule: i,
            target,
            goto,
            depth,
        } = into;
        let me = RuleRef { chain: c, rule: i };
        if self.record {
            self.note_reach(w, me, layers, &coarse, false);
        }
        let term = self
            .walk(target, coarse.clone(), false, depth + 1, layers, w)
            .0;
        match (term, goto) {
            (Term::All, _) => {
                let reach = self.cut_layers(layers, coarse).0;
                terminal.extend(reach.iter().cloned());
                reach
            }
            (Term::Cubes(term), false) => {
                terminal.extend(term.iter().cloned());
                term
            }
            (Term::Cubes(term), true) => {
                *returned = true;
                terminal.extend(term);
                // A goto takes all it meets; what earlier rules took already is taken again,
                // which changes nothing later rules are cut by.
                coarse
            }
        }
    }
}

/// A chain that jumped on the way, with what its rules before the jump (`below`) took.
type Layer<'a> = (usize, &'a Consumed, usize);

/// `outer` and one more layer.
fn with<'a>(outer: &[Layer<'a>], layer: Layer<'a>) -> Vec<Layer<'a>> {
    let mut v = outer.to_vec();
    v.push(layer);
    v
}

/// Where a jump leads from.
#[derive(Clone, Copy)]
struct Into {
    chain: usize,
    rule: usize,
    target: usize,
    goto: bool,
    depth: usize,
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

#[cfg(test)]
mod tests {
    //! The walk against a packet-by-packet evaluation of small random rule sets: every packet
    //! of a tiny universe is run through the chains one at a time, as the kernel does.

    use super::*;
    use crate::audit::model::{Chain, Point, Rule, Scope};
    use crate::audit::space::{Fam, Set, TCP};
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// The universe: sources, destinations and ports 0..=5, TCP only.
    const N: u128 = 5;

    type Packet = (u128, u128, u128);

    fn cube(s: (u128, u128), d: (u128, u128), p: (u128, u128)) -> Cube {
        Cube {
            fam: Fam::V4,
            src: Set::range(s.0, s.1),
            dst: Set::range(d.0, d.1),
            proto: Set::point(TCP.into()),
            sel: Set::range(p.0, p.1),
        }
    }

    fn holds(c: &Cube, (s, d, p): Packet) -> bool {
        let has = |set: &Set, v: u128| set.ivs().iter().any(|&(a, b)| a <= v && v <= b);
        has(&c.src, s) && has(&c.dst, d) && has(&c.proto, TCP.into()) && has(&c.sel, p)
    }

    /// A chain's verdict for one packet (`None`: it falls off the end or returns), with every
    /// rule that matched it on the way.
    fn run(m: &Model, c: usize, p: Packet, hit: &mut HashSet<RuleRef>) -> Option<bool> {
        for (i, r) in m.chains[c].rules.iter().enumerate() {
            if !r.space.iter().any(|x| holds(x, p)) {
                continue;
            }
            hit.insert(RuleRef { chain: c, rule: i });
            match r.action {
                Action::Accept => return Some(true),
                Action::Drop => return Some(false),
                Action::Return => return None,
                Action::Jump(t) => {
                    if let Some(v) = run(m, t, p, hit) {
                        return Some(v);
                    }
                }
                Action::Goto(t) => return run(m, t, p, hit),
                _ => unreachable!("not generated"),
            }
        }
        None
    }

    fn range() -> impl Strategy<Value = (u128, u128)> {
        (0..=N, 0..=N).prop_map(|(a, b)| (a.min(b), a.max(b)))
    }

    /// A rule of chain `c` of `n`: jumps and gotos lead only to later chains (no loops).
    fn rule(c: usize, n: usize) -> impl Strategy<Value = Rule> {
        let later = (c + 1..n.max(c + 2)).collect::<Vec<_>>();
        let action = (0..5u8, proptest::sample::select(later)).prop_map(move |(k, t)| match k {
            0 if t < n => Action::Jump(t),
            1 if t < n => Action::Goto(t),
            2 if c > 0 => Action::Return,
            3 => Action::Drop,
            _ => Action::Accept,
        });
        let space = proptest::collection::vec((range(), range(), range()), 1..3);
        (space, action).prop_map(|(space, action)| {
            let space = space.into_iter().map(|(s, d, p)| cube(s, d, p)).collect();
            Rule::new(String::new(), String::new(), space, action)
        })
    }

    fn model() -> impl Strategy<Value = Model> {
        (1..4usize).prop_flat_map(|n| {
            let chains: Vec<_> = (0..n)
                .map(|c| proptest::collection::vec(rule(c, n), 0..7))
                .collect();
            (chains, any::<bool>()).prop_map(move |(rules, accept)| Model {
                chains: rules
                    .into_iter()
                    .enumerate()
                    .map(|(c, rules)| Chain {
                        name: format!("c{c}"),
                        rules,
                        policy: (c == 0).then_some(accept),
                        policy_label: String::new(),
                        families: vec![Fam::V4],
                    })
                    .collect(),
                points: vec![Point {
                    scope: Scope::Forward,
                    chains: vec![0],
                    label: "p".into(),
                }],
                ..Model::default()
            })
        })
    }

    /// A cube of a wider universe (addresses 0..=4095 in networks of a few sizes, ports 0..=99),
    /// as a concat set's elements are: many small ones and some wide ones.
    fn wide_cube() -> impl Strategy<Value = Cube> {
        let net = (0..4096u128, 0..13u32).prop_map(|(a, bits)| {
            let lo = a >> bits << bits;
            (lo, lo + (1 << bits) - 1)
        });
        let ports = (0..100u128, 0..100u128).prop_map(|(a, b)| (a.min(b), a.max(b)));
        (net.clone(), net, ports).prop_map(|(s, d, p)| cube(s, d, p))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The indexed cut leaves the same pieces, in the same order, and names the same rules
        /// as testing every pair.
        #[test]
        fn the_indexed_cut_is_the_pairwise_cut(
            pieces in proptest::collection::vec(wide_cube(), 0..300),
            taken in proptest::collection::vec(proptest::collection::vec(wide_cube(), 0..200), 0..6),
        ) {
            let earlier: Vec<usize> = (0..taken.len()).collect();
            let by = |j: usize| &taken[j];
            let pairwise = cut_pairwise(0, &earlier, pieces.clone(), by);
            let indexed = cut_indexed(0, &earlier, pieces, by);
            prop_assert_eq!(indexed, pairwise);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn the_walk_decides_every_packet_as_the_chains_do(m in model()) {
            let mut hit = HashSet::new();
            let mut verdict = std::collections::BTreeMap::new();
            for s in 0..=N {
                for d in 0..=N {
                    for p in 0..=N {
                        let v = run(&m, 0, (s, d, p), &mut hit).unwrap_or(m.chains[0].policy == Some(true));
                        verdict.insert((s, d, p), v);
                    }
                }
            }
            for (record, need_drops) in [(true, false), (false, true)] {
                let mut ev = Evaluator::new(&m);
                ev.record = record;
                ev.need_drops = need_drops;
                let mut w = Walk::default();
                ev.point(&[0], vec![cube((0, N), (0, N), (0, N))], true, &mut w);
                for (&p, &v) in &verdict {
                    let accepted = w.decided.iter().any(|d| d.accept && holds(&d.cube, p));
                    prop_assert_eq!(accepted, v, "packet {:?}", p);
                    if need_drops && !v {
                        prop_assert!(w.decided.iter().any(|d| !d.accept && holds(&d.cube, p)));
                    }
                }
                if record {
                    for (c, chain) in m.chains.iter().enumerate() {
                        for rule in 0..chain.rules.len() {
                            let r = RuleRef { chain: c, rule };
                            prop_assert_eq!(w.reached.contains_key(&r), hit.contains(&r), "{:?}", r);
                        }
                    }
                }
            }
        }
    }
}
