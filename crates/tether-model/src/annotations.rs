//! Argo CD's `argocd.argoproj.io/*` annotations and sync options, parsed and checked.

use std::collections::BTreeMap;

/// `argocd.argoproj.io/sync-wave`
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// `argocd.argoproj.io/hook`
pub const HOOK: &str = "argocd.argoproj.io/hook";
/// `argocd.argoproj.io/hook-delete-policy`
pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// `argocd.argoproj.io/sync-options`
pub const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// `argocd.argoproj.io/compare-options`
pub const COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";
/// `argocd.argoproj.io/tracking-id`
pub const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// `argocd.argoproj.io/manifest-generate-paths`
pub const MANIFEST_GENERATE_PATHS: &str = "argocd.argoproj.io/manifest-generate-paths";
/// `argocd.argoproj.io/refresh`
pub const REFRESH: &str = "argocd.argoproj.io/refresh";
/// `argocd.argoproj.io/skip-reconcile`
pub const SKIP_RECONCILE: &str = "argocd.argoproj.io/skip-reconcile";
/// Helm's `helm.sh/hook`, mapped to Argo CD hooks.
pub const HELM_HOOK: &str = "helm.sh/hook";
/// Helm's `helm.sh/hook-weight`, mapped to a sync wave.
pub const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm's `helm.sh/hook-delete-policy`.
pub const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";
/// Helm's `helm.sh/resource-policy` (`keep`).
pub const HELM_RESOURCE_POLICY: &str = "helm.sh/resource-policy";
/// The default tracking label.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The cascading-delete finalizer.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// An annotation or option value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    #[error("annotation {key:?}: {value:?} is not an integer")]
    NotAnInteger { key: String, value: String },
    #[error("annotation {key:?}: unknown value {value:?} (expected one of: {expected})")]
    UnknownValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("unknown sync option {option:?} (known: {known})")]
    UnknownSyncOption { option: String, known: String },
    #[error("sync option {option:?}: invalid value {value:?} (expected one of: {expected})")]
    InvalidSyncOptionValue {
        option: String,
        value: String,
        expected: &'static str,
    },
    #[error("sync option {0:?} is not of the form Key=Value")]
    MalformedSyncOption(String),
}

/// Argo CD's hook types.
pub const HOOK_TYPES: &[&str] = &[
    "PreSync",
    "Sync",
    "PostSync",
    "SyncFail",
    "PostDelete",
    "Skip",
];
/// Argo CD's hook delete policies.
pub const HOOK_DELETE_POLICIES: &[&str] = &["HookSucceeded", "HookFailed", "BeforeHookCreation"];

/// Every sync option Argo CD knows, with the values it accepts.
pub const SYNC_OPTION_VALUES: &[(&str, &[&str])] = &[
    ("Validate", &["true", "false"]),
    ("SkipDryRunOnMissingResource", &["true", "false"]),
    ("Prune", &["true", "false", "confirm"]),
    ("Delete", &["true", "false", "confirm"]),
    ("PruneLast", &["true", "false"]),
    ("ApplyOutOfSyncOnly", &["true", "false"]),
    (
        "PrunePropagationPolicy",
        &["foreground", "background", "orphan"],
    ),
    ("Replace", &["true", "false"]),
    ("Force", &["true", "false"]),
    ("ServerSideApply", &["true", "false"]),
    ("ClientSideApplyMigration", &["true", "false"]),
    ("FailOnSharedResource", &["true", "false"]),
    ("RespectIgnoreDifferences", &["true", "false"]),
    ("CreateNamespace", &["true", "false"]),
];

/// Parses one `Key=Value` sync option and checks key and value against Argo CD's list.
pub fn parse_sync_option(option: &str) -> Result<(&'static str, String), AnnotationError> {
    let option = option.trim();
    let (key, value) = option
        .split_once('=')
        .ok_or_else(|| AnnotationError::MalformedSyncOption(option.to_owned()))?;
    let Some((known_key, values)) = SYNC_OPTION_VALUES.iter().find(|(k, _)| *k == key) else {
        return Err(AnnotationError::UnknownSyncOption {
            option: option.to_owned(),
            known: SYNC_OPTION_VALUES
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    if !values.contains(&value) {
        return Err(AnnotationError::InvalidSyncOptionValue {
            option: key.to_owned(),
            value: value.to_owned(),
            expected: expected_list(values),
        });
    }
    Ok((known_key, value.to_owned()))
}

fn expected_list(values: &[&str]) -> &'static str {
    match values {
        ["true", "false"] => "true, false",
        ["true", "false", "confirm"] => "true, false, confirm",
        ["foreground", "background", "orphan"] => "foreground, background, orphan",
        _ => "see Argo CD's sync options",
    }
}

/// Sync options of an application or a resource, keyed by option name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions(BTreeMap<&'static str, String>);

impl SyncOptions {
    /// Parses a list of `Key=Value` options (the Application's `syncPolicy.syncOptions`).
    pub fn parse<'a>(options: impl IntoIterator<Item = &'a str>) -> Result<Self, AnnotationError> {
        let mut map = BTreeMap::new();
        for option in options {
            let (key, value) = parse_sync_option(option)?;
            map.insert(key, value);
        }
        Ok(Self(map))
    }

    /// Parses the comma-separated `argocd.argoproj.io/sync-options` annotation.
    pub fn parse_annotation(value: &str) -> Result<Self, AnnotationError> {
        Self::parse(value.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }

    /// The value of an option, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether `key=value` is set.
    pub fn has(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }

    /// Options of `self` overridden by those of `resource`.
    pub fn merged_with(&self, resource: &SyncOptions) -> SyncOptions {
        let mut map = self.0.clone();
        map.extend(resource.0.iter().map(|(k, v)| (*k, v.clone())));
        SyncOptions(map)
    }
}

/// Parses `argocd.argoproj.io/sync-wave` (or `helm.sh/hook-weight`): an integer, negatives allowed.
pub fn parse_wave(key: &str, value: &str) -> Result<i64, AnnotationError> {
    value
        .trim()
        .parse()
        .map_err(|_| AnnotationError::NotAnInteger {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses a comma-separated annotation whose items must come from `allowed`.
pub fn parse_list<'a>(
    key: &str,
    value: &'a str,
    allowed: &[&str],
    expected: &'static str,
) -> Result<Vec<&'a str>, AnnotationError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            if allowed.contains(&item) {
                Ok(item)
            } else {
                Err(AnnotationError::UnknownValue {
                    key: key.to_owned(),
                    value: item.to_owned(),
                    expected,
                })
            }
        })
        .collect()
}

/// Checks every `argocd.argoproj.io/*` annotation Tether interprets. Returns one error per bad annotation.
pub fn check_annotations(annotations: &BTreeMap<String, String>) -> Vec<AnnotationError> {
    let mut errors = Vec::new();
    for (key, value) in annotations {
        let result = match key.as_str() {
            SYNC_WAVE | HELM_HOOK_WEIGHT => parse_wave(key, value).map(drop),
            HOOK => parse_list(
                key,
                value,
                HOOK_TYPES,
                "PreSync, Sync, PostSync, SyncFail, PostDelete, Skip",
            )
            .map(drop),
            HOOK_DELETE_POLICY => parse_list(
                key,
                value,
                HOOK_DELETE_POLICIES,
                "HookSucceeded, HookFailed, BeforeHookCreation",
            )
            .map(drop),
            SYNC_OPTIONS => SyncOptions::parse_annotation(value).map(drop),
            COMPARE_OPTIONS => parse_list(
                key,
                value,
                &[
                    "IgnoreExtraneous",
                    "ServerSideDiff=true",
                    "ServerSideDiff=false",
                    "IncludeMutationWebhook=true",
                ],
                "IgnoreExtraneous, ServerSideDiff=true|false, IncludeMutationWebhook=true",
            )
            .map(drop),
            REFRESH => parse_list(key, value, &["normal", "hard"], "normal, hard").map(drop),
            _ => Ok(()),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_options_parse_and_merge() {
        let app = SyncOptions::parse(["CreateNamespace=true", "PrunePropagationPolicy=background"])
            .expect("valid");
        let res = SyncOptions::parse_annotation("Prune=false, PrunePropagationPolicy=orphan")
            .expect("valid");
        let merged = app.merged_with(&res);
        assert!(merged.has("CreateNamespace", "true"));
        assert!(merged.has("Prune", "false"));
        assert_eq!(merged.get("PrunePropagationPolicy"), Some("orphan"));
    }

    #[test]
    fn bad_sync_options_are_named() {
        let e = parse_sync_option("PruneFirst=true").expect_err("unknown");
        assert!(
            e.to_string()
                .contains("unknown sync option \"PruneFirst=true\""),
            "{e}"
        );
        let e = parse_sync_option("Prune=maybe").expect_err("bad value");
        assert!(e.to_string().contains("true, false, confirm"), "{e}");
        assert!(parse_sync_option("CreateNamespace").is_err());
    }

    #[test]
    fn waves_and_hooks() {
        assert_eq!(parse_wave(SYNC_WAVE, "-3"), Ok(-3));
        assert!(parse_wave(SYNC_WAVE, "first").is_err());
        let mut a = BTreeMap::new();
        a.insert(HOOK.to_owned(), "PreSync,PostSnyc".to_owned());
        a.insert(HOOK_DELETE_POLICY.to_owned(), "HookSucceeded".to_owned());
        let errors = check_annotations(&a);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("PostSnyc"));
    }
}
