//! Cluster mode: Applications and AppProjects are `argoproj.io/v1alpha1` resources in the
//! control namespace, exactly Argo CD's API.
//!
//! - [`feed`] watches both kinds (kube-runtime watchers) and hands every change to the same
//!   [`Controller`] file mode uses ([`Controller::upsert`], [`Controller::remove`],
//!   [`Controller::set_projects`]). A malformed Application is declared with its problem (an
//!   `InvalidSpecError` in its status), never dropped.
//! - [`KubeApps`] is the [`AppWriter`] that writes back to the resources as Argo CD's controller
//!   does: the whole `.status` (through the status subresource when the CRD has one; Argo CD's
//!   CRD has none, so usually with the resource), `.operation` set by a sync request and cleared
//!   with the final `operationState`, the `argocd.argoproj.io/refresh` annotation removed after
//!   the refresh, and the resources finalizer removed after a cascaded deletion.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use tether_model::application::Operation;
use tether_model::{AppProject, Application};

use crate::backend::AppWriter;
use crate::controller::{Controller, Declaration};
use crate::files::{Declared, load_object};
use crate::store::{AuditEntry, Store};

/// Field manager of the controller's writes to Applications.
pub const FIELD_MANAGER: &str = "tether-controller";

fn applications(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &ApiResource::erase::<Application>(&()),
    )
}

fn projects(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &ApiResource::erase::<AppProject>(&()),
    )
}

/// Writes status and operations to the Application resources.
#[derive(Clone)]
pub struct KubeApps {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api<DynamicObject>,
    status_subresource: bool,
    /// The latest status not yet written, by app.
    pending: Mutex<HashMap<String, Application>>,
    /// Apps with a background write scheduled.
    scheduled: Mutex<HashSet<String>>,
    /// One writer at a time per app, so writes keep their order.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    audit: Option<Arc<Store>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn api_error(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl KubeApps {
    /// A writer for the Applications of `namespace`; the audit log (if any) goes to `audit`.
    pub async fn new(client: kube::Client, namespace: &str, audit: Option<Arc<Store>>) -> Self {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let status_subresource = match crds.get_opt("applications.argoproj.io").await {
            Ok(Some(crd)) => crd.spec.versions.iter().any(|v| {
                v.name == tether_model::VERSION
                    && v.subresources.as_ref().is_some_and(|s| s.status.is_some())
            }),
            Ok(None) => {
                tracing::warn!(
                    "the Application CRD (applications.argoproj.io) is not installed: `tether crds | kubectl apply -f -`"
                );
                false
            }
            Err(e) => {
                tracing::warn!("reading the Application CRD: {e}");
                false
            }
        };
        Self {
            inner: Arc::new(Inner {
                api: applications(&client, namespace),
                status_subresource,
                pending: Mutex::default(),
                scheduled: Mutex::default(),
                locks: Mutex::default(),
                audit,
            }),
        }
    }
}

impl Inner {
    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.locks)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Writes the pending status of `name` and, when `operation` is `Some`, sets or clears
    /// `.operation`.
    async fn flush(&self, name: &str, operation: Option<Option<Operation>>) -> Result<(), String> {
        let guard = self.lock_for(name);
        let _g = guard.lock().await;
        lock(&self.scheduled).remove(name);
        let status = lock(&self.pending).remove(name).and_then(|a| a.status);
        let mut status_ops = Vec::new();
        if let Some(s) = status {
            let value = serde_json::to_value(&s).map_err(|e| e.to_string())?;
            status_ops.push(json!({"op": "add", "path": "/status", "value": value}));
        }
        let mut op_ops = Vec::new();
        match operation {
            Some(Some(op)) => {
                let value = serde_json::to_value(&op).map_err(|e| e.to_string())?;
                op_ops.push(json!({"op": "add", "path": "/operation", "value": value}));
            }
            // `add` then `remove`: removes the field whether it is there or not.
            Some(None) => op_ops.extend([
                json!({"op": "add", "path": "/operation", "value": null}),
                json!({"op": "remove", "path": "/operation"}),
            ]),
            None => {}
        }
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let patch = |ops: Vec<Value>| -> Result<Patch<()>, String> {
            let p: json_patch::Patch =
                serde_json::from_value(Value::Array(ops)).map_err(|e| e.to_string())?;
            Ok(Patch::Json(p))
        };
        let result = if self.status_subresource {
            // Status first: a cleared operation is never seen without its result.
            let mut r = Ok(());
            if !status_ops.is_empty() {
                r = self
                    .api
                    .patch_status(name, &pp, &patch(status_ops)?)
                    .await
                    .map(drop);
            }
            if r.is_ok() && !op_ops.is_empty() {
                r = self.api.patch(name, &pp, &patch(op_ops)?).await.map(drop);
            }
            r
        } else {
            // One patch, as Argo CD writes status and clears the operation together.
            status_ops.extend(op_ops);
            if status_ops.is_empty() {
                Ok(())
            } else {
                self.api
                    .patch(name, &pp, &patch(status_ops)?)
                    .await
                    .map(drop)
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if api_error(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[async_trait]
impl AppWriter for KubeApps {
    fn restore(&self, _: &str) -> Option<Application> {
        None
    }

    fn save(&self, app: &Application) {
        let Some(name) = app.metadata.name.clone() else {
            return;
        };
        lock(&self.inner.pending).insert(name.clone(), app.clone());
        if !lock(&self.inner.scheduled).insert(name.clone()) {
            return;
        }
        let inner = self.inner.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            if let Err(e) = inner.flush(&name, None).await {
                tracing::warn!(app = name, "writing status: {e}");
            }
        });
    }

    async fn write_operation(&self, app: &Application) -> Result<(), String> {
        let Some(name) = app.metadata.name.clone() else {
            return Ok(());
        };
        lock(&self.inner.pending).insert(name.clone(), app.clone());
        self.inner.flush(&name, Some(app.operation.clone())).await
    }

    async fn current_operation(&self, app: &Application) -> Result<Option<Operation>, String> {
        let Some(name) = app.metadata.name.as_deref() else {
            return Ok(None);
        };
        match self.inner.api.get_opt(name).await {
            Ok(Some(o)) => match o.data.get("operation") {
                None | Some(Value::Null) => Ok(None),
                Some(v) => serde_json::from_value(v.clone())
                    .map(Some)
                    .map_err(|e| format!("operation: {e}")),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn refreshed(&self, app: &Application) -> bool {
        let Some(name) = app.metadata.name.as_deref() else {
            return false;
        };
        let patch =
            json!({"metadata": {"annotations": {tether_model::annotations::REFRESH: null}}});
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match self.inner.api.patch(name, &pp, &Patch::Merge(&patch)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(app = name, "removing the refresh annotation: {e}");
                false
            }
        }
    }

    async fn remove_finalizers(
        &self,
        app: &Application,
        finalizers: &[String],
    ) -> Result<(), String> {
        let Some(name) = app.metadata.name.as_deref() else {
            return Ok(());
        };
        // Read, drop ours, write back guarded by the resourceVersion; again on a conflict.
        for _ in 0..5 {
            let obj = match self.inner.api.get_opt(name).await {
                Ok(Some(o)) => o,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            let current = obj.metadata.finalizers.clone().unwrap_or_default();
            let keep: Vec<String> = current
                .iter()
                .filter(|f| !finalizers.contains(f))
                .cloned()
                .collect();
            if keep.len() == current.len() {
                return Ok(());
            }
            let patch = json!({"metadata": {
                "resourceVersion": obj.metadata.resource_version,
                "finalizers": keep,
            }});
            let pp = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            match self.inner.api.patch(name, &pp, &Patch::Merge(&patch)).await {
                Ok(_) => return Ok(()),
                Err(e) if api_error(&e) == Some(409) => continue,
                Err(e) if api_error(&e) == Some(404) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the Application kept changing".into())
    }

    fn forget(&self, name: &str) {
        lock(&self.inner.pending).remove(name);
        lock(&self.inner.locks).remove(name);
    }

    fn audit(&self, entry: AuditEntry) {
        if let Some(s) = &self.inner.audit
            && let Err(e) = s.audit(entry)
        {
            tracing::warn!("audit log: {e}");
        }
    }

    fn audit_log(&self, app: Option<&str>, limit: usize) -> Vec<AuditEntry> {
        self.inner
            .audit
            .as_ref()
            .and_then(|s| s.audit_log(app, limit).ok())
            .unwrap_or_default()
    }
}

/// An Application resource as the controller is given it: checked as a file's document is
/// (field paths in the problem), metadata kept even when the rest is malformed.
pub fn declaration(obj: &DynamicObject, namespace: &str) -> Option<Declaration> {
    let name = obj.metadata.name.clone()?;
    let origin = format!("{namespace}/{name}");
    let mut value = serde_json::to_value(obj).ok()?;
    value["apiVersion"] = json!(tether_model::API_VERSION);
    value["kind"] = json!("Application");
    let mut d = Declared::default();
    load_object(&value, &origin, &mut d);
    let (app, invalid) = match d.apps.remove(&name) {
        Some(a) => (a.app, a.invalid),
        None => (
            Application::new(&name, Default::default()),
            Some(format!("{origin}: {}", d.errors.join("; "))),
        ),
    };
    let mut app = app;
    if invalid.is_some() {
        app.metadata = obj.metadata.clone();
    }
    Some(Declaration {
        app,
        origin,
        invalid,
    })
}

/// Watches Applications and AppProjects in `namespace` and feeds the controller until the
/// process ends. Projects are listed first, so that no app is judged against a missing project;
/// `ready` is set once the Applications are listed.
pub async fn feed(
    controller: Controller,
    client: kube::Client,
    namespace: String,
    ready: Arc<AtomicBool>,
) {
    let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(feed_projects(
        controller.clone(),
        projects(&client, &namespace),
        namespace.clone(),
        listed_tx,
    ));
    // Projects first (not forever: a missing CRD must not hold the apps back).
    let _ = tokio::time::timeout(Duration::from_secs(10), listed_rx).await;
    let api = applications(&client, &namespace);
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut listing: Option<BTreeSet<String>> = None;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Init) => listing = Some(BTreeSet::new()),
            Ok(Event::InitApply(o)) => {
                if let Some(d) = declaration(&o, &namespace) {
                    if let Some(l) = listing.as_mut() {
                        l.insert(d.app.metadata.name.clone().unwrap_or_default());
                    }
                    controller.upsert(d);
                }
            }
            Ok(Event::InitDone) => {
                let listed = listing.take().unwrap_or_default();
                for gone in known.difference(&listed) {
                    controller.remove(gone);
                }
                known = listed;
                ready.store(true, Ordering::SeqCst);
            }
            Ok(Event::Apply(o)) => {
                if let Some(d) = declaration(&o, &namespace) {
                    known.insert(d.app.metadata.name.clone().unwrap_or_default());
                    controller.upsert(d);
                }
            }
            Ok(Event::Delete(o)) => {
                if let Some(n) = o.metadata.name.as_deref() {
                    known.remove(n);
                    controller.remove(n);
                }
            }
            Err(e) => tracing::warn!("watching Applications in {namespace}: {e}"),
        }
    }
}

fn project_of(obj: &DynamicObject, namespace: &str) -> Result<(String, AppProject), String> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let origin = format!("{namespace}/{name}");
    let mut value = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    value["apiVersion"] = json!(tether_model::API_VERSION);
    value["kind"] = json!("AppProject");
    let mut d = Declared::default();
    load_object(&value, &origin, &mut d);
    match d.projects.remove(&name) {
        Some(p) => Ok((name, p)),
        None => Err(d.errors.join("; ")),
    }
}

async fn feed_projects(
    controller: Controller,
    api: Api<DynamicObject>,
    namespace: String,
    listed: tokio::sync::oneshot::Sender<()>,
) {
    let mut listed = Some(listed);
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut current: BTreeMap<String, AppProject> = BTreeMap::new();
    let mut listing: Option<BTreeMap<String, AppProject>> = None;
    let add =
        |map: &mut BTreeMap<String, AppProject>, o: &DynamicObject| match project_of(o, &namespace)
        {
            Ok((n, p)) => {
                map.insert(n, p);
            }
            Err(e) => {
                // A malformed project is left out: its apps get "project does not exist".
                if let Some(n) = o.metadata.name.as_deref() {
                    map.remove(n);
                }
                tracing::warn!("AppProject: {e}");
            }
        };
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Init) => listing = Some(BTreeMap::new()),
            Ok(Event::InitApply(o)) => {
                if let Some(l) = listing.as_mut() {
                    add(l, &o);
                }
            }
            Ok(Event::InitDone) => {
                current = listing.take().unwrap_or_default();
                controller.set_projects(current.clone());
                if let Some(tx) = listed.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Event::Apply(o)) => {
                add(&mut current, &o);
                controller.set_projects(current.clone());
            }
            Ok(Event::Delete(o)) => {
                if let Some(n) = o.metadata.name.as_deref() {
                    current.remove(n);
                }
                controller.set_projects(current.clone());
            }
            Err(e) => tracing::warn!("watching AppProjects in {namespace}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resources_become_declarations_with_status_operation_and_problems() {
        let ok = object(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd",
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"project": "default",
                     "source": {"repoURL": "http://git/r.git", "path": "web"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"}},
            "operation": {"sync": {"revision": "abc"}, "initiatedBy": {"username": "alice"}},
            "status": {"sync": {"status": "Synced"}}
        }));
        let d = declaration(&ok, "argocd").unwrap();
        assert_eq!(d.invalid, None);
        assert_eq!(d.origin, "argocd/web");
        let op = d.app.operation.unwrap();
        assert_eq!(op.sync.unwrap().revision.as_deref(), Some("abc"));
        assert!(d.app.status.unwrap().sync.is_some());

        // Accepted by the CRD schema, refused by Argo CD's rules; metadata (finalizers) kept.
        let bad = object(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "both", "namespace": "argocd",
                         "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
            "spec": {"destination": {"server": "https://kubernetes.default.svc", "name": "in-cluster"},
                     "source": {"repoURL": "http://git/r.git", "path": "x"}}
        }));
        let d = declaration(&bad, "argocd").unwrap();
        let problem = d.invalid.unwrap();
        assert!(
            problem.starts_with("argocd/both: ") && problem.contains("spec.destination"),
            "{problem}"
        );
        assert_eq!(
            d.app.metadata.finalizers,
            Some(vec![crate::controller::RESOURCES_FINALIZER.to_owned()])
        );
    }
}
