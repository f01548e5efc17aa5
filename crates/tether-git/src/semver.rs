//! Semantic versions and constraints with the syntax and semantics of Masterminds semver v3, the
//! library Argo CD uses to resolve `targetRevision: 1.2.*` against tags.
//!
//! It differs from Cargo's `semver` crate in ways users rely on:
//! - versions are loose: `v1`, `1.2` and `v1.2.3` parse (missing parts are 0; the original text is
//!   kept, because Argo CD resolves the winning tag by its original name);
//! - `1.2`, `1.2.x`, `1.2.*` and `=1.2` mean `>=1.2.0 <1.3.0`; `*` means any release;
//! - `~1.2.3` is `>=1.2.3 <1.3.0`, `~1` is `>=1.0.0 <2.0.0`; `^` is Cargo's caret;
//! - `>= 1.2.x` is `>=1.2.0`, `<= 2.x` is `<3.0.0`, `> 1.x` is `>=2.0.0`;
//! - `A - B` is `>=A <=B`; constraints are ANDed by spaces or commas and ORed by `||`;
//! - a prerelease version only matches a constraint that itself names a prerelease.

use std::cmp::Ordering;
use std::fmt;

/// A version as Masterminds' `NewVersion` parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    /// The text it was parsed from (e.g. the tag name `v1.2`).
    pub original: String,
}

/// A version could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a semantic version")]
pub struct InvalidVersion(pub String);

/// A constraint could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a semver constraint")]
pub struct InvalidConstraint(pub String);

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Splits `core[-pre][+meta]`; `core` is returned unvalidated.
fn split_pre_meta(s: &str) -> Option<(&str, &str, &str)> {
    let (rest, meta) = match s.find('+') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    if s.contains('+') && !is_ident(meta) {
        return None;
    }
    let (core, pre) = match rest.find('-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if rest.contains('-') && !is_ident(pre) {
        return None;
    }
    Some((core, pre, meta))
}

impl Version {
    /// Parses like Masterminds' `NewVersion` (loose: optional `v`, optional minor and patch).
    pub fn parse(text: &str) -> Result<Self, InvalidVersion> {
        let bad = || InvalidVersion(text.to_owned());
        let s = text.strip_prefix('v').unwrap_or(text);
        let (core, pre, meta) = split_pre_meta(s).ok_or_else(bad)?;
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(bad());
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            nums[i] = p.parse().map_err(|_| bad())?;
        }
        // Numeric prerelease identifiers may not have leading zeros (semver 2.0.0, Masterminds v3).
        if !pre.is_empty()
            && pre
                .split('.')
                .any(|p| p.len() > 1 && p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Self {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre: pre.to_owned(),
            metadata: meta.to_owned(),
            original: text.to_owned(),
        })
    }

    fn new(major: u64, minor: u64, patch: u64, pre: &str) -> Self {
        Self {
            major,
            minor,
            patch,
            pre: pre.to_owned(),
            metadata: String::new(),
            original: String::new(),
        }
    }

    /// Precedence, ignoring build metadata; a prerelease sorts before its release.
    pub fn compare(&self, other: &Self) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or("");
        let y = b.get(i).copied().unwrap_or("");
        let d = compare_pre_part(x, y);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    // A missing part sorts before a present one (Masterminds: shorter prerelease is smaller unless
    // the longer one's extra part is a number).
    if o.is_empty() {
        return if s.parse::<u64>().is_ok() {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    if s.is_empty() {
        return if o.parse::<u64>().is_ok() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => s.cmp(o),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone)]
struct Single {
    op: Op,
    con: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

/// `||`-separated groups of constraints that must all hold.
#[derive(Debug, Clone)]
pub struct Constraints {
    groups: Vec<Vec<Single>>,
}

const OPS: [(&str, Op); 12] = [
    ("!=", Op::NotEqual),
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("~>", Op::Tilde),
    (">", Op::Greater),
    ("<", Op::Less),
    ("=", Op::TildeOrEqual),
    ("~", Op::Tilde),
    ("^", Op::Caret),
    ("", Op::TildeOrEqual),
];

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

/// Length of the constraint-version token at the start of `s` (`v?X(.X)?(.X)?(-pre)?(+meta)?`
/// where X is digits or a wildcard), or None.
fn cv_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'v'));
    let part = |i: usize| {
        b[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || matches!(c, b'x' | b'X' | b'*'))
            .count()
    };
    let n = part(i);
    if n == 0 {
        return None;
    }
    i += n;
    for _ in 0..2 {
        if b.get(i) == Some(&b'.') && part(i + 1) > 0 {
            i += 1 + part(i + 1);
        } else {
            break;
        }
    }
    for sep in [b'-', b'+'] {
        if b.get(i) == Some(&sep) {
            let n = b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.'))
                .count();
            let ident = &s[i + 1..i + 1 + n];
            // A trailing `.` is not part of the identifier.
            let ident = ident.trim_end_matches('.');
            if !is_ident(ident) {
                return None;
            }
            i += 1 + ident.len();
        }
    }
    Some(i)
}

fn parse_single(op: Op, cv: &str) -> Result<Single, InvalidConstraint> {
    let bad = || InvalidConstraint(cv.to_owned());
    let s = cv.strip_prefix('v').unwrap_or(cv);
    let (core, pre, _meta) = split_pre_meta(s).ok_or_else(bad)?;
    let parts: Vec<&str> = core.split('.').collect();
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let con = if is_x(parts[0]) {
        dirty = true;
        Version::new(0, 0, 0, pre)
    } else if parts.get(1).is_none_or(|p| is_x(p)) {
        minor_dirty = true;
        dirty = true;
        Version::new(parts[0].parse().map_err(|_| bad())?, 0, 0, pre)
    } else if parts.get(2).is_none_or(|p| is_x(p)) {
        patch_dirty = true;
        dirty = true;
        Version::new(
            parts[0].parse().map_err(|_| bad())?,
            parts[1].parse().map_err(|_| bad())?,
            0,
            pre,
        )
    } else {
        Version::parse(cv).map_err(|_| bad())?
    };
    Ok(Single {
        op,
        con,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

/// Rewrites hyphen ranges `A - B` into `>= A, <= B`.
fn rewrite_ranges(s: &str) -> String {
    let tokens: Vec<&str> = s.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let whole = |t: &str| cv_len(t) == Some(t.len());
        if i + 2 < tokens.len() && tokens[i + 1] == "-" && whole(tokens[i]) && whole(tokens[i + 2])
        {
            out.push(format!(">= {}, <= {}", tokens[i], tokens[i + 2]));
            i += 3;
        } else {
            out.push(tokens[i].to_owned());
            i += 1;
        }
    }
    out.join(" ")
}

impl Constraints {
    /// Parses like Masterminds' `NewConstraint`.
    pub fn parse(text: &str) -> Result<Self, InvalidConstraint> {
        let bad = || InvalidConstraint(text.to_owned());
        let rewritten = rewrite_ranges(text);
        let mut groups = Vec::new();
        for group in rewritten.split("||") {
            let mut rest = group.trim_start();
            let mut singles = Vec::new();
            let mut first = true;
            loop {
                if !first {
                    let trimmed = rest.trim_start();
                    let had_space = trimmed.len() < rest.len();
                    rest = trimmed;
                    if rest.is_empty() {
                        break;
                    }
                    if let Some(r) = rest.strip_prefix(',') {
                        rest = r.trim_start();
                    } else if !had_space {
                        return Err(bad());
                    }
                }
                first = false;
                let (op_text, op) = OPS
                    .iter()
                    .find(|(t, _)| {
                        rest.starts_with(t) && cv_len(rest[t.len()..].trim_start()).is_some()
                    })
                    .copied()
                    .ok_or_else(bad)?;
                rest = rest[op_text.len()..].trim_start();
                let n = cv_len(rest).ok_or_else(bad)?;
                singles.push(parse_single(op, &rest[..n])?);
                rest = &rest[n..];
            }
            if singles.is_empty() {
                return Err(bad());
            }
            groups.push(singles);
        }
        Ok(Self { groups })
    }

    /// Whether `v` satisfies any group of constraints.
    pub fn matches(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| g.iter().all(|c| c.check(v)))
    }
}

impl Single {
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        // A prerelease only satisfies constraints that ask for prereleases (Masterminds issue 21).
        let pre_excluded = !v.pre.is_empty() && c.pre.is_empty();
        match self.op {
            Op::NotEqual => {
                if self.dirty {
                    if pre_excluded {
                        return false;
                    }
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            _ if pre_excluded => false,
            Op::Greater => {
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v.compare(c) == Ordering::Greater
            }
            Op::Less => v.compare(c) == Ordering::Less,
            Op::GreaterEqual => v.compare(c) != Ordering::Less,
            Op::LessEqual => {
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            Op::Tilde => self.tilde(v),
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v.compare(c) == Ordering::Equal
                }
            }
            Op::Caret => {
                if v.compare(c) == Ordering::Less {
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
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(constraint: &str, version: &str) -> bool {
        let c = Constraints::parse(constraint).unwrap_or_else(|e| panic!("{e}"));
        let v = Version::parse(version).unwrap_or_else(|e| panic!("{e}"));
        c.matches(&v)
    }

    #[test]
    fn versions_parse_loosely() {
        let v = Version::parse("v1.2").expect("loose version");
        assert_eq!((v.major, v.minor, v.patch), (1, 2, 0));
        assert_eq!(v.original, "v1.2");
        let v = Version::parse("1.2.3-rc.1+build.5").expect("full version");
        assert_eq!((v.pre.as_str(), v.metadata.as_str()), ("rc.1", "build.5"));
        for bad in [
            "", "v", "1.", "1.2.3.4", "1.2.*", "HEAD", "main", "1.2.3-", "1.2.3-01", "x1", "1.2.3+",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn precedence_follows_semver_with_numeric_prerelease() {
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for w in order.windows(2) {
            let (a, b) = (
                Version::parse(w[0]).expect("valid"),
                Version::parse(w[1]).expect("valid"),
            );
            assert_eq!(a.compare(&b), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(b.compare(&a), Ordering::Greater, "{} > {}", w[1], w[0]);
        }
        assert_eq!(
            Version::parse("1.0.0+a")
                .expect("valid")
                .compare(&Version::parse("v1.0.0+b").expect("valid")),
            Ordering::Equal
        );
    }

    #[test]
    fn constraints_match_as_masterminds() {
        let cases: &[(&str, &str, bool)] = &[
            ("1.2.*", "1.2.0", true),
            ("1.2.*", "1.2.9", true),
            ("1.2.*", "1.3.0", false),
            ("1.2.*", "1.1.9", false),
            ("1.2.x", "1.2.4", true),
            ("1.2", "1.2.4", true),
            ("=1.2", "1.2.4", true),
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("*", "0.0.1", true),
            ("*", "9.9.9", true),
            ("*", "1.0.0-rc.1", false),
            (">=1.0.0 <2.0.0", "1.0.0", true),
            (">=1.0.0 <2.0.0", "1.9.9", true),
            (">=1.0.0 <2.0.0", "2.0.0", false),
            (">=1.0.0 <2.0.0", "0.9.9", false),
            (">=1.0.0, <2.0.0", "1.5.0", true),
            (">= 1.0.0 , < 2.0.0", "1.5.0", true),
            (">=1.0.0 <2.0.0", "1.5.0-beta", false),
            // Each constraint of a group must ask for prereleases (a Masterminds quirk).
            (">=1.0.0-0 <2.0.0", "1.5.0-beta", false),
            (">=1.0.0-0 <2.0.0-0", "1.5.0-beta", true),
            ("~1.2", "1.2.0", true),
            ("~1.2", "1.2.7", true),
            ("~1.2", "1.3.0", false),
            ("~1.2.3", "1.2.2", false),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1", "1.9.0", true),
            ("~1", "2.0.0", false),
            ("~>1.2", "1.2.5", true),
            ("~0", "0.5.0", true),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^1.2.3", "1.2.2", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0", "0.9.0", true),
            ("^0", "1.0.0", false),
            (">1.2", "1.2.5", false),
            (">1.2", "1.3.0", true),
            (">1", "1.9.0", false),
            (">1", "2.0.0", true),
            (">1.2.3", "1.2.4", true),
            (">= 1.2.x", "1.2.0", true),
            ("<= 2.x", "2.9.9", true),
            ("<= 2.x", "3.0.0", false),
            ("<=1.2", "1.2.9", true),
            ("<=1.2", "1.3.0", false),
            ("<1.2.3", "1.2.3-beta", false),
            ("!=1.2.3", "1.2.4", true),
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.x", "1.2.7", false),
            ("!=1.2.x", "1.3.0", true),
            ("1.2 - 1.4.5", "1.3.0", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4.5", "1.1.9", false),
            ("1.0.x || 2.0.x", "2.0.3", true),
            ("1.0.x || 2.0.x", "1.5.0", false),
            ("v1.2.x", "1.2.3", true),
            ("1.2.3-beta.2", "1.2.3-beta.2", true),
            (">=1.2.3-alpha", "1.2.3-beta", true),
        ];
        for &(c, v, want) in cases {
            assert_eq!(check(c, v), want, "`{c}` against {v}");
        }
    }

    #[test]
    fn non_constraints_are_rejected() {
        for bad in [
            "",
            "HEAD",
            "main",
            "release-1.0",
            "refs/heads/main",
            ">=",
            "1.2.3 garbage",
            ">=1.0.0<2.0.0",
            "1.2.3-",
            "||",
        ] {
            assert!(Constraints::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
