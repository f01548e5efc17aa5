//! Comparing an application's desired objects with the live state in the cache, as Argo CD's
//! `CompareAppState` does:
//!
//! 1. each desired object gets its key `(group, kind, namespace, name)`: namespaced kinds without
//!    a namespace get the app's destination namespace, cluster-scoped kinds lose theirs; it is
//!    marked with the app's tracking annotation/label (as Argo CD does before comparing and
//!    applying), and excluded kinds are left out;
//! 2. the live objects are those with the desired keys plus those the tracking index attributes
//!    to the app; a live object no desired object names `requiresPruning`;
//! 3. each pair is diffed two-way as gitops-engine does without a last-applied configuration:
//!    the desired object is laid over the live one (fields only the server or other managers set
//!    stay), both are normalised by `tether-diff` with the app's `ignoreDifferences`
//!    (`jsonPointers`) applied, and the resource is `OutOfSync` when the result differs from the
//!    live object; Secret values are compared as keyed hashes (the cache holds no Secret value)
//!    and masked in every diff;
//! 4. health comes from `tether-health`, per object and for the app.
//!
//! Hooks are listed (`hook: true`) without a sync status and do not count towards the app's
//! sync status; live-only objects annotated `argocd.argoproj.io/compare-options:
//! IgnoreExtraneous` are `OutOfSync` but leave the app `Synced`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use globset::Glob;
use serde_json::Value;
use tether_health::{HealthChecker, ManagedResource};
use tether_model::annotations::{COMPARE_OPTIONS, HELM_HOOK_WEIGHT, SYNC_WAVE, parse_wave};
use tether_model::application::{
    Application, HealthStatus, HealthStatusCode, ResourceStatus, SyncStatusCode,
};
use tether_model::resource::ResourceKey;
use tether_model::source::ResourceIgnoreDifferences;

use crate::ClusterError;
use crate::cache::{ClusterCache, LiveObject, hide_secret_values};
use crate::tracking::group_kind;

/// The application being compared.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareTarget {
    /// The name tracking uses: the Application's name, or `<namespace>_<name>` for an
    /// Application outside the control namespace (Argo CD's instance name).
    pub app: String,
    /// `spec.destination.namespace`: the namespace of namespaced objects that name none.
    pub destination_namespace: String,
    /// `spec.ignoreDifferences`.
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
    /// Namespace and name of the Application object itself (an app managing its own manifest
    /// does not count towards its own health).
    pub self_app: Option<(String, String)>,
    /// How long to wait for the watch of a kind the cache did not watch yet.
    pub watch_timeout: Duration,
}

impl CompareTarget {
    /// A target by tracking name and destination namespace.
    pub fn new(app: &str, destination_namespace: &str) -> Self {
        Self {
            app: app.to_owned(),
            destination_namespace: destination_namespace.to_owned(),
            ignore_differences: Vec::new(),
            self_app: None,
            watch_timeout: Duration::from_secs(30),
        }
    }

    /// The target of an Application; `control_namespace` is Argo CD's namespace (`argocd`).
    pub fn from_application(app: &Application, control_namespace: &str) -> Self {
        let name = app.metadata.name.clone().unwrap_or_default();
        let ns = app.metadata.namespace.clone().unwrap_or_default();
        let instance = if ns.is_empty() || ns == control_namespace {
            name.clone()
        } else {
            format!("{ns}_{name}")
        };
        Self {
            app: instance,
            destination_namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
            ignore_differences: app.spec.ignore_differences.clone(),
            self_app: Some((ns, name)),
            watch_timeout: Duration::from_secs(30),
        }
    }
}

/// The diff of one resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceDiff {
    /// Whether applying the desired object would change the live one.
    pub modified: bool,
    /// The live object, normalised, `ignoreDifferences` removed, Secret values masked
    /// (`Null` when there is no live object).
    pub normalized_live: Value,
    /// What the live object would be after applying the desired one, the same way
    /// (`Null` when nothing is desired).
    pub predicted_live: Value,
    /// Unified YAML diff, `live/…` to `desired/…`; empty when not modified.
    pub unified: String,
}

/// One resource of the comparison.
#[derive(Debug, Clone)]
pub struct ComparedResource {
    /// Argo CD's `status.resources` entry.
    pub status: ResourceStatus,
    /// Its key.
    pub key: ResourceKey,
    /// The desired object as it would be applied (namespace defaulted, tracking set).
    pub desired: Option<Value>,
    /// The live object.
    pub live: Option<Arc<LiveObject>>,
    /// The diff.
    pub diff: ResourceDiff,
}

/// The result of [`ClusterCache::compare`].
#[derive(Debug, Clone)]
pub struct ComparisonResult {
    /// `Synced` when every counted resource is.
    pub sync_status: SyncStatusCode,
    /// The app's health.
    pub health: HealthStatusCode,
    /// Every resource, sorted by key.
    pub resources: Vec<ComparedResource>,
    /// Problems that did not stop the comparison (Argo CD shows them as conditions).
    pub warnings: Vec<String>,
}

impl ComparisonResult {
    /// Argo CD's `status.resources`.
    pub fn status_resources(&self) -> Vec<ResourceStatus> {
        self.resources.iter().map(|r| r.status.clone()).collect()
    }

    /// Live objects tracked for the app that nothing desires (what a prune would delete).
    pub fn prune_candidates(&self) -> impl Iterator<Item = &ComparedResource> {
        self.resources
            .iter()
            .filter(|r| r.status.requires_pruning == Some(true))
    }

    /// The resource with this key.
    pub fn get(&self, key: &ResourceKey) -> Option<&ComparedResource> {
        self.resources.iter().find(|r| &r.key == key)
    }
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// Argo CD's sync wave: `argocd.argoproj.io/sync-wave`, else `helm.sh/hook-weight`, else 0.
pub fn sync_wave(obj: &Value) -> i64 {
    annotation(obj, SYNC_WAVE)
        .and_then(|v| parse_wave(SYNC_WAVE, v).ok())
        .or_else(|| {
            annotation(obj, HELM_HOOK_WEIGHT).and_then(|v| parse_wave(HELM_HOOK_WEIGHT, v).ok())
        })
        .unwrap_or(0)
}

fn has_compare_option(obj: &Value, option: &str) -> bool {
    annotation(obj, COMPARE_OPTIONS).is_some_and(|v| v.split(',').any(|o| o.trim() == option))
}

fn glob_match(pattern: &str, value: &str) -> bool {
    pattern == value
        || Glob::new(pattern)
            .map(|g| g.compile_matcher().is_match(value))
            .unwrap_or(false)
}

/// Whether an `ignoreDifferences` entry applies to an object.
pub fn ignore_rule_applies(rule: &ResourceIgnoreDifferences, key: &ResourceKey) -> bool {
    glob_match(rule.group.as_deref().unwrap_or_default(), &key.group)
        && glob_match(&rule.kind, &key.kind)
        && rule
            .name
            .as_deref()
            .is_none_or(|n| n.is_empty() || n == key.name)
        && rule
            .namespace
            .as_deref()
            .is_none_or(|n| n.is_empty() || n == key.namespace)
}

/// Lays `desired` over `live`: objects merge key by key (a `null` in desired removes the key),
/// lists of the same length merge item by item, anything else is replaced by desired. This is
/// what applying desired would leave, for fields that the server or other managers add.
pub fn overlay(live: &Value, desired: &Value) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            let mut out = l.clone();
            for (k, dv) in d {
                if dv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match l.get(k) {
                    Some(lv) => overlay(lv, dv),
                    None => dv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(d)) if l.len() == d.len() => {
            Value::Array(l.iter().zip(d).map(|(lv, dv)| overlay(lv, dv)).collect())
        }
        _ => desired.clone(),
    }
}

/// Diffs one resource (see the module docs). `rules` are the `ignoreDifferences` entries that
/// apply to it.
pub fn diff_resource(
    name: &str,
    desired: Option<&Value>,
    live: Option<&Value>,
    rules: &[&ResourceIgnoreDifferences],
) -> Result<ResourceDiff, tether_diff::DiffError> {
    let pointers: Vec<String> = rules
        .iter()
        .flat_map(|r| r.json_pointers.iter().cloned())
        .collect();
    let mut live_n = live.map(|l| tether_diff::normalize(l, false));
    let desired_n = desired.map(|d| {
        let mut d = tether_diff::normalize(d, false);
        // The cache holds Secret values as keyed hashes; hash the desired ones the same way.
        hide_secret_values(&mut d);
        d
    });
    if let Some(l) = live_n.as_mut() {
        hide_secret_values(l);
    }
    let mut predicted = match (desired_n, &live_n) {
        (Some(d), Some(l)) => Some(overlay(l, &d)),
        (Some(d), None) => Some(d),
        (None, _) => None,
    };
    for v in [live_n.as_mut(), predicted.as_mut()].into_iter().flatten() {
        tether_diff::remove_json_pointers(v, &pointers)?;
    }
    tether_diff::mask_secrets(predicted.as_mut(), live_n.as_mut());
    let modified = predicted != live_n;
    let unified = if modified {
        tether_diff::unified_diff(name, predicted.as_ref(), live_n.as_ref())?
    } else {
        String::new()
    };
    Ok(ResourceDiff {
        modified,
        normalized_live: live_n.unwrap_or(Value::Null),
        predicted_live: predicted.unwrap_or(Value::Null),
        unified,
    })
}

fn describe(obj: &Value) -> String {
    let (group, kind) = group_kind(obj);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<no name>");
    format!("{group}/{kind} {name}")
}

impl ClusterCache {
    /// Compares an application's desired objects with the live state (see the module docs).
    /// Kinds not watched yet are watched first (discovery is refreshed, rate-limited, for
    /// kinds it does not know).
    pub async fn compare(
        &self,
        desired: Vec<Value>,
        target: &CompareTarget,
        health: &HealthChecker,
    ) -> Result<ComparisonResult, ClusterError> {
        let tracking = &self.settings().tracking;
        let mut warnings = Vec::new();
        let mut by_key: BTreeMap<ResourceKey, Value> = BTreeMap::new();
        for (index, mut obj) in desired.into_iter().enumerate() {
            let bad = |message: &str| ClusterError::BadDesired {
                index,
                what: describe(&obj),
                message: message.to_owned(),
            };
            if !obj.is_object() {
                return Err(bad("not an object"));
            }
            let (group, kind) = group_kind(&obj);
            let (group, kind) = (group.to_owned(), kind.to_owned());
            if kind.is_empty() || obj.get("apiVersion").and_then(Value::as_str).is_none() {
                return Err(bad("apiVersion and kind are required"));
            }
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if name.is_empty() {
                return Err(bad("metadata.name is required"));
            }
            if self.is_excluded(&group, &kind) {
                warnings.push(format!(
                    "{group}/{kind} {name} is excluded by resource.exclusions/inclusions and was not compared"
                ));
                continue;
            }
            // Watch the kind if it is not yet (refreshing discovery, rate-limited, when it is
            // unknown). Unknown kinds (e.g. a CR whose CRD the same sync creates) count as
            // namespaced, as Argo CD's IsNamespacedOrUnknown.
            self.ensure_watched(&group, &kind, target.watch_timeout)
                .await?;
            let namespaced = self
                .discovery()
                .current()
                .is_namespaced(&group, &kind)
                .unwrap_or(true);
            let meta = obj
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
                .expect("metadata.name was found above");
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let ns = if !namespaced {
                meta.remove("namespace");
                String::new()
            } else if ns.is_empty() {
                meta.insert(
                    "namespace".into(),
                    Value::String(target.destination_namespace.clone()),
                );
                target.destination_namespace.clone()
            } else {
                ns
            };
            tracking.set_app_instance(&mut obj, &target.app, &target.destination_namespace);
            let key = ResourceKey::new(&group, &kind, &ns, &name);
            if by_key.insert(key.clone(), obj).is_some() {
                warnings.push(format!(
                    "{key} appears more than once in the desired objects; the last one counts"
                ));
            }
        }

        let mut live: HashMap<ResourceKey, Arc<LiveObject>> = HashMap::new();
        for key in by_key.keys() {
            if let Some(o) = self.get(&key.group, &key.kind, &key.namespace, &key.name) {
                if let Some(owner) = o.app()
                    && owner != target.app
                {
                    warnings.push(format!(
                        "{key} is part of application `{owner}` too (shared resource)"
                    ));
                }
                live.insert(key.clone(), o);
            }
        }
        for o in self.app_objects(&target.app) {
            live.entry(o.key()).or_insert(o);
        }

        let mut result = compare_objects(by_key, live, target, health)?;
        warnings.append(&mut result.warnings);
        result.warnings = warnings;
        Ok(result)
    }
}

/// The comparison proper, without cluster access: desired objects by key (namespace defaulted,
/// tracking set, as [`ClusterCache::compare`] prepares them) against the live objects by key
/// (those with the desired keys and those tracked for the app).
pub fn compare_objects(
    mut by_key: BTreeMap<ResourceKey, Value>,
    live: HashMap<ResourceKey, Arc<LiveObject>>,
    target: &CompareTarget,
    health: &HealthChecker,
) -> Result<ComparisonResult, ClusterError> {
    let mut keys: Vec<ResourceKey> = by_key.keys().cloned().collect();
    keys.extend(live.keys().filter(|k| !by_key.contains_key(*k)).cloned());
    keys.sort();

    let mut resources = Vec::with_capacity(keys.len());
    let mut live_values: Vec<Option<Value>> = Vec::with_capacity(keys.len());
    let mut sync_status = SyncStatusCode::Synced;
    for key in keys {
        let desired = by_key.remove(&key);
        let live_obj = live.get(&key).cloned();
        let live_value = live_obj.as_ref().map(|o| o.value());
        let obj = desired
            .as_ref()
            .or(live_value.as_ref())
            .expect("a key comes from one side");
        let hook = tether_health::is_hook(obj);
        let skip = desired.as_ref().is_some_and(tether_health::is_skip);
        let rules: Vec<&ResourceIgnoreDifferences> = target
            .ignore_differences
            .iter()
            .filter(|r| ignore_rule_applies(r, &key))
            .collect();
        let diff = diff_resource(
            &format!("{}/{}/{}", key.kind, key.namespace, key.name),
            desired.as_ref(),
            live_value.as_ref(),
            &rules,
        )
        .map_err(|source| ClusterError::Diff {
            key: key.to_string(),
            source,
        })?;
        let requires_pruning = desired.is_none() && live_obj.is_some() && !hook;
        let status = if hook || skip {
            None
        } else if diff.modified || desired.is_none() || live_obj.is_none() {
            let extraneous_ignored =
                requires_pruning && has_compare_option(obj, "IgnoreExtraneous");
            if !extraneous_ignored {
                sync_status = SyncStatusCode::OutOfSync;
            }
            Some(SyncStatusCode::OutOfSync)
        } else {
            Some(SyncStatusCode::Synced)
        };
        let version = match (&live_obj, &desired) {
            (_, Some(d)) => d
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(|v| v.rsplit('/').next().unwrap_or(v).to_owned()),
            (Some(l), None) => Some(l.version().to_owned()),
            (None, None) => None,
        };
        let status = ResourceStatus {
            group: Some(key.group.clone()).filter(|g| !g.is_empty()),
            version,
            kind: Some(key.kind.clone()),
            namespace: Some(key.namespace.clone()).filter(|n| !n.is_empty()),
            name: Some(key.name.clone()),
            status,
            health: None,
            hook: hook.then_some(true),
            requires_pruning: requires_pruning.then_some(true),
            sync_wave: desired.as_ref().map(sync_wave),
            requires_deletion_confirmation: None,
        };
        live_values.push(live_value);
        resources.push(ComparedResource {
            status,
            key,
            desired,
            live: live_obj,
            diff,
        });
    }

    let managed: Vec<ManagedResource<'_>> = resources
        .iter()
        .zip(&live_values)
        .map(|(r, l)| ManagedResource {
            group: &r.key.group,
            kind: &r.key.kind,
            live: l.as_ref(),
            target: r.desired.as_ref(),
        })
        .collect();
    let self_app = target
        .self_app
        .as_ref()
        .map(|(ns, name)| (ns.as_str(), name.as_str()));
    let app_health = health.app_health(&managed, self_app);
    for (r, h) in resources.iter_mut().zip(app_health.resources) {
        r.status.health = h.map(|h| HealthStatus {
            status: h.status,
            message: h.message.filter(|m| !m.is_empty()),
            last_transition_time: None,
        });
    }
    Ok(ComparisonResult {
        sync_status,
        health: app_health.status,
        resources,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "uid": "1", "resourceVersion": "9",
                         "labels": {"added-by-someone": "x"}, "generation": 2},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                        "resources": {"limits": {"cpu": "1"}}}],
                        "restartPolicy": "Always"}}},
            "status": {"replicas": 2}})
    }

    fn desired_deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"replicas": 2,
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                        "resources": {"limits": {"cpu": "1000m"}}}]}}}})
    }

    #[test]
    fn defaults_and_foreign_fields_are_not_differences() {
        let d = diff_resource(
            "web",
            Some(&desired_deployment()),
            Some(&live_deployment()),
            &[],
        )
        .expect("diff");
        assert!(!d.modified, "{}", d.unified);
        assert!(d.unified.is_empty());
    }

    #[test]
    fn a_changed_field_is_a_difference_unless_ignored() {
        let mut live = live_deployment();
        live["spec"]["replicas"] = json!(5);
        let d = diff_resource("web", Some(&desired_deployment()), Some(&live), &[]).expect("diff");
        assert!(d.modified);
        assert!(d.unified.contains("-  replicas: 5"), "{}", d.unified);
        assert!(d.unified.contains("+  replicas: 2"), "{}", d.unified);
        let rule = ResourceIgnoreDifferences {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            ..Default::default()
        };
        let d =
            diff_resource("web", Some(&desired_deployment()), Some(&live), &[&rule]).expect("diff");
        assert!(!d.modified, "{}", d.unified);
        // A removed container is a difference (lists of other lengths are replaced).
        let mut desired = desired_deployment();
        desired["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("array")
            .push(json!({"name": "sidecar", "image": "busybox"}));
        assert!(
            diff_resource("web", Some(&desired), Some(&live_deployment()), &[])
                .expect("diff")
                .modified
        );
    }

    #[test]
    fn secrets_are_masked_in_diffs() {
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                             "stringData": {"password": "hunter2"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                          "data": {"password": "b2xkLXBhc3N3b3Jk"}});
        let d = diff_resource("s", Some(&desired), Some(&live), &[]).expect("diff");
        assert!(d.modified);
        for text in [
            d.unified.clone(),
            d.normalized_live.to_string(),
            d.predicted_live.to_string(),
        ] {
            assert!(
                !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
                "{text}"
            );
            assert!(!text.contains("b2xkLXBhc3N3b3Jk"), "{text}");
        }
    }

    #[test]
    fn ignore_rules_match_by_glob_name_and_namespace() {
        let key = ResourceKey::new("apps", "Deployment", "prod", "web");
        let rule = |group: &str, kind: &str, name: Option<&str>, ns: Option<&str>| {
            ResourceIgnoreDifferences {
                group: Some(group.into()),
                kind: kind.into(),
                name: name.map(Into::into),
                namespace: ns.map(Into::into),
                ..Default::default()
            }
        };
        assert!(ignore_rule_applies(
            &rule("apps", "Deployment", None, None),
            &key
        ));
        assert!(ignore_rule_applies(
            &rule("*", "*", Some("web"), Some("prod")),
            &key
        ));
        assert!(!ignore_rule_applies(
            &rule("apps", "Deployment", Some("api"), None),
            &key
        ));
        assert!(!ignore_rule_applies(
            &rule("", "Deployment", None, None),
            &key
        ));
        assert!(!ignore_rule_applies(
            &rule("apps", "Deployment", None, Some("dev")),
            &key
        ));
    }

    #[test]
    fn waves_come_from_the_annotation_or_helm_weight() {
        assert_eq!(
            sync_wave(&json!({"metadata": {"annotations": {SYNC_WAVE: "-2"}}})),
            -2
        );
        assert_eq!(
            sync_wave(&json!({"metadata": {"annotations": {HELM_HOOK_WEIGHT: "5"}}})),
            5
        );
        assert_eq!(sync_wave(&json!({"metadata": {}})), 0);
    }

    #[test]
    fn instance_names_follow_argo_cd() {
        let mut app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "guestbook", "namespace": "argocd"},
            "spec": {"project": "default", "destination": {"namespace": "gb", "server": "https://kubernetes.default.svc"},
                     "source": {"repoURL": "https://example.com/r.git", "path": "."}}
        }))
        .expect("valid app");
        let t = CompareTarget::from_application(&app, "argocd");
        assert_eq!(
            (t.app.as_str(), t.destination_namespace.as_str()),
            ("guestbook", "gb")
        );
        app.metadata.namespace = Some("team".into());
        assert_eq!(
            CompareTarget::from_application(&app, "argocd").app,
            "team_guestbook"
        );
    }
}
