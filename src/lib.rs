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

pub mod clock;
pub mod info;
pub mod slot;
pub mod topology;
