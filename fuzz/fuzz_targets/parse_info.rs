//! Arbitrary `INFO` text must never panic the counter parser, and what it reads must hold
//! together: rejected calls sorted by command with no repeats, none of them zero.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::info::{NodeCounters, parse_info};

fuzz_target!(|data: &[u8]| {
    let mut counters = NodeCounters::default();
    parse_info(&String::from_utf8_lossy(data), &mut counters);
    let calls = &counters.rejected_calls;
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
    assert!(calls.iter().all(|(_, n)| *n > 0), "{calls:?}");
    let _ = (counters.moved_total(), counters.rejected_total());
});
