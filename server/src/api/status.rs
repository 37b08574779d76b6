//! Failures as etcd sends them: a gRPC status with etcd's code and exact message, which clients
//! match on (etcd's `rpctypes`).

use detcd_core::kv::{self, GrpcCode, KvError};
use tonic::{Code, Status};

use crate::member::MemberGone;

/// etcd's status for a failure of the store or the node.
pub fn kv_error(error: &KvError) -> Status {
    let code = match error.code() {
        GrpcCode::InvalidArgument => Code::InvalidArgument,
        GrpcCode::NotFound => Code::NotFound,
        GrpcCode::FailedPrecondition => Code::FailedPrecondition,
        GrpcCode::ResourceExhausted => Code::ResourceExhausted,
        GrpcCode::OutOfRange => Code::OutOfRange,
        GrpcCode::Unavailable => Code::Unavailable,
    };
    Status::new(code, error.message())
}

pub fn invalid_argument(message: &str) -> Status {
    Status::invalid_argument(message)
}

/// The server is stopping: etcd answers "etcdserver: server stopped".
pub fn stopped(_: MemberGone) -> Status {
    Status::unavailable("etcdserver: server stopped")
}

/// etcd's answer on a learner to everything but Status and serializable Ranges.
pub fn not_for_learner() -> Status {
    Status::unavailable("etcdserver: rpc not supported for learner")
}

/// etcd's answer to every auth call but AuthStatus while authentication is off.
pub fn auth_not_enabled() -> Status {
    Status::failed_precondition("etcdserver: authentication is not enabled")
}

/// A response of the wrong kind for the request: a programmer error in the server.
pub fn unexpected(response: &kv::Response) -> Status {
    match response.error() {
        Some(error) => kv_error(error),
        None => panic!("the node answered with an unexpected kind of response: {response:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Errors carry etcd's gRPC codes and exact messages, which clients match on.
    #[test]
    fn codes_and_messages_are_etcds() {
        let status = kv_error(&KvError::Compacted);
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(
            status.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let status = kv_error(&KvError::NoSpace);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "etcdserver: mvcc: database space exceeded"
        );
        let status = kv_error(&KvError::LeaseNotFound);
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "etcdserver: requested lease not found");
    }
}
