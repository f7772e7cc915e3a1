//! `slotwatch check`: the diagnostic workflow of a MOVED incident as one command.
//!
//! It polls the cluster once with the same connection and poll code as `serve`
//! ([`crate::poll::poll_once`]), then reports coverage, failing masters, agreement of the views,
//! masters and replicas, and open migrations, judged by [`crate::health`]. `--key` adds where a
//! key lives and what a plain client connected to each seed would get; `--moved` explains a
//! pasted `MOVED`/`ASK` error against the live topology. `--clients` instead names the client
//! connections that cause redirects ([`crate::clients`]).
//!
//! - [`report`]: the report, built by a pure function from one snapshot;
//! - [`redirect`]: parsing and explaining a pasted redirect (pure);
//! - [`text`]: the report as text.

pub mod redirect;
pub mod report;
pub mod text;
pub mod verdict;

pub use redirect::{Redirect, RedirectError, parse_redirect};
pub use report::{Report, build};
pub use verdict::VerdictOptions;

use crate::config::Reach;
use crate::redis::Connector;
use crate::tls::TlsError;
use crate::topology::NodeId;

/// Why a check could not run at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No seed or node answered.
    #[error("cannot reach the cluster: {0}")]
    Unreachable(String),
    /// The TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `--exporter` did not give its history.
    #[error("--exporter {0}")]
    Exporter(#[from] verdict::ExporterError),
}

/// Time between the two `CLIENT LIST` samples of `check --clients`: long enough for a busy
/// client to send commands, short enough to wait for.
pub const CLIENTS_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Polls the cluster once, then samples every node's clients and judges them.
pub async fn clients(
    name: &str,
    reach: &Reach,
) -> Result<crate::clients::report::ClientsReport, CheckError> {
    let snapshot = crate::poll::poll_once(name, reach, false).await?;
    let Some(topology) = snapshot.topology.clone() else {
        return Err(CheckError::Unreachable(unreachable_causes(&snapshot)));
    };
    let mut report = analyse_clients(name, reach, &topology).await?;
    // A second look at the topology says whether it held while the samples were taken.
    let after = crate::poll::poll_once(name, reach, false).await?;
    let changes = after.topology.as_ref().map_or(Vec::new(), |now| {
        crate::topology::diff::diff(&topology, now)
    });
    if !changes.is_empty() {
        report.withdraw(format!(
            "the topology changed during the samples ({} change(s)): redirects are expected \
             while clients refresh their slot maps",
            changes.len()
        ));
    }
    Ok(report)
}

/// Samples every node's clients twice and judges them.
async fn analyse_clients(
    name: &str,
    reach: &Reach,
    topology: &crate::topology::Topology,
) -> Result<crate::clients::report::ClientsReport, CheckError> {
    let connector = std::sync::Arc::new(Connector::new(reach)?);
    // A one-shot check has no history, so no failover to tell a demoted master by.
    let targets = crate::clients::refresh::targets(topology, &Default::default());
    let mut commands = crate::clients::keyed::Commands::default();
    let (nodes, unread) =
        crate::clients::read::sample(&connector, &targets, CLIENTS_SAMPLE_INTERVAL, &mut commands)
            .await;
    Ok(crate::clients::report::ClientsReport::build(
        name,
        crate::clock::now_ms(),
        (&nodes, unread),
        &commands,
        None,
    ))
}

/// The redirect verdict: the counters of `first` and of a poll `opts.interval` later, the
/// change seen, and a client analysis when the burst persists.
async fn redirect_verdict(
    name: &str,
    reach: &Reach,
    first: &crate::snapshot::Snapshot,
    opts: &VerdictOptions,
) -> Result<crate::health::redirects::Verdict, CheckError> {
    tokio::time::sleep(opts.interval).await;
    let second = crate::poll::poll_once(name, reach, false).await?;
    let exporter = match &opts.exporter {
        Some(url) => {
            // Twice the grace window: enough to tell "within" from "long before".
            let lookback = (opts.policy.grace * 2).max(std::time::Duration::from_secs(3600));
            let last = verdict::exporter_change(url, name, second.polled_at_ms, lookback).await?;
            Some((url.as_str(), last))
        }
        None => None,
    };
    let change = verdict::change_seen(first, &second, exporter);
    let v = verdict::judge(first, &second, &change, &opts.policy, Vec::new());
    let Some(topology) = second
        .topology
        .as_ref()
        .filter(|_| v.state == crate::health::redirects::State::Persisting)
    else {
        return Ok(v);
    };
    let clients = analyse_clients(name, reach, topology).await?;
    let nodes: Vec<&str> = v.nodes.iter().map(|n| n.node.as_str()).collect();
    let suspects = crate::health::redirects::suspects_on(&clients, &nodes);
    Ok(verdict::judge(
        first,
        &second,
        &change,
        &opts.policy,
        suspects,
    ))
}

fn unreachable_causes(snapshot: &crate::snapshot::Snapshot) -> String {
    let causes: Vec<String> = snapshot
        .nodes
        .iter()
        .map(|n| {
            format!(
                "{}: {}",
                n.endpoint,
                n.last_error.as_deref().unwrap_or("no answer")
            )
        })
        .collect();
    causes.join("; ")
}

/// Polls the cluster once and builds the report.
pub async fn run(
    name: &str,
    reach: &Reach,
    keys: &[String],
    redirect: Option<&Redirect>,
    opts: &VerdictOptions,
) -> Result<Report, CheckError> {
    let snapshot = crate::poll::poll_once(name, reach, true).await?;
    let Some(topology) = snapshot.topology.clone() else {
        return Err(CheckError::Unreachable(unreachable_causes(&snapshot)));
    };
    // Which node is behind each seed: the topology knows seeds given by address; only a seed
    // given by host name needs asking.
    let connector = Connector::new(reach)?;
    let mut seed_ids = Vec::new();
    for seed in &reach.seeds {
        let endpoint = seed.endpoint();
        if let Some(n) = topology.nodes.iter().find(|n| n.endpoint == endpoint) {
            seed_ids.push((seed.to_string(), Some(n.id)));
            continue;
        }
        let id = tokio::time::timeout(connector.timeout(), async {
            let mut conn = connector.connect(&seed.host, seed.port).await?;
            ::redis::cmd("CLUSTER")
                .arg("MYID")
                .query_async::<String>(&mut conn.conn)
                .await
                .map_err(|e| conn.explain(&e))
        })
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|id| NodeId::parse(id.trim()));
        seed_ids.push((seed.to_string(), id));
    }
    let mut report = build(&snapshot, &topology, &seed_ids, keys, redirect);
    report.set_redirects(redirect_verdict(name, reach, &snapshot, opts).await?);
    Ok(report)
}
