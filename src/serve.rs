//! `slotwatch serve`: one poller task per cluster, the HTTP server, and a graceful shutdown on
//! SIGINT or SIGTERM that lets requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::poll::Poller;
use crate::tls::TlsError;
use crate::web::auth::{Guard, Verifier};
use crate::web::config::WebConfigSource;
use crate::web::{AppState, routes, server};

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A cluster's TLS settings are unusable.
    #[error("cluster {cluster}: {source}")]
    Tls {
        /// The cluster.
        cluster: String,
        /// What is wrong.
        source: TlsError,
    },
    /// A cluster's password file cannot be read.
    #[error("cluster {cluster}: {source}")]
    Password {
        /// The cluster.
        cluster: String,
        /// Why.
        source: crate::config::PasswordError,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Checks what `serve` would otherwise find wrong only when connecting: every cluster's TLS
/// files load, and its password file can be read. `--check-config` runs it too, so that it
/// rejects everything `serve` would (a listen address in use is left to `serve`).
pub fn preflight(config: &Config) -> Result<(), ServeError> {
    for cluster in &config.clusters {
        crate::redis::Connector::new(&cluster.reach).map_err(|source| ServeError::Tls {
            cluster: cluster.name.clone(),
            source,
        })?;
        if let Some(password) = &cluster.reach.auth.password {
            password.load().map_err(|source| ServeError::Password {
                cluster: cluster.name.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Runs the exporter until SIGINT or SIGTERM. With a web config, the endpoints are served with
/// its TLS and basic auth settings.
pub async fn run(config: Config, web: Option<Arc<WebConfigSource>>) -> Result<(), ServeError> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut receivers = Vec::new();
    let mut pollers = Vec::new();
    let mut heat = std::collections::HashMap::new();
    for cluster in &config.clusters {
        let source =
            crate::web::heat::HeatSource::new(cluster).map_err(|source| ServeError::Tls {
                cluster: cluster.name.clone(),
                source,
            })?;
        heat.insert(cluster.name.clone(), Arc::new(source));
        let (poller, feed) =
            Poller::new(cluster, config.events_capacity).map_err(|source| ServeError::Tls {
                cluster: cluster.name.clone(),
                source,
            })?;
        receivers.push(feed);
        pollers.push(poller);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    tracing::info!(
        listen = %config.listen,
        clusters = config.clusters.len(),
        version = env!("CARGO_PKG_VERSION"),
        "slotwatch serving /metrics, /topology, /events"
    );
    for c in &config.clusters {
        tracing::info!(
            cluster = %c.name,
            seeds = %c.reach.seeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            poll_interval = ?c.schedule.poll_interval,
            timeout = ?c.reach.timeout,
            "watching cluster"
        );
    }
    // Each cluster polls on its own task: a broken cluster never stalls another.
    let tasks: Vec<_> = pollers
        .into_iter()
        .map(|p| tokio::spawn(p.run(shutdown_rx.clone())))
        .collect();
    let guard = web.clone().map(|source| {
        Arc::new(Guard {
            source,
            verifier: Verifier::new(),
        })
    });
    let app = routes::router(AppState::with_heat(receivers, heat), guard);
    let server = tokio::spawn(server::run(listener, app, web, config.web, shutdown_rx));

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    // A poll in flight finishes within one timeout and the server drains within its own
    // limit; don't let a wedged task hold the exit beyond that.
    let drain = async {
        for (t, cluster) in tasks.into_iter().zip(&config.clusters) {
            if let Err(e) = t.await {
                tracing::error!(cluster = %cluster.name, error = %e, "poller task ended abnormally");
            }
        }
        if let Err(e) = server.await {
            tracing::error!(error = %e, "HTTP server task ended abnormally");
        }
    };
    let limit = server::DRAIN_TIMEOUT + Duration::from_secs(1);
    if tokio::time::timeout(limit, drain).await.is_err() {
        tracing::warn!("tasks did not stop within {limit:?}; exiting anyway");
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
