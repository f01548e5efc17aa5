//! Which application owns a live object, by Argo CD's tracking methods (argocd-cm
//! `application.resourceTrackingMethod`):
//!
//! - `annotation` (the default since Argo CD 3): `argocd.argoproj.io/tracking-id:
//!   <app>:<group>/<Kind>:<namespace>/<name>`;
//! - `annotation+label`: the annotation decides; the label is informational only;
//! - `label`: the instance label (`application.instanceLabelKey`, default
//!   `app.kubernetes.io/instance`) holds the app name.
//!
//! With the annotation methods, an object whose tracking id names another object (the annotation
//! was copied, e.g. by a controller copying its parent's metadata) belongs to no app, as Argo CD's
//! `isSelfReferencedObj` decides. With an installation id (argocd-cm `installationID`), only
//! objects annotated `argocd.argoproj.io/installation-id` with that id are tracked, and without
//! one, objects carrying any installation id are not.

use std::collections::BTreeMap;

use serde_json::Value;
use tether_model::annotations::{INSTANCE_LABEL, TRACKING_ID};
use tether_model::resource::TrackingId;

/// Annotation naming the Argo CD installation that manages an object.
pub const INSTALLATION_ID: &str = "argocd.argoproj.io/installation-id";
/// argocd-cm key of the tracking method.
pub const TRACKING_METHOD_KEY: &str = "application.resourceTrackingMethod";
/// argocd-cm key of the instance label.
pub const INSTANCE_LABEL_KEY: &str = "application.instanceLabelKey";
/// argocd-cm key of the installation id.
pub const INSTALLATION_ID_KEY: &str = "installationID";

/// Argo CD's label values are truncated to this length.
const LABEL_MAX: usize = 63;

/// How ownership is recorded on objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackingMethod {
    #[default]
    Annotation,
    AnnotationAndLabel,
    Label,
}

/// An unknown tracking method in argocd-cm.
#[derive(Debug, thiserror::Error)]
#[error(
    "argocd-cm `{TRACKING_METHOD_KEY}`: unknown tracking method `{0}` (expected `annotation`, `annotation+label` or `label`)"
)]
pub struct TrackingMethodError(pub String);

impl std::str::FromStr for TrackingMethod {
    type Err = TrackingMethodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "annotation" => Ok(Self::Annotation),
            "annotation+label" => Ok(Self::AnnotationAndLabel),
            "label" => Ok(Self::Label),
            other => Err(TrackingMethodError(other.to_owned())),
        }
    }
}

/// Tracking settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    pub method: TrackingMethod,
    /// The instance label key.
    pub label_key: String,
    /// This installation's id, if set.
    pub installation_id: Option<String>,
}

impl Default for Tracking {
    fn default() -> Self {
        Self {
            method: TrackingMethod::Annotation,
            label_key: INSTANCE_LABEL.to_owned(),
            installation_id: None,
        }
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn meta_map<'a>(obj: &'a Value, field: &str, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.get(key)?.as_str()
}

/// `(group, kind)` of an object from its `apiVersion` and `kind`.
pub(crate) fn group_kind(obj: &Value) -> (&str, &str) {
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

impl Tracking {
    /// Settings from argocd-cm's data.
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Self, TrackingMethodError> {
        let method = data
            .get(TRACKING_METHOD_KEY)
            .map(|m| m.parse())
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            method,
            label_key: data
                .get(INSTANCE_LABEL_KEY)
                .filter(|k| !k.is_empty())
                .cloned()
                .unwrap_or_else(|| INSTANCE_LABEL.to_owned()),
            installation_id: data
                .get(INSTALLATION_ID_KEY)
                .filter(|i| !i.is_empty())
                .cloned(),
        })
    }

    /// The parsed tracking id of an object, if it has one that belongs to this installation.
    pub fn tracking_id(&self, obj: &Value) -> Option<TrackingId> {
        let installation = meta_map(obj, "annotations", INSTALLATION_ID).unwrap_or_default();
        if installation != self.installation_id.as_deref().unwrap_or_default() {
            return None;
        }
        TrackingId::parse(meta_map(obj, "annotations", TRACKING_ID)?).ok()
    }

    /// The application that owns a live object, or `None`. A copied tracking annotation (naming
    /// another object) gives `None`.
    pub fn app_of(&self, obj: &Value) -> Option<String> {
        match self.method {
            TrackingMethod::Label => meta_map(obj, "labels", &self.label_key)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
            TrackingMethod::Annotation | TrackingMethod::AnnotationAndLabel => {
                let id = self.tracking_id(obj)?;
                is_self_referenced(obj, &id).then_some(id.app)
            }
        }
    }

    /// Marks a desired object as owned by `app`, as Argo CD does before comparing and applying:
    /// the tracking annotation (with `default_namespace` for objects without a namespace, as
    /// Argo CD writes it) and/or the instance label (truncated to 63 characters, ending in an
    /// alphanumeric).
    pub fn set_app_instance(&self, obj: &mut Value, app: &str, default_namespace: &str) {
        let (group, kind) = group_kind(obj);
        let ns = match meta_str(obj, "namespace") {
            "" => default_namespace,
            ns => ns,
        };
        let id = format!("{app}:{group}/{kind}:{ns}/{}", meta_str(obj, "name"));
        let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        let mut set = |field: &str, key: &str, value: String| {
            let map = meta
                .entry(field)
                .or_insert_with(|| Value::Object(Default::default()));
            if !map.is_object() {
                *map = Value::Object(Default::default());
            }
            if let Some(m) = map.as_object_mut() {
                m.insert(key.to_owned(), Value::String(value));
            }
        };
        if self.method != TrackingMethod::Label {
            set("annotations", TRACKING_ID, id);
            if let Some(i) = &self.installation_id {
                set("annotations", INSTALLATION_ID, i.clone());
            }
        }
        if self.method != TrackingMethod::Annotation {
            set("labels", &self.label_key, label_value(app));
        }
    }
}

fn label_value(app: &str) -> String {
    if app.len() <= LABEL_MAX {
        return app.to_owned();
    }
    let mut cut = LABEL_MAX;
    while !app.is_char_boundary(cut) {
        cut -= 1;
    }
    app[..cut]
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Whether a tracking id names the object it is on: same group, kind and name, and the same
/// namespace unless the object is cluster-scoped (Argo CD writes the app's destination namespace
/// into the ids of cluster-scoped objects).
pub fn is_self_referenced(obj: &Value, id: &TrackingId) -> bool {
    let (group, kind) = group_kind(obj);
    let ns = meta_str(obj, "namespace");
    (ns.is_empty() || ns == id.key.namespace)
        && meta_str(obj, "name") == id.key.name
        && group == id.key.group
        && kind == id.key.kind
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, ann: Value, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "prod", "annotations": ann, "labels": labels}})
    }

    #[test]
    fn annotation_tracking_and_copied_annotations() {
        let t = Tracking::default();
        let own = cm(
            "web",
            json!({TRACKING_ID: "guestbook:/ConfigMap:prod/web"}),
            json!({}),
        );
        assert_eq!(t.app_of(&own).as_deref(), Some("guestbook"));
        // The same annotation copied onto another object.
        let copied = cm(
            "web-copy",
            json!({TRACKING_ID: "guestbook:/ConfigMap:prod/web"}),
            json!({}),
        );
        assert_eq!(t.app_of(&copied), None);
        // A label alone does not count with annotation tracking.
        let labelled = cm("x", json!({}), json!({INSTANCE_LABEL: "guestbook"}));
        assert_eq!(t.app_of(&labelled), None);
        // Malformed ids are ignored.
        assert_eq!(
            t.app_of(&cm("web", json!({TRACKING_ID: "guestbook"}), json!({}))),
            None
        );
    }

    #[test]
    fn cluster_scoped_objects_carry_the_destination_namespace() {
        let t = Tracking::default();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team",
            "annotations": {TRACKING_ID: "apps:/Namespace:argocd/team"}}});
        assert_eq!(t.app_of(&ns).as_deref(), Some("apps"));
    }

    #[test]
    fn label_tracking_with_a_custom_key() {
        let data = BTreeMap::from([
            (TRACKING_METHOD_KEY.to_owned(), "label".to_owned()),
            (
                INSTANCE_LABEL_KEY.to_owned(),
                "argocd.argoproj.io/instance".to_owned(),
            ),
        ]);
        let t = Tracking::from_config_map(&data).expect("valid");
        let obj = cm(
            "x",
            json!({}),
            json!({"argocd.argoproj.io/instance": "guestbook"}),
        );
        assert_eq!(t.app_of(&obj).as_deref(), Some("guestbook"));
        // The default label does not count when another key is configured.
        assert_eq!(
            t.app_of(&cm("x", json!({}), json!({INSTANCE_LABEL: "g"}))),
            None
        );
        assert!(
            Tracking::from_config_map(&BTreeMap::from([(
                TRACKING_METHOD_KEY.to_owned(),
                "labels".to_owned()
            )]))
            .is_err()
        );
    }

    #[test]
    fn annotation_and_label_decides_by_annotation() {
        let t = Tracking {
            method: TrackingMethod::AnnotationAndLabel,
            ..Tracking::default()
        };
        let obj = cm(
            "web",
            json!({TRACKING_ID: "a:/ConfigMap:prod/web"}),
            json!({INSTANCE_LABEL: "b"}),
        );
        assert_eq!(t.app_of(&obj).as_deref(), Some("a"));
        let mut desired =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let long = "x".repeat(62) + "-yz";
        t.set_app_instance(&mut desired, &long, "prod");
        assert_eq!(
            desired["metadata"]["annotations"][TRACKING_ID],
            json!(format!("{long}:apps/Deployment:prod/web"))
        );
        assert_eq!(
            desired["metadata"]["labels"][INSTANCE_LABEL],
            json!("x".repeat(62))
        );
    }

    #[test]
    fn installation_ids_must_match() {
        let mine = Tracking {
            installation_id: Some("blue".into()),
            ..Tracking::default()
        };
        let theirs = cm(
            "web",
            json!({TRACKING_ID: "a:/ConfigMap:prod/web", INSTALLATION_ID: "green"}),
            json!({}),
        );
        let ours = cm(
            "web",
            json!({TRACKING_ID: "a:/ConfigMap:prod/web", INSTALLATION_ID: "blue"}),
            json!({}),
        );
        let none = cm(
            "web",
            json!({TRACKING_ID: "a:/ConfigMap:prod/web"}),
            json!({}),
        );
        assert_eq!(mine.app_of(&theirs), None);
        assert_eq!(mine.app_of(&ours).as_deref(), Some("a"));
        assert_eq!(mine.app_of(&none), None);
        assert_eq!(Tracking::default().app_of(&ours), None);
        assert_eq!(Tracking::default().app_of(&none).as_deref(), Some("a"));
        let mut d = cm("web", json!({}), json!({}));
        mine.set_app_instance(&mut d, "a", "prod");
        assert_eq!(mine.app_of(&d).as_deref(), Some("a"));
    }
}
