//! End to end through the real `tether` binary: `tether run --apps DIR` against the testenv API
//! server and the loopback Git server; the CLI (`tether app …`) talks to its API. Every wait is a
//! poll with a deadline; nothing asserts on timing.

mod common;

use std::ops::Deref;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tether_gitserver::GitServer;

/// `tether run --apps DIR` on a directory of Applications the test writes.
struct FileRun {
    run: Run,
    apps: tempfile::TempDir,
}

impl FileRun {
    fn start(apps: tempfile::TempDir) -> Self {
        let run = Run::start_temp(Mode::Files(apps.path()));
        Self { run, apps }
    }

    fn write_app(&self, file: &str, yaml: &str) {
        std::fs::write(self.apps.path().join(file), yaml).unwrap();
    }
}

impl Deref for FileRun {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

fn has_condition(app: &Value, ty: &str) -> bool {
    app.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty))
}

const AUTO_NO_HEAL: &str = "  syncPolicy:\n    automated: {prune: false}\n";

fn deployment(name: &str, image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: {image}
"#
    )
}

fn apps_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sync_follows_a_new_commit_and_records_history() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("auto").unwrap();
    let rev1 = seed(
        &repo,
        &[("web/deploy.yaml", deployment("web", "nginx:1.25"))],
    );
    let app = unique(ns.name(), "web");
    let run = FileRun::start(apps_dir());
    run.write_app(
        "app.yaml",
        &application(&app, &git.url("auto"), "web", ns.name(), AUTO),
    );

    let a = run.wait_app(&app, "Synced at rev1", |a| {
        s(a, "/status/sync/status") == "Synced" && s(a, "/status/sync/revision") == rev1
    });
    assert_eq!(a["status"]["summary"]["images"], json!(["nginx:1.25"]));
    assert_eq!(s(&a, "/status/operationState/phase"), "Succeeded");
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"]["automated"],
        json!(true)
    );

    repo.write("web/deploy.yaml", &deployment("web", "nginx:1.26"))
        .unwrap();
    let rev2 = repo.commit_and_push("bump image").unwrap();
    let a = run.wait_app(&app, "Synced at rev2", |a| {
        s(a, "/status/sync/status") == "Synced" && s(a, "/status/sync/revision") == rev2
    });
    let deploy = ns.api::<Deployment>().get("web").await.unwrap();
    let image = deploy.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("nginx:1.26"));
    let history = a["status"]["history"].as_array().unwrap();
    let revs: Vec<&str> = history.iter().map(|h| s(h, "/revision")).collect();
    assert_eq!(revs, [rev1.as_str(), rev2.as_str()]);
    assert_eq!(history[1]["id"], 1);

    // The CLI's views.
    let (code, out, _) = run.tether(&["app", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains(&app) && out.contains("Synced"), "{out}");
    let (code, out, _) = run.tether(&["app", "history", &app]);
    assert_eq!(code, 0);
    assert!(out.contains(&rev2) && out.contains("automated"), "{out}");
    let (code, out, _) = run.tether(&["app", "get", &app]);
    assert_eq!(code, 0);
    assert!(out.contains("Deployment") && out.contains("web"), "{out}");
    let (code, out, _) = run.tether(&["app", "diff", &app]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run.tether(&["app", "manifests", &app]);
    assert_eq!(code, 0);
    assert!(out.contains("nginx:1.26"), "{out}");
    // Rollback is refused while auto-sync is on.
    let (code, _, err) = run.tether(&["app", "rollback", &app, "0"]);
    assert_eq!(code, 1);
    assert!(err.contains("auto-sync is enabled"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_heal_reverts_a_live_edit_and_without_it_the_app_stays_out_of_sync() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("heal").unwrap();
    seed(
        &repo,
        &[
            ("heal/cm.yaml", config_map("healed", "from-git")),
            ("manual/cm.yaml", config_map("drifted", "from-git")),
        ],
    );
    let heal = unique(ns.name(), "heal");
    let drift = unique(ns.name(), "drift");
    let run = FileRun::start(apps_dir());
    run.write_app(
        "heal.yaml",
        &application(&heal, &git.url("heal"), "heal", ns.name(), AUTO),
    );
    run.write_app(
        "drift.yaml",
        &application(&drift, &git.url("heal"), "manual", ns.name(), AUTO_NO_HEAL),
    );
    for name in [&heal, &drift] {
        run.wait_app(name, "Synced", |a| s(a, "/status/sync/status") == "Synced");
    }
    let edit = json!({"data": {"key": "edited-live"}});
    for cm in ["healed", "drifted"] {
        ns.api::<ConfigMap>()
            .patch(cm, &PatchParams::default(), &Patch::Merge(&edit))
            .await
            .unwrap();
    }
    // selfHeal: reverted.
    wait_for("the live edit to be reverted", async || {
        (cm_value(&ns, "healed").await.as_deref() == Some("from-git")).then_some(())
    })
    .await;
    run.wait_app(&heal, "Synced after self-heal", |a| {
        s(a, "/status/sync/status") == "Synced"
    });
    // No selfHeal: OutOfSync, and still so after later refreshes; the live edit stays.
    let a = run.wait_app(&drift, "OutOfSync", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });
    let first = s(&a, "/status/reconciledAt").to_owned();
    let a = run.wait_app(&drift, "two more refreshes", |a| {
        let r = s(a, "/status/reconciledAt");
        !r.is_empty() && r > first.as_str()
    });
    let second = s(&a, "/status/reconciledAt").to_owned();
    let a = run.wait_app(&drift, "another refresh", |a| {
        s(a, "/status/reconciledAt") > second.as_str()
    });
    assert_eq!(s(&a, "/status/sync/status"), "OutOfSync");
    assert_eq!(a["status"]["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        cm_value(&ns, "drifted").await.as_deref(),
        Some("edited-live")
    );
    let (code, out, _) = run.tether(&["app", "diff", &drift]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("edited-live") && out.contains("from-git"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_removed_objects_only_when_enabled() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("prune").unwrap();
    seed(
        &repo,
        &[
            ("p/a.yaml", config_map("p-keep", "1")),
            ("p/b.yaml", config_map("p-gone", "1")),
            ("n/a.yaml", config_map("n-keep", "1")),
            ("n/b.yaml", config_map("n-flagged", "1")),
        ],
    );
    let pruning = unique(ns.name(), "pruning");
    let flagging = unique(ns.name(), "flagging");
    let run = FileRun::start(apps_dir());
    run.write_app(
        "p.yaml",
        &application(&pruning, &git.url("prune"), "p", ns.name(), AUTO),
    );
    run.write_app(
        "n.yaml",
        &application(&flagging, &git.url("prune"), "n", ns.name(), AUTO_NO_HEAL),
    );
    for name in [&pruning, &flagging] {
        run.wait_app(name, "Synced", |a| s(a, "/status/sync/status") == "Synced");
    }
    assert!(cm_value(&ns, "p-gone").await.is_some());
    repo.remove("p/b.yaml").unwrap();
    repo.remove("n/b.yaml").unwrap();
    let rev = repo.commit_and_push("remove b").unwrap();
    wait_for("p-gone to be pruned", async || {
        cm_value(&ns, "p-gone").await.is_none().then_some(())
    })
    .await;
    run.wait_app(&pruning, "Synced at the new revision", |a| {
        s(a, "/status/sync/status") == "Synced" && s(a, "/status/sync/revision") == rev
    });
    let a = run.wait_app(&flagging, "the extra object flagged", |a| {
        s(a, "/status/sync/revision") == rev
            && a["status"]["resources"].as_array().is_some_and(|rs| {
                rs.iter()
                    .any(|r| r["name"] == "n-flagged" && r["requiresPruning"] == true)
            })
    });
    assert_eq!(s(&a, "/status/sync/status"), "OutOfSync");
    assert!(cm_value(&ns, "n-flagged").await.is_some());
    assert!(cm_value(&ns, "p-keep").await.is_some() && cm_value(&ns, "n-keep").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_failure_is_a_comparison_error_prunes_nothing_and_recovers() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("broken").unwrap();
    seed(
        &repo,
        &[
            ("app/a.yaml", config_map("stays", "1")),
            ("app/b.yaml", config_map("also-stays", "1")),
        ],
    );
    let app = unique(ns.name(), "fragile");
    let other = unique(ns.name(), "bystander");
    let run = FileRun::start(apps_dir());
    run.write_app(
        "a.yaml",
        &application(&app, &git.url("broken"), "app", ns.name(), AUTO),
    );
    run.write_app(
        "b.yaml",
        &application(&other, &git.url("broken"), "app-other", ns.name(), AUTO),
    );
    // A malformed Application and a project violation do not stop the controller.
    run.write_app(
        "bad.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: malformed}\nspec:\n  destination: {namespace: x}\n  syncPolicy: {retry: {limit: lots}}\n",
    );
    run.write_app(
        "proj.yaml",
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: locked}}\nspec:\n  sourceRepos: ['*']\n  destinations: [{{server: '*', namespace: 'prod-*'}}]\n---\n{}",
            application("denied", &git.url("broken"), "app", ns.name(), "").replace("project: default", "project: locked")
        ),
    );
    run.wait_app(&app, "Synced", |a| s(a, "/status/sync/status") == "Synced");
    let bad = run.wait_app("malformed", "InvalidSpecError", |a| {
        has_condition(a, "InvalidSpecError")
    });
    assert!(
        bad.to_string().contains("spec.syncPolicy.retry.limit"),
        "{bad}"
    );
    let denied = run.wait_app("denied", "InvalidSpecError", |a| {
        has_condition(a, "InvalidSpecError")
    });
    assert!(
        denied
            .to_string()
            .contains("do not match any of the allowed destinations in project 'locked'"),
        "{denied}"
    );

    repo.write(
        "app/b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: also-stays\ndata: [\n",
    )
    .unwrap();
    let broken = repo.commit_and_push("break a file").unwrap();
    let a = run.wait_app(&app, "ComparisonError", |a| {
        has_condition(a, "ComparisonError")
    });
    assert_eq!(s(&a, "/status/sync/status"), "Unknown");
    assert!(a.to_string().contains("b.yaml"), "{a}");
    // Nothing was pruned.
    assert!(cm_value(&ns, "stays").await.is_some());
    assert!(cm_value(&ns, "also-stays").await.is_some());
    // The other app (missing path: its own ComparisonError) and the process carry on.
    let (code, _, _) = run.tether(&["app", "get", &other]);
    assert_eq!(code, 0);

    repo.write("app/b.yaml", &config_map("also-stays", "2"))
        .unwrap();
    let fixed = repo.commit_and_push("fix").unwrap();
    assert_ne!(broken, fixed);
    let a = run.wait_app(&app, "recovered", |a| {
        s(a, "/status/sync/status") == "Synced" && s(a, "/status/sync/revision") == fixed
    });
    assert!(!has_condition(&a, "ComparisonError"));
    assert_eq!(cm_value(&ns, "also-stays").await.as_deref(), Some("2"));
    assert!(cm_value(&ns, "stays").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_sync_history_and_rollback_through_the_cli() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("manual").unwrap();
    let rev1 = seed(&repo, &[("m/cm.yaml", config_map("versioned", "v1"))]);
    let app = unique(ns.name(), "manual");
    let run = FileRun::start(apps_dir());
    run.write_app(
        "m.yaml",
        &application(&app, &git.url("manual"), "m", ns.name(), ""),
    );
    run.wait_app(&app, "OutOfSync (never synced)", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    });
    assert!(cm_value(&ns, "versioned").await.is_none());
    let (code, out, err) = run.tether(&["app", "sync", &app, "--timeout", "90"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Succeeded") && out.contains("versioned"),
        "{out}"
    );
    assert_eq!(cm_value(&ns, "versioned").await.as_deref(), Some("v1"));

    repo.write("m/cm.yaml", &config_map("versioned", "v2"))
        .unwrap();
    let rev2 = repo.commit_and_push("v2").unwrap();
    run.wait_app(&app, "OutOfSync at rev2", |a| {
        s(a, "/status/sync/revision") == rev2 && s(a, "/status/sync/status") == "OutOfSync"
    });
    let (code, _, err) = run.tether(&["app", "sync", &app, "--timeout", "90"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cm_value(&ns, "versioned").await.as_deref(), Some("v2"));

    let (code, out, err) = run.tether(&["app", "rollback", &app, "0", "--timeout", "90"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cm_value(&ns, "versioned").await.as_deref(), Some("v1"));
    let a = run.app(&app);
    let revs: Vec<&str> = a["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| s(h, "/revision"))
        .collect();
    assert_eq!(revs, [rev1.as_str(), rev2.as_str(), rev1.as_str()]);
    // Unknown app and unknown history id: exit 1 with a message.
    let (code, _, err) = run.tether(&["app", "get", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
    let (code, _, err) = run.tether(&["app", "rollback", &app, "42"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not have deployment id '42'"), "{err}");
}

/// Copies `examples/gitops/repo` into the served repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_examples_sync_waves_hooks_and_a_helm_chart() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("examples").unwrap();
    let rev = seed_examples(&repo, &git.url("examples"));
    let waves = unique(ns.name(), "waves");
    let helm = unique(ns.name(), "hello");
    let run = FileRun::start(apps_dir());
    run.write_app(
        "waves.yaml",
        &application(&waves, &git.url("examples"), "waves", ns.name(), AUTO),
    );
    run.write_app(
        "helm.yaml",
        &application(&helm, &git.url("examples"), "charts/hello", ns.name(), AUTO).replace(
            "    targetRevision: HEAD\n",
            "    targetRevision: HEAD\n    helm:\n      releaseName: hello\n      valuesObject: {message: from the Application}\n      parameters: [{name: replicaCount, value: \"2\"}]\n",
        ),
    );
    let a = run.wait_app(&waves, "Synced and Healthy", |a| {
        s(a, "/status/sync/status") == "Synced"
            && s(a, "/status/health/status") == "Healthy"
            && s(a, "/status/sync/revision") == rev
    });
    let results = a["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .clone();
    let hook = |t: &str| {
        results
            .iter()
            .find(|r| r["hookType"] == t)
            .unwrap_or_else(|| panic!("no {t} hook in {results:?}"))
            .clone()
    };
    assert_eq!(hook("PreSync")["kind"], "Job");
    assert!(s(&hook("PreSync"), "/name").starts_with("migrate-"));
    assert_eq!(hook("PostSync")["name"], "smoke-test");
    // Waves: the ConfigMap (-1) before the Deployment (0) before the Service (1).
    let pos = |kind: &str| {
        results
            .iter()
            .position(|r| r["kind"] == kind && r["hookType"].is_null())
            .unwrap()
    };
    assert!(
        pos("ConfigMap") < pos("Deployment") && pos("Deployment") < pos("Service"),
        "{results:?}"
    );

    let a = run.wait_app(&helm, "Synced", |a| s(a, "/status/sync/status") == "Synced");
    assert_eq!(s(&a, "/status/sourceType"), "Helm");
    let cm = ns.api::<ConfigMap>().get("hello-hello").await.unwrap();
    assert_eq!(
        cm.data.unwrap().get("message").map(String::as_str),
        Some("from the Application")
    );
    let d = ns.api::<Deployment>().get("hello-hello").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
}

/// The issue's "measure push-to-synced time with and without the webhook": the same app, one
/// push found by polling (`--app-resync 10s`), one announced by a GitHub push webhook. The times
/// are printed (and recorded in docs/benchmarks.md), not asserted; the test asserts that each
/// push gets synced and that the second one came through the webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_synced_with_and_without_the_webhook() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("timed").unwrap();
    let rev1 = seed(
        &repo,
        &[("web/deploy.yaml", deployment("web", "nginx:1.25"))],
    );
    let app = unique(ns.name(), "timed");
    let apps = apps_dir();
    std::fs::write(
        apps.path().join("app.yaml"),
        application(&app, &git.url("timed"), "web", ns.name(), AUTO),
    )
    .unwrap();
    let run = Run::start_temp_args(Mode::Files(apps.path()), &["--app-resync", "10s"]);
    run.wait_app(&app, "Synced at rev1", synced_at(&rev1));

    repo.write("web/deploy.yaml", &deployment("web", "nginx:1.26"))
        .unwrap();
    let rev2 = repo.commit_and_push("bump without webhook").unwrap();
    let t = std::time::Instant::now();
    run.wait_app(&app, "Synced at rev2 (poll)", synced_at(&rev2));
    let polled = t.elapsed();
    assert!(!run.log().contains("webhook push"), "{}", run.log());

    repo.write("web/deploy.yaml", &deployment("web", "nginx:1.27"))
        .unwrap();
    let rev3 = repo.commit_and_push("bump with webhook").unwrap();
    let t = std::time::Instant::now();
    let body = github_push(&git.url("timed"), &rev2, &rev3, &["web/deploy.yaml"]);
    assert_eq!(run.webhook(&[("X-GitHub-Event", "push")], &body), 200);
    run.wait_app(&app, "Synced at rev3 (webhook)", synced_at(&rev3));
    let hooked = t.elapsed();
    let log = run.log();
    assert!(log.contains("webhook push"), "{log}");
    println!(
        "push to synced: without webhook (poll, --app-resync 10s) {:.1} s; with webhook {:.1} s",
        polled.as_secs_f64(),
        hooked.as_secs_f64()
    );
}

/// File mode's webhook secrets (`--webhook-secrets FILE`, argocd-secret's keys): an unsigned or
/// wrongly signed GitHub push gets 401 and refreshes nothing; a correctly signed one refreshes
/// the app. The secret is never logged; a bad secrets file stops `tether run` with an error
/// naming the file and key, not the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_secrets_file_verifies_signatures() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("signed").unwrap();
    let rev1 = seed(&repo, &[("cm/cm.yaml", config_map("signed-cm", "v1"))]);
    let app = unique(ns.name(), "signed");
    let apps = apps_dir();
    std::fs::write(
        apps.path().join("app.yaml"),
        application(&app, &git.url("signed"), "cm", ns.name(), AUTO),
    )
    .unwrap();
    let secret = "gh-wh-s3cret-7f1c";
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("webhook.yaml");

    // A misspelt key: refused at start, naming the file and the key, never the value.
    std::fs::write(&file, format!("webhook.github.secrte: {secret}\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["run", "--apps"])
        .arg(apps.path())
        .arg("--webhook-secrets")
        .arg(&file)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("webhook.yaml") && err.contains("unknown key `webhook.github.secrte`"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");

    // As argocd-secret's keys; the others (admin.password, …) are ignored.
    std::fs::write(
        &file,
        format!("webhook.github.secret: {secret}\nadmin.password: unused\n"),
    )
    .unwrap();
    // Polling and periodic refreshes far beyond the test's deadline: only the webhook refreshes.
    let run = Run::start_temp_args(
        Mode::Files(apps.path()),
        &[
            "--app-resync",
            "300s",
            "--webhook-secrets",
            file.to_str().unwrap(),
        ],
    );
    run.wait_app(&app, "Synced at rev1", synced_at(&rev1));
    repo.write("cm/cm.yaml", &config_map("signed-cm", "v2"))
        .unwrap();
    let rev2 = repo.commit_and_push("v2").unwrap();
    let body = github_push(&git.url("signed"), &rev1, &rev2, &["cm/cm.yaml"]);
    let event = ("X-GitHub-Event", "push");
    assert_eq!(run.webhook(&[event], &body), 401, "unsigned");
    let wrong = hub_signature("not-the-secret", &body);
    assert_eq!(
        run.webhook(&[event, ("X-Hub-Signature-256", &wrong)], &body),
        401,
        "wrongly signed"
    );
    let tampered = hub_signature(secret, &body.replace("main", "dev"));
    assert_eq!(
        run.webhook(&[event, ("X-Hub-Signature-256", &tampered)], &body),
        401,
        "signature of another body"
    );
    assert!(!run.log().contains("webhook push"), "{}", run.log());
    assert_eq!(s(&run.app(&app), "/status/sync/revision"), rev1);

    let good = hub_signature(secret, &body);
    assert_eq!(
        run.webhook(&[event, ("X-Hub-Signature-256", &good)], &body),
        200
    );
    run.wait_app(
        &app,
        "Synced at rev2 after the signed push",
        synced_at(&rev2),
    );
    assert_eq!(cm_value(&ns, "signed-cm").await.as_deref(), Some("v2"));
    let log = run.log();
    assert!(log.contains("missing or invalid signature"), "{log}");
    assert!(!log.contains(secret), "the secret was logged:\n{log}");
}

/// Kustomize `helmCharts` are inflated only with `kustomize.buildOptions: --enable-helm`, as in
/// Argo CD; file mode takes the options from `--kustomize-build-options`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomize_helm_charts_need_enable_helm_in_the_build_options() {
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("kh").unwrap();
    let release = unique(ns.name(), "rel");
    for (p, c) in kustomize_helm_chart("app", &release, "inflated") {
        repo.write(&p, &c).unwrap();
    }
    let rev = repo.commit_and_push("kustomize + helm").unwrap();
    let app = unique(ns.name(), "kh");
    let apps = apps_dir();
    std::fs::write(
        apps.path().join("app.yaml"),
        application(&app, &git.url("kh"), "app", ns.name(), AUTO),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    {
        let run = Run::start_args(Mode::Files(apps.path()), data.path(), &[]);
        let a = run.wait_app(&app, "ComparisonError", |a| {
            condition(a, "ComparisonError").is_some()
        });
        let msg = condition_message(&a, "ComparisonError");
        assert!(msg.contains("--enable-helm"), "{msg}");
    }
    let run = Run::start_args(
        Mode::Files(apps.path()),
        data.path(),
        &["--kustomize-build-options=--enable-helm"],
    );
    run.wait_app(&app, "Synced with the chart inflated", |a| {
        synced_at(&rev)(a) && condition(a, "ComparisonError").is_none()
    });
    assert_eq!(
        cm_value(&ns, &format!("{release}-web")).await.as_deref(),
        Some("inflated")
    );
    // An option Tether's kustomize does not have is refused at start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["run", "--apps"])
        .arg(apps.path())
        .args(["--kustomize-build-options=--enable-alpha-plugins"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unsupported option `--enable-alpha-plugins`"),
        "{err}"
    );
}
