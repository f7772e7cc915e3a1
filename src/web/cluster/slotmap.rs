//! The slot map: all 16384 slots as a 128 × 128 grid, row by row, each run of slots with the
//! same owner and state drawn as one focusable shape naming its slots, owner and replicas.
//! Unassigned, migrating, disputed slots and slots of a failing owner carry a pattern and a
//! word besides the colour.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{Ctx, esc};
use crate::slot::{SLOT_COUNT, format_ranges};
use crate::topology::{Mechanism, Node, NodeId, OpenMigration, Topology};

/// Slots per row of the map.
pub const COLS: u16 = 128;

/// Masters' colours: the Okabe-Ito palette, readable with the common colour-vision
/// deficiencies, and five more; beyond that, hues derived from the node ID.
const PALETTE: [&str; 12] = [
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#999933",
    "#882255", "#44aa99", "#88ccee", "#332288",
];

/// Masters' legend next to the map up to this many owners; beyond, the nodes table is the
/// legend.
const LEGEND_MAX: usize = 24;

/// Open migrations listed under the map; more are counted.
const MIGRATIONS_MAX: usize = 20;

/// A colour for every master that owns slots: with `k` owners, the first `k` colours of the
/// palette (at most all twelve), each owner's picked from its node ID. Owners keep their colours
/// while the set of owners stays the same (a reshard or a migration recolours only the slots
/// that move); beyond twelve owners, colours come from the ID alone.
pub fn colours(t: &Topology) -> HashMap<NodeId, String> {
    let owners: Vec<&Node> = t.masters().filter(|m| m.slot_count > 0).collect();
    let k = owners.len().clamp(1, PALETTE.len());
    let mut taken = [false; PALETTE.len()];
    let mut out = HashMap::new();
    for m in owners {
        // FNV-1a of the ID: any bit of it changes the colour.
        let h = m.id.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        let free = (0..k).map(|i| (h as usize + i) % k).find(|i| !taken[*i]);
        let colour = match free {
            Some(i) => {
                taken[i] = true;
                PALETTE[i].to_owned()
            }
            None => hsl_hex(h % 360, 35 + (h >> 9) % 40, 35 + (h >> 17) % 30),
        };
        out.insert(m.id, colour);
    }
    out
}

/// `#rrggbb` for a hue in degrees and saturation and lightness in percent.
fn hsl_hex(hue: u32, saturation: u32, lightness: u32) -> String {
    let (s, l) = (f64::from(saturation) / 100.0, f64::from(lightness) / 100.0);
    let a = s * l.min(1.0 - l);
    let channel = |n: f64| {
        let k = (n + f64::from(hue) / 30.0) % 12.0;
        let v = l - a * (k - 3.0).min(9.0 - k).clamp(-1.0, 1.0);
        (v * 255.0).round() as u8
    };
    format!(
        "#{:02x}{:02x}{:02x}",
        channel(0.0),
        channel(8.0),
        channel(4.0)
    )
}

/// What a run of slots is, besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Served by its owner.
    Owned,
    /// No owner.
    Unassigned,
    /// In the open migration of this index in `Topology::open_migrations`.
    Migrating(usize),
    /// The views disagree on the owner.
    Disputed,
}

/// A run of consecutive slots with the same owner and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run<'a> {
    /// First slot.
    pub start: u16,
    /// Last slot (inclusive).
    pub end: u16,
    /// The owning master.
    pub owner: Option<&'a Node>,
    /// The state.
    pub state: State,
}

/// The slots cut into runs of one owner and one state, in slot order.
pub fn runs<'a>(t: &'a Topology, open: &[OpenMigration]) -> Vec<Run<'a>> {
    let mut migrating = vec![usize::MAX; usize::from(SLOT_COUNT)];
    for (i, m) in open.iter().enumerate() {
        for slot in m.ranges.iter().flat_map(|r| r.slots()) {
            migrating[usize::from(slot)] = i;
        }
    }
    let mut out: Vec<Run<'a>> = Vec::new();
    for slot in 0..SLOT_COUNT {
        let owner = t.owner(slot);
        let state = match (owner, migrating[usize::from(slot)]) {
            (_, i) if i != usize::MAX => State::Migrating(i),
            (None, _) => State::Unassigned,
            _ if t.disagreement.contains(slot) => State::Disputed,
            _ => State::Owned,
        };
        match out.last_mut() {
            Some(r) if r.state == state && r.owner.map(|n| n.id) == owner.map(|n| n.id) => {
                r.end = slot;
            }
            _ => out.push(Run {
                start: slot,
                end: slot,
                owner,
                state,
            }),
        }
    }
    out
}

/// Appends the outline of slots `start..=end` on the grid: at most three rectangles.
pub(super) fn outline(start: u16, end: u16, out: &mut String) {
    let (ra, ca) = (start / COLS, start % COLS);
    let (rb, cb) = (end / COLS, end % COLS);
    let mut rect = |x: u16, y: u16, w: u16, h: u16| {
        let _ = write!(out, "M{x} {y}h{w}v{h}h-{w}z");
    };
    if ra == rb {
        rect(ca, ra, cb - ca + 1, 1);
        return;
    }
    let first_full = if ca == 0 {
        ra
    } else {
        rect(ca, ra, COLS - ca, 1);
        ra + 1
    };
    let after_full = if cb == COLS - 1 {
        rb + 1
    } else {
        rect(0, rb, cb + 1, 1);
        rb
    };
    if after_full > first_full {
        rect(0, first_full, COLS, after_full - first_full);
    }
}

fn slots_text(start: u16, end: u16) -> String {
    if start == end {
        format!("slot {start}")
    } else {
        format!("slots {start}-{end} ({} slots)", end - start + 1)
    }
}

/// A migration in words: `127.0.0.1:1 -> 127.0.0.1:2 (classic, migrating)`.
fn migration_text(t: &Topology, m: &OpenMigration) -> String {
    format!(
        "{} -> {} ({}, {})",
        t.endpoint_of(&m.source),
        t.endpoint_of(&m.target),
        m.mechanism.as_str(),
        m.state
    )
}

/// One run as a focusable group with its title.
fn run_svg(ctx: &Ctx, t: &Topology, open: &[OpenMigration], r: &Run, out: &mut String) {
    let mut d = String::new();
    outline(r.start, r.end, &mut d);
    let (state, what) = match r.state {
        State::Owned => ("", String::new()),
        State::Unassigned => ("unassigned", "UNASSIGNED, no owner".to_owned()),
        State::Migrating(i) => (
            "migrating",
            format!("MIGRATING {}; ", migration_text(t, &open[i])),
        ),
        State::Disputed => ("disputed", "DISPUTED: the views disagree; ".to_owned()),
    };
    let _ = write!(
        out,
        "<g tabindex=\"0\" data-start=\"{}\" data-end=\"{}\"",
        r.start, r.end
    );
    if !state.is_empty() {
        let _ = write!(out, " data-state=\"{state}\"");
    }
    let mut title = format!("{}: {what}", slots_text(r.start, r.end));
    let mut failing = String::new();
    match r.owner {
        Some(o) => {
            let flags = crate::health::failure_flags(o.fail, o.pfail).join(",");
            let _ = write!(
                out,
                " data-owner=\"{}\" fill=\"{}\"",
                esc(&o.endpoint),
                ctx.colour(&o.id).unwrap_or("#888")
            );
            let _ = write!(title, "owner {}", o.endpoint);
            if !flags.is_empty() {
                let _ = write!(out, " data-failing=\"{flags}\"");
                let _ = write!(title, " (FAILING: {flags})");
                failing = format!("<path d=\"{d}\" fill=\"url(#p-fail)\"/>");
            }
            let replicas: Vec<&str> = t.replicas_of(&o.id).map(|n| n.endpoint.as_str()).collect();
            if replicas.is_empty() {
                title.push_str("; no replicas");
            } else {
                let _ = write!(title, "; replicas {}", replicas.join(", "));
            }
        }
        None => out.push_str(" fill=\"url(#p-un)\""),
    }
    let _ = write!(
        out,
        "><title>{}</title><path d=\"{d}\"/>{failing}",
        esc(&title)
    );
    match r.state {
        State::Migrating(_) => {
            let (x, y) = (
                f32::from(r.start % COLS) + 0.5,
                f32::from(r.start / COLS) + 0.5,
            );
            let _ = write!(
                out,
                "<path d=\"{d}\" fill=\"url(#p-mig)\"/>\
                 <circle class=\"halo\" cx=\"{x}\" cy=\"{y}\" r=\"3\"/>\
                 <circle class=\"ring\" cx=\"{x}\" cy=\"{y}\" r=\"3\"/>"
            );
        }
        State::Disputed => {
            let _ = write!(out, "<path d=\"{d}\" fill=\"url(#p-dis)\"/>");
        }
        _ => {}
    }
    out.push_str("</g>");
}

/// The slot map section: a summary line, the map, its key, the masters' legend and the open
/// migrations.
pub fn section(ctx: &Ctx) -> String {
    let Some(t) = ctx.t else {
        return "<p>No topology yet: the cluster has not been read.</p>".to_owned();
    };
    let open = t.open_migrations();
    let runs = runs(t, &open);
    let count = |f: &dyn Fn(&Run) -> bool| -> u32 {
        runs.iter()
            .filter(|r| f(r))
            .map(|r| u32::from(r.end - r.start) + 1)
            .sum()
    };
    let unassigned = count(&|r| r.state == State::Unassigned);
    let migrating = count(&|r| matches!(r.state, State::Migrating(_)));
    let disputed = count(&|r| r.state == State::Disputed);
    let failing = count(&|r| r.owner.is_some_and(|o| o.fail || o.pfail));
    let owners = ctx.colours.len();
    let mut out = String::with_capacity(runs.len() * 260 + 4096);
    let _ = write!(
        out,
        "<p class=\"sum\">16384 slots: {} assigned to {owners} master(s), \
         <b>{unassigned}</b> unassigned, <b>{migrating}</b> migrating, <b>{failing}</b> on a \
         failing master, <b>{disputed}</b> disputed. {} range(s).</p>\
         <svg class=\"slotmap\" viewBox=\"-17 -3 147 134\" role=\"group\" \
         aria-label=\"Slot map: 128 slots per row, slot 0 at the top left\">",
        u32::from(SLOT_COUNT) - unassigned,
        runs.len()
    );
    for row in (0..COLS).step_by(16) {
        let _ = write!(
            out,
            "<text class=\"lbl\" x=\"-1.5\" y=\"{}\">{}</text>",
            row + 3,
            row * COLS
        );
    }
    for r in &runs {
        run_svg(ctx, t, &open, r, &mut out);
    }
    out.push_str("</svg>");
    key(unassigned, migrating, failing, disputed, &mut out);
    out.push_str(
        "<p class=\"sum\">Heat view (every master's per-slot stats, read on demand): \
         <a href=\"?heat=keys#heat\">keys</a> · <a href=\"?heat=cpu#heat\">CPU</a> · \
         <a href=\"?heat=network#heat\">network</a></p>",
    );
    legend(ctx, t, &mut out);
    migrations(ctx, t, &open, &mut out);
    out
}

/// The key of patterns.
fn key(unassigned: u32, migrating: u32, failing: u32, disputed: u32, out: &mut String) {
    out.push_str("<ul class=\"key\">");
    for (pattern, words, n) in [
        (
            "p-un",
            "unassigned: no owner, keys cannot be served",
            unassigned,
        ),
        ("p-mig", "migrating (ringed): clients get ASK", migrating),
        ("p-fail", "owner flagged fail or fail?", failing),
        ("p-dis", "disputed: the nodes' views disagree", disputed),
    ] {
        let _ = write!(
            out,
            "<li><svg class=\"sw\" viewBox=\"0 0 4 4\" aria-hidden=\"true\"><rect width=\"4\" \
             height=\"4\" fill=\"#bbb\"/><rect width=\"4\" height=\"4\" fill=\"url(#{pattern})\"/>\
             </svg>{words} ({n})</li>"
        );
    }
    out.push_str("</ul>");
}

/// The masters with their colour, slot count and replicas, while they are few enough.
fn legend(ctx: &Ctx, t: &Topology, out: &mut String) {
    let shards = t.shards();
    let owners: Vec<_> = shards.iter().filter(|s| s.master.slot_count > 0).collect();
    if owners.len() > LEGEND_MAX {
        let _ = write!(
            out,
            "<p>{} masters own slots; their colours, slot counts and replicas are in the \
             <a href=\"#h-nodes\">nodes table</a>.</p>",
            owners.len()
        );
        return;
    }
    out.push_str("<ul class=\"legend\" aria-label=\"Masters\">");
    for s in owners {
        let m = s.master;
        let replicas: Vec<&str> = s.replicas.iter().map(|r| r.endpoint.as_str()).collect();
        let _ = write!(
            out,
            "<li data-owner=\"{ep}\"><i class=\"sw\" style=\"background:{c}\"></i><b>{ep}</b> \
             {n} slots{fail}<br><small>replicas: {r}</small></li>",
            ep = esc(&m.endpoint),
            c = ctx.colour(&m.id).unwrap_or("#888"),
            n = m.slot_count,
            fail = if m.fail || m.pfail {
                format!(
                    " <b class=\"bad\">{}</b>",
                    crate::health::failure_flags(m.fail, m.pfail).join(",")
                )
            } else {
                String::new()
            },
            r = if replicas.is_empty() {
                "none".to_owned()
            } else {
                esc(&replicas.join(", "))
            },
        );
    }
    out.push_str("</ul>");
}

/// The open migrations, with their age and progress.
fn migrations(ctx: &Ctx, t: &Topology, open: &[OpenMigration], out: &mut String) {
    if open.is_empty() {
        out.push_str("<p class=\"migs\">No slot migration open.</p>");
        return;
    }
    out.push_str("<ul class=\"migs\" aria-label=\"Open migrations\">");
    for m in open.iter().take(MIGRATIONS_MAX) {
        let s = ctx.s;
        let progress = s.progress.get(&m.id);
        let age = s.migration_age_s(&m.id).unwrap_or(0.0);
        let still = progress.map_or(0.0, |p| {
            s.polled_at_ms.saturating_sub(p.progressed_ms) as f64 / 1000.0
        });
        let _ = write!(
            out,
            "<li><b>MIGRATING</b> {} {}: open {age:.0} s, no progress for {still:.0} s",
            if m.slots == 1 { "slot" } else { "slots" },
            esc(&format_ranges(&m.ranges)),
        );
        if let Some(k) = progress.and_then(|p| p.keys_left) {
            let _ = write!(out, ", {k} key(s) left on the source");
        }
        if m.mechanism == Mechanism::Atomic
            && let Some(job) = m.id.job()
        {
            let _ = write!(out, ", job {}", esc(job));
        }
        let _ = write!(out, " <small>{}</small></li>", esc(&migration_text(t, m)));
    }
    if open.len() > MIGRATIONS_MAX {
        let _ = write!(out, "<li>and {} more</li>", open.len() - MIGRATIONS_MAX);
    }
    out.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline_of(start: u16, end: u16) -> String {
        let mut s = String::new();
        outline(start, end, &mut s);
        s
    }

    #[test]
    fn colours_beyond_the_palette_are_hex() {
        assert_eq!(hsl_hex(0, 100, 50), "#ff0000");
        assert_eq!(hsl_hex(120, 100, 25), "#008000");
        assert_eq!(hsl_hex(210, 50, 50), "#4080bf");
    }

    #[test]
    fn a_run_is_at_most_three_rectangles() {
        assert_eq!(outline_of(5, 5), "M5 0h1v1h-1z");
        assert_eq!(outline_of(0, 127), "M0 0h128v1h-128z");
        assert_eq!(outline_of(0, 16383), "M0 0h128v128h-128z");
        // 0-5460: rows 0-41 whole, then 85 slots of row 42.
        assert_eq!(outline_of(0, 5460), "M0 42h85v1h-85zM0 0h128v42h-128z");
        // 5461-10922: the rest of row 42, rows 43-84, 43 slots of row 85.
        assert_eq!(
            outline_of(5461, 10922),
            "M85 42h43v1h-43zM0 85h43v1h-43zM0 43h128v42h-128z"
        );
        // Two partial rows, nothing whole between them.
        assert_eq!(outline_of(120, 130), "M120 0h8v1h-8zM0 1h3v1h-3z");
    }
}
