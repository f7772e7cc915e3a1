//! The HTTP probe behind `slotwatch healthcheck`: a GET that needs no curl, for distroless
//! images whose container HEALTHCHECK must run something from the image itself.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// the body: a longer body is cut, and the whole exchange ends within `timeout`, so that a
/// hostile or stuck server can make the caller neither buffer nor wait without bound.
pub fn get(url: &str, timeout: Duration, max_body: u64) -> Result<(u16, Vec<u8>), ProbeError> {
    let deadline = Instant::now() + timeout;
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
    // Each read waits at most what is left of the deadline, through this second handle on the
    // same socket (the TLS stream borrows the first).
    let clock = tcp.try_clone()?;
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
        read_until(
            &mut stream,
            &clock,
            deadline,
            max_body + HEAD_MAX,
            &mut response,
        );
    } else {
        tcp.write_all(request.as_bytes())?;
        read_until(
            &mut tcp,
            &clock,
            deadline,
            max_body + HEAD_MAX,
            &mut response,
        );
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

/// Reads into `out` until the end, `limit` bytes or `deadline`, whichever comes first; what
/// arrived is kept either way.
fn read_until(
    r: &mut impl Read,
    socket: &TcpStream,
    deadline: Instant,
    limit: u64,
    out: &mut Vec<u8>,
) {
    let mut chunk = [0u8; 16 << 10];
    while (out.len() as u64) < limit {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return;
        }
        let want = chunk.len().min((limit - out.len() as u64) as usize);
        match r.read(&mut chunk[..want]) {
            Ok(0) | Err(_) => return,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Most bytes of response headers read besides the body.
const HEAD_MAX: u64 = 16 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_trickling_an_endless_body_is_cut_off_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n[");
            while s.write_all(b" ").is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let started = Instant::now();
        let (status, body) = get(
            &format!("http://127.0.0.1:{port}/events"),
            Duration::from_millis(600),
            1 << 20,
        )
        .unwrap();
        let took = started.elapsed();
        assert_eq!(status, 200);
        assert!(body.starts_with(b"["), "{body:?}");
        // Generous for a loaded machine; without the deadline it would never return.
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

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
