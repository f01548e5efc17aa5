//! `tether render helm CHART`: renders a chart in-process like `helm template` (tether-helm).
//!
//! ```text
//! tether render helm CHART [-f VALUES]... [--set K=V]... [--set-string K=V]... [--set-json K=JSON]...
//!     [--set-file K=PATH]... [--set-literal K=V]... [--release-name NAME] [--namespace NS]
//!     [--kube-version V] [--api-versions G/V]... [--include-crds] [--skip-crds] [--no-hooks]
//!     [--skip-tests] [--skip-schema-validation] [--output yaml|json]
//!     [--dependency-update] [--repo URL [--version C]]
//! ```
//!
//! CHART is a directory, a `.tgz`, an `http(s)://…/chart.tgz` URL, or with `--repo` a chart name in
//! that HTTP chart repository (`--version` a Masterminds constraint, default the newest release).
//! As `helm template`, missing dependencies are an error unless `--dependency-update`, which resolves
//! them like `helm dependency update` (Chart.yaml's constraints; Chart.lock is not consulted) in
//! memory: nothing is written to the chart directory. `@name` repositories come from Helm's
//! `repositories.yaml` (`$HELM_REPOSITORY_CONFIG`, else `$HELM_CONFIG_HOME`, else `~/.config/helm`).
//! Archives are cached under `$TETHER_CACHE_DIR/charts` (default `~/.cache/tether/charts`).

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

use super::render::OutputFormat;

/// `tether render helm`.
#[derive(Debug, Clone, clap::Args)]
// `--version` is the chart version, as in `helm template`.
#[command(disable_version_flag = true)]
pub struct HelmArgs {
    /// Chart directory, `.tgz` archive, `http(s)://` archive URL, or chart name with `--repo`.
    pub chart: PathBuf,
    /// Chart repository URL where CHART is looked up (`helm template --repo`).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// Version constraint for `--repo` (default: the newest release).
    #[arg(long = "version", id = "chart_version", value_name = "C")]
    pub chart_version: Option<String>,
    /// Fetch dependencies missing from `charts/` first (`helm dependency update`, in memory).
    #[arg(long)]
    pub dependency_update: bool,
    /// Values file (YAML); later files win.
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Set a value (`a.b=c`, `a[0]=x`, `a={x,y}`); integers become int64.
    #[arg(long = "set", value_name = "K=V")]
    pub set: Vec<String>,
    /// Set a value as a string.
    #[arg(long = "set-string", value_name = "K=V")]
    pub set_string: Vec<String>,
    /// Set a value from JSON (`a={"b":1}` or a JSON object).
    #[arg(long = "set-json", value_name = "K=JSON")]
    pub set_json: Vec<String>,
    /// Set a value to the content of a file.
    #[arg(long = "set-file", value_name = "K=PATH")]
    pub set_file: Vec<String>,
    /// Set a literal string value (no escapes, no commas splitting).
    #[arg(long = "set-literal", value_name = "K=V")]
    pub set_literal: Vec<String>,
    /// Release name (default as `helm template`: `release-name`).
    #[arg(long, default_value = "release-name")]
    pub release_name: String,
    /// Release namespace.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Kubernetes version for `.Capabilities` and `kubeVersion` checks (default v1.32.0).
    #[arg(long)]
    pub kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions`.
    #[arg(long = "api-versions", short = 'a', value_name = "G/V")]
    pub api_versions: Vec<String>,
    /// Print the charts' `crds/` first.
    #[arg(long)]
    pub include_crds: bool,
    /// Do not print CRDs (`helm template` prints them only with `--include-crds`).
    #[arg(long)]
    pub skip_crds: bool,
    /// Do not print hooks.
    #[arg(long)]
    pub no_hooks: bool,
    /// Do not print test hooks.
    #[arg(long)]
    pub skip_tests: bool,
    /// Do not validate values against `values.schema.json`.
    #[arg(long)]
    pub skip_schema_validation: bool,
}

impl HelmArgs {
    /// Arguments for a chart directory with every default.
    pub fn for_chart(chart: PathBuf) -> HelmArgs {
        HelmArgs {
            chart,
            repo: None,
            chart_version: None,
            dependency_update: false,
            values: Vec::new(),
            set: Vec::new(),
            set_string: Vec::new(),
            set_json: Vec::new(),
            set_file: Vec::new(),
            set_literal: Vec::new(),
            release_name: "release-name".into(),
            namespace: "default".into(),
            kube_version: None,
            api_versions: Vec::new(),
            include_crds: false,
            skip_crds: false,
            no_hooks: false,
            skip_tests: false,
            skip_schema_validation: false,
        }
    }
}

/// Renders and writes the result; nothing is written on error.
pub fn run(a: &HelmArgs, fmt: OutputFormat, out: &mut impl Write) -> anyhow::Result<()> {
    let mut user = tether_helm::UserValues::default();
    for f in &a.values {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {}", f.display()))?;
        user.files.push((f.display().to_string(), text));
    }
    user.set = a.set.clone();
    user.set_string = a.set_string.clone();
    user.set_json = a.set_json.clone();
    user.set_file = a.set_file.clone();
    user.set_literal = a.set_literal.clone();
    let opts = tether_helm::RenderOptions {
        release_name: a.release_name.clone(),
        namespace: a.namespace.clone(),
        kube_version: a.kube_version.clone(),
        api_versions: a.api_versions.clone(),
        include_crds: a.include_crds,
        skip_crds: a.skip_crds,
        no_hooks: a.no_hooks,
        skip_tests: a.skip_tests,
        skip_schema_validation: a.skip_schema_validation,
    };
    let renderer = tether_helm::Renderer::new(load_chart(a)?);
    let text = match fmt {
        // Only the text, written document by document: the documents are checked but not
        // converted to objects.
        OutputFormat::Yaml => {
            let mut w = std::io::BufWriter::new(out);
            renderer
                .render_output(&user, &opts)?
                .write_to(&mut w)
                .and_then(|()| w.flush())
                .context("writing manifests")?;
            // The process ends next: leave the chart and its parsed templates to the OS rather
            // than free them piece by piece.
            std::mem::forget(renderer);
            return Ok(());
        }
        OutputFormat::Json => {
            let r = renderer.render(&user, &opts)?;
            let objs: Vec<serde_json::Map<String, serde_json::Value>> =
                r.documents.into_iter().filter_map(|d| d.object).collect();
            tether_kustomize::to_json(&objs) + "\n"
        }
    };
    out.write_all(text.as_bytes())
        .context("writing manifests")?;
    Ok(())
}

/// Where fetched chart archives are cached.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TETHER_CACHE_DIR") {
        return PathBuf::from(d).join("charts");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("tether").join("charts")
}

/// Helm's `repositories.yaml`, for `@name` / `alias:name` dependencies (a missing file is no
/// repositories, as in Helm).
fn helm_repositories() -> anyhow::Result<Vec<tether_chartrepo::helm::Repository>> {
    let path = match std::env::var_os("HELM_REPOSITORY_CONFIG") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("HELM_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("helm")))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config").join("helm"))
            })
            .unwrap_or_default()
            .join("repositories.yaml"),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
    };
    let file: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let field = |r: &serde_yaml::Value, k: &str| {
        r.get(k)
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let entries = file
        .get("repositories")
        .and_then(serde_yaml::Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    Ok(entries
        .iter()
        .map(|r| tether_chartrepo::helm::Repository {
            name: field(r, "name"),
            url: field(r, "url"),
            credentials: (!field(r, "username").is_empty()).then(|| {
                tether_chartrepo::Credentials {
                    username: field(r, "username"),
                    password: field(r, "password"),
                }
            }),
        })
        .collect())
}

/// Loads CHART (directory, archive, URL or `--repo` name) and, with `--dependency-update`, fills in
/// its missing dependencies.
fn load_chart(a: &HelmArgs) -> anyhow::Result<tether_helm::Chart> {
    let mut fetcher = tether_chartrepo::helm::HelmFetcher::new(cache_dir());
    let name = a.chart.to_string_lossy();
    let mut chart = if let Some(repo) = &a.repo {
        let path = fetcher.pull(repo, &name, a.chart_version.as_deref().unwrap_or(""))?;
        tether_helm::load(&path)?
    } else if name.starts_with("http://") || name.starts_with("https://") {
        tether_helm::load_archive(&fetcher.download(&name)?)?
    } else {
        fetcher = fetcher.with_chart_dir(&a.chart);
        tether_helm::load(&a.chart)?
    };
    if a.dependency_update {
        for r in helm_repositories()? {
            fetcher = fetcher.with_repository(r);
        }
        tether_helm::resolve_dependencies(
            &mut chart,
            Some(&fetcher),
            tether_helm::DependencyMode::Update,
        )?;
    }
    Ok(chart)
}
