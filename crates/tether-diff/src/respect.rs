//! `RespectIgnoreDifferences=true`: what sync applies keeps the live value of every ignored field,
//! so a sync doesn't undo what `ignoreDifferences` says to leave alone (Argo CD's
//! `normalizeTargetResources`).
//!
//! The ignored fields are the matching rules' `jsonPointers` and `jqPathExpressions` (evaluated on
//! each side with jq's `path(...)`) and the fields a `managedFieldsManagers` manager owns in live.
//! Each is removed from desired, then set from live where live has it.

use serde_json::Value;

use crate::DiffError;
use crate::ignore::IgnoreRules;
use crate::jq::Step;
use crate::managed;

/// The object to apply: desired with ignored fields taken from live. Without live, desired as is.
pub fn respect_ignore_differences(
    desired: &Value,
    live: Option<&Value>,
    rules: &IgnoreRules,
) -> Result<Value, DiffError> {
    let Some(live) = live else {
        return Ok(desired.clone());
    };
    let mut result = desired.clone();
    // Paths in desired's own index space, removed deepest/last first.
    let mut in_desired: Vec<Vec<Step>> = rules.ignored_paths(desired, live)?;
    let managers = rules.managers(live);
    let owned = if managers.is_empty() {
        Vec::new()
    } else {
        managed::owned_fields(live, live, Some(&managers))
    };
    in_desired.extend(
        owned
            .iter()
            .filter_map(|f| managed::resolve(desired, &f.path)),
    );
    in_desired.sort();
    in_desired.dedup();
    for steps in in_desired.iter().rev() {
        managed::remove(&mut result, steps);
    }
    // Live's values, by index for pointers/jq paths and by key for managed fields.
    let mut from_live: Vec<Vec<Step>> = rules.ignored_paths(live, live)?;
    from_live.sort();
    from_live.dedup();
    for steps in &from_live {
        if let Some(v) = managed::get(live, steps) {
            managed::set(&mut result, steps, v.clone());
        }
    }
    for f in &owned {
        let (Some(steps), false) = (&f.steps, f.path.is_empty()) else {
            continue;
        };
        let Some(v) = managed::get(live, steps) else {
            continue;
        };
        let target = managed::resolve_or_create(&mut result, &f.path);
        let keep_existing = (v.is_object() || v.is_array())
            && managed::get(&result, &target).is_some_and(|cur| !cur.is_null());
        if !keep_existing {
            managed::set(&mut result, &target, v.clone());
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEFAULT_JQ_TIMEOUT, ResourceIgnoreDifferences, SystemSettings};
    use serde_json::json;

    fn rules(r: ResourceIgnoreDifferences) -> IgnoreRules {
        IgnoreRules::new(&[r], &SystemSettings::default(), DEFAULT_JQ_TIMEOUT).expect("valid")
    }

    #[test]
    fn ignored_fields_come_from_live_and_the_rest_from_desired() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "managedFields": [
                {"manager": "vpa", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"web\"}": {"f:resources": {"f:requests": {"f:cpu": {}}}}}}}}}}]},
            "spec": {"replicas": 7, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1", "resources": {"requests": {"cpu": "250m"}}}]}}}});
        let r = rules(ResourceIgnoreDifferences {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            managed_fields_managers: vec!["vpa".into()],
            ..Default::default()
        });
        let out = respect_ignore_differences(&desired, Some(&live), &r).expect("ok");
        assert_eq!(out["spec"]["replicas"], 7);
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:2", "not ignored: desired wins");
        assert_eq!(
            c["resources"]["requests"]["cpu"], "250m",
            "owned by a trusted manager: live's"
        );
        assert_eq!(
            respect_ignore_differences(&desired, None, &r).expect("ok"),
            desired
        );
    }

    #[test]
    fn jq_selected_list_items_keep_live_values() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "labels": {"keep": "git", "x": "git"}}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "labels": {"keep": "live", "x": "live"}}});
        let r = rules(ResourceIgnoreDifferences {
            group: Some(String::new()),
            kind: "ConfigMap".into(),
            jq_path_expressions: vec![".metadata.labels.x".into()],
            ..Default::default()
        });
        let out = respect_ignore_differences(&desired, Some(&live), &r).expect("ok");
        assert_eq!(
            out["metadata"]["labels"],
            json!({"keep": "git", "x": "live"})
        );
    }
}
