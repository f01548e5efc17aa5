//! Tether's GitOps loop: the Application controller hosted by `tether run`.
//!
//! - [`files`]: file mode's declarations (a directory of Applications and AppProjects);
//! - [`store`]: the embedded store (redb) of status, history and the audit log;
//! - [`backend`]: the narrow interfaces the controller drives (rendering, the cluster);
//! - [`kube_apps`]: cluster mode (Application/AppProject resources, status written back);
//! - [`render`]: rendering Git sources (tether-git + tether-render + tether-kustomize);
//! - [`project`]: AppProject checks;
//! - [`windows`]: AppProject sync windows;
//! - [`controller`]: queue, workers, comparison into status, auto-sync, operations, history;
//! - [`api`]: the HTTP API the CLI uses; [`edit`]: its route for `app set` (spec writers);
//! - [`settings`]: Argo CD settings besides Applications (webhook secrets, kustomize options);
//! - [`run`]: wiring it all for `tether run`.

pub mod api;
pub mod backend;
pub mod controller;
pub mod edit;
pub mod files;
pub mod kube_apps;
pub mod kube_cluster;
pub mod project;
pub mod queue;
pub mod render;
pub mod run;
pub mod settings;
pub mod store;
pub mod windows;

pub use backend::{
    AppWriter, Cluster, Compared, Comparison, Rendered, Renderer, SyncInput, SyncOutcome,
};
pub use controller::{Controller, Declaration, RequestError, Settings};
pub use store::{AuditEntry, Store};
