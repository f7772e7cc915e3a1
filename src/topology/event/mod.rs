//! Events: what changed between two topologies, in a form people and machines read.
//!
//! [`KINDS`] is the one table of event kinds: each kind's label value, whether it reroutes
//! clients (and so restarts the redirect alert's grace window), and which slot-move reason it
//! counts. Metrics, the poller and the docs all read it; adding a kind means adding a variant
//! here, its row, and its arms in this file.

mod kind;
mod text;

use std::fmt;

use serde::Serialize;

use super::atomic::AtomicMigration;
use super::{Mechanism, Node, NodeId, Role, Topology};
use crate::slot::SlotRange;
pub use kind::{KINDS, Kind, KindInfo, MoveReason};

/// A node as events name it: the stable ID and the `ip:port` operators grep for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRef {
    /// The node's ID.
    pub id: NodeId,
    /// The node's `ip:port` (its address in the newer topology when it still exists).
    pub node: String,
}

impl NodeRef {
    /// Names a node of a topology.
    pub fn of(node: &Node) -> NodeRef {
        NodeRef {
            id: node.id,
            node: node.endpoint.clone(),
        }
    }

    /// Names `id` by its address in `new`, falling back to `old`, then to the short ID.
    pub fn lookup(id: &NodeId, new: &Topology, old: &Topology) -> NodeRef {
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

/// What a migration moves, and by which mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationScope {
    /// `classic` or `atomic`.
    pub mechanism: Mechanism,
    /// A classic migration's one slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u16>,
    /// The slots, as ranges.
    pub ranges: Vec<SlotRange>,
    /// An atomic migration's job name, as `CLUSTER GETSLOTMIGRATIONS` shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

impl MigrationScope {
    /// A classic migration of one slot.
    pub fn classic(slot: u16) -> MigrationScope {
        MigrationScope {
            mechanism: Mechanism::Classic,
            slot: Some(slot),
            ranges: vec![SlotRange::single(slot)],
            job: None,
        }
    }

    /// An atomic migration job.
    pub fn atomic(job: &AtomicMigration) -> MigrationScope {
        MigrationScope {
            mechanism: Mechanism::Atomic,
            slot: None,
            ranges: job.ranges.clone(),
            job: Some(job.name.clone()),
        }
    }

    /// The number of slots.
    pub fn slots(&self) -> u32 {
        self.ranges.iter().map(SlotRange::len).sum()
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
    /// A migration opened: a slot marked MIGRATING/IMPORTING, or an atomic job created.
    MigrationStarted {
        /// What moves, and how.
        #[serde(flatten)]
        scope: MigrationScope,
        /// The master the slots leave.
        from: NodeRef,
        /// The master they go to.
        to: NodeRef,
    },
    /// A migration closed with the target owning the slots.
    MigrationFinished {
        /// What moved, and how.
        #[serde(flatten)]
        scope: MigrationScope,
        /// The master the slots left.
        from: NodeRef,
        /// The master that owns them now.
        to: NodeRef,
    },
    /// A migration closed without the target owning the slots, with no failure reported.
    MigrationAborted {
        /// What was moving, and how.
        #[serde(flatten)]
        scope: MigrationScope,
        /// Where the slots were moving from.
        from: NodeRef,
        /// Where they were moving to.
        to: NodeRef,
    },
    /// An atomic migration failed; the server says why.
    MigrationFailed {
        /// What was moving.
        #[serde(flatten)]
        scope: MigrationScope,
        /// Where the slots were moving from.
        from: NodeRef,
        /// Where they were moving to.
        to: NodeRef,
        /// The server's message.
        message: String,
        /// The source resumed writes before the cut-over finished: the migration may have
        /// succeeded with writes lost.
        lost_writes: bool,
    },
    /// An atomic migration was cancelled (`CLUSTER CANCELSLOTMIGRATIONS`).
    MigrationCancelled {
        /// What was moving.
        #[serde(flatten)]
        scope: MigrationScope,
        /// Where the slots were moving from.
        from: NodeRef,
        /// Where they were moving to.
        to: NodeRef,
        /// The server's message, often empty.
        message: String,
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
    /// The kind without its fields.
    pub fn kind(&self) -> Kind {
        match self {
            EventKind::Reshard { .. } => Kind::Reshard,
            EventKind::Failover { .. } => Kind::Failover,
            EventKind::SlotsAssigned { .. } => Kind::SlotsAssigned,
            EventKind::SlotsUnassigned { .. } => Kind::SlotsUnassigned,
            EventKind::MigrationStarted { .. } => Kind::MigrationStarted,
            EventKind::MigrationFinished { .. } => Kind::MigrationFinished,
            EventKind::MigrationAborted { .. } => Kind::MigrationAborted,
            EventKind::MigrationFailed { .. } => Kind::MigrationFailed,
            EventKind::MigrationCancelled { .. } => Kind::MigrationCancelled,
            EventKind::NodeAdded { .. } => Kind::NodeAdded,
            EventKind::NodeRemoved { .. } => Kind::NodeRemoved,
            EventKind::NodeFailed { .. } => Kind::NodeFailed,
            EventKind::NodeRecovered { .. } => Kind::NodeRecovered,
            EventKind::AddressChanged { .. } => Kind::AddressChanged,
            EventKind::ReplicaMoved { .. } => Kind::ReplicaMoved,
        }
    }

    /// The `kind` label value, e.g. `"reshard"`.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// True if the change reroutes clients (see [`KindInfo::reroutes`]).
    pub fn is_topology_change(&self) -> bool {
        self.kind().info().reroutes
    }

    /// Every node the event names, so that the poller can watch them closely for a while.
    pub fn nodes(&self) -> Vec<&NodeRef> {
        match self {
            EventKind::Reshard { from, to, .. }
            | EventKind::MigrationStarted { from, to, .. }
            | EventKind::MigrationFinished { from, to, .. }
            | EventKind::MigrationAborted { from, to, .. }
            | EventKind::MigrationFailed { from, to, .. }
            | EventKind::MigrationCancelled { from, to, .. } => vec![from, to],
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
    pub fn slot_moves(&self) -> Option<(MoveReason, u32)> {
        let reason = self.kind().info().moves?;
        let slots = match self {
            EventKind::Reshard { slots, .. }
            | EventKind::Failover { slots, .. }
            | EventKind::SlotsAssigned { slots, .. }
            | EventKind::SlotsUnassigned { slots, .. } => *slots,
            _ => 0,
        };
        Some((reason, slots))
    }
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
    /// For an operation that spanned several polls (a reshard), Unix ms of the last poll
    /// that saw it continue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// The same instant in RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

impl Event {
    /// Grows this reshard by `next`, a reshard between the same two masters seen by a later
    /// poll: one operation is one event. False (and nothing changes) for anything else.
    pub fn continue_with(&mut self, next: &Event) -> bool {
        let (
            EventKind::Reshard {
                from,
                to,
                slots,
                ranges,
            },
            EventKind::Reshard {
                from: next_from,
                to: next_to,
                ranges: next_ranges,
                ..
            },
        ) = (&mut self.kind, &next.kind)
        else {
            return false;
        };
        if from.id != next_from.id || to.id != next_to.id {
            return false;
        }
        let mut all = crate::slot::SlotSet::new();
        for r in ranges.iter().chain(next_ranges) {
            all.insert_range(*r);
        }
        *ranges = all.ranges();
        *slots = all.len();
        self.end_ms = Some(next.timestamp_ms);
        self.end_time = Some(next.time.clone());
        self.message = self.kind.to_string();
        true
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
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
            end_ms: None,
            end_time: None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
