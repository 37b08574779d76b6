//! Which seeds a sweep runs: a range (open-ended when a time budget ends the sweep), the slice
//! of it one shard takes, and the order the runs start in.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

/// Seeds `start..end`, or every seed from `start` on when `end` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: Option<u64>,
}

impl From<Range<u64>> for SeedRange {
    fn from(range: Range<u64>) -> SeedRange {
        SeedRange {
            start: range.start,
            end: Some(range.end),
        }
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}..{end}", self.start),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// `A..B` (B excluded, not empty) or, when `open_allowed`, `A..` (every seed from A on).
pub fn parse_seed_range(text: &str, open_allowed: bool) -> Result<SeedRange, String> {
    let (start, end) = text.split_once("..").ok_or("expected A..B")?;
    let start: u64 = start.parse().map_err(|e| format!("{start}: {e}"))?;
    if end.is_empty() {
        return match open_allowed {
            true => Ok(SeedRange { start, end: None }),
            false => Err("expected A..B".into()),
        };
    }
    let end: u64 = end.parse().map_err(|e| format!("{end}: {e}"))?;
    if start >= end {
        return Err(format!("the range {start}..{end} is empty"));
    }
    Ok((start..end).into())
}

/// The K-th of N disjoint slices of a seed range: the seeds whose position in the range
/// (counting from 0) is K-1 modulo N. Interleaving rather than cutting the range in blocks keeps
/// the shards balanced when seeds differ in cost by region, and every seed lands in exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1.
    pub index: u64,
    /// N, at least 1.
    pub count: u64,
}

impl Shard {
    /// The whole range: one shard of one.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// The seed at `position` (from 0) of this shard's slice of `range`, if the range has one.
    pub fn nth(&self, range: SeedRange, position: u64) -> Option<u64> {
        let offset = position
            .checked_mul(self.count)?
            .checked_add(self.index - 1)?;
        let seed = range.start.checked_add(offset)?;
        match range.end {
            Some(end) if seed >= end => None,
            _ => Some(seed),
        }
    }

    /// How many seeds this shard takes from `range`; `None` for an open-ended range.
    pub fn seed_count(&self, range: SeedRange) -> Option<u64> {
        let length = range.end? - range.start;
        Some(length.saturating_sub(self.index - 1).div_ceil(self.count))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let shape = || format!("expected K/N with 1 <= K <= N, such as 2/4, not {text:?}");
        let (index, count) = text.split_once('/').ok_or_else(shape)?;
        let (Ok(index), Ok(count)) = (index.trim().parse(), count.trim().parse()) else {
            return Err(shape());
        };
        match (index, count) {
            (_, 0) => Err("a range cannot be cut into 0 shards".into()),
            (0, _) => Err(format!(
                "shards count from 1: the first of {count} is 1/{count}"
            )),
            (index, count) if index > count => Err(format!(
                "there is no shard {index} of {count}: the last is {count}/{count}"
            )),
            (index, count) => Ok(Shard { index, count }),
        }
    }
}

/// Which runs a sweep makes: its seeds, the shard it takes of them, and the wall-clock time
/// after which it starts no new run.
#[derive(Clone, Copy, Debug)]
pub struct SeedPlan {
    pub range: SeedRange,
    pub shard: Shard,
    pub time_budget: Option<Duration>,
}

impl From<Range<u64>> for SeedPlan {
    fn from(range: Range<u64>) -> SeedPlan {
        SeedPlan {
            range: range.into(),
            shard: Shard::WHOLE,
            time_budget: None,
        }
    }
}

impl SeedPlan {
    /// The run started `index`-th (from 0) as (scenario, seed), or `None` past the range's end.
    /// Runs go seed by seed, every scenario of a seed before the next seed, so that a sweep that
    /// a time budget cuts short has run each scenario for nearly as many seeds.
    pub fn job(&self, scenario_count: usize, index: u64) -> Option<(usize, u64)> {
        let scenarios = scenario_count as u64;
        if scenarios == 0 {
            return None;
        }
        let seed = self.shard.nth(self.range, index / scenarios)?;
        Some(((index % scenarios) as usize, seed))
    }

    /// How many runs the plan makes if no budget cuts it short; `None` for an open range.
    pub fn runs(&self, scenario_count: usize) -> Option<u64> {
        Some(self.shard.seed_count(self.range)? * scenario_count as u64)
    }
}
