//! Arbitrary `CLIENT LIST` text must never panic the parser, and whatever parses must never
//! panic the analysis, however the two samples of a node relate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::clients::keyed::Commands;
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
        // Connections gone by the second sample, as the looks between the samples list them.
        between: first
            .iter()
            .filter(|c| !second.iter().any(|s| s.id == c.id))
            .cloned()
            .collect(),
        interval_ms: u64::from(head),
        moved: Some(u64::from(head >> 4)),
        rejected: u64::from(head & 0x0f),
        sampled_at_ms: 1_700_000_000_000,
        // Half the cases: a failover made the node a replica, as long ago as the byte says.
        demoted_at_ms: (head & 2 == 0).then(|| 1_700_000_000_000 - u64::from(head) * 1000),
    };
    let role = if head & 1 == 0 { Role::Master } else { Role::Replica };
    for s in analyse(
        &[node("a:1", role), node("b:1", Role::Master)],
        &Commands::default(),
    ) {
        assert!(first.iter().chain(&second).any(|c| c.id == s.connection.id));
    }
});
