//! Events in plain English: the line `/events`, the logs and `slotwatch diff` print.

use std::fmt;

use super::{EventKind, MigrationScope};
use crate::slot::format_ranges;
use crate::topology::Mechanism;

impl fmt::Display for EventKind {
    /// One plain-English line, e.g. `reshard: 1365 slots 5461-6825 moved 127.0.0.1:7001 -> 127.0.0.1:7006`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            EventKind::Reshard {
                from,
                to,
                slots,
                ranges,
            } => write!(
                f,
                "{name}: {slots} {} {} moved {from} -> {to}",
                plural(*slots),
                format_ranges(ranges)
            ),
            EventKind::Failover {
                old_master,
                new_master,
                slots,
            } => write!(
                f,
                "{name}: {new_master} replaced master {old_master}, taking over {slots} {}",
                plural(*slots)
            ),
            EventKind::SlotsAssigned { to, slots, ranges } => write!(
                f,
                "{name}: {slots} {} {} assigned to {to}",
                plural(*slots),
                format_ranges(ranges)
            ),
            EventKind::SlotsUnassigned {
                from,
                slots,
                ranges,
            } => write!(
                f,
                "{name}: {slots} {} {} lost their owner {from}",
                plural(*slots),
                format_ranges(ranges)
            ),
            EventKind::MigrationStarted { scope, from, to } => {
                write!(
                    f,
                    "{name}: {} migrating {from} -> {to}{}",
                    what(scope),
                    how(scope)
                )
            }
            EventKind::MigrationFinished { scope, from, to } => write!(
                f,
                "{name}: {} now served by {to} (was {from}){}",
                what(scope),
                how(scope)
            ),
            EventKind::MigrationAborted { scope, from, to } => write!(
                f,
                "{name}: {} migration {from} -> {to} closed without moving{}",
                what(scope),
                how(scope)
            ),
            EventKind::MigrationFailed {
                scope,
                from,
                to,
                message,
                lost_writes,
            } => write!(
                f,
                "{name}: {} migration {from} -> {to} failed{}: {message}{}",
                what(scope),
                how(scope),
                if *lost_writes {
                    " (writes may have been lost)"
                } else {
                    ""
                }
            ),
            EventKind::MigrationCancelled {
                scope,
                from,
                to,
                message,
            } => write!(
                f,
                "{name}: {} migration {from} -> {to} cancelled{}{}",
                what(scope),
                how(scope),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
            EventKind::NodeAdded { node, role } => {
                write!(f, "{name}: {node} joined as {role} ({})", node.id.short())
            }
            EventKind::NodeRemoved { node, role } => {
                write!(
                    f,
                    "{name}: {node} ({role}, {}) left the cluster",
                    node.id.short()
                )
            }
            EventKind::NodeFailed { node, role } => {
                write!(f, "{name}: {role} {node} flagged fail by the cluster")
            }
            EventKind::NodeRecovered { node, role } => {
                write!(f, "{name}: {role} {node} no longer flagged fail")
            }
            EventKind::AddressChanged { node, old_address } => write!(
                f,
                "{name}: node {} moved from {old_address} to {node}",
                node.id.short()
            ),
            EventKind::ReplicaMoved {
                node,
                old_master,
                new_master,
            } => match old_master {
                Some(old) => write!(f, "{name}: {node} now replicates {new_master} (was {old})"),
                None => write!(f, "{name}: master {node} became a replica of {new_master}"),
            },
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "slot" } else { "slots" }
}

/// `slot 7` for a classic migration, `12 slots 100-110,200` for an atomic one.
fn what(scope: &MigrationScope) -> String {
    match scope.slot {
        Some(slot) => format!("slot {slot}"),
        None => {
            let n = scope.slots();
            format!("{n} {} {}", plural(n), format_ranges(&scope.ranges))
        }
    }
}

/// Nothing for a classic migration, ` (atomic, job 1a2b3c4d)` for an atomic one.
fn how(scope: &MigrationScope) -> String {
    match (&scope.mechanism, &scope.job) {
        (Mechanism::Atomic, Some(job)) => {
            format!(" (atomic, job {})", job.get(..8).unwrap_or(job))
        }
        (Mechanism::Atomic, None) => " (atomic)".to_owned(),
        (Mechanism::Classic, _) => String::new(),
    }
}
