//! The metric names slotwatch exports, as they appear in `/metrics`, read from the one table
//! that declares them (`slotwatch::metrics::families()`): counters with their `_total` suffix,
//! histograms by family name (their samples add `_bucket`, `_sum` and `_count`). Alert rules
//! and dashboards may only use these names (checked in tests/rules.rs); a test against a live
//! exporter checks them against its `/metrics`.

use slotwatch::metrics::{Type, families};

/// Every exported metric name.
pub fn exported_metrics() -> Vec<String> {
    families().map(|f| f.exposed_name()).collect()
}

/// The histogram families among them.
#[allow(dead_code)]
pub fn histograms() -> Vec<String> {
    families()
        .filter(|f| f.kind == Type::Histogram)
        .map(|f| f.exposed_name())
        .collect()
}

/// True if `name` is an exported metric name.
pub fn is_listed(name: &str) -> bool {
    families().any(|f| f.exposed_name() == name)
}
