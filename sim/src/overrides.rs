//! Option overrides: `key=value` edits applied to a run's options after its scenario built them
//! for a seed.
//!
//! A seed draws a whole world; an override changes one knob of it and keeps the rest, so a
//! failure can be replayed with a fault turned off or a shorter fault phase (by hand, or by the
//! shrinker) and the replay command stays one line. Keys are the field names as the options print
//! them: every [`SimOptions`](crate::SimOptions) field (`loss_probability`,
//! `fault_weights.crash`), every [`WorkloadOptions`](crate::workload::WorkloadOptions) field
//! (`clients`, `mix.watch`), every [`NodeOptions`](crate::run::NodeOptions) field (`pre_vote`),
//! and the run's own `fault_phase_ms`, `recovery_bound_ms`, `events_max` and `check_steps_max`.

use std::fmt::Display;
use std::str::FromStr;

use detcd_core::Duration;

use crate::run::RunOptions;

/// Sets one knob from its textual value, or says why the value does not fit.
type Setter = fn(&mut RunOptions, &str) -> Result<(), String>;

/// One overridable knob: `$key` names it, `$path` is where it lives in [`RunOptions`], and
/// `$parse` turns the text into the field's value.
macro_rules! knob {
    ($key:literal, $parse:ident, $($path:ident).+) => {
        ($key, |options: &mut RunOptions, value: &str| {
            options.$($path).+ = $parse(value)?;
            Ok(())
        })
    };
}

/// Every knob, in the order the options print.
#[rustfmt::skip] // a table, one knob a line
const KNOBS: &[(&str, Setter)] = &[
    ("fault_phase_ms", |options, value| {
        options.fault_phase = Duration::from_millis(number(value)?);
        Ok(())
    }),
    ("recovery_bound_ms", |options, value| {
        options.recovery_bound = Duration::from_millis(number(value)?);
        Ok(())
    }),
    knob!("events_max", positive, events_max),
    knob!("check_steps_max", positive, check_steps_max),
    // A different cluster size keeps the drawn crash bound's meaning: a minority, or all.
    ("node_count", |options, value| {
        options.sim = options.sim.clone().with_node_count(positive(value)?);
        Ok(())
    }),
    knob!("latency_ms_min", number, sim.latency_ms_min),
    knob!("latency_ms_max", number, sim.latency_ms_max),
    knob!("client_latency_ms_min", number, sim.client_latency_ms_min),
    knob!("client_latency_ms_max", number, sim.client_latency_ms_max),
    knob!("loss_probability", probability, sim.loss_probability),
    knob!("duplicate_probability", probability, sim.duplicate_probability),
    knob!("reorder_probability", probability, sim.reorder_probability),
    knob!("disk_latency_ms_min", number, sim.disk_latency_ms_min),
    knob!("disk_latency_ms_max", number, sim.disk_latency_ms_max),
    knob!("torn_write_probability", probability, sim.torn_write_probability),
    knob!("fsync_error_probability", probability, sim.fsync_error_probability),
    knob!("corruption_probability", probability, sim.corruption_probability),
    knob!("clock_drift_ppm_max", number, sim.clock_drift_ppm_max),
    knob!("fault_interval_ms_mean", number, sim.fault_interval_ms_mean),
    knob!("fault_weights.crash", number, sim.fault_weights.crash),
    knob!("fault_weights.crash_group", number, sim.fault_weights.crash_group),
    knob!("fault_weights.close_clients", number, sim.fault_weights.close_clients),
    knob!("fault_weights.pause", number, sim.fault_weights.pause),
    knob!("fault_weights.partition", number, sim.fault_weights.partition),
    knob!("fault_weights.clog", number, sim.fault_weights.clog),
    knob!("fault_weights.disk_stall", number, sim.fault_weights.disk_stall),
    knob!("fault_weights.clock_step", number, sim.fault_weights.clock_step),
    knob!("crashed_max", number, sim.crashed_max),
    knob!("down_ms_min", number, sim.down_ms_min),
    knob!("down_ms_max", number, sim.down_ms_max),
    knob!("pause_ms_min", number, sim.pause_ms_min),
    knob!("pause_ms_max", number, sim.pause_ms_max),
    knob!("partition_ms_min", number, sim.partition_ms_min),
    knob!("partition_ms_max", number, sim.partition_ms_max),
    knob!("clog_ms_min", number, sim.clog_ms_min),
    knob!("clog_ms_max", number, sim.clog_ms_max),
    knob!("disk_stall_ms_min", number, sim.disk_stall_ms_min),
    knob!("disk_stall_ms_max", number, sim.disk_stall_ms_max),
    knob!("clock_step_ms_max", number, sim.clock_step_ms_max),
    knob!("clients", positive, workload.clients),
    knob!("keys", positive, workload.keys),
    knob!("mix.put", number, workload.mix.put),
    knob!("mix.get", number, workload.mix.get),
    knob!("mix.range", number, workload.mix.range),
    knob!("mix.delete", number, workload.mix.delete),
    knob!("mix.txn", number, workload.mix.txn),
    knob!("mix.lease", number, workload.mix.lease),
    knob!("mix.watch", number, workload.mix.watch),
    knob!("mix.compact", number, workload.mix.compact),
    knob!("request_timeout_ms", positive, workload.request_timeout_ms),
    knob!("think_ms_min", number, workload.think_ms_min),
    knob!("think_ms_max", number, workload.think_ms_max),
    knob!("linearizable_read_percent", percent, workload.linearizable_read_percent),
    knob!("lease_revoke_percent", percent, workload.lease_revoke_percent),
    knob!("past_read_percent", percent, workload.past_read_percent),
    knob!("pre_vote", number, node.pre_vote),
    knob!("check_quorum", number, node.check_quorum),
    knob!("snapshot_entries", positive, node.snapshot_entries),
    knob!("snapshot_catch_up_entries", number, node.snapshot_catch_up_entries),
    knob!("spares", number, node.spares),
    knob!("inflight_max", positive, node.inflight_max),
    knob!("batch_bytes_max", positive, node.batch_bytes_max),
    knob!("election_timeout_ms", positive, node.election_timeout_ms),
    knob!("heartbeat_interval_ms", positive, node.heartbeat_interval_ms),
];

/// The keys [`apply`] knows, in the order the options print.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    KNOBS.iter().map(|(key, _)| *key)
}

/// Set the knob `key` of `options` to `value`. The error names the key and says what is wrong.
pub fn apply(options: &mut RunOptions, key: &str, value: &str) -> Result<(), String> {
    let (_, set) = KNOBS
        .iter()
        .find(|(known, _)| *known == key)
        .ok_or_else(|| format!("unknown option {key:?}"))?;
    set(options, value).map_err(|why| format!("{key}={value}: {why}"))
}

/// Apply every override in order, so a later one wins over an earlier one of the same key.
pub fn apply_all(options: &mut RunOptions, overrides: &[(String, String)]) -> Result<(), String> {
    for (key, value) in overrides {
        apply(options, key, value)?;
    }
    Ok(())
}

/// Split `key=value` (the `--set` argument) into its two halves.
pub fn parse_override(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() && !value.is_empty() => {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

fn number<T>(value: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|error| format!("{error}"))
}

/// Counts the run cannot do without (nodes, clients, keys, a timeout).
fn positive<T>(value: &str) -> Result<T, String>
where
    T: FromStr + Default + PartialEq,
    T::Err: Display,
{
    let parsed: T = number(value)?;
    if parsed == T::default() {
        return Err("must be at least 1".into());
    }
    Ok(parsed)
}

fn probability(value: &str) -> Result<f64, String> {
    let parsed: f64 = number(value)?;
    if !(0.0..=1.0).contains(&parsed) {
        return Err("a probability is between 0 and 1".into());
    }
    Ok(parsed)
}

fn percent(value: &str) -> Result<u32, String> {
    let parsed: u32 = number(value)?;
    if parsed > 100 {
        return Err("a percentage is at most 100".into());
    }
    Ok(parsed)
}
