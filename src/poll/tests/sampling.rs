//! Which views a poll reads: the rotation, and the nodes kept hot.

use super::*;
use crate::poll::plan::{Sampling, Visit};
use crate::topology::testdata::{A, A1};

#[test]
fn the_rotation_reads_every_view_within_n_over_k_polls() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(2));
    world.poll(&mut s);
    for _ in 0..3 {
        world.poll(&mut s);
    }
    let mut seen: Vec<String> = world.full[1..4].concat();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        6,
        "ceil(6/2) = 3 polls read all views: {:?}",
        world.full
    );
    assert!(
        world.full[1..].iter().all(|f| f.len() == 2),
        "{:?}",
        world.full
    );
    assert!(
        world.visited[1..].iter().all(|v| v.len() == 6),
        "INFO from every node every poll"
    );
}

#[test]
fn nodes_of_a_recent_change_are_read_in_full_for_a_few_polls() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(1));
    world.poll(&mut s);
    world.poll(&mut s);
    // Slot 0 moves from A (30001) to B (30002), seen by whichever view the rotation read.
    world.text = healthy()
        .replace("0-5460", "1-5460")
        .replace("5461-10922", "0 5461-10922")
        .replace(" 2 connected", " 9 connected");
    let mut found = None;
    for _ in 0..8 {
        let o = world.poll(&mut s);
        if !o.events.is_empty() {
            found = Some(o);
            break;
        }
    }
    assert_eq!(kinds(&found.expect("the reshard is seen")), ["reshard"]);
    for _ in 0..3 {
        world.poll(&mut s);
        let full = world.full.last().unwrap();
        assert!(
            full.contains(&ep(30001)) && full.contains(&ep(30002)),
            "hot nodes every poll: {full:?}"
        );
    }
}

#[test]
fn an_open_migration_keeps_its_nodes_hot_and_survives_unread_views() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(1));
    world.poll(&mut s);
    world.text = healthy().replace("0-5460", &format!("0-5460 [100->-{B}]"));
    let mut started = false;
    for _ in 0..8 {
        let o = world.poll(&mut s);
        started |= kinds(&o) == ["migration_started"];
        if started {
            break;
        }
    }
    assert!(started, "{:?}", world.full);
    for _ in 0..5 {
        let o = world.poll(&mut s);
        assert!(o.events.is_empty(), "{:?}", kinds(&o));
        assert_eq!(o.snapshot.topology.as_ref().unwrap().migrations.len(), 1);
        assert!(world.full.last().unwrap().contains(&ep(30001)));
    }
    // With the source down, its view is unread: the migration is unknown, not closed.
    world.down.insert(ep(30001));
    let o = world.poll(&mut s);
    assert!(!kinds(&o).contains(&"migration_aborted"), "{:?}", kinds(&o));
    assert_eq!(o.snapshot.topology.as_ref().unwrap().migrations.len(), 1);
}

#[test]
fn new_ask_traffic_makes_a_node_hot() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(1));
    for _ in 0..3 {
        world.poll(&mut s);
    }
    world.asks.insert(ep(30003), 5);
    world.poll(&mut s);
    for _ in 0..2 {
        world.poll(&mut s);
        assert!(
            world.full.last().unwrap().contains(&ep(30003)),
            "{:?}",
            world.full
        );
    }
}

#[test]
fn rotation_views_close_their_connection_and_hot_ones_do_not() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(2));
    world.poll(&mut s);
    let plan = s.plan();
    let full: Vec<&Visit> = plan.visits.iter().filter(|v| v.full_view).collect();
    assert_eq!(full.len(), 2);
    assert!(full.iter().all(|v| v.close_after));
    assert!(
        plan.visits
            .iter()
            .filter(|v| !v.full_view)
            .all(|v| !v.close_after)
    );
}

#[test]
fn a_one_shot_poll_reads_every_view_whatever_the_size() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::All);
    world.poll(&mut s);
    world.poll(&mut s);
    assert_eq!(world.full[1].len(), 6);
}

#[test]
fn small_clusters_read_masters_every_poll_and_replicas_in_turn() {
    let mut world = World::new(healthy());
    let mut s = state(Sampling::Rotate(16));
    world.poll(&mut s);
    for _ in 0..3 {
        world.poll(&mut s);
    }
    for full in &world.full[1..4] {
        assert!(
            [30001, 30002, 30003].iter().all(|p| full.contains(&ep(*p))),
            "every master every poll: {full:?}"
        );
        assert_eq!(full.len(), 4, "one replica per poll: {full:?}");
    }
    let mut replicas: Vec<&String> = world.full[1..4]
        .iter()
        .flatten()
        .filter(|e| ![ep(30001), ep(30002), ep(30003)].contains(e))
        .collect();
    replicas.sort();
    replicas.dedup();
    assert_eq!(replicas.len(), 3, "each replica's view within 3 polls");
    // A failover is still seen the next poll: the masters' views show the promotion.
    world.text = healthy()
        .replace(
            "30001@31001 myself,master - 0 1426238316000 1 connected 0-5460",
            &format!("30001@31001 myself,slave {A1} 0 1426238316000 7 connected"),
        )
        .replace(
            &format!("30004@31004 slave {A} 0 1426238317239 1 connected"),
            "30004@31004 master - 0 1426238317239 7 connected 0-5460",
        );
    let o = world.poll(&mut s);
    assert_eq!(kinds(&o), ["failover"]);
}

#[test]
fn command_stats_are_read_only_after_a_node_may_have_refused_a_command() {
    let mut world = World::new(healthy());
    for port in 30001..=30005 {
        world.errors.insert(ep(port), (10, 3));
    }
    // 30006 is a server without total_error_replies, whose refusals cannot be told.
    let mut s = state(Sampling::Rotate(16));
    let rejected = |o: &Outcome, port: u16| {
        o.snapshot
            .nodes
            .iter()
            .find(|n| n.endpoint == ep(port))
            .map(|n| n.counters.rejected_calls.clone())
    };
    let o = world.poll(&mut s);
    assert_eq!(world.command_stats[0].len(), 6, "read once from every node");
    assert_eq!(rejected(&o, 30002), Some(vec![("get".to_owned(), 3)]));

    let o = world.poll(&mut s);
    assert_eq!(
        world.command_stats[1],
        [ep(30006)],
        "no node refused anything"
    );
    assert_eq!(
        rejected(&o, 30002),
        Some(vec![("get".to_owned(), 3)]),
        "kept from the last read"
    );

    // 30002 refuses two more commands: its error replies rise, seen in this poll's INFO...
    world.errors.insert(ep(30002), (12, 5));
    world.poll(&mut s);
    assert_eq!(world.command_stats[2], [ep(30006)]);
    // ...so the next poll reads its rejected calls, and the one after no longer does.
    let o = world.poll(&mut s);
    assert_eq!(world.command_stats[3], [ep(30002), ep(30006)]);
    assert_eq!(rejected(&o, 30002), Some(vec![("get".to_owned(), 5)]));
    world.poll(&mut s);
    assert_eq!(world.command_stats[4], [ep(30006)]);
}
