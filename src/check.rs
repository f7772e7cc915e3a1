//! `slotwatch check`: the diagnostic workflow of a MOVED incident as one command.
//!
//! It polls the cluster once with the same code as `serve`, then reports coverage, failing
//! masters, agreement of the views, masters and replicas, and open migrations. `--key` adds
//! where a key lives and what a plain client connected to each seed would get; `--moved` explains
//! a pasted `MOVED`/`ASK` error against the live topology. The report is built by a pure
//! function ([`build`]) so that every verdict is testable without a cluster.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::ClusterConfig;
use crate::connect::{Connector, FetchError};
use crate::poller::{NodeStatus, Poller};
use crate::slot::{SLOT_COUNT, SlotRange, format_ranges, key_slot, parse_slot};
use crate::topology::{NodeId, Role, Topology};

/// A parsed `MOVED <slot> <ip:port>` or `ASK <slot> <ip:port>` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redirect {
    /// `MOVED` or `ASK`.
    pub kind: String,
    /// The slot.
    pub slot: u16,
    /// The node the client was sent to.
    pub node: String,
}

/// Parses a redirect as clients print it: `MOVED 8404 10.0.0.32:6379`, optionally prefixed by
/// `(error)` (redis-cli) or `-` (raw RESP).
pub fn parse_redirect(text: &str) -> Result<Redirect, String> {
    let expected = || {
        format!("expected \"MOVED <slot> <ip:port>\" or \"ASK <slot> <ip:port>\", found {text:?}")
    };
    let t = text.trim();
    let t = t.strip_prefix("(error)").unwrap_or(t).trim_start();
    let t = t.strip_prefix('-').unwrap_or(t);
    let parts: Vec<&str> = t.split_whitespace().collect();
    let [kind, slot, node] = parts.as_slice() else {
        return Err(expected());
    };
    let kind = kind.to_ascii_uppercase();
    if kind != "MOVED" && kind != "ASK" {
        return Err(expected());
    }
    let slot = parse_slot(slot).map_err(|e| format!("{e} in {text:?}"))?;
    if !node.contains(':') {
        return Err(expected());
    }
    Ok(Redirect {
        kind,
        slot,
        node: (*node).to_owned(),
    })
}

/// One master in the report.
#[derive(Debug, Clone, Serialize)]
pub struct MasterReport {
    /// `ip:port`.
    pub node: String,
    /// Node ID.
    pub id: NodeId,
    /// Slots owned.
    pub slots: u32,
    /// The slots as ranges.
    pub ranges: Vec<SlotRange>,
    /// Replicas' `ip:port`.
    pub replicas: Vec<String>,
    /// `fail`, `fail?` or empty.
    pub flags: Vec<&'static str>,
    /// The node answered this check.
    pub answered: bool,
}

/// One open migration in the report.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    /// The slot.
    pub slot: u16,
    /// Source `ip:port`.
    pub from: String,
    /// Target `ip:port`.
    pub to: String,
    /// The source shows MIGRATING.
    pub migrating_seen: bool,
    /// The target shows IMPORTING.
    pub importing_seen: bool,
    /// How long it has been open; unknown to a one-shot check (`slotwatch serve` tracks it in
    /// `redis_cluster_migration_age_seconds`).
    pub age_seconds: Option<f64>,
}

/// What a plain (not cluster-aware) client connected to one seed gets for a key.
#[derive(Debug, Clone, Serialize)]
pub struct SeedAnswer {
    /// The seed URL.
    pub seed: String,
    /// The node behind the seed, if it answered.
    pub node: Option<String>,
    /// The reply it would give, e.g. `MOVED 10778 127.0.0.1:7003` or `served`.
    pub answer: String,
}

/// Where a key lives.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    /// The key.
    pub key: String,
    /// Its slot.
    pub slot: u16,
    /// The owning master, if any.
    pub owner: Option<String>,
    /// The owner's replicas.
    pub replicas: Vec<String>,
    /// The slot is migrating: `from -> to`.
    pub migrating: Option<String>,
    /// Per seed, what a plain client would get.
    pub seeds: Vec<SeedAnswer>,
}

/// The explanation of a pasted redirect.
#[derive(Debug, Clone, Serialize)]
pub struct RedirectReport {
    /// The redirect as parsed.
    pub redirect: Redirect,
    /// A short code: `not_following_redirects`, `stale_map`, `migrating`, `migration_over`,
    /// `unknown_node` or `node_failing`.
    pub verdict: &'static str,
    /// The explanation, in plain English.
    pub explanation: String,
}

/// The whole report, as printed and as `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Cluster name.
    pub cluster: String,
    /// No problem found.
    pub healthy: bool,
    /// Each problem, one sentence each.
    pub problems: Vec<String>,
    /// Known nodes.
    pub nodes: usize,
    /// Nodes that answered.
    pub answered: usize,
    /// Nodes that did not answer, with the cause.
    pub unreachable: Vec<String>,
    /// Slots with an owner.
    pub slots_covered: u32,
    /// Slots with no owner, as ranges.
    pub uncovered: Vec<SlotRange>,
    /// Slots on which the views disagree.
    pub disagreement_slots: u32,
    /// Those slots as ranges.
    pub disagreement_ranges: Vec<SlotRange>,
    /// Masters with their slots and replicas.
    pub masters: Vec<MasterReport>,
    /// Open migrations.
    pub migrations: Vec<MigrationReport>,
    /// One entry per `--key`.
    pub keys: Vec<KeyReport>,
    /// The `--moved` explanation.
    pub redirect: Option<RedirectReport>,
}

/// Builds the report from one poll's topology and node statuses. `seeds` pairs each seed URL
/// with the ID of the node behind it (None if it did not answer).
pub fn build(
    cluster: &str,
    t: &Topology,
    statuses: &[NodeStatus],
    seeds: &[(String, Option<NodeId>)],
    keys: &[String],
    redirect: Option<&Redirect>,
) -> Report {
    let mut problems = Vec::new();
    let up = |id: &NodeId| statuses.iter().any(|s| s.id == Some(*id) && s.up);
    let unreachable: Vec<String> = statuses
        .iter()
        .filter(|s| !s.up)
        .map(|s| match &s.last_error {
            Some(e) => format!("{} ({e})", s.endpoint),
            None => s.endpoint.clone(),
        })
        .collect();
    if !unreachable.is_empty() {
        problems.push(format!(
            "{} node(s) did not answer: {}",
            unreachable.len(),
            unreachable.join(", ")
        ));
    }
    let unassigned = t.unassigned_slots();
    let uncovered = t.unassigned_ranges();
    if unassigned > 0 {
        problems.push(format!(
            "{unassigned} slot(s) have no owner: {}",
            format_ranges(&uncovered)
        ));
    }
    let mut by_endpoint: Vec<_> = t.masters().collect();
    by_endpoint.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    let masters: Vec<MasterReport> = by_endpoint
        .into_iter()
        .map(|m| {
            let mut flags = Vec::new();
            if m.fail {
                flags.push("fail");
            }
            if m.pfail {
                flags.push("fail?");
            }
            MasterReport {
                node: m.endpoint.clone(),
                id: m.id,
                slots: m.slot_count,
                ranges: m.slots.clone(),
                replicas: t.replicas_of(&m.id).map(|r| r.endpoint.clone()).collect(),
                flags,
                answered: up(&m.id),
            }
        })
        .collect();
    for m in masters.iter().filter(|m| !m.flags.is_empty()) {
        problems.push(format!(
            "master {} is flagged {} and owns {} slot(s)",
            m.node,
            m.flags.join(","),
            m.slots
        ));
    }
    if !t.disagreement.is_empty() {
        problems.push(format!(
            "the nodes disagree on the owner of {} slot(s): {}",
            t.disagreement.len(),
            t.disagreement
        ));
    }
    let migrations: Vec<MigrationReport> = t
        .migrations
        .iter()
        .map(|m| MigrationReport {
            slot: m.slot,
            from: t.endpoint_of(&m.source),
            to: t.endpoint_of(&m.target),
            migrating_seen: m.migrating_seen,
            importing_seen: m.importing_seen,
            age_seconds: None,
        })
        .collect();
    if !migrations.is_empty() {
        problems.push(format!(
            "{} slot migration(s) open: {}",
            migrations.len(),
            migrations
                .iter()
                .map(|m| format!("{} {}->{}", m.slot, m.from, m.to))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let keys = keys
        .iter()
        .map(|k| key_report(t, seeds, k))
        .collect::<Vec<_>>();
    let redirect = redirect.map(|r| explain(t, r));
    Report {
        cluster: cluster.to_owned(),
        healthy: problems.is_empty(),
        problems,
        nodes: t.nodes.len(),
        answered: t.nodes.iter().filter(|n| up(&n.id)).count(),
        unreachable,
        slots_covered: u32::from(SLOT_COUNT) - unassigned,
        uncovered,
        disagreement_slots: t.disagreement.len(),
        disagreement_ranges: t.disagreement.ranges(),
        masters,
        migrations,
        keys,
        redirect,
    }
}

fn key_report(t: &Topology, seeds: &[(String, Option<NodeId>)], key: &str) -> KeyReport {
    let slot = key_slot(key.as_bytes());
    let owner = t.owner(slot);
    let migration = t.migrations.iter().find(|m| m.slot == slot);
    let seeds = seeds
        .iter()
        .map(|(seed, id)| {
            let node = id.as_ref().and_then(|id| t.node(id));
            let answer = match (node, owner) {
                (None, _) => "unknown: the seed did not answer".to_owned(),
                (Some(_), None) => "CLUSTERDOWN Hash slot not served".to_owned(),
                (Some(n), Some(o)) if n.id == o.id => match migration {
                    Some(m) => format!(
                        "served here, or ASK {slot} {} for keys already moved (slot migrating)",
                        t.endpoint_of(&m.target)
                    ),
                    None => "served here, no redirect".to_owned(),
                },
                (Some(n), Some(o)) if n.role == Role::Replica && n.master == Some(o.id) => format!(
                    "MOVED {slot} {} (a replica redirects unless the client sent READONLY; with READONLY it serves reads)",
                    o.endpoint
                ),
                (Some(_), Some(o)) => format!("MOVED {slot} {}", o.endpoint),
            };
            SeedAnswer {
                seed: seed.clone(),
                node: node.map(|n| n.endpoint.clone()),
                answer,
            }
        })
        .collect();
    KeyReport {
        key: key.to_owned(),
        slot,
        owner: owner.map(|o| o.endpoint.clone()),
        replicas: owner
            .map(|o| t.replicas_of(&o.id).map(|r| r.endpoint.clone()).collect())
            .unwrap_or_default(),
        migrating: migration.map(|m| {
            format!(
                "{} -> {}",
                t.endpoint_of(&m.source),
                t.endpoint_of(&m.target)
            )
        }),
        seeds,
    }
}

/// Explains a redirect against the live topology; each case has its own wording.
pub fn explain(t: &Topology, r: &Redirect) -> RedirectReport {
    let owner = t.owner(r.slot);
    let owner_text = owner.map_or("no node (the slot is unassigned)".to_owned(), |o| {
        o.endpoint.clone()
    });
    let named = t.nodes.iter().find(|n| n.endpoint == r.node);
    let (verdict, explanation) = match named {
        None => (
            "unknown_node",
            format!(
                "No node of this cluster is at {}. The error came from another cluster, or from \
                 before a node changed address; slot {} is served by {owner_text} now.",
                r.node, r.slot
            ),
        ),
        Some(n) if n.fail || n.pfail => (
            "node_failing",
            format!(
                "{} is flagged {} by the cluster: clients sent there fail until a replica takes \
                 over. Slot {} is served by {owner_text} now; check CLUSTER INFO and the node.",
                r.node,
                if n.fail {
                    "fail"
                } else {
                    "fail? (unreachable)"
                },
                r.slot
            ),
        ),
        Some(n) if r.kind == "ASK" => {
            match t
                .migrations
                .iter()
                .find(|m| m.slot == r.slot && m.target == n.id)
            {
                Some(m) => (
                    "migrating",
                    format!(
                        "Slot {} is migrating from {} to {}: ASK is normal during a reshard. A \
                         cluster client sends ASKING and retries at {} for that one command. If it \
                         lasts, the migration may be stuck: run redis-cli --cluster check.",
                        r.slot,
                        t.endpoint_of(&m.source),
                        r.node,
                        r.node
                    ),
                ),
                None => (
                    "migration_over",
                    format!(
                        "No migration of slot {} to {} is open any more; the slot is served by \
                         {owner_text}. The ASK came from a migration that has finished or been \
                         aborted since.",
                        r.slot, r.node
                    ),
                ),
            }
        }
        Some(n) if owner.is_some_and(|o| o.id == n.id) => (
            "not_following_redirects",
            format!(
                "{} owns slot {} now, so the redirect was right and the client did not follow it. \
                 A cluster-aware client follows MOVED and refreshes its slot map; a client that is \
                 not cluster-aware, or redis-cli without -c, stops at the error. Use a cluster \
                 client (redis-cli -c).",
                r.node, r.slot
            ),
        ),
        Some(_) => (
            "stale_map",
            format!(
                "Slot {} has moved again since: it is served by {owner_text} now, not {}. The \
                 client that got this redirect holds a stale slot map (or quoted an old error); a \
                 cluster client refreshes it on its next MOVED. Look for a recent reshard or \
                 failover in /events.",
                r.slot, r.node
            ),
        ),
    };
    RedirectReport {
        redirect: r.clone(),
        verdict,
        explanation,
    }
}

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
            let _ = writeln!(
                o,
                "         slot {} {} -> {} ({}{}; age unknown to a one-shot check, see redis_cluster_migration_age_seconds)",
                m.slot,
                m.from,
                m.to,
                if m.migrating_seen { "MIGRATING" } else { "" },
                if m.importing_seen {
                    if m.migrating_seen {
                        "/IMPORTING"
                    } else {
                        "IMPORTING"
                    }
                } else {
                    ""
                }
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

/// Why a check could not run at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No seed or node answered.
    #[error("cannot reach the cluster: {0}")]
    Unreachable(String),
    /// The connection settings are unusable.
    #[error("{0}")]
    Setup(String),
}

/// Polls the cluster once and builds the report.
pub async fn run(
    cluster: ClusterConfig,
    keys: &[String],
    redirect: Option<&Redirect>,
) -> Result<Report, CheckError> {
    let name = cluster.name.clone();
    let seeds = cluster.seeds.clone();
    let connector = Connector::new(&cluster).map_err(CheckError::Setup)?;
    let (mut poller, rx) = Poller::new(cluster, 1).map_err(CheckError::Setup)?;
    poller.poll_once().await;
    let snapshot = rx.borrow().clone();
    let Some(topology) = snapshot.topology.clone() else {
        let causes: Vec<String> = snapshot
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{}: {}",
                    n.endpoint,
                    n.last_error.as_deref().unwrap_or("no answer")
                )
            })
            .collect();
        return Err(CheckError::Unreachable(causes.join("; ")));
    };
    // Which node is behind each seed: the topology knows seeds given by address; only a seed
    // given by host name needs asking.
    let mut seed_ids = Vec::new();
    for seed in &seeds {
        if let Some(n) = topology
            .nodes
            .iter()
            .find(|n| n.endpoint == seed.endpoint())
        {
            seed_ids.push((seed.to_string(), Some(n.id)));
            continue;
        }
        let id = tokio::time::timeout(connector.timeout(), async {
            let mut conn = connector.connect(&seed.host, seed.port).await?;
            redis::cmd("CLUSTER")
                .arg("MYID")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| FetchError::from_redis(&e))
        })
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|id| NodeId::parse(id.trim()));
        seed_ids.push((seed.to_string(), id));
    }
    Ok(build(
        &name,
        &topology,
        &snapshot.nodes,
        &seed_ids,
        keys,
        redirect,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::NodeCounters;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;
    use crate::topology::testdata::*;

    fn statuses(t: &Topology) -> Vec<NodeStatus> {
        t.nodes
            .iter()
            .map(|n| NodeStatus {
                endpoint: n.endpoint.clone(),
                id: Some(n.id),
                up: true,
                counters: NodeCounters::default(),
                errors: Default::default(),
                last_error: None,
            })
            .collect()
    }

    fn report(text: &str, keys: &[&str], redirect: Option<&str>) -> Report {
        let t = merge(&[parse_view(text).unwrap()], 0);
        let seeds = vec![
            ("redis://127.0.0.1:30001".to_owned(), NodeId::parse(A)),
            ("redis://127.0.0.1:30005".to_owned(), NodeId::parse(B1)),
        ];
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let r = redirect.map(|r| parse_redirect(r).unwrap());
        build("test", &t, &statuses(&t), &seeds, &keys, r.as_ref())
    }

    #[test]
    fn healthy_cluster() {
        let r = report(&healthy(), &[], None);
        assert!(r.healthy, "{:?}", r.problems);
        assert_eq!(r.slots_covered, 16384);
        assert_eq!(r.masters.len(), 3);
        assert_eq!(r.masters[0].replicas.len(), 1);
        let text = r.to_text();
        assert!(text.contains("slots covered: 16384/16384"), "{text}");
        assert!(text.ends_with("verdict: healthy\n"), "{text}");
    }

    #[test]
    fn problems_are_listed() {
        let broken = healthy()
            .replace("10923-16383", "10923-16000")
            .replace("30002@31002 master", "30002@31002 master,fail")
            .replace("0-5460", &format!("0-5460 [7->-{B}]"));
        let r = report(&broken, &[], None);
        assert!(!r.healthy);
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
        assert_eq!(r.uncovered[0].to_string(), "16001-16383");
        let text = r.to_text();
        assert!(
            text.contains("[FAIL] slots covered: 16001/16384 (uncovered: 16001-16383)"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:30002 (fail)"), "{text}");
        assert!(
            text.contains("slot 7 127.0.0.1:30001 -> 127.0.0.1:30002"),
            "{text}"
        );
    }

    #[test]
    fn key_answers_per_seed() {
        // user:1 hashes to 10778, owned by B (5461-10922); seed 1 is A, seed 2 is B's replica.
        let r = report(&healthy(), &["user:1"], None);
        let k = &r.keys[0];
        assert_eq!(
            (k.slot, k.owner.as_deref()),
            (10778, Some("127.0.0.1:30002"))
        );
        assert_eq!(k.replicas, vec!["127.0.0.1:30005"]);
        assert_eq!(k.seeds[0].answer, "MOVED 10778 127.0.0.1:30002");
        assert!(
            k.seeds[1]
                .answer
                .starts_with("MOVED 10778 127.0.0.1:30002 (a replica"),
            "{}",
            k.seeds[1].answer
        );
    }

    #[test]
    fn every_redirect_case_has_its_own_verdict() {
        let migrating = healthy().replace("0-5460", &format!("0-5460 [100->-{B}]"));
        let cases = [
            (
                healthy(),
                "MOVED 10778 127.0.0.1:30002",
                "not_following_redirects",
            ),
            (
                healthy(),
                "(error) MOVED 10778 127.0.0.1:30003",
                "stale_map",
            ),
            (migrating.clone(), "ASK 100 127.0.0.1:30002", "migrating"),
            (healthy(), "-ASK 100 127.0.0.1:30002", "migration_over"),
            (healthy(), "MOVED 10778 10.9.9.9:6379", "unknown_node"),
            (
                healthy().replace("30002@31002 master", "30002@31002 master,fail"),
                "MOVED 10778 127.0.0.1:30002",
                "node_failing",
            ),
        ];
        for (topology, line, verdict) in cases {
            let r = report(&topology, &[], Some(line));
            assert_eq!(r.redirect.as_ref().unwrap().verdict, verdict, "{line}");
        }
    }

    #[test]
    fn redirect_parsing() {
        let r = parse_redirect("  (error) MOVED 8404 10.0.0.32:6379 ").unwrap();
        assert_eq!(
            (r.kind.as_str(), r.slot, r.node.as_str()),
            ("MOVED", 8404, "10.0.0.32:6379")
        );
        for bad in [
            "",
            "MOVED",
            "MOVED x 1.2.3.4:5",
            "MOVED 16384 1.2.3.4:5",
            "WRONG 1 a:1",
            "MOVED 1 nocolon",
            "MOVED 1 a:1 extra",
        ] {
            assert!(parse_redirect(bad).is_err(), "{bad:?}");
        }
    }
}
