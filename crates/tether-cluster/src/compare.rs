//! Comparing an application's desired objects with the live state in the cache, as Argo CD's
//! `CompareAppState` does:
//!
//! 1. each desired object gets its key `(group, kind, namespace, name)`: namespaced kinds without
//!    a namespace get the app's destination namespace, cluster-scoped kinds lose theirs; it is
//!    marked with the app's tracking annotation/label (as Argo CD does before comparing and
//!    applying), and excluded kinds are left out;
//! 2. the live objects are those with the desired keys plus those the tracking index attributes
//!    to the app; a live object no desired object names `requiresPruning`;
//! 3. each pair is compared by `tether-diff` ([`tether_diff::diff`], or
//!    [`tether_diff::server_side_diff`] against an SSA dry-run when `ServerSideDiff=true` is set
//!    on the resource, on the Application or as the controller's default) with a
//!    [`DiffConfig`] built from the app's `ignoreDifferences` (`jsonPointers`,
//!    `jqPathExpressions`, `managedFieldsManagers`) and argocd-cm's settings; Secret values are
//!    compared as keyed hashes (the cache holds no Secret value) and masked in every diff, and
//!    each drifted field is attributed to the field manager that owns it live;
//! 4. with `RespectIgnoreDifferences=true` in the app's sync options, the desired object handed
//!    back for sync takes the ignored fields from live ([`tether_diff::respect_ignore_differences`]);
//! 5. health comes from `tether-health`, per object and for the app.
//!
//! Hooks are listed (`hook: true`) without a sync status and do not count towards the app's
//! sync status; live-only objects annotated `argocd.argoproj.io/compare-options:
//! IgnoreExtraneous` are `OutOfSync` but leave the app `Synced`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tether_diff::{Change, CompareOptions, DiffConfig, SystemSettings};
use tether_health::{HealthChecker, ManagedResource};
use tether_model::annotations::{HELM_HOOK_WEIGHT, SYNC_WAVE, parse_wave};
use tether_model::application::{
    Application, HealthStatus, HealthStatusCode, ResourceStatus, SyncStatusCode,
};
use tether_model::resource::ResourceKey;
use tether_model::source::ResourceIgnoreDifferences;

use crate::ClusterError;
use crate::cache::{ClusterCache, HIDDEN_PREFIX, LiveObject, hide_secret_values};
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
    /// argocd-cm's diff settings (`resource.customizations.ignoreDifferences.*`,
    /// `resource.compareoptions`).
    pub system: SystemSettings,
    /// The time limit of one jq expression (Argo CD's `ignore.normalizer.jq.timeout`, 1 s).
    pub jq_timeout: Duration,
    /// The Application's own `argocd.argoproj.io/compare-options` (`ServerSideDiff`,
    /// `IncludeMutationWebhook`); a resource's annotation overrides it.
    pub compare_options: CompareOptions,
    /// The controller's default for server-side diff (Argo CD's `controller.diff.server.side`).
    pub server_side_diff: bool,
    /// `RespectIgnoreDifferences=true` in the app's sync options: the desired objects handed
    /// back for sync keep the live values of ignored fields.
    pub respect_ignore_differences: bool,
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
            system: SystemSettings::default(),
            jq_timeout: tether_diff::DEFAULT_JQ_TIMEOUT,
            compare_options: CompareOptions::default(),
            server_side_diff: false,
            respect_ignore_differences: false,
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
        let compare_options = app
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(tether_diff::options::COMPARE_OPTIONS))
            .map(|v| CompareOptions::parse(v))
            .unwrap_or_default();
        let respect_ignore_differences = app.spec.sync_policy.as_ref().is_some_and(|p| {
            p.sync_options
                .iter()
                .any(|o| o.trim() == "RespectIgnoreDifferences=true")
        });
        Self {
            app: instance,
            destination_namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
            ignore_differences: app.spec.ignore_differences.clone(),
            compare_options,
            respect_ignore_differences,
            self_app: Some((ns, name)),
            ..Self::new("", "")
        }
    }

    /// The diff configuration of this target (checks every pointer and jq expression once).
    pub fn diff_config(&self) -> Result<DiffConfig, tether_diff::DiffError> {
        DiffConfig::new(&self.ignore_differences, &self.system, self.jq_timeout)
    }

    /// Whether the resource `obj` (desired, else live) is compared server-side.
    pub fn uses_server_side_diff(&self, obj: &Value) -> bool {
        CompareOptions::server_side_diff_for(
            &self.compare_options,
            &CompareOptions::of(obj),
            self.server_side_diff,
        )
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
    /// The changed fields (structured), each attributed to the live field's manager when the
    /// live `managedFields` say who set it.
    pub changes: Vec<Change>,
    /// Whether the comparison used a server-side apply dry-run.
    pub server_side: bool,
}

/// One resource of the comparison.
#[derive(Debug, Clone)]
pub struct ComparedResource {
    /// Argo CD's `status.resources` entry.
    pub status: ResourceStatus,
    /// Its key.
    pub key: ResourceKey,
    /// The desired object as it would be applied (namespace defaulted, tracking set; with
    /// `RespectIgnoreDifferences=true`, ignored fields taken from live).
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

fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// A desired Secret as the cache would hold it: `stringData` folded into `data`, values
/// replaced by the cache's keyed hashes, so it compares with the cached live Secret.
fn hashed_secret(desired: &Value) -> Value {
    let mut d = tether_diff::normalize(desired, true);
    hide_secret_values(&mut d);
    // `normalize` drops server metadata; keep what the desired object said (nothing server-set).
    d
}

/// Diffs one resource with tether-diff (see the module docs). `predicted` is the server's
/// answer to an SSA dry-run of the desired object, for a server-side diff.
pub fn diff_resource(
    name: &str,
    desired: Option<&Value>,
    live: Option<&Value>,
    predicted: Option<&Value>,
    cfg: &DiffConfig,
    include_mutation_webhook: bool,
) -> Result<ResourceDiff, tether_diff::DiffError> {
    // The cache holds Secret values as keyed hashes; hash the desired ones the same way.
    let desired: Option<Cow<'_, Value>> = desired.map(|d| {
        if is_secret(d) {
            Cow::Owned(hashed_secret(d))
        } else {
            Cow::Borrowed(d)
        }
    });
    let (result, server_side) = match (predicted, live) {
        (Some(p), Some(l)) => {
            let mut p = p.clone();
            hide_secret_values(&mut p);
            (
                tether_diff::server_side_diff(&p, l, cfg, include_mutation_webhook)?,
                true,
            )
        }
        _ => (tether_diff::diff(desired.as_deref(), live, cfg)?, false),
    };
    let unified = if result.modified {
        result.unified(name)?
    } else {
        String::new()
    };
    Ok(ResourceDiff {
        modified: result.modified,
        normalized_live: result.normalized_live.unwrap_or(Value::Null),
        predicted_live: result.predicted_live.unwrap_or(Value::Null),
        unified,
        changes: result.changes,
        server_side,
    })
}

/// Whether a value (or anything in it) is one of the cache's Secret hashes.
fn holds_hidden(v: &Value) -> bool {
    match v {
        Value::String(s) => s.starts_with(HIDDEN_PREFIX),
        Value::Array(a) => a.iter().any(holds_hidden),
        Value::Object(m) => m.values().any(holds_hidden),
        _ => false,
    }
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
    /// kinds it does not know). Resources compared server-side get one SSA dry-run each.
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

        // Server-side diff: one SSA dry-run per desired resource that has a live object.
        let mut predicted: HashMap<ResourceKey, Value> = HashMap::new();
        let api_resources = self.discovery().current();
        for (key, d) in &by_key {
            if !live.contains_key(key)
                || tether_health::is_hook(d)
                || !target.uses_server_side_diff(d)
            {
                continue;
            }
            let Some(info) = api_resources.preferred(&key.group, &key.kind) else {
                continue;
            };
            let api: kube::Api<kube::api::DynamicObject> = if info.namespaced {
                kube::Api::namespaced_with(self.client().clone(), &key.namespace, &info.resource)
            } else {
                kube::Api::all_with(self.client().clone(), &info.resource)
            };
            match tether_diff::server_side::dry_run_in(&api, d, tether_diff::TETHER_MANAGER).await {
                Ok(p) => {
                    predicted.insert(key.clone(), p);
                }
                // As Argo CD: a failing dry-run is reported and the resource is compared
                // client-side.
                Err(e) => warnings.push(format!(
                    "{key}: server-side diff failed, compared client-side: {e}"
                )),
            }
        }

        let mut result = compare_objects_with(by_key, live, target, health, predicted)?;
        warnings.append(&mut result.warnings);
        result.warnings = warnings;
        Ok(result)
    }
}

/// The comparison proper, without cluster access: desired objects by key (namespace defaulted,
/// tracking set, as [`ClusterCache::compare`] prepares them) against the live objects by key
/// (those with the desired keys and those tracked for the app). Every resource is compared
/// client-side.
pub fn compare_objects(
    by_key: BTreeMap<ResourceKey, Value>,
    live: HashMap<ResourceKey, Arc<LiveObject>>,
    target: &CompareTarget,
    health: &HealthChecker,
) -> Result<ComparisonResult, ClusterError> {
    compare_objects_with(by_key, live, target, health, HashMap::new())
}

/// [`compare_objects`] with the SSA dry-run results of the resources compared server-side.
pub fn compare_objects_with(
    mut by_key: BTreeMap<ResourceKey, Value>,
    live: HashMap<ResourceKey, Arc<LiveObject>>,
    target: &CompareTarget,
    health: &HealthChecker,
    predicted: HashMap<ResourceKey, Value>,
) -> Result<ComparisonResult, ClusterError> {
    let cfg = target.diff_config().map_err(ClusterError::DiffConfig)?;
    let mut keys: Vec<ResourceKey> = by_key.keys().cloned().collect();
    keys.extend(live.keys().filter(|k| !by_key.contains_key(*k)).cloned());
    keys.sort();

    let mut resources = Vec::with_capacity(keys.len());
    let mut live_values: Vec<Option<Value>> = Vec::with_capacity(keys.len());
    let mut warnings = Vec::new();
    let mut sync_status = SyncStatusCode::Synced;
    for key in keys {
        let mut desired = by_key.remove(&key);
        let live_obj = live.get(&key).cloned();
        let live_value = live_obj.as_ref().map(|o| o.value());
        let obj = desired
            .as_ref()
            .or(live_value.as_ref())
            .expect("a key comes from one side");
        let hook = tether_health::is_hook(obj);
        let skip = desired.as_ref().is_some_and(tether_health::is_skip);
        let resource_options = CompareOptions::of(obj);
        let include_webhook = resource_options.include_mutation_webhook
            || target.compare_options.include_mutation_webhook;
        let diff = diff_resource(
            &format!("{}/{}/{}", key.kind, key.namespace, key.name),
            desired.as_ref(),
            live_value.as_ref(),
            predicted.get(&key),
            &cfg,
            include_webhook,
        )
        .map_err(|source| ClusterError::Diff {
            key: key.to_string(),
            source,
        })?;
        let requires_pruning = desired.is_none() && live_obj.is_some() && !hook;
        let status = if hook || skip {
            None
        } else if diff.modified || desired.is_none() || live_obj.is_none() {
            let extraneous_ignored = requires_pruning
                && live_value
                    .as_ref()
                    .is_some_and(|l| CompareOptions::of(l).ignore_extraneous);
            if !extraneous_ignored {
                sync_status = SyncStatusCode::OutOfSync;
            }
            Some(SyncStatusCode::OutOfSync)
        } else {
            Some(SyncStatusCode::Synced)
        };
        if target.respect_ignore_differences
            && let (Some(d), Some(l)) = (desired.as_mut(), live_value.as_ref())
        {
            match tether_diff::respect_ignore_differences(d, Some(l), &cfg.rules) {
                // Never hand a cached Secret hash to sync as a value to apply.
                Ok(r) if is_secret(&r) && holds_hidden(r.get("data").unwrap_or(&Value::Null)) => {
                    warnings.push(format!(
                        "{key}: RespectIgnoreDifferences does not apply to Secret data (the cache holds no Secret value); the desired values are applied"
                    ));
                }
                Ok(r) => *d = r,
                Err(e) => warnings.push(format!("{key}: RespectIgnoreDifferences: {e}")),
            }
        }
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
        warnings,
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

    fn cfg(rules: &[ResourceIgnoreDifferences]) -> DiffConfig {
        let mut t = CompareTarget::new("app", "prod");
        t.ignore_differences = rules.to_vec();
        t.diff_config().expect("valid rules")
    }

    fn diff(desired: &Value, live: &Value, rules: &[ResourceIgnoreDifferences]) -> ResourceDiff {
        diff_resource("web", Some(desired), Some(live), None, &cfg(rules), false).expect("diff")
    }

    #[test]
    fn defaults_and_foreign_fields_are_not_differences() {
        let d = diff(&desired_deployment(), &live_deployment(), &[]);
        assert!(!d.modified, "{}", d.unified);
        assert!(d.unified.is_empty());
    }

    #[test]
    fn a_changed_field_is_a_difference_unless_ignored() {
        let mut live = live_deployment();
        live["spec"]["replicas"] = json!(5);
        let d = diff(&desired_deployment(), &live, &[]);
        assert!(d.modified);
        assert!(d.unified.contains("-  replicas: 5"), "{}", d.unified);
        assert!(d.unified.contains("+  replicas: 2"), "{}", d.unified);
        assert_eq!(d.changes.len(), 1, "{:?}", d.changes);
        assert_eq!(d.changes[0].path, "/spec/replicas");
        let rule = ResourceIgnoreDifferences {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            ..Default::default()
        };
        assert!(!diff(&desired_deployment(), &live, &[rule]).modified);
        let jq = ResourceIgnoreDifferences {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            jq_path_expressions: vec![".spec.replicas".into()],
            ..Default::default()
        };
        assert!(!diff(&desired_deployment(), &live, &[jq]).modified);
        // An added container is a difference.
        let mut desired = desired_deployment();
        desired["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("array")
            .push(json!({"name": "sidecar", "image": "busybox"}));
        assert!(diff(&desired, &live_deployment(), &[]).modified);
    }

    #[test]
    fn a_bad_jq_expression_is_an_error_naming_it() {
        let mut t = CompareTarget::new("app", "prod");
        t.ignore_differences = vec![ResourceIgnoreDifferences {
            kind: "Deployment".into(),
            jq_path_expressions: vec![".spec.[".into()],
            ..Default::default()
        }];
        let err = compare_objects(
            BTreeMap::new(),
            HashMap::new(),
            &t,
            &HealthChecker::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(".spec.["), "{err}");
    }

    #[test]
    fn secrets_are_masked_in_diffs() {
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                             "stringData": {"password": "hunter2"}});
        let mut live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                          "data": {"password": "b2xkLXBhc3N3b3Jk"}});
        // As the cache holds it.
        hide_secret_values(&mut live);
        let d = diff(&desired, &live, &[]);
        assert!(d.modified);
        let changes = serde_json::to_string(&d.changes).expect("json");
        for text in [
            d.unified.clone(),
            d.normalized_live.to_string(),
            d.predicted_live.to_string(),
            changes,
        ] {
            assert!(
                !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
                "{text}"
            );
            assert!(!text.contains("b2xkLXBhc3N3b3Jk"), "{text}");
            assert!(!text.contains(HIDDEN_PREFIX), "{text}");
        }
        // The same value hashed on both sides is not a difference.
        let mut same = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                          "data": {"password": "aHVudGVyMg=="}});
        hide_secret_values(&mut same);
        assert!(!diff(&desired, &same, &[]).modified);
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
