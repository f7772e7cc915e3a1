//! Per-slot load from `CLUSTER SLOT-STATS` (Valkey 8.0+, Redis 8.2+). Pure.
//!
//! The reply is an array with one entry per slot the node owns in the range asked: the slot
//! number, then its fields as a flat key/value array (RESP2) or a map (RESP3). `key-count` is
//! always there; `cpu-usec`, `network-bytes-in` and `network-bytes-out` only while
//! `cluster-slot-stats-enabled` is `yes`; Redis adds `memory-bytes`, which is not read here.
//! The three counters count from when the slot came to the node (or its last `CONFIG
//! RESETSTAT`, or the node's start), so a slot that moves away and back starts again at 0: a
//! reset, as for any counter.

use ::redis::Value;
use serde::Serialize;

use crate::server_info::{Family, ServerInfo};
use crate::slot::SLOT_COUNT;

/// One measure a slot's stats carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Keys in the slot (`key-count`): a gauge.
    Keys,
    /// Microseconds of CPU spent on the slot's commands (`cpu-usec`): a counter.
    Cpu,
    /// Bytes of the slot's commands received (`network-bytes-in`): a counter.
    NetworkIn,
    /// Bytes of the slot's replies sent (`network-bytes-out`): a counter.
    NetworkOut,
}

impl Metric {
    /// Every measure, in the order of [`SlotStat::values`].
    pub const ALL: [Metric; 4] = [
        Metric::Keys,
        Metric::Cpu,
        Metric::NetworkIn,
        Metric::NetworkOut,
    ];

    /// The field name the server uses, in replies and after `ORDERBY`.
    pub fn field(self) -> &'static str {
        match self {
            Metric::Keys => "key-count",
            Metric::Cpu => "cpu-usec",
            Metric::NetworkIn => "network-bytes-in",
            Metric::NetworkOut => "network-bytes-out",
        }
    }

    /// The name in labels, JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Keys => "keys",
            Metric::Cpu => "cpu",
            Metric::NetworkIn => "network_in",
            Metric::NetworkOut => "network_out",
        }
    }

    /// Its index in [`SlotStat::values`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Whether a server has `CLUSTER SLOT-STATS`: Valkey 8.0+ and Redis 8.2+. Known from its
/// version, never by asking, which an older server would count as an error reply.
pub fn supported(server: &ServerInfo) -> bool {
    match server.family {
        Family::Valkey => server.version >= (8, 0, 0),
        Family::Redis => server.version >= (8, 2, 0),
    }
}

/// One slot's stats, as one node reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotStat {
    /// The slot.
    pub slot: u16,
    /// Its measures in the order of [`Metric::ALL`]; `None` for one the node did not report.
    pub values: [Option<u64>; 4],
}

impl SlotStat {
    /// The value of `metric`, 0 when not reported.
    pub fn get(&self, metric: Metric) -> u64 {
        self.values[metric.index()].unwrap_or(0)
    }
}

/// Why a `CLUSTER SLOT-STATS` reply could not be read; names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotStatsError {
    /// The reply is not an array of entries.
    #[error("CLUSTER SLOT-STATS: expected an array, got {0}")]
    Shape(String),
    /// An entry is not `[slot, fields]`.
    #[error("CLUSTER SLOT-STATS entry {entry}: expected [slot, fields], got {got}")]
    Entry {
        /// 1-based entry number.
        entry: usize,
        /// The entry, shortened.
        got: String,
    },
    /// An entry's slot is not a slot number.
    #[error("CLUSTER SLOT-STATS entry {entry}: {slot} is not a slot")]
    Slot {
        /// 1-based entry number.
        entry: usize,
        /// The number given.
        slot: i64,
    },
    /// A field's value is not a non-negative integer.
    #[error("CLUSTER SLOT-STATS entry {entry}: {field} is not a count")]
    Value {
        /// 1-based entry number.
        entry: usize,
        /// The field.
        field: &'static str,
    },
}

/// The largest value a measure keeps: 2^48 (281 trillion keys, microseconds or bytes per
/// slot), so that sums over 16384 slots can never overflow, whatever a node sends.
pub const MAX_VALUE: u64 = 1 << 48;

/// Reads a `CLUSTER SLOT-STATS` reply (either form, RESP2 or RESP3), in slot order. A slot
/// listed twice keeps its last entry; unknown fields are skipped; values are capped at
/// [`MAX_VALUE`].
pub fn parse(reply: &Value) -> Result<Vec<SlotStat>, SlotStatsError> {
    let entries: Vec<(&Value, &Value)> = match reply {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, e)| match e {
                Value::Array(pair) if pair.len() == 2 => Ok((&pair[0], &pair[1])),
                other => Err(SlotStatsError::Entry {
                    entry: i + 1,
                    got: short(other),
                }),
            })
            .collect::<Result<_, _>>()?,
        // A RESP3 server could as well send the outer level as a map of slot to fields.
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        other => return Err(SlotStatsError::Shape(short(other))),
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, (slot, fields)) in entries.into_iter().enumerate() {
        let entry = i + 1;
        let slot = match slot {
            Value::Int(n) if (0..i64::from(SLOT_COUNT)).contains(n) => *n as u16,
            Value::Int(n) => return Err(SlotStatsError::Slot { entry, slot: *n }),
            other => {
                return Err(SlotStatsError::Entry {
                    entry,
                    got: short(other),
                });
            }
        };
        let pairs: Vec<(&Value, &Value)> = match fields {
            Value::Array(flat) if flat.len() % 2 == 0 => {
                flat.chunks(2).map(|p| (&p[0], &p[1])).collect()
            }
            Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
            other => {
                return Err(SlotStatsError::Entry {
                    entry,
                    got: short(other),
                });
            }
        };
        let mut values = [None; 4];
        for (name, value) in pairs {
            let name = match name {
                Value::BulkString(b) => b.as_slice(),
                Value::SimpleString(s) => s.as_bytes(),
                _ => continue,
            };
            let Some(metric) = Metric::ALL.iter().find(|m| m.field().as_bytes() == name) else {
                continue;
            };
            values[metric.index()] = Some(match value {
                Value::Int(n) if *n >= 0 => (*n as u64).min(MAX_VALUE),
                _ => {
                    return Err(SlotStatsError::Value {
                        entry,
                        field: metric.field(),
                    });
                }
            });
        }
        out.push(SlotStat { slot, values });
    }
    // Stable: of a slot's entries, the last stays.
    out.sort_by_key(|s| s.slot);
    out.reverse();
    out.dedup_by_key(|s| s.slot);
    out.reverse();
    Ok(out)
}

/// A reply value for an error message: its debug form, at most 64 characters.
fn short(v: &Value) -> String {
    format!("{v:?}").chars().take(64).collect()
}

/// What one master's slots carry, from one reading of its stats: totals, and its busiest
/// slots per measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLoad {
    /// Unix ms of the reading.
    pub read_at_ms: u64,
    /// Slots reported.
    pub slots: u32,
    /// Per measure (in the order of [`Metric::ALL`]) the sum over its slots; `None` for a
    /// measure the node does not report (`cluster-slot-stats-enabled no`).
    pub totals: [Option<u64>; 4],
    /// Per measure, its `k` busiest slots, busiest first, as (slot, value); ties by slot.
    pub top: [Vec<(u16, u64)>; 4],
}

impl NodeLoad {
    /// The load of one node's stats, keeping the `k` busiest slots per measure.
    pub fn of(stats: &[SlotStat], k: usize, read_at_ms: u64) -> NodeLoad {
        let mut totals = [None; 4];
        let mut top: [Vec<(u16, u64)>; 4] = Default::default();
        for metric in Metric::ALL {
            let i = metric.index();
            let reported: Vec<(u16, u64)> = stats
                .iter()
                .filter_map(|s| Some((s.slot, s.values[i]?)))
                .collect();
            if reported.is_empty() {
                continue;
            }
            totals[i] = Some(reported.iter().map(|(_, v)| *v).sum());
            let mut busiest: Vec<(u16, u64)> =
                reported.into_iter().filter(|(_, v)| *v > 0).collect();
            busiest.sort_unstable_by_key(|(slot, v)| (std::cmp::Reverse(*v), *slot));
            busiest.truncate(k);
            top[i] = busiest;
        }
        NodeLoad {
            read_at_ms,
            slots: stats.len() as u32,
            totals,
            top,
        }
    }

    /// The total of `metric`, if the node reports it.
    pub fn total(&self, metric: Metric) -> Option<u64> {
        self.totals[metric.index()]
    }
}

/// The per-second rate of a counter between two readings; `None` across a reset (the counter
/// went down: a slot left, `CONFIG RESETSTAT`, a restart) or without time between them.
pub fn rate(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let ((t0, v0), (t1, v1)) = (before, after);
    if t1 <= t0 || v1 < v0 {
        return None;
    }
    Some((v1 - v0) as f64 / ((t1 - t0) as f64 / 1000.0))
}

/// `max / mean` of non-negative values: 1 when even (or all zero); `None` for none.
pub fn spread(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let max = values.iter().copied().fold(0.0, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Some(if mean > 0.0 { max / mean } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// An entry as Valkey 9.1 and Redis 8.2 send it in RESP2.
    fn entry(slot: i64, fields: &[(&str, i64)]) -> Value {
        Value::Array(vec![
            Value::Int(slot),
            Value::Array(
                fields
                    .iter()
                    .flat_map(|(k, v)| [bulk(k), Value::Int(*v)])
                    .collect(),
            ),
        ])
    }

    #[test]
    fn resp2_and_resp3_entries_read_alike() {
        let enabled = [
            ("key-count", 2),
            ("cpu-usec", 7),
            ("network-bytes-in", 23),
            ("network-bytes-out", 7),
            ("memory-bytes", 99),
        ];
        let flat = Value::Array(vec![entry(0, &enabled), entry(3, &[("key-count", 1)])]);
        let map = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Map(
                    enabled
                        .iter()
                        .map(|(k, v)| (bulk(k), Value::Int(*v)))
                        .collect(),
                ),
            ]),
            Value::Array(vec![
                Value::Int(3),
                Value::Map(vec![(bulk("key-count"), Value::Int(1))]),
            ]),
        ]);
        for reply in [flat, map] {
            let stats = parse(&reply).unwrap();
            assert_eq!(
                stats,
                [
                    SlotStat {
                        slot: 0,
                        values: [Some(2), Some(7), Some(23), Some(7)]
                    },
                    SlotStat {
                        slot: 3,
                        values: [Some(1), None, None, None]
                    }
                ]
            );
        }
        assert_eq!(parse(&Value::Array(vec![])).unwrap(), []);
    }

    #[test]
    fn malformed_replies_name_the_entry() {
        let err = |v: Value| parse(&v).unwrap_err().to_string();
        let shape = err(bulk("x"));
        assert!(
            shape.starts_with("CLUSTER SLOT-STATS: expected an array, got "),
            "{shape}"
        );
        assert!(shape.contains('x'), "{shape}");
        let entry2 = err(Value::Array(vec![entry(1, &[]), Value::Int(4)]));
        assert!(
            entry2.starts_with("CLUSTER SLOT-STATS entry 2: expected [slot, fields], got "),
            "{entry2}"
        );
        assert_eq!(
            err(Value::Array(vec![entry(16384, &[])])),
            "CLUSTER SLOT-STATS entry 1: 16384 is not a slot"
        );
        assert_eq!(
            err(Value::Array(vec![entry(-1, &[])])),
            "CLUSTER SLOT-STATS entry 1: -1 is not a slot"
        );
        assert_eq!(
            err(Value::Array(vec![entry(5, &[("cpu-usec", -3)])])),
            "CLUSTER SLOT-STATS entry 1: cpu-usec is not a count"
        );
        let odd = Value::Array(vec![Value::Array(vec![
            Value::Int(1),
            Value::Array(vec![bulk("key-count")]),
        ])]);
        assert!(err(odd).starts_with("CLUSTER SLOT-STATS entry 1: expected [slot, fields]"));
    }

    #[test]
    fn a_node_s_load_sums_its_slots_and_keeps_its_busiest() {
        let stat = |slot, keys, cpu| SlotStat {
            slot,
            values: [Some(keys), cpu, None, None],
        };
        let stats = [
            stat(1, 5, Some(100)),
            stat(2, 9, Some(0)),
            stat(3, 9, Some(300)),
            stat(4, 0, Some(50)),
        ];
        let load = NodeLoad::of(&stats, 2, 7);
        assert_eq!(load.totals, [Some(23), Some(450), None, None]);
        assert_eq!(load.top[Metric::Keys.index()], [(2, 9), (3, 9)]);
        assert_eq!(load.top[Metric::Cpu.index()], [(3, 300), (1, 100)]);
        assert!(load.top[Metric::NetworkIn.index()].is_empty());
        assert_eq!((load.slots, load.read_at_ms), (4, 7));
        // Idle slots are nobody's busiest.
        let idle = NodeLoad::of(&[stat(1, 0, Some(0))], 3, 0);
        assert!(idle.top.iter().all(Vec::is_empty));
        assert_eq!(idle.total(Metric::Cpu), Some(0));
    }

    #[test]
    fn rates_skip_resets_and_spread_is_max_over_mean() {
        assert_eq!(rate((1_000, 10), (3_000, 30)), Some(10.0));
        assert_eq!(rate((1_000, 10), (3_000, 5)), None, "a reset");
        assert_eq!(rate((1_000, 10), (1_000, 30)), None);
        assert_eq!(spread(&[1.0, 2.0, 3.0]), Some(1.5));
        assert_eq!(spread(&[0.0, 0.0]), Some(1.0));
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn support_comes_from_the_version() {
        let s = |family, version| supported(&ServerInfo { family, version });
        assert!(s(Family::Valkey, (8, 0, 0)));
        assert!(!s(Family::Valkey, (7, 2, 4)));
        assert!(s(Family::Redis, (8, 2, 0)));
        assert!(!s(Family::Redis, (8, 0, 2)));
        assert!(!s(Family::Redis, (7, 0, 15)));
    }
}
