//! The HTTP side: `/metrics`, `/topology`, `/events`, `/healthz` and the landing page.
//!
//! Handlers only read the latest published snapshots; none of them ever waits on Redis, so a
//! frozen node cannot make a scrape hang.
//!
//! - [`routes`]: the router and the JSON endpoints;
//! - [`topology`]: the `/topology` document;
//! - [`healthz`]: `/healthz`, red when a poller stops keeping up;
//! - [`landing`]: the landing page;
//! - [`cluster`]: the live page of one cluster (`/cluster/<name>`);
//! - [`config`]: the exporter-toolkit web config file (TLS, basic auth, headers);
//! - [`auth`]: basic auth and extra headers, applied to every request;
//! - [`server`]: accepting, TLS, and the drain on shutdown.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod healthz;
pub mod landing;
pub mod routes;
pub mod server;
pub mod topology;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::metrics;
use crate::poll::Feed;
use crate::snapshot::Published;

/// Shared state of the HTTP side: one feed per cluster and the encoded-metrics cache.
pub struct AppState {
    clusters: Vec<Feed>,
    /// The last `/metrics` body and what it was rendered from: snapshots change once per poll
    /// while scrapes may come far more often.
    cache: Mutex<Option<(Vec<Published>, Bytes)>>,
}

impl AppState {
    /// Builds the state from the pollers' feeds.
    pub fn new(clusters: Vec<Feed>) -> Arc<AppState> {
        Arc::new(AppState {
            clusters,
            cache: Mutex::new(None),
        })
    }

    /// Every cluster's latest snapshot and client report, in configuration order.
    pub fn snapshots(&self) -> Vec<Published> {
        self.clusters.iter().map(Feed::latest).collect()
    }

    /// The `/metrics` body for the current snapshots, encoded at most once per poll and shared
    /// (not copied) by concurrent scrapes.
    pub fn metrics_body(&self) -> Bytes {
        let snaps = self.snapshots();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((from, body)) = cache.as_ref()
            && from.len() == snaps.len()
            && from.iter().zip(&snaps).all(|(a, b)| a.same_as(b))
        {
            return body.clone();
        }
        let body = Bytes::from(metrics::encode(&snaps));
        *cache = Some((snaps, body.clone()));
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
