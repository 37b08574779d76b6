//! The request side: a gateway body read as a sequence of JSON values, each one request message.
//!
//! grpc-gateway reads the body with Go's `json.Decoder`: values one after another, whitespace
//! between them ignored, whatever the Content-Type (curl's `-d` says form-urlencoded). A unary
//! call takes the first value and ignores the rest; a streaming call sends every value as a
//! message. Values are cut out of the body as its chunks arrive, so a long-lived stream (an
//! interactive watch) sends each request as soon as its closing bracket is in.

use axum::body::{Body, BodyDataStream};
use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor};
use serde_json::Value;

/// The longest JSON value a request may hold while it is being read: etcd's largest request
/// (`--max-request-bytes`, 1.5 MiB by default) is about 2 MiB in base64 JSON; this leaves room
/// for larger configured limits and bounds what one slow client can make the gateway buffer.
pub(super) const JSON_VALUE_BYTES_MAX: usize = 64 << 20;

/// The request messages of one gateway body, each encoded as protobuf for the gRPC call.
#[derive(Debug)]
pub(super) struct RequestMessages {
    chunks: BodyDataStream,
    /// What has arrived and is not yet a value, starting at the next value or whitespace.
    buffered: BytesMut,
    scan: ContainerScan,
    body_ended: bool,
    descriptor: MessageDescriptor,
}

impl RequestMessages {
    pub(super) fn new(body: Body, descriptor: MessageDescriptor) -> RequestMessages {
        RequestMessages {
            chunks: body.into_data_stream(),
            buffered: BytesMut::new(),
            scan: ContainerScan::default(),
            body_ended: false,
            descriptor,
        }
    }

    /// The next request message, protobuf-encoded; `None` once only whitespace is left. An
    /// error is the text of what could not be read (a body that is not JSON, a value that is not
    /// a message of this type, a body that broke off), for the caller to put in a status; after
    /// one, the reader is done.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, String> {
        match self.next_value().await? {
            Some(value) => message_from_json(&self.descriptor, value).map(Some),
            None => Ok(None),
        }
    }

    async fn next_value(&mut self) -> Result<Option<Value>, String> {
        loop {
            if let Some(value) = self.take_value()? {
                return Ok(Some(value));
            }
            if self.body_ended {
                return Ok(None);
            }
            if self.buffered.len() > JSON_VALUE_BYTES_MAX {
                return Err(format!(
                    "a JSON value of the request body is longer than {JSON_VALUE_BYTES_MAX} bytes"
                ));
            }
            match self.chunks.next().await {
                Some(Ok(chunk)) => self.buffered.extend_from_slice(&chunk),
                Some(Err(error)) => return Err(format!("reading the request body: {error}")),
                None => self.body_ended = true,
            }
        }
    }

    /// The value at the front of what has arrived, if it is complete, removed from the buffer.
    /// `Ok(None)` means "wait for more", or, once the body has ended, "nothing but whitespace".
    fn take_value(&mut self) -> Result<Option<Value>, String> {
        if !self.scan.started {
            let whitespace = self
                .buffered
                .iter()
                .take_while(|byte| byte.is_ascii_whitespace())
                .count();
            self.buffered.advance(whitespace);
            if self.buffered.is_empty() {
                return Ok(None);
            }
            self.scan.started = true;
        }
        let parsed = if matches!(self.buffered[0], b'{' | b'[') {
            match self.scan.end(&self.buffered) {
                Some(end) => {
                    let value = serde_json::from_slice(&self.buffered[..end]);
                    value.map(|value| (value, end))
                }
                // An object or array the body ended inside: serde says where.
                None if self.body_ended => {
                    let end = self.buffered.len();
                    serde_json::from_slice(&self.buffered).map(|value| (value, end))
                }
                None => return Ok(None),
            }
        } else {
            // A scalar, or not JSON at all: serde reads (or rejects) it from what has arrived.
            let mut values = serde_json::Deserializer::from_slice(&self.buffered).into_iter();
            match values.next() {
                Some(Ok(value)) => Ok((value, values.byte_offset())),
                Some(Err(error)) if error.is_eof() && !self.body_ended => return Ok(None),
                Some(Err(error)) => Err(error),
                None => return Ok(None),
            }
        };
        let (value, end) = parsed.map_err(|error| error.to_string())?;
        self.buffered.advance(end);
        self.scan = ContainerScan::default();
        Ok(Some(value))
    }
}

/// Finds where a JSON object or array ends by counting brackets outside strings, resuming where
/// the previous look stopped, so each byte of a value that arrives in many chunks is looked at
/// once; serde parses the value only when it is complete (and finds any syntax error in it).
#[derive(Debug, Default)]
struct ContainerScan {
    /// The front of the buffer is a value (not whitespace).
    started: bool,
    /// How far into the buffer the scan has come.
    position: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ContainerScan {
    /// One past the bracket that closes the container opened by `bytes[0]`, once it has arrived.
    fn end(&mut self, bytes: &[u8]) -> Option<usize> {
        while let Some(&byte) = bytes.get(self.position) {
            self.position += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    // The first byte opened the container, so depth is at least 1 here.
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(self.position);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// One JSON value as a protobuf-encoded request: grpc-gateway's `jsonpb` reading, which ignores
/// unknown fields and accepts proto names and lowerCamelCase names, 64-bit integers as numbers
/// or strings, enums by name or number. A JSON `null` is the empty message, as Go decodes it.
fn message_from_json(descriptor: &MessageDescriptor, value: Value) -> Result<Bytes, String> {
    if value.is_null() {
        return Ok(Bytes::new());
    }
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let message = DynamicMessage::deserialize_with_options(descriptor.clone(), value, &options)
        .map_err(|error| error.to_string())?;
    Ok(Bytes::from(message.encode_to_vec()))
}
