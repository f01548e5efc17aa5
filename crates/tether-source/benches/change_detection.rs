//! Change detection on loopback: webhook → affected-app event latency, and the cost of a polling
//! cycle over many repositories served by `git http-backend`, with `git ls-remote` over the same
//! repositories as the reference.
//!
//! `cargo bench -p tether-source --bench change_detection` (BENCH_REPOS=1000 by default; prints
//! min / median / p90; BENCH_ONLY=reference runs only the `git ls-remote` reference).

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
    if samples.is_empty() {
        return;
    }
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
        .unwrap_or(1000);
    // BENCH_ONLY=reference runs only the `git ls-remote` reference over the n repositories.
    let only_reference = std::env::var("BENCH_ONLY").as_deref() == Ok("reference");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Webhook latency with 10 apps per repository (1,000 apps to match).
    let web_n = 100;
    let web_urls: Vec<String> = (0..web_n)
        .map(|i| format!("https://git.example.com/org/repo-{i}"))
        .collect();
    let all_apps = Arc::new(apps(&web_urls, 10));
    let push = Push {
        repo_urls: vec![web_urls[web_n / 2].clone()],
        revision: "main".into(),
        touched_head: true,
        changed_files: vec!["apps/3/deploy.yaml".into()],
        ..Default::default()
    };
    let mut matching = Vec::new();
    for _ in 0..if only_reference { 0 } else { 200 } {
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
        for i in 0..if only_reference { 0 } else { 300 } {
            let body = github_push(&web_urls[i % web_n], i);
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

    // Polling n repositories on a loopback `git http-backend`. Eight repositories get working
    // copies to push from; the others are copies of one bare repository (fast to set up).
    let server = GitServer::start().expect("server");
    let pushers = 8.min(n);
    let mut repos = Vec::new();
    for i in 0..pushers {
        let repo = server.create_repo(&format!("repo-{i}")).expect("repo");
        repo.write("apps/a/cm.yaml", "a: 1\n").expect("write");
        repo.commit_and_push("c1").expect("push");
        repos.push(repo);
    }
    for i in pushers..n {
        copy_dir(
            repos[0].bare_dir(),
            &server.root().join(format!("repo-{i}.git")),
        );
    }
    let urls: Vec<String> = (0..n).map(|i| server.url(&format!("repo-{i}"))).collect();
    println!("(load average before polling: {})", load_average());
    let mut pushes = 0usize;
    let concurrencies: &[usize] = if only_reference { &[] } else { &[4, 16] };
    for &concurrency in concurrencies {
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
        let (mut client_cpu, mut server_cpu, mut requests) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            server.clear_requests();
            let before = cpu_times();
            let t = Instant::now();
            let events = rt.block_on(poller.poll_all());
            cycles.push(t.elapsed());
            let after = cpu_times();
            client_cpu.push(after.0 - before.0);
            server_cpu.push(after.1 - before.1);
            requests.push(server.requests().len());
            assert!(events.is_empty());
        }
        stats(
            &format!("poll round, {n} repos unchanged, concurrency {concurrency} (wall)"),
            cycles,
        );
        stats(
            &format!("  CPU of the poller (client) per round, concurrency {concurrency}"),
            client_cpu,
        );
        stats(
            &format!("  CPU of git http-backend (server) per round, concurrency {concurrency}"),
            server_cpu,
        );
        println!(
            "  HTTP requests per round: {:?} (load average {})",
            requests,
            load_average()
        );
        if concurrency == 16 {
            // Continuous polling (interval 0): the poller's own floor for noticing a push on one
            // of n repositories; with an interval I (Argo CD: 3 min + up to 1 min jitter) add
            // up to I.
            let poller = Arc::new(Poller::new(
                Arc::new(RepoCache::new(dir.path().join("run")).expect("cache")),
                PollerConfig {
                    concurrency,
                    interval: Duration::ZERO,
                    jitter: Duration::ZERO,
                    ..Default::default()
                },
            ));
            for u in &urls {
                poller.watch(WatchedRepo::new(u, ["HEAD", "main"]));
            }
            rt.block_on(poller.poll_all()); // baseline
            let round = rt.block_on(async {
                let t = Instant::now();
                poller.poll_all().await;
                t.elapsed()
            });
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let running = rt.spawn(poller.clone().run(tx));
            let mut notice = Vec::new();
            for k in 0..6 {
                // Push at a different point of the round each time.
                std::thread::sleep(round.mul_f64((k as f64 * 0.37) % 1.0));
                let repo = &repos[(k * 3) % pushers];
                pushes += 1;
                repo.write("apps/a/cm.yaml", &format!("a: {}\n", pushes + 1))
                    .expect("write");
                let sha = repo.commit_and_push("next").expect("push");
                let t = Instant::now();
                let event = rt.block_on(async {
                    loop {
                        let e = rx.recv().await.expect("poller runs");
                        if e.new.as_deref() == Some(sha.as_str()) {
                            return e;
                        }
                    }
                });
                notice.push(t.elapsed());
                assert!(
                    event
                        .url
                        .ends_with(&format!("repo-{}.git", (k * 3) % pushers))
                );
            }
            running.abort();
            stats(
                &format!("push → ChangeEvent (ls-refs + fetch), {n} repos polled continuously"),
                notice,
            );
        }
    }

    // Reference: `git ls-remote` over the same repositories, 16 at a time.
    let mut reference = Vec::new();
    let mut reference_cpu = Vec::new();
    for _ in 0..3 {
        let before = cpu_times();
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
        let after = cpu_times();
        reference_cpu.push(after.1 - before.1);
    }
    stats(
        &format!("reference: git ls-remote × {n}, 16 in parallel (wall)"),
        reference,
    );
    stats(
        "  CPU of git ls-remote + git http-backend per round",
        reference_cpu,
    );
    println!("(load average after: {})", load_average());
}

/// CPU time (user + system) of this process and of its reaped children (the server's
/// `git http-backend` processes, and `git ls-remote`), from /proc/self/stat.
fn cpu_times() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<u64> = after_comm
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14–17 of stat(5) (utime, stime, cutime, cstime), counted from field 3 here.
    let tick = |t: u64| Duration::from_millis(t * 10);
    (tick(f[11] + f[12]), tick(f[13] + f[14]))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}
