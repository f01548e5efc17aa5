//! End to end: `tether run` stopped in the middle of a sync (SIGKILL, or SIGTERM for a graceful
//! shutdown) and started again on the same data directory: the recorded operation resumes and
//! completes once, with one history entry. The sync is held in wave 0 by a Deployment with
//! `minReadySeconds` (its health waits for availability) before a wave-1 ConfigMap.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;
use tether_gitserver::GitServer;

fn slow_deployment(name: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/sync-wave: "0"
spec:
  replicas: 1
  minReadySeconds: 12
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
"#
    )
}

fn last_wave(name: &str) -> String {
    config_map(name, "done").replace(
        "metadata:\n",
        "metadata:\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n",
    )
}

/// Starts a manual sync and waits until it is in wave 0 (the Deployment applied, the wave-1
/// ConfigMap not yet); the running operation.
async fn sync_until_wave_zero(run: &Run, ns: &tether_testenv::TestNamespace, app: &str) -> Value {
    let (code, out, err) = run.tether(&["app", "sync", app, "--async"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_for("wave 0 applied", async || {
        ns.api::<Deployment>()
            .get_opt("slow")
            .await
            .unwrap()
            .map(|_| ())
    })
    .await;
    let a = run.app(app);
    assert_eq!(s(&a, "/status/operationState/phase"), "Running", "{a:#}");
    assert!(
        cm_value(ns, "after-wave").await.is_none(),
        "the sync finished before it could be interrupted; minReadySeconds too short?"
    );
    a
}

/// The resumed operation completes once: same startedAt, one history entry, wave 1 applied.
async fn completes_once(run: &Run, ns: &tether_testenv::TestNamespace, app: &str, before: &Value) {
    let a = run.wait_app(app, "the resumed operation done", |a| {
        s(a, "/status/operationState/phase") == "Succeeded"
    });
    assert_eq!(
        s(&a, "/status/operationState/startedAt"),
        s(before, "/status/operationState/startedAt"),
        "resumed, not started again"
    );
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"]["username"],
        before["status"]["operationState"]["operation"]["initiatedBy"]["username"]
    );
    assert_eq!(
        a["status"]["history"].as_array().map(Vec::len),
        Some(1),
        "{a:#}"
    );
    assert_eq!(cm_value(ns, "after-wave").await.as_deref(), Some("done"));
    let a = run.wait_app(app, "Synced", |a| s(a, "/status/sync/status") == "Synced");
    assert_eq!(a["status"]["history"].as_array().map(Vec::len), Some(1));
}

fn setup(
    git: &GitServer,
    ns: &tether_testenv::TestNamespace,
    base: &str,
) -> (String, tempfile::TempDir) {
    let repo = git.create_repo(base).unwrap();
    seed(
        &repo,
        &[
            ("app/deploy.yaml", slow_deployment("slow")),
            ("app/cm.yaml", last_wave("after-wave")),
        ],
    );
    let app = unique(ns.name(), base);
    let apps = tempfile::tempdir().unwrap();
    std::fs::write(
        apps.path().join("app.yaml"),
        application(&app, &git.url(base), "app", ns.name(), ""),
    )
    .unwrap();
    (app, apps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_the_operation_resumes_on_restart_without_a_duplicate_history_entry() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let (app, apps) = setup(&git, &ns, "killed");
    let data = tempfile::tempdir().unwrap();
    let mut run = Run::start(Mode::Files(apps.path()), data.path());
    run.wait_app(&app, "OutOfSync", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });
    let before = sync_until_wave_zero(&run, &ns, &app).await;

    let status = run.signal("KILL");
    assert!(!status.success());
    drop(run);
    let run = Run::start(Mode::Files(apps.path()), data.path());
    completes_once(&run, &ns, &app, &before).await;
    assert!(
        run.log().contains("resuming"),
        "the restart said it resumed:\n{}",
        run.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sync_exits_cleanly_and_the_next_start_finishes_the_operation() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let (app, apps) = setup(&git, &ns, "termed");
    let data = tempfile::tempdir().unwrap();
    let mut run = Run::start(Mode::Files(apps.path()), data.path());
    run.wait_app(&app, "OutOfSync", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });
    let before = sync_until_wave_zero(&run, &ns, &app).await;

    let status = run.signal("TERM");
    assert!(status.success(), "{status}:\n{}", run.log());
    let log = run.log();
    assert!(log.contains("shutting down"), "{log}");
    // Aborted cleanly: wave 1 was not applied after the signal.
    assert!(cm_value(&ns, "after-wave").await.is_none());
    drop(run);

    let run = Run::start(Mode::Files(apps.path()), data.path());
    completes_once(&run, &ns, &app, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_killed_mid_sync_resumes_from_the_application_resource() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let (app, apps) = setup(&git, &ns, "kube");
    let yaml = std::fs::read_to_string(apps.path().join("app.yaml"))
        .unwrap()
        .replacen(
            "metadata:\n",
            &format!("metadata:\n  namespace: {}\n", ns.name()),
            1,
        );
    let argo = Argo::new(&ns);
    argo.apply(&yaml).await;
    let data = tempfile::tempdir().unwrap();
    let mut run = Run::start(Mode::Cluster(ns.name()), data.path());
    argo.wait(&mut run, &app, "OutOfSync", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    sync_until_wave_zero(&run, &ns, &app).await;
    // What the next start reads: the resource, written in the background.
    let before = argo
        .wait(&mut run, &app, "Running on the resource", |a| {
            s(a, "/status/operationState/phase") == "Running" && a.get("operation").is_some()
        })
        .await;

    assert!(!run.signal("KILL").success());
    drop(run);
    // A fresh data directory: everything comes from the resource.
    let data = tempfile::tempdir().unwrap();
    let mut run = Run::start(Mode::Cluster(ns.name()), data.path());
    let a = argo
        .wait(&mut run, &app, "the resumed operation done", |a| {
            a.get("operation").is_none() && s(a, "/status/operationState/phase") == "Succeeded"
        })
        .await;
    assert_eq!(
        s(&a, "/status/operationState/startedAt"),
        s(&before, "/status/operationState/startedAt")
    );
    assert_eq!(
        a["status"]["history"].as_array().map(Vec::len),
        Some(1),
        "{a:#}"
    );
    assert_eq!(cm_value(&ns, "after-wave").await.as_deref(), Some("done"));
}
