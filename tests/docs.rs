//! The README documents what the code has: every exported metric in its Metrics table, every
//! `serve` flag in its flags table. Adding either without its documentation fails here.

use std::process::Command;

use slotwatch::metrics::families;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The README section under `heading`, up to the next heading of the same level.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let level = heading.split(' ').next().unwrap();
    let rest = &text[start + heading.len() + 2..];
    let end = rest.find(&format!("\n{level} ")).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_metric_is_in_the_readme_table() {
    let text = readme();
    let metrics = section(&text, "## Metrics");
    let rows: Vec<&str> = metrics.lines().filter(|l| l.starts_with("| `")).collect();
    for f in families() {
        let name = format!("`{}`", f.exposed_name());
        assert!(
            rows.iter()
                .any(|r| r.split(" | ").next().is_some_and(|c| c.contains(&name))),
            "{name} is exported but not in the README's Metrics table"
        );
    }
    // And the other way round: no row for a metric that is gone.
    for row in rows {
        let first = row.split(" | ").next().unwrap();
        for documented in first.split('`').skip(1).step_by(2) {
            assert!(
                families().any(|f| f.exposed_name() == documented),
                "the README documents {documented}, which is not exported"
            );
        }
    }
}

#[test]
fn every_serve_flag_is_in_the_readme() {
    let help = Command::new(env!("CARGO_BIN_EXE_slotwatch"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let text = readme();
    let serve = section(&text, "### `slotwatch serve`");
    for flag in help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '.'))
    {
        if flag == "--help" || flag == "--version" {
            continue;
        }
        assert!(
            serve.contains(&format!("`{flag}")),
            "{flag} is a serve flag but the README's serve section does not name it"
        );
    }
}
