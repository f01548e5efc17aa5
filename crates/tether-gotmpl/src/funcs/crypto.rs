//! Sprig's key and certificate generators and `derivePassword` (Master Password), with Sprig's PEM shapes:
//! `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1), `PRIVATE KEY` (PKCS#8, ed25519), `CERTIFICATE`.
//!
//! Certificates are Sprig's `certificate` struct (`.Cert`, `.Key`), an [`Object`]. Signing goes through
//! rcgen (ring); RSA keys are generated with the `rsa` crate (ring cannot generate them), DSA keys
//! (L2048N256, as Sprig) with the `dsa` crate, written as Sprig's `DSA PRIVATE KEY` (the OpenSSL layout:
//! version, P, Q, G, Y, X). DSA keys are accepted by the `...WithKey` functions and fail in certificate
//! creation with Go's x509 errors, as in helm.

use std::net::IpAddr;
use std::rc::Rc;

use hmac::{Hmac, Mac};
use rand::RngCore;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};

use super::{FnError, FnResult, P, Registry, i, s};
use crate::value::{Object, Value};

/// Sprig's `certificate` struct.
#[derive(Debug)]
pub(crate) struct Certificate {
    pub cert: String,
    pub key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> String {
        "sprig.certificate".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::str(self.cert.as_str())),
            "Key" => Some(Value::str(self.key.as_str())),
            _ => None,
        }
    }
    fn display(&self) -> Option<String> {
        Some(format!("{{{} {}}}", self.cert, self.key))
    }
}

fn cert_value(cert: String, key: String) -> FnResult {
    Ok(Value::Object(Rc::new(Certificate { cert, key })))
}

const SEED: &str = "com.lyndir.masterpassword";

fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_chars(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// The Master Password algorithm (v3) as Sprig implements it.
pub(crate) fn derive_password(
    counter: u32,
    kind: &str,
    password: &str,
    user: &str,
    site: &str,
) -> String {
    let Some(tpls) = templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = SEED.as_bytes().to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let params = scrypt::Params::new(15, 8, 2, 64).expect("valid scrypt parameters");
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut msg = SEED.as_bytes().to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let tpl = tpls[seed[0] as usize % tpls.len()].as_bytes();
    tpl.iter()
        .enumerate()
        .map(|(i, &c)| {
            let chars = template_chars(c);
            chars[seed[i + 1] as usize % chars.len()] as char
        })
        .collect()
}

/// A private key of one of the kinds Sprig produces.
enum Key {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ec(p256::SecretKey),
    Ed(ed25519_dalek::SigningKey),
    /// The DER of a `DSA PRIVATE KEY` (Go's x509 cannot sign with DSA, so it is only carried).
    Dsa(Vec<u8>),
}

/// A DER INTEGER of a non-negative big-endian magnitude.
fn der_uint(out: &mut Vec<u8>, mag: &[u8]) {
    let mag = {
        let nz = mag.iter().position(|b| *b != 0).unwrap_or(mag.len());
        &mag[nz..]
    };
    let mut body = Vec::with_capacity(mag.len() + 1);
    if mag.is_empty() || mag[0] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(mag);
    der_tlv(out, 0x02, &body);
}

fn der_tlv(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len = n.to_be_bytes();
        let skip = len.iter().position(|b| *b != 0).unwrap_or(len.len() - 1);
        out.push(0x80 | (len.len() - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend_from_slice(body);
}

/// Sprig's DSAKeyFormat {Version, P, Q, G, Y, X}, as Go's asn1.Marshal writes it.
fn gen_dsa_der() -> Vec<u8> {
    let mut rng = rand::thread_rng();
    let components = dsa::Components::generate(&mut rng, dsa::KeySize::DSA_2048_256);
    let key = dsa::SigningKey::generate(&mut rng, components);
    let vk = key.verifying_key();
    let c = vk.components();
    let mut body = Vec::new();
    der_uint(&mut body, &[0]);
    for n in [c.p(), c.q(), c.g(), vk.y(), key.x()] {
        der_uint(&mut body, &n.to_bytes_be());
    }
    let mut out = Vec::new();
    der_tlv(&mut out, 0x30, &body);
    out
}

/// Go's asn1.Unmarshal into DSAKeyFormat, for the common failures: a SEQUENCE of six INTEGERs.
fn check_dsa_der(der: &[u8]) -> Result<(), String> {
    fn tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
        let trunc = || "asn1: syntax error: truncated tag or length".to_string();
        let (&tag, rest) = b.split_first().ok_or_else(trunc)?;
        let (&l0, mut rest) = rest.split_first().ok_or_else(trunc)?;
        let len = if l0 < 0x80 {
            l0 as usize
        } else {
            let n = (l0 & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(trunc());
            }
            let len = rest[..n].iter().fold(0usize, |a, b| a << 8 | *b as usize);
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return Err("asn1: syntax error: data truncated".into());
        }
        Ok((tag, &rest[..len], &rest[len..]))
    }
    let (tag, mut body, _) = tlv(der)?;
    if tag != 0x30 {
        return Err("asn1: structure error: tags don't match".into());
    }
    for _ in 0..6 {
        if body.is_empty() {
            return Err("asn1: syntax error: sequence truncated".into());
        }
        let (tag, _, rest) = tlv(body)?;
        if tag != 0x02 {
            return Err("asn1: structure error: tags don't match".into());
        }
        body = rest;
    }
    Ok(())
}

impl Key {
    fn rsa(bits: usize) -> Result<Key, String> {
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), bits)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| e.to_string())
    }

    /// Sprig's pemBlockForKey, encoded like Go's pem.EncodeToMemory.
    fn to_pem(&self) -> String {
        let pem = match self {
            Key::Rsa(k) => k.to_pkcs1_pem(LineEnding::LF).ok().map(|p| p.to_string()),
            Key::Ec(k) => k.to_sec1_pem(LineEnding::LF).ok().map(|p| p.to_string()),
            Key::Ed(_) => self.pkcs8_der().ok().map(|der| {
                pem::encode_config(
                    &pem::Pem::new("PRIVATE KEY", der),
                    pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
                )
            }),
            Key::Dsa(der) => Some(pem::encode_config(
                &pem::Pem::new("DSA PRIVATE KEY", der.clone()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            )),
        };
        pem.unwrap_or_default()
    }

    fn pkcs8_der(&self) -> Result<Vec<u8>, String> {
        let doc = match self {
            Key::Rsa(k) => k.to_pkcs8_der().map_err(|e| e.to_string())?,
            Key::Ec(k) => k.to_pkcs8_der().map_err(|e| e.to_string())?,
            // Go's MarshalPKCS8PrivateKey: version 1, no public key (ed25519-dalek writes version 2).
            Key::Ed(k) => {
                let mut der = vec![
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04,
                    0x22, 0x04, 0x20,
                ];
                der.extend_from_slice(k.as_bytes());
                return Ok(der);
            }
            Key::Dsa(_) => {
                return Err("error creating certificate: x509: certificate private key does not implement crypto.Signer".into());
            }
        };
        Ok(doc.as_bytes().to_vec())
    }

    fn key_pair(&self) -> Result<rcgen::KeyPair, String> {
        let der = self.pkcs8_der()?;
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der);
        let alg = match self {
            Key::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
            Key::Ec(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
            Key::Ed(_) => &rcgen::PKCS_ED25519,
            Key::Dsa(_) => unreachable!("pkcs8_der rejects DSA keys"),
        };
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, alg).map_err(|e| e.to_string())
    }
}

/// Go's pem.Decode: the first block, as (type, DER).
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let p = pem::parse(&text[start..]).ok()?;
    Some((p.tag().to_string(), p.contents().to_vec()))
}

/// Sprig's parsePrivateKeyPEM.
fn parse_private_key_pem(text: &str) -> Result<Key, String> {
    let Some((tag, der)) = pem_decode(text) else {
        return Err("no PEM data in input".into());
    };
    if tag == "PRIVATE KEY" {
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(&der) {
            return Ok(Key::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
            return Ok(Key::Ec(k));
        }
        return ed25519_dalek::SigningKey::from_pkcs8_der(&der)
            .map(Key::Ed)
            .map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(kind) = tag.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {tag}"));
    };
    match kind {
        "RSA" => rsa::RsaPrivateKey::from_pkcs1_der(&der)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => p256::SecretKey::from_sec1_der(&der)
            .map(Key::Ec)
            .map_err(|e| format!("parsing EC private key from PEM: {e}")),
        "DSA" => check_dsa_der(&der)
            .map(|()| Key::Dsa(der))
            .map_err(|e| format!("parsing DSA private key from PEM: {e}")),
        _ => Err(format!("invalid private key type {tag}")),
    }
}

fn gen_private_key(kind: &str) -> String {
    let key = match kind {
        "" | "rsa" => Key::rsa(4096),
        "dsa" => Ok(Key::Dsa(gen_dsa_der())),
        "ecdsa" => Ok(Key::Ec(p256::SecretKey::random(&mut rand::thread_rng()))),
        "ed25519" => Ok(Key::Ed(ed25519_dalek::SigningKey::generate(
            &mut rand::thread_rng(),
        ))),
        _ => return format!("Unknown type {kind}"),
    };
    match key {
        Ok(k) => k.to_pem(),
        Err(e) => format!("failed to generate private key: {e}"),
    }
}

/// Sprig's getBaseCertTemplate.
fn base_params(
    cn: &str,
    ips: &Value,
    dns: &Value,
    days: i64,
) -> Result<rcgen::CertificateParams, String> {
    let mut sans = Vec::new();
    let items = |v: &Value| match v {
        Value::List(_, l) => l.to_vec(),
        _ => Vec::new(),
    };
    let mut ip_sans = Vec::new();
    for ip in items(ips) {
        let Value::String(text) = &ip else {
            return Err(format!(
                "error parsing ip: {} is not a string",
                crate::fmt::sprint_v(&ip)
            ));
        };
        let addr: IpAddr = text
            .parse()
            .map_err(|_| format!("error parsing ip: {text}"))?;
        ip_sans.push(rcgen::SanType::IpAddress(addr));
    }
    for d in items(dns) {
        let Value::String(text) = &d else {
            return Err(format!(
                "error processing alternate dns name: {} is not a string",
                crate::fmt::sprint_v(&d)
            ));
        };
        let name = rcgen::Ia5String::try_from(text.to_string()).map_err(|e| e.to_string())?;
        sans.push(rcgen::SanType::DnsName(name));
    }
    sans.extend(ip_sans);
    let mut p = rcgen::CertificateParams::default();
    let mut serial = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.subject_alt_names = sans;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now;
    p.not_after = now + time::Duration::days(days);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    Ok(p)
}

fn created(cert: Result<rcgen::Certificate, rcgen::Error>, key: &Key) -> FnResult {
    match cert {
        Ok(c) => cert_value(c.pem().replace("\r\n", "\n"), key.to_pem()),
        Err(e) => Err(format!("error creating certificate: {e}").into()),
    }
}

fn gen_ca(cn: &str, days: i64, key: Key) -> FnResult {
    let mut p = base_params(cn, &Value::Nil, &Value::Nil, days)?;
    p.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let kp = key.key_pair()?;
    created(p.self_signed(&kp), &key)
}

/// The signee key: parsed from PEM before anything else (as Sprig does), or a fresh RSA key made once the
/// arguments are checked (Sprig makes it first, but that cannot fail, so only the cost differs).
enum KeySrc<'a> {
    Pem(&'a str),
    Fresh,
}

impl KeySrc<'_> {
    fn parsed(&self) -> Result<Option<Key>, FnError> {
        match self {
            KeySrc::Pem(text) => with_key(text).map(Some),
            KeySrc::Fresh => Ok(None),
        }
    }
}

fn resolve(key: Option<Key>) -> Result<Key, FnError> {
    match key {
        Some(k) => Ok(k),
        None => new_rsa(),
    }
}

fn gen_self_signed(cn: &str, ips: &Value, dns: &Value, days: i64, src: KeySrc) -> FnResult {
    let key = src.parsed()?;
    let p = base_params(cn, ips, dns, days)?;
    let key = resolve(key)?;
    let kp = key.key_pair()?;
    created(p.self_signed(&kp), &key)
}

fn as_cert(v: &Value) -> Result<(String, String), FnError> {
    match v {
        Value::Object(o) if o.type_name() == "sprig.certificate" => {
            let f = |n| match o.field(n) {
                Some(Value::String(s)) => s.to_string(),
                _ => String::new(),
            };
            Ok((f("Cert"), f("Key")))
        }
        _ => Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            v.type_name()
        )
        .into()),
    }
}

fn gen_signed(cn: &str, ips: &Value, dns: &Value, days: i64, ca: &Value, src: KeySrc) -> FnResult {
    let key = src.parsed()?;
    let (ca_cert, ca_key) = as_cert(ca)?;
    let Some((_, ca_der)) = pem_decode(&ca_cert) else {
        return Err("unable to decode certificate".into());
    };
    let ca_key =
        parse_private_key_pem(&ca_key).map_err(|e| format!("error parsing private key: {e}"))?;
    let ca_kp = ca_key.key_pair()?;
    let ca_der = rustls_pki_types::CertificateDer::from(ca_der);
    let ca_params = rcgen::CertificateParams::from_ca_cert_der(&ca_der)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let issuer = ca_params
        .self_signed(&ca_kp)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    let mut p = base_params(cn, ips, dns, days)?;
    // Go copies the CA's subject key identifier into an authority key identifier.
    p.use_authority_key_identifier_extension = true;
    let key = resolve(key)?;
    if let Key::Dsa(_) = key {
        return Err(
            "error creating certificate: x509: unsupported public key type: *dsa.PublicKey".into(),
        );
    }
    let kp = key.key_pair()?;
    created(p.signed_by(&kp, &issuer, &ca_kp), &key)
}

fn with_key(pem: &str) -> Result<Key, FnError> {
    parse_private_key_pem(pem).map_err(|e| format!("parsing private key: {e}").into())
}

fn new_rsa() -> Result<Key, FnError> {
    Key::rsa(2048).map_err(|e| format!("error generating rsa key: {e}").into())
}

fn build_custom_cert(b64_cert: &str, b64_key: &str) -> FnResult {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert = b64
        .decode(b64_cert)
        .map_err(|_| "unable to decode base64 certificate")?;
    let key = b64
        .decode(b64_key)
        .map_err(|_| "unable to decode base64 private key")?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    let Some((_, der)) = pem_decode(&cert) else {
        return Err("unable to decode certificate".into());
    };
    if let Err(e) = x509_parser::parse_x509_certificate(&der) {
        return Err(format!("error parsing certificate: decodedCert.Bytes: {e}").into());
    }
    parse_private_key_pem(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    cert_value(cert, key)
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "derivePassword",
        &[P::Int, P::Str, P::Str, P::Str, P::Str],
        None,
        |_, a| {
            Ok(Value::str(derive_password(
                i(&a[0]) as u32,
                s(&a[1]),
                s(&a[2]),
                s(&a[3]),
                s(&a[4]),
            )))
        },
    );
    r.add("genPrivateKey", &[P::Str], None, |_, a| {
        Ok(Value::str(gen_private_key(s(&a[0]))))
    });
    r.add("genCA", &[P::Str, P::Int], None, |_, a| {
        gen_ca(s(&a[0]), i(&a[1]), new_rsa()?)
    });
    r.add("genCAWithKey", &[P::Str, P::Int, P::Str], None, |_, a| {
        gen_ca(s(&a[0]), i(&a[1]), with_key(s(&a[2]))?)
    });
    r.add(
        "genSelfSignedCert",
        &[P::Str, P::List, P::List, P::Int],
        None,
        |_, a| gen_self_signed(s(&a[0]), &a[1], &a[2], i(&a[3]), KeySrc::Fresh),
    );
    r.add(
        "genSelfSignedCertWithKey",
        &[P::Str, P::List, P::List, P::Int, P::Str],
        None,
        |_, a| gen_self_signed(s(&a[0]), &a[1], &a[2], i(&a[3]), KeySrc::Pem(s(&a[4]))),
    );
    r.add(
        "genSignedCert",
        &[P::Str, P::List, P::List, P::Int, P::Any],
        None,
        |_, a| gen_signed(s(&a[0]), &a[1], &a[2], i(&a[3]), &a[4], KeySrc::Fresh),
    );
    r.add(
        "genSignedCertWithKey",
        &[P::Str, P::List, P::List, P::Int, P::Any, P::Str],
        None,
        |_, a| {
            gen_signed(
                s(&a[0]),
                &a[1],
                &a[2],
                i(&a[3]),
                &a[4],
                KeySrc::Pem(s(&a[5])),
            )
        },
    );
    r.add("buildCustomCert", &[P::Str, P::Str], None, |_, a| {
        build_custom_cert(s(&a[0]), s(&a[1]))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn cert_of(v: &Value) -> (String, String) {
        as_cert(v).unwrap_or_else(|_| panic!("not a certificate: {v:?}"))
    }

    fn parsed(pem_text: &str) -> Vec<u8> {
        let (tag, der) = pem_decode(pem_text).expect("PEM");
        assert_eq!(tag, "CERTIFICATE");
        der
    }

    #[test]
    fn derive_password_matches_helm() {
        // Recorded from helm 3.17 (also in tests/cases/random.yaml).
        assert_eq!(
            derive_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
        assert_eq!(derive_password(4, "pin", "p", "u", "s").len(), 4);
        assert_eq!(
            derive_password(1, "x", "p", "u", "s"),
            "cannot find password template x"
        );
    }

    #[test]
    fn private_key_shapes() {
        let ec = gen_private_key("ecdsa");
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{ec}");
        assert!(matches!(parse_private_key_pem(&ec), Ok(Key::Ec(_))));
        let ed = gen_private_key("ed25519");
        assert!(ed.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{ed}");
        // Go's PKCS#8 v1 (48 bytes: one 64-character line).
        assert_eq!(ed.lines().nth(1).map(str::len), Some(64), "{ed}");
        assert!(matches!(parse_private_key_pem(&ed), Ok(Key::Ed(_))));
        assert_eq!(gen_private_key("foo"), "Unknown type foo");
        let dsa = gen_private_key("dsa");
        assert!(
            dsa.starts_with("-----BEGIN DSA PRIVATE KEY-----\n"),
            "{dsa}"
        );
        let Ok(Key::Dsa(der)) = parse_private_key_pem(&dsa) else {
            panic!("DSA key does not parse back: {dsa}");
        };
        // SEQUENCE { 0, P (2048 bits), Q (256 bits), G, Y, X }: P's INTEGER is 257 bytes with the sign pad.
        assert_eq!(&der[4..10], &[0x02, 0x01, 0x00, 0x02, 0x82, 0x01]);
        assert!(matches!(der[10], 0x00 | 0x01), "P length {:x}", der[10]);
        assert_eq!(
            check_dsa_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err(),
            "asn1: syntax error: sequence truncated"
        );
    }

    #[test]
    fn ca_and_signed_cert() {
        let key = Key::Ec(p256::SecretKey::random(&mut rand::thread_rng()));
        let ca = gen_ca("my-ca", 30, key).unwrap_or_else(|_| panic!("genCA"));
        let (ca_pem, ca_key) = cert_of(&ca);
        assert!(ca_key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let ca_der = parsed(&ca_pem);
        let (_, ca_cert) = parse_x509_certificate(&ca_der).expect("CA parses");
        assert!(ca_cert.is_ca());
        assert_eq!(
            ca_cert
                .subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "my-ca"
        );
        let v = ca_cert.validity();
        assert_eq!(
            v.not_after.timestamp() - v.not_before.timestamp(),
            30 * 86400
        );
        let ku = ca_cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.digital_signature() && ku.key_encipherment());

        let ips = Value::list(vec![Value::str("10.1.2.3")]);
        let dns = Value::list(vec![Value::str("a.example"), Value::str("b.example")]);
        let ed = gen_private_key("ed25519");
        let leaf = gen_signed("leaf", &ips, &dns, 5, &ca, KeySrc::Pem(&ed))
            .unwrap_or_else(|_| panic!("signed"));
        let (leaf_pem, leaf_key) = cert_of(&leaf);
        assert!(leaf_key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let leaf_der = parsed(&leaf_pem);
        let (_, cert) = parse_x509_certificate(&leaf_der).expect("leaf parses");
        assert!(!cert.is_ca());
        assert_eq!(cert.issuer(), ca_cert.subject());
        cert.verify_signature(Some(ca_cert.public_key()))
            .expect("signed by the CA");
        let aki = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.clone(),
                _ => None,
            })
            .expect("authority key identifier");
        let ski = ca_cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.clone()),
                _ => None,
            })
            .expect("CA subject key identifier");
        assert_eq!(aki.0, ski.0);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
        assert_eq!(names.len(), 3, "{names:?}");

        // buildCustomCert hands the decoded PEM back unchanged.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let built = build_custom_cert(&b64.encode(&leaf_pem), &b64.encode(&leaf_key))
            .unwrap_or_else(|_| panic!("buildCustomCert"));
        assert_eq!(cert_of(&built), (leaf_pem, leaf_key));
    }

    #[test]
    fn self_signed_errors() {
        let bad = Value::list(vec![Value::str("nope")]);
        let err = |r: FnResult| match r {
            Err(FnError::Msg(m)) => m,
            _ => panic!("expected an error"),
        };
        let ed = gen_private_key("ed25519");
        let key = || KeySrc::Pem(&ed);
        assert_eq!(
            err(gen_self_signed("x", &bad, &Value::Nil, 1, key())),
            "error parsing ip: nope"
        );
        assert_eq!(
            err(gen_signed(
                "x",
                &Value::Nil,
                &Value::Nil,
                1,
                &Value::str("x"),
                key()
            )),
            "wrong type for value; expected sprig.certificate; got string"
        );
    }
}
