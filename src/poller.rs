//! Polls one cluster on its own timer and publishes immutable snapshots for the HTTP side.
//!
//! Unlike most exporters, slotwatch does not query Redis when scraped: a topology diff needs
//! successive samples taken at a steady pace, and a scrape must never hang on a frozen node. Each
//! poll queries every known node concurrently, in one pipelined round trip per node
//! (`CLUSTER NODES`, `INFO errorstats`, `INFO stats`), each bounded by the per-node timeout.
//! Then it merges the views, diffs against the previous topology, logs and records the events,
//! and publishes a [`Snapshot`] through a watch channel.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock;
use crate::config::ClusterConfig;
use crate::connect::{Connector, FetchError};
use crate::info::{NodeCounters, parse_info};
use crate::topology::diff::{Event, EventKind, diff, stamp};
use crate::topology::merge::merge;
use crate::topology::parse::parse_view_bytes;
use crate::topology::{NodeId, Topology, View};

/// Upper bounds (seconds) of the poll duration histogram: from a healthy LAN poll (~1 ms) to a
/// poll that hit a 1 s timeout, and beyond for slow links.
pub const POLL_DURATION_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Longest wait before reconnecting to a failing node.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Polls during which a node involved in a change (or a migration, or new ASK traffic) has its
/// full view read every poll: long enough for gossip to settle, so that a sample of lagging
/// views cannot make the change look undone.
const HOT_POLLS: u32 = 3;

/// A fixed-bucket histogram that can be copied into each snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DurationHistogram {
    /// Per-bucket (not cumulative) counts; the last entry is `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl DurationHistogram {
    fn new() -> Self {
        let mut buckets: Vec<(f64, u64)> = POLL_DURATION_BUCKETS.iter().map(|b| (*b, 0)).collect();
        buckets.push((f64::INFINITY, 0));
        DurationHistogram {
            buckets,
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, secs: f64) {
        if let Some(b) = self.buckets.iter_mut().find(|(le, _)| secs <= *le) {
            b.1 += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// What one node looked like in the latest poll.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatus {
    /// `ip:port` as MOVED names it (or the seed's `host:port` before discovery).
    pub endpoint: String,
    /// The node's ID, if known.
    pub id: Option<NodeId>,
    /// True if this poll got a parseable answer from the node.
    pub up: bool,
    /// The node's own counters, as last read; `None` fields were never reported.
    pub counters: NodeCounters,
    /// Failed fetches by reason since slotwatch started.
    pub errors: BTreeMap<&'static str, u64>,
    /// Why the latest fetch failed, if it did.
    pub last_error: Option<String>,
}

/// Cumulative per-cluster counters and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStats {
    /// Events by kind (every kind present, zero until seen).
    pub events_total: BTreeMap<&'static str, u64>,
    /// Slots that changed owner, by reason.
    pub slot_moves_total: BTreeMap<&'static str, u64>,
    /// Unix ms of the last owner/role/address/membership change; 0 if none seen.
    pub last_topology_change_ms: u64,
    /// Unix ms of the last reshard; 0 if none seen.
    pub last_reshard_ms: u64,
    /// Unix ms of the last failover; 0 if none seen.
    pub last_failover_ms: u64,
    /// Polls completed.
    pub polls_total: u64,
    /// Bytes read from the cluster's nodes.
    pub bytes_read_total: u64,
    /// Poll durations.
    pub poll_duration: DurationHistogram,
}

impl Default for ClusterStats {
    fn default() -> Self {
        ClusterStats {
            events_total: EventKind::NAMES.iter().map(|k| (*k, 0)).collect(),
            slot_moves_total: ["reshard", "failover", "assigned", "unassigned"]
                .iter()
                .map(|r| (*r, 0))
                .collect(),
            last_topology_change_ms: 0,
            last_reshard_ms: 0,
            last_failover_ms: 0,
            polls_total: 0,
            bytes_read_total: 0,
            poll_duration: DurationHistogram::new(),
        }
    }
}

/// An immutable picture of one cluster after a poll; the HTTP side only ever reads these.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The configured cluster name.
    pub cluster: String,
    /// Increments with every published snapshot; lets `/metrics` cache its encoding.
    pub generation: u64,
    /// Unix ms when the latest poll started; 0 before the first poll.
    pub polled_at_ms: u64,
    /// True if the latest poll produced a topology.
    pub up: bool,
    /// The latest topology; `None` if the latest poll reached no node.
    pub topology: Option<Arc<Topology>>,
    /// The last topology ever seen, kept for `/topology` while the cluster is unreachable.
    pub last_topology: Option<Arc<Topology>>,
    /// Per-node status, sorted by endpoint.
    pub nodes: Vec<NodeStatus>,
    /// Recent events, oldest first, at most the configured capacity.
    pub events: Arc<Vec<Event>>,
    /// Cumulative counters.
    pub stats: ClusterStats,
    /// Open migrations' first-seen times (Unix ms), by (slot, source, target).
    pub migrations_since: Arc<HashMap<(u16, NodeId, NodeId), u64>>,
}

impl Snapshot {
    /// Seconds, as of the last poll, since slotwatch first saw the migration open.
    pub fn migration_age_s(&self, key: &(u16, NodeId, NodeId)) -> Option<f64> {
        let since = self.migrations_since.get(key)?;
        Some(self.polled_at_ms.saturating_sub(*since) as f64 / 1000.0)
    }

    /// Age of the oldest open migration as of the last poll; 0 if none is open.
    pub fn oldest_migration_age_s(&self) -> f64 {
        self.migrations_since
            .keys()
            .filter_map(|k| self.migration_age_s(k))
            .fold(0.0, f64::max)
    }

    /// The snapshot before the first poll completes.
    pub fn empty(cluster: &str) -> Snapshot {
        Snapshot {
            cluster: cluster.to_owned(),
            generation: 0,
            polled_at_ms: 0,
            up: false,
            topology: None,
            last_topology: None,
            nodes: Vec::new(),
            events: Arc::new(Vec::new()),
            stats: ClusterStats::default(),
            migrations_since: Arc::new(HashMap::new()),
        }
    }
}

/// A node slotwatch polls, with its persistent connection and reconnect backoff.
struct Target {
    host: String,
    port: u16,
    conn: Option<MultiplexedConnection>,
    failures: u32,
    retry_at: Option<Instant>,
    last_reason: Option<&'static str>,
    /// The failure reason last logged, so that a dead node logs once, not every poll.
    last_logged: Option<&'static str>,
}

/// One node's answer to a poll: its counters, and its `CLUSTER NODES` view if this poll asked
/// for it.
struct Sample {
    view: Option<View>,
    counters: NodeCounters,
}

/// Polls one cluster; owns its connections and history.
pub struct Poller {
    cfg: ClusterConfig,
    connector: Arc<Connector>,
    targets: HashMap<String, Target>,
    counters: HashMap<NodeId, NodeCounters>,
    errors: HashMap<String, BTreeMap<&'static str, u64>>,
    prev: Option<Arc<Topology>>,
    last_poll_reached_any: bool,
    migrations_since: HashMap<(u16, NodeId, NodeId), u64>,
    ring: VecDeque<Event>,
    capacity: usize,
    events: Arc<Vec<Event>>,
    stats: ClusterStats,
    generation: u64,
    tx: watch::Sender<Arc<Snapshot>>,
    /// Nodes whose full view is read every poll for a while, with the polls left.
    hot: HashMap<String, u32>,
    /// Where the rotation through the nodes' full views continues next poll.
    rotation: usize,
    /// True when the last plan read only a sample of the views.
    sampled: bool,
}

impl Poller {
    /// Creates a poller and the receiver the HTTP side reads snapshots from.
    pub fn new(
        cfg: ClusterConfig,
        events_capacity: usize,
    ) -> Result<(Poller, watch::Receiver<Arc<Snapshot>>), String> {
        let connector =
            Arc::new(Connector::new(&cfg).map_err(|e| format!("cluster {}: {e}", cfg.name))?);
        let (tx, rx) = watch::channel(Arc::new(Snapshot::empty(&cfg.name)));
        Ok((
            Poller {
                cfg,
                connector,
                targets: HashMap::new(),
                counters: HashMap::new(),
                errors: HashMap::new(),
                prev: None,
                last_poll_reached_any: false,
                migrations_since: HashMap::new(),
                ring: VecDeque::new(),
                capacity: events_capacity.max(1),
                events: Arc::new(Vec::new()),
                stats: ClusterStats::default(),
                generation: 0,
                tx,
                hot: HashMap::new(),
                rotation: 0,
                sampled: false,
            },
            rx,
        ))
    }

    /// Polls on the configured interval until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.cfg.poll_interval);
        // A poll that overran should not be followed by a burst of catch-up polls.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.poll_once().await,
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::debug!(cluster = %self.cfg.name, "poller stopped");
    }

    /// The endpoints to query: every known node, or the seeds (plus known nodes) when the last
    /// poll reached nobody.
    fn target_endpoints(&self) -> Vec<(String, String, u16)> {
        let mut out: Vec<(String, String, u16)> = Vec::new();
        if let Some(t) = &self.prev {
            for n in &t.nodes {
                if !n.noaddr && !n.addr.ip.is_empty() && n.addr.port != 0 {
                    out.push((n.endpoint.clone(), n.addr.ip.clone(), n.addr.port));
                }
            }
        }
        if !self.last_poll_reached_any || out.is_empty() {
            for s in &self.cfg.seeds {
                out.push((s.endpoint(), s.host.clone(), s.port));
            }
        }
        let mut seen = HashSet::new();
        out.retain(|(e, _, _)| seen.insert(e.clone()));
        out
    }

    /// Picks the nodes whose full `CLUSTER NODES` this poll reads: all of them in small
    /// clusters and while discovering; otherwise the hot nodes plus the next
    /// `full_views_per_poll` nodes of a rotation, so that every view is sampled in turn and the
    /// bytes per poll stay bounded instead of growing with the square of the cluster size.
    fn plan_full_views(
        &mut self,
        targets: &[(String, String, u16)],
        everything: bool,
    ) -> HashSet<String> {
        let k = self.cfg.full_views_per_poll;
        self.sampled = !(everything || targets.len() <= k);
        if !self.sampled {
            return targets.iter().map(|t| t.0.clone()).collect();
        }
        let mut full: HashSet<String> = targets
            .iter()
            .filter(|t| self.hot.contains_key(&t.0))
            .map(|t| t.0.clone())
            .collect();
        let n = targets.len();
        let mut added = 0;
        let mut step = 0;
        while added < k && step < n {
            let endpoint = &targets[(self.rotation + step) % n].0;
            if full.insert(endpoint.clone()) {
                added += 1;
            }
            step += 1;
        }
        self.rotation = (self.rotation + step) % n;
        full
    }

    /// Fetches all `endpoints` concurrently, each within the per-node timeout; those in `full`
    /// also return their `CLUSTER NODES` view.
    async fn fetch_all(
        &mut self,
        endpoints: Vec<(String, String, u16)>,
        full: &HashSet<String>,
    ) -> Vec<(String, Result<Sample, FetchError>)> {
        let mut set = JoinSet::new();
        for (endpoint, host, port) in endpoints {
            let want_view = full.contains(&endpoint);
            // A connection's read buffer grows to its largest reply and keeps that size. In a
            // sampled poll, a node read for the rotation only will not be read in full again for
            // many polls, so close its connection rather than let every connection in a big
            // cluster hold a buffer the size of a full view; the next poll reconnects.
            let close_after = want_view && self.sampled && !self.hot.contains_key(&endpoint);
            let target = self.targets.remove(&endpoint).unwrap_or(Target {
                host,
                port,
                conn: None,
                failures: 0,
                retry_at: None,
                last_reason: None,
                last_logged: None,
            });
            let connector = self.connector.clone();
            set.spawn(async move {
                let mut target = target;
                let result = fetch(&mut target, &connector, want_view).await;
                if close_after {
                    target.conn = None;
                }
                (endpoint, target, result)
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((endpoint, target, result)) => {
                    self.targets.insert(endpoint.clone(), target);
                    out.push((endpoint, result));
                }
                // A fetch task can only fail by panicking; that node is simply retried next poll.
                Err(e) => {
                    tracing::error!(cluster = %self.cfg.name, error = %e, "node fetch task failed")
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Runs one poll and publishes its snapshot.
    pub async fn poll_once(&mut self) {
        let started = Instant::now();
        let now_ms = clock::now_ms();
        let bootstrapping = !self.last_poll_reached_any;
        let targets = self.target_endpoints();
        // Only the very first poll reads every view regardless of size: after a poll that
        // reached nobody, the bound still holds (the topology is known, the rotation goes on).
        let full = self.plan_full_views(&targets, self.prev.is_none());
        let mut results = self.fetch_all(targets, &full).await;

        // On (re)discovery, read the nodes the seeds told us about in the same poll, so that the
        // baseline has every node's status (and, in clusters up to full_views_per_poll nodes,
        // every node's view), not only the seeds'.
        if bootstrapping {
            let fetched: HashSet<String> = results.iter().map(|(e, _)| e.clone()).collect();
            let mut discovered = Vec::new();
            for (_, r) in &results {
                let Some(view) = r.as_ref().ok().and_then(|s| s.view.as_ref()) else {
                    continue;
                };
                for line in &view.lines {
                    let e = line.addr.endpoint();
                    if !line.addr.ip.is_empty()
                        && line.addr.port != 0
                        && !fetched.contains(&e)
                        && !discovered.iter().any(|(d, _, _)| d == &e)
                    {
                        discovered.push((e, line.addr.ip.clone(), line.addr.port));
                    }
                }
            }
            if !discovered.is_empty() {
                let everything = fetched.len() + discovered.len() <= self.cfg.full_views_per_poll;
                let full = self.plan_full_views(&discovered, everything);
                results.extend(self.fetch_all(discovered, &full).await);
            }
        }

        // Endpoint to node ID, for answers that carried no view of their own.
        let mut ids: HashMap<String, NodeId> = HashMap::new();
        if let Some(t) = &self.prev {
            ids.extend(t.nodes.iter().map(|n| (n.endpoint.clone(), n.id)));
        }
        for (_, r) in &results {
            if let Some(view) = r.as_ref().ok().and_then(|s| s.view.as_ref()) {
                ids.extend(view.lines.iter().map(|l| (l.addr.endpoint(), l.id)));
            }
        }

        let mut views = Vec::new();
        let mut answered: HashSet<NodeId> = HashSet::new();
        let mut viewed: HashSet<NodeId> = HashSet::new();
        let mut failed: HashMap<String, String> = HashMap::new();
        let mut asked: Vec<String> = Vec::new();
        for (endpoint, result) in results {
            match result {
                Ok(sample) => {
                    let own = sample.view.as_ref().and_then(|v| v.myself()).map(|m| m.id);
                    if let Some(id) = own.or_else(|| ids.get(&endpoint).copied()) {
                        answered.insert(id);
                        // New ASK replies mean a migration is moving keys: watch it closely.
                        let before = self.counters.get(&id).and_then(|c| c.ask_total());
                        if before
                            .is_some_and(|b| sample.counters.ask_total().is_some_and(|a| a > b))
                        {
                            asked.push(endpoint.clone());
                        }
                        self.counters.insert(id, sample.counters);
                    }
                    if let Some(view) = sample.view {
                        viewed.extend(own);
                        views.push(view);
                    }
                }
                Err(e) => {
                    if !matches!(e, FetchError::Backoff(_)) {
                        *self
                            .errors
                            .entry(endpoint.clone())
                            .or_default()
                            .entry(e.reason())
                            .or_insert(0) += 1;
                    }
                    failed.insert(endpoint, e.to_string());
                }
            }
        }
        self.log_target_changes(&failed);

        let topology = if views.is_empty() {
            None
        } else {
            let mut t = merge(&views, now_ms);
            self.carry_unseen_migrations(&mut t, &viewed);
            Some(Arc::new(t))
        };
        self.last_poll_reached_any = topology.is_some();

        if let Some(new) = &topology {
            if let Some(old) = &self.prev {
                let events = stamp(diff(old, new), new);
                self.update_hot(new, &events, &asked);
                self.record(events);
            } else {
                tracing::info!(
                    cluster = %self.cfg.name,
                    nodes = new.nodes.len(),
                    masters = new.masters().count(),
                    "baseline topology"
                );
                self.update_hot(new, &[], &asked);
            }
            self.track_migrations(new, now_ms);
            // Stop watching nodes that left; the next poll targets the new membership.
            let keep: HashSet<&str> = new.nodes.iter().map(|n| n.endpoint.as_str()).collect();
            self.targets.retain(|e, _| keep.contains(e.as_str()));
            self.counters.retain(|id, _| new.node(id).is_some());
            self.errors.retain(|e, _| keep.contains(e.as_str()));
            self.prev = Some(new.clone());
        } else {
            tracing::warn!(
                cluster = %self.cfg.name,
                tried = failed.len(),
                "no node's view could be read; trying the seeds too"
            );
            // Keep the error counters of known nodes (dropping them would read as a reset).
            let known: HashSet<&str> = self
                .prev
                .iter()
                .flat_map(|t| t.nodes.iter().map(|n| n.endpoint.as_str()))
                .collect();
            self.errors
                .retain(|e, _| failed.contains_key(e) || known.contains(e.as_str()));
        }

        let elapsed = started.elapsed().as_secs_f64();
        self.stats.polls_total += 1;
        self.stats.poll_duration.observe(elapsed);
        self.stats.bytes_read_total = self.connector.bytes_read();
        self.publish(topology, answered, failed, now_ms);
    }

    /// Migrations are printed only on their source's and target's own lines. When neither of
    /// those views was read this poll (not sampled, or the node did not answer), the migration's
    /// state is unknown, not closed: keep it rather than report it finished and started again.
    fn carry_unseen_migrations(&self, t: &mut Topology, viewed: &HashSet<NodeId>) {
        let Some(prev) = &self.prev else { return };
        let mut carried = false;
        for m in &prev.migrations {
            let unseen = !viewed.contains(&m.source) && !viewed.contains(&m.target);
            let still_members = t.node(&m.source).is_some() && t.node(&m.target).is_some();
            if unseen && still_members && !t.migrations.iter().any(|n| n.key() == m.key()) {
                t.migrations.push(m.clone());
                carried = true;
            }
        }
        if carried {
            t.migrations.sort();
        }
    }

    /// Marks the nodes of this poll's events, open migrations and new ASK traffic so that their
    /// full views are read for the next few polls; ages out the others.
    fn update_hot(&mut self, t: &Topology, events: &[Event], asked: &[String]) {
        self.hot.retain(|_, polls| {
            *polls -= 1;
            *polls > 0
        });
        let mut mark = |endpoint: &str| {
            self.hot.insert(endpoint.to_owned(), HOT_POLLS);
        };
        for e in events {
            for n in e.kind.nodes() {
                mark(&n.node);
            }
        }
        for m in &t.migrations {
            mark(&t.endpoint_of(&m.source));
            mark(&t.endpoint_of(&m.target));
        }
        for e in asked {
            mark(e);
        }
    }

    /// Logs nodes that started failing, changed failure reason, or recovered.
    fn log_target_changes(&mut self, failed: &HashMap<String, String>) {
        for (endpoint, t) in &mut self.targets {
            let reason = if t.failures > 0 { t.last_reason } else { None };
            if reason == t.last_logged {
                continue;
            }
            match reason {
                Some(r) => tracing::warn!(
                    cluster = %self.cfg.name,
                    node = %endpoint,
                    reason = r,
                    error = failed.get(endpoint).map_or("", String::as_str),
                    "cannot poll node"
                ),
                None => {
                    tracing::info!(cluster = %self.cfg.name, node = %endpoint, "node answering again")
                }
            }
            t.last_logged = reason;
        }
    }

    fn record(&mut self, events: Vec<Event>) {
        let mut changed = false;
        for e in events {
            let kind = e.kind.name();
            tracing::info!(
                cluster = %self.cfg.name,
                kind,
                details = %serde_json::to_string(&e.kind).unwrap_or_default(),
                "{}",
                e.message
            );
            *self.stats.events_total.entry(kind).or_insert(0) += 1;
            if let Some((reason, slots)) = e.kind.slot_moves() {
                *self.stats.slot_moves_total.entry(reason).or_insert(0) += u64::from(slots);
            }
            if e.kind.is_topology_change() {
                self.stats.last_topology_change_ms = e.timestamp_ms;
            }
            match e.kind {
                EventKind::Reshard { .. } => self.stats.last_reshard_ms = e.timestamp_ms,
                EventKind::Failover { .. } => self.stats.last_failover_ms = e.timestamp_ms,
                _ => {}
            }
            if self.ring.len() == self.capacity {
                self.ring.pop_front();
            }
            self.ring.push_back(e);
            changed = true;
        }
        // Rebuilt once per poll, not per event: a mass failure can bring a thousand events.
        if changed {
            self.events = Arc::new(self.ring.iter().cloned().collect());
        }
    }

    fn track_migrations(&mut self, t: &Topology, now_ms: u64) {
        let open: HashSet<_> = t.migrations.iter().map(|m| m.key()).collect();
        self.migrations_since.retain(|k, _| open.contains(k));
        for k in open {
            self.migrations_since.entry(k).or_insert(now_ms);
        }
    }

    fn publish(
        &mut self,
        topology: Option<Arc<Topology>>,
        answered: HashSet<NodeId>,
        failed: HashMap<String, String>,
        now_ms: u64,
    ) {
        // Without a topology this poll, the last one still says which nodes exist: report
        // those that answered INFO as up rather than drop them.
        let basis = topology.as_ref().or(self.prev.as_ref());
        let mut nodes: Vec<NodeStatus> = basis
            .map(|t| {
                t.nodes
                    .iter()
                    .map(|n| NodeStatus {
                        endpoint: n.endpoint.clone(),
                        id: Some(n.id),
                        up: answered.contains(&n.id),
                        counters: self.counters.get(&n.id).copied().unwrap_or_default(),
                        errors: self.errors.get(&n.endpoint).cloned().unwrap_or_default(),
                        last_error: failed.get(&n.endpoint).cloned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Targets outside the topology (seeds by host name, before discovery) that failed.
        if topology.is_none() {
            let known: HashSet<String> = nodes.iter().map(|n| n.endpoint.clone()).collect();
            nodes.extend(
                failed
                    .iter()
                    .filter(|(endpoint, _)| !known.contains(*endpoint))
                    .map(|(endpoint, error)| NodeStatus {
                        endpoint: endpoint.clone(),
                        id: None,
                        up: false,
                        counters: NodeCounters::default(),
                        errors: self.errors.get(endpoint).cloned().unwrap_or_default(),
                        last_error: Some(error.clone()),
                    }),
            );
        }
        nodes.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        self.generation += 1;
        let snapshot = Snapshot {
            cluster: self.cfg.name.clone(),
            generation: self.generation,
            polled_at_ms: now_ms,
            up: topology.is_some(),
            last_topology: topology.clone().or_else(|| self.prev.clone()),
            topology,
            nodes,
            events: self.events.clone(),
            stats: self.stats.clone(),
            migrations_since: Arc::new(self.migrations_since.clone()),
        };
        // Nobody listening only happens during shutdown.
        let _ = self.tx.send(Arc::new(snapshot));
    }
}

/// Fetches one node's sample, reconnecting (with backoff) when needed; the whole attempt —
/// connect, TLS, AUTH and the pipelined round trip — is bounded by the per-node timeout.
async fn fetch(
    target: &mut Target,
    connector: &Connector,
    want_view: bool,
) -> Result<Sample, FetchError> {
    if target.conn.is_none()
        && let Some(at) = target.retry_at
    {
        let now = Instant::now();
        if now < at {
            return Err(FetchError::Backoff(at - now));
        }
    }
    let timeout = connector.timeout();
    let attempt = async {
        if target.conn.is_none() {
            target.conn = Some(connector.connect(&target.host, target.port).await?);
        }
        let conn = target
            .conn
            .as_mut()
            .ok_or_else(|| FetchError::Connect("no connection".into()))?;
        query(conn, want_view).await
    };
    let result = match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(timeout)),
    };
    match &result {
        Ok(_) => {
            target.failures = 0;
            target.retry_at = None;
            target.last_reason = None;
        }
        Err(e) => {
            // The connection's state is unknown after a timeout or error (a late reply could
            // still arrive), so drop it and start clean.
            target.conn = None;
            target.failures += 1;
            target.last_reason = Some(e.reason());
            // Retry at the next poll after the first failure, then back off exponentially.
            let backoff = Duration::from_millis(500)
                .saturating_mul(1 << target.failures.min(8))
                .min(MAX_BACKOFF);
            target.retry_at = (target.failures > 1).then(|| Instant::now() + backoff);
        }
    }
    result
}

/// One pipelined round trip: `CLUSTER NODES` (when the view is wanted), `INFO errorstats` and
/// `INFO stats`. Redis 6.2 accepts only one section per INFO call, hence two.
async fn query(conn: &mut MultiplexedConnection, want_view: bool) -> Result<Sample, FetchError> {
    let mut pipe = redis::pipe();
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
