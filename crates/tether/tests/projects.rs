//! End to end: AppProject enforcement, sync windows and resource warnings, through the real
//! `tether run` against the testenv API server and the loopback Git server. Every wait is a
//! poll with a deadline.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use serde_json::json;
use tether_gitserver::GitServer;

fn project(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_denying_the_destination_gives_invalid_spec_error_and_a_denied_kind_fails_per_resource()
 {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("proj").unwrap();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: refused\nstringData:\n  k: v\n";
    seed(
        &repo,
        &[
            ("dest/cm.yaml", config_map("never-applied", "1")),
            ("kinds/cm.yaml", config_map("allowed-kind", "1")),
            ("kinds/secret.yaml", secret.to_owned()),
        ],
    );
    let apps = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (outside, team) = (unique(ns.name(), "outside"), unique(ns.name(), "team"));
    let (fenced, kinds) = (unique(ns.name(), "fenced"), unique(ns.name(), "kinds"));
    // `!` in a destination: every namespace but the test's.
    std::fs::write(
        apps.path().join("projects.yaml"),
        format!(
            "{}---\n{}",
            project(
                &outside,
                &format!(
                    "  sourceRepos: ['*']\n  destinations: [{{server: '*', namespace: '!{}'}}]\n",
                    ns.name()
                )
            ),
            project(
                &team,
                &format!(
                    "  sourceRepos: ['{}']\n  destinations: [{{name: in-cluster, namespace: '{}'}}]\n  namespaceResourceBlacklist: [{{group: '', kind: Secret}}]\n",
                    git.url("proj"),
                    ns.name()
                )
            ),
        ),
    )
    .unwrap();
    std::fs::write(
        apps.path().join("fenced.yaml"),
        in_project(
            application(&fenced, &git.url("proj"), "dest", ns.name(), AUTO),
            &outside,
        ),
    )
    .unwrap();
    std::fs::write(
        apps.path().join("kinds.yaml"),
        in_project(
            application(&kinds, &git.url("proj"), "kinds", ns.name(), AUTO),
            &team,
        ),
    )
    .unwrap();
    let run = Run::start(Mode::Files(apps.path()), data.path());

    let a = run.wait_app(&fenced, "InvalidSpecError", |a| {
        condition(a, "InvalidSpecError").is_some()
    });
    assert_eq!(
        condition_message(&a, "InvalidSpecError"),
        format!(
            "application destination server 'https://kubernetes.default.svc' and namespace '{}' do not match any of the allowed destinations in project '{outside}'",
            ns.name()
        )
    );
    assert_eq!(s(&a, "/status/sync/status"), "Unknown");
    assert!(a["status"]["operationState"].is_null(), "{a:#}");

    // The denied kind: the sync fails before applying anything, the Secret SyncFailed.
    let k = run.wait_app(&kinds, "the refused sync", |a| {
        s(a, "/status/operationState/phase") == "Failed"
    });
    assert_eq!(
        s(&k, "/status/operationState/message"),
        "one or more synchronization tasks are not valid"
    );
    let results = k["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["kind"], "Secret");
    assert_eq!(results[0]["status"], "SyncFailed");
    assert_eq!(
        results[0]["message"],
        format!("resource :Secret is not permitted in project {team}")
    );
    let secret_status = k["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "Secret")
        .unwrap()
        .clone();
    assert_eq!(secret_status["status"], "Unknown");
    assert!(
        cm_value(&ns, "allowed-kind").await.is_none(),
        "nothing applied"
    );
    assert!(cm_value(&ns, "never-applied").await.is_none());
    // A failed automated sync is not retried at the same revision (SyncError says so).
    let k = run.wait_app(&kinds, "the SyncError", |a| {
        condition_message(a, "SyncError").starts_with("Failed last sync attempt")
    });
    assert_eq!(k["status"]["history"], json!(null));

    // The project permits Secrets again: a manual sync goes through.
    std::fs::write(
        apps.path().join("projects.yaml"),
        project(
            &team,
            &format!(
                "  sourceRepos: ['{}']\n  destinations: [{{name: in-cluster, namespace: '{}'}}]\n",
                git.url("proj"),
                ns.name()
            ),
        ),
    )
    .unwrap();
    run.wait_app(&kinds, "the Secret permitted", |a| {
        a["status"]["resources"]
            .as_array()
            .is_some_and(|rs| rs.iter().all(|r| r["status"] != "Unknown"))
    });
    let (code, out, err) = run.tether(&["app", "sync", &kinds, "--timeout", "90"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cm_value(&ns, "allowed-kind").await.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_window_blocks_auto_sync_until_the_window_is_removed() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("windows").unwrap();
    let rev = seed(
        &repo,
        &[
            ("held/cm.yaml", config_map("held", "1")),
            ("manual/cm.yaml", config_map("manual-ok", "1")),
        ],
    );
    let apps = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (frozen, held, manual) = (
        unique(ns.name(), "frozen"),
        unique(ns.name(), "held"),
        unique(ns.name(), "manual"),
    );
    let base = "  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n";
    // Always active: fires every minute and lasts an hour. The second window lets manual
    // syncs of the `manual` app through.
    let windows = format!(
        "  syncWindows:\n  - {{kind: deny, schedule: '* * * * *', duration: 1h, applications: ['{held}']}}\n  - {{kind: deny, schedule: '*/1 * * * *', duration: 2h, namespaces: ['{}'], applications: ['{manual}'], andOperator: true, manualSync: true, timeZone: Europe/Amsterdam}}\n",
        ns.name()
    );
    let write_project = |spec: String| {
        std::fs::write(apps.path().join("project.yaml"), project(&frozen, &spec)).unwrap();
    };
    write_project(format!("{base}{windows}"));
    for (app, path) in [(&held, "held"), (&manual, "manual")] {
        std::fs::write(
            apps.path().join(format!("{path}.yaml")),
            in_project(
                application(app, &git.url("windows"), path, ns.name(), AUTO),
                &frozen,
            ),
        )
        .unwrap();
    }
    let run = Run::start(Mode::Files(apps.path()), data.path());

    for app in [&held, &manual] {
        let a = run.wait_app(app, "auto-sync blocked", |a| {
            condition_message(a, "SyncError").contains("blocked by sync window")
        });
        assert_eq!(s(&a, "/status/sync/status"), "OutOfSync");
        assert!(a["status"]["operationState"].is_null(), "{a:#}");
    }
    let a = run.app(&held);
    assert_eq!(
        condition_message(&a, "SyncError"),
        format!("auto-sync blocked by sync window to {rev}: active deny window '* * * * *' (1h)")
    );
    assert!(cm_value(&ns, "held").await.is_none());
    // A manual sync is refused too, unless the window allows manual syncs.
    let (code, _, err) = run.tether(&["app", "sync", &held]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot sync: blocked by sync window"), "{err}");
    let (code, out, err) = run.tether(&["app", "sync", &manual, "--timeout", "90"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cm_value(&ns, "manual-ok").await.as_deref(), Some("1"));

    // The window is removed: the app syncs and the condition goes.
    write_project(base.to_owned());
    let a = run.wait_app(&held, "synced after the window", synced_at(&rev));
    assert!(condition(&a, "SyncError").is_none(), "{a:#}");
    assert_eq!(cm_value(&ns, "held").await.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_and_repeated_resources_are_warnings() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("warn").unwrap();
    seed(
        &repo,
        &[
            ("app/a.yaml", config_map("tracked", "1")),
            // The same object twice.
            ("app/b.yaml", config_map("tracked", "1")),
        ],
    );
    let apps = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (proj, app) = (unique(ns.name(), "watchful"), unique(ns.name(), "warned"));
    std::fs::write(
        apps.path().join("project.yaml"),
        project(
            &proj,
            "  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n  orphanedResources:\n    ignore: [{kind: ConfigMap, name: 'ignored-*'}]\n",
        ),
    )
    .unwrap();
    std::fs::write(
        apps.path().join("app.yaml"),
        in_project(
            application(&app, &git.url("warn"), "app", ns.name(), AUTO),
            &proj,
        ),
    )
    .unwrap();
    let run = Run::start(Mode::Files(apps.path()), data.path());
    let a = run.wait_app(&app, "synced", |a| s(a, "/status/sync/status") == "Synced");
    assert!(
        condition_message(&a, "RepeatedResourceWarning").contains(&format!(
            "/ConfigMap/{}/tracked appears more than once",
            ns.name()
        )),
        "{a:#}"
    );
    // kube-root-ca.crt and the default ServiceAccount never count.
    assert!(condition(&a, "OrphanedResourceWarning").is_none(), "{a:#}");

    let cms = ns.api::<ConfigMap>();
    for name in ["stray", "ignored-stray"] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name}, "data": {"key": "x"}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let a = run.wait_app(&app, "the orphan warning", |a| {
        condition(a, "OrphanedResourceWarning").is_some()
    });
    assert_eq!(
        condition_message(&a, "OrphanedResourceWarning"),
        "Application has 1 orphaned resources"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_sync_windows_and_project_destinations() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("cw").unwrap();
    let rev = seed(&repo, &[("w/cm.yaml", config_map("windowed", "1"))]);
    let argo = Argo::new(&ns);
    let (proj, app, denied) = (
        unique(ns.name(), "cw"),
        unique(ns.name(), "windowed"),
        unique(ns.name(), "elsewhere"),
    );
    let with_ns = |yaml: String| {
        yaml.replacen(
            "metadata:\n",
            &format!("metadata:\n  namespace: {}\n", ns.name()),
            1,
        )
    };
    let base = format!(
        "  sourceRepos: ['*']\n  destinations: [{{server: '*', namespace: '{}'}}]\n",
        ns.name()
    );
    argo.apply(&with_ns(project(
        &proj,
        &format!("{base}  syncWindows: [{{kind: deny, schedule: '* * * * *', duration: 1h, clusters: [in-cluster, 'https://kubernetes.default.svc']}}]\n"),
    )))
    .await;
    argo.apply(&with_ns(in_project(
        application(&app, &git.url("cw"), "w", ns.name(), AUTO),
        &proj,
    )))
    .await;
    argo.apply(&with_ns(in_project(
        application(&denied, &git.url("cw"), "w", "somewhere-else", AUTO),
        &proj,
    )))
    .await;
    let data = tempfile::tempdir().unwrap();
    let mut run = Run::start(Mode::Cluster(ns.name()), data.path());
    let a = argo
        .wait(&mut run, &app, "auto-sync blocked", |a| {
            condition_message(a, "SyncError").contains("blocked by sync window")
        })
        .await;
    assert_eq!(s(&a, "/status/sync/status"), "OutOfSync");
    assert!(cm_value(&ns, "windowed").await.is_none());
    let d = argo
        .wait(&mut run, &denied, "InvalidSpecError", |a| {
            condition(a, "InvalidSpecError").is_some()
        })
        .await;
    assert!(
        condition_message(&d, "InvalidSpecError")
            .contains("namespace 'somewhere-else' do not match"),
        "{d:#}"
    );
    // A sync requested on the resource (as `kubectl patch`; the API refuses it, as Argo CD's
    // does) is held, saying why, until it is terminated: by `app terminate-op`, or through the
    // resource as Argo CD's API server terminates (`status.operationState.phase: Terminating`).
    for through_resource in [false, true] {
        argo.patch(
            &app,
            json!({"operation": {"sync": {"revision": rev}, "initiatedBy": {"username": "kubectl"}}}),
        )
        .await;
        let a = argo
            .wait(&mut run, &app, "the requested sync held", |a| {
                s(a, "/status/operationState/message")
                    .starts_with("Sync operation blocked by sync window: active deny window")
            })
            .await;
        assert_eq!(s(&a, "/status/operationState/phase"), "Running");
        if through_resource {
            argo.patch(
                &app,
                json!({"status": {"operationState": {"phase": "Terminating"}}}),
            )
            .await;
        } else {
            let (code, out, err) = run.tether(&["app", "terminate-op", &app]);
            assert_eq!(code, 0, "{out}{err}");
        }
        let a = argo
            .wait(&mut run, &app, "the held sync terminated", |a| {
                s(a, "/status/operationState/phase") == "Failed"
            })
            .await;
        assert_eq!(
            s(&a, "/status/operationState/message"),
            "Operation terminated"
        );
        assert!(a.get("operation").is_none_or(|o| o.is_null()), "{a:#}");
        assert!(cm_value(&ns, "windowed").await.is_none());
    }
    // The window is removed from the AppProject resource.
    argo.apply(&with_ns(project(&proj, &base))).await;
    let a = argo
        .wait(&mut run, &app, "synced after the window", synced_at(&rev))
        .await;
    assert!(condition(&a, "SyncError").is_none(), "{a:#}");
    assert_eq!(cm_value(&ns, "windowed").await.as_deref(), Some("1"));
}

/// A Deployment whose health waits `minReadySeconds` in wave 0, before a wave-1 ConfigMap.
fn slow_wave_zero(dir: &str, deploy: &str, done: &str, min_ready: u32) -> Vec<(String, String)> {
    let d = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {deploy}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"0\"\nspec:\n  replicas: 1\n  minReadySeconds: {min_ready}\n  selector:\n    matchLabels: {{app: {deploy}}}\n  template:\n    metadata:\n      labels: {{app: {deploy}}}\n    spec:\n      containers:\n      - name: main\n        image: registry.k8s.io/pause:3.10\n"
    );
    let cm = config_map(done, "done").replace(
        "metadata:\n",
        "metadata:\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n",
    );
    vec![
        (format!("{dir}/deploy.yaml"), d),
        (format!("{dir}/cm.yaml"), cm),
    ]
}

/// Argo CD's `syncOverrun`: a deny window that opens while syncs run stops the one whose window
/// lacks it (the operation stays Running, "blocked by sync window", wave 1 never applied) and
/// lets the other finish. `app terminate-op` ends the held operation (Failed, "Operation
/// terminated") although nothing runs, and a new manual sync is refused while the window lasts.
/// The windows open at the next minute boundary (windows are minute-grained), so the syncs'
/// wave 0 lasts longer than that (`minReadySeconds`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_opening_during_a_sync_stops_it_unless_sync_overrun_and_terminate_op_ends_it() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("overrun").unwrap();
    let mut files = slow_wave_zero("over", "slow-over", "over-done", 85);
    files.extend(slow_wave_zero("held", "slow-held", "held-done", 85));
    for (p, c) in &files {
        repo.write(p, c).unwrap();
    }
    repo.commit_and_push("slow syncs").unwrap();
    let apps = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let proj = unique(ns.name(), "night");
    let (over, held) = (unique(ns.name(), "over"), unique(ns.name(), "heldop"));
    // The next minute boundary at least 15 s away (UTC).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let boundary = (now / 60 + if now % 60 > 45 { 2 } else { 1 }) * 60;
    let schedule = format!("{} {} * * *", (boundary / 60) % 60, (boundary / 3600) % 24);
    std::fs::write(
        apps.path().join("project.yaml"),
        project(
            &proj,
            &format!(
                "  sourceRepos: ['*']\n  destinations: [{{server: '*', namespace: '*'}}]\n  syncWindows:\n  - {{kind: deny, schedule: '{schedule}', duration: 1h, applications: ['{over}'], syncOverrun: true}}\n  - {{kind: deny, schedule: '{schedule}', duration: 1h, applications: ['{held}']}}\n"
            ),
        ),
    )
    .unwrap();
    for (app, path) in [(&over, "over"), (&held, "held")] {
        std::fs::write(
            apps.path().join(format!("{path}.yaml")),
            in_project(
                application(app, &git.url("overrun"), path, ns.name(), ""),
                &proj,
            ),
        )
        .unwrap();
    }
    let run = Run::start(Mode::Files(apps.path()), data.path());
    for app in [&over, &held] {
        run.wait_app(app, "compared", |a| {
            s(a, "/status/sync/status") == "OutOfSync"
        });
        let (code, out, err) = run.tether(&["app", "sync", app, "--async"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let held_app = run.wait_app(&held, "held by the window that opened", |a| {
        s(a, "/status/operationState/message").starts_with("Sync operation blocked by sync window")
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now >= boundary, "held before the window opened");
    assert_eq!(s(&held_app, "/status/operationState/phase"), "Running");
    assert_eq!(
        s(&held_app, "/status/operationState/message"),
        format!("Sync operation blocked by sync window: active deny window '{schedule}' (1h)")
    );
    // The window is open, and the other sync is still in wave 0: it goes on (overrun).
    let a = run.app(&over);
    assert_eq!(
        s(&a, "/status/operationState/phase"),
        "Running",
        "the sync ended before the window opened; minReadySeconds too short? {a:#}"
    );
    let a = run.wait_app(&over, "the overrunning sync done", |a| {
        s(a, "/status/operationState/phase") == "Succeeded"
    });
    assert_eq!(a["status"]["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(cm_value(&ns, "over-done").await.as_deref(), Some("done"));
    // The held one never got to wave 1, and stays held.
    let a = run.app(&held);
    assert_eq!(s(&a, "/status/operationState/phase"), "Running", "{a:#}");
    assert!(cm_value(&ns, "held-done").await.is_none());

    let (code, out, err) = run.tether(&["app", "terminate-op", &held]);
    assert_eq!(code, 0, "{out}{err}");
    let a = run.wait_app(&held, "terminated", |a| {
        s(a, "/status/operationState/phase") == "Failed"
    });
    assert_eq!(
        s(&a, "/status/operationState/message"),
        "Operation terminated"
    );
    assert_eq!(
        s(&a, "/status/operationState/startedAt"),
        s(&held_app, "/status/operationState/startedAt")
    );
    assert!(a["status"]["history"].as_array().is_none_or(Vec::is_empty));
    let (code, _, err) = run.tether(&["app", "terminate-op", &held]);
    assert_eq!(code, 1);
    assert!(err.contains("No operation is in progress"), "{err}");
    let (code, _, err) = run.tether(&["app", "sync", &held]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot sync: blocked by sync window"), "{err}");
    assert!(cm_value(&ns, "held-done").await.is_none());
}
