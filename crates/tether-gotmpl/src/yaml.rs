//! YAML as Helm reads and writes it: `sigs.k8s.io/yaml` on top of go-yaml v2.
//!
//! **Why the emitter is hand-written.** Helm's `toYaml` output is `json.Marshal` followed by go-yaml v2's
//! `Marshal`: map keys in go-yaml's "natural" order (digit runs compared numerically), YAML 1.1 implicit
//! typing decides which strings are quoted (`"yes"`, `"on"`, `"1e3"`, `"2024-01-01"`), long plain and
//! quoted scalars fold at column 80, multi-line strings become literal blocks with `|`/`|-`/`|+` chomping,
//! sequences inside mappings are not indented, and tabs or non-printable characters force double quotes
//! with libyaml's escapes. No Rust YAML crate reproduces these byte for byte, and rendered manifests are
//! compared byte for byte (by users' diffs and by Argo CD's), so this module ports the relevant parts of
//! go-yaml's `encode.go`/`emitterc.go` decisions. It is also meant for the Kustomize renderer's output.
//!
//! The loader uses `yaml-rust2`'s event parser (which keeps scalar styles) and resolves plain scalars
//! with go-yaml v2's rules, then applies sigs.k8s.io/yaml's JSON round trip: every number becomes
//! `float64`, every key a string.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::json::go_json_float;
use crate::value::Value;

/// A YAML node after the JSON round trip.
#[derive(Clone, Debug)]
pub enum YNode {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<YNode>),
    Map(Vec<(String, YNode)>),
}

/// What a plain scalar means under go-yaml v2's resolver.
#[derive(Debug, Clone)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Timestamp,
    Merge,
    Str,
}

/// Go's strconv.ParseInt/ParseUint(s, 0, 64) as a wide integer.
fn parse_go_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() {
        return None;
    }
    let l = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(h) = l.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = l.strip_prefix("0o") {
        (8, o)
    } else if let Some(b) = l.strip_prefix("0b") {
        (2, b)
    } else if l.len() > 1 && l.starts_with('0') {
        (8, &l[1..])
    } else {
        (10, l.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let u = u64::from_str_radix(digits, radix).ok()?;
    let v = if neg { -(u as i128) } else { u as i128 };
    if neg && v < i64::MIN as i128 {
        return None;
    }
    Some(v)
}

/// go-yaml v2 `resolve("", s)` for a plain scalar.
pub fn resolve(s: &str) -> Resolved {
    let Some(first) = s.bytes().next() else {
        return Resolved::Null;
    };
    match s {
        "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    match first {
        b'.' => {
            if let Some(f) = crate::funcs::go_parse_float(s) {
                return Resolved::Float(f);
            }
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if crate::yaml_scalar::is_timestamp(s) {
                return Resolved::Timestamp;
            }
            let plain = s.replace('_', "");
            if let Some(i) = parse_go_int(&plain) {
                return Resolved::Int(i);
            }
            if crate::yaml_scalar::is_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
            {
                return Resolved::Float(f);
            }
            if let Some(b) = plain.strip_prefix("0b")
                && let Ok(u) = u64::from_str_radix(b, 2)
            {
                return Resolved::Int(u as i128);
            }
            if let Some(b) = plain.strip_prefix("-0b")
                && let Ok(u) = u64::from_str_radix(b, 2)
            {
                return Resolved::Int(-(u as i128));
            }
        }
        _ => {}
    }
    Resolved::Str
}

// ---------------------------------------------------------------------------------------------------
// Value -> YNode (json.Marshal then yaml.Unmarshal)

/// Converts a template value the way `json.Marshal` + go-yaml `Unmarshal` would.
pub fn value_to_ynode(v: &Value) -> Result<YNode, String> {
    value_to_ynode_depth(v, 0)
}

fn value_to_ynode_depth(v: &Value, depth: usize) -> Result<YNode, String> {
    if depth > 10_000 {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    Ok(match v {
        Value::Nil => YNode::Null,
        Value::Bool(b) => YNode::Bool(*b),
        Value::Int(i) | Value::I64(i) => YNode::Int(*i as i128),
        Value::U64(u) => YNode::Int(*u as i128),
        Value::Float(f) => {
            let s = go_json_float(*f).ok_or_else(|| {
                format!(
                    "json: unsupported value: {}",
                    crate::fmt::format_float_g(*f)
                )
            })?;
            match resolve(&s) {
                Resolved::Int(i) => YNode::Int(i),
                Resolved::Float(f) => YNode::Float(f),
                _ => YNode::Float(*f),
            }
        }
        Value::String(s) => YNode::Str(s.to_string()),
        Value::Bytes(b) => {
            use base64::Engine as _;
            YNode::Str(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::List(_, l) => YNode::Seq(
            l.iter()
                .map(|x| value_to_ynode_depth(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => {
            let mut items: Vec<(String, YNode)> = m
                .borrow()
                .iter()
                .map(|(k, x)| Ok((k.clone(), value_to_ynode_depth(x, depth + 1)?)))
                .collect::<Result<_, String>>()?;
            items.sort_by(|a, b| natural_cmp(&a.0, &b.0));
            YNode::Map(items)
        }
        Value::Object(o) => match (o.marshal(), o.display()) {
            (Some(v), _) => value_to_ynode_depth(&v, depth + 1)?,
            (None, Some(s)) => YNode::Str(s),
            (None, None) => YNode::Map(Vec::new()),
        },
    })
}

/// go-yaml v2's keyList.Less for string keys.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    key_cmp(a, b, false)
}

/// keyList.Less for string keys: go-yaml v2's, or yaml.v3's (`v3`), where after equal digits a letter
/// sorts before a digit (`k1a` < `k10`).
fn key_cmp(a: &str, b: &str, v3: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let less = |x: bool| if x { Ordering::Less } else { Ordering::Greater };
    let mut i = 0;
    let mut digits = false;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = ar[i].is_numeric();
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return less(if v3 && digits { al } else { bl });
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 {
                j -= 1;
                if !ar[j].is_ascii_digit() {
                    break;
                }
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return less(an < bn);
        }
        if ai != bi {
            return less(ai < bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

// ---------------------------------------------------------------------------------------------------
// Emitter

struct Emitter {
    out: String,
    column: usize,
    indent: i64,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    best_width: usize,
    /// yaml.v3 (toYamlPretty): sequences indented inside mappings, no folding, tabs allowed in literal
    /// blocks, `<<` plain.
    v3: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

fn is_printable_char(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn is_break_char(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn analyze(value: &str, v3: bool) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let (mut block_ind, mut flow_ind) = (false, false);
    if value.starts_with("---") || value.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws =
            i + 1 >= n || matches!(chars[i + 1], ' ' | '\t') || is_break_char(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                '?' | ':' => {
                    flow_ind = true;
                    block_ind |= followed_by_ws;
                }
                '-' if followed_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    block_ind |= followed_by_ws;
                }
                '#' if preceded_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if v3 && c == '\t' {
            tabs = true;
        } else if !is_printable_char(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break_char(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = matches!(c, ' ' | '\t' | '\0') || is_break_char(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain: true,
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if flow_ind {
        a.flow_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

impl Emitter {
    fn new() -> Emitter {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            whitespace: true,
            indention: true,
            open_ended: false,
            best_width: 80,
            v3: false,
        }
    }
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }
    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }
    /// libyaml's write_break: `\n` is a line break; other break characters are copied as they are.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }
    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }
    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    /// Emits a scalar string with go-yaml's style selection. `simple_key`: written as a mapping key.
    fn string_scalar(&mut self, s: &str, simple_key: bool, root: bool) {
        // The common case, without the analysis: a word of letters, digits and `_./-` starting
        // with a letter is plain unless it resolves to something else (null, bool); it has no
        // indicator, space, break or non-ASCII character, so go-yaml writes it as it is.
        let b = s.as_bytes();
        if b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
            && matches!(resolve(s), Resolved::Str)
        {
            if !self.whitespace {
                self.put(' ');
            }
            self.out.push_str(s);
            self.column += b.len();
            self.whitespace = false;
            self.indention = false;
            if root {
                self.open_ended = true;
            }
            return;
        }
        let can_plain = match resolve(s) {
            Resolved::Str => !crate::yaml_scalar::is_base60(s),
            Resolved::Merge => self.v3,
            _ => false,
        };
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if can_plain {
            Style::Plain
        } else {
            Style::Double
        };
        let v3 = self.v3;
        self.scalar(
            s,
            style_fixup(&mut style, s, simple_key, v3),
            simple_key,
            root,
        );
    }

    fn scalar(&mut self, s: &str, style: Style, simple_key: bool, root: bool) {
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => {
                if !self.whitespace {
                    self.put(' ');
                }
                let chars: Vec<char> = s.chars().collect();
                let mut spaces = false;
                for (i, &c) in chars.iter().enumerate() {
                    if c == ' ' {
                        if allow_breaks
                            && !spaces
                            && self.column > self.best_width
                            && chars.get(i + 1) != Some(&' ')
                        {
                            self.write_indent();
                        } else {
                            self.put(c);
                        }
                        spaces = true;
                    } else {
                        self.put(c);
                        self.indention = false;
                        spaces = false;
                    }
                }
                self.whitespace = false;
                self.indention = false;
                if root {
                    self.open_ended = true;
                }
            }
            Style::Single => {
                self.write_indicator("'", true, false, false);
                let chars: Vec<char> = s.chars().collect();
                let mut spaces = false;
                let mut breaks = false;
                let n = chars.len();
                for (i, &c) in chars.iter().enumerate() {
                    if c == ' ' {
                        if allow_breaks
                            && !spaces
                            && self.column > self.best_width
                            && i > 0
                            && i < n - 1
                            && chars.get(i + 1) != Some(&' ')
                        {
                            self.write_indent();
                        } else {
                            self.put(c);
                        }
                        spaces = true;
                    } else if is_break_char(c) {
                        if !breaks && c == '\n' {
                            self.put_break();
                        }
                        self.write_break(c);
                        self.indention = true;
                        breaks = true;
                    } else {
                        if breaks {
                            self.write_indent();
                        }
                        if c == '\'' {
                            self.put('\'');
                        }
                        self.put(c);
                        self.indention = false;
                        spaces = false;
                        breaks = false;
                    }
                }
                self.write_indicator("'", false, false, false);
                self.whitespace = false;
                self.indention = false;
            }
            Style::Double => {
                self.write_indicator("\"", true, false, false);
                let chars: Vec<char> = s.chars().collect();
                let n = chars.len();
                let mut spaces = false;
                // libyaml's is_bom looks at the start of the value, not at the character: a value that
                // starts with a BOM has every character escaped.
                let bom = s.starts_with('\u{FEFF}');
                for (i, &c) in chars.iter().enumerate() {
                    if bom
                        || !is_printable_char(c)
                        || c == '\u{FEFF}'
                        || is_break_char(c)
                        || c == '"'
                        || c == '\\'
                    {
                        self.put('\\');
                        match c {
                            '\0' => self.put('0'),
                            '\x07' => self.put('a'),
                            '\x08' => self.put('b'),
                            '\t' => self.put('t'),
                            '\n' => self.put('n'),
                            '\x0b' => self.put('v'),
                            '\x0c' => self.put('f'),
                            '\r' => self.put('r'),
                            '\x1b' => self.put('e'),
                            '"' => self.put('"'),
                            '\\' => self.put('\\'),
                            '\u{85}' => self.put('N'),
                            '\u{A0}' => self.put('_'),
                            '\u{2028}' => self.put('L'),
                            '\u{2029}' => self.put('P'),
                            c => {
                                let v = c as u32;
                                let (ch, w) = if v <= 0xFF {
                                    ('x', 2)
                                } else if v <= 0xFFFF {
                                    ('u', 4)
                                } else {
                                    ('U', 8)
                                };
                                self.put(ch);
                                for k in (0..w).rev() {
                                    let d = (v >> (k * 4)) & 0xF;
                                    self.put(
                                        char::from_digit(d, 16)
                                            .expect("hex digit")
                                            .to_ascii_uppercase(),
                                    );
                                }
                            }
                        }
                        spaces = false;
                    } else if c == ' ' {
                        if allow_breaks
                            && !spaces
                            && self.column > self.best_width
                            && i != 0
                            && i != n - 1
                        {
                            self.write_indent();
                            if chars.get(i + 1) == Some(&' ') {
                                self.put('\\');
                            }
                        } else {
                            self.put(c);
                        }
                        spaces = true;
                    } else {
                        self.put(c);
                        spaces = false;
                    }
                }
                self.write_indicator("\"", false, false, false);
                self.whitespace = false;
                self.indention = false;
            }
            Style::Literal => {
                self.write_indicator("|", true, false, false);
                // Block scalar hints.
                let chars: Vec<char> = s.chars().collect();
                if chars
                    .first()
                    .is_some_and(|c| *c == ' ' || is_break_char(*c))
                {
                    self.write_indicator("2", false, false, false);
                }
                self.open_ended = false;
                let n = chars.len();
                let chomp = if n == 0 || !is_break_char(chars[n - 1]) {
                    Some("-")
                } else if n == 1 || is_break_char(chars[n - 2]) {
                    self.open_ended = true;
                    Some("+")
                } else {
                    None
                };
                if let Some(c) = chomp {
                    self.write_indicator(c, false, false, false);
                    if c == "+" {
                        self.open_ended = true;
                    }
                }
                self.put_break();
                self.indention = true;
                self.whitespace = true;
                let mut breaks = true;
                for &c in &chars {
                    if is_break_char(c) {
                        self.write_break(c);
                        self.indention = true;
                        breaks = true;
                    } else {
                        if breaks {
                            self.write_indent();
                            breaks = false;
                        }
                        self.put(c);
                        self.indention = false;
                    }
                }
            }
        }
    }

    fn node(&mut self, n: &YNode, root: bool, in_mapping_value: bool, in_seq: bool) {
        let _ = in_seq;
        match n {
            YNode::Map(items) if !items.is_empty() => {
                let saved = self.indent;
                self.indent = if self.indent < 0 { 0 } else { self.indent + 2 };
                for (k, v) in items {
                    self.write_indent();
                    let simple = k.chars().count() <= 128
                        && !k.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']);
                    if simple {
                        self.key_scalar(k);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.node(&YNode::Str(k.clone()), false, false, false);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(v, false, true, false);
                }
                self.indent = saved;
            }
            YNode::Seq(items) if !items.is_empty() => {
                let saved = self.indent;
                let indentless = in_mapping_value && !self.indention && !self.v3;
                self.indent = if self.indent < 0 {
                    0
                } else if indentless {
                    self.indent
                } else {
                    self.indent + 2
                };
                for v in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(v, false, false, true);
                }
                self.indent = saved;
            }
            YNode::Map(_) => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            YNode::Seq(_) => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            scalar => {
                let saved = self.indent;
                self.indent = if self.indent < 0 { 2 } else { self.indent + 2 };
                self.scalar_node(scalar, root);
                self.indent = saved;
            }
        }
    }

    fn key_scalar(&mut self, k: &str) {
        let saved = self.indent;
        self.indent += 2;
        self.string_scalar(k, true, false);
        self.indent = saved;
    }

    fn scalar_node(&mut self, n: &YNode, root: bool) {
        match n {
            YNode::Null => self.scalar("null", Style::Plain, false, root),
            YNode::Bool(b) => {
                self.scalar(if *b { "true" } else { "false" }, Style::Plain, false, root)
            }
            YNode::Int(i) => self.scalar(&i.to_string(), Style::Plain, false, root),
            YNode::Float(f) => {
                let s = match crate::fmt::format_float_g(*f).as_str() {
                    "+Inf" => ".inf".to_string(),
                    "-Inf" => "-.inf".to_string(),
                    "NaN" => ".nan".to_string(),
                    s => s.to_string(),
                };
                self.scalar(&s, Style::Plain, false, root)
            }
            YNode::Str(s) => self.string_scalar(s, false, root),
            _ => {}
        }
    }
}

fn style_fixup(style: &mut Style, s: &str, simple_key: bool, v3: bool) -> Style {
    let a = analyze(s, v3);
    let mut st = *style;
    if simple_key && a.multiline {
        st = Style::Double;
    }
    if st == Style::Plain {
        if !a.block_plain {
            st = Style::Single;
        }
        if s.is_empty() && simple_key {
            st = Style::Single;
        }
    }
    if st == Style::Single && !a.single {
        st = Style::Double;
    }
    if st == Style::Literal && (!a.block || simple_key) {
        st = Style::Double;
    }
    st
}

/// go-yaml v2 `Marshal` of a node: the document text, ending in a newline.
pub fn emit(n: &YNode) -> String {
    let mut e = Emitter::new();
    e.node(n, true, false, false);
    // Document end: write_indent, then stream end.
    e.indent = -1;
    e.write_indent();
    e.out
}

/// Helm's `toYamlPretty`: yaml.v3 with indent 2 on the Go values (no JSON round trip).
pub fn to_yaml_pretty(v: &Value) -> String {
    fn conv(v: &Value) -> YNode {
        match v {
            Value::Float(f) => YNode::Float(*f),
            Value::List(_, l) => YNode::Seq(l.iter().map(conv).collect()),
            Value::Map(m) => {
                let mut items: Vec<(String, YNode)> = m
                    .borrow()
                    .iter()
                    .map(|(k, x)| (k.clone(), conv(x)))
                    .collect();
                items.sort_by(|a, b| key_cmp(&a.0, &b.0, true));
                YNode::Map(items)
            }
            other => value_to_ynode(other).unwrap_or(YNode::Null),
        }
    }
    let mut e = Emitter::new();
    e.v3 = true;
    e.best_width = usize::MAX;
    e.node(&conv(v), true, false, false);
    e.indent = -1;
    e.write_indent();
    let s = e.out;
    s.strip_suffix('\n').unwrap_or(&s).to_string()
}

/// Helm's `toYaml`: marshal, then trim one trailing newline. Errors yield "".
pub fn to_yaml(v: &Value) -> String {
    match value_to_ynode(v) {
        Ok(n) => {
            let mut s = emit(&n);
            if s.ends_with('\n') {
                s.pop();
            }
            s
        }
        Err(_) => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Loader

/// A node as parsed, before conversion to JSON-ish values.
#[derive(Clone, Debug)]
enum Raw {
    Scalar(String, bool),
    Seq(Vec<Raw>),
    Map(Vec<(Raw, Raw)>),
}

struct Loader {
    anchors: std::collections::HashMap<usize, Raw>,
}

type PResult<T> = Result<T, String>;

fn next_event<I: Iterator<Item = char>>(p: &mut Parser<I>) -> PResult<Event> {
    p.next_token()
        .map(|(e, _)| e)
        .map_err(|e| format!("{}{YAML_ERR_MARK}{}", e.info(), e.marker().index()))
}

/// Separates yaml-rust2's message from the error's char index until [`go_yaml_error`] rewrites it.
const YAML_ERR_MARK: char = '\u{0}';

/// go-yaml v2's text for a yaml-rust2 error: libyaml's problem without its context ("while parsing
/// ..."), and go-yaml's line rule: scanner errors print the 1-based line except on the first line,
/// parser errors print the 0-based line of the offending token (libyaml ends the stream on a new line).
fn go_yaml_error(src: &str, e: &str) -> String {
    let Some((info, idx)) = e.split_once(YAML_ERR_MARK) else {
        return e.to_string();
    };
    let idx: usize = idx.parse().unwrap_or(0);
    let mut problem =
        info.rsplit_once(", ").map_or(
            info,
            |(ctx, p)| {
                if ctx.starts_with("while ") { p } else { info }
            },
        );
    let owned;
    if problem.starts_with("unexpected character")
        || problem == "while scanning a plain scalar, found a tab"
    {
        problem = "found character that cannot start any token";
    } else if problem == "expected ',' or ']'" {
        problem = "did not find expected ',' or ']'";
    } else if problem == "found unknown anchor" {
        let name: String = src
            .chars()
            .skip(idx + 1)
            .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
            .collect();
        owned = format!("unknown anchor '{name}' referenced");
        return format!("yaml: {owned}");
    }
    let scanner = !problem.starts_with("did not find expected");
    let chars: Vec<char> = src.chars().collect();
    let line0 = if idx >= chars.len() {
        let n = chars.iter().filter(|c| **c == '\n').count();
        n + usize::from(!src.is_empty() && !src.ends_with('\n'))
    } else {
        chars[..idx].iter().filter(|c| **c == '\n').count()
    };
    let line = if scanner {
        if line0 == 0 { 0 } else { line0 + 1 }
    } else {
        line0
    };
    if line == 0 {
        format!("yaml: {problem}")
    } else {
        format!("yaml: line {line}: {problem}")
    }
}

impl Loader {
    fn node<I: Iterator<Item = char>>(
        &mut self,
        p: &mut Parser<I>,
        ev: Event,
        depth: usize,
    ) -> PResult<Raw> {
        if depth > 1000 {
            return Err("yaml: exceeded max depth".into());
        }
        match ev {
            Event::Scalar(v, style, anchor, _tag) => {
                let r = Raw::Scalar(v, style == TScalarStyle::Plain);
                if anchor > 0 {
                    self.anchors.insert(anchor, r.clone());
                }
                Ok(r)
            }
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| "yaml: unknown anchor referenced".to_string()),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let e = next_event(p)?;
                    if let Event::SequenceEnd = e {
                        break;
                    }
                    items.push(self.node(p, e, depth + 1)?);
                }
                let r = Raw::Seq(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, r.clone());
                }
                Ok(r)
            }
            Event::MappingStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let e = next_event(p)?;
                    if let Event::MappingEnd = e {
                        break;
                    }
                    let k = self.node(p, e, depth + 1)?;
                    let e = next_event(p)?;
                    let v = self.node(p, e, depth + 1)?;
                    items.push((k, v));
                }
                let r = Raw::Map(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, r.clone());
                }
                Ok(r)
            }
            other => Err(format!("yaml: unexpected event {other:?}")),
        }
    }
}

/// Parses every document of a YAML stream.
fn load_all(src: &str) -> PResult<Vec<Raw>> {
    load_all_inner(src).map_err(|e| go_yaml_error(src, &e))
}

fn load_all_inner(src: &str) -> PResult<Vec<Raw>> {
    let mut p = Parser::new_from_str(src);
    let mut l = Loader {
        anchors: Default::default(),
    };
    let mut docs = Vec::new();
    loop {
        match next_event(&mut p)? {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart => {
                let e = next_event(&mut p)?;
                if let Event::DocumentEnd = e {
                    continue;
                }
                docs.push(l.node(&mut p, e, 0)?);
            }
            e => docs.push(l.node(&mut p, e, 0)?),
        }
    }
    Ok(docs)
}

fn scalar_value(s: &str, plain: bool) -> PResult<Value> {
    if !plain {
        return Ok(Value::str(s));
    }
    Ok(match resolve(s) {
        Resolved::Null => Value::Nil,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Float(i as f64),
        Resolved::Float(f) if !f.is_finite() => {
            return Err(format!(
                "json: unsupported value: {}",
                crate::fmt::format_float_g(f)
            ));
        }
        Resolved::Float(f) => Value::Float(f),
        Resolved::Timestamp | Resolved::Merge | Resolved::Str => Value::str(s),
    })
}

fn key_string(k: &Raw) -> PResult<String> {
    match k {
        Raw::Scalar(s, plain) => {
            if !plain {
                return Ok(s.clone());
            }
            Ok(match resolve(s) {
                Resolved::Null => "null".into(),
                Resolved::Bool(b) => b.to_string(),
                Resolved::Int(i) => i.to_string(),
                Resolved::Float(f) => crate::fmt::format_float_g(f),
                _ => s.clone(),
            })
        }
        _ => Err("error converting YAML to JSON: yaml: invalid map key".into()),
    }
}

/// sigs.k8s.io/yaml: YAML -> JSON -> interface{} (numbers float64).
fn raw_to_value(r: &Raw) -> PResult<Value> {
    Ok(match r {
        Raw::Scalar(s, plain) => scalar_value(s, *plain)?,
        Raw::Seq(items) => Value::list(items.iter().map(raw_to_value).collect::<PResult<_>>()?),
        Raw::Map(items) => {
            let mut m = BTreeMap::new();
            for (k, v) in items {
                if let Raw::Scalar(ks, true) = k
                    && ks == "<<"
                {
                    // Merge key: earlier explicit keys win.
                    let merged: Vec<&Raw> = match v {
                        Raw::Seq(xs) => xs.iter().collect(),
                        x => vec![x],
                    };
                    for x in merged {
                        if let Raw::Map(inner) = x {
                            for (ik, iv) in inner {
                                m.entry(key_string(ik)?).or_insert(raw_to_value(iv)?);
                            }
                        }
                    }
                    continue;
                }
                if let Raw::Scalar(ks, true) = k
                    && matches!(resolve(ks), Resolved::Null)
                {
                    let shown = match v {
                        Raw::Scalar(vs, _) => crate::fmt::go_quote(vs),
                        _ => "...".to_string(),
                    };
                    return Err(format!(
                        "unsupported map key of type: %!s(<nil>), key: <nil>, value: {shown}"
                    ));
                }
                m.insert(key_string(k)?, raw_to_value(v)?);
            }
            Value::map(m)
        }
    })
}

/// Parses a values document (first document of the stream); empty input is an empty map.
pub fn parse_values(src: &str) -> Result<Value, String> {
    let docs = load_all(src).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    match docs.first() {
        None => Ok(Value::empty_map()),
        Some(d) => {
            let v = raw_to_value(d).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
            Ok(if v.is_nil() { Value::empty_map() } else { v })
        }
    }
}

/// The same checks as `raw_to_value`, in the same order, without building anything.
fn raw_check(r: &Raw) -> PResult<()> {
    match r {
        Raw::Scalar(s, plain) => {
            if *plain
                && let Resolved::Float(f) = resolve(s)
                && !f.is_finite()
            {
                return Err(format!(
                    "json: unsupported value: {}",
                    crate::fmt::format_float_g(f)
                ));
            }
        }
        Raw::Seq(items) => items.iter().try_for_each(raw_check)?,
        Raw::Map(items) => {
            for (k, v) in items {
                if let Raw::Scalar(ks, true) = k
                    && ks == "<<"
                {
                    let merged: Vec<&Raw> = match v {
                        Raw::Seq(xs) => xs.iter().collect(),
                        x => vec![x],
                    };
                    for x in merged {
                        if let Raw::Map(inner) = x {
                            for (ik, iv) in inner {
                                key_string(ik)?;
                                raw_check(iv)?;
                            }
                        }
                    }
                    continue;
                }
                if let Raw::Scalar(ks, true) = k
                    && matches!(resolve(ks), Resolved::Null)
                {
                    // The same error as `raw_to_value`.
                    return raw_to_value(r).map(|_| ());
                }
                key_string(k)?;
                raw_check(v)?;
            }
        }
    }
    Ok(())
}

/// Like [`parse_values`] (same result or error), but the top-level map keeps only the keys in
/// `keep`: for reading a document's head (`apiVersion`, `kind`, `metadata`) without converting
/// the whole document. Every other value is still checked, so errors are the same.
pub fn parse_values_head(src: &str, keep: &[&str]) -> Result<Value, String> {
    let wrap = |e: String| format!("error converting YAML to JSON: {e}");
    let docs = load_all(src).map_err(wrap)?;
    let Some(Raw::Map(items)) = docs.first() else {
        return parse_values(src);
    };
    let mut m = BTreeMap::new();
    let put = |m: &mut BTreeMap<String, Value>, k: String, v: &Raw, merge: bool| {
        if !keep.contains(&k.as_str()) {
            return raw_check(v);
        }
        let v = raw_to_value(v)?;
        if merge {
            m.entry(k).or_insert(v);
        } else {
            m.insert(k, v);
        }
        Ok(())
    };
    for (k, v) in items {
        if let Raw::Scalar(ks, true) = k
            && ks == "<<"
        {
            let merged: Vec<&Raw> = match v {
                Raw::Seq(xs) => xs.iter().collect(),
                x => vec![x],
            };
            for x in merged {
                if let Raw::Map(inner) = x {
                    for (ik, iv) in inner {
                        let ik = key_string(ik).map_err(wrap)?;
                        put(&mut m, ik, iv, true).map_err(wrap)?;
                    }
                }
            }
            continue;
        }
        if let Raw::Scalar(ks, true) = k
            && matches!(resolve(ks), Resolved::Null)
        {
            return parse_values(src);
        }
        let ks = key_string(k).map_err(wrap)?;
        put(&mut m, ks, v, false).map_err(wrap)?;
    }
    Ok(Value::map(m))
}

/// Helm's `fromYaml`: a map, or `{"Error": msg}`.
pub fn from_yaml(src: &str) -> Value {
    let mut m = BTreeMap::new();
    match load_all(src).and_then(|d| d.first().map(raw_to_value).transpose()) {
        Ok(Some(Value::Map(mm))) => return Value::Map(mm),
        Ok(None) | Ok(Some(Value::Nil)) => {}
        Ok(Some(other)) => {
            m.insert(
                "Error".to_string(),
                Value::str(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                )),
            );
        }
        Err(e) => {
            m.insert(
                "Error".to_string(),
                Value::str(format!("error converting YAML to JSON: {e}")),
            );
        }
    }
    Value::map(m)
}

/// Helm's `fromYamlArray`: a list, or `[msg]`.
pub fn from_yaml_array(src: &str) -> Value {
    match load_all(src).and_then(|d| d.first().map(raw_to_value).transpose()) {
        Ok(Some(v @ Value::List(..))) => v,
        Ok(None) | Ok(Some(Value::Nil)) => Value::list(Vec::new()),
        Ok(Some(other)) => Value::list(vec![Value::str(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::str(format!(
            "error converting YAML to JSON: {e}"
        ))]),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Float(_) | Value::Int(_) | Value::I64(_) | Value::U64(_) => "number",
        Value::Bool(_) => "bool",
        Value::List(..) => "array",
        Value::Map(_) => "object",
        _ => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["a10", "a9", "b", "a_b", "ab", "A"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["A", "a_b", "a9", "a10", "ab", "b"]);
    }

    #[test]
    fn head_parse_matches_full_parse() {
        const KEEP: &[&str] = &["kind", "metadata"];
        let docs = [
            "kind: A\nmetadata: {name: x}\nspec: {a: [1, 2]}\n",
            "base: &b {kind: B, x: 1}\n<<: *b\nkind: C\n",
            "<<: [{kind: D}, {metadata: {name: m}}]\n",
            "kind: A\nspec: {a: .inf}\n",
            "kind: A\nspec: {? [a] : 1}\n",
            "kind: A\nspec: {~: 1}\n",
            "~: 1\n",
            "- a\n",
            "# only\n",
            "",
            "kind: [unclosed\n",
            "kind: *nope\n",
        ];
        for d in docs {
            let full = parse_values(d).map(|v| match v {
                Value::Map(m) => Value::map(
                    m.borrow()
                        .iter()
                        .filter(|(k, _)| KEEP.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other,
            });
            let head = parse_values_head(d, KEEP);
            assert_eq!(format!("{full:?}"), format!("{head:?}"), "{d:?}");
        }
    }
}
