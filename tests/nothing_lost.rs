//! The nothing-lost property: whatever fails, every message a run sends
//! over a link ends in exactly one `deliver` or `drop` (with its reason),
//! or is still on the wire when the run stops, as its `end` record says;
//! and a `drop` that names a message names one on the wire.
//!
//! Each case is a federation of two servers with a random population
//! (some clients with XEP-0198, sessions of random length, reconnects)
//! under a random mix of faults: link outages, partitions, flapping,
//! server and client crashes, client network loss and latency spikes. The
//! books are kept here, from the trace's JSON alone, and the trace reader
//! of `presim analyze` must accept the same trace.
//!
//! The same cases also check determinism where it is hardest to keep:
//! each case, loaded and run twice, writes the same trace byte for byte.

#[path = "support/proptest_seed.rs"]
mod proptest_seed;

use std::collections::BTreeMap;

use proptest::prelude::*;

use presim::analysis::{self, Options};
use presim::{run, scenario};

/// The faults of one case, each with the mean gap between two of its kind
/// (seconds), or absent.
#[derive(Debug, Clone)]
struct Faults {
    outage: Option<u32>,
    partition: Option<u32>,
    flap: bool,
    server_crash: Option<u32>,
    client_crash: Option<u32>,
    network_loss: Option<u32>,
    spike: Option<u32>,
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    users: u32,
    session_length: Option<u32>,
    stream_management: bool,
    bandwidth: bool,
    faults: Faults,
}

fn every(mean: Option<u32>, fault: &str) -> Option<String> {
    mean.map(|m| {
        format!(
            "(every: Exponential(mean: \"{m}s\"), from: \"5s\", until: \"100s\", fault: {fault})"
        )
    })
}

impl Case {
    fn scenario(&self) -> String {
        let s2s = "a.example--b.example";
        let f = &self.faults;
        let faults: Vec<String> = [
            every(
                f.outage,
                &format!("LinkOutage(link: \"{s2s}\", duration: Uniform(min: \"1s\", max: \"20s\"))"),
            ),
            every(
                f.partition,
                "Partition(nodes: [\"b.example\"], duration: Uniform(min: \"1s\", max: \"15s\"))",
            ),
            f.flap.then(|| {
                format!(
                    "(at: \"10s\", fault: Flap(link: \"{s2s}\", mtbf: Exponential(mean: \"8s\"), \
                     mttr: Exponential(mean: \"3s\"), until: \"90s\"))"
                )
            }),
            every(
                f.server_crash,
                "ServerCrash(server: \"b.example\", restart_after: Uniform(min: \"1s\", max: \"10s\"))",
            ),
            every(
                f.client_crash,
                "ClientCrash(client: \"a1@a.example\", restart_after: Constant(\"3s\"))",
            ),
            every(
                f.network_loss,
                "ClientNetworkLoss(client: \"b1@b.example\", duration: Uniform(min: \"1s\", max: \"40s\"))",
            ),
            every(
                f.spike,
                &format!(
                    "LatencySpike(link: \"{s2s}\", extra: Uniform(min: \"100ms\", max: \"3s\"), \
                     duration: Constant(\"4s\"))"
                ),
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        let session = match self.session_length {
            Some(s) => format!("Exponential(mean: \"{s}s\")"),
            None => "None".to_string(),
        };
        let bandwidth = if self.bandwidth {
            ", bandwidth: 64000"
        } else {
            ""
        };
        format!(
            "Scenario(name: \"nothing_lost\", seed: {seed}, duration: \"2m\",
                defaults: (
                    c2s: (latency: Uniform(min: \"5ms\", max: \"40ms\"),
                          detection: (keepalive_interval: \"10s\", keepalive_timeout: \"3s\")),
                    s2s: (latency: LogNormal(median: \"30ms\", sigma: 0.8){bandwidth},
                          detection: (write_timeout: \"8s\", keepalive_interval: \"10s\", keepalive_timeout: \"3s\")),
                    behaviour: (presence_changes: Exponential(mean: \"6s\"), session_length: {session},
                                reconnect_after: Uniform(min: \"1s\", max: \"5s\"),
                                stream_management: {sm}),
                ),
                servers: [(domain: \"a.example\", hibernation_time: \"20s\"),
                          (domain: \"b.example\", hibernation_time: \"20s\")],
                populations: [
                    (server: \"a.example\", users: {users}, prefix: \"a\", roster_size: Constant(3),
                     remote_share: 0.5, login: Uniform(min: \"0s\", max: \"5s\"), features: [\"urn:xmpp:psa\"]),
                    (server: \"b.example\", users: {users}, prefix: \"b\", roster_size: Constant(3),
                     remote_share: 0.5, login: Uniform(min: \"0s\", max: \"5s\")),
                ],
                faults: [{faults}],
            )",
            seed = self.seed,
            users = self.users,
            sm = self.stream_management,
            faults = faults.join(", "),
        )
    }
}

fn case() -> impl Strategy<Value = Case> {
    let mean = || prop::option::of(3u32..40);
    let faults = (
        mean(),
        mean(),
        any::<bool>(),
        mean(),
        mean(),
        mean(),
        mean(),
    )
        .prop_map(
            |(outage, partition, flap, server_crash, client_crash, network_loss, spike)| Faults {
                outage,
                partition,
                flap,
                server_crash,
                client_crash,
                network_loss,
                spike,
            },
        );
    (
        any::<u64>(),
        4u32..8,
        prop::option::of(5u32..60),
        any::<bool>(),
        any::<bool>(),
        faults,
    )
        .prop_map(
            |(seed, users, session_length, stream_management, bandwidth, faults)| Case {
                seed,
                users,
                session_length,
                stream_management,
                bandwidth,
                faults,
            },
        )
}

/// The books of one trace: the first imbalance found, if any, and how
/// many messages were sent.
fn books(trace: &str) -> (Result<(), String>, usize) {
    let mut awaiting: BTreeMap<u64, usize> = BTreeMap::new();
    let mut sent = 0;
    for (i, line) in trace.lines().enumerate() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let msg = r["msg"].as_u64();
        match (r["ev"].as_str().unwrap(), msg) {
            ("send", Some(m)) => {
                sent += 1;
                if awaiting.insert(m, i + 1).is_some() {
                    return (Err(format!("line {}: message {m} sent twice", i + 1)), sent);
                }
            }
            ("deliver" | "drop", Some(m)) => {
                let Some(_) = awaiting.remove(&m) else {
                    return (Err(format!("line {}: {line} awaits nothing", i + 1)), sent);
                };
            }
            ("send" | "deliver", None) => {
                return (Err(format!("line {}: no msg in {line}", i + 1)), sent)
            }
            ("end", _) => {
                let in_flight: Vec<u64> = r["in_flight"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_u64().unwrap())
                    .collect();
                let left: Vec<u64> = awaiting.keys().copied().collect();
                if in_flight != left {
                    return (
                        Err(format!(
                            "in flight at the end: {in_flight:?}, awaiting: {left:?}"
                        )),
                        sent,
                    );
                }
                return (Ok(()), sent);
            }
            _ => {}
        }
    }
    (Err("no end record".to_string()), sent)
}

proptest! {
    // The same cases on every run (support/proptest_seed.rs).
    #![proptest_config(proptest_seed::fixed_seed(256, 20_261_122))]

    #[test]
    fn every_message_is_delivered_dropped_or_in_flight_at_the_end(case in case()) {
        let text = case.scenario();
        let model = scenario::load("nothing_lost.ron", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let (_, bytes) = run::run_captured(&model);
        let trace = String::from_utf8(bytes).unwrap();
        let (balance, sent) = books(&trace);
        prop_assert!(balance.is_ok(), "{}", balance.unwrap_err());
        prop_assert!(sent > 0);
        let read = analysis::analyze(trace.as_bytes(), Options::default());
        prop_assert!(read.is_ok(), "the trace reader rejects it: {}", read.err().unwrap());
    }
}

proptest! {
    // Fewer cases than above: each runs twice.
    #![proptest_config(proptest_seed::fixed_seed(48, 20_261_123))]

    /// Determinism under every kind of fault (crashes and restarts,
    /// stream resumption, partitions, flapping, bandwidth queues): the same
    /// scenario text, loaded and run twice in one process, writes the same
    /// trace byte for byte.
    #[test]
    fn the_same_case_writes_the_same_trace_twice(case in case()) {
        let text = case.scenario();
        let run_once = || {
            let model = scenario::load("nothing_lost.ron", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            run::run_captured(&model)
        };
        let ((first, first_bytes), (second, second_bytes)) = (run_once(), run_once());
        prop_assert_eq!(&first.trace.digest, &second.trace.digest);
        prop_assert!(first_bytes == second_bytes, "same digest, different bytes");
        prop_assert_eq!(first.stats.events, second.stats.events);
    }
}

/// The faults of the property are really drawn: one case with every kind
/// of fault loses messages in flight and crashes both kinds of node.
#[test]
fn a_case_with_every_fault_loses_messages_and_crashes_nodes() {
    let case = Case {
        seed: 5,
        users: 6,
        session_length: Some(20),
        stream_management: true,
        bandwidth: true,
        faults: Faults {
            outage: Some(10),
            partition: Some(15),
            flap: true,
            server_crash: Some(20),
            client_crash: Some(15),
            network_loss: Some(10),
            spike: Some(10),
        },
    };
    let model = scenario::load("nothing_lost.ron", &case.scenario()).unwrap();
    let (result, bytes) = run::run_captured(&model);
    let trace = String::from_utf8(bytes).unwrap();
    assert_eq!(books(&trace).0, Ok(()));
    for reason in ["lost-in-flight", "connection-broken"] {
        assert!(
            result.stats.dropped.get(reason).copied().unwrap_or(0) > 0,
            "no '{reason}' drop: {:?}",
            result.stats.dropped
        );
    }
    for fault in ["server-crash", "client-crash", "partition", "link-outage"] {
        assert!(
            trace.contains(&format!("\"fault\":\"{fault}\"")),
            "no {fault} fault drawn"
        );
    }
}
