//! Whole snapshots of synthetic clusters, as a poller would publish them after half an hour of
//! trouble: for the cluster page's bench and its size test.

use std::sync::Arc;

use slotwatch::cluster_info::ClusterInfo;
use slotwatch::info::NodeCounters;
use slotwatch::snapshot::redirects::{MAX_POINTS, MIN_SPAN_MS, Timeline};
use slotwatch::snapshot::{NodeStatus, Snapshot};
use slotwatch::topology::event::stamp;
use slotwatch::topology::{diff, merge};

use crate::synth;

/// A snapshot of a `nodes`-node cluster ([`synth::cluster`]) at its busiest: every node sent
/// MOVED and ASK in every point of the redirect history, `reshards` reshards happened during
/// the window, one slot is migrating and one master is flagged `fail`.
pub fn busy(nodes: usize, reshards: usize) -> Snapshot {
    let now: u64 = 1_700_000_000_000;
    let start = now - MAX_POINTS as u64 * MIN_SPAN_MS;
    let masters = nodes.div_ceil(2).max(1);
    let mut lines = synth::cluster(nodes, 7000);
    let mut events = Vec::new();
    let mut before = merge::merge(&[synth::view_of(&lines, 0)], start);
    for i in 0..reshards {
        let at = start + (i as u64 + 1) * (now - start) / (reshards as u64 + 2);
        synth::reshard(&mut lines, i % masters, (i + 1) % masters, 3);
        let after = merge::merge(&[synth::view_of(&lines, 0)], at);
        events.extend(stamp(diff::diff(&before, &after), &after));
        before = after;
    }
    if masters > 1 {
        let (slot, target) = (lines[0].slots[0].end, lines[1].id);
        lines[0].migrating.push((slot, target));
        lines[1].flags.set(slotwatch::topology::Flags::FAIL, true);
    }
    let topology = Arc::new(merge::merge(&[synth::view_of(&lines, 0)], now));
    // Rates that change every point, so that no stretch of the chart is flat.
    let counters = |k: u64, i: usize| NodeCounters {
        moved: Some(k * (k + 1) / 2 * (i as u64 % 7 + 1)),
        ask: Some(k * (k % 5) * (i as u64 % 3)),
        commands_processed: Some(k * 1000),
        has_errorstats: true,
        ..Default::default()
    };
    let endpoints: Vec<String> = topology.nodes.iter().map(|n| n.endpoint.clone()).collect();
    let mut timeline = Timeline::new();
    for k in 0..=MAX_POINTS as u64 {
        let all: Vec<NodeCounters> = (0..endpoints.len()).map(|i| counters(k, i)).collect();
        timeline.record(
            start + k * MIN_SPAN_MS,
            endpoints
                .iter()
                .map(String::as_str)
                .zip(all.iter().map(Some)),
        );
    }
    let statuses = topology
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeStatus {
            endpoint: n.endpoint.clone(),
            id: Some(n.id),
            up: true,
            counters: counters(MAX_POINTS as u64, i),
            cluster_info: Some(ClusterInfo {
                state_ok: true,
                slots_pfail: 0,
                slots_fail: 0,
                known_nodes: topology.nodes.len() as u32,
                size: topology.masters().count() as u32,
                current_epoch: 6,
                my_epoch: 1,
            }),
            replication: None,
            zone: None,
            errors: Default::default(),
            last_error: None,
            load: None,
            slot_stats: None,
        })
        .collect();
    Snapshot {
        generation: MAX_POINTS as u64,
        polled_at_ms: now,
        up: true,
        topology: Some(topology.clone()),
        last_topology: Some(topology),
        nodes: statuses,
        events: Arc::new(events),
        redirects: timeline.shared(),
        ..Snapshot::empty("busy")
    }
}
