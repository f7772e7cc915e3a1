// slotwatch monitoring mixin: alerts, recording rules and the Grafana dashboard for Redis
// Cluster / Valkey cluster mode as seen by slotwatch. Configure it through _config
// (config.libsonnet); scripts/generate renders the repository's YAML and JSON from it.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
