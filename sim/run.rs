//! Running a scenario: build the world, run it to the end, check the
//! expectations, and write the trace and the summary.

use std::path::{Path, PathBuf};

use presim_engine::xml;
use serde::Serialize;

use crate::model::{Check, Model, ViewExpect};
use crate::scansion::matcher;
use crate::trace::{Shown, Trace, TraceSummary};
use crate::world::{ClientNode, Stats, World};

/// Where a run writes its files.
pub struct Outputs {
    pub dir: PathBuf,
}

impl Outputs {
    pub fn trace_path(&self) -> PathBuf {
        self.dir.join("trace.jsonl")
    }

    pub fn summary_path(&self) -> PathBuf {
        self.dir.join("summary.json")
    }
}

/// The result of a run.
pub struct RunResult {
    pub trace: TraceSummary,
    pub stats: Stats,
    /// One line per failed expectation.
    pub failures: Vec<String>,
    pub expectations: usize,
}

/// How far a run has got: simulated time and events handled so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub now: u64,
    pub end: u64,
    pub events: u64,
}

/// A run reports its progress this many times, at even steps of
/// simulated time. It takes the steps whether anyone watches or not, so
/// that watching cannot change a run (stopping at a step and going on
/// handles the same events in the same order).
pub const PROGRESS_STEPS: u64 = 200;

/// Runs `model`, writing the trace to `trace_sink` (or only hashing it).
pub fn run(model: &Model, trace_sink: Option<Box<dyn std::io::Write>>) -> RunResult {
    run_watched(model, trace_sink, &mut |_| {})
}

/// [`run`], telling `progress` how far it has got at each of
/// [`PROGRESS_STEPS`] steps.
pub fn run_watched(
    model: &Model,
    trace_sink: Option<Box<dyn std::io::Write>>,
    progress: &mut dyn FnMut(Progress),
) -> RunResult {
    let mut world = World::new(model, Trace::new(trace_sink));
    let end = model.duration;
    for step in 1..=PROGRESS_STEPS {
        let now = (u128::from(end) * u128::from(step) / u128::from(PROGRESS_STEPS)) as u64;
        world.run_until(now);
        progress(Progress {
            now,
            end,
            events: world.stats.events,
        });
    }
    let (trace, stats, clients) = world.finish();
    let mut failures = check(model, &clients);
    if stats.violations > 0 {
        failures.push(format!(
            "{} violation(s): clients received what they must never receive \
             (see the 'violation' records in the trace)",
            stats.violations
        ));
    }
    RunResult {
        trace,
        stats,
        failures,
        expectations: model.expectations.len(),
    }
}

/// Runs `model` and returns its trace bytes too (for tests and analysis
/// in memory).
pub fn run_captured(model: &Model) -> (RunResult, Vec<u8>) {
    let buf = SharedBuf::default();
    let result = run(model, Some(Box::new(buf.clone())));
    let bytes = std::mem::take(&mut *buf.0.lock().expect("not poisoned"));
    (result, bytes)
}

/// `f(0)`, …, `f(n − 1)` on up to `jobs` threads, each index once; the
/// results in index order, whichever thread made them. For independent
/// runs (seed sweeps, corpus replays): DESIGN.md puts parallelism across
/// runs, never inside one.
pub fn in_parallel<R: Send>(n: usize, jobs: usize, f: &(dyn Fn(usize) -> R + Sync)) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = f(i);
                results.lock().expect("no thread panics holding it")[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("no thread panicked holding it")
        .into_iter()
        .map(|r| r.expect("every index was run"))
        .collect()
}

/// A byte buffer the trace writes to while the caller keeps a handle.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `model` into `dir`: trace.jsonl and summary.json (which lists the
/// `--set` assignments the scenario was loaded with); `progress` as in
/// [`run_watched`].
pub fn run_to_dir(
    model: &Model,
    scenario_file: &str,
    set: &[String],
    dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunResult, WriteError> {
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |error| WriteError { path, error }
    };
    create_output_dir(dir)?;
    let outputs = Outputs {
        dir: dir.to_path_buf(),
    };
    let trace_path = outputs.trace_path();
    let file = std::fs::File::create(&trace_path).map_err(at(&trace_path))?;
    let mut result = run_watched(
        model,
        Some(Box::new(std::io::BufWriter::new(file))),
        progress,
    );
    if let Some(e) = result.trace.error.take() {
        return Err(at(&trace_path)(e));
    }
    let summary = Summary::new(model, scenario_file, set, &result);
    let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
    let summary_path = outputs.summary_path();
    std::fs::write(&summary_path, json + "\n").map_err(at(&summary_path))?;
    Ok(result)
}

/// Creates the directory `dir` that outputs go into, and its parents,
/// unless it exists; a file in its place is an error of its own.
pub fn create_output_dir(dir: &Path) -> Result<(), WriteError> {
    let error = if dir.exists() && !dir.is_dir() {
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it exists and is not a directory",
        )
    } else {
        match std::fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        }
    };
    Err(WriteError {
        path: dir.to_path_buf(),
        error,
    })
}

/// A file or directory a run could not write, and why.
#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to {}: {}", self.path.display(), self.error)
    }
}

/// summary.json.
#[derive(Serialize)]
pub struct Summary<'a> {
    pub schema: u32,
    pub scenario: &'a str,
    pub file: &'a str,
    /// The `--set PATH=VALUE` assignments applied to the file, in order.
    pub set: &'a [String],
    pub seed: u64,
    pub duration_us: u64,
    pub digest: &'a str,
    pub trace_records: u64,
    pub trace_bytes: u64,
    pub events: u64,
    pub sent: u64,
    pub delivered: u64,
    pub delivered_to_clients: u64,
    pub dropped: &'a std::collections::BTreeMap<String, u64>,
    pub faults: u64,
    pub sessions: u64,
    pub truth_changes: u64,
    pub view_changes: u64,
    pub violations: u64,
    pub expectations: usize,
    pub failed_expectations: &'a [String],
}

impl<'a> Summary<'a> {
    pub fn new(
        model: &'a Model,
        file: &'a str,
        set: &'a [String],
        r: &'a RunResult,
    ) -> Summary<'a> {
        Summary {
            schema: crate::trace::SCHEMA_VERSION,
            scenario: &model.name,
            file,
            set,
            seed: model.seed,
            duration_us: model.duration,
            digest: &r.trace.digest,
            trace_records: r.trace.records,
            trace_bytes: r.trace.bytes,
            events: r.stats.events,
            sent: r.stats.sent,
            delivered: r.stats.delivered,
            delivered_to_clients: r.stats.delivered_to_clients,
            dropped: &r.stats.dropped,
            faults: r.stats.faults,
            sessions: r.stats.sessions,
            truth_changes: r.stats.truth_changes,
            view_changes: r.stats.view_changes,
            violations: r.stats.violations,
            expectations: r.expectations,
            failed_expectations: &r.failures,
        }
    }
}

/// Checks every expectation; returns one line per failure.
pub fn check(model: &Model, clients: &[ClientNode]) -> Vec<String> {
    let mut failures = Vec::new();
    for e in &model.expectations {
        if let Err(why) = check_one(&e.check, model, clients) {
            failures.push(format!("{}: {why}", e.label));
        }
    }
    failures
}

fn check_one(check: &Check, model: &Model, clients: &[ClientNode]) -> Result<(), String> {
    let secs = crate::duration::format_secs;
    match check {
        Check::Receives {
            client,
            stanza,
            from,
            until,
        }
        | Check::ReceivesNone {
            client,
            stanza,
            from,
            until,
        } => {
            let log = clients[*client].agent.log.as_deref().unwrap_or(&[]);
            let found = log.iter().find(|(t, el)| {
                (*from..=*until).contains(t)
                    && matcher::matches(stanza, el, &mut matcher::Captures::new()).is_ok()
            });
            let name = &model.clients[*client].name;
            match (check, found) {
                (Check::Receives { .. }, None) => Err(format!(
                    "{name} received no stanza matching {} between {}s and {}s",
                    xml::to_string(stanza),
                    secs(*from),
                    secs(*until)
                )),
                (Check::ReceivesNone { .. }, Some((t, el))) => Err(format!(
                    "{name} received {} at {}s, matching {}",
                    xml::to_string(el),
                    secs(*t),
                    xml::to_string(stanza)
                )),
                _ => Ok(()),
            }
        }
        Check::View {
            client,
            contact,
            at,
            expect,
        } => {
            let log = clients[*client].agent.view_log.as_deref().unwrap_or(&[]);
            let shown = log
                .iter()
                .rev()
                .find(|(t, c, _)| t <= at && c == contact)
                .map(|(_, _, s)| s.clone())
                .unwrap_or(Shown::UNAVAILABLE);
            let ok = match expect {
                ViewExpect::Unavailable => !shown.available,
                ViewExpect::Available {
                    show,
                    status,
                    annotation,
                } => {
                    shown.available
                        && show
                            .as_ref()
                            .is_none_or(|s| shown.show.as_deref() == Some(s.as_str()))
                        && status
                            .as_ref()
                            .is_none_or(|s| shown.status.as_deref() == Some(s.as_str()))
                        && annotation.is_none_or(|a| shown.annotation == a)
                }
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{}'s view of {contact} at {}s is {}, expected {}",
                    model.clients[*client].name,
                    secs(*at),
                    describe(&shown),
                    match expect {
                        ViewExpect::Unavailable => "unavailable".to_string(),
                        ViewExpect::Available {
                            show,
                            status,
                            annotation,
                        } => format!(
                            "available{}{}{}",
                            show.as_ref()
                                .map(|s| format!(" show={s}"))
                                .unwrap_or_default(),
                            status
                                .as_ref()
                                .map(|s| format!(" status={s:?}"))
                                .unwrap_or_default(),
                            annotation
                                .map(|a| format!(" annotation={}", a.unwrap_or("none")))
                                .unwrap_or_default()
                        ),
                    }
                ))
            }
        }
    }
}

fn describe(s: &Shown) -> String {
    if !s.available {
        return "unavailable".to_string();
    }
    format!(
        "available{}{}{}",
        s.show
            .as_ref()
            .map(|v| format!(" show={v}"))
            .unwrap_or_default(),
        s.status
            .as_ref()
            .map(|v| format!(" status={v:?}"))
            .unwrap_or_default(),
        s.annotation
            .map(|a| format!(" annotation={a}"))
            .unwrap_or_default()
    )
}
