//! The `presim` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use presim::analysis::{self, Report};
use presim::scansion::{self, Options, Outcome};
use presim::{duration, run, scenario};

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
    /// prints the trace digest, checks the scenario's expectations.
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
    },
    /// Analyse a trace: stale intervals and their causes, XEP-0310
    /// annotation metrics, leaks, convergence. Prints a table and writes
    /// analysis.json.
    Analyze {
        /// The trace (trace.jsonl of a run).
        #[arg(value_name = "TRACE.jsonl")]
        trace: PathBuf,
        /// Where to write analysis.json (default: beside the trace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Stale intervals no longer than this are propagation lag.
        #[arg(long, default_value = "1s", value_name = "DURATION")]
        lag_threshold: String,
        /// Check convergence this long after the last fault healed.
        #[arg(long, default_value = "60s", value_name = "DURATION")]
        settle: String,
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
}

/// The scenario `presim` runs when called without a command.
const QUICKSTART: (&str, &str) = (
    "scenarios/quickstart.ron",
    include_str!("../scenarios/quickstart.ron"),
);

/// Exit codes: success, a check failed, bad input.
const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run { file, seed, out }) => match std::fs::read_to_string(&file) {
            Ok(text) => run_scenario(&file, &text, seed, &out),
            Err(e) => {
                eprintln!("error: {file}: cannot read: {e}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
        Some(Command::Analyze {
            trace,
            out,
            lag_threshold,
            settle,
        }) => analyze_trace(&trace, out.as_deref(), &lag_threshold, &settle),
        Some(Command::Scansion {
            files,
            strict_order,
            trace,
        }) => {
            let scripts = files.iter().map(|f| {
                (
                    f.clone(),
                    std::fs::read_to_string(f).map_err(|e| e.to_string()),
                )
            });
            run_scripts(scripts, Options { strict_order }, trace.as_deref())
        }
        None => {
            println!(
                "presim: no command given; running the built-in scenario {} (see `presim --help`)",
                QUICKSTART.0
            );
            run_scenario(
                QUICKSTART.0,
                QUICKSTART.1,
                None,
                &PathBuf::from("presim-out"),
            )
        }
    }
}

fn run_scenario(file: &str, text: &str, seed: Option<u64>, out: &std::path::Path) -> ExitCode {
    let model = match scenario::load_with_seed(file, text, seed) {
        Ok(model) => model,
        Err(e) => {
            eprint!("{e}");
            eprintln!("error: {file}: the scenario was not run");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let result = match run::run_to_dir(&model, file, out) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: cannot write to {}: {e}", out.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let s = &result.stats;
    println!(
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
    println!("wrote {}", out.join("trace.jsonl").display());
    println!("wrote {}", out.join("summary.json").display());
    println!("digest {}", result.trace.digest);
    let mut failures = result.failures.clone();
    match analyse_into(&out.join("trace.jsonl"), out, analysis::Options::default()) {
        Ok(report) => {
            print!("{}", report.table());
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
        println!("expectations: {} passed", result.expectations);
        ExitCode::SUCCESS
    } else {
        println!(
            "expectations: {} passed, {} failed",
            result.expectations - result.failures.len().min(result.expectations),
            result.failures.len()
        );
        for f in &failures {
            println!("  FAIL {f}");
        }
        ExitCode::from(EXIT_FAILED)
    }
}

/// Analyses the trace at `trace` and writes DIR/analysis.json.
fn analyse_into(
    trace: &std::path::Path,
    dir: &std::path::Path,
    options: analysis::Options,
) -> Result<Report, String> {
    let file =
        std::fs::File::open(trace).map_err(|e| format!("{}: cannot read: {e}", trace.display()))?;
    let report = analysis::analyze(std::io::BufReader::new(file), options)
        .map_err(|e| format!("{}: {e}", trace.display()))?;
    let path = dir.join("analysis.json");
    let json = serde_json::to_string_pretty(&report).expect("a report serializes");
    std::fs::write(&path, json + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(report)
}

fn analyze_trace(
    trace: &std::path::Path,
    out: Option<&std::path::Path>,
    lag_threshold: &str,
    settle: &str,
) -> ExitCode {
    let parse = |name: &str, text: &str| {
        duration::parse(text).map_err(|e| format!("error: --{name} {text:?}: {e}"))
    };
    let options = match (
        parse("lag-threshold", lag_threshold),
        parse("settle", settle),
    ) {
        (Ok(lag_threshold), Ok(settle)) => analysis::Options {
            lag_threshold,
            settle,
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let dir = out.map(std::path::Path::to_path_buf).unwrap_or_else(|| {
        trace
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    });
    match analyse_into(trace, &dir, options) {
        Ok(report) => {
            print!("{}", report.table());
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
    if let Some(dir) = trace_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
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
                println!("PASS {file} ({steps} steps)");
                passed += 1;
            }
            Ok(Outcome::Failed(failure)) => {
                println!("FAIL {file}");
                print!("{failure}");
                failed += 1;
            }
            Err(e) => {
                eprintln!("ERROR {e}");
                bad_input += 1;
            }
        }
    }
    if bad_input > 0 {
        println!("{passed} passed, {failed} failed, {bad_input} not run (bad input)");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
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
    let stem = std::path::Path::new(file)
        .file_stem()
        .map_or_else(|| "script".into(), |s| s.to_string_lossy());
    let path = dir.join(format!("{stem}.jsonl"));
    let cannot_write = |e: std::io::Error| format!("{file}: cannot write {}: {e}", path.display());
    let sink = std::fs::File::create(&path).map_err(cannot_write)?;
    let sink = Box::new(std::io::BufWriter::new(sink));
    let (outcome, trace) =
        scansion::run_traced(&script, options, Some(sink)).map_err(|e| e.to_string())?;
    match trace.error {
        Some(e) => Err(cannot_write(e)),
        None => {
            println!("wrote {} (digest {})", path.display(), trace.digest);
            Ok(outcome)
        }
    }
}
