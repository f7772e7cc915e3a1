//! slotwatch: a Prometheus exporter for Redis Cluster and Valkey cluster mode.
//!
//! It answers the question every Redis Cluster incident starts with: is this `MOVED` burst
//! normal routing after a reshard or failover, or is something broken?
//!
//! The crate is split so that the pure core has no I/O and is shared by the exporter, the
//! command-line tools, benches and fuzz targets:
//!
//! - [`slot`]: key to slot (CRC16-XMODEM with hashtags), slot ranges and sets;
//! - [`topology`]: the cluster model; [`topology::parse`] reads `CLUSTER NODES`,
//!   [`topology::merge`] combines many nodes' views, [`topology::diff`] turns two topologies
//!   into events;
//! - [`info`]: redirect and command counters from `INFO`.
//!
//! Around it sit the exporter's parts: [`config`] (YAML and flags), [`connect`] (TCP/TLS, AUTH),
//! [`poller`] (polls a cluster, publishes snapshots), [`metrics`] (OpenMetrics encoding),
//! [`http`] (axum routes), [`check`] (the one-shot diagnosis), [`webconfig`] (TLS and basic auth for the endpoints) and [`serve`]
//! (wiring and shutdown).

pub mod check;
pub mod clock;
pub mod config;
pub mod connect;
pub mod http;
pub mod info;
pub mod metrics;
pub mod poller;
pub mod serve;
pub mod slot;
pub mod topology;
pub mod webconfig;
