//! Validation of Application, AppProject and ApplicationSet manifests: schema errors with the
//! field path, then the semantic rules Argo CD's API server enforces.
//!
//! Other Kubernetes objects found in the same files have their `argocd.argoproj.io/*` annotations
//! checked, since those are what Tether interprets.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::annotations::{SyncOptions, check_annotations};
use crate::application::ApplicationSpec;
use crate::duration::{parse_argo_duration, parse_go_duration};
use crate::source::ApplicationSource;
use crate::{AppProject, Application, ApplicationSet};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Accepted, but probably not what the author meant (e.g. an unknown field Kubernetes would drop).
    Warning,
    /// The manifest is invalid.
    Error,
}

/// One problem in one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The document: `Application "guestbook"`, or `document 3` when it has no kind or name.
    pub object: String,
    /// The field path and what is wrong with it: `spec.syncPolicy.retry.limit: invalid type: ...`.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            write!(f, "warning: ")?;
        }
        write!(f, "{}: {}", self.object, self.message)
    }
}

/// The findings for one file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Number of non-empty documents read.
    pub documents: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The kinds this module validates fully.
const ARGO_KINDS: [&str; 3] = ["Application", "AppProject", "ApplicationSet"];

/// Validates a (multi-document) YAML text. Never panics, whatever the input.
pub fn validate_yaml(text: &str) -> Report {
    let mut report = Report::default();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let value = match <serde_yaml::Value as serde::Deserialize>::deserialize(document) {
            Ok(v) => v,
            Err(e) => {
                report.findings.push(Finding {
                    severity: Severity::Error,
                    object: format!("document {number}"),
                    message: format!("YAML syntax error: {e}"),
                });
                // The parser cannot resynchronise after a syntax error.
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        report.documents += 1;
        validate_document(&value, number, &mut report.findings);
    }
    report
}

fn validate_document(value: &serde_yaml::Value, number: usize, findings: &mut Vec<Finding>) {
    let str_at = |key: &str| value.get(key).and_then(serde_yaml::Value::as_str);
    let kind = str_at("kind");
    let api_version = str_at("apiVersion");
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(serde_yaml::Value::as_str);
    let object = match (kind, name) {
        (Some(k), Some(n)) => format!("{k} {n:?}"),
        (Some(k), None) => format!("{k} (document {number})"),
        _ => format!("document {number}"),
    };
    let mut out = Sink { object, findings };
    if !value.is_mapping() {
        out.error("", "document is not a mapping");
        return;
    }
    let Some(kind) = kind else {
        out.error("kind", "required");
        return;
    };
    let is_argo_kind = ARGO_KINDS.contains(&kind);
    let is_argo_group = api_version.is_some_and(|v| v.starts_with("argoproj.io/"));
    if is_argo_kind && is_argo_group && api_version != Some(crate::API_VERSION) {
        out.error(
            "apiVersion",
            &format!(
                "unsupported version {:?}; expected {:?}",
                api_version.unwrap_or_default(),
                crate::API_VERSION
            ),
        );
        return;
    }
    if !(is_argo_kind && is_argo_group) {
        // Any other object: only the annotations Tether interprets are checked.
        if let Some(annotations) = typed::<BTreeMap<String, String>>(
            value.get("metadata").and_then(|m| m.get("annotations")),
            "metadata.annotations",
            &mut out,
        ) {
            check_object_annotations(&annotations, "metadata.annotations", &mut out);
        }
        return;
    }
    if name.is_none()
        && value
            .get("metadata")
            .and_then(|m| m.get("generateName"))
            .is_none()
    {
        out.error("metadata.name", "required");
    }
    match kind {
        "Application" => {
            if let Some(app) = typed::<Application>(Some(value), "", &mut out) {
                check_object_annotations(
                    app.metadata
                        .annotations
                        .as_ref()
                        .unwrap_or(&BTreeMap::new()),
                    "metadata.annotations",
                    &mut out,
                );
                check_application_spec(&app.spec, "spec", &mut out);
            }
        }
        "AppProject" => {
            if let Some(project) = typed::<AppProject>(Some(value), "", &mut out) {
                check_project(&project, &mut out);
            }
        }
        "ApplicationSet" => {
            if let Some(set) = typed::<ApplicationSet>(Some(value), "", &mut out) {
                check_application_set(&set, &mut out);
            }
        }
        _ => unreachable!("kind is one of ARGO_KINDS"),
    }
}

/// Collects findings for one document.
struct Sink<'a> {
    object: String,
    findings: &'a mut Vec<Finding>,
}

impl Sink<'_> {
    fn push(&mut self, severity: Severity, path: &str, message: &str) {
        let message = if path.is_empty() {
            message.to_owned()
        } else {
            format!("{path}: {message}")
        };
        self.findings.push(Finding {
            severity,
            object: self.object.clone(),
            message,
        });
    }
    fn error(&mut self, path: &str, message: &str) {
        self.push(Severity::Error, path, message);
    }
    fn warning(&mut self, path: &str, message: &str) {
        self.push(Severity::Warning, path, message);
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty() || path == ".") {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// Deserialises `value` into `T`, reporting the failing field path and unknown fields.
fn typed<T: DeserializeOwned>(
    value: Option<&serde_yaml::Value>,
    prefix: &str,
    out: &mut Sink<'_>,
) -> Option<T> {
    let value = value.cloned().unwrap_or(serde_yaml::Value::Null);
    let mut unknown: Vec<String> = Vec::new();
    // serde_ignored shows `Option` layers as `?` segments; they are not part of the field path.
    let mut track = |path: serde_ignored::Path<'_>| {
        let path = path.to_string();
        unknown.push(
            path.split('.')
                .filter(|s| *s != "?")
                .collect::<Vec<_>>()
                .join("."),
        );
    };
    let ignored = serde_ignored::Deserializer::new(value, &mut track);
    let result: Result<T, _> = serde_path_to_error::deserialize(ignored);
    for path in unknown {
        // `apiVersion` and `kind` are read by the resource machinery, not the typed fields.
        if path != "apiVersion" && path != "kind" {
            out.warning(
                &join(prefix, &path),
                "unknown field (Kubernetes would drop it)",
            );
        }
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            out.error(&join(prefix, &path), &e.into_inner().to_string());
            None
        }
    }
}

fn check_object_annotations(
    annotations: &BTreeMap<String, String>,
    path: &str,
    out: &mut Sink<'_>,
) {
    for e in check_annotations(annotations) {
        out.error(path, &e.to_string());
    }
}

fn check_application_spec(spec: &ApplicationSpec, path: &str, out: &mut Sink<'_>) {
    if spec.source.is_none() && spec.sources.is_empty() {
        out.error(
            &join(path, "source"),
            "required: set spec.source or spec.sources",
        );
    }
    if let Some(source) = &spec.source {
        check_source(source, &join(path, "source"), out);
    }
    for (i, source) in spec.sources.iter().enumerate() {
        check_source(source, &format!("{path}.sources[{i}]"), out);
    }
    let dest = &spec.destination;
    match (&dest.server, &dest.name) {
        (Some(_), Some(_)) => out.error(
            &join(path, "destination"),
            "both server and name are set; an application destination can't have both name and server defined",
        ),
        (None, None) => out.error(&join(path, "destination"), "one of server or name is required"),
        _ => {}
    }
    if let Some(limit) = spec.revision_history_limit
        && limit < 0
    {
        out.error(&join(path, "revisionHistoryLimit"), "must not be negative");
    }
    if let Some(policy) = &spec.sync_policy {
        let policy_path = join(path, "syncPolicy");
        for (i, option) in policy.sync_options.iter().enumerate() {
            if let Err(e) = SyncOptions::parse([option.as_str()]) {
                out.error(&format!("{policy_path}.syncOptions[{i}]"), &e.to_string());
            }
        }
        if let Some(backoff) = policy.retry.as_ref().and_then(|r| r.backoff.as_ref()) {
            let backoff_path = format!("{policy_path}.retry.backoff");
            for (field, value) in [
                ("duration", &backoff.duration),
                ("maxDuration", &backoff.max_duration),
            ] {
                if let Some(v) = value
                    && let Err(e) = parse_argo_duration(v)
                {
                    out.error(&format!("{backoff_path}.{field}"), &e.to_string());
                }
            }
            if backoff.factor.is_some_and(|f| f < 1) {
                out.error(&format!("{backoff_path}.factor"), "must be at least 1");
            }
        }
    }
    for (i, ignore) in spec.ignore_differences.iter().enumerate() {
        for (j, pointer) in ignore.json_pointers.iter().enumerate() {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                out.error(
                    &format!("{path}.ignoreDifferences[{i}].jsonPointers[{j}]"),
                    &format!(
                        "{pointer:?} is not a JSON pointer (RFC 6901 pointers start with '/')"
                    ),
                );
            }
        }
    }
}

fn check_source(source: &ApplicationSource, path: &str, out: &mut Sink<'_>) {
    if source.repo_url.trim().is_empty() {
        out.error(&join(path, "repoURL"), "required");
    }
    let kinds: Vec<&str> = [
        ("helm", source.helm.is_some()),
        ("kustomize", source.kustomize.is_some()),
        ("directory", source.directory.is_some()),
        ("plugin", source.plugin.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if kinds.len() > 1 {
        out.error(
            path,
            &format!(
                "multiple application sources defined: {}; set only one",
                kinds.join(" and ")
            ),
        );
    }
    if let Some(helm) = &source.helm {
        for (i, p) in helm.parameters.iter().enumerate() {
            if p.name.as_deref().unwrap_or_default().is_empty() {
                out.error(&format!("{path}.helm.parameters[{i}].name"), "required");
            }
        }
        if helm.values_object.as_ref().is_some_and(|v| !v.is_object()) {
            out.error(&format!("{path}.helm.valuesObject"), "must be a mapping");
        }
    }
    if let Some(kustomize) = &source.kustomize {
        for (i, replica) in kustomize.replicas.iter().enumerate() {
            if let k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) =
                &replica.count
                && s.parse::<i64>().is_err()
            {
                out.error(
                    &format!("{path}.kustomize.replicas[{i}].count"),
                    &format!("{s:?} is not an integer"),
                );
            }
        }
    }
}

fn check_project(project: &AppProject, out: &mut Sink<'_>) {
    for (i, window) in project.spec.sync_windows.iter().enumerate() {
        let path = format!("spec.syncWindows[{i}]");
        match window.kind.as_deref() {
            Some("allow" | "deny") => {}
            other => out.error(
                &format!("{path}.kind"),
                &format!("{other:?} must be \"allow\" or \"deny\""),
            ),
        }
        match window.schedule.as_deref() {
            Some(s) if s.split_whitespace().count() == 5 => {}
            other => out.error(
                &format!("{path}.schedule"),
                &format!("{other:?} is not a cron schedule of five fields (minute hour day month weekday)"),
            ),
        }
        match window.duration.as_deref().map(parse_go_duration) {
            Some(Ok(_)) => {}
            Some(Err(e)) => out.error(&format!("{path}.duration"), &e.to_string()),
            None => out.error(&format!("{path}.duration"), "required"),
        }
    }
    for (i, role) in project.spec.roles.iter().enumerate() {
        for (j, policy) in role.policies.iter().enumerate() {
            let fields: Vec<&str> = policy.split(',').map(str::trim).collect();
            if fields.len() != 6 || fields[0] != "p" {
                out.error(
                    &format!("spec.roles[{i}].policies[{j}]"),
                    "expected `p, <subject>, <resource>, <action>, <object>, <allow|deny>`",
                );
            } else if !matches!(fields[5], "allow" | "deny") {
                out.error(
                    &format!("spec.roles[{i}].policies[{j}]"),
                    "the effect must be `allow` or `deny`",
                );
            }
        }
    }
}

fn check_application_set(set: &ApplicationSet, out: &mut Sink<'_>) {
    for (i, generator) in set.spec.generators.iter().enumerate() {
        let count = [
            generator.list.is_some(),
            generator.clusters.is_some(),
            generator.git.is_some(),
            generator.scm_provider.is_some(),
            generator.cluster_decision_resource.is_some(),
            generator.pull_request.is_some(),
            generator.matrix.is_some(),
            generator.merge.is_some(),
            generator.plugin.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        if count != 1 {
            out.error(
                &format!("spec.generators[{i}]"),
                &format!("exactly one generator must be set, found {count}"),
            );
        }
    }
    if let Some(sync) = set
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.applications_sync.as_deref())
        && !matches!(
            sync,
            "create-only" | "create-update" | "create-delete" | "sync"
        )
    {
        out.error(
            "spec.syncPolicy.applicationsSync",
            &format!("{sync:?} must be one of create-only, create-update, create-delete, sync"),
        );
    }
    check_object_annotations(
        &set.spec.template.metadata.annotations,
        "spec.template.metadata.annotations",
        out,
    );
    // With a templatePatch, parts of the spec are only known after templating.
    if set.spec.template_patch.is_none() {
        check_application_spec(&set.spec.template.spec, "spec.template.spec", out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        validate_yaml(text)
            .findings
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn schema_error_names_the_field_path() {
        let m = messages(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: guestbook}\nspec:\n  destination: {server: https://kubernetes.default.svc}\n  source: {repoURL: https://x}\n  syncPolicy:\n    retry: {limit: five}\n",
        );
        assert_eq!(
            m,
            vec![
                r#"Application "guestbook": spec.syncPolicy.retry.limit: invalid type: string "five", expected i64"#
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "---",
            "- a\n- b",
            "kind: Application",
            ": :",
            "{",
            "\t",
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nspec: 3",
        ] {
            let _ = validate_yaml(text);
        }
    }
}
