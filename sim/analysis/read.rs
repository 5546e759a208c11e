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

use std::borrow::Cow;
use std::io::BufRead;

use rustc_hash::FxHashMap;

use serde::Deserialize;

use crate::trace::SCHEMA_VERSION;

/// The fields the analysis reads; every record kind uses some of them.
/// Text fields borrow from the line unless JSON escapes had to be undone.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Line<'a> {
    pub t: u64,
    #[serde(borrow)]
    pub ev: Cow<'a, str>,
    #[serde(default)]
    pub schema: Option<u32>,
    #[serde(default, borrow)]
    pub scenario: Option<Cow<'a, str>>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub a: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub b: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub link: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub state: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub node: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub jid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub client: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub contact: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub subscription: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub after: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub observer: Option<Cow<'a, str>>,
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default, borrow)]
    pub show: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub annotation: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub fault: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub target: Option<Cow<'a, str>>,
    #[serde(default)]
    pub duration: Option<u64>,
    #[serde(default, borrow)]
    pub peer: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub from: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub to: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub flow: Option<Cow<'a, str>>,
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

impl<'a> Line<'a> {
    /// A string field the record kind requires.
    pub fn need<'f>(&self, field: &'f Option<Cow<'a, str>>, name: &str) -> Result<&'f str, String> {
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
    for_each_line(input, |line_no, bytes| {
        let err = |message: String| TraceError {
            line: line_no,
            message,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            err(format!(
                "not UTF-8 text (column {} is not a character)",
                e.valid_up_to() + 1
            ))
        })?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            return Ok(());
        }
        let mut line = Line::default();
        if !super::record::parse_into(text, &mut line) {
            line = serde_json::from_str(text).map_err(|e| err(not_a_record(&e, info.is_none())))?;
        }
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
        Ok(())
    })?;
    info.ok_or(TraceError {
        line: 0,
        message: "the trace is empty".to_string(),
    })
}

/// Calls `each` with the number (from 1) and the bytes of every line of
/// `input`, without its `\n`. A line that lies whole in the reader's
/// buffer is read there; only one that straddles two fills is copied.
fn for_each_line(
    mut input: impl BufRead,
    mut each: impl FnMut(usize, &[u8]) -> Result<(), TraceError>,
) -> Result<(), TraceError> {
    let mut line_no = 0;
    // The start of a line whose end is in the next fill.
    let mut carried = Vec::new();
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(TraceError {
                    line: line_no + 1,
                    message: format!("cannot read: {e}"),
                })
            }
        };
        if buf.is_empty() {
            if !carried.is_empty() {
                each(line_no + 1, &carried)?;
            }
            return Ok(());
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            line_no += 1;
            if carried.is_empty() {
                each(line_no, &buf[start..end])?;
            } else {
                carried.extend_from_slice(&buf[..end]);
                each(line_no, &carried)?;
                carried.clear();
            }
            start = end + 1;
        }
        carried.extend_from_slice(&buf[start..]);
        let len = buf.len();
        input.consume(len);
    }
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
/// A hash map: every message is inserted and removed once, and only the
/// end of the trace looks for the earliest one left.
#[derive(Default)]
struct Messages {
    awaiting: FxHashMap<u64, usize>,
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
        match &*line.ev {
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
                if let Some((msg, sent)) = self.awaiting.iter().min() {
                    return Err(format!(
                        "message {msg} (sent at line {sent}) was neither delivered nor \
                         dropped, and is not in flight at the end ({} such message(s))",
                        self.awaiting.len()
                    ));
                }
            }
            kind if crate::trace::RECORD_KINDS.binary_search(&kind).is_ok() => {}
            kind => {
                return Err(format!(
                    "'{kind}' is not a kind of record of trace schema {}",
                    crate::trace::SCHEMA_VERSION
                ))
            }
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
        scenario: line.scenario.as_deref().unwrap_or_default().to_string(),
        seed: line.seed.unwrap_or_default(),
        schema,
        ..TraceInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines are given whole, numbered from 1, without their `\n`, when
    /// they straddle fills of any size too: empty ones, a `\r` kept for
    /// the caller, a last line with no `\n`, an empty input.
    #[test]
    fn lines_are_given_whole_across_fills() {
        let texts = [
            "",
            "a",
            "a\n",
            "\n\n",
            "ab\r\ncd\n\nlast",
            "one\ntwo\nthree\n",
        ];
        for text in texts {
            let expected: Vec<(usize, Vec<u8>)> = text
                .split_inclusive('\n')
                .map(|l| l.strip_suffix('\n').unwrap_or(l).as_bytes().to_vec())
                .enumerate()
                .map(|(i, l)| (i + 1, l))
                .collect();
            for capacity in 1..=text.len().max(1) + 1 {
                let input = std::io::BufReader::with_capacity(capacity, text.as_bytes());
                let mut seen = Vec::new();
                for_each_line(input, |n, bytes| {
                    seen.push((n, bytes.to_vec()));
                    Ok(())
                })
                .unwrap();
                assert_eq!(seen, expected, "{text:?} in fills of {capacity}");
            }
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_is_named() {
        let mut trace = b"{\"t\":0,\"ev\":\"header\",\"schema\":".to_vec();
        trace.extend_from_slice(format!("{SCHEMA_VERSION}}}\n").as_bytes());
        trace.extend_from_slice(b"{\"t\":1,\"ev\":\"\xff\"}\n");
        let e = read_trace(&trace[..], |_| Ok(())).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.message, "not UTF-8 text (column 14 is not a character)");
    }
}
