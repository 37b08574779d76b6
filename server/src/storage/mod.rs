//! The member's durable storage: a data dir laid out as etcd's, a segmented WAL of our own and
//! snapshot files, every file access through [`Disk`] so the simulator can substitute its own.
//!
//! - **Layout**: `<data-dir>/member/wal/{seq:016x}-{index:016x}.wal`, segments of the WAL (a new
//!   one past [`StorageOptions::segment_bytes_max`]), and
//!   `<data-dir>/member/snap/{term:016x}-{index:016x}.snap`, snapshot files; directories 0700
//!   (`data_dir.rs`).
//! - **Records** (`record.rs`, `writes.rs`): a length, a check of the length, a CRC-32C chained from record to
//!   record and across segments, then a postcard `Record`. A segment begins with the previous
//!   segment's last CRC and the member's [`Metadata`]; then come writes, each the records of its
//!   batches (snapshot, entries, hard state) closed by a commit record, so that a write is
//!   durable whole or not at all. A snapshot's data lives in its snap file (`snap.rs`), synced
//!   before the WAL record that names it.
//! - **Recovery** (`wal.rs`, `replay.rs`): start at the newest *base* segment (the first one, or
//!   one compaction wrote), replay every committed write as `PersistedState::apply` would, then
//!   load the snap file the state ends on. A torn write at the tail of the last segment (an
//!   incomplete header, a record running past the end, an all-zero tail, a final record failing
//!   its CRC) is cut off with a warning; any other bad byte, or a missing or bad snap file,
//!   refuses to start.
//! - **Errors are fatal.** After a failed write or fsync the kernel may have dropped the dirty
//!   pages, and a later fsync may report success for data that never reached the disk; so an
//!   error means nothing is known durable, and the storage refuses every later call. The member
//!   stops and recovers from what the disk holds (fail-stop, as `detcd_core::io` requires).

mod data_dir;
mod disk;
mod error;
mod record;
mod replay;
mod snap;
mod wal;
mod writes;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use detcd_core::raft::{Index, PersistBatch, PersistedState, Term};

use data_dir::{list_snap_files, make_dirs, remove_if_present};
pub use disk::{Disk, RealDisk};
pub use error::StorageError;
pub use record::Metadata;
use record::Record;
use wal::{Replay, Segment, Tail};
use writes::{WriteBuffer, encode_segment_head};

/// Tunables of the storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageOptions {
    /// Start a new segment once the current one holds this many bytes (etcd: 64 MB).
    pub segment_bytes_max: u64,
    /// After a write that holds a snapshot, compact the WAL once it holds this many bytes.
    pub compact_wal_bytes_min: u64,
    /// Snapshot files kept, the newest the WAL names (etcd's `--max-snapshots`, 5); 0 keeps
    /// every one, as etcd's 0 does.
    pub snap_files_kept: usize,
}

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions {
            segment_bytes_max: 64 * 1024 * 1024,
            compact_wal_bytes_min: 64 * 1024 * 1024,
            snap_files_kept: 5,
        }
    }
}

/// What [`Storage::open`] read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// What the member persisted: `PersistedState::default()` for a new data dir.
    pub persisted: PersistedState,
    /// This start of the member: one more than the last one recorded, 1 for a new data dir.
    pub incarnation: u64,
    /// The metadata the WAL holds; `None` for a new data dir (the given one was written).
    pub metadata: Option<Metadata>,
    /// What recovery repaired, for the log: torn writes cut off, with file, offset and bytes.
    pub warnings: Vec<String>,
}

/// A data dir, open for writing. The calling contract: [`Storage::open`] once, then
/// [`Storage::write`] the core's persist batches in token order; any error is final (fail-stop).
pub struct Storage<D: Disk> {
    disk: D,
    /// The data dir's lock, held for as long as the storage lives: one member per data dir.
    _lock: D::Lock,
    options: StorageOptions,
    wal_dir: PathBuf,
    snap_dir: PathBuf,
    metadata: Metadata,
    incarnation: u64,
    /// The live segments, oldest first; the last is the one written.
    segments: Vec<Segment>,
    /// The last segment, open for appending.
    file: D::File,
    /// The CRC chain's value at the end of the last segment.
    crc: u32,
    /// The index the next entry is expected to take, for naming a new segment.
    next_index: Index,
    /// Snapshots the live WAL names, oldest first, each once.
    snapshots_named: Vec<(Term, Index)>,
    /// The snap files in the snap dir, by name, with their sizes.
    snap_files: BTreeMap<String, u64>,
    /// Reused for each write, so a write allocates nothing in the common case.
    buffer: Vec<u8>,
    stopped: bool,
}

/// A write buffer that keeps a large write's memory no longer than this.
const BUFFER_KEPT_BYTES_MAX: usize = 4 * 1024 * 1024;

impl<D: Disk> fmt::Debug for Storage<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("wal_dir", &self.wal_dir)
            .field("metadata", &self.metadata)
            .field("incarnation", &self.incarnation)
            .field("segments", &self.segments)
            .field("snap_files", &self.snap_files)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

/// Whether `data_dir` holds a member's WAL already (etcd's `wal.Exist`): a member with one
/// restarts from it; one without starts a new cluster or joins a running one.
pub fn has_wal(data_dir: &Path) -> bool {
    let wal_dir = data_dir.join("member").join("wal");
    std::fs::read_dir(wal_dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".wal"))
    })
}

impl<D: Disk> Storage<D> {
    /// Open (creating if absent) the data dir, load the newest valid snapshot, replay the WAL,
    /// then durably record a new boot: the returned incarnation is one more than the last one
    /// recorded (1 on a fresh dir). `metadata` is written into a fresh WAL; on an existing one
    /// the stored metadata is returned and compared by the caller.
    pub fn open(
        mut disk: D,
        data_dir: &Path,
        metadata: Metadata,
        options: StorageOptions,
    ) -> Result<(Storage<D>, Recovered), StorageError> {
        let member = data_dir.join("member");
        let wal_dir = member.join("wal");
        let snap_dir = member.join("snap");
        make_dirs(&mut disk, data_dir, &member, &[&wal_dir, &snap_dir])?;
        let lock_path = member.join("lock");
        let lock = disk
            .lock(&lock_path)
            .map_err(|e| StorageError::io("lock the data dir", &lock_path, e))?;
        let snap_files = list_snap_files(&mut disk, &snap_dir)?;
        let paths = Paths {
            wal_dir,
            snap_dir,
            metadata,
        };
        match wal::replay(&mut disk, &paths.wal_dir, Tail::Truncate)? {
            None => Storage::create(disk, lock, paths, options, snap_files),
            Some(replay) => Storage::resume(disk, lock, paths, options, snap_files, replay),
        }
    }

    /// Start a new WAL: its first segment, born whole, records the first start.
    fn create(
        mut disk: D,
        lock: D::Lock,
        paths: Paths,
        options: StorageOptions,
        snap_files: BTreeMap<String, u64>,
    ) -> Result<(Storage<D>, Recovered), StorageError> {
        let mut buffer = Vec::new();
        let mut crc = 0;
        encode_segment_head(&mut buffer, &mut crc, 0, true, paths.metadata);
        let mut write = WriteBuffer::new(&mut buffer, crc);
        write.push(&Record::Boot { incarnation: 1 });
        let crc = write.finish();
        let name = wal::file_name(0, 0);
        let (path, file) = wal::create_segment(&mut disk, &paths.wal_dir, &name, &buffer)?;
        let segment = Segment {
            seq: 0,
            path,
            bytes: buffer.len() as u64,
        };
        let storage = Storage {
            disk,
            _lock: lock,
            options,
            wal_dir: paths.wal_dir,
            snap_dir: paths.snap_dir,
            metadata: paths.metadata,
            incarnation: 1,
            segments: vec![segment],
            file,
            crc,
            next_index: 1,
            snapshots_named: Vec::new(),
            snap_files,
            buffer: Vec::new(),
            stopped: false,
        };
        let recovered = Recovered {
            persisted: PersistedState::default(),
            incarnation: 1,
            metadata: None,
            warnings: Vec::new(),
        };
        Ok((storage, recovered))
    }

    /// Go on from a WAL read back: finish what a crash interrupted, load the snapshot, and
    /// record this start.
    fn resume(
        mut disk: D,
        lock: D::Lock,
        paths: Paths,
        options: StorageOptions,
        snap_files: BTreeMap<String, u64>,
        replay: Replay,
    ) -> Result<(Storage<D>, Recovered), StorageError> {
        let Replay {
            mut state,
            metadata,
            segments,
            crc,
            warnings,
            stale,
        } = replay;
        for path in &stale {
            remove_if_present(&mut disk, path)?;
        }
        let snapshot = match &state.snapshot {
            Some(record) => Some(snap::load(&mut disk, &paths.snap_dir, record)?),
            None => None,
        };
        let current = &segments.last().expect("a replayed WAL has a segment").path;
        let file = disk
            .open_append(current)
            .map_err(|e| StorageError::io("open", current, e))?;
        let incarnation = state.incarnation + 1;
        let mut storage = Storage {
            disk,
            _lock: lock,
            options,
            wal_dir: paths.wal_dir,
            snap_dir: paths.snap_dir,
            metadata: metadata.unwrap_or(paths.metadata),
            incarnation,
            segments,
            file,
            crc,
            next_index: state.next_index(),
            snapshots_named: std::mem::take(&mut state.snapshots_named),
            snap_files,
            buffer: Vec::new(),
            stopped: false,
        };
        storage.append(|write| write.push(&Record::Boot { incarnation }))?;
        storage.release_snap_files()?;
        let recovered = Recovered {
            persisted: state.into_persisted(snapshot),
            incarnation,
            metadata,
            warnings,
        };
        Ok((storage, recovered))
    }

    /// Write batches in token order (snapshot first, then entries, then hard state, as
    /// PersistBatch documents) and fsync once for all of them (group commit). Returns only
    /// when everything is durable. An error means nothing is known to be durable: the caller
    /// stops the process (fail-stop); the storage must not be used again after an error.
    ///
    /// The entries of each batch are contiguous (as the core makes them); a batch whose are not
    /// is a programmer error and panics. A snapshot is known by its term and index, as its file
    /// is named: one persisted again under the same pair replaces the file before its WAL record
    /// is durable, so a crash in between recovers the new data (Raft makes the state at an index
    /// the same on every member, so the two hold the same state).
    pub fn write(&mut self, batches: &[PersistBatch]) -> Result<(), StorageError> {
        self.guarded(|storage| storage.write_batches(batches))
    }

    /// Rewrite the WAL compactly (etcd's defragment; also done after a snapshot once the WAL
    /// holds [`StorageOptions::compact_wal_bytes_min`]): a fresh base segment holding the newest
    /// snapshot's record, the entries after it, the hard state and this start, then release the
    /// older segments and snapshot files (unless every one is kept). A crash at any step recovers the same state: until the
    /// new segment is whole and named, recovery ignores it; after, recovery ignores the old ones.
    pub fn compact(&mut self) -> Result<(), StorageError> {
        self.guarded(Storage::compact_now)
    }

    /// Bytes the data dir holds (WAL segments plus snapshot files), for metrics and Status.
    pub fn size_bytes(&self) -> u64 {
        self.wal_bytes() + self.snap_files.values().sum::<u64>()
    }

    /// This start of the member.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The member and cluster this data dir belongs to.
    pub fn metadata(&self) -> Metadata {
        self.metadata
    }

    fn wal_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Run `operation` unless an earlier one failed; if it fails, refuse every later one.
    fn guarded(
        &mut self,
        operation: impl FnOnce(&mut Storage<D>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        if self.stopped {
            return Err(StorageError::Stopped);
        }
        let result = operation(self);
        self.stopped = result.is_err();
        result
    }

    fn write_batches(&mut self, batches: &[PersistBatch]) -> Result<(), StorageError> {
        if batches.iter().all(PersistBatch::is_empty) {
            return Ok(());
        }
        // Snap files first: each must be durable before the WAL record that names it.
        let mut wrote_snapshot = false;
        for snapshot in batches.iter().filter_map(|b| b.snapshot.as_ref()) {
            let (name, bytes) = snap::write(&mut self.disk, &self.snap_dir, snapshot)?;
            self.snap_files.insert(name, bytes);
            wrote_snapshot = true;
        }
        if self.current().bytes >= self.options.segment_bytes_max {
            self.cut()?;
        }
        self.append(|write| {
            for batch in batches {
                write.batch(batch);
            }
        })?;
        for batch in batches {
            if let Some(snapshot) = &batch.snapshot {
                let name = (snapshot.term, snapshot.index);
                self.snapshots_named.retain(|named| *named != name);
                self.snapshots_named.push(name);
                self.next_index = self.next_index.max(snapshot.index + 1);
            }
            if let Some(last) = batch.entries.last() {
                self.next_index = last.index + 1;
            }
        }
        if !wrote_snapshot {
            Ok(())
        } else if self.wal_bytes() >= self.options.compact_wal_bytes_min {
            self.compact_now()
        } else {
            self.release_snap_files()
        }
    }

    /// Append one write to the current segment, its records given by `fill`, closed by a commit:
    /// one write call and one fsync.
    fn append(&mut self, fill: impl FnOnce(&mut WriteBuffer<'_>)) -> Result<(), StorageError> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let mut write = WriteBuffer::new(&mut buffer, self.crc);
        fill(&mut write);
        let crc = write.finish();
        let segment = self.segments.last_mut().expect("a storage has a segment");
        self.disk
            .write(&mut self.file, &buffer)
            .map_err(|e| StorageError::io_at("write", &segment.path, segment.bytes, e))?;
        self.disk
            .sync_file(&mut self.file)
            .map_err(|e| StorageError::io("fsync", &segment.path, e))?;
        segment.bytes += buffer.len() as u64;
        self.crc = crc;
        if buffer.capacity() <= BUFFER_KEPT_BYTES_MAX {
            self.buffer = buffer;
        }
        Ok(())
    }

    fn current(&self) -> &Segment {
        self.segments.last().expect("a storage has a segment")
    }

    /// Start a new segment, born whole with its header.
    fn cut(&mut self) -> Result<(), StorageError> {
        let seq = self.current().seq + 1;
        let mut head = Vec::new();
        let mut crc = self.crc;
        encode_segment_head(&mut head, &mut crc, self.crc, false, self.metadata);
        let name = wal::file_name(seq, self.next_index);
        let (path, file) = wal::create_segment(&mut self.disk, &self.wal_dir, &name, &head)?;
        self.segments.push(Segment {
            seq,
            path,
            bytes: head.len() as u64,
        });
        self.file = file;
        self.crc = crc;
        Ok(())
    }

    fn compact_now(&mut self) -> Result<(), StorageError> {
        // Read the state back from the disk rather than keep a second copy of the log in memory;
        // it also checks that what was written reads back.
        let replay = wal::replay(&mut self.disk, &self.wal_dir, Tail::Refuse)?;
        let replay = replay
            .filter(|replay| replay.crc == self.crc)
            .ok_or_else(|| StorageError::BadLayout {
                path: self.current().path.clone(),
                reason: "the WAL read back does not end where it was written".into(),
            })?;
        let state = replay.state;
        let seq = self.current().seq + 1;
        let first_index = state
            .entries
            .first()
            .map_or(state.next_index(), |e| e.index);
        let mut buffer = Vec::new();
        let mut crc = self.crc;
        encode_segment_head(&mut buffer, &mut crc, self.crc, true, self.metadata);
        let mut write = WriteBuffer::new(&mut buffer, crc);
        write.state(&state);
        let crc = write.finish();
        let name = wal::file_name(seq, first_index);
        let (path, file) = wal::create_segment(&mut self.disk, &self.wal_dir, &name, &buffer)?;
        // The new base is durable and named: from here on recovery ignores the old segments.
        let new = Segment {
            seq,
            path,
            bytes: buffer.len() as u64,
        };
        let old = std::mem::replace(&mut self.segments, vec![new]);
        self.file = file;
        self.crc = crc;
        for segment in &old {
            remove_if_present(&mut self.disk, &segment.path)?;
        }
        self.snapshots_named = state
            .snapshot
            .as_ref()
            .map(|s| vec![(s.term, s.index)])
            .unwrap_or_default();
        self.release_snap_files()
    }

    /// Remove the snap files that no longer matter: all but the newest few the WAL names.
    fn release_snap_files(&mut self) -> Result<(), StorageError> {
        let kept = self.options.snap_files_kept;
        if kept == 0 {
            return Ok(());
        }
        let keep: Vec<String> = (self.snapshots_named.iter().rev().take(kept))
            .map(|(term, index)| snap::file_name(*term, *index))
            .collect();
        let released: Vec<String> = (self.snap_files.keys())
            .filter(|name| !keep.contains(name))
            .cloned()
            .collect();
        for name in released {
            remove_if_present(&mut self.disk, &self.snap_dir.join(&name))?;
            self.snap_files.remove(&name);
        }
        Ok(())
    }
}

/// Where a storage lives, and the metadata it was opened with.
struct Paths {
    wal_dir: PathBuf,
    snap_dir: PathBuf,
    metadata: Metadata,
}
