//! `tether health test` through the binary: the summary line and the exit code, on fixtures that pass
//! and fixtures that fail (crates/tether-health/tests/lua).

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tether-health/tests/lua")
        .join(which)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .output()
        .expect("tether runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    )
}

#[test]
fn passing_fixtures_exit_zero_with_the_summary() {
    let dir = fixtures("pass");
    let (code, stdout, stderr) = run(&["health", "test", dir.to_str().expect("UTF-8 path")]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout, "12 passed, 0 failed\n");
}

#[test]
fn failing_fixtures_exit_one_with_a_line_per_failure() {
    let dir = fixtures("fail");
    let (code, stdout, stderr) = run(&["health", "test", dir.to_str().expect("UTF-8 path")]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"1 passed, 5 failed"), "{stdout}");
    assert_eq!(lines.len(), 6, "{stdout}");
    assert!(
        lines[..5].iter().all(|l| l.starts_with("FAIL ")),
        "{stdout}"
    );
    assert!(stdout.contains("instruction limit exceeded"), "{stdout}");
    assert!(
        stdout.contains("expected Degraded \"broken\", got Healthy \"always\""),
        "{stdout}"
    );
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let (code, stdout, stderr) = run(&["health", "test", "/nonexistent/tether-health-dir"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("/nonexistent/tether-health-dir"),
        "{stderr}"
    );
}

#[test]
fn an_empty_directory_passes_with_zero_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stdout, _) = run(&["health", "test", dir.path().to_str().expect("UTF-8 path")]);
    assert_eq!((code, stdout.as_str()), (0, "0 passed, 0 failed\n"));
}
