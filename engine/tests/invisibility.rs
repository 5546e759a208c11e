//! XEP-0186 (0.4) invisibility, one test per example and rule of §3, on
//! the exact stanzas the engine emits.

mod support;

use presim_engine::{ConnId, Event, Input, Time};
use support::{befriend, events, render, Harness};

const ROMEO: ConnId = ConnId(1);
const JULIET: ConnId = ConnId(2);
const NURSE: ConnId = ConnId(3);
const ROMEO2: ConnId = ConnId(4);

const INVISIBLE: &str =
    "<iq type='set' id='inv1'><invisible xmlns='http://jabber.org/protocol/invisibility'/></iq>";
const VISIBLE: &str =
    "<iq type='set' id='vis1'><visible xmlns='http://jabber.org/protocol/invisibility'/></iq>";

/// romeo and juliet are `both` contacts and online; the nurse (no
/// subscription) is logged in and available.
fn household() -> Harness {
    let mut h = Harness::new("localhost", false);
    befriend(&mut h, "romeo", "juliet");
    h.online(ROMEO, "romeo", "home");
    h.online(JULIET, "juliet", "balcony");
    h.online(NURSE, "nurse", "kitchen");
    h.now = Time::from_secs(5);
    h
}

#[test]
fn the_server_advertises_the_feature() {
    let mut h = household();
    let out = render(&h.send(
        ROMEO,
        "<iq type='get' id='disco1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    ));
    assert!(
        out[0].contains("<feature var='http://jabber.org/protocol/invisibility'/>"),
        "{out:?}"
    );
}

#[test]
fn going_invisible_after_initial_presence_sends_unavailable_to_those_who_had_it() {
    let mut h = household();
    h.send(ROMEO, "<presence to='nurse@localhost'/>");
    let out = h.send(ROMEO, INVISIBLE);
    assert_eq!(
        render(&out),
        vec![
            "client c1 <iq id='inv1' to='romeo@localhost/home' type='result'/>",
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost' type='unavailable'/>",
            "client c3 <presence from='romeo@localhost/home' to='nurse@localhost' type='unavailable'/>",
        ]
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::Invisibility {
            invisible: true,
            ..
        }
    )));
}

#[test]
fn going_invisible_before_initial_presence_sends_nothing() {
    let mut h = household();
    h.login(ROMEO2, "romeo", "garden");
    let out = h.send(ROMEO2, INVISIBLE);
    assert_eq!(
        render(&out),
        vec!["client c4 <iq id='inv1' to='romeo@localhost/garden' type='result'/>"]
    );
    // Its initial presence is reflected, and it gets its contacts'
    // presence, but nobody learns of it.
    let out = render(&h.send(ROMEO2, "<presence/>"));
    assert_eq!(
        out[0],
        "client c4 <presence from='romeo@localhost/garden'/>"
    );
    assert!(
        out.iter()
            .all(|l| !l.starts_with("client c2") && !l.starts_with("client c1")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("client c4 <presence from='juliet@localhost/balcony'")),
        "{out:?}"
    );
}

#[test]
fn undirected_presence_while_invisible_is_broadcast_to_no_one() {
    let mut h = household();
    h.send(ROMEO, INVISIBLE);
    let out = h.send(ROMEO, "<presence><show>away</show></presence>");
    assert_eq!(
        render(&out),
        vec!["client c1 <presence from='romeo@localhost/home'><show>away</show></presence>"]
    );
}

#[test]
fn directed_presence_is_delivered_and_unavailable_goes_only_to_its_recipients() {
    let mut h = household();
    h.send(ROMEO, INVISIBLE);
    // To a contact too: remembered, as she gets no broadcast.
    let out = h.send(
        ROMEO,
        "<presence to='juliet@localhost'><show>chat</show></presence>",
    );
    assert_eq!(
        render(&out),
        vec!["client c2 <presence from='romeo@localhost/home' to='juliet@localhost'><show>chat</show></presence>"]
    );
    let out = h.send(ROMEO, "<presence type='unavailable'/>");
    assert_eq!(
        render(&out),
        vec![
            "client c1 <presence from='romeo@localhost/home' type='unavailable'/>",
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost' type='unavailable'/>",
        ]
    );
}

#[test]
fn inbound_presence_messages_and_iqs_are_delivered_while_invisible() {
    let mut h = household();
    h.send(ROMEO, INVISIBLE);
    let out = h.send(JULIET, "<presence><show>dnd</show></presence>");
    assert!(render(&out).contains(
        &"client c1 <presence from='juliet@localhost/balcony' to='romeo@localhost'><show>dnd</show></presence>".to_string()
    ));
    let out = h.send(
        JULIET,
        "<message type='chat' to='romeo@localhost'><body>hi</body></message>",
    );
    assert_eq!(
        render(&out),
        vec!["client c1 <message from='juliet@localhost/balcony' to='romeo@localhost' type='chat'><body>hi</body></message>"]
    );
    let out = h.send(
        JULIET,
        "<iq type='get' id='p' to='romeo@localhost/home'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    assert_eq!(
        render(&out),
        vec!["client c1 <iq from='juliet@localhost/balcony' id='p' to='romeo@localhost/home' type='get'><ping xmlns='urn:xmpp:ping'/></iq>"]
    );
}

#[test]
fn a_probe_is_answered_as_if_the_session_were_offline() {
    let mut h = household();
    h.send(ROMEO, INVISIBLE);
    h.input(Input::ClientClosed { conn: JULIET });
    h.login(JULIET, "juliet", "chamber");
    let out = render(&h.send(JULIET, "<presence/>"));
    assert!(
        out.contains(&"client c2 <presence from='romeo@localhost' to='juliet@localhost/chamber' type='unavailable'/>".to_string()),
        "{out:?}"
    );
    assert!(
        out.iter()
            .all(|l| !l.contains("from='romeo@localhost/home'")),
        "{out:?}"
    );
    // The user's own new resource does not see it either.
    h.login(ROMEO2, "romeo", "garden");
    let out = render(&h.send(ROMEO2, "<presence/>"));
    assert!(
        out.iter()
            .all(|l| !l.contains("from='romeo@localhost/home'")),
        "{out:?}"
    );
}

#[test]
fn becoming_visible_makes_the_next_presence_initial_and_reaches_directed_recipients() {
    let mut h = household();
    h.send(ROMEO, INVISIBLE);
    h.send(ROMEO, "<presence to='nurse@localhost'/>");
    let out = h.send(ROMEO, VISIBLE);
    assert_eq!(
        render(&out),
        vec!["client c1 <iq id='vis1' to='romeo@localhost/home' type='result'/>"]
    );
    let out = render(&h.send(ROMEO, "<presence><show>chat</show></presence>"));
    assert_eq!(
        &out[..3],
        &[
            "client c1 <presence from='romeo@localhost/home'><show>chat</show></presence>".to_string(),
            "client c2 <presence from='romeo@localhost/home' to='juliet@localhost'><show>chat</show></presence>".to_string(),
            "client c3 <presence from='romeo@localhost/home' to='nurse@localhost'><show>chat</show></presence>".to_string(),
        ]
    );
    // Initial presence again: juliet is probed and answers.
    assert!(
        out.iter().any(|l| l.starts_with(
            "client c1 <presence from='juliet@localhost/balcony' to='romeo@localhost/home'>"
        )),
        "{out:?}"
    );
}

#[test]
fn invisibility_is_not_carried_over_to_a_new_session() {
    let mut h = household();
    h.send(ROMEO, INVISIBLE);
    h.input(Input::ClientClosed { conn: ROMEO });
    h.login(ROMEO2, "romeo", "home");
    let out = render(&h.send(ROMEO2, "<presence/>"));
    assert!(
        out.contains(
            &"client c2 <presence from='romeo@localhost/home' to='juliet@localhost'/>".to_string()
        ),
        "{out:?}"
    );
}

#[test]
fn logging_off_while_invisible_tells_only_the_directed_recipients() {
    let mut h = household();
    h.send(ROMEO, INVISIBLE);
    h.send(ROMEO, "<presence to='nurse@localhost'/>");
    let out = h.input(Input::ClientClosed { conn: ROMEO });
    let lines: Vec<String> = render(&out)
        .into_iter()
        .filter(|l| l.starts_with("client"))
        .collect();
    assert_eq!(
        lines,
        vec!["client c3 <presence from='romeo@localhost/home' to='nurse@localhost' type='unavailable'/>"]
    );
}
