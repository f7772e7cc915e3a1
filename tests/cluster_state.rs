//! Each node's own `CLUSTER INFO`: a master stopped with SIGSTOP makes the other nodes say
//! `cluster_state:fail` (its slots are uncovered once it is flagged FAIL, and
//! `cluster-require-full-coverage` is on by default). slotwatch shows it within three polls of
//! the servers saying it, `check` exits 1 naming the nodes, and all returns to `ok` after
//! SIGCONT. The servers decide when they flip (node timeout, gossip, rejoin delay); the bound
//! slotwatch is held to is counted in its own polls from then.

mod support;

use std::process::Command;
use std::time::Duration;

use support::servers::Server;
use support::{Exporter, RedisCluster, RedisNode, page_nodes, sample, slotwatch_bin, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn polls(exporter: &Exporter) -> f64 {
    sample(&exporter.metrics(), "slotwatch_polls_total", &[]).unwrap_or(0.0)
}

/// Waits until the node's own `CLUSTER INFO` says `state`.
fn wait_says(node: &RedisNode, state: &str) {
    let want = format!("cluster_state:{state}");
    wait_for(&format!("{} to say {want}", node.addr()), WAIT, || {
        node.try_cmd(&["CLUSTER", "INFO"])
            .filter(|info| info.contains(&want))
            .map(|_| ())
    });
}

/// Waits until `/metrics` shows every one of `nodes` with `redis_cluster_node_state_ok` at
/// `value`, and returns the polls it took from the call.
fn polls_until_exported(exporter: &Exporter, nodes: &[&RedisNode], value: f64) -> f64 {
    let from = polls(exporter);
    wait_for("slotwatch to export the nodes' state", WAIT, || {
        let body = exporter.metrics();
        nodes
            .iter()
            .all(|n| {
                sample(&body, "redis_cluster_node_state_ok", &[("node", &n.addr())]) == Some(value)
            })
            .then_some(())
    });
    polls(exporter) - from
}

fn a_stopped_master_makes_the_others_say_fail(server: Server) {
    let cluster = RedisCluster::on(server, 3, 0, &[]);
    let exporter = Exporter::polling_fast(&cluster.seed());
    let all: Vec<&RedisNode> = cluster.nodes.iter().collect();
    polls_until_exported(&exporter, &all, 1.0);

    let stopped = &cluster.nodes[2];
    let live = [&cluster.nodes[0], &cluster.nodes[1]];
    stopped.signal(libc::SIGSTOP);
    for n in live {
        wait_says(n, "fail");
    }
    let took = polls_until_exported(&exporter, &live, 0.0);
    assert!(
        took <= 3.0,
        "{}: {took} polls to show cluster_state:fail",
        server.name()
    );
    let reported = sample(
        &exporter.metrics(),
        "redis_cluster_node_reported_slots",
        &[("node", &live[0].addr()), ("state", "fail")],
    );
    assert!(
        reported.is_some_and(|v| v > 0.0),
        "{}: the stopped master's slots count as fail: {reported:?}",
        server.name()
    );

    let out = Command::new(slotwatch_bin())
        .args(["check", "--seed", &format!("redis://{}", live[0].addr())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("cluster state:") && l.contains("say cluster_state:fail"))
        .unwrap_or_else(|| panic!("check names no node that says fail:\n{text}"));
    for n in live {
        assert!(line.contains(&n.addr()), "{} not named: {line}", n.addr());
    }
    // The cluster page's nodes table and `/` say it too, from the same judgement.
    let rows = page_nodes(&exporter.get("/cluster/default"));
    for n in live {
        let own = rows
            .get(&n.addr())
            .map(|(cols, _)| cols["cluster_state"].as_str());
        assert!(
            own.is_some_and(|c| c.starts_with("fail")),
            "{}: {own:?}",
            n.addr()
        );
    }
    let landing = exporter.get("/");
    assert!(
        landing.contains("say cluster_state:fail") && landing.contains(&live[0].addr()),
        "{landing}"
    );

    stopped.signal(libc::SIGCONT);
    for n in &all {
        wait_says(n, "ok");
    }
    let took = polls_until_exported(&exporter, &all, 1.0);
    assert!(
        took <= 3.0,
        "{}: {took} polls to show cluster_state:ok again",
        server.name()
    );
}

server_matrix!(a_stopped_master_makes_the_others_say_fail);
