//! Readers for the history formats the checker accepts.

use std::fmt;
use std::str::FromStr;

pub mod edn;
pub mod jepsen;

/// The formats a history file can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Our JSON lines of etcd operations, see [`crate::history`].
    Detcd,
    /// Jepsen's etcd register logs (`INFO  jepsen.util - 3 :ok :cas [3 0]`).
    Jepsen,
    /// EDN maps of get/put/append operations, one per line, as in Porcupine's kv tests.
    EdnKv,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "detcd" => Ok(Format::Detcd),
            "jepsen" => Ok(Format::Jepsen),
            "edn-kv" => Ok(Format::EdnKv),
            other => Err(format!(
                "unknown history format {other:?}: expected detcd, jepsen or edn-kv"
            )),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Detcd => "detcd",
            Format::Jepsen => "jepsen",
            Format::EdnKv => "edn-kv",
        })
    }
}

/// A history that could not be read. `line` is 1-based; 0 means the file as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Pairs each client's invokes with their completions, for the line-based formats where a
/// client (Jepsen's "process") has at most one operation outstanding.
#[derive(Debug)]
pub(crate) struct Pending<I> {
    open: std::collections::BTreeMap<u64, (usize, I)>,
}

impl<I> Pending<I> {
    pub(crate) fn new() -> Self {
        Pending {
            open: std::collections::BTreeMap::new(),
        }
    }

    pub(crate) fn invoke(&mut self, client: u64, line: usize, input: I) -> Result<(), ParseError> {
        if let Some((earlier, _)) = self.open.insert(client, (line, input)) {
            return Err(ParseError::new(
                line,
                format!(
                    "process {client} invokes again while its operation from line {earlier} is open"
                ),
            ));
        }
        Ok(())
    }

    /// The open invoke of `client`: its line and input.
    pub(crate) fn complete(&mut self, client: u64, line: usize) -> Result<(usize, I), ParseError> {
        self.open.remove(&client).ok_or_else(|| {
            ParseError::new(
                line,
                format!("process {client} completes an operation it never invoked"),
            )
        })
    }

    /// Invokes never completed, in client order: their outcome is unknown.
    pub(crate) fn into_open(self) -> impl Iterator<Item = (u64, usize, I)> {
        self.open
            .into_iter()
            .map(|(client, (line, input))| (client, line, input))
    }
}

/// Jepsen's operation types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventKind {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "invoke" => Some(EventKind::Invoke),
            "ok" => Some(EventKind::Ok),
            "fail" => Some(EventKind::Fail),
            "info" => Some(EventKind::Info),
            _ => None,
        }
    }
}
