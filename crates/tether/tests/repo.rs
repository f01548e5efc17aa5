//! `tether repo ls-refs` and `tether repo resolve` against real Git over HTTP on loopback.

use std::process::Command;

use tether_gitserver::GitServer;

fn tether(args: &[&str], cache: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .env("TETHER_GIT_CACHE", cache)
        .env_remove("TETHER_GIT_USERNAME")
        .env_remove("TETHER_GIT_PASSWORD")
        .env_remove("TETHER_REPO_CREDENTIALS")
        .output()
        .expect("tether runs")
}

#[test]
fn resolve_and_ls_refs() {
    let server = GitServer::start().expect("server");
    let repo = server.create_repo("app").expect("repo");
    repo.write("a.txt", "1").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    repo.tag_annotated("v1.4.2", "release").expect("tag");
    repo.write("a.txt", "2").expect("write");
    let c2 = repo.commit_and_push("c2").expect("push");
    let cache = tempfile::tempdir().expect("temp dir");
    let url = server.url("app");

    let out = tether(&["repo", "resolve", &url, "main"], cache.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{c2}\n"));

    let out = tether(&["repo", "resolve", &url, "~1.4"], cache.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{c1}\n"));

    let out = tether(&["repo", "ls-refs", &url], cache.path());
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{c2}\tHEAD\n")), "{stdout}");
    assert!(
        stdout.contains(&format!("{c2}\trefs/heads/main\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{c1}\trefs/tags/v1.4.2^{{}}\n")),
        "{stdout}"
    );

    let out = tether(&["repo", "resolve", &url, "no-such-branch"], cache.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`no-such-branch`") && stderr.contains(&url),
        "{stderr}"
    );
}

#[test]
fn credentials_from_the_environment_never_printed() {
    let server = GitServer::start_with_auth(Some(("bob", "env-s3cret"))).expect("server");
    let repo = server.create_repo("private").expect("repo");
    let c1 = repo.commit_and_push("c1").expect("push");
    let cache = tempfile::tempdir().expect("temp dir");
    let url = server.url("private");
    let run = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(["repo", "resolve", &url, "HEAD", "--username", "bob"])
            .env("TETHER_GIT_CACHE", cache.path())
            .env("TETHER_GIT_PASSWORD", password)
            .output()
            .expect("tether runs")
    };
    let out = run("env-s3cret");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{c1}\n"));
    let out = run("not-the-Password-42");
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("not-the-Password-42"), "{all}");
    assert!(all.contains(&url), "{all}");
}

#[test]
fn credentials_file() {
    let password = "file-Pa55word";
    let server = GitServer::start_with_auth(Some(("alice", password))).expect("server");
    let repo = server.create_repo("private").expect("repo");
    repo.write("a.txt", "1").expect("write");
    let c1 = repo.commit_and_push("c1").expect("push");
    let cache = tempfile::tempdir().expect("temp dir");
    let creds = cache.path().join("repositories.yaml");
    std::fs::write(
        &creds,
        format!(
            "credentialTemplates:\n  - url: {}\n    username: alice\n    password: {password}\n",
            server.base_url()
        ),
    )
    .expect("write");
    let url = server.url("private");
    let out = tether(
        &[
            "repo",
            "resolve",
            &url,
            "main",
            "--credentials",
            &creds.display().to_string(),
        ],
        cache.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{c1}\n"));

    // A bad file: the error names the file, the line and the field, and no secret.
    std::fs::write(
        &creds,
        format!("repositories:\n  - url: {url}\n    password: {password}\n    insecure: maybe\n"),
    )
    .expect("write");
    let out = tether(
        &[
            "repo",
            "resolve",
            &url,
            "main",
            "--credentials",
            &creds.display().to_string(),
        ],
        cache.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("repositories.yaml:4"), "{stderr}");
    assert!(stderr.contains("repositories[0].insecure"), "{stderr}");
    assert!(!stderr.contains(password), "{stderr}");
}
