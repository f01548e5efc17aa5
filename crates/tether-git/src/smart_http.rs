//! Listing an http(s) remote's refs in one request, over one HTTP client shared by every
//! repository with the same TLS and proxy settings.
//!
//! gitoxide lists refs over smart HTTP in two requests (`GET info/refs` for the capabilities, then
//! `POST git-upload-pack` with `ls-refs`) and builds a new HTTP client (two threads, a runtime, a
//! connection) per connection. Polling many repositories, that was most of the poller's CPU. A
//! protocol v2 server needs no capability advertisement first (stateless RPC): this module POSTs
//! `command=ls-refs` (`peel`, `symrefs`, `unborn`) with `Git-Protocol: version=2` straight to
//! `<repo>/git-upload-pack`, through a client kept per TLS/proxy setting, so that connections to
//! one host are kept alive and reused across repositories. The response is parsed by gitoxide
//! (`gix-packetline`, `gix-protocol`'s v2 ref parser) into the same refs gitoxide's `ls-refs`
//! returns.
//!
//! Anything else than a complete v2 listing (a v0/v1-only or dumb HTTP server, a redirect, 401,
//! an error) is a [`Miss`]: the caller falls back to gitoxide's own listing, which then produces
//! the error messages users get. A host that answered like a server without protocol v2 is not
//! tried again for an hour.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gix::protocol::transport::packetline::PacketLineRef;
use gix::protocol::transport::packetline::blocking_io::{StreamingPeekableIter, encode};

use crate::cache::Source;
use crate::error::redact_str;

/// Why the one-request listing did not give an answer (redacted text, for debug logs).
#[derive(Debug)]
pub(crate) struct Miss(pub String);

const USER_AGENT: &str = concat!("git/tether-", env!("CARGO_PKG_VERSION"));

/// How long a host that does not speak protocol v2 over stateless HTTP is left to gitoxide.
const NO_V2_FOR: Duration = Duration::from_secs(3600);

/// Whether the URL is one this module lists (`http://` or `https://`).
pub(crate) fn applies(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `scheme://host:port` of a URL (which carries no credentials: [`Source`] removed them).
fn origin(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    url[..end].to_ascii_lowercase()
}

fn without_v2() -> &'static Mutex<HashMap<String, Instant>> {
    static HOSTS: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    HOSTS.get_or_init(Default::default)
}

/// The `ls-refs` request body: pkt-lines as git sends them (`command`, capabilities, delimiter,
/// arguments, flush). No `ref-prefix`: every ref is listed, as gitoxide's listing does.
fn request_body() -> Vec<u8> {
    let mut body = Vec::with_capacity(128);
    let line = |text: &str, out: &mut Vec<u8>| {
        encode::data_to_write(text.as_bytes(), out).expect("writing to a Vec");
    };
    line("command=ls-refs\n", &mut body);
    line(&format!("agent={USER_AGENT}\n"), &mut body);
    encode::delim_to_write(&mut body).expect("writing to a Vec");
    for arg in ["peel\n", "symrefs\n", "unborn\n"] {
        line(arg, &mut body);
    }
    encode::flush_to_write(&mut body).expect("writing to a Vec");
    body
}

/// Lists the refs of an http(s) `source` in one protocol v2 request, as gitoxide's `ls-refs`
/// would report them.
pub(crate) fn ls_refs(source: &Source) -> Result<Vec<gix::protocol::handshake::Ref>, Miss> {
    let secrets = source.secrets();
    let miss = |text: String| Miss(redact_str(&text, &secrets));
    let url = source.url();
    let plain_http = url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    let host = origin(url);
    {
        let mut hosts = without_v2().lock().unwrap_or_else(|p| p.into_inner());
        match hosts.get(&host) {
            Some(since) if since.elapsed() < NO_V2_FOR => {
                return Err(miss(format!("{host} did not answer protocol v2 before")));
            }
            Some(_) => {
                hosts.remove(&host);
            }
            None => {}
        }
    }
    let no_v2 = |why: String| {
        let mut hosts = without_v2().lock().unwrap_or_else(|p| p.into_inner());
        if hosts.len() >= 4096 {
            hosts.clear();
        }
        hosts.insert(host.clone(), Instant::now());
        miss(why)
    };
    let client =
        crate::transport::shared_http_client(source.credentials(), plain_http).map_err(&miss)?;
    crate::transport::warn_plain_http_credentials(source);
    let mut request = client
        .post(format!("{}/git-upload-pack", url.trim_end_matches('/')))
        .header("Content-Type", "application/x-git-upload-pack-request")
        .header("Accept", "application/x-git-upload-pack-result")
        .header("Git-Protocol", "version=2")
        .body(request_body());
    if let Some(c) = source.credentials()
        && (!c.username.is_empty() || !c.password().is_empty())
    {
        // Sent with the request (Argo CD's `forceHttpBasicAuth`), as the fetch path does.
        request = request.basic_auth(&c.username, Some(c.password()));
    }
    let response = request
        .send()
        .map_err(|e| miss(format!("request failed: {}", crate::error::redact(&e, &[]))))?;
    let status = response.status();
    if !status.is_success() {
        let e = format!("HTTP status {status}");
        return Err(if matches!(status.as_u16(), 400 | 405 | 406 | 415 | 501) {
            no_v2(e)
        } else {
            miss(e)
        });
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type != "application/x-git-upload-pack-result" {
        return Err(no_v2(format!("unexpected content type `{content_type}`")));
    }
    let mut lines = StreamingPeekableIter::new(response, &[PacketLineRef::Flush], false);
    lines.fail_on_err_lines(true);
    let (refs, end) = {
        let mut reader = lines.as_read();
        let refs = gix::protocol::handshake::refs::from_v2_refs(&mut reader)
            .map_err(|e| no_v2(format!("not a protocol v2 ref listing: {e}")))?;
        (refs, reader.stopped_at())
    };
    // A v2 listing ends with a flush packet; a server that does not speak v2 answers the request
    // with an error or nothing.
    if end != Some(PacketLineRef::Flush) {
        return Err(no_v2("the listing did not end with a flush packet".into()));
    }
    // Read to the end so the connection goes back to the pool.
    let mut rest = [0u8; 64];
    if !matches!(lines.inner_mut().read(&mut rest), Ok(0)) {
        return Err(no_v2("data after the listing's flush packet".into()));
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_is_git_s_ls_refs() {
        let body = String::from_utf8(request_body()).expect("text");
        let agent = format!("agent={USER_AGENT}\n");
        assert_eq!(
            body,
            format!(
                "0014command=ls-refs\n{:04x}{agent}00010009peel\n000csymrefs\n000bunborn\n0000",
                agent.len() + 4
            )
        );
    }

    #[test]
    fn origins_and_schemes() {
        assert_eq!(
            origin("HTTPS://Git.Example.com:8443/org/repo.git"),
            "https://git.example.com:8443"
        );
        assert_eq!(origin("http://h"), "http://h");
        assert!(applies("HTTPS://h/x"));
        assert!(applies("http://h/x"));
        assert!(!applies("ssh://h/x"));
        assert!(!applies("file:///x"));
        assert!(!applies("git@h:x"));
    }
}
