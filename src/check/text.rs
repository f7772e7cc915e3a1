//! The check report as text, one `[ok]`/`[FAIL]` line per question of the MOVED workflow.

use std::fmt::Write as _;

use super::report::{KeyReport, Report};
use crate::health::Problem;
use crate::health::redirects::State;
use crate::overview::{MasterView, MigrationView, Overview};
use crate::slot::{SLOT_COUNT, format_ranges};

impl Report {
    /// The report as readable text.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let c = &self.overview;
        let _ = writeln!(
            o,
            "cluster {}: {} nodes ({} answered), {} masters",
            c.cluster,
            c.nodes.len(),
            c.answered(),
            c.masters.len()
        );
        if let Some(v) = &self.redirects {
            let mark = match v.state {
                State::Persisting => "[FAIL]",
                _ => "[ok]  ",
            };
            let _ = writeln!(o, "{mark} redirects: {}: {}", v.state.as_str(), v.summary);
        }
        self.questions(&mut o);
        let _ = writeln!(o, "\nmasters:");
        for m in &c.masters {
            master_line(&mut o, m);
        }
        for k in &self.keys {
            key_lines(&mut o, k);
        }
        if let Some(r) = &self.redirect {
            let _ = writeln!(
                o,
                "\n{} {} {}: {}",
                r.redirect.kind, r.redirect.slot, r.redirect.node, r.explanation
            );
        }
        let redirects = self.redirects.as_ref().map(|v| v.state);
        let verdict = match (redirects, self.problems.len()) {
            (Some(State::Persisting), 0) => "MOVED burst persisting".to_owned(),
            (Some(State::Persisting), n) => format!("MOVED burst persisting, {n} problem(s)"),
            (Some(State::Expected), 0) => {
                "healthy, with a MOVED burst expected after a topology change".to_owned()
            }
            (_, 0) => "healthy".to_owned(),
            (_, n) => format!("{n} problem(s)"),
        };
        let _ = writeln!(o, "\nverdict: {verdict}");
        o
    }

    /// One `[ok]`/`[FAIL]` line per question, the open migrations under the last.
    fn questions(&self, o: &mut String) {
        let c = &self.overview;
        let none_or = |items: Vec<String>| {
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        let failing: Vec<String> = c
            .masters
            .iter()
            .filter(|m| !m.flags.is_empty())
            .map(|m| format!("{} ({})", m.node, m.flags.join(",")))
            .collect();
        let saying_fail: Vec<String> = c
            .nodes
            .iter()
            .filter(|n| n.cluster_state == Some("fail"))
            .map(|n| n.node.endpoint.clone())
            .collect();
        let lines = [
            (c.unassigned_ranges.is_empty(), coverage(c)),
            (
                failing.is_empty(),
                format!("failing masters: {}", none_or(failing)),
            ),
            (c.disagreement.slots == 0, ownership(c)),
            (
                saying_fail.is_empty(),
                format!(
                    "cluster state: {}",
                    if saying_fail.is_empty() {
                        "no node says fail".to_owned()
                    } else {
                        format!(
                            "{} say cluster_state:fail (CLUSTERDOWN)",
                            saying_fail.join(", ")
                        )
                    }
                ),
            ),
            (
                self.unreachable.is_empty(),
                format!(
                    "nodes answering: {}",
                    if self.unreachable.is_empty() {
                        "all".to_owned()
                    } else {
                        format!("no answer from {}", self.unreachable.join(", "))
                    }
                ),
            ),
            (
                c.migrations.is_empty(),
                format!(
                    "open migrations: {}",
                    match c.migrations.len() {
                        0 => "none".to_owned(),
                        n => n.to_string(),
                    }
                ),
            ),
        ];
        for (ok, line) in lines {
            let _ = writeln!(o, "{} {line}", if ok { "[ok]  " } else { "[FAIL]" });
        }
        for m in &c.migrations {
            migration_line(o, m);
        }
        for (ok, line) in self.risk_lines() {
            let _ = writeln!(o, "{} {line}", if ok { "[ok]  " } else { "[FAIL]" });
        }
        for note in &self.notes {
            let _ = writeln!(o, "[info] {note}");
        }
        if let Some(load) = &self.load {
            let _ = writeln!(o, "[info] {load}");
        }
    }

    /// What the next failure would cost: one line each for redundancy, replication and
    /// placement, with the judgement's sentences when something is wrong.
    fn risk_lines(&self) -> [(bool, String); 3] {
        let sentences = |wanted: fn(&Problem) -> bool| {
            let found: Vec<String> = self
                .judgement
                .iter()
                .filter(|p| wanted(p))
                .map(ToString::to_string)
                .collect();
            (found.is_empty(), found.join("; "))
        };
        let line = |(ok, found): (bool, String), topic: &str, fine: &str| {
            (ok, format!("{topic}: {}", if ok { fine } else { &found }))
        };
        [
            line(
                sentences(|p| matches!(p, Problem::Unredundant { .. })),
                "redundancy",
                "every master with slots has a replica ready to take over",
            ),
            line(
                sentences(|p| {
                    matches!(
                        p,
                        Problem::ReplicationDown { .. } | Problem::ReplicationLagging { .. }
                    )
                }),
                "replication",
                "every replica that answered has its link up and is close behind its master",
            ),
            line(
                sentences(|p| matches!(p, Problem::Colocated { .. } | Problem::SingleZone { .. })),
                "placement",
                "no replica shares its master's host, no shard is in one zone only",
            ),
        ]
    }
}

fn coverage(c: &Overview) -> String {
    format!(
        "slots covered: {}/{}{}",
        c.slots_assigned,
        SLOT_COUNT,
        if c.unassigned_ranges.is_empty() {
            String::new()
        } else {
            format!(" (uncovered: {})", format_ranges(&c.unassigned_ranges))
        }
    )
}

fn ownership(c: &Overview) -> String {
    if c.disagreement.slots == 0 {
        format!("slot ownership: all {} answering nodes agree", c.answered())
    } else {
        format!(
            "slot ownership: nodes disagree on {} slot(s): {}",
            c.disagreement.slots,
            format_ranges(&c.disagreement.ranges)
        )
    }
}

fn migration_line(o: &mut String, m: &MigrationView) {
    let age = match m.age_seconds {
        Some(age) => format!("open for {age:.0}s"),
        None => {
            "age unknown to a one-shot check, see redis_cluster_migration_age_seconds".to_owned()
        }
    };
    let _ = writeln!(
        o,
        "         {} {} {} -> {} ({} {}; {age})",
        if m.slots == 1 { "slot" } else { "slots" },
        format_ranges(&m.ranges),
        m.from.node,
        m.to.node,
        m.mechanism.as_str(),
        m.state,
    );
}

fn master_line(o: &mut String, m: &MasterView) {
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

fn key_lines(o: &mut String, k: &KeyReport) {
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
