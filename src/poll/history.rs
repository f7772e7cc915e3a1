//! What a cluster's polls accumulate: the bounded ring of recent events, the counters and
//! timestamps derived from them, and when each open migration was first seen. Pure.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::snapshot::{ClusterStats, MigrationKey};
use crate::topology::Topology;
use crate::topology::event::{Event, Kind};

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
    /// Open migrations' first-seen times (Unix ms).
    migrations_since: HashMap<MigrationKey, u64>,
    /// The same, as published.
    shared_migrations: Arc<HashMap<MigrationKey, u64>>,
}

impl History {
    /// An empty history keeping at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> History {
        History {
            ring: VecDeque::new(),
            capacity: capacity.max(1),
            shared: Arc::new(Vec::new()),
            stats: ClusterStats::default(),
            migrations_since: HashMap::new(),
            shared_migrations: Arc::new(HashMap::new()),
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
            match e.kind.kind() {
                Kind::Reshard => self.stats.last_reshard_ms = e.timestamp_ms,
                Kind::Failover => self.stats.last_failover_ms = e.timestamp_ms,
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

    /// Notes when each of `t`'s open migrations was first seen, and forgets closed ones.
    pub fn track_migrations(&mut self, t: &Topology, now_ms: u64) {
        let open: HashSet<MigrationKey> = t.migrations.iter().map(|m| m.key()).collect();
        let before = self.migrations_since.len();
        self.migrations_since.retain(|k, _| open.contains(k));
        let mut changed = self.migrations_since.len() != before;
        for k in open {
            self.migrations_since.entry(k).or_insert_with(|| {
                changed = true;
                now_ms
            });
        }
        if changed {
            self.shared_migrations = Arc::new(self.migrations_since.clone());
        }
    }

    /// The recent events, oldest first, as published.
    pub fn events(&self) -> Arc<Vec<Event>> {
        self.shared.clone()
    }

    /// Open migrations' first-seen times, as published.
    pub fn migrations_since(&self) -> Arc<HashMap<MigrationKey, u64>> {
        self.shared_migrations.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::diff::diff;
    use crate::topology::event::{MoveReason, stamp};
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
    fn migrations_keep_their_first_seen_time_until_they_close() {
        let mut h = History::new(10);
        let open = topo(
            &healthy().replace("0-5460", &format!("0-5460 [7->-{B}]")),
            0,
        );
        h.track_migrations(&open, 5_000);
        h.track_migrations(&open, 9_000);
        let key = open.migrations[0].key();
        assert_eq!(h.migrations_since().get(&key), Some(&5_000));
        h.track_migrations(&topo(&healthy(), 0), 10_000);
        assert!(h.migrations_since().is_empty());
    }
}
