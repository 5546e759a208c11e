//! The `presim` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use presim::scansion::{self, Options, Outcome};

/// Deterministic simulator for XMPP presence under network faults.
#[derive(Parser)]
#[command(name = "presim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
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

/// The script `presim` runs when called without a command.
const QUICKSTART: (&str, &str) = (
    "scenarios/quickstart.scs",
    include_str!("../scenarios/quickstart.scs"),
);

/// Exit codes: all passed, a script failed, bad input.
const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
                "presim: no command given; running the built-in quickstart script {}",
                QUICKSTART.0
            );
            println!("        (see `presim --help` for commands)");
            let scripts = std::iter::once((QUICKSTART.0.to_string(), Ok(QUICKSTART.1.to_string())));
            run_scripts(scripts, Options::default())
        }
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
