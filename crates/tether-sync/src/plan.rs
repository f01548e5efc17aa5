//! The sync plan, without I/O: which objects to apply, prune or run as hooks, and in which order.
//!
//! The order is gitops-engine's (`pkg/sync/sync_tasks.go`): phase (PreSync, Sync, PostSync, then
//! SyncFail, which only runs on failure), then wave, then kind (Helm's install order: Namespace,
//! NetworkPolicy, …; unknown kinds such as custom resources last), then name. After sorting, a
//! Namespace or CRD created by the plan is moved in front of (and into the phase and wave of) the
//! first object that needs it. Prunes keep the wave of the live object, but the prune waves are
//! mirrored (the last wave is pruned first) and `PruneLast=true` moves a prune after the last Sync wave.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;
use tether_model::annotations::{
    HELM_HOOK, HELM_HOOK_DELETE_POLICY, HELM_HOOK_WEIGHT, HOOK, HOOK_DELETE_POLICY, SYNC_OPTIONS,
    SYNC_WAVE, SyncOptions, TRACKING_ID,
};

/// The finalizer Argo CD puts on hooks while they run, so they are not garbage-collected unseen.
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// Kinds in the order they are applied within a wave (Helm's `kind_sorter.go`, as gitops-engine uses
/// it). Kinds not in the list (custom resources) come after all of them.
pub const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Rank of a kind: negative for the known kinds, 0 (last) for the others.
pub fn kind_rank(kind: &str) -> i64 {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |i| i as i64 - KIND_ORDER.len() as i64)
}

/// A sync phase, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncPhase {
    PreSync,
    Sync,
    PostSync,
    /// Runs only when the sync fails.
    SyncFail,
}

impl SyncPhase {
    /// Argo CD's name of the phase.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPhase::PreSync => "PreSync",
            SyncPhase::Sync => "Sync",
            SyncPhase::PostSync => "PostSync",
            SyncPhase::SyncFail => "SyncFail",
        }
    }
}

impl fmt::Display for SyncPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Argo CD's hook types (`argocd.argoproj.io/hook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookType {
    PreSync,
    Sync,
    PostSync,
    SyncFail,
    PostDelete,
    Skip,
}

impl HookType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PreSync" => Self::PreSync,
            "Sync" => Self::Sync,
            "PostSync" => Self::PostSync,
            "SyncFail" => Self::SyncFail,
            "PostDelete" => Self::PostDelete,
            "Skip" => Self::Skip,
            _ => return None,
        })
    }

    fn phase(self) -> Option<SyncPhase> {
        match self {
            HookType::PreSync => Some(SyncPhase::PreSync),
            HookType::Sync => Some(SyncPhase::Sync),
            HookType::PostSync => Some(SyncPhase::PostSync),
            HookType::SyncFail => Some(SyncPhase::SyncFail),
            HookType::PostDelete | HookType::Skip => None,
        }
    }
}

/// When a hook is deleted (`argocd.argoproj.io/hook-delete-policy`, or Helm's `helm.sh/hook-delete-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookDeletePolicy {
    /// After the sync succeeded.
    HookSucceeded,
    /// After the sync failed.
    HookFailed,
    /// Before the hook is created again (the default).
    BeforeHookCreation,
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

fn csv(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The hook types of an object as gitops-engine's `hook.Types`: Argo CD's annotation (unknown values
/// ignored); only without it, Helm's `helm.sh/hook` (pre-install/pre-upgrade → PreSync,
/// post-install/post-upgrade → PostSync; other Helm hooks ignored).
pub fn hook_types(obj: &Value) -> Vec<HookType> {
    let mut types: Vec<HookType> = annotation(obj, HOOK)
        .map(|v| csv(v).filter_map(HookType::parse).collect())
        .unwrap_or_default();
    if types.is_empty()
        && let Some(helm) = annotation(obj, HELM_HOOK)
    {
        types = csv(helm)
            .filter_map(|t| match t {
                "pre-install" | "pre-upgrade" => Some(HookType::PreSync),
                "post-install" | "post-upgrade" => Some(HookType::PostSync),
                _ => None,
            })
            .collect();
    }
    types
}

/// `Skip` is the object's only hook type: it is not synced at all.
pub fn is_skip(obj: &Value) -> bool {
    let types = hook_types(obj);
    types.contains(&HookType::Skip) && types.len() == 1
}

/// Whether an object is a hook (gitops-engine's `hook.IsHook`): Argo CD's annotation (unless Skip), or
/// Helm's annotation with any value but `crd-install`.
pub fn is_hook(obj: &Value) -> bool {
    if annotation(obj, HOOK).is_some() {
        return !is_skip(obj);
    }
    annotation(obj, HELM_HOOK).is_some_and(|v| v != "crd-install")
}

/// The phases an object is synced in (gitops-engine's `syncPhases`): none for Skip, the phases of its
/// hook types for a hook (PostDelete is not a sync phase), else Sync.
pub fn sync_phases(obj: &Value) -> Vec<SyncPhase> {
    if is_skip(obj) {
        return Vec::new();
    }
    if is_hook(obj) {
        let mut phases: Vec<SyncPhase> = hook_types(obj)
            .into_iter()
            .filter_map(HookType::phase)
            .collect();
        phases.sort();
        phases.dedup();
        return phases;
    }
    vec![SyncPhase::Sync]
}

/// The wave of an object: `argocd.argoproj.io/sync-wave`, else `helm.sh/hook-weight`, else 0. A value
/// that is not an integer counts as absent, as in gitops-engine.
pub fn wave(obj: &Value) -> i64 {
    [SYNC_WAVE, HELM_HOOK_WEIGHT]
        .iter()
        .find_map(|key| annotation(obj, key).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

/// Delete policies of a hook: Argo CD's and Helm's (mapped), BeforeHookCreation when none is given.
pub fn delete_policies(obj: &Value) -> Vec<HookDeletePolicy> {
    let mut policies = Vec::new();
    if let Some(v) = annotation(obj, HOOK_DELETE_POLICY) {
        policies.extend(csv(v).filter_map(|p| match p {
            "HookSucceeded" => Some(HookDeletePolicy::HookSucceeded),
            "HookFailed" => Some(HookDeletePolicy::HookFailed),
            "BeforeHookCreation" => Some(HookDeletePolicy::BeforeHookCreation),
            _ => None,
        }));
    }
    if let Some(v) = annotation(obj, HELM_HOOK_DELETE_POLICY) {
        policies.extend(csv(v).filter_map(|p| match p {
            "hook-succeeded" => Some(HookDeletePolicy::HookSucceeded),
            "hook-failed" => Some(HookDeletePolicy::HookFailed),
            "before-hook-creation" => Some(HookDeletePolicy::BeforeHookCreation),
            _ => None,
        }));
    }
    if policies.is_empty() {
        policies.push(HookDeletePolicy::BeforeHookCreation);
    }
    policies
}

/// Container images of an object's pod spec (Pod, workload templates, CronJob job templates), as
/// Argo CD lists them in a resource result.
pub fn images(obj: &Value) -> Vec<String> {
    let spec = obj.get("spec");
    let pod_specs = [
        spec,
        spec.and_then(|s| s.pointer("/template/spec")),
        spec.and_then(|s| s.pointer("/jobTemplate/spec/template/spec")),
    ];
    let mut out: Vec<String> = Vec::new();
    for pod in pod_specs.into_iter().flatten() {
        for list in ["initContainers", "containers"] {
            for c in pod
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(image) = c.get("image").and_then(Value::as_str)
                    && !out.iter().any(|i| i == image)
                {
                    out.push(image.to_owned());
                }
            }
        }
    }
    out
}

/// Hooks the sync does not run but the Application's deletion does (`PostDelete`).
pub fn post_delete_hooks(desired: &[Value]) -> Vec<&Value> {
    desired
        .iter()
        .filter(|o| is_hook(o) && hook_types(o).contains(&HookType::PostDelete))
        .collect()
}

/// Group, version and kind of an object from its `apiVersion` and `kind`.
pub fn gvk(obj: &Value) -> (&str, &str, &str) {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    (group, version, kind)
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Identity of a resource: group, kind, namespace (empty for cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ResourceKey {
    /// The key of an object as it stands.
    pub fn of(obj: &Value) -> Self {
        let (group, _, kind) = gvk(obj);
        Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: meta_str(obj, "namespace").to_owned(),
            name: meta_str(obj, "name").to_owned(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }
}

/// One step of the plan: apply `target` (a create/update or a hook run), or prune `live` when there is
/// no target.
#[derive(Debug, Clone)]
pub struct Task {
    /// Phase the task runs in.
    pub phase: SyncPhase,
    /// Effective wave (after prune mirroring, PruneLast and dependency moves).
    pub wave: i64,
    /// The desired object (`None` for a prune).
    pub target: Option<Value>,
    /// The object in the cluster, when known.
    pub live: Option<Value>,
    /// Whether the task is a hook.
    pub hook: bool,
    /// Sync options in force: the app's, overridden by the object's `argocd.argoproj.io/sync-options`.
    pub options: SyncOptions,
    /// Skip the dry run (custom resource whose CRD is not served yet).
    pub skip_dry_run: bool,
    /// Why the task cannot run (e.g. a malformed annotation); the sync fails before applying anything.
    pub invalid: Option<String>,
}

impl Task {
    /// The target if there is one, else the live object.
    pub fn obj(&self) -> &Value {
        self.target
            .as_ref()
            .or(self.live.as_ref())
            .expect("a task has a target or a live object")
    }

    /// Whether the task deletes a live object that is no longer desired.
    pub fn is_prune(&self) -> bool {
        self.target.is_none()
    }

    /// The resource key of [`Task::obj`].
    pub fn key(&self) -> ResourceKey {
        ResourceKey::of(self.obj())
    }

    /// Group, version, kind of [`Task::obj`].
    pub fn gvk(&self) -> (&str, &str, &str) {
        gvk(self.obj())
    }

    /// Name of [`Task::obj`].
    pub fn name(&self) -> &str {
        meta_str(self.obj(), "name")
    }

    /// Namespace of [`Task::obj`].
    pub fn namespace(&self) -> &str {
        meta_str(self.obj(), "namespace")
    }

    /// Whether the hook has this delete policy (never for a non-hook).
    pub fn has_delete_policy(&self, policy: HookDeletePolicy) -> bool {
        self.hook && delete_policies(self.obj()).contains(&policy)
    }

    /// A sync option of the task is `true`.
    pub fn option(&self, key: &str) -> bool {
        self.options.has(key, "true")
    }
}

/// Settings of a plan: the Application's destination and options.
#[derive(Debug, Clone, Default)]
pub struct PlanSettings {
    /// Destination namespace, given to namespaced objects without one.
    pub namespace: String,
    /// Revision being synced; its first 7 characters go into generated hook names.
    pub revision: String,
    /// Start of the operation (Unix seconds), in generated hook names.
    pub started_at_unix: i64,
    /// App-level sync options (`syncPolicy.syncOptions`).
    pub options: SyncOptions,
    /// Run no hooks.
    pub skip_hooks: bool,
    /// The application's name, for `FailOnSharedResource`.
    pub app_name: String,
}

/// Errors that stop planning: objects without the identity the plan needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("desired object #{index}: missing {field}")]
    MissingField { index: usize, field: &'static str },
    #[error(
        "desired object #{index} ({kind}): neither metadata.name nor metadata.generateName is set"
    )]
    NoName { index: usize, kind: String },
    #[error("desired objects #{first} and #{second} are the same resource {key}")]
    Duplicate {
        first: usize,
        second: usize,
        key: String,
    },
}

/// The ordered tasks of a sync.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// All tasks in execution order (SyncFail tasks last).
    pub tasks: Vec<Task>,
}

impl Plan {
    /// Whether the plan has more than one (phase, wave) step (gitops-engine's `multiStep`): only then
    /// does a wave wait for its resources to be healthy.
    pub fn multi_step(&self) -> bool {
        match (self.tasks.first(), self.tasks.last()) {
            (Some(a), Some(b)) => (a.phase, a.wave) != (b.phase, b.wave),
            _ => false,
        }
    }

    /// Steps (phase, wave) other than SyncFail, in order, as index ranges into `tasks`.
    pub fn steps(&self) -> Vec<(SyncPhase, i64, std::ops::Range<usize>)> {
        let mut out: Vec<(SyncPhase, i64, std::ops::Range<usize>)> = Vec::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if t.phase == SyncPhase::SyncFail {
                continue;
            }
            match out.last_mut() {
                Some((p, w, r)) if *p == t.phase && *w == t.wave => r.end = i + 1,
                _ => out.push((t.phase, t.wave, i..i + 1)),
            }
        }
        out
    }

    /// Indexes of the SyncFail tasks.
    pub fn sync_fail(&self) -> Vec<usize> {
        (0..self.tasks.len())
            .filter(|&i| self.tasks[i].phase == SyncPhase::SyncFail)
            .collect()
    }
}

fn resource_options(obj: &Value) -> Result<SyncOptions, String> {
    match annotation(obj, SYNC_OPTIONS) {
        None => Ok(SyncOptions::default()),
        Some(v) => SyncOptions::parse_annotation(v).map_err(|e| e.to_string()),
    }
}

/// The app an object is tracked for by its `argocd.argoproj.io/tracking-id` annotation (`<app>:…`) or,
/// failing that, the `app.kubernetes.io/instance` label.
pub fn tracking_app(obj: &Value) -> Option<&str> {
    if let Some(id) = annotation(obj, TRACKING_ID) {
        return id.split_once(':').map(|(app, _)| app);
    }
    obj.get("metadata")?
        .get("labels")?
        .get(tether_model::annotations::INSTANCE_LABEL)?
        .as_str()
}

/// Whether CRD `obj` defines `group`/`kind`; returns its scope (`true` = namespaced).
fn crd_defines(obj: &Value) -> Option<(&str, &str, bool)> {
    let (g, _, k) = gvk(obj);
    if g != "apiextensions.k8s.io" || k != "CustomResourceDefinition" {
        return None;
    }
    let spec = obj.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let kind = spec.get("names")?.get("kind")?.as_str()?;
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    Some((group, kind, namespaced))
}

/// Builds the plan from the desired objects (hooks included) and the live objects the app manages.
///
/// `namespaced(group, kind)` tells whether a kind is namespaced (`None` when the cluster does not
/// serve it): objects of namespaced kinds without a namespace get the destination namespace. Kinds
/// defined by a CRD in `desired` take the CRD's scope. Kinds the cluster does not serve, and no CRD of
/// the plan defines, keep their namespace (or get the destination's) and are marked invalid unless
/// `SkipDryRunOnMissingResource=true`.
pub fn plan(
    desired: &[Value],
    live: &[Value],
    settings: &PlanSettings,
    namespaced: &dyn Fn(&str, &str) -> Option<bool>,
) -> Result<Plan, PlanError> {
    let crds: HashMap<(&str, &str), bool> = desired
        .iter()
        .filter_map(crd_defines)
        .map(|(g, k, n)| ((g, k), n))
        .collect();
    let scope = |group: &str, kind: &str| -> Option<bool> {
        crds.get(&(group, kind))
            .copied()
            .or_else(|| namespaced(group, kind))
    };

    // Live objects by key; hooks and Skip objects among them are never pruned.
    let mut live_by_key: BTreeMap<ResourceKey, &Value> = BTreeMap::new();
    for obj in live {
        live_by_key.insert(ResourceKey::of(obj), obj);
    }
    let find_live = |key: &ResourceKey| -> Option<Value> {
        live_by_key.get(key).map(|v| (*v).clone()).or_else(|| {
            // A cluster-scoped live object matches a target that carries a namespace anyway.
            let mut k = key.clone();
            k.namespace.clear();
            live_by_key.get(&k).map(|v| (*v).clone())
        })
    };

    let mut tasks = Vec::new();
    let mut seen: HashMap<ResourceKey, usize> = HashMap::new();
    let short_rev: String = if settings.revision.len() >= 8 {
        settings.revision.chars().take(7).collect()
    } else {
        settings.revision.clone()
    };

    for (index, obj) in desired.iter().enumerate() {
        let (group, _, kind) = gvk(obj);
        if obj.get("apiVersion").and_then(Value::as_str).is_none() {
            return Err(PlanError::MissingField {
                index,
                field: "apiVersion",
            });
        }
        if kind.is_empty() {
            return Err(PlanError::MissingField {
                index,
                field: "kind",
            });
        }
        let hook = is_hook(obj);
        if hook && settings.skip_hooks {
            continue;
        }
        let phases = sync_phases(obj);
        if phases.is_empty() {
            continue;
        }
        let scope = scope(group, kind);
        let mut target = obj.clone();
        if meta_str(&target, "namespace").is_empty()
            && scope != Some(false)
            && !settings.namespace.is_empty()
        {
            set_meta(&mut target, "namespace", &settings.namespace);
        }
        if scope == Some(false)
            && let Some(m) = target.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("namespace");
        }
        let (options, invalid) = match resource_options(obj) {
            Ok(o) => (settings.options.merged_with(&o), None),
            Err(e) => (settings.options.clone(), Some(e)),
        };
        for phase in phases {
            let mut target = target.clone();
            if hook {
                if meta_str(&target, "name").is_empty() {
                    let generate = meta_str(&target, "generateName").to_owned();
                    if generate.is_empty() {
                        return Err(PlanError::NoName {
                            index,
                            kind: kind.to_owned(),
                        });
                    }
                    let name = format!(
                        "{generate}{}",
                        format!("{short_rev}-{phase}-{}", settings.started_at_unix).to_lowercase()
                    );
                    set_meta(&mut target, "name", &name);
                }
                add_finalizer(&mut target, HOOK_FINALIZER);
            } else if meta_str(&target, "name").is_empty() {
                return Err(PlanError::MissingField {
                    index,
                    field: "metadata.name",
                });
            }
            let key = ResourceKey::of(&target);
            if !hook && let Some(first) = seen.insert(key.clone(), index) {
                return Err(PlanError::Duplicate {
                    first,
                    second: index,
                    key: key.to_string(),
                });
            }
            let live = find_live(&key);
            let mut invalid = invalid.clone();
            if invalid.is_none()
                && !hook
                && options.has("FailOnSharedResource", "true")
                && let Some(owner) = live.as_ref().and_then(tracking_app)
                && owner != settings.app_name
            {
                invalid = Some(format!(
                    "{kind}/{} is part of applications {} and {owner}",
                    key.name, settings.app_name
                ));
            }
            tasks.push(Task {
                phase,
                wave: wave(&target),
                hook,
                target: Some(target),
                live,
                options: options.clone(),
                skip_dry_run: false,
                invalid,
            });
        }
    }

    // Prunes: live objects with no target; hooks and Skip objects are left alone.
    let targets: std::collections::HashSet<ResourceKey> =
        tasks.iter().filter(|t| !t.hook).map(|t| t.key()).collect();
    for (key, obj) in &live_by_key {
        if targets.contains(key) || is_hook(obj) || sync_phases(obj).is_empty() {
            continue;
        }
        let mut k = key.clone();
        k.namespace = settings.namespace.clone();
        if key.namespace.is_empty() && targets.contains(&k) {
            continue;
        }
        let (options, invalid) = match resource_options(obj) {
            Ok(o) => (settings.options.merged_with(&o), None),
            Err(e) => (settings.options.clone(), Some(e)),
        };
        tasks.push(Task {
            phase: SyncPhase::Sync,
            wave: wave(obj),
            target: None,
            live: Some((*obj).clone()),
            hook: false,
            options,
            skip_dry_run: false,
            invalid,
        });
    }

    mirror_prune_waves(&mut tasks);
    let last_sync_wave = tasks
        .iter()
        .filter(|t| t.phase == SyncPhase::Sync)
        .map(|t| t.wave)
        .fold(0, i64::max)
        + 1;
    for t in tasks.iter_mut() {
        if t.is_prune() && t.option("PruneLast") {
            t.wave = last_sync_wave;
        }
    }

    sort_tasks(&mut tasks);
    Ok(Plan { tasks })
}

fn set_meta(obj: &mut Value, field: &str, value: &str) {
    if let Some(o) = obj.as_object_mut() {
        let meta = o
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = meta.as_object_mut() {
            m.insert(field.to_owned(), Value::String(value.to_owned()));
        }
    }
}

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta
        .entry("finalizers")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(a) = list.as_array_mut()
        && !a.iter().any(|f| f.as_str() == Some(finalizer))
    {
        a.push(Value::String(finalizer.to_owned()));
    }
}

/// Prune waves are mirrored: the objects of the last wave are pruned first (gitops-engine swaps the
/// lowest and highest distinct prune waves, then the next pair, and so on).
fn mirror_prune_waves(tasks: &mut [Task]) {
    let mut waves: Vec<i64> = tasks
        .iter()
        .filter(|t| t.is_prune())
        .map(|t| t.wave)
        .collect();
    waves.sort_unstable();
    waves.dedup();
    let mirrored: HashMap<i64, i64> = waves
        .iter()
        .zip(waves.iter().rev())
        .map(|(a, b)| (*a, *b))
        .collect();
    for t in tasks.iter_mut().filter(|t| t.is_prune()) {
        t.wave = mirrored[&t.wave];
    }
}

/// Sorts as gitops-engine's `syncTasks.Sort`: phase, wave, kind rank, name; then Namespaces and CRDs
/// created by the plan move in front of the first task that needs them.
pub fn sort_tasks(tasks: &mut [Task]) {
    tasks.sort_by(|a, b| {
        (a.phase, a.wave, kind_rank(a.gvk().2), a.name()).cmp(&(
            b.phase,
            b.wave,
            kind_rank(b.gvk().2),
            b.name(),
        ))
    });
    adjust_deps(
        tasks,
        |t| {
            let (g, _, k) = gvk(t);
            (g.is_empty() && k == "Namespace").then(|| meta_str(t, "name").to_owned())
        },
        |t| {
            let ns = meta_str(t, "namespace");
            (!ns.is_empty()).then(|| ns.to_owned())
        },
    );
    adjust_deps(
        tasks,
        |t| crd_defines(t).map(|(g, k, _)| format!("{g}/{k}")),
        |t| {
            let (g, _, k) = gvk(t);
            Some(format!("{g}/{k}"))
        },
    );
}

/// Moves each dependency (a task for which `provides` gives a key) in front of the first earlier task
/// that `needs` the same key, taking that task's phase and wave.
fn adjust_deps(
    tasks: &mut [Task],
    provides: impl Fn(&Value) -> Option<String>,
    needs: impl Fn(&Value) -> Option<String>,
) {
    let mut first_user: HashMap<String, usize> = HashMap::new();
    for i in 0..tasks.len() {
        let Some(target) = tasks[i].target.as_ref() else {
            continue;
        };
        if let Some(dep) = provides(target) {
            if let Some(&index) = first_user.get(&dep) {
                let (phase, wave) = (tasks[index].phase, tasks[index].wave);
                tasks[i].phase = phase;
                tasks[i].wave = wave;
                tasks[index..=i].rotate_right(1);
                for v in first_user.values_mut() {
                    if *v >= index {
                        *v += 1;
                    }
                }
            }
        } else if let Some(dep) = needs(target) {
            first_user.entry(dep).or_insert(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api: &str, kind: &str, name: &str, annotations: Value) -> Value {
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "annotations": annotations}})
    }

    fn names(p: &Plan) -> Vec<String> {
        p.tasks
            .iter()
            .map(|t| {
                format!(
                    "{}/{}/{}{}",
                    t.phase,
                    t.wave,
                    t.name(),
                    if t.is_prune() { " (prune)" } else { "" }
                )
            })
            .collect()
    }

    fn settings() -> PlanSettings {
        PlanSettings {
            namespace: "dest".into(),
            revision: "0123456789abcdef".into(),
            started_at_unix: 1_700_000_000,
            app_name: "app".into(),
            ..Default::default()
        }
    }

    fn namespaced(_: &str, kind: &str) -> Option<bool> {
        Some(!matches!(
            kind,
            "Namespace" | "ClusterRole" | "CustomResourceDefinition"
        ))
    }

    #[test]
    fn phase_wave_kind_name() {
        let desired = vec![
            obj("apps/v1", "Deployment", "web", json!({})),
            obj("v1", "ConfigMap", "b", json!({})),
            obj("v1", "ConfigMap", "a", json!({})),
            obj("v1", "Service", "svc", json!({SYNC_WAVE: "-1"})),
            obj("example.com/v1", "Widget", "w", json!({})),
            obj("batch/v1", "Job", "migrate", json!({HOOK: "PreSync"})),
            obj("batch/v1", "Job", "notify", json!({HOOK: "PostSync"})),
            obj("batch/v1", "Job", "cleanup", json!({HOOK: "SyncFail"})),
            obj("v1", "ConfigMap", "skipped", json!({HOOK: "Skip"})),
            obj("v1", "ConfigMap", "gone", json!({HOOK: "PostDelete"})),
        ];
        let p = plan(&desired, &[], &settings(), &namespaced).expect("plan");
        assert_eq!(
            names(&p),
            [
                "PreSync/0/migrate",
                "Sync/-1/svc",
                "Sync/0/a",
                "Sync/0/b",
                "Sync/0/web",
                "Sync/0/w",
                "PostSync/0/notify",
                "SyncFail/0/cleanup",
            ]
        );
        assert!(p.multi_step());
        assert_eq!(p.tasks[2].namespace(), "dest");
        assert_eq!(
            p.tasks[0].target.as_ref().unwrap()["metadata"]["finalizers"][0],
            HOOK_FINALIZER
        );
        assert_eq!(p.steps().len(), 4);
        assert_eq!(p.sync_fail(), vec![7]);
    }

    #[test]
    fn helm_hooks_are_mapped() {
        let desired = vec![
            obj(
                "batch/v1",
                "Job",
                "pre",
                json!({HELM_HOOK: "pre-install,pre-upgrade", HELM_HOOK_WEIGHT: "-5",
                       HELM_HOOK_DELETE_POLICY: "hook-succeeded"}),
            ),
            obj(
                "batch/v1",
                "Job",
                "post",
                json!({HELM_HOOK: "post-install"}),
            ),
            obj("batch/v1", "Job", "test", json!({HELM_HOOK: "test"})),
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "crd",
                json!({HELM_HOOK: "crd-install"}),
            ),
        ];
        let p = plan(&desired, &[], &settings(), &namespaced).expect("plan");
        // A Helm `test` hook is a hook with no phase Argo CD runs; crd-install is not a hook.
        assert_eq!(
            names(&p),
            ["PreSync/-5/pre", "Sync/0/crd", "PostSync/0/post"]
        );
        assert!(p.tasks[0].has_delete_policy(HookDeletePolicy::HookSucceeded));
        assert!(!p.tasks[0].has_delete_policy(HookDeletePolicy::BeforeHookCreation));
        assert!(p.tasks[2].has_delete_policy(HookDeletePolicy::BeforeHookCreation));
        // An Argo CD annotation wins over Helm's.
        let both = obj(
            "batch/v1",
            "Job",
            "j",
            json!({HOOK: "PostSync", HELM_HOOK: "pre-install"}),
        );
        assert_eq!(hook_types(&both), vec![HookType::PostSync]);
    }

    #[test]
    fn generate_name_hooks_get_deterministic_names() {
        let mut hook = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"generateName": "migrate-", "annotations": {HOOK: "PreSync,PostSync"}}});
        let p = plan(&[hook.clone()], &[], &settings(), &namespaced).expect("plan");
        assert_eq!(
            p.tasks.iter().map(Task::name).collect::<Vec<_>>(),
            [
                "migrate-0123456-presync-1700000000",
                "migrate-0123456-postsync-1700000000"
            ]
        );
        hook["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("generateName");
        assert!(matches!(
            plan(&[hook], &[], &settings(), &namespaced),
            Err(PlanError::NoName { index: 0, .. })
        ));
    }

    #[test]
    fn prunes_mirror_waves_and_prune_last_goes_after_the_last_wave() {
        let mut live = Vec::new();
        for (name, w, extra) in [
            ("p1", "1", ""),
            ("p2", "2", ""),
            ("p3", "3", ""),
            ("last", "0", "PruneLast=true"),
        ] {
            let mut a = json!({SYNC_WAVE: w});
            if !extra.is_empty() {
                a[SYNC_OPTIONS] = json!(extra);
            }
            let mut o = obj("v1", "ConfigMap", name, a);
            o["metadata"]["namespace"] = json!("dest");
            live.push(o);
        }
        let mut hook_live = obj("batch/v1", "Job", "old-hook", json!({HOOK: "PreSync"}));
        hook_live["metadata"]["namespace"] = json!("dest");
        live.push(hook_live);
        let desired = vec![obj("v1", "ConfigMap", "keep", json!({SYNC_WAVE: "5"}))];
        let p = plan(&desired, &live, &settings(), &namespaced).expect("plan");
        assert_eq!(
            names(&p),
            [
                "Sync/0/p3 (prune)",
                "Sync/1/p2 (prune)",
                "Sync/2/p1 (prune)",
                "Sync/5/keep",
                "Sync/6/last (prune)",
            ]
        );
        let mut s = settings();
        s.options = SyncOptions::parse(["PruneLast=true"]).unwrap();
        let p = plan(&desired, &live, &s, &namespaced).expect("plan");
        assert!(p.tasks.iter().filter(|t| t.is_prune()).all(|t| t.wave == 6));
    }

    #[test]
    fn namespaces_and_crds_move_before_their_users() {
        let mut cm = obj("v1", "ConfigMap", "cm", json!({SYNC_WAVE: "-2"}));
        cm["metadata"]["namespace"] = json!("other");
        let ns = obj("v1", "Namespace", "other", json!({SYNC_WAVE: "3"}));
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com", "annotations": {SYNC_WAVE: "1"}},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}}});
        let w = obj("example.com/v1", "Widget", "w", json!({SYNC_WAVE: "-1"}));
        let p = plan(&[cm, ns, crd, w], &[], &settings(), &|_, _| None).expect("plan");
        assert_eq!(
            names(&p),
            [
                "Sync/-2/other",
                "Sync/-2/cm",
                "Sync/-1/widgets.example.com",
                "Sync/-1/w"
            ]
        );
        // The CRD says Widget is cluster-scoped: no destination namespace.
        assert_eq!(p.tasks[3].namespace(), "");
    }

    #[test]
    fn options_merge_and_bad_annotations_invalidate() {
        let mut s = settings();
        s.options = SyncOptions::parse(["Replace=true", "FailOnSharedResource=true"]).unwrap();
        let desired = vec![
            obj(
                "v1",
                "ConfigMap",
                "a",
                json!({SYNC_OPTIONS: "Replace=false"}),
            ),
            obj(
                "v1",
                "ConfigMap",
                "b",
                json!({SYNC_OPTIONS: "Prune=sometimes"}),
            ),
            obj("v1", "ConfigMap", "c", json!({})),
        ];
        let mut live_c = obj(
            "v1",
            "ConfigMap",
            "c",
            json!({TRACKING_ID: "other:/ConfigMap:dest/c"}),
        );
        live_c["metadata"]["namespace"] = json!("dest");
        let p = plan(&desired, &[live_c], &s, &namespaced).expect("plan");
        assert!(!p.tasks[0].option("Replace"));
        assert!(p.tasks[0].invalid.is_none());
        assert!(
            p.tasks[1].invalid.as_deref().unwrap().contains("Prune"),
            "{:?}",
            p.tasks[1].invalid
        );
        assert_eq!(
            p.tasks[2].invalid.as_deref(),
            Some("ConfigMap/c is part of applications app and other")
        );
    }

    #[test]
    fn images_and_post_delete_hooks() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"initContainers": [{"image": "init:1"}],
                "containers": [{"image": "app:2"}, {"image": "init:1"}]}}}});
        assert_eq!(images(&d), ["init:1", "app:2"]);
        let cj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"image": "cron:3"}]}}}}}});
        assert_eq!(images(&cj), ["cron:3"]);
        let hooks = [
            obj("batch/v1", "Job", "cleanup", json!({HOOK: "PostDelete"})),
            obj("batch/v1", "Job", "pre", json!({HOOK: "PreSync"})),
        ];
        let p = plan(&hooks, &[], &settings(), &namespaced).expect("plan");
        assert_eq!(names(&p), ["PreSync/0/pre"]);
        assert_eq!(post_delete_hooks(&hooks).len(), 1);
    }

    #[test]
    fn duplicates_are_an_error() {
        let a = obj("v1", "ConfigMap", "a", json!({}));
        let e = plan(&[a.clone(), a], &[], &settings(), &namespaced).unwrap_err();
        assert_eq!(
            e.to_string(),
            "desired objects #0 and #1 are the same resource /ConfigMap/dest/a"
        );
    }
}
