//! When masters' per-slot stats are read, and what the snapshot keeps of them.

use super::*;
use crate::poll::state::SlotStatsCadence;
use crate::slot_stats::Metric;

fn stat(slot: u16, keys: u64, cpu: u64) -> SlotStat {
    SlotStat {
        slot,
        values: [Some(keys), Some(cpu), Some(0), Some(0)],
    }
}

fn cadence(every: u32) -> SlotStatsCadence {
    SlotStatsCadence { every, top: 2 }
}

#[test]
fn masters_are_read_every_n_polls_and_replicas_never() {
    let mut world = World::new(healthy());
    for port in [30001, 30002] {
        world.slot_stats.insert(
            ep(port),
            vec![stat(1, 5, 10), stat(2, 9, 30), stat(3, 1, 20)],
        );
    }
    let mut s = state(Sampling::Rotate(16)).with_slot_stats(cadence(3));
    for _ in 0..7 {
        world.poll(&mut s);
    }
    let masters = vec![ep(30001), ep(30002), ep(30003)];
    // The first poll learns the roles; then masters are asked every third poll.
    let asked: Vec<bool> = world.stats_asked.iter().map(|a| !a.is_empty()).collect();
    assert_eq!(
        asked,
        [false, true, false, false, true, false, false],
        "{:?}",
        world.stats_asked
    );
    assert_eq!(world.stats_asked[1], masters);
    let o = world.poll(&mut s);
    let node = |port| {
        o.snapshot
            .nodes
            .iter()
            .find(|n| n.endpoint == ep(port))
            .unwrap()
    };
    let load = node(30001).load.as_ref().expect("read");
    assert_eq!(load.latest.total(Metric::Keys), Some(15));
    assert_eq!(load.latest.top[Metric::Cpu.index()], [(2, 30), (3, 20)]);
    assert!(
        load.before.is_some(),
        "the earlier reading is kept for rates"
    );
    assert!(load.latest.read_at_ms > load.before.as_ref().unwrap().read_at_ms);
    assert_eq!(node(30001).slot_stats, Some(true));
    // 30003's server has no CLUSTER SLOT-STATS.
    assert_eq!(node(30003).slot_stats, Some(false));
    assert!(node(30003).load.is_none());
    assert!(
        world.stats_asked.iter().all(|a| !a.contains(&ep(30004))),
        "a replica is never asked"
    );
}

#[test]
fn a_master_that_did_not_answer_is_asked_again_as_soon_as_it_does() {
    let mut world = World::new(healthy());
    world.slot_stats.insert(ep(30002), vec![stat(1, 5, 10)]);
    let mut s = state(Sampling::Rotate(16)).with_slot_stats(cadence(100));
    world.down.insert(ep(30002));
    for _ in 0..3 {
        world.poll(&mut s);
    }
    world.down.clear();
    world.poll(&mut s);
    world.poll(&mut s);
    let asked: Vec<bool> = world
        .stats_asked
        .iter()
        .map(|a| a.contains(&ep(30002)))
        .collect();
    assert!(asked[3] || asked[4], "{:?}", world.stats_asked);
    assert!(world.stats_asked[1].contains(&ep(30001)));
    assert!(
        !world.stats_asked[2].contains(&ep(30001)),
        "read once it was known, so not due for 100 polls"
    );
    let o = world.poll(&mut s);
    let n = o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30002))
        .unwrap();
    assert_eq!(
        n.load.as_ref().and_then(|l| l.latest.total(Metric::Keys)),
        Some(5)
    );
}

#[test]
fn a_refusal_is_logged_once_and_never_asked_again() {
    let mut world = World::new(healthy());
    world.stats_refused.insert(ep(30001));
    let mut s = state(Sampling::Rotate(16)).with_slot_stats(cadence(1));
    let denied = |o: &Outcome| {
        o.notes
            .iter()
            .filter(|n| matches!(n, Note::SlotStatsDenied { .. }))
            .count()
    };
    let notes: Vec<usize> = (0..5).map(|_| denied(&world.poll(&mut s))).collect();
    assert_eq!(notes, [0, 1, 0, 0, 0]);
    assert!(world.stats_asked[1].contains(&ep(30001)));
    assert!(
        world.stats_asked[2..]
            .iter()
            .all(|a| !a.contains(&ep(30001))),
        "{:?}",
        world.stats_asked
    );
    assert!(
        world.stats_asked[4].contains(&ep(30002)),
        "the others still are"
    );
}

#[test]
fn a_one_shot_poll_asks_every_node_whose_role_it_does_not_know_yet() {
    let mut world = World::new(healthy());
    world.slot_stats.insert(ep(30002), vec![stat(1, 5, 10)]);
    let mut s = state(Sampling::All).with_slot_stats(cadence(1));
    let o = world.poll(&mut s);
    assert_eq!(world.stats_asked[0].len(), 6, "{:?}", world.stats_asked);
    let n = o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30002))
        .unwrap();
    assert_eq!(
        n.load.as_ref().and_then(|l| l.latest.total(Metric::Keys)),
        Some(5)
    );
}

#[test]
fn a_failed_reading_keeps_the_node_up_and_its_last_load_and_is_tried_next_interval() {
    let mut world = World::new(healthy());
    world.slot_stats.insert(ep(30001), vec![stat(1, 5, 10)]);
    let mut s = state(Sampling::Rotate(16)).with_slot_stats(cadence(2));
    world.poll(&mut s);
    world.poll(&mut s); // read
    world.stats_failing.insert(ep(30001));
    world.poll(&mut s);
    let o = world.poll(&mut s); // due again: this reading fails
    assert!(
        world.stats_asked[3].contains(&ep(30001)),
        "{:?}",
        world.stats_asked
    );
    assert_eq!(up(&o, &ep(30001)), Some(true), "the node's sample stands");
    let n = o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30001))
        .unwrap();
    assert_eq!(
        n.load.as_ref().and_then(|l| l.latest.total(Metric::Keys)),
        Some(5),
        "the last reading stays"
    );
    world.stats_failing.clear();
    world.poll(&mut s);
    world.poll(&mut s);
    assert!(
        world.stats_asked[5].contains(&ep(30001)),
        "asked again: {:?}",
        world.stats_asked
    );
}

#[test]
fn a_master_is_asked_for_the_slots_it_owns() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16)).with_slot_stats(cadence(1));
    world.poll(&mut s);
    world.poll(&mut s);
    let asked: Vec<(String, String)> = world.stats_ranges[1]
        .iter()
        .map(|(e, r)| (e.clone(), crate::slot::format_ranges(r)))
        .collect();
    assert_eq!(
        asked,
        [
            (ep(30001), "0-5460".to_owned()),
            (ep(30002), "5461-10922".to_owned()),
            (ep(30003), "10923-16383".to_owned())
        ]
    );
}
