//! tether-chartrepo against chart repositories served on loopback: the repository in `tests/repo/` and the
//! constraint resolutions in `tests/resolutions.tsv` were produced by the reference helm
//! (`scripts/gen-chartrepo-expected`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use sha2::Digest as _;
use tether_chartrepo::{Credentials, Error, RepoClient};

const AUTH: &str = "Basic Ym9iOnMzY3JldA=="; // bob:s3cret

#[derive(Default)]
struct Seen {
    /// (port, path, had an Authorization header)
    requests: Vec<(u16, String, bool)>,
}

#[derive(Clone)]
struct Server {
    seen: Arc<Mutex<Seen>>,
    other_port: Arc<Mutex<u16>>,
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repo")
}

async fn handle(State((server, port)): State<(Server, u16)>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    server
        .seen
        .lock()
        .unwrap()
        .requests
        .push((port, path.clone(), auth.is_some()));
    let respond = |status: StatusCode, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .body(Body::from(body))
            .unwrap()
    };
    let Some((area, file)) = path.trim_start_matches('/').split_once('/') else {
        return respond(StatusCode::NOT_FOUND, Vec::new());
    };
    let file = file.replace("%2B", "+");
    if file.contains("..") {
        return respond(StatusCode::BAD_REQUEST, Vec::new());
    }
    let Ok(mut bytes) = std::fs::read(repo_dir().join(&file)) else {
        return respond(StatusCode::NOT_FOUND, Vec::new());
    };
    match area {
        "stable" => {}
        "private" if auth.as_deref() == Some(AUTH) => {}
        "private" => return respond(StatusCode::UNAUTHORIZED, b"who are you".to_vec()),
        "tampered" if file.ends_with(".tgz") => bytes.push(b'x'),
        "tampered" => {}
        "mirror" if auth.as_deref() != Some(AUTH) => {
            return respond(StatusCode::UNAUTHORIZED, Vec::new());
        }
        "mirror" if file == "index.yaml" => {
            // Chart URLs on another origin (the second listener).
            let other = *server.other_port.lock().unwrap();
            let text = String::from_utf8(bytes).unwrap().replace(
                "- demo-",
                &format!("- http://127.0.0.1:{other}/stable/demo-"),
            );
            bytes = text.into_bytes();
        }
        _ => return respond(StatusCode::NOT_FOUND, Vec::new()),
    }
    respond(StatusCode::OK, bytes)
}

/// Two listeners (two origins) sharing one request log. Returns (server, port A, port B).
async fn start() -> (Server, u16, u16) {
    let server = Server {
        seen: Arc::default(),
        other_port: Arc::default(),
    };
    let mut ports = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state((server.clone(), port));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ports.push(port);
    }
    *server.other_port.lock().unwrap() = ports[1];
    (server, ports[0], ports[1])
}

fn requests_for(server: &Server, needle: &str) -> Vec<(u16, String, bool)> {
    server
        .seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(_, p, _)| p.contains(needle))
        .cloned()
        .collect()
}

#[tokio::test]
async fn constraints_resolve_like_helm() {
    let (_server, port, _) = start().await;
    let cache = tempfile::tempdir().unwrap();
    let client = RepoClient::new(cache.path()).unwrap();
    let url = format!("http://127.0.0.1:{port}/stable");
    let table = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/resolutions.tsv"),
    )
    .unwrap();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for line in table.lines() {
        let (constraint, want) = line.split_once('\t').expect("constraint<TAB>version");
        let got = match client.resolve(&url, "demo", constraint).await {
            Ok(chart) => chart.version,
            Err(Error::Index { .. }) => "ERROR".to_owned(),
            Err(other) => panic!("{constraint:?}: unexpected error {other}"),
        };
        checked += 1;
        if got != want {
            wrong.push(format!("{constraint:?}: helm picks {want}, tether {got}"));
        }
    }
    assert!(checked >= 30, "only {checked} resolutions");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn missing_chart_and_version_errors_name_them() {
    let (_server, port, _) = start().await;
    let cache = tempfile::tempdir().unwrap();
    let client = RepoClient::new(cache.path()).unwrap();
    let url = format!("http://127.0.0.1:{port}/stable");
    let err = client
        .resolve(&url, "redis", "")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("chart \"redis\" not found"), "{err}");
    let err = client
        .resolve(&url, "demo", "^9")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("chart \"demo\" version \"^9\" not found"),
        "{err}"
    );
    assert!(
        err.contains("available: 3.0.0-alpha.1, 2.1.0+build.7"),
        "{err}"
    );
    let err = client
        .resolve(&format!("http://127.0.0.1:{port}/nothing"), "demo", "")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nothing/index.yaml: HTTP 404"), "{err}");
}

fn chart_yaml_in(tgz: &Path) -> String {
    let file = std::fs::File::open(tgz).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().ends_with("demo/Chart.yaml") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("no demo/Chart.yaml in {}", tgz.display());
}

#[tokio::test]
async fn fetch_checks_the_digest_and_caches_by_url_and_digest() {
    let (server, port, _) = start().await;
    let cache = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/stable");
    let client = RepoClient::new(cache.path()).unwrap();
    let (chart, path) = client
        .resolve_and_fetch(&url, "demo", "^1.2.0")
        .await
        .unwrap();
    assert_eq!(chart.version, "1.10.0");
    assert!(path.starts_with(cache.path()), "{}", path.display());
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        Some(hex::encode(sha2::Sha256::digest(&bytes))),
        chart.digest
    );
    assert!(chart_yaml_in(&path).contains("version: 1.10.0"));
    assert_eq!(requests_for(&server, "demo-1.10.0.tgz").len(), 1);

    // A new client on the same cache: the archive is not downloaded again.
    let again = RepoClient::new(cache.path()).unwrap();
    let (_, path2) = again
        .resolve_and_fetch(&url, "demo", "1.10.0")
        .await
        .unwrap();
    assert_eq!(path, path2);
    assert_eq!(requests_for(&server, "demo-1.10.0.tgz").len(), 1);

    // A damaged cache entry is replaced.
    std::fs::write(&path, b"garbage").unwrap();
    again.fetch(&url, &chart).await.unwrap();
    assert_eq!(requests_for(&server, "demo-1.10.0.tgz").len(), 2);
    assert!(chart_yaml_in(&path).contains("version: 1.10.0"));

    // The build metadata's '+' survives the URL round trip.
    let (chart, path) = again
        .resolve_and_fetch(&url, "demo", "2.1.0")
        .await
        .unwrap();
    assert_eq!(chart.version, "2.1.0+build.7");
    assert!(chart_yaml_in(&path).contains("version: 2.1.0+build.7"));
}

#[tokio::test]
async fn digest_mismatch_is_an_error_and_nothing_is_cached() {
    let (_server, port, _) = start().await;
    let cache = tempfile::tempdir().unwrap();
    let client = RepoClient::new(cache.path()).unwrap();
    let url = format!("http://127.0.0.1:{port}/tampered");
    let err = client
        .resolve_and_fetch(&url, "demo", "~1.2.0")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("digest mismatch for chart demo 1.2.5"),
        "{text}"
    );
    let files: Vec<_> = walk(cache.path());
    assert!(files.is_empty(), "cached despite the mismatch: {files:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn credentials_go_only_to_the_repository_origin_and_never_into_errors() {
    let (server, port, other) = start().await;
    let cache = tempfile::tempdir().unwrap();
    let creds = Credentials {
        username: "bob".into(),
        password: "s3cret".into(),
    };

    // Without credentials: 401, and the message names the URL.
    let anonymous = RepoClient::new(cache.path()).unwrap();
    let err = anonymous
        .resolve(&format!("http://127.0.0.1:{port}/private"), "demo", "")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 401"), "{err}");

    // With credentials (given explicitly, or as URL user-info).
    let client = RepoClient::new(cache.path())
        .unwrap()
        .with_credentials(creds.clone());
    let (chart, _) = client
        .resolve_and_fetch(&format!("http://127.0.0.1:{port}/private"), "demo", "0.2.3")
        .await
        .unwrap();
    assert_eq!(chart.version, "0.2.3");
    let in_url = RepoClient::new(cache.path()).unwrap();
    let err = in_url
        .resolve(
            &format!("http://bob:s3cret@127.0.0.1:{port}/private?token=tok"),
            "nope",
            "",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("chart \"nope\" not found"), "{err}");
    assert!(
        !err.contains("s3cret") && !err.contains("bob") && !err.contains("tok"),
        "{err}"
    );
    let wrong = RepoClient::new(cache.path())
        .unwrap()
        .with_credentials(Credentials {
            username: "bob".into(),
            password: "wrong-password".into(),
        });
    let err = wrong
        .resolve(&format!("http://127.0.0.1:{port}/private"), "demo", "")
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("wrong-password"), "{err}");
    assert!(!format!("{err:?}").contains("wrong-password"), "{err:?}");

    // The mirror's chart URLs point at another origin: credentials are not sent there...
    let mirror = format!("http://127.0.0.1:{port}/mirror");
    client
        .resolve_and_fetch(&mirror, "demo", "0.1.0")
        .await
        .unwrap();
    let to_other: Vec<_> = requests_for(&server, "demo-0.1.0.tgz");
    assert_eq!(to_other.len(), 1);
    assert_eq!((to_other[0].0, to_other[0].2), (other, false));
    // ...unless asked to (Helm's --pass-credentials).
    let passing = RepoClient::new(tempfile::tempdir().unwrap().path())
        .unwrap()
        .with_credentials(creds)
        .pass_credentials_to_all_hosts(true);
    passing
        .resolve_and_fetch(&mirror, "demo", "0.1.0")
        .await
        .unwrap();
    let to_other: Vec<_> = requests_for(&server, "demo-0.1.0.tgz");
    assert_eq!(to_other.len(), 2);
    assert_eq!((to_other[1].0, to_other[1].2), (other, true));
}
