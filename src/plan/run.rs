//! `slotwatch plan` against a live cluster: one poll for the topology (the same code as
//! `serve` and `check`), then each master's per-slot stats, read once, in full. The only I/O of
//! the plan.

use super::commands::Master;
use super::report::{self, PlanReport, Source};
use super::{By, Load};
use crate::config::Reach;
use crate::redis::slot_stats::{StatsError, read as read_stats};
use crate::redis::{Connector, FetchError, NodeConnection};
use crate::slot::SlotRange;
use crate::slot_stats::{self, Metric, SlotStat, SlotStatsError};
use crate::tls::TlsError;
use crate::topology::{Node, Topology};

/// `CLUSTER COUNTKEYSINSLOT` commands per round trip when a server has no `CLUSTER
/// SLOT-STATS`: a master of 16384 slots takes 16 round trips, none of them large.
const COUNT_BATCH: usize = 1024;

/// Why a plan could not be made (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No seed or node answered.
    #[error("cannot reach the cluster: {0}")]
    Unreachable(String),
    /// The TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A master could not be read.
    #[error("{node}: {source}")]
    Node {
        /// The master.
        node: String,
        /// Why.
        #[source]
        source: FetchError,
    },
    /// A master's stats do not parse.
    #[error("{node}: {source}")]
    Reply {
        /// The master.
        node: String,
        /// What was wrong.
        #[source]
        source: SlotStatsError,
    },
    /// A master answered `CLUSTER SLOT-STATS` with an error other than a refusal.
    #[error("{node} answered CLUSTER SLOT-STATS with an error: {error}")]
    Server {
        /// The master.
        node: String,
        /// The server's words.
        error: String,
    },
    /// A master refuses `CLUSTER SLOT-STATS` to this user.
    #[error(
        "{node} refuses CLUSTER SLOT-STATS ({error}): grant the user +cluster|slot-stats (README, Permissions)"
    )]
    Refused {
        /// The master.
        node: String,
        /// The server's words.
        error: String,
    },
    /// The measure needs `CLUSTER SLOT-STATS`, which a master's server does not have.
    #[error(
        "{node} has no CLUSTER SLOT-STATS (Valkey 8.0+, Redis 8.2+), which --by {by} needs; --by keys and --by slots work on any server"
    )]
    Unsupported {
        /// The master.
        node: String,
        /// The measure.
        by: &'static str,
    },
    /// The measure is off on a master.
    #[error(
        "{node} does not count {field} per slot: --by {by} needs `CONFIG SET cluster-slot-stats-enabled yes` on every master, and a load run after it"
    )]
    Disabled {
        /// The master.
        node: String,
        /// The measure.
        by: &'static str,
        /// The field missing.
        field: &'static str,
    },
}

/// Reads the cluster and plans moves by `by` to within `target` of the mean.
pub async fn run(name: &str, reach: &Reach, by: By, target: f64) -> Result<PlanReport, PlanError> {
    let snapshot = crate::poll::poll_once(name, reach, false).await?;
    let Some(topology) = snapshot.topology.clone() else {
        let causes: Vec<String> = snapshot
            .nodes
            .iter()
            .map(|n| {
                let why = n.last_error.as_deref().unwrap_or("no answer");
                format!("{}: {why}", n.endpoint)
            })
            .collect();
        return Err(PlanError::Unreachable(causes.join("; ")));
    };
    let connector = Connector::new(reach)?;
    let masters = report::masters(&topology);
    let mut addressed = Vec::with_capacity(masters.len());
    let mut weights: Vec<Vec<(u16, u64)>> = Vec::with_capacity(masters.len());
    let mut source = if by == By::Slots {
        Source::SlotCounts
    } else {
        Source::SlotStats
    };
    for m in &masters {
        // Up to 16 round trips of counts, or 32 of stats: each master gets ten per-node
        // timeouts, and a frozen one fails the plan instead of hanging it.
        let budget = connector.timeout() * 10;
        let (conn, read) = tokio::time::timeout(budget, read_master(&connector, m, by))
            .await
            .map_err(|_| PlanError::Node {
                node: m.endpoint.clone(),
                source: FetchError::Timeout(budget),
            })??;
        if read.counted {
            source = Source::CountKeys;
        }
        addressed.push(Master {
            endpoint: m.endpoint.clone(),
            host: m.addr.ip.clone(),
            port: m.addr.port,
            id: m.id,
            server: conn.server,
        });
        weights.push(read.weights);
    }
    let load = weigh(&topology, &masters, &weights, by);
    Ok(report::build(name, by, target, source, &load, &addressed))
}

/// The load over `masters`: each slot's weight as read from its owner; `By::Slots` weighs 1.
fn weigh(t: &Topology, masters: &[&Node], weights: &[Vec<(u16, u64)>], by: By) -> Load {
    let mut dense = vec![0u64; usize::from(crate::slot::SLOT_COUNT)];
    for (slot, w) in weights.iter().flatten() {
        dense[usize::from(*slot)] = *w;
    }
    report::load_of(t, masters, |_, slot| match by {
        By::Slots => 1,
        _ => dense[usize::from(slot)],
    })
}

/// One master's weights, and whether they were counted with `COUNTKEYSINSLOT`.
struct Read {
    weights: Vec<(u16, u64)>,
    counted: bool,
}

/// Connects to `m` and reads each of its slots' weight by `by`.
async fn read_master(
    connector: &Connector,
    m: &Node,
    by: By,
) -> Result<(NodeConnection, Read), PlanError> {
    let node = || m.endpoint.clone();
    let fail = |source| PlanError::Node {
        node: node(),
        source,
    };
    connector.new_poll();
    let mut conn = connector
        .connect(&m.addr.ip, m.addr.port)
        .await
        .map_err(fail)?;
    let empty = Read {
        weights: Vec::new(),
        counted: false,
    };
    if by == By::Slots {
        return Ok((conn, empty));
    }
    let has_stats = conn.server.as_ref().is_some_and(slot_stats::supported);
    if !has_stats {
        if by != By::Keys {
            return Err(PlanError::Unsupported {
                node: node(),
                by: by.name(),
            });
        }
        let weights = count_keys(&mut conn, &m.slots).await.map_err(fail)?;
        return Ok((
            conn,
            Read {
                weights,
                counted: true,
            },
        ));
    }
    let stats = read_stats(&mut conn, &m.slots).await.map_err(|e| match e {
        StatsError::Fetch(source) => PlanError::Node {
            node: node(),
            source,
        },
        StatsError::Server(error) => PlanError::Server {
            node: node(),
            error,
        },
        StatsError::Reply(source) => PlanError::Reply {
            node: node(),
            source,
        },
        StatsError::Refused(error) => PlanError::Refused {
            node: node(),
            error,
        },
    })?;
    let weights = weights(&stats, by).map_err(|field| PlanError::Disabled {
        node: node(),
        by: by.name(),
        field,
    })?;
    Ok((
        conn,
        Read {
            weights,
            counted: false,
        },
    ))
}

/// Each slot's weight by `by`; the field a slot lacks when the server does not count it
/// (`cluster-slot-stats-enabled no`).
fn weights(stats: &[SlotStat], by: By) -> Result<Vec<(u16, u64)>, &'static str> {
    let metrics: &[Metric] = match by {
        By::Keys => &[Metric::Keys],
        By::Cpu => &[Metric::Cpu],
        By::Network => &[Metric::NetworkIn, Metric::NetworkOut],
        By::Slots => &[],
    };
    if let Some(missing) = metrics
        .iter()
        .find(|metric| stats.iter().any(|s| s.values[metric.index()].is_none()))
    {
        return Err(missing.field());
    }
    Ok(stats
        .iter()
        .map(|s| (s.slot, metrics.iter().map(|metric| s.get(*metric)).sum()))
        .collect())
}

/// Keys per slot of `ranges` with `CLUSTER COUNTKEYSINSLOT`, pipelined in bounded batches.
async fn count_keys(
    conn: &mut NodeConnection,
    ranges: &[SlotRange],
) -> Result<Vec<(u16, u64)>, FetchError> {
    let slots: Vec<u16> = ranges.iter().flat_map(SlotRange::slots).collect();
    let mut out = Vec::with_capacity(slots.len());
    for batch in slots.chunks(COUNT_BATCH) {
        let mut pipe = ::redis::pipe();
        for slot in batch {
            pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*slot);
        }
        let counts: Vec<u64> = pipe
            .query_async(&mut conn.conn)
            .await
            .map_err(|e| conn.explain(&e))?;
        // Capped as CLUSTER SLOT-STATS values are, so that no sum can overflow.
        let counts = counts.into_iter().map(|c| c.min(slot_stats::MAX_VALUE));
        out.extend(batch.iter().copied().zip(counts));
    }
    Ok(out)
}

/// What one master said of its per-slot stats, read on demand.
#[derive(Debug, Clone)]
pub enum MasterStats {
    /// Its slots' stats.
    Read(Vec<SlotStat>),
    /// Its server has no `CLUSTER SLOT-STATS`.
    Unsupported,
    /// It could not be read; why.
    Failed(String),
}

/// A master to read: its endpoint, host, port and the slots it owns.
pub type MasterAt = (String, String, u16, Vec<SlotRange>);

/// Every master's full per-slot stats, read concurrently, each within the per-node timeout:
/// the cluster page's heat view. Never asks a server without the command.
pub async fn read_masters(
    connector: &Connector,
    masters: &[MasterAt],
) -> Vec<(String, MasterStats)> {
    let reads = masters
        .iter()
        .map(|(endpoint, host, port, ranges)| async move {
            let read = async {
                let mut conn = connector.connect(host, *port).await?;
                if !conn.server.as_ref().is_some_and(slot_stats::supported) {
                    return Ok(MasterStats::Unsupported);
                }
                Ok(match read_stats(&mut conn, ranges).await {
                    Ok(stats) => MasterStats::Read(stats),
                    Err(StatsError::Fetch(e)) => return Err(e),
                    Err(e) => MasterStats::Failed(e.to_string()),
                })
            };
            let stats = match tokio::time::timeout(connector.timeout(), read).await {
                Ok(Ok(stats)) => stats,
                Ok(Err(e)) => MasterStats::Failed(e.to_string()),
                Err(_) => MasterStats::Failed(FetchError::Timeout(connector.timeout()).to_string()),
            };
            (endpoint.clone(), stats)
        });
    futures_util::future::join_all(reads).await
}
