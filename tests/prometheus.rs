//! A real Prometheus (Debian's package) scrapes slotwatch in front of a real cluster with the
//! shipped rules loaded unchanged: the target is up, every rule group evaluates cleanly, and a
//! steady MOVED stream from a plain client makes `RedisClusterRedirectsPersisting` pending.
//! With two slotwatch instances scraping the same cluster, the recorded rate is that of one
//! instance, not twice it, and the alert is pending once, not once per instance.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use slotwatch::slot::key_slot;
use support::{Exporter, ProcessGuard, RedisCluster, free_port, http_get, require, wait_for};

const WAIT: Duration = Duration::from_secs(90);

/// Percent-encodes a PromQL query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn api(port: u16, path: &str) -> Option<Value> {
    let (status, _, body) = http_get(port, path)?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    (v["status"] == "success").then_some(v)
}

/// The shipped deploy/prometheus/prometheus.yml, with intervals shortened and paths and the
/// target pointed at this test's processes; the rules file itself is loaded unchanged.
fn prometheus_config(slotwatch_ports: &[u16]) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/deploy/prometheus/prometheus.yml")).unwrap();
    let mut cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    cfg["global"]["scrape_interval"] = "1s".into();
    cfg["global"]["evaluation_interval"] = "1s".into();
    cfg["rule_files"] =
        serde_yaml::Value::Sequence(vec![format!("{root}/alerts/slotwatch.rules.yml").into()]);
    if let Some(m) = cfg.as_mapping_mut() {
        m.remove("alerting");
    }
    let job = &mut cfg["scrape_configs"][0];
    assert_eq!(
        job["job_name"], "slotwatch",
        "the shipped job name the alerts rely on"
    );
    assert_eq!(
        job["honor_labels"], true,
        "the cluster label must stay slotwatch's"
    );
    job["scrape_interval"] = "1s".into();
    job["static_configs"][0]["targets"] = serde_yaml::Value::Sequence(
        slotwatch_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}").into())
            .collect(),
    );
    serde_yaml::to_string(&cfg).unwrap()
}

#[test]
fn prometheus_scrapes_evaluates_rules_and_the_redirect_alert_goes_pending() {
    require("prometheus");
    let cluster = RedisCluster::start(3, 1);
    let exporter = Exporter::start(&["--seed", &cluster.seed(), "--poll-interval", "1s"]);
    exporter.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, prometheus_config(&[exporter.port])).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = ProcessGuard::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log),
    );
    let prometheus_log =
        || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();

    // The target is up.
    wait_for("the slotwatch target to be up", WAIT, || {
        let v = api(port, "/api/v1/targets")?;
        let targets = v["data"]["activeTargets"].as_array()?;
        targets
            .iter()
            .any(|t| t["labels"]["job"] == "slotwatch" && t["health"] == "up")
            .then_some(())
    });

    // Every shipped group is loaded and evaluates without errors.
    let rules_file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/alerts/slotwatch.rules.yml"
    ))
    .unwrap();
    let shipped: serde_yaml::Value = serde_yaml::from_str(&rules_file).unwrap();
    let shipped_groups: Vec<String> = shipped["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    wait_for("every rule group to evaluate cleanly", WAIT, || {
        let v = api(port, "/api/v1/rules")?;
        let groups = v["data"]["groups"].as_array()?;
        let evaluated = groups.len() == shipped_groups.len()
            && groups.iter().all(|g| {
                g["rules"].as_array().is_some_and(|rules| {
                    rules.iter().all(|r| {
                        r["health"] == "ok"
                            && r["lastError"].as_str().unwrap_or("").is_empty()
                            && r["lastEvaluation"]
                                .as_str()
                                .is_some_and(|t| !t.starts_with("0001"))
                    })
                })
            });
        evaluated.then_some(())
    });

    // A plain client keeps asking node 0 for a key another master owns: a steady MOVED stream.
    let node0 = cluster.nodes[0].addr();
    let key = (0..)
        .map(|i| format!("stale:{i}"))
        .find(|k| cluster.owner_of(key_slot(k.as_bytes())) != node0)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        let mut conn = cluster.nodes[0].connection();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = redis::cmd("GET")
                    .arg(&key)
                    .query::<Option<String>>(&mut conn);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let rate = wait_for("the recording rule to show the MOVED rate", WAIT, || {
        let q = format!(
            "cluster_node_type:redis_cluster_redirects:rate5m{{type=\"moved\",node=\"{node0}\"}}"
        );
        let v = api(port, &format!("/api/v1/query?query={}", encode(&q)))?;
        let value: f64 = v["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
        (value > 0.05).then_some(value)
    });
    assert!(
        rate < 50.0,
        "rate {rate} is far above what the client sends"
    );

    let alert = wait_for(
        "RedisClusterRedirectsPersisting to be pending",
        WAIT,
        || {
            let v = api(port, "/api/v1/alerts")?;
            v["data"]["alerts"]
                .as_array()?
                .iter()
                .find(|a| a["labels"]["alertname"] == "RedisClusterRedirectsPersisting")
                .cloned()
        },
    );
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
    assert_eq!(alert["state"], "pending", "{alert:#}");
    assert_eq!(alert["labels"]["node"], node0.as_str());
    assert_eq!(alert["labels"]["cluster"], "default");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert!(
        !prometheus_log().contains("level=error"),
        "{}",
        prometheus_log()
    );
}

/// The value of the only series `query` returns, or None while it returns none.
fn only_value(port: u16, query: &str) -> Option<(usize, f64)> {
    let v = api(port, &format!("/api/v1/query?query={}", encode(query)))?;
    let result = v["data"]["result"].as_array()?;
    let value: f64 = result.first()?["value"][1].as_str()?.parse().ok()?;
    Some((result.len(), value))
}

#[test]
fn two_exporters_of_one_cluster_give_single_rates_and_one_alert() {
    require("prometheus");
    let cluster = RedisCluster::start(3, 0);
    let args = ["--seed", &cluster.seed(), "--poll-interval", "1s"];
    let a = Exporter::start(&args);
    let b = Exporter::start(&args);
    for e in [&a, &b] {
        e.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    }

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, prometheus_config(&[a.port, b.port])).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = ProcessGuard::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log),
    );
    wait_for("both slotwatch targets to be up", WAIT, || {
        let v = api(port, "/api/v1/targets")?;
        let up = v["data"]["activeTargets"]
            .as_array()?
            .iter()
            .filter(|t| t["health"] == "up")
            .count();
        (up == 2).then_some(())
    });

    // A steady MOVED stream to node 0, seen through both exporters.
    let node0 = cluster.nodes[0].addr();
    let key = (0..)
        .map(|i| format!("stale:{i}"))
        .find(|k| cluster.owner_of(key_slot(k.as_bytes())) != node0)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        let mut conn = cluster.nodes[0].connection();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = redis::cmd("GET")
                    .arg(&key)
                    .query::<Option<String>>(&mut conn);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let selector = format!("{{type=\"moved\",node=\"{node0}\"}}");
    let (series, _) = wait_for("the MOVED counter through both instances", WAIT, || {
        only_value(port, &format!("redis_cluster_redirects_total{selector}"))
            .filter(|(n, _)| *n == 2)
    });
    assert_eq!(series, 2, "one series per instance");
    // Let the rates settle over a few scrapes of both instances, then compare the recorded
    // rate with what summing the two instances gives: half of it, not all of it.
    std::thread::sleep(Duration::from_secs(20));
    let (recorded_series, recorded) = only_value(
        port,
        &format!("cluster_node_type:redis_cluster_redirects:rate5m{selector}"),
    )
    .expect("the recorded rate");
    let (_, summed) = only_value(
        port,
        &format!(
            "sum by (cluster, node, type) (rate(redis_cluster_redirects_total{selector}[5m]))"
        ),
    )
    .expect("the summed rate");
    assert_eq!(recorded_series, 1);
    let ratio = recorded / summed;
    assert!(
        (0.35..0.65).contains(&ratio),
        "recorded {recorded}/s, the two instances summed {summed}/s: ratio {ratio}"
    );

    let alerts = wait_for(
        "RedisClusterRedirectsPersisting to be pending",
        WAIT,
        || {
            let v = api(port, "/api/v1/alerts")?;
            let mine: Vec<Value> = v["data"]["alerts"]
                .as_array()?
                .iter()
                .filter(|a| a["labels"]["alertname"] == "RedisClusterRedirectsPersisting")
                .cloned()
                .collect();
            (!mine.is_empty()).then_some(mine)
        },
    );
    // Give a second per-instance alert the time to show up, if the rules made one.
    std::thread::sleep(Duration::from_secs(3));
    let v = api(port, "/api/v1/alerts").unwrap();
    let all: Vec<&Value> = v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "RedisClusterRedirectsPersisting")
        .collect();
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
    assert_eq!(
        all.len(),
        1,
        "one alert for the node, not one per instance: {all:#?}"
    );
    assert_eq!(alerts[0]["labels"]["node"], node0.as_str());
    assert!(
        alerts[0]["labels"].get("instance").is_none(),
        "{:#}",
        alerts[0]
    );
}
