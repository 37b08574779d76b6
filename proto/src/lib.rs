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
