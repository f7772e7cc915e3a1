//! What a node says of itself and of the cluster, from its `CLUSTER INFO`. Pure.
//!
//! `cluster_state` is the first thing to check in an incident: a node says `fail` when it
//! cannot reach a majority of masters (a minority partition), or when some slot has no
//! reachable owner and `cluster-require-full-coverage` is `yes` (the default). It then refuses
//! commands with `CLUSTERDOWN`, whatever the topology slotwatch merged from the views says.

/// A node's `CLUSTER INFO`: the fields an operator reads first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `cluster_state:ok`; `false` for `fail` (or anything else).
    pub state_ok: bool,
    /// `cluster_slots_pfail`: slots whose owner this node cannot reach.
    pub slots_pfail: u32,
    /// `cluster_slots_fail`: slots whose owner the cluster agreed has failed.
    pub slots_fail: u32,
    /// `cluster_known_nodes`: nodes in this node's table, handshaking ones included.
    pub known_nodes: u32,
    /// `cluster_size`: masters serving at least one slot, as this node sees them.
    pub size: u32,
    /// `cluster_current_epoch`: the highest epoch this node knows.
    pub current_epoch: u64,
    /// `cluster_my_epoch`: the config epoch of this node, or of its master for a replica.
    pub my_epoch: u64,
}

/// Why a `CLUSTER INFO` reply could not be read; names the line or field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterInfoError {
    /// A field every server prints is absent.
    #[error("CLUSTER INFO has no {0}")]
    Missing(&'static str),
    /// A field's value is not what it can be.
    #[error("CLUSTER INFO line {line}: {field}: unexpected {value:?}")]
    Bad {
        /// 1-based line number.
        line: usize,
        /// The field.
        field: &'static str,
        /// The value, shortened.
        value: String,
    },
}

/// The fields read, in the order of [`ClusterInfo`]'s numbers.
const NUMBERS: [&str; 6] = [
    "cluster_slots_pfail",
    "cluster_slots_fail",
    "cluster_known_nodes",
    "cluster_size",
    "cluster_current_epoch",
    "cluster_my_epoch",
];

impl ClusterInfo {
    /// Reads the reply text; other fields (the message counters, Valkey's and Redis 8.4's
    /// additions) are ignored.
    pub fn parse(text: &str) -> Result<ClusterInfo, ClusterInfoError> {
        let mut state = None;
        let mut numbers: [Option<u64>; NUMBERS.len()] = [None; NUMBERS.len()];
        for (i, line) in text.lines().enumerate() {
            let Some((key, value)) = line.trim_end_matches('\r').split_once(':') else {
                continue;
            };
            let bad = |field: &'static str| ClusterInfoError::Bad {
                line: i + 1,
                field,
                value: value.chars().take(32).collect(),
            };
            if key == "cluster_state" {
                state = Some(match value {
                    "ok" => true,
                    "fail" => false,
                    _ => return Err(bad("cluster_state")),
                });
            } else if let Some(at) = NUMBERS.iter().position(|f| *f == key) {
                numbers[at] = Some(value.parse().map_err(|_| bad(NUMBERS[at]))?);
            }
        }
        let state_ok = state.ok_or(ClusterInfoError::Missing("cluster_state"))?;
        let get = |at: usize| numbers[at].ok_or(ClusterInfoError::Missing(NUMBERS[at]));
        let small = |at: usize| get(at).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        Ok(ClusterInfo {
            state_ok,
            slots_pfail: small(0)?,
            slots_fail: small(1)?,
            known_nodes: small(2)?,
            size: small(3)?,
            current_epoch: get(4)?,
            my_epoch: get(5)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis 7.0's reply on a healthy node (Valkey 8+ and Redis 8.4 add fields after these).
    const HEALTHY: &str = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:6\r\ncluster_my_epoch:2\r\ncluster_stats_messages_ping_sent:1483\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n";

    #[test]
    fn reads_state_slots_nodes_and_epochs() {
        let info = ClusterInfo::parse(HEALTHY).unwrap();
        assert_eq!(
            info,
            ClusterInfo {
                state_ok: true,
                slots_pfail: 0,
                slots_fail: 0,
                known_nodes: 6,
                size: 3,
                current_epoch: 6,
                my_epoch: 2,
            }
        );
        let down = HEALTHY
            .replace("cluster_state:ok", "cluster_state:fail")
            .replace("cluster_slots_pfail:0", "cluster_slots_pfail:5461")
            .replace("cluster_slots_fail:0", "cluster_slots_fail:12");
        let info = ClusterInfo::parse(&down).unwrap();
        assert_eq!(
            (info.state_ok, info.slots_pfail, info.slots_fail),
            (false, 5461, 12)
        );
        // Valkey 9.1 adds fields (and Redis 8.4 cluster_slot_migration_active_tasks).
        let more = format!("{HEALTHY}cluster_slot_migration_active_tasks:1\r\n");
        assert!(ClusterInfo::parse(&more).unwrap().state_ok);
    }

    #[test]
    fn bad_replies_name_the_field_and_line() {
        assert_eq!(
            ClusterInfo::parse("cluster_size:3\r\n").unwrap_err(),
            ClusterInfoError::Missing("cluster_state")
        );
        let err = ClusterInfo::parse(&HEALTHY.replace("cluster_state:ok", "cluster_state:meh"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "CLUSTER INFO line 1: cluster_state: unexpected \"meh\""
        );
        let err =
            ClusterInfo::parse(&HEALTHY.replace("cluster_size:3", "cluster_size:-3")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CLUSTER INFO line 7: cluster_size: unexpected \"-3\""
        );
        let missing = HEALTHY.replace("cluster_my_epoch:2\r\n", "");
        assert_eq!(
            ClusterInfo::parse(&missing).unwrap_err(),
            ClusterInfoError::Missing("cluster_my_epoch")
        );
        assert_eq!(
            ClusterInfo::parse("").unwrap_err(),
            ClusterInfoError::Missing("cluster_state")
        );
    }
}
