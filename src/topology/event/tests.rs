use super::*;
use crate::topology::testdata::A;

fn node() -> NodeRef {
    NodeRef {
        id: NodeId::parse(A).unwrap(),
        node: "127.0.0.1:1".into(),
    }
}

/// One event of every kind, in table order.
fn one_of_each() -> Vec<EventKind> {
    let (n, role, slots, ranges) = (node(), Role::Master, 1, Vec::new());
    vec![
        EventKind::Reshard {
            from: n.clone(),
            to: n.clone(),
            slots,
            ranges: ranges.clone(),
        },
        EventKind::Failover {
            old_master: n.clone(),
            new_master: n.clone(),
            slots,
        },
        EventKind::SlotsAssigned {
            to: n.clone(),
            slots,
            ranges: ranges.clone(),
        },
        EventKind::SlotsUnassigned {
            from: n.clone(),
            slots,
            ranges,
        },
        EventKind::MigrationStarted {
            scope: MigrationScope::classic(1),
            from: n.clone(),
            to: n.clone(),
        },
        EventKind::MigrationFinished {
            scope: MigrationScope::classic(1),
            from: n.clone(),
            to: n.clone(),
        },
        EventKind::MigrationAborted {
            scope: MigrationScope::classic(1),
            from: n.clone(),
            to: n.clone(),
        },
        EventKind::MigrationFailed {
            scope: MigrationScope::classic(1),
            from: n.clone(),
            to: n.clone(),
            message: "x".into(),
            lost_writes: false,
        },
        EventKind::MigrationCancelled {
            scope: MigrationScope::classic(1),
            from: n.clone(),
            to: n.clone(),
            message: String::new(),
        },
        EventKind::NodeAdded {
            node: n.clone(),
            role,
        },
        EventKind::NodeRemoved {
            node: n.clone(),
            role,
        },
        EventKind::NodeFailed {
            node: n.clone(),
            role,
        },
        EventKind::NodeRecovered {
            node: n.clone(),
            role,
        },
        EventKind::AddressChanged {
            node: n.clone(),
            old_address: "127.0.0.1:2".into(),
        },
        EventKind::ReplicaMoved {
            node: n.clone(),
            old_master: None,
            new_master: n,
        },
    ]
}

#[test]
fn the_table_agrees_with_the_variants_and_their_json() {
    let events = one_of_each();
    assert_eq!(events.len(), KINDS.len());
    for (i, (e, row)) in events.iter().zip(KINDS.iter()).enumerate() {
        assert_eq!(e.kind(), row.kind, "row {i}");
        assert_eq!(row.kind as usize, i, "row {i} is out of order");
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["kind"], row.name, "the JSON tag of {:?}", row.kind);
        assert!(e.to_string().starts_with(&format!("{}: ", row.name)), "{e}");
        assert_eq!(e.slot_moves().map(|(r, _)| r), row.moves, "{e}");
    }
}

#[test]
fn only_rerouting_changes_restart_the_grace_window() {
    let rerouting: Vec<&str> = one_of_each()
        .iter()
        .filter(|e| e.is_topology_change())
        .map(EventKind::name)
        .collect();
    assert_eq!(
        rerouting,
        [
            "reshard",
            "failover",
            "slots_assigned",
            "slots_unassigned",
            "node_added",
            "node_removed",
            "address_changed",
            "replica_moved"
        ]
    );
}
