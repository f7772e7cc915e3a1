//! The Prometheus exporter-toolkit web configuration (`--web.config.file`): TLS for the HTTP
//! endpoints, client certificates, and bcrypt basic auth, so operators reuse the files they
//! already have for node_exporter and friends.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.crt
//!   min_version: TLS12
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt hash, e.g. from `htpasswd -nBC 10 "" | tr -d ':'`
//! ```
//!
//! Like exporter-toolkit, the file is consulted on every connection and request: it is re-read
//! whenever its modification time or size changes, so certificates and users rotate without a
//! restart. A file that stops parsing keeps the last good configuration and logs why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Deserialize;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig, pki_types};

use crate::connect::read_certs;

/// Why a web config file was rejected; messages name the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed YAML, an unknown key, or a bad value.
    #[error("{path}:{line}:{column}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_yaml's description, with the key path.
        message: String,
    },
    /// A setting that parses but cannot be used.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsServerConfig>,
    http_server_config: Option<HttpServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    // Accepted for compatibility with existing files; rustls picks its own safe suites and
    // curves, and `prefer_server_cipher_suites` is its behaviour anyway.
    cipher_suites: Option<serde::de::IgnoredAny>,
    curve_preferences: Option<serde::de::IgnoredAny>,
    prefer_server_cipher_suites: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerConfig {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A loaded web configuration.
#[derive(Clone)]
pub struct WebConfig {
    /// TLS settings, if the endpoints must be served over HTTPS.
    pub tls: Option<Arc<ServerConfig>>,
    /// User name to bcrypt hash; empty means no authentication.
    pub users: Arc<BTreeMap<String, String>>,
    /// Extra response headers (`http_server_config.headers`).
    pub headers: Arc<Vec<(String, String)>>,
    /// Authorization headers that passed bcrypt against exactly these users: bcrypt is slow
    /// on purpose and Prometheus sends the same header every scrape. It belongs to the loaded
    /// config, so a reload that removes a user can never be undone by a check that started
    /// against the old file.
    verified: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Loads and validates a web config file, building the TLS configuration it describes.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: File = if text.trim().is_empty() {
        File::default()
    } else {
        serde_yaml::from_str(&text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            WebConfigError::Yaml {
                path: path.to_owned(),
                line,
                column,
                message: e.to_string(),
            }
        })?
    };
    let invalid = |key: &'static str, message: String| WebConfigError::Invalid {
        path: path.to_owned(),
        key,
        message,
    };
    // Relative paths in the file are relative to the file, as in exporter-toolkit.
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &Path| base.join(p);

    for (user, hash) in &file.basic_auth_users {
        if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
            return Err(invalid(
                "basic_auth_users",
                format!("the password of {user:?} must be a bcrypt hash ($2y$...), not plain text"),
            ));
        }
    }
    if let Some(h) = &file.http_server_config
        && h.http2 == Some(true)
    {
        tracing::info!("http_server_config.http2 is ignored: slotwatch serves HTTP/1.1");
    }
    let tls = match file.tls_server_config {
        None => None,
        Some(t) => {
            let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
                return Err(invalid(
                    "tls_server_config",
                    "cert_file and key_file are both required".into(),
                ));
            };
            if t.cipher_suites.is_some() || t.curve_preferences.is_some() {
                tracing::info!(
                    "tls_server_config.cipher_suites and curve_preferences are ignored: rustls uses its own safe defaults"
                );
            }
            let _ = t.prefer_server_cipher_suites;
            Some(Arc::new(
                server_config(
                    &resolve(cert),
                    &resolve(key),
                    t.client_auth_type.as_deref().unwrap_or("NoClientCert"),
                    t.client_ca_file.as_deref().map(resolve).as_deref(),
                    t.min_version.as_deref(),
                    t.max_version.as_deref(),
                )
                .map_err(|(key, message)| invalid(key, message))?,
            ))
        }
    };
    Ok(WebConfig {
        tls,
        users: Arc::new(file.basic_auth_users),
        headers: Arc::new(
            file.http_server_config
                .map(|h| h.headers.into_iter().collect())
                .unwrap_or_default(),
        ),
        verified: Arc::new(Mutex::new(Vec::new())),
    })
}

/// Protocol versions rustls supports, as an ordinal (TLS 1.2 = 2, TLS 1.3 = 3).
fn version(name: &str) -> Result<u8, String> {
    match name {
        "TLS12" => Ok(2),
        "TLS13" => Ok(3),
        "TLS10" | "TLS11" => Err(format!("{name} is not supported; use TLS12 or TLS13")),
        other => Err(format!("expected TLS12 or TLS13, found {other:?}")),
    }
}

type KeyedError = (&'static str, String);

fn server_config(
    cert: &Path,
    key: &Path,
    client_auth_type: &str,
    client_ca: Option<&Path>,
    min_version: Option<&str>,
    max_version: Option<&str>,
) -> Result<ServerConfig, KeyedError> {
    use pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let min = version(min_version.unwrap_or("TLS12")).map_err(|m| ("min_version", m))?;
    let max = version(max_version.unwrap_or("TLS13")).map_err(|m| ("max_version", m))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(n, _)| (min..=max).contains(n))
            .map(|(_, v)| v)
            .collect();
    if versions.is_empty() {
        return Err(("min_version", "min_version is above max_version".into()));
    }
    let chain = read_certs(cert).map_err(|m| ("cert_file", m))?;
    let key_der = pki_types::PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ("key_file", format!("{}: {e}", key.display())))?;

    let roots = || -> Result<Arc<RootCertStore>, KeyedError> {
        let Some(ca) = client_ca else {
            return Err((
                "client_ca_file",
                format!("client_auth_type {client_auth_type} needs client_ca_file"),
            ));
        };
        let mut store = RootCertStore::empty();
        for c in read_certs(ca).map_err(|m| ("client_ca_file", m))? {
            store
                .add(c)
                .map_err(|e| ("client_ca_file", format!("{}: {e}", ca.display())))?;
        }
        Ok(Arc::new(store))
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ("min_version", e.to_string()))?;
    let builder = match client_auth_type {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots()?, provider.clone())
                .build()
                .map_err(|e| ("client_ca_file", e.to_string()))?,
        ),
        "VerifyClientCertIfGiven" => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots()?, provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| ("client_ca_file", e.to_string()))?,
        ),
        "RequestClientCert" | "RequireAnyClientCert" => {
            builder.with_client_cert_verifier(Arc::new(AnyClientCert {
                provider: provider.clone(),
                mandatory: client_auth_type == "RequireAnyClientCert",
            }))
        }
        other => {
            return Err((
                "client_auth_type",
                format!(
                    "expected NoClientCert, RequestClientCert, RequireAnyClientCert, \
                     VerifyClientCertIfGiven or RequireAndVerifyClientCert, found {other:?}"
                ),
            ));
        }
    };
    let mut config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| ("key_file", format!("certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Asks for (or requires) a client certificate without verifying its chain, as Go's
/// `RequestClientCert`/`RequireAnyClientCert` do.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
    mandatory: bool,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &pki_types::CertificateDer<'_>,
        _intermediates: &[pki_types::CertificateDer<'_>],
        _now: pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The web config file, re-read when it changes.
pub struct WebConfigSource {
    path: PathBuf,
    state: Mutex<(Option<(SystemTime, u64)>, WebConfig)>,
}

/// One bcrypt check at a time, as exporter-toolkit does: a flood of bogus credentials then costs
/// one core, not all of them.
static BCRYPT: Mutex<()> = Mutex::new(());

/// A hash to check unknown users against, so that a wrong user name takes as long as a wrong
/// password and user names cannot be probed by timing.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        bcrypt::hash("slotwatch: no such user", bcrypt::DEFAULT_COST).unwrap_or_default()
    })
}

impl WebConfigSource {
    /// Loads the file once; errors here are startup errors.
    pub fn open(path: &Path) -> Result<Arc<WebConfigSource>, WebConfigError> {
        let stamp = stamp(path);
        let config = load(path)?;
        Ok(Arc::new(WebConfigSource {
            path: path.to_owned(),
            state: Mutex::new((stamp, config)),
        }))
    }

    /// The current configuration, reloading the file if it changed since the last call.
    pub fn current(&self) -> WebConfig {
        let now = stamp(&self.path);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_some() && now != state.0 {
            match load(&self.path) {
                Ok(config) => {
                    tracing::info!(path = %self.path.display(), "web config reloaded");
                    *state = (now, config);
                }
                Err(e) => {
                    tracing::error!(error = %e, "web config reload failed; keeping the previous one");
                    state.0 = now;
                }
            }
        }
        state.1.clone()
    }
}

impl WebConfig {
    /// Checks an `Authorization` header against this config's users; `true` if it names a
    /// user whose bcrypt hash matches. Runs bcrypt at most once per distinct good header.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        use base64::Engine;
        let Some(header) = header else { return false };
        if self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|h| h == header)
        {
            return true;
        }
        let Some(encoded) = header.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (dummy_hash(), false),
        };
        let matches = {
            let _one_at_a_time = BCRYPT.lock().unwrap_or_else(|e| e.into_inner());
            bcrypt::verify(password, hash).unwrap_or(false)
        };
        let ok = known && matches;
        if ok {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= 64 {
                verified.remove(0);
            }
            verified.push(header.to_owned());
        }
        ok
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn rejects_unknown_keys_plain_passwords_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "w.yml", "basic_auth_users:\n  admin: hunter2\n");
        let err = load(&p).unwrap_err().to_string();
        assert!(
            err.contains("must be a bcrypt hash") && !err.contains("hunter2"),
            "{err}"
        );
        let p = write(
            dir.path(),
            "w.yml",
            "tls_server_config:\n  cert_file: a\n  keyfile: b\n",
        );
        let err = load(&p).unwrap_err().to_string();
        assert!(
            err.contains("w.yml:3:") && err.contains("unknown field `keyfile`"),
            "{err}"
        );
        let p = write(
            dir.path(),
            "w.yml",
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
        );
        let err = load(&p).unwrap_err().to_string();
        assert!(
            err.contains("cert_file") && err.contains("nope.crt"),
            "{err}"
        );
        assert!(load(&dir.path().join("missing.yml")).is_err());
    }

    #[test]
    fn basic_auth_checks_bcrypt_and_caches_successes() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let p = write(
            dir.path(),
            "w.yml",
            &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
        );
        let source = WebConfigSource::open(&p).unwrap();
        let config = source.current();
        use base64::Engine;
        let header = |u: &str, pw: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pw}"))
            )
        };
        assert!(config.authorized(Some(&header("prometheus", "s3cret"))));
        assert!(config.authorized(Some(&header("prometheus", "s3cret"))));
        assert!(!config.authorized(Some(&header("prometheus", "wrong"))));
        assert!(!config.authorized(Some(&header("other", "s3cret"))));
        assert!(!config.authorized(Some("Bearer x")));
        assert!(!config.authorized(None));
        // A reload that removes the user: the new config does not inherit the old cache.
        std::fs::write(&p, "basic_auth_users: {}\n").unwrap();
        let reloaded = load(&p).unwrap();
        assert!(!reloaded.authorized(Some(&header("prometheus", "s3cret"))));
    }
}
