//! The stale-presence analysis of a trace of over a million records: a
//! population of 2 servers × 1,000 users with 20 contacts each, presence
//! changes every 20 s on average, a flapping s2s link and random client
//! network losses. The trace is generated once, in memory; each iteration
//! analyses it from the bytes. Throughput is in trace records.
//!
//! Also reports the heap the analysis holds at its peak against the number
//! of observer/contact pairs (a counting allocator): memory follows the
//! pairs, not the trace length.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use presim::analysis::{self, Options};
use presim::{run, scenario};

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

const SCENARIO: &str = r#"Scenario(
    name: "bench-analysis",
    seed: 1,
    duration: "5m",
    defaults: (
        c2s: (latency: LogNormal(median: "20ms", sigma: 0.5)),
        s2s: (latency: Normal(mean: "40ms", sd: "5ms"),
              detection: (write_timeout: "15s", keepalive_interval: "20s", keepalive_timeout: "5s")),
        behaviour: (presence_changes: Exponential(mean: "20s"), reconnect_after: Constant("5s"),
                    stream_management: true),
    ),
    servers: [(domain: "a.example"), (domain: "b.example", hibernation_time: "60s")],
    populations: [
        (server: "a.example", users: 1000, prefix: "a", roster_size: Constant(20), remote_share: 0.5,
         login: Uniform(min: "0s", max: "30s"), features: ["urn:xmpp:psa"]),
        (server: "b.example", users: 1000, prefix: "b", roster_size: Constant(20), remote_share: 0.5,
         login: Uniform(min: "0s", max: "30s")),
    ],
    faults: [
        (at: "40s", fault: Flap(link: "a.example--b.example", mtbf: Exponential(mean: "60s"),
                                mttr: Exponential(mean: "20s"), until: "4m")),
        (every: Exponential(mean: "5s"), from: "30s", until: "4m",
         fault: ClientNetworkLoss(client: "b7@b.example", duration: Uniform(min: "5s", max: "90s"))),
    ],
)"#;

fn bench(c: &mut Criterion) {
    presim::allocator::keep_freed_memory();
    let model = scenario::load("bench-analysis", SCENARIO).expect("valid scenario");
    let (_, trace) = run::run_captured(&model);
    let records = trace.iter().filter(|b| **b == b'\n').count();
    let base = counting::live();
    counting::reset_peak();
    let report = analysis::analyze(&trace[..], Options::default()).expect("a valid trace");
    let peak = counting::peak() - base;
    println!(
        "analysis: {records} records ({} MB), {} pairs, {} stale intervals, peak heap {} KB \
         ({} B per pair)",
        trace.len() / 1_000_000,
        report.pairs,
        report.stale.count,
        peak / 1024,
        peak / report.pairs.max(1) as isize
    );
    let mut group = c.benchmark_group("analysis");
    group.sample_size(10);
    group.throughput(Throughput::Elements(records as u64));
    group.bench_function("population_trace", |b| {
        b.iter(|| analysis::analyze(&trace[..], Options::default()).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
