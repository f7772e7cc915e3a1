//! The `/topology` document: per cluster, the nodes with role, flags and whether they answered,
//! the masters with their slots and replicas, open migrations with their age, unassigned and
//! disagreeing slots. Built from snapshots only.

use std::collections::HashSet;

use serde::Serialize;

use crate::slot::{SLOT_COUNT, SlotRange};
use crate::snapshot::{Published, Snapshot};
use crate::topology::{Mechanism, Node, NodeId, Topology};

/// The document for the chosen clusters; a cluster that is unreachable shows the last topology
/// it had, marked stale.
pub fn document<'a>(chosen: &[&'a Published]) -> TopologyOut<'a> {
    let clusters = chosen
        .iter()
        .map(|s| match &s.last_topology {
            Some(t) => cluster_out(s, t),
            None => empty_cluster_out(s),
        })
        .collect();
    TopologyOut { clusters }
}

/// The `/topology` document.
#[derive(Serialize)]
pub struct TopologyOut<'a> {
    clusters: Vec<ClusterOut<'a>>,
}

#[derive(Serialize)]
struct ClusterOut<'a> {
    cluster: &'a str,
    /// The latest poll produced a topology.
    up: bool,
    /// True when `up` is false and this is the last topology seen before.
    stale: bool,
    observed_at: Option<String>,
    observed_at_ms: Option<u64>,
    views: u32,
    /// Answers left out of the merge because no other node lists the answering node.
    ignored_views: u32,
    slots_assigned: u32,
    slots_unassigned: u32,
    unassigned_ranges: Vec<SlotRange>,
    masters: Vec<MasterOut<'a>>,
    nodes: Vec<NodeOut<'a>>,
    migrations: Vec<MigrationOut<'a>>,
    disagreement: DisagreementOut,
}

#[derive(Serialize)]
struct MasterOut<'a> {
    node: &'a str,
    id: NodeId,
    slot_count: u32,
    slots: &'a [SlotRange],
    config_epoch: u64,
    fail: bool,
    pfail: bool,
    replicas: Vec<&'a str>,
}

#[derive(Serialize)]
struct NodeOut<'a> {
    #[serde(flatten)]
    node: &'a Node,
    /// The node answered the latest poll.
    up: bool,
    flags: Vec<&'static str>,
}

#[derive(Serialize)]
struct MigrationOut<'a> {
    mechanism: Mechanism,
    /// A classic migration's slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    slot: Option<u16>,
    /// An atomic migration's job name.
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    ranges: Vec<SlotRange>,
    slots: u32,
    source: String,
    source_id: NodeId,
    target: String,
    target_id: NodeId,
    /// Classic: which halves are set; atomic: the server's job state.
    state: &'a str,
    /// Seconds since it opened (a classic one: since slotwatch first saw it).
    age_seconds: f64,
    /// Seconds since it last made progress.
    stalled_seconds: f64,
    /// Classic: keys left in the slot on the source, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    keys_left: Option<u64>,
}

#[derive(Serialize)]
struct DisagreementOut {
    slots: u32,
    ranges: Vec<SlotRange>,
}

fn cluster_out<'a>(s: &'a Snapshot, t: &'a Topology) -> ClusterOut<'a> {
    let masters = t
        .shards()
        .into_iter()
        .map(|shard| MasterOut {
            node: &shard.master.endpoint,
            id: shard.master.id,
            slot_count: shard.master.slot_count,
            slots: &shard.master.slots,
            config_epoch: shard.master.config_epoch,
            fail: shard.master.fail,
            pfail: shard.master.pfail,
            replicas: shard.replicas.iter().map(|r| r.endpoint.as_str()).collect(),
        })
        .collect();
    let up: HashSet<NodeId> = s
        .nodes
        .iter()
        .filter(|st| st.up)
        .filter_map(|st| st.id)
        .collect();
    let nodes = t
        .nodes
        .iter()
        .map(|n| {
            let mut flags = Vec::new();
            for (on, name) in [
                (n.pfail, "fail?"),
                (n.fail, "fail"),
                (n.noaddr, "noaddr"),
                (n.nofailover, "nofailover"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            NodeOut {
                node: n,
                up: s.up && up.contains(&n.id),
                flags,
            }
        })
        .collect();
    let migrations = t
        .open_migrations()
        .into_iter()
        .map(|m| {
            let progress = s.progress.get(&m.id);
            MigrationOut {
                mechanism: m.mechanism,
                slot: m.id.slot(),
                job: m.id.job().map(str::to_owned),
                slots: m.slots,
                ranges: m.ranges,
                source: t.endpoint_of(&m.source),
                source_id: m.source,
                target: t.endpoint_of(&m.target),
                target_id: m.target,
                state: m.state,
                age_seconds: s.migration_age_s(&m.id).unwrap_or(0.0),
                stalled_seconds: progress.map_or(0.0, |p| {
                    s.polled_at_ms.saturating_sub(p.progressed_ms) as f64 / 1000.0
                }),
                keys_left: progress.and_then(|p| p.keys_left),
            }
        })
        .collect();
    let unassigned = t.unassigned_slots();
    ClusterOut {
        cluster: &s.cluster,
        up: s.up,
        stale: !s.up,
        observed_at: Some(crate::clock::rfc3339(t.observed_at_ms)),
        observed_at_ms: Some(t.observed_at_ms),
        views: t.views,
        ignored_views: t.ignored_views,
        slots_assigned: u32::from(SLOT_COUNT) - unassigned,
        slots_unassigned: unassigned,
        unassigned_ranges: t.unassigned_ranges(),
        masters,
        nodes,
        migrations,
        disagreement: DisagreementOut {
            slots: t.disagreement.len(),
            ranges: t.disagreement.ranges(),
        },
    }
}

fn empty_cluster_out(s: &Snapshot) -> ClusterOut<'_> {
    ClusterOut {
        cluster: &s.cluster,
        up: false,
        stale: false,
        observed_at: None,
        observed_at_ms: None,
        views: 0,
        ignored_views: 0,
        slots_assigned: 0,
        slots_unassigned: u32::from(SLOT_COUNT),
        unassigned_ranges: Vec::new(),
        masters: Vec::new(),
        nodes: Vec::new(),
        migrations: Vec::new(),
        disagreement: DisagreementOut {
            slots: 0,
            ranges: Vec::new(),
        },
    }
}
