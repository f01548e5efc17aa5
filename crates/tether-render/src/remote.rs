//! Remote kustomize resources and components (`https://host/org/repo//path?ref=v1`, `git::…`,
//! `ssh://…`) fetched through Tether's git layer: [`GitRemoteLoader`] implements
//! [`tether_kustomize::RemoteLoader`] with `tether-git`'s [`RepoCache`].
//!
//! Like kustomize (`git fetch --depth=1 <url> <ref>`), a reference is a branch, a tag or a full
//! commit SHA, and the remote's `HEAD` when none is given; `?submodules=` (default true) checks
//! submodules out. `?timeout=` is parsed but not applied: the cache's own transport timeouts
//! apply. Checkouts are kept (leased) for as long as the loader lives.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tether_git::{Checkout, Credentials, RepoCache, Source};
use tether_kustomize::{RemoteLoader, RepoSpec};

/// Fetches remote kustomizations through a [`RepoCache`].
pub struct GitRemoteLoader {
    cache: OnceLock<Arc<RepoCache>>,
    /// Where the cache is opened on first use (for [`GitRemoteLoader::at`]).
    dir: Option<PathBuf>,
    credentials: Option<Credentials>,
    checkouts: Mutex<Vec<Checkout>>,
}

impl GitRemoteLoader {
    /// A loader on `cache`.
    pub fn new(cache: Arc<RepoCache>) -> Self {
        GitRemoteLoader {
            cache: OnceLock::from(cache),
            dir: None,
            credentials: None,
            checkouts: Mutex::new(Vec::new()),
        }
    }

    /// A loader whose cache is opened in `dir` only when a remote is first fetched (builds
    /// without remote resources touch nothing).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        GitRemoteLoader {
            cache: OnceLock::new(),
            dir: Some(dir.into()),
            credentials: None,
            checkouts: Mutex::new(Vec::new()),
        }
    }

    fn cache(&self) -> Result<&Arc<RepoCache>, String> {
        if let Some(c) = self.cache.get() {
            return Ok(c);
        }
        let dir = self.dir.clone().unwrap_or_default();
        let c = RepoCache::new(&dir)
            .map_err(|e| format!("repository cache `{}`: {e}", dir.display()))?;
        Ok(self.cache.get_or_init(|| Arc::new(c)))
    }

    /// Credentials for every remote this loader fetches (otherwise only what the URL carries).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

impl std::fmt::Debug for GitRemoteLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRemoteLoader")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl RemoteLoader for GitRemoteLoader {
    fn fetch_file(&self, url: &str) -> Result<Vec<u8>, String> {
        // tether-chartrepo's HTTP client: TLS with the system roots, credentials from the
        // URL's user-info, redacted in errors. Nothing is cached on disk.
        tether_chartrepo::helm::HelmFetcher::new(std::env::temp_dir())
            .download(url)
            .map_err(|e| e.to_string())
    }

    fn fetch(&self, spec: &RepoSpec) -> Result<PathBuf, String> {
        let mut source = Source::new(&spec.clone_url())
            .shallow(true)
            .with_submodules(spec.submodules);
        if let Some(c) = &self.credentials {
            source = source.with_credentials(c.clone());
        }
        let revision = if spec.reference.is_empty() {
            "HEAD"
        } else {
            spec.reference.as_str()
        };
        let cache = self.cache()?;
        let commit = cache
            .resolve(&source, revision)
            .map_err(|e| format!("fetching `{revision}`: {e}"))?;
        let checkout = cache
            .checkout(&source, &commit)
            .map_err(|e| format!("checking out {commit}: {e}"))?;
        let root = checkout.root().to_path_buf();
        self.checkouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(checkout);
        Ok(root)
    }
}
