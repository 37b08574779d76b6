//! The run's trace: every send, delivery, drop, disk write, fault and client exchange, as
//! structured events.
//!
//! Events can be hashed (a running [`TraceHash`] over each event's postcard encoding, so two
//! runs are compared by one number), kept in memory, written as JSON lines, and logged through `tracing`
//! at debug level. All of that is optional: when nothing consumes the trace, the world does not
//! even build the events, so benchmarks pay nothing for it.

use std::fmt::Debug;
use std::io::{self, Write};

use detcd_core::{ClientId, Instant, NodeId, PersistToken, RequestId};
use serde::{Deserialize, Serialize};

use crate::disk::{StorageFailure, TornWrite};
use crate::network::DropReason;

/// One thing that happened, at true (simulated) time `time`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent<Message, Request, Response> {
    pub time: Instant,
    pub kind: TraceKind<Message, Request, Response>,
}

/// What happened. Messages are numbered by the network; a delivery or drop names the number,
/// and the payload is recorded once, at send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TraceKind<Message, Request, Response> {
    /// A node started (incarnation 1) or restarted from its durable state.
    Boot {
        node: NodeId,
        incarnation: u32,
    },
    Send {
        from: NodeId,
        to: NodeId,
        id: u64,
        deliver_at: Instant,
        message: Message,
    },
    /// The network made a second copy of message `of`.
    Duplicate {
        from: NodeId,
        to: NodeId,
        id: u64,
        of: u64,
        deliver_at: Instant,
    },
    Deliver {
        from: NodeId,
        to: NodeId,
        id: u64,
    },
    Drop {
        from: NodeId,
        to: NodeId,
        id: u64,
        reason: DropReason,
    },
    /// A node's timer fired; `local` is the node's own clock reading.
    Timeout {
        node: NodeId,
        local: Instant,
    },
    ClientRequest {
        node: NodeId,
        client: ClientId,
        request: RequestId,
        body: Request,
    },
    ClientRequestDelivered {
        node: NodeId,
        client: ClientId,
        request: RequestId,
    },
    ClientRequestDropped {
        node: NodeId,
        client: ClientId,
        request: RequestId,
        reason: DropReason,
    },
    /// A response reached its client.
    ClientResponse {
        node: NodeId,
        client: ClientId,
        request: RequestId,
        body: Response,
    },
    PersistStart {
        node: NodeId,
        token: PersistToken,
        bytes: u64,
        complete_at: Instant,
    },
    PersistComplete {
        node: NodeId,
        token: PersistToken,
    },
    StorageFailure {
        node: NodeId,
        failure: StorageFailure,
    },
    Crash {
        node: NodeId,
        batches_lost: u64,
        torn: Option<TornWrite>,
    },
    Pause {
        node: NodeId,
        until: Instant,
    },
    Resume {
        node: NodeId,
        inputs_queued: u64,
    },
    Partition {
        cut: Vec<(NodeId, NodeId)>,
    },
    Heal,
    Clog {
        from: NodeId,
        to: NodeId,
        until: Instant,
    },
    DiskStall {
        node: NodeId,
        until: Instant,
    },
    DiskFull {
        node: NodeId,
        full: bool,
    },
    DiskCorrupted {
        node: NodeId,
    },
    FsyncErrorArmed {
        node: NodeId,
    },
    ClockDrift {
        node: NodeId,
        rate_ppm: i64,
    },
    ClockStep {
        node: NodeId,
        by_nanos: u64,
        local: Instant,
    },
    /// Every client connection to the node closed (the node was told of those it had heard
    /// from); requests and answers still on them are lost, and clients reconnect afresh.
    ConnectionsClosed {
        node: NodeId,
        clients: Vec<ClientId>,
    },
}

impl<Message: Clone, Request: Clone, Response: Clone> TraceKind<&Message, &Request, &Response> {
    /// The same event owning copies of its payloads.
    pub fn cloned(self) -> TraceKind<Message, Request, Response> {
        use TraceKind::*;
        match self {
            Boot { node, incarnation } => Boot { node, incarnation },
            Send {
                from,
                to,
                id,
                deliver_at,
                message,
            } => Send {
                from,
                to,
                id,
                deliver_at,
                message: message.clone(),
            },
            Duplicate {
                from,
                to,
                id,
                of,
                deliver_at,
            } => Duplicate {
                from,
                to,
                id,
                of,
                deliver_at,
            },
            Deliver { from, to, id } => Deliver { from, to, id },
            Drop {
                from,
                to,
                id,
                reason,
            } => Drop {
                from,
                to,
                id,
                reason,
            },
            Timeout { node, local } => Timeout { node, local },
            ClientRequest {
                node,
                client,
                request,
                body,
            } => ClientRequest {
                node,
                client,
                request,
                body: body.clone(),
            },
            ClientRequestDelivered {
                node,
                client,
                request,
            } => ClientRequestDelivered {
                node,
                client,
                request,
            },
            ClientRequestDropped {
                node,
                client,
                request,
                reason,
            } => ClientRequestDropped {
                node,
                client,
                request,
                reason,
            },
            ClientResponse {
                node,
                client,
                request,
                body,
            } => ClientResponse {
                node,
                client,
                request,
                body: body.clone(),
            },
            PersistStart {
                node,
                token,
                bytes,
                complete_at,
            } => PersistStart {
                node,
                token,
                bytes,
                complete_at,
            },
            PersistComplete { node, token } => PersistComplete { node, token },
            StorageFailure { node, failure } => StorageFailure { node, failure },
            ConnectionsClosed { node, clients } => ConnectionsClosed { node, clients },
            Crash {
                node,
                batches_lost,
                torn,
            } => Crash {
                node,
                batches_lost,
                torn,
            },
            Pause { node, until } => Pause { node, until },
            Resume {
                node,
                inputs_queued,
            } => Resume {
                node,
                inputs_queued,
            },
            Partition { cut } => Partition { cut },
            Heal => Heal,
            Clog { from, to, until } => Clog { from, to, until },
            DiskStall { node, until } => DiskStall { node, until },
            DiskFull { node, full } => DiskFull { node, full },
            DiskCorrupted { node } => DiskCorrupted { node },
            FsyncErrorArmed { node } => FsyncErrorArmed { node },
            ClockDrift { node, rate_ppm } => ClockDrift { node, rate_ppm },
            ClockStep {
                node,
                by_nanos,
                local,
            } => ClockStep {
                node,
                by_nanos,
                local,
            },
        }
    }
}

/// 64-bit FNV-1a: a fixed, documented hash, identical on every platform and Rust version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(pub u64);

impl Fnv1a {
    pub const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub fn new() -> Fnv1a {
        Fnv1a(Fnv1a::OFFSET_BASIS)
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

impl Extend<u8> for Fnv1a {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(Fnv1a::PRIME);
        }
    }
}

/// The running hash of a trace: each event's postcard encoding folded in 64-bit little-endian
/// words (the last one zero-padded), then its length, by `h = (h.rotate_left(5) ^ word) * K`.
/// Each fold is a bijection of `h`, so a single differing word always changes the result. It is
/// fixed and documented, identical on every platform and Rust version, and takes a word per
/// multiply where byte-wise FNV-1a took a byte. Events are hashed as they are encoded (a postcard
/// flavor that folds instead of storing): the trace hash runs on every event of every run, and nothing is buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(pub u64);

impl TraceHash {
    pub const SEED: u64 = Fnv1a::OFFSET_BASIS;
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new() -> TraceHash {
        TraceHash(TraceHash::SEED)
    }

    fn fold(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(TraceHash::K);
    }

    /// Fold in one record (one event's encoding).
    pub fn write_record(&mut self, bytes: &[u8]) {
        let mut flavor = HashFlavor::new(*self);
        flavor.write(bytes);
        *self = flavor.finish();
    }

    /// Fold in one event, encoded with postcard as it goes.
    pub fn write_event<T: Serialize>(&mut self, event: &T) {
        *self = postcard::serialize_with_flavor(event, HashFlavor::new(*self))
            .expect("trace events always encode");
    }
}

/// A postcard output that folds the bytes into a [`TraceHash`] a word at a time instead of
/// storing them.
#[derive(Debug)]
struct HashFlavor {
    hash: TraceHash,
    /// Bytes not yet folded, little-endian, `pending_len` of them.
    pending: u64,
    pending_len: u32,
    len: u64,
}

impl HashFlavor {
    fn new(hash: TraceHash) -> HashFlavor {
        HashFlavor {
            hash,
            pending: 0,
            pending_len: 0,
            len: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        self.pending |= u64::from(byte) << (8 * self.pending_len);
        self.pending_len += 1;
        self.len += 1;
        if self.pending_len == 8 {
            self.hash.fold(self.pending);
            self.pending = 0;
            self.pending_len = 0;
        }
    }

    fn write(&mut self, mut bytes: &[u8]) {
        while self.pending_len != 0 && !bytes.is_empty() {
            self.push(bytes[0]);
            bytes = &bytes[1..];
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.hash
                .fold(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        self.len += (bytes.len() - words.remainder().len()) as u64;
        for &byte in words.remainder() {
            self.push(byte);
        }
    }

    fn finish(mut self) -> TraceHash {
        if self.pending_len != 0 {
            self.hash.fold(self.pending);
        }
        self.hash.fold(self.len);
        self.hash
    }
}

impl postcard::ser_flavors::Flavor for HashFlavor {
    type Output = TraceHash;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.write(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<TraceHash> {
        Ok(self.finish())
    }
}

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash::new()
    }
}

/// Where the trace goes. The default hashes only.
pub struct TraceSettings {
    pub hash: bool,
    pub keep_in_memory: bool,
    /// Write each event as one JSON line.
    pub writer: Option<Box<dyn Write>>,
}

impl Debug for TraceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSettings")
            .field("hash", &self.hash)
            .field("keep_in_memory", &self.keep_in_memory)
            .field("writer", &self.writer.is_some())
            .finish()
    }
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings::hash_only()
    }
}

impl TraceSettings {
    /// Nothing recorded, nothing built (benchmarks). `tracing` still gets events if enabled.
    pub fn off() -> TraceSettings {
        TraceSettings {
            hash: false,
            keep_in_memory: false,
            writer: None,
        }
    }

    /// Only the running hash, for determinism audits.
    pub fn hash_only() -> TraceSettings {
        TraceSettings {
            hash: true,
            keep_in_memory: false,
            writer: None,
        }
    }

    /// The hash and every event in memory.
    pub fn in_memory() -> TraceSettings {
        TraceSettings {
            hash: true,
            keep_in_memory: true,
            writer: None,
        }
    }

    /// The hash, and every event written to `writer` as a JSON line.
    pub fn to_writer(writer: Box<dyn Write>) -> TraceSettings {
        TraceSettings {
            hash: true,
            keep_in_memory: false,
            writer: Some(writer),
        }
    }
}

/// Records trace events according to its settings.
pub(crate) struct Tracer<Message, Request, Response> {
    settings: TraceSettings,
    /// Whether `tracing` wants debug events from this crate; sampled when settings change.
    log: bool,
    hash: TraceHash,
    recorded_count: u64,
    kept: Vec<TraceEvent<Message, Request, Response>>,
    /// The first error writing the trace; later events are not written.
    write_error: Option<io::Error>,
}

impl<Message, Request, Response> Debug for Tracer<Message, Request, Response> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("settings", &self.settings)
            .field("hash", &format_args!("{:016x}", self.hash.0))
            .field("recorded_count", &self.recorded_count)
            .finish()
    }
}

impl<Message, Request, Response> Tracer<Message, Request, Response>
where
    Message: Serialize + Debug + Clone,
    Request: Serialize + Debug + Clone,
    Response: Serialize + Debug + Clone,
{
    pub fn new(settings: TraceSettings) -> Self {
        let log = tracing::enabled!(target: "detcd_sim::trace", tracing::Level::DEBUG);
        Tracer {
            settings,
            log,
            hash: TraceHash::new(),
            recorded_count: 0,
            kept: Vec::new(),
            write_error: None,
        }
    }

    /// True if recording an event has any effect; callers skip building events otherwise.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.log
            || self.settings.hash
            || self.settings.keep_in_memory
            || self.settings.writer.is_some()
    }

    /// Record an event whose payloads are borrowed. A reference serializes exactly as the value
    /// it points to, so the hash and the JSON line are those of the owned event; only a trace
    /// kept in memory pays for copies.
    pub fn record(&mut self, event: TraceEvent<&Message, &Request, &Response>) {
        self.recorded_count += 1;
        if self.settings.hash {
            self.hash.write_event(&event);
        }
        if self.log {
            tracing::debug!(target: "detcd_sim::trace", time = %event.time, kind = ?event.kind);
        }
        if let Some(writer) = self.settings.writer.as_mut()
            && self.write_error.is_none()
        {
            let written = serde_json::to_writer(&mut *writer, &event)
                .map_err(io::Error::from)
                .and_then(|()| writer.write_all(b"\n"));
            self.write_error = written.err();
        }
        if self.settings.keep_in_memory {
            self.kept.push(TraceEvent {
                time: event.time,
                kind: event.kind.cloned(),
            });
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash.0
    }

    pub fn recorded_count(&self) -> u64 {
        self.recorded_count
    }

    pub fn kept(&self) -> &[TraceEvent<Message, Request, Response>] {
        &self.kept
    }

    /// Flush the writer and report the first write error, if any.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(error) = self.write_error.take() {
            return Err(error);
        }
        match self.settings.writer.as_mut() {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // FNV-1a matches its published test vectors, so hashes are comparable across builds.
    #[test]
    fn fnv1a_matches_reference_vectors() {
        let mut empty = Fnv1a::new();
        empty.extend([]);
        assert_eq!(empty.0, 0xcbf2_9ce4_8422_2325);
        let mut a = Fnv1a::new();
        a.extend(*b"a");
        assert_eq!(a.0, 0xaf63_dc4c_8601_ec8c);
        let mut foobar = Fnv1a::new();
        foobar.extend(*b"foobar");
        assert_eq!(foobar.0, 0x8594_4171_f739_67e8);
    }

    // One differing byte anywhere in a record, or a different split into records, changes the
    // trace hash.
    #[test]
    fn trace_hash_tells_records_apart() {
        let hash = |records: &[&[u8]]| {
            let mut hash = TraceHash::new();
            records.iter().for_each(|record| hash.write_record(record));
            hash.0
        };
        let base = hash(&[b"0123456789abcdefXY"]);
        assert_ne!(base, hash(&[b"0123456789abcdefXZ"]));
        assert_ne!(base, hash(&[b"1123456789abcdefXY"]));
        assert_ne!(base, hash(&[b"0123456789abcdefXY\0"]));
        assert_ne!(base, hash(&[b"0123456789abcdef", b"XY"]));
        assert_eq!(base, hash(&[b"0123456789abcdefXY"]));
    }

    // Hashing an event as it is encoded gives the hash of its encoding, however postcard splits
    // the bytes between pushes and slices.
    #[test]
    fn streamed_hash_is_the_hash_of_the_encoding() {
        let event: TraceEvent<Vec<u8>, (), ()> = TraceEvent {
            time: Instant::from_millis(3),
            kind: TraceKind::Send {
                from: 1,
                to: 70_000,
                id: 9,
                deliver_at: Instant::from_millis(5),
                message: (0..=40).collect(),
            },
        };
        let mut streamed = TraceHash::new();
        streamed.write_event(&event);
        let mut whole = TraceHash::new();
        whole.write_record(&postcard::to_allocvec(&event).expect("encodes"));
        assert_eq!(streamed, whole);
    }

    // A trace written as JSON lines reads back as the same events.
    #[test]
    fn json_lines_round_trip() {
        let event: TraceEvent<u8, (), ()> = TraceEvent {
            time: Instant::from_millis(3),
            kind: TraceKind::Send {
                from: 1,
                to: 2,
                id: 9,
                deliver_at: Instant::from_millis(5),
                message: 7,
            },
        };
        let line = serde_json::to_string(&event).expect("encodes");
        let back: TraceEvent<u8, (), ()> = serde_json::from_str(&line).expect("decodes");
        assert_eq!(back, event);
    }
}
