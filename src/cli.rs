//! The command line: clap definitions, and flags to configuration through the library's one
//! builder ([`ClusterSettings`]), so that defaults live in `config.rs` alone.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use slotwatch::config::RedirectPolicy as Policy;

use slotwatch::config::{
    self, ClusterSettings, Config, HumanBytes, HumanDuration, LogFormat, Origin, Reach, Seed,
    TlsConfig,
};

#[derive(Parser)]
#[command(
    name = "slotwatch",
    version,
    about = "Prometheus exporter and diagnostics for Redis Cluster and Valkey cluster mode",
    long_about = "slotwatch watches a whole Redis Cluster from a few seeds, diffs successive \
                  topologies into events (reshards, failovers, migrations, node changes) and \
                  exports metrics that explain MOVED and ASK redirect bursts."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Poll a cluster (or every cluster in --config) and serve /metrics, /topology and /events.
    ///
    /// slotwatch polls on its own timer (--poll-interval) rather than per scrape: topology
    /// diffs need successive samples, and a scrape must never wait on a hung node.
    Serve(Box<ServeArgs>),
    /// One-shot health verdict of a live cluster; exit 0 healthy, 1 problems, 2 usage or
    /// connection error.
    ///
    /// Reports slot coverage, failing masters, whether the nodes agree on slot ownership,
    /// masters with their replicas, and open migrations. --key shows where a key lives and
    /// what a plain client on each seed would get; --moved explains a pasted MOVED/ASK error.
    Check(Box<CheckArgs>),
    /// Propose slot moves that even out the load over the masters, with the commands to run
    /// them; never runs them.
    ///
    /// Reads every master's per-slot stats once (CLUSTER SLOT-STATS on Valkey 8.0+ and Redis
    /// 8.2+; --by keys falls back to CLUSTER COUNTKEYSINSLOT elsewhere) and plans the fewest
    /// moves of contiguous slot ranges it can find that bring every master within --target of
    /// the mean, never moving a slot in an open migration. Each move comes with the commands that
    /// carry it out: CLUSTER MIGRATESLOTS (Valkey 9), CLUSTER MIGRATION IMPORT (Redis 8.4), or
    /// the per-slot SETSLOT/MIGRATE sequence redis-cli uses. slotwatch only prints them: review
    /// and run them yourself. Exit 0 with or without moves, 2 on error.
    Plan(Box<PlanArgs>),
    /// Print the hash slot of each KEY, one per line, exactly as CLUSTER KEYSLOT does.
    Keyslot {
        /// Keys to hash. Bytes are taken as given, so non-UTF-8 keys work too.
        #[arg(required = true, value_parser = clap::builder::OsStringValueParser::new())]
        keys: Vec<OsString>,
    },
    /// Print the events between two CLUSTER NODES dumps.
    ///
    /// Each file holds one or more nodes' CLUSTER NODES replies separated by blank lines;
    /// `-` reads standard input. Exit code 0 whether or not anything changed, 2 on bad input.
    Diff {
        /// The earlier dump.
        before: PathBuf,
        /// The later dump.
        after: PathBuf,
        /// Print the events as a JSON array instead of one line each.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 if slotwatch's /healthz answers 200 (for container HEALTHCHECKs without curl).
    Healthcheck {
        /// The URL to probe; https skips certificate verification (it is meant for loopback).
        #[arg(long, default_value = "http://127.0.0.1:19121/healthz")]
        url: String,
    },
}

/// How to reach one cluster: shared by `serve` and `check`, so both use the same connection,
/// auth and TLS code.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// A node to discover the cluster from: redis://HOST:PORT, or rediss://HOST:PORT for TLS.
    /// Repeat for more seeds.
    #[arg(
        long = "seed",
        value_name = "URL",
        env = "SLOTWATCH_SEEDS",
        value_delimiter = ','
    )]
    seeds: Vec<String>,
    /// Name of the cluster: the value of the `cluster` label (with --config, `check` uses it
    /// to pick the cluster).
    #[arg(long, value_name = "NAME", env = "SLOTWATCH_CLUSTER_NAME",
          default_value = config::DEFAULT_CLUSTER_NAME)]
    cluster_name: String,
    /// Per-node timeout for connecting and for each poll's round trip.
    #[arg(long, value_name = "DURATION",
          default_value_t = HumanDuration(config::DEFAULT_TIMEOUT))]
    timeout: HumanDuration,
    /// Most bytes one round trip to a node may return, e.g. 8MiB; more fails the node's fetch
    /// with reason reply_too_large.
    #[arg(long, value_name = "SIZE",
          default_value_t = HumanBytes(config::DEFAULT_MAX_REPLY_BYTES))]
    max_reply_bytes: HumanBytes,
    /// Most bytes one poll may read from all of a cluster's nodes together.
    #[arg(long, value_name = "SIZE",
          default_value_t = HumanBytes(config::DEFAULT_MAX_POLL_BYTES))]
    max_poll_bytes: HumanBytes,
    /// MOVED per second per node above which a burst counts, as the alert's
    /// redirects.movedThreshold [default: 0.05].
    #[arg(long, value_name = "PER_SECOND")]
    redirect_rate_threshold: Option<f64>,
    /// Time after a topology change during which a MOVED burst is expected, as the alert's
    /// redirects.graceWindow [default: 10m].
    #[arg(long, value_name = "DURATION")]
    redirect_grace_window: Option<HumanDuration>,
    /// How long a burst persists beyond the grace window before the alert fires, as the
    /// alert's redirects.for [default: 10m].
    #[arg(long, value_name = "DURATION")]
    redirect_for: Option<HumanDuration>,
    /// The window redirect rates are taken over, as the alert's rate5m [default: 5m].
    #[arg(long, value_name = "DURATION")]
    redirect_rate_window: Option<HumanDuration>,
    /// YAML file describing one or more clusters (see deploy/slotwatch.example.yml). Replaces
    /// the per-cluster flags.
    #[arg(long, value_name = "FILE", env = "SLOTWATCH_CONFIG", conflicts_with_all = ["seeds", "username", "password_file", "password_env", "tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_name", "tls_insecure_skip_verify"])]
    config: Option<PathBuf>,
    /// ACL user name for AUTH (Redis 6+).
    #[arg(long, env = "SLOTWATCH_REDIS_USERNAME")]
    username: Option<String>,
    /// File holding the Redis password; re-read on every reconnect.
    #[arg(long, value_name = "FILE", env = "SLOTWATCH_REDIS_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    /// Name of an environment variable holding the Redis password.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    password_env: Option<String>,
    /// PEM file of CA certificates that sign the Redis servers' certificates.
    #[arg(long, value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers with tls-auth-clients.
    #[arg(long, value_name = "FILE", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key for --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// Name to verify in server certificates (nodes are reached by IP).
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// Accept any server certificate. Only for testing.
    #[arg(long)]
    tls_insecure_skip_verify: bool,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Time between polls, e.g. 5s or 500ms.
    #[arg(long, value_name = "DURATION",
          default_value_t = HumanDuration(config::DEFAULT_POLL_INTERVAL))]
    poll_interval: HumanDuration,
    /// Nodes whose full CLUSTER NODES each poll reads (plus nodes in a recent change); every
    /// node still answers INFO every poll. Clusters up to this size are read in full.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_FULL_VIEWS_PER_POLL)]
    full_views_per_poll: usize,
    /// Time between analyses of the clients that cause redirects (CLIENT LIST on every node,
    /// only after redirects), served at /clients; 0 turns them off.
    #[arg(long, value_name = "DURATION",
          default_value_t = HumanDuration(config::DEFAULT_CLIENTS_INTERVAL))]
    clients_interval: HumanDuration,
    /// Time between readings of every master's per-slot stats (CLUSTER SLOT-STATS, Valkey 8.0+
    /// and Redis 8.2+), which give the per-master load and busiest slots; 0 turns them off.
    #[arg(long, value_name = "DURATION",
          default_value_t = HumanDuration(config::DEFAULT_SLOT_STATS_INTERVAL))]
    slot_stats_interval: HumanDuration,
    /// Busiest slots per master and measure (keys, CPU, network) exported with a slot label.
    #[arg(long, value_name = "K", default_value_t = config::DEFAULT_SLOT_STATS_TOP)]
    slot_stats_top: usize,
    /// Address to serve HTTP on.
    #[arg(long, value_name = "ADDR", env = "SLOTWATCH_LISTEN",
          default_value = config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, env = "SLOTWATCH_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Events kept per cluster for /events.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_EVENTS_CAPACITY,
          value_parser = at_least_one)]
    events_capacity: usize,
    /// Time a request's headers may take to arrive, counted from when the connection is ready
    /// for a request (so idle keep-alive connections end after it too).
    #[arg(long = "web.read-header-timeout", value_name = "DURATION",
          default_value_t = HumanDuration(config::DEFAULT_WEB_HEADER_TIMEOUT))]
    web_header_timeout: HumanDuration,
    /// Time a connection may stay with no byte moving either way (a client that stopped
    /// reading).
    #[arg(long = "web.idle-timeout", value_name = "DURATION",
          default_value_t = HumanDuration(config::DEFAULT_WEB_IDLE_TIMEOUT))]
    web_idle_timeout: HumanDuration,
    /// HTTP connections open at once; beyond it a new connection replaces the oldest one with
    /// no request in progress.
    #[arg(long = "web.max-connections", value_name = "N",
          default_value_t = config::DEFAULT_WEB_MAX_CONNECTIONS, value_parser = at_least_one)]
    web_max_connections: usize,
    /// Prometheus exporter-toolkit web config (TLS, client certificates, basic auth) for the
    /// HTTP endpoints; re-read whenever it changes.
    #[arg(
        long = "web.config.file",
        value_name = "FILE",
        env = "SLOTWATCH_WEB_CONFIG_FILE"
    )]
    pub web_config_file: Option<PathBuf>,
    /// Validate the configuration (and web config) and exit without serving.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Show the slot, owner and replicas of KEY, and what a plain client on each seed would
    /// get for it. Repeatable.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// Explain a MOVED or ASK error against the live topology, e.g. "MOVED 8404 10.0.0.32:6379".
    #[arg(long, value_name = "ERROR")]
    pub moved: Option<String>,
    /// Instead of the health report, name the client connections that cause redirects: reads
    /// CLIENT LIST from every node twice, a second apart (exit 1 if any is suspect).
    #[arg(long, conflicts_with_all = ["keys", "moved"])]
    pub clients: bool,
    /// Time between the two readings of every node's MOVED counter that the redirect verdict
    /// is judged on.
    #[arg(long, value_name = "DURATION",
          default_value_t = HumanDuration(slotwatch::check::verdict::DEFAULT_INTERVAL))]
    pub interval: HumanDuration,
    /// A running slotwatch (http://HOST:PORT) whose /events say when the topology last
    /// changed, so that a burst within the grace window after it is judged expected. Without
    /// it, only a change during the samples or an open migration is seen. An https
    /// certificate is not verified: the events are not secret.
    #[arg(long, value_name = "URL")]
    pub exporter: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// What to even out: keys, CPU time or network bytes per slot (CPU and network need
    /// cluster-slot-stats-enabled yes), or slot counts.
    #[arg(long, value_enum, default_value_t = slotwatch::plan::By::Keys)]
    pub by: slotwatch::plan::By,
    /// How far from the mean a master may stay, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = slotwatch::plan::DEFAULT_TARGET * 100.0,
          value_parser = percent)]
    pub target: f64,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses a percentage above 0 and below 100.
fn percent(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(p) if p > 0.0 && p < 100.0 => Ok(p),
        _ => Err(format!(
            "expected a percentage above 0 and below 100, found {text:?}"
        )),
    }
}

/// The parsed command line, with which flags were given rather than defaulted.
pub struct Parsed {
    /// The command and its arguments.
    pub command: Command,
    matches: ArgMatches,
}

impl Parsed {
    /// Parses `std::env::args`, exiting with clap's message on a usage error.
    pub fn from_env() -> Parsed {
        let matches = Cli::command().get_matches();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        Parsed {
            command: cli.command,
            matches,
        }
    }

    /// True if the subcommand's flag `id` was given on the command line or in the environment.
    fn given(&self, id: &str) -> bool {
        self.matches
            .subcommand()
            .and_then(|(_, m)| m.value_source(id))
            .is_some_and(|s| matches!(s, ValueSource::CommandLine | ValueSource::EnvVariable))
    }
}

impl ClusterArgs {
    /// The per-cluster flags as settings for the library's builder.
    fn settings(
        &self,
        poll_interval: Option<HumanDuration>,
        views: Option<usize>,
        clients_interval: Option<HumanDuration>,
        slot_stats: Option<(HumanDuration, usize)>,
    ) -> Result<ClusterSettings, String> {
        let seeds = self
            .seeds
            .iter()
            .map(|s| s.parse::<Seed>().map_err(|e| format!("--seed: {e}")))
            .collect::<Result<Vec<_>, String>>()?;
        let tls = self.tls_ca_file.is_some()
            || self.tls_cert_file.is_some()
            || self.tls_server_name.is_some()
            || self.tls_insecure_skip_verify;
        Ok(ClusterSettings {
            name: Some(self.cluster_name.clone()),
            seeds,
            poll_interval,
            timeout: Some(self.timeout),
            full_views_per_poll: views,
            clients_interval,
            slot_stats_interval: slot_stats.map(|(interval, _)| interval),
            slot_stats_top: slot_stats.map(|(_, top)| top),
            max_reply_bytes: Some(self.max_reply_bytes),
            max_poll_bytes: Some(self.max_poll_bytes),
            redirect_rate_threshold: self.redirect_rate_threshold,
            redirect_grace_window: self.redirect_grace_window,
            redirect_for: self.redirect_for,
            redirect_rate_window: self.redirect_rate_window,
            username: self.username.clone(),
            password_file: self.password_file.clone(),
            password_env: self.password_env.clone(),
            password: None,
            tls: tls.then(|| TlsConfig {
                ca_file: self.tls_ca_file.clone(),
                cert_file: self.tls_cert_file.clone(),
                key_file: self.tls_key_file.clone(),
                server_name: self.tls_server_name.clone(),
                insecure_skip_verify: self.tls_insecure_skip_verify,
            }),
        })
    }
}

/// `serve`'s configuration: the file, or the flags for one cluster; explicit flags override
/// the file's process-wide settings, and per-cluster flags cannot be combined with a file.
pub fn serve_config(args: &ServeArgs, parsed: &Parsed) -> Result<Config, String> {
    let c = &args.cluster;
    let mut config = match &c.config {
        Some(path) => {
            // These are per cluster in the file; silently ignoring them would mislead.
            for (id, flag) in [
                ("poll_interval", "--poll-interval"),
                ("timeout", "--timeout"),
                ("full_views_per_poll", "--full-views-per-poll"),
                ("clients_interval", "--clients-interval"),
                ("slot_stats_interval", "--slot-stats-interval"),
                ("slot_stats_top", "--slot-stats-top"),
                ("max_reply_bytes", "--max-reply-bytes"),
                ("max_poll_bytes", "--max-poll-bytes"),
                ("redirect_rate_threshold", "--redirect-rate-threshold"),
                ("redirect_grace_window", "--redirect-grace-window"),
                ("redirect_for", "--redirect-for"),
                ("redirect_rate_window", "--redirect-rate-window"),
                ("cluster_name", "--cluster-name"),
            ] {
                if parsed.given(id) {
                    return Err(format!(
                        "{flag} is set per cluster in the config file; it cannot be combined with --config"
                    ));
                }
            }
            config::load_file(path).map_err(|e| e.to_string())?
        }
        None => {
            if c.seeds.is_empty() {
                return Err("--seed redis://HOST:PORT (or --config FILE) is required".into());
            }
            let settings = c.settings(
                Some(args.poll_interval),
                Some(args.full_views_per_poll),
                Some(args.clients_interval),
                Some((args.slot_stats_interval, args.slot_stats_top)),
            )?;
            Config {
                listen: args.listen,
                log_format: args.log_format,
                events_capacity: args.events_capacity,
                web: Default::default(),
                clusters: vec![settings.build(&Origin::Flags).map_err(|e| e.to_string())?],
            }
        }
    };
    if parsed.given("listen") {
        config.listen = args.listen;
    }
    if parsed.given("log_format") {
        config.log_format = args.log_format;
    }
    if parsed.given("events_capacity") {
        config.events_capacity = args.events_capacity;
    }
    config.web = config::WebLimits {
        header_timeout: args.web_header_timeout.0,
        idle_timeout: args.web_idle_timeout.0,
        max_connections: args.web_max_connections,
    };
    if config.web.header_timeout.is_zero() || config.web.idle_timeout.is_zero() {
        return Err(
            "--web.read-header-timeout and --web.idle-timeout must be greater than 0".into(),
        );
    }
    Ok(config)
}

/// The cluster of `check` or `plan`: its name, how to reach it and its redirect thresholds,
/// from the flags or one cluster of the file, explicit flags overriding the file's.
pub fn cluster_of(c: &ClusterArgs, parsed: &Parsed) -> Result<(String, Reach, Policy), String> {
    let Some(path) = &c.config else {
        if c.seeds.is_empty() {
            return Err("--seed redis://HOST:PORT (or --config FILE) is required".into());
        }
        let settings = c.settings(None, None, None, None)?;
        let reach = settings.reach(&Origin::Flags).map_err(|e| e.to_string())?;
        let policy = settings
            .redirect_policy(&Origin::Flags)
            .map_err(|e| e.to_string())?;
        return Ok((c.cluster_name.clone(), reach, policy));
    };
    let file = config::load_file(path).map_err(|e| e.to_string())?;
    let mut cluster = if parsed.given("cluster_name") {
        file.clusters
            .into_iter()
            .find(|cl| cl.name == c.cluster_name)
            .ok_or_else(|| {
                format!(
                    "--cluster-name {:?} is not in the config file",
                    c.cluster_name
                )
            })?
    } else if file.clusters.len() > 1 {
        return Err("the config file lists several clusters; pick one with --cluster-name".into());
    } else {
        file.clusters
            .into_iter()
            .next()
            .ok_or("the config file lists no cluster")?
    };
    // An explicit --timeout applies to a cluster from the config file too.
    if parsed.given("timeout") {
        cluster.reach.timeout = c.timeout.0;
    }
    if parsed.given("max_reply_bytes") {
        cluster.reach.limits.per_reply = c.max_reply_bytes.0;
    }
    if parsed.given("max_poll_bytes") {
        cluster.reach.limits.per_poll = c.max_poll_bytes.0;
    }
    // Explicit thresholds override the file's, each on its own.
    let f = cluster.redirects;
    let policy = ClusterSettings {
        redirect_rate_threshold: c.redirect_rate_threshold.or(Some(f.rate_threshold)),
        redirect_grace_window: c.redirect_grace_window.or(Some(HumanDuration(f.grace))),
        redirect_for: c.redirect_for.or(Some(HumanDuration(f.r#for))),
        redirect_rate_window: c
            .redirect_rate_window
            .or(Some(HumanDuration(f.rate_window))),
        ..ClusterSettings::default()
    }
    .redirect_policy(&Origin::Flags)
    .map_err(|e| e.to_string())?;
    Ok((cluster.name, cluster.reach, policy))
}

/// Parses a count that must be at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least 1, found {text:?}"
        )),
    }
}
