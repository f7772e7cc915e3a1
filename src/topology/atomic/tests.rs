//! The job parsers of both dialects, and how their entries combine.

use super::*;
use crate::topology::testdata::{A, B};

/// An entry as Valkey 9.1.2 prints it.
pub(crate) fn entry(name: &str, op: &str, state: &str, message: &str) -> Vec<(String, String)> {
    [
        ("name", name),
        ("operation", op),
        ("slot_ranges", "100-110 200-200"),
        ("target_node", B),
        ("source_node", A),
        ("create_time", "1795603913"),
        ("last_update_time", "1795603932"),
        ("last_ack_time", "1795603931"),
        ("state", state),
        ("message", message),
        ("cow_size", "0"),
        ("remaining_repl_size", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn valkey(entries: &[Vec<(String, String)>]) -> Result<Vec<Job>, JobError> {
    parse_jobs(Dialect::Valkey, entries)
}

#[test]
fn reads_a_valkey_reply() {
    let jobs = valkey(&[entry("e1e1", "EXPORT", "snapshotting", "")]).unwrap();
    let j = &jobs[0];
    assert_eq!(j.operation, Operation::Export);
    assert_eq!(
        j.ranges,
        [SlotRange::new(100, 110).unwrap(), SlotRange::single(200)]
    );
    assert_eq!((j.source, j.target), (NodeId::parse(A), NodeId::parse(B)));
    assert_eq!(
        (j.created_ms, j.updated_ms),
        (1_795_603_913_000, 1_795_603_932_000)
    );
    let failed = valkey(&[entry(
        "x",
        "EXPORT",
        "failed",
        "Received error during handshake to target: -ERR Slots are being manually imported\r\n",
    )])
    .unwrap();
    assert!(failed[0].message.ends_with("manually imported"), "trimmed");
}

#[test]
fn a_replica_tracking_entry_has_no_source_or_target_and_is_not_combined() {
    let mut tracking = entry("e1e1", "IMPORT", "occurring-on-primary", "");
    tracking.retain(|(k, _)| k != "source_node" && k != "target_node");
    let jobs = valkey(&[tracking]).unwrap();
    assert_eq!((jobs[0].source, jobs[0].target), (None, None));
    assert!(combine(&jobs).is_empty());
}

#[test]
fn bad_entries_name_the_field() {
    let mut e = entry("x", "EXPORT", "success", "");
    e.retain(|(k, _)| k != "state");
    assert_eq!(valkey(&[e]).unwrap_err().to_string(), "entry 0: no state");
    for (field, value) in [
        ("slot_ranges", "100"),
        ("slot_ranges", "9-3"),
        ("slot_ranges", "0-16384"),
        ("operation", "MOVE"),
        ("source_node", "abc"),
        ("create_time", "-1"),
    ] {
        let mut e = entry("x", "EXPORT", "success", "");
        for (k, v) in &mut e {
            if k == field {
                *v = value.into();
            }
        }
        let err = valkey(&[e]).unwrap_err().to_string();
        assert!(err.contains(field), "{field}={value}: {err}");
    }
}

#[test]
fn the_sources_entry_decides_and_terminal_states_are_phases() {
    let target = valkey(&[entry(
        "j1",
        "IMPORT",
        "failed",
        "Connection lost to source. Check CLUSTER GETSLOTMIGRATIONS on the source node for more information.",
    )])
    .unwrap();
    let source = valkey(&[entry("j1", "EXPORT", "cancelled", "")]).unwrap();
    for order in [[&target[0], &source[0]], [&source[0], &target[0]]] {
        let m = combine(order);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].phase, m[0].message.as_str()), (Phase::Cancelled, ""));
        assert_eq!(m[0].slots, 12);
        assert_eq!(m[0].created_ms, 1_795_603_913_000);
    }
    // Without the source's entry (source unreachable), the target's is what is known.
    let m = combine(&target);
    assert_eq!(m[0].phase, Phase::Failed);
    assert_eq!(Phase::of("snapshotting"), Phase::Running);
    assert_eq!(Phase::of("unknown"), Phase::Running);
}

#[test]
fn lost_writes_are_recognised() {
    let jobs = valkey(&[entry(
        "j",
        "EXPORT",
        "failed",
        "Unpaused before migration completed (migration may have succeeded with lost writes)",
    )])
    .unwrap();
    assert!(combine(&jobs)[0].lost_writes());
    let timeout = valkey(&[entry(
        "j",
        "EXPORT",
        "failed",
        "Timed out after too long with no interaction",
    )])
    .unwrap();
    assert!(!combine(&timeout)[0].lost_writes());
}

/// A task as Redis 8.4's `CLUSTER MIGRATION STATUS ALL` documents it: times in Unix ms,
/// -1 when unset.
fn task(op: &str, state: &str, end: &str, last_error: &str) -> Vec<(String, String)> {
    [
        ("id", "24cf41718b20f7f05901743dffc40bc9b15db339"),
        ("slots", "0-99 200-200"),
        ("source", A),
        ("dest", B),
        ("operation", op),
        ("state", state),
        ("last_error", last_error),
        ("retries", "0"),
        ("create_time", "1764000000123"),
        ("start_time", "1764000000200"),
        ("end_time", end),
        ("write_pause_ms", "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn redis(entries: &[Vec<(String, String)>]) -> Result<Vec<Job>, JobError> {
    parse_jobs(Dialect::Redis, entries)
}

#[test]
fn reads_a_redis_8_4_reply_into_valkey_s_terms() {
    let jobs = redis(&[
        task("import", "accumulate-buffer", "-1", ""),
        task("migrate", "completed", "1764000004000", ""),
    ])
    .unwrap();
    let (running, done) = (&jobs[0], &jobs[1]);
    assert_eq!(running.name, "24cf41718b20f7f05901743dffc40bc9b15db339");
    assert_eq!(
        (running.operation, done.operation),
        (Operation::Import, Operation::Export)
    );
    assert_eq!(
        running.ranges,
        [SlotRange::new(0, 99).unwrap(), SlotRange::single(200)]
    );
    assert_eq!(
        (running.source, running.target),
        (NodeId::parse(A), NodeId::parse(B))
    );
    // Already in ms; an unset end leaves the start as the latest change.
    assert_eq!(
        (running.created_ms, running.updated_ms),
        (1_764_000_000_123, 1_764_000_000_200)
    );
    assert_eq!(done.updated_ms, 1_764_000_004_000);
    assert_eq!(
        (running.state.as_str(), done.state.as_str()),
        ("accumulate-buffer", "success")
    );
    let canceled = redis(&[task(
        "import",
        "canceled",
        "1764000001000",
        "Cancelled due to user request\r\n",
    )])
    .unwrap();
    assert_eq!(canceled[0].state, "cancelled");
    assert_eq!(canceled[0].message, "Cancelled due to user request");
    let m = combine(&canceled);
    assert_eq!((m[0].phase, m[0].slots), (Phase::Cancelled, 101));
    assert_eq!(
        Phase::of(&redis(&[task("import", "failed", "1", "x")]).unwrap()[0].state),
        Phase::Failed
    );
}

#[test]
fn on_redis_the_destination_s_entry_decides() {
    // Redis pulls: a cancel on the destination reaches the source as a broken link.
    let dest = redis(&[task(
        "import",
        "canceled",
        "1764000001000",
        "Cancelled due to user request",
    )])
    .unwrap();
    let source = redis(&[task(
        "migrate",
        "failed",
        "1764000001000",
        "Main and RDB channel clients are disconnected.",
    )])
    .unwrap();
    for order in [[&dest[0], &source[0]], [&source[0], &dest[0]]] {
        assert_eq!(combine(order)[0].phase, Phase::Cancelled);
    }
    assert!(dest[0].drives && !source[0].drives);
}

#[test]
fn bad_redis_entries_name_the_field() {
    for (field, value) in [
        ("slots", "0-99-1"),
        ("operation", "importing"),
        ("source", "zz"),
        ("dest", ""),
        ("create_time", "soon"),
        ("end_time", "-2"),
        ("id", ""),
    ] {
        let mut t = task("import", "connecting", "-1", "");
        for (k, v) in &mut t {
            if k == field {
                *v = value.into();
            }
        }
        let err = redis(&[t]).unwrap_err().to_string();
        assert!(err.contains(field), "{field}={value}: {err}");
    }
    let mut t = task("import", "connecting", "-1", "");
    t.retain(|(k, _)| k != "slots");
    assert_eq!(redis(&[t]).unwrap_err().to_string(), "entry 0: no slots");
    // Valkey's field names are not Redis's: a Valkey entry read as Redis is refused.
    let valkey_entry = entry("j", "EXPORT", "success", "");
    assert!(redis(&[valkey_entry]).is_err());
}

#[test]
fn each_dialect_names_its_command() {
    assert_eq!(Dialect::Valkey.command_line(), "CLUSTER GETSLOTMIGRATIONS");
    assert_eq!(
        Dialect::Redis.command_line(),
        "CLUSTER MIGRATION STATUS ALL"
    );
}
