//! `slotwatch serve` against real clusters of 3 masters and 3 replicas on loopback: redirects,
//! migrations, reshards, failovers, frozen nodes, and clear errors.

mod support;

#[path = "support/exported_metrics.rs"]
mod exported_metrics;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use slotwatch::slot::key_slot;
use support::{Exporter, RedisCluster, RedisNode, Server, sample, slotwatch_bin, wait_for};

const WAIT: Duration = Duration::from_secs(30);

fn start_exporter(cluster: &RedisCluster) -> Exporter {
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "1s",
        "--timeout",
        "1s",
    ]);
    exporter.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    exporter
}

/// (id, endpoint, role, master id) of every node, from one node's CLUSTER NODES.
fn roles(node: &RedisNode) -> Vec<(String, String, String, String)> {
    node.cmd(&["CLUSTER", "NODES"])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let role = if f[2].contains("master") {
                "master"
            } else {
                "replica"
            };
            (
                f[0].into(),
                f[1].split('@').next().unwrap().into(),
                role.into(),
                f[3].into(),
            )
        })
        .collect()
}

/// A key that hashes to `slot`.
fn key_in_slot(slot: u16) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap()
}

fn metric(exporter: &Exporter, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    sample(&exporter.metrics(), name, labels)
}

/// Passes `/metrics` through the strict OpenMetrics parser and returns the sample names.
fn strict_openmetrics(body: &str) -> BTreeSet<String> {
    let mut child = Command::new(support::PYTHON)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/openmetrics_check.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (scripts/test installs python3-prometheus-client for it)");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "strict OpenMetrics check failed:\n{}\n--- body ---\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn moved_and_ask_redirects_migrations_and_strict_openmetrics(server: Server) {
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let exporter = start_exporter(&cluster);
    let node0 = &cluster.nodes[0];
    let endpoint0 = node0.addr();
    let before = metric(
        &exporter,
        "redis_cluster_redirects_total",
        &[("node", &endpoint0), ("type", "moved")],
    )
    .expect("moved counter for node 0");

    // 1. A client that is not cluster-aware asks node 0 for keys other masters own.
    let mut conn = node0.connection();
    let mut redirected = 0;
    for i in 0..200 {
        let key = format!("user:{i}");
        if cluster.owner_of(key_slot(key.as_bytes())) == endpoint0 {
            continue;
        }
        let reply: redis::RedisResult<Option<String>> =
            redis::cmd("GET").arg(&key).query(&mut conn);
        let err = reply.expect_err("GET of a foreign key must be redirected");
        assert!(err.to_string().to_uppercase().contains("MOVED"), "{err}");
        redirected += 1;
        if redirected == 37 {
            break;
        }
    }
    let after = exporter.wait_metric(
        "the MOVED counter to rise",
        "redis_cluster_redirects_total",
        &[("node", &endpoint0), ("type", "moved")],
        WAIT,
        |v| v >= before + 37.0,
    );
    assert_eq!(
        after - before,
        37.0,
        "exactly one MOVED per redirected command"
    );

    // 2. An open migration: ASK for a missing key, gauges at 1, started then finished events.
    let nodes = roles(node0);
    let source = nodes.iter().find(|n| n.1 == endpoint0).unwrap();
    let target = nodes
        .iter()
        .find(|n| n.2 == "master" && n.1 != endpoint0)
        .unwrap();
    let slot = (0..16384u16)
        .find(|s| cluster.owner_of(*s) == endpoint0)
        .unwrap();
    let target_node = cluster.node_at(&target.1);
    target_node.cmd(&[
        "CLUSTER",
        "SETSLOT",
        &slot.to_string(),
        "IMPORTING",
        &source.0,
    ]);
    node0.cmd(&[
        "CLUSTER",
        "SETSLOT",
        &slot.to_string(),
        "MIGRATING",
        &target.0,
    ]);
    let ask_before = metric(
        &exporter,
        "redis_cluster_redirects_total",
        &[("node", &endpoint0), ("type", "ask")],
    )
    .unwrap();
    let key = key_in_slot(slot);
    let err = redis::cmd("GET")
        .arg(&key)
        .query::<Option<String>>(&mut conn)
        .unwrap_err();
    assert!(err.to_string().to_uppercase().contains("ASK"), "{err}");
    exporter.wait_metric(
        "the ASK counter",
        "redis_cluster_redirects_total",
        &[("node", &endpoint0), ("type", "ask")],
        WAIT,
        |v| v == ask_before + 1.0,
    );
    exporter.wait_metric(
        "slots_migrating",
        "redis_cluster_slots_migrating",
        &[("node", &endpoint0)],
        WAIT,
        |v| v == 1.0,
    );
    exporter.wait_metric(
        "slots_importing",
        "redis_cluster_slots_importing",
        &[("node", &target.1)],
        WAIT,
        |v| v == 1.0,
    );
    let started = exporter.wait_event("migration_started", WAIT, |e| e["slot"] == slot);
    assert_eq!(started["from"]["node"], endpoint0.as_str());
    assert_eq!(started["to"]["node"], target.1.as_str());
    let topo = exporter.topology();
    assert_eq!(topo["clusters"][0]["migrations"][0]["slot"], slot);
    exporter.wait_metric(
        "migration age",
        "redis_cluster_migration_age_seconds",
        &[],
        WAIT,
        |v| v >= 1.0,
    );

    // Strict OpenMetrics while every family has data, including a migration in flight.
    let body = exporter.metrics();
    let names = strict_openmetrics(&body);
    // And the other way round: everything dashboards and rules may use is really exported
    // (a family with no sample yet, like poll errors, still has its TYPE line).
    let families: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for listed in exported_metrics::exported_metrics() {
        let family = listed.strip_suffix("_total").unwrap_or(&listed);
        assert!(
            families.contains(&listed.as_str()) || families.contains(&family),
            "{listed} is declared in slotwatch::metrics::families() but not exported"
        );
    }
    for name in &names {
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_count")
            .trim_end_matches("_sum");
        assert!(
            exported_metrics::is_listed(name) || exported_metrics::is_listed(family),
            "{name} is exported but not declared in slotwatch::metrics::families()"
        );
    }

    // Finish: assign the slot to the target everywhere.
    for n in nodes.iter().filter(|n| n.2 == "master") {
        cluster
            .node_at(&n.1)
            .cmd(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &target.0]);
    }
    let finished = exporter.wait_event("migration_finished", WAIT, |e| e["slot"] == slot);
    assert_eq!(finished["to"]["node"], target.1.as_str());
    exporter.wait_metric(
        "no open migration",
        "redis_cluster_migration_age_seconds",
        &[],
        WAIT,
        |v| v == 0.0,
    );
    let log = exporter.log_text();
    assert!(
        log.contains("migration_finished: slot"),
        "events are logged:\n{log}"
    );
}

fn reshard_to_a_new_master_and_its_removal(server: Server) {
    let mut cluster = RedisCluster::on(server, 3, 1, &[]);
    let exporter = start_exporter(&cluster);
    let new = RedisNode::start_on(server, cluster.dir.path(), &[]);
    let new_addr = new.addr();
    let out = Command::new("redis-cli")
        .args(["--cluster", "add-node", &new_addr, &cluster.nodes[0].addr()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let new_id = new.id();
    cluster.nodes.push(new);
    cluster.wait_converged();
    exporter.wait_event("node_added", WAIT, |e| {
        e["node"]["node"] == new_addr.as_str()
    });

    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &cluster.nodes[0].addr()])
        .args(["--cluster-from", "all", "--cluster-to", &new_id])
        .args(["--cluster-slots", "300", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // redis-cli splits the 300 between the masters and may round one away; the server's own
    // view of the new master says how many actually moved.
    let own_line = cluster.nodes.last().unwrap().cmd(&["CLUSTER", "NODES"]);
    let own_line = own_line
        .lines()
        .find(|l| l.contains("myself"))
        .unwrap()
        .to_owned();
    let n: u32 = own_line
        .split(' ')
        .skip(8)
        .map(|r| r.parse::<slotwatch::slot::SlotRange>().unwrap().len())
        .sum();
    assert!((290..=300).contains(&n), "{own_line}");
    exporter.wait_metric(
        "the new master's slots",
        "redis_cluster_node_slots",
        &[("node", &new_addr)],
        WAIT,
        |v| v == f64::from(n),
    );
    let moved_in: u64 = wait_for("reshard events to add up", WAIT, || {
        let total: u64 = exporter
            .events()
            .as_array()?
            .iter()
            .filter(|e| e["kind"] == "reshard" && e["to"]["node"] == new_addr.as_str())
            .map(|e| e["slots"].as_u64().unwrap_or(0))
            .sum();
        (total == u64::from(n)).then_some(total)
    });
    assert_eq!(moved_in, u64::from(n));
    let last_reshard = metric(
        &exporter,
        "redis_cluster_last_reshard_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(
        last_reshard > 1.7e9,
        "last reshard timestamp set: {last_reshard}"
    );
    assert!(
        metric(
            &exporter,
            "redis_cluster_slot_moves_total",
            &[("reason", "reshard")]
        )
        .unwrap()
            >= f64::from(n)
    );

    // Give the slots back and remove the node: it must stop being exported.
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &cluster.nodes[0].addr()])
        .args([
            "--cluster-from",
            &new_id,
            "--cluster-to",
            &cluster.nodes[0].id(),
        ])
        .args(["--cluster-slots", &n.to_string(), "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cluster.wait_converged();
    let out = Command::new("redis-cli")
        .args(["--cluster", "del-node", &cluster.nodes[0].addr(), &new_id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    exporter.wait_event("node_removed", WAIT, |e| e["node"]["id"] == new_id.as_str());
    wait_for("the removed node's series to disappear", WAIT, || {
        (!exporter.metrics().contains(&format!("node=\"{new_addr}\""))).then_some(())
    });
}

fn manual_failover_swaps_roles(server: Server) {
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let exporter = start_exporter(&cluster);
    let nodes = roles(&cluster.nodes[0]);
    let replica = nodes.iter().find(|n| n.2 == "replica").unwrap().clone();
    let master = nodes.iter().find(|n| n.0 == replica.3).unwrap().clone();
    cluster.node_at(&replica.1).cmd(&["CLUSTER", "FAILOVER"]);

    let e = exporter.wait_event("failover", WAIT, |e| {
        e["new_master"]["node"] == replica.1.as_str()
    });
    assert_eq!(e["old_master"]["node"], master.1.as_str());
    assert!(e["slots"].as_u64().unwrap() > 5000);
    exporter.wait_metric(
        "the promoted node's role",
        "redis_cluster_node_info",
        &[("node", &replica.1), ("role", "master")],
        WAIT,
        |v| v == 1.0,
    );
    exporter.wait_metric(
        "the old master's role",
        "redis_cluster_node_info",
        &[
            ("node", &master.1),
            ("role", "replica"),
            ("master_node", &replica.1),
        ],
        WAIT,
        |v| v == 1.0,
    );
    assert!(
        metric(
            &exporter,
            "redis_cluster_last_failover_timestamp_seconds",
            &[]
        )
        .unwrap()
            > 1.7e9
    );
}

fn killed_master_fails_then_fails_over(server: Server) {
    let mut cluster = RedisCluster::on(server, 3, 1, &[]);
    let exporter = start_exporter(&cluster);
    let nodes = roles(&cluster.nodes[0]);
    let master = nodes
        .iter()
        .find(|n| n.2 == "master" && n.1 != cluster.nodes[0].addr())
        .unwrap()
        .clone();
    let replica = nodes.iter().find(|n| n.3 == master.0).unwrap().clone();
    let idx = cluster
        .nodes
        .iter()
        .position(|n| n.addr() == master.1)
        .unwrap();
    cluster.nodes[idx].stop();

    exporter.wait_metric(
        "the killed node to be down",
        "redis_cluster_node_up",
        &[("node", &master.1)],
        WAIT,
        |v| v == 0.0,
    );
    let failover = exporter.wait_event("failover", Duration::from_secs(60), |e| {
        e["old_master"]["node"] == master.1.as_str()
    });
    assert_eq!(failover["new_master"]["node"], replica.1.as_str());
    let events = exporter.events();
    let list = events.as_array().unwrap();
    let failed_at = list
        .iter()
        .position(|e| e["kind"] == "node_failed" && e["node"]["node"] == master.1.as_str())
        .expect("node_failed event for the killed master");
    let failover_at = list.iter().position(|e| e["kind"] == "failover").unwrap();
    assert!(
        failed_at < failover_at,
        "node_failed comes before failover: {events:#}"
    );
    assert!(
        metric(
            &exporter,
            "slotwatch_poll_errors_total",
            &[("node", &master.1), ("reason", "connect")]
        )
        .unwrap()
            >= 1.0
    );
}

fn frozen_node_does_not_stall_metrics_and_comes_back(server: Server) {
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let exporter = start_exporter(&cluster);
    let nodes = roles(&cluster.nodes[0]);
    let replica = nodes.iter().find(|n| n.2 == "replica").unwrap().clone();
    let frozen = cluster.node_at(&replica.1);
    frozen.signal(libc::SIGSTOP);

    exporter.wait_metric(
        "the frozen node to be down",
        "redis_cluster_node_up",
        &[("node", &replica.1)],
        WAIT,
        |v| v == 0.0,
    );
    // Scrapes read the last snapshot; they never wait on the frozen node. The bound is far
    // above a normal scrape (a millisecond) and well under the 1 s per-node timeout.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let body = exporter.metrics();
        slowest = slowest.max(t.elapsed());
        assert!(body.contains("slotwatch_up"));
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(
        slowest < Duration::from_millis(500),
        "slowest /metrics took {slowest:?}"
    );
    exporter.wait_metric(
        "a timeout error",
        "slotwatch_poll_errors_total",
        &[("node", &replica.1), ("reason", "timeout")],
        WAIT,
        |v| v >= 1.0,
    );
    assert_eq!(
        metric(&exporter, "slotwatch_up", &[]),
        Some(1.0),
        "the rest of the cluster is still polled"
    );
    // A poll costs at most about one timeout even with a frozen node.
    let poll = exporter.wait_metric(
        "poll duration sum",
        "slotwatch_poll_duration_seconds_sum",
        &[],
        WAIT,
        |_| true,
    );
    let polls = metric(&exporter, "slotwatch_poll_duration_seconds_count", &[]).unwrap();
    assert!(poll / polls < 1.5, "mean poll {}s", poll / polls);

    frozen.signal(libc::SIGCONT);
    exporter.wait_metric(
        "the node to come back",
        "redis_cluster_node_up",
        &[("node", &replica.1)],
        Duration::from_secs(60),
        |v| v == 1.0,
    );
}

fn wrong_password_gives_a_clear_error_and_no_secret(server: Server) {
    let right = "s3cret-Right-pw";
    let wrong = "s3cret-Wrong-pw";
    let cluster = RedisCluster::on(
        server,
        3,
        0,
        &["--requirepass", right, "--masterauth", right],
    );
    let exporter = Exporter::start_with_env(
        &[
            "--seed",
            &cluster.seed(),
            "--poll-interval",
            "1s",
            "--password-env",
            "SW_TEST_PW",
        ],
        &[("SW_TEST_PW", wrong)],
    );
    exporter.wait_metric(
        "an auth error",
        "slotwatch_poll_errors_total",
        &[("reason", "auth")],
        WAIT,
        |v| v >= 1.0,
    );
    assert_eq!(metric(&exporter, "slotwatch_up", &[]), Some(0.0));
    let log = wait_for("the auth failure to be logged", WAIT, || {
        let log = exporter.log_text();
        log.contains("cannot poll node").then_some(log)
    });
    assert!(
        log.contains(&cluster.nodes[0].addr()),
        "log names the address:\n{log}"
    );
    assert!(
        log.contains("authentication failed"),
        "log names the cause:\n{log}"
    );
    for body in [
        log,
        exporter.metrics(),
        exporter.get("/topology"),
        exporter.get("/events"),
        exporter.get("/"),
    ] {
        assert!(
            !body.contains(wrong) && !body.contains(right),
            "a password leaked:\n{body}"
        );
    }

    // The right password, from a file, works.
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{right}\n")).unwrap();
    let good = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "1s",
        "--password-file",
        pw_file.to_str().unwrap(),
    ]);
    good.wait_metric("a good poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    assert!(!good.log_text().contains(right));
    let clients = cluster.nodes[0].cmd(&["CLIENT", "LIST"]);
    assert!(
        clients.contains("name=slotwatch"),
        "connections are named:\n{clients}"
    );
}

#[test]
fn unreachable_seed_and_bad_config_give_clear_errors() {
    let port = support::free_port();
    let exporter = Exporter::start(&[
        "--seed",
        &format!("redis://127.0.0.1:{port}"),
        "--poll-interval",
        "1s",
        "--log-format",
        "json",
    ]);
    exporter.wait_metric(
        "a connect error",
        "slotwatch_poll_errors_total",
        &[("reason", "connect")],
        WAIT,
        |v| v >= 1.0,
    );
    assert_eq!(metric(&exporter, "slotwatch_up", &[]), Some(0.0));
    assert_eq!(
        metric(
            &exporter,
            "redis_cluster_node_up",
            &[("node", &format!("127.0.0.1:{port}"))]
        ),
        Some(0.0)
    );
    let log = wait_for("the error to be logged", WAIT, || {
        let log = exporter.log_text();
        log.contains("cannot poll node").then_some(log)
    });
    assert!(
        log.contains(&format!("127.0.0.1:{port}")) && log.contains("connection failed"),
        "{log}"
    );
    assert!(!log.contains("panicked"));
    // --log-format json: one JSON object per line, with the fields structured.
    let warn = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .find(|v| v["message"] == "cannot poll node")
        .expect("the warning as JSON");
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["node"], format!("127.0.0.1:{port}"));
    assert_eq!(warn["reason"], "connect");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "clusters:\n  - name: a\n    seeds: [redis://127.0.0.1:1]\n    pol_interval: 5s\n",
    )
    .unwrap();
    let out = Command::new(slotwatch_bin())
        .args(["serve", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.yml:4:") && err.contains("unknown field `pol_interval`"),
        "{err}"
    );
    assert!(!err.contains("panicked"));

    // Per-cluster flags next to --config would be silently ignored: refused instead.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/slotwatch.example.yml");
    let out = Command::new(slotwatch_bin())
        .args(["serve", "--config", example, "--poll-interval", "2s"])
        .env("SESSIONS_REDIS_PASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--poll-interval is set per cluster"));

    let out = Command::new(slotwatch_bin())
        .args(["serve", "--seed", "http://x:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("redis://host:port")
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(slotwatch_bin())
        .args(["serve", "--seed", "redis://127.0.0.1:1", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains(&format!("cannot listen on {addr}"))
    );
}

#[test]
fn endpoints_answer_and_validate_queries() {
    let cluster = RedisCluster::start(3, 1);
    let exporter = start_exporter(&cluster);
    let (status, head, _) = exporter.try_get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    // A scraper that accepts gzip (Prometheus does) gets the same text gzipped.
    let (head, zipped) = gzip_get(exporter.port, "/metrics");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-encoding: gzip") && head.contains("vary: accept-encoding"),
        "{head}"
    );
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut text)
        .expect("a gzip body");
    assert!(
        text.contains("\nslotwatch_up{cluster=\"default\"} 1.0\n") && text.ends_with("# EOF\n"),
        "{text}"
    );
    let topo: Value = exporter.topology();
    let c = &topo["clusters"][0];
    assert_eq!(c["cluster"], "default");
    assert_eq!(c["slots_assigned"], 16384);
    assert_eq!(c["masters"].as_array().unwrap().len(), 3);
    assert_eq!(c["nodes"].as_array().unwrap().len(), 6);
    assert_eq!(c["disagreement"]["slots"], 0);
    for m in c["masters"].as_array().unwrap() {
        assert_eq!(m["replicas"].as_array().unwrap().len(), 1);
    }
    assert_eq!(exporter.get("/healthz").trim(), "ok");

    // Connections persist between polls: three polls later the node has accepted exactly one
    // more connection, the one this check opens to read the counter.
    let accepted = |n: &RedisNode| -> u64 {
        let stats = n.cmd(&["INFO", "stats"]);
        stats
            .lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("total_connections_received")
    };
    let polls = metric(&exporter, "slotwatch_polls_total", &[]).unwrap();
    let before = accepted(&cluster.nodes[1]);
    exporter.wait_metric(
        "three more polls",
        "slotwatch_polls_total",
        &[],
        WAIT,
        |v| v >= polls + 3.0,
    );
    assert_eq!(
        accepted(&cluster.nodes[1]) - before,
        1,
        "slotwatch reconnected between polls"
    );
    let landing = exporter.get("/");
    assert!(
        landing.contains("href=\"metrics\"") && landing.contains("<b>healthy</b>"),
        "{landing}"
    );
    assert_eq!(exporter.try_get("/events?since=yesterday").unwrap().0, 400);
    assert_eq!(exporter.try_get("/topology?cluster=nope").unwrap().0, 404);
    let future = exporter.get("/events?since=99999999999");
    assert_eq!(future.trim(), "[]");

    // SIGTERM shuts down gracefully.
    exporter.process.signal(libc::SIGTERM);
    let mut exporter = exporter;
    let status = wait_for("slotwatch to exit", WAIT, || {
        exporter.process.child.try_wait().ok().flatten()
    });
    assert!(status.success(), "exit status {status:?}");
}

/// A GET that accepts gzip: (headers, raw body).
fn gzip_get(port: u16, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers")
        + 4;
    let body = raw.split_off(end);
    (String::from_utf8_lossy(&raw).into_owned(), body)
}

server_matrix!(
    moved_and_ask_redirects_migrations_and_strict_openmetrics,
    reshard_to_a_new_master_and_its_removal,
    manual_failover_swaps_roles,
    killed_master_fails_then_fails_over,
    frozen_node_does_not_stall_metrics_and_comes_back,
    wrong_password_gives_a_clear_error_and_no_secret,
);

/// Redis 6.2, the oldest server with INFO errorstats, takes one INFO section per call: the
/// redirect counts must come through all the same.
#[test]
fn moved_and_ask_redirects_on_redis_6_2() {
    support::servers::run(
        Server::Redis62,
        moved_and_ask_redirects_migrations_and_strict_openmetrics,
    )
}
