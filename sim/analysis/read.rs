//! Reading a trace back: one JSON object per line, checked as it is read.
//!
//! Every problem is reported with its line number: a line that is not
//! JSON (a corrupt or truncated trace), a missing or unsupported header, a
//! record without the fields its kind needs, time going backwards, an
//! empty trace.
//!
//! The reader also keeps the books of messages: every message `send` must
//! end in exactly one `deliver` or `drop`, or be listed as still in flight
//! by the `end` record. A trace whose books do not balance is rejected at
//! the line where they fail, so nothing a run sent can disappear unnoticed.

use std::collections::BTreeMap;
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
    #[serde(default)]
    pub msg: Option<u64>,
    #[serde(default)]
    pub in_flight: Option<Vec<u64>>,
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
    let mut books = Messages::default();
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
        let line: Line =
            serde_json::from_str(&text).map_err(|e| err(not_a_record(&e, info.is_none())))?;
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
                books.record(&line, line_no).map_err(err)?;
                each(&line).map_err(err)?;
            }
        }
    }
    info.ok_or(TraceError {
        line: 0,
        message: "the trace is empty".to_string(),
    })
}

/// Why a line is not a record, with a guess at why when there is one: a
/// first line that is not a record is a file of another kind (a
/// pretty-printed summary.json or analysis.json, say); a line cut short is
/// a trace cut short.
fn not_a_record(e: &serde_json::Error, first: bool) -> String {
    let hint = if first {
        "; a trace is JSON Lines, one record per line, the header first (the trace.jsonl of a run)"
    } else if e.is_eof() {
        "; is the trace truncated?"
    } else {
        ""
    };
    format!("not a trace record ({e}){hint}")
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

/// The messages sent and still awaiting their outcome, each with the line
/// of its `send`; as many as are on the wire at once, not the whole trace.
#[derive(Default)]
struct Messages {
    awaiting: BTreeMap<u64, usize>,
}

impl Messages {
    fn outcome(&mut self, msg: u64, ev: &str) -> Result<(), String> {
        match self.awaiting.remove(&msg) {
            Some(_) => Ok(()),
            None => Err(format!(
                "'{ev}' of message {msg}, which awaits no outcome: it was never sent, \
                 or was already delivered or dropped"
            )),
        }
    }

    fn record(&mut self, line: &Line, line_no: usize) -> Result<(), String> {
        match line.ev.as_str() {
            "send" => {
                let msg = line.msg.ok_or("'send' record without 'msg'")?;
                if let Some(first) = self.awaiting.insert(msg, line_no) {
                    return Err(format!(
                        "message {msg} is sent again (its first send, at line {first}, \
                         has no outcome yet)"
                    ));
                }
            }
            "deliver" => {
                let msg = line.msg.ok_or("'deliver' record without 'msg'")?;
                self.outcome(msg, "deliver")?;
            }
            // A drop carries `msg` when a message was lost on its link, and
            // the stanza's XML when a server or agent dropped it.
            "drop" => {
                if let Some(msg) = line.msg {
                    self.outcome(msg, "drop")?;
                }
            }
            "end" => {
                let in_flight = line
                    .in_flight
                    .as_ref()
                    .ok_or("'end' record without 'in_flight'")?;
                for msg in in_flight {
                    if self.awaiting.remove(msg).is_none() {
                        return Err(format!(
                            "message {msg} is listed in flight at the end, but it was never \
                             sent, or was already delivered or dropped"
                        ));
                    }
                }
                if let Some((msg, sent)) = self.awaiting.first_key_value() {
                    return Err(format!(
                        "message {msg} (sent at line {sent}) was neither delivered nor \
                         dropped, and is not in flight at the end ({} such message(s))",
                        self.awaiting.len()
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
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
