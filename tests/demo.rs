//! `scripts/demo` start, reshard and stop, on ports of the test's own: every URL the demo and
//! the README print answers 200, `/events` shows the reshard, and stop leaves nothing running.
//! A stale client leads to an alert notification delivered to the demo's webhook receiver.
//! Also: a taken port is named, and nothing starts.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use support::{free_port, http_get, slotwatch_bin, wait_for};

struct Demo {
    dir: tempfile::TempDir,
    redis: u16,
    slotwatch: u16,
    prometheus: u16,
    alertmanager: u16,
    webhook: u16,
}

impl Demo {
    fn new() -> Demo {
        Demo {
            dir: tempfile::tempdir().unwrap(),
            redis: free_run_of_six(),
            slotwatch: free_port(),
            prometheus: free_port(),
            alertmanager: free_port(),
            webhook: free_port(),
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("demo")
    }

    fn run(&self, cmd: &str) -> Output {
        Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo"))
            .arg(cmd)
            .env("DEMO_DIR", self.state_dir())
            .env("DEMO_REDIS_PORT", self.redis.to_string())
            .env("DEMO_SLOTWATCH_PORT", self.slotwatch.to_string())
            .env("DEMO_PROMETHEUS_PORT", self.prometheus.to_string())
            .env("DEMO_ALERTMANAGER_PORT", self.alertmanager.to_string())
            .env("DEMO_WEBHOOK_PORT", self.webhook.to_string())
            .env("SLOTWATCH_BIN", slotwatch_bin())
            .output()
            .unwrap()
    }

    fn pids(&self) -> Vec<String> {
        std::fs::read_dir(self.state_dir())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .map(|p| p.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Demo {
    /// Stops the demo even when the test fails half-way.
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

/// Six consecutive loopback ports, and their cluster bus ports (+10000), all free, and not
/// handed to another test of this process (tests run in parallel threads, and a run that
/// is free now may be about to be taken by the other demo).
fn free_run_of_six() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut seed = std::process::id() as u64 * 7919 + 17;
    loop {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Bus ports (base + 10000) stay below 32768, where Linux's ephemeral ports begin,
        // so that no connection or free_port() of another test can take one meanwhile.
        let base = 20000 + (seed >> 33) as u16 % 2700;
        if handed_out.iter().any(|b| b.abs_diff(base) < 6) {
            continue;
        }
        let all: Vec<u16> = (0..6).flat_map(|i| [base + i, base + i + 10000]).collect();
        let held: Vec<_> = all
            .iter()
            .map(|p| TcpListener::bind(("127.0.0.1", *p)))
            .collect();
        if held.iter().all(Result::is_ok) {
            handed_out.push(base);
            return base;
        }
    }
}

fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The demo's default ports, as the README prints them, and this test's port for each.
fn port_map(demo: &Demo) -> [(u16, u16); 4] {
    [
        (19121, demo.slotwatch),
        (9090, demo.prometheus),
        (9093, demo.alertmanager),
        (7001, demo.redis),
    ]
}

/// Every `http://127.0.0.1:PORT/...` URL in `text`, as (port, path).
fn loopback_urls(text: &str) -> Vec<(u16, String)> {
    let mut urls = Vec::new();
    for (i, _) in text.match_indices("http://127.0.0.1:") {
        let rest = &text[i + "http://127.0.0.1:".len()..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '`' | '"' | '<' | '>'))
            .unwrap_or(rest.len());
        let url = rest[..end].trim_end_matches(['.', ',']);
        let (port, path) = url.split_at(url.find('/').unwrap_or(url.len()));
        if let Ok(port) = port.parse() {
            urls.push((port, if path.is_empty() { "/" } else { path }.to_owned()));
        }
    }
    urls
}

/// GET that follows up to five redirects on loopback, as a browser would; (status, body).
fn browse(port: u16, path: &str) -> Option<(u16, String)> {
    let (mut port, mut path) = (port, path.to_owned());
    for _ in 0..5 {
        let (status, head, body) = http_get(port, &path)?;
        if !(300..400).contains(&status) {
            return Some((status, body));
        }
        let location = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
            })?
            .1
            .trim()
            .to_owned();
        if let Some(rest) = location.strip_prefix("http://127.0.0.1:") {
            let slash = rest.find('/').unwrap_or(rest.len());
            port = rest[..slash].parse().ok()?;
            path = rest[slash..].to_owned();
        } else {
            path = location;
        }
    }
    None
}

#[test]
fn loopback_urls_are_found_in_text() {
    let text = "see http://127.0.0.1:9090/classic/alerts and (http://127.0.0.1:19121/events).\n\
                `http://127.0.0.1:9093/` http://127.0.0.1:9090/graph?g0.expr=a:b:c x";
    assert_eq!(
        loopback_urls(text),
        [
            (9090, "/classic/alerts".to_owned()),
            (19121, "/events".to_owned()),
            (9093, "/".to_owned()),
            (9090, "/graph?g0.expr=a:b:c".to_owned()),
        ]
    );
}

#[test]
fn demo_start_reshard_stop() {
    let demo = Demo::new();
    let started = demo.run("start");
    assert!(started.status.success(), "{}", out_text(&started));
    let text = out_text(&started);
    for url in [
        format!("http://127.0.0.1:{}/metrics", demo.slotwatch),
        "/alerts\n".to_owned(),
        format!("http://127.0.0.1:{}/", demo.alertmanager),
    ] {
        assert!(text.contains(&url), "URL {url} is printed:\n{text}");
    }
    // Every URL the demo prints answers 200 with the installed Prometheus (Debian's 2.42 has
    // only the classic UI: its /alerts is a 404).
    let printed = loopback_urls(&text);
    assert!(printed.len() >= 5, "{printed:?}");
    for (port, path) in &printed {
        let got = browse(*port, path).map(|(status, _)| status);
        assert_eq!(
            got,
            Some(200),
            "http://127.0.0.1:{port}{path}, printed by the demo"
        );
    }
    // So does every demo URL in the README, on this test's ports.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut in_readme = 0;
    for (port, path) in loopback_urls(&readme) {
        let Some((_, ours)) = port_map(&demo).into_iter().find(|(p, _)| *p == port) else {
            continue;
        };
        in_readme += 1;
        let got = browse(ours, &path).map(|(status, _)| status);
        assert_eq!(got, Some(200), "README's http://127.0.0.1:{port}{path}");
    }
    assert!(in_readme >= 3, "the README's demo URLs");
    // The check command it prints names the demo's cluster, and works.
    let check = text
        .lines()
        .map(str::trim)
        .find(|l| l.contains("slotwatch check "))
        .expect("a slotwatch check command");
    assert!(check.contains("--cluster-name demo"), "{check}");
    let words: Vec<&str> = check.split_whitespace().collect();
    let out = Command::new(words[0]).args(&words[1..]).output().unwrap();
    let report = out_text(&out);
    assert!(out.status.success(), "{check}\n{report}");
    assert!(report.starts_with("cluster demo: 6 nodes"), "{report}");
    // Prometheus loaded the shipped rules and scrapes slotwatch.
    wait_for(
        "Prometheus to scrape slotwatch",
        Duration::from_secs(60),
        || {
            let (_, _, body) = http_get(demo.prometheus, "/api/v1/targets")?;
            body.contains("\"health\":\"up\"").then_some(())
        },
    );
    let (_, _, rules) = http_get(demo.prometheus, "/api/v1/rules").unwrap();
    assert!(rules.contains("RedisClusterRedirectsPersisting"), "{rules}");

    let reshard = demo.run("reshard");
    assert!(reshard.status.success(), "{}", out_text(&reshard));
    let events = wait_for("a reshard in /events", Duration::from_secs(60), || {
        let (_, _, body) = http_get(demo.slotwatch, "/events")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let moved: u64 = v
            .as_array()?
            .iter()
            .filter(|e| e["kind"] == "reshard")
            .map(|e| e["slots"].as_u64().unwrap_or(0))
            .sum();
        (moved == 500).then_some(v)
    });
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["cluster"] == "demo")
    );

    let pids = demo.pids();
    assert!(
        pids.len() >= 10,
        "redis x6, slotwatch, webhook, prometheus, alertmanager: {pids:?}"
    );
    let stopped = demo.run("stop");
    assert!(stopped.status.success(), "{}", out_text(&stopped));
    for pid in pids {
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "process {pid} survived stop");
    }
    assert!(!demo.state_dir().exists(), "stop removes the directory");
    assert!(http_get(demo.slotwatch, "/healthz").is_none());
}

#[test]
fn demo_refuses_taken_ports() {
    let demo = Demo::new();
    let taken = TcpListener::bind(("127.0.0.1", demo.prometheus)).unwrap();
    let out = demo.run("start");
    assert!(!out.status.success());
    let text = out_text(&out);
    assert!(
        text.contains(&format!("port(s) already in use: {}", demo.prometheus)),
        "{text}"
    );
    assert!(demo.pids().is_empty(), "nothing was started");
    drop(taken);
}

#[test]
fn demo_stale_client_delivers_a_notification() {
    let demo = Demo::new();
    let started = demo.run("start");
    assert!(started.status.success(), "{}", out_text(&started));
    let none = demo.run("notifications");
    assert!(
        out_text(&none).contains("no notifications yet"),
        "{}",
        out_text(&none)
    );

    let stale = demo.run("stale-client");
    assert!(stale.status.success(), "{}", out_text(&stale));
    let node = format!("127.0.0.1:{}", demo.redis);
    // The demo's rules: 1-minute grace window and `for`, 5s evaluation, 5s group_wait.
    let printed = wait_for(
        "a delivered RedisClusterRedirectsPersisting notification",
        Duration::from_secs(300),
        || {
            let out = demo.run("notifications");
            let text = out_text(&out);
            (out.status.success() && text.contains("RedisClusterRedirectsPersisting"))
                .then_some(text)
        },
    );
    println!("{printed}");
    assert!(
        printed.contains("receiver chat (/chat)  firing"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "RedisClusterRedirectsPersisting [warning] firing  cluster=demo node={node} type=moved"
        )),
        "{printed}"
    );
    assert!(printed.contains(&format!("Node {node} of cluster demo has been answering")));

    // The notification as Alertmanager sent it: the links back work (--web.external-url).
    let recorded = std::fs::read_to_string(demo.state_dir().join("notifications.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(recorded.lines().next().unwrap()).unwrap();
    let n = &first["notification"];
    assert_eq!(n["receiver"], "chat");
    assert_eq!(
        n["externalURL"],
        format!("http://127.0.0.1:{}", demo.alertmanager)
    );
    let alert = n["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "RedisClusterRedirectsPersisting")
        .expect("the alert in the notification");
    assert_eq!(alert["labels"]["node"], node.as_str());
    let source = alert["generatorURL"].as_str().unwrap();
    let (port, path) = loopback_urls(source)
        .pop()
        .expect("a loopback generatorURL");
    assert_eq!(port, demo.prometheus, "{source}");
    assert_eq!(
        browse(port, &path).map(|(status, _)| status),
        Some(200),
        "{source}"
    );
}
