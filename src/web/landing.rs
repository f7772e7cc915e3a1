//! The landing page: links to the endpoints, and each cluster at a glance with the verdict and
//! notes of the shared health judgement and its redirect verdict, the same ones `slotwatch
//! check` gives, linking its live page.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::{AppState, esc};
use crate::health::redirects::State as Redirects;
use crate::health::{self, Problem};

/// `GET /`.
pub async fn page(State(state): State<Arc<AppState>>) -> Html<String> {
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>slotwatch</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
         .bad{color:#b00}.note{color:#555}</style>\
         </head><body><h1>slotwatch</h1><p>Prometheus exporter for Redis Cluster: topology \
         events, redirect counters and slot ownership. Polls on its own timer; endpoints \
         serve the latest poll.</p><ul>\
         <li><a href=\"metrics\">/metrics</a> (OpenMetrics)</li>\
         <li><a href=\"topology\">/topology</a> (JSON)</li>\
         <li><a href=\"events\">/events</a> (JSON, <code>?since=&lt;unix seconds&gt;</code>)</li>\
         <li><a href=\"clients\">/clients</a> (JSON: the client connections suspected of \
         causing redirects; <code>slotwatch check --clients</code> runs the same analysis)</li>\
         <li><a href=\"healthz\">/healthz</a></li></ul>\
         <table><tr><th>cluster (live page)</th><th>verdict</th><th>MOVED bursts</th><th>nodes up</th><th>masters</th>\
         <th>unassigned slots</th><th>open migrations</th><th>suspect clients</th>\
         <th>last event</th></tr>",
    );
    for s in state.snapshots() {
        let problems = health::problems(&s);
        let (verdict, class) = match problems.first() {
            None => ("healthy".to_owned(), ""),
            Some(Problem::NotPolledYet) => ("waiting for the first poll".to_owned(), ""),
            Some(Problem::Unreachable { .. }) => ("unreachable".to_owned(), "bad"),
            Some(_) => (format!("{} problem(s)", problems.len()), "bad"),
        };
        let details: String = problems
            .iter()
            .filter(|p| !matches!(p, Problem::NotPolledYet))
            .map(|p| format!("<br>{}", esc(&p.to_string())))
            .chain(health::notes(&s).iter().map(|n| {
                format!(
                    "<br><span class=\"note\">Note: {}</span>",
                    esc(&n.to_string())
                )
            }))
            .collect();
        let redirects = redirects_cell(&s);
        let up = s.nodes.iter().filter(|n| n.up).count();
        let (masters, unassigned, migrations) = s.topology.as_ref().map_or((0, 0, 0), |t| {
            (
                t.masters().count(),
                t.unassigned_slots(),
                t.migrations.len(),
            )
        });
        let last = s
            .events
            .last()
            .map(|e| format!("{} ({})", e.message, e.time))
            .unwrap_or_else(|| "none".into());
        let suspects = match &s.clients {
            None => "-".to_owned(),
            Some(r) => format!(
                "<a href=\"clients?cluster={}\" class=\"{}\">{}</a>",
                super::cluster::path_segment(&s.cluster),
                if r.suspects() > 0 { "bad" } else { "" },
                r.suspects()
            ),
        };
        let _ = write!(
            page,
            "<tr><td><a href=\"cluster/{}\">{}</a></td><td class=\"{class}\"><b>{verdict}</b>\
             {details}</td>{redirects}<td>{up}/{}</td><td>{masters}</td><td>{unassigned}</td>\
             <td>{migrations}</td><td>{suspects}</td><td>{}</td></tr>",
            super::cluster::path_segment(&s.cluster),
            esc(&s.cluster),
            s.nodes.len(),
            esc(&last)
        );
    }
    page.push_str("</table></body></html>\n");
    Html(page)
}

/// The cluster's redirect verdict, as a table cell.
fn redirects_cell(s: &crate::snapshot::Published) -> String {
    if s.polled_at_ms == 0 {
        return "<td>-</td>".to_owned();
    }
    let v = health::redirects::of_snapshot(s, s.clients.as_deref());
    format!(
        "<td class=\"{}\" data-redirects=\"{}\"><b>{}</b><br>{}</td>",
        if v.state == Redirects::Persisting {
            "bad"
        } else {
            ""
        },
        v.state.as_str(),
        v.state.as_str(),
        esc(&v.summary)
    )
}
