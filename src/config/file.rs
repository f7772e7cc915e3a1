//! The YAML config file: many clusters, each through the same builder as the flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    ClusterConfig, ClusterSettings, Config, ConfigError, DEFAULT_EVENTS_CAPACITY, DEFAULT_LISTEN,
    Key, LogFormat, Origin,
};

/// Why a YAML file could not be read or parsed: the config file and the web config share it.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a bad value.
    #[error("{path}:{line}:{column}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_yaml said, naming the key path and what was expected.
        message: String,
    },
}

/// Reads a file's text, naming the file if it cannot.
pub fn read_text(path: &Path) -> Result<String, YamlError> {
    std::fs::read_to_string(path).map_err(|source| YamlError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Parses YAML text, with the file, line and column of the first problem.
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        YamlError::Yaml {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    log_format: Option<LogFormat>,
    events_capacity: Option<usize>,
    clusters: Vec<ClusterSettings>,
}

/// Parses a YAML config file's contents; `path` is only used in messages.
pub fn parse_file(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let file: FileConfig = parse_yaml(path, text)?;
    let top = Origin::File {
        path: path.to_owned(),
        cluster: None,
    };
    let listen = parse_listen(file.listen.as_deref().unwrap_or(DEFAULT_LISTEN), &top)?;
    let events_capacity = file.events_capacity.unwrap_or(DEFAULT_EVENTS_CAPACITY);
    if events_capacity == 0 {
        return Err(top.invalid(Key::EventsCapacity, "must be at least 1"));
    }
    if file.clusters.is_empty() {
        return Err(ConfigError::Invalid {
            context: format!("{}: clusters", path.display()),
            message: "list at least one cluster".into(),
        });
    }
    let mut clusters: Vec<ClusterConfig> = Vec::with_capacity(file.clusters.len());
    let mut names = std::collections::HashSet::new();
    for (i, entry) in file.clusters.into_iter().enumerate() {
        let origin = Origin::File {
            path: path.to_owned(),
            cluster: Some(i),
        };
        // The flags default the name; in a file of many clusters each must say which it is.
        if entry.name.is_none() {
            return Err(origin.invalid(Key::Name, "is required"));
        }
        let cluster = entry.build(&origin)?;
        if !names.insert(cluster.name.clone()) {
            return Err(origin.invalid(
                Key::Name,
                format!("cluster name {:?} is used twice", cluster.name),
            ));
        }
        clusters.push(cluster);
    }
    Ok(Config {
        listen,
        log_format: file.log_format.unwrap_or_default(),
        events_capacity,
        web: super::WebLimits::default(),
        clusters,
    })
}

/// Reads and parses a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    parse_file(path, &read_text(path)?)
}

/// Parses a listen address such as `0.0.0.0:19121` or `[::]:19121`.
pub fn parse_listen(text: &str, origin: &Origin) -> Result<SocketAddr, ConfigError> {
    text.parse()
        .map_err(|_| origin.invalid(Key::Listen, format!("expected ip:port, found {text:?}")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, PasswordSource};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_file(Path::new("slotwatch.yml"), text)
    }

    #[test]
    fn minimal_and_full_files() {
        let c = parse("clusters:\n  - name: a\n    seeds: [redis://10.0.0.1:6379]\n").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.clusters[0].schedule.poll_interval, DEFAULT_POLL_INTERVAL);
        assert_eq!(c.clusters[0].reach.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.events_capacity, 1000);

        let full = "listen: 127.0.0.1:9999\nlog_format: json\nevents_capacity: 10\nclusters:\n  - name: a\n    seeds: ['rediss://[::1]:7000', 'rediss://redis-0.example:7001']\n    poll_interval: 2s\n    timeout: 500ms\n    username: mon\n    password_file: /run/secrets/pw\n    tls:\n      ca_file: /ca.pem\n      server_name: redis.example\n";
        let c = parse(full).unwrap();
        let a = &c.clusters[0].reach;
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(a.seeds[0].endpoint(), "[::1]:7000");
        assert!(a.seeds[1].tls);
        assert_eq!(a.timeout, Duration::from_millis(500));
        assert_eq!(
            a.auth.password,
            Some(PasswordSource::File("/run/secrets/pw".into()))
        );
        assert_eq!(
            a.tls.as_ref().unwrap().server_name.as_deref(),
            Some("redis.example")
        );
    }

    #[test]
    fn unknown_keys_give_file_line_and_key() {
        let err = parse("clusters:\n  - name: a\n    sedes: [redis://x:1]\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("slotwatch.yml:3:"), "{msg}");
        assert!(msg.contains("unknown field `sedes`"), "{msg}");
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    poll_interval: 5x\n")
                .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("slotwatch.yml:4:"), "{msg}");
        assert!(msg.contains("clusters[0].poll_interval"), "{msg}");
        assert!(msg.contains("expected a duration"), "{msg}");
        let err = parse("clusters:\n  - name: a\n    seeds: [http://x:1]\n").unwrap_err();
        assert!(err.to_string().contains("redis://host:port"), "{err}");
        let err = parse("clusters:\n  - seeds: [redis://x:1]\n").unwrap_err();
        assert!(
            err.to_string().contains("clusters[0].name: is required"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_rejected_without_echoing_secrets() {
        for url in [
            "redis://:hunter2@x:1",
            "redis://:Ab/hunter2+ef==@10.0.0.1:6379",
            "redis://u:hunter2?@x:1",
        ] {
            let err =
                parse(&format!("clusters:\n  - name: a\n    seeds: ['{url}']\n")).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(
                err.to_string().contains("must not contain credentials"),
                "{err}"
            );
        }
        let err = parse(
            "clusters:\n  - name: a\n    seeds: [redis://x:1]\n    tls:\n      ca_file: /ca.pem\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("rediss://"), "{err}");
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    password: hunter2\n")
                .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("clusters[0].password"), "{err}");
        let err = parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    timeout: 6s\n")
            .unwrap_err();
        assert!(err.to_string().contains("clusters[0].timeout"), "{err}");
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    max_reply_bytes: 1KiB\n")
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("clusters[0].max_reply_bytes: must be at least 64KiB"),
            "{err}"
        );
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    max_poll_bytes: 1MiB\n")
                .unwrap_err();
        assert!(
            err.to_string().contains("clusters[0].max_poll_bytes"),
            "{err}"
        );
        let ok = parse(
            "clusters:\n  - name: a\n    seeds: [redis://x:1]\n    max_reply_bytes: 1MiB\n    max_poll_bytes: 16MiB\n",
        )
        .unwrap();
        assert_eq!(ok.clusters[0].reach.limits.per_poll, 16 << 20);
        let err = parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n  - name: a\n    seeds: [redis://y:1]\n").unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        let err =
            parse("clusters:\n  - name: a\n    seeds: [redis://x:1, rediss://y:1]\n").unwrap_err();
        assert!(err.to_string().contains("TLS or not"), "{err}");
        let err = parse("clusters:\n  - name: a\n    seeds: [redis://x:1]\n    password_env: SLOTWATCH_TEST_SURELY_UNSET\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("SLOTWATCH_TEST_SURELY_UNSET is not set"),
            "{err}"
        );
    }

    #[test]
    fn shipped_example_loads() {
        // The example reads one password from the environment; provide it for the test.
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var("SESSIONS_REDIS_PASSWORD", "x") };
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/slotwatch.example.yml"
        ));
        let c = load_file(path).unwrap();
        assert_eq!(c.clusters.len(), 2);
        assert_eq!(c.clusters[0].name, "cache-eu1");
        assert_eq!(c.clusters[1].reach.timeout, Duration::from_secs(2));
        assert!(c.clusters[1].reach.seeds[0].tls);
        assert_eq!(
            c.clusters[1]
                .reach
                .tls
                .as_ref()
                .unwrap()
                .server_name
                .as_deref(),
            Some("redis.sessions.internal")
        );
    }
}
