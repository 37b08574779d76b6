//! Logging as etcd's: capnslog lines by default (`2026-12-07 11:58:24.487228 I | etcdserver:
//! published ...`), JSON lines with `--logger=zap`. Each event's target is the etcd package that
//! would have logged it (`etcdserver`, `embed`, `etcdmain`), so operators grep for the same
//! words; fields follow the message.

use std::fmt::Write as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogLevel;

/// Install the process's logger, writing to stderr as etcd does.
pub fn init(level: LogLevel, json: bool) {
    let level = match level {
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warn => Level::WARN,
        LogLevel::Error => Level::ERROR,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    let installed = if json {
        builder.event_format(Zap).try_init()
    } else {
        builder.event_format(Capnslog).try_init()
    };
    // A second init (tests start several servers in one process) keeps the first logger.
    let _ = installed;
}

/// etcd's `--logger=zap` lines: one JSON object per event, `level`, `ts`, `caller` (here the
/// etcd package), `msg`, then the event's fields.
#[derive(Clone, Copy, Debug)]
struct Zap;

impl<S, N> FormatEvent<S, N> for Zap
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let metadata = event.metadata();
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let mut object = serde_json::Map::new();
        let level = metadata.level().as_str().to_ascii_lowercase();
        object.insert("level".into(), level.into());
        object.insert("ts".into(), timestamp_rfc3339().into());
        object.insert("caller".into(), metadata.target().into());
        object.insert("msg".into(), fields.message.into());
        object.extend(fields.fields);
        writeln!(writer, "{}", serde_json::Value::Object(object))
    }
}

/// An event's message and fields, as JSON values.
#[derive(Debug, Default)]
struct JsonFields {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for JsonFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            name => {
                self.fields.insert(name.into(), text.into());
            }
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            name => {
                self.fields.insert(name.into(), value.into());
            }
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.fields.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.fields.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.fields.insert(field.name().into(), value.into());
    }
}

/// etcd 3.4's default line format.
#[derive(Clone, Copy, Debug)]
struct Capnslog;

impl<S, N> FormatEvent<S, N> for Capnslog
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let metadata = event.metadata();
        let level = match *metadata.level() {
            Level::ERROR => 'E',
            Level::WARN => 'W',
            Level::INFO => 'I',
            Level::DEBUG => 'D',
            Level::TRACE => 'T',
        };
        let target = metadata.target().rsplit("::").next().unwrap_or("detcd");
        write!(writer, "{} {level} | {target}: ", timestamp())?;
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        if let Some(scope) = context.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, " {fields}")?;
                }
            }
        }
        writeln!(writer)
    }
}

/// `2026-12-07 11:58:24.487228`, in UTC.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let time = seconds % 86_400;
    let mut text = String::with_capacity(26);
    let _ = write!(
        text,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        time / 3600,
        time / 60 % 60,
        time % 60,
        now.subsec_micros()
    );
    text
}

/// `2026-12-07T11:58:24.487Z`, as zap writes its times.
fn timestamp_rfc3339() -> String {
    let text = timestamp();
    format!("{}T{}Z", &text[..10], &text[11..23])
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
