//! Cluster errors other than redirects, and rejected calls by command, provoked for real on
//! every server of the matrix: CROSSSLOT from a multi-key command across slots, TRYAGAIN from
//! one on an importing slot whose keys are split, CLUSTERDOWN from a slot with no owner, and
//! MOVED counted in the redirected command's `rejected_calls`.

mod support;

use std::time::Duration;

use slotwatch::slot::key_slot;
use support::{Exporter, RedisCluster, RedisNode, Server};

const WAIT: Duration = Duration::from_secs(30);

/// A key whose slot is `slot`, tagged so that `{tag}` keys share it.
fn key_in(slot: u16, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap()
}

/// Runs a command on `node` and returns its reply (the error text when refused), upper-cased
/// because redis-rs renders error codes in its own case (`CrossSlot: ...`).
fn refused(node: &RedisNode, args: &[&str]) -> String {
    node.try_cmd(args).expect("node answers").to_uppercase()
}

fn counted_errors_and_rejected_calls(server: Server) {
    let cluster = RedisCluster::on(server, 3, 0, &[]);
    let exporter = Exporter::polling_fast(&cluster.seed());
    let node = &cluster.nodes[0];
    let owner = node.addr();
    // Two slots node 0 owns, and one it does not.
    let slots = owned_slots(node);
    let (a, b) = (slots[0], slots[1]);
    let elsewhere = (0..16384u16).find(|s| !slots.contains(s)).unwrap();

    // MOVED, three times, on GET: counted in get's rejected_calls.
    let moved_key = key_in(elsewhere, "moved");
    for _ in 0..3 {
        let r = refused(node, &["GET", &moved_key]);
        assert!(r.contains("MOVED"), "{r}");
    }
    // CROSSSLOT: MSET over two slots of this node.
    let r = refused(node, &["MSET", &key_in(a, "x"), "1", &key_in(b, "y"), "2"]);
    assert!(r.contains("CROSSSLOT"), "{r}");

    // TRYAGAIN: a migrating slot with one of two {tag} keys already moved.
    let target = &cluster.nodes[1];
    let tag = key_in(a, "t");
    let (k1, k2) = (format!("{{{tag}}}:1"), format!("{{{tag}}}:2"));
    node.cmd(&["SET", &k1, "1"]);
    node.cmd(&["SET", &k2, "2"]);
    let slot = a.to_string();
    target.cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &node.id()]);
    node.cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target.id()]);
    let port = target.port.to_string();
    node.cmd(&["MIGRATE", "127.0.0.1", &port, &k1, "0", "5000"]);
    // On the target, after ASKING, a multi-key command with one key not there yet: TRYAGAIN
    // on every server (6.2 answers ASK on the source where 7.0 says TRYAGAIN).
    let mut conn = target.connection();
    redis::cmd("ASKING").query::<()>(&mut conn).unwrap();
    let r = redis::cmd("MGET")
        .arg(&k1)
        .arg(&k2)
        .query::<Vec<Option<String>>>(&mut conn)
        .unwrap_err()
        .to_string()
        .to_uppercase();
    assert!(r.contains("TRYAGAIN"), "{r}");
    node.cmd(&["CLUSTER", "SETSLOT", &slot, "STABLE"]);
    target.cmd(&["CLUSTER", "SETSLOT", &slot, "STABLE"]);

    // CLUSTERDOWN: a slot nobody owns (the owner forgets it first, so no node learns it back).
    let down = slots[2].to_string();
    for n in std::iter::once(node).chain(cluster.nodes.iter().skip(1)) {
        let _ = n.try_cmd(&["CLUSTER", "DELSLOTS", &down]);
    }
    let r = refused(node, &["GET", &key_in(slots[2], "down")]);
    assert!(r.contains("CLUSTERDOWN"), "{r}");

    let counted = |error: &str| {
        exporter.wait_metric(
            &format!("{error} counted"),
            "redis_cluster_error_replies_total",
            &[("node", &owner), ("error", error)],
            WAIT,
            |v| v >= 1.0,
        )
    };
    assert_eq!(counted("crossslot"), 1.0);
    let tryagain = exporter.wait_metric(
        "TRYAGAIN counted on the target",
        "redis_cluster_error_replies_total",
        &[("node", &target.addr()), ("error", "tryagain")],
        WAIT,
        |v| v >= 1.0,
    );
    assert_eq!(tryagain, 1.0);
    assert!(counted("clusterdown") >= 1.0);
    let get = exporter.wait_metric(
        "GET's rejected calls",
        "redis_cluster_command_rejected_calls_total",
        &[("node", &owner), ("command", "get")],
        WAIT,
        |v| v >= 4.0,
    );
    // Three MOVED and one CLUSTERDOWN: rejected_calls counts every refusal, not only redirects.
    assert_eq!(get, 4.0);
    let mset = support::sample(
        &exporter.metrics(),
        "redis_cluster_command_rejected_calls_total",
        &[("node", &owner), ("command", "mset")],
    );
    assert_eq!(mset, Some(1.0));
    let redirects = support::sample(
        &exporter.metrics(),
        "redis_cluster_redirects_total",
        &[("node", &owner), ("type", "moved")],
    );
    assert_eq!(redirects, Some(3.0));
    // Commands never refused have no series: the label set stays small.
    let body = exporter.metrics();
    assert!(
        !body.contains("command=\"cluster|nodes\""),
        "{}",
        body.lines()
            .filter(|l| l.contains("rejected_calls"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The slots `node` owns, from its own `CLUSTER NODES` line.
fn owned_slots(node: &RedisNode) -> Vec<u16> {
    let nodes = node.cmd(&["CLUSTER", "NODES"]);
    let mine = nodes.lines().find(|l| l.contains("myself")).unwrap();
    let mut slots = Vec::new();
    for r in mine.split(' ').skip(8) {
        if r.starts_with('[') {
            continue;
        }
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        slots.extend(a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap());
        if slots.len() >= 3 {
            break;
        }
    }
    slots
}

/// Every error reply a node counted: its `total_error_replies` and each `errorstat_*` line.
fn error_replies(node: &RedisNode) -> (u64, Vec<String>) {
    let stats = node.cmd(&["INFO", "stats"]);
    let total = stats
        .lines()
        .find_map(|l| l.trim().strip_prefix("total_error_replies:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no total_error_replies in INFO stats of {}", node.addr()));
    let lines = node
        .cmd(&["INFO", "errorstats"])
        .lines()
        .filter(|l| l.starts_with("errorstat_"))
        .map(|l| l.trim().to_owned())
        .collect();
    (total, lines)
}

/// A monitor must not add to the error counts it reports: 20 polls of an idle cluster leave
/// every node's error statistics at zero.
/// slotwatch learns what each server supports from its version, rather than by asking for a
/// command the server may answer with "unknown subcommand".
fn polling_adds_no_error_replies(server: Server) {
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    for node in &cluster.nodes {
        node.cmd(&["CONFIG", "RESETSTAT"]);
        assert_eq!(error_replies(node), (0, vec![]), "reset on {}", node.addr());
    }
    let exporter = Exporter::polling_fast(&cluster.seed());
    exporter.wait_metric("20 polls", "slotwatch_polls_total", &[], WAIT, |v| {
        v >= 20.0
    });
    for node in &cluster.nodes {
        // The test's own commands (CONFIG RESETSTAT, INFO) are never refused.
        assert_eq!(
            error_replies(node),
            (0, vec![]),
            "error replies on {} ({}) after 20 polls",
            node.addr(),
            server.name()
        );
    }
}

server_matrix!(
    counted_errors_and_rejected_calls,
    polling_adds_no_error_replies
);

/// Redis 6.2 takes one INFO section per call: slotwatch knows it from the version.
#[test]
fn polling_adds_no_error_replies_on_redis_6_2() {
    support::servers::run(Server::Redis62, polling_adds_no_error_replies)
}

/// Redis 6.2 has errorstats and rejected_calls, one INFO section per call.
#[test]
fn counted_errors_and_rejected_calls_on_redis_6_2() {
    support::servers::run(Server::Redis62, counted_errors_and_rejected_calls)
}
