//! Which commands name keys, as each server says it: `COMMAND INFO` gives every command's
//! first-key position, 0 for one that names none (`PING`, `COMMAND`, `CLUSTER INFO`), unless
//! the command's keys move with its arguments (`movablekeys`: `EVAL`, `XREAD`, `MIGRATE`).
//! The same reply says which commands write (`write`), which a replica always refuses.
//! A command the server did not describe (it refused `COMMAND INFO`, say for an ACL) falls back
//! to a short list. Pure: the caller asks the server and hands the reply over.
//!
//! A keyless command is answered by any node, so a connection whose last command is keyless is
//! not misrouted, whatever node it is on.

use std::collections::{BTreeSet, HashMap};

use redis::Value;

/// Commands that name no key, for servers that do not say: what clients send at start-up and
/// between commands. Any other command without a `|` is taken as keyed.
const KEYLESS: &[&str] = &[
    "",
    "ping",
    "echo",
    "info",
    "hello",
    "auth",
    "select",
    "readonly",
    "readwrite",
    "quit",
    "reset",
    "time",
    "dbsize",
    "command",
    "multi",
    "exec",
    "discard",
    "unwatch",
    "lastsave",
    "role",
    "wait",
    "waitaof",
    "monitor",
    "subscribe",
    "psubscribe",
    "unsubscribe",
    "punsubscribe",
    "publish",
    "flushall",
    "flushdb",
    "save",
    "bgsave",
    "bgrewriteaof",
    "randomkey",
    "scan",
    "keys",
    "asking",
    "lolwut",
    "failover",
    "replicaof",
    "slaveof",
    "sync",
    "psync",
    "replconf",
];

/// Families of subcommands (`client|list`) that name no key, for servers that do not say.
const KEYLESS_FAMILIES: &[&str] = &[
    "client", "cluster", "config", "command", "acl", "latency", "slowlog", "module", "function",
    "script", "pubsub",
];

/// The most commands asked about in one `COMMAND INFO`: clients send few distinct commands, and
/// a hostile one inventing names must not make the request grow without bound.
pub const MAX_ASKED: usize = 64;

/// Why a `COMMAND INFO` reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyedError {
    /// The reply is not one entry per command asked.
    #[error("COMMAND INFO answered {got} entries for {asked} commands")]
    Count {
        /// Commands asked.
        asked: usize,
        /// Entries in the reply.
        got: usize,
    },
    /// An entry is not `[name, arity, flags, first key, ...]`.
    #[error("COMMAND INFO entry {index} is not a command description")]
    Entry {
        /// 0-based position in the reply.
        index: usize,
    },
}

/// What a server said of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Described {
    /// It names keys.
    keyed: bool,
    /// It writes (the `write` flag).
    write: bool,
}

/// What slotwatch knows of which commands name keys: what the servers said, by the name
/// `CLIENT LIST` prints (`get`, `client|list`), and the fallback for the rest.
#[derive(Debug, Clone, Default)]
pub struct Commands {
    /// Command name to what a server said of it.
    said: HashMap<String, Described>,
    /// Names a server was asked about and did not describe: not asked again.
    unknown: BTreeSet<String>,
}

impl Commands {
    /// True if `cmd` (as `CLIENT LIST` prints it) names a key.
    pub fn is_keyed(&self, cmd: &str) -> bool {
        self.said
            .get(cmd)
            .map_or_else(|| fallback_is_keyed(cmd), |d| d.keyed)
    }

    /// True if a server said that `cmd` writes; false for a command no server described.
    pub fn is_write(&self, cmd: &str) -> bool {
        self.said.get(cmd).is_some_and(|d| d.write)
    }

    /// The names among `cmds` that no server has been asked about yet, at most [`MAX_ASKED`].
    pub fn to_ask<'a>(&self, cmds: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: BTreeSet<&str> = BTreeSet::new();
        for c in cmds {
            if !c.is_empty() && !self.said.contains_key(c) && !self.unknown.contains(c) {
                out.insert(c);
            }
        }
        out.into_iter().take(MAX_ASKED).map(str::to_owned).collect()
    }

    /// Learns from the reply to `COMMAND INFO` of `asked`, in order: a nil entry is a name the
    /// server does not know, left to the fallback.
    pub fn learn(&mut self, asked: &[String], reply: &Value) -> Result<(), KeyedError> {
        let entries = match reply {
            Value::Array(e) | Value::Set(e) => e,
            _ => {
                return Err(KeyedError::Count {
                    asked: asked.len(),
                    got: 0,
                });
            }
        };
        if entries.len() != asked.len() {
            return Err(KeyedError::Count {
                asked: asked.len(),
                got: entries.len(),
            });
        }
        let mut said = Vec::with_capacity(asked.len());
        for (index, (name, entry)) in asked.iter().zip(entries).enumerate() {
            match entry {
                Value::Nil => self.unknown.insert(name.clone()),
                _ => {
                    let described = describe(entry).ok_or(KeyedError::Entry { index })?;
                    said.push((name.clone(), described));
                    true
                }
            };
        }
        self.said.extend(said);
        Ok(())
    }

    /// Commands as a server would describe `writes`: keyed commands that write.
    #[cfg(test)]
    pub(crate) fn with_writes(writes: &[&str]) -> Commands {
        let mut c = Commands::default();
        for w in writes {
            let described = Described {
                keyed: true,
                write: true,
            };
            c.said.insert((*w).to_owned(), described);
        }
        c
    }

    /// Gives up on `asked`: the server refused to describe them, so the fallback decides.
    pub fn refused(&mut self, asked: &[String]) {
        self.unknown.extend(asked.iter().cloned());
    }
}

/// What one `COMMAND INFO` entry says: it names keys if its first key is at a position other
/// than 0 or its keys are found by parsing its arguments; it writes if flagged so.
fn describe(entry: &Value) -> Option<Described> {
    let Value::Array(fields) = entry else {
        return None;
    };
    let flags = match fields.get(2)? {
        Value::Array(f) | Value::Set(f) => f,
        _ => return None,
    };
    let flagged = |flag: &str| {
        flags.iter().any(|f| match f {
            Value::SimpleString(s) => s == flag,
            Value::BulkString(b) => b == flag.as_bytes(),
            _ => false,
        })
    };
    let Value::Int(first_key) = fields.get(3)? else {
        return None;
    };
    Some(Described {
        keyed: *first_key != 0 || flagged("movablekeys"),
        write: flagged("write"),
    })
}

/// The fallback: a command not on the keyless lists is taken as keyed.
fn fallback_is_keyed(cmd: &str) -> bool {
    match cmd.split_once('|') {
        Some((family, _)) => !KEYLESS_FAMILIES.contains(&family),
        None => !KEYLESS.contains(&cmd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as a server sends it, parsed by the client library.
    fn reply(resp: &str) -> Value {
        redis::parse_redis_value(resp.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    /// `COMMAND INFO get command eval nosuch set` as Redis 7.0 answers it (trimmed after the
    /// first key, last key and step, which every server since 2.8 sends in these places).
    const REDIS_7: &str = "*5
*6
$3
get
:2
*2
+readonly
+fast
:1
:1
:1
*6
$7
command
:-1
*2
+loading
+stale
:0
:0
:0
*6
$4
eval
:-3
*2
+noscript
+movablekeys
:0
:0
:0
*-1
*6
$3
set
:-3
*2
+write
+denyoom
:1
:1
:1
";

    fn asked(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn the_server_says_which_commands_name_keys() {
        let mut c = Commands::default();
        let names = asked(&["get", "command", "eval", "nosuch", "set"]);
        c.learn(&names, &reply(REDIS_7)).unwrap();
        assert!(c.is_keyed("get"));
        assert!(c.is_write("set") && !c.is_write("get"), "the write flag");
        assert!(!c.is_write("nosuch"), "undescribed: not known to write");
        assert!(!c.is_keyed("command"), "first key 0");
        assert!(c.is_keyed("eval"), "movable keys are keys");
        // Unknown to the server: the fallback, which takes it as keyed, and not asked again.
        assert!(c.is_keyed("nosuch"));
        assert_eq!(c.to_ask(["nosuch", "get", "set", "hset"]), ["hset"]);
    }

    #[test]
    fn a_subcommand_is_described_under_its_full_name() {
        // `COMMAND INFO client|list` on Redis 7+ and Valkey: one entry, first key 0.
        let mut c = Commands::default();
        c.learn(
            &asked(&["client|list", "object|encoding"]),
            &reply("*2\n*6\n$11\nclient|list\n:-2\n*1\n+admin\n:0\n:0\n:0\n*6\n$15\nobject|encoding\n:3\n*1\n+readonly\n:2\n:2\n:1\n"),
        )
        .unwrap();
        assert!(!c.is_keyed("client|list"));
        assert!(c.is_keyed("object|encoding"), "its key is the third word");
    }

    #[test]
    fn without_the_server_a_bare_command_is_keyless_and_a_data_command_keyed() {
        let c = Commands::default();
        for keyless in [
            "command",
            "ping",
            "client|list",
            "cluster|slots",
            "",
            "hello",
        ] {
            assert!(!c.is_keyed(keyless), "{keyless}");
        }
        for keyed in ["get", "set", "hset", "object|encoding", "xadd"] {
            assert!(c.is_keyed(keyed), "{keyed}");
        }
    }

    #[test]
    fn a_malformed_reply_is_an_error_and_teaches_nothing() {
        let mut c = Commands::default();
        let names = asked(&["get", "ping"]);
        assert_eq!(
            c.learn(&names, &reply("*1\n*6\n$3\nget\n:2\n*0\n:1\n:1\n:1\n")),
            Err(KeyedError::Count { asked: 2, got: 1 })
        );
        assert_eq!(
            c.learn(
                &names,
                &reply("*2\n*6\n$3\nget\n:2\n*0\n:1\n:1\n:1\n$4\nping\n")
            ),
            Err(KeyedError::Entry { index: 1 })
        );
        assert_eq!(
            c.learn(&names, &reply("$2\nno\n")),
            Err(KeyedError::Count { asked: 2, got: 0 })
        );
        assert_eq!(c.to_ask(["get", "ping"]), ["get", "ping"], "nothing learnt");
        c.refused(&names);
        assert!(
            c.to_ask(["get", "ping"]).is_empty(),
            "a refusal is not asked again"
        );
    }

    #[test]
    fn a_flood_of_names_is_asked_about_in_bounded_batches() {
        let c = Commands::default();
        let names: Vec<String> = (0..200).map(|i| format!("x{i}")).collect();
        assert_eq!(c.to_ask(names.iter().map(String::as_str)).len(), MAX_ASKED);
    }
}
