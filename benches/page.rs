//! The cluster page's cost on synthetic clusters of 6, 100 and 1000 nodes at their busiest
//! (every node redirecting in every point of the history, reshards in the window, a migration
//! open, a master failing), and the redirect history's memory.
//!
//! Run with `cargo bench --bench page`. Goals on a 2-core machine: the page of a 1000-node
//! cluster renders in under 20 ms and weighs under 300 KB. The sizes and the history's memory
//! (measured with a counting allocator) are printed before the timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group};
use slotwatch::info::NodeCounters;
use slotwatch::snapshot::redirects::{MAX_POINTS, MIN_SPAN_MS, Timeline};
use slotwatch::web::cluster;
use slotwatch_sim::snapshots;

/// Counts the bytes live on the heap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counter only adds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `layout` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes a [`Timeline`] holds after a full window of polls at 5 s, with `busy` of the
/// `nodes` nodes redirecting in every poll.
fn history_bytes(nodes: usize, busy: usize) -> usize {
    let endpoints: Vec<String> = (0..nodes)
        .map(|i| format!("10.0.{}.{}:6379", i / 250, i % 250))
        .collect();
    let polls = 2 * MAX_POINTS as u64;
    let mut counters = vec![
        NodeCounters {
            moved: Some(0),
            ask: Some(0),
            has_errorstats: true,
            ..Default::default()
        };
        nodes
    ];
    let before = LIVE.load(Ordering::Relaxed);
    let mut t = Timeline::new();
    for k in 0..polls {
        for c in counters.iter_mut().take(busy) {
            c.moved = c.moved.map(|m| m + 3);
            c.ask = c.ask.map(|a| a + 1);
        }
        t.record(
            k * MIN_SPAN_MS,
            endpoints
                .iter()
                .map(String::as_str)
                .zip(counters.iter().map(Some)),
        );
    }
    let shared = t.shared();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    assert_eq!(shared.points.len(), MAX_POINTS);
    drop(shared);
    drop(t);
    bytes
}

fn report() {
    for n in [6usize, 100, 1000] {
        let s = slotwatch::snapshot::Published::new(snapshots::busy(n, 40));
        let page = cluster::page(&s);
        let data = serde_json::to_string(&cluster::sections(&s)).unwrap_or_default();
        println!(
            "{n} nodes: page {:.1} KB, data {:.1} KB",
            page.len() as f64 / 1024.0,
            data.len() as f64 / 1024.0
        );
    }
    for (nodes, busy) in [(1000, 0), (1000, 10), (1000, 1000)] {
        println!(
            "redirect history, {nodes} nodes, {busy} redirecting every poll: {:.1} KB",
            history_bytes(nodes, busy) as f64 / 1024.0
        );
    }
}

fn page(c: &mut Criterion) {
    for n in [6usize, 100, 1000] {
        let s = slotwatch::snapshot::Published::new(snapshots::busy(n, 40));
        let mut group = c.benchmark_group(format!("{n}_nodes"));
        group.bench_function("cluster_page", |b| b.iter(|| cluster::page(black_box(&s))));
        group.bench_function("cluster_data_json", |b| {
            b.iter(|| serde_json::to_string(&cluster::sections(black_box(&s))))
        });
        group.finish();
    }
}

criterion_group!(benches, page);

fn main() {
    report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
