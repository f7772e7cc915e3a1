//! What a cluster's polls accumulate: the bounded ring of recent events, the counters and
//! timestamps derived from them, and when each open migration was first seen. Pure.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::snapshot::{ClusterStats, Progress};
use crate::topology::event::{Event, EventKind};
use crate::topology::{MigrationId, NodeId, Topology};

/// Recent events and cumulative statistics of one cluster.
#[derive(Debug)]
pub struct History {
    /// Recent events with their sequence numbers, oldest first.
    ring: VecDeque<(u64, Event)>,
    capacity: usize,
    /// The next event's sequence number.
    next_seq: u64,
    /// The last poll's reshards, by (from, to): a reshard between the same masters in the next
    /// poll continues the same event.
    open_reshards: HashMap<(NodeId, NodeId), u64>,
    /// The ring as published; rebuilt once per poll with events, not per event (a mass failure
    /// can bring a thousand).
    shared: Arc<Vec<Event>>,
    /// Counters and timestamps.
    pub stats: ClusterStats,
    /// Open migrations' progress, with what last showed it (keys left, or an atomic job's
    /// state and update time).
    progress: HashMap<MigrationId, (Progress, Marker)>,
    /// The progress, as published.
    shared_progress: Arc<HashMap<MigrationId, Progress>>,
}

impl History {
    /// An empty history keeping at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> History {
        History {
            ring: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
            open_reshards: HashMap::new(),
            shared: Arc::new(Vec::new()),
            stats: ClusterStats::default(),
            progress: HashMap::new(),
            shared_progress: Arc::new(HashMap::new()),
        }
    }

    /// Counts and keeps one poll's events. A reshard between the masters of a reshard of the
    /// previous poll continues that event, which grows instead of a new one being added; a
    /// poll without it ends it.
    pub fn record(&mut self, events: &[Event]) -> Recorded {
        let mut recorded = Recorded::default();
        let mut open = HashMap::new();
        for e in events {
            if let Some((reason, slots)) = e.kind.slot_moves() {
                *self.stats.slot_moves_total.entry(reason).or_insert(0) += u64::from(slots);
            }
            if e.kind.is_topology_change() {
                self.stats.last_topology_change_ms = e.timestamp_ms;
            }
            match &e.kind {
                EventKind::Reshard { .. } => self.stats.last_reshard_ms = e.timestamp_ms,
                EventKind::Failover { .. } => self.stats.last_failover_ms = e.timestamp_ms,
                EventKind::MigrationFailed {
                    lost_writes: true, ..
                } => self.stats.lost_writes_total += 1,
                _ => {}
            }
            let pair = match &e.kind {
                EventKind::Reshard { from, to, .. } => Some((from.id, to.id)),
                _ => None,
            };
            if let Some(grown) = pair.and_then(|p| self.continue_reshard(p, e)) {
                open.extend(pair.map(|p| (p, grown.0)));
                recorded.continued.push(grown.1);
                continue;
            }
            *self.stats.events_total.entry(e.kind.kind()).or_insert(0) += 1;
            if self.ring.len() == self.capacity {
                self.ring.pop_front();
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.ring.push_back((seq, e.clone()));
            open.extend(pair.map(|p| (p, seq)));
            recorded.added.push(e.clone());
        }
        self.open_reshards = open;
        if !events.is_empty() {
            self.shared = Arc::new(self.ring.iter().map(|(_, e)| e.clone()).collect());
        }
        recorded
    }

    /// Grows the last poll's reshard between the same masters by `e`, if it is still kept.
    fn continue_reshard(&mut self, pair: (NodeId, NodeId), e: &Event) -> Option<(u64, Event)> {
        let seq = *self.open_reshards.get(&pair)?;
        let (_, kept) = self.ring.iter_mut().find(|(s, _)| *s == seq)?;
        kept.continue_with(e).then(|| (seq, kept.clone()))
    }

    /// Follows each of `t`'s open migrations: when it opened, and when it last made progress.
    /// `keys_left` holds, per (source, slot), the keys the source still has in a migrating
    /// slot, where this poll read them. Closed migrations are forgotten.
    pub fn track_migrations(
        &mut self,
        t: &Topology,
        now_ms: u64,
        keys_left: &HashMap<(NodeId, u16), u64>,
    ) {
        let open = t.open_migrations();
        let ids: HashSet<&MigrationId> = open.iter().map(|m| &m.id).collect();
        self.progress.retain(|id, _| ids.contains(id));
        for m in &open {
            let (opened_ms, marker, keys) = match &m.id {
                MigrationId::Classic(slot, source, _) => {
                    let keys = keys_left.get(&(*source, *slot)).copied();
                    (now_ms, Marker::Keys(keys), keys)
                }
                MigrationId::Atomic(name) => {
                    let job = t.atomic.iter().find(|a| &a.name == name);
                    let marker = job.map(|a| (a.state.clone(), a.updated_ms));
                    (
                        job.map_or(now_ms, |a| a.created_ms),
                        Marker::Job(marker),
                        None,
                    )
                }
            };
            match self.progress.get_mut(&m.id) {
                None => {
                    let p = Progress {
                        opened_ms,
                        progressed_ms: now_ms,
                        keys_left: keys,
                    };
                    self.progress.insert(m.id.clone(), (p, marker));
                }
                Some((p, last)) => {
                    if marker.progressed_since(last) {
                        p.progressed_ms = now_ms;
                    }
                    if keys.is_some() {
                        p.keys_left = keys;
                    }
                    if !matches!(marker, Marker::Keys(None)) {
                        *last = marker;
                    }
                }
            }
        }
        self.shared_progress = Arc::new(
            self.progress
                .iter()
                .map(|(id, (p, _))| (id.clone(), *p))
                .collect(),
        );
    }

    /// The recent events, oldest first, as published.
    pub fn events(&self) -> Arc<Vec<Event>> {
        self.shared.clone()
    }

    /// Open migrations' progress, as published.
    pub fn progress(&self) -> Arc<HashMap<MigrationId, Progress>> {
        self.shared_progress.clone()
    }
}

/// What one poll's events did to the history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Events added as new entries.
    pub added: Vec<Event>,
    /// Earlier events that this poll continued, as they now read.
    pub continued: Vec<Event>,
}

/// What last showed a migration's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    /// A classic migration: the keys left on the source, if this poll read them.
    Keys(Option<u64>),
    /// An atomic job: its state and last update time.
    Job(Option<(String, u64)>),
}

impl Marker {
    /// Fewer keys left (a write adding keys is not progress), or a job that moved on.
    fn progressed_since(&self, last: &Marker) -> bool {
        match (self, last) {
            (Marker::Keys(Some(now)), Marker::Keys(Some(before))) => now < before,
            (Marker::Job(now), Marker::Job(before)) => now != before,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::atomic::{AtomicMigration, Phase};
    use crate::topology::diff::diff;
    use crate::topology::event::{Kind, MoveReason, stamp};
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;
    use crate::topology::testdata::*;

    fn topo(text: &str, at: u64) -> Topology {
        merge(&[parse_view(text).unwrap()], at)
    }

    #[test]
    fn events_are_counted_stamped_and_bounded() {
        let mut h = History::new(2);
        let before = topo(&healthy(), 1_000);
        let lost = topo(&healthy().replace("10923-16383", "10923-16000"), 2_000);
        h.record(&stamp(diff(&before, &lost), &lost));
        assert_eq!(h.stats.events_total[&Kind::SlotsUnassigned], 1);
        assert_eq!(h.stats.slot_moves_total[&MoveReason::Unassigned], 383);
        assert_eq!(h.stats.last_topology_change_ms, 2_000);
        assert_eq!(h.stats.last_reshard_ms, 0);
        let back = topo(&healthy(), 3_000);
        h.record(&stamp(diff(&lost, &back), &back));
        h.record(&stamp(diff(&back, &lost), &lost));
        let kinds: Vec<&str> = h.events().iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            kinds,
            ["slots_assigned", "slots_unassigned"],
            "oldest dropped"
        );
        assert_eq!(h.stats.events_total[&Kind::SlotsUnassigned], 2);
    }

    /// A's first `n` slots moved to B, seen at `at` ms.
    fn moved(n: u16, at: u64) -> Topology {
        let mut text = healthy();
        if n > 0 {
            text = text
                .replace("0-5460", &format!("{n}-5460"))
                .replace("5461-10922", &format!("0-{} 5461-10922", n - 1))
                .replace(" 2 connected", " 9 connected");
        }
        topo(&text, at)
    }

    #[test]
    fn a_reshard_over_consecutive_polls_is_one_event_and_a_quiet_poll_ends_it() {
        let mut h = History::new(10);
        let steps = [
            moved(0, 1_000),
            moved(100, 2_000),
            moved(250, 3_000),
            moved(400, 4_000),
        ];
        for w in steps.windows(2) {
            h.record(&stamp(diff(&w[0], &w[1]), &w[1]));
        }
        let events = h.events();
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(
            e.message,
            "reshard: 400 slots 0-399 moved 127.0.0.1:30001 -> 127.0.0.1:30002"
        );
        assert_eq!((e.timestamp_ms, e.end_ms), (2_000, Some(4_000)));
        assert_eq!(h.stats.events_total[&Kind::Reshard], 1, "counted once");
        assert_eq!(h.stats.slot_moves_total[&MoveReason::Reshard], 400);
        assert_eq!(h.stats.last_reshard_ms, 4_000);
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["end_time"], "1970-01-01T00:00:04.000Z");

        // A quiet poll ends the operation; slots moving again later are a new one.
        let quiet = moved(400, 5_000);
        let recorded = h.record(&stamp(diff(&steps[3], &quiet), &quiet));
        assert_eq!(recorded, Recorded::default());
        let again = moved(450, 6_000);
        let recorded = h.record(&stamp(diff(&quiet, &again), &again));
        assert_eq!(recorded.added.len(), 1);
        assert_eq!(h.events().len(), 2);
        assert_eq!(h.stats.events_total[&Kind::Reshard], 2);
        assert!(h.events()[1].end_ms.is_none());
    }

    #[test]
    fn a_classic_migration_progresses_while_keys_leave_the_source() {
        let mut h = History::new(10);
        let open = topo(
            &healthy().replace("0-5460", &format!("0-5460 [7->-{B}]")),
            0,
        );
        let a = open.migrations[0].source;
        let id = MigrationId::Classic(7, a, open.migrations[0].target);
        let keys = |n| HashMap::from([((a, 7), n)]);
        h.track_migrations(&open, 5_000, &keys(100));
        h.track_migrations(&open, 6_000, &keys(60));
        let p = h.progress()[&id];
        assert_eq!(
            (p.opened_ms, p.progressed_ms, p.keys_left),
            (5_000, 6_000, Some(60))
        );
        // Unread (None) and more keys (a client's writes) are not progress.
        h.track_migrations(&open, 7_000, &HashMap::new());
        h.track_migrations(&open, 8_000, &keys(61));
        assert_eq!(h.progress()[&id].progressed_ms, 6_000);
        assert_eq!(h.progress()[&id].keys_left, Some(61));
        h.track_migrations(&open, 9_000, &keys(0));
        assert_eq!(h.progress()[&id].progressed_ms, 9_000);
        h.track_migrations(&topo(&healthy(), 0), 10_000, &HashMap::new());
        assert!(h.progress().is_empty(), "closed migrations are forgotten");
    }

    #[test]
    fn an_atomic_migration_progresses_when_its_state_or_update_time_changes() {
        let mut t = topo(&healthy(), 0);
        let job = |state: &str, updated_ms: u64| AtomicMigration {
            name: "job1".into(),
            source: t.nodes[0].id,
            target: t.nodes[1].id,
            ranges: vec![crate::slot::SlotRange::single(7)],
            slots: 1,
            state: state.into(),
            phase: Phase::of(state),
            message: String::new(),
            created_ms: 1_000,
            updated_ms,
        };
        let id = MigrationId::Atomic("job1".into());
        t.atomic = vec![job("snapshotting", 2_000)];
        let mut h = History::new(10);
        h.track_migrations(&t, 5_000, &HashMap::new());
        assert_eq!(
            h.progress()[&id].opened_ms,
            1_000,
            "opened when the job was created"
        );
        h.track_migrations(&t, 9_000, &HashMap::new());
        assert_eq!(
            h.progress()[&id].progressed_ms,
            5_000,
            "same state: stalled"
        );
        t.atomic = vec![job("replicating", 9_500)];
        h.track_migrations(&t, 10_000, &HashMap::new());
        let p = h.progress()[&id];
        assert_eq!((p.opened_ms, p.progressed_ms), (1_000, 10_000));
        t.atomic = vec![job("success", 10_200)];
        h.track_migrations(&t, 11_000, &HashMap::new());
        assert!(h.progress().is_empty(), "a finished job is not open");
    }
}
