//! Valkey 9's atomic slot migrations (`CLUSTER MIGRATESLOTS`), from the `CLUSTER
//! GETSLOTMIGRATIONS` replies of the masters. Pure.
//!
//! An atomic migration prints no marker in `CLUSTER NODES` and sends no ASK: clients are served
//! by the source until a short write pause at the cut-over, then get MOVED. Its only trace is
//! the job log each primary keeps in memory (`cluster-slot-migration-log-max-len` entries,
//! newest first): the source has an EXPORT entry and the target an IMPORT entry with the same
//! job name. Replicas of the target keep tracking entries without source and target, which can
//! go stale when their primary dies; only masters' entries are used.

use std::collections::BTreeMap;

use serde::Serialize;

use super::NodeId;
use crate::slot::{SlotRange, parse_slot};

/// Which side of a job a node reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// The source's entry.
    Export,
    /// The target's (or a target replica's) entry.
    Import,
}

/// One entry of a node's `CLUSTER GETSLOTMIGRATIONS` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's name, the same on source and target.
    pub name: String,
    /// Which side reported it.
    pub operation: Operation,
    /// The slots it moves.
    pub ranges: Vec<SlotRange>,
    /// The source master; absent on replicas' tracking entries.
    pub source: Option<NodeId>,
    /// The target master; absent on replicas' tracking entries.
    pub target: Option<NodeId>,
    /// Unix seconds when the job was created.
    pub created_s: u64,
    /// Unix seconds of the job's last state change.
    pub updated_s: u64,
    /// The state, e.g. `snapshotting`, `success`.
    pub state: String,
    /// The server's message, empty unless it failed; trailing line breaks removed.
    pub message: String,
}

/// Why an entry could not be read; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A required field is absent.
    #[error("GETSLOTMIGRATIONS entry {entry}: no {field}")]
    Missing {
        /// 0-based index of the entry.
        entry: usize,
        /// The field.
        field: &'static str,
    },
    /// A field has a value it cannot have.
    #[error("GETSLOTMIGRATIONS entry {entry}: {field}: unexpected {value:?}")]
    Bad {
        /// 0-based index of the entry.
        entry: usize,
        /// The field.
        field: &'static str,
        /// The value, shortened.
        value: String,
    },
}

/// Reads the entries of one reply, each given as its (field, value) pairs in reply order.
/// Unknown fields are ignored: the reply grows between versions (9.1 added
/// `remaining_repl_size`).
pub fn parse_jobs(entries: &[Vec<(String, String)>]) -> Result<Vec<Job>, JobError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, fields)| parse_job(i, fields))
        .collect()
}

fn parse_job(entry: usize, fields: &[(String, String)]) -> Result<Job, JobError> {
    let get = |field: &'static str| fields.iter().find(|(k, _)| k == field).map(|(_, v)| v);
    let need = |field: &'static str| get(field).ok_or(JobError::Missing { entry, field });
    let bad = |field: &'static str, value: &str| JobError::Bad {
        entry,
        field,
        value: value.chars().take(64).collect(),
    };
    let id = |field: &'static str| -> Result<Option<NodeId>, JobError> {
        match get(field) {
            None => Ok(None),
            Some(v) => NodeId::parse(v).map(Some).ok_or_else(|| bad(field, v)),
        }
    };
    let seconds = |field: &'static str| -> Result<u64, JobError> {
        let v = need(field)?;
        v.parse().map_err(|_| bad(field, v))
    };
    let operation = match need("operation")?.to_ascii_uppercase().as_str() {
        "EXPORT" => Operation::Export,
        "IMPORT" => Operation::Import,
        _ => return Err(bad("operation", need("operation")?)),
    };
    let ranges_text = need("slot_ranges")?;
    let ranges = parse_ranges(ranges_text).ok_or_else(|| bad("slot_ranges", ranges_text))?;
    let name = need("name")?;
    if name.is_empty() {
        return Err(bad("name", name));
    }
    Ok(Job {
        name: name.clone(),
        operation,
        ranges,
        source: id("source_node")?,
        target: id("target_node")?,
        created_s: seconds("create_time")?,
        updated_s: seconds("last_update_time")?,
        state: need("state")?.clone(),
        message: get("message")
            .map(|m| m.trim_end_matches(['\r', '\n']).to_owned())
            .unwrap_or_default(),
    })
}

/// `100-110 200-200` to ranges; `None` if any part is not `start-end` with start <= end.
fn parse_ranges(text: &str) -> Option<Vec<SlotRange>> {
    let ranges = text
        .split_whitespace()
        .map(|part| {
            let (a, b) = part.split_once('-')?;
            SlotRange::new(parse_slot(a).ok()?, parse_slot(b).ok()?).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    (!ranges.is_empty()).then_some(ranges)
}

/// How a job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Not finished yet.
    Running,
    /// The target owns the slots.
    Success,
    /// It failed; the message says why.
    Failed,
    /// Someone cancelled it (`CLUSTER CANCELSLOTMIGRATIONS`).
    Cancelled,
}

impl Phase {
    /// The phase of a server state: `success`, `failed` and `cancelled` are terminal, anything
    /// else is running.
    pub fn of(state: &str) -> Phase {
        match state {
            "success" => Phase::Success,
            "failed" => Phase::Failed,
            "cancelled" => Phase::Cancelled,
            _ => Phase::Running,
        }
    }
}

/// One atomic migration as the masters report it, source and target entries combined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtomicMigration {
    /// The job's name.
    pub name: String,
    /// The source master.
    pub source: NodeId,
    /// The target master.
    pub target: NodeId,
    /// The slots it moves.
    pub ranges: Vec<SlotRange>,
    /// How many slots.
    pub slots: u32,
    /// The authoritative state: the source's when it reported the job, else the target's.
    pub state: String,
    /// Running or how it ended.
    pub phase: Phase,
    /// The server's message, empty unless it failed.
    pub message: String,
    /// Unix ms when the job was created.
    pub created_ms: u64,
    /// Unix ms of its last state change on the reporting side.
    pub updated_ms: u64,
}

impl AtomicMigration {
    /// True if the failure message says writes may have been lost: the source resumed writes
    /// before the target took over, so the migration may have succeeded without them.
    pub fn lost_writes(&self) -> bool {
        self.phase == Phase::Failed && self.message.to_ascii_lowercase().contains("lost writes")
    }
}

/// Combines the jobs the masters reported, one migration per job name. The source's (EXPORT)
/// entry decides the state: when a source cancels, its target reports a failure ("connection
/// lost to source") that is only the echo of the cancel.
pub fn combine<'a>(reports: impl IntoIterator<Item = &'a Job>) -> Vec<AtomicMigration> {
    let mut by_name: BTreeMap<&str, &Job> = BTreeMap::new();
    for job in reports {
        let (Some(_), Some(_)) = (job.source, job.target) else {
            continue;
        };
        let keep = match by_name.get(job.name.as_str()) {
            None => true,
            Some(kept) => kept.operation == Operation::Import && job.operation == Operation::Export,
        };
        if keep {
            by_name.insert(&job.name, job);
        }
    }
    let mut out: Vec<AtomicMigration> = by_name
        .into_values()
        .filter_map(|j| {
            Some(AtomicMigration {
                name: j.name.clone(),
                source: j.source?,
                target: j.target?,
                slots: j.ranges.iter().map(SlotRange::len).sum(),
                ranges: j.ranges.clone(),
                state: j.state.clone(),
                phase: Phase::of(&j.state),
                message: j.message.clone(),
                created_ms: j.created_s.saturating_mul(1000),
                updated_ms: j.updated_s.saturating_mul(1000),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.created_ms, &a.name).cmp(&(b.created_ms, &b.name)));
    out
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn reads_a_valkey_reply() {
        let jobs = parse_jobs(&[entry("e1e1", "EXPORT", "snapshotting", "")]).unwrap();
        let j = &jobs[0];
        assert_eq!(j.operation, Operation::Export);
        assert_eq!(
            j.ranges,
            [SlotRange::new(100, 110).unwrap(), SlotRange::single(200)]
        );
        assert_eq!((j.source, j.target), (NodeId::parse(A), NodeId::parse(B)));
        assert_eq!((j.created_s, j.updated_s), (1795603913, 1795603932));
        let failed = parse_jobs(&[entry(
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
        let jobs = parse_jobs(&[tracking]).unwrap();
        assert_eq!((jobs[0].source, jobs[0].target), (None, None));
        assert!(combine(&jobs).is_empty());
    }

    #[test]
    fn bad_entries_name_the_field() {
        let mut e = entry("x", "EXPORT", "success", "");
        e.retain(|(k, _)| k != "state");
        assert_eq!(
            parse_jobs(&[e]).unwrap_err().to_string(),
            "GETSLOTMIGRATIONS entry 0: no state"
        );
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
            let err = parse_jobs(&[e]).unwrap_err().to_string();
            assert!(err.contains(field), "{field}={value}: {err}");
        }
    }

    #[test]
    fn the_sources_entry_decides_and_terminal_states_are_phases() {
        let target = parse_jobs(&[entry(
            "j1",
            "IMPORT",
            "failed",
            "Connection lost to source. Check CLUSTER GETSLOTMIGRATIONS on the source node for more information.",
        )])
        .unwrap();
        let source = parse_jobs(&[entry("j1", "EXPORT", "cancelled", "")]).unwrap();
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
        let jobs = parse_jobs(&[entry(
            "j",
            "EXPORT",
            "failed",
            "Unpaused before migration completed (migration may have succeeded with lost writes)",
        )])
        .unwrap();
        assert!(combine(&jobs)[0].lost_writes());
        let timeout = parse_jobs(&[entry(
            "j",
            "EXPORT",
            "failed",
            "Timed out after too long with no interaction",
        )])
        .unwrap();
        assert!(!combine(&timeout)[0].lost_writes());
    }
}
