//! Bounded disk use: least recently used bare repositories and checkouts are evicted; what is in
//! use stays.

use tether_git::{RepoCache, Source};
use tether_gitserver::GitServer;

/// Incompressible-ish text, so packs and checkouts have a predictable size.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b'a' + ((x >> 33) % 26) as u8)
        })
        .collect()
}

#[test]
fn evicts_least_recently_used_and_keeps_what_is_in_use() {
    let server = GitServer::start().expect("server");
    let mut sources = Vec::new();
    let mut heads = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let repo = server.create_repo(name).expect("repo");
        repo.write("data.txt", &noise(i as u64, 64 * 1024))
            .expect("write");
        heads.push(repo.commit_and_push("c1").expect("push"));
        sources.push(Source::new(&server.url(name)));
    }

    // The size of one repository and its checkout.
    let probe_dir = tempfile::tempdir().expect("temp dir");
    let probe = RepoCache::new(probe_dir.path()).expect("cache");
    probe.checkout(&sources[0], &heads[0]).expect("checkout");
    let one = probe.evict(u64::MAX).bytes_before;
    assert!(one > 64 * 1024, "{one}");

    let dir = tempfile::tempdir().expect("temp dir");
    let budget = one * 5 / 2;
    let cache = RepoCache::new(dir.path())
        .expect("cache")
        .with_disk_budget(budget);
    let repo_dir = |i: usize| {
        dir.path()
            .join("repos")
            .join(tether_git::url::cache_key(sources[i].url()))
    };
    let held = cache.checkout(&sources[0], &heads[0]).expect("checkout a");
    cache.checkout(&sources[1], &heads[1]).expect("checkout b");
    assert!(
        repo_dir(0).is_dir() && repo_dir(1).is_dir(),
        "within budget"
    );
    cache.checkout(&sources[2], &heads[2]).expect("checkout c");

    // Over budget: a's bare repository (least recently used) went; a's checkout is held, so it
    // stays; b and c are newer.
    assert!(!repo_dir(0).exists(), "a's repository evicted");
    assert_eq!(
        held.read("data.txt").expect("held checkout"),
        noise(0, 64 * 1024).as_bytes()
    );
    assert!(repo_dir(2).is_dir(), "the newest repository stays");
    let now = cache.evict(u64::MAX);
    assert!(now.bytes_before <= budget, "{now:?} budget {budget}");

    // Once released, a's checkout can go too.
    let held_root = held.root().to_path_buf();
    drop(held);
    let report = cache.evict(one);
    assert!(report.checkouts >= 1, "{report:?}");
    assert!(!held_root.exists(), "released checkout evicted");
    assert!(report.bytes_after <= one, "{report:?}");

    // An evicted repository is fetched again on demand.
    let packs = cache
        .stats()
        .packs
        .load(std::sync::atomic::Ordering::Relaxed);
    let again = cache.checkout(&sources[0], &heads[0]).expect("a again");
    assert_eq!(
        again.read("data.txt").expect("read"),
        noise(0, 64 * 1024).as_bytes()
    );
    assert!(
        cache
            .stats()
            .packs
            .load(std::sync::atomic::Ordering::Relaxed)
            > packs
    );
}

#[test]
fn a_checkout_in_use_is_never_evicted_even_over_budget() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("big").expect("repo");
    repo.write("data.txt", &noise(7, 32 * 1024)).expect("write");
    let head = repo.commit_and_push("c1").expect("push");
    let dir = tempfile::tempdir().expect("temp dir");
    // A budget nothing fits in.
    let cache = RepoCache::new(dir.path())
        .expect("cache")
        .with_disk_budget(1);
    let source = Source::new(&server.url("big"));
    let checkout = cache.checkout(&source, &head).expect("checkout");
    let clone = checkout.clone();
    drop(checkout);
    let report = cache.evict(1);
    assert!(report.skipped_in_use >= 1, "{report:?}");
    assert_eq!(clone.read("data.txt").expect("read").len(), 32 * 1024);
}
