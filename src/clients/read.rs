//! Sampling the nodes for the analysis: `CLIENT LIST` and the error counters, twice, a short
//! interval apart, from every node at once, each read bounded by the per-node timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::JoinSet;

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
/// endpoint, why the others could not be.
pub async fn sample(
    connector: &std::sync::Arc<Connector>,
    targets: &[Target],
    interval: Duration,
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
    (read, unread)
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
    tokio::time::sleep(interval).await;
    let second = read_once(&mut conn, timeout).await?;
    let elapsed = started.elapsed();
    let delta = |f: fn(&NodeCounters) -> Option<u64>| {
        Some(f(&second.counters)?.saturating_sub(f(&first.counters)?))
    };
    Ok(NodeClients {
        endpoint: t.endpoint.clone(),
        role: t.role,
        first: first.list,
        second: second.list,
        interval_ms: elapsed.as_millis() as u64,
        moved: delta(NodeCounters::moved_total),
        rejected: second
            .counters
            .rejected_total()
            .saturating_sub(first.counters.rejected_total()),
    })
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
