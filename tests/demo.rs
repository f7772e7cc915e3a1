//! `scripts/demo` start, reshard and stop, on ports of the test's own: `/events` shows the
//! reshard, and stop leaves nothing running. Also: a taken port is named, and nothing starts.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use support::{free_port, http_get, slotwatch_bin, wait_for};

struct Demo {
    dir: tempfile::TempDir,
    redis: u16,
    slotwatch: u16,
    prometheus: u16,
    alertmanager: u16,
}

impl Demo {
    fn new() -> Demo {
        Demo {
            dir: tempfile::tempdir().unwrap(),
            redis: free_run_of_six(),
            slotwatch: free_port(),
            prometheus: free_port(),
            alertmanager: free_port(),
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

/// Six consecutive loopback ports, and their cluster bus ports (+10000), all free.
fn free_run_of_six() -> u16 {
    let mut seed = std::process::id() as u64 * 7919 + 17;
    loop {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let base = 20000 + (seed >> 33) as u16 % 9000;
        let all: Vec<u16> = (0..6).flat_map(|i| [base + i, base + i + 10000]).collect();
        let held: Vec<_> = all
            .iter()
            .map(|p| TcpListener::bind(("127.0.0.1", *p)))
            .collect();
        if held.iter().all(Result::is_ok) {
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

#[test]
fn demo_start_reshard_stop() {
    let demo = Demo::new();
    let started = demo.run("start");
    assert!(started.status.success(), "{}", out_text(&started));
    let text = out_text(&started);
    for url in [
        format!("http://127.0.0.1:{}/metrics", demo.slotwatch),
        format!("http://127.0.0.1:{}/alerts", demo.prometheus),
        format!("http://127.0.0.1:{}/", demo.alertmanager),
    ] {
        assert!(text.contains(&url), "URL {url} is printed:\n{text}");
    }
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
        pids.len() >= 9,
        "redis x6, slotwatch, prometheus, alertmanager: {pids:?}"
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
