//! Connections to Redis nodes: TCP or TLS (rustls), AUTH, client name, and a byte counter.
//!
//! slotwatch opens the socket itself and hands it to redis-rs, rather than letting redis-rs
//! dial, for three reasons: cluster nodes announce IPs, so TLS must be able to verify a
//! configured server name instead of the IP; every byte read is counted for
//! `slotwatch_redis_read_bytes_total`; and connect, TLS and AUTH all fall under one per-node
//! timeout, so a frozen node can never stall a poll longer than that.
//!
//! The redis-rs crate is written `::redis` here and in the poller, to keep it apart from this
//! module.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::config::{Auth, Reach, TlsConfig};
use crate::tls::{self, TlsError};

/// The name slotwatch gives its connections, so that `CLIENT LIST` shows who is polling.
pub const CLIENT_NAME: &str = "slotwatch";

/// Why a node could not be read. `reason()` is the `reason` label of
/// `slotwatch_poll_errors_total`; messages carry the cause but never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Connect, TLS, AUTH or the round trip took longer than the per-node timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The TCP connection could not be made or broke.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The TLS handshake or TLS setup failed.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The server rejected the credentials (or needs some).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The node does not run in cluster mode.
    #[error("not a cluster node: {0}")]
    NotCluster(String),
    /// The reply could not be understood.
    #[error("bad reply: {0}")]
    Protocol(String),
    /// The node failed the last polls and rests this one; no attempt was made.
    #[error("not tried this poll: resting after repeated failures")]
    Resting,
}

impl FetchError {
    /// Short machine-readable cause, used as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Timeout(_) => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Tls(_) => "tls",
            FetchError::Auth(_) => "auth",
            FetchError::NotCluster(_) => "not_cluster",
            FetchError::Protocol(_) => "protocol",
            FetchError::Resting => "resting",
        }
    }

    /// Classifies an error from redis-rs.
    pub fn from_redis(e: &::redis::RedisError) -> FetchError {
        let text = e.to_string();
        let upper = text.to_ascii_uppercase();
        if e.kind() == ::redis::ErrorKind::AuthenticationFailed
            || upper.contains("WRONGPASS")
            || upper.contains("NOAUTH")
            || upper.contains("NOPERM")
            || upper.contains("INVALID PASSWORD")
        {
            FetchError::Auth(text)
        } else if upper.contains("CLUSTER SUPPORT DISABLED") {
            FetchError::NotCluster(text)
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            FetchError::Connect(text)
        } else {
            FetchError::Protocol(text)
        }
    }
}

/// Everything needed to open connections to one cluster's nodes, built once per cluster.
pub struct Connector {
    timeout: Duration,
    auth: Auth,
    tls: Option<(TlsConnector, Option<String>)>,
    bytes_read: Arc<AtomicU64>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("timeout", &self.timeout)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Builds a connector; fails only on unreadable or invalid TLS files.
    pub fn new(reach: &Reach) -> Result<Connector, TlsError> {
        let wants_tls = reach.seeds.iter().any(|s| s.tls);
        let tls = match (wants_tls, &reach.tls) {
            (true, Some(t)) => Some((connector(t)?, t.server_name.clone())),
            (true, None) => Some((connector(&TlsConfig::default())?, None)),
            (false, _) => None,
        };
        Ok(Connector {
            timeout: reach.timeout,
            auth: reach.auth.clone(),
            tls,
            bytes_read: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The per-node timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Total bytes read from this cluster's nodes since start.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Opens an authenticated, named connection to `host:port`. The caller bounds the whole call
    /// with the per-node timeout.
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> Result<MultiplexedConnection, FetchError> {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| FetchError::Connect(e.to_string()))?;
        // Replies are small and latency matters more than batching.
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, server_name)) => {
                let name = server_name.as_deref().unwrap_or(host);
                let name = ServerName::try_from(name.to_owned())
                    .map_err(|e| FetchError::Tls(format!("invalid server name {name:?}: {e}")))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| FetchError::Tls(e.to_string()))?;
                Box::new(tls)
            }
        };
        let stream = CountingStream::new(stream, self.bytes_read.clone());
        let mut info = ::redis::RedisConnectionInfo::default();
        if let Some(user) = &self.auth.username {
            info = info.set_username(user);
        }
        if let Some(source) = &self.auth.password {
            let secret = source.load().map_err(|e| FetchError::Auth(e.to_string()))?;
            info = info.set_password(secret.expose());
        }
        // slotwatch applies its own timeout around each whole fetch; redis-rs's default 500 ms
        // response timeout would otherwise cut in first.
        let config = ::redis::AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(None)
            // One pipeline at a time goes out on a connection; the default queue of 50 costs
            // memory on each of a big cluster's connections for nothing.
            .set_pipeline_buffer_size(2);
        let (mut conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
            .await
            .map_err(|e| FetchError::from_redis(&e))?;
        // The driver ends on its own once the connection is dropped.
        tokio::spawn(driver);
        ::redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(CLIENT_NAME)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| FetchError::from_redis(&e))?;
        Ok(conn)
    }
}

fn connector(t: &TlsConfig) -> Result<TlsConnector, TlsError> {
    Ok(TlsConnector::from(Arc::new(tls::client_config(t)?)))
}

/// A byte stream to a node, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Where a [`CountingStream`] adds the bytes it moves.
pub trait ByteCounter: Unpin {
    /// `n` bytes were read.
    fn read(&self, n: usize);
    /// `n` bytes were written; most counters only care about reads.
    fn written(&self, _n: usize) {}
}

impl ByteCounter for Arc<AtomicU64> {
    fn read(&self, n: usize) {
        self.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A stream that reports the bytes it reads and writes, so that operators see what polling
/// costs in bandwidth (and the simulator what it served).
pub struct CountingStream<S, C> {
    inner: S,
    counter: C,
}

impl<S, C> CountingStream<S, C> {
    /// Wraps `inner`, reporting to `counter`.
    pub fn new(inner: S, counter: C) -> Self {
        CountingStream { inner, counter }
    }
}

impl<S: AsyncRead + Unpin, C: ByteCounter> AsyncRead for CountingStream<S, C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            self.counter.read(read);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin, C: ByteCounter> AsyncWrite for CountingStream<S, C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            self.counter.written(n);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
