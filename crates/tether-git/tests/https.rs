//! https against `tether-gitserver` with TLS (a throwaway CA, a server certificate for 127.0.0.1):
//! trusted certificates from configuration (Argo CD's `argocd-tls-certs-cm`, the file mode),
//! untrusted servers, `insecure`, and TLS client certificates. Secrets never reach errors or logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tether_git::{CredentialStore, Credentials, Error, RepoCache, Source};
use tether_gitserver::{GitServer, HttpsOptions, TestCa};

/// Everything tether-git logs during this test binary (every level), to assert no secret is in it.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().expect("log buffer")).into_owned()
}

/// The base64 body of a PEM block (what would leak if a key were printed), without the armour.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("")
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!text.contains(s), "a secret leaked into: {text}");
        // Each line of a PEM key on its own, too.
        for line in s
            .lines()
            .filter(|l| l.len() > 20 && !l.starts_with("-----"))
        {
            assert!(!text.contains(line), "key material leaked into: {text}");
        }
    }
}

fn new_cache() -> (tempfile::TempDir, RepoCache) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path().join("cache")).expect("cache");
    (dir, cache)
}

fn serve(options: HttpsOptions) -> (GitServer, String, String) {
    logs();
    let server = GitServer::start_https(options).expect("https server");
    let repo = server.create_repo("org/app").expect("repo");
    repo.write("app/cm.yaml", "a: 1\n").expect("write");
    let sha = repo.commit_and_push("c1").expect("push");
    repo.tag("v1.0.0").expect("tag");
    let url = server.url("org/app");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    (server, url, sha)
}

fn upload_packs(server: &GitServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.is_upload_pack())
        .count()
}

#[test]
fn https_with_the_ca_trusted_through_the_file_mode_config() {
    let (server, url, sha) = serve(HttpsOptions::default());
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("ca.pem"),
        server.ca_pem().expect("https server"),
    )
    .expect("write");
    // The CA for the server's host, port ignored (Argo CD keys `argocd-tls-certs-cm` by host name);
    // no repository entry is needed.
    let path = dir.path().join("repositories.yaml");
    std::fs::write(&path, "tlsCertsFiles:\n  127.0.0.1: ca.pem\n").expect("write");
    let store = CredentialStore::from_file(&path).expect("config parses");
    let creds = store.credentials_for(&url, None).expect("the host's CA");
    assert!(creds.tls_certs().is_some());
    // Other hosts and plain http get nothing from it.
    assert!(
        store
            .credentials_for("https://github.com/org/app", None)
            .is_none()
    );
    assert!(
        store
            .credentials_for(&url.replace("https://", "http://"), None)
            .is_none()
    );

    let (_d, cache) = new_cache();
    let source = Source::new(&url).with_credentials(creds);
    assert_eq!(
        cache.resolve(&source, "main").expect("clone over https"),
        sha
    );
    assert_eq!(cache.resolve(&source, "v1.0.0").expect("tag"), sha);
    let checkout = cache.checkout(&source, &sha).expect("checkout");
    assert_eq!(
        std::fs::read_to_string(checkout.resolve("app/cm.yaml").expect("inside")).expect("file"),
        "a: 1\n"
    );
    // A warm fetch over https lists refs and downloads nothing.
    server.clear_requests();
    cache.fetch(&source).expect("warm fetch");
    assert_eq!(upload_packs(&server), 1, "{:?}", server.requests());
    assert_eq!(
        cache
            .stats()
            .packs
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        server.tls_failures().is_empty(),
        "{:?}",
        server.tls_failures()
    );
}

#[test]
fn https_with_the_ca_from_argocd_tls_certs_cm_and_inline_yaml() {
    let (server, url, sha) = serve(HttpsOptions::default());
    let ca = server.ca_pem().expect("https server").to_owned();

    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-tls-certs-cm", "namespace": "argocd"},
        "data": {"127.0.0.1": ca},
    }))
    .expect("configmap");
    let mut store = CredentialStore::new();
    store.add_tls_certs_config_map(&cm);
    let (_d, cache) = new_cache();
    let creds = store.credentials_for(&url, None).expect("the host's CA");
    let source = Source::new(&url).with_credentials(creds);
    assert_eq!(cache.resolve(&source, "main").expect("fetch"), sha);

    // Inline in the file, together with a repository entry (credentials and the CA combine).
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("repositories.yaml");
    let indented: String = ca.lines().map(|l| format!("    {l}\n")).collect();
    std::fs::write(
        &path,
        format!(
            "repositories:\n  - url: {url}\n    username: bot\n    password: not-needed\n\
             tlsCerts:\n  127.0.0.1: |\n{indented}"
        ),
    )
    .expect("write");
    let store = CredentialStore::from_file(&path).expect("config parses");
    let creds = store.credentials_for(&url, None).expect("credentials");
    assert_eq!(creds.username, "bot");
    let (_d2, cache) = new_cache();
    assert_eq!(
        cache
            .resolve(&Source::new(&url).with_credentials(creds), "main")
            .expect("fetch"),
        sha
    );
}

#[test]
fn an_untrusted_server_fails_with_a_clear_error() {
    let (server, url, _) = serve(HttpsOptions::default());
    let (_d, cache) = new_cache();

    // The system's roots do not know the test CA.
    let err = cache
        .resolve(&Source::new(&url), "main")
        .expect_err("untrusted certificate");
    let msg = err.to_string();
    assert!(matches!(err, Error::Fetch { .. }), "{msg}");
    assert!(msg.contains(&url), "{msg}");
    assert!(
        msg.contains("invalid peer certificate") && msg.contains("UnknownIssuer"),
        "the error says why: {msg}"
    );

    // Another CA configured for the host: refused too, and the server saw the client give up.
    let other = TestCa::new("another CA").expect("ca");
    let creds = Credentials::none().with_tls_certs(other.cert_pem());
    let err = cache
        .resolve(&Source::new(&url).with_credentials(creds), "main")
        .expect_err("wrong CA");
    assert!(
        err.to_string().contains("UnknownIssuer"),
        "the error says why: {err}"
    );
    assert!(
        server
            .tls_failures()
            .iter()
            .any(|f| f.contains("UnknownCA") || f.contains("BadCertificate")),
        "{:?}",
        server.tls_failures()
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());

    // A configured value that is not PEM is named, not shown.
    let creds = Credentials::none().with_tls_certs("not a certificate");
    let err = cache
        .resolve(&Source::new(&url).with_credentials(creds), "main")
        .expect_err("no certificate");
    assert!(
        err.to_string()
            .contains("TLS certificates: no PEM certificate"),
        "{err}"
    );
}

#[test]
fn insecure_skips_verification() {
    let (server, url, sha) = serve(HttpsOptions::default());
    let (_d, cache) = new_cache();
    let source = Source::new(&url).with_credentials(Credentials::none().insecure(true));
    assert_eq!(cache.resolve(&source, "main").expect("insecure"), sha);

    // The same from the file mode's `insecure: true` (and insecure wins over a wrong CA).
    let other = TestCa::new("another CA").expect("ca");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("repositories.yaml");
    std::fs::write(
        &path,
        format!("repositories:\n  - url: {url}\n    insecure: true\n"),
    )
    .expect("write");
    let mut store = CredentialStore::from_file(&path).expect("config parses");
    store.set_tls_certs("127.0.0.1", other.cert_pem());
    let creds = store.credentials_for(&url, None).expect("credentials");
    assert!(creds.is_insecure());
    let (_d2, cache) = new_cache();
    assert_eq!(
        cache
            .resolve(&Source::new(&url).with_credentials(creds), "main")
            .expect("insecure"),
        sha
    );
    assert!(
        server.tls_failures().is_empty(),
        "{:?}",
        server.tls_failures()
    );
}

#[test]
fn client_certificates_required_by_the_server() {
    let password = "S3cret-https-Pa55";
    let (server, url, sha) = serve(HttpsOptions {
        require_client_cert: true,
        auth: Some(("alice", "S3cret-https-Pa55")),
    });
    let ca = server.ca_pem().expect("https server").to_owned();
    let client = server.client_cert().expect("client cert").clone();

    // The file mode: Argo CD's tlsClientCertData / tlsClientCertKey (here from files).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("client.pem"), &client.cert).expect("write");
    std::fs::write(dir.path().join("client.key"), &client.key).expect("write");
    std::fs::write(dir.path().join("ca.pem"), &ca).expect("write");
    let path = dir.path().join("repositories.yaml");
    std::fs::write(
        &path,
        format!(
            "repositories:\n  - url: {url}\n    username: alice\n    password: {password}\n    \
             tlsClientCertFile: client.pem\n    tlsClientCertKeyFile: client.key\n\
             tlsCertsFiles:\n  127.0.0.1: ca.pem\n"
        ),
    )
    .expect("write");
    let store = CredentialStore::from_file(&path).expect("config parses");
    let creds = store.credentials_for(&url, None).expect("credentials");
    let debug = format!("{creds:?} {store:?}");
    assert_no_secret(&debug, &[password, &client.key]);
    let (_d, cache) = new_cache();
    assert_eq!(
        cache
            .resolve(&Source::new(&url).with_credentials(creds.clone()), "main")
            .expect("client certificate accepted"),
        sha
    );

    // Without a client certificate: refused by the server.
    let no_cert = Credentials::basic("alice", password).with_tls_certs(ca.as_str());
    let (_d2, cache2) = new_cache();
    let err = cache2
        .resolve(&Source::new(&url).with_credentials(no_cert), "main")
        .expect_err("no client certificate");
    let msg = format!("{err} {err:?}");
    assert!(matches!(err, Error::Fetch { .. }), "{msg}");
    assert!(
        server
            .tls_failures()
            .iter()
            .any(|f| f.contains("peer sent no certificates")),
        "{:?}",
        server.tls_failures()
    );
    assert_no_secret(&msg, &[password, &client.key]);

    // A client certificate from another CA: refused; the key is not in the error.
    let other = TestCa::new("another CA").expect("ca");
    let foreign = other.client_cert("intruder").expect("cert");
    let wrong = Credentials::basic("alice", password)
        .with_tls_certs(ca.as_str())
        .with_tls_client_cert(foreign.cert.clone(), foreign.key.as_str());
    let (_d3, cache3) = new_cache();
    let err = cache3
        .resolve(&Source::new(&url).with_credentials(wrong), "main")
        .expect_err("foreign client certificate");
    let msg = format!("{err} {err:?}");
    assert_no_secret(&msg, &[password, &foreign.key, &client.key]);

    // A key that is not PEM: named, never shown.
    let garbage = "-----BEGIN PRIVATE KEY-----\nTm90QUtleUJ1dEFTZWNyZXRWYWx1ZTEyMzQ1Njc4OTA=\n-----END PRIVATE KEY-----\n";
    let bad = Credentials::none()
        .with_tls_certs(ca.as_str())
        .with_tls_client_cert(client.cert.clone(), garbage);
    let err = cache3
        .resolve(&Source::new(&url).with_credentials(bad), "main")
        .expect_err("bad key");
    let msg = format!("{err} {err:?}");
    assert!(msg.contains("tlsClientCertData/tlsClientCertKey"), "{msg}");
    assert_no_secret(&msg, &[&pem_body(garbage)]);

    // A wrong password over https with the right certificate: 401, password not shown.
    let wrong_pw = Credentials::basic("alice", "Wrong-https-Pa55")
        .with_tls_certs(ca.as_str())
        .with_tls_client_cert(client.cert.clone(), client.key.as_str());
    let err = cache3
        .resolve(&Source::new(&url).with_credentials(wrong_pw), "main")
        .expect_err("wrong password");
    assert_no_secret(
        &format!("{err} {err:?}"),
        &["Wrong-https-Pa55", &client.key],
    );

    // Nothing secret was logged by any of it (and something was logged).
    let logs = logged();
    assert!(logs.contains("fetching"), "{logs}");
    assert_no_secret(
        &logs,
        &[
            password,
            "Wrong-https-Pa55",
            &client.key,
            &foreign.key,
            &pem_body(garbage),
        ],
    );
    let _ = creds;
}
