//! The live cluster page, `/cluster/<name>`: the slot map, redirects over time with the changes
//! behind them, the event timeline, the nodes, and a banner with the health judgement.
//!
//! The first paint is server-rendered HTML, readable without JavaScript. A small embedded
//! script then fetches `/cluster/<name>/data` every two seconds: the same sections, rendered by
//! the same functions, as JSON; it swaps in those that changed, so nothing flickers and a
//! focused slot range keeps its focus. Rendering is pure ([`page`] and [`sections`] take a
//! snapshot and return text), and every asset is compiled into the binary.
//!
//! - `slotmap`: the 16384 slots, coloured by owner, and the migrations;
//! - `heat`: the same map coloured by keys, CPU or network per slot, on demand (`?heat=keys`);
//! - `chart`: MOVED and ASK per node over the last 30 minutes, with the events marked;
//! - `parts`: the banner and the event timeline;
//! - `nodes`: the nodes table, with each node's own state, replication and placement.

mod chart;
mod heat;
mod nodes;
mod parts;
mod slotmap;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{AppState, esc};
use crate::snapshot::Published;
use crate::topology::{NodeId, Topology};

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// How often the page's script asks for new data, in milliseconds.
pub const REFRESH_MS: u32 = 2000;

/// The parts of the page that change with each poll, by the id of the element that holds
/// each; `/cluster/<name>/data` sends them as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Sections {
    /// When the shown poll ran.
    pub polled: String,
    /// The health banner.
    pub banner: String,
    /// The slot map, its key, legend and open migrations.
    pub slots: String,
    /// The redirects chart.
    pub redirects: String,
    /// The event timeline.
    pub events: String,
    /// The nodes table.
    pub nodes: String,
}

/// What the sections share: the topology shown and each owner's colour.
pub(crate) struct Ctx<'a> {
    s: &'a Published,
    /// The latest topology, or the last one seen while the cluster is unreachable.
    t: Option<&'a Topology>,
    colours: HashMap<NodeId, String>,
}

impl<'a> Ctx<'a> {
    fn new(s: &'a Published) -> Ctx<'a> {
        let t = s.topology.as_deref().or(s.last_topology.as_deref());
        Ctx {
            s,
            t,
            colours: t.map(slotmap::colours).unwrap_or_default(),
        }
    }

    /// The colour of the master `id`, if it owns slots.
    fn colour(&self, id: &NodeId) -> Option<&str> {
        self.colours.get(id).map(String::as_str)
    }
}

/// Renders every changing part of the page for `s`.
pub fn sections(s: &Published) -> Sections {
    let ctx = Ctx::new(s);
    Sections {
        polled: parts::polled(&ctx),
        banner: parts::banner(&ctx),
        slots: slotmap::section(&ctx),
        redirects: chart::section(&ctx),
        events: parts::events(&ctx),
        nodes: nodes::nodes(&ctx),
    }
}

/// The whole page for `s`, as first served.
pub fn page(s: &Published) -> String {
    page_with(s, None)
}

/// The whole page, with the heat view's HTML under the slot map when one was asked for.
pub fn page_with(s: &Published, heat: Option<&str>) -> String {
    let x = sections(s);
    let heat = heat
        .map(|h| format!("<div id=\"heat\">{h}</div>"))
        .unwrap_or_default();
    let name = esc(&s.cluster);
    let mut out = String::with_capacity(
        4096 + CSS.len()
            + JS.len()
            + x.banner.len()
            + x.slots.len()
            + x.redirects.len()
            + x.events.len()
            + x.nodes.len(),
    );
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{name} · slotwatch</title><style>{CSS}</style></head>\
         <body data-src=\"{src}/data\" data-generation=\"{generation}\" data-refresh=\"{REFRESH_MS}\">\
         {PATTERNS}{heat_patterns}{PATTERNS_END}<header><nav><a href=\"../\">slotwatch</a> / cluster</nav>\
         <h1>{name}</h1><p><span id=\"polled\">{polled}</span> \
         <span id=\"live\" class=\"live\">Reload to refresh.</span></p></header>\
         <div id=\"banner\">{banner}</div><main>\
         <section class=\"map\" aria-labelledby=\"h-slots\"><h2 id=\"h-slots\">Slot map</h2>\
         <p id=\"slotinfo\" class=\"info\" aria-live=\"polite\">Hover over or focus a range to name \
         its slots, owner and replicas.</p><div id=\"slots\">{slots}</div>{heat}</section>\
         <div class=\"side\"><section aria-labelledby=\"h-redirects\">\
         <h2 id=\"h-redirects\">Redirects over time</h2><p id=\"evinfo\" class=\"info\" aria-live=\"polite\">Hover over or focus \
         a mark to name the change.</p><div id=\"redirects\">{redirects}</div></section>\
         <section aria-labelledby=\"h-events\"><h2 id=\"h-events\">Events, newest \
         first</h2><div id=\"events\">{events}</div></section></div>\
         <section class=\"nodes\" aria-labelledby=\"h-nodes\"><h2 id=\"h-nodes\">Masters and \
         replicas</h2><div id=\"nodes\">{nodes}</div></section>\
         </main><script>{JS}</script></body></html>",
        src = path_segment(&s.cluster),
        heat_patterns = heat::PATTERNS,
        generation = s.generation,
        polled = x.polled,
        banner = x.banner,
        slots = x.slots,
        redirects = x.redirects,
        events = x.events,
        nodes = x.nodes,
    );
    out.push('\n');
    out
}

/// Fill patterns the slot map and its key share: outside the parts that are swapped, so they
/// are always defined. Unassigned: grey with hatching; migrating: dark stripes over the owner's
/// colour; failing owner: crosses; disputed: dots.
const PATTERNS: &str = "<svg width=\"0\" height=\"0\" class=\"defs\" aria-hidden=\"true\"><defs>\
<pattern id=\"p-un\" width=\"2\" height=\"2\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(45)\"><rect width=\"2\" height=\"2\" fill=\"#e4e4e4\"/>\
<rect width=\".7\" height=\"2\" fill=\"#555\"/></pattern>\
<pattern id=\"p-mig\" width=\"1.6\" height=\"1.6\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(-45)\"><rect width=\"1.6\" height=\"1.6\" fill=\"#fff\" \
fill-opacity=\".5\"/><rect width=\".7\" height=\"1.6\" fill=\"#000\"/></pattern>\
<pattern id=\"p-fail\" width=\"2\" height=\"2\" patternUnits=\"userSpaceOnUse\">\
<rect width=\"2\" height=\"2\" fill=\"#fff\" fill-opacity=\".5\"/>\
<path d=\"M0 0L2 2M2 0L0 2\" stroke=\"#000\" stroke-width=\".45\"/></pattern>\
<pattern id=\"p-dis\" width=\"2\" height=\"2\" patternUnits=\"userSpaceOnUse\">\
<rect width=\"2\" height=\"2\" fill=\"#fff\" fill-opacity=\".5\"/>\
<circle cx=\"1\" cy=\"1\" r=\".5\" fill=\"#000\"/></pattern>\
<pattern id=\"p-ask\" width=\"3\" height=\"3\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"3\" fill=\"#fde0c5\"/>\
<rect width=\"1.5\" height=\"3\" fill=\"#c2410c\"/></pattern>\
<pattern id=\"p-grace\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(45)\"><rect width=\".6\" height=\"4\" fill=\"#15803d\" \
fill-opacity=\".35\"/></pattern>";

/// The end of the shared pattern definitions.
const PATTERNS_END: &str = "</defs></svg>";

/// A cluster name as one URL path segment: unreserved characters as they are, every other
/// byte percent-encoded.
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `2026-01-02 03:04:05` (UTC) for Unix ms.
pub(crate) fn when(ms: u64) -> String {
    let t = crate::clock::rfc3339(ms);
    format!("{} {}", &t[..10], &t[11..19])
}

fn find(state: &AppState, name: &str) -> Option<Published> {
    state.snapshots().into_iter().find(|s| s.cluster == name)
}

fn not_found(name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(format!(
            "<!doctype html><title>not found</title><p>No cluster named <b>{}</b>. \
             <a href=\"../\">All clusters</a></p>\n",
            esc(name)
        )),
    )
        .into_response()
}

/// `?heat=`: the measure of the heat view to show under the slot map.
#[derive(Deserialize)]
pub struct PageQuery {
    heat: Option<String>,
}

/// `GET /cluster/{name}[?heat=keys|cpu|network]`. The heat view reads every master's per-slot
/// stats, at most every 30 s per cluster (cached in between), so only a page that asks for it
/// may wait on the cluster, for at most one per-node timeout.
pub async fn page_handler(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some(s) = find(&state, &name) else {
        return not_found(&name);
    };
    let Some(asked) = q.heat.as_deref() else {
        return Html(page(&s)).into_response();
    };
    let Some(measure) = heat::measure(asked) else {
        let message = format!("heat must be keys, cpu or network, not {asked:?}\n");
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let t = s.topology.as_deref().or(s.last_topology.as_deref());
    let html = match (state.heat(&name), t) {
        (Some(source), Some(t)) => {
            let reading = source.reading(t).await;
            heat::section(&Ctx::new(&s), measure, &reading)
        }
        _ => "<p>No heat view: the cluster has not been read yet.</p>".to_owned(),
    };
    Html(page_with(&s, Some(&html))).into_response()
}

/// `?generation=`: the generation the page already shows.
#[derive(Deserialize)]
pub struct DataQuery {
    generation: Option<u64>,
}

#[derive(Serialize)]
struct Data {
    generation: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sections: Option<Sections>,
}

/// `GET /cluster/{name}/data`: the sections as JSON, or only the generation when it is the one
/// the page already shows.
pub async fn data_handler(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<DataQuery>,
) -> Response {
    let Some(s) = find(&state, &name) else {
        return not_found(&name);
    };
    let data = Data {
        generation: s.generation,
        sections: (q.generation != Some(s.generation)).then(|| sections(&s)),
    };
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(data)).into_response()
}

#[cfg(test)]
mod tests;
