//! Real Git repositories for tests, served over Git's smart HTTP protocol on loopback.
//!
//! Repositories are made with the `git` CLI ([`Repo`]: commits, branches, tags, force pushes) and
//! served by `git http-backend`, run as a CGI program behind a small axum server ([`GitServer`]),
//! with optional HTTP basic auth. Clients fetch exactly as users do, over `http://127.0.0.1:PORT/`
//! or, with [`GitServer::start_https`], over `https://127.0.0.1:PORT/` with a certificate issued
//! by a throwaway [`TestCa`] (optionally requiring a client certificate from that CA).
//! Every request is logged, so tests can count fetches.

mod tls;

pub use tls::{Pem, TestCa};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use base64::Engine;

/// Something went wrong running git or the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`git {args}` failed in {dir}: {stderr}")]
    Git {
        args: String,
        dir: PathBuf,
        stderr: String,
    },
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot start the HTTP server: {0}")]
    Server(#[source] std::io::Error),
    #[error("cannot make a test certificate: {0}")]
    Tls(String),
    #[error("file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    pub method: String,
    /// Path and query, e.g. `/app.git/info/refs?service=git-upload-pack`.
    pub uri: String,
    pub status: u16,
}

impl RequestLog {
    /// Whether this request was a fetch negotiation (`POST .../git-upload-pack`).
    pub fn is_upload_pack(&self) -> bool {
        self.method == "POST" && self.uri.ends_with("/git-upload-pack")
    }
}

#[derive(Clone)]
struct ServerState {
    root: PathBuf,
    auth: Option<String>,
    log: Arc<Mutex<Vec<RequestLog>>>,
}

/// HTTPS settings of a [`GitServer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpsOptions {
    /// Refuse TLS connections without a client certificate issued by the server's CA (TLS client
    /// authentication, Argo CD's `tlsClientCertData`/`tlsClientCertKey`).
    pub require_client_cert: bool,
    /// Also require HTTP basic auth with these credentials.
    pub auth: Option<(&'static str, &'static str)>,
}

/// The TLS material of an https server.
struct ServerTls {
    ca: TestCa,
    client: Pem,
}

/// A smart-HTTP Git server on 127.0.0.1 serving the bare repositories under its root.
/// Stops when dropped.
pub struct GitServer {
    port: u16,
    root: tempfile::TempDir,
    auth: Option<(String, String)>,
    tls: Option<ServerTls>,
    /// TLS handshakes the server failed (the peer's alert or the verification error).
    tls_failures: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<Vec<RequestLog>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitServer {
    /// Starts a server without authentication.
    pub fn start() -> Result<Self, Error> {
        Self::start_with_auth(None)
    }

    /// Starts a server that requires HTTP basic auth with these credentials when given.
    pub fn start_with_auth(auth: Option<(&str, &str)>) -> Result<Self, Error> {
        Self::start_inner(auth, None)
    }

    /// Starts an https server on `https://127.0.0.1:PORT` whose certificate (for `127.0.0.1` and
    /// `localhost`) is issued by a fresh [`TestCa`]; see [`GitServer::ca_pem`] and
    /// [`GitServer::client_cert`].
    pub fn start_https(options: HttpsOptions) -> Result<Self, Error> {
        let ca = TestCa::new("tether test CA")?;
        let server = ca.server_cert(&["127.0.0.1", "localhost"])?;
        let client = ca.client_cert("tether-test-client")?;
        let config = tls::server_config(&ca, &server, options.require_client_cert)?;
        Self::start_inner(options.auth, Some((ServerTls { ca, client }, config)))
    }

    fn start_inner(
        auth: Option<(&str, &str)>,
        tls: Option<(ServerTls, Arc<rustls::ServerConfig>)>,
    ) -> Result<Self, Error> {
        let (tls, tls_config) = match tls {
            Some((t, c)) => (Some(t), Some(c)),
            None => (None, None),
        };
        let tls_failures = Arc::new(Mutex::new(Vec::new()));
        let failures = tls_failures.clone();
        let root = tempfile::Builder::new()
            .prefix("tether-git-")
            .tempdir()
            .map_err(Error::Server)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::Server)?;
        listener.set_nonblocking(true).map_err(Error::Server)?;
        let port = listener.local_addr().map_err(Error::Server)?.port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = ServerState {
            root: root.path().to_path_buf(),
            auth: auth.map(|(u, p)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                )
            }),
            log: log.clone(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("git-http-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the test git server");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("listener converts to tokio");
                    let app = axum::Router::new().fallback(handle).with_state(state);
                    let stop = async {
                        let _ = rx.await;
                    };
                    match tls_config {
                        None => {
                            let _ = axum::serve(listener, app)
                                .with_graceful_shutdown(stop)
                                .await;
                        }
                        Some(config) => {
                            let listener = tls::TlsListener::new(listener, config, failures);
                            let _ = axum::serve(listener, app)
                                .with_graceful_shutdown(stop)
                                .await;
                        }
                    }
                });
            })
            .map_err(Error::Server)?;
        Ok(Self {
            port,
            root,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            tls,
            tls_failures,
            log,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://…` for an https server).
    pub fn base_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.port)
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM certificate of the CA that issued an https server's certificate (what a client must
    /// trust: Argo CD's `argocd-tls-certs-cm` entry for `127.0.0.1`). None for plain http.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca.cert_pem())
    }

    /// A client certificate and its private key (PEM) issued by the server's CA, which a server
    /// started with [`HttpsOptions::require_client_cert`] accepts. None for plain http.
    pub fn client_cert(&self) -> Option<&Pem> {
        self.tls.as_ref().map(|t| &t.client)
    }

    /// The CA of an https server (to issue more certificates).
    pub fn ca(&self) -> Option<&TestCa> {
        self.tls.as_ref().map(|t| &t.ca)
    }

    /// Why TLS handshakes failed so far (e.g. the client's `UnknownCA` alert, or a missing client
    /// certificate), oldest first.
    pub fn tls_failures(&self) -> Vec<String> {
        self.tls_failures
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The clone URL of a repository: `http://127.0.0.1:PORT/NAME.git`.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.base_url())
    }

    /// The clone URL with the server's credentials embedded (for git CLI clients in tests).
    pub fn url_with_credentials(&self, name: &str) -> String {
        match &self.auth {
            Some((u, p)) => format!(
                "{}://{u}:{p}@127.0.0.1:{}/{name}.git",
                self.scheme(),
                self.port
            ),
            None => self.url(name),
        }
    }

    /// Creates an empty repository `NAME.git` served by this server, with a working copy to commit in.
    pub fn create_repo(&self, name: &str) -> Result<Repo, Error> {
        let bare = self.root.path().join(format!("{name}.git"));
        git(
            self.root.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &path_str(&bare),
            ],
        )?;
        git(&bare, &["config", "http.receivepack", "true"])?;
        git(&bare, &["config", "uploadpack.allowAnySHA1InWant", "true"])?;
        let work = self.root.path().join(format!("{name}.work"));
        git(
            self.root.path(),
            &["init", "--quiet", "--initial-branch=main", &path_str(&work)],
        )?;
        git(&work, &["config", "user.name", "Tether Test"])?;
        git(&work, &["config", "user.email", "test@tether.invalid"])?;
        git(&work, &["config", "commit.gpgsign", "false"])?;
        git(&work, &["remote", "add", "origin", &path_str(&bare)])?;
        Ok(Repo { work, bare })
    }

    /// The directory holding the served bare repositories (`NAME.git`).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        if let Ok(mut l) = self.log.lock() {
            l.clear();
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A repository: a working copy whose commits are pushed to the served bare repository.
pub struct Repo {
    work: PathBuf,
    bare: PathBuf,
}

impl Repo {
    /// The working copy.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// The served bare repository.
    pub fn bare_dir(&self) -> &Path {
        &self.bare
    }

    /// Writes a file (creating directories) in the working copy.
    pub fn write(&self, path: &str, contents: &str) -> Result<&Self, Error> {
        let full = self.work.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::File {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&full, contents).map_err(|source| Error::File { path: full, source })?;
        Ok(self)
    }

    /// Removes a file from the working copy.
    pub fn remove(&self, path: &str) -> Result<&Self, Error> {
        git(&self.work, &["rm", "--quiet", "-r", path])?;
        Ok(self)
    }

    /// Commits everything and returns the commit SHA. Does not push.
    pub fn commit(&self, message: &str) -> Result<String, Error> {
        git(&self.work, &["add", "--all"])?;
        git(
            &self.work,
            &["commit", "--quiet", "--allow-empty", "-m", message],
        )?;
        self.head()
    }

    /// Commits everything and pushes the current branch; returns the commit SHA.
    pub fn commit_and_push(&self, message: &str) -> Result<String, Error> {
        let sha = self.commit(message)?;
        self.push()?;
        Ok(sha)
    }

    /// Pushes the current branch to the served repository.
    pub fn push(&self) -> Result<(), Error> {
        git(&self.work, &["push", "--quiet", "origin", "HEAD"])?;
        Ok(())
    }

    /// Force-pushes the current branch (after history was rewritten).
    pub fn force_push(&self) -> Result<(), Error> {
        git(
            &self.work,
            &["push", "--quiet", "--force", "origin", "HEAD"],
        )?;
        Ok(())
    }

    /// The SHA of the working copy's HEAD.
    pub fn head(&self) -> Result<String, Error> {
        Ok(git(&self.work, &["rev-parse", "HEAD"])?.trim().to_owned())
    }

    /// Creates (or switches to, with `create = false`) a branch in the working copy.
    pub fn checkout(&self, branch: &str, create: bool) -> Result<(), Error> {
        if create {
            git(&self.work, &["checkout", "--quiet", "-b", branch])?;
        } else {
            git(&self.work, &["checkout", "--quiet", branch])?;
        }
        Ok(())
    }

    /// Resets the current branch to a commit (to rewrite history before a force push).
    pub fn reset_hard(&self, rev: &str) -> Result<(), Error> {
        git(&self.work, &["reset", "--quiet", "--hard", rev])?;
        Ok(())
    }

    /// Creates a lightweight tag at HEAD and pushes it.
    pub fn tag(&self, name: &str) -> Result<(), Error> {
        git(&self.work, &["tag", name])?;
        git(
            &self.work,
            &["push", "--quiet", "origin", &format!("refs/tags/{name}")],
        )?;
        Ok(())
    }

    /// Creates an annotated tag at HEAD and pushes it.
    pub fn tag_annotated(&self, name: &str, message: &str) -> Result<(), Error> {
        git(&self.work, &["tag", "-a", name, "-m", message])?;
        git(
            &self.work,
            &["push", "--quiet", "origin", &format!("refs/tags/{name}")],
        )?;
        Ok(())
    }

    /// Deletes a tag locally and on the server.
    pub fn delete_tag(&self, name: &str) -> Result<(), Error> {
        git(&self.work, &["tag", "-d", name])?;
        git(
            &self.work,
            &["push", "--quiet", "origin", &format!(":refs/tags/{name}")],
        )?;
        Ok(())
    }
}

/// An OpenSSH server on 127.0.0.1 serving the bare repositories under a directory (e.g.
/// [`GitServer::root`]) for fetching only: its one authorized key has a forced command that runs
/// `git-upload-pack` on the requested repository and nothing else. Runs `sshd` (Debian's
/// `openssh-server`) in the foreground as the current user with a fresh host key and client key.
/// Stops when dropped.
pub struct SshServer {
    port: u16,
    user: String,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl SshServer {
    /// The sshd binary, if installed.
    pub fn sshd() -> Option<PathBuf> {
        ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    }

    /// Starts sshd serving `root/NAME.git` as `ssh://USER@127.0.0.1:PORT/NAME.git`.
    pub fn start(root: &Path) -> Result<Self, Error> {
        let sshd = Self::sshd().ok_or_else(|| {
            Error::Server(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "sshd not found: install Debian's openssh-server (scripts/test does)",
            ))
        })?;
        let dir = tempfile::Builder::new()
            .prefix("tether-sshd-")
            .tempdir()
            .map_err(Error::Server)?;
        let d = dir.path();
        for (name, comment) in [("host_key", "host"), ("client_key", "client")] {
            keygen(&d.join(name), comment)?;
        }
        let file = |path: PathBuf, contents: String| {
            std::fs::write(&path, contents).map_err(|source| Error::File { path, source })
        };
        let root = root.canonicalize().map_err(|source| Error::File {
            path: root.to_path_buf(),
            source,
        })?;
        // The forced command: `git-upload-pack '<path>'` only, the path taken relative to `root`.
        let serve = d.join("serve.sh");
        file(
            serve.clone(),
            format!(
                r#"#!/bin/sh
set -f
case "$SSH_ORIGINAL_COMMAND" in
  "git-upload-pack '"*"'") p=${{SSH_ORIGINAL_COMMAND#git-upload-pack \'}}; p=${{p%\'}} ;;
  *) echo "tether-sshd: only git-upload-pack is allowed" >&2; exit 1 ;;
esac
case "$p" in *..*) echo "tether-sshd: bad path" >&2; exit 1 ;; esac
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
exec git-upload-pack --strict "{root}/${{p#/}}"
"#,
                root = root.display()
            ),
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&serve, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| Error::File {
                path: serve.clone(),
                source,
            },
        )?;
        let client_pub =
            std::fs::read_to_string(d.join("client_key.pub")).map_err(|source| Error::File {
                path: d.join("client_key.pub"),
                source,
            })?;
        file(
            d.join("authorized_keys"),
            format!(
                "command=\"{}\",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty {}",
                serve.display(),
                client_pub.trim()
            ),
        )?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::Server)?;
        let port = listener.local_addr().map_err(Error::Server)?.port();
        drop(listener);
        file(
            d.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin forced-commands-only\n\
                 AcceptEnv GIT_PROTOCOL\nLogLevel ERROR\n",
                d = d.display()
            ),
        )?;
        // Privilege separation needs this directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = std::fs::File::create(d.join("sshd.log")).map_err(Error::Server)?;
        let child = Command::new(&sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(Error::Spawn)?;
        let user = Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".to_owned());
        let mut server = Self {
            port,
            user,
            dir,
            child: Some(child),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if let Some(c) = server.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                let log =
                    std::fs::read_to_string(server.dir.path().join("sshd.log")).unwrap_or_default();
                return Err(Error::Server(std::io::Error::other(format!(
                    "sshd exited ({status}): {}",
                    log.trim()
                ))));
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Server(std::io::Error::other(
                    "sshd did not start listening within 20 s",
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ssh://USER@127.0.0.1:PORT/NAME.git`.
    pub fn url(&self, name: &str) -> String {
        format!("ssh://{}@127.0.0.1:{}/{name}.git", self.user, self.port)
    }

    /// The client's private key (OpenSSH format), authorized for `git-upload-pack`.
    pub fn client_private_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_key")).unwrap_or_default()
    }

    /// A `known_hosts` line for this server's host key.
    pub fn known_hosts(&self) -> String {
        let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap_or_default();
        let mut parts = key.split_whitespace();
        let (kind, data) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        format!("[127.0.0.1]:{} {kind} {data}\n", self.port)
    }

    /// What sshd logged (errors only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A fresh ed25519 key pair at `path` and `path.pub`, without a passphrase.
pub fn keygen(path: &Path, comment: &str) -> Result<(), Error> {
    let output = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(Error::Spawn)?;
    if !output.status.success() {
        return Err(Error::Git {
            args: "ssh-keygen".into(),
            dir: path.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs git in `dir` with a clean environment (no user or system config, no `GIT_SSL_*`
/// variables overriding `-c http.ssl…` options) and returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_SSL_CAINFO")
        .env_remove("GIT_SSL_CAPATH")
        .env_remove("GIT_SSL_CERT")
        .env_remove("GIT_SSL_KEY")
        .env_remove("GIT_SSL_NO_VERIFY")
        .stdin(Stdio::null())
        .output()
        .map_err(Error::Spawn)?;
    if !output.status.success() {
        return Err(Error::Git {
            args: args.join(" "),
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

async fn handle(
    State(state): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let response = serve(&state, &method, &uri, &headers, body).await;
    if let Ok(mut log) = state.log.lock() {
        log.push(RequestLog {
            method: method.to_string(),
            uri: uri
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default(),
            status: response.status().as_u16(),
        });
    }
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(text.to_owned()));
    *r.status_mut() = status;
    r
}

async fn serve(
    state: &ServerState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if let Some(expected) = &state.auth {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            let mut r = plain(StatusCode::UNAUTHORIZED, "authentication required\n");
            r.headers_mut().insert(
                "www-authenticate",
                "Basic realm=\"tether-test\""
                    .parse()
                    .expect("static header"),
            );
            return r;
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .env(
            "REMOTE_USER",
            if state.auth.is_some() { "tether" } else { "" },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot run git http-backend: {e}\n"),
            );
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        // Written concurrently with reading stdout, so large packs cannot deadlock.
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    let output = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("git http-backend failed: {e}\n"),
            );
        }
    };
    cgi_response(&output.stdout)
}

/// Turns CGI output (headers, blank line, body) into an HTTP response.
fn cgi_response(out: &[u8]) -> Response<Body> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return plain(StatusCode::BAD_GATEWAY, "malformed CGI output\n");
    };
    let head = String::from_utf8_lossy(&out[..end]);
    let mut response = Response::new(Body::from(out[end + sep..].to_vec()));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
            *response.status_mut() = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
        } else if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.trim().as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}
