//! The `presim` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use presim::analysis::{self, Report};
use presim::scansion::{self, Options, Outcome};
use presim::{diff, duration, replay, run, scenario, sweep};

/// A run allocates and frees small strings and maps for every stanza;
/// mimalloc does that about a fifth faster than the system allocator
/// (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: presim::allocator::MiMalloc = presim::allocator::MiMalloc;

/// Deterministic simulator for XMPP presence under network faults.
#[derive(Parser)]
#[command(name = "presim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file (.ron): writes trace.jsonl and summary.json,
    /// prints the trace digest, checks the scenario's expectations, then
    /// analyses the trace (analysis.json) and charts it (timeline and
    /// durations, SVG and PNG).
    Run {
        /// The scenario file.
        #[arg(value_name = "FILE.ron")]
        file: String,
        /// Seed to use instead of the scenario's.
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory.
        #[arg(long, default_value = "presim-out")]
        out: PathBuf,
        /// Do not draw the charts.
        #[arg(long)]
        no_chart: bool,
        /// Replace (or add) one field of the scenario: PATH=VALUE, VALUE in
        /// RON (e.g. defaults.s2s.latency='Constant("80ms")'); repeatable.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Analyse a trace: stale intervals and their causes, XEP-0310
    /// annotation metrics, leaks, convergence. Prints a table and writes
    /// analysis.json; with --chart, draws the timeline and the durations.
    Analyze {
        /// The trace (trace.jsonl of a run; `-` reads standard input).
        #[arg(value_name = "TRACE.jsonl")]
        trace: PathBuf,
        /// Where to write analysis.json (default: beside the trace; the
        /// current directory for standard input).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Stale intervals no longer than this are propagation lag.
        #[arg(long, default_value = "1s", value_name = "DURATION")]
        lag_threshold: String,
        /// Check convergence this long after the last fault healed.
        #[arg(long, default_value = "60s", value_name = "DURATION")]
        settle: String,
        /// Draw timeline.{svg,png} and durations.{svg,png} into DIR.
        #[arg(long, value_name = "DIR")]
        chart: Option<PathBuf>,
        /// A second trace (e.g. the same scenario without XEP-0310) whose
        /// stale-interval durations are drawn beside this one's.
        #[arg(long, value_name = "TRACE.jsonl", requires = "chart")]
        compare: Option<PathBuf>,
    },
    /// Run scansion test scripts (.scs) on the simulator: one server per
    /// domain the script's clients use, federating over s2s links.
    Scansion {
        /// Script files to run.
        #[arg(required = true, value_name = "FILE.scs")]
        files: Vec<String>,
        /// Each `receives` must match the very next stanza (no skipping).
        #[arg(long)]
        strict_order: bool,
        /// Write each script's simulator trace to DIR/<script name>.jsonl.
        #[arg(long, value_name = "DIR")]
        trace: Option<PathBuf>,
    },
    /// Run a scenario under many seeds and put the stale-presence figures
    /// together: one row per seed (digest, stale intervals, annotated
    /// share, leaks, expectations), then the figures over all seeds. Each
    /// seed's summary.json and analysis.json go to OUT/seed-N; sweep.json
    /// holds the rows and the pooled figures. With several scenarios, each
    /// goes to OUT/<file stem> and a table compares them
    /// (comparison.json). Exit 1 when any seed has a failed expectation or
    /// a leak.
    Sweep {
        /// The scenario file, or several (e.g. the same scenario with and
        /// without XEP-0310): each is swept and they are compared.
        #[arg(required = true, value_name = "FILE.ron")]
        files: Vec<String>,
        /// Seeds: numbers and inclusive ranges, comma-separated (1-20, 3,7,11).
        #[arg(long, value_name = "LIST")]
        seeds: String,
        /// Output directory.
        #[arg(long, default_value = "presim-sweep")]
        out: PathBuf,
        /// Runs at a time, at least 1 (default: the number of processors).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Keep each seed's trace.jsonl (removed after its analysis otherwise).
        #[arg(long)]
        keep_traces: bool,
        /// Do not draw the chart of the pooled durations.
        #[arg(long)]
        no_chart: bool,
        /// Stale intervals no longer than this are propagation lag.
        #[arg(long, default_value = "1s", value_name = "DURATION")]
        lag_threshold: String,
        /// Check convergence this long after the last fault healed.
        #[arg(long, default_value = "60s", value_name = "DURATION")]
        settle: String,
        /// Replace (or add) one field of every scenario, as for `run`; repeatable.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Replay a regression corpus (a RON list of scenario, seed and
    /// expected trace digest): runs each entry and compares its digest with
    /// the recorded one. Exit 0 when all are the same, 1 when any changed
    /// or has none recorded, 2 for bad input.
    Replay {
        /// The corpus file; its scenario paths are relative to its directory.
        #[arg(value_name = "CORPUS.ron")]
        corpus: PathBuf,
        /// Write the new digests into the corpus file (changed and missing
        /// ones) instead of failing on them.
        #[arg(long)]
        update: bool,
        /// Runs at a time, at least 1 (default: the number of processors).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Write each entry's trace to DIR/<index>-<scenario>-seed-<seed>.jsonl
        /// (to compare a changed run with `presim diff`).
        #[arg(long, value_name = "DIR")]
        traces: Option<PathBuf>,
    },
    /// Compare two traces (e.g. a corpus entry's run before and after a
    /// change): prints the first line at which they differ, with its
    /// virtual time, the lines before it that both share and the lines
    /// after it in each. Exit 0 when they are the same, 1 when they
    /// differ, 2 for bad input.
    Diff {
        /// The first trace (trace.jsonl of a run, or the run's output
        /// directory that holds it).
        #[arg(value_name = "A.jsonl")]
        a: PathBuf,
        /// The second trace (or directory).
        #[arg(value_name = "B.jsonl")]
        b: PathBuf,
        /// Lines shown before the first difference and after it.
        #[arg(long, default_value_t = 3, value_name = "N")]
        context: usize,
    },
}

/// The scenario `presim` runs when called without a command.
const QUICKSTART: (&str, &str) = (
    "scenarios/quickstart.ron",
    include_str!("../scenarios/quickstart.ron"),
);

/// Writes a line to standard output. A write that fails (a full disk
/// behind a redirection) ends presim with a message and exit code 2
/// instead of the panic `println!` would give; a closed pipe ends it by
/// SIGPIPE before that (see [`die_quietly_on_closed_pipe`]).
macro_rules! say {
    ($($arg:tt)*) => { write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// [`say!`] without the line end.
macro_rules! say_raw {
    ($($arg:tt)*) => { write_out(format_args!($($arg)*)) };
}

fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(i32::from(EXIT_BAD_INPUT));
    }
}

/// Exit codes: success, a check failed, bad input.
const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    die_quietly_on_closed_pipe();
    presim::allocator::keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run {
            file,
            seed,
            out,
            no_chart,
            set,
        }) => match read_scenario(&file, &set) {
            Some(text) => run_scenario(
                &file,
                &text,
                RunOptions {
                    seed,
                    set: &set,
                    out: &out,
                    chart: !no_chart,
                },
            ),
            None => ExitCode::from(EXIT_BAD_INPUT),
        },
        Some(Command::Analyze {
            trace,
            out,
            lag_threshold,
            settle,
            chart,
            compare,
        }) => analyze_trace(AnalyzeArgs {
            trace: &trace,
            out: out.as_deref(),
            lag_threshold: &lag_threshold,
            settle: &settle,
            chart: chart.as_deref(),
            compare: compare.as_deref(),
        }),
        Some(Command::Scansion {
            files,
            strict_order,
            trace,
        }) => {
            let scripts = files
                .iter()
                .map(|f| (f.clone(), presim::read_source(f).map_err(|e| e.to_string())));
            run_scripts(scripts, Options { strict_order }, trace.as_deref())
        }
        Some(Command::Sweep {
            files,
            seeds,
            out,
            jobs,
            keep_traces,
            no_chart,
            lag_threshold,
            settle,
            set,
        }) => match analysis_options(&lag_threshold, &settle) {
            Some(analysis) => sweep_seeds(
                &files,
                &seeds,
                &out,
                SweepOptions {
                    jobs,
                    keep_traces,
                    chart: !no_chart,
                    analysis,
                    set,
                },
            ),
            None => ExitCode::from(EXIT_BAD_INPUT),
        },
        Some(Command::Replay {
            corpus,
            update,
            jobs,
            traces,
        }) => replay_corpus(&corpus, update, jobs, traces.as_deref()),
        Some(Command::Diff { a, b, context }) => diff_traces(&a, &b, context),
        None => {
            say!(
                "presim: no command given; running the built-in scenario {} (see `presim --help`)",
                QUICKSTART.0
            );
            run_scenario(
                QUICKSTART.0,
                QUICKSTART.1,
                RunOptions {
                    seed: None,
                    set: &[],
                    out: &PathBuf::from("presim-out"),
                    chart: true,
                },
            )
        }
    }
}

/// `presim … | head` closes the pipe before presim is done writing. Rust
/// ignores SIGPIPE, so the next write would fail and `println!` panic; with
/// the signal's default action restored, presim ends quietly there, as
/// other command-line tools do.
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: sets the disposition of one signal to its default before any
    // thread is started; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A progress bar on standard error, drawn only when it is a terminal:
/// `len` steps in all, `template` as indicatif reads it, `prefix` named.
fn progress_bar(len: Option<u64>, template: &str, prefix: String) -> indicatif::ProgressBar {
    // Drawn nowhere until it is set up: its first line shows its prefix
    // and message, not a half-made bar.
    let bar =
        indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::hidden());
    let style = indicatif::ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(prefix);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
}

/// Reads a scenario file and applies the `--set` assignments to its text,
/// or says what went wrong and gives `None`.
fn read_scenario(file: &str, set: &[String]) -> Option<String> {
    let mut text = presim::read_source(file)
        .map_err(|e| eprintln!("error: {file}: cannot read: {e}"))
        .ok()?;
    for assignment in set {
        text = scenario::set::apply(&text, assignment)
            .map_err(|e| eprintln!("error: {file}: --set {e}"))
            .ok()?;
    }
    Some(text)
}

/// The name a scenario's messages give its file: with assignments, the
/// text is no longer the file's, and line numbers may have moved.
fn shown_name(file: &str, set: &[String]) -> String {
    if set.is_empty() {
        file.to_string()
    } else {
        format!("{file} (with --set)")
    }
}

struct RunOptions<'a> {
    seed: Option<u64>,
    set: &'a [String],
    out: &'a std::path::Path,
    chart: bool,
}

fn run_scenario(file: &str, text: &str, options: RunOptions) -> ExitCode {
    let RunOptions {
        seed,
        set,
        out,
        chart,
    } = options;
    let model = match scenario::load_with_seed(&shown_name(file, set), text, seed) {
        Ok(model) => model,
        Err(e) => {
            eprint!("{e}");
            eprintln!("error: {file}: the scenario was not run");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let bar = progress_bar(
        Some(model.duration),
        "{prefix} [{bar:25}] {percent:>3}% {msg}, {elapsed}",
        model.name.clone(),
    );
    let shown = |p: run::Progress| {
        bar.set_message(format!(
            "{:.1} of {:.1} s, {} events",
            p.now as f64 / 1e6,
            p.end as f64 / 1e6,
            p.events
        ));
        bar.set_position(p.now);
    };
    shown(run::Progress {
        now: 0,
        end: model.duration,
        events: 0,
    });
    let outcome = run::run_to_dir(&model, file, set, out, &mut { shown });
    bar.finish_and_clear();
    let result = match outcome {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let s = &result.stats;
    say!(
        "{}: seed {}, {} s simulated, {} events, {} stanzas sent, {} delivered, {} dropped, {} faults",
        model.name,
        model.seed,
        duration::format_secs(model.duration),
        s.events,
        s.sent,
        s.delivered,
        s.dropped.values().sum::<u64>(),
        s.faults
    );
    say!("wrote {}", out.join("trace.jsonl").display());
    say!("wrote {}", out.join("summary.json").display());
    say!("digest {}", result.trace.digest);
    let mut failures = result.failures.clone();
    match analyse_into(&out.join("trace.jsonl"), out, analysis::Options::default()) {
        Ok(report) => {
            if chart {
                if let Err(e) = write_charts(&report, None, out) {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            }
            say_raw!("{}", report.table());
            if !report.leaks.is_empty() {
                failures.push(format!(
                    "{} presence leak(s): see analysis.json",
                    report.leaks.len()
                ));
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    if failures.is_empty() {
        say!("expectations: {} passed", result.expectations);
        ExitCode::SUCCESS
    } else {
        say!(
            "expectations: {} passed, {} failed",
            result.expectations - result.failures.len().min(result.expectations),
            result.failures.len()
        );
        for f in &failures {
            say!("  FAIL {f}");
        }
        ExitCode::from(EXIT_FAILED)
    }
}

/// The path that names standard input where a trace is read.
const STDIN: &str = "-";

fn is_stdin(path: &std::path::Path) -> bool {
    path.as_os_str() == STDIN
}

/// Analyses the trace at `trace` (`-`: standard input).
fn analyse_file(trace: &std::path::Path, options: analysis::Options) -> Result<Report, String> {
    let (name, input, len): (String, Box<dyn std::io::Read>, Option<u64>) = if is_stdin(trace) {
        (
            "standard input".into(),
            Box::new(std::io::stdin().lock()),
            None,
        )
    } else {
        let file = std::fs::File::open(trace)
            .map_err(|e| format!("{}: cannot read: {e}", trace.display()))?;
        let len = file.metadata().map(|m| m.len()).ok();
        (trace.display().to_string(), Box::new(file), len)
    };
    let template = match len {
        Some(_) => "analysing {prefix} [{bar:25}] {percent:>3}% of {total_bytes}, {elapsed}",
        None => "analysing {prefix}: {bytes}, {elapsed}",
    };
    let bar = progress_bar(len, template, name.clone());
    let report = analysis::analyze(
        std::io::BufReader::with_capacity(analysis::READ_BUFFER, bar.wrap_read(input)),
        options,
    );
    bar.finish_and_clear();
    report.map_err(|e| format!("{name}: {e}"))
}

/// Analyses the trace at `trace` and writes DIR/analysis.json, creating
/// DIR first if need be (before the analysis, which may take a while).
fn analyse_into(
    trace: &std::path::Path,
    dir: &std::path::Path,
    options: analysis::Options,
) -> Result<Report, String> {
    run::create_output_dir(dir).map_err(|e| e.to_string())?;
    let report = analyse_file(trace, options)?;
    let path = dir.join("analysis.json");
    let json = serde_json::to_string_pretty(&report).expect("a report serializes");
    std::fs::write(&path, json + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    say!("wrote {}", path.display());
    Ok(report)
}

/// Draws the charts of `report` (beside `compare`'s durations) into `dir`.
fn write_charts(
    report: &Report,
    compare: Option<&Report>,
    dir: &std::path::Path,
) -> Result<(), String> {
    run::create_output_dir(dir).map_err(|e| e.to_string())?;
    let written = analysis::chart::write_charts(report, compare, dir).map_err(|e| e.to_string())?;
    for path in written {
        say!("wrote {}", path.display());
    }
    Ok(())
}

struct AnalyzeArgs<'a> {
    trace: &'a std::path::Path,
    out: Option<&'a std::path::Path>,
    lag_threshold: &'a str,
    settle: &'a str,
    chart: Option<&'a std::path::Path>,
    compare: Option<&'a std::path::Path>,
}

/// The analysis options from `--lag-threshold` and `--settle`, or `None`
/// after saying which is not a duration.
fn analysis_options(lag_threshold: &str, settle: &str) -> Option<analysis::Options> {
    let parse = |name: &str, text: &str| {
        duration::parse(text).map_err(|e| eprintln!("error: --{name} {text:?}: {e}"))
    };
    let lag_threshold = parse("lag-threshold", lag_threshold);
    let settle = parse("settle", settle);
    Some(analysis::Options {
        lag_threshold: lag_threshold.ok()?,
        settle: settle.ok()?,
    })
}

fn analyze_trace(args: AnalyzeArgs) -> ExitCode {
    let AnalyzeArgs {
        trace,
        out,
        lag_threshold,
        settle,
        chart,
        compare,
    } = args;
    let Some(options) = analysis_options(lag_threshold, settle) else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    if is_stdin(trace) && compare.is_some_and(is_stdin) {
        eprintln!("error: --compare -: standard input is already the trace");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let dir = out.map(std::path::Path::to_path_buf).unwrap_or_else(|| {
        trace
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    });
    let compared = match compare.map(|c| analyse_file(c, options)).transpose() {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match analyse_into(trace, &dir, options) {
        Ok(report) => {
            if let Some(chart) = chart {
                if let Err(e) = write_charts(&report, compared.as_ref(), chart) {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            }
            say_raw!("{}", report.table());
            if report.leaks.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn run_scripts(
    scripts: impl Iterator<Item = (String, Result<String, String>)>,
    options: Options,
    trace_dir: Option<&std::path::Path>,
) -> ExitCode {
    let scripts: Vec<_> = scripts.collect();
    if let Some(dir) = trace_dir {
        let clashes = repeated_stems(scripts.iter().map(|(file, _)| file.as_str()));
        for (file, stem) in &clashes {
            eprintln!(
                "error: {file}: another script is also named '{stem}'; their traces \
                 would both be {}",
                dir.join(format!("{stem}.jsonl")).display()
            );
        }
        if !clashes.is_empty() {
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        if let Err(e) = run::create_output_dir(dir) {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    let (mut passed, mut failed, mut bad_input) = (0, 0, 0);
    for (file, text) in scripts {
        let text = match text {
            Ok(text) => text,
            Err(e) => {
                eprintln!("ERROR {file}: cannot read: {e}");
                bad_input += 1;
                continue;
            }
        };
        let outcome = match trace_dir {
            None => scansion::parse(&file, &text)
                .and_then(|script| scansion::run(&script, options))
                .map_err(|e| e.to_string()),
            Some(dir) => run_traced_script(&file, &text, options, dir),
        };
        match outcome {
            Ok(Outcome::Passed { steps }) => {
                say!("PASS {file} ({steps} steps)");
                passed += 1;
            }
            Ok(Outcome::Failed(failure)) => {
                say!("FAIL {file}");
                say_raw!("{failure}");
                failed += 1;
            }
            Err(e) => {
                eprintln!("ERROR {e}");
                bad_input += 1;
            }
        }
    }
    if bad_input > 0 {
        say!("{passed} passed, {failed} failed, {bad_input} not run (bad input)");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    say!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The name of a file without its directory and extension, which names
/// what a run of it writes (a script's trace, a swept scenario's
/// directory).
fn file_stem(file: &str) -> String {
    std::path::Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The files whose stem ([`file_stem`]) an earlier one of `files` already
/// has, each with that stem: what runs of the two write would be in one
/// place.
fn repeated_stems<'a>(files: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, String)> {
    let mut seen = std::collections::BTreeSet::new();
    files
        .into_iter()
        .filter_map(|file| {
            let stem = file_stem(file);
            (!seen.insert(stem.clone())).then_some((file, stem))
        })
        .collect()
}

/// The number of runs at a time: the one asked for (`--jobs` takes 1 or
/// more), or one per processor.
fn jobs_or_processors(jobs: Option<u16>) -> usize {
    jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    )
}

/// `presim sweep`: a row per seed in the order given, then the pooled
/// figures; sweep.json beside the seeds' directories.
struct SweepOptions {
    jobs: Option<u16>,
    keep_traces: bool,
    chart: bool,
    analysis: analysis::Options,
    set: Vec<String>,
}

fn sweep_seeds(
    files: &[String],
    seeds: &str,
    out: &std::path::Path,
    options: SweepOptions,
) -> ExitCode {
    let seeds = match sweep::parse_seeds(seeds) {
        Ok(seeds) => seeds,
        Err(e) => {
            eprintln!("error: --seeds: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let scenarios = match load_sweep_scenarios(files, &options.set, out) {
        Some(scenarios) => scenarios,
        None => return ExitCode::from(EXIT_BAD_INPUT),
    };
    let mut swept = Vec::new();
    for s in &scenarios {
        match sweep_one(s, &seeds, &options) {
            Ok(results) => swept.push((s.name.as_str(), s.file.as_str(), results)),
            Err(code) => return code,
        }
    }
    let runs: Vec<(&str, &[sweep::SeedResult])> =
        swept.iter().map(|(n, _, r)| (*n, r.as_slice())).collect();
    if swept.len() > 1 {
        say_raw!("{}", sweep::comparison_table(&runs));
        let json = sweep::Comparison::new(&seeds, &swept);
        let path = out.join("comparison.json");
        let text = serde_json::to_string_pretty(&json).expect("a comparison serializes") + "\n";
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        say!("wrote {}", path.display());
    }
    if options.chart {
        match presim_viz::write(&sweep::durations_chart(&runs), &out.join("durations")) {
            Ok(written) => {
                for path in written {
                    say!("wrote {}", path.display());
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    if swept
        .iter()
        .flat_map(|(_, _, r)| r)
        .any(sweep::SeedResult::failed)
    {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// A scenario of a sweep: its file, text, name and output directory.
struct SweepScenario {
    file: String,
    text: String,
    name: String,
    dir: PathBuf,
}

/// Reads and loads every scenario before anything runs, saying what is
/// wrong with each; their directories are OUT for one scenario and
/// OUT/<file stem> for several (stems must differ).
fn load_sweep_scenarios(
    files: &[String],
    set: &[String],
    out: &std::path::Path,
) -> Option<Vec<SweepScenario>> {
    let mut scenarios = Vec::new();
    let clashes = repeated_stems(files.iter().map(String::as_str));
    for (file, stem) in &clashes {
        eprintln!(
            "error: {file}: another scenario file is also named '{stem}'; their outputs would mix"
        );
    }
    let mut ok = clashes.is_empty();
    for file in files {
        let Some(text) = read_scenario(file, set) else {
            ok = false;
            continue;
        };
        let name = match scenario::load(&shown_name(file, set), &text) {
            Ok(model) => model.name,
            Err(e) => {
                eprint!("{e}");
                eprintln!("error: {file}: the scenario was not run");
                ok = false;
                continue;
            }
        };
        let dir = if files.len() == 1 {
            out.to_path_buf()
        } else {
            out.join(file_stem(file))
        };
        scenarios.push(SweepScenario {
            file: file.clone(),
            text,
            name,
            dir,
        });
    }
    ok.then_some(scenarios)
}

/// Sweeps one scenario: its table and sweep.json.
fn sweep_one(
    s: &SweepScenario,
    seeds: &[u64],
    options: &SweepOptions,
) -> Result<Vec<sweep::SeedResult>, ExitCode> {
    if let Err(e) = run::create_output_dir(&s.dir) {
        eprintln!("error: {e}");
        return Err(ExitCode::from(EXIT_BAD_INPUT));
    }
    let plan = sweep::Plan {
        file: &s.file,
        text: &s.text,
        set: &options.set,
        seeds,
        out: &s.dir,
        jobs: jobs_or_processors(options.jobs),
        keep_traces: options.keep_traces,
        analysis: options.analysis,
    };
    say!(
        "{}: {} seed(s), {} at a time, into {}",
        s.name,
        seeds.len(),
        plan.jobs.min(seeds.len()),
        s.dir.display()
    );
    let bar = progress_bar(
        Some(seeds.len() as u64),
        "{prefix} [{bar:25}] {pos}/{len} seeds, {elapsed}",
        s.name.clone(),
    );
    let results = sweep::sweep(&plan, &|_| bar.inc(1));
    bar.finish_and_clear();
    let results = results.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_BAD_INPUT)
    })?;
    say_raw!("{}", sweep::table(&results));
    let json = sweep::Sweep {
        schema: sweep::SWEEP_SCHEMA,
        scenario: &s.name,
        file: &s.file,
        pooled: sweep::Pooled::of(&results),
        seeds: &results,
    };
    let path = s.dir.join("sweep.json");
    let text = serde_json::to_string_pretty(&json).expect("a sweep serializes") + "\n";
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return Err(ExitCode::from(EXIT_BAD_INPUT));
    }
    say!("wrote {}", path.display());
    Ok(results)
}

/// `presim diff`: where two traces part, or that they are the same.
fn diff_traces(a: &std::path::Path, b: &std::path::Path, context: usize) -> ExitCode {
    // A run's output directory stands for the trace in it.
    let trace_of = |p: &std::path::Path| match p.is_dir() {
        true => p.join("trace.jsonl"),
        false => p.to_path_buf(),
    };
    let (a, b) = (&trace_of(a), &trace_of(b));
    let names = [a.display().to_string(), b.display().to_string()];
    let open = |path: &std::path::Path, name: &str| {
        std::fs::File::open(path)
            .map(|f| std::io::BufReader::with_capacity(analysis::READ_BUFFER, f))
            .map_err(|e| format!("{name}: cannot read: {e}"))
    };
    let compared = open(a, &names[0]).and_then(|mut ra| {
        let mut rb = open(b, &names[1])?;
        diff::compare(&mut ra, &mut rb, context, [&names[0], &names[1]])
    });
    let d = match compared {
        Ok(diff::Comparison::Same { lines }) => {
            say!("{} and {} are the same ({lines} lines)", names[0], names[1]);
            return ExitCode::SUCCESS;
        }
        Ok(diff::Comparison::Differ(d)) => d,
        Err(problem) => {
            eprintln!("error: {problem}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    // The earlier of the two records is where the runs part.
    let when =
        d.a.first()
            .into_iter()
            .chain(d.b.first())
            .filter_map(|l| diff::record_time(l))
            .min()
            .map(|t| format!(" (t = {}.{:06} s)", t / 1_000_000, t % 1_000_000))
            .unwrap_or_default();
    say!(
        "{} and {} differ from line {} on{when}; the {} line(s) before it are the same",
        names[0],
        names[1],
        d.line,
        d.line - 1
    );
    let shared_from = d.line - d.before.len() as u64;
    for (i, line) in d.before.iter().enumerate() {
        say!("  {:>9}  {line}", shared_from + i as u64);
    }
    for (sign, name, lines) in [("-", &names[0], &d.a), ("+", &names[1], &d.b)] {
        if lines.is_empty() {
            say!("{sign} {:>9}  ({name} ends here)", d.line);
        }
        for (i, line) in lines.iter().enumerate() {
            say!("{sign} {:>9}  {line}", d.line + i as u64);
        }
    }
    ExitCode::from(EXIT_FAILED)
}

/// `presim replay`: one line per entry in corpus order, then the counts.
fn replay_corpus(
    path: &std::path::Path,
    update: bool,
    jobs: Option<u16>,
    traces: Option<&std::path::Path>,
) -> ExitCode {
    let corpus = match replay::load(path) {
        Ok(corpus) => corpus,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("error: {}: the corpus was not replayed", path.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let jobs = jobs_or_processors(jobs);
    let bar = progress_bar(
        Some(corpus.entries.len() as u64),
        "{prefix} [{bar:25}] {pos}/{len} runs, {elapsed}",
        format!("replay {}", path.display()),
    );
    let done = |_: usize, _: &replay::Verdict| bar.inc(1);
    let verdicts = match traces {
        None => replay::replay(&corpus, jobs, &done),
        Some(dir) => {
            let replayed = run::create_output_dir(dir)
                .map_err(|e| vec![e.to_string()])
                .and_then(|()| replay::replay_keeping_traces(&corpus, jobs, dir, &done));
            match replayed {
                Ok(verdicts) => verdicts,
                Err(problems) => {
                    bar.finish_and_clear();
                    for p in &problems {
                        eprintln!("error: {p}");
                    }
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            }
        }
    };
    bar.finish_and_clear();
    let (mut same, mut changed, mut new) = (0, 0, 0);
    for (i, (e, v)) in corpus.entries.iter().zip(&verdicts).enumerate() {
        let trace = traces
            .filter(|_| !v.is_same())
            .map(|dir| format!("; trace {}", replay::trace_path(dir, i, e).display()))
            .unwrap_or_default();
        let what = format!("{} seed {}", e.scenario, e.seed);
        match v {
            replay::Verdict::Same => {
                same += 1;
                say!("same     {what}: {}", e.digest);
            }
            replay::Verdict::Changed { actual } => {
                changed += 1;
                say!(
                    "CHANGED  {what}: recorded {}, now {actual}{trace}",
                    e.digest
                );
            }
            replay::Verdict::New { actual } => {
                new += 1;
                say!("NEW      {what}: {actual} (no digest recorded){trace}");
            }
        }
    }
    say!(
        "{} replayed: {same} same, {changed} changed, {new} new",
        verdicts.len()
    );
    if changed + new == 0 {
        return ExitCode::SUCCESS;
    }
    if !update {
        say!(
            "(run with --update to record the new digests in {})",
            path.display()
        );
        return ExitCode::from(EXIT_FAILED);
    }
    match std::fs::write(path, replay::updated_text(&corpus, &verdicts)) {
        Ok(()) => {
            say!("recorded {} digest(s) in {}", changed + new, path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Runs one script with its trace written beside the others in `dir`.
fn run_traced_script(
    file: &str,
    text: &str,
    options: Options,
    dir: &std::path::Path,
) -> Result<Outcome, String> {
    let script = scansion::parse(file, text).map_err(|e| e.to_string())?;
    let path = dir.join(format!("{}.jsonl", file_stem(file)));
    let cannot_write = |e: std::io::Error| format!("{file}: cannot write {}: {e}", path.display());
    let sink = std::fs::File::create(&path).map_err(cannot_write)?;
    let sink = Box::new(std::io::BufWriter::new(sink));
    let (outcome, trace) =
        scansion::run_traced(&script, options, Some(sink)).map_err(|e| e.to_string())?;
    match trace.error {
        Some(e) => Err(cannot_write(e)),
        None => {
            say!("wrote {} (digest {})", path.display(), trace.digest);
            Ok(outcome)
        }
    }
}
