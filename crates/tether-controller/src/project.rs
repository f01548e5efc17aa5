//! AppProject checks, as Argo CD's `IsSourcePermitted`, `IsDestinationPermitted` /
//! `isDestinationMatched`, `IsGroupKindPermitted` and the controller's orphaned-resource rules
//! (`isKnownOrphanedResourceExclusion`): source repositories, destinations, cluster / namespace
//! resource allow and deny lists. An app-level violation becomes an `InvalidSpecError`
//! condition; a denied resource kind makes the resource `Unknown` in the comparison and fails
//! the sync with a per-resource `SyncFailed` result (gitops-engine's permission validator).
//!
//! Globs are gobwas/glob's, as Argo CD uses them: `*` (not across a separator, when there are
//! separators), `**`, `?`, `[abc]`/`[!a-z]`, `{a,b}` and `\` escapes. A pattern starting with
//! `!` is a deny pattern in `sourceRepos` and `destinations`.

use tether_model::source::GroupKind;
use tether_model::{AppProject, AppProjectSpec, Application};

/// The server Argo CD gives the cluster it runs in (named `in-cluster`); Tether's destination
/// cluster is the kubeconfig's, known under the same two names.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The name of that cluster.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// Argo CD's built-in `default` project: everything is permitted.
pub fn default_project() -> AppProject {
    let mut p = AppProject::new(
        "default",
        AppProjectSpec {
            source_repos: vec!["*".into()],
            destinations: vec![tether_model::source::ApplicationDestination {
                server: Some("*".into()),
                namespace: Some("*".into()),
                name: Some("*".into()),
            }],
            cluster_resource_whitelist: vec![GroupKind {
                group: "*".into(),
                kind: "*".into(),
            }],
            ..Default::default()
        },
    );
    p.metadata.name = Some("default".into());
    p
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Char(char),
    /// `*` (false) or `**` (true: crosses separators).
    Star(bool),
    Any,
    /// A character class: ranges, negated.
    Class(Vec<(char, char)>, bool),
}

/// Expands `{a,b}` alternatives (nested too) into plain patterns; `\` escapes are kept.
fn expand_braces(p: &str) -> Vec<String> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut depth = 0;
    let mut open = None;
    let mut commas = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' => {
                // skip a class
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
            }
            '{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if depth == 1 => commas.push(i),
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let o = open.expect("an open brace precedes its close");
                    let prefix: String = chars[..o].iter().collect();
                    let suffix: String = chars[i + 1..].iter().collect();
                    let mut bounds = vec![o];
                    bounds.extend(commas.iter().copied());
                    bounds.push(i);
                    let mut out = Vec::new();
                    for w in bounds.windows(2) {
                        let alt: String = chars[w[0] + 1..w[1]].iter().collect();
                        for e in expand_braces(&format!("{prefix}{alt}{suffix}")) {
                            out.push(e);
                        }
                    }
                    return out;
                }
            }
            _ => {}
        }
        i += 1;
    }
    vec![p.to_owned()]
}

fn tokens(p: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                i += 1;
                out.push(Tok::Char(*chars.get(i)?));
            }
            '*' => {
                let super_star = chars.get(i + 1) == Some(&'*');
                if super_star {
                    i += 1;
                }
                out.push(Tok::Star(super_star));
            }
            '?' => out.push(Tok::Any),
            '[' => {
                i += 1;
                let negated = matches!(chars.get(i), Some('!' | '^'));
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                while *chars.get(i)? != ']' {
                    let lo = chars[i];
                    if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|c| *c != ']')
                    {
                        ranges.push((lo, chars[i + 2]));
                        i += 3;
                    } else {
                        ranges.push((lo, lo));
                        i += 1;
                    }
                }
                out.push(Tok::Class(ranges, negated));
            }
            c => out.push(Tok::Char(c)),
        }
        i += 1;
    }
    Some(out)
}

fn match_tokens(p: &[Tok], t: &[char], seps: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((Tok::Star(cross), rest)) => {
            for i in 0..=t.len() {
                if match_tokens(rest, &t[i..], seps) {
                    return true;
                }
                if i < t.len() && !cross && seps.contains(&t[i]) {
                    return false;
                }
            }
            false
        }
        Some((Tok::Any, rest)) => {
            t.first().is_some_and(|c| !seps.contains(c)) && match_tokens(rest, &t[1..], seps)
        }
        Some((Tok::Class(ranges, negated), rest)) => {
            t.first()
                .is_some_and(|c| ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated)
                && match_tokens(rest, &t[1..], seps)
        }
        Some((Tok::Char(c), rest)) => t.first() == Some(c) && match_tokens(rest, &t[1..], seps),
    }
}

/// gobwas/glob's `Match` (as Argo CD's `glob.Match`): `*` matches any run of characters other
/// than the separators, `**` any run at all. A malformed pattern matches nothing.
pub fn glob_with(pattern: &str, text: &str, separators: &[char]) -> bool {
    let t: Vec<char> = text.chars().collect();
    expand_braces(pattern)
        .iter()
        .any(|p| tokens(p).is_some_and(|toks| match_tokens(&toks, &t, separators)))
}

/// A glob without separators (`*` matches anything), as Argo CD matches servers, names and
/// namespaces.
pub fn glob(pattern: &str, text: &str) -> bool {
    glob_with(pattern, text, &[])
}

fn is_deny(pattern: &str) -> bool {
    pattern.starts_with('!')
}

/// Argo CD's `globMatch`: with `allow_negation`, `!p` matches what `p` does not.
fn glob_match(pattern: &str, value: &str, allow_negation: bool, separators: &[char]) -> bool {
    if allow_negation && let Some(p) = pattern.strip_prefix('!') {
        return !glob_with(p, value, separators);
    }
    pattern == "*" || glob_with(pattern, value, separators)
}

/// `IsSourcePermitted`: some pattern matches and no deny pattern excludes the repository.
/// URLs are compared normalised (lower case, no `.git`, scp-like ssh rewritten), and `*` does
/// not cross `/`.
pub fn source_permitted(spec: &AppProjectSpec, repo_url: &str) -> bool {
    let src = tether_git::url::normalize_url(repo_url);
    let mut any = false;
    for pat in &spec.source_repos {
        let normalized = match pat.strip_prefix('!') {
            Some(p) => format!("!{}", tether_git::url::normalize_url(p)),
            None => tether_git::url::normalize_url(pat),
        };
        if glob_match(&normalized, &src, true, &['/']) {
            any = true;
        } else if is_deny(&normalized) {
            return false;
        }
    }
    any
}

/// A destination as matched against a project: the server is inferred from the name, and the
/// name from the server, for the one cluster Tether knows (`in-cluster`), as Argo CD's
/// `ValidateDestination` infers them.
#[derive(Debug, Clone, Default)]
pub struct Destination<'a> {
    pub server: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
}

impl<'a> Destination<'a> {
    /// The app's destination.
    pub fn of(app: &'a Application) -> Self {
        let d = &app.spec.destination;
        let (name, server) = match (
            d.name.as_deref().unwrap_or(""),
            d.server.as_deref().unwrap_or(""),
        ) {
            (IN_CLUSTER_NAME, "") | ("", IN_CLUSTER_SERVER) => (IN_CLUSTER_NAME, IN_CLUSTER_SERVER),
            other => other,
        };
        Self {
            server,
            name,
            namespace: d.namespace.as_deref().unwrap_or(""),
        }
    }

    /// The same destination in another namespace (a resource's own namespace).
    pub fn in_namespace(&self, namespace: &'a str) -> Self {
        Self {
            namespace,
            ..self.clone()
        }
    }
}

/// `isDestinationMatched`: some destination matches (server or name, and namespace), and no
/// deny pattern (`!…` in server, name or namespace) excludes it.
pub fn destination_permitted(spec: &AppProjectSpec, dst: &Destination<'_>) -> bool {
    let mut any = false;
    for item in &spec.destinations {
        let (iname, iserver, ins) = (
            item.name.as_deref().unwrap_or(""),
            item.server.as_deref().unwrap_or(""),
            item.namespace.as_deref().unwrap_or(""),
        );
        let name_ok = !dst.name.is_empty() && glob_match(iname, dst.name, true, &[]);
        let server_ok = !dst.server.is_empty() && glob_match(iserver, dst.server, true, &[]);
        let ns_ok = glob_match(ins, dst.namespace, true, &[]);
        if (server_ok || name_ok) && ns_ok {
            any = true;
        } else if (!name_ok && is_deny(iname))
            || (!server_ok && is_deny(iserver))
            || (!ns_ok && is_deny(ins))
        {
            return false;
        }
    }
    any
}

/// Checks an Application's sources and destination against its project; the error is the
/// condition message (Argo CD's wording).
pub fn check_app(app: &Application, project: &AppProject) -> Result<(), String> {
    let pname = project.metadata.name.as_deref().unwrap_or_default();
    let spec = &project.spec;
    let mut problems = Vec::new();
    for source in app.spec.effective_sources() {
        if !source_permitted(spec, &source.repo_url) {
            problems.push(format!(
                "application repo {} is not permitted in project '{pname}'",
                source.repo_url
            ));
        }
    }
    let dst = Destination::of(app);
    if !destination_permitted(spec, &dst) {
        let what = if app
            .spec
            .destination
            .server
            .as_deref()
            .unwrap_or("")
            .is_empty()
        {
            format!("name '{}'", dst.name)
        } else {
            format!("server '{}'", dst.server)
        };
        problems.push(format!(
            "application destination {what} and namespace '{}' do not match any of the allowed destinations in project '{pname}'",
            dst.namespace
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Go's `filepath.Match` over group and kind (no separator in either).
fn listed(list: &[GroupKind], group: &str, kind: &str) -> bool {
    list.iter()
        .any(|gk| glob_with(&gk.kind, kind, &['/']) && glob_with(&gk.group, group, &['/']))
}

/// `IsGroupKindPermitted`: whether the project permits a resource kind (`namespaced` false for
/// cluster-scoped kinds). Namespaced kinds are permitted unless a whitelist leaves them out or
/// the blacklist names them; cluster-scoped ones only when whitelisted.
pub fn resource_permitted(project: &AppProject, group: &str, kind: &str, namespaced: bool) -> bool {
    let s = &project.spec;
    if namespaced {
        (s.namespace_resource_whitelist.is_empty()
            || listed(&s.namespace_resource_whitelist, group, kind))
            && !listed(&s.namespace_resource_blacklist, group, kind)
    } else {
        listed(&s.cluster_resource_whitelist, group, kind)
            && !listed(&s.cluster_resource_blacklist, group, kind)
    }
}

/// Why a resource may not be synced in the project (gitops-engine's permission validator in
/// Argo CD's `SyncAppState`), or `None`.
pub fn resource_denied(
    project: &AppProject,
    dst: &Destination<'_>,
    group: &str,
    kind: &str,
    namespace: &str,
    namespaced: bool,
) -> Option<String> {
    let pname = project.metadata.name.as_deref().unwrap_or_default();
    if !resource_permitted(project, group, kind, namespaced) {
        return Some(format!(
            "resource {group}:{kind} is not permitted in project {pname}"
        ));
    }
    if namespaced && !destination_permitted(&project.spec, &dst.in_namespace(namespace)) {
        return Some(format!(
            "namespace {namespace} is not permitted in project '{pname}'"
        ));
    }
    None
}

/// `isKnownOrphanedResourceExclusion`: objects never reported as orphaned (the `kubernetes`
/// Service in `default`, `default` ServiceAccounts, `kube-root-ca.crt`) and the project's
/// `orphanedResources.ignore` entries.
pub fn orphan_ignored(
    project: &AppProject,
    group: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> bool {
    if namespace == "default" && group.is_empty() && kind == "Service" && name == "kubernetes" {
        return true;
    }
    if group.is_empty() && kind == "ServiceAccount" && name == "default" {
        return true;
    }
    if group.is_empty() && kind == "ConfigMap" && name == "kube-root-ca.crt" {
        return true;
    }
    let Some(o) = &project.spec.orphaned_resources else {
        return false;
    };
    o.ignore.iter().any(|i| {
        let (ikind, igroup, iname) = (
            i.kind.as_deref().unwrap_or(""),
            i.group.as_deref().unwrap_or(""),
            i.name.as_deref().unwrap_or(""),
        );
        (ikind.is_empty() || glob(ikind, kind))
            && glob(igroup, group)
            && (iname.is_empty() || glob(iname, name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> AppProject {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn app(repo: &str, server: &str, ns: &str) -> Application {
        serde_yaml::from_str(&format!(
            "metadata: {{name: a}}\nspec:\n  project: p\n  source: {{repoURL: '{repo}'}}\n  destination: {{server: '{server}', namespace: '{ns}'}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn sources_and_destinations() {
        let p = project(
            "metadata: {name: p}\nspec:\n  sourceRepos: ['https://git.example.com/team/*', '!https://git.example.com/team/secret']\n  destinations: [{server: 'https://kubernetes.default.svc', namespace: 'team-*'}]\n",
        );
        assert!(
            check_app(
                &app(
                    "https://git.example.com/team/a.git",
                    "https://kubernetes.default.svc",
                    "team-a"
                ),
                &p
            )
            .is_ok()
        );
        // As Argo CD: a `!` pattern permits whatever it does not match.
        assert!(
            check_app(
                &app(
                    "https://git.example.com/other/a",
                    "https://kubernetes.default.svc",
                    "team-a",
                ),
                &p,
            )
            .is_ok()
        );
        let narrow = project(
            "metadata: {name: p}\nspec:\n  sourceRepos: ['https://git.example.com/team/*']\n  destinations: [{server: 'https://kubernetes.default.svc', namespace: 'team-*'}]\n",
        );
        let e = check_app(
            &app(
                "https://git.example.com/other/a",
                "https://kubernetes.default.svc",
                "team-a",
            ),
            &narrow,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "application repo https://git.example.com/other/a is not permitted in project 'p'"
        );
        assert!(
            check_app(
                &app(
                    "https://git.example.com/team/secret",
                    "https://kubernetes.default.svc",
                    "team-a"
                ),
                &p
            )
            .is_err()
        );
        let e = check_app(
            &app(
                "https://git.example.com/team/a",
                "https://kubernetes.default.svc",
                "prod",
            ),
            &p,
        )
        .unwrap_err();
        assert!(
            e.contains(
                "namespace 'prod' do not match any of the allowed destinations in project 'p'"
            ),
            "{e}"
        );
        assert!(check_app(&app("x", "y", "z"), &default_project()).is_ok());
    }

    #[test]
    fn resource_lists() {
        let p = project(
            "metadata: {name: p}\nspec:\n  namespaceResourceBlacklist: [{group: '', kind: Secret}]\n",
        );
        assert!(resource_permitted(&p, "apps", "Deployment", true));
        assert!(!resource_permitted(&p, "", "Secret", true));
        assert!(!resource_permitted(&p, "", "Namespace", false));
        assert!(resource_permitted(
            &default_project(),
            "",
            "Namespace",
            false
        ));
        let p = project(
            "metadata: {name: p}\nspec:\n  namespaceResourceWhitelist: [{group: '', kind: ConfigMap}]\n  clusterResourceWhitelist: [{group: '*', kind: '*'}]\n  clusterResourceBlacklist: [{group: rbac.authorization.k8s.io, kind: '*'}]\n",
        );
        assert!(!resource_permitted(&p, "apps", "Deployment", true));
        assert!(resource_permitted(&p, "", "ConfigMap", true));
        assert!(!resource_permitted(
            &p,
            "rbac.authorization.k8s.io",
            "ClusterRole",
            false
        ));
    }

    #[test]
    fn globs_as_gobwas() {
        assert!(glob_with("https://h/org/*", "https://h/org/a", &['/']));
        assert!(!glob_with("https://h/org/*", "https://h/org/a/b", &['/']));
        assert!(glob_with("https://h/org/**", "https://h/org/a/b", &['/']));
        assert!(glob("*", "a/b"));
        assert!(glob("team-{a,b}", "team-b") && !glob("team-{a,b}", "team-c"));
        assert!(glob("ns-[0-9]", "ns-7") && !glob("ns-[!0-9]", "ns-7"));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("lit\\*", "lit*") && !glob("lit\\*", "litx"));
        assert!(!glob("[unclosed", "[unclosed"));
    }

    fn dest_project(dests: &str) -> AppProject {
        project(&format!(
            "metadata: {{name: p}}\nspec:\n  sourceRepos: ['*']\n  destinations: {dests}\n"
        ))
    }

    fn permitted(p: &AppProject, server: &str, name: &str, ns: &str) -> bool {
        destination_permitted(
            &p.spec,
            &Destination {
                server,
                name,
                namespace: ns,
            },
        )
    }

    #[test]
    fn destinations_with_deny_patterns() {
        let s = IN_CLUSTER_SERVER;
        // A deny pattern alone permits everything else, as in Argo CD.
        let p = dest_project("[{server: '*', namespace: '!kube-system'}]");
        assert!(permitted(&p, s, "", "team"));
        assert!(!permitted(&p, s, "", "kube-system"));
        // A deny item that does not match wins over an allow item that does.
        let p =
            dest_project("[{server: '*', namespace: '*'}, {server: '*', namespace: '!prod-*'}]");
        assert!(permitted(&p, s, "", "dev"));
        assert!(!permitted(&p, s, "", "prod-eu"));
        let p = dest_project("[{server: '!https://prod.example.com', namespace: '*'}]");
        assert!(permitted(&p, s, "", "x"));
        assert!(!permitted(&p, "https://prod.example.com", "", "x"));
        // By name; an app naming `in-cluster` is matched by server too.
        let p = dest_project("[{name: 'in-*', namespace: 'a'}]");
        assert!(permitted(&p, "", "in-cluster", "a"));
        assert!(!permitted(&p, "", "other", "a"));
        let p = dest_project(&format!("[{{server: '{s}', namespace: 'a'}}]"));
        let app: Application = serde_yaml::from_str(
            "metadata: {name: a}\nspec:\n  source: {repoURL: r}\n  destination: {name: in-cluster, namespace: a}\n",
        )
        .unwrap();
        assert!(check_app(&app, &p).is_ok());
        let by_name = dest_project("[{name: in-cluster, namespace: 'a'}]");
        let served: Application = serde_yaml::from_str(&format!(
            "metadata: {{name: a}}\nspec:\n  source: {{repoURL: r}}\n  destination: {{server: '{s}', namespace: a}}\n"
        ))
        .unwrap();
        assert!(check_app(&served, &by_name).is_ok());
        let e = check_app(
            &app,
            &dest_project("[{server: 'https://other', namespace: a}]"),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "application destination name 'in-cluster' and namespace 'a' do not match any of the allowed destinations in project 'p'"
        );
    }

    #[test]
    fn source_repos_as_argo_cd() {
        let p = project(
            "metadata: {name: p}\nspec:\n  sourceRepos: ['!https://git.example.com/secret']\n",
        );
        assert!(source_permitted(
            &p.spec,
            "https://git.example.com/open.git"
        ));
        assert!(!source_permitted(
            &p.spec,
            "https://GIT.example.com/secret.git"
        ));
        let p = project("metadata: {name: p}\nspec:\n  sourceRepos: ['git@github.com:org/*']\n");
        assert!(source_permitted(&p.spec, "git@github.com:org/app.git"));
        assert!(!source_permitted(&p.spec, "git@github.com:org/app/sub"));
        assert!(!source_permitted(
            &AppProject::new("e", Default::default()).spec,
            "x"
        ));
    }

    #[test]
    fn resource_denials_name_the_kind_or_namespace() {
        let p = project(
            "metadata: {name: p}\nspec:\n  destinations: [{server: '*', namespace: 'team-*'}]\n  namespaceResourceBlacklist: [{group: '', kind: Secret}]\n",
        );
        let dst = Destination {
            server: IN_CLUSTER_SERVER,
            name: "",
            namespace: "team-a",
        };
        assert_eq!(
            resource_denied(&p, &dst, "", "Secret", "team-a", true).as_deref(),
            Some("resource :Secret is not permitted in project p")
        );
        assert_eq!(
            resource_denied(&p, &dst, "", "ConfigMap", "kube-system", true).as_deref(),
            Some("namespace kube-system is not permitted in project 'p'")
        );
        assert_eq!(
            resource_denied(&p, &dst, "", "Namespace", "", false).as_deref(),
            Some("resource :Namespace is not permitted in project p")
        );
        assert_eq!(
            resource_denied(&p, &dst, "apps", "Deployment", "team-b", true),
            None
        );
    }

    #[test]
    fn orphan_exclusions() {
        let p = project(
            "metadata: {name: p}\nspec:\n  orphanedResources:\n    ignore: [{kind: ConfigMap, name: 'keep-*'}, {group: apps, kind: '*'}]\n",
        );
        assert!(orphan_ignored(&p, "", "ConfigMap", "n", "kube-root-ca.crt"));
        assert!(orphan_ignored(&p, "", "ServiceAccount", "n", "default"));
        assert!(orphan_ignored(&p, "", "Service", "default", "kubernetes"));
        assert!(!orphan_ignored(&p, "", "Service", "other", "kubernetes"));
        assert!(orphan_ignored(&p, "", "ConfigMap", "n", "keep-me"));
        assert!(!orphan_ignored(&p, "", "ConfigMap", "n", "stray"));
        assert!(orphan_ignored(&p, "apps", "Deployment", "n", "x"));
    }
}
