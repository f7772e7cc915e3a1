//! The full per-slot picture behind the cluster page's heat view: every master's `CLUSTER
//! SLOT-STATS SLOTSRANGE` over its slots, read only when a page asks for the heat view, at most
//! once per [`MIN_INTERVAL`] per cluster while its masters stay the same, and cached. The poll
//! keeps only totals and the busiest slots; `/metrics` never reads this.
//!
//! This is the one place where an HTTP request can wait on Redis: at most one per-node timeout,
//! the masters read concurrently, and requests that arrive meanwhile wait for that same read
//! instead of starting their own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::config::ClusterConfig;
use crate::plan::run::{MasterAt, MasterStats, read_masters};
use crate::redis::Connector;
use crate::tls::TlsError;
use crate::topology::Topology;

/// The shortest time between two full readings of a cluster: a reading costs the masters
/// about 0.36 µs per slot, and a page left open asks on every reload.
pub const MIN_INTERVAL: Duration = Duration::from_secs(30);

/// One full reading of every master's per-slot stats.
#[derive(Debug)]
pub struct HeatReading {
    /// Unix ms when it was taken.
    pub read_at_ms: u64,
    /// Per master (`ip:port`), what it said.
    pub masters: Vec<(String, MasterStats)>,
}

/// Where a cluster's heat view comes from: its own connections, and the last reading.
pub struct HeatSource {
    connector: Connector,
    last: Mutex<Option<(Instant, Arc<HeatReading>)>>,
}

impl std::fmt::Debug for HeatSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeatSource").finish_non_exhaustive()
    }
}

impl HeatSource {
    /// A source reaching the cluster as its poller does.
    pub fn new(cluster: &ClusterConfig) -> Result<HeatSource, TlsError> {
        Ok(HeatSource {
            connector: Connector::new(&cluster.reach)?,
            last: Mutex::new(None),
        })
    }

    /// The latest reading of `t`'s masters: the cached one if younger than [`MIN_INTERVAL`] and
    /// of the same masters, otherwise a new one.
    pub async fn reading(&self, t: &Topology) -> Arc<HeatReading> {
        let mut masters: Vec<MasterAt> = t
            .masters()
            .filter(|m| m.slot_count > 0 && !m.noaddr)
            .map(|m| {
                (
                    m.endpoint.clone(),
                    m.addr.ip.clone(),
                    m.addr.port,
                    m.slots.clone(),
                )
            })
            .collect();
        masters.sort();
        let mut last = self.last.lock().await;
        if let Some((at, reading)) = last.as_ref() {
            let same = reading
                .masters
                .iter()
                .map(|(e, _)| e)
                .eq(masters.iter().map(|(e, ..)| e));
            if same && at.elapsed() < MIN_INTERVAL {
                return reading.clone();
            }
        }
        self.connector.new_poll();
        let reading = Arc::new(HeatReading {
            read_at_ms: crate::clock::now_ms(),
            masters: read_masters(&self.connector, &masters).await,
        });
        *last = Some((Instant::now(), reading.clone()));
        reading
    }
}
