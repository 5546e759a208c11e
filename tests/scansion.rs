//! Prosody's scansion scripts from ../shared/scansion, run on the
//! simulator, and the runner's handling of failures and bad input.

use std::path::PathBuf;

use presim::scansion::{self, Options, Outcome};

#[path = "support/cli.rs"]
mod cli;
use cli::presim;

fn shared_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/scansion")
        .join(name)
}

fn run_script(name: &str) -> Outcome {
    let path = shared_script(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let script = scansion::parse(name, &text).expect("script parses");
    scansion::run(&script, Options::default()).expect("script runs")
}

fn assert_passes(name: &str) {
    match run_script(name) {
        Outcome::Passed { .. } => {}
        Outcome::Failed(f) => panic!("{name} failed:\n{f}"),
    }
}

#[test]
fn basic() {
    assert_passes("basic.scs");
}

#[test]
fn basic_roster() {
    assert_passes("basic_roster.scs");
}

#[test]
fn basic_message() {
    assert_passes("basic_message.scs");
}

#[test]
fn presence_preapproval() {
    assert_passes("presence_preapproval.scs");
}

#[test]
fn issue1121() {
    assert_passes("issue1121.scs");
}

#[test]
fn blocking() {
    assert_passes("blocking.scs");
}

#[test]
fn quickstart_script_passes() {
    let text = include_str!("../scenarios/quickstart.scs");
    let script = scansion::parse("quickstart.scs", text).unwrap();
    assert_eq!(
        scansion::run(&script, Options::default()).unwrap(),
        Outcome::Passed { steps: 19 }
    );
}

/// Runs a script with its trace in a file; returns the outcome, the digest
/// and the trace text.
fn run_with_trace(name: &str, text: &str) -> (Outcome, String, String) {
    let script = scansion::parse(name, text).unwrap();
    let path = tempdir("traces").join(format!("{name}.jsonl"));
    let sink = Box::new(std::fs::File::create(&path).unwrap());
    let (outcome, summary) = scansion::run_traced(&script, Options::default(), Some(sink)).unwrap();
    assert!(summary.error.is_none());
    (
        outcome,
        summary.digest,
        std::fs::read_to_string(&path).unwrap(),
    )
}

#[test]
fn two_domain_script_runs_over_an_s2s_link() {
    let text = include_str!("../scenarios/federation.scs");
    let (outcome, _, trace) = run_with_trace("federation.scs", text);
    assert_eq!(outcome, Outcome::Passed { steps: 19 });
    // Juliet's presence change crosses the s2s link, stamped by her server.
    let s2s_sends: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains(r#""ev":"send""#))
        .filter(|l| l.contains(r#""link":"montague.example--capulet.example""#))
        .collect();
    assert!(
        s2s_sends.iter().any(|l| l.contains(
            "<presence from='juliet@capulet.example/presim-1' to='romeo@montague.example'><show>away</show><status>On the balcony</status></presence>"
        )),
        "{s2s_sends:#?}"
    );
    assert!(
        s2s_sends
            .iter()
            .any(|l| l.contains(r#""from":"montague.example","to":"capulet.example""#)),
        "traffic flows both ways"
    );
    for reason in [
        "peer-unreachable",
        "unknown-domain",
        "no-s2s-link",
        "lost-in-flight",
    ] {
        assert!(
            !trace.contains(&format!(r#""reason":"{reason}""#)),
            "no stanza is lost by the network: {reason}"
        );
    }
}

#[test]
fn a_script_run_is_deterministic() {
    let text = include_str!("../scenarios/federation.scs");
    let (_, first, trace) = run_with_trace("federation-a.scs", text);
    let (_, second, _) = run_with_trace("federation-b.scs", text);
    // The scenario name in the header is the file name; the rest is equal.
    assert_ne!(first, second);
    let (_, again, _) = run_with_trace("federation-a.scs", text);
    assert_eq!(first, again);
    use sha2::Digest;
    assert_eq!(first, hex::encode(sha2::Sha256::digest(trace.as_bytes())));
}

#[test]
fn cli_writes_traces() {
    let dir = tempdir("cli-traces");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/federation.scs");
    let (code, stdout, _) = presim(&["scansion", "--trace", dir.to_str().unwrap(), script]);
    assert_eq!(code, 0, "{stdout}");
    let path = dir.join("federation.jsonl");
    let trace = std::fs::read(&path).unwrap();
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(&trace));
    assert!(
        stdout.contains(&format!("wrote {} (digest {digest})", path.display())),
        "{stdout}"
    );

    // Two scripts of one name would write one trace file: refused before
    // anything runs, rather than the second overwriting the first.
    let other = dir.join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let copy = other.join("federation.scs");
    std::fs::copy(script, &copy).unwrap();
    let traces = dir.join("clash");
    let (code, stdout, stderr) = presim(&[
        "scansion",
        "--trace",
        traces.to_str().unwrap(),
        script,
        copy.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: {}: another script is also named 'federation'; their traces would both be {}\n",
            copy.display(),
            traces.join("federation.jsonl").display()
        )
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!traces.exists());
}

#[test]
fn strict_order_rejects_unlisted_stanzas() {
    // basic_message.scs relies on skipping the phone's presence that Juliet's
    // laptop receives before the message "Are you hiding?".
    let text = std::fs::read_to_string(shared_script("basic_message.scs")).unwrap();
    let script = scansion::parse("basic_message.scs", &text).unwrap();
    let Outcome::Failed(f) = scansion::run(&script, Options { strict_order: true }).unwrap() else {
        panic!("expected a failure in strict order");
    };
    assert_eq!(f.line, 134);
    assert_eq!(f.client, "Juliet");
    assert!(f
        .received
        .as_deref()
        .unwrap()
        .starts_with("<presence from='juliet@localhost/mobile'"));
}

const TWO_CLIENTS: &str = "[Client] Romeo\n\tjid: romeo@localhost\n\n[Client] Juliet\n\tjid: juliet@localhost\n\n-----\n\nRomeo connects\n\nJuliet connects\n\n";

#[test]
fn live_mismatch_fails_with_details() {
    let text = format!("{TWO_CLIENTS}Romeo sends:\n\t<presence/>\n\nRomeo receives:\n\t<presence type='unavailable'/>\n");
    let script = scansion::parse("t.scs", &text).unwrap();
    let Outcome::Failed(f) = scansion::run(&script, Options::default()).unwrap() else {
        panic!()
    };
    assert_eq!(
        (f.file.as_str(), f.line, f.client.as_str()),
        ("t.scs", 16, "Romeo")
    );
    assert_eq!(
        f.expected.as_deref(),
        Some("<presence type='unavailable'/>")
    );
    assert!(f
        .received
        .as_deref()
        .unwrap()
        .starts_with("<presence from='romeo@localhost/"));
    assert_eq!(
        f.message,
        "received stanza does not match: presence: missing attribute 'type'"
    );
}

#[test]
fn queued_stanzas_are_skipped_and_reported() {
    // Juliet's echo is queued when she later waits for a message; it is skipped.
    let text = format!(
        "{TWO_CLIENTS}Juliet sends:\n\t<presence/>\n\nRomeo sends:\n\t<message to='juliet@localhost'><body>hi</body></message>\n\n\
         Juliet receives:\n\t<message><body>hi</body></message>\n\nJuliet receives:\n\t<message><body>again</body></message>\n"
    );
    let script = scansion::parse("t.scs", &text).unwrap();
    let Outcome::Failed(f) = scansion::run(&script, Options::default()).unwrap() else {
        panic!()
    };
    assert_eq!(f.line, 22);
    assert_eq!(f.received, None);
    assert_eq!(f.message, "expected a stanza, but nothing arrived");
}

#[test]
fn receives_nothing() {
    let ok = format!("{TWO_CLIENTS}Romeo receives: nothing\n");
    let script = scansion::parse("t.scs", &ok).unwrap();
    assert_eq!(
        scansion::run(&script, Options::default()).unwrap(),
        Outcome::Passed { steps: 3 }
    );
    let bad = format!("{TWO_CLIENTS}Romeo sends:\n\t<presence/>\n\nRomeo receives: nothing\n");
    let script = scansion::parse("t.scs", &bad).unwrap();
    let Outcome::Failed(f) = scansion::run(&script, Options::default()).unwrap() else {
        panic!()
    };
    assert_eq!(f.message, "expected nothing, but a stanza arrived");
}

#[test]
fn full_jid_of_unconnected_client_is_a_script_error() {
    let text = format!("{TWO_CLIENTS}Romeo sends:\n\t<message to=\"${{Nurse's full JID}}\"/>\n");
    let text = text
        .replace("[Client] Juliet", "[Client] Nurse")
        .replace("Juliet connects\n\n", "");
    let script = scansion::parse("t.scs", &text).unwrap();
    let e = scansion::run(&script, Options::default()).unwrap_err();
    assert_eq!(e.line, 11);
    assert_eq!(
        e.message,
        "'Nurse' has no full JID yet: it has not connected"
    );
}

#[test]
fn cli_passes_and_summarises() {
    let a = shared_script("basic.scs");
    let b = shared_script("issue1121.scs");
    let (code, stdout, _) = presim(&["scansion", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("PASS ") && stdout.ends_with("2 passed, 0 failed\n"),
        "{stdout}"
    );
}

#[test]
fn cli_failure_exits_1_with_location() {
    let dir = tempdir("fail");
    let path = dir.join("fail.scs");
    std::fs::write(
        &path,
        format!("{TWO_CLIENTS}Romeo sends:\n\t<presence/>\n\nRomeo receives:\n\t<message/>\n"),
    )
    .unwrap();
    let (code, stdout, _) = presim(&["scansion", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("fail.scs:16: Romeo: received stanza does not match"),
        "{stdout}"
    );
    assert!(stdout.contains("  expected: <message/>"), "{stdout}");
    assert!(stdout.ends_with("0 passed, 1 failed\n"), "{stdout}");
}

#[test]
fn cli_bad_input_exits_2_with_location() {
    let dir = tempdir("bad");
    let cases = [
        (
            "syntax.scs",
            "[Client] A\n\tjid: a@localhost\n-----\nA connects\nA sends:\n\t<presence\n",
            "syntax.scs:5: invalid XML",
        ),
        (
            "client.scs",
            "[Client] A\n\tjid: a@localhost\n-----\nB connects\n",
            "client.scs:4: unknown client 'B'",
        ),
        (
            "var.scs",
            "[Client] A\n\tjid: a@localhost\n-----\nA sends:\n\t<message to='${B's JID}'/>\n",
            "var.scs:4: undefined variable '${B's JID}'",
        ),
        (
            "layout.scs",
            "hello\n",
            "layout.scs:1: expected '[Client] <name>'",
        ),
    ];
    for (name, text, message) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let (code, _, stderr) = presim(&["scansion", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (code, _, stderr) = presim(&["scansion", "/nonexistent/x.scs"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("/nonexistent/x.scs: cannot read"),
        "{stderr}"
    );
    let (code, _, _) = presim(&["scansion"]);
    assert_eq!(code, 2, "missing FILE is a usage error");
    let (code, _, _) = presim(&["frobnicate"]);
    assert_eq!(code, 2, "unknown command is a usage error");
}

#[test]
fn cli_runs_the_quickstart_script() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.scs");
    let (code, stdout, _) = presim(&["scansion", script]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("quickstart.scs (19 steps)"), "{stdout}");
}

fn tempdir(name: &str) -> PathBuf {
    cli::tempdir("scansion", name)
}
