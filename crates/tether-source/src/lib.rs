//! Tether's source service around the Git cache: noticing new commits and not redoing work.
//!
//! This is the counterpart of Argo CD's webhook handler (`util/webhook`) and the change-detection and
//! manifest-cache parts of its repo-server (`reposerver/cache`):
//!
//! - [`matching`]: which Applications a push affects — repository URL, `targetRevision` against the
//!   pushed branch or tag, changed files against the `argocd.argoproj.io/manifest-generate-paths`
//!   annotation — with Argo CD's semantics.
//! - [`webhook`]: an axum [`Router`](axum::Router) for `/api/webhook` that verifies GitHub, GitLab,
//!   Bitbucket Cloud and Server, Gitea/Forgejo/Gogs and a generic HMAC form, then emits the
//!   applications to refresh on a channel.
//! - [`poller`]: cheap `ls-refs` polling of many repositories with interval, jitter, bounded
//!   concurrency and per-repository backoff, fetching only when a watched revision moved.
//! - [`manifest_cache`]: rendered manifests keyed by (repository, commit, path, parameters hash,
//!   renderer version), LRU in memory with a size bound, optionally on disk.

pub mod manifest_cache;
pub mod matching;
pub mod poller;
pub mod webhook;

pub use manifest_cache::{
    ManifestCache, ManifestKey, Manifests, RenderError, params_digest, render_at_commit,
};
pub use matching::{CarryForward, MatchResult, Push, Refresh, affected_apps, apps_for_change};
pub use poller::{ChangeEvent, Poller, PollerConfig, RepoStatus, WatchedRepo};
pub use webhook::{
    AppLister, Provider, SharedWebhookConfig, WEBHOOK_PATH, WebhookConfig, WebhookEvent,
    WebhookSecrets, router, router_shared,
};
