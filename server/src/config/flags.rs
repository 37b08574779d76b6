//! etcd's flags, as a table, and a parser that reads them the way etcd reads them.
//!
//! etcd parses its command line with Go's `flag` package and its environment with `ETCD_*`
//! variables, so operators write `-name x`, `--name=x`, `--client-cert-auth` (a boolean takes a
//! value only as `--flag=false`), and may repeat a flag (the last wins). clap's conventions
//! differ on each of these, so this small parser follows Go's instead; the table below is the
//! one place that lists every flag, its default, and whether detcd honours it.

use std::collections::BTreeMap;

/// How a flag's value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--flag` alone means true; a value only as `--flag=false`.
    Bool,
    Value,
}

/// Whether detcd does what the flag asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Honoured,
    /// Accepted, so that etcd's command lines start detcd; a non-default value is reported at
    /// start with this reason.
    Ignored(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub support: Support,
    pub help: &'static str,
}

const fn honoured(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        kind,
        default,
        support: Support::Honoured,
        help,
    }
}

const fn ignored(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    reason: &'static str,
) -> Flag {
    Flag {
        name,
        kind,
        default,
        support: Support::Ignored(reason),
        help: reason,
    }
}

pub use table::FLAGS;

mod table {
    use super::Kind::{Bool, Value};
    use super::{Flag, honoured, ignored};

    /// Every flag of etcd 3.4's server, in `etcd --help` order.
#[rustfmt::skip] // a table, one flag a line
pub const FLAGS: &[Flag] = &[
    honoured("config-file", Value, "", "Path to the server configuration file; other flags and ETCD_ variables are then ignored."),
    // Member
    honoured("name", Value, "default", "Human-readable name for this member."),
    honoured("data-dir", Value, "${name}.etcd", "Path to the data directory."),
    ignored("wal-dir", Value, "", "detcd keeps its WAL in the data dir"),
    honoured("snapshot-count", Value, "100000", "Number of committed transactions to trigger a snapshot to disk."),
    honoured("heartbeat-interval", Value, "100", "Time (in milliseconds) of a heartbeat interval."),
    honoured("election-timeout", Value, "1000", "Time (in milliseconds) for an election to timeout."),
    ignored("initial-election-tick-advance", Bool, "true", "detcd's first election waits a randomized election timeout"),
    honoured("listen-peer-urls", Value, "http://localhost:2380", "List of URLs to listen on for peer traffic."),
    honoured("listen-client-urls", Value, "http://localhost:2379", "List of URLs to listen on for client traffic."),
    honoured("max-snapshots", Value, "5", "Maximum number of snapshot files to retain (0 is unlimited)."),
    ignored("max-wals", Value, "5", "detcd releases WAL segments once a snapshot covers them"),
    honoured("quota-backend-bytes", Value, "0", "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota)."),
    ignored("backend-batch-interval", Value, "", "detcd has no bbolt backend; every write is durable before it is acknowledged"),
    ignored("backend-batch-limit", Value, "0", "detcd has no bbolt backend; every write is durable before it is acknowledged"),
    honoured("max-txn-ops", Value, "128", "Maximum number of operations permitted in a transaction."),
    honoured("max-request-bytes", Value, "1572864", "Maximum client request size in bytes the server will accept."),
    honoured("max-concurrent-streams", Value, "4294967295", "Maximum concurrent streams that each client can open at a time."),
    ignored("grpc-keepalive-min-time", Value, "5s", "detcd accepts client pings at any rate"),
    ignored("grpc-keepalive-interval", Value, "2h", "detcd does not ping clients"),
    ignored("grpc-keepalive-timeout", Value, "20s", "detcd does not ping clients"),
    // Clustering
    honoured("initial-advertise-peer-urls", Value, "http://localhost:2380", "List of this member's peer URLs to advertise to the rest of the cluster."),
    honoured("initial-cluster", Value, "default=http://localhost:2380", "Initial cluster configuration for bootstrapping."),
    honoured("initial-cluster-state", Value, "new", "Initial cluster state ('new' or 'existing')."),
    honoured("initial-cluster-token", Value, "etcd-cluster", "Initial cluster token for the etcd cluster during bootstrap."),
    honoured("advertise-client-urls", Value, "http://localhost:2379", "List of this member's client URLs to advertise to the public."),
    ignored("discovery", Value, "", "discovery services are not supported; use --initial-cluster"),
    ignored("discovery-fallback", Value, "proxy", "discovery services are not supported"),
    ignored("discovery-proxy", Value, "", "discovery services are not supported"),
    ignored("discovery-srv", Value, "", "discovery services are not supported"),
    ignored("discovery-srv-name", Value, "", "discovery services are not supported"),
    honoured("strict-reconfig-check", Bool, "true", "Reject reconfiguration requests that would cause quorum loss."),
    honoured("pre-vote", Bool, "false", "Enable to run an additional Raft election phase."),
    honoured("auto-compaction-retention", Value, "0", "Auto compaction retention length. 0 means disable auto compaction."),
    honoured("auto-compaction-mode", Value, "periodic", "Interpret 'auto-compaction-retention' one of: periodic|revision."),
    ignored("enable-v2", Bool, "false", "detcd serves etcd's v3 API only"),
    // Security
    honoured("cert-file", Value, "", "Path to the client server TLS cert file."),
    honoured("key-file", Value, "", "Path to the client server TLS key file."),
    honoured("client-cert-auth", Bool, "false", "Enable client cert authentication."),
    honoured("client-crl-file", Value, "", "Path to the client certificate revocation list file."),
    ignored("client-cert-allowed-hostname", Value, "", "client certificates are checked against the trusted CA only"),
    honoured("trusted-ca-file", Value, "", "Path to the client server TLS trusted CA cert file."),
    honoured("auto-tls", Bool, "false", "Client TLS using generated certificates."),
    honoured("peer-cert-file", Value, "", "Path to the peer server TLS cert file."),
    honoured("peer-key-file", Value, "", "Path to the peer server TLS key file."),
    honoured("peer-client-cert-auth", Bool, "false", "Enable peer client cert authentication."),
    honoured("peer-trusted-ca-file", Value, "", "Path to the peer server TLS trusted CA file."),
    ignored("peer-cert-allowed-cn", Value, "", "peer certificates are checked against the trusted CA only"),
    ignored("peer-cert-allowed-hostname", Value, "", "peer certificates are checked against the trusted CA only"),
    honoured("peer-auto-tls", Bool, "false", "Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided."),
    honoured("peer-crl-file", Value, "", "Path to the peer certificate revocation list file."),
    honoured("cipher-suites", Value, "", "Comma-separated list of supported TLS cipher suites between client/server and peers."),
    ignored("cors", Value, "*", "the JSON gateway allows every origin"),
    ignored("host-whitelist", Value, "*", "every host name is accepted"),
    // Auth
    ignored("auth-token", Value, "simple", "authentication is not implemented yet"),
    ignored("bcrypt-cost", Value, "10", "authentication is not implemented yet"),
    ignored("auth-token-ttl", Value, "300", "authentication is not implemented yet"),
    // Profiling and monitoring
    ignored("enable-pprof", Bool, "false", "Go's pprof has no equivalent in detcd"),
    ignored("metrics", Value, "basic", "detcd exports one set of metrics"),
    honoured("listen-metrics-urls", Value, "", "List of URLs to listen on for the metrics and health endpoints."),
    // Logging
    honoured("logger", Value, "capnslog", "Specify 'zap' for structured logging or 'capnslog'."),
    honoured("log-outputs", Value, "default", "Specify 'stdout' or 'stderr', or a list of comma separated output targets."),
    honoured("log-level", Value, "info", "Configures log level. Only supports debug, info, warn, error, panic, or fatal."),
    // v2 proxy
    ignored("proxy", Value, "off", "the v2 proxy is not part of detcd"),
    ignored("proxy-failure-wait", Value, "5000", "the v2 proxy is not part of detcd"),
    ignored("proxy-refresh-interval", Value, "30000", "the v2 proxy is not part of detcd"),
    ignored("proxy-dial-timeout", Value, "1000", "the v2 proxy is not part of detcd"),
    ignored("proxy-write-timeout", Value, "5000", "the v2 proxy is not part of detcd"),
    ignored("proxy-read-timeout", Value, "0", "the v2 proxy is not part of detcd"),
    // Experimental
    ignored("experimental-initial-corrupt-check", Bool, "false", "detcd does not compare its store with its peers' before serving yet"),
    ignored("experimental-corrupt-check-time", Value, "0s", "periodic corruption checks between members are not implemented"),
    ignored("experimental-enable-v2v3", Value, "", "detcd serves etcd's v3 API only"),
    ignored("experimental-backend-bbolt-freelist-type", Value, "array", "detcd has no bbolt backend"),
    ignored("experimental-enable-lease-checkpoint", Bool, "false", "leases are renewed only by keep-alives"),
    ignored("experimental-compaction-batch-limit", Value, "1000", "compaction is done in one step"),
    ignored("experimental-peer-skip-client-san-verification", Bool, "false", "peer certificates are checked against the trusted CA only"),
    honoured("experimental-watch-progress-notify-interval", Value, "10m", "Duration of periodical watch progress notification."),
    ignored("experimental-warning-apply-duration", Value, "100ms", "slow applies are not reported"),
    // Unsafe
    ignored("force-new-cluster", Bool, "false", "forcing a new cluster is not implemented"),
    // To be deprecated
    honoured("debug", Bool, "false", "Enable debug-level logging."),
    ignored("log-package-levels", Value, "", "use --log-level"),
];
}

pub fn find(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|flag| flag.name == name)
}

/// The environment variable of a flag, as etcd names it: `--initial-cluster` is
/// `ETCD_INITIAL_CLUSTER`.
pub fn env_name(flag: &str) -> String {
    format!("ETCD_{}", flag.to_uppercase().replace('-', "_"))
}

/// What the command line asked for, before any flag is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Serve(BTreeMap<&'static str, String>),
    Help,
    Version,
}

/// Read a command line the way Go's `flag` package does: `-flag` or `--flag`, `=value` or the
/// next argument as the value (booleans only take `=value`), the last of repeated flags wins.
/// Errors carry etcd's wording.
pub fn parse_args(args: &[String]) -> Result<Invocation, String> {
    let mut values = BTreeMap::new();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(format!(
                "'{arg}' is not a valid flag (etcd takes flags only, like --name)"
            ));
        };
        let (name, inline) = match stripped.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (stripped, None),
        };
        match name {
            "h" | "help" => return Ok(Invocation::Help),
            "version" => return Ok(Invocation::Version),
            _ => {}
        }
        let Some(flag) = find(name) else {
            return Err(format!("flag provided but not defined: -{name}"));
        };
        let value = match (flag.kind, inline) {
            (_, Some(value)) => value,
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Value, None) => {
                let Some(value) = args.get(index) else {
                    return Err(format!("flag needs an argument: -{name}"));
                };
                index += 1;
                value.clone()
            }
        };
        if flag.kind == Kind::Bool {
            parse_bool(&value).ok_or_else(|| invalid(&value, name, "parse error"))?;
        }
        values.insert(flag.name, value);
    }
    Ok(Invocation::Serve(values))
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// etcd's message for a value it cannot use.
pub fn invalid(value: &str, flag: &str, why: &str) -> String {
    format!("invalid value \"{value}\" for flag -{flag}: {why}")
}

/// Add the `ETCD_*` environment to `values`, as etcd does: a variable for a flag also given on
/// the command line is an error (etcd: "conflicting environment variable ... is shadowed"), an
/// `ETCD_*` variable that names no flag is only worth a warning.
pub fn merge_env(
    values: &mut BTreeMap<&'static str, String>,
    env: impl IntoIterator<Item = (String, String)>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let from_args: Vec<&'static str> = values.keys().copied().collect();
    for (key, value) in env {
        let Some(suffix) = key.strip_prefix("ETCD_") else {
            continue;
        };
        let name = suffix.to_lowercase().replace('_', "-");
        let Some(flag) = find(&name) else {
            warnings.push(format!("unrecognized environment variable {key}={value}"));
            continue;
        };
        if from_args.contains(&flag.name) {
            return Err(format!(
                "conflicting environment variable \"{key}\" is shadowed by corresponding \
                 command-line flag (either unset environment variable or disable flag)"
            ));
        }
        if flag.kind == Kind::Bool {
            parse_bool(&value).ok_or_else(|| invalid(&value, flag.name, "parse error"))?;
        }
        values.insert(flag.name, value);
    }
    Ok(())
}

/// `etcd --help`, from the table.
pub fn usage() -> String {
    let mut text = String::from(
        "Usage:\n\n  detcd [flags]\n    Start a detcd server, which speaks etcd's v3 API.\n\n  \
         detcd --version\n    Show the version.\n\n  detcd snapshot restore FILE [flags]\n    \
         Restore a snapshot file into a new data dir.\n\n  detcd snapshot status FILE\n    \
         Show a snapshot file's hash, revision, keys and size.\n\nFlags:\n",
    );
    for flag in FLAGS {
        let note = match flag.support {
            Support::Honoured => flag.help.to_string(),
            Support::Ignored(reason) => format!("Accepted, not honoured: {reason}."),
        };
        text.push_str(&format!(
            "  --{} '{}'\n    {note}\n",
            flag.name, flag.default
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn serve(line: &str) -> BTreeMap<&'static str, String> {
        match parse_args(&args(line)) {
            Ok(Invocation::Serve(values)) => values,
            other => panic!("{line}: {other:?}"),
        }
    }

    // Go's flag syntax: one or two dashes, `=value` or a separate value, booleans alone, the
    // last repeated flag wins.
    #[test]
    fn reads_flags_as_go_does() {
        let values = serve("-name a --data-dir=/d --client-cert-auth --snapshot-count 5 --name b");
        assert_eq!(values["name"], "b");
        assert_eq!(values["data-dir"], "/d");
        assert_eq!(values["client-cert-auth"], "true");
        assert_eq!(values["snapshot-count"], "5");
        let values = serve("--client-cert-auth --client-cert-auth --strict-reconfig-check=false");
        assert_eq!(values["client-cert-auth"], "true");
        assert_eq!(values["strict-reconfig-check"], "false");
    }

    // Unknown flags, missing values and bad booleans get etcd's messages.
    #[test]
    fn rejects_what_etcd_rejects() {
        assert_eq!(
            parse_args(&args("--foo")),
            Err("flag provided but not defined: -foo".into())
        );
        assert_eq!(
            parse_args(&args("--name")),
            Err("flag needs an argument: -name".into())
        );
        assert_eq!(
            parse_args(&args("--auto-tls=maybe")),
            Err("invalid value \"maybe\" for flag -auto-tls: parse error".into())
        );
        assert_eq!(parse_args(&args("--version")), Ok(Invocation::Version));
    }

    // The environment fills flags the command line left out, warns of unknown ETCD_ variables,
    // and refuses one that a flag shadows.
    #[test]
    fn environment_as_etcd_reads_it() {
        let mut values = serve("--name a");
        let mut warnings = Vec::new();
        let env = [
            ("ETCD_DATA_DIR".to_string(), "/x".to_string()),
            ("ETCD_UNSUPPORTED_ARCH".to_string(), "amd64".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        merge_env(&mut values, env, &mut warnings).unwrap();
        assert_eq!(values["data-dir"], "/x");
        assert_eq!(
            warnings,
            ["unrecognized environment variable ETCD_UNSUPPORTED_ARCH=amd64"]
        );
        let shadowed = [("ETCD_NAME".to_string(), "b".to_string())];
        let error = merge_env(&mut values, shadowed, &mut warnings).unwrap_err();
        assert!(error.contains("\"ETCD_NAME\" is shadowed"), "{error}");
    }
}
