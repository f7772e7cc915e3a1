//! Slot migrations that opened or closed between two topologies.

use super::super::Topology;
use super::super::event::{EventKind, NodeRef};

/// A migration seen in `new` but not `old` started; one in `old` but not `new` finished if the
/// target now owns the slot, and was aborted otherwise.
pub(super) fn changed(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    let old_keys: Vec<_> = old.migrations.iter().map(|m| m.key()).collect();
    let new_keys: Vec<_> = new.migrations.iter().map(|m| m.key()).collect();
    for key @ (slot, from, to) in &new_keys {
        if !old_keys.contains(key) {
            out.push(EventKind::MigrationStarted {
                slot: *slot,
                from: NodeRef::lookup(from, new, old),
                to: NodeRef::lookup(to, new, old),
            });
        }
    }
    for key @ (slot, from, to) in &old_keys {
        if new_keys.contains(key) {
            continue;
        }
        let (from, to_ref) = (
            NodeRef::lookup(from, new, old),
            NodeRef::lookup(to, new, old),
        );
        if new.owner(*slot).map(|n| n.id) == Some(*to) {
            out.push(EventKind::MigrationFinished {
                slot: *slot,
                from,
                to: to_ref,
            });
        } else {
            out.push(EventKind::MigrationAborted {
                slot: *slot,
                from,
                to: to_ref,
            });
        }
    }
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
