//! Helpers shared by the CLI's end-to-end tests.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run with the package directory as cwd).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// A `pipectl` command run from the repository root.
pub fn pipectl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    cmd.current_dir(repo_root());
    cmd.env_remove("PIPECTL_LOG");
    cmd
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-test-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generates `count` CloudTrail-shaped records with the quickstart's generator.
pub fn generate_cloudtrail(count: usize, path: &Path) {
    let status = Command::new("python3")
        .arg(repo_root().join("examples/quickstart/gen_cloudtrail.py"))
        .arg(count.to_string())
        .arg(path)
        .status()
        .expect("python3 runs the generator");
    assert!(status.success(), "generator failed");
}

/// stdout and stderr as text, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
