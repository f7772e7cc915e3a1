//! Reading a node's per-slot stats (`CLUSTER SLOT-STATS SLOTSRANGE`) in bounded chunks.
//!
//! A full reading of a node owning all 16384 slots is 1.7 MiB of RESP, which redis-rs holds as
//! a tree of about 200,000 values: over 20 MiB at once. Asked [`CHUNK`] slots at a time, one
//! round trip each, and folded into plain stats before the next, the same reading peaks at a
//! few hundred KiB and costs the server the same (it walks only the slots asked); 32 round
//! trips per node and reading, minutes apart.

use ::redis::Value;

use super::{FetchError, NodeConnection};
use crate::slot::SLOT_COUNT;
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
    /// The node refused the command (an ACL without `cluster|slot-stats`); its words.
    #[error("refused: {0}")]
    Refused(String),
    /// The reply does not parse.
    #[error(transparent)]
    Reply(SlotStatsError),
}

/// Every slot's stats on this node (it lists the slots it owns), [`CHUNK`] slots per round trip.
pub async fn read(conn: &mut NodeConnection) -> Result<Vec<SlotStat>, StatsError> {
    let mut out = Vec::new();
    let mut start = 0u16;
    while start < SLOT_COUNT {
        let end = start.saturating_add(CHUNK - 1).min(SLOT_COUNT - 1);
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
                return Err(StatsError::Refused(
                    ::redis::RedisError::from(e).to_string(),
                ));
            }
            Some(reply) => {
                out.extend(slot_stats::parse(&reply).map_err(StatsError::Reply)?);
            }
            None => {
                return Err(StatsError::Fetch(FetchError::Protocol(
                    super::ProtocolError::ReplyCount {
                        expected: 1,
                        got: 0,
                    },
                )));
            }
        }
        start = end + 1;
    }
    Ok(out)
}
