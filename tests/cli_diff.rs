//! `slotwatch diff` on dumps taken from a real cluster before and after a real reshard.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{RedisCluster, Server, slotwatch_bin, wait_for};

fn dump(cluster: &RedisCluster) -> String {
    cluster
        .nodes
        .iter()
        .map(|n| n.cmd(&["CLUSTER", "NODES"]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(slotwatch_bin())
        .arg("diff")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn diff_reports_a_real_reshard(server: Server) {
    let cluster = RedisCluster::on(server, 3, 0, &[]);
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.txt");
    std::fs::write(&before, dump(&cluster)).unwrap();

    let from = cluster.nodes[0].id();
    let to = cluster.nodes[1].id();
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &cluster.nodes[0].addr()])
        .args(["--cluster-from", &from, "--cluster-to", &to])
        .args(["--cluster-slots", "100", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cluster.wait_converged();
    // Wait until every node's view shows the move, so the dump is settled.
    wait_for("views to agree", Duration::from_secs(30), || {
        let d = dump(&cluster);
        let after = slotwatch::topology::parse::parse_dump(d.as_bytes()).ok()?;
        let t = slotwatch::topology::merge::merge(&after, 0);
        (t.disagreement.is_empty()
            && t.node(&slotwatch::topology::NodeId::parse(&to)?)?
                .slot_count
                > 5461)
            .then_some(())
    });
    let after = dir.path().join("after.txt");
    std::fs::write(&after, dump(&cluster)).unwrap();

    let out = run(&[before.to_str().unwrap(), after.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let a = cluster.nodes[0].addr();
    let b = cluster.nodes[1].addr();
    assert_eq!(text, format!("reshard: 100 slots 0-99 moved {a} -> {b}\n"));

    // The same through stdin and as JSON.
    let after_text = std::fs::read_to_string(&after).unwrap();
    let out = run(
        &[before.to_str().unwrap(), "-", "--json"],
        Some(&after_text),
    );
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = json.as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "reshard");
    assert_eq!(events[0]["slots"], 100);
    assert_eq!(events[0]["from"]["id"], from.as_str());
    assert_eq!(events[0]["to"]["node"], b.as_str());
    assert_eq!(events[0]["ranges"], serde_json::json!(["0-99"]));

    // A dump compared with itself: no change.
    let out = run(&[after.to_str().unwrap(), after.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "no change\n");
}

#[test]
fn diff_rejects_bad_input_with_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.txt");
    std::fs::write(
        &good,
        "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-16383\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-16383\n\
         e7d1eecce10fd6bb5eb35b9f99a514335d9ba9cb 127.0.0.1:30002@31002 master - 0 0 1 connected 99999\n",
    )
    .unwrap();
    let out = run(&[good.to_str().unwrap(), bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.txt: line 2: slot: expected"), "{err}");
    assert!(out.stdout.is_empty());

    let missing = run(&[good.to_str().unwrap(), "/nonexistent/dump"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .contains("/nonexistent/dump: cannot read")
    );

    let empty = run(&[good.to_str().unwrap(), "-"], Some("\n\n"));
    assert_eq!(empty.status.code(), Some(2));
}

server_matrix!(diff_reports_a_real_reshard);
