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
    ring: VecDeque<Event>,
    capacity: usize,
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
            shared: Arc::new(Vec::new()),
            stats: ClusterStats::default(),
            progress: HashMap::new(),
            shared_progress: Arc::new(HashMap::new()),
        }
    }

    /// Counts and keeps one poll's events.
    pub fn record(&mut self, events: &[Event]) {
        for e in events {
            *self.stats.events_total.entry(e.kind.kind()).or_insert(0) += 1;
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
            if self.ring.len() == self.capacity {
                self.ring.pop_front();
            }
            self.ring.push_back(e.clone());
        }
        if !events.is_empty() {
            self.shared = Arc::new(self.ring.iter().cloned().collect());
        }
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
