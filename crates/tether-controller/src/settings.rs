//! Argo CD settings `tether run` follows besides the Applications:
//!
//! - the webhook secrets, `argocd-secret`'s `webhook.*` keys (Argo CD's `util/webhook`);
//! - `kustomize.buildOptions` from `argocd-cm` (`--enable-helm`, `--load-restrictor`).
//!
//! Cluster mode watches both objects in the control namespace, as Argo CD's settings manager
//! does, so an edit applies without a restart. File mode takes them from `tether run
//! --webhook-secrets FILE` (a YAML map of the same keys, or an `argocd-secret` manifest) and
//! `--kustomize-build-options`. Secret values never appear in logs or errors: messages name
//! the file and the key only.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::runtime::watcher::{self, Event};
use tether_source::{SharedWebhookConfig, WebhookSecrets};

/// The `argocd-secret` keys Tether reads (Argo CD's names).
pub const WEBHOOK_KEYS: [&str; 8] = [
    "webhook.github.secret",
    "webhook.gitlab.secret",
    "webhook.bitbucket.uuid",
    "webhook.bitbucketserver.secret",
    "webhook.gogs.secret",
    "webhook.azuredevops.username",
    "webhook.azuredevops.password",
    "webhook.generic.secret",
];

/// The `argocd-cm` key of kustomize's build flags.
pub const KUSTOMIZE_BUILD_OPTIONS_KEY: &str = "kustomize.buildOptions";

/// Reads `--webhook-secrets FILE`: a YAML (or JSON) map of `webhook.*` keys to strings, or a
/// Secret manifest such as `argocd-secret` (`data` base64-encoded, `stringData` plain). Keys
/// not starting with `webhook.` are ignored, so a copy of a whole `argocd-secret` works; an
/// unknown `webhook.*` key is an error naming it (a misspelt key would leave a provider open).
pub fn read_webhook_secrets(path: &Path) -> anyhow::Result<WebhookSecrets> {
    let what = format!("webhook secrets `{}`", path.display());
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {what}"))?;
    // Parse errors from serde quote the offending text, which may be a secret: report the
    // position only.
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        anyhow::anyhow!("{what}: not a YAML mapping{at}")
    })?;
    let data = if doc.get("kind").and_then(serde_yaml::Value::as_str) == Some("Secret") {
        let secret: Secret = serde_yaml::from_value(doc)
            .map_err(|_| anyhow::anyhow!("{what}: not a valid Secret manifest"))?;
        secret_data(&secret)
    } else {
        let serde_yaml::Value::Mapping(map) = doc else {
            bail!("{what}: expected a mapping of `webhook.*` keys to strings");
        };
        let mut data = BTreeMap::new();
        for (k, v) in map {
            let Some(k) = k.as_str() else {
                bail!("{what}: keys must be strings");
            };
            if !k.starts_with("webhook.") {
                continue;
            }
            let Some(v) = v.as_str() else {
                bail!("{what}: `{k}` must be a string");
            };
            data.insert(k.to_owned(), v.to_owned());
        }
        data
    };
    for k in data.keys().filter(|k| k.starts_with("webhook.")) {
        if !WEBHOOK_KEYS.contains(&k.as_str()) {
            bail!(
                "{what}: unknown key `{k}` (known: {})",
                WEBHOOK_KEYS.join(", ")
            );
        }
    }
    Ok(WebhookSecrets::from_argocd_secret(&data))
}

/// A Secret's keys, `stringData` over `data` (as the API server merges them). Values that are
/// not UTF-8 are left out.
fn secret_data(secret: &Secret) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        data.insert(k.clone(), v.clone());
    }
    data
}

/// `kustomize.buildOptions`, the flags Argo CD passes to `kustomize build`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KustomizeBuildOptions {
    /// `--enable-helm`: inflate `helmCharts`.
    pub enable_helm: bool,
    /// `--load-restrictor LoadRestrictionsNone`.
    pub load_restrictor_none: bool,
}

impl KustomizeBuildOptions {
    /// Parses the flags (`--enable-helm`, `--load-restrictor[=]LoadRestrictionsNone|
    /// LoadRestrictionsRootOnly`). Other flags are an error naming them: Tether's kustomize
    /// has no such option, and ignoring it would render something else than Argo CD.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |m: String| format!("argocd-cm `{KUSTOMIZE_BUILD_OPTIONS_KEY}`: {m}");
        let mut o = Self::default();
        let mut words = s.split_whitespace();
        while let Some(w) = words.next() {
            let (flag, inline) = match w.split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (w, None),
            };
            match flag {
                "--enable-helm" => {
                    o.enable_helm = match inline {
                        None | Some("true") => true,
                        Some("false") => false,
                        Some(v) => return Err(bad(format!("`--enable-helm={v}`: not a boolean"))),
                    }
                }
                "--load-restrictor" | "--load_restrictor" => {
                    let v = match inline {
                        Some(v) => v,
                        None => words
                            .next()
                            .ok_or_else(|| bad("`--load-restrictor` needs a value".into()))?,
                    };
                    o.load_restrictor_none = match v {
                        "LoadRestrictionsNone" => true,
                        "LoadRestrictionsRootOnly" => false,
                        _ => {
                            return Err(bad(format!(
                                "`--load-restrictor {v}`: expected LoadRestrictionsNone or LoadRestrictionsRootOnly"
                            )));
                        }
                    }
                }
                _ => return Err(bad(format!("unsupported option `{flag}`"))),
            }
        }
        Ok(o)
    }

    /// The options as `kustomize build` flags, which [`KustomizeBuildOptions::parse`] reads back.
    pub fn to_flags(&self) -> String {
        let mut flags = Vec::new();
        if self.enable_helm {
            flags.push("--enable-helm");
        }
        if self.load_restrictor_none {
            flags.push("--load-restrictor LoadRestrictionsNone");
        }
        flags.join(" ")
    }
}

/// The kustomize build options renders use, replaced while `tether run` runs (cluster mode:
/// on an `argocd-cm` edit). An unreadable value is kept as its error, which kustomize sources
/// then report as a `ComparisonError`.
pub type SharedKustomizeOptions = Arc<RwLock<Result<KustomizeBuildOptions, String>>>;

/// Calls `apply` with the object named `name` in `namespace` on every change (`None` when it
/// is deleted or absent), as Argo CD's settings manager watches its ConfigMap and Secret. Runs
/// until the process ends; watch errors are logged and the watch goes on.
async fn follow_object<K>(
    client: kube::Client,
    namespace: &str,
    name: &str,
    mut apply: impl FnMut(Option<K>),
) where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api, config).boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(o) | Event::InitApply(o)) => apply(Some(o)),
            Ok(Event::Delete(_)) => apply(None),
            Ok(Event::Init | Event::InitDone) => {}
            Err(e) => tracing::warn!("watching {name}: {e}"),
        }
    }
}

/// Cluster mode: keeps `shared` matched to `argocd-secret`'s `webhook.*` keys in `namespace`
/// (no Secret: no secrets, as in Argo CD). Runs until the process ends.
pub async fn follow_argocd_secret(
    client: kube::Client,
    namespace: String,
    shared: SharedWebhookConfig,
) {
    follow_object(
        client,
        &namespace,
        "argocd-secret",
        |secret: Option<Secret>| {
            let data = secret.as_ref().map(secret_data).unwrap_or_default();
            for k in data.keys().filter(|k| k.starts_with("webhook.")) {
                if !WEBHOOK_KEYS.contains(&k.as_str()) {
                    tracing::warn!("argocd-secret: `{k}` is not supported; ignored");
                }
            }
            let secrets = WebhookSecrets::from_argocd_secret(&data);
            let mut c = shared
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if c.secrets != secrets {
                tracing::info!(secrets = ?secrets, "webhook secrets from argocd-secret");
                c.secrets = secrets;
            }
        },
    )
    .await;
}

/// Cluster mode: keeps `shared` matched to `argocd-cm`'s `kustomize.buildOptions` in
/// `namespace`. Runs until the process ends.
pub async fn follow_argocd_cm(
    client: kube::Client,
    namespace: String,
    shared: SharedKustomizeOptions,
) {
    follow_object(client, &namespace, "argocd-cm", |cm: Option<ConfigMap>| {
        let value = cm
            .and_then(|c| c.data)
            .and_then(|d| d.get(KUSTOMIZE_BUILD_OPTIONS_KEY).cloned())
            .unwrap_or_default();
        let parsed = KustomizeBuildOptions::parse(&value);
        if let Err(e) = &parsed {
            tracing::warn!("{e}");
        }
        let mut c = shared
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *c != parsed {
            tracing::info!(options = value, "kustomize build options from argocd-cm");
            *c = parsed;
        }
    })
    .await;
}

/// `GET /api/v1/settings`: the part of Argo CD's settings API a client renders with,
/// `{"kustomizeOptions": {"buildOptions": "--enable-helm"}}` (`app diff --local` builds a
/// working copy as the controller would). An unreadable `kustomize.buildOptions` is
/// `{"kustomizeOptions": {"error": "..."}}`.
pub fn router(kustomize: SharedKustomizeOptions) -> axum::Router {
    axum::Router::new().route(
        "/api/v1/settings",
        axum::routing::get(move || {
            let kustomize = kustomize.clone();
            async move {
                let options = match &*kustomize
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                {
                    Ok(o) => serde_json::json!({"buildOptions": o.to_flags()}),
                    Err(e) => serde_json::json!({"error": e}),
                };
                axum::Json(serde_json::json!({"kustomizeOptions": options}))
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_file_as_a_map_or_a_secret_manifest_never_shows_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(
            &p,
            "webhook.github.secret: gh-s3cret\nwebhook.gitlab.secret: ''\nadmin.password: x\n",
        )
        .unwrap();
        let s = read_webhook_secrets(&p).unwrap();
        assert_eq!(s.github.as_deref(), Some("gh-s3cret"));
        assert_eq!(s.gitlab, None);

        std::fs::write(
            &p,
            "apiVersion: v1\nkind: Secret\nmetadata: {name: argocd-secret}\ndata:\n  webhook.gogs.secret: Z29ncy1zM2NyZXQ=\nstringData:\n  webhook.bitbucket.uuid: uuid-1\n",
        )
        .unwrap();
        let s = read_webhook_secrets(&p).unwrap();
        assert_eq!(s.gogs.as_deref(), Some("gogs-s3cret"));
        assert_eq!(s.bitbucket_uuid.as_deref(), Some("uuid-1"));

        std::fs::write(&p, "webhook.github.secrt: gh-s3cret\n").unwrap();
        let e = format!("{:#}", read_webhook_secrets(&p).unwrap_err());
        assert!(e.contains("unknown key `webhook.github.secrt`"), "{e}");
        assert!(!e.contains("gh-s3cret"), "{e}");

        std::fs::write(&p, "webhook.github.secret: [gh-s3cret\n").unwrap();
        let e = format!("{:#}", read_webhook_secrets(&p).unwrap_err());
        assert!(e.contains("s.yaml") && !e.contains("gh-s3cret"), "{e}");
        std::fs::write(&p, "webhook.github.secret: {a: gh-s3cret}\n").unwrap();
        let e = format!("{:#}", read_webhook_secrets(&p).unwrap_err());
        assert!(
            e.contains("`webhook.github.secret` must be a string") && !e.contains("gh-s3cret"),
            "{e}"
        );
    }

    #[test]
    fn kustomize_build_options() {
        let p = KustomizeBuildOptions::parse;
        assert_eq!(p("").unwrap(), KustomizeBuildOptions::default());
        assert_eq!(
            p("--enable-helm --load-restrictor LoadRestrictionsNone").unwrap(),
            KustomizeBuildOptions {
                enable_helm: true,
                load_restrictor_none: true
            }
        );
        assert_eq!(
            p("--load-restrictor=LoadRestrictionsRootOnly --enable-helm=false").unwrap(),
            KustomizeBuildOptions::default()
        );
        let e = p("--enable-helm --enable-alpha-plugins").unwrap_err();
        assert_eq!(
            e,
            "argocd-cm `kustomize.buildOptions`: unsupported option `--enable-alpha-plugins`"
        );
        assert!(p("--load-restrictor").is_err());
        assert!(p("--load-restrictor LoadRestrictionsAll").is_err());
        for (helm, none) in [(false, false), (true, false), (false, true), (true, true)] {
            let o = KustomizeBuildOptions {
                enable_helm: helm,
                load_restrictor_none: none,
            };
            assert_eq!(p(&o.to_flags()).unwrap(), o, "{}", o.to_flags());
        }
    }
}
