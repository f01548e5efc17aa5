//! Argo CD-compatible `argoproj.io/v1alpha1` API types (Application, AppProject, ApplicationSet),
//! their CRDs, the `argocd.argoproj.io/*` annotations and sync options, and manifest validation.
//!
//! Counterpart of Argo CD's `pkg/apis/application/v1alpha1`. Pure: no I/O.

pub mod annotations;
pub mod application;
pub mod applicationset;
pub mod crd;
pub mod duration;
pub mod project;
pub mod resource;
mod schema;
pub mod source;
pub mod validate;

pub use application::{Application, ApplicationSpec, ApplicationStatus};
pub use applicationset::{ApplicationSet, ApplicationSetSpec};
pub use project::{AppProject, AppProjectSpec};

/// The API group of Argo CD's kinds.
pub const GROUP: &str = "argoproj.io";
/// The API version of Argo CD's kinds.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of Argo CD's kinds.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
