//! Running the `presim` binary, and scratch directories, for the
//! integration tests that include this file.

// Each test file uses what it needs of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `presim ARGS` run in `cwd`: its exit code, standard output and
/// standard error.
pub fn presim_in(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_presim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run presim");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `presim ARGS`, run in `cwd`, refuses its input (exit 2)
/// with standard error ending in `message`.
pub fn assert_refused(cwd: &Path, args: &[&str], message: &str) {
    let (code, stdout, stderr) = presim_in(cwd, args);
    assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
    assert!(stderr.ends_with(message), "{args:?}: {stderr}");
}

/// `presim ARGS` run in the package's directory.
pub fn presim(args: &[&str]) -> (i32, String, String) {
    presim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// An empty directory `SUITE-NAME` in the tests' scratch directory.
pub fn tempdir(suite: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{suite}-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
