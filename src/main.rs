//! The `slotwatch` command line: `serve`, `keyslot`, `diff` and `check`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use slotwatch::config::{self, Config, LogFormat};
use slotwatch::topology::{Topology, diff, merge, parse};

/// Exit code for bad input or usage; clap uses the same code for its own usage errors.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "slotwatch",
    version,
    about = "Prometheus exporter and diagnostics for Redis Cluster and Valkey cluster mode",
    long_about = "slotwatch watches a whole Redis Cluster from a few seeds, diffs successive \
                  topologies into events (reshards, failovers, migrations, node changes) and \
                  exports metrics that explain MOVED and ASK redirect bursts."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Print the hash slot of each KEY, one per line, exactly as CLUSTER KEYSLOT does.
    Keyslot {
        /// Keys to hash. Bytes are taken as given, so non-UTF-8 keys work too.
        #[arg(required = true, value_parser = clap::builder::OsStringValueParser::new())]
        keys: Vec<std::ffi::OsString>,
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
struct ClusterArgs {
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
    #[arg(long, value_name = "NAME", env = "SLOTWATCH_CLUSTER_NAME")]
    cluster_name: Option<String>,
    /// Per-node timeout for connecting and for each poll's round trip [default: 1s].
    #[arg(long, value_name = "DURATION")]
    timeout: Option<config::HumanDuration>,
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
struct ServeArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Time between polls, e.g. 5s or 500ms [default: 5s].
    #[arg(long, value_name = "DURATION")]
    poll_interval: Option<config::HumanDuration>,
    /// Nodes whose full CLUSTER NODES each poll reads (plus nodes in a recent change); every
    /// node still answers INFO every poll. Clusters up to this size are read in full
    /// [default: 16].
    #[arg(long, value_name = "N")]
    full_views_per_poll: Option<usize>,
    /// Address to serve HTTP on [default: 0.0.0.0:19121].
    #[arg(long, value_name = "ADDR", env = "SLOTWATCH_LISTEN")]
    listen: Option<String>,
    /// Log format.
    #[arg(long, value_enum, env = "SLOTWATCH_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Events kept per cluster for /events.
    #[arg(long, value_name = "N")]
    events_capacity: Option<usize>,
    /// Prometheus exporter-toolkit web config (TLS, client certificates, basic auth) for the
    /// HTTP endpoints; re-read whenever it changes.
    #[arg(
        long = "web.config.file",
        value_name = "FILE",
        env = "SLOTWATCH_WEB_CONFIG_FILE"
    )]
    web_config_file: Option<PathBuf>,
    /// Validate the configuration (and web config) and exit without serving.
    #[arg(long)]
    check_config: bool,
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Show the slot, owner and replicas of KEY, and what a plain client on each seed would
    /// get for it. Repeatable.
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// Explain a MOVED or ASK error against the live topology, e.g. "MOVED 8404 10.0.0.32:6379".
    #[arg(long, value_name = "ERROR")]
    moved: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Check(args) => check(*args),
        Command::Keyslot { keys } => keyslot(&keys),
        Command::Healthcheck { url } => healthcheck(&url),
        Command::Diff {
            before,
            after,
            json,
        } => diff_dumps(&before, &after, json),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("slotwatch: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The clusters the flags or the config file describe. `poll_interval` only matters to `serve`.
fn clusters(
    args: &ClusterArgs,
    poll_interval: Duration,
    full_views_per_poll: usize,
) -> Result<Config, String> {
    if let Some(path) = &args.config {
        return config::load_file(path).map_err(|e| e.to_string());
    }
    if args.seeds.is_empty() {
        return Err("--seed redis://HOST:PORT (or --config FILE) is required".into());
    }
    let seeds = args
        .seeds
        .iter()
        .map(|s| s.parse().map_err(|e| format!("--seed: {e}")))
        .collect::<Result<Vec<_>, String>>()?;
    let password = match (&args.password_file, &args.password_env) {
        (Some(f), _) => Some(config::PasswordSource::File(f.clone())),
        (None, Some(var)) => {
            Some(config::password_from_env(var, "--password-env").map_err(|e| e.to_string())?)
        }
        (None, None) => None,
    };
    let tls_flags = args.tls_ca_file.is_some()
        || args.tls_cert_file.is_some()
        || args.tls_server_name.is_some()
        || args.tls_insecure_skip_verify;
    let cluster = config::ClusterConfig {
        name: args
            .cluster_name
            .clone()
            .unwrap_or_else(|| config::DEFAULT_CLUSTER_NAME.to_owned()),
        seeds,
        poll_interval,
        timeout: args.timeout.map_or(config::DEFAULT_TIMEOUT, |t| t.0),
        full_views_per_poll,
        auth: config::Auth {
            username: args.username.clone(),
            password,
        },
        tls: tls_flags.then(|| config::TlsConfig {
            ca_file: args.tls_ca_file.clone(),
            cert_file: args.tls_cert_file.clone(),
            key_file: args.tls_key_file.clone(),
            server_name: args.tls_server_name.clone(),
            insecure_skip_verify: args.tls_insecure_skip_verify,
        }),
    };
    config::validate_cluster(&cluster, "--").map_err(|e| e.to_string())?;
    Ok(Config {
        listen: config::parse_listen(config::DEFAULT_LISTEN, "--listen")
            .map_err(|e| e.to_string())?,
        log_format: LogFormat::Text,
        events_capacity: config::DEFAULT_EVENTS_CAPACITY,
        clusters: vec![cluster],
    })
}

/// Builds the validated configuration from a file or from the single-cluster flags.
fn serve_config(args: &ServeArgs) -> Result<Config, String> {
    if args.cluster.config.is_some() {
        // These are per cluster in the file; silently ignoring them would mislead.
        let per_cluster = [
            ("--poll-interval", args.poll_interval.is_some()),
            ("--timeout", args.cluster.timeout.is_some()),
            ("--full-views-per-poll", args.full_views_per_poll.is_some()),
            ("--cluster-name", args.cluster.cluster_name.is_some()),
        ];
        if let Some((flag, _)) = per_cluster.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} is set per cluster in the config file; it cannot be combined with --config"
            ));
        }
    }
    let mut config = clusters(
        &args.cluster,
        args.poll_interval
            .map_or(config::DEFAULT_POLL_INTERVAL, |d| d.0),
        args.full_views_per_poll
            .unwrap_or(config::DEFAULT_FULL_VIEWS_PER_POLL),
    )?;
    // Flags given explicitly override the file.
    if let Some(listen) = &args.listen {
        config.listen = config::parse_listen(listen, "--listen").map_err(|e| e.to_string())?;
    }
    if let Some(format) = args.log_format {
        config.log_format = format;
    }
    if let Some(n) = args.events_capacity {
        if n == 0 {
            return Err("--events-capacity must be at least 1".into());
        }
        config.events_capacity = n;
    }
    Ok(config)
}

fn check(args: CheckArgs) -> Result<ExitCode, String> {
    let redirect = match &args.moved {
        Some(text) => {
            Some(slotwatch::check::parse_redirect(text).map_err(|e| format!("--moved: {e}"))?)
        }
        None => None,
    };
    let timeout = args
        .cluster
        .timeout
        .map_or(config::DEFAULT_TIMEOUT, |t| t.0);
    // A one-shot check reads every node's view: it has no earlier polls to rotate through.
    let config = clusters(
        &args.cluster,
        timeout.max(config::DEFAULT_POLL_INTERVAL),
        usize::MAX,
    )?;
    let mut cluster = match (&args.cluster.config, &args.cluster.cluster_name) {
        (Some(_), Some(name)) => config
            .clusters
            .into_iter()
            .find(|c| &c.name == name)
            .ok_or_else(|| format!("--cluster-name {name:?} is not in the config file"))?,
        (Some(_), None) if config.clusters.len() > 1 => {
            return Err(
                "the config file lists several clusters; pick one with --cluster-name".into(),
            );
        }
        _ => config
            .clusters
            .into_iter()
            .next()
            .ok_or("no cluster configured")?,
    };
    cluster.full_views_per_poll = usize::MAX;
    // An explicit --timeout applies to a cluster from the config file too.
    if let Some(t) = args.cluster.timeout {
        cluster.timeout = t.0;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let report = runtime
        .block_on(slotwatch::check::run(
            cluster,
            &args.keys,
            redirect.as_ref(),
        ))
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(report.to_text().as_bytes())
    };
    written.map_err(|e| format!("writing output: {e}"))?;
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let web_path = args.web_config_file.clone();
    let check_only = args.check_config;
    let config = serve_config(&args)?;
    let web = match &web_path {
        Some(path) => {
            Some(slotwatch::webconfig::WebConfigSource::open(path).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    if check_only {
        println!(
            "config OK: {} cluster(s){}",
            config.clusters.len(),
            if web.is_some() { ", web config OK" } else { "" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(slotwatch::serve::run(config, web))?;
    Ok(ExitCode::SUCCESS)
}

fn healthcheck(url: &str) -> Result<ExitCode, String> {
    match slotwatch::connect::probe_http(url, std::time::Duration::from_secs(3)) {
        Ok(200) => Ok(ExitCode::SUCCESS),
        Ok(status) => {
            eprintln!("slotwatch: {url}: HTTP {status}");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("slotwatch: {url}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn keyslot(keys: &[std::ffi::OsString]) -> Result<ExitCode, String> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = std::io::stdout().lock();
    for key in keys {
        writeln!(out, "{}", slotwatch::slot::key_slot(key.as_bytes()))
            .map_err(|e| format!("writing output: {e}"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn diff_dumps(before: &Path, after: &Path, json: bool) -> Result<ExitCode, String> {
    if before == Path::new("-") && after == Path::new("-") {
        return Err("only one of BEFORE and AFTER can be - (standard input)".into());
    }
    let now = slotwatch::clock::now_ms();
    let old = load_dump(before, now)?;
    let new = load_dump(after, now)?;
    let events = diff::stamp(diff::diff(&old, &new), &new);
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, &events)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else if events.is_empty() {
        writeln!(out, "no change")
    } else {
        events.iter().try_for_each(|e| writeln!(out, "{e}"))
    };
    written.map_err(|e| format!("writing output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Reads and merges one dump file, naming the file in every error.
fn load_dump(path: &Path, observed_at_ms: u64) -> Result<Topology, String> {
    let name = if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    read.map_err(|e| format!("{name}: cannot read: {e}"))?;
    let views = parse::parse_dump(&bytes).map_err(|e| format!("{name}: {e}"))?;
    if views.is_empty() {
        return Err(format!("{name}: no CLUSTER NODES lines found"));
    }
    Ok(merge::merge(&views, observed_at_ms))
}
