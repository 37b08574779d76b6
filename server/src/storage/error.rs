//! What can go wrong in the storage, said for operators: which file, where, and why.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A storage failure. Every one is fatal to the member (fail-stop): after it, nothing written is
/// known to be durable, and the [`super::Storage`] refuses further use.
#[derive(Debug)]
pub enum StorageError {
    /// A file operation failed.
    Io {
        /// What was being done: "write", "fsync", "rename into", ...
        operation: &'static str,
        path: PathBuf,
        /// Where in the file, when it applies.
        offset: Option<u64>,
        source: io::Error,
    },
    /// A WAL segment holds bytes that are not a valid record, somewhere a crash cannot have torn.
    CorruptWal {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The snapshot file that the recovered log starts from is missing or does not check.
    BadSnapshot {
        path: PathBuf,
        /// The WAL segment and offset of the record that names it.
        named_in: PathBuf,
        named_at: u64,
        reason: String,
    },
    /// The WAL's segments do not form one log (a gap in their sequence, a name used twice).
    BadLayout { path: PathBuf, reason: String },
    /// An earlier call failed: the storage must not be used again (see [`super::Storage::write`]).
    Stopped,
}

impl StorageError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> StorageError {
        StorageError::Io {
            operation,
            path: path.into(),
            offset: None,
            source,
        }
    }

    pub(crate) fn io_at(
        operation: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
        source: io::Error,
    ) -> StorageError {
        StorageError::Io {
            operation,
            path: path.into(),
            offset: Some(offset),
            source,
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io {
                operation,
                path,
                offset: None,
                source,
            } => write!(f, "cannot {operation} {}: {source}", path.display()),
            StorageError::Io {
                operation,
                path,
                offset: Some(offset),
                source,
            } => write!(
                f,
                "cannot {operation} {} at offset {offset}: {source}",
                path.display()
            ),
            StorageError::CorruptWal {
                path,
                offset,
                reason,
            } => write!(
                f,
                "corrupt WAL record in {} at offset {offset}: {reason}",
                path.display()
            ),
            StorageError::BadSnapshot {
                path,
                named_in,
                named_at,
                reason,
            } => write!(
                f,
                "bad snapshot file {} (named by the WAL record in {} at offset {named_at}): {reason}",
                path.display(),
                named_in.display()
            ),
            StorageError::BadLayout { path, reason } => {
                write!(f, "bad WAL layout at {}: {reason}", path.display())
            }
            StorageError::Stopped => {
                f.write_str("storage stopped after an earlier failure; restart the member")
            }
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
