//! `slotwatch check` on a real cluster: healthy, with problems, explaining real MOVED and ASK
//! errors, and unreachable.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use slotwatch::slot::key_slot;
use support::{RedisCluster, Server, free_port, slotwatch_bin};

fn check(args: &[&str]) -> Output {
    Command::new(slotwatch_bin())
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A real redirect error for `key`, from a plain connection to `node`.
fn redirect_for(node: &support::RedisNode, key: &str) -> String {
    let mut conn = node.connection();
    let err = redis::cmd("GET")
        .arg(key)
        .query::<Option<String>>(&mut conn)
        .unwrap_err();
    // redis-rs renders MOVED as "Moved: 1234 host:port"; give the line as Redis sends it.
    let detail = err.detail().map(str::to_owned).unwrap_or_default();
    let kind = err.code().unwrap_or("").to_owned();
    format!("{kind} {detail}")
}

fn check_reports_health_keys_redirects_and_problems(server: Server) {
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let seed = cluster.seed();
    let seed_node = &cluster.nodes[0];

    // Healthy: exit 0, every master with its replica.
    let out = check(&["--seed", &seed]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = text(&out);
    assert!(report.contains("slots covered: 16384/16384"), "{report}");
    assert!(report.contains("all 6 answering nodes agree"), "{report}");
    assert!(report.trim_end().ends_with("verdict: healthy"), "{report}");

    // --key: owner and what a plain client on the seed gets, compared with what it really gets.
    let key = (0..)
        .map(|i| format!("order:{i}"))
        .find(|k| cluster.owner_of(key_slot(k.as_bytes())) != seed_node.addr())
        .unwrap();
    let slot = key_slot(key.as_bytes());
    let owner = cluster.owner_of(slot);
    let out = check(&["--seed", &seed, "--key", &key, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["healthy"], true);
    assert_eq!(json["masters"].as_array().unwrap().len(), 3);
    assert!(
        json["masters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["replicas"].as_array().unwrap().len() == 1)
    );
    let k = &json["keys"][0];
    assert_eq!(k["slot"], slot);
    assert_eq!(k["owner"], owner.as_str());
    let real = redirect_for(seed_node, &key);
    assert_eq!(real, format!("MOVED {slot} {owner}"));
    assert_eq!(
        k["seeds"][0]["answer"],
        real.as_str(),
        "the predicted reply is the real one"
    );

    // --moved with the real error: the named node owns the slot, the client did not follow.
    let out = check(&["--seed", &seed, "--moved", &real]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("the client did not follow it"),
        "{}",
        text(&out)
    );

    // Move that slot to another master: the same error is now a stale map.
    let masters: Vec<(String, String)> = seed_node
        .cmd(&["CLUSTER", "NODES"])
        .lines()
        .filter(|l| l.contains("master"))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_owned(), f[1].split('@').next().unwrap().to_owned())
        })
        .collect();
    let (new_id, new_addr) = masters.iter().find(|(_, a)| *a != owner).unwrap().clone();
    cluster.node_at(&new_addr).cmd(&[
        "CLUSTER",
        "SETSLOT",
        &slot.to_string(),
        "IMPORTING",
        &cluster.node_at(&owner).id(),
    ]);
    cluster.node_at(&owner).cmd(&[
        "CLUSTER",
        "SETSLOT",
        &slot.to_string(),
        "MIGRATING",
        &new_id,
    ]);
    // Mid-migration: a real ASK for a key that is not on the source, explained as normal.
    let missing = (0..)
        .map(|i| format!("gone:{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap();
    let ask = redirect_for(cluster.node_at(&owner), &missing);
    assert_eq!(ask, format!("ASK {slot} {new_addr}"));
    let out = check(&["--seed", &seed, "--moved", &ask, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an open migration is reported as a problem"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["redirect"]["verdict"], "migrating");
    assert_eq!(json["migrations"][0]["slot"], slot);
    assert_eq!(json["migrations"][0]["to"]["node"], new_addr.as_str());
    for (_, addr) in &masters {
        cluster
            .node_at(addr)
            .cmd(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &new_id]);
    }
    cluster.wait_converged();
    // Replicas learn the new owner by gossip; until then check rightly reports disagreement.
    let out = support::wait_for(
        "the views to agree",
        std::time::Duration::from_secs(30),
        || {
            let out = check(&["--seed", &seed, "--moved", &real, "--json"]);
            (out.status.code() == Some(0)).then_some(out)
        },
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["redirect"]["verdict"], "stale_map");
    assert!(
        json["redirect"]["explanation"]
            .as_str()
            .unwrap()
            .contains(&new_addr)
    );

    // An uncovered slot: DELSLOTS only changes the node it is sent to, so send it to all, the
    // owner first. A node without an owner for a slot takes the claim of the next heartbeat
    // that makes one, so until the owner stops claiming it the others may take it back: send
    // again until the views agree.
    let owner_first = std::iter::once(cluster.node_at(&new_addr))
        .chain(cluster.nodes.iter().filter(|n| n.addr() != new_addr));
    let owner_first: Vec<_> = owner_first.collect();
    let out = support::wait_for(
        "the uncovered slot",
        std::time::Duration::from_secs(30),
        || {
            for n in &owner_first {
                let _ = n.try_cmd(&["CLUSTER", "DELSLOTS", &slot.to_string()]);
            }
            let out = check(&["--seed", &seed]);
            text(&out)
                .contains("slots covered: 16383/16384")
                .then_some(out)
        },
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains(&format!(
            "[FAIL] slots covered: 16383/16384 (uncovered: {slot})"
        )),
        "{report}"
    );
    // With cluster-require-full-coverage (the default) one uncovered slot takes the whole
    // cluster down: every node says so itself once its own view has no owner for the slot,
    // and check names them all. A node whose view a late heartbeat gave the slot back to still
    // says ok, so the slot is deleted again until every node agrees, as above.
    let state = support::wait_for(
        "every node to say cluster_state:fail",
        std::time::Duration::from_secs(30),
        || {
            for n in &owner_first {
                let _ = n.try_cmd(&["CLUSTER", "DELSLOTS", &slot.to_string()]);
            }
            let report = text(&check(&["--seed", &seed]));
            let line = report
                .lines()
                .find(|l| l.starts_with("[FAIL] cluster state: "))?;
            cluster
                .nodes
                .iter()
                .all(|n| line.contains(&n.addr()))
                .then_some(report)
        },
    );
    assert!(
        state.trim_end().ends_with("verdict: 2 problem(s)"),
        "{state}"
    );
}

#[test]
fn check_usage_and_connection_errors_exit_2() {
    let closed = format!("redis://127.0.0.1:{}", free_port());
    let out = check(&["--seed", &closed]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out);
    assert!(
        err.contains("cannot reach the cluster") && err.contains("connection failed"),
        "{err}"
    );
    let out = check(&["--seed", &closed, "--moved", "MOVED nine 1.2.3.4:5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--moved"), "{}", text(&out));
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(2));
}

server_matrix!(check_reports_health_keys_redirects_and_problems);

/// The same on Redis 6.2, the oldest server with INFO errorstats.
#[test]
fn check_on_redis_6_2() {
    support::servers::run(
        Server::Redis62,
        check_reports_health_keys_redirects_and_problems,
    )
}
