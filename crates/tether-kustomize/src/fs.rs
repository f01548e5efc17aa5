//! File access for a build: a small file-system trait (real disk or in memory, for overlays
//! and tests) and the load restrictor that keeps reads inside a kustomization's root.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The files a build reads.
pub trait FileSystem {
    /// Reads a whole file.
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a file.
    fn is_file(&self, path: &Path) -> bool;
    /// The canonical form of `path` (symlinks resolved) where the file system has one.
    fn canonical(&self, path: &Path) -> PathBuf {
        clean(path)
    }
}

/// The machine's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn canonical(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| clean(path))
    }
}

/// Files in memory layered over another file system: used to apply Argo CD's
/// `source.kustomize` overrides without touching the checkout.
pub struct OverlayFs<'a> {
    pub base: &'a dyn FileSystem,
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

impl FileSystem for OverlayFs<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        match self.files.get(&clean(path)) {
            Some(b) => Ok(b.clone()),
            None => self.base.read(path),
        }
    }
    fn is_dir(&self, path: &Path) -> bool {
        let p = clean(path);
        self.base.is_dir(path) || self.files.keys().any(|k| k.starts_with(&p) && *k != p)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&clean(path)) || self.base.is_file(path)
    }
    fn canonical(&self, path: &Path) -> PathBuf {
        let p = clean(path);
        if self.files.contains_key(&p) {
            p
        } else {
            self.base.canonical(path)
        }
    }
}

/// Files held in memory (fuzzing, tests, generated overlays).
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemFs {
    /// Adds a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, content: impl Into<Vec<u8>>) {
        self.files.insert(clean(path.as_ref()), content.into());
    }
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.files
            .get(&clean(path))
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
    fn is_dir(&self, path: &Path) -> bool {
        let p = clean(path);
        self.files.keys().any(|k| k.starts_with(&p) && *k != p)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&clean(path))
    }
}

/// Lexically normalises a path: removes `.` and folds `..`.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Which files a kustomization may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoadRestrictor {
    /// Only files in or below the kustomization's directory (kustomize's default).
    #[default]
    RootOnly,
    /// Any file.
    None,
}

/// Reads files relative to one kustomization root, applying the restrictor.
pub struct Loader<'a> {
    pub fs: &'a dyn FileSystem,
    pub root: PathBuf,
    pub restrictor: LoadRestrictor,
}

impl<'a> Loader<'a> {
    /// Resolves `rel` against the root and checks the restrictor.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let p = clean(&self.root.join(rel));
        if self.restrictor == LoadRestrictor::RootOnly {
            let canon = self.fs.canonical(&p);
            let root = self.fs.canonical(&self.root);
            if !canon.starts_with(&root) {
                return Err(Error::OutsideRoot {
                    path: p,
                    root: self.root.clone(),
                });
            }
        }
        Ok(p)
    }

    /// Reads a file named relative to the root.
    pub fn read(&self, rel: &str) -> Result<(PathBuf, Vec<u8>)> {
        let p = self.resolve(rel)?;
        let bytes = self.fs.read(&p).map_err(|source| Error::Read {
            path: p.clone(),
            source,
        })?;
        Ok((p, bytes))
    }

    /// Reads a UTF-8 file named relative to the root.
    pub fn read_string(&self, rel: &str) -> Result<(PathBuf, String)> {
        let (p, b) = self.read(rel)?;
        let s = String::from_utf8(b).map_err(|_| Error::Read {
            path: p.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "file is not UTF-8"),
        })?;
        Ok((p, s))
    }
}
