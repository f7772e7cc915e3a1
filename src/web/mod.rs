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
//! - [`heat`]: the full per-slot stats behind its heat view, read on demand and cached;
//! - [`config`]: the exporter-toolkit web config file (TLS, basic auth, headers);
//! - [`auth`]: basic auth and extra headers, applied to every request;
//! - [`server`]: accepting, TLS, and the drain on shutdown.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod encoded;
pub mod healthz;
pub mod heat;
pub mod landing;
pub mod routes;
pub mod server;
pub mod topology;

use std::sync::Arc;

use crate::poll::Feed;
use crate::snapshot::Published;

/// Shared state of the HTTP side: one feed per cluster and the encoded `/metrics` body.
pub struct AppState {
    clusters: Vec<Feed>,
    /// `/metrics`, encoded once per poll by its own task: snapshots change once per poll
    /// while scrapes may come far more often.
    metrics: encoded::Cache,
    /// Each cluster's heat view source, by name; a cluster without one has no heat view.
    heat: std::collections::HashMap<String, Arc<heat::HeatSource>>,
}

impl AppState {
    /// Builds the state from the pollers' feeds, and starts encoding `/metrics` on the
    /// current runtime.
    pub fn new(clusters: Vec<Feed>) -> Arc<AppState> {
        Self::with_heat(clusters, Default::default())
    }

    /// The same, with each named cluster's heat view source.
    pub fn with_heat(
        clusters: Vec<Feed>,
        heat: std::collections::HashMap<String, Arc<heat::HeatSource>>,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            metrics: encoded::Cache::start(&clusters),
            clusters,
            heat,
        })
    }

    /// The heat view source of the cluster `name`.
    pub fn heat(&self, name: &str) -> Option<Arc<heat::HeatSource>> {
        self.heat.get(name).cloned()
    }

    /// Every cluster's latest snapshot and client report, in configuration order.
    pub fn snapshots(&self) -> Vec<Published> {
        self.clusters.iter().map(Feed::latest).collect()
    }

    /// The `/metrics` body for the current snapshots, shared (not copied) by concurrent
    /// scrapes.
    pub async fn metrics_body(&self) -> Arc<encoded::Encoded> {
        self.metrics.body(&self.snapshots()).await
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
