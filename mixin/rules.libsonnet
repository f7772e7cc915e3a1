// Recording rules: redirect rates per node, type and cluster, and the redirect share.
//
// Two slotwatch instances may watch one cluster (for availability). They export the same
// node's counters under different `instance` (and `pod`) labels. Every rule therefore takes
// the rate of each series first and then keeps one value per node with `max by`, never
// `sum`: with one instance max and sum agree, with two sum would double every rate.
local util = import 'lib/util.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local cl = c.clusterLabel,
    local sel(metric) = util.selector(metric, [c.slotwatchSelector]),

    groups+: [
      {
        name: 'slotwatch.recording',
        rules: [
          {
            record: 'cluster_node_type:redis_cluster_redirects:rate5m',
            expr: 'max by (%s, node, type) (rate(%s[5m]))' % [cl, sel('redis_cluster_redirects_total')],
            comment:: |||
              The node's own counter, read by every slotwatch instance that watches its cluster:
              rate per series, then max across instances (not sum, which would double it).
            |||,
          },
          {
            record: 'cluster_type:redis_cluster_redirects:rate5m',
            expr: 'sum by (%s, type) (cluster_node_type:redis_cluster_redirects:rate5m)' % [cl],
          },
          {
            record: 'cluster_node:redis_cluster_redirects:rate5m',
            expr: 'sum by (%s, node) (cluster_node_type:redis_cluster_redirects:rate5m)' % [cl],
          },
          {
            record: 'cluster_node:redis_cluster_commands_processed:rate5m',
            expr: 'max by (%s, node) (rate(%s[5m]))' % [cl, sel('redis_cluster_commands_processed_total')],
          },
          {
            record: 'cluster_node:redis_cluster_redirects:ratio_rate5m',
            expr: |||
              cluster_node:redis_cluster_redirects:rate5m
                /
              (
                  (cluster_node:redis_cluster_commands_processed:rate5m + cluster_node:redis_cluster_redirects:rate5m)
                > 0
              )
            |||,
            comment:: |||
              Redis does not count a command rejected with MOVED or ASK in
              total_commands_processed, so the requests a node received are commands + redirects.
              The `> 0` filter drops idle nodes instead of recording NaN (0/0).
            |||,
          },
          {
            record: 'cluster:redis_cluster_redirects:ratio_rate5m',
            expr: |||
              sum by (%(cl)s) (cluster_node:redis_cluster_redirects:rate5m)
                /
              (
                  (
                      sum by (%(cl)s) (cluster_node:redis_cluster_commands_processed:rate5m)
                    +
                      sum by (%(cl)s) (cluster_node:redis_cluster_redirects:rate5m)
                  )
                > 0
              )
            ||| % { cl: cl },
          },
        ],
      },
    ],
  },
}
