//! Runs Argo CD's Lua health-check fixtures: every `health_test.yaml` under a directory, each against
//! the `health.lua` beside it, in the format of Argo CD's `resource_customizations`:
//!
//! ```yaml
//! tests:
//! - healthStatus:
//!     status: Progressing
//!     message: "Waiting for certificate"
//!   inputPath: testdata/progressing.yaml
//! ```
//!
//! A case passes when the script's status and message both equal the expected ones (an absent
//! message means an empty one), as Argo CD's own test compares them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::lua::{LuaLimits, LuaScript, parse_code};
use crate::overrides::{LoadError, find_files};

/// The name of a fixture file.
pub const TEST_FILE: &str = "health_test.yaml";
/// The name of the script beside it.
pub const SCRIPT_FILE: &str = "health.lua";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCase {
    health_status: Expected,
    input_path: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Expected {
    status: String,
    #[serde(default)]
    message: String,
}

/// One failing case (or a fixture that could not be run at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The `health_test.yaml`.
    pub test_file: PathBuf,
    /// The case's `inputPath` (empty when the whole file failed).
    pub input_path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.input_path.as_os_str().is_empty() {
            write!(f, "FAIL {}: {}", self.test_file.display(), self.reason)
        } else {
            write!(
                f,
                "FAIL {} [{}]: {}",
                self.test_file.display(),
                self.input_path.display(),
                self.reason
            )
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed, in file order.
    pub failures: Vec<Failure>,
}

impl Report {
    /// The summary line: `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failures.len())
    }
}

/// Runs every `health_test.yaml` under `dir`. Errors only when `dir` cannot be walked; a fixture that
/// cannot be read or parsed is reported as a failure.
pub fn run_dir(dir: &Path, limits: &LuaLimits) -> Result<Report, LoadError> {
    let mut report = Report::default();
    for test_file in find_files(dir, TEST_FILE)? {
        run_file(&test_file, limits, &mut report);
    }
    Ok(report)
}

fn run_file(test_file: &Path, limits: &LuaLimits, report: &mut Report) {
    let base = test_file.parent().unwrap_or(Path::new("."));
    let fail_file = |report: &mut Report, reason: String| {
        report.failures.push(Failure {
            test_file: test_file.to_path_buf(),
            input_path: PathBuf::new(),
            reason,
        });
    };
    let tests: TestFile = match std::fs::read_to_string(test_file) {
        Err(e) => return fail_file(report, format!("cannot read: {e}")),
        Ok(text) => match serde_yaml::from_str(&text) {
            Err(e) => return fail_file(report, format!("invalid {TEST_FILE}: {e}")),
            Ok(t) => t,
        },
    };
    let script_path = base.join(SCRIPT_FILE);
    let script = match std::fs::read_to_string(&script_path) {
        Ok(source) => LuaScript::new(source, script_path.display().to_string()),
        Err(e) => {
            let reason = format!("cannot read `{}`: {e}", script_path.display());
            for case in tests.tests {
                report.failures.push(Failure {
                    test_file: test_file.to_path_buf(),
                    input_path: case.input_path,
                    reason: reason.clone(),
                });
            }
            return;
        }
    };
    for case in tests.tests {
        match run_case(&script, base, &case, limits) {
            Ok(()) => report.passed += 1,
            Err(reason) => report.failures.push(Failure {
                test_file: test_file.to_path_buf(),
                input_path: case.input_path,
                reason,
            }),
        }
    }
}

fn run_case(
    script: &LuaScript,
    base: &Path,
    case: &TestCase,
    limits: &LuaLimits,
) -> Result<(), String> {
    let input = base.join(&case.input_path);
    let text = std::fs::read_to_string(&input)
        .map_err(|e| format!("cannot read `{}`: {e}", input.display()))?;
    let obj: Value = serde_yaml::from_str(&text)
        .map_err(|e| format!("invalid YAML in `{}`: {e}", input.display()))?;
    if parse_code(&case.health_status.status).is_none() {
        return Err(format!(
            "expected status {:?} is not one of Argo CD's health statuses",
            case.health_status.status
        ));
    }
    let got = script.run(&obj, limits).map_err(|e| e.to_string())?;
    let (status, message) = match &got {
        Some(h) => (
            format!("{:?}", h.status),
            h.message.clone().unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    };
    if status == case.health_status.status && message == case.health_status.message {
        return Ok(());
    }
    Err(format!(
        "expected {} {:?}, got {} {:?}",
        case.health_status.status,
        case.health_status.message,
        if status.is_empty() { "nil" } else { &status },
        message
    ))
}
