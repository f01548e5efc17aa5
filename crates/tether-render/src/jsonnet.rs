//! Jsonnet evaluation with jrsonnet: ext vars and top-level arguments (string or code) and
//! library paths, as Argo CD's `directory.jsonnet` block sets them.

use crate::{Error, Object, Result};
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{FileImportResolver, IStr, State, apply_tla};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An ext var or top-level argument.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct JsonnetVar {
    pub name: String,
    pub value: String,
    /// The value is Jsonnet code rather than a string.
    #[serde(default)]
    pub code: bool,
}

/// Argo CD's `directory.jsonnet`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JsonnetSettings {
    #[serde(default)]
    pub ext_vars: Vec<JsonnetVar>,
    #[serde(default)]
    pub tlas: Vec<JsonnetVar>,
    /// Library paths, relative to the repository root.
    #[serde(default)]
    pub libs: Vec<String>,
}

/// Evaluates a Jsonnet file into objects: the result may be an object or an array of objects.
// jrsonnet keys its top-level arguments by interned strings (`IStr`), which clippy flags.
#[allow(clippy::mutable_key_type)]
pub fn evaluate(file: &Path, settings: &JsonnetSettings, repo_root: &Path) -> Result<Vec<Object>> {
    let err = |message: String| Error::Jsonnet {
        path: file.to_path_buf(),
        message,
    };
    let mut libs: Vec<PathBuf> = settings.libs.iter().map(|l| repo_root.join(l)).collect();
    if let Some(parent) = file.parent() {
        libs.insert(0, parent.to_path_buf());
    }
    let ctx = jrsonnet_stdlib::ContextInitializer::new(PathResolver::new_cwd_fallback());
    for v in &settings.ext_vars {
        if v.code {
            ctx.add_ext_code(&v.name, &v.value)
                .map_err(|e| err(e.to_string()))?;
        } else {
            ctx.add_ext_str(v.name.as_str().into(), v.value.as_str().into());
        }
    }
    let mut b = State::builder();
    b.import_resolver(FileImportResolver::new(libs))
        .context_initializer(ctx);
    let state = b.build();
    let _guard = state.enter();
    let abs = std::fs::canonicalize(file).map_err(|e| err(e.to_string()))?;
    let val = state
        .import(abs.as_path())
        .map_err(|e| err(e.to_string()))?;
    let mut tlas: HashMap<IStr, TlaArg> = HashMap::new();
    for t in &settings.tlas {
        let arg = if t.code {
            TlaArg::InlineCode(t.value.clone())
        } else {
            TlaArg::String(t.value.as_str().into())
        };
        tlas.insert(t.name.as_str().into(), arg);
    }
    let val = apply_tla(&tlas, val).map_err(|e| err(e.to_string()))?;
    let json = val
        .manifest(JsonFormat::default())
        .map_err(|e| err(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| err(e.to_string()))?;
    match v {
        serde_json::Value::Object(m) => Ok(vec![m]),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                serde_json::Value::Object(m) => Ok(m),
                other => Err(err(format!(
                    "expected an array of objects, found an element `{other}`"
                ))),
            })
            .collect(),
        other => Err(err(format!(
            "expected an object or an array of objects, found `{other}`"
        ))),
    }
}
