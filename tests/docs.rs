//! The examples in README.md and docs/ are what the program reads and
//! prints, and the documents name all there is: every RON example of
//! docs/scenarios.md parses, the corpus example replays with the digest it
//! shows, the scansion example passes, the README's example commands print
//! what the README shows, every option the documents give a command exists
//! and every option is explained somewhere, every field and variant of the
//! scenario format is in docs/scenarios.md, and every kind of trace record
//! in docs/trace.md.

use std::path::{Path, PathBuf};

use presim::{replay, scansion, scenario};

#[path = "support/cli.rs"]
mod cli;
use cli::presim_in as presim;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tempdir(name: &str) -> PathBuf {
    cli::tempdir("docs", name)
}

/// The fenced code blocks of a Markdown text whose fence names `lang`
/// (`""` for a bare fence), each with the line its text starts on.
fn fenced(markdown: &str, lang: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    // Inside a block: the line its text starts on, its language and its
    // lines so far.
    let mut open: Option<(usize, &str, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(info), None) => open = Some((i + 2, info.trim(), Vec::new())),
            (Some(_), Some((start, info, lines))) => {
                if info == lang {
                    blocks.push((start, lines.join("\n")));
                }
            }
            (None, Some((start, info, mut lines))) => {
                lines.push(line);
                open = Some((start, info, lines));
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    blocks
}

/// The first fenced block in `lang` of the document at `path` that
/// contains `marker`, with the line its text starts on.
fn example(path: &str, lang: &str, marker: &str) -> (usize, String) {
    fenced(&read(path), lang)
        .into_iter()
        .find(|(_, text)| text.contains(marker))
        .unwrap_or_else(|| panic!("{path}: no example with `{marker}`"))
}

/// The indented block that follows `command` (itself an indented line)
/// after one blank line, without its indentation.
fn output_after(markdown: &str, command: &str) -> Vec<String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start() == command)
        .unwrap_or_else(|| panic!("no line `{command}`"));
    assert_eq!(lines[at + 1], "", "a blank line after `{command}`");
    lines[at + 2..]
        .iter()
        .take_while(|l| l.starts_with("    "))
        .map(|l| l[4..].to_string())
        .collect()
}

/// Whether `actual` is `expected` line by line, a line `…` of `expected`
/// standing for any number of lines.
fn matches_elided(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "…" => {
            (0..=actual.len()).any(|skip| matches_elided(rest, &actual[skip..]))
        }
        Some((first, rest)) => {
            actual.first() == Some(&first.as_str()) && matches_elided(rest, &actual[1..])
        }
    }
}

#[test]
fn every_scenario_example_parses() {
    let doc = read("docs/scenarios.md");
    let blocks = fenced(&doc, "ron");
    assert!(blocks.len() >= 10, "{} RON examples", blocks.len());
    let mut scenarios = 0;
    for (line, text) in &blocks {
        let file = format!("docs/scenarios.md:{line}");
        let text = text.trim();
        let whole = if text.starts_with("Scenario(") {
            // The outline elides each field's value.
            text.replace("(...)", "()").replace("[...]", "[]")
        } else if text.contains("digest:") {
            continue; // a corpus, replayed below
        } else if text.starts_with("servers:") {
            format!("Scenario(name: \"doc\", duration: \"1m\", {text})")
        } else {
            // One field of a scenario, beside the fields it cannot lack.
            format!("Scenario(name: \"doc\", duration: \"1m\", servers: [], {text})")
        };
        if let Err(e) = scenario::parse_ron::<scenario::file::Scenario>(&file, &whole, "") {
            panic!("{file}: the example does not parse: {e}\n{text}");
        }
        scenarios += 1;
    }
    assert_eq!(scenarios, blocks.len() - 1, "one corpus example");
}

#[test]
fn the_corpus_example_replays_with_the_digest_it_shows() {
    let (_, text) = example("docs/scenarios.md", "ron", "digest:");
    let dir = tempdir("corpus");
    std::fs::create_dir(dir.join("regression")).unwrap();
    for name in ["quickstart.ron", "flapping.ron"] {
        std::fs::copy(root().join("scenarios").join(name), dir.join(name)).unwrap();
    }
    let path = dir.join("regression/corpus.ron");
    std::fs::write(&path, &text).unwrap();
    let corpus = replay::load(&path).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let verdicts = replay::replay(&corpus, 1, &|_, _| {});
    assert_eq!(corpus.entries.len(), 2);
    assert_eq!(verdicts[0], replay::Verdict::Same, "{}", text);
    assert!(matches!(verdicts[1], replay::Verdict::New { .. }));
}

#[test]
fn the_scansion_example_passes() {
    let (line, text) = example("docs/scansion.md", "", "[Client]");
    let name = format!("docs/scansion.md:{line}");
    let script = scansion::parse(&name, &(text + "\n")).unwrap_or_else(|e| panic!("{e}"));
    match scansion::run(&script, scansion::Options::default()).expect("script runs") {
        scansion::Outcome::Passed { .. } => {}
        scansion::Outcome::Failed(f) => panic!("{name} failed:\n{f}"),
    }
}

#[test]
fn the_readme_run_example_prints_what_the_readme_shows() {
    let readme = read("README.md");
    let command = "cargo run --release -- run scenarios/crash_restart.ron --seed 11 --out out";
    let expected = output_after(&readme, command);
    let dir = tempdir("readme-run");
    let scenario = root().join("scenarios/crash_restart.ron");
    let (code, stdout, _) = presim(
        &dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--seed",
            "11",
            "--out",
            "out",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    let actual: Vec<&str> = stdout.lines().collect();
    assert_eq!(actual, expected);
}

#[test]
fn the_readme_replay_example_prints_what_the_readme_shows() {
    let readme = read("README.md");
    let command = "cargo run --release -- replay scenarios/regression/corpus.ron";
    let expected = output_after(&readme, command);
    let (code, stdout, _) = presim(root(), &["replay", "scenarios/regression/corpus.ron"]);
    assert_eq!(code, 0, "{stdout}");
    let actual: Vec<&str> = stdout.lines().collect();
    assert!(
        matches_elided(&expected, &actual),
        "README.md shows\n{}\npresim printed\n{stdout}",
        expected.join("\n")
    );
}

/// The words of the serde types (those deriving `derive`) of a source file:
/// each struct's fields, each enum's variants and the fields of its struct
/// variants, with the type they belong to.
fn serde_words(file: &str, derive: &str) -> Vec<(String, String)> {
    let source = read(file);
    let mut words = Vec::new();
    let mut deserialized = false;
    let mut current: Option<(String, bool)> = None; // (type, is enum)
    for line in source.lines() {
        if line.starts_with("#[derive(") {
            deserialized = line
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == derive);
            continue;
        }
        let declared = ["pub struct ", "pub enum "]
            .iter()
            .find_map(|kw| Some((line.strip_prefix(kw)?, kw.contains("enum"))));
        if let Some((rest, is_enum)) = declared {
            if deserialized && rest.ends_with('{') {
                let name = rest.trim_end_matches('{').trim().to_string();
                current = Some((name, is_enum));
            }
            deserialized = false;
            continue;
        }
        if line == "}" {
            current = None;
            continue;
        }
        let Some((ty, is_enum)) = &current else {
            continue;
        };
        let item = line.trim_start();
        if item.starts_with("//") || item.starts_with("#[") || item.starts_with('}') {
            continue;
        }
        let indent = line.len() - item.len();
        let item = item.strip_prefix("pub ").unwrap_or(item);
        let end = item
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(item.len());
        let word = &item[..end];
        let is_field = item[end..].starts_with(':');
        let is_variant = *is_enum && indent == 4 && !is_field;
        if !word.is_empty() && (is_field || is_variant) {
            words.push((ty.clone(), word.to_string()));
        }
    }
    words
}

#[test]
fn every_scenario_field_and_variant_is_documented() {
    let doc = read("docs/scenarios.md");
    // What a user can write.
    let words = serde_words("sim/scenario/file.rs", "Deserialize");
    for expected in [
        "duration",
        "populations",
        "remote_share",
        "LinkDown",
        "Receives",
    ] {
        assert!(
            words.iter().any(|(_, w)| w == expected),
            "the scan of file.rs finds `{expected}`"
        );
    }
    let missing: Vec<String> = words
        .iter()
        .filter(|(_, word)| {
            ![format!("`{word}`"), format!("{word}:"), format!("{word}(")]
                .iter()
                .any(|form| doc.contains(form.as_str()))
        })
        .map(|(ty, word)| format!("{ty}::{word}"))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/scenarios.md: {}",
        missing.join(", ")
    );
}

#[test]
fn every_trace_record_kind_is_documented() {
    let doc = read("docs/trace.md");
    let kinds: Vec<String> = serde_words("sim/trace.rs", "Serialize")
        .into_iter()
        .filter(|(ty, word)| ty.starts_with("Record") && word.starts_with(char::is_uppercase))
        .map(|(_, variant)| kebab_case(&variant))
        .collect();
    assert!(kinds.len() >= 25, "{kinds:?}");
    assert!(kinds.contains(&"link-state".to_string()), "{kinds:?}");
    let missing: Vec<&String> = kinds
        .iter()
        .filter(|kind| !doc.contains(&format!("| `{kind}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/trace.md's table: {missing:?}"
    );
    // What a reader accepts is every kind the writer has, sorted.
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(presim::trace::RECORD_KINDS.as_slice(), sorted.as_slice());
}

/// `LinkState` → `link-state`, as serde's `rename_all = "kebab-case"`.
fn kebab_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// README.md and the documents in docs/, each with its path.
fn documents() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            names.push(format!("docs/{name}"));
        }
    }
    names.sort();
    names.into_iter().map(|n| (n.clone(), read(&n))).collect()
}

/// Every `--flag` written after `presim SUBCOMMAND` (or `cargo run --release
/// -- SUBCOMMAND`) on a line of README.md or docs/ is one that
/// `presim SUBCOMMAND --help` lists.
#[test]
fn every_documented_option_exists() {
    let mut helps = std::collections::BTreeMap::new();
    let mut checked = 0;
    for (document, text) in documents() {
        for (n, line) in text.lines().enumerate() {
            for (command, flags) in documented_options(line) {
                let help = helps.entry(command.clone()).or_insert_with(|| {
                    let (code, stdout, _) = presim(root(), &[&command, "--help"]);
                    assert_eq!(code, 0, "{document}:{}: `presim {command}`", n + 1);
                    stdout
                });
                for flag in flags {
                    assert!(
                        help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                        "{document}:{}: `presim {command}` has no option {flag}",
                        n + 1
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 25, "{checked} options checked");
}

/// The subcommands a line runs and the options it gives each, from
/// `presim SUB … --flag …` up to the end of the code span or comment.
fn documented_options(line: &str) -> Vec<(String, Vec<String>)> {
    const COMMANDS: [&str; 6] = ["run", "analyze", "scansion", "sweep", "replay", "diff"];
    let mut found = Vec::new();
    for start in ["presim ", "cargo run --release -- "] {
        for (at, _) in line.match_indices(start) {
            let rest = &line[at + start.len()..];
            let rest = rest.split(['`', '#']).next().unwrap_or("");
            let mut words = rest.split_whitespace();
            let Some(command) = words.next().filter(|w| COMMANDS.contains(w)) else {
                continue;
            };
            let flags = words
                .filter_map(|w| w.trim_start_matches('[').strip_prefix("--"))
                .map(|w| {
                    let name: String = w
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                        .collect();
                    format!("--{name}")
                })
                .collect();
            found.push((command.to_string(), flags));
        }
    }
    found
}

/// Every option of every command is written somewhere in README.md or
/// docs/, where its meaning is explained.
#[test]
fn every_option_is_documented() {
    let documents: String = documents().into_iter().map(|(_, text)| text).collect();
    let mut options = 0;
    for command in ["run", "analyze", "scansion", "sweep", "replay", "diff"] {
        let (_, help, _) = presim(root(), &[command, "--help"]);
        let flags: std::collections::BTreeSet<&str> = help
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && *w != "--help")
            .collect();
        for flag in flags {
            assert!(
                documents.contains(flag),
                "`presim {command} {flag}` is not in README.md or docs/"
            );
            options += 1;
        }
    }
    assert!(options >= 20, "{options} options");
}
