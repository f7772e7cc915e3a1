//! The check report as text, one `[ok]`/`[FAIL]` line per question of the MOVED workflow.

use std::fmt::Write as _;

use super::report::Report;
use crate::slot::{SLOT_COUNT, format_ranges};

impl Report {
    /// The report as readable text.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let mark = |ok: bool| if ok { "[ok]  " } else { "[FAIL]" };
        let _ = writeln!(
            o,
            "cluster {}: {} nodes ({} answered), {} masters",
            self.cluster,
            self.nodes,
            self.answered,
            self.masters.len()
        );
        let _ = writeln!(
            o,
            "{} slots covered: {}/{}{}",
            mark(self.uncovered.is_empty()),
            self.slots_covered,
            SLOT_COUNT,
            if self.uncovered.is_empty() {
                String::new()
            } else {
                format!(" (uncovered: {})", format_ranges(&self.uncovered))
            }
        );
        let failing: Vec<String> = self
            .masters
            .iter()
            .filter(|m| !m.flags.is_empty())
            .map(|m| format!("{} ({})", m.node, m.flags.join(",")))
            .collect();
        let _ = writeln!(
            o,
            "{} failing masters: {}",
            mark(failing.is_empty()),
            if failing.is_empty() {
                "none".into()
            } else {
                failing.join(", ")
            }
        );
        let _ = writeln!(
            o,
            "{} slot ownership: {}",
            mark(self.disagreement_slots == 0),
            if self.disagreement_slots == 0 {
                format!("all {} answering nodes agree", self.answered)
            } else {
                format!(
                    "nodes disagree on {} slot(s): {}",
                    self.disagreement_slots,
                    format_ranges(&self.disagreement_ranges)
                )
            }
        );
        let _ = writeln!(
            o,
            "{} nodes answering: {}",
            mark(self.unreachable.is_empty()),
            if self.unreachable.is_empty() {
                "all".into()
            } else {
                format!("no answer from {}", self.unreachable.join(", "))
            }
        );
        let _ = writeln!(
            o,
            "{} open migrations: {}",
            mark(self.migrations.is_empty()),
            if self.migrations.is_empty() {
                "none".to_owned()
            } else {
                self.migrations.len().to_string()
            }
        );
        for m in &self.migrations {
            let slots = format_ranges(&m.ranges);
            let age = match m.age_seconds {
                Some(age) => format!("open for {age:.0}s"),
                None => "age unknown to a one-shot check, see redis_cluster_migration_age_seconds"
                    .to_owned(),
            };
            let _ = writeln!(
                o,
                "         {} {slots} {} -> {} ({} {}; {age})",
                if m.ranges.len() == 1 && m.ranges[0].len() == 1 {
                    "slot"
                } else {
                    "slots"
                },
                m.from,
                m.to,
                m.mechanism.as_str(),
                m.state,
            );
        }
        let _ = writeln!(o, "\nmasters:");
        for m in &self.masters {
            let _ = writeln!(
                o,
                "  {:<22} {:>5} slots  {:<24} replicas: {}{}",
                m.node,
                m.slots,
                format_ranges(&m.ranges),
                if m.replicas.is_empty() {
                    "none".to_owned()
                } else {
                    m.replicas.join(", ")
                },
                if m.flags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", m.flags.join(","))
                }
            );
        }
        for k in &self.keys {
            let _ = writeln!(
                o,
                "\nkey {:?}: slot {}, owner {}{}{}",
                k.key,
                k.slot,
                k.owner.as_deref().unwrap_or("none (unassigned)"),
                if k.replicas.is_empty() {
                    String::new()
                } else {
                    format!(", replicas {}", k.replicas.join(", "))
                },
                k.migrating
                    .as_ref()
                    .map(|m| format!(", migrating {m}"))
                    .unwrap_or_default()
            );
            for s in &k.seeds {
                let _ = writeln!(o, "  plain client via {}: {}", s.seed, s.answer);
            }
        }
        if let Some(r) = &self.redirect {
            let _ = writeln!(
                o,
                "\n{} {} {}: {}",
                r.redirect.kind, r.redirect.slot, r.redirect.node, r.explanation
            );
        }
        let _ = writeln!(
            o,
            "\nverdict: {}",
            if self.healthy {
                "healthy".to_owned()
            } else {
                format!("{} problem(s)", self.problems.len())
            }
        );
        o
    }
}
