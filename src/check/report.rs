//! The check report, built from one snapshot by a pure function so that every verdict is
//! testable without a cluster.

use serde::Serialize;

use super::redirect::{Redirect, RedirectReport, explain};
use crate::health::redirects::{State, Verdict};
use crate::health::{self, Problem};
use crate::overview::Overview;
use crate::slot::key_slot;
use crate::snapshot::Snapshot;
use crate::topology::{NodeId, Role, Topology};

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

/// The whole report, as printed and as `--json`: the cluster's [`Overview`], as `/topology`
/// serves it, and the verdict on it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The cluster as this check saw it.
    #[serde(flatten)]
    pub overview: Overview,
    /// No problem found.
    pub healthy: bool,
    /// Each problem, one sentence each (the shared health judgement).
    pub problems: Vec<String>,
    /// What is worth knowing but no problem (one host for all, slots spread unevenly).
    pub notes: Vec<String>,
    /// The problems themselves, for the text's question lines.
    #[serde(skip)]
    pub judgement: Vec<Problem>,
    /// Nodes that did not answer, with the cause.
    pub unreachable: Vec<String>,
    /// One entry per `--key`.
    pub keys: Vec<KeyReport>,
    /// The `--moved` explanation.
    pub redirect: Option<RedirectReport>,
    /// The redirect verdict: quiet, expected or persisting, with its evidence.
    pub redirects: Option<Verdict>,
    /// How evenly the masters share keys, CPU and network, from their per-slot stats.
    pub load: Option<crate::health::load::LoadBalance>,
}

impl Report {
    /// Adds the redirect verdict; a persisting burst makes the check fail.
    pub fn set_redirects(&mut self, v: Verdict) {
        if v.state == State::Persisting {
            self.healthy = false;
        }
        self.redirects = Some(v);
    }
}

/// Builds the report from one poll's snapshot and topology. `seeds` pairs each seed URL with
/// the ID of the node behind it (None if it did not answer).
pub fn build(
    s: &Snapshot,
    t: &Topology,
    seeds: &[(String, Option<NodeId>)],
    keys: &[String],
    redirect: Option<&Redirect>,
) -> Report {
    let problems = health::problems(s);
    let unreachable = problems
        .iter()
        .find_map(|p| match p {
            Problem::NodesNotAnswering { nodes } => Some(nodes.clone()),
            _ => None,
        })
        .unwrap_or_default();
    Report {
        overview: Overview::build(s, t),
        healthy: problems.is_empty(),
        problems: problems.iter().map(ToString::to_string).collect(),
        notes: health::notes(s).iter().map(ToString::to_string).collect(),
        judgement: problems,
        unreachable,
        keys: keys.iter().map(|k| key_report(t, seeds, k)).collect(),
        redirect: redirect.map(|r| explain(t, r)),
        redirects: None,
        load: crate::health::load::load_balance(s, t),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::redirect::parse_redirect;
    use crate::snapshot::testdata::snapshot_of;
    use crate::topology::testdata::*;

    fn report(text: &str, keys: &[&str], redirect: Option<&str>) -> Report {
        let snapshot = snapshot_of(text, &[]);
        let t = snapshot.topology.clone().unwrap();
        let seeds = vec![
            ("redis://127.0.0.1:30001".to_owned(), NodeId::parse(A)),
            ("redis://127.0.0.1:30005".to_owned(), NodeId::parse(B1)),
        ];
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let r = redirect.map(|r| parse_redirect(r).unwrap());
        build(&snapshot, &t, &seeds, &keys, r.as_ref())
    }

    #[test]
    fn healthy_cluster() {
        let r = report(&healthy(), &[], None);
        assert!(r.healthy, "{:?}", r.problems);
        assert_eq!(r.overview.slots_assigned, 16384);
        assert_eq!(r.overview.masters.len(), 3);
        assert_eq!(r.overview.masters[0].replicas.len(), 1);
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
        assert_eq!(r.overview.unassigned_ranges[0].to_string(), "16001-16383");
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
}
