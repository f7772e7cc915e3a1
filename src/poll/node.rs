//! What slotwatch keeps about one node between polls, and its reconnect backoff. Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::lasting::{Lasted, Lasting};
use super::plan::{SlotStatsCadence, StatsAsk, Visit};
use super::sample::{Fetched, Sample, SlotStatsRead};
use crate::cluster_info::ClusterInfo;
use crate::info::NodeCounters;
use crate::redis::FetchError;
use crate::replication::Replication;
use crate::snapshot::NodeStatus;
use crate::topology::{Node, NodeId, Role, Topology};

/// Everything slotwatch keeps about one node, keyed by its endpoint.
#[derive(Debug, Clone, Default)]
pub(super) struct NodeState {
    /// Host to connect to.
    pub(super) host: String,
    /// Port to connect to.
    pub(super) port: u16,
    /// The node's ID, once a view names it.
    pub(super) id: Option<NodeId>,
    /// Its counters as last read; kept through polls that could not read them.
    pub(super) counters: Option<NodeCounters>,
    /// Its `CLUSTER INFO` as last read; shown only while it answers.
    pub(super) cluster_info: Option<ClusterInfo>,
    /// Its `INFO replication` as last read; shown only while it answers.
    pub(super) replication: Option<Replication>,
    /// Its `availability_zone`, as it last said.
    pub(super) zone: Option<String>,
    /// Failed fetches by reason.
    pub(super) errors: BTreeMap<&'static str, u64>,
    /// Whether it answers.
    pub(super) link: Link,
    /// A refusal of the job log's command was reported, so it is not reported again.
    pub(super) jobs_denied_reported: bool,
    /// Polls left during which its full view is read every poll.
    pub(super) hot: u32,
    /// The node's `total_error_replies` when its `INFO commandstats` was last read.
    pub(super) command_stats_at: Option<u64>,
    /// Its slots' load at the last two readings of its per-slot stats.
    pub(super) load: Option<crate::snapshot::Loads>,
    /// Whether its server has `CLUSTER SLOT-STATS`, once asked.
    pub(super) slot_stats: Option<bool>,
    /// Polls it answered since its per-slot stats were last asked for; `None` if never.
    pub(super) stats_age: Option<u32>,
    /// It refused `CLUSTER SLOT-STATS`: never asked again, as each refusal would count in its
    /// error statistics.
    pub(super) stats_denied: bool,
}

/// Whether a node answers, for the reconnect policy and the log.
#[derive(Debug, Clone, Default)]
pub(super) enum Link {
    /// Its latest fetch succeeded, or none was tried yet.
    #[default]
    Up,
    /// Its latest fetches failed.
    Failing(Failing),
}

/// A node whose latest fetches failed.
#[derive(Debug, Clone)]
pub(super) struct Failing {
    /// Consecutive failed fetches, at least one.
    failures: u32,
    /// Why the latest one failed: `slotwatch_poll_errors_total`'s reason.
    reason: &'static str,
    /// Skip the next poll: the node failed twice or more in a row.
    resting: bool,
    /// Since when, for the log.
    down: Lasting,
}

/// What a fetch changed in whether a node answers, worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// It started failing, or now fails for another reason.
    Failing(&'static str),
    /// It still fails for the same reason, and a reminder is due.
    StillFailing(&'static str, Lasted),
    /// It answers again after failing for so long.
    Answering(Lasted),
}

impl NodeState {
    /// True, once, when the poll being planned must skip the node: it is resting.
    pub(super) fn take_rest(&mut self) -> bool {
        match &mut self.link {
            Link::Failing(f) if f.resting => {
                f.resting = false;
                true
            }
            _ => false,
        }
    }

    pub(super) fn visit(&self, endpoint: &str) -> Visit {
        Visit {
            endpoint: endpoint.to_owned(),
            host: self.host.clone(),
            port: self.port,
            full_view: false,
            close_after: false,
            jobs: false,
            count_slots: Vec::new(),
            command_stats: self.command_stats_due(),
            slot_stats: None,
        }
    }

    /// Whether the next visit must read `INFO commandstats`: the node's error replies changed
    /// since it was last read, or that cannot be told (never read, or a server without
    /// `total_error_replies`). A refused command is an error reply, so the rejected calls it
    /// would show are the ones already known; they are at most one poll late.
    fn command_stats_due(&self) -> bool {
        let now = self.counters.as_ref().and_then(|c| c.error_replies);
        now.is_none() || now != self.command_stats_at
    }

    /// What to ask of the node's per-slot stats this poll, if they are due: masters' own (a
    /// replica reports its master's slots, with counters that include the replication stream),
    /// over the slots it owns; a node of unknown role (`node` is `None`) when `unknown_asked`.
    pub(super) fn stats_ask(
        &self,
        cadence: SlotStatsCadence,
        node: Option<&Node>,
        unknown_asked: bool,
    ) -> Option<StatsAsk> {
        let master = node.map_or(unknown_asked, |n| {
            n.role == Role::Master && n.slot_count > 0
        });
        (master && self.slot_stats_due(cadence.every)).then(|| StatsAsk {
            top: cadence.top,
            ranges: node.map(|n| n.slots.clone()).unwrap_or_default(),
        })
    }

    /// Whether the node's per-slot stats are due, read every `every` polls it answers.
    pub(super) fn slot_stats_due(&self, every: u32) -> bool {
        !self.stats_denied && self.stats_age.is_none_or(|age| age + 1 >= every)
    }

    /// Keeps what a visit said of the node's per-slot stats, the load stamped `now_ms`;
    /// returns the server's words when it refused them for the first time.
    pub(super) fn keep_slot_stats(&mut self, read: SlotStatsRead, now_ms: u64) -> Option<String> {
        let mut denied = None;
        match read {
            SlotStatsRead::NotAsked => {
                self.stats_age = self.stats_age.map(|age| age.saturating_add(1));
                return None;
            }
            SlotStatsRead::Denied(error) => {
                denied = (!self.stats_denied).then_some(error);
                self.stats_denied = true;
                self.load = None;
            }
            SlotStatsRead::Failed(_) => {}
            SlotStatsRead::Unsupported => {
                self.slot_stats = Some(false);
                self.load = None;
            }
            SlotStatsRead::Read(mut latest) => {
                latest.read_at_ms = now_ms;
                self.slot_stats = Some(true);
                let before = self.load.take().map(|l| l.latest);
                self.load = Some(crate::snapshot::Loads { latest, before });
            }
        }
        self.stats_age = Some(0);
        denied
    }

    /// Keeps a sample's counters, with the rejected calls of the last read when this visit did
    /// not read them.
    pub(super) fn keep_counters(&mut self, mut counters: NodeCounters) {
        if counters.has_commandstats {
            self.command_stats_at = counters.error_replies;
        } else if let Some(before) = &self.counters {
            counters.rejected_calls = before.rejected_calls.clone();
            counters.has_commandstats = before.has_commandstats;
        }
        self.counters = Some(counters);
    }

    /// Records the outcome of the fetch of the poll at `now_ms` for the reconnect policy: a
    /// failing node is tried again the next poll; after two failures in a row, every other
    /// poll. A dead node thus gets at most one connection attempt per two polls, and a node
    /// (or a whole cluster) that comes back is seen within two polls, however long it was
    /// away. Returns what the log should say of it.
    pub(super) fn fetched(
        &mut self,
        result: &Result<Sample, FetchError>,
        now_ms: u64,
    ) -> Option<Change> {
        match (result, &mut self.link) {
            (Ok(_), Link::Up) => None,
            (Ok(_), Link::Failing(f)) => {
                let lasted = f.down.lasted(now_ms);
                self.link = Link::Up;
                Some(Change::Answering(lasted))
            }
            (Err(FetchError::Resting), Link::Failing(f)) => f
                .down
                .again(now_ms)
                .map(|lasted| Change::StillFailing(f.reason, lasted)),
            (Err(FetchError::Resting), Link::Up) => None,
            (Err(e), link) => {
                let reason = e.reason();
                *self.errors.entry(reason).or_insert(0) += 1;
                match link {
                    Link::Up => {
                        *link = Link::Failing(Failing {
                            failures: 1,
                            reason,
                            resting: false,
                            down: Lasting::start(now_ms),
                        });
                        Some(Change::Failing(reason))
                    }
                    Link::Failing(f) => {
                        f.failures += 1;
                        f.resting = f.failures >= 2;
                        let reminder = f.down.again(now_ms);
                        if f.reason != reason {
                            f.reason = reason;
                            Some(Change::Failing(reason))
                        } else {
                            reminder.map(|lasted| Change::StillFailing(reason, lasted))
                        }
                    }
                }
            }
        }
    }
}

/// What the snapshot says of a node: what `state` keeps of it, its own word on the cluster and
/// its link only while it answers (`up`).
pub(super) fn status(
    endpoint: &str,
    id: Option<NodeId>,
    up: bool,
    state: Option<&NodeState>,
    last_error: Option<String>,
) -> NodeStatus {
    NodeStatus {
        endpoint: endpoint.to_owned(),
        id,
        up,
        counters: state.and_then(|s| s.counters.clone()).unwrap_or_default(),
        cluster_info: state.and_then(|s| s.cluster_info).filter(|_| up),
        replication: state.and_then(|s| s.replication.clone()).filter(|_| up),
        zone: state.and_then(|s| s.zone.clone()),
        errors: state.map(|s| s.errors.clone()).unwrap_or_default(),
        last_error,
        load: state.and_then(|s| s.load.clone()),
        slot_stats: state.and_then(|s| s.slot_stats),
    }
}

/// The IDs, as the views of this poll name them, of the nodes that answered without their
/// own view and whose ID is not known yet (seeds, on discovery): usually none, so the views'
/// thousands of lines are not gone through every poll.
pub(super) fn ids_from_views(
    nodes: &BTreeMap<String, NodeState>,
    fetched: &[Fetched],
) -> HashMap<String, NodeId> {
    let unknown: HashSet<&str> = fetched
        .iter()
        .filter(|f| {
            let own = f
                .result
                .as_ref()
                .ok()
                .and_then(|s| s.view.as_ref()?.myself());
            own.is_none() && nodes.get(&f.endpoint).and_then(|n| n.id).is_none()
        })
        .map(|f| f.endpoint.as_str())
        .collect();
    if unknown.is_empty() {
        return HashMap::new();
    }
    fetched
        .iter()
        .filter_map(|f| f.result.as_ref().ok()?.view.as_ref())
        .flat_map(|v| v.lines.iter().map(|l| (l.addr.endpoint(), l.id)))
        .filter(|(e, _)| unknown.contains(e.as_str()))
        .collect()
}

/// Keeps state only for the new topology's nodes, carrying a node's counters to its new
/// address when it moved.
pub(super) fn follow_membership(nodes: &mut BTreeMap<String, NodeState>, t: &Topology) {
    let keep: HashSet<&str> = t.nodes.iter().map(|n| n.endpoint.as_str()).collect();
    let mut departed: HashMap<NodeId, NodeState> = HashMap::new();
    nodes.retain(|e, n| {
        let stays = keep.contains(e.as_str());
        if let (false, Some(id)) = (stays, n.id) {
            departed.insert(id, n.clone());
        }
        stays
    });
    for n in &t.nodes {
        let state = nodes.entry(n.endpoint.clone()).or_default();
        state.id = Some(n.id);
        if state.counters.is_none() {
            state.counters = departed.get(&n.id).and_then(|d| d.counters.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::poll::lasting::REMIND_EVERY_MS;

    fn ok() -> Result<Sample, FetchError> {
        Ok(Sample {
            view: None,
            counters: NodeCounters::default(),
            cluster_info: None,
            replication: None,
            zone: None,
            jobs: Default::default(),
            keys: Vec::new(),
            slot_stats: Default::default(),
        })
    }

    fn refused() -> Result<Sample, FetchError> {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        Err(FetchError::Connect(Arc::new(e)))
    }

    fn timeout() -> Result<Sample, FetchError> {
        Err(FetchError::Timeout(Duration::from_secs(1)))
    }

    #[test]
    fn a_failing_node_is_reported_once_rests_every_other_poll_and_comes_back() {
        let mut n = NodeState::default();
        assert_eq!(n.fetched(&ok(), 0), None);
        assert!(!n.take_rest(), "an answering node never rests");
        assert_eq!(
            n.fetched(&refused(), 1_000),
            Some(Change::Failing("connect"))
        );
        assert!(!n.take_rest(), "one failure is tried again at once");
        assert_eq!(n.fetched(&refused(), 2_000), None, "reported already");
        assert!(n.take_rest(), "two failures in a row rest the next poll");
        assert!(!n.take_rest(), "one poll only");
        assert_eq!(n.fetched(&Err(FetchError::Resting), 3_000), None);
        assert_eq!(
            n.fetched(&timeout(), 4_000),
            Some(Change::Failing("timeout"))
        );
        assert_eq!(n.errors.get("connect"), Some(&2));
        assert_eq!(n.errors.get("timeout"), Some(&1));
        assert_eq!(n.errors.get("resting"), None, "a rest is not an error");
        // Four polls failed it, the rest included: from 1 s to 5 s.
        let lasted = Lasted {
            seconds: 4,
            polls: 4,
        };
        assert_eq!(n.fetched(&ok(), 5_000), Some(Change::Answering(lasted)));
        assert!(matches!(n.link, Link::Up));
        assert!(!n.take_rest());
        assert_eq!(
            n.fetched(&refused(), 6_000),
            Some(Change::Failing("connect"))
        );
    }

    #[test]
    fn a_node_that_stays_down_is_reminded_of_while_resting_too() {
        let mut n = NodeState::default();
        n.fetched(&refused(), 0);
        assert_eq!(n.fetched(&refused(), REMIND_EVERY_MS - 1), None);
        let reminder = n.fetched(&Err(FetchError::Resting), REMIND_EVERY_MS);
        let lasted = Lasted {
            seconds: REMIND_EVERY_MS / 1000,
            polls: 3,
        };
        assert_eq!(reminder, Some(Change::StillFailing("connect", lasted)));
        let reminder = n.fetched(&refused(), 2 * REMIND_EVERY_MS);
        assert!(matches!(reminder, Some(Change::StillFailing("connect", _))));
    }
}
