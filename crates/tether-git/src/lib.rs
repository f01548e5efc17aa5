//! Tether's Git source service: a repository cache built on gitoxide, revision resolution as Argo CD
//! does it, and read-only, path-confined checkouts for the renderers.
//!
//! ```no_run
//! use tether_git::{RepoCache, Source};
//! let cache = RepoCache::new("/var/cache/tether/git")?;
//! let source = Source::new("https://github.com/argoproj/argocd-example-apps.git");
//! let commit = cache.resolve(&source, "HEAD")?;
//! let checkout = cache.checkout(&source, &commit)?;
//! let values = checkout.read("helm-guestbook/values.yaml")?;
//! # Ok::<(), tether_git::Error>(())
//! ```
//!
//! - [`url`]: Argo CD's URL normalisation, redaction, cache keys.
//! - [`semver`]: Masterminds semver v3 versions and constraints (`1.2.*`, `~1.2`, `>=1 <2`).
//! - [`revision`]: resolving a `targetRevision` against a remote's refs.
//! - [`creds`]: Argo CD repository credentials (`repository` / `repo-creds` Secrets, a local file).
//! - [`RepoCache`]: fetch (one in flight per repository), `ls-refs`, resolve, checkout.
//! - [`Checkout`]: a commit's tree; [`Checkout::resolve`] refuses paths leaving it.

mod cache;
mod checkout;
pub mod creds;
mod error;
pub mod revision;
pub use tether_semver as semver;
mod smart_http;
mod transport;
pub mod url;
mod write;

pub use cache::{Credentials, RemoteRefs, RepoCache, Source, Stats};
pub use checkout::Checkout;
pub use creds::{CredentialStore, CredsError, CredsKind, RepoCredentials, SecretString};
pub use error::{Error, PathError};
pub use revision::RemoteRef;
