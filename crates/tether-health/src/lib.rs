//! Resource health as Argo CD assesses it (gitops-engine `pkg/health` plus Argo CD's Lua
//! customisations), with no cluster I/O: objects come in as JSON, statuses go out.
//!
//! ```
//! use tether_health::{HealthChecker, LuaOverrides};
//! use tether_model::application::HealthStatusCode;
//!
//! let checker = HealthChecker::new(LuaOverrides::new());
//! let pvc = serde_json::json!({
//!     "apiVersion": "v1", "kind": "PersistentVolumeClaim",
//!     "metadata": {"name": "data"}, "status": {"phase": "Bound"}
//! });
//! assert_eq!(checker.check(&pvc).map(|h| h.status), Some(HealthStatusCode::Healthy));
//! ```
//!
//! - [`HealthChecker::check`]: one object (deletion, then a Lua override, then the built-in rule).
//! - [`HealthChecker::app_health`]: an application's health from its managed resources.
//! - [`testing::run_dir`]: Argo CD's `health_test.yaml` fixtures, behind `tether health test`.

mod builtin;
pub mod lua;
pub mod overrides;
pub mod testing;

use serde_json::Value;
pub use tether_model::application::{HealthStatus, HealthStatusCode};

pub use builtin::{ANNOTATION_IGNORE_RESTART_POLICY, BadField};
pub use lua::{LuaError, LuaLimits, LuaScript};
pub use overrides::{LoadError, LuaOverrides, override_key};

/// Annotation that keeps a resource out of its application's health.
pub const ANNOTATION_IGNORE_HEALTHCHECK: &str = "argocd.argoproj.io/ignore-healthcheck";
/// Argo CD's hook annotation.
pub const ANNOTATION_HOOK: &str = "argocd.argoproj.io/hook";
/// Helm's hook annotation (Argo CD treats Helm hooks as hooks).
pub const ANNOTATION_HELM_HOOK: &str = "helm.sh/hook";
/// The finalizer Argo CD puts on running hooks; a hook being deleted with it is judged normally.
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// A health status with a message (empty message means none).
pub fn health(status: HealthStatusCode, message: impl Into<String>) -> HealthStatus {
    let message = message.into();
    HealthStatus {
        status,
        message: (!message.is_empty()).then_some(message),
        last_transition_time: None,
    }
}

/// The API group and kind of an object (`""` for the core group).
pub fn group_kind(obj: &Value) -> (&str, &str) {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    (
        group,
        obj.get("kind").and_then(Value::as_str).unwrap_or_default(),
    )
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// Argo CD hook types of an object: its `argocd.argoproj.io/hook` list if present, else Helm's
/// `helm.sh/hook` list mapped as Argo CD maps it.
pub fn hook_types(obj: &Value) -> Vec<String> {
    let split = |s: &str| {
        s.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    };
    if let Some(v) = annotation(obj, ANNOTATION_HOOK) {
        return split(v);
    }
    let Some(helm) = annotation(obj, ANNOTATION_HELM_HOOK) else {
        return Vec::new();
    };
    let helm: Vec<String> = split(helm);
    helm.iter()
        .filter_map(|t| match t.as_str() {
            "crd-install" | "pre-install" | "pre-upgrade" => Some("PreSync"),
            "post-install" | "post-upgrade" => Some("PostSync"),
            _ => None,
        })
        .map(String::from)
        .collect()
}

/// Whether an object is only there to be skipped (`argocd.argoproj.io/hook: Skip`).
pub fn is_skip(obj: &Value) -> bool {
    let types = hook_types(obj);
    types.len() == 1 && types[0] == "Skip"
}

/// Whether an object is a sync hook (Argo CD or Helm), as gitops-engine's `hook.IsHook`.
pub fn is_hook(obj: &Value) -> bool {
    if annotation(obj, ANNOTATION_HOOK).is_some() {
        return !is_skip(obj);
    }
    // Helm marks CRDs with the same annotation; they are not hooks.
    annotation(obj, ANNOTATION_HELM_HOOK).is_some_and(|v| v != "crd-install")
}

fn is_being_deleted(obj: &Value) -> bool {
    let Some(meta) = obj.get("metadata") else {
        return false;
    };
    if meta.get("deletionTimestamp").is_none_or(Value::is_null) {
        return false;
    }
    let has_hook_finalizer = meta
        .get("finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|f| f.as_str() == Some(HOOK_FINALIZER)));
    !has_hook_finalizer
}

/// Assesses resource health: built-in rules plus Lua overrides, each Lua run bounded by [`LuaLimits`].
/// Cheap to share: it holds only the scripts' text.
#[derive(Debug, Clone, Default)]
pub struct HealthChecker {
    overrides: LuaOverrides,
    limits: LuaLimits,
}

/// One resource an application manages, as the comparison sees it.
#[derive(Debug, Clone, Copy)]
pub struct ManagedResource<'a> {
    /// API group (`""` for the core group).
    pub group: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// The object in the cluster, if it exists.
    pub live: Option<&'a Value>,
    /// The desired object, if it is desired.
    pub target: Option<&'a Value>,
}

/// An application's health and the health of each resource (in input order; `None` where the resource
/// has no health, e.g. a ConfigMap, or was left out as Argo CD leaves hooks out).
#[derive(Debug, Clone, PartialEq)]
pub struct AppHealth {
    /// The worst status of the resources that count.
    pub status: HealthStatusCode,
    /// Per-resource health.
    pub resources: Vec<Option<HealthStatus>>,
}

impl HealthChecker {
    /// A checker with these Lua overrides and the default limits.
    pub fn new(overrides: LuaOverrides) -> Self {
        Self {
            overrides,
            limits: LuaLimits::default(),
        }
    }

    /// The same checker with other Lua limits.
    pub fn with_limits(mut self, limits: LuaLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether a health check (override or built-in) exists for a group and kind.
    pub fn has_check(&self, group: &str, kind: &str) -> bool {
        self.overrides.find(group, kind).is_some() || builtin::check_for(group, kind).is_some()
    }

    /// The health of one object, as gitops-engine's `GetResourceHealth`: an object being deleted is
    /// `Progressing` ("Pending deletion"); then a Lua override if one applies; then the built-in rule.
    /// `None` when no check applies (Argo CD leaves such resources without health). A failing Lua
    /// check gives `Unknown` with the error as message; it never panics.
    pub fn check(&self, obj: &Value) -> Option<HealthStatus> {
        if is_being_deleted(obj) {
            return Some(health(HealthStatusCode::Progressing, "Pending deletion"));
        }
        let (group, kind) = group_kind(obj);
        if let Some(script) = self.overrides.find(group, kind) {
            return match script.run(obj, &self.limits) {
                Ok(health) => health,
                Err(e) => Some(health(HealthStatusCode::Unknown, e.to_string())),
            };
        }
        builtin::check(group, kind, obj)
    }

    /// An application's health from its managed resources, as Argo CD's `setApplicationHealth`:
    /// the worst status, starting from `Healthy`, where these do not count: desired objects marked
    /// `Skip`; live objects annotated `argocd.argoproj.io/ignore-healthcheck: "true"`; hooks; the
    /// application itself (`self_app`: namespace and name, for an app that manages its own manifest);
    /// missing resources of kinds without any health check; and child Applications that are
    /// `Missing` or `Unknown`.
    pub fn app_health(
        &self,
        resources: &[ManagedResource<'_>],
        self_app: Option<(&str, &str)>,
    ) -> AppHealth {
        let mut status = HealthStatusCode::Healthy;
        let mut out = Vec::with_capacity(resources.len());
        for res in resources {
            let h = self.resource_health(res, self_app);
            if let Some(h) = &h {
                let missing_without_check =
                    h.status == HealthStatusCode::Missing && !self.has_check(res.group, res.kind);
                let quiet_child_app = res.group == "argoproj.io"
                    && res.kind == "Application"
                    && matches!(
                        h.status,
                        HealthStatusCode::Missing | HealthStatusCode::Unknown
                    );
                if !missing_without_check && !quiet_child_app && h.status.is_worse(status) {
                    status = h.status;
                }
            }
            out.push(h);
        }
        AppHealth {
            status,
            resources: out,
        }
    }

    fn resource_health(
        &self,
        res: &ManagedResource<'_>,
        self_app: Option<(&str, &str)>,
    ) -> Option<HealthStatus> {
        if res.target.is_some_and(is_skip) {
            return None;
        }
        let Some(live) = res.live else {
            return Some(health(HealthStatusCode::Missing, ""));
        };
        if annotation(live, ANNOTATION_IGNORE_HEALTHCHECK) == Some("true") || is_hook(live) {
            return None;
        }
        if let Some((ns, name)) = self_app
            && res.group == "argoproj.io"
            && res.kind == "Application"
        {
            let meta = live.get("metadata");
            let field = |f: &str| {
                meta.and_then(|m| m.get(f))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            };
            if field("name") == name && field("namespace") == ns {
                return None;
            }
        }
        self.check(live)
    }
}
