//! HTTP endpoints (axum): `/metrics`, `/topology`, `/events`, `/healthz` and a landing page.
//!
//! Handlers only read the latest published snapshots; none of them ever waits on Redis, so a
//! frozen node cannot make a scrape hang.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::metrics;
use crate::poller::Snapshot;
use crate::slot::{SLOT_COUNT, SlotRange};
use crate::topology::diff::Event;
use crate::topology::{Node, NodeId, Topology};

/// Shared state of the HTTP side: one snapshot receiver per cluster and the encoded-metrics
/// cache.
pub struct AppState {
    clusters: Vec<watch::Receiver<Arc<Snapshot>>>,
    /// The last `/metrics` body and the snapshot generations it was rendered from: snapshots
    /// change once per poll while scrapes may come far more often.
    cache: Mutex<Option<(Vec<u64>, axum::body::Bytes)>>,
}

impl AppState {
    /// Builds the state from the pollers' receivers.
    pub fn new(clusters: Vec<watch::Receiver<Arc<Snapshot>>>) -> Arc<AppState> {
        Arc::new(AppState {
            clusters,
            cache: Mutex::new(None),
        })
    }

    fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.clusters.iter().map(|rx| rx.borrow().clone()).collect()
    }

    /// The `/metrics` body for the current snapshots, encoded at most once per poll and shared
    /// (not copied) by concurrent scrapes.
    pub fn metrics_body(&self) -> axum::body::Bytes {
        let snaps = self.snapshots();
        let generations: Vec<u64> = snaps.iter().map(|s| s.generation).collect();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((gens, body)) = cache.as_ref()
            && *gens == generations
        {
            return body.clone();
        }
        let body = axum::body::Bytes::from(metrics::encode(&snaps));
        *cache = Some((generations, body.clone()));
        body
    }
}

/// The routes, ready to serve.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(landing))
        .route("/metrics", get(metrics_handler))
        .route("/topology", get(topology))
        .route("/events", get(events))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics_body();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
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
    snaps: &'a [Arc<Snapshot>],
    cluster: Option<&str>,
) -> Result<Vec<&'a Arc<Snapshot>>, Box<Response>> {
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
struct TopologyOut<'a> {
    clusters: Vec<ClusterOut<'a>>,
}

#[derive(Serialize)]
struct ClusterOut<'a> {
    cluster: &'a str,
    /// The latest poll produced a topology.
    up: bool,
    /// True when `up` is false and this is the last topology seen before.
    stale: bool,
    observed_at: Option<String>,
    observed_at_ms: Option<u64>,
    views: u32,
    /// Answers left out of the merge because no other node lists the answering node.
    ignored_views: u32,
    slots_assigned: u32,
    slots_unassigned: u32,
    unassigned_ranges: Vec<SlotRange>,
    masters: Vec<MasterOut<'a>>,
    nodes: Vec<NodeOut<'a>>,
    migrations: Vec<MigrationOut>,
    disagreement: DisagreementOut,
}

#[derive(Serialize)]
struct MasterOut<'a> {
    node: &'a str,
    id: NodeId,
    slot_count: u32,
    slots: &'a [SlotRange],
    config_epoch: u64,
    fail: bool,
    pfail: bool,
    replicas: Vec<&'a str>,
}

#[derive(Serialize)]
struct NodeOut<'a> {
    #[serde(flatten)]
    node: &'a Node,
    /// The node answered the latest poll.
    up: bool,
    flags: Vec<&'static str>,
}

#[derive(Serialize)]
struct MigrationOut {
    slot: u16,
    source: String,
    source_id: NodeId,
    target: String,
    target_id: NodeId,
    migrating_seen: bool,
    importing_seen: bool,
    /// Seconds since slotwatch first saw it open (it may have opened earlier).
    age_seconds: f64,
}

#[derive(Serialize)]
struct DisagreementOut {
    slots: u32,
    ranges: Vec<SlotRange>,
}

fn cluster_out<'a>(s: &'a Snapshot, t: &'a Topology) -> ClusterOut<'a> {
    let masters = t
        .masters()
        .map(|m| MasterOut {
            node: &m.endpoint,
            id: m.id,
            slot_count: m.slot_count,
            slots: &m.slots,
            config_epoch: m.config_epoch,
            fail: m.fail,
            pfail: m.pfail,
            replicas: t.replicas_of(&m.id).map(|r| r.endpoint.as_str()).collect(),
        })
        .collect();
    let up: std::collections::HashSet<NodeId> = s
        .nodes
        .iter()
        .filter(|st| st.up)
        .filter_map(|st| st.id)
        .collect();
    let nodes = t
        .nodes
        .iter()
        .map(|n| {
            let mut flags = Vec::new();
            for (on, name) in [
                (n.pfail, "fail?"),
                (n.fail, "fail"),
                (n.noaddr, "noaddr"),
                (n.nofailover, "nofailover"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            NodeOut {
                node: n,
                up: s.up && up.contains(&n.id),
                flags,
            }
        })
        .collect();
    let migrations = t
        .migrations
        .iter()
        .map(|m| MigrationOut {
            slot: m.slot,
            source: t.endpoint_of(&m.source),
            source_id: m.source,
            target: t.endpoint_of(&m.target),
            target_id: m.target,
            migrating_seen: m.migrating_seen,
            importing_seen: m.importing_seen,
            age_seconds: s.migration_age_s(&m.key()).unwrap_or(0.0),
        })
        .collect();
    let unassigned = t.unassigned_slots();
    ClusterOut {
        cluster: &s.cluster,
        up: s.up,
        stale: !s.up,
        observed_at: Some(crate::clock::rfc3339(t.observed_at_ms)),
        observed_at_ms: Some(t.observed_at_ms),
        views: t.views,
        ignored_views: t.ignored_views,
        slots_assigned: u32::from(SLOT_COUNT) - unassigned,
        slots_unassigned: unassigned,
        unassigned_ranges: t.unassigned_ranges(),
        masters,
        nodes,
        migrations,
        disagreement: DisagreementOut {
            slots: t.disagreement.len(),
            ranges: t.disagreement.ranges(),
        },
    }
}

fn empty_cluster_out(s: &Snapshot) -> ClusterOut<'_> {
    ClusterOut {
        cluster: &s.cluster,
        up: false,
        stale: false,
        observed_at: None,
        observed_at_ms: None,
        views: 0,
        ignored_views: 0,
        slots_assigned: 0,
        slots_unassigned: u32::from(SLOT_COUNT),
        unassigned_ranges: Vec::new(),
        masters: Vec::new(),
        nodes: Vec::new(),
        migrations: Vec::new(),
        disagreement: DisagreementOut {
            slots: 0,
            ranges: Vec::new(),
        },
    }
}

async fn topology(State(state): State<Arc<AppState>>, Query(q): Query<ClusterFilter>) -> Response {
    let snaps = state.snapshots();
    let chosen = match selected(&snaps, q.cluster.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let clusters = chosen
        .iter()
        .map(|s| match &s.last_topology {
            Some(t) => cluster_out(s, t),
            None => empty_cluster_out(s),
        })
        .collect();
    axum::Json(TopologyOut { clusters }).into_response()
}

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>slotwatch</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.bad{color:#b00}</style>\
         </head><body><h1>slotwatch</h1><p>Prometheus exporter for Redis Cluster: topology \
         events, redirect counters and slot ownership. Polls on its own timer; endpoints \
         serve the latest poll.</p><ul>\
         <li><a href=\"metrics\">/metrics</a> (OpenMetrics)</li>\
         <li><a href=\"topology\">/topology</a> (JSON)</li>\
         <li><a href=\"events\">/events</a> (JSON, <code>?since=&lt;unix seconds&gt;</code>)</li>\
         <li><a href=\"healthz\">/healthz</a></li></ul>\
         <table><tr><th>cluster</th><th>state</th><th>nodes up</th><th>masters</th>\
         <th>unassigned slots</th><th>open migrations</th><th>last event</th></tr>",
    );
    for s in state.snapshots() {
        let (state_text, class) = match (&s.topology, s.polled_at_ms) {
            (_, 0) => ("waiting for first poll", ""),
            (None, _) => ("unreachable", "bad"),
            (Some(t), _) if t.unassigned_slots() > 0 || t.nodes.iter().any(|n| n.fail) => {
                ("degraded", "bad")
            }
            (Some(_), _) => ("ok", ""),
        };
        let up = s.nodes.iter().filter(|n| n.up).count();
        let (masters, unassigned, migrations) = s.topology.as_ref().map_or((0, 0, 0), |t| {
            (
                t.masters().count(),
                t.unassigned_slots(),
                t.migrations.len(),
            )
        });
        let last = s
            .events
            .last()
            .map(|e| format!("{} ({})", e.message, e.time))
            .unwrap_or_else(|| "none".into());
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"{class}\">{state_text}</td><td>{up}/{}</td><td>{masters}</td>\
             <td>{unassigned}</td><td>{migrations}</td><td>{}</td></tr>",
            esc(&s.cluster),
            s.nodes.len(),
            esc(&last)
        );
    }
    page.push_str("</table></body></html>\n");
    Html(page)
}
