//! Which resources the cache watches: Argo CD's `resource.exclusions` and `resource.inclusions`
//! (argocd-cm), each a YAML list of `{apiGroups, kinds, clusters}` globs.
//!
//! A resource is excluded when it matches an exclusion (Argo CD always excludes `events.k8s.io`,
//! `metrics.k8s.io` and core `Event` as well); when inclusions are given, it must also match one
//! of them. An empty list in a rule matches everything, as in Argo CD's `FilteredResource.Match`.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

/// argocd-cm key of the exclusions.
pub const EXCLUSIONS_KEY: &str = "resource.exclusions";
/// argocd-cm key of the inclusions.
pub const INCLUSIONS_KEY: &str = "resource.inclusions";

/// A bad `resource.exclusions` / `resource.inclusions` value.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The value is not a YAML list of rules.
    #[error("argocd-cm `{key}`: {source}")]
    Yaml {
        key: &'static str,
        source: serde_yaml::Error,
    },
    /// A glob in a rule does not compile.
    #[error("argocd-cm `{key}`[{index}].{field}: bad glob `{glob}`: {source}")]
    Glob {
        key: &'static str,
        index: usize,
        field: &'static str,
        glob: String,
        source: globset::Error,
    },
}

/// One rule as written in argocd-cm.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilteredResource {
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub clusters: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    groups: Vec<GlobMatcher>,
    kinds: Vec<GlobMatcher>,
    clusters: Vec<GlobMatcher>,
}

fn any_match(globs: &[GlobMatcher], value: &str) -> bool {
    globs.is_empty() || globs.iter().any(|g| g.is_match(value))
}

impl Rule {
    fn matches(&self, group: &str, kind: &str, cluster: &str) -> bool {
        any_match(&self.groups, group)
            && any_match(&self.kinds, kind)
            && any_match(&self.clusters, cluster)
    }

    fn compile(key: &'static str, index: usize, r: &FilteredResource) -> Result<Self, FilterError> {
        let globs = |field: &'static str, list: &[String]| {
            list.iter()
                .map(|glob| {
                    Glob::new(glob)
                        .map(|g| g.compile_matcher())
                        .map_err(|source| FilterError::Glob {
                            key,
                            index,
                            field,
                            glob: glob.clone(),
                            source,
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            groups: globs("apiGroups", &r.api_groups)?,
            kinds: globs("kinds", &r.kinds)?,
            clusters: globs("clusters", &r.clusters)?,
        })
    }
}

/// Compiled exclusions and inclusions.
#[derive(Debug, Clone)]
pub struct ResourceFilter {
    exclusions: Vec<Rule>,
    inclusions: Vec<Rule>,
}

impl Default for ResourceFilter {
    /// Only Argo CD's built-in exclusions.
    fn default() -> Self {
        Self::new(&[], &[]).expect("the built-in exclusions compile")
    }
}

fn builtin_exclusions() -> Vec<FilteredResource> {
    vec![
        FilteredResource {
            api_groups: vec!["events.k8s.io".into(), "metrics.k8s.io".into()],
            ..Default::default()
        },
        FilteredResource {
            api_groups: vec![String::new()],
            kinds: vec!["Event".into()],
            ..Default::default()
        },
    ]
}

impl ResourceFilter {
    /// A filter from rules; the built-in exclusions are added.
    pub fn new(
        exclusions: &[FilteredResource],
        inclusions: &[FilteredResource],
    ) -> Result<Self, FilterError> {
        let builtin = builtin_exclusions();
        let exclusions = builtin
            .iter()
            .map(|r| Rule::compile("built-in exclusions", 0, r))
            .chain(
                exclusions
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Rule::compile(EXCLUSIONS_KEY, i, r)),
            )
            .collect::<Result<_, _>>()?;
        let inclusions = inclusions
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::compile(INCLUSIONS_KEY, i, r))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            exclusions,
            inclusions,
        })
    }

    /// A filter from argocd-cm's YAML values (each may be empty).
    pub fn from_yaml(exclusions: &str, inclusions: &str) -> Result<Self, FilterError> {
        let parse = |key: &'static str, text: &str| -> Result<Vec<FilteredResource>, FilterError> {
            if text.trim().is_empty() {
                return Ok(Vec::new());
            }
            serde_yaml::from_str::<Option<Vec<FilteredResource>>>(text)
                .map(Option::unwrap_or_default)
                .map_err(|source| FilterError::Yaml { key, source })
        };
        Self::new(
            &parse(EXCLUSIONS_KEY, exclusions)?,
            &parse(INCLUSIONS_KEY, inclusions)?,
        )
    }

    /// A filter from the data of argocd-cm.
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Self, FilterError> {
        let get = |k: &str| data.get(k).map(String::as_str).unwrap_or_default();
        Self::from_yaml(get(EXCLUSIONS_KEY), get(INCLUSIONS_KEY))
    }

    /// Whether a group and kind on a cluster (its server URL) is left out of the cache.
    pub fn is_excluded(&self, group: &str, kind: &str, cluster: &str) -> bool {
        if self
            .exclusions
            .iter()
            .any(|r| r.matches(group, kind, cluster))
        {
            return true;
        }
        !self.inclusions.is_empty()
            && !self
                .inclusions
                .iter()
                .any(|r| r.matches(group, kind, cluster))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = "https://kubernetes.default.svc";

    #[test]
    fn builtin_exclusions_apply_without_config() {
        let f = ResourceFilter::default();
        assert!(f.is_excluded("", "Event", CLUSTER));
        assert!(f.is_excluded("events.k8s.io", "Event", CLUSTER));
        assert!(f.is_excluded("metrics.k8s.io", "PodMetrics", CLUSTER));
        assert!(!f.is_excluded("", "ConfigMap", CLUSTER));
        assert!(!f.is_excluded("apps", "Deployment", CLUSTER));
    }

    #[test]
    fn exclusions_in_argocd_format_with_globs() {
        let f = ResourceFilter::from_yaml(
            r#"
- apiGroups: ["*.example.com"]
  kinds: ["*"]
  clusters: ["*"]
- apiGroups: [""]
  kinds: ["Endpoints"]
- kinds: ["Secret"]
  clusters: ["https://prod.*"]
"#,
            "",
        )
        .expect("valid");
        assert!(f.is_excluded("foo.example.com", "Widget", CLUSTER));
        assert!(!f.is_excluded("example.com", "Widget", CLUSTER));
        assert!(f.is_excluded("", "Endpoints", CLUSTER));
        assert!(!f.is_excluded("", "Secret", CLUSTER));
        assert!(f.is_excluded("", "Secret", "https://prod.example.com"));
    }

    #[test]
    fn inclusions_restrict_to_what_they_name() {
        let f = ResourceFilter::from_yaml(
            "",
            r#"
- apiGroups: ["", "apps"]
  kinds: ["ConfigMap", "Deployment"]
"#,
        )
        .expect("valid");
        assert!(!f.is_excluded("", "ConfigMap", CLUSTER));
        assert!(!f.is_excluded("apps", "Deployment", CLUSTER));
        assert!(f.is_excluded("", "Secret", CLUSTER));
        assert!(f.is_excluded("batch", "Job", CLUSTER));
        // Exclusions win over inclusions.
        assert!(f.is_excluded("", "Event", CLUSTER));
    }

    #[test]
    fn bad_config_names_the_key_and_field() {
        let err = ResourceFilter::from_yaml("- apiGroups: ['[']", "").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("resource.exclusions`[0].apiGroups"), "{msg}");
        let err = ResourceFilter::from_yaml("", "- kind: [x]").unwrap_err();
        assert!(err.to_string().contains("resource.inclusions"), "{err}");
    }
}
