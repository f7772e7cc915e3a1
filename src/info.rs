//! `INFO errorstats`, `INFO stats` and `INFO commandstats` text to the counters slotwatch
//! exports. Pure.
//!
//! Redis counts every error reply it sends in `errorstat_<PREFIX>:count=N` (Redis 6.2+). MOVED
//! and ASK redirects are error replies, so their counts are exactly the redirects the node sent.
//! `cmdstat_<command>:...,rejected_calls=N` (Redis 6.2+) counts the calls of a command that were
//! refused before running: redirects, but also CROSSSLOT, TRYAGAIN, CLUSTERDOWN, ACL, OOM and
//! arity errors, so a per-command view of redirects is approximate.

/// The cluster errors other than redirects that slotwatch counts, by their errorstats prefix,
/// with the label value each gets in `redis_cluster_error_replies_total{error}`.
pub const CLUSTER_ERRORS: [(&str, &str); 3] = [
    // A multi-key command whose keys hash to different slots: a client bug.
    ("CROSSSLOT", "crossslot"),
    // A multi-key command on a slot being migrated with its keys split between the nodes.
    ("TRYAGAIN", "tryagain"),
    // The cluster is down (slots uncovered, or the node cannot reach a majority).
    ("CLUSTERDOWN", "clusterdown"),
];

/// Counters read from one node's INFO sections. `None` means the server did not report it
/// (e.g. `errorstats` before Redis 6.2), which is different from zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeCounters {
    /// `errorstat_MOVED` count.
    pub moved: Option<u64>,
    /// `errorstat_ASK` count.
    pub ask: Option<u64>,
    /// Counts of the [`CLUSTER_ERRORS`], in that order.
    pub cluster_errors: [Option<u64>; CLUSTER_ERRORS.len()],
    /// `total_commands_processed` from `INFO stats`.
    pub commands_processed: Option<u64>,
    /// `total_error_replies` from `INFO stats` (Redis 6.2+): every error reply, refusals
    /// included, so `rejected_calls` cannot have changed while it stays the same.
    pub error_replies: Option<u64>,
    /// `rejected_calls` of each command that has any, by command name (`get`, `client|list`),
    /// sorted; from `INFO commandstats`.
    pub rejected_calls: Vec<(String, u64)>,
    /// True if the reply had a `# Commandstats` section, so `rejected_calls` was read (and an
    /// empty list means none), rather than not asked for.
    pub has_commandstats: bool,
    /// True if the reply had an `# Errorstats` section, so a missing MOVED line means zero.
    pub has_errorstats: bool,
    /// Databases other than 0 that hold keys, ascending, from `INFO keyspace` when it was
    /// asked (Valkey 9's `cluster-databases` above 1 allows them in cluster mode).
    pub other_databases: Vec<u16>,
    /// Redis stopped tracking error stats (`errorstat_ERRORSTATS_DISABLED`, after 128 distinct
    /// error prefixes, until `CONFIG RESETSTAT`): the redirect counts are unknown, not zero.
    pub errorstats_disabled: bool,
}

impl NodeCounters {
    /// MOVED count, treating an absent line in a present `errorstats` section as zero.
    pub fn moved_total(&self) -> Option<u64> {
        if self.errorstats_disabled {
            return None;
        }
        self.moved.or(self.has_errorstats.then_some(0))
    }

    /// ASK count, treating an absent line in a present `errorstats` section as zero.
    pub fn ask_total(&self) -> Option<u64> {
        if self.errorstats_disabled {
            return None;
        }
        self.ask.or(self.has_errorstats.then_some(0))
    }

    /// Count of the `i`th of the [`CLUSTER_ERRORS`], treating an absent line in a present
    /// `errorstats` section as zero.
    pub fn cluster_error_total(&self, i: usize) -> Option<u64> {
        if self.errorstats_disabled {
            return None;
        }
        self.cluster_errors
            .get(i)
            .copied()
            .flatten()
            .or(self.has_errorstats.then_some(0))
    }

    /// Rejected calls over all commands: every refusal the node answered, redirects included.
    /// Saturating: the counts are the node's word, and a hostile node's must not overflow.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_calls
            .iter()
            .fold(0, |sum, (_, n)| sum.saturating_add(*n))
    }
}

/// The database of an `INFO keyspace` line (`db3:keys=5,expires=0,avg_ttl=0`) when it is not
/// database 0 and holds keys.
fn other_database(key: &str, value: &str) -> Option<u16> {
    let db = key.strip_prefix("db")?;
    if !db.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let db: u16 = db.parse().ok().filter(|db| *db != 0)?;
    let keys: u64 = value
        .split(',')
        .find_map(|kv| kv.strip_prefix("keys="))?
        .trim()
        .parse()
        .ok()?;
    (keys > 0).then_some(db)
}

/// Reads the counters slotwatch needs from one or more INFO replies; unknown lines are ignored
/// and malformed values are treated as absent, because INFO is free-form and grows over time.
pub fn parse_info(text: &str, into: &mut NodeCounters) {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(section) = line.strip_prefix('#') {
            let section = section.trim();
            if section.eq_ignore_ascii_case("errorstats") {
                into.has_errorstats = true;
            } else if section.eq_ignore_ascii_case("commandstats") {
                into.has_commandstats = true;
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "total_commands_processed" => into.commands_processed = value.trim().parse().ok(),
            "total_error_replies" => into.error_replies = value.trim().parse().ok(),
            "errorstat_MOVED" => into.moved = errorstat_count(value),
            "errorstat_ASK" => into.ask = errorstat_count(value),
            "errorstat_ERRORSTATS_DISABLED" => into.errorstats_disabled = true,
            _ => {
                if let Some(db) = other_database(key, value) {
                    into.other_databases.push(db);
                } else if let Some(prefix) = key.strip_prefix("errorstat_") {
                    if let Some(i) = CLUSTER_ERRORS.iter().position(|(p, _)| *p == prefix) {
                        into.cluster_errors[i] = errorstat_count(value);
                    }
                } else if let Some(command) = key.strip_prefix("cmdstat_") {
                    let rejected = value
                        .split(',')
                        .find_map(|kv| kv.strip_prefix("rejected_calls="))
                        .and_then(|n| n.trim().parse::<u64>().ok());
                    if let Some(n) = rejected.filter(|n| *n > 0) {
                        into.rejected_calls.push((command.to_ascii_lowercase(), n));
                    }
                }
            }
        }
    }
    into.rejected_calls.sort();
    into.rejected_calls.dedup_by(|a, b| a.0 == b.0);
}

/// Extracts `count` from `count=12` (the whole value of an `errorstat_*` line).
fn errorstat_count(value: &str) -> Option<u64> {
    value
        .split(',')
        .find_map(|kv| kv.strip_prefix("count="))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redirects_and_commands() {
        let errorstats = "# Errorstats\r\nerrorstat_ASK:count=3\r\nerrorstat_ERR:count=9\r\nerrorstat_MOVED:count=1024\r\n";
        let stats = "# Stats\r\ntotal_connections_received:5\r\ntotal_commands_processed:98765\r\ninstantaneous_ops_per_sec:0\r\n";
        let mut c = NodeCounters::default();
        parse_info(errorstats, &mut c);
        parse_info(stats, &mut c);
        assert_eq!(c.moved_total(), Some(1024));
        assert_eq!(c.ask_total(), Some(3));
        assert_eq!(c.commands_processed, Some(98765));
    }

    #[test]
    fn other_databases_with_keys_come_from_the_keyspace() {
        // Valkey 9 with cluster-databases 16: keys in db 0, 3 and 12; db 5 emptied.
        let keyspace = "# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=4,expires=1,avg_ttl=0\r\ndb5:keys=0,expires=0,avg_ttl=0\r\ndb12:keys=1,expires=0,avg_ttl=0\r\n";
        let mut c = NodeCounters::default();
        parse_info(keyspace, &mut c);
        assert_eq!(c.other_databases, [3, 12]);
        // Not keyspace lines, though they start alike.
        let mut odd = NodeCounters::default();
        parse_info("dbx:keys=3\r\ndb7:expires=2\r\ndb9:keys=many\r\n", &mut odd);
        assert!(odd.other_databases.is_empty(), "{:?}", odd.other_databases);
    }

    #[test]
    fn empty_errorstats_means_zero_but_missing_section_means_unknown() {
        let mut c = NodeCounters::default();
        parse_info("# Errorstats\r\n", &mut c);
        assert_eq!((c.moved_total(), c.ask_total()), (Some(0), Some(0)));
        let mut old = NodeCounters::default();
        parse_info("", &mut old);
        assert_eq!(old.moved_total(), None);
    }

    #[test]
    fn disabled_errorstats_make_redirects_unknown() {
        let mut c = NodeCounters::default();
        parse_info(
            "# Errorstats\r\nerrorstat_ERRORSTATS_DISABLED:count=1\r\n",
            &mut c,
        );
        assert_eq!((c.moved_total(), c.ask_total()), (None, None));
    }

    #[test]
    fn reads_other_cluster_errors_and_rejected_calls_by_command() {
        // As Redis 7.0 prints them (cmdstat lines trimmed of fields slotwatch ignores).
        let text = "# Errorstats\r\nerrorstat_CROSSSLOT:count=4\r\nerrorstat_MOVED:count=34\r\n\
                    errorstat_TRYAGAIN:count=1\r\n# Commandstats\r\n\
                    cmdstat_get:calls=16,usec=40,usec_per_call=2.50,rejected_calls=34,failed_calls=0\r\n\
                    cmdstat_mset:calls=0,usec=0,usec_per_call=0.00,rejected_calls=5,failed_calls=0\r\n\
                    cmdstat_client|setname:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_set:calls=9,usec=20,usec_per_call=2.22\r\n";
        let mut c = NodeCounters::default();
        parse_info(text, &mut c);
        let by_name = |label: &str| {
            let i = CLUSTER_ERRORS
                .iter()
                .position(|(_, l)| *l == label)
                .unwrap();
            c.cluster_error_total(i)
        };
        assert_eq!(by_name("crossslot"), Some(4));
        assert_eq!(by_name("tryagain"), Some(1));
        assert_eq!(
            by_name("clusterdown"),
            Some(0),
            "absent from a present section"
        );
        assert_eq!(
            c.rejected_calls,
            [("get".to_owned(), 34), ("mset".to_owned(), 5)]
        );
        assert_eq!(c.rejected_total(), 39);
        assert!(c.has_commandstats);
    }

    #[test]
    fn huge_rejected_counts_saturate_instead_of_overflowing() {
        // Found by the parse_info fuzz target: two counts whose sum passes u64::MAX.
        let mut c = NodeCounters::default();
        let big = u64::MAX / 2 + 1;
        parse_info(
            &format!("cmdstat_get:rejected_calls={big}\ncmdstat_set:rejected_calls={big}\n"),
            &mut c,
        );
        assert_eq!(c.rejected_total(), u64::MAX);
    }

    #[test]
    fn tells_whether_commandstats_was_read() {
        // A node that refused nothing: no rejected calls, but the section was there.
        let mut read = NodeCounters::default();
        parse_info(
            "# Stats\r\ntotal_error_replies:17\r\n# Commandstats\r\ncmdstat_info:calls=3,usec=9,rejected_calls=0\r\n",
            &mut read,
        );
        assert_eq!(read.error_replies, Some(17));
        assert!(read.has_commandstats && read.rejected_calls.is_empty());
        let mut not_asked = NodeCounters::default();
        parse_info("# Stats\r\ntotal_error_replies:17\r\n", &mut not_asked);
        assert!(!not_asked.has_commandstats);
    }

    #[test]
    fn garbage_is_ignored() {
        let mut c = NodeCounters::default();
        parse_info(
            "errorstat_MOVED:count=x\nnonsense\n:\n::::\ntotal_commands_processed:-1\n\
             cmdstat_get:rejected_calls=-3\ncmdstat_:rejected_calls=\nerrorstat_TRYAGAIN:count\n",
            &mut c,
        );
        assert_eq!(c.moved, None);
        assert_eq!(c.commands_processed, None);
    }
}
