// The Grafana dashboard of one cluster: health, redirects next to the topology changes that
// explain them, slots and migrations, nodes, events, and slotwatch itself.
//
// Queries about the cluster give the same answer with one or several slotwatch instances
// watching it: series of the instances are reduced with `max by (...)` (per series first for
// counters: increase or rate, then max), never summed. The panels about slotwatch itself
// show one line per instance.
local util = import '../lib/util.libsonnet';

function(c)
  local cl = c.clusterLabel;
  local sel(metric, matchers=[]) = util.selector(metric, ['%s="$cluster"' % cl, c.slotwatchSelector] + matchers);
  local ds = { type: 'prometheus', uid: '${datasource}' };
  local upDown = [{ type: 'value', options: {
    '0': { text: 'DOWN', color: 'red', index: 0 },
    '1': { text: 'UP', color: 'green', index: 1 },
  } }];

  local target(expr, legend, refId='A', instant=false, format='time_series') = {
    datasource: ds,
    expr: expr,
    legendFormat: legend,
    refId: refId,
    range: !instant,
    instant: instant,
    format: format,
    editorMode: 'code',
  };
  local grid(x, y, w, h) = { x: x, y: y, w: w, h: h };
  local steps(list) = { mode: 'absolute', steps: [{ color: s[0], value: s[1] } for s in list] };

  local row(id, title, description, y, collapsed=false, panels=[]) = {
    id: id,
    type: 'row',
    title: title,
    description: description,
    gridPos: grid(0, y, 24, 1),
    collapsed: collapsed,
    datasource: ds,
    panels: panels,
  };

  local stat(id, title, description, gridPos, expr, unit='none', thresholds=[['blue', null]], mappings=[], legend='__auto', textMode='auto') = {
    id: id,
    type: 'stat',
    title: title,
    description: description,
    datasource: ds,
    gridPos: gridPos,
    targets: [target(expr, legend, instant=true)],
    fieldConfig: {
      defaults: {
        unit: unit,
        thresholds: steps(thresholds),
        mappings: mappings,
        color: { mode: 'thresholds' },
      },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'none',
      textMode: textMode,
      justifyMode: 'auto',
      orientation: 'auto',
    },
  };

  local timeseries(id, title, description, gridPos, targets, unit='short', axisLabel='', stacking='none', bars=false, thresholdLine=null) = {
    id: id,
    type: 'timeseries',
    title: title,
    description: description,
    datasource: ds,
    gridPos: gridPos,
    targets: targets,
    fieldConfig: {
      defaults: {
        unit: unit,
        custom: {
          drawStyle: if bars then 'bars' else 'line',
          lineWidth: 1,
          fillOpacity: if bars then 80 else 10,
          showPoints: 'never',
          stacking: { mode: stacking, group: 'A' },
          axisLabel: axisLabel,
          spanNulls: false,
          [if thresholdLine != null then 'thresholdsStyle']: { mode: 'line' },
        },
        color: { mode: 'palette-classic' },
        min: 0,
        [if thresholdLine != null then 'thresholds']: steps([['transparent', null], ['red', thresholdLine]]),
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'table', placement: 'right', calcs: ['max', 'lastNotNull'], showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };

  local stateTimeline(id, title, description, gridPos, expr, legend, mappings, thresholds) = {
    id: id,
    type: 'state-timeline',
    title: title,
    description: description,
    datasource: ds,
    gridPos: gridPos,
    targets: [target(expr, legend)],
    fieldConfig: {
      defaults: { mappings: mappings, thresholds: steps(thresholds), color: { mode: 'thresholds' } },
      overrides: [],
    },
    options: { showValue: 'never', mergeValues: true, rowHeight: 0.8, legend: { showLegend: false } },
  };

  local eventAnnotation(name, kind, color, title) = {
    name: name,
    datasource: ds,
    enable: true,
    hide: false,
    iconColor: color,
    expr: 'max by (%s, kind) (increase(%s[$__rate_interval])) > 0' % [cl, sel('redis_cluster_events_total', ['kind="%s"' % kind])],
    step: '60s',
    titleFormat: title,
    textFormat: '{{kind}} in cluster {{%s}}; details in slotwatch /events' % cl,
    tagKeys: '%s,kind' % cl,
    useValueForTime: false,
  };

  // Redirect rate per node and type: rate per series, then one value per node and type.
  local redirectRate(matchers=[]) = 'max by (node, type) (rate(%s[$__rate_interval]))' % sel('redis_cluster_redirects_total', matchers);
  local redirectsPerNode = 'sum by (node) (%s)' % redirectRate();
  local commandsPerNode = 'max by (node) (rate(%s[$__rate_interval]))' % sel('redis_cluster_commands_processed_total');
  local graceSeconds = util.seconds(c.redirects.graceWindow);
  local noProgressSeconds = util.seconds(c.migration.noProgressFor);

  {
    uid: c.dashboard.uid,
    title: c.dashboard.title,
    description: 'Redirects, slot ownership, migrations and topology events of one Redis Cluster, as seen by slotwatch.',
    tags: c.dashboard.tags,
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    time: { from: c.dashboard.timeFrom, to: 'now' },
    timepicker: {},
    timezone: 'browser',
    refresh: c.dashboard.refresh,
    fiscalYearStartMonth: 0,
    liveNow: false,
    links: [],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
        eventAnnotation('Reshards', 'reshard', 'orange', 'Reshard'),
        eventAnnotation('Failovers', 'failover', 'red', 'Failover'),
      ],
    },
    templating: {
      list: [
        {
          type: 'datasource',
          name: 'datasource',
          label: 'Data source',
          query: 'prometheus',
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 1,
          regex: '',
          skipUrlSync: false,
        },
        {
          local query = 'label_values(%s, %s)' % [util.selector('redis_cluster_node_info', [c.slotwatchSelector]), cl],
          type: 'query',
          name: 'cluster',
          label: 'Cluster',
          datasource: ds,
          definition: query,
          query: { qryType: 1, query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 2,
          regex: '',
          skipUrlSync: false,
          sort: 1,
        },
      ],
    },
    panels: [
      row(1, 'Cluster health', 'Is every slot served, and can slotwatch see the cluster?', 0),
      stat(
        2,
        'Unassigned slots',
        'Slots with no owner (redis_cluster_slots_unassigned). Anything above 0 makes the cluster reject commands while cluster-require-full-coverage is yes.',
        grid(0, 1, 4, 4),
        'max(%s)' % sel('redis_cluster_slots_unassigned'),
        thresholds=[['green', null], ['red', 1]],
      ),
      stat(
        3,
        'Failing masters',
        'Masters flagged FAIL that still own slots: no replica has taken over yet.',
        grid(4, 1, 4, 4),
        'count((max by (node) (%s) == 1) and on (node) (max by (node) (%s) > 0)) or vector(0)' % [sel('redis_cluster_node_failing', ['flag="fail"']), sel('redis_cluster_node_slots')],
        thresholds=[['green', null], ['red', 1]],
      ),
      stat(
        4,
        'Disagreement slots',
        'Slots on which the reachable nodes disagree about the owner. Short spikes after a reshard or failover are normal while gossip propagates.',
        grid(8, 1, 4, 4),
        'max(%s)' % sel('redis_cluster_view_disagreement_slots'),
        thresholds=[['green', null], ['orange', 1]],
      ),
      stat(
        5,
        'slotwatch up',
        '1 if the last poll of slotwatch (of at least one instance, when several watch this cluster) produced a topology of this cluster (slotwatch_up).',
        grid(12, 1, 4, 4),
        'max(%s)' % sel('slotwatch_up'),
        thresholds=[['red', null], ['green', 1]],
        mappings=upDown,
      ),
      stat(
        6,
        'Nodes answering',
        "Nodes that answered slotwatch's last poll (redis_cluster_node_up, once per node however many slotwatch instances watch the cluster).",
        grid(16, 1, 4, 4),
        'sum(max by (node) (%s))' % sel('redis_cluster_node_up'),
      ),
      stat(
        7,
        'Since last topology change',
        'Time since the last slot owner, role, address or membership change seen by slotwatch. The redirect alert ignores the first %s after a change.' % util.humanDuration(c.redirects.graceWindow),
        grid(20, 1, 4, 4),
        'time() - max(%s > 0)' % sel('redis_cluster_last_topology_change_timestamp_seconds'),
        unit='s',
        thresholds=[['orange', null], ['green', graceSeconds]],
      ),
      row(8, 'Redirects', 'MOVED and ASK replies per node. Reshards and failovers are marked as annotations.', 5),
      timeseries(
        9,
        'MOVED per node',
        'MOVED replies per second each node sent (redis_cluster_redirects_total, type=moved). A burst right after a reshard or failover is expected; a stream that persists means a client that is not cluster-aware or keeps a stale slot map. The line marks the alert threshold (%s/s).' % util.number(c.redirects.movedThreshold),
        grid(0, 6, 12, 8),
        [target('sum by (node) (%s)' % redirectRate(['type="moved"']), '{{node}}')],
        axisLabel='redirects/s',
        thresholdLine=c.redirects.movedThreshold,
      ),
      timeseries(
        10,
        'ASK per node',
        'ASK replies per second each node sent (type=ask). ASK is expected for keys of a slot that is being migrated; it should stop when the migration finishes.',
        grid(12, 6, 12, 8),
        [target('sum by (node) (%s)' % redirectRate(['type="ask"']), '{{node}}')],
        axisLabel='redirects/s',
      ),
      timeseries(
        11,
        'Redirect share of requests',
        'Redirects (MOVED + ASK) as a share of the requests each node received. Redis does not count a redirected command in total_commands_processed, so the share is redirects / (commands + redirects).',
        grid(0, 14, 12, 8),
        [target('%s / ((%s + %s) > 0)' % [redirectsPerNode, commandsPerNode, redirectsPerNode], '{{node}}')],
        unit='percentunit',
      ),
      timeseries(
        12,
        'Commands per node',
        'Commands processed per second by each node (redis_cluster_commands_processed_total), for scale next to the redirect graphs.',
        grid(12, 14, 12, 8),
        [target(commandsPerNode, '{{node}}')],
        axisLabel='commands/s',
      ),
      row(13, 'Slots and migrations', 'Who owns how many slots, and which migrations are open.', 22),
      timeseries(
        14,
        'Slots per master',
        'Slots owned by each master over time (redis_cluster_node_slots), stacked: the total is 16384 when every slot is assigned. Steps show reshards and failovers.',
        grid(0, 23, 12, 8),
        [target('max by (node) (%s) > 0' % sel('redis_cluster_node_slots'), '{{node}}')],
        unit='none',
        stacking='normal',
      ),
      timeseries(
        15,
        'Slots changing owner',
        'Slots that changed owner, by reason (reshard, failover, assigned, unassigned).',
        grid(12, 23, 12, 8),
        [target('max by (reason) (increase(%s[$__rate_interval]))' % sel('redis_cluster_slot_moves_total'), '{{reason}}')],
        unit='none',
        bars=true,
      ),
      timeseries(
        16,
        'Open migrations',
        'Slots each source master is sending away and each target is receiving, by mechanism: classic (CLUSTER SETSLOT MIGRATING/IMPORTING, one slot at a time, open for seconds each) or atomic (Valkey 9 CLUSTER MIGRATESLOTS jobs).',
        grid(0, 31, 12, 8),
        [
          target('max by (node, mechanism) (%s) > 0' % sel('redis_cluster_slots_migrating'), '{{node}} {{mechanism}} migrating'),
          target('max by (node, mechanism) (%s) > 0' % sel('redis_cluster_slots_importing'), '{{node}} {{mechanism}} importing', refId='B'),
        ],
        unit='none',
      ),
      timeseries(
        17,
        'Migration progress',
        'No progress for: time since the open migration that progressed least recently last made progress (a key left its source, or an atomic job changed state); a long migration that keeps moving stays low, a stuck one climbs. Above %s RedisClusterSlotMigrationStuck fires (line). Open for: age of the oldest open migration; above %s the alert fires on age alone. Both are 0 when none is open.' % [util.humanDuration(c.migration.noProgressFor), util.humanDuration(c.migration.openTooLongAfter)],
        grid(12, 31, 12, 8),
        [
          target('max(%s)' % sel('redis_cluster_migration_stalled_seconds'), 'no progress for'),
          target('max(%s)' % sel('redis_cluster_migration_age_seconds'), 'open for', refId='B'),
        ],
        unit='s',
        thresholdLine=noProgressSeconds,
      ),
      timeseries(
        33,
        'Keys left on the source',
        'Keys still on each source master in its classic MIGRATING slots (CLUSTER COUNTKEYSINSLOT). It falls while a migration moves keys; flat while a slot is still open means the migration is stuck. Atomic migrations have no per-key count: see their state on the right.',
        grid(0, 39, 12, 8),
        [target('max by (node) (%s)' % sel('redis_cluster_migration_keys_remaining'), '{{node}}')],
        unit='none',
      ),
      timeseries(
        34,
        'Open migrations by state',
        'Open migrations by mechanism and state: classic ones by the halves set (migrating, importing or both), atomic ones by the job state CLUSTER GETSLOTMIGRATIONS reports (snapshotting, replicating, waiting-to-pause, ...). An atomic job that stays in one state is not progressing.',
        grid(12, 39, 12, 8),
        [target('max by (mechanism, state) (%s) > 0' % sel('redis_cluster_migrations'), '{{mechanism}} {{state}}')],
        unit='none',
      ),
      row(18, 'Nodes', 'Reachability, roles and failure flags of every node.', 47),
      {
        id: 19,
        type: 'table',
        title: 'Nodes and roles',
        description: 'Every node slotwatch knows: role, its master (for replicas), slots owned and whether it answered the last poll.',
        datasource: ds,
        gridPos: grid(0, 48, 12, 9),
        targets: [
          target('max by (node, node_id, role, master_node) (%s)' % sel('redis_cluster_node_info'), '', instant=true, format='table'),
          target('max by (node) (%s)' % sel('redis_cluster_node_up'), '', refId='B', instant=true, format='table'),
          target('max by (node) (%s)' % sel('redis_cluster_node_slots'), '', refId='C', instant=true, format='table'),
        ],
        fieldConfig: {
          defaults: { custom: { align: 'auto' } },
          overrides: [{
            matcher: { id: 'byName', options: 'up' },
            properties: [
              { id: 'mappings', value: upDown },
              { id: 'custom.cellOptions', value: { type: 'color-background' } },
            ],
          }],
        },
        options: { showHeader: true, sortBy: [{ displayName: 'node', desc: false }] },
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true, 'Value #A': true },
              renameByName: { 'Value #B': 'up', 'Value #C': 'slots' },
              indexByName: { node: 0, role: 1, master_node: 2, 'Value #C': 3, 'Value #B': 4, node_id: 5 },
            },
          },
        ],
      },
      stateTimeline(
        20,
        'Node reachability',
        "Whether each node answered slotwatch's polls (redis_cluster_node_up).",
        grid(12, 48, 12, 9),
        'max by (node) (%s)' % sel('redis_cluster_node_up'),
        '{{node}}',
        upDown,
        [['red', null], ['green', 1]],
      ),
      stateTimeline(
        21,
        'Failure flags',
        'PFAIL (one node suspects the node is down) and FAIL (a majority of masters agreed) flags, as the merged view sees them (redis_cluster_node_failing).',
        grid(0, 57, 24, 6),
        'max by (node, flag) (%s)' % sel('redis_cluster_node_failing'),
        '{{node}} {{flag}}',
        [{ type: 'value', options: {
          '0': { text: 'ok', color: 'green', index: 0 },
          '1': { text: 'flagged', color: 'red', index: 1 },
        } }],
        [['green', null], ['red', 1]],
      ),
      row(22, 'Events', 'Topology changes detected by diffing successive CLUSTER NODES samples.', 63),
      timeseries(
        23,
        'Events by kind',
        'Topology events slotwatch detected, by kind (reshard, failover, migration_started, node_failed, ...). Details of each event: /events on slotwatch.',
        grid(0, 64, 16, 8),
        [target('max by (kind) (increase(%s[$__rate_interval])) > 0' % sel('redis_cluster_events_total'), '{{kind}}')],
        unit='none',
        stacking='normal',
        bars=true,
      ),
      stat(
        24,
        'Last reshard',
        'When slotwatch last saw slots move between two masters.',
        grid(16, 64, 8, 4),
        'max(%s > 0) * 1000' % sel('redis_cluster_last_reshard_timestamp_seconds'),
        unit='dateTimeFromNow',
      ),
      stat(
        25,
        'Last failover',
        "When slotwatch last saw a replica take over its master's slots.",
        grid(16, 68, 8, 4),
        'max(%s > 0) * 1000' % sel('redis_cluster_last_failover_timestamp_seconds'),
        unit='dateTimeFromNow',
      ),
      row(35, 'Errors and clients', 'What is refused, and which client connections are suspected of causing it.', 72),
      timeseries(
        36,
        'Rejected calls by command',
        'Calls per second each node refused before running them, by command (redis_cluster_command_rejected_calls_total, from INFO commandstats rejected_calls; Redis 6.2+). Approximate as a view of redirects by command: next to MOVED and ASK it counts CROSSSLOT, TRYAGAIN, CLUSTERDOWN, ACL, OOM and wrong-arity refusals. Compare with the MOVED and ASK graphs above.',
        grid(0, 73, 12, 8),
        [target('max by (node, command) (rate(%s[$__rate_interval])) > 0' % sel('redis_cluster_command_rejected_calls_total'), '{{command}} on {{node}}')],
        axisLabel='calls/s',
      ),
      timeseries(
        37,
        'Cluster error replies',
        'CROSSSLOT, TRYAGAIN and CLUSTERDOWN replies per second each node sent (redis_cluster_error_replies_total, from INFO errorstats). CROSSSLOT is a client bug; TRYAGAIN is expected during a migration only; CLUSTERDOWN means the node refuses service.',
        grid(12, 73, 12, 8),
        [target('max by (node, error) (rate(%s[$__rate_interval])) > 0' % sel('redis_cluster_error_replies_total'), '{{error}} on {{node}}')],
        axisLabel='errors/s',
      ),
      timeseries(
        38,
        'Suspect clients',
        'Client connections suspected of causing redirects, per node and reason (redis_cluster_suspect_clients, from CLIENT LIST every --clients-interval; a heuristic): not_cluster_aware, replica_without_readonly, stale_map, rejected_commands. The connections themselves, with address, name, library and fix: /clients on slotwatch, or slotwatch check --clients.',
        grid(0, 81, 24, 7),
        [target('max by (node, reason) (%s) > 0' % sel('redis_cluster_suspect_clients'), '{{reason}} on {{node}}')],
        axisLabel='connections',
        stacking='normal',
      ),
      row(
        32,
        'slotwatch',
        "The exporter's own health: poll time, errors and freshness, one line per slotwatch instance.",
        88,
        collapsed=true,
        panels=[
          timeseries(
            26,
            'Poll duration',
            'Time one poll of the whole cluster takes (CLUSTER NODES and INFO from every node, concurrently), per slotwatch instance. A hung node costs at most one timeout per poll.',
            grid(0, 89, 12, 8),
            [
              target('histogram_quantile(0.99, sum by (instance, le) (rate(%s[$__rate_interval])))' % sel('slotwatch_poll_duration_seconds_bucket'), '{{instance}} p99'),
              target('histogram_quantile(0.5, sum by (instance, le) (rate(%s[$__rate_interval])))' % sel('slotwatch_poll_duration_seconds_bucket'), '{{instance}} p50', refId='B'),
            ],
            unit='s',
          ),
          timeseries(
            27,
            'Poll errors',
            'Failed node fetches per second, by slotwatch instance, node and reason (timeout, connection, auth, ...).',
            grid(12, 89, 12, 8),
            [target('sum by (instance, node, reason) (rate(%s[$__rate_interval]))' % sel('slotwatch_poll_errors_total'), '{{instance}} {{node}} {{reason}}')],
          ),
          stat(
            28,
            'Last poll',
            'Time since each slotwatch instance last started a poll of this cluster. It polls on its own timer (default every 5s), independently of scrapes.',
            grid(0, 97, 6, 4),
            'time() - max by (instance) (%s)' % sel('slotwatch_last_poll_timestamp_seconds'),
            unit='s',
            thresholds=[['green', null], ['orange', 30], ['red', 120]],
            legend='{{instance}}',
          ),
          stat(
            29,
            'Polls per second',
            'Polls completed per second by each slotwatch instance (slotwatch_polls_total).',
            grid(6, 97, 6, 4),
            'sum by (instance) (rate(%s[$__rate_interval]))' % sel('slotwatch_polls_total'),
            unit='short',
            legend='{{instance}}',
          ),
          stat(
            30,
            'Bytes read from Redis',
            "Bytes per second each slotwatch instance reads from the cluster's nodes (slotwatch_redis_read_bytes_total).",
            grid(12, 97, 6, 4),
            'sum by (instance) (rate(%s[$__rate_interval]))' % sel('slotwatch_redis_read_bytes_total'),
            unit='Bps',
            legend='{{instance}}',
          ),
          stat(
            31,
            'slotwatch version',
            'Versions of the running slotwatch instances (slotwatch_build_info), with how many run each.',
            grid(18, 97, 6, 4),
            'count by (version) (%s)' % util.selector('slotwatch_build_info', [c.slotwatchSelector]),
            legend='{{version}}',
            textMode='name',
          ),
        ],
      ),
    ],
  }
