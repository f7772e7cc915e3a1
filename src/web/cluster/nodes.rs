//! The nodes table: each master with its colour, its slots and what stands behind it, followed
//! by its replicas with their replication link; for every node whether it answered, the flags
//! the cluster gives it, its own `cluster_state`, and where it runs. The marks come from
//! [`crate::health::risks`], the reading the health judgement itself makes.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::{Ctx, esc};
use crate::health::{self, risks};
use crate::slot::format_ranges;
use crate::snapshot::NodeStatus;
use crate::topology::{Node, NodeId, Role, Topology};

/// Whether the node answered the latest poll (with the cause when not) and the failure flags
/// the cluster gives it, in words: `up`, `down (connection refused), flagged fail`.
fn state(n: &Node, status: Option<&NodeStatus>, up: bool) -> String {
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

/// The node's own `CLUSTER INFO`: `ok`, or `fail` marked, with the slots it sees failing.
/// Empty when it did not answer it.
fn own_view(status: Option<&NodeStatus>) -> String {
    let Some(ci) = status.and_then(|st| st.cluster_info.as_ref()) else {
        return String::new();
    };
    // Epochs and counts stay in /metrics: a thousand rows carry only what a reader scans for.
    let mut out = if ci.state_ok {
        "ok".to_owned()
    } else {
        "<b class=\"bad\">fail</b>".to_owned()
    };
    for (n, flag) in [(ci.slots_pfail, "fail?"), (ci.slots_fail, "fail")] {
        if n > 0 {
            let _ = write!(out, ", <b class=\"bad\">{n} slots {flag}</b>");
        }
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

/// What the health judgement read about each node's redundancy, replication and placement,
/// by endpoint, rendered as the two cells of its row.
#[derive(Default)]
struct Risks {
    /// The replication cell of each node that has one.
    replication: HashMap<String, String>,
    /// The placement cell of each node that has one.
    placement: HashMap<String, String>,
}

impl Risks {
    fn of(ctx: &Ctx, t: &Topology, status: &HashMap<&str, &NodeStatus>) -> Risks {
        let mut out = Risks::default();
        let single_host = risks::single_host(t);
        for shard in risks::shards(ctx.s, t) {
            let m = &shard.master.endpoint;
            let ready = shard.count(risks::ReplicaState::Ready);
            let mut cell = if shard.unredundant() {
                "<b class=\"bad\">no replica ready</b>".to_owned()
            } else if shard.replicas.is_empty() {
                String::new()
            } else {
                format!("{ready} ready")
            };
            let others: Vec<String> = risks::ReplicaState::ALL
                .into_iter()
                .filter(|st| *st != risks::ReplicaState::Ready)
                .filter_map(|st| {
                    let n = shard.count(st);
                    (n > 0).then(|| format!("{n} {}", st.as_str().replace('_', " ")))
                })
                .collect();
            if !others.is_empty() {
                let _ = write!(cell, " ({})", others.join(", "));
            }
            out.replication.insert(m.clone(), cell);
            if let Some(zone) = &shard.single_zone {
                out.placement.insert(
                    m.clone(),
                    format!(
                        "<b class=\"bad\" data-risk=\"single_zone\">whole shard in zone {}</b>",
                        esc(zone)
                    ),
                );
            }
            // On a one-host cluster every replica is there by design: the banner's note says
            // so once, and the rows are not marked.
            for r in shard.colocated.iter().filter(|_| !single_host) {
                out.placement.insert(
                    r.endpoint.clone(),
                    format!(
                        "<b class=\"bad\" data-risk=\"colocated\">same host as its master ({})</b>",
                        esc(risks::host(r))
                    ),
                );
            }
        }
        for l in risks::links(ctx.s, t) {
            let link = status
                .get(l.replica.endpoint.as_str())
                .and_then(|n| n.replication.as_ref()?.link);
            let mut cell = match (l.up, link) {
                (true, _) => "link up".to_owned(),
                (false, Some(k)) if k.up && k.syncing => {
                    "<b class=\"bad\">full sync running</b>".to_owned()
                }
                (false, Some(k)) => match k.down_for_s {
                    Some(s) => format!("<b class=\"bad\">link down</b> for {s}s"),
                    None => "<b class=\"bad\">link down</b>".to_owned(),
                },
                (false, None) => "<b class=\"bad\">link down</b> (its master says)".to_owned(),
            };
            if let Some(lag) = l.lag_bytes {
                if lag > risks::LAG_BYTES {
                    let _ = write!(cell, ", <b class=\"bad\">{lag} bytes behind</b>");
                } else {
                    let _ = write!(cell, ", {lag} bytes behind");
                }
            }
            out.replication.insert(l.replica.endpoint.clone(), cell);
        }
        out
    }
}

/// What every row of the table reads from: the snapshot by endpoint, who is up, and the marks.
struct Table<'a> {
    ctx: &'a Ctx<'a>,
    status: HashMap<&'a str, &'a NodeStatus>,
    up: HashSet<NodeId>,
    risks: Risks,
}

impl Table<'_> {
    /// One node's row; `master` is the master it replicates, for a replica.
    fn row(&self, out: &mut String, n: &Node, master: Option<&Node>) {
        let swatch = match self.ctx.colour(&n.id) {
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
        let st = self.status.get(n.endpoint.as_str()).copied();
        let mut placement = self
            .risks
            .placement
            .get(&n.endpoint)
            .cloned()
            .unwrap_or_default();
        if let Some(zone) = st.and_then(|st| st.zone.as_deref())
            && placement.is_empty()
        {
            placement = format!("zone {}", esc(zone));
        }
        let _ = write!(
            out,
            "<tr class=\"{class}\"{anchor}><td>{swatch}{ep}</td><td>{role}</td><td>{m}</td>\
             <td>{slots}</td><td>{state}</td><td>{own}</td><td>{repl}</td><td>{placement}</td>\
             </tr>",
            class = &n.role.as_str()[..1],
            anchor = anchor(n),
            role = n.role.as_str(),
            ep = esc(&n.endpoint),
            m = master.map(|m| esc(&m.endpoint)).unwrap_or_default(),
            state = state(n, st, self.up.contains(&n.id)) + &suspects(self.ctx, &n.endpoint),
            own = own_view(st),
            repl = self
                .risks
                .replication
                .get(&n.endpoint)
                .map(String::as_str)
                .unwrap_or_default(),
        );
    }
}

/// A row for an address tried that is not in the topology (a seed before discovery).
fn unlisted_row(out: &mut String, st: &NodeStatus) {
    let _ = write!(
        out,
        "<tr class=\"u\"><td>{ep}</td><td>unknown</td><td></td><td></td><td>{a}</td>\
         <td>{own}</td><td></td><td></td></tr>",
        ep = esc(&st.endpoint),
        a = match (st.up, &st.last_error) {
            (true, _) => "up".to_owned(),
            (false, Some(e)) => format!("<b class=\"bad\">down</b> ({})", esc(e)),
            (false, None) => "<b class=\"bad\">down</b>".to_owned(),
        },
        own = own_view(Some(st)),
    );
}

/// The nodes table: each master with its colour and slots, followed by its replicas, then any
/// other node.
pub fn nodes(ctx: &Ctx) -> String {
    let s = ctx.s;
    let status: HashMap<&str, &NodeStatus> =
        s.nodes.iter().map(|n| (n.endpoint.as_str(), n)).collect();
    let risks = ctx
        .t
        .map(|t| Risks::of(ctx, t, &status))
        .unwrap_or_default();
    let table = Table {
        ctx,
        up: s
            .nodes
            .iter()
            .filter(|n| n.up && s.up)
            .filter_map(|n| n.id)
            .collect(),
        status,
        risks,
    };
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"ntab\"><thead><tr><th scope=\"col\">node</th>\
         <th scope=\"col\">role</th><th scope=\"col\">master</th><th scope=\"col\">slots</th>\
         <th scope=\"col\" data-col=\"state\">state</th><th scope=\"col\" \
         data-col=\"cluster_state\" title=\"the node's own CLUSTER INFO\">cluster_state</th>\
         <th scope=\"col\" data-col=\"replication\">replication</th>\
         <th scope=\"col\" data-col=\"placement\">placement</th></tr></thead><tbody>",
    );
    let mut listed: HashSet<&str> = HashSet::new();
    if let Some(t) = ctx.t {
        for shard in t.shards() {
            table.row(&mut out, shard.master, None);
            listed.insert(shard.master.endpoint.as_str());
            for r in &shard.replicas {
                table.row(&mut out, r, Some(shard.master));
                listed.insert(r.endpoint.as_str());
            }
        }
        for n in t.by_endpoint() {
            if !listed.contains(n.endpoint.as_str()) {
                let master = n.master.and_then(|m| t.node(&m));
                table.row(&mut out, n, master);
                listed.insert(n.endpoint.as_str());
            }
        }
    }
    for st in &s.nodes {
        if !listed.contains(st.endpoint.as_str()) {
            unlisted_row(&mut out, st);
        }
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The `id` of a master's row, which the heat view's hottest slots link to: its node ID's first
/// 8 characters, short enough for a 1000-node page; none for a master without slots or a
/// replica, which own no slot.
pub(super) fn anchor(n: &Node) -> String {
    if n.role == Role::Master && n.slot_count > 0 {
        format!(" id=\"m-{}\"", n.id.short())
    } else {
        String::new()
    }
}
