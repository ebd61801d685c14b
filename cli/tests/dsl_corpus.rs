//! The language's acceptance corpus through the real binary and the real catalogue:
//! `pipectl validate --diagnostics short FILE` on every `tests/dsl/invalid/*.pipe`
//! prints exactly the lines of its `.expected` file on stderr and exits 78, and every
//! valid example validates. (The same corpus is checked inside `pipectl-dsl` against
//! a mirror of the catalogue; this test proves the mirror and the real one agree.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pipe_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join(dir))
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".pipe"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

fn validate(path: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["validate", "--diagnostics", "short", path])
        .current_dir(repo_root())
        .output()
        .expect("pipectl runs")
}

#[test]
fn every_invalid_file_prints_exactly_its_expected_diagnostics() {
    let files = pipe_files("tests/dsl/invalid");
    assert!(files.len() >= 45, "only {} invalid files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let out = validate(file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected_path = repo_root().join(file.replace(".pipe", ".expected"));
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if stderr != expected {
            failures.push(format!(
                "{file}:\n--- expected\n{expected}--- got\n{stderr}"
            ));
        }
        if out.status.code() != Some(78) {
            failures.push(format!(
                "{file}: exit code {:?}, expected 78",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_valid_example_validates_without_a_word_on_stderr() {
    let mut targets = pipe_files("tests/dsl/valid");
    targets.push("tests/dsl/valid/multi".to_string());
    for target in targets {
        let out = validate(&target);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_default_of_the_real_catalogue_checks() {
    let catalogue =
        pipectl_core::topology::Registry::new(pipectl_connectors::factories()).catalogue();
    assert_eq!(
        pipectl_dsl::catalogue_errors(&catalogue),
        Vec::<String>::new()
    );
}
