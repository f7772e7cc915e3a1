//! Events: what changed, counted and timestamped.

use crate::metrics::per::seconds;
use crate::metrics::{BaseUnit, Family, Source, Type};
use crate::topology::event::KINDS;

/// The families of this part, in exposition order.
pub const EVENTS: &[Family] = &[
    // --- Events: what changed, counted and timestamped.
    Family {
        name: "redis_cluster_events",
        kind: Type::Counter,
        unit: None,
        labels: &["kind"],
        help: "Topology events slotwatch detected by diffing successive polls, by kind (reshard, failover, migration_started, node_failed, ...). See /events for details.",
        polled: false,
        source: Source::Cluster(|s, out| {
            for k in &KINDS {
                out.push(
                    &[k.name],
                    s.stats.events_total.get(&k.kind).copied().unwrap_or(0),
                );
            }
        }),
    },
    Family {
        name: "redis_cluster_slot_moves",
        kind: Type::Counter,
        unit: None,
        labels: &["reason"],
        help: "Hash slots that changed owner between successive polls, by reason (reshard, failover, assigned, unassigned).",
        polled: false,
        source: Source::Cluster(|s, out| {
            for (reason, v) in &s.stats.slot_moves_total {
                out.push(&[reason.name()], *v);
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_lost_writes",
        kind: Type::Counter,
        unit: None,
        labels: &[],
        help: "Atomic slot migrations that failed after the source resumed writes before the cut-over finished: the migration may have succeeded with writes lost. Check the keys of those slots.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.stats.lost_writes_total)),
    },
    Family {
        name: "redis_cluster_last_topology_change_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time of the last slot owner, role, address or membership change slotwatch saw; 0 if none since it started. Redirect alerts use it as a grace window.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.stats.last_topology_change_ms))),
    },
    Family {
        name: "redis_cluster_last_reshard_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time of the last reshard (slots moved between masters) slotwatch saw; 0 if none.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.stats.last_reshard_ms))),
    },
    Family {
        name: "redis_cluster_last_failover_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time of the last failover (a replica took over its master) slotwatch saw; 0 if none.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.stats.last_failover_ms))),
    },
];
