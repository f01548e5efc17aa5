//! Errors of the Git source service. Each names the repository (its URL without credentials) and,
//! where there is one, the revision, commit or path. Messages from the Git layer pass through
//! [`redact`] first, so a password or token never reaches an error, a log or a caller.
//!
//! Errors are `Clone` because one fetch's outcome is shared by every caller waiting on it.

/// Why a path in a checkout was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("absolute paths are not allowed")]
    Absolute,
    #[error("the path leaves the checkout")]
    Escapes,
    #[error("a symlink to `{0}` leaves the checkout")]
    SymlinkEscapes(String),
    #[error("too many levels of symbolic links (a symlink loop?)")]
    SymlinkLoop,
    #[error("cannot read: {0}")]
    Unreadable(String),
}

/// An error of the repository cache.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("repository `{repo}`: the URL is invalid: {message}")]
    InvalidUrl { repo: String, message: String },
    #[error("repository `{repo}`: cannot prepare the local cache at {path}: {message}")]
    Cache {
        repo: String,
        path: String,
        message: String,
    },
    #[error("repository `{repo}`: cannot list references: {message}")]
    ListRefs { repo: String, message: String },
    #[error("repository `{repo}`: fetch failed: {message}")]
    Fetch { repo: String, message: String },
    #[error("repository `{repo}`: unable to resolve revision `{revision}` to a commit SHA")]
    Unresolved { repo: String, revision: String },
    #[error(
        "repository `{repo}`: revision `{revision}` is ambiguous: several objects start with it"
    )]
    Ambiguous { repo: String, revision: String },
    #[error("repository `{repo}`: commit `{commit}` not found (hint: was it force-pushed away?)")]
    CommitNotFound { repo: String, commit: String },
    #[error("repository `{repo}`: checkout of commit `{commit}` failed at `{path}`: {message}")]
    Checkout {
        repo: String,
        commit: String,
        path: String,
        message: String,
    },
    #[error("repository `{repo}` at commit `{commit}`: path `{path}`: {reason}")]
    Path {
        repo: String,
        commit: String,
        path: String,
        reason: PathError,
    },
}

/// The message of an error and its sources, `: `-separated, with every secret replaced by `***`.
pub fn redact(err: &(dyn std::error::Error + 'static), secrets: &[&str]) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    redact_str(&message, secrets)
}

/// `text` with every non-empty secret replaced by `***`.
pub fn redact_str(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, "***");
    }
    out
}
