//! `tether render --repo URL --revision REV --path P [source flags]`: render a source straight
//! from Git, as Argo CD's repo-server does for an Application.
//!
//! The repository is fetched into the shared repository cache (`--cache-dir`, `TETHER_GIT_CACHE`,
//! default `~/.cache/tether/git`, the same cache `tether repo` uses), the revision is resolved as
//! Argo CD resolves `targetRevision` (branch, tag, SHA, `HEAD`, semver constraint), the commit is
//! checked out read-only and `--path` is resolved inside it (`..`, absolute paths and symlinks
//! leaving the checkout are refused; like Argo CD, a repository holding a symlink that leaves it is
//! refused as a whole). The source type is then detected as `tether render DIR` detects it and
//! rendered with the same flags as `tether render helm|kustomize|directory`:
//!
//! ```text
//! tether render --repo URL [--revision REV] [--path P]
//!     [-f VALUES]... [--set K=V]... [--release-name N] [-n NS] [--kube-version V] …  # helm sources
//!     [--load-restrictor none] [--enable-helm]                      # kustomize sources
//!     [--recurse] [--include G] [--exclude G] [--jsonnet-… ]        # directory / jsonnet sources
//!     [--username U --password P] [--cache-dir DIR] [-o yaml|json]
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use tether_git::{Credentials, RepoCache, Source};
use tether_render::SourceType;

use super::render::{DirectoryArgs, KustomizeArgs, LoadRestrictorArg, RenderArgs, RenderCommand};
use super::render_helm::HelmArgs;

/// The flags of `tether render --repo`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct GitSourceArgs {
    /// Render from this Git repository instead of a local directory (https, http, ssh or file URL).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// Revision to render, as an Application's `targetRevision` (default: HEAD).
    #[arg(long, value_name = "REV", requires = "repo")]
    pub revision: Option<String>,
    /// Directory in the repository, as an Application's `path` (default: the root).
    #[arg(long, value_name = "PATH", requires = "repo")]
    pub path: Option<String>,
    /// Repository cache directory (default: ~/.cache/tether/git).
    #[arg(long, env = "TETHER_GIT_CACHE", requires = "repo")]
    pub cache_dir: Option<PathBuf>,
    /// User name for HTTPS authentication.
    #[arg(long, env = "TETHER_GIT_USERNAME", requires = "repo")]
    pub username: Option<String>,
    /// Password or token for HTTPS authentication (prefer the environment variable).
    #[arg(
        long,
        env = "TETHER_GIT_PASSWORD",
        hide_env_values = true,
        requires = "repo"
    )]
    pub password: Option<String>,
    /// Kustomize sources: which files kustomizations may read.
    #[arg(long, value_enum, requires = "repo")]
    pub load_restrictor: Option<LoadRestrictorArg>,
    /// Kustomize sources: allow `helmCharts`.
    #[arg(long, requires = "repo")]
    pub enable_helm: bool,
    /// Directory sources: read subdirectories too.
    #[arg(long, requires = "repo")]
    pub recurse: bool,
    /// Directory sources: only files matching this glob.
    #[arg(long, requires = "repo")]
    pub include: Option<String>,
    /// Directory sources: skip files matching this glob.
    #[arg(long, requires = "repo")]
    pub exclude: Option<String>,
    /// Jsonnet ext var as a string: NAME=VALUE.
    #[arg(long = "jsonnet-ext-str", value_name = "NAME=VALUE", requires = "repo")]
    pub ext_str: Vec<String>,
    /// Jsonnet ext var as code: NAME=CODE.
    #[arg(long = "jsonnet-ext-code", value_name = "NAME=CODE", requires = "repo")]
    pub ext_code: Vec<String>,
    /// Jsonnet top-level argument as a string: NAME=VALUE.
    #[arg(long = "jsonnet-tla-str", value_name = "NAME=VALUE", requires = "repo")]
    pub tla_str: Vec<String>,
    /// Jsonnet top-level argument as code: NAME=CODE.
    #[arg(long = "jsonnet-tla-code", value_name = "NAME=CODE", requires = "repo")]
    pub tla_code: Vec<String>,
    /// Jsonnet library path, relative to the repository root.
    #[arg(long = "jsonnet-libs", value_name = "PATH", requires = "repo")]
    pub libs: Vec<String>,
    /// Do not evaluate `*.jsonnet` files.
    #[arg(long, requires = "repo")]
    pub no_jsonnet: bool,
    /// Helm sources: values file, relative to `--path` in the repository (Argo CD's
    /// `helm.valueFiles`); later files win.
    #[arg(long = "values", short = 'f', value_name = "FILE", requires = "repo")]
    pub values: Vec<String>,
    /// Helm sources: set a value (`a.b=c`), as `helm.parameters`.
    #[arg(long = "set", value_name = "K=V", requires = "repo")]
    pub set: Vec<String>,
    /// Helm sources: set a value as a string (`helm.parameters` with `forceString`).
    #[arg(long = "set-string", value_name = "K=V", requires = "repo")]
    pub set_string: Vec<String>,
    /// Helm sources: set a value from JSON.
    #[arg(long = "set-json", value_name = "K=JSON", requires = "repo")]
    pub set_json: Vec<String>,
    /// Helm sources: release name (default as `helm template`: `release-name`).
    #[arg(long, requires = "repo")]
    pub release_name: Option<String>,
    /// Helm sources: release namespace.
    #[arg(long, short = 'n', requires = "repo")]
    pub namespace: Option<String>,
    /// Helm sources: Kubernetes version for `.Capabilities`.
    #[arg(long, requires = "repo")]
    pub kube_version: Option<String>,
    /// Helm sources: extra API versions for `.Capabilities.APIVersions`.
    #[arg(
        long = "api-versions",
        short = 'a',
        value_name = "G/V",
        requires = "repo"
    )]
    pub api_versions: Vec<String>,
    /// Helm sources: print the charts' `crds/` first.
    #[arg(long, requires = "repo")]
    pub include_crds: bool,
    /// Helm sources: do not print CRDs.
    #[arg(long, requires = "repo")]
    pub skip_crds: bool,
    /// Helm sources: do not print hooks.
    #[arg(long, requires = "repo")]
    pub no_hooks: bool,
    /// Helm sources: do not print test hooks.
    #[arg(long, requires = "repo")]
    pub skip_tests: bool,
}

pub(crate) fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("tether")
        .join("git")
}

/// Runs `tether render --repo …`.
pub fn run(args: &RenderArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let git = &args.git;
    let Some(url) = git.repo.as_deref() else {
        bail!("missing `--repo URL`");
    };
    if let Some(dir) = &args.dir {
        bail!(
            "`--repo` renders from Git: drop the directory `{}`\nhint: `--path` selects a directory in the repository",
            dir.display()
        );
    }
    let mut source = Source::new(url);
    match (&git.username, &git.password) {
        (None, None) => {}
        (user, Some(password)) => {
            source = source.with_credentials(Credentials::basic(
                user.clone().unwrap_or_default(),
                password.clone(),
            ));
        }
        (Some(_), None) => bail!("`--username` needs `--password` (or TETHER_GIT_PASSWORD)"),
    }
    let revision = git.revision.as_deref().unwrap_or("HEAD");
    let path = git.path.as_deref().unwrap_or(".");
    let dir = git.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let cache =
        RepoCache::new(&dir).with_context(|| format!("repository cache {}", dir.display()))?;
    let commit = cache.resolve(&source, revision)?;
    let checkout = cache.checkout(&source, &commit)?;
    let bad_links = checkout.out_of_bounds_symlinks();
    if !bad_links.is_empty() {
        let list: Vec<String> = bad_links
            .iter()
            .map(|p| format!("`{}`", p.display()))
            .collect();
        bail!(
            "repository `{}` at `{revision}` ({commit}): symlinks leave the repository: {}\nhint: Argo CD refuses such repositories too",
            source.url(),
            list.join(", ")
        );
    }
    let app_dir = checkout.resolve(path)?;
    if !app_dir.is_dir() {
        bail!(
            "repository `{}` at `{revision}` ({commit}): path `{path}` {}",
            source.url(),
            if app_dir.exists() {
                "is not a directory"
            } else {
                "does not exist"
            }
        );
    }
    let command = match tether_render::detect(&app_dir, !git.no_jsonnet) {
        SourceType::Helm => {
            let mut h = HelmArgs::for_chart(app_dir);
            for v in &git.values {
                // Values files are read through the checkout: they may not leave the repository.
                h.values.push(checkout.resolve(Path::new(path).join(v))?);
            }
            h.set = git.set.clone();
            h.set_string = git.set_string.clone();
            h.set_json = git.set_json.clone();
            if let Some(r) = &git.release_name {
                h.release_name = r.clone();
            }
            if let Some(n) = &git.namespace {
                h.namespace = n.clone();
            }
            h.kube_version = git.kube_version.clone();
            h.api_versions = git.api_versions.clone();
            h.include_crds = git.include_crds;
            h.skip_crds = git.skip_crds;
            h.no_hooks = git.no_hooks;
            h.skip_tests = git.skip_tests;
            RenderCommand::Helm(h)
        }
        SourceType::Kustomize => RenderCommand::Kustomize(KustomizeArgs {
            dir: app_dir,
            load_restrictor: git.load_restrictor.unwrap_or_default(),
            enable_helm: git.enable_helm,
        }),
        SourceType::Jsonnet | SourceType::Directory => RenderCommand::Directory(DirectoryArgs {
            dir: app_dir,
            recurse: git.recurse,
            include: git.include.clone(),
            exclude: git.exclude.clone(),
            ext_str: git.ext_str.clone(),
            ext_code: git.ext_code.clone(),
            tla_str: git.tla_str.clone(),
            tla_code: git.tla_code.clone(),
            libs: git.libs.clone(),
            no_jsonnet: git.no_jsonnet,
            repo_root: Some(checkout.root().to_path_buf()),
        }),
    };
    super::render::run(
        RenderArgs {
            command: Some(command),
            dir: None,
            output: args.output,
            git: GitSourceArgs::default(),
        },
        out,
    )
    .with_context(|| {
        format!(
            "rendering `{path}` of `{}` at `{revision}` ({commit})",
            source.url()
        )
    })
}
