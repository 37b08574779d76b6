//! A tower layer that counts gRPC calls as go-grpc-prometheus does for etcd: started when the
//! request comes, handled with the call's status code when it ends, and `Canceled` when the
//! client goes away before the end (the response body is dropped unfinished).

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::{Body, Frame};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::{self, HandledLabels, Metrics, StartedLabels};

#[derive(Clone, Debug)]
pub struct GrpcMetricsLayer {
    metrics: Metrics,
}

impl GrpcMetricsLayer {
    pub fn new(metrics: Metrics) -> GrpcMetricsLayer {
        GrpcMetricsLayer { metrics }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
    metrics: Metrics,
}

/// The call a response belongs to, until its code is counted.
#[derive(Debug)]
struct Call {
    handled: Family<HandledLabels, Counter>,
    service: String,
    method: String,
    kind: &'static str,
}

impl Call {
    fn count(self, code: i32) {
        self.handled
            .get_or_create(&HandledLabels {
                grpc_code: metrics::code_name(code),
                grpc_method: self.method,
                grpc_service: self.service,
                grpc_type: self.kind,
            })
            .inc();
    }
}

impl<S, B, R> tower::Service<Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    R: Body,
{
    type Response = Response<CountedBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let call = request
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|path| path.split_once('/'))
            .map(|(service, method)| Call {
                handled: self.metrics.grpc_handled.clone(),
                kind: metrics::grpc_type(service, method),
                service: service.to_string(),
                method: method.to_string(),
            });
        if let Some(call) = &call {
            self.metrics
                .grpc_started
                .get_or_create(&StartedLabels {
                    grpc_method: call.method.clone(),
                    grpc_service: call.service.clone(),
                    grpc_type: call.kind,
                })
                .inc();
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            // A trailers-only response (an error before any message) has its status in the
            // headers.
            let header_code = grpc_status(response.headers());
            let (parts, body) = response.into_parts();
            let mut counted = CountedBody { inner: body, call };
            if let Some(code) = header_code
                && let Some(call) = counted.call.take()
            {
                call.count(code);
            }
            Ok(Response::from_parts(parts, counted))
        })
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// A response body that counts its call when its status arrives in the trailers, or as
/// `Canceled` if it is dropped before.
#[derive(Debug)]
pub struct CountedBody<B> {
    inner: B,
    call: Option<Call>,
}

impl<B: Body + Unpin> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(code) = frame.trailers_ref().and_then(grpc_status)
            && let Some(call) = this.call.take()
        {
            call.count(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for CountedBody<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.count(1); // Canceled: the client went away before the call ended
        }
    }
}
