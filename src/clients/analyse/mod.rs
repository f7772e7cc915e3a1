//! The judgement: two `CLIENT LIST` samples per node to suspect connections. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::keyed::Commands;
use super::{Connection, Reason};
use crate::clock::rfc3339;
use crate::redis::CLIENT_NAME;
use crate::topology::Role;

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
    /// Connections listed between the samples and gone by the second, each as last listed.
    pub between: Vec<Connection>,
    /// Milliseconds between the samples.
    pub interval_ms: u64,
    /// MOVED replies the node sent between the samples; `None` if unknown.
    pub moved: Option<u64>,
    /// Commands the node refused between the samples (`rejected_calls`, redirects included).
    pub rejected: u64,
    /// Unix ms of the second sample.
    pub sampled_at_ms: u64,
    /// Unix ms of the failover that made this node, a master before, a replica; `None` if
    /// slotwatch saw none.
    pub demoted_at_ms: Option<u64>,
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
    /// Its last command in either sample named a key: a client sends keyless commands between
    /// keyed ones (a cluster check, a slot map refresh), so one sample can miss them.
    keyed: bool,
}

/// Per connection (client, connection ID, node), the input per command of its client's other
/// connections.
type References<'a> = BTreeMap<(ClientKey, u64, &'a str), f64>;

/// Which client a connection belongs to: host, name and library.
type ClientKey = (String, String, Option<String>);

fn client_key(c: &Connection) -> ClientKey {
    (c.host().to_owned(), c.name.clone(), c.lib_name.clone())
}

/// Every client connection's activity, and where each client is connected.
#[derive(Default)]
struct Seen<'a> {
    activity: Vec<Activity<'a>>,
    /// The nodes each client has connections to.
    nodes_of: HashMap<ClientKey, BTreeSet<&'a str>>,
    /// The masters each client has connections to.
    masters_of: HashMap<ClientKey, BTreeSet<&'a str>>,
    /// The nodes that sent MOVED while each client sent them keyed commands.
    redirected_on: HashMap<ClientKey, BTreeSet<&'a str>>,
    /// The replicas each client sent a write to, without READONLY or with: a replica refuses
    /// every write, so no replica reader sends one.
    wrote_to_replica: HashMap<ClientKey, BTreeSet<&'a str>>,
}

/// The suspect connections, in node then connection order; `commands` says which commands
/// name keys.
pub fn analyse(nodes: &[NodeClients], commands: &Commands) -> Vec<Suspect> {
    let seen = gather(nodes, commands);
    let reference = reference_ratios(&seen.activity);
    let mut found: Vec<Suspect> = seen
        .activity
        .iter()
        .filter(|a| a.active && a.keyed)
        .filter_map(|a| judge(a, &seen, &reference))
        .collect();
    one_reason_without_a_map(&mut found);
    found
}

/// A client found without a slot map on some connection has none on the others either: what
/// they look like alone (a stale map on one master, a plain client where its other
/// connections were closed at the instant of the samples) is the same routing.
fn one_reason_without_a_map(found: &mut [Suspect]) {
    let without: BTreeSet<ClientKey> = found
        .iter()
        .filter(|s| s.reason == Reason::NoSlotMap)
        .map(|s| client_key(&s.connection))
        .collect();
    for s in found.iter_mut() {
        let routing = matches!(
            s.reason,
            Reason::NotClusterAware | Reason::ReplicaWithoutReadonly | Reason::StaleMap
        );
        if routing && without.contains(&client_key(&s.connection)) {
            s.reason = Reason::NoSlotMap;
            s.evidence = format!(
                "{}; the same client sends keyed commands to replicas without READONLY",
                s.evidence
            );
        }
    }
}

/// Each client connection's activity between the two samples (the servers' own links,
/// slotwatch's connections and connections already closed aside).
fn gather<'a>(nodes: &'a [NodeClients], commands: &Commands) -> Seen<'a> {
    let mut seen = Seen::default();
    for node in nodes {
        reach(&mut seen, node, commands);
        let before: HashMap<u64, &Connection> = node.first.iter().map(|c| (c.id, c)).collect();
        // A connection gone by the second sample is judged as last listed, without counts.
        for conn in node
            .second
            .iter()
            .chain(&node.between)
            .filter(|c| is_client(c))
        {
            let earlier = before.get(&conn.id);
            let delta = match (earlier, conn.tot_cmds, conn.tot_net_in) {
                (Some(e), Some(cmds), Some(input)) => Some((
                    cmds.saturating_sub(e.tot_cmds.unwrap_or(0)),
                    input.saturating_sub(e.tot_net_in.unwrap_or(0)),
                )),
                _ => None,
            };
            let active = match delta {
                Some((_, input)) => input > 0,
                None => recent(conn, node),
            };
            let keyed =
                commands.is_keyed(&conn.cmd) || earlier.is_some_and(|e| commands.is_keyed(&e.cmd));
            seen.activity.push(Activity {
                node,
                conn,
                delta,
                active,
                keyed,
            });
        }
    }
    seen
}

/// A client's connection, not a server's own link, slotwatch's or one already closed.
fn is_client(c: &Connection) -> bool {
    !c.internal() && c.name != CLIENT_NAME && !c.closed()
}

/// True if the connection may have sent a command between the samples: `idle` has one-second
/// resolution, so within the interval plus one second.
fn recent(c: &Connection, node: &NodeClients) -> bool {
    c.idle_s * 1000 <= node.interval_ms + 1000
}

/// Where each client is connected in either sample, and which of those nodes redirected it.
/// Both samples count: a client that opens a connection per command (one whose replies it
/// cannot parse is closed) has few open at any one moment.
fn reach<'a>(seen: &mut Seen<'a>, node: &'a NodeClients, commands: &Commands) {
    let redirecting = node.moved.unwrap_or(0) > 0;
    let all = node.first.iter().chain(&node.between).chain(&node.second);
    for conn in all.filter(|c| is_client(c)) {
        let key = client_key(conn);
        if redirecting && recent(conn, node) && commands.is_keyed(&conn.cmd) {
            seen.redirected_on
                .entry(key.clone())
                .or_default()
                .insert(&node.endpoint);
        }
        if node.role == Role::Replica && commands.is_write(&conn.cmd) {
            seen.wrote_to_replica
                .entry(key.clone())
                .or_default()
                .insert(&node.endpoint);
        }
        if node.role == Role::Master {
            seen.masters_of
                .entry(key.clone())
                .or_default()
                .insert(&node.endpoint);
        }
        seen.nodes_of.entry(key).or_default().insert(&node.endpoint);
    }
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
        let (reason, evidence) = misrouted_to_replica(a, seen);
        return suspect(
            reason,
            format!("{evidence}; the replica sent {moved} MOVED in {seconds:.1}s"),
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

/// Fewest nodes a client must reach for its keyed commands on a replica to mean routing
/// without a slot map rather than a replica reader that forgot READONLY.
const RANDOM_ROUTING_NODES: usize = 3;
/// Fewest of those nodes that must have answered its keyed commands with MOVED: the replica
/// and at least one other.
const RANDOM_ROUTING_REDIRECTING: usize = 2;

/// Why an active connection sends keyed commands to a replica without READONLY, which answers
/// every one with MOVED: the node was a master until a failover the client has not caught up
/// with; the client has no slot map and sends commands to any node it knows (it reaches many
/// nodes that redirect it, or it writes to replicas); or it reads the replica without
/// READONLY.
fn misrouted_to_replica(a: &Activity, seen: &Seen) -> (Reason, String) {
    let cmd = &a.conn.cmd;
    // A connection opened after the failover was opened to a replica: not a stale master.
    let demoted = a
        .node
        .demoted_at_ms
        .filter(|at| a.conn.age_s.saturating_mul(1000) >= a.node.sampled_at_ms.saturating_sub(*at));
    if let Some(at) = demoted {
        return (
            Reason::StaleMap,
            format!(
                "keyed commands ({cmd}) on a connection opened while this node was a master; \
                 it has been a replica since a failover at {}, {}s before, and the client still \
                 routes to it as the owner",
                rfc3339(at),
                a.node.sampled_at_ms.saturating_sub(at) / 1000
            ),
        );
    }
    let key = client_key(a.conn);
    let on_nodes = seen.nodes_of.get(&key).map_or(0, BTreeSet::len);
    let redirecting = seen.redirected_on.get(&key).map_or(0, BTreeSet::len);
    let wrote = seen.wrote_to_replica.get(&key).map_or(0, BTreeSet::len);
    if on_nodes >= RANDOM_ROUTING_NODES && redirecting >= RANDOM_ROUTING_REDIRECTING {
        return (
            Reason::NoSlotMap,
            format!(
                "keyed commands ({cmd}) to a replica without READONLY, from a client connected \
                 to {on_nodes} nodes, {redirecting} of which sent MOVED while it sent them keyed \
                 commands: it sends commands to any node"
            ),
        );
    }
    if on_nodes >= 2 && wrote > 0 {
        return (
            Reason::NoSlotMap,
            format!(
                "keyed commands ({cmd}) to a replica without READONLY, from a client connected \
                 to {on_nodes} nodes that sent writes to {wrote} replica(s), which no replica \
                 reader does: it sends commands to any node"
            ),
        );
    }
    (
        Reason::ReplicaWithoutReadonly,
        format!("keyed commands ({cmd}) to a replica on a connection without READONLY"),
    )
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

pub mod persist;

#[cfg(test)]
mod tests;
