//! `crds:`: kustomize's legacy CRD support (`api/internal/accumulator/loadconfigfromcrds.go`).
//! Each file is a map of OpenAPI definitions (`{"<go package>.<Kind>": {"Schema": {...}}}`, JSON
//! or YAML). Definitions that look like Kubernetes types (properties `kind`, `apiVersion` and
//! `metadata`) are walked through their `$ref`s, and property extensions become field specs
//! for the kind named by the definition's last `.` segment:
//!
//! * `x-kubernetes-object-ref-api-version` + `x-kubernetes-object-ref-kind` (and optionally
//!   `x-kubernetes-object-ref-name-key`, default `name`): a name reference to that kind;
//! * `x-kubernetes-label-selector`: a `commonLabels` field; `x-kubernetes-annotation`: a
//!   `commonAnnotations` field; `x-kubernetes-identity`: a `namePrefix` field.

use crate::error::{Error, Result};
use crate::types::{FieldSpecDef, NameBackRefDef, TransformerConfigDef};
use serde_json::{Map, Value};
use std::path::Path;

/// Go's case-insensitive JSON field match for `Schema`.
fn schema_of(def: &Value) -> Option<&Map<String, Value>> {
    def.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schema"))
        .and_then(|(_, v)| v.as_object())
}

fn properties<'a>(defs: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    schema_of(defs.get(name)?)?.get("properties")?.as_object()
}

/// A string extension (go-openapi's `Extensions.GetString`: keys are case-insensitive, the
/// value must be a string).
fn ext<'a>(prop: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    prop.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| v.as_str())
}

fn spec(kind: &str, path: &[&str]) -> FieldSpecDef {
    FieldSpecDef {
        group: None,
        version: None,
        kind: Some(kind.to_string()),
        path: path.join("/"),
        create: Some(false),
    }
}

fn walk(
    out: &mut TransformerConfigDef,
    kind: &str,
    defs: &Map<String, Value>,
    type_name: &str,
    path: &mut Vec<String>,
) {
    // Definitions may refer to each other in a cycle; kustomize would recurse forever.
    if path.len() > 32 {
        return;
    }
    let Some(props) = properties(defs, type_name) else {
        return;
    };
    for (name, prop) in props {
        let Some(prop) = prop.as_object() else {
            continue;
        };
        path.push(name.clone());
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        if ext(prop, "x-kubernetes-annotation").is_some() {
            out.common_annotations.push(spec(kind, &p));
        }
        if ext(prop, "x-kubernetes-label-selector").is_some() {
            out.common_labels.push(spec(kind, &p));
        }
        if ext(prop, "x-kubernetes-identity").is_some() {
            out.name_prefix.push(spec(kind, &p));
        }
        if let (Some(version), Some(ref_kind)) = (
            ext(prop, "x-kubernetes-object-ref-api-version"),
            ext(prop, "x-kubernetes-object-ref-kind"),
        ) {
            let key = ext(prop, "x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut with_key = p.clone();
            with_key.push(key);
            out.name_reference.push(NameBackRefDef {
                group: None,
                version: Some(version.to_string()),
                kind: Some(ref_kind.to_string()),
                field_specs: vec![spec(kind, &with_key)],
            });
        }
        if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
            walk(out, kind, defs, r, path);
        }
        path.pop();
    }
}

/// The field specs a `crds:` file declares.
pub fn config_from_file(text: &str, path: &Path) -> Result<TransformerConfigDef> {
    let v: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }
    .map_err(|e| Error::InvalidKustomization {
        path: path.to_path_buf(),
        message: format!("unable to parse open API definition: {e}"),
    })?;
    let mut out = TransformerConfigDef::default();
    let Some(defs) = v.as_object() else {
        return Err(Error::InvalidKustomization {
            path: path.to_path_buf(),
            message: "unable to parse open API definition: expected a map of definitions".into(),
        });
    };
    for name in defs.keys() {
        let Some(props) = properties(defs, name) else {
            continue;
        };
        if !["kind", "apiVersion", "metadata"]
            .iter()
            .all(|k| props.contains_key(*k))
        {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        walk(&mut out, kind, defs, name, &mut Vec::new());
    }
    Ok(out)
}
