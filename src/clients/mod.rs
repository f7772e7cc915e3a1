//! Which client connections cause the redirects: `CLIENT LIST` read twice from every node, a
//! short interval apart, judged by a heuristic.
//!
//! Pure, testable without a server: [`list`] parses `CLIENT LIST`, [`analyse`] judges the
//! connections, [`report`] groups them for `/clients` and `check`, [`refresh`] decides when
//! to sample again from what the poller observed. I/O that drives them: [`read`] samples the
//! nodes, and [`watch`] is `serve`'s task that repeats the analysis and publishes its report.
//!
//! No server counts errors per client, so the judgement uses what the servers do show:
//!
//! - every server: where each client is connected, whether a replica connection sent READONLY
//!   (`flags=r`), its last command (set even when refused) and how long it has been idle;
//! - Valkey 8+ and Redis 8.2+ (wherever `CLIENT LIST` has the fields): per connection, commands processed (`tot-cmds`, refused ones excluded) and
//!   bytes read (`tot-net-in`, refused ones included), so input that grows faster than the
//!   processed commands shows commands being refused.
//!
//! Connections are grouped into clients by host, name and library. It is a heuristic: clients
//! that share a host, name and library look like one client; name your connections
//! (`CLIENT SETNAME`) to tell them apart.

pub mod analyse;
pub mod keyed;
pub mod list;
pub mod read;
pub mod refresh;
pub mod report;
pub mod watch;

use serde::Serialize;

pub use analyse::{NodeClients, analyse};
pub use list::{Connection, ListError, parse_client_list};

/// Why a connection is suspected of causing redirects. Adding a reason is one variant here and
/// one arm in each method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Connected to one master only and sending keyed commands there while it answers MOVED.
    NotClusterAware,
    /// A client that keeps no slot map: connected to many nodes, it sends keyed commands to
    /// any of them, replicas without READONLY included, and follows the MOVED it draws.
    NoSlotMap,
    /// Sending keyed commands to a replica without READONLY: every one is answered MOVED.
    ReplicaWithoutReadonly,
    /// A cluster client whose connection to one master keeps being refused while its others
    /// are not, or that still sends keyed commands to a master demoted by a failover: it
    /// follows redirects but never refreshes its slot map.
    StaleMap,
    /// Sending commands that are refused, for no reason the other rules name.
    RejectedCommands,
}

impl Reason {
    /// Every reason, in report order.
    pub const ALL: [Reason; 5] = [
        Reason::NotClusterAware,
        Reason::NoSlotMap,
        Reason::ReplicaWithoutReadonly,
        Reason::StaleMap,
        Reason::RejectedCommands,
    ];

    /// The `reason` label of `redis_cluster_suspect_clients` and the JSON value.
    pub fn label(self) -> &'static str {
        match self {
            Reason::NotClusterAware => "not_cluster_aware",
            Reason::NoSlotMap => "no_slot_map",
            Reason::ReplicaWithoutReadonly => "replica_without_readonly",
            Reason::StaleMap => "stale_map",
            Reason::RejectedCommands => "rejected_commands",
        }
    }

    /// What the reason means, in the report.
    pub fn title(self) -> &'static str {
        match self {
            Reason::NotClusterAware => "not cluster-aware",
            Reason::NoSlotMap => "no slot map, routes to any node",
            Reason::ReplicaWithoutReadonly => "reads a replica without READONLY",
            Reason::StaleMap => "cluster client with a stale slot map",
            Reason::RejectedCommands => "rejected commands",
        }
    }

    /// The fix, in the report.
    pub fn fix(self) -> &'static str {
        match self {
            Reason::NotClusterAware => {
                "use a cluster client (redis-py RedisCluster, ioredis Cluster, Lettuce \
                 RedisClusterClient, go-redis ClusterClient) or redis-cli -c"
            }
            Reason::NoSlotMap => {
                "upgrade the client to a version that reads this server's slot map (CLUSTER \
                 SLOTS or CLUSTER SHARDS; go-redis v5, for one, cannot parse Redis 7's CLUSTER \
                 SLOTS)"
            }
            Reason::ReplicaWithoutReadonly => {
                "send READONLY on replica connections (cluster clients: enable replica reads, \
                 e.g. redis-py read_from_replicas, ioredis scaleReads), or read from masters"
            }
            Reason::StaleMap => {
                "make the client refresh its slot map on MOVED (Lettuce: enable adaptive \
                 topology refresh; Spring Boot: spring.data.redis.lettuce.cluster.refresh.\
                 adaptive=true), or restart it"
            }
            Reason::RejectedCommands => {
                "see which command it sends (cmd) and the node's errors: MOVED, CROSSSLOT, \
                 TRYAGAIN or an ACL refusal"
            }
        }
    }

    /// Which servers show what the reason needs.
    pub fn servers(self) -> &'static str {
        match self {
            Reason::NotClusterAware | Reason::NoSlotMap | Reason::ReplicaWithoutReadonly => "all",
            Reason::StaleMap => {
                "all after a failover, else Valkey 8+, Redis 8.2+ (tot-cmds, tot-net-in)"
            }
            Reason::RejectedCommands => "Valkey 8+, Redis 8.2+ (tot-cmds, tot-net-in)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    /// The README's table of reasons: (title, servers) per row.
    fn readme_reasons() -> Vec<(String, String)> {
        include_str!("../../README.md")
            .lines()
            .skip_while(|l| !l.starts_with("| reason | seen as | servers |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
                let first = cells.first().copied().unwrap_or_default();
                (
                    first.to_owned(),
                    cells.last().copied().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn each_reason_is_named_and_scoped_as_the_readme_documents_it() {
        let documented = readme_reasons();
        assert_eq!(documented.len(), Reason::ALL.len(), "{documented:?}");
        for (reason, (title, servers)) in Reason::ALL.iter().zip(&documented) {
            assert_eq!(reason.title(), title);
            // The README gives the servers; the report adds which fields it needs there.
            let short = reason.servers().split(" (").next().unwrap_or_default();
            assert_eq!(short, servers, "{reason:?}");
        }
        assert!(Reason::StaleMap.servers().contains("tot-cmds, tot-net-in"));
    }

    #[test]
    fn each_fix_says_what_to_change() {
        let fixes = [
            (Reason::NotClusterAware, "use a cluster client"),
            (Reason::NoSlotMap, "reads this server's slot map"),
            (
                Reason::ReplicaWithoutReadonly,
                "send READONLY on replica connections",
            ),
            (Reason::StaleMap, "refresh its slot map on MOVED"),
            (Reason::RejectedCommands, "see which command it sends"),
        ];
        for (reason, words) in fixes {
            assert!(reason.fix().contains(words), "{reason:?}: {}", reason.fix());
        }
    }
}
