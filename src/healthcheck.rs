//! The HTTP probe behind `slotwatch healthcheck`: a GET that needs no curl, for distroless
//! images whose container HEALTHCHECK must run something from the image itself.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::{self, pki_types::ServerName};

/// Why the probe got no status code.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not `http://host[:port]/path` or `https://...`.
    #[error("bad URL {url:?}: {message}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// Name resolution, connecting, TLS or the exchange failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// The answer was not HTTP.
    #[error("no HTTP response")]
    NoResponse,
}

/// GETs an `http://` or `https://` URL and returns the status code. https does not verify the
/// certificate: the probe targets the process's own loopback listener.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    get(url, timeout, 64 << 10).map(|(status, _)| status)
}

/// GETs a URL as [`probe`] does and returns the status code and at most `max_body` bytes of
/// the body (a longer body is cut, so a hostile server cannot make the caller buffer it).
pub fn get(url: &str, timeout: Duration, max_body: u64) -> Result<(u16, Vec<u8>), ProbeError> {
    let bad = |message| ProbeError::Url {
        url: url.to_owned(),
        message,
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad("it must start with http:// or https://"));
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
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
        None => (hostport, if tls { 443 } else { 80 }),
    };
    let addr = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} does not resolve"),
        )
    })?;
    let mut tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    // HTTP/1.0, so that the body comes whole, never chunked.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    if tls {
        let config =
            crate::tls::probe_client_config().map_err(|e| ProbeError::Tls(e.to_string()))?;
        let name =
            ServerName::try_from(host.to_owned()).map_err(|e| ProbeError::Tls(e.to_string()))?;
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| ProbeError::Tls(e.to_string()))?;
        let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
        stream.write_all(request.as_bytes())?;
        // A server closing without close_notify still sent the status line; keep what arrived.
        let _ = stream.take(max_body + HEAD_MAX).read_to_end(&mut response);
    } else {
        tcp.write_all(request.as_bytes())?;
        let _ = (&mut tcp)
            .take(max_body + HEAD_MAX)
            .read_to_end(&mut response);
    }
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    let status = String::from_utf8_lossy(&response[..head_end])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(ProbeError::NoResponse)?;
    Ok((status, response.split_off(head_end)))
}

/// Most bytes of response headers read besides the body.
const HEAD_MAX: u64 = 16 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_named() {
        for (url, expected) in [
            ("ftp://x/", "must start with http"),
            ("http://127.0.0.1:notaport/", "bad port"),
        ] {
            let err = probe(url, Duration::from_millis(100))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected) && err.contains(url), "{err}");
        }
    }
}
