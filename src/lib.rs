//! slotwatch: a Prometheus exporter for Redis Cluster and Valkey cluster mode.
//!
//! It answers the question every Redis Cluster incident starts with: is this `MOVED` burst
//! normal routing after a reshard or failover, or is something broken?
//!
//! The pure core has no I/O and is shared by the exporter, the command-line tools, benches and
//! fuzz targets:
//!
//! - [`slot`]: key to slot (CRC16-XMODEM with hashtags), slot ranges and sets;
//! - [`topology`]: the cluster model; [`topology::parse`] reads `CLUSTER NODES`,
//!   [`topology::merge`] combines many nodes' views, [`topology::diff`] turns two topologies
//!   into [`topology::event`]s;
//! - [`info`]: redirect and command counters from `INFO`; [`server_info`]: which server a
//!   node runs and which optional commands it may be asked, from `INFO server`;
//! - [`snapshot`]: what one poll published, with [`snapshot::redirects`], its redirect
//!   history; [`health`]: the one health judgement of it;
//! - [`poll::plan`], [`poll::state`] and [`poll::history`]: the poll state machine;
//! - [`clients`] (but for its `read` and `watch`): which clients cause the redirects;
//! - [`overview`]: one serialisable view of a cluster, for `/topology` and `check --json`;
//! - [`check::report`]: the `check` report; [`metrics`]: snapshots to OpenMetrics;
//! - [`slot_stats`]: per-slot load from `CLUSTER SLOT-STATS`; [`plan`] (but for its `run`):
//!   the slot moves that even the load out.
//!
//! Data flows one way: `poll` and `clients` fill the plain data of `snapshot`, and the edges
//! read it; `snapshot` never imports `poll`, and `clients` never imports `poll` or `snapshot`
//! (tests/layout.rs holds these lines).
//!
//! Around it sit the edges: [`config`] (YAML and flags), [`redis`] and [`tls`] (connections),
//! [`poll`] (the per-cluster task and the fetch), [`web`] (routes, landing page, auth, the
//! server and its drain), [`check`] (the one-shot diagnosis), [`healthcheck`] (the HTTP probe)
//! and [`serve`] (wiring and shutdown).

#![warn(missing_docs)]

pub mod check;
pub mod clients;
pub mod clock;
pub mod cluster_info;
pub mod config;
pub mod health;
pub mod healthcheck;
pub mod info;
pub mod metrics;
pub mod overview;
pub mod plan;
pub mod poll;
pub mod redis;
pub mod replication;
pub mod serve;
pub mod server_info;
pub mod slot;
pub mod slot_stats;
pub mod snapshot;
pub mod tls;
pub mod topology;
pub mod web;
