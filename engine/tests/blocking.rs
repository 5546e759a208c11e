//! XEP-0191 blocking, asserted on the exact stanzas the engine emits: the
//! list and its pushes, the presence sent on block and unblock, what a
//! blocked JID can no longer send or receive, and malformed requests.

mod support;

use presim_engine::{ConnId, Event, ServerConfig, Time};
use support::{befriend, drop_reasons, events, render, Harness};

const ROMEO: ConnId = ConnId(1);
const JULIET: ConnId = ConnId(2);
const ROMEO2: ConnId = ConnId(3);
const NURSE: ConnId = ConnId(4);

/// romeo and juliet, `both` contacts, online; romeo has fetched his block
/// list.
fn lovers_with(config: ServerConfig) -> Harness {
    let mut h = Harness::with_config(config);
    befriend(&mut h, "romeo", "juliet");
    h.online(ROMEO, "romeo", "home");
    h.online(JULIET, "juliet", "balcony");
    h.send(
        ROMEO,
        "<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>",
    );
    h.now = Time::from_secs(5);
    h
}

fn lovers() -> Harness {
    lovers_with(ServerConfig::new("localhost"))
}

const BLOCK_JULIET: &str =
    "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='juliet@localhost'/></block></iq>";

fn blocklist(h: &mut Harness, conn: ConnId) -> Vec<String> {
    render(&h.send(
        conn,
        "<iq type='get' id='g'><blocklist xmlns='urn:xmpp:blocking'/></iq>",
    ))
}

#[test]
fn the_list_starts_empty_and_lists_what_was_blocked() {
    let mut h = lovers();
    assert_eq!(
        blocklist(&mut h, ROMEO),
        vec!["client c1 <iq id='g' to='romeo@localhost/home' type='result'><blocklist xmlns='urn:xmpp:blocking'/></iq>"]
    );
    h.send(
        ROMEO,
        "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='Nurse@LocalHost'/><item jid='capulet.lit'/></block></iq>",
    );
    assert_eq!(
        blocklist(&mut h, ROMEO),
        vec!["client c1 <iq id='g' to='romeo@localhost/home' type='result'><blocklist xmlns='urn:xmpp:blocking'>\
              <item jid='capulet.lit'/><item jid='nurse@localhost'/></blocklist></iq>"]
    );
}

#[test]
fn blocking_a_subscriber_sends_unavailable_and_pushes_to_interested_sessions_only() {
    let mut h = lovers();
    // A second resource that never fetched the list gets no push.
    h.online(ROMEO2, "romeo", "garden");
    let out = h.send(ROMEO, BLOCK_JULIET);
    assert_eq!(
        render(&out),
        vec![
            "client c1 <iq id='b1' to='romeo@localhost/home' type='result'/>",
            // Each available resource, in resource order.
            "client c2 <presence from='romeo@localhost/garden' to='juliet@localhost' type='unavailable'/>",
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost' type='unavailable'/>",
            "client c1 <iq id='blocklist-push' to='romeo@localhost/home' type='set'>\
             <block xmlns='urn:xmpp:blocking'><item jid='juliet@localhost'/></block></iq>",
        ]
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::Blocklist { jid, blocked: true, .. } if jid == "juliet@localhost"
    )));
    // Blocking again sends no second unavailable.
    let again = render(&h.send(ROMEO, BLOCK_JULIET));
    assert_eq!(again.len(), 2, "{again:?}");
}

#[test]
fn stanzas_to_a_blocked_jid_are_refused_with_not_acceptable() {
    let mut h = lovers();
    h.send(ROMEO, BLOCK_JULIET);
    let out = h.send(
        ROMEO,
        "<message type='chat' to='juliet@localhost' id='m1'><body>hello?</body></message>",
    );
    assert_eq!(
        render(&out),
        vec![
            "client c1 <message from='juliet@localhost' id='m1' to='romeo@localhost/home' type='error'>\
             <error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>You have blocked this JID</text>\
             <blocked xmlns='urn:xmpp:blocking:errors'/></error></message>"
        ]
    );
    let out = h.send(ROMEO, "<presence to='juliet@localhost/balcony'/>");
    assert!(
        render(&out)[0].contains("<not-acceptable"),
        "{:?}",
        render(&out)
    );
    let out = h.send(
        ROMEO,
        "<iq type='get' id='v' to='juliet@localhost/balcony'><query xmlns='jabber:iq:version'/></iq>",
    );
    assert!(
        render(&out)[0].contains("<not-acceptable"),
        "{:?}",
        render(&out)
    );
    // Errors and results to a blocked JID are dropped without a word.
    let out = h.send(
        ROMEO,
        "<iq type='result' id='x' to='juliet@localhost/balcony'/>",
    );
    assert_eq!(render(&out), Vec::<String>::new());
    assert_eq!(drop_reasons(&out), vec!["blocked"]);
}

#[test]
fn presence_broadcasts_skip_a_blocked_subscriber_without_an_error() {
    let mut h = lovers();
    h.send(ROMEO, BLOCK_JULIET);
    let out = h.send(ROMEO, "<presence><show>away</show></presence>");
    assert_eq!(
        render(&out),
        vec!["client c1 <presence from='romeo@localhost/home'><show>away</show></presence>"]
    );
    assert_eq!(drop_reasons(&out), vec!["blocked"]);
}

#[test]
fn nothing_from_a_blocked_jid_reaches_the_user() {
    let mut h = lovers();
    h.send(ROMEO, BLOCK_JULIET);
    // Presence: dropped, no error.
    let out = h.send(JULIET, "<presence><show>dnd</show></presence>");
    assert_eq!(
        render(&out),
        vec!["client c2 <presence from='juliet@localhost/balcony'><show>dnd</show></presence>"]
    );
    assert_eq!(drop_reasons(&out), vec!["blocked"]);
    // A chat message to the bare JID: service-unavailable from the bare JID.
    let out = h.send(JULIET, "<message type='chat' to='romeo@localhost'/>");
    assert_eq!(
        render(&out),
        vec![
            "client c2 <message from='romeo@localhost' to='juliet@localhost/balcony' type='error'>\
             <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ]
    );
    // To an online full JID, or a headline: dropped (Prosody #690).
    for message in [
        "<message type='chat' to='romeo@localhost/home'/>",
        "<message type='headline' to='romeo@localhost'/>",
    ] {
        let out = h.send(JULIET, message);
        assert_eq!(render(&out), Vec::<String>::new(), "{message}");
        assert_eq!(drop_reasons(&out), vec!["blocked"], "{message}");
    }
    // IQ get: service-unavailable.
    let out = h.send(
        JULIET,
        "<iq type='get' id='q' to='romeo@localhost/home'><query xmlns='jabber:iq:version'/></iq>",
    );
    assert!(
        render(&out)[0].contains("<service-unavailable"),
        "{:?}",
        render(&out)
    );
}

#[test]
fn without_bounce_blocked_messages_messages_are_dropped() {
    let mut config = ServerConfig::new("localhost");
    config.bounce_blocked_messages = false;
    let mut h = lovers_with(config);
    h.send(ROMEO, BLOCK_JULIET);
    let out = h.send(JULIET, "<message type='chat' to='romeo@localhost'/>");
    assert_eq!(render(&out), Vec::<String>::new());
    assert_eq!(drop_reasons(&out), vec!["blocked"]);
}

#[test]
fn unblocking_sends_the_current_presence_then_the_push() {
    let mut h = lovers();
    h.send(ROMEO, BLOCK_JULIET);
    let out = h.send(
        ROMEO,
        "<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='juliet@localhost'/></unblock></iq>",
    );
    assert_eq!(
        render(&out),
        vec![
            "client c1 <iq id='u1' to='romeo@localhost/home' type='result'/>",
            // romeo is subscribed to juliet: she is probed, as her presence
            // was refused while she was blocked.
            "client c1 <presence from='juliet@localhost/balcony' to='romeo@localhost'>\
             <delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-01-01T00:00:01Z'/></presence>",
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost'>\
             <delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-01-01T00:00:01Z'/></presence>",
            "client c1 <iq id='blocklist-push' to='romeo@localhost/home' type='set'>\
             <unblock xmlns='urn:xmpp:blocking'><item jid='juliet@localhost'/></unblock></iq>",
        ]
    );
    // And they can talk again.
    let out = h.send(JULIET, "<message type='chat' to='romeo@localhost'/>");
    assert_eq!(
        render(&out),
        vec![
            "client c1 <message from='juliet@localhost/balcony' to='romeo@localhost' type='chat'/>"
        ]
    );
}

#[test]
fn unblocking_everyone_clears_the_list_and_sends_presence_to_each_subscriber() {
    let mut h = lovers();
    befriend(&mut h, "romeo", "nurse");
    h.online(NURSE, "nurse", "kitchen");
    h.send(
        ROMEO,
        "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='juliet@localhost'/><item jid='nurse@localhost'/></block></iq>",
    );
    let out = h.send(
        ROMEO,
        "<iq type='set' id='ua'><unblock xmlns='urn:xmpp:blocking'/></iq>",
    );
    let lines = render(&out);
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(
        lines[0],
        "client c1 <iq id='ua' to='romeo@localhost/home' type='result'/>"
    );
    // Each one's presence, probed, then romeo's to each.
    let starts = [
        "client c1 <presence from='juliet@localhost/balcony' to='romeo@localhost'>",
        "client c1 <presence from='nurse@localhost/kitchen' to='romeo@localhost'>",
        "client c2 <presence from='romeo@localhost/home' to='juliet@localhost'>",
        "client c4 <presence from='romeo@localhost/home' to='nurse@localhost'>",
    ];
    for (line, start) in lines[1..5].iter().zip(starts) {
        assert!(line.starts_with(start), "{line}");
    }
    assert_eq!(
        lines[5],
        "client c1 <iq id='blocklist-push' to='romeo@localhost/home' type='set'><unblock xmlns='urn:xmpp:blocking'/></iq>"
    );
    assert_eq!(
        blocklist(&mut h, ROMEO),
        vec!["client c1 <iq id='g' to='romeo@localhost/home' type='result'><blocklist xmlns='urn:xmpp:blocking'/></iq>"]
    );
}

#[test]
fn blocking_a_domain_reaches_every_subscriber_there_but_never_the_users_own_resources() {
    let mut h = lovers();
    h.online(ROMEO2, "romeo", "garden");
    let out = h.send(
        ROMEO,
        "<iq type='set' id='d'><block xmlns='urn:xmpp:blocking'><item jid='localhost'/></block></iq>",
    );
    let lines = render(&out);
    assert!(lines.contains(
        &"client c2 <presence from='romeo@localhost/home' to='juliet@localhost' type='unavailable'/>".to_string()
    ));
    let out = h.send(ROMEO, "<presence><show>chat</show></presence>");
    assert_eq!(
        render(&out),
        vec![
            "client c1 <presence from='romeo@localhost/home'><show>chat</show></presence>",
            "client c3 <presence from='romeo@localhost/home' to='romeo@localhost/garden'><show>chat</show></presence>",
        ]
    );
}

#[test]
fn blocking_drops_a_pending_subscription_request_from_that_jid() {
    let mut h = lovers();
    h.login(NURSE, "nurse", "kitchen");
    h.send(NURSE, "<presence type='subscribe' to='romeo@localhost'/>");
    assert!(
        h.server
            .store()
            .account("romeo")
            .unwrap()
            .roster
            .pending_in
            .len()
            == 1
    );
    h.send(
        ROMEO,
        "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='nurse@localhost'/></block></iq>",
    );
    assert!(h
        .server
        .store()
        .account("romeo")
        .unwrap()
        .roster
        .pending_in
        .is_empty());
    // A new request from the blocked JID is dropped too.
    let out = h.send(NURSE, "<presence type='subscribe' to='romeo@localhost'/>");
    assert_eq!(drop_reasons(&out), vec!["blocked"]);
    assert!(h
        .server
        .store()
        .account("romeo")
        .unwrap()
        .roster
        .pending_in
        .is_empty());
}

#[test]
fn malformed_requests_get_the_errors_the_xep_names_and_change_nothing() {
    let mut h = lovers();
    let out = h.send(
        ROMEO,
        "<iq type='set' id='e1'><block xmlns='urn:xmpp:blocking'/></iq>",
    );
    assert_eq!(
        render(&out),
        vec![
            "client c1 <iq id='e1' to='romeo@localhost/home' type='error'><error type='modify'>\
             <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ]
    );
    let out = h.send(
        ROMEO,
        "<iq type='set' id='e2'><block xmlns='urn:xmpp:blocking'><item jid='nurse@localhost'/><item jid='a@b@c'/></block></iq>",
    );
    assert_eq!(
        render(&out),
        vec![
            "client c1 <iq id='e2' to='romeo@localhost/home' type='error'><error type='modify'>\
             <jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ]
    );
    assert!(h
        .server
        .store()
        .account("romeo")
        .unwrap()
        .privacy()
        .blocklist()
        .is_empty());
    let out = h.send(
        ROMEO,
        "<iq type='get' id='e3'><block xmlns='urn:xmpp:blocking'><item jid='nurse@localhost'/></block></iq>",
    );
    assert!(render(&out)[0].contains("<service-unavailable"));
    assert!(h
        .server
        .store()
        .account("romeo")
        .unwrap()
        .privacy()
        .blocklist()
        .is_empty());
}

#[test]
fn the_list_survives_the_session() {
    let mut h = lovers();
    h.send(ROMEO, BLOCK_JULIET);
    h.input(presim_engine::Input::ClientClosed { conn: ROMEO });
    h.online(ROMEO2, "romeo", "again");
    let out = h.send(JULIET, "<message type='chat' to='romeo@localhost'/>");
    assert!(render(&out)[0].contains("<service-unavailable"));
}
