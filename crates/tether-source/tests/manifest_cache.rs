//! The manifest cache in front of a real Git repository on loopback: a render of a known key does
//! no Git work (no request reaches the server, no listing is made) and no render work.

use std::sync::atomic::Ordering;

use tether_git::{RepoCache, Source};
use tether_gitserver::GitServer;
use tether_source::manifest_cache::DEFAULT_MAX_BYTES;
use tether_source::{ManifestCache, Manifests, RenderError, render_at_commit};

fn read_configmaps(dir: &std::path::Path) -> Result<Manifests, String> {
    let mut out = Manifests::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), "ConfigMap".into());
        m.insert("data".into(), text.trim().into());
        out.push(m);
    }
    Ok(out)
}

#[test]
fn known_keys_do_no_git_or_render_work() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    repo.write("apps/a/one.txt", "1").expect("write");
    repo.write("apps/b/two.txt", "2").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    let cache_dir = tempfile::tempdir().expect("tmp");
    let repos = RepoCache::new(cache_dir.path()).expect("cache");
    let manifests = ManifestCache::new(DEFAULT_MAX_BYTES);
    let source = Source::new(&server.url("app"));
    let mut renders = 0;
    let mut render = |params: &serde_json::Value, path: &str| {
        render_at_commit(
            &manifests,
            &repos,
            &source,
            &c1,
            path,
            params,
            "test-renderer/1",
            |_, dir| {
                renders += 1;
                read_configmaps(dir)
            },
        )
    };

    let first = render(&serde_json::json!({"recurse": false}), "apps/a").expect("render");
    assert_eq!(first[0]["data"], "1");
    let requests = server.requests().len();
    assert!(requests > 0, "the first render fetched");
    let listings = repos.stats().listings.load(Ordering::Relaxed);

    server.clear_requests();
    let again = render(&serde_json::json!({"recurse": false}), "apps/a").expect("render");
    assert_eq!(again, first);
    assert!(server.requests().is_empty(), "no Git request on a hit");
    assert_eq!(repos.stats().listings.load(Ordering::Relaxed), listings);

    // Another path or other parameters render again, from the local checkout.
    let b = render(&serde_json::json!({"recurse": false}), "apps/b").expect("render");
    assert_eq!(b[0]["data"], "2");
    render(&serde_json::json!({"recurse": true}), "apps/a").expect("render");
    assert!(server.requests().is_empty(), "the commit is already local");
    assert_eq!(renders, 3);

    // A path leaving the checkout is refused before rendering.
    let err = render_at_commit(
        &manifests,
        &repos,
        &source,
        &c1,
        "../../etc",
        &(),
        "test-renderer/1",
        |_, dir| read_configmaps(dir),
    )
    .expect_err("escape");
    assert!(matches!(err, RenderError::Git(_)), "{err}");
}
