//! The cluster cache and the comparison against the real kube-apiserver of the testenv. One
//! control plane for this binary; each test has its own namespace (and app names derived from
//! it, since the cache sees the whole cluster).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tether_cluster::{
    ApiResources, CacheEvent, CacheSettings, ClusterCache, CompareTarget, ResourceFilter, Tracking,
    TrackingMethod, WatchScope,
};
use tether_health::{HealthChecker, LuaOverrides};
use tether_model::annotations::{INSTANCE_LABEL, TRACKING_ID};
use tether_model::application::{HealthStatusCode, SyncStatusCode};
use tether_model::resource::ResourceKey;

const WAIT: Duration = Duration::from_secs(60);

fn kinds(list: &[(&str, &str)]) -> WatchScope {
    WatchScope::Kinds(
        list.iter()
            .map(|(g, k)| (g.to_string(), k.to_string()))
            .collect(),
    )
}

async fn start(settings: CacheSettings) -> Result<ClusterCache> {
    let cache = ClusterCache::start(tether_testenv::client().await, settings).await?;
    cache.wait_synced(WAIT).await?;
    Ok(cache)
}

/// Polls `f` until it returns `Some`, failing after [`WAIT`] with `what`.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the cache holds this object at least at `resource_version`.
async fn cached_at(
    cache: &ClusterCache,
    key: (&str, &str, &str, &str),
    resource_version: &str,
) -> Result<Value> {
    let (g, k, ns, n) = key;
    eventually(&format!("{g}/{k} {ns}/{n} at {resource_version}"), || {
        cache
            .get(g, k, ns, n)
            .filter(|o| at_least(o.resource_version(), resource_version))
            .map(|o| o.value())
    })
    .await
}

/// Whether `rv` is `min` or newer. resourceVersions are opaque to clients, but the API server
/// backed by etcd hands out increasing integers; the test relies on that (controllers may update
/// an object again before the cache is looked at).
fn at_least(rv: &str, min: &str) -> bool {
    match (rv.parse::<u64>(), min.parse::<u64>()) {
        (Ok(a), Ok(b)) => a >= b,
        _ => rv == min,
    }
}

async fn apply<K>(api: &Api<K>, obj: Value) -> Result<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = obj["metadata"]["name"]
        .as_str()
        .context("test object without name")?
        .to_owned();
    Ok(api
        .patch(
            &name,
            &PatchParams::apply("tether-test").force(),
            &Patch::Apply(&obj),
        )
        .await?)
}

fn tracked_cm(app: &str, ns: &str, name: &str, tracking_name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns,
                        "annotations": {TRACKING_ID: format!("{app}:/ConfigMap:{ns}/{tracking_name}")}},
           "data": {"k": "v"}})
}

#[tokio::test]
async fn discovery_knows_scope_versions_verbs_and_subresources() -> Result<()> {
    let client = tether_testenv::client().await;
    let api = ApiResources::discover(&client).await?;
    let deploy = api.preferred("apps", "Deployment").context("Deployment")?;
    assert_eq!(deploy.resource.version, "v1");
    assert_eq!(deploy.resource.plural, "deployments");
    assert!(deploy.namespaced);
    assert!(deploy.is_watchable() && deploy.supports("patch"));
    for sub in ["status", "scale"] {
        assert!(deploy.subresources.iter().any(|s| s == sub), "{sub}");
    }
    let ns = api.preferred("", "Namespace").context("Namespace")?;
    assert!(!ns.namespaced);
    let gvk = GroupVersionKind::gvk("batch", "v1", "CronJob");
    assert_eq!(
        api.resolve(&gvk).map(|i| i.resource.plural.as_str()),
        Some("cronjobs")
    );
    assert!(api.preferred("example.com", "Nothing").is_none());
    assert_eq!(
        api.is_namespaced("rbac.authorization.k8s.io", "ClusterRole"),
        Some(false)
    );
    Ok(())
}

#[tokio::test]
async fn cache_sees_create_update_and_delete() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let cache = start(CacheSettings {
        scope: kinds(&[("", "ConfigMap")]),
        ..CacheSettings::default()
    })
    .await?;
    let mut events = cache.subscribe();
    let cms: Api<ConfigMap> = ns.api();
    let app = format!("app-{}", ns.name());
    let mut obj = tracked_cm(&app, ns.name(), "settings", "settings");
    obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!("{\"secret\": \"big\"}");
    let created = apply(&cms, obj.clone()).await?;
    let rv = created.resource_version().context("rv")?;
    let cached = cached_at(&cache, ("", "ConfigMap", ns.name(), "settings"), &rv).await?;
    assert_eq!(cached["data"]["k"], "v");
    assert_eq!(cached["apiVersion"], "v1");
    // managedFields kept (the diff needs them), last-applied dropped.
    assert_eq!(
        cached["metadata"]["managedFields"][0]["manager"],
        "tether-test"
    );
    assert!(
        cached["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    assert_eq!(
        cache
            .app_objects(&app)
            .iter()
            .map(|o| o.name().to_owned())
            .collect::<Vec<_>>(),
        ["settings"]
    );

    obj["data"]["k"] = json!("changed");
    let updated = apply(&cms, obj).await?;
    let rv = updated.resource_version().context("rv")?;
    let cached = cached_at(&cache, ("", "ConfigMap", ns.name(), "settings"), &rv).await?;
    assert_eq!(cached["data"]["k"], "changed");

    cms.delete("settings", &DeleteParams::default()).await?;
    eventually("the delete", || {
        cache
            .get("", "ConfigMap", ns.name(), "settings")
            .is_none()
            .then_some(())
    })
    .await?;
    assert!(cache.app_objects(&app).is_empty());

    // The same three changes came as events, in order.
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        match e {
            // Only "settings": the controller-manager publishes kube-root-ca.crt
            // into the fresh namespace at a time of its choosing.
            CacheEvent::Applied { object, .. }
                if object.namespace() == ns.name() && object.name() == "settings" =>
            {
                seen.push(format!("applied {}", object.value()["data"]["k"]))
            }
            CacheEvent::Deleted(o) if o.namespace() == ns.name() && o.name() == "settings" => {
                seen.push(format!("deleted {}", o.name()))
            }
            _ => {}
        }
    }
    assert_eq!(
        seen,
        ["applied \"v\"", "applied \"changed\"", "deleted settings"]
    );
    Ok(())
}

#[tokio::test]
async fn managed_fields_are_kept_unless_stripped() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let cache = start(CacheSettings {
        scope: kinds(&[("", "ConfigMap")]),
        ..CacheSettings::default()
    })
    .await?;
    let stripping = start(CacheSettings {
        scope: kinds(&[("", "ConfigMap")]),
        keep_managed_fields: false,
        ..CacheSettings::default()
    })
    .await?;
    let cms: Api<ConfigMap> = ns.api();
    let created = apply(&cms, tracked_cm("x", ns.name(), "mf", "mf")).await?;
    let cached = cached_at(
        &cache,
        ("", "ConfigMap", ns.name(), "mf"),
        &created.resource_version().context("rv")?,
    )
    .await?;
    let managers: Vec<&str> = cached["metadata"]["managedFields"]
        .as_array()
        .context("managedFields kept")?
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["tether-test"]);
    let stripped = cached_at(
        &stripping,
        ("", "ConfigMap", ns.name(), "mf"),
        &created.resource_version().context("rv")?,
    )
    .await?;
    assert!(stripped["metadata"].get("managedFields").is_none());
    Ok(())
}

#[tokio::test]
async fn a_crd_created_at_runtime_is_discovered_and_watched() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let cache = start(CacheSettings::default()).await?;
    let group = format!("{}.tether.test", ns.name());
    assert!(!cache.is_watched(&group, "Widget"));
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client());
    let crd_name = format!("widgets.{group}");
    apply(
        &crds,
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": crd_name},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                      "x-kubernetes-preserve-unknown-fields": true}}}]}}),
    )
    .await?;
    eventually("the Widget watch", || {
        cache.is_kind_synced(&group, "Widget").then_some(())
    })
    .await?;
    let info = cache
        .discovery()
        .current()
        .preferred(&group, "Widget")
        .cloned()
        .context("Widget discovered")?;
    assert!(info.namespaced);

    let widgets: Api<DynamicObject> = Api::namespaced_with(ns.client(), ns.name(), &info.resource);
    let created = apply(
        &widgets,
        json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
               "metadata": {"name": "w1", "namespace": ns.name(),
                            "annotations": {TRACKING_ID: format!("w-{}:{group}/Widget:{}/w1", ns.name(), ns.name())}},
               "spec": {"size": 3}}),
    )
    .await?;
    let cached = cached_at(
        &cache,
        (&group, "Widget", ns.name(), "w1"),
        &created.resource_version().context("rv")?,
    )
    .await?;
    assert_eq!(cached["spec"]["size"], 3);
    assert_eq!(cache.app_objects(&format!("w-{}", ns.name())).len(), 1);

    crds.delete(&crd_name, &DeleteParams::default()).await?;
    eventually("the Widget watch to stop", || {
        (!cache.is_watched(&group, "Widget")).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn exclusions_and_inclusions_are_honoured() -> Result<()> {
    let excluded = ResourceFilter::from_yaml(
        r#"
- apiGroups: [""]
  kinds: ["ConfigMap"]
  clusters: ["*"]
- apiGroups: ["batch"]
"#,
        "",
    )?;
    let cache = start(CacheSettings {
        filter: excluded,
        ..CacheSettings::default()
    })
    .await?;
    assert!(!cache.is_watched("", "ConfigMap"));
    assert!(!cache.is_watched("batch", "Job"));
    assert!(!cache.is_watched("", "Event"), "built-in exclusion");
    assert!(cache.is_watched("", "Secret"));
    assert!(cache.is_watched("apps", "Deployment"));
    drop(cache);

    // A rule for another cluster does not apply here.
    let other_cluster = ResourceFilter::from_yaml(
        "- kinds: [\"Secret\"]\n  clusters: [\"https://prod.*\"]",
        "",
    )?;
    let included = ResourceFilter::from_yaml("", "- apiGroups: [\"apps\"]")?;
    let a = start(CacheSettings {
        filter: other_cluster,
        scope: kinds(&[("", "Secret")]),
        ..CacheSettings::default()
    })
    .await?;
    assert!(a.is_watched("", "Secret"));
    let b = start(CacheSettings {
        filter: included,
        ..CacheSettings::default()
    })
    .await?;
    assert!(b.is_watched("apps", "Deployment"));
    assert!(!b.is_watched("", "Secret"));
    assert!(!b.is_watched("batch", "Job"));
    // An excluded kind is never watched on demand either.
    assert!(!b.ensure_watched("", "Secret", WAIT).await?);
    Ok(())
}

#[tokio::test]
async fn tracking_methods_and_copied_annotations() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let app = format!("t-{}", ns.name());
    let n = ns.name();
    let cms: Api<ConfigMap> = ns.api();
    // Tracked by annotation.
    apply(&cms, tracked_cm(&app, n, "own", "own")).await?;
    // The same annotation copied onto another object: not tracked.
    apply(&cms, tracked_cm(&app, n, "copy", "own")).await?;
    // Tracked by label only.
    apply(
        &cms,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "labelled", "namespace": n, "labels": {INSTANCE_LABEL: app}}}),
    )
    .await?;
    // Tracked by a custom label only.
    let last = apply(
        &cms,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "custom", "namespace": n, "labels": {"example.com/app": app}}}),
    )
    .await?;
    let rv = last.resource_version().context("rv")?;

    let names = |cache: &ClusterCache| {
        let mut v: Vec<String> = cache
            .app_objects(&app)
            .iter()
            .map(|o| o.name().to_owned())
            .collect();
        v.sort();
        v
    };
    for (method, label_key, expected) in [
        (TrackingMethod::Annotation, INSTANCE_LABEL, vec!["own"]),
        (
            TrackingMethod::AnnotationAndLabel,
            INSTANCE_LABEL,
            vec!["own"],
        ),
        (TrackingMethod::Label, INSTANCE_LABEL, vec!["labelled"]),
        (TrackingMethod::Label, "example.com/app", vec!["custom"]),
    ] {
        let cache = start(CacheSettings {
            scope: kinds(&[("", "ConfigMap")]),
            tracking: Tracking {
                method,
                label_key: label_key.to_owned(),
                installation_id: None,
            },
            ..CacheSettings::default()
        })
        .await?;
        cached_at(&cache, ("", "ConfigMap", n, "custom"), &rv).await?;
        assert_eq!(names(&cache), expected, "{method:?} {label_key}");
    }
    Ok(())
}

fn desired_objects(ns: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "annotations": {"argocd.argoproj.io/sync-wave": "1"}},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                              "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]}}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns},
               "data": {"mode": "prod"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
               "stringData": {"password": "hunter2"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": format!("{ns}-reader"), "namespace": "ignored"},
               "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    ]
}

/// Applies desired objects as a sync would (they come out of `compare` with namespace and
/// tracking set) and waits for the cache to see them.
async fn apply_all(client: &Client, cache: &ClusterCache, objs: &[Value]) -> Result<()> {
    for obj in objs {
        let key = ResourceKey::from_object(obj).context("key")?;
        let info = cache
            .discovery()
            .current()
            .preferred(&key.group, &key.kind)
            .cloned()
            .context("kind served")?;
        let api: Api<DynamicObject> = if key.namespace.is_empty() {
            Api::all_with(client.clone(), &info.resource)
        } else {
            Api::namespaced_with(client.clone(), &key.namespace, &info.resource)
        };
        let applied = apply(&api, obj.clone()).await?;
        cached_at(
            cache,
            (&key.group, &key.kind, &key.namespace, &key.name),
            &applied.resource_version().context("rv")?,
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn compare_detects_a_live_edit_and_its_revert() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let n = ns.name();
    let cache = start(CacheSettings {
        scope: kinds(&[("", "ConfigMap")]),
        ..CacheSettings::default()
    })
    .await?;
    let health = HealthChecker::new(LuaOverrides::new());
    let target = CompareTarget::new(&format!("c-{n}"), n);

    // Nothing exists yet: everything OutOfSync and Missing.
    let first = cache.compare(desired_objects(n), &target, &health).await?;
    assert_eq!(first.sync_status, SyncStatusCode::OutOfSync);
    assert_eq!(first.health, HealthStatusCode::Missing);
    let keys: Vec<String> = first.resources.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(
        keys,
        [
            format!("/ConfigMap/{n}/settings"),
            format!("/Secret/{n}/creds"),
            format!("apps/Deployment/{n}/web"),
            format!("rbac.authorization.k8s.io/ClusterRole//{n}-reader"),
        ]
    );
    let web = first
        .get(&ResourceKey::new("apps", "Deployment", n, "web"))
        .context("web")?;
    assert_eq!(web.status.sync_wave, Some(1));
    assert_eq!(web.status.version.as_deref(), Some("v1"));
    assert_eq!(web.status.status, Some(SyncStatusCode::OutOfSync));
    assert_eq!(
        web.status.health.as_ref().map(|h| h.status),
        Some(HealthStatusCode::Missing)
    );
    // Desired objects come back with the defaulted namespace and the tracking annotation.
    let desired = first
        .resources
        .iter()
        .map(|r| r.desired.clone().expect("desired"));
    let desired: Vec<Value> = desired.collect();
    assert!(
        desired
            .iter()
            .all(|d| d["metadata"]["annotations"][TRACKING_ID].is_string())
    );
    assert!(desired[3]["metadata"].get("namespace").is_none());

    // Apply them (what a sync does), then compare: Synced.
    apply_all(&ns.client(), &cache, &desired).await?;
    let synced = cache.compare(desired_objects(n), &target, &health).await?;
    for r in &synced.resources {
        assert_eq!(
            r.status.status,
            Some(SyncStatusCode::Synced),
            "{}: {}",
            r.key,
            r.diff.unified
        );
    }
    assert_eq!(synced.sync_status, SyncStatusCode::Synced);
    assert_ne!(synced.health, HealthStatusCode::Missing);
    // The cache holds no Secret value, only keyed hashes.
    let cached_secret = cache
        .get("", "Secret", n, "creds")
        .context("creds cached")?;
    assert!(
        !cached_secret.json().contains("aHVudGVyMg"),
        "{}",
        cached_secret.json()
    );
    assert!(
        cached_secret
            .json()
            .contains(tether_cluster::cache::HIDDEN_PREFIX)
    );
    // The kinds compare needed are watched now, on demand.
    assert!(cache.is_watched("apps", "Deployment"));

    // A manual edit of a managed field: OutOfSync, with the diff.
    let deployments: Api<Deployment> = ns.api();
    let edited = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await?;
    cached_at(
        &cache,
        ("apps", "Deployment", n, "web"),
        &edited.resource_version().context("rv")?,
    )
    .await?;
    let drifted = cache.compare(desired_objects(n), &target, &health).await?;
    assert_eq!(drifted.sync_status, SyncStatusCode::OutOfSync);
    let web = drifted
        .get(&ResourceKey::new("apps", "Deployment", n, "web"))
        .context("web")?;
    assert_eq!(web.status.status, Some(SyncStatusCode::OutOfSync));
    assert!(
        web.diff.unified.contains("-  replicas: 3"),
        "{}",
        web.diff.unified
    );
    assert!(
        web.diff.unified.contains("+  replicas: 1"),
        "{}",
        web.diff.unified
    );
    let others_synced = drifted
        .resources
        .iter()
        .filter(|r| r.key.kind != "Deployment")
        .all(|r| r.status.status == Some(SyncStatusCode::Synced));
    assert!(others_synced);

    // ignoreDifferences on the field hides the drift.
    let mut ignoring = target.clone();
    ignoring.ignore_differences = serde_json::from_value(json!([
        {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
    ]))?;
    let ignored = cache
        .compare(desired_objects(n), &ignoring, &health)
        .await?;
    assert_eq!(ignored.sync_status, SyncStatusCode::Synced);

    // A changed secret value is a difference, and its value never shows.
    let secrets: Api<Secret> = ns.api();
    let s = secrets
        .patch(
            "creds",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"password": "letmein"}})),
        )
        .await?;
    cached_at(
        &cache,
        ("", "Secret", n, "creds"),
        &s.resource_version().context("rv")?,
    )
    .await?;
    let result = cache.compare(desired_objects(n), &target, &health).await?;
    let creds = result
        .get(&ResourceKey::new("", "Secret", n, "creds"))
        .context("creds")?;
    assert_eq!(creds.status.status, Some(SyncStatusCode::OutOfSync));
    for r in &result.resources {
        let all = format!(
            "{} {} {}",
            r.diff.unified, r.diff.normalized_live, r.diff.predicted_live
        );
        for secret in ["hunter2", "letmein", "aHVudGVyMg", "bGV0bWVpbg"] {
            assert!(!all.contains(secret), "{} shows a secret: {all}", r.key);
        }
    }

    // Revert (as a sync would): Synced again.
    let desired: Vec<Value> = result
        .resources
        .iter()
        .filter_map(|r| r.desired.clone())
        .collect();
    apply_all(&ns.client(), &cache, &desired).await?;
    let reverted = cache.compare(desired_objects(n), &target, &health).await?;
    assert_eq!(reverted.sync_status, SyncStatusCode::Synced);

    // Health follows the Deployment's rollout on the simulated node.
    let healthy = async {
        loop {
            let r = cache.compare(desired_objects(n), &target, &health).await?;
            if r.health == HealthStatusCode::Healthy {
                return anyhow::Ok(r);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let r = tokio::time::timeout(WAIT, healthy)
        .await
        .context("the Deployment never became Healthy")??;
    let web = r
        .get(&ResourceKey::new("apps", "Deployment", n, "web"))
        .context("web")?;
    assert_eq!(
        web.status.health.as_ref().map(|h| h.status),
        Some(HealthStatusCode::Healthy)
    );

    let crs: Api<DynamicObject> = Api::all_with(
        ns.client(),
        &cache
            .discovery()
            .current()
            .preferred("rbac.authorization.k8s.io", "ClusterRole")
            .context("ClusterRole")?
            .resource,
    );
    crs.delete(&format!("{n}-reader"), &DeleteParams::default())
        .await?;
    Ok(())
}

#[tokio::test]
async fn prune_candidates_are_exactly_the_apps_leftovers() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let n = ns.name();
    let app = format!("p-{n}");
    let cache = start(CacheSettings {
        scope: kinds(&[("", "ConfigMap")]),
        ..CacheSettings::default()
    })
    .await?;
    let health = HealthChecker::new(LuaOverrides::new());
    let target = CompareTarget::new(&app, n);
    let cms: Api<ConfigMap> = ns.api();
    let mut leftovers = Vec::new();
    // Desired and live.
    leftovers.push(apply(&cms, tracked_cm(&app, n, "kept", "kept")).await?);
    // Tracked for this app, not desired: prune.
    leftovers.push(apply(&cms, tracked_cm(&app, n, "old", "old")).await?);
    // Tracked for this app but marked IgnoreExtraneous: prune candidate, app stays Synced.
    let mut extraneous = tracked_cm(&app, n, "extra", "extra");
    extraneous["metadata"]["annotations"]["argocd.argoproj.io/compare-options"] =
        json!("IgnoreExtraneous");
    leftovers.push(apply(&cms, extraneous).await?);
    // Another app's object, an untracked one, a copied annotation: never.
    leftovers.push(
        apply(
            &cms,
            tracked_cm(&format!("other-{n}"), n, "theirs", "theirs"),
        )
        .await?,
    );
    leftovers.push(
        apply(
            &cms,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "untracked", "namespace": n}}),
        )
        .await?,
    );
    leftovers.push(apply(&cms, tracked_cm(&app, n, "copied", "old")).await?);
    // A hook left behind: listed as a hook, not pruned.
    let mut hook = tracked_cm(&app, n, "hook", "hook");
    hook["metadata"]["annotations"]["argocd.argoproj.io/hook"] = json!("PreSync");
    leftovers.push(apply(&cms, hook).await?);
    for cm in &leftovers {
        cached_at(
            &cache,
            ("", "ConfigMap", n, &cm.name_any()),
            &cm.resource_version().context("rv")?,
        )
        .await?;
    }

    let desired = vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "kept"}, "data": {"k": "v"}})];
    let result = cache.compare(desired, &target, &health).await?;
    let prune: Vec<&str> = result
        .prune_candidates()
        .map(|r| r.key.name.as_str())
        .collect();
    assert_eq!(prune, ["extra", "old"]);
    let listed: Vec<&str> = result
        .resources
        .iter()
        .map(|r| r.key.name.as_str())
        .collect();
    assert_eq!(listed, ["extra", "hook", "kept", "old"]);
    let hook = &result.resources[1].status;
    assert_eq!(
        (hook.hook, hook.status, hook.requires_pruning),
        (Some(true), None, None)
    );
    assert_eq!(
        result.resources[2].status.status,
        Some(SyncStatusCode::Synced)
    );
    assert_eq!(
        result.sync_status,
        SyncStatusCode::OutOfSync,
        "`old` needs pruning"
    );

    cms.delete("old", &DeleteParams::default()).await?;
    eventually("the delete", || {
        cache.get("", "ConfigMap", n, "old").is_none().then_some(())
    })
    .await?;
    let desired = vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "kept"}, "data": {"k": "v"}})];
    let result = cache.compare(desired, &target, &health).await?;
    assert_eq!(
        result
            .prune_candidates()
            .map(|r| r.key.name.as_str())
            .collect::<Vec<_>>(),
        ["extra"]
    );
    assert_eq!(
        result.sync_status,
        SyncStatusCode::Synced,
        "IgnoreExtraneous"
    );
    Ok(())
}

#[tokio::test]
async fn excluded_and_bad_desired_objects() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let cache = start(CacheSettings {
        filter: ResourceFilter::from_yaml("- kinds: [\"Secret\"]", "")?,
        scope: kinds(&[("", "ConfigMap")]),
        ..CacheSettings::default()
    })
    .await?;
    let health = HealthChecker::new(LuaOverrides::new());
    let target = CompareTarget::new("x", ns.name());
    let result = cache
        .compare(
            vec![json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})],
            &target,
            &health,
        )
        .await?;
    assert!(result.resources.is_empty());
    assert!(
        result.warnings[0].contains("excluded"),
        "{:?}",
        result.warnings
    );

    let err = cache
        .compare(
            vec![
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
            ],
            &target,
            &health,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "desired object #1 (/ConfigMap <no name>): metadata.name is required"
    );

    // A kind the server does not serve (a CR before its CRD): namespaced, Missing, OutOfSync.
    let result = cache
        .compare(
            vec![
                json!({"apiVersion": "nothing.tether.test/v1", "kind": "Gadget",
                        "metadata": {"name": "g"}}),
            ],
            &target,
            &health,
        )
        .await?;
    let g = &result.resources[0];
    assert_eq!(g.key.namespace, ns.name());
    assert_eq!(g.status.status, Some(SyncStatusCode::OutOfSync));
    Ok(())
}

/// What `compare` takes from tether-diff, on objects the API server wrote: drift attributed to
/// its field manager, `managedFieldsManagers`, `jqPathExpressions`, fields Tether applied before
/// and no longer desires, `RespectIgnoreDifferences`, and the server-side diff.
#[tokio::test]
async fn compare_uses_tether_diff_rules_and_managed_fields() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let n = ns.name();
    let cache = start(CacheSettings {
        scope: kinds(&[("apps", "Deployment")]),
        ..CacheSettings::default()
    })
    .await?;
    let health = HealthChecker::new(LuaOverrides::new());
    let target = CompareTarget::new(&format!("d-{n}"), n);
    let desired = |labels: Value| {
        vec![json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                     "template": {"metadata": {"labels": {"app": "api"}},
                                  "spec": {"containers": [{"name": "api", "image": "nginx:1.27",
                                           "resources": {"requests": {"cpu": "100m"}}}]}}}})]
    };
    let with_team = || desired(json!({"app": "api", "team": "payments"}));
    let key = ResourceKey::new("apps", "Deployment", n, "api");

    // Applied by Tether's field manager, as a sync does.
    let first = cache.compare(with_team(), &target, &health).await?;
    let to_apply = first
        .get(&key)
        .and_then(|r| r.desired.clone())
        .context("desired")?;
    let deployments: Api<Deployment> = ns.api();
    let applied = deployments
        .patch(
            "api",
            &PatchParams::apply(tether_diff::TETHER_MANAGER).force(),
            &Patch::Apply(&to_apply),
        )
        .await?;
    cached_at(
        &cache,
        ("apps", "Deployment", n, "api"),
        &applied.resource_version().context("rv")?,
    )
    .await?;
    let synced = cache.compare(with_team(), &target, &health).await?;
    let r = synced.get(&key).context("api")?;
    assert_eq!(
        r.status.status,
        Some(SyncStatusCode::Synced),
        "{}",
        r.diff.unified
    );

    // A label Tether applied before and no longer desires: SSA would remove it, so it differs.
    let without_team = cache
        .compare(desired(json!({"app": "api"})), &target, &health)
        .await?;
    let r = without_team.get(&key).context("api")?;
    assert_eq!(r.status.status, Some(SyncStatusCode::OutOfSync));
    assert_eq!(
        r.diff
            .changes
            .iter()
            .map(|c| c.path.as_str())
            .collect::<Vec<_>>(),
        ["/metadata/labels/team"],
        "{}",
        r.diff.unified
    );

    // Someone else scales it: OutOfSync, and the change names that manager.
    let scaled = deployments
        .patch(
            "api",
            &PatchParams {
                field_manager: Some("autoscaler-test".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await?;
    cached_at(
        &cache,
        ("apps", "Deployment", n, "api"),
        &scaled.resource_version().context("rv")?,
    )
    .await?;
    let drifted = cache.compare(with_team(), &target, &health).await?;
    let r = drifted.get(&key).context("api")?;
    assert_eq!(r.status.status, Some(SyncStatusCode::OutOfSync));
    let change = r
        .diff
        .changes
        .iter()
        .find(|c| c.path == "/spec/replicas")
        .context("replicas change")?;
    assert_eq!(change.live, Some(json!(4)));
    assert_eq!(change.desired, Some(json!(1)));
    let owner = change.owner.as_ref().context("attributed")?;
    assert_eq!(
        (owner.manager.as_str(), owner.operation.as_str()),
        ("autoscaler-test", "Update")
    );

    // managedFieldsManagers and jqPathExpressions hide it; a rule on another kind does not.
    for rules in [
        json!([{"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["autoscaler-test"]}]),
        json!([{"group": "apps", "kind": "Deployment", "jqPathExpressions": [".spec.replicas"]}]),
        json!([{"group": "*", "kind": "Deploy*", "jqPathExpressions": [".spec | .replicas"]}]),
    ] {
        let mut t = target.clone();
        t.ignore_differences = serde_json::from_value(rules.clone())?;
        let r = cache.compare(with_team(), &t, &health).await?;
        assert_eq!(r.sync_status, SyncStatusCode::Synced, "{rules}");
    }
    let mut other = target.clone();
    other.ignore_differences = serde_json::from_value(json!([
        {"group": "apps", "kind": "StatefulSet", "jsonPointers": ["/spec/replicas"]}
    ]))?;
    let r = cache.compare(with_team(), &other, &health).await?;
    assert_eq!(r.sync_status, SyncStatusCode::OutOfSync);

    // RespectIgnoreDifferences: what sync gets keeps the live replicas, the rest from Git.
    let mut respect = target.clone();
    respect.respect_ignore_differences = true;
    respect.ignore_differences = serde_json::from_value(json!([
        {"group": "apps", "kind": "Deployment", "jqPathExpressions": [".spec.replicas"]}
    ]))?;
    let r = cache.compare(with_team(), &respect, &health).await?;
    let d = r
        .get(&key)
        .and_then(|r| r.desired.as_ref())
        .context("desired")?;
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["labels"]["team"], "payments");

    // Server-side diff (the Application's compare-options): the API server's dry-run answer is
    // compared; the scaled replicas still differ, and only they.
    let mut server = target.clone();
    server.compare_options = tether_diff::CompareOptions::parse("ServerSideDiff=true");
    let r = cache.compare(with_team(), &server, &health).await?;
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let api = r.get(&key).context("api")?;
    assert!(api.diff.server_side);
    assert_eq!(api.status.status, Some(SyncStatusCode::OutOfSync));
    assert_eq!(
        api.diff
            .changes
            .iter()
            .map(|c| c.path.as_str())
            .collect::<Vec<_>>(),
        ["/spec/replicas"],
        "{}",
        api.diff.unified
    );
    // A field the server defaults, written differently in Git (`0.1` CPU), is no drift
    // server-side either.
    let mut spelled = with_team();
    spelled[0]["spec"]["replicas"] = json!(4);
    spelled[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
        json!("0.1");
    let r = cache.compare(spelled, &server, &health).await?;
    let api = r.get(&key).context("api")?;
    assert!(api.diff.server_side);
    assert_eq!(
        api.status.status,
        Some(SyncStatusCode::Synced),
        "{}",
        api.diff.unified
    );
    // A resource's own `ServerSideDiff=false` wins over the Application's.
    let mut opted_out = with_team();
    opted_out[0]["metadata"]["annotations"] =
        json!({"argocd.argoproj.io/compare-options": "ServerSideDiff=false"});
    let r = cache.compare(opted_out, &server, &health).await?;
    assert!(!r.get(&key).context("api")?.diff.server_side);
    Ok(())
}

/// A client layer that can cut the cache's cluster-wide ConfigMap watch and hold its
/// re-watch, so the watcher resumes from a resourceVersion the API server has meanwhile
/// dropped from its watch cache. It also records whether a watch response carried a 410.
mod watch_cut {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body::{Body, Frame};
    use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

    #[derive(Default)]
    struct State {
        /// Cancelled to end the watch responses in flight.
        cut: Mutex<CancellationToken>,
        /// While set, new ConfigMap watches wait here.
        held: Mutex<Option<CancellationToken>>,
        /// resourceVersions of the watches that were held.
        held_rvs: Mutex<Vec<String>>,
        saw_gone: AtomicBool,
    }

    #[derive(Clone, Default)]
    pub struct WatchCut(Arc<State>);

    impl WatchCut {
        /// Holds the next ConfigMap watches and ends the one in flight.
        pub fn cut_and_hold(&self) {
            *self.0.held.lock().unwrap() = Some(CancellationToken::new());
            let old = std::mem::take(&mut *self.0.cut.lock().unwrap());
            old.cancel();
        }
        /// Lets the held watches through.
        pub fn release(&self) {
            if let Some(t) = self.0.held.lock().unwrap().take() {
                t.cancel();
            }
        }
        pub fn held_resource_versions(&self) -> Vec<String> {
            self.0.held_rvs.lock().unwrap().clone()
        }
        pub fn saw_gone(&self) -> bool {
            self.0.saw_gone.load(Ordering::SeqCst)
        }
    }

    fn is_cm_watch<B>(req: &Request<B>) -> Option<String> {
        let uri = req.uri();
        let query = uri.query().unwrap_or("");
        if uri.path() != "/api/v1/configmaps" || !query.split('&').any(|p| p == "watch=true") {
            return None;
        }
        Some(
            query
                .split('&')
                .find_map(|p| p.strip_prefix("resourceVersion="))
                .unwrap_or("")
                .to_owned(),
        )
    }

    impl<S> tower::Layer<S> for WatchCut {
        type Service = Svc<S>;
        fn layer(&self, inner: S) -> Svc<S> {
            Svc {
                inner: Arc::new(tokio::sync::Mutex::new(inner)),
                state: self.0.clone(),
            }
        }
    }

    /// The inner service is shared so a held request can be sent later (kube's inner service
    /// is not `Clone`).
    pub struct Svc<S> {
        inner: Arc<tokio::sync::Mutex<S>>,
        state: Arc<State>,
    }

    type BoxFut<T, E> = Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send>>;

    impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for Svc<S>
    where
        S: tower::Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        ReqB: Send + 'static,
        ResB: Body<Data = Bytes> + Send + Unpin + 'static,
    {
        type Response = Response<CutBody<ResB>>;
        type Error = S::Error;
        type Future = BoxFut<Self::Response, S::Error>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<ReqB>) -> Self::Future {
            let inner = self.inner.clone();
            let state = self.state.clone();
            Box::pin(async move {
                let watch_rv = is_cm_watch(&req);
                if let Some(rv) = &watch_rv {
                    let held = state.held.lock().unwrap().clone();
                    if let Some(h) = held {
                        state.held_rvs.lock().unwrap().push(rv.clone());
                        h.cancelled().await;
                    }
                }
                let cut = watch_rv
                    .is_some()
                    .then(|| Box::pin(state.cut.lock().unwrap().clone().cancelled_owned()));
                let fut = {
                    let mut svc = inner.lock().await;
                    tower::ServiceExt::ready(&mut *svc).await?.call(req)
                };
                let res = fut.await?;
                Ok(res.map(|body| CutBody {
                    inner: body,
                    cut,
                    state: watch_rv.is_some().then_some(state),
                }))
            })
        }
    }

    /// A response body that ends when its watch is cut.
    pub struct CutBody<B> {
        inner: B,
        cut: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
        state: Option<Arc<State>>,
    }

    impl<B: Body<Data = Bytes> + Unpin> Body for CutBody<B> {
        type Data = Bytes;
        type Error = B::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
            if let Some(cut) = self.cut.as_mut()
                && cut.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(None);
            }
            let polled = Pin::new(&mut self.inner).poll_frame(cx);
            if let (Poll::Ready(Some(Ok(frame))), Some(state)) = (&polled, &self.state)
                && let Some(data) = frame.data_ref()
            {
                let text = String::from_utf8_lossy(data);
                if text.contains(r#""type":"ERROR""#) && text.contains(r#""code":410"#) {
                    state
                        .saw_gone
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            polled
        }
    }
}

#[tokio::test]
async fn the_cache_relists_after_its_resource_version_expired() -> Result<()> {
    use kube::api::{PostParams, WatchEvent, WatchParams};
    use kube::config::{KubeConfigOptions, Kubeconfig};

    let ns = tether_testenv::namespace().await;
    let cms = ns.api::<ConfigMap>();
    let path = tokio::task::spawn_blocking(tether_testenv::kubeconfig_path).await?;
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(path)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let cut = watch_cut::WatchCut::default();
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&cut)
        .build();
    let cache = ClusterCache::start(
        client,
        CacheSettings {
            scope: kinds(&[("", "ConfigMap")]),
            ..CacheSettings::default()
        },
    )
    .await?;
    cache.wait_synced(WAIT).await?;
    let cm = |name: &str, v: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns.name()}, "data": {"k": v}})
    };
    let keep = apply(&cms, cm("keep", "1")).await?;
    apply(&cms, cm("gone", "1")).await?;
    let key = |n: &'static str| ("", "ConfigMap", ns.name(), n);
    cached_at(
        &cache,
        key("keep"),
        &keep.resource_version().unwrap_or_default(),
    )
    .await?;
    eventually("gone cached", || {
        cache.get("", "ConfigMap", ns.name(), "gone")
    })
    .await?;

    // Disconnect the cache's watch; it tries to resume from its last resourceVersion.
    cut.cut_and_hold();
    let rv = eventually("the re-watch to be held", || {
        cut.held_resource_versions().into_iter().next()
    })
    .await?;
    // Changes it does not see while disconnected.
    let changed = apply(&cms, cm("keep", "2")).await?;
    cms.delete("gone", &DeleteParams::default()).await?;
    apply(&cms, cm("new", "1")).await?;

    // The API server keeps the events of its watch cache while they are younger than 75 s
    // (growing the window); older ones are dropped once the window is full. Let the events up
    // to `rv` age, then write until a watch from `rv` is refused with 410 Gone.
    tokio::time::sleep(Duration::from_secs(80)).await;
    let probe: Api<ConfigMap> = Api::all(tether_testenv::client().await);
    let mut written = 0;
    let expired = 'flood: loop {
        for _ in 0..100 {
            let obj: ConfigMap = serde_json::from_value(json!({"metadata": {
                "generateName": "flood-", "namespace": ns.name()}}))?;
            let made = cms.create(&PostParams::default(), &obj).await?;
            cms.delete(&made.name_any(), &DeleteParams::default())
                .await?;
            written += 2;
        }
        let mut events = probe
            .watch(&WatchParams::default().timeout(1), &rv)
            .await?
            .boxed();
        use futures::StreamExt;
        if let Some(Ok(WatchEvent::Error(e))) = events.next().await
            && e.code == 410
        {
            break 'flood e.message;
        }
        if written >= 20_000 {
            bail!("resourceVersion {rv} still served after {written} writes");
        }
    };
    assert!(!cut.saw_gone(), "no 410 reached the cache yet");

    cut.release();
    cached_at(
        &cache,
        key("keep"),
        &changed.resource_version().unwrap_or_default(),
    )
    .await?;
    eventually("new cached", || {
        cache.get("", "ConfigMap", ns.name(), "new")
    })
    .await?;
    eventually("gone dropped", || {
        cache
            .get("", "ConfigMap", ns.name(), "gone")
            .is_none()
            .then_some(())
    })
    .await?;
    assert!(
        cut.saw_gone(),
        "the resumed watch was answered with 410 Gone ({expired})"
    );
    assert_eq!(
        cache
            .objects("", "ConfigMap")
            .iter()
            .filter(|o| o.namespace() == ns.name() && o.name().starts_with("flood-"))
            .count(),
        0
    );
    assert_eq!(
        cache
            .get("", "ConfigMap", ns.name(), "keep")
            .map(|o| o.value()["data"]["k"].clone()),
        Some(json!("2"))
    );
    assert!(cache.is_synced());
    Ok(())
}
