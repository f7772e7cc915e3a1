//! Each problem found and worded, and the boundaries of its thresholds.

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
        ["1 slot migration(s) stuck: 7 127.0.0.1:30001->127.0.0.1:30002, no progress for 12 min"]
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

#[test]
fn a_migration_is_stuck_from_exactly_ten_minutes_without_progress() {
    let now = 100_000_000;
    let stuck = |s: &Snapshot| {
        problems(s)
            .into_iter()
            .find(|p| matches!(p, Problem::MigrationsStuck { .. }))
            .map(|p| p.to_string())
    };
    assert_eq!(
        stuck(&migrating(now, now - 599_999)),
        None,
        "a millisecond short"
    );
    assert_eq!(
        stuck(&migrating(now, now - 600_000)).as_deref(),
        Some(
            "1 slot migration(s) stuck: 7 127.0.0.1:30001->127.0.0.1:30002, no progress for 10 min"
        ),
        "STUCK_AFTER_S or more is stuck"
    );
    // Whole minutes only: 19 min 59 s is still 19 min.
    assert!(
        stuck(&migrating(now, now - 1_199_000))
            .unwrap()
            .ends_with("no progress for 19 min")
    );
}

#[test]
fn an_open_atomic_migration_is_named_with_its_state() {
    use crate::topology::atomic::{AtomicMigration, Phase};
    let mut s = snapshot_of(&healthy(), &[]);
    let mut t = (**s.topology.as_ref().unwrap()).clone();
    let id = |endpoint: &str| t.nodes.iter().find(|n| n.endpoint == endpoint).unwrap().id;
    let job = AtomicMigration {
        name: "job1".into(),
        source: id("127.0.0.1:30001"),
        target: id("127.0.0.1:30002"),
        ranges: vec![SlotRange::new(0, 99).unwrap()],
        slots: 100,
        state: "snapshotting".into(),
        phase: Phase::Running,
        message: String::new(),
        created_ms: 1_000,
        updated_ms: 1_000,
    };
    t.atomic = vec![job];
    s.topology = Some(Arc::new(t));
    let text: Vec<String> = problems(&s).iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["1 slot migration(s) open: 0-99 127.0.0.1:30001->127.0.0.1:30002 (atomic, snapshotting)"]
    );
}

#[test]
fn a_master_flagged_possibly_failing_or_both_is_a_problem() {
    assert_eq!(failure_flags(false, false), Vec::<&str>::new());
    assert_eq!(failure_flags(true, false), ["fail"]);
    assert_eq!(failure_flags(false, true), ["fail?"]);
    assert_eq!(failure_flags(true, true), ["fail", "fail?"]);
    let pfail = healthy().replace("30002@31002 master", "30002@31002 master,fail?");
    let text: Vec<String> = problems(&snapshot_of(&pfail, &[]))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
        ["master 127.0.0.1:30002 is flagged fail? and owns 5462 slot(s)"]
    );
}

#[test]
fn a_node_down_without_a_recorded_error_is_named_alone() {
    let mut s = snapshot_of(&healthy(), &["127.0.0.1:30006"]);
    s.nodes.iter_mut().for_each(|n| n.last_error = None);
    assert_eq!(
        problems(&s),
        vec![Problem::NodesNotAnswering {
            nodes: vec!["127.0.0.1:30006".into()]
        }]
    );
}

/// The failures `problems` reports as of `now_ms` after atomic migrations from A to B, each
/// `(at_ms, failed, slots)`: a `MigrationFailed` event if `failed`, else `MigrationFinished`.
fn failures(now_ms: u64, events: &[(u64, bool, SlotRange)]) -> Vec<String> {
    use crate::topology::event::{MigrationScope, NodeRef};
    let t = merge(&[parse_view(&healthy()).unwrap()], 0);
    let node =
        |endpoint: &str| NodeRef::of(t.nodes.iter().find(|n| n.endpoint == endpoint).unwrap());
    let (a, b) = (node("127.0.0.1:30001"), node("127.0.0.1:30002"));
    let scope = |r: SlotRange| MigrationScope {
        mechanism: Mechanism::Atomic,
        slot: None,
        ranges: vec![r],
        job: Some("job1".into()),
    };
    let events = events
        .iter()
        .map(|&(at, failed, r)| {
            let (scope, from, to) = (scope(r), a.clone(), b.clone());
            let kind = if failed {
                EventKind::MigrationFailed {
                    scope,
                    from,
                    to,
                    message: format!("job at {at} failed"),
                    lost_writes: false,
                }
            } else {
                EventKind::MigrationFinished { scope, from, to }
            };
            event(at, kind)
        })
        .collect();
    let mut s = snapshot_of(&healthy(), &[]);
    s.polled_at_ms = now_ms;
    s.events = Arc::new(events);
    match problems(&s).as_slice() {
        [] => vec![],
        [Problem::MigrationsFailed { migrations }] => migrations.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failure_exactly_one_window_old_is_still_recent() {
    let now = 100_000_000;
    let r = SlotRange::new(0, 99).unwrap();
    assert_eq!(
        failures(now, &[(now - FAILED_RECENTLY_MS, true, r)]).len(),
        1
    );
    assert_eq!(
        failures(now, &[(now - FAILED_RECENTLY_MS - 1, true, r)]),
        Vec::<String>::new()
    );
}

#[test]
fn only_a_later_migration_of_every_failed_slot_resolves_a_failure() {
    let now = 100_000_000;
    let all = SlotRange::new(0, 99).unwrap();
    let some = SlotRange::new(0, 49).unwrap();
    let (failed, finished) = (true, false);
    // Finished before it failed: the failure is the news.
    let p = failures(
        now,
        &[(now - 60_000, finished, all), (now - 30_000, failed, all)],
    );
    assert_eq!(p.len(), 1, "{p:?}");
    // Half the slots moved since: the other half are still where the failure left them.
    let p = failures(
        now,
        &[(now - 60_000, failed, all), (now - 30_000, finished, some)],
    );
    assert_eq!(p.len(), 1, "{p:?}");
    // The failed slots moved as part of a wider migration: resolved.
    let wider = SlotRange::new(0, 199).unwrap();
    let p = failures(
        now,
        &[(now - 60_000, failed, all), (now - 30_000, finished, wider)],
    );
    assert_eq!(p, Vec::<String>::new());
}

#[test]
fn failures_are_listed_oldest_first_each_resolved_on_its_own() {
    let now = 100_000_000;
    let (first, second) = (
        SlotRange::new(0, 99).unwrap(),
        SlotRange::new(100, 199).unwrap(),
    );
    let (failed, finished) = (true, false);
    let p = failures(
        now,
        &[
            (now - 90_000, failed, first),
            (now - 60_000, failed, second),
            (now - 50_000, failed, first),
        ],
    );
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p[0].contains(&format!("job at {} failed", now - 90_000))
            && p[1].contains(&format!("job at {} failed", now - 60_000))
            && p[2].contains(&format!("job at {} failed", now - 50_000)),
        "{p:?}"
    );
    // The second migration retried and finished; the first's slots did not move.
    let p = failures(
        now,
        &[
            (now - 90_000, failed, first),
            (now - 60_000, failed, second),
            (now - 30_000, finished, second),
        ],
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(&format!("job at {} failed", now - 90_000)),
        "{p:?}"
    );
}

#[test]
fn nodes_that_say_cluster_state_fail_are_named_masters_with_most_slots_first() {
    use crate::cluster_info::ClusterInfo;
    let info = |state_ok| ClusterInfo {
        state_ok,
        slots_pfail: 0,
        slots_fail: 0,
        known_nodes: 6,
        size: 3,
        current_epoch: 3,
        my_epoch: 1,
    };
    let mut s = snapshot_of(&healthy(), &[]);
    for n in &mut s.nodes {
        n.cluster_info = Some(info(true));
    }
    assert_eq!(problems(&s), vec![], "every node says ok");
    // 30005 is a replica; 30003 owns 5461 slots (10923-16383), 30002 5462 (5461-10922).
    for (endpoint, ok) in [
        ("127.0.0.1:30005", false),
        ("127.0.0.1:30003", false),
        ("127.0.0.1:30002", false),
    ] {
        let n = s.nodes.iter_mut().find(|n| n.endpoint == endpoint).unwrap();
        n.cluster_info = Some(info(ok));
    }
    // A node whose CLUSTER INFO is unknown (refused, or not answering) says nothing.
    s.nodes
        .iter_mut()
        .find(|n| n.endpoint == "127.0.0.1:30001")
        .unwrap()
        .cluster_info = None;
    let text: Vec<String> = problems(&s).iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "3 node(s) say cluster_state:fail and refuse commands with CLUSTERDOWN: \
          127.0.0.1:30002 (master, 5462 slots), 127.0.0.1:30003 (master, 5461 slots), \
          127.0.0.1:30005 (replica)"
        ]
    );
}
