//! Sprig string functions.

use std::collections::BTreeMap;

use rand::Rng;
use rand::seq::SliceRandom;

use super::{FnResult, P, Registry, i, s, strslice, strval};
use crate::fmt::go_quote;
use crate::value::Value;

fn sv(x: impl Into<String>) -> FnResult {
    Ok(Value::str(x.into()))
}

fn go_is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's deprecated strings.Title.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            out.extend(c.to_uppercase().take(1).chain(std::iter::empty()));
            // Title case of most letters is the upper case.
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

fn untitle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if go_is_space(c) {
            in_word = false;
            out.push(c);
        } else if !in_word {
            out.extend(c.to_lowercase());
            in_word = true;
        } else {
            out.push(c);
        }
    }
    out
}

fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut new_word = true;
    for c in s.chars() {
        if go_is_space(c) {
            new_word = true;
        } else if new_word {
            out.push(c);
            new_word = false;
        }
    }
    out
}

fn swapcase(s: &str) -> String {
    // goutils.SwapCase: upper->lower, title->lower, lower->upper; a space resets.
    s.chars()
        .flat_map(|c| -> Vec<char> {
            if c.is_uppercase() {
                c.to_lowercase().collect()
            } else if c.is_lowercase() {
                c.to_uppercase().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// huandu/xstrings camelCase/snake_case word splitting.
fn snake_like(s: &str, sep: char) -> String {
    // xstrings.ToSnakeCase: splits on case changes and non-alphanumerics, lower-cases everything.
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let n = chars.len();
    let mut last_was_sep = true;
    while i < n {
        let c = chars[i];
        if !c.is_alphanumeric() {
            if !last_was_sep && !out.is_empty() {
                out.push(sep);
                last_was_sep = true;
            }
            i += 1;
            continue;
        }
        if c.is_uppercase() {
            let prev_lower_or_digit =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = i + 1 < n && chars[i + 1].is_lowercase();
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if !last_was_sep && (prev_lower_or_digit || (prev_upper && next_lower)) {
                out.push(sep);
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        last_was_sep = false;
        i += 1;
    }
    while out.ends_with(sep) {
        out.pop();
    }
    out
}

fn camelcase(s: &str) -> String {
    // xstrings.ToCamelCase: "_" separated words, each word's first letter upper-cased.
    let mut out = String::new();
    let mut upper_next = true;
    for c in s.chars() {
        if c == '_' || c == ' ' || c == '-' {
            if c != '_' {
                out.push(c);
            }
            upper_next = true;
            continue;
        }
        if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn wrap_text(width: i64, s: &str, newline: &str) -> String {
    // goutils.WrapCustom with wrapLongWords=false.
    let width = width.max(1) as usize;
    let mut out = String::new();
    for (li, line) in s.split('\n').enumerate() {
        if li > 0 {
            out.push('\n');
        }
        let mut cur = String::new();
        let mut first = true;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            if first {
                cur.push_str(word);
                first = false;
            } else if cur.len() + 1 + word.len() > width {
                out.push_str(&cur);
                out.push_str(newline);
                cur = word.to_string();
            } else {
                cur.push(' ');
                cur.push_str(word);
            }
        }
        out.push_str(&cur);
    }
    out
}

fn abbrev(width: i64, s: &str) -> String {
    if width < 4 || s.len() <= width as usize {
        return s.to_string();
    }
    let w = width as usize - 3;
    format!("{}...", &s[..w.min(s.len())])
}

fn abbrevboth(left: i64, right: i64, s: &str) -> String {
    if right < 4 || (left > 0 && right < 7) {
        return s.to_string();
    }
    let (l, r) = (left.max(0) as usize, right as usize);
    if s.len() <= r {
        return s.to_string();
    }
    let l = l.min(s.len());
    if s.len() - l <= r - 3 {
        return format!("...{}", &s[s.len() - (r - 3)..]);
    }
    if l <= 4 {
        return abbrev(right, s);
    }
    let body = &s[l..];
    if r < 7 {
        return s.to_string();
    }
    let ab = abbrev(right - 3, body);
    format!("...{ab}")
}

fn rand_string(n: i64, alphabet: &[u8]) -> String {
    let mut rng = rand::thread_rng();
    (0..n.max(0))
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const NUM: &[u8] = b"0123456789";

pub(super) fn register(r: &mut Registry) {
    r.add("trim", &[P::Str], None, |_, a| {
        sv(s(&a[0]).trim_matches(go_is_space))
    });
    r.add("upper", &[P::Str], None, |_, a| sv(go_upper(s(&a[0]))));
    r.add("lower", &[P::Str], None, |_, a| sv(go_lower(s(&a[0]))));
    r.add("title", &[P::Str], None, |_, a| sv(title(s(&a[0]))));
    r.add("untitle", &[P::Str], None, |_, a| sv(untitle(s(&a[0]))));
    r.add("substr", &[P::Int, P::Int, P::Str], None, |_, a| {
        let (start, end, st) = (i(&a[0]), i(&a[1]), s(&a[2]));
        let len = st.len() as i64;
        let (lo, hi) = if start < 0 {
            (0, end)
        } else if end < 0 || end > len {
            (start, len)
        } else {
            (start, end)
        };
        if lo < 0 || hi < 0 || hi > len || lo > hi {
            return Err(format!("runtime error: slice bounds out of range [{}:{}]", lo, hi).into());
        }
        sv(String::from_utf8_lossy(&st.as_bytes()[lo as usize..hi as usize]).into_owned())
    });
    r.add("repeat", &[P::Int, P::Str], None, |e, a| {
        let n = i(&a[0]);
        if n < 0 {
            return Err("strings: negative Repeat count".into());
        }
        if (n as u128) * (s(&a[1]).len() as u128) > e.opts.limits.max_output as u128 {
            return Err(super::FnError::Fatal(crate::Error::Limit(format!(
                "repeat output exceeds {} bytes",
                e.opts.limits.max_output
            ))));
        }
        sv(s(&a[1]).repeat(n as usize))
    });
    r.add("trimAll", &[P::Str, P::Str], None, |_, a| {
        let cut: Vec<char> = s(&a[0]).chars().collect();
        sv(s(&a[1]).trim_matches(|c| cut.contains(&c)))
    });
    r.add("trimall", &[P::Str, P::Str], None, |_, a| {
        let cut: Vec<char> = s(&a[0]).chars().collect();
        sv(s(&a[1]).trim_matches(|c| cut.contains(&c)))
    });
    r.add("trimSuffix", &[P::Str, P::Str], None, |_, a| {
        sv(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1])))
    });
    r.add("trimPrefix", &[P::Str, P::Str], None, |_, a| {
        sv(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1])))
    });
    r.add("nospace", &[P::Str], None, |_, a| {
        sv(s(&a[0])
            .chars()
            .filter(|c| !go_is_space(*c))
            .collect::<String>())
    });
    r.add("initials", &[P::Str], None, |_, a| sv(initials(s(&a[0]))));
    r.add("swapcase", &[P::Str], None, |_, a| sv(swapcase(s(&a[0]))));
    r.add("snakecase", &[P::Str], None, |_, a| {
        sv(snake_like(s(&a[0]), '_'))
    });
    r.add("kebabcase", &[P::Str], None, |_, a| {
        sv(snake_like(s(&a[0]), '-'))
    });
    r.add("camelcase", &[P::Str], None, |_, a| sv(camelcase(s(&a[0]))));
    r.add("shuffle", &[P::Str], None, |_, a| {
        let mut c: Vec<char> = s(&a[0]).chars().collect();
        c.shuffle(&mut rand::thread_rng());
        sv(c.into_iter().collect::<String>())
    });
    r.add("wrap", &[P::Int, P::Str], None, |_, a| {
        sv(wrap_text(i(&a[0]), s(&a[1]), "\n"))
    });
    r.add("wrapWith", &[P::Int, P::Str, P::Str], None, |_, a| {
        sv(wrap_text(i(&a[0]), s(&a[2]), s(&a[1])))
    });
    r.add("contains", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))))
    });
    r.add("hasPrefix", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))
    });
    r.add("hasSuffix", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))
    });
    r.add("quote", &[], Some(P::Any), |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| go_quote(&strval(v)))
            .collect();
        sv(parts.join(" "))
    });
    r.add("squote", &[], Some(P::Any), |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| format!("'{}'", strval(v)))
            .collect();
        sv(parts.join(" "))
    });
    r.add("cat", &[], Some(P::Any), |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(crate::fmt::sprint_v)
            .collect();
        sv(parts.join(" "))
    });
    r.add("indent", &[P::Int, P::Str], None, |_, a| {
        let pad = " ".repeat(i(&a[0]).max(0) as usize);
        sv(format!(
            "{pad}{}",
            s(&a[1]).replace('\n', &format!("\n{pad}"))
        ))
    });
    r.add("nindent", &[P::Int, P::Str], None, |_, a| {
        let pad = " ".repeat(i(&a[0]).max(0) as usize);
        sv(format!(
            "\n{pad}{}",
            s(&a[1]).replace('\n', &format!("\n{pad}"))
        ))
    });
    r.add("replace", &[P::Str, P::Str, P::Str], None, |_, a| {
        sv(go_replace(s(&a[2]), s(&a[0]), s(&a[1])))
    });
    r.add("plural", &[P::Str, P::Str, P::Int], None, |_, a| {
        sv(if i(&a[2]) == 1 { s(&a[0]) } else { s(&a[1]) })
    });
    r.add("trunc", &[P::Int, P::Str], None, |_, a| {
        let (c, st) = (i(&a[0]), s(&a[1]));
        let len = st.len() as i64;
        let b = st.as_bytes();
        let out = if c < 0 && len + c > 0 {
            &b[(len + c) as usize..]
        } else if c >= 0 && len > c {
            &b[..c as usize]
        } else {
            b
        };
        sv(String::from_utf8_lossy(out).into_owned())
    });
    r.add("abbrev", &[P::Int, P::Str], None, |_, a| {
        sv(abbrev(i(&a[0]), s(&a[1])))
    });
    r.add("abbrevboth", &[P::Int, P::Int, P::Str], None, |_, a| {
        sv(abbrevboth(i(&a[0]), i(&a[1]), s(&a[2])))
    });
    r.add("split", &[P::Str, P::Str], None, |_, a| {
        let parts = go_split(s(&a[1]), s(&a[0]), -1);
        Ok(Value::map(
            parts
                .into_iter()
                .enumerate()
                .map(|(k, p)| (format!("_{k}"), Value::str(p)))
                .collect::<BTreeMap<_, _>>(),
        ))
    });
    r.add("splitn", &[P::Str, P::Int, P::Str], None, |_, a| {
        let parts = go_split(s(&a[2]), s(&a[0]), i(&a[1]));
        Ok(Value::map(
            parts
                .into_iter()
                .enumerate()
                .map(|(k, p)| (format!("_{k}"), Value::str(p)))
                .collect::<BTreeMap<_, _>>(),
        ))
    });
    r.add("splitList", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::string_list(go_split(s(&a[1]), s(&a[0]), -1)))
    });
    r.add("join", &[P::Str, P::Any], None, |_, a| {
        sv(strslice(&a[1]).join(s(&a[0])))
    });
    r.add("randAlphaNum", &[P::Int], None, |_, a| {
        sv(rand_string(i(&a[0]), ALNUM))
    });
    r.add("randAlpha", &[P::Int], None, |_, a| {
        sv(rand_string(i(&a[0]), ALPHA))
    });
    r.add("randNumeric", &[P::Int], None, |_, a| {
        sv(rand_string(i(&a[0]), NUM))
    });
    r.add("randAscii", &[P::Int], None, |_, a| {
        let printable: Vec<u8> = (32u8..=126).collect();
        sv(rand_string(i(&a[0]), &printable))
    });
}

/// Go's strings.ToUpper: rune by rune, keeping runes without a single-rune upper case.
pub(crate) fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Go's strings.ToLower, rune by rune.
pub(crate) fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_lowercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// strings.Replace(s, old, new, -1), including Go's behaviour for an empty `old`.
pub(crate) fn go_replace(src: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::new();
        out.push_str(new);
        for c in src.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    src.replace(old, new)
}

/// strings.SplitN (n < 0: all), with Go's behaviour for an empty separator (split into UTF-8 chars).
pub(crate) fn go_split(src: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = src.chars().map(String::from).collect();
        if n > 0 && chars.len() > n as usize {
            let mut v: Vec<String> = chars[..n as usize - 1].to_vec();
            let consumed: usize = v.iter().map(|c| c.len()).sum();
            v.push(src[consumed..].to_string());
            return v;
        }
        return chars;
    }
    if n < 0 {
        src.split(sep).map(String::from).collect()
    } else {
        src.splitn(n as usize, sep).map(String::from).collect()
    }
}
