//! The one table of event kinds and the slot-move reasons.

/// Every kind of event, in the order of [`KINDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// See [`EventKind::Reshard`](super::EventKind::Reshard).
    Reshard,
    /// See [`EventKind::Failover`](super::EventKind::Failover).
    Failover,
    /// See [`EventKind::SlotsAssigned`](super::EventKind::SlotsAssigned).
    SlotsAssigned,
    /// See [`EventKind::SlotsUnassigned`](super::EventKind::SlotsUnassigned).
    SlotsUnassigned,
    /// See [`EventKind::MigrationStarted`](super::EventKind::MigrationStarted).
    MigrationStarted,
    /// See [`EventKind::MigrationFinished`](super::EventKind::MigrationFinished).
    MigrationFinished,
    /// See [`EventKind::MigrationAborted`](super::EventKind::MigrationAborted).
    MigrationAborted,
    /// See [`EventKind::MigrationFailed`](super::EventKind::MigrationFailed).
    MigrationFailed,
    /// See [`EventKind::MigrationCancelled`](super::EventKind::MigrationCancelled).
    MigrationCancelled,
    /// See [`EventKind::NodeAdded`](super::EventKind::NodeAdded).
    NodeAdded,
    /// See [`EventKind::NodeRemoved`](super::EventKind::NodeRemoved).
    NodeRemoved,
    /// See [`EventKind::NodeFailed`](super::EventKind::NodeFailed).
    NodeFailed,
    /// See [`EventKind::NodeRecovered`](super::EventKind::NodeRecovered).
    NodeRecovered,
    /// See [`EventKind::AddressChanged`](super::EventKind::AddressChanged).
    AddressChanged,
    /// See [`EventKind::ReplicaMoved`](super::EventKind::ReplicaMoved).
    ReplicaMoved,
}

/// Why slots changed owner: the `reason` label of `redis_cluster_slot_moves_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MoveReason {
    /// Between two masters.
    Reshard,
    /// From a master to its promoted replica.
    Failover,
    /// From no owner to a master.
    Assigned,
    /// From a master to no owner.
    Unassigned,
}

impl MoveReason {
    /// Every reason, so that metrics export zeroes before the first move.
    pub const ALL: [MoveReason; 4] = [
        MoveReason::Reshard,
        MoveReason::Failover,
        MoveReason::Assigned,
        MoveReason::Unassigned,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            MoveReason::Reshard => "reshard",
            MoveReason::Failover => "failover",
            MoveReason::Assigned => "assigned",
            MoveReason::Unassigned => "unassigned",
        }
    }
}

/// What slotwatch knows about one kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind.
    pub kind: Kind,
    /// The `kind` label and JSON tag, e.g. `reshard`.
    pub name: &'static str,
    /// Owner, role, address or membership changes reroute clients, so they restart the
    /// redirect alert's grace window; migrations and failure flags alone do not.
    pub reroutes: bool,
    /// The slot-move reason its slots count under, if it moves slots.
    pub moves: Option<MoveReason>,
    /// The letter marking it on the cluster page's time axis; `None` leaves it unmarked.
    pub mark: Option<char>,
}

const fn row(
    kind: Kind,
    name: &'static str,
    reroutes: bool,
    moves: Option<MoveReason>,
    mark: Option<char>,
) -> KindInfo {
    KindInfo {
        kind,
        name,
        reroutes,
        moves,
        mark,
    }
}

/// The one table of event kinds, indexed by [`Kind`].
pub const KINDS: [KindInfo; 15] = [
    row(
        Kind::Reshard,
        "reshard",
        true,
        Some(MoveReason::Reshard),
        Some('R'),
    ),
    row(
        Kind::Failover,
        "failover",
        true,
        Some(MoveReason::Failover),
        Some('F'),
    ),
    row(
        Kind::SlotsAssigned,
        "slots_assigned",
        true,
        Some(MoveReason::Assigned),
        Some('S'),
    ),
    row(
        Kind::SlotsUnassigned,
        "slots_unassigned",
        true,
        Some(MoveReason::Unassigned),
        Some('S'),
    ),
    row(
        Kind::MigrationStarted,
        "migration_started",
        false,
        None,
        Some('M'),
    ),
    row(
        Kind::MigrationFinished,
        "migration_finished",
        false,
        None,
        Some('M'),
    ),
    row(
        Kind::MigrationAborted,
        "migration_aborted",
        false,
        None,
        Some('M'),
    ),
    row(
        Kind::MigrationFailed,
        "migration_failed",
        false,
        None,
        Some('M'),
    ),
    row(
        Kind::MigrationCancelled,
        "migration_cancelled",
        false,
        None,
        Some('M'),
    ),
    row(Kind::NodeAdded, "node_added", true, None, None),
    row(Kind::NodeRemoved, "node_removed", true, None, None),
    row(Kind::NodeFailed, "node_failed", false, None, Some('N')),
    row(
        Kind::NodeRecovered,
        "node_recovered",
        false,
        None,
        Some('N'),
    ),
    row(Kind::AddressChanged, "address_changed", true, None, None),
    row(Kind::ReplicaMoved, "replica_moved", true, None, None),
];

impl Kind {
    /// The kind's row of [`KINDS`].
    pub fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }

    /// The `kind` label value.
    pub fn name(self) -> &'static str {
        self.info().name
    }
}
