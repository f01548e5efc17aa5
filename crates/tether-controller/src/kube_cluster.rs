//! The real [`Cluster`]: tether-cluster's shared watch cache for comparison and live-state
//! events, and sync through [`SyncRunner`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube::api::{Api, DeleteParams, DynamicObject, PropagationPolicy};
use serde_json::Value;
use tether_cluster::{CacheEvent, CacheSettings, ClusterCache, CompareTarget};
use tether_health::{HealthChecker, LuaOverrides};
use tether_model::Application;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::backend::{
    Cluster, Compared, Comparison, ProgressSink, SyncInput, SyncOutcome, TopLevelObject,
};

tokio::task_local! {
    /// The running sync's progress sink: the engine's progress callback is shared by every
    /// sync, and tether-sync runs a sync within the caller's task (no spawns), so the sink of
    /// the sync being polled is found here.
    static PROGRESS: Option<ProgressSink>;
}

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
                    Ok(CacheEvent::Applied { object: o, .. } | CacheEvent::Deleted(o)) => {
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
        let engine = tether_sync::SyncEngine::new(
            client.clone(),
            Arc::new(tether_sync::KubeResolver::new(client)),
        )
        .with_health(HealthChecker::new(LuaOverrides::new()))
        // Waits between waves wake on the shared cache's watch events, not on a poll.
        .with_cache(cache.clone())
        .with_progress(Arc::new(|ev: &tether_sync::SyncEvent| {
            if let tether_sync::SyncEvent::Resource(r) = ev {
                let _ = PROGRESS.try_with(|p| {
                    if let Some(p) = p {
                        (p.0)(r.clone());
                    }
                });
            }
        }));
        let syncer = Arc::new(EngineSyncer { engine });
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

    fn remaining(&self, app: &Application) -> usize {
        let target = CompareTarget::from_application(app, &self.control_namespace);
        self.cache.app_objects(&target.app).len()
    }

    fn top_level_objects(&self, namespace: &str) -> Vec<TopLevelObject> {
        let mut out = Vec::new();
        for w in self.cache.status() {
            for o in self.cache.objects(&w.group, &w.kind) {
                if o.namespace() == namespace && !o.has_owner() {
                    out.push(TopLevelObject {
                        group: o.group().to_owned(),
                        kind: o.kind().to_owned(),
                        name: o.name().to_owned(),
                        app: o.app().map(str::to_owned),
                    });
                }
            }
        }
        out
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

/// tether-sync's engine: phases, waves, hooks, prune order, sync options, a dry run first.
pub struct EngineSyncer {
    engine: tether_sync::SyncEngine,
}

#[async_trait]
impl SyncRunner for EngineSyncer {
    async fn sync(&self, input: SyncInput, cancel: CancellationToken) -> SyncOutcome {
        let mut options: Vec<String> = input.sync_options.clone();
        if input.force && !options.iter().any(|o| o.starts_with("Force=")) {
            options.push("Force=true".into());
        }
        let parsed = match tether_sync::SyncOptions::parse(options.iter().map(String::as_str)) {
            Ok(o) => o,
            Err(e) => {
                return SyncOutcome {
                    phase: "Error".into(),
                    message: format!("invalid sync options: {e}"),
                    resources: Vec::new(),
                };
            }
        };
        let modified = input
            .desired
            .iter()
            .map(|d| {
                let m = input
                    .modified
                    .get(&crate::backend::object_key(d))
                    .copied()
                    .unwrap_or(true);
                (tether_sync::ResourceKey::of(d), m)
            })
            .collect();
        let mut req =
            tether_sync::SyncRequest::new(input.app, input.namespace, input.desired, input.live);
        req.revision = input.revision;
        req.options = parsed;
        req.prune = input.prune;
        req.dry_run = input.dry_run;
        req.allow_empty = input.allow_empty;
        req.managed_namespace_metadata = input.managed_namespace_metadata;
        req.modified = modified;
        let r = PROGRESS
            .scope(input.progress, self.engine.sync(req, &cancel))
            .await;
        SyncOutcome {
            phase: r.phase.as_str().to_owned(),
            message: r.message,
            resources: r.resources,
        }
    }
}
