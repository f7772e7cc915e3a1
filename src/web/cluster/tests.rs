//! The cluster page rendered from hand-made snapshots.

use std::sync::Arc;

use super::*;
use crate::info::NodeCounters;
use crate::snapshot::redirects::Timeline;
use crate::snapshot::testdata::snapshot_of;
use crate::topology::event::stamp;
use crate::topology::merge::merge;
use crate::topology::parse::parse_view;
use crate::topology::testdata::*;

/// The `<g class="rng" ...>` opening tag of the run holding `slot`.
fn run_of(html: &str, slot: u16) -> String {
    let attr = |tag: &str, name: &str| -> u16 {
        let from = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[from..from + tag[from..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    html.match_indices("<g tabindex=\"0\" data-start=")
        .map(|(at, _)| html[at..at + html[at..].find('>').unwrap()].to_owned())
        .find(|tag| (attr(tag, "data-start")..=attr(tag, "data-end")).contains(&slot))
        .unwrap_or_else(|| panic!("no run holds slot {slot}"))
}

#[test]
fn a_healthy_cluster_shows_three_owners_in_three_colours() {
    let s = snapshot_of(&healthy(), &[]);
    let html = page(&Published::new(s.clone()));
    assert!(html.contains("class=\"banner ok\""), "{html}");
    let first = run_of(&html, 0);
    assert!(
        first.contains("data-start=\"0\" data-end=\"5460\" data-owner=\"127.0.0.1:30001\""),
        "{first}"
    );
    let fills: Vec<String> = [0, 6000, 16383]
        .iter()
        .map(|slot| {
            let tag = run_of(&html, *slot);
            tag[tag.find("fill=\"").unwrap()..].to_owned()
        })
        .collect();
    assert!(
        fills[0] != fills[1] && fills[1] != fills[2] && fills[0] != fills[2],
        "{fills:?}"
    );
    assert!(html.contains(
        "<title>slots 0-5460 (5461 slots): owner 127.0.0.1:30001; replicas 127.0.0.1:30004</title>"
    ));
    // The legend and the nodes table: every node, masters with slots, replicas with master.
    assert_eq!(html.matches("<li data-owner=").count(), 3);
    assert_eq!(
        html.matches("<tr class=\"m\"><td><i style=\"background:")
            .count(),
        3
    );
    assert_eq!(html.matches("<tr class=\"r\">").count(), 3);
    assert!(html.contains(
        "<tr class=\"r\"><td>127.0.0.1:30004</td><td>replica</td><td>127.0.0.1:30001</td>"
    ));
    assert!(html.contains("No slot migration open."));
}

#[test]
fn problems_are_marked_in_words_and_patterns_not_only_colour() {
    let broken = healthy()
        .replace("10923-16383", "10923-16000")
        .replace("30002@31002 master", "30002@31002 master,fail")
        .replace("0-5460", &format!("0-5460 [7->-{B}]"));
    let s = snapshot_of(&broken, &["127.0.0.1:30002"]);
    let html = page(&Published::new(s.clone()));
    let unassigned = run_of(&html, 16100);
    assert!(
        unassigned.contains(
            "data-start=\"16001\" data-end=\"16383\" data-state=\"unassigned\" fill=\"url(#p-un)\""
        ),
        "{unassigned}"
    );
    assert!(html.contains("<title>slots 16001-16383 (383 slots): UNASSIGNED, no owner</title>"));
    let migrating = run_of(&html, 7);
    assert!(
        migrating.contains("data-start=\"7\" data-end=\"7\" data-state=\"migrating\" data-owner=\"127.0.0.1:30001\""),
        "{migrating}"
    );
    assert!(html.contains(
        "<title>slot 7: MIGRATING 127.0.0.1:30001 -&gt; 127.0.0.1:30002 (classic, migrating); \
         owner 127.0.0.1:30001; replicas 127.0.0.1:30004</title>"
    ));
    assert_eq!(
        html.matches("class=\"ring\"").count(),
        1,
        "the slot is ringed"
    );
    assert_eq!(
        run_of(&html, 6)[..],
        run_of(&html, 0)[..],
        "slots 0-6 are one run"
    );
    assert!(run_of(&html, 8).contains("data-start=\"8\" data-end=\"5460\""));
    let failing = run_of(&html, 6000);
    assert!(failing.contains("data-failing=\"fail\""), "{failing}");
    assert!(html.contains("(FAILING: fail)"));
    assert!(html.contains("<b>MIGRATING</b> slot 7: open"));
    // The banner: the shared judgement, every problem in words.
    assert!(html.contains("class=\"banner bad\" role=\"alert\""));
    for tag in [
        "nodes_not_answering",
        "slots_unassigned",
        "master_failing",
        "migrations_open",
    ] {
        assert!(html.contains(&format!("data-problem=\"{tag}\"")), "{tag}");
    }
    let row = &html[html.find("127.0.0.1:30002</td><td>master</td>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.ends_with(
            "<td><b class=\"bad\">down</b> (connection failed: refused), flagged \
             <b class=\"bad\">fail</b></td>"
        ),
        "{row}"
    );
}

#[test]
fn only_open_migrations_are_a_warning_not_an_alert() {
    let s = snapshot_of(
        &healthy().replace("0-5460", &format!("0-5460 [7->-{B}]")),
        &[],
    );
    let b = sections(&Published::new(s.clone())).banner;
    assert!(
        b.starts_with("<div class=\"banner warn\" role=\"status\"><b>⚠ In progress:</b>"),
        "{b}"
    );
}

#[test]
fn redirects_and_events_share_the_time_axis() {
    let before = merge(&[parse_view(&healthy()).unwrap()], 1_000_000);
    let moved = healthy()
        .replace("0-5460", "100-5460")
        .replace("5461-10922", "0-99 5461-10922")
        .replace(" 2 connected", " 9 connected");
    let mut after = merge(&[parse_view(&moved).unwrap()], 1_600_000);
    after.observed_at_ms = 1_600_000;
    let events = stamp(crate::topology::diff::diff(&before, &after), &after);
    assert_eq!(events.len(), 1);
    let mut s = snapshot_of(&moved, &[]);
    s.polled_at_ms = 1_900_000;
    s.events = Arc::new(events);
    let mut timeline = Timeline::new();
    let c = |moved: u64, ask: u64| NodeCounters {
        moved: Some(moved),
        ask: Some(ask),
        has_errorstats: true,
        ..Default::default()
    };
    for (at, m) in [
        (1_000_000, 0),
        (1_300_000, 0),
        (1_610_000, 600),
        (1_900_000, 600),
    ] {
        timeline.record(at, [("127.0.0.1:30001", Some(&c(m, 2 * m / 600)))]);
    }
    s.redirects = timeline.shared();
    let html = page(&Published::new(s.clone()));
    // One row for the whole cluster, one for the node that redirected.
    assert!(html.contains("<g class=\"row\" data-node=\"all nodes\">"));
    assert!(html.contains("<g class=\"row\" data-node=\"127.0.0.1:30001\">"));
    // 600 MOVED over 310 s is 1.94/s; 2 ASK over the same 310 s.
    assert!(html.contains(">peak 1.94/s</text>"), "{html}");
    assert!(html.contains("<tr><td>127.0.0.1:30001</td><td>600</td><td>2</td></tr>"));
    // The reshard is marked at its time, with its sentence.
    assert!(html.contains("<g class=\"ev\" tabindex=\"0\" data-kind=\"reshard\""));
    assert!(html.contains(
        "<title>1970-01-01 00:26:40 UTC: reshard: 100 slots 0-99 moved 127.0.0.1:30001 -&gt; \
         127.0.0.1:30002</title>"
    ));
    assert!(html.contains(
        "<li data-kind=\"reshard\"><time datetime=\"1970-01-01T00:26:40.000Z\">1970-01-01 \
         00:26:40</time> reshard: 100 slots"
    ));
    // The chart spans the history: 15 minutes of it.
    assert!(html.contains(
        "<p class=\"key\">1970-01-01 00:16:40 to 00:31:40 UTC: since slotwatch started."
    ));
    assert!(!html.contains("no data"));
    // A history of a few seconds is drawn on a minute, the time before marked as no data.
    s.polled_at_ms = 1_010_000;
    let html = page(&Published::new(s.clone()));
    assert!(html.contains("<title>no data: slotwatch was not polling yet</title>"));
    assert!(html.contains("<p class=\"key\">1970-01-01 00:15:50 to 00:16:50 UTC"));
}

#[test]
fn the_page_is_self_contained_escaped_and_its_sections_are_the_data() {
    let mut s = snapshot_of(&healthy(), &[]);
    s.cluster = "prod <eu> & \"b\"/1".into();
    let html = page(&Published::new(s.clone()));
    assert!(html.contains("<h1>prod &lt;eu&gt; &amp; &quot;b&quot;/1</h1>"));
    assert!(html.contains("data-src=\"prod%20%3Ceu%3E%20%26%20%22b%22%2F1/data\""));
    for external in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "<script src",
        "<link",
    ] {
        assert!(!html.contains(external), "{external}");
    }
    let x = sections(&Published::new(s.clone()));
    for part in [
        &x.polled,
        &x.banner,
        &x.slots,
        &x.redirects,
        &x.events,
        &x.nodes,
    ] {
        assert!(html.contains(part.as_str()));
    }
}

#[test]
fn names_are_encoded_as_one_path_segment() {
    assert_eq!(path_segment("default"), "default");
    assert_eq!(path_segment("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    assert_eq!(path_segment("eu-1.prod_x~"), "eu-1.prod_x~");
}

#[test]
fn before_the_first_poll_the_page_says_so() {
    let html = page(&Published::new(crate::snapshot::Snapshot::empty("c")));
    assert!(html.contains("class=\"banner wait\""));
    assert!(html.contains("No topology yet"));
    assert!(html.contains("Waiting for the first poll."));
}

#[test]
fn a_node_with_suspect_clients_says_so_and_links_to_them() {
    let mut s = Published::new(snapshot_of(&healthy(), &[]));
    s.clients = Some(Arc::new(crate::clients::report::one_plain_client(
        "test",
        "127.0.0.1:30002",
    )));
    let html = page(&s);
    let row = html
        .split("<tr ")
        .find(|r| r.starts_with("class=") && r.contains("127.0.0.1:30002</td>"))
        .unwrap();
    assert!(
        row.contains(
            "<a class=\"bad\" href=\"../clients?cluster=test\">1 suspect client connection(s)</a>"
        ),
        "{row}"
    );
    assert_eq!(html.matches("suspect client").count(), 1, "only that node");
}
