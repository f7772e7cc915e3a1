//! A poller that panics is started again and one that hangs turns `/healthz` red, while the
//! other clusters of the process keep polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::clock;
use crate::config::{Auth, ClusterConfig, Reach, ReadLimits, Schedule};
use crate::poll::{Feed, Poller};
use crate::web::AppState;
use crate::web::healthz;

/// What an injected fault does to a poll.
pub(crate) enum Fault {
    None,
    Panic,
    Hang,
}

/// Asked before each poll.
pub(crate) type FaultHook = Arc<dyn Fn() -> Fault + Send + Sync>;

/// A hook that does `fault` on the `n`th poll (1-based) and nothing on the others, except
/// that a hang, once begun, lasts.
fn on_poll(n: u64, fault: fn() -> Fault) -> FaultHook {
    let polls = AtomicU64::new(0);
    Arc::new(move || {
        if polls.fetch_add(1, Ordering::SeqCst) + 1 == n {
            fault()
        } else {
            Fault::None
        }
    })
}

/// A cluster whose only seed refuses connections: every poll completes quickly, reaching
/// nobody.
fn cluster(name: &str) -> ClusterConfig {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    ClusterConfig {
        name: name.to_owned(),
        reach: Reach {
            seeds: vec![format!("redis://127.0.0.1:{port}").parse().unwrap()],
            timeout: Duration::from_millis(250),
            auth: Auth::default(),
            tls: None,
            limits: ReadLimits::default(),
        },
        schedule: Schedule {
            poll_interval: Duration::from_millis(250),
            full_views_per_poll: 16,
            clients_interval: Duration::ZERO,
            slot_stats_interval: Duration::ZERO,
            slot_stats_top: 5,
        },
        redirects: Default::default(),
    }
}

fn poller(name: &str, hook: Option<FaultHook>) -> (Poller, Feed) {
    let (p, feed) = Poller::new(&cluster(name), 10).unwrap();
    match hook {
        Some(h) => (p.with_fault(h), feed),
        None => (p, feed),
    }
}

/// Waits up to 20 s (far beyond the 1 s bound, for a loaded machine) for `done`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_poller_restarts_a_hanging_one_goes_stale_and_the_others_poll_on() {
    let (panicking, panics) = poller("panics", Some(on_poll(2, || Fault::Panic)));
    let (hanging, hangs) = poller("hangs", Some(on_poll(3, || Fault::Hang)));
    let (steady, steady_feed) = poller("steady", None);
    let app = AppState::new(vec![panics.clone(), hangs.clone(), steady_feed.clone()]);
    let (stop, shutdown) = watch::channel(false);
    let tasks: Vec<_> = [panicking, hanging, steady]
        .into_iter()
        .map(|p| tokio::spawn(p.run(shutdown.clone())))
        .collect();

    let latest = |f: &Feed| f.snapshots.borrow().clone();
    eventually("the panicking poller restarts and polls again", || {
        let s = latest(&panics);
        s.liveness.is_some_and(|l| l.restarts == 1) && s.stats.polls_total >= 2
    })
    .await;
    eventually("/healthz names the hanging poller", || {
        let stale = healthz::stale(&app.snapshots(), clock::now_ms());
        stale.iter().any(|s| s.cluster == "hangs")
    })
    .await;
    let stale = healthz::stale(&app.snapshots(), clock::now_ms());
    assert_eq!(
        stale.iter().map(|s| s.cluster.as_str()).collect::<Vec<_>>(),
        ["hangs"],
        "only the hanging poller is stale"
    );
    let (status, body) = healthz::answer(&stale);
    assert_eq!(status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.starts_with("stale: cluster \"hangs\""), "{body}");
    let before = latest(&steady_feed).stats.polls_total;
    eventually("the steady poller keeps polling", || {
        latest(&steady_feed).stats.polls_total > before + 2
    })
    .await;
    assert_eq!(latest(&steady_feed).liveness.map(|l| l.restarts), Some(0));

    let _ = stop.send(true);
    // The hanging poller never sees the shutdown: it is stuck inside a poll.
    for t in tasks {
        t.abort();
    }
}
