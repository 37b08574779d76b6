//! EDN kv histories, as in Porcupine's kv tests: one map per line.
//!
//! ```text
//! {:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
//! {:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}
//! ```
//!
//! Functions are get/put/append over string keys and values; a missing key reads as the empty
//! string. `:fail` operations did not happen; `:info` ones have an unknown outcome. Lines that
//! hold no map (such as a lone `[` or `]` around the history) are skipped.

use std::collections::BTreeMap;

use super::{EventKind, ParseError, Pending};
use crate::model::kv::{KvInput, KvOutput};
use crate::operation::Operation;

pub type KvOperation = Operation<KvInput, KvOutput>;

pub fn parse(text: &str) -> Result<Vec<KvOperation>, ParseError> {
    let mut pending = Pending::new();
    let mut operations = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let Some(start) = line.find('{') else {
            continue;
        };
        let map =
            parse_map(&line[start..]).map_err(|message| ParseError::new(line_number, message))?;
        let event =
            Event::from_map(&map).map_err(|message| ParseError::new(line_number, message))?;
        let time = line_number as u64;
        if event.kind == EventKind::Invoke {
            pending.invoke(event.process, line_number, event.input)?;
            continue;
        }
        let (invoke_line, input) = pending.complete(event.process, line_number)?;
        let invoke_time = invoke_line as u64;
        match event.kind {
            EventKind::Ok => {
                let output = match &input {
                    KvInput::Get { .. } => KvOutput::Value(event.value.unwrap_or_default()),
                    _ => KvOutput::Done,
                };
                operations.push(Operation::completed(
                    event.process,
                    invoke_time,
                    invoke_time,
                    input,
                    time,
                    output,
                ));
            }
            EventKind::Info => operations.push(Operation::open(
                event.process,
                invoke_time,
                invoke_time,
                input,
            )),
            EventKind::Fail | EventKind::Invoke => {}
        }
    }
    for (process, line, input) in pending.into_open() {
        operations.push(Operation::open(process, line as u64, line as u64, input));
    }
    operations.sort_by_key(|operation| operation.invoke_ns);
    Ok(operations)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum EdnValue {
    Keyword(String),
    Text(String),
    Integer(i64),
    Nil,
}

struct Event {
    process: u64,
    kind: EventKind,
    input: KvInput,
    value: Option<String>,
}

impl Event {
    fn from_map(map: &BTreeMap<String, EdnValue>) -> Result<Event, String> {
        let field = |name: &str| map.get(name).ok_or_else(|| format!("missing :{name}"));
        let process = match field("process")? {
            EdnValue::Integer(process) if *process >= 0 => *process as u64,
            other => return Err(format!(":process must be a number, not {other:?}")),
        };
        let kind = match field("type")? {
            EdnValue::Keyword(name) => EventKind::parse(name),
            _ => None,
        }
        .ok_or("expected :type :invoke, :ok, :fail or :info")?;
        let key = match field("key")? {
            EdnValue::Text(key) => key.clone(),
            EdnValue::Integer(key) => key.to_string(),
            other => return Err(format!(":key must be a string, not {other:?}")),
        };
        let value = match map.get("value") {
            Some(EdnValue::Text(value)) => Some(value.clone()),
            Some(EdnValue::Integer(value)) => Some(value.to_string()),
            Some(EdnValue::Nil) | None => None,
            Some(other) => return Err(format!(":value must be a string or nil, not {other:?}")),
        };
        let input = match field("f")? {
            EdnValue::Keyword(name) if name == "get" => KvInput::Get { key },
            EdnValue::Keyword(name) if name == "put" => KvInput::Put {
                key,
                value: value.clone().unwrap_or_default(),
            },
            EdnValue::Keyword(name) if name == "append" => KvInput::Append {
                key,
                value: value.clone().unwrap_or_default(),
            },
            other => return Err(format!("expected :f :get, :put or :append, not {other:?}")),
        };
        Ok(Event {
            process,
            kind,
            input,
            value,
        })
    }
}

/// Parses one flat EDN map of keyword keys to keywords, strings, integers or nil.
fn parse_map(text: &str) -> Result<BTreeMap<String, EdnValue>, String> {
    let mut chars = text.chars().peekable();
    if chars.next() != Some('{') {
        return Err("expected a map".to_string());
    }
    let mut map = BTreeMap::new();
    loop {
        skip_separators(&mut chars);
        if chars.peek() == Some(&'}') {
            return Ok(map);
        }
        let key = match parse_value(&mut chars)? {
            EdnValue::Keyword(key) => key,
            other => return Err(format!("map keys must be keywords, not {other:?}")),
        };
        skip_separators(&mut chars);
        let value = parse_value(&mut chars)?;
        map.insert(key, value);
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_separators(chars: &mut Chars<'_>) {
    while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
}

fn parse_value(chars: &mut Chars<'_>) -> Result<EdnValue, String> {
    match chars.peek() {
        None => Err("the map is not closed".to_string()),
        Some('"') => {
            chars.next();
            parse_string(chars).map(EdnValue::Text)
        }
        Some(':') => {
            chars.next();
            Ok(EdnValue::Keyword(take_symbol(chars)))
        }
        Some(_) => {
            let symbol = take_symbol(chars);
            if symbol == "nil" {
                return Ok(EdnValue::Nil);
            }
            symbol
                .parse()
                .map(EdnValue::Integer)
                .map_err(|_| format!("unexpected {symbol:?}"))
        }
    }
}

fn take_symbol(chars: &mut Chars<'_>) -> String {
    let mut symbol = String::new();
    while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !matches!(c, ',' | '}' | '{' | '"'))
    {
        symbol.push(c);
    }
    symbol
}

fn parse_string(chars: &mut Chars<'_>) -> Result<String, String> {
    let mut text = String::new();
    loop {
        match chars.next() {
            None => return Err("the string is not closed".to_string()),
            Some('"') => return Ok(text),
            Some('\\') => match chars.next() {
                Some('n') => text.push('\n'),
                Some('t') => text.push('\t'),
                Some(other) => text.push(other),
                None => return Err("the string is not closed".to_string()),
            },
            Some(c) => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Maps pair up by process; a get's :ok carries the value read, nil reads as "", and :info
    // leaves the operation open.
    #[test]
    fn pairs_invokes_with_completions() {
        let log = r#"[{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
{:process 1, :type :invoke, :f :get, :key "4", :value nil}
{:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}
{:process 1, :type :ok, :f :get, :key "4", :value nil}
{:process 2, :type :invoke, :f :put, :key "5", :value "z"}
{:process 2, :type :info, :f :put, :key "5", :value "z"}]
"#;
        let operations = parse(log).unwrap();
        let append = KvInput::Append {
            key: "4".into(),
            value: "x 0 1 y".into(),
        };
        assert_eq!(
            operations,
            vec![
                Operation::completed(0, 1, 1, append, 3, KvOutput::Done),
                Operation::completed(
                    1,
                    2,
                    2,
                    KvInput::Get { key: "4".into() },
                    4,
                    KvOutput::Value(String::new())
                ),
                Operation::open(
                    2,
                    5,
                    5,
                    KvInput::Put {
                        key: "5".into(),
                        value: "z".into()
                    }
                ),
            ]
        );
    }

    // An unknown function is an error naming its line.
    #[test]
    fn unknown_function_names_the_line() {
        let log = "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok, :f :cas, :key \"1\"}\n";
        assert_eq!(parse(log).unwrap_err().line, 2);
    }
}
