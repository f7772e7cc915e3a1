//! The plan as a report: the masters' loads, the spread before and after, and each move with
//! the commands that carry it out. Built by a pure function from the topology and the weights
//! read, so that the command's text and JSON are tested without a server.

use std::fmt::Write as _;

use serde::Serialize;

use super::commands::{self, Master, Mechanism};
use super::{By, Load, Spread, plan};
use crate::slot::{SlotRange, format_ranges};
use crate::topology::Topology;

/// Where the weights came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `CLUSTER SLOT-STATS SLOTSRANGE` over every master's slots.
    SlotStats,
    /// `CLUSTER COUNTKEYSINSLOT` over each master's own slots: its servers have no `CLUSTER
    /// SLOT-STATS`.
    CountKeys,
    /// The slot counts of the topology: nothing read.
    SlotCounts,
}

impl Source {
    fn describe(&self) -> &'static str {
        match self {
            Source::SlotStats => "CLUSTER SLOT-STATS on every master",
            Source::CountKeys => {
                "CLUSTER COUNTKEYSINSLOT over each master's slots, as the servers have no \
                 CLUSTER SLOT-STATS (Valkey 8.0+, Redis 8.2+)"
            }
            Source::SlotCounts => "slot counts",
        }
    }
}

/// One master's load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MasterLoad {
    /// `ip:port`.
    pub node: String,
    /// Its node ID.
    pub node_id: String,
    /// Slots it owns.
    pub slots: u32,
    /// Its load by the plan's measure.
    pub load: u64,
    /// Its load after the plan.
    pub load_after: u64,
}

/// One move, with its commands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedMove {
    /// Source master, `ip:port`.
    pub from: String,
    /// Destination master, `ip:port`.
    pub to: String,
    /// The slots.
    pub ranges: Vec<SlotRange>,
    /// Number of slots.
    pub slots: u32,
    /// Their load by the plan's measure.
    pub load: u64,
    /// How the commands move them.
    pub mechanism: Mechanism,
    /// The shell lines that carry it out, in order.
    pub commands: Vec<String>,
}

/// What `slotwatch plan` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanReport {
    /// The cluster's name.
    pub cluster: String,
    /// The measure balanced.
    pub by: By,
    /// The target: every master within this fraction of the mean.
    pub target: f64,
    /// Where the weights came from.
    pub source: Source,
    /// The masters owning slots, by endpoint.
    pub masters: Vec<MasterLoad>,
    /// The spread before the plan.
    pub before: Spread,
    /// The spread the plan leads to.
    pub after: Spread,
    /// Slots left where they are because they are in an open migration.
    pub frozen_slots: u32,
    /// The moves, in the order to run them.
    pub moves: Vec<PlannedMove>,
}

/// The masters a plan works on: those owning slots, by endpoint.
pub fn masters(t: &Topology) -> Vec<&crate::topology::Node> {
    let mut masters: Vec<_> = t.masters().filter(|m| m.slot_count > 0).collect();
    masters.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    masters
}

/// Who owns each slot, and which slots are in an open migration, over `masters`; weights
/// come from `weigh(master index, slot)`.
pub fn load_of(
    t: &Topology,
    masters: &[&crate::topology::Node],
    weigh: impl Fn(usize, u16) -> u64,
) -> Load {
    let mut load = Load::new(masters.len());
    for (i, m) in masters.iter().enumerate() {
        for r in &m.slots {
            for slot in r.slots() {
                load.owner[usize::from(slot)] = Some(i);
                load.weight[usize::from(slot)] = weigh(i, slot);
            }
        }
    }
    for open in t.open_migrations() {
        for r in &open.ranges {
            for slot in r.slots() {
                load.frozen[usize::from(slot)] = true;
            }
        }
    }
    load
}

/// Plans and builds the report; `addressed` gives each master as the commands address it.
pub fn build(
    cluster: &str,
    by: By,
    target: f64,
    source: Source,
    load: &Load,
    addressed: &[Master],
) -> PlanReport {
    let moves = plan(load, target);
    let after = load.after(&moves);
    let (before_totals, after_totals) = (load.totals(), after.totals());
    // No master owns slots: nothing to spread.
    let nothing = Spread {
        mean: 0.0,
        min: 0,
        max: 0,
    };
    let slots_of = |l: &Load, m: usize| l.owner.iter().filter(|o| **o == Some(m)).count() as u32;
    PlanReport {
        cluster: cluster.to_owned(),
        by,
        target,
        source,
        masters: addressed
            .iter()
            .enumerate()
            .map(|(i, m)| MasterLoad {
                node: m.endpoint.clone(),
                node_id: m.id.as_str().to_owned(),
                slots: slots_of(load, i),
                load: before_totals[i],
                load_after: after_totals[i],
            })
            .collect(),
        before: Spread::of(&before_totals).unwrap_or(nothing),
        after: Spread::of(&after_totals).unwrap_or(nothing),
        frozen_slots: load.frozen.iter().filter(|f| **f).count() as u32,
        moves: moves
            .iter()
            .map(|m| {
                let (from, to) = (&addressed[m.from], &addressed[m.to]);
                let mechanism = Mechanism::between(from, to);
                PlannedMove {
                    from: from.endpoint.clone(),
                    to: to.endpoint.clone(),
                    ranges: m.ranges.clone(),
                    slots: m.slots,
                    load: m.weight,
                    mechanism,
                    commands: commands::script(from, to, &m.ranges, mechanism),
                }
            })
            .collect(),
    }
}

impl PlanReport {
    /// The report as text: the masters, the spread, and each move with its commands.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let unit = unit(self.by);
        let _ = writeln!(
            out,
            "cluster {}: {} masters, balancing {} ({}), target: every master within {:.0}% of the mean",
            self.cluster,
            self.masters.len(),
            self.by.name(),
            self.source.describe(),
            self.target * 100.0
        );
        for m in &self.masters {
            let _ = writeln!(
                out,
                "  {:<22} {:>5} slots {:>14} {unit} {}",
                m.node,
                m.slots,
                m.load,
                off_mean(m.load, self.before.mean)
            );
        }
        let _ = writeln!(out, "spread now: {}", describe(&self.before));
        if self.frozen_slots > 0 {
            let _ = writeln!(
                out,
                "{} slot(s) in an open migration stay where they are",
                self.frozen_slots
            );
        }
        if self.moves.is_empty() {
            let why = if self.masters.is_empty() {
                "no master owns slots".to_owned()
            } else if self.before.off() <= self.target {
                format!(
                    "every master is within {:.0}% of the mean",
                    self.target * 100.0
                )
            } else {
                "no move of whole slots brings the masters closer (the load sits in slots \
                 heavier than the gap between masters)"
                    .to_owned()
            };
            let _ = writeln!(out, "nothing to do: {why}");
            return out;
        }
        let _ = writeln!(
            out,
            "{} move(s), {} slot(s); run them in order (slotwatch never runs them):",
            self.moves.len(),
            self.moves.iter().map(|m| m.slots).sum::<u32>()
        );
        for (i, m) in self.moves.iter().enumerate() {
            let _ = writeln!(
                out,
                "\n# move {}: {} slot(s) ({} {unit}) {} -> {}: {}",
                i + 1,
                m.slots,
                m.load,
                m.from,
                m.to,
                format_ranges(&m.ranges)
            );
            for line in &m.commands {
                let _ = writeln!(out, "{line}");
            }
        }
        let _ = writeln!(out, "\nspread after: {}", describe(&self.after));
        out
    }
}

/// The unit of a measure's loads.
fn unit(by: By) -> &'static str {
    match by {
        By::Keys => "keys",
        By::Cpu => "cpu-usec",
        By::Network => "bytes",
        By::Slots => "slots",
    }
}

/// `(+40% vs mean)`.
fn off_mean(load: u64, mean: f64) -> String {
    if mean <= 0.0 {
        return String::new();
    }
    format!("({:+.0}% vs mean)", (load as f64 - mean) / mean * 100.0)
}

/// `max/mean 1.40, furthest master 40% from the mean`.
fn describe(s: &Spread) -> String {
    format!(
        "max/mean {:.2}, furthest master {:.1}% from the mean",
        s.ratio(),
        s.off() * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;
    use crate::topology::testdata::{A, B, C};

    fn three_masters() -> Topology {
        let text = format!(
            "{A} 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460\n\
             {B} 10.0.0.2:6379@16379 master - 0 0 2 connected 5461-10922\n\
             {C} 10.0.0.3:6379@16379 master - 0 0 3 connected 10923-16383\n"
        );
        merge(&[parse_view(&text).unwrap()], 0)
    }

    fn addressed(t: &Topology) -> Vec<Master> {
        masters(t)
            .iter()
            .map(|m| Master {
                endpoint: m.endpoint.clone(),
                host: m.addr.ip.clone(),
                port: m.addr.port,
                id: m.id,
                server: None,
            })
            .collect()
    }

    #[test]
    fn a_skewed_cluster_gets_moves_with_commands_and_an_even_spread_after() {
        let t = three_masters();
        let ms = masters(&t);
        let load = load_of(&t, &ms, |m, _| if m == 0 { 7 } else { 1 });
        let report = build(
            "prod",
            By::Keys,
            0.1,
            Source::SlotStats,
            &load,
            &addressed(&t),
        );
        assert_eq!(report.masters[0].load, 5461 * 7);
        assert!(
            report.before.off() > 0.1 && report.after.off() <= 0.1,
            "{report:#?}"
        );
        assert!(!report.moves.is_empty());
        assert!(report.moves.iter().all(|m| m.from == "10.0.0.1:6379"));
        let text = report.to_text();
        assert!(
            text.contains("balancing keys (CLUSTER SLOT-STATS on every master)"),
            "{text}"
        );
        assert!(text.contains("10.0.0.1:6379"), "{text}");
        assert!(
            text.contains("CLUSTER SETSLOT \"$slot\" MIGRATING"),
            "{text}"
        );
        assert!(text.contains("slotwatch never runs them"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["by"], "keys");
        assert_eq!(json["moves"][0]["mechanism"], "setslot");
        assert!(
            json["moves"][0]["commands"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );
    }

    #[test]
    fn an_even_cluster_has_nothing_to_do_and_says_why() {
        let t = three_masters();
        let ms = masters(&t);
        let load = load_of(&t, &ms, |_, _| 1);
        let report = build(
            "prod",
            By::Slots,
            0.1,
            Source::SlotCounts,
            &load,
            &addressed(&t),
        );
        assert!(report.moves.is_empty());
        assert!(
            report
                .to_text()
                .contains("nothing to do: every master is within 10% of the mean")
        );
    }

    #[test]
    fn open_migrations_freeze_their_slots() {
        let text = format!(
            "{A} 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460 [5->-{B}]\n\
             {B} 10.0.0.2:6379@16379 master - 0 0 2 connected 5461-10922\n\
             {C} 10.0.0.3:6379@16379 master - 0 0 3 connected 10923-16383\n"
        );
        let t = merge(&[parse_view(&text).unwrap()], 0);
        let ms = masters(&t);
        let load = load_of(&t, &ms, |_, _| 1);
        assert!(load.frozen[5]);
        assert_eq!(load.frozen.iter().filter(|f| **f).count(), 1);
    }
}
