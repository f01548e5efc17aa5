//! The poller against real repositories on a loopback Git server.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tether_git::RepoCache;
use tether_gitserver::GitServer;
use tether_source::{ChangeEvent, Poller, PollerConfig, WatchedRepo};

fn config(interval: Duration) -> PollerConfig {
    PollerConfig {
        interval,
        jitter: Duration::ZERO,
        concurrency: 2,
        max_backoff: interval * 10,
        fetch: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_revisions_are_reported_once_and_fetched() {
    let server = GitServer::start().expect("server");
    let a = server.create_repo("a").expect("repo");
    a.write("x", "1").expect("write");
    let a1 = a.commit_and_push("a1").expect("push");
    a.tag("v1.0.0").expect("tag");
    let b = server.create_repo("b").expect("repo");
    b.write("y", "1").expect("write");
    b.commit_and_push("b1").expect("push");

    let cache_dir = tempfile::tempdir().expect("tmp");
    let cache = Arc::new(RepoCache::new(cache_dir.path()).expect("cache"));
    let poller = Poller::new(cache.clone(), config(Duration::from_secs(3600)));
    poller.watch(WatchedRepo::new(&server.url("a"), ["main", "v1.*", "HEAD"]));
    poller.watch(WatchedRepo::new(&server.url("b"), Vec::<String>::new()));
    poller.watch(WatchedRepo::new(&server.url("missing"), ["main"]));
    assert_eq!(poller.len(), 3);

    // The first poll records baselines; the missing repository fails without stopping the others.
    assert!(poller.poll_all().await.is_empty());
    let missing = poller.status(&server.url("missing")).expect("watched");
    assert_eq!(missing.failures, 1);
    assert!(
        missing.due_in > Duration::from_secs(3600),
        "backed off beyond one interval: {missing:?}"
    );
    assert!(poller.status(&server.url("a")).expect("a").polled);

    // Nothing moved: nothing reported, nothing fetched.
    let packs = cache.stats().packs.load(Ordering::Relaxed);
    assert!(poller.poll_all().await.is_empty());
    assert_eq!(
        cache.stats().packs.load(Ordering::Relaxed),
        packs,
        "listings only"
    );

    // A new commit on main and a new matching tag on a; a deleted tag and a new branch on b.
    b.tag("old").expect("tag");
    let tagged = poller.poll_all().await;
    assert_eq!(tagged.len(), 1, "{tagged:?}");
    assert_eq!(tagged[0].revision, "refs/tags/old");
    let old = tagged[0].new.clone();
    a.write("x", "2").expect("write");
    let a2 = a.commit_and_push("a2").expect("push");
    a.tag("v1.1.0").expect("tag");
    b.delete_tag("old").expect("delete");
    b.checkout("feature", true).expect("branch");
    b.write("z", "1").expect("write");
    let b2 = b.commit_and_push("feature").expect("push");

    let events = poller.poll_all().await;
    let a_url = server.url("a");
    let b_url = server.url("b");
    let ev = |url: &str, rev: &str, old: Option<&str>, new: Option<&str>| ChangeEvent {
        url: url.to_owned(),
        repo: tether_git::url::normalize_url(url),
        revision: rev.to_owned(),
        old: old.map(str::to_owned),
        new: new.map(str::to_owned),
    };
    let mut want = vec![
        ev(&a_url, "HEAD", Some(&a1), Some(&a2)),
        ev(&a_url, "main", Some(&a1), Some(&a2)),
        ev(&a_url, "v1.*", Some(&a1), Some(&a2)),
        ev(&b_url, "refs/heads/feature", None, Some(&b2)),
        ev(&b_url, "refs/tags/old", old.as_deref(), None),
    ];
    want.sort_by(|x, y| (&x.repo, &x.revision).cmp(&(&y.repo, &y.revision)));
    assert_eq!(events, want);

    // The moved commits were fetched: checking them out needs no network.
    server.clear_requests();
    let source = tether_git::Source::new(&a_url);
    let checkout = cache.checkout(&source, &a2).expect("checkout");
    assert_eq!(checkout.read("x").expect("read"), b"2");
    assert!(server.requests().is_empty(), "{:?}", server.requests());

    // Reported once.
    assert!(poller.poll_all().await.is_empty());

    // Not due yet (interval one hour): poll_due does nothing.
    server.clear_requests();
    assert!(poller.poll_due().await.is_empty());
    assert!(server.requests().is_empty());

    poller.unwatch(&server.url("missing"));
    assert_eq!(poller.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sends_events_until_the_receiver_goes() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    repo.write("x", "1").expect("write");
    repo.commit_and_push("c1").expect("push");
    let cache_dir = tempfile::tempdir().expect("tmp");
    let cache = Arc::new(RepoCache::new(cache_dir.path()).expect("cache"));
    let poller = Arc::new(Poller::new(cache, config(Duration::from_millis(50))));
    poller.watch(WatchedRepo::new(&server.url("app"), ["main"]));
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(poller.clone().run(tx));
    // Wait for the baseline before pushing.
    while !poller.status(&server.url("app")).expect("watched").polled {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    repo.write("x", "2").expect("write");
    let c2 = repo.commit_and_push("c2").expect("push");
    let event = rx.recv().await.expect("an event");
    assert_eq!(event.revision, "main");
    assert_eq!(event.new.as_deref(), Some(c2.as_str()));
    drop(rx);
    task.await.expect("run returns once the receiver is gone");
}
