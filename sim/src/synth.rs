//! Synthetic clusters of any size, for benches and the cluster simulator, where a real cluster
//! of that size cannot run.

use slotwatch::slot::{SLOT_COUNT, SlotRange};
use slotwatch::topology::{Addr, Flags, LinkState, NodeId, NodeLine, View};

/// A deterministic node ID: a multiple of the index in hex, left-padded to 40 digits.
pub fn node_id(index: usize) -> NodeId {
    let text = format!("{:040x}", index as u128 * 0x9e37_79b9_7f4a_7c15 + 1);
    // A u128 never needs more than 32 hex digits, so 40 hex digits always parse.
    NodeId::parse(&text).expect("40 hex digits form a node ID")
}

/// A cluster of `nodes` nodes on 127.0.0.1 from `base_port`: the first half (rounded up) are
/// masters with the 16384 slots spread evenly, the rest replicate them round-robin.
pub fn cluster(nodes: usize, base_port: u16) -> Vec<NodeLine> {
    let masters = nodes.div_ceil(2).max(1);
    (0..nodes)
        .map(|i| {
            let is_master = i < masters;
            let slots = if is_master {
                let start = (i * usize::from(SLOT_COUNT) / masters) as u16;
                let end = ((i + 1) * usize::from(SLOT_COUNT) / masters) as u16;
                if end > start {
                    vec![SlotRange {
                        start,
                        end: end - 1,
                    }]
                } else {
                    Vec::new()
                }
            } else {
                Vec::new()
            };
            let port = base_port.wrapping_add(i as u16);
            NodeLine {
                id: node_id(i),
                addr: Addr {
                    ip: "127.0.0.1".into(),
                    port,
                    cport: Some(port.wrapping_add(10000)),
                    hostname: None,
                    aux: Vec::new(),
                },
                flags: if is_master {
                    Flags::MASTER
                } else {
                    Flags::REPLICA
                },
                master: (!is_master).then(|| node_id(i % masters)),
                ping_sent: 0,
                pong_recv: 1_700_000_000_000 + i as u64,
                config_epoch: if is_master {
                    i as u64 + 1
                } else {
                    (i % masters) as u64 + 1
                },
                link: LinkState::Connected,
                slots,
                migrating: Vec::new(),
                importing: Vec::new(),
            }
        })
        .collect()
}

/// The view of `lines` as node `me` would reply to `CLUSTER NODES`: its own line flagged
/// `myself` and printed first, as Redis does.
pub fn view_of(lines: &[NodeLine], me: usize) -> View {
    let mut out = Vec::with_capacity(lines.len());
    if let Some(own) = lines.get(me) {
        let mut own = own.clone();
        own.flags.set(Flags::MYSELF, true);
        out.push(own);
    }
    out.extend(
        lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .map(|(_, l)| {
                let mut l = l.clone();
                l.flags.set(Flags::MYSELF, false);
                l
            }),
    );
    View { lines: out }
}

/// Moves `count` slots from the start of master `from`'s range to master `to`, bumping `to`'s
/// config epoch, as a finished reshard leaves the cluster.
pub fn reshard(lines: &mut [NodeLine], from: usize, to: usize, count: u16) {
    let Some(first) = lines.get(from).and_then(|l| l.slots.first().copied()) else {
        return;
    };
    let count = count.min(first.end - first.start + 1);
    let moved = SlotRange {
        start: first.start,
        end: first.start + count - 1,
    };
    if let Some(l) = lines.get_mut(from) {
        if moved.end == first.end {
            l.slots.remove(0);
        } else {
            l.slots[0].start = moved.end + 1;
        }
    }
    let epoch = lines.iter().map(|l| l.config_epoch).max().unwrap_or(0) + 1;
    if let Some(l) = lines.get_mut(to) {
        l.slots.insert(0, moved);
        l.config_epoch = epoch;
    }
}

/// Promotes replica `replica` over its master, as a manual failover leaves the cluster.
pub fn failover(lines: &mut [NodeLine], replica: usize) {
    let Some(master_id) = lines.get(replica).and_then(|l| l.master) else {
        return;
    };
    let Some(master) = lines.iter().position(|l| l.id == master_id) else {
        return;
    };
    let epoch = lines.iter().map(|l| l.config_epoch).max().unwrap_or(0) + 1;
    let slots = std::mem::take(&mut lines[master].slots);
    let new_id = lines[replica].id;
    for l in lines.iter_mut() {
        if l.master == Some(master_id) {
            l.master = Some(new_id);
        }
    }
    let m = &mut lines[master];
    m.flags = Flags::REPLICA;
    m.master = Some(new_id);
    m.config_epoch = epoch;
    let r = &mut lines[replica];
    r.flags = Flags::MASTER;
    r.master = None;
    r.slots = slots;
    r.config_epoch = epoch;
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotwatch::topology::diff::diff;
    use slotwatch::topology::event::EventKind;
    use slotwatch::topology::merge::merge;
    use slotwatch::topology::parse::parse_view;

    #[test]
    fn synthetic_clusters_cover_every_slot_and_parse() {
        for n in [1, 6, 7, 100] {
            let lines = cluster(n, 7000);
            let view = view_of(&lines, n - 1);
            let t = merge(&[parse_view(&view.to_string()).unwrap()], 0);
            assert_eq!(t.unassigned_slots(), 0, "{n} nodes");
            assert_eq!(t.nodes.len(), n);
            assert_eq!(t.masters().count(), n.div_ceil(2));
        }
    }

    #[test]
    fn reshard_and_failover_produce_their_events() {
        let mut lines = cluster(6, 7000);
        let before = merge(&[view_of(&lines, 0)], 0);
        reshard(&mut lines, 0, 1, 100);
        failover(&mut lines, 5);
        let after = merge(&[view_of(&lines, 0)], 0);
        let events = diff(&before, &after);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventKind::Reshard { slots: 100, .. })),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventKind::Failover { .. })),
            "{events:?}"
        );
    }
}
