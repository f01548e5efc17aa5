//! `tether run`: the GitOps controller in one process.
//!
//! ```text
//! tether run [--namespace argocd] [--listen 127.0.0.1:8080] [--app-resync 120s] [--kubeconfig P]
//! tether run --apps DIR
//! tether run --apps-repo URL --apps-path P
//! tether run … [--webhook-secrets FILE] [--kustomize-build-options '--enable-helm']
//! ```
//!
//! Cluster mode (no `--apps*` flag): Application and AppProject resources (`argoproj.io/v1alpha1`,
//! CRDs from `tether crds`) in `--namespace`; status, `operation`, the refresh annotation and the
//! resources finalizer are handled on the resources as Argo CD does. File mode (`--apps`,
//! `--apps-repo`): Applications and AppProjects are read from YAML files; status, history and
//! the audit log go to `<data-dir>/tether.redb`. In both modes the CLI (`tether app …`) talks to
//! the HTTP API on `--listen`; the audit log is kept in `<data-dir>/tether.redb`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use tether_controller::Settings;
use tether_controller::run::{AppsFrom, RunOptions};

/// `tether run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Namespace of Argo CD's objects (Applications, AppProjects, argocd-cm).
    #[arg(long, default_value = "argocd")]
    pub namespace: String,
    /// File mode: a directory of Application and AppProject YAML files.
    #[arg(long, conflicts_with_all = ["apps_repo", "apps_path"])]
    pub apps: Option<PathBuf>,
    /// File mode: a Git repository holding the Application files…
    #[arg(long, requires = "apps_path")]
    pub apps_repo: Option<String>,
    /// …at this path.
    #[arg(long, requires = "apps_repo")]
    pub apps_path: Option<String>,
    /// HTTP address: API, /healthz, /readyz, /api/webhook.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Periodic refresh of each app (a random jitter of up to half of it, at most 60 s, is added).
    #[arg(long, default_value = "120s", value_parser = duration)]
    pub app_resync: Duration,
    /// Apps compared in parallel.
    #[arg(long, default_value_t = 20)]
    pub status_processors: usize,
    /// Sync operations in parallel.
    #[arg(long, default_value_t = 10)]
    pub operation_processors: usize,
    /// Kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Store and Git cache (default: $XDG_STATE_HOME/tether or ~/.local/state/tether).
    #[arg(long, env = "TETHER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// How often the Application files are read again.
    #[arg(long, default_value = "3s", value_parser = duration)]
    pub reload: Duration,
    /// Webhook secrets: a YAML map of `argocd-secret`'s keys (`webhook.github.secret`,
    /// `webhook.gitlab.secret`, `webhook.bitbucket.uuid`, `webhook.bitbucketserver.secret`,
    /// `webhook.gogs.secret`, `webhook.azuredevops.username`, `webhook.azuredevops.password`,
    /// `webhook.generic.secret`) or an `argocd-secret` manifest.
    /// Default: cluster mode reads `argocd-secret` in --namespace; file mode has none.
    #[arg(long, env = "TETHER_WEBHOOK_SECRETS")]
    pub webhook_secrets: Option<PathBuf>,
    /// argocd-cm's `kustomize.buildOptions` (`--enable-helm`, `--load-restrictor
    /// LoadRestrictionsNone`). Default: cluster mode reads `argocd-cm` in --namespace; file mode
    /// builds without options.
    #[arg(long, allow_hyphen_values = true)]
    pub kustomize_build_options: Option<String>,
}

fn duration(s: &str) -> Result<Duration, String> {
    tether_model::duration::parse_argo_duration(s).map_err(|e| e.to_string())
}

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tether");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/state/tether")
}

/// Runs `tether run` until SIGINT/SIGTERM.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let apps = match (&args.apps, &args.apps_repo, &args.apps_path) {
        (Some(dir), _, _) => AppsFrom::Dir(dir.clone()),
        (None, Some(url), Some(path)) => AppsFrom::Repo {
            url: url.clone(),
            path: path.clone(),
        },
        (None, None, None) => AppsFrom::Cluster,
        _ => bail!("`--apps-repo` and `--apps-path` go together"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TETHER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let webhook_secrets = args
        .webhook_secrets
        .as_deref()
        .map(tether_controller::settings::read_webhook_secrets)
        .transpose()?;
    let kustomize_build_options = args
        .kustomize_build_options
        .as_deref()
        .map(tether_controller::settings::KustomizeBuildOptions::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--kustomize-build-options: {e}"))?;
    let settings = Settings {
        control_namespace: args.namespace.clone(),
        app_resync: args.app_resync,
        resync_jitter: (args.app_resync / 2).min(Duration::from_secs(60)),
        status_processors: args.status_processors,
        operation_processors: args.operation_processors,
        ..Settings::default()
    };
    let opts = RunOptions {
        apps,
        listen: args.listen,
        settings,
        data_dir: args.data_dir.clone().unwrap_or_else(data_dir),
        kubeconfig: args.kubeconfig.clone(),
        reload: args.reload,
        webhook_secrets,
        kustomize_build_options,
    };
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    rt.block_on(tether_controller::run::run(opts))?;
    Ok(ExitCode::SUCCESS)
}
