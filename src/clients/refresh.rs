//! When `serve` analyses a cluster's clients again: only after new redirects or refused
//! commands, and not while clients are still catching up with a topology change. Pure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::info::NodeCounters;
use crate::topology::{Role, Topology};

/// Shortest pause of the analysis after a topology change: cluster clients refresh their slot
/// map on their first MOVED, within seconds; redirects before that are normal routing.
pub const MIN_SETTLE: Duration = Duration::from_secs(10);

/// What the analysis needs of one poll: no more than this, so that it never holds a whole
/// snapshot and the poller need not know what the analysis reads.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Each node's endpoint and counters.
    pub counters: Vec<(String, NodeCounters)>,
    /// The topology, whose nodes are sampled; `None` if the poll reached no node.
    pub topology: Option<Arc<Topology>>,
    /// Unix ms of the last topology change; 0 if none seen.
    pub last_topology_change_ms: u64,
    /// Unix ms of the poll before the one that saw the last topology change: the change
    /// happened between the two.
    pub last_topology_change_after_ms: u64,
    /// Unix ms of this poll.
    pub polled_at_ms: u64,
    /// By endpoint, when a failover made a master a replica (the latest, as the event history
    /// holds it).
    pub demoted: HashMap<String, u64>,
}

/// Slack on each side of the window in which a topology change happened: the node that makes a
/// change redirects at once, before the views slotwatch reads all show it.
pub const CHANGE_SLACK_MS: u64 = 1_000;

/// Why an analysis whose samples ran from `from_ms` to `to_ms` must name no one: the topology
/// changed during them, as `seen`, a poll that ended after them, shows. Redirects across a
/// change are clients catching up with it, however they look. `None` if the topology held.
pub fn changed_during(seen: &Observed, from_ms: u64, to_ms: u64) -> Option<String> {
    let at = seen.last_topology_change_ms;
    if at == 0 || seen.polled_at_ms <= to_ms {
        return (seen.polled_at_ms <= to_ms).then(|| {
            "no poll has ended since the samples, so a topology change during them cannot be \
             ruled out"
                .to_owned()
        });
    }
    let after = seen.last_topology_change_after_ms.min(at);
    let overlaps = from_ms <= at + CHANGE_SLACK_MS && after <= to_ms + CHANGE_SLACK_MS;
    overlaps.then(|| {
        format!(
            "the topology changed during the samples (between the polls at {} and {}): \
             redirects are expected while clients refresh their slot maps",
            crate::clock::rfc3339(after),
            crate::clock::rfc3339(at)
        )
    })
}

/// A node to sample: endpoint, host, port and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `ip:port`.
    pub endpoint: String,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Its role.
    pub role: Role,
    /// Unix ms of the failover that made it, a master before, a replica; `None` if none seen.
    pub demoted_at_ms: Option<u64>,
}

/// Every node of `topology` that has an address, as a target; `demoted` gives, by endpoint,
/// when a failover made a master a replica.
pub fn targets(topology: &Topology, demoted: &HashMap<String, u64>) -> Vec<Target> {
    topology
        .nodes
        .iter()
        .filter(|n| !n.noaddr && !n.addr.ip.is_empty() && n.addr.port != 0)
        .map(|n| Target {
            endpoint: n.endpoint.clone(),
            host: n.addr.ip.clone(),
            port: n.addr.port,
            role: n.role,
            demoted_at_ms: (n.role == Role::Replica)
                .then(|| demoted.get(&n.endpoint).copied())
                .flatten(),
        })
        .collect()
}

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
    /// Decides from the latest poll at `now_ms`, `interval` being the time between
    /// analyses. Every node is sampled when any node redirected or refused commands since the
    /// last decision: telling a cluster client (connected to many nodes) from a plain one
    /// needs every node's connections.
    pub fn decide(&mut self, seen: &Observed, now_ms: u64, interval: Duration) -> Decision {
        let counts: HashMap<String, u64> = seen
            .counters
            .iter()
            .map(|(endpoint, c)| {
                let redirects = c.moved_total().unwrap_or(0) + c.ask_total().unwrap_or(0);
                (endpoint.clone(), redirects.max(c.rejected_total()))
            })
            .collect();
        let grew = counts
            .iter()
            .any(|(node, n)| self.seen.get(node).is_some_and(|before| n > before));
        let first = self.seen.is_empty();
        self.seen = counts;
        let Some(topology) = &seen.topology else {
            return Decision::Skip("the cluster cannot be read".into());
        };
        let settle = interval.max(MIN_SETTLE).as_millis() as u64;
        let changed = seen.last_topology_change_ms;
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
        Decision::Sample(targets(topology, &seen.demoted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::parse_info;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;

    const TEXT: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
292f8b365bb7edb5e285caf0b7e6ddc7265a2f4f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
";

    fn with_moved(moved: u64, changed_ms: u64) -> Observed {
        let topology = merge(&[parse_view(TEXT).unwrap()], 1_000);
        let counters = topology
            .nodes
            .iter()
            .map(|n| {
                let mut c = NodeCounters::default();
                parse_info(
                    &format!("# Errorstats\r\nerrorstat_MOVED:count={moved}\r\n"),
                    &mut c,
                );
                (n.endpoint.clone(), c)
            })
            .collect();
        Observed {
            counters,
            topology: Some(Arc::new(topology)),
            last_topology_change_ms: changed_ms,
            ..Observed::default()
        }
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

    fn with_info(info: &str, changed_ms: u64) -> Observed {
        let mut seen = with_moved(0, changed_ms);
        for (_, c) in &mut seen.counters {
            *c = NodeCounters::default();
            parse_info(info, c);
        }
        seen
    }

    #[test]
    fn the_pause_after_a_change_is_at_least_min_settle_and_ends_there() {
        let second = Duration::from_secs(1);
        let settle = MIN_SETTLE.as_millis() as u64;
        let changed = 1_700_000_000_000;
        let mut r = Refresh::default();
        r.decide(&with_moved(1, 0), changed - 1_000, second);
        // Shorter analysis intervals do not shorten the pause.
        assert!(matches!(
            r.decide(&with_moved(2, changed), changed + settle - 1, second),
            Decision::Skip(why) if why.contains("topology changed")
        ));
        assert!(matches!(
            r.decide(&with_moved(3, changed), changed + settle, second),
            Decision::Sample(_)
        ));
    }

    #[test]
    fn a_cluster_that_never_changed_is_not_paused_even_early_on() {
        let mut r = Refresh::default();
        r.decide(&with_moved(1, 0), 1_000, Duration::from_secs(60));
        assert!(matches!(
            r.decide(&with_moved(2, 0), 2_000, Duration::from_secs(60)),
            Decision::Sample(_)
        ));
    }

    #[test]
    fn ask_replies_and_refused_calls_count_as_well_as_moved() {
        let minute = Duration::from_secs(60);
        let t0 = 1_700_000_000_000;
        let ask = |n: u64| with_info(&format!("# Errorstats\r\nerrorstat_ASK:count={n}\r\n"), 0);
        let mut r = Refresh::default();
        r.decide(&ask(4), t0, minute);
        assert!(matches!(
            r.decide(&ask(5), t0 + 60_000, minute),
            Decision::Sample(_)
        ));
        let rejected = |n: u64| {
            with_info(
                &format!(
                    "# Errorstats\r\nerrorstat_MOVED:count=2\r\n# Commandstats\r\n\
                     cmdstat_get:calls=1,rejected_calls={n},failed_calls=0\r\n"
                ),
                0,
            )
        };
        let mut r = Refresh::default();
        r.decide(&rejected(3), t0, minute);
        // MOVED stays at 2 but the refused calls grew: the larger of the two is what counts.
        assert!(matches!(
            r.decide(&rejected(4), t0 + 60_000, minute),
            Decision::Sample(_)
        ));
        assert!(matches!(
            r.decide(&rejected(4), t0 + 120_000, minute),
            Decision::Skip(why) if why.contains("no redirects")
        ));
    }

    #[test]
    fn samples_across_a_change_name_no_one_and_samples_beside_it_may() {
        let t0 = 1_700_000_000_000;
        // Polls every 2 s; the one at t0 + 10 s saw a failover that the one at t0 + 8 s did not.
        let mut seen = with_moved(1, t0 + 10_000);
        seen.last_topology_change_after_ms = t0 + 8_000;
        seen.polled_at_ms = t0 + 12_000;
        let during = |from: u64, to: u64| changed_during(&seen, t0 + from, t0 + to);
        assert!(during(8_500, 9_500).is_some_and(|why| why.contains("changed during")));
        assert!(
            during(9_500, 10_500).is_some(),
            "across the poll that saw it"
        );
        assert!(
            during(6_000, 7_000).is_some(),
            "within the slack of the window"
        );
        assert_eq!(during(5_000, 6_500), None, "well before the change");
        assert_eq!(
            during(11_500, 11_900),
            None,
            "after it: the pause handles those"
        );
        // Before a poll after the samples, nothing rules a change out.
        assert!(
            changed_during(&seen, t0 + 11_000, t0 + 12_500)
                .is_some_and(|why| why.contains("no poll has ended"))
        );
        let mut never = with_moved(1, 0);
        never.polled_at_ms = t0 + 12_000;
        assert_eq!(changed_during(&never, t0 + 9_000, t0 + 10_000), None);
    }

    #[test]
    fn a_replica_that_a_failover_demoted_carries_the_failovers_time() {
        let mut seen = with_moved(9, 0);
        let mut r = Refresh::default();
        r.decide(&seen, 1_000, Duration::from_secs(1));
        seen.counters = with_moved(10, 0).counters;
        // 30004 replicates 30001; 30002 is a master, which a stale entry must not mark.
        seen.demoted = [
            ("127.0.0.1:30004".to_owned(), 500),
            ("127.0.0.1:30002".to_owned(), 400),
        ]
        .into();
        let Decision::Sample(targets) = r.decide(&seen, 2_000, Duration::from_secs(1)) else {
            panic!("sampled");
        };
        let demoted: Vec<(&str, Option<u64>)> = targets
            .iter()
            .map(|t| (t.endpoint.as_str(), t.demoted_at_ms))
            .collect();
        assert!(
            demoted.contains(&("127.0.0.1:30004", Some(500))),
            "{demoted:?}"
        );
        assert!(demoted.contains(&("127.0.0.1:30002", None)), "{demoted:?}");
        assert!(demoted.contains(&("127.0.0.1:30001", None)), "{demoted:?}");
    }

    #[test]
    fn an_unreadable_cluster_is_not_sampled() {
        let mut r = Refresh::default();
        let mut seen = with_moved(1, 0);
        seen.topology = None;
        assert!(matches!(
            r.decide(&seen, 1_000, Duration::from_secs(60)),
            Decision::Skip(why) if why.contains("cannot be read")
        ));
    }
}
