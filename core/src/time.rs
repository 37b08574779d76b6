//! Simulated or real time, as the driver supplies it.
//!
//! The core never reads a clock: every input carries `now`. An [`Instant`] is a count of
//! nanoseconds since an origin chosen by the driver (the start of a simulation, or process start
//! for the real server), so it can be built from nothing, compared, printed and serialized.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
pub use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time, in nanoseconds since the driver's origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The driver's origin.
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// Later than every time a run reaches; a deadline that never fires.
    pub const NEVER: Instant = Instant { nanos: u64::MAX };

    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    pub const fn as_millis(self) -> u64 {
        self.nanos / 1_000_000
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant {
            nanos: self.nanos.saturating_add(duration_nanos(rhs)),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant {
            nanos: self.nanos.saturating_sub(duration_nanos(rhs)),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Seconds with millisecond precision, as in a simulation log: `12.345s`.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Instant::NEVER {
            return f.write_str("never");
        }
        let millis = self.nanos / 1_000_000;
        write!(f, "{}.{:03}s", millis / 1000, millis % 1000)
    }
}
