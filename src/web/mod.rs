//! The HTTP side: `/metrics`, `/topology`, `/events`, `/healthz` and the landing page.
//!
//! Handlers only read the latest published snapshots; none of them ever waits on Redis, so a
//! frozen node cannot make a scrape hang.
//!
//! - [`routes`]: the router and the JSON endpoints;
//! - [`topology`]: the `/topology` document;
//! - [`landing`]: the landing page;
//! - [`cluster`]: the live page of one cluster (`/cluster/<name>`);
//! - [`config`]: the exporter-toolkit web config file (TLS, basic auth, headers);
//! - [`auth`]: basic auth and extra headers, applied to every request;
//! - [`server`]: accepting, TLS, and the drain on shutdown.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod landing;
pub mod routes;
pub mod server;
pub mod topology;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::watch;

use crate::metrics;
use crate::snapshot::Snapshot;

/// Shared state of the HTTP side: one snapshot receiver per cluster and the encoded-metrics
/// cache.
pub struct AppState {
    clusters: Vec<watch::Receiver<Arc<Snapshot>>>,
    /// The last `/metrics` body and the snapshot generations it was rendered from: snapshots
    /// change once per poll while scrapes may come far more often.
    cache: Mutex<Option<(Vec<u64>, Bytes)>>,
}

impl AppState {
    /// Builds the state from the pollers' receivers.
    pub fn new(clusters: Vec<watch::Receiver<Arc<Snapshot>>>) -> Arc<AppState> {
        Arc::new(AppState {
            clusters,
            cache: Mutex::new(None),
        })
    }

    /// Every cluster's latest snapshot, in configuration order.
    pub fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.clusters.iter().map(|rx| rx.borrow().clone()).collect()
    }

    /// The `/metrics` body for the current snapshots, encoded at most once per poll and shared
    /// (not copied) by concurrent scrapes.
    pub fn metrics_body(&self) -> Bytes {
        let snaps = self.snapshots();
        let generations: Vec<u64> = snaps.iter().map(|s| s.generation).collect();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((gens, body)) = cache.as_ref()
            && *gens == generations
        {
            return body.clone();
        }
        let body = Bytes::from(metrics::encode(&snaps));
        *cache = Some((generations, body.clone()));
        body
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
