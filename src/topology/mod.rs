//! The cluster model: one node's view ([`View`]) as parsed from `CLUSTER NODES`, and the merged
//! [`Topology`] that slotwatch diffs and exports.
//!
//! Everything here is pure data and pure functions, so that the poller, the `diff` command,
//! benches and fuzz targets share one implementation.

pub mod diff;
pub mod event;
pub mod merge;
pub mod parse;

use std::fmt;

use serde::{Serialize, Serializer};

use crate::slot::{SLOT_COUNT, SlotRange};

/// A node's 40-character hexadecimal cluster ID, the only identity that survives address
/// changes and restarts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId([u8; 40]);

impl NodeId {
    /// Parses a 40-character hex ID; `None` if the text is anything else.
    pub fn parse(text: &str) -> Option<NodeId> {
        let bytes: [u8; 40] = text.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(u8::is_ascii_hexdigit)
            .then_some(NodeId(bytes))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored, so this cannot fail; fall back to "" rather
        // than panic if that invariant were ever broken.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The first 8 characters, as `redis-cli` abbreviates IDs in its reports.
    pub fn short(&self) -> &str {
        &self.as_str()[..8]
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.as_str())
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A node's announced address, as the node itself and its MOVED replies print it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Addr {
    /// IP (v4 or v6, without brackets); empty for a node with no known address.
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Cluster bus port; absent in Redis 3.x output.
    pub cport: Option<u16>,
    /// Announced hostname (Redis 7+), if set; an empty one is stored as `None`.
    pub hostname: Option<String>,
    /// Auxiliary `key=value` fields (Redis 7.2+ and Valkey, e.g. `shard-id`), kept verbatim.
    pub aux: Vec<(String, String)>,
}

impl Addr {
    /// The `ip:port` endpoint exactly as a `MOVED` reply names this node; slotwatch's `node`
    /// label, so that operators can grep for it.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// Node flags as printed in the third field of `CLUSTER NODES`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u16);

impl Flags {
    /// The line describes the node that answered.
    pub const MYSELF: Flags = Flags(1);
    /// The node is a master.
    pub const MASTER: Flags = Flags(1 << 1);
    /// The node is a replica (`slave`).
    pub const REPLICA: Flags = Flags(1 << 2);
    /// The answering node cannot reach this node (`fail?`, PFAIL).
    pub const PFAIL: Flags = Flags(1 << 3);
    /// The cluster agreed that the node failed (`fail`).
    pub const FAIL: Flags = Flags(1 << 4);
    /// First contact, the ID is still temporary (`handshake`).
    pub const HANDSHAKE: Flags = Flags(1 << 5);
    /// No known address (`noaddr`).
    pub const NOADDR: Flags = Flags(1 << 6);
    /// The replica never attempts a failover (`nofailover`).
    pub const NOFAILOVER: Flags = Flags(1 << 7);

    const NAMES: [(Flags, &'static str); 8] = [
        (Flags::MYSELF, "myself"),
        (Flags::MASTER, "master"),
        (Flags::REPLICA, "slave"),
        (Flags::PFAIL, "fail?"),
        (Flags::FAIL, "fail"),
        (Flags::HANDSHAKE, "handshake"),
        (Flags::NOADDR, "noaddr"),
        (Flags::NOFAILOVER, "nofailover"),
    ];

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// True if every flag in `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets or clears the flags in `other`.
    pub fn set(&mut self, other: Flags, on: bool) {
        if on {
            self.0 |= other.0;
        } else {
            self.0 &= !other.0;
        }
    }

    /// Looks up a flag by its `CLUSTER NODES` name.
    pub fn from_name(name: &str) -> Option<Flags> {
        Flags::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(f, _)| *f)
    }

    /// The set flags by name, in `CLUSTER NODES` order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::NAMES
            .iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for name in self.names() {
            if any {
                f.write_str(",")?;
            }
            f.write_str(name)?;
            any = true;
        }
        if !any {
            f.write_str("noflags")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({self})")
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

/// State of the cluster-bus link from the answering node to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The bus link is up.
    Connected,
    /// The bus link is down.
    Disconnected,
}

/// Whether a node serves slots, replicates, or has not said yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Owns (or may own) slots.
    Master,
    /// Replicates a master.
    Replica,
    /// Neither flag is set (`noflags`, e.g. during a handshake).
    Unknown,
}

impl Role {
    /// The role as used in the `role` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
            Role::Unknown => "unknown",
        }
    }

    fn of(flags: Flags) -> Role {
        if flags.contains(Flags::MASTER) {
            Role::Master
        } else if flags.contains(Flags::REPLICA) {
            Role::Replica
        } else {
            Role::Unknown
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a `CLUSTER NODES` reply: what the answering node believes about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    /// The node's ID.
    pub id: NodeId,
    /// The node's address.
    pub addr: Addr,
    /// Flags as the answering node sees them.
    pub flags: Flags,
    /// The master this node replicates, if it is a replica.
    pub master: Option<NodeId>,
    /// Unix milliseconds of the pending PING, 0 if none.
    pub ping_sent: u64,
    /// Unix milliseconds of the last PONG received.
    pub pong_recv: u64,
    /// The node's config epoch (its master's, for a replica).
    pub config_epoch: u64,
    /// State of the bus link.
    pub link: LinkState,
    /// Slots this node serves, as printed.
    pub slots: Vec<SlotRange>,
    /// Slots being moved away from this node: `[slot->-target]` (only on the `myself` line).
    pub migrating: Vec<(u16, NodeId)>,
    /// Slots being moved to this node: `[slot-<-source]` (only on the `myself` line).
    pub importing: Vec<(u16, NodeId)>,
}

impl NodeLine {
    /// The node's role as this line states it.
    pub fn role(&self) -> Role {
        Role::of(self.flags)
    }
}

impl fmt::Display for NodeLine {
    /// Renders the line in Redis 7 format; parsing the output gives back the same line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:{}", self.id, self.addr.ip, self.addr.port)?;
        if let Some(cport) = self.addr.cport {
            write!(f, "@{cport}")?;
        }
        if self.addr.hostname.is_some() || !self.addr.aux.is_empty() {
            write!(f, ",{}", self.addr.hostname.as_deref().unwrap_or(""))?;
            for (k, v) in &self.addr.aux {
                write!(f, ",{k}={v}")?;
            }
        }
        write!(f, " {} ", self.flags)?;
        match &self.master {
            Some(m) => write!(f, "{m}")?,
            None => f.write_str("-")?,
        }
        let link = match self.link {
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
        };
        write!(
            f,
            " {} {} {} {link}",
            self.ping_sent, self.pong_recv, self.config_epoch
        )?;
        for r in &self.slots {
            write!(f, " {r}")?;
        }
        for (slot, target) in &self.migrating {
            write!(f, " [{slot}->-{target}]")?;
        }
        for (slot, source) in &self.importing {
            write!(f, " [{slot}-<-{source}]")?;
        }
        Ok(())
    }
}

/// One node's complete `CLUSTER NODES` reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    /// The lines, in reply order.
    pub lines: Vec<NodeLine>,
}

impl View {
    /// The line describing the node that answered, if the reply has one.
    pub fn myself(&self) -> Option<&NodeLine> {
        self.lines.iter().find(|l| l.flags.contains(Flags::MYSELF))
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

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
    pub answered: bool,
    /// Slots this node owns in the merged topology.
    pub slots: Vec<SlotRange>,
    /// Number of slots this node owns.
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
    /// Open migrations, sorted by slot.
    pub migrations: Vec<Migration>,
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

    /// Number of slots `node` has marked MIGRATING.
    pub fn migrating_count(&self, node: &NodeId) -> u32 {
        self.migrations
            .iter()
            .filter(|m| m.migrating_seen && m.source == *node)
            .count() as u32
    }

    /// Number of slots `node` has marked IMPORTING.
    pub fn importing_count(&self, node: &NodeId) -> u32 {
        self.migrations
            .iter()
            .filter(|m| m.importing_seen && m.target == *node)
            .count() as u32
    }

    /// The masters with their replicas, ordered by the masters' `ip:port`: how people read a
    /// cluster, and how `check`, `/topology` and the cluster page list it.
    pub fn shards(&self) -> Vec<Shard<'_>> {
        let mut shards: Vec<Shard<'_>> = self
            .masters()
            .map(|master| Shard {
                master,
                replicas: self.replicas_of(&master.id).collect(),
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
}
