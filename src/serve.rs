//! `slotwatch serve`: one poller task per cluster, the HTTP server, and graceful shutdown on
//! SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::http::{AppState, router};
use crate::poller::Poller;
use crate::webconfig::WebConfigSource;

/// Runs the exporter until SIGINT or SIGTERM. With a web config, the endpoints are served with
/// its TLS and basic auth settings. Errors are startup failures, worded for the command line.
pub async fn run(config: Config, web: Option<Arc<WebConfigSource>>) -> Result<(), String> {
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
    let server = match web {
        None => {
            let mut http_shutdown = shutdown_rx.clone();
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = http_shutdown.wait_for(|stop| *stop).await;
            });
            tokio::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            })
        }
        Some(web) => {
            let app = app.layer(axum::middleware::from_fn_with_state(web.clone(), guard));
            tokio::spawn(accept_loop(listener, app, web, shutdown_rx.clone()))
        }
    };

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

/// Basic auth and extra headers from the web config, consulted on every request. `/healthz`
/// stays open so that probes need no credentials; it reveals nothing.
async fn guard(State(web): State<Arc<WebConfigSource>>, request: Request, next: Next) -> Response {
    let config = web.current();
    if !config.users.is_empty() && request.uri().path() != "/healthz" {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let checker = config.clone();
        // bcrypt is slow on purpose; keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || checker.authorized(header.as_deref()))
            .await
            .unwrap_or(false);
        if !ok {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"slotwatch\"")],
                "Unauthorized\n",
            )
                .into_response();
        }
    }
    let mut response = next.run(request).await;
    for (name, value) in config.headers.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

/// Accepts connections and serves each over TLS or plain HTTP, as the web config says at that
/// moment, so that certificate rotation needs no restart.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    web: Arc<WebConfigSource>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Typically EMFILE; back off briefly rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let tls = web.current().tls;
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let http = hyper::server::conn::http1::Builder::new();
            let result = match tls {
                None => http
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await
                    .map_err(|e| e.to_string()),
                Some(config) => {
                    let accept = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
                    match tokio::time::timeout(Duration::from_secs(10), accept).await {
                        Ok(Ok(stream)) => http
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await
                            .map_err(|e| e.to_string()),
                        Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
                        Err(_) => Err("TLS handshake timed out".into()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
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
