//! The README's ACL lines are enough: applied to every server of the matrix, `serve` polls
//! with no error and sees atomic migrations where the server has them, and `check` and
//! `check --clients` run, all as that user.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Exporter, RedisCluster, Server, slotwatch_bin};

const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "s3cret-for-slotwatch";

/// The `ACL SETUSER` lines of the README's Permissions section, in order.
fn readme_acl_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let block = readme
        .split("<!-- acl-lines -->")
        .nth(1)
        .expect("README has an <!-- acl-lines --> block");
    let lines: Vec<String> = block
        .lines()
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(str::to_owned)
        .collect();
    assert!(lines.len() == 4 && lines.iter().all(|l| l.starts_with("ACL SETUSER slotwatch")));
    lines
}

fn the_readme_acl_is_enough(server: Server) {
    let cluster = RedisCluster::on(server, 3, 0, &[]);
    let seed = cluster.seed();
    let lines = readme_acl_lines();
    for node in &cluster.nodes {
        for (i, line) in lines.iter().enumerate() {
            let line = line.replace("CHANGE-ME", PASSWORD);
            let args: Vec<&str> = line.split(' ').collect();
            let reply = node.try_cmd(&args).expect("node answers");
            // The second line is for Valkey 9+, the third for Redis 8.4+ (not in the matrix),
            // the fourth for Valkey 8+ and Redis 8.2+; other servers from Redis 7 on refuse
            // them (Redis 6.2 does not check subcommand names, and takes anything).
            let for_this_server = match i {
                0 => true,
                1 => server.has_atomic_migration(),
                3 => server.has_slot_stats(),
                _ => false,
            };
            if for_this_server {
                assert_eq!(reply, "OK", "{line} on {}", server.name());
            } else if server.major_minor() >= (7, 0) {
                assert_ne!(reply, "OK", "{line}: {} has no such command", server.name());
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let password_file = password_file.display().to_string();
    let auth = ["--username", "slotwatch", "--password-file", &password_file];

    let mut args = vec![
        "--seed",
        &seed,
        "--poll-interval",
        "200ms",
        "--timeout",
        "200ms",
    ];
    args.extend(auth);
    let exporter = Exporter::start(&args);
    exporter.wait_metric("slotwatch up", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    // A few polls, then no error of any kind and no refused command in the log.
    let polls = exporter.wait_metric("polls", "slotwatch_polls_total", &[], WAIT, |v| v >= 10.0);
    assert!(polls >= 10.0);
    let metrics = exporter.metrics();
    assert!(
        !metrics.contains("slotwatch_poll_errors_total{"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("poll_errors"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let log = exporter.log_text();
    for refused in ["NOPERM", "GETSLOTMIGRATIONS", "cannot poll"] {
        assert!(!log.contains(refused), "{refused} in the log:\n{log}");
    }

    let check = |extra: &[&str]| {
        Command::new(slotwatch_bin())
            .args(["check", "--seed", &seed])
            .args(auth)
            .args(extra)
            .output()
            .unwrap()
    };
    // Everything is read: the one failing line is the redundancy of masters created without
    // replicas, which exits 1 by design.
    let out = check(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let failing: Vec<&str> = text.lines().filter(|l| l.starts_with("[FAIL]")).collect();
    assert!(
        failing.len() == 1 && failing[0].starts_with("[FAIL] redundancy: 3 master(s)"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let out = check(&["--clients", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unread"], serde_json::json!({}), "{report:#}");
    assert_eq!(report["nodes"].as_array().unwrap().len(), 3, "{report:#}");
}

server_matrix!(the_readme_acl_is_enough);

/// Redis 6.2 takes the same first line (ACL subcommands came in 6.0).
#[test]
fn the_readme_acl_is_enough_on_redis_6_2() {
    support::servers::run(Server::Redis62, the_readme_acl_is_enough)
}
