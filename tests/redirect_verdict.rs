//! The redirect verdict on every server of the matrix, with real clients: cluster-aware
//! clients (redis-py, ioredis) through a reshard are *expected*, then *quiet*; a plain client
//! after a reshard, and one on a master demoted by a failover, are *expected* within the grace
//! window and *persisting* beyond it. The cluster page's banner, `/` and `check` (with and
//! without `--json`) give the same verdict, and `check` names the plain client.
//!
//! The thresholds are short so that the run is: a 12 s grace window and rates over 4 s, at
//! 1 MOVED/s (4 MOVED in the window), where a plain client draws about 100 a second.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::clients::{client, port_of, require_clients, reshard, reshard_ids, shards};
use support::{Exporter, RedisCluster, Server, slotwatch_bin};

const THRESHOLDS: [&str; 6] = [
    "--redirect-grace-window",
    "12s",
    "--redirect-rate-window",
    "4s",
    "--redirect-rate-threshold",
    "1",
];
const WAIT: Duration = Duration::from_secs(40);

fn exporter(cluster: &RedisCluster) -> Exporter {
    let seed = cluster.seed();
    let mut args = vec![
        "--seed",
        &seed,
        "--poll-interval",
        "500ms",
        "--timeout",
        "500ms",
        "--clients-interval",
        "2s",
    ];
    args.extend(THRESHOLDS);
    Exporter::start(&args)
}

/// The cluster page's banner as `/cluster/default/data` sends it: (verdict, class, text).
fn page(exporter: &Exporter) -> (String, String, String) {
    let data: Value =
        serde_json::from_str(&exporter.get("/cluster/default/data")).expect("page data JSON");
    let banner = data["sections"]["banner"].as_str().unwrap_or_default();
    let attr = |name: &str| {
        banner
            .split(&format!("{name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    let verdict = banner
        .split("<p class=\"verdict\"")
        .nth(1)
        .and_then(|rest| rest.split("<b>").nth(1))
        .and_then(|rest| rest.split("</b>").next())
        .unwrap_or_default()
        .to_owned();
    (attr("data-redirects"), attr("class"), verdict)
}

/// The verdict `/` shows for the cluster.
fn landing(exporter: &Exporter) -> String {
    exporter
        .get("/")
        .split("data-redirects=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the page's verdict is `state`, and returns the banner.
fn wait_page(exporter: &Exporter, state: &str) -> (String, String, String) {
    support::wait_for(&format!("the page to say {state}"), WAIT, || {
        Some(page(exporter)).filter(|p| p.0 == state)
    })
}

fn check(cluster: &RedisCluster, exporter: &Exporter, json: bool) -> Output {
    let url = format!("http://127.0.0.1:{}", exporter.port);
    let mut cmd = Command::new(slotwatch_bin());
    cmd.args(["check", "--seed", &cluster.seed(), "--interval", "1s"])
        .args(["--exporter", &url])
        .args(THRESHOLDS);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run slotwatch check")
}

/// `check --json`'s redirect verdict, with its exit code.
fn check_json(cluster: &RedisCluster, exporter: &Exporter) -> (Option<i32>, Value) {
    let out = check(cluster, exporter, true);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report["redirects"].clone())
}

fn check_text(cluster: &RedisCluster, exporter: &Exporter) -> (Option<i32>, String) {
    let out = check(cluster, exporter, false);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// The page's verdicts, read every 250 ms while `during` runs and then until `until` holds.
fn states_through(
    exporter: &Exporter,
    during: impl FnOnce() + Send + 'static,
    until: impl Fn(&str) -> bool,
) -> Vec<String> {
    let worker = std::thread::spawn(during);
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let (state, _, text) = page(exporter);
        if seen.last() != Some(&state) {
            eprintln!("page: {state}: {text}");
            seen.push(state.clone());
        }
        if worker.is_finished() && until(&state) {
            break;
        }
        assert!(Instant::now() < deadline, "states so far: {seen:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    worker.join().expect("the operation ran");
    seen
}

/// Page, `/` and `check` on a burst within the grace window: expected, exit 0.
fn all_say_expected(cluster: &RedisCluster, exporter: &Exporter) {
    let (_, class, text) = wait_page(exporter, "expected");
    assert_eq!(class, "banner warn", "{text}");
    assert!(text.contains("expected while clients refresh"), "{text}");
    assert_eq!(landing(exporter), "expected");
    let (code, out) = check_text(cluster, exporter);
    assert!(
        out.contains("[ok]   redirects: expected: MOVED at "),
        "check within the grace window:\n{out}"
    );
    assert_eq!(code, Some(0), "{out}");
}

/// Page, `/` and `check` beyond the grace window: persisting, exit 1, the client named.
fn all_say_persisting(cluster: &RedisCluster, exporter: &Exporter, node: &str, name: &str) {
    let (_, class, text) = wait_page(exporter, "persisting");
    assert_eq!(class, "banner bad", "{text}");
    assert!(
        text.contains(&format!("from {node}")) && text.contains("persisting beyond the 12 s"),
        "{text}"
    );
    assert_eq!(landing(exporter), "persisting");
    // The exporter's own client analysis names it too, once it has run since.
    support::wait_for("the page to name the suspect", WAIT, || {
        let (state, _, text) = page(exporter);
        (state == "persisting" && text.contains(&format!("Suspect: {name} ("))).then_some(())
    });
    let (code, v) = check_json(cluster, exporter);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["state"], "persisting", "{v:#}");
    assert_eq!(v["nodes"][0]["node"], node, "{v:#}");
    let suspects: Vec<&str> = v["suspects"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        suspects
            .iter()
            .any(|s| s.starts_with(&format!("{name} (")) && s.ends_with(node)),
        "check names {name}: {v:#}"
    );
    let (code, out) = check_text(cluster, exporter);
    assert!(
        out.contains("[FAIL] redirects: persisting: MOVED at ")
            && out.contains("verdict: MOVED burst persisting"),
        "{out}"
    );
    assert_eq!(code, Some(1));
}

fn the_verdict_follows_bursts_from_real_clients(server: Server) {
    require_clients();
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let shards = shards(&cluster);
    let (a, replica_a) = shards[0].clone();
    let b = shards[1].0.clone();
    let c = shards[2].0.clone();
    let exporter = exporter(&cluster);
    wait_page(&exporter, "quiet");

    // 1. Cluster-aware clients through a reshard: expected, then quiet, never persisting.
    let seed = port_of(&a);
    // Four, so that their MOVED while slots move (one or a few per moved slot each, until
    // they refresh) are well above the threshold.
    let aware = [
        client("cluster.py", seed, "rc-1", &[]),
        client("cluster.py", seed, "rc-2", &[]),
        client("cluster.js", seed, "io-1", &[]),
        client("cluster.js", seed, "io-2", &[]),
    ];
    let (cl_seed, from, to) = (cluster.nodes[0].addr(), a.clone(), b.clone());
    let ids = (cluster.node_at(&from).id(), cluster.node_at(&to).id());
    let seen = states_through(
        &exporter,
        move || reshard_ids(&cl_seed, &ids.0, &ids.1, 1000),
        |s| s == "quiet",
    );
    let kinds: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    assert!(
        kinds.contains("expected") && !kinds.contains("persisting"),
        "cluster-aware clients through a reshard: {seen:?}"
    );
    drop(aware);
    let (code, out) = check_text(&cluster, &exporter);
    assert!(
        out.contains("[ok]   redirects: quiet: No MOVED burst"),
        "{out}"
    );
    assert_eq!(code, Some(0), "{out}");

    // 2. A plain client right after a reshard: expected, then persisting.
    reshard(&cluster, &b, &c, 100);
    let plain = client("plain.py", port_of(&a), "plain-app", &[]);
    all_say_expected(&cluster, &exporter);
    all_say_persisting(&cluster, &exporter, &a, "plain-app");
    drop(plain);
    wait_page(&exporter, "quiet");

    // 3. A failover, then a plain client on the demoted master: the same sequence.
    cluster.node_at(&replica_a).cmd(&["CLUSTER", "FAILOVER"]);
    exporter.wait_event("failover", WAIT, |e| {
        e["new_master"]["node"] == replica_a.as_str()
    });
    let demoted = client("plain.py", port_of(&a), "plain-demoted", &[]);
    all_say_expected(&cluster, &exporter);
    all_say_persisting(&cluster, &exporter, &a, "plain-demoted");
    drop(demoted);
}

server_matrix!(the_verdict_follows_bursts_from_real_clients);
