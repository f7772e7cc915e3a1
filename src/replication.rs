//! What a node says of its replication, from its `INFO replication`. Pure.
//!
//! A replica's own word is the one that counts for a failover: `master_link_status:down` (or a
//! full sync in progress) means that, promoted now, it would serve stale data or none, and its
//! offset behind its master's is the writes a failover would lose. INFO is free-form and grows
//! over time, so unknown lines are ignored and a malformed value reads as absent.

/// A node's `INFO replication`: its role, on a replica its link to its master, and on a
/// master what each replica last acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// `role:master`; `false` for `role:slave`.
    pub master: bool,
    /// `master_repl_offset`: the replication stream's offset, as this node has it.
    pub offset: Option<u64>,
    /// On a master, `connected_slaves`: replicas with a replication link open.
    pub connected_replicas: Option<u32>,
    /// On a replica, the link to its master.
    pub link: Option<Link>,
    /// On a master, its `slaveN:` lines, at most [`MAX_REPLICA_LINES`].
    pub replicas: Vec<Acked>,
}

/// The most `slaveN:` lines read from one master: a hostile node must not grow a snapshot
/// without bound, and no real shard has this many replicas.
pub const MAX_REPLICA_LINES: usize = 64;

/// One replica as its master lists it (`slave0:ip=...,port=...,state=online,offset=N,lag=S`):
/// what the master knows even while the replica itself does not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// The replica's address as the master knows it, `ip:port`.
    pub endpoint: String,
    /// `state=online`: the replica is past its initial sync and streaming.
    pub online: bool,
    /// `offset`: the replication offset the replica last acknowledged (about every second).
    pub offset: u64,
    /// `lag`: seconds since its last acknowledgement.
    pub lag_s: Option<u64>,
}

impl Acked {
    /// Reads the value of a `slaveN:` line; `None` if it lacks an address or an offset.
    fn parse(value: &str) -> Option<Acked> {
        let field = |name: &str| {
            value
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim())
        };
        let ip = field("ip").filter(|ip| ip.len() <= 64)?;
        let port: u16 = field("port")?.parse().ok()?;
        Some(Acked {
            endpoint: if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            },
            online: field("state") == Some("online"),
            offset: field("offset")?.parse().ok()?,
            lag_s: field("lag").and_then(|l| l.parse().ok()),
        })
    }
}

/// A replica's link to its master, as the replica says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// `master_link_status:up`.
    pub up: bool,
    /// `master_sync_in_progress:1`: a full sync is running, so the data is not yet usable.
    pub syncing: bool,
    /// `master_last_io_seconds_ago`: seconds since the last byte from the master; absent
    /// while the link is down (the server prints -1).
    pub last_io_s: Option<u64>,
    /// `master_link_down_since_seconds`, while the link is down.
    pub down_for_s: Option<u64>,
    /// `slave_repl_offset`: how much of the master's stream the replica has processed.
    pub offset: Option<u64>,
}

impl Link {
    /// True if a failover to this replica would find its data current: link up, no sync.
    pub fn usable(&self) -> bool {
        self.up && !self.syncing
    }
}

impl Replication {
    /// Reads the `role`, offset and link fields from INFO text holding the `replication`
    /// section (alone or among others); `None` when it has no `role` line.
    pub fn parse(text: &str) -> Option<Replication> {
        let mut role = None;
        let mut out = Replication {
            master: true,
            offset: None,
            connected_replicas: None,
            link: None,
            replicas: Vec::new(),
        };
        let mut link = Link {
            up: false,
            syncing: false,
            last_io_s: None,
            down_for_s: None,
            offset: None,
        };
        for line in text.lines() {
            let Some((key, value)) = line.trim_end_matches('\r').split_once(':') else {
                continue;
            };
            let number = || value.trim().parse::<u64>().ok();
            match key {
                "role" => role = Some(value.trim()),
                "master_repl_offset" => out.offset = number(),
                "connected_slaves" => out.connected_replicas = number().map(saturate),
                "master_link_status" => link.up = value.trim() == "up",
                "master_sync_in_progress" => link.syncing = value.trim() == "1",
                "master_last_io_seconds_ago" => link.last_io_s = number(),
                "master_link_down_since_seconds" => link.down_for_s = number(),
                "slave_repl_offset" => link.offset = number(),
                _ if is_replica_line(key) && out.replicas.len() < MAX_REPLICA_LINES => {
                    out.replicas.extend(Acked::parse(value));
                }
                _ => {}
            }
        }
        match role? {
            "master" => Some(out),
            "slave" | "replica" => Some(Replication {
                master: false,
                link: Some(link),
                ..out
            }),
            _ => None,
        }
    }
}

/// `slave0`, `slave1`, ...: a master's replica lines (not `slave_repl_offset` and the like).
fn is_replica_line(key: &str) -> bool {
    key.strip_prefix("slave")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis 7.0's INFO replication on a replica whose link is up (trimmed of backlog lines).
    const REPLICA_UP: &str = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n\
        master_port:30001\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:1\r\n\
        master_sync_in_progress:0\r\nslave_read_repl_offset:1540\r\nslave_repl_offset:1540\r\n\
        slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n\
        connected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
        master_replid:4a1b2c\r\nmaster_repl_offset:1540\r\n";

    /// The same replica after its master stopped answering.
    const REPLICA_DOWN: &str = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n\
        master_port:30001\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\n\
        master_sync_in_progress:0\r\nslave_repl_offset:1540\r\n\
        master_link_down_since_seconds:12\r\nconnected_slaves:0\r\nmaster_repl_offset:1540\r\n";

    const MASTER: &str = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
        slave0:ip=127.0.0.1,port=30004,state=online,offset=1540,lag=0\r\n\
        master_failover_state:no-failover\r\nmaster_repl_offset:1554\r\n";

    #[test]
    fn a_master_says_its_offset_and_connected_replicas() {
        assert_eq!(
            Replication::parse(MASTER),
            Some(Replication {
                master: true,
                offset: Some(1554),
                connected_replicas: Some(1),
                link: None,
                replicas: vec![Acked {
                    endpoint: "127.0.0.1:30004".into(),
                    online: true,
                    offset: 1540,
                    lag_s: Some(0),
                }],
            })
        );
    }

    #[test]
    fn replica_lines_without_address_or_offset_are_skipped_and_their_number_bounded() {
        let mut text = String::from(
            "role:master\r\nslave0:ip=10.0.0.4,state=online,offset=5\r\n\
            slave1:ip=10.0.0.5,port=6379,state=wait_bgsave,offset=0,lag=0\r\n\
            slave2:ip=::1,port=6380,state=online,offset=7,lag=1\r\n",
        );
        let r = Replication::parse(&text).unwrap();
        let got: Vec<_> = r
            .replicas
            .iter()
            .map(|a| (a.endpoint.as_str(), a.online))
            .collect();
        assert_eq!(got, [("10.0.0.5:6379", false), ("[::1]:6380", true)]);
        for i in 0..1000 {
            text.push_str(&format!(
                "slave{i}:ip=10.1.0.1,port={i},state=online,offset=1,lag=0\r\n"
            ));
        }
        assert_eq!(
            Replication::parse(&text).unwrap().replicas.len(),
            MAX_REPLICA_LINES
        );
    }

    #[test]
    fn a_replica_says_its_link_and_offset() {
        let r = Replication::parse(REPLICA_UP).unwrap();
        assert!(!r.master);
        let link = r.link.unwrap();
        assert_eq!(
            link,
            Link {
                up: true,
                syncing: false,
                last_io_s: Some(1),
                down_for_s: None,
                offset: Some(1540),
            }
        );
        assert!(link.usable());
    }

    #[test]
    fn a_link_down_has_no_last_io_and_is_not_usable() {
        let link = Replication::parse(REPLICA_DOWN).unwrap().link.unwrap();
        assert!(!link.up);
        assert_eq!(link.last_io_s, None, "-1 is not an age");
        assert_eq!(link.down_for_s, Some(12));
        assert!(!link.usable());
    }

    #[test]
    fn a_full_sync_in_progress_is_not_usable() {
        let text = REPLICA_UP.replace("master_sync_in_progress:0", "master_sync_in_progress:1");
        assert!(!Replication::parse(&text).unwrap().link.unwrap().usable());
    }

    #[test]
    fn text_without_a_role_or_with_an_odd_one_is_no_replication() {
        assert_eq!(
            Replication::parse("# Stats\r\ntotal_commands_processed:5\r\n"),
            None
        );
        assert_eq!(Replication::parse("role:sentinel\r\n"), None);
    }

    #[test]
    fn malformed_numbers_read_as_absent() {
        let r =
            Replication::parse("role:master\r\nconnected_slaves:many\r\nmaster_repl_offset:-3\r\n")
                .unwrap();
        assert_eq!((r.connected_replicas, r.offset), (None, None));
        let r = Replication::parse("role:master\r\nconnected_slaves:99999999999\r\n").unwrap();
        assert_eq!(r.connected_replicas, Some(u32::MAX));
    }
}
