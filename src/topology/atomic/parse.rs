//! Reading the two servers' job-log entries into [`Job`]s. Pure.

use super::{Dialect, Job, Operation};
use crate::slot::{SlotRange, parse_slot};
use crate::topology::NodeId;

/// Why an entry could not be read; names the entry and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A required field is absent.
    #[error("entry {entry}: no {field}")]
    Missing {
        /// 0-based index of the entry.
        entry: usize,
        /// The field.
        field: &'static str,
    },
    /// A field has a value it cannot have.
    #[error("entry {entry}: {field}: unexpected {value:?}")]
    Bad {
        /// 0-based index of the entry.
        entry: usize,
        /// The field.
        field: &'static str,
        /// The value, shortened.
        value: String,
    },
}

/// Reads the entries of one reply in the given dialect, each given as its (field, value)
/// pairs in reply order. Unknown fields are ignored: the replies grow between versions (Valkey
/// 9.1 added `remaining_repl_size`).
pub fn parse_jobs(
    dialect: Dialect,
    entries: &[Vec<(String, String)>],
) -> Result<Vec<Job>, JobError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, fields)| {
            let entry = Entry { index: i, fields };
            match dialect {
                Dialect::Valkey => valkey_job(&entry),
                Dialect::Redis => redis_job(&entry),
            }
        })
        .collect()
}

/// One entry's fields, and its place in the reply for errors.
struct Entry<'a> {
    index: usize,
    fields: &'a [(String, String)],
}

impl Entry<'_> {
    fn get(&self, field: &'static str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
    }

    fn need(&self, field: &'static str) -> Result<&str, JobError> {
        self.get(field).ok_or(JobError::Missing {
            entry: self.index,
            field,
        })
    }

    fn bad(&self, field: &'static str, value: &str) -> JobError {
        JobError::Bad {
            entry: self.index,
            field,
            value: value.chars().take(64).collect(),
        }
    }

    fn node(&self, field: &'static str) -> Result<Option<NodeId>, JobError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => NodeId::parse(v).map(Some).ok_or_else(|| self.bad(field, v)),
        }
    }

    fn name(&self, field: &'static str) -> Result<String, JobError> {
        let name = self.need(field)?;
        if name.is_empty() {
            return Err(self.bad(field, name));
        }
        Ok(name.to_owned())
    }

    fn ranges(&self, field: &'static str) -> Result<Vec<SlotRange>, JobError> {
        let text = self.need(field)?;
        parse_ranges(text).ok_or_else(|| self.bad(field, text))
    }

    /// The message, trailing line breaks removed; empty when absent.
    fn message(&self, field: &'static str) -> String {
        self.get(field)
            .map(|m| m.trim_end_matches(['\r', '\n']).to_owned())
            .unwrap_or_default()
    }

    /// A time field as a number: `None` for Redis's -1 (unset).
    fn time(&self, field: &'static str) -> Result<Option<u64>, JobError> {
        let v = self.need(field)?;
        match v.parse::<i64>() {
            Ok(-1) => Ok(None),
            Ok(t) => u64::try_from(t).map(Some).map_err(|_| self.bad(field, v)),
            Err(_) => Err(self.bad(field, v)),
        }
    }
}

/// A `CLUSTER GETSLOTMIGRATIONS` entry (Valkey 9).
fn valkey_job(e: &Entry) -> Result<Job, JobError> {
    let operation = match e.need("operation")?.to_ascii_uppercase().as_str() {
        "EXPORT" => Operation::Export,
        "IMPORT" => Operation::Import,
        _ => return Err(e.bad("operation", e.need("operation")?)),
    };
    let seconds = |field: &'static str| -> Result<u64, JobError> {
        let v = e.need(field)?;
        v.parse::<u64>()
            .map(|s| s.saturating_mul(1000))
            .map_err(|_| e.bad(field, v))
    };
    let ranges = e.ranges("slot_ranges")?;
    Ok(Job {
        name: e.name("name")?,
        operation,
        drives: operation == Operation::Export,
        ranges,
        source: e.node("source_node")?,
        target: e.node("target_node")?,
        created_ms: seconds("create_time")?,
        updated_ms: seconds("last_update_time")?,
        state: e.need("state")?.to_owned(),
        message: e.message("message"),
    })
}

/// A `CLUSTER MIGRATION STATUS` entry (Redis 8.4), as its documentation and source give it:
/// `id`, `slots`, `source`, `dest`, `operation` (`import`/`migrate`), `state`, `last_error`,
/// `retries`, `create_time`/`start_time`/`end_time` (Unix ms, -1 when unset) and
/// `write_pause_ms`.
fn redis_job(e: &Entry) -> Result<Job, JobError> {
    let operation = match e.need("operation")?.to_ascii_lowercase().as_str() {
        "migrate" => Operation::Export,
        "import" => Operation::Import,
        _ => return Err(e.bad("operation", e.need("operation")?)),
    };
    let ranges = e.ranges("slots")?;
    let created = e.time("create_time")?;
    let latest = [created, e.time("start_time")?, e.time("end_time")?]
        .into_iter()
        .flatten()
        .max();
    let state = match e.need("state")? {
        "completed" => "success",
        "canceled" => "cancelled",
        other => other,
    };
    Ok(Job {
        name: e.name("id")?,
        operation,
        drives: operation == Operation::Import,
        ranges,
        source: e.node("source")?,
        target: e.node("dest")?,
        created_ms: created.unwrap_or(0),
        updated_ms: latest.unwrap_or(0),
        state: state.to_owned(),
        message: e.message("last_error"),
    })
}

/// `100-110 200-200` to ranges; `None` if any part is not `start-end` with start <= end.
fn parse_ranges(text: &str) -> Option<Vec<SlotRange>> {
    let ranges = text
        .split_whitespace()
        .map(|part| {
            let (a, b) = part.split_once('-')?;
            SlotRange::new(parse_slot(a).ok()?, parse_slot(b).ok()?).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    (!ranges.is_empty()).then_some(ranges)
}
