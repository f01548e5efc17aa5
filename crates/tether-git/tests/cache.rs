//! The repository cache against real Git over smart HTTP on loopback (`tether-gitserver`).

use std::sync::{Arc, Barrier};

use tether_git::{Credentials, Error, PathError, RemoteRef, RepoCache, Source};
use tether_gitserver::{GitServer, Repo};

fn cache() -> (tempfile::TempDir, RepoCache) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path().join("cache")).expect("cache");
    (dir, cache)
}

fn info_refs(server: &GitServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.uri.contains("/info/refs"))
        .count()
}

fn upload_packs(server: &GitServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.is_upload_pack())
        .count()
}

struct History {
    c1: String,
    c2: String,
    c3: String,
    feature: String,
}

/// main: c1 (v1.0.0) — c2 (v1.2.0, annotated) — c3 (v1.2.5, v2.0.0-rc.1); feature: c3 — c4.
fn history(repo: &Repo) -> History {
    repo.write("app/values.yaml", "replicas: 1\n")
        .expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    repo.tag("v1.0.0").expect("tag");
    repo.write("app/values.yaml", "replicas: 2\n")
        .expect("write");
    let c2 = repo.commit_and_push("c2").expect("push");
    repo.tag_annotated("v1.2.0", "release 1.2.0").expect("tag");
    repo.write("app/values.yaml", "replicas: 3\n")
        .expect("write");
    let c3 = repo.commit_and_push("c3").expect("push");
    repo.tag("v1.2.5").expect("tag");
    repo.tag("v2.0.0-rc.1").expect("tag");
    repo.checkout("feature", true).expect("branch");
    repo.write("app/values.yaml", "replicas: 4\n")
        .expect("write");
    let feature = repo.commit_and_push("c4").expect("push");
    repo.checkout("main", false).expect("main");
    History {
        c1,
        c2,
        c3,
        feature,
    }
}

#[test]
fn resolves_branches_tags_shas_and_semver_constraints() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    let h = history(&repo);
    let (_dir, cache) = cache();
    let source = Source::new(&server.url("app"));
    let resolve = |rev: &str| {
        cache
            .resolve(&source, rev)
            .unwrap_or_else(|e| panic!("{rev}: {e}"))
    };
    assert_eq!(resolve("main"), h.c3);
    assert_eq!(resolve("HEAD"), h.c3);
    assert_eq!(resolve(""), h.c3);
    assert_eq!(resolve("refs/heads/main"), h.c3);
    assert_eq!(resolve("feature"), h.feature);
    assert_eq!(resolve("v1.0.0"), h.c1);
    assert_eq!(
        resolve("v1.2.0"),
        h.c2,
        "annotated tag peeled to its commit"
    );
    assert_eq!(resolve("refs/tags/v1.2.0"), h.c2);
    assert_eq!(resolve("1.2.*"), h.c3, "highest 1.2.x tag is v1.2.5");
    assert_eq!(resolve("~1.2"), h.c3);
    assert_eq!(resolve(">=1.0.0 <1.2.0"), h.c1);
    assert_eq!(resolve(">=1.1.0, <1.2.5"), h.c2);
    assert_eq!(resolve("*"), h.c3, "prerelease v2.0.0-rc.1 not picked");
    assert_eq!(resolve(">=2.0.0-0"), h.c3);
    assert_eq!(resolve(&h.c1), h.c1);
    assert_eq!(resolve(&h.c2.to_uppercase()), h.c2);
    assert_eq!(resolve(&h.c2[..8]), h.c2, "short SHA");
    // A full SHA already in the cache needs no network.
    server.clear_requests();
    assert_eq!(resolve(&h.feature), h.feature);
    assert!(server.requests().is_empty(), "{:#?}", server.requests());

    for bad in ["nope", "3.*", "v9.9.9", "deadbeef00"] {
        let err = cache.resolve(&source, bad).expect_err(bad);
        let msg = err.to_string();
        assert!(matches!(err, Error::Unresolved { .. }), "{bad}: {msg}");
        assert!(msg.contains(&format!("`{bad}`")), "{msg}");
        assert!(msg.contains(&server.url("app")), "{msg}");
    }
}

#[test]
fn sees_force_pushes_and_deleted_tags() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    let h = history(&repo);
    let (_dir, cache) = cache();
    let source = Source::new(&server.url("app"));
    assert_eq!(cache.resolve(&source, "main").expect("main"), h.c3);
    assert_eq!(cache.resolve(&source, "v1.2.5").expect("tag"), h.c3);

    repo.reset_hard(&h.c1).expect("reset");
    repo.write("app/values.yaml", "replicas: 9\n")
        .expect("write");
    let rewritten = repo.commit("rewritten").expect("commit");
    repo.force_push().expect("force push");
    repo.delete_tag("v1.2.5").expect("delete tag");

    assert_eq!(cache.resolve(&source, "main").expect("main"), rewritten);
    let err = cache.resolve(&source, "v1.2.5").expect_err("deleted tag");
    assert!(matches!(err, Error::Unresolved { .. }), "{err}");
    assert_eq!(
        cache.resolve(&source, "1.2.*").expect("semver"),
        h.c2,
        "v1.2.5 is gone; v1.2.0 is the highest 1.2.x"
    );
    let checkout = cache.checkout(&source, &rewritten).expect("checkout");
    assert_eq!(
        checkout.read("app/values.yaml").expect("read"),
        b"replicas: 9\n"
    );
    // The force-pushed-away commit is still in the cache and can be checked out by SHA.
    let old = cache.checkout(&source, &h.c3).expect("old checkout");
    assert_eq!(old.read("app/values.yaml").expect("read"), b"replicas: 3\n");
}

#[test]
fn concurrent_resolvers_share_one_fetch() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    let h = history(&repo);
    let (_dir, cache) = cache();
    let cache = Arc::new(cache);
    server.clear_requests();
    let threads = 16;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            let url = server.url("app");
            std::thread::spawn(move || {
                let source = Source::new(&url);
                barrier.wait();
                cache.resolve(&source, "main")
            })
        })
        .collect();
    for h2 in handles {
        assert_eq!(h2.join().expect("thread").expect("resolve"), h.c3);
    }
    assert_eq!(info_refs(&server), 1, "{:#?}", server.requests());
    assert_eq!(
        cache
            .stats()
            .listings
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        cache
            .stats()
            .packs
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn warm_fetch_of_an_unchanged_repository_downloads_no_pack() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    history(&repo);
    let (_dir, cache) = cache();
    let source = Source::new(&server.url("app"));
    server.clear_requests();
    let cold = cache.fetch(&source).expect("cold fetch");
    let cold_posts = upload_packs(&server);
    server.clear_requests();
    let warm = cache.fetch(&source).expect("warm fetch");
    let warm_posts = upload_packs(&server);
    assert_eq!(cold, warm);
    assert_eq!(cold_posts, 2, "ls-refs and fetch");
    // The warm fetch only lists refs, in one request (protocol v2 `ls-refs` without the
    // capability advertisement first).
    assert_eq!(info_refs(&server), 0, "{:#?}", server.requests());
    assert_eq!(warm_posts, 1, "{:#?}", server.requests());
    assert_eq!(
        cache
            .stats()
            .packs
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // A new commit is fetched by the next fetch.
    repo.write("new.txt", "x").expect("write");
    let c = repo.commit_and_push("new").expect("push");
    assert_eq!(cache.resolve(&source, "main").expect("main"), c);
    assert_eq!(
        cache
            .stats()
            .packs
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[test]
fn lists_refs_without_fetching() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    let h = history(&repo);
    let (_dir, cache) = cache();
    let refs = cache
        .ls_refs(&Source::new(&server.url("app")))
        .expect("ls-refs");
    let names: Vec<&str> = refs.refs.iter().map(RemoteRef::name).collect();
    for want in [
        "HEAD",
        "refs/heads/main",
        "refs/heads/feature",
        "refs/tags/v1.2.0",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let head = refs.refs.iter().find(|r| r.name() == "HEAD").expect("HEAD");
    assert_eq!(head.commit(), Some(h.c3.as_str()));
    let annotated = refs
        .refs
        .iter()
        .find(|r| r.name() == "refs/tags/v1.2.0")
        .expect("tag");
    assert_eq!(annotated.commit(), Some(h.c2.as_str()));
    assert_eq!(
        cache
            .stats()
            .packs
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn fetches_over_file_urls() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    let h = history(&repo);
    let (_dir, cache) = cache();
    let source = Source::new(&format!("file://{}", repo.bare_dir().display()));
    assert_eq!(
        cache.resolve(&source, "feature").expect("feature"),
        h.feature
    );
    assert_eq!(cache.resolve(&source, "1.2.*").expect("semver"), h.c3);
    assert!(server.requests().is_empty(), "no HTTP for file://");
}

#[test]
fn authenticates_and_never_leaks_the_password() {
    let password = "s3cret-Pa55word";
    let server = GitServer::start_with_auth(Some(("alice", password))).expect("server");
    let repo = server.create_repo("private").expect("repo");
    repo.write("a.txt", "a").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    let (dir, cache) = cache();

    let right =
        Source::new(&server.url("private")).with_credentials(Credentials::basic("alice", password));
    assert_eq!(
        cache.resolve(&right, "main").expect("right credentials"),
        c1
    );
    assert!(!format!("{right:?}").contains(password), "{right:?}");

    // Credentials in the URL are taken out of it.
    let embedded = Source::new(&server.url_with_credentials("private"));
    assert_eq!(embedded.url(), server.url("private"));
    assert_eq!(
        cache
            .resolve(&embedded, "main")
            .expect("embedded credentials"),
        c1
    );

    let wrong_password = "wr0ng-Pa55word-XYZ";
    let (_dir2, fresh) = self::cache();
    let wrong = Source::new(&server.url("private"))
        .with_credentials(Credentials::basic("alice", wrong_password));
    let err = fresh
        .resolve(&wrong, "main")
        .expect_err("wrong credentials");
    let msg = format!("{err} {err:?}");
    assert!(matches!(err, Error::Fetch { .. }), "{msg}");
    assert!(!msg.contains(wrong_password), "{msg}");
    assert!(msg.contains(&server.url("private")), "{msg}");

    let in_url = server
        .url("private")
        .replace("http://", &format!("http://alice:{wrong_password}@"));
    let err = fresh
        .resolve(&Source::new(&in_url), "main")
        .expect_err("wrong in URL");
    let msg = format!("{err} {err:?}");
    assert!(!msg.contains(wrong_password), "{msg}");

    // A token as the URL's user name is a secret as well.
    let token_url = server
        .url("private")
        .replace("http://", "http://ghp_Wr0ngT0ken@");
    let err = fresh
        .resolve(&Source::new(&token_url), "main")
        .expect_err("wrong token");
    let msg = format!("{err} {err:?}");
    assert!(!msg.contains("ghp_Wr0ngT0ken"), "{msg}");

    let err = fresh
        .resolve(&Source::new(&server.url("private")), "main")
        .expect_err("no credentials");
    assert!(matches!(err, Error::Fetch { .. }), "{err}");

    // No cache path names the user or the password.
    for entry in walk(dir.path()) {
        let p = entry.display().to_string();
        assert!(!p.contains(password) && !p.contains("alice"), "{p}");
    }
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn checkouts_are_shared_read_only_and_confined() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("crafted").expect("repo");
    repo.write("values.yaml", "safe: true\n").expect("write");
    repo.write("chart/templates/cm.yaml", "kind: ConfigMap\n")
        .expect("write");
    let work = repo.work_dir();
    let link = |target: &str, at: &str| {
        std::os::unix::fs::symlink(target, work.join(at)).expect("symlink");
    };
    link("/etc/passwd", "evil-values.yaml");
    link("../../../../../../etc", "up");
    link("../values.yaml", "chart/values.yaml");
    link("loop-b", "loop-a");
    link("loop-a", "loop-b");
    link(".", "self");
    let commit = repo.commit_and_push("crafted").expect("push");

    let (_dir, cache) = cache();
    let source = Source::new(&server.url("crafted"));
    assert_eq!(cache.resolve(&source, "main").expect("resolve"), commit);
    let checkout = cache.checkout(&source, &commit).expect("checkout");
    let again = cache.checkout(&source, &commit).expect("checkout again");
    assert_eq!(checkout.root(), again.root(), "one tree per commit");
    assert!(checkout.root().ends_with(&commit));

    assert_eq!(checkout.read("values.yaml").expect("read"), b"safe: true\n");
    assert_eq!(
        checkout.read("chart/values.yaml").expect("in-bounds link"),
        b"safe: true\n"
    );
    assert_eq!(
        checkout
            .read("chart/../values.yaml")
            .expect("dotdot inside"),
        b"safe: true\n"
    );
    assert_eq!(
        checkout.read("self/self/./values.yaml").expect("self link"),
        b"safe: true\n"
    );
    assert_eq!(
        checkout.resolve("chart/templates").expect("dir"),
        checkout.root().join("chart/templates")
    );

    let reason = |rel: &str| match checkout.resolve(rel) {
        Err(Error::Path {
            reason,
            path,
            repo,
            commit: c,
        }) => {
            assert_eq!(path, rel);
            assert_eq!(repo, server.url("crafted"));
            assert_eq!(c, commit);
            reason
        }
        other => panic!("{rel}: expected a refusal, got {other:?}"),
    };
    assert!(
        matches!(reason("evil-values.yaml"), PathError::SymlinkEscapes(t) if t == "/etc/passwd")
    );
    assert!(matches!(reason("up/passwd"), PathError::SymlinkEscapes(_)));
    assert_eq!(reason("../../etc/passwd"), PathError::Escapes);
    assert_eq!(reason("chart/../../x"), PathError::Escapes);
    assert_eq!(reason("/etc/passwd"), PathError::Absolute);
    assert_eq!(reason("loop-a/values.yaml"), PathError::SymlinkLoop);
    let err = checkout.read("evil-values.yaml").expect_err("refused");
    assert!(err.to_string().contains("evil-values.yaml"), "{err}");
    assert!(
        !String::from_utf8_lossy(&checkout.read("values.yaml").expect("read")).contains("root:")
    );

    assert_eq!(
        checkout.out_of_bounds_symlinks(),
        vec![std::path::PathBuf::from("evil-values.yaml"), "up".into()]
    );

    let meta = std::fs::metadata(checkout.root().join("values.yaml")).expect("stat");
    assert!(
        meta.permissions().readonly(),
        "checkout files are read-only"
    );
    let link_meta =
        std::fs::symlink_metadata(checkout.root().join("evil-values.yaml")).expect("lstat");
    assert!(link_meta.file_type().is_symlink(), "symlinks stay symlinks");

    // Many callers checking out one new commit at once get one shared tree.
    repo.write("later.yaml", "n: 2\n").expect("write");
    let later = repo.commit_and_push("later").expect("push");
    let cache = std::sync::Arc::new(cache);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (cache, source, later) = (cache.clone(), source.clone(), later.clone());
            std::thread::spawn(move || cache.checkout(&source, &later).map(|c| c.root().to_owned()))
        })
        .collect();
    let roots: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread").expect("checkout"))
        .collect();
    assert!(roots.iter().all(|r| r == &roots[0]), "{roots:?}");
    let siblings = std::fs::read_dir(roots[0].parent().expect("parent"))
        .expect("read dir")
        .count();
    assert_eq!(siblings, 2, "two commits, no temporary leftovers");

    let err = cache
        .checkout(&source, &"0".repeat(40))
        .expect_err("unknown commit");
    assert!(matches!(err, Error::CommitNotFound { .. }), "{err}");
}

/// Every fetch adds a pack to the cached repository. gix sizes an open repository's index
/// slots from the packs on disk (32 at least by default), so one handle kept across many
/// fetches used to fail with "too few index slots" after about 32 new commits until the
/// process restarted. Well over that many fetches of new commits must all work, and every
/// commit stays readable.
#[test]
fn many_fetches_of_new_commits_keep_working() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("busy").expect("repo");
    let (_dir, cache) = cache();
    let source = Source::new(&server.url("busy"));
    let mut commits = Vec::new();
    for i in 0..80 {
        repo.write("app/cm.yaml", &format!("value: {i}\n"))
            .expect("write");
        let c = repo.commit_and_push(&format!("c{i}")).expect("push");
        assert_eq!(
            cache
                .resolve(&source, "main")
                .unwrap_or_else(|e| panic!("fetch {i}: {e}")),
            c
        );
        commits.push(c);
    }
    for (i, c) in commits.iter().enumerate().step_by(7) {
        let checkout = cache.checkout(&source, c).expect("checkout");
        assert_eq!(
            checkout.read("app/cm.yaml").expect("read"),
            format!("value: {i}\n").as_bytes()
        );
    }
}
