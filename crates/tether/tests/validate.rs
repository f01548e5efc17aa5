//! `tether validate`: documented errors and exit codes, through the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/validate")
        .join(name)
}

fn validate(args: &[&Path]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("validate")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate"))
        .output()
        .expect("tether runs");
    let code = output.status.code().expect("exited normally");
    (code, String::from_utf8(output.stdout).expect("UTF-8"))
}

#[test]
fn valid_examples_exit_zero() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/argocd");
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (code, out) = validate(&refs);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with(": valid\n"), "{out}");
}

#[test]
fn schema_error_names_file_object_and_field_path() {
    let (code, out) = validate(&[Path::new("guestbook.yaml")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            r#"guestbook.yaml: Application "guestbook": spec.syncPolicy.retry.limit: invalid type: string "five", expected i64"#
        ),
        "{out}"
    );
}

#[test]
fn semantic_errors_are_reported() {
    let (code, out) = validate(&[&fixture("semantic.yaml")]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        r#"Application "both-destinations": spec.destination: both server and name are set"#,
        r#"Application "bad-sync-option": spec.syncPolicy.syncOptions[1]: unknown sync option "PruneFirst=true""#,
        r#"Application "bad-annotations": metadata.annotations: annotation "argocd.argoproj.io/sync-wave": "first" is not an integer"#,
        r#"Application "bad-annotations": metadata.annotations: annotation "argocd.argoproj.io/hook": unknown value "PreSynk""#,
        r#"Application "helm-and-kustomize": spec.source: multiple application sources defined: helm and kustomize"#,
        r#"Deployment "web": metadata.annotations: annotation "argocd.argoproj.io/hook-delete-policy": unknown value "Always""#,
        r#"AppProject "windows": spec.syncWindows[0].kind: Some("sometimes") must be "allow" or "deny""#,
        r#"AppProject "windows": spec.syncWindows[0].duration: invalid duration "an hour""#,
        r#"ApplicationSet "two-generators": spec.generators[0]: exactly one generator must be set, found 2"#,
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn unknown_fields_warn_and_strict_fails() {
    let (code, out) = validate(&[&fixture("typo.yaml")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            r#"warning: Application "typo": spec.syncPolicy.automated.selfheal: unknown field"#
        ),
        "{out}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["validate", "--strict"])
        .arg(fixture("typo.yaml"))
        .output()
        .expect("tether runs");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn unreadable_and_malformed_files() {
    let (code, out) = validate(&[&fixture("does-not-exist.yaml")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("does-not-exist.yaml: cannot read"), "{out}");

    let (code, out) = validate(&[&fixture("syntax.yaml")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("document 1: YAML syntax error"), "{out}");
    assert!(out.contains("line"), "the error names the line: {out}");

    // Unreadable wins over invalid.
    let (code, _) = validate(&[&fixture("syntax.yaml"), &fixture("does-not-exist.yaml")]);
    assert_eq!(code, 2);
}
