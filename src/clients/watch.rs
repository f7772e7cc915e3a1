//! `serve`'s client analysis: one task per cluster that, every `--clients-interval`, decides
//! from what the poller last observed whether to sample the nodes ([`super::refresh`]),
//! samples them, and publishes the report on its own channel, which the HTTP side reads.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::read;
use super::refresh::{Decision, Observed, Refresh};
use super::report::ClientsReport;
use crate::redis::Connector;

/// Time between the two samples of an analysis.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Analyses the clients of cluster `name` every `interval` until `shutdown` turns true.
pub async fn run(
    name: String,
    connector: Arc<Connector>,
    interval: Duration,
    observed: watch::Receiver<Arc<Observed>>,
    reports: watch::Sender<Option<Arc<ClientsReport>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut refresh = Refresh::default();
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
                let (nodes, unread) = read::sample(&connector, &targets, SAMPLE_INTERVAL).await;
                let report = ClientsReport::build(&name, crate::clock::now_ms(), &nodes, unread);
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
