//! One shared live-state cache per cluster.
//!
//! The cache runs one kube-runtime [`watcher`] per watched group/kind (at its preferred version),
//! shared by every application on the cluster. kube-runtime's watcher does the list/watch state
//! machine: paging, bookmarks, resuming from the last resourceVersion, a full relist when the
//! API server answers 410 Gone, and backoff on errors. The cache consumes its events into a store
//! of its own rather than kube-runtime's reflector `Store`, for two reasons:
//!
//! - compactness: each object is kept as one byte string in [`crate::compact`]'s encoding (the
//!   strings that repeat across objects interned; the last-applied annotation dropped and
//!   `managedFields` kept unless configured otherwise), plus its key and owner, instead of a
//!   `DynamicObject` tree keyed by an `ObjectRef` that repeats the `ApiResource` per entry
//!   (see `docs/benchmarks.md`, "Live-state cache");
//! - the application index: every store change updates the index from app name to objects in
//!   the same critical section, and a relist (`Init` … `InitDone`) swaps the store atomically,
//!   as the reflector does, and reports objects that vanished meanwhile as deleted.
//!
//! Which kinds are watched: every listable and watchable kind that discovery finds, minus
//! Argo CD's `resource.exclusions` (and outside `resource.inclusions`), or only the kinds named
//! in [`WatchScope::Kinds`] plus those added with [`ClusterCache::ensure_watched`]. A watch on
//! CustomResourceDefinitions refreshes discovery when a CRD changes, so new kinds are watched
//! and removed ones dropped.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, TypeMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use serde_json::Value;
use tether_model::resource::ResourceKey;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::ClusterError;
use crate::discovery::{Discovery, ResourceInfo};
use crate::filter::ResourceFilter;
use crate::tracking::Tracking;

/// The annotation `kubectl apply` writes.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Prefix of a Secret value as the cache stores it.
pub const HIDDEN_PREFIX: &str = "tether-hidden:";

/// Replaces each value of a core Secret's `data` (base64 text) by a keyed hash
/// (`tether-hidden:<hex>`, SipHash with a key random per process), so the cache never holds
/// Secret values while equal values still compare equal. Also drops the last-applied annotation
/// (it would carry the values in the clear). Other objects are left alone.
pub fn hide_secret_values(obj: &mut Value) {
    use std::hash::{BuildHasher, Hasher};
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let is_secret = obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if !is_secret {
        return;
    }
    if let Some(ann) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        ann.remove(LAST_APPLIED);
    }
    let key = KEY.get_or_init(std::hash::RandomState::new);
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        for v in data.values_mut() {
            if v.as_str().is_some_and(|s| s.starts_with(HIDDEN_PREFIX)) {
                continue;
            }
            let mut h = key.build_hasher();
            h.write(v.to_string().as_bytes());
            *v = Value::String(format!("{HIDDEN_PREFIX}{:016x}", h.finish()));
        }
    }
}

/// The in-cluster server URL Argo CD uses for the cluster it runs in.
pub const IN_CLUSTER_URL: &str = "https://kubernetes.default.svc";

/// Which kinds the cache watches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WatchScope {
    /// Every listable and watchable kind not excluded (as Argo CD).
    #[default]
    All,
    /// Only these `(group, kind)` pairs (plus those added by [`ClusterCache::ensure_watched`]).
    Kinds(Vec<(String, String)>),
}

/// How the cache is set up.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `resource.exclusions` / `resource.inclusions`.
    pub filter: ResourceFilter,
    /// The cluster's server URL, matched by the filter's `clusters` globs.
    pub cluster_url: String,
    /// How objects are attributed to applications.
    pub tracking: Tracking,
    /// Keep `metadata.managedFields` (the default: the diff needs them to attribute drift to
    /// field managers, for `managedFieldsManagers`, and to see fields Tether applied before
    /// and no longer desires).
    pub keep_managed_fields: bool,
    /// Keep the `kubectl.kubernetes.io/last-applied-configuration` annotation.
    pub keep_last_applied: bool,
    /// Which kinds to watch.
    pub scope: WatchScope,
    /// Minimum time between two discovery refreshes caused by unknown kinds.
    pub discovery_min_interval: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            filter: ResourceFilter::default(),
            cluster_url: IN_CLUSTER_URL.to_owned(),
            tracking: Tracking::default(),
            keep_managed_fields: true,
            keep_last_applied: false,
            scope: WatchScope::All,
            discovery_min_interval: Duration::from_secs(3),
        }
    }
}

/// A live object as the cache holds it: its key, its owner and the object in the compact
/// encoding of [`crate::compact`] (repeated strings interned). Secret values are replaced by
/// keyed hashes ([`hide_secret_values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    resource: Arc<ResourceInfo>,
    namespace: Box<str>,
    name: Box<str>,
    resource_version: Box<str>,
    app: Option<Box<str>>,
    has_owner: bool,
    encoded: Box<[u8]>,
}

impl LiveObject {
    /// Builds the cached form of an object served as `resource`, stripping what `settings`
    /// says to strip and attributing it by `settings.tracking`.
    pub fn from_dynamic(
        mut obj: DynamicObject,
        resource: &Arc<ResourceInfo>,
        settings: &CacheSettings,
    ) -> Self {
        if !settings.keep_managed_fields {
            obj.metadata.managed_fields = None;
        }
        if !settings.keep_last_applied
            && let Some(ann) = obj.metadata.annotations.as_mut()
        {
            ann.remove(LAST_APPLIED);
            if ann.is_empty() {
                obj.metadata.annotations = None;
            }
        }
        obj.types = Some(TypeMeta {
            api_version: resource.resource.api_version.clone(),
            kind: resource.resource.kind.clone(),
        });
        let has_owner = obj
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|o| !o.is_empty());
        let namespace = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let resource_version = obj.metadata.resource_version.clone().unwrap_or_default();
        let mut value = serde_json::to_value(&obj).unwrap_or(Value::Null);
        hide_secret_values(&mut value);
        let app = settings.tracking.app_of(&value);
        Self {
            resource: resource.clone(),
            namespace: namespace.into(),
            name: name.into(),
            resource_version: resource_version.into(),
            app: app.map(Into::into),
            has_owner,
            encoded: crate::compact::encode(&value),
        }
    }

    /// The resource (group, version, kind, scope) this object is served as.
    pub fn resource(&self) -> &ResourceInfo {
        &self.resource
    }

    /// API group (`""` for core).
    pub fn group(&self) -> &str {
        &self.resource.resource.group
    }

    /// API version (without the group).
    pub fn version(&self) -> &str {
        &self.resource.resource.version
    }

    /// Kind.
    pub fn kind(&self) -> &str {
        &self.resource.resource.kind
    }

    /// Namespace (`""` for cluster-scoped objects).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.resourceVersion`.
    pub fn resource_version(&self) -> &str {
        &self.resource_version
    }

    /// The application that owns it by the tracking method, if any.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// Whether it has `ownerReferences` (then it is a child, never managed directly).
    pub fn has_owner(&self) -> bool {
        self.has_owner
    }

    /// The object as compact JSON.
    pub fn json(&self) -> String {
        self.value().to_string()
    }

    /// The object.
    pub fn value(&self) -> Value {
        crate::compact::decode(&self.encoded)
    }

    /// Bytes of the encoded object (without the key, owner and inline fields).
    pub fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    /// Its key: group, kind, namespace and name.
    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(self.group(), self.kind(), &self.namespace, &self.name)
    }
}

/// A change the cache saw.
#[derive(Debug, Clone)]
pub enum CacheEvent {
    /// An object was created or changed (or listed anew after a relist). `previous` is the
    /// version the cache held before, if any: when its [`LiveObject::app`] differs, the object
    /// moved between applications and both need a refresh.
    Applied {
        object: Arc<LiveObject>,
        previous: Option<Arc<LiveObject>>,
    },
    /// An object was deleted (or was missing from a relist).
    Deleted(Arc<LiveObject>),
    /// A watch finished its (re)list: the cache holds every object of this kind.
    Synced { group: String, kind: String },
}

type ObjKey = (Box<str>, Box<str>);

/// The objects of one kind and who owns them. Applies kube-runtime watcher events.
#[derive(Debug, Default)]
pub(crate) struct KindStore {
    objects: HashMap<ObjKey, Arc<LiveObject>>,
    by_app: HashMap<Box<str>, HashSet<ObjKey>>,
    relist: Option<HashMap<ObjKey, Arc<LiveObject>>>,
    synced: bool,
}

fn obj_key(o: &LiveObject) -> ObjKey {
    (o.namespace.clone(), o.name.clone())
}

impl KindStore {
    fn index(&mut self, key: &ObjKey, obj: &LiveObject) {
        if let (Some(app), false) = (&obj.app, obj.has_owner) {
            self.by_app
                .entry(app.clone())
                .or_default()
                .insert(key.clone());
        }
    }

    fn unindex(&mut self, key: &ObjKey, obj: &LiveObject) {
        if let Some(app) = &obj.app
            && let Some(set) = self.by_app.get_mut(app)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_app.remove(app);
            }
        }
    }

    fn upsert(&mut self, obj: Arc<LiveObject>) -> Option<Arc<LiveObject>> {
        let key = obj_key(&obj);
        let old = self.objects.insert(key.clone(), obj.clone());
        if let Some(old) = &old {
            self.unindex(&key, old);
        }
        self.index(&key, &obj);
        old
    }

    fn remove(&mut self, key: &ObjKey) -> Option<Arc<LiveObject>> {
        let old = self.objects.remove(key)?;
        self.unindex(key, &old);
        Some(old)
    }

    /// Applies one watcher event; returns the changes to report.
    pub(crate) fn apply(
        &mut self,
        event: Event<LiveObject>,
        group: &str,
        kind: &str,
    ) -> Vec<CacheEvent> {
        match event {
            Event::Apply(obj) => {
                let obj = Arc::new(obj);
                let old = self.upsert(obj.clone());
                if old
                    .as_ref()
                    .is_some_and(|o| o.resource_version == obj.resource_version)
                {
                    return Vec::new();
                }
                vec![CacheEvent::Applied {
                    object: obj,
                    previous: old,
                }]
            }
            Event::Delete(obj) => {
                let key = obj_key(&obj);
                match self.remove(&key) {
                    Some(old) => vec![CacheEvent::Deleted(old)],
                    None => Vec::new(),
                }
            }
            Event::Init => {
                self.relist = Some(HashMap::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                let obj = Arc::new(obj);
                self.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(obj_key(&obj), obj);
                Vec::new()
            }
            Event::InitDone => {
                let fresh = self.relist.take().unwrap_or_default();
                let mut out = Vec::new();
                let old_keys: Vec<ObjKey> = self.objects.keys().cloned().collect();
                for key in old_keys {
                    if !fresh.contains_key(&key)
                        && let Some(old) = self.remove(&key)
                    {
                        out.push(CacheEvent::Deleted(old));
                    }
                }
                for (_, obj) in fresh {
                    let old = self.upsert(obj.clone());
                    if old
                        .as_ref()
                        .is_none_or(|o| o.resource_version != obj.resource_version)
                    {
                        out.push(CacheEvent::Applied {
                            object: obj,
                            previous: old,
                        });
                    }
                }
                self.synced = true;
                out.push(CacheEvent::Synced {
                    group: group.to_owned(),
                    kind: kind.to_owned(),
                });
                out
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }
}

/// The state of one watch, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchStatus {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Whether the first list finished.
    pub synced: bool,
    /// Objects held.
    pub objects: usize,
    /// The last error the watch reported (it retries with backoff).
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct KindWatch {
    info: Arc<ResourceInfo>,
    store: RwLock<KindStore>,
    last_error: Mutex<Option<String>>,
    task: Mutex<Option<AbortHandle>>,
}

impl KindWatch {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, KindStore> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for KindWatch {
    fn drop(&mut self) {
        if let Some(t) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.abort();
        }
    }
}

type GroupKind = (String, String);

struct Inner {
    client: Client,
    discovery: Discovery,
    settings: CacheSettings,
    watches: RwLock<HashMap<GroupKind, Arc<KindWatch>>>,
    extra_kinds: Mutex<HashSet<GroupKind>>,
    events: broadcast::Sender<CacheEvent>,
    synced_notify: tokio::sync::Notify,
    crd_task: Mutex<Vec<AbortHandle>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCache")
            .field("cluster_url", &self.settings.cluster_url)
            .field("discovery", &self.discovery)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in self
            .crd_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            t.abort();
        }
        // The watch tasks hold their `KindWatch`; stop them now rather than at their next event.
        for w in self
            .watches
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            if let Some(t) = w.task.lock().unwrap_or_else(PoisonError::into_inner).take() {
                t.abort();
            }
        }
    }
}

/// The shared live-state cache of one cluster. Cheap to clone; the watches stop when the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct ClusterCache {
    inner: Arc<Inner>,
}

impl ClusterCache {
    /// Discovers the cluster's resources and starts the watches (they list in the background;
    /// see [`ClusterCache::wait_synced`]). Must run inside a Tokio runtime.
    pub async fn start(client: Client, settings: CacheSettings) -> Result<Self, ClusterError> {
        let discovery = Discovery::new(client.clone(), settings.discovery_min_interval).await?;
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            client,
            discovery,
            settings,
            watches: RwLock::new(HashMap::new()),
            extra_kinds: Mutex::new(HashSet::new()),
            events,
            synced_notify: tokio::sync::Notify::new(),
            crd_task: Mutex::new(Vec::new()),
        });
        sync_watches(&inner);
        let crd_task = tokio::spawn(watch_crds(Arc::downgrade(&inner), inner.client.clone()));
        inner
            .crd_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(crd_task.abort_handle());
        Ok(Self { inner })
    }

    /// The settings the cache runs with.
    pub fn settings(&self) -> &CacheSettings {
        &self.inner.settings
    }

    /// The Kubernetes client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// API discovery, kept fresh as CRDs change.
    pub fn discovery(&self) -> &Discovery {
        &self.inner.discovery
    }

    /// Changes as they happen (a lagging receiver misses events; re-read the cache then).
    pub fn subscribe(&self) -> broadcast::Receiver<CacheEvent> {
        self.inner.events.subscribe()
    }

    fn watch(&self, group: &str, kind: &str) -> Option<Arc<KindWatch>> {
        self.inner
            .watches
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(group.to_owned(), kind.to_owned()))
            .cloned()
    }

    fn all_watches(&self) -> Vec<Arc<KindWatch>> {
        self.inner
            .watches
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Whether a group and kind is watched.
    pub fn is_watched(&self, group: &str, kind: &str) -> bool {
        self.watch(group, kind).is_some()
    }

    /// Whether a group and kind is left out by the exclusions/inclusions.
    pub fn is_excluded(&self, group: &str, kind: &str) -> bool {
        let s = &self.inner.settings;
        s.filter.is_excluded(group, kind, &s.cluster_url)
    }

    /// One object, by group, kind, namespace (`""` for cluster-scoped) and name.
    pub fn get(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<LiveObject>> {
        let w = self.watch(group, kind)?;
        let key: ObjKey = (namespace.into(), name.into());
        w.read().objects.get(&key).cloned()
    }

    /// Every cached object of a group and kind.
    pub fn objects(&self, group: &str, kind: &str) -> Vec<Arc<LiveObject>> {
        self.watch(group, kind)
            .map(|w| w.read().objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The top-level objects (without ownerReferences) that the tracking method attributes to
    /// `app`, from the per-app index.
    pub fn app_objects(&self, app: &str) -> Vec<Arc<LiveObject>> {
        let mut out = Vec::new();
        for w in self.all_watches() {
            let store = w.read();
            if let Some(keys) = store.by_app.get(app) {
                out.extend(keys.iter().filter_map(|k| store.objects.get(k).cloned()));
            }
        }
        out
    }

    /// Total objects held.
    pub fn len(&self) -> usize {
        self.all_watches().iter().map(|w| w.read().len()).sum()
    }

    /// Whether the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state of every watch.
    pub fn status(&self) -> Vec<WatchStatus> {
        let mut out: Vec<WatchStatus> = self
            .all_watches()
            .iter()
            .map(|w| {
                let store = w.read();
                WatchStatus {
                    group: w.info.resource.group.clone(),
                    version: w.info.resource.version.clone(),
                    kind: w.info.resource.kind.clone(),
                    synced: store.synced,
                    objects: store.len(),
                    last_error: w
                        .last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.group, &a.kind).cmp(&(&b.group, &b.kind)));
        out
    }

    /// Whether every watch has finished its first list.
    pub fn is_synced(&self) -> bool {
        self.all_watches().iter().all(|w| w.read().synced)
    }

    /// Whether the watch of a group and kind has finished its first list.
    pub fn is_kind_synced(&self, group: &str, kind: &str) -> bool {
        self.watch(group, kind).is_some_and(|w| w.read().synced)
    }

    /// Waits until every watch has finished its first list, or fails after `timeout` naming
    /// the watches that have not (with their last error).
    pub async fn wait_synced(&self, timeout: Duration) -> Result<(), ClusterError> {
        self.wait_until(timeout, |c| c.is_synced()).await
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        ready: impl Fn(&Self) -> bool,
    ) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.synced_notify.notified();
            if ready(self) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if ready(self) {
                    return Ok(());
                }
                let pending = self
                    .status()
                    .into_iter()
                    .filter(|s| !s.synced)
                    .map(|s| {
                        format!(
                            "{}/{}{}",
                            s.group,
                            s.kind,
                            s.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                        )
                    })
                    .collect();
                return Err(ClusterError::NotSynced { timeout, pending });
            }
        }
    }

    /// Makes sure a group and kind is watched (refreshing discovery, rate-limited, if it is not
    /// known) and waits up to `timeout` for its first list. Returns `false` when the kind is not
    /// served or is excluded.
    pub async fn ensure_watched(
        &self,
        group: &str,
        kind: &str,
        timeout: Duration,
    ) -> Result<bool, ClusterError> {
        if !self.is_watched(group, kind) {
            if self.is_excluded(group, kind) {
                return Ok(false);
            }
            let Some(info) = self.inner.discovery.resolve_or_refresh(group, kind).await? else {
                return Ok(false);
            };
            if !info.is_watchable() {
                return Ok(false);
            }
            self.inner
                .extra_kinds
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((group.to_owned(), kind.to_owned()));
            sync_watches(&self.inner);
        }
        let (g, k) = (group.to_owned(), kind.to_owned());
        self.wait_until(timeout, move |c| c.is_kind_synced(&g, &k))
            .await?;
        Ok(true)
    }

    /// Refreshes discovery now and starts/stops watches to match (the CRD watch does this by
    /// itself; this is for callers that know better, e.g. after installing an APIService).
    pub async fn refresh(&self) -> Result<(), ClusterError> {
        self.inner.discovery.refresh().await?;
        sync_watches(&self.inner);
        Ok(())
    }
}

fn wanted(inner: &Inner, info: &ResourceInfo) -> bool {
    let s = &inner.settings;
    let gk = (info.group().to_owned(), info.kind().to_owned());
    info.is_watchable()
        && !s.filter.is_excluded(&gk.0, &gk.1, &s.cluster_url)
        && match &s.scope {
            WatchScope::All => true,
            WatchScope::Kinds(kinds) => {
                kinds.contains(&gk)
                    || inner
                        .extra_kinds
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains(&gk)
            }
        }
}

/// Starts watches for wanted kinds that are not watched (or watched at another version) and
/// stops those no longer served.
fn sync_watches(inner: &Arc<Inner>) {
    let api = inner.discovery.current();
    let mut want: HashMap<GroupKind, Arc<ResourceInfo>> = HashMap::new();
    for info in api.all_preferred() {
        if wanted(inner, info) {
            want.insert(
                (info.group().to_owned(), info.kind().to_owned()),
                info.clone(),
            );
        }
    }
    let mut removed = Vec::new();
    {
        let mut watches = inner
            .watches
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        watches.retain(|gk, w| {
            let keep = want
                .get(gk)
                .is_some_and(|i| i.resource.version == w.info.resource.version);
            if !keep {
                removed.push(w.clone());
            }
            keep
        });
        for (gk, info) in want {
            if watches.contains_key(&gk) {
                continue;
            }
            let w = Arc::new(KindWatch {
                info: info.clone(),
                store: RwLock::new(KindStore::default()),
                last_error: Mutex::new(None),
                task: Mutex::new(None),
            });
            let task = tokio::spawn(run_watch(Arc::downgrade(inner), w.clone()));
            *w.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
            tracing::debug!(group = %gk.0, kind = %gk.1, version = %info.resource.version, "watching");
            watches.insert(gk, w);
        }
    }
    for w in removed {
        if let Some(t) = w.task.lock().unwrap_or_else(PoisonError::into_inner).take() {
            t.abort();
        }
        let objects: Vec<_> = w.read().objects.values().cloned().collect();
        for o in objects {
            let _ = inner.events.send(CacheEvent::Deleted(o));
        }
    }
    inner.synced_notify.notify_waiters();
}

async fn run_watch(inner: Weak<Inner>, w: Arc<KindWatch>) {
    let Some((client, settings)) = inner
        .upgrade()
        .map(|i| (i.client.clone(), i.settings.clone()))
    else {
        return;
    };
    let api: Api<DynamicObject> = Api::all_with(client, &w.info.resource);
    let info = w.info.clone();
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let (group, kind) = (info.group().to_owned(), info.kind().to_owned());
    while let Some(event) = stream.next().await {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match event {
            Ok(event) => {
                let event = map_event(event, |o| LiveObject::from_dynamic(o, &info, &settings));
                let out = w
                    .store
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .apply(event, &group, &kind);
                *w.last_error.lock().unwrap_or_else(PoisonError::into_inner) = None;
                let synced = out.iter().any(|e| matches!(e, CacheEvent::Synced { .. }));
                for e in out {
                    let _ = inner.events.send(e);
                }
                if synced {
                    inner.synced_notify.notify_waiters();
                }
            }
            Err(e) => {
                tracing::warn!(%group, %kind, "watch error: {e}");
                *w.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                // 404: the kind is no longer served (e.g. its CRD went away before the CRD watch
                // listed, so no event will tell). Refresh discovery; `sync_watches` then drops
                // this watch if the kind is gone. The watcher's backoff spaces these out.
                let gone = matches!(
                    &e,
                    watcher::Error::InitialListFailed(kube::Error::Api(s))
                        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) if s.code == 404
                );
                if gone {
                    match inner.discovery.refresh().await {
                        Ok(_) => sync_watches(&inner),
                        Err(e) => tracing::warn!("discovery refresh failed: {e}"),
                    }
                }
            }
        }
    }
}

fn map_event<A, B>(event: Event<A>, f: impl FnOnce(A) -> B) -> Event<B> {
    match event {
        Event::Apply(o) => Event::Apply(f(o)),
        Event::Delete(o) => Event::Delete(f(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(f(o)),
        Event::InitDone => Event::InitDone,
    }
}

/// Watches CRDs; on a change, refreshes discovery (debounced) and the set of watches. When an
/// established CRD's kind is not yet in discovery, retries a few times.
async fn watch_crds(inner: Weak<Inner>, client: Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut initial = true;
    while let Some(event) = stream.next().await {
        // Kinds that must appear in (or vanish from) discovery after this event.
        let (appear, vanish): (Vec<GroupKind>, Vec<GroupKind>) = match event {
            Ok(Event::Apply(crd)) => (established_kind(&crd).into_iter().collect(), Vec::new()),
            Ok(Event::Delete(crd)) => (
                Vec::new(),
                vec![(crd.spec.group.clone(), crd.spec.names.kind.clone())],
            ),
            Ok(Event::InitDone) if initial => {
                initial = false;
                continue;
            }
            Ok(Event::InitDone) => (Vec::new(), Vec::new()),
            Ok(Event::Init | Event::InitApply(_)) => continue,
            Err(e) => {
                tracing::warn!("CRD watch error: {e}");
                continue;
            }
        };
        // Let a burst of CRD events settle into one refresh.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        for attempt in 0..20 {
            match strong.discovery.refresh().await {
                Ok(api) => {
                    sync_watches(&strong);
                    let settled = appear.iter().all(|(g, k)| api.preferred(g, k).is_some())
                        && vanish.iter().all(|(g, k)| api.preferred(g, k).is_none());
                    if settled {
                        break;
                    }
                }
                Err(e) => tracing::warn!("discovery refresh failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
        }
    }
}

fn established_kind(crd: &CustomResourceDefinition) -> Option<GroupKind> {
    let established = crd
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    established.then(|| (crd.spec.group.clone(), crd.spec.names.kind.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::discovery::ApiResource;

    fn info() -> Arc<ResourceInfo> {
        Arc::new(ResourceInfo {
            resource: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
            },
            namespaced: true,
            verbs: vec!["list".into(), "watch".into()],
            subresources: Vec::new(),
            preferred: true,
        })
    }

    fn cm(name: &str, rv: &str, app: Option<&str>) -> LiveObject {
        let mut ann = serde_json::Map::new();
        if let Some(app) = app {
            ann.insert(
                tether_model::annotations::TRACKING_ID.into(),
                format!("{app}:/ConfigMap:ns/{name}").into(),
            );
        }
        ann.insert(LAST_APPLIED.into(), "{\"big\": true}".into());
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv,
                         "annotations": ann,
                         "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "data": {"k": "v"}
        }))
        .expect("valid object");
        LiveObject::from_dynamic(obj, &info(), &CacheSettings::default())
    }

    #[test]
    fn cached_objects_are_stripped_and_attributed() {
        let o = cm("a", "1", Some("guestbook"));
        let v = o.value();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "ConfigMap");
        assert!(v["metadata"].get("managedFields").is_some());
        assert!(v["metadata"]["annotations"].get(LAST_APPLIED).is_none());
        assert_eq!(o.app(), Some("guestbook"));
        assert_eq!(o.key(), ResourceKey::new("", "ConfigMap", "ns", "a"));

        let strip = CacheSettings {
            keep_managed_fields: false,
            ..CacheSettings::default()
        };
        let obj: DynamicObject = serde_json::from_str(&cm("a", "1", None).json()).expect("json");
        let stripped = LiveObject::from_dynamic(obj.clone(), &info(), &strip);
        assert!(stripped.value()["metadata"].get("managedFields").is_none());
        let keep = CacheSettings {
            keep_last_applied: true,
            ..CacheSettings::default()
        };
        let mut obj = obj;
        obj.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(LAST_APPLIED.into(), "{}".into());
        let kept = LiveObject::from_dynamic(obj, &info(), &keep);
        assert!(
            kept.value()["metadata"]["annotations"]
                .get(LAST_APPLIED)
                .is_some()
        );
    }

    #[test]
    fn secret_values_never_reach_the_cache() {
        let secret = |data: Value| -> DynamicObject {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "s", "namespace": "ns",
                             "annotations": {LAST_APPLIED: "{\"data\": {\"p\": \"aHVudGVyMg==\"}}"}},
                "data": data
            }))
            .expect("valid")
        };
        let mut sinfo = (*info()).clone();
        sinfo.resource.kind = "Secret".into();
        let sinfo = Arc::new(sinfo);
        let keep = CacheSettings {
            keep_last_applied: true,
            ..CacheSettings::default()
        };
        let a = LiveObject::from_dynamic(
            secret(serde_json::json!({"p": "aHVudGVyMg==", "q": "aHVudGVyMg=="})),
            &sinfo,
            &keep,
        );
        let b =
            LiveObject::from_dynamic(secret(serde_json::json!({"p": "b3RoZXI="})), &sinfo, &keep);
        assert!(!a.json().contains("aHVudGVyMg"), "{}", a.json());
        let (a, b) = (a.value(), b.value());
        assert_eq!(a["data"]["p"], a["data"]["q"]);
        assert_ne!(a["data"]["p"], b["data"]["p"]);
        assert!(
            a["data"]["p"]
                .as_str()
                .is_some_and(|s| s.starts_with(HIDDEN_PREFIX))
        );
        // The desired side hashes the same way.
        let mut desired = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "data": {"p": "aHVudGVyMg=="}});
        hide_secret_values(&mut desired);
        assert_eq!(desired["data"]["p"], a["data"]["p"]);
    }

    #[test]
    fn relist_swaps_the_store_and_reports_vanished_objects() {
        let mut s = KindStore::default();
        fn s_apply(s: &mut KindStore, e: Event<LiveObject>) -> Vec<String> {
            s.apply(e, "", "ConfigMap")
                .into_iter()
                .map(|e| match e {
                    CacheEvent::Applied { object, previous } => format!(
                        "+{}{}",
                        object.name(),
                        previous
                            .filter(|p| p.app() != object.app())
                            .map(|p| format!(" (was {})", p.app().unwrap_or("untracked")))
                            .unwrap_or_default()
                    ),
                    CacheEvent::Deleted(o) => format!("-{}", o.name()),
                    CacheEvent::Synced { .. } => "synced".into(),
                })
                .collect()
        }
        assert!(s_apply(&mut s, Event::Init).is_empty());
        assert!(s_apply(&mut s, Event::InitApply(cm("a", "1", Some("app")))).is_empty());
        assert!(s_apply(&mut s, Event::InitApply(cm("b", "1", Some("app")))).is_empty());
        assert_eq!(s_apply(&mut s, Event::InitDone).len(), 3);
        assert_eq!(s.by_app.get("app").map(HashSet::len), Some(2));
        assert_eq!(
            s_apply(&mut s, Event::Apply(cm("b", "2", Some("other")))),
            ["+b (was app)"]
        );
        assert_eq!(s.by_app.get("app").map(HashSet::len), Some(1));
        // A relist after 410 Gone: `a` vanished, `c` appeared, `b` unchanged.
        s_apply(&mut s, Event::Init);
        s_apply(&mut s, Event::InitApply(cm("b", "2", Some("other"))));
        s_apply(&mut s, Event::InitApply(cm("c", "3", Some("app"))));
        let mut out = s_apply(&mut s, Event::InitDone);
        out.sort();
        assert_eq!(out, ["+c", "-a", "synced"]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.by_app.get("app").map(HashSet::len), Some(1));
        assert_eq!(
            s_apply(&mut s, Event::Delete(cm("c", "4", Some("app")))),
            ["-c"]
        );
        assert!(!s.by_app.contains_key("app"));
    }
}
