// Alerting rules. The reasoning behind every default threshold is in the header of the
// rendered alerts/slotwatch.rules.yml (mixin/lib/rules-header.txt).
//
// Each alert gives one answer per cluster (and node) however many slotwatch instances watch
// that cluster: series of several instances are reduced with `max by (cluster, ...)` before
// they are compared, so two instances never make two alerts or double a count.
local util = import 'lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local cl = c.clusterLabel,
    local sel(metric, matchers=[]) = util.selector(metric, [c.slotwatchSelector] + matchers),
    local human = util.humanDuration,

    local alert(name, severity, expr, summary, description, comment, forDuration=null) = {
      alert: name,
      expr: expr,
      [if forDuration != null then 'for']: forDuration,
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: description,
        runbook_url: c.runbookUrlTemplate % std.asciiLower(name),
      },
      comment:: comment,
    },

    local r = c.redirects,
    local m = c.migration,
    assert util.seconds(m.openTooLongAfter) > util.seconds(m.noProgressFor)
           : 'migration.openTooLongAfter (%s) must be longer than migration.noProgressFor (%s): it is the backstop for migrations that keep progressing' % [m.openTooLongAfter, m.noProgressFor],
    local change = sel('redis_cluster_last_topology_change_timestamp_seconds'),
    local errors(kind) = sel('redis_cluster_error_replies_total', ['error="%s"' % kind]),
    local cd = c.clusterDown,
    local ta = c.tryAgain,
    local cs = c.crossSlot,
    assert util.seconds(cd.window) <= util.seconds(cd['for'])
           : 'clusterDown.window (%s) must not be longer than clusterDown.for (%s): the refusals of a single failover would fire the alert' % [cd.window, cd['for']],

    groups+: [
      {
        name: 'slotwatch.alerts',
        rules: [
          alert(
            'RedisClusterRedirectsPersisting',
            'warning',
            |||
              cluster_node_type:redis_cluster_redirects:rate5m{type="moved"} > %(threshold)s
              and on (%(cl)s)
              (
                  (time() - max by (%(cl)s) (%(change)s)) > %(grace)d
                or
                  max by (%(cl)s) (%(change)s) == 0
              )
            ||| % { threshold: util.number(r.movedThreshold), cl: cl, change: change, grace: util.seconds(r.graceWindow) },
            'Clients keep getting MOVED redirects long after the last topology change.',
            'Node {{ $labels.node }} of cluster {{ $labels.%(cl)s }} has been answering {{ $value | printf "%%.2f" }} MOVED/s for more than %(for)s, and the last slot owner change was more than %(grace)s ago. Some client is not cluster-aware, never refreshes its slot map, or sends commands to a replica.' % { cl: cl, 'for': human(r['for']), grace: human(r.graceWindow) },
            |||
              Threshold %(threshold)s/s, grace %(grace)d s and for %(for)s: see the comment at the top of the file.
              The last change is the latest that any slotwatch instance saw (max): an instance that
              restarted reports 0 (none seen) until it sees a change itself, and must not end the
              grace window for the others.
            ||| % { threshold: util.number(r.movedThreshold), grace: util.seconds(r.graceWindow), 'for': r['for'] },
            r['for'],
          ),
          alert(
            'RedisClusterDownReplies',
            'critical',
            'max by (%s, node) (increase(%s[%s])) > 0' % [cl, errors('clusterdown'), cd.window],
            'A cluster node keeps refusing commands with CLUSTERDOWN.',
            'Node {{ $labels.node }} of cluster {{ $labels.%(cl)s }} has kept refusing commands with CLUSTERDOWN for more than %(for)s ({{ $value | printf "%%.0f" }} in the last %(window)s): it takes the cluster for down (a slot without a working master, or no majority of masters within its reach), or it was asked for a slot that no node serves. Every keyed command it refuses is an error for the application.' % { cl: cl, 'for': human(cd['for']), window: human(cd.window) },
            |||
              Any CLUSTERDOWN in every %(window)s window for %(for)s: see the comment at the top of
              the file. A failover refuses commands for a few seconds (from the FAIL flag to the
              replica's promotion), a restarted master for up to 2 seconds; neither lasts through
              %(for)s. Per node, because a node cut off in a minority refuses alone. The node's own
              counter, read by every slotwatch instance: increase per series, then max.
            ||| % { window: cd.window, 'for': cd['for'] },
            cd['for'],
          ),
          alert(
            'RedisClusterTryAgainPersisting',
            'warning',
            |||
              max by (%(cl)s, node) (increase(%(tryagain)s[%(window)s])) > 0
              and on (%(cl)s)
              max by (%(cl)s) (max_over_time(%(age)s[%(window)s])) == 0
              and on (%(cl)s)
              (time() - max by (%(cl)s) (%(change)s)) > %(windowSeconds)d
            ||| % {
              cl: cl,
              tryagain: errors('tryagain'),
              age: sel('redis_cluster_migration_age_seconds'),
              change: change,
              window: ta.window,
              windowSeconds: util.seconds(ta.window),
            },
            'Multi-key commands keep getting TRYAGAIN while no slot migration is open.',
            'Node {{ $labels.node }} of cluster {{ $labels.%(cl)s }} has kept answering TRYAGAIN for more than %(for)s ({{ $value | printf "%%.0f" }} in the last %(window)s), while slotwatch saw no open slot migration and no slot changing owner. A node sends TRYAGAIN only for a multi-key command on a slot it holds open for a migration (MIGRATING or IMPORTING), so some slot is open where slotwatch does not see it. The commands fail until it is closed.' % { cl: cl, 'for': human(ta['for']), window: human(ta.window) },
            |||
              TRYAGAIN in the last %(window)s, and within that same %(window)s no open migration
              (classic or atomic) and no slot changing owner, for %(for)s: see the comment at the
              top of the file. During a migration TRYAGAIN is expected and alerts nothing; a
              migration that does not finish has its own alert. Both slotwatch gauges are reduced
              with max: an instance that restarted and has not seen the open migration yet (age
              0), or no change yet (0, which also reads as "long ago"), does not hide what the
              other instance sees.
            ||| % { window: ta.window, 'for': ta['for'] },
            ta['for'],
          ),
          alert(
            'RedisClusterCrossSlotPersisting',
            'warning',
            'max by (%s, node) (increase(%s[%s])) > 0' % [cl, errors('crossslot'), cs.window],
            'Clients keep sending multi-key commands whose keys hash to different slots.',
            'Node {{ $labels.node }} of cluster {{ $labels.%(cl)s }} has kept answering CROSSSLOT for more than %(for)s ({{ $value | printf "%%.0f" }} in the last %(window)s). Each is a multi-key command (MGET, MSET, a DEL of several keys, a transaction) whose keys hash to different slots: it fails every time, whatever the topology. An application bug: give the keys a common {hashtag}, or split the command.' % { cl: cl, 'for': human(cs['for']), window: human(cs.window) },
            |||
              Any CROSSSLOT in every %(window)s window for %(for)s: see the comment at the top of the
              file. A warning, not info: every CROSSSLOT is a command that failed and will fail
              again, and the application may hide the error.
            ||| % { window: cs.window, 'for': cs['for'] },
            cs['for'],
          ),
          alert(
            'RedisClusterSlotMigrationStuck',
            'warning',
            |||
              label_replace(
                max by (%(cl)s) (%(stalled)s) > %(noProgress)d,
                "reason", "no_progress", "", ""
              )
              or on (%(cl)s)
              label_replace(
                max by (%(cl)s) (%(age)s) > %(openTooLong)d,
                "reason", "open_too_long", "", ""
              )
            ||| % {
              cl: cl,
              stalled: sel('redis_cluster_migration_stalled_seconds'),
              age: sel('redis_cluster_migration_age_seconds'),
              noProgress: util.seconds(m.noProgressFor),
              openTooLong: util.seconds(m.openTooLongAfter),
            },
            'A slot migration has made no progress for %s, or has been open for more than %s.' % [human(m.noProgressFor), human(m.openTooLongAfter)],
            '{{ if eq $labels.reason "no_progress" }}An open slot migration in cluster {{ $labels.%(cl)s }} has made no progress for {{ $value | humanizeDuration }}: no key has left its source and no atomic job has changed state. Whatever drives it has probably died or is blocked.{{ else }}The oldest open slot migration in cluster {{ $labels.%(cl)s }} has been open for {{ $value | humanizeDuration }}. It still seems to progress but does not finish; keys expiring on the source look like progress.{{ end }} Until it is finished or rolled back, its slots cannot be resharded again, and clients get ASK for keys a classic migration already moved.' % { cl: cl },
            |||
              No progress for %(noProgress)s, or open for more than %(openTooLong)s: see the comment at
              the top of the file. One alert name for both; the `reason` label says which
              condition holds (no_progress or open_too_long). When both hold, `or on (%(cl)s)`
              keeps no_progress only, so a cluster never has two of these alerts at once. Both
              gauges already measure durations, so no `for` is needed on top of them. Each
              slotwatch instance measures them from when it first saw the migration (an atomic
              job's age from its creation), so an instance that restarted reports less; max
              keeps the longest. The gauges merge classic and atomic migrations.
            ||| % { noProgress: human(m.noProgressFor), openTooLong: human(m.openTooLongAfter), cl: cl },
          ),
          alert(
            'RedisClusterSlotMigrationLostWrites',
            'critical',
            'max by (%s) (increase(%s[%s])) > 0' % [cl, sel('redis_cluster_migration_lost_writes_total'), m.lostWritesWindow],
            'An atomic slot migration failed after writes to its slots may have been lost.',
            'An atomic slot migration in cluster {{ $labels.%(cl)s }} failed after its source had resumed writes before the cut-over finished ({{ $value | printf "%%.0f" }} in the last %(window)s): the migration may have succeeded with some writes lost. slotwatch /events names its slot ranges (kind migration_failed).' % { cl: cl, window: human(m.lostWritesWindow) },
            |||
              One such failure is the whole signal: no threshold and no `for`. Critical, because
              acknowledged writes may be gone and nothing in the cluster will notice or repair
              it. The alert fires for %(window)s after the failure, then resolves by itself; the
              writes stay lost (see the comment at the top of the file). Each slotwatch instance
              counts the failures it saw: increase per instance, then max, so that two instances
              do not count one failure twice, and an instance that restarted (its counter starts
              again from 0) neither adds nor hides one.
            ||| % { window: human(m.lostWritesWindow) },
          ),
          alert(
            'RedisClusterSlotsUnassigned',
            'critical',
            'max by (%s) (%s) > 0' % [cl, sel('redis_cluster_slots_unassigned')],
            'Some hash slots have no owner.',
            '{{ $value }} of the 16384 slots of cluster {{ $labels.%s }} are not assigned to any master. Keys in those slots cannot be served, and with cluster-require-full-coverage yes the cluster rejects every command.' % cl,
            |||
              With the default cluster-require-full-coverage yes, a single unassigned slot stops
              the whole cluster from serving. %s rides out the moment between ADDSLOTS calls
              while a cluster is being created.
            ||| % c.slotsUnassignedFor,
            c.slotsUnassignedFor,
          ),
          alert(
            'RedisClusterMasterFailing',
            'critical',
            |||
              (max by (%(cl)s, node, flag) (%(failing)s) == 1)
              and on (%(cl)s, node)
              (max by (%(cl)s, node) (%(slots)s) > 0)
            ||| % { cl: cl, failing: sel('redis_cluster_node_failing', ['flag="fail"']), slots: sel('redis_cluster_node_slots') },
            'A master flagged FAIL still owns hash slots.',
            'Master {{ $labels.node }} of cluster {{ $labels.%s }} is flagged FAIL and still owns slots, so no replica has taken over. Keys in its slots are unavailable.' % cl,
            |||
              During an automatic failover the failed master keeps its slots only until a
              replica wins the election, normally within seconds of the FAIL flag. After %s
              the failover did not happen: no replica, no majority of masters, or
              cluster-replica-no-failover.
            ||| % c.masterFailingFor,
            c.masterFailingFor,
          ),
          alert(
            'RedisClusterMasterUnredundant',
            'warning',
            |||
              (max by (%(cl)s, node) (%(ready)s) == 0)
              and on (%(cl)s, node)
              (max by (%(cl)s, node) (%(slots)s) > 0)
            ||| % { cl: cl, ready: sel('redis_cluster_master_replicas', ['state="ready"']), slots: sel('redis_cluster_node_slots') },
            'A master owning slots has no replica ready to take over.',
            'Master {{ $labels.node }} of cluster {{ $labels.%s }} owns slots and has had no replica ready to take over for more than %s: its next failure leaves those slots without an owner.' % [cl, human(c.masterUnredundantFor)],
            |||
              A replica is ready when the cluster does not flag it fail or fail?, its own INFO
              replication says its link is up with no full sync running, and it may fail over.
              %s rides out a replica's restart and full resync; a replica lost for good, or a
              cluster created without replicas, fires. With several slotwatch instances, ready
              on any of them counts (max).
            ||| % c.masterUnredundantFor,
            c.masterUnredundantFor,
          ),
          alert(
            'RedisClusterReplicationLinkDown',
            'warning',
            'max by (%s, node, master) (%s) == 0' % [cl, sel('redis_cluster_replica_link_up')],
            "A replica's link to its master is down.",
            'Replica {{ $labels.node }} of master {{ $labels.master }} in cluster {{ $labels.%s }} has said for more than %s that its replication link is down or a full sync is running: promoted now, it would serve stale data or none.' % [cl, human(c.replication.linkDownFor)],
            |||
              The replica's own word (master_link_status, master_sync_in_progress), or its
              master's while it does not answer. A resync after a restart takes seconds to
              minutes with a large dataset; %s is a link that stays down.
            ||| % c.replication.linkDownFor,
            c.replication.linkDownFor,
          ),
          alert(
            'RedisClusterReplicaLagging',
            'warning',
            'max by (%s, node, master) (%s) > %d' % [cl, sel('redis_cluster_replica_lag_bytes'), c.replication.lagBytes],
            'A replica is far behind its master.',
            'Replica {{ $labels.node }} of master {{ $labels.master }} in cluster {{ $labels.%s }} has been more than %d bytes behind its master for more than %s ({{ $value | humanize1024 }}B now): a failover to it would lose those writes.' % [cl, c.replication.lagBytes, human(c.replication.lagFor)],
            |||
              Lag is the master's replication offset less the replica's, read in the same poll
              (a moment apart, hence noise of a few KB under writes), or less what the replica
              last acknowledged while it does not answer. %d bytes is seconds of a busy
              master's writes; %s keeps a burst of writes from firing it.
            ||| % [c.replication.lagBytes, c.replication.lagFor],
            c.replication.lagFor,
          ),
          alert(
            'RedisClusterNodeStateFail',
            'critical',
            |||
              (min by (%(cl)s, node) (%(state)s) == 0)
              and on (%(cl)s, node)
              (max by (%(cl)s, node) (%(slots)s) > 0)
            ||| % { cl: cl, state: sel('redis_cluster_node_state_ok'), slots: sel('redis_cluster_node_slots') },
            'A master that owns slots says its cluster is down.',
            'Master {{ $labels.node }} of cluster {{ $labels.%s }} owns slots and its own CLUSTER INFO has said cluster_state:fail for more than %s: it refuses commands with CLUSTERDOWN, so keys in its slots cannot be served.' % [cl, human(c.nodeStateFailFor)],
            |||
              A node says fail when it cannot reach a majority of masters, or when some slot's
              owner has failed and cluster-require-full-coverage is yes. The second happens
              during every automatic failover, from the FAIL flag until the replica takes
              over (node-timeout plus an election, seconds); %s rides that out.
            ||| % c.nodeStateFailFor,
            c.nodeStateFailFor,
          ),
          alert(
            'RedisClusterViewsDisagree',
            'warning',
            'max by (%s) (%s) > 0' % [cl, sel('redis_cluster_view_disagreement_slots')],
            'Cluster nodes disagree on who owns some slots.',
            'For more than %s the reachable nodes of cluster {{ $labels.%s }} have disagreed on the owner of {{ $value }} slots. Clients that load their slot map from different nodes will be redirected back and forth.' % [human(c.viewsDisagreeFor), cl],
            |||
              Nodes learn about a reshard or failover through gossip, so views disagree for a
              few seconds after every change. %s of disagreement means some node is not
              converging (partition, epoch collision, a node that was forgotten elsewhere).
            ||| % c.viewsDisagreeFor,
            c.viewsDisagreeFor,
          ),
          alert(
            'RedisClusterNodeUnreachable',
            'warning',
            'max by (%s, node) (%s) == 0' % [cl, sel('redis_cluster_node_up')],
            'A cluster node has stopped answering slotwatch.',
            'slotwatch has not received an answer from node {{ $labels.node }} of cluster {{ $labels.%s }} for more than %s (redis_cluster_node_up = {{ $value }}).' % [cl, human(c.nodeUnreachableFor)],
            |||
              A restart or a short network blip costs one or two polls; %s is a node that
              stays away. With several slotwatch instances, a node is unreachable when none of
              them reaches it (max).
            ||| % c.nodeUnreachableFor,
            c.nodeUnreachableFor,
          ),
          alert(
            'RedisClusterFailoverFlapping',
            'warning',
            'max by (%s, kind) (increase(%s[%s])) >= %d' % [cl, sel('redis_cluster_events_total', ['kind="failover"']), c.failoverFlapping.window, c.failoverFlapping.count],
            'Several failovers happened within %s.' % human(c.failoverFlapping.window),
            'Cluster {{ $labels.%s }} has had {{ $value | printf "%%.0f" }} failovers in the last %s.' % [cl, human(c.failoverFlapping.window)],
            |||
              One failover is the cluster doing its job. %(count)d or more in %(window)s means a
              master that keeps failing, or two nodes trading the master role. increase() only
              extrapolates outwards, so %(count)d events always count as at least %(count)d. Each
              slotwatch instance counts the failovers it saw: increase per instance, then max,
              so that two instances do not count each failover twice, and an instance that
              restarted (its counter starts again from 0) neither adds nor loses one.
            ||| % { count: c.failoverFlapping.count, window: human(c.failoverFlapping.window) },
          ),
          alert(
            'SlotwatchDown',
            'critical',
            'up{%s} == 0' % c.jobSelector,
            'Prometheus cannot scrape slotwatch.',
            'Prometheus has failed to scrape slotwatch at {{ $labels.instance }} (job {{ $labels.job }}) for more than %s. Unless another slotwatch watches the same clusters, they are not monitored.' % human(c.slotwatchDownFor),
            |||
              Critical: while slotwatch is down, no other alert in this file can fire, including
              the critical ones. %s rides out a restart or a redeploy. One alert per slotwatch
              instance: this alert is about an exporter, not about a cluster.
            ||| % c.slotwatchDownFor,
            c.slotwatchDownFor,
          ),
          alert(
            'SlotwatchTargetMissing',
            'warning',
            'absent(up{%s})' % c.jobSelector,
            'Prometheus has no slotwatch target.',
            'No series up{job="{{ $labels.job }}"} has existed for %s: this Prometheus does not scrape any slotwatch target, so no cluster is monitored.' % human(c.slotwatchTargetMissingFor),
            |||
              up{%s} == 0 cannot fire when the target is gone altogether (service
              discovery lost it, the job was renamed). This rule catches that case.
            ||| % c.jobSelector,
            c.slotwatchTargetMissingFor,
          ),
          alert(
            'SlotwatchCannotReachCluster',
            'critical',
            'max by (%s) (%s) == 0' % [cl, sel('slotwatch_up')],
            'No node of the cluster answers slotwatch with a topology.',
            'For more than %s slotwatch has not obtained CLUSTER NODES from any node of cluster {{ $labels.%s }} (slotwatch_up = {{ $value }}).' % [human(c.slotwatchCannotReachClusterFor), cl],
            |||
              slotwatch_up is 0 when a poll produced no topology at all: every seed and every
              known node failed. Either the whole cluster is down or slotwatch is cut off from
              it (network, AUTH, TLS); both leave the cluster unmonitored, hence critical. With
              several slotwatch instances, only when none of them gets a topology (max).
            |||,
            c.slotwatchCannotReachClusterFor,
          ),
          alert(
            'SlotwatchPollsStale',
            'critical',
            'time() - %s > %s' % [sel('slotwatch_last_poll_timestamp_seconds'), sel('slotwatch_poll_stale_after_seconds')],
            'slotwatch has stopped polling a cluster.',
            'slotwatch at {{ $labels.instance }} has completed no poll of cluster {{ $labels.%s }} for {{ $value | humanizeDuration }}, longer than three poll intervals plus the timeout: it serves the last poll it made as if it were current.' % cl,
            |||
              A poller that wedged goes on serving its last snapshot: slotwatch_up and every
              other series look healthy while nothing is watched. The bound comes from the
              exporter (slotwatch_poll_stale_after_seconds: three intervals plus the timeout),
              so it follows --poll-interval without a change here. /healthz answers 503 past
              the same bound, so a liveness probe restarts the process. Per instance, as
              SlotwatchDown: one stale instance means that instance watches nothing.
            |||,
            c.slotwatchPollsStaleFor,
          ),
        ],
      },
    ],
  },
}
