//! The redirect verdict: is a MOVED burst *quiet*, *expected* routing within the grace window
//! after a topology change, or *persisting* beyond it, and who is behind it. Pure: `/`, the
//! cluster page and `check` give the same verdict from the same function.
//!
//! The thresholds ([`Policy`], configured per cluster) are those of
//! `RedisClusterRedirectsPersisting`, and the verdict says *persisting* as soon as the burst
//! outlasts the grace window, `for` before the alert fires.

use std::time::Duration;

use serde::Serialize;

use crate::clients::report::ClientsReport;
pub use crate::config::RedirectPolicy as Policy;
use crate::snapshot::Snapshot;
use crate::snapshot::redirects::Redirects;

/// What a MOVED burst is, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No node is above the threshold.
    Quiet,
    /// Above the threshold within the grace window after a topology change, or while one is
    /// under way: clients are refreshing their slot maps.
    Expected,
    /// Above the threshold beyond the grace window: some client does not follow the cluster.
    Persisting,
}

impl State {
    /// The word for it, as the JSON and the page's class have it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Quiet => "quiet",
            State::Expected => "expected",
            State::Persisting => "persisting",
        }
    }
}

/// One node's MOVED rate, as measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// The node, `ip:port`.
    pub node: String,
    /// MOVED per second over the measurement.
    pub moved_per_s: f64,
    /// Unix ms since when the rate has stayed above the threshold; `None` when the
    /// measurement cannot tell (two samples in `check`).
    pub since_ms: Option<u64>,
}

/// The topology change a burst is weighed against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastChange {
    /// The latest change seen: when, and what (the event's sentence).
    Seen {
        /// Unix ms.
        at_ms: u64,
        /// What changed.
        what: String,
    },
    /// None seen since `since_ms`, when watching began.
    NoneSince {
        /// Unix ms.
        since_ms: u64,
    },
    /// Not known: a one-shot check without an exporter's history. The sentence says what
    /// the check did see.
    Unknown {
        /// What was seen instead, e.g. "no change during the 2 s sample".
        seen: String,
    },
}

/// One node of the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeVerdict {
    /// The node.
    pub node: String,
    /// Its verdict.
    pub state: State,
    /// MOVED per second.
    pub moved_per_s: f64,
    /// Seconds the rate has stayed above the threshold, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lasted_s: Option<f64>,
}

/// The redirect verdict of a cluster, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The worst state of any node.
    pub state: State,
    /// The whole verdict in one sentence, as the banner and `check` print it.
    pub summary: String,
    /// Nodes above the threshold, fastest first.
    pub nodes: Vec<NodeVerdict>,
    /// The last topology change, in words, with how long before the verdict.
    pub last_change: String,
    /// Seconds since the last change, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_change_s: Option<f64>,
    /// For a persisting burst with a known start: seconds until
    /// `RedisClusterRedirectsPersisting` fires (0 once it would).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_in_s: Option<f64>,
    /// The latest client report's suspects on the bursting nodes: `name (reason) on node`.
    pub suspects: Vec<String>,
    /// What the rates were measured over, e.g. "the last 5 min".
    pub measured_over: String,
    /// The thresholds.
    pub policy: Policy,
}

/// The verdict on `bursts` as of `now_ms`; `suspects` are the latest client report's.
pub fn judge(
    now_ms: u64,
    bursts: &[Burst],
    change: &LastChange,
    policy: &Policy,
    suspects: Vec<String>,
    measured_over: String,
) -> Verdict {
    let since_change_ms = match change {
        LastChange::Seen { at_ms, .. } => Some(now_ms.saturating_sub(*at_ms)),
        _ => None,
    };
    let grace_ms = policy.grace.as_millis() as u64;
    let within_grace = since_change_ms.is_some_and(|ago| ago <= grace_ms);
    let mut nodes: Vec<NodeVerdict> = bursts
        .iter()
        .filter(|b| b.moved_per_s > policy.rate_threshold)
        .map(|b| NodeVerdict {
            node: b.node.clone(),
            state: if within_grace {
                State::Expected
            } else {
                State::Persisting
            },
            moved_per_s: b.moved_per_s,
            lasted_s: b.since_ms.map(|s| secs_between(s, now_ms)),
        })
        .collect();
    nodes.sort_by(|a, b| {
        b.moved_per_s
            .total_cmp(&a.moved_per_s)
            .then_with(|| a.node.cmp(&b.node))
    });
    let state = nodes.iter().map(|n| n.state).max().unwrap_or(State::Quiet);
    let alert_in_s = (state == State::Persisting)
        .then(|| alert_in(now_ms, bursts, change, policy))
        .flatten();
    let suspects = if state == State::Quiet {
        Vec::new()
    } else {
        suspects
    };
    let mut v = Verdict {
        state,
        summary: String::new(),
        nodes,
        last_change: change_words(change, now_ms),
        since_change_s: since_change_ms.map(|ms| ms as f64 / 1000.0),
        alert_in_s,
        suspects,
        measured_over,
        policy: *policy,
    };
    v.summary = summary(&v);
    v
}

/// Seconds until the alert fires: its condition (above the threshold, beyond the grace window)
/// must hold for `for`, counted from the later of the burst's start and the window's end.
fn alert_in(now_ms: u64, bursts: &[Burst], change: &LastChange, policy: &Policy) -> Option<f64> {
    let started = bursts
        .iter()
        .filter(|b| b.moved_per_s > policy.rate_threshold)
        .map(|b| b.since_ms)
        .collect::<Option<Vec<u64>>>()?
        .into_iter()
        .min()?;
    let grace_end = match change {
        LastChange::Seen { at_ms, .. } => at_ms + policy.grace.as_millis() as u64,
        _ => 0,
    };
    let held = secs_between(started.max(grace_end), now_ms);
    Some((policy.r#for.as_secs_f64() - held).max(0.0))
}

fn secs_between(from_ms: u64, to_ms: u64) -> f64 {
    to_ms.saturating_sub(from_ms) as f64 / 1000.0
}

/// A span for people: `40 s`, `12 min`, `2 h 5 min`.
pub fn span(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// A rate for people: `32/s`, `0.4/s`.
fn rate(per_s: f64) -> String {
    if per_s >= 10.0 {
        format!("{per_s:.0}/s")
    } else {
        format!("{per_s:.2}/s")
    }
}

fn change_words(change: &LastChange, now_ms: u64) -> String {
    match change {
        LastChange::Seen { at_ms, what } => {
            format!("{what} ({} ago)", span(secs_between(*at_ms, now_ms)))
        }
        LastChange::NoneSince { since_ms } => format!(
            "no topology change seen in the {} slotwatch has watched",
            span(secs_between(*since_ms, now_ms))
        ),
        LastChange::Unknown { seen } => seen.clone(),
    }
}

/// The verdict's sentence.
fn summary(v: &Verdict) -> String {
    let threshold = rate(v.policy.rate_threshold);
    let Some(top) = v.nodes.first() else {
        return format!(
            "No MOVED burst: every node is at or below {threshold} over {}.",
            v.measured_over
        );
    };
    let mut out = format!("MOVED at {} from {}", rate(top.moved_per_s), top.node);
    if let Some(lasted) = top.lasted_s {
        out += &format!(" for {}", span(lasted));
    }
    if v.nodes.len() > 1 {
        let total: f64 = v.nodes.iter().map(|n| n.moved_per_s).sum();
        out += &format!(
            " (and from {} more node(s), {} in all)",
            v.nodes.len() - 1,
            rate(total)
        );
    }
    let grace = span(v.policy.grace.as_secs_f64());
    match (v.state, v.since_change_s) {
        (State::Expected, Some(ago)) => {
            out += &format!(
                ", {} after the last change: expected while clients refresh their slot maps \
                 (the {grace} grace window ends in {}). Last change: {}.",
                span(ago),
                span(v.policy.grace.as_secs_f64() - ago),
                v.last_change
            );
        }
        (_, Some(ago)) => {
            out += &format!(
                ", {} after the last change: persisting beyond the {grace} grace window. \
                 Last change: {}.",
                span(ago),
                v.last_change
            );
        }
        _ => {
            out += &format!(": persisting ({}).", v.last_change);
        }
    }
    if v.state == State::Persisting {
        if let Some(wait) = v.alert_in_s {
            out += &if wait > 0.0 {
                format!(" RedisClusterRedirectsPersisting fires in {}.", span(wait))
            } else {
                " RedisClusterRedirectsPersisting fires now.".to_owned()
            };
        }
        out += &match v.suspects.as_slice() {
            [] => " No client report names a suspect yet.".to_owned(),
            [one] => format!(" Suspect: {one}."),
            many => format!(" Suspects: {}.", many.join("; ")),
        };
    }
    out
}

/// Each node's MOVED rate over `window` ending at the latest point of `r`, with since when it
/// has stayed above `threshold`. Only nodes that sent MOVED are listed.
pub fn bursts(r: &Redirects, window: Duration, threshold: f64) -> Vec<Burst> {
    let window_ms = window.as_millis() as u64;
    // Per node, its (start, end, MOVED) points in time order.
    let mut per_node: Vec<Vec<(u64, u64, u32)>> = vec![Vec::new(); r.nodes.len()];
    for p in &r.points {
        for d in p.deltas.iter().filter(|d| d.moved > 0) {
            if let Some(v) = per_node.get_mut(d.node as usize) {
                v.push((p.start_ms, p.end_ms, d.moved));
            }
        }
    }
    let spans: Vec<(u64, u64)> = r.points.iter().map(|p| (p.start_ms, p.end_ms)).collect();
    per_node
        .iter()
        .enumerate()
        .filter(|(_, pts)| !pts.is_empty())
        .map(|(i, pts)| {
            let (moved_per_s, since_ms) = node_rate(pts, &spans, window_ms, threshold);
            Burst {
                node: r.node(i as u32).to_owned(),
                moved_per_s,
                since_ms,
            }
        })
        .collect()
}

/// The rate over the window ending at each point of `spans` (every point's start and end),
/// and the start of the run of points, up to the last, whose rate stays above `threshold`:
/// where that run began, the first MOVED in its window. A window covers whole points, and
/// its rate is over the time they span, so that a window shorter than a point (polls closer
/// than [`crate::snapshot::redirects::MIN_SPAN_MS`] share one) gives the point's rate.
fn node_rate(
    pts: &[(u64, u64, u32)],
    spans: &[(u64, u64)],
    window_ms: u64,
    threshold: f64,
) -> (f64, Option<u64>) {
    // `first`: the earliest point in the window; `lo`..`hi`: the node's points in it.
    let (mut first, mut lo, mut hi, mut sum) = (0usize, 0usize, 0usize, 0u64);
    let (mut rate, mut since) = (0.0, None);
    for &(_, end) in spans {
        while hi < pts.len() && pts[hi].1 <= end {
            sum += u64::from(pts[hi].2);
            hi += 1;
        }
        while first < spans.len() && spans[first].1 <= end.saturating_sub(window_ms) {
            first += 1;
        }
        let from = spans.get(first).map_or(end, |p| p.0);
        while lo < hi && pts[lo].1 <= from {
            sum -= u64::from(pts[lo].2);
            lo += 1;
        }
        rate = sum as f64 * 1000.0 / end.saturating_sub(from).max(1) as f64;
        since = match (rate > threshold, since) {
            (false, _) => None,
            (true, Some(s)) => Some(s),
            (true, None) => pts.get(lo).map(|p| p.0),
        };
    }
    (rate, since)
}

/// The verdict on a snapshot from `serve`: rates from its redirect history, the last change
/// from its events, suspects from the latest client report.
pub fn of_snapshot(s: &Snapshot, clients: Option<&ClientsReport>) -> Verdict {
    let policy = s.redirect_policy;
    let now = s
        .redirects
        .points
        .last()
        .map_or(s.polled_at_ms, |p| p.end_ms);
    let bursts = bursts(&s.redirects, policy.rate_window, policy.rate_threshold);
    let change = match s.events.iter().rev().find(|e| e.kind.is_topology_change()) {
        Some(e) => LastChange::Seen {
            at_ms: e.end_ms.unwrap_or(e.timestamp_ms),
            what: e.message.clone(),
        },
        None => LastChange::NoneSince {
            since_ms: s.redirects.since_ms,
        },
    };
    let nodes: Vec<&str> = bursts.iter().map(|b| b.node.as_str()).collect();
    let watched = secs_between(s.redirects.since_ms, now);
    let over = if watched < policy.rate_window.as_secs_f64() {
        format!("the {} since slotwatch started", span(watched))
    } else {
        format!("the last {}", span(policy.rate_window.as_secs_f64()))
    };
    judge(
        now,
        &bursts,
        &change,
        &policy,
        clients.map_or(Vec::new(), |r| suspects_on(r, &nodes)),
        over,
    )
}

/// `name (reason) on node` for each suspect of `report` on one of `nodes`, once each.
pub fn suspects_on(report: &ClientsReport, nodes: &[&str]) -> Vec<String> {
    if report.withdrawn.is_some() {
        return Vec::new();
    }
    let mut out: Vec<String> = report
        .clients
        .iter()
        .flat_map(|g| {
            g.suspects
                .iter()
                .filter(|s| nodes.contains(&s.node.as_str()))
                .map(move |s| {
                    let who = if g.name.is_empty() {
                        format!("an unnamed client from {}", g.host)
                    } else {
                        g.name.clone()
                    };
                    format!("{who} ({}) on {}", s.reason.title(), s.node)
                })
        })
        .collect();
    // A client on several connections of one node is named once, in report order.
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(s.clone()));
    out
}

#[cfg(test)]
#[path = "redirects_tests.rs"]
mod tests;
