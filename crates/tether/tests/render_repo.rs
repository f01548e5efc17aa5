//! `tether render --repo URL --revision REV --path P` against real Git over HTTP on loopback.

use std::process::{Command, Output};

use serde_json::Value;
use tether_gitserver::{GitServer, Repo};

fn tether(args: &[&str], cache: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .env("TETHER_GIT_CACHE", cache)
        .env_remove("TETHER_GIT_USERNAME")
        .env_remove("TETHER_GIT_PASSWORD")
        .output()
        .expect("tether runs")
}

fn ok_json(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json output");
    v["items"].as_array().cloned().expect("a List")
}

fn names(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A repository with a kustomization and a plain directory; `v1` tags the first commit.
fn repo(server: &GitServer) -> (Repo, String, String) {
    let repo = server.create_repo("apps").expect("repo");
    repo.write(
        "kust/kustomization.yaml",
        "namePrefix: dev-\ncommonLabels:\n  team: a\nresources:\n- cm.yaml\n",
    )
    .expect("write");
    repo.write("kust/cm.yaml", &configmap("settings", "one"))
        .expect("write");
    repo.write("plain/a.yaml", &configmap("a", "one"))
        .expect("write");
    repo.write("plain/sub/b.yaml", &configmap("b", "one"))
        .expect("write");
    repo.write("plain/sub/c.yaml", &configmap("c", "one"))
        .expect("write");
    repo.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .expect("write");
    repo.write("chart/values.yaml", "replicas: 1\ncolor: red\n")
        .expect("write");
    repo.write("chart/values-prod.yaml", "replicas: 3\n")
        .expect("write");
    repo.write("common/values.yaml", "color: blue\n")
        .expect("write");
    repo.write(
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\n  namespace: {{ .Release.Namespace }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n  color: {{ .Values.color | quote }}\n",
    )
    .expect("write");
    let c1 = repo.commit_and_push("one").expect("push");
    repo.tag("v1").expect("tag");
    repo.write("kust/cm.yaml", &configmap("settings", "two"))
        .expect("write");
    repo.write("plain/a.yaml", &configmap("a", "two"))
        .expect("write");
    let c2 = repo.commit_and_push("two").expect("push");
    (repo, c1, c2)
}

#[test]
fn kustomize_and_directory_sources_by_branch_tag_and_sha() {
    let server = GitServer::start().expect("server");
    let (_repo, c1, c2) = repo(&server);
    let cache = tempfile::tempdir().expect("tmp");
    let url = server.url("apps");

    // Kustomize, by branch: the kustomization applied (prefix, labels), latest value.
    let items = ok_json(&tether(
        &[
            "render",
            "--repo",
            &url,
            "--revision",
            "main",
            "--path",
            "kust",
            "-o",
            "json",
        ],
        cache.path(),
    ));
    assert_eq!(names(&items), vec!["ConfigMap/dev-settings"]);
    assert_eq!(items[0]["data"]["value"], "two");
    assert_eq!(items[0]["metadata"]["labels"]["team"], "a");

    // By tag and by SHA (full and short): the first commit.
    for rev in ["v1", c1.as_str(), &c1[..10]] {
        let items = ok_json(&tether(
            &[
                "render",
                "--repo",
                &url,
                "--revision",
                rev,
                "--path",
                "kust",
                "-o",
                "json",
            ],
            cache.path(),
        ));
        assert_eq!(items[0]["data"]["value"], "one", "revision {rev}");
    }
    // No revision: HEAD.
    let items = ok_json(&tether(
        &["render", "--repo", &url, "--path", "kust", "-o", "json"],
        cache.path(),
    ));
    assert_eq!(items[0]["data"]["value"], "two");

    // A directory source, with the directory flags.
    let items = ok_json(&tether(
        &[
            "render",
            "--repo",
            &url,
            "--revision",
            &c2,
            "--path",
            "plain",
            "-o",
            "json",
        ],
        cache.path(),
    ));
    assert_eq!(
        names(&items),
        vec!["ConfigMap/a"],
        "no recursion by default"
    );
    let items = ok_json(&tether(
        &[
            "render",
            "--repo",
            &url,
            "--revision",
            &c2,
            "--path",
            "plain",
            "--recurse",
            "--exclude",
            "sub/c.yaml",
            "-o",
            "json",
        ],
        cache.path(),
    ));
    let mut got = names(&items);
    got.sort();
    assert_eq!(got, vec!["ConfigMap/a", "ConfigMap/b"]);

    // YAML by default.
    let out = tether(
        &[
            "render",
            "--repo",
            &url,
            "--revision",
            "v1",
            "--path",
            "plain",
        ],
        cache.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kind: ConfigMap") && text.contains("value: one"),
        "{text}"
    );
}

#[test]
fn helm_chart_at_a_tag_with_repository_values_files() {
    let server = GitServer::start().expect("server");
    let (_repo, _, _) = repo(&server);
    let cache = tempfile::tempdir().expect("tmp");
    let url = server.url("apps");
    let items = ok_json(&tether(
        &[
            "render",
            "--repo",
            &url,
            "--revision",
            "v1",
            "--path",
            "chart",
            "-f",
            "values-prod.yaml",
            "-f",
            "../common/values.yaml",
            "--release-name",
            "web",
            "-n",
            "prod",
            "-o",
            "json",
        ],
        cache.path(),
    ));
    assert_eq!(names(&items), vec!["ConfigMap/web-c"]);
    assert_eq!(items[0]["metadata"]["namespace"], "prod");
    assert_eq!(items[0]["data"]["replicas"], "3");
    assert_eq!(items[0]["data"]["color"], "blue");
    let items = ok_json(&tether(
        &[
            "render",
            "--repo",
            &url,
            "--path",
            "chart",
            "--set",
            "color=green",
            "-o",
            "json",
        ],
        cache.path(),
    ));
    assert_eq!(names(&items), vec!["ConfigMap/release-name-c"]);
    assert_eq!(items[0]["data"]["replicas"], "1");
    assert_eq!(items[0]["data"]["color"], "green");
}

#[test]
fn bad_revisions_paths_and_sources_are_clear_errors() {
    let server = GitServer::start().expect("server");
    let (repo, _, _) = repo(&server);
    let cache = tempfile::tempdir().expect("tmp");
    let url = server.url("apps");

    let out = tether(
        &[
            "render",
            "--repo",
            &url,
            "--revision",
            "no-such-branch",
            "--path",
            "kust",
        ],
        cache.path(),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&url) && err.contains("`no-such-branch`"),
        "{err}"
    );

    for path in ["../..", "kust/../../..", "/etc"] {
        let out = tether(&["render", "--repo", &url, "--path", path], cache.path());
        assert!(!out.status.success(), "{path}");
        let err = stderr(&out);
        assert!(
            err.contains("leaves the checkout") || err.contains("absolute paths are not allowed"),
            "{path}: {err}"
        );
    }

    let out = tether(&["render", "--repo", &url, "--path", "nope"], cache.path());
    assert!(
        stderr(&out).contains("path `nope` does not exist"),
        "{}",
        stderr(&out)
    );

    // A values file leaving the repository.
    let out = tether(
        &[
            "render",
            "--repo",
            &url,
            "--path",
            "chart",
            "-f",
            "../../../etc/passwd",
        ],
        cache.path(),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("leaves the checkout"),
        "{}",
        stderr(&out)
    );

    // Source flags without --repo are refused by the parser, not ignored.
    let out = tether(&["render", "--revision", "main", "some/dir"], cache.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--repo"), "{}", stderr(&out));

    let out = tether(&["render", "--repo", &url, "some/dir"], cache.path());
    assert!(
        stderr(&out).contains("drop the directory `some/dir`"),
        "{}",
        stderr(&out)
    );

    // A repository with a symlink leaving it is refused as a whole, as Argo CD does.
    std::os::unix::fs::symlink("/etc/passwd", repo.work_dir().join("plain/passwd.yaml"))
        .expect("symlink");
    repo.commit_and_push("escape").expect("push");
    let out = tether(&["render", "--repo", &url, "--path", "plain"], cache.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("symlinks leave the repository") && err.contains("plain/passwd.yaml"),
        "{err}"
    );
}
