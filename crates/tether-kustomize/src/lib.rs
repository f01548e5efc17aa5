//! Native Kustomize: builds a kustomization directory into Kubernetes objects, matching
//! `kubectl kustomize` (kustomize v5.5) object for object and in the same order.
//!
//! * [`build`] / [`build_with`]: the engine ([`build`](mod@build) module).
//! * [`argocd`]: Argo CD's `source.kustomize` overrides applied as an in-memory overlay.
//! * [`smp`]: strategic merge patch with the embedded Kubernetes v1.21.2 schema ([`schema`]).
//! * [`to_yaml`] / [`to_json`]: output.
//!
//! The engine is pure: it reads files through [`fs::FileSystem`] and does no other I/O.

pub mod argocd;
pub mod build;
pub mod crds;
pub mod error;
pub mod fieldspec;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod generators;
pub mod helm;
pub mod nameref;
pub mod patches;
pub mod remote;
pub mod replacements;
pub mod resid;
pub mod resource;
pub mod schema;
pub mod select;
pub mod smp;
pub mod transformers;
pub mod types;
pub mod vars;
pub mod yaml;
pub mod yaml11;

pub use build::{
    BuildOptions, Objects, build, build_with, load_kustomization, parse_kustomization,
};
pub use error::{Error, Result};
pub use fs::{FileSystem, LoadRestrictor, RealFs};
pub use helm::ChartPuller;
pub use remote::{RemoteLoader, RepoSpec};

use serde_json::{Map, Value};

/// Renders objects as a YAML stream (`---` between documents), as `kubectl kustomize` does.
///
/// Emitted by [`yaml`]: the objects are identical to kustomize's; the text may differ in key
/// order and scalar style (a go-yaml-compatible emitter is being written in tether-gotmpl).
pub fn to_yaml(objs: &[Map<String, Value>]) -> String {
    let mut out = String::new();
    for (i, o) in objs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&yaml::object_to_yaml(o));
    }
    out
}

/// Renders objects as a JSON `List`.
pub fn to_json(objs: &[Map<String, Value>]) -> String {
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objs});
    serde_json::to_string_pretty(&list).expect("JSON values serialise")
}
