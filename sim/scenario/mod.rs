//! Scenario files: loading (RON through serde), validation and compilation
//! into a [`Model`].
//!
//! Syntax errors, unknown fields and unknown enum values are reported with
//! the file, line:column and field path. A file that parses is then
//! validated as a whole, and every problem is listed at once, each with its
//! field path. Nothing here panics on any input.

mod compile;
pub mod file;
mod population;
pub mod set;

use crate::model::Model;

/// Why a scenario could not be loaded. Each problem is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub problems: Vec<String>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Parses and validates scenario text; `file` names it in messages.
pub fn load(file: &str, text: &str) -> Result<Model, LoadError> {
    let scenario = parse(file, text)?;
    compile::compile(file, &scenario)
}

/// Loads with the seed replaced (`presim run --seed`).
pub fn load_with_seed(file: &str, text: &str, seed: Option<u64>) -> Result<Model, LoadError> {
    let mut scenario = parse(file, text)?;
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    compile::compile(file, &scenario)
}

/// RON's message in the scenario's words: the types behind the file's
/// parts (`ServerFile`, `ClientFile`, …) are the parser's, not the user's,
/// so they are left out; the path after the message says where it is.
fn describe(code: &ron::Error) -> String {
    use ron::Error as E;
    let named = |name: &str| name == "Scenario";
    match code.clone() {
        E::ExpectedIdentifier => "expected a field name".to_string(),
        E::ExpectedDifferentStructName { expected, found } if !named(expected) => {
            format!("expected `(` but found `{found}`")
        }
        E::ExpectedNamedStructLike(name) if !named(name) => "expected `(`".to_string(),
        E::NoSuchStructField {
            expected, found, ..
        } => E::NoSuchStructField {
            expected,
            found,
            outer: None,
        }
        .to_string(),
        E::NoSuchEnumVariant {
            expected, found, ..
        } => E::NoSuchEnumVariant {
            expected,
            found,
            outer: None,
        }
        .to_string(),
        E::MissingStructField { field, .. } => {
            E::MissingStructField { field, outer: None }.to_string()
        }
        E::DuplicateStructField { field, .. } => {
            E::DuplicateStructField { field, outer: None }.to_string()
        }
        other => other.to_string(),
    }
}

/// Where in the scenario an error is: ` at servers[0].domain` for a value,
/// ` in defaults` while reading a field name of `defaults` (the path then
/// ends in `?`, the name not yet known), nothing at the top level.
fn where_in(path: &str) -> String {
    match path.strip_suffix('?') {
        _ if path == "." || path.is_empty() || path == "?" => String::new(),
        Some(parent) => format!(" in {}", parent.trim_end_matches('.')),
        None => format!(" at {path}"),
    }
}

fn parse(file: &str, text: &str) -> Result<file::Scenario, LoadError> {
    parse_ron(file, text, "the scenario").map_err(|problem| LoadError {
        problems: vec![problem],
    })
}

/// Parses a RON file of presim's (`what` names its content in messages):
/// syntax errors, unknown fields and unknown enum values come back as one
/// line with the file, line:column and field path.
pub fn parse_ron<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    what: &str,
) -> Result<T, String> {
    let options =
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let mut de = ron::Deserializer::from_str_with_options(text, &options)
        .map_err(|e| format!("{file}:{}: {}", e.span.start, e.code))?;
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => match de.end() {
            Ok(()) => Ok(value),
            Err(e) => Err(format!(
                "{file}:{}: unexpected text after {what}",
                de.span_error(e).span.start
            )),
        },
        Err(e) => {
            let path = e.path().to_string();
            let spanned = de.span_error(e.into_inner());
            Err(format!(
                "{file}:{}: {}{}",
                spanned.span.start,
                describe(&spanned.code),
                where_in(&path)
            ))
        }
    }
}
