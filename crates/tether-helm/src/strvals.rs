//! Helm's `--set` syntax (`pkg/strvals`): `a.b=c`, `a[0].b=c`, `a={x,y}`, commas between
//! assignments, `\` escapes (`a\.b=c`, `x=a\,b`), typed values (`true`, `false`, `null`, int64; a
//! leading `0` keeps a string), plus the `--set-string`, `--set-json`, `--set-file` and
//! `--set-literal` variants.

use std::collections::BTreeMap;

use tether_gotmpl::{MapRef, Value};

const MAX_INDEX: i64 = 65536;
const MAX_NESTED: usize = 30;

/// How values after `=` are read.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `--set`: typed.
    Typed,
    /// `--set-string`.
    String,
    /// `--set-json`.
    Json,
}

enum E {
    Eof,
    NotList,
    Msg(String),
}

type R<T> = Result<T, E>;

fn msg(s: impl Into<String>) -> E {
    E::Msg(s.into())
}

type Reader<'a> = &'a dyn Fn(&str) -> Result<String, String>;

struct Parser<'a> {
    s: Vec<char>,
    pos: usize,
    mode: Mode,
    file_reader: Option<Reader<'a>>,
}

fn set(data: &MapRef, key: &str, v: Value) {
    if key.is_empty() {
        return;
    }
    data.borrow_mut().insert(key.to_string(), v);
}

/// Go's `%v` of a rune slice as `%q` prints it.
fn q(s: &[char]) -> String {
    tether_gotmpl::fmt::go_quote(&s.iter().collect::<String>())
}

impl Parser<'_> {
    fn read(&mut self) -> Option<char> {
        let c = self.s.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }
    fn unread(&mut self) {
        self.pos -= 1;
    }

    /// Runes until a stop rune, with `\` escapes. `Err(Eof)` carries what was read in `out`.
    fn until(&mut self, stop: &[char], out: &mut Vec<char>) -> R<char> {
        loop {
            match self.read() {
                None => return Err(E::Eof),
                Some(c) if stop.contains(&c) => return Ok(c),
                Some('\\') => match self.read() {
                    None => return Err(E::Eof),
                    Some(n) => out.push(n),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn parse(&mut self, data: &MapRef) -> Result<(), String> {
        loop {
            match self.key(data, 0) {
                Ok(()) => {}
                Err(E::Eof) => return Ok(()),
                Err(E::NotList) => return Err("not a list".into()),
                Err(E::Msg(m)) => return Err(m),
            }
        }
    }

    fn typed(&self, v: &[char]) -> R<Value> {
        let s: String = v.iter().collect();
        if let Some(r) = self.file_reader {
            return r(&s).map(Value::str).map_err(E::Msg);
        }
        if self.mode == Mode::String {
            return Ok(Value::str(s));
        }
        Ok(typed_val(&s))
    }

    fn empty_val(&mut self) -> R<bool> {
        loop {
            match self.read() {
                None => return Ok(true),
                Some(',') => return Ok(true),
                Some(c) if c.is_whitespace() => {}
                Some(_) => {
                    self.unread();
                    return Ok(false);
                }
            }
        }
    }

    fn json_val(&mut self) -> R<Value> {
        let rest: String = self.s[self.pos..].iter().collect();
        let mut it = serde_json::Deserializer::from_str(&rest).into_iter::<serde_json::Value>();
        match it.next() {
            Some(Ok(v)) => {
                let used = rest[..it.byte_offset()].chars().count();
                self.pos += used;
                Ok(Value::from_json(&v))
            }
            Some(Err(e)) => Err(msg(e.to_string())),
            None => Err(msg("unexpected end of JSON input")),
        }
    }

    fn key(&mut self, data: &MapRef, level: usize) -> R<()> {
        let mut k = Vec::new();
        let last = match self.until(&['=', '[', ',', '.'], &mut k) {
            Ok(c) => c,
            Err(E::Eof) if k.is_empty() => return Err(E::Eof),
            Err(E::Eof) => return Err(msg(format!("key {} has no value", q(&k)))),
            Err(e) => return Err(e),
        };
        let ks: String = k.iter().collect();
        match last {
            '[' => {
                let i = self
                    .key_index()
                    .map_err(|e| msg(format!("error parsing index: {}", emsg(e))))?;
                let list = match data.borrow().get(&ks) {
                    None => Vec::new(),
                    Some(Value::List(_, l)) => l.to_vec(),
                    Some(other) => {
                        return Err(msg(format!(
                            "unable to parse key: interface conversion: interface {{}} is {}, not []interface {{}}",
                            other.type_name()
                        )));
                    }
                };
                let (list, err) = self.list_item(list, i, level);
                set(data, &ks, Value::list(list));
                err.map_or(Ok(()), Err)
            }
            '=' => {
                if self.mode == Mode::Json {
                    if self.empty_val()? {
                        set(data, &ks, Value::Nil);
                        return Ok(());
                    }
                    let v = self.json_val()?;
                    set(data, &ks, v);
                    self.empty_val()?;
                    return Ok(());
                }
                match self.val_list() {
                    Ok(vl) => {
                        set(data, &ks, Value::list(vl));
                        Ok(())
                    }
                    Err(E::Eof) => {
                        set(data, &ks, Value::str(""));
                        Err(E::Eof)
                    }
                    Err(E::NotList) => {
                        let mut rs = Vec::new();
                        let e = self.until(&[','], &mut rs);
                        if let Err(E::Msg(m)) = e {
                            return Err(E::Msg(m));
                        }
                        let v = self.typed(&rs)?;
                        set(data, &ks, v);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            ',' => {
                set(data, &ks, Value::str(""));
                Err(msg(format!(
                    "key {} has no value (cannot end with ,)",
                    q(&k)
                )))
            }
            _ => {
                // '.'
                let level = level + 1;
                if level > MAX_NESTED {
                    return Err(msg(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED}"
                    )));
                }
                let inner = match data.borrow().get(&ks) {
                    None => None,
                    Some(Value::Map(m)) => Some(m.clone()),
                    Some(other) => {
                        return Err(msg(format!(
                            "unable to parse key: interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                            other.type_name()
                        )));
                    }
                };
                let inner =
                    inner.unwrap_or_else(|| std::rc::Rc::new(tether_gotmpl::MapData::default()));
                let e = self.key(&inner, level);
                let empty = inner.borrow().is_empty();
                if e.is_ok() && empty {
                    return Err(msg(format!("key map {} has no value", q(&k))));
                }
                if !empty {
                    set(data, &ks, Value::Map(inner));
                }
                e
            }
        }
    }

    fn key_index(&mut self) -> R<i64> {
        let mut v = Vec::new();
        self.until(&[']'], &mut v)?;
        let s: String = v.iter().collect();
        s.parse::<i64>().map_err(|_| {
            msg(format!(
                "strconv.Atoi: parsing {}: invalid syntax",
                tether_gotmpl::fmt::go_quote(&s)
            ))
        })
    }

    fn list_item(&mut self, mut list: Vec<Value>, i: i64, level: usize) -> (Vec<Value>, Option<E>) {
        if i < 0 {
            return (list, Some(msg(format!("negative {i} index not allowed"))));
        }
        let mut k = Vec::new();
        let last = self.until(&['[', '.', '='], &mut k);
        if !k.is_empty() {
            return (
                list,
                Some(msg(format!(
                    "unexpected data at end of array index: {}",
                    q(&k)
                ))),
            );
        }
        let last = match last {
            Ok(c) => c,
            Err(e) => return (list, Some(e)),
        };
        match last {
            '=' => {
                if self.mode == Mode::Json {
                    match self.empty_val() {
                        Err(e) => return (list, Some(e)),
                        Ok(true) => return set_index(list, i, Value::Nil),
                        Ok(false) => {}
                    }
                    let v = match self.json_val() {
                        Ok(v) => v,
                        Err(e) => return (list, Some(e)),
                    };
                    let (list, err) = set_index(list, i, v);
                    if err.is_some() {
                        return (list, err);
                    }
                    return match self.empty_val() {
                        Ok(_) => (list, None),
                        Err(e) => (list, Some(e)),
                    };
                }
                match self.val_list() {
                    Ok(vl) => set_index(list, i, Value::list(vl)),
                    Err(E::Eof) => set_index(list, i, Value::str("")),
                    Err(E::NotList) => {
                        let mut rs = Vec::new();
                        let e = self.until(&[','], &mut rs);
                        if let Err(E::Msg(m)) = e {
                            return (list, Some(E::Msg(m)));
                        }
                        match self.typed(&rs) {
                            Ok(v) => set_index(list, i, v),
                            Err(e) => (list, Some(e)),
                        }
                    }
                    Err(e) => (list, Some(e)),
                }
            }
            '[' => {
                let next = match self.key_index() {
                    Ok(n) => n,
                    Err(e) => {
                        return (list, Some(msg(format!("error parsing index: {}", emsg(e)))));
                    }
                };
                let mut crt = Vec::new();
                if (i as usize) < list.len() {
                    match &list[i as usize] {
                        Value::Nil => {}
                        Value::List(_, l) => crt = l.to_vec(),
                        other => {
                            return (
                                list.clone(),
                                Some(msg(format!(
                                    "unable to parse key: interface conversion: interface {{}} is {}, not []interface {{}}",
                                    other.type_name()
                                ))),
                            );
                        }
                    }
                }
                let (l2, err) = self.list_item(crt, next, level);
                if err.is_some() {
                    return (list, err);
                }
                set_index(list, i, Value::list(l2))
            }
            '.' => {
                let mut inner = std::rc::Rc::new(tether_gotmpl::MapData::default());
                if (i as usize) < list.len() {
                    match &list[i as usize] {
                        Value::Map(m) => inner = m.clone(),
                        _ => list[i as usize] = Value::Map(inner.clone()),
                    }
                }
                if let Err(e) = self.key(&inner, level) {
                    return (list, Some(e));
                }
                set_index(list, i, Value::Map(inner))
            }
            c => (
                Vec::new(),
                Some(msg(format!("parse error: unexpected token {}", c as u32))),
            ),
        }
    }

    fn val_list(&mut self) -> R<Vec<Value>> {
        match self.read() {
            None => return Err(E::Eof),
            Some('{') => {}
            Some(_) => {
                self.unread();
                return Err(E::NotList);
            }
        }
        let mut list = Vec::new();
        loop {
            let mut rs = Vec::new();
            match self.until(&[',', '}'], &mut rs) {
                Err(E::Eof) => return Err(msg("list must terminate with '}'")),
                Err(e) => return Err(e),
                Ok('}') => {
                    if let Some(r) = self.read()
                        && r != ','
                    {
                        self.unread();
                    }
                    list.push(self.typed(&rs)?);
                    return Ok(list);
                }
                Ok(_) => list.push(self.typed(&rs)?),
            }
        }
    }
}

fn emsg(e: E) -> String {
    match e {
        E::Eof => "EOF".into(),
        E::NotList => "not a list".into(),
        E::Msg(m) => m,
    }
}

fn set_index(mut list: Vec<Value>, i: i64, v: Value) -> (Vec<Value>, Option<E>) {
    if i < 0 {
        return (list, Some(msg(format!("negative {i} index not allowed"))));
    }
    if i > MAX_INDEX {
        return (
            list,
            Some(msg(format!(
                "index of {i} is greater than maximum supported index of {MAX_INDEX}"
            ))),
        );
    }
    let i = i as usize;
    if list.len() <= i {
        list.resize(i + 1, Value::Nil);
    }
    list[i] = v;
    (list, None)
}

/// `--set` value typing.
pub fn typed_val(s: &str) -> Value {
    if s.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if s.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if s.eq_ignore_ascii_case("null") {
        return Value::Nil;
    }
    if s == "0" {
        return Value::I64(0);
    }
    if !s.is_empty()
        && !s.starts_with('0')
        && let Ok(i) = parse_go_int(s)
    {
        return Value::I64(i);
    }
    Value::str(s)
}

/// `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits (no `_`).
fn parse_go_int(s: &str) -> Result<i64, ()> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    s.parse::<i64>().map_err(|_| ())
}

fn run(s: &str, dest: &MapRef, mode: Mode, file: Option<Reader<'_>>) -> Result<(), String> {
    Parser {
        s: s.chars().collect(),
        pos: 0,
        mode,
        file_reader: file,
    }
    .parse(dest)
}

/// `--set`.
pub fn parse_into(s: &str, dest: &MapRef) -> Result<(), String> {
    run(s, dest, Mode::Typed, None)
}

/// `--set-string`.
pub fn parse_into_string(s: &str, dest: &MapRef) -> Result<(), String> {
    run(s, dest, Mode::String, None)
}

/// `--set-json` in its `key=JSON` form.
pub fn parse_json(s: &str, dest: &MapRef) -> Result<(), String> {
    run(s, dest, Mode::Json, None)
}

/// `--set-file`: the value names a file whose content becomes the string value.
pub fn parse_into_file(
    s: &str,
    dest: &MapRef,
    reader: &dyn Fn(&str) -> Result<String, String>,
) -> Result<(), String> {
    run(s, dest, Mode::String, Some(reader))
}

/// `--set-literal`: everything after the first `=` is the value, verbatim.
pub fn parse_literal_into(s: &str, dest: &MapRef) -> Result<(), String> {
    let chars: Vec<char> = s.chars().collect();
    literal_key(&chars, &mut 0, dest, 0)
}

fn literal_key(s: &[char], pos: &mut usize, data: &MapRef, level: usize) -> Result<(), String> {
    let mut k = String::new();
    while *pos < s.len() {
        let c = s[*pos];
        *pos += 1;
        match c {
            '=' => {
                let v: String = s[*pos..].iter().collect();
                *pos = s.len();
                set(data, &k, Value::str(v));
                return Ok(());
            }
            '.' => {
                if level + 1 > MAX_NESTED {
                    return Err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED}"
                    ));
                }
                let inner = match data.borrow().get(&k) {
                    Some(Value::Map(m)) => m.clone(),
                    _ => std::rc::Rc::new(tether_gotmpl::MapData::default()),
                };
                literal_key(s, pos, &inner, level + 1)?;
                set(data, &k, Value::Map(inner));
                return Ok(());
            }
            '[' => {
                let mut idx = String::new();
                while *pos < s.len() && s[*pos] != ']' {
                    idx.push(s[*pos]);
                    *pos += 1;
                }
                *pos += 1;
                let i: i64 = idx.parse().map_err(|_| {
                    format!(
                        "error parsing index: strconv.Atoi: parsing {}: invalid syntax",
                        tether_gotmpl::fmt::go_quote(&idx)
                    )
                })?;
                let list = match data.borrow().get(&k) {
                    Some(Value::List(_, l)) => l.to_vec(),
                    _ => Vec::new(),
                };
                let list = literal_list_item(s, pos, list, i, level)?;
                set(data, &k, Value::list(list));
                return Ok(());
            }
            c => k.push(c),
        }
    }
    Err(format!(
        "key {} has no value",
        tether_gotmpl::fmt::go_quote(&k)
    ))
}

fn literal_list_item(
    s: &[char],
    pos: &mut usize,
    list: Vec<Value>,
    i: i64,
    level: usize,
) -> Result<Vec<Value>, String> {
    match s.get(*pos) {
        Some('=') => {
            *pos += 1;
            let v: String = s[*pos..].iter().collect();
            *pos = s.len();
            let (l, e) = set_index(list, i, Value::str(v));
            e.map_or(Ok(l), |e| Err(emsg(e)))
        }
        Some('.') => {
            *pos += 1;
            let inner = match list.get(i.max(0) as usize) {
                Some(Value::Map(m)) => m.clone(),
                _ => std::rc::Rc::new(tether_gotmpl::MapData::default()),
            };
            literal_key(s, pos, &inner, level)?;
            let (l, e) = set_index(list, i, Value::Map(inner));
            e.map_or(Ok(l), |e| Err(emsg(e)))
        }
        Some('[') => {
            *pos += 1;
            let mut idx = String::new();
            while *pos < s.len() && s[*pos] != ']' {
                idx.push(s[*pos]);
                *pos += 1;
            }
            *pos += 1;
            let next: i64 = idx.parse().map_err(|_| "error parsing index".to_string())?;
            let crt = match list.get(i.max(0) as usize) {
                Some(Value::List(_, l)) => l.to_vec(),
                _ => Vec::new(),
            };
            let inner = literal_list_item(s, pos, crt, next, level)?;
            let (l, e) = set_index(list, i, Value::list(inner));
            e.map_or(Ok(l), |e| Err(emsg(e)))
        }
        _ => Err("unexpected end of list item".into()),
    }
}

/// A fresh Go map.
pub fn new_map() -> MapRef {
    std::rc::Rc::new(tether_gotmpl::MapData::new(BTreeMap::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<String, String> {
        let m = new_map();
        parse_into(s, &m)?;
        Ok(tether_gotmpl::json::marshal(
            &Value::Map(m),
            &tether_gotmpl::json::JsonOpts {
                escape_html: true,
                indent: None,
            },
        )
        .unwrap())
    }

    fn types(s: &str) -> String {
        let m = new_map();
        parse_into(s, &m).unwrap();
        let b = m.borrow();
        b.values()
            .map(|v| v.type_name())
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn forms() {
        assert_eq!(parse("a=b").unwrap(), r#"{"a":"b"}"#);
        assert_eq!(parse("a.b=c,d=1").unwrap(), r#"{"a":{"b":"c"},"d":1}"#);
        assert_eq!(parse("a[1].b=c").unwrap(), r#"{"a":[null,{"b":"c"}]}"#);
        assert_eq!(parse("a={x,y}").unwrap(), r#"{"a":["x","y"]}"#);
        assert_eq!(parse(r"a\.b=c\,d").unwrap(), r#"{"a.b":"c,d"}"#);
        assert_eq!(parse("a=").unwrap(), r#"{"a":""}"#);
        assert_eq!(parse("a[0][1]=x").unwrap(), r#"{"a":[[null,"x"]]}"#);
        assert_eq!(parse("a=null,b=TRUE").unwrap(), r#"{"a":null,"b":true}"#);
        assert_eq!(parse("a.b=1,a.c=2").unwrap(), r#"{"a":{"b":1,"c":2}}"#);
    }

    #[test]
    fn typing() {
        assert_eq!(types("a=1"), "int64");
        assert_eq!(types("a=01"), "string");
        assert_eq!(types("a=0"), "int64");
        assert_eq!(types("a=1.5"), "string");
        assert_eq!(types("a=-3"), "int64");
        let m = new_map();
        parse_into_string("a=1", &m).unwrap();
        assert_eq!(m.borrow()["a"].type_name(), "string");
    }

    #[test]
    fn errors() {
        assert_eq!(parse("a").unwrap_err(), r#"key "a" has no value"#);
        assert_eq!(
            parse("a,b=1").unwrap_err(),
            r#"key "a" has no value (cannot end with ,)"#
        );
        assert_eq!(parse("a={x").unwrap_err(), "list must terminate with '}'");
        assert_eq!(
            parse("a[-1]=x").unwrap_err(),
            "negative -1 index not allowed"
        );
        assert!(
            parse("a[x]=1")
                .unwrap_err()
                .starts_with("error parsing index")
        );
        assert_eq!(parse("a.=1").unwrap_err(), r#"key map "a" has no value"#);
    }

    #[test]
    fn json_and_literal() {
        let m = new_map();
        parse_json(r#"a={"b":[1,2]},c=3"#, &m).unwrap();
        let out = tether_gotmpl::json::marshal(
            &Value::Map(m.clone()),
            &tether_gotmpl::json::JsonOpts {
                escape_html: true,
                indent: None,
            },
        )
        .unwrap();
        assert_eq!(out, r#"{"a":{"b":[1,2]},"c":3}"#);
        assert_eq!(m.borrow()["c"].type_name(), "float64");
        let m = new_map();
        parse_literal_into("a.b=x,y=z\\", &m).unwrap();
        let out = tether_gotmpl::json::marshal(
            &Value::Map(m),
            &tether_gotmpl::json::JsonOpts {
                escape_html: true,
                indent: None,
            },
        )
        .unwrap();
        assert_eq!(out, r#"{"a":{"b":"x,y=z\\"}}"#);
    }
}
