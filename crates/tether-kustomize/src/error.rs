//! Errors of a kustomize build. Each variant names the step that failed and carries the file
//! or field it concerns, so messages read like kustomize's own.

use std::path::PathBuf;

/// What went wrong while building a kustomization.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("reading `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path was refused by the load restrictor.
    #[error(
        "security; file `{path}` is not in or below `{root}`\nhint: use `--load-restrictor none` to allow files outside the kustomization root"
    )]
    OutsideRoot { path: PathBuf, root: PathBuf },
    /// A directory holds no kustomization file.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory `{0}`"
    )]
    MissingKustomization(PathBuf),
    /// A directory holds more than one kustomization file.
    #[error(
        "found multiple kustomization files under `{0}`; only one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' is allowed"
    )]
    MultipleKustomizations(PathBuf),
    /// A kustomization (or a component) was included again while it was being built.
    #[error("cycle detected: `{0}` is already being built by one of its parents")]
    Cycle(PathBuf),
    /// A kustomization file is not valid.
    #[error("invalid kustomization `{path}`: {message}")]
    InvalidKustomization { path: PathBuf, message: String },
    /// A resource file is not valid YAML or holds something other than Kubernetes objects.
    #[error("invalid resource in `{path}`: {message}")]
    InvalidResource { path: PathBuf, message: String },
    /// A remote (git) resource could not be fetched or used.
    #[error("remote `{url}`: {message}")]
    Remote { url: String, message: String },
    /// A base of a kustomization read from a cloned repository leaves that repository.
    #[error(
        "security; bases in kustomizations found in cloned git repos must be within the repo, but base `{}` is outside `{}`",
        base.display(),
        repo.display()
    )]
    OutsideRepo { base: PathBuf, repo: PathBuf },
    /// A feature Tether does not provide (yet).
    #[error("{0}")]
    Unsupported(String),
    /// A patch could not be applied.
    #[error("{0}")]
    Patch(String),
    /// A generator failed.
    #[error("{0}")]
    Generator(String),
    /// Two resources have the same id, or a merge/replace found no target.
    #[error("{0}")]
    Conflict(String),
    /// A transformer failed.
    #[error("{0}")]
    Transform(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
