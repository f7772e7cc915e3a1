//! Arbitrary bytes must never panic the `CLUSTER NODES` parser, and whatever parses must render
//! and parse back to the same view.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::topology::parse::{parse_view, parse_view_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = parse_view_bytes(data) {
        let text = view.to_string();
        let again = parse_view(&text).expect("a rendered view parses");
        assert_eq!(again, view);
    }
});
