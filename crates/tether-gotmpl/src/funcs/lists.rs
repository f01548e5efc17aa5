//! Sprig list functions. The plain variants turn errors into panics, which Go's template engine reports as
//! `error calling NAME: MSG`, so both variants share one implementation.

use std::rc::Rc;

use super::{FnError, FnResult, P, Registry, deep_equal, i, is_empty, strslice, to_i64};
use crate::value::{ListKind, Value};

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The elements of a Go slice, or an error naming the kind.
fn items(v: &Value, what: &str) -> Result<Rc<[Value]>, FnError> {
    match v {
        Value::List(_, l) => Ok(l.clone()),
        Value::Bytes(b) => Ok(b
            .iter()
            .map(|x| Value::Int(*x as i64))
            .collect::<Vec<_>>()
            .into()),
        Value::Nil => Err(NIL_DEREF.into()),
        other => Err(format!("Cannot {what} on type {}", other.kind_name()).into()),
    }
}

fn find(v: &Value, what: &str) -> Result<Rc<[Value]>, FnError> {
    items(v, &format!("find {what}"))
}

fn any_list(v: Vec<Value>) -> Value {
    Value::List(ListKind::Any, v.into())
}

fn first(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = find(&a[0], "first")?;
    Ok(l.first().cloned().unwrap_or(Value::Nil))
}
fn rest(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = find(&a[0], "rest")?;
    if l.is_empty() {
        return Ok(any_list(Vec::new()));
    }
    Ok(any_list(l[1..].to_vec()))
}
fn last(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = find(&a[0], "last")?;
    Ok(l.last().cloned().unwrap_or(Value::Nil))
}
fn initial(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = find(&a[0], "initial")?;
    if l.is_empty() {
        return Ok(any_list(Vec::new()));
    }
    Ok(any_list(l[..l.len() - 1].to_vec()))
}
fn reverse(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = find(&a[0], "reverse")?;
    if l.is_empty() {
        return Ok(any_list(Vec::new()));
    }
    Ok(any_list(l.iter().rev().cloned().collect()))
}
fn uniq(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = find(&a[0], "uniq")?;
    let mut out: Vec<Value> = Vec::new();
    for x in l.iter() {
        if !out.iter().any(|y| deep_equal(x, y)) {
            out.push(x.clone());
        }
    }
    Ok(any_list(out))
}
fn without(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = find(&a[0], "without")?;
    let omit = &a[1..];
    Ok(any_list(
        l.iter()
            .filter(|x| !omit.iter().any(|o| deep_equal(x, o)))
            .cloned()
            .collect(),
    ))
}
fn has(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    if a[1].is_nil() {
        return Ok(Value::Bool(false));
    }
    let l = find(&a[1], "has")?;
    Ok(Value::Bool(l.iter().any(|x| deep_equal(x, &a[0]))))
}
fn push(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = items(&a[0], "push")?;
    let mut v = l.to_vec();
    v.push(a[1].clone());
    Ok(any_list(v))
}
fn prepend(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = items(&a[0], "prepend")?;
    let mut v = vec![a[1].clone()];
    v.extend(l.iter().cloned());
    Ok(any_list(v))
}
fn compact(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = items(&a[0], "compact")?;
    Ok(any_list(
        l.iter().filter(|x| !is_empty(x)).cloned().collect(),
    ))
}
fn slice(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let l = match &a[0] {
        Value::List(_, l) => l.clone(),
        Value::Nil => return Err(NIL_DEREF.into()),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                other.kind_name()
            )
            .into());
        }
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map(to_i64).unwrap_or(0);
    let end = if a.len() < 3 {
        l.len() as i64
    } else {
        to_i64(&a[2])
    };
    if start < 0 || end < start || end as usize > l.len() {
        return Err("reflect: slice index out of range".into());
    }
    let kind = if let Value::List(k, _) = &a[0] {
        *k
    } else {
        ListKind::Any
    };
    Ok(Value::List(
        kind,
        l[start as usize..end as usize].to_vec().into(),
    ))
}
fn chunk(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
    let size = i(&a[0]);
    let l = match &a[1] {
        Value::List(_, l) => l.clone(),
        Value::Nil => return Err(NIL_DEREF.into()),
        other => return Err(format!("Cannot chunk type {}", other.kind_name()).into()),
    };
    if size <= 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    let out: Vec<Value> = l
        .chunks(size as usize)
        .map(|c| any_list(c.to_vec()))
        .collect();
    Ok(any_list(out))
}

pub(super) fn register(r: &mut Registry) {
    r.add("list", &[], Some(P::Any), |_, a| Ok(any_list(a)));
    r.add("tuple", &[], Some(P::Any), |_, a| Ok(any_list(a)));
    for (name, f) in [
        ("first", first as super::FnPtr),
        ("rest", rest),
        ("last", last),
        ("initial", initial),
        ("reverse", reverse),
        ("uniq", uniq),
    ] {
        r.add(name, &[P::Any], None, f);
    }
    r.add("mustFirst", &[P::Any], None, first);
    r.add("mustRest", &[P::Any], None, rest);
    r.add("mustLast", &[P::Any], None, last);
    r.add("mustInitial", &[P::Any], None, initial);
    r.add("mustReverse", &[P::Any], None, reverse);
    r.add("mustUniq", &[P::Any], None, uniq);
    r.add("without", &[P::Any], Some(P::Any), without);
    r.add("mustWithout", &[P::Any], Some(P::Any), without);
    r.add("has", &[P::Any, P::Any], None, has);
    r.add("mustHas", &[P::Any, P::Any], None, has);
    r.add("append", &[P::Any, P::Any], None, push);
    r.add("push", &[P::Any, P::Any], None, push);
    r.add("mustAppend", &[P::Any, P::Any], None, push);
    r.add("mustPush", &[P::Any, P::Any], None, push);
    r.add("prepend", &[P::Any, P::Any], None, prepend);
    r.add("mustPrepend", &[P::Any, P::Any], None, prepend);
    r.add("compact", &[P::Any], None, compact);
    r.add("mustCompact", &[P::Any], None, compact);
    r.add("slice", &[P::Any], Some(P::Any), slice);
    r.add("mustSlice", &[P::Any], Some(P::Any), slice);
    r.add("chunk", &[P::Int, P::Any], None, chunk);
    r.add("mustChunk", &[P::Int, P::Any], None, chunk);
    r.add("concat", &[], Some(P::Any), |_, a| {
        let mut out = Vec::new();
        for l in &a {
            match l {
                Value::List(_, x) => out.extend(x.iter().cloned()),
                Value::Nil => return Err(NIL_DEREF.into()),
                other => {
                    return Err(format!("Cannot concat type {} as list", other.kind_name()).into());
                }
            }
        }
        Ok(any_list(out))
    });
    r.add("sortAlpha", &[P::Any], None, |_, a| {
        let mut v = match &a[0] {
            Value::List(..) => strslice(&a[0]),
            other => vec![super::strval(other)],
        };
        v.sort();
        Ok(Value::string_list(v))
    });
}
