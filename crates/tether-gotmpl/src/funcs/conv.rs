//! Conversions as Sprig does them (`strval`, `strslice`, spf13/cast `ToInt64`/`ToFloat64`), and the
//! reflection and defaulting functions built on them.

use super::{P, Registry, s};
use crate::fmt::sprint_v;
use crate::value::{ListKind, Value};

/// Sprig's `strval`: strings as-is, []byte as text, everything else `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        v => sprint_v(v),
    }
}

/// Sprig's `strslice`.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(ListKind::String | ListKind::VersionSet, l) => l.iter().map(strval).collect(),
        Value::List(_, l) => l.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

/// Sprig's `empty`.
pub(crate) fn is_empty(v: &Value) -> bool {
    !v.truthy() && !matches!(v, Value::Object(_))
}

/// strconv.ParseInt(s, 0, 64) with Go's base prefixes and underscores.
pub(crate) fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(h) = lower.strip_prefix("0x") {
        (16, h, true)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (8, o, true)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.contains('_') && !prefixed {
        return None;
    }
    let digits = digits.replace('_', "");
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return None;
    }
    let u = u64::from_str_radix(&digits, radix).ok()?;
    if neg {
        if u > i64::MAX as u64 + 1 {
            return None;
        }
        Some((u as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(u).ok()
    }
}

/// cast's trimZeroDecimal: "12.0" -> "12", "12.50" unchanged.
fn trim_zero_decimal(s: &str) -> &str {
    let Some(dot) = s.find('.') else { return s };
    if s[dot + 1..].chars().all(|c| c == '0') && dot > 0 {
        &s[..dot]
    } else {
        s
    }
}

/// spf13/cast ToInt64 (errors become 0).
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i,
        Value::U64(u) => *u as i64,
        Value::Float(f) => {
            if f.is_nan() {
                i64::MIN
            } else {
                *f as i64
            }
        }
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_int_base0(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// spf13/cast ToFloat64 (errors become 0).
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i as f64,
        Value::U64(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => go_parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// strconv.ParseFloat(s, 64).
pub(crate) fn go_parse_float(s: &str) -> Option<f64> {
    let t = s.replace('_', "");
    let lower = t.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if lower.contains("0x") {
        return parse_int_base0(&t).map(|i| i as f64);
    }
    if t.is_empty()
        || t.contains(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
    {
        return None;
    }
    t.parse::<f64>().ok()
}

fn type_of(v: &Value) -> String {
    v.type_name()
}

pub(super) fn register(r: &mut Registry) {
    r.add("toString", &[P::Any], None, |_, a| {
        Ok(Value::str(strval(&a[0])))
    });
    r.add("atoi", &[P::Str], None, |_, a| {
        Ok(Value::Int(s(&a[0]).parse::<i64>().unwrap_or(0)))
    });
    r.add("int", &[P::Any], None, |_, a| Ok(Value::Int(to_i64(&a[0]))));
    r.add("int64", &[P::Any], None, |_, a| {
        Ok(Value::I64(to_i64(&a[0])))
    });
    r.add("float64", &[P::Any], None, |_, a| {
        Ok(Value::Float(to_f64(&a[0])))
    });
    r.add("toDecimal", &[P::Any], None, |_, a| {
        let s = strval(&a[0]);
        Ok(Value::I64(i64::from_str_radix(&s, 8).unwrap_or(0)))
    });
    r.add("toStrings", &[P::Any], None, |_, a| {
        Ok(Value::string_list(strslice(&a[0])))
    });
    r.add("typeOf", &[P::Any], None, |_, a| {
        Ok(Value::str(type_of(&a[0])))
    });
    r.add("typeIs", &[P::Str, P::Any], None, |_, a| {
        Ok(Value::Bool(s(&a[0]) == type_of(&a[1])))
    });
    r.add("typeIsLike", &[P::Str, P::Any], None, |_, a| {
        let t = type_of(&a[1]);
        let target = s(&a[0]);
        Ok(Value::Bool(target == t || format!("*{target}") == t))
    });
    r.add("kindOf", &[P::Any], None, |_, a| {
        Ok(Value::str(a[0].kind_name()))
    });
    r.add("kindIs", &[P::Str, P::Any], None, |_, a| {
        Ok(Value::Bool(s(&a[0]) == a[1].kind_name()))
    });
    r.add("deepEqual", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });
    r.add("default", &[P::Any], Some(P::Any), |_, a| {
        let mut it = a.into_iter();
        let d = it.next().unwrap_or(Value::Nil);
        match it.next() {
            Some(g) if !is_empty(&g) => Ok(g),
            _ => Ok(d),
        }
    });
    r.add("empty", &[P::Any], None, |_, a| {
        Ok(Value::Bool(is_empty(&a[0])))
    });
    r.add("coalesce", &[], Some(P::Any), |_, a| {
        Ok(a.into_iter().find(|v| !is_empty(v)).unwrap_or(Value::Nil))
    });
    r.add("all", &[], Some(P::Any), |_, a| {
        Ok(Value::Bool(a.iter().all(|v| !is_empty(v))))
    });
    r.add("any", &[], Some(P::Any), |_, a| {
        Ok(Value::Bool(a.iter().any(|v| !is_empty(v))))
    });
    r.add("ternary", &[P::Any, P::Any, P::Bool], None, |_, a| {
        let mut it = a.into_iter();
        let t = it.next().unwrap_or_default();
        let f = it.next().unwrap_or_default();
        Ok(if matches!(it.next(), Some(Value::Bool(true))) {
            t
        } else {
            f
        })
    });
    r.add("deepCopy", &[P::Any], None, |_, a| Ok(a[0].deep_copy()));
    r.add("mustDeepCopy", &[P::Any], None, |_, a| {
        if a[0].is_nil() {
            return Err("reflect: call of reflect.Value.Type on zero Value".into());
        }
        Ok(a[0].deep_copy())
    });
}

/// reflect.DeepEqual.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::I64(x), Value::I64(y)) => x == y,
        (Value::U64(x), Value::U64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(k1, x), Value::List(k2, y)) => {
            k1 == k2 && x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let x = x.borrow();
            let y = y.borrow();
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => false,
    }
}
