//! Shallow fetches, deepening, fetching unreferenced commits by SHA, force pushes and deleted tags,
//! against real Git over smart HTTP on loopback (`tether-gitserver`).

use tether_git::{Error, RepoCache, Source};
use tether_gitserver::{GitServer, git};

fn commits_in_cache(cache: &RepoCache, url: &str) -> usize {
    let dir = cache
        .root()
        .join("repos")
        .join(tether_git::url::cache_key(url));
    git(&dir, &["rev-list", "--all", "--count"])
        .expect("rev-list")
        .trim()
        .parse()
        .expect("count")
}

fn has_commit(cache: &RepoCache, url: &str, sha: &str) -> bool {
    let dir = cache
        .root()
        .join("repos")
        .join(tether_git::url::cache_key(url));
    git(&dir, &["cat-file", "-e", sha]).is_ok()
}

fn is_shallow(cache: &RepoCache, url: &str) -> bool {
    cache
        .root()
        .join("repos")
        .join(tether_git::url::cache_key(url))
        .join("shallow")
        .is_file()
}

#[test]
fn shallow_fetch_then_deepen() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    let mut commits = Vec::new();
    for i in 1..=5 {
        repo.write("values.yaml", &format!("replicas: {i}\n"))
            .expect("write");
        commits.push(repo.commit_and_push(&format!("c{i}")).expect("push"));
    }
    repo.tag("v1.0.0").expect("tag");
    let url = server.url("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");

    let shallow = Source::new(&url).shallow(true);
    assert_eq!(cache.resolve(&shallow, "v1.0.0").expect("tag"), commits[4]);
    assert!(is_shallow(&cache, &url));
    assert_eq!(commits_in_cache(&cache, &url), 1, "depth 1: the tip only");

    // An older commit by SHA: fetched alone, still shallow.
    let c2 = cache
        .checkout(&shallow, &commits[1])
        .expect("old commit by SHA");
    assert_eq!(c2.read("values.yaml").expect("read"), b"replicas: 2\n");
    assert!(has_commit(&cache, &url, &commits[1]));
    assert!(
        !has_commit(&cache, &url, &commits[2]),
        "only the commit asked for"
    );
    // Short SHAs of commits the shallow cache lacks do not resolve.
    let short = &commits[2][..10];
    let err = cache
        .resolve(&shallow, short)
        .expect_err("short SHA in a shallow cache");
    assert!(matches!(err, Error::Unresolved { .. }), "{err}");

    // A new commit: the shallow fetch brings only it.
    repo.write("values.yaml", "replicas: 6\n").expect("write");
    let c6 = repo.commit_and_push("c6").expect("push");
    assert_eq!(cache.resolve(&shallow, "main").expect("main"), c6);
    assert!(is_shallow(&cache, &url));

    // A non-shallow source of the same repository deepens it to the whole history.
    let full = Source::new(&url);
    assert_eq!(cache.resolve(&full, "main").expect("deepen"), c6);
    assert!(!is_shallow(&cache, &url), "unshallowed");
    assert_eq!(commits_in_cache(&cache, &url), 6);
    assert_eq!(
        cache.resolve(&full, short).expect("short SHA now"),
        commits[2]
    );

    // A shallow source never makes a full cache shallow again.
    repo.write("values.yaml", "replicas: 7\n").expect("write");
    let c7 = repo.commit_and_push("c7").expect("push");
    assert_eq!(cache.resolve(&shallow, "main").expect("main"), c7);
    assert!(!is_shallow(&cache, &url));
    assert_eq!(commits_in_cache(&cache, &url), 7);
}

#[test]
fn fetches_an_unreferenced_commit_by_sha() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    repo.write("a.txt", "main\n").expect("write");
    let main = repo.commit_and_push("main").expect("push");
    // A commit on a branch that is then deleted: no ref points at it any more.
    repo.checkout("tmp", true).expect("branch");
    repo.write("a.txt", "orphan\n").expect("write");
    let orphan = repo.commit("orphan").expect("commit");
    git(repo.work_dir(), &["push", "--quiet", "origin", "tmp"]).expect("push tmp");
    git(repo.work_dir(), &["push", "--quiet", "origin", ":tmp"]).expect("delete tmp");
    repo.checkout("main", false).expect("main");

    for shallow in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = RepoCache::new(dir.path()).expect("cache");
        let source = Source::new(&server.url("app")).shallow(shallow);
        let refs = cache.ls_refs(&source).expect("refs");
        assert!(
            refs.refs
                .iter()
                .all(|r| r.commit() != Some(orphan.as_str())),
            "no ref points at the orphan"
        );
        assert_eq!(cache.resolve(&source, "main").expect("main"), main);
        assert_eq!(
            cache.resolve(&source, &orphan).expect("unreferenced SHA"),
            orphan,
            "shallow: {shallow}"
        );
        let checkout = cache.checkout(&source, &orphan).expect("checkout");
        assert_eq!(checkout.read("a.txt").expect("read"), b"orphan\n");
        // A SHA the server does not have: a clear error naming the commit and the repository.
        let missing = "0123456789abcdef0123456789abcdef01234567";
        let err = cache.resolve(&source, missing).expect_err("missing SHA");
        let msg = err.to_string();
        assert!(msg.contains(&server.url("app")), "{msg}");
    }
}

#[test]
fn force_pushed_branches_and_deleted_tags_in_a_shallow_cache() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    repo.write("a.txt", "1\n").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    repo.write("a.txt", "2\n").expect("write");
    repo.commit_and_push("c2").expect("push");
    repo.tag("v1.0.0").expect("tag");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");
    let source = Source::new(&server.url("app")).shallow(true);
    assert!(cache.resolve(&source, "v1.0.0").is_ok());

    repo.reset_hard(&c1).expect("reset");
    repo.write("a.txt", "rewritten\n").expect("write");
    let rewritten = repo.commit("rewritten").expect("commit");
    repo.force_push().expect("force push");
    repo.delete_tag("v1.0.0").expect("delete tag");

    assert_eq!(cache.resolve(&source, "main").expect("main"), rewritten);
    let err = cache.resolve(&source, "v1.0.0").expect_err("deleted tag");
    assert!(matches!(err, Error::Unresolved { .. }), "{err}");
    assert_eq!(
        cache
            .checkout(&source, &rewritten)
            .expect("checkout")
            .read("a.txt")
            .expect("read"),
        b"rewritten\n"
    );
}

#[test]
fn checks_out_submodules_when_asked() {
    let server = GitServer::start().expect("server");
    let lib = server.create_repo("lib").expect("lib");
    lib.write("lib.txt", "from the submodule\n").expect("write");
    let lib_head = lib.commit_and_push("lib").expect("push");
    let app = server.create_repo("app").expect("app");
    app.write("app.txt", "app\n").expect("write");
    git(
        app.work_dir(),
        &[
            "submodule",
            "add",
            "--quiet",
            &server.url("lib"),
            "vendor/lib",
        ],
    )
    .expect("submodule add");
    // A relative URL, resolved against the superproject's, as git does.
    git(
        app.work_dir(),
        &[
            "config",
            "-f",
            ".gitmodules",
            "submodule.vendor/lib.url",
            "../lib.git",
        ],
    )
    .expect("relative url");
    let head = app.commit_and_push("with submodule").expect("push");
    // The submodule moves on after; the superproject pins the older commit.
    lib.write("lib.txt", "newer\n").expect("write");
    lib.commit_and_push("newer").expect("push");

    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");
    let plain = Source::new(&server.url("app"));
    let without = cache.checkout(&plain, &head).expect("checkout");
    assert_eq!(without.read("app.txt").expect("read"), b"app\n");
    assert!(
        without.read("vendor/lib/lib.txt").is_err(),
        "no submodule content without the option"
    );

    let with = cache
        .checkout(&plain.clone().with_submodules(true), &head)
        .expect("checkout with submodules");
    assert_eq!(with.commit(), head);
    assert_ne!(with.root(), without.root());
    assert_eq!(
        with.read("vendor/lib/lib.txt").expect("submodule file"),
        b"from the submodule\n"
    );
    let _ = lib_head;

    // A submodule whose repository is missing: an error naming its path.
    let broken = server.create_repo("broken").expect("repo");
    broken.write("a.txt", "a\n").expect("write");
    git(
        broken.work_dir(),
        &["submodule", "add", "--quiet", &server.url("lib"), "sub"],
    )
    .expect("submodule add");
    git(
        broken.work_dir(),
        &[
            "config",
            "-f",
            ".gitmodules",
            "submodule.sub.url",
            "../missing.git",
        ],
    )
    .expect("url");
    let bh = broken.commit_and_push("broken").expect("push");
    let err = cache
        .checkout(
            &Source::new(&server.url("broken")).with_submodules(true),
            &bh,
        )
        .expect_err("missing submodule repository");
    let msg = err.to_string();
    assert!(msg.contains("`sub`") && msg.contains("missing"), "{msg}");
}
