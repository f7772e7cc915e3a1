//! Membership, address, failure-flag and replication changes of individual nodes.

use super::super::event::{EventKind, NodeRef};
use super::super::{NodeId, Role, Topology};

/// Node IDs that appeared.
pub(super) fn added(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    for n in new.nodes.iter().filter(|n| old.node(&n.id).is_none()) {
        out.push(EventKind::NodeAdded {
            node: NodeRef::of(n),
            role: n.role,
        });
    }
}

/// Node IDs that announce another address.
pub(super) fn readdressed(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    for n in &new.nodes {
        // Losing or regaining an address (noaddr) is not a move: clients cannot be routed to
        // a node without one either way.
        if let Some(o) = old.node(&n.id)
            && o.endpoint != n.endpoint
            && !o.noaddr
            && !n.noaddr
        {
            out.push(EventKind::AddressChanged {
                node: NodeRef::of(n),
                old_address: o.endpoint.clone(),
            });
        }
    }
}

/// Nodes the cluster newly flags `fail`.
pub(super) fn failed(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    for n in &new.nodes {
        if n.fail && old.node(&n.id).is_some_and(|o| !o.fail) {
            out.push(EventKind::NodeFailed {
                node: NodeRef::of(n),
                role: n.role,
            });
        }
    }
}

/// Replicas that follow another master, except demoted masters following the replica that
/// replaced them: `failovers` (old master, new master) already tells that story.
pub(super) fn replicas_moved(
    old: &Topology,
    new: &Topology,
    failovers: &[(NodeId, NodeId)],
    out: &mut Vec<EventKind>,
) {
    for n in new.nodes.iter().filter(|n| n.role == Role::Replica) {
        let Some(new_master) = n.master else { continue };
        let Some(o) = old.node(&n.id) else { continue };
        let old_master = if o.role == Role::Replica {
            o.master
        } else {
            None
        };
        if old_master == Some(new_master) {
            continue;
        }
        if o.role == Role::Master && failovers.contains(&(n.id, new_master)) {
            continue;
        }
        out.push(EventKind::ReplicaMoved {
            node: NodeRef::of(n),
            old_master: old_master.map(|m| NodeRef::lookup(&m, new, old)),
            new_master: NodeRef::lookup(&new_master, new, old),
        });
    }
}

/// Nodes whose `fail` flag cleared.
pub(super) fn recovered(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    for n in &new.nodes {
        if !n.fail && old.node(&n.id).is_some_and(|o| o.fail) {
            out.push(EventKind::NodeRecovered {
                node: NodeRef::of(n),
                role: n.role,
            });
        }
    }
}

/// Node IDs that disappeared.
pub(super) fn removed(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
    for o in old.nodes.iter().filter(|o| new.node(&o.id).is_none()) {
        out.push(EventKind::NodeRemoved {
            node: NodeRef::of(o),
            role: o.role,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::diff;
    use super::super::tests::{names, topo};
    use crate::topology::testdata::*;

    #[test]
    fn node_membership_address_and_replica_moves() {
        let before = topo(&healthy());
        let readdressed = topo(&healthy().replace("127.0.0.1:30006@31006", "10.0.0.6:30006@31006"));
        let events = diff(&before, &readdressed);
        assert_eq!(names(&events), vec!["address_changed"]);
        assert_eq!(
            events[0].to_string(),
            format!(
                "address_changed: node {} moved from 127.0.0.1:30006 to 10.0.0.6:30006",
                &C1[..8]
            )
        );

        let moved = topo(&healthy().replace(
            &format!("slave {C} 0 1426238317741"),
            &format!("slave {A} 0 1426238317741"),
        ));
        let events = diff(&before, &moved);
        assert_eq!(names(&events), vec!["replica_moved"]);
        assert_eq!(
            events[0].to_string(),
            "replica_moved: 127.0.0.1:30006 now replicates 127.0.0.1:30001 (was 127.0.0.1:30003)"
        );

        let removed_text: String = healthy()
            .lines()
            .filter(|l| !l.starts_with(C1))
            .map(|l| format!("{l}\n"))
            .collect();
        let events = diff(&before, &topo(&removed_text));
        assert_eq!(names(&events), vec!["node_removed"]);
        assert!(
            events[0].is_topology_change(),
            "membership changes reset the grace window"
        );
    }

    #[test]
    fn losing_an_address_is_not_a_move() {
        let before = topo(&healthy());
        let ghost = healthy().replace(
            &format!("127.0.0.1:30006@31006 slave {C}"),
            &format!(":0@0 slave,fail,noaddr {C}"),
        );
        let events = diff(&before, &topo(&ghost));
        assert_eq!(names(&events), vec!["node_failed"], "{events:?}");
    }
}
