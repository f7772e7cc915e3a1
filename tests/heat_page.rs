//! The cluster page's heat view in a real browser: a Valkey 9.1 cluster whose keys crowd into
//! one hash-tagged slot, `slotwatch serve`, and headless Chromium. The hot slot is drawn at the
//! top level with its pattern and named in its title, listed first among the hottest slots with
//! a link to its owner's row; the reading is cached between page loads; a bad measure is a 400.
//!
//! A screenshot goes to `$SLOTWATCH_SCREENSHOTS` (or `target/tmp/screenshots`) as
//! `cluster-heat.png`; `SLOTWATCH_SCREENSHOTS=docs` refreshes the README's.

mod support;

// The browser test uses all of the driver; this one a part.
#[allow(dead_code)]
#[path = "support/chromium.rs"]
mod chromium;

use std::path::PathBuf;
use std::time::Duration;

use chromium::Chromium;
use serde_json::json;
use slotwatch::slot::key_slot;
use support::servers::{Server, run};
use support::{Exporter, RedisCluster, http_get};

const WAIT: Duration = Duration::from_secs(60);

/// The heat map's run holding a slot: its level, title, fill and whether a pattern covers it.
const HEAT_RUN_OF: &str = "(slot) => {
  const g = [...document.querySelectorAll('#heat g[data-start]')]
    .find(g => +g.dataset.start <= slot && slot <= +g.dataset.end);
  if (!g) return null;
  const paths = g.querySelectorAll('path');
  return {
    level: g.dataset.level || null,
    title: g.querySelector('title').textContent,
    fill: getComputedStyle(paths[0]).fill,
    pattern: paths.length > 1 ? paths[1].getAttribute('fill') : null,
  };
}";

fn screenshots() -> PathBuf {
    std::env::var_os("SLOTWATCH_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"))
}

fn the_heat_view_shows_the_hot_slot(server: Server) {
    support::require("chromium");
    let cluster = RedisCluster::on(server, 3, 0, &["--cluster-slot-stats-enabled", "yes"]);
    // 2000 keys in one slot ({hot}), 300 spread over the others.
    let hot_slot = key_slot(b"{hot}");
    let hot_owner = cluster.owner_of(hot_slot);
    let node = cluster.node_at(&hot_owner);
    let mut conn = node.connection();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET")
            .arg(format!("{{hot}}:{i}"))
            .arg("v")
            .ignore();
    }
    pipe.query::<()>(&mut conn).expect("SET the hot keys");
    for i in 0..300 {
        let key = format!("spread:{i}");
        let owner = cluster.owner_of(key_slot(key.as_bytes()));
        cluster.node_at(&owner).cmd(&["SET", &key, "v"]);
    }

    // The heat view reads each master within the per-node timeout: 3 s leaves room for a
    // loaded machine (1 s timed out while a build ran beside the test).
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "3s",
        "--timeout",
        "3s",
    ]);
    exporter.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    let base = format!("http://127.0.0.1:{}", exporter.port);
    let (status, _, body) = http_get(exporter.port, "/cluster/default?heat=memory").unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("keys, cpu or network"), "{body}");

    let mut b = Chromium::start();
    b.viewport(1280, 1000);
    b.navigate(&format!("{base}/cluster/default"));
    let link = b.eval("document.querySelector('#slots a[href=\"?heat=keys#heat\"]').href");
    assert_eq!(link, format!("{base}/cluster/default?heat=keys#heat"));
    b.navigate(link.as_str().unwrap_or_default());

    let run = b.eval(&format!("({HEAT_RUN_OF})({hot_slot})"));
    let page = b.eval("document.getElementById('heat').innerText");
    assert_eq!(run["level"], "4", "{run}\n{page}");
    assert_eq!(
        run["title"],
        format!("slot {hot_slot}: 2000 keys per slot (level 4 of 4), owner {hot_owner}")
    );
    assert_eq!(run["pattern"], "url(#p-h4)", "colour plus a pattern: {run}");
    assert_eq!(run["fill"], "rgb(165, 15, 21)", "{run}");
    // An idle slot is at level 0, with no pattern.
    let idle = (0..16384u16)
        .find(|s| {
            *s != hot_slot && (0..300).all(|i| key_slot(format!("spread:{i}").as_bytes()) != *s)
        })
        .unwrap();
    let cold = b.eval(&format!("({HEAT_RUN_OF})({idle})"));
    assert_eq!(
        (cold["level"].clone(), cold["pattern"].clone()),
        (json!("0"), json!(null))
    );

    // The hottest slot comes first, linked to its owner's row in the nodes table.
    let first = b.eval(
        "(() => { const li = document.querySelector('#heat ol.hot li');
           const a = li.querySelector('a');
           const row = document.getElementById(decodeURIComponent(a.hash.slice(1)));
           return [li.dataset.slot, a.textContent, row ? row.cells[0].textContent : null]; })()",
    );
    assert_eq!(
        first,
        json!([hot_slot.to_string(), hot_owner, hot_owner]),
        "the hot slot links its owner's row"
    );
    // Focus names the run's values, as hover does.
    let named = b.eval(&format!(
        "(() => {{ const g = [...document.querySelectorAll('#heat g[data-start]')]
             .find(g => +g.dataset.start <= {hot_slot} && {hot_slot} <= +g.dataset.end);
           g.focus(); return document.getElementById('heatinfo').textContent; }})()"
    ));
    assert_eq!(named, run["title"]);
    let load = b.eval("document.getElementById('load').textContent");
    assert!(
        load.as_str().is_some_and(|l| l.contains("keys max/mean")),
        "the page states the spread: {load}"
    );
    b.screenshot_full(&screenshots().join("cluster-heat.png"));

    // Within 30 s a later load serves the same reading: the time it names (to the second)
    // stays that of the browser's load, over a second before.
    let read_at = |text: &str| {
        text.split("· read ")
            .nth(1)
            .map(|rest| rest[..19].to_owned())
            .unwrap_or_default()
    };
    let shown = b.eval("document.querySelector('#heat p.sum').textContent");
    let first = read_at(shown.as_str().unwrap_or_default());
    assert!(!first.is_empty(), "{shown}");
    std::thread::sleep(Duration::from_millis(1500));
    let (_, _, again) = http_get(exporter.port, "/cluster/default?heat=cpu").unwrap();
    assert_eq!(read_at(&again), first, "cached between loads");
}

#[test]
fn the_heat_view_on_valkey_9_1() {
    run(Server::Valkey91, the_heat_view_shows_the_hot_slot);
}
