//! Reading nodes: persistent connections, and one pipelined round trip per node, concurrently,
//! each bounded by the per-node timeout.

use std::collections::HashMap;
use std::sync::Arc;

use ::redis::{RedisError, Value};
use tokio::task::JoinSet;

use super::plan::Plan;
use super::plan::Visit;
use super::sample::{Fetched, Jobs, Sample};
use crate::info::{NodeCounters, parse_info};
use crate::redis::{Connector, FetchError, NodeConnection};
use crate::topology::atomic::parse_jobs;
use crate::topology::parse::parse_view_bytes;

/// A cluster's open connections, one per node, reused from poll to poll.
#[derive(Debug)]
pub struct Fetcher {
    connector: Arc<Connector>,
    conns: HashMap<String, Conn>,
}

/// An open connection, and what its server showed it supports.
#[derive(Debug)]
struct Conn {
    conn: NodeConnection,
    /// `None` until the first visit that asks.
    jobs: Option<JobSupport>,
    /// Whether one INFO call can return several sections (Redis 7.0+, Valkey); `None` until
    /// the first poll, which tries.
    multi_info: Option<bool>,
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

    /// Starts a poll: its read budget (`--max-poll-bytes`) is full again.
    pub fn new_poll(&self) {
        self.connector.new_poll();
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
/// are bounded by the per-node timeout. A kept connection that turns out broken (`CLIENT
/// KILL`, a restart since the last poll) is replaced once within that time before the node
/// counts as down. Returns the connection if it is still usable.
async fn fetch_one(
    connector: &Connector,
    visit: &Visit,
    conn: Option<Conn>,
) -> (Option<Conn>, Result<Sample, FetchError>) {
    let timeout = connector.timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let kept = conn.is_some();
    let mut result = tokio::time::timeout_at(deadline, attempt(connector, visit, conn)).await;
    if kept && matches!(result, Ok(Err(FetchError::Connect(_)))) {
        result = tokio::time::timeout_at(deadline, attempt(connector, visit, None)).await;
    }
    match result {
        Ok(Ok((conn, sample))) => (Some(conn), Ok(sample)),
        // The connection's state is unknown after an error or a timeout (a late reply could
        // still arrive), so it is dropped and the next attempt starts clean.
        Ok(Err(e)) => (None, Err(e)),
        Err(_) => (None, Err(FetchError::Timeout(timeout))),
    }
}

/// One try at reading a node, on `conn` or a new connection.
async fn attempt(
    connector: &Connector,
    visit: &Visit,
    conn: Option<Conn>,
) -> Result<(Conn, Sample), FetchError> {
    let mut conn = match conn {
        Some(c) => c,
        None => Conn {
            conn: connector.connect(&visit.host, visit.port).await?,
            jobs: None,
            multi_info: None,
        },
    };
    let sample = query(&mut conn, visit).await?;
    Ok((conn, sample))
}

/// What a connection's server said about `CLUSTER GETSLOTMIGRATIONS`, asked once per
/// connection rather than answered with an error every poll.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JobSupport {
    /// It answers.
    Yes,
    /// It does not have the command (Redis, Valkey before 9).
    No,
    /// The ACL refuses it; the server's words.
    Denied(String),
}

/// The INFO sections a poll reads: redirect and other error counts, commands processed, and
/// rejected calls by command.
const INFO_SECTIONS: [&str; 3] = ["errorstats", "stats", "commandstats"];

/// The INFO sections a visit asks for: all, or all but `commandstats` when it is not due.
fn info_sections(visit: &Visit) -> &'static [&'static str] {
    if visit.command_stats {
        &INFO_SECTIONS
    } else {
        &INFO_SECTIONS[..2]
    }
}

/// One pipelined round trip: `CLUSTER NODES` (when the view is wanted), the INFO sections in
/// one call (one call per section on Redis 6.2, which takes one section per call;
/// `commandstats` only when due), and where
/// asked `CLUSTER GETSLOTMIGRATIONS` and `CLUSTER COUNTKEYSINSLOT` for migrating slots.
async fn query(conn: &mut Conn, visit: &Visit) -> Result<Sample, FetchError> {
    let mut pipe = ::redis::pipe();
    // Replies come back one by one, errors included, so that an optional command the server
    // refuses does not fail the whole round trip.
    pipe.ignore_errors();
    if visit.full_view {
        pipe.cmd("CLUSTER").arg("NODES");
    }
    let sections = info_sections(visit);
    let multi_info = conn.multi_info != Some(false);
    if multi_info {
        pipe.cmd("INFO").arg(sections);
    } else {
        for section in sections {
            pipe.cmd("INFO").arg(section);
        }
    }
    let ask_jobs = visit.jobs && matches!(conn.jobs, None | Some(JobSupport::Yes));
    if ask_jobs {
        pipe.cmd("CLUSTER").arg("GETSLOTMIGRATIONS");
    }
    for slot in &visit.count_slots {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
    }
    let replies: Vec<Value> = pipe
        .query_async(&mut conn.conn.conn)
        .await
        .map_err(|e| conn.conn.explain(&e))?;
    let info_replies = if multi_info { 1 } else { sections.len() };
    let expected = usize::from(visit.full_view)
        + info_replies
        + usize::from(ask_jobs)
        + visit.count_slots.len();
    if replies.len() != expected {
        return Err(FetchError::Protocol(format!(
            "expected {expected} replies to the pipeline, got {}",
            replies.len()
        )));
    }
    let mut replies = replies.into_iter();
    let mut next = || replies.next().unwrap_or(Value::Nil);
    let view = if visit.full_view {
        let nodes = bytes(required(next())?);
        let view = parse_view_bytes(&nodes)
            .map_err(|e| FetchError::Protocol(format!("CLUSTER NODES {e}")))?;
        if view.myself().is_none() {
            return Err(FetchError::Protocol(
                "CLUSTER NODES reply has no myself line".into(),
            ));
        }
        Some(view)
    } else {
        None
    };
    let mut counters = NodeCounters::default();
    let mut single_sections = false;
    for _ in 0..info_replies {
        match next() {
            // Redis 6.2 refuses several sections in one call: ask for them one by one from now.
            Value::ServerError(_) if conn.multi_info.is_none() => single_sections = true,
            reply => parse_info(
                &String::from_utf8_lossy(&bytes(required(reply)?)),
                &mut counters,
            ),
        }
    }
    let jobs = match (&conn.jobs, ask_jobs) {
        (_, true) => {
            let (support, jobs) = read_jobs(next())?;
            conn.jobs = Some(support);
            jobs
        }
        (Some(JobSupport::No), false) if visit.jobs => Jobs::Unsupported,
        (Some(JobSupport::Denied(e)), false) if visit.jobs => Jobs::Denied(e.clone()),
        _ => Jobs::NotAsked,
    };
    let keys = visit
        .count_slots
        .iter()
        .filter_map(|slot| match next() {
            Value::Int(n) => u64::try_from(n).ok().map(|n| (*slot, n)),
            _ => None,
        })
        .collect();
    if conn.multi_info.is_none() {
        conn.multi_info = Some(!single_sections);
    }
    if single_sections {
        let mut pipe = ::redis::pipe();
        for section in sections {
            pipe.cmd("INFO").arg(section);
        }
        let texts: Vec<Vec<u8>> = pipe
            .query_async(&mut conn.conn.conn)
            .await
            .map_err(|e| conn.conn.explain(&e))?;
        for text in texts {
            parse_info(&String::from_utf8_lossy(&text), &mut counters);
        }
    }
    Ok(Sample {
        view,
        counters,
        jobs,
        keys,
    })
}

/// A reply that must not be an error: an error fails the fetch, classified as usual.
fn required(v: Value) -> Result<Value, FetchError> {
    match v {
        Value::ServerError(e) => Err(FetchError::from_redis(&RedisError::from(e))),
        v => Ok(v),
    }
}

/// The bytes of a string reply (RESP2 bulk, RESP3 verbatim); empty for anything else.
fn bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => s.into_bytes(),
        _ => Vec::new(),
    }
}

/// The `CLUSTER GETSLOTMIGRATIONS` reply: an array of entries, each a flat key/value array
/// (RESP2) or a map (RESP3).
fn read_jobs(v: Value) -> Result<(JobSupport, Jobs), FetchError> {
    let entries = match v {
        Value::ServerError(e) => {
            let text = RedisError::from(e).to_string();
            let upper = text.to_ascii_uppercase();
            return Ok(if upper.contains("NOPERM") {
                (JobSupport::Denied(text.clone()), Jobs::Denied(text))
            } else {
                // "unknown subcommand" on Redis and older Valkey.
                (JobSupport::No, Jobs::Unsupported)
            });
        }
        Value::Array(entries) => entries,
        other => {
            return Err(FetchError::Protocol(format!(
                "CLUSTER GETSLOTMIGRATIONS: expected an array, got {other:?}"
            )));
        }
    };
    let text = |v: &Value| match v {
        Value::Int(n) => n.to_string(),
        other => String::from_utf8_lossy(&bytes(other.clone())).into_owned(),
    };
    let pairs: Vec<Vec<(String, String)>> = entries
        .iter()
        .map(|e| match e {
            Value::Array(flat) => flat
                .chunks(2)
                .filter(|p| p.len() == 2)
                .map(|p| (text(&p[0]), text(&p[1])))
                .collect(),
            Value::Map(map) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
            _ => Vec::new(),
        })
        .collect();
    let jobs = parse_jobs(&pairs).map_err(|e| FetchError::Protocol(e.to_string()))?;
    Ok((JobSupport::Yes, Jobs::Read(jobs)))
}
