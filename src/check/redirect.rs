//! `--moved`: a pasted `MOVED`/`ASK` error explained against the live topology. Pure.

use serde::Serialize;

use crate::slot::{SlotParseError, parse_slot};
use crate::topology::{Node, Topology};

/// A parsed `MOVED <slot> <ip:port>` or `ASK <slot> <ip:port>` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redirect {
    /// `MOVED` or `ASK`.
    pub kind: String,
    /// The slot.
    pub slot: u16,
    /// The node the client was sent to.
    pub node: String,
}

/// Why a pasted redirect could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// Not of the form `MOVED|ASK <slot> <ip:port>`.
    #[error("expected \"MOVED <slot> <ip:port>\" or \"ASK <slot> <ip:port>\", found {0:?}")]
    Form(String),
    /// The slot is not a number in 0..16384.
    #[error("{source} in {text:?}")]
    Slot {
        /// The whole text.
        text: String,
        /// What is wrong with the slot.
        source: SlotParseError,
    },
}

/// Parses a redirect as clients print it: `MOVED 8404 10.0.0.32:6379`, optionally prefixed by
/// `(error)` (redis-cli) or `-` (raw RESP).
pub fn parse_redirect(text: &str) -> Result<Redirect, RedirectError> {
    let expected = || RedirectError::Form(text.to_owned());
    let t = text.trim();
    let t = t.strip_prefix("(error)").unwrap_or(t).trim_start();
    let t = t.strip_prefix('-').unwrap_or(t);
    let parts: Vec<&str> = t.split_whitespace().collect();
    let [kind, slot, node] = parts.as_slice() else {
        return Err(expected());
    };
    let kind = kind.to_ascii_uppercase();
    if kind != "MOVED" && kind != "ASK" {
        return Err(expected());
    }
    let slot = parse_slot(slot).map_err(|source| RedirectError::Slot {
        text: text.to_owned(),
        source,
    })?;
    if !node.contains(':') {
        return Err(expected());
    }
    Ok(Redirect {
        kind,
        slot,
        node: (*node).to_owned(),
    })
}

/// The explanation of a pasted redirect.
#[derive(Debug, Clone, Serialize)]
pub struct RedirectReport {
    /// The redirect as parsed.
    pub redirect: Redirect,
    /// A short code: `not_following_redirects`, `stale_map`, `migrating`, `migration_over`,
    /// `unknown_node` or `node_failing`.
    pub verdict: &'static str,
    /// The explanation, in plain English.
    pub explanation: String,
}

/// Explains a redirect against the live topology; each case has its own wording.
pub fn explain(t: &Topology, r: &Redirect) -> RedirectReport {
    let owner = t.owner(r.slot);
    let owner_text = owner.map_or("no node (the slot is unassigned)".to_owned(), |o| {
        o.endpoint.clone()
    });
    let named = t.nodes.iter().find(|n| n.endpoint == r.node);
    let (verdict, explanation) = match named {
        None => unknown_node(r, &owner_text),
        Some(n) if n.fail || n.pfail => node_failing(r, n, &owner_text),
        Some(n) if r.kind == "ASK" => ask(t, r, n, &owner_text),
        Some(n) if owner.is_some_and(|o| o.id == n.id) => not_following_redirects(r),
        Some(_) => stale_map(r, &owner_text),
    };
    RedirectReport {
        redirect: r.clone(),
        verdict,
        explanation,
    }
}

/// A verdict code and its explanation.
type Verdict = (&'static str, String);

/// The redirect names a node this cluster does not have.
fn unknown_node(r: &Redirect, owner_text: &str) -> Verdict {
    (
        "unknown_node",
        format!(
            "No node of this cluster is at {}. The error came from another cluster, or from \
             before a node changed address; slot {} is served by {owner_text} now.",
            r.node, r.slot
        ),
    )
}

/// The redirect names a node the cluster flags as failing.
fn node_failing(r: &Redirect, n: &Node, owner_text: &str) -> Verdict {
    (
        "node_failing",
        format!(
            "{} is flagged {} by the cluster: clients sent there fail until a replica takes \
             over. Slot {} is served by {owner_text} now; check CLUSTER INFO and the node.",
            r.node,
            if n.fail {
                "fail"
            } else {
                "fail? (unreachable)"
            },
            r.slot
        ),
    )
}

/// An `ASK` to node `n`: normal while a migration of the slot to `n` is open, a leftover
/// otherwise.
fn ask(t: &Topology, r: &Redirect, n: &Node, owner_text: &str) -> Verdict {
    match t
        .migrations
        .iter()
        .find(|m| m.slot == r.slot && m.target == n.id)
    {
        Some(m) => (
            "migrating",
            format!(
                "Slot {} is migrating from {} to {}: ASK is normal during a reshard. A \
                 cluster client sends ASKING and retries at {} for that one command. If it \
                 lasts, the migration may be stuck: run redis-cli --cluster check.",
                r.slot,
                t.endpoint_of(&m.source),
                r.node,
                r.node
            ),
        ),
        None => (
            "migration_over",
            format!(
                "No migration of slot {} to {} is open any more; the slot is served by \
                 {owner_text}. The ASK came from a migration that has finished or been \
                 aborted since.",
                r.slot, r.node
            ),
        ),
    }
}

/// A `MOVED` to the slot's owner: the client stopped at a correct redirect.
fn not_following_redirects(r: &Redirect) -> Verdict {
    (
        "not_following_redirects",
        format!(
            "{} owns slot {} now, so the redirect was right and the client did not follow it. \
             A cluster-aware client follows MOVED and refreshes its slot map; a client that is \
             not cluster-aware, or redis-cli without -c, stops at the error. Use a cluster \
             client (redis-cli -c).",
            r.node, r.slot
        ),
    )
}

/// A `MOVED` to a node that no longer owns the slot.
fn stale_map(r: &Redirect, owner_text: &str) -> Verdict {
    (
        "stale_map",
        format!(
            "Slot {} has moved again since: it is served by {owner_text} now, not {}. The \
             client that got this redirect holds a stale slot map (or quoted an old error); a \
             cluster client refreshes it on its next MOVED. Look for a recent reshard or \
             failover in /events.",
            r.slot, r.node
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;
    use crate::topology::testdata::*;

    #[test]
    fn every_redirect_case_has_its_own_verdict() {
        let migrating = healthy().replace("0-5460", &format!("0-5460 [100->-{B}]"));
        let failing = healthy().replace("30002@31002 master", "30002@31002 master,fail");
        let cases = [
            (
                healthy(),
                "MOVED 10778 127.0.0.1:30002",
                "not_following_redirects",
            ),
            (
                healthy(),
                "(error) MOVED 10778 127.0.0.1:30003",
                "stale_map",
            ),
            (migrating, "ASK 100 127.0.0.1:30002", "migrating"),
            (healthy(), "-ASK 100 127.0.0.1:30002", "migration_over"),
            (healthy(), "MOVED 10778 10.9.9.9:6379", "unknown_node"),
            (failing, "MOVED 10778 127.0.0.1:30002", "node_failing"),
        ];
        for (topology, line, verdict) in cases {
            let t = merge(&[parse_view(&topology).unwrap()], 0);
            let r = explain(&t, &parse_redirect(line).unwrap());
            assert_eq!(r.verdict, verdict, "{line}");
        }
    }

    #[test]
    fn redirect_parsing() {
        let r = parse_redirect("  (error) MOVED 8404 10.0.0.32:6379 ").unwrap();
        assert_eq!(
            (r.kind.as_str(), r.slot, r.node.as_str()),
            ("MOVED", 8404, "10.0.0.32:6379")
        );
        for bad in [
            "",
            "MOVED",
            "MOVED x 1.2.3.4:5",
            "MOVED 16384 1.2.3.4:5",
            "WRONG 1 a:1",
            "MOVED 1 nocolon",
            "MOVED 1 a:1 extra",
        ] {
            assert!(parse_redirect(bad).is_err(), "{bad:?}");
        }
    }
}
