//! WAL segments: `member/wal/{seq:016x}-{index:016x}.wal`, read back into a [`LogState`].
//!
//! `seq` numbers segments from 0 without gaps; `index` is the log index the segment's first entry
//! was expected to take (as etcd names them; only `seq` matters to recovery). Every segment is
//! born whole: its header records (and, for a base segment, its first write) are written under a
//! temporary name, synced, and renamed into place. So only a write appended later can be torn,
//! and only at the tail of the last segment.

use std::path::{Path, PathBuf};

use super::disk::Disk;
use super::error::StorageError;
use super::record::{Defect, HEADER_BYTES, Metadata, Read, Record, RecordReader};
use super::replay::LogState;
use super::snap::is_hex16;

const SUFFIX: &str = ".wal";
/// A segment being born; one left by a crash is removed at the next open.
const TEMPORARY_SUFFIX: &str = ".wal.tmp";
/// Enough bytes to hold a segment's first record, [`Record::SegmentStart`].
const SEGMENT_START_BYTES_MAX: u64 = 32;

pub(crate) fn file_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}{SUFFIX}")
}

fn parse_name(name: &str) -> Option<u64> {
    let (seq, index) = name.strip_suffix(SUFFIX)?.split_once('-')?;
    if !is_hex16(seq) || !is_hex16(index) {
        return None;
    }
    u64::from_str_radix(seq, 16).ok()
}

/// A live segment.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    pub seq: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// What to do with a torn write at the tail of the last segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Truncate it away, with a warning (recovery after a crash).
    Truncate,
    /// Refuse it: everything was synced, so nothing can be torn (reading back while running).
    Refuse,
}

/// A WAL read back.
#[derive(Debug)]
pub(crate) struct Replay {
    pub state: LogState,
    pub metadata: Option<Metadata>,
    /// The segments from the newest base segment on, in order, with their lengths after any
    /// truncation.
    pub segments: Vec<Segment>,
    /// The CRC chain's value at the end of the last segment.
    pub crc: u32,
    pub warnings: Vec<String>,
    /// Files a finished write has no use for: segments before the base (left by a compaction a
    /// crash interrupted) and temporary files. Removing them is safe once recovery succeeded.
    pub stale: Vec<PathBuf>,
}

/// Read the WAL in `wal_dir`; `None` when it holds no segment (a new member).
pub(crate) fn replay<D: Disk>(
    disk: &mut D,
    wal_dir: &Path,
    tail: Tail,
) -> Result<Option<Replay>, StorageError> {
    let (all, mut stale) = list(disk, wal_dir)?;
    if all.is_empty() {
        return Ok(None);
    }
    let base = find_base(disk, &all)?;
    stale.extend(all[..base].iter().map(|s| s.path.clone()));
    let mut live = all[base..].to_vec();
    for pair in live.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(StorageError::BadLayout {
                path: pair[1].path.clone(),
                reason: format!(
                    "segment {:016x} follows segment {:016x}: a segment is missing",
                    pair[1].seq, pair[0].seq
                ),
            });
        }
    }
    let mut replay = Replay {
        state: LogState::default(),
        metadata: None,
        segments: Vec::new(),
        crc: 0,
        warnings: Vec::new(),
        stale,
    };
    let last = live.len() - 1;
    for (position, segment) in live.iter_mut().enumerate() {
        let tail = if position == last { tail } else { Tail::Refuse };
        let chain = (position > 0).then_some(replay.crc);
        read_segment(disk, segment, chain, position == 0, tail, &mut replay)?;
    }
    replay.segments = live;
    Ok(Some(replay))
}

/// The segments in `wal_dir` by sequence, and the temporary files there.
fn list<D: Disk>(
    disk: &mut D,
    wal_dir: &Path,
) -> Result<(Vec<Segment>, Vec<PathBuf>), StorageError> {
    let names = disk
        .list_dir(wal_dir)
        .map_err(|e| StorageError::io("list directory", wal_dir, e))?;
    let mut segments = Vec::new();
    let mut temporary = Vec::new();
    for name in names {
        if name.ends_with(TEMPORARY_SUFFIX) {
            temporary.push(wal_dir.join(name));
        } else if let Some(seq) = parse_name(&name) {
            segments.push(Segment {
                seq,
                path: wal_dir.join(name),
                bytes: 0,
            });
        }
    }
    segments.sort_by_key(|s| s.seq);
    if let Some(pair) = segments.windows(2).find(|p| p[0].seq == p[1].seq) {
        return Err(StorageError::BadLayout {
            path: pair[1].path.clone(),
            reason: format!("two segments have the sequence number {:016x}", pair[0].seq),
        });
    }
    Ok((segments, temporary))
}

/// The position of the newest base segment: where the state starts.
fn find_base<D: Disk>(disk: &mut D, segments: &[Segment]) -> Result<usize, StorageError> {
    for (position, segment) in segments.iter().enumerate().rev() {
        let head = disk
            .read_range(&segment.path, 0, SEGMENT_START_BYTES_MAX)
            .map_err(|e| StorageError::io("read", &segment.path, e))?;
        // A head that does not read is not a base; reading the segment in full says what is
        // wrong with it.
        if let Ok(Some(Read {
            record: Record::SegmentStart { base: true, .. },
            ..
        })) = RecordReader::new(&head).next_record()
        {
            return Ok(position);
        }
    }
    Err(StorageError::BadLayout {
        path: segments[0].path.clone(),
        reason: "no segment starts the log (the first segment, or one compaction wrote)".into(),
    })
}

/// Read one segment into `replay`. `chain` is the previous segment's last CRC, if there is one.
fn read_segment<D: Disk>(
    disk: &mut D,
    segment: &mut Segment,
    chain: Option<u32>,
    is_base: bool,
    tail: Tail,
    replay: &mut Replay,
) -> Result<(), StorageError> {
    let bytes = disk
        .read(&segment.path)
        .map_err(|e| StorageError::io("read", &segment.path, e))?;
    let mut reading = Reading {
        path: &segment.path,
        reader: RecordReader::new(&bytes),
        chain,
        is_base,
        head_read: false,
        floor: None,
        write: Vec::new(),
        clean: (0, 0),
    };
    let end = loop {
        match reading.step(replay) {
            Ok(true) => continue,
            Ok(false) => break None,
            Err(broken) => break Some(broken),
        }
    };
    let Some(Broken { at, defect }) = end else {
        segment.bytes = bytes.len() as u64;
        replay.crc = reading.clean.1;
        return Ok(());
    };
    // Cut before the write the defect is in: a write is durable whole or not at all.
    let point = reading.write.first().map_or(at, |(_, offset)| *offset);
    let below_floor = reading.floor.is_none_or(|floor| point < floor);
    let reason = match tail {
        Tail::Truncate if !below_floor => torn_reason(&bytes, at, &defect),
        _ => None,
    };
    let Some(reason) = reason else {
        return Err(StorageError::CorruptWal {
            path: segment.path.clone(),
            offset: at as u64,
            reason: defect.to_string(),
        });
    };
    disk.truncate(&segment.path, point as u64)
        .map_err(|e| StorageError::io("truncate", &segment.path, e))?;
    replay.warnings.push(format!(
        "torn write at the tail of {}: {reason} at offset {at}; truncated at offset {point}, \
         dropping {} bytes",
        segment.path.display(),
        bytes.len() - point
    ));
    segment.bytes = point as u64;
    replay.crc = reading.clean.1;
    Ok(())
}

/// Where and why a segment stops reading.
struct Broken {
    at: usize,
    defect: Defect,
}

/// One segment being read.
struct Reading<'a> {
    path: &'a Path,
    reader: RecordReader<'a>,
    chain: Option<u32>,
    is_base: bool,
    /// The segment's header (its start and its metadata) has been read.
    head_read: bool,
    /// Below this offset nothing can be torn: the segment's header, and a base segment's first
    /// write, were whole before the segment got its name.
    floor: Option<usize>,
    /// The records of the write not yet closed by its commit, with their offsets.
    write: Vec<(Record<'static>, usize)>,
    /// The end of the last record outside a write, and the CRC chain's value there.
    clean: (usize, u32),
}

impl Reading<'_> {
    /// Read and apply one record: `Ok(false)` at the clean end of the segment.
    fn step(&mut self, replay: &mut Replay) -> Result<bool, Broken> {
        let broken = |at: usize, reason: &str| Broken {
            at,
            defect: Defect::Invalid {
                reason: reason.into(),
            },
        };
        let at = self.reader.offset();
        let read = match self.reader.next_record() {
            Ok(Some(read)) => read,
            Ok(None) if !self.head_read => {
                return Err(broken(at, "the segment ends in its header"));
            }
            Ok(None) if self.floor.is_none() => {
                return Err(broken(at, "the base segment ends before its first write"));
            }
            Ok(None) if self.write.is_empty() => return Ok(false),
            Ok(None) => {
                return Err(Broken {
                    at,
                    defect: Defect::UnclosedWrite,
                });
            }
            Err(defect) => return Err(Broken { at, defect }),
        };
        let (offset, end) = (read.offset, read.end);
        match read.record {
            Record::SegmentStart { previous_crc, .. } => {
                if let Some(chain) = self.chain.filter(|chain| *chain != previous_crc) {
                    let reason = format!(
                        "broken CRC chain: the segment continues from {previous_crc:08x}, the \
                         one before it ended at {chain:08x}"
                    );
                    return Err(broken(offset, &reason));
                }
            }
            Record::Metadata(metadata) if !self.head_read => {
                replay.metadata = Some(metadata);
                self.head_read = true;
                if !self.is_base {
                    self.floor = Some(end);
                }
            }
            _ if !self.head_read => {
                return Err(broken(
                    offset,
                    "the segment header is not followed by metadata",
                ));
            }
            Record::Metadata(_) => return Err(broken(offset, "metadata out of place")),
            Record::Commit { records } => {
                if records as usize != self.write.len() {
                    let reason = format!(
                        "a commit of {records} records closes a write of {}",
                        self.write.len()
                    );
                    return Err(broken(offset, &reason));
                }
                for (record, at) in self.write.drain(..) {
                    replay.state.apply(record, self.path, at as u64);
                }
                self.floor.get_or_insert(end);
            }
            record => self.write.push((record, offset)),
        }
        if self.write.is_empty() {
            self.clean = (end, self.reader.crc().expect("a record was read"));
        }
        Ok(true)
    }
}

/// Whether a defect at `at` in the last segment is what a crash leaves: a write cut short, its
/// bytes missing from some point in the failing record to the end of the file (or read as zeros,
/// as a file extended but not yet written does), with nothing after it.
fn torn_reason(bytes: &[u8], at: usize, defect: &Defect) -> Option<String> {
    let zero_from = |from: usize| bytes[from.min(bytes.len())..].iter().all(|b| *b == 0);
    match defect {
        Defect::UnclosedWrite => Some(defect.to_string()),
        _ if zero_from(at) => Some("all-zero tail".into()),
        Defect::ShortHeader | Defect::PastEnd { .. } => Some(defect.to_string()),
        Defect::LengthCheck if zero_from(at + HEADER_BYTES) => {
            Some("record header cut short".into())
        }
        Defect::Checksum { end } if zero_from(*end) => {
            Some("checksum mismatch in the final record".into())
        }
        _ => None,
    }
}

/// Give birth to segment `name` holding `bytes` (its header records, and for a base segment its
/// first write): written under a temporary name, synced, renamed, and the directory synced.
/// Returns its path, open for appending.
pub(crate) fn create_segment<D: Disk>(
    disk: &mut D,
    wal_dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(PathBuf, D::File), StorageError> {
    let path = wal_dir.join(name);
    let temporary = wal_dir.join(format!(
        "{}{TEMPORARY_SUFFIX}",
        name.trim_end_matches(SUFFIX)
    ));
    let mut file = disk
        .create(&temporary)
        .map_err(|e| StorageError::io("create", &temporary, e))?;
    disk.write(&mut file, bytes)
        .map_err(|e| StorageError::io_at("write", &temporary, 0, e))?;
    disk.sync_file(&mut file)
        .map_err(|e| StorageError::io("fsync", &temporary, e))?;
    drop(file);
    disk.rename(&temporary, &path)
        .map_err(|e| StorageError::io("rename into", &path, e))?;
    disk.sync_dir(wal_dir)
        .map_err(|e| StorageError::io("fsync directory", wal_dir, e))?;
    let file = disk
        .open_append(&path)
        .map_err(|e| StorageError::io("open", &path, e))?;
    Ok((path, file))
}
