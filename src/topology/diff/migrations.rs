//! Slot migrations that opened or closed between two topologies: classic ones from the
//! masters' markers, atomic ones from their job logs.

use super::super::atomic::{AtomicMigration, Phase};
use super::super::event::{EventKind, MigrationScope, NodeRef};
use super::super::{NodeId, Topology};

/// A classic migration seen in `new` but not `old` started; one in `old` but not `new` finished
/// if the target now owns the slot, and was aborted otherwise.
pub(super) fn changed(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    let old_keys: Vec<_> = old.migrations.iter().map(|m| m.key()).collect();
    let new_keys: Vec<_> = new.migrations.iter().map(|m| m.key()).collect();
    let refs = |from: &NodeId, to: &NodeId| {
        (
            NodeRef::lookup(from, new, old),
            NodeRef::lookup(to, new, old),
        )
    };
    for key @ (slot, from, to) in &new_keys {
        if !old_keys.contains(key) {
            let (from, to) = refs(from, to);
            out.push(EventKind::MigrationStarted {
                scope: MigrationScope::classic(*slot),
                from,
                to,
            });
        }
    }
    for key @ (slot, from, to) in &old_keys {
        if new_keys.contains(key) {
            continue;
        }
        let moved = new.owner(*slot).map(|n| n.id) == Some(*to);
        let (from, to) = refs(from, to);
        let scope = MigrationScope::classic(*slot);
        out.push(if moved {
            EventKind::MigrationFinished { scope, from, to }
        } else {
            EventKind::MigrationAborted { scope, from, to }
        });
    }
    atomic_changed(old, new, out);
}

/// Atomic jobs, by name: a job that appears running, or that was created since `old` was
/// observed, started; a running job that reaches a terminal state ends as it says. Finished
/// jobs already in the log when slotwatch first read it are history, not events.
fn atomic_changed(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    for job in &new.atomic {
        let before = old.atomic.iter().find(|o| o.name == job.name);
        let started = match before {
            Some(_) => false,
            // Job times are whole seconds: a job created in the second of the last poll may
            // be newer than it.
            None => job.phase == Phase::Running || job.created_ms + 999 >= old.observed_at_ms,
        };
        let (from, to) = (
            NodeRef::lookup(&job.source, new, old),
            NodeRef::lookup(&job.target, new, old),
        );
        if started {
            out.push(EventKind::MigrationStarted {
                scope: MigrationScope::atomic(job),
                from: from.clone(),
                to: to.clone(),
            });
        }
        let was_running = before.is_none_or(|o| o.phase == Phase::Running);
        if (started || was_running) && job.phase != Phase::Running {
            out.push(ended(job, from, to));
        }
    }
    // A running job that vanished from the logs (its nodes restarted: the log lives in memory)
    // ended without saying how; ownership tells.
    for job in old.atomic.iter().filter(|o| o.phase == Phase::Running) {
        if new.atomic.iter().any(|n| n.name == job.name) {
            continue;
        }
        let scope = MigrationScope::atomic(job);
        let (from, to) = (
            NodeRef::lookup(&job.source, new, old),
            NodeRef::lookup(&job.target, new, old),
        );
        out.push(if owns_all(new, &job.target, job) {
            EventKind::MigrationFinished { scope, from, to }
        } else {
            EventKind::MigrationAborted { scope, from, to }
        });
    }
}

/// The event a finished job ends with.
fn ended(job: &AtomicMigration, from: NodeRef, to: NodeRef) -> EventKind {
    let scope = MigrationScope::atomic(job);
    match job.phase {
        Phase::Failed => EventKind::MigrationFailed {
            scope,
            from,
            to,
            message: job.message.clone(),
            lost_writes: job.lost_writes(),
        },
        Phase::Cancelled => EventKind::MigrationCancelled {
            scope,
            from,
            to,
            message: job.message.clone(),
        },
        // Success is the job's word even while lagging views still show the old owner.
        Phase::Success | Phase::Running => EventKind::MigrationFinished { scope, from, to },
    }
}

fn owns_all(t: &Topology, target: &NodeId, job: &AtomicMigration) -> bool {
    job.ranges
        .iter()
        .flat_map(|r| r.slots())
        .all(|s| t.owner(s).map(|n| n.id) == Some(*target))
}

#[cfg(test)]
mod tests {
    use super::super::diff;
    use super::super::tests::{names, topo};
    use crate::topology::testdata::*;

    #[test]
    fn migrations_start_finish_and_abort() {
        let before = topo(&healthy());
        let open = topo(&healthy().replace("0-5460", &format!("0-5460 [100->-{B}]")));
        let events = diff(&before, &open);
        assert_eq!(names(&events), vec!["migration_started"]);
        assert_eq!(
            events[0].to_string(),
            "migration_started: slot 100 migrating 127.0.0.1:30001 -> 127.0.0.1:30002"
        );

        let aborted = diff(&open, &before);
        assert_eq!(names(&aborted), vec!["migration_aborted"]);

        let moved = topo(
            &healthy()
                .replace("0-5460", "0-99 101-5460")
                .replace("5461-10922", "100 5461-10922"),
        );
        let finished = diff(&open, &moved);
        assert_eq!(names(&finished), vec!["reshard", "migration_finished"]);
    }
}
