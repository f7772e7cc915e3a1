//! Redis 8.4's atomic slot migration (`CLUSTER MIGRATION IMPORT`, read with `CLUSTER MIGRATION
//! STATUS ALL`), against two fake masters that answer as Redis 8.4's documentation and source
//! give the replies: no registry reachable here carries a Redis 8.4 binary. The fakes speak
//! RESP2 (as slotwatch asks), name themselves Redis 8.4.0 in `INFO server`, and refuse with an
//! error, and count, every command they were not built to answer, Valkey's
//! `CLUSTER GETSLOTMIGRATIONS` among them.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::resp::{Reply, command};
use support::{Exporter, sample, slotwatch_bin, wait_for};

const WAIT: Duration = Duration::from_secs(30);
const A: &str = "a84a84a84a84a84a84a84a84a84a84a84a84a84a";
const B: &str = "b84b84b84b84b84b84b84b84b84b84b84b84b84b";

/// One task, as both masters log it under the same id.
#[derive(Clone)]
struct Task {
    id: &'static str,
    first: u16,
    last: u16,
    /// The destination's (B's) state: it drives the task.
    import_state: &'static str,
    import_error: &'static str,
    /// The source's (A's) state.
    migrate_state: &'static str,
    migrate_error: &'static str,
    created_ms: i64,
    end_ms: i64,
}

/// What the fake cluster says; the test changes it while slotwatch polls.
#[derive(Default)]
struct World {
    /// Slots 0-99 have moved from A to B.
    moved: bool,
    tasks: Vec<Task>,
    /// Every command received, as one line, with the index of the node that got it.
    received: Vec<(usize, String)>,
    /// Commands answered with an error: none is expected.
    refused: Vec<String>,
}

/// Unix ms now.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Two fake Redis 8.4 masters on free ports, A (index 0) and B (index 1); stop accepting when
/// dropped.
struct FakeCluster {
    ports: [u16; 2],
    world: Arc<Mutex<World>>,
    stop: Arc<AtomicBool>,
}

impl FakeCluster {
    fn start() -> FakeCluster {
        let listeners = [0, 1].map(|_| TcpListener::bind("127.0.0.1:0").unwrap());
        let ports = [0, 1].map(|i| listeners[i].local_addr().unwrap().port());
        let world = Arc::new(Mutex::new(World::default()));
        let stop = Arc::new(AtomicBool::new(false));
        for (me, listener) in listeners.into_iter().enumerate() {
            let (world, stop) = (world.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let world = world.clone();
                        std::thread::spawn(move || serve(stream, me, ports, &world));
                    }
                }
            });
        }
        FakeCluster { ports, world, stop }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    fn endpoint(&self, node: usize) -> String {
        format!("127.0.0.1:{}", self.ports[node])
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for port in self.ports {
            // Wakes the accept loop so that it sees the flag.
            let _ = TcpStream::connect(("127.0.0.1", port));
        }
    }
}

fn serve(mut stream: TcpStream, me: usize, ports: [u16; 2], world: &Mutex<World>) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::new();
        while let Some((args, used)) = command(&pending) {
            pending.drain(..used);
            let mut world = world.lock().unwrap();
            let line = args.join(" ").to_ascii_uppercase();
            world.received.push((me, line.clone()));
            let reply = answer(&world, me, ports, &line);
            if let Reply::Error(_) = reply {
                world.refused.push(line);
            }
            out.extend(reply.encode());
        }
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// A node's answer, as Redis 8.4 would give it.
fn answer(world: &World, me: usize, ports: [u16; 2], line: &str) -> Reply {
    match line {
        "CLIENT SETNAME SLOTWATCH" => Reply::Simple("OK".into()),
        "INFO SERVER" => Reply::Bulk(
            "# Server\r\nredis_version:8.4.0\r\nredis_git_sha1:00000000\r\nredis_mode:cluster\r\n"
                .into(),
        ),
        l if l.starts_with("INFO ") => Reply::Bulk(
            "# Stats\r\ntotal_commands_processed:10\r\ntotal_error_replies:0\r\n# Errorstats\r\n"
                .into(),
        ),
        "CLUSTER NODES" => Reply::Bulk(nodes(world, me, ports)),
        "CLUSTER INFO" => Reply::Bulk(
            "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n\
             cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:2\r\n\
             cluster_size:2\r\ncluster_current_epoch:3\r\ncluster_my_epoch:1\r\n\
             cluster_slot_migration_active_tasks:0\r\n"
                .into(),
        ),
        "CLUSTER MIGRATION STATUS ALL" => {
            Reply::Array(world.tasks.iter().map(|t| status(t, me == 1)).collect())
        }
        "CLIENT LIST" => Reply::Bulk(String::new()),
        // Redis 8.2+ has per-slot stats, so slotwatch asks; this test is about atomic
        // migrations, and the reply of a range without owned slots (empty) keeps the fake small.
        l if l.starts_with("CLUSTER SLOT-STATS SLOTSRANGE ") => Reply::Array(Vec::new()),
        _ => Reply::Error("ERR unknown command".into()),
    }
}

/// The `CLUSTER NODES` text node `me` prints.
fn nodes(world: &World, me: usize, ports: [u16; 2]) -> String {
    let (a_slots, b_slots, b_epoch) = if world.moved {
        ("100-8191", "0-99 8192-16383", 3)
    } else {
        ("0-8191", "8192-16383", 2)
    };
    let flags = |i: usize| if i == me { "myself,master" } else { "master" };
    format!(
        "{A} 127.0.0.1:{}@17000 {} - 0 0 1 connected {a_slots}\n\
         {B} 127.0.0.1:{}@17001 {} - 0 0 {b_epoch} connected {b_slots}\n",
        ports[0],
        flags(0),
        ports[1],
        flags(1),
    )
}

/// One entry of `CLUSTER MIGRATION STATUS ALL`: the twelve fields Redis 8.4 sends, in order.
fn status(t: &Task, on_destination: bool) -> Reply {
    let (operation, state, error) = if on_destination {
        ("import", t.import_state, t.import_error)
    } else {
        ("migrate", t.migrate_state, t.migrate_error)
    };
    let bulk = |s: &str| Reply::Bulk(s.to_owned());
    Reply::map(&[
        ("id", bulk(t.id)),
        ("slots", bulk(&format!("{}-{}", t.first, t.last))),
        ("source", bulk(A)),
        ("dest", bulk(B)),
        ("operation", bulk(operation)),
        ("state", bulk(state)),
        ("last_error", bulk(error)),
        ("retries", Reply::Int(0)),
        ("create_time", Reply::Int(t.created_ms)),
        ("start_time", Reply::Int(t.created_ms + 5)),
        ("end_time", Reply::Int(t.end_ms)),
        ("write_pause_ms", Reply::Int(0)),
    ])
}

fn check_json(seed: &str) -> serde_json::Value {
    let out = Command::new(slotwatch_bin())
        .args(["check", "--json", "--seed", seed])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn redis_8_4_tasks_are_atomic_migrations_started_finished_and_cancelled() {
    let cluster = FakeCluster::start();
    let seed = format!("redis://{}", cluster.endpoint(0));
    let exporter = Exporter::polling_fast(&seed);
    let (a, b) = (cluster.endpoint(0), cluster.endpoint(1));
    exporter.wait_metric(
        "the second master found",
        "redis_cluster_node_up",
        &[("node", &b)],
        WAIT,
        |v| v == 1.0,
    );

    let t1 = "24cf41718b20f7f05901743dffc40bc9b15db339";
    cluster.world().tasks.push(Task {
        id: t1,
        first: 0,
        last: 99,
        import_state: "accumulate-buffer",
        import_error: "",
        migrate_state: "send-bulk-and-stream",
        migrate_error: "",
        created_ms: now_ms(),
        end_ms: -1,
    });
    let started = exporter.wait_event("migration_started", WAIT, |e| e["job"] == t1);
    assert_eq!(started["mechanism"], "atomic", "{started}");
    assert_eq!(started["from"]["node"], a.as_str(), "{started}");
    assert_eq!(started["to"]["node"], b.as_str(), "{started}");
    assert_eq!(started["ranges"][0], "0-99", "{started}");
    // The destination drives a Redis task: its state is the migration's.
    exporter.wait_metric(
        "the destination's state",
        "redis_cluster_migrations",
        &[("mechanism", "atomic"), ("state", "accumulate-buffer")],
        WAIT,
        |v| v == 1.0,
    );
    let migrating = exporter.wait_metric(
        "the source's migrating slots",
        "redis_cluster_slots_migrating",
        &[("node", &a), ("mechanism", "atomic")],
        WAIT,
        |v| v > 0.0,
    );
    assert_eq!(migrating, 100.0);
    let importing = exporter.wait_metric(
        "the destination's importing slots",
        "redis_cluster_slots_importing",
        &[("node", &b), ("mechanism", "atomic")],
        WAIT,
        |v| v > 0.0,
    );
    assert_eq!(importing, 100.0);
    let report = check_json(&seed);
    let m = &report["migrations"][0];
    assert_eq!(
        (m["mechanism"].as_str(), m["job"].as_str()),
        (Some("atomic"), Some(t1)),
        "{report:#}"
    );
    assert_eq!(report["healthy"], false, "an open migration is reported");

    // Done: both sides say completed and B owns the slots.
    {
        let mut world = cluster.world();
        let t = &mut world.tasks[0];
        (t.import_state, t.migrate_state, t.end_ms) = ("completed", "completed", now_ms());
        world.moved = true;
    }
    let finished = exporter.wait_event("migration_finished", WAIT, |e| e["job"] == t1);
    assert_eq!(finished["to"]["node"], b.as_str(), "{finished}");
    exporter.wait_event("reshard", WAIT, |e| e["ranges"][0] == "0-99");
    wait_for("the migration no longer open", WAIT, || {
        let open = sample(
            &exporter.metrics(),
            "redis_cluster_migrations",
            &[("mechanism", "atomic"), ("state", "accumulate-buffer")],
        );
        open.is_none_or(|v| v == 0.0).then_some(())
    });

    // Cancelled on the destination; the source only sees its link drop, and says failed.
    let t2 = "9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f";
    cluster.world().tasks.push(Task {
        id: t2,
        first: 100,
        last: 199,
        import_state: "connecting",
        import_error: "",
        migrate_state: "wait-bgsave-start",
        migrate_error: "",
        created_ms: now_ms(),
        end_ms: -1,
    });
    exporter.wait_event("migration_started", WAIT, |e| e["job"] == t2);
    {
        let mut world = cluster.world();
        let t = &mut world.tasks[1];
        t.import_state = "canceled";
        t.import_error =
            "Cancelled due to user request (state: connecting, rdb_channel_state: none)";
        t.migrate_state = "failed";
        t.migrate_error = "Main and RDB channel clients are disconnected.";
        t.end_ms = now_ms();
    }
    exporter.wait_event("migration_cancelled", WAIT, |e| e["job"] == t2);
    let failed: Vec<_> = exporter
        .events()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "migration_failed")
        .cloned()
        .collect();
    assert!(
        failed.is_empty(),
        "the source's echo is no failure: {failed:?}"
    );

    let world = cluster.world();
    assert!(world.refused.is_empty(), "refused: {:?}", world.refused);
    for node in [0, 1] {
        assert!(
            world
                .received
                .iter()
                .any(|(n, l)| *n == node && l == "CLUSTER MIGRATION STATUS ALL"),
            "node {node} was never asked for its tasks"
        );
    }
}
