//! The `tether app` / `tether proj` CLI end to end, through the real binary: `tether run` (file
//! mode, and cluster mode for `app set`/`app unset`) against the testenv API server and the
//! loopback Git server. Covers `app set` and `app unset` (file and resource written), `app diff
//! --local`, the live progress of a sync, `terminate-op`, output formats and exit codes. Every wait is a poll with a deadline;
//! nothing asserts on timing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{DEADLINE, install_crds, s, unique, wait_for};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tether_gitserver::{GitServer, Repo};

/// A running `tether run`, stopped (SIGTERM) on drop.
struct Run {
    child: Child,
    server: String,
    _data: tempfile::TempDir,
    log: PathBuf,
}

impl Run {
    /// `tether run` with `mode` (`["--apps", DIR]`, or `["--namespace", NS]` for cluster mode).
    fn start(mode: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let log = data.path().join("run.log");
        let child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .arg("run")
            .args(mode)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--app-resync",
                "3s",
                "--reload",
                "1s",
            ])
            .arg("--kubeconfig")
            .arg(tether_testenv::kubeconfig_path())
            .arg("--data-dir")
            .arg(data.path())
            .env("TETHER_LOG", "info,tether_controller=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn tether run");
        let mut run = Self {
            child,
            server: String::new(),
            _data: data,
            log,
        };
        let start = Instant::now();
        loop {
            let text = run.log();
            if let Some(rest) = text.split("listening on ").nth(1) {
                run.server = rest.split_whitespace().next().unwrap().to_owned();
                break;
            }
            if let Ok(Some(status)) = run.child.try_wait() {
                panic!("tether run exited with {status}:\n{text}");
            }
            assert!(
                start.elapsed() < DEADLINE,
                "tether run did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        run
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `tether ARGS` against this server: (exit code, stdout, stderr).
    fn tether(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(args)
            .env("TETHER_SERVER", &self.server)
            .output()
            .expect("run tether");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `tether ARGS`, expected to exit 0.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.tether(args);
        assert_eq!(
            code,
            0,
            "tether {args:?}: {err}\n{out}\nlog:\n{}",
            self.log()
        );
        out
    }

    fn app(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["app", "get", name, "-o", "json"])).unwrap()
    }

    /// Polls the app until `pred` holds.
    fn wait_app(&self, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (code, out, _) = self.tether(&["app", "get", name, "-o", "json"]);
            if code == 0 {
                let app: Value = serde_json::from_str(&out).unwrap();
                if pred(&app) {
                    return app;
                }
                assert!(
                    start.elapsed() < DEADLINE,
                    "{name}: timed out waiting for {what}; last state:\n{}\nlog:\n{}",
                    serde_json::to_string_pretty(&app["status"]).unwrap(),
                    self.log()
                );
            } else {
                assert!(
                    start.elapsed() < DEADLINE,
                    "{name}: not found waiting for {what}\nlog:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn cm_data(ns: &tether_testenv::TestNamespace, name: &str, key: &str) -> Option<String> {
    ns.api::<ConfigMap>()
        .get_opt(name)
        .await
        .unwrap()
        .and_then(|c| c.data)
        .and_then(|d| d.get(key).cloned())
}

/// A Helm chart whose ConfigMap `<release>-cm` shows `greeting` and `color`.
fn write_chart(dir: &Path, color: &str) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        format!("greeting: hello\ncolor: {color}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  color: {{ .Values.color | quote }}\n",
    )
    .unwrap();
}

fn seed_chart(repo: &Repo, path: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    write_chart(tmp.path(), "red");
    for f in ["Chart.yaml", "values.yaml", "templates/cm.yaml"] {
        let text = std::fs::read_to_string(tmp.path().join(f)).unwrap();
        repo.write(&format!("{path}/{f}"), &text).unwrap();
    }
    repo.commit_and_push("chart").unwrap()
}

fn helm_app(name: &str, repo: &str, ns: &str, helm: &str) -> String {
    format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  project: default
  source:
    repoURL: {repo}
    path: chart
    targetRevision: HEAD
    helm: {helm}
  destination:
    server: https://kubernetes.default.svc
    namespace: {ns}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_set_rewrites_the_declaring_file_and_the_app_follows() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("set").unwrap();
    seed_chart(&repo, "chart");
    let app = unique(ns.name(), "greet");
    let apps = tempfile::tempdir().unwrap();
    // Two documents; the other one (and its comment) must survive the rewrite byte for byte.
    let other = "# a project next to the app\napiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: extra   # keep me\nspec:\n  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n";
    let file = apps.path().join("apps.yaml");
    std::fs::write(
        &file,
        format!(
            "{other}---\n{}",
            helm_app(&app, &git.url("set"), ns.name(), "{}")
        ),
    )
    .unwrap();
    let run = Run::start(&["--apps", apps.path().to_str().unwrap()]);
    run.wait_app(&app, "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });

    run.ok(&["app", "sync", &app]);
    assert_eq!(
        cm_data(&ns, &format!("{app}-cm"), "greeting")
            .await
            .as_deref(),
        Some("hello")
    );

    // -p on a Helm app: a helm parameter, written to the file.
    let (code, _, err) = run.tether(&["app", "set", &app, "-p", "greeting=bonjour"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("apps.yaml (document 2)"), "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(&format!("{other}---\n")), "{text}");
    let doc: Value = serde_yaml::from_str(text.split("---\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        doc["spec"]["source"]["helm"]["parameters"],
        json!([{"name": "greeting", "value": "bonjour"}])
    );
    // The command returns once `tether run` serves the new spec: the next command sees it.
    let a = run.app(&app);
    assert_eq!(
        a["spec"]["source"]["helm"]["parameters"][0]["value"],
        "bonjour"
    );
    let a = run.wait_app(&app, "OutOfSync with the parameter", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });
    assert_eq!(s(&a, "/status/sourceType"), "Helm");
    let (code, out, _) = run.tether(&["app", "diff", &app]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bonjour"), "{out}");

    // Bad flags change nothing (exit 1, the file untouched); clap's usage errors exit 2.
    let before = std::fs::read_to_string(&file).unwrap();
    let (code, _, err) = run.tether(&["app", "set", &app, "-p", "greeting"]);
    assert_eq!(code, 1);
    assert!(err.contains("param=value"), "{err}");
    let (code, _, err) = run.tether(&["app", "set", &app, "--self-heal"]);
    assert_eq!(code, 1);
    assert!(err.contains("not configured with automated sync"), "{err}");
    let (code, _, _) = run.tether(&["app", "set", &app, "--no-such-flag"]);
    assert_eq!(code, 2);
    let (code, _, err) = run.tether(&["app", "set", "no-such-app", "-p", "a=b"]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // Turning auto-sync on through the file: the app syncs the parameter by itself.
    run.ok(&[
        "app",
        "set",
        &app,
        "--sync-policy",
        "automated",
        "--auto-prune",
        "--helm-set-string",
        "color=42",
    ]);
    let doc: Value = serde_yaml::from_str(
        std::fs::read_to_string(&file)
            .unwrap()
            .split("---\n")
            .nth(1)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        doc["spec"]["syncPolicy"],
        json!({"automated": {"prune": true}})
    );
    wait_for("the parameters applied by auto-sync", async || {
        let g = cm_data(&ns, &format!("{app}-cm"), "greeting").await?;
        let c = cm_data(&ns, &format!("{app}-cm"), "color").await?;
        (g == "bonjour" && c == "42").then_some(())
    })
    .await;
    // Nothing to change: nothing written.
    let before = std::fs::read_to_string(&file).unwrap();
    let (code, _, err) = run.tether(&["app", "set", &app, "--sync-policy", "auto"]);
    assert_eq!(code, 0);
    assert!(err.contains("nothing to change"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    // -o json prints the new spec.
    let (code, out, _) = run.tether(&["app", "set", &app, "--revision", "HEAD", "-o", "json"]);
    assert_eq!(code, 0);
    let spec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(spec["source"]["helm"]["parameters"][1]["forceString"], true);

    // `app unset`: the parameter leaves the file and auto-sync puts the chart's value back.
    let (code, _, err) = run.tether(&["app", "unset", &app, "-p", "greeting"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("apps.yaml (document 2)"), "{err}");
    let doc = |file: &Path| -> Value {
        let text = std::fs::read_to_string(file).unwrap();
        serde_yaml::from_str(text.split("---\n").nth(1).unwrap()).unwrap()
    };
    assert_eq!(
        doc(&file)["spec"]["source"]["helm"]["parameters"],
        json!([{"name": "color", "value": "42", "forceString": true}])
    );
    wait_for("greeting back to the chart's value", async || {
        (cm_data(&ns, &format!("{app}-cm"), "greeting").await? == "hello").then_some(())
    })
    .await;
    // The last override gone: no `helm` block left (as Argo CD), the chart's own values apply.
    run.ok(&["app", "unset", &app, "-p", "color", "--values-literal"]);
    assert_eq!(doc(&file)["spec"]["source"].get("helm"), None);
    wait_for("color back to the chart's value", async || {
        (cm_data(&ns, &format!("{app}-cm"), "color").await? == "red").then_some(())
    })
    .await;
    // Names that are not there change nothing.
    let before = std::fs::read_to_string(&file).unwrap();
    let (code, _, err) =
        run.tether(&["app", "unset", &app, "-p", "greeting", "--values", "x.yaml"]);
    assert_eq!(code, 0);
    assert!(err.contains("nothing to change"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    let (code, _, err) = run.tether(&["app", "unset", "no-such-app", "-p", "a"]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");

    // Kustomize overrides: namePrefix, nameSuffix and an image, set and unset.
    repo.write("kust/kustomization.yaml", "resources: [deploy.yaml]\n")
        .unwrap();
    repo.write(
        "kust/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kweb\nspec:\n  selector:\n    matchLabels: {app: kweb}\n  template:\n    metadata:\n      labels: {app: kweb}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.25\n",
    )
    .unwrap();
    repo.commit_and_push("kustomize app").unwrap();
    let kapp = unique(ns.name(), "kust");
    let kfile = apps.path().join("kust.yaml");
    std::fs::write(
        &kfile,
        helm_app(&kapp, &git.url("set"), ns.name(), "{}")
            .replace("path: chart", "path: kust")
            .replace(
                "    helm: {}\n",
                "    kustomize: {namePrefix: pre-, images: ['nginx:1.27']}\n",
            ),
    )
    .unwrap();
    let manifests = |name: &str| run.ok(&["app", "manifests", name]);
    run.wait_app(&kapp, "rendered", |a| {
        s(a, "/status/sourceType") == "Kustomize" && run.tether(&["app", "manifests", &kapp]).0 == 0
    });
    let m = manifests(&kapp);
    assert!(
        m.contains("name: pre-kweb") && m.contains("image: nginx:1.27"),
        "{m}"
    );
    run.ok(&["app", "set", &kapp, "--namesuffix", "-suf"]);
    run.wait_app(&kapp, "suffix rendered", |_| {
        manifests(&kapp).contains("name: pre-kweb-suf")
    });
    run.ok(&[
        "app",
        "unset",
        &kapp,
        "--nameprefix",
        "--namesuffix",
        "--kustomize-image",
        "nginx",
    ]);
    let kdoc: Value = serde_yaml::from_str(&std::fs::read_to_string(&kfile).unwrap()).unwrap();
    assert_eq!(kdoc["spec"]["source"].get("kustomize"), None, "{kdoc:?}");
    run.wait_app(&kapp, "overrides gone", |_| {
        let m = manifests(&kapp);
        m.contains("name: kweb\n") && m.contains("image: nginx:1.25")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_local_renders_a_working_copy_with_the_app_settings() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("local").unwrap();
    seed_chart(&repo, "chart");
    let app = unique(ns.name(), "local");
    let apps = tempfile::tempdir().unwrap();
    std::fs::write(
        apps.path().join("app.yaml"),
        helm_app(
            &app,
            &git.url("local"),
            ns.name(),
            "{parameters: [{name: greeting, value: from-app}]}",
        ),
    )
    .unwrap();
    let run = Run::start(&["--apps", apps.path().to_str().unwrap()]);
    run.wait_app(&app, "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });
    run.ok(&["app", "sync", &app]);
    assert_eq!(
        cm_data(&ns, &format!("{app}-cm"), "greeting")
            .await
            .as_deref(),
        Some("from-app")
    );
    // `app diff` (without --local) shows the last comparison: wait for the one after the sync.
    run.ok(&["app", "wait", &app, "--sync", "--timeout", "60"]);

    // A working copy identical to Git: no difference.
    let work = tempfile::tempdir().unwrap();
    write_chart(work.path(), "red");
    let dir = work.path().to_str().unwrap();
    let (code, out, err) = run.tether(&["app", "diff", &app, "--local", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(run.tether(&["app", "diff", &app]).0, 0);

    // A local change: rendered with the app's parameter (greeting stays from-app), diffed
    // against the live ConfigMap.
    write_chart(work.path(), "blue");
    let (code, out, err) = run.tether(&["app", "diff", &app, "--local", dir]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("ConfigMap {}/{app}-cm", ns.name())),
        "{out}"
    );
    let added: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    let removed: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    assert!(added.iter().any(|l| l.contains("color: blue")), "{out}");
    assert!(removed.iter().any(|l| l.contains("color: red")), "{out}");
    assert!(
        !out.contains("hello"),
        "the app's parameter was not applied:\n{out}"
    );
    let (code, out, _) = run.tether(&["app", "diff", &app, "--local", dir, "-o", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"][0]["modified"], true);
    // The app itself is not touched by a local diff.
    assert_eq!(run.tether(&["app", "diff", &app]).0, 0);

    // It could not compare: exit 2.
    let (code, _, err) = run.tether(&["app", "diff", &app, "--local", "/no/such/dir"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/dir"), "{err}");
    std::fs::write(work.path().join("templates/cm.yaml"), "{{ if }}").unwrap();
    let (code, _, err) = run.tether(&["app", "diff", &app, "--local", dir]);
    assert_eq!(code, 2);
    assert!(err.contains("cm.yaml"), "{err}");
    assert_eq!(run.tether(&["app", "diff", "no-such-app"]).0, 2);
}

/// `app diff --local` on a multi-source app: DIR stands for the source named by
/// `--source-position`/`--source-name`; the other sources are rendered as `tether run` last
/// compared them, so an unchanged working copy shows no difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_local_of_a_multi_source_app_replaces_the_named_source() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("multi").unwrap();
    let cm = |name: &str, v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: \"{v}\"\n"
        )
    };
    repo.write("a/cm.yaml", &cm("multi-a", "a1")).unwrap();
    repo.write("b/cm.yaml", &cm("multi-b", "b1")).unwrap();
    repo.commit_and_push("two sources").unwrap();
    let app = unique(ns.name(), "multi");
    let url = git.url("multi");
    let apps = tempfile::tempdir().unwrap();
    std::fs::write(
        apps.path().join("app.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {app}\nspec:\n  project: default\n  sources:\n  - {{repoURL: {url}, path: a, targetRevision: HEAD}}\n  - {{repoURL: {url}, path: b, targetRevision: HEAD, name: values-b}}\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {}\n",
            ns.name()
        ),
    )
    .unwrap();
    let run = Run::start(&["--apps", apps.path().to_str().unwrap()]);
    run.wait_app(&app, "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });
    run.ok(&["app", "sync", &app]);
    run.ok(&["app", "wait", &app, "--sync", "--timeout", "60"]);

    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("cm.yaml"), cm("multi-b", "b1")).unwrap();
    let dir = work.path().to_str().unwrap();
    let (code, out, err) = run.tether(&[
        "app",
        "diff",
        &app,
        "--local",
        dir,
        "--source-position",
        "2",
    ]);
    assert_eq!(code, 0, "source a must come from the app:\n{out}{err}");

    std::fs::write(work.path().join("cm.yaml"), cm("multi-b", "b2")).unwrap();
    let (code, out, err) = run.tether(&[
        "app",
        "diff",
        &app,
        "--local",
        dir,
        "--source-name",
        "values-b",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("ConfigMap {}/multi-b", ns.name())),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with('+') && l.contains("b2")),
        "{out}"
    );
    assert!(!out.contains("multi-a"), "{out}");
    // DIR as source 1 instead: source a's ConfigMap goes missing, b's stays as in Git.
    let (code, out, _) = run.tether(&[
        "app",
        "diff",
        &app,
        "--local",
        dir,
        "--source-position",
        "1",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("multi-a"), "{out}");

    // Without saying which source, or a source that is not there: it cannot compare (exit 2).
    let (code, _, err) = run.tether(&["app", "diff", &app, "--local", dir]);
    assert_eq!(code, 2);
    assert!(
        err.contains("2 sources") && err.contains("--source-position"),
        "{err}"
    );
    let (code, _, err) = run.tether(&[
        "app",
        "diff",
        &app,
        "--local",
        dir,
        "--source-position",
        "3",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("has 2 sources"), "{err}");
    let (code, _, err) =
        run.tether(&["app", "diff", &app, "--local", dir, "--source-name", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no source has that name"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sync_shows_progress_per_resource_and_terminate_op_stops_it() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("slow").unwrap();
    // Wave 0: a Deployment that never becomes healthy (no node matches); wave 1 waits for it.
    repo.write(
        "slow/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stuck\n  annotations: {argocd.argoproj.io/sync-wave: \"0\"}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: stuck}}\n  template:\n    metadata: {labels: {app: stuck}}\n    spec:\n      nodeSelector: {no-such-node: \"true\"}\n      containers: [{name: main, image: registry.k8s.io/pause:3.10}]\n",
    )
    .unwrap();
    repo.write(
        "slow/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\n  annotations: {argocd.argoproj.io/sync-wave: \"1\"}\ndata: {k: v}\n",
    )
    .unwrap();
    repo.commit_and_push("slow").unwrap();
    let app = unique(ns.name(), "slow");
    let apps = tempfile::tempdir().unwrap();
    std::fs::write(
        apps.path().join("app.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {app}\nspec:\n  project: default\n  source: {{repoURL: {}, path: slow}}\n  destination: {{server: https://kubernetes.default.svc, namespace: {}}}\n",
            git.url("slow"),
            ns.name()
        ),
    )
    .unwrap();
    let run = Run::start(&["--apps", apps.path().to_str().unwrap()]);
    run.wait_app(&app, "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });

    // Waiting gives up after --timeout (exit 1); meanwhile stderr shows one line per resource
    // change (stderr is not a terminal here).
    let (code, out, err) = run.tether(&["app", "sync", &app, "--timeout", "6"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("timed out after 6s"), "{err}");
    let header = err
        .lines()
        .find(|l| l.starts_with("TIME"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        header.contains("KIND") && header.contains("HEALTH"),
        "{header}"
    );
    let line = err
        .lines()
        .find(|l| l.contains("Deployment") && l.contains("stuck"))
        .unwrap_or_else(|| panic!("no progress line for the Deployment:\n{err}"));
    assert!(line.contains("Synced"), "{line}");
    assert!(
        !err.contains("ConfigMap"),
        "wave 1 ran before wave 0 was healthy:\n{err}"
    );
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("after")
            .await
            .unwrap()
            .is_none()
    );

    // The API shows the running operation's results so far.
    let a = run.app(&app);
    assert_eq!(s(&a, "/status/operationState/phase"), "Running");
    let results = a["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["kind"] == "Deployment" && r["name"] == "stuck"),
        "{results:?}"
    );
    // A second sync is refused while one runs.
    let (code, _, err) = run.tether(&["app", "sync", &app]);
    assert_eq!(code, 1);
    assert!(err.contains("in progress"), "{err}");
    // `app wait --operation` times out too; `app get` shows the progress table's source.
    let (code, _, err) = run.tether(&["app", "wait", &app, "--operation", "--timeout", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("timed out"), "{err}");

    run.ok(&["app", "terminate-op", &app]);
    let (code, out, err) = run.tether(&["app", "wait", &app, "--operation", "--timeout", "60"]);
    assert_eq!(code, 0, "{out}{err}");
    let a = run.app(&app);
    assert_eq!(s(&a, "/status/operationState/phase"), "Failed");
    assert_eq!(
        s(&a, "/status/operationState/message"),
        "Operation terminated"
    );
    let (code, _, err) = run.tether(&["app", "terminate-op", &app]);
    assert_eq!(code, 1);
    assert!(err.contains("No operation is in progress"), "{err}");
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("after")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_formats_and_exit_codes() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("fmt").unwrap();
    seed_chart(&repo, "chart");
    let app = unique(ns.name(), "fmt");
    let apps = tempfile::tempdir().unwrap();
    std::fs::write(
        apps.path().join("app.yaml"),
        helm_app(&app, &git.url("fmt"), ns.name(), "{}"),
    )
    .unwrap();
    let run = Run::start(&["--apps", apps.path().to_str().unwrap()]);
    run.wait_app(&app, "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });

    // Help documents the exit codes.
    let (code, out, _) = run.tether(&["app", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit codes:") && out.contains("app diff"),
        "{out}"
    );
    assert_eq!(run.tether(&["app", "no-such-command"]).0, 2);

    // Tables, wide tables, JSON, YAML.
    let out = run.ok(&["app", "list"]);
    assert!(
        out.starts_with("NAME") && out.contains(&app) && out.contains("OutOfSync"),
        "{out}"
    );
    let out = run.ok(&["app", "list", "-o", "wide"]);
    assert!(out.lines().next().unwrap().contains("REPO"), "{out}");
    let list: Value = serde_json::from_str(&run.ok(&["app", "list", "-o", "json"])).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["metadata"]["name"] == app.as_str())
    );
    let y: Value = serde_yaml::from_str(&run.ok(&["app", "get", &app, "-o", "yaml"])).unwrap();
    assert_eq!(y["metadata"]["name"], app.as_str());
    let out = run.ok(&["app", "get", &app]);
    assert!(
        out.contains("GROUP") && out.contains("ConfigMap") && out.contains("OutOfSync"),
        "{out}"
    );
    let out = run.ok(&["app", "get", &app, "-o", "wide"]);
    assert!(out.contains("ConfigMap"), "{out}");
    let m: Value =
        serde_json::from_str(&run.ok(&["app", "manifests", &app, "-o", "json"])).unwrap();
    assert_eq!(m["kind"], "List");
    assert_eq!(m["items"][0]["metadata"]["name"], format!("{app}-cm"));
    let p: Value = serde_json::from_str(&run.ok(&["proj", "list", "-o", "json"])).unwrap();
    assert_eq!(p[0]["metadata"]["name"], "default");
    let p: Value =
        serde_yaml::from_str(&run.ok(&["proj", "get", "default", "-o", "yaml"])).unwrap();
    assert_eq!(p["metadata"]["name"], "default");
    assert!(run.ok(&["proj", "list"]).starts_with("NAME"));
    assert_eq!(run.tether(&["proj", "get", "nope"]).0, 1);

    // Exit codes: diff 1 while OutOfSync, 0 after the sync; wait times out with 1.
    assert_eq!(run.tether(&["app", "diff", &app]).0, 1);
    let (code, _, err) = run.tether(&["app", "wait", &app, "--sync", "--timeout", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("timed out"), "{err}");
    let (code, out, _) = run.tether(&["app", "sync", &app, "-o", "json"]);
    assert_eq!(code, 0);
    let op: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(op["phase"], "Succeeded");
    run.ok(&["app", "wait", &app, "--sync", "--health", "--timeout", "60"]);
    assert_eq!(run.tether(&["app", "diff", &app]).0, 0);
    let h: Value = serde_json::from_str(&run.ok(&["app", "history", &app, "-o", "json"])).unwrap();
    assert_eq!(h[0]["id"], 0);
    // A dry run fails on a bad revision: exit 1.
    let (code, _, _) = run.tether(&["app", "sync", &app, "--revision", "no-such-branch"]);
    assert_eq!(code, 1);
    let (code, _, err) = run.tether(&["app", "get", "no-such-app"]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
    // Unreachable server: 1, with a hint.
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["app", "list", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_set_in_cluster_mode_writes_the_application_resource() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("cset").unwrap();
    seed_chart(&repo, "chart");
    let app = unique(ns.name(), "cset");
    let apps: Api<DynamicObject> = Api::namespaced_with(
        ns.client(),
        ns.name(),
        &ApiResource {
            group: "argoproj.io".into(),
            version: "v1alpha1".into(),
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "Application".into(),
            plural: "applications".into(),
        },
    );
    let v: Value =
        serde_yaml::from_str(&helm_app(&app, &git.url("cset"), ns.name(), "{}")).unwrap();
    apps.patch(
        &app,
        &PatchParams::apply("kubectl").force(),
        &Patch::Apply(&v),
    )
    .await
    .unwrap();
    let run = Run::start(&["--namespace", ns.name()]);
    run.wait_app(&app, "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });

    let (code, _, err) = run.tether(&[
        "app",
        "set",
        &app,
        "--helm-set",
        "greeting=hola",
        "--sync-policy",
        "automated",
        "--self-heal",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("application.argoproj.io/{app}")),
        "{err}"
    );
    let res = serde_json::to_value(apps.get(&app).await.unwrap()).unwrap();
    assert_eq!(
        res["spec"]["source"]["helm"]["parameters"],
        json!([{"name": "greeting", "value": "hola"}])
    );
    assert_eq!(
        res["spec"]["syncPolicy"],
        json!({"automated": {"selfHeal": true}})
    );
    wait_for("auto-sync of the new parameter", async || {
        (cm_data(&ns, &format!("{app}-cm"), "greeting").await? == "hola").then_some(())
    })
    .await;
    run.wait_app(&app, "Synced", |a| s(a, "/status/sync/status") == "Synced");

    // `app unset` writes the resource too; the emptied `helm` block goes.
    let (code, _, err) = run.tether(&["app", "unset", &app, "-p", "greeting"]);
    assert_eq!(code, 0, "{err}");
    let res = serde_json::to_value(apps.get(&app).await.unwrap()).unwrap();
    assert_eq!(res["spec"]["source"].get("helm"), None, "{res}");
    wait_for("auto-sync back to the chart's value", async || {
        (cm_data(&ns, &format!("{app}-cm"), "greeting").await? == "hello").then_some(())
    })
    .await;
}
