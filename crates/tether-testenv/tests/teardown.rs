//! A test binary that panics while holding a control plane leaves no processes behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Set only when `panicking_test_binary_leaves_no_processes` runs this binary as its child.
const CHILD_ENV: &str = "TETHER_TESTENV_TEARDOWN_REPORT";

/// Runs only as the child of the test below: it starts a control plane, reports its process
/// ids, and panics.
#[tokio::test]
async fn child_panics_holding_a_control_plane() {
    let Some(report) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let ns = tether_testenv::namespace().await;
    let dir = tether_testenv::run_dir().expect("the control plane started");
    let mut lines = vec![dir.display().to_string()];
    let supervisor = std::fs::read_to_string(dir.join("supervisor.pid")).expect("supervisor.pid");
    lines.push(supervisor.trim().to_string());
    for entry in std::fs::read_dir(dir.join("pids")).expect("pids dir") {
        let pid = std::fs::read_to_string(entry.expect("pid file").path()).expect("pid");
        lines.push(pid.trim().to_string());
    }
    std::fs::write(report, lines.join("\n")).expect("write report");
    panic!("deliberate panic while holding namespace {}", ns.name());
}

/// True if `pid` is a live (not zombie) process.
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn panicking_test_binary_leaves_no_processes() {
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--exact",
            "child_panics_holding_a_control_plane",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, report.path())
        // The child must start a control plane of its own, not reuse a running one.
        .env_remove(tether_testenv::KUBECONFIG_ENV)
        .output()
        .expect("run the child test binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the child test must fail by panicking"
    );
    assert!(
        stderr.contains("deliberate panic"),
        "child stderr:\n{stderr}"
    );

    let report = std::fs::read_to_string(report.path()).expect("read report");
    let mut lines = report.lines();
    let dir = lines.next().expect("run dir in the report").to_string();
    let pids: Vec<&str> = lines.collect();
    // supervisor, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
    assert_eq!(pids.len(), 6, "report: {report}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<&&str> = pids.iter().filter(|pid| alive(pid)).collect();
        if left.is_empty() && !Path::new(&dir).exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still alive after the child exited: {left:?}; run dir exists: {}",
            Path::new(&dir).exists()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
