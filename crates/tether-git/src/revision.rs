//! Resolving a `targetRevision` against a remote's references, as Argo CD's `LsRemote` does.
//!
//! The order of the checks is Argo CD's:
//! 1. a full 40-hex SHA is a commit and needs no refs;
//! 2. an empty revision means `HEAD`;
//! 3. a semver constraint (anything that is not itself a version but parses as a Masterminds
//!    constraint, e.g. `1.2.*`, `>=1.0.0 <2.0.0`, `~1.2`) picks the highest matching tag, which is
//!    then resolved by name; when no tag matches, resolution continues with the revision as given;
//! 4. a ref whose full name (`refs/heads/main`) or short name (`main`, `v1.0`) equals the revision;
//!    symbolic refs (`HEAD`) resolve to their target; annotated tags are peeled to their commit;
//! 5. a 7–39 hex-digit revision is taken as a truncated commit SHA, resolved in the fetched objects.

use crate::semver::{Constraints, Edition, Version};

/// One reference as the remote advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteRef {
    /// A ref pointing at an object: a commit, or for annotated tags the tag object and its peeled
    /// commit.
    Direct {
        name: String,
        /// The object the ref points at (an annotated tag object for annotated tags).
        target: String,
        /// The commit an annotated tag peels to, when the remote said so.
        peeled: Option<String>,
    },
    /// A symbolic ref such as `HEAD` → `refs/heads/main`.
    Symbolic {
        name: String,
        target_ref: String,
        /// The commit the target resolves to (None when the target is unborn).
        object: Option<String>,
    },
}

impl RemoteRef {
    /// The full name, e.g. `refs/heads/main` or `HEAD`.
    pub fn name(&self) -> &str {
        match self {
            RemoteRef::Direct { name, .. } | RemoteRef::Symbolic { name, .. } => name,
        }
    }

    /// The commit this ref resolves to (annotated tags peeled).
    pub fn commit(&self) -> Option<&str> {
        match self {
            RemoteRef::Direct { target, peeled, .. } => Some(peeled.as_deref().unwrap_or(target)),
            RemoteRef::Symbolic { object, .. } => object.as_deref(),
        }
    }
}

/// go-git's `ReferenceName.Short()`: strips `refs/heads/`, `refs/tags/`, `refs/remotes/`.
pub fn short_name(full: &str) -> &str {
    ["refs/heads/", "refs/tags/", "refs/remotes/"]
        .iter()
        .find_map(|p| full.strip_prefix(p))
        .unwrap_or(full)
}

/// A full commit SHA (Argo CD's `IsCommitSHA`).
pub fn is_commit_sha(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A possibly truncated commit SHA (Argo CD's `IsTruncatedCommitSHA`: 7 to 40 hex digits).
pub fn is_truncated_sha(rev: &str) -> bool {
    (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a revision resolved to without looking at objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A full commit SHA.
    Commit(String),
    /// A truncated SHA still to be looked up among the fetched objects.
    ShortSha(String),
}

/// The highest tag satisfying a semver constraint (Argo CD's `resolveSemverRevision`), by its
/// original tag name. None when `revision` is a plain version (a pin), not a constraint, or when no
/// tag matches.
pub fn max_semver_tag(revision: &str, refs: &[RemoteRef]) -> Option<String> {
    if Version::parse(revision).is_ok() {
        return None;
    }
    let constraint = Constraints::parse(revision).ok()?;
    let mut best: Option<Version> = None;
    for r in refs {
        let Some(tag) = r.name().strip_prefix("refs/tags/") else {
            continue;
        };
        if tag.ends_with("^{}") {
            continue;
        }
        let Ok(v) = Version::parse(tag) else {
            continue;
        };
        // Argo CD v3 links Masterminds/semver v3.4 (group-level prerelease rule).
        if constraint.check_with(&v, Edition::V3_4)
            && best
                .as_ref()
                .is_none_or(|b| v.compare(b) == std::cmp::Ordering::Greater)
        {
            best = Some(v);
        }
    }
    best.map(|v| v.original().to_owned())
}

/// Resolves `revision` against `refs` (sorted by name, as the remote advertises them). Returns None
/// when it names nothing.
pub fn resolve(revision: &str, refs: &[RemoteRef]) -> Option<Resolved> {
    let revision = revision.trim();
    if is_commit_sha(revision) {
        return Some(Resolved::Commit(revision.to_ascii_lowercase()));
    }
    let revision = if revision.is_empty() {
        "HEAD"
    } else {
        revision
    };
    let semver_tag = max_semver_tag(revision, refs);
    let wanted = semver_tag.as_deref().unwrap_or(revision);
    let mut symbolic_target: Option<&str> = None;
    for r in refs {
        let name = r.name();
        if name != wanted && short_name(name) != wanted {
            continue;
        }
        match r {
            RemoteRef::Direct { .. } => {
                return r.commit().map(|c| Resolved::Commit(c.to_owned()));
            }
            RemoteRef::Symbolic {
                target_ref, object, ..
            } => {
                if let Some(o) = object {
                    return Some(Resolved::Commit(o.clone()));
                }
                symbolic_target.get_or_insert(target_ref);
            }
        }
    }
    if let Some(target) = symbolic_target
        && let Some(c) = refs
            .iter()
            .find(|r| r.name() == target)
            .and_then(RemoteRef::commit)
    {
        return Some(Resolved::Commit(c.to_owned()));
    }
    if is_truncated_sha(revision) {
        return Some(Resolved::ShortSha(revision.to_ascii_lowercase()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(name: &str, target: &str) -> RemoteRef {
        RemoteRef::Direct {
            name: name.into(),
            target: target.into(),
            peeled: None,
        }
    }

    fn sha(c: char) -> String {
        std::iter::repeat_n(c, 40).collect()
    }

    fn refs() -> Vec<RemoteRef> {
        vec![
            RemoteRef::Symbolic {
                name: "HEAD".into(),
                target_ref: "refs/heads/main".into(),
                object: Some(sha('a')),
            },
            direct("refs/heads/3.x", &sha('9')),
            direct("refs/heads/main", &sha('a')),
            direct("refs/heads/release", &sha('b')),
            direct("refs/tags/1.2.0", &sha('c')),
            RemoteRef::Direct {
                name: "refs/tags/v1.2.5".into(),
                target: sha('d'),
                peeled: Some(sha('e')),
            },
            direct("refs/tags/v1.3.0", &sha('f')),
            direct("refs/tags/v2.0.0-rc.1", &sha('1')),
            direct("refs/tags/release", &sha('2')),
        ]
    }

    fn commit(rev: &str) -> Option<String> {
        match resolve(rev, &refs()) {
            Some(Resolved::Commit(c)) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn resolves_like_argo_cd() {
        assert_eq!(commit("main"), Some(sha('a')));
        assert_eq!(commit("refs/heads/main"), Some(sha('a')));
        assert_eq!(commit("HEAD"), Some(sha('a')));
        assert_eq!(commit(""), Some(sha('a')));
        assert_eq!(commit("1.2.0"), Some(sha('c')));
        assert_eq!(commit("v1.2.5"), Some(sha('e')), "annotated tag is peeled");
        assert_eq!(commit("refs/tags/v1.2.5"), Some(sha('e')));
        // A branch and a tag with one name: the branch sorts first, as in Argo CD.
        assert_eq!(commit("release"), Some(sha('b')));
        assert_eq!(commit("refs/tags/release"), Some(sha('2')));
        assert_eq!(commit(&sha('7')), Some(sha('7')));
        assert_eq!(commit(&sha('A')), Some(sha('a')), "SHAs are lowercased");
        assert_eq!(commit("nope"), None);
        assert_eq!(
            resolve("abc1234", &refs()),
            Some(Resolved::ShortSha("abc1234".into()))
        );
        assert_eq!(resolve("abc12", &refs()), None, "too short for a SHA");
    }

    #[test]
    fn semver_constraints_pick_the_highest_tag() {
        assert_eq!(commit("1.2.*"), Some(sha('e')), "v1.2.5 beats 1.2.0");
        assert_eq!(commit("~1.2"), Some(sha('e')));
        assert_eq!(commit(">=1.0.0 <2.0.0"), Some(sha('f')), "v1.3.0");
        assert_eq!(
            commit("*"),
            Some(sha('f')),
            "the prerelease 2.0.0-rc.1 is skipped"
        );
        assert_eq!(commit(">=2.0.0-0"), Some(sha('1')));
        assert_eq!(max_semver_tag("1.2.*", &refs()).as_deref(), Some("v1.2.5"));
        assert_eq!(
            commit("1.x"),
            Some(sha('f')),
            "tags win over a constraint-looking name"
        );
        // No tag matches: resolution goes on with the revision as a name (a branch `3.x`).
        assert_eq!(commit("3.x"), Some(sha('9')));
        assert_eq!(commit("4.*"), None);
        // A plain version is a pin, never a constraint.
        assert_eq!(max_semver_tag("1.2", &refs()), None);
        assert_eq!(commit("1.2"), None);
    }
}
