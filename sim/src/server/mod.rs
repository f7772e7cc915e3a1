//! A Redis Cluster simulator for tests and benchmarks: N fake cluster nodes on N consecutive
//! loopback ports, all served by one tokio runtime, answering for one shared synthetic topology
//! ([`crate::synth`]). It speaks RESP2 through the `redis-protocol` codec and
//! answers what slotwatch sends: `AUTH`, `CLIENT SETNAME`/`SETINFO`, `PING`, `CLUSTER NODES`
//! (plus `MYID` and `INFO`) and `INFO` (`stats`, `errorstats`, `cluster`). It can be told to
//! reshard or fail over, and it counts what it served.
//!
//! Used in-process by `tests/sim_smoke.rs` and as a standalone process by the `cluster_sim`
//! binary (`scripts/bench scale`).

mod ports;
mod rendered;
mod reply;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use redis_protocol::codec::Resp2;
use slotwatch::redis::{ByteCounter, CountingStream};
use slotwatch::topology::{Flags, NodeLine};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use crate::synth;
use ports::{bind_free_range, bind_range};
use rendered::Rendered;
use reply::{Session, error, handle};

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
    /// Refuse INFO with several sections, as Redis 6.2 does (`ERR syntax error`).
    pub one_info_section: bool,
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
            one_info_section: config.one_info_section,
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
        let (from, to) = (lines[from].addr.endpoint(), lines[to].addr.endpoint());
        Ok(topo.advance(lines, "reshard", from, to, slots))
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
        let to = lines[replica].addr.endpoint();
        Ok(topo.advance(lines, "failover", from, to, slots))
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
    one_info_section: bool,
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
    /// Replaces the topology with its next version, describing the change.
    fn advance(
        &mut self,
        lines: Vec<NodeLine>,
        kind: &'static str,
        from: String,
        to: String,
        slots: u32,
    ) -> Change {
        *self = Topo::new(self.version + 1, lines);
        Change {
            kind,
            from,
            to,
            slots,
            version: self.version,
            at_ms: slotwatch::clock::now_ms(),
        }
    }

    fn new(version: u64, lines: Vec<NodeLine>) -> Topo {
        let rendered = Arc::new(Rendered::new(&lines));
        Topo {
            version,
            lines,
            rendered,
        }
    }
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
    fn read(&self, n: usize) -> std::io::Result<()> {
        self.count(|c| &c.bytes_read, n);
        Ok(())
    }

    fn written(&self, n: usize) {
        self.count(|c| &c.bytes_written, n);
    }
}
