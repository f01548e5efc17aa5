//! The repository cache: one bare repository per normalised URL, fetched with gitoxide over
//! http(s) and `file://`, with one fetch in flight per repository shared by every caller waiting on
//! it.
//!
//! Layout under the cache root (names are SHA-256 hashes of the normalised URL, so they never carry
//! credentials and every spelling of a URL shares one entry):
//!
//! ```text
//! repos/<key>/             bare repository (refs/heads/*, refs/tags/* mirrored)
//! checkouts/<key>/<sha>/   read-only tree of one commit
//! ```
//!
//! A fetch first lists the remote's refs (one round trip, protocol v2 `ls-refs`) and downloads a pack
//! only when some branch or tag points at an object the cache lacks, so a warm fetch of an unchanged
//! repository transfers no pack. Revisions are resolved against that listing (not against local
//! refs), exactly as Argo CD resolves against `ls-remote`, so deleted tags and force-pushed branches
//! are seen at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::checkout::Checkout;
use crate::creds::SecretString;
use crate::error::{Error, redact, redact_str};
use crate::revision::{self, RemoteRef, Resolved};
use crate::url::{cache_key, redact_url};

/// Credentials for one repository: a user name and a password or token (Argo CD's
/// `username`/`password`), an SSH private key, a TLS client certificate, the insecure flag, a proxy
/// and the SSH known hosts. Its `Debug` output hides every secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    password: String,
    ssh_private_key: Option<SecretString>,
    tls_client_cert: Option<(String, SecretString)>,
    insecure: bool,
    proxy: Option<(SecretString, String)>,
    known_hosts: Option<Arc<str>>,
    tls_certs: Option<Arc<str>>,
}

impl Credentials {
    /// User name and password (or an access token used as the password).
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            ssh_private_key: None,
            tls_client_cert: None,
            insecure: false,
            proxy: None,
            known_hosts: None,
            tls_certs: None,
        }
    }

    /// No user name or password (for SSH keys, client certificates or flags alone).
    pub fn none() -> Self {
        Self::basic("", "")
    }

    /// The password or token.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// With an SSH private key (PEM/OpenSSH format), used for `ssh://` and `user@host:path` URLs.
    pub fn with_ssh_private_key(mut self, key: impl Into<SecretString>) -> Self {
        self.ssh_private_key = Some(key.into());
        self
    }

    /// With a TLS client certificate (PEM chain, leaf first) and its PEM private key, for https.
    pub fn with_tls_client_cert(
        mut self,
        cert: impl Into<String>,
        key: impl Into<SecretString>,
    ) -> Self {
        self.tls_client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Skip TLS certificate verification (https) and host key checking (ssh), as Argo CD's
    /// `insecure`.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Whether TLS verification and host key checking are off.
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// With an HTTP(S) proxy URL and the hosts (comma-separated) that bypass it.
    pub fn with_proxy(
        mut self,
        proxy: impl Into<SecretString>,
        no_proxy: impl Into<String>,
    ) -> Self {
        self.proxy = Some((proxy.into(), no_proxy.into()));
        self
    }

    /// With SSH known hosts (`known_hosts` format) to check host keys against; without, ssh's own
    /// files (`~/.ssh/known_hosts`, `/etc/ssh/ssh_known_hosts`) are used.
    pub fn with_known_hosts(mut self, known_hosts: impl Into<Arc<str>>) -> Self {
        self.known_hosts = Some(known_hosts.into());
        self
    }

    /// With the certificates (PEM, one or more) that https servers of this repository must chain
    /// to, instead of the system's root certificates: Argo CD's `argocd-tls-certs-cm` entry for
    /// the repository's host.
    pub fn with_tls_certs(mut self, pem: impl Into<Arc<str>>) -> Self {
        self.tls_certs = Some(pem.into());
        self
    }

    /// The trusted certificates set with [`Credentials::with_tls_certs`].
    pub fn tls_certs(&self) -> Option<&Arc<str>> {
        self.tls_certs.as_ref()
    }

    pub(crate) fn ssh_private_key(&self) -> Option<&SecretString> {
        self.ssh_private_key.as_ref()
    }

    pub(crate) fn tls_client_cert(&self) -> Option<&(String, SecretString)> {
        self.tls_client_cert.as_ref()
    }

    pub(crate) fn proxy(&self) -> Option<&(SecretString, String)> {
        self.proxy.as_ref()
    }

    pub(crate) fn known_hosts(&self) -> Option<&Arc<str>> {
        self.known_hosts.as_ref()
    }

    /// Every secret value, for redaction. A user name alone may be a token
    /// (`https://TOKEN@host`): then it is a secret too.
    fn secrets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if self.password.is_empty() {
            if self.ssh_private_key.is_none() {
                out.push(self.username.as_str());
            }
        } else {
            out.push(self.password.as_str());
        }
        if let Some(k) = &self.ssh_private_key {
            out.push(k.expose());
        }
        if let Some((_, k)) = &self.tls_client_cert {
            out.push(k.expose());
        }
        if let Some((p, _)) = &self.proxy {
            out.push(p.expose());
        }
        out.retain(|s| !s.is_empty());
        out
    }

    fn fingerprint(&self, h: &mut sha2::Sha256) {
        use sha2::Digest;
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(self.username.as_bytes());
        field(self.password.as_bytes());
        field(
            self.ssh_private_key
                .as_ref()
                .map(|k| k.expose())
                .unwrap_or_default()
                .as_bytes(),
        );
        let (cert, key) = self
            .tls_client_cert
            .as_ref()
            .map(|(c, k)| (c.as_str(), k.expose()))
            .unwrap_or_default();
        field(cert.as_bytes());
        field(key.as_bytes());
        field(&[u8::from(self.insecure)]);
        let (proxy, no_proxy) = self
            .proxy
            .as_ref()
            .map(|(p, n)| (p.expose(), n.as_str()))
            .unwrap_or_default();
        field(proxy.as_bytes());
        field(no_proxy.as_bytes());
        field(self.known_hosts.as_deref().unwrap_or_default().as_bytes());
        field(self.tls_certs.as_deref().unwrap_or_default().as_bytes());
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .field(
                "ssh_private_key",
                &self.ssh_private_key.as_ref().map(|_| "***"),
            )
            .field(
                "tls_client_cert",
                &self.tls_client_cert.as_ref().map(|_| "***"),
            )
            .field("insecure", &self.insecure)
            .field("proxy", &self.proxy.as_ref().map(|_| "***"))
            .field("known_hosts", &self.known_hosts.is_some())
            .field("tls_certs", &self.tls_certs.is_some())
            .finish()
    }
}

/// A repository to read: its URL and optional credentials. Credentials embedded in the URL
/// (`https://user:pw@host/repo`) are moved out of it, so the URL can be shown.
#[derive(Debug, Clone)]
pub struct Source {
    url: String,
    credentials: Option<Credentials>,
    shallow: bool,
    submodules: bool,
}

/// What a connection fetches.
#[derive(Clone, Copy)]
enum Want {
    /// Only the ref listing.
    Nothing,
    /// Every branch and tag whose tip the cache lacks.
    Refs,
    /// One object by id (a commit no ref points at, or one not fetched yet).
    Object(gix::ObjectId),
}

impl Source {
    /// A repository by URL (`https://…`, `http://…`, `file://…` or a local path).
    pub fn new(url: &str) -> Self {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Self {
                url: redact_url(url),
                credentials: embedded_credentials(url),
                shallow: false,
                submodules: false,
            }
        } else {
            // For ssh the user name (`git@host`) is part of the address, not a secret; a password
            // is dropped (ssh never takes one from the URL).
            Self {
                url: crate::url::strip_password(url),
                credentials: None,
                shallow: false,
                submodules: false,
            }
        }
    }

    /// The credentials, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Fetch shallowly (`--depth 1`): only the tip commits of branches and tags, and a commit
    /// asked for by SHA without its history. A cache entry first fetched shallowly is deepened to
    /// the full history by the next non-shallow fetch. Short SHAs of older commits do not resolve
    /// in a shallow cache.
    pub fn shallow(mut self, shallow: bool) -> Self {
        self.shallow = shallow;
        self
    }

    /// Check out submodules too (recursively, as `git submodule update --init --recursive`):
    /// each is fetched into the cache as a repository of its own (relative URLs resolved against
    /// this one, with this source's credentials and shallowness) and its commit's tree written
    /// into the checkout. Such checkouts live apart from the ones without submodules.
    pub fn with_submodules(mut self, submodules: bool) -> Self {
        self.submodules = submodules;
        self
    }

    /// Whether checkouts include submodules.
    pub fn has_submodules(&self) -> bool {
        self.submodules
    }

    /// Whether fetches are shallow.
    pub fn is_shallow(&self) -> bool {
        self.shallow
    }

    /// The same repository with these credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update([u8::from(self.shallow)]);
        if let Some(c) = &self.credentials {
            h.update(b"1");
            c.fingerprint(&mut h);
        }
        h.finalize().into()
    }

    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.credentials
            .iter()
            .flat_map(Credentials::secrets)
            .collect()
    }
}

fn embedded_credentials(url: &str) -> Option<Credentials> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    // `https://TOKEN@host/…` carries a token as the user name.
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    Some(Credentials::basic(user, password))
}

/// The refs of a remote at one moment, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRefs {
    pub refs: Vec<RemoteRef>,
}

impl RemoteRefs {
    /// Resolves a revision against these refs (see [`crate::revision`]); short SHAs stay unresolved.
    pub fn resolve(&self, revision: &str) -> Option<Resolved> {
        revision::resolve(revision, &self.refs)
    }
}

/// The outcome of the last fetch of one repository.
struct FetchState {
    last: Option<Result<Arc<RemoteRefs>, Error>>,
    /// Who fetched: an outcome is shared only among callers presenting the same credentials, so a
    /// caller without access never receives a fetch made with someone else's.
    fingerprint: [u8; 32],
}

struct Entry {
    key: String,
    repo_dir: PathBuf,
    checkout_dir: PathBuf,
    /// Completed fetches; read before waiting on `fetch` to tell whether one finished meanwhile.
    generation: AtomicU64,
    fetch: Mutex<FetchState>,
    checkout: Mutex<()>,
    repo: Mutex<Option<gix::ThreadSafeRepository>>,
    /// Held (shared) by every operation on the repository; eviction needs it exclusively and only
    /// ever tries, so an entry in use is never evicted.
    usage: RwLock<()>,
    /// The cache's clock at the last use (0: not used by this process).
    last_used: AtomicU64,
}

/// What [`RepoCache::evict`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eviction {
    /// Bytes under the cache root before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Bare repositories and checkouts removed.
    pub repos: usize,
    pub checkouts: usize,
    /// Least recently used items kept because they were in use.
    pub skipped_in_use: usize,
}

/// Counters for tests and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Remote ref listings (connections) made.
    pub listings: AtomicU64,
    /// Packs downloaded.
    pub packs: AtomicU64,
}

/// A cache of bare repositories and checkouts under one directory. Cheap to share (`Arc`) across
/// threads; every method blocks.
pub struct RepoCache {
    root: PathBuf,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    stats: Stats,
    /// Disk budget in bytes; `None`: unbounded.
    budget: Option<u64>,
    /// Logical clock for least-recently-used ordering.
    clock: AtomicU64,
    /// Checkout directories handed out: a lease per directory (held by every [`Checkout`] of it)
    /// and the clock at its last use.
    leases: Mutex<HashMap<PathBuf, (Arc<()>, u64)>>,
    /// Serialises evictions.
    evicting: Mutex<()>,
}

impl RepoCache {
    /// A cache rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        for sub in ["repos", "checkouts"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| Error::Cache {
                repo: String::new(),
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        }
        Ok(Self {
            root,
            entries: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            budget: None,
            clock: AtomicU64::new(0),
            leases: Mutex::new(HashMap::new()),
            evicting: Mutex::new(()),
        })
    }

    /// Bounds the cache's disk use: after each download and each new checkout, the least recently
    /// used bare repositories and checkouts are removed until the cache fits in `bytes`. A
    /// repository being fetched, resolved or checked out, and a checkout some [`Checkout`] still
    /// refers to, are never removed. Items left by an earlier process count as least recently
    /// used, oldest modification time first.
    pub fn with_disk_budget(mut self, bytes: u64) -> Self {
        self.budget = Some(bytes);
        self
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Marks an entry used; the guard keeps it from eviction.
    fn use_entry<'a>(&self, entry: &'a Entry) -> std::sync::RwLockReadGuard<'a, ()> {
        entry.last_used.store(self.tick(), Ordering::Relaxed);
        entry.usage.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A lease on a checkout directory, taken before looking at the directory so that eviction
    /// cannot remove it in between.
    fn lease(&self, dir: &Path) -> Arc<()> {
        let tick = self.tick();
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let slot = leases
            .entry(dir.to_path_buf())
            .or_insert_with(|| (Arc::new(()), 0));
        slot.1 = tick;
        slot.0.clone()
    }

    fn enforce_budget(&self) {
        if let Some(budget) = self.budget {
            let report = self.evict(budget);
            if report.repos + report.checkouts > 0 {
                tracing::debug!(?report, "evicted least recently used cache entries");
            }
        }
    }

    /// Removes least recently used bare repositories and checkouts until the cache holds at most
    /// `budget` bytes (or nothing more can be removed: what is in use stays).
    pub fn evict(&self, budget: u64) -> Eviction {
        let _one = self.evicting.lock().unwrap_or_else(|p| p.into_inner());
        enum Item {
            Repo(String),
            Checkout(PathBuf),
        }
        // (order, size, item): items this process used order after all others, by last use;
        // the others by modification time.
        let mut items: Vec<(u128, u64, Item)> = Vec::new();
        let order = |tick: u64, path: &Path| -> u128 {
            if tick > 0 {
                (1u128 << 64) + u128::from(tick)
            } else {
                std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() % (1u128 << 64))
            }
        };
        let known: HashMap<String, u64> = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, e)| (k.clone(), e.last_used.load(Ordering::Relaxed)))
            .collect();
        for dir in read_dirs(&self.root.join("repos")) {
            let key = file_name(&dir);
            let tick = known.get(&key).copied().unwrap_or(0);
            items.push((order(tick, &dir), disk_usage(&dir), Item::Repo(key)));
        }
        let leased: HashMap<PathBuf, u64> = self
            .leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(p, (_, t))| (p.clone(), *t))
            .collect();
        for repo_dir in read_dirs(&self.root.join("checkouts")) {
            for dir in read_dirs(&repo_dir) {
                if file_name(&dir).starts_with(".tmp-") {
                    continue;
                }
                let tick = leased.get(&dir).copied().unwrap_or(0);
                items.push((order(tick, &dir), disk_usage(&dir), Item::Checkout(dir)));
            }
        }
        let before: u64 = items.iter().map(|i| i.1).sum();
        let mut report = Eviction {
            bytes_before: before,
            bytes_after: before,
            ..Eviction::default()
        };
        items.sort_by_key(|i| i.0);
        for (_, size, item) in items {
            if report.bytes_after <= budget {
                break;
            }
            let removed = match item {
                Item::Checkout(dir) => {
                    let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
                    if leases
                        .get(&dir)
                        .is_some_and(|(l, _)| Arc::strong_count(l) > 1)
                    {
                        false
                    } else {
                        leases.remove(&dir);
                        crate::write::remove_tree(&dir);
                        report.checkouts += 1;
                        true
                    }
                }
                Item::Repo(key) => {
                    let entry = self.entry_by_key(&key);
                    let removed = match (
                        entry.usage.try_write(),
                        entry.fetch.try_lock(),
                        entry.checkout.try_lock(),
                    ) {
                        (Ok(_use), Ok(mut state), Ok(_checkout)) => {
                            *entry.repo.lock().unwrap_or_else(|p| p.into_inner()) = None;
                            state.last = None;
                            let _ = std::fs::remove_dir_all(&entry.repo_dir);
                            true
                        }
                        _ => false,
                    };
                    if removed {
                        report.repos += 1;
                    }
                    removed
                }
            };
            if removed {
                report.bytes_after -= size;
            } else {
                report.skipped_in_use += 1;
            }
        }
        report
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Network counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn entry(&self, source: &Source) -> Arc<Entry> {
        self.entry_by_key(&cache_key(source.url()))
    }

    fn entry_by_key(&self, key: &str) -> Arc<Entry> {
        let key = key.to_owned();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Entry {
                    repo_dir: self.root.join("repos").join(&key),
                    checkout_dir: self.root.join("checkouts").join(&key),
                    key,
                    generation: AtomicU64::new(0),
                    fetch: Mutex::new(FetchState {
                        last: None,
                        fingerprint: [0; 32],
                    }),
                    checkout: Mutex::new(()),
                    repo: Mutex::new(None),
                    usage: RwLock::new(()),
                    last_used: AtomicU64::new(0),
                })
            })
            .clone()
    }

    fn open(&self, entry: &Entry, source: &Source) -> Result<gix::Repository, Error> {
        let mut slot = entry.repo.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(repo) = slot.as_ref() {
            return Ok(repo.to_thread_local());
        }
        let cache_err = |e: &(dyn std::error::Error + 'static)| Error::Cache {
            repo: source.url().to_owned(),
            path: entry.repo_dir.display().to_string(),
            message: redact(e, &source.secrets()),
        };
        // Room for the packs that later fetches add before the handle is re-opened.
        let options = || {
            gix::open::Options::isolated().object_store_slots(
                gix::odb::store::init::Slots::AsNeededByDiskState {
                    multiplier: 2.0,
                    minimum: 64,
                },
            )
        };
        let repo = if entry.repo_dir.join("HEAD").is_file() {
            gix::open_opts(&entry.repo_dir, options()).map_err(|e| cache_err(&e))?
        } else {
            std::fs::create_dir_all(&entry.repo_dir).map_err(|e| cache_err(&e))?;
            gix::init_bare(&entry.repo_dir).map_err(|e| cache_err(&e))?;
            gix::open_opts(&entry.repo_dir, options()).map_err(|e| cache_err(&e))?
        };
        let shared = repo.into_sync();
        let local = shared.to_thread_local();
        *slot = Some(shared);
        Ok(local)
    }

    /// Lists the remote's refs without fetching anything (`git ls-remote`).
    pub fn ls_refs(&self, source: &Source) -> Result<RemoteRefs, Error> {
        let entry = self.entry(source);
        let _use = self.use_entry(&entry);
        if let Some(refs) = self.list_in_one_request(source) {
            return Ok(refs);
        }
        let repo = self.open(&entry, source)?;
        self.connect(&repo, source, Want::Nothing)
            .map(|(refs, _)| refs)
            .map_err(|message| Error::ListRefs {
                repo: source.url().to_owned(),
                message,
            })
    }

    /// Brings the cache up to date with the remote and returns the remote's refs. Callers arriving
    /// while a fetch of the same repository is in flight wait for it and share its outcome.
    pub fn fetch(&self, source: &Source) -> Result<Arc<RemoteRefs>, Error> {
        let entry = self.entry(source);
        let downloaded = {
            let _use = self.use_entry(&entry);
            self.fetch_shared(&entry, source)
        };
        if downloaded.as_ref().is_ok_and(|(_, d)| *d) {
            self.enforce_budget();
        }
        downloaded.map(|(refs, _)| refs)
    }

    /// [`RepoCache::fetch`] under the entry's use guard; also says whether a pack was downloaded.
    fn fetch_shared(
        &self,
        entry: &Entry,
        source: &Source,
    ) -> Result<(Arc<RemoteRefs>, bool), Error> {
        let seen = entry.generation.load(Ordering::Acquire);
        let mut state = entry.fetch.lock().unwrap_or_else(|p| p.into_inner());
        let fingerprint = source.fingerprint();
        if entry.generation.load(Ordering::Acquire) != seen
            && state.fingerprint == fingerprint
            && let Some(last) = &state.last
        {
            return last.clone().map(|refs| (refs, false));
        }
        let result = self.fetch_now(entry, source);
        if result.as_ref().is_ok_and(|(_, downloaded)| *downloaded) {
            // Every fetch adds a pack. gix sizes an object store's index slots from the packs
            // on disk when the repository is opened, so a handle kept across many fetches runs
            // out of slots ("too few index slots"); the next use re-opens it at today's size.
            *entry.repo.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        state.last = Some(result.clone().map(|(refs, _)| refs));
        state.fingerprint = fingerprint;
        entry.generation.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// An http(s) remote's refs listed in one request ([`crate::smart_http`]); `None` when that
    /// is not possible (another scheme, a server without protocol v2, any error), and gitoxide
    /// lists them instead.
    fn list_in_one_request(&self, source: &Source) -> Option<RemoteRefs> {
        if !crate::smart_http::applies(source.url()) {
            return None;
        }
        match crate::smart_http::ls_refs(source) {
            Ok(refs) => {
                self.stats.listings.fetch_add(1, Ordering::Relaxed);
                Some(convert_refs(&refs))
            }
            Err(crate::smart_http::Miss(why)) => {
                tracing::debug!(
                    repo = source.url(),
                    why,
                    "one-request listing not possible, listing with gitoxide"
                );
                None
            }
        }
    }

    fn fetch_now(&self, entry: &Entry, source: &Source) -> Result<(Arc<RemoteRefs>, bool), Error> {
        let repo = self.open(entry, source)?;
        // A warm fetch of an unchanged http(s) repository: one request, no gitoxide connection.
        // (An empty cache is filled by gitoxide straight away.)
        let empty = repo
            .references()
            .ok()
            .and_then(|r| r.all().ok().map(|mut i| i.next().is_none()))
            .unwrap_or(true);
        if !empty
            && let Some(refs) = self.list_in_one_request(source)
            && !lacks_objects(&repo, &refs)
            && (source.shallow || !repo.is_shallow().unwrap_or(false))
        {
            return Ok((Arc::new(refs), false));
        }
        tracing::debug!(repo = source.url(), key = entry.key, "fetching");
        self.connect(&repo, source, Want::Refs)
            .map(|(refs, downloaded)| (Arc::new(refs), downloaded))
            .map_err(|message| Error::Fetch {
                repo: source.url().to_owned(),
                message,
            })
    }

    /// Fetches one object by id (`git fetch origin <sha>`), for commits no branch or tag points
    /// at. The server must allow it (protocol v2 does for reachable objects;
    /// `uploadpack.allowReachableSHA1InWant`/`allowAnySHA1InWant` for v0). Serialised with the
    /// repository's other fetches.
    fn fetch_object(&self, entry: &Entry, source: &Source, id: gix::ObjectId) -> Result<(), Error> {
        let _state = entry.fetch.lock().unwrap_or_else(|p| p.into_inner());
        let repo = self.open(entry, source)?;
        if repo.has_object(id) {
            return Ok(());
        }
        tracing::debug!(repo = source.url(), key = entry.key, commit = %id, "fetching a commit by SHA");
        // The refs were just fetched with the same credentials, so a failure here means the
        // server does not have (or does not give out) the commit.
        self.connect(&repo, source, Want::Object(id))
            .map(|_| ())
            .map_err(|message| {
                tracing::debug!(repo = source.url(), commit = %id, message, "fetch by SHA failed");
                Error::CommitNotFound {
                    repo: source.url().to_owned(),
                    commit: id.to_string(),
                }
            })
    }

    /// Connects, lists refs and (with `fetch`) downloads what is missing. Errors are redacted text.
    fn connect(
        &self,
        repo: &gix::Repository,
        source: &Source,
        want: Want,
    ) -> Result<(RemoteRefs, bool), String> {
        let mut ssh_files = None;
        self.connect_with(repo, source, want, &mut ssh_files)
            .map_err(|message| match ssh_files.map(|f| f.stderr()) {
                Some(stderr) if !stderr.is_empty() => {
                    format!("{message}: ssh: {}", redact_str(&stderr, &source.secrets()))
                }
                _ => message,
            })
    }

    fn connect_with(
        &self,
        repo: &gix::Repository,
        source: &Source,
        want: Want,
        ssh_files: &mut Option<crate::transport::SshFiles>,
    ) -> Result<(RemoteRefs, bool), String> {
        let secrets = source.secrets();
        let text = |e: &(dyn std::error::Error + 'static)| redact(e, &secrets);
        let object_spec;
        let specs: &[&str] = match want {
            Want::Object(id) => {
                object_spec = id.to_string();
                &[object_spec.as_str()]
            }
            _ => &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
        };
        let remote = repo
            .remote_at(source.url())
            .map_err(|e| text(&e))?
            .with_refspecs(specs, gix::remote::Direction::Fetch)
            .map_err(|e| text(&e))?;
        let scheme = remote
            .url(gix::remote::Direction::Fetch)
            .map(|u| u.scheme.clone())
            .unwrap_or(gix::url::Scheme::File);
        // `ssh_files` outlives the connection: the ssh process reads the key from it.
        let mut connection = if scheme == gix::url::Scheme::Ssh {
            let url = remote
                .url(gix::remote::Direction::Fetch)
                .cloned()
                .ok_or_else(|| "no URL".to_owned())?;
            let (options, files) =
                crate::transport::ssh_options(&self.root.join("tmp"), source.credentials.as_ref())?;
            *ssh_files = Some(files);
            let transport = gix::protocol::transport::client::blocking_io::ssh::connect(
                url,
                gix::protocol::transport::Protocol::V2,
                options,
                false,
            )
            .map_err(|e| text(&e))?;
            remote.to_connection_with_transport(Box::new(transport)
                as Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>)
        } else {
            remote
                .connect(gix::remote::Direction::Fetch)
                .map_err(|e| text(&e))?
        };
        if matches!(scheme, gix::url::Scheme::Http | gix::url::Scheme::Https) {
            connection.set_transport_options(Box::new(crate::transport::http_options(
                source.credentials.as_ref(),
                scheme == gix::url::Scheme::Http,
            )?));
        }
        if matches!(scheme, gix::url::Scheme::Http | gix::url::Scheme::Https)
            && let Some(c) = &source.credentials
        {
            // Sent with the first request (Argo CD's `forceHttpBasicAuth`, go-git's default):
            // saves the 401 round trip of every fetch. Never part of the URL.
            if !c.username.is_empty() || !c.password().is_empty() {
                use gix::protocol::transport::client::TransportWithoutIO;
                connection
                    .transport_mut()
                    .set_identity(gix::sec::identity::Account {
                        username: c.username.clone(),
                        password: c.password().to_owned(),
                        oauth_refresh_token: None,
                    })
                    .map_err(|e| text(&e))?;
            }
        }
        let credentials = source.credentials.clone();
        crate::transport::warn_plain_http_credentials(source);
        connection.set_credentials(move |action| match action {
            gix::credentials::helper::Action::Get(ctx) => {
                Ok(credentials
                    .as_ref()
                    .map(|c| gix::credentials::protocol::Outcome {
                        identity: gix::sec::identity::Account {
                            username: c.username.clone(),
                            password: c.password.clone(),
                            oauth_refresh_token: None,
                        },
                        next: ctx.into(),
                    }))
            }
            _ => Ok(None),
        });
        self.stats.listings.fetch_add(1, Ordering::Relaxed);
        let options = gix::remote::ref_map::Options {
            prefix_from_spec_as_filter_on_remote: false,
            ..Default::default()
        };
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, options)
            .map_err(|e| text(&e))?;
        let refs = convert_refs(&prepare.ref_map().remote_refs);
        let missing = lacks_objects(repo, &refs);
        let is_shallow = repo.is_shallow().unwrap_or(false);
        let must_deepen = !source.shallow && is_shallow;
        let fetching = match want {
            Want::Nothing => false,
            Want::Refs => missing || must_deepen,
            Want::Object(_) => true,
        };
        if !fetching {
            return Ok((refs, false));
        }
        // Depth 1 for a shallow source, but never make a cache with full history shallow; the
        // first non-shallow fetch of a shallow cache fetches the whole history.
        let empty = repo
            .references()
            .ok()
            .and_then(|r| r.all().ok().map(|mut i| i.next().is_none()))
            .unwrap_or(true);
        let shallow = if source.shallow && (is_shallow || empty) {
            gix::remote::fetch::Shallow::DepthAtRemote(std::num::NonZeroU32::MIN)
        } else if must_deepen {
            gix::remote::fetch::Shallow::undo()
        } else {
            gix::remote::fetch::Shallow::NoChange
        };
        let interrupt = AtomicBool::new(false);
        prepare
            .with_shallow(shallow)
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| text(&e))?;
        self.stats.packs.fetch_add(1, Ordering::Relaxed);
        Ok((refs, true))
    }

    /// Resolves a revision to a commit SHA as Argo CD does (see [`crate::revision`]), fetching what
    /// the commit needs so that [`RepoCache::checkout`] can follow without network access.
    pub fn resolve(&self, source: &Source, revision: &str) -> Result<String, Error> {
        let entry = self.entry(source);
        let _use = self.use_entry(&entry);
        let unresolved = || Error::Unresolved {
            repo: source.url().to_owned(),
            revision: revision.to_owned(),
        };
        let rev = revision.trim();
        if revision::is_commit_sha(rev) {
            let entry = self.entry(source);
            let repo = self.open(&entry, source)?;
            let id = gix::ObjectId::from_hex(rev.to_ascii_lowercase().as_bytes())
                .map_err(|_| unresolved())?;
            if repo.has_object(id) {
                return Ok(id.to_string());
            }
        }
        let refs = self.fetch(source)?;
        let entry = self.entry(source);
        let repo = self.open(&entry, source)?;
        match refs.resolve(rev).ok_or_else(unresolved)? {
            Resolved::Commit(sha) => {
                let id = gix::ObjectId::from_hex(sha.as_bytes()).map_err(|_| unresolved())?;
                let mut repo = repo;
                if !repo.has_object(id) {
                    // A commit no branch or tag points at (or, in a shallow cache, an older one).
                    self.fetch_object(&entry, source, id)?;
                    repo = self.open(&entry, source)?;
                }
                if !repo.has_object(id) {
                    return Err(Error::CommitNotFound {
                        repo: source.url().to_owned(),
                        commit: sha,
                    });
                }
                Ok(peel_to_commit(&repo, id)
                    .ok_or_else(unresolved)?
                    .to_string())
            }
            Resolved::ShortSha(short) => {
                let prefix = gix::hash::Prefix::from_hex(&short).map_err(|_| unresolved())?;
                match repo.objects.lookup_prefix(prefix, None) {
                    Ok(Some(Ok(id))) => Ok(peel_to_commit(&repo, id)
                        .ok_or_else(unresolved)?
                        .to_string()),
                    Ok(Some(Err(()))) => Err(Error::Ambiguous {
                        repo: source.url().to_owned(),
                        revision: revision.to_owned(),
                    }),
                    _ => Err(unresolved()),
                }
            }
        }
    }

    /// The read-only tree at `commit` (a full SHA as returned by [`RepoCache::resolve`]), written on
    /// first use and shared afterwards.
    pub fn checkout(&self, source: &Source, commit: &str) -> Result<Checkout, Error> {
        let checkout = {
            let entry = self.entry(source);
            let _use = self.use_entry(&entry);
            self.checkout_in(&entry, source, commit)?
        };
        if checkout.1 {
            self.enforce_budget();
        }
        Ok(checkout.0)
    }

    /// The checkout, and whether it was written now.
    fn checkout_in(
        &self,
        entry: &Entry,
        source: &Source,
        commit: &str,
    ) -> Result<(Checkout, bool), Error> {
        let commit = commit.trim().to_ascii_lowercase();
        let not_found = || Error::CommitNotFound {
            repo: source.url().to_owned(),
            commit: commit.clone(),
        };
        if !revision::is_commit_sha(&commit) {
            return Err(not_found());
        }
        let dir = entry.checkout_dir.join(if source.submodules {
            format!("{commit}+submodules")
        } else {
            commit.clone()
        });
        let lease = self.lease(&dir);
        let done = |dir: PathBuf, written: bool| {
            Ok((
                Checkout::new(dir, commit.clone(), source.url().to_owned())
                    .with_lease(lease.clone()),
                written,
            ))
        };
        if dir.is_dir() {
            return done(dir, false);
        }
        let _guard = entry.checkout.lock().unwrap_or_else(|p| p.into_inner());
        if dir.is_dir() {
            return done(dir, false);
        }
        let mut repo = self.open(entry, source)?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| not_found())?;
        if !repo.has_object(id) {
            self.fetch(source)?;
            repo = self.open(entry, source)?;
            if !repo.has_object(id) {
                self.fetch_object(entry, source, id)?;
                repo = self.open(entry, source)?;
            }
            if !repo.has_object(id) {
                return Err(not_found());
            }
        }
        let mut hook = |path: &str, sub: gix::ObjectId, into: &Path| {
            self.fill_submodule(source, &repo, id, "", path, sub, into, 0)
        };
        let hook: Option<crate::write::SubmoduleHook<'_>> = if source.submodules {
            Some(&mut hook)
        } else {
            None
        };
        crate::write::write_commit(&repo, id, &entry.checkout_dir, &dir, hook).map_err(
            |(path, message)| Error::Checkout {
                repo: source.url().to_owned(),
                commit: commit.clone(),
                path,
                message: redact_str(&message, &source.secrets()),
            },
        )?;
        done(dir, true)
    }
}

impl RepoCache {
    /// Writes the submodule at `path` (relative to the checkout root; `prefix` is where the
    /// superproject `repo` sits in it) of `parent` at `parent_commit` into `into`, recursively.
    #[allow(clippy::too_many_arguments)]
    fn fill_submodule(
        &self,
        parent: &Source,
        repo: &gix::Repository,
        parent_commit: gix::ObjectId,
        prefix: &str,
        path: &str,
        commit: gix::ObjectId,
        into: &Path,
        depth: usize,
    ) -> Result<(), crate::write::WriteError> {
        let fail = |message: String| (path.to_owned(), message);
        if depth >= 8 {
            return Err(fail("submodules nested more than 8 deep".into()));
        }
        let inner = path
            .strip_prefix(prefix)
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(path);
        let gitmodules = repo
            .find_object(parent_commit)
            .ok()
            .and_then(|o| o.peel_to_tree().ok())
            .and_then(|t| t.lookup_entry_by_path(".gitmodules").ok().flatten())
            .and_then(|e| e.object().ok())
            .map(|o| String::from_utf8_lossy(&o.data).into_owned())
            .ok_or_else(|| fail("a submodule without a .gitmodules file".into()))?;
        let url = submodule_url(&gitmodules, inner).ok_or_else(|| {
            fail(format!(
                "no url for submodule path `{inner}` in .gitmodules"
            ))
        })?;
        let url = resolve_submodule_url(parent.url(), &url);
        let mut sub = Source::new(&url)
            .shallow(parent.shallow)
            .with_submodules(true);
        if sub.credentials.is_none() {
            sub.credentials = parent.credentials.clone();
        }
        let secrets = sub.secrets();
        let sha = self.resolve(&sub, &commit.to_string()).map_err(|e| {
            fail(format!(
                "submodule `{}`: {}",
                sub.url(),
                redact_str(&e.to_string(), &secrets)
            ))
        })?;
        let entry = self.entry(&sub);
        let _use = self.use_entry(&entry);
        let sub_repo = self
            .open(&entry, &sub)
            .map_err(|e| fail(redact_str(&e.to_string(), &secrets)))?;
        let id = gix::ObjectId::from_hex(sha.as_bytes()).map_err(|e| fail(e.to_string()))?;
        let mut hook = |p: &str, c: gix::ObjectId, d: &Path| {
            self.fill_submodule(&sub, &sub_repo, id, path, p, c, d, depth + 1)
        };
        let mut hook: Option<crate::write::SubmoduleHook<'_>> = Some(&mut hook);
        crate::write::write_commit_into(&sub_repo, id, into, path, &mut hook)
    }
}

/// The `url` of the submodule at `path` in a `.gitmodules` file (git-config syntax).
fn submodule_url(gitmodules: &str, path: &str) -> Option<String> {
    // (in a `[submodule "…"]` section, path, url) per section.
    let mut sections: Vec<(bool, Option<String>, Option<String>)> = Vec::new();
    for line in gitmodules.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            sections.push((header.trim_start().starts_with("submodule"), None, None));
            continue;
        }
        let (Some(last), Some((key, value))) = (sections.last_mut(), line.split_once('=')) else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "path" => last.1 = Some(value),
            "url" => last.2 = Some(value),
            _ => {}
        }
    }
    sections
        .into_iter()
        .find(|(sub, p, _)| *sub && p.as_deref().map(|p| p.trim_end_matches('/')) == Some(path))
        .and_then(|(_, _, u)| u)
}

/// A submodule URL: `./x` and `../x` are relative to the superproject's URL, as git resolves them.
fn resolve_submodule_url(parent: &str, url: &str) -> String {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return url.to_owned();
    }
    let mut base = parent.trim_end_matches('/').to_owned();
    let mut rest = url;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            rest = r;
            match base.rfind('/') {
                Some(i) if !base[..i].ends_with('/') => base.truncate(i),
                _ => {}
            }
        } else {
            break;
        }
    }
    format!("{base}/{rest}")
}

/// Whether some branch or tag of `refs` points at a commit the repository lacks.
fn lacks_objects(repo: &gix::Repository, refs: &RemoteRefs) -> bool {
    refs.refs.iter().any(|r| {
        let fetched = r.name().starts_with("refs/heads/") || r.name().starts_with("refs/tags/");
        fetched
            && r.commit()
                .and_then(|c| gix::ObjectId::from_hex(c.as_bytes()).ok())
                .is_some_and(|id| !repo.has_object(id))
    })
}

fn peel_to_commit(repo: &gix::Repository, id: gix::ObjectId) -> Option<gix::ObjectId> {
    let object = repo.find_object(id).ok()?;
    object.peel_to_commit().ok().map(|c| c.id)
}

pub(crate) fn convert_refs(refs: &[gix::protocol::handshake::Ref]) -> RemoteRefs {
    use gix::protocol::handshake::Ref;
    let mut out: Vec<RemoteRef> = refs
        .iter()
        .map(|r| match r {
            Ref::Peeled {
                full_ref_name,
                tag,
                object,
            } => RemoteRef::Direct {
                name: full_ref_name.to_string(),
                target: tag.to_string(),
                peeled: Some(object.to_string()),
            },
            Ref::Direct {
                full_ref_name,
                object,
            } => RemoteRef::Direct {
                name: full_ref_name.to_string(),
                target: object.to_string(),
                peeled: None,
            },
            Ref::Symbolic {
                full_ref_name,
                target,
                object,
                ..
            } => RemoteRef::Symbolic {
                name: full_ref_name.to_string(),
                target_ref: target.to_string(),
                object: Some(object.to_string()),
            },
            Ref::Unborn {
                full_ref_name,
                target,
            } => RemoteRef::Symbolic {
                name: full_ref_name.to_string(),
                target_ref: target.to_string(),
                object: None,
            },
        })
        .collect();
    out.sort_by(|a, b| a.name().cmp(b.name()));
    RemoteRefs { refs: out }
}

/// Subdirectories of `dir` (none if it cannot be read).
fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Bytes of the regular files under `dir` (symlinks not followed).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submodule_urls_resolve_like_git() {
        let modules = "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n[core]\n\turl = x\n[submodule \"b\"]\n  path = b/\n  url = \"https://example.com/b\"\n";
        assert_eq!(
            submodule_url(modules, "vendor/lib").as_deref(),
            Some("../lib.git")
        );
        assert_eq!(
            submodule_url(modules, "b").as_deref(),
            Some("https://example.com/b")
        );
        assert_eq!(submodule_url(modules, "c"), None);
        let parent = "http://127.0.0.1:8080/org/app.git";
        assert_eq!(
            resolve_submodule_url(parent, "../lib.git"),
            "http://127.0.0.1:8080/org/lib.git"
        );
        assert_eq!(
            resolve_submodule_url(parent, "./sub"),
            "http://127.0.0.1:8080/org/app.git/sub"
        );
        assert_eq!(
            resolve_submodule_url(parent, "../../x.git"),
            "http://127.0.0.1:8080/x.git"
        );
        assert_eq!(resolve_submodule_url(parent, "https://h/y"), "https://h/y");
    }
}
