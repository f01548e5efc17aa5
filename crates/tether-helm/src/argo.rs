//! Argo CD's `source.helm` ([`tether_model::ApplicationSourceHelm`]) turned into a render, as the
//! repo-server's `helm template` call does it: value files (also `$ref/...` from other sources of a
//! multi-source application) confined to their checkout, `values`/`valuesObject` after them, parameters
//! as `--set`/`--set-string` (commas escaped as Argo CD does), file parameters as `--set-file`,
//! `--include-crds` unless `skipCrds`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use tether_model::source::ApplicationSourceHelm;

use crate::{Error, RenderOptions, Rendered, Renderer, UserValues};

/// What the repo service knows besides the `source.helm` block.
#[derive(Debug, Clone, Default)]
pub struct HelmSourceContext {
    /// The chart directory inside the checkout.
    pub chart_dir: PathBuf,
    /// The checkout root of the application's repository; value files may not leave it.
    pub repo_root: PathBuf,
    /// `ref` name (without `$`) → checkout root of that source, for `$ref/path` value files.
    pub refs: BTreeMap<String, PathBuf>,
    /// The application name: the release name when `releaseName` is empty.
    pub app_name: String,
    /// The destination namespace (overridden by `helm.namespace`).
    pub namespace: String,
    /// The cluster's version and API versions (overridden by `helm.kubeVersion`, extended by
    /// `helm.apiVersions`).
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
}

/// Lexically normalises a relative path; `None` when it climbs above its start.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// Resolves a file inside `root` (`rel` relative to `base`, itself inside `root`); rejects `..` and
/// symlink escapes. `Ok(None)` when the file does not exist.
pub fn confined(root: &Path, base: &Path, rel: &str, what: &str) -> Result<Option<PathBuf>, Error> {
    let outside = || {
        Error::Values(format!(
            "{what} '{rel}' resolved to outside repository root"
        ))
    };
    let root_c = root
        .canonicalize()
        .map_err(|e| Error::Values(format!("repository root {}: {e}", root.display())))?;
    let base_rel = base.strip_prefix(root).unwrap_or(Path::new(""));
    let joined = if Path::new(rel).is_absolute() {
        PathBuf::from(rel.trim_start_matches('/'))
    } else {
        base_rel.join(rel)
    };
    let norm = normalize(&joined).ok_or_else(outside)?;
    let full = root_c.join(&norm);
    match full.canonicalize() {
        Ok(real) => {
            if !real.starts_with(&root_c) {
                return Err(outside());
            }
            Ok(Some(real))
        }
        Err(_) => Ok(None),
    }
}

/// Escapes commas for `--set` as Argo CD does (`{...}` lists are left alone).
pub fn clean_set_parameter(v: &str) -> String {
    if v.starts_with('{') && v.ends_with('}') {
        return v.to_string();
    }
    let mut out = String::new();
    let mut prev = None;
    for c in v.chars() {
        if c == ',' && prev != Some('\\') {
            out.push('\\');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Builds values and options for a `source.helm` block.
pub fn prepare(
    helm: &ApplicationSourceHelm,
    ctx: &HelmSourceContext,
) -> Result<(UserValues, RenderOptions), Error> {
    let ignore_missing = helm.ignore_missing_value_files.unwrap_or(false);
    let mut user = UserValues::default();
    for vf in &helm.value_files {
        if vf.starts_with("http://") || vf.starts_with("https://") {
            return Err(Error::Values(format!(
                "value file {vf:?}: remote value files are not supported"
            )));
        }
        let (root, base, rel) = if let Some(rest) = vf.strip_prefix('$') {
            let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
            let root = ctx.refs.get(name).ok_or_else(|| {
                Error::Values(format!(
                    "value file {vf:?}: source referenced as ${name} not found"
                ))
            })?;
            (root.clone(), root.clone(), path.to_string())
        } else {
            (ctx.repo_root.clone(), ctx.chart_dir.clone(), vf.clone())
        };
        match confined(&root, &base, &rel, "value file")? {
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| Error::Values(format!("value file {vf:?}: {e}")))?;
                user.files.push((vf.clone(), text));
            }
            None if ignore_missing => {}
            None => {
                return Err(Error::Values(format!(
                    "value file {vf:?}: no such file in the repository"
                )));
            }
        }
    }
    if let Some(obj) = &helm.values_object {
        let v = tether_gotmpl::Value::from_json(obj);
        user.files.push((
            "valuesObject".into(),
            tether_gotmpl::json::marshal(
                &v,
                &tether_gotmpl::json::JsonOpts {
                    escape_html: false,
                    indent: None,
                },
            )
            .map_err(Error::Values)?,
        ));
    } else if let Some(values) = &helm.values
        && !values.trim().is_empty()
    {
        user.files.push(("values".into(), values.clone()));
    }
    let mut params: Vec<(&str, &str, bool)> = helm
        .parameters
        .iter()
        .filter_map(|p| {
            Some((
                p.name.as_deref()?,
                p.value.as_deref().unwrap_or(""),
                p.force_string.unwrap_or(false),
            ))
        })
        .collect();
    params.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value, force) in params {
        let expr = format!("{name}={}", clean_set_parameter(value));
        if force {
            user.set_string.push(expr);
        } else {
            user.set.push(expr);
        }
    }
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for fp in &helm.file_parameters {
        let (Some(name), Some(path)) = (&fp.name, &fp.path) else {
            continue;
        };
        let p =
            confined(&ctx.repo_root, &ctx.chart_dir, path, "file parameter")?.ok_or_else(|| {
                Error::Values(format!(
                    "file parameter {name}: {path:?} not found in the repository"
                ))
            })?;
        let text = std::fs::read_to_string(&p)
            .map_err(|e| Error::Values(format!("file parameter {name}: {e}")))?;
        let key = format!("{}", files.len());
        user.set_file.push(format!("{name}={key}"));
        files.insert(key, text);
    }
    if !files.is_empty() {
        let files = Arc::new(files);
        user.file_reader = Some(Arc::new(move |k: &str| {
            files
                .get(k)
                .cloned()
                .ok_or_else(|| format!("open {k}: no such file"))
        }));
    }
    let mut api_versions = ctx.api_versions.clone();
    api_versions.extend(helm.api_versions.iter().cloned());
    let opts = RenderOptions {
        release_name: helm
            .release_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ctx.app_name.clone()),
        namespace: helm
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ctx.namespace.clone()),
        kube_version: helm
            .kube_version
            .clone()
            .filter(|v| !v.is_empty())
            .or_else(|| ctx.kube_version.clone()),
        api_versions,
        include_crds: !helm.skip_crds.unwrap_or(false),
        skip_crds: helm.skip_crds.unwrap_or(false),
        no_hooks: false,
        skip_tests: helm.skip_tests.unwrap_or(false),
        skip_schema_validation: helm.skip_schema_validation.unwrap_or(false),
    };
    Ok((user, opts))
}

/// Loads the chart at `chart_dir` as the repo-server prepares it: when dependencies are missing from
/// `charts/`, it runs the equivalent of `helm dependency build` through `fetcher` (Chart.lock's
/// versions when present, else Chart.yaml's constraints); without a fetcher they stay missing and
/// rendering gives Helm's error.
pub fn load(
    chart_dir: &Path,
    fetcher: Option<&dyn crate::DependencyFetcher>,
) -> Result<Renderer, Error> {
    let mut chart = crate::load(chart_dir)?;
    if fetcher.is_some() {
        crate::resolve_dependencies(&mut chart, fetcher, crate::DependencyMode::Build)?;
    }
    Ok(Renderer::new(chart))
}

/// Renders a chart for an Application's `source.helm` (use a cached [`Renderer`] for repeated renders).
pub fn render(
    renderer: &Renderer,
    helm: &ApplicationSourceHelm,
    ctx: &HelmSourceContext,
) -> Result<Rendered, Error> {
    let (user, opts) = prepare(helm, ctx)?;
    renderer.render(&user, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_escaped_like_argo() {
        assert_eq!(clean_set_parameter("a,b"), "a\\,b");
        assert_eq!(clean_set_parameter("a\\,b"), "a\\,b");
        assert_eq!(clean_set_parameter("{a,b}"), "{a,b}");
    }

    #[test]
    fn value_files_confined() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("repo");
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(root.join("app/v.yaml"), "a: 1").unwrap();
        std::fs::write(d.path().join("secret.yaml"), "s: 1").unwrap();
        let app = root.join("app");
        assert!(
            confined(&root, &app, "v.yaml", "value file")
                .unwrap()
                .is_some()
        );
        assert!(
            confined(&root, &app, "missing.yaml", "value file")
                .unwrap()
                .is_none()
        );
        assert!(confined(&root, &app, "../../secret.yaml", "value file").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.path().join("secret.yaml"), app.join("link.yaml"))
                .unwrap();
            assert!(confined(&root, &app, "link.yaml", "value file").is_err());
        }
    }
}
