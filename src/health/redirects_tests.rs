//! The redirect verdict: each state at its boundaries, rates and burst starts from a real
//! history, and the sentence the banner and `check` print.

use std::sync::Arc;

use super::*;
use crate::config::redirects::DEFAULT_RATE_THRESHOLD;
use crate::info::NodeCounters;
use crate::snapshot::redirects::Timeline;
use crate::snapshot::testdata::snapshot_of;
use crate::topology::event::stamp;
use crate::topology::merge::merge;
use crate::topology::parse::parse_view;
use crate::topology::testdata::healthy;

const MIN: u64 = 60_000;

fn burst(node: &str, per_s: f64, since_ms: Option<u64>) -> Burst {
    Burst {
        node: node.to_owned(),
        moved_per_s: per_s,
        since_ms,
    }
}

fn change(at_ms: u64) -> LastChange {
    LastChange::Seen {
        at_ms,
        what: "reshard: 400 slots moved a -> b".to_owned(),
    }
}

fn verdict(now: u64, bursts: &[Burst], c: &LastChange) -> Verdict {
    judge(
        now,
        bursts,
        c,
        &Policy::default(),
        vec!["plain-app (not cluster-aware) on a:1".to_owned()],
        "the last 5 min".to_owned(),
    )
}

#[test]
fn at_or_below_the_threshold_is_quiet_and_names_no_suspect() {
    let v = verdict(
        100 * MIN,
        &[burst("a:1", DEFAULT_RATE_THRESHOLD, Some(0))],
        &change(99 * MIN),
    );
    assert_eq!(v.state, State::Quiet);
    assert!(v.nodes.is_empty() && v.suspects.is_empty(), "{v:?}");
    assert_eq!(
        v.summary,
        "No MOVED burst: every node is at or below 0.05/s over the last 5 min."
    );
}

#[test]
fn within_the_grace_window_a_burst_is_expected_and_says_when_the_window_ends() {
    let now = 100 * MIN;
    let v = verdict(
        now,
        &[burst("a:1", 32.0, Some(now - MIN))],
        &change(now - 2 * MIN),
    );
    assert_eq!(v.state, State::Expected);
    assert_eq!(v.alert_in_s, None);
    assert_eq!(
        v.summary,
        "MOVED at 32/s from a:1 for 60 s, 2 min after the last change: expected while clients \
         refresh their slot maps (the 10 min grace window ends in 8 min). Last change: reshard: \
         400 slots moved a -> b (2 min ago)."
    );
    // The window's last millisecond is still inside it.
    let edge = verdict(now, &[burst("a:1", 1.0, None)], &change(now - 10 * MIN));
    assert_eq!(edge.state, State::Expected);
    let past = verdict(now, &[burst("a:1", 1.0, None)], &change(now - 10 * MIN - 1));
    assert_eq!(past.state, State::Persisting);
}

#[test]
fn beyond_the_grace_window_it_persists_with_its_suspects_and_the_alert_s_countdown() {
    let now = 100 * MIN;
    // The burst began 12 min ago, the change 11 min ago: the alert's condition holds from the
    // window's end, 1 min ago, so it fires 9 min from now.
    let v = verdict(
        now,
        &[
            burst("a:1", 32.0, Some(now - 12 * MIN)),
            burst("b:2", 1.0, Some(now - 5 * MIN)),
        ],
        &change(now - 11 * MIN),
    );
    assert_eq!(v.state, State::Persisting);
    assert_eq!(v.alert_in_s, Some(540.0));
    assert_eq!(
        v.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
        ["a:1", "b:2"],
        "fastest first"
    );
    assert_eq!(
        v.summary,
        "MOVED at 32/s from a:1 for 12 min (and from 1 more node(s), 33/s in all), 11 min after \
         the last change: persisting beyond the 10 min grace window. Last change: reshard: 400 \
         slots moved a -> b (11 min ago). RedisClusterRedirectsPersisting fires in 9 min. \
         Suspect: plain-app (not cluster-aware) on a:1."
    );
    // Held for `for` beyond the window: the alert fires now.
    let firing = verdict(
        now,
        &[burst("a:1", 32.0, Some(now - 30 * MIN))],
        &change(now - 25 * MIN),
    );
    assert_eq!(firing.alert_in_s, Some(0.0));
    assert!(firing.summary.contains("fires now"), "{}", firing.summary);
}

#[test]
fn with_no_change_seen_or_known_a_burst_persists() {
    let none = verdict(
        100 * MIN,
        &[burst("a:1", 2.0, Some(98 * MIN))],
        &LastChange::NoneSince { since_ms: 90 * MIN },
    );
    assert_eq!(none.state, State::Persisting);
    assert!(
        none.summary
            .contains("persisting (no topology change seen in the 10 min slotwatch has watched)"),
        "{}",
        none.summary
    );
    assert_eq!(
        none.alert_in_s,
        Some(480.0),
        "counted from the burst's start"
    );
    let unknown = verdict(
        100 * MIN,
        &[burst("a:1", 2.0, None)],
        &LastChange::Unknown {
            seen: "no change during the 2 s sample".to_owned(),
        },
    );
    assert_eq!(unknown.state, State::Persisting);
    assert_eq!(unknown.alert_in_s, None, "a start it cannot know");
    assert_eq!(unknown.since_change_s, None);
}

fn counters(moved: u64) -> NodeCounters {
    NodeCounters {
        moved: Some(moved),
        ask: Some(0),
        has_errorstats: true,
        ..Default::default()
    }
}

/// A history of 5 s polls from 0 to `until_s`, with node `a:1` sending `per_poll(t)` MOVED in
/// the poll ending at t seconds.
fn history(until_s: u64, per_poll: impl Fn(u64) -> u64) -> Arc<Redirects> {
    let mut t = Timeline::new();
    let mut total = 0;
    for s in (0..=until_s).step_by(5) {
        total += if s == 0 { 0 } else { per_poll(s) };
        t.record(s * 1000, [("a:1", Some(&counters(total)))]);
    }
    t.shared()
}

#[test]
fn the_rate_is_over_the_window_and_the_burst_starts_where_it_rose_above_the_threshold() {
    // Quiet until 600 s, then 10 MOVED a poll (2/s).
    let r = history(900, |s| if s > 600 { 10 } else { 0 });
    let b = bursts(&r, Duration::from_secs(60), DEFAULT_RATE_THRESHOLD);
    assert_eq!(b.len(), 1);
    assert!((b[0].moved_per_s - 2.0).abs() < 1e-9, "{b:?}");
    assert_eq!(
        b[0].since_ms,
        Some(600_000),
        "the first poll span with MOVED"
    );
    // A gap with no MOVED longer than the window ends the burst; the next one starts anew.
    let r = history(900, |s| {
        if (300..=400).contains(&s) || s > 700 {
            10
        } else {
            0
        }
    });
    let b = bursts(&r, Duration::from_secs(60), DEFAULT_RATE_THRESHOLD);
    assert_eq!(b[0].since_ms, Some(700_000));
    // Once the stream stops, the window drains and the rate falls to zero.
    let r = history(900, |s| if s < 500 { 10 } else { 0 });
    let b = bursts(&r, Duration::from_secs(60), DEFAULT_RATE_THRESHOLD);
    assert_eq!(b[0].moved_per_s, 0.0);
    assert_eq!(b[0].since_ms, None);
}

#[test]
fn a_slow_stream_is_measured_over_the_window_not_per_poll() {
    // One MOVED every 30 s is 0.033/s: below the threshold though single polls show 0.2/s.
    let r = history(900, |s| u64::from(s % 30 == 0));
    let b = bursts(&r, Duration::from_secs(300), DEFAULT_RATE_THRESHOLD);
    assert!((b[0].moved_per_s - 10.0 / 300.0).abs() < 1e-9, "{b:?}");
    assert_eq!(b[0].since_ms, None);
}

/// A snapshot whose history has `a` redirecting at 2/s from `burst_s`, and a reshard seen
/// at `change_s`.
fn snapshot(burst_s: u64, change_s: u64, until_s: u64) -> Snapshot {
    let a = "127.0.0.1:30001";
    let before = merge(&[parse_view(&healthy()).unwrap()], 0);
    let moved = healthy()
        .replace("0-5460", "100-5460")
        .replace("5461-10922", "0-99 5461-10922")
        .replace(" 2 connected", " 9 connected");
    let after = merge(&[parse_view(&moved).unwrap()], change_s * 1000);
    let mut s = snapshot_of(&moved, &[]);
    s.events = Arc::new(stamp(crate::topology::diff::diff(&before, &after), &after));
    let mut t = Timeline::new();
    let mut total = 0;
    for at in (0..=until_s).step_by(5) {
        if at > burst_s {
            total += 10;
        }
        t.record(at * 1000, [(a, Some(&counters(total)))]);
    }
    s.redirects = t.shared();
    s.polled_at_ms = until_s * 1000;
    s
}

#[test]
fn a_snapshot_is_judged_by_its_history_its_events_and_its_policy() {
    let mut s = snapshot(600, 610, 700);
    s.redirect_policy.rate_window = Duration::from_secs(60);
    let v = of_snapshot(&s, None);
    assert_eq!(v.state, State::Expected);
    assert_eq!(v.nodes[0].lasted_s, Some(100.0));
    assert!(v.last_change.starts_with("reshard: 100 slots"), "{v:?}");
    assert_eq!(v.measured_over, "the last 60 s");
    // The same history judged with a grace window shorter than the time since the change.
    s.redirect_policy.grace = Duration::from_secs(60);
    let v = of_snapshot(&s, None);
    assert_eq!(v.state, State::Persisting);
    assert!(
        v.summary.contains("No client report names a suspect yet"),
        "{v:?}"
    );
}

#[test]
fn a_window_shorter_than_a_point_gives_the_point_s_rate_not_more() {
    // Polls every second share 5 s points; 50 MOVED a second throughout.
    let mut t = Timeline::new();
    for s in 0..=30u64 {
        t.record(s * 1000, [("a:1", Some(&counters(50 * s)))]);
    }
    let r = t.shared();
    assert!(
        r.points.len() < 30,
        "polls share points: {}",
        r.points.len()
    );
    for window in [1, 3, 7, 20] {
        let b = bursts(&r, Duration::from_secs(window), DEFAULT_RATE_THRESHOLD);
        assert!(
            (b[0].moved_per_s - 50.0).abs() < 1e-9,
            "over {window} s: {b:?}"
        );
    }
}

#[test]
fn suspects_are_those_of_the_bursting_nodes_and_none_from_a_withdrawn_report() {
    let mut report = crate::clients::report::one_plain_client("c", "127.0.0.1:30001");
    assert_eq!(
        suspects_on(&report, &["127.0.0.1:30001"]),
        ["plain-app (not cluster-aware) on 127.0.0.1:30001"]
    );
    assert!(suspects_on(&report, &["127.0.0.1:30002"]).is_empty());
    report.withdraw("the topology changed".to_owned());
    assert!(suspects_on(&report, &["127.0.0.1:30001"]).is_empty());
}
