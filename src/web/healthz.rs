//! `/healthz`: 200 while every cluster's poller keeps polling, 503 naming each one whose last
//! poll is older than its bound, so that a probe restarts a process whose poller wedged.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::clock;
use crate::snapshot::Published;

/// A cluster whose poller has not completed a poll within its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The cluster's name.
    pub cluster: String,
    /// How long ago its last poll started (or its poller, before the first).
    pub age: Duration,
    /// Its bound: three poll intervals plus the timeout.
    pub bound: Duration,
}

/// The served clusters whose pollers are stale at `now_ms`, in configuration order.
pub fn stale(snaps: &[Published], now_ms: u64) -> Vec<Stale> {
    snaps
        .iter()
        .filter_map(|p| {
            let liveness = p.liveness?;
            liveness.stale(p.polled_at_ms, now_ms).map(|age| Stale {
                cluster: p.cluster.clone(),
                age,
                bound: liveness.stale_after,
            })
        })
        .collect()
}

/// The status and body for these stale clusters.
pub fn answer(stale: &[Stale]) -> (StatusCode, String) {
    if stale.is_empty() {
        return (StatusCode::OK, "ok\n".to_owned());
    }
    let mut body = String::new();
    for s in stale {
        body.push_str(&format!(
            "stale: cluster {:?} has completed no poll for {:.1}s (bound {:.1}s)\n",
            s.cluster,
            s.age.as_secs_f64(),
            s.bound.as_secs_f64()
        ));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

/// The `/healthz` handler.
pub async fn handler(State(state): State<Arc<AppState>>) -> Response {
    answer(&stale(&state.snapshots(), clock::now_ms())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::liveness::Liveness;
    use crate::snapshot::{Published, Snapshot};

    fn served(cluster: &str, polled_at_ms: u64) -> Published {
        Published::new(Snapshot {
            polled_at_ms,
            liveness: Some(Liveness::new(
                1_000,
                Duration::from_secs(1),
                Duration::from_millis(500),
            )),
            ..Snapshot::empty(cluster)
        })
    }

    #[test]
    fn only_the_cluster_past_its_bound_is_named() {
        let snaps = [served("fresh", 10_000), served("wedged", 5_000)];
        let stale = stale(&snaps, 12_000);
        assert_eq!(
            stale,
            [Stale {
                cluster: "wedged".into(),
                age: Duration::from_secs(7),
                bound: Duration::from_millis(3_500),
            }]
        );
        let (status, body) = answer(&stale);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "stale: cluster \"wedged\" has completed no poll for 7.0s (bound 3.5s)\n"
        );
    }

    #[test]
    fn a_snapshot_without_a_poller_is_never_stale() {
        let snaps = [Published::new(Snapshot::empty("check"))];
        assert_eq!(stale(&snaps, u64::MAX), []);
        assert_eq!(answer(&[]), (StatusCode::OK, "ok\n".to_owned()));
    }
}
