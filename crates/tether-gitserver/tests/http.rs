//! The test Git server serves real repositories over smart HTTP to the git CLI, with and without auth.

use std::path::Path;

use tether_gitserver::{GitServer, git};

fn clone_at(url: &str, dest: &Path, rev: &str) -> Result<String, tether_gitserver::Error> {
    git(
        Path::new("/"),
        &[
            "clone",
            "--quiet",
            "--no-checkout",
            url,
            &dest.to_string_lossy(),
        ],
    )?;
    git(dest, &["checkout", "--quiet", rev])?;
    Ok(git(dest, &["rev-parse", "HEAD"])?.trim().to_owned())
}

#[test]
fn fetches_a_tagged_commit_over_http() {
    let server = GitServer::start().expect("server starts");
    let repo = server.create_repo("app").expect("repo");
    repo.write("manifests/cm.yaml", "kind: ConfigMap\n")
        .expect("write");
    let v1 = repo.commit_and_push("v1").expect("commit");
    repo.tag_annotated("v1.0.0", "release 1").expect("tag");
    repo.write("manifests/cm.yaml", "kind: ConfigMap # v2\n")
        .expect("write");
    let v2 = repo.commit_and_push("v2").expect("commit");
    assert_ne!(v1, v2);

    let dest = tempfile::tempdir().expect("tempdir");
    let got =
        clone_at(&server.url("app"), &dest.path().join("c"), "v1.0.0").expect("clone over HTTP");
    assert_eq!(got, v1, "the tag resolves to the first commit");
    let content = std::fs::read_to_string(dest.path().join("c/manifests/cm.yaml")).expect("file");
    assert_eq!(content, "kind: ConfigMap\n");

    // ls-remote sees both the branch and the peeled tag.
    let refs = git(Path::new("/"), &["ls-remote", &server.url("app")]).expect("ls-remote");
    assert!(refs.contains(&format!("{v2}\trefs/heads/main")), "{refs}");
    assert!(
        refs.contains(&format!("{v1}\trefs/tags/v1.0.0^{{}}")),
        "{refs}"
    );

    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.is_upload_pack() && r.status == 200),
        "{requests:?}"
    );
}

#[test]
fn branches_force_pushes_and_deleted_tags_are_served() {
    let server = GitServer::start().expect("server starts");
    let repo = server.create_repo("flow").expect("repo");
    let base = repo.commit_and_push("base").expect("commit");
    repo.checkout("feature", true).expect("branch");
    let feature = repo.commit_and_push("feature work").expect("commit");
    repo.tag("temp").expect("tag");
    repo.reset_hard(&base).expect("reset");
    let rewritten = repo.commit("rewritten").expect("commit");
    repo.force_push().expect("force push");
    repo.delete_tag("temp").expect("delete tag");

    let refs = git(Path::new("/"), &["ls-remote", &server.url("flow")]).expect("ls-remote");
    assert!(
        refs.contains(&format!("{rewritten}\trefs/heads/feature")),
        "{refs}"
    );
    assert!(
        !refs.contains(&feature),
        "the force-pushed commit is gone from refs: {refs}"
    );
    assert!(!refs.contains("refs/tags/temp"), "{refs}");
}

#[test]
fn basic_auth_is_enforced() {
    let server = GitServer::start_with_auth(Some(("alice", "s3cret"))).expect("server starts");
    let repo = server.create_repo("private").expect("repo");
    let sha = repo.commit_and_push("secret stuff").expect("commit");

    let denied = git(Path::new("/"), &["ls-remote", &server.url("private")]);
    assert!(denied.is_err(), "no credentials must be refused");
    let wrong = server
        .url_with_credentials("private")
        .replace("s3cret", "wrong");
    assert!(
        git(Path::new("/"), &["ls-remote", &wrong]).is_err(),
        "wrong credentials must be refused"
    );
    assert!(server.requests().iter().any(|r| r.status == 401));

    let refs = git(
        Path::new("/"),
        &["ls-remote", &server.url_with_credentials("private")],
    )
    .expect("authorised");
    assert!(refs.contains(&sha), "{refs}");
}

/// The git CLI (the reference client) over https: the server's certificate verifies against its
/// CA and only against it; a server requiring client certificates accepts the one it issued.
#[test]
fn serves_https_to_the_git_cli_with_its_ca_and_client_certificates() {
    use tether_gitserver::HttpsOptions;
    let server = GitServer::start_https(HttpsOptions::default()).expect("https server");
    let repo = server.create_repo("app").expect("repo");
    repo.write("a.txt", "a\n").expect("write");
    let sha = repo.commit_and_push("c1").expect("commit");
    let url = server.url("app");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem().expect("ca")).expect("write");
    let ca_opt = format!("http.sslCAInfo={}", ca.display());

    let refs = git(Path::new("/"), &["-c", &ca_opt, "ls-remote", &url]).expect("trusted CA");
    assert!(refs.contains(&format!("{sha}\trefs/heads/main")), "{refs}");
    let err = git(Path::new("/"), &["ls-remote", &url]).expect_err("system roots");
    assert!(err.to_string().contains("certificate"), "{err}");

    let mtls = GitServer::start_https(HttpsOptions {
        require_client_cert: true,
        auth: None,
    })
    .expect("https server");
    let repo = mtls.create_repo("app").expect("repo");
    repo.write("a.txt", "a\n").expect("write");
    let sha = repo.commit_and_push("c1").expect("commit");
    let url = mtls.url("app");
    let ca = dir.path().join("mtls-ca.pem");
    std::fs::write(&ca, mtls.ca_pem().expect("ca")).expect("write");
    let ca_opt = format!("http.sslCAInfo={}", ca.display());
    git(Path::new("/"), &["-c", &ca_opt, "ls-remote", &url]).expect_err("no client cert");
    assert!(!mtls.tls_failures().is_empty());
    let client = mtls.client_cert().expect("client cert");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    std::fs::write(&cert, &client.cert).expect("write");
    std::fs::write(&key, &client.key).expect("write");
    let refs = git(
        Path::new("/"),
        &[
            "-c",
            &ca_opt,
            "-c",
            &format!("http.sslCert={}", cert.display()),
            "-c",
            &format!("http.sslKey={}", key.display()),
            "ls-remote",
            &url,
        ],
    )
    .expect("client certificate");
    assert!(refs.contains(&format!("{sha}\trefs/heads/main")), "{refs}");
}
