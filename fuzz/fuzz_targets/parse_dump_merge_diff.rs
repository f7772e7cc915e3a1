//! The whole pure pipeline on arbitrary input: split a dump in two, parse, merge and diff.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::topology::{diff, merge, parse};

fuzz_target!(|data: &[u8]| {
    let mid = data.len() / 2;
    let (a, b) = data.split_at(mid);
    if let (Ok(va), Ok(vb)) = (parse::parse_dump(a), parse::parse_dump(b)) {
        let old = merge::merge(&va, 0);
        let new = merge::merge(&vb, 1);
        let _ = diff::diff(&old, &new);
        assert!(diff::diff(&new, &new).is_empty());
    }
});
