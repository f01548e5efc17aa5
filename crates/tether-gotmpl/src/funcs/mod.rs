//! The function table: Go's builtins, Sprig (as Helm ships it) and Helm's own functions.
//!
//! Each function declares Go's parameter types ([`P`]) so that argument conversion errors read as Go's do
//! (`wrong type for value; expected string; got int`), and returns values of Go's result types.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::Error;
use crate::exec::Exec;
use crate::value::Value;

mod builtin;
mod conv;
mod crypto;
mod dates;
mod dicts;
mod encoding;
mod helm;
mod lists;
mod math;
mod regexp;
pub mod semver;
mod strings;

pub(crate) use conv::*;
pub use helm::{WARN_END, WARN_START};

/// A Go parameter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P {
    /// `interface{}`
    Any,
    /// `reflect.Value` (builtins): no conversion.
    Value,
    Str,
    Int,
    I64,
    Float,
    Bool,
    List,
    Map,
    StrList,
}

pub enum FuncKind {
    Normal,
    And,
    Or,
}

/// A function's error: a Go error message, or an execution error raised inside it (include/tpl).
pub enum FnError {
    Msg(String),
    Fatal(Error),
}

impl From<String> for FnError {
    fn from(s: String) -> Self {
        FnError::Msg(s)
    }
}
impl From<&str> for FnError {
    fn from(s: &str) -> Self {
        FnError::Msg(s.to_string())
    }
}

pub type FnResult = Result<Value, FnError>;
pub type FnPtr = fn(&mut Exec<'_>, Vec<Value>) -> FnResult;

pub struct Func {
    pub kind: FuncKind,
    pub params: &'static [P],
    pub variadic: Option<P>,
    pub f: FnPtr,
}

pub(crate) struct Registry {
    map: HashMap<&'static str, Func>,
}

impl Registry {
    pub(crate) fn add(
        &mut self,
        name: &'static str,
        params: &'static [P],
        variadic: Option<P>,
        f: FnPtr,
    ) {
        self.map.insert(
            name,
            Func {
                kind: FuncKind::Normal,
                params,
                variadic,
                f,
            },
        );
    }
}

static FUNCS: LazyLock<Registry> = LazyLock::new(|| {
    let mut r = Registry {
        map: HashMap::new(),
    };
    builtin::register(&mut r);
    strings::register(&mut r);
    conv::register(&mut r);
    math::register(&mut r);
    lists::register(&mut r);
    dicts::register(&mut r);
    encoding::register(&mut r);
    crypto::register(&mut r);
    regexp::register(&mut r);
    semver::register(&mut r);
    dates::register(&mut r);
    helm::register(&mut r);
    r.map.insert(
        "and",
        Func {
            kind: FuncKind::And,
            params: &[],
            variadic: Some(P::Any),
            f: |_, _| Ok(Value::Nil),
        },
    );
    r.map.insert(
        "or",
        Func {
            kind: FuncKind::Or,
            params: &[],
            variadic: Some(P::Any),
            f: |_, _| Ok(Value::Nil),
        },
    );
    r
});

pub fn lookup(name: &str) -> Option<&'static Func> {
    FUNCS.map.get(name)
}

pub fn exists(name: &str) -> bool {
    FUNCS.map.contains_key(name)
}

/// Accessor for a string argument validated as `P::Str`.
pub(crate) fn s(v: &Value) -> &str {
    match v {
        Value::String(s) => s,
        _ => "",
    }
}

/// Accessor for an int argument validated as `P::Int`/`P::I64`.
pub(crate) fn i(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i,
        _ => 0,
    }
}
