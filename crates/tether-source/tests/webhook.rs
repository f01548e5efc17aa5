//! The webhook router served on loopback, fed real-shaped provider payloads over real HTTP, signed
//! right and wrong.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tether_model::annotations::MANIFEST_GENERATE_PATHS;
use tether_model::source::ApplicationSource;
use tether_model::{Application, ApplicationSpec};
use tether_source::webhook::DEFAULT_MAX_PAYLOAD_BYTES;
use tether_source::{WEBHOOK_PATH, WebhookConfig, WebhookEvent, WebhookSecrets, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/webhook/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).expect("fixture")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn app(name: &str, repo: &str, rev: &str, path: &str, paths: Option<&str>) -> Application {
    let mut a = Application::new(
        name,
        ApplicationSpec {
            source: Some(ApplicationSource {
                repo_url: repo.into(),
                target_revision: Some(rev.into()),
                path: Some(path.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    a.metadata.namespace = Some("argocd".into());
    if let Some(p) = paths {
        a.metadata.annotations = Some(BTreeMap::from([(
            MANIFEST_GENERATE_PATHS.to_owned(),
            p.to_owned(),
        )]));
    }
    a
}

fn apps() -> Vec<Application> {
    let gh = "https://github.com/argoproj/argocd-example-apps.git";
    let gl = "git@gitlab.example.com:platform/deployments.git";
    vec![
        app("guestbook", gh, "HEAD", "guestbook", Some(".")),
        app("helm-guestbook", gh, "HEAD", "helm-guestbook", Some(".")),
        app(
            "everything-on-master",
            gh,
            "master",
            "kustomize-guestbook",
            None,
        ),
        app("on-a-branch", gh, "feature", "guestbook", None),
        app("api-prod", gl, "main", "envs/prod/api", Some(".")),
        app("web-prod", gl, "main", "envs/prod/web", Some(".")),
        app("tagged", gl, "v1.2.0", "envs/prod/api", None),
        app(
            "bitbucket",
            "https://jroe@bitbucket.org/acme/gitops.git",
            "main",
            "web",
            None,
        ),
        app(
            "bitbucket-server",
            "https://bitbucket.example.com/scm/ops/gitops.git",
            "release/2026.11",
            "x",
            None,
        ),
        app(
            "monitoring",
            "https://gitea.example.com/infra/apps.git",
            "HEAD",
            "monitoring",
            Some("."),
        ),
        app(
            "logging",
            "https://gitea.example.com/infra/apps.git",
            "HEAD",
            "logging",
            Some("."),
        ),
        app(
            "generic",
            "https://git.example.com/org/app.git",
            "main",
            "deploy",
            Some("."),
        ),
        app(
            "azure-api",
            "https://dev.azure.com/contoso/platform/_git/gitops",
            "main",
            "apps/api",
            Some("."),
        ),
        app(
            "azure-web",
            "https://contoso@dev.azure.com/contoso/platform/_git/gitops",
            "HEAD",
            "apps/web",
            None,
        ),
        app(
            "azure-ssh",
            "git@ssh.dev.azure.com:v3/contoso/platform/gitops",
            "main",
            "apps/db",
            None,
        ),
        app(
            "azure-branch",
            "https://dev.azure.com/contoso/platform/_git/gitops",
            "feature/api-limits",
            "apps/api",
            None,
        ),
    ]
}

struct Hook {
    base: String,
    rx: mpsc::Receiver<WebhookEvent>,
    client: reqwest::Client,
}

impl Hook {
    async fn start(secrets: WebhookSecrets, max_payload_bytes: usize) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let config = WebhookConfig {
            secrets,
            max_payload_bytes,
        };
        let list: tether_source::AppLister = Arc::new(apps);
        let app = router(config, list, tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{addr}"),
            rx,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, headers: &[(&str, &str)], body: Vec<u8>) -> u16 {
        let mut req = self
            .client
            .post(format!("{}{WEBHOOK_PATH}", self.base))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    /// The event the last request produced; panics when there was none.
    fn event(&mut self) -> WebhookEvent {
        self.rx.try_recv().expect("an event")
    }

    fn no_event(&mut self) {
        assert!(self.rx.try_recv().is_err(), "nothing may happen");
    }
}

fn secrets() -> WebhookSecrets {
    WebhookSecrets {
        github: Some("gh-secret".into()),
        gitlab: Some("gl-token".into()),
        bitbucket_uuid: Some("{82f8a0b5-1f35-4e3c-bb1f-2a6d2fd8b9a0}".into()),
        bitbucket_server: Some("bbs-secret".into()),
        gogs: Some("gitea-secret".into()),
        azure_devops_username: Some("argo-hook".into()),
        azure_devops_password: Some("az-p4ssw0rd".into()),
        generic: Some("generic-secret".into()),
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn github_push_ping_and_bad_signatures() {
    let mut hook = Hook::start(secrets(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let body = fixture("github-push.json");
    let sig = format!("sha256={}", sign("gh-secret", &body));
    let status = hook
        .post(
            &[
                ("x-github-event", "push"),
                ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                ("x-hub-signature-256", &sig),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let ev = hook.event();
    assert_eq!(ev.push.revision, "master");
    assert!(ev.push.touched_head);
    assert_eq!(
        ev.push.changed_files,
        vec!["guestbook/guestbook-ui-deployment.yaml"]
    );
    assert_eq!(ev.result.names(), vec!["everything-on-master", "guestbook"]);
    assert_eq!(ev.result.refresh[0].namespace.as_deref(), Some("argocd"));
    assert_eq!(ev.result.carry_forward.len(), 1);
    assert_eq!(ev.result.carry_forward[0].name, "helm-guestbook");
    assert_eq!(
        ev.result.carry_forward[0].after,
        "63738bb582c8b540af7bcfc18f87c575c3ed66e0"
    );

    // Wrong secret, tampered body, missing header, signature without its `sha256=` prefix.
    let wrong = format!("sha256={}", sign("not-the-secret", &body));
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let bare = sign("gh-secret", &body);
    for (headers, body) in [
        (
            vec![
                ("x-github-event", "push"),
                ("x-hub-signature-256", wrong.as_str()),
            ],
            body.clone(),
        ),
        (
            vec![
                ("x-github-event", "push"),
                ("x-hub-signature-256", sig.as_str()),
            ],
            tampered,
        ),
        (vec![("x-github-event", "push")], body.clone()),
        (
            vec![
                ("x-github-event", "push"),
                ("x-hub-signature-256", bare.as_str()),
            ],
            body.clone(),
        ),
    ] {
        assert_eq!(hook.post(&headers, body).await, 401);
        hook.no_event();
    }

    // Ping: 200, nothing to refresh. Unsigned ping: 401.
    let ping = fixture("github-ping.json");
    let sig = format!("sha256={}", sign("gh-secret", &ping));
    let status = hook
        .post(
            &[("x-github-event", "ping"), ("x-hub-signature-256", &sig)],
            ping.clone(),
        )
        .await;
    assert_eq!(status, 200);
    hook.no_event();
    assert_eq!(hook.post(&[("x-github-event", "ping")], ping).await, 401);

    // Another event kind, signed: 400.
    let sig = format!("sha256={}", sign("gh-secret", b"{}"));
    let status = hook
        .post(
            &[("x-github-event", "issues"), ("x-hub-signature-256", &sig)],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    hook.no_event();
}

#[tokio::test]
async fn github_without_a_secret_accepts_unsigned_pushes() {
    let mut hook = Hook::start(WebhookSecrets::default(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let status = hook
        .post(&[("x-github-event", "push")], fixture("github-push.json"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        hook.event().result.names(),
        vec!["everything-on-master", "guestbook"]
    );
}

#[tokio::test]
async fn gitlab_push_and_tag_push() {
    let mut hook = Hook::start(secrets(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let status = hook
        .post(
            &[
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-token", "gl-token"),
            ],
            fixture("gitlab-push.json"),
        )
        .await;
    assert_eq!(status, 200);
    let ev = hook.event();
    assert_eq!(ev.result.names(), vec!["api-prod"]);
    assert_eq!(ev.push.changed_files.len(), 3);
    assert_eq!(ev.result.carry_forward.len(), 1, "web-prod");

    let status = hook
        .post(
            &[
                ("x-gitlab-event", "Tag Push Hook"),
                ("x-gitlab-token", "gl-token"),
            ],
            fixture("gitlab-tag-push.json"),
        )
        .await;
    assert_eq!(status, 200);
    let ev = hook.event();
    assert_eq!(ev.push.revision, "v1.2.0");
    assert_eq!(ev.result.names(), vec!["tagged"]);

    for token in [Some("wrong"), Some("gl-token "), None] {
        let mut headers = vec![("x-gitlab-event", "Push Hook")];
        if let Some(t) = token {
            headers.push(("x-gitlab-token", t));
        }
        // `gl-token ` with a trailing space is trimmed by HTTP header parsing; only the wrong
        // token and the missing header are refused.
        let want = if token == Some("gl-token ") { 200 } else { 401 };
        assert_eq!(hook.post(&headers, fixture("gitlab-push.json")).await, want);
        if want == 401 {
            hook.no_event();
        } else {
            hook.event();
        }
    }
}

#[tokio::test]
async fn bitbucket_cloud_and_server() {
    let mut hook = Hook::start(secrets(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let uuid = "{82f8a0b5-1f35-4e3c-bb1f-2a6d2fd8b9a0}";
    let status = hook
        .post(
            &[
                ("x-event-key", "repo:push"),
                ("x-hook-uuid", uuid),
                ("x-request-uuid", "0b0b6e58-0000-4f0e-9b8d-000000000000"),
                ("user-agent", "Bitbucket-Webhooks/2.0"),
            ],
            fixture("bitbucket-push.json"),
        )
        .await;
    assert_eq!(status, 200);
    let ev = hook.event();
    assert_eq!(ev.push.revision, "main");
    assert!(ev.push.changed_files.is_empty());
    assert_eq!(ev.result.names(), vec!["bitbucket"]);

    let status = hook
        .post(
            &[
                ("x-event-key", "repo:push"),
                ("x-hook-uuid", "{00000000-0000-0000-0000-000000000000}"),
            ],
            fixture("bitbucket-push.json"),
        )
        .await;
    assert_eq!(status, 401);
    hook.no_event();

    let body = fixture("bitbucket-server-refs-changed.json");
    let sig = format!("sha256={}", sign("bbs-secret", &body));
    let status = hook
        .post(
            &[
                ("x-event-key", "repo:refs_changed"),
                ("x-hub-signature", &sig),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let ev = hook.event();
    assert_eq!(ev.push.revision, "release/2026.11");
    assert_eq!(ev.result.names(), vec!["bitbucket-server"]);

    let bad = format!("sha256={}", sign("nope", &body));
    let status = hook
        .post(
            &[
                ("x-event-key", "repo:refs_changed"),
                ("x-hub-signature", &bad),
            ],
            body,
        )
        .await;
    assert_eq!(status, 401);
    hook.no_event();
}

#[tokio::test]
async fn gitea_forgejo_and_gogs() {
    let mut hook = Hook::start(secrets(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let body = fixture("gitea-push.json");
    let sig = sign("gitea-secret", &body);
    // Gitea sends its own headers and GitHub's and Gogs' (with GitHub's signature format too).
    let github_sig = format!("sha256={}", sign("gitea-secret", &body));
    for headers in [
        vec![
            ("x-gitea-event", "push"),
            ("x-gitea-signature", sig.as_str()),
            ("x-gogs-event", "push"),
            ("x-gogs-signature", sig.as_str()),
            ("x-github-event", "push"),
            ("x-hub-signature-256", github_sig.as_str()),
        ],
        vec![
            ("x-forgejo-event", "push"),
            ("x-forgejo-signature", sig.as_str()),
        ],
        vec![("x-gogs-event", "push"), ("x-gogs-signature", sig.as_str())],
    ] {
        assert_eq!(hook.post(&headers, body.clone()).await, 200, "{headers:?}");
        let ev = hook.event();
        assert_eq!(ev.result.names(), vec!["monitoring"]);
        assert_eq!(ev.result.carry_forward[0].name, "logging");
    }
    let wrong = sign("wrong", &body);
    for headers in [
        vec![
            ("x-gitea-event", "push"),
            ("x-gitea-signature", wrong.as_str()),
        ],
        vec![
            ("x-forgejo-event", "push"),
            ("x-forgejo-signature", wrong.as_str()),
        ],
        vec![("x-forgejo-event", "push")],
    ] {
        assert_eq!(hook.post(&headers, body.clone()).await, 401, "{headers:?}");
        hook.no_event();
    }
}

#[tokio::test]
async fn generic_hmac_form() {
    let mut hook = Hook::start(secrets(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let body = serde_json::to_vec(&serde_json::json!({
        "repoURL": "https://git.example.com/org/app",
        "ref": "refs/heads/main",
        "before": "1111111111111111111111111111111111111111",
        "after": "2222222222222222222222222222222222222222",
        "changedFiles": ["deploy/app.yaml"],
        "hard": true
    }))
    .expect("json");
    let sig = format!("sha256={}", sign("generic-secret", &body));
    let status = hook
        .post(
            &[("x-tether-event", "push"), ("x-tether-signature-256", &sig)],
            body.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let ev = hook.event();
    assert_eq!(ev.result.names(), vec!["generic"]);
    assert!(ev.result.refresh[0].hard);

    assert_eq!(
        hook.post(&[("x-tether-event", "push")], body.clone()).await,
        401
    );
    hook.no_event();

    // Without `webhook.generic.secret` the form is refused even when "signed" with an empty key.
    let mut open = Hook::start(WebhookSecrets::default(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let sig = format!("sha256={}", sign("", &body));
    let status = open
        .post(
            &[("x-tether-event", "push"), ("x-tether-signature-256", &sig)],
            body,
        )
        .await;
    assert_eq!(status, 401);
    open.no_event();

    // A signed but malformed payload: 400 naming the field.
    let bad = br#"{"ref":"main"}"#.to_vec();
    let sig = format!("sha256={}", sign("generic-secret", &bad));
    let resp = hook
        .client
        .post(format!("{}{WEBHOOK_PATH}", hook.base))
        .header("x-tether-event", "push")
        .header("x-tether-signature-256", sig)
        .body(bad)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let text = resp.text().await.expect("text");
    assert!(text.contains("`repoURL`"), "{text}");
    hook.no_event();
}

#[tokio::test]
async fn size_limit_unknown_events_and_methods() {
    let mut hook = Hook::start(secrets(), 1024).await;
    let big = vec![b' '; 2048];
    let sig = format!("sha256={}", sign("gh-secret", &big));
    assert_eq!(
        hook.post(
            &[("x-github-event", "push"), ("x-hub-signature-256", &sig)],
            big
        )
        .await,
        413
    );
    hook.no_event();

    // Chunked, without Content-Length: the limit is enforced while reading.
    let addr = hook.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut req = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nhost: {addr}\r\nx-github-event: push\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..4 {
        req.extend_from_slice(b"200\r\n");
        req.extend_from_slice(&[b' '; 0x200]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&req).await.expect("write");
    let mut resp = Vec::new();
    let _ = stream.read_to_end(&mut resp).await;
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    hook.no_event();

    assert_eq!(
        hook.post(&[("x-unknown-event", "push")], b"{}".to_vec())
            .await,
        400
    );
    let get = hook
        .client
        .get(format!("{}{WEBHOOK_PATH}", hook.base))
        .send()
        .await
        .expect("request");
    assert_eq!(get.status().as_u16(), 405);
    hook.no_event();
}

#[tokio::test]
async fn azure_devops_push_basic_auth_and_other_events() {
    let mut hook = Hook::start(secrets(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    let body = fixture("azure-devops-git-push.json");
    let good = basic("argo-hook", "az-p4ssw0rd");
    let activity = ("x-vss-activityid", "9d2f8c1e-4b6a-4e3d-9a7c-5f1e2d3c4b5a");
    let status = hook
        .post(&[activity, ("authorization", &good)], body.clone())
        .await;
    assert_eq!(status, 200);
    let ev = hook.event();
    assert_eq!(ev.provider, tether_source::Provider::AzureDevOps);
    assert_eq!(ev.push.revision, "main");
    assert!(ev.push.touched_head);
    assert_eq!(
        ev.push.after.as_deref(),
        Some("9fceb02d0ae598e95dc970b74767f19372d61af8")
    );
    assert!(ev.push.changed_files.is_empty());
    // The https spellings match `remoteUrl`; the ssh one does not, as in Argo CD.
    assert_eq!(ev.result.names(), vec!["azure-api", "azure-web"]);
    assert!(ev.result.carry_forward.is_empty());

    // Wrong password, wrong user, no credentials, another scheme: 401, nothing echoed.
    for auth in [
        Some(basic("argo-hook", "wrong")),
        Some(basic("someone", "az-p4ssw0rd")),
        None,
        Some("Bearer az-p4ssw0rd".to_owned()),
    ] {
        let mut req = hook
            .client
            .post(format!("{}{WEBHOOK_PATH}", hook.base))
            .header(activity.0, activity.1)
            .body(body.clone());
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), 401, "{auth:?}");
        let text = resp.text().await.expect("text");
        assert!(
            !text.contains("az-p4ssw0rd") && !text.contains("argo-hook"),
            "{text}"
        );
        hook.no_event();
    }

    // A pull-request event, authenticated: accepted and ignored. Unauthenticated: 401.
    let pr = serde_json::to_vec(&serde_json::json!({
        "subscriptionId": "5e3c1b5a-61c4-4b53-a2a1-0d2f7b8f4c11",
        "eventType": "git.pullrequest.created",
        "publisherId": "tfs",
        "resource": {
            "repository": {"remoteUrl": "https://dev.azure.com/contoso/platform/_git/gitops"},
            "pullRequestId": 57,
            "status": "active",
            "sourceRefName": "refs/heads/feature/api-limits",
            "targetRefName": "refs/heads/main"
        }
    }))
    .expect("json");
    assert_eq!(
        hook.post(&[activity, ("authorization", &good)], pr.clone())
            .await,
        200
    );
    hook.no_event();
    assert_eq!(hook.post(&[activity], pr).await, 401);
    hook.no_event();

    // An event Argo CD does not parse: 400; a payload without `eventType`: 400.
    for payload in [
        br#"{"eventType":"workitem.updated","resource":{}}"#.to_vec(),
        br#"{"resource":{}}"#.to_vec(),
        b"not json".to_vec(),
    ] {
        assert_eq!(
            hook.post(&[activity, ("authorization", &good)], payload)
                .await,
            400
        );
        hook.no_event();
    }

    // A push to another branch, header name in Azure's own spelling on the wire.
    let mut branch: serde_json::Value = serde_json::from_slice(&body).expect("json");
    branch["resource"]["refUpdates"][0]["name"] = "refs/heads/feature/api-limits".into();
    let branch = branch.to_string();
    let addr = hook.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let req = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {addr}\r\nX-VSS-ActivityId: {}\r\nAuthorization: {good}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{branch}",
        activity.1,
        branch.len()
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut resp = Vec::new();
    let _ = stream.read_to_end(&mut resp).await;
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let ev = hook.event();
    assert_eq!(ev.push.revision, "feature/api-limits");
    assert!(!ev.push.touched_head);
    assert_eq!(ev.result.names(), vec!["azure-branch"]);

    // Without credentials configured, Azure DevOps pushes are accepted as they come.
    let mut open = Hook::start(WebhookSecrets::default(), DEFAULT_MAX_PAYLOAD_BYTES).await;
    assert_eq!(open.post(&[activity], body).await, 200);
    assert_eq!(open.event().result.names(), vec!["azure-api", "azure-web"]);
}
