//! A small blocking client for `tether run`'s HTTP API (file mode).

use anyhow::{Context, bail};
use serde_json::Value;

/// Where `tether run` listens.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// `tether run`'s address.
    #[arg(
        long,
        env = "TETHER_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
}

/// The API client.
pub struct Client {
    base: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

/// An API error with the server's status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl Client {
    pub fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let mut base = args.server.trim_end_matches('/').to_owned();
        if !base.contains("://") {
            base = format!("http://{base}");
        }
        Ok(Self {
            base,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .context("HTTP client")?,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?,
        })
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let mut req = self.http.request(method, &url);
            if let Some(b) = body {
                req = req
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(b)?);
            }
            let resp = req.send().await.with_context(|| {
                format!(
                    "cannot reach `tether run` at {}\nhint: start it with `tether run --apps DIR`, or set --server / TETHER_SERVER",
                    self.base
                )
            })?;
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.context("reading the response")?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes).into_owned())
            });
            if status >= 400 {
                let message = v
                    .get("error")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| match &v {
                        Value::String(t) if t.trim().is_empty() => format!("HTTP {status}"),
                        Value::String(t) => format!("HTTP {status}: {}", t.trim()),
                        v => v.to_string(),
                    });
                return Err(ApiError { status, message }.into());
            }
            Ok(v)
        })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PUT, path, Some(body))
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::DELETE, path, None)
    }
}

/// Percent-encodes a path segment (app names are DNS labels; be safe anyway).
pub fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Fails unless `v` is an object.
pub fn expect_object(v: Value) -> anyhow::Result<Value> {
    if !v.is_object() {
        bail!("unexpected response: {v}");
    }
    Ok(v)
}
