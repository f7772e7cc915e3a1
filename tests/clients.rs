//! Who is being redirected, with real clients on every server of the matrix: a plain
//! `redis.Redis` on one master, a replica reader with and without READONLY, cluster-aware
//! clients from two ecosystems (redis-py `RedisCluster`, ioredis `Cluster`), and on Valkey a
//! client that keeps a stale slot map. `check --clients` must name the first, the reader
//! without READONLY and the stale map, and never a cluster-aware client; `serve` must do the
//! same at `/clients` while 20 cluster-aware clients ride through a reshard and a failover.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::clients::{client, goredis5, port_of, require_clients, reshard, shards};
use support::{Exporter, RedisCluster, Server, slotwatch_bin};

/// Every distinct report `/clients` served, read every 300 ms until `until`, by the time its
/// second sample was taken.
fn reports_until(exporter: &Exporter, until: Instant, seen: &mut BTreeMap<u64, Value>) {
    while Instant::now() < until {
        let all: Value = serde_json::from_str(&exporter.get("/clients")).unwrap();
        let report = &all[0]["report"];
        if let Some(at) = report["taken_at_ms"].as_u64() {
            // A report kept through a skipped analysis is the same analysis.
            seen.entry(at).or_insert_with(|| report.clone());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn check_clients(seed: &str, json: bool) -> Output {
    let mut cmd = Command::new(slotwatch_bin());
    cmd.args(["check", "--clients", "--seed", seed]);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

/// (reason, client name, node) of every suspect connection in a report.
fn suspects(report: &Value) -> BTreeSet<(String, String, String)> {
    report["clients"]
        .as_array()
        .expect("clients array")
        .iter()
        .flat_map(|g| g["suspects"].as_array().cloned().unwrap_or_default())
        .map(|s| {
            (
                s["reason"].as_str().unwrap_or("").to_owned(),
                s["connection"]["name"].as_str().unwrap_or("").to_owned(),
                s["node"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn plain_replica_and_cluster_clients_are_told_apart(server: Server) {
    require_clients();
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let shards = shards(&cluster);
    let (master_a, replica_a) = &shards[0];
    let (master_b, replica_b) = &shards[1];
    let seed = port_of(master_a);
    let _clients = [
        client("plain.py", port_of(master_a), "plain-app", &[]),
        client("plain.py", port_of(replica_a), "replica-reader", &[]),
        client(
            "plain.py",
            port_of(replica_b),
            "replica-readonly",
            &["--readonly", "--own-slots"],
        ),
        client("cluster.py", seed, "rc-1", &[]),
        client("cluster.py", seed, "rc-2", &[]),
        client("cluster.js", seed, "io-1", &[]),
        client("cluster.js", seed, "io-2", &[]),
    ];
    // The stale-map client caches the map before a reshard moves half of A's slots to B.
    let stale = server
        .has_client_traffic_fields()
        .then(|| client("stale.py", seed, "stale-map", &[]));
    if stale.is_some() {
        reshard(&cluster, master_a, master_b, 2700);
        // Cluster-aware clients refresh their maps on their first MOVED.
        std::thread::sleep(Duration::from_secs(3));
    }

    // Each analysis samples CLIENT LIST one second apart: the stale-map client, which sends a
    // GET every 5 ms to random keys, can fall below the evidence it needs in one sample on a
    // loaded machine (seen once in two clean runs), so it has three analyses to be named; the
    // other suspects, and no one else, must be in the analysis that names it.
    let analyse = || {
        let out = check_clients(&cluster.seed(), true);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        report
    };
    let stale_named = |r: &Value| {
        suspects(r)
            .iter()
            .any(|(reason, _, _)| reason == "stale_map")
    };
    let mut report = analyse();
    for _ in 0..2 {
        if stale.is_none() || stale_named(&report) {
            break;
        }
        report = analyse();
    }
    let found = suspects(&report);
    let mut expected: BTreeSet<(String, String, String)> = [
        ("not_cluster_aware", "plain-app", master_a),
        ("replica_without_readonly", "replica-reader", replica_a),
    ]
    .iter()
    .map(|(r, n, a)| (r.to_string(), n.to_string(), a.to_string()))
    .collect();
    if stale.is_some() {
        expected.insert(("stale_map".into(), "stale-map".into(), master_a.clone()));
    }
    assert_eq!(found, expected, "{report:#}");
    let plain = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "plain-app")
        .unwrap();
    let conn = &plain["suspects"][0]["connection"];
    assert!(
        conn["addr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{conn}"
    );
    assert_eq!(conn["cmd"], "get");

    // The text form names the same clients with their fixes.
    let text = String::from_utf8_lossy(&check_clients(&cluster.seed(), false).stdout).into_owned();
    eprintln!("{text}");
    for words in [
        "[not cluster-aware] on",
        "fix: use a cluster client",
        "[reads a replica without READONLY] on",
        "name=plain-app",
    ] {
        assert!(text.contains(words), "{words:?} missing from:\n{text}");
    }
    assert!(
        !text.contains("name=rc-") && !text.contains("name=io-"),
        "{text}"
    );
}

fn twenty_cluster_clients_through_a_reshard_and_a_failover_are_never_suspects(server: Server) {
    require_clients();
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let shards = shards(&cluster);
    let seed = port_of(&shards[0].0);
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "200ms",
        "--timeout",
        "200ms",
        "--clients-interval",
        "1s",
    ]);
    let mut clients = Vec::new();
    for i in 0..10 {
        clients.push(client("cluster.py", seed, &format!("rc-{i}"), &["--slow"]));
        clients.push(client("cluster.js", seed, &format!("io-{i}"), &["--slow"]));
    }
    // A plain client keeps the analysis running (it only runs after redirects) and is the one
    // suspect there should be.
    clients.push(client("plain.py", seed, "plain-app", &[]));
    let mut reports = BTreeMap::new();
    reports_until(
        &exporter,
        Instant::now() + Duration::from_secs(5),
        &mut reports,
    );
    let reshard_from = slotwatch::clock::now_ms();
    reshard(&cluster, &shards[0].0, &shards[1].0, 1000);
    let reshard_to = slotwatch::clock::now_ms();
    let (_, replica) = &shards[2];
    let failover_from = slotwatch::clock::now_ms();
    cluster.node_at(replica).cmd(&["CLUSTER", "FAILOVER"]);
    exporter.wait_event("failover", Duration::from_secs(30), |e| {
        e["new_master"]["node"] == replica.as_str()
    });
    let failover_to = slotwatch::clock::now_ms();
    // Past the pause after a topology change (10 s), analyses run again.
    reports_until(
        &exporter,
        Instant::now() + Duration::from_secs(20),
        &mut reports,
    );
    let mut names = BTreeSet::new();
    let mut across = 0;
    for report in reports.values() {
        let to = report["taken_at_ms"].as_u64().unwrap();
        let from = to - report["interval_ms"].as_u64().unwrap();
        let found = suspects(report);
        let overlaps = [(reshard_from, reshard_to), (failover_from, failover_to)]
            .iter()
            .any(|(a, b)| from <= *b && to >= *a);
        if overlaps {
            across += 1;
            assert_eq!(
                found,
                BTreeSet::new(),
                "sampled across a change: {report:#}"
            );
        }
        names.extend(found.into_iter().map(|(r, n, _)| (r, n)));
    }
    let withdrawn = reports.values().filter(|r| !r["withdrawn"].is_null());
    eprintln!(
        "{} analyses, {across} across a change, {} withdrawn",
        reports.len(),
        withdrawn.count()
    );
    assert_eq!(
        names,
        [("not_cluster_aware".to_owned(), "plain-app".to_owned())].into(),
        "only the plain client may be a suspect"
    );
    assert!(reports.len() >= 5, "the analysis ran through the changes");
    let metrics = exporter.metrics();
    let flagged = support::sample(
        &metrics,
        "redis_cluster_suspect_clients",
        &[("reason", "not_cluster_aware"), ("node", &shards[0].0)],
    );
    assert_eq!(flagged, Some(1.0), "{metrics}");
    // The same run by check: the 20 cluster clients are not suspects.
    let out = check_clients(&cluster.seed(), true);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: BTreeSet<String> = suspects(&report).into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(found, ["plain-app".to_owned()].into(), "{report:#}");
}

fn a_client_without_a_slot_map_is_named_in_every_analysis(server: Server) {
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "500ms",
        "--timeout",
        "500ms",
        "--clients-interval",
        "2s",
    ]);
    let _go = goredis5(&cluster);
    let mut reports = BTreeMap::new();
    reports_until(
        &exporter,
        Instant::now() + Duration::from_secs(24),
        &mut reports,
    );
    let analyses: Vec<&Value> = reports
        .values()
        .filter(|r| r["withdrawn"].is_null() && !r["nodes"].as_array().unwrap().is_empty())
        .collect();
    assert!(
        analyses.len() >= 6,
        "{} analyses: {reports:#?}",
        analyses.len()
    );
    let replicas: BTreeSet<String> = shards(&cluster).into_iter().map(|(_, r)| r).collect();
    // Its connections carry no name (go-redis v5 cannot name them); nobody else's don't.
    let named = |report: &Value| {
        let found = suspects(report);
        let mine: Vec<&(String, String, String)> = found
            .iter()
            .filter(|(_, name, _)| name.is_empty())
            .collect();
        // Every connection of it is named for the one reason, at least one on a replica.
        mine.iter().all(|(reason, _, _)| reason == "no_slot_map")
            && mine.iter().any(|(_, _, node)| replicas.contains(node))
    };
    let missed: Vec<&&Value> = analyses.iter().filter(|r| !named(r)).collect();
    assert!(
        missed.is_empty(),
        "{} of {} analyses did not name it as no_slot_map, on a replica it sends keyed \
         commands to; the first: {:#}",
        missed.len(),
        analyses.len(),
        missed[0]
    );
    eprintln!("{:#}", analyses.last().unwrap());
    let metrics = exporter.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("redis_cluster_suspect_clients{")
                && l.contains("reason=\"no_slot_map\"")
                && !l.ends_with(" 0")),
        "{metrics}"
    );
}

server_matrix!(
    a_client_without_a_slot_map_is_named_in_every_analysis,
    plain_replica_and_cluster_clients_are_told_apart,
    twenty_cluster_clients_through_a_reshard_and_a_failover_are_never_suspects,
);
