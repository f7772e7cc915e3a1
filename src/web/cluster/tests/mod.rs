//! The cluster page rendered from hand-made snapshots.

use std::collections::BTreeSet;
use std::sync::Arc;

use scraper::{ElementRef, Html, Selector};

use super::*;
use crate::info::NodeCounters;
use crate::snapshot::Snapshot;
use crate::snapshot::redirects::Timeline;
use crate::snapshot::testdata::snapshot_of;
use crate::topology::event::stamp;
use crate::topology::merge::merge;
use crate::topology::parse::parse_view;
use crate::topology::testdata::*;

mod nodes;

/// The page as a browser parses it.
fn rendered(s: &Published) -> Html {
    Html::parse_document(&page(s))
}

/// Selecting in a whole parsed page or under one of its elements.
trait Find<'a> {
    /// Every element matching `css`, in document order.
    fn all(self, css: &str) -> Vec<ElementRef<'a>>;

    /// The one element matching `css`; panics unless there is exactly one.
    fn one(self, css: &str) -> ElementRef<'a>
    where
        Self: Sized,
    {
        let found = self.all(css);
        assert_eq!(found.len(), 1, "elements matching {css:?}");
        found[0]
    }
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("selector {css:?}: {e:?}"))
}

impl<'a> Find<'a> for &'a Html {
    fn all(self, css: &str) -> Vec<ElementRef<'a>> {
        self.select(&selector(css)).collect()
    }
}

impl<'a> Find<'a> for ElementRef<'a> {
    fn all(self, css: &str) -> Vec<ElementRef<'a>> {
        self.select(&selector(css)).collect()
    }
}

/// The text under `e`, white space collapsed as a browser shows it.
fn text(e: ElementRef) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The texts of every element matching `css`.
fn texts(doc: &Html, css: &str) -> Vec<String> {
    doc.all(css).into_iter().map(text).collect()
}

/// The value of the attribute `name` of `e`; panics when `e` has none.
fn attr<'a>(e: ElementRef<'a>, name: &str) -> &'a str {
    e.attr(name)
        .unwrap_or_else(|| panic!("no {name} on {}", e.html()))
}

/// The classes of `e`, whose order means nothing.
fn classes<'a>(e: ElementRef<'a>) -> BTreeSet<&'a str> {
    e.value().classes().collect()
}

/// What the page shows as text: the body without its script, white space collapsed.
fn visible_text(doc: &Html) -> String {
    let all: String = doc
        .one("body")
        .descendants()
        .filter(|n| {
            !n.ancestors().any(|a| {
                a.value()
                    .as_element()
                    .is_some_and(|e| matches!(e.name(), "script" | "style"))
            })
        })
        .filter_map(|n| n.value().as_text().map(|t| &**t))
        .collect();
    all.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The slot map's run (a focusable shape with `data-start` and `data-end`) holding `slot`;
/// panics unless exactly one does.
fn run_of(doc: &Html, slot: u16) -> ElementRef<'_> {
    let bound = |g: ElementRef, name: &str| -> u16 { attr(g, name).parse().unwrap() };
    let holding: Vec<ElementRef> = doc
        .all("#slots svg [data-start]")
        .into_iter()
        .filter(|g| (bound(*g, "data-start")..=bound(*g, "data-end")).contains(&slot))
        .collect();
    assert_eq!(holding.len(), 1, "runs holding slot {slot}");
    holding[0]
}

/// The `(data-start, data-end)` of a run.
fn span<'a>(run: ElementRef<'a>) -> (&'a str, &'a str) {
    (attr(run, "data-start"), attr(run, "data-end"))
}

/// The nodes table's row of the node at `endpoint` (its first cell); panics unless there is
/// exactly one.
fn row_of<'a>(doc: &'a Html, endpoint: &str) -> ElementRef<'a> {
    let rows: Vec<ElementRef> = doc
        .all("#nodes tbody tr")
        .into_iter()
        .filter(|tr| tr.all("td").first().is_some_and(|td| text(*td) == endpoint))
        .collect();
    assert_eq!(rows.len(), 1, "rows of {endpoint}");
    rows[0]
}

/// The cell of the nodes table's `row` under the header whose `data-col` is `col`.
fn cell_under<'a>(doc: &'a Html, row: ElementRef<'a>, col: &str) -> ElementRef<'a> {
    let at = doc
        .all("#nodes thead th")
        .into_iter()
        .position(|th| th.attr("data-col") == Some(col))
        .unwrap_or_else(|| panic!("no {col} column"));
    row.all("td")[at]
}

/// The texts of a table row's cells.
fn cells(row: ElementRef) -> Vec<String> {
    row.all("td").into_iter().map(text).collect()
}

#[test]
fn a_healthy_cluster_shows_three_owners_in_three_colours() {
    let s = snapshot_of(&healthy(), &[]);
    let doc = rendered(&Published::new(s.clone()));
    assert_eq!(
        classes(doc.one("#banner .banner")),
        BTreeSet::from(["banner", "ok"])
    );
    let first = run_of(&doc, 0);
    assert_eq!(span(first), ("0", "5460"));
    assert_eq!(first.attr("data-owner"), Some("127.0.0.1:30001"));
    assert_eq!(first.attr("data-state"), None, "{}", first.html());
    let fills: Vec<&str> = [0, 6000, 16383]
        .iter()
        .map(|slot| attr(run_of(&doc, *slot), "fill"))
        .collect();
    assert!(
        fills[0] != fills[1] && fills[1] != fills[2] && fills[0] != fills[2],
        "{fills:?}"
    );
    assert_eq!(
        text(first.one("title")),
        "slots 0-5460 (5461 slots): owner 127.0.0.1:30001; replicas 127.0.0.1:30004"
    );
    // The legend and the nodes table: every node, masters with slots, replicas with master.
    let legend: Vec<&str> = doc
        .all("li[data-owner]")
        .into_iter()
        .map(|li| attr(li, "data-owner"))
        .collect();
    assert_eq!(
        legend,
        ["127.0.0.1:30001", "127.0.0.1:30002", "127.0.0.1:30003"]
    );
    let masters = doc.all("#nodes tr.m");
    assert_eq!(masters.len(), 3);
    for m in masters {
        let swatch = m.one("td:first-child > i");
        assert!(
            attr(swatch, "style").starts_with("background:"),
            "{}",
            m.html()
        );
    }
    assert_eq!(doc.all("#nodes tr.r").len(), 3);
    let replica = row_of(&doc, "127.0.0.1:30004");
    assert_eq!(classes(replica), BTreeSet::from(["r"]));
    assert_eq!(
        cells(replica)[..3],
        ["127.0.0.1:30004", "replica", "127.0.0.1:30001"]
    );
    assert!(
        replica.all("i").is_empty(),
        "a replica has no colour of its own"
    );
    assert_eq!(text(doc.one("#slots .migs")), "No slot migration open.");
}

#[test]
fn problems_are_marked_in_words_and_patterns_not_only_colour() {
    let broken = healthy()
        .replace("10923-16383", "10923-16000")
        .replace("30002@31002 master", "30002@31002 master,fail")
        .replace("0-5460", &format!("0-5460 [7->-{B}]"));
    let s = snapshot_of(&broken, &["127.0.0.1:30002"]);
    let doc = rendered(&Published::new(s.clone()));
    let unassigned = run_of(&doc, 16100);
    assert_eq!(span(unassigned), ("16001", "16383"));
    assert_eq!(unassigned.attr("data-state"), Some("unassigned"));
    assert_eq!(unassigned.attr("data-owner"), None);
    assert_eq!(unassigned.attr("fill"), Some("url(#p-un)"));
    assert_eq!(
        text(unassigned.one("title")),
        "slots 16001-16383 (383 slots): UNASSIGNED, no owner"
    );
    let migrating = run_of(&doc, 7);
    assert_eq!(span(migrating), ("7", "7"));
    assert_eq!(migrating.attr("data-state"), Some("migrating"));
    assert_eq!(migrating.attr("data-owner"), Some("127.0.0.1:30001"));
    assert_eq!(
        text(migrating.one("title")),
        "slot 7: MIGRATING 127.0.0.1:30001 -> 127.0.0.1:30002 (classic, migrating); \
         owner 127.0.0.1:30001; replicas 127.0.0.1:30004"
    );
    assert_eq!(doc.all(".ring").len(), 1, "one slot is ringed");
    migrating.one(".ring");
    assert_eq!(run_of(&doc, 6), run_of(&doc, 0), "slots 0-6 are one run");
    assert_eq!(span(run_of(&doc, 0)), ("0", "6"));
    assert_eq!(span(run_of(&doc, 8)), ("8", "5460"));
    let failing = run_of(&doc, 6000);
    assert_eq!(failing.attr("data-failing"), Some("fail"));
    assert!(
        text(failing.one("title")).contains("owner 127.0.0.1:30002 (FAILING: fail)"),
        "{}",
        failing.html()
    );
    let migration = doc.one("#slots .migs li");
    assert_eq!(text(migration.one("b")), "MIGRATING");
    assert!(
        text(migration).starts_with("MIGRATING slot 7: open"),
        "{}",
        text(migration)
    );
    // The banner: the shared judgement, every problem in words.
    let banner = doc.one("#banner .banner");
    assert_eq!(classes(banner), BTreeSet::from(["banner", "bad"]));
    assert_eq!(banner.attr("role"), Some("alert"));
    let problems: Vec<&str> = banner
        .all("li[data-problem]")
        .into_iter()
        .map(|li| attr(li, "data-problem"))
        .collect();
    for tag in [
        "nodes_not_answering",
        "slots_unassigned",
        "master_failing",
        "migrations_open",
    ] {
        assert!(problems.contains(&tag), "{tag} in {problems:?}");
    }
    let row = row_of(&doc, "127.0.0.1:30002");
    assert_eq!(cells(row)[1], "master");
    let state = cell_under(&doc, row, "state");
    assert_eq!(
        text(state),
        "down (connection failed: refused), flagged fail"
    );
    let marked: Vec<String> = state.all("b.bad").into_iter().map(text).collect();
    assert_eq!(marked, ["down", "fail"]);
}

#[test]
fn only_open_migrations_are_a_warning_not_an_alert() {
    let s = snapshot_of(
        &healthy().replace("0-5460", &format!("0-5460 [7->-{B}]")),
        &[],
    );
    let b = Html::parse_fragment(&sections(&Published::new(s.clone())).banner);
    let banner = b.root_element().one(":scope > div");
    assert_eq!(classes(banner), BTreeSet::from(["banner", "warn"]));
    assert_eq!(banner.attr("role"), Some("status"));
    // The redirect verdict leads; the health judgement's head follows it.
    let lead = banner.first_child().and_then(ElementRef::wrap);
    assert_eq!(
        lead.map(|h| h.value().attr("class")),
        Some(Some("verdict")),
        "{}",
        banner.html()
    );
    assert_eq!(banner.attr("data-redirects"), Some("quiet"));
    assert_eq!(text(banner.one(":scope > b")), "⚠ In progress:");
}

/// A reshard at 1 600 s of 100 slots away from 127.0.0.1:30001, which then sends 600 MOVED
/// and 2 ASK, polled until 1 900 s.
fn resharded_and_redirecting() -> Snapshot {
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
    s
}

#[test]
fn redirects_and_events_share_the_time_axis() {
    let mut s = resharded_and_redirecting();
    let doc = rendered(&Published::new(s.clone()));
    // One row for the whole cluster, one for the node that redirected.
    let rows = doc.all("#redirects g.row");
    let named: Vec<&str> = rows.iter().map(|g| attr(*g, "data-node")).collect();
    assert_eq!(named, ["all nodes", "127.0.0.1:30001"]);
    // 600 MOVED over 310 s is 1.94/s; 2 ASK over the same 310 s.
    for row in rows {
        assert_eq!(text(row.one("text.peak")), "peak 1.94/s", "{}", row.html());
    }
    let totals: Vec<Vec<String>> = doc
        .all("#redirects table.totals tbody tr")
        .into_iter()
        .map(cells)
        .collect();
    assert_eq!(totals, [["127.0.0.1:30001", "600", "2"]]);
    // The reshard is marked at its time, with its sentence.
    let mark = doc.one("#redirects g.ev");
    assert_eq!(mark.attr("data-kind"), Some("reshard"));
    assert_eq!(mark.attr("tabindex"), Some("0"));
    assert_eq!(
        text(mark.one("title")),
        "1970-01-01 00:26:40 UTC: reshard: 100 slots 0-99 moved 127.0.0.1:30001 -> \
         127.0.0.1:30002"
    );
    let event = doc.one("#events li[data-kind=\"reshard\"]");
    let time = event.one("time");
    assert_eq!(time.attr("datetime"), Some("1970-01-01T00:26:40.000Z"));
    assert_eq!(text(time), "1970-01-01 00:26:40");
    assert!(
        text(event).starts_with("1970-01-01 00:26:40 reshard: 100 slots"),
        "{}",
        text(event)
    );
    // The chart spans the history: 15 minutes of it.
    let key = text(doc.one("#redirects p.key"));
    assert!(
        key.starts_with("1970-01-01 00:16:40 to 00:31:40 UTC: since slotwatch started."),
        "{key}"
    );
    assert!(doc.all("#redirects .nodata").is_empty());
    assert!(!visible_text(&doc).contains("no data"));
    // A history of a few seconds is drawn on a minute, the time before marked as no data.
    s.polled_at_ms = 1_010_000;
    let doc = rendered(&Published::new(s.clone()));
    let nodata = doc.one("#redirects .nodata");
    assert_eq!(
        text(nodata.one("title")),
        "no data: slotwatch was not polling yet"
    );
    let key = text(doc.one("#redirects p.key"));
    assert!(
        key.starts_with("1970-01-01 00:15:50 to 00:16:50 UTC"),
        "{key}"
    );
}

#[test]
fn the_page_is_self_contained_escaped_and_its_sections_are_the_data() {
    let mut s = snapshot_of(&healthy(), &[]);
    s.cluster = "prod <eu> & \"b\"/1".into();
    let doc = rendered(&Published::new(s.clone()));
    let h1 = doc.one("h1");
    assert_eq!(text(h1), "prod <eu> & \"b\"/1");
    assert!(h1.all("*").is_empty(), "the name is text: {}", h1.html());
    assert_eq!(
        doc.one("body").attr("data-src"),
        Some("prod%20%3Ceu%3E%20%26%20%22b%22%2F1/data")
    );
    // Nothing is loaded from elsewhere: no linked resource, no remote address in any
    // attribute, stylesheet or script.
    assert!(doc.all("link, script[src]").is_empty());
    for e in doc.all("*") {
        for (name, value) in e.value().attrs() {
            let remote = value.starts_with("http") || value.starts_with("//");
            assert!(
                !(remote && (name.ends_with("src") || name.ends_with("href"))),
                "{}",
                e.html()
            );
            assert!(!value.contains("url(http"), "{}", e.html());
        }
    }
    for code in texts(&doc, "style, script") {
        assert!(!code.contains("url(http") && !code.contains("@import"));
        assert!(!code.contains("src=\"http") && !code.contains("href=\"http"));
    }
    // Each section is the whole content of the element of its name, as the script swaps it.
    let x = sections(&Published::new(s.clone()));
    for (id, part) in [
        ("polled", &x.polled),
        ("banner", &x.banner),
        ("slots", &x.slots),
        ("redirects", &x.redirects),
        ("events", &x.events),
        ("nodes", &x.nodes),
    ] {
        assert_eq!(
            doc.one(&format!("#{id}")).inner_html(),
            Html::parse_fragment(part).root_element().inner_html(),
            "{id}"
        );
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
    let doc = rendered(&Published::new(crate::snapshot::Snapshot::empty("c")));
    let banner = doc.one("#banner .banner");
    assert_eq!(classes(banner), BTreeSet::from(["banner", "wait"]));
    assert!(text(banner).contains("Waiting for the first poll."));
    assert!(text(doc.one("#slots")).contains("No topology yet"));
}

#[test]
fn the_banner_leads_with_the_redirect_verdict_and_the_chart_hatches_the_grace_window() {
    // 600 MOVED in the 310 s poll span around a reshard 300 s before the last poll: the 5 min
    // window reaches into that span, so the rate is over it and the quiet one after (600 s),
    // 1/s, within the 10 min grace window.
    let mut s = resharded_and_redirecting();
    let b = Html::parse_fragment(&sections(&Published::new(s.clone())).banner);
    let banner = b.root_element().one(":scope > div");
    assert_eq!(classes(banner), BTreeSet::from(["banner", "warn"]));
    assert_eq!(banner.attr("data-redirects"), Some("expected"));
    let lead = text(banner.one(":scope > p.verdict"));
    assert!(
        lead.starts_with("↻ MOVED at 1.00/s from 127.0.0.1:30001")
            && lead.contains("for 10 min, 5 min after the last change: expected"),
        "{lead}"
    );
    assert!(
        text(banner.one(":scope > b")).starts_with("✔ Healthy: "),
        "the health judgement keeps its own verdict: {}",
        banner.html()
    );
    let doc = rendered(&Published::new(s.clone()));
    let grace = doc.one("#redirects rect.grace");
    assert_eq!(
        text(grace.one("title")),
        "grace window after reshard: 100 slots 0-99 moved 127.0.0.1:30001 -> 127.0.0.1:30002: \
         a MOVED burst until 00:36:40 UTC is expected"
    );
    // With a grace window shorter than the time since the change, the same burst persists.
    s.redirect_policy.grace = std::time::Duration::from_secs(60);
    let b = Html::parse_fragment(&sections(&Published::new(s)).banner);
    let banner = b.root_element().one(":scope > div");
    assert_eq!(classes(banner), BTreeSet::from(["banner", "bad"]));
    assert_eq!(banner.attr("role"), Some("alert"));
    assert_eq!(banner.attr("data-redirects"), Some("persisting"));
    let lead = text(banner.one(":scope > p.verdict"));
    assert!(
        lead.starts_with("⚠ MOVED at 1.00/s") && lead.contains("persisting beyond the 60 s"),
        "{lead}"
    );
}
