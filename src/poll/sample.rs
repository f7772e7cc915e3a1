//! What a visit to a node brings back: plain data, from the fetch to the poll state.

use std::collections::HashMap;

use crate::cluster_info::ClusterInfo;
use crate::info::NodeCounters;
use crate::redis::FetchError;
use crate::replication::Replication;
use crate::slot_stats::NodeLoad;
use crate::topology::View;
use crate::topology::atomic::Job;

/// One node's answer to a poll: its counters, and its `CLUSTER NODES` view if asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The parsed view, when the poll asked for it.
    pub view: Option<View>,
    /// Counters from INFO.
    pub counters: NodeCounters,
    /// What the node says of the cluster; `None` where `CLUSTER INFO` was refused.
    pub cluster_info: Option<ClusterInfo>,
    /// Its role and replication link, from `INFO replication`; `None` if INFO had no role.
    pub replication: Option<Replication>,
    /// The node's `availability_zone`, as it said when the connection opened.
    pub zone: Option<String>,
    /// Its atomic migration jobs.
    pub jobs: Jobs,
    /// Keys counted in the slots the visit asked about: (slot, keys).
    pub keys: Vec<(u16, u64)>,
    /// Its per-slot stats, when asked.
    pub slot_stats: SlotStatsRead,
}

/// What a node said of its per-slot stats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SlotStatsRead {
    /// Not asked this poll.
    #[default]
    NotAsked,
    /// Its server has no `CLUSTER SLOT-STATS`.
    Unsupported,
    /// It refused the command (an ACL without `cluster|slot-stats`); the server's words.
    Denied(String),
    /// This reading failed (a timeout, a bad reply, a passing error such as `LOADING`); why.
    /// The node's sample stands; the stats are asked again at the next interval.
    Failed(String),
    /// Its slots' load; stamped with the poll's time when applied.
    Read(NodeLoad),
}

/// What a node said of its atomic migration jobs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Jobs {
    /// Not asked this poll.
    #[default]
    NotAsked,
    /// The server keeps no job log (Redis before 8.4, Valkey before 9).
    Unsupported,
    /// The ACL user may not run it, so atomic migrations cannot be seen; the server's words.
    Denied(String),
    /// The jobs in its log.
    Read(Vec<Job>),
}

/// What one visit brought back.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The visited endpoint.
    pub endpoint: String,
    /// Its sample, or why there is none.
    pub result: Result<Sample, FetchError>,
}

impl Fetched {
    /// Adds a later wave's answers to a poll's: a node seen for the first time is added; a
    /// node that answered already gets the later view, keeping its first answer otherwise (its
    /// counters, jobs and key counts were read then, and a failed retry does not undo them).
    pub fn fill_in(fetched: &mut Vec<Fetched>, later: Vec<Fetched>) {
        let at: HashMap<String, usize> = fetched
            .iter()
            .enumerate()
            .map(|(i, f)| (f.endpoint.clone(), i))
            .collect();
        for f in later {
            match at.get(&f.endpoint) {
                None => fetched.push(f),
                Some(&i) => match (&mut fetched[i].result, f.result) {
                    (Ok(first), Ok(again)) if again.view.is_some() => first.view = again.view,
                    (Err(_), result) => fetched[i].result = result,
                    _ => {}
                },
            }
        }
    }
}
