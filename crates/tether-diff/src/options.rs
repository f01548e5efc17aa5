//! `argocd.argoproj.io/compare-options` on a resource (or on the Application, for the app-wide
//! `ServerSideDiff` and `IncludeMutationWebhook`).
//!
//! - `IgnoreExtraneous`: a resource that only exists live (it would be pruned) does not make the
//!   application OutOfSync. As in Argo CD it changes only the app's sync status, not the resource's.
//! - `ServerSideDiff=true|false`: compare against an SSA dry-run (see [`crate::server_side`]); on a
//!   resource it overrides the application's choice.
//! - `IncludeMutationWebhook=true`: in a server-side diff, keep what mutating webhooks changed
//!   (by default those fields are taken from live so they don't show as drift).

use serde_json::Value;

/// The annotation key.
pub const COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";

/// Parsed `argocd.argoproj.io/compare-options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// `IgnoreExtraneous`.
    pub ignore_extraneous: bool,
    /// `ServerSideDiff=true|false`; `None` when not set.
    pub server_side_diff: Option<bool>,
    /// `IncludeMutationWebhook=true`.
    pub include_mutation_webhook: bool,
}

impl CompareOptions {
    /// Parses the annotation value: comma-separated options, white space trimmed, unknown ones
    /// ignored (tether-model's validation reports them).
    pub fn parse(value: &str) -> Self {
        let mut o = Self::default();
        for opt in value.split(',').map(str::trim) {
            match opt {
                "IgnoreExtraneous" => o.ignore_extraneous = true,
                "ServerSideDiff=true" => o.server_side_diff = Some(true),
                "ServerSideDiff=false" => o.server_side_diff = Some(false),
                "IncludeMutationWebhook=true" => o.include_mutation_webhook = true,
                "IncludeMutationWebhook=false" => o.include_mutation_webhook = false,
                _ => {}
            }
        }
        o
    }

    /// The options an object (a resource or the Application) carries.
    pub fn of(obj: &Value) -> Self {
        obj.pointer("/metadata/annotations")
            .and_then(|a| a.get(COMPARE_OPTIONS))
            .and_then(Value::as_str)
            .map(Self::parse)
            .unwrap_or_default()
    }

    /// Whether a resource is compared server-side: its own `ServerSideDiff` wins over the
    /// application's (annotation or controller default).
    pub fn server_side_diff_for(
        app: &CompareOptions,
        resource: &CompareOptions,
        default: bool,
    ) -> bool {
        resource
            .server_side_diff
            .or(app.server_side_diff)
            .unwrap_or(default)
    }
}

/// Whether a resource's state makes the application OutOfSync: it must differ (`modified`), and an
/// extraneous resource (live, not desired) marked `IgnoreExtraneous` does not count.
pub fn affects_app_sync(desired: Option<&Value>, live: Option<&Value>, modified: bool) -> bool {
    let extraneous = desired.is_none() && live.is_some();
    if !modified && !extraneous {
        return false;
    }
    !(extraneous && live.is_some_and(|l| CompareOptions::of(l).ignore_extraneous))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_option() {
        let o = CompareOptions::parse(
            " IgnoreExtraneous, ServerSideDiff=false,IncludeMutationWebhook=true ",
        );
        assert!(o.ignore_extraneous && o.include_mutation_webhook);
        assert_eq!(o.server_side_diff, Some(false));
        assert_eq!(CompareOptions::parse(""), CompareOptions::default());
        let app = CompareOptions::parse("ServerSideDiff=true");
        assert!(CompareOptions::server_side_diff_for(
            &app,
            &CompareOptions::default(),
            false
        ));
        assert!(!CompareOptions::server_side_diff_for(&app, &o, false));
        assert!(CompareOptions::server_side_diff_for(
            &CompareOptions::default(),
            &CompareOptions::default(),
            true
        ));
    }

    #[test]
    fn ignore_extraneous_only_spares_extraneous_resources() {
        let marked = json!({"kind": "ConfigMap", "metadata": {"name": "gen",
            "annotations": {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}}});
        let plain = json!({"kind": "ConfigMap", "metadata": {"name": "gen"}});
        assert!(!affects_app_sync(None, Some(&marked), true));
        assert!(affects_app_sync(None, Some(&plain), true));
        // A desired resource that differs still counts, annotation or not.
        assert!(affects_app_sync(Some(&marked), Some(&marked), true));
        assert!(!affects_app_sync(Some(&plain), Some(&plain), false));
        // Missing live: OutOfSync.
        assert!(affects_app_sync(Some(&plain), None, true));
    }
}
