//! Connecting with credentials: HTTP(S) through gitoxide's reqwest backend (basic auth, trusted
//! certificates, TLS client certificates, `insecure`, proxies) and SSH through the system `ssh` binary with a private key
//! and known hosts written to a private temporary directory.
//!
//! Passwords never go into URLs: the identity is handed to the transport, and the credential
//! callback answers gitoxide's credential-helper requests.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use gix::protocol::transport::client::blocking_io::{http, ssh};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::cache::Credentials;

/// Files the ssh process reads (key, known hosts), removed when dropped.
pub(crate) struct SshFiles {
    dir: tempfile::TempDir,
}

impl SshFiles {
    /// The last lines ssh wrote to stderr (e.g. `Host key verification failed.`), without its
    /// warning banners.
    pub(crate) fn stderr(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('@'))
            .collect();
        lines[lines.len().saturating_sub(2)..].join(" ")
    }
}

/// HTTP transport options carrying the credentials' TLS and proxy settings.
///
/// gix's reqwest backend builds a new reqwest client for every connection. Left alone, each build
/// loads the system's root certificates (rustls-platform-verifier), ~20–30 ms per connection in a
/// debug build and the largest part of a warm fetch. So for `https://` every client gets a rustls
/// configuration built once per TLS setting ([`tls_config`]) and for plain `http://` a client
/// without root certificates.
pub(crate) fn http_options(
    creds: Option<&Credentials>,
    plain_http: bool,
) -> Result<http::Options, String> {
    let default = Credentials::none();
    let creds = creds.unwrap_or(&default);
    let tls = if plain_http {
        None
    } else {
        Some(tls_config(creds)?)
    };
    let proxy = match creds.proxy() {
        Some((url, no_proxy)) => {
            let p = reqwest::Proxy::all(url.expose())
                .map_err(|_| "proxy: not a valid proxy URL".to_owned())?;
            Some(p.no_proxy(reqwest::NoProxy::from_string(no_proxy)))
        }
        None => None,
    };
    let insecure = creds.is_insecure();
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |mut builder| {
            builder = match &tls {
                Some(config) => {
                    builder.tls_backend_preconfigured(rustls::ClientConfig::clone(config))
                }
                None => builder.tls_certs_only(Vec::<reqwest::Certificate>::new()),
            };
            if let Some(p) = &proxy {
                builder = builder.proxy(p.clone());
            }
            Ok(builder)
        })),
        configure_request: None,
    };
    Ok(http::Options {
        ssl_verify: !insecure,
        backend: Some(Arc::new(Mutex::new(backend))),
        ..Default::default()
    })
}

/// The HTTP client for the one-request ref listing ([`crate::smart_http`]): one per distinct TLS
/// and proxy setting and process, shared by every repository with that setting, so connections
/// to a host are kept alive across repositories. TLS (trusted certificates, `insecure`, client
/// certificate) and the proxy are the ones [`http_options`] gives gitoxide's clients.
pub(crate) fn shared_http_client(
    creds: Option<&Credentials>,
    plain_http: bool,
) -> Result<reqwest::blocking::Client, String> {
    use sha2::Digest;
    static CLIENTS: OnceLock<Mutex<HashMap<[u8; 32], reqwest::blocking::Client>>> = OnceLock::new();
    let default = Credentials::none();
    let creds = creds.unwrap_or(&default);
    let mut h = sha2::Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(&[u8::from(plain_http), u8::from(creds.is_insecure())]);
    field(creds.tls_certs().map(|c| c.as_bytes()).unwrap_or_default());
    let (cert, key) = creds
        .tls_client_cert()
        .map(|(c, k)| (c.as_str(), k.expose()))
        .unwrap_or_default();
    field(cert.as_bytes());
    field(key.as_bytes());
    let (proxy, no_proxy) = creds
        .proxy()
        .map(|(p, n)| (p.expose(), n.as_str()))
        .unwrap_or_default();
    field(proxy.as_bytes());
    field(no_proxy.as_bytes());
    let id: [u8; 32] = h.finalize().into();
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(c) = clients.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return Ok(c.clone());
    }
    let mut builder = reqwest::blocking::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("git/tether-", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(std::time::Duration::from_secs(60));
    builder = if plain_http {
        builder.tls_certs_only(Vec::<reqwest::Certificate>::new())
    } else {
        builder.tls_backend_preconfigured(rustls::ClientConfig::clone(&*tls_config(creds)?))
    };
    if let Some((url, no_proxy)) = creds.proxy() {
        let p = reqwest::Proxy::all(url.expose())
            .map_err(|_| "proxy: not a valid proxy URL".to_owned())?;
        builder = builder.proxy(p.no_proxy(reqwest::NoProxy::from_string(no_proxy)));
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut map = clients.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= 256 {
        map.clear();
    }
    map.insert(id, client.clone());
    Ok(client)
}

/// Credentials over plain http to a host that is not loopback: sent, as Argo CD does, with a
/// warning.
pub(crate) fn warn_plain_http_credentials(source: &crate::cache::Source) {
    if source.credentials().is_some() && source.url().starts_with("http://") {
        let host = source.url()["http://".len()..]
            .split(['/', ':'])
            .next()
            .unwrap_or_default();
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            tracing::warn!(
                repo = source.url(),
                "sending credentials over plain http, as Argo CD does; prefer https"
            );
        }
    }
}

/// The rustls client configuration for these credentials' TLS settings: the trusted certificates
/// ([`Credentials::with_tls_certs`], else the system's roots), `insecure` (no verification) and
/// the client certificate. Built once per distinct setting and process, then shared.
pub(crate) fn tls_config(creds: &Credentials) -> Result<Arc<rustls::ClientConfig>, String> {
    use sha2::Digest;
    static CONFIGS: OnceLock<Mutex<HashMap<[u8; 32], Arc<rustls::ClientConfig>>>> = OnceLock::new();
    let mut h = sha2::Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(&[u8::from(creds.is_insecure())]);
    field(creds.tls_certs().map(|c| c.as_bytes()).unwrap_or_default());
    let (cert, key) = creds
        .tls_client_cert()
        .map(|(c, k)| (c.as_str(), k.expose()))
        .unwrap_or_default();
    field(cert.as_bytes());
    field(key.as_bytes());
    let id: [u8; 32] = h.finalize().into();
    let configs = CONFIGS.get_or_init(Default::default);
    if let Some(c) = configs.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return Ok(c.clone());
    }
    let config = Arc::new(build_tls_config(creds)?);
    let mut map = configs.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= 256 {
        map.clear();
    }
    map.insert(id, config.clone());
    Ok(config)
}

fn crypto_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// The verifier against the system's root certificates, loaded once per process.
fn system_verifier() -> Result<Arc<dyn ServerCertVerifier>, String> {
    static SYSTEM: OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, String>> =
        OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            rustls_platform_verifier::Verifier::new(crypto_provider())
                .map(Arc::new)
                .map_err(|e| format!("cannot load the system's root certificates: {e}"))
        })
        .clone()
        .map(|v| v as Arc<dyn ServerCertVerifier>)
}

fn build_tls_config(creds: &Credentials) -> Result<rustls::ClientConfig, String> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if creds.is_insecure() {
        Arc::new(AcceptAnyCertificate(provider.clone()))
    } else if let Some(pem) = creds.tls_certs() {
        // Argo CD trusts only the certificates configured for the host (`argocd-tls-certs-cm`).
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| "TLS certificates: not valid PEM".to_owned())?;
            roots
                .add(cert)
                .map_err(|e| format!("TLS certificates: unusable certificate: {e}"))?;
        }
        if roots.is_empty() {
            return Err("TLS certificates: no PEM certificate found".to_owned());
        }
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("TLS certificates: {e}"))?
    } else {
        system_verifier()?
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let bad_identity =
        || "tlsClientCertData/tlsClientCertKey: not a PEM certificate and private key".to_owned();
    let mut config = match creds.tls_client_cert() {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| bad_identity())?;
            if chain.is_empty() {
                return Err(bad_identity());
            }
            let key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes())
                .map_err(|_| bad_identity())?;
            builder
                .with_client_auth_cert(chain, key)
                // rustls' message names the problem (e.g. a key that does not match), not the key.
                .map_err(|e| format!("tlsClientCertData/tlsClientCertKey: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `insecure: true`: any server certificate is accepted (the handshake's signatures are still
/// checked against it), as Argo CD's `InsecureSkipVerify`.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `'…'`-quoted for `sh`.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    // ssh refuses a key without a final newline.
    if !contents.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    Ok(())
}

/// The ssh invocation for these credentials: `-i KEY -o IdentitiesOnly=yes` with a key,
/// `UserKnownHostsFile` from the known hosts, strict host key checking unless insecure, and batch
/// mode (never a prompt). The key and known hosts go to a `0600` file in a fresh `0700` directory
/// under `tmp`, deleted when the returned guard drops.
pub(crate) fn ssh_options(
    tmp: &Path,
    creds: Option<&Credentials>,
) -> Result<(ssh::connect::Options, SshFiles), String> {
    let io = |e: std::io::Error| format!("cannot prepare ssh files under {}: {e}", tmp.display());
    std::fs::create_dir_all(tmp).map_err(io)?;
    let dir = tempfile::Builder::new()
        .prefix("ssh-")
        .tempdir_in(tmp)
        .map_err(io)?;
    let mut cmd = String::from("ssh -o BatchMode=yes -o LogLevel=ERROR");
    let insecure = creds.is_some_and(Credentials::is_insecure);
    if insecure {
        cmd.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
    } else {
        cmd.push_str(" -o StrictHostKeyChecking=yes");
        if let Some(known) = creds.and_then(Credentials::known_hosts) {
            let path = dir.path().join("known_hosts");
            write_private(&path, known).map_err(io)?;
            cmd.push_str(&format!(
                " -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
                quote(&path)
            ));
        }
    }
    if let Some(key) = creds.and_then(Credentials::ssh_private_key) {
        let path = dir.path().join("id");
        write_private(&path, key.expose()).map_err(io)?;
        cmd.push_str(&format!(" -i {} -o IdentitiesOnly=yes", quote(&path)));
    }
    // gix runs this through `sh -c`; ssh's messages go to a file for the error message.
    cmd.push_str(&format!(" \"$@\" 2>>{}", quote(&dir.path().join("stderr"))));
    let options = ssh::connect::Options {
        command: Some(cmd.into()),
        disallow_shell: false,
        kind: Some(ssh::ProgramKind::Ssh),
    };
    Ok((options, SshFiles { dir }))
}
