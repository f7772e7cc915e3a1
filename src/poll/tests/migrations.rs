//! Migrations across polls: atomic jobs from the masters' logs, and classic progress.

use super::*;
use crate::poll::plan::Sampling;
use crate::topology::MigrationId;
use crate::topology::atomic::{Dialect, parse_jobs};

/// An atomic job of slots 0-99 from A (30001) to B (30002), as `side` reports it.
fn job(side: &str, state: &str, message: &str, created_s: u64) -> Job {
    let created = created_s.to_string();
    let fields: Vec<(String, String)> = [
        ("name", "4a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"),
        ("operation", side),
        ("slot_ranges", "0-99"),
        ("target_node", B),
        ("source_node", A),
        ("create_time", created.as_str()),
        ("last_update_time", created.as_str()),
        ("last_ack_time", created.as_str()),
        ("state", state),
        ("message", message),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    parse_jobs(Dialect::Valkey, &[fields]).unwrap().remove(0)
}

/// The cluster after slots 0-99 moved from A to B, B's epoch bumped.
fn moved() -> String {
    healthy()
        .replace("0-5460", "100-5460")
        .replace(" 2 connected 5461-10922", " 8 connected 0-99 5461-10922")
}

/// World time is 1_700_000_000 s plus the poll number: job times near it are "now".
const NOW_S: u64 = 1_700_000_000;

#[test]
fn an_atomic_migration_is_started_then_finished_and_its_reshard_once() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.jobs.insert(
        ep(30001),
        vec![job("EXPORT", "snapshotting", "", NOW_S + 2)],
    );
    world.jobs.insert(
        ep(30002),
        vec![job("IMPORT", "receiving-snapshot", "", NOW_S + 2)],
    );
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["migration_started"]);
    assert_eq!(
        o.events[0].message,
        "migration_started: 100 slots 0-99 migrating 127.0.0.1:30001 -> 127.0.0.1:30002 (atomic, job 4a0b1c2d)"
    );
    let open = o.snapshot.topology.as_ref().unwrap().open_migrations();
    assert_eq!(
        (open.len(), open[0].state),
        (1, "snapshotting"),
        "the source's state"
    );
    world.poll(&mut s);
    world.text = moved();
    world
        .jobs
        .insert(ep(30001), vec![job("EXPORT", "success", "", NOW_S + 2)]);
    world
        .jobs
        .insert(ep(30002), vec![job("IMPORT", "success", "", NOW_S + 2)]);
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["reshard", "migration_finished"]);
    for _ in 0..3 {
        assert!(world.poll(&mut s).events.is_empty(), "no repeats");
    }
}

#[test]
fn a_job_that_ran_between_two_polls_is_still_seen_and_old_ones_are_history() {
    let mut world = World::new(healthy());
    // A job that finished long before slotwatch started: not an event.
    let old = Job {
        name: "0000000000000000000000000000000000000001".into(),
        ..job("EXPORT", "success", "", NOW_S - 3600)
    };
    world.jobs.insert(ep(30001), vec![old.clone()]);
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.poll(&mut s);
    world.text = moved();
    world.jobs.insert(
        ep(30001),
        vec![job("EXPORT", "success", "", NOW_S + 2), old],
    );
    let o = world.poll(&mut s);
    assert_eq!(
        kinds(&o),
        ["reshard", "migration_started", "migration_finished"]
    );
}

#[test]
fn a_cancel_is_one_event_with_the_sources_word_and_a_failure_carries_its_message() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.jobs.insert(
        ep(30001),
        vec![job("EXPORT", "snapshotting", "", NOW_S + 2)],
    );
    world.poll(&mut s);
    world
        .jobs
        .insert(ep(30001), vec![job("EXPORT", "cancelled", "", NOW_S + 2)]);
    world.jobs.insert(
        ep(30002),
        vec![job(
            "IMPORT",
            "failed",
            "Connection lost to source.",
            NOW_S + 2,
        )],
    );
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["migration_cancelled"]);

    let lost =
        "Unpaused before migration completed (migration may have succeeded with lost writes)";
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.jobs.insert(
        ep(30001),
        vec![job("EXPORT", "waiting-to-pause", "", NOW_S + 2)],
    );
    world.poll(&mut s);
    world
        .jobs
        .insert(ep(30001), vec![job("EXPORT", "failed", lost, NOW_S + 2)]);
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["migration_failed"]);
    assert!(o.events[0].message.ends_with("(writes may have been lost)"));
    assert_eq!(o.snapshot.stats.lost_writes_total, 1);
}

#[test]
fn replicas_job_logs_are_not_migrations() {
    let mut world = World::new(healthy());
    let mut tracking = job("IMPORT", "occurring-on-primary", "", NOW_S + 2);
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    // A replica's stale entry, even with source and target filled in, says nothing.
    tracking.source = crate::topology::NodeId::parse(A);
    tracking.target = crate::topology::NodeId::parse(B);
    world.jobs.insert(ep(30005), vec![tracking]);
    let o = world.poll(&mut s);
    assert!(o.events.is_empty(), "{:?}", kinds(&o));
    assert!(o.snapshot.topology.as_ref().unwrap().atomic.is_empty());
    assert!(
        !world.visited[1].is_empty() && world.counted[1].is_empty(),
        "nothing to count"
    );
}

#[test]
fn a_running_job_survives_a_poll_that_cannot_read_its_masters() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.jobs.insert(
        ep(30001),
        vec![job("EXPORT", "snapshotting", "", NOW_S + 2)],
    );
    world.poll(&mut s);
    world.down.insert(ep(30001));
    world.down.insert(ep(30002));
    let o = world.poll(&mut s);
    assert!(o.events.is_empty(), "unknown is not ended: {:?}", kinds(&o));
    assert_eq!(
        o.snapshot
            .topology
            .as_ref()
            .unwrap()
            .open_migrations()
            .len(),
        1
    );
}

#[test]
fn classic_migrations_count_keys_on_the_source_to_tell_progress() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    world.text = healthy().replace("0-5460", &format!("0-5460 [7->-{B}]"));
    world.keys.insert((ep(30001), 7), 500);
    world.poll(&mut s);
    // The poll after the migration is seen counts the slot's keys on its source only.
    let o = world.poll(&mut s);
    assert_eq!(world.counted[2], [(ep(30001), vec![7])]);
    let id = MigrationId::Classic(
        7,
        crate::topology::NodeId::parse(A).unwrap(),
        crate::topology::NodeId::parse(B).unwrap(),
    );
    let first = o.snapshot.progress[&id];
    assert_eq!(first.keys_left, Some(500));
    world.keys.insert((ep(30001), 7), 200);
    let o = world.poll(&mut s);
    let p = o.snapshot.progress[&id];
    assert_eq!(p.keys_left, Some(200));
    assert!(p.progressed_ms > first.progressed_ms);
    let o = world.poll(&mut s);
    assert!(
        o.snapshot.migration_stalled_s() >= 1.0,
        "no keys moved this poll"
    );
}
