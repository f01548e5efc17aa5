//! Change detection on loopback: webhook → affected-app event latency, and the cost of a polling
//! cycle over many repositories served by `git http-backend`, with `git ls-remote` over the same
//! repositories as the reference.
//!
//! `cargo bench -p tether-source --bench change_detection` (BENCH_REPOS=100 by default; prints
//! min / median / p90).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tether_git::RepoCache;
use tether_gitserver::GitServer;
use tether_model::annotations::MANIFEST_GENERATE_PATHS;
use tether_model::source::ApplicationSource;
use tether_model::{Application, ApplicationSpec};
use tether_source::matching::Push;
use tether_source::{
    Poller, PollerConfig, WEBHOOK_PATH, WatchedRepo, WebhookConfig, WebhookSecrets, affected_apps,
    router,
};

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<58} n={:<4} min {:>8.3} ms  median {:>8.3} ms  p90 {:>8.3} ms",
        samples.len(),
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
    );
}

fn apps(urls: &[String], per_repo: usize) -> Vec<Application> {
    let mut out = Vec::new();
    for (r, url) in urls.iter().enumerate() {
        for i in 0..per_repo {
            let mut a = Application::new(
                &format!("app-{r}-{i}"),
                ApplicationSpec {
                    source: Some(ApplicationSource {
                        repo_url: format!("{url}.git"),
                        target_revision: Some(if i % 2 == 0 { "HEAD" } else { "main" }.into()),
                        path: Some(format!("apps/{i}")),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            );
            if i % 3 == 0 {
                a.metadata.annotations = Some(BTreeMap::from([(
                    MANIFEST_GENERATE_PATHS.to_owned(),
                    ".;/shared".to_owned(),
                )]));
            }
            out.push(a);
        }
    }
    out
}

fn github_push(web_url: &str, n: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main",
        "before": "d5c1ffa8e294bc18c639bfb4e0df499251034414",
        "after": format!("{n:040x}"),
        "repository": {"html_url": web_url, "default_branch": "main"},
        "commits": [{"added": [], "removed": [], "modified": ["apps/3/deploy.yaml"]}]
    }))
    .expect("json")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn main() {
    let n: usize = std::env::var("BENCH_REPOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Webhook latency with 10 apps per repository (n × 10 apps to match).
    let web_urls: Vec<String> = (0..n)
        .map(|i| format!("https://git.example.com/org/repo-{i}"))
        .collect();
    let all_apps = Arc::new(apps(&web_urls, 10));
    let push = Push {
        repo_urls: vec![web_urls[n / 2].clone()],
        revision: "main".into(),
        touched_head: true,
        changed_files: vec!["apps/3/deploy.yaml".into()],
        ..Default::default()
    };
    let mut matching = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = affected_apps(&push, &all_apps);
        matching.push(t.elapsed());
        assert_eq!(r.refresh.len(), 7, "apps 0, 6, 9 keep their paths");
    }
    stats(
        &format!("match one push against {} apps", all_apps.len()),
        matching,
    );

    let latencies = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let lister_apps = all_apps.clone();
        let app = router(
            WebhookConfig {
                secrets: WebhookSecrets {
                    github: Some("bench-secret".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            Arc::new(move || (*lister_apps).clone()),
            tx,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let mut out = Vec::new();
        for i in 0..300 {
            let body = github_push(&web_urls[i % n], i);
            let sig = sign("bench-secret", &body);
            let t = Instant::now();
            let status = client
                .post(format!("http://{addr}{WEBHOOK_PATH}"))
                .header("x-github-event", "push")
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await
                .expect("send")
                .status();
            let event = rx.recv().await.expect("event");
            let elapsed = t.elapsed();
            assert_eq!(status.as_u16(), 200);
            assert_eq!(event.result.refresh.len(), 7);
            if i >= 20 {
                out.push(elapsed);
            }
        }
        out
    });
    stats(
        &format!(
            "webhook POST → affected-app event ({} apps, HTTP)",
            all_apps.len()
        ),
        latencies,
    );

    // Polling n repositories on a loopback `git http-backend`.
    let server = GitServer::start().expect("server");
    let mut repos = Vec::new();
    for i in 0..n {
        let repo = server.create_repo(&format!("repo-{i}")).expect("repo");
        repo.write("apps/a/cm.yaml", "a: 1\n").expect("write");
        repo.commit_and_push("c1").expect("push");
        repos.push(repo);
    }
    let urls: Vec<String> = (0..n).map(|i| server.url(&format!("repo-{i}"))).collect();
    for concurrency in [4, 16] {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Arc::new(RepoCache::new(dir.path()).expect("cache"));
        let poller = Poller::new(
            cache,
            PollerConfig {
                concurrency,
                jitter: Duration::ZERO,
                ..Default::default()
            },
        );
        for u in &urls {
            poller.watch(WatchedRepo::new(u, ["HEAD", "main"]));
        }
        rt.block_on(poller.poll_all()); // baseline
        let mut cycles = Vec::new();
        for _ in 0..8 {
            let t = Instant::now();
            let events = rt.block_on(poller.poll_all());
            cycles.push(t.elapsed());
            assert!(events.is_empty());
        }
        stats(
            &format!("poll cycle, {n} repos unchanged, concurrency {concurrency}"),
            cycles,
        );
        if concurrency == 16 {
            let mut notice = Vec::new();
            for k in 0..8 {
                let repo = &repos[(k * 7) % n];
                repo.write("apps/a/cm.yaml", &format!("a: {}\n", k + 2))
                    .expect("write");
                repo.commit_and_push("next").expect("push");
                let t = Instant::now();
                let events = rt.block_on(poller.poll_all());
                notice.push(t.elapsed());
                assert_eq!(events.len(), 2, "HEAD and main moved");
            }
            stats(
                &format!("poll cycle noticing + fetching 1 new commit in {n} repos"),
                notice,
            );
        }
    }

    // Reference: `git ls-remote` over the same repositories, 16 at a time.
    let mut reference = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for chunk in urls.chunks(n.div_ceil(16)) {
                s.spawn(move || {
                    for u in chunk {
                        let out = std::process::Command::new("git")
                            .args(["ls-remote", u])
                            .output()
                            .expect("git ls-remote");
                        assert!(out.status.success());
                    }
                });
            }
        });
        reference.push(t.elapsed());
    }
    stats(
        &format!("reference: git ls-remote × {n}, 16 in parallel"),
        reference,
    );
}
