//! `tether app set NAME …`: Argo CD's `argocd app set` flags (source, destination, sync policy,
//! Helm, Kustomize, directory and Jsonnet options), applied to the spec `tether run` has and
//! written back where the app is declared:
//!
//! - cluster mode: the Application resource's `.spec`;
//! - `tether run --apps DIR`: the YAML file and document that declare the app, rewritten in place
//!   (the file's other documents are kept byte for byte; comments inside the edited document are
//!   lost). The file stays the source of truth: the change shows in `git diff` when DIR is a
//!   working copy, and survives restarts. Editing the file by hand works just as well;
//! - `tether run --apps-repo`: refused: the declarations are in Git, commit the change there.
//!
//! Nothing is written when the flags change nothing. The command returns once `tether run`
//! serves the new spec (at most `--reload` later in file mode), so a following `app diff` or
//! `app sync` sees it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use tether_model::source::{
    ApplicationSource, Backoff, HelmFileParameter, HelmParameter, JsonnetVar, KustomizeReplica,
    RetryStrategy, SyncPolicy, SyncPolicyAutomated,
};
use tether_model::{Application, ApplicationSpec};

use super::app::{Output, structured};
use super::client::{Client, seg};

/// `tether app set`.
#[derive(Debug, Default, clap::Args)]
#[command(next_help_heading = "Source")]
pub struct SetArgs {
    pub name: String,
    /// Repository URL.
    #[arg(long)]
    pub repo: Option<String>,
    /// Path in the repository.
    #[arg(long)]
    pub path: Option<String>,
    /// targetRevision (branch, tag, commit, semver constraint).
    #[arg(long)]
    pub revision: Option<String>,
    /// Which source of a multi-source app to change (counting from 1).
    #[arg(long)]
    pub source_position: Option<usize>,

    /// Destination cluster URL.
    #[arg(long, help_heading = "Destination and project")]
    pub dest_server: Option<String>,
    /// Destination cluster name.
    #[arg(long, help_heading = "Destination and project")]
    pub dest_name: Option<String>,
    /// Destination namespace.
    #[arg(long, help_heading = "Destination and project")]
    pub dest_namespace: Option<String>,
    /// AppProject.
    #[arg(long, help_heading = "Destination and project")]
    pub project: Option<String>,

    /// `manual` (or `none`) or `automated` (`automatic`, `auto`).
    #[arg(long, help_heading = "Sync policy")]
    pub sync_policy: Option<String>,
    /// Prune when auto-syncing (needs an automated policy).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Sync policy")]
    pub auto_prune: Option<bool>,
    /// Self-heal (needs an automated policy).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Sync policy")]
    pub self_heal: Option<bool>,
    /// Allow auto-sync to an empty set of resources (needs an automated policy).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Sync policy")]
    pub allow_empty: Option<bool>,
    /// A sync option (`Key=value`, replaces the same key; repeatable).
    #[arg(long = "sync-option", help_heading = "Sync policy")]
    pub sync_options: Vec<String>,
    /// Retries of a failed sync (0 removes the retry policy; negative: unlimited).
    #[arg(long, allow_negative_numbers = true, help_heading = "Sync policy")]
    pub sync_retry_limit: Option<i64>,
    /// First retry delay (`5s`).
    #[arg(long, help_heading = "Sync policy")]
    pub sync_retry_backoff_duration: Option<String>,
    /// Longest retry delay (`3m`).
    #[arg(long, help_heading = "Sync policy")]
    pub sync_retry_backoff_max_duration: Option<String>,
    /// Retry delay factor.
    #[arg(long, help_heading = "Sync policy")]
    pub sync_retry_backoff_factor: Option<i64>,
    /// History entries kept.
    #[arg(long, help_heading = "Sync policy")]
    pub revision_history_limit: Option<i64>,

    /// A Helm parameter `name=value` (Helm apps; repeatable).
    #[arg(short = 'p', long = "parameter", help_heading = "Helm")]
    pub parameters: Vec<String>,
    /// A Helm parameter `name=value`, as `helm --set` (repeatable).
    #[arg(long = "helm-set", help_heading = "Helm")]
    pub helm_set: Vec<String>,
    /// A Helm parameter `name=value` forced to a string, as `helm --set-string` (repeatable).
    #[arg(long = "helm-set-string", help_heading = "Helm")]
    pub helm_set_string: Vec<String>,
    /// A Helm file parameter `name=path`, as `helm --set-file` (repeatable).
    #[arg(long = "helm-set-file", help_heading = "Helm")]
    pub helm_set_file: Vec<String>,
    /// Value files, relative to the chart (replaces the list; repeatable).
    #[arg(long = "values", help_heading = "Helm")]
    pub values: Vec<String>,
    /// A local file whose content becomes `helm.values`.
    #[arg(long, help_heading = "Helm")]
    pub values_literal_file: Option<PathBuf>,
    /// Ignore value files that do not exist.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Helm")]
    pub ignore_missing_value_files: Option<bool>,
    /// Helm release name.
    #[arg(long, help_heading = "Helm")]
    pub release_name: Option<String>,
    /// Helm version (`v3`).
    #[arg(long, help_heading = "Helm")]
    pub helm_version: Option<String>,
    /// Pass credentials to all domains.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Helm")]
    pub helm_pass_credentials: Option<bool>,
    /// Skip the chart's CRDs.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Helm")]
    pub helm_skip_crds: Option<bool>,
    /// Skip the chart's tests.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Helm")]
    pub helm_skip_tests: Option<bool>,
    /// Skip values.schema.json validation.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Helm")]
    pub helm_skip_schema_validation: Option<bool>,
    /// Helm's release namespace.
    #[arg(long, help_heading = "Helm")]
    pub helm_namespace: Option<String>,
    /// `.Capabilities.KubeVersion`.
    #[arg(long, help_heading = "Helm")]
    pub helm_kube_version: Option<String>,
    /// `.Capabilities.APIVersions` (replaces the list; repeatable).
    #[arg(long = "helm-api-versions", help_heading = "Helm")]
    pub helm_api_versions: Vec<String>,

    /// An image override (`name=new:tag`, `name:tag`, `name@digest`; replaces the same image).
    #[arg(long = "kustomize-image", help_heading = "Kustomize")]
    pub kustomize_images: Vec<String>,
    /// A replica count `name=N` (replaces the same name).
    #[arg(long = "kustomize-replica", help_heading = "Kustomize")]
    pub kustomize_replicas: Vec<String>,
    /// A common label `key=value`.
    #[arg(long = "kustomize-common-label", help_heading = "Kustomize")]
    pub kustomize_common_labels: Vec<String>,
    /// A common annotation `key=value`.
    #[arg(long = "kustomize-common-annotation", help_heading = "Kustomize")]
    pub kustomize_common_annotations: Vec<String>,
    /// Force common labels.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Kustomize")]
    pub kustomize_force_common_label: Option<bool>,
    /// Force common annotations.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Kustomize")]
    pub kustomize_force_common_annotation: Option<bool>,
    /// Common labels without selectors.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Kustomize")]
    pub kustomize_label_without_selector: Option<bool>,
    /// Namespace override.
    #[arg(long, help_heading = "Kustomize")]
    pub kustomize_namespace: Option<String>,
    /// Kustomize version.
    #[arg(long, help_heading = "Kustomize")]
    pub kustomize_version: Option<String>,
    /// Name prefix.
    #[arg(long, allow_hyphen_values = true, help_heading = "Kustomize")]
    pub nameprefix: Option<String>,
    /// Name suffix (`-prod` is a value, as in Argo CD's CLI).
    #[arg(long, allow_hyphen_values = true, help_heading = "Kustomize")]
    pub namesuffix: Option<String>,

    /// Recurse into subdirectories.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "Directory and Jsonnet")]
    pub directory_recurse: Option<bool>,
    /// Glob of files to include.
    #[arg(long, help_heading = "Directory and Jsonnet")]
    pub directory_include: Option<String>,
    /// Glob of files to exclude.
    #[arg(long, help_heading = "Directory and Jsonnet")]
    pub directory_exclude: Option<String>,
    /// A Jsonnet top-level argument `name=value` (repeatable).
    #[arg(long = "jsonnet-tla-str", help_heading = "Directory and Jsonnet")]
    pub jsonnet_tla_str: Vec<String>,
    /// A Jsonnet top-level argument `name=code` (repeatable).
    #[arg(long = "jsonnet-tla-code", help_heading = "Directory and Jsonnet")]
    pub jsonnet_tla_code: Vec<String>,
    /// A Jsonnet external variable `name=value` (repeatable).
    #[arg(long = "jsonnet-ext-var-str", help_heading = "Directory and Jsonnet")]
    pub jsonnet_ext_var_str: Vec<String>,
    /// A Jsonnet external variable `name=code` (repeatable).
    #[arg(long = "jsonnet-ext-var-code", help_heading = "Directory and Jsonnet")]
    pub jsonnet_ext_var_code: Vec<String>,
    /// Jsonnet library paths (replaces the list; repeatable).
    #[arg(long = "jsonnet-libs", help_heading = "Directory and Jsonnet")]
    pub jsonnet_libs: Vec<String>,

    /// Seconds to wait for `tether run` to serve the new spec.
    #[arg(long, default_value_t = 30, help_heading = "Options")]
    pub timeout: u64,
}

fn pair<'a>(flag: &str, text: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => bail!("`--{flag} {text}`: expected NAME=VALUE"),
    }
}

/// Argo CD's `KustomizeImage.Match`: the same delimiter and the same name before it.
pub(crate) fn image_name(image: &str) -> (&'static str, &str) {
    let delim = ["=", ":", "@"]
        .into_iter()
        .find(|d| image.contains(d))
        .unwrap_or(":");
    (delim, image.split(delim).next().unwrap_or(""))
}

fn set_var(vars: &mut Vec<JsonnetVar>, flag: &str, text: &str, code: bool) -> anyhow::Result<()> {
    let (k, v) = pair(flag, text)?;
    let var = JsonnetVar {
        name: k.to_owned(),
        value: v.to_owned(),
        code: code.then_some(true),
    };
    match vars.iter_mut().find(|x| x.name == k) {
        Some(x) => *x = var,
        None => vars.push(var),
    }
    Ok(())
}

fn add_helm_parameter(
    params: &mut Vec<HelmParameter>,
    flag: &str,
    text: &str,
    force: bool,
) -> anyhow::Result<()> {
    let (k, v) = pair(flag, text)
        .with_context(|| "expected helm parameter of the form: param=value".to_owned())?;
    let p = HelmParameter {
        name: Some(k.to_owned()),
        value: Some(v.to_owned()),
        force_string: force.then_some(true),
    };
    match params.iter_mut().find(|x| x.name.as_deref() == Some(k)) {
        Some(x) => *x = p,
        None => params.push(p),
    }
    Ok(())
}

impl SetArgs {
    fn touches_source(&self) -> bool {
        self.repo.is_some()
            || self.path.is_some()
            || self.revision.is_some()
            || self.touches_helm()
            || !self.kustomize_images.is_empty()
            || !self.kustomize_replicas.is_empty()
            || !self.kustomize_common_labels.is_empty()
            || !self.kustomize_common_annotations.is_empty()
            || self.kustomize_force_common_label.is_some()
            || self.kustomize_force_common_annotation.is_some()
            || self.kustomize_label_without_selector.is_some()
            || self.kustomize_namespace.is_some()
            || self.kustomize_version.is_some()
            || self.nameprefix.is_some()
            || self.namesuffix.is_some()
            || self.directory_recurse.is_some()
            || self.directory_include.is_some()
            || self.directory_exclude.is_some()
            || !self.jsonnet_tla_str.is_empty()
            || !self.jsonnet_tla_code.is_empty()
            || !self.jsonnet_ext_var_str.is_empty()
            || !self.jsonnet_ext_var_code.is_empty()
            || !self.jsonnet_libs.is_empty()
    }

    fn touches_helm(&self) -> bool {
        !self.parameters.is_empty()
            || !self.helm_set.is_empty()
            || !self.helm_set_string.is_empty()
            || !self.helm_set_file.is_empty()
            || !self.values.is_empty()
            || self.values_literal_file.is_some()
            || self.ignore_missing_value_files.is_some()
            || self.release_name.is_some()
            || self.helm_version.is_some()
            || self.helm_pass_credentials.is_some()
            || self.helm_skip_crds.is_some()
            || self.helm_skip_tests.is_some()
            || self.helm_skip_schema_validation.is_some()
            || self.helm_namespace.is_some()
            || self.helm_kube_version.is_some()
            || !self.helm_api_versions.is_empty()
    }

    /// Applies the flags to `spec`; `source_type` is the app's detected type (status).
    pub fn apply(&self, spec: &mut ApplicationSpec, source_type: &str) -> anyhow::Result<()> {
        if self.touches_source() {
            let multi = !spec.sources.is_empty();
            let source: &mut ApplicationSource = if multi {
                let Some(pos) = self.source_position.filter(|p| *p > 0) else {
                    bail!(
                        "`--source-position` (counting from 1) is required for an application with {} sources",
                        spec.sources.len()
                    );
                };
                let n = spec.sources.len();
                spec.sources.get_mut(pos - 1).with_context(|| {
                    format!("`--source-position {pos}`: the application has {n} sources")
                })?
            } else {
                if self.source_position.is_some_and(|p| p != 1) {
                    bail!("`--source-position`: the application has one source");
                }
                spec.source.get_or_insert_with(Default::default)
            };
            self.apply_source(source, source_type)?;
        }
        if let Some(v) = &self.dest_server {
            spec.destination.server = Some(v.clone());
            spec.destination.name = None;
        }
        if let Some(v) = &self.dest_name {
            spec.destination.name = Some(v.clone());
            spec.destination.server = None;
        }
        if let Some(v) = &self.dest_namespace {
            spec.destination.namespace = Some(v.clone());
        }
        if let Some(v) = &self.project {
            spec.project = v.clone();
        }
        if let Some(v) = self.revision_history_limit {
            spec.revision_history_limit = Some(v);
        }
        self.apply_sync_policy(spec)
    }

    fn apply_sync_policy(&self, spec: &mut ApplicationSpec) -> anyhow::Result<()> {
        let policy = &mut spec.sync_policy;
        match self.sync_policy.as_deref() {
            None => {}
            Some("manual" | "none") => {
                if let Some(p) = policy.as_mut() {
                    p.automated = None;
                }
            }
            Some("automated" | "automatic" | "auto") => {
                let p = policy.get_or_insert_with(SyncPolicy::default);
                let a = p.automated.get_or_insert_with(SyncPolicyAutomated::default);
                if a.enabled == Some(false) {
                    a.enabled = Some(true);
                }
            }
            Some(other) => {
                bail!(
                    "`--sync-policy {other}`: expected manual, none, automated, automatic or auto"
                )
            }
        }
        for (flag, value, field) in [
            ("auto-prune", self.auto_prune, 0),
            ("self-heal", self.self_heal, 1),
            ("allow-empty", self.allow_empty, 2),
        ] {
            let Some(v) = value else { continue };
            let Some(a) = policy.as_mut().and_then(|p| p.automated.as_mut()) else {
                bail!(
                    "cannot set `--{flag}`: the application is not configured with automated sync (add `--sync-policy automated`)"
                );
            };
            *[&mut a.prune, &mut a.self_heal, &mut a.allow_empty][field] = Some(v);
        }
        for o in &self.sync_options {
            let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k);
            let opts = &mut policy.get_or_insert_with(SyncPolicy::default).sync_options;
            match opts
                .iter_mut()
                .find(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
            {
                Some(x) => *x = o.clone(),
                None => opts.push(o.clone()),
            }
        }
        if let Some(limit) = self.sync_retry_limit {
            let p = policy.get_or_insert_with(SyncPolicy::default);
            if limit == 0 {
                p.retry = None;
            } else {
                p.retry.get_or_insert_with(RetryStrategy::default).limit = Some(limit);
            }
        }
        let backoff = self.sync_retry_backoff_duration.is_some()
            || self.sync_retry_backoff_max_duration.is_some()
            || self.sync_retry_backoff_factor.is_some();
        if backoff {
            let Some(r) = policy.as_mut().and_then(|p| p.retry.as_mut()) else {
                bail!(
                    "the `--sync-retry-backoff-*` flags need a retry policy (`--sync-retry-limit N`)"
                );
            };
            let b = r.backoff.get_or_insert_with(Backoff::default);
            for (d, field) in [
                (&self.sync_retry_backoff_duration, &mut b.duration),
                (&self.sync_retry_backoff_max_duration, &mut b.max_duration),
            ] {
                if let Some(d) = d {
                    tether_model::duration::parse_argo_duration(d)
                        .map_err(|e| anyhow::anyhow!("`{d}`: {e}"))?;
                    *field = Some(d.clone());
                }
            }
            if let Some(f) = self.sync_retry_backoff_factor {
                b.factor = Some(f);
            }
        }
        Ok(())
    }

    fn apply_source(&self, s: &mut ApplicationSource, source_type: &str) -> anyhow::Result<()> {
        if let Some(v) = &self.repo {
            s.repo_url = v.clone();
        }
        if let Some(v) = &self.path {
            s.path = Some(v.clone());
        }
        if let Some(v) = &self.revision {
            s.target_revision = Some(v.clone());
        }
        if !self.parameters.is_empty() {
            // Argo CD: parameters only for Helm (explicit `helm:` or the detected type).
            let helm = s.helm.is_some() || source_type == "Helm" || s.chart.is_some();
            if !helm {
                bail!(
                    "`-p/--parameter`: parameters can only be set on Helm applications (this one is {}); use --helm-set to add Helm settings anyway",
                    if source_type.is_empty() {
                        "of unknown type"
                    } else {
                        source_type
                    }
                );
            }
        }
        if self.touches_helm() {
            let h = s.helm.get_or_insert_with(Default::default);
            for p in self.parameters.iter() {
                add_helm_parameter(&mut h.parameters, "parameter", p, false)?;
            }
            for p in &self.helm_set {
                add_helm_parameter(&mut h.parameters, "helm-set", p, false)?;
            }
            for p in &self.helm_set_string {
                add_helm_parameter(&mut h.parameters, "helm-set-string", p, true)?;
            }
            for p in &self.helm_set_file {
                let (k, v) = pair("helm-set-file", p)?;
                let fp = HelmFileParameter {
                    name: Some(k.to_owned()),
                    path: Some(v.to_owned()),
                };
                match h
                    .file_parameters
                    .iter_mut()
                    .find(|x| x.name.as_deref() == Some(k))
                {
                    Some(x) => *x = fp,
                    None => h.file_parameters.push(fp),
                }
            }
            if !self.values.is_empty() {
                h.value_files = self.values.clone();
            }
            if let Some(f) = &self.values_literal_file {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("`--values-literal-file {}`", f.display()))?;
                serde_yaml::from_str::<serde_yaml::Value>(&text).with_context(|| {
                    format!("`--values-literal-file {}`: not YAML", f.display())
                })?;
                h.values = Some(text);
                h.values_object = None;
            }
            let set_opt = |field: &mut Option<String>, v: &Option<String>| {
                if let Some(v) = v {
                    *field = Some(v.clone());
                }
            };
            set_opt(&mut h.release_name, &self.release_name);
            set_opt(&mut h.version, &self.helm_version);
            set_opt(&mut h.namespace, &self.helm_namespace);
            set_opt(&mut h.kube_version, &self.helm_kube_version);
            for (v, field) in [
                (
                    self.ignore_missing_value_files,
                    &mut h.ignore_missing_value_files,
                ),
                (self.helm_pass_credentials, &mut h.pass_credentials),
                (self.helm_skip_crds, &mut h.skip_crds),
                (self.helm_skip_tests, &mut h.skip_tests),
                (
                    self.helm_skip_schema_validation,
                    &mut h.skip_schema_validation,
                ),
            ] {
                if v.is_some() {
                    *field = v;
                }
            }
            if !self.helm_api_versions.is_empty() {
                h.api_versions = self.helm_api_versions.clone();
            }
        }
        let kustomize = !self.kustomize_images.is_empty()
            || !self.kustomize_replicas.is_empty()
            || !self.kustomize_common_labels.is_empty()
            || !self.kustomize_common_annotations.is_empty()
            || self.kustomize_force_common_label.is_some()
            || self.kustomize_force_common_annotation.is_some()
            || self.kustomize_label_without_selector.is_some()
            || self.kustomize_namespace.is_some()
            || self.kustomize_version.is_some()
            || self.nameprefix.is_some()
            || self.namesuffix.is_some();
        if kustomize {
            let k = s.kustomize.get_or_insert_with(Default::default);
            for img in &self.kustomize_images {
                let key = image_name(img);
                match k.images.iter_mut().find(|x| image_name(x) == key) {
                    Some(x) => *x = img.clone(),
                    None => k.images.push(img.clone()),
                }
            }
            for r in &self.kustomize_replicas {
                let (name, count) = pair("kustomize-replica", r)?;
                let count: i32 = count.parse().with_context(|| {
                    format!("`--kustomize-replica {r}`: the count is not a number")
                })?;
                let rep = KustomizeReplica {
                    name: name.to_owned(),
                    count: IntOrString::Int(count),
                };
                match k.replicas.iter_mut().find(|x| x.name == name) {
                    Some(x) => *x = rep,
                    None => k.replicas.push(rep),
                }
            }
            let merge = |m: &mut BTreeMap<String, String>, flag, items: &[String]| {
                for i in items {
                    let (a, b) = pair(flag, i)?;
                    m.insert(a.to_owned(), b.to_owned());
                }
                anyhow::Ok(())
            };
            merge(
                &mut k.common_labels,
                "kustomize-common-label",
                &self.kustomize_common_labels,
            )?;
            merge(
                &mut k.common_annotations,
                "kustomize-common-annotation",
                &self.kustomize_common_annotations,
            )?;
            for (v, field) in [
                (
                    self.kustomize_force_common_label,
                    &mut k.force_common_labels,
                ),
                (
                    self.kustomize_force_common_annotation,
                    &mut k.force_common_annotations,
                ),
                (
                    self.kustomize_label_without_selector,
                    &mut k.label_without_selector,
                ),
            ] {
                if v.is_some() {
                    *field = v;
                }
            }
            for (v, field) in [
                (&self.kustomize_namespace, &mut k.namespace),
                (&self.kustomize_version, &mut k.version),
                (&self.nameprefix, &mut k.name_prefix),
                (&self.namesuffix, &mut k.name_suffix),
            ] {
                if let Some(v) = v {
                    *field = Some(v.clone());
                }
            }
        }
        let directory = self.directory_recurse.is_some()
            || self.directory_include.is_some()
            || self.directory_exclude.is_some();
        let jsonnet = !self.jsonnet_tla_str.is_empty()
            || !self.jsonnet_tla_code.is_empty()
            || !self.jsonnet_ext_var_str.is_empty()
            || !self.jsonnet_ext_var_code.is_empty()
            || !self.jsonnet_libs.is_empty();
        if directory || jsonnet {
            let d = s.directory.get_or_insert_with(Default::default);
            if self.directory_recurse.is_some() {
                d.recurse = self.directory_recurse;
            }
            if let Some(v) = &self.directory_include {
                d.include = Some(v.clone());
            }
            if let Some(v) = &self.directory_exclude {
                d.exclude = Some(v.clone());
            }
            if jsonnet {
                let j = d.jsonnet.get_or_insert_with(Default::default);
                for t in &self.jsonnet_tla_str {
                    set_var(&mut j.tlas, "jsonnet-tla-str", t, false)?;
                }
                for t in &self.jsonnet_tla_code {
                    set_var(&mut j.tlas, "jsonnet-tla-code", t, true)?;
                }
                for t in &self.jsonnet_ext_var_str {
                    set_var(&mut j.ext_vars, "jsonnet-ext-var-str", t, false)?;
                }
                for t in &self.jsonnet_ext_var_code {
                    set_var(&mut j.ext_vars, "jsonnet-ext-var-code", t, true)?;
                }
                if !self.jsonnet_libs.is_empty() {
                    j.libs = self.jsonnet_libs.clone();
                }
            }
        }
        Ok(())
    }
}

/// Runs `tether app set`.
pub fn run(c: &Client, out: &mut impl Write, a: &SetArgs, fmt: Output) -> anyhow::Result<ExitCode> {
    let path = format!("/api/v1/applications/{}", seg(&a.name));
    let app: Application =
        serde_json::from_value(c.get(&path)?).context("reading the application")?;
    let source_type = app
        .status
        .as_ref()
        .and_then(|s| s.source_type.clone())
        .unwrap_or_default();
    let mut spec = app.spec.clone();
    a.apply(&mut spec, &source_type)?;
    write_spec(c, out, &a.name, &app, &spec, a.timeout, fmt)
}

/// Writes `spec` for the app through `tether run` (unless it equals the app's) and waits until
/// `tether run` serves it; prints it with `-o json|yaml|wide`. `app set` and `app unset`.
pub(crate) fn write_spec(
    c: &Client,
    out: &mut impl Write,
    name: &str,
    app: &Application,
    spec: &ApplicationSpec,
    timeout: u64,
    fmt: Output,
) -> anyhow::Result<ExitCode> {
    let path = format!("/api/v1/applications/{}", seg(name));
    let new = serde_json::to_value(spec)?;
    if *spec == app.spec {
        eprintln!("application {name:?}: nothing to change");
    } else {
        let r = c.put(&format!("{path}/spec"), &new)?;
        eprintln!(
            "application {name:?} updated ({})",
            r.get("written").and_then(Value::as_str).unwrap_or("")
        );
        // Return once `tether run` serves the new spec, so the next command sees it.
        let start = Instant::now();
        loop {
            let now: Application = serde_json::from_value(c.get(&path)?)?;
            if now.spec == *spec {
                break;
            }
            if start.elapsed() > Duration::from_secs(timeout) {
                bail!(
                    "the spec was written, but `tether run` did not pick it up within {timeout}s"
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    if !structured(out, &new, fmt)? && fmt == Output::Wide {
        write!(out, "{}", serde_yaml::to_string(spec)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        set: SetArgs,
    }

    fn apply(spec: serde_json::Value, source_type: &str, args: &[&str]) -> anyhow::Result<Value> {
        let t = T::try_parse_from(std::iter::once("set").chain(args.iter().copied()))?;
        let mut s: ApplicationSpec = serde_json::from_value(spec)?;
        t.set.apply(&mut s, source_type)?;
        Ok(serde_json::to_value(&s)?)
    }

    #[test]
    fn helm_parameters_replace_by_name_and_need_a_helm_app() {
        let spec = serde_json::json!({"destination": {}, "project": "default",
            "source": {"repoURL": "r", "helm": {"parameters": [{"name": "a", "value": "1"}]}}});
        let got = apply(
            spec.clone(),
            "",
            &[
                "app",
                "-p",
                "a=2",
                "--helm-set-string",
                "b=3",
                "--values",
                "v.yaml",
            ],
        )
        .unwrap();
        assert_eq!(
            got["source"]["helm"],
            serde_json::json!({"parameters": [{"name": "a", "value": "2"}, {"name": "b", "value": "3", "forceString": true}], "valueFiles": ["v.yaml"]})
        );
        let plain = serde_json::json!({"destination": {}, "project": "default", "source": {"repoURL": "r"}});
        let e = apply(plain.clone(), "Directory", &["app", "-p", "a=1"]).unwrap_err();
        assert!(e.to_string().contains("only be set on Helm"), "{e}");
        assert!(apply(plain.clone(), "Helm", &["app", "-p", "a"]).is_err());
        let got = apply(plain, "Helm", &["app", "-p", "a=x=y"]).unwrap();
        assert_eq!(got["source"]["helm"]["parameters"][0]["value"], "x=y");
    }

    #[test]
    fn kustomize_images_merge_and_sync_policy_rules() {
        let spec = serde_json::json!({"destination": {}, "project": "default",
            "source": {"repoURL": "r", "kustomize": {"images": ["nginx:1.0", "redis=redis:7"]}}});
        let got = apply(
            spec.clone(),
            "Kustomize",
            &[
                "app",
                "--kustomize-image",
                "nginx:1.1",
                "--kustomize-image",
                "redis=redis:8",
                "--kustomize-replica",
                "web=3",
            ],
        )
        .unwrap();
        assert_eq!(
            got["source"]["kustomize"]["images"],
            serde_json::json!(["nginx:1.1", "redis=redis:8"])
        );
        assert_eq!(
            got["source"]["kustomize"]["replicas"],
            serde_json::json!([{"name": "web", "count": 3}])
        );
        let e = apply(spec.clone(), "", &["app", "--self-heal"]).unwrap_err();
        assert!(
            e.to_string().contains("not configured with automated sync"),
            "{e}"
        );
        let got = apply(
            spec.clone(),
            "",
            &[
                "app",
                "--sync-policy",
                "auto",
                "--self-heal",
                "--auto-prune=false",
                "--sync-option",
                "Prune=false",
                "--sync-retry-limit",
                "3",
                "--sync-retry-backoff-duration",
                "10s",
            ],
        )
        .unwrap();
        assert_eq!(
            got["syncPolicy"],
            serde_json::json!({"automated": {"prune": false, "selfHeal": true}, "syncOptions": ["Prune=false"], "retry": {"limit": 3, "backoff": {"duration": "10s"}}})
        );
        let got = apply(
            got,
            "",
            &[
                "app",
                "--sync-policy",
                "none",
                "--sync-option",
                "Prune=true",
            ],
        )
        .unwrap();
        assert_eq!(
            got["syncPolicy"],
            serde_json::json!({"syncOptions": ["Prune=true"], "retry": {"limit": 3, "backoff": {"duration": "10s"}}})
        );
        let multi = serde_json::json!({"destination": {}, "project": "default", "sources": [{"repoURL": "a"}, {"repoURL": "b"}]});
        assert!(apply(multi.clone(), "", &["app", "--revision", "v2"]).is_err());
        let got = apply(
            multi,
            "",
            &["app", "--revision", "v2", "--source-position", "2"],
        )
        .unwrap();
        assert_eq!(got["sources"][1]["targetRevision"], "v2");
    }
}
