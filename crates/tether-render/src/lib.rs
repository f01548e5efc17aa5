//! Source rendering as Argo CD's repo-server does it: detect the source type of a directory,
//! then render plain directories (YAML/JSON, optionally Jsonnet) or kustomizations (through
//! [`tether_kustomize`]). Helm lives in its own engine.

pub mod charts;
pub mod detect;
pub mod directory;
pub mod jsonnet;
pub mod remote;

pub use charts::HelmChartPuller;
pub use detect::{SourceType, detect};
pub use directory::{DirectorySettings, render_directory};
pub use jsonnet::{JsonnetSettings, JsonnetVar};
pub use remote::GitRemoteLoader;

use std::path::PathBuf;

/// A rendered object.
pub type Object = serde_json::Map<String, serde_json::Value>;

/// What failed while rendering a source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to unmarshal `{path}`: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("`{path}` is not a Kubernetes object: {message}")]
    NotAnObject { path: PathBuf, message: String },
    #[error("failed to evaluate jsonnet `{path}`: {message}")]
    Jsonnet { path: PathBuf, message: String },
    #[error("invalid glob `{pattern}`: {message}")]
    Glob { pattern: String, message: String },
    #[error("illegal filepath: `{path}` resolves outside the repository `{root}`")]
    OutsideRepo { path: PathBuf, root: PathBuf },
    #[error(transparent)]
    Kustomize(#[from] tether_kustomize::Error),
    #[error("{0}")]
    Unsupported(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Expands `List` kinds into their items, as Argo CD does with rendered manifests.
pub fn expand_lists(objs: Vec<Object>) -> Vec<Object> {
    let mut out = Vec::with_capacity(objs.len());
    for o in objs {
        let is_list = o
            .get("kind")
            .and_then(|k| k.as_str())
            .is_some_and(|k| k.ends_with("List"))
            && o.get("items").is_some_and(|i| i.is_array());
        if is_list {
            if let Some(serde_json::Value::Array(items)) = o.get("items") {
                for it in items {
                    if let serde_json::Value::Object(m) = it {
                        out.push(m.clone());
                    }
                }
            }
        } else {
            out.push(o);
        }
    }
    out
}
