//! Repository URLs: Argo CD's normalisation (for matching and cache identity) and redaction (for
//! messages).
//!
//! Argo CD's `git.NormalizeGitURL` lowercases the whole URL, rewrites scp-like SSH URLs
//! (`git@host:org/repo`) to `host/org/repo` form and strips a `.git` suffix. Tether does the same and
//! also strips trailing slashes and any password, so `https://GitHub.com/Org/Repo.git/`,
//! `https://github.com/org/repo` and `https://user:secret@github.com/org/repo.git` are one repository.

use sha2::{Digest, Sha256};

/// Normalises a repository URL as Argo CD does, for comparison and cache identity. The result never
/// contains a password (nor, for http(s), a user name).
pub fn normalize_url(url: &str) -> String {
    let mut s = url.trim().to_lowercase();
    let scp_like = is_scp_like(&s);
    if scp_like {
        // `git@host:org/repo` → `ssh://git@host/org/repo`, as Argo CD does before parsing.
        s = format!("ssh://{}", s.replacen(':', "/", 1));
    }
    let http = s.starts_with("http://") || s.starts_with("https://");
    s = strip_userinfo(&s, http);
    while s.ends_with('/') {
        s.pop();
    }
    if let Some(stripped) = s.strip_suffix(".git") {
        s = stripped.to_owned();
    }
    while s.ends_with('/') {
        s.pop();
    }
    s.strip_prefix("ssh://").map(str::to_owned).unwrap_or(s)
}

/// The URL with any user information removed, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    strip_userinfo(url.trim(), true)
}

/// The URL without a password (a user name stays), for ssh URLs where the user is part of the
/// address.
pub(crate) fn strip_password(url: &str) -> String {
    strip_userinfo(url.trim(), false)
}

/// A file-system-safe cache key for a repository: the hex SHA-256 of its normalised URL. It never
/// contains credentials, and every spelling of one repository maps to the same key.
pub fn cache_key(url: &str) -> String {
    let digest = Sha256::digest(normalize_url(url).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two URLs name the same repository (Argo CD's `git.SameURL`).
pub fn same_url(a: &str, b: &str) -> bool {
    normalize_url(a) == normalize_url(b)
}

/// `user@host:path` (scp-like SSH), as opposed to a URL with a scheme.
fn is_scp_like(s: &str) -> bool {
    if s.contains("://") {
        return false;
    }
    match s.find(':') {
        Some(colon) => {
            let host = &s[..colon];
            // A Windows drive letter (`c:\…`) or a path is not a host.
            host.len() > 1 && !host.contains('/')
        }
        None => false,
    }
}

/// Removes `user:password@` (all of it when `all`, else only the password) from a URL's authority.
fn strip_userinfo(s: &str, all: bool) -> String {
    let (scheme, rest) = match s.find("://") {
        Some(i) => (&s[..i + 3], &s[i + 3..]),
        None => ("", s),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return s.to_owned();
    };
    let user = authority[..at].split(':').next().unwrap_or_default();
    let host = &rest[at + 1..];
    if all || user.is_empty() {
        format!("{scheme}{host}")
    } else {
        format!("{scheme}{user}@{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_as_argo_cd() {
        for (input, want) in [
            (
                "https://github.com/argoproj/argo-cd",
                "https://github.com/argoproj/argo-cd",
            ),
            (
                "https://GitHub.com/ArgoProj/Argo-CD.git",
                "https://github.com/argoproj/argo-cd",
            ),
            (
                "https://github.com/argoproj/argo-cd.git/",
                "https://github.com/argoproj/argo-cd",
            ),
            (
                "https://github.com/argoproj/argo-cd/",
                "https://github.com/argoproj/argo-cd",
            ),
            (
                " https://github.com/argoproj/argo-cd ",
                "https://github.com/argoproj/argo-cd",
            ),
            (
                "https://user:s3cret@github.com/argoproj/argo-cd.git",
                "https://github.com/argoproj/argo-cd",
            ),
            (
                "git@github.com:argoproj/argo-cd.git",
                "git@github.com/argoproj/argo-cd",
            ),
            (
                "ssh://git@github.com/argoproj/argo-cd.git",
                "git@github.com/argoproj/argo-cd",
            ),
            (
                "ssh://git:pw@github.com:2222/a/b.git",
                "git@github.com:2222/a/b",
            ),
            ("file:///srv/git/app.git", "file:///srv/git/app"),
            ("http://127.0.0.1:8080/app.git", "http://127.0.0.1:8080/app"),
        ] {
            assert_eq!(normalize_url(input), want, "{input}");
        }
        assert!(same_url(
            "https://github.com/a/b.git",
            "HTTPS://github.com/a/b/"
        ));
        assert!(!same_url(
            "https://github.com/a/b",
            "https://github.com/a/c"
        ));
    }

    #[test]
    fn cache_keys_ignore_spelling_and_credentials() {
        let k = cache_key("https://github.com/a/b");
        assert_eq!(k.len(), 64);
        assert!(k.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(k, cache_key("https://u:pw@GitHub.com/a/b.git/"));
        assert_ne!(k, cache_key("https://github.com/a/c"));
    }

    #[test]
    fn redaction_removes_user_information() {
        assert_eq!(
            redact_url("https://user:hunter2@example.com/r.git"),
            "https://example.com/r.git"
        );
        assert_eq!(
            redact_url("https://example.com/r.git"),
            "https://example.com/r.git"
        );
        assert_eq!(
            redact_url("https://tok@example.com/a@b"),
            "https://example.com/a@b"
        );
    }
}
