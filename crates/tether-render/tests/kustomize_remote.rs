//! Remote kustomize resources and components through Tether's git layer, against the loopback
//! git server, compared with the reference kustomize run on the same served repositories.
//!
//! Each case under `tests/kustomize-remote/<case>/`:
//! * `repo/`: the served repository's first commit, tagged `v1` (branch `main`);
//! * `repo-next/` (optional): files written over it in a second commit on `main`;
//! * `app/`: the kustomization built; `{{REPO}}` stands for the served repository's URL
//!   (`http://127.0.0.1:PORT/<case>.git`);
//! * `options` (`load-restrictor=none`), `error-mentions`, and the expectations
//!   `expected.yaml` / `expected-error.txt` written by the reference kustomize.
//!
//! Expectations are (re)generated with `KUSTOMIZE_ORACLE=kubectl cargo test -p tether-render
//! --test kustomize_remote` (what `scripts/gen-kustomize-expected --remote` runs): the test then
//! runs `kubectl kustomize` against the same server instead of comparing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tether_gitserver::GitServer;
use tether_kustomize::{BuildOptions, LoadRestrictor, RealFs};
use tether_render::GitRemoteLoader;

fn copy_tree(from: &Path, to: &Path, subst: &dyn Fn(String) -> String) {
    for e in walk(from) {
        let rel = e.strip_prefix(from).expect("below");
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        let text = std::fs::read_to_string(&e).expect("fixture is text");
        std::fs::write(&dst, subst(text)).expect("write");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn write_repo_files(repo: &tether_gitserver::Repo, from: &Path) {
    for f in walk(from) {
        let rel = f
            .strip_prefix(from)
            .expect("below")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).expect("fixture is text");
        repo.write(&rel, &text).expect("write repo file");
    }
}

fn parse_stream(text: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

/// Serves the case's repository and lays out its app; returns the app dir.
fn setup(server: &GitServer, case: &Path, name: &str, work: &Path) -> PathBuf {
    let repo = server.create_repo(name).expect("repo");
    write_repo_files(&repo, &case.join("repo"));
    repo.commit_and_push("v1").expect("commit");
    repo.tag("v1").expect("tag");
    if case.join("repo-next").is_dir() {
        write_repo_files(&repo, &case.join("repo-next"));
        repo.commit_and_push("next").expect("commit");
    }
    let url = server.url(name);
    let app = work.join(name).join("app");
    copy_tree(&case.join("app"), &app, &|t| t.replace("{{REPO}}", &url));
    app
}

fn oracle(kubectl: &str, case: &Path, app: &Path, restrictor_none: bool, url: &str) {
    let mut cmd = std::process::Command::new(kubectl);
    cmd.arg("kustomize");
    if restrictor_none {
        cmd.args(["--load-restrictor", "LoadRestrictionsNone"]);
    }
    let out = cmd.arg(app).output().expect("run kubectl");
    let _ = std::fs::remove_file(case.join("expected.yaml"));
    let _ = std::fs::remove_file(case.join("expected-error.txt"));
    if out.status.success() {
        std::fs::write(case.join("expected.yaml"), &out.stdout).expect("write");
    } else {
        let err = String::from_utf8_lossy(&out.stderr)
            .replace(url, "{{REPO}}")
            .replace(&app.to_string_lossy().into_owned(), "app");
        std::fs::write(case.join("expected-error.txt"), err).expect("write");
    }
}

fn check(
    case: &Path,
    got: tether_kustomize::Result<tether_kustomize::Objects>,
) -> Result<(), String> {
    if let Ok(expected) = std::fs::read_to_string(case.join("expected.yaml")) {
        let objs = got.map_err(|e| format!("tether failed: {e}"))?;
        let ours = parse_stream(&tether_kustomize::to_yaml(&objs));
        let theirs = parse_stream(&expected);
        if ours != theirs {
            return Err(format!(
                "objects differ\n--- tether:\n{}--- kustomize:\n{expected}",
                tether_kustomize::to_yaml(&objs)
            ));
        }
        Ok(())
    } else if case.join("expected-error.txt").exists() {
        let err = match got {
            Ok(o) => {
                return Err(format!(
                    "tether succeeded; kustomize failed:\n{}",
                    tether_kustomize::to_yaml(&o)
                ));
            }
            Err(e) => e.to_string(),
        };
        let mentions = std::fs::read_to_string(case.join("error-mentions")).unwrap_or_default();
        for m in mentions.lines().map(str::trim).filter(|m| !m.is_empty()) {
            if !err.contains(m) {
                return Err(format!("tether's error does not mention `{m}`: {err}"));
            }
        }
        Ok(())
    } else {
        Err("no expectation: run scripts/gen-kustomize-expected --remote".into())
    }
}

#[test]
fn remote_corpus() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kustomize-remote");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("app").is_dir())
        .collect();
    cases.sort();
    let server = GitServer::start().expect("git server");
    let work = tempfile::tempdir().expect("tmp");
    let cache_dir = tempfile::tempdir().expect("tmp");
    let cache = Arc::new(tether_git::RepoCache::new(cache_dir.path()).expect("cache"));
    let oracle_bin = std::env::var("KUSTOMIZE_ORACLE").ok();
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let app = setup(&server, case, &name, work.path());
        let options = std::fs::read_to_string(case.join("options")).unwrap_or_default();
        let none = options.lines().any(|l| l.trim() == "load-restrictor=none");
        if let Some(k) = &oracle_bin {
            oracle(k, case, &app, none, &server.url(&name));
            println!("generated {name}");
            continue;
        }
        let opts = BuildOptions {
            load_restrictor: if none {
                LoadRestrictor::None
            } else {
                LoadRestrictor::RootOnly
            },
            enable_helm: false,
            remote: Some(Arc::new(GitRemoteLoader::new(cache.clone()))),
            charts: None,
        };
        match check(case, tether_kustomize::build(&RealFs, &app, &opts)) {
            Ok(()) => passed += 1,
            Err(e) => {
                failed += 1;
                eprintln!("FAIL {name}: {e}\n");
            }
        }
    }
    if oracle_bin.is_some() {
        return;
    }
    println!("{passed} passed, {failed} failed");
    assert!(passed > 0, "no case ran");
    assert_eq!(failed, 0, "{failed} remote case(s) failed");
}

#[test]
fn remote_without_loader_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n- https://example.invalid/org/repo//base?ref=v1\n",
    )
    .expect("write");
    let err = tether_kustomize::build(&RealFs, dir.path(), &BuildOptions::default())
        .expect_err("no loader");
    let msg = err.to_string();
    assert!(
        msg.contains("https://example.invalid/org/repo//base?ref=v1") && msg.contains("git loader"),
        "{msg}"
    );
}
