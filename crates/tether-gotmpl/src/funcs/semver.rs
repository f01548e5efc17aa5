//! `semver` and `semverCompare` with Masterminds/semver v3 rules: loose versions (`1.2` = `1.2.0`, `v`
//! prefix), constraint operators `= != > < >= <= ~ ~> ^`, wildcards, hyphen ranges, `,`/space for AND and
//! `||` for OR, and prereleases matched only by constraints that carry one.

use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::LazyLock;

use regex::Regex;

use super::{P, Registry, s};
use crate::value::{Object, Value};

#[derive(Clone, Debug)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
}

static VERSION_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$")
        .expect("valid regex")
});

pub fn parse_version(v: &str) -> Result<Version, String> {
    let c = VERSION_RE.captures(v).ok_or("Invalid Semantic Version")?;
    let num = |i: usize| -> Result<u64, String> {
        match c.get(i) {
            Some(m) => m
                .as_str()
                .trim_start_matches('.')
                .parse::<u64>()
                .map_err(|e| format!("Error parsing version segment: {e}")),
            None => Ok(0),
        }
    };
    let pre = c.get(5).map(|m| m.as_str().to_string()).unwrap_or_default();
    for part in pre.split('.') {
        if !pre.is_empty()
            && part.len() > 1
            && part.starts_with('0')
            && part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err("Version segment starts with 0".into());
        }
    }
    Ok(Version {
        major: num(1)?,
        minor: num(2)?,
        patch: num(3)?,
        pre,
        meta: c.get(8).map(|m| m.as_str().to_string()).unwrap_or_default(),
        original: v.to_string(),
    })
}

impl Version {
    fn string(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            s.push('+');
            s.push_str(&self.meta);
        }
        s
    }

    fn cmp(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = match (pa.get(i), pb.get(i)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) => (*x, *y),
        };
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

impl Object for Version {
    fn type_name(&self) -> String {
        "*semver.Version".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Major" => Value::U64(self.major),
            "Minor" => Value::U64(self.minor),
            "Patch" => Value::U64(self.patch),
            "Prerelease" => Value::str(self.pre.as_str()),
            "Metadata" => Value::str(self.meta.as_str()),
            "Original" => Value::str(self.original.as_str()),
            "String" => Value::str(self.string()),
            _ => return None,
        })
    }
    fn display(&self) -> Option<String> {
        Some(self.string())
    }
}

/// One parsed constraint term.
struct Term {
    op: String,
    v: Version,
    /// Which parts were wildcards/missing: 0 = none, 1 = patch, 2 = minor+patch, 3 = all.
    dirty: u8,
}

static TERM_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*(v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?(-[0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*)?(\+[0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*)?)\s*$")
        .expect("valid regex")
});

fn parse_term(t: &str, whole: &str) -> Result<Term, String> {
    let c = TERM_RE
        .captures(t)
        .ok_or_else(|| format!("improper constraint: {whole}"))?;
    let op = c.get(1).map(|m| m.as_str().to_string()).unwrap_or_default();
    let is_wild = |s: &str| matches!(s, "x" | "X" | "*");
    let seg = |i: usize| {
        c.get(i)
            .map(|m| m.as_str().trim_start_matches('.').to_string())
    };
    let major = seg(3).unwrap_or_default();
    let minor = seg(4);
    let patch = seg(5);
    let mut dirty = 0;
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("improper constraint: {whole}"))
    };
    let maj = if is_wild(&major) {
        dirty = 3;
        0
    } else {
        parse(&major)?
    };
    let min = match &minor {
        None => {
            dirty = dirty.max(2);
            0
        }
        Some(m) if is_wild(m) => {
            dirty = dirty.max(2);
            0
        }
        Some(m) => parse(m)?,
    };
    let pat = match &patch {
        None => {
            dirty = dirty.max(1);
            0
        }
        Some(p) if is_wild(p) => {
            dirty = dirty.max(1);
            0
        }
        Some(p) => parse(p)?,
    };
    let pre = c
        .get(6)
        .map(|m| m.as_str()[1..].to_string())
        .unwrap_or_default();
    Ok(Term {
        op,
        v: Version {
            major: maj,
            minor: min,
            patch: pat,
            pre,
            meta: String::new(),
            original: t.into(),
        },
        dirty,
    })
}

fn ver(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        major,
        minor,
        patch,
        pre: String::new(),
        meta: String::new(),
        original: String::new(),
    }
}

/// The exclusive upper bound of a wildcard/partial version.
fn upper(t: &Term) -> Option<Version> {
    match t.dirty {
        3 => None,
        2 => Some(ver(t.v.major + 1, 0, 0)),
        1 => Some(ver(t.v.major, t.v.minor + 1, 0)),
        _ => Some(ver(t.v.major, t.v.minor, t.v.patch + 1)),
    }
}

fn check(t: &Term, v: &Version) -> bool {
    if !v.pre.is_empty() && t.v.pre.is_empty() {
        return false;
    }
    let c = v.cmp(&t.v);
    match t.op.as_str() {
        "" | "=" => {
            if t.dirty == 0 {
                return c == Ordering::Equal;
            }
            c != Ordering::Less && upper(t).is_none_or(|u| v.cmp(&u) == Ordering::Less)
        }
        "!=" => {
            if t.dirty == 0 {
                return c != Ordering::Equal;
            }
            !(c != Ordering::Less && upper(t).is_none_or(|u| v.cmp(&u) == Ordering::Less))
        }
        ">" => {
            if t.dirty == 0 {
                return c == Ordering::Greater;
            }
            upper(t).is_some_and(|u| v.cmp(&u) != Ordering::Less)
        }
        "<" => c == Ordering::Less,
        ">=" | "=>" => c != Ordering::Less,
        "<=" | "=<" => {
            if t.dirty == 0 {
                return c != Ordering::Greater;
            }
            upper(t).is_none_or(|u| v.cmp(&u) == Ordering::Less)
        }
        "~" | "~>" => {
            if c == Ordering::Less {
                return false;
            }
            let hi = if t.dirty >= 2 {
                ver(t.v.major + 1, 0, 0)
            } else {
                ver(t.v.major, t.v.minor + 1, 0)
            };
            if t.dirty == 3 {
                return true;
            }
            v.cmp(&hi) == Ordering::Less
        }
        "^" => {
            if c == Ordering::Less {
                return false;
            }
            let hi = if t.v.major > 0 || t.dirty >= 2 {
                ver(t.v.major + 1, 0, 0)
            } else if t.v.minor > 0 || t.dirty == 1 {
                ver(0, t.v.minor + 1, 0)
            } else {
                ver(0, 0, t.v.patch + 1)
            };
            if t.dirty == 3 {
                return true;
            }
            v.cmp(&hi) == Ordering::Less
        }
        _ => false,
    }
}

/// Checks a Masterminds constraint string against a version.
pub fn constraint_check(c: &str, v: &Version) -> Result<bool, String> {
    static HYPHEN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\s*(v?[0-9xX*]+(?:\.[0-9xX*]+)?(?:\.[0-9xX*]+)?(?:-[0-9A-Za-z\-.]+)?(?:\+[0-9A-Za-z\-.]+)?)\s+-\s+(v?[0-9xX*]+(?:\.[0-9xX*]+)?(?:\.[0-9xX*]+)?(?:-[0-9A-Za-z\-.]+)?(?:\+[0-9A-Za-z\-.]+)?)\s*")
            .expect("valid regex")
    });
    static SPLIT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*v?[0-9xX*]+(\.[0-9xX*]+)?(\.[0-9xX*]+)?(-[0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*)?(\+[0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*)?")
            .expect("valid regex")
    });
    let mut groups: Vec<Vec<Term>> = Vec::new();
    for or in c.split("||") {
        let expanded = HYPHEN.replace_all(or, ">= $1, <= $2 ");
        let mut terms = Vec::new();
        // Validate: only terms, commas and spaces.
        let leftover = SPLIT.replace_all(&expanded, "");
        if leftover
            .chars()
            .any(|ch| !(ch == ',' || ch.is_whitespace()))
        {
            return Err(format!("improper constraint: {c}"));
        }
        for m in SPLIT.find_iter(&expanded) {
            terms.push(parse_term(m.as_str(), c)?);
        }
        if terms.is_empty() {
            return Err(format!("improper constraint: {c}"));
        }
        groups.push(terms);
    }
    Ok(groups.iter().any(|g| g.iter().all(|t| check(t, v))))
}

pub(super) fn register(r: &mut Registry) {
    r.add("semver", &[P::Str], None, |_, a| {
        let v = parse_version(s(&a[0]))?;
        Ok(Value::Object(Rc::new(v)))
    });
    r.add("semverCompare", &[P::Str, P::Str], None, |_, a| {
        let v = parse_version(s(&a[1]))?;
        Ok(Value::Bool(constraint_check(s(&a[0]), &v)?))
    });
}
