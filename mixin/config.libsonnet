// Everything a user may want to change, in one place. Override it like this:
//
//   (import 'slotwatch-mixin/mixin.libsonnet') + {
//     _config+:: { redirects+: { graceWindow: '5m' } },
//   }
//
// Durations are a whole number and one unit: s, m, h or d ('90s', '10m', '1h').
// alerts/slotwatch.rules.yml explains why each default is what it is.
{
  _config+:: {
    // The label that names a cluster. slotwatch sets `cluster`; change this only if your
    // Prometheus renames it on ingestion (e.g. because `cluster` already names something else).
    clusterLabel: 'cluster',

    // Label matchers added to every selector of slotwatch's metrics, e.g. 'job="slotwatch"'
    // when another job exports series of the same names. Empty: any job.
    slotwatchSelector: '',

    // The scrape job(s) of slotwatch itself, for SlotwatchDown and SlotwatchTargetMissing.
    jobSelector: 'job="slotwatch"',

    // RedisClusterRedirectsPersisting.
    redirects: {
      // MOVED replies per second per node, over the 5m rate, above which a stream counts.
      movedThreshold: 0.05,
      // Time after the last topology change during which a MOVED burst is expected.
      graceWindow: '10m',
      // How long the rate must stay above the threshold outside the grace window.
      'for': '10m',
    },

    // Slot migrations, classic (CLUSTER SETSLOT + MIGRATE) and atomic (Valkey 9 CLUSTER
    // MIGRATESLOTS) alike.
    migration: {
      // RedisClusterSlotMigrationStuck, reason="no_progress": an open migration has made no
      // progress (no key left its source, no new job state) for longer than this.
      noProgressFor: '10m',
      // RedisClusterSlotMigrationStuck, reason="open_too_long": the backstop, on age alone,
      // for a migration that seems to progress but does not finish. Longer than noProgressFor.
      openTooLongAfter: '6h',
      // RedisClusterSlotMigrationLostWrites fires for this long after each such failure.
      lostWritesWindow: '1h',
    },

    // RedisClusterFailoverFlapping: `count` or more failovers within `window`.
    failoverFlapping: {
      window: '30m',
      count: 2,
    },

    // Cluster error replies other than redirects (redis_cluster_error_replies_total).
    // RedisClusterDownReplies: a node answered CLUSTERDOWN in every `window` for `for`. Keep
    // `window` no longer than `for`, so that the seconds of refusals of one failover cannot
    // fire it, and at least twice the scrape interval, so that it holds two samples.
    clusterDown: {
      window: '2m',
      'for': '2m',
    },
    // RedisClusterTryAgainPersisting: TRYAGAIN over `window` while no migration was open and
    // no slot changed owner in that `window`, for `for`.
    tryAgain: {
      window: '5m',
      'for': '10m',
    },
    // RedisClusterCrossSlotPersisting: CROSSSLOT over `window`, for `for`.
    crossSlot: {
      window: '5m',
      'for': '10m',
    },

    // Replication: RedisClusterReplicationLinkDown and RedisClusterReplicaLagging.
    replication: {
      // Bytes behind its master above which a replica lags. slotwatch's own health judgement
      // uses the same number (tests/rules.rs checks that they agree).
      lagBytes: 16777216,
      lagFor: '5m',
      linkDownFor: '5m',
    },

    // `for` of the other alerts.
    slotsUnassignedFor: '1m',
    masterFailingFor: '1m',
    nodeStateFailFor: '1m',
    masterUnredundantFor: '10m',
    viewsDisagreeFor: '10m',
    nodeUnreachableFor: '3m',
    slotwatchDownFor: '5m',
    slotwatchTargetMissingFor: '10m',
    slotwatchCannotReachClusterFor: '3m',
    slotwatchPollsStaleFor: '1m',

    // Each alert's runbook_url is this with %s replaced by the lower-case alert name.
    runbookUrlTemplate: 'https://github.com/slotwatch/slotwatch/blob/main/docs/runbooks.md#%s',

    // The Grafana dashboard.
    dashboard: {
      uid: 'slotwatch-cluster',
      title: 'slotwatch / Redis Cluster',
      tags: ['redis', 'redis-cluster', 'valkey', 'slotwatch'],
      refresh: '30s',
      timeFrom: 'now-6h',
    },
  },
}
