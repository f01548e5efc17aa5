//! Polling many repositories cheaply: one `ls-refs` round trip per repository and interval (no
//! pack), a fetch only when a watched revision moved, and a [`ChangeEvent`] per moved revision.
//!
//! - Each repository is polled every [`PollerConfig::interval`] plus a random delay up to
//!   [`PollerConfig::jitter`], so that many repositories do not hit one Git host at once (Argo CD's
//!   `timeout.reconciliation` and `timeout.reconciliation.jitter`).
//! - At most [`PollerConfig::concurrency`] listings run at a time (blocking calls on tokio's
//!   blocking pool). Over http(s) a listing is one protocol v2 `ls-refs` request through
//!   `tether-git`'s shared keep-alive HTTP client ([`RepoCache::ls_refs`]); other schemes and
//!   servers without protocol v2 go through gix.
//! - A failing repository does not hold up the others: it is retried after an exponential backoff
//!   (interval × 2ⁿ, capped at [`PollerConfig::max_backoff`]); its error is logged (tether-git
//!   errors carry no credentials).
//! - Watched revisions are `targetRevision`s: branches, tags, `HEAD`, semver constraints. A revision
//!   moved when it resolves ([`tether_git::RemoteRefs::resolve`]) to another commit than at the
//!   previous poll; a semver constraint moves when a higher matching tag appears. With no revisions
//!   listed every branch, tag and `HEAD` is watched. The first poll of a repository records a
//!   baseline and reports nothing.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether_git::revision::Resolved;
use tether_git::url::normalize_url;
use tether_git::{RemoteRefs, RepoCache, Source};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

/// A repository to poll and the revisions that matter in it.
#[derive(Debug, Clone)]
pub struct WatchedRepo {
    pub source: Source,
    /// `targetRevision`s to watch; empty for every branch, tag and `HEAD`.
    pub revisions: Vec<String>,
}

impl WatchedRepo {
    /// Watches `revisions` of the repository at `url`.
    pub fn new(url: &str, revisions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            source: Source::new(url),
            revisions: revisions.into_iter().map(Into::into).collect(),
        }
    }
}

/// Polling settings.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Time between two polls of one repository (Argo CD: 3 minutes).
    pub interval: Duration,
    /// Up to this much is added at random to each interval.
    pub jitter: Duration,
    /// Listings in flight at once.
    pub concurrency: usize,
    /// The longest wait after repeated failures.
    pub max_backoff: Duration,
    /// Fetch the repository when a watched revision moved, so that the checkout that follows needs
    /// no network.
    pub fetch: bool,
}

impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(180),
            jitter: Duration::from_secs(60),
            concurrency: 16,
            max_backoff: Duration::from_secs(600),
            fetch: true,
        }
    }
}

/// A watched revision that moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// The repository URL as watched (no credentials).
    pub url: String,
    /// Its normalised form ([`tether_git::url::normalize_url`]).
    pub repo: String,
    /// The watched revision (or, when watching everything, the ref name).
    pub revision: String,
    /// The commit before; None when the revision did not resolve before (a new branch or tag).
    pub old: Option<String>,
    /// The commit now; None when the revision no longer resolves (a deleted branch or tag).
    pub new: Option<String>,
}

/// Where polling of one repository stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoStatus {
    /// Consecutive failed polls.
    pub failures: u32,
    /// Time until the next poll.
    pub due_in: Duration,
    /// Whether a baseline has been recorded.
    pub polled: bool,
}

struct RepoState {
    watched: WatchedRepo,
    last: Option<BTreeMap<String, String>>,
    failures: u32,
    due: Instant,
    in_flight: bool,
}

/// Polls a set of repositories through a shared [`RepoCache`].
pub struct Poller {
    cache: Arc<RepoCache>,
    config: PollerConfig,
    repos: Mutex<HashMap<String, RepoState>>,
    limit: Arc<Semaphore>,
}

fn random_below(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    let nanos = max.as_nanos().min(u128::from(u64::MAX)) as u64;
    Duration::from_nanos(h.finish() % nanos.max(1))
}

impl Poller {
    pub fn new(cache: Arc<RepoCache>, config: PollerConfig) -> Self {
        let limit = Arc::new(Semaphore::new(config.concurrency.max(1)));
        Self {
            cache,
            config,
            repos: Mutex::new(HashMap::new()),
            limit,
        }
    }

    /// Starts watching a repository (due at once), or replaces the revisions watched in it.
    pub fn watch(&self, repo: WatchedRepo) {
        let key = normalize_url(repo.source.url());
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        match repos.get_mut(&key) {
            Some(state) => {
                if state.watched.revisions != repo.revisions {
                    state.last = None;
                }
                state.watched = repo;
            }
            None => {
                repos.insert(
                    key,
                    RepoState {
                        watched: repo,
                        last: None,
                        failures: 0,
                        due: Instant::now(),
                        in_flight: false,
                    },
                );
            }
        }
    }

    /// Stops watching a repository.
    pub fn unwatch(&self, url: &str) {
        self.repos
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&normalize_url(url));
    }

    /// The polling state of a watched repository.
    pub fn status(&self, url: &str) -> Option<RepoStatus> {
        let repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        repos.get(&normalize_url(url)).map(|s| RepoStatus {
            failures: s.failures,
            due_in: s.due.saturating_duration_since(Instant::now()),
            polled: s.last.is_some(),
        })
    }

    /// How many repositories are watched.
    pub fn len(&self) -> usize {
        self.repos.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Polls every repository now, due or not, and returns what moved.
    pub async fn poll_all(&self) -> Vec<ChangeEvent> {
        self.poll(true, None).await.unwrap_or_default()
    }

    /// Polls the repositories whose time has come and returns what moved.
    pub async fn poll_due(&self) -> Vec<ChangeEvent> {
        self.poll(false, None).await.unwrap_or_default()
    }

    /// Polls (every repository, or the due ones); with `stream`, each repository's events are sent
    /// as soon as its listing is done (not after the whole round) and not returned. `Err` when the
    /// stream's receiver is gone.
    async fn poll(
        &self,
        all: bool,
        stream: Option<&mpsc::Sender<ChangeEvent>>,
    ) -> Result<Vec<ChangeEvent>, ()> {
        let now = Instant::now();
        let batch: Vec<(String, WatchedRepo, Option<Snapshot>)> = {
            let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
            repos
                .iter_mut()
                .filter(|(_, s)| !s.in_flight && (all || s.due <= now))
                .map(|(k, s)| {
                    s.in_flight = true;
                    (k.clone(), s.watched.clone(), s.last.clone())
                })
                .collect()
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (key, watched, last) in batch {
            let cache = self.cache.clone();
            let limit = self.limit.clone();
            let fetch = self.config.fetch;
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let w = watched.clone();
                let outcome =
                    tokio::task::spawn_blocking(move || poll_one(&cache, &w, last, fetch))
                        .await
                        .unwrap_or_else(|e| Err(format!("poll task failed: {e}")));
                (key, watched, outcome)
            });
        }
        let mut events = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((key, watched, outcome)) = joined else {
                continue;
            };
            self.record(&key, &watched, outcome, &mut events);
            if let Some(tx) = stream {
                for e in events.drain(..) {
                    tx.send(e).await.map_err(|_| ())?;
                }
            }
        }
        events.sort_by(|a, b| (&a.repo, &a.revision).cmp(&(&b.repo, &b.revision)));
        Ok(events)
    }

    /// Records one repository's poll outcome; its events go to `events`.
    fn record(
        &self,
        key: &str,
        watched: &WatchedRepo,
        outcome: PollOutcome,
        events: &mut Vec<ChangeEvent>,
    ) {
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = repos.get_mut(key) else {
            return;
        };
        state.in_flight = false;
        let now = Instant::now();
        match outcome {
            Ok((snapshot, moved)) => {
                state.failures = 0;
                state.due = now + self.config.interval + random_below(self.config.jitter);
                // A watch replaced meanwhile keeps its fresh (empty) baseline.
                if state.watched.revisions == watched.revisions {
                    state.last = Some(snapshot);
                    events.extend(moved);
                }
            }
            Err(message) => {
                state.failures = state.failures.saturating_add(1);
                let factor = 1u32 << state.failures.min(16);
                let wait = self
                    .config
                    .interval
                    .saturating_mul(factor)
                    .min(self.config.max_backoff);
                state.due = now + wait;
                tracing::warn!(
                    repo = watched.source.url(),
                    failures = state.failures,
                    retry_in = ?wait,
                    "polling failed: {message}"
                );
            }
        }
    }

    /// Polls due repositories until `events` is closed, sending what moved as soon as each
    /// repository's listing (and fetch) is done.
    pub async fn run(self: Arc<Self>, events: mpsc::Sender<ChangeEvent>) {
        loop {
            if self.poll(false, Some(&events)).await.is_err() {
                return;
            }
            if events.is_closed() {
                return;
            }
            let next = {
                let repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
                repos.values().map(|s| s.due).min()
            };
            // Wake at least every second to pick up newly watched repositories.
            let cap = Instant::now() + Duration::from_secs(1);
            let wake = next.map_or(cap, |n| n.min(cap));
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = events.closed() => return,
            }
        }
    }
}

/// What each watched revision resolves to.
fn snapshot(watched: &WatchedRepo, refs: &RemoteRefs) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if watched.revisions.is_empty() {
        for r in &refs.refs {
            let name = r.name();
            if (name == "HEAD" || name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
                && let Some(c) = r.commit()
            {
                out.insert(name.to_owned(), c.to_owned());
            }
        }
    } else {
        for rev in &watched.revisions {
            if let Some(Resolved::Commit(c)) = refs.resolve(rev) {
                out.insert(rev.clone(), c);
            }
        }
    }
    out
}

/// Watched revision (or ref name) → commit.
type Snapshot = BTreeMap<String, String>;

type PollOutcome = Result<(Snapshot, Vec<ChangeEvent>), String>;

fn poll_one(
    cache: &RepoCache,
    watched: &WatchedRepo,
    last: Option<BTreeMap<String, String>>,
    fetch: bool,
) -> PollOutcome {
    let refs = cache.ls_refs(&watched.source).map_err(|e| e.to_string())?;
    let now = snapshot(watched, &refs);
    let Some(last) = last else {
        return Ok((now, Vec::new()));
    };
    let url = watched.source.url().to_owned();
    let repo = normalize_url(&url);
    let mut moved = Vec::new();
    let names: std::collections::BTreeSet<&String> = last.keys().chain(now.keys()).collect();
    for name in names {
        let (old, new) = (last.get(name), now.get(name));
        if old != new {
            moved.push(ChangeEvent {
                url: url.clone(),
                repo: repo.clone(),
                revision: name.clone(),
                old: old.cloned(),
                new: new.cloned(),
            });
        }
    }
    if fetch && moved.iter().any(|m| m.new.is_some()) {
        cache.fetch(&watched.source).map_err(|e| e.to_string())?;
    }
    Ok((now, moved))
}
