//! The manifest cache: rendered manifests keyed by what determines them, so that rendering a known
//! source again does no Git and no render work (the repo-server's `mfst|…` entries in
//! `reposerver/cache`).
//!
//! A [`ManifestKey`] is (normalised repository URL, commit SHA, path, SHA-256 of the source
//! parameters, renderer version). The parameters (Helm values, Kustomize options, plugin env — any
//! `Serialize` value) are hashed after sorting object keys, so only the digest is kept: secrets in
//! parameters never appear in keys, logs or file names.
//!
//! Entries live in memory under a byte bound (the size of their JSON), least recently used first
//! out. With [`ManifestCache::with_disk`] every entry is also written to `<dir>/<sha256(key)>.json`
//! and read back on a memory miss (the disk is not bounded; the file records its key and is ignored
//! when the key differs).
//!
//! [`ManifestCache::carry_forward`] copies the entries of one commit to another, for webhooks that
//! show a push did not touch an app's paths ([`crate::CarryForward`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tether_git::url::normalize_url;
use tether_git::{Checkout, RepoCache, Source};

use crate::matching::clean;

/// Rendered manifests, in output order.
pub type Manifests = Vec<serde_json::Map<String, Value>>;

/// What determines a render. Holds no secret: parameters are kept as a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ManifestKey {
    /// Normalised repository URL (no credentials).
    pub repo: String,
    /// Full commit SHA, lowercase.
    pub commit: String,
    /// Source path in the repository, cleaned (`.` for the root).
    pub path: String,
    /// Hex SHA-256 of the canonical JSON of the source parameters.
    pub params: String,
    /// The renderer and its version, e.g. `tether-kustomize/0.1.0`.
    pub renderer: String,
}

impl ManifestKey {
    /// The key of `params` rendered by `renderer` at `commit` of `repo_url`'s `path`.
    pub fn new(
        repo_url: &str,
        commit: &str,
        path: &str,
        params: &impl Serialize,
        renderer: &str,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            repo: normalize_url(repo_url),
            commit: commit.trim().to_ascii_lowercase(),
            path: clean(path.trim_matches('/')),
            params: params_digest(params)?,
            renderer: renderer.to_owned(),
        })
    }

    /// The file name of this key on disk: hex SHA-256 of all fields.
    fn file_name(&self) -> String {
        let mut h = Sha256::new();
        for f in [
            &self.repo,
            &self.commit,
            &self.path,
            &self.params,
            &self.renderer,
        ] {
            h.update(f.as_bytes());
            h.update([0]);
        }
        format!("{}.json", hex::encode(h.finalize()))
    }
}

/// Hex SHA-256 of `params` serialised as JSON with object keys sorted.
pub fn params_digest(params: &impl Serialize) -> Result<String, serde_json::Error> {
    let value = sort_keys(serde_json::to_value(params)?);
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(&value)?)))
}

fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<String, Value> =
                m.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        v => v,
    }
}

/// Counters for tests and metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub disk_hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
}

struct Entry {
    value: Arc<Manifests>,
    size: usize,
    tick: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<ManifestKey, Entry>,
    order: BTreeMap<u64, ManifestKey>,
    bytes: usize,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, key: &ManifestKey) -> Option<Arc<Manifests>> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.entries.get_mut(key)?;
        self.order.remove(&e.tick);
        e.tick = tick;
        self.order.insert(tick, key.clone());
        Some(e.value.clone())
    }

    fn remove(&mut self, key: &ManifestKey) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.tick);
            self.bytes -= e.size;
        }
    }
}

/// Rendered manifests by [`ManifestKey`]: LRU in memory under a byte bound, optionally on disk.
/// Cheap to share (`Arc`); every method is thread-safe.
pub struct ManifestCache {
    lru: Mutex<Lru>,
    /// One lock per key being rendered, so that concurrent misses of a key render once.
    rendering: Mutex<HashMap<ManifestKey, Arc<Mutex<()>>>>,
    max_bytes: usize,
    disk: Option<PathBuf>,
    stats: CacheStats,
}

/// The default memory bound: 256 MiB of manifests (as JSON).
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;

impl ManifestCache {
    /// An in-memory cache holding at most `max_bytes` of manifests (as JSON).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            lru: Mutex::new(Lru::default()),
            rendering: Mutex::new(HashMap::new()),
            max_bytes,
            disk: None,
            stats: CacheStats::default(),
        }
    }

    /// The same cache, also persisted under `dir` (created if missing).
    pub fn with_disk(mut self, dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        self.disk = Some(dir);
        Ok(self)
    }

    /// Hit and miss counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Bytes held in memory and the number of entries.
    pub fn usage(&self) -> (usize, usize) {
        let lru = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        (lru.bytes, lru.entries.len())
    }

    /// The manifests for `key`, from memory or disk.
    pub fn get(&self, key: &ManifestKey) -> Option<Arc<Manifests>> {
        let found = self
            .lru
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .touch(key);
        if let Some(v) = found {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Some(v);
        }
        if let Some(v) = self.read_disk(key) {
            self.stats.disk_hits.fetch_add(1, Ordering::Relaxed);
            let v = Arc::new(v);
            self.insert_memory(key.clone(), v.clone());
            return Some(v);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Stores manifests under `key` (memory, and disk when enabled) and returns them shared.
    pub fn insert(&self, key: ManifestKey, manifests: Manifests) -> Arc<Manifests> {
        let value = Arc::new(manifests);
        self.write_disk(&key, &value);
        self.insert_memory(key, value.clone());
        value
    }

    /// The manifests for `key`, rendering and storing them on a miss. Concurrent misses of one key
    /// render once (the others wait and share the result). Errors are not cached.
    pub fn get_or_render<E>(
        &self,
        key: &ManifestKey,
        render: impl FnOnce() -> Result<Manifests, E>,
    ) -> Result<Arc<Manifests>, E> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let slot = self
            .rendering
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let result = {
            let _guard = slot.lock().unwrap_or_else(|p| p.into_inner());
            match self.peek(key) {
                Some(v) => Ok(v),
                None => render().map(|m| self.insert(key.clone(), m)),
            }
        };
        let mut rendering = self.rendering.lock().unwrap_or_else(|p| p.into_inner());
        // The last one out removes the lock (the map holds one reference, `slot` another).
        if Arc::strong_count(&slot) == 2 {
            rendering.remove(key);
        }
        result
    }

    /// Memory or disk, without counting a miss.
    fn peek(&self, key: &ManifestKey) -> Option<Arc<Manifests>> {
        if let Some(v) = self
            .lru
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .touch(key)
        {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Some(v);
        }
        let v = Arc::new(self.read_disk(key)?);
        self.stats.disk_hits.fetch_add(1, Ordering::Relaxed);
        self.insert_memory(key.clone(), v.clone());
        Some(v)
    }

    /// Copies every entry of `repo_url`'s `path` at commit `before` to commit `after` (a push that
    /// did not touch the app's paths). Returns how many entries were copied.
    pub fn carry_forward(&self, repo_url: &str, path: &str, before: &str, after: &str) -> usize {
        let repo = normalize_url(repo_url);
        let path = clean(path.trim_matches('/'));
        let before = before.trim().to_ascii_lowercase();
        let after = after.trim().to_ascii_lowercase();
        let copies: Vec<(ManifestKey, Arc<Manifests>)> = {
            let lru = self.lru.lock().unwrap_or_else(|p| p.into_inner());
            lru.entries
                .iter()
                .filter(|(k, _)| k.repo == repo && k.path == path && k.commit == before)
                .map(|(k, e)| {
                    (
                        ManifestKey {
                            commit: after.clone(),
                            ..k.clone()
                        },
                        e.value.clone(),
                    )
                })
                .collect()
        };
        for (k, v) in &copies {
            self.write_disk(k, v);
            self.insert_memory(k.clone(), v.clone());
        }
        copies.len()
    }

    fn insert_memory(&self, key: ManifestKey, value: Arc<Manifests>) {
        let size = serde_json::to_vec(&*value).map_or(0, |v| v.len()) + 256;
        let mut lru = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        lru.remove(&key);
        if size > self.max_bytes {
            return;
        }
        while lru.bytes + size > self.max_bytes {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some(e) = lru.entries.remove(&oldest) {
                lru.bytes -= e.size;
                self.stats.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.order.insert(tick, key.clone());
        lru.bytes += size;
        lru.entries.insert(key, Entry { value, size, tick });
    }

    fn disk_path(&self, key: &ManifestKey) -> Option<PathBuf> {
        self.disk.as_ref().map(|d| d.join(key.file_name()))
    }

    fn read_disk(&self, key: &ManifestKey) -> Option<Manifests> {
        let bytes = std::fs::read(self.disk_path(key)?).ok()?;
        let file: DiskEntry = serde_json::from_slice(&bytes).ok()?;
        (file.key == *key).then_some(file.manifests)
    }

    fn write_disk(&self, key: &ManifestKey, value: &Manifests) {
        let Some(path) = self.disk_path(key) else {
            return;
        };
        let entry = DiskEntryRef {
            key,
            manifests: value,
        };
        let result = serde_json::to_vec(&entry)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(&path, &bytes));
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), "manifest cache: could not write: {e}");
        }
    }
}

#[derive(Deserialize)]
struct DiskEntry {
    key: ManifestKey,
    manifests: Manifests,
}

#[derive(Serialize)]
struct DiskEntryRef<'a> {
    key: &'a ManifestKey,
    manifests: &'a Manifests,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Why [`render_at_commit`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError<E> {
    /// The parameters could not be hashed.
    #[error("hashing the source parameters: {0}")]
    Params(serde_json::Error),
    /// Checking out the commit or confining the path failed.
    #[error(transparent)]
    Git(#[from] tether_git::Error),
    /// The renderer failed.
    #[error(transparent)]
    Render(E),
}

/// Renders `path` of `source` at `commit` through the manifest cache: on a hit nothing touches Git
/// or the renderer; on a miss the commit is checked out (fetching if needed), `path` is resolved
/// inside the checkout (escapes are refused) and `render` is called with the checkout and the
/// resolved directory.
#[allow(
    clippy::too_many_arguments,
    reason = "the cache key's parts, spelled out"
)]
pub fn render_at_commit<P: Serialize, E>(
    manifests: &ManifestCache,
    repos: &RepoCache,
    source: &Source,
    commit: &str,
    path: &str,
    params: &P,
    renderer: &str,
    render: impl FnOnce(&Checkout, &Path) -> Result<Manifests, E>,
) -> Result<Arc<Manifests>, RenderError<E>> {
    let key = ManifestKey::new(source.url(), commit, path, params, renderer)
        .map_err(RenderError::Params)?;
    if let Some(hit) = manifests.get(&key) {
        return Ok(hit);
    }
    let checkout = repos.checkout(source, commit)?;
    let dir = checkout.resolve(path)?;
    let out = render(&checkout, &dir).map_err(RenderError::Render)?;
    Ok(manifests.insert(key, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objs(name: &str) -> Manifests {
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
                .as_object()
                .cloned()
                .expect("object"),
        ]
    }

    fn key(commit: char, params: &Value) -> ManifestKey {
        ManifestKey::new(
            "https://GitHub.com/org/repo.git",
            &commit.to_string().repeat(40),
            "apps/./x/",
            params,
            "test/1",
        )
        .expect("key")
    }

    #[test]
    fn keys_normalise_and_hide_parameters() {
        let k = key('a', &json!({"values": "password: hunter2", "b": 1}));
        assert_eq!(k.repo, "https://github.com/org/repo");
        assert_eq!(k.path, "apps/x");
        assert_eq!(k.params.len(), 64);
        assert!(!format!("{k:?}").contains("hunter2"));
        assert!(!k.file_name().contains("hunter2"));
        // Key order does not matter; values do.
        assert_eq!(k, key('a', &json!({"b": 1, "values": "password: hunter2"})));
        assert_ne!(k, key('a', &json!({"b": 2, "values": "password: hunter2"})));
        assert_ne!(k, key('b', &json!({"b": 1, "values": "password: hunter2"})));
        let root = ManifestKey::new("u", "c", "", &(), "r").expect("key");
        assert_eq!(root.path, ".");
        assert_eq!(
            ManifestKey::new("u", "c", "/", &(), "r").expect("key").path,
            "."
        );
    }

    #[test]
    fn a_known_key_does_not_render_again() {
        let cache = ManifestCache::new(DEFAULT_MAX_BYTES);
        let mut renders = 0;
        let k = key('a', &json!({}));
        for _ in 0..3 {
            let v = cache
                .get_or_render(&k, || {
                    renders += 1;
                    Ok::<_, ()>(objs("one"))
                })
                .expect("render");
            assert_eq!(v[0]["metadata"]["name"], "one");
        }
        assert_eq!(renders, 1);
        // Another parameter set or renderer version renders again.
        let k2 = ManifestKey {
            renderer: "test/2".into(),
            ..k.clone()
        };
        cache
            .get_or_render(&k2, || {
                renders += 1;
                Ok::<_, ()>(objs("two"))
            })
            .expect("render");
        assert_eq!(renders, 2);
        // Errors are not cached.
        let k3 = key('c', &json!({}));
        assert!(
            cache
                .get_or_render(&k3, || Err::<Manifests, _>("boom"))
                .is_err()
        );
        cache
            .get_or_render(&k3, || {
                renders += 1;
                Ok::<_, ()>(objs("three"))
            })
            .expect("render");
        assert_eq!(renders, 3);
        assert_eq!(cache.stats().hits.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn concurrent_misses_render_once() {
        let cache = Arc::new(ManifestCache::new(DEFAULT_MAX_BYTES));
        let renders = Arc::new(AtomicU64::new(0));
        let k = key('a', &json!({}));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, renders, k, barrier) =
                    (cache.clone(), renders.clone(), k.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cache
                        .get_or_render(&k, || {
                            renders.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            Ok::<_, ()>(objs("once"))
                        })
                        .expect("render")
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().expect("thread")[0]["metadata"]["name"], "once");
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(
            cache.rendering.lock().expect("lock").is_empty(),
            "render locks are released"
        );
    }

    #[test]
    fn least_recently_used_entries_go_first() {
        let one = serde_json::to_vec(&objs("n")).expect("json").len() + 256;
        let cache = ManifestCache::new(one * 3);
        let keys: Vec<ManifestKey> = ['a', 'b', 'c', 'd']
            .iter()
            .map(|c| key(*c, &json!({})))
            .collect();
        for k in &keys[..3] {
            cache.insert(k.clone(), objs("n"));
        }
        assert!(cache.get(&keys[0]).is_some(), "touch a: b is now oldest");
        cache.insert(keys[3].clone(), objs("n"));
        assert!(cache.get(&keys[1]).is_none(), "b evicted");
        for k in [&keys[0], &keys[2], &keys[3]] {
            assert!(cache.get(k).is_some());
        }
        assert_eq!(cache.usage(), (one * 3, 3));
        assert_eq!(cache.stats().evictions.load(Ordering::Relaxed), 1);
        // An entry larger than the whole bound is returned but not kept.
        let tiny = ManifestCache::new(10);
        let v = tiny.insert(keys[0].clone(), objs("n"));
        assert_eq!(v.len(), 1);
        assert!(tiny.get(&keys[0]).is_none());
        assert_eq!(tiny.usage(), (0, 0));
    }

    #[test]
    fn disk_entries_survive_a_new_cache() {
        let dir = tempfile::tempdir().expect("tmp");
        let k = key('a', &json!({"token": "s3cret"}));
        {
            let cache = ManifestCache::new(DEFAULT_MAX_BYTES)
                .with_disk(dir.path())
                .expect("disk");
            cache.insert(k.clone(), objs("persisted"));
        }
        let cache = ManifestCache::new(DEFAULT_MAX_BYTES)
            .with_disk(dir.path())
            .expect("disk");
        let v = cache
            .get_or_render(&k, || Err::<Manifests, _>("must not render"))
            .expect("from disk");
        assert_eq!(v[0]["metadata"]["name"], "persisted");
        assert_eq!(cache.stats().disk_hits.load(Ordering::Relaxed), 1);
        for f in std::fs::read_dir(dir.path()).expect("dir").flatten() {
            let text = std::fs::read_to_string(f.path()).expect("read");
            assert!(!text.contains("s3cret"), "parameters are stored hashed");
        }
        // A file whose recorded key differs (a collision, a tampered file) is ignored.
        let other = key('b', &json!({}));
        std::fs::copy(
            dir.path().join(k.file_name()),
            dir.path().join(other.file_name()),
        )
        .expect("copy");
        assert!(cache.get(&other).is_none());
    }

    #[test]
    fn carry_forward_copies_one_paths_entries() {
        let cache = ManifestCache::new(DEFAULT_MAX_BYTES);
        let before = key('a', &json!({}));
        cache.insert(before.clone(), objs("kept"));
        let elsewhere = ManifestKey {
            path: "other".into(),
            ..before.clone()
        };
        cache.insert(elsewhere, objs("other"));
        let b = "a".repeat(40);
        let a = "b".repeat(40);
        assert_eq!(
            cache.carry_forward("https://github.com/org/repo", "apps/x", &b, &a),
            1
        );
        let after = key('b', &json!({}));
        assert_eq!(
            cache.get(&after).expect("carried")[0]["metadata"]["name"],
            "kept"
        );
        let other_after = ManifestKey {
            path: "other".into(),
            ..after
        };
        assert!(cache.get(&other_after).is_none());
    }
}
