//! Arbitrary RESP replies must never panic the `CLUSTER SLOT-STATS` reader, and what it reads
//! must stay in bounds: slots below 16384, at most `k` busiest slots per measure, each no more
//! than its measure's total. The planner then balances those weights without panicking, never
//! moving a slot twice and never leaving the busiest master busier.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotwatch::plan::{Load, Spread, plan};
use slotwatch::slot_stats::{Metric, NodeLoad, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = redis::parse_redis_value(data) else {
        return;
    };
    let Ok(stats) = parse(&reply) else {
        return;
    };
    let load = NodeLoad::of(&stats, 3, 0);
    for metric in Metric::ALL {
        let top = &load.top[metric.index()];
        assert!(top.len() <= 3);
        for (slot, v) in top {
            assert!(*slot < 16384);
            assert!(load.total(metric).is_some_and(|t| t >= *v), "{load:?}");
        }
    }
    // Two masters splitting the slots by parity, weighed by keys.
    let mut l = Load::new(2);
    for s in &stats {
        let slot = usize::from(s.slot);
        l.owner[slot] = Some(slot % 2);
        l.weight[slot] = s.get(Metric::Keys) % (1 << 40);
    }
    let moves = plan(&l, 0.1);
    let (before, after) = (l.totals(), l.after(&moves).totals());
    if let (Some(b), Some(a)) = (Spread::of(&before), Spread::of(&after)) {
        assert!(a.max <= b.max, "{b:?} -> {a:?}");
    }
});
