//! Reading one round trip's replies into the parts of a [`Sample`](super::sample::Sample):
//! key counts, `CLUSTER INFO`, the job log, and what the server turned out to support. Pure:
//! values in, data out, so that unit tests read real-shaped replies without a server.

use ::redis::{RedisError, Value};

use super::sample::Jobs;
use crate::cluster_info::ClusterInfo;
use crate::redis::{FetchError, ProtocolError};
use crate::topology::atomic::{Dialect, parse_jobs};

/// Whether and how a connection's server shows its atomic migration jobs: known from its
/// version when the connection opens, or (a server that names no version) from its answer to
/// Valkey's `CLUSTER GETSLOTMIGRATIONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobSupport {
    /// It answers in this dialect.
    Yes(Dialect),
    /// It has no job log (Redis before 8.4, Valkey before 9).
    No,
    /// The ACL refuses it; the server's words.
    Denied(String),
}

/// Each counted slot's keys over database 0 and the `databases` other databases asked: a slot whose count
/// is missing or refused in database 0 is left out, and a database whose SELECT was refused
/// adds nothing (its counts would be another database's).
pub(super) fn count_keys(
    count_slots: &[u16],
    databases: usize,
    next: &mut impl FnMut() -> Value,
) -> Vec<(u16, u64)> {
    let slots = count_slots.len();
    let mut keys = read_counts(slots, next);
    for _ in 0..databases {
        let selected = matches!(next(), Value::Okay | Value::SimpleString(_));
        let more = read_counts(slots, next);
        if selected {
            for (k, m) in keys.iter_mut().zip(more) {
                // A refused count in another database leaves database 0's count standing.
                *k = k.map(|k| k.saturating_add(m.unwrap_or(0)));
            }
        }
    }
    count_slots
        .iter()
        .zip(keys)
        .filter_map(|(slot, k)| k.map(|k| (*slot, k)))
        .collect()
}

/// The next `n` replies as counts; `None` for one that is not a count.
fn read_counts(n: usize, next: &mut impl FnMut() -> Value) -> Vec<Option<u64>> {
    (0..n)
        .map(|_| match next() {
            Value::Int(n) => u64::try_from(n).ok(),
            _ => None,
        })
        .collect()
}

/// The `CLUSTER INFO` reply: `None` when refused (an ACL written before slotwatch read it),
/// which leaves the node's own state unknown rather than failing the whole visit.
pub(super) fn read_cluster_info(v: Value) -> Result<Option<ClusterInfo>, FetchError> {
    if let Value::ServerError(_) = v {
        return Ok(None);
    }
    ClusterInfo::parse(&String::from_utf8_lossy(&bytes(v)))
        .map(Some)
        .map_err(|e| FetchError::Protocol(ProtocolError::ClusterInfo(e)))
}

/// A reply that must not be an error: an error fails the fetch, classified as usual.
pub(super) fn required(v: Value) -> Result<Value, FetchError> {
    match v {
        Value::ServerError(e) => Err(FetchError::from_redis(&RedisError::from(e))),
        v => Ok(v),
    }
}

/// The bytes of a string reply (RESP2 bulk, RESP3 verbatim); empty for anything else.
pub(super) fn bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => s.into_bytes(),
        _ => Vec::new(),
    }
}

/// The job log's reply (`CLUSTER GETSLOTMIGRATIONS` or `CLUSTER MIGRATION STATUS ALL`): an
/// array of entries, each a flat key/value array (RESP2) or a map (RESP3), in both servers.
pub(super) fn read_jobs(dialect: Dialect, v: Value) -> Result<(JobSupport, Jobs), FetchError> {
    let entries = match v {
        Value::ServerError(e) => {
            let denied = e.code() == "NOPERM";
            let text = RedisError::from(e).to_string();
            return Ok(if denied {
                (JobSupport::Denied(text.clone()), Jobs::Denied(text))
            } else {
                // "unknown subcommand": a server that named no version, and lacks it.
                (JobSupport::No, Jobs::Unsupported)
            });
        }
        Value::Array(entries) => entries,
        other => {
            return Err(FetchError::Protocol(ProtocolError::JobsShape {
                command: dialect.command_line(),
                got: format!("{other:?}").chars().take(64).collect(),
            }));
        }
    };
    let text = |v: &Value| match v {
        Value::Int(n) => n.to_string(),
        other => String::from_utf8_lossy(&bytes(other.clone())).into_owned(),
    };
    let pairs: Vec<Vec<(String, String)>> = entries
        .iter()
        .map(|e| match e {
            Value::Array(flat) => flat
                .chunks(2)
                .filter(|p| p.len() == 2)
                .map(|p| (text(&p[0]), text(&p[1])))
                .collect(),
            Value::Map(map) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
            _ => Vec::new(),
        })
        .collect();
    let jobs = parse_jobs(dialect, &pairs).map_err(|source| {
        FetchError::Protocol(ProtocolError::Job {
            command: dialect.command_line(),
            source,
        })
    })?;
    Ok((JobSupport::Yes(dialect), Jobs::Read(jobs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::testdata::{A, B};

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// An error reply as a server sends it.
    fn refusal(code: &str) -> Value {
        let line = format!("-{code} User slotwatch has no permissions\r\n");
        let v = ::redis::parse_redis_value(line.as_bytes()).unwrap();
        assert!(matches!(v, Value::ServerError(_)), "{v:?}");
        v
    }

    #[test]
    fn cluster_info_is_read_refused_as_unknown_and_malformed_as_an_error() {
        let info = read_cluster_info(bulk(
            "cluster_state:fail\r\ncluster_slots_pfail:1\r\ncluster_slots_fail:0\r\n\
             cluster_known_nodes:3\r\ncluster_size:3\r\ncluster_current_epoch:3\r\n\
             cluster_my_epoch:1\r\n",
        ))
        .unwrap();
        assert_eq!(info.map(|i| (i.state_ok, i.slots_pfail)), Some((false, 1)));
        assert_eq!(read_cluster_info(refusal("NOPERM")).unwrap(), None);
        let err = read_cluster_info(bulk("OK")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad reply: CLUSTER INFO has no cluster_state"
        );
    }

    #[test]
    fn a_redis_task_list_reads_as_resp2_pairs_or_a_resp3_map() {
        let fields = [
            ("id", "t1"),
            ("slots", "0-99"),
            ("source", A),
            ("dest", B),
            ("operation", "import"),
            ("state", "completed"),
            ("last_error", ""),
        ];
        let flat = Value::Array(
            fields
                .iter()
                .flat_map(|(k, v)| [bulk(k), bulk(v)])
                .chain([bulk("retries"), Value::Int(0)])
                .chain([bulk("create_time"), Value::Int(1_764_000_000_000)])
                .chain([bulk("start_time"), Value::Int(-1)])
                .chain([bulk("end_time"), Value::Int(-1)])
                .collect(),
        );
        let map = match &flat {
            Value::Array(items) => Value::Map(
                items
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            ),
            _ => unreachable!(),
        };
        for entry in [flat, map] {
            let (support, jobs) = read_jobs(Dialect::Redis, Value::Array(vec![entry])).unwrap();
            assert_eq!(support, JobSupport::Yes(Dialect::Redis));
            let Jobs::Read(jobs) = jobs else {
                panic!("{jobs:?}")
            };
            assert_eq!(
                (jobs[0].state.as_str(), jobs[0].created_ms),
                ("success", 1_764_000_000_000)
            );
        }
        let err = read_jobs(Dialect::Redis, bulk("nope")).unwrap_err();
        assert!(
            err.to_string()
                .contains("CLUSTER MIGRATION STATUS ALL: expected an array"),
            "{err}"
        );
        let (support, _) = read_jobs(Dialect::Redis, refusal("NOPERM")).unwrap();
        assert!(matches!(support, JobSupport::Denied(_)), "{support:?}");
    }

    #[test]
    fn keys_add_up_over_databases_whose_select_succeeded() {
        // Slots 7 and 8: db0 counts 3 and 4; db3 selected, 10 and refused; db5 refused.
        let mut replies = vec![
            Value::Int(3),
            Value::Int(4),
            Value::Okay,
            Value::Int(10),
            refusal("ERR"),
            refusal("ERR"),
            Value::Int(100),
            Value::Int(100),
        ]
        .into_iter();
        let mut next = || replies.next().unwrap_or(Value::Nil);
        assert_eq!(count_keys(&[7, 8], 2, &mut next), [(7, 13), (8, 4)]);
    }
}
