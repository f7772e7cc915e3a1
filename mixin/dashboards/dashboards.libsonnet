// Grafana dashboards, keyed by file name as the monitoring-mixins convention expects.
{
  grafanaDashboards+:: {
    'slotwatch-cluster.json': (import 'slotwatch-cluster.libsonnet')($._config),
  },
}
