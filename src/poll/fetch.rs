//! Reading nodes: persistent connections, and one pipelined round trip per node, concurrently,
//! each bounded by the per-node timeout.

use std::collections::HashMap;
use std::sync::Arc;

use ::redis::aio::MultiplexedConnection;
use tokio::task::JoinSet;

use super::plan::Visit;
use super::state::{Fetched, Plan, Sample};
use crate::info::{NodeCounters, parse_info};
use crate::redis::{Connector, FetchError};
use crate::topology::parse::parse_view_bytes;

/// A cluster's open connections, one per node, reused from poll to poll.
#[derive(Debug)]
pub struct Fetcher {
    connector: Arc<Connector>,
    conns: HashMap<String, MultiplexedConnection>,
}

impl Fetcher {
    /// A fetcher with no connection yet.
    pub fn new(connector: Connector) -> Fetcher {
        Fetcher {
            connector: Arc::new(connector),
            conns: HashMap::new(),
        }
    }

    /// Bytes read from the cluster since start.
    pub fn bytes_read(&self) -> u64 {
        self.connector.bytes_read()
    }

    /// Closes connections to nodes the poll no longer reads (they left the cluster).
    pub fn keep_only(&mut self, plan: &Plan) {
        let planned: std::collections::HashSet<&str> = plan
            .visits
            .iter()
            .map(|v| v.endpoint.as_str())
            .chain(plan.skipped.iter().map(|f| f.endpoint.as_str()))
            .collect();
        self.conns.retain(|e, _| planned.contains(e.as_str()));
    }

    /// Reads every visit of `plan` concurrently; skipped nodes come back as they were.
    pub async fn fetch(&mut self, plan: &Plan) -> Vec<Fetched> {
        let mut set = JoinSet::new();
        for visit in &plan.visits {
            let conn = self.conns.remove(&visit.endpoint);
            let connector = self.connector.clone();
            let visit = visit.clone();
            set.spawn(async move {
                let (conn, result) = fetch_one(&connector, &visit, conn).await;
                (visit, conn, result)
            });
        }
        let mut out = plan.skipped.clone();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((visit, conn, result)) => {
                    if let Some(conn) = conn.filter(|_| !visit.close_after) {
                        self.conns.insert(visit.endpoint.clone(), conn);
                    }
                    out.push(Fetched {
                        endpoint: visit.endpoint,
                        result,
                    });
                }
                // A fetch task can only fail by panicking; that node is simply read next poll.
                Err(e) => tracing::error!(error = %e, "node fetch task failed"),
            }
        }
        out.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        out
    }
}

/// Reads one node, connecting first if needed; connect, TLS, AUTH and the round trip together
/// are bounded by the per-node timeout. Returns the connection if it is still usable.
async fn fetch_one(
    connector: &Connector,
    visit: &Visit,
    conn: Option<MultiplexedConnection>,
) -> (Option<MultiplexedConnection>, Result<Sample, FetchError>) {
    let timeout = connector.timeout();
    let attempt = async {
        let mut conn = match conn {
            Some(c) => c,
            None => connector.connect(&visit.host, visit.port).await?,
        };
        let sample = query(&mut conn, visit.full_view).await?;
        Ok((conn, sample))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok((conn, sample))) => (Some(conn), Ok(sample)),
        // The connection's state is unknown after an error or a timeout (a late reply could
        // still arrive), so it is dropped and the next attempt starts clean.
        Ok(Err(e)) => (None, Err(e)),
        Err(_) => (None, Err(FetchError::Timeout(timeout))),
    }
}

/// One pipelined round trip: `CLUSTER NODES` (when the view is wanted), `INFO errorstats` and
/// `INFO stats`. Redis 6.2 accepts only one section per INFO call, hence two.
async fn query(conn: &mut MultiplexedConnection, want_view: bool) -> Result<Sample, FetchError> {
    let mut pipe = ::redis::pipe();
    if want_view {
        pipe.cmd("CLUSTER").arg("NODES");
    }
    pipe.cmd("INFO").arg("errorstats").cmd("INFO").arg("stats");
    let mut replies: Vec<Vec<u8>> = pipe
        .query_async(conn)
        .await
        .map_err(|e| FetchError::from_redis(&e))?;
    let expected = if want_view { 3 } else { 2 };
    if replies.len() != expected {
        return Err(FetchError::Protocol(format!(
            "expected {expected} replies to the pipeline, got {}",
            replies.len()
        )));
    }
    let stats = replies.pop().unwrap_or_default();
    let errorstats = replies.pop().unwrap_or_default();
    let view = match replies.pop() {
        Some(nodes) => {
            let view = parse_view_bytes(&nodes)
                .map_err(|e| FetchError::Protocol(format!("CLUSTER NODES {e}")))?;
            if view.myself().is_none() {
                return Err(FetchError::Protocol(
                    "CLUSTER NODES reply has no myself line".into(),
                ));
            }
            Some(view)
        }
        None => None,
    };
    let mut counters = NodeCounters::default();
    parse_info(&String::from_utf8_lossy(&errorstats), &mut counters);
    parse_info(&String::from_utf8_lossy(&stats), &mut counters);
    Ok(Sample { view, counters })
}
