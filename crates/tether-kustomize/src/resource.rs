//! A resource in the accumulator: the object as JSON plus the bookkeeping kustomize keeps in
//! internal annotations (previous ids, prefixes and suffixes, generator behaviour).

use crate::error::{Error, Result};
use crate::resid::{Gvk, ResId};
use serde_json::{Map, Value};
use std::path::Path;

/// How a generated object joins the accumulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

impl Behavior {
    /// Parses kustomize's `behavior` field.
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s.unwrap_or("") {
            "" | "create" => Ok(Behavior::Create),
            "merge" => Ok(Behavior::Merge),
            "replace" => Ok(Behavior::Replace),
            other => Err(Error::Generator(format!(
                "unknown generator behavior `{other}`"
            ))),
        }
    }
}

/// One object being built.
#[derive(Debug, Clone)]
pub struct Resource {
    pub obj: Map<String, Value>,
    /// Ids the object had before renames, oldest first.
    pub prev_ids: Vec<ResId>,
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Set for generated ConfigMaps and Secrets.
    pub behavior: Option<Behavior>,
    pub needs_hash: bool,
    /// Names of vars this object references (legacy vars).
    pub ref_var_names: Vec<String>,
    /// Where the object came from, as kustomize's `config.kubernetes.io/origin` annotation.
    pub origin: Option<String>,
    /// The transformers that ran over the object (`configuredIn`, builtin kind), for
    /// `buildMetadata: [transformerAnnotations]`.
    pub transformations: Vec<(String, &'static str)>,
}

fn str_at<'a>(obj: &'a Map<String, Value>, a: &str, b: Option<&str>) -> &'a str {
    let v = obj.get(a);
    let v = match b {
        Some(b) => v.and_then(|m| m.get(b)),
        None => v,
    };
    v.and_then(Value::as_str).unwrap_or("")
}

impl Resource {
    pub fn new(obj: Map<String, Value>) -> Self {
        Resource {
            obj,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            behavior: None,
            needs_hash: false,
            ref_var_names: Vec::new(),
            origin: None,
            transformations: Vec::new(),
        }
    }

    pub fn kind(&self) -> &str {
        str_at(&self.obj, "kind", None)
    }
    pub fn api_version(&self) -> &str {
        str_at(&self.obj, "apiVersion", None)
    }
    pub fn name(&self) -> &str {
        str_at(&self.obj, "metadata", Some("name"))
    }
    pub fn namespace(&self) -> &str {
        str_at(&self.obj, "metadata", Some("namespace"))
    }
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }
    pub fn cur_id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }
    /// The id the object had when it was loaded.
    pub fn org_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }
    /// Every id the object has had, then its current id.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut v = self.prev_ids.clone();
        v.push(self.cur_id());
        v
    }
    /// Records the current id before a rename.
    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        self.prev_ids.push(id);
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let md = self
            .obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !md.is_object() {
            *md = Value::Object(Map::new());
        }
        md.as_object_mut()
            .expect("metadata was just made an object")
    }
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }
    pub fn set_namespace(&mut self, ns: &str) {
        if ns.is_empty() {
            self.metadata_mut().remove("namespace");
        } else {
            self.metadata_mut()
                .insert("namespace".into(), Value::String(ns.into()));
        }
    }
    /// A string map under `metadata` (labels or annotations).
    pub fn meta_map(&self, field: &str) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
    pub fn set_meta_map(&mut self, field: &str, m: Map<String, Value>) {
        if m.is_empty() {
            self.metadata_mut().remove(field);
        } else {
            self.metadata_mut().insert(field.into(), Value::Object(m));
        }
    }
}

/// Parses a YAML or JSON stream into objects. `List` kinds are expanded.
pub fn parse_objects(text: &str, path: &Path) -> Result<Vec<Map<String, Value>>> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| Error::InvalidResource {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        push_object(v, path, &mut out)?;
    }
    Ok(out)
}

fn push_object(v: Value, path: &Path, out: &mut Vec<Map<String, Value>>) -> Result<()> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) if m.is_empty() => Ok(()),
        Value::Object(m) => {
            let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
                if let Some(Value::Array(items)) = m.get("items") {
                    for item in items.clone() {
                        push_object(item, path, out)?;
                    }
                }
                return Ok(());
            }
            if kind.is_empty() {
                return Err(Error::InvalidResource {
                    path: path.to_path_buf(),
                    message: "missing Resource metadata: the object has no `kind`".into(),
                });
            }
            out.push(m);
            Ok(())
        }
        other => Err(Error::InvalidResource {
            path: path.to_path_buf(),
            message: format!(
                "expected a Kubernetes object (a map), found {}",
                type_name(&other)
            ),
        }),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
