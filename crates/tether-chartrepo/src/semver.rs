//! Semantic versions and version constraints with the semantics of Masterminds/semver v3, the library
//! Helm uses for dependency versions and `helm pull --version`.
//!
//! - Versions are parsed loosely: an optional `v`, missing minor/patch default to 0 (`1.2` is `1.2.0`).
//! - Constraints: `||` separates alternatives; within one, constraints separated by commas or spaces must
//!   all hold. Operators: `=`, `!=`, `>`, `<`, `>=`, `=>`, `<=`, `=<`, `~`, `~>`, `^`, none (equal, or
//!   tilde when the version has a wildcard). Wildcards `x`, `X`, `*` and missing parts make a constraint
//!   "dirty" (`1.2.x`, `1.2`). Hyphen ranges `1.2 - 1.4.5` mean `>= 1.2, <= 1.4.5`.
//! - A prerelease version only satisfies a constraint whose own version has a prerelease.

use std::cmp::Ordering;
use std::fmt;

/// A parsed semantic version (build metadata kept for display, ignored for ordering).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub build: String,
    original: String,
}

/// Why a version or constraint string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid semantic version: {0:?}")]
    Version(String),
    #[error("improper constraint: {0}")]
    Constraint(String),
}

fn valid_identifiers(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Splits `[v]X[.Y[.Z]][-pre][+build]` into its parts, each numeric part as written (may be a wildcard
/// when `allow_wildcards`).
struct Parts<'a> {
    numbers: Vec<&'a str>,
    pre: &'a str,
    build: &'a str,
}

fn split_parts(s: &str, allow_wildcards: bool) -> Option<Parts<'_>> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, b),
        None => (s, ""),
    };
    // The prerelease starts at the first '-' after the numeric part.
    let numeric_end = rest
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || (allow_wildcards && matches!(c, 'x' | 'X' | '*')))
        })
        .unwrap_or(rest.len());
    let (numeric, pre) = rest.split_at(numeric_end);
    let pre = match pre.strip_prefix('-') {
        Some(p) => p,
        None if pre.is_empty() => "",
        None => return None,
    };
    if (!pre.is_empty() || rest.ends_with('-')) && !valid_identifiers(pre) {
        return None;
    }
    if (!build.is_empty() || s.ends_with('+')) && !valid_identifiers(build) {
        return None;
    }
    let numbers: Vec<&str> = numeric.split('.').collect();
    if numbers.is_empty() || numbers.len() > 3 {
        return None;
    }
    for n in &numbers {
        let ok = if allow_wildcards && is_wildcard(n) {
            true
        } else {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        };
        if !ok {
            return None;
        }
    }
    Some(Parts {
        numbers,
        pre,
        build,
    })
}

fn is_wildcard(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Version {
    /// Parses a version the way Masterminds' `NewVersion` does (loose: `v` prefix, partial versions).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let err = || ParseError::Version(s.to_owned());
        let parts = split_parts(s, false).ok_or_else(err)?;
        let num = |i: usize| -> Result<u64, ParseError> {
            parts
                .numbers
                .get(i)
                .map_or(Ok(0), |n| n.parse().map_err(|_| err()))
        };
        Ok(Version {
            major: num(0)?,
            minor: num(1)?,
            patch: num(2)?,
            pre: parts.pre.to_owned(),
            build: parts.build.to_owned(),
            original: s.to_owned(),
        })
    }

    /// The string this version was parsed from.
    pub fn original(&self) -> &str {
        &self.original
    }

    fn new(major: u64, minor: u64, patch: u64, pre: &str) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: pre.to_owned(),
            build: String::new(),
            original: String::new(),
        }
    }
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => s.cmp(o),
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match compare_pre_part(x, y) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Clone, Debug)]
struct Single {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A parsed constraint such as `^1.2.0`, `>=1.0 <2.0 || 3.x`.
#[derive(Clone, Debug)]
pub struct Constraints {
    alternatives: Vec<Vec<Single>>,
    original: String,
}

const OPS: [(&str, Op); 12] = [
    // Longest first, so that `>=` wins over `>`.
    ("!=", Op::NotEqual),
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("~>", Op::Tilde),
    ("=", Op::TildeOrEqual),
    (">", Op::Greater),
    ("<", Op::Less),
    ("~", Op::Tilde),
    ("^", Op::Caret),
    ("", Op::TildeOrEqual),
];

fn parse_single(s: &str) -> Option<Single> {
    let s = s.trim();
    let (op, rest) = OPS
        .iter()
        .find_map(|(text, op)| s.strip_prefix(text).map(|rest| (*op, rest.trim_start())))?;
    let parts = split_parts(rest, true)?;
    let n = &parts.numbers;
    let (con, dirty, minor_dirty, patch_dirty) = if is_wildcard(n[0]) {
        (Version::new(0, 0, 0, parts.pre), true, false, false)
    } else if n.len() < 2 || is_wildcard(n[1]) {
        (
            Version::new(n[0].parse().ok()?, 0, 0, parts.pre),
            true,
            true,
            false,
        )
    } else if n.len() < 3 || is_wildcard(n[2]) {
        let minor = n[1].parse().ok()?;
        (
            Version::new(n[0].parse().ok()?, minor, 0, parts.pre),
            true,
            false,
            true,
        )
    } else {
        let v = Version::new(
            n[0].parse().ok()?,
            n[1].parse().ok()?,
            n[2].parse().ok()?,
            parts.pre,
        );
        (v, false, false, false)
    };
    Some(Single {
        op,
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

/// Rewrites `A - B` hyphen ranges into `>= A, <= B`.
fn rewrite_ranges(s: &str) -> String {
    let tokens: Vec<&str> = s.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if i + 2 < tokens.len() && tokens[i + 1] == "-" {
            out.push(format!(
                ">= {}, <= {}",
                tokens[i].trim_end_matches(','),
                tokens[i + 2]
            ));
            i += 3;
        } else {
            out.push(tokens[i].to_owned());
            i += 1;
        }
    }
    out.join(" ")
}

/// Splits one `||` alternative into its constraints: separated by commas and/or whitespace, where an
/// operator may be separated from its version by spaces (`>= 1.2`).
fn split_and(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_op: Option<String> = None;
    for token in s.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
        let is_bare_op = OPS.iter().any(|(op, _)| !op.is_empty() && *op == token);
        if is_bare_op {
            pending_op = Some(token.to_owned());
        } else if let Some(op) = pending_op.take() {
            out.push(format!("{op}{token}"));
        } else {
            out.push(token.to_owned());
        }
    }
    if let Some(op) = pending_op {
        out.push(op);
    }
    out
}

impl Constraints {
    /// Parses a constraint string; an empty alternative means "any version" (`*`).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let rewritten = rewrite_ranges(s);
        let mut alternatives = Vec::new();
        for alt in rewritten.split("||") {
            let pieces = split_and(alt);
            let group = if pieces.is_empty() {
                vec![Single {
                    op: Op::TildeOrEqual,
                    con: Version::new(0, 0, 0, ""),
                    dirty: true,
                    minor_dirty: false,
                    patch_dirty: false,
                }]
            } else {
                pieces
                    .iter()
                    .map(|p| parse_single(p).ok_or_else(|| ParseError::Constraint(alt.to_owned())))
                    .collect::<Result<Vec<_>, _>>()?
            };
            alternatives.push(group);
        }
        Ok(Constraints {
            alternatives,
            original: s.to_owned(),
        })
    }

    /// Whether `v` satisfies the constraints.
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|group| group.iter().all(|c| c.check(v)))
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Single {
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        // A prerelease only satisfies constraints that ask for prereleases (for `!=`, only when the
        // constraint has a wildcard: `!=1.2.3` accepts `2.0.0-rc.1`, as in Masterminds v3).
        let excluded_prerelease = !v.pre.is_empty() && c.pre.is_empty();
        if excluded_prerelease && (self.op != Op::NotEqual || self.dirty) {
            return false;
        }
        match self.op {
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v.cmp(c) == Ordering::Equal
                }
            }
            Op::NotEqual => self.not_equal(v),
            Op::Greater => {
                if !self.dirty {
                    return v > c;
                }
                match v.major.cmp(&c.major) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal if self.minor_dirty => false,
                    Ordering::Equal if self.patch_dirty => v.minor > c.minor,
                    Ordering::Equal => v > c,
                }
            }
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual => {
                if !self.dirty {
                    return v <= c;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.patch != v.patch && !self.patch_dirty {
                return true;
            }
            if self.patch_dirty {
                if !v.pre.is_empty() || !c.pre.is_empty() {
                    return compare_pre(&v.pre, &c.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        v.cmp(c) != Ordering::Equal
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v < c {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v < c {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        v.patch == c.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(constraint: &str, version: &str) -> bool {
        Constraints::parse(constraint)
            .unwrap_or_else(|e| panic!("{constraint}: {e}"))
            .matches(&Version::parse(version).unwrap_or_else(|e| panic!("{version}: {e}")))
    }

    #[test]
    fn versions_parse_loosely_and_order_by_semver() {
        assert_eq!(Version::parse("v1.2").unwrap().to_string(), "1.2.0");
        assert_eq!(
            Version::parse("1.2.3-rc.1+b5").unwrap().to_string(),
            "1.2.3-rc.1+b5"
        );
        assert!(Version::parse("1.2.3.4").is_err());
        assert!(Version::parse("one").is_err());
        assert!(Version::parse("1.2.3-").is_err());
        let mut vs: Vec<Version> = [
            "1.0.0",
            "1.0.0-rc.10",
            "1.0.0-rc.2",
            "1.0.0-alpha",
            "0.9.9",
            "1.0.0-rc.2.1",
        ]
        .iter()
        .map(|s| Version::parse(s).unwrap())
        .collect();
        vs.sort();
        let order: Vec<String> = vs.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "0.9.9",
                "1.0.0-alpha",
                "1.0.0-rc.2",
                "1.0.0-rc.2.1",
                "1.0.0-rc.10",
                "1.0.0"
            ]
        );
    }

    #[test]
    fn masterminds_constraint_table() {
        // (constraint, version, expected) as documented by Masterminds/semver v3.
        let table = [
            ("*", "1.2.3", true),
            ("*", "1.2.3-beta", false),
            ("", "4.5.6", true),
            ("1.2.3", "1.2.3", true),
            ("=1.2.3", "1.2.4", false),
            ("1.2", "1.2.9", true),
            ("1.2", "1.3.0", false),
            ("1.x", "1.9.0", true),
            ("1.x", "2.0.0", false),
            ("!=1.2.3", "1.2.4", true),
            ("!=1.2.x", "1.2.4", false),
            ("!=1.x", "2.0.0", true),
            ("!=1.2.3", "2.0.0-rc.1", true),
            ("!=1.x", "2.0.0-rc.1", false),
            (">1.2", "1.2.9", false),
            (">1.2", "1.3.0", true),
            (">1", "1.9.0", false),
            (">1", "2.0.0", true),
            (">1.2.3", "1.2.4", true),
            ("<1.2.3", "1.2.2", true),
            ("<1.2", "1.1.9", true),
            ("<1.2", "1.2.0", false),
            (">=1.2.3", "1.2.3", true),
            ("=>1.2.3", "1.2.2", false),
            ("<=1.2", "1.2.9", true),
            ("<=1.2", "1.3.0", false),
            ("=<1.2.3", "1.2.3", true),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1", "1.9.9", true),
            ("~1", "2.0.0", false),
            ("~>1.2", "1.2.0", true),
            ("~0", "0.9.0", true),
            ("~0.0.0", "3.0.0", true),
            ("^1.2.3", "1.9.9", true),
            ("^1.2.3", "2.0.0", false),
            ("^1.2.3", "1.2.2", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("^0", "0.9.9", true),
            ("^0", "1.0.0", false),
            (">=1.0 <2.0", "1.5.0", true),
            (">= 1.0, < 2.0", "2.0.0", false),
            (">=1.0,<2.0", "0.9.0", false),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4.5", "1.1.9", false),
            ("^1 || ^3", "3.1.0", true),
            ("^1 || ^3", "2.1.0", false),
            (">=1.0.0-0", "1.2.0-beta.1", true),
            ("^1.2.0-0", "1.3.0-rc.1", true),
            ("^1.2.0-0", "2.0.0-rc.1", false),
            (">1.2.3-alpha", "1.2.3-beta", true),
            (">=1.2.3", "1.2.4-beta", false),
            ("v1.2.x", "1.2.7", true),
            ("12.x.x", "12.5.6", true),
            ("2.x.x", "2.19.0", true),
        ];
        let mut wrong = Vec::new();
        for (c, v, want) in table {
            if ok(c, v) != want {
                wrong.push(format!("{c:?} vs {v}: want {want}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn bad_constraints_are_errors() {
        for bad in ["nope", ">=1.2.3.4", "1.2.3 -", "~>x.y"] {
            assert!(Constraints::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
