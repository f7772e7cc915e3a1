//! Connections to Redis nodes: TCP or TLS (rustls), AUTH, client name, and a byte counter.
//!
//! slotwatch opens the socket itself and hands it to redis-rs, rather than letting redis-rs
//! dial, for three reasons: cluster nodes announce IPs, so TLS must be able to verify a
//! configured server name instead of the IP; every byte read is counted for
//! `slotwatch_redis_bytes_read_total`; and connect, TLS and AUTH all fall under one per-node
//! timeout, so a frozen node can never stall a poll longer than that.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, pki_types};

use crate::config::{Auth, ClusterConfig, TlsConfig};

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
    /// The node is in reconnect backoff after earlier failures; no attempt was made.
    #[error("waiting {0:?} before reconnecting")]
    Backoff(Duration),
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
            FetchError::Backoff(_) => "backoff",
        }
    }

    /// Classifies an error from redis-rs.
    pub fn from_redis(e: &redis::RedisError) -> FetchError {
        let text = e.to_string();
        let upper = text.to_ascii_uppercase();
        if e.kind() == redis::ErrorKind::AuthenticationFailed
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
    pub fn new(cluster: &ClusterConfig) -> Result<Connector, String> {
        let wants_tls = cluster.seeds.iter().any(|s| s.tls);
        let tls = match (wants_tls, &cluster.tls) {
            (true, Some(t)) => Some((tls_connector(t)?, t.server_name.clone())),
            (true, None) => Some((tls_connector(&TlsConfig::default())?, None)),
            (false, _) => None,
        };
        Ok(Connector {
            timeout: cluster.timeout,
            auth: cluster.auth.clone(),
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
        let counter = self.bytes_read.clone();
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, server_name)) => {
                let name = server_name.as_deref().unwrap_or(host);
                let name = pki_types::ServerName::try_from(name.to_owned())
                    .map_err(|e| FetchError::Tls(format!("invalid server name {name:?}: {e}")))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| FetchError::Tls(e.to_string()))?;
                Box::new(tls)
            }
        };
        let stream = CountingStream {
            inner: stream,
            counter,
        };
        let mut info = redis::RedisConnectionInfo::default();
        if let Some(user) = &self.auth.username {
            info = info.set_username(user);
        }
        if let Some(source) = &self.auth.password {
            let secret = source.load().map_err(FetchError::Auth)?;
            info = info.set_password(secret.expose());
        }
        // slotwatch applies its own timeout around each whole fetch; redis-rs's default 500 ms
        // response timeout would otherwise cut in first.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(None);
        let (mut conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
            .await
            .map_err(|e| FetchError::from_redis(&e))?;
        // The driver ends on its own once the connection is dropped.
        tokio::spawn(driver);
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(CLIENT_NAME)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| FetchError::from_redis(&e))?;
        Ok(conn)
    }
}

/// Builds a rustls connector from the TLS settings. Without `ca_file`, only
/// `insecure_skip_verify` can make a handshake succeed, because slotwatch ships no public roots:
/// Redis servers almost always present certificates from a private CA.
fn tls_connector(t: &TlsConfig) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &t.ca_file {
            let certs = read_certs(ca)?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = <pki_types::PrivateKeyDer as pki_types::pem::PemObject>::from_pem_file(key)
                .map_err(|e| format!("tls.key_file {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls.cert_file/key_file: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Reads every PEM certificate in `path`; an error names the file and never succeeds empty.
pub(crate) fn read_certs(
    path: &std::path::Path,
) -> Result<Vec<pki_types::CertificateDer<'static>>, String> {
    use pki_types::pem::PemObject;
    let certs = pki_types::CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificates found", path.display()));
    }
    Ok(certs)
}

/// Accepts any certificate but still checks handshake signatures; only for
/// `insecure_skip_verify`.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &pki_types::CertificateDer<'_>,
        _intermediates: &[pki_types::CertificateDer<'_>],
        _server_name: &pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// GETs an `http://` or `https://` URL and returns the status code; used by `slotwatch
/// healthcheck`, where no curl exists (distroless images). https does not verify the
/// certificate: the probe targets the process's own loopback listener.
pub fn probe_http(url: &str, timeout: Duration) -> Result<u16, String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("the URL must start with http:// or https://".into());
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let split = match hostport.strip_prefix('[') {
        Some(v6) => v6.split_once("]:"),
        None => hostport.rsplit_once(':'),
    };
    let (host, port) = match split {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| format!("bad port in {url}"))?,
        ),
        None => (hostport, if tls { 443 } else { 80 }),
    };
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{host} does not resolve"))?;
    let mut tcp =
        std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    if tls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth();
        let name = pki_types::ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let mut conn =
            rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        // A server closing without close_notify still sent the status line; keep what arrived.
        let _ = stream.read_to_end(&mut response);
    } else {
        tcp.write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let _ = tcp.read_to_end(&mut response);
    }
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "no HTTP response".to_owned())
}

/// A byte stream to a node, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Counts bytes read, so that operators see what polling costs in bandwidth.
struct CountingStream {
    inner: Box<dyn Stream>,
    counter: Arc<AtomicU64>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.counter.fetch_add(read as u64, Ordering::Relaxed);
        result
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
