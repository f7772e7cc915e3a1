//! The sentences of the health judgement: one per problem and note.

use std::fmt;

use super::{Note, Problem};
use crate::slot::format_ranges;

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotPolledYet => f.write_str("no poll has finished yet"),
            Problem::Unreachable { nodes } => {
                write!(f, "no node could be read: {}", nodes.join("; "))
            }
            Problem::NodesNotAnswering { nodes } => write!(
                f,
                "{} node(s) did not answer: {}",
                nodes.len(),
                nodes.join(", ")
            ),
            Problem::SlotsUnassigned { slots, ranges } => write!(
                f,
                "{slots} slot(s) have no owner: {}",
                format_ranges(ranges)
            ),
            Problem::MasterFailing { node, flags, slots } => write!(
                f,
                "master {node} is flagged {} and owns {slots} slot(s)",
                flags.join(",")
            ),
            Problem::StateFail { nodes } => write!(
                f,
                "{} node(s) say cluster_state:fail and refuse commands with CLUSTERDOWN: {}",
                nodes.len(),
                nodes.join(", ")
            ),
            Problem::ViewsDisagree { slots, ranges } => write!(
                f,
                "the nodes disagree on the owner of {slots} slot(s): {}",
                format_ranges(ranges)
            ),
            Problem::MigrationsOpen { migrations } => write!(
                f,
                "{} slot migration(s) open: {}",
                migrations.len(),
                migrations.join(", ")
            ),
            Problem::MigrationsStuck { migrations } => write!(
                f,
                "{} slot migration(s) stuck: {}",
                migrations.len(),
                migrations.join(", ")
            ),
            Problem::MigrationsFailed { migrations } => write!(
                f,
                "{} slot migration(s) failed: {}",
                migrations.len(),
                migrations.join("; ")
            ),
            Problem::Unredundant { .. }
            | Problem::ReplicationDown { .. }
            | Problem::ReplicationLagging { .. }
            | Problem::Colocated { .. }
            | Problem::SingleZone { .. } => risk(self, f),
        }
    }
}

/// The sentences of the risks of the next failure.
fn risk(p: &Problem, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match p {
        Problem::Unredundant { masters } => write!(
            f,
            "{} master(s) have no replica ready to take over, so their next failure leaves \
                 their slots without an owner: {}",
            masters.len(),
            masters.join("; ")
        ),
        Problem::ReplicationDown { replicas } => write!(
            f,
            "{} replica(s) say their link to the master is down or a full sync runs: {}",
            replicas.len(),
            replicas.join(", ")
        ),
        Problem::ReplicationLagging { replicas } => write!(
            f,
            "{} replica(s) are far behind their master, so a failover now loses writes: {}",
            replicas.len(),
            replicas.join(", ")
        ),
        Problem::Colocated { pairs } => write!(
            f,
            "{} replica(s) share a host with their master, so one machine failure takes \
                 both: {}",
            pairs.len(),
            pairs.join("; ")
        ),
        Problem::SingleZone { shards } => write!(
            f,
            "{} shard(s) are in one availability zone, so one zone outage takes them: {}",
            shards.len(),
            shards.join("; ")
        ),
        other => unreachable!("not a risk: {other:?}"),
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::SingleHost { host, nodes } => write!(
                f,
                "all {nodes} nodes are on one host ({host}): fine for development, but no \
                 replica survives that machine's failure"
            ),
            Note::Unbalanced { balance: b } => write!(
                f,
                "slots are spread unevenly: {} to {} per master (mean {:.0}, {:.1}% off, max/mean \
                 {:.2}); redis-cli --cluster rebalance moves slots past 2%",
                b.min,
                b.max,
                b.mean,
                b.off_by_percent(),
                b.spread()
            ),
        }
    }
}
