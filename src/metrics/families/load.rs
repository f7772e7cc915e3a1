//! Where the load is: each master's keys, CPU and network traffic from its per-slot stats
//! (`CLUSTER SLOT-STATS`, Valkey 8.0+ and Redis 8.2+, read every `--slot-stats-interval`), its
//! busiest slots, and how evenly the masters share the load. Bounded: per master a few totals
//! and `--slot-stats-top` slots per measure, never a series per slot.

use crate::health::load::{self, Measure};
use crate::metrics::{BaseUnit, Family, Source, Type};
use crate::slot_stats::Metric;

/// The network measures, with their `direction` label.
const DIRECTIONS: [(Metric, &str); 2] = [(Metric::NetworkIn, "in"), (Metric::NetworkOut, "out")];

/// The families of this part, in exposition order.
pub const LOAD: &[Family] = &[
    Family {
        name: "redis_cluster_slot_stats_keys",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "Keys in the master's slots (the sum of CLUSTER SLOT-STATS key-count, all databases). Read every --slot-stats-interval, not every poll.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for (m, loads) in load::master_loads(s, t) {
                if let Some(v) = loads.and_then(|l| l.latest.total(Metric::Keys)) {
                    out.push(&[&m.endpoint], v as f64);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_slot_stats_cpu",
        kind: Type::Counter,
        unit: Some(BaseUnit::Seconds),
        labels: &["node"],
        help: "CPU time the master spent on its slots' commands (the sum of CLUSTER SLOT-STATS cpu-usec; needs cluster-slot-stats-enabled yes). Each slot counts from when it came to the master: a slot that leaves takes its part away, which reads as a counter reset. Read every --slot-stats-interval.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for (m, loads) in load::master_loads(s, t) {
                if let Some(v) = loads.and_then(|l| l.latest.total(Metric::Cpu)) {
                    out.push(&[&m.endpoint], v as f64 / 1e6);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_slot_stats_network",
        kind: Type::Counter,
        unit: Some(BaseUnit::Bytes),
        labels: &["node", "direction"],
        help: "Bytes of the master's slots' commands received (in) and of their replies sent (out), the sums of CLUSTER SLOT-STATS network-bytes-in/out (needs cluster-slot-stats-enabled yes). A slot that leaves reads as a counter reset. Read every --slot-stats-interval.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for (m, loads) in load::master_loads(s, t) {
                for (metric, direction) in DIRECTIONS {
                    if let Some(v) = loads.and_then(|l| l.latest.total(metric)) {
                        out.push(&[&m.endpoint, direction], v);
                    }
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_top_slot_keys",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "slot"],
        help: "Keys in each of the master's --slot-stats-top fullest slots (CLUSTER SLOT-STATS key-count). Which slots appear changes as the load moves; slots with no key never do.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for (m, loads) in load::master_loads(s, t) {
                for (slot, v) in loads.map_or(&[][..], |l| &l.latest.top[Metric::Keys.index()]) {
                    out.push(&[&m.endpoint, &slot.to_string()], *v as f64);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_top_slot_cpu",
        kind: Type::Counter,
        unit: Some(BaseUnit::Seconds),
        labels: &["node", "slot"],
        help: "CPU time spent on each of the master's --slot-stats-top busiest slots since the slot came to it (CLUSTER SLOT-STATS cpu-usec). A slot drops out when others pass it, so take rate() per slot and expect gaps.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for (m, loads) in load::master_loads(s, t) {
                for (slot, v) in loads.map_or(&[][..], |l| &l.latest.top[Metric::Cpu.index()]) {
                    out.push(&[&m.endpoint, &slot.to_string()], *v as f64 / 1e6);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_top_slot_network",
        kind: Type::Counter,
        unit: Some(BaseUnit::Bytes),
        labels: &["node", "slot", "direction"],
        help: "Bytes in or out for each of the master's --slot-stats-top busiest slots in that direction since the slot came to it (CLUSTER SLOT-STATS network-bytes-in/out).",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for (m, loads) in load::master_loads(s, t) {
                for (metric, direction) in DIRECTIONS {
                    for (slot, v) in loads.map_or(&[][..], |l| &l.latest.top[metric.index()]) {
                        out.push(&[&m.endpoint, &slot.to_string(), direction], *v);
                    }
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_load_spread",
        kind: Type::Gauge,
        unit: None,
        labels: &["measure"],
        help: "The busiest master's load over the mean of the masters owning slots (max/mean), by measure: keys, cpu and network (rates between the last two readings of CLUSTER SLOT-STATS). 1 when even; slotwatch plan proposes the moves that even it. Absent for servers without CLUSTER SLOT-STATS (before Valkey 8.0 and Redis 8.2): there redis_cluster_slots_spread compares slot counts only.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(b) = s.topology.as_deref().and_then(|t| load::load_balance(s, t)) else {
                return;
            };
            for measure in Measure::ALL {
                if let Some(spread) = b.spread(measure) {
                    out.push(&[measure.as_str()], spread.ratio());
                }
            }
        }),
    },
];
