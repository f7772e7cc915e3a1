//! What a poll has to say in the log: the conditions it saw start, go on and end. Pure; the
//! poller writes them with `tracing`.

use std::collections::{BTreeMap, HashMap};

use super::lasting::{Lasted, Lasting};
use super::node::NodeState;

/// Conditions worth a log line: reported when they start, reminded at most every
/// [`REMIND_EVERY_MS`](super::lasting::REMIND_EVERY_MS) while they last, and reported when they
/// end with how long they lasted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The first topology after (re)discovery.
    Baseline {
        /// Nodes in it.
        nodes: usize,
        /// Masters in it.
        masters: usize,
    },
    /// A node could not be read (or now fails for another reason).
    NodeFailing {
        /// The node.
        node: String,
        /// `slotwatch_poll_errors_total`'s reason.
        reason: &'static str,
        /// The cause.
        error: String,
    },
    /// A node still fails: a reminder.
    NodeStillFailing {
        /// The node.
        node: String,
        /// `slotwatch_poll_errors_total`'s reason.
        reason: &'static str,
        /// The cause.
        error: String,
        /// Since when.
        lasted: Lasted,
    },
    /// A node that was failing answered again.
    NodeAnswering {
        /// The node.
        node: String,
        /// How long it failed.
        lasted: Lasted,
    },
    /// A node refuses `CLUSTER GETSLOTMIGRATIONS` to slotwatch's user: its atomic migrations
    /// cannot be seen.
    JobsDenied {
        /// The node.
        node: String,
        /// The server's words.
        error: String,
    },
    /// No view could be read, so the poll produced no topology.
    NoView {
        /// How many nodes failed.
        tried: usize,
    },
    /// Still no view: a reminder.
    StillNoView {
        /// How many nodes failed this poll.
        tried: usize,
        /// Since when.
        lasted: Lasted,
    },
    /// A view was read again after polls that read none.
    ViewsAgain {
        /// How long none could be read.
        lasted: Lasted,
    },
}

/// Nodes that started failing, fail for another reason, still fail (a reminder), or
/// answer again.
pub(super) fn node_notes(
    nodes: &mut BTreeMap<String, NodeState>,
    failed: &HashMap<String, String>,
    now_ms: u64,
) -> Vec<Note> {
    let mut notes = Vec::new();
    for (endpoint, n) in nodes.iter_mut() {
        let error = || failed.get(endpoint).cloned().unwrap_or_default();
        match (n.failing, &mut n.down) {
            (None, None) => {}
            (None, Some(down)) => {
                notes.push(Note::NodeAnswering {
                    node: endpoint.clone(),
                    lasted: down.lasted(now_ms),
                });
                n.down = None;
            }
            (Some(reason), down) => {
                let reminder = match down {
                    None => {
                        *down = Some(Lasting::start(now_ms));
                        None
                    }
                    Some(down) => down.again(now_ms),
                };
                if n.reported != Some(reason) {
                    notes.push(Note::NodeFailing {
                        node: endpoint.clone(),
                        reason,
                        error: error(),
                    });
                } else if let Some(lasted) = reminder {
                    notes.push(Note::NodeStillFailing {
                        node: endpoint.clone(),
                        reason,
                        error: error(),
                        lasted,
                    });
                }
            }
        }
        n.reported = n.failing;
    }
    notes
}
