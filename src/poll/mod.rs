//! Polls one cluster on its own timer and publishes immutable snapshots for the HTTP side.
//!
//! Unlike most exporters, slotwatch does not query Redis when scraped: a topology diff needs
//! successive samples taken at a steady pace, and a scrape must never hang on a frozen node. Each
//! poll reads every known node concurrently, in one pipelined round trip per node
//! (`CLUSTER NODES`, `INFO errorstats`, `INFO stats`), each bounded by the per-node timeout;
//! then [`state::ClusterState`] merges, diffs and records, and the snapshot goes out through a
//! watch channel.
//!
//! - [`plan`]: which nodes, which full views (pure);
//! - [`state`]: the state machine from answers to snapshot and events (pure);
//! - [`history`]: the events ring and cumulative statistics (pure);
//! - [`timeline`]: the redirect history the cluster page draws (pure);
//! - [`fetch`]: connections and the pipelined round trip.

pub mod fetch;
pub mod history;
pub mod lasting;
mod migrations;
mod node;
mod notes;
pub mod plan;
pub mod sample;
pub mod state;
#[cfg(test)]
mod tests;
pub mod timeline;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::clock;
use crate::config::{ClusterConfig, Reach};
use crate::redis::Connector;
use crate::snapshot::Snapshot;
use crate::tls::TlsError;
use fetch::Fetcher;
use plan::Sampling;
use sample::Fetched;
use state::{ClusterState, Note, Outcome, PollEnd};

/// Polls one cluster; owns its connections and its state.
pub struct Poller {
    name: String,
    interval: std::time::Duration,
    state: ClusterState,
    fetcher: Fetcher,
    tx: watch::Sender<Arc<Snapshot>>,
    /// The client analysis, when on: its own connections and its interval.
    clients: Option<(Arc<Connector>, std::time::Duration)>,
}

impl Poller {
    /// Creates a poller and the receiver the HTTP side reads snapshots from; fails only on
    /// unusable TLS files.
    pub fn new(
        cluster: &ClusterConfig,
        events_capacity: usize,
    ) -> Result<(Poller, watch::Receiver<Arc<Snapshot>>), TlsError> {
        let state = ClusterState::new(
            &cluster.name,
            &cluster.reach.seeds,
            Sampling::Rotate(cluster.schedule.full_views_per_poll),
            events_capacity,
        );
        let (tx, rx) = watch::channel(Arc::new(state.empty_snapshot()));
        let poller = Poller {
            name: cluster.name.clone(),
            interval: cluster.schedule.poll_interval,
            state,
            fetcher: Fetcher::new(Connector::new(&cluster.reach)?),
            tx,
            clients: match cluster.schedule.clients_interval {
                d if d.is_zero() => None,
                d => Some((Arc::new(Connector::new(&cluster.reach)?), d)),
            },
        };
        Ok((poller, rx))
    }

    /// Polls on the configured interval until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (reports_tx, reports) = watch::channel(None);
        if let Some((connector, interval)) = self.clients.take() {
            tokio::spawn(crate::clients::watch::run(
                self.name.clone(),
                connector,
                interval,
                self.tx.subscribe(),
                reports_tx,
                shutdown.clone(),
            ));
        }
        let mut ticker = tokio::time::interval(self.interval);
        // A poll that overran should not be followed by a burst of catch-up polls.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    self.state.set_clients(reports.borrow().clone());
                    let outcome = poll(&mut self.state, &mut self.fetcher).await;
                    log(&self.name, &outcome);
                    // Nobody listening only happens during shutdown.
                    let _ = self.tx.send(outcome.snapshot);
                }
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::debug!(cluster = %self.name, "poller stopped");
    }
}

/// One poll that reads every node's full view, with the same code as `serve`: what
/// `slotwatch check` runs. It has no schedule and keeps no history.
pub async fn poll_once(name: &str, reach: &Reach) -> Result<Arc<Snapshot>, TlsError> {
    let mut state = ClusterState::new(name, &reach.seeds, Sampling::All, 1);
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
            Note::JobsDenied { node, error } => tracing::warn!(
                cluster,
                node,
                error,
                "cannot read CLUSTER GETSLOTMIGRATIONS: atomic slot migrations on this node are \
                 invisible until the ACL allows cluster|getslotmigrations"
            ),
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
