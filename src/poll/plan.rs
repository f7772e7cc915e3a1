//! Which nodes a poll reads, and which of them return their full `CLUSTER NODES` view. Pure.
//!
//! INFO (the counters) is read from every node every poll: it is small. A full view grows with
//! the cluster, so reading every node's view every poll costs the square of the cluster size.
//! Small clusters and (re)discovery still read every view; bigger ones read the hot nodes (in
//! a recent change, an open migration or new ASK traffic) plus the next `k` nodes of a
//! rotation, so that every view is sampled in turn and the bytes per poll stay bounded.

/// How many full views a poll reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every node's view, every poll: `slotwatch check`, which has no earlier polls.
    All,
    /// The hot nodes plus this many more from a rotation (`--full-views-per-poll`).
    Rotate(usize),
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
    /// Read the node's atomic migration jobs (`CLUSTER GETSLOTMIGRATIONS`), where the server
    /// has them: masters and nodes of unknown role.
    pub jobs: bool,
    /// Slots whose keys to count (`CLUSTER COUNTKEYSINSLOT`): the node's classic migrating
    /// slots, to tell whether their migration progresses.
    pub count_slots: Vec<u16>,
}

/// Where the rotation through the nodes' full views continues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    next: usize,
}

impl Rotation {
    /// Marks which of `targets` (in a stable order) return full views this poll. `everything`
    /// forces all (discovery); `hot` says which nodes must be read in full. Returns whether the
    /// poll only samples the views.
    pub fn choose(
        &mut self,
        targets: &mut [Visit],
        sampling: Sampling,
        everything: bool,
        hot: impl Fn(&str) -> bool,
    ) -> bool {
        let k = match sampling {
            Sampling::Rotate(k) if !everything && targets.len() > k => k,
            _ => {
                for t in targets.iter_mut() {
                    t.full_view = true;
                    t.close_after = false;
                }
                return false;
            }
        };
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
            })
            .collect()
    }

    fn full(ts: &[Visit]) -> Vec<usize> {
        (0..ts.len()).filter(|i| ts[*i].full_view).collect()
    }

    #[test]
    fn small_clusters_and_discovery_read_every_view() {
        let mut r = Rotation::default();
        let mut ts = targets(4);
        assert!(!r.choose(&mut ts, Sampling::Rotate(4), false, |_| false));
        assert_eq!(full(&ts), [0, 1, 2, 3]);
        assert!(ts.iter().all(|t| !t.close_after));
        let mut ts = targets(40);
        assert!(!r.choose(&mut ts, Sampling::Rotate(4), true, |_| false));
        assert_eq!(full(&ts).len(), 40);
        assert!(!r.choose(&mut ts, Sampling::All, false, |_| false));
    }

    #[test]
    fn the_rotation_adds_k_views_besides_the_hot_nodes() {
        let mut r = Rotation::default();
        let mut ts = targets(10);
        assert!(r.choose(&mut ts, Sampling::Rotate(3), false, |e| e
            == "10.0.0.1:6379"));
        // Node 1 is hot (kept open), nodes 0, 2, 3 come from the rotation (closed after).
        assert_eq!(full(&ts), [0, 1, 2, 3]);
        assert!(!ts[1].close_after && ts[0].close_after && ts[3].close_after);
        let mut ts = targets(10);
        r.choose(&mut ts, Sampling::Rotate(3), false, |_| false);
        assert_eq!(full(&ts), [4, 5, 6]);
        let mut ts = targets(10);
        r.choose(&mut ts, Sampling::Rotate(3), false, |_| false);
        assert_eq!(full(&ts), [7, 8, 9]);
        let mut ts = targets(10);
        r.choose(&mut ts, Sampling::Rotate(3), false, |_| false);
        assert_eq!(full(&ts), [0, 1, 2], "wraps around");
    }
}
