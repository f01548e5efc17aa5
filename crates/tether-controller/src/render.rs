//! Rendering an Application's Git sources: fetch and resolve with tether-git's [`RepoCache`],
//! check out the commit read-only, detect the source type as Argo CD does and render it
//! (plain directory and Jsonnet, Kustomize with `source.kustomize`, Helm charts with
//! `source.helm` through tether-helm).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tether_git::{RepoCache, Source};
use tether_model::Application;
use tether_model::source::ApplicationSource;
use tether_render::{DirectorySettings, JsonnetVar, SourceType};

use crate::backend::{Rendered, Renderer};

/// Renders from Git through a shared repository cache.
#[derive(Clone)]
pub struct GitRenderer {
    cache: Arc<RepoCache>,
    kustomize: Option<crate::settings::SharedKustomizeOptions>,
    /// The threads that render (see [`RenderPool`]).
    pool: Arc<RenderPool>,
    /// Revisions being resolved, by repository URL and revision: a caller asking for one that
    /// is in flight waits for that result (as tether-git shares a fetch among the callers
    /// waiting for it) instead of holding a blocking-pool thread of its own.
    resolving: Arc<std::sync::Mutex<HashMap<(String, String), Resolving>>>,
}

type Resolving = Arc<tokio::sync::OnceCell<Result<String, String>>>;

/// Render threads: the CPUs, at least 2.
fn render_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

type Job = Box<dyn FnOnce() + Send>;

/// A few threads of their own for rendering (checkout, YAML, Kustomize, Helm). On tokio's
/// blocking pool the 30 status and operation processors of a cold start made the pool grow to
/// 30 threads, every one of which rendered at some point; glibc gives each thread a malloc
/// arena and an arena keeps what was freed in it (about 7 MiB each, measured with 500 apps). The
/// Git fetches before rendering stay on the blocking pool, one per repository and revision in
/// flight ([`GitRenderer::resolve`]).
struct RenderPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl RenderPool {
    fn new(threads: usize) -> Self {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tether-render-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            // The renderer is gone.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("starting a render thread: {e}");
            }
        }
        Self { jobs }
    }

    /// Runs `f` on a render thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // A panic drops `tx` (the caller's error below) and keeps the thread.
                if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                    let _ = tx.send(v);
                }
            }))
            .map_err(|_| "render task failed: no render thread".to_owned())?;
        rx.await
            .map_err(|_| "render task failed: the render panicked".to_owned())
    }
}

impl GitRenderer {
    pub fn new(cache: Arc<RepoCache>) -> Self {
        Self {
            cache,
            kustomize: None,
            pool: Arc::new(RenderPool::new(render_threads())),
            resolving: Arc::default(),
        }
    }

    /// Kustomize sources are built with these options (`kustomize.buildOptions`), read at
    /// each render.
    pub fn with_kustomize_options(mut self, o: crate::settings::SharedKustomizeOptions) -> Self {
        self.kustomize = Some(o);
        self
    }

    /// Resolves a revision on the blocking pool, sharing a resolution in flight.
    async fn resolve(&self, url: &str, rev: &str) -> Result<String, String> {
        let key = (url.to_owned(), rev.to_owned());
        let lock = || {
            self.resolving
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let cell = lock().entry(key.clone()).or_default().clone();
        let result = cell
            .get_or_init(|| {
                let cache = self.cache.clone();
                let (url, rev) = key.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        cache
                            .resolve(&Source::new(&url), &rev)
                            .map_err(|e| e.to_string())
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("render task failed: {e}")))
                }
            })
            .await
            .clone();
        // The next caller resolves afresh.
        let mut m = lock();
        if m.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            m.remove(&key);
        }
        result
    }

    /// Resolves and renders one source (blocking).
    pub fn render_source(
        cache: &Arc<RepoCache>,
        source: &ApplicationSource,
        revision: Option<&str>,
        ctx: &AppContext,
    ) -> Result<(Vec<Value>, String, String), String> {
        if source.chart.is_some() {
            return Err(format!(
                "`{}`: Helm repository sources are not supported yet",
                source.repo_url
            ));
        }
        let git = Source::new(&source.repo_url);
        let rev = revision
            .or(source.target_revision.as_deref())
            .filter(|r| !r.is_empty())
            .unwrap_or("HEAD");
        let commit = cache.resolve(&git, rev).map_err(|e| e.to_string())?;
        let checkout = cache.checkout(&git, &commit).map_err(|e| e.to_string())?;
        let rel = source.path.as_deref().unwrap_or(".");
        let rel = if rel.is_empty() { "." } else { rel };
        let dir = checkout.resolve(rel).map_err(|e| e.to_string())?;
        if !dir.is_dir() {
            return Err(format!(
                "{rel}: app path does not exist (revision {commit})"
            ));
        }
        let (objects, kind) = render_dir(&dir, checkout.root(), source, ctx, Some(cache))?;
        Ok((objects, commit, kind))
    }
}

fn vars(v: &[tether_model::source::JsonnetVar]) -> Vec<JsonnetVar> {
    v.iter()
        .map(|v| JsonnetVar {
            name: v.name.clone(),
            value: v.value.clone(),
            code: v.code.unwrap_or(false),
        })
        .collect()
}

/// What a renderer needs to know about the Application (Helm's release name and namespace).
#[derive(Debug, Clone)]
pub struct AppContext {
    pub name: String,
    pub namespace: String,
    /// `kustomize.buildOptions`, or why they could not be read (kustomize sources fail then).
    pub kustomize: Result<crate::settings::KustomizeBuildOptions, String>,
}

impl Default for AppContext {
    fn default() -> Self {
        Self {
            name: String::new(),
            namespace: String::new(),
            kustomize: Ok(Default::default()),
        }
    }
}

fn helm(
    dir: &Path,
    root: &Path,
    source: &ApplicationSource,
    ctx: &AppContext,
    cache: Option<&Arc<RepoCache>>,
) -> Result<Vec<tether_render::Object>, String> {
    let h = source.helm.clone().unwrap_or_default();
    let mut user = tether_helm::UserValues::default();
    let root_canon = root.canonicalize().map_err(|e| e.to_string())?;
    for f in &h.value_files {
        if f.starts_with('$') {
            return Err(format!(
                "value file `{f}`: `$ref` sources are not supported yet"
            ));
        }
        let path = dir.join(f);
        let inside = path
            .canonicalize()
            .ok()
            .filter(|p| p.starts_with(&root_canon));
        match inside {
            Some(p) => {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("value file `{f}`: {e}"))?;
                user.files.push((f.clone(), text));
            }
            None if h.ignore_missing_value_files == Some(true) => {}
            None => return Err(format!("value file `{f}` does not exist in the repository")),
        }
    }
    if let Some(obj) = &h.values_object {
        let text = serde_yaml::to_string(obj).map_err(|e| e.to_string())?;
        user.files.push(("values".into(), text));
    } else if let Some(v) = h.values.as_ref().filter(|v| !v.trim().is_empty()) {
        user.files.push(("values".into(), v.clone()));
    }
    for p in &h.parameters {
        let expr = format!(
            "{}={}",
            p.name.as_deref().unwrap_or(""),
            p.value.as_deref().unwrap_or("")
        );
        if p.force_string == Some(true) {
            user.set_string.push(expr);
        } else {
            user.set.push(expr);
        }
    }
    let opts = tether_helm::RenderOptions {
        release_name: h
            .release_name
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| ctx.name.clone()),
        namespace: h
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ctx.namespace.clone()),
        kube_version: h.kube_version.clone(),
        api_versions: h.api_versions.clone(),
        include_crds: h.skip_crds != Some(true),
        skip_tests: h.skip_tests == Some(true),
        skip_schema_validation: h.skip_schema_validation == Some(true),
        ..Default::default()
    };
    // Missing dependencies are fetched as the repo-server's `helm dependency build` does
    // (Chart.lock's versions and digests), into a chart cache next to the Git cache.
    let fetcher = cache.map(|c| {
        let charts = c.root().with_file_name("helm-charts");
        tether_chartrepo::helm::HelmFetcher::new(charts).with_chart_dir(dir)
    });
    let renderer = tether_helm::argo::load(
        dir,
        fetcher
            .as_ref()
            .map(|f| f as &dyn tether_helm::DependencyFetcher),
    )
    .map_err(|e| e.to_string())?;
    let rendered = renderer.render(&user, &opts).map_err(|e| e.to_string())?;
    Ok(rendered
        .documents
        .into_iter()
        .filter_map(|d| d.object)
        .collect())
}

/// Renders a checked-out source directory.
pub fn render_dir(
    dir: &Path,
    root: &Path,
    source: &ApplicationSource,
    ctx: &AppContext,
    cache: Option<&Arc<RepoCache>>,
) -> Result<(Vec<Value>, String), String> {
    let ty = if source.helm.is_some() && dir.join("Chart.yaml").is_file() {
        SourceType::Helm
    } else if source.kustomize.is_some() && dir.join("kustomization.yaml").is_file() {
        SourceType::Kustomize
    } else if source.directory.is_some() {
        SourceType::Directory
    } else {
        tether_render::detect(dir, true)
    };
    let objs = match ty {
        SourceType::Helm => helm(dir, root, source, ctx, cache)?,
        SourceType::Kustomize => {
            // Remote bases and components (`https://host/org/repo//path?ref=v1`) are fetched
            // through the same repository cache as the app's own source, as Argo CD's
            // repo-server lets kustomize clone them.
            let build = ctx.kustomize.as_ref().map_err(String::clone)?;
            let opts = tether_kustomize::BuildOptions {
                enable_helm: build.enable_helm,
                load_restrictor: if build.load_restrictor_none {
                    tether_kustomize::LoadRestrictor::None
                } else {
                    tether_kustomize::LoadRestrictor::RootOnly
                },
                remote: cache.map(|c| {
                    Arc::new(tether_render::GitRemoteLoader::new(c.clone()))
                        as Arc<dyn tether_kustomize::RemoteLoader>
                }),
                // Only used when Helm inflation is enabled; charts go to the same chart
                // cache as Helm sources' dependencies.
                charts: cache.map(|c| {
                    Arc::new(tether_render::HelmChartPuller::new(
                        tether_chartrepo::helm::HelmFetcher::new(
                            c.root().with_file_name("helm-charts"),
                        ),
                    )) as Arc<dyn tether_kustomize::ChartPuller>
                }),
            };
            let k = source.kustomize.clone().unwrap_or_default();
            tether_kustomize::argocd::build_argocd(&tether_kustomize::RealFs, dir, &opts, &k)
                .map_err(|e| e.to_string())?
        }
        SourceType::Jsonnet | SourceType::Directory => {
            let d = source.directory.clone().unwrap_or_default();
            let j = d.jsonnet.clone().unwrap_or_default();
            let mut settings = DirectorySettings {
                recurse: d.recurse.unwrap_or(false),
                include: d.include.clone(),
                exclude: d.exclude.clone(),
                ..Default::default()
            };
            settings.jsonnet.ext_vars = vars(&j.ext_vars);
            settings.jsonnet.tlas = vars(&j.tlas);
            settings.jsonnet.libs = j.libs.clone();
            tether_render::render_directory(dir, &settings, root, true)
                .map_err(|e| e.to_string())?
        }
    };
    let objs = tether_render::expand_lists(objs.into_iter().collect());
    Ok((
        objs.into_iter().map(Value::Object).collect(),
        ty.to_string(),
    ))
}

#[async_trait]
impl Renderer for GitRenderer {
    async fn render(
        &self,
        app: &Application,
        revisions: Option<&[String]>,
        _hard: bool,
    ) -> Result<Rendered, String> {
        let sources: Vec<ApplicationSource> =
            app.spec.effective_sources().into_iter().cloned().collect();
        if sources.is_empty() {
            return Err("spec.source or spec.sources is required".to_owned());
        }
        let revisions = revisions.map(<[String]>::to_vec);
        let cache = self.cache.clone();
        let ctx = AppContext {
            name: app.metadata.name.clone().unwrap_or_default(),
            namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
            kustomize: self.kustomize.as_ref().map_or(Ok(Default::default()), |k| {
                k.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            }),
        };
        // First the Git side: each source's revision resolved (fetching), in order, up to the
        // first failure (which the render below meets again and reports where it always did).
        let mut resolved: Vec<String> = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            let rev = revisions
                .as_ref()
                .and_then(|r| r.get(i))
                .map(String::as_str);
            let rev = if s.ref_.is_some() && s.path.is_none() {
                rev.or(s.target_revision.as_deref()).unwrap_or("HEAD")
            } else if s.chart.is_some() {
                break;
            } else {
                rev.or(s.target_revision.as_deref())
                    .filter(|r| !r.is_empty())
                    .unwrap_or("HEAD")
            };
            match self.resolve(&s.repo_url, rev).await {
                Ok(commit) => resolved.push(commit),
                Err(_) => break,
            }
        }
        // Then the render at those commits (a full SHA resolves without network access).
        self.pool
            .run(move || {
                let mut out = Rendered::default();
                for (i, s) in sources.iter().enumerate() {
                    let rev = resolved.get(i).map(String::as_str).or_else(|| {
                        revisions
                            .as_ref()
                            .and_then(|r| r.get(i))
                            .map(String::as_str)
                    });
                    if s.ref_.is_some() && s.path.is_none() {
                        // A `ref` source only provides files to others.
                        let git = Source::new(&s.repo_url);
                        let commit = cache
                            .resolve(&git, rev.or(s.target_revision.as_deref()).unwrap_or("HEAD"))
                            .map_err(|e| e.to_string())?;
                        out.revisions.push(commit);
                        out.source_types.push(String::new());
                        continue;
                    }
                    let (objs, commit, ty) = Self::render_source(&cache, s, rev, &ctx)?;
                    out.objects.extend(objs);
                    out.revisions.push(commit);
                    out.source_types.push(ty);
                }
                Ok(out)
            })
            .await?
    }
}
