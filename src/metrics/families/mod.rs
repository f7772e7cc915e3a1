//! The one table of metric families, in parts by subject: per node, per cluster, redundancy
//! and replication, events, and slotwatch itself. Each row says what the family is and how to read it from a snapshot.

mod cluster;
mod events;
mod load;
mod node;
mod own;
mod replication;

use super::Family;

/// The parts, in exposition order.
const PARTS: &[&[Family]] = &[
    node::NODE,
    cluster::CLUSTER,
    replication::REPLICATION,
    load::LOAD,
    events::EVENTS,
    own::OWN,
];

/// Every family `/metrics` exports, in exposition order.
pub fn families() -> impl Iterator<Item = &'static Family> {
    PARTS.iter().flat_map(|part| part.iter())
}
