//! What the cluster risks on its next failure, from one snapshot: masters without a replica
//! ready to take over, replicas on their master's host or in its zone only, replication links
//! down or far behind, and slots spread unevenly. Pure; the health judgement, `/metrics` and
//! the cluster page all read it from here.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::replication::Replication;
use crate::snapshot::{NodeStatus, Snapshot};
use crate::topology::{Node, NodeId, Topology};

/// Bytes a replica may be behind its master before it counts as lagging: the mixin's
/// `replication.lagBytes` (tests/rules.rs holds the two together). 16 MiB is seconds of a busy
/// master's writes, well past the noise of offsets read a moment apart.
pub const LAG_BYTES: u64 = 16 * 1024 * 1024;

/// How far, in percent of the mean, masters' slot counts may differ before `check` says so:
/// `redis-cli --cluster rebalance`'s own default `--cluster-threshold` (2%).
pub const BALANCE_THRESHOLD_PERCENT: f64 = 2.0;

/// Whether a replica could take over its master now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// Not failing, its link up (or not known to be down), failover allowed.
    Ready,
    /// Flagged `fail` or `fail?` by the cluster.
    Failing,
    /// Its own `INFO replication` says its link to the master is down, or a full sync runs.
    LinkDown,
    /// Flagged `nofailover`: it never takes over on its own.
    NoFailover,
}

impl ReplicaState {
    /// Every state, in the order `/metrics` lists them.
    pub const ALL: [ReplicaState; 4] = [
        ReplicaState::Ready,
        ReplicaState::Failing,
        ReplicaState::LinkDown,
        ReplicaState::NoFailover,
    ];

    /// The `state` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Ready => "ready",
            ReplicaState::Failing => "failing",
            ReplicaState::LinkDown => "link_down",
            ReplicaState::NoFailover => "nofailover",
        }
    }
}

/// One master and what stands behind it.
#[derive(Debug, Clone)]
pub struct ShardRisk<'a> {
    /// The master.
    pub master: &'a Node,
    /// Each replica and its state, in ID order.
    pub replicas: Vec<(&'a Node, ReplicaState)>,
    /// Replicas on the master's host (same announced hostname, or same IP without one).
    pub colocated: Vec<&'a Node>,
    /// The one zone of the master and all its replicas, when every one of them says the same
    /// `availability_zone` (Valkey 8.0+) and there is at least one replica.
    pub single_zone: Option<String>,
}

impl ShardRisk<'_> {
    /// Replicas in `state`.
    pub fn count(&self, state: ReplicaState) -> usize {
        self.replicas.iter().filter(|(_, s)| *s == state).count()
    }

    /// The master owns slots and no replica could take over: its next failure loses them.
    pub fn unredundant(&self) -> bool {
        self.master.slot_count > 0 && self.count(ReplicaState::Ready) == 0
    }
}

/// The host a node runs on, as far as its announced address tells.
pub fn host(n: &Node) -> &str {
    n.addr.hostname.as_deref().unwrap_or(&n.addr.ip)
}

/// The state of `replica`, from its flags and its own word on its link.
pub fn replica_state(replica: &Node, status: Option<&NodeStatus>) -> ReplicaState {
    if replica.fail || replica.pfail {
        ReplicaState::Failing
    } else if status
        .and_then(|s| s.replication.as_ref())
        .and_then(|r| r.link)
        .is_some_and(|l| !l.usable())
    {
        ReplicaState::LinkDown
    } else if replica.nofailover {
        ReplicaState::NoFailover
    } else {
        ReplicaState::Ready
    }
}

/// Every master of `t` with what stands behind it, ordered by address.
pub fn shards<'a>(s: &'a Snapshot, t: &'a Topology) -> Vec<ShardRisk<'a>> {
    let status: HashMap<NodeId, &NodeStatus> = s
        .nodes
        .iter()
        .filter_map(|n| n.id.map(|id| (id, n)))
        .collect();
    let zone = |n: &Node| status.get(&n.id).and_then(|s| s.zone.clone());
    t.shards()
        .into_iter()
        .map(|shard| {
            let master = shard.master;
            let replicas: Vec<_> = shard
                .replicas
                .iter()
                .map(|r| (*r, replica_state(r, status.get(&r.id).copied())))
                .collect();
            let colocated = shard
                .replicas
                .iter()
                .copied()
                .filter(|r| !host(r).is_empty() && host(r) == host(master))
                .collect();
            let zones: BTreeSet<Option<String>> = std::iter::once(master)
                .chain(shard.replicas.iter().copied())
                .map(zone)
                .collect();
            let single_zone = match zones.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(z)] if !shard.replicas.is_empty() => Some(z.clone()),
                _ => None,
            };
            ShardRisk {
                master,
                replicas,
                colocated,
                single_zone,
            }
        })
        .collect()
}

/// True if every node of `t` with an address is on one host: a development or test cluster,
/// where co-location is by design and worth one note, not a problem per shard.
pub fn single_host(t: &Topology) -> bool {
    let hosts: BTreeSet<&str> = t.nodes.iter().map(host).filter(|h| !h.is_empty()).collect();
    hosts.len() == 1 && t.nodes.len() > 1
}

/// A replica's link, as it and its master say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkReport<'a> {
    /// The replica.
    pub replica: &'a Node,
    /// Its master.
    pub master: &'a Node,
    /// Its link is up and no full sync runs: its own word, or while it does not answer, its
    /// master's (`state=online`).
    pub up: bool,
    /// Bytes of the master's stream it has not processed: the master's offset less the
    /// replica's own when both answered (read a moment apart, so a little noise either way),
    /// else less the offset the replica last acknowledged to its master, which keeps growing
    /// while a frozen replica cannot answer.
    pub lag_bytes: Option<u64>,
}

/// The link of every replica that it or its master told about this poll, by replica address.
pub fn links<'a>(s: &'a Snapshot, t: &'a Topology) -> Vec<LinkReport<'a>> {
    let replication: HashMap<NodeId, &Replication> = s
        .nodes
        .iter()
        .filter_map(|n| Some((n.id?, n.replication.as_ref()?)))
        .collect();
    let mut out: Vec<LinkReport<'a>> = t
        .nodes
        .iter()
        .filter_map(|replica| {
            let master = t.node(&replica.master?)?;
            let from_master = replication.get(&master.id);
            let master_offset = from_master.and_then(|r| r.offset);
            let acked = from_master
                .and_then(|r| r.replicas.iter().find(|a| a.endpoint == replica.endpoint));
            let (up, offset) = match replication.get(&replica.id).and_then(|r| r.link) {
                Some(link) => (link.usable(), link.offset.filter(|_| link.up)),
                None => {
                    let acked = acked?;
                    (acked.online, Some(acked.offset))
                }
            };
            Some(LinkReport {
                replica,
                master,
                up,
                lag_bytes: match (master_offset, offset) {
                    (Some(m), Some(r)) => Some(m.saturating_sub(r)),
                    _ => None,
                },
            })
        })
        .collect();
    out.sort_by(|a, b| a.replica.endpoint.cmp(&b.replica.endpoint));
    out
}

/// How evenly slots are spread over the masters that own any.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Balance {
    /// Masters owning slots.
    pub masters: usize,
    /// Fewest slots of one of them.
    pub min: u32,
    /// Most slots of one of them.
    pub max: u32,
    /// Mean slots per master.
    pub mean: f64,
}

impl Balance {
    /// `max / mean`: 1 when even, 2 when one master has twice its share.
    pub fn spread(&self) -> f64 {
        if self.mean > 0.0 {
            f64::from(self.max) / self.mean
        } else {
            1.0
        }
    }

    /// The largest distance from the mean, in percent of it, as `redis-cli --cluster
    /// rebalance` measures it against its threshold.
    pub fn off_by_percent(&self) -> f64 {
        if self.mean <= 0.0 {
            return 0.0;
        }
        let far = (f64::from(self.max) - self.mean).max(self.mean - f64::from(self.min));
        far / self.mean * 100.0
    }
}

/// Slot balance over the masters owning slots; `None` when none does.
pub fn balance(t: &Topology) -> Option<Balance> {
    let counts: Vec<u32> = t
        .masters()
        .map(|m| m.slot_count)
        .filter(|c| *c > 0)
        .collect();
    let (min, max) = (*counts.iter().min()?, *counts.iter().max()?);
    let total: u64 = counts.iter().map(|c| u64::from(*c)).sum();
    Some(Balance {
        masters: counts.len(),
        min,
        max,
        mean: total as f64 / counts.len() as f64,
    })
}

#[cfg(test)]
#[path = "risks_tests.rs"]
mod tests;
