//! The banner with the health judgement and the event timeline.

use std::fmt::Write as _;

use super::{Ctx, esc, when};
use crate::health::redirects::{self, State};
use crate::health::{self, Problem};

/// Events listed, newest first.
pub const EVENTS_MAX: usize = 50;

/// When the shown poll ran, and whether the topology is stale.
pub fn polled(ctx: &Ctx) -> String {
    let s = ctx.s;
    if s.polled_at_ms == 0 {
        return "Waiting for the first poll.".to_owned();
    }
    let mut out = format!("Polled {} UTC.", when(s.polled_at_ms));
    if let (None, Some(t)) = (&s.topology, ctx.t) {
        let _ = write!(
            out,
            " <b class=\"bad\">Unreachable: showing the topology of {} UTC.</b>",
            when(t.observed_at_ms)
        );
    }
    out
}

/// The `field` tag of a problem or note, as `check --json` names it.
fn tag(p: &impl serde::Serialize, field: &str) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.get(field)?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The health banner. It leads with the redirect verdict ([`health::redirects`]), then the
/// verdict of [`health::problems`], the one `check` and `/` give, and the judgement's notes.
pub fn banner(ctx: &Ctx) -> String {
    let problems = health::problems(ctx.s);
    let (class, role, head) = health_head(&problems);
    let verdict =
        (ctx.s.polled_at_ms > 0).then(|| redirects::of_snapshot(ctx.s, ctx.s.clients.as_deref()));
    let state = verdict.as_ref().map_or(State::Quiet, |v| v.state);
    let health_class = class;
    // The banner takes the worse of the two.
    let (class, role) = match (state, class) {
        (State::Persisting, _) => ("bad", "alert"),
        (State::Expected, "ok") => ("warn", "status"),
        _ => (class, role),
    };
    let icon = |c: &str| match c {
        "ok" => "✔ ",
        "wait" => "… ",
        _ => "⚠ ",
    };
    let mut out = format!(
        "<div class=\"banner {class}\" role=\"{role}\" data-redirects=\"{}\">",
        state.as_str()
    );
    if let Some(v) = &verdict {
        verdict_line(v, &mut out);
    }
    let _ = write!(out, "<b>{}{head}</b>", icon(health_class));
    let listed: Vec<&Problem> = problems
        .iter()
        .filter(|p| !matches!(p, Problem::NotPolledYet))
        .collect();
    if !listed.is_empty() {
        out.push_str("<ul>");
        for p in listed {
            let _ = write!(
                out,
                "<li data-problem=\"{}\">{}</li>",
                tag(p, "problem"),
                esc(&p.to_string())
            );
        }
        out.push_str("</ul>");
    }
    let notes = health::notes(ctx.s);
    if !notes.is_empty() {
        out.push_str("<ul class=\"notes\">");
        for n in &notes {
            let _ = write!(
                out,
                "<li data-note=\"{}\">Note: {}</li>",
                tag(n, "note"),
                esc(&n.to_string())
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</div>");
    out
}

/// The health judgement's class, ARIA role and head line.
fn health_head(problems: &[Problem]) -> (&'static str, &'static str, String) {
    match problems {
        [] => (
            "ok",
            "status",
            "Healthy: every slot has an owner, every node answered and says cluster_state:ok, \
         no master is failing and each has a replica ready, the views agree and no \
         migration is open."
                .to_owned(),
        ),
        [Problem::NotPolledYet] => ("wait", "status", "Waiting for the first poll.".to_owned()),
        all if all
            .iter()
            .all(|p| matches!(p, Problem::MigrationsOpen { .. })) =>
        {
            ("warn", "status", "In progress:".to_owned())
        }
        all => (
            "bad",
            "alert",
            format!(
                "{} problem{}:",
                all.len(),
                if all.len() == 1 { "" } else { "s" }
            ),
        ),
    }
}

/// The redirect verdict's line, which leads the banner.
fn verdict_line(v: &redirects::Verdict, out: &mut String) {
    let _ = write!(
        out,
        "<p class=\"verdict\" data-redirects=\"{}\"><b>{}{}</b></p>",
        v.state.as_str(),
        match v.state {
            State::Quiet => "✔ ",
            State::Expected => "↻ ",
            State::Persisting => "⚠ ",
        },
        esc(&v.summary)
    );
}

/// The latest events, newest first.
pub fn events(ctx: &Ctx) -> String {
    let events = &ctx.s.events;
    if events.is_empty() {
        return "<p>No change seen since slotwatch started.</p>".to_owned();
    }
    let mut out = String::from("<ol class=\"evs\">");
    for e in events.iter().rev().take(EVENTS_MAX) {
        let _ = write!(
            out,
            "<li data-kind=\"{}\"><time datetime=\"{}\">{}",
            e.kind.name(),
            e.time,
            when(e.timestamp_ms)
        );
        if let Some(end) = e.end_ms {
            let _ = write!(out, " to {}", &when(end)[11..]);
        }
        let _ = write!(out, "</time> {}</li>", esc(&e.message));
    }
    out.push_str("</ol>");
    if events.len() > EVENTS_MAX {
        let _ = write!(
            out,
            "<p>The {EVENTS_MAX} latest of {} kept; all are in <a href=\"../events\">/events</a>.</p>",
            events.len()
        );
    }
    out
}
