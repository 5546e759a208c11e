//! Federation faults, XEP-0310 annotations and stream closes, run as whole
//! scenarios: an s2s outage with annotations on and off, a subscription
//! request lost with a broken stream, a crash of the remote server, a
//! XEP-0198 session paused and resumed or timed out, and a stream closed
//! with a stream error. Each scenario states
//! its timeline and checks the exact stanzas at the exact virtual times in
//! its own expectations; these tests also read the trace.

use std::path::Path;

use presim::{run, scenario};
use serde_json::Value;

fn run_scenario(name: &str) -> (run::RunResult, Vec<Value>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let model = scenario::load(name, &text).unwrap_or_else(|e| panic!("{e}"));
    let (result, bytes) = run::run_captured(&model);
    let records = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(result.failures.is_empty(), "{name}: {:#?}", result.failures);
    assert_eq!(result.stats.violations, 0);
    (result, records)
}

/// `(t, field values...)` of the records of kind `ev`.
fn of_kind<'a>(records: &'a [Value], ev: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["ev"] == ev).collect()
}

fn t(r: &Value) -> u64 {
    r["t"].as_u64().unwrap()
}

#[test]
fn s2s_outage_with_annotations() {
    let (_, records) = run_scenario("psa_outage.ron");
    assert_eq!(
        annotations(&records),
        vec![
            (
                75_000_000,
                "montague.lit",
                "romeo@montague.lit/lane",
                "server-unavailable"
            ),
            (
                195_040_000,
                "montague.lit",
                "romeo@montague.lit/lane",
                "clear"
            ),
        ]
    );
    // The server learned from romeo's caps that he wants annotations.
    let enabled = of_kind(&records, "psa-enabled");
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0]["jid"], "romeo@montague.lit/lane");
    // montague.lit's view of the stream, as its detection and retries saw it.
    let states: Vec<(u64, &str)> = of_kind(&records, "peer")
        .into_iter()
        .filter(|r| r["node"] == "montague.lit" && t(r) >= 60_000_000)
        .map(|r| (t(r), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![
            (75_000_000, "unavailable"),
            (105_000_000, "connecting"),
            (120_000_000, "unavailable"),
            (150_000_000, "connecting"),
            (165_000_000, "unavailable"),
            (195_000_000, "connecting"),
            (195_040_000, "established"),
        ]
    );
    // romeo's view of juliet: annotated while stale, then corrected.
    let views: Vec<(u64, bool, Option<&str>)> = of_kind(&records, "view")
        .into_iter()
        .filter(|r| r["observer"] == "romeo@montague.lit/lane")
        .map(|r| {
            (
                t(r),
                r["available"].as_bool().unwrap(),
                r["annotation"].as_str(),
            )
        })
        .collect();
    let after_start: Vec<_> = views.into_iter().filter(|v| v.0 > 60_000_000).collect();
    assert_eq!(
        after_start,
        vec![
            (75_010_000, true, Some("server-unavailable")),
            (195_050_000, true, None),
            (195_090_000, false, None),
        ]
    );
}

#[test]
fn s2s_outage_without_annotations_is_equally_stale_and_silent() {
    let (_, records) = run_scenario("psa_outage_off.ron");
    assert!(of_kind(&records, "annotation").is_empty());
    assert!(of_kind(&records, "psa-enabled").is_empty());
    let xml_with_annotation = records
        .iter()
        .filter(|r| r["ev"] == "send")
        .any(|r| r["xml"].as_str().unwrap().contains("urn:xmpp:psa"));
    assert!(!xml_with_annotation);
    let views: Vec<(u64, bool)> = of_kind(&records, "view")
        .into_iter()
        .filter(|r| r["observer"] == "romeo@montague.lit/lane" && t(r) > 60_000_000)
        .map(|r| (t(r), r["available"].as_bool().unwrap()))
        .collect();
    assert_eq!(views, vec![(195_090_000, false)]);
}

#[test]
fn a_subscription_request_lost_in_flight_is_sent_again_when_the_stream_is_back() {
    let (result, records) = run_scenario("subscription_in_flight.ron");
    let lost: Vec<u64> = of_kind(&records, "drop")
        .into_iter()
        .filter(|r| r["reason"] == "lost-in-flight")
        .map(|r| r["msg"].as_u64().unwrap())
        .collect();
    assert_eq!(lost.len(), 1);
    let sent = of_kind(&records, "send")
        .into_iter()
        .find(|r| r["msg"].as_u64() == Some(lost[0]))
        .unwrap();
    assert_eq!(
        sent["xml"],
        "<presence from='romeo@montague.lit' to='juliet@capulet.lit' type='subscribe'/>"
    );
    assert_eq!(result.stats.dropped.get("lost-in-flight"), Some(&1));
    let changes: Vec<(u64, &str, &str)> = of_kind(&records, "subscription")
        .into_iter()
        .filter(|r| r["node"] == "montague.lit")
        .map(|r| {
            (
                t(r),
                r["before"].as_str().unwrap(),
                r["after"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (10_010_000, "None", "None + Pending Out"),
            (55_100_000, "None + Pending Out", "To"),
        ]
    );
}

#[test]
fn a_crash_of_the_remote_server_is_annotated_until_it_is_back() {
    let (_, records) = run_scenario("remote_crash.ron");
    let truth: Vec<(u64, bool)> = of_kind(&records, "truth")
        .into_iter()
        .filter(|r| r["jid"] == "juliet@capulet.lit/orchard")
        .map(|r| (t(r), r["available"].as_bool().unwrap()))
        .collect();
    assert_eq!(truth.len(), 3);
    assert_eq!(truth[1], (60_000_000, false));
    assert_eq!(truth[2], (100_080_000, true));
    assert_eq!(
        annotations(&records),
        vec![
            (
                75_000_000,
                "montague.lit",
                "romeo@montague.lit/lane",
                "server-unavailable"
            ),
            (
                100_110_000,
                "montague.lit",
                "romeo@montague.lit/lane",
                "clear"
            ),
        ]
    );
}

#[test]
fn a_client_that_does_not_ask_never_gets_an_annotation() {
    // flapping.ron: clients of a.example ask for annotations, those of
    // b.example do not; the flapping link makes a.example annotate often.
    let (result, records) = run_scenario("flapping.ron");
    assert!(result.stats.violations == 0);
    let annotated_to: std::collections::BTreeSet<&str> = of_kind(&records, "annotation")
        .into_iter()
        .map(|r| r["to"].as_str().unwrap())
        .collect();
    assert!(!annotated_to.is_empty());
    let enabled: std::collections::BTreeSet<&str> = of_kind(&records, "psa-enabled")
        .into_iter()
        .map(|r| r["jid"].as_str().unwrap())
        .collect();
    assert!(annotated_to.is_subset(&enabled), "{annotated_to:?}");
}

/// `(t, node, state)` of the session records about `jid`.
fn sessions<'a>(records: &'a [Value], jid: &str) -> Vec<(u64, &'a str, &'a str)> {
    of_kind(records, "session")
        .into_iter()
        .filter(|r| r["jid"] == jid)
        .map(|r| {
            (
                t(r),
                r["node"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
            )
        })
        .collect()
}

/// `(t, node, to, annotation)` of the annotation records.
fn annotations(records: &[Value]) -> Vec<(u64, &str, &str, &str)> {
    of_kind(records, "annotation")
        .into_iter()
        .map(|r| {
            (
                t(r),
                r["node"].as_str().unwrap(),
                r["to"].as_str().unwrap(),
                r["annotation"].as_str().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_paused_session_is_annotated_locally_and_across_s2s_until_it_resumes() {
    let (_, records) = run_scenario("paused_resume.ron");
    let benvolio = "benvolio@montague.lit/lane";
    assert_eq!(
        sessions(&records, benvolio),
        vec![
            (2_070_000, "montague.lit", "bound"),
            (75_000_000, "montague.lit", "paused"),
            (110_070_000, "montague.lit", "resumed"),
        ]
    );
    assert_eq!(
        annotations(&records),
        vec![
            (
                75_000_000,
                "montague.lit",
                "romeo@montague.lit/lane",
                "connection-paused"
            ),
            (
                75_020_000,
                "capulet.lit",
                "juliet@capulet.lit/balcony",
                "connection-paused"
            ),
            (
                110_070_000,
                "montague.lit",
                "romeo@montague.lit/lane",
                "clear"
            ),
            (
                110_090_000,
                "capulet.lit",
                "juliet@capulet.lit/balcony",
                "clear"
            ),
        ]
    );
    // Truth: gone when his client noticed the loss, back on resumption.
    let truth: Vec<(u64, bool)> = of_kind(&records, "truth")
        .into_iter()
        .filter(|r| r["jid"] == benvolio)
        .map(|r| (t(r), r["available"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        truth,
        vec![(3_000_000, true), (75_000_000, false), (110_080_000, true)]
    );
    // The message lost on the dead connection came back on resumption.
    let resent = of_kind(&records, "send")
        .into_iter()
        .filter(|r| r["xml"].as_str().unwrap().contains("Where is he?") && r["to"] == "benvolio")
        .map(t)
        .collect::<Vec<_>>();
    assert_eq!(resent, vec![65_010_000, 110_070_000]);
}

#[test]
fn a_paused_session_that_times_out_ends_with_unavailable() {
    let (_, records) = run_scenario("paused_timeout.ron");
    let benvolio = "benvolio@montague.lit/lane";
    assert_eq!(
        sessions(&records, benvolio),
        vec![
            (2_070_000, "montague.lit", "bound"),
            (75_000_000, "montague.lit", "paused"),
            (135_000_000, "montague.lit", "ended"),
            (185_090_000, "montague.lit", "bound"),
        ]
    );
    let ended = of_kind(&records, "session")
        .into_iter()
        .find(|r| r["state"] == "ended")
        .unwrap();
    assert_eq!(ended["reason"], "hibernation-expired");
    // Annotated once; never cleared: the unavailable presence replaced it.
    assert_eq!(
        annotations(&records),
        vec![(
            75_000_000,
            "montague.lit",
            "romeo@montague.lit/lane",
            "connection-paused"
        )]
    );
    let stored: Vec<u64> = of_kind(&records, "offline-stored")
        .into_iter()
        .map(t)
        .collect();
    assert_eq!(stored, vec![135_000_000]);
}

/// A stream the server closes with a stream error reaches the client: the
/// close travels like any data and the client tears the connection down on
/// reading it (here: a resource conflict, RFC 6120 §7.7.2.2).
#[test]
fn a_stream_error_from_the_server_reaches_the_client() {
    let text = r#"Scenario(
        name: "conflict",
        duration: "20s",
        defaults: (c2s: (latency: Constant("10ms")), behaviour: (reconnect_after: None)),
        servers: [(domain: "a.example")],
        users: [(jid: "alice@a.example")],
        clients: [
            (name: "first", jid: "alice@a.example/home", connect_at: "1s"),
            (name: "second", jid: "alice@a.example/home", connect_at: "5s"),
        ],
    )"#;
    let model = scenario::load("conflict.ron", text).unwrap_or_else(|e| panic!("{e}"));
    let (result, bytes) = run::run_captured(&model);
    assert!(result.failures.is_empty());
    let records: Vec<Value> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let close = of_kind(&records, "send")
        .into_iter()
        .find(|r| r["to"] == "first" && r["xml"].as_str().unwrap().contains("<conflict"))
        .expect("the conflict stream error is sent");
    let msg = close["msg"].as_u64().unwrap();
    let delivered = of_kind(&records, "deliver")
        .into_iter()
        .find(|r| r["msg"].as_u64() == Some(msg))
        .expect("and delivered");
    assert_eq!(t(delivered), t(close) + 10_000);
    assert!(of_kind(&records, "drop")
        .iter()
        .all(|r| r["reason"] != "lost-in-flight"));
}
