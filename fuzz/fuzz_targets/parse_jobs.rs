//! Arbitrary job-log entries, in Valkey's `CLUSTER GETSLOTMIGRATIONS` dialect or Redis 8.4's
//! `CLUSTER MIGRATION STATUS ALL`, must never panic the job parser or the combining of source
//! and target entries; every job that parses moves at least one slot, and its last change is
//! never before its creation on Redis, whose parser derives it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::topology::atomic::{Dialect, combine, parse_jobs};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the dialect; then entries separated by 0xff, fields by 0xfe, key
    // and value by 0xfd.
    let Some((first, data)) = data.split_first() else {
        return;
    };
    let dialect = if first % 2 == 0 {
        Dialect::Valkey
    } else {
        Dialect::Redis
    };
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
    if let Ok(jobs) = parse_jobs(dialect, &entries) {
        if dialect == Dialect::Redis {
            for job in &jobs {
                assert!(job.updated_ms >= job.created_ms);
            }
        }
        for m in combine(&jobs) {
            assert!(m.slots >= 1);
        }
    }
});
