//! `tether render helm CHART`: renders a chart in-process like `helm template` (tether-helm).
//!
//! ```text
//! tether render helm CHART [-f VALUES]... [--set K=V]... [--set-string K=V]... [--set-json K=JSON]...
//!     [--set-file K=PATH]... [--set-literal K=V]... [--release-name NAME] [--namespace NS]
//!     [--kube-version V] [--api-versions G/V]... [--include-crds] [--skip-crds] [--no-hooks]
//!     [--skip-tests] [--skip-schema-validation] [--output yaml|json]
//! ```

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

use super::render::OutputFormat;

/// `tether render helm`.
#[derive(Debug, Clone, clap::Args)]
pub struct HelmArgs {
    /// Chart directory or `.tgz` archive.
    pub chart: PathBuf,
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
    let r = tether_helm::render(&a.chart, &user, &opts)?;
    let text = match fmt {
        OutputFormat::Yaml => r.text,
        OutputFormat::Json => {
            let objs: Vec<serde_json::Map<String, serde_json::Value>> =
                r.documents.into_iter().filter_map(|d| d.object).collect();
            tether_kustomize::to_json(&objs) + "\n"
        }
    };
    out.write_all(text.as_bytes())
        .context("writing manifests")?;
    Ok(())
}
