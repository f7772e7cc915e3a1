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
    let exporter = Exporter::start(&[
        "--seed",
        &cluster.seed(),
        "--poll-interval",
        "200ms",
        "--timeout",
        "200ms",
    ]);
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
    assert_eq!(migrations[0]["from"], s.source.1.as_str(), "{report:#}");
    assert_eq!(migrations[0]["to"], s.target.1.as_str(), "{report:#}");
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

/// A hashtag whose keys hash to `slot`.
fn tag_for(slot: u16) -> String {
    (0..)
        .map(|i| format!("t{i}"))
        .find(|t| key_slot(t.as_bytes()) == slot)
        .unwrap()
}

server_matrix!(
    a_migrated_slot_is_one_start_and_one_finish_between_masters,
    an_aborted_migration_is_one_abort,
);
