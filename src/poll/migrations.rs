//! Open migrations across polls whose views or job logs could not all be read. Pure.

use std::collections::HashSet;

use crate::topology::atomic::{self, Job, Phase};
use crate::topology::{NodeId, Role, Topology};

/// Classic migrations are printed only on their source's and target's own lines. When none of
/// the views that showed a migration was read this poll (not sampled, or the node did not
/// answer), its state is unknown, not closed: keep it rather than report it finished and
/// started again.
pub(super) fn carry_unseen(t: &mut Topology, prev: Option<&Topology>, viewed: &HashSet<NodeId>) {
    let Some(prev) = prev else { return };
    let mut carried = false;
    for m in &prev.migrations {
        let reread = (m.migrating_seen && viewed.contains(&m.source))
            || (m.importing_seen && viewed.contains(&m.target));
        let still_members = t.node(&m.source).is_some() && t.node(&m.target).is_some();
        if !reread && still_members && !t.migrations.iter().any(|n| n.key() == m.key()) {
            t.migrations.push(m.clone());
            carried = true;
        }
    }
    if carried {
        t.migrations.sort();
    }
}

/// Sets `t.atomic` from the job logs the masters reported this poll, `(node, jobs)`. A running
/// job whose source and target logs were both unread is kept as it was, for the same reason
/// as [`carry_unseen`]; replicas' logs are ignored (their tracking entries go stale when their
/// primary dies).
pub(super) fn attach_atomic(
    t: &mut Topology,
    prev: Option<&Topology>,
    reports: &[(NodeId, Vec<Job>)],
) {
    let masters: Vec<&(NodeId, Vec<Job>)> = reports
        .iter()
        .filter(|(id, _)| t.node(id).is_some_and(|n| n.role == Role::Master))
        .collect();
    let read: HashSet<NodeId> = masters.iter().map(|(id, _)| *id).collect();
    let mut jobs = atomic::combine(masters.iter().flat_map(|(_, jobs)| jobs));
    if let Some(prev) = prev {
        for old in prev.atomic.iter().filter(|a| a.phase == Phase::Running) {
            let unread = !read.contains(&old.source) && !read.contains(&old.target);
            if unread && !jobs.iter().any(|j| j.name == old.name) {
                jobs.push(old.clone());
            }
        }
    }
    jobs.sort_by(|a, b| (a.created_ms, &a.name).cmp(&(b.created_ms, &b.name)));
    t.atomic = jobs;
}
