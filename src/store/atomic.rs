//! The one way artlens writes what others read: a whole file
//! (`write_file`: into a temporary file beside it, synced, renamed over
//! it, and the folder synced), and a set of files in a folder that holds
//! other things too ([`FolderUpdate`], used by exports): built in a staging
//! folder beside it and exchanged with it in one rename, so that a reader
//! (or the next run after a crash) sees the old files or the new ones, never
//! half of them, and files artlens did not write are never lost.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically (see the module docs). Two writers
/// of the same path at once each use their own temporary name; the last
/// rename wins, whole.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_dir(dir);
    Ok(())
}

/// Writes `bytes` to a new file at `path` and syncs it: for files inside a
/// staging folder, which no reader sees until it is published whole.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Syncs a folder, so that a rename into it survives a power cut. Best
/// effort: some file systems cannot sync a folder, and the rename itself
/// has already happened.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Lists the files a folder's own manifest says artlens wrote there (the
/// manifest included); an empty set when the folder holds no artlens
/// manifest. [`FolderUpdate`] replaces these and nothing else.
pub(crate) type ListedFiles = fn(&Path) -> BTreeSet<String>;

/// The file inside a staging folder that says it is still being written:
/// created first and removed last, just before the folder is published, so
/// that a leftover staging folder holding it is known to contain nothing
/// but unpublished files and links.
const STAGING_MARK: &str = ".artlens-staging";

/// A new set of files for a folder that readers (and people) use, such as
/// an export: written into a staging folder beside it and published by
/// [`FolderUpdate::commit`], which exchanges the two folders in one rename.
///
/// The rules: the files the folder's earlier manifest lists are replaced
/// (or removed, when the new set does not have them); every other entry of
/// the folder is kept, hard-linked into the staging folder before the
/// exchange (folders and anything that cannot be linked are moved across
/// right after it); an entry the new set would overwrite that no manifest
/// lists is refused before anything is written. A process killed at any
/// moment leaves the old files or the new ones in the folder, and the next
/// update finishes or discards the leftover staging folder without losing
/// anything of a person's.
pub struct FolderUpdate {
    /// The folder to update (symlinks resolved: the real folder is the one
    /// exchanged).
    out: PathBuf,
    staging: PathBuf,
    listed: ListedFiles,
    committed: bool,
}

impl FolderUpdate {
    /// Starts an update of `out` that will write the files named `new`:
    /// refuses (naming them) when `out` holds one of them that its manifest
    /// does not list, finishes what an interrupted update left behind, and
    /// makes a fresh staging folder.
    pub(crate) fn begin(out: &Path, new: &[String], listed: ListedFiles) -> Result<FolderUpdate> {
        let out = resolved(out)?;
        if out.exists() && !out.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "{} exists and is not a folder; give the export a folder to write into",
                out.display()
            )));
        }
        recover(&out, listed)?;
        let owned = listed(&out);
        let clashes: Vec<&String> = new
            .iter()
            .filter(|n| !owned.contains(*n) && out.join(n).symlink_metadata().is_ok())
            .collect();
        if !clashes.is_empty() {
            return Err(Error::ExportConflict {
                dir: out.clone(),
                files: clashes
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let staging = sibling(&out, "partial")?;
        std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        std::fs::File::create(staging.join(STAGING_MARK)).map_err(|e| Error::io(&staging, e))?;
        Ok(FolderUpdate {
            out,
            staging,
            listed,
            committed: false,
        })
    }

    /// The folder to write the new files into.
    pub(crate) fn staging(&self) -> &Path {
        &self.staging
    }

    /// Publishes the staging folder's files in the folder (see the type's
    /// documentation). Returns the files of the earlier manifest that the
    /// new set does not have, which are gone now, and whether the folder
    /// held an earlier artlens manifest.
    pub fn commit(mut self) -> Result<(bool, Vec<String>)> {
        self.committed = true;
        let result = self.publish();
        // A staging folder still marked was never published and holds
        // nothing of a person's; one that was is settled by the next run.
        if result.is_err() && self.staging.join(STAGING_MARK).exists() {
            let _ = discard(&self.staging, &self.out);
        }
        result
    }

    fn publish(&self) -> Result<(bool, Vec<String>)> {
        let (out, staging) = (&self.out, &self.staging);
        let new = entries(staging)?;
        let owned = (self.listed)(out);
        let gone: Vec<String> = owned
            .iter()
            .filter(|n| !new.contains(*n) && out.join(n).symlink_metadata().is_ok())
            .cloned()
            .collect();
        if !out.exists() {
            unmark(staging)?;
            std::fs::rename(staging, out).map_err(|e| Error::io(out, e))?;
            sync_dir(parent(out));
            return Ok((false, gone));
        }
        // Everything of the folder's that is not ours goes across with it:
        // files as hard links (the same file, never a copy that could
        // diverge), folders as the same tree of links, so nothing of a
        // person's is missing from the folder at any moment; what cannot be
        // linked is moved across right after the exchange.
        for name in entries(out)? {
            if owned.contains(&name) || name == STAGING_MARK {
                continue;
            }
            if new.contains(&name) {
                return Err(Error::ExportConflict {
                    dir: out.clone(),
                    files: name,
                });
            }
            mirror(&out.join(&name), &staging.join(&name));
        }
        if let Ok(m) = out.metadata() {
            let _ = std::fs::set_permissions(staging, m.permissions());
        }
        unmark(staging)?;
        if exchange(staging, out) {
            sync_dir(parent(out));
        } else {
            // No atomic exchange here (not Linux, or a file system without
            // it): the old folder is renamed aside first. A kill between the
            // two renames leaves no folder at `out` for a moment; the next
            // update puts the aside one back (see `recover`).
            let aside = sibling(out, "old")?;
            std::fs::rename(out, &aside).map_err(|e| Error::io(out, e))?;
            std::fs::rename(staging, out).map_err(|e| Error::io(out, e))?;
            sync_dir(parent(out));
            std::fs::rename(&aside, staging).map_err(|e| Error::io(&aside, e))?;
        }
        // `staging` now holds the old folder.
        settle(staging, out, &owned)?;
        Ok((!owned.is_empty(), gone))
    }
}

impl Drop for FolderUpdate {
    /// An update that was never committed (an error while writing) leaves
    /// nothing behind.
    fn drop(&mut self) {
        if !self.committed {
            let _ = discard(&self.staging, &self.out);
        }
    }
}

/// `out` with a symlink to a folder resolved, so the real folder is updated
/// and the link kept; a folder not made yet is returned as given.
fn resolved(out: &Path) -> Result<PathBuf> {
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(out).map_err(|e| Error::io(out, e))
        }
        _ => Ok(out.to_path_buf()),
    }
}

fn parent(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `.<name>.artlens-<what>` beside `out`: on the same file system, so that
/// publishing is a rename.
fn sibling(out: &Path, what: &str) -> Result<PathBuf> {
    let name = out.file_name().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: an export needs a folder name, not a root or `..`",
            out.display()
        ))
    })?;
    Ok(parent(out).join(format!(".{}.artlens-{what}", name.to_string_lossy())))
}

/// The names in a folder.
fn entries(dir: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        names.insert(e.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Removes the staging mark and syncs the folder: from here on a leftover
/// staging folder is treated as possibly published (see `recover`).
fn unmark(staging: &Path) -> Result<()> {
    let mark = staging.join(STAGING_MARK);
    std::fs::remove_file(&mark).map_err(|e| Error::io(&mark, e))?;
    sync_dir(staging);
    Ok(())
}

/// After a publish: moves back into `out` whatever the old folder (now at
/// `old`) holds that is neither listed by its manifest (`owned`) nor in
/// `out` already (folders, files that could not be linked, files made
/// while the export ran), then removes `old`.
fn settle(old: &Path, out: &Path, owned: &BTreeSet<String>) -> Result<()> {
    for name in entries(old)? {
        if owned.contains(&name) || name == STAGING_MARK {
            continue;
        }
        merge_back(&old.join(&name), &out.join(&name))?;
    }
    sync_dir(out);
    discard(old, out)
}

/// Recreates `from` at `to` without copying a byte: a file as a hard link,
/// a symlink as the same link, a folder (with its permissions) as the same
/// tree. Best effort: what cannot be linked (a FIFO, a file system without
/// hard links) is left for [`merge_back`] to move.
fn mirror(from: &Path, to: &Path) {
    let Ok(m) = from.symlink_metadata() else {
        return;
    };
    if m.file_type().is_symlink() {
        if let Ok(target) = std::fs::read_link(from) {
            let _ = std::os::unix::fs::symlink(target, to);
        }
    } else if m.is_file() {
        let _ = std::fs::hard_link(from, to);
    } else if m.is_dir() && std::fs::create_dir(to).is_ok() {
        if let Ok(list) = std::fs::read_dir(from) {
            for e in list.flatten() {
                mirror(&e.path(), &to.join(e.file_name()));
            }
        }
        let _ = std::fs::set_permissions(to, m.permissions());
    }
}

/// Moves what the old folder's `from` holds that `to` lacks into `to`: an
/// entry that was not mirrored, or that was made while the export ran.
fn merge_back(from: &Path, to: &Path) -> Result<()> {
    match to.symlink_metadata() {
        Err(_) => std::fs::rename(from, to).map_err(|e| Error::io(to, e)),
        Ok(t) if t.is_dir() && from.symlink_metadata().is_ok_and(|f| f.is_dir()) => {
            for name in entries(from)? {
                merge_back(&from.join(&name), &to.join(&name))?;
            }
            Ok(())
        }
        Ok(_) => Ok(()),
    }
}

/// Deletes `dir`, a staging or old folder beside `out` that holds nothing
/// of a person's any more. It is renamed to `.NAME.artlens-trash` first: a
/// deletion killed part-way could otherwise leave an export's files
/// without the manifest (or the staging mark) that says they are ours, and
/// the next run would take them for a person's.
fn discard(dir: &Path, out: &Path) -> Result<()> {
    let trash = sibling(out, "trash")?;
    if trash.exists() {
        std::fs::remove_dir_all(&trash).map_err(|e| Error::io(&trash, e))?;
    }
    std::fs::rename(dir, &trash).map_err(|e| Error::io(dir, e))?;
    std::fs::remove_dir_all(&trash).map_err(|e| Error::io(&trash, e))
}

/// Finishes or discards what an update killed part-way left beside `out`.
/// A folder being deleted (`trash`) holds nothing of a person's any more.
/// A staging folder still marked was never published: it holds new files
/// and links only, and goes. One without the mark may be the old folder
/// after the exchange: what it holds of a person's goes back into `out`
/// first. A folder renamed aside by the fallback goes back to `out` when
/// `out` is missing.
fn recover(out: &Path, listed: ListedFiles) -> Result<()> {
    let trash = sibling(out, "trash")?;
    if trash.exists() {
        std::fs::remove_dir_all(&trash).map_err(|e| Error::io(&trash, e))?;
    }
    let aside = sibling(out, "old")?;
    if aside.exists() {
        if out.symlink_metadata().is_err() {
            std::fs::rename(&aside, out).map_err(|e| Error::io(out, e))?;
        } else {
            let owned = listed(&aside);
            settle(&aside, out, &owned)?;
        }
    }
    let staging = sibling(out, "partial")?;
    if staging.exists() {
        if staging.join(STAGING_MARK).exists() || !out.is_dir() {
            discard(&staging, out)?;
        } else {
            let owned = listed(&staging);
            settle(&staging, out, &owned)?;
        }
    }
    Ok(())
}

/// Exchanges two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`);
/// false when the system or file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let (Ok(ca), Ok(cb)) = (
        CString::new(a.as_os_str().as_bytes()),
        CString::new(b.as_os_str().as_bytes()),
    ) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated paths that outlive the call;
    // renameat2 reads them and touches no other memory.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_file(&path, b"old").unwrap();
        write_file(&path, b"new, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.json")]);
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-folder").join("f.json");
        let e = write_file(&path, b"x").unwrap_err().to_string();
        assert!(e.contains("missing-folder"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// What the tests' manifest lists: one name a line in `manifest.json`.
    fn listed(dir: &Path) -> BTreeSet<String> {
        let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
            return BTreeSet::new();
        };
        text.lines()
            .map(str::to_string)
            .chain(["manifest.json".to_string()])
            .collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    /// Publishes `files` (name, contents) into `out`, the manifest listing them.
    fn publish(out: &Path, files: &[(&str, &str)]) -> Result<(bool, Vec<String>)> {
        let mut wanted: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
        wanted.push("manifest.json".into());
        let u = FolderUpdate::begin(out, &wanted, listed)?;
        for (n, body) in files {
            write_synced(&u.staging().join(n), body.as_bytes())?;
        }
        let list: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        write_synced(
            &u.staging().join("manifest.json"),
            list.join("\n").as_bytes(),
        )?;
        u.commit()
    }

    #[test]
    fn an_update_replaces_only_what_its_manifest_listed() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        std::fs::create_dir(out.join("plots")).unwrap();
        std::fs::write(out.join("plots/a.svg"), "plot").unwrap();
        let (replaced, _) = publish(&out, &[("a.npy", "1"), ("items.csv", "1")]).unwrap();
        assert!(!replaced, "no earlier export was there");
        assert_eq!(
            names(&out),
            ["a.npy", "items.csv", "manifest.json", "notes.txt", "plots"]
        );
        // Another set of files: the earlier one goes, the person's stay.
        let (replaced, gone) = publish(&out, &[("b.parquet", "2")]).unwrap();
        assert!(replaced);
        assert_eq!(gone, ["a.npy", "items.csv"]);
        assert_eq!(
            names(&out),
            ["b.parquet", "manifest.json", "notes.txt", "plots"]
        );
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("plots/a.svg")).unwrap(),
            "plot"
        );
        assert_eq!(names(t.path()), ["out"], "no staging folder is left");
    }

    #[test]
    fn a_persons_file_with_a_name_the_update_needs_is_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("items.csv"), "mine").unwrap();
        let e = publish(&out, &[("items.csv", "ours")]).unwrap_err();
        assert!(matches!(e, Error::ExportConflict { .. }), "{e:?}");
        assert!(e.to_string().contains("items.csv"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("items.csv")).unwrap(),
            "mine"
        );
        assert_eq!(names(t.path()), ["out"]);
    }

    #[test]
    fn what_a_killed_update_left_is_finished_without_losing_anything() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        publish(&out, &[("a.npy", "old")]).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        // Killed before publishing: a marked staging folder, discarded.
        let staging = sibling(&out, "partial").unwrap();
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join(STAGING_MARK), "").unwrap();
        std::fs::write(staging.join("a.npy"), "half").unwrap();
        // Killed right after the exchange: the old folder, unmarked, holds a
        // person's folder that was not moved back yet.
        publish(&out, &[("a.npy", "new")]).unwrap();
        let old = sibling(&out, "partial").unwrap();
        std::fs::create_dir_all(old.join("plots")).unwrap();
        std::fs::write(old.join("plots/p.svg"), "plot").unwrap();
        std::fs::write(old.join("a.npy"), "older").unwrap();
        std::fs::write(old.join("manifest.json"), "a.npy").unwrap();
        publish(&out, &[("a.npy", "newest")]).unwrap();
        assert_eq!(
            names(&out),
            ["a.npy", "manifest.json", "notes.txt", "plots"]
        );
        assert_eq!(
            std::fs::read_to_string(out.join("a.npy")).unwrap(),
            "newest"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("plots/p.svg")).unwrap(),
            "plot"
        );
        assert_eq!(names(t.path()), ["out"]);
    }
}
