//! The layout a newcomer relies on: no function in src/ over 80 lines, no file over 500, and
//! data that flows one way (the snapshot never imports the poll; the client analysis imports
//! neither the poll nor the snapshot).

use std::path::{Path, PathBuf};

/// Longest function allowed, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 80;
/// Longest file allowed.
const MAX_FILE_LINES: usize = 500;
/// Functions allowed to be longer, each with why: a `Display` `match` that is a flat table of
/// short arms reads best whole.
const LONG_ALLOWED: &[(&str, &str)] = &[("src/topology/event/text.rs", "fmt")];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            let name = p
                .strip_prefix(root)
                .expect("under the manifest dir")
                .to_string_lossy()
                .into_owned();
            (name, text)
        })
        .collect()
}

/// A line with string and char literals and comments blanked, so braces in them don't count.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => break,
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A char literal ('{', '\''), or a lifetime, which has no closing quote.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Every function: (name, first line, number of lines).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<String> = text.lines().map(code_of).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else {
            continue;
        };
        let before = &line[..at];
        let is_item = before.split_whitespace().all(|w| {
            [
                "pub",
                "pub(crate)",
                "pub(super)",
                "async",
                "const",
                "unsafe",
            ]
            .contains(&w)
        });
        if !is_item {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i32, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            if !opened && l.contains(';') && !l.contains('{') {
                break;
            }
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                out.push((name.clone(), i + 1, j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn the_scanner_measures_functions_and_ignores_braces_in_text() {
    let text = "pub fn a() {\n    let s = \"{\";\n    let c = '}';\n}\nfn b(x: &'a str) -> u8 {\n    // {\n    1\n}\n";
    assert_eq!(
        functions(text),
        [("a".to_owned(), 1, 4), ("b".to_owned(), 5, 4)]
    );
}

#[test]
fn no_function_in_src_is_over_80_lines() {
    let mut long = Vec::new();
    for (file, text) in sources() {
        for (name, line, len) in functions(&text) {
            let allowed = LONG_ALLOWED.contains(&(file.as_str(), name.as_str()));
            if len > MAX_FN_LINES && !allowed {
                long.push(format!("{file}:{line} {name}: {len} lines"));
            }
        }
    }
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}

#[test]
fn no_file_in_src_is_over_500_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > MAX_FILE_LINES)
        .map(|(file, text)| format!("{file}: {} lines", text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}

#[test]
fn data_flows_one_way() {
    let mut wrong = Vec::new();
    for (file, text) in sources() {
        let forbidden: &[&str] = if file.starts_with("src/snapshot/") {
            &["crate::poll"]
        } else if file.starts_with("src/clients/") {
            &["crate::poll", "crate::snapshot"]
        } else {
            &[]
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(f) = forbidden.iter().find(|f| line.contains(*f)) {
                wrong.push(format!("{file}:{} uses {f}", n + 1));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
