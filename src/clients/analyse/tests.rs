//! The judgement of hand-made samples.

use super::*;
use crate::clients::keyed::Commands;
use crate::clients::parse_client_list;
use crate::clock::rfc3339;

/// A connection; `counts` are (tot-cmds, tot-net-in) on servers that have them.
fn conn(id: u64, port: u16, name: &str, cmd: &str, counts: Option<(u64, u64)>) -> Connection {
    Connection {
        id,
        addr: format!("10.0.0.9:{port}"),
        name: name.to_owned(),
        age_s: 100,
        idle_s: 0,
        flags: "N".to_owned(),
        capa: None,
        cmd: cmd.to_owned(),
        user: Some("default".to_owned()),
        lib_name: None,
        lib_ver: None,
        tot_cmds: counts.map(|c| c.0),
        tot_net_in: counts.map(|c| c.1),
    }
}

fn node(endpoint: &str, role: Role, moved: u64, conns: &[(Connection, Connection)]) -> NodeClients {
    NodeClients {
        endpoint: endpoint.to_owned(),
        role,
        first: conns.iter().map(|(a, _)| a.clone()).collect(),
        second: conns.iter().map(|(_, b)| b.clone()).collect(),
        between: Vec::new(),
        interval_ms: 1000,
        moved: Some(moved),
        rejected: moved,
        sampled_at_ms: 1_700_000_100_000,
        demoted_at_ms: None,
    }
}

/// The same connection before and after: `sent` commands processed and `bytes` read.
fn moving(id: u64, port: u16, name: &str, processed: u64, bytes: u64) -> (Connection, Connection) {
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
    let found = analyse(&[a.clone(), b], &Commands::default());
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
    assert!(analyse(&[quiet], &Commands::default()).is_empty());
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
    assert!(
        analyse(
            &[node("a:1", Role::Master, 50, &list)],
            &Commands::default()
        )
        .is_empty()
    );
}

#[test]
fn atomic_migration_and_import_links_are_never_suspects() {
    // Redis 8.4's migration links (g exporting, o importing) and Valkey 9's import source (I)
    // send keyed writes to one node that redirects: a plain client would be blamed for that.
    let links: Vec<_> = [(1, "g"), (2, "o"), (3, "I")]
        .into_iter()
        .map(|(id, flags)| {
            let mut c = conn(id, 5000 + id as u16, "", "set", None);
            c.flags = flags.to_owned();
            (c.clone(), c)
        })
        .collect();
    assert!(
        analyse(
            &[node("a:1", Role::Master, 50, &links)],
            &Commands::default()
        )
        .is_empty()
    );
}

#[test]
fn a_client_that_declares_redirect_handling_is_not_called_unaware() {
    // Valkey 8.1+: capa=r. On one redirecting master, like a plain client, it is still not
    // "not cluster-aware"; the same connection without capa is.
    let mut aware = conn(1, 5000, "app", "get", None);
    aware.capa = Some("r".to_owned());
    let plain = conn(1, 5000, "app", "get", None);
    let one = |c: Connection| {
        analyse(
            &[node("a:1", Role::Master, 20, &[(c.clone(), c)])],
            &Commands::default(),
        )
    };
    assert!(one(aware).is_empty());
    assert_eq!(
        reasons(&one(plain)),
        [(Reason::NotClusterAware, "a:1", "app")]
    );
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
        reasons(&analyse(&[r], &Commands::default())),
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
    let found = analyse(&nodes(33), &Commands::default());
    assert_eq!(reasons(&found), [(Reason::StaleMap, "a:1", "app")]);
    assert!(
        found[0].evidence.contains("about 17 of 50"),
        "{}",
        found[0].evidence
    );
    // The same client with nothing refused on A.
    assert!(analyse(&nodes(50), &Commands::default()).is_empty());
    // One or two refusals, a cluster client's first MOVED for a slot, are not a suspect.
    assert!(analyse(&nodes(48), &Commands::default()).is_empty());
    // A quarter more input per command is within what a mix of key and value sizes gives.
    assert!(analyse(&nodes(40), &Commands::default()).is_empty());
}

#[test]
fn input_with_nothing_processed_is_rejected_commands() {
    let a = node("a:1", Role::Master, 0, &[moving(1, 5000, "app", 0, 800)]);
    let b = node("b:1", Role::Master, 0, &[moving(2, 5001, "app", 1, 20)]);
    let a = NodeClients { rejected: 40, ..a };
    assert_eq!(
        reasons(&analyse(&[a, b], &Commands::default())),
        [(Reason::RejectedCommands, "a:1", "app")]
    );
}

/// A `CLIENT LIST` line as Redis 7.0 prints it (no `lib-name`, no per-connection counts).
fn listed(id: u64, addr: &str, name: &str, age: u64, flags: &str, cmd: &str) -> Connection {
    let line = format!(
        "id={id} addr={addr} laddr=127.0.0.1:30001 fd=12 name={name} age={age} idle=0 \
         flags={flags} db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 \
         multi-mem=0 rbs=1024 rbp=42 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd={cmd} \
         user=default redir=-1 resp=2"
    );
    parse_client_list(&line).unwrap().remove(0)
}

fn same(c: Connection) -> (Connection, Connection) {
    (c.clone(), c)
}

#[test]
fn a_demoted_masters_old_connection_has_a_stale_map_with_the_failovers_time() {
    // 30001 was a master until a failover 40 s before the samples; rc-1's connection to it is
    // 300 s old, so it was opened to the master, and still gets keyed commands.
    let mut demoted = node(
        "127.0.0.1:30001",
        Role::Replica,
        25,
        &[
            same(listed(5, "127.0.0.1:52018", "rc-1", 300, "N", "get")),
            same(listed(6, "127.0.0.1:52030", "reader", 20, "N", "get")),
        ],
    );
    demoted.demoted_at_ms = Some(demoted.sampled_at_ms - 40_000);
    let found = analyse(&[demoted.clone()], &Commands::default());
    assert_eq!(
        reasons(&found),
        [
            (Reason::StaleMap, "127.0.0.1:30001", "rc-1"),
            // Opened 20 s ago, after the failover: to a replica, without READONLY.
            (Reason::ReplicaWithoutReadonly, "127.0.0.1:30001", "reader"),
        ]
    );
    let evidence = &found[0].evidence;
    assert!(
        evidence.contains(&format!(
            "a failover at {}, 40s before",
            rfc3339(demoted.sampled_at_ms - 40_000)
        )),
        "{evidence}"
    );
    // Without the failover in its history the same connection is a replica reader.
    demoted.demoted_at_ms = None;
    let found = analyse(&[demoted], &Commands::default());
    assert_eq!(found[0].reason, Reason::ReplicaWithoutReadonly);
}

#[test]
fn a_bare_command_is_keyless_and_a_closed_connection_is_never_a_suspect() {
    // The plain client's connection was last seen sending COMMAND, as clients do at start-up;
    // the other one is already closed (`addr=?:0`) with a keyed command last.
    let a = node(
        "127.0.0.1:30001",
        Role::Master,
        40,
        &[
            same(listed(5, "127.0.0.1:52018", "app", 10, "N", "command")),
            same(listed(6, "?:0", "gone", 10, "N", "get")),
        ],
    );
    assert_eq!(analyse(std::slice::from_ref(&a), &Commands::default()), []);
    // A keyed command in either sample is enough.
    let mut b = a;
    b.first[0].cmd = "get".to_owned();
    assert_eq!(
        reasons(&analyse(&[b], &Commands::default())),
        [(Reason::NotClusterAware, "127.0.0.1:30001", "app")]
    );
}

/// A 3+3 cluster's nodes, with each node's MOVED count; `conns` by node index.
fn cluster(moved: [u64; 6], conns: [Vec<(Connection, Connection)>; 6]) -> Vec<NodeClients> {
    conns
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let role = if i < 3 { Role::Master } else { Role::Replica };
            node(&format!("127.0.0.1:3000{}", i + 1), role, moved[i], &c)
        })
        .collect()
}

/// An unnamed client's connection `i`, its last command `cmd`.
fn at(i: u64, cmd: &str) -> (Connection, Connection) {
    same(listed(
        10 + i,
        &format!("127.0.0.1:4100{i}"),
        "",
        60,
        "N",
        cmd,
    ))
}

/// An unnamed client on every node, sending whatever command next to any of them: on two
/// replicas its last commands are keyed, on one it was checking CLUSTER INFO.
fn without_a_map() -> Vec<NodeClients> {
    cluster(
        [12, 9, 0, 7, 5, 6],
        [
            vec![at(1, "get")],
            vec![at(2, "set")],
            vec![at(3, "cluster|info")],
            vec![at(4, "get")],
            vec![at(5, "set")],
            vec![at(6, "cluster|info")],
        ],
    )
}

#[test]
fn a_client_without_a_slot_map_is_named_for_its_keyed_commands_on_replicas() {
    let nodes = without_a_map();
    let found = analyse(&nodes, &Commands::default());
    assert_eq!(
        reasons(&found),
        [
            (Reason::NoSlotMap, "127.0.0.1:30004", ""),
            (Reason::NoSlotMap, "127.0.0.1:30005", ""),
        ]
    );
    assert!(
        found[0]
            .evidence
            .contains("connected to 6 nodes, 4 of which sent MOVED"),
        "{}",
        found[0].evidence
    );
    // A replica reader without READONLY, on that replica only, is what it looks like.
    let reader = cluster(
        [0, 0, 0, 7, 0, 0],
        [
            vec![],
            vec![],
            vec![],
            vec![same(listed(7, "10.0.0.8:5000", "reader", 60, "N", "get"))],
            vec![],
            vec![],
        ],
    );
    assert_eq!(
        reasons(&analyse(&reader, &Commands::default())),
        [(Reason::ReplicaWithoutReadonly, "127.0.0.1:30004", "reader")]
    );
}

#[test]
fn a_client_without_a_slot_map_has_one_reason_on_all_its_connections() {
    let nodes = without_a_map();
    // Its connection to a master that looks like a stale map on its own is the same client.
    let mut counted = nodes.clone();
    counted[0].first[0].tot_cmds = Some(100);
    counted[0].first[0].tot_net_in = Some(4_000);
    counted[0].second[0].tot_cmds = Some(110);
    counted[0].second[0].tot_net_in = Some(5_200);
    for n in &mut counted[1..3] {
        n.first[0].tot_cmds = Some(100);
        n.first[0].tot_net_in = Some(4_000);
        n.second[0].tot_cmds = Some(130);
        n.second[0].tot_net_in = Some(5_200);
    }
    let all = analyse(&counted, &Commands::default());
    assert_eq!(
        reasons(&all)[0],
        (Reason::NoSlotMap, "127.0.0.1:30001", ""),
        "{all:#?}"
    );
    assert!(
        all[0].evidence.contains("refused on this connection"),
        "{}",
        all[0].evidence
    );
}

#[test]
fn a_client_without_a_slot_map_is_named_when_seen_on_few_nodes() {
    let nodes = without_a_map();
    // Seen on two replicas only (its connections to the masters closed at both samples), but
    // writing to one of them: no replica reader writes.
    let two = cluster(
        [0, 0, 0, 7, 5, 0],
        [
            vec![],
            vec![],
            vec![],
            vec![at(4, "get")],
            vec![at(5, "set")],
            vec![],
        ],
    );
    assert_eq!(
        reasons(&analyse(&two, &Commands::with_writes(&["set"]))),
        [
            (Reason::NoSlotMap, "127.0.0.1:30004", ""),
            (Reason::NoSlotMap, "127.0.0.1:30005", ""),
        ]
    );
    assert_eq!(
        reasons(&analyse(&two, &Commands::default()))[0].0,
        Reason::ReplicaWithoutReadonly,
        "without the server saying SET writes"
    );
    // Its connection to a master, listed between the samples only, is where it is too: not a
    // plain client on that master.
    let mut churned = nodes.clone();
    for n in &mut churned[2..] {
        n.between = std::mem::take(&mut n.second);
        n.first.clear();
    }
    churned[0].first.clear();
    assert_eq!(
        reasons(&analyse(&churned, &Commands::default())),
        [
            (Reason::NoSlotMap, "127.0.0.1:30004", ""),
            (Reason::NoSlotMap, "127.0.0.1:30005", ""),
        ]
    );
}
