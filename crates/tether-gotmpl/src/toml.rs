//! Helm's `toToml` (BurntSushi/toml's encoder: sorted keys, plain keys before tables, sub-tables indented
//! by two spaces per level, floats always with a decimal point, nil values skipped).

use crate::value::Value;

fn bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn key_str(k: &str) -> String {
    if bare_key(k) { k.to_string() } else { quote(k) }
}

fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\u{8}' => o.push_str("\\b"),
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            '\u{c}' => o.push_str("\\f"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::List(_, l) if !l.is_empty() && l.iter().all(is_table))
}

fn element(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) | Value::I64(i) => i.to_string(),
        Value::U64(u) => u.to_string(),
        Value::Float(f) => {
            if f.is_nan() {
                "nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            } else {
                let s = format!("{f}");
                if s.contains('.') || s.contains('e') {
                    s
                } else {
                    format!("{s}.0")
                }
            }
        }
        Value::String(s) => quote(s),
        Value::List(_, l) => {
            let items: Vec<String> = l
                .iter()
                .filter(|x| !x.is_nil())
                .map(element)
                .collect::<Result<_, _>>()?;
            format!("[{}]", items.join(", "))
        }
        Value::Map(m) => {
            // Inline table (only inside arrays).
            let items: Vec<String> = m
                .borrow()
                .iter()
                .filter(|(_, x)| !x.is_nil())
                .map(|(k, x)| Ok(format!("{} = {}", key_str(k), element(x)?)))
                .collect::<Result<_, String>>()?;
            format!("{{{}}}", items.join(", "))
        }
        Value::Bytes(b) => quote(&String::from_utf8_lossy(b)),
        Value::Nil => return Err("toml: cannot encode a nil value".into()),
        Value::Object(o) => quote(&o.display().unwrap_or_default()),
    })
}

struct Enc {
    out: String,
}

impl Enc {
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }
    fn table(&mut self, path: &[String], m: &Value) -> Result<(), String> {
        let Value::Map(m) = m else { return Ok(()) };
        let m = m.borrow();
        let indent = "  ".repeat(path.len());
        for (k, v) in m.iter() {
            if v.is_nil() || is_table(v) || is_table_array(v) {
                continue;
            }
            self.out
                .push_str(&format!("{indent}{} = {}\n", key_str(k), element(v)?));
        }
        for (k, v) in m.iter() {
            let mut p = path.to_vec();
            p.push(k.clone());
            let header: Vec<String> = p.iter().map(|x| key_str(x)).collect();
            let hindent = "  ".repeat(p.len() - 1);
            if is_table(v) {
                if p.len() == 1 {
                    self.newline();
                }
                self.out
                    .push_str(&format!("{hindent}[{}]\n", header.join(".")));
                self.table(&p, v)?;
            } else if let Value::List(_, l) = v
                && is_table_array(v)
            {
                for item in l.iter() {
                    if p.len() == 1 {
                        self.newline();
                    }
                    self.out
                        .push_str(&format!("{hindent}[[{}]]\n", header.join(".")));
                    self.table(&p, item)?;
                }
            }
        }
        Ok(())
    }
}

/// Helm's `toToml`: the document, or the error text.
pub fn to_toml(v: &Value) -> String {
    let mut e = Enc { out: String::new() };
    match v {
        Value::Map(_) => match e.table(&[], v) {
            Ok(()) => e.out,
            Err(err) => err,
        },
        other => element(other).unwrap_or_else(|e| e),
    }
}

fn from_toml_value(v: ::toml::Value) -> Value {
    match v {
        ::toml::Value::String(s) => Value::str(s),
        ::toml::Value::Integer(i) => Value::I64(i),
        ::toml::Value::Float(f) => Value::Float(f),
        ::toml::Value::Boolean(b) => Value::Bool(b),
        ::toml::Value::Datetime(d) => Value::str(d.to_string()),
        ::toml::Value::Array(a) => Value::list(a.into_iter().map(from_toml_value).collect()),
        ::toml::Value::Table(t) => Value::map(
            t.into_iter()
                .map(|(k, v)| (k, from_toml_value(v)))
                .collect(),
        ),
    }
}

/// Helm's `fromToml`: a map, or `{"Error": msg}` (error texts are the `toml` crate's, not BurntSushi's).
pub fn from_toml(src: &str) -> Value {
    match src.parse::<::toml::Table>() {
        Ok(t) => from_toml_value(::toml::Value::Table(t)),
        Err(e) => Value::map(
            [("Error".to_string(), Value::str(e.message().to_string()))]
                .into_iter()
                .collect(),
        ),
    }
}
