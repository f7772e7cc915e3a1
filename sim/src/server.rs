//! A Redis Cluster simulator for tests and benchmarks: N fake cluster nodes on N consecutive
//! loopback ports, all served by one tokio runtime, answering for one shared synthetic topology
//! ([`crate::synth`]). It speaks RESP2 through the `redis-protocol` codec and
//! answers what slotwatch sends: `AUTH`, `CLIENT SETNAME`/`SETINFO`, `PING`, `CLUSTER NODES`
//! (plus `MYID` and `INFO`) and `INFO` (`stats`, `errorstats`, `cluster`). It can be told to
//! reshard or fail over, and it counts what it served.
//!
//! Used in-process by `tests/sim_smoke.rs` and as a standalone process by the `cluster_sim`
//! binary (`scripts/bench scale`).

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use redis_protocol::codec::Resp2;
use redis_protocol::resp2::types::BytesFrame;
use slotwatch::redis::{ByteCounter, CountingStream};
use slotwatch::topology::{Flags, NodeLine};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use crate::synth;

/// How to start a [`Simulator`].
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// Number of nodes; the first half (rounded up) are masters, as `synth::cluster` lays out.
    pub nodes: usize,
    /// First port of the N consecutive ones; 0 picks a free range.
    pub base_port: u16,
    /// Password `AUTH` must present (any username is accepted); `None` needs no `AUTH`.
    pub password: Option<String>,
    /// Tokio worker threads; 0 means 1.
    pub workers: usize,
}

/// What the simulator has served since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimStats {
    /// Bytes written to clients, over all nodes.
    pub bytes_written: u64,
    /// Bytes read from clients, over all nodes.
    pub bytes_read: u64,
    /// `CLUSTER NODES` replies sent.
    pub cluster_nodes_served: u64,
    /// Commands answered, errors included.
    pub commands: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Topology version: 0 at start, +1 per reshard or failover.
    pub version: u64,
}

impl SimStats {
    /// One line of JSON, as the control interface prints it.
    pub fn to_json(self) -> String {
        serde_json::json!({
            "bytes_written": self.bytes_written,
            "bytes_read": self.bytes_read,
            "cluster_nodes_served": self.cluster_nodes_served,
            "commands": self.commands,
            "connections": self.connections,
            "open_connections": self.open_connections,
            "version": self.version,
        })
        .to_string()
    }
}

/// A topology change the simulator applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `reshard` or `failover`.
    pub kind: &'static str,
    /// The master that lost the slots (`ip:port`).
    pub from: String,
    /// The node that got them (`ip:port`).
    pub to: String,
    /// Slots that changed owner.
    pub slots: u32,
    /// Topology version after the change.
    pub version: u64,
    /// When every node started answering with the new topology, in Unix milliseconds.
    pub at_ms: u64,
}

impl Change {
    /// One line of JSON, as the control interface prints it.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "ok": true,
            "kind": self.kind,
            "from": self.from,
            "to": self.to,
            "slots": self.slots,
            "version": self.version,
            "at_ms": self.at_ms,
        })
        .to_string()
    }
}

/// N fake cluster nodes on loopback; stops (closing every socket) on drop.
pub struct Simulator {
    shared: Arc<Shared>,
    base_port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Simulator {
    /// Starts `nodes` nodes from `base_port` (0 picks a free range), without a password.
    pub fn start(nodes: usize, base_port: u16) -> io::Result<Simulator> {
        Self::start_with(SimConfig {
            nodes,
            base_port,
            ..SimConfig::default()
        })
    }

    /// Starts a simulator; every port is bound and accepting when this returns.
    pub fn start_with(config: SimConfig) -> io::Result<Simulator> {
        if config.nodes == 0 || config.nodes > 16384 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("nodes must be 1..=16384, got {}", config.nodes),
            ));
        }
        let (base_port, listeners) = if config.base_port == 0 {
            bind_free_range(config.nodes)?
        } else {
            (
                config.base_port,
                bind_range(config.base_port, config.nodes)?,
            )
        };
        let lines = synth::cluster(config.nodes, base_port);
        let shared = Arc::new(Shared {
            topology: RwLock::new(Topo::new(0, lines)),
            password: config.password,
            totals: Counters::default(),
            nodes: (0..config.nodes).map(|_| Counters::default()).collect(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers.max(1))
            .thread_name("cluster-sim")
            .enable_all()
            .build()?;
        {
            let _in_runtime = runtime.enter();
            for (me, listener) in listeners.into_iter().enumerate() {
                listener.set_nonblocking(true)?;
                let listener = TcpListener::from_std(listener)?;
                runtime.spawn(accept_loop(listener, me, shared.clone()));
            }
        }
        Ok(Simulator {
            shared,
            base_port,
            runtime: Some(runtime),
        })
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.shared.nodes.len()
    }

    /// The first and last port.
    pub fn ports(&self) -> (u16, u16) {
        let last = usize::from(self.base_port) + self.nodes() - 1;
        (self.base_port, last as u16)
    }

    /// `redis://127.0.0.1:<port>` of node `index`.
    pub fn url(&self, index: usize) -> String {
        format!(
            "redis://127.0.0.1:{}",
            usize::from(self.base_port) + index.min(self.nodes() - 1)
        )
    }

    /// The `CLUSTER NODES` text node `me` answers now.
    pub fn view_text(&self, me: usize) -> String {
        let rendered = self.shared.rendered();
        String::from_utf8_lossy(&rendered.view(me)).into_owned()
    }

    /// The current topology, one line per node in index order, without `myself`.
    pub fn lines(&self) -> Vec<NodeLine> {
        self.shared.read().lines.clone()
    }

    /// Moves `count` slots from the start of master `from`'s first range to master `to`.
    pub fn reshard(&self, from: usize, to: usize, count: u16) -> Result<Change, String> {
        let mut topo = self.shared.write();
        let n = topo.lines.len();
        for (what, i) in [("from", from), ("to", to)] {
            let line = topo
                .lines
                .get(i)
                .ok_or_else(|| format!("{what} {i} is not a node index (0..{n})"))?;
            if !line.flags.contains(Flags::MASTER) {
                return Err(format!(
                    "{what} {i} ({}) is not a master",
                    line.addr.endpoint()
                ));
            }
        }
        if from == to {
            return Err("from and to are the same node".into());
        }
        if count == 0 {
            return Err("count must be at least 1".into());
        }
        let Some(first) = topo.lines[from].slots.first().copied() else {
            return Err(format!("master {from} owns no slots"));
        };
        // synth::reshard moves slots from the first range only.
        let slots = u32::from(count).min(first.len());
        let mut lines = topo.lines.clone();
        synth::reshard(&mut lines, from, to, count);
        let change = Change {
            kind: "reshard",
            from: lines[from].addr.endpoint(),
            to: lines[to].addr.endpoint(),
            slots,
            version: topo.version + 1,
            at_ms: 0,
        };
        *topo = Topo::new(change.version, lines);
        Ok(Change {
            at_ms: unix_ms(),
            ..change
        })
    }

    /// Promotes replica `replica` over its master, which becomes its replica.
    pub fn failover(&self, replica: usize) -> Result<Change, String> {
        let mut topo = self.shared.write();
        let n = topo.lines.len();
        let line = topo
            .lines
            .get(replica)
            .ok_or_else(|| format!("{replica} is not a node index (0..{n})"))?;
        let Some(master_id) = line.master else {
            return Err(format!(
                "{replica} ({}) is not a replica",
                line.addr.endpoint()
            ));
        };
        let master = topo
            .lines
            .iter()
            .find(|l| l.id == master_id)
            .ok_or_else(|| format!("the master of {replica} is not in the topology"))?;
        let slots = master.slots.iter().map(|r| r.len()).sum();
        let from = master.addr.endpoint();
        let mut lines = topo.lines.clone();
        synth::failover(&mut lines, replica);
        let change = Change {
            kind: "failover",
            from,
            to: lines[replica].addr.endpoint(),
            slots,
            version: topo.version + 1,
            at_ms: 0,
        };
        *topo = Topo::new(change.version, lines);
        Ok(Change {
            at_ms: unix_ms(),
            ..change
        })
    }

    /// Adds to node `index`'s `errorstat_MOVED` and `errorstat_ASK` counters, as if it had
    /// redirected that many commands.
    pub fn redirects(&self, index: usize, moved: u64, ask: u64) -> Result<(), String> {
        let node = self
            .shared
            .nodes
            .get(index)
            .ok_or_else(|| format!("{index} is not a node index (0..{})", self.nodes()))?;
        node.moved.fetch_add(moved, Ordering::Relaxed);
        node.ask.fetch_add(ask, Ordering::Relaxed);
        Ok(())
    }

    /// What the simulator has served so far.
    pub fn stats(&self) -> SimStats {
        let t = &self.shared.totals;
        SimStats {
            bytes_written: t.bytes_written.load(Ordering::Relaxed),
            bytes_read: t.bytes_read.load(Ordering::Relaxed),
            cluster_nodes_served: t.cluster_nodes.load(Ordering::Relaxed),
            commands: t.commands.load(Ordering::Relaxed),
            connections: t.connections.load(Ordering::Relaxed),
            open_connections: t.open.load(Ordering::Relaxed),
            version: self.shared.read().version,
        }
    }

    /// `CLUSTER NODES` replies node `index` has sent: which nodes' full views were read.
    pub fn views_served(&self, index: usize) -> u64 {
        self.shared
            .nodes
            .get(index)
            .map_or(0, |n| n.get(|c| &c.cluster_nodes))
    }

    /// Stops every listener and connection, waiting up to a second for the runtime to wind
    /// down.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Dropping the tasks closes every socket; no task blocks, so this is quick.
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// State shared by every node's tasks and the control side.
struct Shared {
    topology: RwLock<Topo>,
    password: Option<String>,
    totals: Counters,
    nodes: Vec<Counters>,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Topo> {
        // A panic while holding the lock leaves a topology that is still whole (it is only
        // ever replaced in one assignment), so a poisoned lock is safe to keep using.
        self.topology.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Topo> {
        self.topology.write().unwrap_or_else(|e| e.into_inner())
    }

    fn rendered(&self) -> Arc<Rendered> {
        self.read().rendered.clone()
    }
}

/// Counters, kept both per node and in total.
#[derive(Default)]
struct Counters {
    bytes_written: AtomicU64,
    bytes_read: AtomicU64,
    cluster_nodes: AtomicU64,
    commands: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
    moved: AtomicU64,
    ask: AtomicU64,
}

impl Counters {
    fn get(&self, c: fn(&Counters) -> &AtomicU64) -> u64 {
        c(self).load(Ordering::Relaxed)
    }
}

/// One version of the topology and its rendering.
struct Topo {
    version: u64,
    lines: Vec<NodeLine>,
    rendered: Arc<Rendered>,
}

impl Topo {
    fn new(version: u64, lines: Vec<NodeLine>) -> Topo {
        let rendered = Arc::new(Rendered::new(&lines));
        Topo {
            version,
            lines,
            rendered,
        }
    }
}

/// The `CLUSTER NODES` text of one topology version, rendered once. A node's view (what
/// `synth::view_of` gives) is its own line flagged `myself`, then every other line in order,
/// so each reply is assembled from three slices of the shared text instead of caching one full
/// reply per node: at 1000 nodes those would take 1000 × ~125 KB of memory.
struct Rendered {
    /// Every line without `myself`, each ending in `\n`.
    text: Bytes,
    /// Where line i starts in `text`; one more entry than lines, the last being `text.len()`.
    starts: Vec<usize>,
    /// Each node's own line, flagged `myself`, ending in `\n`.
    own: Vec<Bytes>,
}

impl Rendered {
    fn new(lines: &[NodeLine]) -> Rendered {
        use std::fmt::Write;
        let mut text = String::with_capacity(lines.len() * 128);
        let mut starts = Vec::with_capacity(lines.len() + 1);
        let mut own = Vec::with_capacity(lines.len());
        for line in lines {
            let mut line = line.clone();
            starts.push(text.len());
            line.flags.set(Flags::MYSELF, false);
            // Writing into a String cannot fail.
            let _ = writeln!(text, "{line}");
            line.flags.set(Flags::MYSELF, true);
            own.push(Bytes::from(format!("{line}\n")));
        }
        starts.push(text.len());
        Rendered {
            text: Bytes::from(text),
            starts,
            own,
        }
    }

    /// Node `me`'s `CLUSTER NODES` reply.
    fn view(&self, me: usize) -> Bytes {
        let (Some(own), Some(&start), Some(&end)) = (
            self.own.get(me),
            self.starts.get(me),
            self.starts.get(me + 1),
        ) else {
            return self.text.clone();
        };
        let mut out = BytesMut::with_capacity(self.text.len() - (end - start) + own.len());
        out.extend_from_slice(own);
        out.extend_from_slice(&self.text[..start]);
        out.extend_from_slice(&self.text[end..]);
        out.freeze()
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Binds `count` consecutive loopback ports from `base`.
fn bind_range(base: u16, count: usize) -> io::Result<Vec<StdListener>> {
    if usize::from(base) + count - 1 > usize::from(u16::MAX) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "ports {base}..{} do not fit below 65536",
                usize::from(base) + count
            ),
        ));
    }
    (0..count)
        .map(|i| {
            let port = base + i as u16;
            StdListener::bind(("127.0.0.1", port)).map_err(|e| {
                let hint = if e.raw_os_error() == Some(24) {
                    " (too many open files: raise the limit, e.g. `ulimit -n 4096`)"
                } else {
                    ""
                };
                io::Error::new(e.kind(), format!("cannot bind 127.0.0.1:{port}: {e}{hint}"))
            })
        })
        .collect()
}

/// Binds `count` consecutive free loopback ports, trying random bases in 20000..60000.
fn bind_free_range(count: usize) -> io::Result<(u16, Vec<StdListener>)> {
    let span = 40_000usize.saturating_sub(count).max(1);
    let mut last = None;
    for attempt in 0..50u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(attempt);
        let base = 20_000 + (h.finish() as usize % span) as u16;
        match bind_range(base, count) {
            Ok(listeners) => return Ok((base, listeners)),
            // Running out of descriptors will not get better with another base.
            Err(e) if e.to_string().contains("too many open files") => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port range")))
}

async fn accept_loop(listener: TcpListener, me: usize, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, me, shared.clone()));
            }
            // Typically out of descriptors: wait for some to close instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Decrements the open-connection gauges when a connection ends, however it ends.
struct OpenGuard {
    shared: Arc<Shared>,
    me: usize,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.shared.totals.open.fetch_sub(1, Ordering::Relaxed);
        self.shared.nodes[self.me]
            .open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_connection(stream: TcpStream, me: usize, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    for c in [&shared.totals, &shared.nodes[me]] {
        c.connections.fetch_add(1, Ordering::Relaxed);
        c.open.fetch_add(1, Ordering::Relaxed);
    }
    let _open = OpenGuard {
        shared: shared.clone(),
        me,
    };
    let stream = CountingStream::new(
        stream,
        NodeBytes {
            shared: shared.clone(),
            me,
        },
    );
    let mut framed = Framed::new(stream, Resp2::default());
    let mut session = Session {
        authed: shared.password.is_none(),
        close: false,
    };
    while let Some(frame) = framed.next().await {
        let reply = match frame {
            Ok(frame) => handle(&shared, me, &mut session, frame),
            Err(_) => {
                // The stream cannot be resynchronised after bad framing: answer and hang up.
                let _ = framed.send(error("ERR Protocol error")).await;
                return;
            }
        };
        // Replies go out one by one in request order, which is all pipelining needs.
        if framed.send(reply).await.is_err() || session.close {
            return;
        }
        // A CLUSTER NODES reply grows the write buffer to its size; give that memory back so
        // that 1000 idle connections do not each hold ~125 KB.
        if framed.write_buffer().capacity() > 64 * 1024 {
            *framed.write_buffer_mut() = BytesMut::new();
        }
    }
}

/// Per-connection state.
struct Session {
    authed: bool,
    close: bool,
}

fn error(text: &str) -> BytesFrame {
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
fn handle(shared: &Shared, me: usize, session: &mut Session, frame: BytesFrame) -> BytesFrame {
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

/// `INFO [section ...]`: `stats`, `errorstats` and `cluster` are known; no section, `default`,
/// `all` or `everything` gives all three; unknown sections give nothing, as in Redis.
fn info(shared: &Shared, me: usize, sections: &[Bytes]) -> String {
    let node = &shared.nodes[me];
    let mut wanted: Vec<&str> = Vec::new();
    for s in sections {
        match s.to_ascii_lowercase().as_slice() {
            b"stats" => wanted.push("stats"),
            b"errorstats" => wanted.push("errorstats"),
            b"cluster" => wanted.push("cluster"),
            b"default" | b"all" | b"everything" => {
                wanted.extend(["stats", "errorstats", "cluster"]);
            }
            _ => {}
        }
    }
    if sections.is_empty() {
        wanted.extend(["stats", "errorstats", "cluster"]);
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
            _ => "# Cluster\r\ncluster_enabled:1\r\n".to_owned(),
        });
    }
    // Redis separates sections with an empty line.
    out.join("\r\n")
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

/// Adds what one node's connection reads and writes to the node's and the total counters.
struct NodeBytes {
    shared: Arc<Shared>,
    me: usize,
}

impl NodeBytes {
    fn count(&self, field: fn(&Counters) -> &AtomicU64, n: usize) {
        for c in [&self.shared.totals, &self.shared.nodes[self.me]] {
            field(c).fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

impl ByteCounter for NodeBytes {
    fn read(&self, n: usize) {
        self.count(|c| &c.bytes_read, n);
    }

    fn written(&self, n: usize) {
        self.count(|c| &c.bytes_written, n);
    }
}
