//! Regression corpora: a RON list of (scenario, seed, expected digest)
//! that `presim replay` runs, comparing each run's trace digest with the
//! one recorded. A run is a pure function of scenario, seed and version,
//! so a changed digest means changed behaviour; `--update` records the new
//! digests in the file, leaving everything else in it (comments, order,
//! layout) as it was.
//!
//! ```ron
//! [
//!     (scenario: "../quickstart.ron", seed: 1, digest: "4475a10d…"),
//!     (scenario: "../flapping.ron", seed: 42, digest: ""),
//! ]
//! ```
//!
//! Scenario paths are relative to the corpus file's directory. An empty
//! digest is one not recorded yet. Every entry is checked (its scenario
//! read and loaded, its digest well-formed) before any is run, and every
//! problem is listed at once. Entries run on several threads; each run is
//! independent of the others, and results are reported in corpus order.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::Model;
use crate::{run, scenario};

/// One line of a corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The scenario file, relative to the corpus file's directory.
    pub scenario: String,
    pub seed: u64,
    /// The SHA-256 of the trace in hex, or empty when not recorded yet.
    pub digest: String,
}

/// A corpus as read: its file, text and entries with their loaded models.
pub struct Corpus {
    pub path: PathBuf,
    pub text: String,
    pub entries: Vec<Entry>,
    models: Vec<Model>,
}

/// What replaying one entry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The run's digest is the recorded one.
    Same,
    /// The run's digest differs from the recorded one.
    Changed { actual: String },
    /// No digest was recorded; the run's is `actual`.
    New { actual: String },
}

impl Verdict {
    pub fn is_same(&self) -> bool {
        matches!(self, Verdict::Same)
    }

    /// The digest the run gave, when it is not the recorded one.
    pub fn new_digest(&self) -> Option<&str> {
        match self {
            Verdict::Same => None,
            Verdict::Changed { actual } | Verdict::New { actual } => Some(actual),
        }
    }
}

/// Reads and checks a corpus: its syntax (file:line:column and field
/// path), then each entry's scenario (read and loaded with the entry's
/// seed) and digest. Every problem is one line; all are returned.
pub fn load(path: &Path) -> Result<Corpus, Vec<String>> {
    let file = path.display().to_string();
    let text = crate::read_source(path).map_err(|e| vec![format!("{file}: cannot read: {e}")])?;
    let entries: Vec<Entry> =
        scenario::parse_ron(&file, &text, "the corpus").map_err(|p| vec![p])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    let mut models = Vec::new();
    if entries.is_empty() {
        problems.push(format!("{file}: the corpus has no entries"));
    }
    for (i, e) in entries.iter().enumerate() {
        if !is_digest(&e.digest) {
            problems.push(format!(
                "{file}: [{i}].digest: '{}' is not a SHA-256 digest (64 hexadecimal digits) or empty",
                e.digest
            ));
        }
        let scenario = base.join(&e.scenario);
        let name = scenario.display().to_string();
        match crate::read_source(&scenario) {
            Err(err) => problems.push(format!(
                "{file}: [{i}].scenario: {name}: cannot read: {err}"
            )),
            Ok(text) => match scenario::load_with_seed(&name, &text, Some(e.seed)) {
                Ok(model) => models.push(model),
                Err(err) => problems.extend(
                    err.problems
                        .iter()
                        .map(|p| format!("{file}: [{i}].scenario: {p}")),
                ),
            },
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Corpus {
        path: path.to_path_buf(),
        text,
        entries,
        models,
    })
}

fn is_digest(d: &str) -> bool {
    d.is_empty() || (d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Runs every entry on up to `jobs` threads, calling `done` with each
/// entry's index and verdict as it finishes; returns the verdicts in
/// corpus order.
pub fn replay(
    corpus: &Corpus,
    jobs: usize,
    done: &(dyn Fn(usize, &Verdict) + Sync),
) -> Vec<Verdict> {
    run::in_parallel(corpus.entries.len(), jobs, &|i| {
        replay_entry(corpus, i, None, done).expect("nothing is written without a directory")
    })
}

/// [`replay`], writing each entry's trace to [`trace_path`] in `dir` (an
/// existing directory), so that a changed run can be compared with the
/// trace from before the change (`presim diff`). Every file that cannot
/// be written is a problem, all returned together.
pub fn replay_keeping_traces(
    corpus: &Corpus,
    jobs: usize,
    dir: &Path,
    done: &(dyn Fn(usize, &Verdict) + Sync),
) -> Result<Vec<Verdict>, Vec<String>> {
    let results = run::in_parallel(corpus.entries.len(), jobs, &|i| {
        replay_entry(corpus, i, Some(dir), done)
    });
    let problems: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
    match problems.is_empty() {
        true => Ok(results.into_iter().flatten().collect()),
        false => Err(problems),
    }
}

/// Runs entry `i`, its trace written into `dir` if one is given, and tells
/// `done` its verdict; an error is a trace file that could not be written.
fn replay_entry(
    corpus: &Corpus,
    i: usize,
    dir: Option<&Path>,
    done: &(dyn Fn(usize, &Verdict) + Sync),
) -> Result<Verdict, String> {
    let entry = &corpus.entries[i];
    let path = dir.map(|dir| trace_path(dir, i, entry));
    let cannot_write = |e: std::io::Error| {
        let path = path.as_deref().unwrap_or(Path::new("trace"));
        format!("{}: cannot write: {e}", path.display())
    };
    let sink: Option<Box<dyn std::io::Write>> = match &path {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(cannot_write)?;
            Some(Box::new(std::io::BufWriter::new(file)))
        }
        None => None,
    };
    let summary = run::run(&corpus.models[i], sink).trace;
    if let Some(e) = summary.error {
        return Err(cannot_write(e));
    }
    let verdict = verdict(entry, summary.digest);
    done(i, &verdict);
    Ok(verdict)
}

/// Where [`replay_keeping_traces`] writes entry `i`'s trace:
/// `DIR/<i>-<scenario file stem>-seed-<seed>.jsonl` (the index keeps two
/// entries of the same scenario and seed apart).
pub fn trace_path(dir: &Path, i: usize, entry: &Entry) -> PathBuf {
    let stem = Path::new(&entry.scenario)
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy());
    dir.join(format!("{i}-{stem}-seed-{}.jsonl", entry.seed))
}

fn verdict(entry: &Entry, actual: String) -> Verdict {
    if entry.digest.is_empty() {
        Verdict::New { actual }
    } else if actual.eq_ignore_ascii_case(&entry.digest) {
        Verdict::Same
    } else {
        Verdict::Changed { actual }
    }
}

/// The corpus text with each changed or new digest written in place of
/// the recorded one. Entries are found in order, so that two entries with
/// the same digest are each updated at their own place.
pub fn updated_text(corpus: &Corpus, verdicts: &[Verdict]) -> String {
    let mut text = String::with_capacity(corpus.text.len());
    let mut rest = corpus.text.as_str();
    for (entry, verdict) in corpus.entries.iter().zip(verdicts) {
        let recorded = format!("\"{}\"", entry.digest);
        let Some(at) = find_digest(rest, &recorded) else {
            continue;
        };
        let end = at + recorded.len();
        text.push_str(&rest[..at]);
        match verdict.new_digest() {
            Some(actual) => text.push_str(&format!("\"{actual}\"")),
            None => text.push_str(&recorded),
        }
        rest = &rest[end..];
    }
    text.push_str(rest);
    text
}

/// Where the next `digest: "…"` with the given quoted value starts (the
/// opening quote), skipping the same text elsewhere (e.g. in a comment).
fn find_digest(text: &str, quoted: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find("digest") {
        let key_end = from + found + "digest".len();
        let after = text[key_end..].trim_start();
        if let Some(value) = after.strip_prefix(':') {
            let value = value.trim_start();
            if value.starts_with(quoted) {
                return Some(text.len() - value.len());
            }
        }
        from = key_end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(text: &str, entries: Vec<Entry>) -> Corpus {
        Corpus {
            path: PathBuf::from("c.ron"),
            text: text.to_string(),
            entries,
            models: Vec::new(),
        }
    }

    fn entry(digest: &str) -> Entry {
        Entry {
            scenario: "s.ron".into(),
            seed: 1,
            digest: digest.into(),
        }
    }

    #[test]
    fn digests_are_64_hex_digits_or_empty() {
        assert!(is_digest(""));
        assert!(is_digest(&"a".repeat(64)));
        assert!(is_digest(&"F".repeat(64)));
        assert!(!is_digest(&"a".repeat(63)));
        assert!(!is_digest(&"g".repeat(64)));
    }

    #[test]
    fn update_rewrites_only_the_changed_digests_in_their_places() {
        let (a, b, n) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let text = format!(
            "// keep \"{a}\" in this comment\n[\n  (scenario: \"s.ron\", seed: 1, digest: \"{a}\"),\n  (scenario: \"s.ron\", seed: 2, digest:\"{a}\"),\n  (scenario: \"s.ron\", seed: 3, digest: \"{b}\"),\n  (scenario: \"s.ron\", seed: 4, digest: \"\"),\n]\n"
        );
        let c = corpus(&text, vec![entry(&a), entry(&a), entry(&b), entry("")]);
        let verdicts = vec![
            Verdict::Same,
            Verdict::Changed { actual: n.clone() },
            Verdict::Same,
            Verdict::New { actual: n.clone() },
        ];
        let expected = format!(
            "// keep \"{a}\" in this comment\n[\n  (scenario: \"s.ron\", seed: 1, digest: \"{a}\"),\n  (scenario: \"s.ron\", seed: 2, digest:\"{n}\"),\n  (scenario: \"s.ron\", seed: 3, digest: \"{b}\"),\n  (scenario: \"s.ron\", seed: 4, digest: \"{n}\"),\n]\n"
        );
        assert_eq!(updated_text(&c, &verdicts), expected);
    }
}
