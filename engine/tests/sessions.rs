//! Session lifecycle, presence broadcast and routing rules, asserted on the
//! exact stanzas the engine emits.

mod support;

use presim_engine::minidom::Element;
use presim_engine::roster::{RosterItem, Subscription};
use presim_engine::session::encode_plain;
use presim_engine::{ConnId, Input, Time};
use support::{render, sasl_auth, Harness};

const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);
const C3: ConnId = ConnId(3);

/// Makes romeo and juliet `both` contacts of each other.
fn befriend(h: &mut Harness) {
    for (node, contact) in [("romeo", "juliet@localhost"), ("juliet", "romeo@localhost")] {
        let account = h.server.store_mut().create(node, "pw");
        let item = RosterItem::new(Subscription::Both);
        account
            .roster
            .items
            .insert(presim_engine::jid::BareJid::new(contact).unwrap(), item);
    }
}

/// romeo (c1) and juliet (c2) on one server, subscribed both ways, online.
fn lovers() -> Harness {
    let mut h = Harness::new("localhost", false);
    befriend(&mut h);
    h.online(C1, "romeo", "home");
    h.online(C2, "juliet", "balcony");
    h.now = Time::from_secs(5);
    h
}

#[test]
fn initial_presence_probes_and_gets_answers_with_delay() {
    let mut h = Harness::new("localhost", false);
    befriend(&mut h);
    h.online(C1, "romeo", "home");
    h.now = Time::from_secs(3);
    h.login(C2, "juliet", "balcony");
    let out = h.send(C2, "<presence><show>away</show></presence>");
    assert_eq!(
        render(&out),
        vec![
            "client c2 <presence from='juliet@localhost/balcony'><show>away</show></presence>",
            "client c1 <presence from='juliet@localhost/balcony' to='romeo@localhost'><show>away</show></presence>",
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost/balcony'>\
             <delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-01-01T00:00:01Z'/></presence>",
        ]
    );
}

/// The presence a probe gets is the contact's latest, stamped with the
/// time the contact sent it rather than the time of the probe; two probes
/// get the same stamp.
#[test]
fn probes_get_the_latest_presence_stamped_when_it_was_sent() {
    let mut h = lovers();
    h.send(C1, "<presence><show>dnd</show></presence>");
    h.now = Time::from_secs(9);
    h.input(Input::ClientClosed { conn: C2 });
    let romeo_as_probed = "client c2 <presence from='romeo@localhost/home' to='juliet@localhost/balcony'>\
         <show>dnd</show><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-01-01T00:00:05Z'/></presence>";
    for at in [9, 12] {
        h.now = Time::from_secs(at);
        h.login(C2, "juliet", "balcony");
        let out = h.send(C2, "<presence/>");
        assert_eq!(
            render(&out).last().map(String::as_str),
            Some(romeo_as_probed),
            "at {at} s"
        );
        h.input(Input::ClientClosed { conn: C2 });
    }
}

#[test]
fn broken_connection_broadcasts_unavailable_with_reason() {
    let mut h = lovers();
    let out = h.input(Input::ClientBroken {
        conn: C1,
        reason: "connection timed out".into(),
    });
    assert_eq!(
        render(&out),
        vec![
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost' type='unavailable'>\
             <status>Disconnected: connection timed out</status></presence>"
        ]
    );
}

#[test]
fn clean_close_sends_plain_unavailable_and_no_echo() {
    let mut h = lovers();
    let out = h.input(Input::ClientClosed { conn: C1 });
    assert_eq!(
        render(&out),
        vec![
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost' type='unavailable'/>",
            "close c1 -",
        ]
    );
}

#[test]
fn resource_conflict_replaces_old_session() {
    let mut h = lovers();
    h.input(Input::ClientOpened { conn: C3 });
    let auth = sasl_auth("PLAIN", &encode_plain("romeo", "pw"));
    h.input(Input::ClientElement {
        conn: C3,
        element: auth,
    });
    h.input(Input::ClientOpened { conn: C3 });
    let out = h.send(C3, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>home</resource></bind></iq>");
    assert_eq!(
        render(&out),
        vec![
            "close c1 conflict",
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost' type='unavailable'>\
             <status>Disconnected: Replaced by new connection</status></presence>",
            "client c3 <iq id='b' type='result'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <jid>romeo@localhost/home</jid></bind></iq>",
        ]
    );
}

#[test]
fn directed_presence_gets_unavailable_on_logoff() {
    let mut h = Harness::new("localhost", false);
    h.online(C1, "romeo", "home");
    h.online(C2, "nurse", "kitchen");
    h.now = Time::from_secs(5);
    let out = h.send(
        C1,
        "<presence to='nurse@localhost'><status>psst</status></presence>",
    );
    assert_eq!(
        render(&out),
        vec!["client c2 <presence from='romeo@localhost/home' to='nurse@localhost'><status>psst</status></presence>"]
    );
    let out = h.send(C1, "<presence type='unavailable'/>");
    assert_eq!(
        render(&out),
        vec![
            "client c1 <presence from='romeo@localhost/home' type='unavailable'/>",
            "client c2 <presence from='romeo@localhost/home' to='nurse@localhost' type='unavailable'/>",
        ]
    );
}

#[test]
fn directed_presence_without_broadcast_is_withdrawn_on_disconnect() {
    let mut h = Harness::new("localhost", false);
    h.login(C1, "romeo", "home");
    h.online(C2, "nurse", "kitchen");
    h.send(C1, "<presence to='nurse@localhost/kitchen'/>");
    let out = h.input(Input::ClientBroken {
        conn: C1,
        reason: "reset".into(),
    });
    assert_eq!(
        render(&out),
        vec![
            "client c2 <presence from='romeo@localhost/home' to='nurse@localhost/kitchen' type='unavailable'>\
             <status>Disconnected: reset</status></presence>"
        ]
    );
}

#[test]
fn probe_from_non_subscriber_gets_unsubscribed() {
    let mut h = Harness::new("localhost", true);
    h.online(C1, "romeo", "home");
    h.peer_connected("capulet.example");
    let out = h.peer_sends(
        "<presence from='tybalt@capulet.example/street' to='romeo@localhost' type='probe'/>",
    );
    assert_eq!(
        render(&out),
        vec!["peer capulet.example <presence from='romeo@localhost' to='tybalt@capulet.example' type='unsubscribed'/>"]
    );
}

/// RFC 6121 §4.3.2: a probe for an account that does not exist is
/// answered `unsubscribed` and goes no further, recorded as dropped for
/// that reason.
#[test]
fn probe_for_an_unknown_user_gets_unsubscribed_and_is_dropped() {
    let mut h = Harness::new("localhost", true);
    h.peer_connected("capulet.example");
    let out = h.peer_sends(
        "<presence from='tybalt@capulet.example/street' to='nobody@localhost' type='probe'/>",
    );
    assert_eq!(
        render(&out),
        vec!["peer capulet.example <presence from='nobody@localhost' to='tybalt@capulet.example' type='unsubscribed'/>"]
    );
    let drops: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            presim_engine::Output::Event(presim_engine::Event::Dropped { stanza, reason }) => {
                Some((stanza.to_xml(), *reason))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        drops,
        vec![(
            "<presence from='tybalt@capulet.example/street' to='nobody@localhost' type='probe'/>"
                .to_string(),
            presim_engine::DropReason::NoSuchUser
        )]
    );
}

#[test]
fn probe_from_subscriber_with_no_available_resource_gets_unavailable() {
    let mut h = lovers();
    h.send(C1, "<presence type='unavailable'/>");
    let out = h.send(C2, "<presence to='romeo@localhost' type='probe'/>");
    assert_eq!(
        render(&out),
        vec!["client c2 <presence from='romeo@localhost' to='juliet@localhost/balcony' type='unavailable'/>"]
    );
}

#[test]
fn iq_to_offline_full_jid_is_service_unavailable() {
    let mut h = lovers();
    let out = h.send(
        C1,
        "<iq type='get' id='v' to='juliet@localhost/gone'><query xmlns='jabber:iq:version'/></iq>",
    );
    assert_eq!(
        render(&out),
        vec![
            "client c1 <iq from='juliet@localhost/gone' id='v' to='romeo@localhost/home' type='error'>\
             <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ]
    );
}

#[test]
fn remote_domain_without_federation_is_remote_server_not_found() {
    let mut h = lovers();
    let out = h.send(
        C1,
        "<message to='mercutio@verona.example' id='m1'><body>x</body></message>",
    );
    assert_eq!(
        render(&out),
        vec![
            "client c1 <message from='mercutio@verona.example' id='m1' to='romeo@localhost/home' type='error'>\
             <error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Server-to-server connections are disabled</text>\
             </error></message>"
        ]
    );
}

#[test]
fn groupchat_to_bare_jid_is_service_unavailable() {
    let mut h = lovers();
    let out = h.send(
        C1,
        "<message to='juliet@localhost' type='groupchat' id='g'><body>x</body></message>",
    );
    assert_eq!(render(&out).len(), 1);
    assert!(render(&out)[0].contains("type='error'><error type='cancel'><service-unavailable"));
}

#[test]
fn message_to_unknown_account_bounces() {
    let mut h = lovers();
    let out = h.send(
        C1,
        "<message to='ghost@localhost' id='m'><body>x</body></message>",
    );
    assert_eq!(
        render(&out),
        vec![
            "client c1 <message from='ghost@localhost' id='m' to='romeo@localhost/home' type='error'>\
             <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ]
    );
}

#[test]
fn malformed_stanzas_get_rfc6120_errors() {
    let mut h = lovers();
    let cases = [
        (
            "<message to='a@b@c'/>",
            "jid-malformed",
            "The destination address is invalid: a@b@c",
        ),
        (
            "<iq type='fetch' id='1'><query xmlns='q'/></iq>",
            "bad-request",
            "Invalid IQ type",
        ),
        (
            "<iq type='get'><query xmlns='q'/></iq>",
            "bad-request",
            "Missing required 'id' attribute",
        ),
        (
            "<iq type='get' id='2'/>",
            "bad-request",
            "Incorrect number of children for IQ stanza",
        ),
        (
            "<iq type='get' id='3'><a xmlns='q'/><b xmlns='q'/></iq>",
            "bad-request",
            "Incorrect number of children for IQ stanza",
        ),
        (
            "<presence type='bogus' to='juliet@localhost'/>",
            "bad-request",
            "Invalid presence type",
        ),
        (
            "<presence type='subscribe'/>",
            "bad-request",
            "Invalid presence type",
        ),
    ];
    for (input, condition, text) in cases {
        let out = render(&h.send(C1, input));
        assert_eq!(out.len(), 1, "{input}: {out:?}");
        assert!(out[0].starts_with("client c1 <"), "{input}: {out:?}");
        assert!(
            out[0].contains(&format!(
                "<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            )),
            "{input}: {out:?}"
        );
        assert!(
            out[0].contains(&format!(">{text}</text>")),
            "{input}: {out:?}"
        );
    }
}

#[test]
fn roster_set_errors() {
    let mut h = lovers();
    let cases = [
        ("<item jid='a@localhost/res'/>", "bad-request"),
        ("<item jid='romeo@localhost'/>", "not-allowed"),
        ("<item/>", "bad-request"),
        (
            "<item jid='a@localhost'/><item jid='b@localhost'/>",
            "bad-request",
        ),
        (
            "<item jid='a@localhost'><group>x</group><group>x</group></item>",
            "bad-request",
        ),
        ("<item jid='a@localhost'><group/></item>", "not-acceptable"),
        (
            "<item jid='nobody@localhost' subscription='remove'/>",
            "item-not-found",
        ),
    ];
    for (items, condition) in cases {
        let out = render(&h.send(
            C1,
            &format!("<iq type='set' id='s'><query xmlns='jabber:iq:roster'>{items}</query></iq>"),
        ));
        assert_eq!(out.len(), 1, "{items}: {out:?}");
        assert!(
            out[0].contains(&format!("<{condition} xmlns=")),
            "{items}: {out:?}"
        );
    }
}

#[test]
fn roster_get_with_current_version_is_empty() {
    let mut h = lovers();
    let out = render(&h.send(
        C1,
        "<iq type='get' id='r'><query xmlns='jabber:iq:roster' ver='1'/></iq>",
    ));
    assert_eq!(
        out,
        vec!["client c1 <iq id='r' to='romeo@localhost/home' type='result'/>"]
    );
    let out = render(&h.send(
        C1,
        "<iq type='get' id='r'><query xmlns='jabber:iq:roster' ver='0'/></iq>",
    ));
    assert_eq!(
        out,
        vec![
            "client c1 <iq id='r' to='romeo@localhost/home' type='result'><query xmlns='jabber:iq:roster' ver='1'>\
             <item jid='juliet@localhost' subscription='both'/></query></iq>"
        ]
    );
}

#[test]
fn server_disco_lists_features() {
    let mut h = lovers();
    let out = render(&h.send(C1, "<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"));
    assert_eq!(
        out,
        vec![
            "client c1 <iq from='localhost' id='d' to='romeo@localhost/home' type='result'>\
             <query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' name='presim' type='im'/>\
             <feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/>\
             <feature var='http://jabber.org/protocol/invisibility'/><feature var='jabber:iq:privacy'/><feature var='jabber:iq:roster'/><feature var='msgoffline'/><feature var='urn:xmpp:blocking'/><feature var='urn:xmpp:delay'/>\
             <feature var='urn:xmpp:ping'/></query></iq>"
        ]
    );
}

#[test]
fn stream_level_garbage_closes_the_stream_without_panic() {
    let mut h = lovers();
    let out = h.input(Input::ClientElement {
        conn: C1,
        element: Element::bare("nonsense", "urn:x"),
    });
    let out = render(&out);
    assert_eq!(out[0], "close c1 unsupported-stanza-type");
    assert!(out[1].contains("<status>Disconnected: unsupported-stanza-type</status>"));
    // Elements before authentication, and for unknown connections.
    let out = render(&h.input(Input::ClientOpened { conn: ConnId(9) }));
    assert!(out[0].contains("<mechanism>PLAIN</mechanism>"));
    let out = render(&h.input(Input::ClientElement {
        conn: ConnId(9),
        element: Element::bare("presence", "jabber:client"),
    }));
    assert_eq!(out, vec!["close c9 not-authorized"]);
    assert!(render(&h.input(Input::ClientElement {
        conn: ConnId(77),
        element: Element::bare("x", "y")
    }))
    .is_empty());
}

#[test]
fn sasl_rejects_malformed_and_unknown_mechanisms() {
    let mut h = Harness::new("localhost", false);
    h.input(Input::ClientOpened { conn: C1 });
    for (mech, text, condition) in [
        ("PLAIN", "!!!", "malformed-request"),
        ("DIGEST-MD5", "", "invalid-mechanism"),
    ] {
        let auth = sasl_auth(mech, text);
        let out = render(&h.input(Input::ClientElement {
            conn: C1,
            element: auth,
        }));
        assert_eq!(
            out,
            vec![format!(
                "client c1 <failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/></failure>"
            )]
        );
    }
}

#[test]
fn passwords_are_checked_when_configured() {
    let mut h = Harness::new("localhost", false);
    let mut config = h.server.config().clone();
    config.check_passwords = true;
    config.auto_create_accounts = false;
    h.server = presim_engine::Server::new(config);
    h.server.store_mut().create("romeo", "secret");
    h.input(Input::ClientOpened { conn: C1 });
    let auth = sasl_auth("PLAIN", &encode_plain("romeo", "wrong"));
    let out = render(&h.input(Input::ClientElement {
        conn: C1,
        element: auth.clone(),
    }));
    assert_eq!(out, vec!["client c1 <failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"]);
    let auth = sasl_auth("PLAIN", &encode_plain("romeo", "secret"));
    let out = render(&h.input(Input::ClientElement {
        conn: C1,
        element: auth,
    }));
    assert_eq!(
        out,
        vec!["client c1 <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"]
    );
}
