//! Server-to-server streams (RFC 6120 §4, §8.3.3) and XEP-0310 presence
//! state annotations, driven through the engine's inputs: the exact stanzas
//! of XEP-0310 §3.1 with romeo@montague.lit and juliet@capulet.lit.

mod support;

use presim_engine::xml::NS_ROSTER;
use presim_engine::{ConnId, Event, Input, PeerFailure, ServerConfig, Time, Timer};
use support::{caps_presence, events, psa_info, render, ver_of, Harness, CAPS_NODE};

const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);

fn montague(psa: bool) -> Harness {
    let mut config = ServerConfig::new("montague.lit");
    config.federation = true;
    config.psa = psa;
    Harness::with_config(config)
}

/// Romeo online at `conn` with a `both` subscription to juliet@capulet.lit,
/// advertising `info` in his caps if given, and answering the disco query.
fn romeo_online(h: &mut Harness, conn: ConnId, resource: &str, info: Option<&str>) -> Vec<String> {
    h.login(conn, "romeo", resource);
    let roster = &mut h.server.store_mut().account_mut("romeo").unwrap().roster;
    let juliet = presim_engine::jid::BareJid::new("juliet@capulet.lit").unwrap();
    roster.items.get_or_insert_default(&juliet).subscription =
        presim_engine::roster::Subscription::Both;
    h.send(
        conn,
        &format!("<iq type='get' id='r'><query xmlns='{NS_ROSTER}'/></iq>"),
    );
    let presence = match info {
        Some(info) => caps_presence(info),
        None => "<presence/>".to_string(),
    };
    let out = h.send(conn, &presence);
    let lines = render(&out);
    if let Some(info) = info {
        h.answer_caps_query(conn, &out, info);
    }
    lines
}

fn juliet_available(h: &mut Harness) {
    h.peer_sends(
        "<presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit'><status>Available</status></presence>",
    );
}

const ROMEO_IQ: &str =
    "<message to='juliet@capulet.lit' id='m1' type='chat'><body>hi</body></message>";

#[test]
fn stanzas_wait_for_the_peer_stream_and_go_out_in_order() {
    let mut h = montague(false);
    h.login(C1, "romeo", "lane");
    assert_eq!(render(&h.send(C1, ROMEO_IQ)), vec!["connect capulet.lit"]);
    let second =
        "<message to='juliet@capulet.lit' id='m2' type='chat'><body>again</body></message>";
    assert!(render(&h.send(C1, second)).is_empty());
    assert_eq!(
        render(&h.peer_connected("capulet.lit")),
        vec![
            "peer capulet.lit <message from='romeo@montague.lit/lane' id='m1' to='juliet@capulet.lit' type='chat'><body>hi</body></message>",
            "peer capulet.lit <message from='romeo@montague.lit/lane' id='m2' to='juliet@capulet.lit' type='chat'><body>again</body></message>",
        ]
    );
    // Established: straight out.
    let third = "<message to='juliet@capulet.lit' id='m3'><body>3</body></message>";
    assert_eq!(
        render(&h.send(C1, third)),
        vec!["peer capulet.lit <message from='romeo@montague.lit/lane' id='m3' to='juliet@capulet.lit'><body>3</body></message>"]
    );
}

#[test]
fn a_timed_out_attempt_bounces_what_waited_with_remote_server_timeout() {
    let mut h = montague(false);
    h.login(C1, "romeo", "lane");
    h.send(C1, ROMEO_IQ);
    let failure = PeerFailure::Timeout("connection timed out".into());
    let out = h.input(Input::PeerFailed {
        domain: "capulet.lit".into(),
        failure,
    });
    let expected = "client c1 <message from='juliet@capulet.lit' id='m1' to='romeo@montague.lit/lane' type='error'>\
         <error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Server-to-server connection failed: connection timed out</text>\
         </error></message>";
    assert_eq!(render(&out), vec![expected]);
    let dropped: Vec<_> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Dropped { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, vec!["peer-unavailable"]);
    // The next stanza starts a new attempt.
    assert_eq!(render(&h.send(C1, ROMEO_IQ)), vec!["connect capulet.lit"]);
}

#[test]
fn an_unreachable_peer_is_remote_server_not_found_and_errors_are_not_bounced() {
    let mut h = montague(false);
    h.login(C1, "romeo", "lane");
    h.send(
        C1,
        "<iq type='get' id='q1' to='juliet@capulet.lit/x'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    h.send(C1, "<iq type='result' id='q2' to='juliet@capulet.lit/x'/>");
    let failure = PeerFailure::NotFound("connection refused".into());
    let out = h.input(Input::PeerFailed {
        domain: "capulet.lit".into(),
        failure,
    });
    assert_eq!(
        render(&out),
        vec!["client c1 <iq from='juliet@capulet.lit/x' id='q1' to='romeo@montague.lit/lane' type='error'>\
              <error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
              <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Server-to-server connection failed: connection refused</text>\
              </error></iq>"]
    );
    let reasons: Vec<_> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Dropped { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            "peer-unavailable",
            "peer-unavailable",
            "undeliverable-error"
        ]
    );
}

#[test]
fn a_spoofed_from_closes_the_stream_with_invalid_from() {
    let mut h = montague(false);
    h.login(C1, "romeo", "lane");
    h.peer_connected("capulet.lit");
    let out = h.peer_sends_on(
        "capulet.lit",
        "<message from='mercutio@verona.lit/x' to='romeo@montague.lit'><body>boo</body></message>",
    );
    assert_eq!(render(&out), vec!["close-peer capulet.lit invalid-from"]);
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::Dropped { reason, .. } if reason.as_str() == "invalid-from"
    )));
    let out = h.peer_sends_on("capulet.lit", "<message to='romeo@montague.lit'/>");
    assert_eq!(
        render(&out),
        vec!["close-peer capulet.lit improper-addressing"]
    );
    let out = h.peer_sends_on(
        "capulet.lit",
        "<message from='juliet@capulet.lit/b' to='romeo@verona.lit'/>",
    );
    assert_eq!(render(&out), vec!["close-peer capulet.lit host-unknown"]);
}

#[test]
fn caps_naming_psa_enable_annotations_after_one_disco_query_per_ver() {
    let mut h = montague(true);
    let info = psa_info();
    let ver = ver_of(&info);
    let lines = romeo_online(&mut h, C1, "lane", Some(&info));
    assert_eq!(
        lines[0],
        format!(
            "client c1 <iq from='montague.lit' id='caps1' to='romeo@montague.lit/lane' type='get'>\
             <query xmlns='http://jabber.org/protocol/disco#info' node='{CAPS_NODE}#{ver}'/></iq>"
        )
    );
    // A second session with the same caps is served from the cache.
    let lines = romeo_online(&mut h, C2, "garden", Some(&info));
    assert!(lines.iter().all(|l| !l.contains("disco#info")), "{lines:?}");
    juliet_available(&mut h);
    let out = h.peer_closed("capulet.lit", "keepalive timeout");
    let annotated: Vec<_> = render(&out)
        .into_iter()
        .filter(|l| l.contains("state-annotation"))
        .collect();
    assert_eq!(annotated.len(), 2, "{annotated:?}");
}

#[test]
fn caps_that_do_not_verify_enable_nothing() {
    let mut h = montague(true);
    h.login(C1, "romeo", "lane");
    let out = h.send(
        C1,
        "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='bogus='/></presence>",
    );
    assert!(render(&out)[0].contains("node='n#bogus='"));
    let out = h.send(
        C1,
        &format!(
            "<iq type='result' id='caps1' to='montague.lit'>{}</iq>",
            psa_info()
        ),
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::Dropped { reason, .. } if reason.as_str() == "caps-not-verified"
    )));
    assert!(!events(&out)
        .iter()
        .any(|e| matches!(e, Event::PsaEnabled { .. })));
}

/// XEP-0310 §3.1, examples 1–3: the s2s link to capulet.lit becomes
/// unavailable and comes back.
#[test]
fn server_unavailable_and_back_as_in_xep_0310_section_3_1() {
    let mut h = montague(true);
    romeo_online(&mut h, C1, "lane", Some(&psa_info()));
    h.peer_connected("capulet.lit");
    juliet_available(&mut h);
    h.now = Time::from_secs(60);
    let out = h.peer_closed("capulet.lit", "keepalive timeout");
    assert_eq!(
        render(&out),
        vec![
            "client c1 <presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit/lane'>\
             <status>Available</status><state-annotation xmlns='urn:xmpp:psa' from='montague.lit'>\
             <server-unavailable/><description>The capulet.lit server is no longer available</description>\
             </state-annotation></presence>",
            "timer 90.000000s S2sRetry(\"capulet.lit\")",
        ]
    );
    h.now = Time::from_secs(90);
    let out = h.input(Input::TimerFired {
        timer: Timer::S2sRetry("capulet.lit".into()),
    });
    assert_eq!(render(&out), vec!["connect capulet.lit"]);
    let out = h.peer_connected("capulet.lit");
    assert_eq!(
        render(&out),
        vec![
            "client c1 <presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit/lane'>\
             <status>Available</status><state-annotation xmlns='urn:xmpp:psa' from='montague.lit'/></presence>",
            "peer capulet.lit <presence from='romeo@montague.lit' to='juliet@capulet.lit' type='probe'/>",
        ]
    );
}

#[test]
fn without_opt_in_there_is_no_annotation_but_the_reprobe_happens() {
    let mut h = montague(true);
    romeo_online(&mut h, C1, "lane", None);
    h.peer_connected("capulet.lit");
    juliet_available(&mut h);
    let out = h.peer_closed("capulet.lit", "keepalive timeout");
    assert_eq!(
        render(&out),
        vec!["timer 31.000000s S2sRetry(\"capulet.lit\")"]
    );
    let out = h.peer_connected("capulet.lit");
    assert_eq!(
        render(&out),
        vec!["peer capulet.lit <presence from='romeo@montague.lit' to='juliet@capulet.lit' type='probe'/>"]
    );
    // An annotation from a peer is not passed on to a session that did not ask.
    let out = h.peer_sends(
        "<presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit'><status>Available</status>\
         <state-annotation xmlns='urn:xmpp:psa' from='capulet.lit'><connection-paused/></state-annotation></presence>",
    );
    assert!(render(&out).is_empty());
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::Dropped { reason, .. } if reason.as_str() == "annotation-not-requested"
    )));
}

#[test]
fn psa_off_in_the_server_annotates_nothing_and_advertises_nothing() {
    let mut h = montague(false);
    let lines = romeo_online(&mut h, C1, "lane", Some(&psa_info()));
    assert!(lines.iter().all(|l| !l.contains("disco#info")));
    h.peer_connected("capulet.lit");
    juliet_available(&mut h);
    let out = h.peer_closed("capulet.lit", "keepalive timeout");
    assert!(render(&out).iter().all(|l| !l.contains("state-annotation")));
    let info = h.send(
        C1,
        "<iq type='get' id='d' to='montague.lit'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    );
    assert!(!render(&info)[0].contains("urn:xmpp:psa"));
    let mut h = montague(true);
    h.login(C1, "romeo", "lane");
    let info = h.send(
        C1,
        "<iq type='get' id='d' to='montague.lit'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    );
    assert!(render(&info)[0].contains("<feature var='urn:xmpp:psa'/>"));
}

#[test]
fn unavailable_presence_is_not_annotated() {
    let mut h = montague(true);
    romeo_online(&mut h, C1, "lane", Some(&psa_info()));
    h.peer_connected("capulet.lit");
    juliet_available(&mut h);
    h.peer_sends(
        "<presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit' type='unavailable'/>",
    );
    let out = h.peer_closed("capulet.lit", "keepalive timeout");
    assert!(render(&out).iter().all(|l| !l.contains("state-annotation")));
}

#[test]
fn a_client_cannot_annotate_its_own_presence() {
    let mut h = montague(true);
    h.login(C1, "romeo", "lane");
    let out = h.send(
        C1,
        "<presence><status>x</status><state-annotation xmlns='urn:xmpp:psa' from='montague.lit'>\
         <server-unavailable/></state-annotation></presence>",
    );
    assert_eq!(
        render(&out),
        vec!["client c1 <presence from='romeo@montague.lit/lane'><status>x</status></presence>"]
    );
}

/// An annotation never re-sends presence the user is no longer entitled to:
/// once juliet cancels romeo's subscription, what romeo's sessions held of
/// her is forgotten.
#[test]
fn no_annotation_after_the_subscription_is_cancelled() {
    let mut h = montague(true);
    romeo_online(&mut h, C1, "lane", Some(&psa_info()));
    h.peer_connected("capulet.lit");
    juliet_available(&mut h);
    let out = h.peer_sends(
        "<presence from='juliet@capulet.lit' to='romeo@montague.lit' type='unsubscribed'/>",
    );
    assert!(
        render(&out)
            .iter()
            .any(|l| l.contains("subscription='from'")),
        "{:?}",
        render(&out)
    );
    let out = h.peer_closed("capulet.lit", "keepalive timeout");
    assert!(
        render(&out).iter().all(|l| !l.contains("state-annotation")),
        "{:?}",
        render(&out)
    );
}

/// A failure reported for an attempt that is over changes nothing: the
/// stream stays as the server last knew it (here: broken, so the next
/// stanza opens a new one instead of going to a dead stream).
#[test]
fn a_late_failure_report_changes_nothing() {
    let mut h = montague(false);
    h.login(C1, "romeo", "lane");
    h.send(C1, ROMEO_IQ);
    h.peer_connected("capulet.lit");
    h.peer_closed("capulet.lit", "keepalive timeout");
    let out = h.input(Input::PeerFailed {
        domain: "capulet.lit".into(),
        failure: PeerFailure::Timeout("connection timed out".into()),
    });
    assert!(render(&out).is_empty(), "{:?}", render(&out));
    assert_eq!(render(&h.send(C1, ROMEO_IQ)), vec!["connect capulet.lit"]);
}

#[test]
fn no_annotation_of_presence_the_observers_privacy_list_refuses() {
    let mut h = montague(true);
    romeo_online(&mut h, C1, "lane", Some(&psa_info()));
    h.peer_connected("capulet.lit");
    juliet_available(&mut h);
    // romeo's active list now refuses juliet's presence (RFC 3921 §10.10).
    for query in [
        "<list name='x'><item type='jid' value='juliet@capulet.lit' action='deny' order='1'><presence-in/></item></list>",
        "<active name='x'/>",
    ] {
        h.send(
            C1,
            &format!("<iq type='set' id='p'><query xmlns='jabber:iq:privacy'>{query}</query></iq>"),
        );
    }
    let out = h.peer_closed("capulet.lit", "keepalive timeout");
    assert_eq!(
        render(&out),
        vec!["timer 31.000000s S2sRetry(\"capulet.lit\")"]
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        Event::Dropped { reason, .. } if reason.as_str() == "privacy"
    )));
}

/// Reading ahead what deliveries from a peer will read changes nothing:
/// it names the connection each delivery writes to, and the server's
/// outputs for those stanzas are the same as without it.
#[test]
fn touching_deliveries_ahead_names_their_connections_and_changes_nothing() {
    let presence = |status: &str| {
        format!(
            "<presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit'>\
             <status>{status}</status></presence>"
        )
    };
    let run = |touch: bool| {
        let mut h = montague(true);
        romeo_online(&mut h, C1, "lane", Some(&psa_info()));
        juliet_available(&mut h);
        let stanzas: Vec<presim_engine::Stanza> = ["one", "two"]
            .iter()
            .map(|s| {
                let el = presim_engine::xml::parse_fragment(&presence(s), &[])
                    .unwrap()
                    .remove(0);
                presim_engine::Stanza::from_element(el).unwrap()
            })
            .collect();
        let mut named = Vec::new();
        if touch {
            let refs: Vec<&presim_engine::Stanza> = stanzas.iter().collect();
            h.server.touch_deliveries(&refs, |conn| named.push(conn));
        }
        let out: Vec<String> = stanzas
            .into_iter()
            .flat_map(|stanza| {
                let domain = presim_engine::Domain::from("capulet.lit");
                render(&h.input(Input::PeerStanza { domain, stanza }))
            })
            .collect();
        (named, out)
    };
    let (named, touched) = run(true);
    let (none, plain) = run(false);
    assert_eq!(named, vec![C1, C1]);
    assert!(none.is_empty());
    assert_eq!(touched, plain);
    assert_eq!(touched.len(), 2, "{touched:?}");
}
