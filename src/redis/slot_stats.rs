//! Reading a node's per-slot stats (`CLUSTER SLOT-STATS SLOTSRANGE`) in bounded chunks.
//!
//! A full reading of a node owning all 16384 slots is 1.7 MiB of RESP, which redis-rs holds as
//! a tree of about 200,000 values: over 20 MiB at once. Asked [`CHUNK`] slots at a time, one
//! round trip each, and folded into plain stats before the next, the same reading peaks at a
//! few hundred KiB and costs the server the same (it walks only the slots asked); 32 round
//! trips per node and reading, minutes apart.

use ::redis::Value;

use super::{FetchError, NodeConnection};
use crate::slot::{SLOT_COUNT, SlotRange};
use crate::slot_stats::{self, SlotStat, SlotStatsError};

/// Slots asked per round trip: a reply of at most about 55 KiB, held as values of about 300
/// KiB. Measured on a 6-node cluster, chunks of 2048 still took slotwatch's peak RSS from 8.5
/// to 21.5 MiB at each reading.
pub const CHUNK: u16 = 512;

/// Why a node's stats could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StatsError {
    /// The round trip failed.
    #[error(transparent)]
    Fetch(FetchError),
    /// The node's ACL refuses the command (`NOPERM`: no `cluster|slot-stats`); its words.
    #[error("refused: {0}")]
    Refused(String),
    /// The node answered with another error (`LOADING` after a restart, `BUSY`, ...), which may
    /// pass; its words.
    #[error("{0}")]
    Server(String),
    /// The reply does not parse.
    #[error(transparent)]
    Reply(SlotStatsError),
}

/// The stats of the slots in `ranges` (all 16384 when empty) on this node, which lists the
/// ones it owns; [`CHUNK`] slots per round trip, each slot once.
pub async fn read(
    conn: &mut NodeConnection,
    ranges: &[SlotRange],
) -> Result<Vec<SlotStat>, StatsError> {
    let all = [SlotRange {
        start: 0,
        end: SLOT_COUNT - 1,
    }];
    let ranges = if ranges.is_empty() { &all[..] } else { ranges };
    let mut out = Vec::new();
    for r in ranges {
        let mut start = r.start;
        loop {
            let end = start.saturating_add(CHUNK - 1).min(r.end);
            out.extend(read_chunk(conn, start, end).await?);
            if end >= r.end {
                break;
            }
            start = end + 1;
        }
    }
    // A node listing a slot twice (or outside the chunk asked, into another) keeps one entry.
    out.sort_by_key(|s| s.slot);
    out.dedup_by_key(|s| s.slot);
    Ok(out)
}

/// One round trip: the stats of the slots `start..=end`.
async fn read_chunk(
    conn: &mut NodeConnection,
    start: u16,
    end: u16,
) -> Result<Vec<SlotStat>, StatsError> {
    // A one-command pipeline that keeps errors as values: a refusal is an answer here.
    let mut pipe = ::redis::pipe();
    pipe.ignore_errors();
    pipe.cmd("CLUSTER")
        .arg("SLOT-STATS")
        .arg("SLOTSRANGE")
        .arg(start)
        .arg(end);
    let replies: Vec<Value> = pipe
        .query_async(&mut conn.conn)
        .await
        .map_err(|e| StatsError::Fetch(conn.explain(&e)))?;
    match replies.into_iter().next() {
        Some(Value::ServerError(e)) => {
            let refused = e.code() == "NOPERM";
            let text = ::redis::RedisError::from(e).to_string();
            Err(if refused {
                StatsError::Refused(text)
            } else {
                StatsError::Server(text)
            })
        }
        Some(reply) => slot_stats::parse(&reply).map_err(StatsError::Reply),
        None => Err(StatsError::Fetch(FetchError::Protocol(
            super::ProtocolError::ReplyCount {
                expected: 1,
                got: 0,
            },
        ))),
    }
}
