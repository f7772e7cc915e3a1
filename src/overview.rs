//! One serialisable view of a cluster as of a snapshot: its nodes, its masters with their
//! slots and replicas, open migrations, unassigned and disagreeing slots. `/topology` serves
//! it and `check --json` embeds it, so both name the same things the same way. Pure.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::health::failure_flags;
use crate::slot::{SLOT_COUNT, SlotRange};
use crate::snapshot::Snapshot;
use crate::topology::event::NodeRef;
use crate::topology::{Mechanism, Node, NodeId, Topology};

/// A cluster as of one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The configured cluster name.
    pub cluster: String,
    /// The latest poll produced a topology.
    pub up: bool,
    /// True when `up` is false and this is the last topology seen before.
    pub stale: bool,
    /// When the topology was observed, RFC 3339; `None` if no topology was ever seen.
    pub observed_at: Option<String>,
    /// The same, in Unix ms.
    pub observed_at_ms: Option<u64>,
    /// Nodes' views merged into the topology.
    pub views: u32,
    /// Answers left out of the merge because no other node lists the answering node.
    pub ignored_views: u32,
    /// Slots with an owner.
    pub slots_assigned: u32,
    /// Slots with no owner.
    pub slots_unassigned: u32,
    /// The unassigned slots as ranges.
    pub unassigned_ranges: Vec<SlotRange>,
    /// Masters that own slots or have replicas, with their shard.
    pub masters: Vec<MasterView>,
    /// Every known node.
    pub nodes: Vec<NodeView>,
    /// Open migrations.
    pub migrations: Vec<MigrationView>,
    /// Slots on which the views disagree.
    pub disagreement: Disagreement,
}

/// One master and its shard.
#[derive(Debug, Clone, Serialize)]
pub struct MasterView {
    /// `ip:port`.
    pub node: String,
    /// Node ID.
    pub id: NodeId,
    /// How many slots it owns.
    pub slots: u32,
    /// Those slots as ranges.
    pub ranges: Vec<SlotRange>,
    /// Its config epoch: who wins a slot both claim.
    pub config_epoch: u64,
    /// Its replicas' `ip:port`.
    pub replicas: Vec<String>,
    /// `fail` and `fail?` as the cluster flags it; empty when healthy.
    pub flags: Vec<&'static str>,
    /// It answered the latest poll.
    pub up: bool,
}

/// One node, as the cluster describes it, and whether it answered.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    /// The node's fields as merged from the views.
    #[serde(flatten)]
    pub node: Node,
    /// It answered the latest poll.
    pub up: bool,
    /// `fail?`, `fail`, `noaddr`, `nofailover` where set.
    pub flags: Vec<&'static str>,
    /// `ok` or `fail` as the node's own `CLUSTER INFO` says; `null` when it did not answer
    /// (or refused `CLUSTER INFO`).
    pub cluster_state: Option<&'static str>,
}

/// One open migration.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationView {
    /// `classic` or `atomic`.
    pub mechanism: Mechanism,
    /// A classic migration's slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u16>,
    /// An atomic migration's job name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// How many slots it moves.
    pub slots: u32,
    /// Those slots as ranges.
    pub ranges: Vec<SlotRange>,
    /// The source master, named as events name nodes.
    pub from: NodeRef,
    /// The target master.
    pub to: NodeRef,
    /// Classic: which halves are set (`migrating`, `importing`, `migrating+importing`);
    /// atomic: the server's job state.
    pub state: String,
    /// Seconds since it opened; `None` when unknown: a classic migration that slotwatch has
    /// not watched over two polls (always, for a one-shot `check`).
    pub age_seconds: Option<f64>,
    /// Seconds since it last made progress; `None` when unknown, as for the age.
    pub stalled_seconds: Option<f64>,
    /// Classic: keys left in the slot on the source, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_left: Option<u64>,
}

/// Slots on which the nodes' views disagree.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Disagreement {
    /// How many.
    pub slots: u32,
    /// As ranges.
    pub ranges: Vec<SlotRange>,
}

impl Overview {
    /// The overview of `s`; a cluster that is unreachable shows the last topology it had,
    /// marked stale, and one never reached shows no nodes at all.
    pub fn of(s: &Snapshot) -> Overview {
        match &s.last_topology {
            Some(t) => Overview::build(s, t),
            None => Overview::empty(s),
        }
    }

    /// The overview of `s` with `t` as its topology.
    pub fn build(s: &Snapshot, t: &Topology) -> Overview {
        let answered: HashSet<NodeId> = s
            .nodes
            .iter()
            .filter(|n| n.up && s.up)
            .filter_map(|n| n.id)
            .collect();
        let unassigned = t.unassigned_slots();
        let states: HashMap<NodeId, &'static str> = s
            .nodes
            .iter()
            .filter_map(|n| {
                let info = n.cluster_info?;
                Some((n.id?, if info.state_ok { "ok" } else { "fail" }))
            })
            .collect();
        Overview {
            cluster: s.cluster.clone(),
            up: s.up,
            stale: !s.up,
            observed_at: Some(crate::clock::rfc3339(t.observed_at_ms)),
            observed_at_ms: Some(t.observed_at_ms),
            views: t.views,
            ignored_views: t.ignored_views,
            slots_assigned: u32::from(SLOT_COUNT) - unassigned,
            slots_unassigned: unassigned,
            unassigned_ranges: t.unassigned_ranges(),
            masters: masters(t, &answered),
            nodes: t
                .nodes
                .iter()
                .map(|n| NodeView {
                    node: n.clone(),
                    up: answered.contains(&n.id),
                    flags: node_flags(n),
                    cluster_state: states.get(&n.id).copied(),
                })
                .collect(),
            migrations: migrations(s, t),
            disagreement: Disagreement {
                slots: t.disagreement.len(),
                ranges: t.disagreement.ranges(),
            },
        }
    }

    fn empty(s: &Snapshot) -> Overview {
        Overview {
            cluster: s.cluster.clone(),
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
            disagreement: Disagreement::default(),
        }
    }

    /// Nodes that answered the latest poll.
    pub fn answered(&self) -> usize {
        self.nodes.iter().filter(|n| n.up).count()
    }
}

fn masters(t: &Topology, answered: &HashSet<NodeId>) -> Vec<MasterView> {
    t.shards()
        .into_iter()
        .map(|shard| {
            let m = shard.master;
            MasterView {
                node: m.endpoint.clone(),
                id: m.id,
                slots: m.slot_count,
                ranges: m.slots.clone(),
                config_epoch: m.config_epoch,
                replicas: shard.replicas.iter().map(|r| r.endpoint.clone()).collect(),
                flags: failure_flags(m.fail, m.pfail),
                up: answered.contains(&m.id),
            }
        })
        .collect()
}

fn node_flags(n: &Node) -> Vec<&'static str> {
    [
        (n.pfail, "fail?"),
        (n.fail, "fail"),
        (n.noaddr, "noaddr"),
        (n.nofailover, "nofailover"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

fn migrations(s: &Snapshot, t: &Topology) -> Vec<MigrationView> {
    // A classic migration's age is when slotwatch first saw it open: unknown until a poll
    // before this one could have seen it. An atomic job's creation time is the server's.
    let watched = s.stats.polls_total > 1;
    t.open_migrations()
        .into_iter()
        .map(|m| {
            let progress = s.progress.get(&m.id);
            let created =
                m.id.job()
                    .and_then(|name| t.atomic.iter().find(|a| a.name == name))
                    .map(|job| job.created_ms);
            let since = |ms: u64| s.polled_at_ms.saturating_sub(ms) as f64 / 1000.0;
            let opened = created.or(progress.filter(|_| watched).map(|p| p.opened_ms));
            MigrationView {
                mechanism: m.mechanism,
                slot: m.id.slot(),
                job: m.id.job().map(str::to_owned),
                slots: m.slots,
                ranges: m.ranges,
                from: NodeRef::lookup(&m.source, t, t),
                to: NodeRef::lookup(&m.target, t, t),
                state: m.state.to_owned(),
                age_seconds: opened.map(since),
                stalled_seconds: progress
                    .filter(|_| watched || created.is_some())
                    .map(|p| since(p.progressed_ms)),
                keys_left: progress.and_then(|p| p.keys_left),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::snapshot::Progress;
    use crate::snapshot::testdata::snapshot_of;
    use crate::topology::MigrationId;
    use crate::topology::testdata::*;

    fn migrating() -> Snapshot {
        let mut s = snapshot_of(
            &healthy().replace("0-5460", &format!("0-5460 [7->-{B}]")),
            &["127.0.0.1:30002"],
        );
        let m = s.topology.as_ref().unwrap().migrations[0].clone();
        s.progress = Arc::new(
            [(
                MigrationId::Classic(7, m.source, m.target),
                Progress {
                    opened_ms: 500,
                    progressed_ms: 1_500,
                    keys_left: Some(42),
                },
            )]
            .into(),
        );
        s
    }

    #[test]
    fn masters_count_slots_and_list_ranges_under_the_same_names_everywhere() {
        let o = Overview::of(&migrating());
        let json = serde_json::to_value(&o).unwrap();
        let first = &json["masters"][0];
        assert_eq!(first["node"], "127.0.0.1:30001");
        assert_eq!(first["slots"], 5461);
        assert_eq!(first["ranges"], serde_json::json!(["0-5460"]));
        assert_eq!(json["slots_assigned"], 16384);
        assert_eq!(json["disagreement"]["slots"], 0);
        let down: Vec<&str> = o
            .masters
            .iter()
            .filter(|m| !m.up)
            .map(|m| m.node.as_str())
            .collect();
        assert_eq!(down, ["127.0.0.1:30002"]);
        assert_eq!(o.answered(), o.nodes.len() - 1);
    }

    #[test]
    fn a_classic_migrations_age_is_known_only_once_watched_over_two_polls() {
        let mut s = migrating();
        s.stats.polls_total = 1;
        let once = Overview::of(&s);
        let m = &once.migrations[0];
        assert_eq!((m.slot, m.from.node.as_str()), (Some(7), "127.0.0.1:30001"));
        assert_eq!(m.to.id, NodeId::parse(B).unwrap());
        assert_eq!((m.age_seconds, m.stalled_seconds), (None, None));
        assert_eq!(m.keys_left, Some(42));
        s.stats.polls_total = 2;
        let watched = Overview::of(&s);
        let m = &watched.migrations[0];
        assert_eq!((m.age_seconds, m.stalled_seconds), (Some(1.5), Some(0.5)));
    }

    #[test]
    fn an_unreachable_cluster_shows_its_last_topology_as_stale() {
        let mut s = migrating();
        s.up = false;
        s.topology = None;
        s.last_topology = snapshot_of(&healthy(), &[]).topology;
        let o = Overview::of(&s);
        assert!(o.stale && !o.up);
        assert_eq!(o.masters.len(), 3);
        assert_eq!(
            o.answered(),
            0,
            "nothing answered a poll that reached no node"
        );
        let never = Overview::of(&crate::snapshot::Snapshot::empty("c"));
        assert!(!never.stale && never.nodes.is_empty());
        assert_eq!(never.slots_unassigned, 16384);
    }
}
