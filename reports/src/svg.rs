//! The timeline drawn as SVG. Every shape carries its simulated times in `data-t0`/`data-t1` (or
//! `data-t`) milliseconds, so the page's zoom can move it without a layout engine, and tests can
//! read the drawing back as data (`data-node`, `data-role`, `data-term`, `data-outcome`...).

use std::fmt::Write;

use detcd_core::Instant;

use crate::record::{ClientOperation, RunRecord};
use crate::timeline::{NodeLane, NodeState, PartitionBand, StateSpan, Timeline};

/// Where the lanes' labels end and time begins.
const LABEL_WIDTH: f64 = 96.0;
const AXIS_HEIGHT: f64 = 34.0;
const NODE_LANE_HEIGHT: f64 = 44.0;
const CLIENT_LANE_HEIGHT: f64 = 16.0;
const SECTION_GAP: f64 = 26.0;
/// Room after the end of the run for the last labels.
const RIGHT_MARGIN: f64 = 90.0;
/// The default scale fits a run in this many pixels, but never below the minimum scale.
const FIT_WIDTH: f64 = 1400.0;
const PIXELS_PER_SECOND_MIN: f64 = 20.0;

/// The pixel scale of the drawing.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub pixels_per_second: f64,
}

impl Scale {
    pub fn fitting(end: Instant) -> Scale {
        let seconds = (end.as_millis() as f64 / 1000.0).max(1.0);
        Scale {
            pixels_per_second: (FIT_WIDTH / seconds).max(PIXELS_PER_SECOND_MIN),
        }
    }

    fn x(self, at: Instant) -> f64 {
        LABEL_WIDTH + at.as_millis() as f64 / 1000.0 * self.pixels_per_second
    }
}

/// The whole drawing.
pub fn timeline_svg(record: &RunRecord, timeline: &Timeline, scale: Scale) -> String {
    let width = scale.x(timeline.end) + RIGHT_MARGIN;
    let nodes_top = AXIS_HEIGHT;
    let nodes_bottom = nodes_top + NODE_LANE_HEIGHT * timeline.nodes.len() as f64;
    let clients_top = nodes_bottom + SECTION_GAP;
    let height = clients_top + CLIENT_LANE_HEIGHT * timeline.clients.len() as f64 + 10.0;
    let commit_max = timeline
        .nodes
        .iter()
        .flat_map(|lane| lane.commits.iter().map(|&(_, index)| index))
        .max()
        .unwrap_or(0)
        .max(1);
    let blamed = record.blamed_operations();

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{width:.0}" height="{height:.0}" data-pixels-per-second="{pps}" data-label-width="{LABEL_WIDTH}">"#,
        pps = scale.pixels_per_second
    );
    svg.push_str(&axis(timeline.end, scale, height));
    for band in &timeline.partitions {
        svg.push_str(&partition_band(band, scale, nodes_top, height));
    }
    svg.push_str(&fault_phase_end(timeline.fault_phase_end, scale, height));
    for (row, lane) in timeline.nodes.iter().enumerate() {
        let top = nodes_top + NODE_LANE_HEIGHT * row as f64;
        svg.push_str(&node_lane(lane, scale, top, commit_max));
    }
    // Lane labels come last so that they are drawn over the bars when the timeline scrolls.
    let mut labels = String::from(r#"<g class="labels">"#);
    for (row, lane) in timeline.nodes.iter().enumerate() {
        let y = nodes_top + NODE_LANE_HEIGHT * row as f64 + 20.0;
        let node = lane.node;
        let _ = write!(
            labels,
            r#"<text class="label" x="4" y="{y:.1}">member {node}</text>"#
        );
    }
    let _ = write!(
        labels,
        r#"<text class="section" x="4" y="{:.1}">clients</text>"#,
        clients_top - 8.0
    );
    for (row, lane) in timeline.clients.iter().enumerate() {
        let top = clients_top + CLIENT_LANE_HEIGHT * row as f64;
        let client = lane.client;
        let y = top + 11.0;
        let _ = write!(
            labels,
            r#"<text class="label" x="4" y="{y:.1}">client {client}</text>"#
        );
        let _ = write!(svg, r#"<g class="lane client" data-client="{client}">"#);
        for &index in &lane.operations {
            let operation = &record.operations[index];
            let highlighted = blamed.binary_search(&operation.op).is_ok();
            svg.push_str(&operation_bar(
                operation,
                record.end,
                scale,
                top,
                highlighted,
            ));
        }
        svg.push_str("</g>");
    }
    svg.push_str(&labels);
    svg.push_str("</g></svg>");
    svg
}

/// Seconds along the top, with a faint line down the drawing at each.
fn axis(end: Instant, scale: Scale, height: f64) -> String {
    let mut svg = String::from(r#"<g class="axis">"#);
    for second in 0..=end.as_millis() / 1000 {
        let at = Instant::from_millis(second * 1000);
        let x = scale.x(at);
        let _ = write!(
            svg,
            r#"<line class="tick" data-t="{ms}" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{height:.0}"/><text class="tick-label" data-t="{ms}" data-second="{second}" x="{x:.1}" y="12">{second}s</text>"#,
            ms = second * 1000,
            top = AXIS_HEIGHT - 14.0,
        );
    }
    svg.push_str("</g>");
    svg
}

fn partition_band(band: &PartitionBand, scale: Scale, top: f64, height: f64) -> String {
    let (x0, x1) = (scale.x(band.start), scale.x(band.end));
    let shape = escape(&band.shape);
    format!(
        r#"<g class="partition" data-shape="{shape}"><title>partition {start} to {end}: {shape}</title><rect class="partition-band" data-t0="{t0}" data-t1="{t1}" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"/><text class="partition-label" data-t="{t0}" x="{tx:.1}" y="{ty:.1}">partition {shape}</text><line class="heal" data-t="{t1}" x1="{x1:.1}" x2="{x1:.1}" y1="{y:.1}" y2="{height:.0}"/><text class="heal-label" data-t="{t1}" x="{hx:.1}" y="{ty:.1}">heal</text></g>"#,
        start = band.start,
        end = band.end,
        t0 = band.start.as_millis(),
        t1 = band.end.as_millis(),
        y = top - 12.0,
        w = x1 - x0,
        h = height - top + 12.0,
        tx = x0 + 4.0,
        ty = top - 2.0,
        hx = x1 + 4.0,
    )
}

fn fault_phase_end(at: Instant, scale: Scale, height: f64) -> String {
    let x = scale.x(at);
    format!(
        r#"<g class="fault-phase-end"><line data-t="{t}" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{height:.0}"/><text data-t="{t}" x="{tx:.1}" y="{ty}">faults end</text></g>"#,
        t = at.as_millis(),
        top = AXIS_HEIGHT - 14.0,
        tx = x + 4.0,
        ty = AXIS_HEIGHT - 4.0,
    )
}

/// A member's lane: coloured role spans with the term where it changes, markers for elections
/// and step-downs, disk stalls beneath, and the commit index it knows as a rising line.
fn node_lane(lane: &NodeLane, scale: Scale, top: f64, commit_max: u64) -> String {
    let node = lane.node;
    let mut svg = format!(r#"<g class="lane node" data-node="{node}">"#);
    let mut shown_term = None;
    for span in &lane.spans {
        svg.push_str(&state_span(node, span, scale, top));
        if let Some(term) = span.term
            && shown_term != Some(term)
        {
            shown_term = Some(term);
            let _ = write!(
                svg,
                r#"<text class="term" data-node="{node}" data-term="{term}" data-t="{t}" x="{x:.1}" y="{y:.1}">t{term}</text>"#,
                t = span.start.as_millis(),
                x = scale.x(span.start) + 2.0,
                y = top + 17.0,
            );
        }
    }
    for &(start, end) in &lane.disk_stalls {
        let _ = write!(
            svg,
            r#"<rect class="disk-stall" data-node="{node}" data-t0="{t0}" data-t1="{t1}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="4"><title>member {node}'s disk stalls {start} to {end}</title></rect>"#,
            t0 = start.as_millis(),
            t1 = end.as_millis(),
            x = scale.x(start),
            y = top + 34.0,
            w = scale.x(end) - scale.x(start),
        );
    }
    svg.push_str(&commit_line(lane, scale, top, commit_max));
    for &(at, term) in &lane.elected {
        svg.push_str(&marker("elected", node, term, at, scale, top, "★ elected"));
    }
    for &(at, term) in &lane.stepped_down {
        svg.push_str(&marker(
            "stepped-down",
            node,
            term,
            at,
            scale,
            top,
            "▼ steps down",
        ));
    }
    svg.push_str("</g>");
    svg
}

fn state_span(node: u64, span: &StateSpan, scale: Scale, top: f64) -> String {
    let role = span.state.name();
    let term = span.term.map_or(String::new(), |term| term.to_string());
    let term_words = span
        .term
        .map_or(String::new(), |term| format!(", term {term}"));
    format!(
        r#"<rect class="state {role}" data-node="{node}" data-role="{role}" data-term="{term}" data-t0="{t0}" data-t1="{t1}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="24"><title>member {node}: {role}{term_words}, {start} to {end}</title></rect>"#,
        t0 = span.start.as_millis(),
        t1 = span.end.as_millis(),
        x = scale.x(span.start),
        y = top + 4.0,
        w = scale.x(span.end) - scale.x(span.start),
        start = span.start,
        end = span.end,
    )
}

/// The commit index the member knows, as a step line in the lower part of its role bar.
fn commit_line(lane: &NodeLane, scale: Scale, top: f64, commit_max: u64) -> String {
    if lane.commits.is_empty() {
        return String::new();
    }
    let y = |index: u64| top + 27.0 - 20.0 * index as f64 / commit_max as f64;
    let mut points = String::new();
    let mut times = String::new();
    let mut previous_y = y(0);
    for &(at, index) in &lane.commits {
        let x = scale.x(at);
        let _ = write!(points, "{x:.1},{previous_y:.1} {x:.1},{:.1} ", y(index));
        let _ = write!(times, "{} {} ", at.as_millis(), at.as_millis());
        previous_y = y(index);
    }
    let last = lane.commits.last().expect("checked above").1;
    format!(
        r#"<polyline class="commit" data-node="{node}" data-ts="{times}" points="{points}"><title>member {node}: commit index it knows (reaches {last})</title></polyline>"#,
        node = lane.node,
        times = times.trim_end(),
        points = points.trim_end(),
    )
}

fn marker(
    class: &str,
    node: u64,
    term: u64,
    at: Instant,
    scale: Scale,
    top: f64,
    words: &str,
) -> String {
    format!(
        r#"<g class="{class}" data-node="{node}" data-term="{term}"><line data-t="{t}" x1="{x:.1}" x2="{x:.1}" y1="{y0:.1}" y2="{y1:.1}"/><text data-t="{t}" x="{tx:.1}" y="{ty:.1}">{words} t{term}<title>member {node} {words} (term {term}) at {at}</title></text></g>"#,
        t = at.as_millis(),
        x = scale.x(at),
        y0 = top + 2.0,
        y1 = top + 30.0,
        tx = scale.x(at) + 3.0,
        ty = top + 40.0,
    )
}

/// A client operation from invoke to return (or to the end, when it never returned).
fn operation_bar(
    operation: &ClientOperation,
    end: Instant,
    scale: Scale,
    top: f64,
    highlighted: bool,
) -> String {
    let returned = operation.returned.unwrap_or(end);
    let outcome = operation.class().name();
    let node = operation
        .node
        .map_or(String::new(), |node| node.to_string());
    let blamed = if highlighted { " blamed" } else { "" };
    let x0 = scale.x(operation.invoked);
    format!(
        r#"<rect class="op {outcome}{blamed}" data-op="{op}" data-client="{client}" data-node="{node}" data-outcome="{outcome}" data-t0="{t0}" data-t1="{t1}" x="{x0:.2}" y="{y:.1}" width="{w:.2}" height="{h:.1}"><title>#{op} client {client} → member {node}, {invoked} to {returned_at}&#10;{request}&#10;{outcome}: {response}</title></rect>"#,
        op = operation.op,
        client = operation.client,
        t0 = operation.invoked.as_millis(),
        t1 = returned.as_millis(),
        y = top + 2.0,
        w = (scale.x(returned) - x0).max(1.0),
        h = CLIENT_LANE_HEIGHT - 4.0,
        invoked = operation.invoked,
        returned_at = operation
            .returned
            .map_or("never".to_string(), |at| at.to_string()),
        request = escape(&operation.request_text()),
        response = escape(&operation.outcome_text()),
    )
}

/// The legend's swatches, one per state.
pub fn legend() -> String {
    let mut svg = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="legend" width="1100" height="22">"#,
    );
    let mut x = 0.0;
    let swatches = NodeState::ALL
        .iter()
        .map(|state| ("state", state.name()))
        .chain([("op", "ok"), ("op", "failed"), ("op", "unknown")]);
    for (kind, name) in swatches {
        let label = if kind == "op" {
            format!("request {name}")
        } else {
            name.to_string()
        };
        let _ = write!(
            svg,
            r#"<rect class="{kind} {name}" x="{x:.0}" y="4" width="16" height="14"/><text x="{tx:.0}" y="16">{label}</text>"#,
            tx = x + 20.0
        );
        x += 28.0 + 7.0 * label.len() as f64;
    }
    let _ = write!(
        svg,
        r#"<rect class="partition-band" x="{x:.0}" y="4" width="16" height="14"/><text x="{tx:.0}" y="16">partition</text>"#,
        tx = x + 20.0
    );
    x += 100.0;
    let _ = write!(
        svg,
        r#"<polyline class="commit" points="{x:.0},16 {m:.0},16 {m:.0},6 {e:.0},6"/><text x="{tx:.0}" y="16">commit index</text>"#,
        m = x + 8.0,
        e = x + 16.0,
        tx = x + 20.0
    );
    svg.push_str("</svg>");
    svg
}

/// Text safe inside XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}
