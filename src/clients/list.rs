//! `CLIENT LIST` text to connections. Pure.
//!
//! Each line is `key=value` fields separated by spaces (values hold no spaces: `CLIENT SETNAME`
//! refuses them). Servers differ in their fields: Redis 7.0 has `addr`, `name`, `age`, `idle`,
//! `flags`, `cmd` and `user`; Redis 7.2+ and Valkey add `lib-name` and `lib-ver`; Valkey 8+
//! and Redis 8.2+ add `tot-cmds` and `tot-net-in`. A field a server lacks is `None`, not zero.

use serde::Serialize;

/// One client connection as a node lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// The node's id for the connection; stable for its lifetime, so two samples match by it.
    pub id: u64,
    /// The client's `ip:port`.
    pub addr: String,
    /// `CLIENT SETNAME`, empty if none.
    pub name: String,
    /// Seconds since the connection opened.
    pub age_s: u64,
    /// Seconds since its last command.
    pub idle_s: u64,
    /// Connection flags: `r` READONLY, `S` a replica's link, `M` the master's link, `g`/`o`
    /// a Redis 8.4 atomic migration's export/import link, `I` a Valkey 9 import source, `N` none.
    pub flags: String,
    /// Client capabilities (`CLIENT CAPA`, Valkey 8+): `r` when the client handles redirects.
    pub capa: Option<String>,
    /// Its last command (`get`, `client|list`), empty if none yet. Set even when the command
    /// was refused with MOVED, so it shows what a misrouted client sends.
    pub cmd: String,
    /// ACL user.
    pub user: Option<String>,
    /// Client library (`CLIENT SETINFO LIB-NAME`, Redis 7.2+ and Valkey).
    pub lib_name: Option<String>,
    /// Client library version.
    pub lib_ver: Option<String>,
    /// Commands the node processed for the connection (Valkey 8+, Redis 8.2+); refused ones do not count.
    pub tot_cmds: Option<u64>,
    /// Bytes the node read from the connection (Valkey 8+, Redis 8.2+); refused commands count.
    pub tot_net_in: Option<u64>,
}

impl Connection {
    /// The client's host: `addr` without its port.
    pub fn host(&self) -> &str {
        self.addr
            .rsplit_once(':')
            .map_or(self.addr.as_str(), |(h, _)| h)
    }

    /// True for a connection whose socket is gone (`addr=?:0`, or empty on Valkey): nothing
    /// more will come from it.
    pub fn closed(&self) -> bool {
        matches!(self.host(), "" | "?")
    }

    /// True if the connection has sent READONLY (reads from a replica are then allowed).
    pub fn readonly(&self) -> bool {
        self.flags.contains('r')
    }

    /// True for the servers' own links, which are never clients to blame: replication (`S`
    /// a replica's connection to its master, `M` the reverse), Redis 8.4's atomic slot
    /// migration (`g` migrating, `o` importing) and Valkey 9's import source (`I`).
    pub fn internal(&self) -> bool {
        self.flags.chars().any(|f| INTERNAL_FLAGS.contains(&f))
    }

    /// True if the client declared that it handles redirects (`capa=r`, Valkey 8+): evidence
    /// that it is cluster-aware, whatever else its connections look like.
    pub fn handles_redirects(&self) -> bool {
        self.capa.as_deref().is_some_and(|c| c.contains('r'))
    }
}

/// The `flags` letters of the servers' own connections (see [`Connection::internal`]).
const INTERNAL_FLAGS: [char; 5] = ['S', 'M', 'g', 'o', 'I'];

/// Why a `CLIENT LIST` reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CLIENT LIST line {line}: {reason}")]
pub struct ListError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a whole `CLIENT LIST` reply. Unknown fields are ignored (servers add fields over
/// time); a line without `id` or `addr` is an error, as is a number that does not parse.
pub fn parse_client_list(text: &str) -> Result<Vec<Connection>, ListError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let err = |reason| ListError {
            line: i + 1,
            reason,
        };
        let mut c = Connection {
            id: 0,
            addr: String::new(),
            name: String::new(),
            age_s: 0,
            idle_s: 0,
            flags: String::new(),
            capa: None,
            cmd: String::new(),
            user: None,
            lib_name: None,
            lib_ver: None,
            tot_cmds: None,
            tot_net_in: None,
        };
        let (mut has_id, mut has_addr) = (false, false);
        for field in line.split(' ') {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| err("a count is not a number"))
            };
            let text = || (!value.is_empty()).then(|| value.to_owned());
            match key {
                "id" => {
                    c.id = number()?;
                    has_id = true;
                }
                // Empty (Valkey) or `?:0` (Redis) for a connection whose socket is gone.
                "addr" => {
                    c.addr = value.to_owned();
                    has_addr = true;
                }
                "name" => c.name = value.to_owned(),
                "age" => c.age_s = number()?,
                "idle" => c.idle_s = number()?,
                "flags" => c.flags = value.to_owned(),
                "capa" => c.capa = text(),
                "cmd" if value != "NULL" => c.cmd = value.to_ascii_lowercase(),
                "user" => c.user = text(),
                "lib-name" => c.lib_name = text(),
                "lib-ver" => c.lib_ver = text(),
                "tot-cmds" => c.tot_cmds = Some(number()?),
                "tot-net-in" => c.tot_net_in = Some(number()?),
                _ => {}
            }
        }
        if !has_id {
            return Err(err("no id field"));
        }
        if !has_addr {
            return Err(err("no addr field"));
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redis_and_valkey_lines() {
        // Redis 7.0.15 and Valkey 9.1.2 lines as they print them.
        let redis = "id=7 addr=127.0.0.1:50124 laddr=127.0.0.1:7000 fd=9 name=plain-app age=12 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd=get user=default redir=-1 resp=2\n";
        let valkey = "id=12 addr=10.0.0.5:41000 laddr=10.0.0.1:6379 fd=11 name= age=3 idle=1 flags=r capa= db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=5 obl=0 oll=0 omem=0 tot-mem=1920 events=r cmd=NULL user=app redir=-1 resp=3 lib-name=redis-py lib-ver=5.0.1 tot-net-in=1234 tot-net-out=99 tot-cmds=17\r\n";
        let list = parse_client_list(&format!("{redis}{valkey}")).unwrap();
        assert_eq!(list.len(), 2);
        let r = &list[0];
        assert_eq!(
            (r.id, r.addr.as_str(), r.name.as_str(), r.host()),
            (7, "127.0.0.1:50124", "plain-app", "127.0.0.1")
        );
        assert_eq!((r.age_s, r.idle_s, r.cmd.as_str()), (12, 0, "get"));
        assert_eq!((r.tot_cmds, r.lib_name.as_deref()), (None, None));
        assert!(!r.readonly() && !r.internal());
        assert!(!r.handles_redirects());
        let v = &list[1];
        assert!(v.readonly());
        assert_eq!(v.cmd, "", "NULL means no command yet");
        assert_eq!((v.age_s, v.idle_s), (3, 1));
        assert_eq!((v.tot_cmds, v.tot_net_in), (Some(17), Some(1234)));
        assert_eq!(
            (
                v.lib_name.as_deref(),
                v.lib_ver.as_deref(),
                v.user.as_deref()
            ),
            (Some("redis-py"), Some("5.0.1"), Some("app"))
        );
        assert_eq!(v.name, "");
    }

    #[test]
    fn the_servers_own_links_are_internal() {
        // Real-shaped lines: a Redis 7 replica's link on its master (S), the master's link on
        // a replica (M), Redis 8.4's atomic migration links (g exporting, o importing), and
        // Valkey 9's import source (I); then two clients, one READONLY.
        let text = "id=3 addr=127.0.0.1:40001 name= age=50 idle=0 flags=S db=0 cmd=replconf user=default\n\
                    id=4 addr=127.0.0.1:7000 name= age=50 idle=0 flags=M db=0 cmd=ping user=default\n\
                    id=5 addr=127.0.0.1:40002 name= age=2 idle=0 flags=g db=0 cmd=cluster|syncslots user=default\n\
                    id=6 addr=127.0.0.1:40003 name= age=2 idle=0 flags=o db=0 cmd=set user=default\n\
                    id=7 addr=127.0.0.1:40004 name= age=2 idle=0 flags=I capa= db=0 cmd=cluster|syncslots user=default\n\
                    id=8 addr=10.0.0.9:5000 name=app age=9 idle=0 flags=N capa= db=0 cmd=get user=default\n\
                    id=9 addr=10.0.0.9:5001 name=app age=9 idle=0 flags=r capa=r db=0 cmd=get user=default\n";
        let list = parse_client_list(text).unwrap();
        let internal: Vec<u64> = list.iter().filter(|c| c.internal()).map(|c| c.id).collect();
        assert_eq!(internal, [3, 4, 5, 6, 7]);
        let redirects: Vec<u64> = list
            .iter()
            .filter(|c| c.handles_redirects())
            .map(|c| c.id)
            .collect();
        assert_eq!(redirects, [9], "capa=r, and only that");
    }

    #[test]
    fn ipv6_hosts_keep_their_colons() {
        let list = parse_client_list("id=1 addr=[::1]:6000 flags=N\n").unwrap();
        assert_eq!(list[0].host(), "[::1]");
    }

    #[test]
    fn a_closed_connection_is_listed_without_an_address() {
        // Valkey 8.1 lists a connection whose socket just closed with an empty addr; Redis
        // with `?:0`. Neither is a reason to discard the node's whole reply.
        let list = parse_client_list(
            "id=4 addr= laddr= fd=-1 name= age=0 idle=0 flags=N cmd=command
",
        )
        .unwrap();
        assert!(list[0].closed(), "{:?}", list[0]);
        let list = parse_client_list(
            "id=5 addr=?:0 laddr=?:0 flags=N cmd=get
",
        )
        .unwrap();
        assert!(list[0].closed());
        assert!(
            !parse_client_list(
                "id=6 addr=10.0.0.1:5 flags=N
"
            )
            .unwrap()[0]
                .closed()
        );
    }

    #[test]
    fn broken_lines_are_errors_with_their_number() {
        for (text, line, reason) in [
            ("id=1 addr=a:1\naddr=b:2\n", 2, "no id field"),
            ("id=1\n", 1, "no addr field"),
            ("id=x addr=a:1\n", 1, "a count is not a number"),
            ("id=1 addr=a:1 tot-cmds=-4\n", 1, "a count is not a number"),
        ] {
            assert_eq!(
                parse_client_list(text),
                Err(ListError { line, reason }),
                "{text:?}"
            );
        }
        assert_eq!(parse_client_list("\r\n\n"), Ok(Vec::new()));
    }
}
