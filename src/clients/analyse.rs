//! The judgement: two `CLIENT LIST` samples per node to suspect connections. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::{Connection, Reason};
use crate::redis::CLIENT_NAME;
use crate::topology::Role;

/// Commands that name no key; any other command is taken as keyed. A keyless command is
/// answered by any node, so a connection whose last command is one of these is not misrouted.
const KEYLESS: &[&str] = &[
    "",
    "ping",
    "echo",
    "info",
    "hello",
    "auth",
    "select",
    "readonly",
    "readwrite",
    "quit",
    "reset",
    "time",
    "dbsize",
    "multi",
    "exec",
    "discard",
    "unwatch",
    "lastsave",
    "role",
    "wait",
    "waitaof",
    "monitor",
    "subscribe",
    "psubscribe",
    "unsubscribe",
    "punsubscribe",
    "publish",
    "flushall",
    "flushdb",
    "save",
    "bgsave",
    "bgrewriteaof",
    "randomkey",
    "scan",
    "keys",
    "asking",
    "lolwut",
    "failover",
    "replicaof",
    "slaveof",
    "sync",
    "psync",
    "replconf",
];

/// Families of subcommands (`client|list`) that name no key.
const KEYLESS_FAMILIES: &[&str] = &[
    "client", "cluster", "config", "command", "acl", "latency", "slowlog", "module", "function",
    "script", "pubsub",
];

/// Fewest refused commands in a sample interval that make a connection a suspect: one or two
/// can be a cluster client's normal first MOVED for a slot.
const MIN_REFUSED: f64 = 3.0;

/// How much more input per processed command than the client's other connections means some
/// commands were refused: below this, key and value sizes vary enough to explain it.
const STALE_RATIO: f64 = 1.25;

/// What slotwatch read from one node: its connections twice, a short interval apart, and the
/// node's own error counts over that interval.
#[derive(Debug, Clone)]
pub struct NodeClients {
    /// The node's `ip:port`.
    pub endpoint: String,
    /// Master or replica.
    pub role: Role,
    /// The first sample.
    pub first: Vec<Connection>,
    /// The second sample; the one reported.
    pub second: Vec<Connection>,
    /// Milliseconds between the samples.
    pub interval_ms: u64,
    /// MOVED replies the node sent between the samples; `None` if unknown.
    pub moved: Option<u64>,
    /// Commands the node refused between the samples (`rejected_calls`, redirects included).
    pub rejected: u64,
}

/// A connection suspected of causing redirects, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suspect {
    /// Why.
    pub reason: Reason,
    /// The node it is connected to.
    pub node: String,
    /// The connection, as the second sample listed it.
    pub connection: Connection,
    /// What was seen, in words.
    pub evidence: String,
}

/// One connection's activity between the two samples.
struct Activity<'a> {
    node: &'a NodeClients,
    conn: &'a Connection,
    /// (commands processed, bytes read) between the samples, where the server counts them.
    delta: Option<(u64, u64)>,
    active: bool,
}

/// Per connection (client, connection ID, node), the input per command of its client's other
/// connections.
type References<'a> = BTreeMap<(ClientKey, u64, &'a str), f64>;

/// Which client a connection belongs to: host, name and library.
type ClientKey = (String, String, Option<String>);

fn client_key(c: &Connection) -> ClientKey {
    (c.host().to_owned(), c.name.clone(), c.lib_name.clone())
}

/// True if `cmd` (as `CLIENT LIST` prints it) names a key.
pub fn is_keyed(cmd: &str) -> bool {
    match cmd.split_once('|') {
        Some((family, _)) => !KEYLESS_FAMILIES.contains(&family),
        None => !KEYLESS.contains(&cmd),
    }
}

/// Every client connection's activity, and where each client is connected.
#[derive(Default)]
struct Seen<'a> {
    activity: Vec<Activity<'a>>,
    /// The nodes each client has connections to.
    nodes_of: HashMap<ClientKey, BTreeSet<&'a str>>,
    /// The masters each client has connections to.
    masters_of: HashMap<ClientKey, BTreeSet<&'a str>>,
}

/// The suspect connections, in node then connection order.
pub fn analyse(nodes: &[NodeClients]) -> Vec<Suspect> {
    let seen = gather(nodes);
    let reference = reference_ratios(&seen.activity);
    seen.activity
        .iter()
        .filter(|a| a.active && is_keyed(&a.conn.cmd))
        .filter_map(|a| judge(a, &seen, &reference))
        .collect()
}

/// Each client connection's activity between the two samples (replication links and
/// slotwatch's own connections aside).
fn gather(nodes: &[NodeClients]) -> Seen<'_> {
    let mut seen = Seen::default();
    for node in nodes {
        let before: HashMap<u64, &Connection> = node.first.iter().map(|c| (c.id, c)).collect();
        for conn in &node.second {
            if conn.replication() || conn.name == CLIENT_NAME {
                continue;
            }
            let key = client_key(conn);
            seen.nodes_of
                .entry(key.clone())
                .or_default()
                .insert(&node.endpoint);
            if node.role == Role::Master {
                seen.masters_of
                    .entry(key)
                    .or_default()
                    .insert(&node.endpoint);
            }
            let earlier = before.get(&conn.id);
            let delta = match (earlier, conn.tot_cmds, conn.tot_net_in) {
                (Some(e), Some(cmds), Some(input)) => Some((
                    cmds.saturating_sub(e.tot_cmds.unwrap_or(0)),
                    input.saturating_sub(e.tot_net_in.unwrap_or(0)),
                )),
                _ => None,
            };
            // `idle` has one-second resolution: within the interval plus one second it may
            // have sent a command between the samples.
            let active = match delta {
                Some((_, input)) => input > 0,
                None => conn.idle_s * 1000 <= node.interval_ms + 1000,
            };
            seen.activity.push(Activity {
                node,
                conn,
                delta,
                active,
            });
        }
    }
    seen
}

/// The suspicion, if any, on one active connection sending keyed commands.
fn judge(a: &Activity, seen: &Seen, reference: &References) -> Option<Suspect> {
    let key = client_key(a.conn);
    let moved = a.node.moved.unwrap_or(0);
    let seconds = a.node.interval_ms as f64 / 1000.0;
    let suspect = |reason, evidence| {
        Some(Suspect {
            reason,
            node: a.node.endpoint.clone(),
            connection: a.conn.clone(),
            evidence,
        })
    };
    if a.node.role == Role::Replica {
        if a.conn.readonly() || moved == 0 {
            return None;
        }
        return suspect(
            Reason::ReplicaWithoutReadonly,
            format!(
                "keyed commands ({}) to a replica on a connection without READONLY; the replica \
                 sent {moved} MOVED in {seconds:.1}s",
                a.conn.cmd
            ),
        );
    }
    let on_nodes = seen.nodes_of.get(&key).map_or(0, BTreeSet::len);
    if on_nodes == 1 && moved > 0 {
        return suspect(
            Reason::NotClusterAware,
            format!(
                "connected to this node only, sending keyed commands ({}); the node sent \
                 {moved} MOVED in {seconds:.1}s",
                a.conn.cmd
            ),
        );
    }
    let (cmds, input) = a.delta?;
    let masters = seen.masters_of.get(&key).map_or(0, BTreeSet::len);
    let refused = reference
        .get(&(key.clone(), a.conn.id, a.node.endpoint.as_str()))
        .map(|per_cmd| input as f64 / per_cmd - cmds as f64)
        // Total commands sent, going by the reference, at least STALE_RATIO times those
        // processed.
        .filter(|refused| *refused >= MIN_REFUSED && *refused >= (STALE_RATIO - 1.0) * cmds as f64);
    match refused {
        Some(refused) if masters >= 2 && moved > 0 => suspect(
            Reason::StaleMap,
            format!(
                "about {refused:.0} of {total:.0} commands refused on this connection in \
                 {seconds:.1}s, going by its input per command on its connections to {others} \
                 other master(s); the node sent {moved} MOVED",
                total = refused + cmds as f64,
                others = masters - 1
            ),
        ),
        _ if cmds == 0 && input > 0 && a.node.rejected > 0 => suspect(
            Reason::RejectedCommands,
            format!(
                "{input} bytes of commands read in {seconds:.1}s, none processed; the node \
                 refused {} calls",
                a.node.rejected
            ),
        ),
        _ => None,
    }
}

/// For each connection with counts, the input per processed command of the same client's
/// other connections (their median): what its own input per command would be if none of its
/// commands were refused. Keyed by (client, connection id, node).
fn reference_ratios<'a>(activity: &[Activity<'a>]) -> References<'a> {
    let mut ratios: HashMap<ClientKey, Vec<(u64, &str, f64)>> = HashMap::new();
    for a in activity {
        if let Some((cmds, input)) = a.delta
            && cmds >= MIN_REFUSED as u64
        {
            ratios.entry(client_key(a.conn)).or_default().push((
                a.conn.id,
                a.node.endpoint.as_str(),
                input as f64 / cmds as f64,
            ));
        }
    }
    let mut out = BTreeMap::new();
    for a in activity {
        if a.delta.is_none() {
            continue;
        }
        let key = client_key(a.conn);
        let Some(all) = ratios.get(&key) else {
            continue;
        };
        let mut others: Vec<f64> = all
            .iter()
            .filter(|(id, node, _)| !(*id == a.conn.id && *node == a.node.endpoint))
            .map(|(_, _, r)| *r)
            .collect();
        if others.is_empty() {
            continue;
        }
        others.sort_by(f64::total_cmp);
        let median = others[others.len() / 2];
        out.insert((key, a.conn.id, a.node.endpoint.as_str()), median);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection; `counts` are (tot-cmds, tot-net-in) on servers that have them.
    fn conn(id: u64, port: u16, name: &str, cmd: &str, counts: Option<(u64, u64)>) -> Connection {
        Connection {
            id,
            addr: format!("10.0.0.9:{port}"),
            name: name.to_owned(),
            age_s: 100,
            idle_s: 0,
            flags: "N".to_owned(),
            cmd: cmd.to_owned(),
            user: Some("default".to_owned()),
            lib_name: None,
            lib_ver: None,
            tot_cmds: counts.map(|c| c.0),
            tot_net_in: counts.map(|c| c.1),
        }
    }

    fn node(
        endpoint: &str,
        role: Role,
        moved: u64,
        conns: &[(Connection, Connection)],
    ) -> NodeClients {
        NodeClients {
            endpoint: endpoint.to_owned(),
            role,
            first: conns.iter().map(|(a, _)| a.clone()).collect(),
            second: conns.iter().map(|(_, b)| b.clone()).collect(),
            interval_ms: 1000,
            moved: Some(moved),
            rejected: moved,
        }
    }

    /// The same connection before and after: `sent` commands processed and `bytes` read.
    fn moving(
        id: u64,
        port: u16,
        name: &str,
        processed: u64,
        bytes: u64,
    ) -> (Connection, Connection) {
        (
            conn(id, port, name, "get", Some((1000, 40_000))),
            conn(
                id,
                port,
                name,
                "get",
                Some((1000 + processed, 40_000 + bytes)),
            ),
        )
    }

    fn reasons(found: &[Suspect]) -> Vec<(Reason, &str, &str)> {
        found
            .iter()
            .map(|s| (s.reason, s.node.as_str(), s.connection.name.as_str()))
            .collect()
    }

    #[test]
    fn a_client_on_one_redirecting_master_is_not_cluster_aware() {
        // Redis 7.0: no counts. A cluster client reaches every master; a plain one only A.
        let same = |c: Connection| (c.clone(), c);
        let a = node(
            "a:1",
            Role::Master,
            34,
            &[
                same(conn(1, 5000, "plain-app", "get", None)),
                same(conn(2, 5001, "rc-1", "get", None)),
            ],
        );
        let b = node(
            "b:1",
            Role::Master,
            0,
            &[same(conn(3, 5002, "rc-1", "set", None))],
        );
        let found = analyse(&[a.clone(), b]);
        assert_eq!(
            reasons(&found),
            [(Reason::NotClusterAware, "a:1", "plain-app")]
        );
        assert!(
            found[0].evidence.contains("34 MOVED"),
            "{}",
            found[0].evidence
        );
        // No MOVED from the node: nothing to blame it for.
        let quiet = NodeClients {
            moved: Some(0),
            ..a
        };
        assert!(analyse(&[quiet]).is_empty());
    }

    #[test]
    fn idle_keyless_own_and_replication_connections_are_never_suspects() {
        let mut idle = conn(1, 5000, "idle-app", "get", None);
        idle.idle_s = 30;
        let keyless = conn(2, 5001, "admin", "cluster|nodes", None);
        let own = conn(3, 5002, CLIENT_NAME, "info", None);
        let mut link = conn(4, 5003, "", "replconf", None);
        link.flags = "S".to_owned();
        let list: Vec<_> = [idle, keyless, own, link]
            .into_iter()
            .map(|c| (c.clone(), c))
            .collect();
        assert!(analyse(&[node("a:1", Role::Master, 50, &list)]).is_empty());
    }

    #[test]
    fn replica_reads_need_readonly() {
        let plain = conn(1, 5000, "reader", "get", None);
        let mut readonly = conn(2, 5001, "ro-reader", "get", None);
        readonly.flags = "r".to_owned();
        let r = node(
            "r:1",
            Role::Replica,
            12,
            &[(plain.clone(), plain), (readonly.clone(), readonly)],
        );
        assert_eq!(
            reasons(&analyse(&[r])),
            [(Reason::ReplicaWithoutReadonly, "r:1", "reader")]
        );
    }

    #[test]
    fn a_stale_map_shows_as_more_input_per_command_on_one_master() {
        // Valkey: 50 commands to each master a second, 20 bytes each; on A a third of them
        // are refused (MOVED) and re-sent to B by the client itself.
        let nodes = |a_processed| {
            vec![
                node(
                    "a:1",
                    Role::Master,
                    50 - a_processed,
                    &[moving(1, 5000, "app", a_processed, 1000)],
                ),
                node("b:1", Role::Master, 0, &[moving(2, 5001, "app", 75, 1500)]),
                node("c:1", Role::Master, 0, &[moving(3, 5002, "app", 50, 1000)]),
            ]
        };
        let found = analyse(&nodes(33));
        assert_eq!(reasons(&found), [(Reason::StaleMap, "a:1", "app")]);
        assert!(
            found[0].evidence.contains("about 17 of 50"),
            "{}",
            found[0].evidence
        );
        // The same client with nothing refused on A.
        assert!(analyse(&nodes(50)).is_empty());
        // One or two refusals, a cluster client's first MOVED for a slot, are not a suspect.
        assert!(analyse(&nodes(48)).is_empty());
    }

    #[test]
    fn input_with_nothing_processed_is_rejected_commands() {
        let a = node("a:1", Role::Master, 0, &[moving(1, 5000, "app", 0, 800)]);
        let b = node("b:1", Role::Master, 0, &[moving(2, 5001, "app", 1, 20)]);
        let a = NodeClients { rejected: 40, ..a };
        assert_eq!(
            reasons(&analyse(&[a, b])),
            [(Reason::RejectedCommands, "a:1", "app")]
        );
    }

    #[test]
    fn keyed_commands() {
        for keyed in [
            "get",
            "set",
            "mget",
            "evalsha",
            "xadd",
            "object|encoding",
            "memory|usage",
        ] {
            assert!(is_keyed(keyed), "{keyed}");
        }
        for keyless in [
            "",
            "ping",
            "info",
            "client|list",
            "cluster|slots",
            "readonly",
            "asking",
        ] {
            assert!(!is_keyed(keyless), "{keyless}");
        }
    }
}
