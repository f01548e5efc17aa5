//! Credentials in Argo CD's format: `repository` and `repo-creds` Secrets, and the file mode.

use std::path::Path;

use tether_git::{CredentialStore, CredsError, SecretString};

fn b64(s: &str) -> String {
    // Tiny base64 encoder (standard alphabet, padded), so the fixtures read like `kubectl get -o json`.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn secret(name: &str, kind: Option<&str>, data: &[(&str, &str)]) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(b64(v))))
        .collect();
    let mut labels = serde_json::Map::new();
    if let Some(k) = kind {
        labels.insert(
            "argocd.argoproj.io/secret-type".into(),
            serde_json::Value::String(k.into()),
        );
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "argocd", "labels": labels},
        "type": "Opaque",
        "data": data,
    })
}

fn store(items: Vec<serde_json::Value>) -> CredentialStore {
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    CredentialStore::from_secret_manifests(&list.to_string(), "secrets.json")
        .expect("secrets parse")
}

#[test]
fn repository_secrets_match_exactly_and_templates_by_longest_prefix() {
    let s = store(vec![
        secret(
            "org",
            Some("repo-creds"),
            &[
                ("url", "https://github.com/org"),
                ("username", "org-bot"),
                ("password", "org-token"),
            ],
        ),
        secret(
            "team",
            Some("repo-creds"),
            &[
                ("url", "https://github.com/org/team"),
                ("username", "team-bot"),
                ("password", "team-token"),
            ],
        ),
        // A repository without credentials of its own: takes the template's, keeps its flags.
        secret(
            "app",
            Some("repository"),
            &[
                ("url", "https://github.com/Org/Team-App.git"),
                ("insecure", "true"),
                ("name", "app"),
            ],
        ),
        // A repository with its own credentials: no template applies.
        secret(
            "own",
            Some("repository"),
            &[
                ("url", "https://github.com/org/team-own"),
                ("username", "own"),
                ("password", "own-pw"),
            ],
        ),
        // A project's own secret wins over the project-less one.
        secret(
            "own-proj",
            Some("repository"),
            &[
                ("url", "https://github.com/org/team-own.git"),
                ("project", "payments"),
                ("username", "payments"),
                ("password", "payments-pw"),
            ],
        ),
        // Not labelled: ignored, as Argo CD ignores it.
        secret(
            "unlabelled",
            None,
            &[
                ("url", "https://github.com/org/team-x"),
                ("password", "nope"),
            ],
        ),
        secret(
            "other",
            Some("cluster"),
            &[
                ("url", "https://github.com/org/team-x"),
                ("password", "nope"),
            ],
        ),
    ]);
    assert_eq!(s.repositories().len(), 3);
    assert_eq!(s.templates().len(), 2);

    // Longest prefix: `…/org/team` beats `…/org` (`team-x` starts with `…/org/team` too, as a
    // plain string prefix, exactly as in Argo CD).
    let r = s
        .resolve("https://github.com/org/team-x.git", None)
        .expect("template");
    assert!(!r.repository);
    assert_eq!(r.entry.username, "team-bot");
    assert_eq!(r.entry.password.expose(), "team-token");
    let r = s
        .resolve("https://github.com/org/other", None)
        .expect("template");
    assert_eq!(r.entry.username, "org-bot");
    assert!(s.resolve("https://github.com/elsewhere/x", None).is_none());
    assert!(s.resolve("https://gitlab.com/org/team/x", None).is_none());

    // Exact (normalised) repository match, enriched from the template.
    let r = s
        .resolve("https://GITHUB.com/org/team-app/", None)
        .expect("repo");
    assert!(r.repository);
    assert_eq!(r.entry.name, "app");
    assert!(r.entry.insecure);
    assert_eq!(r.entry.username, "team-bot");
    assert_eq!(
        r.template_url.as_deref(),
        Some("https://github.com/org/team")
    );

    // Own credentials: the template does not override them.
    let r = s
        .resolve("https://github.com/org/team-own", None)
        .expect("own");
    assert_eq!(r.entry.username, "own");
    assert_eq!(r.template_url, None);
    let r = s
        .resolve("https://github.com/org/team-own", Some("payments"))
        .expect("project");
    assert_eq!(r.entry.username, "payments");
    let r = s
        .resolve("https://github.com/org/team-own", Some("other"))
        .expect("fallback");
    assert_eq!(r.entry.username, "own");

    // The Credentials built from it print no secret.
    let c = s
        .credentials_for("https://github.com/org/team-app", None)
        .expect("credentials");
    assert!(c.is_insecure());
    let dbg = format!("{c:?} {:?}", r.entry);
    assert!(
        !dbg.contains("team-token") && !dbg.contains("own-pw"),
        "{dbg}"
    );
}

#[test]
fn string_data_wins_over_data_and_ssh_fields_are_read() {
    let manifest = r#"
apiVersion: v1
kind: Secret
metadata:
  name: ssh-repo
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: repository
data:
  url: aHR0cHM6Ly9vbGQuZXhhbXBsZS9yZXBv
stringData:
  url: git@github.com:org/repo.git
  sshPrivateKey: |
    -----BEGIN OPENSSH PRIVATE KEY-----
    not-a-real-key
    -----END OPENSSH PRIVATE KEY-----
  insecureIgnoreHostKey: "True"
  enableLfs: "1"
  type: git
---
apiVersion: v1
kind: Secret
metadata:
  name: tls
  labels:
    argocd.argoproj.io/secret-type: repo-creds
stringData:
  url: https://git.example.com/
  tlsClientCertData: CERT
  tlsClientCertKey: KEY
  proxy: http://proxy-user:proxy-pw@proxy:3128
  noProxy: .internal
"#;
    let s = CredentialStore::from_secret_manifests(manifest, "secrets.yaml").expect("parse");
    let r = s
        .resolve("ssh://git@github.com/org/repo", None)
        .expect("ssh repo matches its scp-like spelling");
    assert!(r.entry.ssh_private_key.expose().contains("not-a-real-key"));
    assert!(r.entry.insecure_ignore_host_key && r.entry.is_insecure());
    assert!(r.entry.enable_lfs);
    assert_eq!(r.entry.repo_type, "git");
    let r = s.resolve("https://git.example.com/a/b", None).expect("tls");
    assert_eq!(r.entry.tls_client_cert_data, "CERT");
    assert_eq!(r.entry.no_proxy, ".internal");
    let dbg = format!("{:?}", r.entry);
    assert!(!dbg.contains("KEY") && !dbg.contains("proxy-pw"), "{dbg}");
}

#[test]
fn bad_secrets_are_named_without_their_values() {
    let list = serde_json::json!({"items": [secret(
        "broken",
        Some("repository"),
        &[("url", "https://x/y"), ("password", "hunter2-secret"), ("insecure", "maybe")],
    )]});
    let err = CredentialStore::from_secret_manifests(&list.to_string(), "secrets.json")
        .expect_err("bad bool");
    let msg = err.to_string();
    assert!(msg.contains("Secret argocd/broken"), "{msg}");
    assert!(msg.contains("insecure"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");

    let no_url =
        serde_json::json!({"items": [secret("nourl", Some("repo-creds"), &[("password", "pw")])]});
    let err =
        CredentialStore::from_secret_manifests(&no_url.to_string(), "s.json").expect_err("no url");
    assert!(err.to_string().contains("url is required"), "{err}");

    // A stringData value of the wrong type must not be echoed.
    let bad = "kind: Secret\nmetadata:\n  name: n\nstringData:\n  password: [hunter3-secret]\n";
    let err = CredentialStore::from_secret_manifests(bad, "s.yaml").expect_err("wrong type");
    assert!(!err.to_string().contains("hunter3"), "{err}");
}

#[test]
fn file_mode_reads_repositories_templates_and_known_hosts() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("token"), "file-token\n").expect("write");
    std::fs::write(dir.path().join("id_ed25519"), "KEYDATA\n").expect("write");
    std::fs::write(
        dir.path().join("known_hosts"),
        "[127.0.0.1]:2222 ssh-ed25519 AAAA\n",
    )
    .expect("write");
    let path = dir.path().join("repositories.yaml");
    std::fs::write(
        &path,
        r#"
repositories:
  - url: https://github.com/org/app.git
    username: bot
    passwordFile: token
  - url: https://github.com/org/plain
    insecure: true
credentialTemplates:
  - url: https://github.com/org
    username: org-bot
    password: 12345
  - url: git@github.com:org
    sshPrivateKeyFile: id_ed25519
sshKnownHostsFile: known_hosts
"#,
    )
    .expect("write");
    let s = CredentialStore::from_file(&path).expect("file parses");
    let r = s.resolve("https://github.com/org/app", None).expect("repo");
    assert_eq!(r.entry.password.expose(), "file-token");
    // A YAML number as a password stays the same text.
    let r = s
        .resolve("https://github.com/org/plain", None)
        .expect("plain");
    assert!(r.entry.insecure);
    assert_eq!(r.entry.password.expose(), "12345");
    let r = s
        .resolve("git@github.com:org/x.git", None)
        .expect("ssh template");
    assert_eq!(r.entry.ssh_private_key.expose(), "KEYDATA\n");
    assert!(
        s.known_hosts()
            .expect("known hosts")
            .contains("[127.0.0.1]:2222")
    );
}

fn file_error(text: &str) -> CredsError {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("creds.yaml");
    std::fs::write(&path, text).expect("write");
    CredentialStore::from_file(&path).expect_err("invalid file")
}

#[test]
fn file_mode_errors_name_line_and_field() {
    let err = file_error(
        "repositories:\n  - url: https://a/b\n    password: s3cr3t-value\n    insecure: sometimes\n",
    );
    let msg = err.to_string();
    assert!(msg.contains("creds.yaml:4"), "{msg}");
    assert!(msg.contains("repositories[0].insecure"), "{msg}");
    assert!(!msg.contains("s3cr3t-value"), "{msg}");

    let msg = file_error("repositories:\n  - url: https://a/b\n    pasword: x\n").to_string();
    assert!(msg.contains("pasword"), "{msg}");
    assert!(msg.contains("creds.yaml:3"), "{msg}");

    let msg = file_error("credentialTemplates:\n  - username: x\n").to_string();
    assert!(msg.contains("url"), "{msg}");

    let msg = file_error("repositories:\n  - url: https://a/b\n    passwordFile: missing.txt\n")
        .to_string();
    assert!(
        msg.contains("repositories[0].passwordFile") && msg.contains("missing.txt"),
        "{msg}"
    );

    let err = CredentialStore::from_file(Path::new("/nonexistent/tether/creds.yaml"))
        .expect_err("missing file");
    assert!(
        err.to_string().contains("/nonexistent/tether/creds.yaml"),
        "{err}"
    );
}

#[test]
fn secret_strings_never_print() {
    let s = SecretString::new("topsecret");
    assert_eq!(format!("{s}"), "***");
    assert_eq!(format!("{s:?}"), "\"***\"");
    assert_eq!(s.expose(), "topsecret");
}

#[test]
fn credentials_from_secrets_authenticate_against_a_real_server() {
    use tether_git::{Error, RepoCache, Source};
    use tether_gitserver::GitServer;
    let password = "Right-Pa55-from-secret";
    let server = GitServer::start_with_auth(Some(("alice", password))).expect("server");
    let repo = server.create_repo("team/app").expect("repo");
    repo.write("a.txt", "a").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    let base = server.base_url();
    // The template for the whole server has the right password; a repository Secret with a wrong
    // one for this repository takes precedence (it has credentials of its own).
    let s = store(vec![
        secret(
            "all",
            Some("repo-creds"),
            &[
                ("url", &base),
                ("username", "alice"),
                ("password", password),
            ],
        ),
        secret(
            "app",
            Some("repository"),
            &[
                ("url", &server.url("team/app")),
                ("username", "alice"),
                ("password", "Wrong-Pa55-in-repo-secret"),
            ],
        ),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");

    let url = server.url("team/app");
    let creds = s.credentials_for(&url, None).expect("credentials");
    let err = cache
        .resolve(&Source::new(&url).with_credentials(creds), "main")
        .expect_err("the repository Secret's wrong password wins");
    let msg = format!("{err} {err:?}");
    assert!(matches!(err, Error::Fetch { .. }), "{msg}");
    assert!(!msg.contains("Wrong-Pa55"), "{msg}");
    assert!(msg.contains(&url), "{msg}");

    // Another spelling of another repository under the template's prefix: the template applies.
    let other = server.create_repo("team/other").expect("repo");
    other.write("b.txt", "b").expect("write");
    let c2 = other.commit_and_push("c2").expect("push");
    let url2 = server.url("team/other");
    let creds = s
        .credentials_for(&url2, None)
        .expect("template credentials");
    server.clear_requests();
    assert_eq!(
        cache
            .resolve(&Source::new(&url2).with_credentials(creds), "main")
            .expect("template credentials work"),
        c2
    );
    // Basic auth goes with the first request: no 401 round trip.
    assert!(
        server.requests().iter().all(|r| r.status != 401),
        "{:?}",
        server.requests()
    );
    let _ = c1;
}
