//! `slotwatch plan`: which slots to move so that every master carries about the same load.
//! Pure: the per-slot weights and the owners go in, moves come out, so that unit and property
//! tests, the bench and the command share one planner. [`commands`] writes the commands that
//! carry a move out, [`report`] the report, and [`run`] reads the live cluster (the only I/O).
//!
//! The planner is greedy and conservative. While some master is outside the target band around
//! the mean, it takes the most loaded master that can give something and moves one run of its
//! adjacent slots to the least loaded master, choosing the run whose weight comes closest to
//! what would bring either of them to the mean. A move is taken only if it is smaller than the
//! gap between the two masters, so the busiest master never gets busier and the variance of the
//! loads strictly falls: the plan never makes the spread worse, and it ends. Slots in an open
//! migration never move. At the end, each slot's first and last owner make the moves, grouped
//! by (from, to) into ranges, so that a slot moves at most once.

pub mod commands;
pub mod report;
pub mod run;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::slot::{SLOT_COUNT, SlotRange, ranges_of};

/// What a plan balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// Keys per slot (`key-count`, or `CLUSTER COUNTKEYSINSLOT` where the server has no
    /// `CLUSTER SLOT-STATS`).
    Keys,
    /// CPU time spent on each slot's commands (`cpu-usec`).
    Cpu,
    /// Bytes in and out for each slot's commands (`network-bytes-in` + `network-bytes-out`).
    Network,
    /// One per slot: what `redis-cli --cluster rebalance` evens.
    Slots,
}

impl By {
    /// The name as the flag writes it.
    pub fn name(self) -> &'static str {
        match self {
            By::Keys => "keys",
            By::Cpu => "cpu",
            By::Network => "network",
            By::Slots => "slots",
        }
    }
}

/// The default target: every master within 10% of the mean.
pub const DEFAULT_TARGET: f64 = 0.10;

/// Bound on the planner's steps. Each step strictly lowers the variance, so the loop ends
/// anyway; this only caps the work on adversarial weights (a step moves at least one slot, and
/// real plans take a few dozen).
const MAX_STEPS: usize = 20_000;

/// What the planner works on: who owns each slot, what each slot weighs, and which slots must
/// stay where they are.
#[derive(Debug, Clone)]
pub struct Load {
    /// Number of masters; owners are indexes below it.
    pub masters: usize,
    /// Each slot's owner, `None` for an unassigned slot (never moved, weighs nothing).
    pub owner: Vec<Option<usize>>,
    /// Each slot's weight by the chosen measure.
    pub weight: Vec<u64>,
    /// Slots in an open migration: they keep their owner.
    pub frozen: Vec<bool>,
}

impl Load {
    /// An empty load over `masters` masters: no slot owned, all weights 0.
    pub fn new(masters: usize) -> Load {
        let n = usize::from(SLOT_COUNT);
        Load {
            masters,
            owner: vec![None; n],
            weight: vec![0; n],
            frozen: vec![false; n],
        }
    }

    /// Each master's total weight.
    pub fn totals(&self) -> Vec<u64> {
        let mut totals = vec![0u64; self.masters];
        for (owner, w) in self.owner.iter().zip(&self.weight) {
            if let Some(m) = owner.filter(|m| *m < self.masters) {
                totals[m] = totals[m].saturating_add(*w);
            }
        }
        totals
    }

    /// The same load after `moves`.
    pub fn after(&self, moves: &[Move]) -> Load {
        let mut out = self.clone();
        for m in moves {
            for r in &m.ranges {
                for slot in r.slots() {
                    out.owner[usize::from(slot)] = Some(m.to);
                }
            }
        }
        out
    }
}

/// How evenly the load is spread over the masters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The mean load per master.
    pub mean: f64,
    /// The smallest and largest load of one master.
    pub min: u64,
    /// See `min`.
    pub max: u64,
}

impl Spread {
    /// The spread of `totals`; `None` without masters.
    pub fn of(totals: &[u64]) -> Option<Spread> {
        let (min, max) = (*totals.iter().min()?, *totals.iter().max()?);
        let sum: f64 = totals.iter().map(|t| *t as f64).sum();
        Some(Spread {
            mean: sum / totals.len() as f64,
            min,
            max,
        })
    }

    /// `max / mean`: 1 when even; 1 as well when there is no load at all.
    pub fn ratio(&self) -> f64 {
        if self.mean > 0.0 {
            self.max as f64 / self.mean
        } else {
            1.0
        }
    }

    /// The largest distance of a master from the mean, as a fraction of the mean.
    pub fn off(&self) -> f64 {
        if self.mean <= 0.0 {
            return 0.0;
        }
        (self.max as f64 - self.mean).max(self.mean - self.min as f64) / self.mean
    }
}

/// One move of the plan: these slots go from one master to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// The master giving the slots (an index into the plan's masters).
    pub from: usize,
    /// The master taking them.
    pub to: usize,
    /// The slots, as maximal ranges.
    pub ranges: Vec<SlotRange>,
    /// Number of slots.
    pub slots: u32,
    /// Their weight by the plan's measure.
    pub weight: u64,
}

/// Plans moves that bring every master within `target` (a fraction, 0.10 for 10%) of the mean
/// load; empty when the load is already within it, or when no move can improve it.
pub fn plan(load: &Load, target: f64) -> Vec<Move> {
    if load.masters < 2 {
        return Vec::new();
    }
    let mut owner = load.owner.clone();
    let mut totals = load.totals();
    // Each master's movable slots, ascending: a step looks at one donor's slots only.
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); load.masters];
    for (slot, o) in owner.iter().enumerate() {
        if let Some(m) = o.filter(|m| *m < load.masters)
            && !load.frozen[slot]
        {
            owned[m].push(slot);
        }
    }
    for _ in 0..MAX_STEPS {
        let Some(spread) = Spread::of(&totals) else {
            break;
        };
        if spread.off() <= target {
            break;
        }
        let Some(step) = next_step(load, &owned, &totals, spread.mean) else {
            break;
        };
        let taken = owned[step.from][step.window.clone()].to_vec();
        owned[step.from].drain(step.window);
        let moved: u64 = taken.iter().map(|s| load.weight[*s]).sum();
        for slot in &taken {
            owner[*slot] = Some(step.to);
        }
        owned[step.to].extend(taken);
        owned[step.to].sort_unstable();
        totals[step.from] -= moved;
        totals[step.to] += moved;
    }
    moves(load, &load.owner, &owner)
}

/// One step of the planner: `from`'s slots at `window` (indexes into its movable slots) go to
/// `to`.
struct Step {
    from: usize,
    to: usize,
    window: std::ops::Range<usize>,
}

/// The next step: the most loaded master that has a run of slots worth moving to the least
/// loaded one, and that run.
fn next_step(load: &Load, owned: &[Vec<usize>], totals: &[u64], mean: f64) -> Option<Step> {
    let to = (0..totals.len()).min_by_key(|m| (totals[*m], *m))?;
    let mut donors: Vec<usize> = (0..totals.len()).filter(|m| *m != to).collect();
    donors.sort_by_key(|m| (std::cmp::Reverse(totals[*m]), *m));
    for from in donors {
        let gap = totals[from] - totals[to];
        if gap == 0 {
            return None;
        }
        // What brings the nearer of the two to the mean, without pushing either past it.
        let want = (totals[from] as f64 - mean)
            .min(mean - totals[to] as f64)
            .max(1.0);
        if let Some(window) = best_window(&load.weight, &owned[from], want, gap) {
            return Some(Step { from, to, window });
        }
    }
    None
}

/// Among windows of adjacent slots in `slots` (a master's movable slots, ascending), the one
/// whose weight is closest to `want` while above 0 and below `gap`, as indexes into `slots`.
/// Of those as close, the one of fewest slots wins (each slot moved is work, key or no key),
/// unless one that starts or ends where a run of the master's slots does is about as close and
/// not much longer: that one keeps the master's slots in few ranges.
fn best_window(
    weight: &[u64],
    slots: &[usize],
    want: f64,
    gap: u64,
) -> Option<std::ops::Range<usize>> {
    // (distance from want, length, window), of any window and of anchored ones: the smallest.
    type Best = Option<(f64, usize, std::ops::Range<usize>)>;
    let (mut any, mut anchored_best): (Best, Best) = (None, None);
    let mut consider = |range: std::ops::Range<usize>, sum: u64, anchored: bool| {
        if sum == 0 || sum >= gap {
            return;
        }
        let key = ((sum as f64 - want).abs(), range.len());
        let better = |b: &Best| b.as_ref().is_none_or(|(d, len, _)| key < (*d, *len));
        if anchored && better(&anchored_best) {
            anchored_best = Some((key.0, key.1, range.clone()));
        }
        if better(&any) {
            any = Some((key.0, key.1, range));
        }
    };
    let mut start = 0;
    while start < slots.len() {
        let mut end = start + 1;
        while end < slots.len() && slots[end] == slots[end - 1] + 1 {
            end += 1;
        }
        // Two pointers over non-negative weights: for each left edge, the shortest window that
        // reaches `want` (or the run's end), and the same less its last slot.
        let w = |i: usize| weight[slots[i]];
        let (mut right, mut sum) = (start, 0u64);
        for left in start..end {
            while right < end && (sum as f64) < want {
                sum += w(right);
                right += 1;
            }
            consider(left..right, sum, left == start || right == end);
            if right - left > 1 {
                consider(left..right - 1, sum - w(right - 1), left == start);
            }
            sum -= w(left);
        }
        start = end;
    }
    match (any, anchored_best) {
        (Some((d, len, _)), Some((da, lena, range)))
            if da <= d + (want * 0.005).max(0.5) && lena <= len + (len / 4).max(64) =>
        {
            Some(range)
        }
        (any, _) => any.map(|(_, _, range)| range),
    }
}

/// The moves from each slot's first owner to its last, grouped by (from, to).
fn moves(load: &Load, before: &[Option<usize>], after: &[Option<usize>]) -> Vec<Move> {
    let mut grouped: BTreeMap<(usize, usize), Vec<u16>> = BTreeMap::new();
    for (slot, (b, a)) in before.iter().zip(after).enumerate() {
        if let (Some(b), Some(a)) = (b, a)
            && b != a
        {
            // Slots are below SLOT_COUNT, which fits in u16.
            grouped.entry((*b, *a)).or_default().push(slot as u16);
        }
    }
    grouped
        .into_iter()
        .map(|((from, to), slots)| Move {
            from,
            to,
            slots: slots.len() as u32,
            weight: slots.iter().map(|s| load.weight[usize::from(*s)]).sum(),
            ranges: ranges_of(slots),
        })
        .collect()
}

#[cfg(test)]
mod tests;
