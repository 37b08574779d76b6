//! Every message, field and enum value of our descriptor set matches the reviewed listing in
//! `tests/golden/etcd_contract.txt`: full name, field number, type, label and oneof. That listing
//! was checked line by line against etcd's own .proto files (3.4.23 from Debian, plus the 3.5 and
//! 3.6 additions), so any edit to a .proto that changes the wire shows up here as a diff.
//! `UPDATE_GOLDEN=1 cargo test -p detcd-proto --test contract` rewrites the listing; review the
//! diff against etcd's files before committing it.

use detcd_proto::FILE_DESCRIPTOR_SET;
use prost_reflect::{Cardinality, DescriptorPool, EnumDescriptor, Kind, MessageDescriptor};
use std::fmt::Write as _;

const GOLDEN_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/etcd_contract.txt"
);

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(message) => format!(".{}", message.full_name()),
        Kind::Enum(enumeration) => format!(".{}", enumeration.full_name()),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn list_enum(out: &mut String, enumeration: &EnumDescriptor) {
    for value in enumeration.values() {
        writeln!(
            out,
            "enum {} {} = {}",
            enumeration.full_name(),
            value.name(),
            value.number()
        )
        .unwrap();
    }
}

fn list_message(out: &mut String, message: &MessageDescriptor) {
    writeln!(out, "message {}", message.full_name()).unwrap();
    let mut fields: Vec<_> = message.fields().collect();
    fields.sort_by_key(|field| field.number());
    for field in fields {
        let label = match field.cardinality() {
            Cardinality::Repeated => "repeated ",
            Cardinality::Optional | Cardinality::Required => "",
        };
        let oneof = field
            .containing_oneof()
            .map(|oneof| format!(" (oneof {})", oneof.name()))
            .unwrap_or_default();
        writeln!(
            out,
            "  {} = {} {label}{}{oneof}",
            field.name(),
            field.number(),
            kind_name(&field.kind())
        )
        .unwrap();
    }
    for nested in message.child_enums() {
        list_enum(out, &nested);
    }
    for nested in message.child_messages() {
        list_message(out, &nested);
    }
}

/// detcd's own peer protocol, which is no part of etcd's contract.
const OWN_PACKAGE: &str = "detcdpeerpb";

/// The listing: per file of etcd's contract (detcd's own peer protocol left out), in dependency
/// order, top-level enums then messages, in source order.
fn contract_listing() -> String {
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("FILE_DESCRIPTOR_SET decodes");
    let mut out = String::new();
    for file in pool
        .files()
        .filter(|file| file.package_name() != OWN_PACKAGE)
    {
        writeln!(
            out,
            "file {} (package {})",
            file.name(),
            file.package_name()
        )
        .unwrap();
        for enumeration in file.enums() {
            list_enum(&mut out, &enumeration);
        }
        for message in file.messages() {
            list_message(&mut out, &message);
        }
    }
    out
}

#[test]
fn messages_fields_and_enums_match_the_reviewed_listing() {
    // The listing built from FILE_DESCRIPTOR_SET equals the golden file, byte for byte.
    let actual = contract_listing();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN_PATH, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(GOLDEN_PATH).expect("golden listing exists");
    if actual != expected {
        let differing: Vec<String> = actual
            .lines()
            .filter(|line| !expected.lines().any(|e| e == *line))
            .map(|line| format!("+ {line}"))
            .chain(
                expected
                    .lines()
                    .filter(|line| !actual.lines().any(|a| a == *line))
                    .map(|line| format!("- {line}")),
            )
            .collect();
        panic!(
            "the wire contract changed (+ ours now, - reviewed listing); check against etcd's \
             .proto files, then UPDATE_GOLDEN=1 to rewrite:\n{}",
            differing.join("\n")
        );
    }
}
