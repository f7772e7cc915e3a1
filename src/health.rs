//! The one health judgement of a cluster, from one snapshot: what `slotwatch check` reports
//! and what the landing page shows. Pure.
//!
//! Adding a problem means adding a variant, its sentence and its test here; both readers pick
//! it up.

use serde::Serialize;

use crate::slot::{SlotRange, SlotSet, format_ranges};
use crate::snapshot::Snapshot;
use crate::topology::event::EventKind;
use crate::topology::{Mechanism, OpenMigration, Role, Topology};

/// Something wrong with a cluster, as of its latest poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// No poll has finished yet.
    NotPolledYet,
    /// The latest poll reached no node's view.
    Unreachable {
        /// `ip:port (cause)` of each node tried.
        nodes: Vec<String>,
    },
    /// Some nodes did not answer the latest poll.
    NodesNotAnswering {
        /// `ip:port (cause)` of each.
        nodes: Vec<String>,
    },
    /// Slots with no owner: keys in them cannot be served.
    SlotsUnassigned {
        /// How many.
        slots: u32,
        /// Which.
        ranges: Vec<SlotRange>,
    },
    /// A master flagged `fail` or `fail?`.
    MasterFailing {
        /// The master.
        node: String,
        /// `fail` and/or `fail?`.
        flags: Vec<&'static str>,
        /// Slots it owns.
        slots: u32,
    },
    /// Nodes whose own `CLUSTER INFO` says `cluster_state:fail`: they refuse commands with
    /// `CLUSTERDOWN`, whatever the merged topology says.
    StateFail {
        /// `ip:port (role, slots)` of each, masters owning slots first.
        nodes: Vec<String>,
    },
    /// The reachable views name different owners for some slots.
    ViewsDisagree {
        /// How many slots.
        slots: u32,
        /// Which.
        ranges: Vec<SlotRange>,
    },
    /// Slot migrations are open.
    MigrationsOpen {
        /// `slot source->target` of each.
        migrations: Vec<String>,
    },
    /// Open migrations that have shown no progress for [`STUCK_AFTER_S`] or more.
    MigrationsStuck {
        /// `slots source->target` of each, with how long it has been still.
        migrations: Vec<String>,
    },
    /// Atomic migrations that failed in the last [`FAILED_RECENTLY_MS`], their slots not moved
    /// by a later migration since.
    MigrationsFailed {
        /// The failure events' sentences, with their times.
        migrations: Vec<String>,
    },
    /// Masters owning slots with no replica that could take over: their next failure leaves
    /// their slots without an owner.
    Unredundant {
        /// `ip:port (slots, why)` of each master.
        masters: Vec<String>,
    },
    /// Replicas whose own `INFO replication` says their link to the master is down or a full
    /// sync runs: promoted now, they would serve stale data or none.
    ReplicationDown {
        /// `ip:port (of master)` of each replica.
        replicas: Vec<String>,
    },
    /// Replicas more than [`risks::LAG_BYTES`] behind their master: a failover now loses
    /// those writes.
    ReplicationLagging {
        /// `ip:port (bytes behind master)` of each replica.
        replicas: Vec<String>,
    },
    /// Replicas on their master's host: one machine failure takes both.
    Colocated {
        /// `replica and master on host` for each.
        pairs: Vec<String>,
    },
    /// Shards whose master and replicas all say one `availability_zone` (Valkey 8.0+): one
    /// zone outage takes the whole shard.
    SingleZone {
        /// `master (zone)` of each shard.
        shards: Vec<String>,
    },
}

/// Something worth knowing about the cluster that is not a problem: it never makes the
/// verdict unhealthy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// Every node is on one host (a development or test cluster): replicas cannot protect
    /// against a machine failure, by design.
    SingleHost {
        /// The host.
        host: String,
        /// How many nodes.
        nodes: usize,
    },
    /// Masters' slot counts differ from the mean by more than
    /// [`risks::BALANCE_THRESHOLD_PERCENT`], the threshold `redis-cli --cluster rebalance`
    /// moves slots at; only while the keys per master are unknown ([`load`]).
    Unbalanced {
        /// The spread.
        balance: risks::Balance,
    },
}

/// Seconds without progress after which an open migration is stuck. A live driver shows
/// progress within seconds: `redis-cli --cluster reshard` moves keys in batches without pause,
/// and an atomic job changes state or update time as it goes. Ten minutes of nothing means
/// that nothing is driving it, and it is flagged before the 15-minute age alert
/// (`RedisClusterSlotMigrationStuck`), which counts from the opening even while keys move.
pub const STUCK_AFTER_S: f64 = 600.0;

/// How long a failed migration stays a problem: the redirect history's window, so that its
/// mark is still on the cluster page's chart.
pub const FAILED_RECENTLY_MS: u64 = crate::snapshot::redirects::WINDOW_MS;

/// The flags of a failing node, as `CLUSTER NODES` prints them.
pub fn failure_flags(fail: bool, pfail: bool) -> Vec<&'static str> {
    [(fail, "fail"), (pfail, "fail?")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
}

/// Everything wrong with the cluster as of `s`; empty means healthy.
pub fn problems(s: &Snapshot) -> Vec<Problem> {
    if s.polled_at_ms == 0 {
        return vec![Problem::NotPolledYet];
    }
    let Some(t) = &s.topology else {
        return vec![Problem::Unreachable {
            nodes: nodes_down(s),
        }];
    };
    let open = t.open_migrations();
    let mut out = Vec::new();
    out.extend(nodes_not_answering(s));
    out.extend(slots_unassigned(t));
    out.extend(masters_failing(t));
    out.extend(state_fail(s, t));
    out.extend(views_disagree(t));
    out.extend(migrations_open(t, &open));
    out.extend(migrations_stuck(s, t, &open));
    out.extend(migrations_failed(s));
    out.extend(redundancy(s, t));
    out
}

/// Everything worth a note about the cluster as of `s`, problems aside.
pub fn notes(s: &Snapshot) -> Vec<Note> {
    let Some(t) = &s.topology else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if risks::single_host(t) {
        out.push(Note::SingleHost {
            host: risks::host(&t.nodes[0]).to_owned(),
            nodes: t.nodes.len(),
        });
    }
    // Where the keys per master are known, slot counts are beside the point: evening them
    // (`redis-cli --cluster rebalance`) would undo a balance of keys.
    let keys_known =
        load::load_balance(s, t).is_some_and(|b| b.spread(load::Measure::Keys).is_some());
    if let Some(balance) = risks::balance(t)
        && balance.off_by_percent() > risks::BALANCE_THRESHOLD_PERCENT
        && !keys_known
    {
        out.push(Note::Unbalanced { balance });
    }
    out
}

/// What the next failure would cost: masters without a ready replica, replication links down
/// or behind, replicas sharing their master's host or zone.
fn redundancy(s: &Snapshot, t: &Topology) -> Vec<Problem> {
    let shards = risks::shards(s, t);
    let links = risks::links(s, t);
    let masters: Vec<String> = shards
        .iter()
        .filter(|sh| sh.unredundant())
        .map(|sh| {
            let why = if sh.replicas.is_empty() {
                "no replica".to_owned()
            } else {
                sh.replicas
                    .iter()
                    .map(|(r, state)| format!("{} {}", r.endpoint, state.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "{} ({} slots; {why})",
                sh.master.endpoint, sh.master.slot_count
            )
        })
        .collect();
    let down: Vec<String> = links
        .iter()
        .filter(|l| !l.up)
        .map(|l| format!("{} (of {})", l.replica.endpoint, l.master.endpoint))
        .collect();
    let lagging: Vec<String> = links
        .iter()
        .filter_map(|l| {
            let lag = l.lag_bytes.filter(|b| *b > risks::LAG_BYTES)?;
            Some(format!(
                "{} ({lag} bytes behind {})",
                l.replica.endpoint, l.master.endpoint
            ))
        })
        .collect();
    let pairs: Vec<String> = if risks::single_host(t) {
        Vec::new()
    } else {
        shards
            .iter()
            .flat_map(|sh| {
                sh.colocated.iter().map(|r| {
                    format!(
                        "replica {} and its master {} on {}",
                        r.endpoint,
                        sh.master.endpoint,
                        risks::host(r)
                    )
                })
            })
            .collect()
    };
    let zones: Vec<String> = shards
        .iter()
        .filter_map(|sh| {
            let zone = sh.single_zone.as_ref()?;
            Some(format!(
                "{} and its {} replica(s) in {zone}",
                sh.master.endpoint,
                sh.replicas.len()
            ))
        })
        .collect();
    [
        (!masters.is_empty()).then_some(Problem::Unredundant { masters }),
        (!down.is_empty()).then_some(Problem::ReplicationDown { replicas: down }),
        (!lagging.is_empty()).then_some(Problem::ReplicationLagging { replicas: lagging }),
        (!pairs.is_empty()).then_some(Problem::Colocated { pairs }),
        (!zones.is_empty()).then_some(Problem::SingleZone { shards: zones }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `ip:port (cause)` of each node that did not answer the latest poll.
fn nodes_down(s: &Snapshot) -> Vec<String> {
    s.nodes
        .iter()
        .filter(|n| !n.up)
        .map(|n| match &n.last_error {
            Some(e) => format!("{} ({e})", n.endpoint),
            None => n.endpoint.clone(),
        })
        .collect()
}

/// The nodes that did not answer, when the poll still reached some view.
fn nodes_not_answering(s: &Snapshot) -> Option<Problem> {
    let nodes = nodes_down(s);
    (!nodes.is_empty()).then_some(Problem::NodesNotAnswering { nodes })
}

/// The slots no node owns.
fn slots_unassigned(t: &Topology) -> Option<Problem> {
    let unassigned = t.unassigned_slots();
    (unassigned > 0).then(|| Problem::SlotsUnassigned {
        slots: unassigned,
        ranges: t.unassigned_ranges(),
    })
}

/// Each master flagged `fail` or `fail?`.
fn masters_failing(t: &Topology) -> Vec<Problem> {
    t.shards()
        .into_iter()
        .filter_map(|shard| {
            let m = shard.master;
            let flags = failure_flags(m.fail, m.pfail);
            (!flags.is_empty()).then(|| Problem::MasterFailing {
                node: m.endpoint.clone(),
                flags,
                slots: m.slot_count,
            })
        })
        .collect()
}

/// The nodes that answered and say their cluster is down, masters with the most slots first.
fn state_fail(s: &Snapshot, t: &Topology) -> Option<Problem> {
    let mut failing: Vec<(u32, String)> = s
        .nodes
        .iter()
        .filter(|n| n.cluster_info.is_some_and(|i| !i.state_ok))
        .map(|n| {
            let node = n.id.and_then(|id| t.node(&id));
            let slots = node.map_or(0, |m| m.slot_count);
            let role = match node.map(|m| m.role) {
                Some(Role::Master) => format!("master, {slots} slots"),
                Some(role) => role.as_str().to_owned(),
                None => "unknown role".to_owned(),
            };
            (slots, format!("{} ({role})", n.endpoint))
        })
        .collect();
    failing.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    (!failing.is_empty()).then(|| Problem::StateFail {
        nodes: failing.into_iter().map(|(_, n)| n).collect(),
    })
}

/// The slots whose owner the reachable views disagree on.
fn views_disagree(t: &Topology) -> Option<Problem> {
    (!t.disagreement.is_empty()).then(|| Problem::ViewsDisagree {
        slots: t.disagreement.len(),
        ranges: t.disagreement.ranges(),
    })
}

/// Every open migration, whether or not it progresses.
fn migrations_open(t: &Topology, open: &[OpenMigration]) -> Option<Problem> {
    (!open.is_empty()).then(|| Problem::MigrationsOpen {
        migrations: open.iter().map(|m| describe_migration(t, m)).collect(),
    })
}

/// `slots source->target` of a migration, with the state of an atomic one.
fn describe_migration(t: &Topology, m: &OpenMigration) -> String {
    let (from, to) = (t.endpoint_of(&m.source), t.endpoint_of(&m.target));
    match m.mechanism {
        Mechanism::Classic => format!("{} {from}->{to}", format_ranges(&m.ranges)),
        Mechanism::Atomic => format!(
            "{} {from}->{to} (atomic, {})",
            format_ranges(&m.ranges),
            m.state
        ),
    }
}

/// The open migrations without progress for [`STUCK_AFTER_S`] or more.
fn migrations_stuck(s: &Snapshot, t: &Topology, open: &[OpenMigration]) -> Option<Problem> {
    let stuck: Vec<String> = open
        .iter()
        .filter_map(|m| {
            let still = still_for_s(s, m)?;
            (still >= STUCK_AFTER_S).then(|| {
                format!(
                    "{}, no progress for {:.0} min",
                    describe_migration(t, m),
                    (still / 60.0).floor()
                )
            })
        })
        .collect();
    (!stuck.is_empty()).then_some(Problem::MigrationsStuck { migrations: stuck })
}

/// Seconds since `m` last progressed, as of the latest poll; `None` if it was never tracked.
fn still_for_s(s: &Snapshot, m: &OpenMigration) -> Option<f64> {
    let p = s.progress.get(&m.id)?;
    Some(s.polled_at_ms.saturating_sub(p.progressed_ms) as f64 / 1000.0)
}

/// The recent migration failures that no later migration has made good.
fn migrations_failed(s: &Snapshot) -> Option<Problem> {
    let failed = recent_failures(s);
    (!failed.is_empty()).then_some(Problem::MigrationsFailed { migrations: failed })
}

/// Migration failures of the last [`FAILED_RECENTLY_MS`] whose slots no later migration moved,
/// oldest first.
fn recent_failures(s: &Snapshot) -> Vec<String> {
    let since = s.polled_at_ms.saturating_sub(FAILED_RECENTLY_MS);
    // Newest first, so that `moved_later` holds, at each failure, the slots of every migration
    // that finished after it.
    let mut moved_later = SlotSet::new();
    let mut failed = Vec::new();
    for e in s.events.iter().rev() {
        match &e.kind {
            EventKind::MigrationFinished { scope, .. } => {
                for r in &scope.ranges {
                    moved_later.insert_range(*r);
                }
            }
            EventKind::MigrationFailed { scope, .. }
                if e.timestamp_ms >= since && !all_in(&scope.ranges, &moved_later) =>
            {
                failed.push(format!("{} (at {})", e.message, e.time));
            }
            _ => {}
        }
    }
    failed.reverse();
    failed
}

/// True if every slot of `ranges` is in `set`.
fn all_in(ranges: &[SlotRange], set: &SlotSet) -> bool {
    ranges
        .iter()
        .flat_map(|r| r.slots())
        .all(|slot| set.contains(slot))
}

pub mod load;
pub mod redirects;
pub mod risks;
mod text;

#[cfg(test)]
mod tests;
