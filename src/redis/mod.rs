//! Connections to Redis nodes: TCP or TLS (rustls), AUTH, client name, what the server is, and
//! a byte counter.
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
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::config::{Auth, Reach, ReadLimits, TlsConfig};
use crate::server_info::ServerInfo;
use crate::tls::{self, TlsError};

mod error;
pub mod slot_stats;

use error::ServerNameError;
pub use error::{Cause, FetchError, ProtocolError};

/// The name slotwatch gives its connections, so that `CLIENT LIST` shows who is polling.
pub const CLIENT_NAME: &str = "slotwatch";

/// Everything needed to open connections to one cluster's nodes, built once per cluster.
pub struct Connector {
    timeout: Duration,
    auth: Auth,
    tls: Option<(TlsConnector, Option<String>)>,
    bytes_read: Arc<AtomicU64>,
    limits: ReadLimits,
    /// Bytes read since the current poll started, over all connections.
    poll_read: Arc<AtomicU64>,
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
            limits: reach.limits,
            poll_read: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Starts a poll: its byte budget is full again.
    pub fn new_poll(&self) {
        self.poll_read.store(0, Ordering::Relaxed);
    }

    /// The per-node timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Total bytes read from this cluster's nodes since start.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Opens an authenticated, named connection to `host:port`, held to the read caps. The
    /// caller bounds the whole call with the per-node timeout.
    pub async fn connect(&self, host: &str, port: u16) -> Result<NodeConnection, FetchError> {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| FetchError::Connect(Arc::new(e)))?;
        // Replies are small and latency matters more than batching.
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, server_name)) => {
                let name = server_name.as_deref().unwrap_or(host);
                let name = ServerName::try_from(name.to_owned()).map_err(|source| {
                    FetchError::Tls(Arc::new(ServerNameError {
                        name: name.to_owned(),
                        source,
                    }))
                })?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| FetchError::Tls(Arc::new(e)))?;
                Box::new(tls)
            }
        };
        let over = Overflow {
            cap: Arc::new(AtomicU8::new(WITHIN)),
            limits: self.limits,
        };
        let counter = CappedCounter {
            total: self.bytes_read.clone(),
            poll: self.poll_read.clone(),
            round_trip: AtomicU64::new(0),
            over: over.clone(),
        };
        let stream = CountingStream::new(stream, counter);
        // redis-rs would send CLIENT SETINFO, which servers before 7.2 refuse with an error
        // reply that they count; the connection's name already says who it is.
        let mut info = ::redis::RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some(user) = &self.auth.username {
            info = info.set_username(user);
        }
        if let Some(source) = &self.auth.password {
            let secret = source.load().map_err(|e| FetchError::Auth(Arc::new(e)))?;
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
            .map_err(|e| over.explain(&e))?;
        // The driver ends on its own once the connection is dropped.
        tokio::spawn(driver);
        // Named, and asked what it is, in one round trip: the answer decides which optional
        // commands this connection sends, so that none is answered with an error.
        let (_, server): ((), String) = ::redis::pipe()
            .cmd("CLIENT")
            .arg("SETNAME")
            .arg(CLIENT_NAME)
            .cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| over.explain(&e))?;
        Ok(NodeConnection {
            conn,
            over,
            server: ServerInfo::parse(&server),
            zone: crate::server_info::availability_zone(&server),
        })
    }
}

/// A connection to one node, and whether it went over a read cap.
#[derive(Debug)]
pub struct NodeConnection {
    /// The connection.
    pub conn: MultiplexedConnection,
    over: Overflow,
    /// What the server said it is when the connection opened; `None` if it named no version.
    pub server: Option<ServerInfo>,
    /// The `availability_zone` the server named when the connection opened (Valkey 8.0+).
    pub zone: Option<String>,
}

impl NodeConnection {
    /// Classifies an error from this connection: going over a cap breaks the connection, which
    /// redis-rs reports as an I/O error; this says which cap it was.
    pub fn explain(&self, e: &::redis::RedisError) -> FetchError {
        self.over.explain(e)
    }
}

/// Which read cap a connection went over, if any, shared by its stream and its owner.
#[derive(Debug, Clone)]
struct Overflow {
    cap: Arc<AtomicU8>,
    limits: ReadLimits,
}

const WITHIN: u8 = 0;
const OVER_REPLY: u8 = 1;
const OVER_POLL: u8 = 2;

impl Overflow {
    fn explain(&self, e: &::redis::RedisError) -> FetchError {
        match self.cap.load(Ordering::Relaxed) {
            OVER_REPLY => FetchError::TooLarge {
                what: "reply",
                flag: "--max-reply-bytes",
                limit: self.limits.per_reply,
            },
            OVER_POLL => FetchError::TooLarge {
                what: "this poll's reads",
                flag: "--max-poll-bytes",
                limit: self.limits.per_poll,
            },
            _ => FetchError::from_redis(e),
        }
    }
}

/// Counts a connection's reads into the cluster's total and holds them to the caps: the bytes
/// since the last write (one pipelined round trip: slotwatch sends one at a time) and the
/// bytes of the whole poll over all connections. Going over fails the read, which breaks the
/// connection before its buffer can grow further.
struct CappedCounter {
    total: Arc<AtomicU64>,
    poll: Arc<AtomicU64>,
    round_trip: AtomicU64,
    over: Overflow,
}

impl ByteCounter for CappedCounter {
    fn read(&self, n: usize) -> io::Result<()> {
        let n = n as u64;
        self.total.fetch_add(n, Ordering::Relaxed);
        let round_trip = self.round_trip.fetch_add(n, Ordering::Relaxed) + n;
        let poll = self.poll.fetch_add(n, Ordering::Relaxed) + n;
        let cap = if round_trip > self.over.limits.per_reply {
            OVER_REPLY
        } else if poll > self.over.limits.per_poll {
            OVER_POLL
        } else {
            WITHIN
        };
        if cap == WITHIN {
            return Ok(());
        }
        self.over.cap.store(cap, Ordering::Relaxed);
        Err(io::Error::other("read cap exceeded"))
    }

    fn written(&self, _n: usize) {
        self.round_trip.store(0, Ordering::Relaxed);
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
    /// `n` bytes were read; an error fails the read (a cap was exceeded).
    fn read(&self, n: usize) -> io::Result<()>;
    /// `n` bytes were written; most counters only care about reads.
    fn written(&self, _n: usize) {}
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
            self.counter.read(read)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(poll: &Arc<AtomicU64>, limits: ReadLimits) -> CappedCounter {
        CappedCounter {
            total: Arc::new(AtomicU64::new(0)),
            poll: poll.clone(),
            round_trip: AtomicU64::new(0),
            over: Overflow {
                cap: Arc::new(AtomicU8::new(WITHIN)),
                limits,
            },
        }
    }

    fn too_large(c: &CappedCounter) -> Option<FetchError> {
        let e = ::redis::RedisError::from(io::Error::other("read cap exceeded"));
        match c.over.explain(&e) {
            e @ FetchError::TooLarge { .. } => Some(e),
            _ => None,
        }
    }

    #[test]
    fn each_round_trip_has_the_reply_cap_and_all_connections_share_the_poll_cap() {
        let limits = ReadLimits {
            per_reply: 100,
            per_poll: 250,
        };
        let poll = Arc::new(AtomicU64::new(0));
        let (a, b) = (counter(&poll, limits), counter(&poll, limits));
        assert!(
            a.read(60).is_ok() && a.read(40).is_ok(),
            "exactly the cap is allowed"
        );
        a.written(10);
        assert!(a.read(90).is_ok(), "a new round trip starts from zero");
        assert!(a.read(11).is_err());
        assert_eq!(
            too_large(&a).map(|e| e.to_string()),
            Some("reply over the 100 cap (--max-reply-bytes)".to_owned())
        );
        assert_eq!(too_large(&a).map(|e| e.reason()), Some("reply_too_large"));
        // 201 bytes read so far in this poll; b's own round trip is small.
        assert!(b.read(49).is_ok());
        assert!(b.read(1).is_err());
        assert!(
            too_large(&b).is_some_and(|e| e.to_string().contains("--max-poll-bytes")),
            "{:?}",
            too_large(&b)
        );
        assert!(too_large(&counter(&poll, limits)).is_none());
    }
}
