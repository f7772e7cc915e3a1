//! Snapshots to OpenMetrics text, through prometheus-client.
//!
//! Metrics are rendered from the latest [`Snapshot`]s at scrape time by a collector, rather than
//! kept in long-lived metric objects, for two reasons: counters read from Redis (redirects,
//! commands) pass through the node's own value so that `rate()` sees its resets, and a node that
//! leaves the cluster simply stops appearing instead of lingering as a stale series.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::poller::Snapshot;

/// Content type of `/metrics`: OpenMetrics 1.0, as prometheus-client writes it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Appended to the help of every metric read from Redis, so that whoever reads the HELP knows
/// the value is as of the last poll, not of the scrape.
const POLLED: &str =
    "As of slotwatch's last poll; slotwatch polls on its own timer, not per scrape.";

/// Renders all clusters' snapshots as one OpenMetrics exposition.
pub fn encode(snapshots: &[Arc<Snapshot>]) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector {
        snapshots: snapshots.to_vec(),
    }));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail; an error here would be a bug in the encoder.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    out
}

#[derive(Debug)]
struct SnapshotCollector {
    snapshots: Vec<Arc<Snapshot>>,
}

type Labels = Vec<(&'static str, String)>;

/// Writes one metric family: its descriptor, then every sample.
fn family<V>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricType,
    samples: Vec<(Labels, V)>,
    write: impl Fn(&mut MetricEncoder, &V) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (labels, value) in &samples {
        let mut sample = m.encode_family(labels)?;
        write(&mut sample, value)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    samples: Vec<(Labels, f64)>,
) -> Result<(), std::fmt::Error> {
    family(enc, name, help, unit, MetricType::Gauge, samples, |m, v| {
        m.encode_gauge(v)
    })
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    samples: Vec<(Labels, u64)>,
) -> Result<(), std::fmt::Error> {
    family(
        enc,
        name,
        help,
        unit,
        MetricType::Counter,
        samples,
        |m, v| m.encode_counter::<Labels, _, f64>(v, None),
    )
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snaps = &self.snapshots;
        let cl = |s: &Snapshot| -> Labels { vec![("cluster", s.cluster.clone())] };
        let node = |s: &Snapshot, n: &str| -> Labels {
            vec![("cluster", s.cluster.clone()), ("node", n.to_owned())]
        };

        // Per-node counters read from Redis.
        let mut redirects = Vec::new();
        let mut commands = Vec::new();
        for s in snaps {
            for n in &s.nodes {
                for (ty, v) in [
                    ("moved", n.counters.moved_total()),
                    ("ask", n.counters.ask_total()),
                ] {
                    if let Some(v) = v {
                        let mut l = node(s, &n.endpoint);
                        l.push(("type", ty.to_owned()));
                        redirects.push((l, v));
                    }
                }
                if let Some(v) = n.counters.commands_processed {
                    commands.push((node(s, &n.endpoint), v));
                }
            }
        }
        counter(
            &mut enc,
            "redis_cluster_redirects",
            &format!(
                "MOVED and ASK redirect replies the node sent, from its INFO errorstats (Redis 6.2+). The node's own counter: it resets when the node restarts. {POLLED}"
            ),
            None,
            redirects,
        )?;
        counter(
            &mut enc,
            "redis_cluster_commands_processed",
            &format!(
                "Commands the node processed (total_commands_processed in INFO stats); commands rejected with MOVED or ASK are not included. {POLLED}"
            ),
            None,
            commands,
        )?;

        let per_node = |f: &dyn Fn(&Snapshot, &crate::poller::NodeStatus) -> Option<f64>| {
            snaps
                .iter()
                .flat_map(|s| {
                    s.nodes
                        .iter()
                        .filter_map(move |n| f(s, n).map(|v| (node(s, &n.endpoint), v)))
                })
                .collect::<Vec<_>>()
        };
        gauge(
            &mut enc,
            "redis_cluster_node_up",
            &format!(
                "1 if the node answered slotwatch's last poll within the timeout, else 0. {POLLED}"
            ),
            None,
            per_node(&|_, n| Some(b(n.up))),
        )?;

        let mut info = Vec::new();
        let mut failing = Vec::new();
        let mut slots = Vec::new();
        let mut migrating = Vec::new();
        let mut importing = Vec::new();
        for s in snaps {
            let Some(t) = &s.topology else { continue };
            // Node order by address reads better than by ID for anyone looking at /metrics.
            let mut by_endpoint: Vec<_> = t.nodes.iter().collect();
            by_endpoint.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
            for n in by_endpoint {
                let mut l = node(s, &n.endpoint);
                l.push(("node_id", n.id.to_string()));
                l.push(("role", n.role.as_str().to_owned()));
                l.push((
                    "master_node",
                    n.master.map(|m| t.endpoint_of(&m)).unwrap_or_default(),
                ));
                info.push((l, 1.0));
                for (flag, on) in [("pfail", n.pfail), ("fail", n.fail)] {
                    let mut l = node(s, &n.endpoint);
                    l.push(("flag", flag.to_owned()));
                    failing.push((l, b(on)));
                }
                if n.role == crate::topology::Role::Master {
                    slots.push((node(s, &n.endpoint), f64::from(n.slot_count)));
                    migrating.push((node(s, &n.endpoint), f64::from(t.migrating_count(&n.id))));
                    importing.push((node(s, &n.endpoint), f64::from(t.importing_count(&n.id))));
                }
            }
        }
        gauge(
            &mut enc,
            "redis_cluster_node_info",
            &format!(
                "Always 1; labels give each node's ID, role (master, replica or unknown) and, for replicas, the master's ip:port. {POLLED}"
            ),
            None,
            info,
        )?;
        gauge(
            &mut enc,
            "redis_cluster_node_failing",
            &format!(
                "1 if a majority of the nodes' views flag the node: pfail (fail?, unreachable from them) or fail (the cluster agreed it failed). {POLLED}"
            ),
            None,
            failing,
        )?;
        gauge(
            &mut enc,
            "redis_cluster_node_slots",
            &format!(
                "Hash slots each master owns in the merged topology (highest config epoch wins). {POLLED}"
            ),
            None,
            slots,
        )?;

        let per_cluster = |f: &dyn Fn(&Snapshot, &crate::topology::Topology) -> f64| {
            snaps
                .iter()
                .filter_map(|s| s.topology.as_ref().map(|t| (cl(s), f(s, t))))
                .collect::<Vec<_>>()
        };
        gauge(
            &mut enc,
            "redis_cluster_slots_unassigned",
            &format!("Hash slots no master owns; keys in them cannot be served. {POLLED}"),
            None,
            per_cluster(&|_, t| f64::from(t.unassigned_slots())),
        )?;
        gauge(
            &mut enc,
            "redis_cluster_slots_migrating",
            &format!(
                "Slots the master has marked MIGRATING (moving away; clients get ASK for missing keys). {POLLED}"
            ),
            None,
            migrating,
        )?;
        gauge(
            &mut enc,
            "redis_cluster_slots_importing",
            &format!("Slots the master has marked IMPORTING (moving in). {POLLED}"),
            None,
            importing,
        )?;
        gauge(
            &mut enc,
            "redis_cluster_migration_age",
            &format!(
                "Seconds since slotwatch first saw the oldest open slot migration; 0 if none is open. {POLLED}"
            ),
            Some(Unit::Seconds),
            per_cluster(&|s, _| s.oldest_migration_age_s()),
        )?;
        gauge(
            &mut enc,
            "redis_cluster_view_disagreement_slots",
            &format!(
                "Slots on which the reachable nodes' CLUSTER NODES views name different owners; brief during a reshard, persistent means split views. {POLLED}"
            ),
            None,
            per_cluster(&|_, t| f64::from(t.disagreement.len())),
        )?;

        let keyed = |key: &'static str, pick: &dyn Fn(&Snapshot) -> Vec<(&'static str, u64)>| {
            snaps
                .iter()
                .flat_map(|s| {
                    pick(s).into_iter().map(move |(k, v)| {
                        let mut l = cl(s);
                        l.push((key, k.to_owned()));
                        (l, v)
                    })
                })
                .collect::<Vec<_>>()
        };
        counter(
            &mut enc,
            "redis_cluster_events",
            "Topology events slotwatch detected by diffing successive polls, by kind (reshard, failover, migration_started, node_failed, ...). See /events for details.",
            None,
            keyed("kind", &|s| {
                s.stats.events_total.iter().map(|(k, v)| (*k, *v)).collect()
            }),
        )?;
        counter(
            &mut enc,
            "redis_cluster_slot_moves",
            "Hash slots that changed owner between successive polls, by reason (reshard, failover, assigned, unassigned).",
            None,
            keyed("reason", &|s| {
                s.stats
                    .slot_moves_total
                    .iter()
                    .map(|(k, v)| (*k, *v))
                    .collect()
            }),
        )?;
        let stamp = |f: fn(&Snapshot) -> u64| {
            snaps
                .iter()
                .map(|s| (cl(s), ms_to_s(f(s))))
                .collect::<Vec<_>>()
        };
        gauge(
            &mut enc,
            "redis_cluster_last_topology_change_timestamp",
            "Unix time of the last slot owner, role, address or membership change slotwatch saw; 0 if none since it started. Redirect alerts use it as a grace window.",
            Some(Unit::Seconds),
            stamp(|s| s.stats.last_topology_change_ms),
        )?;
        gauge(
            &mut enc,
            "redis_cluster_last_reshard_timestamp",
            "Unix time of the last reshard (slots moved between masters) slotwatch saw; 0 if none.",
            Some(Unit::Seconds),
            stamp(|s| s.stats.last_reshard_ms),
        )?;
        gauge(
            &mut enc,
            "redis_cluster_last_failover_timestamp",
            "Unix time of the last failover (a replica took over its master) slotwatch saw; 0 if none.",
            Some(Unit::Seconds),
            stamp(|s| s.stats.last_failover_ms),
        )?;

        gauge(
            &mut enc,
            "slotwatch_up",
            "1 if slotwatch's last poll reached at least one node and produced a topology, else 0.",
            None,
            snaps.iter().map(|s| (cl(s), b(s.up))).collect(),
        )?;
        {
            let mut m = enc.encode_descriptor(
            "slotwatch_poll_duration",
            "Wall time of each poll of the whole cluster (all nodes concurrently, each bounded by the per-node timeout).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
            for s in snaps {
                let h = &s.stats.poll_duration;
                let labels = cl(s);
                m.encode_family(&labels)?
                    .encode_histogram::<Labels>(h.sum, h.count, &h.buckets, None)?;
            }
        }
        let mut errors = Vec::new();
        for s in snaps {
            for n in &s.nodes {
                for (reason, v) in &n.errors {
                    let mut l = node(s, &n.endpoint);
                    l.push(("reason", (*reason).to_owned()));
                    errors.push((l, *v));
                }
            }
        }
        counter(
            &mut enc,
            "slotwatch_poll_errors",
            "Failed node fetches, by reason: timeout, connect, tls, auth, not_cluster or protocol.",
            None,
            errors,
        )?;
        gauge(
            &mut enc,
            "slotwatch_last_poll_timestamp",
            "Unix time when the last poll started; 0 before the first.",
            Some(Unit::Seconds),
            snaps
                .iter()
                .map(|s| (cl(s), ms_to_s(s.polled_at_ms)))
                .collect(),
        )?;
        counter(
            &mut enc,
            "slotwatch_polls",
            "Polls of the cluster slotwatch completed.",
            None,
            snaps.iter().map(|s| (cl(s), s.stats.polls_total)).collect(),
        )?;
        counter(
            &mut enc,
            "slotwatch_redis_read",
            "Bytes slotwatch read from the cluster's nodes (replies and handshakes), to show what polling costs.",
            Some(Unit::Bytes),
            snaps
                .iter()
                .map(|s| (cl(s), s.stats.bytes_read_total))
                .collect(),
        )?;
        gauge(
            &mut enc,
            "slotwatch_build_info",
            "Always 1; the version label says which slotwatch build is running.",
            None,
            vec![(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0)],
        )?;
        Ok(())
    }
}
