//! (old, new) topology to the events that explain the change. Pure.
//!
//! Every slot whose owner changed from A to B is classified:
//! - `failover` if B was A's replica, or A became B's replica;
//! - `reshard` if both were masters (slots are grouped by (A, B) into ranges);
//! - `slots_assigned` (no owner to B) and `slots_unassigned` (A to no owner).
//!
//! A replica promoted while its master owned no slots is a `failover` with zero slots. Migration
//! events come from the open-migration sets; node events from membership, flags and addresses.

use std::fmt;

use serde::Serialize;

use super::{NO_OWNER, Node, NodeId, Role, Topology};
use crate::slot::{SlotRange, format_ranges, ranges_of};

/// A node as events name it: the stable ID and the `ip:port` operators grep for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRef {
    /// The node's ID.
    pub id: NodeId,
    /// The node's `ip:port` (its address in the newer topology when it still exists).
    pub node: String,
}

impl NodeRef {
    fn of(node: &Node) -> NodeRef {
        NodeRef {
            id: node.id,
            node: node.endpoint.clone(),
        }
    }

    /// Names `id` by its address in `new`, falling back to `old`, then to the short ID.
    fn lookup(id: &NodeId, new: &Topology, old: &Topology) -> NodeRef {
        let node = new
            .node(id)
            .or_else(|| old.node(id))
            .map(|n| n.endpoint.clone())
            .unwrap_or_else(|| id.short().to_owned());
        NodeRef { id: *id, node }
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.node)
    }
}

/// What changed between two topologies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// Slots moved between two masters.
    Reshard {
        /// The master that gave the slots away.
        from: NodeRef,
        /// The master that received them.
        to: NodeRef,
        /// Number of slots moved.
        slots: u32,
        /// The slots, as ranges.
        ranges: Vec<SlotRange>,
    },
    /// A replica took over its master's slots (or was promoted in place of its master).
    Failover {
        /// The master before the failover.
        old_master: NodeRef,
        /// The promoted replica.
        new_master: NodeRef,
        /// Number of slots that changed hands.
        slots: u32,
    },
    /// Slots that had no owner got one.
    SlotsAssigned {
        /// The new owner.
        to: NodeRef,
        /// Number of slots.
        slots: u32,
        /// The slots, as ranges.
        ranges: Vec<SlotRange>,
    },
    /// Slots lost their owner.
    SlotsUnassigned {
        /// The previous owner.
        from: NodeRef,
        /// Number of slots.
        slots: u32,
        /// The slots, as ranges.
        ranges: Vec<SlotRange>,
    },
    /// A slot was marked MIGRATING on its source and/or IMPORTING on its target.
    MigrationStarted {
        /// The slot.
        slot: u16,
        /// Where the slot moves from.
        from: NodeRef,
        /// Where the slot moves to.
        to: NodeRef,
    },
    /// An open migration closed with the target owning the slot.
    MigrationFinished {
        /// The slot.
        slot: u16,
        /// Where the slot moved from.
        from: NodeRef,
        /// Where the slot moved to.
        to: NodeRef,
    },
    /// An open migration closed without the target owning the slot.
    MigrationAborted {
        /// The slot.
        slot: u16,
        /// Where the slot was moving from.
        from: NodeRef,
        /// Where the slot was moving to.
        to: NodeRef,
    },
    /// A node ID appeared.
    NodeAdded {
        /// The node.
        node: NodeRef,
        /// Its role.
        role: Role,
    },
    /// A node ID disappeared.
    NodeRemoved {
        /// The node.
        node: NodeRef,
        /// Its last role.
        role: Role,
    },
    /// The cluster flagged a node `fail`.
    NodeFailed {
        /// The node.
        node: NodeRef,
        /// Its role.
        role: Role,
    },
    /// A node's `fail` flag cleared.
    NodeRecovered {
        /// The node.
        node: NodeRef,
        /// Its role.
        role: Role,
    },
    /// The same node ID now announces another address.
    AddressChanged {
        /// The node, with its new address.
        node: NodeRef,
        /// The address it had before.
        old_address: String,
    },
    /// A node started replicating another master.
    ReplicaMoved {
        /// The replica.
        node: NodeRef,
        /// Its previous master; absent if it was a master itself.
        old_master: Option<NodeRef>,
        /// Its new master.
        new_master: NodeRef,
    },
}

impl EventKind {
    /// The `kind` label value, e.g. `"reshard"`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Reshard { .. } => "reshard",
            EventKind::Failover { .. } => "failover",
            EventKind::SlotsAssigned { .. } => "slots_assigned",
            EventKind::SlotsUnassigned { .. } => "slots_unassigned",
            EventKind::MigrationStarted { .. } => "migration_started",
            EventKind::MigrationFinished { .. } => "migration_finished",
            EventKind::MigrationAborted { .. } => "migration_aborted",
            EventKind::NodeAdded { .. } => "node_added",
            EventKind::NodeRemoved { .. } => "node_removed",
            EventKind::NodeFailed { .. } => "node_failed",
            EventKind::NodeRecovered { .. } => "node_recovered",
            EventKind::AddressChanged { .. } => "address_changed",
            EventKind::ReplicaMoved { .. } => "replica_moved",
        }
    }

    /// Every kind name, so that metrics can export zeroes before the first event.
    pub const NAMES: [&'static str; 13] = [
        "reshard",
        "failover",
        "slots_assigned",
        "slots_unassigned",
        "migration_started",
        "migration_finished",
        "migration_aborted",
        "node_added",
        "node_removed",
        "node_failed",
        "node_recovered",
        "address_changed",
        "replica_moved",
    ];

    /// True for owner, role, address or membership changes: what resets the redirect alert's
    /// grace window. Migrations and failure flags alone do not reroute clients.
    pub fn is_topology_change(&self) -> bool {
        !matches!(
            self,
            EventKind::MigrationStarted { .. }
                | EventKind::MigrationFinished { .. }
                | EventKind::MigrationAborted { .. }
                | EventKind::NodeFailed { .. }
                | EventKind::NodeRecovered { .. }
        )
    }

    /// Every node the event names, so that the poller can watch them closely for a while.
    pub fn nodes(&self) -> Vec<&NodeRef> {
        match self {
            EventKind::Reshard { from, to, .. }
            | EventKind::MigrationStarted { from, to, .. }
            | EventKind::MigrationFinished { from, to, .. }
            | EventKind::MigrationAborted { from, to, .. } => vec![from, to],
            EventKind::Failover {
                old_master,
                new_master,
                ..
            } => vec![old_master, new_master],
            EventKind::SlotsAssigned { to: n, .. } | EventKind::SlotsUnassigned { from: n, .. } => {
                vec![n]
            }
            EventKind::NodeAdded { node, .. }
            | EventKind::NodeRemoved { node, .. }
            | EventKind::NodeFailed { node, .. }
            | EventKind::NodeRecovered { node, .. }
            | EventKind::AddressChanged { node, .. } => vec![node],
            EventKind::ReplicaMoved {
                node,
                old_master,
                new_master,
            } => {
                let mut v = vec![node, new_master];
                v.extend(old_master.iter());
                v
            }
        }
    }

    /// Slots that changed owner and why, for `redis_cluster_slot_moves_total{reason}`.
    pub fn slot_moves(&self) -> Option<(&'static str, u32)> {
        match self {
            EventKind::Reshard { slots, .. } => Some(("reshard", *slots)),
            EventKind::Failover { slots, .. } => Some(("failover", *slots)),
            EventKind::SlotsAssigned { slots, .. } => Some(("assigned", *slots)),
            EventKind::SlotsUnassigned { slots, .. } => Some(("unassigned", *slots)),
            _ => None,
        }
    }
}

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
            EventKind::MigrationStarted { slot, from, to } => {
                write!(f, "{name}: slot {slot} migrating {from} -> {to}")
            }
            EventKind::MigrationFinished { slot, from, to } => {
                write!(f, "{name}: slot {slot} now served by {to} (was {from})")
            }
            EventKind::MigrationAborted { slot, from, to } => write!(
                f,
                "{name}: slot {slot} migration {from} -> {to} closed without moving"
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

/// A change with the time it was observed and a readable sentence describing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Unix milliseconds of the poll that observed the change.
    pub timestamp_ms: u64,
    /// The same instant in RFC 3339, for people reading `/events`.
    pub time: String,
    /// What changed.
    #[serde(flatten)]
    pub kind: EventKind,
    /// The change as one plain-English line (the `Display` form of `kind`).
    pub message: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

/// A slot's previous and new owner (`None`: no owner).
type OwnerChange = (Option<NodeId>, Option<NodeId>);

/// The events that explain how `old` became `new`, stamped with `new.observed_at_ms`.
///
/// Order: nodes added, address changes, failures, failovers, reshards, (un)assigned slots,
/// migrations, replica moves, recoveries, nodes removed. `diff(t, t)` is empty.
pub fn diff(old: &Topology, new: &Topology) -> Vec<EventKind> {
    let mut out = Vec::new();

    for n in new.nodes.iter().filter(|n| old.node(&n.id).is_none()) {
        out.push(EventKind::NodeAdded {
            node: NodeRef::of(n),
            role: n.role,
        });
    }
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
    for n in &new.nodes {
        if n.fail && old.node(&n.id).is_some_and(|o| !o.fail) {
            out.push(EventKind::NodeFailed {
                node: NodeRef::of(n),
                role: n.role,
            });
        }
    }

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

    diff_migrations(old, new, &mut out);

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
        // A demoted master following its promoted replica is part of the failover event.
        if o.role == Role::Master && failovers.contains(&(n.id, new_master)) {
            continue;
        }
        out.push(EventKind::ReplicaMoved {
            node: NodeRef::of(n),
            old_master: old_master.map(|m| NodeRef::lookup(&m, new, old)),
            new_master: NodeRef::lookup(&new_master, new, old),
        });
    }

    for n in &new.nodes {
        if !n.fail && old.node(&n.id).is_some_and(|o| o.fail) {
            out.push(EventKind::NodeRecovered {
                node: NodeRef::of(n),
                role: n.role,
            });
        }
    }
    for o in old.nodes.iter().filter(|o| new.node(&o.id).is_none()) {
        out.push(EventKind::NodeRemoved {
            node: NodeRef::of(o),
            role: o.role,
        });
    }
    out
}

fn diff_migrations(old: &Topology, new: &Topology, out: &mut Vec<EventKind>) {
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

/// Stamps events with the time `new` was observed.
pub fn stamp(kinds: Vec<EventKind>, new: &Topology) -> Vec<Event> {
    kinds
        .into_iter()
        .map(|kind| Event {
            timestamp_ms: new.observed_at_ms,
            time: crate::clock::rfc3339(new.observed_at_ms),
            message: kind.to_string(),
            kind,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;
    use crate::topology::testdata::*;

    fn topo(text: &str) -> Topology {
        merge(&[parse_view(text).unwrap()], 1_700_000_000_000)
    }

    fn names(events: &[EventKind]) -> Vec<&'static str> {
        events.iter().map(EventKind::name).collect()
    }

    #[test]
    fn identical_topologies_have_no_events() {
        let t = topo(&healthy());
        assert!(diff(&t, &t).is_empty());
    }

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
            Some(("assigned", 383))
        );
    }

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

    #[test]
    fn topology_change_classification() {
        let n = NodeRef {
            id: NodeId::parse(A).unwrap(),
            node: "x:1".into(),
        };
        assert!(
            EventKind::NodeAdded {
                node: n.clone(),
                role: Role::Master
            }
            .is_topology_change()
        );
        assert!(
            !EventKind::NodeFailed {
                node: n.clone(),
                role: Role::Master
            }
            .is_topology_change()
        );
        assert!(
            !EventKind::MigrationStarted {
                slot: 1,
                from: n.clone(),
                to: n
            }
            .is_topology_change()
        );
    }

    #[test]
    fn events_serialize_with_kind_and_fields() {
        let before = topo(&healthy());
        let lost = topo(&healthy().replace("10923-16383", "10923-16000"));
        let events = stamp(diff(&before, &lost), &lost);
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(json["kind"], "slots_unassigned");
        assert_eq!(json["timestamp_ms"], 1_700_000_000_000u64);
        assert_eq!(json["slots"], 383);
        assert_eq!(json["ranges"][0], "16001-16383");
        assert_eq!(json["from"]["node"], "127.0.0.1:30003");
        assert_eq!(json["from"]["id"], C);
        assert_eq!(json["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(json["message"], events[0].kind.to_string());
    }
}
