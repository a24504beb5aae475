//! Rules, flows and cubes by the intervals of their cubes' addresses, so that a walk or a
//! finding looks only at the items that may meet a space instead of at every one.

use crate::HashMap;

use super::space::{Cube, Fam, Set};

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

    /// Each cube its own item.
    pub(super) fn of_cubes<'a>(cubes: impl Iterator<Item = &'a Cube> + Clone) -> Index {
        Index {
            dst: DstIndex::new(cubes.clone().map(std::slice::from_ref)),
            src: DstIndex::new_src(cubes.map(std::slice::from_ref)),
        }
    }

    pub(super) fn of_rules(rules: &[super::model::Rule]) -> Index {
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
