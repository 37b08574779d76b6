//! gRPC round trip of a Range on loopback: one client asks a one-member detcd for one key, waits
//! for the answer, and asks again. Issue 14 sets no target for this figure; it is the floor
//! under every read the load generator measures (etcd's `benchmark range` with one client).
//!
//! The member runs in the bench's process (`detcd::run::start`, as the server's tests start it),
//! with etcd's defaults, on a fresh data dir and loopback ports the OS picks, on a
//! multi-threaded tokio runtime and with the allocator (mimalloc) the `detcd` binary has. The client is the tonic stub
//! generated from our protos (`detcd_proto`'s `KvClient`) over one HTTP/2 connection. The key
//! holds a 256-byte value, put once before measuring; every answer is checked (one key, the
//! value put).
//!
//! - `grpc_range/serializable`: answered from the member's applied state.
//! - `grpc_range/linearizable`: etcd's default; the member first confirms it still leads (a
//!   read index), which a one-member cluster does without a message.
//!
//! Run: `cargo bench -p detcd --bench grpc`.

#[cfg(madsim)]
fn main() {
    // The simulated build has no real listeners to bench.
}

#[cfg(not(madsim))]
criterion::criterion_main!(real::benches);

/// The allocator of the `detcd` binary, so that the figures are the server's.
#[cfg(not(madsim))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(madsim))]
mod real {
    use std::time::{Duration, Instant};

    use criterion::{Criterion, Throughput, criterion_group};
    use detcd::config::{self, Command};
    use detcd::run::{self, Running};
    use detcd_proto::etcdserverpb::kv_client::KvClient;
    use detcd_proto::etcdserverpb::{PutRequest, RangeRequest};
    use tokio::runtime::Runtime;
    use tonic::transport::Channel;

    const KEY: &[u8] = b"bench-key";
    const VALUE_BYTES: usize = 256;

    /// The flags of a one-member cluster on loopback ports the OS picks.
    fn flags(data_dir: &std::path::Path) -> Vec<String> {
        let mut flags: Vec<String> = [
            "--name",
            "bench",
            "--listen-client-urls",
            "http://127.0.0.1:0",
            "--advertise-client-urls",
            "http://127.0.0.1:2379",
            "--listen-peer-urls",
            "http://127.0.0.1:0",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-cluster",
            "bench=http://127.0.0.1:2380",
            "--data-dir",
        ]
        .iter()
        .map(|flag| flag.to_string())
        .collect();
        flags.push(data_dir.display().to_string());
        flags
    }

    /// A running member and a client connected to it.
    struct Member {
        running: Running,
        client: KvClient<Channel>,
        _dir: tempfile::TempDir,
    }

    async fn start() -> Member {
        let dir = tempfile::tempdir().expect("a temp dir");
        let args = flags(&dir.path().join("data"));
        let Ok(Command::Serve(config)) = config::from_args(&args, Vec::new()) else {
            panic!("the bench's flags are valid: {args:?}");
        };
        let running = run::start(&config).await.expect("the member starts");
        let caught_up = detcd::server::caught_up(running.member());
        tokio::time::timeout(Duration::from_secs(10), caught_up)
            .await
            .expect("caught up within 10 s")
            .expect("the member runs");
        let endpoint = format!("http://{}", running.client_addresses()[0]);
        let channel = Channel::from_shared(endpoint)
            .expect("a valid endpoint")
            .connect()
            .await
            .expect("the member accepts connections");
        let mut client = KvClient::new(channel);
        let put = PutRequest {
            key: KEY.to_vec(),
            value: vec![b'v'; VALUE_BYTES],
            ..PutRequest::default()
        };
        client.put(put).await.expect("the put succeeds");
        Member {
            running,
            client,
            _dir: dir,
        }
    }

    /// Range the key `iters` times, one after the other; returns the time they took.
    async fn ranges(client: &mut KvClient<Channel>, serializable: bool, iters: u64) -> Duration {
        let request = RangeRequest {
            key: KEY.to_vec(),
            serializable,
            ..RangeRequest::default()
        };
        let started = Instant::now();
        for _ in 0..iters {
            let response = client
                .range(request.clone())
                .await
                .expect("the range succeeds");
            let kvs = response.into_inner().kvs;
            assert!(
                kvs.len() == 1 && kvs[0].value.len() == VALUE_BYTES,
                "{kvs:?}"
            );
        }
        started.elapsed()
    }

    fn grpc_range(c: &mut Criterion) {
        let runtime = Runtime::new().expect("a tokio runtime");
        let mut member = runtime.block_on(start());
        let mut group = c.benchmark_group("grpc_range");
        group.throughput(Throughput::Elements(1));
        for (name, serializable) in [("serializable", true), ("linearizable", false)] {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(ranges(&mut member.client, serializable, iters))
                })
            });
        }
        group.finish();
        runtime.block_on(member.running.stop());
    }

    criterion_group!(benches, grpc_range);
}
