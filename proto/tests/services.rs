//! Every service and rpc that etcd 3.5 serves on its client port is in our descriptor set, under
//! the same full gRPC path and with the same streaming shape, and nothing else is: a renamed,
//! missing or extra method fails here.

use detcd_proto::FILE_DESCRIPTOR_SET;
use prost_reflect::DescriptorPool;

/// etcd 3.5's gRPC methods on the client port, as `/package.Service/Method`, with the streaming
/// shape: "unary", "server" (server streaming) or "bidi". Written out from etcd 3.5's rpc.proto,
/// v3lock.proto and v3election.proto, and gRPC's health.proto.
const ETCD_METHODS: &[(&str, &str)] = &[
    ("/etcdserverpb.KV/Range", "unary"),
    ("/etcdserverpb.KV/Put", "unary"),
    ("/etcdserverpb.KV/DeleteRange", "unary"),
    ("/etcdserverpb.KV/Txn", "unary"),
    ("/etcdserverpb.KV/Compact", "unary"),
    ("/etcdserverpb.Watch/Watch", "bidi"),
    ("/etcdserverpb.Lease/LeaseGrant", "unary"),
    ("/etcdserverpb.Lease/LeaseRevoke", "unary"),
    ("/etcdserverpb.Lease/LeaseKeepAlive", "bidi"),
    ("/etcdserverpb.Lease/LeaseTimeToLive", "unary"),
    ("/etcdserverpb.Lease/LeaseLeases", "unary"),
    ("/etcdserverpb.Cluster/MemberAdd", "unary"),
    ("/etcdserverpb.Cluster/MemberRemove", "unary"),
    ("/etcdserverpb.Cluster/MemberUpdate", "unary"),
    ("/etcdserverpb.Cluster/MemberList", "unary"),
    ("/etcdserverpb.Cluster/MemberPromote", "unary"),
    ("/etcdserverpb.Maintenance/Alarm", "unary"),
    ("/etcdserverpb.Maintenance/Status", "unary"),
    ("/etcdserverpb.Maintenance/Defragment", "unary"),
    ("/etcdserverpb.Maintenance/Hash", "unary"),
    ("/etcdserverpb.Maintenance/HashKV", "unary"),
    ("/etcdserverpb.Maintenance/Snapshot", "server"),
    ("/etcdserverpb.Maintenance/MoveLeader", "unary"),
    ("/etcdserverpb.Maintenance/Downgrade", "unary"),
    ("/etcdserverpb.Auth/AuthEnable", "unary"),
    ("/etcdserverpb.Auth/AuthDisable", "unary"),
    ("/etcdserverpb.Auth/AuthStatus", "unary"),
    ("/etcdserverpb.Auth/Authenticate", "unary"),
    ("/etcdserverpb.Auth/UserAdd", "unary"),
    ("/etcdserverpb.Auth/UserGet", "unary"),
    ("/etcdserverpb.Auth/UserList", "unary"),
    ("/etcdserverpb.Auth/UserDelete", "unary"),
    ("/etcdserverpb.Auth/UserChangePassword", "unary"),
    ("/etcdserverpb.Auth/UserGrantRole", "unary"),
    ("/etcdserverpb.Auth/UserRevokeRole", "unary"),
    ("/etcdserverpb.Auth/RoleAdd", "unary"),
    ("/etcdserverpb.Auth/RoleGet", "unary"),
    ("/etcdserverpb.Auth/RoleList", "unary"),
    ("/etcdserverpb.Auth/RoleDelete", "unary"),
    ("/etcdserverpb.Auth/RoleGrantPermission", "unary"),
    ("/etcdserverpb.Auth/RoleRevokePermission", "unary"),
    ("/v3lockpb.Lock/Lock", "unary"),
    ("/v3lockpb.Lock/Unlock", "unary"),
    ("/v3electionpb.Election/Campaign", "unary"),
    ("/v3electionpb.Election/Proclaim", "unary"),
    ("/v3electionpb.Election/Leader", "unary"),
    ("/v3electionpb.Election/Observe", "server"),
    ("/v3electionpb.Election/Resign", "unary"),
    ("/grpc.health.v1.Health/Check", "unary"),
    ("/grpc.health.v1.Health/Watch", "server"),
];

fn pool() -> DescriptorPool {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("FILE_DESCRIPTOR_SET decodes")
}

#[test]
fn every_etcd_method_is_served_under_its_full_path() {
    // The set of (path, streaming shape) pairs in the descriptor set equals etcd 3.5's.
    let mut ours: Vec<(String, &str)> = Vec::new();
    // detcd's own peer protocol is no part of etcd's contract.
    for service in pool()
        .services()
        .filter(|s| s.package_name() != "detcdpeerpb")
    {
        for method in service.methods() {
            let shape = match (method.is_client_streaming(), method.is_server_streaming()) {
                (false, false) => "unary",
                (false, true) => "server",
                (true, true) => "bidi",
                (true, false) => "client",
            };
            ours.push((format!("/{}/{}", service.full_name(), method.name()), shape));
        }
    }
    ours.sort();
    let mut expected: Vec<(String, &str)> = ETCD_METHODS
        .iter()
        .map(|&(path, shape)| (path.to_owned(), shape))
        .collect();
    expected.sort();
    assert_eq!(ours, expected);
}

#[test]
fn methods_take_and_return_etcds_messages() {
    // A sample of request and response types, including ones shared across rpcs (Observe takes
    // a LeaderRequest; HashKV has its own pair; Compact takes a CompactionRequest).
    let pool = pool();
    let cases = [
        (
            "etcdserverpb.KV",
            "Compact",
            "etcdserverpb.CompactionRequest",
            "etcdserverpb.CompactionResponse",
        ),
        (
            "etcdserverpb.Maintenance",
            "HashKV",
            "etcdserverpb.HashKVRequest",
            "etcdserverpb.HashKVResponse",
        ),
        (
            "etcdserverpb.Auth",
            "UserAdd",
            "etcdserverpb.AuthUserAddRequest",
            "etcdserverpb.AuthUserAddResponse",
        ),
        (
            "v3electionpb.Election",
            "Observe",
            "v3electionpb.LeaderRequest",
            "v3electionpb.LeaderResponse",
        ),
        (
            "grpc.health.v1.Health",
            "Watch",
            "grpc.health.v1.HealthCheckRequest",
            "grpc.health.v1.HealthCheckResponse",
        ),
    ];
    for (service, method, input, output) in cases {
        let service = pool.get_service_by_name(service).expect(service);
        let method = service
            .methods()
            .find(|m| m.name() == method)
            .expect(method);
        assert_eq!(method.input().full_name(), input);
        assert_eq!(method.output().full_name(), output);
    }
}

#[test]
fn generated_clients_call_the_same_paths() {
    // The generated code agrees with the descriptor set: the real tonic stubs name each service
    // by the same full name (the simulated stubs have no such constant, so real builds only).
    #[cfg(not(madsim))]
    {
        use detcd_proto::{etcdserverpb, grpc, v3electionpb, v3lockpb};
        let names = [
            etcdserverpb::kv_server::SERVICE_NAME,
            etcdserverpb::watch_server::SERVICE_NAME,
            etcdserverpb::lease_server::SERVICE_NAME,
            etcdserverpb::cluster_server::SERVICE_NAME,
            etcdserverpb::maintenance_server::SERVICE_NAME,
            etcdserverpb::auth_server::SERVICE_NAME,
            v3lockpb::lock_server::SERVICE_NAME,
            v3electionpb::election_server::SERVICE_NAME,
            grpc::health::v1::health_server::SERVICE_NAME,
        ];
        let mut from_pool: Vec<String> = pool()
            .services()
            .filter(|s| s.package_name() != "detcdpeerpb")
            .map(|s| s.full_name().to_owned())
            .collect();
        from_pool.sort();
        let mut generated: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
        generated.sort();
        assert_eq!(generated, from_pool);
    }
}
