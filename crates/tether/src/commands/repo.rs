//! `tether repo`: talk to a Git repository as the source service does.
//!
//! ```text
//! tether repo ls-refs URL                    # the remote's refs, `<sha> <name>` per line (ls-remote)
//! tether repo resolve URL REV                # the commit SHA REV resolves to, as Argo CD resolves it
//! tether repo … --username U --password P    # or TETHER_GIT_USERNAME / TETHER_GIT_PASSWORD
//! tether repo … --credentials FILE           # Argo CD-style repositories/credential templates
//!                                            # (format: crates/tether-git/README.md)
//! tether repo … --cache-dir DIR              # default: $XDG_CACHE_HOME/tether/git or ~/.cache/tether/git
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tether_git::{Credentials, RemoteRef, RepoCache, Source};

/// `tether repo`.
#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    #[command(subcommand)]
    pub command: RepoCommand,
    /// User name for HTTPS authentication.
    #[arg(long, env = "TETHER_GIT_USERNAME", global = true)]
    pub username: Option<String>,
    /// Password or token for HTTPS authentication (prefer the environment variable).
    #[arg(
        long,
        env = "TETHER_GIT_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
    /// Credentials file (file mode: `repositories`, `credentialTemplates`, `sshKnownHosts`, with
    /// Argo CD's fields). `--username`/`--password` win over it.
    #[arg(long, env = "TETHER_REPO_CREDENTIALS", global = true)]
    pub credentials: Option<PathBuf>,
    /// Repository cache directory.
    #[arg(long, env = "TETHER_GIT_CACHE", global = true)]
    pub cache_dir: Option<PathBuf>,
}

/// The `tether repo` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RepoCommand {
    /// List the remote's references without fetching (like `git ls-remote`).
    LsRefs {
        /// Repository URL (https, http or file).
        url: String,
    },
    /// Print the commit SHA a revision resolves to (branch, tag, SHA, HEAD or semver constraint).
    Resolve {
        /// Repository URL (https, http or file).
        url: String,
        /// Revision, as in an Application's `targetRevision`.
        revision: String,
    },
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("tether")
        .join("git")
}

fn source(url: &str, args: &RepoArgs) -> anyhow::Result<Source> {
    let mut source = Source::new(url);
    if let Some(file) = &args.credentials {
        let store = tether_git::CredentialStore::from_file(file)?;
        if let Some(c) = store.credentials_for(url, None) {
            source = source.with_credentials(c);
        }
    }
    Ok(match (&args.username, &args.password) {
        (None, None) => source,
        (user, Some(password)) => source.with_credentials(Credentials::basic(
            user.clone().unwrap_or_default(),
            password.clone(),
        )),
        (Some(_), None) => {
            anyhow::bail!("`--username` needs `--password` (or TETHER_GIT_PASSWORD)")
        }
    })
}

/// Runs `tether repo`.
pub fn run(args: RepoArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let cache =
        RepoCache::new(&dir).with_context(|| format!("repository cache {}", dir.display()))?;
    match &args.command {
        RepoCommand::LsRefs { url } => {
            let refs = cache.ls_refs(&source(url, &args)?)?;
            for r in &refs.refs {
                match r {
                    RemoteRef::Direct {
                        name,
                        target,
                        peeled,
                    } => {
                        writeln!(out, "{target}\t{name}")?;
                        if let Some(p) = peeled {
                            writeln!(out, "{p}\t{name}^{{}}")?;
                        }
                    }
                    RemoteRef::Symbolic {
                        name,
                        target_ref,
                        object,
                    } => match object {
                        Some(o) => writeln!(out, "{o}\t{name}")?,
                        None => writeln!(out, "unborn\t{name} -> {target_ref}")?,
                    },
                }
            }
        }
        RepoCommand::Resolve { url, revision } => {
            let sha = cache.resolve(&source(url, &args)?, revision)?;
            writeln!(out, "{sha}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
