//! `tether app unset NAME …`: Argo CD's `argocd app unset`, removing overrides from a source's
//! Helm and Kustomize settings. Written back as `tether app set` writes (the Application resource
//! in cluster mode, the declaring file with `--apps DIR`, refused with `--apps-repo`).
//!
//! As in Argo CD, a flag that names nothing present changes nothing (no error), and a `helm` or
//! `kustomize` block left empty is removed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tether_model::source::ApplicationSource;
use tether_model::{Application, ApplicationSpec};

use super::app::Output;
use super::app_set::{image_name, write_spec};
use super::client::{Client, seg};

/// `tether app unset`.
#[derive(Debug, Default, clap::Args)]
pub struct UnsetArgs {
    pub name: String,
    /// Which source of a multi-source app to change (counting from 1).
    #[arg(long, conflicts_with = "source_name")]
    pub source_position: Option<usize>,
    /// Which source of a multi-source app to change, by its `name`.
    #[arg(long)]
    pub source_name: Option<String>,

    /// Remove the Helm parameter of this name (repeatable).
    #[arg(short = 'p', long = "parameter", help_heading = "Helm")]
    pub parameters: Vec<String>,
    /// Remove this Helm value file (repeatable).
    #[arg(long, help_heading = "Helm")]
    pub values: Vec<String>,
    /// Remove the literal Helm values block (`values` and `valuesObject`).
    #[arg(long, help_heading = "Helm")]
    pub values_literal: bool,
    /// Revert `ignoreMissingValueFiles` to false.
    #[arg(long, help_heading = "Helm")]
    pub ignore_missing_value_files: bool,
    /// Revert Helm's `passCredentials` to false.
    #[arg(long, help_heading = "Helm")]
    pub pass_credentials: bool,

    /// Remove the image override with this name (`nginx` matches `nginx:1.25`; repeatable).
    #[arg(long = "kustomize-image", help_heading = "Kustomize")]
    pub kustomize_images: Vec<String>,
    /// Remove the replica override of this name (repeatable).
    #[arg(long = "kustomize-replica", help_heading = "Kustomize")]
    pub kustomize_replicas: Vec<String>,
    /// Remove `namePrefix`.
    #[arg(long, help_heading = "Kustomize")]
    pub nameprefix: bool,
    /// Remove `nameSuffix`.
    #[arg(long, help_heading = "Kustomize")]
    pub namesuffix: bool,
    /// Remove the Kustomize namespace.
    #[arg(long, help_heading = "Kustomize")]
    pub kustomize_namespace: bool,
    /// Remove the Kustomize version.
    #[arg(long, help_heading = "Kustomize")]
    pub kustomize_version: bool,
    /// Revert `ignoreMissingComponents` to false.
    #[arg(long, help_heading = "Kustomize")]
    pub ignore_missing_components: bool,

    /// Seconds to wait for `tether run` to serve the new spec.
    #[arg(long, default_value_t = 30, help_heading = "Options")]
    pub timeout: u64,
}

impl UnsetArgs {
    /// The source the flags apply to.
    fn source<'s>(
        &self,
        spec: &'s mut ApplicationSpec,
    ) -> anyhow::Result<&'s mut ApplicationSource> {
        if spec.sources.is_empty() {
            if self.source_position.is_some_and(|p| p != 1) || self.source_name.is_some() {
                bail!(
                    "the application has one source: `--source-position`/`--source-name` apply to multi-source applications"
                );
            }
            return spec
                .source
                .as_mut()
                .context("the application has no source");
        }
        let n = spec.sources.len();
        if let Some(name) = &self.source_name {
            return spec
                .sources
                .iter_mut()
                .find(|s| s.name.as_deref() == Some(name.as_str()))
                .with_context(|| format!("`--source-name {name}`: no source has that name"));
        }
        let Some(pos) = self.source_position.filter(|p| *p > 0) else {
            bail!(
                "`--source-position` (counting from 1) or `--source-name` is required for an application with {n} sources"
            );
        };
        spec.sources
            .get_mut(pos - 1)
            .with_context(|| format!("`--source-position {pos}`: the application has {n} sources"))
    }

    /// Removes the named overrides from `spec`.
    pub fn apply(&self, spec: &mut ApplicationSpec) -> anyhow::Result<()> {
        let s = self.source(spec)?;
        if let Some(h) = s.helm.as_mut() {
            h.parameters
                .retain(|p| !self.parameters.iter().any(|n| p.name.as_deref() == Some(n)));
            h.value_files.retain(|f| !self.values.contains(f));
            if self.values_literal {
                h.values = None;
                h.values_object = None;
            }
            if self.ignore_missing_value_files {
                h.ignore_missing_value_files = None;
            }
            if self.pass_credentials {
                h.pass_credentials = None;
            }
            if *h == Default::default() {
                s.helm = None;
            }
        }
        if let Some(k) = s.kustomize.as_mut() {
            k.images.retain(|img| {
                !self
                    .kustomize_images
                    .iter()
                    .any(|u| image_name(u) == image_name(img))
            });
            k.replicas
                .retain(|r| !self.kustomize_replicas.contains(&r.name));
            for (flag, field) in [
                (self.nameprefix, &mut k.name_prefix),
                (self.namesuffix, &mut k.name_suffix),
                (self.kustomize_namespace, &mut k.namespace),
                (self.kustomize_version, &mut k.version),
            ] {
                if flag {
                    *field = None;
                }
            }
            if self.ignore_missing_components {
                k.ignore_missing_components = None;
            }
            if *k == Default::default() {
                s.kustomize = None;
            }
        }
        Ok(())
    }
}

/// Runs `tether app unset`.
pub fn run(
    c: &Client,
    out: &mut impl Write,
    a: &UnsetArgs,
    fmt: Output,
) -> anyhow::Result<ExitCode> {
    let path = format!("/api/v1/applications/{}", seg(&a.name));
    let app: Application =
        serde_json::from_value(c.get(&path)?).context("reading the application")?;
    let mut spec = app.spec.clone();
    a.apply(&mut spec)?;
    write_spec(c, out, &a.name, &app, &spec, a.timeout, fmt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::{Value, json};

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        unset: UnsetArgs,
    }

    fn apply(spec: Value, args: &[&str]) -> anyhow::Result<Value> {
        let t = T::try_parse_from(std::iter::once("unset").chain(args.iter().copied()))?;
        let mut s: ApplicationSpec = serde_json::from_value(spec)?;
        t.unset.apply(&mut s)?;
        Ok(serde_json::to_value(&s)?)
    }

    #[test]
    fn helm_parameters_values_and_the_literal_block() {
        let spec = json!({"destination": {}, "project": "default", "source": {"repoURL": "r",
            "helm": {"parameters": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
                     "valueFiles": ["v1.yaml", "v2.yaml"], "values": "x: 1", "passCredentials": true}}});
        let got = apply(
            spec.clone(),
            &["app", "-p", "a", "--values", "v2.yaml", "--values-literal"],
        )
        .unwrap();
        assert_eq!(
            got["source"]["helm"],
            json!({"parameters": [{"name": "b", "value": "2"}], "valueFiles": ["v1.yaml"], "passCredentials": true})
        );
        // Everything gone: no `helm` block left; names not present change nothing.
        let got = apply(
            got,
            &[
                "app",
                "-p",
                "b",
                "-p",
                "zz",
                "--values",
                "v1.yaml",
                "--pass-credentials",
            ],
        )
        .unwrap();
        assert_eq!(got["source"], json!({"repoURL": "r"}));
    }

    #[test]
    fn kustomize_prefix_suffix_images_and_sources() {
        let spec = json!({"destination": {}, "project": "default", "sources": [{"repoURL": "a"},
            {"repoURL": "b", "name": "overlay", "kustomize": {"namePrefix": "p-", "nameSuffix": "-s",
             "images": ["nginx:1.25", "redis=redis:7", "nginx=nginx:1.0"],
             "replicas": [{"name": "web", "count": 2}]}}]});
        let e = apply(spec.clone(), &["app", "--nameprefix"]).unwrap_err();
        assert!(e.to_string().contains("--source-position"), "{e}");
        let got = apply(
            spec.clone(),
            &[
                "app",
                "--source-position",
                "2",
                "--nameprefix",
                "--kustomize-image",
                "nginx",
            ],
        )
        .unwrap();
        assert_eq!(
            got["sources"][1]["kustomize"],
            json!({"nameSuffix": "-s", "images": ["redis=redis:7", "nginx=nginx:1.0"],
                   "replicas": [{"name": "web", "count": 2}]})
        );
        let got = apply(
            got,
            &[
                "app",
                "--source-name",
                "overlay",
                "--namesuffix",
                "--kustomize-image",
                "redis=x",
                "--kustomize-image",
                "nginx=y",
                "--kustomize-replica",
                "web",
            ],
        )
        .unwrap();
        assert_eq!(
            got["sources"][1],
            json!({"repoURL": "b", "name": "overlay"})
        );
        assert!(apply(spec, &["app", "--source-name", "nope", "--namesuffix"]).is_err());
    }
}
