//! Parse, merge and diff on synthetic clusters of 6, 100 and 1000 nodes (half masters).
//!
//! Run with `cargo bench --bench core`. Goals on a 2-core machine: a 1000-node `CLUSTER NODES`
//! reply parses in under 1 ms; merge + diff of two 1000-node topologies take under 1 ms.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use std::sync::Arc;

use slotwatch::snapshot::{NodeStatus, Snapshot};
use slotwatch::topology::{diff, merge, parse};
use slotwatch_sim::synth;

fn core(c: &mut Criterion) {
    for n in [6usize, 100, 1000] {
        let lines = synth::cluster(n, 7000);
        let text = synth::view_of(&lines, 0).to_string();
        let mut after_lines = lines.clone();
        synth::reshard(&mut after_lines, 0, 1, 100);
        synth::failover(&mut after_lines, n - 1);
        let before_view = parse::parse_view(&text).expect("synthetic view parses");
        let after_view = synth::view_of(&after_lines, 0);
        let old = merge::merge(std::slice::from_ref(&before_view), 0);

        let mut group = c.benchmark_group(format!("{n}_nodes"));
        group.bench_function(BenchmarkId::new("parse", text.len()), |b| {
            b.iter(|| parse::parse_view(black_box(&text)))
        });
        group.bench_function("merge_1_view+diff", |b| {
            b.iter(|| {
                let new = merge::merge(black_box(std::slice::from_ref(&after_view)), 1);
                diff::diff(black_box(&old), &new)
            })
        });
        group.bench_function("diff_only", |b| {
            let new = merge::merge(std::slice::from_ref(&after_view), 1);
            b.iter(|| diff::diff(black_box(&old), black_box(&new)))
        });
        // The poller merges one view per answering node; show how that scales up to 10 views.
        let views: Vec<_> = (0..10.min(n))
            .map(|i| synth::view_of(&after_lines, i))
            .collect();
        group.bench_function(format!("merge_{}_views", views.len()), |b| {
            b.iter(|| merge::merge(black_box(&views), 1))
        });
        // check's report (with the health judgement) of the merged topology.
        let snapshot = snapshot_of(merge::merge(&views, 1));
        let topology = snapshot.topology.clone().expect("a topology");
        group.bench_function("check_report", |b| {
            b.iter(|| slotwatch::check::build(black_box(&snapshot), &topology, &[], &[], None))
        });
        group.finish();
    }
}

/// The snapshot of a poll in which every node of `t` answered.
fn snapshot_of(t: slotwatch::topology::Topology) -> Snapshot {
    let nodes = t
        .nodes
        .iter()
        .map(|n| NodeStatus {
            endpoint: n.endpoint.clone(),
            id: Some(n.id),
            up: true,
            counters: Default::default(),
            cluster_info: None,
            replication: None,
            zone: None,
            errors: Default::default(),
            last_error: None,
            load: None,
            slot_stats: None,
        })
        .collect();
    Snapshot {
        polled_at_ms: 1,
        up: true,
        topology: Some(Arc::new(t)),
        nodes,
        ..Snapshot::empty("bench")
    }
}

/// A config file of 10,000 clusters: loading it must stay linear.
fn config(c: &mut Criterion) {
    let mut text = String::from("clusters:\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "  - name: c{i}\n    seeds: [redis://10.0.{}.{}:6379]\n",
            i / 250,
            i % 250
        ));
    }
    c.bench_function("config_10000_clusters", |b| {
        b.iter(|| {
            slotwatch::config::parse_file(std::path::Path::new("bench.yml"), black_box(&text))
        })
    });
}

/// `slotwatch plan` over 16384 slots: 3 masters with 70% of the keys on one, and 1000 masters
/// (about 16 slots each) with a hot range on ten of them. Goal: under 100 ms at 1000 masters.
fn plan(c: &mut Criterion) {
    use slotwatch::plan::{DEFAULT_TARGET, Load, plan};
    let load = |masters: usize, weigh: &dyn Fn(usize, usize) -> u64| {
        let mut l = Load::new(masters);
        let n = l.owner.len();
        for slot in 0..n {
            let m = slot * masters / n;
            l.owner[slot] = Some(m);
            l.weight[slot] = weigh(m, slot);
        }
        l
    };
    let skewed = load(3, &|m, slot| {
        (if m == 0 { 7 } else { 1 }) + (slot % 5) as u64
    });
    let hot = load(1000, &|m, slot| {
        (if m < 10 { 500 } else { 10 }) + (slot * 7919 % 13) as u64
    });
    let mut group = c.benchmark_group("plan_16384_slots");
    group.sample_size(10);
    group.bench_function("3_masters_70pct_keys", |b| {
        b.iter(|| plan(black_box(&skewed), DEFAULT_TARGET))
    });
    group.bench_function("1000_masters_hot_range", |b| {
        b.iter(|| plan(black_box(&hot), DEFAULT_TARGET))
    });
    group.finish();
}

criterion_group!(benches, core, config, plan);
criterion_main!(benches);
