//! Nodes that stop answering, backoff, seeds, and what survives a poll without a view.

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
    assert_eq!(o.notes, vec![Note::NodeAnswering { node: ep(30003) }]);
    assert!(o.events.is_empty(), "no topology change: {:?}", kinds(&o));
}

#[test]
fn repeated_failures_back_off_and_are_not_counted_as_errors() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.down.insert(ep(30004));
    world.poll(&mut s);
    world.poll(&mut s);
    // Two failures in a row: the next poll skips the node instead of connecting.
    let o = world.poll(&mut s);
    assert!(
        !world.visited[3].contains(&ep(30004)),
        "{:?}",
        world.visited[3]
    );
    let n = o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30004))
        .unwrap();
    assert!(!n.up);
    assert!(
        n.last_error
            .as_deref()
            .unwrap_or("")
            .contains("before reconnecting")
    );
    assert_eq!(n.errors.get("connect"), Some(&2));
    assert_eq!(n.errors.get("backoff"), None);
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
