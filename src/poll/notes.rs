//! What a poll has to say in the log: the conditions it saw start, go on and end. Pure; the
//! poller writes them with `tracing`.

use super::lasting::Lasted;
use super::node::Change;

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
    /// A node refuses its job log's command to slotwatch's user: its atomic migrations
    /// cannot be seen.
    JobsDenied {
        /// The node.
        node: String,
        /// The server's words.
        error: String,
    },
    /// A node refuses `CLUSTER SLOT-STATS` to slotwatch's user: its load is not read again
    /// until slotwatch restarts, so that the refusals do not add to its error counts.
    SlotStatsDenied {
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

impl Note {
    /// The log line for a change in whether `node` answers; `error` is the latest fetch's.
    pub(super) fn of_change(node: &str, change: Change, error: String) -> Note {
        let node = node.to_owned();
        match change {
            Change::Failing(reason) => Note::NodeFailing {
                node,
                reason,
                error,
            },
            Change::StillFailing(reason, lasted) => Note::NodeStillFailing {
                node,
                reason,
                error,
                lasted,
            },
            Change::Answering(lasted) => Note::NodeAnswering { node, lasted },
        }
    }
}
