//! No input panics: scenario files, scansion scripts and traces, each
//! mutated at random (values replaced by extreme ones, spans cut, tokens
//! inserted, lines repeated or swapped, names exchanged), are either
//! accepted or refused with messages that name the file; a scenario that
//! loads also runs (its first simulated seconds), a script that parses
//! runs to its end, and a trace that reads is analysed.
//!
//! Each case starts from one of the repository's own files, so most
//! mutations land in places that matter: a field's value, a duration, a
//! distribution's parameters, a name another part refers to.

#[path = "support/proptest_seed.rs"]
mod proptest_seed;

use std::path::Path;

use proptest::prelude::*;

use presim::analysis;
use presim::scansion::{runner, script};
use presim::scenario;
use presim::trace::Trace;
use presim::world::World;

/// Values a mutation writes where a value was: numbers and durations at
/// and beyond their limits, the wrong kinds, distributions with parameters
/// no distribution accepts.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "18446744073709551615",
    "4294967295",
    "0.0",
    "-0.5",
    "NaN",
    "inf",
    "\"0s\"",
    "\"-5s\"",
    "\"1000000000h\"",
    "\"1e400s\"",
    "\"1us\"",
    "\"\"",
    "\"a.example\"",
    "\"alice@a.example/laptop\"",
    "\"<presence/>\"",
    "\"<presence\"",
    "[]",
    "()",
    "None",
    "Some(\"1s\")",
    "Constant(\"0s\")",
    "Uniform(min: \"5s\", max: \"1s\")",
    "Normal(mean: \"1s\", sd: \"100s\")",
    "LogNormal(median: \"0s\", sigma: 100.0)",
    "Pareto(scale: \"1ms\", shape: 0.0)",
    "Exponential(mean: \"0s\")",
    "Exponential(mean: \"1ms\")",
];

/// Pieces a mutation inserts into line-oriented text (scripts, traces).
const PIECES: &[&str] = &[
    "<",
    ">",
    "/>",
    "'",
    "\"",
    "${",
    "}",
    "{scansion:any}",
    "\n",
    "\n\n",
    "\n---\n",
    "sends:",
    "receives:",
    "receives: nothing",
    "connects",
    "disconnects",
    "[",
    "]",
    "#",
    "&amp;",
    "&",
    ":",
    "\u{0}",
    "é",
    "<presence/>",
    "{\"t\":1}",
    "\"ev\":\"send\"",
    "\"msg\":",
    "99999999999999999999",
    "null",
    "{}",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// The value after the first `: ` from the position on.
    ReplaceValue(usize, usize),
    /// Up to `1` bytes from the position.
    Cut(usize, usize),
    /// A value or a piece, at the position.
    Insert(usize, usize),
    /// The line at the position, twice.
    RepeatLine(usize),
    /// The lines at the two positions, exchanged.
    SwapLines(usize, usize),
    /// The quoted string at the first position replaced by the one at the second.
    CopyName(usize, usize),
    /// The first digit from the position on, replaced by a number.
    Digit(usize, usize),
}

/// Numbers a digit becomes: zero, a larger count, a value beyond `u32`.
const NUMBERS: &[&str] = &["0", "9", "00", "99", "9999999999"];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<usize>(), 0..VALUES.len()).prop_map(|(p, v)| Mutation::ReplaceValue(p, v)),
        1 => (any::<usize>(), 1usize..40).prop_map(|(p, n)| Mutation::Cut(p, n)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(p, v)| Mutation::Insert(p, v)),
        1 => any::<usize>().prop_map(Mutation::RepeatLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::CopyName(a, b)),
        2 => (any::<usize>(), 0..NUMBERS.len()).prop_map(|(p, n)| Mutation::Digit(p, n)),
    ]
}

/// The char boundary at or before `p % len`.
fn boundary(s: &str, p: usize) -> usize {
    if s.is_empty() {
        return 0;
    }
    let mut p = p % s.len();
    while !s.is_char_boundary(p) {
        p -= 1;
    }
    p
}

fn apply(text: &str, mutations: &[Mutation], pieces: &[&str]) -> String {
    let mut s = text.to_string();
    for m in mutations {
        match *m {
            Mutation::ReplaceValue(p, v) => {
                let p = boundary(&s, p);
                if let Some(colon) = s[p..].find(": ") {
                    let start = p + colon + 2;
                    let end = s[start..]
                        .find([',', ')', '\n'])
                        .map_or(s.len(), |e| start + e);
                    s.replace_range(start..end, VALUES[v]);
                }
            }
            Mutation::Cut(p, n) => {
                let p = boundary(&s, p);
                let e = boundary(&s, p + n).max(p);
                let e = if p + n >= s.len() { s.len() } else { e };
                s.replace_range(p..e, "");
            }
            Mutation::Insert(p, v) => {
                let p = boundary(&s, p);
                s.insert_str(p, pieces[v % pieces.len()]);
            }
            Mutation::RepeatLine(p) => {
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let i = p % lines.len();
                    lines.insert(i, lines[i]);
                    s = lines.join("\n");
                }
            }
            Mutation::SwapLines(a, b) => {
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let n = lines.len();
                    lines.swap(a % n, b % n);
                    s = lines.join("\n");
                }
            }
            Mutation::Digit(p, n) => {
                let p = boundary(&s, p);
                if let Some(d) = s[p..].find(|c: char| c.is_ascii_digit()) {
                    s.replace_range(p + d..p + d + 1, NUMBERS[n]);
                }
            }
            Mutation::CopyName(a, b) => {
                let quotes: Vec<usize> = s.match_indices('"').map(|(i, _)| i).collect();
                let names = quotes.len() / 2;
                if names >= 2 {
                    let (a, b) = (a % names * 2, b % names * 2);
                    let name = s[quotes[b]..=quotes[b + 1]].to_string();
                    s.replace_range(quotes[a]..=quotes[a + 1], &name);
                }
            }
        }
    }
    s
}

fn files(dir: &Path, extension: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        // The 10,000-user benchmark population is a run of seconds.
        .filter(|p| !p.ends_with("population.ron"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    found.sort();
    found
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a loaded scenario for its first simulated seconds, or until it has
/// handled enough events (a mutation may make a rate absurdly high).
fn run_briefly(model: &presim::model::Model) {
    let mut world = World::new(model, Trace::new(None));
    let end = model.duration.min(30_000_000);
    let mut t = 0;
    while t < end && world.stats.events < 200_000 {
        t = (t + 100_000).min(end);
        world.run_until(t);
    }
}

proptest! {
    // The same cases on every run (support/proptest_seed.rs).
    #![proptest_config(proptest_seed::fixed_seed(1024, 20_261_122))]

    #[test]
    fn a_mutated_scenario_loads_and_runs_or_is_refused_with_its_file_named(
        which in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let scenarios = files(&root().join("scenarios"), "ron");
        let (name, text) = &scenarios[which % scenarios.len()];
        let mutated = apply(text, &mutations, VALUES);
        // `--set` scans the same text; it must not panic on it either, and
        // what it makes is loaded like any scenario.
        for assignment in ["defaults.c2s.latency=Constant(\"1ms\")", "servers[0].psa=true", "seed=3"] {
            if let Ok(edited) = scenario::set::apply(&mutated, assignment) {
                let _ = scenario::load(name, &edited);
            }
        }
        match scenario::load(name, &mutated) {
            Ok(model) => run_briefly(&model),
            Err(e) => {
                prop_assert!(!e.problems.is_empty());
                for p in &e.problems {
                    prop_assert!(p.starts_with(&format!("{name}:")), "{p}");
                    prop_assert!(!p.contains("File`") && !p.ends_with('?'), "{p}");
                }
            }
        }
    }

    #[test]
    fn a_mutated_scansion_script_runs_or_is_refused_with_its_file_and_line(
        which in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut scripts = files(&root().join("../shared/scansion"), "scs");
        scripts.extend(files(&root().join("scenarios"), "scs"));
        let (name, text) = &scripts[which % scripts.len()];
        let mutated = apply(text, &mutations, PIECES);
        let outcome = script::parse(name, &mutated)
            .and_then(|s| runner::run(&s, runner::Options::default()));
        if let Err(e) = outcome {
            prop_assert_eq!(&e.file, name);
            prop_assert!(e.line >= 1 && e.line <= mutated.lines().count().max(1), "{}", e);
        }
    }

    #[test]
    fn a_mutated_trace_is_analysed_or_refused_with_its_line(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let model = scenario::load(
            "quickstart.ron",
            &std::fs::read_to_string(root().join("scenarios/quickstart.ron")).unwrap(),
        )
        .unwrap();
        let (_, trace) = presim::run::run_captured(&model);
        let trace = String::from_utf8(trace).unwrap();
        let mutated = apply(&trace, &mutations, PIECES);
        if let Err(e) = analysis::analyze(mutated.as_bytes(), analysis::Options::default()) {
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.line <= mutated.lines().count(), "{}", e);
        }
    }
}
