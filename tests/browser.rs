//! The cluster page in a real browser: a real cluster, `slotwatch serve`, and headless Chromium
//! driven over the DevTools protocol. The page is loaded once; every later change must reach
//! the DOM through the page's own refresh, without a reload.
//!
//! Screenshots of a healthy, a migrating and a failing cluster (1280×800) and of a narrow
//! window (420 px) go to `$SLOTWATCH_SCREENSHOTS`, or `target/tmp/screenshots`;
//! `SLOTWATCH_SCREENSHOTS=docs cargo test --test browser` refreshes the ones in the README.

mod support;

#[path = "support/chromium.rs"]
mod chromium;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chromium::Chromium;
use serde_json::{Value, json};
use slotwatch::slot::key_slot;
use support::{Exporter, RedisCluster, RedisNode};

const WAIT: Duration = Duration::from_secs(30);

/// The run of the slot map holding a slot, as the DOM has it: start, end, state, owner, the
/// owner's flags, and the colour the browser paints it (`null` if none holds the slot).
const RUN_OF: &str = "(slot) => {
  const g = [...document.querySelectorAll('#slots g[data-start]')]
    .find(g => +g.dataset.start <= slot && slot <= +g.dataset.end);
  if (!g) return null;
  const owner = g.dataset.owner || null;
  const swatch = owner && [...document.querySelectorAll('#nodes tr')]
    .find(tr => tr.cells[0].textContent === owner);
  const i = swatch && swatch.querySelector('i');
  return {
    start: +g.dataset.start, end: +g.dataset.end, state: g.dataset.state || 'owned', owner,
    failing: g.dataset.failing || null,
    title: g.querySelector('title').textContent,
    fill: getComputedStyle(g.querySelector('path')).fill,
    legend: i ? getComputedStyle(i).backgroundColor : null,
  };
}";

fn screenshots() -> PathBuf {
    std::env::var_os("SLOTWATCH_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"))
}

fn run_of(b: &mut Chromium, slot: u16) -> Value {
    b.eval(&format!("({RUN_OF})({slot})"))
}

/// Waits until the run holding `slot` satisfies `ok`, and returns it.
fn wait_run(b: &mut Chromium, what: &str, slot: u16, ok: impl Fn(&Value) -> bool) -> Value {
    b.wait(what, WAIT, |b| Some(run_of(b, slot)).filter(|r| ok(r)))
}

/// (id, endpoint, is master, master id) of every node, from one node's CLUSTER NODES.
fn roles(node: &RedisNode) -> Vec<(String, String, bool, String)> {
    node.cmd(&["CLUSTER", "NODES"])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let endpoint = f[1].split('@').next().unwrap_or_default();
            (
                f[0].into(),
                endpoint.into(),
                f[2].contains("master"),
                f[3].into(),
            )
        })
        .collect()
}

/// The owner (`ip:port`) of every slot, from one node's CLUSTER NODES.
fn owners(node: &RedisNode) -> Vec<String> {
    let mut out = vec![String::new(); 16384];
    for line in node.cmd(&["CLUSTER", "NODES"]).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let endpoint = f[1].split('@').next().unwrap_or_default();
        for range in f.iter().skip(8).filter(|r| !r.starts_with('[')) {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (a, b): (usize, usize) = (a.parse().expect("slot"), b.parse().expect("slot"));
            for o in &mut out[a..=b] {
                *o = endpoint.to_owned();
            }
        }
    }
    out
}

/// The first slot `endpoint` owns.
fn first_slot(owners: &[String], endpoint: &str) -> u16 {
    owners
        .iter()
        .position(|o| o == endpoint)
        .unwrap_or_else(|| panic!("{endpoint} owns no slot")) as u16
}

/// A key that hashes to `slot`.
fn key_in_slot(slot: u16) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap_or_default()
}

/// Sends `n` commands for keys of `slot` to `node` without following redirects, as a client
/// that is not cluster-aware does; returns the error replies.
fn misdirect(node: &RedisNode, slot: u16, n: usize) -> Vec<String> {
    let mut conn = node.connection();
    let key = key_in_slot(slot);
    (0..n)
        .filter_map(|_| {
            redis::cmd("GET")
                .arg(&key)
                .query::<Option<String>>(&mut conn)
                .err()
                .map(|e| e.to_string())
        })
        .collect()
}

/// The banner's redirect verdict (`data-redirects`), its kind and its lead sentence.
fn verdict(b: &mut Chromium) -> (String, String, String) {
    let v = b.eval(
        "(() => { const d = document.querySelector('#banner .banner');
                  const p = d.querySelector('p.verdict');
                  return [d.dataset.redirects, d.className.replace('banner ', ''),
                          p ? p.innerText : '']; })()",
    );
    let at = |i: usize| v[i].as_str().unwrap_or_default().to_owned();
    (at(0), at(1), at(2))
}

/// Text of the page's banner, and its kind (`ok`, `warn`, `bad`).
fn banner(b: &mut Chromium) -> (String, String) {
    let v = b.eval(
        "(() => { const d = document.querySelector('#banner .banner');
                  return [d.className.replace('banner ', ''), d.innerText]; })()",
    );
    (
        v[0].as_str().unwrap_or_default().to_owned(),
        v[1].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn the_cluster_page_follows_a_live_cluster_in_a_real_browser() {
    support::require("chromium");
    let mut cluster = RedisCluster::start(3, 1);
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "1s",
        "--timeout",
        "1s",
        "--cluster-name",
        "browser test",
        // This test is about the map and the chart: the handful of MOVED it sends must not
        // turn the banner into a redirect alarm (the verdict's own test is below).
        "--redirect-rate-threshold",
        "1000",
    ]);
    exporter.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    let base = format!("http://127.0.0.1:{}", exporter.port);
    let shots = screenshots();
    let mut b = Chromium::start();
    b.viewport(1280, 800);

    // Without JavaScript the first paint already has everything.
    b.javascript(false);
    b.navigate(&format!("{base}/cluster/browser%20test"));
    let plain = b.eval(
        "[document.querySelectorAll('#slots g[data-start]').length,
          document.getElementById('live').textContent,
          document.querySelectorAll('#nodes tr').length]",
    );
    assert_eq!(plain, json!([3, "Reload to refresh.", 7]), "no-script page");
    b.javascript(true);

    // The landing page links the cluster's page, the name encoded.
    b.navigate(&format!("{base}/"));
    let href = b.eval("document.querySelector('a[href^=\"cluster/\"]').href");
    assert_eq!(href, format!("{base}/cluster/browser%20test"));
    b.navigate(href.as_str().unwrap_or_default());
    b.wait("the page's script to refresh it", WAIT, |b| {
        (b.eval("document.getElementById('live').className") == "live ok").then_some(())
    });

    // 1. Healthy: the owner of a known range, painted in its legend colour.
    let nodes = roles(&cluster.nodes[0]);
    let masters: Vec<&(String, String, bool, String)> = nodes.iter().filter(|n| n.2).collect();
    let a = masters[0].clone();
    let b_master = masters[1].clone();
    let owned = owners(&cluster.nodes[0]);
    let slot_a = first_slot(&owned, &a.1);
    let run = run_of(&mut b, slot_a);
    assert_eq!(run["owner"], a.1.as_str(), "{run}");
    assert_eq!(run["state"], "owned");
    assert_eq!(
        run["fill"], run["legend"],
        "painted in the owner's colour: {run}"
    );
    assert!(
        run["title"]
            .as_str()
            .is_some_and(|t| t.contains(&format!("owner {}; replicas ", a.1))),
        "{run}"
    );
    let (kind, text) = banner(&mut b);
    assert_eq!(kind, "ok", "{text}");
    // Focusing a range names it, in words, next to the map; after the next refreshes the
    // range keeps the focus.
    let generation = b.eval("+document.body.dataset.generation");
    let named = b.eval(&format!(
        "(() => {{ const g = [...document.querySelectorAll('#slots g[data-start]')]
                     .find(g => +g.dataset.start <= {slot_a} && {slot_a} <= +g.dataset.end);
                   g.focus();
                   return document.getElementById('slotinfo').textContent; }})()"
    ));
    assert_eq!(named, run["title"], "the focused range is named");
    b.wait("two refreshes", WAIT, |b| {
        let now = b.eval("+document.body.dataset.generation");
        (now.as_u64() >= generation.as_u64().map(|g| g + 2)).then_some(())
    });
    let focused = b.eval("document.activeElement.dataset.start");
    assert_eq!(focused, run["start"].to_string(), "focus kept");
    // A client that is not cluster-aware: MOVED, drawn on the redirect chart.
    let slot_b = first_slot(&owned, &b_master.1);
    let a_node = cluster.node_at(&a.1);
    let errors = misdirect(a_node, slot_b, 40);
    assert!(
        errors.iter().all(|e| e.to_uppercase().contains("MOVED")),
        "{errors:?}"
    );
    b.wait("node A's row on the redirect chart", WAIT, |b| {
        let peak = b.eval(&format!(
            "(() => {{ const r = document.querySelector('#redirects g.row[data-node=\"{}\"]');
                       return r && r.querySelector('.peak').textContent; }})()",
            a.1
        ));
        peak.as_str()
            .filter(|p| p.starts_with("peak "))
            .map(str::to_owned)
    });
    b.screenshot(&shots.join("cluster-healthy.png"));

    // The narrow window: nothing sticks out sideways.
    b.viewport(420, 800);
    let widths = b.eval("[document.documentElement.scrollWidth, window.innerWidth]");
    assert_eq!(widths[0], widths[1], "no sideways scrolling at 420 px");
    b.screenshot_full(&shots.join("cluster-narrow.png"));
    b.viewport(1280, 800);

    // 2. A classic migration, opened by hand: the slot is marked migrating, with ASK.
    let migrating = slot_a;
    let a_id = &a.0;
    let b_id = &b_master.0;
    let b_node = cluster.node_at(&b_master.1);
    let s = migrating.to_string();
    b_node.cmd(&["CLUSTER", "SETSLOT", &s, "IMPORTING", a_id]);
    a_node.cmd(&["CLUSTER", "SETSLOT", &s, "MIGRATING", b_id]);
    let asks = misdirect(a_node, migrating, 25);
    assert!(
        asks.iter().all(|e| e.to_uppercase().contains("ASK")),
        "{asks:?}"
    );
    let run = wait_run(&mut b, "the slot to be marked migrating", migrating, |r| {
        r["state"] == "migrating"
    });
    assert_eq!(
        (&run["start"], &run["end"]),
        (&json!(migrating), &json!(migrating))
    );
    assert!(
        run["title"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!(
                "slot {migrating}: MIGRATING {} -> {} (classic, ",
                a.1, b_master.1
            ))),
        "{run}"
    );
    let (kind, text) = banner(&mut b);
    assert_eq!(kind, "warn", "{text}");
    assert!(text.contains("slot migration(s) open"), "{text}");
    b.wait("the ASK replies on the chart", WAIT, |b| {
        let ask = b.eval(&format!(
            "(() => {{ const r = document.querySelector('#redirects g.row[data-node=\"{}\"] path.ask');
                       return r && r.getAttribute('d'); }})()",
            a.1
        ));
        ask.as_str().filter(|d| d.contains('v')).map(|_| ())
    });
    b.screenshot(&shots.join("cluster-migrating.png"));
    for n in [a_node, b_node] {
        n.cmd(&["CLUSTER", "SETSLOT", &s, "STABLE"]);
    }
    wait_run(&mut b, "the migration to close", migrating, |r| {
        r["state"] == "owned"
    });

    // 3. A reshard: the event appears and the moved range takes the new owner's colour.
    let a_fill = run_of(&mut b, slot_a)["fill"].clone();
    let runs_before = b.eval(
        "[...document.querySelectorAll('#slots g[data-start]')]
           .map(g => [+g.dataset.start, +g.dataset.end, g.dataset.owner || null])",
    );
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &a.1])
        .args(["--cluster-from", a_id, "--cluster-to", b_id])
        .args(["--cluster-slots", "100", "--cluster-yes"])
        .output()
        .expect("redis-cli --cluster reshard");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cluster.wait_converged();
    let now_owned = owners(&cluster.nodes[0]);
    let moved = (0..16384usize)
        .find(|s| owned[*s] == a.1 && now_owned[*s] == b_master.1)
        .expect("a slot that moved from A to B") as u16;
    let before = runs_before
        .as_array()
        .and_then(|runs| {
            runs.iter().find(|r| {
                r[0].as_u64() <= Some(u64::from(moved)) && Some(u64::from(moved)) <= r[1].as_u64()
            })
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        before[2],
        a.1.as_str(),
        "the page showed A owning slot {moved}: {before}"
    );
    let after = wait_run(&mut b, "the moved range to change owner", moved, |r| {
        r["owner"] == b_master.1.as_str()
    });
    assert_eq!(after["fill"], after["legend"], "in B's colour: {after}");
    assert_ne!(after["fill"], a_fill, "re-coloured: {before} -> {after}");
    let reshard = b.wait("the reshard in the timeline", WAIT, |b| {
        let v = b.eval("[...document.querySelectorAll('#events li[data-kind=\"reshard\"]')].map(li => li.textContent)");
        v.as_array()?.first()?.as_str().map(str::to_owned)
    });
    assert!(
        reshard.contains(&format!("moved {} -> {}", a.1, b_master.1)),
        "{reshard}"
    );
    let marks =
        b.eval("document.querySelectorAll('#redirects g.ev[data-kind=\"reshard\"]').length");
    assert!(
        marks.as_u64() >= Some(1),
        "the reshard is marked on the chart"
    );

    // 4. A failing master: with its replica gone too, its slots stay on a failed master.
    let c = masters[2].clone();
    let replica = nodes
        .iter()
        .find(|n| n.3 == c.0)
        .expect("the third master's replica")
        .1
        .clone();
    let slot_c = first_slot(&owned, &c.1);
    for endpoint in [&replica, &c.1] {
        let i = cluster
            .nodes
            .iter()
            .position(|n| n.addr() == *endpoint)
            .expect("node");
        cluster.nodes[i].stop();
    }
    let run = wait_run(
        &mut b,
        "the master's slots to be marked failing",
        slot_c,
        |r| r["failing"] == "fail",
    );
    assert_eq!(run["owner"], c.1.as_str());
    let row = b.wait("the master's row to say fail", WAIT, |b| {
        let v = b.eval(&format!(
            "(() => {{ const tr = [...document.querySelectorAll('#nodes tr')]
                         .find(tr => tr.cells[0].textContent === '{}');
                       return tr && tr.innerText; }})()",
            c.1
        ));
        v.as_str()
            .filter(|t| t.contains("flagged fail"))
            .map(str::to_owned)
    });
    assert!(row.contains("down"), "{row}");
    let (kind, text) = banner(&mut b);
    assert_eq!(kind, "bad", "{text}");
    assert!(
        text.contains(&format!("master {} is flagged fail", c.1)),
        "{text}"
    );
    b.wait("the node_failed mark on the chart", WAIT, |b| {
        (b.eval("document.querySelectorAll('#redirects g.ev[data-kind=\"node_failed\"]').length")
            .as_u64()
            >= Some(1))
        .then_some(())
    });
    b.screenshot(&shots.join("cluster-failing.png"));
}

/// The banner follows the redirect verdict without a reload: quiet, expected after a reshard,
/// persisting once a plain client outlasts the (short) grace window, quiet once it stops.
#[test]
fn the_banner_follows_the_redirect_verdict_in_a_real_browser() {
    support::require("chromium");
    // With a replica each, nothing but the redirects can make the banner anything but ok.
    let cluster = RedisCluster::start(3, 1);
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "500ms",
        "--timeout",
        "500ms",
        "--redirect-grace-window",
        "8s",
        "--redirect-rate-window",
        "3s",
        "--redirect-rate-threshold",
        "1",
    ]);
    exporter.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    let mut b = Chromium::start();
    b.viewport(1280, 800);
    b.navigate(&format!(
        "http://127.0.0.1:{}/cluster/default",
        exporter.port
    ));
    let (state, kind, text) = verdict(&mut b);
    assert_eq!((state.as_str(), kind.as_str()), ("quiet", "ok"), "{text}");
    assert!(text.starts_with("✔ No MOVED burst"), "{text}");

    let nodes = roles(&cluster.nodes[0]);
    let masters: Vec<&(String, String, bool, String)> = nodes.iter().filter(|n| n.2).collect();
    let (a, b_master) = (masters[0].clone(), masters[1].clone());
    support::clients::reshard_ids(&a.1, &a.0, &b_master.0, 50);
    cluster.wait_converged();
    // A plain client on A asking for a key of B's, 50 times a second, until told to stop.
    let slot_b = first_slot(&owners(&cluster.nodes[0]), &b_master.1);
    let key = key_in_slot(slot_b);
    let mut conn = cluster.node_at(&a.1).connection();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let plain = std::thread::spawn(move || {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = redis::cmd("GET")
                .arg(&key)
                .query::<Option<String>>(&mut conn);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let wait_state = |b: &mut Chromium, want: &str| {
        b.wait(&format!("the banner to say {want}"), WAIT, |b| {
            Some(verdict(b)).filter(|v| v.0 == want)
        })
    };
    let (_, kind, text) = wait_state(&mut b, "expected");
    assert_eq!(kind, "warn", "{text}");
    assert!(
        text.starts_with("↻ MOVED at ") && text.contains(&format!("from {}", a.1)),
        "{text}"
    );
    assert!(text.contains("expected while clients refresh"), "{text}");
    let (_, kind, text) = wait_state(&mut b, "persisting");
    assert_eq!(kind, "bad", "{text}");
    assert!(
        text.contains("persisting beyond the 8 s grace window"),
        "{text}"
    );
    let role = b.eval("document.querySelector('#banner .banner').getAttribute('role')");
    assert_eq!(role, "alert");
    let grace = b.eval("document.querySelectorAll('#redirects rect.grace').length");
    assert!(grace.as_u64() >= Some(1), "the grace window is drawn");
    b.screenshot(&screenshots().join("cluster-persisting.png"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    plain.join().expect("the plain client ran");
    let (_, kind, text) = wait_state(&mut b, "quiet");
    assert_eq!(kind, "ok", "{text}");
}
