//! The file operations the storage needs, as a trait of ours, and [`RealDisk`] on `std::fs`.
//!
//! Every file access of `storage/` goes through [`Disk`], so that the simulator can hand the
//! same code an in-memory disk with crash semantics (unsynced writes lost, a torn last write).
//! The trait is synchronous and small on purpose: each method is one thing a crash can interrupt,
//! so a test can stop the storage after any prefix of them.

use std::fmt::Debug;
use std::io;
use std::path::Path;

/// A filesystem, as the storage uses it. Durability is explicit: nothing written is durable until
/// [`Disk::sync_file`] returns for its file, and no creation, rename or removal of a directory
/// entry is durable until [`Disk::sync_dir`] returns for its directory.
pub trait Disk {
    /// A file open for appending.
    type File: Debug;
    /// An exclusive lock, held while the value lives.
    type Lock: Debug;

    /// Lock `path` (created if missing) for this process alone, for as long as the returned
    /// lock lives; fails at once if another process holds it, as etcd fails on a data dir whose
    /// WAL another etcd has locked.
    fn lock(&mut self, path: &Path) -> io::Result<Self::Lock>;

    /// Create `path` and every missing parent, each readable by its owner only (0700).
    fn create_dir_all(&mut self, path: &Path) -> io::Result<()>;
    /// The names of the entries of directory `path`, in no particular order. Names that are not
    /// UTF-8 are left out: the storage names every file it writes in ASCII.
    fn list_dir(&mut self, path: &Path) -> io::Result<Vec<String>>;
    /// Create `path` empty (truncating it if it exists), open for appending, owner-only (0600).
    fn create(&mut self, path: &Path) -> io::Result<Self::File>;
    /// Open the existing file `path` for appending at its end.
    fn open_append(&mut self, path: &Path) -> io::Result<Self::File>;
    /// Append all of `bytes` at the end of `file`.
    fn write(&mut self, file: &mut Self::File, bytes: &[u8]) -> io::Result<()>;
    /// Make what was written to `file`, and its length, durable (fdatasync).
    fn sync_file(&mut self, file: &mut Self::File) -> io::Result<()>;
    /// Make the entries of directory `path` (files created, renamed or removed in it) durable.
    fn sync_dir(&mut self, path: &Path) -> io::Result<()>;
    /// The whole content of `path`.
    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>>;
    /// Up to `len` bytes of `path` from `offset` (fewer at the end of the file).
    fn read_range(&mut self, path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>>;
    /// The length of `path` in bytes.
    fn file_len(&mut self, path: &Path) -> io::Result<u64>;
    /// Cut `path` to `len` bytes. Durable once the file is synced.
    fn truncate(&mut self, path: &Path, len: u64) -> io::Result<()>;
    /// Rename `from` to `to`, replacing `to` if it exists (atomic, as POSIX rename).
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    /// Remove the file `path`.
    fn remove(&mut self, path: &Path) -> io::Result<()>;
}

/// [`Disk`] on `std::fs`. Directories are synced by opening them and calling `sync_all`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealDisk;

impl Disk for RealDisk {
    type File = std::fs::File;
    type Lock = std::fs::File;

    fn lock(&mut self, path: &Path) -> io::Result<std::fs::File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another process holds it (is another member using this data dir?)",
            )),
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        }
    }

    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(path)
    }

    fn list_dir(&mut self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&mut self, path: &Path) -> io::Result<std::fs::File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(true).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)
    }

    fn open_append(&mut self, path: &Path) -> io::Result<std::fs::File> {
        std::fs::OpenOptions::new().append(true).open(path)
    }

    fn write(&mut self, file: &mut std::fs::File, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(file, bytes)
    }

    fn sync_file(&mut self, file: &mut std::fs::File) -> io::Result<()> {
        file.sync_data()
    }

    fn sync_dir(&mut self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }

    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn read_range(&mut self, path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let mut file = std::fs::File::open(path)?;
        file.seek(io::SeekFrom::Start(offset))?;
        let mut bytes = Vec::new();
        file.take(len).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn file_len(&mut self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn truncate(&mut self, path: &Path, len: u64) -> io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(len)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}
