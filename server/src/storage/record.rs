//! WAL records: what they hold ([`Record`]) and how they are framed on disk.
//!
//! A record is a 12-byte header and a postcard payload:
//!
//! ```text
//! length: u32 LE | length check: u32 LE = crc32c(length bytes) | crc: u32 LE | payload
//! ```
//!
//! `crc` is CRC-32C (Castagnoli) over the payload, continued from the previous record's `crc`
//! (etcd's rolling CRC), so a record out of place fails its check even when its own bytes are
//! intact. The first record of a segment, [`Record::SegmentStart`], names the value it continues
//! from: the last `crc` of the segment before. The length check tells a torn or zeroed header
//! from a real one before the length is trusted.

use std::borrow::Cow;

use detcd_core::raft::{EntryKind, HardState, Index, Membership, Term};
use serde::{Deserialize, Serialize};

/// Bytes of a record header.
pub(crate) const HEADER_BYTES: usize = 12;

/// Who this log belongs to, written at the start of every segment (etcd's WAL metadata).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub member_id: u64,
    pub cluster_id: u64,
}

/// One WAL record. Postcard encodes the variant by its position: append new kinds at the end.
///
/// A segment is `SegmentStart`, `Metadata`, then writes: each write is records of state
/// (`Snapshot`, `Entry`, `HardState`, `Boot`) closed by a `Commit`. Recovery applies a write only
/// once its `Commit` is read, so a write is durable whole or not at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Record<'a> {
    /// The first record of every segment. `base` marks a segment that holds the whole state from
    /// its start (the first segment, and every one compaction writes): recovery begins at the
    /// newest base segment and ignores the ones before it.
    SegmentStart {
        previous_crc: u32,
        base: bool,
    },
    Metadata(Metadata),
    /// A snapshot was installed or taken; its data is in the snap file `{term}-{index}.snap`,
    /// durable before this record is written.
    Snapshot {
        index: Index,
        term: Term,
        membership: Membership,
    },
    Entry {
        index: Index,
        term: Term,
        kind: EntryKind,
        #[serde(with = "raw_bytes")]
        data: Cow<'a, [u8]>,
    },
    HardState(HardState),
    /// A start of the member: its incarnation (see `detcd_core::node::Boot`).
    Boot {
        incarnation: u64,
    },
    /// Closes a write of `records` records.
    Commit {
        records: u32,
    },
}

/// Append `record` to `buffer`, framed, continuing the CRC chain `crc`.
pub(crate) fn encode(buffer: &mut Vec<u8>, crc: &mut u32, record: &Record<'_>) {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; HEADER_BYTES]);
    postcard::serialize_with_flavor(record, AppendTo(buffer)).expect("a WAL record always encodes");
    let payload = &buffer[start + HEADER_BYTES..];
    let length = u32::try_from(payload.len()).expect("a WAL record is smaller than 4 GiB");
    *crc = crc32c::crc32c_append(*crc, payload);
    let header = &mut buffer[start..start + HEADER_BYTES];
    header[0..4].copy_from_slice(&length.to_le_bytes());
    header[4..8].copy_from_slice(&length_check(length).to_le_bytes());
    header[8..12].copy_from_slice(&crc.to_le_bytes());
}

fn length_check(length: u32) -> u32 {
    crc32c::crc32c(&length.to_le_bytes())
}

/// Why the bytes at some offset are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    /// Fewer than a header's bytes remain.
    ShortHeader,
    /// The header's length does not match its check.
    LengthCheck,
    /// The payload runs past the end of the file.
    PastEnd { length: u32 },
    /// The payload does not match its CRC; the record would end at `end`.
    Checksum { end: usize },
    /// The segment ends inside a write: records with no commit after them.
    UnclosedWrite,
    /// The CRC matches but the payload is not a record we know, or not one allowed here.
    Invalid { reason: String },
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Defect::ShortHeader => f.write_str("incomplete record header"),
            Defect::LengthCheck => f.write_str("record length does not match its check"),
            Defect::PastEnd { length } => {
                write!(f, "record of {length} bytes runs past the end of the file")
            }
            Defect::Checksum { .. } => f.write_str("checksum mismatch"),
            Defect::UnclosedWrite => f.write_str("a write without its commit record"),
            Defect::Invalid { reason } => f.write_str(reason),
        }
    }
}

/// Reads the records of one segment in order, checking each against the CRC chain.
#[derive(Debug)]
pub(crate) struct RecordReader<'b> {
    bytes: &'b [u8],
    offset: usize,
    /// The chain value the next record continues from; `None` before the segment's first record,
    /// which names it.
    crc: Option<u32>,
}

/// A record read, with where it starts and ends in the segment.
#[derive(Debug)]
pub(crate) struct Read {
    pub offset: usize,
    pub end: usize,
    pub record: Record<'static>,
}

impl<'b> RecordReader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> RecordReader<'b> {
        RecordReader {
            bytes,
            offset: 0,
            crc: None,
        }
    }

    /// Where the next record starts.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// The chain value after the last record read.
    pub(crate) fn crc(&self) -> Option<u32> {
        self.crc
    }

    /// The next record, `Ok(None)` at the exact end of the bytes, or what is wrong at
    /// [`RecordReader::offset`]. After an error the reader stays where it is.
    pub(crate) fn next_record(&mut self) -> Result<Option<Read>, Defect> {
        let rest = &self.bytes[self.offset..];
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.len() < HEADER_BYTES {
            return Err(Defect::ShortHeader);
        }
        let word =
            |at: usize| u32::from_le_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        let (length, check, stored_crc) = (word(0), word(4), word(8));
        if check != length_check(length) {
            return Err(Defect::LengthCheck);
        }
        let payload_end = HEADER_BYTES as u64 + u64::from(length);
        if payload_end > rest.len() as u64 {
            return Err(Defect::PastEnd { length });
        }
        let payload = &rest[HEADER_BYTES..payload_end as usize];
        let end = self.offset + payload_end as usize;
        // The first record of a segment names the chain value it continues from; it is read
        // before it is checked, which is safe: decoding never trusts a length it cannot back.
        let decoded = decode(payload);
        let continues_from = match (self.crc, &decoded) {
            (Some(crc), _) => crc,
            (None, Ok(Record::SegmentStart { previous_crc, .. })) => *previous_crc,
            (None, _) => 0,
        };
        let crc = crc32c::crc32c_append(continues_from, payload);
        if crc != stored_crc {
            return Err(Defect::Checksum { end });
        }
        let record = decoded.map_err(|reason| Defect::Invalid { reason })?;
        let first = self.crc.is_none();
        if first != matches!(record, Record::SegmentStart { .. }) {
            let reason = if first {
                "the segment does not begin with a segment header"
            } else {
                "a segment header in the middle of a segment"
            };
            return Err(Defect::Invalid {
                reason: reason.into(),
            });
        }
        let read = Read {
            offset: self.offset,
            end,
            record,
        };
        self.offset = end;
        self.crc = Some(crc);
        Ok(Some(read))
    }
}

fn decode(payload: &[u8]) -> Result<Record<'static>, String> {
    match postcard::take_from_bytes::<Record<'static>>(payload) {
        Ok((record, [])) => Ok(record),
        Ok((_, rest)) => Err(format!("{} bytes after the record", rest.len())),
        Err(error) => Err(format!("undecodable record: {error}")),
    }
}

/// A postcard flavor that appends to a `Vec` we keep (postcard's own ones own theirs).
struct AppendTo<'v>(&'v mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Entry data as one length-prefixed slice, not a sequence of `u8`s: a copy, not a loop.
mod raw_bytes {
    use std::borrow::Cow;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        data: &impl AsRef<[u8]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(data.as_ref())
    }

    pub(super) fn deserialize<'de, 'a, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Cow<'a, [u8]>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor).map(Cow::Owned)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut bytes = Vec::new();
            while let Some(byte) = seq.next_element()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // What `encode` frames, `RecordReader` reads back, chained from the segment header's value.
    #[test]
    fn storage_records_round_trip_through_the_chain() {
        let records = [
            Record::SegmentStart {
                previous_crc: 0xdead_beef,
                base: true,
            },
            Record::Metadata(Metadata {
                member_id: 7,
                cluster_id: 9,
            }),
            Record::Entry {
                index: 3,
                term: 2,
                kind: EntryKind::Normal,
                data: Cow::Borrowed(b"hello"),
            },
            Record::Commit { records: 1 },
        ];
        let (mut buffer, mut crc) = (Vec::new(), 0xdead_beef);
        for record in &records {
            encode(&mut buffer, &mut crc, record);
        }
        let mut reader = RecordReader::new(&buffer);
        for record in &records {
            assert_eq!(&reader.next_record().unwrap().unwrap().record, record);
        }
        assert!(reader.next_record().unwrap().is_none());
        assert_eq!(reader.crc(), Some(crc));
    }

    // An all-zero header is not a record: its length check fails.
    #[test]
    fn storage_zero_header_fails_the_length_check() {
        let zeros = [0u8; 64];
        assert_eq!(
            RecordReader::new(&zeros).next_record().unwrap_err(),
            Defect::LengthCheck
        );
    }
}
