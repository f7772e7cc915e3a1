//! Arbitrary `CLUSTER INFO` and `INFO server` text must never panic their parsers, and what
//! they read must hold together: a node that says its cluster is down reads as not ok.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::cluster_info::ClusterInfo;
use slotwatch::server_info::ServerInfo;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(info) = ClusterInfo::parse(&text) {
        let says_fail = text
            .lines()
            .rev()
            .find_map(|l| l.trim_end_matches('\r').strip_prefix("cluster_state:"))
            == Some("fail");
        assert!(!(info.state_ok && says_fail), "{info:?}");
    }
    if let Some(server) = ServerInfo::parse(&text) {
        let _ = (server.multi_section_info(), server.slot_migration_jobs());
    }
});
