//! The one table of metric families, grouped by subject: per node, per cluster, events, and
//! slotwatch itself. Each row says what the family is and how to read it from a snapshot.

use super::per::{per_info, per_master, per_mechanism, seconds};
use super::{BaseUnit, Family, Source, Type};
use crate::clients::Reason;
use crate::info::CLUSTER_ERRORS;
use crate::topology::event::KINDS;
use crate::topology::{Mechanism, MigrationId, Topology};

/// Every family `/metrics` exports, in exposition order.
pub const FAMILIES: &[Family] = &[
    // --- Per node: counters read from Redis, and the node's place in the topology.
    Family {
        name: "redis_cluster_redirects",
        kind: Type::Counter,
        unit: None,
        labels: &["node", "type"],
        help: "MOVED and ASK redirect replies the node sent, from its INFO errorstats (Redis 6.2+). The node's own counter: it resets when the node restarts.",
        polled: true,
        source: Source::Cluster(|s, out| {
            for n in &s.nodes {
                for (ty, v) in [
                    ("moved", n.counters.moved_total()),
                    ("ask", n.counters.ask_total()),
                ] {
                    if let Some(v) = v {
                        out.push(&[&n.endpoint, ty], v);
                    }
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_error_replies",
        kind: Type::Counter,
        unit: None,
        labels: &["node", "error"],
        help: "Cluster error replies other than redirects the node sent, from its INFO errorstats: crossslot (a multi-key command across slots: a client bug), tryagain (a multi-key command on a slot whose keys are split by a migration), clusterdown (the node refused service because the cluster is down). The node's own counter: it resets when the node restarts.",
        polled: true,
        source: Source::Cluster(|s, out| {
            for n in &s.nodes {
                for (i, (_, label)) in CLUSTER_ERRORS.iter().enumerate() {
                    if let Some(v) = n.counters.cluster_error_total(i) {
                        out.push(&[&n.endpoint, label], v);
                    }
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_command_rejected_calls",
        kind: Type::Counter,
        unit: None,
        labels: &["node", "command"],
        help: "Calls of a command the node refused before running it, from INFO commandstats rejected_calls (Redis 6.2+); only commands with rejections appear. Read in the poll after the node's total_error_replies changed, so it may lag the redirect counters by one poll. Approximate as a view of redirects by command: it counts MOVED and ASK but also CROSSSLOT, TRYAGAIN, CLUSTERDOWN, ACL, OOM and wrong-arity refusals.",
        polled: true,
        source: Source::Cluster(|s, out| {
            for n in &s.nodes {
                for (command, v) in &n.counters.rejected_calls {
                    out.push(&[&n.endpoint, command], *v);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_commands_processed",
        kind: Type::Counter,
        unit: None,
        labels: &["node"],
        help: "Commands the node processed (total_commands_processed in INFO stats); commands rejected with MOVED or ASK are not included. It includes slotwatch's own polling: per node and poll, one INFO call (one per section on Redis 6.2), one CLUSTER INFO and, where the poll plan asks, CLUSTER NODES (every master's view in small clusters, a rotation in big ones), the atomic migration job log (masters, on servers that have one: CLUSTER GETSLOTMIGRATIONS on Valkey 9+, CLUSTER MIGRATION STATUS ALL on Redis 8.4+) and CLUSTER COUNTKEYSINSLOT per migrating slot.",
        polled: true,
        source: Source::Cluster(|s, out| {
            for n in &s.nodes {
                if let Some(v) = n.counters.commands_processed {
                    out.push(&[&n.endpoint], v);
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_node_up",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "1 if the node answered slotwatch's last poll within the timeout, else 0.",
        polled: true,
        source: Source::Cluster(|s, out| {
            for n in &s.nodes {
                out.push(&[&n.endpoint], n.up);
            }
        }),
    },
    Family {
        name: "redis_cluster_node_info",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "node_id", "role", "master_node"],
        help: "Always 1; labels give each node's ID, role (master, replica or unknown) and, for replicas, the master's ip:port.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for n in t.by_endpoint() {
                let master = n.master.map(|m| t.endpoint_of(&m)).unwrap_or_default();
                out.push(&[&n.endpoint, n.id.as_str(), n.role.as_str(), &master], 1.0);
            }
        }),
    },
    Family {
        name: "redis_cluster_node_failing",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "flag"],
        help: "1 if a majority of the nodes' views flag the node: pfail (fail?, unreachable from them) or fail (the cluster agreed it failed).",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            for n in t.by_endpoint() {
                out.push(&[&n.endpoint, "pfail"], n.pfail);
                out.push(&[&n.endpoint, "fail"], n.fail);
            }
        }),
    },
    Family {
        name: "redis_cluster_node_slots",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "Hash slots each master owns in the merged topology (highest config epoch wins).",
        polled: true,
        source: Source::Cluster(|s, out| per_master(s, out, |_, n| n.slot_count)),
    },
    // --- Per node: what the node says of the cluster, from its own CLUSTER INFO; absent while
    // it does not answer (or its ACL refuses CLUSTER INFO).
    Family {
        name: "redis_cluster_node_state_ok",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "1 if the node's own CLUSTER INFO says cluster_state:ok, 0 if it says fail. A node that says fail refuses commands with CLUSTERDOWN: it is in a minority partition, or some slot has no reachable owner and cluster-require-full-coverage is yes.",
        polled: true,
        source: Source::Cluster(|s, out| per_info(s, out, |i| i.state_ok.into())),
    },
    Family {
        name: "redis_cluster_node_reported_slots",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "state"],
        help: "Slots the node's own CLUSTER INFO counts as pfail (their owner is unreachable from it) or fail (the cluster agreed their owner failed).",
        polled: true,
        source: Source::Cluster(|s, out| {
            for (n, i) in s.nodes.iter().filter_map(|n| Some((n, n.cluster_info?))) {
                out.push(&[&n.endpoint, "pfail"], i.slots_pfail);
                out.push(&[&n.endpoint, "fail"], i.slots_fail);
            }
        }),
    },
    Family {
        name: "redis_cluster_node_known_nodes",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "Nodes in the node's own table (cluster_known_nodes), handshaking ones included: a node that knows more or fewer nodes than the others missed a MEET or a FORGET.",
        polled: true,
        source: Source::Cluster(|s, out| per_info(s, out, |i| i.known_nodes.into())),
    },
    Family {
        name: "redis_cluster_node_cluster_size",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "Masters serving at least one slot, as the node sees them (cluster_size).",
        polled: true,
        source: Source::Cluster(|s, out| per_info(s, out, |i| i.size.into())),
    },
    Family {
        name: "redis_cluster_node_epoch",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "epoch"],
        help: "The node's epochs from CLUSTER INFO: current (the highest it knows; all nodes agree once gossip settles) and config (its own, or its master's for a replica; a failover or reshard bumps it).",
        polled: true,
        source: Source::Cluster(|s, out| {
            for (n, i) in s.nodes.iter().filter_map(|n| Some((n, n.cluster_info?))) {
                out.push(&[&n.endpoint, "current"], i.current_epoch);
                out.push(&[&n.endpoint, "config"], i.my_epoch);
            }
        }),
    },
    // --- Per cluster: coverage, migrations, agreement.
    Family {
        name: "redis_cluster_slots_unassigned",
        kind: Type::Gauge,
        unit: None,
        labels: &[],
        help: "Hash slots no master owns; keys in them cannot be served.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if let Some(t) = &s.topology {
                out.push(&[], t.unassigned_slots());
            }
        }),
    },
    Family {
        name: "redis_cluster_slots_migrating",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "mechanism"],
        help: "Slots the master is sending away: classic slots it marked MIGRATING (clients get ASK for keys already moved), or the slots of its running atomic exports (Valkey 9 CLUSTER MIGRATESLOTS).",
        polled: true,
        source: Source::Cluster(|s, out| per_mechanism(s, out, Topology::migrating_slots)),
    },
    Family {
        name: "redis_cluster_slots_importing",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "mechanism"],
        help: "Slots the master is receiving: classic slots it marked IMPORTING, or the slots of its running atomic imports.",
        polled: true,
        source: Source::Cluster(|s, out| per_mechanism(s, out, Topology::importing_slots)),
    },
    Family {
        name: "redis_cluster_migrations",
        kind: Type::Gauge,
        unit: None,
        labels: &["mechanism", "state"],
        help: "Open slot migrations by mechanism and state: classic ones by the halves set (migrating, importing, migrating+importing), atomic ones by the server's job state (snapshotting, replicating, ...).",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            let mut counts: std::collections::BTreeMap<(Mechanism, &str), u32> = Default::default();
            for m in t.open_migrations() {
                *counts.entry((m.mechanism, m.state)).or_insert(0) += 1;
            }
            for ((mechanism, state), n) in counts {
                out.push(&[mechanism.as_str(), state], n);
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_keys_remaining",
        kind: Type::Gauge,
        unit: None,
        labels: &["node"],
        help: "Keys still on the source in its classic MIGRATING slots (CLUSTER COUNTKEYSINSLOT, summed over every database holding keys where Valkey 9 allows several), per source master; falls while a migration moves keys.",
        polled: true,
        source: Source::Cluster(|s, out| {
            let Some(t) = &s.topology else { return };
            let mut by_source: std::collections::BTreeMap<String, u64> = Default::default();
            for (id, p) in s.progress.iter() {
                if let (MigrationId::Classic(_, source, _), Some(keys)) = (id, p.keys_left) {
                    *by_source.entry(t.endpoint_of(source)).or_insert(0) += keys;
                }
            }
            for (node, keys) in by_source {
                out.push(&[&node], keys as f64);
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_age",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Seconds the oldest open slot migration has been open (an atomic job since its creation, a classic one since slotwatch first saw it); 0 if none is open.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if s.topology.is_some() {
                out.push(&[], s.oldest_migration_age_s());
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_stalled",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Seconds since the open migration that progressed least recently made progress: fewer keys left on a classic source, or a new state or update time of an atomic job; 0 if none is open. A long, steady migration keeps it low; a stuck one lets it grow.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if s.topology.is_some() {
                out.push(&[], s.migration_stalled_s());
            }
        }),
    },
    Family {
        name: "redis_cluster_suspect_clients",
        kind: Type::Gauge,
        unit: None,
        labels: &["node", "reason"],
        help: "Client connections to the node suspected of causing redirects, by reason (not_cluster_aware, replica_without_readonly, stale_map, rejected_commands), from the latest analysis of CLIENT LIST (--clients-interval; a heuristic). The connections themselves are at /clients. Absent while the analysis is off or has not run.",
        polled: false,
        source: Source::Cluster(|s, out| {
            if let Some(report) = &s.clients {
                for n in &report.nodes {
                    for reason in Reason::ALL {
                        out.push(
                            &[&n.node, reason.label()],
                            report.count(&n.node, reason) as u64,
                        );
                    }
                }
            }
        }),
    },
    Family {
        name: "redis_cluster_view_disagreement_slots",
        kind: Type::Gauge,
        unit: None,
        labels: &[],
        help: "Slots on which the reachable nodes' CLUSTER NODES views name different owners; brief during a reshard, persistent means split views.",
        polled: true,
        source: Source::Cluster(|s, out| {
            if let Some(t) = &s.topology {
                out.push(&[], t.disagreement.len());
            }
        }),
    },
    // --- Events: what changed, counted and timestamped.
    Family {
        name: "redis_cluster_events",
        kind: Type::Counter,
        unit: None,
        labels: &["kind"],
        help: "Topology events slotwatch detected by diffing successive polls, by kind (reshard, failover, migration_started, node_failed, ...). See /events for details.",
        polled: false,
        source: Source::Cluster(|s, out| {
            for k in &KINDS {
                out.push(
                    &[k.name],
                    s.stats.events_total.get(&k.kind).copied().unwrap_or(0),
                );
            }
        }),
    },
    Family {
        name: "redis_cluster_slot_moves",
        kind: Type::Counter,
        unit: None,
        labels: &["reason"],
        help: "Hash slots that changed owner between successive polls, by reason (reshard, failover, assigned, unassigned).",
        polled: false,
        source: Source::Cluster(|s, out| {
            for (reason, v) in &s.stats.slot_moves_total {
                out.push(&[reason.name()], *v);
            }
        }),
    },
    Family {
        name: "redis_cluster_migration_lost_writes",
        kind: Type::Counter,
        unit: None,
        labels: &[],
        help: "Atomic slot migrations that failed after the source resumed writes before the cut-over finished: the migration may have succeeded with writes lost. Check the keys of those slots.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.stats.lost_writes_total)),
    },
    Family {
        name: "redis_cluster_last_topology_change_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time of the last slot owner, role, address or membership change slotwatch saw; 0 if none since it started. Redirect alerts use it as a grace window.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.stats.last_topology_change_ms))),
    },
    Family {
        name: "redis_cluster_last_reshard_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time of the last reshard (slots moved between masters) slotwatch saw; 0 if none.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.stats.last_reshard_ms))),
    },
    Family {
        name: "redis_cluster_last_failover_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time of the last failover (a replica took over its master) slotwatch saw; 0 if none.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.stats.last_failover_ms))),
    },
    // --- slotwatch itself.
    Family {
        name: "slotwatch_up",
        kind: Type::Gauge,
        unit: None,
        labels: &[],
        help: "1 if slotwatch's last poll reached at least one node and produced a topology, else 0.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.up)),
    },
    Family {
        name: "slotwatch_poll_duration",
        kind: Type::Histogram,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Wall time of each poll of the whole cluster (all nodes concurrently, each bounded by the per-node timeout).",
        polled: false,
        source: Source::Cluster(|s, out| {
            out.push(&[], super::Value::Histogram(&s.stats.poll_duration))
        }),
    },
    Family {
        name: "slotwatch_poll_errors",
        kind: Type::Counter,
        unit: None,
        labels: &["node", "reason"],
        help: "Failed node fetches, by reason: timeout, connect, tls, auth, not_cluster, protocol or reply_too_large (a reply or a poll over --max-reply-bytes or --max-poll-bytes).",
        polled: false,
        source: Source::Cluster(|s, out| {
            for n in &s.nodes {
                for (reason, v) in &n.errors {
                    out.push(&[&n.endpoint, reason], *v);
                }
            }
        }),
    },
    Family {
        name: "slotwatch_last_poll_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time when the last poll started; 0 before the first.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.polled_at_ms))),
    },
    Family {
        name: "slotwatch_polls",
        kind: Type::Counter,
        unit: None,
        labels: &[],
        help: "Polls of the cluster slotwatch completed.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.stats.polls_total)),
    },
    Family {
        name: "slotwatch_redis_read",
        kind: Type::Counter,
        unit: Some(BaseUnit::Bytes),
        labels: &[],
        help: "Bytes slotwatch read from the cluster's nodes (replies and handshakes), to show what polling costs.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.stats.bytes_read_total)),
    },
    Family {
        name: "slotwatch_build_info",
        kind: Type::Gauge,
        unit: None,
        labels: &["version"],
        help: "Always 1; the version label says which slotwatch build is running.",
        polled: false,
        source: Source::Process(|out| out.push(&[env!("CARGO_PKG_VERSION")], 1.0)),
    },
];
