//! The commands that carry out one move of a plan, for an operator to read and run: slotwatch
//! never runs them. Pure.
//!
//! `redis-cli --cluster reshard` takes a slot count, not slots, so it cannot carry out a plan
//! that names slots. Where both masters have atomic slot migration, one command moves a whole
//! range: Valkey 9's `CLUSTER MIGRATESLOTS SLOTSRANGE … NODE …`, sent to the source, and Redis
//! 8.4's `CLUSTER MIGRATION IMPORT …`, sent to the destination. Elsewhere each slot takes the
//! sequence `redis-cli` itself uses: `SETSLOT IMPORTING` on the destination, `SETSLOT
//! MIGRATING` on the source, `MIGRATE` of its keys in batches until none is left, then
//! `SETSLOT NODE` on the destination and the source.

use serde::Serialize;

use crate::server_info::{Family, ServerInfo};
use crate::slot::SlotRange;
use crate::topology::NodeId;

/// Keys one `MIGRATE` takes, as `redis-cli --cluster reshard --cluster-pipeline` defaults to.
const MIGRATE_BATCH: u32 = 10;

/// Milliseconds `MIGRATE` waits on the destination, as `redis-cli` defaults to.
const MIGRATE_TIMEOUT_MS: u32 = 60_000;

/// A master as the commands address it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Master {
    /// `ip:port`, as MOVED names it.
    pub endpoint: String,
    /// Host for `redis-cli -h`.
    pub host: String,
    /// Port for `redis-cli -p`.
    pub port: u16,
    /// Its node ID.
    pub id: NodeId,
    /// What it runs, when known.
    #[serde(skip)]
    pub server: Option<ServerInfo>,
}

/// How a move is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Valkey 9's atomic `CLUSTER MIGRATESLOTS`, on the source.
    Migrateslots,
    /// Redis 8.4's atomic `CLUSTER MIGRATION IMPORT`, on the destination.
    MigrationImport,
    /// Per slot: `SETSLOT IMPORTING`/`MIGRATING`, `MIGRATE`, `SETSLOT NODE`.
    Setslot,
}

impl Mechanism {
    /// The mechanism both masters support, preferring atomic migration.
    pub fn between(from: &Master, to: &Master) -> Mechanism {
        let (Some(a), Some(b)) = (from.server, to.server) else {
            return Mechanism::Setslot;
        };
        match (a.family, b.family) {
            (Family::Valkey, Family::Valkey)
                if a.version >= (9, 0, 0) && b.version >= (9, 0, 0) =>
            {
                Mechanism::Migrateslots
            }
            (Family::Redis, Family::Redis) if a.version >= (8, 4, 0) && b.version >= (8, 4, 0) => {
                Mechanism::MigrationImport
            }
            _ => Mechanism::Setslot,
        }
    }
}

/// `redis-cli -h HOST -p PORT`, the prefix of every command sent to `m`.
fn cli(m: &Master) -> String {
    format!("redis-cli -h {} -p {}", shell_word(&m.host), m.port)
}

/// `text` as one shell word: host names and IPs pass as they are, anything else is quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The shell lines that move `ranges` from `from` to `to` by `how`. Passwords are never
/// written: `redis-cli` takes them from `REDISCLI_AUTH`, and `MIGRATE` from the same variable
/// when it is set.
pub fn script(from: &Master, to: &Master, ranges: &[SlotRange], how: Mechanism) -> Vec<String> {
    let pairs = ranges
        .iter()
        .map(|r| format!("{} {}", r.start, r.end))
        .collect::<Vec<_>>()
        .join(" ");
    match how {
        Mechanism::Migrateslots => vec![format!(
            "{} CLUSTER MIGRATESLOTS SLOTSRANGE {pairs} NODE {}",
            cli(from),
            to.id.as_str()
        )],
        Mechanism::MigrationImport => {
            vec![format!("{} CLUSTER MIGRATION IMPORT {pairs}", cli(to))]
        }
        Mechanism::Setslot => ranges.iter().flat_map(|r| setslot(from, to, *r)).collect(),
    }
}

/// The per-slot sequence of `redis-cli --cluster reshard`, as a loop over one range. It stops
/// (exit 1) rather than hand a slot over while keys are left on its source: when the count of
/// keys is not a number (no answer, an error) or stops falling (a key `xargs` cannot pass).
fn setslot(from: &Master, to: &Master, r: SlotRange) -> Vec<String> {
    let (src, dst) = (cli(from), cli(to));
    let (from_id, to_id) = (from.id.as_str(), to.id.as_str());
    vec![
        format!("for slot in $(seq {} {}); do", r.start, r.end),
        format!("  {dst} CLUSTER SETSLOT \"$slot\" IMPORTING {from_id} >/dev/null || exit 1"),
        format!("  {src} CLUSTER SETSLOT \"$slot\" MIGRATING {to_id} >/dev/null || exit 1"),
        "  last=".to_owned(),
        format!("  while n=$({src} CLUSTER COUNTKEYSINSLOT \"$slot\"); do"),
        "    case $n in 0) break ;; ''|*[!0-9]*|\"$last\") echo \"slot $slot: $n keys left\" >&2; exit 1 ;; esac"
            .to_owned(),
        "    last=$n".to_owned(),
        format!(
            "    {src} --raw CLUSTER GETKEYSINSLOT \"$slot\" {MIGRATE_BATCH} | xargs -r -d '\\n' \
             {src} MIGRATE {} {} \"\" 0 {MIGRATE_TIMEOUT_MS} ${{REDISCLI_AUTH:+AUTH \"$REDISCLI_AUTH\"}} KEYS >/dev/null || exit 1",
            shell_word(&to.host),
            to.port
        ),
        "  done".to_owned(),
        format!("  [ \"$n\" = 0 ] || exit 1"),
        format!("  {dst} CLUSTER SETSLOT \"$slot\" NODE {to_id} >/dev/null || exit 1"),
        format!("  {src} CLUSTER SETSLOT \"$slot\" NODE {to_id} >/dev/null || exit 1"),
        "done".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::testdata::{A, B};

    fn master(endpoint: &str, id: &str, server: Option<ServerInfo>) -> Master {
        let (host, port) = endpoint.rsplit_once(':').unwrap();
        Master {
            endpoint: endpoint.to_owned(),
            host: host.to_owned(),
            port: port.parse().unwrap(),
            id: NodeId::parse(id).unwrap(),
            server,
        }
    }

    fn server(family: Family, version: (u16, u16, u16)) -> Option<ServerInfo> {
        Some(ServerInfo { family, version })
    }

    #[test]
    fn atomic_migration_needs_it_on_both_masters() {
        let v9 = server(Family::Valkey, (9, 0, 0));
        let v8 = server(Family::Valkey, (8, 1, 8));
        let r84 = server(Family::Redis, (8, 4, 0));
        let r82 = server(Family::Redis, (8, 2, 3));
        let m = |s| master("10.0.0.1:6379", A, s);
        assert_eq!(Mechanism::between(&m(v9), &m(v9)), Mechanism::Migrateslots);
        assert_eq!(Mechanism::between(&m(v9), &m(v8)), Mechanism::Setslot);
        assert_eq!(
            Mechanism::between(&m(r84), &m(r84)),
            Mechanism::MigrationImport
        );
        assert_eq!(Mechanism::between(&m(r82), &m(r84)), Mechanism::Setslot);
        assert_eq!(Mechanism::between(&m(None), &m(v9)), Mechanism::Setslot);
    }

    #[test]
    fn atomic_commands_name_every_range_once() {
        let from = master("10.0.0.1:6379", A, None);
        let to = master("10.0.0.2:6380", B, None);
        let ranges = [SlotRange::new(0, 99).unwrap(), SlotRange::single(500)];
        assert_eq!(
            script(&from, &to, &ranges, Mechanism::Migrateslots),
            [format!(
                "redis-cli -h 10.0.0.1 -p 6379 CLUSTER MIGRATESLOTS SLOTSRANGE 0 99 500 500 NODE {B}"
            )]
        );
        assert_eq!(
            script(&from, &to, &ranges, Mechanism::MigrationImport),
            ["redis-cli -h 10.0.0.2 -p 6380 CLUSTER MIGRATION IMPORT 0 99 500 500"]
        );
    }

    #[test]
    fn the_setslot_sequence_imports_before_migrating_and_assigns_the_destination_first() {
        let from = master("10.0.0.1:6379", A, None);
        let to = master("10.0.0.2:6380", B, None);
        let lines = script(
            &from,
            &to,
            &[SlotRange::new(7, 9).unwrap()],
            Mechanism::Setslot,
        );
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle} in {lines:#?}"))
        };
        assert_eq!(lines[0], "for slot in $(seq 7 9); do");
        assert!(at(&format!("6380 CLUSTER SETSLOT \"$slot\" IMPORTING {A}")) < at("MIGRATING"));
        assert!(at("MIGRATING") < at(" MIGRATE 10.0.0.2 6380"));
        let node = format!("CLUSTER SETSLOT \"$slot\" NODE {B}");
        let first = at(&node);
        assert!(lines[first].starts_with("  redis-cli -h 10.0.0.2 -p 6380"));
        assert!(lines[first + 1].starts_with("  redis-cli -h 10.0.0.1 -p 6379"));
        assert!(lines[first + 1].contains(&node));
        assert_eq!(lines.last().map(String::as_str), Some("done"));
    }

    #[test]
    fn odd_host_names_are_quoted_for_the_shell() {
        assert_eq!(shell_word("redis-0.example.com"), "redis-0.example.com");
        assert_eq!(shell_word("[::1]"), "'[::1]'", "no glob characters bare");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
