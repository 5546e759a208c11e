//! Nothing a client sends can crash the engine: every combination of stanza
//! name, type, address and payload below is fed to bound and unbound
//! connections, and the server must keep answering afterwards.

mod support;

use presim_engine::xml::parse_client_xml;
use presim_engine::{ConnId, Input, Output};
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
    h.online(ConnId(1), "romeo", "home");
    h.online(ConnId(2), "juliet", "balcony");
    h.input(Input::ClientOpened { conn: ConnId(3) });
    let mut sent = 0;
    for name in NAMES {
        for type_ in TYPES {
            for address in ADDRESSES {
                for payload in PAYLOADS {
                    let text = format!("<{name} id='x' {type_} {address}>{payload}</{name}>");
                    let Ok(element) = parse_client_xml(&text) else {
                        continue;
                    };
                    for conn in [ConnId(1), ConnId(3), ConnId(99)] {
                        h.input(Input::ClientElement {
                            conn,
                            element: element.clone(),
                        });
                        sent += 1;
                    }
                }
            }
        }
    }
    assert!(sent > 10_000, "only {sent} inputs were generated");
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
