//! The heat view: the slot map coloured by each slot's keys, CPU or network traffic, from a
//! full reading of every master's per-slot stats ([`crate::web::heat`]). Each level has a
//! colour and a pattern, and every run of slots names its values in its title, so the view
//! never relies on colour alone; the hottest slots are listed with a link to their owner's row.
//! Pure: a reading in, HTML out.

use std::fmt::Write as _;

use super::slotmap::outline;
use super::{Ctx, esc, when};
use crate::health::load::{LoadBalance, Measure, load_balance};
use crate::plan::Spread;
use crate::plan::run::MasterStats;
use crate::slot::SLOT_COUNT;
use crate::slot_stats::Metric;
use crate::web::heat::{HeatReading, MIN_INTERVAL};

/// Heat levels: 0 for an idle slot, then four steps on a logarithmic scale up to the hottest
/// slot. Colours from ColorBrewer's Reds; each level above 0 adds a denser pattern.
const LEVELS: [(&str, &str, &str); 5] = [
    ("#f7f7f7", "", "none"),
    ("#fcae91", "p-h1", "dots"),
    ("#fb6a4a", "p-h2", "stripes"),
    ("#de2d26", "p-h3", "dense stripes"),
    ("#a50f15", "p-h4", "cross-hatch"),
];

/// The hottest slots listed under the map.
const HOT_LISTED: usize = 10;

/// Fill patterns of the heat levels, for the page's shared definitions.
pub const PATTERNS: &str = "<pattern id=\"p-h1\" width=\"2\" height=\"2\" \
patternUnits=\"userSpaceOnUse\"><circle cx=\"1\" cy=\"1\" r=\".35\" fill=\"#000\" \
fill-opacity=\".55\"/></pattern>\
<pattern id=\"p-h2\" width=\"2\" height=\"2\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(45)\"><rect width=\".5\" height=\"2\" fill=\"#000\" \
fill-opacity=\".5\"/></pattern>\
<pattern id=\"p-h3\" width=\"1.2\" height=\"1.2\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(45)\"><rect width=\".5\" height=\"1.2\" fill=\"#fff\" \
fill-opacity=\".55\"/></pattern>\
<pattern id=\"p-h4\" width=\"1.4\" height=\"1.4\" patternUnits=\"userSpaceOnUse\">\
<path d=\"M0 0L1.4 1.4M1.4 0L0 1.4\" stroke=\"#fff\" stroke-width=\".35\"/></pattern>";

/// The measure a `?heat=` value names.
pub fn measure(name: &str) -> Option<Measure> {
    Measure::ALL.into_iter().find(|m| m.as_str() == name)
}

/// What each measure's values are, for titles and the key.
fn unit(m: Measure) -> &'static str {
    match m {
        Measure::Keys => "keys",
        Measure::Cpu => "µs of CPU",
        Measure::Network => "bytes in+out",
    }
}

/// The smallest value of level `k + 1` (k of 1 to 3) when the hottest slot has `max`:
/// `max^(k/4)`, rounded up, an exact power counting as exact despite floating point.
fn edge(max: u64, k: usize) -> u64 {
    let x = (max as f64).powf(k as f64 / 4.0);
    let r = x.round();
    if (x - r).abs() <= 1e-9 * r.max(1.0) {
        r as u64
    } else {
        x.ceil() as u64
    }
}

/// A slot's level for `value` when the hottest slot has `max`: 0 when idle, 4 for the hottest,
/// and between them a step at each quarter of the way on a logarithmic scale.
fn level(value: u64, max: u64) -> usize {
    if value == 0 || max == 0 {
        return 0;
    }
    if value >= max {
        return 4;
    }
    1 + (1..=3).filter(|k| value >= edge(max, *k)).count()
}

/// The values of level `lv` (1 to 4) when the hottest slot has `max`: from `max^((lv-1)/4)` up
/// to just below `max^(lv/4)`, the top level up to `max` itself; `None` for level 0 or a level
/// no whole number falls in.
fn level_span(lv: usize, max: u64) -> Option<(u64, u64)> {
    if lv == 0 || max == 0 {
        return None;
    }
    let lo = if lv == 1 { 1 } else { edge(max, lv - 1) };
    let hi = if lv == 4 {
        max
    } else {
        edge(max, lv).saturating_sub(1)
    };
    (lo <= hi).then_some((lo, hi))
}

/// Each slot's value and owner from the reading; `None` for a slot no master reported.
struct Values<'r> {
    value: Vec<Option<u64>>,
    owner: Vec<Option<&'r str>>,
    /// Masters that could not give this measure, with why.
    missing: Vec<(&'r str, String)>,
}

fn values<'r>(reading: &'r HeatReading, m: Measure) -> Values<'r> {
    let n = usize::from(SLOT_COUNT);
    let mut out = Values {
        value: vec![None; n],
        owner: vec![None; n],
        missing: Vec::new(),
    };
    for (endpoint, stats) in &reading.masters {
        let stats = match stats {
            MasterStats::Read(stats) => stats,
            MasterStats::Unsupported => {
                let why = "no CLUSTER SLOT-STATS (Valkey 8.0+, Redis 8.2+): slot counts only";
                out.missing.push((endpoint, why.to_owned()));
                continue;
            }
            MasterStats::Failed(e) => {
                out.missing.push((endpoint, format!("not read: {e}")));
                continue;
            }
        };
        let reported = |s: &crate::slot_stats::SlotStat| {
            m.metrics().iter().all(|f| s.values[f.index()].is_some())
        };
        if !stats.iter().all(reported) {
            let why = "cluster-slot-stats-enabled is no: only keys are counted per slot";
            out.missing.push((endpoint, why.to_owned()));
            continue;
        }
        for s in stats {
            let slot = usize::from(s.slot);
            out.value[slot] = Some(m.metrics().iter().map(|f| s.get(*f)).sum());
            out.owner[slot] = Some(endpoint.as_str());
        }
    }
    out
}

/// The heat view of `measure`, from `reading`.
pub fn section(ctx: &Ctx, m: Measure, reading: &HeatReading) -> String {
    let v = values(reading, m);
    let max = v.value.iter().flatten().copied().max().unwrap_or(0);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<h2 id=\"h-heat\">Heat: {} per slot</h2><p class=\"sum\">",
        esc(unit(m))
    );
    for other in Measure::ALL {
        if other == m {
            let _ = write!(out, "<b>{}</b> ", other.as_str());
        } else {
            let _ = write!(out, "<a href=\"?heat={0}#heat\">{0}</a> ", other.as_str());
        }
    }
    let _ = write!(
        out,
        "· read {} from every master's CLUSTER SLOT-STATS (at most every {} s){}.</p>",
        when(reading.read_at_ms),
        MIN_INTERVAL.as_secs(),
        if m == Measure::Keys {
            ""
        } else {
            "; counted since each slot came to its master or its last CONFIG RESETSTAT"
        }
    );
    // The poll's readings, or before it has any, the keys of this one.
    let balance = ctx
        .t
        .and_then(|t| load_balance(ctx.s, t))
        .or_else(|| keys_balance(reading));
    if let Some(b) = balance {
        let _ = write!(
            out,
            "<p class=\"sum\" id=\"load\">{}</p>",
            esc(&b.to_string())
        );
    }
    for (endpoint, why) in &v.missing {
        let _ = write!(out, "<p class=\"bad\">{}: {}</p>", esc(endpoint), esc(why));
    }
    map(&v, m, max, &mut out);
    key(m, max, &mut out);
    hottest(ctx, &v, m, &mut out);
    out
}

/// The spread of keys over the masters of `reading`, when every one of them was read.
fn keys_balance(reading: &HeatReading) -> Option<LoadBalance> {
    let keys: Option<Vec<u64>> = reading
        .masters
        .iter()
        .map(|(_, stats)| match stats {
            MasterStats::Read(stats) => Some(stats.iter().map(|s| s.get(Metric::Keys)).sum()),
            _ => None,
        })
        .collect();
    Some(LoadBalance {
        masters: reading.masters.len(),
        without_stats: Vec::new(),
        spreads: vec![(Measure::Keys, Spread::of(&keys?)?)],
    })
}

/// The map: one focusable shape per run of slots with one owner and one level.
fn map(v: &Values, m: Measure, max: u64, out: &mut String) {
    out.push_str(
        "<p id=\"heatinfo\" class=\"info\" aria-live=\"polite\">Hover over or focus a range to \
         name its values.</p><svg class=\"slotmap heatmap\" viewBox=\"-17 -3 147 134\" \
         role=\"group\" aria-label=\"Heat map: 128 slots per row, slot 0 at the top left\">",
    );
    let n = usize::from(SLOT_COUNT);
    let mut start = 0;
    while start < n {
        let key = |s: usize| (v.owner[s], v.value[s].map(|x| level(x, max)));
        let mut end = start;
        while end + 1 < n && key(end + 1) == key(start) {
            end += 1;
        }
        run(v, m, max, start, end, out);
        start = end + 1;
    }
    out.push_str("</svg>");
}

fn run(v: &Values, m: Measure, max: u64, start: usize, end: usize, out: &mut String) {
    let mut d = String::new();
    // Slots are below SLOT_COUNT, which fits in u16.
    outline(start as u16, end as u16, &mut d);
    let slots = if start == end {
        format!("slot {start}")
    } else {
        format!("slots {start}-{end}")
    };
    let Some(owner) = v.owner[start] else {
        let _ = write!(
            out,
            "<g tabindex=\"0\" data-start=\"{start}\" data-end=\"{end}\" fill=\"url(#p-un)\">\
             <title>{slots}: no data</title><path d=\"{d}\"/></g>"
        );
        return;
    };
    let values: Vec<u64> = (start..=end).filter_map(|s| v.value[s]).collect();
    let (lo, hi) = (
        values.iter().min().copied().unwrap_or(0),
        values.iter().max().copied().unwrap_or(0),
    );
    let lv = level(hi, max);
    let (colour, pattern, _) = LEVELS[lv];
    let range = if lo == hi {
        format!("{lo}")
    } else {
        format!("{lo} to {hi}")
    };
    let title = format!(
        "{slots}: {range} {} per slot (level {lv} of 4), owner {owner}",
        unit(m)
    );
    let _ = write!(
        out,
        "<g tabindex=\"0\" data-start=\"{start}\" data-end=\"{end}\" data-level=\"{lv}\" \
         fill=\"{colour}\"><title>{}</title><path d=\"{d}\"/>",
        esc(&title)
    );
    if !pattern.is_empty() {
        let _ = write!(out, "<path d=\"{d}\" fill=\"url(#{pattern})\"/>");
    }
    out.push_str("</g>");
}

/// The key: each level's colour, pattern and values.
fn key(m: Measure, max: u64, out: &mut String) {
    out.push_str("<ul class=\"key\">");
    for (lv, (colour, pattern, words)) in LEVELS.iter().enumerate() {
        let span = match level_span(lv, max) {
            None if lv == 0 => "idle".to_owned(),
            None => "none".to_owned(),
            Some((lo, hi)) if lo == hi => format!("{lo} {}", unit(m)),
            Some((lo, hi)) => format!("{lo}–{hi} {}", unit(m)),
        };
        let overlay = if pattern.is_empty() {
            String::new()
        } else {
            format!("<rect width=\"4\" height=\"4\" fill=\"url(#{pattern})\"/>")
        };
        let _ = write!(
            out,
            "<li data-level=\"{lv}\"><svg class=\"sw\" viewBox=\"0 0 4 4\" aria-hidden=\"true\">\
             <rect width=\"4\" height=\"4\" fill=\"{colour}\"/>{overlay}</svg>level {lv} \
             ({words}): {span}</li>"
        );
    }
    out.push_str("</ul>");
}

/// The hottest slots, each linked to its owner's row in the nodes table.
fn hottest(ctx: &Ctx, v: &Values, m: Measure, out: &mut String) {
    let mut hot: Vec<(usize, u64)> = v
        .value
        .iter()
        .enumerate()
        .filter_map(|(s, x)| Some((s, (*x)?)))
        .filter(|(_, x)| *x > 0)
        .collect();
    hot.sort_by_key(|(s, x)| (std::cmp::Reverse(*x), *s));
    hot.truncate(HOT_LISTED);
    if hot.is_empty() {
        out.push_str("<p>No slot has any yet.</p>");
        return;
    }
    let _ = write!(out, "<h3>Hottest slots</h3><ol class=\"hot\">");
    for (slot, x) in hot {
        let owner = v.owner[slot].unwrap_or_default();
        let row = ctx
            .t
            .and_then(|t| t.nodes.iter().find(|n| n.endpoint == owner))
            .map(|n| format!("#m-{}", n.id.short()))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<li data-slot=\"{slot}\">slot {slot}: {x} {} on <a href=\"{row}\">{o}</a></li>",
            unit(m),
            o = esc(owner)
        );
    }
    out.push_str("</ol>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot_stats::SlotStat;
    use crate::snapshot::Published;
    use crate::snapshot::testdata::snapshot_of;
    use crate::topology::testdata::healthy;

    fn stat(slot: u16, keys: u64) -> SlotStat {
        SlotStat {
            slot,
            values: [Some(keys), None, None, None],
        }
    }

    fn reading() -> HeatReading {
        HeatReading {
            read_at_ms: 1_000,
            masters: vec![
                (
                    "127.0.0.1:30001".into(),
                    MasterStats::Read((0..5461).map(|s| stat(s, u64::from(s % 3))).collect()),
                ),
                (
                    "127.0.0.1:30002".into(),
                    MasterStats::Read(
                        (5461..10923)
                            .map(|s| stat(s, if s == 6000 { 10_000 } else { 0 }))
                            .collect(),
                    ),
                ),
                ("127.0.0.1:30003".into(), MasterStats::Unsupported),
            ],
        }
    }

    fn published() -> Published {
        Published {
            snapshot: std::sync::Arc::new(snapshot_of(&healthy(), &[])),
            clients: None,
        }
    }

    #[test]
    fn the_key_s_spans_are_the_levels_values_without_overlap() {
        for max in [1, 2, 7, 100, 10_000, 123_457] {
            let mut next = 1;
            for lv in 1..=4 {
                if let Some((lo, hi)) = level_span(lv, max) {
                    assert_eq!(lo, next, "level {lv} of {max} starts where the last ended");
                    assert_eq!(
                        (level(lo, max), level(hi, max)),
                        (lv, lv),
                        "{max}: {lo}-{hi}"
                    );
                    next = hi + 1;
                }
            }
            assert_eq!(next, max + 1, "the levels cover 1 to {max}");
        }
    }

    #[test]
    fn levels_climb_a_log_scale_to_the_hottest_slot() {
        assert_eq!(level(0, 10_000), 0);
        assert_eq!(level(1, 10_000), 1);
        assert_eq!(level(9, 10_000), 1);
        assert_eq!(level(10, 10_000), 2);
        assert_eq!(level(999, 10_000), 3);
        assert_eq!(level(10_000, 10_000), 4);
        assert_eq!(level(1, 1), 4);
    }

    #[test]
    fn every_run_names_its_values_and_owner_and_the_hottest_slots_link_to_their_owners() {
        let p = published();
        let ctx = Ctx::new(&p);
        let html = section(&ctx, Measure::Keys, &reading());
        assert!(html.contains("Heat: keys per slot"), "{html}");
        assert!(html.contains(
            "<title>slot 6000: 10000 keys per slot (level 4 of 4), owner 127.0.0.1:30002</title>"
        ));
        assert!(
            html.contains("fill=\"url(#p-h4)\""),
            "the hottest level has its pattern"
        );
        assert!(html.contains(
            "<li data-slot=\"6000\">slot 6000: 10000 keys on <a href=\"#m-67ed2db8\">\
             127.0.0.1:30002</a></li>"
        ));
        assert!(
            html.contains("127.0.0.1:30003: no CLUSTER SLOT-STATS"),
            "{html}"
        );
        assert!(
            html.contains("<title>slots 10923-16383: no data</title>"),
            "{html}"
        );
        assert!(html.contains("<a href=\"?heat=cpu#heat\">cpu</a>"));
        assert_eq!(html.matches("<li data-level=").count(), 5);
    }

    #[test]
    fn before_the_poll_has_read_the_load_the_reading_gives_the_keys_spread() {
        let mut r = reading();
        r.masters.truncate(2);
        let p = published();
        let html = section(&Ctx::new(&p), Measure::Keys, &r);
        // 5460 keys (0, 1, 2 over 5461 slots) against 10,000.
        assert!(
            html.contains("id=\"load\">load over 2 masters: keys max/mean 1.29"),
            "{html}"
        );
        let html = section(&Ctx::new(&p), Measure::Keys, &reading());
        assert!(
            !html.contains("id=\"load\""),
            "a master without stats: no spread"
        );
    }

    #[test]
    fn a_measure_the_server_does_not_count_says_so() {
        let p = published();
        let ctx = Ctx::new(&p);
        let html = section(&ctx, Measure::Cpu, &reading());
        assert!(
            html.contains("127.0.0.1:30001: cluster-slot-stats-enabled is no"),
            "{html}"
        );
        assert!(html.contains("No slot has any yet."), "{html}");
        assert_eq!(measure("network"), Some(Measure::Network));
        assert_eq!(measure("memory"), None);
    }
}
