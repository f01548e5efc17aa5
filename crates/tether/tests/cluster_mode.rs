//! End to end, cluster mode: `tether run` (no `--apps*` flag) against the testenv API server and
//! the loopback Git server. Applications and AppProjects are resources in the test's namespace
//! (the control namespace), created as `kubectl apply` / `kubectl patch` would; assertions read
//! the resources' `.status` as Argo CD shapes it. Every wait is a poll with a deadline.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use tether_gitserver::GitServer;

fn application(name: &str, ns: &str, repo: &str, path: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: {ns}
{extra}spec:
  project: default
  source:
    repoURL: {repo}
    path: {path}
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: {ns}
"#
    )
}

const FINALIZER: &str = "  finalizers: [resources-finalizer.argocd.argoproj.io]\n";

fn with_policy(app: String, policy: &str) -> String {
    format!("{app}  syncPolicy:\n{policy}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_auto_sync_self_heal_operation_field_and_refresh_annotation() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("cm").unwrap();
    let rev1 = seed(
        &repo,
        &[
            ("auto/cm.yaml", config_map("auto-cm", "v1")),
            ("manual/cm.yaml", config_map("manual-cm", "v1")),
        ],
    );
    let argo = Argo::new(&ns);
    let team = unique(ns.name(), "team");
    argo.apply(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: {team}, namespace: {}}}\nspec:\n  sourceRepos: ['*']\n  destinations: [{{server: '*', namespace: '{}'}}]\n",
        ns.name(),
        ns.name()
    ))
    .await;
    let auto = unique(ns.name(), "auto");
    let manual = unique(ns.name(), "manual");
    argo.apply(
        &with_policy(
            application(&auto, ns.name(), &git.url("cm"), "auto", ""),
            "    automated: {prune: true, selfHeal: true}\n",
        )
        .replace("project: default", &format!("project: {team}")),
    )
    .await;
    argo.apply(&application(
        &manual,
        ns.name(),
        &git.url("cm"),
        "manual",
        "",
    ))
    .await;
    let mut run = Run::start_temp(Mode::Cluster(ns.name()));

    // Auto-sync: status as Argo CD shapes it, on the resource.
    let a = argo
        .wait(&mut run, &auto, "auto-synced", synced_at(&rev1))
        .await;
    let st = &a["status"];
    assert_eq!(s(st, "/health/status"), "Healthy");
    assert_eq!(s(st, "/sync/comparedTo/source/path"), "auto");
    assert_eq!(s(st, "/sync/comparedTo/destination/namespace"), ns.name());
    assert_eq!(s(st, "/sourceType"), "Directory");
    assert!(!s(st, "/reconciledAt").is_empty() && !s(st, "/observedAt").is_empty());
    assert_eq!(
        st["resources"],
        json!([{"version": "v1", "kind": "ConfigMap", "namespace": ns.name(), "name": "auto-cm",
                "status": "Synced"}]),
        "{st:#}"
    );
    assert_eq!(s(st, "/operationState/phase"), "Succeeded");
    assert_eq!(
        st["operationState"]["operation"]["initiatedBy"]["automated"],
        true
    );
    assert_eq!(s(st, "/operationState/syncResult/revision"), rev1);
    assert!(!s(st, "/operationState/finishedAt").is_empty());
    assert_eq!(st["history"][0]["id"], 0);
    assert_eq!(s(&st["history"][0], "/revision"), rev1);
    assert!(a.get("operation").is_none(), "operation cleared: {a:#}");
    assert_eq!(cm_value(&ns, "auto-cm").await.as_deref(), Some("v1"));

    // The manual app is compared but not synced.
    let m = argo
        .wait(&mut run, &manual, "OutOfSync", |a| {
            s(a, "/status/sync/status") == "OutOfSync"
        })
        .await;
    // A missing ConfigMap (a kind without a health check) does not make the app Missing.
    assert_eq!(s(&m, "/status/health/status"), "Healthy");
    assert_eq!(s(&m, "/status/resources/0/status"), "OutOfSync");
    assert!(m.pointer("/status/operationState").is_none());
    assert_eq!(cm_value(&ns, "manual-cm").await, None);

    // A sync requested through `.operation`, as Argo CD's API server (or `kubectl patch`) writes it.
    argo.patch(
        &manual,
        json!({"operation": {"initiatedBy": {"username": "alice"}, "sync": {"revision": rev1}}}),
    )
    .await;
    let m = argo
        .wait(
            &mut run,
            &manual,
            "the requested sync done and cleared",
            |a| {
                a.get("operation").is_none()
                    && s(a, "/status/operationState/phase") == "Succeeded"
                    && s(a, "/status/sync/status") == "Synced"
            },
        )
        .await;
    assert_eq!(
        s(&m, "/status/operationState/operation/initiatedBy/username"),
        "alice"
    );
    assert_eq!(
        s(&m, "/status/operationState/syncResult/resources/0/name"),
        "manual-cm"
    );
    assert_eq!(m["status"]["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(cm_value(&ns, "manual-cm").await.as_deref(), Some("v1"));

    // `tether app sync` goes through `.operation` on the resource too (a second history entry).
    repo.write("manual/cm.yaml", &config_map("manual-cm", "v2"))
        .unwrap();
    let rev2 = repo.commit_and_push("v2").unwrap();
    // The refresh annotation (hard) makes the new commit seen, then is removed.
    argo.patch(
        &manual,
        json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}}),
    )
    .await;
    argo.wait(&mut run, &manual, "refreshed, annotation removed", |a| {
        s(a, "/status/sync/revision") == rev2
            && a.pointer("/metadata/annotations/argocd.argoproj.io~1refresh")
                .is_none()
    })
    .await;
    let (code, _, err) = run.tether(&["app", "sync", &manual]);
    assert_eq!(code, 0, "{err}");
    let m = argo
        .wait(&mut run, &manual, "synced to rev2", |a| {
            a.get("operation").is_none()
                && a["status"]["history"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    assert_eq!(s(&m, "/status/operationState/syncResult/revision"), rev2);
    assert_eq!(s(&m, "/status/history/1/revision"), rev2);
    assert_eq!(cm_value(&ns, "manual-cm").await.as_deref(), Some("v2"));

    // Self-heal: a live edit of the auto app's object is reverted.
    ns.api::<ConfigMap>()
        .patch(
            "auto-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"key": "edited"}})),
        )
        .await
        .unwrap();
    wait_for("the live edit reverted", async || {
        (cm_value(&ns, "auto-cm").await.as_deref() == Some("v1")).then_some(())
    })
    .await;
    // Auto-sync to a new commit.
    repo.write("auto/cm.yaml", &config_map("auto-cm", "v3"))
        .unwrap();
    let rev3 = repo.commit_and_push("v3").unwrap();
    argo.wait(&mut run, &auto, "auto-synced to rev3", synced_at(&rev3))
        .await;
    assert_eq!(cm_value(&ns, "auto-cm").await.as_deref(), Some("v3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resources_finalizer_cascades_deletion_and_without_it_resources_stay() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("fin").unwrap();
    let rev = seed(
        &repo,
        &[
            ("cascade/cm.yaml", config_map("cascaded", "1")),
            ("bg/cm.yaml", config_map("cascaded-bg", "1")),
            ("keep/cm.yaml", config_map("kept", "1")),
        ],
    );
    let argo = Argo::new(&ns);
    let auto = "    automated: {prune: true}\n";
    let cascade = unique(ns.name(), "cascade");
    let bg = unique(ns.name(), "bg");
    let keep = unique(ns.name(), "keep");
    argo.apply(&with_policy(
        application(&cascade, ns.name(), &git.url("fin"), "cascade", FINALIZER),
        auto,
    ))
    .await;
    argo.apply(&with_policy(
        application(
            &bg,
            ns.name(),
            &git.url("fin"),
            "bg",
            "  finalizers: [resources-finalizer.argocd.argoproj.io/background]\n",
        ),
        auto,
    ))
    .await;
    argo.apply(&with_policy(
        application(&keep, ns.name(), &git.url("fin"), "keep", ""),
        auto,
    ))
    .await;
    let mut run = Run::start_temp(Mode::Cluster(ns.name()));
    for name in [&cascade, &bg, &keep] {
        argo.wait(&mut run, name, "synced", synced_at(&rev)).await;
    }
    for cm in ["cascaded", "cascaded-bg", "kept"] {
        assert!(cm_value(&ns, cm).await.is_some(), "{cm}");
    }

    for name in [&cascade, &bg, &keep] {
        argo.apps
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    for name in [&cascade, &bg, &keep] {
        wait_for(&format!("{name} deleted"), async || {
            argo.get(name).await.is_none().then_some(())
        })
        .await;
    }
    wait_for("cascaded deletion", async || {
        (cm_value(&ns, "cascaded").await.is_none() && cm_value(&ns, "cascaded-bg").await.is_none())
            .then_some(())
    })
    .await;
    // Without the finalizer, deleting the Application leaves its resources.
    assert_eq!(cm_value(&ns, "kept").await.as_deref(), Some("1"));
    run.alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_of_apps_creates_updates_and_prunes_child_applications() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("apps").unwrap();
    let url = git.url("apps");
    let (a, b) = (unique(ns.name(), "child-a"), unique(ns.name(), "child-b"));
    let child = |name: &str, path: &str| {
        with_policy(
            application(name, ns.name(), &url, path, FINALIZER),
            "    automated: {prune: true}\n",
        )
    };
    seed(
        &repo,
        &[
            ("root/a.yaml", child(&a, "a")),
            ("root/b.yaml", child(&b, "b")),
            ("a/cm.yaml", config_map("child-a-cm", "1")),
            ("a2/cm.yaml", config_map("child-a-cm2", "2")),
            ("b/cm.yaml", config_map("child-b-cm", "1")),
        ],
    );
    let argo = Argo::new(&ns);
    let root = unique(ns.name(), "root");
    argo.apply(&with_policy(
        application(&root, ns.name(), &url, "root", ""),
        "    automated: {prune: true}\n",
    ))
    .await;
    let mut run = Run::start_temp(Mode::Cluster(ns.name()));

    // The root syncs the children into the control namespace; the controller picks them up.
    for name in [&a, &b] {
        argo.wait(&mut run, name, "child synced", |x| {
            s(x, "/status/sync/status") == "Synced" && s(x, "/status/health/status") == "Healthy"
        })
        .await;
    }
    let r = argo
        .wait(&mut run, &root, "root synced", |x| {
            s(x, "/status/sync/status") == "Synced"
        })
        .await;
    let kinds: Vec<&str> = r["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(x, "/kind"))
        .collect();
    assert_eq!(kinds, ["Application", "Application"], "{r:#}");
    assert_eq!(cm_value(&ns, "child-a-cm").await.as_deref(), Some("1"));
    assert_eq!(cm_value(&ns, "child-b-cm").await.as_deref(), Some("1"));

    // Update a child (its path) and prune the other, in one commit.
    repo.write("root/a.yaml", &child(&a, "a2")).unwrap();
    repo.remove("root/b.yaml").unwrap();
    let rev = repo.commit_and_push("a → a2, drop b").unwrap();
    argo.wait(
        &mut run,
        &root,
        "root synced at the new revision",
        synced_at(&rev),
    )
    .await;
    argo.wait(&mut run, &a, "child a follows its new path", |x| {
        s(x, "/spec/source/path") == "a2"
            && s(x, "/status/sync/status") == "Synced"
            && s(x, "/status/resources/0/name") == "child-a-cm2"
    })
    .await;
    wait_for("child b pruned", async || {
        argo.get(&b).await.is_none().then_some(())
    })
    .await;
    // The pruned child had the finalizer: its resources went with it; child a pruned its old one.
    wait_for("child resources deleted", async || {
        (cm_value(&ns, "child-b-cm").await.is_none() && cm_value(&ns, "child-a-cm").await.is_none())
            .then_some(())
    })
    .await;
    assert_eq!(cm_value(&ns, "child-a-cm2").await.as_deref(), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_application_is_an_invalid_spec_error_and_never_stops_the_controller() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("bad").unwrap();
    let rev = seed(&repo, &[("good/cm.yaml", config_map("good-cm", "1"))]);
    let argo = Argo::new(&ns);
    let good = unique(ns.name(), "good");
    let both = unique(ns.name(), "both");
    let denied = unique(ns.name(), "denied");
    let proj = unique(ns.name(), "narrow");
    // Accepted by the CRD's schema, refused by Argo CD's rules: both server and name.
    argo.apply(
        &application(&both, ns.name(), &git.url("bad"), "good", "")
            .replace("    namespace: ", "    name: in-cluster\n    namespace: "),
    )
    .await;
    argo.apply(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: {proj}, namespace: {}}}\nspec:\n  sourceRepos: ['*']\n  destinations: [{{server: '*', namespace: 'elsewhere'}}]\n",
        ns.name()
    ))
    .await;
    argo.apply(
        &application(&denied, ns.name(), &git.url("bad"), "good", "")
            .replace("project: default", &format!("project: {proj}")),
    )
    .await;
    argo.apply(&with_policy(
        application(&good, ns.name(), &git.url("bad"), "good", ""),
        "    automated: {}\n",
    ))
    .await;
    // Left alone, as Argo CD leaves an app with skip-reconcile.
    let skipped = unique(ns.name(), "skipped");
    argo.apply(&with_policy(
        application(
            &skipped,
            ns.name(),
            &git.url("bad"),
            "good",
            "  annotations: {argocd.argoproj.io/skip-reconcile: \"true\"}\n",
        ),
        "    automated: {}\n",
    ))
    .await;
    let mut run = Run::start_temp(Mode::Cluster(ns.name()));

    let x = argo
        .wait(&mut run, &both, "InvalidSpecError", |a| {
            condition(a, "InvalidSpecError").is_some()
        })
        .await;
    let msg = s(condition(&x, "InvalidSpecError").unwrap(), "/message");
    assert!(
        msg.contains("spec.destination") && msg.contains("both name and server"),
        "{msg}"
    );
    assert_eq!(s(&x, "/status/sync/status"), "Unknown");
    let d = argo
        .wait(&mut run, &denied, "InvalidSpecError", |a| {
            condition(a, "InvalidSpecError").is_some()
        })
        .await;
    let msg = s(condition(&d, "InvalidSpecError").unwrap(), "/message");
    assert!(msg.contains(ns.name()), "{msg}");
    // Others are unaffected.
    argo.wait(&mut run, &good, "synced", synced_at(&rev)).await;
    assert_eq!(cm_value(&ns, "good-cm").await.as_deref(), Some("1"));
    let x = argo.get(&skipped).await.unwrap();
    assert!(x.get("status").is_none(), "{x:#}");

    // Fixing the spec clears the condition; the app is then compared.
    argo.apply(&application(&both, ns.name(), &git.url("bad"), "good", ""))
        .await;
    argo.wait(&mut run, &both, "valid again", |a| {
        condition(a, "InvalidSpecError").is_none() && s(a, "/status/sync/revision") == rev
    })
    .await;
    run.alive();
}

/// Cluster mode follows Argo CD's settings objects in the control namespace while it runs:
/// `argocd-secret`'s `webhook.github.secret` (an unsigned push gets 401 once it is set, a signed
/// one refreshes the app) and `argocd-cm`'s `kustomize.buildOptions` (`helmCharts` fail without
/// `--enable-helm` and render once it is added).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_secret_webhook_secret_and_argocd_cm_kustomize_build_options() {
    use k8s_openapi::api::core::v1::Secret;
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("settings").unwrap();
    let release = unique(ns.name(), "rel");
    for (p, c) in kustomize_helm_chart("kh", &release, "v1") {
        repo.write(&p, &c).unwrap();
    }
    let rev1 = repo.commit_and_push("seed").unwrap();
    let argo = Argo::new(&ns);
    let app = unique(ns.name(), "kh");
    argo.apply(&with_policy(
        application(&app, ns.name(), &git.url("settings"), "kh", ""),
        "    automated: {prune: true, selfHeal: true}\n",
    ))
    .await;
    let cms = ns.api::<ConfigMap>();
    let pp = PatchParams::apply("kubectl").force();
    let argocd_cm = |opts: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"},
               "data": {"kustomize.buildOptions": opts}})
    };
    cms.patch("argocd-cm", &pp, &Patch::Apply(argocd_cm("")))
        .await
        .unwrap();
    // Polling far beyond the deadline: after the first sync only the webhook refreshes.
    let data = tempfile::tempdir().unwrap();
    let mut run = Run::start_args(
        Mode::Cluster(ns.name()),
        data.path(),
        &["--app-resync", "300s"],
    );
    let a = argo
        .wait(&mut run, &app, "ComparisonError", |a| {
            condition(a, "ComparisonError").is_some()
        })
        .await;
    assert!(
        condition_message(&a, "ComparisonError").contains("--enable-helm"),
        "{a}"
    );
    cms.patch("argocd-cm", &pp, &Patch::Apply(argocd_cm("--enable-helm")))
        .await
        .unwrap();
    argo.wait(&mut run, &app, "Synced once helm is enabled", |a| {
        synced_at(&rev1)(a) && condition(a, "ComparisonError").is_none()
    })
    .await;
    assert_eq!(
        cm_value(&ns, &format!("{release}-web")).await.as_deref(),
        Some("v1")
    );
    // `app diff --local` builds a working copy with the same options (the settings API).
    let local = tempfile::tempdir().unwrap();
    let write_local = |value: &str| {
        for (p, c) in kustomize_helm_chart("kh", &release, value) {
            let path = local.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, c).unwrap();
        }
    };
    let dir = local.path().join("kh");
    let dir = dir.to_str().unwrap();
    write_local("v1");
    let (code, out, err) = run.tether(&["app", "diff", &app, "--local", dir]);
    assert_eq!(code, 0, "{out}{err}");
    write_local("v9");
    let (code, out, err) = run.tether(&["app", "diff", &app, "--local", dir]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("v9"), "{out}");

    let secret = "cluster-wh-s3cret";
    ns.api::<Secret>()
        .patch(
            "argocd-secret",
            &pp,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "argocd-secret"},
                "stringData": {"webhook.github.secret": secret, "admin.password": "x"}})),
        )
        .await
        .unwrap();
    for (p, c) in kustomize_helm_chart("kh", &release, "v2") {
        repo.write(&p, &c).unwrap();
    }
    let rev2 = repo.commit_and_push("v2").unwrap();
    let body = github_push(
        &git.url("settings"),
        &rev1,
        &rev2,
        &["kh/kustomization.yaml"],
    );
    let event = ("X-GitHub-Event", "push");
    // The watch picks the secret up shortly: until then unsigned pushes pass, so wait for 401.
    let start = std::time::Instant::now();
    while run.webhook(&[event], "{}") != 401 {
        assert!(
            start.elapsed() < DEADLINE,
            "argocd-secret not followed:\n{}",
            run.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(run.webhook(&[event], &body), 401);
    let sig = hub_signature(secret, &body);
    assert_eq!(
        run.webhook(&[event, ("X-Hub-Signature-256", &sig)], &body),
        200
    );
    argo.wait(
        &mut run,
        &app,
        "Synced at rev2 after the signed push",
        synced_at(&rev2),
    )
    .await;
    assert_eq!(
        cm_value(&ns, &format!("{release}-web")).await.as_deref(),
        Some("v2")
    );
    assert!(!run.log().contains(secret), "{}", run.log());
}

/// The demo (scripts/demo) as the README runs it: examples/gitops/repo served over Git, the
/// app-of-apps root examples/gitops/root.yaml applied in the control namespace. The root syncs
/// the AppProject and the four example Applications; the automated ones come up Synced and
/// Healthy (sync waves and hooks, a Helm chart, a plain directory), the manual one waits. Then
/// the demo's walkthrough: one push bumps an image and removes an app's file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_root_brings_up_every_example_app() {
    install_crds().await;
    let ns = tether_testenv::namespace().await;
    let git = GitServer::start().unwrap();
    let repo = git.create_repo("demo").unwrap();
    let url = git.url("demo");
    let rev = seed_examples(&repo, &url);
    let root = std::fs::read_to_string(examples_dir().join("gitops/root.yaml")).unwrap();
    assert_eq!(root.matches("namespace: argocd").count(), 2, "{root}");
    let argo = Argo::new(&ns);
    argo.apply(
        &root
            .replace("@REPO@", &url)
            .replace("namespace: argocd", &format!("namespace: {}", ns.name())),
    )
    .await;
    let mut run = Run::start_temp(Mode::Cluster(ns.name()));

    let r = argo
        .wait(&mut run, "demo-root", "root Synced and Healthy", |x| {
            synced_at(&rev)(x) && s(x, "/status/health/status") == "Healthy"
        })
        .await;
    let mut synced: Vec<String> = r["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| format!("{}/{}", s(x, "/kind"), s(x, "/name")))
        .collect();
    synced.sort();
    assert_eq!(
        synced,
        [
            "AppProject/demo",
            "Application/guestbook",
            "Application/hello-helm",
            "Application/kustomize-demo",
            "Application/waves"
        ],
        "{r:#}"
    );
    for name in ["guestbook", "waves", "hello-helm"] {
        argo.wait(&mut run, name, "Synced and Healthy", |x| {
            synced_at(&rev)(x) && s(x, "/status/health/status") == "Healthy"
        })
        .await;
    }
    // The waves app ran its PreSync and PostSync hooks.
    let waves = argo.get("waves").await.unwrap();
    let hooks: Vec<&str> = waves["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["hookType"].as_str())
        .collect();
    assert!(
        hooks.contains(&"PreSync") && hooks.contains(&"PostSync"),
        "{waves:#}"
    );
    // kustomize-demo has no automated policy: compared, not synced.
    let k = argo
        .wait(&mut run, "kustomize-demo", "compared", |x| {
            s(x, "/status/sync/status") == "OutOfSync"
        })
        .await;
    assert_eq!(s(&k, "/status/sourceType"), "Kustomize", "{k:#}");

    // The walkthrough the demo prints: bump the guestbook image and drop an app, in one push.
    let deployment = "guestbook/deployment.yaml";
    let text = std::fs::read_to_string(examples_dir().join("gitops/repo").join(deployment))
        .unwrap()
        .replace("ks-guestbook-demo:0.2", "ks-guestbook-demo:0.3");
    repo.write(deployment, &text).unwrap();
    repo.remove("apps/kustomize-demo.yaml").unwrap();
    let rev2 = repo
        .commit_and_push("bump guestbook, drop kustomize-demo")
        .unwrap();
    argo.wait(
        &mut run,
        "guestbook",
        "Synced at the bump",
        synced_at(&rev2),
    )
    .await;
    wait_for("kustomize-demo pruned by the root", async || {
        argo.get("kustomize-demo").await.is_none().then_some(())
    })
    .await;
    let client = tether_testenv::client().await;
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, "demo-guestbook");
    let image = wait_for("the new image live", async || {
        let d = deployments.get("guestbook-ui").await.ok()?;
        let image = d.spec?.template.spec?.containers[0].image.clone()?;
        image.ends_with(":0.3").then_some(image)
    })
    .await;
    assert_eq!(image, "gcr.io/heptio-images/ks-guestbook-demo:0.3");
}
