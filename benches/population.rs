//! A whole run of a population scenario: 2 servers, 10,000 users with 20
//! contacts each (half on the other server), everyone logs in within a
//! minute and changes presence about 5 times. The trace is serialized and
//! hashed as in every run (not written to disk). Throughput is in
//! delivered stanzas.
//!
//! Also reports the memory per simulated user (heap bytes live after
//! setup and at the end of the run, over the user count), measured with a
//! counting allocator over mimalloc, the allocator of the `presim` binary.
//!
//! `2x5000_login_minute` is the first simulated minute of the same run
//! (setup included), in which every user logs in: stream negotiation,
//! the roster, initial presence and its probes. The rest of the run,
//! presence changes only, is the whole run less this part.
//!
//! `population_scaling` runs the same scenario with 2 × 100, 2 × 1,000 and
//! 2 × 2,500 users (`cargo bench --bench population -- scaling`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use presim::run;
use presim::scenario;
use presim::trace::Trace;
use presim::world::World;

#[path = "support/counting.rs"]
#[allow(dead_code)] // each benchmark uses part of it
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// The scenario, with `USERS_PER_SERVER` users on each server.
const SCENARIO: &str = r#"Scenario(
    name: "bench-population",
    seed: 1,
    duration: "6m",
    defaults: (
        c2s: (latency: LogNormal(median: "20ms", sigma: 0.5)),
        s2s: (latency: Normal(mean: "40ms", sd: "5ms")),
        behaviour: (presence_changes: Exponential(mean: "60s"), reconnect_after: None),
    ),
    servers: [(domain: "a.example"), (domain: "b.example")],
    populations: [
        (server: "a.example", users: USERS_PER_SERVER, prefix: "a", roster_size: Constant(20), remote_share: 0.5,
         login: Uniform(min: "0s", max: "60s")),
        (server: "b.example", users: USERS_PER_SERVER, prefix: "b", roster_size: Constant(20), remote_share: 0.5,
         login: Uniform(min: "0s", max: "60s")),
    ],
)"#;

const USERS: f64 = 10_000.0;

/// The end of the logins (`login: Uniform(min: "0s", max: "60s")`), in
/// microseconds of simulated time.
const LOGIN_MINUTE: u64 = 60_000_000;

fn model(users_per_server: u32) -> presim::model::Model {
    let text = SCENARIO.replace("USERS_PER_SERVER", &users_per_server.to_string());
    scenario::load("bench-population", &text).expect("valid scenario")
}

fn bench(c: &mut Criterion) {
    presim::allocator::keep_freed_memory();
    let model = model(5000);
    let probe = run::run(&model, None);
    println!(
        "population: {} events, {} stanzas delivered ({} to clients), {} presence changes, digest {}",
        probe.stats.events,
        probe.stats.delivered,
        probe.stats.delivered_to_clients,
        probe.stats.truth_changes,
        probe.trace.digest
    );
    let before = counting::live();
    let mut world = World::new(&model, Trace::new(None));
    let setup = counting::live() - before;
    world.run_until(model.duration);
    let end = counting::live() - before;
    println!(
        "memory per simulated user: {:.0} bytes after setup, {:.0} bytes at the end of the run",
        setup as f64 / USERS,
        end as f64 / USERS
    );
    drop(world);

    let mut group = c.benchmark_group("population");
    group.throughput(Throughput::Elements(probe.stats.delivered));
    group.sample_size(10);
    group.bench_function("2x5000_users_20_contacts", |b| {
        b.iter(|| run::run(&model, None).stats.delivered)
    });
    let login_minute = || {
        let mut world = World::new(&model, Trace::new(None));
        world.run_until(LOGIN_MINUTE);
        world.stats.delivered
    };
    let delivered = login_minute();
    println!("login minute: {delivered} stanzas delivered");
    group.throughput(Throughput::Elements(delivered));
    group.bench_function("2x5000_login_minute", |b| b.iter(login_minute));
    group.finish();
}

/// The same scenario at smaller sizes: the work per delivered stanza is
/// the same, and what changes is how much of the users' state the
/// processor's caches hold.
fn scaling(c: &mut Criterion) {
    presim::allocator::keep_freed_memory();
    let mut group = c.benchmark_group("population_scaling");
    group.sample_size(10);
    for users_per_server in [100, 1000, 2500] {
        let model = model(users_per_server);
        let delivered = run::run(&model, None).stats.delivered;
        group.throughput(Throughput::Elements(delivered));
        group.bench_function(format!("2x{users_per_server}_users"), |b| {
            b.iter(|| run::run(&model, None).stats.delivered)
        });
    }
    group.finish();
}

criterion_group!(benches, bench, scaling);
criterion_main!(benches);
