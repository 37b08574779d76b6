//! etcd's gRPC wire contract, for detcd: the messages and services of etcd 3.5's client API
//! (`etcdserverpb`, `mvccpb`, `authpb`, `v3lockpb`, `v3electionpb`) and the standard
//! `grpc.health.v1` health service, generated from our own `.proto` files under `proto/`.
//!
//! Each module mirrors one protobuf package, so the generated code's relative paths
//! (`super::mvccpb::KeyValue`) resolve. Each holds the prost messages plus a `*_client` and a
//! `*_server` module per service. In a normal build these are tonic stubs; built with
//! `RUSTFLAGS="--cfg madsim"` they are madsim-tonic's simulated stubs, which differ a little
//! (no `SERVICE_NAME` constants, `NamedService` in another module), so code that must build both
//! ways should not name those.

#[allow(unused_qualifications)]
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

#[allow(unused_qualifications)]
pub mod authpb {
    tonic::include_proto!("authpb");
}

#[allow(unused_qualifications)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

#[allow(unused_qualifications)]
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}

#[allow(unused_qualifications)]
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}

/// detcd's own peer protocol: Raft messages between members, and the member list a joining
/// member asks for. Not part of etcd's contract.
#[allow(unused_qualifications)]
pub mod detcdpeerpb {
    tonic::include_proto!("detcdpeerpb");
}

/// The gRPC project's packages; only the health service is here.
pub mod grpc {
    pub mod health {
        #[allow(unused_qualifications)]
        pub mod v1 {
            tonic::include_proto!("grpc.health.v1");
        }
    }
}

/// The encoded `google.protobuf.FileDescriptorSet` of every file above (imports included, with
/// source info). The JSON gateway decodes it with prost-reflect to map messages to and from
/// grpc-gateway's JSON.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/detcd_descriptor_set.bin"));

/// The `range_end` that makes a request cover every key under `prefix` (etcd's
/// `clientv3.GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented and what
/// follows dropped; `[0]` (every key) when there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_past_its_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}
