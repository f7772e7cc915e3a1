//! The alerting and dashboard half of slotwatch: alert rules and their promtool unit tests,
//! the Alertmanager and Prometheus examples, the runbooks and the Grafana dashboard. Checked
//! with promtool and amtool, and against the style guide: names, labels, annotations,
//! runbook links, PromQL that parses, metric names that slotwatch really exports, and
//! counters that are only ever read through rate()/increase()/irate().

#[path = "support/exported_metrics.rs"]
mod exported_metrics;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use exported_metrics::{exported_metrics, histograms, is_listed};
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const RULES: &str = "alerts/slotwatch.rules.yml";
const RULE_TESTS: &str = "alerts/tests";
const RUNBOOKS: &str = "docs/runbooks.md";
const ALERTMANAGER: &str = "deploy/alertmanager/alertmanager.yml";
const PROMETHEUS: &str = "deploy/prometheus/prometheus.yml";
const DASHBOARD: &str = "dashboards/slotwatch-cluster.json";

const RUNBOOK_URL: &str = "https://github.com/slotwatch/slotwatch/blob/main/docs/runbooks.md#";
/// The path prometheus.yml loads the rules from on an installed system.
const INSTALLED_RULES: &str = "/etc/prometheus/rules/slotwatch.rules.yml";
/// Functions that turn a counter into something meaningful across resets.
const COUNTER_FUNCTIONS: &[&str] = &["rate", "increase", "irate"];
/// Level-2 runbook sections that are not about one alert.
const GENERAL_SECTIONS: &[&str] = &["Diagnostic workflow"];

// ---------------------------------------------------------------------------------------
// Running promtool and amtool
// ---------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A command for `program`, run from the repository root. Panics (never skips) when the
/// program is missing, because a skipped check looks exactly like a passing one.
fn tool(program: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false);
    let package = match program {
        "amtool" => "prometheus-alertmanager",
        "jsonnet" | "jsonnetfmt" => "jsonnet",
        _ => "prometheus",
    };
    assert!(
        found,
        "{program} is not installed. Run scripts/test, which installs it, or: \
         sudo apt-get install -y {package}"
    );
    let mut cmd = Command::new(program);
    cmd.current_dir(repo());
    cmd
}

/// Runs `cmd`, asserting success and showing everything it printed when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    stdout.into_owned()
}

fn rule_test_files() -> Vec<String> {
    let dir = repo().join(RULE_TESTS);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .map(|name| format!("{RULE_TESTS}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool unit tests in {RULE_TESTS}");
    files
}

#[test]
fn promtool_checks_the_rules() {
    run(tool("promtool").args(["check", "rules", RULES]));
}

#[test]
fn promtool_unit_tests_pass() {
    let out = run(tool("promtool")
        .args(["test", "rules"])
        .args(rule_test_files()));
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn unit_tests_fix_the_group_order_and_cover_every_alert() {
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let mut groups: Vec<String> = Vec::new();
    for (group, _) in rules() {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    for file in rule_test_files() {
        let doc: Yaml = serde_yaml::from_str(&read(&file)).unwrap();
        // Without an explicit order promtool evaluates the groups in random order, so an
        // alert built on a recording rule would fire one interval later in some runs.
        let order: Vec<&str> = doc["group_eval_order"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(
            order, groups,
            "{file}: group_eval_order must list the rule groups, recording rules first"
        );
        for case in doc["tests"].as_sequence().expect("tests") {
            for t in case["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = t["alertname"].as_str().unwrap().to_owned();
                match t["exp_alerts"].as_sequence() {
                    Some(alerts) if !alerts.is_empty() => firing.insert(name),
                    _ => quiet.insert(name),
                };
            }
        }
    }
    for rule in alert_rules() {
        let name = rule.alert.as_deref().unwrap();
        assert!(firing.contains(name), "no unit test shows {name} firing");
        assert!(
            quiet.contains(name),
            "no unit test shows {name} staying quiet"
        );
    }
}

#[test]
fn amtool_accepts_the_alertmanager_example_and_routes_by_severity() {
    run(tool("amtool").args(["check-config", ALERTMANAGER]));
    let config = format!("--config.file={ALERTMANAGER}");
    for (labels, receiver) in [
        (
            ["severity=critical", "alertname=RedisClusterSlotsUnassigned"],
            "pager",
        ),
        (
            [
                "severity=warning",
                "alertname=RedisClusterRedirectsPersisting",
            ],
            "chat",
        ),
    ] {
        run(tool("amtool")
            .args(["config", "routes", "test", &config])
            .arg(format!("--verify.receivers={receiver}"))
            .args(labels)
            .arg("cluster=prod"));
    }
}

#[test]
fn alertmanager_example_inhibits_redirect_alerts_behind_their_cause() {
    let text = read(ALERTMANAGER);
    let doc: Yaml = serde_yaml::from_str(&text).unwrap();
    let rules = doc["inhibit_rules"].as_sequence().expect("inhibit_rules");
    let joined = |v: &Yaml| {
        v.as_sequence()
            .into_iter()
            .flatten()
            .map(|m| m.as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The echoes of a lost slot or master: clients bounce, nodes refuse with CLUSTERDOWN.
    for echo in ["RedisClusterRedirectsPersisting", "RedisClusterDownReplies"] {
        let found = rules.iter().any(|r| {
            let source = joined(&r["source_matchers"]);
            let target = joined(&r["target_matchers"]);
            let equal = joined(&r["equal"]);
            source.contains("RedisClusterSlotsUnassigned")
                && source.contains("RedisClusterMasterFailing")
                && target.contains(echo)
                && equal.split(' ').any(|l| l == "cluster")
        });
        assert!(
            found,
            "no inhibit rule silences {echo} per cluster while \
             RedisClusterSlotsUnassigned or RedisClusterMasterFailing fires"
        );
    }

    // Every alert name the routing mentions must exist, or a typo silently matches nothing.
    let alerts: BTreeSet<String> = alert_rules().into_iter().filter_map(|r| r.alert).collect();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.starts_with("RedisCluster") || word.starts_with("Slotwatch") {
            assert!(
                alerts.contains(word),
                "{ALERTMANAGER} names {word}, which is not an alert"
            );
        }
    }
}

#[test]
fn promtool_accepts_the_prometheus_example() {
    let text = read(PROMETHEUS);
    let doc: Yaml = serde_yaml::from_str(&text).unwrap();
    assert_eq!(doc["rule_files"][0].as_str(), Some(INSTALLED_RULES));
    assert_eq!(
        doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0].as_str(),
        Some("localhost:9093")
    );
    let jobs = doc["scrape_configs"].as_sequence().expect("scrape_configs");
    let job = jobs
        .iter()
        .find(|j| j["job_name"].as_str() == Some("slotwatch"))
        .expect("a scrape job named slotwatch (the rules select up{job=\"slotwatch\"})");
    assert_eq!(
        job["honor_labels"].as_bool(),
        Some(true),
        "honor_labels: true keeps slotwatch's own `cluster` label"
    );
    assert_eq!(job["scrape_interval"].as_str(), Some("15s"));
    assert_eq!(
        job["static_configs"][0]["targets"][0].as_str(),
        Some("localhost:19121")
    );

    // The installed rules path does not exist here; check a copy that loads the repository's
    // rules instead, so that promtool validates both files together.
    let dir = tempfile::tempdir().unwrap();
    let rules = repo().join(RULES);
    let copy = dir.path().join("prometheus.yml");
    std::fs::write(
        &copy,
        text.replace(INSTALLED_RULES, rules.to_str().unwrap()),
    )
    .unwrap();
    run(tool("promtool").arg("check").arg("config").arg(&copy));
}

// ---------------------------------------------------------------------------------------
// Rule style guide
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Clone, Deserialize)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn rules() -> Vec<(String, Rule)> {
    let file: RuleFile = serde_yaml::from_str(&read(RULES)).expect("parse the rules file");
    file.groups
        .into_iter()
        .flat_map(|g| {
            let group = g.name;
            g.rules.into_iter().map(move |r| (group.clone(), r))
        })
        .collect()
}

fn alert_rules() -> Vec<Rule> {
    rules()
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.alert.is_some())
        .collect()
}

fn recorded_names() -> BTreeSet<String> {
    rules().into_iter().filter_map(|(_, r)| r.record).collect()
}

fn is_camel_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.chars().any(|c| c.is_ascii_lowercase())
}

/// `level:metric:operations`, e.g. `cluster_node:redis_cluster_redirects:rate5m`.
fn is_recording_rule_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split(':').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Problems with one alerting rule, given the runbook's anchors and level-2 headings.
fn alert_style_errors(rule: &Rule, anchors: &BTreeSet<String>, sections: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    let name = rule.alert.as_deref().unwrap_or_default();
    let mut err = |msg: String| errors.push(format!("{name}: {msg}"));
    if !is_camel_case(name) || name.len() > 40 {
        err("alert names are CamelCase, at most 40 characters".into());
    }
    if !(name.starts_with("RedisCluster") || name.starts_with("Slotwatch")) {
        err("alert names start with RedisCluster or Slotwatch".into());
    }
    match rule.labels.get("severity").map(String::as_str) {
        Some("critical" | "warning" | "info") => {}
        other => err(format!(
            "severity must be critical, warning or info, not {other:?}"
        )),
    }
    match rule.annotations.get("summary") {
        None => err("no summary".into()),
        Some(s) if s.contains("{{") => err("the summary must be static (no template)".into()),
        Some(s) if !s.trim_end().ends_with('.') => {
            err("the summary is a sentence ending with '.'".into())
        }
        Some(_) => {}
    }
    match rule.annotations.get("description") {
        None => err("no description".into()),
        Some(d) if !(d.contains("{{") && (d.contains("$labels") || d.contains("$value"))) => {
            err("the description must be templated with $labels or $value".into())
        }
        Some(d) if name.starts_with("RedisCluster") && !d.contains("$labels.cluster") => {
            err("the description must name {{ $labels.cluster }}".into())
        }
        Some(_) => {}
    }
    match rule.annotations.get("runbook_url") {
        None => err("no runbook_url".into()),
        Some(url) => {
            if let Err(e) = check_runbook_url(url, anchors) {
                err(e);
            }
            if url.strip_prefix(RUNBOOK_URL) != Some(github_slug(name).as_str()) {
                err(format!("runbook_url should point at the section ## {name}"));
            }
        }
    }
    if !sections.iter().any(|s| s == name) {
        err(format!("{RUNBOOKS} has no section ## {name}"));
    }
    errors
}

fn check_runbook_url(url: &str, anchors: &BTreeSet<String>) -> Result<(), String> {
    let anchor = url
        .strip_prefix(RUNBOOK_URL)
        .ok_or_else(|| format!("runbook_url {url} does not start with {RUNBOOK_URL}"))?;
    if anchors.contains(anchor) {
        Ok(())
    } else {
        Err(format!(
            "runbook_url anchor #{anchor} matches no heading in {RUNBOOKS}"
        ))
    }
}

#[test]
fn rules_follow_the_style_guide() {
    let runbooks = read(RUNBOOKS);
    let anchors = markdown_anchors(&runbooks);
    let sections = markdown_headings(&runbooks, 2);
    let mut errors = Vec::new();
    let mut alerts = BTreeSet::new();
    for (group, rule) in rules() {
        match (&rule.alert, &rule.record) {
            (Some(name), None) => {
                assert!(alerts.insert(name.clone()), "alert {name} is defined twice");
                errors.extend(alert_style_errors(&rule, &anchors, &sections));
            }
            (None, Some(name)) => {
                if !is_recording_rule_name(name) {
                    errors.push(format!(
                        "{name}: recording rules are named level:metric:operations"
                    ));
                }
            }
            _ => errors.push(format!(
                "group {group}: a rule is either `alert` or `record`"
            )),
        }
    }
    for section in &sections {
        if !alerts.contains(section) && !GENERAL_SECTIONS.contains(&section.as_str()) {
            errors.push(format!(
                "{RUNBOOKS}: section ## {section} belongs to no alert"
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "style guide violations:\n{}",
        errors.join("\n")
    );
}

#[test]
fn style_checks_reject_bad_rules() {
    let anchors: BTreeSet<String> = ["redisclusterfoo".to_owned()].into();
    let sections = vec!["RedisClusterFoo".to_owned()];
    let good = Rule {
        alert: Some("RedisClusterFoo".into()),
        record: None,
        expr: "vector(1)".into(),
        labels: [("severity".into(), "warning".into())].into(),
        annotations: [
            ("summary".into(), "Foo happened.".into()),
            ("description".into(), "Foo in {{ $labels.cluster }}.".into()),
            (
                "runbook_url".into(),
                format!("{RUNBOOK_URL}redisclusterfoo"),
            ),
        ]
        .into(),
    };
    assert_eq!(
        alert_style_errors(&good, &anchors, &sections),
        Vec::<String>::new()
    );

    let with = |f: &dyn Fn(&mut Rule)| {
        let mut r = good.clone();
        f(&mut r);
        alert_style_errors(&r, &anchors, &sections)
    };
    let set = |k: &'static str, v: &'static str| {
        move |r: &mut Rule| {
            r.annotations.insert(k.into(), v.into());
        }
    };
    assert!(!with(&|r| r.alert = Some("redis_cluster_foo".into())).is_empty());
    assert!(!with(&|r| r.alert = Some(format!("RedisCluster{}", "X".repeat(30)))).is_empty());
    assert!(
        !with(&|r| {
            r.labels.insert("severity".into(), "page".into());
        })
        .is_empty()
    );
    assert!(!with(&set("summary", "Foo in {{ $labels.cluster }}.")).is_empty());
    assert!(!with(&set("summary", "Foo happened")).is_empty());
    assert!(!with(&set("description", "Foo happened.")).is_empty());
    assert!(!with(&set("runbook_url", "https://example.com/#redisclusterfoo")).is_empty());
    // A bogus anchor is rejected.
    let bogus = with(&set(
        "runbook_url",
        "https://github.com/slotwatch/slotwatch/blob/main/docs/runbooks.md#redisclusterbar",
    ));
    assert!(
        bogus.iter().any(|e| e.contains("matches no heading")),
        "{bogus:?}"
    );
    assert!(
        check_runbook_url(&format!("{RUNBOOK_URL}nope"), &anchors).is_err()
            && check_runbook_url(&format!("{RUNBOOK_URL}redisclusterfoo"), &anchors).is_ok()
    );

    assert!(is_recording_rule_name(
        "cluster_node:redis_cluster_redirects:rate5m"
    ));
    assert!(!is_recording_rule_name(
        "cluster_node:redis_cluster_redirects_rate5m"
    ));
    assert!(!is_recording_rule_name("a:b:c:d"));
    assert!(!is_recording_rule_name("cluster::rate5m"));
}

// ---------------------------------------------------------------------------------------
// Markdown headings and GitHub anchors
// ---------------------------------------------------------------------------------------

/// GitHub's heading anchor: lowercase, spaces to '-', punctuation other than '-' and '_'
/// dropped.
fn github_slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// `(level, text)` of every ATX heading outside fenced code blocks (where `#` starts a shell
/// comment, not a heading).
fn markdown_heading_lines(markdown: &str) -> Vec<(usize, String)> {
    let mut fence: Option<&str> = None;
    let mut headings = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if let Some(marker) = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m)) {
            fence = match fence {
                None => Some(marker),
                Some(open) if open == marker => None,
                Some(open) => Some(open),
            };
            continue;
        }
        if fence.is_some() || line.starts_with("    ") {
            continue;
        }
        let level = trimmed.chars().take_while(|&c| c == '#').count();
        let rest = &trimmed[level..];
        if (1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' ')) {
            let text = rest.trim().trim_end_matches('#').trim_end();
            headings.push((level, text.to_owned()));
        }
    }
    headings
}

fn markdown_headings(markdown: &str, level: usize) -> Vec<String> {
    markdown_heading_lines(markdown)
        .into_iter()
        .filter(|(l, _)| *l == level)
        .map(|(_, text)| text)
        .collect()
}

/// Every anchor GitHub generates, with `-1`, `-2`, ... for repeated headings.
fn markdown_anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = BTreeSet::new();
    for (_, text) in markdown_heading_lines(markdown) {
        let slug = github_slug(&text);
        let n = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    anchors
}

#[test]
fn github_slugs_and_anchors() {
    assert_eq!(
        github_slug("RedisClusterRedirectsPersisting"),
        "redisclusterredirectspersisting"
    );
    assert_eq!(github_slug("Diagnostic workflow"), "diagnostic-workflow");
    assert_eq!(
        github_slug("What's up? (A/B) foo_bar - baz"),
        "whats-up-ab-foo_bar---baz"
    );
    assert_eq!(
        github_slug("`CLUSTER SETSLOT` and STABLE"),
        "cluster-setslot-and-stable"
    );

    let md = "# Title\n\n## Fix\n\n```sh\n# not a heading\n```\n\n## Fix\n\n   ```\n## nor this\n   ```\n### Deep ###\n#nospace\n";
    let anchors = markdown_anchors(md);
    let expected: BTreeSet<String> = ["title", "fix", "fix-1", "deep"].map(String::from).into();
    assert_eq!(anchors, expected);
    assert_eq!(markdown_headings(md, 2), ["Fix", "Fix"]);
    assert!(check_runbook_url(&format!("{RUNBOOK_URL}not-a-heading"), &anchors).is_err());
    assert!(check_runbook_url(&format!("{RUNBOOK_URL}fix-1"), &anchors).is_ok());
}

// ---------------------------------------------------------------------------------------
// PromQL: parsing, metric names, counters
// ---------------------------------------------------------------------------------------

/// A metric selected somewhere in an expression, and whether it is read through one of
/// COUNTER_FUNCTIONS.
#[derive(Debug, PartialEq)]
struct Selected {
    name: String,
    in_counter_function: bool,
}

fn selector_names(vs: &VectorSelector) -> Vec<String> {
    let matchers = vs
        .matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten());
    let by_label = matchers
        .filter(|m| m.name == "__name__")
        .map(|m| match m.op {
            MatchOp::Equal => m.value.clone(),
            // A regex over names cannot be checked against the exported list.
            _ => format!("<{} {} {:?}>", m.name, m.op, m.value),
        });
    vs.name.iter().cloned().chain(by_label).collect()
}

fn collect_selected(expr: &Expr, in_counter_function: bool, out: &mut Vec<Selected>) {
    let mut push = |vs: &VectorSelector| {
        for name in selector_names(vs) {
            out.push(Selected {
                name,
                in_counter_function,
            });
        }
    };
    match expr {
        Expr::VectorSelector(vs) => push(vs),
        Expr::MatrixSelector(ms) => push(&ms.vs),
        Expr::Aggregate(a) => {
            collect_selected(&a.expr, in_counter_function, out);
            if let Some(param) = &a.param {
                collect_selected(param, in_counter_function, out);
            }
        }
        Expr::Unary(u) => collect_selected(&u.expr, in_counter_function, out),
        Expr::Binary(b) => {
            collect_selected(&b.lhs, in_counter_function, out);
            collect_selected(&b.rhs, in_counter_function, out);
        }
        Expr::Paren(p) => collect_selected(&p.expr, in_counter_function, out),
        Expr::Subquery(s) => collect_selected(&s.expr, in_counter_function, out),
        Expr::Call(call) => {
            let inner = in_counter_function || COUNTER_FUNCTIONS.contains(&call.func.name);
            for arg in &call.args.args {
                collect_selected(arg, inner, out);
            }
        }
        Expr::Extension(ext) => {
            for child in ext.expr.children() {
                collect_selected(child, in_counter_function, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
    }
}

fn parse_promql(where_: &str, expr: &str) -> Vec<Selected> {
    let ast =
        parser::parse(expr).unwrap_or_else(|e| panic!("{where_}: invalid PromQL {expr:?}: {e}"));
    let mut out = Vec::new();
    collect_selected(&ast, false, &mut out);
    out
}

fn is_counter_sample(name: &str) -> bool {
    name.ends_with("_total")
        || name.ends_with("_bucket")
        || histograms()
            .iter()
            .any(|h| name == format!("{h}_sum") || name == format!("{h}_count"))
}

fn is_exported(name: &str) -> bool {
    is_listed(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|family| histograms().iter().any(|h| h == family))
        })
}

/// Problems with the metrics an expression uses: names that slotwatch does not export (nor
/// `up`, nor one of `recorded`), and counters read raw instead of through rate() & co.
fn metric_errors(where_: &str, selected: &[Selected], recorded: &BTreeSet<String>) -> Vec<String> {
    let mut errors = Vec::new();
    for s in selected {
        if !(is_exported(&s.name) || s.name == "up" || recorded.contains(&s.name)) {
            errors.push(format!(
                "{where_}: {} is not a metric slotwatch exports (tests/exported_metrics.rs)",
                s.name
            ));
        }
        if is_counter_sample(&s.name) && !s.in_counter_function {
            errors.push(format!(
                "{where_}: counter {} must be read through rate(), increase() or irate()",
                s.name
            ));
        }
    }
    errors
}

#[test]
fn promql_walker_finds_every_metric_and_raw_counters() {
    let selected = parse_promql(
        "test",
        r#"sum by (node) (rate(a_total[5m])) / on (node) group_left b
           or -c{x="y"} or {__name__="d"} and {__name__="e", x="y"}
           or histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))
           or max_over_time(f_total[5m:1m]) or topk(3, g)"#,
    );
    let names: Vec<(&str, bool)> = selected
        .iter()
        .map(|s| (s.name.as_str(), s.in_counter_function))
        .collect();
    assert_eq!(
        names,
        [
            ("a_total", true),
            ("b", false),
            ("c", false),
            ("d", false),
            ("e", false),
            ("h_bucket", true),
            ("f_total", false),
            ("g", false),
        ]
    );
    let recorded = BTreeSet::new();
    let errors = metric_errors("test", &selected, &recorded);
    assert!(
        errors.iter().any(|e| e.contains("counter f_total")),
        "{errors:?}"
    );
    assert!(
        !errors.iter().any(|e| e.contains("counter a_total")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("b is not a metric")),
        "{errors:?}"
    );

    let ok = parse_promql(
        "test",
        "increase(redis_cluster_events_total[5m]) + slotwatch_up",
    );
    assert!(metric_errors("test", &ok, &recorded).is_empty());
    let raw = parse_promql("test", "sum(redis_cluster_redirects_total)");
    assert_eq!(metric_errors("test", &raw, &recorded).len(), 1);
    let hist = parse_promql(
        "test",
        "slotwatch_poll_duration_seconds_sum / slotwatch_poll_duration_seconds_count",
    );
    assert_eq!(
        metric_errors("test", &hist, &recorded).len(),
        2,
        "raw histogram counters"
    );
    assert!(is_exported("slotwatch_poll_duration_seconds_bucket"));
    assert!(!is_exported("redis_cluster_node_up_bucket"));
}

#[test]
fn rule_expressions_parse_and_use_exported_metrics() {
    let recorded = recorded_names();
    let mut errors = Vec::new();
    for (_, rule) in rules() {
        let name = rule.alert.or(rule.record).unwrap_or_default();
        let selected = parse_promql(&name, &rule.expr);
        errors.extend(metric_errors(&name, &selected, &recorded));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Grafana dashboard
// ---------------------------------------------------------------------------------------

/// Replaces Grafana variables with values that make the query plain PromQL: intervals
/// become `5m`, `$cluster` and other label values a placeholder.
fn substitute_grafana_variables(query: &str) -> String {
    let mut out = String::new();
    let mut rest = query;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').expect("unclosed ${");
            let name = braced[..end].split(':').next().unwrap();
            (name, end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = match name {
            "" => "$", // not a variable, e.g. a regex anchor
            "__rate_interval" | "__interval" | "__range" | "__auto" => "5m",
            "__interval_ms" | "__range_ms" => "300000",
            "__range_s" => "300",
            _ => "placeholder",
        };
        out.push_str(value);
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn dashboard() -> Json {
    serde_json::from_str(&read(DASHBOARD)).expect("the dashboard is JSON")
}

/// Every panel, including those nested in (collapsed) rows.
fn all_panels(dashboard: &Json) -> Vec<&Json> {
    fn walk<'a>(panels: &'a Json, out: &mut Vec<&'a Json>) {
        for p in panels.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn uses_datasource_variable(v: &Json) -> bool {
    v["datasource"]["uid"] == "${datasource}" || v["datasource"] == "${datasource}"
}

/// `(where, query)` of every PromQL expression in the dashboard: panel targets, annotations
/// and variable queries. `label_values(metric, label)` contributes its metric selector.
fn dashboard_queries(dashboard: &Json) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in all_panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            queries.push((
                format!("panel {:?}", panel["title"].as_str().unwrap_or_default()),
                expr.to_owned(),
            ));
        }
    }
    for a in dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(expr) = a["expr"].as_str() {
            queries.push((
                format!("annotation {:?}", a["name"].as_str().unwrap_or_default()),
                expr.to_owned(),
            ));
        }
    }
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if v["type"] != "query" {
            continue;
        }
        let query = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap_or_default();
        let where_ = format!("variable {:?}", v["name"].as_str().unwrap_or_default());
        match query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
        {
            Some(args) => {
                if let Some((metric, _label)) = args.rsplit_once(',') {
                    queries.push((where_, metric.trim().to_owned()));
                }
            }
            None => queries.push((where_, query.to_owned())),
        }
    }
    queries
}

#[test]
fn grafana_variables_are_substituted() {
    assert_eq!(
        substitute_grafana_variables(
            r#"rate(x{cluster="$cluster",n=~"${node:regex}",re=~"a$"}[$__rate_interval]) offset $__interval"#
        ),
        r#"rate(x{cluster="placeholder",n=~"placeholder",re=~"a$"}[5m]) offset 5m"#
    );
}

/// Problems with the dashboard's queries: see `metric_errors`, plus empty queries and fixed
/// range windows.
fn dashboard_query_errors(dashboard: &Json) -> Vec<String> {
    // The dashboard must work on a Prometheus without slotwatch's recording rules.
    let recorded = BTreeSet::new();
    let mut errors = Vec::new();
    for (where_, query) in dashboard_queries(dashboard) {
        if query.trim().is_empty() {
            errors.push(format!("{where_}: empty query"));
            continue;
        }
        let selected = parse_promql(&where_, &substitute_grafana_variables(&query));
        errors.extend(metric_errors(&where_, &selected, &recorded));
        // A fixed window is wrong at most zoom levels: let Grafana size it.
        for window in query.split('[').skip(1) {
            if !window.starts_with("$__") {
                errors.push(format!(
                    "{where_}: use [$__rate_interval] or [$__interval], not [{window}"
                ));
            }
        }
    }
    errors
}

#[test]
fn dashboard_expressions_parse_and_use_exported_metrics() {
    let dashboard = dashboard();
    let queries = dashboard_queries(&dashboard);
    assert!(
        queries.len() > 10,
        "expected the dashboard's queries, found {queries:?}"
    );
    let errors = dashboard_query_errors(&dashboard);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn dashboard_checks_reach_rows_annotations_and_variables() {
    let d = serde_json::json!({
        "panels": [
            {"type": "row", "title": "row", "panels": [
                {"title": "nested", "targets": [{"expr": "redis_cluster_redirects_total"}]}
            ]},
            {"title": "fixed window", "targets": [{"expr": "rate(slotwatch_polls_total[5m])"}]}
        ],
        "annotations": {"list": [{"name": "a", "expr": "increase(nope_total[$__interval]) > 0"}]},
        "templating": {"list": [
            {"type": "query", "name": "cluster", "query": {"query": "label_values(missing_metric, cluster)"}},
            {"type": "datasource", "name": "datasource", "query": "prometheus"}
        ]}
    });
    let errors = dashboard_query_errors(&d);
    for expected in [
        "panel \"nested\": counter redis_cluster_redirects_total must be read through",
        "panel \"fixed window\": use [$__rate_interval]",
        "annotation \"a\": nope_total is not a metric",
        "variable \"cluster\": missing_metric is not a metric",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "missing {expected:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn dashboard_follows_the_conventions() {
    let d = dashboard();
    assert_eq!(d["schemaVersion"], 39);
    assert!(d["uid"].as_str().is_some_and(|s| !s.is_empty()), "uid");
    assert!(d["title"].as_str().is_some_and(|s| !s.is_empty()), "title");

    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let cluster = var("cluster");
    assert_eq!(cluster["type"], "query");
    assert!(
        uses_datasource_variable(cluster),
        "$cluster queries ${{datasource}}"
    );
    let query = cluster["query"]["query"]
        .as_str()
        .or(cluster["query"].as_str());
    assert_eq!(
        query,
        Some("label_values(redis_cluster_node_info, cluster)")
    );

    let mut errors = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in all_panels(&d) {
        let title = panel["title"].as_str().unwrap_or("<untitled>");
        if !ids.insert(panel["id"].as_i64().unwrap_or(-1)) {
            errors.push(format!("{title}: duplicate or missing panel id"));
        }
        if panel["description"]
            .as_str()
            .is_none_or(|s| s.trim().is_empty())
        {
            errors.push(format!("{title}: no description"));
        }
        if panel["type"] == "row" {
            continue;
        }
        if !uses_datasource_variable(panel) {
            errors.push(format!("{title}: datasource must be ${{datasource}}"));
        }
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if targets.is_empty() {
            errors.push(format!("{title}: no targets"));
        }
        for t in targets {
            if !uses_datasource_variable(t) {
                errors.push(format!(
                    "{title}: target {} must use ${{datasource}}",
                    t["refId"]
                ));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    let annotations = d["annotations"]["list"]
        .as_array()
        .expect("annotations.list");
    for kind in ["reshard", "failover"] {
        let found = annotations.iter().any(|a| {
            a["expr"].as_str().is_some_and(|e| {
                e.contains("redis_cluster_events_total") && e.contains(&format!("kind=\"{kind}\""))
            }) && uses_datasource_variable(a)
                && a["enable"] == true
                && a["titleFormat"].as_str().is_some_and(|s| !s.is_empty())
        });
        assert!(
            found,
            "no enabled {kind} annotation on redis_cluster_events_total"
        );
    }
}

#[test]
fn every_exported_metric_is_unique_and_well_named() {
    let mut seen = BTreeSet::new();
    for name in exported_metrics() {
        assert!(
            name.starts_with("redis_cluster_") || name.starts_with("slotwatch_"),
            "{name}: cluster facts use redis_cluster_, exporter metrics slotwatch_"
        );
        assert!(seen.insert(name.clone()), "{name} is declared twice");
    }
    assert!(!histograms().is_empty());
}

// ---------------------------------------------------------------------------------------
// The monitoring mixin: the single source of the rules, the PrometheusRule and the dashboard
// ---------------------------------------------------------------------------------------

const MIXIN: &str = "mixin";
const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheusrule.yaml";

/// Runs `cmd` and returns (success, stdout + stderr), for commands that are expected to fail.
fn run_status(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// scripts/generate, which needs jsonnet.
fn generate() -> Command {
    drop(tool("jsonnet"));
    let mut cmd = Command::new(repo().join("scripts/generate"));
    cmd.current_dir(repo());
    cmd
}

/// Evaluates a jsonnet expression in the repository root and parses its JSON.
fn jsonnet_eval(expr: &str) -> Json {
    let out = run(tool("jsonnet").args(["-e", expr]));
    serde_json::from_str(&out).expect("jsonnet prints JSON")
}

fn jsonnet_files() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "libsonnet" || e == "jsonnet")
            {
                out.push(path.to_string_lossy().into_owned());
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join(MIXIN), &mut files);
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files
}

fn yaml_to_json(y: &Yaml) -> Json {
    serde_json::to_value(y).expect("YAML that JSON can hold")
}

#[test]
fn committed_files_are_what_the_mixin_renders() {
    let (ok, out) = run_status(generate().arg("--check"));
    assert!(ok, "{out}");
}

#[test]
fn generate_check_names_a_file_that_differs() {
    // Rendering with another threshold differs from the committed files: --check must say so.
    let (ok, out) = run_status(
        generate()
            .arg("--check")
            .args(["--config", "{redirects+: {movedThreshold: 0.07}}"]),
    );
    assert!(!ok, "--check passed although the render differs:\n{out}");
    for file in [RULES, PROMETHEUS_RULE, DASHBOARD] {
        assert!(out.contains(&format!("{file} differs")), "{file}:\n{out}");
    }
    assert!(
        out.lines().any(|l| l.starts_with('+')
            && l.contains(
                "cluster_node_type:redis_cluster_redirects:rate5m{type=\"moved\"} > 0.07"
            )),
        "{out}"
    );
}

#[test]
fn mixin_is_formatted() {
    run(tool("jsonnetfmt").arg("--test").args(jsonnet_files()));
}

#[test]
fn mixin_has_the_monitoring_mixin_fields() {
    let m = jsonnet_eval(
        "local m = import 'mixin/mixin.libsonnet'; \
         {alerts: m.prometheusAlerts, rules: m.prometheusRules, dashboards: m.grafanaDashboards}",
    );
    let alerts: Vec<&str> = m["alerts"]["groups"][0]["rules"]
        .as_array()
        .expect("prometheusAlerts.groups[0].rules")
        .iter()
        .map(|r| {
            r["alert"]
                .as_str()
                .expect("only alerts in prometheusAlerts")
        })
        .collect();
    assert!(
        alerts.contains(&"RedisClusterRedirectsPersisting"),
        "{alerts:?}"
    );
    for r in m["rules"]["groups"][0]["rules"]
        .as_array()
        .expect("prometheusRules")
    {
        assert!(
            r["record"].is_string(),
            "only recording rules in prometheusRules: {r}"
        );
        assert!(
            r.get("comment").is_none(),
            "comments are hidden fields: {r}"
        );
    }
    assert_eq!(
        m["dashboards"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["slotwatch-cluster.json"]
    );
}

#[test]
fn rendered_files_parse_to_exactly_the_mixin() {
    // The rules are written as YAML by a small renderer of the mixin's own: what the files
    // say must be what the mixin says, key for key and character for character.
    let mixin = jsonnet_eval(
        "local m = import 'mixin/mixin.libsonnet'; \
         {groups: m.prometheusRules.groups + m.prometheusAlerts.groups, \
          dashboard: m.grafanaDashboards['slotwatch-cluster.json']}",
    );
    let rules: Yaml = serde_yaml::from_str(&read(RULES)).unwrap();
    assert_eq!(yaml_to_json(&rules["groups"]), mixin["groups"], "{RULES}");
    let rule: Yaml = serde_yaml::from_str(&read(PROMETHEUS_RULE)).unwrap();
    assert_eq!(
        yaml_to_json(&rule["spec"]["groups"]),
        mixin["groups"],
        "{PROMETHEUS_RULE}"
    );
    assert_eq!(dashboard(), mixin["dashboard"], "{DASHBOARD}");
    // The rationale stays at the top of the rules file.
    let text = read(RULES);
    for needle in [
        "# GENERATED by scripts/generate from the monitoring mixin",
        "# * Grace window: 10 minutes after the last topology change",
        "# * No progress for 10 minutes (reason=\"no_progress\")",
        "# * Open for more than 6 hours (reason=\"open_too_long\"), the backstop.",
        "# * Lost writes: any increase of redis_cluster_migration_lost_writes_total",
        "# Several exporters, one cluster:",
    ] {
        assert!(text.contains(needle), "{RULES} lacks {needle:?}");
    }
}

/// Renders the mixin with `config` merged into `_config` into a new temporary directory.
fn render_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run(generate()
        .args(["--config", config, "--out"])
        .arg(dir.path()));
    dir
}

/// A promtool unit test, written next to `rules`, in which MOVED persists at 0.5/s after a
/// topology change at 10m. With a 5-minute grace window the condition holds from 16m and
/// the alert fires at 26m; with the default 10 minutes it cannot fire before 31m.
const FIVE_MINUTE_GRACE_TEST: &str = r#"
rule_files: [RULES]
evaluation_interval: 1m
group_eval_order: [slotwatch.recording, slotwatch.alerts]
tests:
  - name: a burst that outlives a 5-minute grace window
    interval: 1m
    input_series:
      - series: 'redis_cluster_last_topology_change_timestamp_seconds{cluster="prod"}'
        values: '0x9 600x40'
      - series: 'redis_cluster_redirects_total{cluster="prod",node="10.0.0.31:6379",type="moved"}'
        values: '0x9 0+30x40'
    alert_rule_test:
      - { eval_time: 25m, alertname: RedisClusterRedirectsPersisting, exp_alerts: [] }
      - eval_time: 26m
        alertname: RedisClusterRedirectsPersisting
        exp_alerts:
          - exp_labels: { severity: warning, cluster: prod, node: 10.0.0.31:6379, type: moved }
            exp_annotations:
              summary: Clients keep getting MOVED redirects long after the last topology change.
              description: >-
                Node 10.0.0.31:6379 of cluster prod has been answering 0.50 MOVED/s for more
                than 10 minutes, and the last slot owner change was more than 5 minutes ago.
                Some client is not cluster-aware, never refreshes its slot map, or sends
                commands to a replica.
              runbook_url: https://github.com/slotwatch/slotwatch/blob/main/docs/runbooks.md#redisclusterredirectspersisting
"#;

fn promtool_test_against(rules: &std::path::Path, test: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.test.yml");
    std::fs::write(&file, test.replace("RULES", rules.to_str().unwrap())).unwrap();
    run_status(tool("promtool").args(["test", "rules"]).arg(&file))
}

#[test]
fn a_changed_config_takes_effect() {
    let five = render_with("{redirects+: {graceWindow: '5m'}}");
    let rules = five.path().join(RULES);
    run(tool("promtool").args(["check", "rules"]).arg(&rules));
    let (ok, out) = promtool_test_against(&rules, FIVE_MINUTE_GRACE_TEST);
    assert!(ok, "with graceWindow 5m:\n{out}");
    assert!(
        read_path(&rules).contains("> 300\n"),
        "the grace window in seconds"
    );

    // The same test fails on the shipped rules (10-minute grace window): the alert is not
    // firing yet at 26m. So the override, and nothing else, made it pass.
    let (ok, out) = promtool_test_against(&repo().join(RULES), FIVE_MINUTE_GRACE_TEST);
    assert!(!ok, "the shipped rules should not alert at 26m:\n{out}");
    assert!(
        out.contains("RedisClusterRedirectsPersisting, time: 26m"),
        "{out}"
    );

    // The same override reaches the PrometheusRule and the dashboard.
    let rule: Yaml = serde_yaml::from_str(&read_path(&five.path().join(PROMETHEUS_RULE))).unwrap();
    let rendered: Yaml = serde_yaml::from_str(&read_path(&rules)).unwrap();
    assert_eq!(rule["spec"]["groups"], rendered["groups"]);
    let d: Json = serde_json::from_str(&read_path(&five.path().join(DASHBOARD))).unwrap();
    let since = all_panels(&d)
        .into_iter()
        .find(|p| p["title"] == "Since last topology change")
        .expect("the panel");
    assert_eq!(
        since["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        300
    );
}

#[test]
fn a_bad_duration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run_status(
        generate()
            .args([
                "--config",
                "{redirects+: {graceWindow: '10 minutes'}}",
                "--out",
            ])
            .arg(dir.path()),
    );
    assert!(!ok);
    assert!(
        out.contains("duration 10 minutes: write a whole number and one of s, m, h or d"),
        "{out}"
    );
}

/// Two promtool unit tests, written next to `rules` rendered with a 5-minute noProgressFor and
/// a 20-minute openTooLongAfter. In the first a migration stops moving at 10m: its stall passes
/// 300 s at 16m (with the default 10 minutes, not before 21m). In the second a migration
/// opened at 0 keeps moving: its age passes 1200 s at 21m (by default, not before 6 hours).
const SHORT_MIGRATION_TEST: &str = r#"
rule_files: [RULES]
evaluation_interval: 1m
group_eval_order: [slotwatch.recording, slotwatch.alerts]
tests:
  - name: a migration that stops moving, 5 minutes without progress
    interval: 1m
    input_series:
      - series: 'redis_cluster_migration_stalled_seconds{cluster="prod"}'
        values: '0x10 60+60x20'
      - series: 'redis_cluster_migration_age_seconds{cluster="prod"}'
        values: '0+60x30'
    alert_rule_test:
      - { eval_time: 15m, alertname: RedisClusterSlotMigrationStuck, exp_alerts: [] }
      - eval_time: 16m
        alertname: RedisClusterSlotMigrationStuck
        exp_alerts:
          - exp_labels: { severity: warning, cluster: prod, reason: no_progress }
            exp_annotations:
              summary: A slot migration has made no progress for 5 minutes, or has been open for more than 20 minutes.
              description: >-
                An open slot migration in cluster prod has made no progress for 6m 0s: no
                key has left its source and no atomic job has changed state. Whatever drives
                it has probably died or is blocked. Until it is finished or rolled back, its
                slots cannot be resharded again, and clients get ASK for keys a classic
                migration already moved.
              runbook_url: https://github.com/slotwatch/slotwatch/blob/main/docs/runbooks.md#redisclusterslotmigrationstuck
  - name: a migration that keeps moving, open for 20 minutes
    interval: 1m
    input_series:
      - series: 'redis_cluster_migration_stalled_seconds{cluster="prod"}'
        values: '0 30 15 45 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2'
      - series: 'redis_cluster_migration_age_seconds{cluster="prod"}'
        values: '0+60x30'
    alert_rule_test:
      - { eval_time: 20m, alertname: RedisClusterSlotMigrationStuck, exp_alerts: [] }
      - eval_time: 21m
        alertname: RedisClusterSlotMigrationStuck
        exp_alerts:
          - exp_labels: { severity: warning, cluster: prod, reason: open_too_long }
            exp_annotations:
              summary: A slot migration has made no progress for 5 minutes, or has been open for more than 20 minutes.
              description: >-
                The oldest open slot migration in cluster prod has been open for 21m 0s.
                It still seems to progress but does not finish; keys expiring on the source
                look like progress. Until it is finished or rolled back, its slots cannot be
                resharded again, and clients get ASK for keys a classic migration already
                moved.
              runbook_url: https://github.com/slotwatch/slotwatch/blob/main/docs/runbooks.md#redisclusterslotmigrationstuck
"#;

#[test]
fn the_migration_thresholds_take_effect() {
    let short = render_with("{migration+: {noProgressFor: '5m', openTooLongAfter: '20m'}}");
    let rules = short.path().join(RULES);
    run(tool("promtool").args(["check", "rules"]).arg(&rules));
    let (ok, out) = promtool_test_against(&rules, SHORT_MIGRATION_TEST);
    assert!(ok, "with noProgressFor 5m and openTooLongAfter 20m:\n{out}");
    let text = read_path(&rules);
    assert!(text.contains("_stalled_seconds) > 300,\n"), "{text}");
    assert!(text.contains("_age_seconds) > 1200,\n"), "{text}");

    // The shipped rules (10 minutes, 6 hours) fire in neither case at those times.
    let (ok, out) = promtool_test_against(&repo().join(RULES), SHORT_MIGRATION_TEST);
    assert!(
        !ok,
        "the shipped rules should not alert at 16m or 21m:\n{out}"
    );
    for time in ["16m", "21m"] {
        assert!(
            out.contains(&format!("RedisClusterSlotMigrationStuck, time: {time}")),
            "{out}"
        );
    }

    // The dashboard's line moves with noProgressFor.
    let d: Json = serde_json::from_str(&read_path(&short.path().join(DASHBOARD))).unwrap();
    let progress = all_panels(&d)
        .into_iter()
        .find(|p| p["title"] == "Migration progress")
        .expect("the panel");
    assert_eq!(
        progress["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        300
    );
}

#[test]
fn a_backstop_shorter_than_the_stall_threshold_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run_status(
        generate()
            .args([
                "--config",
                "{migration+: {openTooLongAfter: '10m'}}",
                "--out",
            ])
            .arg(dir.path()),
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "migration.openTooLongAfter (10m) must be longer than migration.noProgressFor (10m)"
        ),
        "{out}"
    );
}

fn read_path(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The README's mixin example, as a user would run it: the mixin vendored by jsonnet-bundler
/// under vendor/github.com/slotwatch/slotwatch/mixin, rendered with `jsonnet -J vendor`.
#[test]
fn readme_mixin_example_renders_with_its_override() {
    let readme = read("README.md");
    let start = readme
        .find("```jsonnet\n")
        .expect("a ```jsonnet example in README.md")
        + "```jsonnet\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let vendor = dir.path().join("vendor/github.com/slotwatch/slotwatch");
    std::fs::create_dir_all(&vendor).unwrap();
    std::os::unix::fs::symlink(repo().join(MIXIN), vendor.join("mixin")).unwrap();
    std::fs::write(dir.path().join("slotwatch.jsonnet"), example).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    run(tool("jsonnet")
        .current_dir(dir.path())
        .args(["-J", "vendor", "-S", "-m"])
        .arg(&out_dir)
        .arg("slotwatch.jsonnet"));
    let rules = out_dir.join("slotwatch.rules.yml");
    run(tool("promtool").args(["check", "rules"]).arg(&rules));
    let rendered: Yaml = serde_yaml::from_str(&read_path(&rules)).unwrap();
    let exprs: Vec<String> = rendered["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .map(|r| r["expr"].as_str().unwrap().to_owned())
        .collect();
    let all = exprs.join("\n");
    assert!(
        all.contains(") > 900\n"),
        "the 15m grace window of the example:\n{all}"
    );
    assert!(
        all.contains("rate(redis_cluster_redirects_total{job=\"slotwatch\"}[5m])"),
        "the example's selector:\n{all}"
    );
    let d: Json =
        serde_json::from_str(&read_path(&out_dir.join("slotwatch-cluster.json"))).unwrap();
    assert_eq!(d["uid"], "slotwatch-cluster");
}

// ---------------------------------------------------------------------------------------
// The dashboard with two slotwatch instances
// ---------------------------------------------------------------------------------------

/// Input series of one cluster as seen by one slotwatch instance: `(series, values)` with
/// `CLUSTER` and `INSTANCE` to fill in, and `OFFSET` to subtract from slotwatch's own counters
/// (an instance that started later has counted fewer events). Redis's counters are the
/// node's own, so every instance reads the same values.
const DASHBOARD_INPUT: &[(&str, &str)] = &[
    (
        r#"redis_cluster_redirects_total{CLUSTER,INSTANCE,node="n1:6379",type="moved"}"#,
        "1000+60x30",
    ),
    (
        r#"redis_cluster_redirects_total{CLUSTER,INSTANCE,node="n1:6379",type="ask"}"#,
        "0+6x30",
    ),
    (
        r#"redis_cluster_redirects_total{CLUSTER,INSTANCE,node="n2:6379",type="moved"}"#,
        "0+3x30",
    ),
    (
        r#"redis_cluster_redirects_total{CLUSTER,INSTANCE,node="n2:6379",type="ask"}"#,
        "0x30",
    ),
    (
        r#"redis_cluster_commands_processed_total{CLUSTER,INSTANCE,node="n1:6379"}"#,
        "500+600x30",
    ),
    (
        r#"redis_cluster_commands_processed_total{CLUSTER,INSTANCE,node="n2:6379"}"#,
        "0+1200x30",
    ),
    (
        r#"redis_cluster_node_up{CLUSTER,INSTANCE,node="n1:6379"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_up{CLUSTER,INSTANCE,node="n2:6379"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_up{CLUSTER,INSTANCE,node="n3:6379"}"#,
        "0x30",
    ),
    (
        r#"redis_cluster_node_info{CLUSTER,INSTANCE,node="n1:6379",node_id="a1",role="master",master_node=""}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_info{CLUSTER,INSTANCE,node="n2:6379",node_id="a2",role="master",master_node=""}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_info{CLUSTER,INSTANCE,node="n3:6379",node_id="a3",role="master",master_node=""}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_failing{CLUSTER,INSTANCE,node="n3:6379",flag="fail"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_failing{CLUSTER,INSTANCE,node="n3:6379",flag="pfail"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_failing{CLUSTER,INSTANCE,node="n1:6379",flag="fail"}"#,
        "0x30",
    ),
    (
        r#"redis_cluster_node_slots{CLUSTER,INSTANCE,node="n1:6379"}"#,
        "8000x30",
    ),
    (
        r#"redis_cluster_node_slots{CLUSTER,INSTANCE,node="n2:6379"}"#,
        "8000x30",
    ),
    (
        r#"redis_cluster_node_slots{CLUSTER,INSTANCE,node="n3:6379"}"#,
        "384x30",
    ),
    (
        r#"redis_cluster_slots_migrating{CLUSTER,INSTANCE,node="n1:6379",mechanism="classic"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_slots_importing{CLUSTER,INSTANCE,node="n2:6379",mechanism="classic"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_slots_migrating{CLUSTER,INSTANCE,node="n2:6379",mechanism="atomic"}"#,
        "0x15 100x15",
    ),
    (
        r#"redis_cluster_slots_importing{CLUSTER,INSTANCE,node="n1:6379",mechanism="atomic"}"#,
        "0x15 100x15",
    ),
    (
        r#"redis_cluster_migrations{CLUSTER,INSTANCE,mechanism="classic",state="migrating+importing"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_migrations{CLUSTER,INSTANCE,mechanism="atomic",state="snapshotting"}"#,
        "0x15 1x15",
    ),
    (
        r#"redis_cluster_migration_keys_remaining{CLUSTER,INSTANCE,node="n1:6379"}"#,
        "90000-3000x30",
    ),
    (
        r#"redis_cluster_slots_unassigned{CLUSTER,INSTANCE}"#,
        "12x30",
    ),
    (
        r#"redis_cluster_view_disagreement_slots{CLUSTER,INSTANCE}"#,
        "3x30",
    ),
    (
        r#"redis_cluster_migration_age_seconds{CLUSTER,INSTANCE}"#,
        "0+60x30",
    ),
    (
        r#"redis_cluster_migration_stalled_seconds{CLUSTER,INSTANCE}"#,
        "0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2 0+20x2",
    ),
    (
        r#"redis_cluster_last_topology_change_timestamp_seconds{CLUSTER,INSTANCE}"#,
        "600x30",
    ),
    (
        r#"redis_cluster_last_reshard_timestamp_seconds{CLUSTER,INSTANCE}"#,
        "600x30",
    ),
    (
        r#"redis_cluster_last_failover_timestamp_seconds{CLUSTER,INSTANCE}"#,
        "300x30",
    ),
    (
        r#"redis_cluster_events_total{CLUSTER,INSTANCE,kind="reshard"}"#,
        "OFFSET+1x30",
    ),
    (
        r#"redis_cluster_events_total{CLUSTER,INSTANCE,kind="failover"}"#,
        "OFFSET+0x15 OFFSET+1x14",
    ),
    (
        r#"redis_cluster_slot_moves_total{CLUSTER,INSTANCE,reason="reshard"}"#,
        "OFFSET+100x30",
    ),
    (r#"slotwatch_up{CLUSTER,INSTANCE}"#, "1x30"),
    (
        r#"redis_cluster_command_rejected_calls_total{CLUSTER,INSTANCE,node="10.0.0.31:6379",command="get"}"#,
        "OFFSET+60x30",
    ),
    (
        r#"redis_cluster_error_replies_total{CLUSTER,INSTANCE,node="10.0.0.31:6379",error="crossslot"}"#,
        "OFFSET+6x30",
    ),
    (
        r#"redis_cluster_suspect_clients{CLUSTER,INSTANCE,node="10.0.0.31:6379",reason="not_cluster_aware"}"#,
        "2x30",
    ),
    (
        r#"redis_cluster_master_replicas{CLUSTER,INSTANCE,node="n1:6379",state="ready"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_master_replicas{CLUSTER,INSTANCE,node="n2:6379",state="ready"}"#,
        "1x15 0x15",
    ),
    (
        r#"redis_cluster_master_replicas{CLUSTER,INSTANCE,node="n2:6379",state="failing"}"#,
        "0x15 1x15",
    ),
    (
        r#"redis_cluster_node_state_ok{CLUSTER,INSTANCE,node="n1:6379"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_node_state_ok{CLUSTER,INSTANCE,node="n2:6379"}"#,
        "0x30",
    ),
    (
        r#"redis_cluster_replica_colocated{CLUSTER,INSTANCE,node="r1:6379",master="n1:6379",host="h1"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_replica_link_up{CLUSTER,INSTANCE,node="r1:6379",master="n1:6379"}"#,
        "1x30",
    ),
    (
        r#"redis_cluster_replica_link_up{CLUSTER,INSTANCE,node="r2:6379",master="n2:6379"}"#,
        "1x15 0x15",
    ),
    (
        r#"redis_cluster_replica_lag_bytes{CLUSTER,INSTANCE,node="r1:6379",master="n1:6379"}"#,
        "0+4096x30",
    ),
    (r#"redis_cluster_slots_spread{CLUSTER,INSTANCE}"#, "1.5x30"),
];

/// Panels about each slotwatch instance (grouped by `instance`) or the processes
/// (`slotwatch_build_info`) show one line per instance on purpose.
fn is_per_instance(query: &str) -> bool {
    query.contains("instance") || query.contains("slotwatch_build_info")
}

/// A promtool test file: cluster "one" watched by instance a, cluster "two" by a and b (b's
/// own counters offset), and for every query: the answer for "two" equals the answer for
/// "one" (series for series, value for value), and the answer is not empty.
fn two_instance_test(queries: &[String]) -> String {
    let mut input = String::new();
    for (cluster, instance, offset) in [("one", "a", 25), ("two", "a", 25), ("two", "b", 0)] {
        for (series, values) in DASHBOARD_INPUT {
            let series = series
                .replace("CLUSTER", &format!("cluster=\"{cluster}\""))
                .replace(
                    "INSTANCE",
                    &format!("job=\"slotwatch\",instance=\"{instance}:19121\""),
                );
            let values = values.replace("OFFSET", &offset.to_string());
            input.push_str(&format!(
                "      - series: '{series}'\n        values: '{values}'\n"
            ));
        }
    }
    let mut checks = String::new();
    for q in queries {
        let one = substitute_grafana_variables(&q.replace("\"$cluster\"", "\"one\""));
        let two = format!(
            r#"label_replace({}, "cluster", "one", "cluster", "two")"#,
            substitute_grafana_variables(&q.replace("\"$cluster\"", "\"two\""))
        );
        for expr in [
            format!("absent({one})"),
            format!("abs(({one}) - ({two})) > 1e-9"),
            format!("(({one}) unless ({two})) or (({two}) unless ({one}))"),
        ] {
            checks.push_str(&format!(
                "      - expr: {}\n        eval_time: 20m\n        exp_samples: []\n",
                serde_json::to_string(&expr).unwrap()
            ));
        }
    }
    format!(
        "tests:\n  - name: one instance or two give the same answers\n    interval: 1m\n    \
         input_series:\n{input}    promql_expr_test:\n{checks}"
    )
}

fn promtool_test_text(test: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.test.yml");
    std::fs::write(&file, test).unwrap();
    run_status(tool("promtool").args(["test", "rules"]).arg(&file))
}

#[test]
fn dashboard_answers_the_same_with_two_instances() {
    let queries: Vec<String> = dashboard_queries(&dashboard())
        .into_iter()
        .filter(|(where_, q)| !where_.starts_with("variable") && !is_per_instance(q))
        .map(|(_, q)| q)
        .collect();
    assert!(queries.len() >= 20, "{queries:#?}");
    let (ok, out) = promtool_test_text(&two_instance_test(&queries));
    assert!(ok, "{out}");

    // The check sees a doubled sum and a count per instance (the previous queries).
    for doubled in [
        r#"sum by (node) (rate(redis_cluster_redirects_total{cluster="$cluster",type="moved"}[$__rate_interval]))"#,
        r#"sum(redis_cluster_node_up{cluster="$cluster"})"#,
        r#"sum by (kind) (increase(redis_cluster_events_total{cluster="$cluster"}[$__rate_interval])) > 0"#,
    ] {
        let (ok, out) = promtool_test_text(&two_instance_test(&[doubled.to_owned()]));
        assert!(!ok, "{doubled} passed the two-instance check:\n{out}");
    }
}

/// slotwatch's own health judgement and the lag alert use one threshold: `check` must not call
/// a replica healthy that the alert calls lagging, or the reverse.
#[test]
fn the_lag_threshold_is_the_same_in_the_mixin_and_the_judgement() {
    let config = read("mixin/config.libsonnet");
    let mixin: u64 = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("lagBytes:"))
        .and_then(|v| v.trim().trim_end_matches(',').parse().ok())
        .expect("replication.lagBytes in mixin/config.libsonnet");
    assert_eq!(mixin, slotwatch::health::risks::LAG_BYTES);
}

/// The redirect verdict of `/`, the cluster page and `check` uses the alert's thresholds:
/// `_config.redirects` and the recording rule's rate window are the Rust defaults.
#[test]
fn the_redirect_thresholds_are_the_same_in_the_mixin_and_the_verdict() {
    use slotwatch::config::redirects::{
        DEFAULT_FOR, DEFAULT_GRACE, DEFAULT_RATE_THRESHOLD, DEFAULT_RATE_WINDOW,
    };
    let config = read("mixin/config.libsonnet");
    let block: Vec<&str> = config
        .lines()
        .skip_while(|l| l.trim() != "redirects: {")
        .take_while(|l| l.trim() != "},")
        .collect();
    let value = |key: &str| -> String {
        block
            .iter()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().trim_end_matches(',').trim_matches('\'').to_owned())
            .unwrap_or_else(|| panic!("redirects.{key} in mixin/config.libsonnet: {block:?}"))
    };
    let duration = |text: String| -> std::time::Duration {
        text.parse::<slotwatch::config::HumanDuration>()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .0
    };
    let threshold: f64 = value("movedThreshold:").parse().unwrap();
    assert_eq!(threshold, DEFAULT_RATE_THRESHOLD);
    assert_eq!(duration(value("graceWindow:")), DEFAULT_GRACE);
    assert_eq!(duration(value("'for':")), DEFAULT_FOR);
    let rules = read("mixin/rules.libsonnet");
    let window = format!(
        "[{}]",
        slotwatch::config::HumanDuration(DEFAULT_RATE_WINDOW)
    );
    let recording = rules
        .lines()
        .skip_while(|l| !l.contains("record: 'cluster_node_type:redis_cluster_redirects:rate5m'"))
        .nth(1)
        .expect("the per-node redirect rate's recording rule");
    assert!(recording.contains(&window), "{window} not in {recording}");
}
