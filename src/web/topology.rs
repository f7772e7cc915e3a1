//! The `/topology` document: per cluster, the [`Overview`] of its latest snapshot.

use serde::Serialize;

use crate::overview::Overview;
use crate::snapshot::Published;

/// The document for the chosen clusters; a cluster that is unreachable shows the last topology
/// it had, marked stale.
pub fn document(chosen: &[&Published]) -> TopologyOut {
    TopologyOut {
        clusters: chosen.iter().map(|s| Overview::of(s)).collect(),
    }
}

/// The `/topology` document.
#[derive(Serialize)]
pub struct TopologyOut {
    clusters: Vec<Overview>,
}
