//! The one-request ref listing over http(s) (`POST git-upload-pack` with protocol v2 `ls-refs`)
//! against real Git on loopback: it must list exactly what gitoxide's own listing does (branches,
//! tags, peeled annotated tags, the `HEAD` symref, an unborn `HEAD`), with one request, with
//! basic auth and TLS as the fetch path applies them, and fall back to gitoxide for a server that
//! does not speak protocol v2.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use tether_git::{Credentials, Error, RemoteRef, RemoteRefs, RepoCache, Source};
use tether_gitserver::{GitServer, HttpsOptions, Repo};

fn new_cache() -> (tempfile::TempDir, RepoCache) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");
    (dir, cache)
}

/// Two branches, a lightweight and an annotated tag, `HEAD` on `main`.
fn populate(repo: &Repo) -> (String, String) {
    repo.write("a.yaml", "a: 1\n").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    repo.tag("v1.0.0").expect("tag");
    repo.tag_annotated("v1.1.0", "release 1.1")
        .expect("annotated tag");
    repo.checkout("dev", true).expect("branch");
    repo.write("a.yaml", "a: 2\n").expect("write");
    let c2 = repo.commit_and_push("c2").expect("push");
    repo.checkout("main", false).expect("main");
    (c1, c2)
}

/// gitoxide's own listing: a fetch into an empty cache lists through gitoxide.
fn gix_listing(source: &Source) -> RemoteRefs {
    let (_dir, cache) = new_cache();
    RemoteRefs::clone(&cache.fetch(source).expect("fetch through gitoxide"))
}

fn methods(server: &GitServer) -> Vec<(String, String, u16)> {
    server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.uri, r.status))
        .collect()
}

fn by_name<'a>(refs: &'a RemoteRefs, name: &str) -> &'a RemoteRef {
    refs.refs
        .iter()
        .find(|r| r.name() == name)
        .unwrap_or_else(|| panic!("{name} listed: {refs:?}"))
}

#[test]
fn one_request_lists_what_gitoxide_lists() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    let (c1, c2) = populate(&repo);
    let source = Source::new(&server.url("app"));
    let expected = gix_listing(&source);

    let (_dir, cache) = new_cache();
    server.clear_requests();
    let refs = cache.ls_refs(&source).expect("ls-refs");
    assert_eq!(refs, expected);
    assert_eq!(
        methods(&server),
        vec![("POST".into(), "/app.git/git-upload-pack".into(), 200)],
        "one request, no capability advertisement first"
    );
    // What the listing says, checked against `git` itself.
    let tag_object = tether_gitserver::git(repo.bare_dir(), &["rev-parse", "v1.1.0"])
        .expect("rev-parse")
        .trim()
        .to_owned();
    assert_ne!(tag_object, c1, "an annotated tag is an object of its own");
    assert_eq!(
        by_name(&refs, "HEAD"),
        &RemoteRef::Symbolic {
            name: "HEAD".into(),
            target_ref: "refs/heads/main".into(),
            object: Some(c1.clone()),
        }
    );
    assert_eq!(by_name(&refs, "refs/heads/dev").commit(), Some(c2.as_str()));
    assert_eq!(
        by_name(&refs, "refs/tags/v1.0.0"),
        &RemoteRef::Direct {
            name: "refs/tags/v1.0.0".into(),
            target: c1.clone(),
            peeled: None,
        }
    );
    assert_eq!(
        by_name(&refs, "refs/tags/v1.1.0"),
        &RemoteRef::Direct {
            name: "refs/tags/v1.1.0".into(),
            target: tag_object,
            peeled: Some(c1.clone()),
        }
    );
    assert_eq!(refs.refs.len(), 5, "{refs:?}");

    // The connection is reused: listing again costs one request again.
    server.clear_requests();
    assert_eq!(cache.ls_refs(&source).expect("again"), expected);
    assert_eq!(server.requests().len(), 1, "{:?}", methods(&server));

    // A warm fetch of the unchanged repository is that one request too; after a push it fetches.
    cache.fetch(&source).expect("first fetch");
    server.clear_requests();
    let warm = cache.fetch(&source).expect("warm fetch");
    assert_eq!(*warm, expected);
    assert_eq!(server.requests().len(), 1, "{:?}", methods(&server));
    repo.write("a.yaml", "a: 3\n").expect("write");
    let c3 = repo.commit_and_push("c3").expect("push");
    assert_eq!(cache.resolve(&source, "main").expect("main"), c3);
    let checkout = cache.checkout(&source, &c3).expect("checkout");
    assert_eq!(checkout.read("a.yaml").expect("read"), b"a: 3\n");
}

#[test]
fn an_empty_repository_lists_its_unborn_head() {
    let server = GitServer::start().expect("server");
    server.create_repo("empty").expect("repo");
    let (_dir, cache) = new_cache();
    server.clear_requests();
    let refs = cache
        .ls_refs(&Source::new(&server.url("empty")))
        .expect("ls-refs");
    assert_eq!(
        refs.refs,
        vec![RemoteRef::Symbolic {
            name: "HEAD".into(),
            target_ref: "refs/heads/main".into(),
            object: None,
        }]
    );
    assert_eq!(server.requests().len(), 1, "{:?}", methods(&server));
}

#[test]
fn https_with_basic_auth_right_and_wrong() {
    let server = GitServer::start_https(HttpsOptions {
        auth: Some(("bot", "S3cret-pw")),
        ..Default::default()
    })
    .expect("https server");
    let repo = server.create_repo("app").expect("repo");
    populate(&repo);
    let url = server.url("app");
    assert!(url.starts_with("https://"), "{url}");
    let ca = server.ca_pem().expect("test CA").to_owned();
    let source = Source::new(&url)
        .with_credentials(Credentials::basic("bot", "S3cret-pw").with_tls_certs(ca.clone()));
    let expected = gix_listing(&source);

    let (_dir, cache) = new_cache();
    server.clear_requests();
    assert_eq!(cache.ls_refs(&source).expect("ls-refs"), expected);
    assert_eq!(
        methods(&server),
        vec![("POST".into(), "/app.git/git-upload-pack".into(), 200)],
        "basic auth goes with the one request"
    );

    // A wrong password: refused, and the error (gitoxide's, after the fallback) names neither
    // password.
    let wrong = Source::new(&url)
        .with_credentials(Credentials::basic("bot", "Wr0ng-pw").with_tls_certs(ca.clone()));
    server.clear_requests();
    let err = cache.ls_refs(&wrong).expect_err("wrong password");
    let msg = err.to_string();
    assert!(matches!(err, Error::ListRefs { .. }), "{msg}");
    assert!(msg.contains(&url), "{msg}");
    assert!(
        !msg.contains("Wr0ng-pw") && !msg.contains("S3cret-pw"),
        "{msg}"
    );
    let log = methods(&server);
    assert_eq!(
        log.first(),
        Some(&("POST".into(), "/app.git/git-upload-pack".into(), 401)),
        "{log:?}"
    );
    assert!(
        log.iter().all(|r| r.2 == 401),
        "nothing was served: {log:?}"
    );

    // No credentials at all: refused too.
    let none = Source::new(&url).with_credentials(Credentials::none().with_tls_certs(ca.clone()));
    let err = cache.ls_refs(&none).expect_err("no credentials");
    assert!(matches!(err, Error::ListRefs { .. }), "{err}");

    // The right credentials still work afterwards (a 401 does not disable the one request).
    server.clear_requests();
    assert_eq!(cache.ls_refs(&source).expect("ls-refs"), expected);
    assert_eq!(server.requests().len(), 1, "{:?}", methods(&server));
}

#[test]
fn https_with_a_client_certificate() {
    let server = GitServer::start_https(HttpsOptions {
        require_client_cert: true,
        ..Default::default()
    })
    .expect("https server");
    let repo = server.create_repo("app").expect("repo");
    populate(&repo);
    let url = server.url("app");
    let ca = server.ca_pem().expect("test CA").to_owned();
    let client = server.client_cert().expect("client certificate").clone();
    let source = Source::new(&url).with_credentials(
        Credentials::none()
            .with_tls_certs(ca.clone())
            .with_tls_client_cert(client.cert.clone(), client.key.clone()),
    );
    let expected = gix_listing(&source);
    let (_dir, cache) = new_cache();
    server.clear_requests();
    assert_eq!(cache.ls_refs(&source).expect("ls-refs"), expected);
    assert_eq!(server.requests().len(), 1, "{:?}", methods(&server));

    // Without the certificate the server refuses the handshake.
    let without = Source::new(&url).with_credentials(Credentials::none().with_tls_certs(ca));
    let err = cache.ls_refs(&without).expect_err("no client certificate");
    assert!(matches!(err, Error::ListRefs { .. }), "{err}");
    assert!(!err.to_string().contains(&client.key), "{err}");
}

/// A smart-HTTP server that speaks only protocol v0, as servers with a Git older than 2.18 (or a
/// front end that drops the `Git-Protocol` header) do: `git upload-pack --stateless-rpc` run
/// without `GIT_PROTOCOL`. Serves one bare repository as `/app.git`; one request per connection.
struct V0Server {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl V0Server {
    fn start(bare: std::path::PathBuf) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (bare, log) = (bare.clone(), log2.clone());
                std::thread::spawn(move || serve_v0(stream, &bare, &log));
            }
        });
        Self { port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/app.git", self.port)
    }

    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().expect("log"))
    }
}

fn serve_v0(stream: std::net::TcpStream, bare: &std::path::Path, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).expect("header");
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    log.lock().expect("log").push(format!(
        "{method} {}",
        target.split('?').next().unwrap_or("")
    ));
    let upload_pack = |args: &[&str], input: &[u8]| -> Vec<u8> {
        let mut child = std::process::Command::new("git")
            .arg("upload-pack")
            .args(args)
            .arg(bare)
            .env_remove("GIT_PROTOCOL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git upload-pack");
        let _ = child.stdin.take().expect("stdin").write_all(input);
        child.wait_with_output().expect("upload-pack output").stdout
    };
    let (content_type, payload) = match (method, target) {
        ("GET", "/app.git/info/refs?service=git-upload-pack") => {
            let mut out = b"001e# service=git-upload-pack\n0000".to_vec();
            out.extend(upload_pack(&["--stateless-rpc", "--advertise-refs"], b""));
            ("application/x-git-upload-pack-advertisement", out)
        }
        ("POST", "/app.git/git-upload-pack") => (
            "application/x-git-upload-pack-result",
            upload_pack(&["--stateless-rpc"], &body),
        ),
        _ => ("text/plain", b"not found\n".to_vec()),
    };
    let status = if content_type == "text/plain" {
        "404 Not Found"
    } else {
        "200 OK"
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    let _ = stream.write_all(&payload);
}

#[test]
fn a_server_without_protocol_v2_falls_back_to_gitoxide() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    populate(&repo);
    let expected = gix_listing(&Source::new(&server.url("app")));
    let old = V0Server::start(repo.bare_dir().to_path_buf());
    let source = Source::new(&old.url());

    let (_dir, cache) = new_cache();
    assert_eq!(cache.ls_refs(&source).expect("ls-refs"), expected);
    assert_eq!(
        old.take_log(),
        vec!["POST /app.git/git-upload-pack", "GET /app.git/info/refs"],
        "the one request, not understood, then gitoxide's v0 listing"
    );
    // The host is remembered: the next listing goes to gitoxide at once.
    assert_eq!(cache.ls_refs(&source).expect("ls-refs"), expected);
    assert_eq!(old.take_log(), vec!["GET /app.git/info/refs"]);
    // Fetching and checking out through the old server works as before.
    let main = cache.resolve(&source, "main").expect("resolve");
    assert_eq!(Some(main.as_str()), by_name(&expected, "HEAD").commit());
}
