//! Writes as records: a write is the records of its batches, each batch in its order
//! (snapshot, entries, hard state), closed by a commit that counts them; a segment opens with
//! its header records.

use std::borrow::Cow;

use detcd_core::raft::{Entry, Index, Membership, PersistBatch, Term};

use super::record::{Metadata, Record, encode};
use super::replay::LogState;

/// The records of one write being encoded: a batch's records in its order, then a commit.
pub(crate) struct WriteBuffer<'b> {
    buffer: &'b mut Vec<u8>,
    crc: u32,
    records: u32,
}

impl<'b> WriteBuffer<'b> {
    pub(crate) fn new(buffer: &'b mut Vec<u8>, crc: u32) -> WriteBuffer<'b> {
        WriteBuffer {
            buffer,
            crc,
            records: 0,
        }
    }

    pub(crate) fn push(&mut self, record: &Record<'_>) {
        encode(self.buffer, &mut self.crc, record);
        self.records += 1;
    }

    pub(crate) fn batch(&mut self, batch: &PersistBatch) {
        assert!(
            batch
                .entries
                .windows(2)
                .all(|p| p[1].index == p[0].index + 1),
            "the entries of persist batch {:?} are not contiguous",
            batch.token
        );
        let snapshot = batch.snapshot.as_ref();
        let point = snapshot.map(|s| (s.index, s.term, &s.membership));
        self.log(point, &batch.entries);
        if let Some(hard_state) = batch.hard_state {
            self.push(&Record::HardState(hard_state));
        }
    }

    /// A snapshot's record (its data lives in its snap file), then the entries after it.
    fn log(&mut self, snapshot: Option<(Index, Term, &Membership)>, entries: &[Entry]) {
        if let Some((index, term, membership)) = snapshot {
            self.push(&Record::Snapshot {
                index,
                term,
                membership: membership.clone(),
            });
        }
        for entry in entries {
            self.push(&Record::Entry {
                index: entry.index,
                term: entry.term,
                kind: entry.kind,
                data: Cow::Borrowed(&entry.data),
            });
        }
    }

    /// A whole state, as a base segment's first write: replayed from nothing it gives `state`.
    pub(crate) fn state(&mut self, state: &LogState) {
        let snapshot = state.snapshot.as_ref();
        let point = snapshot.map(|s| (s.index, s.term, &s.membership));
        self.log(point, &state.entries);
        self.push(&Record::HardState(state.hard_state));
        self.push(&Record::Boot {
            incarnation: state.incarnation,
        });
    }

    /// Close the write; returns the CRC chain's value after it.
    pub(crate) fn finish(mut self) -> u32 {
        let records = self.records;
        encode(self.buffer, &mut self.crc, &Record::Commit { records });
        self.crc
    }
}

/// A segment's header records: where the CRC chain continues from, and whose log this is.
pub(crate) fn encode_segment_head(
    buffer: &mut Vec<u8>,
    crc: &mut u32,
    previous_crc: u32,
    base: bool,
    metadata: Metadata,
) {
    *crc = previous_crc;
    encode(buffer, crc, &Record::SegmentStart { previous_crc, base });
    encode(buffer, crc, &Record::Metadata(metadata));
}
