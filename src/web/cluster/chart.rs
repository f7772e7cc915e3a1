//! Redirects over time: MOVED and ASK per second over the history window, one row for the
//! whole cluster and one for each of the nodes that sent the most, with reshards, failovers,
//! migrations and node failures marked on the same time axis. Small multiples, so that no row
//! needs a colour to be told apart: MOVED is drawn above each row's line, ASK hatched below.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Ctx, esc, when};
use crate::snapshot::redirects::{Point, Redirects, WINDOW_MS};
use crate::topology::event::{Event, Kind};

/// The shortest span the chart shows, in ms.
const MIN_VIEW_MS: u64 = 60_000;
/// Nodes given their own row, besides the whole cluster.
const TOP_NODES: usize = 5;
/// Nodes listed in the totals table.
const TOTALS_MAX: usize = 10;
/// Most events marked.
const MARKS_MAX: usize = 60;

const W: f64 = 760.0;
/// Left edge of the plot; node names sit left of it.
const X0: f64 = 160.0;
/// Right edge of the plot.
const X1: f64 = 752.0;
/// Top of the first row; the marks sit above it.
const TOP: f64 = 22.0;
const ROW_H: f64 = 46.0;
/// Tallest bar, from a row's line.
const BAR_H: f64 = 19.0;

/// The letter marking an event kind on the axis, if the kind is marked: the `mark` column of
/// the one table of event kinds.
pub fn mark(kind: Kind) -> Option<char> {
    kind.info().mark
}

/// A series' bars as (from ms, to ms, per second).
type Series = Vec<(u64, u64, f64)>;

/// MOVED and ASK rates of one node (`Some(index)`) or of all (`None`).
fn series(r: &Redirects, node: Option<u32>) -> (Series, Series) {
    let (mut moved, mut ask) = (Vec::new(), Vec::new());
    for p in &r.points {
        let (m, a) = counts(p, node);
        let secs = (p.end_ms.saturating_sub(p.start_ms)).max(1) as f64 / 1000.0;
        moved.push((p.start_ms, p.end_ms, m as f64 / secs));
        ask.push((p.start_ms, p.end_ms, a as f64 / secs));
    }
    (moved, ask)
}

fn counts(p: &Point, node: Option<u32>) -> (u64, u64) {
    match node {
        None => p.deltas.iter().fold((0, 0), |(m, a), d| {
            (m + u64::from(d.moved), a + u64::from(d.ask))
        }),
        Some(n) => match p.deltas.binary_search_by_key(&n, |d| d.node) {
            Ok(i) => (u64::from(p.deltas[i].moved), u64::from(p.deltas[i].ask)),
            Err(_) => (0, 0),
        },
    }
}

/// The time axis: Unix ms to x.
struct Axis {
    start: u64,
    now: u64,
}

impl Axis {
    fn x(&self, ms: u64) -> f64 {
        let f = ms.saturating_sub(self.start) as f64 / (self.now - self.start).max(1) as f64;
        X0 + f.min(1.0) * (X1 - X0)
    }
}

/// A length in tenths of a unit, as short as SVG path text allows: `12`, `-3.5`, `.5`.
fn tenths(v: i64, out: &mut String) {
    let (sign, a) = if v < 0 { ("-", -v) } else { ("", v) };
    let _ = match (a / 10, a % 10) {
        (whole, 0) => write!(out, "{sign}{whole}"),
        (0, frac) => write!(out, "{sign}.{frac}"),
        (whole, frac) => write!(out, "{sign}{whole}.{frac}"),
    };
}

/// A filled step shape of `bars` from the line at `base`, upwards (`dir` -1) or downwards (1),
/// in relative path commands: a few bytes per bar, and nothing for a flat stretch.
fn steps(axis: &Axis, bars: &[(u64, u64, f64)], peak: f64, base: f64, dir: f64, out: &mut String) {
    let to_t = |v: f64| (v * 10.0).round() as i64;
    let base_t = to_t(base);
    // The pen, in tenths; `None` while no shape is open.
    let mut pen: Option<(i64, i64)> = None;
    // Where the current flat stretch has got to.
    let mut x_at = 0;
    for &(from, to, rate) in bars {
        let (x0, x1) = (to_t(axis.x(from)), to_t(axis.x(to)));
        if x1 <= x0 {
            continue;
        }
        let y = if rate > 0.0 {
            base_t + to_t(dir * (rate / peak * BAR_H).max(0.8))
        } else {
            base_t
        };
        match pen {
            Some((px, py)) if x0 == x_at => {
                if y != py {
                    if x0 != px {
                        out.push('h');
                        tenths(x0 - px, out);
                    }
                    out.push('v');
                    tenths(y - py, out);
                    pen = Some((x0, y));
                }
            }
            _ => {
                if let Some((px, py)) = pen {
                    close(px, py, x_at, base_t, out);
                }
                out.push('M');
                tenths(x0, out);
                out.push(' ');
                tenths(base_t, out);
                pen = Some((x0, base_t));
                if y != base_t {
                    out.push('v');
                    tenths(y - base_t, out);
                    pen = Some((x0, y));
                }
            }
        }
        x_at = x1;
    }
    if let Some((px, py)) = pen {
        close(px, py, x_at, base_t, out);
    }
}

/// Runs the pen from (`px`, `py`) on to `x_at`, back to the line, and closes the shape.
fn close(px: i64, py: i64, x_at: i64, base_t: i64, out: &mut String) {
    if x_at != px {
        out.push('h');
        tenths(x_at - px, out);
    }
    if py != base_t {
        out.push('v');
        tenths(base_t - py, out);
    }
    out.push('z');
}

fn rate_text(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}/s")
    } else {
        format!("{r:.2}/s")
    }
}

/// The events worth marking that fall in the window, newest last.
fn marked(events: &[Event], start: u64) -> Vec<&Event> {
    let mut v: Vec<&Event> = events
        .iter()
        .filter(|e| e.end_ms.unwrap_or(e.timestamp_ms) >= start)
        .filter(|e| mark(e.kind.kind()).is_some())
        .collect();
    let skip = v.len().saturating_sub(MARKS_MAX);
    v.drain(..skip);
    v
}

/// The redirects section: the chart, its key and the totals per node.
pub fn section(ctx: &Ctx) -> String {
    let s = ctx.s;
    let r = &s.redirects;
    if s.polled_at_ms == 0 {
        return "<p>No poll yet.</p>".to_owned();
    }
    // The window, or the time since the first poll when that is shorter (at least
    // MIN_VIEW_MS), so that a young exporter's chart is not a sliver at the right edge.
    let now = s.polled_at_ms;
    let since = r.since_ms.max(now.saturating_sub(WINDOW_MS));
    let axis = Axis {
        start: since.min(now.saturating_sub(MIN_VIEW_MS)),
        now,
    };
    let totals = r.totals();
    let mut rows: Vec<(String, (Series, Series))> = vec![("all nodes".into(), series(r, None))];
    for (node, _, _) in totals.iter().take(TOP_NODES) {
        rows.push((r.node(*node).to_owned(), series(r, Some(*node))));
    }
    let bottom = TOP + rows.len() as f64 * ROW_H;
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<div class=\"scroll\"><svg class=\"redirects\" viewBox=\"0 0 {W} {}\" role=\"group\" \
         aria-label=\"MOVED and ASK per second over the last 30 minutes\">",
        bottom + 18.0
    );
    let marks = marked(&s.events, axis.start);
    backdrop(&axis, since, bottom, &marks, &mut out);
    grace_svg(&axis, bottom, &s.events, s.redirect_policy.grace, &mut out);
    for (i, (name, (moved, ask))) in rows.iter().enumerate() {
        row_svg(&axis, TOP + i as f64 * ROW_H, name, moved, ask, &mut out);
    }
    marks_svg(&axis, bottom, &marks, &mut out);
    ticks_svg(&axis, bottom, &mut out);
    out.push_str("</svg></div>");
    key(&axis, r.since_ms, s.redirect_policy.grace, &mut out);
    totals_table(r, &totals, &mut out);
    out
}

/// What lies behind the rows: where there is no data yet, and the spans of events that last.
fn backdrop(axis: &Axis, since: u64, bottom: f64, marks: &[&Event], out: &mut String) {
    // Before the first poll there is no data, not zero redirects.
    if since > axis.start {
        let x = axis.x(since);
        let _ = write!(
            out,
            "<rect class=\"nodata\" x=\"{X0}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\">\
             <title>no data: slotwatch was not polling yet</title></rect>",
            x - X0,
            bottom - TOP
        );
    }
    for e in marks {
        if let Some(end) = e.end_ms {
            let (x0, x1) = (axis.x(e.timestamp_ms), axis.x(end));
            let _ = write!(
                out,
                "<rect class=\"span\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                (x1 - x0).max(1.0),
                bottom - TOP
            );
        }
    }
}

/// The grace window after each change that reroutes clients: the span in which a MOVED burst
/// is expected (hatched, and named in its title, so that no colour is needed to read it).
fn grace_svg(axis: &Axis, bottom: f64, events: &[Event], grace: Duration, out: &mut String) {
    let grace_ms = grace.as_millis() as u64;
    for e in events.iter().filter(|e| e.kind.is_topology_change()) {
        let from = e.end_ms.unwrap_or(e.timestamp_ms);
        let to = from.saturating_add(grace_ms);
        if to < axis.start || grace_ms == 0 {
            continue;
        }
        let (x0, x1) = (axis.x(from.max(axis.start)), axis.x(to.min(axis.now)));
        let _ = write!(
            out,
            "<rect class=\"grace\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\">\
             <title>grace window after {}: a MOVED burst until {} UTC is expected</title></rect>",
            (x1 - x0).max(1.0),
            bottom - TOP,
            esc(&e.message),
            &when(to)[11..],
        );
    }
}

/// One row, whose top is at `y`: its name, its peak, MOVED above its line and ASK below.
fn row_svg(axis: &Axis, y: f64, name: &str, moved: &Series, ask: &Series, out: &mut String) {
    let base = y + ROW_H / 2.0;
    let peak = moved
        .iter()
        .chain(ask.iter())
        .map(|b| b.2)
        .fold(0.0, f64::max);
    let _ = write!(
        out,
        "<g class=\"row\" data-node=\"{n}\"><text class=\"name\" x=\"{:.1}\" y=\"{:.1}\">{n}</text>\
         <text class=\"peak\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\
         <line class=\"base\" x1=\"{X0}\" x2=\"{X1}\" y1=\"{base:.1}\" y2=\"{base:.1}\"/>",
        X0 - 6.0,
        base - 2.0,
        X0 - 6.0,
        base + 11.0,
        if peak > 0.0 {
            format!("peak {}", rate_text(peak))
        } else {
            "none".to_owned()
        },
        n = esc(name),
    );
    if peak > 0.0 {
        out.push_str("<path class=\"moved\" d=\"");
        steps(axis, moved, peak, base, -1.0, out);
        out.push_str("\"/><path class=\"ask\" d=\"");
        steps(axis, ask, peak, base, 1.0, out);
        out.push_str("\"/>");
    }
    out.push_str("</g>");
}

/// The events' marks above the rows, each with its line down across them.
fn marks_svg(axis: &Axis, bottom: f64, marks: &[&Event], out: &mut String) {
    for (i, e) in marks.iter().enumerate() {
        let x = axis.x(e.timestamp_ms);
        let letter = mark(e.kind.kind()).unwrap_or('?');
        let _ = write!(
            out,
            "<g class=\"ev\" tabindex=\"0\" data-kind=\"{}\" data-key=\"e{}-{i}\">\
             <title>{} UTC: {}</title><line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"15\" y2=\"{bottom:.1}\"/>\
             <rect x=\"{:.1}\" y=\"1\" width=\"12\" height=\"14\" rx=\"2\"/>\
             <text x=\"{x:.1}\" y=\"12\">{letter}</text></g>",
            e.kind.name(),
            e.timestamp_ms,
            when(e.timestamp_ms),
            esc(&e.message),
            x - 6.0,
        );
    }
}

/// Seven clock labels along the time axis.
fn ticks_svg(axis: &Axis, bottom: f64, out: &mut String) {
    let span = axis.now - axis.start;
    let clock = if span >= 10 * 60_000 { 11..16 } else { 11..19 };
    for k in 0..=6u64 {
        let at = axis.start + k * span / 6;
        let x = axis.x(at);
        // The last label ends at the right edge rather than run over it.
        let anchor = if k == 6 {
            " style=\"text-anchor:end\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\"{anchor}>{}</text>",
            bottom + 13.0,
            &when(at)[clock.clone()]
        );
    }
}

/// The key under the chart: the time span and how to read it.
fn key(axis: &Axis, since_ms: u64, grace: Duration, out: &mut String) {
    let now = axis.now;
    let _ = write!(
        out,
        "<p class=\"key\">{} to {} UTC{}. Per second,",
        when(axis.start),
        &when(now)[11..],
        if since_ms > now.saturating_sub(WINDOW_MS) {
            ": since slotwatch started"
        } else {
            ": the last 30 minutes"
        }
    );
    out.push_str(
        " each row scaled to its own peak. <span class=\"kmoved\">\
         MOVED</span>: solid, above each line. <span class=\"kask\">ASK</span>: hatched, below. \
         Marks: <b>R</b> reshard, <b>F</b> failover, <b>M</b> migration, <b>S</b> slots \
         assigned or unassigned, <b>N</b> node failed or recovered.",
    );
    let _ = write!(
        out,
        " <span class=\"kgrace\">Finely hatched</span> after a change: its {} grace window, \
         in which a MOVED burst is expected; beyond it, a burst persists.</p>",
        crate::health::redirects::span(grace.as_secs_f64())
    );
}

/// The nodes that sent the most redirects in the window, with their counts.
fn totals_table(r: &Redirects, totals: &[(u32, u64, u64)], out: &mut String) {
    if totals.is_empty() {
        out.push_str("<p class=\"quiet\">No MOVED or ASK reply in the window.</p>");
        return;
    }
    out.push_str(
        "<table class=\"totals\"><caption>Redirects in the window</caption><thead><tr>\
         <th scope=\"col\">node</th><th scope=\"col\">MOVED</th><th scope=\"col\">ASK</th>\
         </tr></thead><tbody>",
    );
    for (node, moved, ask) in totals.iter().take(TOTALS_MAX) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{moved}</td><td>{ask}</td></tr>",
            esc(r.node(*node))
        );
    }
    if totals.len() > TOTALS_MAX {
        let _ = write!(
            out,
            "<tr><td colspan=\"3\">and {} more node(s)</td></tr>",
            totals.len() - TOTALS_MAX
        );
    }
    out.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_draw_bars_and_skip_flat_stretches() {
        let axis = Axis {
            start: 0,
            now: 1000,
        };
        let bars = vec![
            (0, 100, 0.0),
            (100, 200, 2.0),
            (200, 300, 2.0),
            (300, 400, 0.0),
        ];
        let mut d = String::new();
        steps(&axis, &bars, 2.0, 50.0, -1.0, &mut d);
        // One shape: flat to 100 ms, up to the peak, flat across both bars, down at 300 ms,
        // flat to 400 ms. In absolute terms: M160 50 H219.2 V31 H337.6 V50 H396.8 Z.
        assert_eq!(d, "M160 50h59.2v-19h118.4v19h59.2z");
        let mut gap = String::new();
        steps(
            &axis,
            &[(0, 100, 1.0), (500, 600, 1.0)],
            1.0,
            50.0,
            1.0,
            &mut gap,
        );
        assert_eq!(
            gap, "M160 50v19h59.2v-19zM456 50v19h59.2v-19z",
            "a gap without polls closes the shape"
        );
        let mut t = String::new();
        for v in [0, 5, -5, 10, -123, 7] {
            tenths(v, &mut t);
            t.push(' ');
        }
        assert_eq!(t, "0 .5 -.5 1 -12.3 .7 ");
    }

    #[test]
    fn marked_kinds() {
        assert_eq!(mark(Kind::Reshard), Some('R'));
        assert_eq!(mark(Kind::MigrationFailed), Some('M'));
        assert_eq!(mark(Kind::ReplicaMoved), None);
    }
}
