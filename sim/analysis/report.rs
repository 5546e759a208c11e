//! The analysis report: stale intervals, leaks, the XEP-0310 metrics and
//! the convergence check, as JSON (`analysis.json`, schema
//! [`ANALYSIS_SCHEMA`]) and as a table for the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::read::TraceInfo;
use super::Options;

/// Version of the analysis JSON; bumped when a field changes meaning.
pub const ANALYSIS_SCHEMA: u32 = 2;

/// Why a view went stale (DESIGN.md), decided when the interval starts and
/// refined if a fault appears while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A link on the path is down, or a server deems its peer unavailable.
    LinkDown,
    /// The contact's session hibernates (XEP-0198).
    PausedSession,
    /// The contact's client crashed.
    Crash,
    /// The contact's server is down.
    ServerDown,
    /// No fault: the update was on its way.
    Propagation,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::LinkDown => "link-down",
            Cause::PausedSession => "paused-session",
            Cause::Crash => "crash",
            Cause::ServerDown => "server-down",
            Cause::Propagation => "propagation",
        }
    }
}

/// A maximal interval in which `observer` was entitled to `contact`'s
/// presence and its view differed from the truth. Times in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interval {
    pub observer: String,
    pub contact: String,
    pub start: u64,
    pub end: u64,
    pub duration: u64,
    pub cause: Cause,
    /// When an annotation first covered it, if ever.
    pub annotated_at: Option<u64>,
    /// How long it was annotated.
    pub annotated: u64,
    /// The annotated parts, `[from, to]`, in order.
    pub annotated_spans: Vec<[u64; 2]>,
    /// The observer's server deemed the contact's server unavailable, or
    /// the contact's session was paused, while it lasted.
    pub server_could_know: bool,
    pub observer_opted_in: bool,
}

/// An annotation reached an observer's view of a contact, or left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mark {
    pub observer: String,
    pub contact: String,
    pub t: u64,
    #[serde(flatten)]
    pub kind: MarkKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mark", content = "annotation", rename_all = "kebab-case")]
pub enum MarkKind {
    /// The view became annotated (with this annotation).
    Annotated(String),
    /// The view's annotation was removed.
    Cleared,
}

/// A fault condition in force from `start` to `end` (the end of the trace
/// if it never healed): a link down, a server down, a crashed client, a
/// paused session, a latency spike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outage {
    pub kind: &'static str,
    pub target: String,
    pub start: u64,
    pub end: u64,
}

/// The observer held an available view it was not entitled to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    pub observer: String,
    pub contact: String,
    pub start: u64,
    pub end: u64,
}

/// A pair whose view is not the truth, or still annotated, after settling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotConverged {
    pub observer: String,
    pub contact: String,
    pub view: String,
    pub truth: String,
    pub annotation: Option<String>,
}

/// Count, total, max and percentiles of durations in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    pub count: u64,
    pub total: u64,
    pub max: u64,
    pub p50: u64,
    pub p99: u64,
}

impl Durations {
    pub fn of(values: &[u64]) -> Durations {
        let mut v = values.to_vec();
        v.sort_unstable();
        // Nearest rank.
        let rank = |p: u64| -> u64 {
            if v.is_empty() {
                return 0;
            }
            let r = (p * v.len() as u64).div_ceil(100).max(1);
            v[r as usize - 1]
        };
        Durations {
            count: v.len() as u64,
            total: v.iter().sum(),
            max: v.last().copied().unwrap_or(0),
            p50: rank(50),
            p99: rank(99),
        }
    }
}

impl Durations {
    /// Count, total, max, p50 and p99 as the terminal tables show them,
    /// under [`Durations::header`].
    pub fn columns(&self) -> String {
        format!(
            "{:>6} {:>12} {:>12} {:>12} {:>12}",
            self.count,
            secs(self.total),
            secs(self.max),
            secs(self.p50),
            secs(self.p99)
        )
    }

    /// The heading of [`Durations::columns`].
    pub fn header() -> String {
        format!(
            "{:>6} {:>12} {:>12} {:>12} {:>12}",
            "count", "total", "max", "p50", "p99"
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceRef {
    pub scenario: String,
    pub seed: u64,
    pub schema: u32,
    pub records: u64,
    pub end: u64,
    pub complete: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Psa {
    /// Share of stale time during which the view was annotated (0 to 1).
    pub annotated_share: f64,
    /// Stale start to the first annotation at the observer.
    pub annotation_latency: Durations,
    /// Stale intervals the observer's server could know of, for an
    /// observer that asked for annotations, with no annotation.
    pub missed: u64,
    /// Annotations that arrived while the view was fresh and nothing was
    /// wrong with the path.
    pub spurious: u64,
    /// Heal (link up, server restart, session resumed) to the annotation's
    /// removal at the observer.
    pub clear_latency: Durations,
}

#[derive(Debug, Clone, Serialize)]
pub struct Convergence {
    /// The trace ran past the settle time, so convergence was checked.
    pub checked: bool,
    /// The last fault healed plus the settle time.
    pub settle_at: u64,
    pub not_converged: Vec<NotConverged>,
}

/// Everything the analysis found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    pub trace: TraceRef,
    pub lag_threshold: u64,
    pub settle: u64,
    /// Observer/contact pairs with a view.
    pub pairs: u64,
    /// Stale intervals longer than the lag threshold.
    pub stale: Durations,
    pub stale_by_cause: BTreeMap<&'static str, Durations>,
    /// Intervals no longer than the lag threshold.
    pub propagation_lag: Durations,
    pub psa: Psa,
    pub leaks: Vec<Leak>,
    /// Available views held no longer than the lag threshold after the
    /// entitlement ended (the unavailable presence was on its way).
    pub revocation_lag: Durations,
    pub convergence: Convergence,
    pub intervals: Vec<Interval>,
    /// Annotation arrivals and removals at observers, in time order.
    pub marks: Vec<Mark>,
    /// Fault conditions, by start.
    pub outages: Vec<Outage>,
}

pub(super) struct Parts {
    pub info: TraceInfo,
    pub options: Options,
    pub pairs: u64,
    pub intervals: Vec<Interval>,
    pub lag: Vec<u64>,
    pub leaks: Vec<Leak>,
    pub revocation_lag: Vec<u64>,
    pub annotation_latency: Vec<u64>,
    pub clear_latency: Vec<u64>,
    pub spurious: u64,
    pub marks: Vec<Mark>,
    pub outages: Vec<Outage>,
    pub settle_at: u64,
    pub not_converged: Option<Vec<NotConverged>>,
}

pub(super) fn build(p: Parts) -> Report {
    let mut intervals = p.intervals;
    intervals.sort_by(|a, b| {
        (a.start, &a.observer, &a.contact).cmp(&(b.start, &b.observer, &b.contact))
    });
    let durations: Vec<u64> = intervals.iter().map(|i| i.duration).collect();
    let mut by_cause: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for i in &intervals {
        by_cause
            .entry(i.cause.as_str())
            .or_default()
            .push(i.duration);
    }
    let stale = Durations::of(&durations);
    let annotated: u64 = intervals.iter().map(|i| i.annotated).sum();
    let missed = intervals
        .iter()
        .filter(|i| i.server_could_know && i.observer_opted_in && i.annotated_at.is_none())
        .count() as u64;
    let mut outages = p.outages;
    outages.sort_by(|a, b| (a.start, a.kind, &a.target).cmp(&(b.start, b.kind, &b.target)));
    let mut leaks = p.leaks;
    leaks.sort_by(|a, b| {
        (a.start, &a.observer, &a.contact).cmp(&(b.start, &b.observer, &b.contact))
    });
    Report {
        schema: ANALYSIS_SCHEMA,
        trace: TraceRef {
            scenario: p.info.scenario,
            seed: p.info.seed,
            schema: p.info.schema,
            records: p.info.records,
            end: p.info.end,
            complete: p.info.complete,
        },
        lag_threshold: p.options.lag_threshold,
        settle: p.options.settle,
        pairs: p.pairs,
        psa: Psa {
            annotated_share: if stale.total == 0 {
                0.0
            } else {
                annotated as f64 / stale.total as f64
            },
            annotation_latency: Durations::of(&p.annotation_latency),
            missed,
            spurious: p.spurious,
            clear_latency: Durations::of(&p.clear_latency),
        },
        stale,
        stale_by_cause: by_cause
            .into_iter()
            .map(|(c, v)| (c, Durations::of(&v)))
            .collect(),
        propagation_lag: Durations::of(&p.lag),
        leaks,
        revocation_lag: Durations::of(&p.revocation_lag),
        convergence: Convergence {
            checked: p.not_converged.is_some(),
            settle_at: p.settle_at,
            not_converged: p.not_converged.unwrap_or_default(),
        },
        intervals,
        marks: p.marks,
        outages,
    }
}

/// Microseconds as seconds with millisecond precision.
pub fn secs(us: u64) -> String {
    format!("{}.{:03} s", us / 1_000_000, (us % 1_000_000) / 1_000)
}

/// Microseconds as seconds, with millisecond precision when that is
/// exact and microsecond precision otherwise: for a threshold or an
/// instant the reader compares with, which must not read as another.
pub fn exact_secs(us: u64) -> String {
    if us % 1_000 == 0 {
        secs(us)
    } else {
        format!("{}.{:06} s", us / 1_000_000, us % 1_000_000)
    }
}

impl Report {
    /// Whether the run is free of leaks and converged (when checked).
    pub fn healthy(&self) -> bool {
        self.leaks.is_empty() && self.convergence.not_converged.is_empty()
    }

    /// A readable summary for the terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let d = Durations::columns;
        let _ = writeln!(
            out,
            "{} (seed {}): {} observer/contact pairs, {} of trace",
            self.trace.scenario,
            self.trace.seed,
            self.pairs,
            secs(self.trace.end)
        );
        if !self.trace.complete {
            let _ = writeln!(
                out,
                "the trace has no end record: it was cut short (an interrupted run or a \
                 truncated file), and these figures cover only what it holds"
            );
        }
        let _ = writeln!(out, "{:<22} {}", "", Durations::header());
        let _ = writeln!(out, "{:<22} {}", "stale", d(&self.stale));
        for (cause, durations) in &self.stale_by_cause {
            let _ = writeln!(out, "{:<22} {}", format!("  {cause}"), d(durations));
        }
        let lag = format!("lag (<= {})", exact_secs(self.lag_threshold));
        let _ = writeln!(out, "{:<22} {}", lag, d(&self.propagation_lag));
        let _ = writeln!(
            out,
            "{:<22} {}",
            "annotation latency",
            d(&self.psa.annotation_latency)
        );
        let _ = writeln!(
            out,
            "{:<22} {}",
            "clear latency",
            d(&self.psa.clear_latency)
        );
        let _ = writeln!(
            out,
            "annotated share of stale time: {:.1}%; missed annotations: {}; spurious: {}",
            self.psa.annotated_share * 100.0,
            self.psa.missed,
            self.psa.spurious
        );
        let _ = writeln!(out, "leaks: {}", self.leaks.len());
        for l in &self.leaks {
            let _ = writeln!(
                out,
                "  LEAK {} saw {} available from {} to {}",
                l.observer,
                l.contact,
                secs(l.start),
                secs(l.end)
            );
        }
        if self.convergence.checked {
            let _ = writeln!(
                out,
                "convergence checked at the end of the trace (past {}: last fault healed + settle time): {} pair(s) not converged",
                exact_secs(self.convergence.settle_at),
                self.convergence.not_converged.len()
            );
            for n in &self.convergence.not_converged {
                let _ = writeln!(
                    out,
                    "  {} holds {} as {}{} but it is {}",
                    n.observer,
                    n.contact,
                    n.view,
                    n.annotation
                        .as_deref()
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default(),
                    n.truth
                );
            }
        } else {
            let _ = writeln!(
                out,
                "convergence not checked: the trace ends before {} (last fault healed + settle time)",
                exact_secs(self.convergence.settle_at)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = Durations::of(&[5, 1, 4, 2, 3]);
        assert_eq!((d.count, d.total, d.max, d.p50, d.p99), (5, 15, 5, 3, 5));
        let d = Durations::of(&(1..=100).collect::<Vec<u64>>());
        assert_eq!((d.p50, d.p99), (50, 99));
        assert_eq!(Durations::of(&[]), Durations::default());
    }

    /// A threshold or instant of the table reads as itself: whole
    /// milliseconds as the other figures are written, anything finer to
    /// the microsecond (a 1 µs lag threshold is not "0.000 s").
    #[test]
    fn exact_seconds_keep_every_microsecond() {
        assert_eq!(exact_secs(1_000_000), "1.000 s");
        assert_eq!(exact_secs(318_203_000), "318.203 s");
        assert_eq!(exact_secs(1), "0.000001 s");
        assert_eq!(exact_secs(318_203_416), "318.203416 s");
        assert_eq!(secs(318_203_416), "318.203 s");
    }
}
