//! Per cluster: coverage, migrations, suspect clients, agreement.

use crate::clients::Reason;
use crate::metrics::per::per_mechanism;
use crate::metrics::{BaseUnit, Family, Source, Type};
use crate::topology::{Mechanism, MigrationId, Topology};

/// The families of this part, in exposition order.
pub const CLUSTER: &[Family] = &[
    // --- Per cluster: coverage, migrations, agreement.
    Family {
        name: "redis_cluster_slots_unassigned",
        kind: Type::Gauge,
        unit: None,
        labels: &[],
        help: "Hash slots no master owns; keys in them cannot be served.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if let Some(t) = &s.topology {
                out.push(&[], t.unassigned_slots());
            }
        }),
    },
    Family {
        name: "redis_cluster_slots_migrating",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "mechanism"],
        help: "Slots the master is sending away: classic slots it marked MIGRATING (clients get ASK for keys already moved), or the slots of its running atomic exports (Valkey 9 CLUSTER MIGRATESLOTS).",
        polled: true,
        source: Source::Cluster(|s, out| per_mechanism(s, out, Topology::migrating_slots)),
    },
    Family {
        name: "redis_cluster_slots_importing",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "mechanism"],
        help: "Slots the master is receiving: classic slots it marked IMPORTING, or the slots of its running atomic imports.",
        polled: true,
        source: Source::Cluster(|s, out| per_mechanism(s, out, Topology::importing_slots)),
    },
    Family {
        name: "redis_cluster_migrations",
        kind: Type::Gauge,
        unit: None,
        labels: &["mechanism", "state"],
        help: "Open slot migrations by mechanism and state: classic ones by the halves set (migrating, importing, migrating+importing), atomic ones by the server's job state (snapshotting, replicating, ...).",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            let mut counts: std::collections::BTreeMap<(Mechanism, &str), u32> = Default::default();
            for m in t.open_migrations() {
                *counts.entry((m.mechanism, m.state)).or_insert(0) += 1;
            }
            for ((mechanism, state), n) in counts {
                out.push(&[mechanism.as_str(), state], n);
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_keys_remaining",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "Keys still on the source in its classic MIGRATING slots (CLUSTER COUNTKEYSINSLOT, summed over every database holding keys where Valkey 9 allows several), per source master; falls while a migration moves keys.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            let mut by_source: std::collections::BTreeMap<String, u64> = Default::default();
            for (id, p) in s.progress.iter() {
                if let (MigrationId::Classic(_, source, _), Some(keys)) = (id, p.keys_left) {
                    *by_source.entry(t.endpoint_of(source)).or_insert(0) += keys;
                }
            }
            for (node, keys) in by_source {
                out.push(&[&node], keys as f64);
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_age",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Seconds the oldest open slot migration has been open (an atomic job since its creation, a classic one since slotwatch first saw it); 0 if none is open.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if s.topology.is_some() {
                out.push(&[], s.oldest_migration_age_s());
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_stalled",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Seconds since the open migration that progressed least recently made progress: fewer keys left on a classic source, or a new state or update time of an atomic job; 0 if none is open. A long, steady migration keeps it low; a stuck one lets it grow.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if s.topology.is_some() {
                out.push(&[], s.migration_stalled_s());
            }
        }),
    },
    Family {
        name: "redis_cluster_suspect_clients",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "reason"],
        help: "Client connections to the node suspected of causing redirects, by reason (not_cluster_aware, replica_without_readonly, stale_map, rejected_commands), from the latest analysis of CLIENT LIST (--clients-interval; a heuristic). The connections themselves are at /clients. Absent while the analysis is off or has not run.",
        polled: false,
        source: Source::Cluster(|s, out| {
            if let Some(report) = &s.clients {
                for n in &report.nodes {
                    for reason in Reason::ALL {
                        out.push(
                            &[&n.node, reason.label()],
                            report.count(&n.node, reason) as u64,
                        );
                    }
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_view_disagreement_slots",
        kind: Type::Gauge,
        unit: None,
        labels: &[],
        help: "Slots on which the reachable nodes' CLUSTER NODES views name different owners; brief during a reshard, persistent means split views.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if let Some(t) = &s.topology {
                out.push(&[], t.disagreement.len());
            }
        }),
    },
];
