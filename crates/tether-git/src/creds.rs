//! Repository credentials in Argo CD's format, from Kubernetes Secrets or from a local file.
//!
//! Argo CD keeps repository access in Secrets labelled `argocd.argoproj.io/secret-type`:
//!
//! - `repository`: one repository. Its `url` must name the repository exactly (compared after
//!   [`normalize_url`]). A Secret with a `project` serves that project only; a Secret without
//!   one serves every project, and a project's own Secret wins over it.
//! - `repo-creds`: a credential template for every repository whose normalised URL *starts with*
//!   the template's normalised `url`; the longest matching prefix wins (the first one on a tie).
//!
//! A repository Secret that carries no credentials of its own (no `username`, `password`,
//! `sshPrivateKey` nor `tlsClientCertData`) takes them from the matching template, as Argo CD's
//! `CopyCredentialsFrom` does; its other settings (`insecure`, `proxy`, …) stay its own. Without a
//! repository Secret, the template alone applies.
//!
//! [`CredentialStore::from_secrets`] reads Secrets (as `k8s-openapi` objects, or JSON/YAML
//! manifests with base64 `data` and/or plain `stringData`); [`CredentialStore::from_file`] reads
//! the file-mode configuration (see the crate README for its format). Every secret value is held in
//! a [`SecretString`], whose `Debug` and `Display` print `***`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::cache::Credentials;
use crate::url::normalize_url;

/// The label that marks a Secret as Argo CD configuration.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// A secret value (password, token, private key). `Debug` and `Display` print `***`; read it with
/// [`SecretString::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// Any YAML/JSON scalar as a secret string: a password that YAML reads as a number must neither
/// fail (with its value in the message) nor change.
impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SecretString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretString, E> {
                Ok(SecretString(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<SecretString, E> {
                Ok(SecretString(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SecretString, E> {
                Ok(SecretString(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SecretString, E> {
                Ok(SecretString(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<SecretString, E> {
                Ok(SecretString(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Which kind of Argo CD Secret an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredsKind {
    /// `argocd.argoproj.io/secret-type: repository`: one repository, exact URL.
    Repository,
    /// `argocd.argoproj.io/secret-type: repo-creds`: a template for URLs with this prefix.
    RepoCreds,
}

/// One repository or credential template, with Argo CD's field names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RepoCredentials {
    /// The repository URL (`repository`) or URL prefix (`repo-creds`).
    pub url: String,
    /// Display name.
    pub name: String,
    /// Argo CD project the repository belongs to (repositories only; empty for every project).
    pub project: String,
    /// `git` (the default) or `helm` (or `oci`).
    pub repo_type: String,
    pub username: String,
    /// Password or access token.
    pub password: SecretString,
    /// PEM private key for SSH URLs.
    pub ssh_private_key: SecretString,
    /// PEM client certificate for HTTPS.
    pub tls_client_cert_data: String,
    /// PEM key of the client certificate.
    pub tls_client_cert_key: SecretString,
    /// Skip TLS verification (https) and host key checking (ssh).
    pub insecure: bool,
    /// Skip SSH host key checking (deprecated in Argo CD in favour of `insecure`).
    pub insecure_ignore_host_key: bool,
    /// Git LFS (recorded; LFS is not fetched yet, see the README).
    pub enable_lfs: bool,
    /// Send basic auth on the first request instead of after a 401 (Tether always does).
    pub force_http_basic_auth: bool,
    /// HTTP(S) proxy URL (may carry credentials: treated as secret in messages).
    pub proxy: SecretString,
    /// Hosts that bypass the proxy (comma-separated).
    pub no_proxy: String,
}

impl std::fmt::Debug for RepoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoCredentials")
            .field("url", &crate::url::redact_url(&self.url))
            .field("name", &self.name)
            .field("project", &self.project)
            .field("type", &self.repo_type)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("ssh_private_key", &self.ssh_private_key)
            .field(
                "tls_client_cert_data",
                &!self.tls_client_cert_data.is_empty(),
            )
            .field("tls_client_cert_key", &self.tls_client_cert_key)
            .field("insecure", &self.insecure)
            .field("insecure_ignore_host_key", &self.insecure_ignore_host_key)
            .field("enable_lfs", &self.enable_lfs)
            .field("proxy", &self.proxy)
            .finish()
    }
}

fn de_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a boolean (true/false)")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            parse_bool(v).ok_or_else(|| E::custom(format!("`{v}` is not a boolean (true/false)")))
        }
    }
    d.deserialize_any(V)
}

/// Go's `strconv.ParseBool`, which Argo CD uses for the boolean fields of a Secret.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl RepoCredentials {
    /// Whether it carries credentials of its own (Argo CD's `HasCredentials`).
    pub fn has_credentials(&self) -> bool {
        !self.username.is_empty()
            || !self.password.is_empty()
            || !self.ssh_private_key.is_empty()
            || !self.tls_client_cert_data.is_empty()
    }

    /// Fills the credential fields it lacks from a template (Argo CD's `CopyCredentialsFrom`).
    fn copy_credentials_from(&mut self, t: &RepoCredentials) {
        if self.username.is_empty() {
            self.username = t.username.clone();
        }
        if self.password.is_empty() {
            self.password = t.password.clone();
        }
        if self.ssh_private_key.is_empty() {
            self.ssh_private_key = t.ssh_private_key.clone();
        }
        if self.tls_client_cert_data.is_empty() {
            self.tls_client_cert_data = t.tls_client_cert_data.clone();
        }
        if self.tls_client_cert_key.is_empty() {
            self.tls_client_cert_key = t.tls_client_cert_key.clone();
        }
        if self.proxy.is_empty() {
            self.proxy = t.proxy.clone();
        }
        if self.no_proxy.is_empty() {
            self.no_proxy = t.no_proxy.clone();
        }
        self.force_http_basic_auth |= t.force_http_basic_auth;
    }

    /// Skip host key checking (ssh) or TLS verification (https): `insecure` or
    /// `insecureIgnoreHostKey`, as Argo CD's `IsInsecure`.
    pub fn is_insecure(&self) -> bool {
        self.insecure || self.insecure_ignore_host_key
    }

    /// The credentials to connect with.
    pub fn to_credentials(&self, known_hosts: Option<Arc<str>>) -> Credentials {
        let mut c = Credentials::basic(self.username.clone(), self.password.expose());
        if !self.ssh_private_key.is_empty() {
            c = c.with_ssh_private_key(self.ssh_private_key.clone());
        }
        if !self.tls_client_cert_data.is_empty() {
            c = c.with_tls_client_cert(
                self.tls_client_cert_data.clone(),
                self.tls_client_cert_key.clone(),
            );
        }
        if !self.proxy.is_empty() {
            c = c.with_proxy(self.proxy.clone(), self.no_proxy.clone());
        }
        if let Some(k) = known_hosts {
            c = c.with_known_hosts(k);
        }
        c.insecure(self.is_insecure())
    }
}

/// Why credentials could not be read. Never carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredsError {
    #[error("{source_name}: {message}")]
    Invalid {
        /// `Secret argocd/NAME` or `FILE:LINE`.
        source_name: String,
        message: String,
    },
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
}

/// Every repository and credential template known, with the SSH known hosts.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    repositories: Vec<RepoCredentials>,
    templates: Vec<RepoCredentials>,
    known_hosts: Option<Arc<str>>,
    /// Trusted certificates (PEM) by host name, lower-case, without port.
    tls_certs: BTreeMap<String, Arc<str>>,
}

/// The ConfigMap Argo CD reads trusted TLS certificates for Git hosts from.
pub const TLS_CERTS_CONFIG_MAP: &str = "argocd-tls-certs-cm";

/// The host of an `https://` URL, lower-case and without port or user information.
fn https_host(url: &str) -> Option<String> {
    let rest = url.trim();
    let rest = rest
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("https://"))
        .map(|_| &rest[8..])?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    Some(server_name_without_port(host_port))
}

/// `host:port` → `host` (`[v6]:port` → `[v6]`), lower-case: Argo CD's `ServerNameWithoutPort`.
fn server_name_without_port(name: &str) -> String {
    let name = name.trim();
    let host = match name.rfind(':') {
        Some(i)
            if !name[i..].contains(']') && name[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &name[..i]
        }
        _ => name,
    };
    host.to_ascii_lowercase()
}

/// Credentials resolved for one repository URL.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The merged entry (repository Secret enriched by its template, or the template alone).
    pub entry: RepoCredentials,
    /// Whether a `repository` entry matched.
    pub repository: bool,
    /// The URL of the template that supplied credentials, if one did.
    pub template_url: Option<String>,
}

impl Resolved {
    /// Credentials to give a [`crate::Source`].
    pub fn credentials(&self, known_hosts: Option<Arc<str>>) -> Credentials {
        self.entry.to_credentials(known_hosts)
    }
}

impl CredentialStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one entry.
    pub fn add(&mut self, kind: CredsKind, entry: RepoCredentials) {
        match kind {
            CredsKind::Repository => self.repositories.push(entry),
            CredsKind::RepoCreds => self.templates.push(entry),
        }
    }

    /// Sets the SSH known hosts (`ssh_known_hosts` of Argo CD's `argocd-ssh-known-hosts-cm`).
    pub fn set_known_hosts(&mut self, known_hosts: impl Into<String>) {
        self.known_hosts = Some(Arc::from(known_hosts.into()));
    }

    /// The SSH known hosts, if set.
    pub fn known_hosts(&self) -> Option<Arc<str>> {
        self.known_hosts.clone()
    }

    /// Trusts these certificates (PEM, one or more) for https repositories on `host` (a port is
    /// ignored), instead of the system's root certificates: one entry of Argo CD's
    /// `argocd-tls-certs-cm`.
    pub fn set_tls_certs(&mut self, host: &str, pem: impl Into<String>) {
        self.tls_certs
            .insert(server_name_without_port(host), Arc::from(pem.into()));
    }

    /// Reads Argo CD's `argocd-tls-certs-cm` ConfigMap: each key a host name, each value the PEM
    /// certificates trusted for it.
    pub fn add_tls_certs_config_map(&mut self, cm: &k8s_openapi::api::core::v1::ConfigMap) {
        for (host, pem) in cm.data.iter().flatten() {
            self.set_tls_certs(host, pem.clone());
        }
    }

    /// The certificates trusted for an `https://` URL's host, if configured.
    pub fn tls_certs_for(&self, url: &str) -> Option<Arc<str>> {
        self.tls_certs.get(&https_host(url)?).cloned()
    }

    /// Repository entries.
    pub fn repositories(&self) -> &[RepoCredentials] {
        &self.repositories
    }

    /// Credential templates.
    pub fn templates(&self) -> &[RepoCredentials] {
        &self.templates
    }

    /// Reads Argo CD Secrets; Secrets without the `argocd.argoproj.io/secret-type` label (or with
    /// another type) are skipped, as Argo CD skips them.
    pub fn from_secrets<'a>(
        secrets: impl IntoIterator<Item = &'a k8s_openapi::api::core::v1::Secret>,
    ) -> Result<Self, CredsError> {
        let mut store = Self::new();
        for s in secrets {
            store.add_secret(s)?;
        }
        Ok(store)
    }

    /// Reads one or more Secret manifests (a JSON object, a JSON `List`, or YAML documents separated
    /// by `---`), as `kubectl get secret -o json|yaml` prints them.
    pub fn from_secret_manifests(text: &str, origin: &str) -> Result<Self, CredsError> {
        let mut store = Self::new();
        for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = serde_yaml::Value::deserialize(doc).map_err(|e| CredsError::Invalid {
                source_name: format!("{origin} (document {})", i + 1),
                message: yaml_error(&e),
            })?;
            if value.is_null() {
                continue;
            }
            let items = match value.get("items").and_then(|v| v.as_sequence()) {
                Some(items) => items.clone(),
                None => vec![value],
            };
            for item in items {
                let secret: k8s_openapi::api::core::v1::Secret =
                    serde_path_to_error::deserialize(item).map_err(|e| CredsError::Invalid {
                        source_name: format!("{origin} (document {})", i + 1),
                        message: format!(
                            "not a Secret: {}: {}",
                            e.path(),
                            without_value(&e.inner().to_string())
                        ),
                    })?;
                store.add_secret(&secret)?;
            }
        }
        Ok(store)
    }

    /// Adds one Secret (skipped unless labelled `repository` or `repo-creds`).
    pub fn add_secret(
        &mut self,
        secret: &k8s_openapi::api::core::v1::Secret,
    ) -> Result<(), CredsError> {
        let meta = &secret.metadata;
        let kind = match meta
            .labels
            .as_ref()
            .and_then(|l| l.get(SECRET_TYPE_LABEL))
            .map(String::as_str)
        {
            Some("repository") => CredsKind::Repository,
            Some("repo-creds") => CredsKind::RepoCreds,
            _ => return Ok(()),
        };
        let name = format!(
            "Secret {}/{}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default()
        );
        // `stringData` wins over `data`, as the API server merges it on write.
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in secret.data.iter().flatten() {
            let text = String::from_utf8(v.0.clone()).map_err(|_| CredsError::Invalid {
                source_name: name.clone(),
                message: format!("data.{k} is not UTF-8"),
            })?;
            fields.insert(k.clone(), text);
        }
        for (k, v) in secret.string_data.iter().flatten() {
            fields.insert(k.clone(), v.clone());
        }
        let entry = entry_from_fields(&fields, kind, &name)?;
        self.add(kind, entry);
        Ok(())
    }

    /// Reads the file-mode configuration (format in the crate README).
    pub fn from_file(path: &Path) -> Result<Self, CredsError> {
        let text = std::fs::read_to_string(path).map_err(|e| CredsError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_yaml(&text, path)
    }

    /// Parses the file-mode configuration; `path` names it in errors and anchors relative
    /// `*File` paths.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Self, CredsError> {
        let origin = path.display().to_string();
        let de = serde_yaml::Deserializer::from_str(text);
        let file: CredsFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .location()
                .map(|l| format!(":{}", l.line()))
                .unwrap_or_default();
            CredsError::Invalid {
                source_name: format!("{origin}{line}"),
                message: if field.is_empty() || field == "." {
                    without_value(&yaml_error(&inner))
                } else {
                    format!("{field}: {}", without_value(&yaml_error(&inner)))
                },
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut store = Self::new();
        for (list, kind, key) in [
            (file.repositories, CredsKind::Repository, "repositories"),
            (
                file.credential_templates,
                CredsKind::RepoCreds,
                "credentialTemplates",
            ),
        ] {
            for (i, e) in list.into_iter().enumerate() {
                let at = format!("{origin}: {key}[{i}]");
                let (mut entry, files) = e.into_entry();
                if entry.url.trim().is_empty() {
                    return Err(CredsError::Invalid {
                        source_name: at,
                        message: "url is required".into(),
                    });
                }
                let [password, ssh_key, cert, cert_key] = files;
                let read =
                    |f: &Option<PathBuf>, field: &str| -> Result<Option<String>, CredsError> {
                        let Some(f) = f else { return Ok(None) };
                        let p = base.join(f);
                        std::fs::read_to_string(&p)
                            .map(Some)
                            .map_err(|err| CredsError::Read {
                                path: format!("{at}.{field} ({})", p.display()),
                                message: err.to_string(),
                            })
                    };
                if let Some(t) = read(&password, "passwordFile")? {
                    // A password file usually ends with a newline that is not part of it.
                    entry.password = SecretString(t.trim_end_matches(['\n', '\r']).to_owned());
                }
                if let Some(t) = read(&ssh_key, "sshPrivateKeyFile")? {
                    entry.ssh_private_key = SecretString(t);
                }
                if let Some(t) = read(&cert, "tlsClientCertFile")? {
                    entry.tls_client_cert_data = t;
                }
                if let Some(t) = read(&cert_key, "tlsClientCertKeyFile")? {
                    entry.tls_client_cert_key = SecretString(t);
                }
                store.add(kind, entry);
            }
        }
        match (file.ssh_known_hosts, file.ssh_known_hosts_file) {
            (Some(_), Some(_)) => {
                return Err(CredsError::Invalid {
                    source_name: origin,
                    message: "give sshKnownHosts or sshKnownHostsFile, not both".into(),
                });
            }
            (Some(k), None) => store.set_known_hosts(k),
            (None, Some(f)) => {
                let p = base.join(f);
                let text = std::fs::read_to_string(&p).map_err(|err| CredsError::Read {
                    path: format!("{origin}: sshKnownHostsFile ({})", p.display()),
                    message: err.to_string(),
                })?;
                store.set_known_hosts(text);
            }
            (None, None) => {}
        }
        for (host, pem) in file.tls_certs {
            store.set_tls_certs(&host, pem);
        }
        for (host, f) in file.tls_certs_files {
            let p = base.join(f);
            let text = std::fs::read_to_string(&p).map_err(|err| CredsError::Read {
                path: format!("{origin}: tlsCertsFiles.{host} ({})", p.display()),
                message: err.to_string(),
            })?;
            store.set_tls_certs(&host, text);
        }
        Ok(store)
    }

    /// Resolves credentials for a repository URL and (optionally) an Argo CD project, with Argo CD's
    /// precedence: the project's own `repository` entry, else a project-less one, enriched by (or
    /// else replaced by) the longest-prefix `repo-creds` template. `None` when nothing matches.
    pub fn resolve(&self, url: &str, project: Option<&str>) -> Option<Resolved> {
        let want = normalize_url(url);
        let project = project.unwrap_or_default();
        let mut repository = None;
        for r in &self.repositories {
            if normalize_url(&r.url) != want {
                continue;
            }
            if r.project == project {
                repository = Some(r);
                break;
            }
            if r.project.is_empty() && repository.is_none() {
                repository = Some(r);
            }
        }
        let template = self.template_for(&want);
        match (repository, template) {
            (None, None) => None,
            (Some(r), t) => {
                let mut entry = r.clone();
                let template_url = match t {
                    Some(t) if !r.has_credentials() => {
                        entry.copy_credentials_from(t);
                        Some(t.url.clone())
                    }
                    _ => None,
                };
                Some(Resolved {
                    entry,
                    repository: true,
                    template_url,
                })
            }
            (None, Some(t)) => {
                let mut entry = t.clone();
                entry.url = url.to_owned();
                Some(Resolved {
                    entry,
                    repository: false,
                    template_url: Some(t.url.clone()),
                })
            }
        }
    }

    /// Credentials for a URL (see [`CredentialStore::resolve`]), with the store's known hosts and
    /// the certificates trusted for its host (those alone make credentials, as in Argo CD, where
    /// `argocd-tls-certs-cm` applies to every repository on the host).
    pub fn credentials_for(&self, url: &str, project: Option<&str>) -> Option<Credentials> {
        let tls = self.tls_certs_for(url);
        let creds = match self.resolve(url, project) {
            Some(r) => r.credentials(self.known_hosts.clone()),
            None if tls.is_some() => Credentials::none(),
            None => return None,
        };
        Some(match tls {
            Some(pem) => creds.with_tls_certs(pem),
            None => creds,
        })
    }

    /// The longest-prefix template for a normalised URL; the first one on a tie.
    fn template_for(&self, normalized: &str) -> Option<&RepoCredentials> {
        let mut best: Option<(usize, &RepoCredentials)> = None;
        for t in &self.templates {
            let prefix = normalize_url(&t.url);
            if normalized.starts_with(&prefix) && best.is_none_or(|(len, _)| prefix.len() > len) {
                best = Some((prefix.len(), t));
            }
        }
        best.map(|(_, t)| t)
    }
}

/// A serde message without the offending value (`invalid type: string "hunter2", expected …`
/// keeps only what was expected), since the value may be a secret.
fn without_value(message: &str) -> String {
    match message.find(", expected ") {
        Some(i) if message.starts_with("invalid ") => {
            format!("invalid value ({})", &message[i + 2..])
        }
        _ if message.starts_with("invalid ") => "invalid value".to_owned(),
        _ => message.to_owned(),
    }
}

fn yaml_error(e: &serde_yaml::Error) -> String {
    // serde_yaml appends " at line L column C"; the caller reports the line itself.
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn entry_from_fields(
    fields: &BTreeMap<String, String>,
    kind: CredsKind,
    name: &str,
) -> Result<RepoCredentials, CredsError> {
    let s = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let secret = |k: &str| SecretString(s(k));
    let flag = |k: &str| -> Result<bool, CredsError> {
        match fields.get(k) {
            None => Ok(false),
            Some(v) if v.is_empty() => Ok(false),
            Some(v) => parse_bool(v).ok_or_else(|| CredsError::Invalid {
                source_name: name.to_owned(),
                message: format!("{k}: `{v}` is not a boolean (true/false)"),
            }),
        }
    };
    let entry = RepoCredentials {
        url: s("url"),
        name: s("name"),
        project: if kind == CredsKind::Repository {
            s("project")
        } else {
            String::new()
        },
        repo_type: s("type"),
        username: s("username"),
        password: secret("password"),
        ssh_private_key: secret("sshPrivateKey"),
        tls_client_cert_data: s("tlsClientCertData"),
        tls_client_cert_key: secret("tlsClientCertKey"),
        insecure: flag("insecure")?,
        insecure_ignore_host_key: flag("insecureIgnoreHostKey")?,
        enable_lfs: flag("enableLfs")?,
        force_http_basic_auth: flag("forceHttpBasicAuth")?,
        proxy: secret("proxy"),
        no_proxy: s("noProxy"),
    };
    if entry.url.trim().is_empty() {
        return Err(CredsError::Invalid {
            source_name: name.to_owned(),
            message: "data.url is required".into(),
        });
    }
    Ok(entry)
}

/// The file-mode configuration.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredsFile {
    #[serde(default)]
    repositories: Vec<FileEntry>,
    #[serde(default)]
    credential_templates: Vec<FileEntry>,
    #[serde(default)]
    ssh_known_hosts: Option<String>,
    #[serde(default)]
    ssh_known_hosts_file: Option<PathBuf>,
    /// Host → PEM certificates (Argo CD's `argocd-tls-certs-cm` data).
    #[serde(default)]
    tls_certs: BTreeMap<String, String>,
    /// Host → file with PEM certificates.
    #[serde(default)]
    tls_certs_files: BTreeMap<String, PathBuf>,
}

/// One entry of the file: [`RepoCredentials`]' fields, plus `*File` variants of the secret ones.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileEntry {
    url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    project: String,
    #[serde(default, rename = "type")]
    repo_type: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: SecretString,
    #[serde(default)]
    ssh_private_key: SecretString,
    #[serde(default)]
    tls_client_cert_data: String,
    #[serde(default)]
    tls_client_cert_key: SecretString,
    #[serde(default, deserialize_with = "de_bool")]
    insecure: bool,
    #[serde(default, deserialize_with = "de_bool")]
    insecure_ignore_host_key: bool,
    #[serde(default, deserialize_with = "de_bool")]
    enable_lfs: bool,
    #[serde(default, deserialize_with = "de_bool")]
    force_http_basic_auth: bool,
    #[serde(default)]
    proxy: SecretString,
    #[serde(default)]
    no_proxy: String,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default)]
    ssh_private_key_file: Option<PathBuf>,
    #[serde(default)]
    tls_client_cert_file: Option<PathBuf>,
    #[serde(default)]
    tls_client_cert_key_file: Option<PathBuf>,
}

impl FileEntry {
    fn into_entry(self) -> (RepoCredentials, [Option<PathBuf>; 4]) {
        (
            RepoCredentials {
                url: self.url,
                name: self.name,
                project: self.project,
                repo_type: self.repo_type,
                username: self.username,
                password: self.password,
                ssh_private_key: self.ssh_private_key,
                tls_client_cert_data: self.tls_client_cert_data,
                tls_client_cert_key: self.tls_client_cert_key,
                insecure: self.insecure,
                insecure_ignore_host_key: self.insecure_ignore_host_key,
                enable_lfs: self.enable_lfs,
                force_http_basic_auth: self.force_http_basic_auth,
                proxy: self.proxy,
                no_proxy: self.no_proxy,
            },
            [
                self.password_file,
                self.ssh_private_key_file,
                self.tls_client_cert_file,
                self.tls_client_cert_key_file,
            ],
        )
    }
}
