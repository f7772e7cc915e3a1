//! `slotwatch plan` on real clusters: keys skewed 70% onto one master (Valkey 9.1, Redis 8.2 with
//! CLUSTER SLOT-STATS, Redis 7.0 through COUNTKEYSINSLOT) and CPU skewed by a hot key range under
//! load (Valkey 9.1, Redis 8.2). The test runs exactly the commands the plan prints, then measures the
//! spread again; a balanced cluster gets "nothing to do". The poll's own reading of the stats
//! shows in /metrics and in `check`.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use slotwatch::slot::key_slot;
use support::servers::{Server, run};
use support::{Exporter, RedisCluster, RedisNode, sample, slotwatch_bin, wait_for};

const WAIT: Duration = Duration::from_secs(90);

/// A 3-master cluster of `server`, counting CPU and network per slot where the server can.
fn cluster(server: Server) -> RedisCluster {
    let stats = server.has_slot_stats();
    let extra: &[&str] = if stats {
        &["--cluster-slot-stats-enabled", "yes"]
    } else {
        &[]
    };
    RedisCluster::on(server, 3, 0, extra)
}

/// Each slot's owner, `ip:port`, as every master's own view agrees; `None` while they differ.
fn owners(cluster: &RedisCluster) -> Option<Vec<String>> {
    let mut agreed: Option<Vec<String>> = None;
    for node in cluster.nodes.iter() {
        let text = node.try_cmd(&["CLUSTER", "NODES"])?;
        let mut owner = vec![String::new(); 16384];
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 8 || !f[2].contains("master") {
                continue;
            }
            let endpoint = f[1].split('@').next()?.to_owned();
            for r in f[8..].iter().filter(|r| !r.starts_with('[')) {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
                for o in owner.get_mut(a..=b)? {
                    *o = endpoint.clone();
                }
            }
        }
        match &agreed {
            None => agreed = Some(owner),
            Some(a) if *a == owner => {}
            Some(_) => return None,
        }
    }
    agreed.filter(|o| o.iter().all(|e| !e.is_empty()))
}

/// Runs `commands` (one pipeline per node) against the slots' owners.
fn send(cluster: &RedisCluster, owner: &[String], keys: &[String], command: &str) {
    let mut by_node: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for k in keys {
        by_node
            .entry(owner[usize::from(key_slot(k.as_bytes()))].as_str())
            .or_default()
            .push(k);
    }
    for (endpoint, keys) in by_node {
        let mut conn = cluster.node_at(endpoint).connection();
        for chunk in keys.chunks(500) {
            let mut pipe = redis::pipe();
            for k in chunk {
                match command {
                    "SET" => pipe.cmd("SET").arg(k.as_str()).arg("v").ignore(),
                    _ => pipe.cmd(command).arg(k.as_str()).ignore(),
                };
            }
            pipe.query::<()>(&mut conn)
                .unwrap_or_else(|e| panic!("{command} on {endpoint}: {e}"));
        }
    }
}

/// Keys `user:N`, `n` of them, whose slots `wanted` accepts.
fn keys_where(n: usize, wanted: impl Fn(u16) -> bool) -> Vec<String> {
    (0..)
        .map(|i| format!("user:{i}"))
        .filter(|k| wanted(key_slot(k.as_bytes())))
        .take(n)
        .collect()
}

/// `slotwatch plan --json` with `args`.
fn plan(cluster: &RedisCluster, args: &[&str]) -> Value {
    let out = Command::new(slotwatch_bin())
        .args(["plan", "--seed", &cluster.seed(), "--json"])
        .args(args)
        .output()
        .expect("run slotwatch plan");
    assert!(
        out.status.success(),
        "plan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan --json is JSON")
}

/// The plan's text, which must carry every command of the JSON plan.
fn plan_text(cluster: &RedisCluster, args: &[&str]) -> String {
    let out = Command::new(slotwatch_bin())
        .args(["plan", "--seed", &cluster.seed()])
        .args(args)
        .output()
        .expect("run slotwatch plan");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `max / mean` of the plan's `before` or `after`.
fn ratio(spread: &Value) -> f64 {
    spread["max"].as_f64().unwrap() / spread["mean"].as_f64().unwrap()
}

/// The furthest master's distance from the mean, as a fraction of it.
fn off(spread: &Value) -> f64 {
    let (max, min, mean) = (
        spread["max"].as_f64().unwrap(),
        spread["min"].as_f64().unwrap(),
        spread["mean"].as_f64().unwrap(),
    );
    (max - mean).max(mean - min) / mean
}

/// Runs the plan's commands, exactly as printed, with `sh`; waits until every moved slot's
/// owner is its destination in every master's view.
fn apply(cluster: &RedisCluster, plan: &Value) {
    let moves = plan["moves"].as_array().unwrap();
    let script: Vec<&str> = moves
        .iter()
        .flat_map(|m| m["commands"].as_array().unwrap())
        .map(|c| c.as_str().unwrap())
        .collect();
    let out = Command::new("sh")
        .args(["-c", &script.join("\n")])
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "the plan's commands failed:\n{}\n{}{}",
        script.join("\n"),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("every moved slot at its destination", WAIT, || {
        let owner = owners(cluster)?;
        moves
            .iter()
            .all(|m| {
                let to = m["to"].as_str().unwrap();
                m["ranges"].as_array().unwrap().iter().all(|r| {
                    let r = r.as_str().unwrap();
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                    (a..=b).all(|s| owner[s] == to)
                })
            })
            .then_some(())
    });
}

/// 10,000 keys under 100 hash tags of 100 keys each, 70 tags in the first 400 slots of the
/// first master and 30 in the others' slots: 70% on one master, in few slots close together,
/// so that a plan moves few slots (each is a few redis-cli calls).
fn skew_keys(cluster: &RedisCluster) -> Vec<String> {
    let owner = owners(cluster).expect("the views agree");
    let first = owner[0].clone();
    let tags = |n: usize, wanted: &dyn Fn(usize) -> bool| {
        (0..)
            .map(|i| format!("{{tag:{i}}}"))
            .filter(|t| wanted(usize::from(key_slot(t.as_bytes()))))
            .take(n)
            .collect::<Vec<_>>()
    };
    let mut all = tags(70, &|s| s < 400 && owner[s] == first);
    all.extend(tags(30, &|s| owner[s] != first));
    let keys: Vec<String> = all
        .iter()
        .flat_map(|t| (0..100).map(move |j| format!("{t}:{j}")))
        .collect();
    send(cluster, &owner, &keys, "SET");
    keys
}

fn keys_plan_evens_a_70_percent_skew(server: Server) {
    let cluster = cluster(server);
    let balanced = plan(&cluster, &["--by", "slots"]);
    assert_eq!(balanced["moves"], serde_json::json!([]), "{balanced:#}");
    assert!(plan_text(&cluster, &["--by", "slots"]).contains("nothing to do"));

    let keys = skew_keys(&cluster);
    let before = plan(&cluster, &["--by", "keys"]);
    let source = if server.has_slot_stats() {
        "slot_stats"
    } else {
        "count_keys"
    };
    assert_eq!(before["source"], source, "{}", server.name());
    let total: u64 = before["masters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["load"].as_u64().unwrap())
        .sum();
    assert_eq!(total, keys.len() as u64, "every key counted once");
    assert!(off(&before["before"]) > 0.5, "{:#}", before["before"]);
    assert!(!before["moves"].as_array().unwrap().is_empty());
    let text = plan_text(&cluster, &["--by", "keys"]);
    for m in before["moves"].as_array().unwrap() {
        for c in m["commands"].as_array().unwrap() {
            assert!(text.contains(c.as_str().unwrap()), "{c} not in:\n{text}");
        }
    }
    let mechanism = if server.has_atomic_migration() {
        "migrateslots"
    } else {
        "setslot"
    };
    assert_eq!(before["moves"][0]["mechanism"], mechanism);

    apply(&cluster, &before);
    // The measured spread after, against the target; and the plan has nothing more to do.
    let after = wait_for("the moves to settle", WAIT, || {
        let p = plan(&cluster, &["--by", "keys"]);
        p["moves"].as_array().unwrap().is_empty().then_some(p)
    });
    eprintln!(
        "{}: keys max/mean {:.2} ({:.1}% off) before, {:.2} ({:.1}% off) after",
        server.name(),
        ratio(&before["before"]),
        off(&before["before"]) * 100.0,
        ratio(&after["before"]),
        off(&after["before"]) * 100.0
    );
    assert!(off(&after["before"]) <= 0.10, "{:#}", after["before"]);
    let total_after: u64 = after["masters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["load"].as_u64().unwrap())
        .sum();
    assert_eq!(total_after, total, "no key lost or doubled");
}

#[test]
fn keys_plan_on_valkey_9_1() {
    run(Server::Valkey91, keys_plan_evens_a_70_percent_skew);
}

#[test]
fn keys_plan_on_redis_8_2() {
    run(Server::Redis82, keys_plan_evens_a_70_percent_skew);
}

#[test]
fn keys_plan_on_redis_7_0_counts_keys_in_slots() {
    run(Server::Redis70, keys_plan_evens_a_70_percent_skew);
}

/// Per-master CPU time on the slots' commands, from every master's CLUSTER SLOT-STATS.
fn cpu_by_master(cluster: &RedisCluster) -> Vec<u64> {
    let masters: Vec<&RedisNode> = cluster.nodes.iter().collect();
    masters
        .iter()
        .map(|n| {
            let mut conn = n.connection();
            let reply: redis::Value = redis::cmd("CLUSTER")
                .arg("SLOT-STATS")
                .arg("SLOTSRANGE")
                .arg(0)
                .arg(16383)
                .query(&mut conn)
                .expect("CLUSTER SLOT-STATS");
            slotwatch::slot_stats::parse(&reply)
                .expect("parses")
                .iter()
                .map(|s| s.get(slotwatch::slot_stats::Metric::Cpu))
                .sum()
        })
        .collect()
}

/// The same load run: 40 rounds of GET over 400 hot keys in slots 100-499 and 400 keys
/// elsewhere, each sent to its slot's owner; returns the masters' CPU spread (max/mean).
fn load_run(cluster: &RedisCluster, hot: &[String], cold: &[String]) -> f64 {
    for n in &cluster.nodes {
        n.cmd(&["CONFIG", "RESETSTAT"]);
    }
    let owner = owners(cluster).expect("the views agree");
    for _ in 0..40 {
        send(cluster, &owner, hot, "GET");
        send(cluster, &owner, cold, "GET");
    }
    let cpu = cpu_by_master(cluster);
    let mean = cpu.iter().sum::<u64>() as f64 / cpu.len() as f64;
    *cpu.iter().max().unwrap() as f64 / mean
}

fn cpu_plan_spreads_a_hot_range(server: Server) {
    let cluster = cluster(server);
    let owner = owners(&cluster).expect("the views agree");
    let hot = keys_where(400, |s| (100..500).contains(&s));
    let cold = keys_where(400, |s| !(100..500).contains(&s));
    send(&cluster, &owner, &hot, "SET");
    send(&cluster, &owner, &cold, "SET");
    let before = load_run(&cluster, &hot, &cold);
    let p = plan(&cluster, &["--by", "cpu"]);
    assert!(!p["moves"].as_array().unwrap().is_empty(), "{p:#}");
    let hot_master = &owner[100];
    assert!(
        p["moves"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["from"] == hot_master.as_str()),
        "the hot master gives: {p:#}"
    );
    apply(&cluster, &p);
    let after = load_run(&cluster, &hot, &cold);
    eprintln!(
        "{}: CPU max/mean over the same load run: {before:.2} before the plan, {after:.2} after",
        server.name()
    );
    assert!(
        before > 1.4,
        "the hot range makes one master busy: {before:.2}"
    );
    assert!(
        after < before * 0.8,
        "the plan evens the CPU: {before:.2} -> {after:.2}"
    );
}

#[test]
fn cpu_plan_on_valkey_9_1() {
    run(Server::Valkey91, cpu_plan_spreads_a_hot_range);
}

#[test]
fn cpu_plan_on_redis_8_2() {
    run(Server::Redis82, cpu_plan_spreads_a_hot_range);
}

/// The poll's own readings: per-master keys and the spread in /metrics, the spread in `check`;
/// a server without the command says so instead.
fn the_poll_exports_the_load(server: Server) {
    let cluster = cluster(server);
    let keys = skew_keys(&cluster);
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "500ms",
        "--timeout",
        "500ms",
        "--slot-stats-interval",
        "1s",
    ]);
    let check = |args: &[&str]| {
        let out = Command::new(slotwatch_bin())
            .args(["check", "--seed", &cluster.seed(), "--interval", "200ms"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    if !server.has_slot_stats() {
        wait_for("the poll to ask", WAIT, || {
            exporter
                .metrics()
                .contains("redis_cluster_slots_spread")
                .then_some(())
        });
        let body = exporter.metrics();
        assert!(!body.contains("redis_cluster_slot_stats_keys{"), "{body}");
        assert!(!body.contains("redis_cluster_load_spread{"), "{body}");
        let text = check(&[]);
        assert!(text.contains("slot counts only"), "{text}");
        // Known from the version, never asked: no node counted an error reply.
        for n in &cluster.nodes {
            let errors = n.cmd(&["INFO", "errorstats"]);
            assert!(!errors.contains("errorstat_"), "{}: {errors}", n.addr());
        }
        return;
    }
    let body = wait_for("per-master keys in /metrics", WAIT, || {
        let body = exporter.metrics();
        let sum: f64 = cluster
            .nodes
            .iter()
            .filter_map(|n| {
                sample(
                    &body,
                    "redis_cluster_slot_stats_keys",
                    &[("node", &n.addr())],
                )
            })
            .sum();
        (sum == keys.len() as f64).then_some(body)
    });
    let spread = sample(&body, "redis_cluster_load_spread", &[("measure", "keys")]);
    assert!(
        spread.is_some_and(|s| (2.0..2.2).contains(&s)),
        "70% of the keys on one master of three: {spread:?}"
    );
    assert!(
        body.contains("redis_cluster_top_slot_keys{"),
        "the fullest slots are named"
    );
    let text = check(&[]);
    assert!(
        text.lines()
            .any(|l| l.contains("load") && l.contains("keys max/mean 2.")),
        "{text}"
    );
}

#[test]
fn the_poll_exports_the_load_on_valkey_8_1() {
    run(Server::Valkey81, the_poll_exports_the_load);
}

#[test]
fn the_poll_says_slot_counts_only_on_redis_7_0() {
    run(Server::Redis70, the_poll_exports_the_load);
}
