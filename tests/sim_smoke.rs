//! Smoke test of the cluster simulator (the `sim` crate), so that it cannot rot: a few
//! nodes, the real slotwatch binary in front of them, a reshard and a failover.

mod support;

use std::time::Duration;

use slotwatch_sim::{SimConfig, Simulator, synth};
use support::{Exporter, sample, wait_for};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn slotwatch_sees_the_simulated_cluster_and_its_changes() {
    let sim = Simulator::start(6, 0).expect("start the simulator");
    let (first, last) = sim.ports();
    assert_eq!(usize::from(last - first) + 1, 6);

    // Each node answers exactly what synth::view_of renders for it.
    let lines = sim.lines();
    for me in 0..6 {
        assert_eq!(
            sim.view_text(me),
            synth::view_of(&lines, me).to_string(),
            "view of {me}"
        );
    }

    let seed = sim.url(0);
    let exporter = Exporter::polling_fast(&seed);
    exporter.wait_metric(
        "a topology",
        "slotwatch_up",
        &[("cluster", "default")],
        WAIT,
        |v| v == 1.0,
    );
    wait_for("all 6 nodes up", WAIT, || {
        let body = exporter.metrics();
        (first..=last)
            .all(|port| {
                let node = format!("127.0.0.1:{port}");
                sample(&body, "redis_cluster_node_up", &[("node", &node)]) == Some(1.0)
            })
            .then_some(())
    });

    let change = sim.reshard(0, 1, 100).expect("reshard");
    assert_eq!(change.slots, 100);
    let event = exporter.wait_event("reshard", WAIT, |e| e["slots"] == 100);
    assert_eq!(event["from"]["node"], change.from, "{event}");
    assert_eq!(event["to"]["node"], change.to, "{event}");

    // Node 5 replicates master 2 (replicas are assigned round-robin).
    let change = sim.failover(5).expect("failover");
    let event = exporter.wait_event("failover", WAIT, |e| e["slots"] == change.slots);
    assert_eq!(event["old_master"]["node"], change.from, "{event}");
    assert_eq!(event["new_master"]["node"], change.to, "{event}");

    let stats = sim.stats();
    assert_eq!(stats.version, 2);
    assert!(stats.cluster_nodes_served >= 6, "{stats:?}");
    assert!(stats.bytes_written > 0, "{stats:?}");
    assert!(stats.open_connections >= 6, "{stats:?}");
    sim.shutdown();
}

#[test]
fn simulator_speaks_resp_with_auth_and_errors() {
    let sim = Simulator::start_with(SimConfig {
        nodes: 3,
        password: Some("s3cret".into()),
        ..SimConfig::default()
    })
    .expect("start the simulator");
    let port = sim.ports().0;
    let open = |url: &str| {
        redis::Client::open(url)
            .expect("url")
            .get_connection_with_timeout(Duration::from_secs(5))
    };
    let err = open(&format!("redis://:wrong@127.0.0.1:{port}"))
        .err()
        .expect("a wrong password is refused");
    assert!(
        err.to_string().to_lowercase().contains("password")
            || err.kind() == redis::ErrorKind::AuthenticationFailed,
        "{err}"
    );

    let mut conn = open(&format!("redis://:s3cret@127.0.0.1:{port}")).expect("connect");
    let pong: String = redis::cmd("PING").query(&mut conn).expect("PING");
    assert_eq!(pong, "PONG");
    let unknown = redis::cmd("FLUSHALL")
        .query::<redis::Value>(&mut conn)
        .expect_err("unknown command");
    assert!(
        unknown.to_string().contains("unknown command 'FLUSHALL'"),
        "{unknown}"
    );

    sim.redirects(0, 7, 2).expect("redirects");
    // Pipelined, as slotwatch sends them; replies come back in order.
    let (nodes, errorstats, stats): (String, String, String) = redis::pipe()
        .cmd("CLUSTER")
        .arg("NODES")
        .cmd("INFO")
        .arg("errorstats")
        .cmd("INFO")
        .arg("stats")
        .query(&mut conn)
        .expect("pipeline");
    assert_eq!(nodes, sim.view_text(0));
    assert!(nodes.lines().next().unwrap_or("").contains("myself,master"));
    assert_eq!(
        errorstats,
        "# Errorstats\r\nerrorstat_MOVED:count=7\r\nerrorstat_ASK:count=2\r\n"
    );
    assert!(stats.starts_with("# Stats\r\n"), "{stats}");
    assert!(stats.contains("\r\ntotal_commands_processed:"), "{stats}");
}

/// In a cluster larger than `--full-views-per-poll`, slotwatch reads only a rotating sample of
/// full views per poll (plus the nodes involved in recent changes), yet still sees every node's
/// status and every change, with no spurious events, for a fraction of the bytes.
#[test]
fn bounded_views_still_see_every_node_and_change() {
    let sim = Simulator::start(40, 0).expect("start the simulator");
    let (first, last) = sim.ports();
    let exporter = Exporter::start(&[
        "--seed",
        &sim.url(0),
        "--poll-interval",
        "200ms",
        "--timeout",
        "200ms",
        "--full-views-per-poll",
        "4",
    ]);
    wait_for("all 40 nodes up", WAIT, || {
        let body = exporter.metrics();
        (first..=last)
            .all(|port| {
                let node = format!("127.0.0.1:{port}");
                sample(&body, "redis_cluster_node_up", &[("node", &node)]) == Some(1.0)
            })
            .then_some(())
    });
    // Masters are nodes 0..20; replica 39 replicates master 19.
    sim.reshard(3, 7, 50).expect("reshard");
    let reshard = exporter.wait_event("reshard", WAIT, |e| e["slots"] == 50);
    assert_eq!(reshard["to"]["node"], format!("127.0.0.1:{}", first + 7));
    sim.failover(39).expect("failover");
    let failover = exporter.wait_event("failover", WAIT, |e| {
        e["new_master"]["node"] == format!("127.0.0.1:{}", first + 39).as_str()
    });
    assert_eq!(
        failover["old_master"]["node"],
        format!("127.0.0.1:{}", first + 19)
    );

    // Let many polls rotate through the sampled views, then check nothing spurious appeared
    // and that, the changes settled, each poll read exactly 4 full views.
    exporter.wait_metric(
        "the changes to settle",
        "slotwatch_polls_total",
        &[],
        WAIT,
        |v| v >= 10.0,
    );
    std::thread::sleep(Duration::from_secs(1));
    let polls_before = sample(&exporter.metrics(), "slotwatch_polls_total", &[]).unwrap();
    let served_before = sim.stats().cluster_nodes_served;
    let views_before: Vec<u64> = (0..40).map(|i| sim.views_served(i)).collect();
    let polls_after =
        exporter.wait_metric("30 more polls", "slotwatch_polls_total", &[], WAIT, |v| {
            v >= polls_before + 30.0
        });
    let served = sim.stats().cluster_nodes_served - served_before;
    let polls = polls_after - polls_before;
    // The two counters are read a moment apart, so allow one poll of slack.
    assert!(
        (served as f64) <= 4.0 * (polls + 1.0) && (served as f64) >= 4.0 * (polls - 1.0),
        "{served} CLUSTER NODES replies in {polls} polls"
    );
    let events = exporter.events();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["reshard", "failover"], "{events:#}");
    // Every view still comes round: in the 30 polls of 4 views, each of the 40 nodes' full
    // views was read at least once.
    let unread: Vec<usize> = (0..40)
        .filter(|i| sim.views_served(*i) <= views_before[*i])
        .collect();
    assert!(unread.is_empty(), "views never read: nodes {unread:?}");
}

/// A server that takes one INFO section per call (Redis 6.2) still has its counters read:
/// slotwatch asks for both sections in one call, and on that server's refusal, one by one from
/// then on.
#[test]
fn one_info_section_per_call_still_gives_the_counters() {
    let sim = Simulator::start_with(SimConfig {
        nodes: 3,
        one_info_section: true,
        ..SimConfig::default()
    })
    .expect("start the simulator");
    sim.redirects(1, 5, 0).expect("redirects");
    let exporter = Exporter::polling_fast(&sim.url(0));
    let node = format!("127.0.0.1:{}", sim.ports().0 + 1);
    exporter.wait_metric(
        "node 1's MOVED counter",
        "redis_cluster_redirects_total",
        &[("node", &node), ("type", "moved")],
        WAIT,
        |v| v == 5.0,
    );
    let polls = |e: &Exporter| sample(&e.metrics(), "slotwatch_polls_total", &[]).unwrap_or(0.0);
    let now = polls(&exporter);
    wait_for("5 more polls", WAIT, || {
        (polls(&exporter) >= now + 5.0).then_some(())
    });
    let body = exporter.metrics();
    assert_eq!(
        sample(&body, "redis_cluster_node_up", &[("node", &node)]),
        Some(1.0),
        "the refusal never made the node look down\n{}",
        exporter.log_tail()
    );
    assert!(
        !body.contains("slotwatch_poll_errors_total{"),
        "no poll failed: {}",
        body.lines()
            .filter(|l| l.starts_with("slotwatch_poll_errors"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
