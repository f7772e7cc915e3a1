//! Many nodes' views to one [`Topology`], plus the slots on which the views disagree. Pure.
//!
//! Rules, following how Redis itself converges:
//! - a slot belongs to the claim with the highest config epoch (ties go to the earliest view, so
//!   callers should pass views in a stable order);
//! - a node's role, master and address come from its own reply when it answered, otherwise from
//!   the majority of the views that list it;
//! - `fail?` and `fail` hold when a majority of the views that list the node report them;
//! - open migrations come from each node's own `myself` line, the only place Redis prints them;
//! - `handshake` entries are skipped: their IDs are temporary and would show up as churn.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Addr, Flags, Migration, NO_OWNER, Node, NodeId, NodeLine, Role, Topology, View};
use crate::slot::{SLOT_COUNT, SlotRange, SlotSet, ranges_of};

/// What the views say about one node, gathered before the votes are counted.
#[derive(Default)]
struct Ballot<'a> {
    own: Option<&'a NodeLine>,
    lines: Vec<&'a NodeLine>,
    pfail_votes: u32,
    fail_votes: u32,
    max_epoch: u64,
}

impl<'a> Ballot<'a> {
    /// Counts one view's line about the node.
    fn record(&mut self, line: &'a NodeLine) {
        if line.flags.contains(Flags::MYSELF) {
            self.own = Some(line);
        }
        self.lines.push(line);
        self.pfail_votes += u32::from(line.flags.contains(Flags::PFAIL));
        self.fail_votes += u32::from(line.flags.contains(Flags::FAIL));
        self.max_epoch = self.max_epoch.max(line.config_epoch);
    }

    /// Number of views that list the node.
    fn seen_by(&self) -> u32 {
        self.lines.len() as u32
    }

    /// True if more than half of the views that list the node cast `votes`.
    fn majority(&self, votes: u32) -> bool {
        votes * 2 > self.seen_by()
    }

    /// The line whose role, master and address stand for the node: its own, else the
    /// majority's.
    fn representative(&self) -> &'a NodeLine {
        self.own.unwrap_or_else(|| majority_line(&self.lines))
    }

    /// `rep`'s address, unless it has no IP: a node that has not learnt its own IP yet (fresh,
    /// just met) prints `:port` on its own line while the others know its address.
    fn known_addr(&self, rep: &'a NodeLine) -> &'a Addr {
        if !rep.addr.ip.is_empty() {
            return &rep.addr;
        }
        self.lines
            .iter()
            .find(|l| !l.addr.ip.is_empty() && l.addr.port != 0)
            .map_or(&rep.addr, |l| &l.addr)
    }
}

/// Merges the views read at `observed_at_ms` (Unix milliseconds) into one topology.
///
/// A view from a node that no other view lists is left out: such a node has left the cluster
/// (after `CLUSTER FORGET` and `CLUSTER RESET` it still answers, knowing only itself) or belongs
/// to another cluster, and its empty slot map would read as a disagreement on every slot.
pub fn merge(views: &[View], observed_at_ms: u64) -> Topology {
    let members = member_views(views);
    let mut topology = merge_members(&members, observed_at_ms);
    topology.ignored_views = (views.len() - members.len()) as u32;
    topology
}

/// The views whose own node some other view lists (all of them when there is only one).
fn member_views(views: &[View]) -> Vec<&View> {
    if views.len() < 2 {
        return views.iter().collect();
    }
    let listed: HashSet<NodeId> = views
        .iter()
        .flat_map(|v| &v.lines)
        .filter(|l| !l.flags.contains(Flags::MYSELF))
        .map(|l| l.id)
        .collect();
    views
        .iter()
        .filter(|v| v.myself().is_none_or(|me| listed.contains(&me.id)))
        .collect()
}

fn merge_members(views: &[&View], observed_at_ms: u64) -> Topology {
    let ballots = ballots_by_id(views);
    let index: HashMap<NodeId, u32> = ballots
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i as u32))
        .collect();
    let (owners, disagreement) = vote_slots(views, &index);
    let nodes = ballots
        .iter()
        .zip(slots_by_owner(&owners, ballots.len()))
        .map(|((id, ballot), slots)| elect_node(*id, ballot, &slots))
        .collect();
    Topology {
        observed_at_ms,
        nodes,
        owners,
        migrations: collect_migrations(views),
        atomic: Vec::new(),
        disagreement,
        views: views.len() as u32,
        ignored_views: 0,
    }
}

/// Every listed node's ballot, sorted by node ID so that the topology (and everything rendered
/// from it) is deterministic.
fn ballots_by_id<'a>(views: &[&'a View]) -> Vec<(NodeId, Ballot<'a>)> {
    let mut ballots: HashMap<NodeId, Ballot<'a>> = HashMap::new();
    for line in views.iter().flat_map(|v| &v.lines) {
        if !line.flags.contains(Flags::HANDSHAKE) {
            ballots.entry(line.id).or_default().record(line);
        }
    }
    let mut sorted: Vec<(NodeId, Ballot<'a>)> = ballots.into_iter().collect();
    sorted.sort_unstable_by_key(|(id, _)| *id);
    sorted
}

/// Each node's slots, in slot order, from the owner table.
fn slots_by_owner(owners: &[u32], nodes: usize) -> Vec<Vec<u16>> {
    let mut slots: Vec<Vec<u16>> = vec![Vec::new(); nodes];
    for (slot, &owner) in owners.iter().enumerate() {
        if owner != NO_OWNER {
            slots[owner as usize].push(slot as u16);
        }
    }
    slots
}

/// The merged node: what its ballot says, holding the `slots` the vote gave it.
fn elect_node(id: NodeId, ballot: &Ballot<'_>, slots: &[u16]) -> Node {
    let rep = ballot.representative();
    // Ownership follows the highest epoch, so a freshly promoted replica can own slots while
    // lagging views still outvote it as a replica; whoever owns slots is a master.
    let role = if slots.is_empty() {
        rep.role()
    } else {
        Role::Master
    };
    let addr = ballot.known_addr(rep);
    Node {
        id,
        endpoint: endpoint_label(&id, addr),
        addr: addr.clone(),
        role,
        master: if role == Role::Replica {
            rep.master
        } else {
            None
        },
        config_epoch: ballot.max_epoch,
        pfail: ballot.majority(ballot.pfail_votes),
        fail: ballot.majority(ballot.fail_votes),
        noaddr: rep.flags.contains(Flags::NOADDR),
        nofailover: rep.flags.contains(Flags::NOFAILOVER),
        seen_by: ballot.seen_by(),
        answered: ballot.own.is_some(),
        slot_count: slots.len() as u32,
        slots: ranges_of(slots.iter().copied()),
    }
}

/// The `node` label: `ip:port`, or for a node with no address one of its own, since several
/// can exist at once (each replaced pod leaves one behind) and ":0" for all would collide.
fn endpoint_label(id: &NodeId, addr: &Addr) -> String {
    if addr.ip.is_empty() || addr.port == 0 {
        format!("noaddr:{}", id.short())
    } else {
        addr.endpoint()
    }
}

/// Picks the line whose (role, master, address) most views agree on; ties go to the first.
fn majority_line<'a>(lines: &[&'a NodeLine]) -> &'a NodeLine {
    let same = |a: &NodeLine, b: &NodeLine| {
        a.role() == b.role()
            && a.master == b.master
            && a.addr.port == b.addr.port
            && a.addr.ip == b.addr.ip
    };
    // Views almost always agree: then the first line is the answer, found in linear time.
    if lines.iter().all(|l| same(l, lines[0])) {
        return lines[0];
    }
    let mut best = lines[0];
    let mut best_votes = 0;
    for (i, candidate) in lines.iter().enumerate() {
        let votes = lines[i..].iter().filter(|l| same(l, candidate)).count();
        if votes > best_votes {
            best = candidate;
            best_votes = votes;
        }
    }
    best
}

/// Resolves each slot's owner by highest config epoch and marks slots the views disagree on.
fn vote_slots(views: &[&View], index: &HashMap<NodeId, u32>) -> (Box<[u32]>, SlotSet) {
    // Views almost always agree: then the owners come from the ranges, not slot by slot,
    // which on a small cluster was most of the cost of a poll.
    if let Some(claims) = agreed_claims(views, index) {
        let mut owners = vec![NO_OWNER; usize::from(SLOT_COUNT)].into_boxed_slice();
        for (start, end, owner) in claims {
            owners[usize::from(start)..=usize::from(end)].fill(owner);
        }
        return (owners, SlotSet::new());
    }
    vote_slots_by_slot(views, index)
}

/// The slot ranges every view assigns, as `(start, end, owner)`, when all views assign exactly
/// the same ones and no view has two lines claiming one slot (which only the vote by epoch
/// resolves).
fn agreed_claims(views: &[&View], index: &HashMap<NodeId, u32>) -> Option<Vec<(u16, u16, u32)>> {
    let (first, rest) = views.split_first()?;
    let reference = claims(first, index)?;
    rest.iter()
        .all(|v| claims(v, index).as_ref() == Some(&reference))
        .then_some(reference)
}

/// One view's claims as `(start, end, owner)`, sorted; `None` if any overlap.
fn claims(view: &View, index: &HashMap<NodeId, u32>) -> Option<Vec<(u16, u16, u32)>> {
    let mut claims: Vec<(u16, u16, u32)> = claiming_lines(view, index)
        .flat_map(|(line, owner)| line.slots.iter().map(move |r| (r.start, r.end, owner)))
        .collect();
    claims.sort_unstable();
    let well_formed = claims
        .iter()
        .all(|(start, end, _)| start <= end && *end < SLOT_COUNT)
        && claims.windows(2).all(|w| w[0].1 < w[1].0);
    well_formed.then_some(claims)
}

/// The lines of `view` that claim slots, with their node's index; handshake entries claim
/// nothing.
fn claiming_lines<'v>(
    view: &'v View,
    index: &'v HashMap<NodeId, u32>,
) -> impl Iterator<Item = (&'v NodeLine, u32)> {
    view.lines
        .iter()
        .filter(|l| !l.slots.is_empty() && !l.flags.contains(Flags::HANDSHAKE))
        .filter_map(|l| Some((l, *index.get(&l.id)?)))
}

/// [`vote_slots`] one slot at a time: the highest config epoch wins each slot, and a slot is in
/// disagreement when some view's owner differs from the first view's.
fn vote_slots_by_slot(views: &[&View], index: &HashMap<NodeId, u32>) -> (Box<[u32]>, SlotSet) {
    let n = usize::from(SLOT_COUNT);
    let mut owners = vec![NO_OWNER; n].into_boxed_slice();
    let mut best_epoch = vec![0u64; n];
    let mut reference: Option<Vec<u32>> = None;
    let mut this_view = vec![NO_OWNER; n];
    let mut disagreement = SlotSet::new();

    for view in views {
        this_view.fill(NO_OWNER);
        for (line, idx) in claiming_lines(view, index) {
            for slot in line.slots.iter().flat_map(SlotRange::slots) {
                let s = usize::from(slot);
                this_view[s] = idx;
                // Strictly higher: on equal epochs the earliest claim keeps the slot.
                if owners[s] == NO_OWNER || line.config_epoch > best_epoch[s] {
                    owners[s] = idx;
                    best_epoch[s] = line.config_epoch;
                }
            }
        }
        match &reference {
            None => reference = Some(this_view.clone()),
            Some(reference) => {
                for (s, (a, b)) in reference.iter().zip(this_view.iter()).enumerate() {
                    if a != b {
                        disagreement.insert(s as u16);
                    }
                }
            }
        }
    }
    (owners, disagreement)
}

/// Open migrations from each master's own line, pairing MIGRATING and IMPORTING halves.
///
/// Valkey copies `CLUSTER SETSLOT` to replicas, which then print the same markers on their own
/// line; counting those would add phantom migrations from and to replicas.
fn collect_migrations(views: &[&View]) -> Vec<Migration> {
    let mut open: BTreeMap<(u16, NodeId, NodeId), Migration> = BTreeMap::new();
    for me in views.iter().filter_map(|v| v.myself()) {
        if me.flags.contains(Flags::HANDSHAKE) || me.role() != Role::Master {
            continue;
        }
        for &(slot, target) in &me.migrating {
            open.entry((slot, me.id, target))
                .or_insert_with(|| Migration {
                    slot,
                    source: me.id,
                    target,
                    migrating_seen: false,
                    importing_seen: false,
                })
                .migrating_seen = true;
        }
        for &(slot, source) in &me.importing {
            open.entry((slot, source, me.id))
                .or_insert_with(|| Migration {
                    slot,
                    source,
                    target: me.id,
                    migrating_seen: false,
                    importing_seen: false,
                })
                .importing_seen = true;
        }
    }
    open.into_values().collect()
}

#[cfg(test)]
mod tests;
