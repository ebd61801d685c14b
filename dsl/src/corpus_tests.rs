//! The acceptance corpus under `tests/dsl/` checked against the mirror catalogue:
//! every invalid file gives exactly the diagnostics in its `.expected` file, every
//! valid file compiles without a word. `BLESS=1` rewrites the `.expected` files (review
//! the diff by hand: they must be right, not just recorded).

use crate::testing::catalogue;
use crate::{compile, render, render_short, SourceFile};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The corpus files of one directory, as (path relative to the repository root, text).
pub(crate) fn corpus(dir: &str) -> Vec<SourceFile> {
    let root = repo_root();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pipe"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            SourceFile::new(
                format!("{dir}/{name}"),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn invalid_files_give_exactly_the_expected_diagnostics() {
    let bless = std::env::var_os("BLESS").is_some();
    let files = corpus("tests/dsl/invalid");
    assert!(
        files.len() >= 45,
        "the corpus has {} invalid files",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let one = std::slice::from_ref(file);
        let result = compile(one, &catalogue());
        assert!(result.plan.is_none(), "{} compiled", file.path);
        let mut got: String = result
            .diagnostics
            .iter()
            .map(|d| render_short(d, one) + "\n")
            .collect();
        if got.is_empty() {
            got.push_str("(no diagnostics)\n");
        }
        let expected_path = repo_root().join(file.path.replace(".pipe", ".expected"));
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                file.path
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each valid file alone, and each directory under `tests/dsl/valid/` as one
/// configuration (its files merge).
pub(crate) fn valid_configurations() -> Vec<Vec<SourceFile>> {
    let mut configs: Vec<Vec<SourceFile>> = corpus("tests/dsl/valid")
        .into_iter()
        .map(|f| vec![f])
        .collect();
    let root = repo_root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("tests/dsl/valid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files = crate::load_paths(&[dir]).unwrap();
        for f in &mut files {
            let at = f.path.find("tests/dsl/").unwrap();
            f.path = f.path[at..].to_string();
        }
        configs.push(files);
    }
    configs
}

#[test]
fn valid_files_compile_cleanly() {
    let configs = valid_configurations();
    assert!(configs.len() >= 3);
    for files in &configs {
        let result = compile(files, &catalogue());
        let shown: Vec<String> = result
            .diagnostics
            .iter()
            .map(|d| render(d, files, false))
            .collect();
        assert!(
            result.diagnostics.is_empty(),
            "{}:\n{}",
            files[0].path,
            shown.join("\n")
        );
        assert!(result.plan.is_some());
    }
}

/// `PIPE_FILE=path cargo test -p pipectl-dsl show_file -- --ignored --nocapture` prints
/// the human rendering of a file's diagnostics: a development aid.
#[test]
#[ignore]
fn show_file() {
    let path = std::env::var("PIPE_FILE").unwrap();
    let text = std::fs::read_to_string(repo_root().join(&path)).unwrap();
    let files = vec![SourceFile::new(path, text)];
    let result = compile(&files, &catalogue());
    for d in &result.diagnostics {
        println!("{}", render(d, &files, false));
    }
    for d in &result.diagnostics {
        println!("{}", render_short(d, &files));
    }
    if let Some(plan) = result.plan {
        println!("{}", serde_json::to_string_pretty(&plan).unwrap());
    }
}
