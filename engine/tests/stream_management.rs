//! XEP-0198 stream management (enable, acknowledgements, hibernation,
//! resumption, expiry) and the XEP-0310 §3.2 connection-paused
//! annotations, driven through the engine's inputs with the people of
//! XEP-0310's examples: benvolio@montague.lit/lane pauses, and
//! romeo@montague.lit/lane holds his presence.

mod support;

use presim_engine::jid::BareJid;
use presim_engine::roster::Subscription;
use presim_engine::{ConnId, Event, Input, Output, ServerConfig, Time, Timer};
use support::{caps_presence, drop_reasons, events, psa_info, render, Harness};

const ROMEO: ConnId = ConnId(1);
const BENVOLIO: ConnId = ConnId(2);
const BENVOLIO_AGAIN: ConnId = ConnId(3);
const MERCUTIO: ConnId = ConnId(4);

const SM: &str = "urn:xmpp:sm:3";
const STATUS: &str = "He ran this way, and leap'd this orchard wall";

fn montague() -> Harness {
    let mut config = ServerConfig::new("montague.lit");
    config.federation = true;
    config.psa = true;
    config.stream_management = true;
    Harness::with_config(config)
}

/// `user` and `contact` are subscribed to each other (`both`).
fn befriend(h: &mut Harness, user: &str, contact: &str) {
    for (a, b) in [(user, contact), (contact, user)] {
        let Some(account) = h.server.store_mut().account_mut(a) else {
            h.server.store_mut().create(a, "pw");
            return befriend(h, user, contact);
        };
        let jid = BareJid::new(b).unwrap();
        account
            .roster
            .items
            .get_or_insert_default(&jid)
            .subscription = Subscription::Both;
    }
}

/// Logs in at `conn` and enables stream management with resumption;
/// returns the resumption id.
fn login_with_sm(h: &mut Harness, conn: ConnId, node: &str, resource: &str) -> String {
    h.login(conn, node, resource);
    let out = h.send(conn, &format!("<enable xmlns='{SM}' resume='true'/>"));
    let lines = render(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let id = lines[0]
        .split("id='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("enabled with an id")
        .to_string();
    assert_eq!(
        lines[0],
        format!(
            "client c{} <enabled xmlns='{SM}' id='{id}' max='600' resume='true'/>",
            conn.0
        )
    );
    id
}

/// Romeo online and opted in to annotations; Benvolio online with stream
/// management and his status; both subscribed to each other.
fn romeo_and_benvolio(h: &mut Harness) -> String {
    befriend(h, "romeo", "benvolio@montague.lit");
    befriend(h, "benvolio", "romeo@montague.lit");
    h.login(ROMEO, "romeo", "lane");
    h.send(
        ROMEO,
        "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>",
    );
    let out = h.send(ROMEO, &caps_presence(&psa_info()));
    h.answer_caps_query(ROMEO, &out, &psa_info());
    let id = login_with_sm(h, BENVOLIO, "benvolio", "lane");
    h.send(
        BENVOLIO,
        &format!("<presence><status>{STATUS}</status></presence>"),
    );
    h.send(BENVOLIO, "<a xmlns='urn:xmpp:sm:3' h='2'/>");
    id
}

fn broken(h: &mut Harness, conn: ConnId) -> Vec<Output> {
    h.input(Input::ClientBroken {
        conn,
        reason: "Connection timed out (no reply to ping)".into(),
    })
}

/// `<resume/>` of session `id` at `conn`, having handled `handled` stanzas.
fn resume(h: &mut Harness, conn: ConnId, id: &str, handled: u32) -> Vec<String> {
    render(&h.send(
        conn,
        &format!("<resume xmlns='{SM}' previd='{id}' h='{handled}'/>"),
    ))
}

/// Opens a new stream for `node` at `conn`, authenticated, not bound.
fn authenticated(h: &mut Harness, conn: ConnId, node: &str) -> Vec<String> {
    h.input(Input::ClientOpened { conn });
    let auth = support::sasl_auth("PLAIN", &presim_engine::session::encode_plain(node, "pw"));
    h.input(Input::ClientElement {
        conn,
        element: auth,
    });
    render(&h.input(Input::ClientOpened { conn }))
}

#[test]
fn stream_management_is_offered_after_authentication_only() {
    let mut h = montague();
    let before = render(&h.input(Input::ClientOpened { conn: ROMEO }));
    assert!(!before[0].contains(SM), "{before:?}");
    let after = authenticated(&mut h, MERCUTIO, "mercutio");
    assert!(
        after[0].contains("<sm xmlns='urn:xmpp:sm:3'><optional/></sm>"),
        "{after:?}"
    );
    let mut off = Harness::new("montague.lit", false);
    let after = authenticated(&mut off, MERCUTIO, "mercutio");
    assert!(!after[0].contains(SM), "{after:?}");
}

#[test]
fn enable_needs_a_bound_resource_and_works_once() {
    let mut h = montague();
    authenticated(&mut h, MERCUTIO, "mercutio");
    let unexpected = "client c4 <failed xmlns='urn:xmpp:sm:3'>\
        <unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>";
    assert_eq!(
        render(&h.send(MERCUTIO, &format!("<enable xmlns='{SM}'/>"))),
        vec![unexpected]
    );
    let bind = "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
    h.send(MERCUTIO, bind);
    assert_eq!(
        render(&h.send(MERCUTIO, &format!("<enable xmlns='{SM}'/>"))),
        vec!["client c4 <enabled xmlns='urn:xmpp:sm:3'/>"]
    );
    assert_eq!(
        render(&h.send(MERCUTIO, &format!("<enable xmlns='{SM}'/>"))),
        vec![unexpected]
    );
}

#[test]
fn r_is_answered_with_the_stanzas_handled_since_enable() {
    let mut h = montague();
    login_with_sm(&mut h, MERCUTIO, "mercutio", "x");
    assert_eq!(
        render(&h.send(MERCUTIO, &format!("<r xmlns='{SM}'/>"))),
        vec!["client c4 <a xmlns='urn:xmpp:sm:3' h='0'/>"]
    );
    h.send(
        MERCUTIO,
        "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    h.send(
        MERCUTIO,
        "<message to='nobody@verona.lit'><body>x</body></message>",
    );
    assert_eq!(
        render(&h.send(MERCUTIO, &format!("<r xmlns='{SM}'/>"))),
        vec!["client c4 <a xmlns='urn:xmpp:sm:3' h='2'/>"]
    );
}

#[test]
fn the_server_asks_for_an_ack_after_a_burst_and_forgets_what_is_acked() {
    let mut h = montague();
    login_with_sm(&mut h, MERCUTIO, "mercutio", "x");
    let out = render(&h.send(
        MERCUTIO,
        "<iq type='get' id='p' to='montague.lit'><ping xmlns='urn:xmpp:ping'/></iq>",
    ));
    assert_eq!(
        out,
        vec![
            "client c4 <iq from='montague.lit' id='p' to='mercutio@montague.lit/x' type='result'/>",
            "client c4 <r xmlns='urn:xmpp:sm:3'/>",
        ]
    );
    // Awaiting the ack: no second <r/>.
    let out = render(&h.send(
        MERCUTIO,
        "<iq type='get' id='q' to='montague.lit'><ping xmlns='urn:xmpp:ping'/></iq>",
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    // One of two acknowledged: one still out, so another <r/>.
    assert_eq!(
        render(&h.send(MERCUTIO, &format!("<a xmlns='{SM}' h='1'/>"))),
        vec!["client c4 <r xmlns='urn:xmpp:sm:3'/>"]
    );
    assert!(render(&h.send(MERCUTIO, &format!("<a xmlns='{SM}' h='2'/>"))).is_empty());
}

#[test]
fn acking_more_than_was_sent_is_a_stream_error() {
    let mut h = montague();
    login_with_sm(&mut h, MERCUTIO, "mercutio", "x");
    let out = h.send(MERCUTIO, &format!("<a xmlns='{SM}' h='5'/>"));
    let close = out.iter().find_map(|o| match o {
        Output::CloseClient { error, .. } => error.clone(),
        _ => None,
    });
    let close = close.expect("stream error");
    assert_eq!(close.condition, "undefined-condition");
    assert_eq!(
        close.text.as_deref(),
        Some("Client acknowledged more stanzas than sent by server")
    );
    let mut h = montague();
    login_with_sm(&mut h, MERCUTIO, "mercutio", "x");
    let out = h.send(MERCUTIO, &format!("<a xmlns='{SM}'/>"));
    assert_eq!(render(&out), vec!["close c4 invalid-xml"]);
}

#[test]
fn a_broken_resumable_session_hibernates_and_contacts_see_no_unavailable() {
    let mut h = montague();
    romeo_and_benvolio(&mut h);
    h.now = Time::from_secs(10);
    let out = broken(&mut h, BENVOLIO);
    let lines = render(&out);
    assert!(
        lines.contains(&format!(
            "timer {} Hibernation(ConnId(2))",
            Time::from_secs(610)
        )),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("unavailable")),
        "{lines:?}"
    );
    assert!(events(&out)
        .iter()
        .any(|e| matches!(e, Event::SessionPaused { jid, .. } if jid.as_str() == "benvolio@montague.lit/lane")));
    // A message for him is kept, not written.
    let out = h.send(
        ROMEO,
        "<message to='benvolio@montague.lit/lane' id='m1' type='chat'><body>where?</body></message>",
    );
    assert!(!render(&out).iter().any(|l| l.starts_with("client c2")));
}

#[test]
fn resumption_re_sends_what_was_not_acknowledged_with_its_delay() {
    let mut h = montague();
    let id = romeo_and_benvolio(&mut h);
    h.now = Time::from_secs(10);
    broken(&mut h, BENVOLIO);
    h.now = Time::from_secs(20);
    h.send(
        ROMEO,
        "<message to='benvolio@montague.lit/lane' id='m1' type='chat'><body>where?</body></message>",
    );
    h.now = Time::from_secs(30);
    authenticated(&mut h, BENVOLIO_AGAIN, "benvolio");
    let out = h.send(
        BENVOLIO_AGAIN,
        &format!("<resume xmlns='{SM}' previd='{id}' h='2'/>"),
    );
    let lines = render(&out);
    assert_eq!(
        lines,
        vec![
            format!("client c3 <resumed xmlns='urn:xmpp:sm:3' h='1' previd='{id}'/>"),
            "client c3 <message from='romeo@montague.lit/lane' id='m1' to='benvolio@montague.lit/lane' type='chat'>\
             <body>where?</body>\
             <delay xmlns='urn:xmpp:delay' from='benvolio@montague.lit' stamp='2026-01-01T00:00:20Z'/></message>"
                .to_string(),
            "client c3 <r xmlns='urn:xmpp:sm:3'/>".to_string(),
            // XEP-0310 §3.2: the empty annotation, addressed as Benvolio's
            // presence broadcasts are (to the contact's bare JID).
            format!(
                "client c1 <presence from='benvolio@montague.lit/lane' to='romeo@montague.lit'>\
                 <status>{STATUS}</status><state-annotation xmlns='urn:xmpp:psa' from='montague.lit'/></presence>"
            ),
        ]
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::SessionResumed { conn, previous, .. } if *conn == BENVOLIO_AGAIN && *previous == BENVOLIO
    )));
    // The session lives on at the new connection.
    let out = h.send(
        ROMEO,
        "<message to='benvolio@montague.lit/lane' id='m2'><body>there</body></message>",
    );
    assert!(render(&out)[0].starts_with("client c3 <message"), "{out:?}");
    // Its hibernation timer is void.
    h.now = Time::from_secs(610);
    let out = h.input(Input::TimerFired {
        timer: Timer::Hibernation(BENVOLIO),
    });
    assert!(out.is_empty(), "{:?}", render(&out));
}

#[test]
fn pausing_annotates_the_presence_held_by_opted_in_contacts_only() {
    let mut h = montague();
    romeo_and_benvolio(&mut h);
    // Mercutio holds Benvolio's presence too, but did not ask for annotations.
    befriend(&mut h, "mercutio", "benvolio@montague.lit");
    befriend(&mut h, "benvolio", "mercutio@montague.lit");
    h.online(MERCUTIO, "mercutio", "x");
    h.now = Time::from_secs(10);
    let out = broken(&mut h, BENVOLIO);
    let paused = format!(
        "<presence from='benvolio@montague.lit/lane' to='romeo@montague.lit'>\
         <status>{STATUS}</status><state-annotation xmlns='urn:xmpp:psa' from='montague.lit'>\
         <connection-paused/><description>benvolio's session has been paused</description>\
         </state-annotation></presence>"
    );
    assert_eq!(
        render(&out),
        vec![
            format!("timer {} Hibernation(ConnId(2))", Time::from_secs(610)),
            format!("client c1 {paused}"),
        ]
    );
    assert_eq!(drop_reasons(&out), vec!["annotation-not-requested"]);
    let annotated: Vec<_> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Annotated {
                to,
                about,
                annotation,
            } => Some((to.to_string(), about.to_string(), *annotation)),
            _ => None,
        })
        .collect();
    assert_eq!(
        annotated,
        vec![(
            "romeo@montague.lit/lane".to_string(),
            "benvolio@montague.lit/lane".to_string(),
            Some(presim_engine::Annotation::ConnectionPaused)
        )]
    );
}

#[test]
fn remote_contacts_get_the_paused_presence_over_s2s() {
    let mut h = montague();
    h.auto_connect_peers = true;
    romeo_and_benvolio(&mut h);
    befriend(&mut h, "benvolio", "juliet@capulet.lit");
    h.now = Time::from_secs(10);
    let out = render(&broken(&mut h, BENVOLIO));
    assert!(
        out.contains(&format!(
            "peer capulet.lit <presence from='benvolio@montague.lit/lane' to='juliet@capulet.lit'>\
             <status>{STATUS}</status><state-annotation xmlns='urn:xmpp:psa' from='montague.lit'>\
             <connection-paused/><description>benvolio's session has been paused</description>\
             </state-annotation></presence>"
        )),
        "{out:?}"
    );
}

#[test]
fn a_session_that_hibernates_too_long_ends_with_unavailable_presence() {
    let mut h = montague();
    let id = romeo_and_benvolio(&mut h);
    h.now = Time::from_secs(10);
    broken(&mut h, BENVOLIO);
    h.now = Time::from_secs(20);
    h.send(
        ROMEO,
        "<message to='benvolio@montague.lit/lane' id='m1' type='chat'><body>where?</body></message>",
    );
    h.now = Time::from_secs(610);
    let out = h.input(Input::TimerFired {
        timer: Timer::Hibernation(BENVOLIO),
    });
    // XEP-0310 §3.2: on timeout, ordinary unavailable presence. The
    // unacknowledged message goes to offline storage (his last session).
    assert_eq!(
        render(&out),
        vec![
            "client c1 <presence from='benvolio@montague.lit/lane' to='romeo@montague.lit' type='unavailable'>\
             <status>Disconnected: Hibernating too long</status></presence>"
        ]
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::OfflineStored { user, .. } if user.as_str() == "benvolio@montague.lit"
    )));
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::SessionEnded {
            reason: presim_engine::EndReason::HibernationExpired,
            ..
        }
    )));
    // Too late to resume: item-not-found with the h the server had.
    authenticated(&mut h, BENVOLIO_AGAIN, "benvolio");
    assert_eq!(
        resume(&mut h, BENVOLIO_AGAIN, &id, 2),
        vec![
            "client c3 <failed xmlns='urn:xmpp:sm:3' h='1'>\
              <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        ]
    );
    // Asked once; then the id is unknown.
    assert_eq!(
        resume(&mut h, BENVOLIO_AGAIN, &id, 2),
        vec![
            "client c3 <failed xmlns='urn:xmpp:sm:3'>\
              <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        ]
    );
}

#[test]
fn unacknowledged_presence_is_bounced_when_the_session_ends() {
    let mut h = montague();
    romeo_and_benvolio(&mut h);
    h.now = Time::from_secs(10);
    broken(&mut h, BENVOLIO);
    h.send(ROMEO, "<presence><show>away</show></presence>");
    h.now = Time::from_secs(610);
    let out = render(&h.input(Input::TimerFired {
        timer: Timer::Hibernation(BENVOLIO),
    }));
    // As Prosody's mod_smacks: an error reply from where it was sent (the
    // broadcast went to Benvolio's bare JID).
    assert_eq!(
        out[0],
        "client c1 <presence from='benvolio@montague.lit' to='romeo@montague.lit/lane' type='error'>\
         <error type='cancel'><recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         </error></presence>"
    );
}

#[test]
fn a_clean_close_ends_the_session_at_once() {
    let mut h = montague();
    let id = romeo_and_benvolio(&mut h);
    let out = render(&h.input(Input::ClientClosed { conn: BENVOLIO }));
    assert!(
        out.contains(&"client c1 <presence from='benvolio@montague.lit/lane' to='romeo@montague.lit' type='unavailable'/>".to_string()),
        "{out:?}"
    );
    authenticated(&mut h, BENVOLIO_AGAIN, "benvolio");
    assert_eq!(
        resume(&mut h, BENVOLIO_AGAIN, &id, 0),
        vec![
            "client c3 <failed xmlns='urn:xmpp:sm:3'>\
              <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        ]
    );
}

#[test]
fn only_the_owner_can_resume_a_session() {
    let mut h = montague();
    let id = romeo_and_benvolio(&mut h);
    broken(&mut h, BENVOLIO);
    authenticated(&mut h, MERCUTIO, "mercutio");
    assert_eq!(
        resume(&mut h, MERCUTIO, &id, 0),
        vec![
            "client c4 <failed xmlns='urn:xmpp:sm:3'>\
              <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        ]
    );
}

#[test]
fn binding_the_resource_of_a_hibernating_session_replaces_it_without_a_close() {
    let mut h = montague();
    romeo_and_benvolio(&mut h);
    broken(&mut h, BENVOLIO);
    h.input(Input::ClientOpened {
        conn: BENVOLIO_AGAIN,
    });
    let out = {
        authenticated(&mut h, BENVOLIO_AGAIN, "benvolio");
        h.send(
            BENVOLIO_AGAIN,
            "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>lane</resource></bind></iq>",
        )
    };
    let lines = render(&out);
    assert!(
        !lines.iter().any(|l| l.starts_with("close c2")),
        "{lines:?}"
    );
    assert!(lines.contains(&"client c1 <presence from='benvolio@montague.lit/lane' to='romeo@montague.lit' type='unavailable'>\
        <status>Disconnected: Replaced by new connection</status></presence>".to_string()), "{lines:?}");
}

#[test]
fn resuming_with_an_h_behind_the_last_ack_fails_and_ends_the_session() {
    let mut h = montague();
    let id = romeo_and_benvolio(&mut h);
    broken(&mut h, BENVOLIO);
    authenticated(&mut h, BENVOLIO_AGAIN, "benvolio");
    let out = h.send(
        BENVOLIO_AGAIN,
        &format!("<resume xmlns='{SM}' previd='{id}' h='1'/>"),
    );
    let lines = render(&out);
    assert_eq!(
        lines[..2],
        [
            format!("client c3 <failed xmlns='urn:xmpp:sm:3' h='1' previd='{id}'/>"),
            "close c3 undefined-condition".to_string(),
        ]
    );
    let error = out.iter().find_map(|o| match o {
        Output::CloseClient { error, .. } => error.clone(),
        _ => None,
    });
    assert_eq!(
        error.and_then(|e| e.text),
        Some("Client acknowledged less stanzas than already acknowledged".to_string())
    );
    assert!(lines.contains(
        &"client c1 <presence from='benvolio@montague.lit/lane' to='romeo@montague.lit' type='unavailable'>\
          <status>Disconnected: undefined-condition</status></presence>"
            .to_string()
    ));
}

#[test]
fn a_session_whose_queue_overflowed_cannot_be_resumed() {
    let mut config = ServerConfig::new("montague.lit");
    config.stream_management = true;
    config.sm_queue_limit = 2;
    let mut h = Harness::with_config(config);
    let id = login_with_sm(&mut h, BENVOLIO, "benvolio", "lane");
    broken(&mut h, BENVOLIO);
    h.login(ROMEO, "romeo", "lane");
    for i in 0..3 {
        h.send(
            ROMEO,
            &format!(
                "<message to='benvolio@montague.lit/lane' id='m{i}'><body>{i}</body></message>"
            ),
        );
    }
    authenticated(&mut h, BENVOLIO_AGAIN, "benvolio");
    let out = h.send(
        BENVOLIO_AGAIN,
        &format!("<resume xmlns='{SM}' previd='{id}' h='0'/>"),
    );
    let lines = render(&out);
    assert_eq!(
        lines[..2],
        [
            format!("client c3 <failed xmlns='urn:xmpp:sm:3' h='0' previd='{id}'/>"),
            "close c3 resource-constraint".to_string(),
        ]
    );
}

#[test]
fn a_contact_that_probes_a_paused_session_is_told_it_is_paused() {
    let mut h = montague();
    let id = romeo_and_benvolio(&mut h);
    befriend(&mut h, "mercutio", "benvolio@montague.lit");
    befriend(&mut h, "benvolio", "mercutio@montague.lit");
    h.now = Time::from_secs(10);
    broken(&mut h, BENVOLIO);
    // Mercutio comes online while Benvolio hibernates, with the caps the
    // server already knows want annotations; his initial presence probes
    // Benvolio. The answer is the presence Benvolio had, then the same
    // annotated.
    h.login(MERCUTIO, "mercutio", "x");
    let out = render(&h.send(MERCUTIO, &caps_presence(&psa_info())));
    let from_benvolio: Vec<&String> = out
        .iter()
        .filter(|l| l.starts_with("client c4 <presence from='benvolio"))
        .collect();
    assert_eq!(
        from_benvolio,
        vec![
            &format!(
                "client c4 <presence from='benvolio@montague.lit/lane' to='mercutio@montague.lit/x'>\
                 <status>{STATUS}</status>\
                 <delay xmlns='urn:xmpp:delay' from='montague.lit' stamp='2026-01-01T00:00:01Z'/></presence>"
            ),
            &format!(
                "client c4 <presence from='benvolio@montague.lit/lane' to='mercutio@montague.lit/x'>\
                 <status>{STATUS}</status><state-annotation xmlns='urn:xmpp:psa' from='montague.lit'>\
                 <connection-paused/><description>benvolio's session has been paused</description>\
                 </state-annotation></presence>"
            ),
        ]
    );
    // On resumption both Romeo and Mercutio get the empty annotation (in
    // roster order, at their bare JIDs as broadcasts go).
    authenticated(&mut h, BENVOLIO_AGAIN, "benvolio");
    let out = resume(&mut h, BENVOLIO_AGAIN, &id, 2);
    let cleared: Vec<&str> = out
        .iter()
        .filter(|l| l.contains("<state-annotation xmlns='urn:xmpp:psa' from='montague.lit'/>"))
        .map(|l| &l[..9])
        .collect();
    assert_eq!(cleared, vec!["client c4", "client c1"], "{out:?}");
}
