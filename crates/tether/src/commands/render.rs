//! `tether render`: render a source directory to Kubernetes manifests in-process, as Argo CD's
//! repo-server would (Helm charts, Kustomize, plain directories and Jsonnet).
//!
//! ```text
//! tether render DIR                         # detect the source type as Argo CD does
//! tether render kustomize DIR [--load-restrictor none] [--enable-helm]
//! tether render directory DIR [--recurse] [--include G] [--exclude G] [--jsonnet-… ]
//! tether render --repo URL --revision REV --path P [source flags]   # from Git: see render_repo
//! tether render … --output yaml|json
//! ```

use anyhow::{Context, bail};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tether_render::{DirectorySettings, JsonnetVar, SourceType};

/// Output format of rendered manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// A YAML stream, documents separated by `---`.
    #[default]
    Yaml,
    /// A JSON `List`.
    Json,
}

/// Which files a kustomization may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LoadRestrictorArg {
    /// Only files in or below each kustomization's directory (kustomize's default).
    #[default]
    #[value(
        name = "rootOnly",
        alias = "LoadRestrictionsRootOnly",
        alias = "root-only"
    )]
    RootOnly,
    /// Any file.
    #[value(name = "none", alias = "LoadRestrictionsNone")]
    None,
}

/// `tether render`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RenderArgs {
    #[command(subcommand)]
    pub command: Option<RenderCommand>,
    /// Source directory; its type is detected as Argo CD does.
    pub dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Yaml, global = true)]
    pub output: OutputFormat,
    /// `--repo URL --revision REV --path P`: render straight from Git (see `render_repo`).
    #[command(flatten)]
    pub git: super::render_repo::GitSourceArgs,
}

/// The source types `tether render` knows.
#[derive(Debug, clap::Subcommand)]
pub enum RenderCommand {
    /// Render a Helm chart like `helm template`.
    Helm(super::render_helm::HelmArgs),
    /// Build a kustomization, like `kubectl kustomize`.
    Kustomize(KustomizeArgs),
    /// Render a plain directory of manifests (and Jsonnet files).
    Directory(DirectoryArgs),
}

/// `tether render kustomize`.
#[derive(Debug, clap::Args)]
pub struct KustomizeArgs {
    /// Directory holding the kustomization.
    pub dir: PathBuf,
    /// Which files kustomizations may read.
    #[arg(long, value_enum, default_value_t = LoadRestrictorArg::RootOnly)]
    pub load_restrictor: LoadRestrictorArg,
    /// Render `helmCharts` with Tether's Helm engine (charts vendored under `chartHome`).
    #[arg(long)]
    pub enable_helm: bool,
}

/// `tether render directory`.
#[derive(Debug, Default, clap::Args)]
pub struct DirectoryArgs {
    /// Source directory.
    pub dir: PathBuf,
    /// Read subdirectories too.
    #[arg(long)]
    pub recurse: bool,
    /// Only files whose path (relative to DIR) matches this glob; `{a,b}` alternation allowed.
    #[arg(long)]
    pub include: Option<String>,
    /// Skip files whose path matches this glob; wins over `--include`.
    #[arg(long)]
    pub exclude: Option<String>,
    /// Jsonnet ext var as a string: NAME=VALUE.
    #[arg(long = "jsonnet-ext-str", value_name = "NAME=VALUE")]
    pub ext_str: Vec<String>,
    /// Jsonnet ext var as code: NAME=CODE.
    #[arg(long = "jsonnet-ext-code", value_name = "NAME=CODE")]
    pub ext_code: Vec<String>,
    /// Jsonnet top-level argument as a string: NAME=VALUE.
    #[arg(long = "jsonnet-tla-str", value_name = "NAME=VALUE")]
    pub tla_str: Vec<String>,
    /// Jsonnet top-level argument as code: NAME=CODE.
    #[arg(long = "jsonnet-tla-code", value_name = "NAME=CODE")]
    pub tla_code: Vec<String>,
    /// Jsonnet library path, relative to the repository root (`--repo-root`).
    #[arg(long = "jsonnet-libs", value_name = "PATH")]
    pub libs: Vec<String>,
    /// Do not evaluate `*.jsonnet` files.
    #[arg(long)]
    pub no_jsonnet: bool,
    /// Repository root: symlinks may not leave it, Jsonnet libraries are relative to it
    /// (default: DIR).
    #[arg(long)]
    pub repo_root: Option<PathBuf>,
}

fn vars(items: &[String], code: bool, flag: &str) -> anyhow::Result<Vec<JsonnetVar>> {
    items
        .iter()
        .map(|i| {
            let (name, value) = i
                .split_once('=')
                .with_context(|| format!("`--{flag} {i}`: expected NAME=VALUE"))?;
            Ok(JsonnetVar {
                name: name.to_string(),
                value: value.to_string(),
                code,
            })
        })
        .collect()
}

fn write_objects(
    out: &mut impl Write,
    objs: &[serde_json::Map<String, serde_json::Value>],
    fmt: OutputFormat,
) -> anyhow::Result<()> {
    let text = match fmt {
        OutputFormat::Yaml => tether_kustomize::to_yaml(objs),
        OutputFormat::Json => tether_kustomize::to_json(objs) + "\n",
    };
    out.write_all(text.as_bytes())
        .context("writing manifests")?;
    Ok(())
}

fn render_kustomize(a: &KustomizeArgs) -> anyhow::Result<tether_kustomize::Objects> {
    let opts = tether_kustomize::BuildOptions {
        load_restrictor: match a.load_restrictor {
            LoadRestrictorArg::RootOnly => tether_kustomize::LoadRestrictor::RootOnly,
            LoadRestrictorArg::None => tether_kustomize::LoadRestrictor::None,
        },
        enable_helm: a.enable_helm,
        // Remote (git) resources and components go through Tether's repository cache, the one
        // `tether render --repo` uses.
        remote: Some(std::sync::Arc::new(tether_render::GitRemoteLoader::at(
            std::env::var_os("TETHER_GIT_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(super::render_repo::default_cache_dir),
        ))),
        // `helmCharts` that are not vendored are pulled into the chart cache `render helm
        // --repo` uses, not into the kustomization's directory.
        charts: a.enable_helm.then(|| {
            std::sync::Arc::new(tether_render::HelmChartPuller::new(
                tether_chartrepo::helm::HelmFetcher::new(super::render_helm::cache_dir()),
            )) as std::sync::Arc<dyn tether_kustomize::ChartPuller>
        }),
    };
    let dir = std::fs::canonicalize(&a.dir).with_context(|| format!("`{}`", a.dir.display()))?;
    Ok(tether_kustomize::build(
        &tether_kustomize::RealFs,
        &dir,
        &opts,
    )?)
}

fn render_directory(a: &DirectoryArgs) -> anyhow::Result<Vec<tether_render::Object>> {
    let mut settings = DirectorySettings {
        recurse: a.recurse,
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        ..Default::default()
    };
    settings.jsonnet.ext_vars = vars(&a.ext_str, false, "jsonnet-ext-str")?;
    settings
        .jsonnet
        .ext_vars
        .extend(vars(&a.ext_code, true, "jsonnet-ext-code")?);
    settings.jsonnet.tlas = vars(&a.tla_str, false, "jsonnet-tla-str")?;
    settings
        .jsonnet
        .tlas
        .extend(vars(&a.tla_code, true, "jsonnet-tla-code")?);
    settings.jsonnet.libs = a.libs.clone();
    let root = a.repo_root.clone().unwrap_or_else(|| a.dir.clone());
    Ok(tether_render::render_directory(
        &a.dir,
        &settings,
        &root,
        !a.no_jsonnet,
    )?)
}

/// Runs `tether render`.
pub fn run(args: RenderArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    if args.git.repo.is_some() {
        return super::render_repo::run(&args, out);
    }
    let objs = match (&args.command, &args.dir) {
        (Some(RenderCommand::Helm(h)), _) => {
            super::render_helm::run(h, args.output, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        (Some(RenderCommand::Kustomize(k)), _) => render_kustomize(k)?,
        (Some(RenderCommand::Directory(d)), _) => render_directory(d)?,
        (None, Some(dir)) => match tether_render::detect(dir, true) {
            SourceType::Helm => {
                let h = super::render_helm::HelmArgs::for_chart(dir.clone());
                super::render_helm::run(&h, args.output, out)?;
                return Ok(ExitCode::SUCCESS);
            }
            SourceType::Kustomize => render_kustomize(&KustomizeArgs {
                dir: dir.clone(),
                load_restrictor: LoadRestrictorArg::RootOnly,
                enable_helm: false,
            })?,
            SourceType::Jsonnet | SourceType::Directory => render_directory(&DirectoryArgs {
                dir: dir.clone(),
                ..Default::default()
            })?,
        },
        (None, None) => bail!(
            "missing source directory\nhint: `tether render DIR` or `tether render kustomize DIR`"
        ),
    };
    write_objects(out, &objs, args.output)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        render: RenderArgs,
    }

    fn corpus(case: &str) -> String {
        format!(
            "{}/../tether-kustomize/tests/corpus/{case}/app",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn kustomize_subcommand_renders_yaml() {
        let cli = Cli::parse_from(["render", "kustomize", &corpus("basic-resources")]);
        let mut out = Vec::new();
        run(cli.render, &mut out).expect("render");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("kind: ConfigMap"), "{text}");
        assert!(text.contains("---\n"));
    }

    #[test]
    fn bare_dir_detects_kustomize_and_json_output() {
        let cli = Cli::parse_from(["render", &corpus("basic-resources"), "--output", "json"]);
        let mut out = Vec::new();
        run(cli.render, &mut out).expect("render");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["kind"], "List");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn load_restrictor_flag() {
        let case = corpus("load-restrictor-none-allows-outside");
        let cli = Cli::parse_from(["render", "kustomize", &case]);
        assert!(run(cli.render, &mut Vec::new()).is_err());
        let cli = Cli::parse_from(["render", "kustomize", &case, "--load-restrictor", "none"]);
        assert!(run(cli.render, &mut Vec::new()).is_ok());
    }

    #[test]
    fn helm_missing_chart_is_a_clear_error() {
        let cli = Cli::parse_from(["render", "helm", "no-such-chart"]);
        let err = run(cli.render, &mut Vec::new()).expect_err("missing chart");
        assert!(err.to_string().contains("no-such-chart"), "{err}");
    }

    #[test]
    fn directory_subcommand() {
        let dir = format!(
            "{}/../tether-render/tests/cases/dir-recurse/source",
            env!("CARGO_MANIFEST_DIR")
        );
        let cli = Cli::parse_from([
            "render",
            "directory",
            &dir,
            "--recurse",
            "--exclude",
            "sub/deeper/*",
        ]);
        let mut out = Vec::new();
        run(cli.render, &mut out).expect("render");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("name: d") && !text.contains("name: e"),
            "{text}"
        );
    }
}
