//! Custom health checks in Lua, with the API Argo CD defines: the resource is the global `obj`, and the
//! script returns a table `{status = "...", message = "..."}`.
//!
//! Argo CD runs gopher-lua (Lua 5.1); Tether runs PUC Lua 5.1 through `mlua`. Each run gets a fresh
//! state (no state leaks between objects) with Lua's pure libraries (base, table, string, math) and a
//! safe `os` holding only `os.time` and `os.date`, as Argo CD's `OpenSafeOs` does; `require("os")`
//! returns that table. `io`, the rest of `os`, `load`, `loadstring`, `loadfile`, `dofile`, `module`
//! and `package` are absent unless the override enables Argo CD's `useOpenLibs`.
//! Runs are bounded by an instruction count, a wall-time limit and a memory limit; exceeding any of
//! them is an error, which the checker reports as health `Unknown`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Value as LuaValue, VmState};
use serde_json::Value;
use tether_model::application::HealthStatusCode;

use crate::{HealthStatus, health};

/// Resource limits for one run of a Lua script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LuaLimits {
    /// Lua VM instructions a script may execute.
    pub max_instructions: u64,
    /// Wall time a script may take (Argo CD uses 1 s).
    pub timeout: Duration,
    /// Bytes the Lua heap may grow to.
    pub max_memory: usize,
}

impl Default for LuaLimits {
    fn default() -> Self {
        Self {
            max_instructions: 10_000_000,
            timeout: Duration::from_secs(1),
            max_memory: 64 << 20,
        }
    }
}

/// Why a Lua health script gave no health.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LuaError {
    /// The Lua state could not be prepared (an internal error, reported rather than panicking).
    #[error("failed to prepare the Lua sandbox: {0}")]
    Setup(String),
    /// The script did not compile.
    #[error("failed to load health script {origin}: {message}")]
    Compile { origin: String, message: String },
    /// The script raised an error, or exceeded a limit.
    #[error("health script {origin} failed: {message}")]
    Runtime { origin: String, message: String },
    /// The script returned something other than a table or nil.
    #[error("expect table output from Lua script, not {found}")]
    ReturnType { found: String },
    /// The returned table's `message` is not a string.
    #[error("health script {origin} returned a non-string `message`")]
    MessageType { origin: String },
}

/// A Lua health script with the place it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaScript {
    /// The script's text.
    pub source: Arc<str>,
    /// Where it came from, e.g. `argocd-cm key resource.customizations.health.cert-manager.io_Certificate`
    /// or a file path.
    pub origin: String,
    /// Argo CD's `useOpenLibs`: expose Lua's full `io` and `os` libraries.
    pub use_open_libs: bool,
}

impl LuaScript {
    /// A script from text, with its origin for error messages.
    pub fn new(source: impl Into<Arc<str>>, origin: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            origin: origin.into(),
            use_open_libs: false,
        }
    }

    /// Runs the script against `obj`. `Ok(None)` when the script returned nil (no assessment).
    /// A returned `status` that is not one of Argo CD's codes gives `Unknown`, as in Argo CD.
    pub fn run(&self, obj: &Value, limits: &LuaLimits) -> Result<Option<HealthStatus>, LuaError> {
        let lua = self.sandbox(limits)?;
        let setup = |e: mlua::Error| LuaError::Setup(e.to_string());
        let obj = to_lua(&lua, obj).map_err(setup)?;
        lua.globals().set("obj", obj).map_err(setup)?;
        let chunk = lua
            .load(&*self.source)
            .set_name(format!("={}", self.origin));
        let function = chunk.into_function().map_err(|e| LuaError::Compile {
            origin: self.origin.clone(),
            message: e.to_string(),
        })?;
        let returned: LuaValue = function.call(()).map_err(|e| LuaError::Runtime {
            origin: self.origin.clone(),
            message: runtime_message(&e),
        })?;
        lua.remove_hook();
        let table = match returned {
            LuaValue::Nil => return Ok(None),
            LuaValue::Table(t) => t,
            other => {
                return Err(LuaError::ReturnType {
                    found: other.type_name().to_string(),
                });
            }
        };
        let status = match table.raw_get::<LuaValue>("status") {
            Ok(LuaValue::String(s)) => s.to_str().ok().and_then(|s| parse_code(&s)),
            _ => None,
        };
        let Some(status) = status else {
            return Ok(Some(health(
                HealthStatusCode::Unknown,
                "Lua returned an invalid health status",
            )));
        };
        let message = match table.raw_get::<LuaValue>("message") {
            Ok(LuaValue::Nil) => String::new(),
            Ok(LuaValue::String(s)) => s.to_string_lossy(),
            _ => {
                return Err(LuaError::MessageType {
                    origin: self.origin.clone(),
                });
            }
        };
        Ok(Some(health(status, message)))
    }

    fn sandbox(&self, limits: &LuaLimits) -> Result<Lua, LuaError> {
        let setup = |e: mlua::Error| LuaError::Setup(e.to_string());
        let mut libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS;
        if self.use_open_libs {
            libs |= StdLib::IO | StdLib::PACKAGE;
        }
        let lua = Lua::new_with(libs, LuaOptions::new()).map_err(setup)?;
        lua.set_memory_limit(limits.max_memory).map_err(setup)?;
        let globals = lua.globals();
        if !self.use_open_libs {
            let os: mlua::Table = globals.get("os").map_err(setup)?;
            let safe_os = lua.create_table().map_err(setup)?;
            for name in ["time", "date"] {
                safe_os
                    .set(name, os.get::<LuaValue>(name).map_err(setup)?)
                    .map_err(setup)?;
            }
            globals.set("os", safe_os.clone()).map_err(setup)?;
            for name in [
                "load",
                "loadstring",
                "loadfile",
                "dofile",
                "module",
                "package",
            ] {
                globals.set(name, LuaValue::Nil).map_err(setup)?;
            }
            let require = lua
                .create_function(move |_, name: String| match name.as_str() {
                    "os" => Ok(safe_os.clone()),
                    _ => Err(mlua::Error::runtime(format!(
                        "module '{name}' not found: the health sandbox only provides 'os'"
                    ))),
                })
                .map_err(setup)?;
            globals.set("require", require).map_err(setup)?;
            // Output from a check has nowhere to go; keep `print` callable but silent.
            let print = lua
                .create_function(|_, _: mlua::MultiValue| Ok(()))
                .map_err(setup)?;
            globals.set("print", print).map_err(setup)?;
        }
        const EVERY: u32 = 1000;
        let start = Instant::now();
        let limits = *limits;
        let executed = std::sync::atomic::AtomicU64::new(0);
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(EVERY),
            move |_, _| {
                let n = executed.fetch_add(u64::from(EVERY), std::sync::atomic::Ordering::Relaxed)
                    + u64::from(EVERY);
                if n > limits.max_instructions {
                    return Err(mlua::Error::runtime(format!(
                        "instruction limit exceeded ({} instructions)",
                        limits.max_instructions
                    )));
                }
                if start.elapsed() > limits.timeout {
                    return Err(mlua::Error::runtime(format!(
                        "time limit exceeded ({:?})",
                        limits.timeout
                    )));
                }
                Ok(VmState::Continue)
            },
        )
        .map_err(setup)?;
        Ok(lua)
    }
}

/// The first line of a Lua error, without mlua's traceback.
fn runtime_message(e: &mlua::Error) -> String {
    let e = match e {
        mlua::Error::CallbackError { cause, .. } => cause.as_ref(),
        other => other,
    };
    match e {
        mlua::Error::RuntimeError(m) => m.lines().next().unwrap_or_default().to_string(),
        mlua::Error::MemoryError(_) => "memory limit exceeded".to_string(),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Argo CD's status names.
pub(crate) fn parse_code(s: &str) -> Option<HealthStatusCode> {
    Some(match s {
        "Healthy" => HealthStatusCode::Healthy,
        "Progressing" => HealthStatusCode::Progressing,
        "Degraded" => HealthStatusCode::Degraded,
        "Suspended" => HealthStatusCode::Suspended,
        "Missing" => HealthStatusCode::Missing,
        "Unknown" => HealthStatusCode::Unknown,
        _ => return None,
    })
}

/// JSON to Lua as gopher-lua's decoder does it: null is nil, arrays are 1-based tables.
fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<LuaValue> {
    Ok(match v {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.unsigned_abs() < (1 << 53) => LuaValue::Number(i as f64),
            _ => LuaValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            LuaValue::Table(t)
        }
        Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item)?)?;
            }
            LuaValue::Table(t)
        }
    })
}
