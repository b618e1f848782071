//! Tidy: house rules checked as ordinary tests, so `cargo test` keeps them true. It
//! walks every `crates/*/src` and `crates/*/tests` tree of the workspace and proves:
//! each Rust file opens with a `//!` paragraph; the core reads no clock, no random
//! source, does no I/O, uses no framework and no `unsafe`, and has no dependencies; no
//! file keeps debug leftovers or switched-off tests; and no core function grows past a
//! length ratchet. Each test names every offending file and line it finds.
//! Needles that would flag this very file are assembled with `concat!`.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest function body allowed in the core, in lines. Lower it when the longest
/// function gets shorter; never raise it to let a function grow.
const CORE_FN_LINES_MAX: usize = 120;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Every `.rs` file under `crates/*/src` and `crates/*/tests`, sorted.
fn rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let crates = fs::read_dir(workspace().join("crates")).expect("crates/");
    for krate in crates.map(|entry| entry.expect("crate dir").path()) {
        for tree in ["src", "tests"] {
            collect(&krate.join(tree), &mut files);
        }
    }
    files.sort();
    assert!(files.len() >= 10, "tidy found only {} files; is the walk broken?", files.len());
    files
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for path in entries.map(|entry| entry.expect("dir entry").path()) {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn core_sources() -> Vec<PathBuf> {
    let src = workspace().join("crates/core/src");
    let files: Vec<PathBuf> = rust_files().into_iter().filter(|f| f.starts_with(&src)).collect();
    assert!(files.iter().any(|f| f.ends_with("state.rs")), "tidy did not find crates/core/src/state.rs");
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace()).unwrap_or(path).display().to_string()
}

fn report(rule: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{rule}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_rust_file_opens_with_a_module_doc_comment() {
    let problems = rust_files()
        .into_iter()
        .filter(|file| !read(file).starts_with("//!"))
        .map(|file| format!("{}: the first line must be a `//!` paragraph on what the module is for", relative(&file)))
        .collect();
    report("files without a module doc", problems);
}

#[test]
fn the_core_reads_no_clock_or_randomness_and_does_no_io() {
    // Time and randomness arrive inside commands; I/O, async runtimes, serialization
    // and web frameworks live in the outer crates. `unsafe` has no reason to be here.
    let banned = [
        "SystemTime::now",
        "Instant::now",
        "thread_rng",
        "rand::",
        "std::fs",
        "std::net",
        "tokio",
        "serde",
        "sqlx",
        "axum",
        "unsafe",
    ];
    let mut problems = Vec::new();
    for file in core_sources() {
        for (n, line) in read(&file).lines().enumerate() {
            for needle in banned.iter().filter(|needle| line.contains(**needle)) {
                problems.push(format!("{}:{}: `{needle}` in the pure core: {}", relative(&file), n + 1, line.trim()));
            }
        }
    }
    report("the core must stay pure", problems);
}

#[test]
fn the_core_crate_has_no_dependencies() {
    let manifest = read(&workspace().join("crates/core/Cargo.toml"));
    let mut in_dependencies = false;
    let mut problems = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]" || line.starts_with("[dependencies.");
            if line.starts_with("[dependencies.") {
                problems.push(format!("crates/core/Cargo.toml: `{line}`"));
            }
        } else if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            problems.push(format!("crates/core/Cargo.toml [dependencies]: `{line}`"));
        }
    }
    report("the core depends on no crate (dev-dependencies are fine)", problems);
}

#[test]
fn no_file_keeps_debug_leftovers_or_switched_off_tests() {
    let needles = [
        concat!("db", "g!("),
        concat!("FIX", "ME"),
        concat!("#[", "ignore"),
        concat!("#[", "should_panic"),
    ];
    let mut problems = Vec::new();
    for file in rust_files() {
        for (n, line) in read(&file).lines().enumerate() {
            for needle in needles.iter().filter(|needle| line.contains(**needle)) {
                problems.push(format!("{}:{}: `{needle}`: {}", relative(&file), n + 1, line.trim()));
            }
        }
    }
    report("leftovers that must not be committed", problems);
}

#[test]
fn no_core_function_is_longer_than_the_ratchet() {
    let mut problems = Vec::new();
    let mut measured = 0;
    for file in core_sources() {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let Some(name) = fn_name(line) else { continue };
            let Some(length) = body_lines(&lines[start..]) else { continue };
            measured += 1;
            if length > CORE_FN_LINES_MAX {
                problems.push(format!(
                    "{}:{}: fn {name} is {length} lines (max {CORE_FN_LINES_MAX}); split it",
                    relative(&file),
                    start + 1
                ));
            }
        }
    }
    assert!(measured >= 30, "the ratchet measured only {measured} functions; is the matcher broken?");
    report("functions over the length ratchet", problems);
}

/// The function's name if the line starts a function definition.
fn fn_name(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    let rest = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "const fn ", "pub const fn "]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix))?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Lines from the signature to the closing brace, or `None` for a bodiless
/// declaration. Braces inside string and char literals and comments are skipped.
fn body_lines(lines: &[&str]) -> Option<usize> {
    let mut depth = 0usize;
    let mut opened = false;
    for (n, line) in lines.iter().enumerate() {
        for c in code_chars(line) {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth = depth.checked_sub(1).expect("braces balance"),
                ';' if !opened => return None,
                _ => {}
            }
            if opened && depth == 0 {
                return Some(n + 1);
            }
        }
    }
    None
}

/// The characters of a line outside string literals, char literals and `//` comments.
fn code_chars(line: &str) -> Vec<char> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => break,
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            '\'' if chars.get(i + 2) == Some(&'\'') => i += 2,
            '\'' if chars.get(i + 1) == Some(&'\\') => {
                while i + 1 < chars.len() && chars[i + 1] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[test]
fn the_function_measure_counts_braces_in_code_only() {
    let source = [
        "fn sample() {",
        "    let a = \"{ not a brace\";",
        "    let b = '}';",
        "    // } nor this",
        "    if a.is_empty() { b } else { '{' }",
        "}",
        "fn after() {}",
    ];
    assert_eq!(fn_name(source[0]), Some("sample"));
    assert_eq!(body_lines(&source), Some(6));
    assert_eq!(body_lines(&["    fn declared(&self) -> u32;"]), None);
    assert_eq!(body_lines(&source[6..]), Some(1));
}
