//! Group/version/kind → API resource, behind a trait so the controller can plug in the cluster
//! cache's discovery. [`KubeResolver`] asks the API server (kube's discovery) and caches the answers.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use kube::api::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};

/// An API resource the server serves, and whether it is namespaced.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Group, version, kind, plural (for the URL).
    pub api_resource: ApiResource,
    /// Namespaced (`true`) or cluster-scoped.
    pub namespaced: bool,
}

/// Resolves kinds to API resources.
pub trait ResourceResolver: Send + Sync {
    /// The resource serving `gvk`, `Ok(None)` when the server does not serve it.
    fn resolve<'a>(
        &'a self,
        gvk: &'a GroupVersionKind,
    ) -> BoxFuture<'a, Result<Option<Resolved>, kube::Error>>;

    /// Forgets what is cached (after a CRD was created or changed).
    fn invalidate(&self);
}

/// [`ResourceResolver`] through kube's discovery: one request per group/version, answers cached
/// until [`ResourceResolver::invalidate`]; kinds not served are not cached.
pub struct KubeResolver {
    client: kube::Client,
    cache: Mutex<HashMap<(String, String, String), Resolved>>,
}

impl KubeResolver {
    /// A resolver on this client.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

fn key(gvk: &GroupVersionKind) -> (String, String, String) {
    (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone())
}

impl ResourceResolver for KubeResolver {
    fn resolve<'a>(
        &'a self,
        gvk: &'a GroupVersionKind,
    ) -> BoxFuture<'a, Result<Option<Resolved>, kube::Error>> {
        Box::pin(async move {
            if let Some(r) = self.cache.lock().expect("resolver lock").get(&key(gvk)) {
                return Ok(Some(r.clone()));
            }
            match discovery::pinned_kind(&self.client, gvk).await {
                Ok((ar, caps)) => {
                    let r = Resolved {
                        api_resource: ar,
                        namespaced: caps.scope == Scope::Namespaced,
                    };
                    self.cache
                        .lock()
                        .expect("resolver lock")
                        .insert(key(gvk), r.clone());
                    Ok(Some(r))
                }
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                Err(kube::Error::Discovery(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn invalidate(&self) {
        self.cache.lock().expect("resolver lock").clear();
    }
}
