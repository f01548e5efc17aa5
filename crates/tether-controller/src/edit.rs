//! The API route behind `tether app set`, next to [`crate::api`]:
//!
//! | method and path | what |
//! |---|---|
//! | `PUT /api/v1/applications/{name}/spec` | replace the app's spec where it is declared (body: the spec) |
//!
//! Where a spec goes depends on where Applications come from ([`SpecWriter`]):
//! - cluster mode: the Application resource's `.spec` (a JSON patch, as `argocd app set` updates
//!   the resource);
//! - `--apps DIR`: the file and document that declare the app are rewritten in place (the
//!   other documents of the file are kept byte for byte; comments inside the edited document are
//!   lost). The files stay the one source of truth: the change shows in `git diff` when DIR is
//!   a working copy and survives restarts;
//! - `--apps-repo`: refused (409). The declarations are in Git; commit the change there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tether_model::{Application, ApplicationSpec};

use crate::controller::{Controller, RequestError};

/// Writes an Application's spec where it is declared.
#[async_trait]
pub trait SpecWriter: Send + Sync + 'static {
    /// Replaces the spec of `name`, declared at `origin` (file mode: `file:document`); returns
    /// where it was written, for the CLI to show.
    async fn write_spec(
        &self,
        name: &str,
        origin: &str,
        spec: &Value,
    ) -> Result<String, RequestError>;
}

/// Cluster mode: patches the Application resource.
pub struct KubeSpecWriter {
    api: Api<DynamicObject>,
    namespace: String,
}

impl KubeSpecWriter {
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced_with(client, namespace, &ApiResource::erase::<Application>(&())),
            namespace: namespace.to_owned(),
        }
    }
}

#[async_trait]
impl SpecWriter for KubeSpecWriter {
    async fn write_spec(&self, name: &str, _: &str, spec: &Value) -> Result<String, RequestError> {
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "replace", "path": "/spec", "value": spec}]))
                .map_err(|e| RequestError::Invalid(e.to_string()))?;
        self.api
            .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.code == 404 => RequestError::NotFound(name.into()),
                kube::Error::Api(s) if s.code == 409 => RequestError::Conflict(s.message),
                e => RequestError::Invalid(e.to_string()),
            })?;
        Ok(format!(
            "application.argoproj.io/{name} in namespace {}",
            self.namespace
        ))
    }
}

/// `--apps DIR`: rewrites the declaring document.
pub struct FileSpecWriter {
    pub dir: PathBuf,
}

/// `--apps-repo`: refuses.
pub struct RepoSpecWriter {
    pub url: String,
    pub path: String,
}

#[async_trait]
impl SpecWriter for RepoSpecWriter {
    async fn write_spec(
        &self,
        name: &str,
        origin: &str,
        _: &Value,
    ) -> Result<String, RequestError> {
        Err(RequestError::Conflict(format!(
            "application {name:?} is declared in Git ({}, path {}, {origin}): `tether run --apps-repo` does not write to Git; commit the change there",
            self.url, self.path
        )))
    }
}

#[async_trait]
impl SpecWriter for FileSpecWriter {
    async fn write_spec(
        &self,
        name: &str,
        origin: &str,
        spec: &Value,
    ) -> Result<String, RequestError> {
        let dir = self.dir.clone();
        let (name, origin, spec) = (name.to_owned(), origin.to_owned(), spec.clone());
        tokio::task::spawn_blocking(move || rewrite(&dir, &name, &origin, &spec))
            .await
            .map_err(|e| RequestError::Invalid(e.to_string()))?
    }
}

/// Byte ranges of the documents of a YAML stream: the text between `---` separator lines.
fn documents(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        let separator = t == "---" || t.starts_with("--- ") || t.starts_with("---\t");
        if separator {
            out.push((start, pos));
            start = pos + line.len();
        }
        pos += line.len();
    }
    out.push((start, text.len()));
    out
}

fn rewrite(dir: &Path, name: &str, origin: &str, spec: &Value) -> Result<String, RequestError> {
    let refuse = |m: String| RequestError::Conflict(m);
    let (file, number) = origin
        .rsplit_once(':')
        .and_then(|(f, n)| Some((f, n.parse::<usize>().ok()?)))
        .ok_or_else(|| refuse(format!("application {name:?}: unknown origin {origin:?}")))?;
    let rel = Path::new(file);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(refuse(format!(
            "application {name:?}: origin {origin:?} is outside the apps directory"
        )));
    }
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| refuse(format!("reading `{}`: {e}", path.display())))?;
    let json = path.extension().is_some_and(|e| e == "json");
    let ranges = if json {
        vec![(0, text.len())]
    } else {
        documents(&text)
    };
    let mut seen = 0;
    for (a, b) in ranges {
        let chunk = &text[a..b];
        let doc: serde_yaml::Value = serde_yaml::from_str(chunk).unwrap_or(serde_yaml::Value::Null);
        if doc.is_null() {
            continue;
        }
        seen += 1;
        if seen != number {
            continue;
        }
        let declared = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(serde_yaml::Value::as_str);
        if declared != Some(name) {
            return Err(refuse(format!(
                "`{file}` changed since it was read (document {number} is no longer {name:?}); try again"
            )));
        }
        let mut doc = doc;
        let new_spec =
            serde_yaml::to_value(spec).map_err(|e| RequestError::Invalid(e.to_string()))?;
        if let Some(m) = doc.as_mapping_mut() {
            m.insert("spec".into(), new_spec);
        }
        let mut written = if json {
            let v: Value =
                serde_yaml::from_value(doc).map_err(|e| RequestError::Invalid(e.to_string()))?;
            serde_json::to_string_pretty(&v).map_err(|e| RequestError::Invalid(e.to_string()))?
                + "\n"
        } else {
            serde_yaml::to_string(&doc).map_err(|e| RequestError::Invalid(e.to_string()))?
        };
        // Keep what separated this document from the next one.
        if b < text.len() && !written.ends_with('\n') {
            written.push('\n');
        }
        let new_text = format!("{}{written}{}", &text[..a], &text[b..]);
        let tmp = path.with_extension("tether-tmp");
        std::fs::write(&tmp, new_text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| refuse(format!("writing `{}`: {e}", path.display())))?;
        return Ok(format!("{file} (document {number})"));
    }
    Err(refuse(format!(
        "`{file}` changed since it was read (no document {number}); try again"
    )))
}

#[derive(Clone)]
struct EditApi {
    controller: Controller,
    writer: Arc<dyn SpecWriter>,
}

/// The routes; merge them into [`crate::api::router`]'s.
pub fn router(controller: Controller, writer: Arc<dyn SpecWriter>) -> Router {
    Router::new()
        .route("/api/v1/applications/{name}/spec", put(set_spec))
        .with_state(EditApi { controller, writer })
}

async fn set_spec(
    State(api): State<EditApi>,
    UrlPath(name): UrlPath<String>,
    Json(spec): Json<Value>,
) -> Response {
    if let Err(e) = serde_json::from_value::<ApplicationSpec>(spec.clone()) {
        return RequestError::Invalid(format!("spec: {e}")).into_response();
    }
    let Some(origin) = api.controller.origin(&name) else {
        return RequestError::NotFound(name).into_response();
    };
    match api.writer.write_spec(&name, &origin, &spec).await {
        Ok(to) => Json(json!({"written": to})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_one_document_and_keeps_the_others() {
        let d = tempfile::tempdir().unwrap();
        let text = "# projects\napiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: p}\n---\n# the app\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\nspec:\n  project: default\n---\n\n---\nkind: Application\nmetadata: {name: b}   # keep me\n";
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/apps.yaml"), text).unwrap();
        let to = rewrite(d.path(), "a", "sub/apps.yaml:2", &json!({"project": "x"})).unwrap();
        assert_eq!(to, "sub/apps.yaml (document 2)");
        let got = std::fs::read_to_string(d.path().join("sub/apps.yaml")).unwrap();
        assert_eq!(
            got,
            "# projects\napiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: p}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\nspec:\n  project: x\n---\n\n---\nkind: Application\nmetadata: {name: b}   # keep me\n"
        );
        // A stale origin is refused, the file untouched.
        assert!(rewrite(d.path(), "a", "sub/apps.yaml:3", &json!({})).is_err());
        assert!(rewrite(d.path(), "a", "../apps.yaml:1", &json!({})).is_err());
        assert_eq!(
            std::fs::read_to_string(d.path().join("sub/apps.yaml")).unwrap(),
            got
        );
    }
}
