//! The in-process gRPC call behind each gateway request, and the relay of its answers.
//!
//! The transport is the gRPC router itself: an `axum::Router` is a tower service of
//! `http::Request<B>` for any body `B` of `Bytes`, which `tonic::client::Grpc` can drive with
//! its own request body; the router answers with a body of `Bytes`, which tonic decodes. So a
//! call is framed, checked and answered exactly as one from the network, minus HTTP/2.
//!
//! Ending a call the HTTP client left is what HTTP/2 does with RST_STREAM, done here by hand:
//! the answer stream is dropped, and the request stream (if the server still reads it) fails
//! with Cancelled through tonic's cancellation handle.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use http::StatusCode;
use prost_reflect::MessageDescriptor;
use tokio::sync::OwnedSemaphorePermit;
use tonic::CancellationHandle;
use tonic::client::Grpc;
use tonic::codec::Streaming;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::body::RequestMessages;
use super::codec::RawCodec;
use super::json;
use super::routes::{CallKind, Route};
use super::{Gateway, incoming_metadata_headers};

/// The largest answer the gateway's client takes: etcd's gateway dials its server with
/// `grpc.MaxCallRecvMsgSize(math.MaxInt32)`.
const ANSWER_BYTES_MAX: usize = 0x7fff_ffff;

impl Gateway {
    /// A unary call: the body's first JSON value (an empty body is `{}`) as the request, the
    /// answer as one JSON object.
    pub(super) async fn unary(
        &self,
        route: &Route,
        metadata: MetadataMap,
        mut messages: RequestMessages,
    ) -> Response {
        let message = match messages.next().await {
            Ok(message) => message.unwrap_or_default(),
            Err(text) => return json::error_response(&Status::invalid_argument(text)),
        };
        let _permit = self.permit().await;
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = metadata;
        let mut client = self.client();
        let Ok(()) = client.ready().await;
        let answer = match client
            .unary(request, route.grpc_path.clone(), RawCodec)
            .await
        {
            Ok(answer) => answer,
            Err(status) => return json::error_response(&status),
        };
        match json::message_json(&route.response, answer.get_ref()) {
            Ok(body) => json::json_response(
                StatusCode::OK,
                incoming_metadata_headers(answer.metadata()),
                Body::from(body),
            ),
            Err(status) => json::error_response(&status),
        }
    }

    /// A server-streaming or bidirectional call: the answers as `{"result":..}` lines, written
    /// as they come. The request side of a bidirectional call is every JSON value of the body;
    /// at the body's end the gateway half-closes the call and keeps relaying until the server
    /// ends it, so a watch stays open while a keep-alive ends (etcd's handler returns on EOF).
    pub(super) async fn stream(
        &self,
        route: &Route,
        metadata: MetadataMap,
        mut messages: RequestMessages,
    ) -> Response {
        let first = match messages.next().await {
            Ok(first) => first,
            // grpc-gateway wraps a single request's decoding error in InvalidArgument, but
            // returns a streamed request's as it is, which makes it Unknown.
            Err(text) => {
                let code = match route.kind {
                    CallKind::Bidi => Code::Unknown,
                    CallKind::Unary | CallKind::ServerStreaming => Code::InvalidArgument,
                };
                return json::error_response(&Status::new(code, text));
            }
        };
        let outgoing = match route.kind {
            CallKind::Bidi => outgoing_messages(first, messages),
            CallKind::Unary | CallKind::ServerStreaming => {
                stream::iter([first.unwrap_or_default()]).boxed()
            }
        };
        let permit = self.permit().await;
        let mut request = tonic::Request::new(outgoing);
        *request.metadata_mut() = metadata;
        let cancel = CancelOnDrop(Some(request.cancellation_handle()));
        let mut client = self.client();
        let Ok(()) = client.ready().await;
        let answers = match client
            .streaming(request, route.grpc_path.clone(), RawCodec)
            .await
        {
            Ok(answers) => answers,
            Err(status) => return json::error_response(&status),
        };
        let headers = incoming_metadata_headers(answers.metadata());
        let mut relay = Relay {
            answers: answers.into_inner(),
            descriptor: route.response.clone(),
            cancel,
            _permit: permit,
        };
        // grpc-gateway writes nothing before the first answer; an error as the first answer
        // sets the HTTP status.
        let (status, body) = match relay.next().await {
            Relayed::Line(line) => {
                let lines = stream::iter([Ok(line)]).chain(relay.into_lines());
                (StatusCode::OK, Body::from_stream(lines))
            }
            Relayed::Error(status) => (
                json::http_status(status.code()),
                Body::from(json::stream_error(&status)),
            ),
            Relayed::End => (StatusCode::OK, Body::empty()),
        };
        json::json_response(status, headers, body)
    }

    /// A client for one call on the in-process gRPC router.
    fn client(&self) -> Grpc<axum::Router> {
        Grpc::new(self.grpc.clone()).max_decoding_message_size(ANSWER_BYTES_MAX)
    }

    /// A place among the calls in flight; waits while all are taken.
    async fn permit(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the gateway never closes its semaphore")
    }
}

/// The request stream of a bidirectional call: the first message, then each further JSON value
/// of the body as it arrives. It ends (the gateway half-closes the call) at the end of the body,
/// or at the first value that is not a request, as grpc-gateway stops sending at its first
/// decoding error.
fn outgoing_messages(first: Option<Bytes>, messages: RequestMessages) -> BoxStream<'static, Bytes> {
    let Some(first) = first else {
        return stream::empty().boxed();
    };
    let rest = stream::unfold(messages, |mut messages| async move {
        match messages.next().await {
            Ok(Some(message)) => Some((message, messages)),
            Ok(None) => None,
            Err(text) => {
                tracing::debug!(error = %text, "gateway: a streamed request is not readable; half-closing the call");
                None
            }
        }
    });
    stream::iter([first]).chain(rest).boxed()
}

/// The answers of one streaming call on their way to the HTTP client. Dropping it ends the
/// call: the permit goes back, and a call the server has not ended is cancelled.
struct Relay {
    answers: Streaming<Bytes>,
    descriptor: MessageDescriptor,
    cancel: CancelOnDrop,
    _permit: OwnedSemaphorePermit,
}

/// What the relay has for the HTTP body next.
enum Relayed {
    /// One answer as a `{"result":..}` line.
    Line(Bytes),
    /// The status that ends the stream: the server's, or an answer that did not decode.
    Error(Status),
    /// The server ended the call.
    End,
}

impl Relay {
    async fn next(&mut self) -> Relayed {
        match self.answers.message().await {
            Ok(Some(encoded)) => match json::result_line(&self.descriptor, &encoded) {
                Ok(line) => Relayed::Line(line),
                // The gateway gives up on a call the server goes on with: it stays cancellable.
                Err(status) => Relayed::Error(status),
            },
            Ok(None) => {
                self.cancel.disarm();
                Relayed::End
            }
            Err(status) => {
                self.cancel.disarm();
                Relayed::Error(status)
            }
        }
    }

    /// The rest of the HTTP body: a line per answer, then the error that ended the call, if any.
    fn into_lines(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        stream::unfold(Some(self), |relay| async move {
            let mut relay = relay?;
            match relay.next().await {
                Relayed::Line(line) => Some((Ok(line), Some(relay))),
                Relayed::Error(status) => Some((Ok(json::stream_error(&status)), None)),
                Relayed::End => None,
            }
        })
    }
}

/// Cancels the call when dropped, unless disarmed because the server has ended it: the HTTP
/// client went away (hyper drops the body) or the gateway stopped relaying, as etcd's gateway
/// cancels its call's context when the handler returns.
struct CancelOnDrop(Option<CancellationHandle>);

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.cancel();
        }
    }
}
