//! Configuration: the YAML file for many clusters, or flags for one, validated into [`Config`].
//!
//! Both routes fill the same [`ClusterSettings`] and go through its one builder, which holds
//! the defaults and the validation, and names the flag or the file key in every error.
//!
//! Secrets never live in the config itself: passwords come from a file (re-read on every
//! reconnect, so rotation needs no restart) or from an environment variable, never from a flag
//! that `ps` would show.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default address of the HTTP endpoint; 19121 sits beside the de facto Redis exporter's 9121.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:19121";
/// Default cluster name, the value of the `cluster` label.
pub const DEFAULT_CLUSTER_NAME: &str = "default";
/// Default time between polls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Default per-node timeout for connecting and for each poll's round trip.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default number of events kept for `/events`.
pub const DEFAULT_EVENTS_CAPACITY: usize = 1000;
/// Default number of nodes whose full `CLUSTER NODES` a poll reads, besides nodes involved in a
/// recent change. Clusters up to this size are read in full every poll.
pub const DEFAULT_FULL_VIEWS_PER_POLL: usize = 16;

/// Why configuration was rejected. Messages name the file, line and key, or the flag, and
/// never include a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a bad value.
    #[error("{path}:{line}:{column}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_yaml said, naming the key path and what was expected.
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{context}: {message}")]
    Invalid {
        /// Where: the file and key, or the flag.
        context: String,
        /// What is wrong.
        message: String,
    },
}

/// A setting, known by its flag and by its key in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// HTTP listen address.
    Listen,
    /// Events kept per cluster.
    EventsCapacity,
    /// The cluster's name.
    Name,
    /// Seed URLs.
    Seeds,
    /// Time between polls.
    PollInterval,
    /// Per-node timeout.
    Timeout,
    /// Full views read per poll.
    FullViewsPerPoll,
    /// Password file.
    PasswordFile,
    /// Password environment variable.
    PasswordEnv,
    /// A plain password (always refused).
    Password,
    /// TLS settings as a whole.
    Tls,
    /// The client certificate and key pair.
    TlsCertAndKey,
}

impl Key {
    /// (flag, config file key) of each setting.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Key::Listen => ("--listen", "listen"),
            Key::EventsCapacity => ("--events-capacity", "events_capacity"),
            Key::Name => ("--cluster-name", "name"),
            Key::Seeds => ("--seed", "seeds"),
            Key::PollInterval => ("--poll-interval", "poll_interval"),
            Key::Timeout => ("--timeout", "timeout"),
            Key::FullViewsPerPoll => ("--full-views-per-poll", "full_views_per_poll"),
            Key::PasswordFile => ("--password-file", "password_file"),
            Key::PasswordEnv => ("--password-env", "password_env"),
            Key::Password => ("--password-file", "password"),
            Key::Tls => ("--tls-ca-file/--tls-cert-file/--tls-server-name", "tls"),
            Key::TlsCertAndKey => ("--tls-cert-file/--tls-key-file", "tls.cert_file"),
        }
    }
}

/// Where settings came from, so that an error names what the user actually wrote.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Command-line flags.
    Flags,
    /// A config file; `cluster` is the index in `clusters` for per-cluster keys.
    File {
        /// The file.
        path: PathBuf,
        /// Index of the cluster entry, if the key is per cluster.
        cluster: Option<usize>,
    },
}

impl Origin {
    /// The flag, or `file: clusters[i].key`, for `key`.
    pub fn name(&self, key: Key) -> String {
        let (flag, yaml) = key.names();
        match self {
            Origin::Flags => flag.to_owned(),
            Origin::File {
                path,
                cluster: Some(i),
            } => format!("{}: clusters[{i}].{yaml}", path.display()),
            Origin::File {
                path,
                cluster: None,
            } => format!("{}: {yaml}", path.display()),
        }
    }

    fn invalid(&self, key: Key, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            context: self.name(key),
            message: message.into(),
        }
    }
}

/// A duration written as `500ms`, `5s`, `2m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl std::str::FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let expected = || format!("expected a duration such as 500ms, 5s or 1m, found {text:?}");
        let n: u64 = num.parse().map_err(|_| expected())?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(expected()),
        };
        Ok(HumanDuration(d))
    }
}

impl fmt::Display for HumanDuration {
    /// The largest unit that writes the duration exactly, so that it parses back unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms.is_multiple_of(3_600_000) && ms > 0 => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) && ms > 0 => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

/// Deserializes a string through `FromStr`, failing inside the scalar so that serde_yaml
/// reports the key path and the value's own line and column.
struct ParsedStr<T>(std::marker::PhantomData<T>);

impl<T: std::str::FromStr<Err = String>> serde::de::Visitor<'_> for ParsedStr<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParsedStr(std::marker::PhantomData))
    }
}

/// A seed address: `redis://host:port` or `rediss://host:port` (TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// True for `rediss://`.
    pub tls: bool,
}

impl Seed {
    /// `host:port`, with brackets around IPv6 hosts, for connecting and for messages.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://{}", self.endpoint())
    }
}

impl std::str::FromStr for Seed {
    type Err = String;

    /// Parses a seed URL. A password in the URL is refused (without echoing it), because URLs
    /// end up in process lists, logs and metrics.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("rediss://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("redis://") {
            (false, r)
        } else {
            return Err("a seed must look like redis://host:port or rediss://host:port".into());
        };
        // Refuse credentials anywhere in the URL, before any other check can echo it: a
        // password may itself contain '/', '?' or ':'.
        if rest.contains('@') {
            return Err(
                "a seed URL must not contain credentials; use username and password_file or \
                 password_env"
                    .into(),
            );
        }
        let hostport = rest.split(['/', '?']).next().unwrap_or("");
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            v6.split_once("]:")
                .ok_or_else(|| format!("expected [ipv6]:port in seed {text:?}"))?
        } else {
            hostport
                .rsplit_once(':')
                .ok_or_else(|| format!("missing :port in seed {text:?}"))?
        };
        if host.is_empty() {
            return Err(format!("missing host in seed {text:?}"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port in seed {text:?}"))?;
        Ok(Seed {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl<'de> Deserialize<'de> for Seed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParsedStr(std::marker::PhantomData))
    }
}

/// A secret string that never prints: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself; call only where it is handed to the Redis client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a password could not be loaded; names the file, never the secret.
#[derive(Debug, thiserror::Error)]
#[error("cannot read password file {path}: {source}")]
pub struct PasswordError {
    /// The password file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Where the Redis password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Read from this file on every (re)connect; trailing newlines are dropped.
    File(PathBuf),
    /// Read from this environment variable at startup.
    Env {
        /// The variable's name (safe to print).
        name: String,
        /// Its value.
        value: Secret,
    },
}

impl PasswordSource {
    /// Loads the password.
    pub fn load(&self) -> Result<Secret, PasswordError> {
        match self {
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|source| PasswordError {
                    path: path.clone(),
                    source,
                }),
            PasswordSource::Env { value, .. } => Ok(value.clone()),
        }
    }
}

/// Redis AUTH settings: an optional ACL user and an optional password source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// ACL user name (Redis 6+); `None` authenticates as `default`.
    pub username: Option<String>,
    /// Where the password comes from, if any.
    pub password: Option<PasswordSource>,
}

/// TLS settings for connections to Redis.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CA certificates that sign the servers' certificates; the system's web roots
    /// are not used, since Redis deployments almost always use a private CA.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers with `tls-auth-clients yes`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key for `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name to verify in the server certificate. Cluster nodes announce IPs, so without this
    /// the certificate must carry IP SANs.
    pub server_name: Option<String>,
    /// Accept any server certificate. For tests only: it defeats TLS's protection.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// How to reach a cluster: what `serve` and `check` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// Where discovery starts.
    pub seeds: Vec<Seed>,
    /// Per-node timeout for connecting and for each poll's round trip.
    pub timeout: Duration,
    /// AUTH settings.
    pub auth: Auth,
    /// TLS settings; used for `rediss://` seeds (and then for every discovered node).
    pub tls: Option<TlsConfig>,
}

/// How `serve` polls a cluster; a one-shot `check` has no schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between polls.
    pub poll_interval: Duration,
    /// How many nodes' full `CLUSTER NODES` replies a poll reads (plus nodes involved in a
    /// recent change); every node still answers INFO every poll. Bounds the otherwise
    /// quadratic cost of big clusters.
    pub full_views_per_poll: usize,
}

/// One cluster to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The `cluster` label value.
    pub name: String,
    /// How to reach it.
    pub reach: Reach,
    /// How often and how much to read.
    pub schedule: Schedule,
}

/// One cluster's settings as written, before defaults and validation: filled from the flags or
/// from one entry of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// `name` / `--cluster-name`.
    pub name: Option<String>,
    /// `seeds` / `--seed`.
    #[serde(default)]
    pub seeds: Vec<Seed>,
    /// `poll_interval` / `--poll-interval`.
    pub poll_interval: Option<HumanDuration>,
    /// `timeout` / `--timeout`.
    pub timeout: Option<HumanDuration>,
    /// `full_views_per_poll` / `--full-views-per-poll`.
    pub full_views_per_poll: Option<usize>,
    /// `username` / `--username`.
    pub username: Option<String>,
    /// `password_file` / `--password-file`.
    pub password_file: Option<PathBuf>,
    /// `password_env` / `--password-env`.
    pub password_env: Option<String>,
    /// Accepted only to be refused with a helpful message instead of "unknown field".
    #[serde(default, skip_serializing)]
    pub password: Option<serde::de::IgnoredAny>,
    /// `tls` / `--tls-*`.
    pub tls: Option<TlsConfig>,
}

impl ClusterSettings {
    /// How to reach the cluster, validated; what `check` needs.
    pub fn reach(&self, origin: &Origin) -> Result<Reach, ConfigError> {
        if self.password.is_some() {
            return Err(origin.invalid(
                Key::Password,
                "passwords are not accepted in the config file; use password_file or password_env",
            ));
        }
        if self.seeds.is_empty() {
            return Err(origin.invalid(Key::Seeds, "list at least one seed"));
        }
        if self.seeds.iter().any(|s| s.tls) != self.seeds.iter().all(|s| s.tls) {
            return Err(origin.invalid(
                Key::Seeds,
                "mixes redis:// and rediss://; a cluster is either TLS or not",
            ));
        }
        let timeout = self.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        if timeout.is_zero() {
            return Err(origin.invalid(Key::Timeout, "must be greater than 0"));
        }
        let password = match (&self.password_file, &self.password_env) {
            (Some(_), Some(_)) => {
                return Err(origin.invalid(
                    Key::PasswordFile,
                    "set a password file or a password environment variable, not both",
                ));
            }
            (Some(f), None) => Some(PasswordSource::File(f.clone())),
            (None, Some(name)) => Some(password_from_env(name, origin)?),
            (None, None) => None,
        };
        // TLS settings with redis:// seeds would silently send AUTH in clear text.
        if self.tls.is_some() && !self.seeds.iter().all(|s| s.tls) {
            return Err(origin.invalid(
                Key::Tls,
                "TLS settings need rediss:// seeds; with redis:// slotwatch would connect in clear text",
            ));
        }
        if let Some(tls) = &self.tls
            && tls.cert_file.is_some() != tls.key_file.is_some()
        {
            return Err(origin.invalid(
                Key::TlsCertAndKey,
                "a client certificate and its key go together",
            ));
        }
        Ok(Reach {
            seeds: self.seeds.clone(),
            timeout,
            auth: Auth {
                username: self.username.clone(),
                password,
            },
            tls: self.tls.clone(),
        })
    }

    /// The cluster with defaults applied, validated; what `serve` needs.
    pub fn build(&self, origin: &Origin) -> Result<ClusterConfig, ConfigError> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_CLUSTER_NAME.to_owned());
        if name.is_empty() || name.chars().any(|ch| ch.is_control()) {
            return Err(origin.invalid(Key::Name, "must be a non-empty printable string"));
        }
        let reach = self.reach(origin)?;
        let schedule = Schedule {
            poll_interval: self.poll_interval.map_or(DEFAULT_POLL_INTERVAL, |d| d.0),
            full_views_per_poll: self
                .full_views_per_poll
                .unwrap_or(DEFAULT_FULL_VIEWS_PER_POLL),
        };
        if schedule.poll_interval < Duration::from_millis(100) {
            return Err(origin.invalid(Key::PollInterval, "must be at least 100ms"));
        }
        if schedule.full_views_per_poll == 0 {
            return Err(origin.invalid(Key::FullViewsPerPoll, "must be at least 1"));
        }
        // Polls never overlap (the next one waits for the last), but a timeout longer than the
        // interval would silently stretch the interval whenever a node hangs.
        if reach.timeout > schedule.poll_interval {
            return Err(origin.invalid(
                Key::Timeout,
                format!(
                    "must not exceed the poll interval ({})",
                    HumanDuration(schedule.poll_interval)
                ),
            ));
        }
        Ok(ClusterConfig {
            name,
            reach,
            schedule,
        })
    }
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// The validated configuration of a `serve` process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address of the HTTP endpoint.
    pub listen: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// How many events `/events` keeps per cluster (at least 1).
    pub events_capacity: usize,
    /// The clusters, each polled independently.
    pub clusters: Vec<ClusterConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    log_format: Option<LogFormat>,
    events_capacity: Option<usize>,
    clusters: Vec<ClusterSettings>,
}

/// Parses a YAML config file's contents; `path` is only used in messages.
pub fn parse_file(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let file: FileConfig = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        ConfigError::Yaml {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let top = Origin::File {
        path: path.to_owned(),
        cluster: None,
    };
    let listen = parse_listen(file.listen.as_deref().unwrap_or(DEFAULT_LISTEN), &top)?;
    let events_capacity = file.events_capacity.unwrap_or(DEFAULT_EVENTS_CAPACITY);
    if events_capacity == 0 {
        return Err(top.invalid(Key::EventsCapacity, "must be at least 1"));
    }
    if file.clusters.is_empty() {
        return Err(ConfigError::Invalid {
            context: format!("{}: clusters", path.display()),
            message: "list at least one cluster".into(),
        });
    }
    let mut clusters: Vec<ClusterConfig> = Vec::new();
    for (i, entry) in file.clusters.into_iter().enumerate() {
        let origin = Origin::File {
            path: path.to_owned(),
            cluster: Some(i),
        };
        // The flags default the name; in a file of many clusters each must say which it is.
        if entry.name.is_none() {
            return Err(origin.invalid(Key::Name, "is required"));
        }
        let cluster = entry.build(&origin)?;
        if clusters.iter().any(|o| o.name == cluster.name) {
            return Err(origin.invalid(
                Key::Name,
                format!("cluster name {:?} is used twice", cluster.name),
            ));
        }
        clusters.push(cluster);
    }
    Ok(Config {
        listen,
        log_format: file.log_format.unwrap_or_default(),
        events_capacity,
        clusters,
    })
}

/// Reads and parses a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_file(path, &text)
}

/// Parses a listen address such as `0.0.0.0:19121` or `[::]:19121`.
pub fn parse_listen(text: &str, origin: &Origin) -> Result<SocketAddr, ConfigError> {
    text.parse()
        .map_err(|_| origin.invalid(Key::Listen, format!("expected ip:port, found {text:?}")))
}

/// Reads a password from the environment variable `name`.
fn password_from_env(name: &str, origin: &Origin) -> Result<PasswordSource, ConfigError> {
    match std::env::var(name) {
        Ok(value) => Ok(PasswordSource::Env {
            name: name.to_owned(),
            value: Secret(value),
        }),
        Err(_) => Err(origin.invalid(
            Key::PasswordEnv,
            format!("environment variable {name} is not set"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_file(Path::new("slotwatch.yml"), text)
    }

    #[test]
    fn minimal_and_full_files() {
        let c = parse("clusters:\n  - name: a\n    seeds: [redis://10.0.0.1:6379]\n").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.clusters[0].schedule.poll_interval, DEFAULT_POLL_INTERVAL);
        assert_eq!(c.clusters[0].reach.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.events_capacity, 1000);

        let full = "listen: 127.0.0.1:9999\nlog_format: json\nevents_capacity: 10\nclusters:\n  - name: a\n    seeds: ['rediss://[::1]:7000', 'rediss://redis-0.example:7001']\n    poll_interval: 2s\n    timeout: 500ms\n    username: mon\n    password_file: /run/secrets/pw\n    tls:\n      ca_file: /ca.pem\n      server_name: redis.example\n";
        let c = parse(full).unwrap();
        let a = &c.clusters[0].reach;
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(a.seeds[0].endpoint(), "[::1]:7000");
        assert!(a.seeds[1].tls);
        assert_eq!(a.timeout, Duration::from_millis(500));
        assert_eq!(
            a.auth.password,
            Some(PasswordSource::File("/run/secrets/pw".into()))
        );
        assert_eq!(
            a.tls.as_ref().unwrap().server_name.as_deref(),
            Some("redis.example")
        );
    }

    #[test]
    fn unknown_keys_give_file_line_and_key() {
        let err = parse("clusters:\n  - name: a\n    sedes: [redis://x:1]\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("slotwatch.yml:3:"), "{msg}");
        assert!(msg.contains("unknown field `sedes`"), "{msg}");
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    poll_interval: 5x\n")
                .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("slotwatch.yml:4:"), "{msg}");
        assert!(msg.contains("clusters[0].poll_interval"), "{msg}");
        assert!(msg.contains("expected a duration"), "{msg}");
        let err = parse("clusters:\n  - name: a\n    seeds: [http://x:1]\n").unwrap_err();
        assert!(err.to_string().contains("redis://host:port"), "{err}");
        let err = parse("clusters:\n  - seeds: [redis://x:1]\n").unwrap_err();
        assert!(
            err.to_string().contains("clusters[0].name: is required"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_rejected_without_echoing_secrets() {
        for url in [
            "redis://:hunter2@x:1",
            "redis://:Ab/hunter2+ef==@10.0.0.1:6379",
            "redis://u:hunter2?@x:1",
        ] {
            let err =
                parse(&format!("clusters:\n  - name: a\n    seeds: ['{url}']\n")).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(
                err.to_string().contains("must not contain credentials"),
                "{err}"
            );
        }
        let err = parse(
            "clusters:\n  - name: a\n    seeds: [redis://x:1]\n    tls:\n      ca_file: /ca.pem\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("rediss://"), "{err}");
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    password: hunter2\n")
                .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("clusters[0].password"), "{err}");
        let err = parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    timeout: 6s\n")
            .unwrap_err();
        assert!(err.to_string().contains("clusters[0].timeout"), "{err}");
        let err = parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n  - name: a\n    seeds: [redis://y:1]\n").unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1, rediss://y:1]\n").unwrap_err();
        assert!(err.to_string().contains("TLS or not"), "{err}");
        let err = parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    password_env: SLOTWATCH_TEST_SURELY_UNSET\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("SLOTWATCH_TEST_SURELY_UNSET is not set"),
            "{err}"
        );
        assert_eq!(format!("{:?}", Secret::new("hunter2".into())), "<redacted>");
    }

    #[test]
    fn errors_name_the_flag_or_the_key_that_was_written() {
        let settings = ClusterSettings {
            seeds: vec!["redis://x:1".parse().unwrap()],
            poll_interval: Some(HumanDuration(Duration::from_millis(10))),
            ..ClusterSettings::default()
        };
        let err = settings.build(&Origin::Flags).unwrap_err().to_string();
        assert!(err.starts_with("--poll-interval: "), "{err}");
        let file = Origin::File {
            path: "s.yml".into(),
            cluster: Some(2),
        };
        let err = settings.build(&file).unwrap_err().to_string();
        assert!(
            err.starts_with("s.yml: clusters[2].poll_interval: "),
            "{err}"
        );
        let empty = ClusterSettings::default();
        let err = empty.reach(&Origin::Flags).unwrap_err().to_string();
        assert!(err.starts_with("--seed: "), "{err}");
        let views = ClusterSettings {
            full_views_per_poll: Some(0),
            ..settings.clone()
        };
        let views = ClusterSettings {
            poll_interval: None,
            ..views
        };
        let err = views.build(&Origin::Flags).unwrap_err().to_string();
        assert!(err.starts_with("--full-views-per-poll: "), "{err}");
    }

    #[test]
    fn shipped_example_loads() {
        // The example reads one password from the environment; provide it for the test.
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var("SESSIONS_REDIS_PASSWORD", "x") };
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/slotwatch.example.yml"
        ));
        let c = load_file(path).unwrap();
        assert_eq!(c.clusters.len(), 2);
        assert_eq!(c.clusters[0].name, "cache-eu1");
        assert_eq!(c.clusters[1].reach.timeout, Duration::from_secs(2));
        assert!(c.clusters[1].reach.seeds[0].tls);
        assert_eq!(
            c.clusters[1]
                .reach
                .tls
                .as_ref()
                .unwrap()
                .server_name
                .as_deref(),
            Some("redis.sessions.internal")
        );
    }

    #[test]
    fn seeds_and_durations_parse() {
        let s: Seed = "redis://127.0.0.1:7000/0".parse().unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("127.0.0.1", 7000, false));
        assert_eq!(s.to_string(), "redis://127.0.0.1:7000");
        assert!("redis://host".parse::<Seed>().is_err());
        assert!("redis://host:0".parse::<Seed>().is_err());
        assert!("redis://:6379".parse::<Seed>().is_err());
        assert!("redis://user@host:1".parse::<Seed>().is_err());
        assert_eq!(
            "90s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(90)
        );
        assert_eq!(
            "2m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(120)
        );
        for bad in ["", "5", "s", "-1s", "1.5s", "5 s"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?}");
        }
        for text in ["500ms", "5s", "90s", "2m", "1h", "1500ms"] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
    }
}
