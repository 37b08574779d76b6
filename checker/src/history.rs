//! The detcd history format: JSON lines, one [`HistoryRecord`] per line.
//!
//! A history is what clients saw: every request they sent (an *invoke*), what came back (a
//! *return*), and what their watches delivered. The simulator writes it; the checker reads it.
//!
//! # Records
//!
//! Every line is one JSON object with a `"record"` field naming its kind:
//!
//! - `"invoke"`: client `client` sent request `op` at `time_ns`. `op` is unique in the history.
//! - `"return"`: the answer to operation `op`, received at `time_ns`, with an `outcome`:
//!   - `{"ok": <response>}`: the response, including its header revision;
//!   - `{"error": {"message": "..."}}`: an error with etcd's message text. Errors that etcd raises
//!     before the request can take effect (see [`is_definitive_error`]) mean the request did not
//!     happen; every other error (`"etcdserver: request timed out"`, `"etcdserver: leader
//!     changed"`, a lost connection, ...) is treated as an unknown outcome;
//!   - `{"unknown": {"reason": "..."}}`: the client gave up without an answer (a timeout).
//!     The request may take effect at any point after its invoke, or never.
//!
//!   An invoke without a return is also an unknown outcome.
//! - `"watch"`: one response delivered on the watch created by operation `op` (whose invoke
//!   carried a `watch` request and whose return carried a `watch` response with the creation
//!   header): the `events` of the response, and `canceled` with the `compact_revision` when
//!   the server canceled the watch.
//!
//! Times are nanoseconds of simulated time; only their order matters. Two operations overlap
//! unless one returned strictly before the other was invoked.
//!
//! # Keys and values
//!
//! etcd keys and values are bytes; in this format they are JSON strings holding UTF-8 text (the
//! simulator writes UTF-8 keys). A `range_end` of `""` means the single key `key`; `"\u0000"`
//! means every key from `key` on; anything else is the half-open interval `[key, range_end)`.
//!
//! # Example
//!
//! ```text
//! {"record":"invoke","client":3,"op":17,"time_ns":1200,"request":{"put":{"key":"a","value":"1"}}}
//! {"record":"return","client":3,"op":17,"time_ns":1900,"outcome":{"ok":{"put":{"header":{"revision":5}}}}}
//! ```
//!
//! Fields whose value is the default (`0`, `false`, `""`, empty lists, `null`) may be left out,
//! as in the example. [`HistoryWriter`] writes records; [`read_history`] reads them.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::formats::ParseError;

/// One line of a detcd history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum HistoryRecord {
    /// A client sent a request.
    Invoke {
        client: u64,
        op: u64,
        time_ns: u64,
        request: Request,
    },
    /// The answer to an earlier invoke.
    Return {
        client: u64,
        op: u64,
        time_ns: u64,
        outcome: Outcome,
    },
    /// One response delivered on the watch created by operation `op`.
    Watch {
        client: u64,
        op: u64,
        time_ns: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        events: Vec<WatchEvent>,
        #[serde(default, skip_serializing_if = "is_default")]
        canceled: bool,
        #[serde(default, skip_serializing_if = "is_default")]
        compact_revision: i64,
    },
}

/// What came back for a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok(Response),
    Error { message: String },
    Unknown { reason: String },
}

/// A request, with etcd's options. Defaults match etcd's (`revision: 0` reads the latest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Range {
        key: String,
        #[serde(default, skip_serializing_if = "is_default")]
        range_end: String,
        #[serde(default, skip_serializing_if = "is_default")]
        revision: i64,
        #[serde(default, skip_serializing_if = "is_default")]
        limit: i64,
        #[serde(default, skip_serializing_if = "is_default")]
        keys_only: bool,
        #[serde(default, skip_serializing_if = "is_default")]
        count_only: bool,
        #[serde(default, skip_serializing_if = "is_default")]
        serializable: bool,
    },
    Put {
        key: String,
        value: String,
        #[serde(default, skip_serializing_if = "is_default")]
        lease: i64,
        #[serde(default, skip_serializing_if = "is_default")]
        prev_kv: bool,
    },
    DeleteRange {
        key: String,
        #[serde(default, skip_serializing_if = "is_default")]
        range_end: String,
        #[serde(default, skip_serializing_if = "is_default")]
        prev_kv: bool,
    },
    Txn {
        #[serde(default)]
        compares: Vec<Compare>,
        #[serde(default)]
        success: Vec<Request>,
        #[serde(default)]
        failure: Vec<Request>,
    },
    Compact {
        revision: i64,
    },
    LeaseGrant {
        id: i64,
        ttl: i64,
    },
    LeaseRevoke {
        id: i64,
    },
    LeaseKeepAlive {
        id: i64,
    },
    Watch {
        key: String,
        #[serde(default, skip_serializing_if = "is_default")]
        range_end: String,
        #[serde(default, skip_serializing_if = "is_default")]
        start_revision: i64,
        #[serde(default, skip_serializing_if = "is_default")]
        prev_kv: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        filters: Vec<WatchFilter>,
    },
}

/// One comparison of a transaction's guard. With a `range_end`, every key in the range must
/// satisfy it, as in etcd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    pub key: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub range_end: String,
    pub target: CompareTarget,
    pub result: CompareResult,
}

/// The field a compare looks at, with the operand. A missing key has version, create and mod
/// revision 0, lease 0 and the empty value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    Version(i64),
    CreateRevision(i64),
    ModRevision(i64),
    Value(String),
    Lease(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareResult {
    Equal,
    Greater,
    Less,
    NotEqual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchFilter {
    NoPut,
    NoDelete,
}

/// A successful response. `header.revision` is the store revision after the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResponseHeader {
    pub revision: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Range {
        #[serde(default)]
        header: ResponseHeader,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kvs: Vec<KeyValue>,
        #[serde(default, skip_serializing_if = "is_default")]
        count: i64,
        #[serde(default, skip_serializing_if = "is_default")]
        more: bool,
    },
    Put {
        #[serde(default)]
        header: ResponseHeader,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prev_kv: Option<KeyValue>,
    },
    DeleteRange {
        #[serde(default)]
        header: ResponseHeader,
        #[serde(default, skip_serializing_if = "is_default")]
        deleted: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prev_kvs: Vec<KeyValue>,
    },
    Txn {
        #[serde(default)]
        header: ResponseHeader,
        succeeded: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        responses: Vec<Response>,
    },
    Compact {
        #[serde(default)]
        header: ResponseHeader,
    },
    LeaseGrant {
        #[serde(default)]
        header: ResponseHeader,
        id: i64,
        ttl: i64,
    },
    LeaseRevoke {
        #[serde(default)]
        header: ResponseHeader,
    },
    LeaseKeepAlive {
        #[serde(default)]
        header: ResponseHeader,
        id: i64,
        ttl: i64,
    },
    /// The watch was created; events follow in `watch` records.
    Watch {
        #[serde(default)]
        header: ResponseHeader,
    },
}

impl Response {
    pub fn header(&self) -> &ResponseHeader {
        match self {
            Response::Range { header, .. }
            | Response::Put { header, .. }
            | Response::DeleteRange { header, .. }
            | Response::Txn { header, .. }
            | Response::Compact { header }
            | Response::LeaseGrant { header, .. }
            | Response::LeaseRevoke { header }
            | Response::LeaseKeepAlive { header, .. }
            | Response::Watch { header } => header,
        }
    }

    pub fn header_mut(&mut self) -> &mut ResponseHeader {
        match self {
            Response::Range { header, .. }
            | Response::Put { header, .. }
            | Response::DeleteRange { header, .. }
            | Response::Txn { header, .. }
            | Response::Compact { header }
            | Response::LeaseGrant { header, .. }
            | Response::LeaseRevoke { header }
            | Response::LeaseKeepAlive { header, .. }
            | Response::Watch { header } => header,
        }
    }

    /// The response with every header inside a transaction cleared: etcd fills nested headers
    /// inconsistently, so only the outer header's revision is checked.
    pub fn without_nested_headers(&self) -> Response {
        match self {
            Response::Txn {
                header,
                succeeded,
                responses,
            } => Response::Txn {
                header: header.clone(),
                succeeded: *succeeded,
                responses: responses.iter().map(Response::cleared_header).collect(),
            },
            other => other.clone(),
        }
    }

    fn cleared_header(&self) -> Response {
        let mut response = self.without_nested_headers();
        *response.header_mut() = ResponseHeader::default();
        response
    }
}

/// A key as etcd stores it. `version` counts puts since creation; a missing key has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub value: String,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub lease: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Put,
    Delete,
}

/// One watch event. For a delete, `kv` holds the key and the deleting revision as
/// `mod_revision`, as etcd sends it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchEvent {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub kv: KeyValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_kv: Option<KeyValue>,
}

impl WatchEvent {
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// Whether an error message means the request certainly did not take effect.
///
/// These are the errors etcd returns when it rejects a request before applying it, or when
/// applying it fails without changing anything. Every other error is treated as an unknown
/// outcome: treating an ambiguous error as "did not happen" could turn a correct history into a
/// false violation, while the opposite mistake only loosens the check.
pub fn is_definitive_error(message: &str) -> bool {
    const DEFINITIVE: [&str; 13] = [
        // detcd refuses these before proposing, so the request never reaches the log.
        "etcdserver: no leader",
        "etcdserver: not leader",
        "etcdserver: too many requests",
        "raft proposal dropped",
        "mvcc: required revision has been compacted",
        "mvcc: required revision is a future revision",
        "requested lease not found",
        "duplicate key given in txn request",
        "key is not provided",
        "too many operations in txn request",
        "mvcc: database space exceeded",
        "permission denied",
        "lease already exists",
    ];
    DEFINITIVE.iter().any(|known| message.contains(known))
}

/// Writes records as JSON lines.
#[derive(Debug)]
pub struct HistoryWriter<W: Write> {
    out: W,
}

impl<W: Write> HistoryWriter<W> {
    pub fn new(out: W) -> Self {
        HistoryWriter { out }
    }

    pub fn write(&mut self, record: &HistoryRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Reads a JSON-lines history. Blank lines are skipped; the error names the first bad line.
pub fn read_history(input: impl BufRead) -> Result<Vec<HistoryRecord>, ParseError> {
    let mut records = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line_number = index + 1;
        let line = line.map_err(|error| ParseError::new(line_number, error.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line)
            .map_err(|error| ParseError::new(line_number, error.to_string()))?;
        records.push(record);
    }
    Ok(records)
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The documented example lines parse, and writing a record then reading it back gives it back.
    #[test]
    fn example_lines_round_trip() {
        let text = concat!(
            r#"{"record":"invoke","client":3,"op":17,"time_ns":1200,"request":{"put":{"key":"a","value":"1"}}}"#,
            "\n",
            r#"{"record":"return","client":3,"op":17,"time_ns":1900,"outcome":{"ok":{"put":{"header":{"revision":5}}}}}"#,
            "\n"
        );
        let records = read_history(text.as_bytes()).unwrap();
        assert_eq!(records.len(), 2);
        let HistoryRecord::Return { outcome, .. } = &records[1] else {
            panic!("second line is a return");
        };
        let Outcome::Ok(response) = outcome else {
            panic!("outcome is ok");
        };
        assert_eq!(response.header().revision, 5);

        let mut writer = HistoryWriter::new(Vec::new());
        for record in &records {
            writer.write(record).unwrap();
        }
        let written = String::from_utf8(writer.into_inner()).unwrap();
        assert_eq!(written, text);
    }

    // A malformed line is reported with its 1-based line number.
    #[test]
    fn parse_error_names_the_line() {
        let text = "\n{\"record\":\"invoke\"}\n";
        let error = read_history(text.as_bytes()).unwrap_err();
        assert_eq!(error.line, 2);
    }

    // Timeouts and leader changes leave the outcome open; compaction errors do not.
    #[test]
    fn error_classification() {
        assert!(!is_definitive_error("etcdserver: request timed out"));
        assert!(!is_definitive_error("etcdserver: leader changed"));
        assert!(is_definitive_error(
            "etcdserver: mvcc: required revision has been compacted"
        ));
    }
}
