//! The cluster model: one node's view ([`View`]) as parsed from `CLUSTER NODES`, and the merged
//! [`Topology`] that slotwatch diffs and exports.
//!
//! Everything here is pure data and pure functions, so that the poller, the `diff` command,
//! benches and fuzz targets share one implementation.

pub mod atomic;
pub mod diff;
pub mod event;
pub mod merge;
pub mod parse;
mod view;

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::slot::{SLOT_COUNT, SlotRange};
pub use view::{Addr, Flags, LinkState, NodeId, NodeLine, Role, View};

/// A node in the merged topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The node's ID.
    pub id: NodeId,
    /// `ip:port` as MOVED replies name it; the `node` label.
    pub endpoint: String,
    /// The full announced address.
    #[serde(skip)]
    pub addr: Addr,
    /// Role, from the node's own view when it answered, else from the majority of views.
    pub role: Role,
    /// The master this node replicates.
    pub master: Option<NodeId>,
    /// Highest config epoch any view reported for this node.
    pub config_epoch: u64,
    /// True if a majority of the views that list this node flag it `fail?`.
    pub pfail: bool,
    /// True if a majority of the views that list this node flag it `fail`.
    pub fail: bool,
    /// The node has no known address.
    pub noaddr: bool,
    /// The replica never attempts a failover.
    pub nofailover: bool,
    /// Number of merged views that list this node.
    pub seen_by: u32,
    /// True if this node's own reply was among the merged views.
    #[serde(rename = "own_view")]
    pub answered: bool,
    /// Slots this node owns in the merged topology, as ranges.
    #[serde(rename = "ranges")]
    pub slots: Vec<SlotRange>,
    /// Number of slots this node owns; serialised as `slots`, the name every count of slots
    /// has in slotwatch's JSON.
    #[serde(rename = "slots")]
    pub slot_count: u32,
}

/// An open slot migration, from the source's `MIGRATING` and/or the target's `IMPORTING` state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Migration {
    /// The slot being moved.
    pub slot: u16,
    /// The node the slot moves away from.
    pub source: NodeId,
    /// The node the slot moves to.
    pub target: NodeId,
    /// The source's own view shows `[slot->-target]`.
    pub migrating_seen: bool,
    /// The target's own view shows `[slot-<-source]`.
    pub importing_seen: bool,
}

impl Migration {
    /// The identity of a migration, independent of which half has been seen yet.
    pub fn key(&self) -> (u16, NodeId, NodeId) {
        (self.slot, self.source, self.target)
    }
}

/// How a migration moves slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// `CLUSTER SETSLOT` MIGRATING/IMPORTING and `MIGRATE`, one slot at a time; clients get ASK.
    Classic,
    /// Valkey 9's `CLUSTER MIGRATESLOTS`: whole ranges, no ASK, a short pause at the cut-over.
    Atomic,
}

impl Mechanism {
    /// The `mechanism` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Classic => "classic",
            Mechanism::Atomic => "atomic",
        }
    }
}

/// A migration's identity from poll to poll.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MigrationId {
    /// A classic migration: (slot, source, target).
    Classic(u16, NodeId, NodeId),
    /// An atomic migration: its job name.
    Atomic(String),
}

impl MigrationId {
    /// A classic migration's slot.
    pub fn slot(&self) -> Option<u16> {
        match self {
            MigrationId::Classic(slot, ..) => Some(*slot),
            MigrationId::Atomic(_) => None,
        }
    }

    /// An atomic migration's job name.
    pub fn job(&self) -> Option<&str> {
        match self {
            MigrationId::Atomic(name) => Some(name),
            MigrationId::Classic(..) => None,
        }
    }
}

/// An open migration of either mechanism: what health, check, the metrics and `/topology` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenMigration<'a> {
    /// Its identity.
    pub id: MigrationId,
    /// How it moves slots.
    pub mechanism: Mechanism,
    /// The master the slots leave.
    pub source: NodeId,
    /// The master they go to.
    pub target: NodeId,
    /// The slots.
    pub ranges: Vec<SlotRange>,
    /// How many.
    pub slots: u32,
    /// For atomic migrations the server's state (`snapshotting`, ...); for classic ones which
    /// halves are set: `migrating`, `importing` or `migrating+importing`.
    pub state: &'a str,
}

/// A master and its replicas.
#[derive(Debug, Clone)]
pub struct Shard<'a> {
    /// The master.
    pub master: &'a Node,
    /// Its replicas, in ID order.
    pub replicas: Vec<&'a Node>,
}

/// Marker in [`Topology`]'s owner table for a slot with no owner.
const NO_OWNER: u32 = u32::MAX;

/// The whole cluster as merged from every view slotwatch could read at one instant.
#[derive(Clone, PartialEq, Eq)]
pub struct Topology {
    /// Unix milliseconds when the views were read; stamped on the events diffed from it.
    pub observed_at_ms: u64,
    /// Every known node, sorted by ID.
    pub nodes: Vec<Node>,
    /// Owner of each slot as an index into `nodes`, or `NO_OWNER`.
    owners: Box<[u32]>,
    /// Open classic migrations, sorted by slot.
    pub migrations: Vec<Migration>,
    /// Atomic migrations the masters report, running or finished, oldest first.
    pub atomic: Vec<atomic::AtomicMigration>,
    /// Slots on which the merged views did not all name the same owner.
    pub disagreement: crate::slot::SlotSet,
    /// How many views were merged.
    pub views: u32,
    /// Views left out because no other view lists their node (it left the cluster).
    pub ignored_views: u32,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("observed_at_ms", &self.observed_at_ms)
            .field("nodes", &self.nodes)
            .field("migrations", &self.migrations)
            .field("atomic", &self.atomic)
            .field("disagreement", &self.disagreement)
            .field("views", &self.views)
            .field("ignored_views", &self.ignored_views)
            .finish()
    }
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            observed_at_ms: 0,
            nodes: Vec::new(),
            owners: vec![NO_OWNER; usize::from(SLOT_COUNT)].into_boxed_slice(),
            migrations: Vec::new(),
            atomic: Vec::new(),
            disagreement: crate::slot::SlotSet::new(),
            views: 0,
            ignored_views: 0,
        }
    }
}

impl Topology {
    /// Looks a node up by ID.
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.index_of(id).map(|i| &self.nodes[i])
    }

    fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.nodes.binary_search_by(|n| n.id.cmp(id)).ok()
    }

    /// The master that owns `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        let idx = *self.owners.get(usize::from(slot))?;
        self.nodes.get(idx as usize)
    }

    /// Number of slots with no owner.
    pub fn unassigned_slots(&self) -> u32 {
        self.owners.iter().filter(|&&o| o == NO_OWNER).count() as u32
    }

    /// Ranges of slots with no owner.
    pub fn unassigned_ranges(&self) -> Vec<SlotRange> {
        crate::slot::ranges_of(
            self.owners
                .iter()
                .enumerate()
                .filter(|(_, o)| **o == NO_OWNER)
                .map(|(s, _)| s as u16),
        )
    }

    /// The masters, in ID order.
    pub fn masters(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Master)
    }

    /// The replicas of `master`, in ID order.
    pub fn replicas_of<'a>(&'a self, master: &'a NodeId) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes
            .iter()
            .filter(move |n| n.role == Role::Replica && n.master.as_ref() == Some(master))
    }

    /// Open migrations of both mechanisms: classic ones by slot, then running atomic ones.
    pub fn open_migrations(&self) -> Vec<OpenMigration<'_>> {
        let classic = self.migrations.iter().map(|m| OpenMigration {
            id: MigrationId::Classic(m.slot, m.source, m.target),
            mechanism: Mechanism::Classic,
            source: m.source,
            target: m.target,
            ranges: vec![SlotRange::single(m.slot)],
            slots: 1,
            state: match (m.migrating_seen, m.importing_seen) {
                (true, true) => "migrating+importing",
                (true, false) => "migrating",
                _ => "importing",
            },
        });
        let atomic = self
            .atomic
            .iter()
            .filter(|a| a.phase == atomic::Phase::Running)
            .map(|a| OpenMigration {
                id: MigrationId::Atomic(a.name.clone()),
                mechanism: Mechanism::Atomic,
                source: a.source,
                target: a.target,
                ranges: a.ranges.clone(),
                slots: a.slots,
                state: &a.state,
            });
        classic.chain(atomic).collect()
    }

    /// Slots `node` is sending away by `mechanism`: classic slots it has marked MIGRATING, or
    /// the slots of its running atomic exports.
    pub fn migrating_slots(&self, node: &NodeId, mechanism: Mechanism) -> u32 {
        match mechanism {
            Mechanism::Classic => self
                .migrations
                .iter()
                .filter(|m| m.migrating_seen && m.source == *node)
                .count() as u32,
            Mechanism::Atomic => self
                .atomic
                .iter()
                .filter(|a| a.phase == atomic::Phase::Running && a.source == *node)
                .map(|a| a.slots)
                .sum(),
        }
    }

    /// Slots `node` is receiving by `mechanism`: classic slots it has marked IMPORTING, or the
    /// slots of its running atomic imports.
    pub fn importing_slots(&self, node: &NodeId, mechanism: Mechanism) -> u32 {
        match mechanism {
            Mechanism::Classic => self
                .migrations
                .iter()
                .filter(|m| m.importing_seen && m.target == *node)
                .count() as u32,
            Mechanism::Atomic => self
                .atomic
                .iter()
                .filter(|a| a.phase == atomic::Phase::Running && a.target == *node)
                .map(|a| a.slots)
                .sum(),
        }
    }

    /// The masters with their replicas, ordered by the masters' `ip:port`: how people read a
    /// cluster, and how `check`, `/topology` and the cluster page list it.
    pub fn shards(&self) -> Vec<Shard<'_>> {
        // One pass over the replicas, not one per master: 30k-node topologies exist.
        let mut replicas: HashMap<NodeId, Vec<&Node>> = HashMap::new();
        for n in self.nodes.iter().filter(|n| n.role == Role::Replica) {
            if let Some(m) = n.master {
                replicas.entry(m).or_default().push(n);
            }
        }
        let mut shards: Vec<Shard<'_>> = self
            .masters()
            .map(|master| Shard {
                master,
                replicas: replicas.remove(&master.id).unwrap_or_default(),
            })
            .collect();
        shards.sort_by(|a, b| a.master.endpoint.cmp(&b.master.endpoint));
        shards
    }

    /// Every node, ordered by `ip:port`, as `/metrics` lists them.
    pub fn by_endpoint(&self) -> Vec<&Node> {
        let mut nodes: Vec<&Node> = self.nodes.iter().collect();
        nodes.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        nodes
    }

    /// The node's `ip:port`, or the abbreviated ID for a node this topology does not know.
    pub fn endpoint_of(&self, id: &NodeId) -> String {
        match self.node(id) {
            Some(n) => n.endpoint.clone(),
            None => id.short().to_owned(),
        }
    }
}

#[cfg(test)]
pub(crate) mod testdata {
    //! Realistic `CLUSTER NODES` dumps shared by the parse, merge and diff tests.

    /// IDs of the six nodes of the test cluster, as Redis 7 generated them.
    pub const A: &str = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca";
    pub const B: &str = "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1";
    pub const C: &str = "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f";
    pub const A1: &str = "824fe116063bc5fcf9f4ffd895bc17aee7731ac3";
    pub const B1: &str = "07c37dfeb235213a872192d90877d0cd55635b91";
    pub const C1: &str = "6ec23923021cf3ffec47632106199cb7f496ce01";
    pub const D: &str = "a3b1c0ffee0dd0c5fa11ba11deadbeefcafe0007";

    /// A healthy 3-master, 3-replica cluster as node A (port 30001) sees it.
    pub fn healthy() -> String {
        format!(
            "{A} 127.0.0.1:30001@31001 myself,master - 0 1426238316000 1 connected 0-5460\n\
             {B} 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922\n\
             {C} 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383\n\
             {A1} 127.0.0.1:30004@31004 slave {A} 0 1426238317239 1 connected\n\
             {B1} 127.0.0.1:30005@31005 slave {B} 0 1426238316232 2 connected\n\
             {C1} 127.0.0.1:30006@31006 slave {C} 0 1426238317741 3 connected\n"
        )
    }

    /// [`healthy`] with each node on its own host, 10.0.0.1 to 10.0.0.6.
    pub fn spread() -> String {
        (1..=6).fold(healthy(), |text, i| {
            text.replace(
                &format!("127.0.0.1:3000{i}@"),
                &format!("10.0.0.{i}:3000{i}@"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;

    #[test]
    fn a_migration_is_named_by_its_slot_or_its_job() {
        let (a, b) = (NodeId::parse(A), NodeId::parse(B));
        let (Some(a), Some(b)) = (a, b) else {
            panic!("test IDs parse");
        };
        let classic = MigrationId::Classic(7, a, b);
        assert_eq!((classic.slot(), classic.job()), (Some(7), None));
        let atomic = MigrationId::Atomic("job-1".into());
        assert_eq!((atomic.slot(), atomic.job()), (None, Some("job-1")));
    }

    #[test]
    fn debug_shows_the_model_but_not_the_slot_index() {
        let t = merge(&[parse_view(&healthy()).unwrap()], 1_234);
        let text = format!("{t:?}");
        assert!(
            text.starts_with("Topology { observed_at_ms: 1234, nodes: ["),
            "{text}"
        );
        assert!(
            text.contains("127.0.0.1:30006") && text.contains("views: 1"),
            "{text}"
        );
        // 16384 owner indices would drown every assertion message that prints a topology.
        assert!(!text.contains("owners"), "{text}");
    }
}
