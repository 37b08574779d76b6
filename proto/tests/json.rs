//! prost-reflect reads our FILE_DESCRIPTOR_SET and maps etcd's messages to and from JSON the way
//! etcd's grpc-gateway does: proto field names (snake_case and etcd's own camelCase such as
//! `TTL` and `ID`), 64-bit integers as strings, bytes as padded standard base64, enums by name,
//! and fields at their default value left out. (etcd 3.4 and 3.5 build the gateway with
//! grpc-gateway v1's `runtime.NewServeMux()` and no options, in `embed/serve.go`; v1's default
//! marshaler is `JSONPb{OrigName: true}`, so EmitDefaults and EnumsAsInts are false, and
//! requests are read with `jsonpb.Unmarshaler{AllowUnknownFields: true}`.)

use detcd_proto::FILE_DESCRIPTOR_SET;
use detcd_proto::etcdserverpb::{LeaseGrantResponse, PutRequest, RangeRequest, range_request};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};
use serde_json::{Value, json};

fn descriptor(full_name: &str) -> MessageDescriptor {
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("FILE_DESCRIPTOR_SET decodes");
    pool.get_message_by_name(full_name).expect(full_name)
}

/// grpc-gateway's marshaling: `OrigName: true`, `EmitDefaults: false`.
fn to_gateway_json(message: &impl Message, full_name: &str) -> Value {
    let dynamic =
        DynamicMessage::decode(descriptor(full_name), message.encode_to_vec().as_slice()).unwrap();
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(true)
        .stringify_64_bit_integers(true)
        .use_enum_numbers(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap()
}

/// grpc-gateway's unmarshaling: unknown fields are ignored.
fn from_gateway_json<M: Message + Default>(text: &str, full_name: &str) -> M {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let dynamic = DynamicMessage::deserialize_with_options(
        descriptor(full_name),
        &mut deserializer,
        &options,
    )
    .unwrap();
    deserializer.end().unwrap();
    M::decode(dynamic.encode_to_vec().as_slice()).unwrap()
}

#[test]
fn put_request_round_trips_through_gateway_json() {
    // A PutRequest becomes the JSON a gateway client sends, and that JSON reads back as the same
    // request: "prev_kv" (not "prevKv"), lease as a string, key and value in base64 ("ab" needs
    // padding), and the false ignore_* fields absent.
    let request = PutRequest {
        key: b"foo".to_vec(),
        value: b"ab".to_vec(),
        lease: 7_587_862_072_303_174_987,
        prev_kv: true,
        ..PutRequest::default()
    };
    let text = to_gateway_json(&request, "etcdserverpb.PutRequest");
    assert_eq!(
        text,
        json!({"key": "Zm9v", "value": "YWI=", "lease": "7587862072303174987", "prev_kv": true})
    );
    let back: PutRequest = from_gateway_json(&text.to_string(), "etcdserverpb.PutRequest");
    assert_eq!(back, request);
}

#[test]
fn gateway_json_as_clients_write_it_is_accepted() {
    // What curl users send to /v3/kv/range: int64 as a string or a bare number, an enum by name,
    // and a field etcd does not know (ignored, as AllowUnknownFields does).
    let text = r#"{"key": "Zm9v", "range_end": "Zm9w", "limit": 10, "revision": "42",
                   "sort_order": "DESCEND", "not_an_etcd_field": 1}"#;
    let request: RangeRequest = from_gateway_json(text, "etcdserverpb.RangeRequest");
    assert_eq!(
        request,
        RangeRequest {
            key: b"foo".to_vec(),
            range_end: b"fop".to_vec(),
            limit: 10,
            revision: 42,
            sort_order: range_request::SortOrder::Descend as i32,
            ..RangeRequest::default()
        }
    );
}

#[test]
fn etcd_camel_case_names_stay_as_written() {
    // LeaseGrantResponse's fields are named "ID" and "TTL" in etcd's proto; the gateway emits
    // them verbatim, not as "id"/"ttl".
    let response = LeaseGrantResponse {
        id: 1,
        ttl: 60,
        ..LeaseGrantResponse::default()
    };
    assert_eq!(
        to_gateway_json(&response, "etcdserverpb.LeaseGrantResponse"),
        json!({"ID": "1", "TTL": "60"})
    );
}
