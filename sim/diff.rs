//! Where two traces part: the first line at which they differ, with the
//! lines before it that both share and the lines after it on each side.
//!
//! When a regression corpus says that a digest changed, the run behaves
//! differently somewhere; the first differing record says when and in
//! what (a latency draw, a stanza, a drop), and everything after it may
//! follow from it. Traces are compared line by line as bytes, reading
//! each once, so traces of any size are compared in constant memory.

use std::collections::VecDeque;
use std::io::BufRead;

/// The first difference of two traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The number (from 1) of the first line that differs.
    pub line: u64,
    /// The shared lines just before it, oldest first.
    pub before: Vec<String>,
    /// From the first differing line on, up to `after + 1` lines of each
    /// trace (empty for a trace that ends there).
    pub a: Vec<String>,
    pub b: Vec<String>,
}

/// What comparing two traces found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// The same bytes; the number of lines.
    Same {
        lines: u64,
    },
    Differ(Divergence),
}

/// Compares the traces `a` and `b` line by line, keeping `context` shared
/// lines before the first difference and `context` lines after it.
/// `name` names each input in error messages.
pub fn compare(
    a: &mut impl BufRead,
    b: &mut impl BufRead,
    context: usize,
    names: [&str; 2],
) -> Result<Comparison, String> {
    let mut before = VecDeque::with_capacity(context + 1);
    let mut lines = 0u64;
    let (mut la, mut lb) = (Vec::new(), Vec::new());
    loop {
        let more_a = read_line(a, &mut la, names[0])?;
        let more_b = read_line(b, &mut lb, names[1])?;
        if !more_a && !more_b {
            return Ok(Comparison::Same { lines });
        }
        lines += 1;
        if lines == 1 {
            for (line, name) in [(&la, names[0]), (&lb, names[1])] {
                check_header(line, name)?;
            }
        }
        if la != lb {
            let a = rest(a, la, more_a, context, names[0])?;
            let b = rest(b, lb, more_b, context, names[1])?;
            return Ok(Comparison::Differ(Divergence {
                line: lines,
                before: before.into(),
                a,
                b,
            }));
        }
        if context > 0 {
            if before.len() == context {
                before.pop_front();
            }
            before.push_back(text(&la));
        }
    }
}

/// Reads one line into `buf` without its line end; false at the end.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, name: &str) -> Result<bool, String> {
    buf.clear();
    let n = input
        .read_until(b'\n', buf)
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(n > 0)
}

/// A trace starts with its header record.
fn check_header(line: &[u8], name: &str) -> Result<(), String> {
    if line.is_empty() || line.starts_with(b"{\"t\":0,\"ev\":\"header\"") {
        return Ok(());
    }
    Err(format!(
        "{name}: line 1 is not a trace header; a trace is JSON Lines whose first record is the header (the trace.jsonl of a run)"
    ))
}

/// The differing line (if the trace has one) and up to `context` lines
/// after it.
fn rest(
    input: &mut impl BufRead,
    first: Vec<u8>,
    more: bool,
    context: usize,
    name: &str,
) -> Result<Vec<String>, String> {
    if !more {
        return Ok(Vec::new());
    }
    let mut lines = vec![text(&first)];
    let mut buf = Vec::new();
    while lines.len() <= context && read_line(input, &mut buf, name)? {
        lines.push(text(&buf));
    }
    Ok(lines)
}

fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

/// The virtual time of a trace record (`{"t":N,…`), in microseconds.
pub fn record_time(line: &str) -> Option<u64> {
    let digits = line.strip_prefix("{\"t\":")?;
    let end = digits.find(|c: char| !c.is_ascii_digit())?;
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"t":0,"ev":"header","schema":3,"scenario":"x","seed":1}"#;

    fn trace(records: &[&str]) -> String {
        let mut text = format!("{HEADER}\n");
        for r in records {
            text.push_str(r);
            text.push('\n');
        }
        text
    }

    fn cmp(a: &str, b: &str, context: usize) -> Result<Comparison, String> {
        compare(&mut a.as_bytes(), &mut b.as_bytes(), context, ["a", "b"])
    }

    const R: [&str; 5] = [
        r#"{"t":5,"ev":"deliver","msg":0}"#,
        r#"{"t":6,"ev":"deliver","msg":1}"#,
        r#"{"t":7,"ev":"deliver","msg":2}"#,
        r#"{"t":8,"ev":"deliver","msg":3}"#,
        r#"{"t":9,"ev":"deliver","msg":4}"#,
    ];

    #[test]
    fn the_same_traces_are_the_same() {
        let t = trace(&R);
        assert_eq!(cmp(&t, &t, 2), Ok(Comparison::Same { lines: 6 }));
        assert_eq!(cmp("", "", 2), Ok(Comparison::Same { lines: 0 }));
    }

    #[test]
    fn the_first_difference_comes_with_context_on_both_sides() {
        let a = trace(&R);
        let b = trace(&[R[0], R[1], R[2], r#"{"t":8,"ev":"deliver","msg":9}"#, R[4]]);
        let Ok(Comparison::Differ(d)) = cmp(&a, &b, 2) else {
            panic!("differ");
        };
        assert_eq!(d.line, 5);
        assert_eq!(d.before, [R[1], R[2]]);
        assert_eq!(d.a, [R[3], R[4]]);
        assert_eq!(d.b, [r#"{"t":8,"ev":"deliver","msg":9}"#, R[4]]);
        assert_eq!(record_time(&d.a[0]), Some(8));
    }

    #[test]
    fn a_trace_that_ends_early_differs_where_it_ends() {
        let a = trace(&R);
        let b = trace(&R[..3]);
        let Ok(Comparison::Differ(d)) = cmp(&a, &b, 1) else {
            panic!("differ");
        };
        assert_eq!(d.line, 5);
        assert_eq!(d.before, [R[2]]);
        assert_eq!(d.a, [R[3], R[4]]);
        assert!(d.b.is_empty());
        let Ok(Comparison::Differ(d)) = cmp(&b, &a, 0) else {
            panic!("differ");
        };
        assert!(d.before.is_empty() && d.a.is_empty());
        assert_eq!(d.b, [R[3]]);
    }

    #[test]
    fn a_file_that_is_not_a_trace_is_refused() {
        let e = cmp(&trace(&R), "Scenario(name: \"x\")\n", 2).unwrap_err();
        assert!(e.starts_with("b: line 1 is not a trace header"), "{e}");
    }

    #[test]
    fn record_times() {
        assert_eq!(record_time(R[4]), Some(9));
        assert_eq!(record_time(HEADER), Some(0));
        assert_eq!(record_time("garbage"), None);
        assert_eq!(record_time(r#"{"t":12"#), None);
    }
}
