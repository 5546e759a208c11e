//! Nothing a client sends can crash the engine: every combination of stanza
//! name, type, address and payload below is fed to bound and unbound
//! connections, and the server must keep answering afterwards. Nothing a
//! bound session sends disappears either: each stanza is delivered,
//! answered, bounced, stored offline, queued for a peer, or recorded as
//! dropped with its reason.

mod support;

use presim_engine::xml::parse_client_xml;
use presim_engine::{ConnId, Event, Input, Output};
use support::Harness;

const NAMES: &[&str] = &["message", "presence", "iq"];
const TYPES: &[&str] = &[
    "",
    "type='get'",
    "type='set'",
    "type='result'",
    "type='error'",
    "type='chat'",
    "type='groupchat'",
    "type='headline'",
    "type='subscribe'",
    "type='subscribed'",
    "type='unsubscribe'",
    "type='unsubscribed'",
    "type='probe'",
    "type='unavailable'",
    "type='bogus'",
];
const ADDRESSES: &[&str] = &[
    "",
    "to='romeo@localhost'",
    "to='romeo@localhost/home'",
    "to='juliet@localhost'",
    "to='localhost'",
    "to='ghost@localhost/x'",
    "to='other.example'",
    "to='a@other.example/r'",
    "to=''",
    "to='@@'",
    "from='spoof@localhost' to='juliet@localhost'",
    "to='juliet@localhost/balcony'",
];
const PAYLOADS: &[&str] = &[
    "",
    "<query xmlns='jabber:iq:roster'/>",
    "<query xmlns='jabber:iq:roster'><item/></query>",
    "<query xmlns='jabber:iq:roster'><item jid='x@y' subscription='remove'/></query>",
    "<query xmlns='jabber:iq:roster'><item jid='@@'/></query>",
    "<query xmlns='http://jabber.org/protocol/disco#info' node='n'/>",
    "<ping xmlns='urn:xmpp:ping'/>",
    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>",
    "<priority>99999999999</priority><show>xa</show>",
    "<priority>-129</priority>",
    "<a xmlns='x'/><b xmlns='y'/>",
    "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
];

#[test]
fn arbitrary_stanzas_never_panic() {
    let mut h = Harness::new("localhost", true);
    // Streams to peers open at once, so what is routed to a peer goes out
    // with the input that routed it, instead of waiting in a queue.
    h.auto_connect_peers = true;
    h.online(ConnId(1), "romeo", "home");
    h.online(ConnId(2), "juliet", "balcony");
    h.input(Input::ClientOpened { conn: ConnId(3) });
    let mut sent = 0;
    let mut vanished = Vec::new();
    for name in NAMES {
        for type_ in TYPES {
            for address in ADDRESSES {
                for payload in PAYLOADS {
                    let text = format!("<{name} id='x' {type_} {address}>{payload}</{name}>");
                    let Ok(element) = parse_client_xml(&text) else {
                        continue;
                    };
                    for conn in [ConnId(1), ConnId(3), ConnId(99)] {
                        let out = h.input(Input::ClientElement {
                            conn,
                            element: element.clone(),
                        });
                        if conn == ConnId(1) && !out.iter().any(|o| accounts_for(o, &element)) {
                            vanished.push(text.clone());
                        }
                        sent += 1;
                    }
                }
            }
        }
    }
    assert!(sent > 10_000, "only {sent} inputs were generated");
    assert_eq!(vanished, Vec::<String>::new(), "stanzas with no outcome");
    // Romeo's session survived every stanza and still gets its echo.
    let out = h.send(ConnId(1), "<presence/>");
    assert!(
        matches!(
            &out[0],
            Output::ToClient {
                conn: ConnId(1),
                ..
            }
        ),
        "{out:?}"
    );
}

/// The output says what became of `input`, a stanza with id `x`: a copy
/// or an answer carrying its id went to a client or a peer, a stream to a
/// peer is being opened for it, the session was closed for it, or it was
/// stored offline or dropped with a reason. A probe's answer is presence
/// from the probed entity, which carries no id (RFC 6121 §4.3.2): its
/// presence, or `unsubscribed` to a prober not subscribed to it, which the
/// prober's own server drops when it changes no state (RFC 6121 §3.3.3).
fn accounts_for(output: &Output, input: &presim_engine::minidom::Element) -> bool {
    let probed = (input.name() == "presence" && input.attr("type") == Some("probe"))
        .then(|| input.attr("to"))
        .flatten()
        .and_then(|to| presim_engine::jid::Jid::new(to).ok())
        .map(|to| to.to_bare());
    let answers = |stanza: &presim_engine::Stanza| {
        stanza.id() == Some("x")
            || probed.as_ref().is_some_and(|probed| {
                stanza.payload().name() == "presence"
                    && stanza.from.as_ref().map(|f| f.to_bare()).as_ref() == Some(probed)
            })
    };
    match output {
        Output::ToClient { stanza, .. } | Output::ToPeer { stanza, .. } => answers(stanza),
        Output::ConnectPeer { .. } | Output::CloseClient { .. } => true,
        Output::Event(Event::Dropped { stanza, .. } | Event::OfflineStored { stanza, .. }) => {
            answers(stanza)
        }
        _ => false,
    }
}
