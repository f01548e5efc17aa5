//! Checkout of a 10,000-file tree (100 directories × 100 files of ~120 bytes, one commit) from the
//! bare repository in the cache: tether-git's read-only checkout at a commit, against the git CLI
//! writing the same tree from a bare clone on the same disk (`git worktree add --detach`, and
//! `git archive | tar -x`, the closest git analogue of a read-only export).
//!
//! `cargo bench -p tether-git --bench checkout` (BENCH_FILES=10000 BENCH_RUNS=7 by default;
//! prints min / median / max).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tether_git::{RepoCache, Source};
use tether_gitserver::GitServer;

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<52} n={:<3} min {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms",
        samples.len(),
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
    );
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(Stdio::null())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let t = e.file_type().expect("type");
            if t.is_dir() {
                if e.file_name() != ".git" {
                    stack.push(e.path());
                }
            } else if e.file_name() != ".git" {
                n += 1;
            }
        }
    }
    n
}

fn main() {
    let files: usize = std::env::var("BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("big").expect("repo");
    let dirs = files.div_ceil(100);
    for i in 0..files {
        let d = i % dirs;
        repo.write(
            &format!("apps/app-{d:03}/res-{i:05}.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: res-{i}\ndata:\n  key: value-{i}\n"
            ),
        )
        .expect("write");
    }
    let t = Instant::now();
    let sha = repo.commit_and_push("10k files").expect("push");
    println!("(setup: commit + push of {files} files: {:?})", t.elapsed());

    let tmp = tempfile::tempdir().expect("tmp");
    let source = Source::new(&server.url("big"));
    let mut tether = Vec::new();
    let mut warm = Vec::new();
    for r in 0..runs {
        let cache = RepoCache::new(tmp.path().join(format!("cache-{r}"))).expect("cache");
        let resolved = cache.resolve(&source, "main").expect("fetch");
        assert_eq!(resolved, sha);
        let t = Instant::now();
        let checkout = cache.checkout(&source, &sha).expect("checkout");
        tether.push(t.elapsed());
        if r == 0 {
            assert_eq!(count_files(checkout.root()), files);
        }
        // A second app at the same commit shares the tree.
        let t = Instant::now();
        let again = cache.checkout(&source, &sha).expect("checkout");
        warm.push(t.elapsed());
        assert_eq!(again.root(), checkout.root());
    }
    stats(
        &format!("tether-git: checkout of {files} files (cold)"),
        tether,
    );
    stats("tether-git: same commit again (shared)", warm);

    // The reference: the git CLI from a bare clone of the same repository.
    let bare = tmp.path().join("bare.git");
    git(
        tmp.path(),
        &[
            "clone",
            "--quiet",
            "--bare",
            &server.url("big"),
            &bare.display().to_string(),
        ],
    );
    let mut worktree = Vec::new();
    for r in 0..runs {
        let wt = tmp.path().join(format!("wt-{r}"));
        let t = Instant::now();
        git(
            &bare,
            &[
                "worktree",
                "add",
                "--quiet",
                "--detach",
                &wt.display().to_string(),
                &sha,
            ],
        );
        worktree.push(t.elapsed());
        if r == 0 {
            assert_eq!(count_files(&wt), files);
        }
    }
    stats(
        &format!("reference: `git worktree add --detach` ({files} files)"),
        worktree,
    );
    let mut archive = Vec::new();
    for r in 0..runs {
        let out = tmp.path().join(format!("ar-{r}"));
        std::fs::create_dir(&out).expect("dir");
        let t = Instant::now();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "git --git-dir='{}' archive --format=tar {sha} | tar -x -C '{}'",
                bare.display(),
                out.display()
            ))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("sh");
        archive.push(t.elapsed());
        assert!(status.success());
        if r == 0 {
            assert_eq!(count_files(&out), files);
        }
    }
    stats(
        &format!("reference: `git archive | tar -x` ({files} files)"),
        archive,
    );
}
