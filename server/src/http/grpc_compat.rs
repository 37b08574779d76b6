//! grpc-go's wording where tonic's differs and etcd's clients can tell: a request message larger
//! than the receive limit is refused by grpc-go with ResourceExhausted "grpc: received message
//! larger than max (N vs. M)", which etcd's clients report; tonic says OutOfRange "Error,
//! decoded message length too large: found N bytes, the limit is: M bytes". This layer rewrites
//! the latter into the former (in a trailers-only answer, where a unary call's refusal is).

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request, Response};

#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcCompatLayer;

impl<S> tower::Layer<S> for GrpcCompatLayer {
    type Service = GrpcCompat<S>;

    fn layer(&self, inner: S) -> GrpcCompat<S> {
        GrpcCompat { inner }
    }
}

#[derive(Clone, Debug)]
pub struct GrpcCompat<S> {
    inner: S,
}

impl<S, B, R> tower::Service<Request<B>> for GrpcCompat<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite_oversized(response.headers_mut());
            Ok(response)
        })
    }
}

/// Rewrite tonic's "message too large" status in `headers` into grpc-go's.
fn rewrite_oversized(headers: &mut HeaderMap) {
    let status = headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok());
    if status != Some("11") {
        return;
    }
    let Some(message) = headers
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .and_then(percent_decode)
    else {
        return;
    };
    let Some(rest) = message.strip_prefix("Error, decoded message length too large: found ") else {
        return;
    };
    let numbers: Vec<&str> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .collect();
    let [found, limit] = numbers[..] else {
        return;
    };
    let rewritten = format!("grpc: received message larger than max ({found} vs. {limit})");
    headers.insert("grpc-status", HeaderValue::from_static("8"));
    if let Ok(value) = HeaderValue::from_str(&percent_encode(&rewritten)) {
        headers.insert("grpc-message", value);
    }
}

/// gRPC's percent-encoding of `grpc-message` (only what falls outside printable ASCII, and `%`).
fn percent_encode(message: &str) -> String {
    message
        .bytes()
        .map(|byte| match byte {
            b' '..=b'~' if byte != b'%' => char::from(byte).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn percent_decode(message: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(message.len());
    let mut input = message.bytes();
    while let Some(byte) = input.next() {
        if byte == b'%' {
            let high = char::from(input.next()?).to_digit(16)?;
            let low = char::from(input.next()?).to_digit(16)?;
            bytes.push((high * 16 + low) as u8);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // tonic's oversized-message status becomes grpc-go's, with both sizes; others are untouched.
    #[test]
    fn oversized_messages_are_worded_as_grpc_go() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("11"));
        let tonic = "Error, decoded message length too large: found 3145738 bytes, the limit is: 2097152 bytes";
        headers.insert(
            "grpc-message",
            HeaderValue::from_str(&percent_encode(tonic)).unwrap(),
        );
        rewrite_oversized(&mut headers);
        assert_eq!(headers["grpc-status"], "8");
        let message = percent_decode(headers["grpc-message"].to_str().unwrap()).unwrap();
        assert_eq!(
            message,
            "grpc: received message larger than max (3145738 vs. 2097152)"
        );

        let mut other = HeaderMap::new();
        other.insert("grpc-status", HeaderValue::from_static("11"));
        other.insert(
            "grpc-message",
            HeaderValue::from_static("etcdserver: mvcc: required revision is a future revision"),
        );
        rewrite_oversized(&mut other);
        assert_eq!(other["grpc-status"], "11");
    }
}
