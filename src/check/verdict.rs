//! `check`'s redirect verdict: every node's MOVED counter read twice, `--interval` apart, and
//! weighed by [`crate::health::redirects::judge`] against the change the check can see: one
//! during its samples, an open migration, or, with `--exporter`, the last change a running
//! slotwatch saw. A persisting burst is followed by a client analysis that names suspects.
//!
//! The parts that decide are pure ([`bursts_between`], [`change_seen`], [`last_change_in`]).

use std::time::Duration;

use crate::health::redirects::{self, Burst, LastChange, Policy, Verdict};
use crate::snapshot::Snapshot;
use crate::topology::event::KINDS;

/// Default time between the two samples of the counters: long enough for a stream of one
/// MOVED a second to show, short enough to wait for.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// Most bytes of `/events` read from an exporter: 1000 events are about 500 KiB.
const EVENTS_MAX_BYTES: u64 = 16 << 20;

/// How `check` judges redirects.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictOptions {
    /// The thresholds.
    pub policy: Policy,
    /// Time between the two samples.
    pub interval: Duration,
    /// A running slotwatch whose `/events` tell when the topology last changed.
    pub exporter: Option<String>,
}

/// Why the exporter's history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    /// The request failed.
    #[error("{url}: {source}")]
    Get {
        /// The URL asked.
        url: String,
        /// Why.
        source: crate::healthcheck::ProbeError,
    },
    /// The exporter answered with another status than 200.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body, where the exporter says why.
        body: String,
    },
    /// The body is not `/events` JSON.
    #[error("{url}: not the JSON of slotwatch's /events: {message}")]
    Json {
        /// The URL asked.
        url: String,
        /// What is wrong.
        message: String,
    },
}

/// Each node's MOVED per second between two polls of the same cluster; a counter that went
/// down was reset, so its new value is all increase, as in Prometheus' `rate()`.
pub fn bursts_between(before: &Snapshot, after: &Snapshot) -> Vec<Burst> {
    let secs = after
        .polled_at_ms
        .saturating_sub(before.polled_at_ms)
        .max(1) as f64
        / 1000.0;
    after
        .nodes
        .iter()
        .filter_map(|n| {
            let now = n.counters.moved_total()?;
            let was = before
                .nodes
                .iter()
                .find(|b| b.endpoint == n.endpoint)?
                .counters
                .moved_total()?;
            let moved = if now >= was { now - was } else { now };
            (moved > 0).then(|| Burst {
                node: n.endpoint.clone(),
                moved_per_s: moved as f64 / secs,
                since_ms: None,
            })
        })
        .collect()
}

/// The change the two polls show, or else `exporter`'s last change (at, what) when it was
/// asked (`Some(None)`: it saw none).
pub fn change_seen(
    before: &Snapshot,
    after: &Snapshot,
    exporter: Option<(&str, Option<(u64, String)>)>,
) -> LastChange {
    let sample =
        redirects::span(after.polled_at_ms.saturating_sub(before.polled_at_ms) as f64 / 1000.0);
    if let (Some(a), Some(b)) = (&before.topology, &after.topology) {
        let changes = crate::topology::diff::diff(a, b);
        if let Some(c) = changes.iter().find(|c| c.is_topology_change()) {
            return LastChange::Seen {
                at_ms: after.polled_at_ms,
                what: format!("during the {sample} sample: {c}"),
            };
        }
    }
    if let Some(t) = &after.topology
        && !t.migrations.is_empty()
    {
        return LastChange::Seen {
            at_ms: after.polled_at_ms,
            what: format!("{} slot migration(s) open now", t.open_migrations().len()),
        };
    }
    match exporter {
        Some((url, Some((at_ms, what)))) => LastChange::Seen {
            at_ms,
            what: format!("{what}, as {url} saw it"),
        },
        Some((url, None)) => LastChange::Unknown {
            seen: format!(
                "{url} saw no topology change in its history, and none happened during the \
                 {sample} sample"
            ),
        },
        None => LastChange::Unknown {
            seen: format!(
                "no change during the {sample} sample and no migration open; a change before \
                 the check is known only to a running slotwatch (give it with --exporter URL)"
            ),
        },
    }
}

/// The latest change that reroutes clients in an exporter's `/events` JSON: (Unix ms of its
/// end, its sentence).
pub fn last_change_in(json: &[u8]) -> Result<Option<(u64, String)>, String> {
    let events: Vec<serde_json::Value> = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let mut latest: Option<(u64, String)> = None;
    for e in &events {
        let kind = e.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
        let reroutes = KINDS.iter().any(|k| k.name == kind && k.reroutes);
        let at = e
            .get("end_ms")
            .or_else(|| e.get("timestamp_ms"))
            .and_then(|t| t.as_u64());
        let (Some(at), true) = (at, reroutes) else {
            continue;
        };
        if latest.as_ref().is_none_or(|(l, _)| at >= *l) {
            let what = e.get("message").and_then(|m| m.as_str()).unwrap_or(kind);
            latest = Some((at, what.to_owned()));
        }
    }
    Ok(latest)
}

/// Reads the last change from the exporter at `base` for cluster `name`, looking back
/// `lookback` from `now_ms`.
pub async fn exporter_change(
    base: &str,
    name: &str,
    now_ms: u64,
    lookback: Duration,
) -> Result<Option<(u64, String)>, ExporterError> {
    let since = now_ms.saturating_sub(lookback.as_millis() as u64) / 1000;
    let url = format!(
        "{}/events?cluster={}&since={since}",
        base.trim_end_matches('/'),
        crate::web::cluster::path_segment(name)
    );
    let fetch = url.clone();
    let got = tokio::task::spawn_blocking(move || {
        crate::healthcheck::get(&fetch, Duration::from_secs(5), EVENTS_MAX_BYTES)
    })
    .await;
    let (status, body) = match got {
        Ok(Ok(answer)) => answer,
        Ok(Err(source)) => return Err(ExporterError::Get { url, source }),
        Err(e) => {
            return Err(ExporterError::Json {
                url,
                message: e.to_string(),
            });
        }
    };
    if status != 200 {
        let body = String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_owned();
        return Err(ExporterError::Status { url, status, body });
    }
    last_change_in(&body).map_err(|message| ExporterError::Json { url, message })
}

/// The verdict on two polls `interval` apart, with `suspects` if it persists.
pub fn judge(
    before: &Snapshot,
    after: &Snapshot,
    change: &LastChange,
    policy: &Policy,
    suspects: Vec<String>,
) -> Verdict {
    let secs = after.polled_at_ms.saturating_sub(before.polled_at_ms) as f64 / 1000.0;
    redirects::judge(
        after.polled_at_ms,
        &bursts_between(before, after),
        change,
        policy,
        suspects,
        format!("a {} sample", redirects::span(secs)),
    )
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
