//! A member's configuration: etcd's flags, `ETCD_*` environment and `--config-file`, with etcd's
//! defaults, read into typed values with etcd's error messages.

pub mod flags;
pub mod url;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use self::url::{Scheme, Url};
use flags::{Invocation, Support, invalid, parse_bool};

/// What `detcd` was asked to do.
#[derive(Debug)]
pub enum Command {
    Serve(Box<Config>),
    Help,
    Version,
}

/// etcd's TLS flags for one side, as etcd's `transport.TLSInfo`: the client side
/// (`--cert-file`, ...) or the peer side (`--peer-cert-file`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFlags {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    pub client_cert_auth: bool,
    pub crl_file: Option<PathBuf>,
    pub auto_tls: bool,
    /// Go's names, as `--cipher-suites` lists them (one flag for both sides); empty means every
    /// suite rustls has.
    pub cipher_suites: Vec<String>,
}

impl TlsFlags {
    /// Whether this side can serve TLS at all: certificate files, or a self-signed certificate.
    /// etcd refuses an `https` or `unixs` URL without it.
    pub fn is_enabled(&self) -> bool {
        self.auto_tls || (self.cert_file.is_some() && self.key_file.is_some())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    New,
    Existing,
}

/// etcd's `--auto-compaction-mode` with its retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep this much history, compacting every retention period (or every hour when longer).
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Everything a member needs to start, read from etcd's flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub name: String,
    pub data_dir: PathBuf,
    pub snapshot_count: u64,
    pub max_snapshots: usize,
    pub heartbeat_interval: Duration,
    pub election_timeout: Duration,
    pub listen_peer_urls: Vec<Url>,
    pub listen_client_urls: Vec<Url>,
    pub advertise_client_urls: Vec<Url>,
    pub initial_advertise_peer_urls: Vec<Url>,
    /// (name, peer URL), in the order given; a name may appear more than once (several URLs).
    pub initial_cluster: Vec<(String, Url)>,
    pub initial_cluster_state: ClusterState,
    pub initial_cluster_token: String,
    pub strict_reconfig_check: bool,
    pub pre_vote: bool,
    pub auto_compaction: Option<AutoCompaction>,
    pub quota_backend_bytes: u64,
    pub max_txn_ops: usize,
    pub max_request_bytes: usize,
    pub max_concurrent_streams: u32,
    pub client_tls: TlsFlags,
    pub peer_tls: TlsFlags,
    pub listen_metrics_urls: Vec<Url>,
    pub logger_json: bool,
    pub log_level: LogLevel,
    pub watch_progress_notify_interval: Duration,
    /// Said at start: unknown `ETCD_*` variables, flags accepted but not honoured.
    pub warnings: Vec<String>,
}

/// etcd's default quota: 2 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// etcd refuses a quota above 8 GiB (it warns and caps); detcd keeps the state in memory and
/// takes etcd's word for the maximum.
pub const MAX_QUOTA_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// Read the command line (without the program name) and the environment.
pub fn from_args(
    args: &[String],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Command, String> {
    let mut values = match flags::parse_args(args)? {
        Invocation::Help => return Ok(Command::Help),
        Invocation::Version => return Ok(Command::Version),
        Invocation::Serve(values) => values,
    };
    let mut warnings = Vec::new();
    if let Some(path) = values.get("config-file").cloned() {
        // etcd: "other command line flags and environment variables will be ignored".
        values = read_config_file(&path)?;
    } else {
        flags::merge_env(&mut values, env, &mut warnings)?;
    }
    Config::from_values(&values, warnings).map(|config| Command::Serve(Box::new(config)))
}

/// etcd's YAML configuration file: the flags' names as keys, with the TLS flags nested under
/// `client-transport-security` and `peer-transport-security`.
fn read_config_file(path: &str) -> Result<BTreeMap<&'static str, String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let document: BTreeMap<String, serde_json::Value> = serde_saphyr::from_str(&text)
        .map_err(|error| format!("cannot parse config file {path}: {error}"))?;
    let mut values = BTreeMap::new();
    for (key, value) in document {
        match key.as_str() {
            "client-transport-security" | "peer-transport-security" => {
                let prefix = if key.starts_with("peer") { "peer-" } else { "" };
                let serde_json::Value::Object(fields) = value else {
                    return Err(format!("config file {path}: {key} must be a mapping"));
                };
                for (field, value) in fields {
                    let name = match field.as_str() {
                        "crl-file" if prefix.is_empty() => "client-crl-file".to_string(),
                        "cert-file" | "key-file" | "client-cert-auth" | "trusted-ca-file"
                        | "auto-tls" | "crl-file" => format!("{prefix}{field}"),
                        _ => continue,
                    };
                    insert_config_value(&mut values, path, &name, &value)?;
                }
            }
            _ => insert_config_value(&mut values, path, &key, &value)?,
        }
    }
    Ok(values)
}

fn insert_config_value(
    values: &mut BTreeMap<&'static str, String>,
    path: &str,
    key: &str,
    value: &serde_json::Value,
) -> Result<(), String> {
    let Some(flag) = flags::find(key) else {
        // etcd's config struct ignores keys it does not know.
        return Ok(());
    };
    let text = match value {
        serde_json::Value::Null => return Ok(()),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_string)
            })
            .collect::<Vec<_>>()
            .join(","),
        serde_json::Value::Object(_) => {
            return Err(format!("config file {path}: {key} cannot be a mapping"));
        }
    };
    values.insert(flag.name, text);
    Ok(())
}

/// The raw values of the flags that were set, with the table's defaults for the rest.
struct Values<'a> {
    set: &'a BTreeMap<&'static str, String>,
}

impl Values<'_> {
    fn text(&self, name: &'static str) -> String {
        self.set.get(name).cloned().unwrap_or_else(|| {
            flags::find(name)
                .unwrap_or_else(|| panic!("--{name} is in the flag table"))
                .default
                .to_string()
        })
    }

    fn is_set(&self, name: &'static str) -> bool {
        self.set.contains_key(name)
    }

    fn bool(&self, name: &'static str) -> Result<bool, String> {
        let text = self.text(name);
        parse_bool(&text).ok_or_else(|| invalid(&text, name, "parse error"))
    }

    fn number<T: std::str::FromStr>(&self, name: &'static str) -> Result<T, String> {
        let text = self.text(name);
        text.trim()
            .parse()
            .map_err(|_| invalid(&text, name, "parse error"))
    }

    fn millis(&self, name: &'static str) -> Result<Duration, String> {
        self.number::<u64>(name).map(Duration::from_millis)
    }

    fn path(&self, name: &'static str) -> Option<PathBuf> {
        Some(self.text(name))
            .filter(|text| !text.is_empty())
            .map(PathBuf::from)
    }

    fn urls(&self, name: &'static str) -> Result<Vec<Url>, String> {
        let text = self.text(name);
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| Url::parse(part).map_err(|why| invalid(&text, name, &why)))
            .collect()
    }

    fn tls(&self, prefix: &'static str) -> TlsFlags {
        let peer = !prefix.is_empty();
        let flag =
            |client: &'static str, peer_name: &'static str| if peer { peer_name } else { client };
        TlsFlags {
            cert_file: self.path(flag("cert-file", "peer-cert-file")),
            key_file: self.path(flag("key-file", "peer-key-file")),
            trusted_ca_file: self.path(flag("trusted-ca-file", "peer-trusted-ca-file")),
            client_cert_auth: self
                .bool(flag("client-cert-auth", "peer-client-cert-auth"))
                .unwrap_or(false),
            crl_file: self.path(flag("client-crl-file", "peer-crl-file")),
            auto_tls: self
                .bool(flag("auto-tls", "peer-auto-tls"))
                .unwrap_or(false),
            cipher_suites: self
                .text("cipher-suites")
                .split(',')
                .map(str::trim)
                .filter(|suite| !suite.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

impl Config {
    fn from_values(
        set: &BTreeMap<&'static str, String>,
        mut warnings: Vec<String>,
    ) -> Result<Config, String> {
        let values = Values { set };
        for (name, value) in set {
            let flag = flags::find(name).expect("only table flags are stored");
            if let Support::Ignored(reason) = flag.support
                && *value != flag.default
            {
                warnings.push(format!(
                    "--{name}={value} is accepted but not honoured: {reason}"
                ));
            }
        }
        let name = values.text("name");
        let data_dir = match values.set.get("data-dir") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(format!("{name}.etcd")),
        };
        let initial_cluster_state = match values.text("initial-cluster-state").as_str() {
            "new" => ClusterState::New,
            "existing" => ClusterState::Existing,
            other => return Err(invalid(other, "initial-cluster-state", "invalid value")),
        };
        let quota_backend_bytes = match values.number::<i64>("quota-backend-bytes")? {
            quota if quota < 0 => {
                return Err(invalid(
                    &quota.to_string(),
                    "quota-backend-bytes",
                    "negative quota",
                ));
            }
            0 => DEFAULT_QUOTA_BYTES,
            quota => {
                let quota = quota as u64;
                if quota > MAX_QUOTA_BYTES {
                    warnings.push(format!(
                        "quota {quota} exceeds the maximum {MAX_QUOTA_BYTES}; using the maximum"
                    ));
                }
                quota.min(MAX_QUOTA_BYTES)
            }
        };
        let initial_cluster = parse_initial_cluster(&values.text("initial-cluster"))?;
        let log_level = match values.text("log-level").as_str() {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" | "dpanic" | "panic" | "fatal" => LogLevel::Error,
            other => return Err(invalid(other, "log-level", "invalid log level")),
        };
        let log_level = if values.bool("debug")? {
            LogLevel::Debug
        } else {
            log_level
        };
        let logger_json = match values.text("logger").as_str() {
            "zap" => true,
            "capnslog" => false,
            other => return Err(invalid(other, "logger", "unknown logger")),
        };
        let config = Config {
            data_dir,
            snapshot_count: values.number("snapshot-count")?,
            max_snapshots: values.number("max-snapshots")?,
            heartbeat_interval: values.millis("heartbeat-interval")?,
            election_timeout: values.millis("election-timeout")?,
            listen_peer_urls: values.urls("listen-peer-urls")?,
            listen_client_urls: values.urls("listen-client-urls")?,
            advertise_client_urls: values.urls("advertise-client-urls")?,
            initial_advertise_peer_urls: values.urls("initial-advertise-peer-urls")?,
            initial_cluster,
            initial_cluster_state,
            initial_cluster_token: values.text("initial-cluster-token"),
            strict_reconfig_check: values.bool("strict-reconfig-check")?,
            pre_vote: values.bool("pre-vote")?,
            auto_compaction: auto_compaction(&values)?,
            quota_backend_bytes,
            max_txn_ops: values.number("max-txn-ops")?,
            max_request_bytes: values.number("max-request-bytes")?,
            max_concurrent_streams: values.number("max-concurrent-streams")?,
            client_tls: values.tls(""),
            peer_tls: values.tls("peer-"),
            listen_metrics_urls: values.urls("listen-metrics-urls")?,
            logger_json,
            log_level,
            watch_progress_notify_interval: parse_go_duration(
                &values.text("experimental-watch-progress-notify-interval"),
            )
            .ok_or_else(|| {
                invalid(
                    &values.text("experimental-watch-progress-notify-interval"),
                    "experimental-watch-progress-notify-interval",
                    "invalid duration",
                )
            })?,
            name,
            warnings,
        };
        config.validate(&values)?;
        Ok(config)
    }

    /// etcd's checks of flags that depend on each other.
    fn validate(&self, values: &Values<'_>) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() || self.election_timeout.is_zero() {
            return Err("heartbeat-interval and election-timeout must be positive".into());
        }
        if self.election_timeout < self.heartbeat_interval * 5 {
            return Err(format!(
                "--election-timeout[{}ms] should be at least as 5 times as --heartbeat-interval[{}ms]",
                self.election_timeout.as_millis(),
                self.heartbeat_interval.as_millis()
            ));
        }
        if self.listen_client_urls.is_empty() {
            return Err("--listen-client-urls must not be empty".into());
        }
        for url in self
            .listen_client_urls
            .iter()
            .chain(&self.listen_metrics_urls)
        {
            if url.scheme.is_tls() && !self.client_tls.is_enabled() {
                return Err(format!(
                    "TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"
                ));
            }
        }
        if values.is_set("advertise-client-urls") && self.advertise_client_urls.is_empty() {
            return Err(
                "--advertise-client-urls is required when --listen-client-urls is set explicitly"
                    .into(),
            );
        }
        if self.initial_cluster_state == ClusterState::New
            && !self
                .initial_cluster
                .iter()
                .any(|(name, _)| *name == self.name)
        {
            return Err(format!(
                "couldn't find local name \"{}\" in the initial cluster configuration",
                self.name
            ));
        }
        if self.max_txn_ops == 0 {
            return Err(invalid("0", "max-txn-ops", "must be positive"));
        }
        Ok(())
    }

    /// This member's peer URLs as `--initial-cluster` lists them (what its id derives from).
    pub fn own_peer_urls(&self) -> Vec<Url> {
        self.initial_cluster
            .iter()
            .filter(|(name, _)| *name == self.name)
            .map(|(_, url)| url.clone())
            .collect()
    }
}

/// `name=url,name=url,...`.
pub fn parse_initial_cluster(text: &str) -> Result<Vec<(String, Url)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, url) = part
                .split_once('=')
                .ok_or_else(|| invalid(text, "initial-cluster", "missing '=' in name=url"))?;
            let url = Url::parse(url).map_err(|why| invalid(text, "initial-cluster", &why))?;
            Ok((name.to_string(), url))
        })
        .collect()
}

fn auto_compaction(values: &Values<'_>) -> Result<Option<AutoCompaction>, String> {
    let retention = values.text("auto-compaction-retention");
    let mode = values.text("auto-compaction-mode");
    let invalid_retention = || invalid(&retention, "auto-compaction-retention", "parse error");
    match mode.as_str() {
        "revision" => {
            let revisions: i64 = retention.trim().parse().map_err(|_| invalid_retention())?;
            Ok((revisions > 0).then_some(AutoCompaction::Revision(revisions)))
        }
        "periodic" => {
            // A bare number is hours, as in etcd.
            let period = match retention.trim().parse::<u64>() {
                Ok(hours) => Duration::from_secs(hours * 3600),
                Err(_) => parse_go_duration(&retention).ok_or_else(invalid_retention)?,
            };
            Ok((!period.is_zero()).then_some(AutoCompaction::Periodic(period)))
        }
        other => Err(invalid(
            other,
            "auto-compaction-mode",
            "unknown auto-compaction mode",
        )),
    }
}

/// Go's `time.ParseDuration`: `300ms`, `1.5h`, `2h45m`; units ns, us, µs, ms, s, m, h.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&end| end > 0)?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(line: &str) -> Result<Config, String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        match from_args(&args, Vec::new())? {
            Command::Serve(config) => Ok(*config),
            other => panic!("{other:?}"),
        }
    }

    // With no flags, every value is etcd's default.
    #[test]
    fn defaults_are_etcds() {
        let config = config("").unwrap();
        assert_eq!(config.name, "default");
        assert_eq!(config.data_dir, PathBuf::from("default.etcd"));
        assert_eq!(config.snapshot_count, 100_000);
        assert_eq!(config.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(config.election_timeout, Duration::from_millis(1000));
        assert_eq!(config.quota_backend_bytes, DEFAULT_QUOTA_BYTES);
        assert_eq!(config.max_request_bytes, 1_572_864);
        assert_eq!(config.max_txn_ops, 128);
        assert_eq!(config.initial_cluster_token, "etcd-cluster");
        assert_eq!(
            config.listen_client_urls[0].to_string(),
            "http://localhost:2379"
        );
        assert_eq!(config.initial_cluster[0].0, "default");
        assert!(config.strict_reconfig_check);
        assert_eq!(config.auto_compaction, None);
        assert!(config.warnings.is_empty());
    }

    // The command line of etcd's e2e harness reads as etcd reads it.
    #[test]
    fn reads_the_e2e_harness_command_line() {
        let config = config(
            "--name testname0 --listen-client-urls http://localhost:20000 \
             --advertise-client-urls http://localhost:20000 --listen-peer-urls https://localhost:20001 \
             --initial-advertise-peer-urls https://localhost:20001 --initial-cluster-token new \
             --data-dir /tmp/x --snapshot-count 100000 --quota-backend-bytes 53248 \
             --experimental-initial-corrupt-check --peer-auto-tls \
             --initial-cluster testname0=https://localhost:20001",
        )
        .unwrap();
        assert_eq!(config.quota_backend_bytes, 53248);
        assert!(config.peer_tls.auto_tls);
        assert_eq!(
            config.own_peer_urls()[0].to_string(),
            "https://localhost:20001"
        );
    }

    // Inconsistent flags fail with etcd's messages.
    #[test]
    fn refuses_what_etcd_refuses() {
        let error = config("--initial-cluster-state bad").unwrap_err();
        assert_eq!(
            error,
            "invalid value \"bad\" for flag -initial-cluster-state: invalid value"
        );
        let error = config("--snapshot-count abc").unwrap_err();
        assert_eq!(
            error,
            "invalid value \"abc\" for flag -snapshot-count: parse error"
        );
        let error = config("--name x").unwrap_err();
        assert!(error.contains("couldn't find local name \"x\""), "{error}");
        let error = config("--listen-client-urls https://localhost:2379").unwrap_err();
        assert!(error.contains("must be provided for client url"), "{error}");
        let error = config("--heartbeat-interval 500").unwrap_err();
        assert!(error.contains("at least as 5 times"), "{error}");
    }

    // Flags detcd accepts without honouring them are named at start, with the reason.
    #[test]
    fn ignored_flags_are_reported() {
        let config = config("--enable-pprof").unwrap();
        assert_eq!(config.warnings.len(), 1);
        assert!(config.warnings[0].contains("--enable-pprof=true is accepted but not honoured"));
    }

    #[test]
    fn auto_compaction_modes() {
        let hours = config("--auto-compaction-retention 1").unwrap();
        assert_eq!(
            hours.auto_compaction,
            Some(AutoCompaction::Periodic(Duration::from_secs(3600)))
        );
        let minutes = config("--auto-compaction-retention 5m").unwrap();
        assert_eq!(
            minutes.auto_compaction,
            Some(AutoCompaction::Periodic(Duration::from_secs(300)))
        );
        let revisions =
            config("--auto-compaction-mode revision --auto-compaction-retention 1000").unwrap();
        assert_eq!(
            revisions.auto_compaction,
            Some(AutoCompaction::Revision(1000))
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration(""), Some(Duration::ZERO));
    }

    // A config file replaces flags and environment; TLS keys nest as in etcd's YAML.
    #[test]
    fn reads_a_config_file() {
        let dir = std::env::temp_dir().join(format!("detcd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("etcd.yml");
        std::fs::write(
            &path,
            "name: 'infra1'\ndata-dir: /var/lib/etcd\nsnapshot-count: 5000\n\
             initial-cluster: infra1=http://10.0.0.1:2380\n\
             client-transport-security:\n  cert-file: /c.pem\n  key-file: /k.pem\n  client-cert-auth: true\n",
        )
        .unwrap();
        let config = config(&format!("--config-file {} --name ignored", path.display())).unwrap();
        assert_eq!(config.name, "infra1");
        assert_eq!(config.snapshot_count, 5000);
        assert_eq!(config.client_tls.cert_file, Some(PathBuf::from("/c.pem")));
        assert!(config.client_tls.client_cert_auth);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
