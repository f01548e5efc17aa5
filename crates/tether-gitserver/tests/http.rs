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
