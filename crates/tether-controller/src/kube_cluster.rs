//! The real [`Cluster`]: tether-cluster's shared watch cache for comparison and live-state
//! events, and sync through [`SyncRunner`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use serde_json::Value;
use tether_cluster::{CacheEvent, CacheSettings, ClusterCache, CompareTarget};
use tether_health::{HealthChecker, LuaOverrides};
use tether_model::Application;
use tether_model::application::ResourceResult;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::backend::{Cluster, Compared, Comparison, SyncInput, SyncOutcome};

/// Runs a sync against the cluster.
#[async_trait]
pub trait SyncRunner: Send + Sync + 'static {
    async fn sync(&self, input: SyncInput, cancel: CancellationToken) -> SyncOutcome;
}

/// The destination cluster through kube.
pub struct KubeCluster {
    cache: ClusterCache,
    health: HealthChecker,
    control_namespace: String,
    syncer: Arc<dyn SyncRunner>,
    events: broadcast::Sender<String>,
}

impl KubeCluster {
    /// Starts the shared cache and waits (up to `timeout`) for its first lists.
    pub async fn start(
        client: kube::Client,
        control_namespace: &str,
        timeout: Duration,
    ) -> Result<Arc<Self>, String> {
        let cache = ClusterCache::start(client.clone(), CacheSettings::default())
            .await
            .map_err(|e| e.to_string())?;
        cache
            .wait_synced(timeout)
            .await
            .map_err(|e| e.to_string())?;
        let (tx, _) = broadcast::channel(4096);
        let mut rx = cache.subscribe();
        let fwd = tx.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(CacheEvent::Applied(o) | CacheEvent::Deleted(o)) => {
                        if let Some(app) = o.app() {
                            let _ = fwd.send(app.to_owned());
                        }
                    }
                    Ok(CacheEvent::Synced { .. }) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let syncer = Arc::new(ApplySyncer {
            client,
            cache: cache.clone(),
        });
        Ok(Arc::new(Self {
            cache,
            health: HealthChecker::new(LuaOverrides::new()),
            control_namespace: control_namespace.to_owned(),
            syncer,
            events: tx,
        }))
    }

    /// The shared cache.
    pub fn cache(&self) -> &ClusterCache {
        &self.cache
    }
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn compare(&self, app: &Application, desired: Vec<Value>) -> Result<Comparison, String> {
        let target = CompareTarget::from_application(app, &self.control_namespace);
        let r = self
            .cache
            .compare(desired, &target, &self.health)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Comparison {
            sync: r.sync_status,
            health: r.health,
            resources: r
                .resources
                .into_iter()
                .map(|c| Compared {
                    status: c.status,
                    desired: c.desired,
                    live: c.live.map(|l| l.value()),
                    modified: c.diff.modified,
                    diff: c.diff.unified,
                })
                .collect(),
            warnings: r.warnings,
        })
    }

    async fn sync(&self, input: SyncInput, cancel: CancellationToken) -> SyncOutcome {
        self.syncer.sync(input, cancel).await
    }

    async fn delete_resources(&self, app: &Application, background: bool) -> Result<usize, String> {
        let target = CompareTarget::from_application(app, &self.control_namespace);
        let objs = self.cache.app_objects(&target.app);
        let mut left = 0;
        for o in objs {
            let api = dyn_api(
                self.cache.client(),
                &o.resource().resource,
                o.resource().namespaced,
                o.namespace(),
            );
            let dp = DeleteParams {
                propagation_policy: Some(if background {
                    PropagationPolicy::Background
                } else {
                    PropagationPolicy::Foreground
                }),
                ..Default::default()
            };
            match api.delete(o.name(), &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    left += 1;
                    tracing::warn!("deleting {}/{}: {e}", o.kind(), o.name());
                }
            }
        }
        Ok(left)
    }

    fn events(&self) -> broadcast::Receiver<String> {
        self.events.subscribe()
    }
}

fn dyn_api(
    client: &kube::Client,
    ar: &kube::discovery::ApiResource,
    namespaced: bool,
    ns: &str,
) -> Api<DynamicObject> {
    if namespaced {
        Api::namespaced_with(client.clone(), ns, ar)
    } else {
        Api::all_with(client.clone(), ar)
    }
}

/// A plain sync: server-side apply of every desired object, then prune. No waves or hooks
/// (tether-sync's engine replaces it).
pub struct ApplySyncer {
    client: kube::Client,
    cache: ClusterCache,
}

fn group_version(obj: &Value) -> (String, String) {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    match api.rsplit_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), api.to_owned()),
    }
}

fn s<'a>(obj: &'a Value, p: &str) -> &'a str {
    obj.pointer(p).and_then(Value::as_str).unwrap_or("")
}

#[async_trait]
impl SyncRunner for ApplySyncer {
    async fn sync(&self, input: SyncInput, cancel: CancellationToken) -> SyncOutcome {
        let mut results = Vec::new();
        let mut failed = None;
        let desired_keys: std::collections::HashSet<String> = input
            .desired
            .iter()
            .map(crate::backend::object_key)
            .collect();
        let ssa = PatchParams::apply("tether").force();
        let ssa = if input.dry_run { ssa.dry_run() } else { ssa };
        for obj in &input.desired {
            if cancel.is_cancelled() {
                failed = Some("Operation terminated".to_owned());
                break;
            }
            let (group, version) = group_version(obj);
            let kind = s(obj, "/kind").to_owned();
            let name = s(obj, "/metadata/name").to_owned();
            let mut rr = ResourceResult {
                group: group.clone(),
                version: version.clone(),
                kind: kind.clone(),
                namespace: s(obj, "/metadata/namespace").to_owned(),
                name: name.clone(),
                sync_phase: Some("Sync".into()),
                ..Default::default()
            };
            let info = match self
                .cache
                .discovery()
                .resolve_or_refresh(&group, &kind)
                .await
            {
                Ok(Some(i)) => i,
                Ok(None) => {
                    rr.status = Some("SyncFailed".into());
                    rr.message = Some(format!("the server does not serve {group}/{kind}"));
                    failed.get_or_insert_with(|| rr.message.clone().unwrap_or_default());
                    results.push(rr);
                    continue;
                }
                Err(e) => {
                    rr.status = Some("SyncFailed".into());
                    rr.message = Some(e.to_string());
                    failed.get_or_insert_with(|| e.to_string());
                    results.push(rr);
                    continue;
                }
            };
            let ns = if info.namespaced {
                if rr.namespace.is_empty() {
                    rr.namespace = input.namespace.clone();
                }
                rr.namespace.clone()
            } else {
                String::new()
            };
            let api = dyn_api(&self.client, &info.resource, info.namespaced, &ns);
            let mut body = obj.clone();
            if info.namespaced
                && let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut)
            {
                m.insert("namespace".into(), Value::String(ns.clone()));
            }
            match api.patch(&name, &ssa, &Patch::Apply(&body)).await {
                Ok(_) => {
                    rr.status = Some("Synced".into());
                    rr.message = Some(format!(
                        "{}/{name} {}",
                        kind.to_lowercase(),
                        if input.dry_run {
                            "configured (dry run)"
                        } else {
                            "serverside-applied"
                        }
                    ));
                }
                Err(e) => {
                    rr.status = Some("SyncFailed".into());
                    rr.message = Some(e.to_string());
                    failed.get_or_insert_with(|| format!("{kind}/{name}: {e}"));
                }
            }
            results.push(rr);
        }
        if failed.is_none() {
            for live in &input.live {
                let key = crate::backend::object_key(live);
                if desired_keys.contains(&key) {
                    continue;
                }
                let (group, version) = group_version(live);
                let kind = s(live, "/kind").to_owned();
                let name = s(live, "/metadata/name").to_owned();
                let ns = s(live, "/metadata/namespace").to_owned();
                let mut rr = ResourceResult {
                    group: group.clone(),
                    version,
                    kind: kind.clone(),
                    namespace: ns.clone(),
                    name: name.clone(),
                    sync_phase: Some("Sync".into()),
                    ..Default::default()
                };
                if !input.prune {
                    rr.status = Some("PruneSkipped".into());
                    rr.message = Some("ignored (requires pruning)".into());
                    results.push(rr);
                    continue;
                }
                if let Ok(Some(info)) = self
                    .cache
                    .discovery()
                    .resolve_or_refresh(&group, &kind)
                    .await
                {
                    let api = dyn_api(&self.client, &info.resource, info.namespaced, &ns);
                    let dp = if input.dry_run {
                        DeleteParams::default().dry_run()
                    } else {
                        DeleteParams::foreground()
                    };
                    match api.delete(&name, &dp).await {
                        Ok(_) => {
                            rr.status = Some("Pruned".into());
                            rr.message = Some("pruned".into());
                        }
                        Err(e) => {
                            rr.status = Some("SyncFailed".into());
                            rr.message = Some(e.to_string());
                            failed.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                results.push(rr);
            }
        }
        match failed {
            Some(m) => SyncOutcome {
                phase: "Failed".into(),
                message: format!("one or more objects failed to apply, reason: {m}"),
                resources: results,
            },
            None => SyncOutcome {
                phase: "Succeeded".into(),
                message: "successfully synced (all tasks run)".into(),
                resources: results,
            },
        }
    }
}
