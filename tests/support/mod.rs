//! Test support: real `redis-server` processes forming real clusters on loopback, each on its
//! own free ports, killed on drop even when the test fails.

#![allow(dead_code)] // Each test binary uses a different subset of these helpers.

pub mod clients;
pub mod resp;
pub mod servers;

pub use servers::Server;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Fails loudly (never skips) when a required program is missing.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} is not installed. Run scripts/test, which installs it, or: \
         apt-get install -y redis-server redis-tools prometheus prometheus-alertmanager chromium"
    );
}

/// Debian's python3 (scripts/lib/deps.sh, `DEPS_PYTHON`): the interpreter Debian's
/// python3-redis and python3-prometheus-client install for, named by path because a pyenv or
/// conda python3 often comes first on a developer's PATH without them.
pub const PYTHON: &str = "/usr/bin/python3";

static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port that was free a moment ago and that no other test in this process got.
/// Ports come from 20000-32767, below the kernel's ephemeral range (32768-60999 by default),
/// so that the many outgoing connections of parallel tests cannot take a port between the
/// check and the server binding it.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let taken = taken.get_or_insert_with(HashSet::new);
    for attempt in 0u64.. {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(attempt);
        let port = 20_000 + (h.finish() % 12_768) as u16;
        if taken.contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        taken.insert(port);
        return port;
    }
    unreachable!("an unbounded loop only ends by returning")
}

/// A free port whose cluster bus port (the port + 10000, fixed before Redis 7.0's
/// `--cluster-port`) is free too; both stay below the ephemeral range.
pub fn free_port_with_bus() -> u16 {
    loop {
        let port = free_port();
        let bus = port + 10_000;
        if port >= 22_768 {
            continue;
        }
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        let taken = taken.get_or_insert_with(HashSet::new);
        if !taken.contains(&bus) && TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            taken.insert(bus);
            return port;
        }
    }
}

/// Polls `check` until it returns `Some`, panicking with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process that is killed when dropped, so that a failing test leaves nothing behind.
pub struct ProcessGuard {
    pub child: Child,
    pub name: String,
}

impl ProcessGuard {
    pub fn spawn(name: &str, cmd: &mut Command) -> ProcessGuard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        ProcessGuard {
            child,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`) to the process, from Rust rather than through a
    /// `kill` command that a minimal machine may lack.
    pub fn signal(&self, signal: libc::c_int) {
        send_signal(self.pid(), signal)
            .unwrap_or_else(|e| panic!("signal {signal} to {}: {e}", self.name));
    }

    pub fn kill(&mut self) {
        // A SIGSTOPped process still dies from SIGKILL; CONT first keeps redis logs tidy.
        let _ = send_signal(self.pid(), libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal to a child process this test started.
pub fn send_signal(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; the pid is a child
    // this process spawned and has not yet reaped, so it cannot name an unrelated process.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One cluster-mode server of the matrix (redis-server or valkey-server).
pub struct RedisNode {
    pub server: Server,
    /// The loopback address it binds and announces (127.0.0.1 unless placed elsewhere).
    pub host: String,
    pub port: u16,
    pub bus_port: u16,
    pub process: Option<ProcessGuard>,
    dir: PathBuf,
    extra: Vec<String>,
    /// The `requirepass` given in `extra`, used by this helper's own connections.
    password: Option<String>,
}

impl RedisNode {
    /// Starts a cluster-enabled redis-server on free ports, in `dir`, with `extra` config
    /// arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> RedisNode {
        Self::start_on(Server::Redis70, dir, extra)
    }

    /// Starts a cluster-enabled `server` on free ports, in `dir`, with `extra` arguments.
    pub fn start_on(server: Server, dir: &Path, extra: &[&str]) -> RedisNode {
        Self::start_at(server, dir, "127.0.0.1", extra)
    }

    /// Starts a cluster-enabled `server` bound to `host` (another loopback address stands
    /// for another machine), on ports free on 127.0.0.1.
    pub fn start_at(server: Server, dir: &Path, host: &str, extra: &[&str]) -> RedisNode {
        require("redis-cli");
        // Without --cluster-port the bus is always the port + 10000.
        let (port, bus_port) = if !server.has_cluster_port() {
            let port = free_port_with_bus();
            (port, port + 10_000)
        } else {
            (free_port(), free_port())
        };
        let mut node = RedisNode {
            server,
            host: host.to_owned(),
            port,
            bus_port,
            process: None,
            dir: dir.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            password: extra
                .iter()
                .position(|a| *a == "--requirepass")
                .map(|i| extra[i + 1].to_owned()),
        };
        node.launch();
        node
    }

    fn launch(&mut self) {
        let p = self.port.to_string();
        let mut cmd = Command::new(self.server.check());
        cmd.args(["--port", &p]);
        if self.server.has_cluster_port() {
            cmd.args(["--cluster-port", &self.bus_port.to_string()]);
        }
        cmd.args(["--bind", &self.host]);
        // Before the first MEET a node does not know its own address, and redis-cli's create
        // then introduces it as 127.0.0.1.
        if self.host != "127.0.0.1" {
            cmd.args(["--cluster-announce-ip", &self.host]);
        }
        cmd.args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{p}.conf")])
            .args(["--cluster-node-timeout", "2000"])
            .args(["--dir", &self.dir.display().to_string()])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--logfile", &format!("redis-{p}.log")])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.process = Some(ProcessGuard::spawn(
            &format!("{} :{p}", self.server.name()),
            &mut cmd,
        ));
        let port = self.port;
        wait_for(
            &format!("{} on port {port}", self.server.name()),
            Duration::from_secs(20),
            || self.try_cmd(&["PING"]).filter(|r| r == "PONG"),
        );
    }

    /// Restarts a stopped node with its old ports and nodes.conf, so it keeps its ID.
    pub fn restart(&mut self) {
        self.launch();
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.host, self.port)
    }

    fn auth_url(&self) -> String {
        match &self.password {
            Some(pw) => format!("redis://:{pw}@{}:{}", self.host, self.port),
            None => self.url(),
        }
    }

    /// A client for this node whose connections skip redis-rs's `CLIENT SETINFO`, which
    /// servers before 7.2 answer with an error: a test's own commands add no error replies,
    /// so the ones a test counts are slotwatch's.
    fn client(&self) -> Option<redis::Client> {
        use redis::IntoConnectionInfo;
        let info = self.auth_url().into_connection_info().ok()?;
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        redis::Client::open(info.set_redis_settings(settings)).ok()
    }

    pub fn connection(&self) -> redis::Connection {
        let client = self.client().expect("redis url");
        client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to redis")
    }

    /// Runs a command, returning the reply as a string (or the error text), or `None` if the
    /// node cannot be reached.
    pub fn try_cmd(&self, args: &[&str]) -> Option<String> {
        let client = self.client()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        match cmd.query::<redis::Value>(&mut conn) {
            Ok(v) => Some(value_to_string(v)),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Runs a command that must succeed.
    pub fn cmd(&self, args: &[&str]) -> String {
        let mut conn = self.connection();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let v: redis::Value = cmd
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("{} on {}: {e}", args.join(" "), self.addr()));
        value_to_string(v)
    }

    pub fn id(&self) -> String {
        self.cmd(&["CLUSTER", "MYID"])
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    pub fn signal(&self, signal: libc::c_int) {
        self.process.as_ref().expect("node running").signal(signal);
    }
}

pub fn value_to_string(v: redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Okay => "OK".into(),
        redis::Value::Int(i) => i.to_string(),
        redis::Value::VerbatimString { text, .. } => text,
        redis::Value::Nil => "(nil)".into(),
        other => format!("{other:?}"),
    }
}

/// A real cluster of `masters` masters with `replicas` replicas each, built by
/// `redis-cli --cluster create` (which works against Valkey too).
pub struct RedisCluster {
    pub nodes: Vec<RedisNode>,
    pub dir: tempfile::TempDir,
    /// Replicas `wait_converged` expects every view to show.
    pub replicas: usize,
}

impl RedisCluster {
    /// A redis-server 7.0 cluster, for tests that do not depend on server behaviour.
    pub fn start(masters: usize, replicas: usize) -> RedisCluster {
        Self::on(Server::Redis70, masters, replicas, &[])
    }

    /// A cluster of `server` nodes started with `extra` arguments.
    pub fn on(server: Server, masters: usize, replicas: usize, extra: &[&str]) -> RedisCluster {
        require("redis-cli");
        let dir = tempfile::tempdir().expect("tempdir");
        let total = masters * (1 + replicas);
        let nodes: Vec<RedisNode> = (0..total)
            .map(|_| RedisNode::start_on(server, dir.path(), extra))
            .collect();
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for n in &nodes {
            cmd.arg(n.addr());
        }
        cmd.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        if let Some(pos) = extra.iter().position(|a| *a == "--requirepass") {
            cmd.args(["-a", extra[pos + 1], "--no-auth-warning"]);
        }
        let out = cmd.output().expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster {
            nodes,
            dir,
            replicas: masters * replicas,
        };
        cluster.wait_converged();
        cluster
    }

    /// Waits until every node reports `cluster_state:ok` and lists every other node, with every
    /// replica attached and synced, and nothing in handshake or failing.
    pub fn wait_converged(&self) {
        let n = self.nodes.iter().filter(|n| n.process.is_some()).count();
        wait_for("the cluster to converge", Duration::from_secs(60), || {
            self.nodes
                .iter()
                .filter(|node| node.process.is_some())
                .all(|node| {
                    let info = node.try_cmd(&["CLUSTER", "INFO"]).unwrap_or_default();
                    // A replica that never finished its first sync refuses to fail over.
                    let repl = node.try_cmd(&["INFO", "replication"]).unwrap_or_default();
                    let synced =
                        !repl.contains("role:slave") || repl.contains("master_link_status:up");
                    let nodes = node.try_cmd(&["CLUSTER", "NODES"]).unwrap_or_default();
                    info.contains("cluster_state:ok")
                        && synced
                        && nodes.lines().count() >= n
                        && nodes.matches(" slave ").count() + nodes.matches(",slave ").count()
                            >= self.replicas
                        && !nodes.contains("handshake")
                        && !nodes.contains("fail")
                })
                .then_some(())
        });
    }

    pub fn seed(&self) -> String {
        self.nodes[0].url()
    }

    pub fn node_by_id(&self, id: &str) -> &RedisNode {
        self.nodes
            .iter()
            .find(|n| n.process.is_some() && n.id() == id)
            .unwrap_or_else(|| panic!("no running node has id {id}"))
    }

    /// The endpoint (`127.0.0.1:port`) of the master that owns `slot`, per node 0's view.
    pub fn owner_of(&self, slot: u16) -> String {
        let nodes = self.nodes[0].cmd(&["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if !f[2].contains("master") {
                continue;
            }
            for r in &f[8..] {
                if r.starts_with('[') {
                    continue;
                }
                let (a, b) = match r.split_once('-') {
                    Some((a, b)) => (a.parse::<u16>().unwrap(), b.parse::<u16>().unwrap()),
                    None => (r.parse().unwrap(), r.parse().unwrap()),
                };
                if (a..=b).contains(&slot) {
                    return f[1].split('@').next().unwrap().to_owned();
                }
            }
        }
        panic!("no owner for slot {slot}");
    }

    pub fn node_at(&self, endpoint: &str) -> &RedisNode {
        self.nodes
            .iter()
            .find(|n| n.addr() == endpoint)
            .unwrap_or_else(|| panic!("no node at {endpoint}"))
    }
}

/// Path of the slotwatch binary cargo built for these tests.
pub fn slotwatch_bin() -> &'static str {
    env!("CARGO_BIN_EXE_slotwatch")
}

/// A `slotwatch serve` process on a free port.
pub struct Exporter {
    pub process: ProcessGuard,
    pub port: u16,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts `slotwatch serve` with `args` (the listen address is added) and waits for
    /// `/healthz` to answer.
    /// An exporter polling the cluster of `seed` every 200 ms with a 200 ms timeout: the
    /// pace most tests want, so that events show within a second.
    pub fn polling_fast(seed: &str) -> Exporter {
        Exporter::start(&[
            "--seed",
            seed,
            "--poll-interval",
            "200ms",
            "--timeout",
            "200ms",
        ])
    }

    pub fn start(args: &[&str]) -> Exporter {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Self::start_opts(args, env, true)
    }

    /// Starts `slotwatch serve`; waits for a plain-HTTP `/healthz` if `probe`, otherwise only
    /// for the port to accept connections (for TLS listeners).
    pub fn start_opts(args: &[&str], env: &[(&str, &str)], probe: bool) -> Exporter {
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("slotwatch.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(slotwatch_bin());
        cmd.arg("serve")
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info")
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let process = ProcessGuard::spawn("slotwatch", &mut cmd);
        let exporter = Exporter {
            process,
            port,
            log,
            _dir: dir,
        };
        if probe {
            wait_for("slotwatch /healthz", Duration::from_secs(20), || {
                exporter.try_get("/healthz").map(|_| ())
            });
        } else {
            wait_for("slotwatch to listen", Duration::from_secs(20), || {
                TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
            });
        }
        exporter
    }

    pub fn try_get(&self, path: &str) -> Option<(u16, String, String)> {
        http_get(self.port, path)
    }

    /// GETs `path`, asserting a 200.
    pub fn get(&self, path: &str) -> String {
        let (status, _, body) = self
            .try_get(path)
            .unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics")
    }

    pub fn events(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/events")).expect("events JSON")
    }

    pub fn topology(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/topology")).expect("topology JSON")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until an event of `kind` matching `pred` is in `/events`, returning it.
    pub fn wait_event(
        &self,
        kind: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if let Some(e) = events
                .as_array()
                .and_then(|list| list.iter().find(|e| e["kind"] == kind && pred(e)))
            {
                return e.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for a {kind} event\n/events: {events:#}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of slotwatch's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- slotwatch log (tail) ---\n{}",
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }

    /// Waits until `/metrics` has a sample named `name` with all `labels` and returns its value.
    pub fn wait_metric(
        &self,
        what: &str,
        name: &str,
        labels: &[(&str, &str)],
        timeout: Duration,
        pred: impl Fn(f64) -> bool,
    ) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let body = self.metrics();
            if let Some(v) = sample(&body, name, labels).filter(|v| pred(*v)) {
                return v;
            }
            if Instant::now() > deadline {
                let related: Vec<&str> = body.lines().filter(|l| l.starts_with(name)).collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}: {name}{labels:?}\n{}\n{}",
                    related.join("\n"),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Raw HTTP/1.1 GET on loopback; returns (status, headers, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, head.to_owned(), body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Finds a sample in OpenMetrics/Prometheus text by name and a subset of its labels.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, l)) => (m, l.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| label_text.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
            all.then(|| value.parse().ok()).flatten()
        })
}

/// The cluster page's nodes table: for each node (its first cell), the text of each cell
/// under a header with a `data-col`, by that name, and the `data-risk` marks in its row.
pub fn page_nodes(
    page: &str,
) -> std::collections::BTreeMap<String, (std::collections::BTreeMap<String, String>, Vec<String>)> {
    let doc = scraper::Html::parse_document(page);
    let sel = |css: &str| scraper::Selector::parse(css).expect("a valid selector");
    let text = |e: scraper::ElementRef| {
        e.text()
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let header: Vec<Option<String>> = doc
        .select(&sel("#nodes thead th"))
        .map(|th| th.attr("data-col").map(str::to_owned))
        .collect();
    let (cell, risk) = (sel("td"), sel("[data-risk]"));
    doc.select(&sel("#nodes tbody tr"))
        .filter_map(|tr| {
            let cells: Vec<scraper::ElementRef> = tr.select(&cell).collect();
            let node = text(*cells.first()?);
            let cols = header
                .iter()
                .zip(&cells)
                .filter_map(|(col, td)| Some((col.clone()?, text(*td))))
                .collect();
            let risks = tr
                .select(&risk)
                .map(|e| e.attr("data-risk").unwrap_or_default().to_owned())
                .collect();
            Some((node, (cols, risks)))
        })
        .collect()
}
