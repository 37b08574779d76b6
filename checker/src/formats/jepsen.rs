//! Jepsen's etcd register logs.
//!
//! ```text
//! INFO  jepsen.util - 3    :invoke    :cas    [3 0]
//! INFO  jepsen.util - 3    :ok    :cas    [3 0]
//! ```
//!
//! Fields are separated by tabs (as in real logs) or runs of spaces. Types are invoke/ok/fail/info and functions
//! read/write/cas; values are `nil`, integers, `[expected new]` or `:timed-out`. A `:fail`
//! operation did not happen and constrains nothing; an `:info` operation has an unknown outcome
//! and stays open to the end. Lines from other loggers and from the nemesis are skipped. The
//! line number stands in for time, since only the order of events matters.

use super::{EventKind, ParseError, Pending};
use crate::model::register::{RegisterInput, RegisterOutput};
use crate::operation::Operation;

pub type RegisterOperation = Operation<RegisterInput, RegisterOutput>;

const MARKER: &str = "jepsen.util - ";

pub fn parse(text: &str) -> Result<Vec<RegisterOperation>, ParseError> {
    let mut pending = Pending::new();
    let mut operations = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let Some(start) = line.find(MARKER) else {
            continue;
        };
        let fields: Vec<&str> = line[start + MARKER.len()..].split_whitespace().collect();
        let Some(Ok(process)) = fields.first().map(|field| field.parse::<u64>()) else {
            continue; // the nemesis, or a message that is not an operation
        };
        let event = parse_event(&fields[1..], line_number)?;
        apply_event(&mut pending, &mut operations, process, line_number, event)?;
    }
    for (process, line, input) in pending.into_open() {
        operations.push(Operation::open(process, line as u64, line as u64, input));
    }
    operations.sort_by_key(|operation| operation.invoke_ns);
    Ok(operations)
}

struct Event {
    kind: EventKind,
    function: String,
    value: Value,
}

fn apply_event(
    pending: &mut Pending<RegisterInput>,
    operations: &mut Vec<RegisterOperation>,
    process: u64,
    line: usize,
    event: Event,
) -> Result<(), ParseError> {
    let time = line as u64;
    if event.kind == EventKind::Invoke {
        return pending.invoke(process, line, invoked_input(&event, line)?);
    }
    let (invoke_line, input) = pending.complete(process, line)?;
    let invoke_time = invoke_line as u64;
    match event.kind {
        EventKind::Ok => {
            let output = match (input, event.value) {
                (RegisterInput::Read, Value::Number(seen)) => RegisterOutput::Read(seen),
                (RegisterInput::Read, other) => {
                    return Err(ParseError::new(line, format!("a read returned {other:?}")));
                }
                _ => RegisterOutput::Done,
            };
            operations.push(Operation::completed(
                process,
                invoke_time,
                invoke_time,
                input,
                time,
                output,
            ));
        }
        EventKind::Info => {
            operations.push(Operation::open(process, invoke_time, invoke_time, input))
        }
        EventKind::Fail | EventKind::Invoke => {}
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Value {
    Number(Option<i64>),
    Pair(i64, i64),
    TimedOut,
}

fn parse_event(fields: &[&str], line: usize) -> Result<Event, ParseError> {
    let bad = |what: &str| ParseError::new(line, format!("expected {what} after the process"));
    let kind = fields
        .first()
        .and_then(|field| field.strip_prefix(':'))
        .and_then(EventKind::parse)
        .ok_or_else(|| bad("a type (:invoke, :ok, :fail or :info)"))?;
    let function = fields
        .get(1)
        .filter(|function| matches!(**function, ":read" | ":write" | ":cas"))
        .ok_or_else(|| bad("a function (:read, :write or :cas)"))?;
    let value = parse_value(&fields[2..].join(" "))
        .ok_or_else(|| bad("a value (nil, an integer, [a b] or :timed-out)"))?;
    Ok(Event {
        kind,
        function: function.to_string(),
        value,
    })
}

/// The input an invoke line describes. Completions may carry `:timed-out` instead of the
/// value, so only invokes are read for inputs.
fn invoked_input(event: &Event, line: usize) -> Result<RegisterInput, ParseError> {
    match (event.function.as_str(), event.value) {
        (":read", _) => Ok(RegisterInput::Read),
        (":write", Value::Number(Some(written))) => Ok(RegisterInput::Write(written)),
        (":cas", Value::Pair(expected, new)) => Ok(RegisterInput::Cas { expected, new }),
        (function, value) => Err(ParseError::new(
            line,
            format!(
                "cannot invoke {function} with {value:?}: expected :read, :write with an integer, or :cas with [expected new]"
            ),
        )),
    }
}

fn parse_value(text: &str) -> Option<Value> {
    let text = text.trim();
    match text {
        "nil" => Some(Value::Number(None)),
        ":timed-out" => Some(Value::TimedOut),
        _ if text.starts_with('[') && text.ends_with(']') => {
            let inner: Vec<&str> = text[1..text.len() - 1].split_whitespace().collect();
            match inner.as_slice() {
                [expected, new] => Some(Value::Pair(expected.parse().ok()?, new.parse().ok()?)),
                _ => None,
            }
        }
        _ => text.parse().ok().map(|number| Value::Number(Some(number))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each completion pairs with its process's invoke; :fail drops the operation and :info
    // leaves it open, and line numbers serve as times.
    #[test]
    fn pairs_invokes_with_completions() {
        let log = "\
INFO  jepsen.util - 3\t:invoke\t:cas\t[3 0]
INFO  jepsen.util - 1   :invoke :read   nil
INFO  jepsen.util - 3\t:ok\t:cas\t[3 0]
INFO  jepsen.util - 1   :ok     :read   3
INFO  jepsen.util - 2\t:invoke\t:write\t4
INFO  jepsen.util - 4\t:invoke\t:read\tnil
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 2\t:info\t:write\t:timed-out
INFO  jepsen.util - 4\t:fail\t:read\tnil
";
        let operations = parse(log).unwrap();
        assert_eq!(
            operations,
            vec![
                Operation::completed(
                    3,
                    1,
                    1,
                    RegisterInput::Cas {
                        expected: 3,
                        new: 0
                    },
                    3,
                    RegisterOutput::Done
                ),
                Operation::completed(
                    1,
                    2,
                    2,
                    RegisterInput::Read,
                    4,
                    RegisterOutput::Read(Some(3))
                ),
                Operation::open(2, 5, 5, RegisterInput::Write(4)),
            ]
        );
    }

    // A malformed operation line is an error that names its line.
    #[test]
    fn bad_value_names_the_line() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:write\t[1]\n";
        assert_eq!(parse(log).unwrap_err().line, 1);
    }
}
