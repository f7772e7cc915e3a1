//! Reading nodes: persistent connections, and one pipelined round trip per node, concurrently,
//! each bounded by the per-node timeout.

use std::collections::HashMap;
use std::sync::Arc;

use ::redis::Value;
use tokio::task::JoinSet;

use super::plan::Plan;
use super::plan::Visit;
use super::replies::{JobSupport, bytes, count_keys, read_cluster_info, read_jobs, required};
use super::sample::{Fetched, Jobs, Sample, SlotStatsRead};
use crate::info::{NodeCounters, parse_info};
use crate::redis::{Connector, FetchError, NodeConnection, ProtocolError};
use crate::replication::Replication;
use crate::slot_stats::{self, NodeLoad};
use crate::topology::atomic::Dialect;
use crate::topology::parse::parse_view_bytes;

/// A cluster's open connections, one per node, reused from poll to poll.
#[derive(Debug)]
pub struct Fetcher {
    connector: Arc<Connector>,
    conns: HashMap<String, Conn>,
}

/// An open connection, and what its server supports.
#[derive(Debug)]
struct Conn {
    conn: NodeConnection,
    /// Known from the server's name and version when the connection opened; otherwise `None`
    /// until the first visit that asks.
    jobs: Option<JobSupport>,
    /// Whether one INFO call can return several sections (Redis 7.0+, Valkey); known like
    /// `jobs`, or `None` until the first poll, which tries.
    multi_info: Option<bool>,
    /// Databases other than 0 holding keys, as the last `INFO keyspace` showed (Valkey 9 with
    /// `cluster-databases` above 1). `COUNTKEYSINSLOT` counts the selected database only, so
    /// a migrating slot's keys are counted in each of these too.
    databases: Vec<u16>,
}

impl Conn {
    /// A new connection, with what its server's version already says it supports: asking
    /// instead would cost an error reply, counted in the node's own error statistics.
    fn new(conn: NodeConnection) -> Conn {
        let server = conn.server;
        Conn {
            conn,
            jobs: server.map(|s| match s.slot_migration_jobs() {
                Some(dialect) => JobSupport::Yes(dialect),
                None => JobSupport::No,
            }),
            multi_info: server.map(|s| s.multi_section_info()),
            databases: Vec::new(),
        }
    }
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

    /// Closes every connection: after a poll that panicked, none can be trusted to be between
    /// replies.
    pub fn forget_connections(&mut self) {
        self.conns.clear();
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
        Ok(Ok((mut conn, mut sample))) => {
            let kept;
            (kept, sample.slot_stats) = slot_stats_of(connector, &mut conn, visit).await;
            (kept.then_some(conn), Ok(sample))
        }
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
        None => Conn::new(connector.connect(&visit.host, visit.port).await?),
    };
    let sample = query(&mut conn, visit).await?;
    Ok((conn, sample))
}

/// The INFO sections a poll reads: redirect and other error counts, commands processed, the
/// node's role and replication link, and rejected calls by command (last: only when due).
const INFO_SECTIONS: [&str; 4] = ["errorstats", "stats", "replication", "commandstats"];

/// The INFO sections a visit asks for: all, or all but `commandstats` when it is not due.
fn info_sections(visit: &Visit) -> &'static [&'static str] {
    if visit.command_stats {
        &INFO_SECTIONS
    } else {
        &INFO_SECTIONS[..3]
    }
}

/// The most other databases whose keys one round trip counts.
const MAX_DATABASES: usize = 64;

/// Whether `INFO keyspace` goes in the round trip: only while slots' keys are counted, and only
/// in the one INFO call (servers that take one section per call have a single database).
fn wants_keyspace(multi_info: bool, visit: &Visit) -> bool {
    multi_info && !visit.count_slots.is_empty()
}

/// What one round trip asks of a node, in the order of the pipeline's commands.
struct Asked {
    /// `CLUSTER NODES`.
    view: bool,
    /// The INFO sections, and whether they go in one call.
    sections: &'static [&'static str],
    multi_info: bool,
    /// `keyspace` added to the one INFO call.
    keyspace: bool,
    /// The job log, read in this dialect.
    jobs: Option<Dialect>,
    /// `CLUSTER COUNTKEYSINSLOT` for each of these slots.
    count_slots: Vec<u16>,
    /// Then, for each of these databases, `SELECT` it and count the slots again; `SELECT 0`
    /// after the last.
    databases: Vec<u16>,
}

impl Asked {
    fn of(conn: &Conn, visit: &Visit) -> Asked {
        let multi_info = conn.multi_info != Some(false);
        let counting = !visit.count_slots.is_empty();
        Asked {
            view: visit.full_view,
            sections: info_sections(visit),
            multi_info,
            keyspace: wants_keyspace(multi_info, visit),
            jobs: match (&conn.jobs, visit.jobs) {
                (None, true) => Some(Dialect::Valkey),
                (Some(JobSupport::Yes(dialect)), true) => Some(*dialect),
                _ => None,
            },
            count_slots: visit.count_slots.clone(),
            databases: if counting {
                conn.databases.clone()
            } else {
                Vec::new()
            },
        }
    }

    fn info_replies(&self) -> usize {
        if self.multi_info {
            1
        } else {
            self.sections.len()
        }
    }

    fn replies(&self) -> usize {
        usize::from(self.view)
            + self.info_replies()
            + 1 // CLUSTER INFO
            + usize::from(self.jobs.is_some())
            + self.count_slots.len()
            + self.other_database_replies()
    }

    /// Replies of the other databases' counts: per database a SELECT and its counts, then
    /// the SELECT back to 0.
    fn other_database_replies(&self) -> usize {
        if self.databases.is_empty() {
            0
        } else {
            self.databases.len() * (1 + self.count_slots.len()) + 1
        }
    }

    fn pipeline(&self) -> ::redis::Pipeline {
        let mut pipe = ::redis::pipe();
        // Replies come back one by one, errors included, so that an optional command the
        // server refuses does not fail the whole round trip.
        pipe.ignore_errors();
        if self.view {
            pipe.cmd("CLUSTER").arg("NODES");
        }
        if self.multi_info {
            pipe.cmd("INFO").arg(self.sections);
            if self.keyspace {
                pipe.arg("keyspace");
            }
        } else {
            for section in self.sections {
                pipe.cmd("INFO").arg(section);
            }
        }
        // Every visit: the node's own word on the cluster, a few hundred bytes.
        pipe.cmd("CLUSTER").arg("INFO");
        if let Some(dialect) = self.jobs {
            let (name, args) = dialect.command();
            pipe.cmd(name).arg(args);
        }
        for slot in &self.count_slots {
            pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
        }
        for db in &self.databases {
            pipe.cmd("SELECT").arg(db);
            for slot in &self.count_slots {
                pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
            }
        }
        if !self.databases.is_empty() {
            pipe.cmd("SELECT").arg(0);
        }
        pipe
    }
}

/// One pipelined round trip: `CLUSTER NODES` (when the view is wanted), the INFO sections in
/// one call (one call per section on Redis 6.2, which takes one section per call;
/// `commandstats` only when due), `CLUSTER INFO`, and where asked the job log (`CLUSTER
/// GETSLOTMIGRATIONS` or `CLUSTER MIGRATION STATUS ALL`) and `CLUSTER COUNTKEYSINSLOT` for
/// migrating slots. (Masters' `CLUSTER SLOT-STATS` follows it, in `slot_stats_of`.)
async fn query(conn: &mut Conn, visit: &Visit) -> Result<Sample, FetchError> {
    let asked = Asked::of(conn, visit);
    let replies: Vec<Value> = asked
        .pipeline()
        .query_async(&mut conn.conn.conn)
        .await
        .map_err(|e| conn.conn.explain(&e))?;
    if replies.len() != asked.replies() {
        return Err(FetchError::Protocol(ProtocolError::ReplyCount {
            expected: asked.replies(),
            got: replies.len(),
        }));
    }
    let mut replies = replies.into_iter();
    let mut next = || replies.next().unwrap_or(Value::Nil);
    let view = if asked.view {
        let view = parse_view_bytes(&bytes(required(next())?))
            .map_err(|e| FetchError::Protocol(ProtocolError::View(e)))?;
        if view.myself().is_none() {
            return Err(FetchError::Protocol(ProtocolError::NoMyself));
        }
        Some(view)
    } else {
        None
    };
    let mut counters = NodeCounters::default();
    let mut replication = None;
    let mut single_sections = false;
    for _ in 0..asked.info_replies() {
        match next() {
            // Redis 6.2 refuses several sections in one call: ask for them one by one from now.
            Value::ServerError(_) if conn.multi_info.is_none() => single_sections = true,
            reply => {
                let text = String::from_utf8_lossy(&bytes(required(reply)?)).into_owned();
                parse_info(&text, &mut counters);
                replication = replication.or(Replication::parse(&text));
            }
        }
    }
    let cluster_info = read_cluster_info(next())?;
    let jobs = match (&conn.jobs, asked.jobs) {
        (_, Some(dialect)) => {
            let (support, jobs) = read_jobs(dialect, next())?;
            conn.jobs = Some(support);
            jobs
        }
        (Some(JobSupport::No), None) if visit.jobs => Jobs::Unsupported,
        (Some(JobSupport::Denied(e)), None) if visit.jobs => Jobs::Denied(e.clone()),
        _ => Jobs::NotAsked,
    };
    let keys = count_keys(&asked.count_slots, asked.databases.len(), &mut next);
    if asked.keyspace {
        // A hostile or odd node listing thousands of databases must not grow the next round
        // trip without bound; real servers have 16 by default.
        conn.databases = counters
            .other_databases
            .iter()
            .take(MAX_DATABASES)
            .copied()
            .collect();
    }
    if conn.multi_info.is_none() {
        conn.multi_info = Some(!single_sections);
    }
    if single_sections {
        replication = info_one_by_one(conn, asked.sections, &mut counters).await?;
    }
    Ok(Sample {
        view,
        counters,
        cluster_info,
        replication,
        zone: conn.conn.zone.clone(),
        jobs,
        keys,
        // Read after the round trip, with a budget of its own (`slot_stats_of`).
        slot_stats: SlotStatsRead::NotAsked,
    })
}

/// The node's per-slot stats when the visit asks and its server has them, a chunk of its own
/// slots per round trip after the poll's round trip, within a per-node timeout of their own so
/// that a slow reading never costs the node its sample. Returns whether to keep the connection
/// and what was read: the load with the visit's busiest slots per measure, a refusal of the
/// ACL, or why this reading failed. A connection that read stats is not kept: its read buffer
/// grew to a chunk's reply (up to 55 KiB) and would stay that size until the next reading,
/// minutes later; nor is one after a timeout or a broken round trip. A server without the
/// command is not asked, and keeps its connection.
async fn slot_stats_of(
    connector: &Connector,
    conn: &mut Conn,
    visit: &Visit,
) -> (bool, SlotStatsRead) {
    use crate::redis::slot_stats::{StatsError, read};
    let Some(ask) = &visit.slot_stats else {
        return (true, SlotStatsRead::NotAsked);
    };
    if !conn.conn.server.as_ref().is_some_and(slot_stats::supported) {
        return (true, SlotStatsRead::Unsupported);
    }
    let timeout = connector.timeout();
    match tokio::time::timeout(timeout, read(&mut conn.conn, &ask.ranges)).await {
        Ok(Ok(stats)) => (false, SlotStatsRead::Read(NodeLoad::of(&stats, ask.top, 0))),
        Ok(Err(StatsError::Refused(e))) => (true, SlotStatsRead::Denied(e)),
        Ok(Err(e @ (StatsError::Server(_) | StatsError::Reply(_)))) => {
            (true, SlotStatsRead::Failed(e.to_string()))
        }
        Ok(Err(e @ StatsError::Fetch(_))) => (false, SlotStatsRead::Failed(e.to_string())),
        Err(_) => (
            false,
            SlotStatsRead::Failed(FetchError::Timeout(timeout).to_string()),
        ),
    }
}

/// Reads the INFO sections one call each, for servers that take one section per call; returns
/// the replication section's reading.
async fn info_one_by_one(
    conn: &mut Conn,
    sections: &[&str],
    counters: &mut NodeCounters,
) -> Result<Option<Replication>, FetchError> {
    let mut pipe = ::redis::pipe();
    for section in sections {
        pipe.cmd("INFO").arg(section);
    }
    let texts: Vec<Vec<u8>> = pipe
        .query_async(&mut conn.conn.conn)
        .await
        .map_err(|e| conn.conn.explain(&e))?;
    let mut replication = None;
    for text in texts {
        let text = String::from_utf8_lossy(&text);
        parse_info(&text, counters);
        replication = replication.or(Replication::parse(&text));
    }
    Ok(replication)
}
