//! What the cluster risks on its next failure, on real clusters: a replica frozen under writes
//! falls behind and catches up, a replica killed leaves its master unredundant until it is
//! back, and replicas placed on their master's host (another loopback address stands for
//! another machine) or in its zone only are flagged, exactly those.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::servers::{Server, run};
use support::{Exporter, RedisCluster, RedisNode, page_nodes, slotwatch_bin, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// `slotwatch check` of the cluster behind `seed`: exit code and text.
fn check(seed: &str) -> (Option<i32>, String) {
    let out = Command::new(slotwatch_bin())
        .args(["check", "--seed", seed])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The line of `check`'s text about `topic` (`redundancy`, `replication`, `placement`).
fn line<'a>(text: &'a str, topic: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(&format!(" {topic}: ")))
        .unwrap_or_else(|| panic!("no {topic} line:\n{text}"))
}

/// Index of the first replica in `cluster.nodes`, and its master's index.
fn a_replica_and_its_master(cluster: &RedisCluster) -> (usize, usize) {
    let view = cluster.nodes[0].cmd(&["CLUSTER", "NODES"]);
    for l in view.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if f[2].contains("slave") {
            let replica = f[1].split('@').next().unwrap();
            let master = cluster.node_by_id(f[3]).addr();
            let at = |e: &str| cluster.nodes.iter().position(|n| n.addr() == e).unwrap();
            return (at(replica), at(&master));
        }
    }
    panic!("no replica in\n{view}");
}

/// A hash tag whose keys live on `master` (its first slot range).
fn tag_on(master: &RedisNode) -> String {
    let view = master.cmd(&["CLUSTER", "NODES"]);
    let mine = view.lines().find(|l| l.contains("myself")).unwrap();
    let first = mine.split(' ').nth(8).unwrap();
    let (a, b) = first.split_once('-').unwrap_or((first, first));
    let (a, b): (u16, u16) = (a.parse().unwrap(), b.parse().unwrap());
    (0..)
        .map(|i| format!("t{i}"))
        .find(|t| (a..=b).contains(&slotwatch::slot::key_slot(t.as_bytes())))
        .unwrap()
}

/// Writes 4 KiB values to `master` until dropped.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(master: &RedisNode) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let tag = tag_on(master);
        let mut conn = master.connection();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let value = "x".repeat(4096);
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let _: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(format!("{{{tag}}}:{}", i % 1000))
                    .arg(&value)
                    .query(&mut conn);
                i += 1;
            }
        });
        Writer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn a_replica_frozen_then_killed(server: Server) {
    let mut cluster = RedisCluster::on(server, 3, 1, &[]);
    let (r, m) = a_replica_and_its_master(&cluster);
    let (replica, master) = (cluster.nodes[r].addr(), cluster.nodes[m].addr());
    let exporter = Exporter::polling_fast(&cluster.seed());
    let ready = [("node", master.as_str()), ("state", "ready")];
    let link = [("node", replica.as_str()), ("master", master.as_str())];
    exporter.wait_metric(
        "a ready replica",
        "redis_cluster_master_replicas",
        &ready,
        WAIT,
        |v| v == 1.0,
    );
    exporter.wait_metric(
        "the link up",
        "redis_cluster_replica_link_up",
        &link,
        WAIT,
        |v| v == 1.0,
    );
    let (code, text) = check(&cluster.seed());
    assert!(line(&text, "redundancy").starts_with("[ok]"), "{text}");
    assert!(line(&text, "replication").starts_with("[ok]"), "{text}");
    assert_eq!(code, Some(0), "{text}");

    // Frozen under writes, the replica acknowledges nothing: its master's view of it falls
    // behind by what was written since.
    {
        let _writes = Writer::start(&cluster.nodes[m]);
        cluster.nodes[r].signal(libc::SIGSTOP);
        let lag = exporter.wait_metric(
            "the frozen replica's lag to grow",
            "redis_cluster_replica_lag_bytes",
            &link,
            WAIT,
            |v| v > 1_000_000.0,
        );
        assert!(lag > 1_000_000.0);
        let rows = page_nodes(&exporter.get("/cluster/default"));
        let cell = &rows[&replica].0["replication"];
        assert!(
            cell.ends_with("bytes behind"),
            "the page shows the lag: {cell}"
        );
        cluster.nodes[r].signal(libc::SIGCONT);
        exporter.wait_metric(
            "the replica to catch up under writes",
            "redis_cluster_replica_lag_bytes",
            &link,
            WAIT,
            |v| v < 1_000_000.0,
        );
    }
    exporter.wait_metric(
        "the replica ready again",
        "redis_cluster_master_replicas",
        &ready,
        WAIT,
        |v| v == 1.0,
    );

    // Killed, it leaves its master with nothing to fail over to.
    cluster.nodes[r].stop();
    let failing = [("node", master.as_str()), ("state", "failing")];
    exporter.wait_metric(
        "the replica failing",
        "redis_cluster_master_replicas",
        &failing,
        WAIT,
        |v| v == 1.0,
    );
    exporter.wait_metric(
        "no ready replica",
        "redis_cluster_master_replicas",
        &ready,
        WAIT,
        |v| v == 0.0,
    );
    let (code, text) = check(&cluster.seed());
    let redundancy = line(&text, "redundancy");
    assert!(redundancy.starts_with("[FAIL]"), "{text}");
    assert!(
        redundancy.contains(&format!("{master} ("))
            && redundancy.contains(&format!("{replica} failing")),
        "{redundancy}"
    );
    assert_eq!(code, Some(1), "{text}");
    let rows = page_nodes(&exporter.get("/cluster/default"));
    let cell = &rows[&master].0["replication"];
    assert!(cell.starts_with("no replica ready"), "{cell}");

    cluster.nodes[r].restart();
    exporter.wait_metric(
        "the restarted replica ready",
        "redis_cluster_master_replicas",
        &ready,
        WAIT,
        |v| v == 1.0,
    );
    wait_for("check to see the replica back", WAIT, || {
        let (code, text) = check(&cluster.seed());
        (code == Some(0) && line(&text, "redundancy").starts_with("[ok]")).then_some(())
    });
}

#[test]
fn redis_7_0_a_replica_frozen_then_killed() {
    run(Server::Redis70, a_replica_frozen_then_killed);
}

/// A node of `server` on `host` in `zone`, in `dir`.
fn node_at(server: Server, dir: &std::path::Path, host: &str, zone: &str) -> RedisNode {
    RedisNode::start_at(server, dir, host, &["--availability-zone", zone])
}

fn redis_cli(args: &[&str]) {
    let out = Command::new("redis-cli").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "redis-cli {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Adds `replica` to the cluster as a replica of `master`.
fn add_replica(replica: &RedisNode, master: &RedisNode) {
    redis_cli(&[
        "--cluster",
        "add-node",
        &replica.addr(),
        &master.addr(),
        "--cluster-slave",
        "--cluster-master-id",
        &master.id(),
    ]);
}

fn placement(server: Server) {
    support::require("redis-cli");
    let dir = tempfile::tempdir().unwrap();
    // Three hosts; each shard's replica on the next host and in the next zone.
    let masters: Vec<RedisNode> = [
        ("127.0.0.2", "az1"),
        ("127.0.0.3", "az2"),
        ("127.0.0.4", "az3"),
    ]
    .iter()
    .map(|(h, z)| node_at(server, dir.path(), h, z))
    .collect();
    let mut create = vec!["--cluster", "create"];
    let addrs: Vec<String> = masters.iter().map(RedisNode::addr).collect();
    create.extend(addrs.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    redis_cli(&create);
    let replicas: Vec<RedisNode> = [
        ("127.0.0.3", "az2"),
        ("127.0.0.4", "az3"),
        ("127.0.0.2", "az1"),
    ]
    .iter()
    .map(|(h, z)| node_at(server, dir.path(), h, z))
    .collect();
    for (r, m) in replicas.iter().zip(&masters) {
        add_replica(r, m);
    }
    let mut nodes = masters;
    nodes.extend(replicas);
    let mut cluster = RedisCluster {
        nodes,
        dir,
        replicas: 3,
    };
    cluster.wait_converged();
    let seed = cluster.seed();
    let (code, text) = check(&seed);
    assert!(
        line(&text, "placement").starts_with("[ok]"),
        "distinct hosts and zones:\n{text}"
    );
    assert!(!text.contains("[info] all"), "no single-host note:\n{text}");
    assert_eq!(code, Some(0), "{text}");

    // A second replica of the master on 127.0.0.3, on that same host; and the third shard's
    // replica moved into its master's zone.
    let (b, c1) = (cluster.nodes[1].addr(), cluster.nodes[5].addr());
    let extra = node_at(server, cluster.dir.path(), "127.0.0.3", "az2");
    add_replica(&extra, &cluster.nodes[1]);
    cluster.nodes[5].cmd(&["CONFIG", "SET", "availability-zone", "az3"]);
    let extra_addr = extra.addr();
    cluster.nodes.push(extra);
    cluster.replicas = 4;
    cluster.wait_converged();
    let (code, text) = check(&seed);
    eprintln!("{text}");
    let placed = line(&text, "placement");
    assert!(placed.starts_with("[FAIL]"), "{text}");
    assert!(
        placed.contains(&format!(
            "replica {extra_addr} and its master {b} on 127.0.0.3"
        )),
        "{placed}"
    );
    assert!(
        placed.contains("1 replica(s) share a host"),
        "exactly one pair: {placed}"
    );
    let c = cluster.nodes[2].addr();
    assert!(
        placed.contains(&format!("1 shard(s) are in one availability zone, so one zone outage takes them: {c} and its 1 replica(s) in az3")),
        "exactly the third shard, whose replica {c1} joined its zone: {placed}"
    );
    assert_eq!(code, Some(1), "{text}");

    // The cluster page marks exactly those two, and `/` names both problems.
    let exporter = Exporter::polling_fast(&seed);
    exporter.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    let marked: BTreeSet<(String, String)> = page_nodes(&exporter.get("/cluster/default"))
        .into_iter()
        .flat_map(|(node, (_, risks))| risks.into_iter().map(move |r| (node.clone(), r)))
        .collect();
    assert_eq!(
        marked,
        BTreeSet::from([(extra_addr, "colocated".into()), (c, "single_zone".into())])
    );
    let landing = exporter.get("/");
    assert!(
        landing.contains("share a host") && landing.contains("one availability zone"),
        "{landing}"
    );
}

#[test]
fn valkey_8_1_placement() {
    run(Server::Valkey81, placement);
}
