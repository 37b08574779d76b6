//! etcd's Maintenance service: alarms, status, defragment, hashes, the snapshot stream and
//! leader transfer.

use std::pin::Pin;

use detcd_core::kv as core_kv;
use detcd_proto::etcdserverpb::{self as pb, maintenance_server::Maintenance};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use super::status::unexpected;
use super::{ETCD_VERSION, ask};
use crate::member::Member;
use crate::snapshot_file::{self, SnapshotContents};
use crate::storage_writer::Compactor;

/// How much of the snapshot one message of the stream carries (etcd sends 32 KiB).
const SNAPSHOT_CHUNK_BYTES: usize = 32 * 1024;

#[derive(Clone, Debug)]
pub struct MaintenanceService {
    pub member: Member,
    pub compactor: Compactor,
    pub quota_bytes: u64,
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotResponse, Status>> + Send>>;

impl MaintenanceService {
    /// The quota alarm is raised by the replicated state, for the whole cluster (member id 0 in
    /// the core); etcd names the member that raised it, so each member names itself.
    fn own_alarm(&self, mut alarm: pb::AlarmMember) -> pb::AlarmMember {
        if alarm.member_id == 0 {
            alarm.member_id = self.member.info().id;
        }
        alarm
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        let mut request = convert::alarm_request(request.into_inner())?;
        if request.alarm == Some(core_kv::AlarmType::NoSpace) {
            request.member_id = 0;
        }
        match ask(&self.member, core_kv::Request::Alarm(request)).await? {
            core_kv::Response::Alarm(response) => Ok(Response::new(pb::AlarmResponse {
                header: convert::header(response.header),
                alarms: response
                    .alarms
                    .into_iter()
                    .map(|alarm| self.own_alarm(convert::alarm_member(alarm)))
                    .collect(),
            })),
            other => Err(unexpected(&other)),
        }
    }

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let response = match ask(&self.member, core_kv::Request::Status).await? {
            core_kv::Response::Status(response) => response,
            other => return Err(unexpected(&other)),
        };
        let state = self.member.state();
        let size = i64::try_from(response.db_size_bytes).unwrap_or(i64::MAX);
        Ok(Response::new(pb::StatusResponse {
            header: convert::header(response.header),
            version: ETCD_VERSION.to_string(),
            db_size: size,
            leader: state.leader.unwrap_or(0),
            raft_index: state.commit_index,
            raft_term: state.term,
            // The store counts the entries it applied; the member also applies Raft's own
            // (a new leader's empty entry, conf changes), as etcd's applied index does.
            raft_applied_index: response.raft_applied_index.max(state.applied_index),
            errors: status_errors(&response.alarms, state.leader, self.member.info().id),
            db_size_in_use: size,
            is_learner: state.membership.learners.contains(&self.member.info().id),
            storage_version: String::new(),
            db_size_quota: i64::try_from(self.quota_bytes).unwrap_or(i64::MAX),
            downgrade_info: None,
        }))
    }

    /// A fresh snapshot, then the WAL rewritten compactly and old segments released.
    async fn defragment(
        &self,
        _: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        let header = match ask(&self.member, core_kv::Request::Defragment).await? {
            core_kv::Response::Defragment(header) => header,
            other => return Err(unexpected(&other)),
        };
        self.compactor
            .compact()
            .await
            .map_err(|error| Status::internal(format!("etcdserver: defragment failed: {error}")))?;
        Ok(Response::new(pb::DefragmentResponse {
            header: convert::header(header),
        }))
    }

    /// The hash of the whole key space at the current revision.
    async fn hash(
        &self,
        _: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        let request = core_kv::Request::HashKv(core_kv::HashKvRequest { revision: 0 });
        match ask(&self.member, request).await? {
            core_kv::Response::HashKv(response) => Ok(Response::new(pb::HashResponse {
                header: convert::header(response.header),
                hash: response.hash,
            })),
            other => Err(unexpected(&other)),
        }
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        let revision = request.into_inner().revision;
        let request = core_kv::Request::HashKv(core_kv::HashKvRequest { revision });
        match ask(&self.member, request).await? {
            core_kv::Response::HashKv(response) => Ok(Response::new(pb::HashKvResponse {
                header: convert::header(response.header),
                hash: response.hash,
                compact_revision: response.compact_revision,
                hash_revision: response.hash_revision,
            })),
            other => Err(unexpected(&other)),
        }
    }

    type SnapshotStream = SnapshotStream;

    /// The state as a snapshot file (see `snapshot_file`), in chunks, each saying how many
    /// bytes remain after it.
    async fn snapshot(
        &self,
        _: Request<pb::SnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        let response = match ask(&self.member, core_kv::Request::Snapshot).await? {
            core_kv::Response::Snapshot(response) => response,
            other => return Err(unexpected(&other)),
        };
        let header = convert::header(response.header);
        let bytes = snapshot_file::encode(&SnapshotContents {
            revision: response.header.revision,
            cluster_id: response.header.cluster_id,
            state: response.data,
        });
        let total = bytes.len();
        let chunks: Vec<Result<pb::SnapshotResponse, Status>> = bytes
            .chunks(SNAPSHOT_CHUNK_BYTES)
            .scan(0, move |sent, chunk| {
                *sent += chunk.len();
                Some(Ok(pb::SnapshotResponse {
                    header,
                    remaining_bytes: (total - *sent) as u64,
                    blob: chunk.to_vec(),
                    version: ETCD_VERSION.to_string(),
                }))
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        let target_id = request.into_inner().target_id;
        let request = core_kv::Request::MoveLeader(core_kv::MoveLeaderRequest { target_id });
        match ask(&self.member, request).await? {
            core_kv::Response::MoveLeader(response) => Ok(Response::new(pb::MoveLeaderResponse {
                header: convert::header(response.header),
            })),
            other => Err(unexpected(&other)),
        }
    }

    async fn downgrade(
        &self,
        _: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(Status::unimplemented(
            "etcdserver: downgrade is not supported: detcd has one storage version",
        ))
    }
}

/// Status's error list as etcd fills it: "no leader" when the member knows none, then one
/// entry per raised alarm.
fn status_errors(
    alarms: &[core_kv::AlarmMember],
    leader: Option<detcd_core::NodeId>,
    member_id: u64,
) -> Vec<String> {
    let no_leader = leader
        .is_none()
        .then(|| "etcdserver: no leader".to_string());
    let raised = alarms.iter().map(|alarm| {
        let name = match alarm.alarm {
            core_kv::AlarmType::NoSpace => "NOSPACE",
            core_kv::AlarmType::Corrupt => "CORRUPT",
        };
        format!("memberID:{member_id} alarm:{name} ")
    });
    no_leader.into_iter().chain(raised).collect()
}
