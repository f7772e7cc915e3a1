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
/// commands were refused: below this, key and value sizes vary enough to explain it. A
/// cluster-aware client mixing GETs and SETs, on a loaded machine where a connection sends
/// only a dozen commands per interval, was measured 1.27 over its own other connections;
/// a stale map that sends a third of a master's commands elsewhere gives 1.5.
const STALE_RATIO: f64 = 1.5;

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

/// Each client connection's activity between the two samples (the servers' own links and
/// slotwatch's connections aside).
fn gather(nodes: &[NodeClients]) -> Seen<'_> {
    let mut seen = Seen::default();
    for node in nodes {
        let before: HashMap<u64, &Connection> = node.first.iter().map(|c| (c.id, c)).collect();
        for conn in &node.second {
            if conn.internal() || conn.name == CLIENT_NAME {
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
    if on_nodes == 1 && moved > 0 && !a.conn.handles_redirects() {
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
mod tests;
