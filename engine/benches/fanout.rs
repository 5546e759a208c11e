//! Presence fan-out: one user with 1,000 `both` contacts, each with one
//! available session, changes presence. Reports the engine's cost per
//! delivered stanza and the heap allocations per delivery, counted over
//! mimalloc, the allocator of the `presim` binary.
//!
//! Run: `cargo bench -p presim-engine --bench fanout`

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mimalloc::MiMalloc;
use presim_engine::jid::BareJid;
use presim_engine::roster::{RosterItem, Subscription};
use presim_engine::session::encode_plain;
use presim_engine::xml::{self, NS_SASL};
use presim_engine::{ConnId, Input, Output, Server, ServerConfig, Time};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONTACTS: usize = 1_000;

fn login(server: &mut Server, conn: ConnId, node: &str) {
    let mut out = Vec::new();
    server.handle_into(Time::ZERO, Input::ClientOpened { conn }, &mut out);
    let mut auth = xml::element("auth", NS_SASL, &[("mechanism", "PLAIN")]);
    auth.append_text(encode_plain(node, "pw"));
    server.handle_into(
        Time::ZERO,
        Input::ClientElement {
            conn,
            element: auth,
        },
        &mut out,
    );
    server.handle_into(Time::ZERO, Input::ClientOpened { conn }, &mut out);
    let bind = xml::parse_client_xml(
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>",
    )
    .unwrap();
    server.handle_into(
        Time::ZERO,
        Input::ClientElement {
            conn,
            element: bind,
        },
        &mut out,
    );
    let presence = xml::parse_client_xml("<presence/>").unwrap();
    server.handle_into(
        Time::ZERO,
        Input::ClientElement {
            conn,
            element: presence,
        },
        &mut out,
    );
}

/// The user (connection 0) and its contacts (connections 1..=N), all online.
fn setup() -> Server {
    let mut server = Server::new(ServerConfig::new("bench.example"));
    let both = RosterItem::new(Subscription::Both);
    let user = BareJid::new("user@bench.example").unwrap();
    for i in 0..CONTACTS {
        let node = format!("contact{i:04}");
        let contact = BareJid::new(&format!("{node}@bench.example")).unwrap();
        server
            .store_mut()
            .create("user", "pw")
            .roster
            .items
            .insert(contact, both.clone());
        server
            .store_mut()
            .create(&node, "pw")
            .roster
            .items
            .insert(user.clone(), both.clone());
    }
    for i in 0..CONTACTS {
        login(&mut server, ConnId(i as u64 + 1), &format!("contact{i:04}"));
    }
    login(&mut server, ConnId(0), "user");
    server
}

fn delivered(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::ToClient { .. }))
        .count()
}

fn bench_fanout(c: &mut Criterion) {
    let mut server = setup();
    let changes = [
        xml::parse_client_xml("<presence><show>away</show><status>Out</status></presence>")
            .unwrap(),
        xml::parse_client_xml("<presence/>").unwrap(),
    ];
    let mut out = Vec::with_capacity(CONTACTS + 8);
    // One presence change: the echo plus one delivery per contact.
    server.handle_into(
        Time::from_secs(1),
        Input::ClientElement {
            conn: ConnId(0),
            element: changes[0].clone(),
        },
        &mut out,
    );
    let per_change = delivered(&out);
    assert_eq!(per_change, CONTACTS + 1);
    out.clear();
    let input = Input::ClientElement {
        conn: ConnId(0),
        element: changes[1].clone(),
    };
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    server.handle_into(Time::from_secs(2), input, &mut out);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!(
        "fanout: {per_change} deliveries per presence change, {allocations} allocations ({:.2} per delivery)",
        allocations as f64 / per_change as f64
    );
    out.clear();

    let mut group = c.benchmark_group("presence_fanout");
    group.throughput(Throughput::Elements(per_change as u64));
    let mut i = 0usize;
    group.bench_function("1000_contacts", |b| {
        b.iter(|| {
            i += 1;
            let element = changes[i % 2].clone();
            server.handle_into(
                Time::from_secs(3),
                Input::ClientElement {
                    conn: ConnId(0),
                    element,
                },
                &mut out,
            );
            out.clear();
        })
    });
    group.finish();
}

criterion_group!(benches, bench_fanout);
criterion_main!(benches);
