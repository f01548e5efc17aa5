//! Argo CD's `spec.source.kustomize` block, applied to a kustomization in memory the way Argo
//! CD applies it with `kustomize edit` before building.

use crate::build::{BuildOptions, Objects, build_with, load_kustomization};
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::transformers::split_image;
use crate::types::{Image, Kustomization, Label, Patch, Replica, StrMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A replica override: the count may be written as a number or a string.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ArgoReplica {
    pub name: String,
    pub count: serde_json::Value,
}

/// Argo CD's `source.kustomize`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoKustomize {
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub name_suffix: Option<String>,
    /// `name=newName:tag`, `name:tag`, `name@digest`, …
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub common_labels: StrMap,
    #[serde(default)]
    pub common_annotations: StrMap,
    #[serde(default)]
    pub force_common_labels: bool,
    #[serde(default)]
    pub force_common_annotations: bool,
    #[serde(default)]
    pub label_without_selector: bool,
    #[serde(default)]
    pub label_include_templates: bool,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub replicas: Vec<ArgoReplica>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub components: Vec<String>,
}

/// Parses an Argo CD / `kustomize edit set image` argument.
pub fn parse_image_override(arg: &str) -> Image {
    let (name, rest) = match arg.split_once('=') {
        Some((n, r)) => (n.to_string(), Some(r)),
        None => (split_image(arg).0, None),
    };
    let (new_name, tag, digest) = match rest {
        Some(r) => {
            let (n, t, d) = split_image(r);
            (Some(n), t, d)
        }
        None => {
            let (_, t, d) = split_image(arg);
            (None, t, d)
        }
    };
    Image {
        name,
        new_name: new_name.filter(|n| !n.is_empty()),
        new_tag: Some(tag).filter(|t| !t.is_empty()),
        digest: Some(digest).filter(|d| !d.is_empty()),
        tag_suffix: None,
    }
}

fn add_map(into: &mut StrMap, add: &StrMap, force: bool, what: &str) -> Result<()> {
    for (k, v) in add {
        if into.contains_key(k) && !force {
            return Err(Error::Transform(format!(
                "{what} {k} already in kustomization file\nhint: set `force{}` to override it",
                if what == "label" {
                    "CommonLabels"
                } else {
                    "CommonAnnotations"
                }
            )));
        }
        into.insert(k.clone(), v.clone());
    }
    Ok(())
}

/// Applies the overrides to a kustomization.
pub fn apply_overrides(k: &mut Kustomization, o: &ArgoKustomize) -> Result<()> {
    if let Some(p) = &o.name_prefix {
        k.name_prefix = Some(p.clone());
    }
    if let Some(s) = &o.name_suffix {
        k.name_suffix = Some(s.clone());
    }
    for arg in &o.images {
        let img = parse_image_override(arg);
        match k.images.iter_mut().find(|i| i.name == img.name) {
            Some(existing) => {
                if img.new_name.is_some() {
                    existing.new_name = img.new_name.clone();
                }
                if img.new_tag.is_some() {
                    existing.new_tag = img.new_tag.clone();
                    existing.digest = None;
                }
                if img.digest.is_some() {
                    existing.digest = img.digest.clone();
                    existing.new_tag = None;
                }
            }
            None => k.images.push(img),
        }
    }
    if !o.common_labels.is_empty() {
        if o.label_without_selector {
            let mut pairs = StrMap::new();
            for l in &k.labels {
                for (key, v) in &l.pairs {
                    pairs.insert(key.clone(), v.clone());
                }
            }
            let mut fresh = StrMap::new();
            add_map(&mut pairs, &o.common_labels, o.force_common_labels, "label")?;
            for (key, v) in &o.common_labels {
                fresh.insert(key.clone(), v.clone());
            }
            k.labels.push(Label {
                pairs: fresh,
                include_selectors: false,
                include_templates: o.label_include_templates,
                fields: Vec::new(),
            });
        } else {
            add_map(
                &mut k.common_labels,
                &o.common_labels,
                o.force_common_labels,
                "label",
            )?;
        }
    }
    add_map(
        &mut k.common_annotations,
        &o.common_annotations,
        o.force_common_annotations,
        "annotation",
    )?;
    if let Some(ns) = o.namespace.as_ref().filter(|n| !n.is_empty()) {
        k.namespace = Some(ns.clone());
    }
    for r in &o.replicas {
        let count = match &r.count {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::Transform(format!("replica count of `{}` is not an integer", r.name))
        })?;
        match k.replicas.iter_mut().find(|x| x.name == r.name) {
            Some(x) => x.count = count,
            None => k.replicas.push(Replica {
                name: r.name.clone(),
                count,
            }),
        }
    }
    k.patches.extend(o.patches.iter().cloned());
    for c in &o.components {
        if !k.components.contains(c) {
            k.components.push(c.clone());
        }
    }
    Ok(())
}

/// Builds `dir` with Argo CD's overrides applied.
pub fn build_argocd(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &BuildOptions,
    o: &ArgoKustomize,
) -> Result<Objects> {
    let (mut k, _) = load_kustomization(fs, dir)?;
    apply_overrides(&mut k, o)?;
    build_with(fs, dir, opts, Some(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_args() {
        let i = parse_image_override("nginx=reg/nginx:1.2");
        assert_eq!(
            (i.name.as_str(), i.new_name.as_deref(), i.new_tag.as_deref()),
            ("nginx", Some("reg/nginx"), Some("1.2"))
        );
        let i = parse_image_override("nginx:1.3");
        assert_eq!(
            (i.name.as_str(), i.new_name, i.new_tag.as_deref()),
            ("nginx", None, Some("1.3"))
        );
        let i = parse_image_override("nginx@sha256:abc");
        assert_eq!(i.digest.as_deref(), Some("sha256:abc"));
    }
}
