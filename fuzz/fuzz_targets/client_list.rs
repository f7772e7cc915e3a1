//! Arbitrary `CLIENT LIST` text must never panic the parser, and whatever parses must never
//! panic the analysis, however the two samples of a node relate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::clients::{NodeClients, analyse, parse_client_list};
use slotwatch::topology::Role;

fuzz_target!(|data: &[u8]| {
    // Two samples separated by 0xff; the first byte picks the role and the MOVED count.
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(2, |b| *b == 0xff);
    let first = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let second = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (Ok(first), Ok(second)) = (parse_client_list(&first), parse_client_list(&second)) else {
        return;
    };
    let node = |endpoint: &str, role| NodeClients {
        endpoint: endpoint.to_owned(),
        role,
        first: first.clone(),
        second: second.clone(),
        interval_ms: u64::from(head),
        moved: Some(u64::from(head >> 4)),
        rejected: u64::from(head & 0x0f),
    };
    let role = if head & 1 == 0 { Role::Master } else { Role::Replica };
    for s in analyse(&[node("a:1", role), node("b:1", Role::Master)]) {
        assert!(second.iter().any(|c| c.id == s.connection.id));
    }
});
