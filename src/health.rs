//! The one health judgement of a cluster, from one snapshot: what `slotwatch check` reports
//! and what the landing page shows. Pure.
//!
//! Adding a problem means adding a variant, its sentence and its test here; both readers pick
//! it up.

use std::fmt;

use serde::Serialize;

use crate::slot::{SlotRange, format_ranges};
use crate::snapshot::Snapshot;
use crate::topology::event::EventKind;
use crate::topology::{Mechanism, OpenMigration};

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
    /// Open migrations that have shown no progress for [`STUCK_AFTER_S`] or more.
    MigrationsStuck {
        /// `slots source->target` of each, with how long it has been still.
        migrations: Vec<String>,
    },
    /// Atomic migrations that failed in the last [`FAILED_RECENTLY_MS`], their slots not moved
    /// by a later migration since.
    MigrationsFailed {
        /// The failure events' sentences, with their times.
        migrations: Vec<String>,
    },
}

/// Seconds without progress after which an open migration is stuck. A live driver shows
/// progress within seconds: `redis-cli --cluster reshard` moves keys in batches without pause,
/// and an atomic job changes state or update time as it goes. Ten minutes of nothing means
/// that nothing is driving it, and it is flagged before the 15-minute age alert
/// (`RedisClusterSlotMigrationStuck`), which counts from the opening even while keys move.
pub const STUCK_AFTER_S: f64 = 600.0;

/// How long a failed migration stays a problem: the redirect history's window, so that its
/// mark is still on the cluster page's chart.
pub const FAILED_RECENTLY_MS: u64 = crate::snapshot::redirects::WINDOW_MS;

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
            Problem::MigrationsStuck { migrations } => write!(
                f,
                "{} slot migration(s) stuck: {}",
                migrations.len(),
                migrations.join(", ")
            ),
            Problem::MigrationsFailed { migrations } => write!(
                f,
                "{} slot migration(s) failed: {}",
                migrations.len(),
                migrations.join("; ")
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
    let describe = |m: &OpenMigration| {
        let (from, to) = (t.endpoint_of(&m.source), t.endpoint_of(&m.target));
        match m.mechanism {
            Mechanism::Classic => format!("{} {from}->{to}", format_ranges(&m.ranges)),
            Mechanism::Atomic => format!(
                "{} {from}->{to} (atomic, {})",
                format_ranges(&m.ranges),
                m.state
            ),
        }
    };
    if !open.is_empty() {
        out.push(Problem::MigrationsOpen {
            migrations: open.iter().map(describe).collect(),
        });
    }
    let stuck: Vec<String> = open
        .iter()
        .filter_map(|m| {
            let p = s.progress.get(&m.id)?;
            let still = s.polled_at_ms.saturating_sub(p.progressed_ms) as f64 / 1000.0;
            (still >= STUCK_AFTER_S).then(|| {
                format!(
                    "{}, no progress for {:.0} min",
                    describe(m),
                    (still / 60.0).floor()
                )
            })
        })
        .collect();
    if !stuck.is_empty() {
        out.push(Problem::MigrationsStuck { migrations: stuck });
    }
    let failed = recent_failures(s);
    if !failed.is_empty() {
        out.push(Problem::MigrationsFailed { migrations: failed });
    }
    out
}

/// Migration failures of the last [`FAILED_RECENTLY_MS`] whose slots no later migration moved.
fn recent_failures(s: &Snapshot) -> Vec<String> {
    let since = s.polled_at_ms.saturating_sub(FAILED_RECENTLY_MS);
    s.events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.timestamp_ms >= since)
        .filter_map(|(i, e)| match &e.kind {
            EventKind::MigrationFailed { scope, .. } => Some((i, e, scope)),
            _ => None,
        })
        .filter(|(i, _, failed)| {
            let mut later = crate::slot::SlotSet::new();
            for e in &s.events[i + 1..] {
                if let EventKind::MigrationFinished { scope, .. } = &e.kind {
                    scope.ranges.iter().for_each(|r| later.insert_range(*r));
                }
            }
            !failed
                .ranges
                .iter()
                .flat_map(|r| r.slots())
                .all(|slot| later.contains(slot))
        })
        .map(|(_, e, _)| format!("{} (at {})", e.message, e.time))
        .collect()
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

    /// A snapshot polled at `now_ms` with slot 7 migrating from A to B, last progressing at
    /// `progressed_ms`.
    fn migrating(now_ms: u64, progressed_ms: u64) -> Snapshot {
        let mut s = snapshot_of(
            &healthy().replace("0-5460", &format!("0-5460 [7->-{B}]")),
            &[],
        );
        s.polled_at_ms = now_ms;
        let m = &s.topology.as_ref().unwrap().migrations[0];
        let id = crate::topology::MigrationId::Classic(7, m.source, m.target);
        let p = crate::snapshot::Progress {
            opened_ms: 0,
            progressed_ms,
            keys_left: Some(3),
        };
        s.progress = Arc::new([(id, p)].into());
        s
    }

    #[test]
    fn a_migration_without_progress_for_ten_minutes_is_stuck() {
        let now = 100_000_000;
        let stuck = |s: &Snapshot| {
            problems(s)
                .into_iter()
                .filter(|p| matches!(p, Problem::MigrationsStuck { .. }))
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(stuck(&migrating(now, now - 599_000)), Vec::<String>::new());
        assert_eq!(
            stuck(&migrating(now, now - 754_000)),
            [
                "1 slot migration(s) stuck: 7 127.0.0.1:30001->127.0.0.1:30002, no progress for 12 min"
            ]
        );
        assert!(
            problems(&migrating(now, now - 754_000))
                .iter()
                .any(|p| matches!(p, Problem::MigrationsOpen { .. })),
            "still open too"
        );
    }

    fn event(at_ms: u64, kind: EventKind) -> crate::topology::event::Event {
        crate::topology::event::Event {
            timestamp_ms: at_ms,
            time: crate::clock::rfc3339(at_ms),
            message: kind.to_string(),
            kind,
            end_ms: None,
            end_time: None,
        }
    }

    #[test]
    fn a_recent_migration_failure_is_a_problem_until_its_slots_move() {
        use crate::topology::event::{MigrationScope, NodeRef};
        let t = merge(&[parse_view(&healthy()).unwrap()], 0);
        let (a, b) = (NodeRef::of(&t.nodes[0]), NodeRef::of(&t.nodes[1]));
        let scope = MigrationScope {
            mechanism: Mechanism::Atomic,
            slot: None,
            ranges: vec![SlotRange::new(0, 99).unwrap()],
            job: Some("job1".into()),
        };
        let failed = |at| {
            event(
                at,
                EventKind::MigrationFailed {
                    scope: scope.clone(),
                    from: a.clone(),
                    to: b.clone(),
                    message: "target unreachable".into(),
                    lost_writes: true,
                },
            )
        };
        let now = 100_000_000;
        let mut s = snapshot_of(&healthy(), &[]);
        s.polled_at_ms = now;
        s.events = Arc::new(vec![failed(now - 60_000)]);
        let p = problems(&s);
        assert_eq!(p.len(), 1, "{p:?}");
        let text = p[0].to_string();
        assert!(
            text.starts_with("1 slot migration(s) failed: migration_failed: ")
                && text.contains("target unreachable")
                && text.ends_with("(at 1970-01-02T03:45:40.000Z)"),
            "{text}"
        );
        // Older than the window: no longer a problem.
        s.events = Arc::new(vec![failed(now - FAILED_RECENTLY_MS - 1)]);
        assert_eq!(problems(&s), vec![]);
        // Retried and finished: resolved.
        let finished = event(
            now - 30_000,
            EventKind::MigrationFinished {
                scope: scope.clone(),
                from: a.clone(),
                to: b.clone(),
            },
        );
        s.events = Arc::new(vec![failed(now - 60_000), finished]);
        assert_eq!(problems(&s), vec![]);
    }
}
