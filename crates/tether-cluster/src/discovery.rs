//! API discovery through kube-rs: every resource the API server serves, with its scope,
//! versions, verbs and subresources, and a resolver from group/version/kind (or group/kind at
//! the preferred version) to the [`ApiResource`] kube-rs needs for dynamic objects.
//!
//! [`Discovery`] holds the current snapshot ([`ApiResources`]) and refreshes it on demand: the
//! cache refreshes it when a CustomResourceDefinition changes, and [`Discovery::resolve_or_refresh`]
//! refreshes it when asked for an unknown kind, at most once per `min_interval`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use kube::Client;
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiGroup, ApiResource, Scope, verbs};

use crate::ClusterError;

/// One served resource at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// Group, version, kind and plural, as kube-rs addresses it.
    pub resource: ApiResource,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// The verbs the API server allows (`get`, `list`, `watch`, `patch`, ...).
    pub verbs: Vec<String>,
    /// Subresource names (`status`, `scale`, ...).
    pub subresources: Vec<String>,
    /// Whether this is the version the cache watches for the group and kind: the group's
    /// preferred version, or the most stable version serving the kind when the preferred one
    /// does not.
    pub preferred: bool,
}

impl ResourceInfo {
    fn new(ar: ApiResource, caps: ApiCapabilities, preferred: bool) -> Self {
        Self {
            namespaced: caps.scope == Scope::Namespaced,
            verbs: caps.operations,
            subresources: caps
                .subresources
                .into_iter()
                .map(|(sub, _)| sub.plural.rsplit('/').next().unwrap_or_default().to_owned())
                .collect(),
            resource: ar,
            preferred,
        }
    }

    /// Whether the verb is allowed.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// Whether the cache can hold this resource (it can be listed and watched).
    pub fn is_watchable(&self) -> bool {
        self.supports(verbs::LIST) && self.supports(verbs::WATCH)
    }

    /// Group (empty for the core group).
    pub fn group(&self) -> &str {
        &self.resource.group
    }

    /// Kind.
    pub fn kind(&self) -> &str {
        &self.resource.kind
    }
}

/// A snapshot of what the API server serves.
#[derive(Debug, Clone, Default)]
pub struct ApiResources {
    by_gvk: HashMap<(String, String, String), Arc<ResourceInfo>>,
    preferred: HashMap<(String, String), Arc<ResourceInfo>>,
}

fn stability(version: &str) -> (u8, u32, u32) {
    // v1 > v1beta2 > v1beta1 > v1alpha1 > anything else, then higher major first.
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (rank, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (rank, major, minor)
}

impl ApiResources {
    fn from_groups<'a>(groups: impl Iterator<Item = &'a ApiGroup>) -> Self {
        let mut out = Self::default();
        for group in groups {
            let preferred = group.preferred_version_or_latest().to_owned();
            let mut versions: Vec<&str> = group.versions().collect();
            versions.sort_by_key(|v| (*v != preferred, std::cmp::Reverse(stability(v))));
            for version in versions {
                for (ar, caps) in group.versioned_resources(version) {
                    let gk = (ar.group.clone(), ar.kind.clone());
                    let is_preferred = !out.preferred.contains_key(&gk);
                    let info = Arc::new(ResourceInfo::new(ar, caps, is_preferred));
                    let gvk = (
                        info.resource.group.clone(),
                        info.resource.version.clone(),
                        info.resource.kind.clone(),
                    );
                    if is_preferred {
                        out.preferred.insert(gk, info.clone());
                    }
                    out.by_gvk.entry(gvk).or_insert(info);
                }
            }
        }
        out
    }

    /// Runs discovery (the aggregated endpoint, two requests; the per-group endpoints when the
    /// server does not offer it).
    pub async fn discover(client: &Client) -> Result<Self, ClusterError> {
        let discovery = match kube::Discovery::new(client.clone()).run_aggregated().await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!("aggregated discovery failed ({e}); querying each group");
                kube::Discovery::new(client.clone())
                    .run()
                    .await
                    .map_err(ClusterError::Discovery)?
            }
        };
        Ok(Self::from_groups(discovery.groups()))
    }

    /// The resource at exactly this group, version and kind.
    pub fn resolve(&self, gvk: &GroupVersionKind) -> Option<&Arc<ResourceInfo>> {
        self.by_gvk
            .get(&(gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()))
    }

    /// The preferred version of a group and kind.
    pub fn preferred(&self, group: &str, kind: &str) -> Option<&Arc<ResourceInfo>> {
        self.preferred.get(&(group.to_owned(), kind.to_owned()))
    }

    /// Every group and kind at its preferred version.
    pub fn all_preferred(&self) -> impl Iterator<Item = &Arc<ResourceInfo>> {
        self.preferred.values()
    }

    /// Whether a group and kind is namespaced; `None` when it is not served.
    pub fn is_namespaced(&self, group: &str, kind: &str) -> Option<bool> {
        self.preferred(group, kind).map(|i| i.namespaced)
    }

    /// Number of served group/version/kinds.
    pub fn len(&self) -> usize {
        self.by_gvk.len()
    }

    /// Whether nothing is served (only before the first discovery).
    pub fn is_empty(&self) -> bool {
        self.by_gvk.is_empty()
    }
}

/// Discovery with refresh, shared by the cache and its users.
pub struct Discovery {
    client: Client,
    current: RwLock<Arc<ApiResources>>,
    last_refresh: tokio::sync::Mutex<Instant>,
    min_interval: Duration,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("resources", &self.current().len())
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Runs a first discovery. `min_interval` bounds how often an unknown kind may trigger a
    /// refresh.
    pub async fn new(client: Client, min_interval: Duration) -> Result<Self, ClusterError> {
        let current = ApiResources::discover(&client).await?;
        Ok(Self {
            client,
            current: RwLock::new(Arc::new(current)),
            last_refresh: tokio::sync::Mutex::new(Instant::now()),
            min_interval,
        })
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<ApiResources> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs discovery again now.
    pub async fn refresh(&self) -> Result<Arc<ApiResources>, ClusterError> {
        let mut last = self.last_refresh.lock().await;
        let fresh = Arc::new(ApiResources::discover(&self.client).await?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        *last = Instant::now();
        Ok(fresh)
    }

    /// The preferred version of a group and kind, refreshing discovery first when it is unknown
    /// and the last refresh is older than the minimum interval.
    pub async fn resolve_or_refresh(
        &self,
        group: &str,
        kind: &str,
    ) -> Result<Option<Arc<ResourceInfo>>, ClusterError> {
        if let Some(info) = self.current().preferred(group, kind) {
            return Ok(Some(info.clone()));
        }
        {
            let last = self.last_refresh.lock().await;
            if last.elapsed() < self.min_interval {
                return Ok(None);
            }
        }
        Ok(self.refresh().await?.preferred(group, kind).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::stability;

    #[test]
    fn versions_rank_by_stability() {
        let mut v = vec!["v1alpha1", "v2beta1", "v1", "v1beta2", "v2", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(stability(v)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }
}
