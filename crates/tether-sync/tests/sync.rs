//! Syncs against the real API server of the testenv (kube-apiserver, controller-manager, kwok), one
//! namespace per test. Orders are checked from what the API server recorded (resourceVersions, which
//! etcd assigns in commit order) and, for deletions, from the engine's event log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use tether_sync::{
    ApplyMode, CancellationToken, KubeResolver, OperationPhase, SyncEngine, SyncEvent, SyncOptions,
    SyncRequest, SyncResult, SyncSettings,
};

const APP: &str = "app";

type Log = Arc<Mutex<Vec<SyncEvent>>>;

fn engine(client: kube::Client) -> (SyncEngine, Log) {
    engine_with(client, ApplyMode::ServerSide)
}

fn engine_with(client: kube::Client, apply_mode: ApplyMode) -> (SyncEngine, Log) {
    let log: Log = Arc::default();
    let sink = log.clone();
    let engine = SyncEngine::new(client.clone(), Arc::new(KubeResolver::new(client)))
        .with_settings(SyncSettings {
            health_timeout: Duration::from_secs(90),
            poll_interval: Duration::from_millis(200),
            apply_mode,
            ..Default::default()
        })
        .with_progress(Arc::new(move |e| sink.lock().unwrap().push(e.clone())));
    (engine, log)
}

fn cm(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": annotations,
                     "labels": {"app.kubernetes.io/instance": APP}},
        "data": {"name": name}})
}

fn job(name: &str, annotations: Value, spec_extra: Value) -> Value {
    let mut pod_spec = json!({"restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox"}]});
    if let (Some(p), Some(extra)) = (pod_spec.as_object_mut(), spec_extra.as_object()) {
        p.extend(extra.clone());
    }
    let mut meta = json!({"annotations": annotations});
    if let Some(prefix) = name.strip_suffix('-') {
        meta["generateName"] = json!(format!("{prefix}-"));
    } else {
        meta["name"] = json!(name);
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": {"backoffLimit": 0, "template": {"spec": pod_spec}}})
}

/// A Job that never starts (no node matches) and fails when its deadline passes.
fn failing_job(name: &str, annotations: Value) -> Value {
    let mut j = job(
        name,
        annotations,
        json!({"nodeSelector": {"no-such-node": "true"}}),
    );
    j["spec"]["activeDeadlineSeconds"] = json!(2);
    j
}

fn rv<K: kube::Resource>(obj: &K) -> u64 {
    obj.meta()
        .resource_version
        .as_deref()
        .expect("resourceVersion")
        .parse()
        .expect("numeric resourceVersion")
}

fn request(ns: &str, desired: Vec<Value>, live: Vec<Value>) -> SyncRequest {
    let mut r = SyncRequest::new(APP, ns, desired, live);
    r.revision = "0123456789abcdef0123".into();
    r
}

/// Live ConfigMaps of the app in `ns`, as the cluster cache would hand them over.
async fn live_configmaps(api: &Api<ConfigMap>) -> Vec<Value> {
    let list = api
        .list(&ListParams::default().labels("app.kubernetes.io/instance=app"))
        .await
        .expect("list");
    list.items
        .into_iter()
        .map(|mut c| {
            let mut v = serde_json::to_value(&c).unwrap();
            c.metadata.managed_fields = None;
            v["apiVersion"] = json!("v1");
            v["kind"] = json!("ConfigMap");
            v
        })
        .collect()
}

fn assert_phase(result: &SyncResult, phase: OperationPhase) {
    assert_eq!(
        result.phase, phase,
        "message: {}\nresources: {:#?}",
        result.message, result.resources
    );
}

fn events(log: &Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            SyncEvent::Step { phase, wave } => format!("step {phase} {wave}"),
            SyncEvent::Resource(r) => format!(
                "{} {} {} {}",
                r.kind,
                r.name,
                r.status.as_deref().unwrap_or("-"),
                r.hook_phase.as_deref().unwrap_or("-")
            ),
            SyncEvent::HookDeleted(k) => format!("deleted {} {}", k.kind, k.name),
        })
        .collect()
}

fn position(events: &[String], prefix: &str) -> usize {
    events
        .iter()
        .position(|e| e.starts_with(prefix))
        .unwrap_or_else(|| panic!("no event {prefix:?} in {events:#?}"))
}

#[tokio::test]
async fn waves_apply_in_order_and_wait_for_health() {
    let ns = tether_testenv::namespace().await;
    let (engine, log) = engine(ns.client());
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let desired = vec![
        cm("after", json!({"argocd.argoproj.io/sync-wave": "1"})),
        deployment,
        cm("first", json!({"argocd.argoproj.io/sync-wave": "-1"})),
    ];
    let result = engine
        .sync(
            request(ns.name(), desired, vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(result.message, "successfully synced (all tasks run)");

    let cms = ns.api::<ConfigMap>();
    let first = cms.get("first").await.unwrap();
    let after = cms.get("after").await.unwrap();
    let web = ns.api::<Deployment>().get("web").await.unwrap();
    let status = web.status.clone().unwrap_or_default();
    assert_eq!(status.available_replicas, Some(1), "{status:?}");
    // Wave -1 before wave 0; wave 1 only after the Deployment's last change (it became available).
    assert!(rv(&first) < rv(&web));
    assert!(
        rv(&web) < rv(&after),
        "the wave-1 ConfigMap (rv {}) was written before the Deployment became healthy (rv {})",
        rv(&after),
        rv(&web)
    );
    let ev = events(&log);
    assert!(position(&ev, "Deployment web Synced Succeeded") < position(&ev, "step Sync 1"));
    // Server-side apply with field manager `tether`.
    let managers: Vec<(String, String)> = after
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(managers, [("tether".to_owned(), "Apply".to_owned())]);
    let r = result.resource("ConfigMap", "after").unwrap();
    assert_eq!(r.status.as_deref(), Some("Synced"));
    assert_eq!(r.sync_phase.as_deref(), Some("Sync"));
    assert_eq!(
        r.message.as_deref(),
        Some("configmap/after serverside-applied")
    );
}

#[tokio::test]
async fn hooks_run_by_phase_and_obey_delete_policies() {
    let ns = tether_testenv::namespace().await;
    let (engine, log) = engine(ns.client());
    let desired = vec![
        job(
            "migrate-",
            json!({"argocd.argoproj.io/hook": "PreSync",
                   "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}),
            json!({}),
        ),
        job(
            "notify",
            json!({"argocd.argoproj.io/hook": "PostSync"}),
            json!({}),
        ),
        // A Helm hook: pre-install → PreSync, weight → wave, hook-succeeded → HookSucceeded.
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "helm-pre",
            "annotations": {"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "-1",
                            "helm.sh/hook-delete-policy": "hook-succeeded"}}}),
        cm("app-config", json!({})),
    ];
    let result = engine
        .sync(
            request(ns.name(), desired.clone(), vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let ev = events(&log);
    assert!(position(&ev, "step PreSync -1") < position(&ev, "step PreSync 0"));
    assert!(position(&ev, "Job migrate-0123456-presync-") < position(&ev, "step Sync 0"));
    assert!(position(&ev, "ConfigMap app-config Synced") < position(&ev, "step PostSync 0"));
    assert!(position(&ev, "step PostSync 0") < position(&ev, "Job notify Synced Succeeded"));
    assert!(position(&ev, "deleted Job migrate-") > position(&ev, "Job notify Synced Succeeded"));

    let migrate = result
        .resources
        .iter()
        .find(|r| r.name.starts_with("migrate-0123456-presync-"))
        .expect("generated hook name");
    assert_eq!(migrate.hook_type.as_deref(), Some("PreSync"));
    assert_eq!(migrate.hook_phase.as_deref(), Some("Succeeded"));
    let helm = result.resource("ConfigMap", "helm-pre").unwrap();
    assert_eq!(helm.hook_type.as_deref(), Some("PreSync"));

    // HookSucceeded hooks are gone; the PostSync hook (BeforeHookCreation by default) stays, complete,
    // without the hook finalizer.
    let jobs = ns.api::<Job>();
    let left: Vec<String> = jobs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.metadata.deletion_timestamp.is_none())
        .map(|j| j.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["notify"]);
    // Deleted (foreground deletion may leave it a moment with a deletionTimestamp).
    let helm_pre = ns.api::<ConfigMap>().get_opt("helm-pre").await.unwrap();
    assert!(helm_pre.is_none_or(|c| c.metadata.deletion_timestamp.is_some()));
    let notify = jobs.get("notify").await.unwrap();
    assert!(
        notify
            .metadata
            .finalizers
            .clone()
            .unwrap_or_default()
            .is_empty()
    );
    let cm_rv = rv(&ns.api::<ConfigMap>().get("app-config").await.unwrap());
    assert!(rv(&notify) > cm_rv);

    // Synced again: BeforeHookCreation deletes the old PostSync hook and creates it anew.
    let old_uid = notify.metadata.uid.clone();
    let live = vec![serde_json::to_value(&notify).unwrap()];
    let mut live = live;
    live[0]["apiVersion"] = json!("batch/v1");
    live[0]["kind"] = json!("Job");
    let result = engine
        .sync(request(ns.name(), desired, live), &CancellationToken::new())
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let again = jobs.get("notify").await.unwrap();
    assert_ne!(again.metadata.uid, old_uid);
}

#[tokio::test]
async fn a_failing_hook_runs_sync_fail_hooks_and_stops() {
    let ns = tether_testenv::namespace().await;
    let (engine, log) = engine(ns.client());
    let desired = vec![
        failing_job(
            "doomed",
            json!({"argocd.argoproj.io/hook": "PreSync",
                   "argocd.argoproj.io/hook-delete-policy": "HookFailed"}),
        ),
        cm("never", json!({})),
        cm("on-failure", json!({"argocd.argoproj.io/hook": "SyncFail"})),
    ];
    let result = engine
        .sync(
            request(ns.name(), desired, vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Failed);
    assert!(
        result
            .message
            .starts_with("one or more synchronization tasks completed unsuccessfully, reason: "),
        "{}",
        result.message
    );
    let doomed = result.resource("Job", "doomed").unwrap();
    assert_eq!(doomed.hook_phase.as_deref(), Some("Failed"));
    let cms = ns.api::<ConfigMap>();
    assert!(
        cms.get_opt("never").await.unwrap().is_none(),
        "Sync ran after a failed PreSync"
    );
    assert!(
        cms.get_opt("on-failure").await.unwrap().is_some(),
        "SyncFail hook did not run"
    );
    let ev = events(&log);
    assert!(position(&ev, "Job doomed Synced Failed") < position(&ev, "step SyncFail 0"));
    // HookFailed: the failed hook is deleted.
    assert!(position(&ev, "deleted Job doomed") > 0);
    let doomed = ns.api::<Job>().get_opt("doomed").await.unwrap();
    assert!(doomed.is_none_or(|j| j.metadata.deletion_timestamp.is_some()));
}

#[tokio::test]
async fn prune_runs_in_reverse_waves_with_prune_last_and_prune_false() {
    let ns = tether_testenv::namespace().await;
    let (engine, log) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let first = vec![
        cm("keep", json!({})),
        cm("w1", json!({"argocd.argoproj.io/sync-wave": "1"})),
        cm("w2", json!({"argocd.argoproj.io/sync-wave": "2"})),
        cm(
            "last",
            json!({"argocd.argoproj.io/sync-options": "PruneLast=true"}),
        ),
        cm(
            "precious",
            json!({"argocd.argoproj.io/sync-options": "Prune=false"}),
        ),
    ];
    let result = engine
        .sync(request(ns.name(), first, vec![]), &CancellationToken::new())
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    // An object of another app and an untracked one are never candidates: they are not live objects
    // of this app, so the caller does not pass them.
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "untracked"}})).unwrap(),
    )
    .await
    .unwrap();

    let desired = vec![cm("keep", json!({}))];
    // Without prune: reported, not deleted.
    let live = live_configmaps(&cms).await;
    assert_eq!(live.len(), 5);
    let result = engine
        .sync(
            request(ns.name(), desired.clone(), live.clone()),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let w1 = result.resource("ConfigMap", "w1").unwrap();
    assert_eq!(w1.status.as_deref(), Some("PruneSkipped"));
    assert_eq!(w1.message.as_deref(), Some("ignored (requires pruning)"));
    assert!(cms.get_opt("w1").await.unwrap().is_some());

    log.lock().unwrap().clear();
    let mut req = request(ns.name(), desired, live);
    req.prune = true;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    let ev = events(&log);
    let (w2, w1, keep, last) = (
        position(&ev, "ConfigMap w2 Pruned"),
        position(&ev, "ConfigMap w1 Pruned"),
        position(&ev, "ConfigMap keep Synced"),
        position(&ev, "ConfigMap last Pruned"),
    );
    // Prune waves are mirrored (w2's wave 2 is pruned in wave 0, w1 stays in wave 1), prunes run
    // first within their wave, and PruneLast comes after everything else.
    assert!(w2 < keep && keep < w1 && w1 < last, "{ev:#?}");
    let precious = result.resource("ConfigMap", "precious").unwrap();
    assert_eq!(precious.status.as_deref(), Some("PruneSkipped"));
    assert_eq!(precious.message.as_deref(), Some("ignored (no prune)"));
    let mut names: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .map(|c| c.metadata.name.unwrap())
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    names.sort();
    assert_eq!(names, ["keep", "precious", "untracked"]);
}

#[tokio::test]
async fn allow_empty_guard_and_render_errors_prune_nothing() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let result = engine
        .sync(
            request(ns.name(), vec![cm("a", json!({}))], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let live = live_configmaps(&cms).await;

    let mut req = request(ns.name(), vec![], live.clone());
    req.prune = true;
    req.render_error = Some("helm template: parse error".into());
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Error);
    assert!(
        result.message.contains("failed to render"),
        "{}",
        result.message
    );

    let mut req = request(ns.name(), vec![], live.clone());
    req.prune = true;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Failed);
    assert!(result.message.contains("allowEmpty"), "{}", result.message);
    assert!(result.resources.is_empty());
    assert!(cms.get_opt("a").await.unwrap().is_some());

    let mut req = request(ns.name(), vec![], live);
    req.prune = true;
    req.allow_empty = true;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(
        result.resource("ConfigMap", "a").unwrap().status.as_deref(),
        Some("Pruned")
    );
}

#[tokio::test]
async fn a_dry_run_failure_applies_nothing() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let mut bad = cm("bad", json!({"argocd.argoproj.io/sync-wave": "5"}));
    bad["data"] = json!({"key": {"not": "a string"}});
    let desired = vec![cm("good", json!({})), bad];
    let result = engine
        .sync(
            request(ns.name(), desired, vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Failed);
    assert_eq!(
        result.message,
        "one or more objects failed to apply (dry run)"
    );
    let bad = result.resource("ConfigMap", "bad").unwrap();
    assert_eq!(bad.status.as_deref(), Some("SyncFailed"));
    assert!(!bad.message.as_deref().unwrap_or_default().is_empty());
    assert!(result.resource("ConfigMap", "good").is_none());
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("good")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn create_namespace_with_managed_metadata() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let dest = format!("{}-dest", ns.name());
    let mut req = request(&dest, vec![cm("inside", json!({}))], vec![]);
    req.options = SyncOptions::parse(["CreateNamespace=true"]).unwrap();
    req.managed_namespace_metadata = Some(tether_model::source::ManagedNamespaceMetadata {
        labels: [("team".to_owned(), "blue".to_owned())].into(),
        annotations: Default::default(),
    });
    let result = engine.sync(req, &CancellationToken::new()).await;
    let namespaces: Api<Namespace> = Api::all(ns.client());
    let created = namespaces.get_opt(&dest).await.unwrap();
    let inside = Api::<ConfigMap>::namespaced(ns.client(), &dest)
        .get_opt("inside")
        .await
        .unwrap();
    let _ = namespaces.delete(&dest, &DeleteParams::background()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    let created = created.expect("namespace created");
    assert_eq!(
        created
            .metadata
            .labels
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("blue")
    );
    assert!(inside.is_some());
    let r = result.resource("Namespace", &dest).unwrap();
    assert_eq!(r.sync_phase.as_deref(), Some("PreSync"));
    assert_eq!(
        r.message.as_deref(),
        Some(format!("namespace/{dest} created").as_str())
    );
}

#[tokio::test]
async fn replace_and_force_recreate() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let result = engine
        .sync(
            request(ns.name(), vec![cm("r", json!({}))], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let mut replaced = cm(
        "r",
        json!({"argocd.argoproj.io/sync-options": "Replace=true"}),
    );
    replaced["data"] = json!({"new": "value"});
    let result = engine
        .sync(
            request(ns.name(), vec![replaced], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(
        result
            .resource("ConfigMap", "r")
            .unwrap()
            .message
            .as_deref(),
        Some("configmap/r replaced")
    );
    let live = cms.get("r").await.unwrap();
    // PUT replaces the whole object: the old key is gone, the write is an Update.
    assert_eq!(live.data.unwrap().into_keys().collect::<Vec<_>>(), ["new"]);
    let ops: Vec<String> = live
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            format!(
                "{}:{}",
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default()
            )
        })
        .collect();
    assert!(ops.contains(&"tether:Update".to_owned()), "{ops:?}");

    // A Job's template is immutable: Force=true deletes and recreates it.
    let jobs = ns.api::<Job>();
    let j1 = job("once", json!({}), json!({}));
    let result = engine
        .sync(
            request(ns.name(), vec![j1], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let uid = jobs.get("once").await.unwrap().metadata.uid;
    let mut j2 = job(
        "once",
        json!({"argocd.argoproj.io/sync-options": "Force=true,Replace=true"}),
        json!({}),
    );
    j2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:1.36");
    let result = engine
        .sync(
            request(ns.name(), vec![j2], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let again = jobs.get("once").await.unwrap();
    assert_ne!(again.metadata.uid, uid);
    assert_eq!(
        again.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("busybox:1.36")
    );
}

#[tokio::test]
async fn crd_and_custom_resource_in_one_sync() {
    let ns = tether_testenv::namespace().await;
    let (engine, log) = engine(ns.client());
    let group = format!("{}.example.com", ns.name());
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let widget = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 3}});
    let result = engine
        .sync(
            request(ns.name(), vec![widget, crd], vec![]),
            &CancellationToken::new(),
        )
        .await;
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client());
    let _ = crds
        .delete(&format!("widgets.{group}"), &DeleteParams::background())
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let ev = events(&log);
    assert!(position(&ev, "CustomResourceDefinition") < position(&ev, "Widget w Synced"));
    assert_eq!(result.resource("Widget", "w").unwrap().namespace, ns.name());
}

#[tokio::test]
async fn unknown_kinds_fail_unless_skip_dry_run_on_missing_resource() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let thing =
        json!({"apiVersion": "nowhere.example.com/v1", "kind": "Thing", "metadata": {"name": "t"}});
    let result = engine
        .sync(
            request(ns.name(), vec![cm("a", json!({})), thing.clone()], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Failed);
    assert_eq!(
        result.message,
        "one or more synchronization tasks are not valid"
    );
    assert!(ns.api::<ConfigMap>().get_opt("a").await.unwrap().is_none());

    // With SkipDryRunOnMissingResource the dry run passes and the apply itself fails.
    let mut req = request(ns.name(), vec![cm("a", json!({})), thing], vec![]);
    req.options = SyncOptions::parse(["SkipDryRunOnMissingResource=true"]).unwrap();
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Failed);
    assert!(
        result
            .message
            .starts_with("one or more objects failed to apply, reason: the server could not find"),
        "{}",
        result.message
    );
    assert!(ns.api::<ConfigMap>().get_opt("a").await.unwrap().is_some());
}

#[tokio::test]
async fn fail_on_shared_resource_and_apply_out_of_sync_only() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let mut other = cm(
        "shared",
        json!({"argocd.argoproj.io/tracking-id": "other:/ConfigMap:x/shared"}),
    );
    other["metadata"]["namespace"] = json!(ns.name());
    let result = engine
        .sync(
            request(ns.name(), vec![other.clone()], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let live = vec![serde_json::to_value(cms.get("shared").await.unwrap()).unwrap()];
    let mut live = live;
    live[0]["apiVersion"] = json!("v1");
    live[0]["kind"] = json!("ConfigMap");

    let mut mine = cm("shared", json!({}));
    mine["data"] = json!({"owner": "app"});
    let mut req = request(ns.name(), vec![mine.clone()], live.clone());
    req.options = SyncOptions::parse(["FailOnSharedResource=true"]).unwrap();
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Failed);
    assert_eq!(
        result
            .resource("ConfigMap", "shared")
            .unwrap()
            .message
            .as_deref(),
        Some("ConfigMap/shared is part of applications app and other")
    );
    assert_eq!(
        cms.get("shared")
            .await
            .unwrap()
            .data
            .unwrap()
            .get("name")
            .map(String::as_str),
        Some("shared")
    );

    // ApplyOutOfSyncOnly: a resource the comparison found in sync is not applied.
    let mut req = request(
        ns.name(),
        vec![mine.clone(), cm("new", json!({}))],
        live.clone(),
    );
    req.options = SyncOptions::parse(["ApplyOutOfSyncOnly=true"]).unwrap();
    req.modified
        .insert(tether_sync::ResourceKey::of(&live[0]), false);
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert!(result.resource("ConfigMap", "shared").is_none());
    let data = cms.get("shared").await.unwrap().data.unwrap();
    assert!(!data.contains_key("owner"), "{data:?}");
    assert!(cms.get_opt("new").await.unwrap().is_some());
}

#[tokio::test]
async fn terminate_deletes_running_hooks() {
    let ns = tether_testenv::namespace().await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let client = ns.client();
    let engine = SyncEngine::new(client.clone(), Arc::new(KubeResolver::new(client)))
        .with_settings(SyncSettings {
            poll_interval: Duration::from_millis(200),
            ..Default::default()
        })
        .with_progress(Arc::new(move |e| {
            if let SyncEvent::Resource(r) = e
                && r.name == "stuck"
                && r.hook_phase.as_deref() == Some("Running")
            {
                trigger.cancel();
            }
        }));
    let mut stuck = job(
        "stuck",
        json!({"argocd.argoproj.io/hook": "PreSync"}),
        json!({"nodeSelector": {"no-such-node": "true"}}),
    );
    stuck["spec"]["activeDeadlineSeconds"] = json!(3600);
    let result = engine
        .sync(
            request(ns.name(), vec![stuck, cm("c", json!({}))], vec![]),
            &cancel,
        )
        .await;
    assert_phase(&result, OperationPhase::Failed);
    assert_eq!(result.message, "Operation terminated");
    assert_eq!(
        result.resource("Job", "stuck").unwrap().message.as_deref(),
        Some("Terminated")
    );
    assert!(ns.api::<Job>().get_opt("stuck").await.unwrap().is_none());
    assert!(ns.api::<ConfigMap>().get_opt("c").await.unwrap().is_none());
}

#[tokio::test]
async fn validate_false_skips_field_validation() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let mut odd = cm("odd", json!({}));
    odd["bogus"] = json!(1);
    let result = engine
        .sync(
            request(ns.name(), vec![odd.clone()], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Failed);
    let msg = result.resource("ConfigMap", "odd").unwrap().message.clone();
    assert!(
        msg.as_deref().unwrap_or_default().contains("bogus"),
        "{msg:?}"
    );
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("odd")
            .await
            .unwrap()
            .is_none()
    );

    odd["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-options": "Validate=false"});
    let result = engine
        .sync(
            request(ns.name(), vec![odd], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("odd")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn prune_propagation_policy_orphan_keeps_dependents() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
    let result = engine
        .sync(
            request(ns.name(), vec![deployment], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(
        result.resource("Deployment", "web").unwrap().images,
        ["nginx:1.27"]
    );
    let deployments = ns.api::<Deployment>();
    let replica_sets = ns.api::<ReplicaSet>();
    // The controller-manager creates the ReplicaSet.
    let mut tries = 0;
    while replica_sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty()
    {
        tries += 1;
        assert!(tries < 300, "no ReplicaSet was created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut live = serde_json::to_value(deployments.get("web").await.unwrap()).unwrap();
    live["apiVersion"] = json!("apps/v1");
    live["kind"] = json!("Deployment");
    let mut req = request(ns.name(), vec![cm("other", json!({}))], vec![live]);
    req.prune = true;
    req.options = SyncOptions::parse(["PrunePropagationPolicy=orphan"]).unwrap();
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(
        result
            .resource("Deployment", "web")
            .unwrap()
            .status
            .as_deref(),
        Some("Pruned")
    );
    let mut tries = 0;
    while deployments.get_opt("web").await.unwrap().is_some() {
        tries += 1;
        assert!(tries < 300, "the Deployment was not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let orphans = replica_sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(orphans.len(), 1, "the ReplicaSet was not orphaned");
    assert!(orphans[0].metadata.deletion_timestamp.is_none());
    assert!(
        orphans[0]
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn a_dry_run_operation_changes_nothing() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let result = engine
        .sync(
            request(ns.name(), vec![cm("old", json!({}))], vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let live = live_configmaps(&cms).await;
    let mut req = request(ns.name(), vec![cm("new", json!({}))], live);
    req.prune = true;
    req.dry_run = true;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(
        result
            .resource("ConfigMap", "new")
            .unwrap()
            .message
            .as_deref(),
        Some("configmap/new serverside-applied (dry run)")
    );
    assert_eq!(
        result
            .resource("ConfigMap", "old")
            .unwrap()
            .message
            .as_deref(),
        Some("pruned (dry run)")
    );
    assert!(cms.get_opt("new").await.unwrap().is_none());
    assert!(cms.get_opt("old").await.unwrap().is_some());
}

fn managers<K: kube::Resource>(obj: &K) -> Vec<String> {
    obj.meta()
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            format!(
                "{}:{}",
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default()
            )
        })
        .collect()
}

fn message(result: &SyncResult, name: &str) -> String {
    result
        .resource("ConfigMap", name)
        .and_then(|r| r.message.clone())
        .unwrap_or_default()
}

/// A hand edit (`kubectl edit` is a merge patch by field manager `kubectl-edit`).
async fn hand_edit(api: &Api<ConfigMap>, name: &str, patch: Value) {
    api.patch(
        name,
        &kube::api::PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .expect("hand edit");
}

#[tokio::test]
async fn server_side_apply_forces_conflicts_and_keeps_other_managers_fields() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let opts = SyncOptions::parse(["ServerSideApply=true"]).unwrap();
    let mut desired = cm("ssa", json!({}));
    desired["data"] = json!({"a": "1", "b": "2"});
    let mut req = request(ns.name(), vec![desired.clone()], vec![]);
    req.options = opts.clone();
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(message(&result, "ssa"), "configmap/ssa serverside-applied");

    // Someone changes a field Tether owns and adds one of their own.
    hand_edit(&cms, "ssa", json!({"data": {"a": "changed", "c": "hand"}})).await;
    desired["data"] = json!({"a": "1"});
    let mut req = request(ns.name(), vec![desired], vec![]);
    req.options = opts;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    let live = cms.get("ssa").await.unwrap();
    // The conflict on `a` is forced back; `b` (Tether's, no longer desired) is removed; `c`
    // (kubectl-edit's) stays. No last-applied annotation.
    let data = live.data.clone().unwrap();
    assert_eq!(
        data.into_iter().collect::<Vec<_>>(),
        [("a".into(), "1".into()), ("c".into(), "hand".into())]
    );
    assert!(
        !live
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .contains_key(tether_sync::csa::LAST_APPLIED)
    );
    let m = managers(&live);
    assert!(m.contains(&"tether:Apply".to_owned()), "{m:?}");
}

#[tokio::test]
async fn client_side_apply_merges_three_ways_with_last_applied() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let csa = SyncOptions::parse(["ServerSideApply=false"]).unwrap();
    let mut desired = cm("csa", json!({}));
    desired["metadata"]["labels"]["drop-me"] = json!("x");
    desired["data"] = json!({"a": "1", "b": "2"});
    let mut req = request(ns.name(), vec![desired.clone()], vec![]);
    req.options = csa.clone();
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(message(&result, "csa"), "configmap/csa created");
    let live = cms.get("csa").await.unwrap();
    let recorded: Value = serde_json::from_str(
        &live.metadata.annotations.clone().unwrap()[tether_sync::csa::LAST_APPLIED],
    )
    .unwrap();
    assert_eq!(recorded["data"], json!({"a": "1", "b": "2"}));
    assert_eq!(recorded["metadata"]["labels"]["drop-me"], json!("x"));
    assert_eq!(managers(&live), ["tether:Update"]);

    // A hand edit changes an applied field and adds a key and a label nobody applied.
    hand_edit(
        &cms,
        "csa",
        json!({"metadata": {"labels": {"by-hand": "yes"}}, "data": {"a": "changed", "c": "hand"}}),
    )
    .await;
    // The next configuration drops `b` and the label `drop-me`.
    desired["data"] = json!({"a": "1"});
    desired["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("drop-me");
    let mut req = request(ns.name(), vec![desired.clone()], vec![]);
    req.options = csa.clone();
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(message(&result, "csa"), "configmap/csa configured");
    let live = cms.get("csa").await.unwrap();
    // As kubectl apply: `a` set back, `b` and `drop-me` deleted (they were in last-applied),
    // `c` and `by-hand` kept (they never were).
    assert_eq!(
        live.data.clone().unwrap().into_iter().collect::<Vec<_>>(),
        [("a".into(), "1".into()), ("c".into(), "hand".into())]
    );
    let labels = live.metadata.labels.clone().unwrap();
    assert!(!labels.contains_key("drop-me"), "{labels:?}");
    assert_eq!(labels.get("by-hand").map(String::as_str), Some("yes"));
    let recorded: Value = serde_json::from_str(
        &live.metadata.annotations.clone().unwrap()[tether_sync::csa::LAST_APPLIED],
    )
    .unwrap();
    assert_eq!(recorded["data"], json!({"a": "1"}));

    // Nothing to change: no request, the object is untouched.
    let mut req = request(ns.name(), vec![desired], vec![]);
    req.options = csa;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(message(&result, "csa"), "configmap/csa unchanged");
    assert_eq!(rv(&cms.get("csa").await.unwrap()), rv(&live));

    // Client-side as the engine's default (Argo CD's); `ServerSideApply=true` on a resource wins.
    let (engine, _) = engine_with(ns.client(), ApplyMode::ClientSide);
    let result = engine
        .sync(
            request(
                ns.name(),
                vec![
                    cm("default-csa", json!({})),
                    cm(
                        "forced-ssa",
                        json!({"argocd.argoproj.io/sync-options": "ServerSideApply=true"}),
                    ),
                ],
                vec![],
            ),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(
        message(&result, "default-csa"),
        "configmap/default-csa created"
    );
    assert_eq!(
        message(&result, "forced-ssa"),
        "configmap/forced-ssa serverside-applied"
    );
    assert_eq!(
        managers(&cms.get("forced-ssa").await.unwrap()),
        ["tether:Apply"]
    );
}

/// Waits until the cache holds ConfigMap `ns/name` at resourceVersion `rv` or later.
async fn wait_cached(cache: &tether_cluster::ClusterCache, ns: &str, name: &str, rv: u64) {
    for _ in 0..1200 {
        let seen = cache
            .get("", "ConfigMap", ns, name)
            .and_then(|o| o.resource_version().parse::<u64>().ok());
        if seen.is_some_and(|s| s >= rv) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cache never saw {ns}/{name} at rv {rv}");
}

/// What the controller does: compare through the cache, sync what compare hands back (with
/// RespectIgnoreDifferences), and wait until the cache has seen the result. Returns the comparison
/// made before the sync.
async fn compare_and_sync(
    cache: &tether_cluster::ClusterCache,
    target: &tether_cluster::CompareTarget,
    health: &tether_health::HealthChecker,
    engine: &SyncEngine,
    cms: &Api<ConfigMap>,
    desired: Vec<Value>,
) -> tether_cluster::ComparisonResult {
    let cmp = cache.compare(desired, target, health).await.unwrap();
    let objs: Vec<Value> = cmp
        .resources
        .iter()
        .filter_map(|r| r.desired.clone())
        .collect();
    let mut req = request(&target.destination_namespace, objs, vec![]);
    req.options = SyncOptions::parse(["RespectIgnoreDifferences=true"]).unwrap();
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    let rv = rv(&cms.get("settings").await.unwrap());
    wait_cached(cache, &target.destination_namespace, "settings", rv).await;
    cmp
}

/// The loop the controller runs, on the real cluster: the shared cache's comparison finds a hand
/// edit and names its manager, the sync reverts it, and a field under `ignoreDifferences` with
/// `RespectIgnoreDifferences=true` is neither reported nor reverted.
#[tokio::test]
async fn a_hand_edit_is_attributed_then_reverted_by_sync() {
    use tether_cluster::{CacheSettings, ClusterCache, CompareTarget, WatchScope};
    use tether_health::{HealthChecker, LuaOverrides};
    use tether_model::application::SyncStatusCode;

    let ns = tether_testenv::namespace().await;
    let n = ns.name();
    let app = format!("drift-{n}");
    let cache = ClusterCache::start(
        ns.client(),
        CacheSettings {
            scope: WatchScope::Kinds(vec![("".into(), "ConfigMap".into())]),
            ..CacheSettings::default()
        },
    )
    .await
    .unwrap();
    cache.wait_synced(Duration::from_secs(60)).await.unwrap();
    let health = HealthChecker::new(LuaOverrides::new());
    let mut target = CompareTarget::new(&app, n);
    target.ignore_differences = serde_json::from_value(json!([
        {"kind": "ConfigMap", "jsonPointers": ["/data/replicas"]}
    ]))
    .unwrap();
    target.respect_ignore_differences = true;
    let desired = || {
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"mode": "prod", "replicas": "2"}}),
        ]
    };
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();

    compare_and_sync(&cache, &target, &health, &engine, &cms, desired()).await;
    let synced = cache.compare(desired(), &target, &health).await.unwrap();
    assert_eq!(synced.sync_status, SyncStatusCode::Synced);

    // Hand edits: one applied field, one ignored field.
    hand_edit(
        &cms,
        "settings",
        json!({"data": {"mode": "debug", "replicas": "5"}}),
    )
    .await;
    let edited = rv(&cms.get("settings").await.unwrap());
    wait_cached(&cache, n, "settings", edited).await;
    let drifted = compare_and_sync(&cache, &target, &health, &engine, &cms, desired()).await;
    assert_eq!(drifted.sync_status, SyncStatusCode::OutOfSync);
    let r = &drifted.resources[0];
    let changes: Vec<(String, String)> = r
        .diff
        .changes
        .iter()
        .map(|c| {
            (
                c.path.clone(),
                c.owner
                    .as_ref()
                    .map(|o| o.manager.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [("/data/mode".to_owned(), "kubectl-edit".to_owned())]
    );

    let live = cms.get("settings").await.unwrap().data.unwrap();
    assert_eq!(live["mode"], "prod", "the sync reverted the hand edit");
    assert_eq!(
        live["replicas"], "5",
        "the ignored field kept its live value"
    );
    let after = cache.compare(desired(), &target, &health).await.unwrap();
    assert_eq!(after.sync_status, SyncStatusCode::Synced);
}

/// The dry run passes (the quota does not exist yet); wave 0 creates a ResourceQuota that
/// allows no more ConfigMaps, so the API server rejects wave 1's ConfigMap and wave 2 never runs.
/// The quota allows none at all: with "1", wave 1's ConfigMap got in whenever the quota
/// controller counted the namespace before `kube-root-ca.crt` was published into it.
#[tokio::test]
async fn an_object_rejected_mid_wave_fails_the_sync_and_stops_later_waves() {
    let ns = tether_testenv::namespace().await;
    let (engine, log) = engine(ns.client());
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "no-more-configmaps", "annotations": {"argocd.argoproj.io/sync-wave": "0"}},
        "spec": {"hard": {"configmaps": "0"}}});
    let desired = vec![
        quota,
        cm("rejected", json!({"argocd.argoproj.io/sync-wave": "1"})),
        cm("never", json!({"argocd.argoproj.io/sync-wave": "2"})),
    ];
    let result = engine
        .sync(
            request(ns.name(), desired, vec![]),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Failed);
    let rejected = result.resource("ConfigMap", "rejected").unwrap();
    assert_eq!(rejected.status.as_deref(), Some("SyncFailed"));
    let m = rejected.message.clone().unwrap_or_default();
    // The API server's own words (quota admission), e.g. "configmaps \"rejected\" is forbidden:
    // exceeded quota: no-more-configmaps, ...".
    assert!(
        m.contains("is forbidden") && m.contains("no-more-configmaps"),
        "{m}"
    );
    assert!(result.message.contains(&m), "{}", result.message);
    assert!(result.resource("ConfigMap", "never").is_none());
    assert!(!events(&log).iter().any(|e| e == "step Sync 2"));
    let cms = ns.api::<ConfigMap>();
    assert!(cms.get_opt("rejected").await.unwrap().is_none());
    assert!(cms.get_opt("never").await.unwrap().is_none());
}

#[tokio::test]
async fn prune_confirm_waits_for_confirmation() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let first = vec![
        cm("keep", json!({})),
        cm(
            "doomed",
            json!({"argocd.argoproj.io/sync-options": "Prune=confirm"}),
        ),
    ];
    let result = engine
        .sync(request(ns.name(), first, vec![]), &CancellationToken::new())
        .await;
    assert_phase(&result, OperationPhase::Succeeded);

    let desired = vec![cm("keep", json!({}))];
    let live = live_configmaps(&cms).await;
    let mut req = request(ns.name(), desired.clone(), live.clone());
    req.prune = true;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Running);
    assert_eq!(
        result.message,
        "Waiting for pruning confirmation of v1/ConfigMap/doomed"
    );
    assert!(cms.get_opt("doomed").await.unwrap().is_some());

    let mut req = request(ns.name(), desired, live);
    req.prune = true;
    req.prune_confirmed = true;
    let result = engine.sync(req, &CancellationToken::new()).await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(
        result
            .resource("ConfigMap", "doomed")
            .and_then(|r| r.status.clone())
            .as_deref(),
        Some("Pruned")
    );
    let gone = cms
        .get_opt("doomed")
        .await
        .unwrap()
        .is_none_or(|c| c.metadata.deletion_timestamp.is_some());
    assert!(gone);
}

/// With the cluster cache attached, a step waiting for its Deployment to become available wakes
/// on the cache's watch events: the poll interval here is ten minutes, and the sync is given two.
#[tokio::test]
async fn health_waits_wake_on_watch_events() {
    use tether_cluster::{CacheSettings, ClusterCache, WatchScope};

    let ns = tether_testenv::namespace().await;
    let cache = ClusterCache::start(
        ns.client(),
        CacheSettings {
            scope: WatchScope::Kinds(vec![
                ("apps".into(), "Deployment".into()),
                ("".into(), "ConfigMap".into()),
            ]),
            ..CacheSettings::default()
        },
    )
    .await
    .unwrap();
    cache.wait_synced(Duration::from_secs(60)).await.unwrap();
    let engine = SyncEngine::new(ns.client(), Arc::new(KubeResolver::new(ns.client())))
        .with_settings(SyncSettings {
            health_timeout: Duration::from_secs(90),
            poll_interval: Duration::from_secs(600),
            ..Default::default()
        })
        .with_cache(cache);
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let desired = vec![
        deployment,
        cm("after", json!({"argocd.argoproj.io/sync-wave": "1"})),
    ];
    let result = tokio::time::timeout(
        Duration::from_secs(120),
        engine.sync(
            request(ns.name(), desired, vec![]),
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("the wait did not wake on the Deployment's watch events");
    assert_phase(&result, OperationPhase::Succeeded);
    let web = ns.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(web.status.unwrap_or_default().available_replicas, Some(1));
}

#[tokio::test]
async fn client_side_apply_migration_lets_server_side_apply_remove_fields() {
    let ns = tether_testenv::namespace().await;
    let (engine, _) = engine(ns.client());
    let cms = ns.api::<ConfigMap>();
    let with = |name: &str, data: Value, options: &str| {
        let mut c = cm(name, json!({"argocd.argoproj.io/sync-options": options}));
        c["data"] = data;
        c
    };
    // Applied client-side first.
    let result = engine
        .sync(
            request(
                ns.name(),
                vec![
                    with("mig", json!({"a": "1", "b": "2"}), "ServerSideApply=false"),
                    with(
                        "nomig",
                        json!({"a": "1", "b": "2"}),
                        "ServerSideApply=false",
                    ),
                ],
                vec![],
            ),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    assert_eq!(managers(&cms.get("mig").await.unwrap()), ["tether:Update"]);

    // Then server-side, without `b`; the live objects carry their managedFields (the cache keeps them).
    let mut live = Vec::new();
    for n in ["mig", "nomig"] {
        let mut v = serde_json::to_value(cms.get(n).await.unwrap()).unwrap();
        v["apiVersion"] = json!("v1");
        v["kind"] = json!("ConfigMap");
        live.push(v);
    }
    let result = engine
        .sync(
            request(
                ns.name(),
                vec![
                    with("mig", json!({"a": "1"}), "ServerSideApply=true"),
                    with(
                        "nomig",
                        json!({"a": "1"}),
                        "ServerSideApply=true,ClientSideApplyMigration=false",
                    ),
                ],
                live,
            ),
            &CancellationToken::new(),
        )
        .await;
    assert_phase(&result, OperationPhase::Succeeded);
    let mig = cms.get("mig").await.unwrap();
    assert_eq!(
        mig.data.clone().unwrap().into_keys().collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(managers(&mig), ["tether:Apply"]);
    // Without the migration the client-side entry still owns `b`: SSA leaves it.
    let nomig = cms.get("nomig").await.unwrap();
    assert_eq!(
        nomig.data.clone().unwrap().into_keys().collect::<Vec<_>>(),
        ["a", "b"]
    );
}
