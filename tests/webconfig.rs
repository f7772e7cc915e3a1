//! `--web.config.file`: HTTPS, client certificates and basic auth on the endpoints, with
//! certificates generated here. No Redis is needed: the seed is a closed port, and the HTTP side
//! serves whatever the poller has.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use support::{Exporter, free_port, http_get, slotwatch_bin, wait_for};
use tokio_rustls::rustls::{self, pki_types};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1, and a client certificate, all as PEM files.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
        let (client, client_key) = leaf(vec!["prometheus".into()]);
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("server.pem", server),
            ("server-key.pem", server_key),
            ("client.pem", client),
            ("client-key.pem", client_key),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_config(&self, text: &str) -> PathBuf {
        let p = self.path("web.yml");
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn pem_certs(path: &Path) -> Vec<pki_types::CertificateDer<'static>> {
    use pki_types::pem::PemObject;
    pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

/// GET over TLS, verifying the server against the test CA; returns (status, head, body) or the
/// error that ended the connection.
fn https_get(
    port: u16,
    path: &str,
    pki: &Pki,
    client_cert: bool,
    auth: Option<&str>,
) -> Result<(u16, String, String), String> {
    use pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs(&pki.path("ca.pem")) {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if client_cert {
        let key = pki_types::PrivateKeyDer::from_pem_file(pki.path("client-key.pem")).unwrap();
        builder
            .with_client_auth_cert(pem_certs(&pki.path("client.pem")), key)
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let auth_header = auth
        .map(|a| {
            use base64::Engine;
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        })
        .unwrap_or_default();
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_header}Connection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // hyper may close without close_notify after a complete response.
        Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, head.to_owned(), body.to_owned()))
}

/// Starts slotwatch with a closed seed port, waiting only for the listener (a plain-HTTP
/// /healthz probe would fail against TLS).
fn start(web: &Path) -> Exporter {
    let seed = format!("redis://127.0.0.1:{}", free_port());
    Exporter::start_opts(
        &["--seed", &seed, "--web.config.file", web.to_str().unwrap()],
        &[],
        false,
    )
}

#[test]
fn https_with_required_client_certificates() {
    let pki = Pki::new();
    let web = pki.write_config(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS12\n",
    );
    let exporter = start(&web);
    let port = exporter.port;
    let (status, head, body) = wait_for("HTTPS /metrics", Duration::from_secs(20), || {
        https_get(port, "/metrics", &pki, true, None).ok()
    });
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("application/openmetrics-text")
    );
    assert!(body.contains("slotwatch_up"));
    // Without a client certificate the handshake is refused.
    let err = https_get(port, "/metrics", &pki, false, None).unwrap_err();
    assert!(!err.is_empty());
    // Plain HTTP gets no HTTP answer at all.
    assert!(http_get(port, "/metrics").is_none_or(|(s, _, _)| s != 200));
}

#[test]
fn basic_auth_over_https_and_reload_on_change() {
    let pki = Pki::new();
    let hash = bcrypt::hash("scrape-pw", 4).unwrap();
    let web = pki.write_config(&format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\nbasic_auth_users:\n  prometheus: '{hash}'\n"
    ));
    let exporter = start(&web);
    let port = exporter.port;
    let (status, head, _) = wait_for("HTTPS", Duration::from_secs(20), || {
        https_get(port, "/metrics", &pki, false, None).ok()
    });
    assert_eq!(status, 401, "no password");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{head}"
    );
    let (status, _, _) =
        https_get(port, "/metrics", &pki, false, Some("prometheus:wrong")).unwrap();
    assert_eq!(status, 401, "wrong password");
    let (status, _, body) =
        https_get(port, "/metrics", &pki, false, Some("prometheus:scrape-pw")).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("slotwatch_build_info"));
    // Probes need no credentials.
    assert_eq!(
        https_get(port, "/healthz", &pki, false, None).unwrap().0,
        200
    );
    let log = exporter.log_text();
    assert!(!log.contains("scrape-pw"), "{log}");

    // The file is re-read when it changes: a second user works without a restart.
    let other = bcrypt::hash("other-pw", 4).unwrap();
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\nbasic_auth_users:\n  prometheus: '{hash}'\n  grafana: '{other}'\n"
        ),
    )
    .unwrap();
    wait_for(
        "the new user to be accepted",
        Duration::from_secs(20),
        || {
            let (status, _, _) =
                https_get(port, "/metrics", &pki, false, Some("grafana:other-pw")).ok()?;
            (status == 200).then_some(())
        },
    );
}

#[test]
fn plain_http_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  admin: '{hash}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n")).unwrap();
    let exporter = start(&web);
    let port = exporter.port;
    let (status, head, _) = wait_for("HTTP", Duration::from_secs(20), || {
        http_get(port, "/metrics")
    });
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("www-authenticate"));
    let (status, head, _) = http_get(port, "/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{head}"
    );
}

#[test]
fn malformed_web_config_is_a_clear_startup_error() {
    let pki = Pki::new();
    let cases = [
        (
            "tls_server_config:\n  cert_file: server.pem\n  keyfile: server-key.pem\n",
            "unknown field `keyfile`",
        ),
        (
            "basic_auth_users:\n  admin: plaintext-password\n",
            "must be a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  min_version: TLS10\n",
            "TLS10 is not supported",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n",
            "needs client_ca_file",
        ),
        (
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: server-key.pem\n",
            "missing.pem",
        ),
    ];
    for (text, expected) in cases {
        let web = pki.write_config(text);
        let out = Command::new(slotwatch_bin())
            .args([
                "serve",
                "--seed",
                "redis://127.0.0.1:1",
                "--web.config.file",
                web.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains("web.yml") && err.contains(expected),
            "{text}: {err}"
        );
        assert!(
            !err.contains("plaintext-password") && !err.contains("panicked"),
            "{err}"
        );
    }
    let web = pki
        .write_config("tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n");
    let out = Command::new(slotwatch_bin())
        .args([
            "serve",
            "--seed",
            "redis://127.0.0.1:1",
            "--web.config.file",
            web.to_str().unwrap(),
            "--check-config",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "config OK: 1 cluster(s), web config OK"
    );
}

#[test]
fn healthcheck_command_probes_http_and_https() {
    let pki = Pki::new();
    let web = pki
        .write_config("tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n");
    let exporter = start(&web);
    let url = format!("https://127.0.0.1:{}/healthz", exporter.port);
    wait_for("healthcheck to pass", Duration::from_secs(20), || {
        let out = Command::new(slotwatch_bin())
            .args(["healthcheck", "--url", &url])
            .output()
            .ok()?;
        out.status.success().then_some(())
    });
    let closed = format!("http://127.0.0.1:{}/healthz", free_port());
    let out = Command::new(slotwatch_bin())
        .args(["healthcheck", "--url", &closed])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Sends a scrape whose credentials take bcrypt about a second to check (a cost-14 hash),
/// sends SIGTERM while it is in flight, and returns what the scrape got and how slotwatch
/// exited. Plain HTTP and TLS go through the same server; both must drain.
fn scrape_during_sigterm(tls: bool) -> (String, Option<i32>) {
    use base64::Engine;
    let pki = Pki::new();
    let hash = bcrypt::hash("slow-pw", 14).unwrap();
    let tls_config = if tls {
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
    } else {
        ""
    };
    let web = pki.write_config(&format!(
        "{tls_config}basic_auth_users:\n  prometheus: '{hash}'\n"
    ));
    let mut exporter = start(&web);
    let auth = base64::engine::general_purpose::STANDARD.encode("prometheus:slow-pw");
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
    );
    let tcp = std::net::TcpStream::connect(("127.0.0.1", exporter.port)).unwrap();
    let mut stream: Box<dyn ReadWrite> = if tls {
        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certs(&pki.path("ca.pem")) {
            roots.add(c).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        Box::new(rustls::StreamOwned::new(conn, tcp.try_clone().unwrap()))
    } else {
        Box::new(tcp.try_clone().unwrap())
    };
    stream.write_all(request.as_bytes()).unwrap();
    stream.flush().unwrap();
    // The request is in flight: nothing has come back yet.
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut first = [0u8; 1];
    let early = stream.read(&mut first);
    assert!(
        early.is_err(),
        "the response came before SIGTERM ({early:?}); the test proves nothing"
    );
    exporter.process.signal(libc::SIGTERM);
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let code = wait_for("slotwatch to exit", Duration::from_secs(20), || {
        exporter.process.child.try_wait().ok().flatten()
    })
    .code();
    (String::from_utf8_lossy(&raw).into_owned(), code)
}

/// A stream to read and write through, plain or TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn shutdown_lets_a_request_in_flight_finish_over_plain_http_and_tls() {
    for tls in [false, true] {
        let (response, code) = scrape_during_sigterm(tls);
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "tls={tls}: {response:?}"
        );
        assert!(response.contains("slotwatch_up"), "tls={tls}: {response}");
        assert_eq!(code, Some(0), "tls={tls}: a clean exit");
    }
}
