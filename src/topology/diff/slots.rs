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
    // Translate old owner indices into new ones once, so that the per-slot scan compares
    // integers rather than 40-byte IDs.
    let old_to_new: Vec<u32> = old
        .nodes
        .iter()
        .map(|n| new.index_of(&n.id).map_or(u32::MAX - 1, |i| i as u32))
        .collect();
    // Slot owner changes grouped by (from, to) as index pairs; consecutive slots almost always
    // share a pair, so the group is looked up only when the pair changes.
    let mut groups: Vec<((u32, u32), Vec<u16>)> = Vec::new();
    let mut current: Option<usize> = None;
    for (slot, (&a, &b)) in old.owners.iter().zip(new.owners.iter()).enumerate() {
        let a_in_new = if a == NO_OWNER {
            NO_OWNER
        } else {
            old_to_new[a as usize]
        };
        if a_in_new == b {
            continue;
        }
        let key = (a, b);
        let g = match current {
            Some(g) if groups[g].0 == key => g,
            _ => match groups.iter().position(|(k, _)| *k == key) {
                Some(g) => g,
                None => {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                }
            },
        };
        groups[g].1.push(slot as u16);
        current = Some(g);
    }
    // Name the groups by node ID and sort them, so the output order is stable.
    let mut moves: Vec<(OwnerChange, Vec<u16>)> = groups
        .into_iter()
        .map(|((a, b), slots)| {
            let a = (a != NO_OWNER).then(|| old.nodes[a as usize].id);
            let b = (b != NO_OWNER).then(|| new.nodes[b as usize].id);
            ((a, b), slots)
        })
        .collect();
    moves.sort_by_key(|m| m.0);

    let was_replica_of = |node: &NodeId, master: &NodeId| {
        old.node(node)
            .is_some_and(|n| n.role == Role::Replica && n.master.as_ref() == Some(master))
    };
    let became_replica_of = |node: &NodeId, master: &NodeId| {
        new.node(node)
            .is_some_and(|n| n.role == Role::Replica && n.master.as_ref() == Some(master))
    };

    let mut failovers: Vec<(NodeId, NodeId)> = Vec::new();
    let mut reshards = Vec::new();
    let mut assigned = Vec::new();
    let mut unassigned = Vec::new();
    for ((a, b), slots) in &moves {
        let count = slots.len() as u32;
        match (a, b) {
            (Some(a), Some(b)) if was_replica_of(b, a) || became_replica_of(a, b) => {
                failovers.push((*a, *b));
                out.push(EventKind::Failover {
                    old_master: NodeRef::lookup(a, new, old),
                    new_master: NodeRef::lookup(b, new, old),
                    slots: count,
                });
            }
            (Some(a), Some(b)) => reshards.push(EventKind::Reshard {
                from: NodeRef::lookup(a, new, old),
                to: NodeRef::lookup(b, new, old),
                slots: count,
                ranges: ranges_of(slots.iter().copied()),
            }),
            (None, Some(b)) => assigned.push(EventKind::SlotsAssigned {
                to: NodeRef::lookup(b, new, old),
                slots: count,
                ranges: ranges_of(slots.iter().copied()),
            }),
            (Some(a), None) => unassigned.push(EventKind::SlotsUnassigned {
                from: NodeRef::lookup(a, new, old),
                slots: count,
                ranges: ranges_of(slots.iter().copied()),
            }),
            (None, None) => {}
        }
    }
    // Promotions that moved no slots: the old master owned none (or lost them earlier).
    for n in new.nodes.iter().filter(|n| n.role == Role::Master) {
        let Some(o) = old.node(&n.id) else { continue };
        if let (Role::Replica, Some(old_master)) = (o.role, o.master)
            && o.slot_count == 0
            && !failovers.iter().any(|(_, b)| *b == n.id)
        {
            failovers.push((old_master, n.id));
            out.push(EventKind::Failover {
                old_master: NodeRef::lookup(&old_master, new, old),
                new_master: NodeRef::of(n),
                slots: 0,
            });
        }
    }
    out.extend(reshards);
    out.extend(assigned);
    out.extend(unassigned);
    failovers
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
