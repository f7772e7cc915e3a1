//! Redundancy and replication: what stands behind each master, each replica's link, where the
//! nodes run, and how evenly slots are spread. All read from [`crate::health::risks`], the
//! judgement's own reading.

use crate::health::risks::{self, ReplicaState};
use crate::metrics::{BaseUnit, Family, Source, Type};

/// The families of this part, in exposition order.
pub const REPLICATION: &[Family] = &[
    Family {
        name: "redis_cluster_master_replicas",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "state"],
        help: "Replicas of each master by state: ready (could take over now), failing (flagged fail or fail?), link_down (its own INFO replication says master_link_status:down or a full sync runs), nofailover (never takes over on its own). A master owning slots with ready 0 loses them on its next failure.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for shard in risks::shards(s, t) {
                for state in ReplicaState::ALL {
                    let n = shard.count(state) as u32;
                    out.push(&[&shard.master.endpoint, state.as_str()], n);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_replica_link_up",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "master"],
        help: "1 if the replica's own INFO replication says its link to its master is up and no full sync runs, else 0. Only replicas that answered the last poll.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for l in risks::links(s, t) {
                out.push(&[&l.replica.endpoint, &l.master.endpoint], l.up);
            }
        }),
    },
    Family {
        name: "redis_cluster_replica_lag",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Bytes),
        labels: &["node", "master"],
        help: "Bytes of its master's replication stream the replica has not processed: the master's master_repl_offset less the replica's slave_repl_offset, read in the same poll (a moment apart, so small values are noise). What a failover to it now would lose. Only while its link is up and both answered.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for l in risks::links(s, t) {
                if let Some(lag) = l.lag_bytes {
                    out.push(&[&l.replica.endpoint, &l.master.endpoint], lag);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_replica_colocated",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "master", "host"],
        help: "1 for each replica on its master's host (same announced hostname, or same IP without one): one machine failure takes both. Absent otherwise. On a cluster whose nodes all share one host (development), every replica is here, by design.",
        polled: false,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for shard in risks::shards(s, t) {
                for r in &shard.colocated {
                    out.push(&[&r.endpoint, &shard.master.endpoint, risks::host(r)], 1.0);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_shard_single_zone",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "zone"],
        help: "1 for each master whose replicas all say the same availability_zone as it does (Valkey 8.0+, when set): one zone outage takes the whole shard. Absent otherwise.",
        polled: false,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for shard in risks::shards(s, t) {
                if let Some(zone) = &shard.single_zone {
                    out.push(&[&shard.master.endpoint, zone], 1.0);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_slots_spread",
        kind: Type::Gauge,
        unit: None,
        labels: &[],
        help: "Slots of the busiest master over the mean of the masters owning slots (max/mean): 1 when slots are spread evenly. Slot counts only, not keys or load.",
        polled: false,
        source: Source::Cluster(|s, out| {
            if let Some(b) = s.topology.as_deref().and_then(risks::balance) {
                out.push(&[], b.spread());
            }
        }),
    },
];
