//! `check`'s redirect evidence: rates from two polls, the change it can see, and an
//! exporter's `/events`.

use std::sync::Arc;

use super::*;
use crate::health::redirects::State;
use crate::info::NodeCounters;
use crate::snapshot::testdata::snapshot_of;
use crate::topology::merge::merge;
use crate::topology::parse::parse_view;
use crate::topology::testdata::{B, healthy};

const A: &str = "127.0.0.1:30001";

/// Two polls of the healthy cluster 2 s apart, with node A's MOVED counter at `before` and
/// `after`.
fn polls(before: u64, after: u64) -> (Snapshot, Snapshot) {
    let at = |moved: u64, ms: u64| {
        let mut s = snapshot_of(&healthy(), &[]);
        s.polled_at_ms = ms;
        let n = s.nodes.iter_mut().find(|n| n.endpoint == A).unwrap();
        n.counters = NodeCounters {
            moved: Some(moved),
            has_errorstats: true,
            ..Default::default()
        };
        s
    };
    (at(before, 10_000), at(after, 12_000))
}

#[test]
fn rates_come_from_the_counters_of_the_two_polls_and_a_reset_counts_from_zero() {
    let (a, b) = polls(100, 164);
    let bursts = bursts_between(&a, &b);
    assert_eq!(
        bursts.len(),
        1,
        "nodes without MOVED are left out: {bursts:?}"
    );
    assert_eq!((bursts[0].node.as_str(), bursts[0].moved_per_s), (A, 32.0));
    assert_eq!(bursts[0].since_ms, None);
    let (a, b) = polls(5000, 10);
    assert_eq!(
        bursts_between(&a, &b)[0].moved_per_s,
        5.0,
        "restarted: 10 since"
    );
}

#[test]
fn a_change_during_the_samples_comes_first_then_open_migrations_then_the_exporter() {
    let (a, mut b) = polls(0, 64);
    let moved = healthy()
        .replace("0-5460", "100-5460")
        .replace("5461-10922", "0-99 5461-10922")
        .replace(" 2 connected", " 9 connected");
    let mut t = merge(&[parse_view(&moved).unwrap()], 12_000);
    t.observed_at_ms = 12_000;
    b.topology = Some(Arc::new(t));
    let exporter = Some(("http://x:1", Some((1_000, "reshard long ago".to_owned()))));
    let LastChange::Seen { at_ms, what } = change_seen(&a, &b, exporter.clone()) else {
        panic!("a change during the samples is seen");
    };
    assert_eq!(at_ms, 12_000);
    assert!(
        what.starts_with("during the 2 s sample: reshard: 100 slots"),
        "{what}"
    );

    let (a, mut b) = polls(0, 64);
    let migrating = healthy().replace("0-5460", &format!("0-5460 [7->-{B}]"));
    b.topology = Some(Arc::new(merge(&[parse_view(&migrating).unwrap()], 12_000)));
    let c = change_seen(&a, &b, exporter.clone());
    assert!(
        matches!(&c, LastChange::Seen { at_ms: 12_000, what } if what == "1 slot migration(s) open now"),
        "{c:?}"
    );

    let (a, b) = polls(0, 64);
    let c = change_seen(&a, &b, exporter);
    assert_eq!(
        c,
        LastChange::Seen {
            at_ms: 1_000,
            what: "reshard long ago, as http://x:1 saw it".to_owned()
        }
    );
    let LastChange::Unknown { seen } = change_seen(&a, &b, None) else {
        panic!("without an exporter an earlier change is unknown");
    };
    assert!(seen.contains("--exporter URL"), "{seen}");
}

#[test]
fn the_verdict_of_two_polls_is_the_shared_one() {
    let (a, b) = polls(0, 64);
    let policy = Policy::default();
    let within = LastChange::Seen {
        at_ms: 11_000,
        what: "reshard".to_owned(),
    };
    let v = judge(&a, &b, &within, &policy, Vec::new());
    assert_eq!(v.state, State::Expected);
    assert_eq!(v.measured_over, "a 2 s sample");
    let v = judge(&a, &b, &change_seen(&a, &b, None), &policy, Vec::new());
    assert_eq!(v.state, State::Persisting);
    let (a, b) = polls(0, 0);
    assert_eq!(
        judge(&a, &b, &within, &policy, Vec::new()).state,
        State::Quiet
    );
}

#[test]
fn the_exporter_s_last_rerouting_change_is_read_from_its_events() {
    let json = br#"[
        {"cluster":"c","timestamp_ms":1000,"kind":"reshard","message":"reshard one"},
        {"cluster":"c","timestamp_ms":2000,"end_ms":5000,"kind":"failover","message":"failover"},
        {"cluster":"c","timestamp_ms":9000,"kind":"migration_started","message":"not a reroute"}
    ]"#;
    assert_eq!(
        last_change_in(json).unwrap(),
        Some((5000, "failover".to_owned())),
        "by the end of the operation, ignoring kinds that reroute nobody"
    );
    assert_eq!(last_change_in(b"[]").unwrap(), None);
    assert!(last_change_in(b"<html>").is_err());
    assert!(last_change_in(b"{\"error\":1}").is_err());
}
