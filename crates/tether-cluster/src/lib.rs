//! Cluster access for Tether (the part of gitops-engine's `pkg/cache` and Argo CD's
//! `controller/state.go` that reads the cluster):
//!
//! - [`discovery`]: the API resources the server serves (scope, versions, verbs, subresources)
//!   and a group/version/kind resolver, refreshed when CRDs change;
//! - [`cache`]: one shared, watch-based live-state cache per cluster (kube-runtime watchers, one
//!   per watched kind), with Argo CD's `resource.exclusions`/`inclusions` ([`filter`]) and an
//!   index from application to its objects by Argo CD's tracking methods ([`tracking`]);
//! - [`compare`]: desired objects against the cache, giving Argo CD's per-resource sync status,
//!   diff and health and the `status.resources` list.
//!
//! ```no_run
//! # async fn doc(client: kube::Client, desired: Vec<serde_json::Value>) -> Result<(), tether_cluster::ClusterError> {
//! use std::time::Duration;
//! use tether_cluster::{CacheSettings, ClusterCache, CompareTarget};
//! use tether_health::{HealthChecker, LuaOverrides};
//!
//! let cache = ClusterCache::start(client, CacheSettings::default()).await?;
//! cache.wait_synced(Duration::from_secs(60)).await?;
//! let target = CompareTarget::new("guestbook", "guestbook");
//! let result = cache
//!     .compare(desired, &target, &HealthChecker::new(LuaOverrides::new()))
//!     .await?;
//! println!("{:?} {:?}", result.sync_status, result.health);
//! # Ok(()) }
//! ```

pub mod cache;
pub mod compact;
pub mod compare;
pub mod discovery;
pub mod filter;
pub mod tracking;

use std::time::Duration;

pub use cache::{CacheEvent, CacheSettings, ClusterCache, LiveObject, WatchScope, WatchStatus};
pub use compare::{
    CompareTarget, ComparedResource, ComparisonResult, ResourceDiff, compare_objects,
    compare_objects_with,
};
pub use discovery::{ApiResources, Discovery, ResourceInfo};
pub use filter::{FilterError, FilteredResource, ResourceFilter};
pub use tracking::{Tracking, TrackingMethod};

/// Why talking to the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// API discovery failed.
    #[error("API discovery failed: {0}")]
    Discovery(#[source] kube::Error),
    /// Watches did not finish their first list in time.
    #[error("the cluster cache did not sync within {timeout:?}; waiting for: {}", pending.join(", "))]
    NotSynced {
        timeout: Duration,
        pending: Vec<String>,
    },
    /// A desired object cannot be compared.
    #[error("desired object #{index} ({what}): {message}")]
    BadDesired {
        index: usize,
        what: String,
        message: String,
    },
    /// The application's `ignoreDifferences` (or argocd-cm's) are invalid.
    #[error("ignoreDifferences: {0}")]
    DiffConfig(#[source] tether_diff::DiffError),
    /// A diff could not be made.
    #[error("diff of {key}: {source}")]
    Diff {
        key: String,
        source: tether_diff::DiffError,
    },
}
