//! Redundancy, replication, placement and balance, judged from snapshots.

use super::*;
use crate::health::{Note, Problem, notes, problems};
use crate::replication::Replication;
use crate::snapshot::testdata::snapshot_of;
use crate::topology::testdata::*;

fn say(s: &mut Snapshot, endpoint: &str, replication: &str) {
    let n = s.nodes.iter_mut().find(|n| n.endpoint == endpoint).unwrap();
    n.replication = Replication::parse(replication);
}

fn texts(s: &Snapshot) -> Vec<String> {
    problems(s).iter().map(ToString::to_string).collect()
}

const LINK_UP: &str = "role:slave\r\nmaster_link_status:up\r\nmaster_sync_in_progress:0\r\n\
    master_last_io_seconds_ago:0\r\nslave_repl_offset:1000\r\n";

#[test]
fn distinct_hosts_and_ready_replicas_are_no_risk_and_no_note() {
    let s = snapshot_of(&spread(), &[]);
    assert_eq!(problems(&s), vec![]);
    assert_eq!(notes(&s), vec![]);
}

#[test]
fn a_master_whose_only_replica_fails_is_unredundant_and_says_why() {
    let s = snapshot_of(
        &spread().replace(
            "10.0.0.4:30004@31004 slave",
            "10.0.0.4:30004@31004 slave,fail",
        ),
        &[],
    );
    assert_eq!(
        texts(&s),
        [
            "1 master(s) have no replica ready to take over, so their next failure leaves their \
          slots without an owner: 10.0.0.1:30001 (5461 slots; 10.0.0.4:30004 failing)"
        ]
    );
}

#[test]
fn a_replica_that_never_takes_over_leaves_its_master_unredundant() {
    let s = snapshot_of(
        &spread().replace(
            "10.0.0.5:30005@31005 slave",
            "10.0.0.5:30005@31005 slave,nofailover",
        ),
        &[],
    );
    let t = s.topology.clone().unwrap();
    let b = shards(&s, &t)
        .into_iter()
        .find(|sh| sh.master.endpoint == "10.0.0.2:30002")
        .unwrap();
    assert_eq!(b.count(ReplicaState::NoFailover), 1);
    assert!(b.unredundant());
    assert!(matches!(&problems(&s)[..], [Problem::Unredundant { .. }]));
}

#[test]
fn a_master_without_slots_needs_no_replica() {
    let text = spread().replace(" 10923-16383", "");
    let s = snapshot_of(&text, &[]);
    let t = s.topology.clone().unwrap();
    let c = shards(&s, &t)
        .into_iter()
        .find(|sh| sh.master.endpoint == "10.0.0.3:30003")
        .unwrap();
    assert!(!c.unredundant());
}

#[test]
fn a_link_down_is_a_problem_and_its_master_unredundant() {
    let mut s = snapshot_of(&spread(), &[]);
    say(
        &mut s,
        "10.0.0.1:30001",
        "role:master\r\nmaster_repl_offset:1000\r\n",
    );
    say(
        &mut s,
        "10.0.0.4:30004",
        "role:slave\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\n\
         slave_repl_offset:900\r\n",
    );
    let p = texts(&s);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].ends_with("10.0.0.1:30001 (5461 slots; 10.0.0.4:30004 link_down)"));
    assert_eq!(
        p[1],
        "1 replica(s) say their link to the master is down or a full sync runs: \
         10.0.0.4:30004 (of 10.0.0.1:30001)"
    );
    let t = s.topology.clone().unwrap();
    let l = links(&s, &t);
    assert_eq!(l.len(), 1);
    assert_eq!(
        (l[0].up, l[0].lag_bytes),
        (false, None),
        "no lag on a link down"
    );
}

#[test]
fn lag_is_the_masters_offset_less_the_replicas_and_past_the_threshold_a_problem() {
    let mut s = snapshot_of(&spread(), &[]);
    let behind = 1000 + LAG_BYTES;
    say(
        &mut s,
        "10.0.0.1:30001",
        &format!("role:master\r\nmaster_repl_offset:{behind}\r\n"),
    );
    say(&mut s, "10.0.0.4:30004", LINK_UP);
    say(
        &mut s,
        "10.0.0.2:30002",
        "role:master\r\nmaster_repl_offset:1500\r\n",
    );
    say(&mut s, "10.0.0.5:30005", LINK_UP);
    // A replica read a moment after its master may be ahead of it: no lag, not a wrap.
    say(
        &mut s,
        "10.0.0.3:30003",
        "role:master\r\nmaster_repl_offset:900\r\n",
    );
    say(&mut s, "10.0.0.6:30006", LINK_UP);
    let t = s.topology.clone().unwrap();
    let lags: Vec<_> = links(&s, &t)
        .iter()
        .map(|l| (l.replica.endpoint.clone(), l.lag_bytes))
        .collect();
    assert_eq!(
        lags,
        [
            ("10.0.0.4:30004".to_owned(), Some(LAG_BYTES)),
            ("10.0.0.5:30005".to_owned(), Some(500)),
            ("10.0.0.6:30006".to_owned(), Some(0)),
        ]
    );
    assert_eq!(problems(&s), vec![], "exactly the threshold is not over it");
    say(
        &mut s,
        "10.0.0.1:30001",
        &format!("role:master\r\nmaster_repl_offset:{}\r\n", behind + 1),
    );
    assert_eq!(
        texts(&s),
        [format!(
            "1 replica(s) are far behind their master, so a failover now loses writes: \
             10.0.0.4:30004 ({} bytes behind 10.0.0.1:30001)",
            LAG_BYTES + 1
        )]
    );
}

#[test]
fn a_replica_that_does_not_answer_is_judged_by_what_its_master_last_heard() {
    let mut s = snapshot_of(&spread(), &["10.0.0.4:30004"]);
    say(
        &mut s,
        "10.0.0.1:30001",
        "role:master\r\nconnected_slaves:1\r\n\
         slave0:ip=10.0.0.4,port=30004,state=online,offset=1000,lag=7\r\n\
         master_repl_offset:901000\r\n",
    );
    let t = s.topology.clone().unwrap();
    let l = links(&s, &t);
    assert_eq!(l.len(), 1);
    assert_eq!((l[0].up, l[0].lag_bytes), (true, Some(900_000)));
    // Once it answers again its own offset counts.
    let mut s = snapshot_of(&spread(), &[]);
    say(
        &mut s,
        "10.0.0.1:30001",
        "role:master\r\nslave0:ip=10.0.0.4,port=30004,state=online,offset=1000,lag=7\r\nmaster_repl_offset:901000\r\n",
    );
    say(
        &mut s,
        "10.0.0.4:30004",
        &LINK_UP.replace("slave_repl_offset:1000", "slave_repl_offset:900500"),
    );
    let l = links(&s, &t);
    assert_eq!(l[0].lag_bytes, Some(500));
}

#[test]
fn exactly_the_replica_on_its_masters_host_is_flagged() {
    let text = spread().replace("10.0.0.5:30005@", "10.0.0.2:30005@");
    let s = snapshot_of(&text, &[]);
    assert_eq!(
        texts(&s),
        [
            "1 replica(s) share a host with their master, so one machine failure takes both: \
          replica 10.0.0.2:30005 and its master 10.0.0.2:30002 on 10.0.0.2"
        ]
    );
    // On another master's host is no risk of this kind.
    let s = snapshot_of(&spread().replace("10.0.0.5:30005@", "10.0.0.3:30005@"), &[]);
    assert_eq!(problems(&s), vec![]);
}

#[test]
fn an_announced_hostname_is_the_host() {
    let text = spread()
        .replace("10.0.0.2:30002@31002", "10.0.0.2:30002@31002,db-b")
        .replace("10.0.0.5:30005@31005", "10.0.0.5:30005@31005,db-b");
    let s = snapshot_of(&text, &[]);
    assert!(
        matches!(&problems(&s)[..], [Problem::Colocated { pairs }] if pairs[0].ends_with("on db-b"))
    );
}

#[test]
fn one_host_for_all_is_one_note_not_a_problem_per_shard() {
    let s = snapshot_of(&healthy(), &[]);
    assert_eq!(problems(&s), vec![]);
    assert_eq!(
        notes(&s),
        vec![Note::SingleHost {
            host: "127.0.0.1".into(),
            nodes: 6
        }]
    );
    let t = s.topology.clone().unwrap();
    assert!(shards(&s, &t).iter().all(|sh| sh.colocated.len() == 1));
}

#[test]
fn a_shard_all_in_one_zone_is_flagged_and_one_spread_over_two_is_not() {
    let mut s = snapshot_of(&spread(), &[]);
    for (endpoint, zone) in [
        ("10.0.0.1:30001", "az1"),
        ("10.0.0.4:30004", "az1"),
        ("10.0.0.2:30002", "az1"),
        ("10.0.0.5:30005", "az2"),
    ] {
        let n = s.nodes.iter_mut().find(|n| n.endpoint == endpoint).unwrap();
        n.zone = Some(zone.into());
    }
    // The third shard says no zone at all: nothing is known, nothing is flagged.
    assert_eq!(
        texts(&s),
        [
            "1 shard(s) are in one availability zone, so one zone outage takes them: \
          10.0.0.1:30001 and its 1 replica(s) in az1"
        ]
    );
}

#[test]
fn slots_off_the_mean_by_more_than_two_percent_get_a_note() {
    let even = snapshot_of(&spread(), &[]);
    let b = balance(even.topology.as_ref().unwrap()).unwrap();
    assert_eq!((b.masters, b.min, b.max), (3, 5461, 5462));
    assert!(b.off_by_percent() < 0.02);
    assert_eq!(notes(&even), vec![]);

    let uneven = spread()
        .replace(" 0-5460", " 0-5700")
        .replace(" 5461-10922", " 5701-10922");
    let s = snapshot_of(&uneven, &[]);
    let b = balance(s.topology.as_ref().unwrap()).unwrap();
    assert_eq!((b.min, b.max), (5222, 5701));
    assert!((b.spread() - 5701.0 / (16384.0 / 3.0)).abs() < 1e-9);
    let n = notes(&s);
    assert_eq!(
        n.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "slots are spread unevenly: 5222 to 5701 per master (mean 5461, 4.4% off, max/mean \
          1.04); redis-cli --cluster rebalance moves slots past 2%"
        ]
    );
    assert_eq!(problems(&s), vec![], "balance is never a problem");
}
