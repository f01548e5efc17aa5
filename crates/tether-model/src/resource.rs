//! Resource keys and Argo CD's tracking ids.

use std::fmt;

/// Identifies a Kubernetes object independent of version: group, kind, namespace and name.
/// The empty group is the core group; the empty namespace means cluster-scoped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ResourceKey {
    /// A key from its four parts.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The key of a manifest: group from `apiVersion`, plus kind, namespace and name.
    pub fn from_object(obj: &serde_json::Value) -> Option<Self> {
        let api_version = obj.get("apiVersion")?.as_str()?;
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let meta = obj.get("metadata")?;
        Some(Self::new(
            group,
            obj.get("kind")?.as_str()?,
            meta.get("namespace")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default(),
            meta.get("name")?.as_str()?,
        ))
    }
}

impl fmt::Display for ResourceKey {
    /// `group/Kind/namespace/name`, as Argo CD prints resource keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }
}

/// Argo CD's `argocd.argoproj.io/tracking-id`: `<app>:<group>/<Kind>:<namespace>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingId {
    /// The application name (`<namespace>_<name>` for applications outside the control namespace).
    pub app: String,
    pub key: ResourceKey,
}

/// A tracking id that does not have Argo CD's shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tracking id {0:?}: expected <app>:<group>/<Kind>:<namespace>/<name>")]
pub struct TrackingIdError(pub String);

impl TrackingId {
    /// Parses a tracking id.
    pub fn parse(id: &str) -> Result<Self, TrackingIdError> {
        let err = || TrackingIdError(id.to_owned());
        let mut parts = id.split(':');
        let (Some(app), Some(group_kind), Some(ns_name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        let (group, kind) = group_kind.split_once('/').ok_or_else(err)?;
        let (namespace, name) = ns_name.split_once('/').ok_or_else(err)?;
        if app.is_empty() || kind.is_empty() || name.is_empty() || name.contains('/') {
            return Err(err());
        }
        Ok(Self {
            app: app.to_owned(),
            key: ResourceKey::new(group, kind, namespace, name),
        })
    }
}

impl fmt::Display for TrackingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = &self.key;
        write!(
            f,
            "{}:{}/{}:{}/{}",
            self.app, k.group, k.kind, k.namespace, k.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_ids_round_trip() {
        for id in [
            "guestbook:apps/Deployment:guestbook/guestbook-ui",
            "guestbook:/Service:guestbook/guestbook-ui",
            "argocd_app:rbac.authorization.k8s.io/ClusterRole:/admin-view",
        ] {
            let parsed = TrackingId::parse(id).expect("valid id");
            assert_eq!(parsed.to_string(), id);
        }
        let t = TrackingId::parse("guestbook:/Service:guestbook/guestbook-ui").expect("valid");
        assert_eq!(
            t.key,
            ResourceKey::new("", "Service", "guestbook", "guestbook-ui")
        );
    }

    #[test]
    fn malformed_tracking_ids_are_refused() {
        for id in [
            "",
            "app",
            "app:apps/Deployment",
            "app:Deployment:ns/name",
            "app:apps/Deployment:name",
            ":/Service:ns/x",
            "a:b/c:d/e:f",
        ] {
            assert!(TrackingId::parse(id).is_err(), "{id}");
        }
    }

    #[test]
    fn keys_from_manifests() {
        let obj = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}});
        assert_eq!(
            ResourceKey::from_object(&obj),
            Some(ResourceKey::new("apps", "Deployment", "prod", "web"))
        );
        let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
        assert_eq!(
            ResourceKey::from_object(&obj)
                .map(|k| k.to_string())
                .as_deref(),
            Some("/Namespace//prod")
        );
        assert_eq!(
            ResourceKey::from_object(&serde_json::json!({"kind": "X"})),
            None
        );
    }
}
