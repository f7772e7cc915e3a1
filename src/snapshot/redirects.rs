//! The redirect history the cluster page draws: for the last [`WINDOW_MS`], how many MOVED and
//! ASK replies each node sent between one poll and the next. Pure and bounded.
//!
//! Each poll adds a point holding only the nodes whose counters grew. Polls closer together than
//! [`MIN_SPAN_MS`] share a point, so the window never holds more than [`MAX_POINTS`] points,
//! whatever the poll interval. Nodes are named by an index into a table of endpoints, compacted
//! when nodes come and go.
//!
//! Cost at 1000 nodes: a point is 40 bytes plus 12 bytes per node with redirects in it. A quiet
//! cluster costs a few KB of points plus the endpoint table (about 100 KB); the worst case, every
//! node redirecting in every one of 361 points, is 361 × 1000 × 12 B ≈ 4.3 MB.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::info::NodeCounters;

/// How far back the history reaches: 30 minutes, long enough to see a burst and the change
/// behind it, and the redirect alert's grace window.
pub const WINDOW_MS: u64 = 30 * 60 * 1000;

/// Most points the window holds (one per poll at the default 5 s interval).
pub const MAX_POINTS: usize = 360;

/// The shortest span of a point: polls closer together than this share one.
pub const MIN_SPAN_MS: u64 = WINDOW_MS / MAX_POINTS as u64;

/// One node's redirects during one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    /// Index into [`Redirects::nodes`].
    pub node: u32,
    /// MOVED replies sent.
    pub moved: u32,
    /// ASK replies sent.
    pub ask: u32,
}

/// The redirects between two polls (or a few close ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// Unix ms of the poll before: the counters' previous reading.
    pub start_ms: u64,
    /// Unix ms of the (last) poll this point holds.
    pub end_ms: u64,
    /// Polls folded into this point.
    pub polls: u32,
    /// Nodes whose counters grew, by node index; others sent none.
    pub deltas: Vec<Delta>,
}

impl Point {
    /// Adds a later poll's deltas (both sorted by node) to this point.
    fn absorb(&mut self, end_ms: u64, more: Vec<Delta>) {
        let mut merged: Vec<Delta> = self.deltas.iter().copied().chain(more).collect();
        merged.sort_by_key(|d| d.node);
        merged.dedup_by(|later, kept| {
            let same = later.node == kept.node;
            if same {
                kept.moved = kept.moved.saturating_add(later.moved);
                kept.ask = kept.ask.saturating_add(later.ask);
            }
            same
        });
        self.deltas = merged;
        self.end_ms = end_ms;
        self.polls += 1;
    }
}

/// The history as one snapshot publishes it; shares its points with the [`Timeline`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirects {
    /// Unix ms of the first poll (the counters' baseline); 0 before it.
    pub since_ms: u64,
    /// Endpoints, indexed by [`Delta::node`].
    pub nodes: Arc<Vec<String>>,
    /// Points, oldest first.
    pub points: Vec<Arc<Point>>,
}

impl Redirects {
    /// The endpoint of node index `node`.
    pub fn node(&self, node: u32) -> &str {
        self.nodes.get(node as usize).map_or("?", String::as_str)
    }

    /// (node, MOVED, ASK) summed over the window, for nodes that sent any: most redirects first,
    /// then by endpoint.
    pub fn totals(&self) -> Vec<(u32, u64, u64)> {
        let mut sums = vec![(0u64, 0u64); self.nodes.len()];
        for d in self.points.iter().flat_map(|p| &p.deltas) {
            if let Some(s) = sums.get_mut(d.node as usize) {
                s.0 += u64::from(d.moved);
                s.1 += u64::from(d.ask);
            }
        }
        let mut out: Vec<(u32, u64, u64)> = sums
            .into_iter()
            .enumerate()
            .filter(|(_, (m, a))| m + a > 0)
            .map(|(n, (m, a))| (n as u32, m, a))
            .collect();
        out.sort_by(|x, y| {
            (y.1 + y.2)
                .cmp(&(x.1 + x.2))
                .then_with(|| self.node(x.0).cmp(self.node(y.0)))
        });
        out
    }
}

/// The increase of a counter between two readings; a counter that went down was reset (the
/// node restarted or ran `CONFIG RESETSTAT`), so its new value is all increase, as in
/// Prometheus' `increase()`.
fn increase(before: Option<u64>, now: Option<u64>) -> u32 {
    match (before, now) {
        (Some(b), Some(n)) if n >= b => u32::try_from(n - b).unwrap_or(u32::MAX),
        (Some(_), Some(n)) => u32::try_from(n).unwrap_or(u32::MAX),
        _ => 0,
    }
}

/// One cluster's redirect history, kept by its poll state.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Endpoints by index, as published.
    names: Arc<Vec<String>>,
    index: HashMap<String, u32>,
    /// Each present node's last (MOVED, ASK) reading, by index.
    last: HashMap<u32, (Option<u64>, Option<u64>)>,
    /// Unix ms of the last poll recorded.
    last_ms: Option<u64>,
    since_ms: u64,
    points: VecDeque<Arc<Point>>,
    shared: Arc<Redirects>,
}

impl Timeline {
    /// An empty history.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// Records a poll at `at_ms`: every node slotwatch knows, with its counters as last read
    /// (`None` if never). A node's first reading is its baseline.
    pub fn record<'a>(
        &mut self,
        at_ms: u64,
        nodes: impl IntoIterator<Item = (&'a str, Option<&'a NodeCounters>)>,
    ) {
        let mut deltas = Vec::new();
        let mut last = HashMap::with_capacity(self.last.len());
        for (endpoint, counters) in nodes {
            let node = self.intern(endpoint);
            let now = counters.map_or((None, None), |c| (c.moved_total(), c.ask_total()));
            if let Some(before) = self.last.get(&node) {
                let d = Delta {
                    node,
                    moved: increase(before.0, now.0),
                    ask: increase(before.1, now.1),
                };
                if d.moved > 0 || d.ask > 0 {
                    deltas.push(d);
                }
            }
            last.insert(node, now);
        }
        self.last = last;
        deltas.sort_by_key(|d| d.node);
        deltas.dedup_by_key(|d| d.node);
        match self.last_ms {
            None => self.since_ms = at_ms,
            // The clock went back: the readings are a new baseline, with nothing to place.
            Some(prev) if at_ms <= prev => {}
            Some(prev) => match self.points.back_mut() {
                Some(p) if p.end_ms == prev && p.end_ms - p.start_ms < MIN_SPAN_MS => {
                    Arc::make_mut(p).absorb(at_ms, deltas);
                }
                _ => self.points.push_back(Arc::new(Point {
                    start_ms: prev,
                    end_ms: at_ms,
                    polls: 1,
                    deltas,
                })),
            },
        }
        self.last_ms = Some(at_ms);
        let oldest = at_ms.saturating_sub(WINDOW_MS);
        while self
            .points
            .front()
            .is_some_and(|p| p.end_ms <= oldest || self.points.len() > MAX_POINTS + 1)
        {
            self.points.pop_front();
        }
        self.compact();
        self.shared = Arc::new(Redirects {
            since_ms: self.since_ms,
            nodes: self.names.clone(),
            points: self.points.iter().cloned().collect(),
        });
    }

    /// The history as of the last poll.
    pub fn shared(&self) -> Arc<Redirects> {
        self.shared.clone()
    }

    fn intern(&mut self, endpoint: &str) -> u32 {
        if let Some(i) = self.index.get(endpoint) {
            return *i;
        }
        let i = self.names.len() as u32;
        Arc::make_mut(&mut self.names).push(endpoint.to_owned());
        self.index.insert(endpoint.to_owned(), i);
        i
    }

    /// Drops the endpoints neither a present node nor a kept point names, once they are as
    /// many as the present nodes (so a cluster whose nodes change addresses stays bounded).
    fn compact(&mut self) {
        if self.names.len() <= 2 * self.last.len() + 64 {
            return;
        }
        let mut used = vec![false; self.names.len()];
        for n in self.last.keys().copied().chain(
            self.points
                .iter()
                .flat_map(|p| p.deltas.iter().map(|d| d.node)),
        ) {
            used[n as usize] = true;
        }
        let mut remap = vec![u32::MAX; self.names.len()];
        let mut names = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            if used[i] {
                remap[i] = names.len() as u32;
                names.push(name.clone());
            }
        }
        for p in &mut self.points {
            if p.deltas.iter().any(|d| remap[d.node as usize] != d.node) {
                for d in &mut Arc::make_mut(p).deltas {
                    d.node = remap[d.node as usize];
                }
            }
        }
        self.last = self
            .last
            .drain()
            .map(|(n, v)| (remap[n as usize], v))
            .collect();
        self.index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        self.names = Arc::new(names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(moved: u64, ask: u64) -> NodeCounters {
        NodeCounters {
            moved: Some(moved),
            ask: Some(ask),
            has_errorstats: true,
            ..Default::default()
        }
    }

    /// Records a poll of (endpoint, MOVED, ASK) readings.
    fn poll(t: &mut Timeline, at_ms: u64, nodes: &[(&str, u64, u64)]) {
        let c: Vec<(String, NodeCounters)> = nodes
            .iter()
            .map(|(e, m, a)| (e.to_string(), counters(*m, *a)))
            .collect();
        t.record(at_ms, c.iter().map(|(e, c)| (e.as_str(), Some(c))));
    }

    /// A point as (start, end, [(endpoint, moved, ask)]).
    type Plain = (u64, u64, Vec<(String, u32, u32)>);

    /// Every point, plainly.
    fn points(r: &Redirects) -> Vec<Plain> {
        r.points
            .iter()
            .map(|p| {
                let d = p
                    .deltas
                    .iter()
                    .map(|d| (r.node(d.node).to_owned(), d.moved, d.ask))
                    .collect();
                (p.start_ms, p.end_ms, d)
            })
            .collect()
    }

    #[test]
    fn each_poll_adds_the_nodes_whose_counters_grew() {
        let mut t = Timeline::new();
        poll(&mut t, 10_000, &[("a:1", 5, 0), ("b:1", 7, 1)]);
        assert!(t.shared().points.is_empty(), "the first poll is a baseline");
        assert_eq!(t.shared().since_ms, 10_000);
        poll(&mut t, 20_000, &[("a:1", 5, 0), ("b:1", 10, 3)]);
        poll(
            &mut t,
            30_000,
            &[("a:1", 9, 0), ("b:1", 10, 3), ("c:1", 100, 0)],
        );
        poll(&mut t, 40_000, &[("a:1", 2, 0), ("c:1", 101, 0)]);
        let r = t.shared();
        assert_eq!(
            points(&r),
            vec![
                (10_000, 20_000, vec![("b:1".into(), 3, 2)]),
                (20_000, 30_000, vec![("a:1".into(), 4, 0)]),
                // a:1 was reset (restart): its new value is all increase; c:1's first
                // reading was only a baseline.
                (
                    30_000,
                    40_000,
                    vec![("a:1".into(), 2, 0), ("c:1".into(), 1, 0)]
                ),
            ]
        );
        let totals: Vec<(&str, u64, u64)> = r
            .totals()
            .iter()
            .map(|(n, m, a)| (r.node(*n), *m, *a))
            .collect();
        assert_eq!(totals, [("a:1", 6, 0), ("b:1", 3, 2), ("c:1", 1, 0)]);
    }

    #[test]
    fn unknown_counters_are_no_redirects() {
        let mut t = Timeline::new();
        t.record(1_000, [("a:1", None)]);
        t.record(7_000, [("a:1", Some(&counters(50, 0)))]);
        t.record(13_000, [("a:1", None)]);
        assert!(t.shared().points.iter().all(|p| p.deltas.is_empty()));
        assert_eq!(t.shared().points.len(), 2, "the polls are still placed");
    }

    #[test]
    fn close_polls_share_a_point_and_the_window_is_bounded() {
        let mut t = Timeline::new();
        // One poll a second for an hour, one MOVED per poll on one node.
        for s in 0..=3_600u64 {
            poll(&mut t, s * 1000, &[("a:1", s, 0)]);
        }
        let r = t.shared();
        assert!(r.points.len() <= MAX_POINTS + 1, "{}", r.points.len());
        let first = &r.points[0];
        assert!(
            first.end_ms > 3_600_000 - WINDOW_MS,
            "old points are dropped"
        );
        for w in r.points.windows(2) {
            assert_eq!(w[0].end_ms, w[1].start_ms, "points tile the time axis");
        }
        for p in &r.points[..r.points.len() - 1] {
            assert!(p.end_ms - p.start_ms >= MIN_SPAN_MS);
            assert_eq!(p.deltas[0].moved as u64, (p.end_ms - p.start_ms) / 1000);
            assert_eq!(p.polls as u64, (p.end_ms - p.start_ms) / 1000);
        }
        let moved: u64 = r.totals()[0].1;
        let span = r.points.last().unwrap().end_ms - r.points[0].start_ms;
        assert_eq!(moved, span / 1000, "no redirect lost or counted twice");

        // At the default 5 s interval every poll is its own point.
        let mut t = Timeline::new();
        for s in 0..=400u64 {
            poll(&mut t, s * 5_000, &[("a:1", s, 0)]);
        }
        let r = t.shared();
        assert_eq!(r.points.len(), MAX_POINTS);
        assert!(r.points.iter().all(|p| p.polls == 1));
    }

    #[test]
    fn points_merge_deltas_of_different_nodes() {
        let mut p = Point {
            start_ms: 0,
            end_ms: 1,
            polls: 1,
            deltas: vec![
                Delta {
                    node: 1,
                    moved: 1,
                    ask: 0,
                },
                Delta {
                    node: 4,
                    moved: 2,
                    ask: 1,
                },
            ],
        };
        p.absorb(
            2,
            vec![
                Delta {
                    node: 0,
                    moved: 3,
                    ask: 0,
                },
                Delta {
                    node: 4,
                    moved: 1,
                    ask: 1,
                },
                Delta {
                    node: 9,
                    moved: 0,
                    ask: 5,
                },
            ],
        );
        let got: Vec<(u32, u32, u32)> = p.deltas.iter().map(|d| (d.node, d.moved, d.ask)).collect();
        assert_eq!(got, [(0, 3, 0), (1, 1, 0), (4, 3, 2), (9, 0, 5)]);
        assert_eq!((p.end_ms, p.polls), (2, 2));
    }

    #[test]
    fn a_clock_going_back_places_nothing() {
        let mut t = Timeline::new();
        poll(&mut t, 50_000, &[("a:1", 0, 0)]);
        poll(&mut t, 60_000, &[("a:1", 1, 0)]);
        poll(&mut t, 40_000, &[("a:1", 9, 0)]);
        poll(&mut t, 50_000, &[("a:1", 10, 0)]);
        let r = t.shared();
        assert_eq!(r.points.len(), 2);
        assert_eq!(r.totals()[0].1, 2);
    }

    #[test]
    fn departed_nodes_are_forgotten_once_no_point_names_them() {
        let mut t = Timeline::new();
        // Every poll, a fresh set of 10 endpoints (pods rescheduled at new addresses).
        for round in 0..100u64 {
            let names: Vec<String> = (0..10).map(|i| format!("10.0.{round}.{i}:6379")).collect();
            let nodes: Vec<(&str, u64, u64)> = names.iter().map(|n| (n.as_str(), 0, 0)).collect();
            poll(&mut t, round * 10_000, &nodes);
        }
        assert!(t.names.len() <= 2 * 10 + 64, "{}", t.names.len());
        // A node that stays keeps its history through compactions.
        let mut t = Timeline::new();
        for round in 0..100u64 {
            let names: Vec<String> = (0..10).map(|i| format!("10.0.{round}.{i}:6379")).collect();
            let mut nodes: Vec<(&str, u64, u64)> =
                names.iter().map(|n| (n.as_str(), 0, 0)).collect();
            nodes.push(("stays:1", round, 0));
            poll(&mut t, round * 10_000, &nodes);
        }
        let r = t.shared();
        assert_eq!(r.totals().len(), 1);
        assert_eq!(r.node(r.totals()[0].0), "stays:1");
        assert_eq!(r.totals()[0].1, 99);
        assert_eq!(points(&r)[98].2, vec![("stays:1".to_owned(), 1, 0)]);
    }
}
