//! Reading a trace back: one JSON object per line, checked as it is read.
//!
//! Every problem is reported with its line number: a line that is not
//! JSON (a corrupt or truncated trace), a missing or unsupported header, a
//! record without the fields its kind needs, time going backwards, an
//! empty trace.

use std::io::BufRead;

use serde::Deserialize;

use crate::trace::SCHEMA_VERSION;

/// The fields the analysis reads; every record kind uses some of them.
#[derive(Debug, Default, Deserialize)]
pub struct Line {
    pub t: u64,
    pub ev: String,
    #[serde(default)]
    pub schema: Option<u32>,
    #[serde(default)]
    pub scenario: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub a: Option<String>,
    #[serde(default)]
    pub b: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub jid: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub observer: Option<String>,
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    pub show: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub annotation: Option<String>,
    #[serde(default)]
    pub fault: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub duration: Option<u64>,
    #[serde(default)]
    pub peer: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub denied: Option<bool>,
}

/// A trace that cannot be analysed, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// 1-based line number; 0 for the trace as a whole.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl Line {
    /// A string field the record kind requires.
    pub fn need<'a>(&self, field: &'a Option<String>, name: &str) -> Result<&'a str, String> {
        field
            .as_deref()
            .ok_or_else(|| format!("'{}' record without '{name}'", self.ev))
    }
}

/// Reads a trace line by line, calling `each` with every record after
/// the header. Returns the header's scenario and seed, and the time of the
/// last record.
pub fn read_trace(
    input: impl BufRead,
    mut each: impl FnMut(&Line) -> Result<(), String>,
) -> Result<TraceInfo, TraceError> {
    let mut info: Option<TraceInfo> = None;
    let mut last_t = 0;
    for (i, text) in input.lines().enumerate() {
        let line_no = i + 1;
        let err = |message: String| TraceError {
            line: line_no,
            message,
        };
        let text = text.map_err(|e| err(format!("cannot read: {e}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&text)
            .map_err(|e| err(format!("not a trace record ({e}); is the trace truncated?")))?;
        if line.t < last_t {
            return Err(err(format!(
                "time goes backwards ({} after {last_t})",
                line.t
            )));
        }
        last_t = line.t;
        match &mut info {
            None => info = Some(header(&line).map_err(err)?),
            Some(info) => {
                info.records += 1;
                info.end = line.t;
                if line.ev == "end" {
                    info.complete = true;
                }
                each(&line).map_err(err)?;
            }
        }
    }
    info.ok_or(TraceError {
        line: 0,
        message: "the trace is empty".to_string(),
    })
}

/// What the header and the end of a trace say.
#[derive(Debug, Clone, Default)]
pub struct TraceInfo {
    pub scenario: String,
    pub seed: u64,
    pub schema: u32,
    /// Records after the header.
    pub records: u64,
    /// Time of the last record.
    pub end: u64,
    /// The trace ends with its `end` record (it was not cut short).
    pub complete: bool,
}

fn header(line: &Line) -> Result<TraceInfo, String> {
    if line.ev != "header" {
        return Err(format!(
            "the first record must be the header, not '{}'",
            line.ev
        ));
    }
    let schema = line.schema.ok_or("header without 'schema'")?;
    if schema != SCHEMA_VERSION {
        return Err(format!(
            "trace schema {schema} is not supported (this presim reads schema {SCHEMA_VERSION}); \
             re-run the scenario with this version"
        ));
    }
    Ok(TraceInfo {
        scenario: line.scenario.clone().unwrap_or_default(),
        seed: line.seed.unwrap_or_default(),
        schema,
        ..TraceInfo::default()
    })
}
