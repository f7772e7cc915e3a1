//! The nodes table: suspects, each node's own state, replication and placement.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;

#[test]
fn a_node_with_suspect_clients_says_so_and_links_to_them() {
    let mut s = Published::new(snapshot_of(&healthy(), &[]));
    s.clients = Some(Arc::new(crate::clients::report::one_plain_client(
        "test",
        "127.0.0.1:30002",
    )));
    let doc = rendered(&s);
    let link = row_of(&doc, "127.0.0.1:30002").one("a");
    assert_eq!(link.attr("href"), Some("../clients?cluster=test"));
    assert_eq!(classes(link), BTreeSet::from(["bad"]));
    assert_eq!(text(link), "1 suspect client connection(s)");
    assert_eq!(
        visible_text(&doc).matches("suspect client").count(),
        1,
        "only that node"
    );
}

/// Sets what the node at `endpoint` said of itself in the poll.
fn says(s: &mut Snapshot, endpoint: &str, cluster_info: Option<&str>, replication: &str) {
    let n = s.nodes.iter_mut().find(|n| n.endpoint == endpoint).unwrap();
    n.cluster_info = cluster_info.map(|t| crate::cluster_info::ClusterInfo::parse(t).unwrap());
    n.replication = crate::replication::Replication::parse(replication);
}

const INFO_OK: &str = "cluster_state:ok\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n\
    cluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:6\r\ncluster_my_epoch:2\r\n";

#[test]
fn the_nodes_table_shows_own_state_replication_and_placement() {
    // Every node on its own host but C's replica, which shares C's.
    let mut s = snapshot_of(&spread().replace("10.0.0.6:30006@", "10.0.0.3:30006@"), &[]);
    let fail = INFO_OK
        .replace("cluster_state:ok", "cluster_state:fail")
        .replace("cluster_slots_pfail:0", "cluster_slots_pfail:5461");
    says(
        &mut s,
        "10.0.0.1:30001",
        Some(INFO_OK),
        "role:master\r\nmaster_repl_offset:5000\r\n",
    );
    says(
        &mut s,
        "10.0.0.4:30004",
        Some(INFO_OK),
        "role:slave\r\nmaster_link_status:up\r\nmaster_sync_in_progress:0\r\n\
         slave_repl_offset:4000\r\n",
    );
    says(
        &mut s,
        "10.0.0.2:30002",
        Some(&fail),
        "role:master\r\nmaster_repl_offset:9\r\n",
    );
    says(
        &mut s,
        "10.0.0.5:30005",
        None,
        "role:slave\r\nmaster_link_status:down\r\nmaster_sync_in_progress:0\r\n\
         master_link_down_since_seconds:42\r\n",
    );
    let doc = rendered(&Published::new(s));
    let cell = |endpoint: &str, col: &str| text(cell_under(&doc, row_of(&doc, endpoint), col));
    assert_eq!(cell("10.0.0.1:30001", "cluster_state"), "ok");
    assert_eq!(
        cell("10.0.0.2:30002", "cluster_state"),
        "fail, 5461 slots fail?"
    );
    assert_eq!(
        cell("10.0.0.5:30005", "cluster_state"),
        "",
        "it did not say"
    );
    assert_eq!(cell("10.0.0.1:30001", "replication"), "1 ready");
    assert_eq!(
        cell("10.0.0.4:30004", "replication"),
        "link up, 1000 bytes behind"
    );
    assert_eq!(cell("10.0.0.5:30005", "replication"), "link down for 42s");
    assert_eq!(
        cell("10.0.0.2:30002", "replication"),
        "no replica ready (1 link down)"
    );
    assert_eq!(
        cell("10.0.0.3:30006", "placement"),
        "same host as its master (10.0.0.3)"
    );
    let marked: Vec<&str> = doc
        .all("#nodes [data-risk]")
        .into_iter()
        .map(|e| attr(e, "data-risk"))
        .collect();
    assert_eq!(marked, ["colocated"], "only C's replica is placed badly");
    // The same facts are the banner's problems.
    let problems: Vec<&str> = doc
        .all("#banner li[data-problem]")
        .into_iter()
        .map(|li| attr(li, "data-problem"))
        .collect();
    for tag in ["state_fail", "unredundant", "replication_down", "colocated"] {
        assert!(problems.contains(&tag), "{tag} in {problems:?}");
    }
}

#[test]
fn a_one_host_cluster_gets_a_note_in_the_banner_and_no_placement_marks() {
    let doc = rendered(&Published::new(snapshot_of(&healthy(), &[])));
    let banner = doc.one("#banner .banner");
    assert_eq!(classes(banner), BTreeSet::from(["banner", "ok"]));
    let notes: Vec<&str> = banner
        .all("li[data-note]")
        .into_iter()
        .map(|li| attr(li, "data-note"))
        .collect();
    assert_eq!(notes, ["single_host"]);
    assert_eq!(doc.all("#nodes [data-risk]").len(), 0, "no row is marked");
    let replica = row_of(&doc, "127.0.0.1:30004");
    assert_eq!(text(cell_under(&doc, replica, "placement")), "");
}
