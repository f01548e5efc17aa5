//! `helmCharts` (and the legacy `helmChartInflationGenerator`): charts inflated with Tether's
//! own Helm engine (`tether-helm`), with the semantics of kustomize's
//! HelmChartInflationGenerator (v5.5) running `helm template`:
//!
//! * `chartHome` (default `charts/` next to the kustomization; `<name>-<version>` below it when
//!   both `repo` and `version` are set) holds the chart directory `<name>`;
//! * `valuesFile` (default `<chartHome>/<name>/values.yaml`) is read through the kustomization's
//!   loader (so load restrictions apply) and passed as `-f`; `valuesInline` is merged over it
//!   (`valuesMerge: override`, the default), under it (`merge`) or replaces it (`replace`);
//!   `additionalValuesFiles` follow as further `-f` files;
//! * `releaseName` (Helm's `release-name` when empty), `nameTemplate`, `namespace`,
//!   `includeCRDs`, `skipHooks`, `skipTests`, `apiVersions`, `kubeVersion` as the `helm template`
//!   flags of the same names.
//!
//! Charts are read from the machine's file system, as kustomize (which runs the `helm` binary)
//! does. A chart that is not present under `chartHome` is pulled from `repo` (at `version`, a
//! Masterminds constraint as `helm pull --version` takes it; the newest stable one when empty)
//! through the build's [`ChartPuller`], as kustomize runs `helm pull`. Unlike kustomize, the
//! pulled chart is not written into the kustomization's directory (a checkout stays read-only):
//! the puller keeps it in its own cache, and the default values file is the chart's own
//! `values.yaml`.

use crate::error::{Error, Result};
use crate::fs::Loader;
use crate::resource::parse_objects;
use crate::types::{HelmChart, HelmChartArgs, HelmGlobals};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Pulls a chart from a Helm chart repository (kustomize's `helm pull --repo REPO NAME
/// --version VERSION`).
pub trait ChartPuller: Send + Sync {
    /// The pulled chart (a directory or a `.tgz` archive) on the local file system.
    fn pull(&self, repo: &str, name: &str, version: &str) -> std::result::Result<PathBuf, String>;
}

const LEGAL_MERGE: [&str; 3] = ["merge", "override", "replace"];

/// kustomize's `SplitHelmParameters`: legacy `helmChartInflationGenerator` entries as
/// `helmCharts` plus globals (the last non-empty `chartHome` / `helmHome` wins).
pub fn split_legacy(old: &[HelmChartArgs]) -> (Vec<HelmChart>, HelmGlobals) {
    let mut globals = HelmGlobals::default();
    let mut charts = Vec::new();
    for o in old {
        charts.push(HelmChart {
            name: o.chart_name.clone(),
            version: o.chart_version.clone(),
            repo: o.chart_repo_url.clone(),
            values_file: o.values.clone(),
            values_inline: o.values_local.clone(),
            values_merge: o.values_merge.clone(),
            release_name: o.release_name.clone(),
            ..Default::default()
        });
        if !o.helm_home.is_empty() {
            globals.config_home = o.helm_home.clone();
        }
        if !o.chart_home.is_empty() {
            globals.chart_home = o.chart_home.clone();
        }
    }
    (charts, globals)
}

/// The plugin configuration as kustomize prints it in its errors.
fn config_text(globals: &HelmGlobals, chart: &HelmChart) -> String {
    let mut m = serde_json::Map::new();
    for v in [
        serde_json::to_value(globals).unwrap_or_default(),
        serde_json::to_value(chart).unwrap_or_default(),
    ] {
        if let Value::Object(o) = v {
            m.extend(o);
        }
    }
    let sorted: std::collections::BTreeMap<String, Value> = m.into_iter().collect();
    serde_yaml::to_string(&sorted).unwrap_or_default()
}

fn config_error(kfile: &Path, globals: &HelmGlobals, chart: &HelmChart, msg: &str) -> Error {
    Error::Generator(format!(
        "`helmCharts` in `{}`: trouble configuring builtin HelmChartInflationGenerator with config: `\n{}`: {msg}",
        kfile.display(),
        config_text(globals, chart)
    ))
}

/// Inflates one chart into objects, in `helm template`'s output order.
pub fn inflate(
    ldr: &Loader<'_>,
    kfile: &Path,
    build: &crate::BuildOptions,
    globals: &HelmGlobals,
    chart: &HelmChart,
) -> Result<Vec<Map<String, Value>>> {
    if !build.enable_helm {
        return Err(config_error(
            kfile,
            globals,
            chart,
            "must specify --enable-helm",
        ));
    }
    let mut merge = chart.values_merge.clone();
    if chart.values_inline.is_some() && merge.is_empty() {
        merge = "override".into();
    }
    if !merge.is_empty() && !LEGAL_MERGE.contains(&merge.as_str()) {
        return Err(config_error(
            kfile,
            globals,
            chart,
            "valuesMerge must be one of [merge override replace]",
        ));
    }
    let chart_home = if globals.chart_home.is_empty() {
        "charts"
    } else {
        globals.chart_home.as_str()
    };
    let mut abs_home = crate::fs::clean(&ldr.root.join(chart_home));
    if !chart.version.is_empty() && !chart.repo.is_empty() {
        abs_home = abs_home.join(format!("{}-{}", chart.name, chart.version));
    }
    let values_file: String = if chart.values_file.is_empty() {
        abs_home
            .join(&chart.name)
            .join("values.yaml")
            .to_string_lossy()
            .into_owned()
    } else {
        chart.values_file.clone()
    };
    let mut extra_files = Vec::new();
    for f in &chart.additional_values_files {
        let (p, text) = ldr.read_string(f).map_err(|e| {
            Error::Generator(format!(
                "`helmCharts` in `{}`: could not load additionalValuesFile: {e}",
                kfile.display()
            ))
        })?;
        extra_files.push((p.to_string_lossy().into_owned(), text));
    }

    let mut chart_dir = abs_home.join(&chart.name);
    // The pulled chart's own values.yaml stands in for `<chartHome>/<name>/values.yaml`.
    let mut pulled_values: Option<String> = None;
    if !ldr.fs.is_dir(&chart_dir) {
        if chart.repo.is_empty() {
            return Err(Error::Generator(format!(
                "`helmCharts` in `{}`: no repo specified for pull, no chart found at '' (looked for chart `{}` in `{}`)",
                kfile.display(),
                chart.name,
                abs_home.display()
            )));
        }
        let Some(puller) = &build.charts else {
            return Err(Error::Unsupported(format!(
                "`helmCharts` in `{}`: chart `{}` is not in `{}` and this build cannot pull charts from repositories ({}); vendor the chart under the chart home",
                kfile.display(),
                chart.name,
                abs_home.display(),
                chart.repo
            )));
        };
        let pulled = puller
            .pull(&chart.repo, &chart.name, &chart.version)
            .map_err(|e| {
                Error::Generator(format!(
                    "`helmCharts` in `{}`: could not pull chart `{}`{} from `{}`: {e}",
                    kfile.display(),
                    chart.name,
                    if chart.version.is_empty() {
                        String::new()
                    } else {
                        format!(" version `{}`", chart.version)
                    },
                    chart.repo
                ))
            })?;
        if chart.values_file.is_empty() {
            let loaded = tether_helm::load(&pulled).map_err(|e| {
                Error::Generator(format!(
                    "`helmCharts` in `{}`: pulled chart `{}`: {}",
                    kfile.display(),
                    chart.name,
                    e.message()
                ))
            })?;
            pulled_values = Some(loaded.values_yaml.clone().unwrap_or_default());
        }
        chart_dir = pulled;
    }
    let read_values = |path: &str| -> Result<(PathBuf, String)> {
        match &pulled_values {
            Some(text) => Ok((chart_dir.join("values.yaml"), text.clone())),
            None => ldr.read_string(path),
        }
    };

    // The values file handed to `helm template -f`.
    let inline = chart.values_inline.clone().unwrap_or_default();
    let (values_name, values_text) = if !inline.is_empty() {
        let merged = match merge.as_str() {
            "replace" => inline,
            m => {
                let (_, text) = read_values(&values_file)?;
                let file: Value = serde_yaml::from_str(&text).map_err(|e| {
                    Error::Generator(format!(
                        "could not parse values file `{values_file}` into rnode: {e}"
                    ))
                })?;
                let file = match file {
                    Value::Object(o) => o,
                    Value::Null => Map::new(),
                    _ => {
                        return Err(Error::Generator(format!(
                            "could not parse values file `{values_file}`: not a map"
                        )));
                    }
                };
                // kyaml's merge2 overrides the destination with the source: `override` merges
                // the inline values over the file, `merge` the file over the inline values.
                let (dest, src) = if m == "merge" {
                    (inline, file)
                } else {
                    (file, inline)
                };
                crate::smp::merge_object(dest, &src)
                    .map_err(|e| Error::Generator(format!("could not merge values: {e}")))?
                    .unwrap_or_default()
            }
        };
        let text = serde_json::to_string(&Value::Object(merged)).unwrap_or_default();
        (format!("{}-kustomize-values.yaml", chart.name), text)
    } else {
        let (p, text) = read_values(&values_file)?;
        (p.to_string_lossy().into_owned(), text)
    };

    let helm_err = |msg: String| {
        Error::Generator(format!(
            "`helmCharts` in `{}`: helm template of chart `{}` failed: Error: {msg}",
            kfile.display(),
            chart.name
        ))
    };
    let release_name = if !chart.name_template.is_empty() {
        if !chart.release_name.is_empty() {
            return Err(helm_err(
                "cannot set --name-template and also specify a name".into(),
            ));
        }
        name_template(&chart.name_template).map_err(helm_err)?
    } else if chart.release_name.is_empty() {
        "release-name".to_string()
    } else {
        chart.release_name.clone()
    };
    let user = tether_helm::UserValues {
        files: std::iter::once((values_name, values_text))
            .chain(extra_files)
            .collect(),
        ..Default::default()
    };
    let opts = tether_helm::RenderOptions {
        release_name,
        namespace: if chart.namespace.is_empty() {
            "default".into()
        } else {
            chart.namespace.clone()
        },
        kube_version: (!chart.kube_version.is_empty()).then(|| chart.kube_version.clone()),
        api_versions: chart.api_versions.clone(),
        include_crds: chart.include_crds,
        skip_crds: false,
        no_hooks: chart.skip_hooks,
        skip_tests: chart.skip_tests,
        skip_schema_validation: false,
    };
    let rendered =
        tether_helm::render(&chart_dir, &user, &opts).map_err(|e| helm_err(e.message()))?;
    let source: PathBuf = chart_dir.clone();
    parse_objects(&rendered.text, &source)
}

/// Helm's `TemplateName`: the `--name-template` executed with no data.
fn name_template(t: &str) -> std::result::Result<String, String> {
    let set =
        tether_gotmpl::Templates::parse(&[("name-template", t)]).map_err(|e| e.helm_message())?;
    set.exec(
        "name-template",
        &tether_gotmpl::Value::Nil,
        &tether_gotmpl::ExecOptions::default(),
    )
    .map_err(|e| e.helm_message())
}
