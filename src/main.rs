//! The `slotwatch` command line: `serve`, `check`, `plan`, `keyslot`, `diff` and `healthcheck`. The
//! library's typed errors become sentences here, and only here.

mod cli;

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use cli::{CheckArgs, Command, Parsed, PlanArgs, ServeArgs};
use slotwatch::config::LogFormat;
use slotwatch::topology::event::stamp;
use slotwatch::topology::{Topology, diff, merge, parse};

/// Exit code for bad input or usage; clap uses the same code for its own usage errors.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let parsed = Parsed::from_env();
    let result = match &parsed.command {
        Command::Serve(args) => serve(args, &parsed),
        Command::Check(args) => check(args, &parsed),
        Command::Plan(args) => plan(args, &parsed),
        Command::Keyslot { keys } => keyslot(keys),
        Command::Healthcheck { url } => Ok(healthcheck(url)),
        Command::Diff {
            before,
            after,
            json,
        } => diff_dumps(before, after, *json),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("slotwatch: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn check(args: &CheckArgs, parsed: &Parsed) -> Result<ExitCode, String> {
    match run_check(args, parsed) {
        Err((kind, message)) if args.json => {
            let error = serde_json::json!({"error": message, "kind": kind});
            println!("{error:#}");
            Ok(ExitCode::from(EXIT_USAGE))
        }
        Err((_, message)) => Err(message),
        Ok(code) => Ok(code),
    }
}

/// `check` itself; an error comes with its kind: `usage`, `unreachable` or `tls`.
fn run_check(args: &CheckArgs, parsed: &Parsed) -> Result<ExitCode, (&'static str, String)> {
    let usage = |m: String| ("usage", m);
    let redirect = match &args.moved {
        Some(text) => Some(
            slotwatch::check::parse_redirect(text).map_err(|e| usage(format!("--moved: {e}")))?,
        ),
        None => None,
    };
    let (name, reach, policy) = cli::cluster_of(&args.cluster, parsed).map_err(usage)?;
    if args.interval.0 < std::time::Duration::from_millis(100) {
        return Err(usage("--interval: must be at least 100ms".into()));
    }
    if let Some(url) = &args.exporter
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(usage(format!(
            "--exporter: expected http://HOST:PORT or https://HOST:PORT, found {url:?}"
        )));
    }
    let opts = slotwatch::check::VerdictOptions {
        policy,
        interval: args.interval.0,
        exporter: args.exporter.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    let kind_of = |e: &slotwatch::check::CheckError| match e {
        slotwatch::check::CheckError::Unreachable(_) => "unreachable",
        slotwatch::check::CheckError::Tls(_) => "tls",
        slotwatch::check::CheckError::Exporter(_) => "exporter",
    };
    let (written, clean) = if args.clients {
        let report = runtime
            .block_on(slotwatch::check::clients(&name, &reach))
            .map_err(|e| (kind_of(&e), e.to_string()))?;
        (
            print(args.json, &report, || report.render()),
            report.suspects() == 0,
        )
    } else {
        let report = runtime
            .block_on(slotwatch::check::run(
                &name,
                &reach,
                &args.keys,
                redirect.as_ref(),
                &opts,
            ))
            .map_err(|e| (kind_of(&e), e.to_string()))?;
        (
            print(args.json, &report, || report.to_text()),
            report.healthy,
        )
    };
    written.map_err(|e| usage(format!("writing output: {e}")))?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn plan(args: &PlanArgs, parsed: &Parsed) -> Result<ExitCode, String> {
    let (name, reach, _) = cli::cluster_of(&args.cluster, parsed)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let report = runtime
        .block_on(slotwatch::plan::run::run(
            &name,
            &reach,
            args.by,
            args.target / 100.0,
        ))
        .map_err(|e| e.to_string())?;
    print(args.json, &report, || report.to_text()).map_err(|e| format!("writing output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a report to stdout, as JSON or as its text.
fn print(
    json: bool,
    report: &impl serde::Serialize,
    text: impl FnOnce() -> String,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(text().as_bytes())
    }
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

fn serve(args: &ServeArgs, parsed: &Parsed) -> Result<ExitCode, String> {
    let config = cli::serve_config(args, parsed)?;
    let web = match &args.web_config_file {
        Some(path) => {
            Some(slotwatch::web::config::WebConfigSource::open(path).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    slotwatch::serve::preflight(&config).map_err(|e| e.to_string())?;
    if args.check_config {
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
    runtime
        .block_on(slotwatch::serve::run(config, web))
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn healthcheck(url: &str) -> ExitCode {
    match slotwatch::healthcheck::probe(url, std::time::Duration::from_secs(3)) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("slotwatch: {url}: HTTP {status}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("slotwatch: {url}: {e}");
            ExitCode::from(1)
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
    let events = stamp(diff::diff(&old, &new), &new);
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
