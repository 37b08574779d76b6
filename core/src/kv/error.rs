//! The failures a client can see, with etcd's exact text and gRPC status code.
//!
//! The messages are those of etcd's `api/v3rpc/rpctypes/error.go` (v3.4/v3.5), because etcdctl and
//! etcd's client libraries match on them.

use serde::{Deserialize, Serialize};

use crate::state_machine::ServiceError;

/// The gRPC status code etcd attaches to an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrpcCode {
    InvalidArgument,
    NotFound,
    FailedPrecondition,
    ResourceExhausted,
    OutOfRange,
    Unavailable,
}

/// An expected failure of a request: a value, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvError {
    /// A range, put, delete or compare names the empty key.
    EmptyKey,
    /// `ignore_value` or `ignore_lease` on a key that does not exist.
    KeyNotFound,
    /// `ignore_value` together with a value.
    ValueProvided,
    /// `ignore_lease` together with a lease.
    LeaseProvided,
    /// A txn with more than `max_txn_ops` compares or operations in a branch.
    TooManyOps,
    /// A txn writes one key twice (etcd's `checkIntervals`).
    DuplicateKey,
    /// The revision asked for is at or below the compaction point.
    Compacted,
    /// The revision asked for is later than the store's.
    FutureRevision,
    /// The NOSPACE alarm is raised, so writes that grow the store are refused.
    NoSpace,
    LeaseNotFound,
    LeaseExists,
    LeaseTtlTooLarge,
    /// The encoded request is larger than `max_request_bytes`.
    RequestTooLarge,
    /// A failure of the node rather than of the store (no leader, timeout, ...).
    Service(ServiceError),
}

impl KvError {
    /// etcd's error text.
    pub fn message(&self) -> &str {
        match self {
            KvError::EmptyKey => "etcdserver: key is not provided",
            KvError::KeyNotFound => "etcdserver: key not found",
            KvError::ValueProvided => "etcdserver: value is provided",
            KvError::LeaseProvided => "etcdserver: lease is provided",
            KvError::TooManyOps => "etcdserver: too many operations in txn request",
            KvError::DuplicateKey => "etcdserver: duplicate key given in txn request",
            KvError::Compacted => "etcdserver: mvcc: required revision has been compacted",
            KvError::FutureRevision => "etcdserver: mvcc: required revision is a future revision",
            KvError::NoSpace => "etcdserver: mvcc: database space exceeded",
            KvError::LeaseNotFound => "etcdserver: requested lease not found",
            KvError::LeaseExists => "etcdserver: lease already exists",
            KvError::LeaseTtlTooLarge => "etcdserver: too large lease TTL",
            KvError::RequestTooLarge => "etcdserver: request is too large",
            KvError::Service(error) => error.message(),
        }
    }

    /// The gRPC status code etcd sends with this error.
    pub fn code(&self) -> GrpcCode {
        match self {
            KvError::EmptyKey
            | KvError::KeyNotFound
            | KvError::ValueProvided
            | KvError::LeaseProvided
            | KvError::TooManyOps
            | KvError::DuplicateKey
            | KvError::RequestTooLarge => GrpcCode::InvalidArgument,
            KvError::Compacted | KvError::FutureRevision | KvError::LeaseTtlTooLarge => {
                GrpcCode::OutOfRange
            }
            KvError::NoSpace => GrpcCode::ResourceExhausted,
            KvError::LeaseNotFound => GrpcCode::NotFound,
            KvError::LeaseExists => GrpcCode::FailedPrecondition,
            KvError::Service(error) => service_code(error),
        }
    }
}

/// etcd's codes for the node's own failures; anything else (no leader, timeout, leader changed)
/// is `Unavailable`, which tells clients to retry, as etcd does.
fn service_code(error: &ServiceError) -> GrpcCode {
    match error {
        ServiceError::NotLeader => GrpcCode::FailedPrecondition,
        ServiceError::TooManyRequests => GrpcCode::ResourceExhausted,
        ServiceError::RequestTooLarge => GrpcCode::InvalidArgument,
        ServiceError::Membership(message) if message.ends_with("member not found") => {
            GrpcCode::NotFound
        }
        ServiceError::Membership(_) => GrpcCode::FailedPrecondition,
        _ => GrpcCode::Unavailable,
    }
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<ServiceError> for KvError {
    fn from(error: ServiceError) -> KvError {
        KvError::Service(error)
    }
}
