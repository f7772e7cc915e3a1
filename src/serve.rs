//! `slotwatch serve`: one poller task per cluster, the HTTP server, and graceful shutdown on
//! SIGINT or SIGTERM.

use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::http::{AppState, router};
use crate::poller::Poller;

/// Runs the exporter until SIGINT or SIGTERM. Errors are startup failures, worded for the
/// command line.
pub async fn run(config: Config) -> Result<(), String> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut receivers = Vec::new();
    let mut pollers = Vec::new();
    for cluster in &config.clusters {
        let (poller, rx) = Poller::new(cluster.clone(), config.events_capacity)?;
        receivers.push(rx);
        pollers.push(poller);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        clusters = config.clusters.len(),
        version = env!("CARGO_PKG_VERSION"),
        "slotwatch serving /metrics, /topology, /events"
    );
    for c in &config.clusters {
        tracing::info!(
            cluster = %c.name,
            seeds = %c.seeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            poll_interval = ?c.poll_interval,
            timeout = ?c.timeout,
            "watching cluster"
        );
    }
    // Each cluster polls on its own task: a broken cluster never stalls another.
    let tasks: Vec<_> = pollers
        .into_iter()
        .map(|p| tokio::spawn(p.run(shutdown_rx.clone())))
        .collect();

    let app = router(AppState::new(receivers));
    let mut http_shutdown = shutdown_rx.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = http_shutdown.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(async move { server.await });

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    // A poll in flight finishes within one timeout; don't let a wedged task hold the exit.
    let drain = async {
        for t in tasks {
            let _ = t.await;
        }
        let _ = server.await;
    };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("tasks did not stop within 10s; exiting anyway");
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
