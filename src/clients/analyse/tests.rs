//! The judgement of hand-made samples.

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
        interval_ms: 1000,
        moved: Some(moved),
        rejected: moved,
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
    assert!(analyse(&[node("a:1", Role::Master, 50, &links)]).is_empty());
}

#[test]
fn a_client_that_declares_redirect_handling_is_not_called_unaware() {
    // Valkey 8.1+: capa=r. On one redirecting master, like a plain client, it is still not
    // "not cluster-aware"; the same connection without capa is.
    let mut aware = conn(1, 5000, "app", "get", None);
    aware.capa = Some("r".to_owned());
    let plain = conn(1, 5000, "app", "get", None);
    let one = |c: Connection| analyse(&[node("a:1", Role::Master, 20, &[(c.clone(), c)])]);
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
    // A quarter more input per command is within what a mix of key and value sizes gives.
    assert!(analyse(&nodes(40)).is_empty());
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
