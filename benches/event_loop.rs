//! The bare event loop: nodes relaying messages around a ring of links,
//! through the real queue and link model, without XMPP. Each delivery
//! schedules the next send, so every iteration is one pop, one latency
//! draw and one push.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use presim::dist::Dist;
use presim::net::{Detection, LinkKind, LinkModel, Network, NodeKind, Transmit};
use presim::queue::EventQueue;
use presim::rng;

const NODES: usize = 1_000;
const MESSAGES: usize = 10_000;
const EVENTS: u64 = 1_000_000;

struct Arrive {
    link: u32,
    epoch: u32,
    msg: u64,
}

fn relay(events: u64) -> u64 {
    let mut net = Network::default();
    let nodes: Vec<_> = (0..NODES)
        .map(|i| net.add_node(format!("n{i}"), NodeKind::Server))
        .collect();
    let det = Detection {
        write_timeout: 30_000_000,
        keepalive_interval: None,
        keepalive_timeout: 0,
    };
    let links: Vec<_> = (0..NODES)
        .map(|i| {
            let model = LinkModel {
                latency: Dist::uniform(1_000, 50_000),
                bandwidth: None,
                detection: [det, det],
            };
            let l = net.add_link(
                format!("l{i}"),
                LinkKind::S2s,
                [nodes[i], nodes[(i + 1) % NODES]],
                model,
                rng::stream(1, &format!("l{i}")),
                None,
            );
            net.open(l);
            l
        })
        .collect();
    let mut queue = EventQueue::default();
    for m in 0..MESSAGES {
        let link = links[m % NODES];
        if let Transmit::Arrives { at, epoch } = net.transmit(link, 0, 0, 100, m as u64) {
            queue.push(
                at,
                Arrive {
                    link: link.index() as u32,
                    epoch,
                    msg: m as u64,
                },
            );
        }
    }
    let mut processed = 0;
    while let Some((now, ev)) = queue.pop() {
        processed += 1;
        if processed == events {
            break;
        }
        let link = links[ev.link as usize];
        if !net.arrive(link, 0, ev.epoch) {
            continue;
        }
        let next = links[(ev.link as usize + 1) % NODES];
        if let Transmit::Arrives { at, epoch } = net.transmit(next, 0, now, 100, ev.msg) {
            queue.push(
                at,
                Arrive {
                    link: next.index() as u32,
                    epoch,
                    msg: ev.msg,
                },
            );
        }
    }
    processed
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_loop");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    group.bench_function("relay_1M_events", |b| b.iter(|| relay(EVENTS)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
