//! Arbitrary `CLUSTER GETSLOTMIGRATIONS` entries must never panic the job parser or the
//! combining of source and target entries, and every job that parses moves at least one slot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::topology::atomic::{combine, parse_jobs};

fuzz_target!(|data: &[u8]| {
    // Entries separated by 0xff, fields by 0xfe, key and value by 0xfd.
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let entries: Vec<Vec<(String, String)>> = data
        .split(|b| *b == 0xff)
        .map(|entry| {
            entry
                .split(|b| *b == 0xfe)
                .filter_map(|field| {
                    let mut kv = field.splitn(2, |b| *b == 0xfd);
                    Some((text(kv.next()?), text(kv.next()?)))
                })
                .collect()
        })
        .collect();
    if let Ok(jobs) = parse_jobs(&entries) {
        for m in combine(&jobs) {
            assert!(m.slots >= 1);
        }
    }
});
