//! The HTTP API of `tether run` (what the CLI talks to in file mode), `/healthz`, `/readyz`.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /healthz`, `GET /readyz` | liveness; readiness (the first declarations were loaded) |
//! | `GET /api/v1/applications` | every Application with status (`{"items": [...]}`) |
//! | `GET /api/v1/applications/{name}` | one Application |
//! | `GET /api/v1/applications/{name}/manifests` | the last rendered manifests |
//! | `GET /api/v1/applications/{name}/diff` | the last comparison: resources and unified diffs |
//! | `POST /api/v1/applications/{name}/diff` | compare `{"objects": [...]}` (rendered by `app diff --local`) with the live objects; `"sourcePosition": N` (multi-source): the objects replace source N's, the other sources are rendered as last compared |
//! | `GET /api/v1/applications/{name}/audit` | the app's audit log |
//! | `POST /api/v1/applications/{name}/sync` | request a sync (body: Argo CD's `SyncOperation`) |
//! | `POST /api/v1/applications/{name}/rollback` | `{"id": N, "prune": bool, "dryRun": bool}` |
//! | `POST /api/v1/applications/{name}/refresh?hard=true` | refresh now |
//! | `DELETE /api/v1/applications/{name}/operation` | terminate the running operation |
//! | `DELETE /api/v1/applications/{name}?cascade=true` | delete (cascade deletes live objects) |
//! | `GET /api/v1/projects`, `GET /api/v1/projects/{name}` | AppProjects |
//!
//! `PUT …/spec` (`app set`) is in [`crate::edit`]; `GET /api/v1/settings` (kustomize build
//! options) in [`crate::settings::router`].
//!
//! Errors are `{"error": "..."}` with 404 (unknown app), 409 (operation in progress) or 400.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tether_model::application::SyncOperation;

use crate::controller::{Controller, RequestError};

#[derive(Clone)]
struct Api {
    controller: Controller,
    ready: Arc<AtomicBool>,
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let code = match self {
            RequestError::NotFound(_) => StatusCode::NOT_FOUND,
            RequestError::Conflict(_) => StatusCode::CONFLICT,
            RequestError::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        (code, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// The API router; `ready` flips `/readyz` to 200.
pub fn router(controller: Controller, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/applications", get(list))
        .route("/api/v1/applications/{name}", get(get_app).delete(delete))
        .route("/api/v1/applications/{name}/manifests", get(manifests))
        .route(
            "/api/v1/applications/{name}/diff",
            get(diff).post(local_diff),
        )
        .route("/api/v1/applications/{name}/audit", get(audit))
        .route("/api/v1/applications/{name}/sync", post(sync))
        .route("/api/v1/applications/{name}/rollback", post(rollback))
        .route("/api/v1/applications/{name}/refresh", post(refresh))
        .route(
            "/api/v1/applications/{name}/operation",
            axum::routing::delete(terminate),
        )
        .route("/api/v1/projects", get(projects))
        .route("/api/v1/projects/{name}", get(project))
        .with_state(Api { controller, ready })
}

async fn readyz(State(api): State<Api>) -> Response {
    if api.ready.load(Ordering::SeqCst) {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

#[derive(Serialize)]
struct Items<T> {
    items: T,
}

async fn list(State(api): State<Api>) -> Response {
    // Serialized directly: through `json!` the 500 apps of the benchmark were a 15 MiB `Value`
    // tree at every poll.
    Json(Items {
        items: api.controller.apps(),
    })
    .into_response()
}

fn not_found(name: &str) -> RequestError {
    RequestError::NotFound(name.to_owned())
}

async fn get_app(State(api): State<Api>, Path(name): Path<String>) -> Response {
    match api.controller.app(&name) {
        Some(a) => Json(a).into_response(),
        None => not_found(&name).into_response(),
    }
}

async fn manifests(State(api): State<Api>, Path(name): Path<String>) -> Response {
    if api.controller.app(&name).is_none() {
        return not_found(&name).into_response();
    }
    match api.controller.manifests(&name) {
        Some(m) => Json(json!({"items": m})).into_response(),
        None => RequestError::Conflict(format!(
            "application {name:?} has not been rendered yet (see its conditions)"
        ))
        .into_response(),
    }
}

async fn diff(State(api): State<Api>, Path(name): Path<String>) -> Response {
    if api.controller.app(&name).is_none() {
        return not_found(&name).into_response();
    }
    let Some(c) = api.controller.comparison(&name) else {
        return RequestError::Conflict(format!(
            "application {name:?} has not been compared yet (see its conditions)"
        ))
        .into_response();
    };
    Json(diff_json(&c)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Objects {
    objects: Vec<serde_json::Value>,
    /// Multi-source apps: the objects stand for this source (1-based); the other sources are
    /// rendered at the revisions of the last comparison and added.
    #[serde(default)]
    source_position: Option<usize>,
}

/// `POST …/diff`: objects rendered by the CLI from a working copy, compared with the live ones.
async fn local_diff(
    State(api): State<Api>,
    Path(name): Path<String>,
    Json(body): Json<Objects>,
) -> Response {
    let mut objects = body.objects;
    if let Some(pos) = body.source_position {
        match api
            .controller
            .render_other_sources(&name, pos.saturating_sub(1))
            .await
        {
            Ok(others) => objects.extend(others),
            Err(e) => return e.into_response(),
        }
    }
    match api.controller.compare_with(&name, &objects).await {
        Ok(c) => Json(diff_json(&c)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A comparison as `GET …/diff` answers it.
pub fn diff_json(c: &crate::backend::Comparison) -> serde_json::Value {
    let items: Vec<_> = c
        .resources
        .iter()
        .map(|r| {
            json!({
                "group": r.status.group, "kind": r.status.kind, "namespace": r.status.namespace,
                "name": r.status.name, "status": r.status.status, "modified": r.modified,
                "diff": r.diff,
            })
        })
        .collect();
    json!({"sync": c.sync, "items": items})
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn audit(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(q): Query<Limit>,
) -> Response {
    Json(json!({"items": api.controller.audit_log(Some(&name), q.limit.unwrap_or(100))}))
        .into_response()
}

async fn sync(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Option<Json<SyncOperation>>,
) -> Response {
    let op = body.map(|Json(b)| b).unwrap_or_default();
    match api.controller.request_sync(&name, op, "admin").await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RollbackBody {
    id: i64,
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    dry_run: bool,
}

async fn rollback(
    State(api): State<Api>,
    Path(name): Path<String>,
    Json(b): Json<RollbackBody>,
) -> Response {
    match api
        .controller
        .rollback(&name, b.id, b.prune, b.dry_run, "admin")
        .await
    {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct Hard {
    hard: Option<bool>,
}

async fn refresh(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(q): Query<Hard>,
) -> Response {
    match api.controller.refresh(&name, q.hard.unwrap_or(false)) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn terminate(State(api): State<Api>, Path(name): Path<String>) -> Response {
    match api.controller.terminate(&name) {
        Ok(()) => Json(json!({"terminated": true})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct Cascade {
    cascade: Option<bool>,
}

async fn delete(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(q): Query<Cascade>,
) -> Response {
    match api
        .controller
        .delete(&name, q.cascade.unwrap_or(true))
        .await
    {
        Ok(left) => Json(json!({"deleted": true, "remaining": left})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn projects(State(api): State<Api>) -> Response {
    Json(json!({"items": api.controller.projects()})).into_response()
}

async fn project(State(api): State<Api>, Path(name): Path<String>) -> Response {
    match api
        .controller
        .projects()
        .into_iter()
        .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
    {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("appproject {name:?} not found")})),
        )
            .into_response(),
    }
}
