//! The HTTP server: accepts connections, serves each over plain HTTP or TLS as the web config
//! says at that moment (so certificate rotation needs no restart), and on shutdown stops
//! accepting and lets requests in flight finish.
//!
//! Slow and abusive clients cannot exhaust it:
//! - a request's headers must arrive within the header-read timeout, counted from when the
//!   connection is ready for a request (so it also ends idle keep-alive connections);
//! - a connection on which no byte moves either way for the idle timeout is closed (a client
//!   that stops reading its response);
//! - at most `max_connections` are open: a new connection evicts the oldest one that has no
//!   request in progress, or is closed at once if every open connection is busy, so a real
//!   scrape still gets through while slow clients hold the rest;
//! - accept errors (typically out of file descriptors) are logged once, then summarised, with
//!   an increasing pause between attempts.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Sleep;
use tokio_rustls::rustls::ServerConfig;

use super::config::WebConfigSource;
use crate::config::WebLimits;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long accepting waits for a connection evicted to make room to close. It closes as
/// soon as its task runs; the wait only bounds a task that does not.
const EVICTION_WAIT: Duration = Duration::from_millis(100);

/// How long shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` turns true, then drains: no new connection is
/// accepted, idle keep-alive connections close, and requests in flight complete (for at most
/// [`DRAIN_TIMEOUT`]). The same code serves plain HTTP and, with a web config, TLS.
pub async fn run(
    listener: TcpListener,
    app: Router,
    web: Option<Arc<WebConfigSource>>,
    limits: WebLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Registry::default());
    let mut accept_errors = AcceptErrors::default();
    while let Some((tcp, peer)) = accept(&listener, &mut accept_errors, &mut shutdown).await {
        let Some(slot) = make_room(&open, limits.max_connections).await else {
            // Every open connection is busy with a request: refuse this one.
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = web.as_ref().and_then(|w| w.current().tls);
        let service = TowerToHyperService::new(Counted {
            inner: app.clone(),
            slot: slot.clone(),
        });
        // Taken before the handshake, so that shutdown waits for this connection too.
        let watcher = graceful.watcher();
        let serving = serve_connection(tcp, tls, service, watcher, limits);
        tokio::spawn(serve_in_slot(serving, peer, slot, open.clone()));
    }
    drop(listener);
    drain(graceful).await;
}

/// The next connection, pausing after each accept error; `None` once `shutdown` turns true.
async fn accept(
    listener: &TcpListener,
    errors: &mut AcceptErrors,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    errors.recovered();
                    return Some(a);
                }
                Err(e) => tokio::time::sleep(errors.failed(&e)).await,
            },
            _ = stopped(shutdown) => return None,
        }
    }
}

/// A slot for a new connection, once any connection evicted to make room for it has closed;
/// `None` if every open connection is busy.
async fn make_room(open: &Registry, max_connections: usize) -> Option<Arc<Slot>> {
    let (slot, evicted) = open.admit(max_connections)?;
    if let Some(evicted) = evicted {
        // A ready listener may be accepted from many times in a row before the evicted
        // connections' tasks run; without this wait their descriptors would pile up beyond
        // the cap under a flood.
        let _ = tokio::time::timeout(EVICTION_WAIT, evicted.closed.notified()).await;
    }
    Some(slot)
}

/// Serves one connection over TLS if `tls` is set, else over plain HTTP.
async fn serve_connection(
    tcp: TcpStream,
    tls: Option<Arc<ServerConfig>>,
    service: TowerToHyperService<Counted>,
    watcher: Watcher,
    limits: WebLimits,
) -> Result<(), String> {
    let Some(config) = tls else {
        return serve_http(tcp, service, watcher, limits).await;
    };
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(stream)) => serve_http(stream, service, watcher, limits).await,
        Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
        Err(_) => Err("TLS handshake timed out".into()),
    }
}

/// Serves HTTP/1.1 on `stream` until the peer is done, it stalls, or shutdown drains it.
async fn serve_http<S>(
    stream: S,
    service: TowerToHyperService<Counted>,
    watcher: Watcher,
    limits: WebLimits,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let io = TokioIo::new(Idle::new(stream, limits.idle_timeout));
    watcher
        .watch(http.serve_connection(io, service))
        .await
        .map_err(|e| e.to_string())
}

/// Runs `serving` until it ends or its connection is evicted, then gives the slot back.
async fn serve_in_slot(
    serving: impl Future<Output = Result<(), String>>,
    peer: SocketAddr,
    slot: Arc<Slot>,
    open: Arc<Registry>,
) {
    let result = tokio::select! {
        r = serving => r,
        _ = slot.evicted.notified() => Err("closed to make room for a new connection".into()),
    };
    open.release(&slot);
    slot.closed.notify_one();
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// Waits for the connections still open to finish, for at most [`DRAIN_TIMEOUT`].
async fn drain(graceful: GracefulShutdown) {
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {DRAIN_TIMEOUT:?}; closing their connections"
        );
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// One open connection's place in the registry.
#[derive(Debug)]
struct Slot {
    id: u64,
    opened: Instant,
    /// Requests being served on it now.
    busy: AtomicUsize,
    /// Of those, requests still waiting for their credentials to be checked: a flood of bad
    /// credentials must not be able to hold every connection slot against a real scrape.
    checking: AtomicUsize,
    /// Told when the connection must close to make room.
    evicted: Notify,
    /// Told once the connection is closed.
    closed: Notify,
}

/// The open connections, to keep their number under the limit.
#[derive(Debug, Default)]
struct Registry {
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next: AtomicUsize,
}

impl Registry {
    /// A slot for a new connection: free, or taken from the oldest connection with no request
    /// in progress, which is returned too so that its closing can be awaited; `None` if every
    /// connection is busy.
    fn admit(&self, max: usize) -> Option<(Arc<Slot>, Option<Arc<Slot>>)> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = None;
        if slots.len() >= max.max(1) {
            let idle = |s: &&Arc<Slot>| s.busy.load(Ordering::Relaxed) == 0;
            let unproven = |s: &&Arc<Slot>| {
                s.busy.load(Ordering::Relaxed) == s.checking.load(Ordering::Relaxed)
            };
            let victim = slots
                .values()
                .filter(idle)
                .min_by_key(|s| s.opened)
                .or_else(|| slots.values().filter(unproven).min_by_key(|s| s.opened))?
                .clone();
            victim.evicted.notify_one();
            slots.remove(&victim.id);
            evicted = Some(victim);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) as u64;
        let slot = Arc::new(Slot {
            id,
            opened: Instant::now(),
            busy: AtomicUsize::new(0),
            checking: AtomicUsize::new(0),
            evicted: Notify::new(),
            closed: Notify::new(),
        });
        slots.insert(id, slot.clone());
        Some((slot, evicted))
    }

    fn release(&self, slot: &Slot) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(&slot.id);
    }
}

/// The app, counting the requests in progress on its connection.
#[derive(Clone)]
struct Counted {
    inner: Router,
    slot: Arc<Slot>,
}

impl<B> tower_service::Service<axum::http::Request<B>> for Counted
where
    Router: tower_service::Service<
            axum::http::Request<B>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        >,
    <Router as tower_service::Service<axum::http::Request<B>>>::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<axum::http::Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        let slot = self.slot.clone();
        slot.busy.fetch_add(1, Ordering::Relaxed);
        request.extensions_mut().insert(Connection(slot.clone()));
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            slot.busy.fetch_sub(1, Ordering::Relaxed);
            response
        })
    }
}

/// The connection a request came on, for the auth guard to say when the request is waiting
/// for its credentials to be checked.
#[derive(Debug, Clone)]
pub struct Connection(Arc<Slot>);

impl Connection {
    /// Marks the request as waiting for a credential check until the returned value drops.
    pub fn checking(&self) -> Checking {
        self.0.checking.fetch_add(1, Ordering::Relaxed);
        Checking(self.0.clone())
    }
}

/// A request waiting for a credential check; see [`Connection::checking`].
#[derive(Debug)]
pub struct Checking(Arc<Slot>);

impl Drop for Checking {
    fn drop(&mut self) {
        self.0.checking.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accept failures, logged once when they start and summarised when they stop, with a pause
/// between attempts that grows while they last.
#[derive(Debug, Default)]
struct AcceptErrors {
    since: Option<Instant>,
    count: u64,
    last_logged: Option<Instant>,
}

impl AcceptErrors {
    /// Records a failure; returns how long to pause before the next attempt.
    fn failed(&mut self, e: &io::Error) -> Duration {
        self.count += 1;
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if self
            .last_logged
            .is_none_or(|at| now - at >= Duration::from_secs(60))
        {
            tracing::warn!(
                error = %e,
                failures = self.count,
                since_s = (now - since).as_secs(),
                "cannot accept connections (out of file descriptors?); retrying"
            );
            self.last_logged = Some(now);
        }
        Duration::from_millis(50u64.saturating_mul(1 << self.count.min(5)))
    }

    /// Accepting works again.
    fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                failures = self.count,
                lasted_s = since.elapsed().as_secs(),
                "accepting connections again"
            );
            self.count = 0;
            self.last_logged = None;
        }
    }
}

/// A connection that fails once no byte has moved either way for `limit`.
struct Idle<S> {
    inner: S,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    fn new(inner: S, limit: Duration) -> Idle<S> {
        Idle {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn moved(&mut self) {
        let next = tokio::time::Instant::now() + self.limit;
        self.deadline.as_mut().reset(next);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no data moved within the idle timeout",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_registry_evicts_the_oldest_idle_connection_never_a_busy_one() {
        let r = Registry::default();
        let (a, none) = r.admit(2).unwrap();
        assert!(none.is_none(), "room left: nobody evicted");
        let (b, _) = r.admit(2).unwrap();
        a.busy.fetch_add(1, Ordering::Relaxed);
        let (c, evicted) = r.admit(2).expect("b was idle");
        assert_eq!(
            evicted.map(|e| e.id),
            Some(b.id),
            "the evicted one is named"
        );
        let slots = r.slots.lock().unwrap();
        assert!(slots.contains_key(&a.id) && slots.contains_key(&c.id));
        assert!(!slots.contains_key(&b.id), "the oldest idle one gave way");
        drop(slots);
        c.busy.fetch_add(1, Ordering::Relaxed);
        assert!(r.admit(2).is_none(), "every connection is busy");
        // A request only waiting for its credentials to be checked does not hold its slot.
        let waiting = Connection(c.clone()).checking();
        let (d, _) = r.admit(2).expect("c's request is unproven");
        assert!(!r.slots.lock().unwrap().contains_key(&c.id));
        drop(waiting);
        r.release(&a);
        r.release(&d);
        assert!(r.admit(2).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_peer_times_out_and_traffic_keeps_it_alive() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let mut idle = Idle::new(server, Duration::from_secs(5));
        let mut client = client;
        let mut buf = [0u8; 8];
        client.write_all(b"x").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 1);
        tokio::time::advance(Duration::from_secs(4)).await;
        client.write_all(b"y").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 1, "still alive");
        let err = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
