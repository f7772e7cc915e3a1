//! The one health judgement of a cluster, from one snapshot: what `slotwatch check` reports
//! and what the landing page shows. Pure.
//!
//! Adding a problem means adding a variant, its sentence and its test here; both readers pick
//! it up.

use std::fmt;

use serde::Serialize;

use crate::slot::{SlotRange, format_ranges};
use crate::snapshot::Snapshot;
use crate::topology::Mechanism;

/// Something wrong with a cluster, as of its latest poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// No poll has finished yet.
    NotPolledYet,
    /// The latest poll reached no node's view.
    Unreachable {
        /// `ip:port (cause)` of each node tried.
        nodes: Vec<String>,
    },
    /// Some nodes did not answer the latest poll.
    NodesNotAnswering {
        /// `ip:port (cause)` of each.
        nodes: Vec<String>,
    },
    /// Slots with no owner: keys in them cannot be served.
    SlotsUnassigned {
        /// How many.
        slots: u32,
        /// Which.
        ranges: Vec<SlotRange>,
    },
    /// A master flagged `fail` or `fail?`.
    MasterFailing {
        /// The master.
        node: String,
        /// `fail` and/or `fail?`.
        flags: Vec<&'static str>,
        /// Slots it owns.
        slots: u32,
    },
    /// The reachable views name different owners for some slots.
    ViewsDisagree {
        /// How many slots.
        slots: u32,
        /// Which.
        ranges: Vec<SlotRange>,
    },
    /// Slot migrations are open.
    MigrationsOpen {
        /// `slot source->target` of each.
        migrations: Vec<String>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotPolledYet => f.write_str("no poll has finished yet"),
            Problem::Unreachable { nodes } => {
                write!(f, "no node could be read: {}", nodes.join("; "))
            }
            Problem::NodesNotAnswering { nodes } => write!(
                f,
                "{} node(s) did not answer: {}",
                nodes.len(),
                nodes.join(", ")
            ),
            Problem::SlotsUnassigned { slots, ranges } => write!(
                f,
                "{slots} slot(s) have no owner: {}",
                format_ranges(ranges)
            ),
            Problem::MasterFailing { node, flags, slots } => write!(
                f,
                "master {node} is flagged {} and owns {slots} slot(s)",
                flags.join(",")
            ),
            Problem::ViewsDisagree { slots, ranges } => write!(
                f,
                "the nodes disagree on the owner of {slots} slot(s): {}",
                format_ranges(ranges)
            ),
            Problem::MigrationsOpen { migrations } => write!(
                f,
                "{} slot migration(s) open: {}",
                migrations.len(),
                migrations.join(", ")
            ),
        }
    }
}

/// The flags of a failing node, as `CLUSTER NODES` prints them.
pub fn failure_flags(fail: bool, pfail: bool) -> Vec<&'static str> {
    [(fail, "fail"), (pfail, "fail?")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
}

/// Everything wrong with the cluster as of `s`; empty means healthy.
pub fn problems(s: &Snapshot) -> Vec<Problem> {
    let down = |with_cause: bool| -> Vec<String> {
        s.nodes
            .iter()
            .filter(|n| !n.up)
            .map(|n| match (&n.last_error, with_cause) {
                (Some(e), true) => format!("{} ({e})", n.endpoint),
                _ => n.endpoint.clone(),
            })
            .collect()
    };
    if s.polled_at_ms == 0 {
        return vec![Problem::NotPolledYet];
    }
    let Some(t) = &s.topology else {
        return vec![Problem::Unreachable { nodes: down(true) }];
    };
    let mut out = Vec::new();
    let nodes = down(true);
    if !nodes.is_empty() {
        out.push(Problem::NodesNotAnswering { nodes });
    }
    let unassigned = t.unassigned_slots();
    if unassigned > 0 {
        out.push(Problem::SlotsUnassigned {
            slots: unassigned,
            ranges: t.unassigned_ranges(),
        });
    }
    for shard in t.shards() {
        let m = shard.master;
        let flags = failure_flags(m.fail, m.pfail);
        if !flags.is_empty() {
            out.push(Problem::MasterFailing {
                node: m.endpoint.clone(),
                flags,
                slots: m.slot_count,
            });
        }
    }
    if !t.disagreement.is_empty() {
        out.push(Problem::ViewsDisagree {
            slots: t.disagreement.len(),
            ranges: t.disagreement.ranges(),
        });
    }
    let open = t.open_migrations();
    if !open.is_empty() {
        out.push(Problem::MigrationsOpen {
            migrations: open
                .iter()
                .map(|m| {
                    let (from, to) = (t.endpoint_of(&m.source), t.endpoint_of(&m.target));
                    match m.mechanism {
                        Mechanism::Classic => format!("{} {from}->{to}", format_ranges(&m.ranges)),
                        Mechanism::Atomic => format!(
                            "{} {from}->{to} (atomic, {})",
                            format_ranges(&m.ranges),
                            m.state
                        ),
                    }
                })
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::snapshot::testdata::snapshot_of;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;
    use crate::topology::testdata::*;

    #[test]
    fn a_healthy_cluster_has_no_problem() {
        assert_eq!(problems(&snapshot_of(&healthy(), &[])), vec![]);
    }

    #[test]
    fn before_the_first_poll_and_when_unreachable() {
        assert_eq!(problems(&Snapshot::empty("x")), vec![Problem::NotPolledYet]);
        let mut s = snapshot_of(&healthy(), &["127.0.0.1:30001"]);
        s.topology = None;
        let p = problems(&s);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].to_string(),
            "no node could be read: 127.0.0.1:30001 (connection failed: refused)"
        );
    }

    #[test]
    fn each_problem_is_found_and_worded() {
        let broken = healthy()
            .replace("10923-16383", "10923-16000")
            .replace("30002@31002 master", "30002@31002 master,fail")
            .replace("0-5460", &format!("0-5460 [7->-{B}]"));
        let text: Vec<String> = problems(&snapshot_of(&broken, &["127.0.0.1:30006"]))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "1 node(s) did not answer: 127.0.0.1:30006 (connection failed: refused)",
                "383 slot(s) have no owner: 16001-16383",
                "master 127.0.0.1:30002 is flagged fail and owns 5462 slot(s)",
                "1 slot migration(s) open: 7 127.0.0.1:30001->127.0.0.1:30002",
            ]
        );
    }

    #[test]
    fn disagreeing_views_are_a_problem() {
        // B's view says A owns one slot less than A's own view does.
        let a = parse_view(&healthy()).unwrap();
        let b = parse_view(
            &healthy()
                .replace(
                    "myself,master - 0 1426238316000 1 connected 0-5460",
                    "master - 0 1426238316000 1 connected 0-5459",
                )
                .replace("30002@31002 master", "30002@31002 myself,master"),
        )
        .unwrap();
        let mut s = snapshot_of(&healthy(), &[]);
        s.topology = Some(Arc::new(merge(&[a, b], 1)));
        let p = problems(&s);
        assert_eq!(
            p,
            vec![Problem::ViewsDisagree {
                slots: 1,
                ranges: vec![SlotRange::single(5460)]
            }]
        );
    }
}
