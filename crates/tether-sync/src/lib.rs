//! Sync: make a cluster match the desired objects, as Argo CD's gitops-engine `pkg/sync` does.
//!
//! - [`plan`]: the pure plan: phases (PreSync, Sync, PostSync, SyncFail), waves, Argo CD's kind
//!   order, hooks (Argo CD's and Helm's annotations, generated names, delete policies), prunes
//!   (mirrored waves, `PruneLast`), per-resource sync options.
//! - [`SyncEngine`]: runs a plan against a cluster: dry run first, server-side apply (or
//!   `kubectl apply`'s client-side path, [`csa`], when requested), waits for
//!   health between waves, SyncFail hooks on failure, hook deletion, termination.
//! - [`ResourceResolver`]: kind → API resource, pluggable ([`KubeResolver`] uses kube's discovery).
//!
//! ```no_run
//! # async fn demo(client: kube::Client, desired: Vec<serde_json::Value>, live: Vec<serde_json::Value>) {
//! use std::sync::Arc;
//! use tether_sync::{KubeResolver, SyncEngine, SyncRequest};
//!
//! let engine = SyncEngine::new(client.clone(), Arc::new(KubeResolver::new(client)));
//! let mut req = SyncRequest::new("guestbook", "default", desired, live);
//! req.prune = true;
//! let result = engine.sync(req, &Default::default()).await;
//! println!("{}: {}", result.phase, result.message);
//! # }
//! ```

pub mod csa;
mod execute;
pub mod plan;
pub mod resolver;
pub mod result;

pub use execute::{ApplyMode, Progress, SyncEngine, SyncRequest, SyncSettings, TargetNormalizer};
pub use plan::{HookDeletePolicy, HookType, Plan, PlanSettings, ResourceKey, SyncPhase, Task};
pub use resolver::{KubeResolver, Resolved, ResourceResolver};
pub use result::{OperationPhase, ResourceResult, ResultCode, SyncEvent, SyncResult};
pub use tether_model::annotations::SyncOptions;
pub use tokio_util::sync::CancellationToken;
