//! Checkouts: the tree of one commit written once to `checkouts/<sha>/` and shared, read-only, by
//! every caller at that commit; and the path-confined view renderers read through.
//!
//! [`Checkout::resolve`] walks a relative path one component at a time, following symlinks itself,
//! and refuses absolute paths, `..` that climbs above the checkout, symlinks whose target is absolute
//! or leaves the checkout, and symlink loops. A renderer that only opens what `resolve` returns cannot
//! read outside the commit's tree, whatever the repository contains.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, PathError};

/// How many symlinks one resolution may follow (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// A read-only tree at one commit.
#[derive(Debug, Clone)]
pub struct Checkout {
    root: PathBuf,
    commit: String,
    repo: String,
    /// Keeps the directory from eviction while any clone of this checkout lives.
    _lease: Option<std::sync::Arc<()>>,
}

impl Checkout {
    pub(crate) fn new(root: PathBuf, commit: String, repo: String) -> Self {
        Self {
            root,
            commit,
            repo,
            _lease: None,
        }
    }

    pub(crate) fn with_lease(mut self, lease: std::sync::Arc<()>) -> Self {
        self._lease = Some(lease);
        self
    }

    /// The directory holding the tree. Read through [`Checkout::resolve`], not directly.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The commit SHA.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// Resolves a path relative to the checkout root to a real path inside it, following symlinks
    /// only while they stay inside. The path need not exist.
    pub fn resolve(&self, rel: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let rel = rel.as_ref();
        let refuse = |reason: PathError| Error::Path {
            repo: self.repo.clone(),
            commit: self.commit.clone(),
            path: rel.display().to_string(),
            reason,
        };
        let mut pending: VecDeque<OsString> = VecDeque::new();
        for c in rel.components() {
            match c {
                Component::Prefix(_) | Component::RootDir => {
                    return Err(refuse(PathError::Absolute));
                }
                Component::CurDir => {}
                Component::ParentDir => pending.push_back("..".into()),
                Component::Normal(n) => pending.push_back(n.to_owned()),
            }
        }
        // The components below the root resolved so far; all are real directories or files.
        let mut resolved: Vec<OsString> = Vec::new();
        let mut followed = 0;
        let mut exists = true;
        while let Some(c) = pending.pop_front() {
            if c == ".." {
                if resolved.pop().is_none() {
                    return Err(refuse(PathError::Escapes));
                }
                continue;
            }
            resolved.push(c);
            if !exists {
                continue;
            }
            let here: PathBuf = resolved.iter().fold(self.root.clone(), |p, c| p.join(c));
            match std::fs::symlink_metadata(&here) {
                Err(_) => exists = false,
                Ok(m) if m.file_type().is_symlink() => {
                    followed += 1;
                    if followed > MAX_SYMLINKS {
                        return Err(refuse(PathError::SymlinkLoop));
                    }
                    let target = std::fs::read_link(&here)
                        .map_err(|e| refuse(PathError::Unreadable(e.to_string())))?;
                    resolved.pop();
                    let mut spliced: Vec<OsString> = Vec::new();
                    for tc in target.components() {
                        match tc {
                            Component::Prefix(_) | Component::RootDir => {
                                return Err(refuse(PathError::SymlinkEscapes(
                                    target.display().to_string(),
                                )));
                            }
                            Component::CurDir => {}
                            Component::ParentDir => spliced.push("..".into()),
                            Component::Normal(n) => spliced.push(n.to_owned()),
                        }
                    }
                    // A target climbing above the root is refused as such, not as a plain `..`.
                    let mut depth = resolved.len() as isize;
                    for s in &spliced {
                        depth += if s == ".." { -1 } else { 1 };
                        if depth < 0 {
                            return Err(refuse(PathError::SymlinkEscapes(
                                target.display().to_string(),
                            )));
                        }
                    }
                    for s in spliced.into_iter().rev() {
                        pending.push_front(s);
                    }
                }
                Ok(_) => {}
            }
        }
        Ok(resolved.iter().fold(self.root.clone(), |p, c| p.join(c)))
    }

    /// Reads a file through [`Checkout::resolve`].
    pub fn read(&self, rel: impl AsRef<Path>) -> Result<Vec<u8>, Error> {
        let rel = rel.as_ref();
        let path = self.resolve(rel)?;
        std::fs::read(&path).map_err(|e| Error::Path {
            repo: self.repo.clone(),
            commit: self.commit.clone(),
            path: rel.display().to_string(),
            reason: PathError::Unreadable(e.to_string()),
        })
    }

    /// Every symlink in the tree whose target leaves the checkout, relative to the root (Argo CD
    /// refuses to render such repositories: `CheckOutOfBoundsSymlinks`).
    pub fn out_of_bounds_symlinks(&self) -> Vec<PathBuf> {
        let mut bad = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(self.root.join(&dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let rel = dir.join(entry.file_name());
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_symlink() {
                    if matches!(
                        self.resolve(&rel),
                        Err(Error::Path {
                            reason: PathError::SymlinkEscapes(_),
                            ..
                        })
                    ) {
                        bad.push(rel);
                    }
                } else if ft.is_dir() {
                    stack.push(rel);
                }
            }
        }
        bad.sort();
        bad
    }
}
