//! The clients report: suspects grouped by client, per-node summaries, and its text form for
//! `slotwatch check --clients`. Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::analyse::Suspect;
use super::analyse::persist::{Previous, carry};
use super::keyed::Commands;
use super::{NodeClients, Reason};
use crate::clock::rfc3339;
use crate::topology::Role;

/// One node as the analysis saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSummary {
    /// `ip:port`.
    pub node: String,
    /// `master` or `replica`.
    pub role: &'static str,
    /// Client connections listed (the servers' own links and slotwatch's excluded).
    pub connections: usize,
    /// MOVED replies it sent between the samples.
    pub moved: Option<u64>,
    /// True if the server counts commands per connection (`tot-cmds`: Valkey 8+, Redis 8.2+), which the
    /// stale-map and rejected-commands reasons need.
    pub counts_commands: bool,
}

/// One client: connections sharing a host, name and library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientGroup {
    /// The client's host.
    pub host: String,
    /// The connections' name, empty if unnamed.
    pub name: String,
    /// `lib-name lib-ver`, where the server shows it.
    pub library: Option<String>,
    /// Its suspect connections.
    pub suspects: Vec<Suspect>,
}

/// The whole analysis of one cluster's clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientsReport {
    /// The cluster's name.
    pub cluster: String,
    /// When the second sample was taken, RFC 3339.
    pub taken_at: String,
    /// Unix ms of the same.
    pub taken_at_ms: u64,
    /// Milliseconds between the two samples.
    pub interval_ms: u64,
    /// The nodes read.
    pub nodes: Vec<NodeSummary>,
    /// Nodes that could not be read, with the reason.
    pub unread: BTreeMap<String, String>,
    /// Suspect clients, the most suspect connections first.
    pub clients: Vec<ClientGroup>,
    /// Why the latest analysis was skipped (e.g. a topology change just happened); the rest
    /// of the report is then from the analysis before.
    pub skipped: Option<String>,
    /// Why this analysis names no one although its samples were read: the topology changed
    /// while they were taken, so its redirects are clients catching up.
    pub withdrawn: Option<String>,
}

impl ClientsReport {
    /// The report of `nodes` (read by the analysis) and `unread` (that failed); `commands`
    /// says which commands name keys, and `previous` is the last report, whose clients
    /// without a slot map stay named while they go on.
    pub fn build(
        cluster: &str,
        taken_at_ms: u64,
        sampled: (&[NodeClients], BTreeMap<String, String>),
        commands: &Commands,
        previous: Option<&ClientsReport>,
    ) -> ClientsReport {
        let (nodes, unread) = sampled;
        let mut suspects = super::analyse(nodes, commands);
        if let Some(p) = previous.filter(|p| p.withdrawn.is_none()) {
            let before: Vec<Suspect> = p.clients.iter().flat_map(|g| g.suspects.clone()).collect();
            let previous = Previous {
                taken_at_ms: p.taken_at_ms,
                suspects: &before,
            };
            carry(&previous, &mut suspects, nodes);
        }
        let mut groups: BTreeMap<(String, String, Option<String>), Vec<Suspect>> = BTreeMap::new();
        for s in suspects {
            let c = &s.connection;
            let library = c.lib_name.as_ref().map(|n| match &c.lib_ver {
                Some(v) => format!("{n} {v}"),
                None => n.clone(),
            });
            groups
                .entry((c.host().to_owned(), c.name.clone(), library))
                .or_default()
                .push(s);
        }
        let mut clients: Vec<ClientGroup> = groups
            .into_iter()
            .map(|((host, name, library), mut suspects)| {
                suspects.sort_by(|a, b| (a.reason, &a.node).cmp(&(b.reason, &b.node)));
                ClientGroup {
                    host,
                    name,
                    library,
                    suspects,
                }
            })
            .collect();
        clients.sort_by_key(|g| std::cmp::Reverse(g.suspects.len()));
        ClientsReport {
            cluster: cluster.to_owned(),
            taken_at: rfc3339(taken_at_ms),
            taken_at_ms,
            interval_ms: nodes.iter().map(|n| n.interval_ms).max().unwrap_or(0),
            nodes: nodes
                .iter()
                .map(|n| NodeSummary {
                    node: n.endpoint.clone(),
                    role: match n.role {
                        Role::Master => "master",
                        _ => "replica",
                    },
                    connections: n
                        .second
                        .iter()
                        .filter(|c| !c.internal() && c.name != crate::redis::CLIENT_NAME)
                        .count(),
                    moved: n.moved,
                    counts_commands: n.second.iter().any(|c| c.tot_cmds.is_some()),
                })
                .collect(),
            unread,
            clients,
            skipped: None,
            withdrawn: None,
        }
    }

    /// Suspect connections on `node` for `reason`: the value of
    /// `redis_cluster_suspect_clients{node, reason}`.
    pub fn count(&self, node: &str, reason: Reason) -> usize {
        self.clients
            .iter()
            .flat_map(|g| &g.suspects)
            .filter(|s| s.node == node && s.reason == reason)
            .count()
    }

    /// Takes back the report's suspects, for `why`: they were found across a topology change.
    pub fn withdraw(&mut self, why: String) {
        self.clients.clear();
        self.withdrawn = Some(why);
    }

    /// Suspect connections in all.
    pub fn suspects(&self) -> usize {
        self.clients.iter().map(|g| g.suspects.len()).sum()
    }

    /// The report as `check --clients` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "clients of cluster {} at {} (CLIENT LIST read twice, {:.1}s apart)",
            self.cluster,
            self.taken_at,
            self.interval_ms as f64 / 1000.0
        );
        for n in &self.nodes {
            let moved = n
                .moved
                .map_or("MOVED unknown".to_owned(), |m| format!("{m} MOVED"));
            let counts = if n.counts_commands {
                ""
            } else {
                ", no per-connection command counts"
            };
            let _ = writeln!(
                out,
                "  {} {}: {} client connection(s), {moved}{counts}",
                n.node, n.role, n.connections
            );
        }
        for (node, why) in &self.unread {
            let _ = writeln!(out, "  {node}: not read: {why}");
        }
        if let Some(why) = &self.withdrawn {
            let _ = writeln!(out, "  suspects withdrawn: {why}");
        }
        if let Some(why) = &self.skipped {
            let _ = writeln!(out, "  latest analysis skipped: {why}");
        }
        for g in &self.clients {
            let name = if g.name.is_empty() {
                "(unnamed)"
            } else {
                &g.name
            };
            let library = g.library.as_deref().unwrap_or("library unknown");
            let _ = writeln!(out, "\nclient {} name={name} ({library})", g.host);
            for s in &g.suspects {
                let c = &s.connection;
                let _ = writeln!(
                    out,
                    "  [{}] on {} addr={} age={}s idle={}s cmd={} user={}",
                    s.reason.title(),
                    s.node,
                    c.addr,
                    c.age_s,
                    c.idle_s,
                    if c.cmd.is_empty() { "-" } else { &c.cmd },
                    c.user.as_deref().unwrap_or("-"),
                );
                let _ = writeln!(out, "      {}", s.evidence);
                let _ = writeln!(out, "      fix: {}", s.reason.fix());
            }
        }
        let n = self.suspects();
        let _ = writeln!(
            out,
            "\n{}",
            if n == 0 {
                "verdict: no suspect clients".to_owned()
            } else {
                format!(
                    "verdict: {n} suspect connection(s) from {} client(s)",
                    self.clients.len()
                )
            }
        );
        out.push_str(
            "(a heuristic from CLIENT LIST: clients sharing a host, name and library look like \
             one; name connections with CLIENT SETNAME)\n",
        );
        out
    }
}

/// A report naming one suspect on `endpoint`: a plain client (`plain-app`) on a master that
/// sent 3 MOVED, for tests of what renders reports.
#[cfg(test)]
pub(crate) fn one_plain_client(cluster: &str, endpoint: &str) -> ClientsReport {
    let list = super::parse_client_list(
        "id=5 addr=10.0.0.9:5000 name=plain-app age=9 idle=0 flags=N cmd=get user=default\n",
    )
    .expect("a valid CLIENT LIST line");
    let node = super::NodeClients {
        endpoint: endpoint.to_owned(),
        role: crate::topology::Role::Master,
        first: list.clone(),
        second: list,
        between: Vec::new(),
        interval_ms: 1000,
        moved: Some(3),
        rejected: 3,
        sampled_at_ms: 1_000,
        demoted_at_ms: None,
    };
    ClientsReport::build(
        cluster,
        1_000,
        (&[node], Default::default()),
        &Commands::default(),
        None,
    )
}
