//! `tether render kustomize`: `--enable-helm` (charts inflated by Tether's Helm engine) and
//! remote git resources (through the repository cache, against the loopback git server),
//! compared with expectations the reference kustomize wrote for the same inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tether_gitserver::GitServer;

fn tether(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .env("TETHER_GIT_CACHE", cache)
        .output()
        .expect("tether runs")
}

fn parse_stream(text: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

fn crates() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn enable_helm_inflates_charts_like_kustomize() {
    let case = crates().join("tether-kustomize/tests/corpus/helm-basic");
    let cache = tempfile::tempdir().expect("tmp");
    let app = case.join("app");
    let out = tether(
        &[
            "render",
            "kustomize",
            &app.to_string_lossy(),
            "--enable-helm",
        ],
        cache.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(case.join("expected.yaml")).expect("expected");
    assert_eq!(
        parse_stream(&String::from_utf8_lossy(&out.stdout)),
        parse_stream(&expected)
    );
    // Nothing remote was asked for: the repository cache is not created.
    assert!(!cache.path().join("repos").exists());

    let out = tether(
        &["render", "kustomize", &app.to_string_lossy()],
        cache.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must specify --enable-helm"), "{err}");
}

#[test]
fn remote_base_is_fetched_through_the_repository_cache() {
    let case = crates().join("tether-render/tests/kustomize-remote/remote-ref-tag");
    let server = GitServer::start().expect("git server");
    let repo = server.create_repo("shop").expect("repo");
    for (dir, tag) in [("repo", true), ("repo-next", false)] {
        let root = case.join(dir);
        for f in [
            "base/kustomization.yaml",
            "base/deployment.yaml",
            "base/service.yaml",
        ] {
            if let Ok(text) = std::fs::read_to_string(root.join(f)) {
                repo.write(f, &text).expect("write");
            }
        }
        repo.commit_and_push(dir).expect("commit");
        if tag {
            repo.tag("v1").expect("tag");
        }
    }
    let work = tempfile::tempdir().expect("tmp");
    let kust = std::fs::read_to_string(case.join("app/kustomization.yaml"))
        .expect("kustomization")
        .replace("{{REPO}}", &server.url("shop"));
    std::fs::write(work.path().join("kustomization.yaml"), kust).expect("write");
    let cache = tempfile::tempdir().expect("tmp");
    let out = tether(
        &["render", "kustomize", &work.path().to_string_lossy()],
        cache.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(case.join("expected.yaml")).expect("expected");
    assert_eq!(
        parse_stream(&String::from_utf8_lossy(&out.stdout)),
        parse_stream(&expected)
    );
    assert!(cache.path().join("repos").is_dir());
}

#[path = "support/static_http.rs"]
mod static_http;

/// `helmCharts` that are not vendored are pulled from their `repo` (constraints, the newest
/// stable version when none is given, the chart's own values under valuesInline) and never
/// written into the kustomization's directory. Expectations: the reference kustomize running
/// `helm pull` against the same repository (`scripts/gen-kustomize-expected --helm-repo`).
#[test]
fn helm_charts_are_pulled_from_their_repository_like_kustomize() {
    let base = crates().join("tether/tests/kustomize_helm_repo");
    let url = static_http::serve(base.join("repo"));
    let tmp = tempfile::tempdir().expect("tmp");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(base.join("cases"))
        .expect("cases")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let app = tmp.path().join(&name);
        static_http::copy_with_repo_url(&case.join("app"), &app, &url);
        let before = std::fs::read_dir(&app).expect("app").count();
        let out = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args([
                "render",
                "kustomize",
                &app.to_string_lossy(),
                "--enable-helm",
            ])
            .env("TETHER_CACHE_DIR", tmp.path().join("cache"))
            .env("TETHER_GIT_CACHE", tmp.path().join("git"))
            .output()
            .expect("tether runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            std::fs::read_dir(&app).expect("app").count(),
            before,
            "{name}: nothing is written into the kustomization"
        );
        if let Ok(expected) = std::fs::read_to_string(case.join("expected.yaml")) {
            assert!(out.status.success(), "{name}: {stderr}");
            assert_eq!(
                parse_stream(&String::from_utf8_lossy(&out.stdout)),
                parse_stream(&expected),
                "{name}"
            );
        } else {
            assert!(!out.status.success(), "{name} must fail");
            assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
            let mentions = std::fs::read_to_string(case.join("error-mentions")).expect("mentions");
            let reference =
                std::fs::read_to_string(case.join("expected-error.txt")).expect("reference error");
            for m in mentions.lines().filter(|m| !m.is_empty()) {
                assert!(reference.contains(m), "{name}: the reference mentions {m}");
                assert!(stderr.contains(m), "{name}: `{stderr}` mentions {m}");
            }
        }
    }
}
