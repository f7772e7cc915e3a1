//! Arbitrary `INFO replication` (and `INFO server`) text must never panic its parsers, and
//! what they read must stay bounded: at most 64 replica lines, a zone of at most 64 characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::replication::{MAX_REPLICA_LINES, Replication};
use slotwatch::server_info::availability_zone;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(r) = Replication::parse(&text) {
        assert!(r.replicas.len() <= MAX_REPLICA_LINES);
        assert_eq!(r.master, r.link.is_none(), "{r:?}");
        if let Some(link) = r.link {
            let _ = link.usable();
        }
    }
    if let Some(zone) = availability_zone(&text) {
        assert!(!zone.is_empty() && zone.chars().count() <= 64, "{zone:?}");
    }
});
