//! Nodes that stop answering, resting, seeds, and what survives a poll without a view.

use super::*;
use crate::poll::plan::Sampling;

#[test]
fn when_every_known_node_fails_the_seeds_are_tried_again() {
    let seeds: Vec<Seed> = ["redis://127.0.0.1:30001", "redis://127.0.0.1:30099"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut s = ClusterState::new("test", &seeds, Sampling::Rotate(16), 100);
    let mut world = World::new(healthy());
    let o = world.poll(&mut s);
    assert!(o.snapshot.up);
    world.poll(&mut s);
    assert!(
        !world.visited[1].contains(&ep(30099)),
        "known nodes, not seeds, once discovered"
    );
    for port in 30001..=30006 {
        world.down.insert(ep(port));
    }
    let o = world.poll(&mut s);
    assert!(!o.snapshot.up);
    assert!(
        o.notes.contains(&Note::NoView { tried: 6 }),
        "{:?}",
        o.notes
    );
    assert_eq!(o.snapshot.nodes.len(), 6, "known nodes stay, reported down");
    assert!(o.snapshot.nodes.iter().all(|n| !n.up));
    assert!(o.snapshot.last_topology.is_some());
    world.poll(&mut s);
    assert!(
        world.visited[3].contains(&ep(30099)),
        "{:?}",
        world.visited[3]
    );
}

#[test]
fn counters_are_kept_through_a_poll_that_read_no_view() {
    let mut world = World::new(healthy());
    world.asks.insert(ep(30002), 4);
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    for port in 30001..=30006 {
        world.down.insert(ep(port));
    }
    let o = world.poll(&mut s);
    assert!(!o.snapshot.up);
    let b = o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30002))
        .unwrap();
    assert_eq!(b.counters.ask_total(), Some(4), "a gap is not a reset");
    assert!(!b.up);
}

#[test]
fn a_node_that_stops_answering_is_reported_once_and_again_when_it_returns() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.down.insert(ep(30003));
    let o = world.poll(&mut s);
    assert_eq!(up(&o, &ep(30003)), Some(false));
    assert!(
        matches!(
            &o.notes[..],
            [Note::NodeFailing { node, reason: "connect", .. }] if *node == ep(30003)
        ),
        "{:?}",
        o.notes
    );
    let o = world.poll(&mut s);
    assert!(o.notes.is_empty(), "reported once: {:?}", o.notes);
    let errors = &o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30003))
        .unwrap()
        .errors;
    assert_eq!(errors.get("connect"), Some(&2));
    world.down.clear();
    // After two failures the node backs off for a while; polls go on without it.
    let mut back = None;
    for _ in 0..10 {
        let o = world.poll(&mut s);
        if up(&o, &ep(30003)) == Some(true) {
            back = Some(o);
            break;
        }
    }
    let o = back.expect("the node comes back");
    assert!(
        matches!(&o.notes[..], [Note::NodeAnswering { node, .. }] if *node == ep(30003)),
        "{:?}",
        o.notes
    );
    assert!(o.events.is_empty(), "no topology change: {:?}", kinds(&o));
}

#[test]
fn a_dead_node_is_tried_every_other_poll_and_rests_are_not_counted_as_errors() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.down.insert(ep(30004));
    let mut last = None;
    for _ in 0..10 {
        last = Some(world.poll(&mut s));
    }
    let tried: Vec<bool> = world.visited[1..]
        .iter()
        .map(|v| v.contains(&ep(30004)))
        .collect();
    // Tried at the first two failures, then every other poll: never a connection storm.
    assert_eq!(
        tried,
        [
            true, true, false, true, false, true, false, true, false, true
        ]
    );
    let o = last.unwrap();
    let n = o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30004))
        .unwrap();
    assert!(!n.up);
    assert_eq!(n.errors.get("connect"), Some(&6));
    assert_eq!(n.errors.get("resting"), None);
}

#[test]
fn a_node_back_after_any_outage_is_up_within_two_polls() {
    for outage in [1, 2, 3, 10, 501] {
        let mut world = World::new(healthy());
        let mut s = state(Sampling::Rotate(16));
        world.poll(&mut s);
        world.down.insert(ep(30004));
        for _ in 0..outage {
            world.poll(&mut s);
        }
        world.down.clear();
        let back = (1..=2)
            .find(|_| up(&world.poll(&mut s), &ep(30004)) == Some(true))
            .map(|polls| polls as u64);
        assert!(back.is_some(), "after {outage} polls down");
    }
}

#[test]
fn a_whole_cluster_back_after_any_outage_is_up_within_two_polls() {
    for outage in [1, 2, 3, 10, 501] {
        let mut world = World::new(healthy());
        let mut s = state(Sampling::Rotate(16));
        world.poll(&mut s);
        for port in 30001..=30006 {
            world.down.insert(ep(port));
        }
        for _ in 0..outage {
            assert!(!world.poll(&mut s).snapshot.up);
        }
        world.down.clear();
        let first = world.poll(&mut s);
        let up_again = first.snapshot.up || world.poll(&mut s).snapshot.up;
        assert!(up_again, "after {outage} polls down");
    }
}

#[test]
fn a_poll_whose_chosen_views_are_dead_reads_another_answering_node() {
    // A big cluster (more nodes than full views per poll): one view per poll in turn.
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(1));
    world.poll(&mut s);
    world.down.insert(ep(30002));
    world.down.insert(ep(30005));
    for poll in 0..30 {
        let o = world.poll(&mut s);
        assert!(o.snapshot.up, "poll {poll}: {:?}", o.notes);
        assert!(o.snapshot.last_topology.is_some());
        assert!(
            !o.notes.iter().any(|n| matches!(n, Note::NoView { .. })),
            "poll {poll}: {:?}",
            o.notes
        );
        assert!(o.events.is_empty(), "poll {poll}: {:?}", kinds(&o));
    }
}

#[test]
fn a_seed_that_never_answers_is_reported_by_its_address() {
    let seed: Seed = "redis://redis-0.example:6379".parse().unwrap();
    let mut s = ClusterState::new("test", &[seed], Sampling::Rotate(16), 100);
    let mut world = World::new(healthy());
    let o = world.poll(&mut s);
    assert!(!o.snapshot.up);
    assert_eq!(o.snapshot.nodes.len(), 1);
    let n = &o.snapshot.nodes[0];
    assert_eq!(
        (n.endpoint.as_str(), n.up, n.id),
        ("redis-0.example:6379", false, None)
    );
    assert_eq!(n.errors.get("connect"), Some(&1));
}

#[test]
fn a_failing_node_is_logged_once_then_reminded_every_ten_minutes_then_its_return() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.down.insert(ep(30003));
    let mut notes = Vec::new();
    // Six seconds of 100 ms polls, then 25 minutes of one-minute polls.
    world.step_ms = 100;
    for _ in 0..60 {
        notes.extend(world.poll(&mut s).notes);
    }
    assert_eq!(notes.len(), 1, "{notes:?}");
    world.step_ms = 60_000;
    for _ in 0..25 {
        notes.extend(world.poll(&mut s).notes);
    }
    world.down.clear();
    for _ in 0..2 {
        notes.extend(world.poll(&mut s).notes);
    }
    let reminders: Vec<u64> = notes
        .iter()
        .filter_map(|n| match n {
            Note::NodeStillFailing { lasted, .. } => Some(lasted.seconds),
            _ => None,
        })
        .collect();
    assert_eq!(reminders, [605, 1205], "{notes:?}");
    let back: Vec<_> = notes
        .iter()
        .filter_map(|n| match n {
            Note::NodeAnswering { lasted, .. } => Some(*lasted),
            _ => None,
        })
        .collect();
    // The node is tried every other poll, so it is seen back at the first or second poll.
    assert!(
        matches!(back[..], [l] if (85..=86).contains(&l.polls) && l.seconds >= 1565),
        "{back:?}"
    );
    assert!(matches!(notes[0], Note::NodeFailing { .. }));
    assert_eq!(notes.len(), 4, "{notes:?}");
}

#[test]
fn an_unreachable_cluster_is_logged_once_then_reminded_then_its_return() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    for port in 30001..=30006 {
        world.down.insert(ep(port));
    }
    let mut notes = Vec::new();
    world.step_ms = 100;
    for _ in 0..63 {
        notes.extend(world.poll(&mut s).notes);
    }
    let no_view = |n: &Note| matches!(n, Note::NoView { .. } | Note::StillNoView { .. });
    assert_eq!(notes.iter().filter(|n| no_view(n)).count(), 1, "{notes:?}");
    world.step_ms = 60_000;
    for _ in 0..11 {
        notes.extend(world.poll(&mut s).notes);
    }
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Note::StillNoView { lasted, .. } if lasted.seconds == 606)),
        "{notes:?}"
    );
    world.down.clear();
    let mut back = None;
    for _ in 0..2 {
        let o = world.poll(&mut s);
        if let Some(lasted) = o.notes.iter().find_map(|n| match n {
            Note::ViewsAgain { lasted } => Some(*lasted),
            _ => None,
        }) {
            back = Some(lasted);
            break;
        }
    }
    let back = back.expect("views readable again");
    assert!(back.polls >= 74 && back.seconds >= 666, "{back:?}");
}
