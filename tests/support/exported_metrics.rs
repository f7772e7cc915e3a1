//! The metric names slotwatch exports, as they appear in `/metrics`: counters with their
//! `_total` suffix, histograms by family name (their samples add `_bucket`, `_sum` and
//! `_count`). Alert rules and dashboards may only use these names (checked in
//! tests/rules.rs); a test against a live exporter checks the list against its `/metrics`.

pub const EXPORTED_METRICS: &[&str] = &[
    "redis_cluster_redirects_total",
    "redis_cluster_commands_processed_total",
    "redis_cluster_node_up",
    "redis_cluster_node_info",
    "redis_cluster_node_failing",
    "redis_cluster_node_slots",
    "redis_cluster_slots_unassigned",
    "redis_cluster_slots_migrating",
    "redis_cluster_slots_importing",
    "redis_cluster_migrations",
    "redis_cluster_migration_keys_remaining",
    "redis_cluster_migration_age_seconds",
    "redis_cluster_migration_stalled_seconds",
    "redis_cluster_view_disagreement_slots",
    "redis_cluster_events_total",
    "redis_cluster_slot_moves_total",
    "redis_cluster_migration_lost_writes_total",
    "redis_cluster_last_topology_change_timestamp_seconds",
    "redis_cluster_last_reshard_timestamp_seconds",
    "redis_cluster_last_failover_timestamp_seconds",
    "slotwatch_up",
    "slotwatch_poll_duration_seconds",
    "slotwatch_poll_errors_total",
    "slotwatch_last_poll_timestamp_seconds",
    "slotwatch_polls_total",
    "slotwatch_redis_read_bytes_total",
    "slotwatch_build_info",
];
