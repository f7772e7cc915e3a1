//! slotwatch itself: its polls, its liveness, its build.

use crate::metrics::per::seconds;
use crate::metrics::{BaseUnit, Family, Source, Type, Value};

/// The families of this part, in exposition order.
pub const OWN: &[Family] = &[
    // --- slotwatch itself.
    Family {
        name: "slotwatch_up",
        kind: Type::Gauge,
        unit: None,
        labels: &[],
        help: "1 if slotwatch's last poll reached at least one node and produced a topology, else 0.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.up)),
    },
    Family {
        name: "slotwatch_poll_duration",
        kind: Type::Histogram,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Wall time of each poll of the whole cluster (all nodes concurrently, each bounded by the per-node timeout).",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], Value::Histogram(&s.stats.poll_duration))),
    },
    Family {
        name: "slotwatch_poll_errors",
        kind: Type::Counter,
        unit: None,
        labels: &["node", "reason"],
        help: "Failed node fetches, by reason: timeout, connect, tls, auth, not_cluster, protocol or reply_too_large (a reply or a poll over --max-reply-bytes or --max-poll-bytes).",
        polled: false,
        source: Source::Cluster(|s, out| {
            for n in &s.nodes {
                for (reason, v) in &n.errors {
                    out.push(&[&n.endpoint, reason], *v);
                }
            }
        }),
    },
    Family {
        name: "slotwatch_last_poll_timestamp",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "Unix time when the last poll started; 0 before the first.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], seconds(s.polled_at_ms))),
    },
    Family {
        name: "slotwatch_poll_stale_after",
        kind: Type::Gauge,
        unit: Some(BaseUnit::Seconds),
        labels: &[],
        help: "How old the last poll may get before slotwatch counts its poller as stale: three poll intervals plus the per-node timeout. /healthz answers 503 past it, and SlotwatchPollsStale compares slotwatch_last_poll_timestamp_seconds with it.",
        polled: false,
        source: Source::Cluster(|s, out| {
            if let Some(l) = &s.liveness {
                out.push(&[], l.stale_after.as_secs_f64());
            }
        }),
    },
    Family {
        name: "slotwatch_poller_restarts",
        kind: Type::Counter,
        unit: None,
        labels: &[],
        help: "Times the cluster's poller panicked and was started again from its configuration (its events and history start again too). Any increase is a slotwatch bug worth reporting.",
        polled: false,
        source: Source::Cluster(|s, out| {
            if let Some(l) = &s.liveness {
                out.push(&[], l.restarts);
            }
        }),
    },
    Family {
        name: "slotwatch_polls",
        kind: Type::Counter,
        unit: None,
        labels: &[],
        help: "Polls of the cluster slotwatch completed.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.stats.polls_total)),
    },
    Family {
        name: "slotwatch_redis_read",
        kind: Type::Counter,
        unit: Some(BaseUnit::Bytes),
        labels: &[],
        help: "Bytes slotwatch read from the cluster's nodes (replies and handshakes), to show what polling costs.",
        polled: false,
        source: Source::Cluster(|s, out| out.push(&[], s.stats.bytes_read_total)),
    },
    Family {
        name: "slotwatch_build_info",
        kind: Type::Gauge,
        unit: None,
        labels: &["version"],
        help: "Always 1; the version label says which slotwatch build is running.",
        polled: false,
        source: Source::Process(|out| out.push(&[env!("CARGO_PKG_VERSION")], 1.0)),
    },
];
