//! What a simulated node answers: the commands slotwatch sends, with replies shaped like a
//! real Redis 7's.

use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;

use std::sync::atomic::Ordering;

use super::{Counters, Shared};

/// Per-connection state.
pub(super) struct Session {
    pub(super) authed: bool,
    pub(super) close: bool,
}

pub(super) fn error(text: &str) -> BytesFrame {
    BytesFrame::Error(text.to_owned().into())
}

fn ok() -> BytesFrame {
    BytesFrame::SimpleString(Bytes::from_static(b"OK"))
}

fn bulk(data: impl Into<Bytes>) -> BytesFrame {
    BytesFrame::BulkString(data.into())
}

/// Client-supplied text made safe for an error line: no control characters, bounded length.
fn printable(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .take(128)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Answers one command.
pub(super) fn handle(
    shared: &Shared,
    me: usize,
    session: &mut Session,
    frame: BytesFrame,
) -> BytesFrame {
    for c in [&shared.totals, &shared.nodes[me]] {
        c.commands.fetch_add(1, Ordering::Relaxed);
    }
    let args: Option<Vec<Bytes>> = match frame {
        BytesFrame::Array(items) => items
            .into_iter()
            .map(|f| match f {
                BytesFrame::BulkString(b) | BytesFrame::SimpleString(b) => Some(b),
                BytesFrame::Integer(i) => Some(Bytes::from(i.to_string())),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    let Some(args) = args.filter(|a| !a.is_empty()) else {
        return error("ERR Protocol error: expected an array of bulk strings");
    };
    let name = args[0].to_ascii_uppercase();
    let sub = args.get(1).map(|a| a.to_ascii_uppercase());
    match (name.as_slice(), sub.as_deref()) {
        (b"AUTH", _) => auth(shared, session, &args),
        (b"QUIT", _) => {
            session.close = true;
            ok()
        }
        (b"HELLO", _) => error("ERR unknown command 'HELLO'"),
        _ if !session.authed => error("NOAUTH Authentication required."),
        (b"PING", None) => BytesFrame::SimpleString(Bytes::from_static(b"PONG")),
        (b"PING", Some(_)) if args.len() == 2 => bulk(args[1].clone()),
        (b"CLIENT", Some(b"SETNAME")) if args.len() == 3 => ok(),
        (b"CLIENT", Some(b"SETINFO")) if args.len() == 4 => ok(),
        (b"CLUSTER", Some(b"NODES")) if args.len() == 2 => {
            for c in [&shared.totals, &shared.nodes[me]] {
                c.cluster_nodes.fetch_add(1, Ordering::Relaxed);
            }
            bulk(shared.rendered().view(me))
        }
        (b"CLUSTER", Some(b"MYID")) if args.len() == 2 => {
            let topo = shared.read();
            bulk(topo.lines[me].id.to_string())
        }
        (b"CLUSTER", Some(b"INFO")) if args.len() == 2 => bulk(cluster_info(shared, me)),
        (b"INFO", _) if shared.one_info_section && args.len() > 2 => error("ERR syntax error"),
        (b"INFO", _) => bulk(info(shared, me, &args[1..])),
        (b"PING" | b"CLIENT" | b"CLUSTER", _) => error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'",
            printable(&args[0])
        )),
        _ => error(&format!("ERR unknown command '{}'", printable(&args[0]))),
    }
}

/// `AUTH [username] password`; the username is not checked.
fn auth(shared: &Shared, session: &mut Session, args: &[Bytes]) -> BytesFrame {
    let password = match args.len() {
        2 => &args[1],
        3 => &args[2],
        _ => return error("ERR wrong number of arguments for 'auth' command"),
    };
    match &shared.password {
        None => error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        ),
        Some(expected) if expected.as_bytes() == password.as_ref() => {
            session.authed = true;
            ok()
        }
        Some(_) => {
            session.authed = false;
            error("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }
}

/// `CLUSTER INFO` for the current topology.
fn cluster_info(shared: &Shared, me: usize) -> String {
    let topo = shared.read();
    let assigned: u32 = topo
        .lines
        .iter()
        .flat_map(|l| l.slots.iter().map(|r| r.len()))
        .sum();
    let size = topo.lines.iter().filter(|l| !l.slots.is_empty()).count();
    let current_epoch = topo.lines.iter().map(|l| l.config_epoch).max().unwrap_or(0);
    let state = if assigned == 16384 { "ok" } else { "fail" };
    format!(
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{assigned}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{known}\r\n\
         cluster_size:{size}\r\ncluster_current_epoch:{current_epoch}\r\ncluster_my_epoch:{my_epoch}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        known = topo.lines.len(),
        my_epoch = topo.lines[me].config_epoch,
    )
}

/// `INFO [section ...]`: `stats`, `errorstats`, `commandstats` and `cluster` are known; no
/// section, `default`, `all` or `everything` gives all but `commandstats` (as in Redis, where
/// only `all` and `everything` include it); unknown sections give nothing, as in Redis.
fn info(shared: &Shared, me: usize, sections: &[Bytes]) -> String {
    let node = &shared.nodes[me];
    let mut wanted: Vec<&str> = Vec::new();
    for s in sections {
        match s.to_ascii_lowercase().as_slice() {
            b"stats" => wanted.push("stats"),
            b"errorstats" => wanted.push("errorstats"),
            b"cluster" => wanted.push("cluster"),
            b"commandstats" => wanted.push("commandstats"),
            b"replication" => wanted.push("replication"),
            b"default" | b"all" | b"everything" => {
                wanted.extend(["stats", "replication", "errorstats", "cluster"]);
            }
            _ => {}
        }
    }
    if sections.is_empty() {
        wanted.extend(["stats", "replication", "errorstats", "cluster"]);
    }
    let mut out = Vec::new();
    for section in wanted {
        out.push(match section {
            "stats" => stats_section(node),
            "errorstats" => format!(
                "# Errorstats\r\nerrorstat_MOVED:count={}\r\nerrorstat_ASK:count={}\r\n",
                node.get(|c| &c.moved),
                node.get(|c| &c.ask)
            ),
            "commandstats" => commandstats_section(node),
            "replication" => replication_section(shared, me),
            _ => "# Cluster\r\ncluster_enabled:1\r\n".to_owned(),
        });
    }
    // Redis separates sections with an empty line.
    out.join("\r\n")
}

/// A `# Replication` section shaped like Redis 7's: a replica's link to its master, or a
/// master's list of replicas, so replies have a realistic size.
fn replication_section(shared: &Shared, me: usize) -> String {
    let topo = shared.read();
    let line = &topo.lines[me];
    let offset = 1_000_000;
    let tail = format!(
        "master_failover_state:no-failover\r\nmaster_replid:{id}\r\n\
         master_replid2:0000000000000000000000000000000000000000\r\n\
         master_repl_offset:{offset}\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:1\r\n\
         repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\n\
         repl_backlog_histlen:{offset}\r\n",
        id = line.id
    );
    match line.master {
        Some(master) => {
            let addr = topo
                .lines
                .iter()
                .find(|l| l.id == master)
                .map(|l| (l.addr.ip.clone(), l.addr.port))
                .unwrap_or_default();
            format!(
                "# Replication\r\nrole:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\n\
                 master_link_status:up\r\nmaster_last_io_seconds_ago:1\r\n\
                 master_sync_in_progress:0\r\nslave_read_repl_offset:{offset}\r\n\
                 slave_repl_offset:{offset}\r\nslave_priority:100\r\nslave_read_only:1\r\n\
                 replica_announced:1\r\nconnected_slaves:0\r\n{tail}",
                addr.0, addr.1
            )
        }
        None => {
            let replicas: Vec<String> = topo
                .lines
                .iter()
                .filter(|l| l.master == Some(line.id))
                .enumerate()
                .map(|(i, l)| {
                    format!(
                        "slave{i}:ip={},port={},state=online,offset={offset},lag=0\r\n",
                        l.addr.ip, l.addr.port
                    )
                })
                .collect();
            format!(
                "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n{}{tail}",
                replicas.len(),
                replicas.concat()
            )
        }
    }
}

/// A `# Commandstats` section shaped like Redis 7's for a node serving a few data commands
/// and slotwatch, so replies have a realistic size. Redirects count as rejected GETs.
fn commandstats_section(node: &Counters) -> String {
    let commands = node.get(|c| &c.commands);
    let rejected = node.get(|c| &c.moved) + node.get(|c| &c.ask);
    let line = |name: &str, calls: u64, rejected: u64| {
        format!(
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call=1.00,rejected_calls={rejected},failed_calls=0\r\n",
            usec = calls
        )
    };
    let mut out = String::from("# Commandstats\r\n");
    out.push_str(&line("get", commands / 2, rejected));
    out.push_str(&line("set", commands / 4, 0));
    out.push_str(&line("del", commands / 16, 0));
    out.push_str(&line("mget", commands / 16, 0));
    out.push_str(&line("expire", commands / 16, 0));
    out.push_str(&line("ping", commands / 32, 0));
    out.push_str(&line("info", commands / 64, 0));
    out.push_str(&line("cluster|nodes", commands / 64, 0));
    out.push_str(&line("client|setname", 1, 0));
    out.push_str(&line("command|docs", 1, 0));
    out
}

/// A `# Stats` section shaped like Redis 7's, so replies have a realistic size.
fn stats_section(node: &Counters) -> String {
    let commands = node.get(|c| &c.commands);
    let errors = node.get(|c| &c.moved) + node.get(|c| &c.ask);
    format!(
        "# Stats\r\n\
         total_connections_received:{connections}\r\n\
         total_commands_processed:{commands}\r\n\
         instantaneous_ops_per_sec:0\r\n\
         total_net_input_bytes:{input}\r\n\
         total_net_output_bytes:{output}\r\n\
         total_net_repl_input_bytes:0\r\n\
         total_net_repl_output_bytes:0\r\n\
         instantaneous_input_kbps:0.00\r\n\
         instantaneous_output_kbps:0.00\r\n\
         instantaneous_input_repl_kbps:0.00\r\n\
         instantaneous_output_repl_kbps:0.00\r\n\
         rejected_connections:0\r\n\
         sync_full:0\r\n\
         sync_partial_ok:0\r\n\
         sync_partial_err:0\r\n\
         expired_keys:0\r\n\
         expired_stale_perc:0.00\r\n\
         expired_time_cap_reached_count:0\r\n\
         expire_cycle_cpu_milliseconds:0\r\n\
         evicted_keys:0\r\n\
         evicted_clients:0\r\n\
         total_eviction_exceeded_time:0\r\n\
         current_eviction_exceeded_time:0\r\n\
         keyspace_hits:0\r\n\
         keyspace_misses:0\r\n\
         pubsub_channels:0\r\n\
         pubsub_patterns:0\r\n\
         pubsub_shardchannels:0\r\n\
         latest_fork_usec:0\r\n\
         total_forks:0\r\n\
         migrate_cached_sockets:0\r\n\
         slave_expires_tracked_keys:0\r\n\
         active_defrag_hits:0\r\n\
         active_defrag_misses:0\r\n\
         active_defrag_key_hits:0\r\n\
         active_defrag_key_misses:0\r\n\
         total_active_defrag_time:0\r\n\
         current_active_defrag_time:0\r\n\
         tracking_total_keys:0\r\n\
         tracking_total_items:0\r\n\
         tracking_total_prefixes:0\r\n\
         unexpected_error_replies:0\r\n\
         total_error_replies:{errors}\r\n\
         dump_payload_sanitizations:0\r\n\
         total_reads_processed:{commands}\r\n\
         total_writes_processed:{commands}\r\n\
         io_threaded_reads_processed:0\r\n\
         io_threaded_writes_processed:0\r\n\
         reply_buffer_shrinks:0\r\n\
         reply_buffer_expands:0\r\n",
        connections = node.get(|c| &c.connections),
        input = node.get(|c| &c.bytes_read),
        output = node.get(|c| &c.bytes_written),
    )
}
