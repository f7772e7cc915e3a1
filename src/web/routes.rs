//! The routes: `/metrics`, `/topology`, `/events`, `/clients`, `/healthz`, `/` and the cluster
//! pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::auth::{self, Guard};
use super::{AppState, cluster, healthz, landing, topology};
use crate::metrics;
use crate::snapshot::Published;
use crate::topology::event::Event;

/// The routes, ready to serve; with a web config, every request passes its auth guard.
pub fn router(state: Arc<AppState>, guard: Option<Arc<Guard>>) -> Router {
    let router = Router::new()
        .route("/", get(landing::page))
        .route("/cluster/{name}", get(cluster::page_handler))
        .route("/cluster/{name}/data", get(cluster::data_handler))
        .route("/metrics", get(metrics_handler))
        .route("/topology", get(topology_handler))
        .route("/events", get(events))
        .route("/clients", get(clients_handler))
        .route("/healthz", get(healthz::handler))
        .with_state(state);
    match guard {
        Some(guard) => router.layer(axum::middleware::from_fn_with_state(guard, auth::guard)),
        None => router,
    }
}

async fn metrics_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let body = state.metrics_body().await;
    let vary = (header::VARY, "Accept-Encoding");
    if accepts_gzip(&headers) {
        (
            [
                (header::CONTENT_TYPE, metrics::CONTENT_TYPE),
                (header::CONTENT_ENCODING, "gzip"),
                vary,
            ],
            body.gzip.clone(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, metrics::CONTENT_TYPE), vary],
            body.plain.clone(),
        )
            .into_response()
    }
}

/// True if `Accept-Encoding` lists gzip (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

#[derive(Deserialize)]
struct ClusterFilter {
    cluster: Option<String>,
}

#[derive(Deserialize)]
struct EventsQuery {
    cluster: Option<String>,
    /// Unix seconds (fractions allowed); only events at or after it are returned.
    since: Option<String>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message + "\n").into_response()
}

/// The snapshots `?cluster=` selects (all without it), or a 404 response naming the cluster.
fn selected<'a>(
    snaps: &'a [Published],
    cluster: Option<&str>,
) -> Result<Vec<&'a Published>, Box<Response>> {
    match cluster {
        None => Ok(snaps.iter().collect()),
        Some(name) => {
            let found: Vec<_> = snaps.iter().filter(|s| s.cluster == name).collect();
            if found.is_empty() {
                Err(Box::new(
                    (
                        StatusCode::NOT_FOUND,
                        format!("no cluster named {name:?}\n"),
                    )
                        .into_response(),
                ))
            } else {
                Ok(found)
            }
        }
    }
}

#[derive(Serialize)]
struct EventOut<'a> {
    cluster: &'a str,
    #[serde(flatten)]
    event: &'a Event,
}

async fn events(State(state): State<Arc<AppState>>, Query(q): Query<EventsQuery>) -> Response {
    let since_ms = match q.since.as_deref().map(str::parse::<f64>) {
        None => 0,
        Some(Ok(s)) if s.is_finite() && s >= 0.0 => (s * 1000.0) as u64,
        Some(_) => {
            return bad_request(
                "since must be a Unix time in seconds, e.g. since=1700000000".into(),
            );
        }
    };
    let snaps = state.snapshots();
    let chosen = match selected(&snaps, q.cluster.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut out: Vec<EventOut> = chosen
        .iter()
        .flat_map(|s| {
            s.events
                .iter()
                .filter(move |e| e.timestamp_ms >= since_ms)
                .map(move |event| EventOut {
                    cluster: &s.cluster,
                    event,
                })
        })
        .collect();
    // Oldest first, newest last, across clusters.
    out.sort_by_key(|e| e.event.timestamp_ms);
    axum::Json(out).into_response()
}

#[derive(Serialize)]
struct ClientsOut<'a> {
    cluster: &'a str,
    /// Why there is no report, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
    report: Option<&'a crate::clients::report::ClientsReport>,
}

/// `GET /clients`: each cluster's latest analysis of the clients causing redirects.
async fn clients_handler(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ClusterFilter>,
) -> Response {
    let snaps = state.snapshots();
    let chosen = match selected(&snaps, q.cluster.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let out: Vec<ClientsOut> = chosen
        .iter()
        .map(|s| ClientsOut {
            cluster: &s.cluster,
            note: s.clients.is_none().then_some(
                "no analysis yet: it runs every --clients-interval once nodes send redirects \
                 (0 turns it off); slotwatch check --clients runs one now",
            ),
            report: s.clients.as_deref(),
        })
        .collect();
    axum::Json(out).into_response()
}

async fn topology_handler(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ClusterFilter>,
) -> Response {
    let snaps = state.snapshots();
    match selected(&snaps, q.cluster.as_deref()) {
        Ok(chosen) => axum::Json(topology::document(&chosen)).into_response(),
        Err(r) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(values: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT_ENCODING, v.parse().unwrap());
        }
        accepts_gzip(&h)
    }

    #[test]
    fn gzip_is_sent_only_to_scrapers_that_accept_it() {
        assert!(accepting(&["gzip"]));
        // Prometheus' own header.
        assert!(accepting(&["gzip, deflate"]));
        assert!(accepting(&["identity", "GZIP;q=0.5"]));
        assert!(accepting(&["*"]));
        assert!(!accepting(&[]));
        assert!(!accepting(&["identity"]));
        assert!(!accepting(&["deflate, gzip;q=0"]));
        assert!(!accepting(&["gzipped"]));
    }
}
