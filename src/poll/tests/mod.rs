//! The poll state machine, driven without a network: a scripted cluster answers each visit the
//! way real nodes would, and time is passed in.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::plan::{Sampling, Visit};
use super::sample::{Fetched, Jobs, Sample, SlotStatsRead};
use super::state::{ClusterState, Note, Outcome, PollEnd};
use crate::config::Seed;
use crate::info::{NodeCounters, parse_info};
use crate::redis::FetchError;
use crate::slot_stats::{NodeLoad, SlotStat};
use crate::topology::atomic::Job;
use crate::topology::parse::parse_view;
use crate::topology::testdata::*;
use crate::topology::{Flags, View};

mod failures;
pub(crate) mod liveness;
mod migrations;
mod sampling;
mod slot_stats;

/// A scripted cluster: the `CLUSTER NODES` truth (as node A prints it), who is down, and each
/// node's counters. It records what each poll asked for.
struct World {
    text: String,
    down: HashSet<String>,
    asks: HashMap<String, u64>,
    /// Each node's `total_error_replies` and `rejected_calls` of GET; a node absent from
    /// `errors` is a server without `total_error_replies`.
    errors: HashMap<String, (u64, u64)>,
    /// Atomic migration jobs each node reports.
    jobs: HashMap<String, Vec<Job>>,
    /// Keys per (node, slot), for COUNTKEYSINSLOT.
    keys: HashMap<(String, u16), u64>,
    /// The count_slots each visit asked, per poll.
    counted: Vec<Vec<(String, Vec<u16>)>>,
    /// Endpoints read in full, per poll.
    full: Vec<Vec<String>>,
    /// Endpoints visited (any way), per poll.
    visited: Vec<Vec<String>>,
    /// Endpoints asked for `INFO commandstats`, per poll.
    command_stats: Vec<Vec<String>>,
    /// Per-slot stats of the nodes whose server has `CLUSTER SLOT-STATS`.
    slot_stats: HashMap<String, Vec<SlotStat>>,
    /// Nodes whose ACL refuses `CLUSTER SLOT-STATS`.
    stats_refused: HashSet<String>,
    /// Nodes whose reading of their stats fails this time.
    stats_failing: HashSet<String>,
    /// The slots each stats visit asked, per poll.
    stats_ranges: Vec<Vec<(String, Vec<crate::slot::SlotRange>)>>,
    /// Endpoints asked for their per-slot stats, per poll.
    stats_asked: Vec<Vec<String>>,
    polls: u64,
    /// Unix ms of the last poll.
    now_ms: u64,
    /// Time between polls, 1 s unless a test changes it.
    step_ms: u64,
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
            errors: HashMap::new(),
            jobs: HashMap::new(),
            keys: HashMap::new(),
            counted: Vec::new(),
            full: Vec::new(),
            visited: Vec::new(),
            command_stats: Vec::new(),
            slot_stats: HashMap::new(),
            stats_refused: HashSet::new(),
            stats_failing: HashSet::new(),
            stats_ranges: Vec::new(),
            stats_asked: Vec::new(),
            polls: 0,
            now_ms: 1_700_000_000_000,
            step_ms: 1000,
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
            return Err(FetchError::Connect(std::sync::Arc::new(
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            )));
        }
        let Some(view) = self.view_of(&v.endpoint) else {
            return Err(FetchError::Connect(std::sync::Arc::new(
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            )));
        };
        let mut counters = NodeCounters::default();
        let ask = self.asks.get(&v.endpoint).copied().unwrap_or(0);
        parse_info(
            &format!("# Errorstats\r\nerrorstat_ASK:count={ask}\r\n"),
            &mut counters,
        );
        if let Some((errors, rejected)) = self.errors.get(&v.endpoint) {
            parse_info(
                &format!("# Stats\r\ntotal_error_replies:{errors}\r\n"),
                &mut counters,
            );
            if v.command_stats {
                parse_info(
                    &format!("# Commandstats\r\ncmdstat_get:calls=1,rejected_calls={rejected}\r\n"),
                    &mut counters,
                );
            }
        }
        let jobs = if v.jobs {
            Jobs::Read(self.jobs.get(&v.endpoint).cloned().unwrap_or_default())
        } else {
            Jobs::NotAsked
        };
        let keys = v
            .count_slots
            .iter()
            .filter_map(|s| Some((*s, *self.keys.get(&(v.endpoint.clone(), *s))?)))
            .collect();
        let slot_stats = match (&v.slot_stats, self.slot_stats.get(&v.endpoint)) {
            (None, _) => SlotStatsRead::NotAsked,
            (Some(_), _) if self.stats_refused.contains(&v.endpoint) => {
                SlotStatsRead::Denied("NOPERM User slotwatch has no permissions".into())
            }
            (Some(_), _) if self.stats_failing.contains(&v.endpoint) => {
                SlotStatsRead::Failed("LOADING Valkey is loading the dataset in memory".into())
            }
            (Some(ask), Some(stats)) => SlotStatsRead::Read(NodeLoad::of(stats, ask.top, 0)),
            (Some(_), None) => SlotStatsRead::Unsupported,
        };
        Ok(Sample {
            view: v.full_view.then_some(view),
            counters,
            cluster_info: None,
            replication: None,
            zone: None,
            jobs,
            keys,
            slot_stats,
        })
    }

    /// One whole poll, `step_ms` after the last.
    fn poll(&mut self, state: &mut ClusterState) -> Outcome {
        self.polls += 1;
        self.now_ms += self.step_ms;
        let plan = state.plan();
        let mut fetched = plan.skipped.clone();
        let mut full = Vec::new();
        let mut visited = Vec::new();
        let mut counted = Vec::new();
        let mut command_stats = Vec::new();
        let mut stats_asked = Vec::new();
        let mut stats_ranges = Vec::new();
        let mut read = |visits: &[Visit], fetched: &mut Vec<Fetched>| {
            for v in visits {
                visited.push(v.endpoint.clone());
                if v.command_stats {
                    command_stats.push(v.endpoint.clone());
                }
                if let Some(ask) = &v.slot_stats {
                    stats_asked.push(v.endpoint.clone());
                    stats_ranges.push((v.endpoint.clone(), ask.ranges.clone()));
                }
                if !v.count_slots.is_empty() {
                    counted.push((v.endpoint.clone(), v.count_slots.clone()));
                }
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
        let more = state.second_wave(&fetched);
        let mut later = more.skipped;
        read(&more.visits, &mut later);
        Fetched::fill_in(&mut fetched, later);
        full.sort();
        visited.sort();
        self.full.push(full);
        self.visited.push(visited);
        self.counted.push(counted);
        command_stats.sort();
        command_stats.dedup();
        self.command_stats.push(command_stats);
        stats_asked.sort();
        self.stats_asked.push(stats_asked);
        stats_ranges.sort();
        self.stats_ranges.push(stats_ranges);
        state.apply(
            fetched,
            PollEnd {
                started_ms: self.now_ms,
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
fn each_snapshot_carries_the_redirects_since_the_poll_before() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.asks.insert(ep(30001), 4);
    let o = world.poll(&mut s);
    world.down.insert(ep(30001));
    let o2 = world.poll(&mut s);
    let r = &o.snapshot.redirects;
    assert_eq!(r.since_ms, 1_700_000_001_000);
    assert_eq!(r.points.len(), 1);
    let d = r.points[0].deltas.as_slice();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((r.node(d[0].node), d[0].ask), (ep(30001).as_str(), 4));
    // One second later: the same point (shorter than 5 s) grows; the node that did not answer
    // sent nothing slotwatch knows of.
    let r2 = &o2.snapshot.redirects;
    assert_eq!(r2.points.len(), 1);
    assert_eq!(r2.points[0].polls, 2);
    assert_eq!(r2.points[0].deltas, r.points[0].deltas);
    assert_eq!(
        r.points[0].polls, 1,
        "the published snapshot is not changed"
    );
}
