#![cfg(not(madsim))]
//! etcd's v3 API over gRPC, against a detcd member started in process: each test names the etcd
//! behaviour it proves, as etcd's clients see it on the wire (codes, messages, headers).

mod common;

mod api {
    mod bad_input;
    mod kv;
    mod lease;
    mod lock_election;
    mod maintenance;
    mod watch;
}
