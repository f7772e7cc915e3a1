//! A simulated Redis Cluster of N nodes on N consecutive loopback ports, for measuring
//! slotwatch at sizes a real cluster cannot reach on one machine.
//!
//! ```sh
//! cargo run --release -p slotwatch-sim --bin cluster_sim -- --nodes 1000 --base-port 30000 [--password X]
//! ```
//!
//! It prints `{"ready":true,"ports":[first,last]}` once every port accepts, then reads one
//! command per line on stdin and answers each with one line of JSON on stdout:
//!
//! - `reshard FROM TO COUNT`: move COUNT slots from master index FROM to master index TO;
//! - `failover REPLICA`: promote replica index REPLICA over its master;
//! - `redirects NODE MOVED ASK`: add to a node's `errorstat_MOVED`/`errorstat_ASK` counters;
//! - `stats`: bytes written and read, `CLUSTER NODES` replies served, commands, connections;
//! - `quit` (or end of input): stop.
//!
//! With `--clusters K` it serves K independent clusters of N nodes each, for measuring one
//! slotwatch watching a fleet; it then prints `{"ready":true,"clusters":[[first,last],...]}`
//! and only waits for `quit` or the end of input.
//!
//! Node indices follow the synthetic layout: nodes `0..ceil(N/2)` are masters, the rest are
//! replicas; node i listens on base port + i. 1000 nodes need more than 1000 open files
//! (listeners plus connections): raise the limit first if needed, e.g. `ulimit -n 4096`.

use std::io::{BufRead, Write};

use clap::Parser;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(about = "A simulated Redis Cluster on loopback, driven from stdin")]
struct Args {
    /// Number of nodes (masters first, then replicas).
    #[arg(long)]
    nodes: usize,
    /// First port; node i listens on base-port + i. 0 picks a free range.
    #[arg(long)]
    base_port: u16,
    /// Password that AUTH must present (any username is accepted).
    #[arg(long)]
    password: Option<String>,
    /// Tokio worker threads serving the nodes.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Independent clusters of --nodes nodes each, on free port ranges (--base-port must be
    /// 0).
    #[arg(long, default_value_t = 1)]
    clusters: usize,
}

fn main() {
    let args = Args::parse();
    if args.clusters > 1 {
        return fleet(&args);
    }
    let simulator = match slotwatch_sim::Simulator::start_with(slotwatch_sim::SimConfig {
        nodes: args.nodes,
        base_port: args.base_port,
        password: args.password,
        workers: args.workers,
        one_info_section: false,
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cluster_sim: {e}");
            std::process::exit(1);
        }
    };
    let (first, last) = simulator.ports();
    let mut out = std::io::stdout().lock();
    emit(
        &mut out,
        &format!(r#"{{"ready":true,"ports":[{first},{last}]}}"#),
    );
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            [] => continue,
            ["quit"] => break,
            ["stats"] => simulator.stats().to_json(),
            ["reshard", from, to, count] => match (from.parse(), to.parse(), count.parse()) {
                (Ok(from), Ok(to), Ok(count)) => simulator
                    .reshard(from, to, count)
                    .map_or_else(|e| failure(&e), |c| c.to_json()),
                _ => failure("usage: reshard FROM TO COUNT (node indices, slot count)"),
            },
            ["failover", replica] => match replica.parse() {
                Ok(replica) => simulator
                    .failover(replica)
                    .map_or_else(|e| failure(&e), |c| c.to_json()),
                Err(_) => failure("usage: failover REPLICA (node index)"),
            },
            ["redirects", node, moved, ask] => match (node.parse(), moved.parse(), ask.parse()) {
                (Ok(node), Ok(moved), Ok(ask)) => simulator
                    .redirects(node, moved, ask)
                    .map_or_else(|e| failure(&e), |()| r#"{"ok":true}"#.to_owned()),
                _ => failure("usage: redirects NODE MOVED ASK"),
            },
            _ => failure(
                "unknown command; use: reshard FROM TO COUNT | failover REPLICA | \
                 redirects NODE MOVED ASK | stats | quit",
            ),
        };
        emit(&mut out, &reply);
    }
    let stats = simulator.stats();
    simulator.shutdown();
    emit(
        &mut out,
        &serde_json::json!({"ok": true, "quit": true, "bytes_written": stats.bytes_written,
            "cluster_nodes_served": stats.cluster_nodes_served})
        .to_string(),
    );
}

/// Serves `--clusters` clusters until `quit` or the end of input.
fn fleet(args: &Args) {
    if args.base_port != 0 {
        eprintln!("cluster_sim: --clusters needs --base-port 0");
        std::process::exit(2);
    }
    let mut fleet = Vec::new();
    for _ in 0..args.clusters {
        match slotwatch_sim::Simulator::start_with(slotwatch_sim::SimConfig {
            nodes: args.nodes,
            base_port: 0,
            password: args.password.clone(),
            workers: 1,
            one_info_section: false,
        }) {
            Ok(s) => fleet.push(s),
            Err(e) => {
                eprintln!("cluster_sim: {e}");
                std::process::exit(1);
            }
        }
    }
    let ranges: Vec<String> = fleet
        .iter()
        .map(|s| {
            let (first, last) = s.ports();
            format!("[{first},{last}]")
        })
        .collect();
    let mut out = std::io::stdout().lock();
    emit(
        &mut out,
        &format!(r#"{{"ready":true,"clusters":[{}]}}"#, ranges.join(",")),
    );
    for line in std::io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "quit" => break,
            Ok(_) => emit(&mut out, &failure("a fleet only understands quit")),
            Err(_) => break,
        }
    }
    for s in fleet {
        s.shutdown();
    }
}

/// A failed command's JSON line.
fn failure(message: &str) -> String {
    serde_json::json!({"ok": false, "error": message}).to_string()
}

/// Prints one line and flushes, so that a script reading the pipe sees it at once.
fn emit(out: &mut impl Write, line: &str) {
    // A closed stdout only means nobody listens any more; keep serving.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
