//! The data dir's directories and the files in them, as the storage finds and leaves them.

use std::collections::BTreeMap;
use std::path::Path;

use super::disk::Disk;
use super::error::StorageError;
use super::snap;

/// Create the WAL and snap directories and make their entries, up to the data dir's own entry
/// in its parent, durable: a member whose directories vanish in a power loss would come back
/// empty after having voted.
pub(crate) fn make_dirs<D: Disk>(
    disk: &mut D,
    data_dir: &Path,
    member: &Path,
    dirs: &[&Path],
) -> Result<(), StorageError> {
    for dir in dirs {
        disk.create_dir_all(dir)
            .map_err(|e| StorageError::io("create directory", *dir, e))?;
    }
    let parent = match data_dir.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Some(Path::new(".")),
        parent => parent,
    };
    for dir in [Some(member), Some(data_dir), parent].into_iter().flatten() {
        disk.sync_dir(dir)
            .map_err(|e| StorageError::io("fsync directory", dir, e))?;
    }
    Ok(())
}

/// The snap files in `snap_dir` with their sizes; temporary ones a crash left are removed.
pub(crate) fn list_snap_files<D: Disk>(
    disk: &mut D,
    snap_dir: &Path,
) -> Result<BTreeMap<String, u64>, StorageError> {
    let names = disk
        .list_dir(snap_dir)
        .map_err(|e| StorageError::io("list directory", snap_dir, e))?;
    let mut files = BTreeMap::new();
    for name in names {
        let path = snap_dir.join(&name);
        if name.ends_with(snap::TEMPORARY_SUFFIX) {
            remove_if_present(disk, &path)?;
        } else if snap::is_snap_file(&name) {
            let bytes = disk
                .file_len(&path)
                .map_err(|e| StorageError::io("read the length of", &path, e))?;
            files.insert(name, bytes);
        }
    }
    Ok(files)
}

/// Remove `path`; one already gone is fine. Removals are not synced: a removal a crash undoes
/// leaves a file recovery ignores and removes again.
pub(crate) fn remove_if_present<D: Disk>(disk: &mut D, path: &Path) -> Result<(), StorageError> {
    match disk.remove(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove", path, e))
        }
        _ => Ok(()),
    }
}
