//! Atomic slot migrations, from the masters' job logs: Valkey 9's `CLUSTER MIGRATESLOTS`
//! (read with `CLUSTER GETSLOTMIGRATIONS`) and Redis 8.4's `CLUSTER MIGRATION IMPORT` (read
//! with `CLUSTER MIGRATION STATUS ALL`), normalised into one [`Job`]. Pure.
//!
//! An atomic migration prints no marker in `CLUSTER NODES` and sends no ASK: clients are served
//! by the source until a short write pause at the cut-over, then get MOVED. Its only trace is
//! the job log each primary keeps in memory: the source has an export entry and the target an
//! import entry with the same job name. Valkey's replicas of the target keep tracking entries
//! without source and target, which can go stale when their primary dies; only masters'
//! entries are used.
//!
//! The two servers differ in who drives a job, and so in whose entry tells its state: Valkey
//! starts a job on the source (which pushes), Redis on the destination (which pulls). A cancel
//! or failure on the driving side shows on the other side only as a lost connection.

use std::collections::BTreeMap;

use serde::Serialize;

mod parse;

pub use parse::{JobError, parse_jobs};

use super::NodeId;
use crate::slot::SlotRange;

/// Which side of a job a node reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// The source's entry.
    Export,
    /// The target's (or a target replica's) entry.
    Import,
}

/// Which server's job log a reply is: the command that reads it and the reply's shape differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Valkey 9+: `CLUSTER GETSLOTMIGRATIONS`, times in seconds, jobs driven by the source.
    Valkey,
    /// Redis 8.4+: `CLUSTER MIGRATION STATUS ALL`, times in ms, jobs driven by the destination.
    Redis,
}

impl Dialect {
    /// The command and its arguments, as sent.
    pub fn command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Dialect::Valkey => ("CLUSTER", &["GETSLOTMIGRATIONS"]),
            Dialect::Redis => ("CLUSTER", &["MIGRATION", "STATUS", "ALL"]),
        }
    }

    /// The command as one line, for messages.
    pub fn command_line(self) -> String {
        let (name, args) = self.command();
        std::iter::once(name)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One entry of a node's job log, in either server's dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's name (Valkey) or task id (Redis), the same on source and target.
    pub name: String,
    /// Which side reported it.
    pub operation: Operation,
    /// The entry is the driving side's (Valkey's source, Redis's destination), so its state is
    /// the job's.
    pub drives: bool,
    /// The slots it moves.
    pub ranges: Vec<SlotRange>,
    /// The source master; absent on replicas' tracking entries.
    pub source: Option<NodeId>,
    /// The target master; absent on replicas' tracking entries.
    pub target: Option<NodeId>,
    /// Unix ms when the job was created.
    pub created_ms: u64,
    /// Unix ms of the job's last state change (Valkey), or of its latest start or end (Redis,
    /// which keeps no such time).
    pub updated_ms: u64,
    /// The state, e.g. `snapshotting`, `success`; the terminal states in Valkey's words
    /// (`success`, `failed`, `cancelled`) whichever server said them.
    pub state: String,
    /// The server's message, empty unless it failed; trailing line breaks removed.
    pub message: String,
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

/// Combines the jobs the masters reported, one migration per job name. The driving side's
/// entry decides the state: when a Valkey source cancels, its target reports a failure
/// ("connection lost to source") that is only the echo of the cancel, and the other way round
/// on Redis.
pub fn combine<'a>(reports: impl IntoIterator<Item = &'a Job>) -> Vec<AtomicMigration> {
    let mut by_name: BTreeMap<&str, &Job> = BTreeMap::new();
    for job in reports {
        let (Some(_), Some(_)) = (job.source, job.target) else {
            continue;
        };
        let keep = match by_name.get(job.name.as_str()) {
            None => true,
            Some(kept) => !kept.drives && job.drives,
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
                created_ms: j.created_ms,
                updated_ms: j.updated_ms,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.created_ms, &a.name).cmp(&(b.created_ms, &b.name)));
    out
}

#[cfg(test)]
mod tests;
