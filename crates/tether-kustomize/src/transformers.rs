//! The built-in transformers a kustomization configures: namespace, name prefix and suffix,
//! labels and annotations, images and replica counts.

use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, Leaf, TransformerConfig};
use crate::resid::Gvk;
use crate::resource::Resource;
use crate::types::{Image, Label, Replica, StrMap};
use regex::Regex;
use serde_json::Value;

fn apply_spec(
    r: &mut Resource,
    fs: &FieldSpec,
    leaf: Leaf,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<()> {
    let mut v = Value::Object(std::mem::take(&mut r.obj));
    let res = fs.apply(&mut v, leaf, f);
    if let Value::Object(m) = v {
        r.obj = m;
    }
    res.map_err(|e| Error::Transform(format!("{e} (field spec `{}`) in {}", fs.path, r.cur_id())))
}

/// `namespace:`.
pub fn namespace(res: &mut [Resource], ns: &str, cfg: &TransformerConfig) -> Result<()> {
    if ns.is_empty() {
        return Ok(());
    }
    for r in res.iter_mut() {
        r.store_previous_id();
        let gvk = r.gvk();
        if !gvk.is_cluster_scoped() {
            r.set_namespace(ns);
        }
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects.iter_mut() {
                if let Value::Object(m) = s
                    && m.get("name").and_then(Value::as_str) == Some("default")
                {
                    m.insert("namespace".into(), Value::String(ns.into()));
                }
            }
        }
        for fs in &cfg.namespace {
            if fs.path == "metadata/namespace" || fs.path == "subjects" || !gvk.is_selected(&fs.gvk)
            {
                continue;
            }
            apply_spec(r, fs, Leaf::Scalar, &mut |v| {
                *v = Value::String(ns.into());
                Ok(())
            })?;
        }
    }
    check_unique(res, "namespace transformation produces ID conflict")
}

fn check_unique(res: &[Resource], msg: &str) -> Result<()> {
    for (i, a) in res.iter().enumerate() {
        let ai = a.cur_id();
        if res[i + 1..].iter().any(|b| b.cur_id().matches(&ai)) {
            return Err(Error::Conflict(format!("{msg}: {ai}")));
        }
    }
    Ok(())
}

fn skip_rename(id: &Gvk) -> bool {
    id.kind == "CustomResourceDefinition"
        || (id.kind == "APIService" && id.group == "apiregistration.k8s.io")
        || id.kind == "Namespace"
}

/// `namePrefix:` and `nameSuffix:`.
pub fn prefix_suffix(
    res: &mut [Resource],
    prefix: &str,
    suffix: &str,
    cfg: &TransformerConfig,
) -> Result<()> {
    for (is_prefix, affix, specs) in [
        (true, prefix, &cfg.name_prefix),
        (false, suffix, &cfg.name_suffix),
    ] {
        for r in res.iter_mut() {
            let org = r.org_id();
            if skip_rename(&org.gvk) {
                continue;
            }
            for fs in specs {
                if !org.gvk.is_selected(&fs.gvk) {
                    continue;
                }
                if fs.path == "metadata/name" {
                    if is_prefix {
                        r.prefixes.push(affix.to_string());
                    } else {
                        r.suffixes.push(affix.to_string());
                    }
                    if !affix.is_empty() {
                        r.store_previous_id();
                    }
                }
                if affix.is_empty() {
                    continue;
                }
                apply_spec(r, fs, Leaf::None, &mut |v| {
                    if let Value::String(s) = v {
                        *s = if is_prefix {
                            format!("{affix}{s}")
                        } else {
                            format!("{s}{affix}")
                        };
                    }
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

fn set_entries(map_node: &mut Value, pairs: &StrMap) -> Result<(), String> {
    match map_node {
        Value::Object(m) => {
            for (k, v) in pairs {
                m.insert(k.clone(), Value::String(v.clone()));
            }
            Ok(())
        }
        Value::Null => Ok(()),
        _ => Err("expected a map".into()),
    }
}

fn apply_map(res: &mut [Resource], pairs: &StrMap, specs: &[FieldSpec]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in res.iter_mut() {
        let gvk = r.gvk();
        for fs in specs {
            if !gvk.is_selected(&fs.gvk) {
                continue;
            }
            apply_spec(r, fs, Leaf::Map, &mut |v| set_entries(v, pairs))?;
        }
    }
    Ok(())
}

/// `labels:` entries, then `commonLabels:`.
pub fn labels(
    res: &mut [Resource],
    labels: &[Label],
    common: &StrMap,
    cfg: &TransformerConfig,
) -> Result<()> {
    for l in labels {
        let mut specs: Vec<FieldSpec> = l.fields.iter().map(FieldSpec::from_def).collect();
        let add = |specs: &mut Vec<FieldSpec>, more: &[FieldSpec]| {
            for fs in more {
                if !specs.iter().any(|x| x.gvk == fs.gvk && x.path == fs.path) {
                    specs.push(fs.clone());
                }
            }
        };
        if l.include_selectors {
            add(&mut specs, &cfg.common_labels);
        } else {
            add(
                &mut specs,
                &[FieldSpec::new("", "", "", "metadata/labels", true)],
            );
            if l.include_templates {
                add(&mut specs, &cfg.template_labels);
            }
        }
        apply_map(res, &l.pairs, &specs)?;
    }
    apply_map(res, common, &cfg.common_labels)
}

/// `commonAnnotations:`.
pub fn annotations(res: &mut [Resource], common: &StrMap, cfg: &TransformerConfig) -> Result<()> {
    apply_map(res, common, &cfg.common_annotations)
}

/// Splits an image reference into name, tag and digest as kustomize does.
pub fn split_image(image: &str) -> (String, String, String) {
    let (search, offset) = match image.find('/') {
        Some(i) if i > 0 => (&image[i..], i),
        _ => (image, 0),
    };
    let id = search.find('@');
    let ic = search.find(':');
    match (ic, id) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (ic, Some(id)) if ic.is_none_or(|c| id < c) => {
            let id = id + offset;
            (
                image[..id].to_string(),
                String::new(),
                image[id + 1..].to_string(),
            )
        }
        (Some(ic), Some(id)) => {
            let (ic, id) = (ic + offset, id + offset);
            (
                image[..ic].to_string(),
                image[ic + 1..id].to_string(),
                image[id + 1..].to_string(),
            )
        }
        (Some(ic), None) => {
            let ic = ic + offset;
            (
                image[..ic].to_string(),
                image[ic + 1..].to_string(),
                String::new(),
            )
        }
        (None, Some(_)) => unreachable!("covered by the digest-only arm"),
    }
}

struct ImageUpdater<'a> {
    img: &'a Image,
    re: Option<Regex>,
}

impl ImageUpdater<'_> {
    fn update(&self, v: &mut Value) {
        let Value::String(s) = v else { return };
        if !self.matches(s) {
            return;
        }
        let (mut name, mut tag, mut digest) = split_image(s);
        if let Some(n) = self.img.new_name.as_deref().filter(|n| !n.is_empty()) {
            name = n.to_string();
        }
        let new_tag = self.img.new_tag.as_deref().unwrap_or("");
        let new_digest = self.img.digest.as_deref().unwrap_or("");
        if !new_tag.is_empty() {
            tag = new_tag.to_string();
            digest = new_digest.to_string();
        } else if !new_digest.is_empty() {
            tag.clear();
            digest = new_digest.to_string();
        }
        if !tag.is_empty() {
            name.push(':');
            name.push_str(&tag);
        }
        if !digest.is_empty() {
            name.push('@');
            name.push_str(&digest);
        }
        *s = name;
    }

    /// kustomize matches on the image's name part: `nginx` matches `nginx`, `nginx:1` and
    /// `nginx:1@sha256:…`, not `mirror/nginx`; the name is an anchored regular expression.
    fn matches(&self, image: &str) -> bool {
        let name = split_image(image).0;
        match &self.re {
            Some(re) => re.is_match(&name),
            None => name == self.img.name,
        }
    }

    fn legacy(&self, v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    if (k == "containers" || k == "initContainers")
                        && let Value::Array(items) = child
                    {
                        for it in items.iter_mut() {
                            if let Some(img) = it.as_object_mut().and_then(|c| c.get_mut("image")) {
                                self.update(img);
                            }
                        }
                    }
                    self.legacy(child);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.legacy(i)),
            _ => {}
        }
    }
}

/// `images:`.
pub fn images(res: &mut [Resource], images: &[Image], cfg: &TransformerConfig) -> Result<()> {
    for img in images {
        // The name is a regular expression matched against the whole name part.
        let re = Regex::new(&format!("^(?:{})$", img.name)).ok();
        let up = ImageUpdater { img, re };
        for r in res.iter_mut() {
            let mut v = Value::Object(std::mem::take(&mut r.obj));
            up.legacy(&mut v);
            if let Value::Object(m) = v {
                r.obj = m;
            }
            let gvk = r.gvk();
            for fs in &cfg.images {
                let legacy_path = fs
                    .segs
                    .iter()
                    .any(|s| s.name == "containers" || s.name == "initContainers");
                if legacy_path || !gvk.is_selected(&fs.gvk) {
                    continue;
                }
                apply_spec(r, fs, Leaf::None, &mut |v| {
                    up.update(v);
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// `replicas:`.
pub fn replicas(res: &mut [Resource], replicas: &[Replica], cfg: &TransformerConfig) -> Result<()> {
    for rep in replicas {
        let mut found = false;
        for fs in &cfg.replicas {
            for r in res.iter_mut() {
                let hit = r
                    .all_ids()
                    .iter()
                    .any(|id| id.name == rep.name && id.gvk.is_selected(&fs.gvk));
                if !hit {
                    continue;
                }
                found = true;
                apply_spec(r, fs, Leaf::Scalar, &mut |v| {
                    *v = Value::from(rep.count);
                    Ok(())
                })?;
            }
        }
        if !found {
            return Err(Error::Transform(format!(
                "resource with name {} does not match a config with the following GVK {:?}",
                rep.name,
                cfg.replicas
                    .iter()
                    .map(|f| f.gvk.kind.clone())
                    .collect::<Vec<_>>()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn split() {
        assert_eq!(split_image("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(
            split_image("nginx:1.2"),
            ("nginx".into(), "1.2".into(), "".into())
        );
        assert_eq!(
            split_image("r:5000/a/b:1@sha256:x"),
            ("r:5000/a/b".into(), "1".into(), "sha256:x".into())
        );
        assert_eq!(
            split_image("a@sha256:x"),
            ("a".into(), "".into(), "sha256:x".into())
        );
    }
}
