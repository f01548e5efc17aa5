//! Sprig encodings, hashes, paths (Go's `path` package), URLs (Go's `net/url` shapes), UUIDs and random
//! bytes.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use sha1::Digest as _;

use super::{FnResult, P, Registry, i, s};
use crate::value::Value;

fn sv(x: impl Into<String>) -> FnResult {
    Ok(Value::str(x.into()))
}

/// Go's path.Clean.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if let Some(last) = parts.last()
                    && *last != ".."
                {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    let base_start = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    match p[base_start..].rfind('.') {
        Some(i) => p[base_start + i..].to_string(),
        None => String::new(),
    }
}

fn b64dec(v: &str) -> String {
    match B64.decode(v) {
        Ok(d) => String::from_utf8_lossy(&d).into_owned(),
        Err(e) => match e {
            base64::DecodeError::InvalidByte(off, _)
            | base64::DecodeError::InvalidLastSymbol(off, _) => {
                format!("illegal base64 data at input byte {off}")
            }
            base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
                format!("illegal base64 data at input byte {}", v.len() / 4 * 4)
            }
        },
    }
}

/// A URL split the way Go's url.Parse splits it.
#[derive(Default)]
struct GoUrl {
    scheme: String,
    opaque: String,
    user: Option<String>,
    host: String,
    path: String,
    raw_query: String,
    fragment: String,
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("invalid URL escape {:?}", &s[i..]))?;
            let v = u8::from_str_radix(h, 16)
                .map_err(|_| format!("invalid URL escape {:?}", &s[i..i + 3]))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn go_url_parse(raw: &str) -> Result<GoUrl, String> {
    let mut u = GoUrl::default();
    let (rest, frag) = match raw.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (raw, None),
    };
    if let Some(f) = frag {
        u.fragment = percent_decode(f).map_err(|e| format!("parse {raw:?}: {e}"))?;
    }
    let mut rest = rest.to_string();
    // scheme
    if let Some(i) = rest.find(':') {
        let sch = &rest[..i];
        if !sch.is_empty()
            && sch.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && sch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            u.scheme = sch.to_ascii_lowercase();
            rest = rest[i + 1..].to_string();
        } else if i == 0 {
            return Err(format!("parse {raw:?}: missing protocol scheme"));
        }
    }
    if let Some((a, q)) = rest.split_once('?') {
        u.raw_query = q.to_string();
        rest = a.to_string();
    }
    if !rest.starts_with('/') && !u.scheme.is_empty() {
        u.opaque = rest;
        return Ok(u);
    }
    if rest.starts_with("//") && (!u.scheme.is_empty() || !rest.starts_with("///")) {
        let after = &rest[2..];
        let end = after.find('/').unwrap_or(after.len());
        let auth = &after[..end];
        let path = &after[end..];
        let hostpart = match auth.rfind('@') {
            Some(i) => {
                u.user = Some(auth[..i].to_string());
                &auth[i + 1..]
            }
            None => auth,
        };
        u.host = percent_decode(hostpart).map_err(|e| format!("parse {raw:?}: {e}"))?;
        u.path = percent_decode(path).map_err(|e| format!("parse {raw:?}: {e}"))?;
    } else {
        u.path = percent_decode(&rest).map_err(|e| format!("parse {raw:?}: {e}"))?;
    }
    Ok(u)
}

fn hostname(host: &str) -> String {
    if let Some(h) = host.strip_prefix('[') {
        return h.split(']').next().unwrap_or("").to_string();
    }
    match host.rfind(':') {
        Some(i) => host[..i].to_string(),
        None => host.to_string(),
    }
}

fn escape_path(p: &str) -> String {
    let mut o = String::new();
    for b in p.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'/'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'@'
            | b'!'
            | b'\''
            | b'('
            | b')'
            | b'*' => o.push(b as char),
            b => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

fn url_string(u: &GoUrl) -> String {
    let mut out = String::new();
    if !u.scheme.is_empty() {
        out.push_str(&u.scheme);
        out.push(':');
    }
    if !u.opaque.is_empty() {
        out.push_str(&u.opaque);
    } else {
        if !u.scheme.is_empty() || !u.host.is_empty() || u.user.is_some() {
            if !u.host.is_empty() || !u.path.is_empty() || u.user.is_some() {
                out.push_str("//");
            }
            if let Some(user) = &u.user {
                out.push_str(user);
                out.push('@');
            }
            out.push_str(&u.host);
        }
        if !u.path.is_empty() && !u.path.starts_with('/') && !u.host.is_empty() {
            out.push('/');
        }
        out.push_str(&escape_path(&u.path));
    }
    if !u.raw_query.is_empty() {
        out.push('?');
        out.push_str(&u.raw_query);
    }
    if !u.fragment.is_empty() {
        out.push('#');
        out.push_str(&escape_path(&u.fragment));
    }
    out
}

pub(super) fn register(r: &mut Registry) {
    r.add("b64enc", &[P::Str], None, |_, a| sv(B64.encode(s(&a[0]))));
    r.add("b64dec", &[P::Str], None, |_, a| sv(b64dec(s(&a[0]))));
    r.add("b32enc", &[P::Str], None, |_, a| {
        sv(data_encoding::BASE32.encode(s(&a[0]).as_bytes()))
    });
    r.add("b32dec", &[P::Str], None, |_, a| {
        sv(match data_encoding::BASE32.decode(s(&a[0]).as_bytes()) {
            Ok(d) => String::from_utf8_lossy(&d).into_owned(),
            Err(e) => format!("illegal base32 data at input byte {}", e.position),
        })
    });
    r.add("sha1sum", &[P::Str], None, |_, a| {
        sv(hex::encode(sha1::Sha1::digest(s(&a[0]).as_bytes())))
    });
    r.add("sha256sum", &[P::Str], None, |_, a| {
        sv(hex::encode(sha2::Sha256::digest(s(&a[0]).as_bytes())))
    });
    r.add("sha512sum", &[P::Str], None, |_, a| {
        sv(hex::encode(sha2::Sha512::digest(s(&a[0]).as_bytes())))
    });
    r.add("adler32sum", &[P::Str], None, |_, a| {
        sv(adler::adler32_slice(s(&a[0]).as_bytes()).to_string())
    });
    for (name, f) in [
        ("base", (|_, a| sv(path_base(s(&a[0])))) as super::FnPtr),
        ("dir", |_, a| sv(path_dir(s(&a[0])))),
        ("clean", |_, a| sv(path_clean(s(&a[0])))),
        ("ext", |_, a| sv(path_ext(s(&a[0])))),
        ("isAbs", |_, a| Ok(Value::Bool(s(&a[0]).starts_with('/')))),
        ("osBase", |_, a| sv(path_base(s(&a[0])))),
        ("osDir", |_, a| sv(path_dir(s(&a[0])))),
        ("osClean", |_, a| sv(path_clean(s(&a[0])))),
        ("osExt", |_, a| sv(path_ext(s(&a[0])))),
        ("osIsAbs", |_, a| Ok(Value::Bool(s(&a[0]).starts_with('/')))),
    ] {
        r.add(name, &[P::Str], None, f);
    }
    r.add("urlParse", &[P::Str], None, |_, a| {
        let u = go_url_parse(s(&a[0])).map_err(|e| format!("unable to parse url: {e}"))?;
        let mut m = BTreeMap::new();
        m.insert("scheme".to_string(), Value::str(u.scheme.as_str()));
        m.insert("host".to_string(), Value::str(u.host.as_str()));
        m.insert("hostname".to_string(), Value::str(hostname(&u.host)));
        m.insert("path".to_string(), Value::str(u.path.as_str()));
        m.insert("query".to_string(), Value::str(u.raw_query.as_str()));
        m.insert("opaque".to_string(), Value::str(u.opaque.as_str()));
        m.insert("fragment".to_string(), Value::str(u.fragment.as_str()));
        m.insert(
            "userinfo".to_string(),
            Value::str(u.user.clone().unwrap_or_default()),
        );
        Ok(Value::map(m))
    });
    r.add("urlJoin", &[P::Map], None, |_, a| {
        let get = |k: &str| -> String {
            match &a[0] {
                Value::Map(m) => match m.borrow().get(k) {
                    Some(Value::String(s)) => s.to_string(),
                    _ => String::new(),
                },
                _ => String::new(),
            }
        };
        let ui = get("userinfo");
        let u = GoUrl {
            scheme: get("scheme"),
            opaque: get("opaque"),
            user: if ui.is_empty() { None } else { Some(ui) },
            host: get("host"),
            path: get("path"),
            raw_query: get("query"),
            fragment: get("fragment"),
        };
        sv(url_string(&u))
    });
    r.add("uuidv4", &[], None, |_, _| {
        sv(uuid::Uuid::new_v4().to_string())
    });
    r.add("randBytes", &[P::Int], None, |_, a| {
        let n = i(&a[0]).clamp(0, 1 << 20) as usize;
        let mut b = vec![0u8; n];
        rand::thread_rng().fill_bytes(&mut b);
        sv(B64.encode(b))
    });
    r.add("bcrypt", &[P::Str], None, |_, a| sv(go_bcrypt(s(&a[0]))));
    r.add("htpasswd", &[P::Str, P::Str], None, |_, a| {
        let user = s(&a[0]);
        if user.contains(':') {
            return sv(format!("invalid username: {user}"));
        }
        sv(format!("{user}:{}", go_bcrypt(s(&a[1]))))
    });
    r.add("encryptAES", &[P::Str, P::Str], None, |_, a| {
        sv(encrypt_aes(s(&a[0]), s(&a[1])))
    });
    r.add("decryptAES", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::str(decrypt_aes(s(&a[0]), s(&a[1]))?))
    });
    r.add("getHostByName", &[P::Str], None, |_, _| sv(""));
}

/// golang.org/x/crypto/bcrypt with the default cost (10) and the `$2a$` prefix.
fn go_bcrypt(input: &str) -> String {
    // bcrypt only reads the first 72 bytes; Go's implementation rejects longer input since 2023,
    // sprig then returns the error text.
    if input.len() > 72 {
        return "bcrypt: password length exceeds 72 bytes".into();
    }
    match bcrypt::hash_with_result(input, 10) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => e.to_string(),
    }
}

/// Sprig's AES-256-CBC key: the password bytes, zero-padded or cut to 32 bytes.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    key
}

/// Sprig's encryptAES: PKCS#7 padding, random IV prepended, base64.
fn encrypt_aes(password: &str, plaintext: &str) -> String {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    if plaintext.is_empty() {
        return String::new();
    }
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    let enc = cbc::Encryptor::<aes::Aes256>::new(&aes_key(password).into(), &iv.into());
    let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let mut out = iv.to_vec();
    out.extend_from_slice(&ct);
    B64.encode(out)
}

/// Sprig's decryptAES (the padding length is trusted, as in Sprig).
fn decrypt_aes(password: &str, crypt64: &str) -> Result<String, String> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::NoPadding};
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let data = B64
        .decode(crypt64)
        .map_err(|_| "illegal base64 data".to_string())?;
    if data.len() < 16 || (data.len() - 16) % 16 != 0 || data.len() == 16 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let (iv, ct) = data.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| "bad iv".to_string())?;
    let dec = cbc::Decryptor::<aes::Aes256>::new(&aes_key(password).into(), &iv.into());
    let pt = dec
        .decrypt_padded_vec_mut::<NoPadding>(ct)
        .map_err(|e| e.to_string())?;
    let pad = *pt.last().unwrap_or(&0) as usize;
    let end = pt.len().saturating_sub(pad);
    Ok(String::from_utf8_lossy(&pt[..end]).into_owned())
}
