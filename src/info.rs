//! `INFO errorstats` and `INFO stats` text to the counters slotwatch exports. Pure.
//!
//! Redis counts every error reply it sends in `errorstat_<PREFIX>:count=N` (Redis 6.2+). MOVED
//! and ASK redirects are error replies, so their counts are exactly the redirects the node sent.

/// Counters read from one node's INFO sections. `None` means the server did not report it
/// (e.g. `errorstats` before Redis 6.2), which is different from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeCounters {
    /// `errorstat_MOVED` count.
    pub moved: Option<u64>,
    /// `errorstat_ASK` count.
    pub ask: Option<u64>,
    /// `total_commands_processed` from `INFO stats`.
    pub commands_processed: Option<u64>,
    /// True if the reply had an `# Errorstats` section, so a missing MOVED line means zero.
    pub has_errorstats: bool,
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
}

/// Reads the counters slotwatch needs from one or more INFO replies; unknown lines are ignored
/// and malformed values are treated as absent, because INFO is free-form and grows over time.
pub fn parse_info(text: &str, into: &mut NodeCounters) {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(section) = line.strip_prefix('#') {
            if section.trim().eq_ignore_ascii_case("errorstats") {
                into.has_errorstats = true;
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "total_commands_processed" => into.commands_processed = value.trim().parse().ok(),
            "errorstat_MOVED" => into.moved = errorstat_count(value),
            "errorstat_ASK" => into.ask = errorstat_count(value),
            "errorstat_ERRORSTATS_DISABLED" => into.errorstats_disabled = true,
            _ => {}
        }
    }
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
    fn garbage_is_ignored() {
        let mut c = NodeCounters::default();
        parse_info(
            "errorstat_MOVED:count=x\nnonsense\n:\n::::\ntotal_commands_processed:-1\n",
            &mut c,
        );
        assert_eq!(c.moved, None);
        assert_eq!(c.commands_processed, None);
    }
}
