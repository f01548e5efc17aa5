//! Executing a plan against a cluster, as gitops-engine's `sync_context.go` does, but as one async
//! run instead of a state machine the controller calls repeatedly:
//!
//! 1. guards: a render error or an empty desired state with pruning (without `allowEmpty`) stops
//!    the sync before anything is touched;
//! 2. every kind is resolved; invalid tasks fail the sync;
//! 3. `CreateNamespace=true` creates the destination namespace;
//! 4. a server-side dry run (`dryRun=All`) of every task; one failure and nothing is applied;
//! 5. each (phase, wave) step in order: prunes, then deletion of hooks with `BeforeHookCreation`,
//!    then applies, grouped by kind; then, when the plan has several steps, wait until the step's
//!    resources are healthy and its hooks completed (with a timeout);
//! 6. on failure the SyncFail hooks run; at the end hooks are deleted by their delete policies.
//!
//! Applies are server-side apply by default (field manager `tether`, conflicts forced, as Argo
//! CD's `ServerSideApply=true`): it gives the same result for objects Tether owns (fields removed
//! from the manifest are removed from the object) without a `last-applied-configuration`
//! annotation, and lets other managers' fields be. Argo CD's default is a client-side `kubectl
//! apply`; [`ApplyMode::ClientSide`] (engine-wide) or `ServerSideApply=false` (app or resource)
//! selects that path ([`crate::csa`]: the three-way merge patch from the last-applied
//! configuration, which is written to the object). `ServerSideApply=true` always selects SSA.
//! `Replace=true` uses PUT/POST, `Force=true` deletes and recreates.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
    PostParams, PropagationPolicy,
};
use serde_json::{Value, json};
use tether_health::HealthChecker;
use tether_model::annotations::SyncOptions;
use tether_model::application::HealthStatusCode;
use tether_model::source::ManagedNamespaceMetadata;
use tokio_util::sync::CancellationToken;

use crate::csa;
use crate::plan::{
    self, HOOK_FINALIZER, HookDeletePolicy, Plan, PlanSettings, ResourceKey, SyncPhase, Task,
};
use crate::resolver::{Resolved, ResourceResolver};
use crate::result::{OperationPhase, ResourceResult, ResultCode, SyncEvent, SyncResult};

/// Changes a target before it is applied, for `RespectIgnoreDifferences=true`: the caller (which
/// knows the Application's `ignoreDifferences`) copies the ignored fields from the live object.
pub trait TargetNormalizer: Send + Sync {
    /// Adjusts `target` given the live object.
    fn normalize(&self, target: &mut Value, live: Option<&Value>);
}

/// Resolves when the cache reports a change to one of `keys` (group, kind, name), or when it
/// lagged (events were missed); never without a cache.
async fn changed(
    rx: Option<&mut tokio::sync::broadcast::Receiver<tether_cluster::CacheEvent>>,
    keys: &HashSet<(String, String, String)>,
) {
    use tether_cluster::CacheEvent;
    use tokio::sync::broadcast::error::RecvError;
    let Some(rx) = rx else {
        return std::future::pending().await;
    };
    loop {
        let obj = match rx.recv().await {
            Ok(CacheEvent::Applied { object, .. } | CacheEvent::Deleted(object)) => object,
            Ok(CacheEvent::Synced { .. }) => continue,
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => return std::future::pending().await,
        };
        let key = (
            obj.group().to_owned(),
            obj.kind().to_owned(),
            obj.name().to_owned(),
        );
        if keys.contains(&key) {
            return;
        }
    }
}

/// A progress callback.
pub type Progress = Arc<dyn Fn(&SyncEvent) + Send + Sync>;

/// How objects are applied when neither the app nor the resource sets `ServerSideApply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApplyMode {
    /// Server-side apply (`PATCH` apply, conflicts forced): Tether's default.
    #[default]
    ServerSide,
    /// `kubectl apply`'s client-side path: a three-way merge patch from the
    /// `kubectl.kubernetes.io/last-applied-configuration` annotation (Argo CD's default).
    ClientSide,
}

/// Engine settings that do not change per sync.
#[derive(Clone)]
pub struct SyncSettings {
    /// How objects are applied unless `ServerSideApply=true|false` says otherwise.
    pub apply_mode: ApplyMode,
    /// Field manager of server-side applies.
    pub field_manager: String,
    /// How long a step may wait for its resources to be healthy and its hooks to complete.
    pub health_timeout: Duration,
    /// How often a waiting step polls its resources.
    pub poll_interval: Duration,
    /// Requests in flight at once within a step.
    pub concurrency: usize,
    /// Requests per second to the API server (`None`: unlimited), as client-go's QPS.
    pub qps: Option<f64>,
    /// Requests allowed in a burst above `qps`, as client-go's Burst.
    pub burst: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            apply_mode: ApplyMode::ServerSide,
            field_manager: "tether".into(),
            health_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_millis(500),
            concurrency: 8,
            qps: None,
            burst: 10,
        }
    }
}

/// One sync operation's input.
#[derive(Clone, Default)]
pub struct SyncRequest {
    /// The Application's name (for `FailOnSharedResource`).
    pub app_name: String,
    /// Destination namespace.
    pub namespace: String,
    /// Revision synced (used in generated hook names).
    pub revision: String,
    /// Desired objects, hooks included.
    pub desired: Vec<Value>,
    /// Live objects the application manages (prune candidates and current state).
    pub live: Vec<Value>,
    /// App-level sync options (`syncPolicy.syncOptions`).
    pub options: SyncOptions,
    /// Delete live objects that are no longer desired (else they are reported `PruneSkipped`).
    pub prune: bool,
    /// Only the dry run: nothing is changed.
    pub dry_run: bool,
    /// Allow a sync whose desired state is empty to prune everything.
    pub allow_empty: bool,
    /// The manifests failed to render: the sync is refused, nothing is applied or pruned.
    pub render_error: Option<String>,
    /// Labels and annotations for the namespace `CreateNamespace=true` creates.
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
    /// Prunes marked `Prune=confirm` were confirmed.
    pub prune_confirmed: bool,
    /// For `ApplyOutOfSyncOnly=true`: whether each resource differs from its desired state (a
    /// resource missing from the map is applied).
    pub modified: HashMap<ResourceKey, bool>,
    /// Run no hooks.
    pub skip_hooks: bool,
}

impl SyncRequest {
    /// A request for these desired and live objects, in `namespace`.
    pub fn new(
        app_name: impl Into<String>,
        namespace: impl Into<String>,
        desired: Vec<Value>,
        live: Vec<Value>,
    ) -> Self {
        Self {
            app_name: app_name.into(),
            namespace: namespace.into(),
            desired,
            live,
            ..Default::default()
        }
    }
}

/// Runs syncs against one cluster.
pub struct SyncEngine {
    client: kube::Client,
    resolver: Arc<dyn ResourceResolver>,
    health: HealthChecker,
    settings: SyncSettings,
    normalizer: Option<Arc<dyn TargetNormalizer>>,
    progress: Option<Progress>,
    limiter: RateLimiter,
    cache: Option<tether_cluster::ClusterCache>,
}

impl SyncEngine {
    /// An engine on this client, resolving kinds with `resolver`.
    pub fn new(client: kube::Client, resolver: Arc<dyn ResourceResolver>) -> Self {
        Self {
            client,
            resolver,
            health: HealthChecker::default(),
            settings: SyncSettings::default(),
            normalizer: None,
            progress: None,
            limiter: RateLimiter::new(None, 10),
            cache: None,
        }
    }

    /// Uses this health checker (Lua overrides) between waves.
    pub fn with_health(mut self, health: HealthChecker) -> Self {
        self.health = health;
        self
    }

    /// Uses these settings.
    pub fn with_settings(mut self, settings: SyncSettings) -> Self {
        self.limiter = RateLimiter::new(settings.qps, settings.burst);
        self.settings = settings;
        self
    }

    /// Uses this normalizer for `RespectIgnoreDifferences=true`.
    pub fn with_normalizer(mut self, normalizer: Arc<dyn TargetNormalizer>) -> Self {
        self.normalizer = Some(normalizer);
        self
    }

    /// Wakes waits between waves on this cluster cache's watch events: a step waiting for its
    /// resources to become healthy (or its hooks to complete) re-checks as soon as the cache sees
    /// one of them change, instead of at the next `poll_interval` (which stays as a fallback for
    /// kinds the cache does not watch).
    pub fn with_cache(mut self, cache: tether_cluster::ClusterCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Reports progress to this callback.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Runs one sync. Cancelling `cancel` terminates it: running hooks are deleted and the
    /// operation ends `Failed` with `Operation terminated`.
    pub async fn sync(&self, req: SyncRequest, cancel: &CancellationToken) -> SyncResult {
        let mut run = Run {
            engine: self,
            req,
            cancel: cancel.clone(),
            states: Vec::new(),
            results: Vec::new(),
            result_index: HashMap::new(),
            multi_step: false,
        };
        let (phase, message) = run.execute().await;
        SyncResult {
            phase,
            message,
            resources: run.results,
        }
    }
}

struct TaskState {
    task: Task,
    resolved: Option<Resolved>,
    code: Option<ResultCode>,
    op: Option<OperationPhase>,
    message: String,
}

impl TaskState {
    fn running(&self) -> bool {
        self.op == Some(OperationPhase::Running)
    }
    fn completed(&self) -> bool {
        self.op.is_some_and(OperationPhase::completed)
    }
    fn pending(&self) -> bool {
        self.op.is_none()
    }
}

struct Run<'a> {
    engine: &'a SyncEngine,
    req: SyncRequest,
    cancel: CancellationToken,
    states: Vec<TaskState>,
    results: Vec<ResourceResult>,
    result_index: HashMap<(ResourceKey, SyncPhase), usize>,
    multi_step: bool,
}

/// The outcome of one API call for a task.
struct Outcome {
    code: ResultCode,
    op: OperationPhase,
    message: String,
    live: Option<Value>,
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => e.to_string(),
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

fn uid(obj: &Value) -> Option<&str> {
    obj.get("metadata")?.get("uid")?.as_str()
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(f)))
}

impl Run<'_> {
    fn emit(&self, event: SyncEvent) {
        if let Some(p) = &self.engine.progress {
            p(&event);
        }
    }

    fn set_result(
        &mut self,
        i: usize,
        code: Option<ResultCode>,
        op: OperationPhase,
        message: &str,
    ) {
        let s = &mut self.states[i];
        if code.is_some() {
            s.code = code;
        }
        s.op = Some(op);
        if !message.is_empty() {
            s.message = message.to_owned();
        }
        let t = &s.task;
        let (group, version, kind) = t.gvk();
        let r = ResourceResult {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            namespace: t.namespace().to_owned(),
            name: t.name().to_owned(),
            status: s.code.map(|c| c.as_str().to_owned()),
            message: (!s.message.is_empty()).then(|| s.message.clone()),
            hook_type: t.hook.then(|| t.phase.as_str().to_owned()),
            hook_phase: Some(op.as_str().to_owned()),
            sync_phase: Some(t.phase.as_str().to_owned()),
            images: plan::images(t.obj()),
        };
        let key = (t.key(), t.phase);
        match self.result_index.get(&key) {
            Some(&j) => self.results[j] = r.clone(),
            None => {
                self.result_index.insert(key, self.results.len());
                self.results.push(r.clone());
            }
        }
        self.emit(SyncEvent::Resource(r));
    }

    // Every request to the API server goes through these, behind the engine's rate limiter.
    async fn k_get_opt(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
    ) -> Result<Option<DynamicObject>, kube::Error> {
        self.engine.limiter.acquire().await;
        api.get_opt(name).await
    }

    async fn k_patch<P: serde::Serialize + std::fmt::Debug>(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<DynamicObject, kube::Error> {
        self.engine.limiter.acquire().await;
        api.patch(name, params, patch).await
    }

    async fn k_create(
        &self,
        api: &Api<DynamicObject>,
        params: &PostParams,
        obj: &DynamicObject,
    ) -> Result<DynamicObject, kube::Error> {
        self.engine.limiter.acquire().await;
        api.create(params, obj).await
    }

    async fn k_replace(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        params: &PostParams,
        obj: &DynamicObject,
    ) -> Result<DynamicObject, kube::Error> {
        self.engine.limiter.acquire().await;
        api.replace(name, params, obj).await
    }

    async fn k_delete(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<(), kube::Error> {
        self.engine.limiter.acquire().await;
        api.delete(name, params).await.map(drop)
    }

    fn api(&self, resolved: &Resolved, namespace: &str) -> Api<DynamicObject> {
        let ar: &ApiResource = &resolved.api_resource;
        if resolved.namespaced {
            let ns = if namespace.is_empty() {
                self.engine.client.default_namespace()
            } else {
                namespace
            };
            Api::namespaced_with(self.engine.client.clone(), ns, ar)
        } else {
            Api::all_with(self.engine.client.clone(), ar)
        }
    }

    async fn resolve(&self, obj: &Value) -> Result<Option<Resolved>, kube::Error> {
        let (group, version, kind) = plan::gvk(obj);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        self.engine.resolver.resolve(&gvk).await
    }

    async fn execute(&mut self) -> (OperationPhase, String) {
        if let Some(e) = &self.req.render_error {
            return (
                OperationPhase::Error,
                format!("refusing to sync: the manifests failed to render: {e}"),
            );
        }
        let desired_count = self
            .req
            .desired
            .iter()
            .filter(|o| !plan::is_hook(o))
            .count();
        if desired_count == 0
            && self.req.prune
            && !self.req.allow_empty
            && !self.req.live.is_empty()
        {
            return (
                OperationPhase::Failed,
                "refusing to prune every resource: the desired state is empty and allowEmpty is not set"
                    .into(),
            );
        }

        // Resolve every kind once, for scopes and API paths.
        let mut resolved: HashMap<(String, String), Option<Resolved>> = HashMap::new();
        for obj in self.req.desired.iter().chain(self.req.live.iter()) {
            let (g, v, k) = plan::gvk(obj);
            let api_version = if g.is_empty() {
                v.to_owned()
            } else {
                format!("{g}/{v}")
            };
            let key = (api_version, k.to_owned());
            if resolved.contains_key(&key) || k.is_empty() {
                continue;
            }
            match self.resolve(obj).await {
                Ok(r) => {
                    resolved.insert(key, r);
                }
                Err(e) => {
                    return (
                        OperationPhase::Error,
                        format!(
                            "discovery of {}/{} failed: {}",
                            key.0,
                            key.1,
                            api_message(&e)
                        ),
                    );
                }
            }
        }
        let scopes: HashMap<(String, String), bool> = resolved
            .iter()
            .filter_map(|((av, k), r)| {
                let group = av.rsplit_once('/').map_or("", |(g, _)| g);
                r.as_ref()
                    .map(|r| ((group.to_owned(), k.clone()), r.namespaced))
            })
            .collect();
        let settings = PlanSettings {
            namespace: self.req.namespace.clone(),
            revision: self.req.revision.clone(),
            started_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            options: self.req.options.clone(),
            skip_hooks: self.req.skip_hooks,
            app_name: self.req.app_name.clone(),
        };
        let plan: Plan = match plan::plan(&self.req.desired, &self.req.live, &settings, &|g, k| {
            scopes.get(&(g.to_owned(), k.to_owned())).copied()
        }) {
            Ok(p) => p,
            Err(e) => return (OperationPhase::Failed, e.to_string()),
        };
        self.multi_step = plan.multi_step();
        let crd_kinds: HashSet<(String, String)> = self
            .req
            .desired
            .iter()
            .filter_map(|o| {
                let (g, _, k) = plan::gvk(o);
                (g == "apiextensions.k8s.io" && k == "CustomResourceDefinition").then(|| {
                    let spec = &o["spec"];
                    (
                        spec["group"].as_str().unwrap_or_default().to_owned(),
                        spec["names"]["kind"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
            })
            .collect();
        for task in plan.tasks {
            let obj = task.obj();
            let (g, v, k) = plan::gvk(obj);
            let api_version = if g.is_empty() {
                v.to_owned()
            } else {
                format!("{g}/{v}")
            };
            let r = resolved
                .get(&(api_version, k.to_owned()))
                .cloned()
                .flatten();
            self.states.push(TaskState {
                task,
                resolved: r,
                code: None,
                op: None,
                message: String::new(),
            });
        }

        // Invalid tasks: bad annotations, shared resources, kinds the server does not serve.
        let mut valid = true;
        for i in 0..self.states.len() {
            let s = &mut self.states[i];
            if let Some(msg) = s.task.invalid.clone() {
                self.set_result(
                    i,
                    Some(ResultCode::SyncFailed),
                    OperationPhase::Failed,
                    &msg,
                );
                valid = false;
                continue;
            }
            if s.resolved.is_none() {
                let (g, v, k) = s.task.gvk();
                let defined_here = crd_kinds.contains(&(g.to_owned(), k.to_owned()));
                if !s.task.is_prune()
                    && (defined_here || s.task.option("SkipDryRunOnMissingResource"))
                {
                    s.task.skip_dry_run = true;
                } else {
                    let msg = format!(
                        "the server could not find the requested resource: {k} in {}",
                        if g.is_empty() {
                            v.to_owned()
                        } else {
                            format!("{g}/{v}")
                        }
                    );
                    self.set_result(
                        i,
                        Some(ResultCode::SyncFailed),
                        OperationPhase::Failed,
                        &msg,
                    );
                    valid = false;
                }
            }
        }
        if !valid {
            return (
                OperationPhase::Failed,
                "one or more synchronization tasks are not valid".into(),
            );
        }

        if let Err(msg) = self.create_namespace().await {
            return (OperationPhase::Failed, msg);
        }

        // The dry run of everything; nothing is applied if any task fails it.
        if !self.dry_run_all().await {
            return (
                OperationPhase::Failed,
                "one or more objects failed to apply (dry run)".into(),
            );
        }
        if self.req.dry_run {
            return (
                OperationPhase::Succeeded,
                "successfully synced (dry run)".into(),
            );
        }

        let steps: Vec<(SyncPhase, i64, Vec<usize>)> = {
            let p = Plan {
                tasks: self.states.iter().map(|s| s.task.clone()).collect(),
            };
            p.steps()
                .into_iter()
                .map(|(ph, w, r)| (ph, w, r.collect()))
                .collect()
        };
        let sync_fail: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i].task.phase == SyncPhase::SyncFail)
            .collect();

        // Hooks left over from an interrupted sync keep their finalizer: remove it first.
        for i in 0..self.states.len() {
            let s = &self.states[i];
            if s.task.hook
                && s.task
                    .live
                    .as_ref()
                    .is_some_and(|l| has_finalizer(l, HOOK_FINALIZER))
                && let Err(e) = self.remove_hook_finalizer(i).await
            {
                let msg = format!("failed to remove hook finalizer: {e}");
                self.set_result(i, None, OperationPhase::Error, &msg);
                return (OperationPhase::Failed, msg);
            }
        }

        let last = steps.len().saturating_sub(1);
        for (n, (phase, wave, idxs)) in steps.iter().enumerate() {
            if self.cancel.is_cancelled() {
                return self.terminate().await;
            }
            let idxs: Vec<usize> = idxs
                .iter()
                .copied()
                .filter(|&i| self.states[i].pending() && self.wanted(i))
                .collect();
            if idxs.is_empty() {
                continue;
            }
            self.emit(SyncEvent::Step {
                phase: *phase,
                wave: *wave,
            });
            match self.run_step(&idxs).await {
                StepState::Pending(msg) => return (OperationPhase::Running, msg),
                StepState::Failed => {
                    return self
                        .fail(&sync_fail, "one or more objects failed to apply")
                        .await;
                }
                StepState::Ok => {}
            }
            let has_hooks = idxs.iter().any(|&i| self.states[i].task.hook);
            if n == last && !has_hooks {
                break;
            }
            let waiting: Vec<usize> = idxs
                .iter()
                .copied()
                .filter(|&i| {
                    (self.multi_step || self.states[i].task.hook) && self.states[i].running()
                })
                .collect();
            if !self.wait_running(&waiting).await {
                return self.terminate().await;
            }
            for &i in &idxs {
                let s = &self.states[i];
                if s.task.hook && s.completed() {
                    let _ = self.remove_hook_finalizer(i).await;
                }
            }
            if idxs.iter().any(|&i| {
                self.states[i].completed()
                    && !self.states[i].op.is_some_and(OperationPhase::successful)
            }) {
                return self
                    .fail(
                        &sync_fail,
                        "one or more synchronization tasks completed unsuccessfully",
                    )
                    .await;
            }
            if n != last {
                let pruned: Vec<usize> = idxs
                    .iter()
                    .copied()
                    .filter(|&i| self.states[i].code == Some(ResultCode::Pruned))
                    .collect();
                if !self.wait_deleted(&pruned).await {
                    return self.terminate().await;
                }
            }
        }

        // Success: hooks with HookSucceeded go.
        let done: Vec<usize> = (0..self.states.len())
            .filter(|&i| {
                let s = &self.states[i];
                s.task.phase != SyncPhase::SyncFail
                    && s.code.is_some()
                    && !s.running()
                    && s.task.has_delete_policy(HookDeletePolicy::HookSucceeded)
            })
            .collect();
        self.delete_hooks(&done).await;
        (
            OperationPhase::Succeeded,
            "successfully synced (all tasks run)".into(),
        )
    }

    /// ApplyOutOfSyncOnly: skip resources the caller says are in sync.
    fn wanted(&self, i: usize) -> bool {
        let t = &self.states[i].task;
        if !t.option("ApplyOutOfSyncOnly") || t.hook || t.target.is_none() || t.live.is_none() {
            return true;
        }
        self.req.modified.get(&t.key()).copied().unwrap_or(true)
    }

    async fn create_namespace(&mut self) -> Result<(), String> {
        let ns = self.req.namespace.clone();
        if !self.req.options.has("CreateNamespace", "true") || ns.is_empty() {
            return Ok(());
        }
        let in_plan = self.req.desired.iter().any(|o| {
            let (g, _, k) = plan::gvk(o);
            g.is_empty() && k == "Namespace" && o["metadata"]["name"].as_str() == Some(&ns)
        });
        if in_plan {
            return Ok(());
        }
        let mut target = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let meta = self.req.managed_namespace_metadata.clone();
        if let Some(m) = &meta {
            if !m.labels.is_empty() {
                target["metadata"]["labels"] = json!(m.labels);
            }
            if !m.annotations.is_empty() {
                target["metadata"]["annotations"] = json!(m.annotations);
            }
        }
        let api: Api<DynamicObject> = Api::all_with(
            self.engine.client.clone(),
            &ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&()),
        );
        let live = self
            .k_get_opt(&api, &ns)
            .await
            .map_err(|e| format!("namespace auto creation failed: {}", api_message(&e)))?;
        if live.is_some() && meta.is_none() {
            return Ok(());
        }
        let mut task = Task {
            phase: SyncPhase::PreSync,
            wave: 0,
            target: Some(target.clone()),
            live: live.as_ref().and_then(|l| serde_json::to_value(l).ok()),
            hook: false,
            options: SyncOptions::default(),
            skip_dry_run: false,
            invalid: None,
        };
        task.skip_dry_run = true;
        self.states.push(TaskState {
            task,
            resolved: None,
            code: None,
            op: None,
            message: String::new(),
        });
        let i = self.states.len() - 1;
        let params = PatchParams::apply(&self.engine.settings.field_manager).force();
        match self
            .k_patch(&api, &ns, &params, &Patch::Apply(&target))
            .await
        {
            Ok(_) => {
                let msg = if live.is_none() {
                    format!("namespace/{ns} created")
                } else {
                    format!("namespace/{ns} serverside-applied")
                };
                self.set_result(i, Some(ResultCode::Synced), OperationPhase::Succeeded, &msg);
                Ok(())
            }
            Err(e) => {
                let msg = format!("namespace auto creation failed: {}", api_message(&e));
                self.set_result(
                    i,
                    Some(ResultCode::SyncFailed),
                    OperationPhase::Failed,
                    &msg,
                );
                Err(msg)
            }
        }
    }

    async fn dry_run_all(&mut self) -> bool {
        // Namespaces the plan creates: objects in them cannot be dry-run before they exist.
        let new_namespaces: HashSet<String> = self
            .states
            .iter()
            .filter(|s| {
                let (g, _, k) = s.task.gvk();
                g.is_empty() && k == "Namespace" && s.task.target.is_some() && s.task.live.is_none()
            })
            .map(|s| s.task.name().to_owned())
            .collect();
        let todo: Vec<usize> = (0..self.states.len())
            .filter(|&i| {
                let s = &self.states[i];
                let t = &s.task;
                s.pending()
                    && !t.is_prune()
                    && !t.skip_dry_run
                    && !new_namespaces.contains(t.namespace())
                    && !(t.live.is_some()
                        && (t.has_delete_policy(HookDeletePolicy::BeforeHookCreation)
                            || t.option("Force")))
                    && self.wanted(i)
            })
            .collect();
        let outcomes = self.apply_many(&todo, true).await;
        let mut ok = true;
        for (i, o) in outcomes {
            if o.code == ResultCode::SyncFailed {
                ok = false;
                let msg = o.message;
                self.set_result(
                    i,
                    Some(ResultCode::SyncFailed),
                    OperationPhase::Failed,
                    &msg,
                );
            } else if self.req.dry_run {
                self.set_result(i, Some(o.code), OperationPhase::Succeeded, &o.message);
            }
        }
        if self.req.dry_run && ok {
            // A dry-run operation reports what the prunes would do too.
            for i in 0..self.states.len() {
                let t = &self.states[i].task;
                if !t.is_prune() || !self.states[i].pending() {
                    continue;
                }
                let (code, msg) = if !self.req.prune {
                    (ResultCode::PruneSkipped, "ignored (requires pruning)")
                } else if t.options.has("Prune", "false") {
                    (ResultCode::PruneSkipped, "ignored (no prune)")
                } else {
                    (ResultCode::Pruned, "pruned (dry run)")
                };
                self.set_result(i, Some(code), OperationPhase::Succeeded, msg);
            }
        }
        ok
    }

    async fn apply_many(&self, idxs: &[usize], dry_run: bool) -> Vec<(usize, Outcome)> {
        stream::iter(idxs.iter().copied())
            .map(|i| async move { (i, self.apply(i, dry_run).await) })
            .buffer_unordered(self.engine.settings.concurrency.max(1))
            .collect()
            .await
    }

    async fn run_step(&mut self, idxs: &[usize]) -> StepState {
        let (prunes, creates): (Vec<usize>, Vec<usize>) =
            idxs.iter().partition(|&&i| self.states[i].task.is_prune());

        // Prunes first.
        if !self.req.prune_confirmed {
            let needs: Vec<String> = prunes
                .iter()
                .filter(|&&i| self.states[i].task.options.has("Prune", "confirm"))
                .map(|&i| {
                    let t = &self.states[i].task;
                    let av = t.obj()["apiVersion"].as_str().unwrap_or_default();
                    format!("{av}/{}/{}", t.gvk().2, t.name())
                })
                .collect();
            if let Some(first) = needs.first() {
                let more = if needs.len() > 1 {
                    format!(" and {} more resources", needs.len() - 1)
                } else {
                    String::new()
                };
                return StepState::Pending(format!(
                    "Waiting for pruning confirmation of {first}{more}"
                ));
            }
        }
        let this = &*self;
        let outcomes: Vec<(usize, Outcome)> = stream::iter(prunes.iter().copied())
            .map(|i| async move { (i, this.prune(i).await) })
            .buffer_unordered(self.engine.settings.concurrency.max(1))
            .collect()
            .await;
        let mut failed = false;
        for (i, o) in outcomes {
            failed |= o.code == ResultCode::SyncFailed;
            self.set_result(i, Some(o.code), o.op, &o.message);
        }
        if failed {
            return StepState::Failed;
        }

        // Hooks to delete before they are created again.
        let before: Vec<usize> = creates
            .iter()
            .copied()
            .filter(|&i| {
                let t = &self.states[i].task;
                t.live.is_some() && t.has_delete_policy(HookDeletePolicy::BeforeHookCreation)
            })
            .collect();
        for &i in &before {
            if let Err(msg) = self.delete_and_wait(i).await {
                self.set_result(i, None, OperationPhase::Error, &msg);
                failed = true;
            } else {
                self.states[i].task.live = None;
            }
        }
        if failed {
            return StepState::Failed;
        }

        // Applies, one kind after the other.
        let mut start = 0;
        while start < creates.len() {
            let kind = self.states[creates[start]].task.gvk().2.to_owned();
            let mut end = start;
            while end < creates.len() && self.states[creates[end]].task.gvk().2 == kind {
                end += 1;
            }
            let outcomes = self.apply_many(&creates[start..end], false).await;
            for (i, o) in outcomes {
                failed |= o.code == ResultCode::SyncFailed;
                if o.live.is_some() {
                    self.states[i].task.live = o.live;
                }
                self.set_result(i, Some(o.code), o.op, &o.message);
            }
            start = end;
        }
        if failed {
            StepState::Failed
        } else {
            StepState::Ok
        }
    }

    async fn prune(&self, i: usize) -> Outcome {
        let t = &self.states[i].task;
        let skipped = |message: &str| Outcome {
            code: ResultCode::PruneSkipped,
            op: OperationPhase::Succeeded,
            message: message.into(),
            live: None,
        };
        if !self.req.prune {
            return skipped("ignored (requires pruning)");
        }
        if t.options.has("Prune", "false") {
            return skipped("ignored (no prune)");
        }
        let live = t.live.as_ref().expect("a prune has a live object");
        if live["metadata"]["deletionTimestamp"].is_string() {
            return Outcome {
                code: ResultCode::Pruned,
                op: OperationPhase::Succeeded,
                message: "pruned".into(),
                live: None,
            };
        }
        let Some(resolved) = &self.states[i].resolved else {
            return Outcome {
                code: ResultCode::SyncFailed,
                op: OperationPhase::Failed,
                message: "the server does not serve this kind any more".into(),
                live: None,
            };
        };
        let api = self.api(resolved, t.namespace());
        match self.k_delete(&api, t.name(), &self.delete_params(t)).await {
            Ok(_) => Outcome {
                code: ResultCode::Pruned,
                op: OperationPhase::Succeeded,
                message: "pruned".into(),
                live: None,
            },
            Err(e) if is_status(&e, 404) => Outcome {
                code: ResultCode::Pruned,
                op: OperationPhase::Succeeded,
                message: "pruned".into(),
                live: None,
            },
            Err(e) => Outcome {
                code: ResultCode::SyncFailed,
                op: OperationPhase::Failed,
                message: api_message(&e),
                live: None,
            },
        }
    }

    fn delete_params(&self, t: &Task) -> DeleteParams {
        let policy = match t.options.get("PrunePropagationPolicy") {
            Some("background") => PropagationPolicy::Background,
            Some("orphan") => PropagationPolicy::Orphan,
            _ => PropagationPolicy::Foreground,
        };
        DeleteParams {
            propagation_policy: Some(policy),
            ..Default::default()
        }
    }

    async fn resolved_for(&self, i: usize) -> Result<Resolved, String> {
        if let Some(r) = &self.states[i].resolved {
            return Ok(r.clone());
        }
        // A custom resource whose CRD was created by this sync.
        let obj = self.states[i].task.obj();
        match self.resolve(obj).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => {
                let (g, v, k) = plan::gvk(obj);
                Err(format!(
                    "the server could not find the requested resource: {k} in {}{}{v}",
                    g,
                    if g.is_empty() { "" } else { "/" }
                ))
            }
            Err(e) => Err(api_message(&e)),
        }
    }

    async fn apply(&self, i: usize, dry_run: bool) -> Outcome {
        let t = &self.states[i].task;
        let failed = |message: String| Outcome {
            code: ResultCode::SyncFailed,
            op: OperationPhase::Failed,
            message,
            live: None,
        };
        let resolved = match self.resolved_for(i).await {
            Ok(r) => r,
            Err(m) => return failed(m),
        };
        let mut target = t.target.clone().expect("apply has a target");
        if !resolved.namespaced
            && let Some(m) = target.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("namespace");
        }
        if t.option("RespectIgnoreDifferences")
            && let Some(n) = &self.engine.normalizer
        {
            n.normalize(&mut target, t.live.as_ref());
        }
        let api = self.api(&resolved, t.namespace());
        let name = t.name().to_owned();
        let kind_lower = t.gvk().2.to_lowercase();
        let fm = self.engine.settings.field_manager.clone();
        let force = t.option("Force");
        let post = PostParams {
            dry_run,
            field_manager: Some(fm.clone()),
        };
        let (g, _, k) = t.gvk();
        let is_crd = g == "apiextensions.k8s.io" && k == "CustomResourceDefinition";
        let server_side = match t.options.get("ServerSideApply") {
            Some("true") => true,
            Some("false") => false,
            _ => self.engine.settings.apply_mode == ApplyMode::ServerSide,
        };
        let result: Result<(DynamicObject, &str), kube::Error> = async {
            let obj: DynamicObject =
                serde_json::from_value(target.clone()).map_err(kube::Error::SerdeError)?;
            if t.option("Replace") {
                let current = self.k_get_opt(&api, &name).await?;
                match current {
                    Some(cur) if force && !is_crd && !(g.is_empty() && k == "Namespace") => {
                        if dry_run {
                            // Nothing to check without deleting first.
                            return Ok((cur, "replaced"));
                        }
                        self.delete_and_wait_api(&api, &name, cur.metadata.uid.as_deref())
                            .await?;
                        Ok((self.k_create(&api, &post, &obj).await?, "replaced"))
                    }
                    Some(cur) => {
                        let mut obj = obj;
                        obj.metadata.resource_version = cur.metadata.resource_version;
                        let verb = if is_crd || (g.is_empty() && k == "Namespace") {
                            "updated"
                        } else {
                            "replaced"
                        };
                        Ok((self.k_replace(&api, &name, &post, &obj).await?, verb))
                    }
                    None => Ok((self.k_create(&api, &post, &obj).await?, "created")),
                }
            } else if !server_side {
                // kubectl apply (client-side): three-way merge patch from last-applied.
                let modified = csa::modified_configuration(&target);
                let mobj: DynamicObject =
                    serde_json::from_value(modified.clone()).map_err(kube::Error::SerdeError)?;
                let Some(cur) = self.k_get_opt(&api, &name).await? else {
                    return Ok((self.k_create(&api, &post, &mobj).await?, "created"));
                };
                let current = serde_json::to_value(&cur).map_err(kube::Error::SerdeError)?;
                let original = csa::original_configuration(&current);
                let patch = csa::three_way_merge_patch(original.as_ref(), &modified, &current);
                if patch.as_object().is_some_and(|m| m.is_empty()) {
                    return Ok((cur, "unchanged"));
                }
                let mut params = PatchParams {
                    field_manager: Some(fm.clone()),
                    dry_run,
                    ..PatchParams::default()
                };
                params = if t.options.get("Validate") != Some("false") {
                    params.validation_strict()
                } else {
                    params.validation_ignore()
                };
                match self
                    .k_patch(&api, &name, &params, &Patch::Merge(&patch))
                    .await
                {
                    Ok(o) => Ok((o, "configured")),
                    Err(e) if force && (is_status(&e, 422) || is_status(&e, 409)) => {
                        if dry_run {
                            return Ok((mobj, "replaced"));
                        }
                        self.delete_and_wait_api(&api, &name, None).await?;
                        Ok((self.k_create(&api, &post, &mobj).await?, "replaced"))
                    }
                    Err(e) => Err(e),
                }
            } else {
                let validate = t.options.get("Validate") != Some("false");
                if !validate && self.k_get_opt(&api, &name).await?.is_none() {
                    // Server-side apply rejects fields the schema does not declare whatever
                    // `fieldValidation` says; a create drops them (the server's default is Warn).
                    return Ok((self.k_create(&api, &post, &obj).await?, "created"));
                }
                // ClientSideApplyMigration (default true): let SSA own what was applied
                // client-side, so fields dropped from the manifest are removed.
                if !dry_run
                    && t.options.get("ClientSideApplyMigration") != Some("false")
                    && let Some(live) = &t.live
                    && csa::migrated_managed_fields(live, &fm).is_some()
                {
                    self.migrate_client_side(&api, &name, &fm).await?;
                }
                let mut params = PatchParams::apply(&fm).force();
                params.dry_run = dry_run;
                params = if validate {
                    params.validation_strict()
                } else {
                    params.validation_ignore()
                };
                match self
                    .k_patch(&api, &name, &params, &Patch::Apply(&target))
                    .await
                {
                    Ok(o) => Ok((o, "serverside-applied")),
                    Err(e) if force && (is_status(&e, 422) || is_status(&e, 409)) => {
                        // kubectl apply --force: recreate when the change cannot be applied.
                        if dry_run {
                            return Ok((obj, "replaced"));
                        }
                        self.delete_and_wait_api(&api, &name, None).await?;
                        Ok((self.k_create(&api, &post, &obj).await?, "replaced"))
                    }
                    Err(e) => Err(e),
                }
            }
        }
        .await;
        match result {
            Ok((live, verb)) => {
                if is_crd && !dry_run {
                    self.wait_crd_established(&api, &name).await;
                    self.engine.resolver.invalidate();
                }
                let suffix = if dry_run { " (dry run)" } else { "" };
                Outcome {
                    code: ResultCode::Synced,
                    op: if dry_run {
                        OperationPhase::Succeeded
                    } else {
                        OperationPhase::Running
                    },
                    message: format!("{kind_lower}/{name} {verb}{suffix}"),
                    live: serde_json::to_value(&live).ok(),
                }
            }
            Err(e) => failed(api_message(&e)),
        }
    }

    /// Moves the client-side apply entries of the live object's `managedFields` into
    /// `manager`'s `Apply` entry ([`csa::migrated_managed_fields`]), conditional on the
    /// resourceVersion read.
    async fn migrate_client_side(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        manager: &str,
    ) -> Result<(), kube::Error> {
        let Some(cur) = self.k_get_opt(api, name).await? else {
            return Ok(());
        };
        let current = serde_json::to_value(&cur).map_err(kube::Error::SerdeError)?;
        let Some(fields) = csa::migrated_managed_fields(&current, manager) else {
            return Ok(());
        };
        let patch = json!({"metadata": {"managedFields": fields,
            "resourceVersion": cur.metadata.resource_version}});
        self.k_patch(api, name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
    }

    async fn wait_crd_established(&self, api: &Api<DynamicObject>, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(crd)) = self.k_get_opt(api, name).await {
                let established = crd.data["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    });
                if established {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn delete_and_wait_api(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        uid: Option<&str>,
    ) -> Result<(), kube::Error> {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..Default::default()
        };
        match self.k_delete(api, name, &params).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => return Ok(()),
            Err(e) => return Err(e),
        }
        let deadline = Instant::now() + self.engine.settings.health_timeout;
        loop {
            match self.k_get_opt(api, name).await? {
                None => return Ok(()),
                Some(o) if uid.is_some() && o.metadata.uid.as_deref() != uid => return Ok(()),
                Some(_) if Instant::now() > deadline => {
                    return Err(kube::Error::Api(Box::new(kube::core::Status::failure(
                        &format!("timed out waiting for the deletion of {name}"),
                        "Timeout",
                    ))));
                }
                Some(_) => tokio::time::sleep(self.engine.settings.poll_interval).await,
            }
        }
    }

    async fn delete_and_wait(&self, i: usize) -> Result<(), String> {
        let resolved = self.resolved_for(i).await?;
        let t = &self.states[i].task;
        let api = self.api(&resolved, t.namespace());
        let uid = t.live.as_ref().and_then(uid).map(str::to_owned);
        self.delete_and_wait_api(&api, t.name(), uid.as_deref())
            .await
            .map_err(|e| format!("failed to delete resource: {}", api_message(&e)))
    }

    /// Removes the hook finalizer (compare-and-swap on the resourceVersion, retried on conflict, as
    /// the hook's controller keeps writing its status).
    async fn remove_hook_finalizer(&mut self, i: usize) -> Result<(), String> {
        let resolved = self.resolved_for(i).await?;
        let t = &self.states[i].task;
        let api = self.api(&resolved, t.namespace());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(cur) = self
                .k_get_opt(&api, t.name())
                .await
                .map_err(|e| api_message(&e))?
            else {
                return Ok(());
            };
            let finalizers = cur.metadata.finalizers.clone().unwrap_or_default();
            if !finalizers.iter().any(|f| f == HOOK_FINALIZER) {
                return Ok(());
            }
            let rest: Vec<&String> = finalizers.iter().filter(|f| *f != HOOK_FINALIZER).collect();
            let patch = json!({"metadata": {"finalizers": rest,
                "resourceVersion": cur.metadata.resource_version}});
            match self
                .k_patch(
                    &api,
                    t.name(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(live) => {
                    self.states[i].task.live = serde_json::to_value(&live).ok();
                    return Ok(());
                }
                Err(e) if is_status(&e, 409) && attempt < 10 => {
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) if is_status(&e, 404) => return Ok(()),
                Err(e) => return Err(api_message(&e)),
            }
        }
    }

    /// Waits until none of `idxs` is running. `false` if cancelled.
    async fn wait_running(&mut self, idxs: &[usize]) -> bool {
        let deadline = Instant::now() + self.engine.settings.health_timeout;
        // Subscribed before each round of checks, so a change during the round wakes the next.
        let mut changes = self.engine.cache.as_ref().map(|c| c.subscribe());
        loop {
            let mut still = Vec::new();
            for &i in idxs {
                if !self.states[i].running() {
                    continue;
                }
                let resolved = match self.resolved_for(i).await {
                    Ok(r) => r,
                    Err(m) => {
                        self.set_result(i, None, OperationPhase::Error, &m);
                        continue;
                    }
                };
                let t = &self.states[i].task;
                let api = self.api(&resolved, t.namespace());
                let live = match self.k_get_opt(&api, t.name()).await {
                    Ok(Some(o)) => serde_json::to_value(&o).unwrap_or(Value::Null),
                    Ok(None) => {
                        let (g, _, k) = t.gvk();
                        let msg = format!(
                            "Resource {g}/{k}/{} is missing, it might have been deleted",
                            t.name()
                        );
                        self.set_result(
                            i,
                            Some(ResultCode::SyncFailed),
                            OperationPhase::Error,
                            &msg,
                        );
                        continue;
                    }
                    Err(e) => {
                        let msg = format!("Failed to get live resource {}", api_message(&e));
                        self.set_result(i, None, OperationPhase::Error, &msg);
                        continue;
                    }
                };
                let hook = t.hook;
                let health = self.engine.health.check(&live);
                self.states[i].task.live = Some(live);
                let (op, msg) = match (hook, health) {
                    (_, None) => (
                        OperationPhase::Succeeded,
                        if hook {
                            format!("{} created", self.states[i].task.name())
                        } else {
                            String::new()
                        },
                    ),
                    (_, Some(h)) => {
                        let m = h.message.unwrap_or_default();
                        match h.status {
                            HealthStatusCode::Healthy => (OperationPhase::Succeeded, m),
                            HealthStatusCode::Degraded => (OperationPhase::Failed, m),
                            HealthStatusCode::Unknown if hook => (OperationPhase::Failed, m),
                            _ => (OperationPhase::Running, m),
                        }
                    }
                };
                if op != OperationPhase::Running {
                    self.set_result(i, None, op, &msg);
                } else {
                    still.push((i, msg));
                }
            }
            if still.is_empty() {
                return true;
            }
            if Instant::now() > deadline {
                let secs = self.engine.settings.health_timeout.as_secs();
                for (i, msg) in still {
                    let what = if self.states[i].task.hook {
                        "completion"
                    } else {
                        "healthy state"
                    };
                    let m = format!("timed out after {secs}s waiting for {what}: {msg}");
                    self.set_result(i, None, OperationPhase::Failed, m.trim_end_matches(": "));
                }
                return true;
            }
            let waiting: HashSet<(String, String, String)> = still
                .iter()
                .map(|&(i, _)| {
                    let t = &self.states[i].task;
                    let (g, _, k) = t.gvk();
                    (g.to_owned(), k.to_owned(), t.name().to_owned())
                })
                .collect();
            tokio::select! {
                _ = self.cancel.cancelled() => return false,
                _ = tokio::time::sleep(self.engine.settings.poll_interval) => {}
                _ = changed(changes.as_mut(), &waiting) => {}
            }
        }
    }

    /// Waits until pruned objects are gone. `false` if cancelled.
    async fn wait_deleted(&mut self, idxs: &[usize]) -> bool {
        let deadline = Instant::now() + self.engine.settings.health_timeout;
        let mut changes = self.engine.cache.as_ref().map(|c| c.subscribe());
        for &i in idxs {
            let Some(resolved) = self.states[i].resolved.clone() else {
                continue;
            };
            let t = &self.states[i].task;
            let api = self.api(&resolved, t.namespace());
            let uid = t.live.as_ref().and_then(uid).map(str::to_owned);
            let (g, _, k) = t.gvk();
            let key = HashSet::from([(g.to_owned(), k.to_owned(), t.name().to_owned())]);
            loop {
                match self.k_get_opt(&api, t.name()).await {
                    Ok(Some(o)) if o.metadata.uid == uid && Instant::now() < deadline => {}
                    _ => break,
                }
                tokio::select! {
                    _ = self.cancel.cancelled() => return false,
                    _ = tokio::time::sleep(self.engine.settings.poll_interval) => {}
                    _ = changed(changes.as_mut(), &key) => {}
                }
            }
        }
        true
    }

    async fn delete_hooks(&mut self, idxs: &[usize]) {
        for &i in idxs {
            let t = &self.states[i].task;
            if !t.hook || t.live.is_none() {
                continue;
            }
            let Ok(resolved) = self.resolved_for(i).await else {
                continue;
            };
            let api = self.api(&resolved, t.namespace());
            let params = self.delete_params(t);
            let key = t.key();
            match self.k_delete(&api, t.name(), &params).await {
                Ok(_) => self.emit(SyncEvent::HookDeleted(key)),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => {
                    let msg = format!("failed to delete resource: {}", api_message(&e));
                    self.set_result(i, None, OperationPhase::Error, &msg);
                }
            }
        }
    }

    /// The failure path: hooks with HookFailed go, SyncFail hooks run, the operation fails.
    async fn fail(&mut self, sync_fail: &[usize], message: &str) -> (OperationPhase, String) {
        let mut reasons: Vec<String> = self
            .states
            .iter()
            .filter(|s| {
                s.code == Some(ResultCode::SyncFailed)
                    || s.op.is_some_and(|o| o.completed() && !o.successful())
            })
            .map(|s| s.message.clone())
            .filter(|m| !m.is_empty())
            .collect();
        reasons.dedup();
        let mut message = if reasons.is_empty() {
            message.to_owned()
        } else {
            format!("{message}, reason: {}", reasons.join(","))
        };
        if !sync_fail.is_empty() {
            self.emit(SyncEvent::Step {
                phase: SyncPhase::SyncFail,
                wave: self.states[sync_fail[0]].task.wave,
            });
            let before: Vec<usize> = sync_fail
                .iter()
                .copied()
                .filter(|&i| {
                    let t = &self.states[i].task;
                    t.live.is_some() && t.has_delete_policy(HookDeletePolicy::BeforeHookCreation)
                })
                .collect();
            for i in before {
                if self.delete_and_wait(i).await.is_ok() {
                    self.states[i].task.live = None;
                }
            }
            let outcomes = self.apply_many(sync_fail, false).await;
            for (i, o) in outcomes {
                if o.live.is_some() {
                    self.states[i].task.live = o.live;
                }
                self.set_result(i, Some(o.code), o.op, &o.message);
            }
            let running: Vec<usize> = sync_fail
                .iter()
                .copied()
                .filter(|&i| self.states[i].running())
                .collect();
            if !self.wait_running(&running).await {
                return self.terminate().await;
            }
            for &i in sync_fail {
                let _ = self.remove_hook_finalizer(i).await;
            }
            let failed: Vec<String> = sync_fail
                .iter()
                .filter(|&&i| !self.states[i].op.is_some_and(OperationPhase::successful))
                .map(|&i| self.states[i].message.clone())
                .collect();
            if !failed.is_empty() {
                message = format!(
                    "{message}\none or more SyncFail hooks failed, reason: {}",
                    failed.join(",")
                );
            }
        }
        let doomed: Vec<usize> = (0..self.states.len())
            .filter(|&i| {
                let s = &self.states[i];
                s.code.is_some()
                    && !s.running()
                    && s.task.has_delete_policy(HookDeletePolicy::HookFailed)
            })
            .collect();
        self.delete_hooks(&doomed).await;
        (OperationPhase::Failed, message)
    }

    /// Terminate: running hooks lose their finalizer and are deleted.
    async fn terminate(&mut self) -> (OperationPhase, String) {
        let running: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i].task.hook && self.states[i].running())
            .collect();
        let mut ok = true;
        for i in running {
            if let Err(e) = self.remove_hook_finalizer(i).await {
                self.set_result(
                    i,
                    None,
                    OperationPhase::Error,
                    &format!("Failed to remove hook finalizer: {e}"),
                );
                ok = false;
                continue;
            }
            if let Err(e) = self.delete_and_wait(i).await {
                self.set_result(
                    i,
                    None,
                    OperationPhase::Failed,
                    &format!("Failed to delete: {e}"),
                );
                ok = false;
                continue;
            }
            self.set_result(i, None, OperationPhase::Failed, "Terminated");
        }
        if ok {
            (OperationPhase::Failed, "Operation terminated".into())
        } else {
            (
                OperationPhase::Error,
                "Operation termination had errors".into(),
            )
        }
    }
}

enum StepState {
    Ok,
    Failed,
    Pending(String),
}

/// A token bucket: `burst` requests at once, then `qps` per second.
pub(crate) struct RateLimiter {
    qps: Option<f64>,
    burst: f64,
    state: tokio::sync::Mutex<(f64, tokio::time::Instant)>,
}

impl RateLimiter {
    pub(crate) fn new(qps: Option<f64>, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps: qps.filter(|q| *q > 0.0),
            burst,
            state: tokio::sync::Mutex::new((burst, tokio::time::Instant::now())),
        }
    }

    pub(crate) async fn acquire(&self) {
        let Some(qps) = self.qps else {
            return;
        };
        // Holding the lock while sleeping queues callers in order.
        let mut state = self.state.lock().await;
        let now = tokio::time::Instant::now();
        let (tokens, last) = *state;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * qps).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            return;
        }
        let wait = Duration::from_secs_f64((1.0 - tokens) / qps);
        tokio::time::sleep(wait).await;
        *state = (0.0, now + wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_allows_a_burst_then_qps() {
        let limiter = RateLimiter::new(Some(10.0), 5);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            limiter.acquire().await;
        }
        // 10 more at 10 per second: one second of (paused, simulated) time.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((elapsed - 1.0).abs() < 1e-6, "{elapsed}");
        let unlimited = RateLimiter::new(None, 1);
        for _ in 0..100 {
            unlimited.acquire().await;
        }
        assert!((start.elapsed().as_secs_f64() - 1.0).abs() < 1e-6);
    }
}
