//! `ignoreDifferences`: which rules match an object and what they remove, from the Application
//! (`spec.ignoreDifferences`) and from argocd-cm (`resource.customizations.ignoreDifferences.<group_kind>`,
//! `...ignoreDifferences.all`, the legacy `resource.customizations` map, `resource.compareoptions`).
//!
//! Matching follows Argo CD's ignore normaliser: group and kind are globs ([`crate::glob_match`]),
//! name and namespace are exact when set. A matching rule removes its `jsonPointers` and its
//! `jqPathExpressions` (`del(<expr>)`, time-limited); when any rule matched, empty objects and
//! arrays left behind are removed too. `managedFieldsManagers` are handled by [`crate::managed`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tether_model::source::ResourceIgnoreDifferences;

use crate::jq::{self, Step};
use crate::{DiffError, glob_match, remove_json_pointers};

/// Which objects' `status` the comparison ignores (`resource.compareoptions.ignoreResourceStatusField`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IgnoreStatus {
    /// CustomResourceDefinitions only (Argo CD's default, also for unknown values).
    #[default]
    Crd,
    /// Every object.
    All,
    /// None.
    Off,
}

/// argocd-cm's `resource.compareoptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceCompareOptions {
    /// `ignoreAggregatedRoles`: the `rules` of a ClusterRole/Role with an `aggregationRule` are not compared.
    pub ignore_aggregated_roles: bool,
    /// `ignoreResourceStatusField`.
    pub ignore_resource_status_field: IgnoreStatus,
}

/// System-level diff settings read from argocd-cm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemSettings {
    /// One rule per `<group>/<kind>` override (group and kind may be globs; `all` is `*/*`).
    pub overrides: Vec<ResourceIgnoreDifferences>,
    /// `resource.compareoptions`.
    pub compare: ResourceCompareOptions,
}

/// The `ignoreDifferences` of a resource override, written in argocd-cm as YAML.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OverrideIgnoreDiff {
    #[serde(default, alias = "jSONPointers")]
    json_pointers: Vec<String>,
    #[serde(default)]
    jq_path_expressions: Vec<String>,
    #[serde(default)]
    managed_fields_managers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompareOptionsYaml {
    #[serde(default)]
    ignore_aggregated_roles: bool,
    /// A string (`crd`, `all`, `off`) or, as YAML 1.1 readers see `off`, a boolean.
    #[serde(default)]
    ignore_resource_status_field: Option<serde_yaml::Value>,
}

const CUSTOMIZATIONS: &str = "resource.customizations";
const SPLIT_PREFIX: &str = "resource.customizations.ignoreDifferences.";
const COMPARE_OPTIONS_KEY: &str = "resource.compareoptions";

impl SystemSettings {
    /// Reads argocd-cm's `data`. Keys that don't concern diffing are left alone.
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Self, DiffError> {
        let bad = |key: &str, message: String| DiffError::Settings {
            key: key.to_string(),
            message,
        };
        // Override key (`group/kind` or `kind`) -> rule; insertion order kept for stable output.
        let mut overrides: Vec<(String, OverrideIgnoreDiff)> = Vec::new();
        if let Some(text) = data.get(CUSTOMIZATIONS).filter(|t| !t.trim().is_empty()) {
            let map: BTreeMap<String, BTreeMap<String, serde_yaml::Value>> =
                serde_yaml::from_str(text).map_err(|e| bad(CUSTOMIZATIONS, e.to_string()))?;
            for (gk, fields) in map {
                let Some(v) = fields.get("ignoreDifferences") else {
                    continue;
                };
                let parsed: OverrideIgnoreDiff = match v {
                    serde_yaml::Value::String(s) => serde_yaml::from_str(s),
                    other => serde_yaml::from_value(other.clone()),
                }
                .map_err(|e| {
                    bad(
                        &format!("{CUSTOMIZATIONS} {gk}.ignoreDifferences"),
                        e.to_string(),
                    )
                })?;
                overrides.push((gk, parsed));
            }
        }
        for (key, text) in data {
            let Some(group_kind) = key.strip_prefix(SPLIT_PREFIX) else {
                continue;
            };
            let gk = if group_kind == "all" {
                "*/*".to_string()
            } else {
                match group_kind.split('_').collect::<Vec<_>>().as_slice() {
                    [group, kind] => format!("{group}/{kind}"),
                    [kind] if !kind.is_empty() => kind.to_string(),
                    _ => {
                        return Err(bad(
                            key,
                            "the group kind must be `<group>_<kind>`, `<kind>` or `all`".into(),
                        ));
                    }
                }
            };
            let parsed: OverrideIgnoreDiff =
                serde_yaml::from_str(text).map_err(|e| bad(key, e.to_string()))?;
            // A split key replaces the same group/kind from the legacy map, as in Argo CD.
            overrides.retain(|(k, _)| *k != gk);
            overrides.push((gk, parsed));
        }
        let compare_yaml: CompareOptionsYaml = match data.get(COMPARE_OPTIONS_KEY) {
            Some(text) if !text.trim().is_empty() => {
                serde_yaml::from_str(text).map_err(|e| bad(COMPARE_OPTIONS_KEY, e.to_string()))?
            }
            _ => CompareOptionsYaml::default(),
        };
        let status = match &compare_yaml.ignore_resource_status_field {
            Some(serde_yaml::Value::String(s)) if s == "all" => IgnoreStatus::All,
            Some(serde_yaml::Value::String(s)) if s == "off" || s == "false" => IgnoreStatus::Off,
            Some(serde_yaml::Value::Bool(false)) => IgnoreStatus::Off,
            _ => IgnoreStatus::Crd,
        };
        let mut rules: Vec<ResourceIgnoreDifferences> = Vec::new();
        for (gk, o) in overrides {
            let (group, kind) = match gk.split_once('/') {
                Some((g, k)) if !k.contains('/') => (g.to_string(), k.to_string()),
                None => (String::new(), gk.clone()),
                Some(_) => {
                    return Err(bad(
                        CUSTOMIZATIONS,
                        format!("override key must be <group>/<kind> or <kind>, got `{gk}`"),
                    ));
                }
            };
            if o.json_pointers.is_empty()
                && o.jq_path_expressions.is_empty()
                && o.managed_fields_managers.is_empty()
            {
                continue;
            }
            rules.push(ResourceIgnoreDifferences {
                group: Some(group),
                kind,
                name: None,
                namespace: None,
                json_pointers: o.json_pointers,
                jq_path_expressions: o.jq_path_expressions,
                managed_fields_managers: o.managed_fields_managers,
            });
        }
        let status_rule = |group: &str, kind: &str, pointers: &[&str]| ResourceIgnoreDifferences {
            group: Some(group.into()),
            kind: kind.into(),
            json_pointers: pointers.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        match status {
            IgnoreStatus::Crd => rules.push(status_rule(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &["/status", "/spec/preserveUnknownFields"],
            )),
            IgnoreStatus::All => rules.push(status_rule("*", "*", &["/status"])),
            IgnoreStatus::Off => {}
        }
        Ok(Self {
            overrides: rules,
            compare: ResourceCompareOptions {
                ignore_aggregated_roles: compare_yaml.ignore_aggregated_roles,
                ignore_resource_status_field: status,
            },
        })
    }
}

/// The API group of an object (`apps` for `apps/v1`, empty for `v1`).
pub fn group_of(obj: &Value) -> &str {
    obj.get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("")
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Whether a rule applies to an object, with Argo CD's matching rules.
pub fn rule_matches(rule: &ResourceIgnoreDifferences, obj: &Value) -> bool {
    glob_match(rule.group.as_deref().unwrap_or(""), group_of(obj))
        && glob_match(&rule.kind, str_at(obj, "/kind"))
        && rule
            .name
            .as_deref()
            .is_none_or(|n| n.is_empty() || n == str_at(obj, "/metadata/name"))
        && rule
            .namespace
            .as_deref()
            .is_none_or(|n| n.is_empty() || n == str_at(obj, "/metadata/namespace"))
}

/// Application and system `ignoreDifferences`, checked once and applied to many objects.
#[derive(Clone, Debug)]
pub struct IgnoreRules {
    rules: Vec<ResourceIgnoreDifferences>,
    jq_timeout: Duration,
}

impl Default for IgnoreRules {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            jq_timeout: jq::DEFAULT_JQ_TIMEOUT,
        }
    }
}

impl IgnoreRules {
    /// Application rules followed by system rules. Every JSON pointer and jq expression is checked
    /// here, so a bad rule is reported once, naming it, instead of on every object.
    pub fn new(
        app: &[ResourceIgnoreDifferences],
        system: &SystemSettings,
        jq_timeout: Duration,
    ) -> Result<Self, DiffError> {
        let rules: Vec<_> = app.iter().chain(&system.overrides).cloned().collect();
        for rule in &rules {
            for p in &rule.json_pointers {
                if !p.is_empty() && !p.starts_with('/') {
                    return Err(DiffError::BadPointer(p.clone()));
                }
            }
            for e in &rule.jq_path_expressions {
                jq::check(e)?;
            }
        }
        Ok(Self { rules, jq_timeout })
    }

    /// The rules, application ones first.
    pub fn rules(&self) -> &[ResourceIgnoreDifferences] {
        &self.rules
    }

    /// The time limit per jq expression.
    pub fn jq_timeout(&self) -> Duration {
        self.jq_timeout
    }

    /// The rules that apply to `obj`.
    pub fn matching<'a>(
        &'a self,
        obj: &'a Value,
    ) -> impl Iterator<Item = &'a ResourceIgnoreDifferences> + 'a {
        self.rules.iter().filter(move |r| rule_matches(r, obj))
    }

    /// The `managedFieldsManagers` of the rules that apply to `obj`.
    pub fn managers(&self, obj: &Value) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.matching(obj).flat_map(|r| &r.managed_fields_managers) {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }

    /// Removes what the matching rules' `jsonPointers` and `jqPathExpressions` select, then (when
    /// a rule matched) the empty objects and arrays left over. `rule_of` tells which object decides
    /// matching (the live one when both exist, else this one). Errors only on a jq time-out.
    pub fn apply(&self, obj: &mut Value, rule_of: &Value) -> Result<(), DiffError> {
        let mut any = false;
        for rule in self.rules.iter().filter(|r| rule_matches(r, rule_of)) {
            if rule.json_pointers.is_empty() && rule.jq_path_expressions.is_empty() {
                continue;
            }
            any = true;
            remove_json_pointers(obj, &rule.json_pointers)?;
            for e in &rule.jq_path_expressions {
                if let Some(out) = jq::delete(e, obj, self.jq_timeout)? {
                    *obj = out;
                }
            }
        }
        if any && let Some(map) = obj.as_object_mut() {
            remove_empty(map);
        }
        Ok(())
    }

    /// The concrete paths in `obj` that the matching rules' pointers and jq expressions select
    /// (pointers to absent fields are left out).
    pub fn ignored_paths(&self, obj: &Value, rule_of: &Value) -> Result<Vec<Vec<Step>>, DiffError> {
        let mut out = Vec::new();
        for rule in self.rules.iter().filter(|r| rule_matches(r, rule_of)) {
            for p in &rule.json_pointers {
                if obj.pointer(p).is_some() {
                    out.push(pointer_steps(p, obj));
                }
            }
            for e in &rule.jq_path_expressions {
                out.extend(jq::paths(e, obj, self.jq_timeout)?);
            }
        }
        Ok(out)
    }
}

/// The steps of an RFC 6901 pointer known to exist in `obj` (array tokens become indexes).
pub(crate) fn pointer_steps(pointer: &str, obj: &Value) -> Vec<Step> {
    let mut cur = obj;
    let mut steps = Vec::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        match cur {
            Value::Array(a) => {
                let i = token.parse::<usize>().unwrap_or(usize::MAX);
                steps.push(Step::Index(i));
                cur = a.get(i).unwrap_or(&Value::Null);
            }
            _ => {
                cur = cur.get(&token).unwrap_or(&Value::Null);
                steps.push(Step::Key(token));
            }
        }
    }
    steps
}

/// Argo CD's `removeEmptyObjects`: drops empty objects and arrays (and empty objects inside arrays).
fn remove_empty(map: &mut serde_json::Map<String, Value>) {
    map.retain(|_, v| match v {
        Value::Object(m) => {
            remove_empty(m);
            !m.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(|item| match item {
                Value::Object(m) => {
                    remove_empty(m);
                    !m.is_empty()
                }
                _ => true,
            });
            !items.is_empty()
        }
        _ => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(group: &str, kind: &str) -> ResourceIgnoreDifferences {
        ResourceIgnoreDifferences {
            group: Some(group.into()),
            kind: kind.into(),
            ..Default::default()
        }
    }

    fn deployment(name: &str, ns: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 3, "template": {"metadata": {"annotations": {"x": "1"}}, "spec": {"containers": [
                {"name": "web", "image": "nginx"}, {"name": "istio-proxy", "image": "istio"}]}}}})
    }

    #[test]
    fn matching_uses_globs_for_group_and_kind_and_exact_name_namespace() {
        let d = deployment("web", "prod");
        assert!(rule_matches(&rule("apps", "Deployment"), &d));
        assert!(rule_matches(&rule("*", "*"), &d));
        assert!(rule_matches(&rule("app?", "Deploy*"), &d));
        assert!(!rule_matches(&rule("", "Deployment"), &d));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(rule_matches(&rule("", "ConfigMap"), &cm));
        assert!(!rule_matches(&rule("apps", "ConfigMap"), &cm));
        let mut named = rule("apps", "Deployment");
        named.name = Some("web".into());
        named.namespace = Some("prod".into());
        assert!(rule_matches(&named, &d));
        named.namespace = Some("dev".into());
        assert!(!rule_matches(&named, &d));
        named.namespace = Some(String::new());
        named.name = Some("we*".into());
        assert!(!rule_matches(&named, &d), "names are not globs");
    }

    #[test]
    fn pointers_and_jq_remove_fields_and_leave_no_empty_objects() {
        let mut r = rule("apps", "Deployment");
        r.json_pointers = vec!["/spec/replicas".into()];
        r.jq_path_expressions = vec![
            r#".spec.template.spec.containers[] | select(.name == "istio-proxy")"#.into(),
            ".spec.template.metadata.annotations.x".into(),
        ];
        let rules = IgnoreRules::new(&[r], &SystemSettings::default(), jq::DEFAULT_JQ_TIMEOUT)
            .expect("valid");
        let mut d = deployment("web", "prod");
        let key = d.clone();
        rules.apply(&mut d, &key).expect("applied");
        assert_eq!(
            d["spec"],
            json!({"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}})
        );
        let paths = rules.ignored_paths(&key, &key).expect("paths");
        assert_eq!(paths.len(), 3, "{paths:?}");
    }

    #[test]
    fn bad_rules_are_reported_once_at_construction() {
        let mut r = rule("apps", "Deployment");
        r.jq_path_expressions = vec![".spec | (".into()];
        let err =
            IgnoreRules::new(&[r], &SystemSettings::default(), jq::DEFAULT_JQ_TIMEOUT).unwrap_err();
        assert!(err.to_string().contains(".spec | ("), "{err}");
        let mut r = rule("apps", "Deployment");
        r.json_pointers = vec!["spec/replicas".into()];
        assert!(
            IgnoreRules::new(&[r], &SystemSettings::default(), jq::DEFAULT_JQ_TIMEOUT).is_err()
        );
    }

    #[test]
    fn argocd_cm_overrides_split_keys_all_and_compare_options() {
        let data: BTreeMap<String, String> = [
            (
                "resource.customizations.ignoreDifferences.apps_Deployment",
                "jsonPointers:\n- /spec/replicas\n",
            ),
            (
                "resource.customizations.ignoreDifferences.all",
                "managedFieldsManagers:\n- kube-controller-manager\njqPathExpressions:\n- .metadata.labels.x\n",
            ),
            (
                "resource.customizations.ignoreDifferences.ConfigMap",
                "jsonPointers:\n- /data/a\n",
            ),
            (
                "resource.customizations",
                "admissionregistration.k8s.io/MutatingWebhookConfiguration:\n  ignoreDifferences: |\n    jsonPointers:\n    - /webhooks/0/clientConfig/caBundle\n  health.lua: |\n    return {}\n",
            ),
            ("resource.customizations.health.apps_Deployment", "return {}"),
            (
                "resource.compareoptions",
                "ignoreAggregatedRoles: true\nignoreResourceStatusField: all\n",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = SystemSettings::from_config_map(&data).expect("valid");
        assert!(s.compare.ignore_aggregated_roles);
        assert_eq!(s.compare.ignore_resource_status_field, IgnoreStatus::All);
        let keys: Vec<(String, String)> = s
            .overrides
            .iter()
            .map(|r| (r.group.clone().unwrap_or_default(), r.kind.clone()))
            .collect();
        assert_eq!(
            keys,
            [
                (
                    "admissionregistration.k8s.io",
                    "MutatingWebhookConfiguration"
                ),
                ("", "ConfigMap"),
                ("*", "*"),
                ("apps", "Deployment"),
                ("*", "*"),
            ]
            .map(|(g, k)| (g.to_string(), k.to_string()))
        );
        let rules = IgnoreRules::new(&[], &s, jq::DEFAULT_JQ_TIMEOUT).expect("valid");
        let d = deployment("web", "prod");
        assert_eq!(
            rules.managers(&d),
            vec!["kube-controller-manager".to_string()]
        );
        let mut with_status = d.clone();
        with_status["status"] = json!({"replicas": 1});
        rules.apply(&mut with_status, &d).expect("applied");
        assert!(with_status.get("status").is_none());
        assert!(with_status["spec"].get("replicas").is_none());
    }

    #[test]
    fn status_field_defaults_to_crds_and_can_be_off() {
        let s = SystemSettings::from_config_map(&BTreeMap::new()).expect("valid");
        assert_eq!(s.compare.ignore_resource_status_field, IgnoreStatus::Crd);
        assert_eq!(s.overrides.len(), 1);
        assert_eq!(s.overrides[0].kind, "CustomResourceDefinition");
        let off: BTreeMap<String, String> = [(
            "resource.compareoptions".to_string(),
            "ignoreResourceStatusField: off".to_string(),
        )]
        .into();
        let s = SystemSettings::from_config_map(&off).expect("valid");
        assert!(s.overrides.is_empty());
        let bad: BTreeMap<String, String> = [(
            "resource.customizations.ignoreDifferences.a_b_c".to_string(),
            "jsonPointers: []".to_string(),
        )]
        .into();
        let err = SystemSettings::from_config_map(&bad).unwrap_err();
        assert!(err.to_string().contains("a_b_c"), "{err}");
    }
}
