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
