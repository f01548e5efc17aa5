//! Helm chart repositories over HTTP(S).
//!
//! - [`RepoClient::index`] downloads and parses `<repo>/index.yaml` ([`IndexFile`]), once per client;
//! - [`RepoClient::resolve`] picks the newest version matching a Masterminds/semver constraint, as
//!   `helm dependency build` / `helm pull --version` do ([`semver`]);
//! - [`RepoClient::fetch`] downloads the chart archive (URL relative to the repository or absolute),
//!   checks its SHA-256 against the index's `digest`, and keeps it in a cache directory keyed by URL and
//!   digest, so a second fetch of the same chart does not touch the network.
//!
//! Credentials (basic auth, from [`Credentials`] or the repository URL's user-info) are sent only to the
//! repository's own scheme/host/port unless [`RepoClient::pass_credentials_to_all_hosts`] is set (Helm's
//! `--pass-credentials`), and never appear in errors or logs: URLs are shown without user-info.

pub mod helm;
pub mod index;
pub use tether_semver as semver;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

pub use index::{ChartVersion, IndexError, IndexFile};

/// Basic-auth credentials for a repository. `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Errors of the repository client. Every URL in a message is shown without user-info.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid repository URL {url:?}: {message}")]
    BadUrl { url: String, message: String },
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {source}")]
    Index {
        url: String,
        #[source]
        source: IndexError,
    },
    #[error("chart {name} {version} in {repo} has no download URL")]
    NoUrl {
        name: String,
        version: String,
        repo: String,
    },
    #[error(
        "digest mismatch for chart {name} {version} from {url}: the index says sha256:{expected}, the download is sha256:{actual}"
    )]
    DigestMismatch {
        name: String,
        version: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A URL for messages: no user-info, no query (tokens are sometimes passed there).
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if shown.query().is_some() {
        shown.set_query(Some("<redacted>"));
    }
    shown.to_string()
}

/// Splits user-info out of a URL: `(url without it, credentials if any)`.
fn strip_userinfo(url: &Url) -> (Url, Option<Credentials>) {
    if url.username().is_empty() && url.password().is_none() {
        return (url.clone(), None);
    }
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let creds = Credentials {
        username: decode(url.username()),
        password: decode(url.password().unwrap_or("")),
    };
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    (bare, Some(creds))
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Helm's `repo.ResolveReferenceURL`: a relative chart URL is resolved against the repository URL with
/// a trailing slash, keeping the repository URL's query.
pub fn resolve_reference(repo: &Url, reference: &str) -> Result<Url, url::ParseError> {
    if let Ok(absolute) = Url::parse(reference) {
        return Ok(absolute);
    }
    let mut base = repo.clone();
    let path = format!("{}/", base.path().trim_end_matches('/'));
    base.set_path(&path);
    let query = base.query().map(str::to_owned);
    let mut resolved = base.join(reference)?;
    resolved.set_query(query.as_deref());
    Ok(resolved)
}

/// A client for HTTP chart repositories with an on-disk chart cache.
pub struct RepoClient {
    http: reqwest::Client,
    cache_dir: PathBuf,
    credentials: Option<Credentials>,
    pass_credentials_all: bool,
    indexes: Mutex<HashMap<String, Arc<IndexFile>>>,
}

impl RepoClient {
    /// A client caching archives under `cache_dir` (created when needed).
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("tether-chartrepo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Http {
                url: String::new(),
                message: e.without_url().to_string(),
            })?;
        Ok(RepoClient {
            http,
            cache_dir: cache_dir.into(),
            credentials: None,
            pass_credentials_all: false,
            indexes: Mutex::new(HashMap::new()),
        })
    }

    /// Basic-auth credentials for the repositories this client talks to.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Send credentials to chart URLs on other hosts too (Helm's `--pass-credentials`).
    pub fn pass_credentials_to_all_hosts(mut self, yes: bool) -> Self {
        self.pass_credentials_all = yes;
        self
    }

    fn parse_repo(repo_url: &str) -> Result<(Url, Option<Credentials>), Error> {
        let url = Url::parse(repo_url.trim()).map_err(|e| Error::BadUrl {
            url: Url::parse(repo_url)
                .map(|u| redact(&u))
                .unwrap_or_else(|_| "<unparsable>".to_owned()),
            message: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::BadUrl {
                url: redact(&url),
                message: format!(
                    "unsupported scheme {:?} (http and https only)",
                    url.scheme()
                ),
            });
        }
        Ok(strip_userinfo(&url))
    }

    async fn get(
        &self,
        url: &Url,
        repo: &Url,
        url_creds: Option<&Credentials>,
    ) -> Result<Vec<u8>, Error> {
        let shown = redact(url);
        let mut request = self.http.get(url.clone());
        let creds = url_creds.or(self.credentials.as_ref());
        if let Some(creds) = creds
            && (self.pass_credentials_all || same_origin(url, repo))
        {
            request = request.basic_auth(&creds.username, Some(&creds.password));
        }
        tracing::debug!(url = %shown, "chart repository request");
        let response = request.send().await.map_err(|e| Error::Http {
            url: shown.clone(),
            message: e.without_url().to_string(),
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let body = response.bytes().await.map_err(|e| Error::Http {
            url: shown,
            message: e.without_url().to_string(),
        })?;
        Ok(body.to_vec())
    }

    /// The repository's index (downloaded once per client and repository URL).
    pub async fn index(&self, repo_url: &str) -> Result<Arc<IndexFile>, Error> {
        let (repo, creds) = Self::parse_repo(repo_url)?;
        let key = repo.as_str().trim_end_matches('/').to_owned();
        if let Some(index) = self.indexes.lock().expect("index cache lock").get(&key) {
            return Ok(index.clone());
        }
        let index_url = resolve_reference(&repo, "index.yaml").map_err(|e| Error::BadUrl {
            url: redact(&repo),
            message: e.to_string(),
        })?;
        let bytes = self.get(&index_url, &repo, creds.as_ref()).await?;
        let index = Arc::new(IndexFile::parse(&bytes).map_err(|source| Error::Index {
            url: redact(&index_url),
            source,
        })?);
        self.indexes
            .lock()
            .expect("index cache lock")
            .insert(key, index.clone());
        Ok(index)
    }

    /// The newest version of chart `name` in the repository that satisfies `constraint` (empty: the
    /// newest release version).
    pub async fn resolve(
        &self,
        repo_url: &str,
        name: &str,
        constraint: &str,
    ) -> Result<ChartVersion, Error> {
        let index = self.index(repo_url).await?;
        let (repo, _) = Self::parse_repo(repo_url)?;
        index
            .get(name, constraint)
            .cloned()
            .map_err(|source| Error::Index {
                url: redact(&repo),
                source,
            })
    }

    /// Downloads `chart` (from [`RepoClient::resolve`]) unless it is cached, checks its digest, and
    /// returns the path of the `.tgz` in the cache.
    pub async fn fetch(&self, repo_url: &str, chart: &ChartVersion) -> Result<PathBuf, Error> {
        let (repo, creds) = Self::parse_repo(repo_url)?;
        let reference = chart.urls.first().ok_or_else(|| Error::NoUrl {
            name: chart.name.clone(),
            version: chart.version.clone(),
            repo: redact(&repo),
        })?;
        let url = resolve_reference(&repo, reference).map_err(|e| Error::BadUrl {
            url: reference.clone(),
            message: e.to_string(),
        })?;
        let (url, url_creds) = strip_userinfo(&url);
        let creds = url_creds.or(creds);
        let expected = chart
            .digest
            .as_deref()
            .map(|d| d.trim().trim_start_matches("sha256:").to_ascii_lowercase());
        let file_name = format!("{}-{}.tgz", sanitize(&chart.name), sanitize(&chart.version));
        let dir = self
            .cache_dir
            .join(cache_key(&url, expected.as_deref().unwrap_or("")));
        let path = dir.join(&file_name);
        if let Some(expected) = &expected
            && let Ok(bytes) = tokio::fs::read(&path).await
        {
            if &sha256_hex(&bytes) == expected {
                tracing::debug!(chart = %chart.name, version = %chart.version, "chart archive from cache");
                return Ok(path);
            }
            tracing::warn!(path = %path.display(), "cached chart archive is corrupt; downloading again");
        }
        let bytes = self.get(&url, &repo, creds.as_ref()).await?;
        let actual = sha256_hex(&bytes);
        if let Some(expected) = expected
            && actual != expected
        {
            return Err(Error::DigestMismatch {
                name: chart.name.clone(),
                version: chart.version.clone(),
                url: redact(&url),
                expected,
                actual,
            });
        }
        write_atomically(&dir, &file_name, &bytes).await?;
        Ok(path)
    }

    /// Downloads `url` (a chart archive outside any index: no digest to check, not cached).
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, Error> {
        let (url, creds) = Self::parse_repo(url)?;
        self.get(&url, &url, creds.as_ref()).await
    }

    /// [`RepoClient::resolve`] then [`RepoClient::fetch`].
    pub async fn resolve_and_fetch(
        &self,
        repo_url: &str,
        name: &str,
        constraint: &str,
    ) -> Result<(ChartVersion, PathBuf), Error> {
        let chart = self.resolve(repo_url, name, constraint).await?;
        let path = self.fetch(repo_url, &chart).await?;
        Ok((chart, path))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The cache directory name for an archive: SHA-256 of the URL (without user-info) and the digest.
fn cache_key(url: &Url, digest: &str) -> String {
    sha256_hex(format!("{url}\n{digest}").as_bytes())
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn write_atomically(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<(), Error> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    tokio::fs::write(&tmp, bytes).await.map_err(io(&tmp))?;
    let path = dir.join(file_name);
    tokio::fs::rename(&tmp, &path).await.map_err(io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_chart_urls_resolve_like_helm() {
        let repo = Url::parse("https://charts.example.com/stable?token=t").unwrap();
        assert_eq!(
            resolve_reference(&repo, "nginx-1.0.0.tgz")
                .unwrap()
                .as_str(),
            "https://charts.example.com/stable/nginx-1.0.0.tgz?token=t"
        );
        let repo = Url::parse("https://charts.example.com/stable/").unwrap();
        assert_eq!(
            resolve_reference(&repo, "charts/nginx-1.0.0.tgz")
                .unwrap()
                .as_str(),
            "https://charts.example.com/stable/charts/nginx-1.0.0.tgz"
        );
        assert_eq!(
            resolve_reference(&repo, "https://cdn.example.com/x.tgz")
                .unwrap()
                .as_str(),
            "https://cdn.example.com/x.tgz"
        );
    }

    #[test]
    fn redaction_hides_userinfo_and_query() {
        let url = Url::parse("https://bob:s3cret@charts.example.com/x?token=abc").unwrap();
        let shown = redact(&url);
        assert!(
            !shown.contains("s3cret") && !shown.contains("bob") && !shown.contains("abc"),
            "{shown}"
        );
        let (bare, creds) = strip_userinfo(&url);
        assert_eq!(bare.as_str(), "https://charts.example.com/x?token=abc");
        let creds = creds.expect("credentials");
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("bob", "s3cret")
        );
        assert!(!format!("{creds:?}").contains("s3cret"));
    }
}
