//! `grpc.health.v1.Health`: the server is serving once it answers at all (etcd registers the
//! standard health service and marks it serving when it starts).

use std::pin::Pin;

use detcd_proto::grpc::health::v1::{
    self as pb, health_check_response::ServingStatus, health_server::Health,
};
use futures::Stream;
use tonic::{Request, Response, Status};

#[derive(Clone, Copy, Debug, Default)]
pub struct HealthService;

fn serving() -> pb::HealthCheckResponse {
    pb::HealthCheckResponse {
        status: ServingStatus::Serving as i32,
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        Ok(Response::new(serving()))
    }

    type WatchStream = WatchStream;

    /// One answer, then the stream stays open: the status never changes while serving.
    async fn watch(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let stream =
            futures::stream::once(async { Ok(serving()) }).chain(futures::stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }
}

use futures::StreamExt as _;
