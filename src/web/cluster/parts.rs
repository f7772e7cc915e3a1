//! The banner with the health judgement, the event timeline and the nodes table.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::{Ctx, esc, when};
use crate::health::{self, Problem};
use crate::slot::format_ranges;
use crate::snapshot::NodeStatus;
use crate::topology::{Node, NodeId, Role};

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

/// The problem's `problem` tag, as `check --json` names it.
fn tag(p: &Problem) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.get("problem")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The health banner: the verdict of [`health::problems`], the one `check` and `/` give.
pub fn banner(ctx: &Ctx) -> String {
    let problems = health::problems(ctx.s);
    let (class, role, head) = match problems.as_slice() {
        [] => (
            "ok",
            "status",
            "Healthy: every slot has an owner, every node answered, no master is failing, \
             the views agree and no migration is open."
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
    };
    let mut out = format!(
        "<div class=\"banner {class}\" role=\"{role}\"><b>{}</b>",
        match class {
            "ok" => "✔ ",
            "wait" => "… ",
            _ => "⚠ ",
        }
        .to_owned()
            + &head
    );
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
                tag(p),
                esc(&p.to_string())
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</div>");
    out
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

/// Whether the node answered the latest poll (with the cause when not) and the failure flags
/// the cluster gives it, in words: `up`, `down (connection refused), flagged fail`.
fn state(n: &Node, status: Option<&&NodeStatus>, up: bool) -> String {
    let mut out = if up {
        "up".to_owned()
    } else {
        match status.and_then(|st| st.last_error.as_deref()) {
            Some(e) => format!("<b class=\"bad\">down</b> ({})", esc(e)),
            None => "<b class=\"bad\">down</b>".to_owned(),
        }
    };
    let mut f: Vec<&str> = health::failure_flags(n.fail, n.pfail);
    if n.noaddr {
        f.push("noaddr");
    }
    if n.nofailover {
        f.push("nofailover");
    }
    if !f.is_empty() {
        let _ = write!(out, ", flagged <b class=\"bad\">{}</b>", f.join(", "));
    }
    out
}

/// The latest client analysis's suspect connections on `node`, with a link to them; empty if
/// none (or no analysis).
fn suspects(ctx: &Ctx, node: &str) -> String {
    let Some(report) = &ctx.s.clients else {
        return String::new();
    };
    let n: usize = crate::clients::Reason::ALL
        .iter()
        .map(|r| report.count(node, *r))
        .sum();
    if n == 0 {
        return String::new();
    }
    format!(
        ", <a class=\"bad\" href=\"../clients?cluster={}\">{n} suspect client connection(s)</a>",
        super::path_segment(&ctx.s.cluster)
    )
}

/// The nodes table: each master with its colour and slots, followed by its replicas, then any
/// other node; the masters' legend for big clusters.
pub fn nodes(ctx: &Ctx) -> String {
    let s = ctx.s;
    let status: HashMap<&str, &NodeStatus> =
        s.nodes.iter().map(|n| (n.endpoint.as_str(), n)).collect();
    let up: HashSet<NodeId> = s
        .nodes
        .iter()
        .filter(|n| n.up && s.up)
        .filter_map(|n| n.id)
        .collect();
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"ntab\"><thead><tr><th scope=\"col\">node</th>\
         <th scope=\"col\">role</th><th scope=\"col\">master</th><th scope=\"col\">slots</th>\
         <th scope=\"col\">state</th></tr></thead><tbody>",
    );
    let mut listed: HashSet<&str> = HashSet::new();
    let row = |out: &mut String, n: &Node, master: Option<&Node>| {
        let swatch = match ctx.colour(&n.id) {
            Some(c) => format!("<i style=\"background:{c}\"></i>"),
            None => String::new(),
        };
        let slots = if n.role == Role::Master {
            format!(
                "{} <small>{}</small>",
                n.slot_count,
                format_ranges(&n.slots)
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td>{swatch}{ep}</td><td>{role}</td><td>{m}</td>\
             <td>{slots}</td><td>{st}</td></tr>",
            class = &n.role.as_str()[..1],
            role = n.role.as_str(),
            ep = esc(&n.endpoint),
            m = master.map(|m| esc(&m.endpoint)).unwrap_or_default(),
            st = state(n, status.get(n.endpoint.as_str()), up.contains(&n.id))
                + &suspects(ctx, &n.endpoint),
        );
    };
    if let Some(t) = ctx.t {
        for shard in t.shards() {
            row(&mut out, shard.master, None);
            listed.insert(shard.master.endpoint.as_str());
            for r in &shard.replicas {
                row(&mut out, r, Some(shard.master));
                listed.insert(r.endpoint.as_str());
            }
        }
        for n in t.by_endpoint() {
            if !listed.contains(n.endpoint.as_str()) {
                let master = n.master.and_then(|m| t.node(&m));
                row(&mut out, n, master);
                listed.insert(n.endpoint.as_str());
            }
        }
    }
    // Addresses tried that are not in the topology (seeds before discovery).
    for st in &s.nodes {
        if !listed.contains(st.endpoint.as_str()) {
            let _ = write!(
                out,
                "<tr class=\"u\"><td>{ep}</td><td>unknown</td><td></td><td></td><td>{a}</td></tr>",
                ep = esc(&st.endpoint),
                a = match (st.up, &st.last_error) {
                    (true, _) => "up".to_owned(),
                    (false, Some(e)) => format!("<b class=\"bad\">down</b> ({})", esc(e)),
                    (false, None) => "<b class=\"bad\">down</b>".to_owned(),
                },
            );
        }
    }
    out.push_str("</tbody></table></div>");
    out
}
