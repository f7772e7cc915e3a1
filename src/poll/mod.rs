//! Polls one cluster on its own timer and publishes immutable snapshots for the HTTP side.
//!
//! Unlike most exporters, slotwatch does not query Redis when scraped: a topology diff needs
//! successive samples taken at a steady pace, and a scrape must never hang on a frozen node. Each
//! poll reads every known node concurrently, in one pipelined round trip per node, each bounded
//! by the per-node timeout: `CLUSTER NODES` where the plan wants the node's view, `INFO` with
//! `errorstats` and `stats` (and `commandstats` when due), `CLUSTER INFO`, on masters the
//! atomic migration job log (Valkey 9's `CLUSTER GETSLOTMIGRATIONS`, Redis 8.4's `CLUSTER
//! MIGRATION STATUS ALL`), and for classic migrations `CLUSTER COUNTKEYSINSLOT` (with
//! `keyspace` in the INFO call, and in each other database holding keys). What a server has
//! comes from its `INFO server` when the connection opens, so nothing is refused. Then
//! [`state::ClusterState`] merges, diffs and records, and the snapshot goes out on the
//! cluster's [`Feed`], beside the client analysis's reports.
//!
//! Pure, testable without a server: [`plan`] (which nodes, which full views), [`state`] (the
//! state machine from answers to snapshot and events), [`history`] (the events ring and
//! cumulative statistics), [`sample`] (what a visit brings back), [`lasting`] and `notes` (what
//! goes to the log), and the private `node` and `migrations`. I/O that drives them: [`fetch`]
//! (connections and the pipelined round trip) and this module's [`Poller`] (the timer).

mod answers;
pub mod fetch;
pub mod history;
pub mod lasting;
mod migrations;
mod node;
mod notes;
pub mod plan;
mod replies;
pub mod sample;
pub mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use tokio::sync::watch;

use crate::clients::refresh::Observed;
use crate::clients::report::ClientsReport;
use crate::clock;
use crate::config::{ClusterConfig, Reach};
use crate::redis::Connector;
use crate::snapshot::liveness::Liveness;
use crate::snapshot::{Published, Snapshot};
use crate::tls::TlsError;
use crate::topology::event::EventKind;
use fetch::Fetcher;
use plan::Sampling;
use sample::Fetched;
use state::{ClusterState, Note, Outcome, PollEnd, SlotStatsCadence};

/// What the HTTP side reads of one cluster: the poller's snapshots and the client analysis's
/// reports, each on its own channel.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The latest snapshot, replaced after every poll.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The latest client report, replaced after every analysis; `None` until the first.
    pub clients: watch::Receiver<Option<Arc<ClientsReport>>>,
}

impl Feed {
    /// The latest snapshot and report, together.
    pub fn latest(&self) -> Published {
        Published {
            snapshot: self.snapshots.borrow().clone(),
            clients: self.clients.borrow().clone(),
        }
    }
}

/// Polls one cluster; owns its connections and its state.
pub struct Poller {
    /// What the state is rebuilt from when a poll panics.
    cluster: ClusterConfig,
    events_capacity: usize,
    state: ClusterState,
    fetcher: Fetcher,
    tx: watch::Sender<Arc<Snapshot>>,
    /// The client analysis, when on: its own connections, its interval, where it publishes.
    clients: Option<ClientTask>,
    /// Makes chosen polls panic or hang, to show that the process survives both.
    #[cfg(test)]
    fault: Option<tests::liveness::FaultHook>,
}

/// What the poller hands its client analysis task when it starts.
struct ClientTask {
    connector: Arc<Connector>,
    interval: std::time::Duration,
    reports: watch::Sender<Option<Arc<ClientsReport>>>,
}

impl Poller {
    /// Creates a poller and the feed the HTTP side reads; fails only on unusable TLS files.
    pub fn new(
        cluster: &ClusterConfig,
        events_capacity: usize,
    ) -> Result<(Poller, Feed), TlsError> {
        let liveness = Liveness::new(
            clock::now_ms(),
            cluster.schedule.poll_interval,
            cluster.reach.timeout,
        );
        let state = fresh_state(cluster, events_capacity, liveness);
        let (tx, snapshots) = watch::channel(Arc::new(state.empty_snapshot()));
        let (reports, clients) = watch::channel(None);
        let poller = Poller {
            cluster: cluster.clone(),
            events_capacity,
            state,
            fetcher: Fetcher::new(Connector::new(&cluster.reach)?),
            tx,
            clients: match cluster.schedule.clients_interval {
                d if d.is_zero() => None,
                interval => Some(ClientTask {
                    connector: Arc::new(Connector::new(&cluster.reach)?),
                    interval,
                    reports,
                }),
            },
            #[cfg(test)]
            fault: None,
        };
        Ok((poller, Feed { snapshots, clients }))
    }

    /// Polls on the configured interval until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        // Only a running analysis is told what each poll observed.
        let observed_tx = self.clients.take().map(|task| {
            let (observed_tx, observed) = watch::channel(Arc::new(Observed::default()));
            tokio::spawn(crate::clients::watch::run(
                crate::clients::watch::Task {
                    name: self.cluster.name.clone(),
                    connector: task.connector,
                    interval: task.interval,
                    poll_interval: self.cluster.schedule.poll_interval,
                },
                observed,
                task.reports,
                shutdown.clone(),
            ));
            observed_tx
        });
        let mut ticker = tokio::time::interval(self.cluster.schedule.poll_interval);
        // A poll that overran should not be followed by a burst of catch-up polls.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut change = ChangeWindow::default();
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let Some(outcome) = self.guarded_poll().await else {
                        continue;
                    };
                    log(&self.cluster.name, &outcome);
                    change.observe(&outcome.snapshot);
                    // Nobody listening only happens during shutdown.
                    if let Some(tx) = &observed_tx {
                        let _ = tx.send(Arc::new(observed_of(&outcome.snapshot, &change)));
                    }
                    let _ = self.tx.send(outcome.snapshot);
                }
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::debug!(cluster = %self.cluster.name, "poller stopped");
    }

    /// One poll; a poll that panics restarts the poller from its configuration instead of
    /// ending the task and leaving its last snapshot served forever. Its state may be half
    /// updated, so all of it goes: events, history and connections start again.
    async fn guarded_poll(&mut self) -> Option<Outcome> {
        let polled = AssertUnwindSafe(async {
            #[cfg(test)]
            self.inject_fault().await;
            poll(&mut self.state, &mut self.fetcher).await
        })
        .catch_unwind()
        .await;
        match polled {
            Ok(outcome) => Some(outcome),
            Err(panic) => {
                let mut liveness = self.state.liveness().unwrap_or_else(|| {
                    let s = &self.cluster;
                    Liveness::new(clock::now_ms(), s.schedule.poll_interval, s.reach.timeout)
                });
                liveness.restarts += 1;
                tracing::error!(
                    cluster = %self.cluster.name,
                    restarts = liveness.restarts,
                    panic = panic_message(panic.as_ref()),
                    "a poll panicked; the poller starts again from its configuration"
                );
                self.state = fresh_state(&self.cluster, self.events_capacity, liveness);
                self.fetcher.forget_connections();
                None
            }
        }
    }
}

#[cfg(test)]
impl Poller {
    /// The same poller, with polls that panic or hang as `hook` says.
    pub(crate) fn with_fault(mut self, hook: tests::liveness::FaultHook) -> Self {
        self.fault = Some(hook);
        self
    }

    async fn inject_fault(&self) {
        use tests::liveness::Fault;
        match self.fault.as_ref().map_or(Fault::None, |hook| hook()) {
            Fault::None => {}
            Fault::Panic => panic!("injected"),
            Fault::Hang => std::future::pending::<()>().await,
        }
    }
}

/// A poller's state before its first poll.
fn fresh_state(
    cluster: &ClusterConfig,
    events_capacity: usize,
    liveness: Liveness,
) -> ClusterState {
    let state = ClusterState::new(
        &cluster.name,
        &cluster.reach.seeds,
        Sampling::Rotate(cluster.schedule.full_views_per_poll),
        events_capacity,
    )
    .with_redirect_policy(cluster.redirects)
    .with_liveness(liveness);
    match slot_stats_cadence(&cluster.schedule) {
        Some(cadence) => state.with_slot_stats(cadence),
        None => state,
    }
}

/// Every how many polls a schedule reads the per-slot stats (its interval over the poll
/// interval, rounded up); `None` when they are off.
fn slot_stats_cadence(schedule: &crate::config::Schedule) -> Option<SlotStatsCadence> {
    if schedule.slot_stats_interval.is_zero() {
        return None;
    }
    let poll = schedule.poll_interval.as_millis().max(1);
    let every = schedule.slot_stats_interval.as_millis().div_ceil(poll);
    Some(SlotStatsCadence {
        every: u32::try_from(every).unwrap_or(u32::MAX).max(1),
        top: schedule.slot_stats_top,
    })
}

/// What a panic said, when it said it with a string (as `panic!` and `expect` do).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Between which two polls the last topology change happened.
#[derive(Debug, Default)]
struct ChangeWindow {
    /// The latest poll's time.
    polled_at_ms: u64,
    /// The last change's time, as the snapshot stamps it.
    changed_ms: u64,
    /// The poll before the one that saw it.
    after_ms: u64,
}

impl ChangeWindow {
    /// Takes in the latest poll.
    fn observe(&mut self, s: &Snapshot) {
        if s.stats.last_topology_change_ms != self.changed_ms {
            self.changed_ms = s.stats.last_topology_change_ms;
            self.after_ms = self.polled_at_ms;
        }
        self.polled_at_ms = s.polled_at_ms;
    }
}

/// What the client analysis needs of a snapshot.
fn observed_of(s: &Snapshot, change: &ChangeWindow) -> Observed {
    let mut demoted = HashMap::new();
    for e in s.events.iter() {
        if let EventKind::Failover { old_master, .. } = &e.kind {
            demoted.insert(old_master.node.clone(), e.timestamp_ms);
        }
    }
    Observed {
        counters: s
            .nodes
            .iter()
            .map(|n| (n.endpoint.clone(), n.counters.clone()))
            .collect(),
        topology: s.topology.clone(),
        last_topology_change_ms: s.stats.last_topology_change_ms,
        last_topology_change_after_ms: change.after_ms,
        polled_at_ms: s.polled_at_ms,
        demoted,
    }
}

/// One poll that reads every node's full view, with the same code as `serve`: what
/// `slotwatch check` runs. It has no schedule and keeps no history. With `slot_stats`, it also
/// reads every master's per-slot stats.
pub async fn poll_once(
    name: &str,
    reach: &Reach,
    slot_stats: bool,
) -> Result<Arc<Snapshot>, TlsError> {
    let mut state = ClusterState::new(name, &reach.seeds, Sampling::All, 1);
    if slot_stats {
        state = state.with_slot_stats(SlotStatsCadence {
            every: 1,
            top: crate::config::DEFAULT_SLOT_STATS_TOP,
        });
    }
    let mut fetcher = Fetcher::new(Connector::new(reach)?);
    Ok(poll(&mut state, &mut fetcher).await.snapshot)
}

/// Plans, fetches (with a second wave on discovery or when no view came back) and applies
/// one poll.
async fn poll(state: &mut ClusterState, fetcher: &mut Fetcher) -> Outcome {
    let started = Instant::now();
    let started_ms = clock::now_ms();
    let plan = state.plan();
    fetcher.keep_only(&plan);
    fetcher.new_poll();
    let mut fetched = fetcher.fetch(&plan).await;
    let more = state.second_wave(&fetched);
    if !more.is_empty() {
        let later = fetcher.fetch(&more).await;
        Fetched::fill_in(&mut fetched, later);
    }
    state.apply(
        fetched,
        PollEnd {
            started_ms,
            elapsed: started.elapsed(),
            bytes_read_total: fetcher.bytes_read(),
        },
    )
}

/// Logs a command the ACL refuses, and what cannot be seen because of it.
fn log_denied(cluster: &str, note: &Note) {
    match note {
        Note::JobsDenied { node, error } => tracing::warn!(
            cluster,
            node,
            error,
            "cannot read the node's atomic migration jobs: its migrations are invisible until \
             the ACL allows cluster|getslotmigrations (Valkey) or cluster|migration (Redis)"
        ),
        Note::SlotStatsDenied { node, error } => tracing::warn!(
            cluster,
            node,
            error,
            "cannot read the node's per-slot stats: its load is not shown, and not asked \
             again, until the ACL allows cluster|slot-stats and slotwatch restarts"
        ),
        _ => {}
    }
}

/// Logs a poll's events at INFO with their structured fields, and its notes.
fn log(cluster: &str, outcome: &Outcome) {
    for note in &outcome.notes {
        match note {
            Note::Baseline { nodes, masters } => {
                tracing::info!(cluster, nodes, masters, "baseline topology")
            }
            Note::NodeFailing {
                node,
                reason,
                error,
            } => tracing::warn!(cluster, node, reason, error, "cannot poll node"),
            Note::NodeStillFailing {
                node,
                reason,
                error,
                lasted,
            } => tracing::warn!(
                cluster,
                node,
                reason,
                error,
                for_s = lasted.seconds,
                polls = lasted.polls,
                "node still failing"
            ),
            Note::NodeAnswering { node, lasted } => tracing::info!(
                cluster,
                node,
                failed_for_s = lasted.seconds,
                polls = lasted.polls,
                "node answering again"
            ),
            Note::JobsDenied { .. } | Note::SlotStatsDenied { .. } => log_denied(cluster, note),
            Note::NoView { tried } => tracing::warn!(
                cluster,
                tried,
                "no node's view could be read; trying the seeds too"
            ),
            Note::StillNoView { tried, lasted } => tracing::warn!(
                cluster,
                tried,
                for_s = lasted.seconds,
                polls = lasted.polls,
                "still no node's view could be read"
            ),
            Note::ViewsAgain { lasted } => tracing::info!(
                cluster,
                for_s = lasted.seconds,
                polls = lasted.polls,
                "cluster views readable again"
            ),
        }
    }
    for (e, continued) in outcome
        .events
        .iter()
        .map(|e| (e, false))
        .chain(outcome.continued.iter().map(|e| (e, true)))
    {
        tracing::info!(
            cluster,
            kind = e.kind.name(),
            continued,
            details = %serde_json::to_string(&e.kind).unwrap_or_default(),
            "{}",
            e.message
        );
    }
}
