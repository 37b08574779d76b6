//! A [`Disk`] on the real one that injects failures: a crash after a number of operations (the
//! one that crashes does half its work: a write lands half its bytes), a failing fsync, or no
//! syncing at all (for tests that model a crash by cutting files, where fsync only costs time).

use std::cell::RefCell;
use std::io;
use std::path::Path;
use std::rc::Rc;

use super::super::{Disk, RealDisk};

/// What to inject; shared between the test and the disk the storage owns.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Operations that change the disk still allowed; at 0 the next one crashes, and so does
    /// every one after it (the process is gone).
    pub operations_left: Option<u64>,
    /// Fail the fsync of a file after this many more succeed.
    pub fsyncs_before_failure: Option<u64>,
    /// Skip every fsync.
    pub no_sync: bool,
    /// Operations that changed the disk so far.
    pub operations: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct FaultyDisk {
    pub faults: Rc<RefCell<Faults>>,
}

impl FaultyDisk {
    pub(crate) fn no_sync() -> FaultyDisk {
        let disk = FaultyDisk::default();
        disk.faults.borrow_mut().no_sync = true;
        disk
    }

    pub(crate) fn crashing_after(operations: u64) -> FaultyDisk {
        let disk = FaultyDisk::default();
        disk.faults.borrow_mut().operations_left = Some(operations);
        disk
    }

    /// Count an operation that changes the disk; `Err` when it crashes.
    fn operation(&self) -> io::Result<()> {
        let mut faults = self.faults.borrow_mut();
        if let Some(left) = faults.operations_left.as_mut() {
            if *left == 0 {
                return Err(io::Error::other("injected crash"));
            }
            *left -= 1;
        }
        faults.operations += 1;
        Ok(())
    }

    fn crashes_next(&self) -> bool {
        self.faults.borrow().operations_left == Some(0)
    }
}

impl Disk for FaultyDisk {
    type File = std::fs::File;
    type Lock = std::fs::File;

    fn lock(&mut self, path: &Path) -> io::Result<std::fs::File> {
        RealDisk.lock(path)
    }

    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        self.operation()?;
        RealDisk.create_dir_all(path)
    }

    fn list_dir(&mut self, path: &Path) -> io::Result<Vec<String>> {
        RealDisk.list_dir(path)
    }

    fn create(&mut self, path: &Path) -> io::Result<std::fs::File> {
        self.operation()?;
        RealDisk.create(path)
    }

    fn open_append(&mut self, path: &Path) -> io::Result<std::fs::File> {
        RealDisk.open_append(path)
    }

    fn write(&mut self, file: &mut std::fs::File, bytes: &[u8]) -> io::Result<()> {
        if self.crashes_next() {
            // The crash tears this write: half of it reaches the file.
            RealDisk.write(file, &bytes[..bytes.len() / 2])?;
        }
        self.operation()?;
        RealDisk.write(file, bytes)
    }

    fn sync_file(&mut self, file: &mut std::fs::File) -> io::Result<()> {
        self.operation()?;
        let mut faults = self.faults.borrow_mut();
        if let Some(before) = faults.fsyncs_before_failure.as_mut() {
            if *before == 0 {
                faults.fsyncs_before_failure = None;
                return Err(io::Error::other("injected fsync failure"));
            }
            *before -= 1;
        }
        if faults.no_sync {
            return Ok(());
        }
        RealDisk.sync_file(file)
    }

    fn sync_dir(&mut self, path: &Path) -> io::Result<()> {
        self.operation()?;
        if self.faults.borrow().no_sync {
            return Ok(());
        }
        RealDisk.sync_dir(path)
    }

    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        RealDisk.read(path)
    }

    fn read_range(&mut self, path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        RealDisk.read_range(path, offset, len)
    }

    fn file_len(&mut self, path: &Path) -> io::Result<u64> {
        RealDisk.file_len(path)
    }

    fn truncate(&mut self, path: &Path, len: u64) -> io::Result<()> {
        self.operation()?;
        RealDisk.truncate(path, len)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        self.operation()?;
        RealDisk.rename(from, to)
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        self.operation()?;
        RealDisk.remove(path)
    }
}
