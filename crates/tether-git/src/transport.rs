//! Connecting with credentials: HTTP(S) through gitoxide's reqwest backend (basic auth, TLS client
//! certificates, `insecure`, proxies) and SSH through the system `ssh` binary with a private key
//! and known hosts written to a private temporary directory.
//!
//! Passwords never go into URLs: the identity is handed to the transport, and the credential
//! callback answers gitoxide's credential-helper requests.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use gix::protocol::transport::client::blocking_io::{http, ssh};

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

/// HTTP transport options carrying the credentials' TLS and proxy settings. For plain `http://`
/// the client skips loading the system's root certificates (rustls-platform-verifier), which
/// otherwise costs ~20 ms (debug build) per connection, the largest part of a warm fetch.
pub(crate) fn http_options(
    creds: Option<&Credentials>,
    plain_http: bool,
) -> Result<http::Options, String> {
    let default = Credentials::none();
    let creds = creds.unwrap_or(&default);
    let identity = match creds.tls_client_cert() {
        Some((cert, key)) => {
            let mut pem = cert.trim_end().to_owned();
            pem.push('\n');
            pem.push_str(key.expose().trim_end());
            pem.push('\n');
            Some(reqwest::Identity::from_pem(pem.as_bytes()).map_err(|_| {
                "tlsClientCertData/tlsClientCertKey: not a PEM certificate and private key"
                    .to_owned()
            })?)
        }
        None => None,
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
            if plain_http {
                builder = builder.tls_certs_only(Vec::<reqwest::Certificate>::new());
            }
            if insecure {
                builder = builder.danger_accept_invalid_certs(true);
            }
            if let Some(id) = &identity {
                builder = builder.identity(id.clone());
            }
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
