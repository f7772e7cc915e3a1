//! Where the load is: how evenly keys, CPU and network traffic are spread over the masters, from
//! their per-slot stats (`CLUSTER SLOT-STATS`, Valkey 8.0+ and Redis 8.2+). Pure; `/metrics`,
//! `check` and the cluster page all read it from here.
//!
//! Keys are a gauge and compare as they are. CPU and network are counters that start when a
//! slot comes to its master, so they compare as rates between a master's last two readings: a
//! master whose counters went down between them (a slot left, `CONFIG RESETSTAT`, a restart)
//! has no rate until its next reading.

use serde::Serialize;

use crate::plan::Spread;
use crate::slot_stats::{self, Metric, NodeLoad};
use crate::snapshot::{Loads, Snapshot};
use crate::topology::{Node, Topology};

/// A measure of load across masters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Keys in each master's slots.
    Keys,
    /// CPU time per second spent on each master's slots' commands.
    Cpu,
    /// Bytes per second in and out for each master's slots' commands.
    Network,
}

impl Measure {
    /// Every measure, in the order reports list them.
    pub const ALL: [Measure; 3] = [Measure::Keys, Measure::Cpu, Measure::Network];

    /// The `measure` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Keys => "keys",
            Measure::Cpu => "cpu",
            Measure::Network => "network",
        }
    }

    /// The server's fields that make it up.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Measure::Keys => &[Metric::Keys],
            Measure::Cpu => &[Metric::Cpu],
            Measure::Network => &[Metric::NetworkIn, Metric::NetworkOut],
        }
    }

    /// One master's value: its keys, or its rate (per second) between its two readings.
    fn value(self, loads: &Loads) -> Option<u64> {
        let sum = |l: &NodeLoad| {
            self.metrics()
                .iter()
                .map(|m| l.total(*m))
                .sum::<Option<u64>>()
        };
        let latest = sum(&loads.latest)?;
        if self == Measure::Keys {
            return Some(latest);
        }
        let before = loads.before.as_ref()?;
        let rate = slot_stats::rate(
            (before.read_at_ms, sum(before)?),
            (loads.latest.read_at_ms, latest),
        )?;
        Some(rate.round() as u64)
    }
}

/// How the load is spread over the masters owning slots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadBalance {
    /// Masters owning slots.
    pub masters: usize,
    /// Those whose server has no `CLUSTER SLOT-STATS`: with any, only slot counts compare.
    pub without_stats: Vec<String>,
    /// Per measure, the spread over the masters, when every master gives a value for it.
    pub spreads: Vec<(Measure, Spread)>,
}

impl LoadBalance {
    /// The spread of `measure`, if known.
    pub fn spread(&self, measure: Measure) -> Option<&Spread> {
        self.spreads
            .iter()
            .find(|(m, _)| *m == measure)
            .map(|(_, s)| s)
    }
}

impl std::fmt::Display for LoadBalance {
    /// One sentence: the spread of each measure known, which ones to plan for, and what is
    /// missing and why.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.without_stats.is_empty() {
            return write!(
                f,
                "load: {} run(s) a server without CLUSTER SLOT-STATS (Valkey 8.0+, Redis 8.2+), \
                 so balance is judged by slot counts only",
                self.without_stats.join(", ")
            );
        }
        write!(f, "load over {} masters:", self.masters)?;
        for (i, (measure, spread)) in self.spreads.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(
                f,
                "{sep} {} max/mean {:.2} ({:.0}% off the mean)",
                measure.as_str(),
                spread.ratio(),
                spread.off() * 100.0
            )?;
        }
        let missing: Vec<&str> = Measure::ALL
            .iter()
            .filter(|m| self.spread(**m).is_none())
            .map(|m| m.as_str())
            .collect();
        if !missing.is_empty() {
            write!(
                f,
                "; {} unknown (they need cluster-slot-stats-enabled yes and two readings, which \
                 serve takes every --slot-stats-interval)",
                missing.join(" and ")
            )?;
        }
        let uneven: Vec<&str> = self
            .spreads
            .iter()
            .filter(|(_, s)| s.off() > crate::plan::DEFAULT_TARGET)
            .map(|(m, _)| m.as_str())
            .collect();
        if let Some(first) = uneven.first() {
            write!(
                f,
                "; {} beyond 10% of the mean: `slotwatch plan --by {first}` proposes moves",
                uneven.join(" and ")
            )?;
        }
        Ok(())
    }
}

/// The masters owning slots by endpoint, each with its readings if any.
pub fn master_loads<'a>(s: &'a Snapshot, t: &'a Topology) -> Vec<(&'a Node, Option<&'a Loads>)> {
    let mut masters: Vec<&Node> = t.masters().collect();
    masters.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    masters
        .into_iter()
        .filter(|m| m.slot_count > 0)
        .map(|m| {
            let loads = s
                .nodes
                .iter()
                .find(|n| n.endpoint == m.endpoint)
                .and_then(|n| n.load.as_ref());
            (m, loads)
        })
        .collect()
}

/// The load balance of `t`'s masters; `None` until any master's per-slot stats were asked for.
pub fn load_balance(s: &Snapshot, t: &Topology) -> Option<LoadBalance> {
    let masters = master_loads(s, t);
    let status = |m: &Node| s.nodes.iter().find(|n| n.endpoint == m.endpoint);
    let asked = masters
        .iter()
        .any(|(m, _)| status(m).is_some_and(|n| n.slot_stats.is_some()));
    if !asked {
        return None;
    }
    let without_stats = masters
        .iter()
        .filter(|(m, _)| status(m).is_some_and(|n| n.slot_stats == Some(false)))
        .map(|(m, _)| m.endpoint.clone())
        .collect();
    let spreads = Measure::ALL
        .iter()
        .filter_map(|measure| {
            let values: Option<Vec<u64>> = masters
                .iter()
                .map(|(_, loads)| measure.value(loads.as_ref()?))
                .collect();
            Some((*measure, Spread::of(&values?)?))
        })
        .collect();
    Some(LoadBalance {
        masters: masters.len(),
        without_stats,
        spreads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::testdata::snapshot_of;
    use crate::topology::testdata::*;

    fn load(at: u64, keys: u64, cpu: Option<u64>) -> NodeLoad {
        NodeLoad {
            read_at_ms: at,
            slots: 1,
            totals: [Some(keys), cpu, cpu, cpu],
            top: Default::default(),
        }
    }

    /// The healthy 3+3 cluster with these masters' readings.
    fn with_loads(loads: &[(&str, Option<Loads>, Option<bool>)]) -> Snapshot {
        let mut s = snapshot_of(&healthy(), &[]);
        for (endpoint, l, supported) in loads {
            let n = s
                .nodes
                .iter_mut()
                .find(|n| n.endpoint == *endpoint)
                .unwrap();
            n.load = l.clone();
            n.slot_stats = *supported;
        }
        s
    }

    fn masters(s: &Snapshot) -> Vec<String> {
        let t = s.topology.as_ref().unwrap();
        let mut m: Vec<String> = t
            .masters()
            .filter(|m| m.slot_count > 0)
            .map(|m| m.endpoint.clone())
            .collect();
        m.sort();
        m
    }

    #[test]
    fn keys_compare_at_once_and_counters_as_rates_over_two_readings() {
        let base = with_loads(&[]);
        let ms = masters(&base);
        let two = |keys, cpu_before, cpu_after| Loads {
            latest: load(11_000, keys, Some(cpu_after)),
            before: Some(load(1_000, keys, Some(cpu_before))),
        };
        let s = with_loads(&[
            (&ms[0], Some(two(700, 0, 100_000)), Some(true)),
            (&ms[1], Some(two(200, 0, 10_000)), Some(true)),
            (&ms[2], Some(two(100, 0, 10_000)), Some(true)),
        ]);
        let b = load_balance(&s, s.topology.as_ref().unwrap()).unwrap();
        assert_eq!(b.masters, 3);
        assert!(b.without_stats.is_empty());
        let keys = b.spread(Measure::Keys).unwrap();
        assert_eq!((keys.max, keys.min), (700, 100));
        assert_eq!(keys.ratio(), 2.1);
        // 100 ms of CPU over 10 s is 10,000 µs per second.
        let cpu = b.spread(Measure::Cpu).unwrap();
        assert_eq!((cpu.max, cpu.min), (10_000, 1_000));
        assert_eq!(b.spread(Measure::Network).unwrap().max, 20_000);
    }

    #[test]
    fn uneven_slot_counts_are_noted_only_while_the_keys_per_master_are_unknown() {
        // 0-5460 | 5461-10922 | 10923-16383 becomes 0-9999 | 10000-12000 | 12001-16383.
        let text = healthy()
            .replace("0-5460", "0-9999")
            .replace("5461-10922", "10000-12000")
            .replace("10923-16383", "12001-16383");
        let mut s = snapshot_of(&text, &[]);
        let unbalanced = |s: &Snapshot| {
            crate::health::notes(s)
                .iter()
                .any(|n| matches!(n, crate::health::Note::Unbalanced { .. }))
        };
        assert!(unbalanced(&s));
        let ms = masters(&s);
        for n in s.nodes.iter_mut().filter(|n| ms.contains(&n.endpoint)) {
            n.slot_stats = Some(true);
            n.load = Some(Loads {
                latest: load(1_000, 100, None),
                before: None,
            });
        }
        assert!(
            !unbalanced(&s),
            "even keys: evening slot counts would undo them"
        );
    }

    #[test]
    fn the_sentence_names_each_spread_what_is_missing_and_the_plan_to_run() {
        let keys = Spread::of(&[700, 200, 100]).unwrap();
        let b = LoadBalance {
            masters: 3,
            without_stats: Vec::new(),
            spreads: vec![(Measure::Keys, keys)],
        };
        assert_eq!(
            b.to_string(),
            "load over 3 masters: keys max/mean 2.10 (110% off the mean); cpu and network \
             unknown (they need cluster-slot-stats-enabled yes and two readings, which serve \
             takes every --slot-stats-interval); keys beyond 10% of the mean: `slotwatch plan \
             --by keys` proposes moves"
        );
        let old = LoadBalance {
            masters: 3,
            without_stats: vec!["10.0.0.1:6379".into()],
            spreads: Vec::new(),
        };
        assert!(old.to_string().contains("slot counts only"), "{old}");
    }

    #[test]
    fn a_reset_or_a_first_reading_gives_no_rate_and_old_servers_say_so() {
        let base = with_loads(&[]);
        let ms = masters(&base);
        let first = Loads {
            latest: load(1_000, 5, Some(10)),
            before: None,
        };
        let reset = Loads {
            latest: load(2_000, 5, Some(10)),
            before: Some(load(1_000, 5, Some(99))),
        };
        let s = with_loads(&[
            (&ms[0], Some(first.clone()), Some(true)),
            (&ms[1], Some(reset), Some(true)),
            (&ms[2], Some(first), Some(true)),
        ]);
        let b = load_balance(&s, s.topology.as_ref().unwrap()).unwrap();
        assert!(b.spread(Measure::Keys).is_some());
        assert_eq!(b.spread(Measure::Cpu), None);

        let old = with_loads(&[(&ms[0], None, Some(false)), (&ms[1], None, Some(false))]);
        let b = load_balance(&old, old.topology.as_ref().unwrap()).unwrap();
        assert_eq!(b.without_stats, [ms[0].clone(), ms[1].clone()]);
        assert!(b.spreads.is_empty());
        assert_eq!(load_balance(&base, base.topology.as_ref().unwrap()), None);
    }
}
