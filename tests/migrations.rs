//! Slot migrations on every server of the matrix: one migrated slot is one `migration_started`
//! and one `migration_finished` between the two masters, an aborted one is one
//! `migration_aborted`, and `check` lists masters only, even where replicas print the markers
//! too (Valkey copies `CLUSTER SETSLOT` to replicas).

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use slotwatch::slot::key_slot;
use support::{Exporter, RedisCluster, Server, slotwatch_bin, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// A 3+3 cluster, slotwatch polling it every 200 ms, and the two masters of a migration:
/// (id, endpoint) of the source (node 0) and of another master.
struct Setup {
    cluster: RedisCluster,
    exporter: Exporter,
    source: (String, String),
    target: (String, String),
    slot: u16,
}

fn setup(server: Server) -> Setup {
    let cluster = RedisCluster::on(server, 3, 1, &[]);
    let exporter = Exporter::polling_fast(&cluster.seed());
    exporter.wait_metric("the first poll", "slotwatch_up", &[], WAIT, |v| v == 1.0);
    let source_node = &cluster.nodes[0];
    let source = (source_node.id(), source_node.addr());
    let slot = (0..16384u16)
        .find(|s| cluster.owner_of(*s) == source.1)
        .unwrap();
    let target_addr = (0..16384u16)
        .map(|s| cluster.owner_of(s))
        .find(|o| *o != source.1)
        .unwrap();
    let target = (cluster.node_at(&target_addr).id(), target_addr);
    Setup {
        cluster,
        exporter,
        source,
        target,
        slot,
    }
}

impl Setup {
    /// `CLUSTER SETSLOT slot IMPORTING` on the target, then `MIGRATING` on the source, the
    /// order `redis-cli --cluster reshard` uses.
    fn open(&self) {
        let slot = self.slot.to_string();
        let target = self.cluster.node_at(&self.target.1);
        target.cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &self.source.0]);
        let source = self.cluster.node_at(&self.source.1);
        source.cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &self.target.0]);
    }

    /// The migration events of this slot in `/events`, as (kind, from, to).
    fn migration_events(&self) -> Vec<(String, String, String)> {
        self.exporter
            .events()
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"].as_str().unwrap_or("").starts_with("migration_"))
            .filter(|e| e["slot"] == self.slot)
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["from"]["node"].as_str().unwrap().to_owned(),
                    e["to"]["node"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Lets slotwatch poll a dozen more times, so that late or repeated events would show.
    fn settle(&self) {
        let polls = |e: &Exporter| {
            support::sample(&e.metrics(), "slotwatch_polls_total", &[]).unwrap_or(0.0)
        };
        let now = polls(&self.exporter);
        wait_for("12 more polls", WAIT, || {
            (polls(&self.exporter) >= now + 12.0).then_some(())
        });
    }

    fn check_json(&self) -> Value {
        let out = Command::new(slotwatch_bin())
            .args(["check", "--json", "--seed", &self.cluster.seed()])
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
}

fn a_migrated_slot_is_one_start_and_one_finish_between_masters(server: Server) {
    let s = setup(server);
    let tag = format!("{{{}}}", tag_for(s.slot));
    let source = s.cluster.node_at(&s.source.1);
    for i in 0..5 {
        source.cmd(&["SET", &format!("{tag}:{i}"), "v"]);
    }
    s.open();
    s.exporter
        .wait_event("migration_started", WAIT, |e| e["slot"] == s.slot);

    // While it is open, check names the two masters and nothing else.
    let report = s.check_json();
    let migrations = report["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 1, "{report:#}");
    assert_eq!(
        migrations[0]["from"]["node"],
        s.source.1.as_str(),
        "{report:#}"
    );
    assert_eq!(
        migrations[0]["to"]["node"],
        s.target.1.as_str(),
        "{report:#}"
    );
    if server.is_valkey() {
        // The reproduction: Valkey's replicas print the markers on their own lines too.
        let replica_lines = s
            .cluster
            .nodes
            .iter()
            .map(|n| n.cmd(&["CLUSTER", "NODES"]))
            .filter(|text| {
                text.lines()
                    .any(|l| l.contains("myself,slave") && l.contains('['))
            })
            .count();
        assert!(replica_lines > 0, "no Valkey replica printed the markers");
    }

    // Move the keys and hand the slot over, as redis-cli --cluster reshard does.
    let (host, port) = s.target.1.split_once(':').unwrap();
    let keys: Vec<String> = (0..5).map(|i| format!("{tag}:{i}")).collect();
    let mut args = vec!["MIGRATE", host, port, "", "0", "5000", "KEYS"];
    args.extend(keys.iter().map(String::as_str));
    source.cmd(&args);
    let slot = s.slot.to_string();
    for addr in [&s.target.1, &s.source.1] {
        s.cluster
            .node_at(addr)
            .cmd(&["CLUSTER", "SETSLOT", &slot, "NODE", &s.target.0]);
    }
    s.exporter
        .wait_event("migration_finished", WAIT, |e| e["slot"] == s.slot);
    s.settle();
    assert_eq!(
        s.migration_events(),
        [
            (
                "migration_started".into(),
                s.source.1.clone(),
                s.target.1.clone()
            ),
            (
                "migration_finished".into(),
                s.source.1.clone(),
                s.target.1.clone()
            ),
        ],
        "{:#}",
        s.exporter.events()
    );
    // For `--nocapture` readers: the events as an operator sees them.
    eprintln!(
        "{}: /events after one classic migration:\n{:#}",
        server.name(),
        s.exporter.events()
    );
}

fn an_aborted_migration_is_one_abort(server: Server) {
    let s = setup(server);
    s.open();
    s.exporter
        .wait_event("migration_started", WAIT, |e| e["slot"] == s.slot);
    let slot = s.slot.to_string();
    for addr in [&s.source.1, &s.target.1] {
        s.cluster
            .node_at(addr)
            .cmd(&["CLUSTER", "SETSLOT", &slot, "STABLE"]);
    }
    s.exporter
        .wait_event("migration_aborted", WAIT, |e| e["slot"] == s.slot);
    s.settle();
    assert_eq!(
        s.migration_events(),
        [
            (
                "migration_started".into(),
                s.source.1.clone(),
                s.target.1.clone()
            ),
            (
                "migration_aborted".into(),
                s.source.1.clone(),
                s.target.1.clone()
            ),
        ],
        "{:#}",
        s.exporter.events()
    );
}

/// Fills `slot` on the source with `n` keys, in pipelined batches.
fn fill(s: &Setup, n: usize) {
    let tag = tag_for(s.slot);
    let mut conn = s.cluster.node_at(&s.source.1).connection();
    for batch in 0..n.div_ceil(5000) {
        let mut pipe = redis::pipe();
        for i in batch * 5000..((batch + 1) * 5000).min(n) {
            pipe.cmd("SET")
                .arg(format!("{{{tag}}}:{i}"))
                .arg("v")
                .ignore();
        }
        pipe.query::<()>(&mut conn).expect("load keys");
    }
}

/// Starts an atomic migration of the setup's slot, slowed so that polls see it running.
fn migrate_atomically(s: &Setup) {
    let source = s.cluster.node_at(&s.source.1);
    // Microseconds per key while the source's child writes the slot's snapshot.
    source.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "300"]);
    let slot = s.slot.to_string();
    source.cmd(&[
        "CLUSTER",
        "MIGRATESLOTS",
        "SLOTSRANGE",
        &slot,
        &slot,
        "NODE",
        &s.target.0,
    ]);
}

/// The events of atomic migration jobs, as (kind, job).
fn atomic_events(s: &Setup) -> Vec<(String, String)> {
    s.exporter
        .events()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mechanism"] == "atomic")
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["job"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Valkey 9: an atomic migration is seen while it runs (topology, check, metrics), then gives
/// one started, one finished and one reshard. Servers without the command are never asked it:
/// not one error reply in 12 polls.
fn atomic_migrations_are_seen_while_they_run(server: Server) {
    let s = setup(server);
    if !server.has_atomic_migration() {
        // Every ERR reply the node sent (the test's own connections send none).
        let errors = || {
            let text = s.cluster.nodes[0].cmd(&["INFO", "errorstats"]);
            text.lines()
                .find_map(|l| l.strip_prefix("errorstat_ERR:count="))
                .map_or(0, |n| n.trim().parse::<u64>().unwrap())
        };
        s.settle();
        let before = errors();
        s.settle();
        let during = errors() - before;
        assert_eq!(
            during, 0,
            "{during} ERR replies in 12 polls: GETSLOTMIGRATIONS was asked"
        );
        assert!(!s.exporter.log_text().contains("GETSLOTMIGRATIONS"));
        return;
    }
    fill(&s, 20_000);
    migrate_atomically(&s);
    let started = s
        .exporter
        .wait_event("migration_started", WAIT, |e| e["mechanism"] == "atomic");
    assert_eq!(started["from"]["node"], s.source.1.as_str(), "{started}");
    assert_eq!(started["to"]["node"], s.target.1.as_str(), "{started}");
    let slot_text = s.slot.to_string();
    assert_eq!(started["ranges"][0], slot_text.as_str(), "{started}");
    let job = started["job"].as_str().unwrap().to_owned();

    // While it runs: /topology, the metrics and check all show it.
    let topo = s.exporter.topology();
    let open = &topo["clusters"][0]["migrations"][0];
    assert_eq!(open["mechanism"], "atomic", "{topo:#}");
    assert_eq!(open["job"], job.as_str(), "{topo:#}");
    assert!(
        open["state"].as_str().is_some_and(|st| !st.is_empty()),
        "{open}"
    );
    s.exporter.wait_metric(
        "the atomic export",
        "redis_cluster_slots_migrating",
        &[("node", &s.source.1), ("mechanism", "atomic")],
        WAIT,
        |v| v == 1.0,
    );
    s.exporter.wait_metric(
        "an open atomic migration",
        "redis_cluster_migrations",
        &[("mechanism", "atomic")],
        WAIT,
        |v| v == 1.0,
    );
    let report = s.check_json();
    let m = &report["migrations"][0];
    assert_eq!(m["mechanism"], "atomic", "{report:#}");
    assert!(m["age_seconds"].as_f64().is_some(), "{report:#}");
    assert_eq!(report["healthy"], false, "an open migration is reported");
    // One model: check --json and /topology describe the migration with the same fields.
    let fields =
        |v: &serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(fields(m), fields(open), "{m}\n{open}");
    assert_eq!(m["to"], open["to"]);

    let finished = s
        .exporter
        .wait_event("migration_finished", Duration::from_secs(90), |e| {
            e["job"] == job.as_str()
        });
    assert_eq!(finished["to"]["node"], s.target.1.as_str());
    let reshard = s
        .exporter
        .wait_event("reshard", WAIT, |e| e["ranges"][0] == slot_text.as_str());
    assert_eq!(reshard["slots"], 1, "{reshard}");
    s.settle();
    assert_eq!(
        atomic_events(&s),
        [
            ("migration_started".to_owned(), job.clone()),
            ("migration_finished".to_owned(), job.clone())
        ]
    );
    let reshards = s
        .exporter
        .events()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reshard")
        .count();
    assert_eq!(reshards, 1, "{:#}", s.exporter.events());
    eprintln!(
        "{}: /events after one atomic migration:\n{:#}",
        server.name(),
        s.exporter.events()
    );
}

/// Valkey 9: a cancelled atomic migration is one `migration_cancelled`, and one whose target
/// dies is one `migration_failed` carrying the server's message.
fn atomic_migrations_that_end_badly(server: Server) {
    if !server.has_atomic_migration() {
        return;
    }
    let mut s = setup(server);
    fill(&s, 20_000);
    migrate_atomically(&s);
    let started = s
        .exporter
        .wait_event("migration_started", WAIT, |e| e["mechanism"] == "atomic");
    let first = started["job"].as_str().unwrap().to_owned();
    s.cluster
        .node_at(&s.source.1)
        .cmd(&["CLUSTER", "CANCELSLOTMIGRATIONS"]);
    let cancelled = s
        .exporter
        .wait_event("migration_cancelled", WAIT, |e| e["job"] == first.as_str());
    assert_eq!(
        cancelled["from"]["node"],
        s.source.1.as_str(),
        "{cancelled}"
    );

    migrate_atomically(&s);
    let started = s.exporter.wait_event("migration_started", WAIT, |e| {
        e["mechanism"] == "atomic" && e["job"] != first.as_str()
    });
    let second = started["job"].as_str().unwrap().to_owned();
    let target = s
        .cluster
        .nodes
        .iter_mut()
        .find(|n| n.addr() == s.target.1)
        .unwrap();
    target.stop();
    let failed = s
        .exporter
        .wait_event("migration_failed", WAIT, |e| e["job"] == second.as_str());
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("Connection lost to target"), "{failed}");
    assert_eq!(failed["lost_writes"], false);
    assert_eq!(
        atomic_events(&s),
        [
            ("migration_started".to_owned(), first.clone()),
            ("migration_cancelled".to_owned(), first),
            ("migration_started".to_owned(), second.clone()),
            ("migration_failed".to_owned(), second),
        ]
    );
}

/// A `redis-cli --cluster reshard` of 2000 slots spans many 200 ms polls; it is one operation,
/// so one `reshard` event that grows, counted once.
fn a_long_reshard_is_one_event(server: Server) {
    let s = setup(server);
    let started = std::time::Instant::now();
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &s.source.1])
        .args(["--cluster-from", &s.source.0, "--cluster-to", &s.target.0])
        .args(["--cluster-slots", "2000", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let took = started.elapsed();
    let reshard = s
        .exporter
        .wait_event("reshard", WAIT, |e| e["slots"] == 2000);
    s.settle();
    let reshards: Vec<Value> = s
        .exporter
        .events()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reshard")
        .cloned()
        .collect();
    assert_eq!(reshards.len(), 1, "took {took:?}: {reshards:#?}");
    assert_eq!(reshard["from"]["node"], s.source.1.as_str());
    assert_eq!(reshard["to"]["node"], s.target.1.as_str());
    let counted = support::sample(
        &s.exporter.metrics(),
        "redis_cluster_events_total",
        &[("kind", "reshard")],
    );
    assert_eq!(counted, Some(1.0));
    // It did span polls (otherwise this test would prove nothing).
    assert!(
        reshard["end_ms"].as_u64() > reshard["timestamp_ms"].as_u64(),
        "took {took:?}: {reshard:#}"
    );
}

/// A hashtag whose keys hash to `slot`.
fn tag_for(slot: u16) -> String {
    (0..)
        .map(|i| format!("t{i}"))
        .find(|t| key_slot(t.as_bytes()) == slot)
        .unwrap()
}

/// Valkey 9 with `cluster-databases` 16: a migrating slot's keys in databases 0 and 3 are all
/// counted as left to move (`CLUSTER COUNTKEYSINSLOT` alone counts database 0's).
fn keys_left_count_every_database(server: Server) {
    let cluster = RedisCluster::on(server, 3, 0, &["--cluster-databases", "16"]);
    let exporter = Exporter::polling_fast(&cluster.seed());
    let source = &cluster.nodes[0];
    let slot = (0..16384u16)
        .find(|s| cluster.owner_of(*s) == source.addr())
        .unwrap();
    let target = cluster
        .nodes
        .iter()
        .find(|n| n.addr() != source.addr())
        .unwrap();
    let tag = tag_for(slot);
    let mut conn = source.connection();
    for (db, n) in [(0, 3), (3, 4)] {
        redis::cmd("SELECT").arg(db).query::<()>(&mut conn).unwrap();
        for i in 0..n {
            redis::cmd("SET")
                .arg(format!("{{{tag}}}:{db}:{i}"))
                .arg("v")
                .query::<()>(&mut conn)
                .unwrap();
        }
    }
    let slot = slot.to_string();
    target.cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &source.id()]);
    source.cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target.id()]);
    exporter.wait_metric(
        "the keys of both databases",
        "redis_cluster_migration_keys_remaining",
        &[("node", &source.addr())],
        WAIT,
        |v| v == 7.0,
    );
    let topo = exporter.topology();
    assert_eq!(
        topo["clusters"][0]["migrations"][0]["keys_left"], 7,
        "{topo:#}"
    );
}

#[test]
fn keys_left_count_every_database_on_valkey_9_1() {
    support::servers::run(Server::Valkey91, keys_left_count_every_database)
}

server_matrix!(
    a_migrated_slot_is_one_start_and_one_finish_between_masters,
    an_aborted_migration_is_one_abort,
    atomic_migrations_are_seen_while_they_run,
    atomic_migrations_that_end_badly,
    a_long_reshard_is_one_event,
);
