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
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::config::{Auth, HumanBytes, Reach, ReadLimits, TlsConfig};
use crate::tls::{self, TlsError};

/// The name slotwatch gives its connections, so that `CLIENT LIST` shows who is polling.
pub const CLIENT_NAME: &str = "slotwatch";

/// The cause behind a [`FetchError`], kept as its source; shared so that errors stay cheap to
/// copy into snapshots and notes.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a node could not be read. `reason()` is the `reason` label of
/// `slotwatch_poll_errors_total`; messages carry the cause but never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Connect, TLS, AUTH or the round trip took longer than the per-node timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The TCP connection could not be made or broke.
    #[error("connection failed: {0}")]
    Connect(#[source] Cause),
    /// The TLS handshake or TLS setup failed.
    #[error("TLS failed: {0}")]
    Tls(#[source] Cause),
    /// The server rejected the credentials (or needs some), or the password cannot be read.
    #[error("authentication failed: {0}")]
    Auth(#[source] Cause),
    /// The node does not run in cluster mode.
    #[error("not a cluster node: {0}")]
    NotCluster(#[source] ::redis::RedisError),
    /// The reply could not be understood.
    #[error("bad reply: {0}")]
    Protocol(#[source] ProtocolError),
    /// The node sent more than a cap allows.
    #[error("{what} over the {} cap ({flag})", HumanBytes(*.limit))]
    TooLarge {
        /// What went over: the reply, or the poll's reads.
        what: &'static str,
        /// The flag that sets the cap.
        flag: &'static str,
        /// The cap, in bytes.
        limit: u64,
    },
    /// The node failed the last polls and rests this one; no attempt was made.
    #[error("not tried this poll: resting after repeated failures")]
    Resting,
}

/// What was wrong with a node's replies.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProtocolError {
    /// redis-rs could not read the reply, or the server answered a required command with an
    /// error.
    #[error("{0}")]
    Redis(#[source] ::redis::RedisError),
    /// The pipeline's replies do not match its commands.
    #[error("expected {expected} replies to the pipeline, got {got}")]
    ReplyCount {
        /// Commands sent.
        expected: usize,
        /// Replies read.
        got: usize,
    },
    /// The `CLUSTER NODES` reply does not parse.
    #[error("CLUSTER NODES {0}")]
    View(#[source] crate::topology::parse::ParseError),
    /// The `CLUSTER NODES` reply does not say which node is answering.
    #[error("CLUSTER NODES reply has no myself line")]
    NoMyself,
    /// The `CLUSTER GETSLOTMIGRATIONS` reply is not an array.
    #[error("CLUSTER GETSLOTMIGRATIONS: expected an array, got {0}")]
    JobsShape(String),
    /// A `CLUSTER GETSLOTMIGRATIONS` entry does not parse.
    #[error("{0}")]
    Job(#[source] crate::topology::atomic::JobError),
}

/// A TLS server name that rustls does not accept.
#[derive(Debug, thiserror::Error)]
#[error("invalid server name {name:?}: {source}")]
struct ServerNameError {
    name: String,
    source: rustls_pki_types::InvalidDnsNameError,
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
            FetchError::TooLarge { .. } => "reply_too_large",
            FetchError::Resting => "resting",
        }
    }

    /// Classifies an error from redis-rs by its kind and error code.
    pub fn from_redis(e: &::redis::RedisError) -> FetchError {
        use ::redis::ErrorKind;
        // Two replies carry only the generic ERR code, told apart by their text: Redis before
        // 6 refusing AUTH, and a server not in cluster mode refusing CLUSTER.
        let detail = e.detail().unwrap_or_default().to_ascii_lowercase();
        let generic = e.code() == Some("ERR");
        match (e.kind(), e.code()) {
            (ErrorKind::AuthenticationFailed, _) | (_, Some("WRONGPASS" | "NOAUTH" | "NOPERM")) => {
                FetchError::Auth(Arc::new(e.clone()))
            }
            _ if generic && detail.contains("invalid password") => {
                FetchError::Auth(Arc::new(e.clone()))
            }
            _ if generic && detail.contains("cluster support disabled") => {
                FetchError::NotCluster(e.clone())
            }
            _ if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => {
                FetchError::Connect(Arc::new(e.clone()))
            }
            _ => FetchError::Protocol(ProtocolError::Redis(e.clone())),
        }
    }
}

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
        let mut info = ::redis::RedisConnectionInfo::default();
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
        ::redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(CLIENT_NAME)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| over.explain(&e))?;
        Ok(NodeConnection { conn, over })
    }
}

/// A connection to one node, and whether it went over a read cap.
#[derive(Debug)]
pub struct NodeConnection {
    /// The connection.
    pub conn: MultiplexedConnection,
    over: Overflow,
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

    /// The error a server reply `-<line>` gives, as redis-rs reports it.
    fn server_error(line: &str) -> ::redis::RedisError {
        match ::redis::parse_redis_value(format!("-{line}\r\n").as_bytes()) {
            Ok(::redis::Value::ServerError(e)) => e.into(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_are_classified_by_code_and_keep_their_source() {
        use std::error::Error as _;
        let cases = [
            ("WRONGPASS invalid username-password pair", "auth"),
            ("NOAUTH Authentication required.", "auth"),
            (
                "NOPERM this user has no permissions to run the 'cluster' command",
                "auth",
            ),
            ("ERR invalid password", "auth"),
            (
                "ERR This instance has cluster support disabled",
                "not_cluster",
            ),
            ("ERR unknown command 'CLUSTER'", "protocol"),
            ("LOADING Redis is loading the dataset in memory", "protocol"),
        ];
        for (line, reason) in cases {
            let e = FetchError::from_redis(&server_error(line));
            assert_eq!(e.reason(), reason, "{line}");
            let source = e.source().map(ToString::to_string).unwrap_or_default();
            assert!(
                source.contains(line.split(' ').nth(1).unwrap_or("")),
                "{line}: {source}"
            );
        }
        let refused = ::redis::RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(FetchError::from_redis(&refused).reason(), "connect");
        let auth = ::redis::RedisError::from((
            ::redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        assert_eq!(FetchError::from_redis(&auth).reason(), "auth");
    }

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
