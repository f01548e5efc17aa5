//! Writing a commit's tree to disk: into a temporary sibling directory first, renamed into place
//! when complete, so a checkout directory that exists is always whole. Files are written read-only
//! (`0444`, `0555` when executable, less the process umask), symlinks as symlinks (their targets are policed on read by
//! [`crate::Checkout::resolve`]), submodules as empty directories. Entry names that Git itself
//! refuses (`..`, `.`, `.git`, names with `/` or NUL) abort the checkout.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gix::objs::tree::EntryKind;

/// An error: the path in the tree where it happened, and the message.
pub(crate) type WriteError = (String, String);

/// Called for each submodule (gitlink) with its path in the checkout, its commit and the empty
/// directory to fill.
pub(crate) type SubmoduleHook<'a> =
    &'a mut dyn FnMut(&str, gix::ObjectId, &Path) -> Result<(), WriteError>;

pub(crate) fn write_commit(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    parent: &Path,
    dest: &Path,
    submodules: Option<SubmoduleHook<'_>>,
) -> Result<(), WriteError> {
    let at = |path: &str| {
        let path = path.to_owned();
        move |e: &dyn std::fmt::Display| (path.clone(), e.to_string())
    };
    std::fs::create_dir_all(parent).map_err(|e| at("")(&e))?;
    let tmp = tempdir_in(parent).map_err(|e| at("")(&e))?;
    let tree = repo
        .find_object(commit)
        .map_err(|e| at("")(&e))?
        .peel_to_tree()
        .map_err(|e| at("")(&e))?;
    let mut submodules = submodules;
    if let Err(e) = write_tree(repo, tree.id, &tmp, "", &mut submodules) {
        remove_tree(&tmp);
        return Err(e);
    }
    set_mode(&tmp, 0o555).map_err(|e| at("")(&e))?;
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        // Another process wrote the same commit first; its tree is identical.
        Err(_) if dest.is_dir() => {
            remove_tree(&tmp);
            Ok(())
        }
        Err(e) => {
            remove_tree(&tmp);
            Err(at("")(&e))
        }
    }
}

fn tempdir_in(parent: &Path) -> std::io::Result<PathBuf> {
    for n in 0..1000u32 {
        let dir = parent.join(format!(".tmp-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary directory name"))
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Removes a tree written here, making its directories writable first.
pub(crate) fn remove_tree(path: &Path) {
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = set_mode(&dir, 0o755);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(path);
}

/// Writes a commit's tree into an existing empty directory (a submodule's), with `prefix` naming
/// it in errors.
pub(crate) fn write_commit_into(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    dir: &Path,
    prefix: &str,
    submodules: &mut Option<SubmoduleHook<'_>>,
) -> Result<(), WriteError> {
    let tree = repo
        .find_object(commit)
        .map_err(|e| (prefix.to_owned(), e.to_string()))?
        .peel_to_tree()
        .map_err(|e| (prefix.to_owned(), e.to_string()))?;
    write_tree(repo, tree.id, dir, prefix, submodules)
}

fn write_tree(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    dir: &Path,
    rel: &str,
    submodules: &mut Option<SubmoduleHook<'_>>,
) -> Result<(), WriteError> {
    let err = |path: &str, e: &dyn std::fmt::Display| (path.to_owned(), e.to_string());
    let object = repo.find_tree(tree).map_err(|e| err(rel, &e))?;
    let entries: Vec<(EntryKind, Vec<u8>, gix::ObjectId)> = object
        .decode()
        .map_err(|e| err(rel, &e))?
        .entries
        .iter()
        .map(|e| (e.mode.kind(), e.filename.to_vec(), e.oid.to_owned()))
        .collect();
    for (kind, name, oid) in entries {
        let shown = String::from_utf8_lossy(&name).into_owned();
        let path_rel = if rel.is_empty() {
            shown.clone()
        } else {
            format!("{rel}/{shown}")
        };
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.eq_ignore_ascii_case(b".git")
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return Err((path_rel, "refusing an unsafe entry name".into()));
        }
        let path = dir.join(std::ffi::OsStr::from_bytes(&name));
        match kind {
            EntryKind::Tree => {
                std::fs::create_dir(&path).map_err(|e| err(&path_rel, &e))?;
                write_tree(repo, oid, &path, &path_rel, submodules)?;
                set_mode(&path, 0o555).map_err(|e| err(&path_rel, &e))?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let blob = repo.find_blob(oid).map_err(|e| err(&path_rel, &e))?;
                let mode = if kind == EntryKind::BlobExecutable {
                    0o555
                } else {
                    0o444
                };
                // Created read-only (less the umask) in one call: no chmod per file.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)
                    .map_err(|e| err(&path_rel, &e))?;
                file.write_all(&blob.data).map_err(|e| err(&path_rel, &e))?;
            }
            EntryKind::Link => {
                let blob = repo.find_blob(oid).map_err(|e| err(&path_rel, &e))?;
                let target = std::ffi::OsStr::from_bytes(&blob.data);
                std::os::unix::fs::symlink(target, &path).map_err(|e| err(&path_rel, &e))?;
            }
            EntryKind::Commit => {
                // A submodule: an empty directory, as `git clone` without `--recurse-submodules`,
                // or its tree when submodules are wanted.
                std::fs::create_dir(&path).map_err(|e| err(&path_rel, &e))?;
                if let Some(hook) = submodules.as_mut() {
                    hook(&path_rel, oid, &path)?;
                }
                set_mode(&path, 0o555).map_err(|e| err(&path_rel, &e))?;
            }
        }
    }
    Ok(())
}
