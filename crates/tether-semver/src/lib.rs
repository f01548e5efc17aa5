//! Semantic versions and version constraints with the semantics of Masterminds/semver v3, the Go
//! library behind Helm's chart and dependency versions, Sprig's `semver`/`semverCompare`, `kubeVersion`
//! checks, and Argo CD's `targetRevision: 1.2.*` tag resolution.
//!
//! It is a port of Masterminds' `NewVersion`, `NewConstraint` and `Check` (same regular expressions,
//! same dirty/wildcard rules, same error texts), not Cargo's semver:
//! - versions are loose: `v1`, `1.2` and `v1.2.3` parse (missing parts are 0), leading zeros in the
//!   numbers are accepted, the original text is kept ([`Version::original`]);
//! - constraints: `=`, `!=`, `>`, `<`, `>=`/`=>`, `<=`/`=<`, `~`/`~>`, `^`, none (equal, or tilde when
//!   the version has a wildcard `x`/`X`/`*` or missing parts); `A - B` hyphen ranges; AND by spaces or
//!   commas, OR by `||`;
//! - prereleases: a prerelease version only satisfies constraints that carry a prerelease themselves
//!   (`>=1.19-0` is the usual idiom). The exact rule changed between releases, see [`Edition`].
//!
//! Expected results come from the Go library itself (`scripts/gen-semver-expected`).

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex_lite::Regex;

/// Which Masterminds/semver release's rules [`Constraints::check_with`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Edition {
    /// v3.3.x, linked by helm v3.17: each constraint excludes prereleases unless it carries one itself
    /// (so `>=1.0.0-0 <2.0.0` rejects `1.5.0-beta`), and a plain `!=1.2.3` accepts prereleases.
    #[default]
    V3_3,
    /// v3.4.x, linked by Argo CD v3: an AND group accepts prereleases when any of its constraints
    /// carries one, and every operator (also `!=`) rejects them otherwise.
    V3_4,
}

/// Why a version or a constraint does not parse. `Display` gives Masterminds v3.3's text (what helm
/// prints, e.g. through `semverCompare`); [`Error::message`] gives either edition's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("Invalid Semantic Version")]
    InvalidVersion,
    #[error("Version segment starts with 0")]
    SegmentStartsZero,
    #[error("Invalid Prerelease string")]
    InvalidPrerelease,
    #[error("Invalid Metadata string")]
    InvalidMetadata,
    /// A number too large for 64 bits.
    #[error("Error parsing version segment: strconv.ParseUint: parsing {0:?}: value out of range")]
    SegmentOutOfRange(String),
    /// The `||` alternative (after hyphen ranges are rewritten) that is not a constraint.
    #[error("improper constraint: {0}")]
    ImproperConstraint(String),
    #[error("constraint Parser Error")]
    ConstraintParser,
}

impl Error {
    /// The error text of the given Masterminds release (v3.4 lower-cased its messages).
    pub fn message(&self, edition: Edition) -> String {
        if edition == Edition::V3_3 {
            return self.to_string();
        }
        match self {
            Error::InvalidVersion => "invalid semantic version".to_owned(),
            Error::SegmentStartsZero => "version segment starts with 0".to_owned(),
            Error::InvalidPrerelease => "invalid prerelease string".to_owned(),
            Error::InvalidMetadata => "invalid metadata string".to_owned(),
            Error::SegmentOutOfRange(n) => format!(
                "error parsing version segment: strconv.ParseUint: parsing {n:?}: value out of range"
            ),
            Error::ImproperConstraint(_) => self.to_string(),
            Error::ConstraintParser => "constraint parser error".to_owned(),
        }
    }
}

/// A version as Masterminds' `NewVersion` parses it. Equality and ordering are semver precedence
/// (build metadata and the original spelling are ignored).
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// `ident(\.ident)*` with non-empty identifiers of `[0-9A-Za-z-]`.
fn is_dotted_ident(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(is_ident_byte))
}

fn parse_u64(digits: &str) -> Result<u64, Error> {
    digits
        .parse()
        .map_err(|_| Error::SegmentOutOfRange(digits.to_owned()))
}

impl Version {
    /// Masterminds' `NewVersion` (v3.3 and v3.4 with its default `CoerceNewVersion`): the regular
    /// expression `v?N(.N)?(.N)?(-pre)?(+meta)?`, then numeric prerelease identifiers without leading
    /// zeros.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let s = text.strip_prefix('v').unwrap_or(text);
        let (rest, metadata) = match s.split_once('+') {
            Some((r, m)) => (r, Some(m)),
            None => (s, None),
        };
        // The numeric part ends at the first byte that is neither a digit nor a dot; a prerelease
        // (if any) starts with '-' right there.
        let numeric_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (numeric, pre) = rest.split_at(numeric_end);
        let pre = match pre.strip_prefix('-') {
            Some(p) => Some(p),
            None if pre.is_empty() => None,
            None => return Err(Error::InvalidVersion),
        };
        let numbers: Vec<&str> = numeric.split('.').collect();
        if numbers.len() > 3
            || numbers
                .iter()
                .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::InvalidVersion);
        }
        if pre.is_some_and(|p| !is_dotted_ident(p)) || metadata.is_some_and(|m| !is_dotted_ident(m))
        {
            return Err(Error::InvalidVersion);
        }
        let mut nums = [0u64; 3];
        for (slot, n) in nums.iter_mut().zip(&numbers) {
            *slot = parse_u64(n)?;
        }
        let pre = pre.unwrap_or("");
        if !pre.is_empty()
            && pre
                .split('.')
                .any(|p| p.len() > 1 && p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::SegmentStartsZero);
        }
        Ok(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre: pre.to_owned(),
            metadata: metadata.unwrap_or("").to_owned(),
            original: text.to_owned(),
        })
    }

    /// Masterminds' `New`: a version from its parts (the original text is its `String()`).
    pub fn new(major: u64, minor: u64, patch: u64, pre: &str, metadata: &str) -> Self {
        let mut v = Version {
            major,
            minor,
            patch,
            pre: pre.to_owned(),
            metadata: metadata.to_owned(),
            original: String::new(),
        };
        v.original = v.to_string();
        v
    }

    pub fn major(&self) -> u64 {
        self.major
    }
    pub fn minor(&self) -> u64 {
        self.minor
    }
    pub fn patch(&self) -> u64 {
        self.patch
    }
    /// The prerelease without its `-` (empty when none).
    pub fn prerelease(&self) -> &str {
        &self.pre
    }
    /// The build metadata without its `+` (empty when none).
    pub fn metadata(&self) -> &str {
        &self.metadata
    }
    /// The text this version was parsed from (e.g. the tag name `v1.2`).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Masterminds' `Compare`: major, minor, patch, then prerelease (a release sorts after its
    /// prereleases); metadata is ignored.
    pub fn compare(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.compare(other)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Masterminds' `String()`: `major.minor.patch[-pre][+metadata]`, without a `v`.
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
        let d = compare_pre_part(
            a.get(i).copied().unwrap_or(""),
            b.get(i).copied().unwrap_or(""),
        );
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

/// Masterminds' `comparePrePart`: a missing part sorts first, numbers before words, numbers by value
/// (one too large for 64 bits counts as a word), words by bytes.
fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    let number = |x: &str| {
        if x.bytes().all(|b| b.is_ascii_digit()) {
            x.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (number(s), number(o)) {
        (None, None) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => {
            if x > y {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
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

impl Op {
    fn from_text(s: &str) -> Option<Op> {
        Some(match s {
            "" | "=" => Op::TildeOrEqual,
            "!=" => Op::NotEqual,
            ">" => Op::Greater,
            "<" => Op::Less,
            ">=" | "=>" => Op::GreaterEqual,
            "<=" | "=<" => Op::LessEqual,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
struct Constraint {
    op: Op,
    op_text: String,
    /// The version as written (`1.2.x`).
    orig: String,
    con: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

/// `||`-separated groups of constraints that must all hold, as Masterminds' `NewConstraint` parses
/// them.
#[derive(Clone, Debug)]
pub struct Constraints {
    groups: Vec<Vec<Constraint>>,
}

// Masterminds' regular expressions, with Go's `\s` spelled out (it is ASCII-only in Go). Go's RE2
// and the regex crate both use leftmost-first alternation, so the submatches are the same.
const WS: &str = r"[\t\n\f\r ]";
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

static CONSTRAINT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{WS}*({OPS}){WS}*({CV}){WS}*$")).expect("valid regex"));
static RANGE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!("{WS}*({CV}){WS}+-{WS}+({CV}){WS}*")).expect("valid regex")
});
static FIND_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("({OPS}){WS}*({CV})")).expect("valid regex"));
static VALID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^({WS}*({OPS}){WS}*({CV}){WS}*)((?:{WS}+|,{WS}*)({OPS}){WS}*({CV}){WS}*)*$"
    ))
    .expect("valid regex")
});

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

/// Masterminds' `rewriteRange`: each `A - B` becomes `>= A, <= B `.
fn rewrite_range(s: &str) -> String {
    let mut out = s.to_owned();
    for m in RANGE_RE.captures_iter(s) {
        let whole = m.get(0).map_or("", |g| g.as_str());
        let (a, b) = (
            m.get(1).map_or("", |g| g.as_str()),
            m.get(11).map_or("", |g| g.as_str()),
        );
        out = out.replacen(whole, &format!(">= {a}, <= {b} "), 1);
    }
    out
}

fn parse_constraint(c: &str) -> Result<Constraint, Error> {
    let m = CONSTRAINT_RE
        .captures(c)
        .ok_or_else(|| Error::ImproperConstraint(c.to_owned()))?;
    let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
    let (op_text, orig) = (group(1), group(2));
    let op = Op::from_text(op_text).ok_or(Error::ConstraintParser)?;
    let (major, minor, patch, pre) = (
        group(3),
        group(4).trim_start_matches('.'),
        group(5).trim_start_matches('.'),
        group(6),
    );
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let text = if is_x(major) || major.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_x(minor) || minor.is_empty() {
        minor_dirty = true;
        dirty = true;
        format!("{major}.0.0{pre}")
    } else if is_x(patch) || patch.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{major}.{minor}.0{pre}")
    } else {
        orig.to_owned()
    };
    let con = Version::parse(&text).map_err(|_| Error::ConstraintParser)?;
    Ok(Constraint {
        op,
        op_text: op_text.to_owned(),
        orig: orig.to_owned(),
        con,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

impl Constraints {
    /// Masterminds' `NewConstraint`. An empty string (or an empty `||` alternative) is an error, as
    /// there; callers that mean "any version" pass `*`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let rewritten = rewrite_range(text);
        let mut groups = Vec::new();
        for alternative in rewritten.split("||") {
            if !VALID_RE.is_match(alternative) {
                return Err(Error::ImproperConstraint(alternative.to_owned()));
            }
            let found: Vec<&str> = FIND_RE.find_iter(alternative).map(|m| m.as_str()).collect();
            let pieces = if found.is_empty() {
                vec![alternative]
            } else {
                found
            };
            groups.push(
                pieces
                    .into_iter()
                    .map(parse_constraint)
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(Constraints { groups })
    }

    /// Masterminds v3.3's `Check` (what helm v3.17 does): whether `v` satisfies every constraint of
    /// some `||` group.
    pub fn check(&self, v: &Version) -> bool {
        self.check_with(v, Edition::V3_3)
    }

    /// `Check` with the prerelease rule of the given Masterminds release.
    pub fn check_with(&self, v: &Version, edition: Edition) -> bool {
        self.groups.iter().any(|group| {
            let group_pre = group.iter().any(|c| !c.con.pre.is_empty());
            group.iter().all(|c| {
                let include_pre = match edition {
                    Edition::V3_3 => None,
                    Edition::V3_4 => Some(group_pre),
                };
                c.check(v, include_pre)
            })
        })
    }
}

/// Masterminds' `String()`: the constraints as parsed, AND groups joined by spaces, ORs by ` || `.
impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            for (j, c) in group.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{}{}", c.op_text, c.orig)?;
            }
        }
        Ok(())
    }
}

impl Constraint {
    /// One constraint. `include_pre` is v3.4's group-level decision; None is v3.3's per-constraint
    /// rule.
    fn check(&self, v: &Version, include_pre: Option<bool>) -> bool {
        let c = &self.con;
        let excluded = match include_pre {
            Some(include) => !v.pre.is_empty() && !include,
            None => {
                !v.pre.is_empty() && c.pre.is_empty() && (self.op != Op::NotEqual || self.dirty)
            }
        };
        if excluded {
            return false;
        }
        match self.op {
            Op::NotEqual => {
                if self.dirty {
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
            Op::Greater => {
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major > c.major {
                    true
                } else if v.major < c.major || self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    v.compare(c) == Ordering::Greater
                }
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
                c.patch == v.patch
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

/// Masterminds' `Constraints.Check` after `NewConstraint(constraint)` and `NewVersion(version)`, in
/// Sprig's `semverCompare` order (the constraint's error wins).
pub fn compare(constraint: &str, version: &str) -> Result<bool, Error> {
    let c = Constraints::parse(constraint)?;
    let v = Version::parse(version)?;
    Ok(c.check(&v))
}

/// Sorts versions as Masterminds' `Collection` does (stable, ascending).
pub fn sort(versions: &mut [Version]) {
    versions.sort_by(Version::compare);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_per_edition() {
        assert_eq!(
            Version::parse("x").unwrap_err().message(Edition::V3_4),
            "invalid semantic version"
        );
        assert_eq!(
            Error::ConstraintParser.message(Edition::V3_4),
            "constraint parser error"
        );
        assert_eq!(
            Constraints::parse("!!1")
                .unwrap_err()
                .message(Edition::V3_4),
            "improper constraint: !!1"
        );
    }

    #[test]
    fn display_is_masterminds_string() {
        let c = Constraints::parse("1.2 - 1.4.5 || ^2").unwrap();
        assert_eq!(c.to_string(), ">=1.2 <=1.4.5 || ^2");
        assert_eq!(Version::new(1, 2, 3, "rc.1", "").original(), "1.2.3-rc.1");
    }
}
