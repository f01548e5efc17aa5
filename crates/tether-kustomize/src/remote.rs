//! Remote resources and components: kustomize's git URLs (`api/internal/git/repospec.go`,
//! v5.5) parsed here, fetched by a [`RemoteLoader`] the caller supplies (Tether implements it
//! with its git layer in `tether-render`, so this crate stays free of git code).
//!
//! Accepted forms, as kustomize accepts them:
//! * `https://host/org/repo//path/in/repo?ref=v1` (`//` separates the repository from the
//!   kustomization root; without it the repository ends at `.git`, at `_git/<name>`, or after
//!   two path segments);
//! * `git::` prefixed URLs, `http://`, `ssh://user@host/…`, `file://…`, scp-like
//!   `git@host:org/repo//path`, and `github.com/org/repo/path` shorthands;
//! * query parameters `ref` (wins over `version`), `version`, `submodules` (default true) and
//!   `timeout` (seconds or a Go duration; default 27 s).

use std::path::PathBuf;
use std::time::Duration;

/// A parsed remote kustomization address (kustomize's `RepoSpec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// The address as written in the kustomization.
    pub raw: String,
    /// Scheme, user and host (`https://github.com/`, `git@github.com:`, `file://`).
    pub host: String,
    /// The repository path below the host (`org/repo`, `repo.git`).
    pub repo_path: String,
    /// The kustomization root inside the repository (may be empty).
    pub kust_root_path: String,
    /// `?ref=` / `?version=` (empty: the remote's HEAD).
    pub reference: String,
    /// `?submodules=` (default true).
    pub submodules: bool,
    /// `?timeout=` (default 27 s).
    pub timeout: Duration,
}

impl RepoSpec {
    /// The URL handed to git (kustomize's `CloneSpec`).
    pub fn clone_url(&self) -> String {
        format!("{}{}", self.host, self.repo_path)
    }
}

/// Fetches remote repositories for a build.
pub trait RemoteLoader: Send + Sync {
    /// Fetches `spec` at its reference and returns the repository's root directory. The build
    /// reads the files below it through its own [`crate::FileSystem`], so the directory must be
    /// visible there (a checkout on disk for [`crate::RealFs`]).
    fn fetch(&self, spec: &RepoSpec) -> Result<PathBuf, String>;

    /// Downloads a resource given as an `http(s)://` URL (kustomize's remote files). The build
    /// tries this first for such URLs and falls back to [`RemoteLoader::fetch`] when the
    /// download fails or does not hold Kubernetes objects, as kustomize does.
    fn fetch_file(&self, url: &str) -> Result<Vec<u8>, String> {
        Err(format!("this build cannot download `{url}`"))
    }
}

/// Whether a resource entry is a URL kustomize would try to download as a file.
pub fn is_http_url(entry: &str) -> bool {
    let lower = entry.get(..8).unwrap_or(entry).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(27);

/// Parses a resource or component entry as a remote address. `None` when the entry is not
/// one (a local path); `Some(Err(_))` when it looks remote but is malformed.
pub fn parse(entry: &str) -> Option<Result<RepoSpec, String>> {
    if entry.starts_with('/') {
        return None;
    }
    let (n, query) = match entry.split_once('?') {
        Some((n, q)) => (n, q),
        None => (entry, ""),
    };
    let n = strip_prefix_ci(n, "git::").unwrap_or(n);
    let (scheme, rest) = extract_scheme(n);
    let (username, rest) = extract_username(rest);
    let std_github = rest.starts_with("github.com/") || rest.starts_with("github.com:");
    let accept_scp = scheme.is_empty() && (!username.is_empty() || std_github);
    if scheme.is_empty() && !accept_scp {
        // No scheme, no `user@` and not GitHub: a local path.
        return None;
    }
    Some(parse_remote(
        entry, query, scheme, username, rest, std_github, accept_scp,
    ))
}

fn parse_remote(
    raw: &str,
    query: &str,
    scheme: &str,
    username: &str,
    rest: &str,
    std_github: bool,
    accept_scp: bool,
) -> Result<RepoSpec, String> {
    let (reference, timeout, submodules) = parse_query(query);
    if (scheme == "http://" || scheme == "https://") && !username.is_empty() {
        return Err(format!(
            "url `{raw}`: username in an http(s) URL is not supported; use a credential helper"
        ));
    }
    let (host, path) = if scheme == "file://" {
        (scheme.to_string(), format!("{username}{rest}"))
    } else {
        let (mut host, path) = match find_path_separator(rest, accept_scp) {
            Some(i) => (rest[..=i].to_string(), rest[i + 1..].to_string()),
            None => (rest.to_string(), String::new()),
        };
        let (mut scheme, mut username) = (scheme.to_string(), username.to_string());
        if std_github {
            if scheme.starts_with("ssh://") || !username.is_empty() {
                scheme = String::new();
                host = "github.com:".into();
            } else {
                scheme = "https://".into();
                username = String::new();
                host = "github.com/".into();
            }
        }
        if host.is_empty() {
            return Err(format!("url `{raw}`: failed to parse host segment"));
        }
        (format!("{scheme}{username}{host}"), path)
    };
    let all_segments = scheme == "file://";
    let (repo_path, kust_root_path) =
        parse_path_parts(&path, all_segments).map_err(|e| format!("url `{raw}`: {e}"))?;
    if repo_path.is_empty() {
        return Err(format!("url `{raw}`: failed to parse repo path segment"));
    }
    Ok(RepoSpec {
        raw: raw.to_string(),
        host,
        repo_path,
        kust_root_path,
        reference,
        submodules,
        timeout,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

fn extract_scheme(s: &str) -> (&'static str, &str) {
    for p in ["ssh://", "https://", "http://", "file://"] {
        if let Some(rest) = strip_prefix_ci(s, p) {
            return (p, rest);
        }
    }
    ("", s)
}

/// `^([a-zA-Z][a-zA-Z0-9-]*)@`.
fn extract_username(s: &str) -> (&str, &str) {
    let Some(at) = s.find('@') else {
        return ("", s);
    };
    let user = &s[..at];
    let mut chars = user.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        (&s[..=at], &s[at + 1..])
    } else {
        ("", s)
    }
}

fn find_path_separator(s: &str, accept_scp: bool) -> Option<usize> {
    let sep = s.find('/');
    if accept_scp {
        let colon = s.find(':');
        match (sep, colon) {
            (None, c) => return c,
            (Some(si), Some(ci)) if ci > 0 && ci < si => return Some(ci),
            _ => {}
        }
    }
    sep
}

fn parse_path_parts(n: &str, all_segments: bool) -> Result<(String, String), String> {
    if let Some((repo, root)) = n.split_once("//") {
        return Ok((repo.to_string(), root.to_string()));
    }
    if let Some(i) = n.find("_git/") {
        let after = &n[i + "_git/".len()..];
        let end = after.find('/').map(|j| i + "_git/".len() + j);
        return Ok(match end {
            Some(e) => (n[..e].to_string(), n[e + 1..].to_string()),
            None => (n.to_string(), String::new()),
        });
    }
    if let Some(i) = n.find(".git") {
        let end = i + ".git".len();
        let rest = &n[end..];
        if rest.is_empty() || rest.starts_with('/') {
            return Ok((
                n[..end].to_string(),
                rest.trim_start_matches('/').to_string(),
            ));
        }
    }
    if all_segments {
        return Err("failed to parse repo path segment".into());
    }
    if n.matches('/').count() < 1 {
        return Err(format!(
            "url path {n:?} has too few segments, expected at least 2"
        ));
    }
    let parts: Vec<&str> = n.splitn(3, '/').collect();
    let repo = format!("{}/{}", parts[0], parts[1]);
    let root = parts.get(2).copied().unwrap_or("").to_string();
    Ok((repo, root))
}

fn parse_query(q: &str) -> (String, Duration, bool) {
    let mut version = String::new();
    let mut reference = String::new();
    let mut timeout = DEFAULT_TIMEOUT;
    let mut submodules = true;
    let mut seen = std::collections::HashSet::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        // Go's url.Values.Get returns the first value of a key.
        if !seen.insert(k.to_string()) {
            continue;
        }
        match k {
            "version" => version = v,
            "ref" => reference = v,
            "timeout" => {
                if let Ok(s) = v.parse::<u64>() {
                    if s > 0 {
                        timeout = Duration::from_secs(s);
                    }
                } else if let Some(d) = go_duration(&v) {
                    timeout = d;
                }
            }
            "submodules" => {
                if let Some(b) = go_bool(&v) {
                    submodules = b;
                }
            }
            _ => {}
        }
    }
    if reference.is_empty() {
        reference = version;
    }
    (reference, timeout, submodules)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A positive Go `time.ParseDuration` value (`1m30s`, `45s`, `1.5h`).
fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[unit_end..];
    }
    (total > 0.0).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RepoSpec {
        parse(s).expect("remote").expect("valid")
    }

    #[test]
    fn local_paths_are_not_remote() {
        for s in ["../base", "base", "a/b/c/d", "/abs/path", "x.yaml"] {
            assert!(parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn https_with_double_slash_and_ref() {
        let r = p("https://example.com/org/repo//overlays/prod?ref=v1.2&timeout=90");
        assert_eq!(r.clone_url(), "https://example.com/org/repo");
        assert_eq!(r.kust_root_path, "overlays/prod");
        assert_eq!(r.reference, "v1.2");
        assert_eq!(r.timeout, Duration::from_secs(90));
        assert!(r.submodules);
    }

    #[test]
    fn git_suffix_and_forced_protocol() {
        let r = p("git::http://127.0.0.1:8080/base.git/app?version=main&submodules=false");
        assert_eq!(r.clone_url(), "http://127.0.0.1:8080/base.git");
        assert_eq!(r.kust_root_path, "app");
        assert_eq!(r.reference, "main");
        assert!(!r.submodules);
    }

    #[test]
    fn ref_wins_over_version_and_go_durations() {
        let r = p("https://h/o/r?version=a&ref=b&timeout=1m30s");
        assert_eq!(r.reference, "b");
        assert_eq!(r.timeout, Duration::from_secs(90));
        assert_eq!(r.kust_root_path, "");
    }

    #[test]
    fn scp_ssh_and_github_forms() {
        let r = p("git@github.com:org/repo/path?ref=x");
        assert_eq!(r.clone_url(), "git@github.com:org/repo");
        assert_eq!(r.kust_root_path, "path");
        let r = p("github.com/org/repo/deep/path");
        assert_eq!(r.clone_url(), "https://github.com/org/repo");
        assert_eq!(r.kust_root_path, "deep/path");
        let r = p("ssh://git@host.example/org/repo.git//x");
        assert_eq!(r.clone_url(), "ssh://git@host.example/org/repo.git");
        assert_eq!(r.kust_root_path, "x");
        let r = p("https://dev.azure.com/org/proj/_git/repo/sub");
        assert_eq!(r.clone_url(), "https://dev.azure.com/org/proj/_git/repo");
        assert_eq!(r.kust_root_path, "sub");
    }

    #[test]
    fn malformed_remote_is_an_error() {
        assert!(parse("https://host/onlyone").expect("remote").is_err());
        assert!(parse("file:///srv/repo").expect("remote").is_err());
    }
}
