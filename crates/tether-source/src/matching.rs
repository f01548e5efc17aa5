//! Which Applications a push affects, with Argo CD's semantics (`util/webhook/webhook.go`,
//! `util/app/path/path.go`).
//!
//! A source of an Application is affected by a push when all three hold:
//!
//! 1. **Repository.** Its `repoURL` names the pushed repository. The payload carries the web URL
//!    (`https://github.com/org/repo`); the `repoURL` matches it with or without scheme (`http`,
//!    `https`, `ssh`), user (`git@`), an `ssh.`/`altssh.` host prefix, a port, `:` or `/` before the
//!    path and a `.git` suffix, case-insensitively (Argo CD's `GetWebURLRegex`). URLs that normalise
//!    to the same repository ([`tether_git::url::normalize_url`]) match too.
//! 2. **Revision.** `HEAD` or an empty `targetRevision` follows the default branch: affected when the
//!    push touched it. `refs/heads/x` and `refs/tags/x` compare their last part with the pushed
//!    branch or tag name; anything else must equal the pushed name exactly. Like Argo CD, branch and
//!    tag pushes are not told apart, and semver constraints (`1.2.*`) and commit SHAs never match a
//!    push: such apps are picked up by polling.
//! 3. **Paths.** Without the `argocd.argoproj.io/manifest-generate-paths` annotation, or when the
//!    payload lists no changed files, every push refreshes. Otherwise the annotation is split on
//!    `;`; an entry starting with `/` is relative to the repository root, any other entry (`.`
//!    included) is joined to every source's `path`. A changed file matches an entry that equals it,
//!    contains it (the file lies in or below that directory) or matches it as a glob (Go's
//!    `filepath.Match`: `*`, `?`, `[a-z]`, `[^a]`, `\` escapes; `*` never crosses `/`).
//!
//! An app is refreshed at most once per push, even when several sources match. A refresh is a
//! normal one, as in Argo CD: the manifest cache is keyed by commit, so a new commit is rendered
//! afresh without a hard refresh. Apps whose repository and revision match but whose paths did not
//! change are reported as [`CarryForward`], so a manifest cache can reuse their manifests for the
//! new commit (Argo CD's `SetNewRevisionManifests`).

use tether_git::url::normalize_url;
use tether_model::Application;
use tether_model::annotations::MANIFEST_GENERATE_PATHS;
use tether_model::source::ApplicationSource;

/// A push as a webhook reports it, whatever the provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Push {
    /// Repository URLs named by the payload (web URL, or clone URLs for Bitbucket Server).
    pub repo_urls: Vec<String>,
    /// The pushed branch or tag: the ref with its first two components removed
    /// (`refs/heads/feature/x` → `feature/x`), as Argo CD's `ParseRevision`.
    pub revision: String,
    /// The commit before the push, when the payload says.
    pub before: Option<String>,
    /// The commit after the push, when the payload says.
    pub after: Option<String>,
    /// Whether the push moved the default branch (apps on `HEAD` follow it). Providers that do not
    /// tell (Bitbucket) set it, so that `HEAD` apps check for themselves.
    pub touched_head: bool,
    /// Files added, modified or removed by the pushed commits. Empty when the payload does not list
    /// them, which refreshes every app on the repository and revision.
    pub changed_files: Vec<String>,
}

/// An Application to refresh.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Refresh {
    pub namespace: Option<String>,
    pub name: String,
    /// Whether the refresh should bypass the manifest cache. Pushes ask for normal refreshes, as in
    /// Argo CD; the generic webhook form may ask for a hard one.
    pub hard: bool,
}

/// An Application on the pushed repository and revision whose refresh paths did not change: its
/// manifests at `before` are valid at `after` too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarryForward {
    pub namespace: Option<String>,
    pub name: String,
    pub repo_url: String,
    pub path: String,
    pub before: String,
    pub after: String,
}

/// What a push means for a set of Applications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchResult {
    /// Apps to refresh, sorted by namespace and name.
    pub refresh: Vec<Refresh>,
    /// Apps whose manifests carry over to the new commit.
    pub carry_forward: Vec<CarryForward>,
}

impl MatchResult {
    /// The names of the apps to refresh.
    pub fn names(&self) -> Vec<&str> {
        self.refresh.iter().map(|r| r.name.as_str()).collect()
    }
}

/// The Applications among `apps` that `push` affects (see the module documentation).
pub fn affected_apps(push: &Push, apps: &[Application]) -> MatchResult {
    let mut result = MatchResult::default();
    // Parsed and normalised once per push, not once per app.
    let urls: Vec<(String, Option<WebUrl>)> = push
        .repo_urls
        .iter()
        .map(|u| (normalize_url(u), WebUrl::parse(u)))
        .collect();
    for app in apps {
        let Some(name) = app.metadata.name.clone() else {
            continue;
        };
        let namespace = app.metadata.namespace.clone();
        let sources = app.spec.effective_sources();
        let mut refreshed = false;
        for source in &sources {
            if refreshed {
                break;
            }
            if !revision_matches(source, &push.revision, push.touched_head)
                || !urls.iter().any(|(normalised, web)| {
                    repo_matches(&source.repo_url, normalised, web.as_ref())
                })
            {
                continue;
            }
            let paths = refresh_paths(app);
            if files_changed(&paths, &push.changed_files) {
                result.refresh.push(Refresh {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    hard: false,
                });
                refreshed = true;
            } else if let (Some(before), Some(after)) = (&push.before, &push.after) {
                result.carry_forward.push(CarryForward {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    repo_url: source.repo_url.clone(),
                    path: source.path.clone().unwrap_or_default(),
                    before: before.clone(),
                    after: after.clone(),
                });
            }
        }
        if refreshed {
            result
                .carry_forward
                .retain(|c| !(c.name == name && c.namespace == namespace));
        }
    }
    result.refresh.sort();
    result.refresh.dedup();
    result
}

/// The Applications with a source on the repository and revision a poller reported moving
/// ([`crate::ChangeEvent`]). The poller watches `targetRevision`s (compared as written, empty being
/// `HEAD`) or, watching everything, full ref names (`refs/heads/main` matches `main`).
pub fn apps_for_change(event: &crate::ChangeEvent, apps: &[Application]) -> Vec<Refresh> {
    let mut out = Vec::new();
    for app in apps {
        let Some(name) = app.metadata.name.clone() else {
            continue;
        };
        let hit = app.spec.effective_sources().iter().any(|s| {
            let target = match s.target_revision.as_deref().map(str::trim) {
                None | Some("") => "HEAD",
                Some(t) => t,
            };
            normalize_url(&s.repo_url) == event.repo
                && (target == event.revision
                    || event.revision.strip_prefix("refs/heads/") == Some(target)
                    || event.revision.strip_prefix("refs/tags/") == Some(target))
        });
        if hit {
            out.push(Refresh {
                namespace: app.metadata.namespace.clone(),
                name,
                hard: false,
            });
        }
    }
    out.sort();
    out
}

/// Argo CD's `ParseRevision`: the ref without its first two components.
pub fn parse_revision(r: &str) -> &str {
    let mut parts = r.splitn(3, '/');
    let mut last = parts.next().unwrap_or_default();
    for p in parts {
        last = p;
    }
    last
}

/// Argo CD's `sourceRevisionHasChanged`.
pub fn revision_matches(source: &ApplicationSource, pushed: &str, touched_head: bool) -> bool {
    let target = source.target_revision.as_deref().unwrap_or_default();
    let short = parse_revision(target);
    if short == "HEAD" || short.is_empty() {
        return touched_head;
    }
    if target.starts_with("refs/heads/") || target.starts_with("refs/tags/") {
        return pushed == short;
    }
    target == pushed
}

/// A web URL from a payload, split for Argo CD's `GetWebURLRegex` comparison.
#[derive(Debug)]
struct WebUrl {
    host: String,
    path: String,
}

impl WebUrl {
    fn parse(raw: &str) -> Option<Self> {
        let rest = &raw[raw.find("://")? + 3..];
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host_port = authority.rsplit('@').next().unwrap_or(authority);
        let host = if let Some(v6) = host_port.strip_prefix('[') {
            v6.split(']').next().unwrap_or_default()
        } else {
            host_port.split(':').next().unwrap_or_default()
        };
        let path = path.strip_prefix('/')?;
        if host.is_empty() || path.is_empty() {
            return None;
        }
        Some(Self {
            host: host.to_ascii_lowercase(),
            path: path.to_ascii_lowercase(),
        })
    }

    /// Whether `repo_url` names this repository (Argo CD's regex, written out).
    fn matches(&self, repo_url: &str) -> bool {
        let s = repo_url.trim().to_ascii_lowercase();
        let s = ["https://", "http://", "ssh://"]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .unwrap_or(&s);
        let mut candidates = vec![s];
        // An optional `user@`.
        if let Some(at) = s.find('@')
            && is_username(&s[..at])
        {
            candidates.push(&s[at + 1..]);
        }
        let mut hosts = Vec::new();
        for c in candidates {
            hosts.push(c);
            for prefix in ["ssh.", "altssh."] {
                if let Some(stripped) = c.strip_prefix(prefix) {
                    hosts.push(stripped);
                }
            }
        }
        hosts.into_iter().any(|h| self.matches_after_user(h))
    }

    fn matches_after_user(&self, s: &str) -> bool {
        let Some(rest) = s.strip_prefix(self.host.as_str()) else {
            return false;
        };
        let path_ok =
            |p: &str| p == self.path || p.strip_suffix(".git") == Some(self.path.as_str());
        // `(:\d+)?[:/]path(\.git)?`
        if let Some(after_colon) = rest.strip_prefix(':') {
            let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                let tail = &after_colon[digits..];
                if let Some(p) = tail.strip_prefix([':', '/'])
                    && path_ok(p)
                {
                    return true;
                }
            }
        }
        rest.strip_prefix([':', '/']).is_some_and(path_ok)
    }
}

/// Argo CD's user name pattern: `[\w.][\w.-]{0,30}[\w.$-]?`.
fn is_username(u: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let n = u.chars().count();
    if n == 0 || n > 32 {
        return false;
    }
    u.chars().enumerate().all(|(i, c)| match i {
        0 => word(c),
        _ if i == n - 1 && n == 32 => word(c) || c == '-' || c == '$',
        _ => word(c) || c == '-' || (i == n - 1 && c == '$'),
    })
}

/// Whether `repo_url` names the pushed repository: by Argo CD's web URL pattern, or by normalised
/// URL (`normalised` is the payload URL after [`normalize_url`]).
fn repo_matches(repo_url: &str, normalised: &str, web: Option<&WebUrl>) -> bool {
    web.is_some_and(|w| w.matches(repo_url)) || normalize_url(repo_url) == normalised
}

/// Argo CD's `GetAppRefreshPaths`: the annotation's entries, relative ones joined to every source's
/// path, all relative to the repository root. Empty without the annotation.
pub fn refresh_paths(app: &Application) -> Vec<String> {
    let Some(value) = app
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MANIFEST_GENERATE_PATHS))
    else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    for item in value.split(';') {
        if item.is_empty() {
            continue;
        }
        if let Some(abs) = item.strip_prefix('/') {
            paths.push(abs.to_owned());
        } else {
            for source in app.spec.effective_sources() {
                let base = source.path.as_deref().unwrap_or_default();
                // Go's `filepath.Join` drops empty elements.
                paths.push(if base.is_empty() {
                    clean(item)
                } else {
                    clean(&format!("{base}/{item}"))
                });
            }
        }
    }
    paths
}

/// Argo CD's `AppFilesHaveChanged`: whether a changed file lies under (or matches) a refresh path.
/// True when either list is empty.
pub fn files_changed(refresh_paths: &[String], changed_files: &[String]) -> bool {
    if changed_files.is_empty() || refresh_paths.is_empty() {
        return true;
    }
    changed_files.iter().any(|f| {
        let f = absolute(f);
        refresh_paths.iter().any(|item| {
            let item = absolute(item);
            f == item || under(&item, &f) || glob_match(&item, &f)
        })
    })
}

fn absolute(p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

/// Whether the directory of `file` is `root` or below it (Argo CD's `EnforceToCurrentRoot`).
fn under(root: &str, file: &str) -> bool {
    let root = clean(root);
    let file = clean(file);
    if root == "/" {
        return true;
    }
    let dir = match file.rfind('/') {
        Some(0) => "/",
        Some(i) => &file[..i],
        None => ".",
    };
    dir == root || dir.starts_with(&format!("{root}/"))
}

/// Go's `path.Clean` for `/`-separated paths.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Match` on `/`-separated paths: `*` and `?` never match `/`; `[...]` classes
/// with ranges and `^` negation; `\` escapes. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n).unwrap_or(false)
}

fn glob_at(p: &[char], n: &[char]) -> Option<bool> {
    let (mut pi, mut ni) = (0, 0);
    // Backtracking point for the last `*`: (pattern index after it, name index it resumes at).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() && n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() => {
                    let (matched, len) = class(&p[pi..], n[ni])?;
                    if matched {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                }
                '\\' => {
                    let c = *p.get(pi + 1)?;
                    if ni < n.len() && n[ni] == c {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c if c != '?' && c != '[' && ni < n.len() && n[ni] == c => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return Some(true);
        }
        // Mismatch: let the last `*` swallow one more character (never a `/`).
        match star {
            Some((sp, sn)) if sn < n.len() && n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp;
                ni = sn + 1;
            }
            _ => {
                // Validate the rest of the pattern as Go does, so a malformed pattern is an error.
                validate(&p[pi.min(p.len())..])?;
                return Some(false);
            }
        }
    }
}

/// Matches `c` against the class at the start of `p` (`[...]`), as Go's `matchChunk`; returns
/// (matched, pattern length), or None for a malformed class.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut ranges = 0;
    loop {
        if p.get(i) == Some(&']') && ranges > 0 {
            i += 1;
            break;
        }
        let (lo, next) = escaped(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = escaped(p, i + 1)?;
            hi = h;
            i = next;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
        ranges += 1;
    }
    Some((matched != negated, i))
}

/// Go's `getEsc`: one class character, `\` escapes; `-`, `]` and the end are errors.
fn escaped(p: &[char], i: usize) -> Option<(char, usize)> {
    let (c, next) = match *p.get(i)? {
        '-' | ']' => return None,
        '\\' => (*p.get(i + 1)?, i + 2),
        c => (c, i + 1),
    };
    // The class must go on after this character.
    p.get(next)?;
    Some((c, next))
}

fn validate(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                p.get(i + 1)?;
                i += 2;
            }
            '[' => {
                let (_, len) = class(&p[i..], '\0')?;
                i += len;
            }
            _ => i += 1,
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tether_model::ApplicationSpec;

    fn app(
        name: &str,
        repo: &str,
        rev: Option<&str>,
        path: &str,
        annotation: Option<&str>,
    ) -> Application {
        let mut a = Application::new(
            name,
            ApplicationSpec {
                source: Some(ApplicationSource {
                    repo_url: repo.into(),
                    target_revision: rev.map(Into::into),
                    path: Some(path.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        if let Some(v) = annotation {
            a.metadata.annotations = Some(BTreeMap::from([(
                MANIFEST_GENERATE_PATHS.to_owned(),
                v.to_owned(),
            )]));
        }
        a
    }

    fn push(url: &str, rev: &str, head: bool, files: &[&str]) -> Push {
        Push {
            repo_urls: vec![url.into()],
            revision: rev.into(),
            before: Some("a".repeat(40)),
            after: Some("b".repeat(40)),
            touched_head: head,
            changed_files: files.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn repo_urls_match_as_argo_cd_regex() {
        let web = WebUrl::parse("https://github.com/Org/Repo").expect("parse");
        for ok in [
            "https://github.com/org/repo",
            "https://github.com/org/repo.git",
            "HTTPS://GITHUB.COM/ORG/REPO",
            "http://github.com/org/repo",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo.git",
            "ssh://git@ssh.github.com:443/org/repo.git",
            "ssh://git@altssh.github.com:443/org/repo",
            "github.com/org/repo",
            "https://user@github.com/org/repo",
            "https://github.com:8443/org/repo",
        ] {
            assert!(web.matches(ok), "{ok} should match");
        }
        for bad in [
            "https://github.com/org/repo2",
            "https://github.com/org/repo/sub",
            "https://github.com/org",
            "https://gitlab.com/org/repo",
            "https://evil.com/github.com/org/repo",
            "https://github.com.evil.com/org/repo",
            "ftp://github.com/org/repo",
            "https://github.com/org/repo.gitx",
            "https://user:pw@github.com/org/repo",
        ] {
            assert!(!web.matches(bad), "{bad} should not match");
        }
        let local = WebUrl::parse("http://127.0.0.1:34567/org/app").expect("parse");
        assert!(local.matches("http://127.0.0.1:34567/org/app.git"));
        assert!(
            local.matches("http://127.0.0.1:1/org/app"),
            "ports are ignored, as in Argo CD"
        );
        assert!(WebUrl::parse("not a url").is_none());
    }

    #[test]
    fn normalised_clone_urls_match_too() {
        let pushed = normalize_url("FILE:///srv/git/app.git/");
        assert!(repo_matches("file:///srv/git/app", &pushed, None));
        assert!(!repo_matches("file:///srv/git/app2", &pushed, None));
    }

    #[test]
    fn revisions_match_as_argo_cd() {
        let src = |rev: Option<&str>| ApplicationSource {
            target_revision: rev.map(Into::into),
            ..Default::default()
        };
        assert_eq!(parse_revision("refs/heads/main"), "main");
        assert_eq!(parse_revision("refs/heads/feature/x"), "feature/x");
        assert_eq!(parse_revision("main"), "main");
        // HEAD and empty follow the default branch.
        for rev in [None, Some(""), Some("HEAD")] {
            assert!(revision_matches(&src(rev), "main", true));
            assert!(!revision_matches(&src(rev), "dev", false));
        }
        assert!(revision_matches(&src(Some("main")), "main", false));
        assert!(!revision_matches(&src(Some("main")), "dev", true));
        assert!(revision_matches(
            &src(Some("refs/heads/main")),
            "main",
            false
        ));
        assert!(revision_matches(
            &src(Some("refs/tags/v1.0.0")),
            "v1.0.0",
            false
        ));
        assert!(
            revision_matches(&src(Some("refs/tags/x")), "x", false),
            "branch and tag pushes are not told apart"
        );
        assert!(revision_matches(
            &src(Some("feature/x")),
            "feature/x",
            false
        ));
        assert!(
            !revision_matches(&src(Some("1.2.*")), "v1.2.5", false),
            "semver is ignored"
        );
        assert!(!revision_matches(&src(Some(&"a".repeat(40))), "main", true));
    }

    #[test]
    fn refresh_paths_follow_the_annotation() {
        let a = app(
            "a",
            "r",
            None,
            "apps/guestbook",
            Some(".;../shared;/global/*.yaml;;"),
        );
        assert_eq!(
            refresh_paths(&a),
            vec!["apps/guestbook", "apps/shared", "global/*.yaml"]
        );
        assert!(refresh_paths(&app("b", "r", None, "apps/x", None)).is_empty());
        let empty = app("c", "r", None, "apps/x", Some(""));
        assert!(refresh_paths(&empty).is_empty());
        let root = app("d", "r", None, "", Some("."));
        assert_eq!(refresh_paths(&root), vec!["."]);
    }

    #[test]
    fn files_changed_as_argo_cd() {
        let paths = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // No paths or no files: refresh.
        assert!(files_changed(&[], &paths(&["x"])));
        assert!(files_changed(&paths(&["a"]), &[]));
        // Exact file, file below a directory, glob.
        assert!(files_changed(&paths(&["a/b.yaml"]), &paths(&["a/b.yaml"])));
        assert!(files_changed(
            &paths(&["apps/g"]),
            &paths(&["apps/g/deploy.yaml"])
        ));
        assert!(files_changed(
            &paths(&["apps/g"]),
            &paths(&["apps/g/sub/deep.yaml"])
        ));
        assert!(!files_changed(
            &paths(&["apps/g"]),
            &paths(&["apps/guestbook/x.yaml"])
        ));
        assert!(!files_changed(
            &paths(&["apps/g"]),
            &paths(&["apps/x.yaml", "README.md"])
        ));
        assert!(files_changed(
            &paths(&["global/*.yaml"]),
            &paths(&["global/a.yaml"])
        ));
        assert!(!files_changed(
            &paths(&["global/*.yaml"]),
            &paths(&["global/sub/a.yaml"])
        ));
        // A root refresh path (`.` with an empty source path) covers the whole repository.
        assert!(files_changed(&paths(&["."]), &paths(&["anything/at/all"])));
        // Leading slashes on either side do not matter.
        assert!(files_changed(&paths(&["/apps/g"]), &paths(&["/apps/g/x"])));
    }

    #[test]
    fn go_filepath_match() {
        for (p, n, want) in [
            ("*.yaml", "a.yaml", true),
            ("*.yaml", "a/b.yaml", false),
            ("/x/*", "/x/y", true),
            ("/x/*", "/x/y/z", false),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("[", "[", false),
            ("a[", "a", false),
            ("*", "", true),
            ("", "", true),
            ("[]a]", "]", false),
            ("[a-]", "a", false),
            ("x[/]y", "x/y", true),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn clean_as_go() {
        for (i, o) in [
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("/a/../../b", "/b"),
            ("../a", "../a"),
            ("", "."),
            ("./", "."),
            ("/.", "/"),
            ("a//b/", "a/b"),
            ("apps/x/../shared", "apps/shared"),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }

    #[test]
    fn push_selects_exactly_the_affected_apps() {
        let url = "https://github.com/org/repo";
        let apps = vec![
            app("head", "git@github.com:org/repo.git", None, "apps/a", None),
            app(
                "main",
                "https://github.com/org/repo.git",
                Some("main"),
                "apps/b",
                None,
            ),
            app(
                "dev",
                "https://github.com/org/repo",
                Some("dev"),
                "apps/c",
                None,
            ),
            app(
                "other-repo",
                "https://github.com/org/other",
                Some("main"),
                "x",
                None,
            ),
            app("paths-hit", url, Some("main"), "apps/d", Some(".")),
            app("paths-miss", url, Some("main"), "apps/e", Some(".;/shared")),
            app("abs-hit", url, Some("main"), "apps/f", Some("/common")),
            app("tag", url, Some("refs/tags/v1"), "apps/g", None),
            app("semver", url, Some("v1.*"), "apps/h", None),
        ];
        let r = affected_apps(
            &push(url, "main", true, &["apps/d/deploy.yaml", "common/cm.yaml"]),
            &apps,
        );
        assert_eq!(r.names(), vec!["abs-hit", "head", "main", "paths-hit"]);
        assert_eq!(r.carry_forward.len(), 1);
        assert_eq!(r.carry_forward[0].name, "paths-miss");
        assert_eq!(r.carry_forward[0].path, "apps/e");
        assert!(r.refresh.iter().all(|x| !x.hard));

        // Not the default branch: HEAD apps stay.
        let r = affected_apps(&push(url, "dev", false, &[]), &apps);
        assert_eq!(r.names(), vec!["dev"]);

        // A tag push.
        let r = affected_apps(&push(url, "v1", false, &[]), &apps);
        assert_eq!(r.names(), vec!["tag"]);

        // Unknown changed files: every app on the repo and revision.
        let r = affected_apps(&push(url, "main", true, &[]), &apps);
        assert_eq!(
            r.names(),
            vec!["abs-hit", "head", "main", "paths-hit", "paths-miss"]
        );

        // Another repository: nothing.
        let r = affected_apps(
            &push("https://github.com/org/nope", "main", true, &[]),
            &apps,
        );
        assert!(r.refresh.is_empty() && r.carry_forward.is_empty());
    }

    /// Azure DevOps' `remoteUrl` against the `repoURL` spellings Azure offers, as Argo CD's
    /// `GetWebURLRegex` matches them: https with or without the organisation as user (in either
    /// the payload or the app), but not the ssh form, whose host (`ssh.dev.azure.com`) and path
    /// (`v3/ORG/PROJECT/REPO`, no `_git`) differ (argoproj/argo-cd#16854; polling covers it).
    #[test]
    fn azure_devops_urls_as_argo_cd() {
        let plain = "https://dev.azure.com/contoso/platform/_git/gitops";
        let with_user = "https://contoso@dev.azure.com/contoso/platform/_git/gitops";
        let ssh = "git@ssh.dev.azure.com:v3/contoso/platform/gitops";
        for remote in [plain, with_user] {
            let web = WebUrl::parse(remote).expect("parse");
            for ok in [
                plain,
                with_user,
                "https://dev.azure.com/contoso/platform/_git/gitops.git",
                "HTTPS://DEV.AZURE.COM/Contoso/Platform/_git/GitOps",
                "https://build-bot@dev.azure.com/contoso/platform/_git/gitops",
            ] {
                assert!(web.matches(ok), "{remote}: {ok} should match");
            }
            for bad in [
                ssh,
                "ssh://git@ssh.dev.azure.com/v3/contoso/platform/gitops",
                "https://dev.azure.com/contoso/platform/_git/gitops-infra",
                "https://dev.azure.com/contoso/other/_git/gitops",
                "https://dev.azure.com/fabrikam/platform/_git/gitops",
                "https://contoso:pat@dev.azure.com/contoso/platform/_git/gitops",
            ] {
                assert!(!web.matches(bad), "{remote}: {bad} should not match");
            }
            // Nor does URL normalisation join the ssh form to the https one.
            assert!(!repo_matches(ssh, &normalize_url(remote), Some(&web)));
        }
        // A project name with a space is percent-encoded in `remoteUrl` and in the clone URL.
        let spaced =
            WebUrl::parse("https://dev.azure.com/contoso/My%20Project/_git/gitops").expect("parse");
        assert!(spaced.matches("https://contoso@dev.azure.com/contoso/My%20Project/_git/gitops"));
        // The older visualstudio.com host works the same way.
        let vs = WebUrl::parse(
            "https://contoso.visualstudio.com/DefaultCollection/platform/_git/gitops",
        )
        .expect("parse");
        assert!(vs.matches(
            "https://contoso.visualstudio.com/DefaultCollection/platform/_git/gitops.git"
        ));
        assert!(!vs.matches("contoso@vs-ssh.visualstudio.com:v3/contoso/platform/gitops"));

        // Through `affected_apps`, with a push as the Azure DevOps payload gives it.
        let apps = vec![
            app("plain", plain, Some("main"), "apps/api", None),
            app("with-user", with_user, Some("HEAD"), "apps/web", None),
            app("over-ssh", ssh, Some("main"), "apps/db", None),
        ];
        let r = affected_apps(&push(with_user, "main", true, &[]), &apps);
        assert_eq!(r.names(), vec!["plain", "with-user"]);
        let r = affected_apps(&push(plain, "main", false, &[]), &apps);
        assert_eq!(
            r.names(),
            vec!["plain"],
            "HEAD apps need the default branch"
        );
    }

    #[test]
    fn poller_events_map_to_apps() {
        let url = "https://github.com/org/repo";
        let apps = vec![
            app("head", "https://github.com/Org/Repo.git", None, "a", None),
            app("main", url, Some("main"), "b", None),
            app("full", url, Some("refs/heads/main"), "c", None),
            app("tag", url, Some("v1"), "d", None),
            app("semver", url, Some("v1.*"), "e", None),
            app(
                "elsewhere",
                "https://github.com/org/other",
                Some("main"),
                "f",
                None,
            ),
        ];
        let ev = |rev: &str| crate::ChangeEvent {
            url: url.into(),
            repo: normalize_url(url),
            revision: rev.into(),
            old: None,
            new: Some("b".repeat(40)),
        };
        let names = |r: Vec<Refresh>| r.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(apps_for_change(&ev("HEAD"), &apps)), vec!["head"]);
        assert_eq!(names(apps_for_change(&ev("main"), &apps)), vec!["main"]);
        assert_eq!(
            names(apps_for_change(&ev("refs/heads/main"), &apps)),
            vec!["full", "main"]
        );
        assert_eq!(
            names(apps_for_change(&ev("refs/tags/v1"), &apps)),
            vec!["tag"]
        );
        assert_eq!(names(apps_for_change(&ev("v1.*"), &apps)), vec!["semver"]);
    }

    #[test]
    fn multi_source_apps_refresh_once() {
        let mut a = app(
            "multi",
            "https://github.com/org/repo",
            Some("main"),
            "one",
            Some("."),
        );
        let first = a.spec.source.take().expect("source");
        let second = ApplicationSource {
            path: Some("two".into()),
            ..first.clone()
        };
        a.spec.sources = vec![first, second];
        let p = push("https://github.com/org/repo", "main", true, &["two/x.yaml"]);
        let r = affected_apps(&p, std::slice::from_ref(&a));
        assert_eq!(r.names(), vec!["multi"]);
        assert!(
            r.carry_forward.is_empty(),
            "refreshed apps carry nothing forward"
        );
        let p = push(
            "https://github.com/org/repo",
            "main",
            true,
            &["three/x.yaml"],
        );
        let r = affected_apps(&p, &[a]);
        assert!(r.refresh.is_empty());
        assert_eq!(r.carry_forward.len(), 2);
    }
}
