//! Which nodes a poll reads, and which of them return their full `CLUSTER NODES` view. Pure.
//!
//! INFO (the counters) is read from every node every poll: it is small. A full view grows with
//! the cluster, so reading every node's view every poll costs the square of the cluster size,
//! and `CLUSTER NODES` is the costliest command a poll sends (about 90 µs of server time on a
//! 6-node cluster, against about 10 µs for an INFO section).
//!
//! - (Re)discovery reads every view.
//! - Clusters of up to `k` nodes read every master's view every poll (masters' views carry
//!   ownership, failure flags and migrations), the hot nodes' (in a recent change, an open
//!   migration or new ASK traffic), and one replica's in turn, so each replica's view still
//!   comes round every few polls to reveal a disagreement.
//! - Bigger clusters read the hot nodes plus the next `k` nodes of a rotation over all of
//!   them, so that every view is sampled in turn and the bytes per poll stay bounded.

use super::sample::Fetched;

/// How many full views a poll reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every node's view, every poll: `slotwatch check`, which has no earlier polls.
    All,
    /// The hot nodes plus this many more from a rotation (`--full-views-per-poll`).
    Rotate(usize),
}

/// A node to read, before the plan decides what to read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `ip:port` (or a seed's `host:port`): the node's key everywhere.
    pub endpoint: String,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
}

/// One node to read this poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// `ip:port` (or a seed's `host:port`): the node's key everywhere.
    pub endpoint: String,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Read the full `CLUSTER NODES` view as well as the counters.
    pub full_view: bool,
    /// Drop the connection afterwards. A connection's read buffer grows to its largest reply
    /// and keeps that size; a node read in full only for the rotation will not be read in full
    /// again for many polls, so its connection should not hold a view-sized buffer meanwhile.
    pub close_after: bool,
    /// Read the node's atomic migration jobs (`CLUSTER GETSLOTMIGRATIONS`, `CLUSTER MIGRATION STATUS ALL`), where the server
    /// has them: masters and nodes of unknown role.
    pub jobs: bool,
    /// Slots whose keys to count (`CLUSTER COUNTKEYSINSLOT`): the node's classic migrating
    /// slots, to tell whether their migration progresses.
    pub count_slots: Vec<u16>,
    /// Read `INFO commandstats` (rejected calls by command) too. It costs a node more than
    /// the other sections together (it walks the whole command table), so it is read only
    /// when the node may have refused a command since it was last read.
    pub command_stats: bool,
    /// Read the node's per-slot stats (`CLUSTER SLOT-STATS SLOTSRANGE`) where its server has
    /// them: masters, at the slower cadence of `--slot-stats-interval`.
    pub slot_stats: Option<StatsAsk>,
}

/// The nodes one poll (or its discovery wave) reads, and those it skips.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Nodes to read.
    pub visits: Vec<Visit>,
    /// Nodes in reconnect backoff: not read, already answered with the reason.
    pub skipped: Vec<Fetched>,
}

impl Plan {
    /// True if there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.visits.is_empty() && self.skipped.is_empty()
    }
}

/// What to read of a node's per-slot stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsAsk {
    /// Busiest slots kept per measure.
    pub top: usize,
    /// The slots the node owns, the only ones it reports; empty when unknown (all are asked).
    pub ranges: Vec<crate::slot::SlotRange>,
}

/// How often a cluster's per-slot stats are read, and how much of them is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotStatsCadence {
    /// Read every this many polls a master answers (at least 1).
    pub every: u32,
    /// Busiest slots kept per measure.
    pub top: usize,
}

/// Where the rotations through the nodes' full views continue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Next node, in big clusters.
    next: usize,
    /// Next replica, in small clusters.
    next_replica: usize,
}

impl Rotation {
    /// Marks which of `targets` (in a stable order) return full views this poll. `everything`
    /// forces all (discovery); `hot` says which nodes must be read in full, `replica` which are
    /// known replicas. Returns whether the poll samples the views of a big cluster.
    pub fn choose(
        &mut self,
        targets: &mut [Visit],
        sampling: Sampling,
        everything: bool,
        hot: impl Fn(&str) -> bool,
        replica: impl Fn(&str) -> bool,
    ) -> bool {
        let k = match sampling {
            Sampling::Rotate(k) if !everything => k,
            _ => {
                for t in targets.iter_mut() {
                    t.full_view = true;
                    t.close_after = false;
                }
                return false;
            }
        };
        if targets.len() <= k {
            let replicas: Vec<usize> = (0..targets.len())
                .filter(|i| replica(&targets[*i].endpoint))
                .collect();
            for t in targets.iter_mut() {
                t.full_view = !replica(&t.endpoint) || hot(&t.endpoint);
                t.close_after = false;
            }
            if let Some(&i) = replicas.get(self.next_replica % replicas.len().max(1)) {
                targets[i].full_view = true;
            }
            self.next_replica = (self.next_replica + 1) % replicas.len().max(1);
            return false;
        }
        for t in targets.iter_mut() {
            t.full_view = hot(&t.endpoint);
            t.close_after = false;
        }
        let n = targets.len();
        let (mut added, mut step) = (0, 0);
        while added < k && step < n {
            let t = &mut targets[(self.next + step) % n];
            if !t.full_view {
                t.full_view = true;
                t.close_after = true;
                added += 1;
            }
            step += 1;
        }
        self.next = (self.next + step) % n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: usize) -> Vec<Visit> {
        (0..n)
            .map(|i| Visit {
                endpoint: format!("10.0.0.{i}:6379"),
                host: format!("10.0.0.{i}"),
                port: 6379,
                full_view: false,
                close_after: false,
                jobs: false,
                count_slots: Vec::new(),
                command_stats: true,
                slot_stats: None,
            })
            .collect()
    }

    fn full(ts: &[Visit]) -> Vec<usize> {
        (0..ts.len()).filter(|i| ts[*i].full_view).collect()
    }

    #[test]
    fn discovery_and_one_shot_polls_read_every_view() {
        let mut r = Rotation::default();
        let mut ts = targets(40);
        assert!(!r.choose(&mut ts, Sampling::Rotate(4), true, |_| false, |_| true));
        assert_eq!(full(&ts).len(), 40);
        assert!(!r.choose(&mut ts, Sampling::All, false, |_| false, |_| true));
        assert_eq!(full(&ts).len(), 40);
    }

    #[test]
    fn small_clusters_read_masters_every_poll_and_one_replica_in_turn() {
        let mut r = Rotation::default();
        // Nodes 3, 4 and 5 are replicas; node 4 is hot.
        let replica = |e: &str| ["10.0.0.3:6379", "10.0.0.4:6379", "10.0.0.5:6379"].contains(&e);
        let hot = |e: &str| e == "10.0.0.4:6379";
        let mut seen = Vec::new();
        for _ in 0..3 {
            let mut ts = targets(6);
            assert!(!r.choose(&mut ts, Sampling::Rotate(16), false, hot, replica));
            assert!(ts.iter().all(|t| !t.close_after), "connections stay open");
            let f = full(&ts);
            assert!(f.starts_with(&[0, 1, 2]) && f.contains(&4), "{f:?}");
            assert!(f.len() <= 5, "one replica besides the hot one: {f:?}");
            seen.extend(f);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5], "every replica within 3 polls");
        // Unknown roles (a node just discovered) are read in full.
        let mut ts = targets(6);
        r.choose(&mut ts, Sampling::Rotate(16), false, |_| false, |_| false);
        assert_eq!(full(&ts).len(), 6);
    }

    #[test]
    fn the_rotation_adds_k_views_besides_the_hot_nodes() {
        let mut r = Rotation::default();
        let mut ts = targets(10);
        assert!(r.choose(
            &mut ts,
            Sampling::Rotate(3),
            false,
            |e| e == "10.0.0.1:6379",
            |_| true
        ));
        // Node 1 is hot (kept open), nodes 0, 2, 3 come from the rotation (closed after).
        assert_eq!(full(&ts), [0, 1, 2, 3]);
        assert!(!ts[1].close_after && ts[0].close_after && ts[3].close_after);
        let mut ts = targets(10);
        r.choose(&mut ts, Sampling::Rotate(3), false, |_| false, |_| true);
        assert_eq!(full(&ts), [4, 5, 6]);
        let mut ts = targets(10);
        r.choose(&mut ts, Sampling::Rotate(3), false, |_| false, |_| true);
        assert_eq!(full(&ts), [7, 8, 9]);
        let mut ts = targets(10);
        r.choose(&mut ts, Sampling::Rotate(3), false, |_| false, |_| true);
        assert_eq!(full(&ts), [0, 1, 2], "wraps around");
    }
}
