//! Go `text/template` builtins: not, len, index, print/printf/println, html, js, urlquery, comparisons, call.

use super::{FnResult, P, Registry, s};
use crate::fmt::{go_sprint, go_sprintf, go_sprintln};
use crate::value::Value;

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::I64(_) => Kind::Int,
        Value::U64(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::Str,
        _ => Kind::Other,
    }
}

const BAD_CMP: &str = "incompatible types for comparison";
const BAD_CMP_TYPE: &str = "invalid type for comparison";

fn eq2(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 != k2 {
        return match (a, b) {
            (Value::Int(x) | Value::I64(x), Value::U64(y))
            | (Value::U64(y), Value::Int(x) | Value::I64(x)) => Ok(*x >= 0 && *x as u64 == *y),
            _ => {
                if k1 != Kind::Invalid && k2 != Kind::Invalid {
                    Err(BAD_CMP.into())
                } else {
                    Ok(false)
                }
            }
        };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x) | Value::I64(x), Value::Int(y) | Value::I64(y)) => x == y,
        (Value::U64(x), Value::U64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (Value::List(..), _)
        | (_, Value::List(..))
        | (Value::Map(_), _)
        | (_, Value::Map(_))
        | (Value::Bytes(_), _) => {
            return Err(format!(
                "non-comparable type {}: {}",
                crate::fmt::go_sprintf("%s", std::slice::from_ref(b)),
                b.type_name()
            ));
        }
        _ => false,
    })
}

fn lt2(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if matches!(k1, Kind::Invalid | Kind::Other) || matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(BAD_CMP_TYPE.into());
    }
    if k1 != k2 {
        return match (a, b) {
            (Value::Int(x) | Value::I64(x), Value::U64(y)) => Ok(*x < 0 || (*x as u64) < *y),
            (Value::U64(x), Value::Int(y) | Value::I64(y)) => Ok(*y >= 0 && *x < *y as u64),
            _ => Err(BAD_CMP.into()),
        };
    }
    match (a, b) {
        (Value::Bool(_), _) => Err(BAD_CMP_TYPE.into()),
        (Value::Int(x) | Value::I64(x), Value::Int(y) | Value::I64(y)) => Ok(x < y),
        (Value::U64(x), Value::U64(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        _ => Err(BAD_CMP_TYPE.into()),
    }
}

/// Go's `html/template`-free `HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\0' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

fn js_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

/// url.QueryEscape.
pub(crate) fn query_escape(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            b => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

fn eval_args(a: &[Value]) -> String {
    if a.len() == 1
        && let Value::String(s) = &a[0]
    {
        return s.to_string();
    }
    go_sprint(a)
}

fn index_one(item: &Value, idx: &Value) -> Result<Value, String> {
    match item {
        Value::Nil => Err("index of untyped nil".into()),
        Value::List(_, l) => {
            let i = index_arg(idx, l.len())?;
            Ok(l[i].clone())
        }
        Value::Bytes(b) => {
            let i = index_arg(idx, b.len())?;
            Ok(Value::Int(b[i] as i64))
        }
        Value::String(st) => {
            let i = index_arg(idx, st.len())?;
            Ok(Value::Int(st.as_bytes()[i] as i64))
        }
        Value::Map(m) => match idx {
            Value::String(k) => Ok(m.borrow().get(&**k).cloned().unwrap_or(Value::Nil)),
            Value::Nil => Ok(Value::Nil),
            other => Err(format!(
                "value has type {}; should be string",
                other.type_name()
            )),
        },
        other => Err(format!("can't index item of type {}", other.type_name())),
    }
}

fn index_arg(idx: &Value, cap: usize) -> Result<usize, String> {
    let x = match idx {
        Value::Int(i) | Value::I64(i) => *i,
        Value::U64(u) => *u as i64,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x as usize >= cap {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

pub(super) fn register(r: &mut Registry) {
    r.add("not", &[P::Value], None, |_, a| {
        Ok(Value::Bool(!a[0].truthy()))
    });
    r.add("len", &[P::Value], None, |_, a| match &a[0] {
        Value::String(s) => Ok(Value::Int(s.len() as i64)),
        Value::Bytes(b) => Ok(Value::Int(b.len() as i64)),
        Value::List(_, l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.borrow().len() as i64)),
        Value::Nil => Err("len of nil pointer".into()),
        v => Err(format!("len of type {}", v.type_name()).into()),
    });
    r.add("index", &[P::Value], Some(P::Value), |_, a| {
        let mut it = a.into_iter();
        let mut item = it.next().unwrap_or_default();
        if item.is_nil() {
            return Err("index of untyped nil".into());
        }
        for idx in it {
            if item.is_nil() {
                return Err("index of nil pointer".into());
            }
            item = index_one(&item, &idx)?;
        }
        Ok(item)
    });
    r.add("print", &[], Some(P::Any), |_, a| {
        Ok(Value::str(go_sprint(&a)))
    });
    r.add("println", &[], Some(P::Any), |_, a| {
        Ok(Value::str(go_sprintln(&a)))
    });
    r.add("printf", &[P::Str], Some(P::Any), |_, a| {
        Ok(Value::str(go_sprintf(s(&a[0]), &a[1..])))
    });
    r.add("html", &[], Some(P::Any), |_, a| {
        Ok(Value::str(html_escape(&eval_args(&a))))
    });
    r.add("js", &[], Some(P::Any), |_, a| {
        Ok(Value::str(js_escape(&eval_args(&a))))
    });
    r.add("urlquery", &[], Some(P::Any), |_, a| {
        Ok(Value::str(query_escape(&eval_args(&a))))
    });
    r.add("eq", &[P::Value], Some(P::Value), |_, a| {
        if a.len() < 2 {
            return Err("missing argument for comparison".into());
        }
        for b in &a[1..] {
            if eq2(&a[0], b)? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    });
    r.add("ne", &[P::Value, P::Value], None, |_, a| {
        Ok(Value::Bool(!eq2(&a[0], &a[1])?))
    });
    r.add("lt", &[P::Value, P::Value], None, |_, a| {
        Ok(Value::Bool(lt2(&a[0], &a[1])?))
    });
    r.add("le", &[P::Value, P::Value], None, |_, a| {
        let l = lt2(&a[0], &a[1])?;
        Ok(Value::Bool(l || eq2(&a[0], &a[1])?))
    });
    r.add("gt", &[P::Value, P::Value], None, |_, a| {
        let l = lt2(&a[0], &a[1])?;
        Ok(Value::Bool(!(l || eq2(&a[0], &a[1])?)))
    });
    r.add("ge", &[P::Value, P::Value], None, |_, a| {
        Ok(Value::Bool(!lt2(&a[0], &a[1])?))
    });
    r.add("call", &[P::Value], Some(P::Value), |_, a| -> FnResult {
        match &a[0] {
            Value::Nil => Err("call of nil".into()),
            v => Err(format!(
                "non-function {} of type {}",
                crate::fmt::sprint_v(v),
                v.type_name()
            )
            .into()),
        }
    });
}
