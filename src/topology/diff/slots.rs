//! Slot owner changes: each slot whose owner went from A to B is a failover, a reshard, or an
//! (un)assignment, grouped by (A, B) into ranges.

use super::super::event::{EventKind, NodeRef};
use super::super::{NO_OWNER, NodeId, Role, Topology};
use crate::slot::ranges_of;

/// A slot's previous and new owner (`None`: no owner).
type OwnerChange = (Option<NodeId>, Option<NodeId>);

/// Pushes failovers, then reshards, then assigned and unassigned slots; returns the failovers
/// as (old master, new master), which later steps use to avoid telling the same story twice.
pub(super) fn owners_changed(
    old: &Topology,
    new: &Topology,
    out: &mut Vec<EventKind>,
) -> Vec<(NodeId, NodeId)> {
    let mut events = SlotEvents::default();
    for (change, slots) in slot_moves(old, new) {
        events.classify(change, &slots, old, new);
    }
    events.add_promotions_without_slots(old, new);
    events.push_to(out, old, new)
}

/// The slots whose owner changed, grouped by (old owner, new owner) and sorted by their IDs so
/// that the output order is stable.
fn slot_moves(old: &Topology, new: &Topology) -> Vec<(OwnerChange, Vec<u16>)> {
    let mut moves: Vec<(OwnerChange, Vec<u16>)> = group_changed_slots(old, new)
        .into_iter()
        .map(|((a, b), slots)| ((owner_id(old, a), owner_id(new, b)), slots))
        .collect();
    moves.sort_by_key(|m| m.0);
    moves
}

/// The node an owner-table entry names, `None` for no owner.
fn owner_id(t: &Topology, entry: u32) -> Option<NodeId> {
    (entry != NO_OWNER).then(|| t.nodes[entry as usize].id)
}

/// Slots whose owner changed, grouped by (old entry, new entry) of the owner tables, in the
/// order the groups first appear.
fn group_changed_slots(old: &Topology, new: &Topology) -> Vec<((u32, u32), Vec<u16>)> {
    // Translating old owner indices into new ones once lets the per-slot scan compare integers
    // rather than 40-byte IDs.
    let old_in_new: Vec<Option<u32>> = old
        .nodes
        .iter()
        .map(|n| new.index_of(&n.id).map(|i| i as u32))
        .collect();
    let mut groups: Vec<((u32, u32), Vec<u16>)> = Vec::new();
    let mut current: Option<usize> = None;
    for (slot, (&a, &b)) in old.owners.iter().zip(new.owners.iter()).enumerate() {
        if in_new_numbering(a, &old_in_new) == Some(b) {
            continue;
        }
        let key = (a, b);
        // Consecutive slots almost always share a pair, so the group is looked up only when
        // the pair changes.
        let g = match current.filter(|&g| groups[g].0 == key) {
            Some(g) => g,
            None => group_index(&mut groups, key),
        };
        groups[g].1.push(slot as u16);
        current = Some(g);
    }
    groups
}

/// Old owner-table entry `a` as the new table would write it; `None` if its node left.
fn in_new_numbering(a: u32, old_in_new: &[Option<u32>]) -> Option<u32> {
    if a == NO_OWNER {
        Some(NO_OWNER)
    } else {
        old_in_new[a as usize]
    }
}

/// The index of `key`'s group, added if it is new.
fn group_index(groups: &mut Vec<((u32, u32), Vec<u16>)>, key: (u32, u32)) -> usize {
    match groups.iter().position(|(k, _)| *k == key) {
        Some(g) => g,
        None => {
            groups.push((key, Vec::new()));
            groups.len() - 1
        }
    }
}

/// True if `t` lists `node` as a replica of `master`.
fn replicates(t: &Topology, node: &NodeId, master: &NodeId) -> bool {
    t.node(node)
        .is_some_and(|n| n.role == Role::Replica && n.master.as_ref() == Some(master))
}

/// The slot events of one diff, by kind, until [`SlotEvents::push_to`] orders them.
#[derive(Default)]
struct SlotEvents {
    /// (old master, new master, slots moved).
    failovers: Vec<(NodeId, NodeId, u32)>,
    reshards: Vec<EventKind>,
    assigned: Vec<EventKind>,
    unassigned: Vec<EventKind>,
}

impl SlotEvents {
    /// Files one group of moved slots under its kind: a failover if the new owner was the old
    /// one's replica or the old owner became the new one's replica, else a reshard or an
    /// (un)assignment.
    fn classify(&mut self, change: OwnerChange, slots: &[u16], old: &Topology, new: &Topology) {
        let count = slots.len() as u32;
        let ranges = || ranges_of(slots.iter().copied());
        match change {
            (Some(a), Some(b)) if replicates(old, &b, &a) || replicates(new, &a, &b) => {
                self.failovers.push((a, b, count));
            }
            (Some(a), Some(b)) => self.reshards.push(EventKind::Reshard {
                from: NodeRef::lookup(&a, new, old),
                to: NodeRef::lookup(&b, new, old),
                slots: count,
                ranges: ranges(),
            }),
            (None, Some(b)) => self.assigned.push(EventKind::SlotsAssigned {
                to: NodeRef::lookup(&b, new, old),
                slots: count,
                ranges: ranges(),
            }),
            (Some(a), None) => self.unassigned.push(EventKind::SlotsUnassigned {
                from: NodeRef::lookup(&a, new, old),
                slots: count,
                ranges: ranges(),
            }),
            // Slots without an owner before and after did not move.
            (None, None) => {}
        }
    }

    /// Promotions that moved no slots: the old master owned none (or lost them earlier).
    fn add_promotions_without_slots(&mut self, old: &Topology, new: &Topology) {
        for n in new.nodes.iter().filter(|n| n.role == Role::Master) {
            let Some(o) = old.node(&n.id) else { continue };
            if let (Role::Replica, Some(old_master)) = (o.role, o.master)
                && o.slot_count == 0
                && !self.failovers.iter().any(|(_, b, _)| *b == n.id)
            {
                self.failovers.push((old_master, n.id, 0));
            }
        }
    }

    /// Pushes failovers, reshards, assigned and unassigned slots, in that order; returns the
    /// failovers as (old master, new master).
    fn push_to(
        self,
        out: &mut Vec<EventKind>,
        old: &Topology,
        new: &Topology,
    ) -> Vec<(NodeId, NodeId)> {
        out.extend(
            self.failovers
                .iter()
                .map(|(a, b, slots)| EventKind::Failover {
                    old_master: NodeRef::lookup(a, new, old),
                    new_master: NodeRef::lookup(b, new, old),
                    slots: *slots,
                }),
        );
        out.extend(self.reshards);
        out.extend(self.assigned);
        out.extend(self.unassigned);
        self.failovers.into_iter().map(|(a, b, _)| (a, b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::diff;
    use super::super::tests::{names, topo};
    use crate::topology::event::{EventKind, MoveReason};
    use crate::topology::testdata::*;

    #[test]
    fn reshard_to_a_new_master_is_grouped_into_ranges() {
        let before = topo(&healthy());
        // redis-cli --cluster reshard moved 1365 slots from B and 1365 from A to new node D.
        let after_text = healthy()
            .replace("0-5460", "1365-5460")
            .replace("5461-10922", "6826-10922")
            + &format!("{D} 127.0.0.1:30007@31007 master - 0 0 8 connected 0-1364 5461-6825\n");
        let after = topo(&after_text);
        let events = diff(&before, &after);
        assert_eq!(names(&events), vec!["node_added", "reshard", "reshard"]);
        let mut total = 0;
        for e in &events[1..] {
            let EventKind::Reshard {
                to, slots, ranges, ..
            } = e
            else {
                panic!()
            };
            assert_eq!(to.node, "127.0.0.1:30007");
            assert_eq!(ranges.iter().map(|r| r.len()).sum::<u32>(), *slots);
            total += slots;
        }
        assert_eq!(total, 2730);
        let lines: Vec<String> = events.iter().map(ToString::to_string).collect();
        assert!(
            lines.contains(
                &"reshard: 1365 slots 5461-6825 moved 127.0.0.1:30002 -> 127.0.0.1:30007"
                    .to_owned()
            ),
            "{lines:?}"
        );
        // Reversed, the same slots move back, and the node leaves.
        let back = diff(&after, &before);
        assert_eq!(names(&back), vec!["reshard", "reshard", "node_removed"]);
    }

    #[test]
    fn manual_failover_swaps_roles() {
        let before = topo(&healthy());
        // CLUSTER FAILOVER on A1: it now owns A's slots and A replicates it.
        let after_text = healthy()
            .replace(
                "30001@31001 myself,master - 0 1426238316000 1 connected 0-5460",
                &format!("30001@31001 myself,slave {A1} 0 1426238316000 7 connected"),
            )
            .replace(
                &format!("30004@31004 slave {A} 0 1426238317239 1 connected"),
                "30004@31004 master - 0 1426238317239 7 connected 0-5460",
            );
        let after = topo(&after_text);
        let events = diff(&before, &after);
        assert_eq!(names(&events), vec!["failover"], "{events:?}");
        let EventKind::Failover {
            old_master,
            new_master,
            slots,
        } = &events[0]
        else {
            panic!()
        };
        assert_eq!(
            (old_master.node.as_str(), new_master.node.as_str(), *slots),
            ("127.0.0.1:30001", "127.0.0.1:30004", 5461)
        );
    }

    #[test]
    fn automatic_failover_after_a_master_fails() {
        let before = topo(&healthy());
        let failed_text = healthy().replace("30002@31002 master", "30002@31002 master,fail");
        let failed = topo(&failed_text);
        assert_eq!(names(&diff(&before, &failed)), vec!["node_failed"]);
        // B1 wins the election with a higher epoch; B is still listed as a failed master.
        let promoted_text = failed_text
            .replace(" 2 connected 5461-10922", " 2 disconnected")
            .replace(
                &format!("30005@31005 slave {B} 0 1426238316232 2 connected"),
                "30005@31005 master - 0 1426238316232 7 connected 5461-10922",
            );
        let promoted = topo(&promoted_text);
        let events = diff(&failed, &promoted);
        assert_eq!(names(&events), vec!["failover"]);
        // Seen in one poll, the failure comes before the failover it causes.
        assert_eq!(
            names(&diff(&before, &promoted)),
            vec!["node_failed", "failover"]
        );
        // B comes back as B1's replica: recovered, and no second failover.
        let rejoined = topo(&promoted_text.replace(
            "30002@31002 master,fail - 0 1426238316232 2 disconnected",
            &format!("30002@31002 slave {B1} 0 1426238316232 7 connected"),
        ));
        assert_eq!(
            names(&diff(&promoted, &rejoined)),
            vec!["replica_moved", "node_recovered"]
        );
    }

    #[test]
    fn promotion_of_a_replica_of_an_empty_master_is_a_failover() {
        let base = healthy()
            + &format!("{D} 127.0.0.1:30007@31007 master - 0 0 0 connected\n")
            + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 127.0.0.1:30008@31008 slave "
            + D
            + " 0 0 0 connected\n";
        let before = topo(&base);
        let after = topo(&base.replace(&format!("30008@31008 slave {D}"), "30008@31008 master -"));
        let events = diff(&before, &after);
        assert_eq!(names(&events), vec!["failover"]);
        assert!(matches!(&events[0], EventKind::Failover { slots: 0, .. }));
    }

    #[test]
    fn slots_assigned_and_unassigned() {
        let before = topo(&healthy());
        let lost = topo(&healthy().replace("10923-16383", "10923-16000"));
        let events = diff(&before, &lost);
        assert_eq!(names(&events), vec!["slots_unassigned"]);
        assert_eq!(
            events[0].to_string(),
            "slots_unassigned: 383 slots 16001-16383 lost their owner 127.0.0.1:30003"
        );
        assert_eq!(names(&diff(&lost, &before)), vec!["slots_assigned"]);
        assert_eq!(
            diff(&lost, &before)[0].slot_moves(),
            Some((MoveReason::Assigned, 383))
        );
    }
}
