//! The Git webhook endpoint (`POST /api/webhook`), Argo CD's `util/webhook` counterpart.
//!
//! [`router`] returns an axum [`Router`] serving [`WEBHOOK_PATH`]; the Tether server merges it into
//! its own. A request is handled in this order:
//!
//! 1. **Provider**, from the headers (names are case-insensitive): `X-Tether-Event` (generic
//!    form), `X-Vss-ActivityId` (Azure DevOps, checked first as in Argo CD), `X-Forgejo-Event`,
//!    `X-Gitea-Event`, `X-Gogs-Event` (checked before GitHub's: Gitea also sends GitHub headers),
//!    `X-GitHub-Event`, `X-Gitlab-Event`, `X-Hook-UUID` (Bitbucket Cloud), `X-Event-Key`
//!    (Bitbucket Server). Anything else: 400.
//! 2. **Size**: a body over [`WebhookConfig::max_payload_bytes`] (50 MiB by default, Argo CD's
//!    `webhook.maxPayloadSizeMB`) gets 413 before it is read in full.
//! 3. **Authentication**, when the provider's secret is configured ([`WebhookSecrets`], the keys of
//!    `argocd-secret`): a missing or wrong signature gets 401 and nothing else happens. Comparisons
//!    are constant-time (`hmac`'s `verify_slice`, `subtle`).
//!
//!    | provider | secret key | check |
//!    |---|---|---|
//!    | GitHub | `webhook.github.secret` | `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>` |
//!    | GitLab | `webhook.gitlab.secret` | `X-Gitlab-Token` equals the secret |
//!    | Bitbucket Cloud | `webhook.bitbucket.uuid` | `X-Hook-UUID` equals the webhook's UUID |
//!    | Bitbucket Server | `webhook.bitbucketserver.secret` | `X-Hub-Signature: sha256=<hex>` |
//!    | Gogs, Gitea, Forgejo | `webhook.gogs.secret` | `X-Gogs-Signature` / `X-Gitea-Signature` / `X-Forgejo-Signature: <hex>` |
//!    | Azure DevOps | `webhook.azuredevops.username`, `webhook.azuredevops.password` | `Authorization: Basic <base64(username:password)>` (either key set requires both to match) |
//!    | generic (Tether) | `webhook.generic.secret` | `X-Tether-Signature-256: sha256=<hex>`; **required** |
//!
//! 4. **Event**: pushes (GitHub `push`, GitLab `Push Hook`/`Tag Push Hook`/`System Hook`, Bitbucket
//!    `repo:push`/`repo:refs_changed`, Gitea-family `push`, Azure DevOps `git.push` (the payload's
//!    `eventType`), generic `push`) are parsed into a [`Push`]; pings (GitHub `ping`, Bitbucket
//!    Server `diagnostics:ping`) get 200; Azure DevOps `git.pullrequest.created`/`updated`/`merged`
//!    and `build.complete` get 200 and are ignored (Argo CD parses them and ignores them); other
//!    events 400.
//!
//!    Azure DevOps (`git.push`): the repository is `resource.repository.remoteUrl` (the only URL
//!    Argo CD reads), the revision `resource.refUpdates[0].name`, before/after its
//!    `oldObjectId`/`newObjectId`; the push touched the default branch when that ref equals
//!    `resource.repository.defaultBranch`. The payload lists no changed files, so every app on the
//!    repository and revision refreshes. `remoteUrl` (`https://dev.azure.com/ORG/PROJECT/_git/REPO`,
//!    with or without `ORG@`) matches https `repoURL`s with or without the user; like Argo CD
//!    (argoproj/argo-cd#16854), ssh `repoURL`s (`git@ssh.dev.azure.com:v3/ORG/PROJECT/REPO`) do
//!    not match, and such apps are picked up by polling.
//! 5. **Matching** against the current Applications ([`crate::matching`]); the outcome goes to the
//!    channel as a [`WebhookEvent`]. A full channel gets 503, as Argo CD's full queue does.
//!
//! ## The generic form
//!
//! For Git hosts without a supported payload (or a CI job), `POST /api/webhook` with
//! `X-Tether-Event: push`, `X-Tether-Signature-256: sha256=<hex HMAC-SHA256 of the body keyed with
//! webhook.generic.secret>` and a JSON body:
//!
//! ```json
//! {
//!   "repoURL": "https://git.example.com/org/app.git",
//!   "ref": "refs/heads/main",
//!   "before": "<sha>", "after": "<sha>",
//!   "defaultBranch": "main",
//!   "changedFiles": ["apps/guestbook/deploy.yaml"],
//!   "hard": false
//! }
//! ```
//!
//! Only `repoURL` and `ref` are required. `ref` is a full ref (`refs/heads/x`, `refs/tags/v1`) or a
//! bare branch or tag name. Without `defaultBranch` the push counts as touching the default branch
//! (apps on `HEAD` refresh); without `changedFiles` every app on the repository and revision
//! refreshes; `hard: true` asks for hard refreshes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tether_model::Application;
use tokio::sync::mpsc;

use crate::matching::{MatchResult, Push, affected_apps, parse_revision};

/// Where the router serves webhooks, as in Argo CD.
pub const WEBHOOK_PATH: &str = "/api/webhook";

/// The default payload limit: 50 MiB, Argo CD's default `webhook.maxPayloadSizeMB`.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 50 * 1024 * 1024;

/// The shared secrets, one per provider. `Debug` hides them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WebhookSecrets {
    /// `webhook.github.secret`.
    pub github: Option<String>,
    /// `webhook.gitlab.secret`.
    pub gitlab: Option<String>,
    /// `webhook.bitbucket.uuid`.
    pub bitbucket_uuid: Option<String>,
    /// `webhook.bitbucketserver.secret`.
    pub bitbucket_server: Option<String>,
    /// `webhook.gogs.secret` (Gogs, Gitea and Forgejo).
    pub gogs: Option<String>,
    /// `webhook.azuredevops.username` (HTTP basic auth of Azure DevOps service hooks).
    pub azure_devops_username: Option<String>,
    /// `webhook.azuredevops.password`.
    pub azure_devops_password: Option<String>,
    /// `webhook.generic.secret` (Tether's generic form; without it the form is refused).
    pub generic: Option<String>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "***" } else { "unset" };
        f.debug_struct("WebhookSecrets")
            .field("github", &set(&self.github))
            .field("gitlab", &set(&self.gitlab))
            .field("bitbucket_uuid", &set(&self.bitbucket_uuid))
            .field("bitbucket_server", &set(&self.bitbucket_server))
            .field("gogs", &set(&self.gogs))
            .field("azure_devops_username", &set(&self.azure_devops_username))
            .field("azure_devops_password", &set(&self.azure_devops_password))
            .field("generic", &set(&self.generic))
            .finish()
    }
}

impl WebhookSecrets {
    /// The secrets from `argocd-secret`'s (decoded) data. Empty values count as unset, as in
    /// Argo CD.
    pub fn from_argocd_secret(data: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| data.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            github: get("webhook.github.secret"),
            gitlab: get("webhook.gitlab.secret"),
            bitbucket_uuid: get("webhook.bitbucket.uuid"),
            bitbucket_server: get("webhook.bitbucketserver.secret"),
            gogs: get("webhook.gogs.secret"),
            azure_devops_username: get("webhook.azuredevops.username"),
            azure_devops_password: get("webhook.azuredevops.password"),
            generic: get("webhook.generic.secret"),
        }
    }
}

/// Webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub secrets: WebhookSecrets,
    /// Larger bodies get 413.
    pub max_payload_bytes: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            secrets: WebhookSecrets::default(),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

impl WebhookConfig {
    /// Parses `argocd-cm`'s `webhook.maxPayloadSizeMB` (whole mebibytes).
    pub fn max_payload_from_argocd_cm(value: &str) -> Result<usize, String> {
        let mb: usize = value.trim().parse().map_err(|_| {
            format!("`webhook.maxPayloadSizeMB`: `{value}` is not a whole number of megabytes")
        })?;
        mb.checked_mul(1024 * 1024)
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("`webhook.maxPayloadSizeMB`: `{value}` is out of range"))
    }
}

/// The Git host a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    BitbucketCloud,
    BitbucketServer,
    Gogs,
    Gitea,
    Forgejo,
    AzureDevOps,
    Generic,
}

/// One authenticated push and what it means for the Applications.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub provider: Provider,
    pub push: Push,
    pub result: MatchResult,
    /// When the request arrived (for latency measurements).
    pub received: Instant,
}

/// Lists the Applications to match pushes against (e.g. from the controller's informer cache).
pub type AppLister = Arc<dyn Fn() -> Vec<Application> + Send + Sync>;

/// Webhook settings that may change while the router runs (`argocd-secret` edited, a secrets
/// file read again); each request reads the current ones.
pub type SharedWebhookConfig = Arc<std::sync::RwLock<WebhookConfig>>;

#[derive(Clone)]
struct HookState {
    config: SharedWebhookConfig,
    apps: AppLister,
    events: mpsc::Sender<WebhookEvent>,
}

/// The webhook router: `POST` [`WEBHOOK_PATH`]. Affected applications are sent on `events`.
pub fn router(
    config: WebhookConfig,
    apps: AppLister,
    events: mpsc::Sender<WebhookEvent>,
) -> Router {
    router_shared(Arc::new(std::sync::RwLock::new(config)), apps, events)
}

/// [`router`] with settings the caller may replace while it serves.
pub fn router_shared(
    config: SharedWebhookConfig,
    apps: AppLister,
    events: mpsc::Sender<WebhookEvent>,
) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(handle))
        .with_state(HookState {
            config,
            apps,
            events,
        })
}

/// A refusal: status and a short message (never containing a secret).
#[derive(Debug)]
struct Reject(StatusCode, String);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn reject(status: StatusCode, msg: impl Into<String>) -> Reject {
    Reject(status, msg.into())
}

async fn handle(State(state): State<HookState>, headers: HeaderMap, body: Body) -> Response {
    match handle_inner(&state, &headers, body).await {
        Ok(msg) => (StatusCode::OK, msg).into_response(),
        Err(r) => {
            if r.0 == StatusCode::UNAUTHORIZED {
                tracing::info!(status = %r.0, "webhook refused: {}", r.1);
            } else {
                tracing::debug!(status = %r.0, "webhook refused: {}", r.1);
            }
            r.into_response()
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn provider(headers: &HeaderMap) -> Option<(Provider, String)> {
    let order = [
        ("x-tether-event", Provider::Generic),
        ("x-vss-activityid", Provider::AzureDevOps),
        ("x-forgejo-event", Provider::Forgejo),
        ("x-gitea-event", Provider::Gitea),
        ("x-gogs-event", Provider::Gogs),
        ("x-github-event", Provider::GitHub),
        ("x-gitlab-event", Provider::GitLab),
        ("x-hook-uuid", Provider::BitbucketCloud),
        ("x-event-key", Provider::BitbucketServer),
    ];
    order.iter().find_map(|(h, p)| {
        header(headers, h).map(|_| {
            let event = match p {
                Provider::BitbucketCloud => header(headers, "x-event-key").unwrap_or_default(),
                // Azure DevOps names the event in the payload (`eventType`).
                Provider::AzureDevOps => "",
                _ => header(headers, h).unwrap_or_default(),
            };
            (*p, event.to_owned())
        })
    })
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, Reject> {
    let too_large = || {
        reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("payload larger than {limit} bytes"),
        )
    };
    if header(headers, "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
    {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(reject(
            StatusCode::BAD_REQUEST,
            "could not read the payload",
        )),
    }
}

/// Verifies `sig_hex` (optionally after `prefix`) as the HMAC-SHA256 of `body` under `secret`.
fn hmac_ok(secret: &str, body: &[u8], signature: Option<&str>, prefix: &str) -> bool {
    let Some(sig) = signature.and_then(|s| s.strip_prefix(prefix)) else {
        return false;
    };
    let Ok(sig) = hex::decode(sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

fn token_ok(secret: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(secret.as_bytes())))
}

/// The user name and password of an `Authorization: Basic` header (Go's `Request.BasicAuth`: the
/// scheme is case-insensitive, the credentials are standard base64 of `user:password`, split at
/// the first `:`).
fn basic_auth(headers: &HeaderMap) -> Option<(Vec<u8>, Vec<u8>)> {
    use base64::Engine as _;
    let value = header(headers, "authorization")?;
    let (scheme, encoded) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Azure DevOps' basic auth: with neither key set every request passes (as in Argo CD); with
/// either set, the request's user name and password must both equal the configured ones (an
/// unset one counts as empty). Both are compared in constant time, and both always are.
fn basic_auth_ok(username: Option<&str>, password: Option<&str>, headers: &HeaderMap) -> bool {
    if username.is_none() && password.is_none() {
        return true;
    }
    let Some((user, pass)) = basic_auth(headers) else {
        return false;
    };
    let user_ok = user.ct_eq(username.unwrap_or_default().as_bytes());
    let pass_ok = pass.ct_eq(password.unwrap_or_default().as_bytes());
    bool::from(user_ok & pass_ok)
}

fn authenticate(
    provider: Provider,
    secrets: &WebhookSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Reject> {
    let ok = match provider {
        Provider::GitHub => secrets
            .github
            .as_deref()
            .is_none_or(|s| hmac_ok(s, body, header(headers, "x-hub-signature-256"), "sha256=")),
        Provider::GitLab => secrets
            .gitlab
            .as_deref()
            .is_none_or(|s| token_ok(s, header(headers, "x-gitlab-token"))),
        Provider::BitbucketCloud => secrets
            .bitbucket_uuid
            .as_deref()
            .is_none_or(|s| token_ok(s, header(headers, "x-hook-uuid"))),
        Provider::BitbucketServer => secrets
            .bitbucket_server
            .as_deref()
            .is_none_or(|s| hmac_ok(s, body, header(headers, "x-hub-signature"), "sha256=")),
        Provider::Gogs | Provider::Gitea | Provider::Forgejo => {
            let own = match provider {
                Provider::Forgejo => "x-forgejo-signature",
                Provider::Gitea => "x-gitea-signature",
                _ => "x-gogs-signature",
            };
            secrets.gogs.as_deref().is_none_or(|s| {
                let sig = header(headers, own).or_else(|| {
                    [
                        "x-forgejo-signature",
                        "x-gitea-signature",
                        "x-gogs-signature",
                    ]
                    .iter()
                    .find_map(|h| header(headers, h))
                });
                hmac_ok(s, body, sig, "")
            })
        }
        Provider::AzureDevOps => basic_auth_ok(
            secrets.azure_devops_username.as_deref(),
            secrets.azure_devops_password.as_deref(),
            headers,
        ),
        Provider::Generic => match secrets.generic.as_deref() {
            Some(s) => hmac_ok(
                s,
                body,
                header(headers, "x-tether-signature-256"),
                "sha256=",
            ),
            None => {
                return Err(reject(
                    StatusCode::UNAUTHORIZED,
                    "the generic webhook form needs `webhook.generic.secret`",
                ));
            }
        },
    };
    if ok {
        Ok(())
    } else if provider == Provider::AzureDevOps {
        Err(reject(
            StatusCode::UNAUTHORIZED,
            "AzureDevOps webhook: missing or invalid basic auth credentials",
        ))
    } else {
        Err(reject(
            StatusCode::UNAUTHORIZED,
            format!("{provider:?} webhook: missing or invalid signature"),
        ))
    }
}

async fn handle_inner(
    state: &HookState,
    headers: &HeaderMap,
    body: Body,
) -> Result<&'static str, Reject> {
    let received = Instant::now();
    let (provider, event) = provider(headers)
        .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "unknown webhook event"))?;
    let config = state
        .config
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let body = read_body(headers, body, config.max_payload_bytes).await?;
    authenticate(provider, &config.secrets, headers, &body)?;
    // Azure DevOps names the event in the payload; the others in a header.
    let (event, parsed) = if provider == Provider::AzureDevOps {
        let v = json(&body)?;
        let event = required(&v, &["eventType"])
            .map_err(|e| reject(StatusCode::BAD_REQUEST, e))?
            .to_owned();
        (event, Some(v))
    } else {
        (event, None)
    };
    let kind = classify(provider, &event);
    let hard = match kind {
        Kind::Ping => return Ok("pong"),
        Kind::Ignored => return Ok("ignored"),
        Kind::Other => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                format!("{provider:?} event `{event}` is not handled"),
            ));
        }
        Kind::Push => false,
    };
    let payload = match parsed {
        Some(v) => v,
        None => json(&body)?,
    };
    let (push, hard) =
        parse_push(provider, &payload, hard).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
    let Some(push) = push else {
        return Ok("ignored");
    };
    let apps = (state.apps)();
    let mut result = affected_apps(&push, &apps);
    if hard {
        for r in &mut result.refresh {
            r.hard = true;
        }
    }
    tracing::info!(
        ?provider,
        repo = ?push.repo_urls,
        revision = push.revision,
        touched_head = push.touched_head,
        refresh = result.refresh.len(),
        "webhook push"
    );
    state
        .events
        .try_send(WebhookEvent {
            provider,
            push,
            result,
            received,
        })
        .map_err(|_| {
            reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue is full, discarding webhook payload",
            )
        })?;
    Ok("")
}

fn json(body: &[u8]) -> Result<Value, Reject> {
    serde_json::from_slice(body).map_err(|e| {
        reject(
            StatusCode::BAD_REQUEST,
            format!("payload is not valid JSON: {e}"),
        )
    })
}

enum Kind {
    Push,
    Ping,
    /// Known events that carry no push (answered 200, nothing refreshed).
    Ignored,
    Other,
}

fn classify(provider: Provider, event: &str) -> Kind {
    match (provider, event) {
        (Provider::GitHub, "push") => Kind::Push,
        (Provider::GitHub, "ping") => Kind::Ping,
        (Provider::GitLab, "Push Hook" | "Tag Push Hook" | "System Hook") => Kind::Push,
        (Provider::BitbucketCloud, "repo:push") => Kind::Push,
        (Provider::BitbucketServer, "repo:refs_changed") => Kind::Push,
        (Provider::BitbucketServer, "diagnostics:ping") => Kind::Ping,
        (Provider::Gogs | Provider::Gitea | Provider::Forgejo, "push") => Kind::Push,
        (Provider::AzureDevOps, "git.push") => Kind::Push,
        (
            Provider::AzureDevOps,
            "git.pullrequest.created"
            | "git.pullrequest.updated"
            | "git.pullrequest.merged"
            | "build.complete",
        ) => Kind::Ignored,
        (Provider::Generic, "push") => Kind::Push,
        _ => Kind::Other,
    }
}

fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    at(v, path).and_then(Value::as_str)
}

fn required<'v>(v: &'v Value, path: &[&str]) -> Result<&'v str, String> {
    str_at(v, path).ok_or_else(|| format!("payload: missing string field `{}`", path.join(".")))
}

fn commit_files(v: &Value) -> Vec<String> {
    let mut files = Vec::new();
    for c in v
        .get("commits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for k in ["added", "modified", "removed"] {
            for f in c.get(k).and_then(Value::as_array).into_iter().flatten() {
                if let Some(f) = f.as_str() {
                    files.push(f.to_owned());
                }
            }
        }
    }
    files
}

fn sha(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads a push from a provider's payload. `Ok((None, _))` for payloads that carry no push (a
/// GitLab system hook of another kind, a Bitbucket push without changes).
fn parse_push(provider: Provider, v: &Value, hard: bool) -> Result<(Option<Push>, bool), String> {
    let push = match provider {
        Provider::GitHub | Provider::Gogs | Provider::Gitea | Provider::Forgejo => {
            let revision = parse_revision(required(v, &["ref"])?).to_owned();
            Push {
                repo_urls: vec![required(v, &["repository", "html_url"])?.to_owned()],
                touched_head: str_at(v, &["repository", "default_branch"]) == Some(&revision),
                revision,
                before: sha(str_at(v, &["before"])),
                after: sha(str_at(v, &["after"])),
                changed_files: commit_files(v),
            }
        }
        Provider::GitLab => {
            if let Some(kind) = str_at(v, &["object_kind"])
                && !matches!(kind, "push" | "tag_push")
            {
                return Ok((None, hard));
            }
            let revision = parse_revision(required(v, &["ref"])?).to_owned();
            Push {
                repo_urls: vec![required(v, &["project", "web_url"])?.to_owned()],
                touched_head: str_at(v, &["project", "default_branch"]) == Some(&revision),
                revision,
                before: sha(str_at(v, &["before"])),
                after: sha(str_at(v, &["after"])),
                changed_files: commit_files(v),
            }
        }
        Provider::BitbucketCloud => {
            let url = required(v, &["repository", "links", "html", "href"])?.to_owned();
            let Some(change) = at(v, &["push", "changes"])
                .and_then(Value::as_array)
                .and_then(|c| c.first())
            else {
                return Ok((None, hard));
            };
            // Only the first change, as Argo CD; a deleted branch has no `new`.
            let name =
                str_at(change, &["new", "name"]).or_else(|| str_at(change, &["old", "name"]));
            let Some(name) = name else {
                return Err("payload: missing string field `push.changes[0].new.name`".into());
            };
            Push {
                repo_urls: vec![url],
                revision: name.to_owned(),
                before: sha(str_at(change, &["old", "target", "hash"])),
                after: sha(str_at(change, &["new", "target", "hash"])),
                // The payload does not say; `HEAD` apps check for themselves.
                touched_head: true,
                changed_files: Vec::new(),
            }
        }
        Provider::BitbucketServer => {
            let mut urls = Vec::new();
            for l in at(v, &["repository", "links", "clone"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if matches!(str_at(l, &["name"]), Some("http" | "ssh"))
                    && let Some(h) = str_at(l, &["href"])
                {
                    urls.push(h.to_owned());
                }
            }
            let Some(change) = v
                .get("changes")
                .and_then(Value::as_array)
                .and_then(|c| c.first())
            else {
                return Ok((None, hard));
            };
            Push {
                repo_urls: urls,
                revision: parse_revision(required(change, &["ref", "id"])?).to_owned(),
                before: sha(str_at(change, &["fromHash"])),
                after: sha(str_at(change, &["toHash"])),
                touched_head: true,
                changed_files: Vec::new(),
            }
        }
        Provider::AzureDevOps => {
            let repo = required(v, &["resource", "repository", "remoteUrl"])?.to_owned();
            // Only the first ref update, as Argo CD; a push always has one, but do not trust it.
            let Some(update) = at(v, &["resource", "refUpdates"])
                .and_then(Value::as_array)
                .and_then(|u| u.first())
            else {
                return Ok((None, hard));
            };
            let name = str_at(update, &["name"])
                .ok_or("payload: missing string field `resource.refUpdates[0].name`")?;
            Push {
                repo_urls: vec![repo],
                revision: parse_revision(name).to_owned(),
                // `defaultBranch` is a full ref (`refs/heads/main`), like `name`.
                touched_head: str_at(v, &["resource", "repository", "defaultBranch"]) == Some(name),
                before: sha(str_at(update, &["oldObjectId"])),
                after: sha(str_at(update, &["newObjectId"])),
                // Not in the payload (Argo CD asks Azure's API when basic auth is configured).
                changed_files: Vec::new(),
            }
        }
        Provider::Generic => {
            let r = required(v, &["ref"])?;
            let revision = if r.starts_with("refs/") {
                parse_revision(r)
            } else {
                r
            }
            .to_owned();
            let mut changed_files = Vec::new();
            if let Some(files) = v.get("changedFiles") {
                let files = files
                    .as_array()
                    .ok_or("payload: `changedFiles` must be a list of strings")?;
                for (i, f) in files.iter().enumerate() {
                    changed_files.push(
                        f.as_str()
                            .ok_or_else(|| {
                                format!("payload: `changedFiles[{i}]` must be a string")
                            })?
                            .to_owned(),
                    );
                }
            }
            let hard = match v.get("hard") {
                None | Some(Value::Null) => hard,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err("payload: `hard` must be true or false".into()),
            };
            let push = Push {
                repo_urls: vec![required(v, &["repoURL"])?.to_owned()],
                touched_head: str_at(v, &["defaultBranch"]).is_none_or(|d| d == revision),
                revision,
                before: sha(str_at(v, &["before"])),
                after: sha(str_at(v, &["after"])),
                changed_files,
            };
            return Ok((Some(push), hard));
        }
    };
    Ok((Some(push), hard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn provider_detection_order() {
        let gitea = headers(&[
            ("x-github-event", "push"),
            ("x-gitea-event", "push"),
            ("x-gogs-event", "push"),
        ]);
        assert_eq!(provider(&gitea).map(|p| p.0), Some(Provider::Gitea));
        let bb = headers(&[("x-hook-uuid", "u"), ("x-event-key", "repo:push")]);
        assert_eq!(
            provider(&bb),
            Some((Provider::BitbucketCloud, "repo:push".into()))
        );
        let bbs = headers(&[("x-event-key", "repo:refs_changed")]);
        assert_eq!(provider(&bbs).map(|p| p.0), Some(Provider::BitbucketServer));
        assert_eq!(provider(&headers(&[("x-other", "x")])), None);
    }

    #[test]
    fn signatures() {
        let body = b"{\"a\":1}";
        let good = sign("s3cret", body);
        assert!(hmac_ok(
            "s3cret",
            body,
            Some(&format!("sha256={good}")),
            "sha256="
        ));
        assert!(
            !hmac_ok("s3cret", body, Some(&good), "sha256="),
            "prefix required"
        );
        assert!(!hmac_ok(
            "other",
            body,
            Some(&format!("sha256={good}")),
            "sha256="
        ));
        assert!(!hmac_ok(
            "s3cret",
            b"{\"a\":2}",
            Some(&format!("sha256={good}")),
            "sha256="
        ));
        assert!(!hmac_ok("s3cret", body, Some("sha256=zz"), "sha256="));
        assert!(!hmac_ok("s3cret", body, None, "sha256="));
        assert!(token_ok("t", Some("t")));
        assert!(!token_ok("t", Some("t2")));
        assert!(!token_ok("t", None));
    }

    #[test]
    fn unset_secrets_accept_unsigned_except_generic() {
        let s = WebhookSecrets::default();
        let h = HeaderMap::new();
        assert!(authenticate(Provider::GitHub, &s, &h, b"").is_ok());
        assert!(authenticate(Provider::GitLab, &s, &h, b"").is_ok());
        assert_eq!(
            authenticate(Provider::Generic, &s, &h, b"").map_err(|r| r.0),
            Err(StatusCode::UNAUTHORIZED)
        );
    }

    #[test]
    fn secrets_from_argocd_secret_and_debug_hides_them() {
        let data = BTreeMap::from([
            ("webhook.github.secret".to_owned(), "gh-s3cret".to_owned()),
            ("webhook.gitlab.secret".to_owned(), String::new()),
        ]);
        let s = WebhookSecrets::from_argocd_secret(&data);
        assert_eq!(s.github.as_deref(), Some("gh-s3cret"));
        assert_eq!(s.gitlab, None, "empty means unset");
        assert!(!format!("{s:?}").contains("gh-s3cret"));
    }

    #[test]
    fn max_payload_setting() {
        assert_eq!(WebhookConfig::max_payload_from_argocd_cm("1"), Ok(1 << 20));
        assert!(WebhookConfig::max_payload_from_argocd_cm("x").is_err());
        assert!(WebhookConfig::max_payload_from_argocd_cm("0").is_err());
    }

    #[test]
    fn generic_payload_fields() {
        let v: Value = serde_json::json!({
            "repoURL": "https://h/o/r.git", "ref": "feature/x",
            "defaultBranch": "main", "changedFiles": ["a"], "hard": true
        });
        let (push, hard) = parse_push(Provider::Generic, &v, false).expect("parse");
        let push = push.expect("push");
        assert_eq!(push.revision, "feature/x", "bare names are kept whole");
        assert!(!push.touched_head);
        assert!(hard);
        let bad = serde_json::json!({"repoURL": "u", "ref": "main", "changedFiles": [1]});
        assert_eq!(
            parse_push(Provider::Generic, &bad, false).err().as_deref(),
            Some("payload: `changedFiles[0]` must be a string")
        );
        let missing = serde_json::json!({"ref": "main"});
        assert_eq!(
            parse_push(Provider::Generic, &missing, false)
                .err()
                .as_deref(),
            Some("payload: missing string field `repoURL`")
        );
    }

    /// An Azure DevOps `git.push` service-hook payload (resource version 1.0, the documented
    /// shape), pushing `reference` of contoso/platform/gitops from `old` to `new`.
    fn azure_push(reference: &str, old: &str, new: &str) -> Value {
        serde_json::json!({
            "subscriptionId": "5e3c1b5a-61c4-4b53-a2a1-0d2f7b8f4c11",
            "notificationId": 7,
            "id": "2f0b6f0e-3f0c-4f44-9b0a-5b8d2c1e7a90",
            "eventType": "git.push",
            "publisherId": "tfs",
            "message": {
                "text": "Ada Lovelace pushed updates to gitops:main\r\n(https://dev.azure.com/contoso/platform/_git/gitops/#version=GBmain)"
            },
            "resource": {
                "commits": [{
                    "commitId": new,
                    "author": {"name": "Ada Lovelace", "email": "ada@contoso.com", "date": "2026-11-27T09:12:03Z"},
                    "committer": {"name": "Ada Lovelace", "email": "ada@contoso.com", "date": "2026-11-27T09:12:03Z"},
                    "comment": "api: bump image to 1.4.2",
                    "url": format!("https://dev.azure.com/contoso/_apis/git/repositories/6c2b4d1e-8a8f-4f4e-9f0a-2b7c1d3e4f50/commits/{new}")
                }],
                "refUpdates": [{"name": reference, "oldObjectId": old, "newObjectId": new}],
                "repository": {
                    "id": "6c2b4d1e-8a8f-4f4e-9f0a-2b7c1d3e4f50",
                    "name": "gitops",
                    "url": "https://dev.azure.com/contoso/_apis/git/repositories/6c2b4d1e-8a8f-4f4e-9f0a-2b7c1d3e4f50",
                    "project": {
                        "id": "a1d3c5e7-0b2d-4f6a-8c9e-1f3a5b7d9e0c",
                        "name": "platform",
                        "url": "https://dev.azure.com/contoso/_apis/projects/a1d3c5e7-0b2d-4f6a-8c9e-1f3a5b7d9e0c",
                        "state": "wellFormed"
                    },
                    "defaultBranch": "refs/heads/main",
                    "remoteUrl": "https://contoso@dev.azure.com/contoso/platform/_git/gitops"
                },
                "pushedBy": {"displayName": "Ada Lovelace", "uniqueName": "ada@contoso.com"},
                "pushId": 412,
                "date": "2026-11-27T09:12:05.1234567Z",
                "url": "https://dev.azure.com/contoso/_apis/git/repositories/6c2b4d1e-8a8f-4f4e-9f0a-2b7c1d3e4f50/pushes/412"
            },
            "resourceVersion": "1.0",
            "resourceContainers": {
                "collection": {"id": "c0ffee00-0000-4000-8000-000000000001", "baseUrl": "https://dev.azure.com/contoso/"},
                "account": {"id": "c0ffee00-0000-4000-8000-000000000002", "baseUrl": "https://dev.azure.com/contoso/"},
                "project": {"id": "a1d3c5e7-0b2d-4f6a-8c9e-1f3a5b7d9e0c", "baseUrl": "https://dev.azure.com/contoso/"}
            },
            "createdDate": "2026-11-27T09:12:07.7654321Z"
        })
    }

    const OLD: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    const NEW: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";

    #[test]
    fn azure_devops_push_payload() {
        let v = azure_push("refs/heads/main", OLD, NEW);
        let (push, hard) = parse_push(Provider::AzureDevOps, &v, false).expect("parse");
        assert!(!hard);
        assert_eq!(
            push,
            Some(Push {
                repo_urls: vec![
                    "https://contoso@dev.azure.com/contoso/platform/_git/gitops".into()
                ],
                revision: "main".into(),
                before: Some(OLD.into()),
                after: Some(NEW.into()),
                touched_head: true,
                changed_files: Vec::new(),
            })
        );

        let v = azure_push("refs/heads/feature/api-limits", OLD, NEW);
        let push = parse_push(Provider::AzureDevOps, &v, false)
            .expect("parse")
            .0
            .expect("push");
        assert_eq!(push.revision, "feature/api-limits");
        assert!(!push.touched_head, "not the default branch");

        let v = azure_push("refs/tags/v1.4.2", "0".repeat(40).as_str(), NEW);
        let push = parse_push(Provider::AzureDevOps, &v, false)
            .expect("parse")
            .0
            .expect("push");
        assert_eq!(push.revision, "v1.4.2");
        assert!(!push.touched_head);

        let mut no_updates = azure_push("refs/heads/main", OLD, NEW);
        no_updates["resource"]["refUpdates"] = serde_json::json!([]);
        assert_eq!(
            parse_push(Provider::AzureDevOps, &no_updates, false),
            Ok((None, false))
        );

        let mut no_url = azure_push("refs/heads/main", OLD, NEW);
        no_url["resource"]["repository"]
            .as_object_mut()
            .expect("object")
            .remove("remoteUrl");
        assert_eq!(
            parse_push(Provider::AzureDevOps, &no_url, false)
                .err()
                .as_deref(),
            Some("payload: missing string field `resource.repository.remoteUrl`")
        );
        let mut no_name = azure_push("refs/heads/main", OLD, NEW);
        no_name["resource"]["refUpdates"][0]
            .as_object_mut()
            .expect("object")
            .remove("name");
        assert_eq!(
            parse_push(Provider::AzureDevOps, &no_name, false)
                .err()
                .as_deref(),
            Some("payload: missing string field `resource.refUpdates[0].name`")
        );
    }

    #[test]
    fn azure_devops_events() {
        assert!(matches!(
            classify(Provider::AzureDevOps, "git.push"),
            Kind::Push
        ));
        for ignored in [
            "git.pullrequest.created",
            "git.pullrequest.updated",
            "git.pullrequest.merged",
            "build.complete",
        ] {
            assert!(matches!(
                classify(Provider::AzureDevOps, ignored),
                Kind::Ignored
            ));
        }
        for other in ["workitem.updated", "push", "Git.Push", ""] {
            assert!(matches!(
                classify(Provider::AzureDevOps, other),
                Kind::Other
            ));
        }
    }

    #[test]
    fn azure_devops_detection_is_case_insensitive_and_first() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::HeaderName::from_bytes(b"X-VSS-ActivityId").expect("name"),
            HeaderValue::from_static("a3c1f0e2-5b7d-4e9f-8a1c-3d5e7f9b1c2d"),
        );
        assert_eq!(provider(&h), Some((Provider::AzureDevOps, String::new())));
        h.insert("x-github-event", HeaderValue::from_static("push"));
        assert_eq!(provider(&h).map(|p| p.0), Some(Provider::AzureDevOps));
        // An empty header names no provider, as `Header.Get(...) != ""` in Argo CD.
        let empty = headers(&[("x-vss-activityid", "")]);
        assert_eq!(provider(&empty), None);
    }

    fn basic(user: &str, password: &str) -> String {
        use base64::Engine as _;
        let creds = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    }

    #[test]
    fn azure_devops_basic_auth() {
        let secrets = WebhookSecrets {
            azure_devops_username: Some("argo".into()),
            azure_devops_password: Some("az-p4ss:word".into()),
            ..Default::default()
        };
        let auth = |h: &HeaderMap| authenticate(Provider::AzureDevOps, &secrets, h, b"{}");
        let good = basic("argo", "az-p4ss:word");
        assert!(auth(&headers(&[("authorization", &good)])).is_ok());
        let lower = good.replacen("Basic", "basic", 1);
        assert!(
            auth(&headers(&[("authorization", &lower)])).is_ok(),
            "the scheme is case-insensitive"
        );
        for bad in [
            basic("argo", "wrong"),
            basic("other", "az-p4ss:word"),
            basic("argo", "az-p4ss"),
            basic("", ""),
            "Basic not-base64!".into(),
            "Basic YXJnbw==".into(), // `argo`, no colon
            "Bearer az-p4ss:word".into(),
            good.trim_start_matches("Basic ").to_owned(),
        ] {
            let r = auth(&headers(&[("authorization", &bad)])).expect_err(&bad);
            assert_eq!(r.0, StatusCode::UNAUTHORIZED, "{bad}");
            assert!(!r.1.contains("az-p4ss") && !r.1.contains("argo"), "{}", r.1);
        }
        assert_eq!(
            auth(&HeaderMap::new()).map_err(|r| r.0),
            Err(StatusCode::UNAUTHORIZED)
        );
        // Other providers' checks do not accept basic auth.
        let gh = WebhookSecrets {
            github: Some("gh".into()),
            ..Default::default()
        };
        assert!(
            authenticate(
                Provider::GitHub,
                &gh,
                &headers(&[("authorization", &basic("gh", "gh"))]),
                b"{}"
            )
            .is_err()
        );

        // Unset: accepted without credentials. Only one key set: the other must be empty.
        let open = WebhookSecrets::default();
        assert!(authenticate(Provider::AzureDevOps, &open, &HeaderMap::new(), b"").is_ok());
        let pw_only = WebhookSecrets {
            azure_devops_password: Some("pw".into()),
            ..Default::default()
        };
        let ok = headers(&[("authorization", &basic("", "pw"))]);
        assert!(authenticate(Provider::AzureDevOps, &pw_only, &ok, b"").is_ok());
        let named = headers(&[("authorization", &basic("someone", "pw"))]);
        assert!(authenticate(Provider::AzureDevOps, &pw_only, &named, b"").is_err());
        assert!(authenticate(Provider::AzureDevOps, &pw_only, &HeaderMap::new(), b"").is_err());
    }

    #[test]
    fn azure_devops_secrets_from_argocd_secret() {
        let data = BTreeMap::from([
            (
                "webhook.azuredevops.username".to_owned(),
                "argo-hook".to_owned(),
            ),
            (
                "webhook.azuredevops.password".to_owned(),
                "az-s3cret".to_owned(),
            ),
        ]);
        let s = WebhookSecrets::from_argocd_secret(&data);
        assert_eq!(s.azure_devops_username.as_deref(), Some("argo-hook"));
        assert_eq!(s.azure_devops_password.as_deref(), Some("az-s3cret"));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("argo-hook") && !debug.contains("az-s3cret"),
            "{debug}"
        );
        assert!(debug.contains("azure_devops_password: \"***\""), "{debug}");
        let empty = BTreeMap::from([("webhook.azuredevops.password".to_owned(), String::new())]);
        assert_eq!(
            WebhookSecrets::from_argocd_secret(&empty).azure_devops_password,
            None
        );
    }
}
