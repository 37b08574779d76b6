//! Shrinking: from a failing run to a smaller one that fails the same way.
//!
//! A failing swarm seed typically runs several fault kinds for thirty seconds with a dozen
//! clients, while the bug behind it needs one fault and a few operations. The shrinker greedily
//! tries smaller variants, each a set of option [`overrides`](crate::overrides): a fault phase
//! that ends just after the violation, then halved; one fault kind off, a rate at zero, fewer
//! clients or keys, an operation kind out of the mix. It keeps a change when the run still fails
//! the same way, and goes over the knobs again while a pass changed the failing run, until the
//! attempts run out.
//!
//! Any change reshuffles what the seed's random choices do, so "the same way" cannot mean the
//! same events: it means the same [`failure_kind`], the property that broke.

use crate::options::SimOptions;
use crate::run::RunOptions;
use crate::workload::WorkloadOptions;

/// How many runs a shrink may make when the caller has no better bound.
pub const ATTEMPTS_MAX: usize = 200;
/// The fault phase is not halved below this: a cluster needs a few election timeouts to do
/// anything worth shrinking.
pub const FAULT_PHASE_MS_FLOOR: u64 = 100;

/// `key=value` overrides, in the order they are applied.
pub type Overrides = Vec<(String, String)>;

/// One knob the shrinker may turn down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knob {
    key: &'static str,
    value: u64,
    floor: u64,
    step: Step,
    /// Knobs that make this one irrelevant when they are off (`torn_write_probability` does
    /// nothing once crashes are off), so the shrinker does not spend a run on it.
    needs: &'static [&'static str],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Straight to the floor (0: off).
    ToFloor,
    /// Halve, one run per halving.
    Halve,
    /// First end just after the failure, when the failure says when it happened, then halve.
    CutAtFailure,
}

impl Knob {
    /// A knob that is on and can be turned off (`key=0`): a fault weight, a rate, a mix weight.
    pub fn off(key: &'static str) -> Knob {
        Knob {
            key,
            value: 1,
            floor: 0,
            step: Step::ToFloor,
            needs: &[],
        }
    }

    /// A knob at `value` that can be halved down to `floor`.
    pub fn halve(key: &'static str, value: u64, floor: u64) -> Knob {
        Knob {
            key,
            value,
            floor,
            step: Step::Halve,
            needs: &[],
        }
    }

    /// A duration in milliseconds that can be cut to end just after a failure that says when
    /// it happened (a run is the same up to its end, so one that ends just after the failure
    /// fails the same way), then halved down to `floor`.
    pub fn shorten(key: &'static str, value: u64, floor: u64) -> Knob {
        Knob {
            step: Step::CutAtFailure,
            ..Knob::halve(key, value, floor)
        }
    }

    /// Only worth trying while none of `needs` has been turned off.
    pub fn needing(self, needs: &'static [&'static str]) -> Knob {
        Knob { needs, ..self }
    }

    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The next smaller value to try, if any, given the failure being shrunk.
    fn smaller(&self, failure: &str) -> Option<u64> {
        let half = self.value / 2;
        let next = match self.step {
            Step::ToFloor => self.floor,
            Step::Halve => half,
            Step::CutAtFailure => failure_time_ms(failure)
                .map(|at_ms| at_ms + 1)
                .filter(|&cut| cut < self.value)
                .unwrap_or(half),
        };
        (self.floor <= next && next < self.value).then_some(next)
    }

    fn is_moot(&self, overrides: &[(String, String)]) -> bool {
        self.needs.iter().any(|need| {
            overrides
                .iter()
                .any(|(key, value)| key == need && value == "0")
        })
    }
}

/// What a shrink ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shrunk {
    /// The starting run passed: there is nothing to shrink.
    Passed,
    /// The smallest variant found that still fails the same way, and its failure.
    Failed {
        overrides: Overrides,
        failure: String,
        /// Runs made, the first (the starting run) included.
        attempts: usize,
    },
}

/// The kind of a failure, as [`RunReport::failure`](crate::run::RunReport::failure) words it:
/// the name of the property that broke (`election safety`, `liveness`, `linearizability`, a
/// watch or lease guarantee, `history check` when the check was inconclusive), without when or
/// how it broke.
pub fn failure_kind(failure: &str) -> &str {
    let head = failure.split_once(':').map_or(failure, |(head, _)| head);
    // Safety violations read "<property> violated at <time>: <detail>".
    head.split_once(" violated at ")
        .map_or(head, |(property, _)| property)
}

/// When the failure happened, in milliseconds from the start, if it says: safety violations
/// read "<property> violated at <seconds>s: <detail>".
pub fn failure_time_ms(failure: &str) -> Option<u64> {
    let (_, after) = failure.split_once(" violated at ")?;
    let (seconds, _) = after.split_once("s:")?;
    let (whole, millis) = seconds.split_once('.')?;
    Some(whole.parse::<u64>().ok()? * 1_000 + millis.parse::<u64>().ok()?)
}

/// The knobs of `options` worth turning down, biggest savings first: a shorter fault phase
/// makes every later attempt cheaper, and turning off the fault schedule saves more than any one
/// fault kind. Knobs already off are left out.
pub fn knobs(options: &RunOptions) -> Vec<Knob> {
    let fault_phase_ms = options.fault_phase.as_millis() as u64;
    let mut knobs = vec![Knob::shorten(
        "fault_phase_ms",
        fault_phase_ms,
        FAULT_PHASE_MS_FLOOR,
    )];
    knobs.extend(fault_knobs(&options.sim));
    knobs.extend(workload_knobs(&options.workload));
    knobs.retain(|knob| knob.smaller("").is_some());
    knobs
}

/// The random fault schedule, each fault kind, then the rates of network, disk and clock faults.
fn fault_knobs(sim: &SimOptions) -> Vec<Knob> {
    const ALWAYS: &[&str] = &[];
    const SCHEDULE: &[&str] = &["fault_interval_ms_mean"];
    // Torn writes and corruption happen only when a node crashes and restarts.
    const CRASHES: &[&str] = &["fault_interval_ms_mean", "fault_weights.crash"];
    let weights = &sim.fault_weights;
    #[rustfmt::skip] // a table, one knob a line
    let switches = [
        (sim.fault_interval_ms_mean > 0, "fault_interval_ms_mean", ALWAYS),
        (weights.crash > 0, "fault_weights.crash", SCHEDULE),
        (weights.crash_group > 0, "fault_weights.crash_group", SCHEDULE),
        (weights.close_clients > 0, "fault_weights.close_clients", SCHEDULE),
        (weights.pause > 0, "fault_weights.pause", SCHEDULE),
        (weights.partition > 0, "fault_weights.partition", SCHEDULE),
        (weights.clog > 0, "fault_weights.clog", SCHEDULE),
        (weights.disk_stall > 0, "fault_weights.disk_stall", SCHEDULE),
        (weights.clock_step > 0, "fault_weights.clock_step", SCHEDULE),
        (sim.torn_write_probability > 0.0, "torn_write_probability", CRASHES),
        (sim.corruption_probability > 0.0, "corruption_probability", CRASHES),
        (sim.fsync_error_probability > 0.0, "fsync_error_probability", ALWAYS),
        (sim.loss_probability > 0.0, "loss_probability", ALWAYS),
        (sim.duplicate_probability > 0.0, "duplicate_probability", ALWAYS),
        (sim.reorder_probability > 0.0, "reorder_probability", ALWAYS),
        (sim.clock_drift_ppm_max > 0, "clock_drift_ppm_max", ALWAYS),
    ];
    switches
        .into_iter()
        .filter(|(on, _, _)| *on)
        .map(|(_, key, needs)| Knob::off(key).needing(needs))
        .collect()
}

/// Fewer clients and keys, then operation kinds out of the mix.
fn workload_knobs(workload: &WorkloadOptions) -> Vec<Knob> {
    let mut knobs = vec![
        Knob::halve("clients", workload.clients as u64, 1),
        Knob::halve("keys", workload.keys as u64, 1),
    ];
    let mix = &workload.mix;
    // Puts stay on, so the mix never empties and every history has writes.
    if mix.put > 0 {
        let operations = [
            (mix.get, "mix.get"),
            (mix.range, "mix.range"),
            (mix.delete, "mix.delete"),
            (mix.txn, "mix.txn"),
            (mix.lease, "mix.lease"),
            (mix.watch, "mix.watch"),
        ];
        let on = operations.into_iter().filter(|(weight, _)| *weight > 0);
        knobs.extend(on.map(|(_, key)| Knob::off(key)));
    }
    knobs
}

/// Shrink the run that `start` overrides describe. `run` makes one full run with the given
/// overrides and returns its failure in words, or `None` if it passed. At most `attempts_max`
/// runs are made, the starting one included.
pub fn shrink(
    start: &[(String, String)],
    mut knobs: Vec<Knob>,
    attempts_max: usize,
    mut run: impl FnMut(&[(String, String)]) -> Option<String>,
) -> Shrunk {
    assert!(attempts_max > 0, "a shrink needs at least the starting run");
    let Some(failure) = run(start) else {
        return Shrunk::Passed;
    };
    let kind = failure_kind(&failure).to_string();
    let mut overrides = start.to_vec();
    let mut smallest_failure = failure;
    let mut attempts = 1;
    'passes: loop {
        // Another pass is worth its runs only if the failing run itself changed: a change that
        // fails with the very same words (a knob that played no part) would see every other
        // change fail or pass as before.
        let mut run_changed = false;
        for knob in &mut knobs {
            while let Some(value) = knob.smaller(&smallest_failure)
                && !knob.is_moot(&overrides)
            {
                if attempts == attempts_max {
                    break 'passes;
                }
                let candidate = with_override(&overrides, knob.key, value);
                attempts += 1;
                match run(&candidate) {
                    Some(failure) if failure_kind(&failure) == kind => {
                        run_changed |= failure != smallest_failure;
                        overrides = candidate;
                        smallest_failure = failure;
                        knob.value = value;
                    }
                    _ => break,
                }
            }
        }
        if !run_changed {
            break;
        }
    }
    Shrunk::Failed {
        overrides,
        failure: smallest_failure,
        attempts,
    }
}

/// `overrides` with `key` set to `value`: in place if it is already there, so the replay command
/// names each key once.
fn with_override(overrides: &[(String, String)], key: &str, value: u64) -> Overrides {
    let mut changed = overrides.to_vec();
    match changed.iter_mut().find(|(known, _)| known == key) {
        Some(entry) => entry.1 = value.to_string(),
        None => changed.push((key.to_string(), value.to_string())),
    }
    changed
}
