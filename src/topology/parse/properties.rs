//! Properties of the parser over generated input: whatever it is fed, it never panics, and
//! what it renders parses back to the same view.

use proptest::prelude::*;

use super::*;
use crate::slot::SLOT_COUNT;
use crate::topology::testdata::*;

fn arb_id() -> impl Strategy<Value = NodeId> {
    "[0-9a-f]{40}".prop_map(|s| NodeId::parse(&s).unwrap())
}

fn arb_line() -> impl Strategy<Value = NodeLine> {
    let addr = (
        prop_oneof![
            Just(String::new()),
            "(25[0-5]|1[0-9]{2}|[1-9]?[0-9])(\\.[0-9]{1,3}){3}",
            Just("::1".to_owned()),
            Just("2001:db8::7".to_owned())
        ],
        any::<u16>(),
        proptest::option::of(any::<u16>()),
        proptest::option::of("[a-z0-9.-]{1,12}"),
        proptest::collection::vec(("[a-z-]{1,8}", "[a-z0-9]{0,8}"), 0..2),
    )
        .prop_map(|(ip, port, cport, hostname, aux)| {
            // A hostname or aux field only prints after an `@cport`.
            let cport = if hostname.is_some() || !aux.is_empty() {
                Some(cport.unwrap_or(1))
            } else {
                cport
            };
            Addr {
                ip,
                port,
                cport,
                hostname,
                aux,
            }
        });
    let flags = proptest::bits::u16::masked(0xff).prop_map(Flags::from_bits);
    let ranges = proptest::collection::vec((0..SLOT_COUNT, 0u16..200), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(s, len)| SlotRange::new(s, s.saturating_add(len).min(SLOT_COUNT - 1)).unwrap())
            .collect::<Vec<_>>()
    });
    let migs = || proptest::collection::vec((0..SLOT_COUNT, arb_id()), 0..3);
    (
        arb_id(),
        addr,
        flags,
        proptest::option::of(arb_id()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<bool>()),
        ranges,
        migs(),
        migs(),
    )
        .prop_map(
            |(id, addr, flags, master, (ping, pong, epoch, up), slots, migrating, importing)| {
                NodeLine {
                    id,
                    addr,
                    flags,
                    master,
                    ping_sent: ping,
                    pong_recv: pong,
                    config_epoch: epoch,
                    link: if up {
                        LinkState::Connected
                    } else {
                        LinkState::Disconnected
                    },
                    slots,
                    migrating,
                    importing,
                }
            },
        )
}

proptest! {
    #[test]
    fn rendered_views_parse_back(lines in proptest::collection::vec(arb_line(), 0..8)) {
        // One myself line at most and unique IDs, as a real reply has.
        let mut seen = std::collections::HashSet::new();
        let mut lines: Vec<NodeLine> = lines.into_iter().filter(|l| seen.insert(l.id)).collect();
        for (i, l) in lines.iter_mut().enumerate() {
            l.flags.set(Flags::MYSELF, i == 0);
        }
        let view = View { lines };
        let text = view.to_string();
        prop_assert_eq!(parse_view(&text).unwrap(), view.clone());
        // CRLF line endings parse the same.
        prop_assert_eq!(parse_view(&text.replace('\n', "\r\n")).unwrap(), view);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_view_bytes(&input);
        let _ = parse_dump(&input);
    }

    #[test]
    fn mutated_replies_never_panic(cut in 0usize..600, byte in any::<u8>(), pos in 0usize..600) {
        let mut input = healthy().into_bytes();
        let pos = pos.min(input.len().saturating_sub(1));
        input[pos] = byte;
        input.truncate(cut.min(input.len()));
        if let Err(e) = parse_view_bytes(&input) {
            prop_assert!(e.line >= 1);
        }
    }
}
