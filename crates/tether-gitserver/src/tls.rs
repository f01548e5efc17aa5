//! HTTPS for the test server: a throwaway CA ([`TestCa`], rcgen), a server certificate for
//! 127.0.0.1 and client certificates, and a TLS listener for axum (rustls with aws-lc-rs).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

/// A certificate and its private key, both PEM. `Debug` hides the key.
#[derive(Clone)]
pub struct Pem {
    /// The certificate (leaf only; the issuing CA is [`TestCa::cert_pem`]).
    pub cert: String,
    /// Its PKCS#8 private key.
    pub key: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem")
            .field("cert", &self.cert)
            .field("key", &"***")
            .finish()
    }
}

/// A self-signed certificate authority made for one test, issuing server and client certificates.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    pem: String,
}

impl TestCa {
    /// A new CA with this common name (ECDSA P-256).
    pub fn new(name: &str) -> Result<Self, Error> {
        let key = rcgen::KeyPair::generate().map_err(tls_err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(tls_err)?;
        let pem = cert.pem();
        Ok(Self { cert, key, pem })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// A server certificate for these names (IP addresses become IP subject alternative names).
    pub fn server_cert(&self, names: &[&str]) -> Result<Pem, Error> {
        self.issue(names, rcgen::ExtendedKeyUsagePurpose::ServerAuth, "server")
    }

    /// A client certificate (TLS client authentication) with this common name.
    pub fn client_cert(&self, name: &str) -> Result<Pem, Error> {
        self.issue(&[], rcgen::ExtendedKeyUsagePurpose::ClientAuth, name)
    }

    fn issue(
        &self,
        names: &[&str],
        usage: rcgen::ExtendedKeyUsagePurpose,
        common_name: &str,
    ) -> Result<Pem, Error> {
        let key = rcgen::KeyPair::generate().map_err(tls_err)?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).map_err(tls_err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(tls_err)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

/// The server's rustls configuration: its certificate, and client certificates from `ca`
/// required when `require_client_cert`.
pub(crate) fn server_config(
    ca: &TestCa,
    server: &Pem,
    require_client_cert: bool,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = vec![CertificateDer::from_pem_slice(server.cert.as_bytes()).map_err(tls_err)?];
    let key = PrivateKeyDer::from_pem_slice(server.key.as_bytes()).map_err(tls_err)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).map_err(tls_err)?)
            .map_err(tls_err)?;
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(tls_err)?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(chain, key).map_err(tls_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// Accepts TCP connections and hands axum those whose TLS handshake succeeded; handshakes run
/// concurrently, failed ones are recorded.
pub(crate) struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(
        listener: tokio::net::TcpListener,
        config: Arc<rustls::ServerConfig>,
        failures: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx, failures) = (acceptor.clone(), tx.clone(), failures.clone());
                tokio::spawn(async move {
                    let outcome =
                        tokio::time::timeout(Duration::from_secs(20), acceptor.accept(tcp)).await;
                    match outcome {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => {
                            if let Ok(mut f) = failures.lock() {
                                f.push(e.to_string());
                            }
                        }
                        Err(_) => {
                            if let Ok(mut f) = failures.lock() {
                                f.push("TLS handshake timed out".to_owned());
                            }
                        }
                    }
                });
            }
        });
        Self { rx, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
