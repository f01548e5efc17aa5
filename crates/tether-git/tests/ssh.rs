//! Fetching over SSH from a real OpenSSH server on loopback (`tether_gitserver::SshServer`: sshd
//! with a generated host key and one authorized key whose forced command is `git-upload-pack`).

use tether_git::{Credentials, Error, RepoCache, Source};
use tether_gitserver::{GitServer, SshServer};

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn fetches_over_ssh_with_a_key_and_checks_host_keys() {
    let http = GitServer::start().expect("http server");
    let repo = http.create_repo("app").expect("repo");
    repo.write("values.yaml", "replicas: 1\n").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    repo.tag("v1.0.0").expect("tag");
    let sshd = SshServer::start(http.root()).expect(
        "sshd starts (Debian's openssh-server must be installed; scripts/test installs it)",
    );
    let url = sshd.url("app");
    let key = sshd.client_private_key();
    let creds = || {
        Credentials::none()
            .with_ssh_private_key(key.as_str())
            .with_known_hosts(sshd.known_hosts())
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = RepoCache::new(dir.path()).expect("cache");

    // Clone, resolve, check out.
    let source = Source::new(&url).with_credentials(creds());
    assert_eq!(source.url(), url, "the ssh user stays in the URL");
    let resolved = cache
        .resolve(&source, "v1.0.0")
        .unwrap_or_else(|e| panic!("{e}\nsshd log: {}", sshd.log()));
    assert_eq!(resolved, c1);
    let checkout = cache.checkout(&source, &c1).expect("checkout");
    assert_eq!(
        std::fs::read_to_string(checkout.resolve("values.yaml").expect("path")).expect("read"),
        "replicas: 1\n"
    );

    // Fetch a new commit.
    repo.write("values.yaml", "replicas: 2\n").expect("write");
    let c2 = repo.commit_and_push("c2").expect("push");
    assert_eq!(cache.resolve(&source, "main").expect("fetch"), c2);

    // The key and known hosts files are gone once the connection is done.
    let tmp = dir.path().join("tmp");
    assert_eq!(std::fs::read_dir(&tmp).expect("tmp dir").count(), 0);
    for p in walk(dir.path()) {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(!text.contains("PRIVATE KEY"), "key left in {}", p.display());
    }

    // A host key that is not the server's is refused, and the message shows no key material.
    let other = tempfile::tempdir().expect("temp dir");
    tether_gitserver::keygen(&other.path().join("k"), "impostor").expect("keygen");
    let impostor = std::fs::read_to_string(other.path().join("k.pub")).expect("pub");
    let mut parts = impostor.split_whitespace();
    let wrong_hosts = format!(
        "[127.0.0.1]:{} {} {}\n",
        sshd.port(),
        parts.next().expect("kind"),
        parts.next().expect("key")
    );
    let (_d2, fresh) = {
        let d = tempfile::tempdir().expect("temp dir");
        let c = RepoCache::new(d.path()).expect("cache");
        (d, c)
    };
    let wrong = Source::new(&url).with_credentials(
        Credentials::none()
            .with_ssh_private_key(key.as_str())
            .with_known_hosts(wrong_hosts.as_str()),
    );
    let err = fresh.resolve(&wrong, "main").expect_err("wrong host key");
    let msg = format!("{err} {err:?}");
    assert!(matches!(err, Error::Fetch { .. }), "{msg}");
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("Host key verification failed"), "{msg}");
    assert!(
        !msg.contains("PRIVATE KEY") && !msg.contains(key.trim()),
        "{msg}"
    );

    // Unknown host (empty known hosts) is refused too; `insecure` accepts it.
    let unknown = Source::new(&url).with_credentials(
        Credentials::none()
            .with_ssh_private_key(key.as_str())
            .with_known_hosts(""),
    );
    fresh
        .resolve(&unknown, "main")
        .expect_err("unknown host key");
    let insecure = Source::new(&url).with_credentials(
        Credentials::none()
            .with_ssh_private_key(key.as_str())
            .with_known_hosts(wrong_hosts.as_str())
            .insecure(true),
    );
    assert_eq!(fresh.resolve(&insecure, "main").expect("insecure"), c2);

    // Without the key: refused.
    let (_d3, fresh) = {
        let d = tempfile::tempdir().expect("temp dir");
        let c = RepoCache::new(d.path()).expect("cache");
        (d, c)
    };
    let keyless = Source::new(&url)
        .with_credentials(Credentials::none().with_known_hosts(sshd.known_hosts()));
    fresh.resolve(&keyless, "main").expect_err("no key");
}
