//! Argo CD's `spec.source.kustomize` block, applied to a kustomization in memory the way Argo
//! CD applies it with `kustomize edit` before building.

use crate::build::{BuildOptions, Objects, build_with, load_kustomization};
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::transformers::split_image;
use crate::types::{Image, Kustomization, Label, Patch, Replica, Selector, StrMap};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::path::Path;
pub use tether_model::source::ApplicationSourceKustomize;
use tether_model::source::KustomizePatch;

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

fn add_map(
    into: &mut StrMap,
    add: &BTreeMap<String, String>,
    force: bool,
    what: &str,
) -> Result<()> {
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
pub fn apply_overrides(k: &mut Kustomization, o: &ApplicationSourceKustomize) -> Result<()> {
    let force_labels = o.force_common_labels.unwrap_or(false);
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
        if o.label_without_selector.unwrap_or(false) {
            let mut pairs = StrMap::new();
            for l in &k.labels {
                for (key, v) in &l.pairs {
                    pairs.insert(key.clone(), v.clone());
                }
            }
            let mut fresh = StrMap::new();
            add_map(&mut pairs, &o.common_labels, force_labels, "label")?;
            for (key, v) in &o.common_labels {
                fresh.insert(key.clone(), v.clone());
            }
            k.labels.push(Label {
                pairs: fresh,
                include_selectors: false,
                include_templates: o.label_include_templates.unwrap_or(false),
                fields: Vec::new(),
            });
        } else {
            add_map(
                &mut k.common_labels,
                &o.common_labels,
                force_labels,
                "label",
            )?;
        }
    }
    add_map(
        &mut k.common_annotations,
        &o.common_annotations,
        o.force_common_annotations.unwrap_or(false),
        "annotation",
    )?;
    if let Some(ns) = o.namespace.as_ref().filter(|n| !n.is_empty()) {
        k.namespace = Some(ns.clone());
    }
    for r in &o.replicas {
        let count = match &r.count {
            IntOrString::Int(n) => Some(i64::from(*n)),
            IntOrString::String(s) => s.parse().ok(),
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
    k.patches.extend(o.patches.iter().map(patch_from_argo));
    for c in &o.components {
        if !k.components.contains(c) {
            k.components.push(c.clone());
        }
    }
    Ok(())
}

/// An Application's inline patch as a kustomization patch.
fn patch_from_argo(p: &KustomizePatch) -> Patch {
    Patch {
        path: p.path.clone(),
        patch: p.patch.clone(),
        target: p.target.as_ref().map(|t| Selector {
            group: t.group.clone(),
            version: t.version.clone(),
            kind: t.kind.clone(),
            name: t.name.clone(),
            namespace: t.namespace.clone(),
            label_selector: t.label_selector.clone(),
            annotation_selector: t.annotation_selector.clone(),
        }),
        options: p.options.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    }
}

/// Builds `dir` with Argo CD's overrides applied.
pub fn build_argocd(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &BuildOptions,
    o: &ApplicationSourceKustomize,
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
