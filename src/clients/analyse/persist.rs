//! A client without a slot map stays named while it goes on: such a client opens and drops
//! connections all the time (go-redis v5 drops one whenever a reply it cannot parse comes
//! back), and in bursts sends mostly keyless commands, so an analysis can catch none of its
//! keyed commands on a replica although the MOVED it draws go on. Pure.

use std::collections::BTreeSet;

use super::{NodeClients, Suspect, client_key, is_client};
use crate::clients::Reason;
use crate::clock::rfc3339;
use crate::topology::Role;

/// What the last analysis found, for the next one to carry on.
#[derive(Debug, Clone)]
pub struct Previous<'a> {
    /// Unix ms of its second sample.
    pub taken_at_ms: u64,
    /// Its suspects.
    pub suspects: &'a [Suspect],
}

/// Carries `previous`'s clients without a slot map into `found`, this analysis of `nodes`:
/// their connections that it takes for replica readers without READONLY, or for a plain client
/// on one node, are what they were,
/// and where it lacks one, the client is named again if it is still connected and a replica
/// it was named on still answers MOVED (one per client and replica, with a connection this
/// analysis saw).
pub fn carry(previous: &Previous, found: &mut Vec<Suspect>, nodes: &[NodeClients]) {
    let before: BTreeSet<_> = previous
        .suspects
        .iter()
        .filter(|s| s.reason == Reason::NoSlotMap)
        .map(|s| client_key(&s.connection))
        .collect();
    for s in found.iter_mut() {
        // Seen on one node at this instant only because its other connections were closed.
        let partial = matches!(
            s.reason,
            Reason::ReplicaWithoutReadonly | Reason::NotClusterAware
        );
        if partial && before.contains(&client_key(&s.connection)) {
            s.reason = Reason::NoSlotMap;
            s.evidence = format!(
                "{}; named so by the analysis at {}",
                s.evidence,
                rfc3339(previous.taken_at_ms)
            );
        }
    }
    let again = carried(previous, found, nodes);
    found.extend(again);
}

/// The `no_slot_map` suspects of `previous` that `found` lacks, where they go on.
fn carried(previous: &Previous, found: &[Suspect], nodes: &[NodeClients]) -> Vec<Suspect> {
    let named: BTreeSet<_> = found
        .iter()
        .filter(|s| s.reason == Reason::NoSlotMap)
        .map(|s| client_key(&s.connection))
        .collect();
    let mut out: Vec<Suspect> = Vec::new();
    for before in previous.suspects {
        let key = client_key(&before.connection);
        if before.reason != Reason::NoSlotMap || named.contains(&key) {
            continue;
        }
        let Some(replica) = nodes
            .iter()
            .find(|n| n.endpoint == before.node && n.role == Role::Replica)
        else {
            continue;
        };
        let moved = replica.moved.unwrap_or(0);
        let listed = |n: &&NodeClients| {
            n.first
                .iter()
                .chain(&n.between)
                .chain(&n.second)
                .rfind(|c| is_client(c) && client_key(c) == key)
                .cloned()
        };
        let seen_on: Vec<&NodeClients> = nodes.iter().filter(|n| listed(n).is_some()).collect();
        let connection = std::iter::once(replica)
            .chain(seen_on.iter().copied())
            .find_map(|n| listed(&n));
        let (Some(connection), true) = (connection, moved > 0) else {
            continue;
        };
        if out
            .iter()
            .any(|s| s.node == before.node && client_key(&s.connection) == key)
        {
            continue;
        }
        out.push(Suspect {
            reason: Reason::NoSlotMap,
            node: before.node.clone(),
            evidence: format!(
                "named so by the analysis at {}; still connected to {} node(s), and this \
                 replica still sends MOVED ({moved} in {:.1}s)",
                rfc3339(previous.taken_at_ms),
                seen_on.len(),
                replica.interval_ms as f64 / 1000.0
            ),
            connection,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::parse_client_list;

    fn node(endpoint: &str, role: Role, moved: u64, list: &str) -> NodeClients {
        let conns = parse_client_list(list).unwrap();
        NodeClients {
            endpoint: endpoint.to_owned(),
            role,
            first: conns.clone(),
            second: conns,
            between: Vec::new(),
            interval_ms: 1000,
            moved: Some(moved),
            rejected: moved,
            sampled_at_ms: 1_700_000_010_000,
            demoted_at_ms: None,
        }
    }

    const GO: &str = "id=9 addr=127.0.0.1:41000 name= age=0 idle=0 flags=N cmd=cluster|info\n";

    fn before() -> Suspect {
        let connection = parse_client_list(
            "id=3 addr=127.0.0.1:40000 name= age=2 idle=0 flags=N cmd=set user=default\n",
        )
        .unwrap()
        .remove(0);
        Suspect {
            reason: Reason::NoSlotMap,
            node: "r:1".to_owned(),
            connection,
            evidence: String::new(),
        }
    }

    #[test]
    fn a_client_without_a_slot_map_stays_named_while_it_is_connected_and_redirected() {
        let named = [before()];
        let previous = Previous {
            taken_at_ms: 1_700_000_008_000,
            suspects: &named,
        };
        // This analysis saw it only checking CLUSTER INFO on a master; the replica redirects.
        let nodes = [
            node("m:1", Role::Master, 3, GO),
            node("r:1", Role::Replica, 4, ""),
        ];
        let again = carried(&previous, &[], &nodes);
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!((again[0].node.as_str(), again[0].connection.id), ("r:1", 9));
        assert!(
            again[0]
                .evidence
                .contains("analysis at 2023-11-14T22:13:28.000Z"),
            "{}",
            again[0].evidence
        );
        // Not when the replica stopped redirecting, nor when the client is gone.
        let quiet = [
            node("m:1", Role::Master, 3, GO),
            node("r:1", Role::Replica, 0, ""),
        ];
        assert!(carried(&previous, &[], &quiet).is_empty());
        let gone = [
            node("m:1", Role::Master, 3, ""),
            node("r:1", Role::Replica, 4, ""),
        ];
        assert!(carried(&previous, &[], &gone).is_empty());
        // Nor twice, when this analysis named it itself.
        assert!(carried(&previous, &named, &nodes).is_empty());
        // A connection this analysis takes for a replica reader is the same client.
        let mut reader = before();
        reader.reason = Reason::ReplicaWithoutReadonly;
        let mut found = vec![reader];
        carry(&previous, &mut found, &nodes);
        assert_eq!(found.len(), 1, "not carried again beside it: {found:?}");
        assert_eq!(found[0].reason, Reason::NoSlotMap);
        assert!(
            found[0]
                .evidence
                .ends_with("named so by the analysis at 2023-11-14T22:13:28.000Z")
        );
    }
}
