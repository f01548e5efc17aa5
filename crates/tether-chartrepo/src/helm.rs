//! tether-helm's [`DependencyFetcher`] on HTTP chart repositories: what `helm dependency build` /
//! `helm dependency update` do for the dependencies missing from `charts/`.
//!
//! - `https://…` / `http://…` repositories are used directly; `@name` and `alias:name` only resolve
//!   to repositories configured with [`HelmFetcher::with_repository`] (Helm's `repositories.yaml`),
//!   otherwise Helm's "no repository definition" error;
//! - `file://path` dependencies are loaded from `path` relative to the chart directory;
//! - an empty repository means the chart must already be in `charts/` (Helm's error stays);
//! - archives are digest-checked against the index and cached by [`RepoClient`] (cache entries are
//!   keyed by a hash of the URL and the digest: no credentials in paths).
//!
//! tether-helm is synchronous; each fetch runs the async client on its own thread and runtime, so it
//! works from plain threads and from inside a tokio runtime alike.

use std::future::Future;
use std::path::{Path, PathBuf};

use tether_helm::chart::{Dependency, Metadata};
use tether_helm::{Chart, DependencyFetcher, Error as HelmError};

use crate::{Credentials, Error, RepoClient};

/// A configured repository (`helm repo add NAME URL`).
#[derive(Clone, Debug)]
pub struct Repository {
    pub name: String,
    pub url: String,
    pub credentials: Option<Credentials>,
}

/// Fetches missing chart dependencies from HTTP chart repositories.
#[derive(Clone, Debug)]
pub struct HelmFetcher {
    cache_dir: PathBuf,
    chart_dir: Option<PathBuf>,
    repositories: Vec<Repository>,
}

/// Runs `fut` to completion on a fresh current-thread runtime in a scoped thread.
fn block_on<T: Send>(fut: impl Future<Output = Result<T, Error>> + Send) -> Result<T, Error> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Http {
                    url: String::new(),
                    message: format!("starting the HTTP runtime: {e}"),
                })?;
            rt.block_on(fut)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Http {
                url: String::new(),
                message: "the chart download thread panicked".into(),
            })
        })
    })
}

fn helm_err(e: impl std::fmt::Display) -> HelmError {
    HelmError::Dependencies(e.to_string())
}

impl HelmFetcher {
    /// A fetcher caching archives under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        HelmFetcher {
            cache_dir: cache_dir.into(),
            chart_dir: None,
            repositories: Vec::new(),
        }
    }

    /// The chart directory, for `file://` dependencies.
    pub fn with_chart_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.chart_dir = Some(dir.into());
        self
    }

    /// A named repository for `@name` / `alias:name` (and credentials for its URL).
    pub fn with_repository(mut self, repository: Repository) -> Self {
        self.repositories.push(repository);
        self
    }

    fn client(&self, url: &str) -> Result<RepoClient, Error> {
        let mut client = RepoClient::new(&self.cache_dir)?;
        let trimmed = url.trim_end_matches('/');
        if let Some(creds) = self
            .repositories
            .iter()
            .find(|r| r.url.trim_end_matches('/') == trimmed)
            .and_then(|r| r.credentials.clone())
        {
            client = client.with_credentials(creds);
        }
        Ok(client)
    }

    /// `helm pull --repo URL NAME --version C`: the chart archive's path in the cache.
    pub fn pull(&self, repo_url: &str, name: &str, constraint: &str) -> Result<PathBuf, Error> {
        let client = self.client(repo_url)?;
        block_on(async {
            let (_, path) = client.resolve_and_fetch(repo_url, name, constraint).await?;
            Ok(path)
        })
    }

    /// Downloads a chart archive by URL (no index, so no digest to check).
    pub fn download(&self, url: &str) -> Result<Vec<u8>, Error> {
        let client = self.client(url)?;
        block_on(client.download(url))
    }
}

impl DependencyFetcher for HelmFetcher {
    fn repository_url(&self, repository: &str) -> Result<String, HelmError> {
        let name = repository
            .strip_prefix('@')
            .or_else(|| repository.strip_prefix("alias:"));
        let Some(name) = name else {
            return Ok(repository.to_owned());
        };
        self.repositories
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.url.clone())
            .ok_or_else(|| {
                HelmError::Dependencies(format!(
                    "no repository definition for {repository}. Please add them via 'helm repo add'"
                ))
            })
    }

    fn fetch(&self, _parent: &Metadata, dep: &Dependency) -> Result<Option<Chart>, HelmError> {
        let repository = dep.repository.trim();
        if repository.is_empty() {
            return Ok(None);
        }
        if let Some(path) = repository.strip_prefix("file://") {
            let base = self.chart_dir.as_deref().unwrap_or(Path::new("."));
            let dir = base.join(path);
            return tether_helm::load(&dir).map(Some).map_err(|e| {
                HelmError::Dependencies(format!(
                    "dependency {:?} from {repository}: {}",
                    dep.name,
                    e.message()
                ))
            });
        }
        if repository.starts_with("oci://") {
            return Err(HelmError::Dependencies(format!(
                "dependency {:?}: OCI registries ({repository}) are not supported yet",
                dep.name
            )));
        }
        let url = self.repository_url(repository)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            // Never show user-info a repository URL may carry.
            let shown = url::Url::parse(repository)
                .map(|u| crate::redact(&u))
                .unwrap_or_else(|_| repository.to_owned());
            let mut message = format!(
                "no repository definition for {shown}. Please add them via 'helm repo add'"
            );
            if !repository.contains("//")
                && !repository.starts_with('@')
                && !repository.starts_with("alias:")
            {
                message.push_str(
                    "\nNote that repositories must be URLs or aliases. For example, to refer to the \"example\"\nrepository, use \"https://charts.example.com/\" or \"@example\" instead of\n\"example\". Don't forget to add the repo, too ('helm repo add').",
                );
            }
            return Err(HelmError::Dependencies(message));
        }
        let path = self.pull(&url, &dep.name, &dep.version).map_err(helm_err)?;
        let bytes =
            std::fs::read(&path).map_err(|e| helm_err(format!("{}: {e}", path.display())))?;
        tether_helm::load_archive(&bytes).map(Some).map_err(|e| {
            HelmError::Dependencies(format!(
                "dependency {:?} {}: {}",
                dep.name,
                dep.version,
                e.message()
            ))
        })
    }
}
