//! Real client processes for the tests: the scripts of tests/clients (redis-py, ioredis) and
//! go-redis v5, each started and ready, plus the cluster operations the tests put them through.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{PYTHON, ProcessGuard, RedisCluster};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where scripts/test installed ioredis (`npm ci` of tests/clients/package-lock.json).
pub fn node_modules() -> PathBuf {
    let dir = repo().join("target/npm-clients/node_modules");
    assert!(
        dir.join("ioredis").is_dir(),
        "ioredis is not installed in {}: run scripts/test, which installs it",
        dir.display()
    );
    dir
}

pub fn require_clients() {
    let redis_py = Command::new(PYTHON)
        .args(["-c", "import redis.cluster"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        redis_py,
        "{PYTHON} cannot import redis.cluster: install Debian's python3-redis (scripts/test does)"
    );
    super::require("node");
}

/// A client process from tests/clients, started and ready (it prints `ready` once connected).
pub fn client(kind: &str, port: u16, name: &str, extra: &[&str]) -> ProcessGuard {
    let script = repo().join("tests/clients").join(kind);
    let mut cmd = if kind.ends_with(".js") {
        let mut c = Command::new("node");
        c.env("NODE_PATH", node_modules());
        c
    } else {
        Command::new(PYTHON)
    };
    cmd.arg(&script).arg(port.to_string()).arg(name).args(extra);
    started(&format!("{kind} {name}"), &mut cmd)
}

/// Starts `cmd`, a client that prints `ready` once connected, and waits for that.
pub fn started(what: &str, cmd: &mut Command) -> ProcessGuard {
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut guard = ProcessGuard::spawn(what, cmd);
    let stdout = guard.child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if line.trim() == "ready" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} did not get ready"));
    guard
}

/// go-redis v5, which keeps no slot map, given every node of `cluster` as a seed (as its
/// documentation has it: "a seed list of host:port addresses of cluster nodes").
pub fn goredis5(cluster: &RedisCluster) -> ProcessGuard {
    let bin = repo().join("target/go-clients/goredis5");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/test, which builds it from Debian's golang-gopkg-redis.v5-dev",
        bin.display()
    );
    let seeds: Vec<String> = cluster.nodes.iter().map(|n| n.addr()).collect();
    started("go-redis v5", Command::new(bin).arg(seeds.join(",")))
}

/// (master address, its replica's address) pairs, from node 0's view.
pub fn shards(cluster: &RedisCluster) -> Vec<(String, String)> {
    let nodes = cluster.nodes[0].cmd(&["CLUSTER", "NODES"]);
    let lines: Vec<Vec<&str>> = nodes.lines().map(|l| l.split(' ').collect()).collect();
    let addr = |f: &[&str]| f[1].split('@').next().unwrap().to_owned();
    lines
        .iter()
        .filter(|f| f[2].contains("master"))
        .filter_map(|m| {
            let replica = lines.iter().find(|f| f[3] == m[0])?;
            Some((addr(m), addr(replica)))
        })
        .collect()
}

pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// Moves `slots` slots from `from` to `to` with redis-cli, the way operators reshard.
pub fn reshard(cluster: &RedisCluster, from: &str, to: &str, slots: u32) {
    let id = |addr: &str| cluster.node_at(addr).id();
    reshard_ids(&cluster.nodes[0].addr(), &id(from), &id(to), slots);
}

/// `redis-cli --cluster reshard` of `slots` slots between two node IDs, through `seed`; needs
/// no cluster handle, so that a thread can run it.
pub fn reshard_ids(seed: &str, from: &str, to: &str, slots: u32) {
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", seed])
        .args(["--cluster-from", from, "--cluster-to", to])
        .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
        .args(["--cluster-pipeline", "100"])
        .output()
        .expect("run redis-cli --cluster reshard");
    assert!(
        out.status.success(),
        "reshard failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
