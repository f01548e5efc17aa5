//! AppProject checks, as Argo CD's `ValidateDestination` / `IsSourcePermitted` /
//! `IsGroupKindPermitted`: source repositories, destinations, and cluster / namespace resource
//! allow and deny lists. A violation becomes an `InvalidSpecError` condition.

use tether_model::source::GroupKind;
use tether_model::{AppProject, AppProjectSpec, Application};

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

/// A glob where `*` matches any run of characters (`/` included) and `?` one character, as
/// Argo CD's `glob.Match` is used for repositories, servers and namespaces.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn m(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| m(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && m(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && m(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    m(&p, &t)
}

fn norm_repo(url: &str) -> String {
    url.trim()
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .to_ascii_lowercase()
}

/// Checks an Application's sources and destination against its project; the error is the
/// condition message.
pub fn check_app(app: &Application, project: &AppProject) -> Result<(), String> {
    let pname = project.metadata.name.as_deref().unwrap_or_default();
    let spec = &project.spec;
    for source in app.spec.effective_sources() {
        let repo = norm_repo(&source.repo_url);
        let mut permitted = false;
        for pat in &spec.source_repos {
            if let Some(neg) = pat.strip_prefix('!') {
                if glob(&norm_repo(neg), &repo) {
                    permitted = false;
                    break;
                }
            } else if glob(&norm_repo(pat), &repo) {
                permitted = true;
            }
        }
        if !permitted {
            return Err(format!(
                "application repo {} is not permitted in project '{pname}'",
                source.repo_url
            ));
        }
    }
    let dest = &app.spec.destination;
    let server = dest.server.as_deref().unwrap_or("");
    let name = dest.name.as_deref().unwrap_or("");
    let ns = dest.namespace.as_deref().unwrap_or("");
    let matches = spec.destinations.iter().any(|d| {
        let server_ok = if !server.is_empty() {
            d.server.as_deref().is_some_and(|p| glob(p, server))
        } else {
            d.name.as_deref().is_some_and(|p| glob(p, name))
        };
        let ns_ok = d.namespace.as_deref().is_some_and(|p| {
            p.strip_prefix('!')
                .map_or_else(|| glob(p, ns), |neg| !glob(neg, ns))
        });
        server_ok && ns_ok
    });
    if !matches {
        let what = if server.is_empty() {
            format!("name '{name}'")
        } else {
            format!("server '{server}'")
        };
        return Err(format!(
            "application destination {what} and namespace '{ns}' do not match any of the allowed destinations in project '{pname}'"
        ));
    }
    Ok(())
}

fn listed(list: &[GroupKind], group: &str, kind: &str) -> bool {
    list.iter()
        .any(|gk| glob(&gk.group, group) && glob(&gk.kind, kind))
}

/// Whether the project permits a resource kind (`namespaced` false for cluster-scoped kinds).
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
        let e = check_app(
            &app(
                "https://git.example.com/other/a",
                "https://kubernetes.default.svc",
                "team-a",
            ),
            &p,
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
}
