//! `tether run`: one process hosting the controller, the Git poller, the webhook endpoint and the
//! HTTP API, until SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tether_git::{RepoCache, Source};
use tether_source::poller::{Poller, PollerConfig, WatchedRepo};
use tokio::sync::mpsc;

use crate::backend::AppWriter;
use crate::controller::{Controller, Declaration, Settings};
use crate::files::{Declared, load_dir};
use crate::kube_apps::KubeApps;
use crate::kube_cluster::KubeCluster;
use crate::render::GitRenderer;
use crate::store::Store;

/// Where Applications come from.
#[derive(Debug, Clone)]
pub enum AppsFrom {
    /// A local directory, re-read every `reload` interval.
    Dir(PathBuf),
    /// A path in a Git repository (its default branch).
    Repo { url: String, path: String },
    /// Cluster mode: Application and AppProject resources in the control namespace; status
    /// written to the resources.
    Cluster,
}

/// `tether run`'s options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub apps: AppsFrom,
    pub listen: SocketAddr,
    pub settings: Settings,
    /// Store and Git cache live here.
    pub data_dir: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    /// How often declarations are re-read (file and repo mode).
    pub reload: Duration,
    /// Webhook secrets (`--webhook-secrets FILE`); `None`: cluster mode follows
    /// `argocd-secret`, file mode has none.
    pub webhook_secrets: Option<tether_source::WebhookSecrets>,
    /// `kustomize.buildOptions` (`--kustomize-build-options`); `None`: cluster mode follows
    /// `argocd-cm`, file mode builds without options.
    pub kustomize_build_options: Option<crate::settings::KustomizeBuildOptions>,
}

async fn client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .with_context(|| format!("reading kubeconfig `{}`", p.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .context("kubeconfig")?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig found (KUBECONFIG, ~/.kube/config, in-cluster)")?,
    };
    kube::Client::try_from(config).context("kube client")
}

fn declarations(d: Declared) -> (Vec<Declaration>, BTreeMap<String, tether_model::AppProject>) {
    for e in &d.errors {
        tracing::warn!("declarations: {e}");
    }
    let apps = d
        .apps
        .into_values()
        .map(|a| Declaration {
            app: a.app,
            origin: a.origin,
            invalid: a.invalid,
        })
        .collect();
    (apps, d.projects)
}

fn load(apps: &AppsFrom, cache: &RepoCache) -> Result<Declared, String> {
    match apps {
        AppsFrom::Dir(dir) => {
            if !dir.is_dir() {
                return Err(format!("`{}` is not a directory", dir.display()));
            }
            Ok(load_dir(dir))
        }
        AppsFrom::Repo { url, path } => {
            let source = Source::new(url);
            let commit = cache.resolve(&source, "HEAD").map_err(|e| e.to_string())?;
            let checkout = cache
                .checkout(&source, &commit)
                .map_err(|e| e.to_string())?;
            let dir = checkout.resolve(path).map_err(|e| e.to_string())?;
            Ok(load_dir(&dir))
        }
        AppsFrom::Cluster => Err("cluster mode has no declaration files".into()),
    }
}

/// Runs until SIGINT/SIGTERM. Prints the listening address on stderr once ready.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating `{}`", opts.data_dir.display()))?;
    let store = Arc::new(Store::open(&opts.data_dir.join("tether.redb"))?);
    let cache = Arc::new(RepoCache::new(opts.data_dir.join("git"))?);
    let client = client(opts.kubeconfig.as_ref()).await?;
    let cluster = KubeCluster::start(
        client.clone(),
        &opts.settings.control_namespace,
        Duration::from_secs(60),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cluster: {e}"))?;
    let namespace = opts.settings.control_namespace.clone();
    let writer: Arc<dyn AppWriter> = match opts.apps {
        AppsFrom::Cluster => Arc::new(KubeApps::new(client.clone(), &namespace, Some(store)).await),
        _ => store,
    };
    let cluster_mode = matches!(opts.apps, AppsFrom::Cluster);
    let kustomize: crate::settings::SharedKustomizeOptions =
        Arc::new(std::sync::RwLock::new(Ok(opts
            .kustomize_build_options
            .clone()
            .unwrap_or_default())));
    if cluster_mode && opts.kustomize_build_options.is_none() {
        tokio::spawn(crate::settings::follow_argocd_cm(
            client.clone(),
            namespace.clone(),
            kustomize.clone(),
        ));
    }
    let hook_config: tether_source::SharedWebhookConfig =
        Arc::new(std::sync::RwLock::new(tether_source::WebhookConfig {
            secrets: opts.webhook_secrets.clone().unwrap_or_default(),
            ..Default::default()
        }));
    if cluster_mode && opts.webhook_secrets.is_none() {
        tokio::spawn(crate::settings::follow_argocd_secret(
            client.clone(),
            namespace.clone(),
            hook_config.clone(),
        ));
    }
    let controller = Controller::new(
        opts.settings.clone(),
        Arc::new(GitRenderer::new(cache.clone()).with_kustomize_options(kustomize.clone())),
        cluster,
        Some(writer),
    );
    let workers = controller.start();
    let ready = Arc::new(AtomicBool::new(false));

    // Webhooks → refresh.
    let (hook_tx, mut hook_rx) = mpsc::channel::<tether_source::WebhookEvent>(256);
    let lister_ctl = controller.clone();
    let lister: tether_source::AppLister = Arc::new(move || lister_ctl.apps());
    let spec_writer: Arc<dyn crate::edit::SpecWriter> = match &opts.apps {
        AppsFrom::Cluster => Arc::new(crate::edit::KubeSpecWriter::new(client.clone(), &namespace)),
        AppsFrom::Dir(dir) => Arc::new(crate::edit::FileSpecWriter { dir: dir.clone() }),
        AppsFrom::Repo { url, path } => Arc::new(crate::edit::RepoSpecWriter {
            url: url.clone(),
            path: path.clone(),
        }),
    };
    let app_router = crate::api::router(controller.clone(), ready.clone())
        .merge(crate::edit::router(controller.clone(), spec_writer))
        .merge(crate::settings::router(kustomize))
        .merge(tether_source::router_shared(hook_config, lister, hook_tx));
    let c = controller.clone();
    tokio::spawn(async move {
        while let Some(ev) = hook_rx.recv().await {
            for r in ev.result.refresh {
                let _ = c.refresh(&r.name, r.hard);
            }
        }
    });

    // Git polling → refresh the apps on a moved repository.
    let poller = Arc::new(Poller::new(
        cache.clone(),
        PollerConfig {
            interval: opts.settings.app_resync,
            jitter: opts
                .settings
                .resync_jitter
                .min(opts.settings.app_resync / 2),
            ..Default::default()
        },
    ));
    let (poll_tx, mut poll_rx) = mpsc::channel(256);
    tokio::spawn(poller.clone().run(poll_tx));
    let c = controller.clone();
    tokio::spawn(async move {
        while let Some(ev) = poll_rx.recv().await {
            for app in c.apps() {
                let on_repo = app
                    .spec
                    .effective_sources()
                    .iter()
                    .any(|s| tether_git::url::normalize_url(&s.repo_url) == ev.repo);
                if on_repo && let Some(n) = &app.metadata.name {
                    let _ = c.refresh(n, false);
                }
            }
        }
    });

    if let AppsFrom::Cluster = opts.apps {
        // Cluster mode: the watches feed the controller; the poller follows the apps' repos.
        tokio::spawn(crate::kube_apps::feed(
            controller.clone(),
            client.clone(),
            namespace.clone(),
            ready.clone(),
        ));
        let c = controller.clone();
        let poll = poller.clone();
        tokio::spawn(async move {
            let mut watched = BTreeMap::new();
            loop {
                let apps = c.apps();
                watch_repos(&poll, &mut watched, apps.iter());
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    } else {
        spawn_file_declarations(
            &opts,
            controller.clone(),
            cache.clone(),
            poller.clone(),
            ready.clone(),
        );
    }

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("tether run: listening on http://{addr} (API /api/v1, webhooks /api/webhook)");
    let server = axum::serve(listener, app_router).with_graceful_shutdown(shutdown_signal());
    server.await.context("HTTP server")?;
    eprintln!("tether run: shutting down");
    controller.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(workers)).await;
    Ok(())
}

/// Points the poller at every repository (and revision) the apps follow.
fn watch_repos<'a>(
    poll: &Poller,
    watched: &mut BTreeMap<String, Vec<String>>,
    apps: impl Iterator<Item = &'a tether_model::Application>,
) {
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in apps {
        for s in a.spec.effective_sources() {
            want.entry(s.repo_url.clone())
                .or_default()
                .push(s.target_revision.clone().unwrap_or_else(|| "HEAD".into()));
        }
    }
    for (url, revs) in &want {
        if watched.get(url) != Some(revs) {
            poll.watch(WatchedRepo::new(url, revs.clone()));
        }
    }
    for url in watched.keys() {
        if !want.contains_key(url) {
            poll.unwatch(url);
        }
    }
    *watched = want;
}

/// A hash of the declarations (of their `Debug` text, streamed into the hasher).
fn fingerprint(d: &Declared) -> u64 {
    use std::fmt::Write as _;
    use std::hash::Hasher as _;
    struct H(std::hash::DefaultHasher);
    impl std::fmt::Write for H {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut h = H(std::hash::DefaultHasher::new());
    let _ = write!(h, "{d:?}");
    h.0.finish()
}

/// File mode: load the declarations now, then re-read them every `reload`.
fn spawn_file_declarations(
    opts: &RunOptions,
    c: Controller,
    load_cache: Arc<RepoCache>,
    poll: Arc<Poller>,
    ready_flag: Arc<AtomicBool>,
) {
    let apps_from = opts.apps.clone();
    let reload = opts.reload;
    tokio::spawn(async move {
        // What was declared last, as a hash of the declarations (keeping them would hold a
        // second copy of every Application).
        let mut last: Option<u64> = None;
        let mut watched: BTreeMap<String, Vec<String>> = BTreeMap::new();
        loop {
            let from = apps_from.clone();
            let cache = load_cache.clone();
            let loaded = tokio::task::spawn_blocking(move || load(&from, &cache)).await;
            match loaded {
                Ok(Ok(d)) => {
                    let hash = fingerprint(&d);
                    if last != Some(hash) {
                        watch_repos(&poll, &mut watched, d.apps.values().map(|a| &a.app));
                        let (apps, projects) = declarations(d);
                        c.declare(apps, projects);
                        last = Some(hash);
                    }
                    ready_flag.store(true, Ordering::SeqCst);
                }
                Ok(Err(e)) => tracing::warn!("loading Applications: {e}"),
                Err(e) => tracing::warn!("loading Applications: {e}"),
            }
            tokio::time::sleep(reload).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
