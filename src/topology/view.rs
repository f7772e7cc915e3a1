//! One node's view as `CLUSTER NODES` prints it: node IDs, addresses, flags, roles and lines.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::slot::SlotRange;

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

    /// Flags from their bits, for generating arbitrary lines in tests.
    #[cfg(test)]
    pub(crate) const fn from_bits(bits: u16) -> Flags {
        Flags(bits)
    }

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
