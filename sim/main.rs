//! The `presim` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Run scansion test scripts (.scs) against the engine.
    Scansion {
        /// Script files to run.
        #[arg(required = true, value_name = "FILE.scs")]
        files: Vec<String>,
        /// Each `receives` must match the very next stanza (no skipping).
        #[arg(long)]
        strict_order: bool,
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
        Some(Command::Scansion {
            files,
            strict_order,
        }) => {
            let scripts = files.iter().map(|f| {
                (
                    f.clone(),
                    std::fs::read_to_string(f).map_err(|e| e.to_string()),
                )
            });
            run_scripts(scripts, Options { strict_order })
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
    if result.failures.is_empty() {
        println!("expectations: {} passed", result.expectations);
        ExitCode::SUCCESS
    } else {
        println!(
            "expectations: {} passed, {} failed",
            result.expectations - result.failures.len(),
            result.failures.len()
        );
        for f in &result.failures {
            println!("  FAIL {f}");
        }
        ExitCode::from(EXIT_FAILED)
    }
}

fn run_scripts(
    scripts: impl Iterator<Item = (String, Result<String, String>)>,
    options: Options,
) -> ExitCode {
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
        let outcome =
            scansion::parse(&file, &text).and_then(|script| scansion::run(&script, options));
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
