//! The shapes in which the rows of [`super::families::families`] read a snapshot: one sample
//! per master, per node that answered `CLUSTER INFO`, per master and mechanism.

use super::Samples;
use crate::cluster_info::ClusterInfo;
use crate::snapshot::Snapshot;
use crate::topology::{Mechanism, Node, NodeId, Role, Topology};

/// One sample per master, ordered by address, of `value`.
pub(super) fn per_master<'a>(
    s: &'a Snapshot,
    out: &mut Samples<'a>,
    value: fn(&Topology, &Node) -> u32,
) {
    let Some(t) = &s.topology else { return };
    for n in t
        .by_endpoint()
        .into_iter()
        .filter(|n| n.role == Role::Master)
    {
        out.push(&[&n.endpoint], value(t, n));
    }
}

/// One sample per node that answered `CLUSTER INFO`, of `value`.
pub(super) fn per_info<'a>(s: &'a Snapshot, out: &mut Samples<'a>, value: fn(&ClusterInfo) -> f64) {
    for n in &s.nodes {
        if let Some(info) = &n.cluster_info {
            out.push(&[&n.endpoint], value(info));
        }
    }
}

/// One sample per master and mechanism, ordered by address, of `slots`.
pub(super) fn per_mechanism<'a>(
    s: &'a Snapshot,
    out: &mut Samples<'a>,
    slots: fn(&Topology, &NodeId, Mechanism) -> u32,
) {
    let Some(t) = &s.topology else { return };
    for n in t
        .by_endpoint()
        .into_iter()
        .filter(|n| n.role == Role::Master)
    {
        for m in [Mechanism::Classic, Mechanism::Atomic] {
            out.push(&[&n.endpoint, m.as_str()], slots(t, &n.id, m));
        }
    }
}

/// Unix ms as the seconds Prometheus timestamps are in.
pub(super) fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}
