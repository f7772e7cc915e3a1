//! What a node's server is and what it can be asked, from its `INFO server` text. Pure.
//!
//! slotwatch reads this once per connection, in the round trip that names the connection, and
//! decides from it which optional commands a poll sends. Asking a server for a command it does
//! not have would be answered with an error reply, which the server counts in the very
//! `errorstat_*` and `total_error_replies` counters slotwatch exports and users alert on: a
//! monitor must not add to them.

use crate::topology::atomic::Dialect;

/// The server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Redis.
    Redis,
    /// Valkey (which also reports a `redis_version`, frozen at 7.2.4, for old clients).
    Valkey,
}

/// A server's implementation and version, as its `INFO server` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerInfo {
    /// Redis or Valkey.
    pub family: Family,
    /// Major, minor and patch version of that implementation.
    pub version: (u16, u16, u16),
}

impl ServerInfo {
    /// Reads `INFO server` text; `None` when it names no version slotwatch can read, in which
    /// case the poll falls back to asking and remembering the answer.
    pub fn parse(text: &str) -> Option<ServerInfo> {
        let field = |name: &str| {
            text.lines()
                .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim())
        };
        // Valkey 8+ reports `valkey_version`. Valkey 7.2 reports only `redis_version` (its
        // own version then), and reads as Redis 7.2 here, which it behaves like.
        if let Some(v) = field("valkey_version") {
            return Some(ServerInfo {
                family: Family::Valkey,
                version: version(v)?,
            });
        }
        Some(ServerInfo {
            family: Family::Redis,
            version: version(field("redis_version")?)?,
        })
    }

    /// One `INFO` call takes several sections (Redis 7.0+; Valkey always). Redis 6.2 takes one
    /// section per call and refuses more with a syntax error.
    pub fn multi_section_info(&self) -> bool {
        match self.family {
            Family::Valkey => true,
            Family::Redis => self.version >= (7, 0, 0),
        }
    }

    /// How the server shows its atomic slot migration jobs, if it has them: Valkey 9.0+
    /// (`CLUSTER GETSLOTMIGRATIONS`) or Redis 8.4+ (`CLUSTER MIGRATION STATUS ALL`).
    pub fn slot_migration_jobs(&self) -> Option<Dialect> {
        match self.family {
            Family::Valkey if self.version >= (9, 0, 0) => Some(Dialect::Valkey),
            Family::Redis if self.version >= (8, 4, 0) => Some(Dialect::Redis),
            _ => None,
        }
    }
}

/// The `availability_zone` an `INFO server` text names (Valkey 8.0+, its `availability-zone`
/// setting); `None` when absent or empty, as it is unless an operator sets it.
pub fn availability_zone(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .find(|(k, _)| *k == "availability_zone")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        // A hostile node's zone must not grow every snapshot and label without bound.
        .map(|v| v.chars().take(64).collect())
}

/// `8.2.3` as numbers; a missing patch or minor reads as 0, anything unparsable as `None`.
fn version(text: &str) -> Option<(u16, u16, u16)> {
    let mut parts = text.split('.').map(|p| p.parse::<u16>().ok());
    let major = parts.next()??;
    let mut rest = || parts.next().unwrap_or(Some(0));
    Some((major, rest()?, rest()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Excerpts of the real `INFO server` replies of the servers in the test matrix.
    const REDIS_6_2: &str =
        "# Server\r\nredis_version:6.2.14\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n";
    const REDIS_7_0: &str =
        "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:cluster\r\n";
    const REDIS_8_2: &str =
        "# Server\r\nredis_version:8.2.3\r\nredis_git_sha1:b5d43ceb\r\nredis_mode:cluster\r\n";
    // Redis 8.4 is not in the matrix (no registry here carries it); its documented field.
    const REDIS_8_4: &str = "# Server\r\nredis_version:8.4.0\r\nredis_mode:cluster\r\n";
    const VALKEY_8_1: &str = "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.8\r\nvalkey_release_stage:ga\r\n";
    const VALKEY_9_0: &str =
        "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.0.0\r\n";

    #[test]
    fn the_zone_is_read_when_set_and_absent_when_empty_or_missing() {
        let set = format!("{VALKEY_8_1}availability_zone:eu-west-1a\r\n");
        assert_eq!(availability_zone(&set).as_deref(), Some("eu-west-1a"));
        let unset = format!("{VALKEY_8_1}availability_zone:\r\n");
        assert_eq!(availability_zone(&unset), None);
        assert_eq!(availability_zone(REDIS_7_0), None);
        let long = format!("availability_zone:{}\r\n", "z".repeat(500));
        assert_eq!(availability_zone(&long).map(|z| z.len()), Some(64));
    }

    fn parsed(text: &str) -> ServerInfo {
        ServerInfo::parse(text).expect("parses")
    }

    #[test]
    fn family_and_version_come_from_the_implementation_s_own_field() {
        assert_eq!(
            parsed(REDIS_8_2),
            ServerInfo {
                family: Family::Redis,
                version: (8, 2, 3)
            }
        );
        // Valkey's redis_version (7.2.4) is a compatibility value, not its version.
        assert_eq!(
            parsed(VALKEY_8_1),
            ServerInfo {
                family: Family::Valkey,
                version: (8, 1, 8)
            }
        );
    }

    #[test]
    fn multi_section_info_starts_with_redis_7_0() {
        assert!(!parsed(REDIS_6_2).multi_section_info());
        assert!(parsed(REDIS_7_0).multi_section_info());
        assert!(parsed(REDIS_8_2).multi_section_info());
        assert!(parsed(VALKEY_8_1).multi_section_info());
        let seven = ServerInfo {
            family: Family::Redis,
            version: (7, 0, 0),
        };
        assert!(seven.multi_section_info(), "7.0.0 itself");
    }

    #[test]
    fn slot_migration_jobs_are_valkey_9_and_redis_8_4() {
        let at = |family, version| ServerInfo { family, version }.slot_migration_jobs();
        assert_eq!(parsed(REDIS_8_2).slot_migration_jobs(), None);
        assert_eq!(parsed(VALKEY_8_1).slot_migration_jobs(), None);
        assert_eq!(
            parsed(VALKEY_9_0).slot_migration_jobs(),
            Some(Dialect::Valkey)
        );
        assert_eq!(
            parsed(REDIS_8_4).slot_migration_jobs(),
            Some(Dialect::Redis)
        );
        assert_eq!(at(Family::Redis, (8, 3, 9)), None);
        assert_eq!(at(Family::Redis, (8, 4, 0)), Some(Dialect::Redis));
        assert_eq!(at(Family::Valkey, (8, 9, 9)), None);
        // A Redis that one day reaches 9 still has no Valkey command.
        assert_eq!(at(Family::Redis, (9, 0, 0)), Some(Dialect::Redis));
    }

    #[test]
    fn versions_parse_leniently_but_not_blindly() {
        assert_eq!(version("8.2.3"), Some((8, 2, 3)));
        assert_eq!(version("9"), Some((9, 0, 0)));
        assert_eq!(version("8.1"), Some((8, 1, 0)));
        assert_eq!(version("x.1"), None);
        assert_eq!(version("8.x"), None);
        assert_eq!(version(""), None);
        assert_eq!(
            ServerInfo::parse("# Server\r\nredis_mode:cluster\r\n"),
            None
        );
        assert_eq!(ServerInfo::parse("valkey_version:nine\r\n"), None);
    }
}
