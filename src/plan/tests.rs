use proptest::prelude::*;

use super::*;

/// `masters` masters owning equal contiguous shares of the slots, as `redis-cli --cluster
/// create` assigns them, every slot weighing `w`.
fn even(masters: usize, w: u64) -> Load {
    let mut load = Load::new(masters);
    let n = load.owner.len();
    for slot in 0..n {
        load.owner[slot] = Some(slot * masters / n);
        load.weight[slot] = w;
    }
    load
}

fn spread_after(load: &Load, moves: &[Move]) -> Spread {
    Spread::of(&load.after(moves).totals()).unwrap()
}

#[test]
fn a_balanced_cluster_has_nothing_to_do() {
    assert!(plan(&even(3, 10), DEFAULT_TARGET).is_empty());
    // Within the target but not exactly even.
    let mut load = even(3, 10);
    load.weight[0] = 500;
    assert!(plan(&load, DEFAULT_TARGET).is_empty());
}

#[test]
fn seventy_percent_of_the_keys_on_one_master_are_spread_within_the_target() {
    // Master 0 owns 0-5460; its slots hold 7 keys each against 1 elsewhere: about 70%.
    let mut load = even(3, 1);
    for slot in 0..5461 {
        load.weight[slot] = 7;
    }
    let before = Spread::of(&load.totals()).unwrap();
    assert!(before.off() > 0.5, "{before:?}");
    let moves = plan(&load, DEFAULT_TARGET);
    let after = spread_after(&load, &moves);
    assert!(after.off() <= DEFAULT_TARGET, "{after:?} after {moves:?}");
    assert!(moves.iter().all(|m| m.from == 0), "{moves:?}");
    // Few moves, each one contiguous range taken from the edge of master 0's slots.
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert!(moves.iter().all(|m| m.ranges.len() == 1), "{moves:?}");
    assert!(plan(&load.after(&moves), DEFAULT_TARGET).is_empty());
}

#[test]
fn a_hot_slot_range_moves_to_the_idlest_master() {
    // Slots 100-199 of master 0 take 90% of the CPU.
    let mut load = even(3, 1);
    for slot in 100..200 {
        load.weight[slot] = 300;
    }
    let moves = plan(&load, DEFAULT_TARGET);
    let before = Spread::of(&load.totals()).unwrap();
    let after = spread_after(&load, &moves);
    assert!(after.ratio() < before.ratio(), "{before:?} -> {after:?}");
    assert!(moves.iter().all(|m| m.from == 0), "{moves:?}");
    let hot: u64 = moves.iter().map(|m| m.weight).sum();
    assert!(
        hot >= 100 * 300 / 3,
        "moves at least a third of the hot range: {moves:?}"
    );
}

#[test]
fn slots_in_an_open_migration_never_move() {
    let mut load = even(2, 1);
    for slot in 0..8192 {
        load.weight[slot] = 5;
        load.frozen[slot] = slot % 2 == 0;
    }
    let moves = plan(&load, DEFAULT_TARGET);
    assert!(!moves.is_empty());
    for m in &moves {
        for r in &m.ranges {
            assert!(r.slots().all(|s| !load.frozen[usize::from(s)]), "{m:?}");
        }
    }
}

#[test]
fn a_single_slot_heavier_than_the_gap_stays() {
    // One slot holds everything: moving it would only swap which master is busy.
    let mut load = even(2, 0);
    load.weight[3] = 1_000;
    assert!(plan(&load, DEFAULT_TARGET).is_empty());
}

#[test]
fn unassigned_slots_are_never_moved_or_counted() {
    let mut load = even(2, 1);
    for slot in 0..4000 {
        load.owner[slot] = None;
        load.weight[slot] = 1_000;
    }
    let moves = plan(&load, DEFAULT_TARGET);
    assert_eq!(load.totals(), [4192, 8192]);
    assert!(
        moves
            .iter()
            .all(|m| m.ranges.iter().all(|r| r.start >= 4000))
    );
    assert!(spread_after(&load, &moves).off() <= DEFAULT_TARGET);
}

#[test]
fn spread_reads_max_over_mean_and_the_furthest_master() {
    let s = Spread::of(&[50, 100, 150]).unwrap();
    assert_eq!((s.min, s.max, s.mean), (50, 150, 100.0));
    assert_eq!(s.ratio(), 1.5);
    assert_eq!(s.off(), 0.5);
    let idle = Spread::of(&[0, 0]).unwrap();
    assert_eq!((idle.ratio(), idle.off()), (1.0, 0.0));
    assert_eq!(Spread::of(&[]), None);
}

/// A load of 2 to 6 masters owning runs of slots (some unassigned, some frozen), with skewed
/// weights: a few heavy ranges over a light background.
fn arbitrary_load() -> impl Strategy<Value = Load> {
    (
        2usize..7,
        prop::collection::vec((0u16..16384, 1u16..2000, 0u64..5000), 0..6),
        prop::collection::vec(0u16..16384, 0..40),
        0u64..3,
        any::<u64>(),
    )
        .prop_map(|(masters, heavy, frozen, background, seed)| {
            let mut load = Load::new(masters);
            // Owners change every 1 to 4096 slots, from a simple generator over the seed.
            let mut x = seed | 1;
            let mut slot = 0usize;
            while slot < load.owner.len() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = 1 + (x % 4096) as usize;
                let owner = (x >> 20) as usize % (masters + 1);
                for s in slot..(slot + len).min(load.owner.len()) {
                    load.owner[s] = (owner < masters).then_some(owner);
                    load.weight[s] = background;
                }
                slot += len;
            }
            for (start, len, w) in heavy {
                let end = (usize::from(start) + usize::from(len)).min(load.owner.len());
                for s in usize::from(start)..end {
                    load.weight[s] += w;
                }
            }
            for s in frozen {
                load.frozen[usize::from(s)] = true;
            }
            load
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_move_keeps_each_slot_owned_by_one_master(load in arbitrary_load()) {
        let moves = plan(&load, DEFAULT_TARGET);
        let mut seen = vec![false; load.owner.len()];
        for m in &moves {
            prop_assert_ne!(m.from, m.to);
            let mut slots = 0;
            for r in &m.ranges {
                for s in r.slots() {
                    let s = usize::from(s);
                    prop_assert!(!seen[s], "slot {} moves twice", s);
                    seen[s] = true;
                    prop_assert_eq!(load.owner[s], Some(m.from), "slot {} is not its source's", s);
                    prop_assert!(!load.frozen[s], "slot {} is in a migration", s);
                    slots += 1;
                }
            }
            prop_assert_eq!(slots, m.slots);
        }
        let after = load.after(&moves);
        prop_assert_eq!(
            after.owner.iter().filter(|o| o.is_none()).count(),
            load.owner.iter().filter(|o| o.is_none()).count()
        );
        prop_assert_eq!(after.totals().iter().sum::<u64>(), load.totals().iter().sum::<u64>());
    }

    #[test]
    fn the_plan_never_makes_the_spread_worse(load in arbitrary_load()) {
        let before = Spread::of(&load.totals()).unwrap();
        let moves = plan(&load, DEFAULT_TARGET);
        let after = spread_after(&load, &moves);
        prop_assert!(after.max <= before.max, "{:?} -> {:?}", before, after);
        prop_assert!(after.min >= before.min, "{:?} -> {:?}", before, after);
        prop_assert!(after.off() <= before.off(), "{:?} -> {:?}", before, after);
        if !moves.is_empty() {
            let squares = |l: &Load| l.totals().iter().map(|t| (*t as f64).powi(2)).sum::<f64>();
            prop_assert!(squares(&load.after(&moves)) < squares(&load), "the loads grow no more even");
        }
    }

    #[test]
    fn a_plan_on_its_own_result_proposes_nothing(load in arbitrary_load()) {
        let moves = plan(&load, DEFAULT_TARGET);
        let again = plan(&load.after(&moves), DEFAULT_TARGET);
        prop_assert!(again.is_empty(), "{:?} then {:?}", moves, again);
    }
}
