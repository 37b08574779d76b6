//! One table per cluster size: each figure's mean over the passes for etcd and for detcd, the
//! ratio detcd / etcd, and whether it meets the target.

use std::fmt::Write;

use super::{CompareArgs, Pass, Step};
use crate::report::Report;

/// A figure a row compares.
#[derive(Clone, Copy, Debug)]
pub enum Metric {
    Throughput,
    P99,
    CpuPerOp,
    /// watch-latency: from sending a put to its event.
    EventP99,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "ops/s",
            Metric::P99 => "p99 ms",
            Metric::CpuPerOp => "server CPU us/op",
            Metric::EventP99 => "put->event p99 ms",
        }
    }

    fn of(self, report: &Report) -> Option<f64> {
        match self {
            Metric::Throughput => Some(report.ops_per_second),
            Metric::P99 => report.latency.as_ref().map(|latency| latency.p99),
            Metric::CpuPerOp => report
                .server_cpu_seconds_per_op
                .map(|seconds| seconds * 1e6),
            Metric::EventP99 => report.event_latency.as_ref().map(|latency| latency.p99),
        }
    }
}

/// A target ratio detcd / etcd.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn verdict(self, ratio: f64) -> String {
        let (text, met) = match self {
            Target::AtLeast(bound) => (format!(">= {bound}"), ratio >= bound),
            Target::AtMost(bound) => (format!("<= {bound}"), ratio <= bound),
        };
        format!("{text}: {}", if met { "met" } else { "MISSED" })
    }
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Option<Vec<f64>> = values.collect();
    let values = values.filter(|values| !values.is_empty())?;
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

fn figure(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(value) if value >= 1000.0 => thousands(value.round() as u64),
        Some(value) if value >= 10.0 => format!("{value:.1}"),
        Some(value) => format!("{value:.3}"),
    }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn row(
    out: &mut String,
    name: &str,
    etcd: Option<f64>,
    detcd: Option<f64>,
    target: Option<Target>,
) {
    let ratio = etcd
        .zip(detcd)
        .filter(|(etcd, _)| *etcd > 0.0)
        .map(|(etcd, detcd)| detcd / etcd);
    let ratio_text = ratio.map_or("-".into(), |ratio| format!("{ratio:.2}"));
    let verdict = match (target, ratio) {
        (Some(target), Some(ratio)) => target.verdict(ratio),
        (Some(_), None) => "not measured".into(),
        (None, _) => String::new(),
    };
    let (etcd, detcd) = (figure(etcd), figure(detcd));
    writeln!(
        out,
        "| {name} | {etcd} | {detcd} | {ratio_text} | {verdict} |"
    )
    .expect("a String");
}

pub fn render(
    size: usize,
    steps: &[Step],
    etcd: &[Pass],
    detcd: &[Pass],
    args: &CompareArgs,
) -> String {
    let mut out = String::new();
    let members = if size == 1 {
        "1 member".to_string()
    } else {
        format!("{size} members")
    };
    writeln!(
        out,
        "## {members}: means of {} passes each, alternating; {:?} per row after {:?} of warm-up\n",
        etcd.len().min(detcd.len()),
        args.duration,
        args.warmup
    )
    .expect("a String");
    out += "| row | etcd | detcd | detcd / etcd | target |\n|---|--:|--:|--:|---|\n";
    for (i, step) in steps.iter().enumerate() {
        for &(metric, target) in &step.compared {
            let of = |passes: &[Pass]| mean(passes.iter().map(|pass| metric.of(&pass.reports[i])));
            let name = format!("{}: {}", step.label, metric.name());
            row(&mut out, &name, of(etcd), of(detcd), target);
        }
    }
    let mib = |bytes: u64| Some(bytes as f64 / (1024.0 * 1024.0));
    let rss = |passes: &[Pass]| mean(passes.iter().map(|pass| mib(pass.peak_rss_bytes)));
    let disk = |passes: &[Pass]| mean(passes.iter().map(|pass| mib(pass.disk_bytes)));
    let all = if size == 1 { "" } else { ", all members" };
    row(
        &mut out,
        &format!("peak RSS after the sequence{all} (MiB)"),
        rss(etcd),
        rss(detcd),
        Some(Target::AtMost(1.0)),
    );
    row(
        &mut out,
        &format!("data dir size after the sequence{all} (MiB)"),
        disk(etcd),
        disk(detcd),
        None,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Figures read as a person writes them: thousands grouped, small ones with decimals.
    #[test]
    fn figures_are_grouped_and_rounded() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(figure(Some(18_874.6)), "18,875");
        assert_eq!(figure(Some(12.34)), "12.3");
        assert_eq!(figure(Some(0.5)), "0.500");
        assert_eq!(figure(None), "-");
    }

    /// A mean over passes exists only when every pass measured the figure.
    #[test]
    fn a_missing_figure_spoils_the_mean() {
        assert_eq!(mean([Some(1.0), Some(3.0)].into_iter()), Some(2.0));
        assert_eq!(mean([Some(1.0), None].into_iter()), None);
        assert_eq!(mean(std::iter::empty()), None);
    }

    /// A target is met on its side of the bound, the bound included, and missed beyond it.
    #[test]
    fn targets_judge_the_ratio() {
        assert_eq!(Target::AtLeast(1.5).verdict(1.5), ">= 1.5: met");
        assert_eq!(Target::AtLeast(1.5).verdict(1.49), ">= 1.5: MISSED");
        assert_eq!(Target::AtMost(0.5).verdict(0.4), "<= 0.5: met");
        assert_eq!(Target::AtMost(0.5).verdict(0.51), "<= 0.5: MISSED");
    }

    /// The ratio is detcd over etcd, and no ratio is made up when etcd measured nothing.
    #[test]
    fn rows_give_detcd_over_etcd() {
        let mut out = String::new();
        row(
            &mut out,
            "put",
            Some(10_000.0),
            Some(15_000.0),
            Some(Target::AtLeast(1.5)),
        );
        assert_eq!(out, "| put | 10,000 | 15,000 | 1.50 | >= 1.5: met |\n");
        let mut out = String::new();
        row(
            &mut out,
            "put",
            Some(0.0),
            Some(15_000.0),
            Some(Target::AtLeast(1.5)),
        );
        assert_eq!(out, "| put | 0.000 | 15,000 | - | not measured |\n");
    }
}
