//! The first step of applying a poll: its answers, node by node, folded into each node's
//! state and gathered for the merge. Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::node::{self, NodeState};
use super::notes::Note;
use super::sample::{Fetched, Jobs, Sample};
use crate::topology::atomic::Job;
use crate::topology::{NodeId, View};

/// What one poll's answers say, once every node's state has absorbed its own.
#[derive(Debug, Default)]
pub(super) struct Answers {
    /// The full views read, to merge.
    pub(super) views: Vec<View>,
    /// Nodes that answered.
    pub(super) answered: HashSet<NodeId>,
    /// Nodes whose own view was read: their migrations are known first-hand.
    pub(super) viewed: HashSet<NodeId>,
    /// Endpoints whose fetch failed, with the error.
    pub(super) failed: HashMap<String, String>,
    /// Endpoints that sent new ASK replies: a migration is moving keys there.
    pub(super) asked: Vec<String>,
    /// Atomic migration jobs, by the node that reported them.
    pub(super) jobs: Vec<(NodeId, Vec<Job>)>,
    /// Keys left in migrating slots, by source node and slot.
    pub(super) keys_left: HashMap<(NodeId, u16), u64>,
    /// What is worth logging.
    pub(super) notes: Vec<Note>,
}

impl Answers {
    /// Folds the poll at `now_ms`'s answers into `nodes` and gathers them.
    pub(super) fn absorb(
        nodes: &mut BTreeMap<String, NodeState>,
        fetched: Vec<Fetched>,
        now_ms: u64,
    ) -> Answers {
        let mut answers = Answers::default();
        let view_ids = node::ids_from_views(nodes, &fetched);
        // The log lists nodes in endpoint order, whatever order their answers came in.
        let mut changes = BTreeMap::new();
        for Fetched { endpoint, result } in fetched {
            let state = nodes.entry(endpoint.clone()).or_default();
            let change = state.fetched(&result, now_ms);
            let error = match result {
                Ok(sample) => {
                    let id = view_ids.get(&endpoint).copied();
                    answers.sample(&endpoint, state, sample, id, now_ms);
                    String::new()
                }
                Err(e) => {
                    let error = e.to_string();
                    answers.failed.insert(endpoint.clone(), error.clone());
                    error
                }
            };
            if let Some(change) = change {
                changes.insert(endpoint.clone(), Note::of_change(&endpoint, change, error));
            }
        }
        answers.notes.extend(changes.into_values());
        answers
    }

    /// One node's answer; `named` is its ID as other nodes' views name it.
    fn sample(
        &mut self,
        endpoint: &str,
        state: &mut NodeState,
        sample: Sample,
        named: Option<NodeId>,
        now_ms: u64,
    ) {
        let own = sample.view.as_ref().and_then(|v| v.myself()).map(|m| m.id);
        let id = own.or(named).or(state.id);
        if let Some(id) = id {
            state.id = Some(id);
            self.answered.insert(id);
        }
        let before = state.counters.as_ref().and_then(|c| c.ask_total());
        if before.is_some_and(|b| sample.counters.ask_total().is_some_and(|a| a > b)) {
            self.asked.push(endpoint.to_owned());
        }
        state.keep_counters(sample.counters);
        state.cluster_info = sample.cluster_info;
        state.replication = sample.replication;
        state.zone = sample.zone;
        if let Some(error) = state.keep_slot_stats(sample.slot_stats, now_ms) {
            self.notes.push(Note::SlotStatsDenied {
                node: endpoint.to_owned(),
                error,
            });
        }
        match (sample.jobs, id) {
            (Jobs::Read(list), Some(id)) => self.jobs.push((id, list)),
            (Jobs::Denied(error), _) if !state.jobs_denied_reported => {
                state.jobs_denied_reported = true;
                self.notes.push(Note::JobsDenied {
                    node: endpoint.to_owned(),
                    error,
                });
            }
            _ => {}
        }
        if let Some(id) = id {
            let keys = sample.keys.iter().map(|(slot, n)| ((id, *slot), *n));
            self.keys_left.extend(keys);
        }
        if let Some(view) = sample.view {
            self.viewed.extend(own);
            self.views.push(view);
        }
    }
}
