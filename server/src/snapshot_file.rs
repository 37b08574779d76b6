//! The file `etcdctl snapshot save` writes from detcd, and `detcd snapshot restore|status` read.
//!
//! etcd streams its bbolt file followed by the SHA-256 of what came before, and etcdctl checks
//! that the size is a multiple of 512 plus 32 (bbolt pages are). detcd's file keeps that shape:
//! a header naming the format and the payload's length, the payload (the key-value store's
//! snapshot), zero padding to a multiple of 512, then the SHA-256 of everything before it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 16] = b"detcd-snapshot\0\x01";
const HEADER_BYTES: usize = MAGIC.len() + 8;
const PAGE_BYTES: usize = 512;
const CHECKSUM_BYTES: usize = 32;

/// What a snapshot file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotContents {
    /// The store's revision when the snapshot was taken.
    pub revision: i64,
    /// The cluster it came from (informative: a restore makes a new cluster).
    pub cluster_id: u64,
    /// The key-value store's snapshot (`detcd_core::kv::KvStore` restores from it).
    pub state: Vec<u8>,
}

/// The bytes of a snapshot file.
pub fn encode(contents: &SnapshotContents) -> Vec<u8> {
    let payload = postcard::to_allocvec(contents).expect("a snapshot encodes");
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len() + PAGE_BYTES + CHECKSUM_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes.resize(bytes.len().next_multiple_of(PAGE_BYTES), 0);
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    bytes
}

/// Read a snapshot file, checking its format and checksum; the error says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<SnapshotContents, String> {
    if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES || bytes.len() % PAGE_BYTES != CHECKSUM_BYTES {
        return Err(format!(
            "not a snapshot file: {} bytes is not a multiple of {PAGE_BYTES} plus a \
             {CHECKSUM_BYTES}-byte checksum",
            bytes.len()
        ));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    if Sha256::digest(body).as_slice() != checksum {
        return Err("snapshot file checksum mismatch: the file is corrupt".into());
    }
    if &body[..MAGIC.len()] != MAGIC {
        return Err(
            "not a detcd snapshot file (an etcd bbolt file cannot be restored by detcd)".into(),
        );
    }
    let length = u64::from_le_bytes(
        body[MAGIC.len()..HEADER_BYTES]
            .try_into()
            .expect("eight bytes"),
    );
    let payload = usize::try_from(length)
        .ok()
        .and_then(|length| body.get(HEADER_BYTES..HEADER_BYTES.checked_add(length)?))
        .ok_or("snapshot file header names more bytes than the file holds")?;
    postcard::from_bytes(payload)
        .map_err(|error| format!("snapshot payload does not decode: {error}"))
}

/// The SHA-256 of a snapshot file's contents, as `snapshot status` shows it (its last 32 bytes).
pub fn checksum(bytes: &[u8]) -> &[u8] {
    &bytes[bytes.len().saturating_sub(CHECKSUM_BYTES)..]
}

#[cfg(test)]
mod tests {
    use super::*;

    // A file round-trips, has the size etcdctl checks for (multiple of 512, plus 32), and any
    // flipped byte is caught by its checksum.
    #[test]
    fn round_trips_and_detects_corruption() {
        let contents = SnapshotContents {
            revision: 42,
            cluster_id: 7,
            state: vec![1, 2, 3, 4, 5],
        };
        let mut bytes = encode(&contents);
        assert_eq!(bytes.len() % 512, 32);
        assert_eq!(decode(&bytes), Ok(contents));
        bytes[20] ^= 1;
        assert!(decode(&bytes).unwrap_err().contains("checksum mismatch"));
        assert!(decode(&[0; 100]).is_err());
    }
}
