//! (old, new) topology to the events that explain the change. Pure.
//!
//! Every slot whose owner changed from A to B is classified:
//! - `failover` if B was A's replica, or A became B's replica;
//! - `reshard` if both were masters (slots are grouped by (A, B) into ranges);
//! - `slots_assigned` (no owner to B) and `slots_unassigned` (A to no owner).
//!
//! A replica promoted while its master owned no slots is a `failover` with zero slots. Migration
//! events come from the open-migration sets; node events from membership, flags and addresses.
//! The events carry no time: [`super::event::stamp`] adds the time of the poll that saw them.

mod migrations;
mod nodes;
mod slots;

use super::Topology;
use super::event::EventKind;

/// The events that explain how `old` became `new`.
///
/// Order: nodes added, address changes, failures, failovers, reshards, (un)assigned slots,
/// migrations, replica moves, recoveries, nodes removed; a failure comes before the failover
/// it causes. `diff(t, t)` is empty.
pub fn diff(old: &Topology, new: &Topology) -> Vec<EventKind> {
    let mut out = Vec::new();
    nodes::added(old, new, &mut out);
    nodes::readdressed(old, new, &mut out);
    nodes::failed(old, new, &mut out);
    let failovers = slots::owners_changed(old, new, &mut out);
    migrations::changed(old, new, &mut out);
    nodes::replicas_moved(old, new, &failovers, &mut out);
    nodes::recovered(old, new, &mut out);
    nodes::removed(old, new, &mut out);
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::topology::event::stamp;
    use crate::topology::merge::merge;
    use crate::topology::parse::parse_view;
    use crate::topology::testdata::*;

    /// One view's topology, observed at a fixed instant.
    pub(in crate::topology) fn topo(text: &str) -> Topology {
        merge(&[parse_view(text).unwrap()], 1_700_000_000_000)
    }

    /// The kinds' names, in order.
    pub(in crate::topology) fn names(events: &[EventKind]) -> Vec<&'static str> {
        events.iter().map(EventKind::name).collect()
    }

    #[test]
    fn identical_topologies_have_no_events() {
        let t = topo(&healthy());
        assert!(diff(&t, &t).is_empty());
    }

    #[test]
    fn events_serialize_with_kind_and_fields() {
        let before = topo(&healthy());
        let lost = topo(&healthy().replace("10923-16383", "10923-16000"));
        let events = stamp(diff(&before, &lost), &lost);
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(json["kind"], "slots_unassigned");
        assert_eq!(json["timestamp_ms"], 1_700_000_000_000u64);
        assert_eq!(json["slots"], 383);
        assert_eq!(json["ranges"][0], "16001-16383");
        assert_eq!(json["from"]["node"], "127.0.0.1:30003");
        assert_eq!(json["from"]["id"], C);
        assert_eq!(json["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(json["message"], events[0].kind.to_string());
    }
}
