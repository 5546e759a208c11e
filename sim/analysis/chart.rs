//! Charts of an analysis report, drawn by presim-viz: the stale-presence
//! timeline (one lane per observer → contact pair) and the distribution of
//! stale-interval durations, optionally beside a second run's (the same
//! scenario without XEP-0310, say). docs/analysis.md shows how to read them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use presim_viz::{self as viz, Band, Distribution, Lane, Mark, Sample, Timeline, VizError};

use super::report::{MarkKind, Report};

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn run_name(report: &Report) -> String {
    format!("{} (seed {})", report.trace.scenario, report.trace.seed)
}

/// Writes DIR/timeline.{svg,png} and DIR/durations.{svg,png}; `compare` is
/// a second run whose durations are drawn beside the first's.
pub fn write_charts(
    report: &Report,
    compare: Option<&Report>,
    dir: &Path,
) -> Result<Vec<PathBuf>, VizError> {
    let mut written = viz::write(&timeline(report), &dir.join("timeline"))?;
    written.extend(viz::write(
        &durations(report, compare),
        &dir.join("durations"),
    )?);
    Ok(written)
}

/// The outage kinds as the chart names them.
fn band_label(kind: &str, target: &str) -> String {
    let what = match kind {
        "link-down" => "link down",
        "server-down" => "server down",
        "client-crash" => "client crashed",
        "session-paused" => "session paused",
        "latency-spike" => "latency spike",
        other => other,
    };
    format!("{what}: {target}")
}

fn lane<'a, 'r>(
    lanes: &'a mut BTreeMap<(&'r str, &'r str), Lane>,
    observer: &'r str,
    contact: &'r str,
) -> &'a mut Lane {
    lanes.entry((observer, contact)).or_insert_with(|| Lane {
        label: format!("{observer} → {contact}"),
        ..Lane::default()
    })
}

/// One lane per pair with a stale interval or an annotation mark, ordered
/// by observer then contact.
pub fn timeline(report: &Report) -> Timeline {
    let mut lanes: BTreeMap<(&str, &str), Lane> = BTreeMap::new();
    for i in &report.intervals {
        lane(&mut lanes, &i.observer, &i.contact)
            .intervals
            .push(viz::Interval {
                start: secs(i.start),
                end: secs(i.end),
                annotated: i
                    .annotated_spans
                    .iter()
                    .map(|s| (secs(s[0]), secs(s[1])))
                    .collect(),
            });
    }
    for m in &report.marks {
        let kind = match m.kind {
            MarkKind::Annotated(_) => viz::MarkKind::Annotation,
            MarkKind::Cleared => viz::MarkKind::Clear,
        };
        lane(&mut lanes, &m.observer, &m.contact).marks.push(Mark {
            at: secs(m.t),
            kind,
        });
    }
    let lanes: Vec<Lane> = lanes.into_values().collect();
    Timeline {
        title: format!("Stale presence: {}", run_name(report)),
        subtitle: format!(
            "{} stale interval(s) in {} of {} observer → contact pairs · {:.1}% of stale time annotated",
            report.intervals.len(),
            lanes.iter().filter(|l| !l.intervals.is_empty()).count(),
            report.pairs,
            report.psa.annotated_share * 100.0
        ),
        end: secs(report.trace.end),
        bands: report
            .outages
            .iter()
            .map(|o| Band {
                label: band_label(o.kind, &o.target),
                start: secs(o.start),
                end: secs(o.end),
            })
            .collect(),
        lanes,
        labels: viz::Labels {
            interval: "stale".into(),
            annotated: "stale, annotated (XEP-0310)".into(),
            annotation: "annotation arrives".into(),
            clear: "annotation cleared".into(),
            band: "fault in force".into(),
            empty: "no stale intervals".into(),
            aggregate_axis: "pairs stale".into(),
        },
    }
}

/// Each run's stale-interval durations, and for a run with annotations the
/// part of each interval that was not annotated (the time its observer
/// was misled).
pub fn durations(report: &Report, compare: Option<&Report>) -> Distribution {
    let mut samples = Vec::new();
    for r in std::iter::once(report).chain(compare) {
        let name = run_name(r);
        samples.push(Sample {
            label: format!("{name}: stale"),
            values: r.intervals.iter().map(|i| secs(i.duration)).collect(),
            secondary: false,
        });
        if r.intervals.iter().any(|i| i.annotated > 0) {
            samples.push(Sample {
                label: format!("{name}: stale and not annotated"),
                values: r
                    .intervals
                    .iter()
                    .map(|i| secs(i.duration - i.annotated))
                    .collect(),
                secondary: true,
            });
        }
    }
    let subtitle = match compare {
        Some(other) => format!("{} beside {}", run_name(report), run_name(other)),
        None => run_name(report),
    };
    Distribution {
        title: "Stale-interval durations".into(),
        subtitle,
        x_label: "duration (s)".into(),
        y_label: "stale intervals".into(),
        samples,
        empty: "no stale intervals".into(),
    }
}
