//! The Application controller: a per-app serialised work queue, N status workers and M
//! operation permits, refresh on a timer (with jitter), on request (webhook, API, annotation) and
//! on live-state events; comparison into `status`; auto-sync with Argo CD's rules; operations
//! with retries; history; rollback.
//!
//! Semantics follow Argo CD's `controller/appcontroller.go` (`autoSync`, `alreadyAttemptedSync`,
//! self-heal backoff, `setOperationState`), `controller/state.go` (conditions, comparedTo) and
//! `controller/sync.go` (history on success, retries).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;
use tether_model::application::{
    ApplicationCondition, ApplicationStatus, ApplicationSummary, ComparedTo, HealthStatus,
    Operation, OperationInitiator, OperationState, RevisionHistory, SyncOperation,
    SyncOperationResult, SyncStatus, SyncStatusCode,
};
use tether_model::{AppProject, Application};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::backend::{
    AppWriter, Cluster, Comparison, ProgressSink, Renderer, SyncInput, object_key,
};
use crate::project;
use crate::queue::Queue;
use crate::store::AuditEntry;
use crate::windows::{self, Verdict};

/// Argo CD's resources finalizer (also with `/background` or `/foreground`).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// Condition types (Argo CD's `ApplicationCondition*`).
pub mod condition {
    pub const COMPARISON_ERROR: &str = "ComparisonError";
    pub const INVALID_SPEC_ERROR: &str = "InvalidSpecError";
    pub const SYNC_ERROR: &str = "SyncError";
    pub const ORPHANED_RESOURCE_WARNING: &str = "OrphanedResourceWarning";
    pub const SHARED_RESOURCE_WARNING: &str = "SharedResourceWarning";
    pub const REPEATED_RESOURCE_WARNING: &str = "RepeatedResourceWarning";
}

/// Tuning.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Argo CD's namespace (`argocd`).
    pub control_namespace: String,
    /// Periodic refresh (Argo CD's `timeout.reconciliation`, 120 s).
    pub app_resync: Duration,
    /// Up to this much is added to each periodic refresh (60 s).
    pub resync_jitter: Duration,
    pub status_processors: usize,
    pub operation_processors: usize,
    /// Self-heal backoff: first delay, factor, cap (Argo CD: 2 s, 3, 5 min).
    pub self_heal_backoff: (Duration, u32, Duration),
    /// Retry of failed refreshes (Git/cluster/render errors): first delay and cap.
    pub error_backoff: (Duration, Duration),
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            control_namespace: "argocd".into(),
            app_resync: Duration::from_secs(120),
            resync_jitter: Duration::from_secs(60),
            status_processors: 20,
            operation_processors: 10,
            self_heal_backoff: (Duration::from_secs(2), 3, Duration::from_secs(300)),
            error_backoff: (Duration::from_secs(5), Duration::from_secs(180)),
        }
    }
}

/// Why an API request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("application {0:?} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Default)]
struct Entry {
    app: Application,
    invalid: Option<String>,
    origin: String,
    next_refresh: Option<Instant>,
    hard: bool,
    error_attempts: u32,
    /// The last rendered manifests (`GET …/manifests`) as JSON text: a few hundred bytes per
    /// object instead of a `Value` tree several times that size.
    manifests: Option<Box<str>>,
    /// The last comparison without its desired and live objects (`GET …/resources/diff`
    /// needs only the statuses and diffs; syncs compare afresh).
    comparison: Option<Comparison>,
    op_cancel: Option<CancellationToken>,
    /// Removed from the declarations: its status is dropped once processed.
    removed: bool,
}

#[derive(Default)]
struct State {
    /// Boxed: an `Entry` is several KiB inline (the `Application` types), and a B-tree node
    /// holds eleven of them whether used or not.
    apps: BTreeMap<String, Box<Entry>>,
    projects: BTreeMap<String, AppProject>,
}

struct Inner {
    settings: Settings,
    renderer: Arc<dyn Renderer>,
    cluster: Arc<dyn Cluster>,
    writer: Option<Arc<dyn AppWriter>>,
    state: Mutex<State>,
    queue: Queue,
    op_permits: Semaphore,
    changed: watch::Sender<u64>,
    shutdown: CancellationToken,
}

/// The controller. Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

fn jitter(max: Duration, name: &str) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    if max.is_zero() {
        return max;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(name.as_bytes());
    let frac = (h.finish() % 1000) as u32;
    max * frac / 1000
}

/// One declared Application, as the controller is given it.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub app: Application,
    pub origin: String,
    pub invalid: Option<String>,
}

impl Controller {
    /// A controller; nothing runs until [`Controller::start`]. `writer` keeps status and
    /// operations: the embedded store (file mode) or the Application resources (cluster mode).
    pub fn new(
        settings: Settings,
        renderer: Arc<dyn Renderer>,
        cluster: Arc<dyn Cluster>,
        writer: Option<Arc<dyn AppWriter>>,
    ) -> Self {
        let permits = settings.operation_processors.max(1);
        Self {
            inner: Arc::new(Inner {
                settings,
                renderer,
                cluster,
                writer,
                state: Mutex::new(State::default()),
                queue: Queue::default(),
                op_permits: Semaphore::new(permits),
                changed: watch::channel(0).0,
                shutdown: CancellationToken::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Settings in force.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Bumps the change counter (API waiters).
    fn notify(&self) {
        self.inner.changed.send_modify(|v| *v += 1);
    }

    /// A receiver that changes whenever an app's state does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Starts the workers, the timer and the live-event listener; they stop on
    /// [`Controller::shutdown`].
    pub fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut handles = Vec::new();
        for _ in 0..self.inner.settings.status_processors.max(1) {
            let c = self.clone();
            handles.push(tokio::spawn(async move {
                while let Some(name) = c.inner.queue.next().await {
                    c.process(&name).await;
                    c.inner.queue.done(&name);
                }
            }));
        }
        let c = self.clone();
        handles.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = c.inner.shutdown.cancelled() => break,
                    _ = tick.tick() => c.enqueue_due(),
                }
            }
        }));
        let c = self.clone();
        let mut events = self.inner.cluster.events();
        handles.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = c.inner.shutdown.cancelled() => break,
                    ev = events.recv() => match ev {
                        Ok(instance) => c.live_changed(&instance),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => c.refresh_all(false),
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        }));
        handles
    }

    /// Stops taking work; running operations are cancelled (they end as Failed/terminated and
    /// resume on the next start because the operation stays recorded).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.queue.close();
        let st = self.lock();
        for e in st.apps.values() {
            if let Some(c) = &e.op_cancel {
                c.cancel();
            }
        }
    }

    fn enqueue_due(&self) {
        let now = Instant::now();
        let due: Vec<String> = {
            let mut st = self.lock();
            st.apps
                .iter_mut()
                .filter(|(_, e)| e.next_refresh.is_some_and(|t| t <= now))
                .map(|(n, e)| {
                    e.next_refresh = None;
                    n.clone()
                })
                .collect()
        };
        for n in due {
            self.inner.queue.add(&n);
        }
    }

    fn live_changed(&self, instance: &str) {
        let known = self.lock().apps.contains_key(instance);
        if known {
            self.inner.queue.add(instance);
        }
    }

    /// Replaces the declared Applications and projects (file mode: the directory was read
    /// again). Status of apps already known is kept; apps restored from the store resume their
    /// operation.
    pub fn declare(&self, apps: Vec<Declaration>, projects: BTreeMap<String, AppProject>) {
        let names: BTreeSet<String> = apps
            .iter()
            .filter_map(|d| d.app.metadata.name.clone())
            .collect();
        let mut changed = Vec::new();
        let projects_changed;
        {
            let mut st = self.lock();
            projects_changed = st.projects != projects;
            st.projects = projects;
            for (name, e) in st.apps.iter_mut() {
                if !names.contains(name) && !e.removed {
                    e.removed = true;
                    changed.push(name.clone());
                }
            }
            for d in apps {
                changed.extend(self.upsert_locked(&mut st, d));
            }
        }
        for n in changed {
            self.inner.queue.add(&n);
        }
        if projects_changed {
            self.refresh_all(false);
        }
        self.notify();
    }

    /// Adds or updates one Application (cluster mode: a watch event).
    pub fn upsert(&self, d: Declaration) {
        let changed = {
            let mut st = self.lock();
            self.upsert_locked(&mut st, d)
        };
        if let Some(n) = changed {
            self.inner.queue.add(&n);
            self.notify();
        }
    }

    /// Forgets one Application (cluster mode: deleted from the API server).
    pub fn remove(&self, name: &str) {
        let known = {
            let mut st = self.lock();
            st.apps
                .get_mut(name)
                .map(|e| !std::mem::replace(&mut e.removed, true))
        };
        if known == Some(true) {
            self.inner.queue.add(name);
        }
    }

    /// Replaces the AppProjects; apps are checked again when they changed.
    pub fn set_projects(&self, projects: BTreeMap<String, AppProject>) {
        let same = {
            let mut st = self.lock();
            let same = st.projects == projects;
            st.projects = projects;
            same
        };
        if !same {
            self.refresh_all(false);
        }
    }

    /// Records a declaration; the app's name when it needs processing.
    fn upsert_locked(&self, st: &mut State, d: Declaration) -> Option<String> {
        let name = d.app.metadata.name.clone()?;
        match st.apps.get_mut(&name) {
            Some(e) => {
                let (old, new) = (&e.app.metadata, &d.app.metadata);
                let same = e.app.spec == d.app.spec
                    && old.annotations == new.annotations
                    && old.deletion_timestamp == new.deletion_timestamp
                    && old.finalizers == new.finalizers
                    && e.invalid == d.invalid
                    && !e.removed
                    && (d.app.operation.is_none() || d.app.operation == e.app.operation);
                // `operationState.phase: Terminating` (as Argo CD's API server writes it)
                // stops the running operation (that one only: the event may be late), or
                // ends one a sync window holds, as `terminate` does.
                let terminating = d
                    .app
                    .status
                    .as_ref()
                    .and_then(|s| s.operation_state.as_ref())
                    .is_some_and(|o| {
                        o.phase == "Terminating" && e.app.operation.as_ref() == Some(&o.operation)
                    });
                if terminating {
                    match &e.op_cancel {
                        Some(c) => c.cancel(),
                        None => {
                            // `terminate` takes the lock this caller holds: after it.
                            let (c, n) = (self.clone(), name.clone());
                            tokio::spawn(async move {
                                let _ = c.terminate(&n);
                            });
                        }
                    }
                }
                e.app.metadata = d.app.metadata;
                e.app.spec = d.app.spec;
                if d.app.operation.is_some() {
                    e.app.operation = d.app.operation;
                }
                e.invalid = d.invalid;
                e.origin = d.origin;
                e.removed = false;
                (!same).then_some(name)
            }
            None => {
                let mut app = d.app;
                // Restore status (and a pending operation) from the store.
                if let Some(saved) = self.inner.writer.as_ref().and_then(|w| w.restore(&name)) {
                    app.status = saved.status;
                    if app.operation.is_none() {
                        app.operation = saved.operation;
                    }
                }
                st.apps.insert(
                    name.clone(),
                    Box::new(Entry {
                        app,
                        invalid: d.invalid,
                        origin: d.origin,
                        ..Default::default()
                    }),
                );
                Some(name)
            }
        }
    }

    /// Asks for a refresh of every app.
    pub fn refresh_all(&self, hard: bool) {
        let names: Vec<String> = {
            let mut st = self.lock();
            st.apps
                .iter_mut()
                .map(|(n, e)| {
                    e.hard |= hard;
                    n.clone()
                })
                .collect()
        };
        for n in names {
            self.inner.queue.add(&n);
        }
    }

    /// Asks for a refresh of one app.
    pub fn refresh(&self, name: &str, hard: bool) -> Result<(), RequestError> {
        {
            let mut st = self.lock();
            let e = st
                .apps
                .get_mut(name)
                .ok_or_else(|| RequestError::NotFound(name.to_owned()))?;
            e.hard |= hard;
        }
        self.inner.queue.add(name);
        Ok(())
    }

    /// Every Application (with status), by name.
    pub fn apps(&self) -> Vec<Application> {
        self.lock()
            .apps
            .values()
            .filter(|e| !e.removed)
            .map(|e| e.app.clone())
            .collect()
    }

    /// One Application.
    pub fn app(&self, name: &str) -> Option<Application> {
        self.lock()
            .apps
            .get(name)
            .filter(|e| !e.removed)
            .map(|e| e.app.clone())
    }

    /// The projects (the built-in `default` included unless declared).
    pub fn projects(&self) -> Vec<AppProject> {
        let st = self.lock();
        let mut out: Vec<AppProject> = st.projects.values().cloned().collect();
        if !st.projects.contains_key("default") {
            out.insert(0, project::default_project());
        }
        out
    }

    /// Last rendered manifests of an app.
    pub fn manifests(&self, name: &str) -> Option<Vec<Value>> {
        self.lock()
            .apps
            .get(name)
            .and_then(|e| e.manifests.as_deref().map(serde_json::from_str))
            .and_then(Result::ok)
    }

    /// Last comparison of an app (statuses and diffs; without the desired and live objects).
    pub fn comparison(&self, name: &str) -> Option<Comparison> {
        self.lock()
            .apps
            .get(name)
            .and_then(|e| e.comparison.clone())
    }

    /// Where an app is declared (file mode: `file:document`; cluster mode: `namespace/name`).
    pub fn origin(&self, name: &str) -> Option<String> {
        self.lock()
            .apps
            .get(name)
            .filter(|e| !e.removed)
            .map(|e| e.origin.clone())
    }

    /// Compares `objects` (rendered from a working copy: `tether app diff --local`) with the
    /// app's live objects, as a refresh compares its rendered manifests. Nothing is recorded.
    pub async fn compare_with(
        &self,
        name: &str,
        objects: &[Value],
    ) -> Result<Comparison, RequestError> {
        let app = self
            .app(name)
            .ok_or_else(|| RequestError::NotFound(name.into()))?;
        self.inner
            .cluster
            .compare(&app, comparable(objects))
            .await
            .map_err(RequestError::Invalid)
    }

    /// The manifests of every source of a multi-source app but the one at `skip` (0-based), at
    /// the revisions of its last comparison: `tether app diff --local DIR --source-position N`
    /// puts DIR's objects in the place of source N's.
    pub async fn render_other_sources(
        &self,
        name: &str,
        skip: usize,
    ) -> Result<Vec<Value>, RequestError> {
        let mut app = self
            .app(name)
            .ok_or_else(|| RequestError::NotFound(name.into()))?;
        let n = app.spec.sources.len();
        if skip >= n.max(1) {
            return Err(RequestError::Invalid(format!(
                "source position {}: the application has {} source(s)",
                skip + 1,
                n.max(1)
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut revisions = app
            .status
            .as_ref()
            .and_then(|s| s.sync.as_ref())
            .map(|s| s.revisions.clone())
            .filter(|r| r.len() == n);
        app.spec.sources.remove(skip);
        if let Some(r) = revisions.as_mut() {
            r.remove(skip);
        }
        if app.spec.sources.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .renderer
            .render(&app, revisions.as_deref(), false)
            .await
            .map(|r| r.objects)
            .map_err(|e| RequestError::Invalid(format!("rendering the other sources: {e}")))
    }

    /// Puts each resource result of a running sync into `operationState.syncResult` (in memory:
    /// the API shows it, the final result is what gets written).
    fn progress_sink(&self, name: &str) -> ProgressSink {
        let c = self.clone();
        let name = name.to_owned();
        ProgressSink(Arc::new(move |r| {
            c.with_entry(&name, |e| {
                let op = e
                    .app
                    .status
                    .as_mut()
                    .and_then(|s| s.operation_state.as_mut())
                    .filter(|o| o.phase == "Running");
                if let Some(o) = op {
                    let res = &mut o.sync_result.get_or_insert_with(Default::default).resources;
                    let same = |x: &&mut tether_model::application::ResourceResult| {
                        (&x.group, &x.kind, &x.namespace, &x.name, &x.sync_phase)
                            == (&r.group, &r.kind, &r.namespace, &r.name, &r.sync_phase)
                    };
                    match res.iter_mut().find(same) {
                        Some(x) => *x = r,
                        None => res.push(r),
                    }
                }
            });
            c.notify();
        }))
    }

    /// The audit log.
    pub fn audit_log(&self, app: Option<&str>, limit: usize) -> Vec<AuditEntry> {
        self.inner
            .writer
            .as_ref()
            .map(|w| w.audit_log(app, limit))
            .unwrap_or_default()
    }

    fn audit(&self, app: &str, reason: &str, by: &str, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(app, reason, initiated_by = by, "{message}");
        if let Some(w) = &self.inner.writer {
            w.audit(AuditEntry {
                seq: 0,
                time: now().0.to_string(),
                app: app.to_owned(),
                reason: reason.to_owned(),
                initiated_by: by.to_owned(),
                message,
            });
        }
    }

    /// Requests a sync operation (the CLI's `app sync`), as Argo CD's API server sets
    /// `operation` (cluster mode: on the Application resource, before this returns).
    pub async fn request_sync(
        &self,
        name: &str,
        sync: SyncOperation,
        username: &str,
    ) -> Result<(), RequestError> {
        // As Argo CD's API server: a manual sync is refused while a window blocks it.
        if let Some(app) = self.app(name)
            && let Verdict::Blocked(why) = self.window_verdict(&app, true)
        {
            return Err(RequestError::Conflict(format!(
                "cannot sync: blocked by sync window ({why})"
            )));
        }
        {
            let mut st = self.lock();
            let e = st
                .apps
                .get_mut(name)
                .filter(|e| !e.removed)
                .ok_or_else(|| RequestError::NotFound(name.to_owned()))?;
            if let Some(msg) = &e.invalid {
                return Err(RequestError::Invalid(msg.clone()));
            }
            if e.app.operation.is_some() {
                return Err(RequestError::Conflict(
                    "another operation is already in progress".into(),
                ));
            }
            let retry = e
                .app
                .spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.retry.clone());
            e.app.operation = Some(Operation {
                sync: Some(sync),
                initiated_by: Some(OperationInitiator {
                    username: Some(username.to_owned()),
                    automated: None,
                }),
                info: Vec::new(),
                retry,
            });
        }
        if let Err(e) = self.write_operation(name).await {
            self.with_entry(name, |e| e.app.operation = None);
            return Err(RequestError::Conflict(format!(
                "writing the operation of {name:?}: {e}"
            )));
        }
        self.audit(name, "OperationRequested", username, "sync requested");
        self.inner.queue.add(name);
        self.notify();
        Ok(())
    }

    /// Rolls back to a history entry (refused while auto-sync is on, as in Argo CD).
    pub async fn rollback(
        &self,
        name: &str,
        id: i64,
        prune: bool,
        dry_run: bool,
        username: &str,
    ) -> Result<(), RequestError> {
        let (source, revision) = {
            let st = self.lock();
            let e = st
                .apps
                .get(name)
                .filter(|e| !e.removed)
                .ok_or_else(|| RequestError::NotFound(name.to_owned()))?;
            if e.app.spec.automated().is_some() {
                return Err(RequestError::Invalid(format!(
                    "rollback cannot be initiated when auto-sync is enabled (application {name:?})"
                )));
            }
            let history = e
                .app
                .status
                .as_ref()
                .map(|s| s.history.clone())
                .unwrap_or_default();
            let h = history.iter().find(|h| h.id == id).ok_or_else(|| {
                RequestError::Invalid(format!(
                    "application {name:?} does not have deployment id '{id}' in history"
                ))
            })?;
            (h.source.clone(), h.revision.clone())
        };
        self.request_sync(
            name,
            SyncOperation {
                revision,
                source,
                prune: Some(prune),
                dry_run: Some(dry_run),
                ..Default::default()
            },
            username,
        )
        .await?;
        self.audit(
            name,
            "Rollback",
            username,
            format!("rollback to history id {id}"),
        );
        Ok(())
    }

    /// Terminates the running operation (or one a sync window holds).
    pub fn terminate(&self, name: &str) -> Result<(), RequestError> {
        let st = self.lock();
        let e = st
            .apps
            .get(name)
            .ok_or_else(|| RequestError::NotFound(name.to_owned()))?;
        match (&e.app.operation, &e.op_cancel) {
            (Some(_), Some(c)) => {
                c.cancel();
                Ok(())
            }
            (Some(op), None) => {
                // Nothing runs (a sync window holds the operation, or it has not started):
                // it ends here as a terminated operation, and `operation` is cleared.
                let op = op.clone();
                drop(st);
                self.end_held_operation(name, op);
                Ok(())
            }
            _ => Err(RequestError::Conflict(
                "Unable to terminate operation. No operation is in progress".into(),
            )),
        }
    }

    /// Ends an operation that is not running as `Failed: Operation terminated` and writes it.
    fn end_held_operation(&self, name: &str, op: Operation) {
        let finished = now();
        self.with_entry(name, |e| {
            e.app.operation = None;
            let s = e.app.status.get_or_insert_with(Default::default);
            let prev = s.operation_state.take().filter(|p| p.operation == op);
            s.operation_state = Some(OperationState {
                operation: op,
                phase: "Failed".into(),
                message: Some("Operation terminated".into()),
                sync_result: prev.as_ref().and_then(|p| p.sync_result.clone()),
                started_at: prev
                    .as_ref()
                    .map_or_else(|| finished.clone(), |p| p.started_at.clone()),
                finished_at: Some(finished.clone()),
                retry_count: prev.and_then(|p| p.retry_count),
            });
        });
        let c = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            if let Err(e) = c.write_operation(&name).await {
                tracing::warn!(app = name, "writing the terminated operation: {e}");
            }
            c.notify();
            c.audit(
                &name,
                "OperationCompleted",
                "admin",
                "sync Failed: Operation terminated",
            );
        });
    }

    /// While a sync attempt runs: cancels `attempt` and returns why when the windows stop
    /// permitting it (see [`windows::can_continue`]); `None` once the attempt ends.
    async fn watch_windows(
        self,
        name: String,
        manual: bool,
        started: Time,
        attempt: CancellationToken,
    ) -> Option<String> {
        loop {
            tokio::select! {
                _ = attempt.cancelled() => return None,
                _ = tokio::time::sleep(WINDOW_WATCH) => {}
            }
            let Some(app) = self.app(&name) else { continue };
            if let Verdict::Blocked(why) = self.running_window_verdict(&app, manual, &started) {
                attempt.cancel();
                return Some(why);
            }
        }
    }

    /// Deletes the app's live resources (cascade) and forgets the app until it is declared again.
    pub async fn delete(&self, name: &str, cascade: bool) -> Result<usize, RequestError> {
        let app = self
            .app(name)
            .ok_or_else(|| RequestError::NotFound(name.to_owned()))?;
        let left = if cascade {
            self.inner
                .cluster
                .delete_resources(&app, false)
                .await
                .map_err(RequestError::Conflict)?
        } else {
            0
        };
        self.lock().apps.remove(name);
        if let Some(w) = &self.inner.writer {
            w.forget(name);
        }
        self.audit(
            name,
            "Deleted",
            "admin",
            format!("application deleted (cascade: {cascade})"),
        );
        self.notify();
        Ok(left)
    }

    fn save(&self, name: &str) {
        let app = self.lock().apps.get(name).map(|e| e.app.clone());
        if let (Some(app), Some(w)) = (app, &self.inner.writer) {
            w.save(&app);
        }
    }

    /// Writes the app's status and `operation` now (see [`AppWriter::write_operation`]).
    async fn write_operation(&self, name: &str) -> Result<(), String> {
        let app = self.lock().apps.get(name).map(|e| e.app.clone());
        match (app, &self.inner.writer) {
            (Some(app), Some(w)) => w.write_operation(&app).await,
            _ => Ok(()),
        }
    }

    fn with_entry<T>(&self, name: &str, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let mut st = self.lock();
        st.apps.get_mut(name).map(|e| f(e))
    }

    fn project_of(&self, app: &Application) -> Result<AppProject, String> {
        let pname = app.spec.project().to_owned();
        let st = self.lock();
        match st.projects.get(&pname) {
            Some(p) => Ok(p.clone()),
            None if pname == "default" => Ok(project::default_project()),
            None => Err(format!(
                "Application referencing project {pname} which does not exist"
            )),
        }
    }

    /// How many orphaned resources the app's destination namespace holds, when the project
    /// asks for the warning (`orphanedResources` set, `warn` not false), as Argo CD counts them:
    /// top-level objects of permitted kinds, tracked by no existing app, not ignored.
    fn orphaned(&self, app: &Application, project: &AppProject) -> Option<usize> {
        let o = project.spec.orphaned_resources.as_ref()?;
        if o.warn == Some(false) {
            return None;
        }
        let ns = app.spec.destination.namespace.as_deref().unwrap_or("");
        if ns.is_empty() {
            return None;
        }
        let objects = self.inner.cluster.top_level_objects(ns);
        let st = self.lock();
        let n = objects
            .iter()
            .filter(|o| o.app.as_ref().is_none_or(|a| !st.apps.contains_key(a)))
            .filter(|o| project::resource_permitted(project, &o.group, &o.kind, true))
            .filter(|o| !project::orphan_ignored(project, &o.group, &o.kind, ns, &o.name))
            .count();
        (n > 0).then_some(n)
    }

    /// One pass over an app: invalid spec → operation → refresh → auto-sync.
    async fn process(&self, name: &str) {
        let Some((app, invalid, removed, hard)) = self.with_entry(name, |e| {
            let hard = std::mem::take(&mut e.hard);
            (e.app.clone(), e.invalid.clone(), e.removed, hard)
        }) else {
            return;
        };
        if removed {
            self.lock().apps.remove(name);
            if let Some(w) = &self.inner.writer {
                w.forget(name);
            }
            self.audit(name, "Removed", "", "application no longer declared");
            self.notify();
            return;
        }
        if app.metadata.deletion_timestamp.is_some() {
            self.finalize(name, &app).await;
            return;
        }
        let annotation = |key: &str| {
            app.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
        };
        if annotation(tether_model::annotations::SKIP_RECONCILE).as_deref() == Some("true") {
            tracing::debug!(app = name, "skipping: skip-reconcile annotation");
            return;
        }
        let refresh = annotation(tether_model::annotations::REFRESH);
        let hard = hard || refresh.as_deref() == Some("hard");
        let invalid = invalid.or_else(|| {
            self.project_of(&app)
                .and_then(|p| project::check_app(&app, &p))
                .err()
        });
        if let Some(msg) = invalid {
            self.set_status(name, |s| {
                s.sync = Some(SyncStatus {
                    status: SyncStatusCode::Unknown,
                    ..s.sync.clone().unwrap_or(SyncStatus {
                        status: SyncStatusCode::Unknown,
                        compared_to: None,
                        revision: None,
                        revisions: Vec::new(),
                    })
                });
                set_condition(s, condition::INVALID_SPEC_ERROR, Some(&msg));
                set_condition(s, condition::COMPARISON_ERROR, None);
                s.reconciled_at = Some(now());
            });
            self.schedule(name, false);
            return;
        }
        if app.operation.is_some() && !self.inner.shutdown.is_cancelled() {
            self.run_operation(name).await;
        }
        let ok = self.compare(name, hard).await;
        if refresh.is_some() {
            self.refreshed(name).await;
        }
        if ok {
            self.auto_sync(name).await;
        }
    }

    /// Argo CD's refresh annotation is removed once the refresh is done.
    async fn refreshed(&self, name: &str) {
        let Some(app) = self.app(name) else { return };
        let removed = match &self.inner.writer {
            Some(w) => w.refreshed(&app).await,
            None => false,
        };
        if removed {
            self.with_entry(name, |e| {
                if let Some(a) = e.app.metadata.annotations.as_mut() {
                    a.remove(tether_model::annotations::REFRESH);
                }
            });
        }
    }

    /// A deleted Application: with Argo CD's resources finalizer, its resources are deleted
    /// (foreground, or background with the `/background` variant) and the finalizer is removed
    /// once none is left; without it, nothing is deleted.
    async fn finalize(&self, name: &str, app: &Application) {
        let ours: Vec<String> = app
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| {
                f.as_str() == RESOURCES_FINALIZER
                    || f.strip_prefix(RESOURCES_FINALIZER)
                        .is_some_and(|rest| rest == "/background" || rest == "/foreground")
            })
            .cloned()
            .collect();
        if ours.is_empty() {
            return;
        }
        if let Some(c) = self.with_entry(name, |e| e.op_cancel.clone()).flatten() {
            c.cancel();
        }
        let background = ours.iter().any(|f| f.ends_with("/background"));
        let left = self.inner.cluster.remaining(app);
        tracing::debug!(app = name, left, "deleted application: cascading");
        if left == 0 {
            let removed = match self.inner.writer.as_ref() {
                Some(w) => w.remove_finalizers(app, &ours).await,
                None => Ok(()),
            };
            match removed {
                Ok(()) => self.audit(
                    name,
                    "ResourcesDeleted",
                    "",
                    "resources deleted; finalizer removed",
                ),
                Err(e) => {
                    tracing::warn!(app = name, "removing the finalizer: {e}");
                    self.retry_soon(name);
                }
            }
            return;
        }
        match self.inner.cluster.delete_resources(app, background).await {
            Ok(failed) if failed > 0 => {
                tracing::warn!(app = name, "{failed} resources could not be deleted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(app = name, "deleting resources: {e}"),
        }
        self.retry_soon(name);
    }

    /// Processes the app again in about a second.
    fn retry_soon(&self, name: &str) {
        self.with_entry(name, |e| {
            e.next_refresh = Some(Instant::now() + Duration::from_secs(1));
        });
    }

    fn set_status(&self, name: &str, f: impl FnOnce(&mut ApplicationStatus)) {
        self.with_entry(name, |e| {
            let s = e.app.status.get_or_insert_with(Default::default);
            f(s);
        });
        self.save(name);
        self.notify();
    }

    fn schedule(&self, name: &str, failed: bool) {
        let s = &self.inner.settings;
        self.with_entry(name, |e| {
            let delay = if failed {
                e.error_attempts = e.error_attempts.saturating_add(1);
                let (base, cap) = s.error_backoff;
                base.saturating_mul(1u32 << e.error_attempts.min(16).saturating_sub(1))
                    .min(cap)
            } else {
                e.error_attempts = 0;
                s.app_resync + jitter(s.resync_jitter, name)
            };
            e.next_refresh = Some(Instant::now() + delay);
        });
    }

    /// Renders and compares; fills status. False when it failed (status says why).
    async fn compare(&self, name: &str, hard: bool) -> bool {
        let Some(app) = self.app(name) else {
            return false;
        };
        let result = match self.inner.renderer.render(&app, None, hard).await {
            Ok(r) => match self
                .inner
                .cluster
                .compare(&app, comparable(&r.objects))
                .await
            {
                Ok(c) => Ok((r, c)),
                Err(e) => Err(e),
            },
            Err(e) => Err(format!("failed to generate manifests: {e}")),
        };
        match result {
            Err(msg) => {
                let first = self
                    .app(name)
                    .and_then(|a| a.status)
                    .is_none_or(|s| condition_message(&s, condition::COMPARISON_ERROR).is_none());
                if first {
                    self.audit(name, "ComparisonError", "", msg.clone());
                }
                self.set_status(name, |s| {
                    let prev = s.sync.take();
                    s.sync = Some(SyncStatus {
                        status: SyncStatusCode::Unknown,
                        compared_to: prev.as_ref().and_then(|p| p.compared_to.clone()),
                        revision: prev.as_ref().and_then(|p| p.revision.clone()),
                        revisions: prev.map(|p| p.revisions).unwrap_or_default(),
                    });
                    set_condition(s, condition::COMPARISON_ERROR, Some(&msg));
                    set_condition(s, condition::INVALID_SPEC_ERROR, None);
                    s.reconciled_at = Some(now());
                });
                self.schedule(name, true);
                false
            }
            Ok((rendered, mut cmp)) => {
                let project = self
                    .project_of(&app)
                    .unwrap_or_else(|_| project::default_project());
                restrict_to_project(&mut cmp, &app, &project);
                let orphaned = self.orphaned(&app, &project);
                let images = images(&rendered.objects);
                let sources: Vec<_> = app.spec.sources.clone();
                // Kept before the status shows the result, so that a client that sees the new
                // sync status (`app diff`) reads this comparison, not the previous one.
                let manifests = serde_json::to_string(&rendered.objects).ok();
                let cmp = cmp.without_objects();
                self.with_entry(name, |e| {
                    e.manifests = manifests.map(String::into_boxed_str);
                    e.comparison = Some(cmp.clone());
                });
                self.set_status(name, |s| {
                    let multi = !sources.is_empty();
                    s.sync = Some(SyncStatus {
                        status: cmp.sync,
                        compared_to: Some(ComparedTo {
                            source: if multi { None } else { app.spec.source.clone() },
                            destination: app.spec.destination.clone(),
                            sources: sources.clone(),
                            ignore_differences: app.spec.ignore_differences.clone(),
                        }),
                        revision: if multi {
                            None
                        } else {
                            rendered.revisions.first().cloned()
                        },
                        revisions: if multi {
                            rendered.revisions.clone()
                        } else {
                            Vec::new()
                        },
                    });
                    let prev_health = s.health.take();
                    let transition = prev_health
                        .as_ref()
                        .filter(|h| h.status == cmp.health)
                        .and_then(|h| h.last_transition_time.clone())
                        .unwrap_or_else(now);
                    s.health = Some(HealthStatus {
                        status: cmp.health,
                        message: None,
                        last_transition_time: Some(transition),
                    });
                    s.resources = cmp
                        .resources
                        .iter()
                        .map(|r| {
                            let mut st = r.status.clone();
                            // Argo CD's `syncWave` is `omitempty`: wave 0 is not written.
                            st.sync_wave = st.sync_wave.filter(|w| *w != 0);
                            st
                        })
                        .collect();
                    s.summary = Some(ApplicationSummary {
                        external_urls: s
                            .summary
                            .take()
                            .map(|x| x.external_urls)
                            .unwrap_or_default(),
                        images: images.clone(),
                    });
                    if multi {
                        s.source_types = rendered.source_types.clone();
                        s.source_type = None;
                    } else {
                        s.source_type = rendered.source_types.first().cloned();
                    }
                    set_condition(s, condition::COMPARISON_ERROR, None);
                    set_condition(s, condition::INVALID_SPEC_ERROR, None);
                    let warnings = |suffix: &str| {
                        let w: Vec<&str> = cmp
                            .warnings
                            .iter()
                            .filter(|w| w.contains(suffix))
                            .map(String::as_str)
                            .collect();
                        (!w.is_empty()).then(|| w.join("; "))
                    };
                    set_condition(
                        s,
                        condition::SHARED_RESOURCE_WARNING,
                        warnings(SHARED_WARNING).as_deref(),
                    );
                    set_condition(
                        s,
                        condition::REPEATED_RESOURCE_WARNING,
                        warnings(REPEATED_WARNING).as_deref(),
                    );
                    set_condition(
                        s,
                        condition::ORPHANED_RESOURCE_WARNING,
                        orphaned
                            .map(|n| format!("Application has {n} orphaned resources"))
                            .as_deref(),
                    );
                    let t = now();
                    s.reconciled_at = Some(t.clone());
                    s.observed_at = Some(t);
                    s.controller_namespace = Some(self.inner.settings.control_namespace.clone());
                });
                drop(rendered);
                self.schedule(name, false);
                true
            }
        }
    }

    /// Whether the project's sync windows permit a sync of the app now.
    fn window_verdict(&self, app: &Application, manual: bool) -> Verdict {
        match self.project_of(app) {
            Ok(p) => windows::can_sync(&p, app, manual, jiff::Timestamp::now()),
            Err(_) => Verdict::Permitted,
        }
    }

    /// Whether the windows let an operation started at `started` go on now (`syncOverrun`).
    fn running_window_verdict(&self, app: &Application, manual: bool, started: &Time) -> Verdict {
        match self.project_of(app) {
            Ok(p) => windows::can_continue(&p, app, manual, started.0, jiff::Timestamp::now()),
            Err(_) => Verdict::Permitted,
        }
    }

    /// The message when an auto-sync is due (automated, OutOfSync, nothing pending) but a sync
    /// window blocks it; Argo CD skips `autoSync` then ("Sync prevented by sync window").
    fn auto_sync_blocked(&self, app: &Application) -> Option<String> {
        app.spec.automated()?;
        if app.operation.is_some() || app.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let sync = app.status.as_ref()?.sync.as_ref()?;
        if sync.status != SyncStatusCode::OutOfSync {
            return None;
        }
        match self.window_verdict(app, false) {
            Verdict::Permitted => None,
            Verdict::Blocked(why) => Some(format!(
                "{WINDOW_BLOCKED} to {}: {why}",
                sync.revision.as_deref().unwrap_or("")
            )),
        }
    }

    /// Shows (or clears) a blocked auto-sync as a `SyncError` condition, audited once.
    fn window_condition(&self, name: &str, app: &Application, blocked: Option<&str>) {
        let current = app
            .status
            .as_ref()
            .and_then(|s| condition_message(s, condition::SYNC_ERROR));
        match blocked {
            Some(msg) if current != Some(msg) => {
                self.audit(name, "SyncBlocked", "automated", msg);
                self.set_status(name, |s| set_condition(s, condition::SYNC_ERROR, Some(msg)));
            }
            None if current.is_some_and(|m| m.starts_with(WINDOW_BLOCKED)) => {
                self.set_status(name, |s| set_condition(s, condition::SYNC_ERROR, None));
            }
            _ => {}
        }
    }

    /// Argo CD's `autoSync`: sets an automated operation when the app is OutOfSync and the
    /// rules allow it.
    async fn auto_sync(&self, name: &str) {
        let Some(app) = self.app(name) else { return };
        let blocked = self.auto_sync_blocked(&app);
        self.window_condition(name, &app, blocked.as_deref());
        if blocked.is_some() {
            // Windows open and close on minute boundaries: look again soon.
            self.with_entry(name, |e| {
                let at = Instant::now() + WINDOW_RECHECK;
                e.next_refresh = Some(e.next_refresh.map_or(at, |t| t.min(at)));
            });
            return;
        }
        let Some(auto) = app.spec.automated().cloned() else {
            return;
        };
        if app.operation.is_some() || app.metadata.deletion_timestamp.is_some() {
            return;
        }
        let Some(status) = app.status.clone() else {
            return;
        };
        let Some(sync) = status.sync.clone() else {
            return;
        };
        if sync.status != SyncStatusCode::OutOfSync {
            return;
        }
        let prune = auto.prune.unwrap_or(false);
        let self_heal = auto.self_heal.unwrap_or(false);
        let allow_empty = auto.allow_empty.unwrap_or(false);
        if !prune {
            let prune_only = status
                .resources
                .iter()
                .filter(|r| r.status != Some(SyncStatusCode::Synced))
                .all(|r| r.requires_pruning == Some(true));
            if prune_only {
                tracing::debug!(
                    app = name,
                    "skipping auto-sync: need to prune extra resources only but automated prune is disabled"
                );
                return;
            }
        }
        let desired_rev = sync.revision.clone().unwrap_or_default();
        let desired_revs = sync.revisions.clone();
        let attempted = status.operation_state.as_ref().and_then(|op| {
            let r = op.sync_result.as_ref()?;
            let same_rev = if desired_revs.is_empty() {
                r.revision == desired_rev
            } else {
                r.revisions == desired_revs
            };
            let same_source = sync.compared_to.as_ref().is_none_or(|c| {
                (c.source.is_none() || r.source == c.source)
                    && (c.sources.is_empty() || r.sources == c.sources)
            });
            (same_rev && same_source).then(|| op.phase.clone())
        });
        let mut self_heal_count = status
            .operation_state
            .as_ref()
            .and_then(|o| o.operation.sync.as_ref())
            .and_then(|s| s.self_heal_attempts_count)
            .unwrap_or(0);
        if let Some(phase) = &attempted {
            if phase != "Succeeded" {
                let msg = format!(
                    "Failed last sync attempt to {desired_rev}: {}",
                    status
                        .operation_state
                        .as_ref()
                        .and_then(|o| o.message.clone())
                        .unwrap_or_default()
                );
                self.set_status(name, |s| {
                    set_condition(s, condition::SYNC_ERROR, Some(&msg))
                });
                return;
            }
            if !self_heal {
                tracing::debug!(
                    app = name,
                    "skipping auto-sync: most recent sync already to {desired_rev}"
                );
                return;
            }
            // Self-heal with backoff since the last operation finished.
            let (base, factor, cap) = self.inner.settings.self_heal_backoff;
            let mut delay = base;
            for _ in 0..self_heal_count {
                delay = delay.saturating_mul(factor).min(cap);
            }
            let finished = status
                .operation_state
                .as_ref()
                .and_then(|o| o.finished_at.clone());
            if let Some(f) = finished {
                let since = jiff::Timestamp::now().duration_since(f.0);
                let since = Duration::try_from(since).unwrap_or_default();
                if since < delay {
                    let remaining = delay - since;
                    self.with_entry(name, |e| {
                        let at = Instant::now() + remaining;
                        e.next_refresh = Some(e.next_refresh.map_or(at, |t| t.min(at)));
                    });
                    return;
                }
            }
            self_heal_count += 1;
        } else {
            self_heal_count = 0;
        }
        if prune && !allow_empty {
            let all_prune = !status.resources.is_empty()
                && status
                    .resources
                    .iter()
                    .all(|r| r.requires_pruning == Some(true));
            if all_prune {
                let msg = format!(
                    "Skipping sync attempt to {desired_rev}: auto-sync will wipe out all resources"
                );
                self.set_status(name, |s| {
                    set_condition(s, condition::SYNC_ERROR, Some(&msg))
                });
                return;
            }
        }
        let options = app
            .spec
            .sync_policy
            .as_ref()
            .map(|p| p.sync_options.clone())
            .unwrap_or_default();
        let retry = app.spec.sync_policy.as_ref().and_then(|p| p.retry.clone());
        let op = Operation {
            sync: Some(SyncOperation {
                revision: (!desired_rev.is_empty()).then_some(desired_rev.clone()),
                revisions: desired_revs,
                prune: Some(prune),
                sync_options: options,
                self_heal_attempts_count: (self_heal_count > 0).then_some(self_heal_count),
                ..Default::default()
            }),
            initiated_by: Some(OperationInitiator {
                username: None,
                automated: Some(true),
            }),
            info: Vec::new(),
            retry,
        };
        self.with_entry(name, |e| e.app.operation = Some(op));
        self.set_status(name, |s| set_condition(s, condition::SYNC_ERROR, None));
        if let Err(e) = self.write_operation(name).await {
            tracing::warn!(app = name, "writing the automated operation: {e}");
            self.with_entry(name, |e| e.app.operation = None);
            self.schedule(name, true);
            return;
        }
        self.audit(
            name,
            "AutoSync",
            "automated",
            format!("initiated automated sync to '{desired_rev}'"),
        );
        self.inner.queue.add(name);
    }

    /// Runs the app's pending operation (with retries), then clears it.
    async fn run_operation(&self, name: &str) {
        let Ok(_permit) = self.inner.op_permits.acquire().await else {
            return;
        };
        let Some(mut app) = self.app(name) else {
            return;
        };
        if app.operation.is_none() {
            return;
        }
        // The operation as written now: a watch event from before it was cleared must not run
        // it again (Argo CD reads the Application afresh for the same reason).
        let current = match &self.inner.writer {
            Some(w) => w.current_operation(&app).await,
            None => Ok(app.operation.clone()),
        };
        let op = match current {
            Ok(Some(op)) => op,
            Ok(None) => {
                self.with_entry(name, |e| e.app.operation = None);
                return;
            }
            Err(e) => {
                tracing::warn!(app = name, "reading the operation: {e}");
                self.schedule(name, true);
                return;
            }
        };
        if app.operation.as_ref() != Some(&op) {
            self.with_entry(name, |e| e.app.operation = Some(op.clone()));
            app.operation = Some(op.clone());
        }
        let sync_op = op.sync.clone().unwrap_or_default();
        let by = op
            .initiated_by
            .as_ref()
            .map(|i| {
                if i.automated == Some(true) {
                    "automated".to_owned()
                } else {
                    i.username.clone().unwrap_or_default()
                }
            })
            .unwrap_or_default();
        // Resume: keep startedAt and retryCount of the recorded running operation.
        let prev = app.status.as_ref().and_then(|s| s.operation_state.clone());
        let resumed = prev
            .as_ref()
            .filter(|p| p.phase == "Running" && p.operation == op);
        // A sync window may hold the operation (Argo CD's `syncWindowPreventsSync`): it stays
        // Running, saying so, and is looked at again soon.
        let manual = op
            .initiated_by
            .as_ref()
            .is_none_or(|i| i.automated != Some(true));
        let verdict = match resumed {
            Some(p) => self.running_window_verdict(&app, manual, &p.started_at),
            None => self.window_verdict(&app, manual),
        };
        if let Verdict::Blocked(why) = verdict {
            let message = format!("Sync operation blocked by sync window: {why}");
            let started = resumed.map_or_else(now, |p| p.started_at.clone());
            let retry_count = resumed.and_then(|p| p.retry_count);
            if resumed.and_then(|p| p.message.as_deref()) != Some(message.as_str()) {
                self.set_status(name, |s| {
                    s.operation_state = Some(OperationState {
                        operation: op.clone(),
                        phase: "Running".into(),
                        message: Some(message.clone()),
                        sync_result: None,
                        started_at: started,
                        finished_at: None,
                        retry_count,
                    });
                });
            }
            self.with_entry(name, |e| {
                e.next_refresh = Some(Instant::now() + WINDOW_RECHECK);
            });
            return;
        }
        let cancel = self.inner.shutdown.child_token();
        self.with_entry(name, |e| e.op_cancel = Some(cancel.clone()));
        let started = resumed.map_or_else(now, |p| p.started_at.clone());
        let mut retry_count = resumed.and_then(|p| p.retry_count).unwrap_or(0);
        match resumed {
            // Argo CD runs an operation in progress again from its recorded state.
            Some(p) => tracing::info!(
                app = name,
                started_at = %p.started_at.0,
                "resuming the recorded running operation"
            ),
            None => self.audit(name, "OperationStarted", &by, "sync started"),
        }
        loop {
            self.set_status(name, |s| {
                s.operation_state = Some(OperationState {
                    operation: op.clone(),
                    phase: "Running".into(),
                    message: Some(if retry_count > 0 {
                        format!("Retrying attempt #{retry_count}")
                    } else {
                        "sync in progress".into()
                    }),
                    sync_result: None,
                    started_at: started.clone(),
                    finished_at: None,
                    retry_count: (retry_count > 0).then_some(retry_count),
                });
            });
            // Argo CD checks the windows at every step of a running sync: one that starts
            // (or an allow window that ends) stops it unless it has `syncOverrun`.
            let attempt = cancel.child_token();
            let watch = tokio::spawn(self.clone().watch_windows(
                name.to_owned(),
                manual,
                started.clone(),
                attempt.clone(),
            ));
            let (phase, message, result) = self.sync_once(&app, &sync_op, attempt.clone()).await;
            attempt.cancel();
            let terminated = cancel.is_cancelled();
            let held = watch.await.ok().flatten();
            if let Some(why) = held.filter(|_| !terminated && phase != "Succeeded") {
                // Stays Running, as Argo CD's blocked operation; resumed once permitted.
                let message = format!("Sync operation blocked by sync window: {why}");
                self.with_entry(name, |e| {
                    e.op_cancel = None;
                    e.next_refresh = Some(Instant::now() + WINDOW_RECHECK);
                });
                self.set_status(name, |s| {
                    if let Some(o) = s.operation_state.as_mut() {
                        o.message = Some(message.clone());
                        o.sync_result = result.clone();
                    }
                });
                self.audit(name, "SyncBlocked", &by, message);
                return;
            }
            let failed = phase == "Failed" || phase == "Error";
            let limit = op.retry.as_ref().map(|r| r.limit.unwrap_or(0)).unwrap_or(0);
            let can_retry =
                failed && !terminated && op.retry.is_some() && (limit < 0 || retry_count < limit);
            if can_retry {
                let delay = op
                    .retry
                    .as_ref()
                    .and_then(|r| r.next_delay(u32::try_from(retry_count).unwrap_or(0)).ok())
                    .unwrap_or(Duration::from_secs(5));
                retry_count += 1;
                self.set_status(name, |s| {
                    if let Some(o) = s.operation_state.as_mut() {
                        o.message = Some(format!(
                            "{message}. Retrying attempt #{retry_count} in {}s",
                            delay.as_secs()
                        ));
                        o.sync_result = result.clone();
                        o.retry_count = Some(retry_count);
                    }
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => continue,
                    _ = cancel.cancelled() => {}
                }
            }
            let shutting_down = self.inner.shutdown.is_cancelled();
            if shutting_down && terminated {
                // Leave the operation recorded as Running: the next start resumes it.
                self.with_entry(name, |e| e.op_cancel = None);
                return;
            }
            let (phase, message) = if terminated {
                ("Failed".to_owned(), "Operation terminated".to_owned())
            } else {
                (phase, message)
            };
            let finished = now();
            let success = phase == "Succeeded";
            let dry_run = sync_op.dry_run == Some(true);
            self.with_entry(name, |e| {
                e.app.operation = None;
                e.op_cancel = None;
                let s = e.app.status.get_or_insert_with(Default::default);
                s.operation_state = Some(OperationState {
                    operation: op.clone(),
                    phase: phase.clone(),
                    message: Some(message.clone()),
                    sync_result: result.clone(),
                    started_at: started.clone(),
                    finished_at: Some(finished.clone()),
                    retry_count: (retry_count > 0).then_some(retry_count),
                });
                if success && !dry_run {
                    if let Some(r) = &result {
                        let id = s.history.iter().map(|h| h.id).max().map_or(0, |m| m + 1);
                        s.history.push(RevisionHistory {
                            revision: (!r.revision.is_empty()).then(|| r.revision.clone()),
                            deployed_at: finished.clone(),
                            id,
                            source: r.source.clone(),
                            deploy_started_at: Some(started.clone()),
                            sources: r.sources.clone(),
                            revisions: r.revisions.clone(),
                            initiated_by: op.initiated_by.clone(),
                        });
                        let limit = usize::try_from(e.app.spec.revision_history_limit().max(0))
                            .unwrap_or(10);
                        let excess = s.history.len().saturating_sub(limit);
                        s.history.drain(..excess);
                    }
                    set_condition(s, condition::SYNC_ERROR, None);
                }
            });
            if let Err(e) = self.write_operation(name).await {
                tracing::warn!(app = name, "writing the operation's result: {e}");
            }
            self.notify();
            self.audit(
                name,
                "OperationCompleted",
                &by,
                format!("sync {phase}: {message}"),
            );
            return;
        }
    }

    /// One sync attempt: render at the requested revision, compare, narrow, sync.
    async fn sync_once(
        &self,
        app: &Application,
        op: &SyncOperation,
        cancel: CancellationToken,
    ) -> (String, String, Option<SyncOperationResult>) {
        let mut target = app.clone();
        if let Some(src) = &op.source {
            target.spec.source = Some(src.clone());
        }
        if !op.sources.is_empty() {
            target.spec.sources = op.sources.clone();
        }
        let revisions: Option<Vec<String>> = if !op.revisions.is_empty() {
            Some(op.revisions.clone())
        } else {
            op.revision
                .clone()
                .filter(|r| !r.is_empty())
                .map(|r| vec![r])
        };
        let rendered = match self
            .inner
            .renderer
            .render(&target, revisions.as_deref(), false)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return (
                    "Error".into(),
                    format!("ComparisonError: failed to generate manifests: {e}"),
                    None,
                );
            }
        };
        let cmp = match self
            .inner
            .cluster
            .compare(&target, comparable(&rendered.objects))
            .await
        {
            Ok(c) => c,
            Err(e) => return ("Error".into(), format!("ComparisonError: {e}"), None),
        };
        let selected = |r: &crate::backend::Compared| {
            op.resources.is_empty()
                || op.resources.iter().any(|sel| {
                    sel.kind == r.status.kind.as_deref().unwrap_or("")
                        && sel.name == r.status.name.as_deref().unwrap_or("")
                        && sel.group.as_deref().unwrap_or("")
                            == r.status.group.as_deref().unwrap_or("")
                        && (sel.namespace.as_deref().unwrap_or("").is_empty()
                            || sel.namespace.as_deref() == r.status.namespace.as_deref())
                })
        };
        let mut input = SyncInput {
            app: app.metadata.name.clone().unwrap_or_default(),
            namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
            revision: rendered.revisions.first().cloned().unwrap_or_default(),
            prune: op.prune.unwrap_or(false),
            dry_run: op.dry_run.unwrap_or(false),
            allow_empty: app
                .spec
                .automated()
                .and_then(|a| a.allow_empty)
                .unwrap_or(false),
            force: op
                .sync_strategy
                .as_ref()
                .and_then(|s| s.apply.as_ref().or(s.hook.as_ref()))
                .and_then(|f| f.force)
                .unwrap_or(false),
            sync_options: app
                .spec
                .sync_policy
                .as_ref()
                .map(|p| p.sync_options.clone())
                .unwrap_or_default(),
            managed_namespace_metadata: app
                .spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.managed_namespace_metadata.clone()),
            ..Default::default()
        };
        input.sync_options.extend(op.sync_options.iter().cloned());
        input.progress = Some(self.progress_sink(&input.app));
        let project = self
            .project_of(app)
            .unwrap_or_else(|_| project::default_project());
        let dst = project::Destination::of(app);
        let mut denied = Vec::new();
        for r in cmp.resources.iter().filter(|r| selected(r)) {
            let st = &r.status;
            let (group, kind, ns) = (
                st.group.as_deref().unwrap_or(""),
                st.kind.as_deref().unwrap_or(""),
                st.namespace.as_deref().unwrap_or(""),
            );
            let refusal = project::resource_denied(&project, &dst, group, kind, ns, !ns.is_empty());
            if let Some(d) = &r.desired {
                if let Some(message) = refusal {
                    denied.push(refused(d, &st.version.clone().unwrap_or_default(), message));
                    continue;
                }
                input.modified.insert(object_key(d), r.modified);
                input.desired.push(d.clone());
            }
            // Live objects the project does not permit are never pruned (Argo CD's
            // `getPermittedAppLiveObjects`).
            if let Some(l) = &r.live
                && (r.desired.is_some() || refusal.is_none())
            {
                input.live.push(l.clone());
            }
        }
        // Hooks are not in the comparison's resources: keep every rendered hook when syncing
        // the whole app.
        if op.resources.is_empty() {
            for o in &rendered.objects {
                let nameless = name_of(o).is_empty();
                if is_hook(o)
                    && (nameless || !input.desired.iter().any(|d| object_key(d) == object_key(o)))
                {
                    input.desired.push(o.clone());
                }
            }
        }
        for h in input.desired.iter().filter(|o| is_hook(o)) {
            let (group, kind) = group_kind(h);
            let ns = h
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(&input.namespace);
            if let Some(message) = project::resource_denied(&project, &dst, group, kind, ns, true) {
                let version = h
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .map(|a| a.rsplit('/').next().unwrap_or(a))
                    .unwrap_or("");
                denied.push(refused(h, version, message));
            }
        }
        let multi = !target.spec.sources.is_empty();
        let result = |resources| SyncOperationResult {
            resources,
            revision: if multi {
                String::new()
            } else {
                rendered.revisions.first().cloned().unwrap_or_default()
            },
            source: if multi {
                None
            } else {
                target.spec.source.clone()
            },
            sources: target.spec.sources.clone(),
            revisions: if multi {
                rendered.revisions.clone()
            } else {
                Vec::new()
            },
            managed_namespace_metadata: None,
        };
        // As gitops-engine with Argo CD's permission validator: nothing is applied when a task
        // is not permitted; each refused resource is SyncFailed with the reason.
        if !denied.is_empty() {
            return (
                "Failed".into(),
                "one or more synchronization tasks are not valid".into(),
                Some(result(denied)),
            );
        }
        let out = self.inner.cluster.sync(input, cancel).await;
        (out.phase, out.message, Some(result(out.resources)))
    }
}

fn group_kind(o: &Value) -> (&str, &str) {
    let api = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    (group, o.get("kind").and_then(Value::as_str).unwrap_or(""))
}

/// A resource the project refuses, as a sync result.
fn refused(o: &Value, version: &str, message: String) -> tether_model::application::ResourceResult {
    let (group, kind) = group_kind(o);
    let s = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    tether_model::application::ResourceResult {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        namespace: s("/metadata/namespace"),
        name: s("/metadata/name"),
        status: Some("SyncFailed".into()),
        message: Some(message),
        hook_type: None,
        hook_phase: None,
        sync_phase: Some("Sync".into()),
        images: Vec::new(),
    }
}

fn is_hook(o: &Value) -> bool {
    o.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| {
            a.contains_key("argocd.argoproj.io/hook") || a.contains_key("helm.sh/hook")
        })
}

fn name_of(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The objects compared with the live state: hooks named only by `generateName` exist only
/// while a sync runs, so they are left to the sync.
fn comparable(objects: &[Value]) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| !(is_hook(o) && name_of(o).is_empty()))
        .cloned()
        .collect()
}

/// The start of the `SyncError` message of an auto-sync a sync window blocks.
const WINDOW_BLOCKED: &str = "auto-sync blocked by sync window";
/// How soon an app whose sync a window blocks is looked at again.
const WINDOW_RECHECK: Duration = Duration::from_secs(15);
/// How often a running sync looks at the sync windows.
const WINDOW_WATCH: Duration = Duration::from_secs(1);

/// How tether-cluster words a live object tracked by another app.
const SHARED_WARNING: &str = "(shared resource)";
/// How tether-cluster words an object rendered twice.
const REPEATED_WARNING: &str = "appears more than once in the desired objects";

/// Argo CD's project rules in a comparison: desired resources of kinds the project does not
/// permit are `Unknown`; live-only resources the project does not permit are left out (never
/// shown as needing a prune, never pruned).
fn restrict_to_project(cmp: &mut Comparison, app: &Application, project: &AppProject) {
    let dst = project::Destination::of(app);
    cmp.resources.retain_mut(|r| {
        let st = &mut r.status;
        let group = st.group.clone().unwrap_or_default();
        let kind = st.kind.clone().unwrap_or_default();
        let ns = st.namespace.clone().unwrap_or_default();
        let namespaced = !ns.is_empty();
        if r.desired.is_some() {
            if !project::resource_permitted(project, &group, &kind, namespaced) {
                st.status = Some(SyncStatusCode::Unknown);
            }
            true
        } else {
            project::resource_denied(project, &dst, &group, &kind, &ns, namespaced).is_none()
        }
    });
}

fn condition_message<'a>(s: &'a ApplicationStatus, ty: &str) -> Option<&'a str> {
    s.conditions
        .iter()
        .find(|c| c.type_ == ty)
        .map(|c| c.message.as_str())
}

/// Sets (or with `None` removes) the condition of a type, keeping its transition time when the
/// message is unchanged.
pub fn set_condition(s: &mut ApplicationStatus, ty: &str, message: Option<&str>) {
    match message {
        None => s.conditions.retain(|c| c.type_ != ty),
        Some(m) => {
            if let Some(c) = s.conditions.iter_mut().find(|c| c.type_ == ty) {
                if c.message != m {
                    c.message = m.to_owned();
                    c.last_transition_time = Some(now());
                }
            } else {
                s.conditions.push(ApplicationCondition {
                    type_: ty.to_owned(),
                    message: m.to_owned(),
                    last_transition_time: Some(now()),
                });
            }
        }
    }
}

/// Container images of the rendered objects (Argo CD's `summary.images`), sorted, unique.
pub fn images(objects: &[Value]) -> Vec<String> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for key in ["containers", "initContainers", "ephemeralContainers"] {
                    if let Some(Value::Array(cs)) = m.get(key) {
                        for c in cs {
                            if let Some(i) = c.get("image").and_then(Value::as_str) {
                                out.insert(i.to_owned());
                            }
                        }
                    }
                }
                for (k, child) in m {
                    if k != "status" && k != "metadata" {
                        walk(child, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    for o in objects {
        walk(o, &mut out);
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Compared, Rendered, SyncOutcome};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tether_model::application::{HealthStatusCode, ResourceStatus};
    use tokio::sync::broadcast;

    struct FakeRenderer;

    #[async_trait]
    impl Renderer for FakeRenderer {
        async fn render(
            &self,
            _: &Application,
            _: Option<&[String]>,
            _: bool,
        ) -> Result<Rendered, String> {
            Ok(Rendered {
                objects: vec![serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c"}, "data": {"k": "v"}})],
                revisions: vec!["a".repeat(40)],
                source_types: vec!["Directory".into()],
            })
        }
    }

    /// Always OutOfSync; syncs fail or succeed as told.
    struct FakeCluster {
        fail: bool,
        syncs: AtomicUsize,
        events: broadcast::Sender<String>,
        warnings: Vec<String>,
        top_level: Vec<crate::backend::TopLevelObject>,
    }

    #[async_trait]
    impl Cluster for FakeCluster {
        async fn compare(
            &self,
            _: &Application,
            desired: Vec<Value>,
        ) -> Result<Comparison, String> {
            Ok(Comparison {
                sync: SyncStatusCode::OutOfSync,
                health: HealthStatusCode::Healthy,
                resources: vec![Compared {
                    status: ResourceStatus {
                        kind: Some("ConfigMap".into()),
                        namespace: Some("n".into()),
                        name: Some("c".into()),
                        status: Some(SyncStatusCode::OutOfSync),
                        ..Default::default()
                    },
                    desired: desired.first().cloned(),
                    live: None,
                    modified: true,
                    diff: String::new(),
                }],
                warnings: self.warnings.clone(),
            })
        }
        async fn sync(&self, _: SyncInput, _: CancellationToken) -> SyncOutcome {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            SyncOutcome {
                phase: if self.fail { "Failed" } else { "Succeeded" }.into(),
                message: "m".into(),
                resources: Vec::new(),
            }
        }
        async fn delete_resources(&self, _: &Application, _: bool) -> Result<usize, String> {
            Ok(0)
        }
        fn events(&self) -> broadcast::Receiver<String> {
            self.events.subscribe()
        }
        fn top_level_objects(&self, _: &str) -> Vec<crate::backend::TopLevelObject> {
            self.top_level.clone()
        }
    }

    fn app(policy: &str) -> Declaration {
        let app: Application = serde_yaml::from_str(&format!(
            "metadata: {{name: a}}\nspec:\n  source: {{repoURL: 'http://x/r.git', path: p}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: n}}\n{policy}"
        ))
        .unwrap();
        Declaration {
            app,
            origin: "t".into(),
            invalid: None,
        }
    }

    async fn settle(c: &Controller, name: &str) -> Application {
        // Let the workers drain the queue and any operation they set.
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if c.inner.queue.idle() && c.app(name).is_some_and(|a| a.operation.is_none()) {
                break;
            }
        }
        c.app(name).unwrap()
    }

    fn controller(fail: bool) -> (Controller, Arc<FakeCluster>) {
        controller_with(fail, Vec::new(), Vec::new())
    }

    fn controller_with(
        fail: bool,
        warnings: Vec<String>,
        top_level: Vec<crate::backend::TopLevelObject>,
    ) -> (Controller, Arc<FakeCluster>) {
        let cluster = Arc::new(FakeCluster {
            fail,
            syncs: AtomicUsize::new(0),
            events: broadcast::channel(16).0,
            warnings,
            top_level,
        });
        let settings = Settings {
            app_resync: Duration::from_secs(3600),
            resync_jitter: Duration::ZERO,
            status_processors: 2,
            ..Settings::default()
        };
        let c = Controller::new(settings, Arc::new(FakeRenderer), cluster.clone(), None);
        c.start();
        (c, cluster)
    }

    #[tokio::test]
    async fn a_failed_auto_sync_is_not_retried_for_the_same_revision() {
        let (c, cluster) = controller(true);
        c.declare(
            vec![app("  syncPolicy: {automated: {prune: true}}\n")],
            BTreeMap::new(),
        );
        let a = settle(&c, "a").await;
        let s = a.status.unwrap();
        assert_eq!(s.operation_state.unwrap().phase, "Failed");
        // More refreshes at the same revision: no new attempt, a SyncError condition instead.
        c.refresh("a", false).unwrap();
        let a = settle(&c, "a").await;
        c.refresh("a", false).unwrap();
        let _ = settle(&c, "a").await;
        assert_eq!(cluster.syncs.load(Ordering::SeqCst), 1);
        let s = a.status.unwrap();
        assert!(
            s.conditions.iter().any(|c| c.type_ == condition::SYNC_ERROR
                && c.message.starts_with("Failed last sync attempt to aaaa")),
            "{:?}",
            s.conditions
        );
        assert!(s.history.is_empty());
        c.shutdown();
    }

    #[tokio::test]
    async fn self_heal_resyncs_the_same_revision_and_manual_apps_wait_for_a_request() {
        let (c, cluster) = controller(false);
        c.declare(
            vec![app("  syncPolicy: {automated: {selfHeal: true}}\n")],
            BTreeMap::new(),
        );
        let a = settle(&c, "a").await;
        assert_eq!(a.status.as_ref().unwrap().history.len(), 1);
        let first = cluster.syncs.load(Ordering::SeqCst);
        assert!(first >= 1);

        let (m, mcluster) = controller(false);
        m.declare(vec![app("")], BTreeMap::new());
        let a = settle(&m, "a").await;
        assert_eq!(mcluster.syncs.load(Ordering::SeqCst), 0);
        assert_eq!(
            a.status.unwrap().sync.unwrap().status,
            SyncStatusCode::OutOfSync
        );
        m.request_sync("a", SyncOperation::default(), "admin")
            .await
            .unwrap();
        let a = settle(&m, "a").await;
        assert_eq!(mcluster.syncs.load(Ordering::SeqCst), 1);
        let h = &a.status.unwrap().history;
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].initiated_by.as_ref().unwrap().username.as_deref(),
            Some("admin")
        );
        // Rollback is allowed for a manual app, refused with auto-sync.
        assert!(m.rollback("a", 0, false, false, "admin").await.is_ok());
        assert!(matches!(
            c.rollback("a", 0, false, false, "admin").await,
            Err(RequestError::Invalid(_))
        ));
        c.shutdown();
        m.shutdown();
    }

    fn projects(yaml: &str) -> BTreeMap<String, AppProject> {
        let p: AppProject = serde_yaml::from_str(yaml).unwrap();
        BTreeMap::from([(p.metadata.name.clone().unwrap(), p)])
    }

    fn in_project(policy: &str) -> Declaration {
        let mut d = app(policy);
        d.app.spec.project = "p".into();
        d
    }

    fn condition_of(a: &Application, ty: &str) -> Option<String> {
        a.status
            .as_ref()
            .and_then(|s| condition_message(s, ty))
            .map(str::to_owned)
    }

    #[tokio::test]
    async fn a_denied_kind_is_unknown_and_its_sync_fails_per_resource_without_applying() {
        let (c, cluster) = controller(false);
        c.declare(
            vec![in_project("  syncPolicy: {automated: {}}\n")],
            projects(
                "metadata: {name: p}\nspec:\n  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n  namespaceResourceBlacklist: [{group: '', kind: ConfigMap}]\n",
            ),
        );
        let a = settle(&c, "a").await;
        let s = a.status.as_ref().unwrap();
        assert_eq!(s.resources[0].status, Some(SyncStatusCode::Unknown));
        let op = s.operation_state.as_ref().unwrap();
        assert_eq!(op.phase, "Failed");
        assert_eq!(
            op.message.as_deref(),
            Some("one or more synchronization tasks are not valid")
        );
        let r = &op.sync_result.as_ref().unwrap().resources[0];
        assert_eq!((r.kind.as_str(), r.name.as_str()), ("ConfigMap", "c"));
        assert_eq!(r.status.as_deref(), Some("SyncFailed"));
        assert_eq!(
            r.message.as_deref(),
            Some("resource :ConfigMap is not permitted in project p")
        );
        assert_eq!(cluster.syncs.load(Ordering::SeqCst), 0, "nothing applied");
        assert!(s.history.is_empty());
        c.shutdown();
    }

    #[tokio::test]
    async fn a_deny_window_blocks_auto_and_manual_sync_until_it_is_removed() {
        let (c, cluster) = controller(false);
        let open = "metadata: {name: p}\nspec:\n  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n";
        let closed = format!(
            "{open}  syncWindows: [{{kind: deny, schedule: '* * * * *', duration: 1h, applications: ['*']}}]\n"
        );
        c.declare(
            vec![in_project("  syncPolicy: {automated: {}}\n")],
            projects(&closed),
        );
        let a = settle(&c, "a").await;
        assert_eq!(cluster.syncs.load(Ordering::SeqCst), 0);
        assert_eq!(
            a.status.as_ref().unwrap().sync.as_ref().unwrap().status,
            SyncStatusCode::OutOfSync
        );
        let msg = condition_of(&a, condition::SYNC_ERROR).unwrap();
        assert_eq!(
            msg,
            format!(
                "auto-sync blocked by sync window to {}: active deny window '* * * * *' (1h)",
                "a".repeat(40)
            )
        );
        let e = c
            .request_sync("a", SyncOperation::default(), "admin")
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot sync: blocked by sync window"),
            "{e}"
        );
        // The window goes away: the app is synced and the condition cleared.
        c.declare(
            vec![in_project("  syncPolicy: {automated: {}}\n")],
            projects(open),
        );
        let a = settle(&c, "a").await;
        assert_eq!(cluster.syncs.load(Ordering::SeqCst), 1, "{:?}", a.status);
        assert_eq!(condition_of(&a, condition::SYNC_ERROR), None);
        c.shutdown();
    }

    #[tokio::test]
    async fn shared_repeated_and_orphaned_resource_warnings() {
        use crate::backend::TopLevelObject;
        let obj = |kind: &str, name: &str, app: Option<&str>| TopLevelObject {
            group: String::new(),
            kind: kind.into(),
            name: name.into(),
            app: app.map(str::to_owned),
        };
        let (c, _) = controller_with(
            false,
            vec![
                "/ConfigMap/n/c is part of application `other` too (shared resource)".into(),
                "/ConfigMap/n/c appears more than once in the desired objects; the last one counts".into(),
                "apps/Deployment x is excluded by resource.exclusions/inclusions and was not compared".into(),
            ],
            vec![
                obj("ConfigMap", "stray", None),
                obj("ConfigMap", "of-a-gone-app", Some("gone")),
                obj("ConfigMap", "c", Some("a")),
                obj("ConfigMap", "kube-root-ca.crt", None),
                obj("ServiceAccount", "default", None),
                obj("Secret", "ignored-by-project", None),
            ],
        );
        let base = "metadata: {name: p}\nspec:\n  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n";
        c.declare(
            vec![in_project("")],
            projects(&format!(
                "{base}  orphanedResources: {{ignore: [{{kind: Secret}}]}}\n"
            )),
        );
        let a = settle(&c, "a").await;
        assert_eq!(
            condition_of(&a, condition::SHARED_RESOURCE_WARNING).as_deref(),
            Some("/ConfigMap/n/c is part of application `other` too (shared resource)")
        );
        assert!(
            condition_of(&a, condition::REPEATED_RESOURCE_WARNING)
                .unwrap()
                .contains("appears more than once")
        );
        assert_eq!(
            condition_of(&a, condition::ORPHANED_RESOURCE_WARNING).as_deref(),
            Some("Application has 2 orphaned resources")
        );
        // Without `orphanedResources` (or with `warn: false`) there is no orphan warning.
        for p in [
            base.to_owned(),
            format!("{base}  orphanedResources: {{warn: false}}\n"),
        ] {
            c.declare(vec![in_project("")], projects(&p));
            let a = settle(&c, "a").await;
            assert_eq!(condition_of(&a, condition::ORPHANED_RESOURCE_WARNING), None);
        }
        c.shutdown();
    }
}
