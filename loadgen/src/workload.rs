//! The workloads: what one client does per operation, and how its answer is checked.

use std::collections::BTreeMap;

use clap::{Args, Subcommand, ValueEnum};
use detcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use detcd_proto::etcdserverpb::request_op::Request as Op;
use detcd_proto::etcdserverpb::response_op::Response as OpResponse;
use detcd_proto::etcdserverpb::{
    Compare, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseRevokeRequest,
    PutRequest, RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest, TxnResponse,
};
use detcd_proto::prefix_end;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tonic::Streaming;

use crate::clients::Stubs;
use crate::run::Watcher;

#[derive(Clone, Debug, Subcommand)]
pub enum Workload {
    /// Put keys of a key space, randomly or in sequence.
    Put(PutArgs),
    /// Range over one key or a prefix, linearizable or serializable.
    Range(RangeArgs),
    /// Optimistic updates: a Txn comparing the key's mod_revision, then putting (or reading
    /// it back when the comparison fails), as Kubernetes updates objects.
    TxnPut(TxnPutArgs),
    /// Puts with one watcher on their prefix: the delay from sending a put to its event.
    WatchLatency(WatchLatencyArgs),
    /// Each client holds a lease and renews it on a keep-alive stream.
    LeaseKeepalive(LeaseArgs),
    /// A Kubernetes-like mix on one prefix: lists, gets and optimistic updates, with a
    /// watcher following every change.
    Mixed(MixedArgs),
}

#[derive(Clone, Debug, Args)]
pub struct PutArgs {
    /// Bytes of each key.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Bytes of each value.
    #[arg(long, default_value_t = 256)]
    pub val_size: usize,
    /// How many distinct keys.
    #[arg(long, default_value_t = 10_000)]
    pub key_space: u64,
    /// Keys in sequence (each client its own stride) rather than drawn at random.
    #[arg(long)]
    pub sequential_keys: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Consistency {
    /// Linearizable (a ReadIndex through the leader).
    L,
    /// Serializable (the member's own state).
    S,
}

#[derive(Clone, Debug, Args)]
pub struct RangeArgs {
    /// The key, or the prefix with --prefix.
    #[arg(long, default_value = "bench-range/")]
    pub key: String,
    /// Range over every key with the prefix.
    #[arg(long)]
    pub prefix: bool,
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: Consistency,
    /// Keys put before the run (under the prefix; the key itself without --prefix).
    #[arg(long, default_value_t = 1)]
    pub preload: u64,
    /// Bytes of each preloaded value.
    #[arg(long, default_value_t = 256)]
    pub val_size: usize,
}

#[derive(Clone, Debug, Args)]
pub struct TxnPutArgs {
    /// How many distinct keys; each client updates its own share of them.
    #[arg(long, default_value_t = 10_000)]
    pub key_space: u64,
    #[arg(long, default_value_t = 256)]
    pub val_size: usize,
}

#[derive(Clone, Debug, Args)]
pub struct WatchLatencyArgs {
    #[arg(long, default_value_t = 256)]
    pub val_size: usize,
}

#[derive(Clone, Debug, Args)]
pub struct LeaseArgs {
    /// Seconds each lease lives without a keep-alive.
    #[arg(long, default_value_t = 60)]
    pub ttl: i64,
}

#[derive(Clone, Debug, Args)]
pub struct MixedArgs {
    /// Objects under the prefix, put before the run.
    #[arg(long, default_value_t = 1_000)]
    pub key_space: u64,
    #[arg(long, default_value_t = 1024)]
    pub val_size: usize,
    /// The page size of lists.
    #[arg(long, default_value_t = 500)]
    pub list_limit: i64,
}

const TXN_PREFIX: &str = "bench-txn/";
const WATCH_PREFIX: &str = "bench-watch/";
const MIXED_PREFIX: &str = "bench-mixed/";

/// What an operation did, when it answered correctly.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// An optimistic update lost a race: a correct answer, counted apart.
    Conflict,
}

/// One client: its stubs, its random stream and what it must remember between operations.
#[derive(Debug)]
pub struct Client {
    pub index: usize,
    pub stubs: Stubs,
    random: ChaCha8Rng,
    sequence: u64,
    /// The highest revision this client has been answered with: answers never go back.
    revision: i64,
    /// txn-put: the mod_revision this client last wrote or read of each of its keys.
    known: BTreeMap<Vec<u8>, i64>,
    keepalive: Option<KeepAlive>,
}

#[derive(Debug)]
struct KeepAlive {
    lease: i64,
    requests: mpsc::Sender<LeaseKeepAliveRequest>,
    responses: Streaming<LeaseKeepAliveResponse>,
}

/// What the workload prepared before the clients start.
#[derive(Debug, Default)]
pub struct Prepared {
    /// range: the count every answer must give.
    pub range_count: i64,
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Put(_) => "put",
            Workload::Range(_) => "range",
            Workload::TxnPut(_) => "txn-put",
            Workload::WatchLatency(_) => "watch-latency",
            Workload::LeaseKeepalive(_) => "lease-keepalive",
            Workload::Mixed(_) => "mixed",
        }
    }

    /// The prefix a watcher follows, for the workloads that have one.
    pub fn watched_prefix(&self) -> Option<&'static str> {
        match self {
            Workload::WatchLatency(_) => Some(WATCH_PREFIX),
            Workload::Mixed(_) => Some(MIXED_PREFIX),
            _ => None,
        }
    }

    /// Put what the workload reads before anything is measured.
    pub async fn prepare(&self, connections: &[Stubs]) -> Result<Prepared, String> {
        match self {
            Workload::Range(args) => {
                let keys: Vec<Vec<u8>> = if args.prefix {
                    (0..args.preload)
                        .map(|i| format!("{}{i:08}", args.key).into_bytes())
                        .collect()
                } else {
                    (0..args.preload.min(1))
                        .map(|_| args.key.clone().into_bytes())
                        .collect()
                };
                preload(connections, keys, args.val_size).await?;
                let mut kv = connections[0].kv.clone();
                let counted = kv
                    .range(RangeRequest {
                        count_only: true,
                        ..range_request(args)
                    })
                    .await
                    .map_err(|status| format!("counting the preloaded keys: {status}"))?;
                Ok(Prepared {
                    range_count: counted.into_inner().count,
                })
            }
            Workload::Mixed(args) => {
                let keys = (0..args.key_space)
                    .map(|i| mixed_key(i).into_bytes())
                    .collect();
                preload(connections, keys, args.val_size).await?;
                Ok(Prepared::default())
            }
            _ => Ok(Prepared::default()),
        }
    }

    /// A client of this workload (a lease-keepalive client grants its lease and opens its
    /// stream here, unmeasured).
    pub async fn client(&self, index: usize, stubs: Stubs, seed: u64) -> Result<Client, String> {
        let mut random = ChaCha8Rng::seed_from_u64(seed);
        random.set_stream(index as u64);
        let mut client = Client {
            index,
            stubs,
            random,
            sequence: 0,
            revision: 0,
            known: BTreeMap::new(),
            keepalive: None,
        };
        if let Workload::LeaseKeepalive(args) = self {
            client.keepalive = Some(open_keepalive(&mut client.stubs, args.ttl).await?);
        }
        Ok(client)
    }

    /// One operation, its answer checked.
    pub async fn operate(
        &self,
        client: &mut Client,
        prepared: &Prepared,
        watcher: Option<&Watcher>,
        clients: usize,
    ) -> Result<Outcome, String> {
        match self {
            Workload::Put(args) => put(client, args, clients).await,
            Workload::Range(args) => range(client, args, prepared.range_count).await,
            Workload::TxnPut(args) => txn_put(client, args, clients).await,
            Workload::WatchLatency(args) => {
                watched_put(client, args, watcher.expect("a watcher")).await
            }
            Workload::LeaseKeepalive(_) => keep_alive(client).await,
            Workload::Mixed(args) => mixed(client, args, watcher.expect("a watcher")).await,
        }
    }

    /// Leave nothing behind that outlives the run (leases).
    pub async fn finish(&self, client: &mut Client) {
        if let Some(keepalive) = client.keepalive.take() {
            let revoke = LeaseRevokeRequest {
                id: keepalive.lease,
            };
            let _ = client.stubs.lease.lease_revoke(revoke).await;
        }
    }
}

/// Answers never go back in revision, for one client on one connection.
fn check_header(client: &mut Client, header: Option<&ResponseHeader>) -> Result<i64, String> {
    let Some(header) = header else {
        return Err("an answer without a header".into());
    };
    if header.revision <= 0 || header.revision < client.revision {
        return Err(format!(
            "revision {} after an answer at revision {}",
            header.revision, client.revision
        ));
    }
    client.revision = header.revision;
    Ok(header.revision)
}

fn value(size: usize) -> Vec<u8> {
    vec![b'v'; size]
}

/// `key_size` bytes naming key number `n`.
fn sized_key(n: u64, key_size: usize) -> Vec<u8> {
    let mut key = format!("{n:0key_size$}").into_bytes();
    key.truncate(key_size.max(1));
    key
}

async fn put(client: &mut Client, args: &PutArgs, clients: usize) -> Result<Outcome, String> {
    let n = if args.sequential_keys {
        (client.sequence * clients as u64 + client.index as u64) % args.key_space.max(1)
    } else {
        client.random.next_u64() % args.key_space.max(1)
    };
    client.sequence += 1;
    let request = PutRequest {
        key: sized_key(n, args.key_size),
        value: value(args.val_size),
        ..PutRequest::default()
    };
    let answer = client.stubs.kv.put(request).await.map_err(status_text)?;
    check_header(client, answer.get_ref().header.as_ref())?;
    Ok(Outcome::Done)
}

fn range_request(args: &RangeArgs) -> RangeRequest {
    let range_end = if args.prefix {
        prefix_end(args.key.as_bytes())
    } else {
        Vec::new()
    };
    RangeRequest {
        key: args.key.clone().into_bytes(),
        range_end,
        serializable: matches!(args.consistency, Consistency::S),
        ..RangeRequest::default()
    }
}

async fn range(client: &mut Client, args: &RangeArgs, expected: i64) -> Result<Outcome, String> {
    let answer = client.stubs.kv.range(range_request(args)).await;
    let answer = answer.map_err(status_text)?.into_inner();
    check_header(client, answer.header.as_ref())?;
    if answer.count != expected || answer.kvs.len() as i64 != expected || answer.more {
        return Err(format!(
            "range {} gave count {} with {} keys, expected {expected}",
            args.key,
            answer.count,
            answer.kvs.len()
        ));
    }
    Ok(Outcome::Done)
}

/// A Txn putting `key` if its mod_revision is still `known` (0: absent), else reading it.
fn update(key: &[u8], known: i64, val_size: usize) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Mod as i32,
            key: key.to_vec(),
            target_union: Some(TargetUnion::ModRevision(known)),
            ..Compare::default()
        }],
        success: vec![RequestOp {
            request: Some(Op::RequestPut(PutRequest {
                key: key.to_vec(),
                value: value(val_size),
                ..PutRequest::default()
            })),
        }],
        failure: vec![RequestOp {
            request: Some(Op::RequestRange(RangeRequest {
                key: key.to_vec(),
                ..RangeRequest::default()
            })),
        }],
    }
}

/// The key's new mod_revision after the update: the Txn's revision when it put, or the
/// revision the failure read found, which must differ from `known`.
fn updated(answer: &TxnResponse, known: i64) -> Result<(Outcome, i64), String> {
    let revision = answer.header.as_ref().map_or(0, |header| header.revision);
    let first = answer.responses.first().and_then(|op| op.response.as_ref());
    match (answer.succeeded, first) {
        (true, Some(OpResponse::ResponsePut(_))) if revision > known => {
            Ok((Outcome::Done, revision))
        }
        (false, Some(OpResponse::ResponseRange(read))) => {
            let found = read.kvs.first().map_or(0, |kv| kv.mod_revision);
            if found == known {
                return Err(format!(
                    "the comparison with mod_revision {known} failed, yet the key has it"
                ));
            }
            Ok((Outcome::Conflict, found))
        }
        _ => Err(format!(
            "an update against mod_revision {known} answered {answer:?}"
        )),
    }
}

/// Update `key` if its mod_revision is still `known`; the outcome and the key's revision now.
async fn send_update(
    client: &mut Client,
    key: &[u8],
    known: i64,
    val_size: usize,
) -> Result<(Outcome, i64), String> {
    let answer = client.stubs.kv.txn(update(key, known, val_size)).await;
    let answer = answer.map_err(status_text)?.into_inner();
    check_header(client, answer.header.as_ref())?;
    updated(&answer, known)
}

async fn read_mod_revision(client: &mut Client, key: &[u8]) -> Result<i64, String> {
    let request = RangeRequest {
        key: key.to_vec(),
        ..RangeRequest::default()
    };
    let answer = client.stubs.kv.range(request).await.map_err(status_text)?;
    let answer = answer.into_inner();
    check_header(client, answer.header.as_ref())?;
    Ok(answer.kvs.first().map_or(0, |kv| kv.mod_revision))
}

/// Each client updates only its own keys, so it knows their mod_revisions and its every
/// update must succeed; a conflict there is a wrong answer.
async fn txn_put(
    client: &mut Client,
    args: &TxnPutArgs,
    clients: usize,
) -> Result<Outcome, String> {
    let own = (args.key_space / clients as u64).max(1);
    let n = (client.random.next_u64() % own) * clients as u64 + client.index as u64;
    let key = format!("{TXN_PREFIX}{n:08}").into_bytes();
    let known = match client.known.get(&key) {
        Some(&revision) => revision,
        None => read_mod_revision(client, &key).await?,
    };
    // An update without an answer has an unknown outcome: read the key again next time.
    client.known.remove(&key);
    match send_update(client, &key, known, args.val_size).await? {
        (Outcome::Done, revision) => {
            client.known.insert(key, revision);
            Ok(Outcome::Done)
        }
        (Outcome::Conflict, found) => Err(format!(
            "an update of a key only this client writes failed: mod_revision {found}, not {known}"
        )),
    }
}

async fn watched_put(
    client: &mut Client,
    args: &WatchLatencyArgs,
    watcher: &Watcher,
) -> Result<Outcome, String> {
    let key = format!("{WATCH_PREFIX}{}/{}", client.index, client.sequence).into_bytes();
    client.sequence += 1;
    watcher.expect_event(key.clone());
    let request = PutRequest {
        key: key.clone(),
        value: value(args.val_size),
        ..PutRequest::default()
    };
    match client.stubs.kv.put(request).await {
        Ok(answer) => {
            check_header(client, answer.get_ref().header.as_ref())?;
            watcher.acknowledged();
            Ok(Outcome::Done)
        }
        Err(status) => {
            watcher.forget(&key);
            Err(status_text(status))
        }
    }
}

async fn open_keepalive(stubs: &mut Stubs, ttl: i64) -> Result<KeepAlive, String> {
    let grant = LeaseGrantRequest { ttl, id: 0 };
    let granted = stubs.lease.lease_grant(grant).await.map_err(status_text)?;
    let lease = granted.into_inner().id;
    // etcd (grpc-go) answers a stream's headers with its first message: send one before
    // waiting for the call, and take its answer here, unmeasured.
    let (requests, queued) = mpsc::channel(1);
    let first = LeaseKeepAliveRequest { id: lease };
    requests.send(first).await.expect("the channel is open");
    let stream = tokio_stream::wrappers::ReceiverStream::new(queued);
    let responses = stubs
        .lease
        .lease_keep_alive(stream)
        .await
        .map_err(status_text)?;
    let mut responses = responses.into_inner();
    match responses.message().await.map_err(status_text)? {
        Some(answer) if answer.id == lease && answer.ttl > 0 => {}
        other => {
            return Err(format!(
                "the first keep-alive of lease {lease:x} answered {other:?}"
            ));
        }
    }
    Ok(KeepAlive {
        lease,
        requests,
        responses,
    })
}

async fn keep_alive(client: &mut Client) -> Result<Outcome, String> {
    let keepalive = client.keepalive.as_mut().expect("opened with the client");
    let lease = keepalive.lease;
    keepalive
        .requests
        .send(LeaseKeepAliveRequest { id: lease })
        .await
        .map_err(|_| "the keep-alive stream closed".to_string())?;
    let answer = keepalive.responses.message().await.map_err(status_text)?;
    let Some(answer) = answer else {
        return Err("the keep-alive stream ended".into());
    };
    if answer.id != lease || answer.ttl <= 0 {
        return Err(format!(
            "a keep-alive of lease {lease:x} answered lease {:x} with TTL {}",
            answer.id, answer.ttl
        ));
    }
    check_header(client, answer.header.as_ref())?;
    Ok(Outcome::Done)
}

fn mixed_key(n: u64) -> String {
    format!("{MIXED_PREFIX}{n:08}")
}

/// 5% lists of the whole prefix (a page of `list_limit`), 50% gets, 45% optimistic updates
/// against a fresh read; the watcher must see every update that succeeded.
async fn mixed(
    client: &mut Client,
    args: &MixedArgs,
    watcher: &Watcher,
) -> Result<Outcome, String> {
    let draw = client.random.next_u64() % 100;
    let key = mixed_key(client.random.next_u64() % args.key_space.max(1)).into_bytes();
    if draw < 5 {
        let list = RangeRequest {
            key: MIXED_PREFIX.as_bytes().to_vec(),
            range_end: prefix_end(MIXED_PREFIX.as_bytes()),
            limit: args.list_limit,
            ..RangeRequest::default()
        };
        let answer = client.stubs.kv.range(list).await.map_err(status_text)?;
        let answer = answer.into_inner();
        check_header(client, answer.header.as_ref())?;
        return check_list(&answer, args);
    }
    if draw < 55 {
        let known = read_mod_revision(client, &key).await?;
        return match known {
            0 => Err(format!("{} is missing", String::from_utf8_lossy(&key))),
            _ => Ok(Outcome::Done),
        };
    }
    let known = read_mod_revision(client, &key).await?;
    let (outcome, _) = send_update(client, &key, known, args.val_size).await?;
    if outcome == Outcome::Done {
        watcher.acknowledged();
    }
    Ok(outcome)
}

fn check_list(answer: &RangeResponse, args: &MixedArgs) -> Result<Outcome, String> {
    let total = args.key_space as i64;
    let page = if args.list_limit > 0 {
        total.min(args.list_limit)
    } else {
        total
    };
    if answer.count != total || answer.kvs.len() as i64 != page || answer.more != (page < total) {
        return Err(format!(
            "a list of {total} objects by {} gave count {}, {} keys, more {}",
            args.list_limit,
            answer.count,
            answer.kvs.len(),
            answer.more
        ));
    }
    Ok(Outcome::Done)
}

/// Put `keys` with `val_size`-byte values over the connections, 16 at a time per connection.
async fn preload(connections: &[Stubs], keys: Vec<Vec<u8>>, val_size: usize) -> Result<(), String> {
    let writers = connections.len() * 16;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let mut kv = connections[writer % connections.len()].kv.clone();
        let mine: Vec<Vec<u8>> = keys.iter().skip(writer).step_by(writers).cloned().collect();
        tasks.spawn(async move {
            for key in mine {
                let request = PutRequest {
                    key,
                    value: value(val_size),
                    ..PutRequest::default()
                };
                kv.put(request).await.map_err(status_text)?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|error| error.to_string())?
            .map_err(|error| format!("preloading: {error}"))?;
    }
    Ok(())
}

pub fn status_text(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

#[cfg(test)]
mod tests {
    use detcd_proto::etcdserverpb::{PutResponse, ResponseOp};
    use detcd_proto::mvccpb::KeyValue;

    use super::*;

    fn txn_answer(succeeded: bool, revision: i64, found: Option<i64>) -> TxnResponse {
        let response = match succeeded {
            true => OpResponse::ResponsePut(PutResponse::default()),
            false => OpResponse::ResponseRange(RangeResponse {
                kvs: found
                    .map(|mod_revision| KeyValue {
                        mod_revision,
                        ..KeyValue::default()
                    })
                    .into_iter()
                    .collect(),
                ..RangeResponse::default()
            }),
        };
        TxnResponse {
            header: Some(ResponseHeader {
                revision,
                ..ResponseHeader::default()
            }),
            succeeded,
            responses: vec![ResponseOp {
                response: Some(response),
            }],
        }
    }

    // Rule: an update that put answers with a revision past the one it compared with.
    #[test]
    fn a_successful_update_moves_the_revision_on() {
        assert_eq!(
            updated(&txn_answer(true, 9, None), 5),
            Ok((Outcome::Done, 9))
        );
        assert!(updated(&txn_answer(true, 5, None), 5).is_err());
    }

    // Rule: a lost race is a conflict (the read finds another revision); a failed comparison
    // whose read finds the very revision compared with is a wrong answer.
    #[test]
    fn a_failed_comparison_must_find_another_revision() {
        assert_eq!(
            updated(&txn_answer(false, 9, Some(8)), 5),
            Ok((Outcome::Conflict, 8))
        );
        assert!(updated(&txn_answer(false, 9, Some(5)), 5).is_err());
        // Compared as absent (0), and absent it is: wrong.
        assert!(updated(&txn_answer(false, 9, None), 0).is_err());
    }

    // Rule: a list gives the whole count, one page, and `more` exactly when the page is short.
    #[test]
    fn a_list_gives_the_count_a_page_and_more() {
        let args = MixedArgs {
            key_space: 10,
            val_size: 1,
            list_limit: 4,
        };
        let list = |count: i64, keys: usize, more: bool| RangeResponse {
            count,
            kvs: vec![KeyValue::default(); keys],
            more,
            ..RangeResponse::default()
        };
        assert_eq!(check_list(&list(10, 4, true), &args), Ok(Outcome::Done));
        assert!(check_list(&list(10, 4, false), &args).is_err());
        assert!(check_list(&list(9, 4, true), &args).is_err());
        assert!(check_list(&list(10, 10, false), &args).is_err());
    }

    #[test]
    fn keys_have_their_size() {
        assert_eq!(sized_key(42, 8), b"00000042");
        assert_eq!(sized_key(123_456, 3), b"123");
    }
}
