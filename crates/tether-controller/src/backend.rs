//! The narrow interfaces the controller drives: rendering a source, and the cluster (compare,
//! sync, live-state events, deletion). The real implementations are [`crate::render`] and
//! [`crate::kube_cluster`]; tests plug in their own.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;
use tether_model::Application;
use tether_model::application::{
    HealthStatusCode, Operation, ResourceResult, ResourceStatus, SyncStatusCode,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::AuditEntry;

/// The manifests of an Application at one revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// Every object, hooks included.
    pub objects: Vec<Value>,
    /// The commit (one per source).
    pub revisions: Vec<String>,
    /// `Directory`, `Kustomize`, `Helm`, ... (one per source).
    pub source_types: Vec<String>,
}

/// Renders an Application's sources.
#[async_trait]
pub trait Renderer: Send + Sync + 'static {
    /// Renders at `revisions` (one per source) or, when `None`, at the sources' targetRevision.
    /// `hard` skips caches. Errors are messages fit for a ComparisonError condition.
    async fn render(
        &self,
        app: &Application,
        revisions: Option<&[String]>,
        hard: bool,
    ) -> Result<Rendered, String>;
}

/// One resource of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    /// Argo CD's `status.resources` entry.
    pub status: ResourceStatus,
    /// The desired object as it would be applied (tracking set), if desired.
    pub desired: Option<Value>,
    /// The live object, if any.
    pub live: Option<Value>,
    /// Applying the desired object would change the live one.
    pub modified: bool,
    /// Unified diff live → desired (empty when not modified).
    pub diff: String,
}

/// Desired against live.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub sync: SyncStatusCode,
    pub health: HealthStatusCode,
    pub resources: Vec<Compared>,
    /// Problems that did not stop the comparison.
    pub warnings: Vec<String>,
}

impl Comparison {
    /// The comparison without the desired and live objects (what is kept between refreshes:
    /// the objects are most of its size).
    pub fn without_objects(mut self) -> Self {
        for r in &mut self.resources {
            r.desired = None;
            r.live = None;
            r.diff.shrink_to_fit();
        }
        self.resources.shrink_to_fit();
        self
    }
}

/// What a sync is asked to do (the controller already narrowed `desired`/`live` to the
/// selected resources).
#[derive(Debug, Clone, Default)]
pub struct SyncInput {
    pub app: String,
    pub namespace: String,
    pub revision: String,
    pub desired: Vec<Value>,
    pub live: Vec<Value>,
    pub prune: bool,
    pub dry_run: bool,
    pub allow_empty: bool,
    pub force: bool,
    /// `syncPolicy.syncOptions` plus the operation's.
    pub sync_options: Vec<String>,
    /// For `ApplyOutOfSyncOnly`: `group/kind/namespace/name` → modified.
    pub modified: BTreeMap<String, bool>,
    pub managed_namespace_metadata: Option<tether_model::source::ManagedNamespaceMetadata>,
    /// Told each resource result as it is set or changes (the CLI's live progress table).
    pub progress: Option<ProgressSink>,
}

/// A callback for per-resource progress of a running sync.
#[derive(Clone)]
pub struct ProgressSink(pub std::sync::Arc<dyn Fn(ResourceResult) + Send + Sync>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// How a sync ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    /// `Succeeded`, `Failed`, `Error` (or `Running` while waiting for a prune confirmation).
    pub phase: String,
    pub message: String,
    pub resources: Vec<ResourceResult>,
}

/// The destination cluster.
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// Compares rendered objects with the live objects the app tracks.
    async fn compare(&self, app: &Application, desired: Vec<Value>) -> Result<Comparison, String>;
    /// Runs one sync.
    async fn sync(&self, input: SyncInput, cancel: CancellationToken) -> SyncOutcome;
    /// Deletes the app's live objects (cascade), returns how many are left.
    async fn delete_resources(&self, app: &Application, background: bool) -> Result<usize, String>;
    /// Names (tracking instance names) of apps whose live objects changed.
    fn events(&self) -> broadcast::Receiver<String>;
    /// How many live objects the app still tracks (a cascaded deletion is done at 0).
    fn remaining(&self, _app: &Application) -> usize {
        0
    }
    /// The top-level live objects (no ownerReferences) of a namespace, for orphaned-resource
    /// warnings.
    fn top_level_objects(&self, _namespace: &str) -> Vec<TopLevelObject> {
        Vec::new()
    }
}

/// A live object without ownerReferences (see [`Cluster::top_level_objects`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TopLevelObject {
    pub group: String,
    pub kind: String,
    pub name: String,
    /// The app its tracking names, if any.
    pub app: Option<String>,
}

/// Where the controller keeps what it learns about each app: the embedded store (file mode,
/// [`crate::store::Store`]) or the Application resources themselves (cluster mode,
/// [`crate::kube_apps::KubeApps`]).
#[async_trait]
pub trait AppWriter: Send + Sync + 'static {
    /// Status and pending operation saved by an earlier run, for an app seen for the first time
    /// (cluster mode: `None`, the resource carries its own).
    fn restore(&self, name: &str) -> Option<Application>;
    /// Records the app's status. May write in the background; one app's writes keep their order.
    fn save(&self, app: &Application);
    /// Writes the app's status and sets (or clears) `operation` as the app has it, as Argo CD's
    /// controller and API server write it; returns once written.
    async fn write_operation(&self, app: &Application) -> Result<(), String>;
    /// The app's pending operation as stored now. The controller's copy may be stale (a watch
    /// event from before the operation was cleared): cluster mode reads the resource.
    async fn current_operation(&self, app: &Application) -> Result<Option<Operation>, String>;
    /// Removes the `argocd.argoproj.io/refresh` annotation after a refresh; true when removed.
    async fn refreshed(&self, app: &Application) -> bool;
    /// Removes finalizers from the app (after a cascaded deletion).
    async fn remove_finalizers(
        &self,
        app: &Application,
        finalizers: &[String],
    ) -> Result<(), String>;
    /// Forgets an app that is no longer declared.
    fn forget(&self, name: &str);
    /// Appends to the audit log.
    fn audit(&self, entry: AuditEntry);
    /// The audit log, oldest first, optionally for one app, at most `limit` latest entries.
    fn audit_log(&self, app: Option<&str>, limit: usize) -> Vec<AuditEntry>;
}

/// `group/kind/namespace/name` of an object (the key of [`SyncInput::modified`]).
pub fn object_key(obj: &Value) -> String {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!(
        "{group}/{}/{}/{}",
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name")
    )
}
