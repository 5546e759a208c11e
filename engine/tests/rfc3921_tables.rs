//! Every row of the subscription tables of RFC 3921 §9.2 and §9.3 (plus
//! outbound `subscribe` and `unsubscribe`, which RFC 3921 §9.2 says are
//! always routed), each asserting the exact roster pushes, routed stanzas
//! and deliveries the engine produces, and the state it leaves.
//!
//! The user is romeo@a.example with one interested, available session
//! (c1, resource `home`); the contact is juliet@b.example on a peer server,
//! so routed stanzas show up as `peer b.example ...` and inbound ones arrive
//! from the peer.
//!
//! Beyond the tables, and as Prosody does: an inbound `subscribe` is
//! acknowledged with an unavailable presence; an approval is followed by the
//! user's presence (and a probe when the user is subscribed to the contact);
//! a cancellation by unavailable presence; an outbound `subscribed` without
//! a pending request stores a pre-approval (RFC 6121 §3.4), which is pushed
//! but not routed; an inbound `unsubscribe` gets no automatic reply.

mod support;

use presim_engine::jid::BareJid;
use presim_engine::roster::{RosterItem, SubState, Subscription};
use presim_engine::xml::parse_client_xml;
use presim_engine::{ConnId, Time};
use std::sync::Arc;
use support::{render, Harness};

const C1: ConnId = ConnId(1);

fn state(sub: Subscription, pending_out: bool, pending_in: bool) -> SubState {
    SubState {
        subscription: sub,
        pending_out,
        pending_in,
    }
}

const N: Subscription = Subscription::None;
const T: Subscription = Subscription::To;
const F: Subscription = Subscription::From;
const B: Subscription = Subscription::Both;

fn juliet() -> BareJid {
    BareJid::new("juliet@b.example").unwrap()
}

/// Sets up romeo's relation with juliet in the given state and applies one
/// subscription stanza; returns the rendered outputs and the new state.
fn apply(initial: SubState, inbound: bool, type_: &str) -> (Vec<String>, SubState) {
    let mut h = Harness::new("a.example", true);
    h.online(C1, "romeo", "home");
    h.peer_connected("b.example");
    let roster = &mut h.server.store_mut().account_mut("romeo").unwrap().roster;
    roster.items.insert(
        juliet(),
        RosterItem::new(initial.subscription).with_ask(initial.pending_out),
    );
    if initial.pending_in {
        let request = parse_client_xml("<presence type='subscribe'/>").unwrap();
        roster.pending_in.insert(juliet(), Arc::new(request.into()));
    }
    h.now = Time::from_secs(2);
    let out = if inbound {
        h.peer_sends(&format!(
            "<presence from='juliet@b.example/balcony' to='romeo@a.example' type='{type_}'/>"
        ))
    } else {
        h.send(
            C1,
            &format!("<presence to='juliet@b.example' type='{type_}'/>"),
        )
    };
    let after = h
        .server
        .store()
        .account("romeo")
        .unwrap()
        .roster
        .state(&juliet());
    (render(&out), after)
}

fn push(sub: &str, ask: bool) -> String {
    let ask = if ask { "ask='subscribe' " } else { "" };
    format!(
        "push c1 <item xmlns='jabber:iq:roster' {ask}jid='juliet@b.example' subscription='{sub}'/>"
    )
}

fn peer(type_: &str) -> String {
    format!(
        "peer b.example <presence from='romeo@a.example' to='juliet@b.example' type='{type_}'/>"
    )
}

fn client(type_: &str) -> String {
    format!("client c1 <presence from='juliet@b.example' to='romeo@a.example' type='{type_}'/>")
}

/// Romeo's stored presence, replayed to juliet (sent at t=1 s).
fn romeo_presence() -> String {
    "peer b.example <presence from='romeo@a.example/home' to='juliet@b.example'>\
     <delay xmlns='urn:xmpp:delay' from='a.example' stamp='2026-01-01T00:00:01Z'/></presence>"
        .to_string()
}

fn romeo_unavailable() -> String {
    "peer b.example <presence from='romeo@a.example/home' to='juliet@b.example' type='unavailable'/>".to_string()
}

macro_rules! rows {
    ($($name:ident: $inbound:expr, $type_:expr, $before:expr => $after:expr, [$($out:expr),* $(,)?];)*) => {$(
        #[test]
        fn $name() {
            let (out, after) = apply($before, $inbound, $type_);
            let expected: Vec<String> = vec![$($out),*];
            assert_eq!(out, expected, "outputs from {}", $before);
            assert_eq!(after, $after, "state after {} from {}", $type_, $before);
        }
    )*};
}

const OUT: bool = false;
const IN: bool = true;

// Table 1: outbound "subscribed".
rows! {
    t1_none: OUT, "subscribed", state(N, false, false) => state(N, false, false), [push("none", false)];
    t1_none_pending_out: OUT, "subscribed", state(N, true, false) => state(N, true, false), [push("none", true)];
    t1_none_pending_in: OUT, "subscribed", state(N, false, true) => state(F, false, false),
        [push("from", false), peer("subscribed"), romeo_presence()];
    t1_none_pending_out_in: OUT, "subscribed", state(N, true, true) => state(F, true, false),
        [push("from", true), peer("subscribed"), romeo_presence()];
    t1_to: OUT, "subscribed", state(T, false, false) => state(T, false, false), [push("to", false)];
    t1_to_pending_in: OUT, "subscribed", state(T, false, true) => state(B, false, false),
        [push("both", false), peer("subscribed"), romeo_presence(), peer("probe")];
    t1_from: OUT, "subscribed", state(F, false, false) => state(F, false, false), [];
    t1_from_pending_out: OUT, "subscribed", state(F, true, false) => state(F, true, false), [];
    t1_both: OUT, "subscribed", state(B, false, false) => state(B, false, false), [];
}

// Table 2: outbound "unsubscribed".
rows! {
    t2_none: OUT, "unsubscribed", state(N, false, false) => state(N, false, false), [];
    t2_none_pending_out: OUT, "unsubscribed", state(N, true, false) => state(N, true, false), [];
    t2_none_pending_in: OUT, "unsubscribed", state(N, false, true) => state(N, false, false), [peer("unsubscribed")];
    t2_none_pending_out_in: OUT, "unsubscribed", state(N, true, true) => state(N, true, false), [peer("unsubscribed")];
    t2_to: OUT, "unsubscribed", state(T, false, false) => state(T, false, false), [];
    t2_to_pending_in: OUT, "unsubscribed", state(T, false, true) => state(T, false, false), [peer("unsubscribed")];
    t2_from: OUT, "unsubscribed", state(F, false, false) => state(N, false, false),
        [push("none", false), peer("unsubscribed"), romeo_unavailable()];
    t2_from_pending_out: OUT, "unsubscribed", state(F, true, false) => state(N, true, false),
        [push("none", true), peer("unsubscribed"), romeo_unavailable()];
    t2_both: OUT, "unsubscribed", state(B, false, false) => state(T, false, false),
        [push("to", false), peer("unsubscribed"), romeo_unavailable()];
}

// Outbound "subscribe": always routed (RFC 3921 §9.2), always pushed.
rows! {
    out_subscribe_none: OUT, "subscribe", state(N, false, false) => state(N, true, false), [push("none", true), peer("subscribe")];
    out_subscribe_none_pending_out: OUT, "subscribe", state(N, true, false) => state(N, true, false), [push("none", true), peer("subscribe")];
    out_subscribe_none_pending_in: OUT, "subscribe", state(N, false, true) => state(N, true, true), [push("none", true), peer("subscribe")];
    out_subscribe_none_pending_out_in: OUT, "subscribe", state(N, true, true) => state(N, true, true), [push("none", true), peer("subscribe")];
    out_subscribe_to: OUT, "subscribe", state(T, false, false) => state(T, false, false), [push("to", false), peer("subscribe")];
    out_subscribe_to_pending_in: OUT, "subscribe", state(T, false, true) => state(T, false, true), [push("to", false), peer("subscribe")];
    out_subscribe_from: OUT, "subscribe", state(F, false, false) => state(F, true, false), [push("from", true), peer("subscribe")];
    out_subscribe_from_pending_out: OUT, "subscribe", state(F, true, false) => state(F, true, false), [push("from", true), peer("subscribe")];
    out_subscribe_both: OUT, "subscribe", state(B, false, false) => state(B, false, false), [push("both", false), peer("subscribe")];
}

// Outbound "unsubscribe": always routed (RFC 3921 §9.2), always pushed.
rows! {
    out_unsubscribe_none: OUT, "unsubscribe", state(N, false, false) => state(N, false, false), [push("none", false), peer("unsubscribe")];
    out_unsubscribe_none_pending_out: OUT, "unsubscribe", state(N, true, false) => state(N, false, false), [push("none", false), peer("unsubscribe")];
    out_unsubscribe_none_pending_in: OUT, "unsubscribe", state(N, false, true) => state(N, false, true), [push("none", false), peer("unsubscribe")];
    out_unsubscribe_none_pending_out_in: OUT, "unsubscribe", state(N, true, true) => state(N, false, true), [push("none", false), peer("unsubscribe")];
    out_unsubscribe_to: OUT, "unsubscribe", state(T, false, false) => state(N, false, false), [push("none", false), peer("unsubscribe")];
    out_unsubscribe_to_pending_in: OUT, "unsubscribe", state(T, false, true) => state(N, false, true), [push("none", false), peer("unsubscribe")];
    out_unsubscribe_from: OUT, "unsubscribe", state(F, false, false) => state(F, false, false), [push("from", false), peer("unsubscribe")];
    out_unsubscribe_from_pending_out: OUT, "unsubscribe", state(F, true, false) => state(F, false, false), [push("from", false), peer("unsubscribe")];
    out_unsubscribe_both: OUT, "unsubscribe", state(B, false, false) => state(F, false, false), [push("from", false), peer("unsubscribe")];
}

// Table 3: inbound "subscribe".
rows! {
    t3_none: IN, "subscribe", state(N, false, false) => state(N, false, true), [peer("unavailable"), client("subscribe")];
    t3_none_pending_out: IN, "subscribe", state(N, true, false) => state(N, true, true), [peer("unavailable"), client("subscribe")];
    t3_none_pending_in: IN, "subscribe", state(N, false, true) => state(N, false, true), [peer("unavailable")];
    t3_none_pending_out_in: IN, "subscribe", state(N, true, true) => state(N, true, true), [peer("unavailable")];
    t3_to: IN, "subscribe", state(T, false, false) => state(T, false, true), [peer("unavailable"), client("subscribe")];
    t3_to_pending_in: IN, "subscribe", state(T, false, true) => state(T, false, true), [peer("unavailable")];
    t3_from: IN, "subscribe", state(F, false, false) => state(F, false, false), [peer("subscribed"), romeo_presence()];
    t3_from_pending_out: IN, "subscribe", state(F, true, false) => state(F, true, false), [peer("subscribed"), romeo_presence()];
    t3_both: IN, "subscribe", state(B, false, false) => state(B, false, false), [peer("subscribed"), romeo_presence()];
}

// Table 4: inbound "unsubscribe".
rows! {
    t4_none: IN, "unsubscribe", state(N, false, false) => state(N, false, false), [];
    t4_none_pending_out: IN, "unsubscribe", state(N, true, false) => state(N, true, false), [];
    t4_none_pending_in: IN, "unsubscribe", state(N, false, true) => state(N, false, false), [client("unsubscribe"), push("none", false)];
    t4_none_pending_out_in: IN, "unsubscribe", state(N, true, true) => state(N, true, false), [client("unsubscribe"), push("none", true)];
    t4_to: IN, "unsubscribe", state(T, false, false) => state(T, false, false), [];
    t4_to_pending_in: IN, "unsubscribe", state(T, false, true) => state(T, false, false), [client("unsubscribe"), push("to", false)];
    t4_from: IN, "unsubscribe", state(F, false, false) => state(N, false, false), [client("unsubscribe"), push("none", false)];
    t4_from_pending_out: IN, "unsubscribe", state(F, true, false) => state(N, true, false), [client("unsubscribe"), push("none", true)];
    t4_both: IN, "unsubscribe", state(B, false, false) => state(T, false, false), [client("unsubscribe"), push("to", false)];
}

// Table 5: inbound "subscribed".
rows! {
    t5_none: IN, "subscribed", state(N, false, false) => state(N, false, false), [];
    t5_none_pending_out: IN, "subscribed", state(N, true, false) => state(T, false, false), [client("subscribed"), push("to", false)];
    t5_none_pending_in: IN, "subscribed", state(N, false, true) => state(N, false, true), [];
    t5_none_pending_out_in: IN, "subscribed", state(N, true, true) => state(T, false, true), [client("subscribed"), push("to", false)];
    t5_to: IN, "subscribed", state(T, false, false) => state(T, false, false), [];
    t5_to_pending_in: IN, "subscribed", state(T, false, true) => state(T, false, true), [];
    t5_from: IN, "subscribed", state(F, false, false) => state(F, false, false), [];
    t5_from_pending_out: IN, "subscribed", state(F, true, false) => state(B, false, false), [client("subscribed"), push("both", false)];
    t5_both: IN, "subscribed", state(B, false, false) => state(B, false, false), [];
}

// Table 6: inbound "unsubscribed".
rows! {
    t6_none: IN, "unsubscribed", state(N, false, false) => state(N, false, false), [];
    t6_none_pending_out: IN, "unsubscribed", state(N, true, false) => state(N, false, false), [client("unsubscribed"), push("none", false)];
    t6_none_pending_in: IN, "unsubscribed", state(N, false, true) => state(N, false, true), [];
    t6_none_pending_out_in: IN, "unsubscribed", state(N, true, true) => state(N, false, true), [client("unsubscribed"), push("none", false)];
    t6_to: IN, "unsubscribed", state(T, false, false) => state(N, false, false), [client("unsubscribed"), push("none", false)];
    t6_to_pending_in: IN, "unsubscribed", state(T, false, true) => state(N, false, true), [client("unsubscribed"), push("none", false)];
    t6_from: IN, "unsubscribed", state(F, false, false) => state(F, false, false), [];
    t6_from_pending_out: IN, "unsubscribed", state(F, true, false) => state(F, false, false), [client("unsubscribed"), push("from", false)];
    t6_both: IN, "unsubscribed", state(B, false, false) => state(F, false, false), [client("unsubscribed"), push("from", false)];
}
