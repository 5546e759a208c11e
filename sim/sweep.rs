//! Seed sweeps: one scenario run under many seeds, each run analysed, and
//! the stale-presence figures put together over the seeds.
//!
//! Each seed's run is the same as `presim run FILE --seed N`: its own
//! directory `seed-N` holds summary.json and analysis.json (and
//! trace.jsonl when kept). Runs are independent, so they go on several
//! threads (DESIGN.md: parallelism is across runs, never inside one); what
//! is reported is in seed order and does not depend on which thread ran
//! what. Each trace is analysed with the thresholds given (by default those
//! of `presim run`). sweep.json holds one row per seed and the pooled figures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::report::Durations;
use crate::analysis::{self, Report};
use crate::{run, scenario};

/// Version of sweep.json; bumped when a field changes meaning.
pub const SWEEP_SCHEMA: u32 = 1;

/// At most this many seeds in one sweep.
pub const MAX_SEEDS: usize = 100_000;

/// Parses a seed list: numbers and inclusive ranges, comma-separated
/// (`1-20`, `3,7,11`, `1-10,42`). Seeds are kept in the order given; a
/// seed given twice is an error, as is an empty or descending range.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{s}' is not a seed (a whole number from 0 to 2^64 − 1)"))
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if first > last {
            return Err(format!("the range '{part}' is empty (it goes down)"));
        }
        if (last - first) as usize >= MAX_SEEDS
            || seeds.len() + (last - first) as usize >= MAX_SEEDS
        {
            return Err(format!("more than {MAX_SEEDS} seeds"));
        }
        seeds.extend(first..=last);
    }
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("seed {} is given twice", w[0]));
    }
    Ok(seeds)
}

/// What one seed's run and analysis gave.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub digest: String,
    pub delivered: u64,
    pub stale: Durations,
    pub stale_by_cause: BTreeMap<&'static str, Durations>,
    /// Annotated stale time, in microseconds.
    pub annotated: u64,
    pub annotated_share: f64,
    pub missed_annotations: u64,
    pub spurious_annotations: u64,
    pub leaks: usize,
    /// `None` when the trace ended before the settle time.
    pub not_converged: Option<usize>,
    pub expectations: usize,
    pub failed_expectations: Vec<String>,
    /// Every stale interval's cause, duration and annotated time (for the
    /// pooled figures; not in sweep.json, where each seed's analysis.json
    /// has the intervals).
    #[serde(skip)]
    pub durations: Vec<(&'static str, u64, u64)>,
}

impl SeedResult {
    fn new(run: &run::RunResult, seed: u64, report: &Report) -> SeedResult {
        SeedResult {
            seed,
            digest: run.trace.digest.clone(),
            delivered: run.stats.delivered,
            stale: report.stale.clone(),
            stale_by_cause: report.stale_by_cause.clone(),
            annotated: report.intervals.iter().map(|i| i.annotated).sum(),
            annotated_share: report.psa.annotated_share,
            missed_annotations: report.psa.missed,
            spurious_annotations: report.psa.spurious,
            leaks: report.leaks.len(),
            not_converged: report
                .convergence
                .checked
                .then_some(report.convergence.not_converged.len()),
            expectations: run.expectations,
            failed_expectations: run.failures.clone(),
            durations: report
                .intervals
                .iter()
                .map(|i| (i.cause.as_str(), i.duration, i.annotated))
                .collect(),
        }
    }

    /// Whether the seed fails the sweep: a failed expectation or a leak,
    /// as `presim run` fails on either.
    pub fn failed(&self) -> bool {
        !self.failed_expectations.is_empty() || self.leaks > 0
    }
}

/// The figures over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Pooled {
    pub seeds: usize,
    /// Every seed's stale intervals together.
    pub stale: Durations,
    pub stale_by_cause: BTreeMap<&'static str, Durations>,
    /// Annotated stale time over all stale time, all seeds together.
    pub annotated_share: f64,
    /// The distribution of each seed's total stale time.
    pub stale_total_per_seed: Durations,
    pub seeds_with_leaks: usize,
    pub seeds_not_converged: usize,
    pub seeds_with_failed_expectations: usize,
}

impl Pooled {
    pub fn of(results: &[SeedResult]) -> Pooled {
        let all: Vec<u64> = results
            .iter()
            .flat_map(|r| r.durations.iter().map(|&(_, d, _)| d))
            .collect();
        let mut by_cause: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
        for &(cause, d, _) in results.iter().flat_map(|r| &r.durations) {
            by_cause.entry(cause).or_default().push(d);
        }
        let stale = Durations::of(&all);
        let annotated: u64 = results.iter().map(|r| r.annotated).sum();
        let totals: Vec<u64> = results.iter().map(|r| r.stale.total).collect();
        Pooled {
            seeds: results.len(),
            annotated_share: if stale.total == 0 {
                0.0
            } else {
                annotated as f64 / stale.total as f64
            },
            stale,
            stale_by_cause: by_cause
                .into_iter()
                .map(|(c, v)| (c, Durations::of(&v)))
                .collect(),
            stale_total_per_seed: Durations::of(&totals),
            seeds_with_leaks: results.iter().filter(|r| r.leaks > 0).count(),
            seeds_not_converged: results
                .iter()
                .filter(|r| r.not_converged.is_some_and(|n| n > 0))
                .count(),
            seeds_with_failed_expectations: results
                .iter()
                .filter(|r| !r.failed_expectations.is_empty())
                .count(),
        }
    }
}

/// sweep.json.
#[derive(Debug, Serialize)]
pub struct Sweep<'a> {
    pub schema: u32,
    pub scenario: &'a str,
    pub file: &'a str,
    pub pooled: Pooled,
    pub seeds: &'a [SeedResult],
}

/// What a sweep needs besides the scenario.
pub struct Plan<'a> {
    /// The scenario file's name (for messages and summaries) and text,
    /// with `set`'s assignments applied.
    pub file: &'a str,
    pub text: &'a str,
    pub set: &'a [String],
    pub seeds: &'a [u64],
    pub out: &'a Path,
    pub jobs: usize,
    pub keep_traces: bool,
    /// The thresholds each seed's trace is analysed with.
    pub analysis: analysis::Options,
}

/// The directory of one seed's outputs.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

/// Runs and analyses every seed on up to `jobs` threads, calling `done`
/// as each finishes; returns the results in the order of the seeds, or the
/// first error in that order (an output that cannot be written).
pub fn sweep(plan: &Plan, done: &(dyn Fn(&SeedResult) + Sync)) -> Result<Vec<SeedResult>, String> {
    run::in_parallel(plan.seeds.len(), plan.jobs, &|i| {
        let result = run_seed(plan, plan.seeds[i]);
        if let Ok(r) = &result {
            done(r);
        }
        result
    })
    .into_iter()
    .collect()
}

fn run_seed(plan: &Plan, seed: u64) -> Result<SeedResult, String> {
    let model =
        scenario::load_with_seed(plan.file, plan.text, Some(seed)).map_err(|e| e.to_string())?;
    let dir = seed_dir(plan.out, seed);
    let result = run::run_to_dir(&model, plan.file, plan.set, &dir, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let trace = dir.join("trace.jsonl");
    let file = std::fs::File::open(&trace)
        .map_err(|e| format!("{}: cannot read: {e}", trace.display()))?;
    let report = analysis::analyze(
        std::io::BufReader::with_capacity(analysis::READ_BUFFER, file),
        plan.analysis,
    )
    .map_err(|e| format!("{}: {e}", trace.display()))?;
    let json = serde_json::to_string_pretty(&report).expect("a report serializes");
    let path = dir.join("analysis.json");
    std::fs::write(&path, json + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if !plan.keep_traces {
        std::fs::remove_file(&trace)
            .map_err(|e| format!("cannot remove {}: {e}", trace.display()))?;
    }
    Ok(SeedResult::new(&result, seed, &report))
}

/// The distribution of every seed's stale-interval durations together,
/// and of their parts not annotated when any was (the chart `presim run`
/// draws for one run, over the whole sweep); with several scenarios, each
/// one's beside the others'.
pub fn durations_chart(runs: &[(&str, &[SeedResult])]) -> presim_viz::Distribution {
    let secs = |us: u64| us as f64 / 1e6;
    let named = |name: &str, what: &str| match runs.len() {
        1 => what.to_string(),
        _ => format!("{name}: {what}"),
    };
    let mut samples = Vec::new();
    for &(name, results) in runs {
        let all = || results.iter().flat_map(|r| &r.durations);
        samples.push(presim_viz::Sample {
            label: named(name, "stale"),
            values: all().map(|&(_, d, _)| secs(d)).collect(),
            secondary: false,
        });
        if all().any(|&(_, _, annotated)| annotated > 0) {
            samples.push(presim_viz::Sample {
                label: named(name, "stale and not annotated"),
                values: all()
                    .map(|&(_, d, annotated)| secs(d - annotated))
                    .collect(),
                secondary: true,
            });
        }
    }
    let names: Vec<&str> = runs.iter().map(|&(n, _)| n).collect();
    let seeds = runs.first().map_or(0, |(_, r)| r.len());
    presim_viz::Distribution {
        title: "Stale-interval durations".into(),
        subtitle: format!("{}, {seeds} seeds together", names.join(" beside ")),
        x_label: "duration (s)".into(),
        y_label: "stale intervals".into(),
        samples,
        empty: "no stale intervals".into(),
    }
}

/// comparison.json: the pooled figures of each scenario of a sweep.
#[derive(Debug, Serialize)]
pub struct Comparison<'a> {
    pub schema: u32,
    pub seeds: &'a [u64],
    pub scenarios: Vec<Compared<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Compared<'a> {
    pub scenario: &'a str,
    pub file: &'a str,
    pub pooled: Pooled,
}

impl<'a> Comparison<'a> {
    /// From (scenario name, file, results) of each scenario.
    pub fn new(seeds: &'a [u64], swept: &'a [(&'a str, &'a str, Vec<SeedResult>)]) -> Self {
        Comparison {
            schema: SWEEP_SCHEMA,
            seeds,
            scenarios: swept
                .iter()
                .map(|(scenario, file, results)| Compared {
                    scenario,
                    file,
                    pooled: Pooled::of(results),
                })
                .collect(),
        }
    }
}

/// The scenarios of a sweep side by side: a row of pooled figures each.
pub fn comparison_table(runs: &[(&str, &[SeedResult])]) -> String {
    use std::fmt::Write as _;
    let secs = crate::analysis::report::secs;
    let width = runs.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(8);
    let mut out = String::new();
    let _ = writeln!(out, "compared over the same seeds:");
    let _ = writeln!(
        out,
        "{:<width$} {:>6} {:>12} {:>12} {:>12} {:>12} {:>10} {:>14} {:>6}",
        "scenario", "stale", "total", "p50", "p99", "max", "annotated", "per seed p50", "leaks"
    );
    for (name, results) in runs {
        let p = Pooled::of(results);
        let _ = writeln!(
            out,
            "{name:<width$} {:>6} {:>12} {:>12} {:>12} {:>12} {:>9.1}% {:>14} {:>6}",
            p.stale.count,
            secs(p.stale.total),
            secs(p.stale.p50),
            secs(p.stale.p99),
            secs(p.stale.max),
            p.annotated_share * 100.0,
            secs(p.stale_total_per_seed.p50),
            p.seeds_with_leaks,
        );
    }
    out
}

/// The terminal table: a row per seed, then the pooled figures.
pub fn table(results: &[SeedResult]) -> String {
    use std::fmt::Write as _;
    let secs = crate::analysis::report::secs;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6}  {:<16} {:>6} {:>12} {:>12} {:>10} {:>6}  expectations",
        "seed", "digest", "stale", "total", "max", "annotated", "leaks"
    );
    for r in results {
        let expectations = if r.failed_expectations.is_empty() {
            format!("{} passed", r.expectations)
        } else {
            format!("{} FAILED", r.failed_expectations.len())
        };
        let _ = writeln!(
            out,
            "{:>6}  {:<16} {:>6} {:>12} {:>12} {:>9.1}% {:>6}  {expectations}",
            r.seed,
            &r.digest[..r.digest.len().min(16)],
            r.stale.count,
            secs(r.stale.total),
            secs(r.stale.max),
            r.annotated_share * 100.0,
            r.leaks,
        );
    }
    let p = Pooled::of(results);
    let _ = writeln!(out, "over {} seed(s):", p.seeds);
    let _ = writeln!(out, "{:<26} {}", "", Durations::header());
    let row = |out: &mut String, name: &str, d: &Durations| {
        let _ = writeln!(out, "{name:<26} {}", d.columns());
    };
    row(&mut out, "stale intervals", &p.stale);
    for (cause, d) in &p.stale_by_cause {
        row(&mut out, &format!("  {cause}"), d);
    }
    row(&mut out, "stale time per seed", &p.stale_total_per_seed);
    let _ = writeln!(
        out,
        "annotated share of stale time: {:.1}%; seeds with leaks: {}; not converged: {}; with failed expectations: {}",
        p.annotated_share * 100.0,
        p.seeds_with_leaks,
        p.seeds_not_converged,
        p.seeds_with_failed_expectations
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists() {
        assert_eq!(parse_seeds("1-5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert_eq!(parse_seeds("3, 1-2,10").unwrap(), vec![3, 1, 2, 10]);
        assert_eq!(
            parse_seeds("18446744073709551614-18446744073709551615").unwrap(),
            vec![u64::MAX - 1, u64::MAX]
        );
        assert_eq!(
            parse_seeds("5-3").unwrap_err(),
            "the range '5-3' is empty (it goes down)"
        );
        assert_eq!(parse_seeds("1-3,2").unwrap_err(), "seed 2 is given twice");
        assert!(parse_seeds("x").unwrap_err().contains("'x' is not a seed"));
        assert!(parse_seeds("").unwrap_err().contains("'' is not a seed"));
        assert!(parse_seeds("1-").unwrap_err().contains("'' is not a seed"));
        assert_eq!(
            parse_seeds("0-100000").unwrap_err(),
            "more than 100000 seeds"
        );
        assert_eq!(parse_seeds("0-99999").unwrap().len(), 100_000 - 1 + 1);
    }

    fn result(seed: u64, durations: &[(&'static str, u64, u64)], annotated: u64) -> SeedResult {
        let values: Vec<u64> = durations.iter().map(|&(_, d, _)| d).collect();
        SeedResult {
            seed,
            digest: String::new(),
            delivered: 0,
            stale: Durations::of(&values),
            stale_by_cause: BTreeMap::new(),
            annotated,
            annotated_share: 0.0,
            missed_annotations: 0,
            spurious_annotations: 0,
            leaks: 0,
            not_converged: None,
            expectations: 0,
            failed_expectations: Vec::new(),
            durations: durations.to_vec(),
        }
    }

    #[test]
    fn pooled_figures_put_every_seed_together() {
        let mut leaky = result(3, &[], 0);
        leaky.leaks = 1;
        leaky.not_converged = Some(2);
        let results = [
            result(1, &[("link-down", 10, 0), ("crash", 30, 20)], 20),
            result(2, &[("link-down", 20, 0)], 0),
            leaky,
        ];
        let p = Pooled::of(&results);
        assert_eq!(p.seeds, 3);
        assert_eq!(
            (p.stale.count, p.stale.total, p.stale.max, p.stale.p50),
            (3, 60, 30, 20)
        );
        assert_eq!(p.stale_by_cause["link-down"].total, 30);
        assert_eq!(p.stale_by_cause["crash"].count, 1);
        assert_eq!(p.annotated_share, 20.0 / 60.0);
        // Per-seed totals 40, 20, 0.
        let t = &p.stale_total_per_seed;
        assert_eq!((t.count, t.total, t.max, t.p50), (3, 60, 40, 20));
        assert_eq!((p.seeds_with_leaks, p.seeds_not_converged), (1, 1));
        assert!(results[2].failed() && !results[0].failed());

        let chart = durations_chart(&[("s", &results)]);
        assert_eq!(chart.subtitle, "s, 3 seeds together");
        assert_eq!(chart.samples.len(), 2);
        assert_eq!(chart.samples[0].label, "stale");
        assert_eq!(chart.samples[0].values, [10e-6, 30e-6, 20e-6]);
        assert_eq!(chart.samples[1].values, [10e-6, 10e-6, 20e-6]);

        // Two scenarios: each one's samples, named; one with no
        // annotations has no second sample.
        let plain = [result(1, &[("link-down", 40, 0)], 0)];
        let chart = durations_chart(&[("s", &results), ("off", &plain)]);
        assert_eq!(chart.subtitle, "s beside off, 3 seeds together");
        let labels: Vec<&str> = chart.samples.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["s: stale", "s: stale and not annotated", "off: stale"]
        );
        let table = comparison_table(&[("s", &results), ("off", &plain)]);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 4, "{table}");
        assert!(
            rows[2].starts_with("s        ") && rows[2].contains("33.3%"),
            "{table}"
        );
        assert!(
            rows[3].starts_with("off      ") && rows[3].contains("0.0%"),
            "{table}"
        );
    }
}
