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

use std::collections::{BTreeMap, VecDeque};
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
    /// The bcrypt cost of the users' hashes, which unknown users are checked at too.
    pub cost: u32,
    /// Authorization headers, with their user, that passed bcrypt against exactly these users:
    /// bcrypt is slow on purpose and Prometheus sends the same header every scrape. It belongs
    /// to the loaded config, so a reload that removes a user can never be undone by a check
    /// that started against the old file.
    verified: Arc<Mutex<VecDeque<(String, String)>>>,
}

/// Good headers remembered at most (a few per scraper).
const VERIFIED_LIMIT: usize = 64;

impl WebConfig {
    /// True if `header` passed a check against this config before.
    pub fn was_verified(&self, header: &str) -> bool {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.iter().any(|(h, _)| h == header)
    }

    /// Remembers that `header`, for `user`, passed.
    pub fn remember(&self, header: &str, user: &str) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_LIMIT {
            verified.pop_front();
        }
        verified.push_back((header.to_owned(), user.to_owned()));
    }

    /// Keeps, from `old`, the good headers whose user has the same hash here: a reload that
    /// leaves a user alone does not send its scraper back through bcrypt.
    fn inherit(&self, old: &WebConfig) {
        let kept: VecDeque<(String, String)> = old
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, user)| {
                old.users.get(user).is_some() && old.users.get(user) == self.users.get(user)
            })
            .cloned()
            .collect();
        *self.verified.lock().unwrap_or_else(|e| e.into_inner()) = kept;
    }
}

/// The cost field of a bcrypt hash (`$2y$10$...`), if it has one.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
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
    let file = read_file(path)?;
    check_passwords_are_hashes(path, &file.basic_auth_users)?;
    if let Some(h) = &file.http_server_config
        && h.http2 == Some(true)
    {
        tracing::info!("http_server_config.http2 is ignored: slotwatch serves HTTP/1.1");
    }
    let tls = match &file.tls_server_config {
        None => None,
        Some(t) => Some(Arc::new(tls_server_config(path, t)?)),
    };
    Ok(WebConfig {
        tls,
        cost: usual_cost(&file.basic_auth_users),
        users: Arc::new(file.basic_auth_users),
        headers: Arc::new(
            file.http_server_config
                .map(|h| h.headers.into_iter().collect())
                .unwrap_or_default(),
        ),
        verified: Arc::new(Mutex::new(VecDeque::new())),
    })
}

/// The file parsed; an empty one configures nothing.
fn read_file(path: &Path) -> Result<File, WebConfigError> {
    let text = read_text(path)?;
    if text.trim().is_empty() {
        return Ok(File::default());
    }
    Ok(parse_yaml(path, &text)?)
}

/// The error for a setting of the file at `path` that cannot be used.
fn invalid(path: &Path, key: &'static str, message: String) -> WebConfigError {
    WebConfigError::Invalid {
        path: path.to_owned(),
        key,
        message,
    }
}

/// Rejects a user whose password is not a bcrypt hash, without echoing the password.
fn check_passwords_are_hashes(
    path: &Path,
    users: &BTreeMap<String, String>,
) -> Result<(), WebConfigError> {
    for (user, hash) in users {
        if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
            return Err(invalid(
                path,
                "basic_auth_users",
                format!("the password of {user:?} must be a bcrypt hash ($2y$...), not plain text"),
            ));
        }
    }
    Ok(())
}

/// The TLS configuration `tls_server_config` of the file at `path` describes.
fn tls_server_config(path: &Path, t: &TlsServerConfig) -> Result<ServerConfig, WebConfigError> {
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Err(invalid(
            path,
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
        .map_err(|m| invalid(path, "client_auth_type", m))?;
    // Relative paths in the file are relative to the file, as in exporter-toolkit.
    let base = path.parent().unwrap_or(Path::new("."));
    let (cert, key) = (base.join(cert), base.join(key));
    let client_ca = t.client_ca_file.as_deref().map(|p| base.join(p));
    let settings = ServerSettings {
        cert: &cert,
        key: &key,
        client_auth,
        client_ca: client_ca.as_deref(),
        min_version: t.min_version.as_deref(),
        max_version: t.max_version.as_deref(),
    };
    tls::server_config(&settings).map_err(|e| match e {
        TlsError::File {
            key,
            path: file,
            message,
        } => invalid(path, key, format!("{}: {message}", file.display())),
        TlsError::Invalid { key, message } => invalid(path, key, message),
    })
}

/// The bcrypt cost most of `users` have: unknown users are checked at it, so that they take
/// as long.
fn usual_cost(users: &BTreeMap<String, String>) -> u32 {
    let mut costs: BTreeMap<u32, usize> = BTreeMap::new();
    for hash in users.values() {
        *costs
            .entry(bcrypt_cost(hash).unwrap_or(bcrypt::DEFAULT_COST))
            .or_insert(0) += 1;
    }
    costs
        .iter()
        .max_by_key(|(_, n)| **n)
        .map_or(bcrypt::DEFAULT_COST, |(c, _)| *c)
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
    ///
    /// An empty file on reload is most likely one caught half-written by a non-atomic rewrite:
    /// the last good configuration stays, with a warning, rather than switching auth and TLS
    /// off. A file that parses but has no users any more does switch basic auth off, loudly.
    pub fn current(&self) -> WebConfig {
        let now = stamp(&self.path);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_some() && now != state.0 {
            state.0 = now;
            if now.is_some_and(|(_, len)| len == 0) {
                tracing::warn!(
                    path = %self.path.display(),
                    "web config file is empty; keeping the previous settings"
                );
                return state.1.clone();
            }
            match load(&self.path) {
                Ok(config) => {
                    if config.users.is_empty() && !state.1.users.is_empty() {
                        tracing::warn!(
                            path = %self.path.display(),
                            "web config reloaded without basic_auth_users: the endpoints need no credentials any more"
                        );
                    } else {
                        tracing::info!(path = %self.path.display(), "web config reloaded");
                    }
                    config.inherit(&state.1);
                    state.1 = config;
                }
                Err(e) => {
                    tracing::error!(error = %e, "web config reload failed; keeping the previous one");
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
