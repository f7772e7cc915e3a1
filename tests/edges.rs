//! The command line's edges: `--check-config` rejects what `serve` would, every message names
//! a flag that exists, and `check --json` answers in JSON even when it cannot reach the cluster.
//! No server is needed.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::{free_port, slotwatch_bin};

fn slotwatch(args: &[&str]) -> Output {
    Command::new(slotwatch_bin()).args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_config_rejects_what_serve_would() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let missing = dir.path().join("no-such-password");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--seed".into(),
                "rediss://127.0.0.1:1".into(),
                "--tls-ca-file".into(),
                not_pem.display().to_string(),
            ],
            "ca.pem",
        ),
        (
            vec![
                "--seed".into(),
                "redis://127.0.0.1:1".into(),
                "--password-file".into(),
                missing.display().to_string(),
            ],
            "no-such-password",
        ),
    ];
    for (args, named) in cases {
        let mut full = vec!["serve", "--check-config"];
        full.extend(args.iter().map(String::as_str));
        let out = slotwatch(&full);
        assert_eq!(out.status.code(), Some(2), "{full:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{full:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "not reported OK");
    }
}

#[test]
fn every_message_names_a_flag_that_exists() {
    let seed = "redis://127.0.0.1:1";
    let cases: &[(&[&str], &str)] = &[
        (&["--poll-interval", "10ms"], "--poll-interval"),
        (&["--timeout", "6s"], "--timeout"),
        (&["--full-views-per-poll", "0"], "--full-views-per-poll"),
        (&["--cluster-name", ""], "--cluster-name"),
        (&["--tls-ca-file", "/ca.pem"], "--tls-ca-file"),
        (&["--events-capacity", "0"], "--events-capacity"),
        (&["--web.max-connections", "0"], "--web.max-connections"),
    ];
    let help = String::from_utf8_lossy(&slotwatch(&["serve", "--help"]).stdout).into_owned();
    for (args, flag) in cases {
        let mut full = vec!["serve", "--check-config", "--seed", seed];
        full.extend_from_slice(args);
        let out = slotwatch(&full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{full:?}: {err}");
        assert!(err.contains(flag), "{full:?} should name {flag}: {err}");
        // Every --flag a message names is one `serve --help` lists.
        for word in err.split(|c: char| c.is_whitespace() || c == '/' || c == ':' || c == '\'') {
            let word =
                word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.');
            if word.starts_with("--") && word.len() > 2 {
                assert!(help.contains(word), "{word} is not a flag: {err}");
            }
        }
    }
}

#[test]
fn check_json_answers_in_json_when_the_cluster_is_unreachable() {
    let seed = format!("redis://127.0.0.1:{}", free_port());
    let out = slotwatch(&["check", "--json", "--seed", &seed, "--timeout", "200ms"]);
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(json["kind"], "unreachable", "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("connection failed"),
        "{json}"
    );
    let out = slotwatch(&["check", "--json", "--seed", &seed, "--moved", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "usage", "{json}");
}
