//! Sprig regex functions on the `regex` crate (RE2 semantics, Go's `${1}` expansion).

use regex::Regex;

use super::{FnError, P, Registry, i, s};
use crate::value::Value;

fn compile(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| {
        format!(
            "error parsing regexp: {}",
            go_regex_error(re, &e.to_string())
        )
    })
}

/// Go's regexp/syntax error text for the common cases.
fn go_regex_error(re: &str, rust_msg: &str) -> String {
    let m = first_line(rust_msg);
    let m = m.strip_prefix("error: ").unwrap_or(&m);
    match m {
        "unclosed group" => format!("missing closing ): `{re}`"),
        "unclosed character class" => {
            let from = re.rfind('[').unwrap_or(0);
            format!("missing closing ]: `{}`", &re[from..])
        }
        "unopened group" => format!("unexpected ): `{re}`"),
        "repetition operator missing expression" => {
            let op = re
                .chars()
                .find(|c| matches!(c, '*' | '+' | '?'))
                .unwrap_or('*');
            format!("missing argument to repetition operator: `{op}`")
        }
        other => other.to_string(),
    }
}

fn must(re: &str) -> Result<Regex, FnError> {
    compile(re).map_err(|e| FnError::Msg(format!("regexp: Compile({}): {e}", go_backquote(re))))
}

fn go_backquote(s: &str) -> String {
    if s.contains('`') {
        crate::fmt::go_quote(s)
    } else {
        format!("`{s}`")
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or("").trim().to_string()
}

fn find_all(re: &Regex, st: &str, n: i64) -> Vec<String> {
    let it = re.find_iter(st).map(|m| m.as_str().to_string());
    if n < 0 {
        it.collect()
    } else {
        it.take(n as usize).collect()
    }
}

fn split(re: &Regex, st: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !re.as_str().is_empty() && st.is_empty() {
        return vec![String::new()];
    }
    let matches: Vec<(usize, usize)> = {
        let it = re.find_iter(st).map(|m| (m.start(), m.end()));
        if n < 0 {
            it.collect()
        } else {
            it.take(n as usize).collect()
        }
    };
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, b) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            out.push(st[beg..end].to_string());
        }
        beg = b;
    }
    if end != st.len() {
        out.push(st[beg..].to_string());
    }
    out
}

pub(super) fn register(r: &mut Registry) {
    r.add("regexMatch", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(
            compile(s(&a[0]))
                .map(|re| re.is_match(s(&a[1])))
                .unwrap_or(false),
        ))
    });
    r.add("mustRegexMatch", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))))
    });
    for name in ["regexFindAll", "mustRegexFindAll"] {
        r.add(name, &[P::Str, P::Str, P::Int], None, |_, a| {
            Ok(Value::string_list(find_all(
                &must(s(&a[0]))?,
                s(&a[1]),
                i(&a[2]),
            )))
        });
    }
    for name in ["regexFind", "mustRegexFind"] {
        r.add(name, &[P::Str, P::Str], None, |_, a| {
            Ok(Value::str(
                must(s(&a[0]))?
                    .find(s(&a[1]))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            ))
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        r.add(name, &[P::Str, P::Str, P::Str], None, |_, a| {
            Ok(Value::str(
                must(s(&a[0]))?.replace_all(s(&a[1]), s(&a[2])).into_owned(),
            ))
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        r.add(name, &[P::Str, P::Str, P::Str], None, |_, a| {
            Ok(Value::str(
                must(s(&a[0]))?
                    .replace_all(s(&a[1]), regex::NoExpand(s(&a[2])))
                    .into_owned(),
            ))
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        r.add(name, &[P::Str, P::Str, P::Int], None, |_, a| {
            Ok(Value::string_list(split(
                &must(s(&a[0]))?,
                s(&a[1]),
                i(&a[2]),
            )))
        });
    }
    r.add("regexQuoteMeta", &[P::Str], None, |_, a| {
        Ok(Value::str(quote_meta(s(&a[0]))))
    });
}

/// Go's regexp.QuoteMeta.
fn quote_meta(st: &str) -> String {
    let mut o = String::with_capacity(st.len());
    for c in st.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}
