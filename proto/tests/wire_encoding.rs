//! The generated messages put etcd's bytes on the wire: every expected encoding below is written
//! out by hand from etcd's field numbers and types (key = field_number << 3 | wire_type), not
//! produced by prost, so a renumbered or retyped field fails here. Byte arrays keep one field per
//! line, hence `rustfmt::skip`.

use detcd_proto::etcdserverpb::{
    Compare, LeaseGrantRequest, LeaseTimeToLiveResponse, PutRequest, RangeResponse, ResponseHeader,
    WatchResponse, compare,
};
use detcd_proto::mvccpb::{Event, KeyValue, event::EventType};
use prost::Message;

const VARINT: u8 = 0;
const LEN: u8 = 2;

/// The one-byte key of a field numbered below 16.
fn key(field_number: u8, wire_type: u8) -> u8 {
    assert!(field_number < 16, "one-byte keys only");
    (field_number << 3) | wire_type
}

#[test]
fn put_request_encodes_with_etcd_field_numbers() {
    // PutRequest: key = 1 (bytes), value = 2 (bytes), lease = 3 (int64), prev_kv = 4 (bool).
    let request = PutRequest {
        key: b"foo".to_vec(),
        value: b"bar".to_vec(),
        lease: 7,
        prev_kv: true,
        ..PutRequest::default()
    };
    #[rustfmt::skip]
    let expected = [
        key(1, LEN), 3, b'f', b'o', b'o',
        key(2, LEN), 3, b'b', b'a', b'r',
        key(3, VARINT), 7,
        key(4, VARINT), 1,
    ];
    assert_eq!(request.encode_to_vec(), expected);
    assert_eq!(PutRequest::decode(&expected[..]).unwrap(), request);
}

#[test]
fn put_request_ignore_flags_are_fields_five_and_six() {
    // ignore_value = 5 and ignore_lease = 6 are bools, added in etcd 3.2.
    let request = PutRequest {
        ignore_value: true,
        ignore_lease: true,
        ..PutRequest::default()
    };
    assert_eq!(
        request.encode_to_vec(),
        [key(5, VARINT), 1, key(6, VARINT), 1]
    );
}

#[test]
fn compare_range_end_is_field_64_and_target_union_is_a_oneof() {
    // Compare.range_end = 64 needs a two-byte key (64 << 3 | 2 = 514 = 0x82 0x04); the
    // target_union oneof holds mod_revision = 6 (int64); result = 1 and target = 2 are enums.
    let compare = Compare {
        result: compare::CompareResult::Greater as i32,
        target: compare::CompareTarget::Mod as i32,
        key: b"k".to_vec(),
        range_end: b"l".to_vec(),
        target_union: Some(compare::TargetUnion::ModRevision(5)),
    };
    #[rustfmt::skip]
    let expected = [
        key(1, VARINT), 1, // GREATER
        key(2, VARINT), 2, // MOD
        key(3, LEN), 1, b'k',
        key(6, VARINT), 5,
        0x82, 0x04, 1, b'l',
    ];
    assert_eq!(compare.encode_to_vec(), expected);
    assert_eq!(Compare::decode(&expected[..]).unwrap(), compare);
}

#[test]
fn watch_response_events_are_field_11() {
    // WatchResponse: watch_id = 2 (int64), events = 11 (repeated mvccpb.Event). Event: type = 1
    // (enum, DELETE = 1), kv = 2. KeyValue: key = 1, mod_revision = 3.
    let response = WatchResponse {
        watch_id: 1,
        events: vec![Event {
            r#type: EventType::Delete as i32,
            kv: Some(KeyValue {
                key: b"a".to_vec(),
                mod_revision: 9,
                ..KeyValue::default()
            }),
            prev_kv: None,
        }],
        ..WatchResponse::default()
    };
    #[rustfmt::skip]
    let expected = [
        key(2, VARINT), 1,
        (11 << 3) | LEN, 9,
            key(1, VARINT), 1,
            key(2, LEN), 5,
                key(1, LEN), 1, b'a',
                key(3, VARINT), 9,
    ];
    assert_eq!(response.encode_to_vec(), expected);
}

#[test]
fn range_response_from_etcd_bytes_decodes() {
    // Bytes as etcd sends them. RangeResponse: header = 1, kvs = 2, count = 4. ResponseHeader:
    // cluster_id = 1, member_id = 2, revision = 3, raft_term = 4. KeyValue: key = 1,
    // create_revision = 2, mod_revision = 3, version = 4, value = 5, lease = 6.
    #[rustfmt::skip]
    let bytes = [
        key(1, LEN), 8,
            key(1, VARINT), 0x11,
            key(2, VARINT), 0x22,
            key(3, VARINT), 5,
            key(4, VARINT), 2,
        key(2, LEN), 14,
            key(1, LEN), 1, b'x',
            key(2, VARINT), 4,
            key(3, VARINT), 5,
            key(4, VARINT), 2,
            key(5, LEN), 1, b'y',
            key(6, VARINT), 8,
        key(4, VARINT), 1,
    ];
    let expected = RangeResponse {
        header: Some(ResponseHeader {
            cluster_id: 0x11,
            member_id: 0x22,
            revision: 5,
            raft_term: 2,
        }),
        kvs: vec![KeyValue {
            key: b"x".to_vec(),
            create_revision: 4,
            mod_revision: 5,
            version: 2,
            value: b"y".to_vec(),
            lease: 8,
        }],
        more: false,
        count: 1,
    };
    assert_eq!(RangeResponse::decode(&bytes[..]).unwrap(), expected);
    assert_eq!(expected.encode_to_vec(), bytes);
}

#[test]
fn lease_fields_keep_etcd_names_and_int64_type() {
    // LeaseGrantRequest: TTL = 1, ID = 2, both int64 (prost names them ttl and id). A TTL of -1
    // (LeaseTimeToLiveResponse.TTL = 3: the lease is gone) takes a ten-byte varint because the
    // type is int64, not sint64.
    let grant = LeaseGrantRequest { ttl: 5, id: 0x1234 };
    #[rustfmt::skip]
    let expected_grant = [
        key(1, VARINT), 5,
        key(2, VARINT), 0xb4, 0x24, // 0x1234 as a varint
    ];
    assert_eq!(grant.encode_to_vec(), expected_grant);

    let gone = LeaseTimeToLiveResponse {
        ttl: -1,
        ..LeaseTimeToLiveResponse::default()
    };
    #[rustfmt::skip]
    let expected_gone = [
        key(3, VARINT), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert_eq!(gone.encode_to_vec(), expected_gone);
}
