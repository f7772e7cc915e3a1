//! Recovery from outages against real servers: a whole cluster or a single node that comes
//! back is seen within two polls however long it was away, a connection killed between polls
//! is replaced within the poll, and an outage is logged once when it starts and once when it
//! ends. Counted in polls, not seconds: the machines running this are shared and noisy.

mod support;

use std::time::Duration;

use support::{Exporter, RedisCluster, sample, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// `slotwatch_polls_total` and `name{labels}` read from one scrape, so that they agree.
fn polls_and(exporter: &Exporter, name: &str, labels: &[(&str, &str)]) -> (f64, Option<f64>) {
    let body = exporter.metrics();
    let polls = sample(&body, "slotwatch_polls_total", &[]).unwrap_or(0.0);
    (polls, sample(&body, name, labels))
}

/// Scrapes until `name{labels}` is 1 and returns how many polls that took from `from`.
fn polls_until_up(exporter: &Exporter, from: f64, name: &str, labels: &[(&str, &str)]) -> f64 {
    wait_for(&format!("{name}{labels:?} to be 1"), WAIT, || {
        let (polls, value) = polls_and(exporter, name, labels);
        (value == Some(1.0)).then_some(polls - from)
    })
}

fn lines_with(log: &str, words: &[&str]) -> usize {
    log.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

#[test]
fn a_cluster_and_its_nodes_are_seen_within_two_polls_of_answering_after_any_outage() {
    let mut cluster = RedisCluster::start(3, 0);
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "300ms",
        "--timeout",
        "300ms",
    ]);
    exporter.wait_metric("slotwatch up", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    for node in &mut cluster.nodes {
        node.stop();
    }
    exporter.wait_metric("slotwatch down", "slotwatch_up", &[], WAIT, |v| v == 0.0);
    // An outage of 40 polls: well past where an exponential backoff would have stretched.
    let (down_at, _) = polls_and(&exporter, "slotwatch_up", &[]);
    wait_for("40 polls of outage", WAIT, || {
        (polls_and(&exporter, "slotwatch_up", &[]).0 >= down_at + 40.0).then_some(())
    });

    // The cluster answers again as soon as one node does. A poll may be under way when it
    // does, and a node that failed twice in a row is tried every other poll: so three polls.
    cluster.nodes[0].restart();
    let (answering, _) = polls_and(&exporter, "slotwatch_up", &[]);
    let took = polls_until_up(&exporter, answering, "slotwatch_up", &[]);
    assert!(took <= 3.0, "up {took} polls after the cluster answered");

    // The other two, still down while the cluster is up, are single restarted nodes.
    for i in 1..3 {
        let node = cluster.nodes[i].addr();
        cluster.nodes[i].restart();
        let (answering, _) = polls_and(&exporter, "redis_cluster_node_up", &[("node", &node)]);
        let took = polls_until_up(
            &exporter,
            answering,
            "redis_cluster_node_up",
            &[("node", &node)],
        );
        assert!(took <= 3.0, "{node} up {took} polls after it answered");
    }

    let log = exporter.log_text();
    assert_eq!(
        lines_with(&log, &["no node's view could be read"]),
        1,
        "{log}"
    );
    assert_eq!(lines_with(&log, &["still no node's view"]), 0, "{log}");
    assert_eq!(
        lines_with(&log, &["cluster views readable again"]),
        1,
        "{log}"
    );
    for node in &cluster.nodes {
        let addr = node.addr();
        assert_eq!(
            lines_with(&log, &["cannot poll node", &addr]),
            1,
            "{addr}: {log}"
        );
        assert_eq!(
            lines_with(&log, &["node answering again", &addr, "polls="]),
            1,
            "{addr}: {log}"
        );
    }
}

#[test]
fn a_connection_killed_between_polls_is_replaced_within_the_poll() {
    let cluster = RedisCluster::start(3, 0);
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "500ms",
        "--timeout",
        "500ms",
    ]);
    exporter.wait_metric("slotwatch up", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    let node = &cluster.nodes[1];
    let slotwatch_ids = || -> Vec<String> {
        node.cmd(&["CLIENT", "LIST"])
            .lines()
            .filter(|l| l.contains(" name=slotwatch "))
            .filter_map(|l| Some(l.split(' ').next()?.strip_prefix("id=")?.to_owned()))
            .collect()
    };
    for _ in 0..5 {
        let ids = wait_for("slotwatch's connection", WAIT, || {
            Some(slotwatch_ids()).filter(|ids| ids.len() == 1)
        });
        node.cmd(&["CLIENT", "KILL", "ID", &ids[0]]);
        wait_for("a new slotwatch connection", WAIT, || {
            Some(slotwatch_ids()).filter(|now| !now.is_empty() && *now != ids)
        });
    }
    let (_, errors) = polls_and(
        &exporter,
        "slotwatch_poll_errors_total",
        &[("node", &node.addr())],
    );
    assert_eq!(errors, None, "{}", exporter.metrics());
    let log = exporter.log_text();
    assert_eq!(lines_with(&log, &["cannot poll node"]), 0, "{log}");
}
