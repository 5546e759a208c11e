//! The stale-presence analysis on whole scenarios whose intervals can be
//! computed by hand (each scenario's header comment has its timeline),
//! checked to the microsecond; a leak and a non-converging pair injected
//! into a real trace; and traces that cannot be analysed.

use std::path::Path;
use std::process::Command;

use presim::analysis::{self, chart, Cause, MarkKind, Options, Outage, Report};
use presim::{run, scenario};
use presim_viz as viz;

fn trace_of(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let model = scenario::load(name, &text).unwrap_or_else(|e| panic!("{e}"));
    let (result, bytes) = run::run_captured(&model);
    assert!(result.failures.is_empty(), "{:?}", result.failures);
    String::from_utf8(bytes).unwrap()
}

fn analyse(trace: &str) -> Report {
    analysis::analyze(trace.as_bytes(), Options::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// (observer, contact, start, end, cause, annotated_at, annotated)
type Row<'a> = (&'a str, &'a str, u64, u64, Cause, Option<u64>, u64);

fn rows(report: &Report) -> Vec<Row<'_>> {
    report
        .intervals
        .iter()
        .map(|i| {
            (
                i.observer.as_str(),
                i.contact.as_str(),
                i.start,
                i.end,
                i.cause,
                i.annotated_at,
                i.annotated,
            )
        })
        .collect()
}

/// Inserts `record` (at time `t`) before the first record after `t`.
fn insert_at(trace: &str, t: u64, record: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in trace.lines() {
        let time: u64 = line[5..line.find(',').unwrap()].parse().unwrap();
        if !done && time > t {
            out.push_str(record);
            out.push('\n');
            done = true;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn an_s2s_outage_is_stale_from_the_logout_to_the_probe_answer_and_annotated_throughout() {
    // psa_outage.ron: juliet logs out at 90 s while the link is down;
    // romeo's view, annotated since 75.010 s, is corrected at 195.090 s.
    let report = analyse(&trace_of("psa_outage.ron"));
    assert_eq!(
        rows(&report),
        vec![(
            "romeo@montague.lit/lane",
            "juliet@capulet.lit/orchard",
            90_000_000,
            195_090_000,
            Cause::LinkDown,
            Some(90_000_000),
            // The empty annotation at 195.050 s ends the annotated part;
            // the probe answer 40 ms later ends the stale interval.
            105_050_000,
        )]
    );
    assert_eq!(report.psa.annotation_latency.max, 0);
    assert_eq!(report.psa.annotated_share, 105_050_000.0 / 105_090_000.0);
    // The link came back at 180 s; the empty annotation reached romeo at
    // 195.050 s.
    assert_eq!(report.psa.clear_latency.count, 1);
    assert_eq!(report.psa.clear_latency.max, 15_050_000);
    assert_eq!((report.psa.missed, report.psa.spurious), (0, 0));
    assert!(report.leaks.is_empty());
    assert!(report.convergence.checked);
    assert!(report.convergence.not_converged.is_empty());
    // What the timeline draws: the annotated part, the annotation's
    // arrival and removal, and the outage band.
    assert_eq!(
        report.intervals[0].annotated_spans,
        vec![[90_000_000, 195_050_000]]
    );
    let marks: Vec<(u64, MarkKind)> = report.marks.iter().map(|m| (m.t, m.kind.clone())).collect();
    assert_eq!(
        marks,
        vec![
            (75_010_000, MarkKind::Annotated("server-unavailable".into())),
            (195_050_000, MarkKind::Cleared),
        ]
    );
    assert_eq!(
        report.outages,
        vec![Outage {
            kind: "link-down",
            target: "montague.lit--capulet.lit".into(),
            start: 60_000_000,
            end: 180_000_000,
        }]
    );
}

#[test]
fn without_annotations_the_same_outage_is_stale_and_missed() {
    let report = analyse(&trace_of("psa_outage_off.ron"));
    assert_eq!(
        rows(&report),
        vec![(
            "romeo@montague.lit/lane",
            "juliet@capulet.lit/orchard",
            90_000_000,
            195_090_000,
            Cause::LinkDown,
            None,
            0,
        )]
    );
    assert_eq!(report.psa.annotated_share, 0.0);
    // romeo's client asks for annotations but the server does not offer
    // them: no psa-enabled record, so nothing counts as missed.
    assert_eq!(report.psa.missed, 0);
}

#[test]
fn a_paused_session_is_stale_while_paused_and_annotated_after_one_hop() {
    // paused_resume.ron: benvolio's client notices the loss at 75 s and
    // resumes at 110.080 s; the annotations reach romeo at 75.010 s and
    // juliet (over s2s) at 75.030 s; the clears 10 ms and 30 ms after the
    // resumption at 110.070 s.
    let report = analyse(&trace_of("paused_resume.ron"));
    let benvolio = "benvolio@montague.lit/lane";
    assert_eq!(
        rows(&report),
        vec![
            (
                "juliet@capulet.lit/balcony",
                benvolio,
                75_000_000,
                110_080_000,
                Cause::PausedSession,
                Some(75_030_000),
                35_050_000,
            ),
            (
                "romeo@montague.lit/lane",
                benvolio,
                75_000_000,
                110_080_000,
                Cause::PausedSession,
                Some(75_010_000),
                35_070_000,
            ),
        ]
    );
    assert_eq!(report.psa.annotation_latency.max, 30_000);
    assert_eq!(report.psa.annotation_latency.total, 40_000);
    assert_eq!(report.psa.clear_latency.total, 40_000);
    let outages: Vec<(&str, &str, u64, u64)> = report
        .outages
        .iter()
        .map(|o| (o.kind, o.target.as_str(), o.start, o.end))
        .collect();
    assert_eq!(
        outages,
        vec![
            ("link-down", "c2s:benvolio", 60_000_000, 100_000_000),
            ("session-paused", benvolio, 75_000_000, 110_070_000),
        ]
    );
}

#[test]
fn a_remote_crash_is_server_down_and_annotated_after_detection() {
    // remote_crash.ron: capulet.lit crashes at 60 s; montague.lit notices
    // at 75 s and romeo's view is annotated at 75.010 s.
    let report = analyse(&trace_of("remote_crash.ron"));
    assert_eq!(report.intervals.len(), 1);
    let i = &report.intervals[0];
    assert_eq!((i.start, i.cause), (60_000_000, Cause::ServerDown));
    assert_eq!(i.annotated_at, Some(75_010_000));
    assert_eq!(report.psa.annotation_latency.max, 15_010_000);
}

#[test]
fn an_injected_leak_is_reported() {
    // juliet's server records at 100 s that romeo no longer has her
    // consent (as if the record said so) while his view still shows her
    // available: a leak until the view goes unavailable at 195.090 s, and
    // no longer a stale interval.
    let trace = insert_at(
        &trace_of("psa_outage.ron"),
        100_000_000,
        "{\"t\":100000000,\"ev\":\"subscription\",\"node\":\"capulet.lit\",\"user\":\"juliet@capulet.lit\",\
         \"contact\":\"romeo@montague.lit\",\"before\":\"Both\",\"after\":\"To\"}",
    );
    let report = analyse(&trace);
    assert_eq!(report.leaks.len(), 1, "{:?}", report.leaks);
    let leak = &report.leaks[0];
    assert_eq!(
        (
            leak.observer.as_str(),
            leak.contact.as_str(),
            leak.start,
            leak.end
        ),
        (
            "romeo@montague.lit/lane",
            "juliet@capulet.lit/orchard",
            100_000_000,
            195_090_000
        )
    );
    assert_eq!(report.intervals[0].end, 100_000_000);
    assert!(!report.healthy());
    assert!(report
        .table()
        .contains("LEAK romeo@montague.lit/lane saw juliet@capulet.lit/orchard"));
}

/// A trace without its `end` record (an interrupted run, a file cut at a
/// line boundary) is analysed, and the table says that it was cut short;
/// a whole trace's table does not.
#[test]
fn a_trace_cut_short_is_analysed_and_said_to_be_cut_short() {
    let whole = trace_of("psa_outage.ron");
    let note = "the trace has no end record";
    assert!(analyse(&whole).trace.complete);
    assert!(!analyse(&whole).table().contains(note));
    let lines = whole.lines().count();
    let cut: String = whole
        .lines()
        .take(lines / 2)
        .map(|l| format!("{l}\n"))
        .collect();
    let report = analyse(&cut);
    assert!(!report.trace.complete);
    assert!(report.table().contains(note), "{}", report.table());
}

#[test]
fn a_view_left_wrong_after_settling_does_not_converge() {
    let trace = insert_at(
        &trace_of("psa_outage.ron"),
        238_000_000,
        "{\"t\":238000000,\"ev\":\"view\",\"observer\":\"romeo@montague.lit/lane\",\
         \"contact\":\"juliet@capulet.lit/orchard\",\"available\":true,\"status\":\"Ghost\"}",
    );
    let report = analyse(&trace);
    let n = &report.convergence.not_converged;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].view, "available 'Ghost'");
    assert_eq!(n[0].truth, "unavailable");
    // The trace ends at 240 s: the interval is open at the end.
    assert_eq!(report.intervals.last().unwrap().end, 240_000_000);
}

#[test]
fn an_update_in_flight_at_the_end_of_the_trace_is_not_a_failure_to_converge() {
    // The same wrong view 0.5 s before the end: within the lag threshold,
    // so it is propagation lag, not a pair that did not converge.
    let trace = insert_at(
        &trace_of("psa_outage.ron"),
        239_500_000,
        "{\"t\":239500000,\"ev\":\"view\",\"observer\":\"romeo@montague.lit/lane\",\
         \"contact\":\"juliet@capulet.lit/orchard\",\"available\":true,\"status\":\"Ghost\"}",
    );
    let report = analyse(&trace);
    assert!(report.convergence.checked);
    assert_eq!(report.convergence.not_converged, vec![]);
    assert_eq!(report.intervals.len(), 1);
    assert_eq!(report.propagation_lag.max, 500_000);
}

#[test]
fn traces_that_cannot_be_analysed_say_where() {
    let good = trace_of("psa_outage.ron");
    let err = |text: &str| analysis::analyze(text.as_bytes(), Options::default()).unwrap_err();
    assert_eq!(err("").to_string(), "the trace is empty");
    let cut = &good[..good.len() - 10];
    let lines = cut.lines().count();
    let e = err(cut);
    assert_eq!(e.line, lines);
    assert!(e.message.ends_with("; is the trace truncated?"), "{e}");
    let e = err("{\n  \"schema\": 3,\n");
    assert_eq!(e.line, 1);
    assert!(
        e.message.ends_with(
            "; a trace is JSON Lines, one record per line, the header first (the trace.jsonl of a run)"
        ),
        "{e}"
    );
    let mut garbled: Vec<&str> = good.lines().collect();
    garbled[3] = "{\"t\":1,,}";
    let e = err(&garbled.join("\n"));
    assert_eq!(e.line, 4);
    assert!(
        !e.message.contains("truncated") && !e.message.contains("JSON Lines"),
        "{e}"
    );
    let old = good.replacen("\"schema\":3", "\"schema\":2", 1);
    let e = err(&old);
    assert_eq!(e.line, 1);
    assert!(e.message.contains("schema 2 is not supported"), "{e}");
    let e = err("{\"t\":0,\"ev\":\"view\"}\n");
    assert!(e.message.contains("first record must be the header"), "{e}");
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(5, "{\"t\":0,\"ev\":\"truth\"}");
    let e = err(&lines.join("\n"));
    assert_eq!(e.line, 6);
    assert_eq!(e.message, "'truth' record without 'jid'");
}

/// The line of the first record of kind `ev` about message `msg`.
fn line_of(trace: &str, ev: &str, msg: u64) -> usize {
    let key = format!("\"ev\":\"{ev}\",\"msg\":{msg}");
    let at = trace.lines().position(|l| l.contains(&key));
    at.unwrap_or_else(|| panic!("no {key}")) + 1
}

#[test]
fn traces_whose_messages_do_not_balance_say_where() {
    let good = trace_of("federation.ron");
    let err = |text: &str| analysis::analyze(text.as_bytes(), Options::default()).unwrap_err();
    let lines: Vec<&str> = good.lines().collect();
    let without = |n: usize| {
        let mut l = lines.clone();
        l.remove(n - 1);
        l.join("\n")
    };
    // The run ends with two messages on the wire, listed by its end record.
    assert!(lines
        .last()
        .unwrap()
        .ends_with("\"in_flight\":[16491,16494]}"));
    let (send, deliver) = (line_of(&good, "send", 40), line_of(&good, "deliver", 40));
    let e = err(&without(deliver));
    assert_eq!(e.line, lines.len() - 1);
    assert_eq!(
        e.message,
        format!(
            "message 40 (sent at line {send}) was neither delivered nor dropped, and is not \
             in flight at the end (1 such message(s))"
        )
    );
    // With several left, the earliest is named.
    let later = line_of(&good, "deliver", 90);
    let mut both = lines.clone();
    both.remove(later.max(deliver) - 1);
    both.remove(later.min(deliver) - 1);
    let e = err(&both.join("\n"));
    assert_eq!(
        e.message,
        format!(
            "message 40 (sent at line {send}) was neither delivered nor dropped, and is not \
             in flight at the end (2 such message(s))"
        )
    );
    let e = err(&without(send));
    assert_eq!(e.line, deliver - 1);
    assert_eq!(
        e.message,
        "'deliver' of message 40, which awaits no outcome: it was never sent, or was \
         already delivered or dropped"
    );
    let mut twice = lines.clone();
    twice.insert(deliver, lines[deliver - 1]);
    assert_eq!(err(&twice.join("\n")).line, deliver + 1);
    let e = err(&good.replace(
        "\"in_flight\":[16491,16494]",
        "\"in_flight\":[16491,16494,99999]",
    ));
    assert_eq!(e.line, lines.len());
    assert_eq!(
        e.message,
        "message 99999 is listed in flight at the end, but it was never sent, or was \
         already delivered or dropped"
    );
    let e = err(&good.replace("\"in_flight\":[16491,16494]", "\"in_flight\":[16494]"));
    assert!(e.message.starts_with("message 16491 (sent at line"), "{e}");
    // A kind of record this schema does not have (a typo, another
    // program's records) is not passed over as one the analysis ignores.
    let mut unknown = lines.clone();
    let misspelt = lines[deliver - 1].replace("\"deliver\"", "\"delivered\"");
    unknown[deliver - 1] = &misspelt;
    let e = err(&unknown.join("\n"));
    assert_eq!(e.line, deliver);
    assert_eq!(
        e.message,
        "'delivered' is not a kind of record of trace schema 3"
    );
}

#[test]
fn the_timeline_has_a_lane_per_stale_pair_with_its_marks_and_the_outage() {
    let report = analyse(&trace_of("psa_outage.ron"));
    let t = chart::timeline(&report);
    assert_eq!(t.end, 240.0);
    assert_eq!(t.lanes.len(), 1);
    let lane = &t.lanes[0];
    assert_eq!(
        lane.label,
        "romeo@montague.lit/lane → juliet@capulet.lit/orchard"
    );
    assert_eq!(lane.intervals.len(), 1);
    let i = &lane.intervals[0];
    assert_eq!((i.start, i.end), (90.0, 195.09));
    assert_eq!(i.annotated, vec![(90.0, 195.05)]);
    assert_eq!(
        lane.marks,
        vec![
            viz::Mark {
                at: 75.01,
                kind: viz::MarkKind::Annotation
            },
            viz::Mark {
                at: 195.05,
                kind: viz::MarkKind::Clear
            },
        ]
    );
    assert_eq!(t.bands.len(), 1);
    let band = &t.bands[0];
    assert_eq!(
        (band.label.as_str(), band.start, band.end),
        ("link down: montague.lit--capulet.lit", 60.0, 180.0)
    );
}

#[test]
fn charts_of_a_run_without_stale_intervals_say_so() {
    let report = analyse(&trace_of("federation.ron"));
    assert!(report.intervals.is_empty());
    let dir = std::env::temp_dir().join(format!("presim-nochart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let written = chart::write_charts(&report, None, &dir).unwrap();
    assert_eq!(written.len(), 4);
    let timeline = std::fs::read_to_string(dir.join("timeline.svg")).unwrap();
    assert!(timeline.contains("no stale intervals"));
    assert!(timeline.contains("0 stale interval(s)"));
    let durations = std::fs::read_to_string(dir.join("durations.svg")).unwrap();
    assert_eq!(durations.matches("no stale intervals").count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn durations_of_two_runs_are_drawn_side_by_side() {
    let with = analyse(&trace_of("psa_outage.ron"));
    let without = analyse(&trace_of("psa_outage_off.ron"));
    let d = chart::durations(&with, Some(&without));
    let samples: Vec<(&str, &[f64], bool)> = d
        .samples
        .iter()
        .map(|s| (s.label.as_str(), s.values.as_slice(), s.secondary))
        .collect();
    // The run with annotations also shows the part of each interval that
    // was not annotated: the 40 ms between the clear and the probe answer.
    assert_eq!(
        samples,
        vec![
            ("psa_outage (seed 1): stale", &[105.09][..], false),
            (
                "psa_outage (seed 1): stale and not annotated",
                &[0.04][..],
                true
            ),
            ("psa_outage_off (seed 1): stale", &[105.09][..], false),
        ]
    );
    assert_eq!(
        d.subtitle,
        "psa_outage (seed 1) beside psa_outage_off (seed 1)"
    );
}

/// Runs `presim analyze TRACE ARGS...`.
fn analyze(trace: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_presim"))
        .arg("analyze")
        .arg(trace)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn presim_analyze_draws_charts_with_a_comparison() {
    let dir = std::env::temp_dir().join(format!("presim-chart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (with, without) = (dir.join("with.jsonl"), dir.join("without.jsonl"));
    std::fs::write(&with, trace_of("psa_outage.ron")).unwrap();
    std::fs::write(&without, trace_of("psa_outage_off.ron")).unwrap();
    let charts = dir.join("charts");
    let chart_and_compare = [
        "--chart",
        charts.to_str().unwrap(),
        "--compare",
        without.to_str().unwrap(),
    ];
    let out = analyze(&with, &chart_and_compare);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for file in [
        "timeline.svg",
        "timeline.png",
        "durations.svg",
        "durations.png",
    ] {
        let path = charts.join(file);
        assert!(
            stdout.contains(&format!("wrote {}", path.display())),
            "{stdout}"
        );
        assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{file}");
    }
    let svg = std::fs::read_to_string(charts.join("durations.svg")).unwrap();
    assert!(svg.contains("psa_outage_off (seed 1): stale (1)"), "{svg}");
    // --compare needs --chart; a bad second trace is an input error.
    let out = analyze(&with, &["--compare", without.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(&without, "not a trace\n").unwrap();
    let out = analyze(&with, &chart_and_compare);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("without.jsonl: line 1"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn presim_analyze_prints_the_table_and_exits_2_on_a_bad_trace() {
    let dir = std::env::temp_dir().join(format!("presim-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("trace.jsonl");
    std::fs::write(&trace, trace_of("psa_outage.ron")).unwrap();
    let out = analyze(&trace, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("link-down                 1    105.090 s"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], 2);
    assert_eq!(json["intervals"][0]["cause"], "link-down");
    // --out names a directory that is made if it does not exist.
    let fresh = dir.join("new").join("dir");
    let out = analyze(&trace, &["--out", fresh.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(fresh.join("analysis.json").is_file());
    // One that cannot be made is an error before any analysis.
    let blocked = trace.join("out");
    let out = analyze(&trace, &["--out", blocked.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: cannot write to {}: Not a directory (os error 20)\n",
            blocked.display()
        )
    );
    std::fs::write(
        &trace,
        "{\"t\":0,\"ev\":\"header\",\"schema\":3}\n{\"t\":1,",
    )
    .unwrap();
    let out = analyze(&trace, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("trace.jsonl: line 2: not a trace record"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `presim analyze -` reads the trace from standard input (a pipe from a
/// decompressor, say) and analyses it as the file: the same table and
/// analysis.json. Standard input cannot also be the compared trace.
#[test]
fn presim_analyze_reads_a_trace_from_standard_input() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("presim-stdin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("trace.jsonl");
    std::fs::write(&trace, trace_of("psa_outage.ron")).unwrap();
    let from_file = analyze(&trace, &["--out", dir.join("file").to_str().unwrap()]);
    assert_eq!(from_file.status.code(), Some(0));
    let piped = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_presim"))
            .args(["analyze", "-"])
            .args(args)
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // A refused command may exit before reading: a broken pipe is fine.
        let _ = stdin.write_all(&std::fs::read(&trace).unwrap());
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    let from_stdin = piped(&[]);
    assert_eq!(from_stdin.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&from_stdin.stdout);
    assert_eq!(
        stdout.replace("wrote ./analysis.json", "wrote"),
        String::from_utf8_lossy(&from_file.stdout).replace(
            &format!("wrote {}", dir.join("file/analysis.json").display()),
            "wrote"
        )
    );
    assert_eq!(
        std::fs::read(dir.join("analysis.json")).unwrap(),
        std::fs::read(dir.join("file/analysis.json")).unwrap()
    );
    let twice = piped(&["--chart", "charts", "--compare", "-"]);
    assert_eq!(twice.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&twice.stderr),
        "error: --compare -: standard input is already the trace\n"
    );
}
