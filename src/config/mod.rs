//! Configuration: the YAML file for many clusters, or flags for one, validated into [`Config`].
//!
//! Both routes fill the same [`ClusterSettings`] and go through its one builder, which holds
//! the defaults and the validation, and names the flag or the file key in every error.
//!
//! Secrets never live in the config itself: passwords come from a file (re-read on every
//! reconnect, so rotation needs no restart) or from an environment variable, never from a flag
//! that `ps` would show.

mod file;
mod key;
pub mod redirects;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use file::{YamlError, load_file, parse_file, parse_listen, parse_yaml, read_text};
pub use key::Key;
pub use redirects::RedirectPolicy;
pub use values::{
    Auth, HumanBytes, HumanDuration, PasswordError, PasswordSource, Secret, Seed, TlsConfig,
    ValueError,
};

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
/// Default time between two analyses of a cluster's clients (`CLIENT LIST` twice on every
/// node, only after redirects). At 10,000 connections a node spends about 25 ms on one `CLIENT
/// LIST` (`scripts/bench clients`): 0.1% of its CPU at this interval.
pub const DEFAULT_CLIENTS_INTERVAL: Duration = Duration::from_secs(60);
/// Default time between two readings of every master's per-slot stats (`CLUSTER SLOT-STATS
/// SLOTSRANGE`, Valkey 8.0+ and Redis 8.2+). One reading costs the masters about 0.36 µs per
/// slot (6 ms for all 16384, BENCHMARKS.md), and never lands on the scrape path; at this
/// interval that is 31 µs per 5 s poll, which keeps slotwatch's Redis-side cost under a quarter
/// of the de facto exporter's. Load moves slowly; the heat view reads on demand.
pub const DEFAULT_SLOT_STATS_INTERVAL: Duration = Duration::from_secs(900);
/// Default number of busiest slots per master and measure exported as `slot`-labelled series.
pub const DEFAULT_SLOT_STATS_TOP: usize = 5;
/// Most busiest slots per master and measure: bounds the series a cluster exports.
pub const MAX_SLOT_STATS_TOP: usize = 100;
/// Default cap on the bytes one round trip to a node may return. A 1000-node cluster's
/// `CLUSTER NODES` is about 150 KiB (and INFO a few KiB): this leaves a fiftyfold margin, yet
/// a broken or hostile node streaming an endless reply cannot make slotwatch buffer it.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 8 << 20;
/// Default cap on the bytes one poll may read from all of a cluster's nodes together. A poll of
/// a 1000-node cluster reads about 4 MiB, and `check` reading every view of it about 150 MiB.
pub const DEFAULT_MAX_POLL_BYTES: u64 = 256 << 20;

/// Default time a request's headers may take to arrive, counted from when the connection is
/// ready for a request.
pub const DEFAULT_WEB_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may stay with no byte moving either way.
pub const DEFAULT_WEB_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default number of HTTP connections open at once.
pub const DEFAULT_WEB_MAX_CONNECTIONS: usize = 256;

/// Why configuration was rejected. Messages name the file, line and key, or the flag, and
/// never include a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] YamlError),
    /// A value is well-formed but not acceptable.
    #[error("{context}: {message}")]
    Invalid {
        /// Where: the file and key, or the flag.
        context: String,
        /// What is wrong.
        message: String,
    },
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
    /// Caps on what nodes may send.
    pub limits: ReadLimits,
}

/// Caps on the bytes read from a cluster's nodes, so that a broken or hostile node cannot make
/// slotwatch buffer without bound. Going over either fails the fetch with `reply_too_large`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Bytes one round trip to one node may return.
    pub per_reply: u64,
    /// Bytes one poll may read from all nodes together.
    pub per_poll: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            per_reply: DEFAULT_MAX_REPLY_BYTES,
            per_poll: DEFAULT_MAX_POLL_BYTES,
        }
    }
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
    /// Time between analyses of the clients that cause redirects; zero turns them off.
    pub clients_interval: Duration,
    /// Time between readings of every master's per-slot stats; zero turns them off.
    pub slot_stats_interval: Duration,
    /// Busiest slots per master and measure exported.
    pub slot_stats_top: usize,
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
    /// The thresholds of its redirect verdict.
    pub redirects: RedirectPolicy,
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
    /// `clients_interval` / `--clients-interval`.
    pub clients_interval: Option<HumanDuration>,
    /// `slot_stats_interval` / `--slot-stats-interval`.
    pub slot_stats_interval: Option<HumanDuration>,
    /// `slot_stats_top` / `--slot-stats-top`.
    pub slot_stats_top: Option<usize>,
    /// `max_reply_bytes` / `--max-reply-bytes`.
    pub max_reply_bytes: Option<HumanBytes>,
    /// `max_poll_bytes` / `--max-poll-bytes`.
    pub max_poll_bytes: Option<HumanBytes>,
    /// `redirect_rate_threshold` / `--redirect-rate-threshold`.
    pub redirect_rate_threshold: Option<f64>,
    /// `redirect_grace_window` / `--redirect-grace-window`.
    pub redirect_grace_window: Option<HumanDuration>,
    /// `redirect_for` / `--redirect-for`.
    pub redirect_for: Option<HumanDuration>,
    /// `redirect_rate_window` / `--redirect-rate-window`.
    pub redirect_rate_window: Option<HumanDuration>,
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
        let limits = ReadLimits {
            per_reply: self
                .max_reply_bytes
                .map_or(DEFAULT_MAX_REPLY_BYTES, |b| b.0),
            per_poll: self.max_poll_bytes.map_or(DEFAULT_MAX_POLL_BYTES, |b| b.0),
        };
        // Below this not even a small cluster's view fits.
        if limits.per_reply < 64 << 10 {
            return Err(origin.invalid(Key::MaxReplyBytes, "must be at least 64KiB"));
        }
        if limits.per_poll < limits.per_reply {
            return Err(origin.invalid(
                Key::MaxPollBytes,
                format!(
                    "must be at least the reply cap ({})",
                    HumanBytes(limits.per_reply)
                ),
            ));
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
            limits,
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
            clients_interval: self
                .clients_interval
                .map_or(DEFAULT_CLIENTS_INTERVAL, |d| d.0),
            slot_stats_interval: self
                .slot_stats_interval
                .map_or(DEFAULT_SLOT_STATS_INTERVAL, |d| d.0),
            slot_stats_top: self.slot_stats_top.unwrap_or(DEFAULT_SLOT_STATS_TOP),
        };
        if !schedule.slot_stats_interval.is_zero()
            && schedule.slot_stats_interval < schedule.poll_interval
        {
            return Err(origin.invalid(
                Key::SlotStatsInterval,
                "must be 0 (off) or at least the poll interval",
            ));
        }
        if schedule.slot_stats_top > MAX_SLOT_STATS_TOP {
            return Err(origin.invalid(
                Key::SlotStatsTop,
                format!("must be at most {MAX_SLOT_STATS_TOP}"),
            ));
        }
        if schedule.poll_interval < Duration::from_millis(100) {
            return Err(origin.invalid(Key::PollInterval, "must be at least 100ms"));
        }
        // The analysis samples every node twice, a second apart, and must not overlap itself.
        if !schedule.clients_interval.is_zero()
            && schedule.clients_interval < Duration::from_secs(1)
        {
            return Err(origin.invalid(Key::ClientsInterval, "must be 0 (off) or at least 1s"));
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
            redirects: self.redirect_policy(origin)?,
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

/// Limits that keep slow or abusive HTTP clients from exhausting the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebLimits {
    /// A request's headers must arrive within this, counted from when the connection is ready
    /// for a request (so idle keep-alive connections end after it too).
    pub header_timeout: Duration,
    /// A connection with no byte moving either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; beyond it, the oldest idle one makes room.
    pub max_connections: usize,
}

impl Default for WebLimits {
    fn default() -> Self {
        WebLimits {
            header_timeout: DEFAULT_WEB_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_WEB_IDLE_TIMEOUT,
            max_connections: DEFAULT_WEB_MAX_CONNECTIONS,
        }
    }
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
    /// Limits on HTTP clients.
    pub web: WebLimits,
    /// The clusters, each polled independently.
    pub clusters: Vec<ClusterConfig>,
}

/// Reads a password from the environment variable `name`.
fn password_from_env(name: &str, origin: &Origin) -> Result<PasswordSource, ConfigError> {
    match std::env::var(name) {
        Ok(value) => Ok(PasswordSource::Env {
            name: name.to_owned(),
            value: Secret::new(value),
        }),
        Err(_) => Err(origin.invalid(
            Key::PasswordEnv,
            format!("environment variable {name} is not set"),
        )),
    }
}

#[cfg(test)]
mod tests;
