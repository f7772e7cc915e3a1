//! When `serve` analyses a cluster's clients again: only after new redirects or refused
//! commands, and not while clients are still catching up with a topology change. Pure.

use std::collections::HashMap;
use std::time::Duration;

use super::read::{Target, targets};
use crate::snapshot::Snapshot;

/// Shortest pause of the analysis after a topology change: cluster clients refresh their slot
/// map on their first MOVED, within seconds; redirects before that are normal routing.
pub const MIN_SETTLE: Duration = Duration::from_secs(10);

/// What the next analysis does.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Sample these nodes.
    Sample(Vec<Target>),
    /// Skip it, for this reason.
    Skip(String),
}

/// What the last decision saw: each node's redirects plus refused commands.
#[derive(Debug, Clone, Default)]
pub struct Refresh {
    seen: HashMap<String, u64>,
}

impl Refresh {
    /// Decides from the latest snapshot at `now_ms`, `interval` being the time between
    /// analyses. Every node is sampled when any node redirected or refused commands since the
    /// last decision: telling a cluster client (connected to many nodes) from a plain one
    /// needs every node's connections.
    pub fn decide(&mut self, snap: &Snapshot, now_ms: u64, interval: Duration) -> Decision {
        let counts: HashMap<String, u64> = snap
            .nodes
            .iter()
            .map(|n| {
                let c = &n.counters;
                let redirects = c.moved_total().unwrap_or(0) + c.ask_total().unwrap_or(0);
                (n.endpoint.clone(), redirects.max(c.rejected_total()))
            })
            .collect();
        let grew = counts
            .iter()
            .any(|(node, n)| self.seen.get(node).is_some_and(|before| n > before));
        let first = self.seen.is_empty();
        self.seen = counts;
        let Some(topology) = &snap.topology else {
            return Decision::Skip("the cluster cannot be read".into());
        };
        let settle = interval.max(MIN_SETTLE).as_millis() as u64;
        let changed = snap.stats.last_topology_change_ms;
        if changed > 0 && now_ms.saturating_sub(changed) < settle {
            return Decision::Skip(format!(
                "the topology changed {}s ago: redirects are expected while clients refresh \
                 their slot maps",
                now_ms.saturating_sub(changed) / 1000
            ));
        }
        if first {
            return Decision::Skip("waiting for redirects: none counted yet".into());
        }
        if !grew {
            return Decision::Skip(
                "no redirects or refused commands since the last analysis".into(),
            );
        }
        Decision::Sample(targets(topology))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::parse_info;
    use crate::snapshot::testdata::snapshot_of;

    const TEXT: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
292f8b365bb7edb5e285caf0b7e6ddc7265a2f4f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
";

    fn with_moved(moved: u64, changed_ms: u64) -> Snapshot {
        let mut s = snapshot_of(TEXT, &[]);
        for n in &mut s.nodes {
            parse_info(
                &format!("# Errorstats\r\nerrorstat_MOVED:count={moved}\r\n"),
                &mut n.counters,
            );
        }
        s.stats.last_topology_change_ms = changed_ms;
        s
    }

    #[test]
    fn samples_every_node_only_after_new_redirects_and_not_during_a_change() {
        let minute = Duration::from_secs(60);
        let mut r = Refresh::default();
        let t0 = 1_700_000_000_000;
        assert!(matches!(
            r.decide(&with_moved(5, 0), t0, minute),
            Decision::Skip(_)
        ));
        assert!(matches!(
            r.decide(&with_moved(5, 0), t0 + 60_000, minute),
            Decision::Skip(why) if why.contains("no redirects")
        ));
        match r.decide(&with_moved(9, 0), t0 + 120_000, minute) {
            Decision::Sample(targets) => assert_eq!(targets.len(), 4),
            other => panic!("{other:?}"),
        }
        // A reshard 30 s ago: its MOVED burst is routing, not a client to blame.
        let changed = t0 + 150_000;
        assert!(matches!(
            r.decide(&with_moved(50, changed), t0 + 180_000, minute),
            Decision::Skip(why) if why.contains("topology changed 30s ago")
        ));
        // Once settled, only redirects after the change count.
        assert!(matches!(
            r.decide(&with_moved(50, changed), t0 + 240_000, minute),
            Decision::Skip(why) if why.contains("no redirects")
        ));
        assert!(matches!(
            r.decide(&with_moved(51, changed), t0 + 300_000, minute),
            Decision::Sample(_)
        ));
    }
}
