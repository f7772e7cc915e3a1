//! Snapshots to OpenMetrics text, through prometheus-client.
//!
//! Every family is declared once, in [`families::families`]: name, type, unit, labels, HELP
//! and how to read its samples from a snapshot. Adding a metric is adding one row in the part its subject belongs to.
//!
//! Metrics are rendered from the latest [`Published`](crate::snapshot::Published) snapshots at scrape time by a collector, rather than
//! kept in long-lived metric objects, for two reasons: counters read from Redis (redirects,
//! commands) pass through the node's own value so that `rate()` sees its resets, and a node that
//! leaves the cluster simply stops appearing instead of lingering as a stale series.

pub mod families;
mod per;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::snapshot::{DurationHistogram, Published};
pub use families::families;

/// Content type of `/metrics`: OpenMetrics 1.0, as prometheus-client writes it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Appended to the help of every metric read from Redis, so that whoever reads the HELP knows
/// the value is as of the last poll, not of the scrape.
const POLLED: &str =
    "As of slotwatch's last poll; slotwatch polls on its own timer, not per scrape.";

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A value that goes up and down.
    Gauge,
    /// A monotonic count; exposed with `_total`.
    Counter,
    /// Bucketed observations.
    Histogram,
}

/// A family's base unit, which OpenMetrics appends to the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseUnit {
    /// `_seconds`.
    Seconds,
    /// `_bytes`.
    Bytes,
}

/// Where a family's samples come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// Samples of each cluster's snapshot, labelled `cluster` first.
    Cluster(for<'a> fn(&'a Published, &mut Samples<'a>)),
    /// One set of samples for the whole process, without `cluster`.
    Process(fn(&mut Samples<'static>)),
}

/// One metric family: everything about it but its values.
#[derive(Clone, Copy)]
pub struct Family {
    /// Name without the unit and `_total` suffixes, e.g. `redis_cluster_redirects`.
    pub name: &'static str,
    /// Type.
    pub kind: Type,
    /// Base unit, if any.
    pub unit: Option<BaseUnit>,
    /// Label names after `cluster`, in the order samples give their values.
    pub labels: &'static [&'static str],
    /// HELP text.
    pub help: &'static str,
    /// The value was read from Redis at the last poll: the HELP says so.
    pub polled: bool,
    /// Where the samples come from.
    pub source: Source,
}

impl Family {
    /// The name as `/metrics` shows it: with the unit, and `_total` for counters.
    pub fn exposed_name(&self) -> String {
        let mut name = self.name.to_owned();
        match self.unit {
            Some(BaseUnit::Seconds) => name.push_str("_seconds"),
            Some(BaseUnit::Bytes) => name.push_str("_bytes"),
            None => {}
        }
        if self.kind == Type::Counter {
            name.push_str("_total");
        }
        name
    }
}

/// A sample's value.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// A gauge value.
    Number(f64),
    /// A counter value, kept whole.
    Count(u64),
    /// A histogram.
    Histogram(&'a DurationHistogram),
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}

impl From<u64> for Value<'_> {
    fn from(v: u64) -> Self {
        Value::Count(v)
    }
}

impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Value::Number(f64::from(v))
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Number(if v { 1.0 } else { 0.0 })
    }
}

type Labels = Vec<(&'static str, String)>;

/// The samples of one family, collected for encoding.
pub struct Samples<'a> {
    names: &'static [&'static str],
    cluster: Option<String>,
    rows: Vec<(Labels, Value<'a>)>,
}

impl<'a> Samples<'a> {
    /// Adds a sample; `values` pair up with the family's label names, in order.
    pub fn push(&mut self, values: &[&str], value: impl Into<Value<'a>>) {
        debug_assert_eq!(values.len(), self.names.len(), "labels of {:?}", self.names);
        let mut labels: Labels = Vec::with_capacity(values.len() + 1);
        if let Some(c) = &self.cluster {
            labels.push(("cluster", c.clone()));
        }
        labels.extend(
            self.names
                .iter()
                .zip(values)
                .map(|(n, v)| (*n, (*v).to_owned())),
        );
        self.rows.push((labels, value.into()));
    }
}

/// Renders all clusters' snapshots as one OpenMetrics exposition.
pub fn encode(snapshots: &[Published]) -> String {
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
    snapshots: Vec<Published>,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in families() {
            let help = if family.polled {
                format!("{} {POLLED}", family.help)
            } else {
                family.help.to_owned()
            };
            let unit = family.unit.map(|u| match u {
                BaseUnit::Seconds => Unit::Seconds,
                BaseUnit::Bytes => Unit::Bytes,
            });
            let kind = match family.kind {
                Type::Gauge => MetricType::Gauge,
                Type::Counter => MetricType::Counter,
                Type::Histogram => MetricType::Histogram,
            };
            let mut rows = Vec::new();
            match family.source {
                Source::Cluster(read) => {
                    for s in &self.snapshots {
                        let mut samples = Samples {
                            names: family.labels,
                            cluster: Some(s.cluster.clone()),
                            rows: Vec::new(),
                        };
                        read(s, &mut samples);
                        rows.append(&mut samples.rows);
                    }
                }
                Source::Process(read) => {
                    let mut samples = Samples {
                        names: family.labels,
                        cluster: None,
                        rows: Vec::new(),
                    };
                    read(&mut samples);
                    rows = samples.rows;
                }
            }
            let mut m = enc.encode_descriptor(family.name, &help, unit.as_ref(), kind)?;
            for (labels, value) in &rows {
                let mut sample = m.encode_family(labels)?;
                match (family.kind, value) {
                    (Type::Counter, Value::Count(v)) => {
                        sample.encode_counter::<Labels, _, f64>(v, None)?
                    }
                    (Type::Counter, Value::Number(v)) => {
                        sample.encode_counter::<Labels, _, f64>(v, None)?
                    }
                    (Type::Histogram, Value::Histogram(h)) => {
                        sample.encode_histogram::<Labels>(h.sum, h.count, &h.buckets, None)?
                    }
                    (_, Value::Number(v)) => sample.encode_gauge(v)?,
                    (_, Value::Count(v)) => sample.encode_gauge(&(*v as f64))?,
                    // A histogram value for another type is a bug in the table, which a test
                    // renders in full; skip it rather than corrupt the output.
                    (_, Value::Histogram(_)) => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::snapshot::testdata::snapshot_of;
    use crate::topology::testdata::*;

    /// A snapshot with every family's data, a classic migration of slot 7 included.
    fn snapshot() -> Published {
        let mut s = snapshot_of(
            &healthy().replace("0-5460", &format!("0-5460 [7->-{B}]")),
            &[],
        );
        s.cluster = "c1".into();
        let m = s.topology.as_ref().unwrap().migrations[0].clone();
        let progress = crate::snapshot::Progress {
            opened_ms: 1_000,
            progressed_ms: 1_500,
            keys_left: Some(42),
        };
        s.progress = Arc::new(
            [(
                crate::topology::MigrationId::Classic(7, m.source, m.target),
                progress,
            )]
            .into(),
        );
        let mut counters = crate::info::NodeCounters::default();
        crate::info::parse_info(
            "# Errorstats\r\nerrorstat_MOVED:count=3\r\n# Stats\r\ntotal_commands_processed:10\r\n\
             # Commandstats\r\ncmdstat_get:calls=7,rejected_calls=3,failed_calls=0\r\n",
            &mut counters,
        );
        let info = crate::cluster_info::ClusterInfo::parse(
            "cluster_state:fail\r\ncluster_slots_pfail:5461\r\ncluster_slots_fail:0\r\n\
             cluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:6\r\n\
             cluster_my_epoch:2\r\n",
        )
        .ok();
        let master_text = "role:master\r\nconnected_slaves:1\r\nmaster_repl_offset:2000\r\n";
        let replica_text = "role:slave\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:1\r\n\
             master_sync_in_progress:0\r\nslave_repl_offset:1500\r\nmaster_repl_offset:1500\r\n";
        let replicas: Vec<_> = (s.topology.as_ref().unwrap().nodes.iter())
            .filter(|n| n.role == crate::topology::Role::Replica)
            .map(|r| r.id)
            .collect();
        for n in &mut s.nodes {
            n.counters = counters.clone();
            n.cluster_info = info;
            n.errors = [("timeout", 2)].into_iter().collect();
            let replica = n.id.is_some_and(|id| replicas.contains(&id));
            let text = if replica { replica_text } else { master_text };
            n.replication = crate::replication::Replication::parse(text);
            n.zone = Some("az1".into());
            n.load = Some(two_readings());
            n.slot_stats = Some(true);
        }
        s.liveness = Some(crate::snapshot::liveness::Liveness {
            restarts: 1,
            ..crate::snapshot::liveness::Liveness::new(
                1_000,
                std::time::Duration::from_secs(5),
                std::time::Duration::from_secs(1),
            )
        });
        let clients = crate::clients::report::one_plain_client("c1", &s.nodes[0].endpoint);
        Published {
            snapshot: Arc::new(s),
            clients: Some(Arc::new(clients)),
        }
    }

    /// Two readings of a node's per-slot stats, 10 s apart (a replica's would repeat its
    /// master's slots): slot 7 holds 40 of its 100 keys; CPU grew by 0.5 s and the network by
    /// 1000 bytes each way.
    fn two_readings() -> crate::snapshot::Loads {
        let load = |at: u64, cpu: u64, net: u64| {
            let stats = [
                crate::slot_stats::SlotStat {
                    slot: 7,
                    values: [Some(40), Some(cpu), Some(net), Some(net)],
                },
                crate::slot_stats::SlotStat {
                    slot: 9,
                    values: [Some(60), Some(0), Some(0), Some(0)],
                },
            ];
            crate::slot_stats::NodeLoad::of(&stats, 5, at)
        };
        crate::snapshot::Loads {
            latest: load(11_000, 2_500_000, 3_000),
            before: Some(load(1_000, 2_000_000, 2_000)),
        }
    }

    #[test]
    fn every_family_in_the_table_is_rendered_with_help_and_samples() {
        let text = encode(&[snapshot()]);
        let mut seen = std::collections::HashSet::new();
        for f in families() {
            let name = f.exposed_name();
            assert!(seen.insert(name.clone()), "{name} is declared twice");
            let family = name.trim_end_matches("_total");
            assert!(
                text.contains(&format!("# HELP {family} ")),
                "no HELP for {family}:\n{text}"
            );
            let sample = match f.kind {
                Type::Histogram => format!("{name}_count{{"),
                _ => format!("{name}{{"),
            };
            assert!(text.contains(&sample), "no sample of {name}:\n{text}");
        }
        assert!(text.contains(
            "redis_cluster_redirects_total{cluster=\"c1\",node=\"127.0.0.1:30001\",type=\"moved\"} 3"
        ));
        assert!(text.contains("slotwatch_build_info{version=\""));
        assert!(
            text.contains(
                "redis_cluster_suspect_clients{cluster=\"c1\",node=\"127.0.0.1:30005\",reason=\"not_cluster_aware\"} 1.0"
            ) && text.contains("reason=\"stale_map\"} 0.0"),
            "{}",
            text.lines().filter(|l| l.contains("suspect")).collect::<Vec<_>>().join("\n")
        );
        assert!(text.contains("# HELP redis_cluster_node_up 1 if the node answered"));
        for line in [
            "redis_cluster_slot_stats_keys{cluster=\"c1\",node=\"127.0.0.1:30001\"} 100.0",
            "redis_cluster_slot_stats_cpu_seconds_total{cluster=\"c1\",node=\"127.0.0.1:30001\"} 2.5",
            "redis_cluster_top_slot_keys{cluster=\"c1\",node=\"127.0.0.1:30001\",slot=\"9\"} 60.0",
            "redis_cluster_top_slot_network_bytes_total{cluster=\"c1\",node=\"127.0.0.1:30001\",slot=\"7\",direction=\"out\"} 3000",
            "redis_cluster_load_spread{cluster=\"c1\",measure=\"cpu\"} 1.0",
        ] {
            assert!(text.contains(line), "no {line}:\n{text}");
        }
        assert!(
            !text.contains("redis_cluster_slot_stats_keys{cluster=\"c1\",node=\"127.0.0.1:30004\""),
            "replicas' readings are not exported"
        );
        assert!(
            text.contains("As of slotwatch's last poll"),
            "polled families say so"
        );
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains(
            "redis_cluster_migration_keys_remaining{cluster=\"c1\",node=\"127.0.0.1:30001\"} 42"
        ));
        assert!(text.contains(
            "redis_cluster_migrations{cluster=\"c1\",mechanism=\"classic\",state=\"migrating\"} 1"
        ));
        assert!(text.contains("redis_cluster_migration_stalled_seconds{cluster=\"c1\"} 0.5"));
        assert!(text.contains(
            "redis_cluster_slots_migrating{cluster=\"c1\",node=\"127.0.0.1:30001\",mechanism=\"atomic\"} 0"
        ));
        // The node's own CLUSTER INFO, as parsed above.
        for line in [
            "redis_cluster_node_state_ok{cluster=\"c1\",node=\"127.0.0.1:30002\"} 0",
            "redis_cluster_node_reported_slots{cluster=\"c1\",node=\"127.0.0.1:30002\",state=\"pfail\"} 5461",
            "redis_cluster_node_known_nodes{cluster=\"c1\",node=\"127.0.0.1:30002\"} 6",
            "redis_cluster_node_cluster_size{cluster=\"c1\",node=\"127.0.0.1:30002\"} 3",
            "redis_cluster_node_epoch{cluster=\"c1\",node=\"127.0.0.1:30002\",epoch=\"current\"} 6",
            "redis_cluster_node_epoch{cluster=\"c1\",node=\"127.0.0.1:30002\",epoch=\"config\"} 2",
        ] {
            assert!(text.contains(line), "no {line}");
        }
    }
}
