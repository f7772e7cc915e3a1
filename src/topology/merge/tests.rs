use super::*;
use crate::topology::Mechanism;
use crate::topology::parse::parse_view;
use crate::topology::testdata::*;

fn id(s: &str) -> NodeId {
    NodeId::parse(s).unwrap()
}

/// The same healthy cluster as seen by node `me` (an endpoint port) instead of A.
fn seen_by(text: &str, me: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace("myself,", "");
            if l.starts_with(me) {
                l.replacen("master", "myself,master", 1)
                    .replacen(" slave ", " myself,slave ", 1)
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn agreeing_views_merge_cleanly() {
    let views: Vec<View> = [A, B, C1]
        .iter()
        .map(|me| parse_view(&seen_by(&healthy(), me)).unwrap())
        .collect();
    let t = merge(&views, 42);
    assert_eq!(t.nodes.len(), 6);
    assert_eq!(t.views, 3);
    assert_eq!(t.observed_at_ms, 42);
    assert!(t.disagreement.is_empty());
    assert_eq!(t.unassigned_slots(), 0);
    assert_eq!(t.owner(0).unwrap().id, id(A));
    assert_eq!(t.owner(5461).unwrap().id, id(B));
    assert_eq!(t.owner(16383).unwrap().id, id(C));
    assert_eq!(t.node(&id(B)).unwrap().slot_count, 5462);
    assert_eq!(
        t.replicas_of(&id(C)).map(|n| n.id).collect::<Vec<_>>(),
        vec![id(C1)]
    );
    let answered: Vec<_> = t
        .nodes
        .iter()
        .filter(|n| n.answered)
        .map(|n| n.id)
        .collect();
    assert_eq!(answered.len(), 3);
    assert!(t.nodes.windows(2).all(|w| w[0].id < w[1].id));
}

#[test]
fn highest_epoch_wins_and_disagreement_is_counted() {
    // A's view is stale: it still thinks B owns 5461-5470. C's view already has the newer
    // claim (epoch 7) that A took those slots.
    let stale = healthy();
    let fresh = seen_by(&healthy(), C)
        .replace(" 1 connected 0-5460", " 7 connected 0-5470")
        .replace("5461-10922", "5471-10922");
    let t = merge(
        &[parse_view(&stale).unwrap(), parse_view(&fresh).unwrap()],
        0,
    );
    assert_eq!(t.owner(5465).unwrap().id, id(A));
    assert_eq!(t.node(&id(A)).unwrap().slot_count, 5471);
    assert_eq!(t.disagreement.len(), 10);
    assert_eq!(t.disagreement.to_string(), "5461-5470");
    // Order of views does not change the winner.
    let t2 = merge(
        &[parse_view(&fresh).unwrap(), parse_view(&stale).unwrap()],
        0,
    );
    assert_eq!(t2.owner(5465).unwrap().id, id(A));
}

#[test]
fn flags_follow_the_majority() {
    let pfail_in_one = healthy().replace("30003@31003 master", "30003@31003 master,fail?");
    let fail_in_two =
        seen_by(&healthy(), B).replace("30003@31003 master", "30003@31003 master,fail");
    let fail_in_three =
        seen_by(&healthy(), A1).replace("30003@31003 master", "30003@31003 master,fail");
    let views = [
        parse_view(&pfail_in_one).unwrap(),
        parse_view(&fail_in_two).unwrap(),
        parse_view(&fail_in_three).unwrap(),
    ];
    let t = merge(&views, 0);
    let c = t.node(&id(C)).unwrap();
    assert!(c.fail, "two of three views say fail");
    assert!(!c.pfail, "only one of three says fail?");
    let t1 = merge(&views[..1], 0);
    assert!(t1.node(&id(C)).unwrap().pfail);
}

#[test]
fn own_view_decides_role_and_address() {
    // A1 was promoted; its own reply knows it, a lagging peer does not yet.
    let lagging = healthy();
    let own = seen_by(&healthy(), A1).replace(
        &format!("30004@31004 myself,slave {A}"),
        "30004@31004 myself,master -",
    );
    let t = merge(
        &[parse_view(&lagging).unwrap(), parse_view(&own).unwrap()],
        0,
    );
    let a1 = t.node(&id(A1)).unwrap();
    assert_eq!(a1.role, Role::Master);
    assert_eq!(a1.master, None);
}

#[test]
fn migrations_come_from_own_lines_and_pair_up() {
    let source = healthy().replace("0-5460", &format!("0-5460 [100->-{B}]"));
    let target = seen_by(&healthy(), B)
        .replace("5461-10922", &format!("5461-10922 [100-<-{A}] [200-<-{C}]"));
    // A peer's line for A carrying the bracket must be ignored: only own lines count.
    let t = merge(
        &[parse_view(&source).unwrap(), parse_view(&target).unwrap()],
        0,
    );
    assert_eq!(t.migrations.len(), 2);
    let m = &t.migrations[0];
    assert_eq!((m.slot, m.source, m.target), (100, id(A), id(B)));
    assert!(m.migrating_seen && m.importing_seen);
    let half = &t.migrations[1];
    assert_eq!((half.slot, half.source, half.target), (200, id(C), id(B)));
    assert!(!half.migrating_seen && half.importing_seen);
    assert_eq!(t.migrating_slots(&id(A), Mechanism::Classic), 1);
    assert_eq!(t.importing_slots(&id(B), Mechanism::Classic), 2);
}

#[test]
fn a_fresh_node_that_does_not_know_its_ip_is_labelled_by_the_address_others_see() {
    // D was just met: its own line has no IP yet, A's view knows it.
    let own = format!(
        "{D} :30007@31007 myself,master - 0 0 0 connected\n{A} 127.0.0.1:30001@31001 master - 0 0 1 connected 0-16383\n"
    );
    let a = healthy() + &format!("{D} 127.0.0.1:30007@31007 master - 0 0 0 connected\n");
    let t = merge(&[parse_view(&a).unwrap(), parse_view(&own).unwrap()], 0);
    let d = t.node(&id(D)).unwrap();
    assert_eq!(d.endpoint, "127.0.0.1:30007");
    // Alone, with no one to tell its address, it stays unaddressed.
    let t = merge(&[parse_view(&own).unwrap()], 0);
    assert_eq!(
        t.node(&id(D)).unwrap().endpoint,
        format!("noaddr:{}", &D[..8])
    );
}

#[test]
fn replicas_markers_are_not_migrations() {
    // Valkey 9 propagates SETSLOT: A's replica A1 and B's replica B1 print the markers of
    // slot 100's migration from A to B on their own lines.
    let source = healthy().replace("0-5460", &format!("0-5460 [100->-{B}]"));
    let target = seen_by(&healthy(), B).replace("5461-10922", &format!("5461-10922 [100-<-{A}]"));
    let a1 = seen_by(&healthy(), A1).replace(
        &format!("myself,slave {A} 0 1426238317239 1 connected"),
        &format!("myself,slave {A} 0 1426238317239 1 connected [100->-{B}]"),
    );
    let b1 = seen_by(&healthy(), B1).replace(
        &format!("myself,slave {B} 0 1426238316232 2 connected"),
        &format!("myself,slave {B} 0 1426238316232 2 connected [100-<-{A}]"),
    );
    assert!(a1.contains("[100->-") && b1.contains("[100-<-"));
    let views: Vec<View> = [source, target, a1, b1]
        .iter()
        .map(|v| parse_view(v).unwrap())
        .collect();
    let t = merge(&views, 0);
    assert_eq!(t.migrations.len(), 1, "{:?}", t.migrations);
    let m = &t.migrations[0];
    assert_eq!((m.slot, m.source, m.target), (100, id(A), id(B)));
    // Replicas alone say nothing about migrations.
    let t = merge(&views[2..], 0);
    assert!(t.migrations.is_empty(), "{:?}", t.migrations);
}

#[test]
fn a_node_only_itself_knows_is_left_out() {
    // After `redis-cli --cluster del-node`, D was forgotten and reset: it answers, knowing
    // only itself, and must neither stay a member nor make every slot a disagreement.
    let reset = format!("{D} 127.0.0.1:30007@31007 myself,master - 0 0 0 connected\n");
    let views = [
        parse_view(&healthy()).unwrap(),
        parse_view(&seen_by(&healthy(), B)).unwrap(),
        parse_view(&reset).unwrap(),
    ];
    let t = merge(&views, 0);
    assert!(t.node(&id(D)).is_none());
    assert!(t.disagreement.is_empty());
    assert_eq!((t.views, t.ignored_views), (2, 1));
    // Alone, a view is taken as it is.
    assert_eq!(merge(&views[2..], 0).nodes.len(), 1);
}

#[test]
fn slot_owners_are_masters_and_noaddr_nodes_get_their_own_label() {
    // Two lagging views still call A1 a replica; the fresh one gives it A's slots with a
    // higher epoch. The owner must be reported as a master.
    let fresh = seen_by(&healthy(), B)
        .replace(" 1 connected 0-5460", " 1 connected")
        .replace(
            &format!("30004@31004 slave {A} 0 1426238317239 1 connected"),
            "30004@31004 master - 0 1426238317239 9 connected 0-5460",
        );
    let t = merge(
        &[
            parse_view(&healthy()).unwrap(),
            parse_view(&seen_by(&healthy(), C)).unwrap(),
            parse_view(&fresh).unwrap(),
        ],
        0,
    );
    let a1 = t.node(&id(A1)).unwrap();
    assert_eq!(
        (a1.role, a1.master, a1.slot_count),
        (Role::Master, None, 5461)
    );

    let ghosts = healthy()
        + "1111111111111111111111111111111111111111 :0@0 master,fail,noaddr - 0 0 0 disconnected\n"
        + "2222222222222222222222222222222222222222 :0@0 slave,fail,noaddr - 0 0 0 disconnected\n";
    let t = merge(&[parse_view(&ghosts).unwrap()], 0);
    let labels: Vec<&str> = t
        .nodes
        .iter()
        .filter(|n| n.noaddr)
        .map(|n| n.endpoint.as_str())
        .collect();
    assert_eq!(labels, vec!["noaddr:11111111", "noaddr:22222222"]);
}

#[test]
fn handshake_entries_and_unassigned_slots() {
    let text = healthy().replace("10923-16383", "10923-16000")
        + &format!("{D} 127.0.0.1:30007@31007 handshake - 0 0 0 connected\n");
    let t = merge(&[parse_view(&text).unwrap()], 0);
    assert!(t.node(&id(D)).is_none());
    assert_eq!(t.unassigned_slots(), 383);
    assert_eq!(t.unassigned_ranges()[0].to_string(), "16001-16383");
    assert!(merge(&[], 0).nodes.is_empty());
}

#[test]
fn the_vote_by_ranges_agrees_with_the_vote_by_slot() {
    let index: HashMap<NodeId, u32> = [A, B, C, A1, B1, C1]
        .iter()
        .enumerate()
        .map(|(i, n)| (id(n), i as u32))
        .collect();
    let parse =
        |texts: &[String]| -> Vec<View> { texts.iter().map(|t| parse_view(t).unwrap()).collect() };
    let agreeing = parse(&[healthy(), seen_by(&healthy(), B), seen_by(&healthy(), C1)]);
    // A stale view (B still owns 5461-5470) next to a fresh one: they disagree.
    let disagreeing = parse(&[
        healthy(),
        seen_by(&healthy(), C)
            .replace(" 1 connected 0-5460", " 7 connected 0-5470")
            .replace("5461-10922", "5471-10922"),
    ]);
    // One view in which A (epoch 7) and B (epoch 2) both claim 5461-5470, as during a
    // failover or reshard before the loser's claim is dropped: the epoch decides.
    let overlapping = parse(&[healthy().replace(" 1 connected 0-5460", " 7 connected 0-5470")]);
    let unassigned = parse(&[healthy().replace(" 0-5460", " 1-5460")]);
    for (name, views, by_ranges) in [
        ("agreeing", &agreeing, true),
        ("disagreeing", &disagreeing, false),
        ("overlapping", &overlapping, false),
        ("unassigned", &unassigned, true),
    ] {
        let views: Vec<&View> = views.iter().collect();
        assert_eq!(
            agreed_claims(&views, &index).is_some(),
            by_ranges,
            "{name}: which vote applies"
        );
        let (owners, disagreement) = vote_slots(&views, &index);
        let (expected_owners, expected_disagreement) = vote_slots_by_slot(&views, &index);
        assert!(owners == expected_owners, "{name}: owners differ");
        assert_eq!(
            disagreement.to_string(),
            expected_disagreement.to_string(),
            "{name}"
        );
    }
}
