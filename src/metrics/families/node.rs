//! Per node: counters read from Redis, the node's place in the topology, and what the node says of the cluster in its own `CLUSTER INFO`.

use crate::info::CLUSTER_ERRORS;
use crate::metrics::per::{per_info, per_master};
use crate::metrics::{Family, Source, Type};

/// The families of this part, in exposition order.
pub const NODE: &[Family] = &[
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
];
