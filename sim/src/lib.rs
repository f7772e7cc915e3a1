//! Development tools for slotwatch: synthetic cluster topologies of any size ([`synth`]), whole
//! snapshots of them ([`snapshots`]), and a Redis Cluster simulator that serves them over real
//! RESP ([`server`]). Tests, benches and
//! `scripts/bench` use them where a real cluster of that size cannot run on one machine. This
//! crate is never published and is not part of slotwatch's API.

#![warn(missing_docs)]

pub mod server;
pub mod snapshots;
pub mod synth;

pub use server::{Change, SimConfig, SimStats, Simulator};
