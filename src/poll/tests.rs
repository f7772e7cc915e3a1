//! The poll state machine, driven without a network: a scripted cluster answers each visit the
//! way real nodes would, and time is passed in.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::plan::{Sampling, Visit};
use super::state::{ClusterState, Fetched, Note, Outcome, PollEnd, Sample};
use crate::config::Seed;
use crate::info::{NodeCounters, parse_info};
use crate::redis::FetchError;
use crate::topology::parse::parse_view;
use crate::topology::testdata::*;
use crate::topology::{Flags, View};

/// A scripted cluster: the `CLUSTER NODES` truth (as node A prints it), who is down, and each
/// node's counters. It records what each poll asked for.
struct World {
    text: String,
    down: HashSet<String>,
    asks: HashMap<String, u64>,
    /// Endpoints read in full, per poll.
    full: Vec<Vec<String>>,
    /// Endpoints visited (any way), per poll.
    visited: Vec<Vec<String>>,
    start: Instant,
    polls: u64,
}

fn ep(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

impl World {
    fn new(text: String) -> World {
        World {
            text,
            down: HashSet::new(),
            asks: HashMap::new(),
            full: Vec::new(),
            visited: Vec::new(),
            start: Instant::now(),
            polls: 0,
        }
    }

    /// `endpoint`'s own view of the truth: its line flagged `myself`.
    fn view_of(&self, endpoint: &str) -> Option<View> {
        let mut view = parse_view(&self.text).unwrap();
        let mut found = false;
        for l in &mut view.lines {
            let me = l.addr.endpoint() == endpoint;
            found |= me;
            l.flags.set(Flags::MYSELF, me);
        }
        found.then_some(view)
    }

    fn answer(&self, v: &Visit) -> Result<Sample, FetchError> {
        if self.down.contains(&v.endpoint) {
            return Err(FetchError::Connect("Connection refused".into()));
        }
        let Some(view) = self.view_of(&v.endpoint) else {
            return Err(FetchError::Connect("Connection refused".into()));
        };
        let mut counters = NodeCounters::default();
        let ask = self.asks.get(&v.endpoint).copied().unwrap_or(0);
        parse_info(
            &format!("# Errorstats\r\nerrorstat_ASK:count={ask}\r\n"),
            &mut counters,
        );
        Ok(Sample {
            view: v.full_view.then_some(view),
            counters,
        })
    }

    /// One whole poll, one second after the last.
    fn poll(&mut self, state: &mut ClusterState) -> Outcome {
        self.polls += 1;
        let now = self.start + Duration::from_secs(self.polls);
        let plan = state.plan(now);
        let mut fetched = plan.skipped.clone();
        let mut full = Vec::new();
        let mut visited = Vec::new();
        let mut read = |visits: &[Visit], fetched: &mut Vec<Fetched>| {
            for v in visits {
                visited.push(v.endpoint.clone());
                if v.full_view {
                    full.push(v.endpoint.clone());
                }
                fetched.push(Fetched {
                    endpoint: v.endpoint.clone(),
                    result: self.answer(v),
                });
            }
        };
        read(&plan.visits, &mut fetched);
        let more = state.discovered(&fetched, now);
        read(&more.visits, &mut fetched);
        fetched.extend(more.skipped);
        full.sort();
        visited.sort();
        self.full.push(full);
        self.visited.push(visited);
        state.apply(
            fetched,
            PollEnd {
                started_ms: 1_700_000_000_000 + self.polls * 1000,
                now,
                elapsed: Duration::from_millis(2),
                bytes_read_total: self.polls * 100,
            },
        )
    }
}

fn state(sampling: Sampling) -> ClusterState {
    let seed: Seed = "redis://127.0.0.1:30001".parse().unwrap();
    ClusterState::new("test", &[seed], sampling, 100)
}

fn kinds(o: &Outcome) -> Vec<&'static str> {
    o.events.iter().map(|e| e.kind.name()).collect()
}

fn up(o: &Outcome, endpoint: &str) -> Option<bool> {
    o.snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == endpoint)
        .map(|n| n.up)
}

/// Node A's dump with node C1 (30006) left out.
fn without_c1() -> String {
    healthy()
        .lines()
        .filter(|l| !l.starts_with(C1))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_first_poll_discovers_every_node_from_one_seed() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    let o = world.poll(&mut s);
    assert!(o.snapshot.up);
    assert_eq!(o.snapshot.nodes.len(), 6);
    assert!(
        o.snapshot.nodes.iter().all(|n| n.up),
        "{:?}",
        o.snapshot.nodes
    );
    assert_eq!(world.full[0].len(), 6, "small clusters read every view");
    assert!(o.events.is_empty(), "the baseline is not a change");
    assert_eq!(
        o.notes,
        vec![Note::Baseline {
            nodes: 6,
            masters: 3
        }]
    );
    assert_eq!(o.snapshot.topology.as_ref().unwrap().views, 6);
}

#[test]
fn a_removed_node_is_an_event_and_stops_being_polled() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.text = without_c1();
    world.down.insert(ep(30006));
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["node_removed"]);
    assert_eq!(up(&o, &ep(30006)), None, "its series disappear");
    world.poll(&mut s);
    assert!(
        !world.visited[2].contains(&ep(30006)),
        "{:?}",
        world.visited[2]
    );
}

#[test]
fn a_new_node_is_an_event_and_is_polled() {
    let mut world = World::new(without_c1());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    assert!(!world.visited[0].contains(&ep(30006)));
    world.text = healthy();
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["node_added"]);
    let o = world.poll(&mut s);
    assert!(world.visited[2].contains(&ep(30006)));
    assert_eq!(up(&o, &ep(30006)), Some(true));
}

#[test]
fn an_address_change_is_one_event_and_the_counters_follow_the_node() {
    let mut world = World::new(healthy());
    world.asks.insert(ep(30006), 7);
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.text = healthy().replace("127.0.0.1:30006@31006", "127.0.0.1:30016@31016");
    world.down.insert(ep(30006));
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["address_changed"]);
    let moved = o
        .snapshot
        .nodes
        .iter()
        .find(|n| n.endpoint == ep(30016))
        .expect("the new address is a node");
    assert_eq!(
        moved.counters.ask_total(),
        Some(7),
        "counters kept across the move"
    );
    assert_eq!(up(&o, &ep(30006)), None, "no node under the old address");
}

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
fn the_rotation_reads_every_view_within_n_over_k_polls() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(2));
    world.poll(&mut s);
    for _ in 0..3 {
        world.poll(&mut s);
    }
    let mut seen: Vec<String> = world.full[1..4].concat();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        6,
        "ceil(6/2) = 3 polls read all views: {:?}",
        world.full
    );
    assert!(
        world.full[1..].iter().all(|f| f.len() == 2),
        "{:?}",
        world.full
    );
    assert!(
        world.visited[1..].iter().all(|v| v.len() == 6),
        "INFO from every node every poll"
    );
}

#[test]
fn nodes_of_a_recent_change_are_read_in_full_for_a_few_polls() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(1));
    world.poll(&mut s);
    world.poll(&mut s);
    // Slot 0 moves from A (30001) to B (30002), seen by whichever view the rotation read.
    world.text = healthy()
        .replace("0-5460", "1-5460")
        .replace("5461-10922", "0 5461-10922")
        .replace(" 2 connected", " 9 connected");
    let mut found = None;
    for _ in 0..8 {
        let o = world.poll(&mut s);
        if !o.events.is_empty() {
            found = Some(o);
            break;
        }
    }
    assert_eq!(kinds(&found.expect("the reshard is seen")), ["reshard"]);
    for _ in 0..3 {
        world.poll(&mut s);
        let full = world.full.last().unwrap();
        assert!(
            full.contains(&ep(30001)) && full.contains(&ep(30002)),
            "hot nodes every poll: {full:?}"
        );
    }
}

#[test]
fn an_open_migration_keeps_its_nodes_hot_and_survives_unread_views() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(1));
    world.poll(&mut s);
    world.text = healthy().replace("0-5460", &format!("0-5460 [100->-{B}]"));
    let mut started = false;
    for _ in 0..8 {
        let o = world.poll(&mut s);
        started |= kinds(&o) == ["migration_started"];
        if started {
            break;
        }
    }
    assert!(started, "{:?}", world.full);
    for _ in 0..5 {
        let o = world.poll(&mut s);
        assert!(o.events.is_empty(), "{:?}", kinds(&o));
        assert_eq!(o.snapshot.topology.as_ref().unwrap().migrations.len(), 1);
        assert!(world.full.last().unwrap().contains(&ep(30001)));
    }
    // With the source down, its view is unread: the migration is unknown, not closed.
    world.down.insert(ep(30001));
    let o = world.poll(&mut s);
    assert!(!kinds(&o).contains(&"migration_aborted"), "{:?}", kinds(&o));
    assert_eq!(o.snapshot.topology.as_ref().unwrap().migrations.len(), 1);
}

#[test]
fn new_ask_traffic_makes_a_node_hot() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(1));
    for _ in 0..3 {
        world.poll(&mut s);
    }
    world.asks.insert(ep(30003), 5);
    world.poll(&mut s);
    for _ in 0..2 {
        world.poll(&mut s);
        assert!(
            world.full.last().unwrap().contains(&ep(30003)),
            "{:?}",
            world.full
        );
    }
}

#[test]
fn rotation_views_close_their_connection_and_hot_ones_do_not() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(2));
    world.poll(&mut s);
    let plan = s.plan(world.start + Duration::from_secs(10));
    let full: Vec<&Visit> = plan.visits.iter().filter(|v| v.full_view).collect();
    assert_eq!(full.len(), 2);
    assert!(full.iter().all(|v| v.close_after));
    assert!(
        plan.visits
            .iter()
            .filter(|v| !v.full_view)
            .all(|v| !v.close_after)
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

#[test]
fn each_snapshot_counts_the_poll_and_keeps_the_events() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    let first = world.poll(&mut s);
    world.text = healthy().replace("10923-16383", "10923-16000");
    let second = world.poll(&mut s);
    assert_eq!(kinds(&second), ["slots_unassigned"]);
    let snap = &second.snapshot;
    assert!(snap.generation > first.snapshot.generation);
    assert_eq!(snap.polled_at_ms, 1_700_000_002_000);
    assert_eq!(snap.stats.polls_total, 2);
    assert_eq!(snap.stats.poll_duration.count, 2);
    assert_eq!(snap.stats.bytes_read_total, 200);
    assert_eq!(snap.stats.last_topology_change_ms, 1_700_000_002_000);
    assert_eq!(snap.events.len(), 1);
    assert_eq!(snap.events[0].timestamp_ms, 1_700_000_002_000);
}

#[test]
fn a_one_shot_poll_reads_every_view_whatever_the_size() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::All);
    world.poll(&mut s);
    world.poll(&mut s);
    assert_eq!(world.full[1].len(), 6);
}
