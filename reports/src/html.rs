//! The report page: one self-contained HTML file (inline CSS, inline SVG, a few lines of script
//! for zoom), readable offline.

use std::fmt::Write;

use detcd_checker::Verdict;

use crate::explain::explain;
use crate::record::{OutcomeClass, RunRecord};
use crate::svg::{Scale, escape, legend, timeline_svg};
use crate::timeline::Timeline;

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 20px; color: #1d2430; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
.summary { margin: 4px 0 8px; }
.pass { color: #17733a; font-weight: 600; }
.fail { color: #b3261e; font-weight: 600; }
.controls { margin: 6px 0; }
.controls button { font: inherit; padding: 1px 10px; }
.scroll { overflow-x: auto; border: 1px solid #d0d5dd; background: #fff; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2430; }
svg .label, svg .section { font-weight: 600; font-size: 12px; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
svg .tick { stroke: #eef0f3; }
svg .tick-label { fill: #667; text-anchor: middle; }
.state.follower { fill: #c9d6e8; }
.state.pre-candidate { fill: #f5d37a; }
.state.candidate { fill: #f29d38; }
.state.leader { fill: #2e8b57; }
.state.crashed { fill: #3a3a3a; }
.state.paused { fill: #a58bd6; }
svg .term { font-weight: 700; font-size: 11px; fill: #102040; pointer-events: none; }
.commit { fill: none; stroke: #1b3a6b; stroke-width: 1.3; }
.disk-stall { fill: #e8590c; }
.elected line { stroke: #0b5d2a; stroke-width: 2; }
.elected text { fill: #0b5d2a; font-weight: 700; }
.stepped-down line { stroke: #b3261e; stroke-width: 2; }
.stepped-down text { fill: #b3261e; font-weight: 700; }
.partition-band { fill: #d6336c; fill-opacity: 0.09; stroke: #d6336c; stroke-opacity: 0.5; stroke-dasharray: 4 3; }
svg .partition-label { fill: #a61e4d; font-weight: 700; }
.heal { stroke: #2b8a3e; stroke-width: 2; }
svg .heal-label { fill: #2b8a3e; font-weight: 700; }
.fault-phase-end line { stroke: #667; stroke-dasharray: 6 4; }
svg .fault-phase-end text { fill: #667; }
.op.ok { fill: #69b578; }
.op.failed { fill: #d9453b; }
.op.unknown { fill: #f0a202; }
.op.blamed { stroke: #000; stroke-width: 2.5; }
.legend text { font: 12px system-ui, sans-serif; }
pre.narration { background: #f6f8fa; padding: 8px 12px; border: 1px solid #d0d5dd; overflow-x: auto; font-size: 12.5px; }
.verdict pre { white-space: pre-wrap; }
"#;

/// Zoom by moving every shape to its simulated time at the new scale; the drawing stays crisp
/// and text is never stretched.
const SCRIPT: &str = r#"
(function () {
  const svg = document.getElementById('timeline');
  const label = +svg.dataset.labelWidth;
  const fit = +svg.dataset.pixelsPerSecond;
  let scale = fit;
  const x = (ms) => label + ms / 1000 * scale;
  function place() {
    svg.querySelectorAll('[data-t0]').forEach((e) => {
      e.setAttribute('x', x(+e.dataset.t0));
      e.setAttribute('width', Math.max(e.classList.contains('op') ? 1 : 0, x(+e.dataset.t1) - x(+e.dataset.t0)));
    });
    svg.querySelectorAll('[data-t]').forEach((e) => {
      const at = x(+e.dataset.t);
      if (e.tagName === 'line') { e.setAttribute('x1', at); e.setAttribute('x2', at); }
      else { e.setAttribute('x', at + (e.classList.contains('tick-label') ? 0 : 3)); }
    });
    svg.querySelectorAll('polyline[data-ts]').forEach((e) => {
      const ts = e.dataset.ts.split(' ');
      const ys = e.getAttribute('points').split(' ').map((p) => p.split(',')[1]);
      e.setAttribute('points', ts.map((t, i) => x(+t) + ',' + ys[i]).join(' '));
    });
    const every = scale >= 40 ? 1 : scale >= 12 ? 5 : 10;
    svg.querySelectorAll('.tick-label').forEach((e) => {
      e.style.display = (+e.dataset.second % every === 0) ? '' : 'none';
    });
    const last = Math.max(...[...svg.querySelectorAll('[data-t1]')].map((e) => +e.dataset.t1));
    svg.setAttribute('width', x(last) + 90);
    document.getElementById('scale').textContent = Math.round(scale) + ' px/s';
  }
  // Lane labels stay in view while the timeline scrolls sideways.
  const scroller = svg.parentElement;
  scroller.addEventListener('scroll', () => {
    svg.querySelectorAll('.label, .section').forEach((e) => e.setAttribute('x', scroller.scrollLeft + 4));
  });
  document.getElementById('zoom-in').onclick = () => { scale *= 2; place(); };
  document.getElementById('zoom-out').onclick = () => { scale = Math.max(2, scale / 2); place(); };
  document.getElementById('zoom-fit').onclick = () => { scale = fit; place(); };
  place();
})();
"#;

/// The self-contained report of a run.
pub fn html(record: &RunRecord, title: &str) -> String {
    let timeline = Timeline::of(record);
    let scale = Scale::fitting(record.end);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>{title}</title><style>{STYLE}</style></head><body>",
        title = escape(title)
    );
    let _ = write!(page, "<h1>{}</h1>", escape(title));
    page.push_str(&summary(record));
    page.push_str(&format!("<div class=\"legend-row\">{}</div>", legend()));
    page.push_str(
        "<div class=\"controls\">zoom <button id=\"zoom-out\">−</button> \
         <button id=\"zoom-in\">+</button> <button id=\"zoom-fit\">fit</button> \
         <span id=\"scale\"></span> · hover any bar for details</div>",
    );
    let _ = write!(
        page,
        "<div class=\"scroll\">{}</div>",
        timeline_svg(record, &timeline, scale)
    );
    page.push_str(&verdict(record));
    page.push_str("<h2>What happened</h2><pre class=\"narration\">");
    for line in explain(record) {
        page.push_str(&escape(&line));
        page.push('\n');
    }
    page.push_str("</pre>");
    let _ = writeln!(page, "<script>{SCRIPT}</script></body></html>");
    page
}

/// One line of what the run was and how it went.
fn summary(record: &RunRecord) -> String {
    let count = |class: OutcomeClass| {
        record
            .operations
            .iter()
            .filter(|op| op.class() == class)
            .count()
    };
    let leaders = record
        .events
        .iter()
        .filter(|(_, event)| matches!(event, detcd_sim::cluster::ClusterEvent::Elected { .. }))
        .count();
    format!(
        "<p class=\"summary\">seed {seed} · {members} members · {end} simulated · faults until \
         {fault_end} · {leaders} elections · {ops} client requests: {ok} ok, {failed} failed, \
         {unknown} unknown outcome</p>",
        seed = record.seed,
        members = record.members.len(),
        end = record.end,
        fault_end = record.fault_phase_end,
        ops = record.operations.len(),
        ok = count(OutcomeClass::Ok),
        failed = count(OutcomeClass::Failed),
        unknown = count(OutcomeClass::Unknown),
    )
}

/// The checker's verdict and Raft safety, with whatever they blame.
fn verdict(record: &RunRecord) -> String {
    let mut html = String::from("<div class=\"verdict\"><h2>Verdict</h2><ul>");
    let (class, words) = match &record.safety {
        None => ("pass", "held".to_string()),
        Some(violation) => ("fail", violation.to_string()),
    };
    let _ = write!(
        html,
        "<li>Raft safety: <span class=\"{class}\">{}</span></li>",
        escape(&words)
    );
    let (class, words) = match (record.verdict, record.check_violations.is_empty()) {
        (Verdict::Linearizable, true) => ("pass", "linearizable"),
        (Verdict::Linearizable, false) => {
            ("fail", "linearizable, but watch/lease guarantees broken")
        }
        (Verdict::NotLinearizable, _) => ("fail", "NOT linearizable"),
        (Verdict::Unknown, _) => ("fail", "unknown (the checker's budget ran out)"),
    };
    let _ = write!(
        html,
        "<li>History: <span class=\"{class}\">{words}</span></li>"
    );
    let (class, words) = match record.recovery {
        Some(took) => (
            "pass",
            format!("served again {} ms after healing", took.as_millis()),
        ),
        None => (
            "fail",
            "did NOT serve again in time after healing".to_string(),
        ),
    };
    let _ = write!(
        html,
        "<li>Liveness: <span class=\"{class}\">{words}</span></li></ul>"
    );
    if let Some(counterexample) = &record.counterexample {
        let _ = write!(
            html,
            "<p>Counterexample (its operations are outlined in black above):</p><pre>{}</pre>",
            escape(&counterexample.to_string())
        );
    }
    for violation in &record.check_violations {
        let _ = write!(
            html,
            "<pre>{} (operations {:?}, outlined above)</pre>",
            escape(&violation.to_string()),
            violation.operations
        );
    }
    html.push_str("</div>");
    html
}
