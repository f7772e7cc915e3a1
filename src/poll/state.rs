//! One cluster's poll state: which nodes exist, what each last said, and what to read next.
//! Pure: it is fed the answers of a poll and the time, and returns the snapshot to publish, the
//! events and what is worth logging, so the whole state machine is tested without a network.
//!
//! A poll is: [`ClusterState::plan`] (which nodes, which full views), the fetch (I/O, in
//! `fetch.rs`), [`ClusterState::second_wave`] (what to read again, on (re)discovery or when no
//! view came back) and its fetch, then [`ClusterState::apply`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::answers::Answers;
use super::history::{History, Recorded};
use super::lasting::Lasting;
use super::migrations;
use super::node::{self, NodeState};
pub use super::notes::Note;
pub use super::plan::SlotStatsCadence;
use super::plan::{Plan, Rotation, Sampling, Target, Visit};
use super::sample::Fetched;
use crate::config::RedirectPolicy as Policy;
use crate::config::Seed;
use crate::redis::FetchError;
use crate::snapshot::liveness::Liveness;
use crate::snapshot::redirects::Timeline;
use crate::snapshot::{NodeStatus, Snapshot};
use crate::topology::event::{Event, stamp};
use crate::topology::merge::merge;
use crate::topology::{NodeId, Role, Topology};

/// Most classic migrating slots whose keys a poll counts on one node: enough for any reshard
/// tool (they move one slot at a time); a hand-made mass SETSLOT is still seen, its progress
/// judged by the first slots.
const MAX_COUNTED_SLOTS: usize = 64;

/// Polls during which a node involved in a change (or a migration, or new ASK traffic) has its
/// full view read every poll: long enough for gossip to settle, so that a sample of lagging
/// views cannot make the change look undone.
const HOT_POLLS: u32 = 3;

/// When a poll ran and what it cost, measured by the caller.
#[derive(Debug, Clone, Copy)]
pub struct PollEnd {
    /// Unix ms when the poll started; stamped on its topology and events.
    pub started_ms: u64,
    /// How long the poll took.
    pub elapsed: Duration,
    /// Bytes read from the cluster since start.
    pub bytes_read_total: u64,
}

/// What one poll produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The snapshot to publish.
    pub snapshot: Arc<Snapshot>,
    /// The new events this poll found.
    pub events: Vec<Event>,
    /// Earlier events this poll continued (a reshard spanning polls), as they now read.
    pub continued: Vec<Event>,
    /// What to log.
    pub notes: Vec<Note>,
}

/// The state of one watched cluster between polls.
#[derive(Debug)]
pub struct ClusterState {
    name: String,
    sampling: Sampling,
    seeds: Vec<Target>,
    nodes: BTreeMap<String, NodeState>,
    /// The last topology a poll produced.
    topology: Option<Arc<Topology>>,
    /// The last poll produced a topology; otherwise the next one also tries the seeds.
    reached: bool,
    /// The poll being planned started without a topology: read what the seeds name at once.
    bootstrapping: bool,
    /// Since when polls read no view, for the log.
    viewless: Option<Lasting>,
    rotation: Rotation,
    history: History,
    /// Per-node redirects over the last 30 minutes, for the cluster page.
    timeline: Timeline,
    generation: u64,
    /// The serving poller's staleness bound and restarts, copied into every snapshot.
    liveness: Option<Liveness>,
    /// The cluster's redirect thresholds, carried into every snapshot.
    redirect_policy: Policy,
    /// Every how many polls masters' per-slot stats are read, and how many busiest slots per
    /// measure are kept; `None` when off.
    slot_stats: Option<SlotStatsCadence>,
}

impl ClusterState {
    /// A cluster known only by its seeds.
    pub fn new(name: &str, seeds: &[Seed], sampling: Sampling, events_capacity: usize) -> Self {
        ClusterState {
            name: name.to_owned(),
            sampling,
            seeds: seeds
                .iter()
                .map(|s| Target {
                    endpoint: s.endpoint(),
                    host: s.host.clone(),
                    port: s.port,
                })
                .collect(),
            nodes: BTreeMap::new(),
            topology: None,
            reached: false,
            bootstrapping: false,
            viewless: None,
            rotation: Rotation::default(),
            history: History::new(events_capacity),
            timeline: Timeline::new(),
            generation: 0,
            liveness: None,
            redirect_policy: Policy::default(),
            slot_stats: None,
        }
    }

    /// The same state, reading masters' per-slot stats at `cadence`.
    pub fn with_slot_stats(mut self, cadence: SlotStatsCadence) -> Self {
        self.slot_stats = Some(cadence);
        self
    }

    /// The same state, judging redirect bursts by `policy` (the cluster's thresholds).
    pub fn with_redirect_policy(mut self, policy: Policy) -> Self {
        self.redirect_policy = policy;
        self
    }

    /// The same state, watched by a serving poller whose liveness its snapshots carry.
    pub fn with_liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = Some(liveness);
        self
    }

    /// The serving poller's liveness, if any.
    pub fn liveness(&self) -> Option<Liveness> {
        self.liveness
    }

    /// The snapshot before the first poll.
    pub fn empty_snapshot(&self) -> Snapshot {
        Snapshot {
            liveness: self.liveness,
            redirect_policy: self.redirect_policy,
            ..Snapshot::empty(&self.name)
        }
    }

    /// The nodes to read this poll: every known node, or the seeds (plus known nodes) when the
    /// last poll reached nobody; resting nodes are skipped.
    pub fn plan(&mut self) -> Plan {
        self.bootstrapping = !self.reached;
        let mut targets: Vec<Target> = Vec::new();
        if let Some(t) = &self.topology {
            for n in &t.nodes {
                if !n.noaddr && !n.addr.ip.is_empty() && n.addr.port != 0 {
                    targets.push(Target {
                        endpoint: n.endpoint.clone(),
                        host: n.addr.ip.clone(),
                        port: n.addr.port,
                    });
                }
            }
        }
        if !self.reached || targets.is_empty() {
            targets.extend(self.seeds.iter().cloned());
        }
        let mut seen = HashSet::new();
        targets.retain(|t| seen.insert(t.endpoint.clone()));
        // Only the very first poll reads every view regardless of size: after a poll that
        // reached nobody, the bound still holds (the topology is known, the rotation goes on).
        let everything = self.topology.is_none();
        self.plan_targets(targets, everything)
    }

    /// What a poll reads after its first wave, empty if nothing:
    /// - on (re)discovery, the nodes the first wave's views named that it did not read, so that
    ///   the baseline has every node's status (and in small clusters every view), not only the
    ///   seeds';
    /// - when the first wave read no view although nodes answered (every node chosen for a full
    ///   read was down), full views from nodes that answered, so that a poll yields a topology
    ///   while any node answers. Merge the answers with [`Fetched::fill_in`].
    pub fn second_wave(&mut self, first: &[Fetched]) -> Plan {
        if self.bootstrapping {
            self.discovered(first)
        } else {
            self.fallback(first)
        }
    }

    fn fallback(&mut self, first: &[Fetched]) -> Plan {
        let viewed = first
            .iter()
            .any(|f| f.result.as_ref().is_ok_and(|s| s.view.is_some()));
        if viewed {
            return Plan::default();
        }
        let limit = match self.sampling {
            Sampling::All => usize::MAX,
            Sampling::Rotate(k) => k.max(1),
        };
        let visits = first
            .iter()
            .filter(|f| f.result.is_ok())
            .filter_map(|f| Some(self.nodes.get(&f.endpoint)?.visit(&f.endpoint)))
            .take(limit)
            .map(|visit| Visit {
                full_view: true,
                // A stand-in for the rotation, which will not pick this node again soon.
                close_after: true,
                ..visit
            })
            .collect();
        Plan {
            visits,
            skipped: Vec::new(),
        }
    }

    fn discovered(&mut self, first: &[Fetched]) -> Plan {
        let fetched: HashSet<&str> = first.iter().map(|f| f.endpoint.as_str()).collect();
        let mut found: Vec<Target> = Vec::new();
        for view in first
            .iter()
            .filter_map(|f| f.result.as_ref().ok()?.view.as_ref())
        {
            for line in &view.lines {
                let e = line.addr.endpoint();
                if !line.addr.ip.is_empty()
                    && line.addr.port != 0
                    && !fetched.contains(e.as_str())
                    && !found.iter().any(|t| t.endpoint == e)
                {
                    found.push(Target {
                        endpoint: e,
                        host: line.addr.ip.clone(),
                        port: line.addr.port,
                    });
                }
            }
        }
        let everything = match self.sampling {
            Sampling::All => true,
            Sampling::Rotate(k) => fetched.len() + found.len() <= k,
        };
        self.plan_targets(found, everything)
    }

    fn plan_targets(&mut self, targets: Vec<Target>, everything: bool) -> Plan {
        let mut visits = Vec::with_capacity(targets.len());
        for Target {
            endpoint,
            host,
            port,
        } in targets
        {
            let state = self.nodes.entry(endpoint.clone()).or_default();
            state.host = host;
            state.port = port;
            let mut visit = state.visit(&endpoint);
            let known = state
                .id
                .and_then(|id| Some((id, self.topology.as_ref()?.node(&id)?)));
            // Atomic jobs live on masters; a node of unknown role is asked too.
            visit.jobs = known.is_none_or(|(_, n)| n.role != Role::Replica);
            // `check`'s one poll asks the nodes of unknown role too (only masters' are shown);
            // `serve` waits one poll for the roles.
            let unknown_asked = self.sampling == Sampling::All;
            if let Some(cadence) = self.slot_stats {
                visit.slot_stats = state.stats_ask(cadence, known.map(|(_, n)| n), unknown_asked);
            }
            if let (Some((id, _)), Some(t)) = (known, &self.topology) {
                visit.count_slots = t
                    .migrations
                    .iter()
                    .filter(|m| m.migrating_seen && m.source == id)
                    .map(|m| m.slot)
                    .take(MAX_COUNTED_SLOTS)
                    .collect();
            }
            visits.push(visit);
        }
        let nodes = &self.nodes;
        let topology = self.topology.as_deref();
        let replica = |e: &str| {
            let id = nodes.get(e).and_then(|n| n.id);
            id.and_then(|id| topology?.node(&id))
                .is_some_and(|n| n.role == Role::Replica)
        };
        self.rotation.choose(
            &mut visits,
            self.sampling,
            everything,
            |e| nodes.get(e).is_some_and(|n| n.hot > 0),
            replica,
        );
        let mut plan = Plan::default();
        for visit in visits {
            let rests = self
                .nodes
                .get_mut(&visit.endpoint)
                .is_some_and(NodeState::take_rest);
            if rests {
                plan.skipped.push(Fetched {
                    endpoint: visit.endpoint,
                    result: Err(FetchError::Resting),
                });
            } else {
                plan.visits.push(visit);
            }
        }
        plan
    }

    /// Folds a poll's answers in: first into each node's state, then the views are merged,
    /// diffed against the last topology and the events recorded; returns the snapshot to
    /// publish.
    pub fn apply(&mut self, fetched: Vec<Fetched>, end: PollEnd) -> Outcome {
        let now = end.started_ms;
        let mut answers = Answers::absorb(&mut self.nodes, fetched, now);
        let topology = (!answers.views.is_empty()).then(|| {
            let mut t = merge(&answers.views, now);
            let prev = self.topology.as_deref();
            migrations::carry_unseen(&mut t, prev, &answers.viewed);
            migrations::attach_atomic(&mut t, prev, &answers.jobs);
            Arc::new(t)
        });
        self.reached = topology.is_some();
        let recorded = match &topology {
            Some(new) => self.advance(new, &mut answers, now),
            None => {
                self.no_view(&mut answers, now);
                Recorded::default()
            }
        };
        let counters = self
            .nodes
            .iter()
            .map(|(e, n)| (e.as_str(), n.counters.as_ref()));
        self.timeline.record(now, counters);
        let stats = &mut self.history.stats;
        stats.polls_total += 1;
        stats.poll_duration.observe(end.elapsed.as_secs_f64());
        stats.bytes_read_total = end.bytes_read_total;
        let snapshot = self.snapshot(topology, &answers.answered, &answers.failed, now);
        Outcome {
            snapshot: Arc::new(snapshot),
            events: recorded.added,
            continued: recorded.continued,
            notes: answers.notes,
        }
    }

    /// A poll produced topology `new`: diffs it against the last one into events, follows the
    /// membership, and records.
    fn advance(&mut self, new: &Arc<Topology>, answers: &mut Answers, now: u64) -> Recorded {
        if let Some(gone) = self.viewless.take() {
            answers.notes.push(Note::ViewsAgain {
                lasted: gone.lasted(now),
            });
        }
        let events = match &self.topology {
            Some(old) => stamp(crate::topology::diff::diff(old, new), new),
            None => {
                answers.notes.push(Note::Baseline {
                    nodes: new.nodes.len(),
                    masters: new.masters().count(),
                });
                Vec::new()
            }
        };
        node::follow_membership(&mut self.nodes, new);
        self.mark_hot(new, &events, &answers.asked);
        let recorded = self.history.record(&events);
        self.history.track_migrations(new, now, &answers.keys_left);
        self.topology = Some(new.clone());
        recorded
    }

    /// A poll read no view: says so (once, then as a reminder), and keeps what is known.
    fn no_view(&mut self, answers: &mut Answers, now: u64) {
        let tried = answers.failed.len();
        match &mut self.viewless {
            None => {
                self.viewless = Some(Lasting::start(now));
                answers.notes.push(Note::NoView { tried });
            }
            Some(lasting) => answers.notes.extend(
                lasting
                    .again(now)
                    .map(|lasted| Note::StillNoView { tried, lasted }),
            ),
        }
        // Nothing is known to have moved: an operation that was going on has ended.
        self.history.record(&[]);
        // Keep known nodes (dropping their error counters would read as a reset) and the
        // failed targets; forget seeds that answered without a view.
        let known: HashSet<&str> = self
            .topology
            .iter()
            .flat_map(|t| t.nodes.iter().map(|n| n.endpoint.as_str()))
            .collect();
        let failed = &answers.failed;
        self.nodes
            .retain(|e, _| failed.contains_key(e) || known.contains(e.as_str()));
    }

    /// Marks the nodes of this poll's events, open migrations and new ASK traffic so that their
    /// full views are read for the next few polls; ages out the others.
    fn mark_hot(&mut self, t: &Topology, events: &[Event], asked: &[String]) {
        for n in self.nodes.values_mut() {
            n.hot = n.hot.saturating_sub(1);
        }
        let endpoints = events
            .iter()
            .flat_map(|e| e.kind.nodes().into_iter().map(|n| n.node.clone()))
            .chain(
                t.migrations
                    .iter()
                    .flat_map(|m| [t.endpoint_of(&m.source), t.endpoint_of(&m.target)]),
            )
            .chain(asked.iter().cloned());
        for e in endpoints {
            if let Some(n) = self.nodes.get_mut(&e) {
                n.hot = HOT_POLLS;
            }
        }
    }

    fn snapshot(
        &mut self,
        topology: Option<Arc<Topology>>,
        answered: &HashSet<NodeId>,
        failed: &HashMap<String, String>,
        now_ms: u64,
    ) -> Snapshot {
        // Without a topology this poll, the last one still says which nodes exist: report
        // those that answered INFO as up rather than drop them.
        let basis = topology.as_ref().or(self.topology.as_ref());
        let status = |endpoint: &str, id: Option<NodeId>, state: Option<&NodeState>| {
            let up = id.is_some_and(|id| answered.contains(&id));
            node::status(endpoint, id, up, state, failed.get(endpoint).cloned())
        };
        let mut nodes: Vec<NodeStatus> = basis
            .map(|t| {
                t.nodes
                    .iter()
                    .map(|n| status(&n.endpoint, Some(n.id), self.nodes.get(&n.endpoint)))
                    .collect()
            })
            .unwrap_or_default();
        // Targets outside the topology (seeds by host name, before discovery) that failed.
        if topology.is_none() {
            let known: HashSet<String> = nodes.iter().map(|n| n.endpoint.clone()).collect();
            let mut extra: Vec<NodeStatus> = failed
                .keys()
                .filter(|e| !known.contains(*e))
                .map(|e| status(e, None, self.nodes.get(e)))
                .collect();
            nodes.append(&mut extra);
        }
        nodes.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        self.generation += 1;
        Snapshot {
            cluster: self.name.clone(),
            generation: self.generation,
            polled_at_ms: now_ms,
            up: topology.is_some(),
            last_topology: topology.clone().or_else(|| self.topology.clone()),
            topology,
            nodes,
            events: self.history.events(),
            stats: self.history.stats.clone(),
            progress: self.history.progress(),
            redirects: self.timeline.shared(),
            redirect_policy: self.redirect_policy,
            liveness: self.liveness,
        }
    }
}
