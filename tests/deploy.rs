//! The deployment files under `deploy/` and `.dockerignore`: Kubernetes manifests, the
//! Dockerfile and the systemd unit. They are checked against each other (the Service selects
//! the Deployment's pods, the ServiceMonitor the Service, the mounts match the config's
//! paths), against the rest of the repository (the PrometheusRule is the rules file, the
//! image tag is the crate version) and against the binary (`serve --check-config` accepts the
//! ConfigMap's config).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

const KUBERNETES: &str = "deploy/kubernetes";
const RULES: &str = "alerts/slotwatch.rules.yml";
const DOCKERFILE: &str = "deploy/docker/Dockerfile";
const DOCKERIGNORE: &str = ".dockerignore";
const UNIT: &str = "deploy/systemd/slotwatch.service";

const NAMESPACE: &str = "monitoring";
const PORT: u64 = 19121;
const CONFIG_ARGS: [&str; 3] = ["serve", "--config", "/etc/slotwatch/slotwatch.yml"];
/// The uid of distroless's `nonroot` user.
const NONROOT_UID: u64 = 65532;

/// Manifests that `kubectl apply -k` must not pick up.
const NOT_IN_KUSTOMIZATION: &[&str] = &["kustomization.yaml", "secret.example.yaml"];

/// Every kind the directory holds, with its apiVersion.
const KINDS: &[(&str, &str)] = &[
    ("ConfigMap", "v1"),
    ("Deployment", "apps/v1"),
    ("Kustomization", "kustomize.config.k8s.io/v1beta1"),
    ("PrometheusRule", "monitoring.coreos.com/v1"),
    ("Secret", "v1"),
    ("Service", "v1"),
    ("ServiceMonitor", "monitoring.coreos.com/v1"),
];

// ---------------------------------------------------------------------------------------
// Reading files
// ---------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every YAML document in `text`, skipping empty ones (a trailing `---`).
fn documents(file: &str, text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let doc = Value::deserialize(de).map_err(|e| format!("{file}: document {}: {e}", i + 1))?;
        if !doc.is_null() {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// One document of one manifest file.
struct Manifest {
    file: String,
    doc: Value,
}

impl Manifest {
    fn kind(&self) -> &str {
        text(&self.doc, &["kind"])
    }

    fn name(&self) -> &str {
        text(&self.doc, &["metadata", "name"])
    }
}

fn manifest_files() -> Vec<String> {
    let dir = repo().join(KUBERNETES);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    files.sort();
    files
}

fn manifests() -> Vec<Manifest> {
    let mut all = Vec::new();
    for file in manifest_files() {
        let rel = format!("{KUBERNETES}/{file}");
        let docs = documents(&rel, &read(&rel)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!docs.is_empty(), "{rel} holds no document");
        all.extend(docs.into_iter().map(|doc| Manifest {
            file: file.clone(),
            doc,
        }));
    }
    all
}

/// The one manifest of `kind`.
fn the(kind: &str) -> Manifest {
    let mut found: Vec<Manifest> = manifests()
        .into_iter()
        .filter(|m| m.kind() == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind} in {KUBERNETES}"
    );
    found.pop().unwrap()
}

// ---------------------------------------------------------------------------------------
// Navigating YAML
// ---------------------------------------------------------------------------------------

/// The value at `path` (mapping keys), or a panic naming the missing key.
fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    let mut here = value;
    for (i, key) in path.iter().enumerate() {
        here = here
            .get(*key)
            .unwrap_or_else(|| panic!("missing key {}", path[..=i].join(".")));
    }
    here
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    get(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("{} is not a string", path.join(".")))
}

fn seq<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    get(value, path)
        .as_sequence()
        .unwrap_or_else(|| panic!("{} is not a list", path.join(".")))
}

fn flag(value: &Value, path: &[&str]) -> Option<bool> {
    let mut here = value;
    for key in path {
        here = here.get(*key)?;
    }
    here.as_bool()
}

/// The element of a list of mappings whose `name` is `name`.
fn named<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
}

/// Whether a `matchLabels`-style selector selects an object with `labels`: every label of a
/// non-empty selector must be present with the same value.
fn selects(selector: &Value, labels: &Value) -> Result<(), String> {
    let selector = selector
        .as_mapping()
        .ok_or("the selector is not a mapping")?;
    if selector.is_empty() {
        return Err("the selector is empty and would select everything".into());
    }
    for (key, want) in selector {
        let got = labels.get(key);
        if got != Some(want) {
            return Err(format!(
                "label {} is {:?}, the selector wants {:?}",
                key.as_str().unwrap_or("?"),
                got.and_then(Value::as_str),
                want.as_str()
            ));
        }
    }
    Ok(())
}

/// A CPU quantity in cores (`20m`, `0.5`, `2`).
fn cpu(quantity: &Value) -> f64 {
    let q = quantity
        .as_str()
        .map(str::to_owned)
        .or_else(|| quantity.as_f64().map(|n| n.to_string()))
        .unwrap_or_else(|| panic!("bad CPU quantity {quantity:?}"));
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().expect("CPU millicores") / 1000.0,
        None => q.parse().expect("CPU cores"),
    }
}

/// A memory quantity in bytes (`32Mi`, `1Gi`, `64M`).
fn memory(quantity: &Value) -> u64 {
    let q = quantity
        .as_str()
        .unwrap_or_else(|| panic!("write memory with a unit, not {quantity:?}"));
    let units: [(&str, u64); 6] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().expect("memory amount") * factor;
        }
    }
    q.parse().expect("memory in bytes")
}

// ---------------------------------------------------------------------------------------
// Rule groups
// ---------------------------------------------------------------------------------------

/// Compares two lists of rule groups and names the first difference: the group, the rule
/// (its `alert` or `record` name) and the key.
fn compare_groups(expected: &Value, actual: &Value) -> Result<(), String> {
    let (want, got) = match (expected.as_sequence(), actual.as_sequence()) {
        (Some(w), Some(g)) => (w, g),
        _ => return Err("groups must be lists".into()),
    };
    let names = |groups: &[Value]| -> Vec<String> {
        groups
            .iter()
            .map(|g| {
                g.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect()
    };
    if names(want) != names(got) {
        return Err(format!(
            "group names differ: expected {:?}, found {:?}",
            names(want),
            names(got)
        ));
    }
    for (w, g) in want.iter().zip(got) {
        let group = w.get("name").and_then(Value::as_str).unwrap_or("?");
        let no_rules = Vec::new();
        let rules = |v: &'_ Value| -> Vec<Value> {
            v.get("rules")
                .and_then(Value::as_sequence)
                .unwrap_or(&no_rules)
                .clone()
        };
        let (wr, gr) = (rules(w), rules(g));
        let rule_name = |r: &Value| {
            r.get("alert")
                .or_else(|| r.get("record"))
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        let wn: Vec<String> = wr.iter().map(rule_name).collect();
        let gn: Vec<String> = gr.iter().map(rule_name).collect();
        if wn != gn {
            return Err(format!(
                "group {group}: rules differ: expected {wn:?}, found {gn:?}"
            ));
        }
        for (rw, rg) in wr.iter().zip(&gr) {
            if rw != rg {
                let keys: BTreeSet<String> = [rw, rg]
                    .iter()
                    .filter_map(|r| r.as_mapping())
                    .flat_map(|m| m.keys().filter_map(Value::as_str).map(str::to_owned))
                    .collect();
                let differing: Vec<&String> = keys
                    .iter()
                    .filter(|k| rw.get(k.as_str()) != rg.get(k.as_str()))
                    .collect();
                return Err(format!(
                    "group {group}: rule {} differs in {differing:?}",
                    rule_name(rw)
                ));
            }
        }
        if w != g {
            return Err(format!("group {group}: settings other than rules differ"));
        }
    }
    Ok(())
}

fn rules_file_groups() -> Value {
    let rules: Value = serde_yaml::from_str(&read(RULES)).unwrap();
    get(&rules, &["groups"]).clone()
}

// ---------------------------------------------------------------------------------------
// systemd units and Dockerfiles
// ---------------------------------------------------------------------------------------

/// `(section, key, value)` for every assignment in a unit file, continuation lines joined.
fn unit_assignments(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
        {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + line;
        if full.starts_with('[') && full.ends_with(']') {
            section = full[1..full.len() - 1].to_owned();
        } else if let Some((key, value)) = full.split_once('=') {
            out.push((
                section.clone(),
                key.trim().to_owned(),
                value.trim().to_owned(),
            ));
        }
    }
    out
}

/// The value systemd uses for `key` in `section`: the last assignment.
fn unit_value<'a>(
    assignments: &'a [(String, String, String)],
    section: &str,
    key: &str,
) -> Option<&'a str> {
    assignments
        .iter()
        .rev()
        .find(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
}

/// `(INSTRUCTION, arguments)` for every Dockerfile instruction, continuation lines joined and
/// comment lines dropped (also inside continuations, as Docker does).
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (pending.is_empty() && trimmed.is_empty()) {
            continue;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + trimmed;
        let (instruction, args) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        out.push((instruction.to_uppercase(), args.trim().to_owned()));
    }
    out
}

/// The JSON array of an exec-form instruction such as `CMD ["a", "b"]`.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not an exec-form array: {args}: {e}"))
}

// ---------------------------------------------------------------------------------------
// The helpers can fail
// ---------------------------------------------------------------------------------------

#[test]
fn group_comparison_names_the_difference() {
    let groups = rules_file_groups();
    assert_eq!(compare_groups(&groups, &groups), Ok(()));

    let mut changed = groups.clone();
    let first_rule = &mut changed[0]["rules"][0];
    let name = first_rule["record"].as_str().unwrap().to_owned();
    first_rule["expr"] = Value::from("vector(1)");
    let err = compare_groups(&groups, &changed).unwrap_err();
    assert!(err.contains(&name) && err.contains("\"expr\""), "{err}");

    let mut dropped = groups.clone();
    dropped[1]["rules"].as_sequence_mut().unwrap().pop();
    let err = compare_groups(&groups, &dropped).unwrap_err();
    assert!(err.contains("rules differ"), "{err}");

    let mut renamed = groups.clone();
    renamed[0]["name"] = Value::from("other");
    let err = compare_groups(&groups, &renamed).unwrap_err();
    assert!(err.contains("group names differ"), "{err}");

    let mut relabelled = groups.clone();
    relabelled[1]["rules"][0]["labels"]["severity"] = Value::from("critical");
    let err = compare_groups(&groups, &relabelled).unwrap_err();
    assert!(err.contains("\"labels\""), "{err}");
}

#[test]
fn label_selectors_need_every_label() {
    let labels: Value = serde_yaml::from_str("{a: '1', b: '2'}").unwrap();
    let yes: Value = serde_yaml::from_str("{a: '1'}").unwrap();
    let wrong: Value = serde_yaml::from_str("{a: '2'}").unwrap();
    let extra: Value = serde_yaml::from_str("{a: '1', c: '3'}").unwrap();
    let empty: Value = serde_yaml::from_str("{}").unwrap();
    assert_eq!(selects(&yes, &labels), Ok(()));
    assert!(selects(&wrong, &labels).is_err());
    assert!(selects(&extra, &labels).is_err());
    assert!(selects(&empty, &labels).is_err());
}

#[test]
fn quantities_parse() {
    assert_eq!(cpu(&Value::from("20m")), 0.02);
    assert_eq!(cpu(&Value::from(2)), 2.0);
    assert_eq!(memory(&Value::from("32Mi")), 32 << 20);
    assert_eq!(memory(&Value::from("1G")), 1_000_000_000);
}

#[test]
fn unit_and_dockerfile_parsers_join_lines_and_skip_comments() {
    let unit = unit_assignments(
        "# c\n[Unit]\nA=1\n[Service]\n; c\nExecStart=/bin/x \\\n  --y\nA=2\nA=3\nEmpty=\n",
    );
    assert_eq!(unit_value(&unit, "Unit", "A"), Some("1"));
    assert_eq!(unit_value(&unit, "Service", "A"), Some("3"));
    assert_eq!(
        unit_value(&unit, "Service", "ExecStart"),
        Some("/bin/x  --y")
    );
    assert_eq!(unit_value(&unit, "Service", "Empty"), Some(""));
    assert_eq!(unit_value(&unit, "Service", "Missing"), None);

    let docker = dockerfile_instructions(
        "# c\nFROM a AS b\nRUN x \\\n# inner comment\n && y\nfrom c\nCMD [\"s\"]\n",
    );
    let names: Vec<&str> = docker.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(names, ["FROM", "RUN", "FROM", "CMD"]);
    assert_eq!(docker[1].1, "x  && y");
    assert_eq!(exec_form(&docker[3].1), ["s"]);
}

// ---------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------

#[test]
fn every_manifest_has_api_version_kind_and_name() {
    let all = manifests();
    for m in &all {
        let kind = m.kind();
        let expected = KINDS
            .iter()
            .find(|(k, _)| *k == kind)
            .unwrap_or_else(|| panic!("{}: unexpected kind {kind}", m.file))
            .1;
        assert_eq!(
            text(&m.doc, &["apiVersion"]),
            expected,
            "{}: {kind}",
            m.file
        );
        assert!(!m.name().is_empty(), "{}: empty metadata.name", m.file);
        if kind != "Kustomization" {
            assert_eq!(
                text(&m.doc, &["metadata", "namespace"]),
                NAMESPACE,
                "{}: {kind}",
                m.file
            );
        }
    }
    let kinds: BTreeSet<&str> = all.iter().map(Manifest::kind).collect();
    let expected: BTreeSet<&str> = KINDS.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, expected);
    assert_eq!(text(&the("Kustomization").doc, &["namespace"]), NAMESPACE);
}

/// The Deployment's one container.
fn container(deployment: &Manifest) -> &Value {
    let containers = seq(&deployment.doc, &["spec", "template", "spec", "containers"]);
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The container port a Service or probe names (by name or number).
fn resolve_port(container: &Value, port: &Value) -> u64 {
    if let Some(n) = port.as_u64() {
        return n;
    }
    let name = port.as_str().expect("a port is a number or a name");
    let p = named(seq(container, &["ports"]), name)
        .unwrap_or_else(|| panic!("the container has no port named {name}"));
    get(p, &["containerPort"]).as_u64().unwrap()
}

#[test]
fn deployment_is_sized_probed_and_locked_down() {
    let deployment = the("Deployment");
    let d = &deployment.doc;
    assert_eq!(get(d, &["spec", "replicas"]).as_u64(), Some(1));
    let pod = get(d, &["spec", "template", "spec"]);
    assert_eq!(flag(pod, &["automountServiceAccountToken"]), Some(false));
    let c = container(&deployment);

    let image = text(c, &["image"]);
    assert_eq!(
        image,
        format!("ghcr.io/slotwatch/slotwatch:{}", env!("CARGO_PKG_VERSION")),
        "the image tag follows the crate version"
    );
    let args: Vec<&str> = seq(c, &["args"])
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, CONFIG_ARGS);
    let port = named(seq(c, &["ports"]), "metrics").expect("a port named metrics");
    assert_eq!(get(port, &["containerPort"]).as_u64(), Some(PORT));

    for (kind, bound) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        get(c, &["resources", kind, bound]);
    }
    assert!(
        cpu(get(c, &["resources", "requests", "cpu"]))
            <= cpu(get(c, &["resources", "limits", "cpu"]))
    );
    assert!(
        memory(get(c, &["resources", "requests", "memory"]))
            <= memory(get(c, &["resources", "limits", "memory"]))
    );

    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(text(c, &[probe, "httpGet", "path"]), "/healthz", "{probe}");
        assert_eq!(
            resolve_port(c, get(c, &[probe, "httpGet", "port"])),
            PORT,
            "{probe}"
        );
    }

    let sc = get(c, &["securityContext"]);
    assert_eq!(flag(sc, &["readOnlyRootFilesystem"]), Some(true));
    assert_eq!(flag(sc, &["runAsNonRoot"]), Some(true));
    assert_eq!(flag(sc, &["allowPrivilegeEscalation"]), Some(false));
    let dropped: Vec<&str> = seq(sc, &["capabilities", "drop"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(dropped, ["ALL"]);
    assert!(
        sc["capabilities"].get("add").is_none(),
        "no capability is added back"
    );
    let uid = sc
        .get("runAsUser")
        .or_else(|| pod.get("securityContext").and_then(|p| p.get("runAsUser")));
    assert_eq!(uid.and_then(Value::as_u64), Some(NONROOT_UID));
    let seccomp = sc.get("seccompProfile").or_else(|| {
        pod.get("securityContext")
            .and_then(|p| p.get("seccompProfile"))
    });
    assert_eq!(
        seccomp.and_then(|s| s.get("type")).and_then(Value::as_str),
        Some("RuntimeDefault")
    );

    // The selector selects the pods it creates.
    let template_labels = get(d, &["spec", "template", "metadata", "labels"]);
    selects(
        get(d, &["spec", "selector", "matchLabels"]),
        template_labels,
    )
    .unwrap();
}

/// The mount path of the volume that holds `kind` (`configMap` or `secret`) named `name`.
fn mount_of(deployment: &Manifest, kind: &str, name_key: &str, name: &str) -> String {
    let pod = get(&deployment.doc, &["spec", "template", "spec"]);
    let volume = seq(pod, &["volumes"])
        .iter()
        .find(|v| {
            v.get(kind)
                .and_then(|s| s.get(name_key))
                .and_then(Value::as_str)
                == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} volume for {name}"));
    let volume_name = text(volume, &["name"]);
    let mount = seq(container(deployment), &["volumeMounts"])
        .iter()
        .find(|m| m.get("name").and_then(Value::as_str) == Some(volume_name))
        .unwrap_or_else(|| panic!("volume {volume_name} is not mounted"));
    assert_eq!(
        flag(mount, &["readOnly"]),
        Some(true),
        "{volume_name} is read-only"
    );
    assert!(
        mount.get("subPath").is_none(),
        "{volume_name}: subPath would stop updates"
    );
    text(mount, &["mountPath"]).to_owned()
}

/// The ConfigMap's `slotwatch.yml`, as text.
fn shipped_config() -> String {
    text(&the("ConfigMap").doc, &["data", "slotwatch.yml"]).to_owned()
}

#[test]
fn mounts_match_the_config_paths() {
    let deployment = the("Deployment");
    let configmap = the("ConfigMap");
    let secret = the("Secret");
    assert_eq!(text(&secret.doc, &["type"]), "Opaque");

    // --config names the ConfigMap's key under its mount.
    let config_dir = mount_of(&deployment, "configMap", "name", configmap.name());
    let config_arg = Path::new(CONFIG_ARGS[2]);
    assert_eq!(config_arg.parent(), Some(Path::new(&config_dir)));
    let key = config_arg.file_name().unwrap().to_str().unwrap();
    get(&configmap.doc, &["data", key]);

    // Every password_file is a key of the Secret under its mount.
    let secret_dir = mount_of(&deployment, "secret", "secretName", secret.name());
    let config: Value = serde_yaml::from_str(&shipped_config()).unwrap();
    let clusters = seq(&config, &["clusters"]);
    let mut files = 0;
    for cluster in clusters {
        if let Some(file) = cluster.get("password_file").and_then(Value::as_str) {
            let file = Path::new(file);
            assert_eq!(
                file.parent(),
                Some(Path::new(&secret_dir)),
                "{}",
                file.display()
            );
            let key = file.file_name().unwrap().to_str().unwrap();
            get(&secret.doc, &["stringData", key]);
            files += 1;
        }
    }
    assert!(
        files > 0,
        "the example config reads its password from the Secret"
    );

    // The config listens on the container port.
    let listen = text(&config, &["listen"]);
    assert!(listen.ends_with(&format!(":{PORT}")), "{listen}");
    assert_eq!(text(&config, &["log_format"]), "json");
}

/// Runs `slotwatch serve --config <config> --check-config`, isolated from the caller's
/// SLOTWATCH_* environment.
fn check_config(config: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    // The password file lives in the Secret mounted at /etc/slotwatch/secrets, which
    // --check-config reads like serve would: stand in for the mount.
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("redis-password"), "pw\n").unwrap();
    let config = config.replace("/etc/slotwatch/secrets", &secrets.display().to_string());
    let path = dir.path().join("slotwatch.yml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slotwatch"));
    cmd.args(["serve", "--config"])
        .arg(&path)
        .arg("--check-config");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SLOTWATCH_") {
            cmd.env_remove(name);
        }
    }
    cmd.output().expect("run slotwatch")
}

#[test]
fn configmap_config_passes_check_config() {
    let config = shipped_config();
    let out = check_config(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let parsed: Value = serde_yaml::from_str(&config).unwrap();
    let n = seq(&parsed, &["clusters"]).len();
    assert!(
        stdout.contains(&format!("config OK: {n} cluster(s)")),
        "stdout: {stdout}"
    );

    // The check is a real one: a misspelt key fails it.
    let broken = config.replacen("poll_interval:", "pol_interval:", 1);
    assert_ne!(broken, config);
    let out = check_config(&broken);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pol_interval"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn service_and_service_monitor_select_the_deployment() {
    let deployment = the("Deployment");
    let service = the("Service");
    let monitor = the("ServiceMonitor");
    let s = &service.doc;

    let pod_labels = get(&deployment.doc, &["spec", "template", "metadata", "labels"]);
    selects(get(s, &["spec", "selector"]), pod_labels).unwrap();
    assert_eq!(
        get(s, &["metadata", "labels", "app.kubernetes.io/name"]).as_str(),
        Some("slotwatch")
    );
    let ports = seq(s, &["spec", "ports"]);
    let metrics = named(ports, "metrics").expect("a Service port named metrics");
    assert_eq!(get(metrics, &["port"]).as_u64(), Some(PORT));
    let target = metrics.get("targetPort").unwrap_or(&metrics["port"]);
    assert_eq!(resolve_port(container(&deployment), target), PORT);

    let m = &monitor.doc;
    selects(
        get(m, &["spec", "selector", "matchLabels"]),
        get(s, &["metadata", "labels"]),
    )
    .unwrap();
    match m["spec"].get("namespaceSelector") {
        None => assert_eq!(
            text(m, &["metadata", "namespace"]),
            text(s, &["metadata", "namespace"])
        ),
        Some(ns) => assert!(
            seq(ns, &["matchNames"])
                .iter()
                .any(|n| n.as_str() == Some(text(s, &["metadata", "namespace"])))
        ),
    }
    let endpoints = seq(m, &["spec", "endpoints"]);
    assert!(!endpoints.is_empty());
    for endpoint in endpoints {
        let port = text(endpoint, &["port"]);
        assert!(
            named(ports, port).is_some(),
            "the Service has no port named {port}"
        );
        assert_eq!(
            flag(endpoint, &["honorLabels"]),
            Some(true),
            "slotwatch sets `cluster`"
        );
        assert_eq!(text(endpoint, &["interval"]), "30s");
    }
    // The alerts select up{job="slotwatch"}; the job label is the Service's name unless the
    // ServiceMonitor sets jobLabel.
    assert!(m["spec"].get("jobLabel").is_none());
    assert_eq!(service.name(), "slotwatch");
}

#[test]
fn prometheus_rule_is_the_rules_file() {
    let rule = the("PrometheusRule");
    assert_eq!(rule.name(), "slotwatch");
    if let Err(e) = compare_groups(&rules_file_groups(), get(&rule.doc, &["spec", "groups"])) {
        panic!(
            "{KUBERNETES}/{} differs from {RULES}: {e}. Both are rendered from mixin/: run scripts/generate.",
            rule.file
        );
    }
    assert_eq!(&rules_file_groups(), get(&rule.doc, &["spec", "groups"]));
}

/// `kubernetes-validate` (PyPI, pinned in scripts/lib/python-requirements.txt), from PATH or
/// from the virtual environment scripts/test installs it into. Panics when it is missing.
fn kubernetes_validate() -> Command {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join("kubernetes-validate").is_file()))
        .unwrap_or(false);
    let venv = repo().join("target/pytools/bin/kubernetes-validate");
    let program = if on_path {
        PathBuf::from("kubernetes-validate")
    } else {
        assert!(
            venv.is_file(),
            "kubernetes-validate is not installed: run scripts/test, which installs it into \
             target/pytools (pinned in scripts/lib/python-requirements.txt)"
        );
        venv
    };
    let mut cmd = Command::new(program);
    cmd.current_dir(repo());
    cmd
}

/// Kubernetes versions to validate against: the oldest and the newest schemas the pinned
/// kubernetes-validate ships.
const KUBERNETES_VERSIONS: &[&str] = &["1.25.0", "1.37.0"];
/// Custom resources: not in the Kubernetes schemas. The PrometheusRule's groups are checked by
/// promtool (tests/rules.rs), the ServiceMonitor and Kustomization by the tests above.
const CUSTOM_KINDS: &[&str] = &["Kustomization", "PrometheusRule", "ServiceMonitor"];

fn validate(files: &[PathBuf], version: &str) -> (bool, String) {
    let out = kubernetes_validate()
        .args(["--strict", "--kubernetes-version", version])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let files: Vec<PathBuf> = manifest_files()
        .iter()
        .map(|f| repo().join(KUBERNETES).join(f))
        .collect();
    for version in KUBERNETES_VERSIONS {
        let (ok, out) = validate(&files, version);
        assert!(ok, "kubernetes-validate --strict -k {version}:\n{out}");
        for m in manifests() {
            let file = format!("{KUBERNETES}/{}", m.file);
            let line = out
                .lines()
                .find(|l| l.contains(&file))
                .unwrap_or_else(|| panic!("{file} not validated:\n{out}"));
            if CUSTOM_KINDS.contains(&m.kind()) {
                assert!(
                    line.contains(&format!("Couldn't find schema for kind {}", m.kind())),
                    "{line}"
                );
            } else {
                assert!(
                    line.starts_with("INFO") && line.contains(" passed "),
                    "{line}"
                );
            }
        }
    }
}

#[test]
fn schema_validation_rejects_a_broken_deployment() {
    // The check is a real one: a misspelt field (--strict) fails it, and so does a wrong type.
    let shipped: Value =
        serde_yaml::from_str(&read(&format!("{KUBERNETES}/deployment.yaml"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("deployment.yaml");
    type Break = fn(&mut Value);
    let cases: [(&str, Break); 2] = [
        ("imagePullPolicyy", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always".into()
        }),
        ("'one' is not of type 'integer'", |d| {
            d["spec"]["replicas"] = "one".into()
        }),
    ];
    for (expected, break_it) in cases {
        let mut doc = shipped.clone();
        break_it(&mut doc);
        std::fs::write(&broken, serde_yaml::to_string(&doc).unwrap()).unwrap();
        let (ok, out) = validate(std::slice::from_ref(&broken), KUBERNETES_VERSIONS[1]);
        assert!(!ok, "{out}");
        assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
    }
}

#[test]
fn kustomization_lists_every_manifest_and_no_secret() {
    let kustomization = the("Kustomization");
    let resources: Vec<&str> = seq(&kustomization.doc, &["resources"])
        .iter()
        .map(|r| r.as_str().expect("resources are file names"))
        .collect();
    for resource in &resources {
        let path = repo().join(KUBERNETES).join(resource);
        assert!(path.is_file(), "{} is listed but missing", path.display());
    }
    let listed: BTreeSet<&str> = resources.iter().copied().collect();
    let expected: BTreeSet<String> = manifest_files()
        .into_iter()
        .filter(|f| !NOT_IN_KUSTOMIZATION.contains(&f.as_str()))
        .collect();
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(listed, expected, "kustomization.yaml resources");
    for m in manifests() {
        if listed.contains(m.file.as_str()) {
            assert_ne!(
                m.kind(),
                "Secret",
                "{}: never apply a Secret from the repository",
                m.file
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------------------

#[test]
fn systemd_unit_is_hardened() {
    let unit = read(UNIT);
    let a = unit_assignments(&unit);
    let required = [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
        ("Environment", "RUST_LOG=info"),
        (
            "ExecStart",
            "/usr/local/bin/slotwatch serve --config /etc/slotwatch/slotwatch.yml",
        ),
    ];
    for (key, value) in required {
        assert_eq!(
            unit_value(&a, "Service", key),
            Some(value),
            "[Service] {key}="
        );
    }

    // The credential, and the literal path the config must use for it (no variables in YAML).
    let credential = unit_value(&a, "Service", "LoadCredential").expect("LoadCredential=");
    let (id, source) = credential.split_once(':').expect("LoadCredential=ID:PATH");
    assert_eq!(id, "redis-password");
    assert!(source.starts_with('/'), "{source}");
    let unit_name = Path::new(UNIT).file_name().unwrap().to_str().unwrap();
    let path = format!("/run/credentials/{unit_name}/{id}");
    assert!(
        unit.contains(&format!("password_file: {path}")),
        "the unit documents password_file: {path}"
    );
    assert!(!unit.contains("password_file: ${CREDENTIALS_DIRECTORY}"));

    assert_eq!(
        unit_value(&a, "Install", "WantedBy"),
        Some("multi-user.target")
    );
}

// ---------------------------------------------------------------------------------------
// Docker
// ---------------------------------------------------------------------------------------

#[test]
fn dockerfile_is_multi_stage_non_root_and_health_checked() {
    let docker = dockerfile_instructions(&read(DOCKERFILE));
    let froms: Vec<usize> = docker
        .iter()
        .enumerate()
        .filter(|(_, (i, _))| i == "FROM")
        .map(|(n, _)| n)
        .collect();
    assert!(froms.len() >= 2, "a build stage and a runtime stage");
    let first = &docker[froms[0]].1;
    assert!(first.starts_with("rust:1-bookworm "), "{first}");
    let stage = first.rsplit(' ').next().unwrap();
    let runtime_image = &docker[*froms.last().unwrap()].1;
    assert_eq!(runtime_image, "gcr.io/distroless/cc-debian12:nonroot");

    let all = |name: &str| -> Vec<&str> {
        docker
            .iter()
            .filter(|(i, _)| i == name)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    assert!(
        all("RUN")
            .iter()
            .any(|r| r.contains("cargo build --release --locked")),
        "a locked release build"
    );
    // The runtime stage gets only the binary from the build stage.
    let runtime = &docker[*froms.last().unwrap()..];
    let copies: Vec<&str> = runtime
        .iter()
        .filter(|(i, _)| i == "COPY")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        copies
            .iter()
            .any(|c| c.starts_with(&format!("--from={stage} "))
                && c.ends_with(" /usr/local/bin/slotwatch")),
        "{copies:?}"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, a)| a.split(':').next().unwrap().to_owned());
    match user {
        Some(user) => assert!(user != "root" && user != "0", "USER {user}"),
        None => assert!(runtime_image.ends_with(":nonroot")),
    }

    assert!(all("EXPOSE").iter().any(|e| {
        e.split_whitespace()
            .any(|p| p == PORT.to_string() || p == format!("{PORT}/tcp"))
    }));
    let health = all("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    let command = health[0]
        .split_once("CMD")
        .expect("HEALTHCHECK ... CMD")
        .1
        .trim();
    assert_eq!(
        exec_form(command)[..2],
        ["/usr/local/bin/slotwatch", "healthcheck"]
    );
    let entrypoint = all("ENTRYPOINT");
    assert_eq!(
        exec_form(entrypoint.last().unwrap()),
        ["/usr/local/bin/slotwatch"]
    );
    // The image's default arguments are the Deployment's.
    let cmd = all("CMD");
    assert_eq!(exec_form(cmd.last().unwrap()), CONFIG_ARGS);
}

#[test]
fn dockerignore_keeps_build_output_and_history_out() {
    let ignore = read(DOCKERIGNORE);
    let patterns: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for needed in ["target", ".git", "fuzz/target"] {
        assert!(patterns.contains(needed), "{DOCKERIGNORE} lacks {needed}");
    }
    // The build needs these: never ignore them.
    for kept in ["src", "benches", "Cargo.toml", "Cargo.lock"] {
        assert!(
            !patterns.contains(kept),
            "{DOCKERIGNORE} must not exclude {kept}"
        );
    }
}

/// Explicitly declared `[[bench]]`, `[[test]]`, `[[example]]` and `[[bin]]` targets of
/// Cargo.toml, as the source files cargo requires to exist.
fn declared_target_files(manifest: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut current: Option<(&str, Option<String>, Option<String>)> = None;
    let mut finish = |target: Option<(&str, Option<String>, Option<String>)>| {
        if let Some((dir, name, path)) = target {
            let name = name.expect("a declared target has a name");
            files.push(path.unwrap_or_else(|| format!("{dir}/{name}.rs")));
        }
    };
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            finish(current.take());
            current = match line {
                "[[bench]]" => Some(("benches", None, None)),
                "[[test]]" => Some(("tests", None, None)),
                "[[example]]" => Some(("examples", None, None)),
                "[[bin]]" => Some(("src/bin", None, None)),
                _ => None,
            };
        } else if let (Some((_, name, path)), Some((key, value))) =
            (current.as_mut(), line.split_once('='))
        {
            let value = value.trim().trim_matches('"').to_owned();
            match key.trim() {
                "name" => *name = Some(value),
                "path" => *path = Some(value),
                _ => {}
            }
        }
    }
    finish(current);
    files
}

#[test]
fn declared_targets_are_found_in_cargo_toml() {
    let files = declared_target_files(
        "[package]\nname = \"x\"\n[[bench]]\nname = \"core\"\nharness = false\n\
         [[test]]\nname = \"t\"\npath = \"it/t.rs\"\n[profile.bench]\ndebug = false\n",
    );
    assert_eq!(files, ["benches/core.rs", "it/t.rs"]);
}

#[test]
fn dockerfile_dependency_layer_has_every_declared_target() {
    // Cargo refuses to build while a declared target's file is missing, so the dependency
    // layer, built before the sources are copied, needs a placeholder for each.
    let docker = dockerfile_instructions(&read(DOCKERFILE));
    let full_copy = docker
        .iter()
        .position(|(i, a)| i == "COPY" && a == ". .")
        .expect("COPY . . after the dependency layer");
    let placeholder_build = docker[..full_copy]
        .iter()
        .filter(|(i, a)| i == "RUN" && a.contains("cargo build"))
        .map(|(_, a)| a.as_str())
        .next_back()
        .expect("a dependency build before COPY . .");
    for file in ["src/main.rs", "src/lib.rs"]
        .into_iter()
        .map(str::to_owned)
        .chain(declared_target_files(&read("Cargo.toml")))
    {
        assert!(
            placeholder_build.contains(&file),
            "the dependency layer of {DOCKERFILE} creates no placeholder {file}"
        );
    }
}
