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
use tokio_rustls::rustls::ServerConfig;

use crate::config::{YamlError, parse_yaml, read_text};
use crate::tls::{self, ClientAuth, ServerSettings, TlsError};

/// Why a web config file was rejected; messages name the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] YamlError),
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
    pub(crate) verified: Arc<Mutex<Vec<String>>>,
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
    let text = read_text(path)?;
    let file: File = if text.trim().is_empty() {
        File::default()
    } else {
        parse_yaml(path, &text)?
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
            let client_auth = t
                .client_auth_type
                .as_deref()
                .unwrap_or("NoClientCert")
                .parse::<ClientAuth>()
                .map_err(|m| invalid("client_auth_type", m))?;
            let (cert, key) = (resolve(cert), resolve(key));
            let client_ca = t.client_ca_file.as_deref().map(resolve);
            let settings = ServerSettings {
                cert: &cert,
                key: &key,
                client_auth,
                client_ca: client_ca.as_deref(),
                min_version: t.min_version.as_deref(),
                max_version: t.max_version.as_deref(),
            };
            Some(Arc::new(tls::server_config(&settings).map_err(
                |e| match e {
                    TlsError::File { key, path, message } => {
                        invalid(key, format!("{}: {message}", path.display()))
                    }
                    TlsError::Invalid { key, message } => invalid(key, message),
                },
            )?))
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

/// The web config file, re-read when it changes.
pub struct WebConfigSource {
    path: PathBuf,
    state: Mutex<(Option<(SystemTime, u64)>, WebConfig)>,
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

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Writes a file for a test and returns its path.
    pub(in crate::web) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
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
}
