//! Snapshot files: `member/snap/{term:016x}-{index:016x}.snap`, one per snapshot the WAL names.
//!
//! A file is `crc: u32 LE | meta length: u32 LE | meta | data`, where meta is postcard of
//! (index, term, membership, data length) and `crc` is CRC-32C of everything after it. The data
//! is written raw, not through serde, so a large state machine is copied, not encoded byte by
//! byte. A file is written under a temporary name, synced, renamed and its directory synced
//! before the WAL record that names it is written: a record never names a file that is not whole.

use std::path::Path;

use detcd_core::raft::{Index, Membership, Snapshot, Term};
use serde::{Deserialize, Serialize};

use super::disk::Disk;
use super::error::StorageError;
use super::replay::SnapshotRecord;

const SUFFIX: &str = ".snap";
/// A snap file being written; one left by a crash is removed at the next open.
pub(crate) const TEMPORARY_SUFFIX: &str = ".snap.tmp";

#[derive(Serialize, Deserialize)]
struct Meta {
    index: Index,
    term: Term,
    membership: Membership,
    data_bytes: u64,
}

pub(crate) fn file_name(term: Term, index: Index) -> String {
    format!("{term:016x}-{index:016x}{SUFFIX}")
}

/// Whether `name` is a snap file's (not a temporary one's).
pub(crate) fn is_snap_file(name: &str) -> bool {
    name.strip_suffix(SUFFIX)
        .and_then(|stem| stem.split_once('-'))
        .is_some_and(|(term, index)| is_hex16(term) && is_hex16(index))
}

pub(crate) fn is_hex16(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Write `snapshot` durably into `snap_dir`; returns its file name and size.
pub(crate) fn write<D: Disk>(
    disk: &mut D,
    snap_dir: &Path,
    snapshot: &Snapshot,
) -> Result<(String, u64), StorageError> {
    let meta = postcard::to_stdvec(&Meta {
        index: snapshot.index,
        term: snapshot.term,
        membership: snapshot.membership.clone(),
        data_bytes: snapshot.data.len() as u64,
    })
    .expect("a snapshot's meta always encodes");
    let meta_bytes = u32::try_from(meta.len()).expect("a membership is smaller than 4 GiB");
    let mut head = Vec::with_capacity(8 + meta.len());
    head.extend_from_slice(&[0; 4]);
    head.extend_from_slice(&meta_bytes.to_le_bytes());
    head.extend_from_slice(&meta);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head[4..]), &snapshot.data);
    head[0..4].copy_from_slice(&crc.to_le_bytes());

    let name = file_name(snapshot.term, snapshot.index);
    let path = snap_dir.join(&name);
    let temporary = snap_dir.join(format!(
        "{}{TEMPORARY_SUFFIX}",
        name.trim_end_matches(SUFFIX)
    ));
    let mut file = disk
        .create(&temporary)
        .map_err(|e| StorageError::io("create", &temporary, e))?;
    disk.write(&mut file, &head)
        .map_err(|e| StorageError::io_at("write", &temporary, 0, e))?;
    disk.write(&mut file, &snapshot.data)
        .map_err(|e| StorageError::io_at("write", &temporary, head.len() as u64, e))?;
    disk.sync_file(&mut file)
        .map_err(|e| StorageError::io("fsync", &temporary, e))?;
    drop(file);
    disk.rename(&temporary, &path)
        .map_err(|e| StorageError::io("rename into", &path, e))?;
    disk.sync_dir(snap_dir)
        .map_err(|e| StorageError::io("fsync directory", snap_dir, e))?;
    Ok((name, (head.len() + snapshot.data.len()) as u64))
}

/// Read the snapshot `record` names, checking it against its CRC and against the record.
pub(crate) fn load<D: Disk>(
    disk: &mut D,
    snap_dir: &Path,
    record: &SnapshotRecord,
) -> Result<Snapshot, StorageError> {
    let path = snap_dir.join(file_name(record.term, record.index));
    let bad = |reason: String| StorageError::BadSnapshot {
        path: path.clone(),
        named_in: record.named_in.clone(),
        named_at: record.named_at,
        reason,
    };
    let bytes = match disk.read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad("the file is missing".into()));
        }
        Err(e) => return Err(StorageError::io("read", &path, e)),
    };
    let snapshot = decode(&bytes).map_err(bad)?;
    let named = (record.index, record.term, &record.membership);
    if (snapshot.index, snapshot.term, &snapshot.membership) != named {
        return Err(bad(format!(
            "the file holds the snapshot at index {} term {}, not the one the WAL names",
            snapshot.index, snapshot.term
        )));
    }
    Ok(snapshot)
}

fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
    if bytes.len() < 8 {
        return Err(format!("{} bytes, shorter than a header", bytes.len()));
    }
    let stored = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if crc32c::crc32c(&bytes[4..]) != stored {
        return Err("checksum mismatch".into());
    }
    let meta_bytes = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let rest = &bytes[8..];
    if meta_bytes > rest.len() {
        return Err("the header runs past the end of the file".into());
    }
    let meta: Meta = postcard::from_bytes(&rest[..meta_bytes])
        .map_err(|e| format!("undecodable header: {e}"))?;
    let data = &rest[meta_bytes..];
    if meta.data_bytes != data.len() as u64 {
        return Err(format!(
            "{} bytes of data where the header says {}",
            data.len(),
            meta.data_bytes
        ));
    }
    Ok(Snapshot {
        index: meta.index,
        term: meta.term,
        membership: meta.membership,
        data: data.to_vec(),
    })
}
