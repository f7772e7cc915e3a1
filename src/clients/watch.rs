//! `serve`'s client analysis: one task per cluster that, every `--clients-interval`, decides
//! from what the poller last observed whether to sample the nodes ([`super::refresh`]),
//! samples them, and publishes the report on its own channel, which the HTTP side reads.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::keyed::Commands;
use super::read;
use super::refresh::{Decision, Observed, Refresh, changed_during};
use super::report::ClientsReport;
use crate::redis::Connector;

/// Time between the two samples of an analysis.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// How long a finished analysis waits for a poll that ends after its samples, in poll
/// intervals: that poll says whether the topology held while they were taken.
const POLLS_TO_CONFIRM: u32 = 3;

/// What the task is given: the cluster, how to reach it, and its schedule.
pub struct Task {
    /// The cluster's name.
    pub name: String,
    /// Connects to its nodes.
    pub connector: Arc<Connector>,
    /// Time between analyses.
    pub interval: Duration,
    /// Time between polls, which confirm that the topology held during the samples.
    pub poll_interval: Duration,
}

/// Analyses the clients of the task's cluster every `interval` until `shutdown` turns true.
pub async fn run(
    task: Task,
    mut observed: watch::Receiver<Arc<Observed>>,
    reports: watch::Sender<Option<Arc<ClientsReport>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Task {
        name,
        connector,
        interval,
        poll_interval,
    } = task;
    let mut refresh = Refresh::default();
    let mut commands = Commands::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let seen = observed.borrow().clone();
        match refresh.decide(&seen, crate::clock::now_ms(), interval) {
            Decision::Skip(why) => {
                tracing::debug!(cluster = %name, why, "client analysis skipped");
                reports.send_modify(|r| {
                    if let Some(report) = r {
                        let mut kept = (**report).clone();
                        kept.skipped = Some(why);
                        *r = Some(Arc::new(kept));
                    }
                });
            }
            Decision::Sample(targets) => {
                let from = crate::clock::now_ms();
                let (nodes, unread) =
                    read::sample(&connector, &targets, SAMPLE_INTERVAL, &mut commands).await;
                let to = crate::clock::now_ms();
                let previous = reports.borrow().clone();
                let mut report = ClientsReport::build(
                    &name,
                    to,
                    (&nodes, unread),
                    &commands,
                    previous.as_deref(),
                );
                let confirm = poll_interval.saturating_mul(POLLS_TO_CONFIRM);
                let Some(after) = poll_after(&mut observed, to, confirm, &mut shutdown).await
                else {
                    break;
                };
                if let Some(why) = changed_during(&after, from, to) {
                    tracing::debug!(cluster = %name, why, "client analysis withdrawn");
                    report.withdraw(why);
                }
                if report.suspects() > 0 {
                    tracing::info!(
                        cluster = %name,
                        suspects = report.suspects(),
                        clients = report.clients.len(),
                        "suspect clients found; see /clients"
                    );
                }
                let _ = reports.send(Some(Arc::new(report)));
            }
        }
    }
}

/// The first poll that ends after `to_ms`, or the latest if none does within `bound`; `None`
/// on shutdown.
async fn poll_after(
    observed: &mut watch::Receiver<Arc<Observed>>,
    to_ms: u64,
    bound: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Arc<Observed>> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let latest = observed.borrow_and_update().clone();
        if latest.polled_at_ms > to_ms {
            return Some(latest);
        }
        tokio::select! {
            changed = observed.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Some(latest),
            _ = shutdown.changed() => return None,
        }
    }
}
