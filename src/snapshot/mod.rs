//! What one poll published: plain data that `/metrics`, the JSON endpoints, the landing page
//! and `check` read, and that nothing mutates once published. The machinery that fills it
//! (`poll`, `clients`) depends on this module, never the reverse.
//!
//! - [`redirects`]: the per-node redirect history the cluster page draws (pure).
//! - [`liveness`]: whether the poller behind a snapshot is still alive (pure).

pub mod liveness;
pub mod redirects;

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::Arc;

use crate::clients::report::ClientsReport;
use crate::cluster_info::ClusterInfo;
use crate::config::RedirectPolicy as Policy;
use crate::info::NodeCounters;
use crate::replication::Replication;
use crate::slot_stats::NodeLoad;
use crate::snapshot::liveness::Liveness;
use crate::snapshot::redirects::Redirects;
use crate::topology::event::{Event, KINDS, Kind, MoveReason};
use crate::topology::{MigrationId, NodeId, Topology};

/// Upper bounds (seconds) of the poll duration histogram: from a healthy LAN poll (~1 ms) to a
/// poll that hit a 1 s timeout, and beyond for slow links.
pub const POLL_DURATION_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A fixed-bucket histogram that can be copied into each snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationHistogram {
    /// Per-bucket (not cumulative) counts; the last entry is `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        let mut buckets: Vec<(f64, u64)> = POLL_DURATION_BUCKETS.iter().map(|b| (*b, 0)).collect();
        buckets.push((f64::INFINITY, 0));
        DurationHistogram {
            buckets,
            sum: 0.0,
            count: 0,
        }
    }
}

impl DurationHistogram {
    /// Adds one observation, in seconds.
    pub fn observe(&mut self, secs: f64) {
        if let Some(b) = self.buckets.iter_mut().find(|(le, _)| secs <= *le) {
            b.1 += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// What one node looked like in the latest poll.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatus {
    /// `ip:port` as MOVED names it (or the seed's `host:port` before discovery).
    pub endpoint: String,
    /// The node's ID, if known.
    pub id: Option<NodeId>,
    /// True if this poll got a parseable answer from the node.
    pub up: bool,
    /// The node's own counters, as last read; `None` fields were never reported.
    pub counters: NodeCounters,
    /// What the node says of the cluster (`CLUSTER INFO`), if it answered this poll.
    pub cluster_info: Option<ClusterInfo>,
    /// Its role and replication link (`INFO replication`), if it answered this poll.
    pub replication: Option<Replication>,
    /// Its `availability_zone` (Valkey 8.0+, when set), as it last said.
    pub zone: Option<String>,
    /// Failed fetches by reason since slotwatch started.
    pub errors: BTreeMap<&'static str, u64>,
    /// Why the latest fetch failed, if it did.
    pub last_error: Option<String>,
    /// Its slots' load at the last two readings of its per-slot stats (the latest first); the
    /// earlier one turns the counters into rates.
    pub load: Option<Loads>,
    /// Whether its server has `CLUSTER SLOT-STATS`, as the last reading found; `None` until
    /// asked (replicas never are).
    pub slot_stats: Option<bool>,
}

/// A master's last two readings of its per-slot stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loads {
    /// The latest.
    pub latest: NodeLoad,
    /// The one before it, if any.
    pub before: Option<NodeLoad>,
}

/// Cumulative per-cluster counters and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStats {
    /// Events by kind (every kind present, zero until seen).
    pub events_total: BTreeMap<Kind, u64>,
    /// Slots that changed owner, by reason (every reason present).
    pub slot_moves_total: BTreeMap<MoveReason, u64>,
    /// Unix ms of the last owner/role/address/membership change; 0 if none seen.
    pub last_topology_change_ms: u64,
    /// Unix ms of the last reshard; 0 if none seen.
    pub last_reshard_ms: u64,
    /// Unix ms of the last failover; 0 if none seen.
    pub last_failover_ms: u64,
    /// Atomic migrations that failed with writes possibly lost.
    pub lost_writes_total: u64,
    /// Polls completed.
    pub polls_total: u64,
    /// Bytes read from the cluster's nodes.
    pub bytes_read_total: u64,
    /// Poll durations.
    pub poll_duration: DurationHistogram,
}

impl Default for ClusterStats {
    fn default() -> Self {
        ClusterStats {
            events_total: KINDS.iter().map(|k| (k.kind, 0)).collect(),
            slot_moves_total: MoveReason::ALL.iter().map(|r| (*r, 0)).collect(),
            last_topology_change_ms: 0,
            last_reshard_ms: 0,
            last_failover_ms: 0,
            lost_writes_total: 0,
            polls_total: 0,
            bytes_read_total: 0,
            poll_duration: DurationHistogram::default(),
        }
    }
}

/// How an open migration is getting on, as slotwatch has watched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Unix ms when it opened: an atomic job's creation time, or when slotwatch first saw a
    /// classic migration open.
    pub opened_ms: u64,
    /// Unix ms of its last sign of progress: fewer keys left in the slot on the source
    /// (classic), or a new state or update time of the job (atomic); when first seen otherwise.
    pub progressed_ms: u64,
    /// Keys left in the slot on the source (classic migrations whose source was read).
    pub keys_left: Option<u64>,
}

/// An immutable picture of one cluster after a poll; the HTTP side only ever reads these.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The configured cluster name.
    pub cluster: String,
    /// Increments with every published snapshot; lets `/metrics` cache its encoding.
    pub generation: u64,
    /// Unix ms when the latest poll started; 0 before the first poll.
    pub polled_at_ms: u64,
    /// True if the latest poll produced a topology.
    pub up: bool,
    /// The latest topology; `None` if the latest poll reached no node.
    pub topology: Option<Arc<Topology>>,
    /// The last topology ever seen, kept for `/topology` while the cluster is unreachable.
    pub last_topology: Option<Arc<Topology>>,
    /// Per-node status, sorted by endpoint.
    pub nodes: Vec<NodeStatus>,
    /// Recent events, oldest first, at most the configured capacity.
    pub events: Arc<Vec<Event>>,
    /// Cumulative counters.
    pub stats: ClusterStats,
    /// Open migrations' progress.
    pub progress: Arc<HashMap<MigrationId, Progress>>,
    /// Per-node MOVED and ASK over the last polls, for the cluster page.
    pub redirects: Arc<Redirects>,
    /// The thresholds its redirect verdict is judged by ([`crate::health::redirects`]).
    pub redirect_policy: Policy,
    /// The poller's staleness bound and restarts; `None` for `check`'s one-off poll.
    pub liveness: Option<Liveness>,
}

impl Snapshot {
    /// The snapshot before the first poll completes.
    pub fn empty(cluster: &str) -> Snapshot {
        Snapshot {
            cluster: cluster.to_owned(),
            generation: 0,
            polled_at_ms: 0,
            up: false,
            topology: None,
            last_topology: None,
            nodes: Vec::new(),
            events: Arc::new(Vec::new()),
            stats: ClusterStats::default(),
            progress: Arc::new(HashMap::new()),
            redirects: Arc::default(),
            redirect_policy: Policy::default(),
            liveness: None,
        }
    }

    /// Seconds, as of the last poll, since the migration opened.
    pub fn migration_age_s(&self, id: &MigrationId) -> Option<f64> {
        let p = self.progress.get(id)?;
        Some(self.polled_at_ms.saturating_sub(p.opened_ms) as f64 / 1000.0)
    }

    /// Age of the oldest open migration as of the last poll; 0 if none is open.
    pub fn oldest_migration_age_s(&self) -> f64 {
        self.progress
            .keys()
            .filter_map(|k| self.migration_age_s(k))
            .fold(0.0, f64::max)
    }

    /// Seconds, as of the last poll, since the open migration that progressed least recently
    /// last progressed; 0 if none is open.
    pub fn migration_stalled_s(&self) -> f64 {
        self.progress
            .values()
            .map(|p| self.polled_at_ms.saturating_sub(p.progressed_ms) as f64 / 1000.0)
            .fold(0.0, f64::max)
    }
}

/// What the HTTP side shows of one cluster: the poller's latest snapshot and the client
/// analysis's latest report. They arrive on separate channels, each at its own pace, so a
/// report is shown as soon as it is made rather than with the next poll.
#[derive(Debug, Clone)]
pub struct Published {
    /// The latest poll's snapshot.
    pub snapshot: Arc<Snapshot>,
    /// The latest analysis of the clients causing redirects; `None` when off or not run yet.
    pub clients: Option<Arc<ClientsReport>>,
}

impl Published {
    /// A snapshot with no client report.
    pub fn new(snapshot: Snapshot) -> Published {
        Published {
            snapshot: Arc::new(snapshot),
            clients: None,
        }
    }

    /// True if `other` holds the very same snapshot and report: what `/metrics` caches by.
    pub fn same_as(&self, other: &Published) -> bool {
        let same_clients = match (&self.clients, &other.clients) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        Arc::ptr_eq(&self.snapshot, &other.snapshot) && same_clients
    }
}

/// Readers mostly want the snapshot; the report is the one field beside it.
impl Deref for Published {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.snapshot
    }
}

/// Snapshots for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod testdata {
    use std::sync::Arc;

    use super::{NodeStatus, Snapshot};
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;

    /// The snapshot of a poll that read one view, `text`, in which the nodes at `down` did
    /// not answer.
    pub(crate) fn snapshot_of(text: &str, down: &[&str]) -> Snapshot {
        let t = merge(&[parse_view(text).unwrap()], 1_000);
        let nodes = t
            .nodes
            .iter()
            .map(|n| {
                let is_down = down.contains(&n.endpoint.as_str());
                NodeStatus {
                    endpoint: n.endpoint.clone(),
                    id: Some(n.id),
                    up: !is_down,
                    counters: Default::default(),
                    cluster_info: None,
                    replication: None,
                    zone: None,
                    errors: Default::default(),
                    last_error: is_down.then(|| "connection failed: refused".to_owned()),
                    load: None,
                    slot_stats: None,
                }
            })
            .collect();
        let t = Arc::new(t);
        Snapshot {
            polled_at_ms: 2_000,
            up: true,
            last_topology: Some(t.clone()),
            topology: Some(t),
            nodes,
            ..Snapshot::empty("test")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_per_bucket_and_end_in_inf() {
        let mut h = DurationHistogram::default();
        for s in [0.0005, 0.001, 0.3, 99.0] {
            h.observe(s);
        }
        assert_eq!(h.count, 4);
        assert_eq!(h.buckets[0], (0.001, 2), "<= is inclusive");
        assert_eq!(h.buckets.iter().find(|b| b.0 == 0.5), Some(&(0.5, 1)));
        assert_eq!(h.buckets.last(), Some(&(f64::INFINITY, 1)));
        assert!((h.sum - 99.3015).abs() < 1e-9);
    }
}
