//! The `slotwatch` command line: `serve`, `keyslot`, `diff` and `check`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keyslot { keys } => keyslot(&keys),
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
