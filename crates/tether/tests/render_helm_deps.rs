//! Dependency fetching from an HTTP chart repository on loopback, through the real `tether` binary
//! (`--dependency-update`, `--repo`, chart URLs) and through tether-helm's Argo CD path (`helm
//! dependency build` with Chart.lock). The repository is tether-chartrepo's test repository; the
//! expected outputs and error texts are the reference helm's (`scripts/gen-helm-deps-expected`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/static_http.rs"]
mod static_http;
use static_http::serve;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deps_dir() -> PathBuf {
    manifest_dir().join("tests/helm_deps")
}

/// A copy of tether-chartrepo's test repository, served.
fn repository(tmp: &Path, edit_index: impl Fn(String) -> String) -> String {
    let src = manifest_dir().join("../tether-chartrepo/tests/repo");
    let dst = tmp.join("repo");
    std::fs::create_dir_all(&dst).expect("mkdir");
    for e in std::fs::read_dir(&src).expect("read repo") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
    }
    let index = std::fs::read_to_string(dst.join("index.yaml")).expect("index");
    std::fs::write(dst.join("index.yaml"), edit_index(index)).expect("write index");
    serve(dst)
}

/// Copies charts/NAME to `tmp`, with @@REPO@@ replaced by `url`.
fn instantiate(tmp: &Path, name: &str, url: &str) -> PathBuf {
    let dst = tmp.join(name);
    static_http::copy_with_repo_url(&deps_dir().join("charts").join(name), &dst, url);
    dst
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(deps_dir().join("expected").join(name)).expect("expected file")
}

fn tether(tmp: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["render", "helm"])
        .args(args)
        .env("TETHER_CACHE_DIR", tmp.join("cache"))
        .env("HELM_REPOSITORY_CONFIG", tmp.join("repositories.yaml"))
        .output()
        .expect("run tether")
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "tether failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn stderr_fail(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    assert!(out.stdout.is_empty(), "stdout on failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn dependency_update_resolves_constraints_as_helm_does() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = repository(tmp.path(), |i| i);
    for name in ["caret", "tilde-alias"] {
        let chart = instantiate(tmp.path(), name, &url);
        let dir = chart.to_str().expect("utf-8 path");
        // Like `helm template`, nothing is fetched without the flag.
        let err = stderr_fail(&tether(tmp.path(), &[dir]));
        assert!(
            err.contains("found in Chart.yaml, but missing in charts/ directory: demo"),
            "{err}"
        );
        let out = stdout_ok(&tether(tmp.path(), &[dir, "--dependency-update"]));
        assert_eq!(out, expected(&format!("{name}.yaml")), "{name}");
        assert!(
            !chart.join("charts").exists(),
            "the chart directory is left alone"
        );
    }
}

#[test]
fn repo_flag_and_chart_urls_render_as_helm_template() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = repository(tmp.path(), |i| i);
    let out = stdout_ok(&tether(
        tmp.path(),
        &["demo", "--repo", &url, "--version", "~1.2.0"],
    ));
    assert_eq!(out, expected("repo.yaml"));
    let out = stdout_ok(&tether(tmp.path(), &[&format!("{url}/demo-2.0.0.tgz")]));
    assert_eq!(out, expected("url.yaml"));
    let err = stderr_fail(&tether(
        tmp.path(),
        &["demo", "--repo", &url, "--version", "^9"],
    ));
    assert!(err.contains("demo") && err.contains("^9"), "{err}");
}

#[test]
fn repository_aliases_resolve_only_when_configured() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = repository(tmp.path(), |i| i);
    let chart = instantiate(tmp.path(), "missing-repo", &url);
    let dir = chart.to_str().expect("utf-8 path");
    let err = stderr_fail(&tether(tmp.path(), &[dir, "--dependency-update"]));
    let want = expected("missing-repo.err");
    assert!(err.contains(want.trim()), "want {want:?} in {err:?}");
    std::fs::write(
        tmp.path().join("repositories.yaml"),
        format!("apiVersion: \"\"\nrepositories:\n- name: nope\n  url: {url}\n"),
    )
    .expect("write repositories.yaml");
    let out = stdout_ok(&tether(tmp.path(), &[dir, "--dependency-update"]));
    assert!(out.contains("name: demo-1.10.0"), "{out}");
}

#[test]
fn digest_mismatch_names_the_chart_and_both_digests() {
    let tmp = tempfile::tempdir().expect("tmp");
    let index =
        std::fs::read_to_string(manifest_dir().join("../tether-chartrepo/tests/repo/index.yaml"))
            .expect("index");
    // The digest line that belongs to demo 1.10.0 (entries: created, description, digest, ... version).
    let lines: Vec<&str> = index.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "version: 1.10.0")
        .expect("1.10.0 entry");
    let digest_line = lines[..at]
        .iter()
        .rev()
        .find(|l| l.trim_start().starts_with("digest:"))
        .expect("digest line");
    let real = digest_line
        .trim()
        .trim_start_matches("digest:")
        .trim()
        .to_owned();
    let fake = "0".repeat(64);
    let url = repository(tmp.path(), |i| i.replace(&real, &fake));
    let chart = instantiate(tmp.path(), "caret", &url);
    let err = stderr_fail(&tether(
        tmp.path(),
        &[chart.to_str().expect("utf-8"), "--dependency-update"],
    ));
    assert!(
        err.contains("demo") && err.contains(&real) && err.contains(&fake),
        "{err}"
    );
    assert!(
        !tmp.path().join("cache").exists()
            || walk(&tmp.path().join("cache"))
                .iter()
                .all(|p| !p.ends_with("demo-1.10.0.tgz")),
        "a mismatching archive is not cached"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn lock_digests_are_helms() {
    for name in ["lock", "hash-fields"] {
        let dir = deps_dir().join("hash").join(name);
        let chart = tether_helm::load(&dir).expect("load");
        let lock = chart.lock.as_ref().expect("Chart.lock");
        assert_eq!(
            tether_helm::hash_req(&chart.metadata.dependencies, &lock.dependencies),
            lock.digest,
            "{name}"
        );
    }
}

#[test]
fn argo_path_builds_dependencies_from_chart_lock() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = repository(tmp.path(), |i| i);
    let chart = instantiate(tmp.path(), "lock", &url);
    // The recorded lock was made by helm against another port: seal it again for this repository URL
    // (`lock_digests_are_helms` checks the digest function against helm's own locks).
    let loaded = tether_helm::load(&chart).expect("load");
    let lock = loaded.lock.as_ref().expect("lock");
    let text = std::fs::read_to_string(chart.join("Chart.lock")).expect("lock");
    let sealed = text.replace(
        &lock.digest,
        &tether_helm::hash_req(&loaded.metadata.dependencies, &lock.dependencies),
    );
    std::fs::write(chart.join("Chart.lock"), sealed).expect("write lock");

    let fetcher =
        tether_chartrepo::helm::HelmFetcher::new(tmp.path().join("cache")).with_chart_dir(&chart);
    let renderer = tether_helm::argo::load(&chart, Some(&fetcher)).expect("dependency build");
    let out = renderer
        .render(
            &tether_helm::UserValues::default(),
            &tether_helm::RenderOptions::default(),
        )
        .expect("render");
    assert_eq!(out.text, expected("lock.yaml"));

    // Chart.yaml changed after the lock was written: Helm refuses to build.
    let yaml = std::fs::read_to_string(chart.join("Chart.yaml")).expect("Chart.yaml");
    std::fs::write(chart.join("Chart.yaml"), yaml.replace("^1.0.0", "^1.2.0")).expect("write");
    let err = tether_helm::argo::load(&chart, Some(&fetcher)).expect_err("out of sync");
    assert_eq!(
        err.message(),
        "the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml). Please update the dependencies"
    );
    // Without a fetcher the dependency stays missing (Helm's error when rendering).
    let r = tether_helm::argo::load(&chart, None).expect("load");
    assert!(
        r.render(
            &tether_helm::UserValues::default(),
            &tether_helm::RenderOptions::default()
        )
        .is_err()
    );
}
