//! Warm fetch of an unchanged repository over loopback HTTP (`git http-backend`): one ref listing
//! (one protocol v2 `ls-refs` request), no pack. Also a cold clone, a resolve of a semver constraint, and the same warm fetch by the git
//! CLI as the reference.
//!
//! `cargo bench -p tether-git --bench warm_fetch` (prints min / median / p90 over 50 runs).

use std::time::{Duration, Instant};

use tether_git::{Credentials, RepoCache, Source};
use tether_gitserver::{GitServer, HttpsOptions, Repo};

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<40} n={:<3} min {:>7.2} ms  median {:>7.2} ms  p90 {:>7.2} ms",
        samples.len(),
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
    );
}

fn populate(repo: &Repo) {
    for i in 0..20 {
        repo.write(&format!("dir{}/file{i}.yaml", i % 5), &format!("i: {i}\n"))
            .expect("write");
        repo.commit_and_push(&format!("c{i}")).expect("push");
        repo.tag(&format!("v1.{i}.0")).expect("tag");
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The git CLI without user/system config; `ca` is trusted for https (GIT_SSL_CAINFO).
fn git(args: &[&str], ca: Option<&std::path::Path>) {
    let mut cmd = std::process::Command::new("git");
    cmd.args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_SSL_CAINFO");
    if let Some(ca) = ca {
        cmd.env("GIT_SSL_CAINFO", ca);
    }
    let status = cmd.status().expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn main() {
    println!("(load average at start: {})", load_average());
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("bench").expect("repo");
    populate(&repo);
    let source = Source::new(&server.url("bench"));

    let mut cold = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = RepoCache::new(dir.path()).expect("cache");
        let t = Instant::now();
        cache.fetch(&source).expect("fetch");
        cold.push(t.elapsed());
    }
    stats("cold fetch (20 commits, 20 tags)", cold);

    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");
    cache.fetch(&source).expect("fetch");
    let mut warm = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        cache.fetch(&source).expect("fetch");
        warm.push(t.elapsed());
    }
    stats("warm fetch, unchanged", warm);

    let mut resolve = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        cache.resolve(&source, "~1.1").expect("resolve");
        resolve.push(t.elapsed());
    }
    stats("resolve `~1.1` (includes warm fetch)", resolve);

    // The server's own share: the one request a warm fetch makes (protocol v2 `ls-refs`), and the
    // two gix's own listing makes (capability advertisement, then `ls-refs`), by a minimal
    // HTTP/1.0 client on a raw socket.
    let port: u16 = server
        .base_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let raw = |request: &[u8]| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(request).expect("send");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
        assert!(out.starts_with(b"HTTP/1.1 200") || out.starts_with(b"HTTP/1.0 200"));
    };
    let body = b"0014command=ls-refs\n00010009peel\n000csymrefs\n0000";
    let post = [
        format!(
            "POST /bench.git/git-upload-pack HTTP/1.0\r\nHost: x\r\nGit-Protocol: version=2\r\n\
             Content-Type: application/x-git-upload-pack-request\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
        body.to_vec(),
    ]
    .concat();
    let get = b"GET /bench.git/info/refs?service=git-upload-pack HTTP/1.0\r\nHost: x\r\nGit-Protocol: version=2\r\n\r\n";
    let mut floor = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        raw(&post);
        floor.push(t.elapsed());
    }
    stats("server floor: 1 request (ls-refs), raw", floor);
    let mut floor = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        raw(get);
        raw(&post);
        floor.push(t.elapsed());
    }
    stats("server floor: 2 requests (info/refs + ls-refs)", floor);

    // One part of the client's share: gix's reqwest backend builds a new client per connection.
    let mut build = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let client = reqwest::blocking::Client::builder()
            .build()
            .expect("client");
        build.push(t.elapsed());
        drop(client);
    }
    stats("client: reqwest client build", build);
    let mut build = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only(Vec::<reqwest::Certificate>::new())
            .build()
            .expect("client");
        build.push(t.elapsed());
        drop(client);
    }
    stats("client: reqwest client build, no roots", build);
    let mut build = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only(Vec::<reqwest::Certificate>::new())
            .no_proxy()
            .build()
            .expect("client");
        build.push(t.elapsed());
        drop(client);
    }
    stats("client: reqwest client build, no roots/proxy", build);

    // The reference: `git fetch` of the same unchanged repository into a mirror clone.
    let mirror = tempfile::tempdir().expect("temp dir");
    let m = mirror.path().join("m.git");
    let m_str = m.display().to_string();
    git(
        &["clone", "--quiet", "--mirror", &server.url("bench"), &m_str],
        None,
    );
    let mut reference = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        git(&["-C", &m_str, "fetch", "--quiet", "origin"], None);
        reference.push(t.elapsed());
    }
    stats("reference: `git fetch` (git CLI), unchanged", reference);

    // https: the same repository on a TLS server, its CA trusted by configuration
    // (`argocd-tls-certs-cm`); the listing's connection is kept alive between fetches.
    let tls = GitServer::start_https(HttpsOptions::default()).expect("https server");
    populate(&tls.create_repo("bench").expect("repo"));
    let ca_pem = tls.ca_pem().expect("ca").to_owned();
    let source = Source::new(&tls.url("bench"))
        .with_credentials(Credentials::none().with_tls_certs(ca_pem.as_str()));
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");
    cache.fetch(&source).expect("fetch");
    let mut warm = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        cache.fetch(&source).expect("fetch");
        warm.push(t.elapsed());
    }
    stats("https: warm fetch, unchanged", warm);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).expect("write");
    let m = mirror.path().join("tls.git");
    let m_str = m.display().to_string();
    git(
        &["clone", "--quiet", "--mirror", &tls.url("bench"), &m_str],
        Some(&ca),
    );
    let mut reference = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        git(&["-C", &m_str, "fetch", "--quiet", "origin"], Some(&ca));
        reference.push(t.elapsed());
    }
    stats("https: reference `git fetch` (git CLI)", reference);
    println!("(load average at end: {})", load_average());
}
