//! Go `encoding/json` marshalling of template values (byte-sorted keys, HTML-escaped `<>&`, Go's float
//! format) and decoding into Helm's values (numbers become float64).

use std::collections::BTreeMap;

use crate::value::Value;

/// Go's encoding/json float64 text, or None for NaN/Inf (unsupported value).
pub fn go_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // 'e' format, shortest, with exponent cleanup (e-07 -> e-7).
        let s = crate::fmt::format_float_g(f);
        let s = if s.contains('e') { s } else { format!("{f:e}") };
        // format_float_g already gives e+XX / e-XX with at least two digits; Go's json trims e-0X to e-X.
        let s = if let Some(i) = s.find("e-0") {
            format!("{}e-{}", &s[..i], &s[i + 3..])
        } else {
            s
        };
        let s = if let Some(i) = s.find("e+0") {
            format!("{}e+{}", &s[..i], &s[i + 3..])
        } else {
            s
        };
        return Some(s);
    }
    // 'f' format, shortest round trip.
    let s = format!("{f}");
    Some(if s == "-0" { "-0".into() } else { s })
}

pub struct JsonOpts {
    pub escape_html: bool,
    pub indent: Option<&'static str>,
}

fn write_str(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline(out: &mut String, o: &JsonOpts, depth: usize) {
    if let Some(ind) = o.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_value(out: &mut String, v: &Value, o: &JsonOpts, depth: usize) -> Result<(), String> {
    if depth > 10_000 {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::I64(i) => out.push_str(&i.to_string()),
        Value::U64(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&go_json_float(*f).ok_or_else(|| {
            format!(
                "json: unsupported value: {}",
                crate::fmt::format_float_g(*f)
            )
        })?),
        Value::String(s) => write_str(out, s, o.escape_html),
        Value::Bytes(b) => {
            use base64::Engine as _;
            write_str(
                out,
                &base64::engine::general_purpose::STANDARD.encode(b),
                o.escape_html,
            )
        }
        Value::List(_, l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, o, depth + 1);
                write_value(out, x, o, depth + 1)?;
            }
            newline(out, o, depth);
            out.push(']');
        }
        Value::Map(m) => {
            let m = m.borrow();
            if m.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, o, depth + 1);
                write_str(out, k, o.escape_html);
                out.push(':');
                if o.indent.is_some() {
                    out.push(' ');
                }
                write_value(out, x, o, depth + 1)?;
            }
            newline(out, o, depth);
            out.push('}');
        }
        Value::Object(obj) => match (obj.marshal(), obj.display()) {
            (Some(v), _) => write_value(out, &v, o, depth)?,
            (None, Some(s)) => write_str(out, &s, o.escape_html),
            (None, None) => out.push_str("{}"),
        },
    }
    Ok(())
}

/// json.Marshal (or MarshalIndent / an encoder without HTML escaping).
pub fn marshal(v: &Value, o: &JsonOpts) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, o, 0)?;
    Ok(out)
}

fn from_serde(j: serde_json::Value) -> Value {
    Value::from_json(&j)
}

fn go_json_error(src: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of JSON input".into(),
        _ => {
            // Locate the offending character like Go's scanner does.
            let line_start: usize = src
                .split('\n')
                .take(e.line().saturating_sub(1))
                .map(|l| l.len() + 1)
                .sum();
            let off = line_start + e.column().saturating_sub(1);
            let msg = e.to_string();
            let context = if msg.contains("key must be a string") {
                "looking for beginning of object key string"
            } else if msg.contains("expected `,` or `}`") {
                "after object key:value pair"
            } else if msg.contains("expected `:`") {
                "after object key"
            } else if msg.contains("expected `,` or `]`") {
                "after array element"
            } else if msg.contains("trailing characters") {
                "after top-level value"
            } else {
                "looking for beginning of value"
            };
            match src[off.min(src.len())..].chars().next() {
                Some(c) => format!("invalid character {} {context}", go_char_quote(c)),
                None => "unexpected end of JSON input".into(),
            }
        }
    }
}

fn go_char_quote(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '\n' => "'\\n'".into(),
        c => format!("'{c}'"),
    }
}

/// Helm's fromJson: a map, or `{"Error": msg}`.
pub fn from_json(src: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(src) {
        Ok(serde_json::Value::Object(o)) => from_serde(serde_json::Value::Object(o)),
        Ok(serde_json::Value::Null) => Value::empty_map(),
        Ok(other) => {
            let kind = match other {
                serde_json::Value::Array(_) => "array",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            };
            let mut m = BTreeMap::new();
            m.insert(
                "Error".to_string(),
                Value::str(format!(
                    "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
                )),
            );
            Value::map(m)
        }
        Err(e) => {
            let mut m = BTreeMap::new();
            m.insert("Error".to_string(), Value::str(go_json_error(src, &e)));
            Value::map(m)
        }
    }
}

/// Helm's fromJsonArray: a list, or `[msg]`.
pub fn from_json_array(src: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(src) {
        Ok(serde_json::Value::Array(a)) => from_serde(serde_json::Value::Array(a)),
        Ok(serde_json::Value::Null) => Value::list(Vec::new()),
        Ok(other) => {
            let kind = match other {
                serde_json::Value::Object(_) => "object",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            };
            Value::list(vec![Value::str(format!(
                "json: cannot unmarshal {kind} into Go value of type []interface {{}}"
            ))])
        }
        Err(e) => Value::list(vec![Value::str(go_json_error(src, &e))]),
    }
}

/// Sprig's fromJson (used by mustFromJson): any JSON value.
pub fn from_json_any(src: &str) -> Result<Value, String> {
    serde_json::from_str::<serde_json::Value>(src)
        .map(from_serde)
        .map_err(|e| go_json_error(src, &e))
}
