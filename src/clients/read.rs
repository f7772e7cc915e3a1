//! Sampling the nodes for the analysis: `CLIENT LIST` and the error counters, twice, a short
//! interval apart, from every node at once, each read bounded by the per-node timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::JoinSet;

use super::keyed::Commands;
use super::refresh::Target;
use super::{NodeClients, parse_client_list};
use crate::info::{NodeCounters, parse_info};
use crate::redis::{Connector, FetchError, NodeConnection};

/// One sample of a node: its connections and counters.
struct Sampled {
    list: Vec<super::Connection>,
    counters: NodeCounters,
}

/// Samples every target twice, `interval` apart, concurrently. Returns the nodes read and, by
/// endpoint, why the others could not be. Commands the samples show that `commands` does not
/// know yet are asked about, once, of a node that answered.
pub async fn sample(
    connector: &std::sync::Arc<Connector>,
    targets: &[Target],
    interval: Duration,
    commands: &mut Commands,
) -> (Vec<NodeClients>, BTreeMap<String, String>) {
    let mut set = JoinSet::new();
    for t in targets {
        let connector = connector.clone();
        let t = t.clone();
        set.spawn(async move {
            let result = sample_node(&connector, &t, interval).await;
            (t, result)
        });
    }
    let mut read = Vec::new();
    let mut unread = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((_, Ok(node))) => read.push(node),
            Ok((t, Err(e))) => {
                unread.insert(t.endpoint, e);
            }
            Err(e) => tracing::error!(error = %e, "client sampling task failed"),
        }
    }
    read.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    let asked = commands.to_ask(
        read.iter()
            .flat_map(|n| n.first.iter().chain(&n.second))
            .map(|c| c.cmd.as_str()),
    );
    let node = read
        .first()
        .and_then(|n| targets.iter().find(|t| t.endpoint == n.endpoint));
    if let (false, Some(node)) = (asked.is_empty(), node) {
        match describe(connector, node, &asked).await {
            Ok(reply) => {
                if let Err(e) = commands.learn(&asked, &reply) {
                    tracing::debug!(node = %node.endpoint, error = %e, "COMMAND INFO unreadable");
                    commands.refused(&asked);
                }
            }
            Err(e) => {
                tracing::debug!(node = %node.endpoint, error = %e, "COMMAND INFO refused");
                commands.refused(&asked);
            }
        }
    }
    (read, unread)
}

/// `COMMAND INFO` of `names`, from `node`.
async fn describe(
    connector: &Connector,
    node: &Target,
    names: &[String],
) -> Result<::redis::Value, String> {
    let timeout = connector.timeout();
    let mut conn = tokio::time::timeout(timeout, connector.connect(&node.host, node.port))
        .await
        .map_err(|_| FetchError::Timeout(timeout).to_string())?
        .map_err(|e| e.to_string())?;
    let mut cmd = ::redis::cmd("COMMAND");
    cmd.arg("INFO").arg(names);
    let query = cmd.query_async::<::redis::Value>(&mut conn.conn);
    tokio::time::timeout(timeout, query)
        .await
        .map_err(|_| FetchError::Timeout(timeout).to_string())?
        .map_err(|e| conn.explain(&e).to_string())
}

async fn sample_node(
    connector: &Connector,
    t: &Target,
    interval: Duration,
) -> Result<NodeClients, String> {
    let timeout = connector.timeout();
    let mut conn = tokio::time::timeout(timeout, connector.connect(&t.host, t.port))
        .await
        .map_err(|_| FetchError::Timeout(timeout).to_string())?
        .map_err(|e| e.to_string())?;
    let first = read_once(&mut conn, timeout).await?;
    let started = tokio::time::Instant::now();
    let step = interval / (LOOKS_BETWEEN + 1);
    let mut between: BTreeMap<u64, super::Connection> = BTreeMap::new();
    for _ in 0..LOOKS_BETWEEN {
        tokio::time::sleep(step).await;
        for c in list_once(&mut conn, timeout).await? {
            between.insert(c.id, c);
        }
    }
    tokio::time::sleep_until(started + interval).await;
    let second = read_once(&mut conn, timeout).await?;
    let elapsed = started.elapsed();
    for c in &second.list {
        between.remove(&c.id);
    }
    let delta = |f: fn(&NodeCounters) -> Option<u64>| {
        Some(f(&second.counters)?.saturating_sub(f(&first.counters)?))
    };
    Ok(NodeClients {
        endpoint: t.endpoint.clone(),
        role: t.role,
        first: first.list,
        second: second.list,
        between: between.into_values().collect(),
        interval_ms: elapsed.as_millis() as u64,
        moved: delta(NodeCounters::moved_total),
        rejected: second
            .counters
            .rejected_total()
            .saturating_sub(first.counters.rejected_total()),
        sampled_at_ms: crate::clock::now_ms(),
        demoted_at_ms: t.demoted_at_ms,
    })
}

/// Looks at the connections alone between the two samples: a client that closes and opens
/// connections all the time (one that cannot parse some reply drops the connection) may have
/// none open at the instant of either sample, and sends keyless commands between keyed ones.
pub const LOOKS_BETWEEN: u32 = 4;

/// `CLIENT LIST` alone.
async fn list_once(
    conn: &mut NodeConnection,
    timeout: Duration,
) -> Result<Vec<super::Connection>, String> {
    let mut cmd = ::redis::cmd("CLIENT");
    cmd.arg("LIST");
    let query = cmd.query_async::<Vec<u8>>(&mut conn.conn);
    let list = tokio::time::timeout(timeout, query)
        .await
        .map_err(|_| FetchError::Timeout(timeout).to_string())?
        .map_err(|e| conn.explain(&e).to_string())?;
    parse_client_list(&String::from_utf8_lossy(&list)).map_err(|e| e.to_string())
}

/// `CLIENT LIST` and `INFO errorstats` and `commandstats` in one round trip (one section per
/// INFO call, which every server accepts).
async fn read_once(conn: &mut NodeConnection, timeout: Duration) -> Result<Sampled, String> {
    let mut pipe = ::redis::pipe();
    pipe.cmd("CLIENT")
        .arg("LIST")
        .cmd("INFO")
        .arg("errorstats")
        .cmd("INFO")
        .arg("commandstats");
    let query = pipe.query_async::<(Vec<u8>, Vec<u8>, Vec<u8>)>(&mut conn.conn);
    let (list, errorstats, commandstats) = tokio::time::timeout(timeout, query)
        .await
        .map_err(|_| FetchError::Timeout(timeout).to_string())?
        .map_err(|e| conn.explain(&e).to_string())?;
    let list = parse_client_list(&String::from_utf8_lossy(&list)).map_err(|e| e.to_string())?;
    let mut counters = NodeCounters::default();
    parse_info(&String::from_utf8_lossy(&errorstats), &mut counters);
    parse_info(&String::from_utf8_lossy(&commandstats), &mut counters);
    Ok(Sampled { list, counters })
}
