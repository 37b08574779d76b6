//! Named scenarios: the scenario files under `scenarios/catalogue/`, built into the binary, and
//! any scenario file a user names by its path.

use std::path::Path;

use detcd_sim::run::RunOptions;
use detcd_sim::trace::TraceSettings;

use crate::script::{self, Execution, ParseError, Script};

/// A scenario: its name, its one-line purpose and its script.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The catalogue name, or the path of a user's file.
    pub name: String,
    pub purpose: String,
    pub script: Script,
    /// The file's text, as read.
    pub source: String,
}

impl Scenario {
    /// Read a scenario from its text; `name` is how commands will name it.
    pub fn parse(name: &str, source: &str) -> Result<Scenario, ParseError> {
        let script = script::parse(source)?;
        Ok(Scenario {
            name: name.to_string(),
            purpose: script.purpose.clone(),
            script,
            source: source.to_string(),
        })
    }

    /// The purpose's first sentence: what `list` shows.
    pub fn summary(&self) -> &str {
        match self.purpose.find(". ") {
            Some(end) => &self.purpose[..=end],
            None => &self.purpose,
        }
    }

    /// The options for `seed`, with `overrides` (`key=value`) applied on top, in order.
    pub fn build(&self, seed: u64, overrides: &[(String, String)]) -> Result<RunOptions, String> {
        script::options(&self.script, seed, overrides).map_err(|error| error.to_string())
    }

    /// Run it for `seed`.
    pub fn execute(
        &self,
        seed: u64,
        overrides: &[(String, String)],
        trace: TraceSettings,
    ) -> Result<Execution, String> {
        script::execute(&self.script, seed, overrides, trace)
            .map_err(|error| format!("{}: {error}", self.name))
    }

    /// The one command that replays this scenario's run for `seed` with `overrides`.
    pub fn replay_command(&self, seed: u64, overrides: &[(String, String)]) -> String {
        format!(
            "cargo run --release -p detcd-scenarios{} -- run {} --seed {seed}{}",
            build_features(),
            self.name,
            set_arguments(overrides)
        )
    }
}

/// The planted bugs (detcd-core's `mutation-*` features) of the core this binary runs on: the
/// simulator's self-test, never for use.
pub const MUTATIONS: &[&str] = &[
    #[cfg(feature = "mutation-ack-before-persist")]
    "mutation-ack-before-persist",
    #[cfg(feature = "mutation-commit-previous-term")]
    "mutation-commit-previous-term",
    #[cfg(feature = "mutation-commit-past-append")]
    "mutation-commit-past-append",
    #[cfg(feature = "mutation-vote-request-before-persist")]
    "mutation-vote-request-before-persist",
];

/// The cargo flags that build the binary running now, as far as they change what a seed does
/// (with a leading space, or empty): a run on a mutated core replays only on the same mutation.
pub fn build_features() -> String {
    if MUTATIONS.is_empty() {
        String::new()
    } else {
        format!(" --features {}", MUTATIONS.join(","))
    }
}

/// The `--set key=value` arguments that give `overrides`, each with a leading space.
pub fn set_arguments(overrides: &[(String, String)]) -> String {
    overrides
        .iter()
        .map(|(key, value)| format!(" --set {key}={value}"))
        .collect()
}

/// The catalogue's files, in the order `list` shows them.
macro_rules! catalogue {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../catalogue/", $name, ".txt")))),*]
    };
}

pub const FILES: &[(&str, &str)] = catalogue![
    "healthy-5",
    "brain-split-5",
    "brain-split-5-leader-majority",
    "leader-isolation-3",
    "asymmetric-partition",
    "disk-stall-leader",
    "disk-stall-follower",
    "crash-unsynced-writes",
    "rolling-restarts",
    "snapshot-catch-up",
    "pre-vote-rejoin",
    "lease-expiry-partition",
    "watch-leader-change",
    "membership-change",
    "clock-drift",
    "flaky-network",
    "swarm",
];

/// Every catalogue scenario, in order. The files are part of the binary and tested, so a parse
/// error here is a bug.
pub fn all() -> Vec<Scenario> {
    FILES
        .iter()
        .map(|(name, source)| {
            Scenario::parse(name, source).unwrap_or_else(|error| panic!("{name}.txt: {error}"))
        })
        .collect()
}

/// A catalogue scenario by name, or a scenario file by path.
pub fn find(name: &str) -> Result<Scenario, String> {
    if let Some((name, source)) = FILES.iter().find(|(known, _)| *known == name) {
        return Scenario::parse(name, source).map_err(|error| format!("{name}.txt: {error}"));
    }
    let path = Path::new(name);
    if !path.is_file() {
        return Err(format!(
            "no scenario named {name:?} and no such file; `detcd-sim list` shows the catalogue"
        ));
    }
    let source = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Scenario::parse(name, &source).map_err(|error| format!("{name}: {error}"))
}
