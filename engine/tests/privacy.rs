//! Privacy lists, one test per example of RFC 3921 §10 (the same examples
//! as XEP-0016 §2), asserted on the exact stanzas the engine emits; then
//! the rules the examples leave out: malformed lists, conflicts, list
//! pushes, the block list as the default list (XEP-0191 §6).
//!
//! romeo@example.net has two resources, orchard (c1) and home (c2), and a
//! roster of remote contacts: tybalt@example.com (`both`, group Enemies),
//! juliet@example.com (`both`, group Friends), benvolio@example.org
//! (`to`) and mercutio@example.org (`from`). paris@example.org is not in
//! the roster.

mod support;

use presim_engine::jid::BareJid;
use presim_engine::roster::{RosterItem, Subscription};
use presim_engine::{ConnId, ServerConfig, Time};
use support::{drop_reasons, render, Harness};

const ORCHARD: ConnId = ConnId(1);
const HOME: ConnId = ConnId(2);

fn romeo() -> Harness {
    romeo_with(ServerConfig::new("example.net"))
}

fn romeo_with(mut config: ServerConfig) -> Harness {
    config.federation = true;
    let mut h = Harness::with_config(config);
    h.auto_connect_peers = true;
    let account = h.server.store_mut().create("romeo", "pw");
    for (jid, subscription, group) in [
        ("tybalt@example.com", Subscription::Both, Some("Enemies")),
        ("juliet@example.com", Subscription::Both, Some("Friends")),
        ("benvolio@example.org", Subscription::To, None),
        ("mercutio@example.org", Subscription::From, None),
    ] {
        let item = RosterItem::new(subscription)
            .with_labels(None, group.map(|g| vec![g.to_string()]).unwrap_or_default());
        account
            .roster
            .items
            .insert(BareJid::new(jid).unwrap(), item);
    }
    h.online(ORCHARD, "romeo", "orchard");
    h.online(HOME, "romeo", "home");
    h.now = Time::from_secs(2);
    h
}

fn iq(h: &mut Harness, conn: ConnId, type_: &str, id: &str, query: &str) -> Vec<String> {
    render(&h.send(
        conn,
        &format!(
            "<iq type='{type_}' id='{id}'><query xmlns='jabber:iq:privacy'>{query}</query></iq>"
        ),
    ))
}

fn set(h: &mut Harness, id: &str, query: &str) -> Vec<String> {
    iq(h, ORCHARD, "set", id, query)
}

fn get(h: &mut Harness, id: &str, query: &str) -> Vec<String> {
    iq(h, ORCHARD, "get", id, query)
}

fn result(id: &str) -> String {
    format!("client c1 <iq id='{id}' to='romeo@example.net/orchard' type='result'/>")
}

/// The error reply to orchard, echoing the query as RFC 3921 §10 shows.
fn error(id: &str, query: &str, type_: &str, condition: &str) -> String {
    format!(
        "client c1 <iq id='{id}' to='romeo@example.net/orchard' type='error'>\
         <query xmlns='jabber:iq:privacy'>{query}</query><error type='{type_}'>\
         <{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
}

/// Creates a list (ignoring its pushes) and makes it orchard's active list.
fn apply(h: &mut Harness, list: &str) -> Vec<String> {
    let name = list
        .split("name='")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    set(h, "create", list);
    set(h, "apply", &format!("<active name='{name}'/>"))
}

const PUBLIC: &str = "<list name='public'>\
    <item type='jid' value='tybalt@example.com' action='deny' order='1'/>\
    <item action='allow' order='2'/></list>";
const PRIVATE: &str = "<list name='private'>\
    <item type='subscription' value='both' action='allow' order='10'/>\
    <item action='deny' order='15'/></list>";
const SPECIAL: &str = "<list name='special'>\
    <item type='jid' value='juliet@example.com' action='allow' order='6'/>\
    <item type='jid' value='benvolio@example.org' action='allow' order='7'/>\
    <item type='jid' value='mercutio@example.org' action='allow' order='42'/>\
    <item action='deny' order='666'/></list>";

/// The three lists of §10.3: 'public' is the default, 'private' orchard's
/// active list.
fn with_rfc_lists() -> Harness {
    let mut h = romeo();
    for list in [PUBLIC, PRIVATE, SPECIAL] {
        set(&mut h, "l", list);
    }
    set(&mut h, "d", "<default name='public'/>");
    set(&mut h, "a", "<active name='private'/>");
    h
}

/// The serialised form of a list as the server returns it (attributes
/// in name order).
fn served(list: &str) -> String {
    list.replace(
        "<item type='jid' value='tybalt@example.com' action='deny' order='1'/>",
        "<item action='deny' order='1' type='jid' value='tybalt@example.com'/>",
    )
    .replace(
        "<item type='subscription' value='both' action='allow' order='10'/>",
        "<item action='allow' order='10' type='subscription' value='both'/>",
    )
    .replace(
        "<item type='jid' value='juliet@example.com' action='allow' order='6'/>",
        "<item action='allow' order='6' type='jid' value='juliet@example.com'/>",
    )
    .replace(
        "<item type='jid' value='benvolio@example.org' action='allow' order='7'/>",
        "<item action='allow' order='7' type='jid' value='benvolio@example.org'/>",
    )
    .replace(
        "<item type='jid' value='mercutio@example.org' action='allow' order='42'/>",
        "<item action='allow' order='42' type='jid' value='mercutio@example.org'/>",
    )
    .replace("<list name=", "<list xmlns='jabber:iq:privacy' name=")
}

fn list_result(id: &str, list: &str) -> String {
    format!(
        "client c1 <iq id='{id}' to='romeo@example.net/orchard' type='result'>\
         <query xmlns='jabber:iq:privacy'>{}</query></iq>",
        served(list).replace(" xmlns='jabber:iq:privacy'", "")
    )
}

// ----- §10.3 Retrieving One's Privacy Lists -----

#[test]
fn getlist1_names_of_lists_preceded_by_active_and_default() {
    let mut h = with_rfc_lists();
    // The lists come in name order (the RFC leaves the order open).
    assert_eq!(
        get(&mut h, "getlist1", ""),
        vec![
            "client c1 <iq id='getlist1' to='romeo@example.net/orchard' type='result'>\
              <query xmlns='jabber:iq:privacy'><active name='private'/><default name='public'/>\
              <list name='private'/><list name='public'/><list name='special'/></query></iq>"
        ]
    );
    // home has no active list.
    assert_eq!(
        iq(&mut h, HOME, "get", "g", ""),
        vec![
            "client c2 <iq id='g' to='romeo@example.net/home' type='result'>\
              <query xmlns='jabber:iq:privacy'><default name='public'/>\
              <list name='private'/><list name='public'/><list name='special'/></query></iq>"
        ]
    );
}

#[test]
fn getlist2_the_public_list() {
    let mut h = with_rfc_lists();
    assert_eq!(
        get(&mut h, "getlist2", "<list name='public'/>"),
        vec![list_result("getlist2", PUBLIC)]
    );
}

#[test]
fn getlist3_the_private_list() {
    let mut h = with_rfc_lists();
    assert_eq!(
        get(&mut h, "getlist3", "<list name='private'/>"),
        vec![list_result("getlist3", PRIVATE)]
    );
}

#[test]
fn getlist4_the_special_list() {
    let mut h = with_rfc_lists();
    assert_eq!(
        get(&mut h, "getlist4", "<list name='special'/>"),
        vec![list_result("getlist4", SPECIAL)]
    );
}

#[test]
fn getlist5_a_list_that_does_not_exist_is_item_not_found() {
    let mut h = with_rfc_lists();
    assert_eq!(
        get(&mut h, "getlist5", "<list name='The Empty Set'/>"),
        vec![error(
            "getlist5",
            "<list name='The Empty Set'/>",
            "cancel",
            "item-not-found"
        )]
    );
}

#[test]
fn getlist6_more_than_one_list_is_bad_request() {
    let mut h = with_rfc_lists();
    let lists = "<list name='public'/><list name='private'/><list name='special'/>";
    let out = get(&mut h, "getlist6", lists);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with(
            &error("getlist6", lists, "modify", "bad-request").replace("/></error></iq>", "/>")
        ),
        "{out:?}"
    );
}

// ----- §10.4 Managing Active Lists -----

/// What orchard's move from 'private' (`both` contacts only) to 'special'
/// or 'public' does before the result (§10.4: the list is applied before
/// the result): tybalt (`both`) is newly denied and gets unavailable
/// presence (XEP-0016 §2.10); benvolio, whom romeo follows, is newly
/// allowed in and is probed; mercutio, a subscriber, is newly allowed out
/// and gets orchard's presence.
const LEAVING_PRIVATE: [&str; 3] = [
    "peer example.com <presence from='romeo@example.net/orchard' to='tybalt@example.com' type='unavailable'/>",
    "peer example.org <presence from='romeo@example.net' to='benvolio@example.org' type='probe'/>",
    "peer example.org <presence from='romeo@example.net/orchard' to='mercutio@example.org'>\
     <delay xmlns='urn:xmpp:delay' from='example.net' stamp='2026-01-01T00:00:01Z'/></presence>",
];

fn after_leaving_private(id: &str) -> Vec<String> {
    let mut lines: Vec<String> = LEAVING_PRIVATE.iter().map(|s| s.to_string()).collect();
    lines.push(result(id));
    lines
}

#[test]
fn active1_change_of_active_list() {
    let mut h = with_rfc_lists();
    assert_eq!(
        set(&mut h, "active1", "<active name='special'/>"),
        after_leaving_private("active1")
    );
    assert!(get(&mut h, "g", "")[0].contains("<active name='special'/>"));
}

#[test]
fn active2_a_list_that_does_not_exist_cannot_be_active() {
    let mut h = with_rfc_lists();
    assert_eq!(
        set(&mut h, "active2", "<active name='The Empty Set'/>"),
        vec![error(
            "active2",
            "<active name='The Empty Set'/>",
            "cancel",
            "item-not-found"
        )]
    );
    assert!(get(&mut h, "g", "")[0].contains("<active name='private'/>"));
}

#[test]
fn active3_declining_the_active_list() {
    let mut h = with_rfc_lists();
    // The default list, 'public' (everyone but tybalt), applies now.
    assert_eq!(
        set(&mut h, "active3", "<active/>"),
        after_leaving_private("active3")
    );
    assert!(!get(&mut h, "g", "")[0].contains("<active"));
}

// ----- §10.5 Managing the Default List -----

/// The default list is used by home (no active list) unless home has one.
fn with_home_on_its_own_list() -> Harness {
    let mut h = with_rfc_lists();
    iq(&mut h, HOME, "set", "a", "<active name='special'/>");
    h
}

#[test]
fn default1_change_of_default_list() {
    let mut h = with_home_on_its_own_list();
    assert_eq!(
        set(&mut h, "default1", "<default name='special'/>"),
        vec![result("default1")]
    );
    assert!(get(&mut h, "g", "")[0].contains("<default name='special'/>"));
}

#[test]
fn default1_conflict_while_another_resource_uses_the_default_list() {
    let mut h = with_rfc_lists();
    assert_eq!(
        set(&mut h, "default1", "<default name='special'/>"),
        vec![error(
            "default1",
            "<default name='special'/>",
            "cancel",
            "conflict"
        )]
    );
    assert!(get(&mut h, "g", "")[0].contains("<default name='public'/>"));
}

#[test]
fn default1_a_list_that_does_not_exist_cannot_be_default() {
    let mut h = with_home_on_its_own_list();
    assert_eq!(
        set(&mut h, "default1", "<default name='The Empty Set'/>"),
        vec![error(
            "default1",
            "<default name='The Empty Set'/>",
            "cancel",
            "item-not-found"
        )]
    );
}

#[test]
fn default2_declining_the_default_list() {
    let mut h = with_home_on_its_own_list();
    assert_eq!(
        set(&mut h, "default2", "<default/>"),
        vec![result("default2")]
    );
    assert!(!get(&mut h, "g", "")[0].contains("<default"));
}

#[test]
fn default3_declining_while_another_resource_uses_it_is_a_conflict() {
    let mut h = with_rfc_lists();
    assert_eq!(
        set(&mut h, "default3", "<default/>"),
        vec![error("default3", "<default/>", "cancel", "conflict")]
    );
}

// ----- §10.6 Editing a Privacy List, §10.7 Adding a New Privacy List -----

const EDITED: &str = "<list name='public'>\
    <item type='jid' value='tybalt@example.com' action='deny' order='3'/>\
    <item type='jid' value='paris@example.org' action='deny' order='5'/>\
    <item action='allow' order='68'/></list>";

#[test]
fn edit1_the_list_is_replaced_and_pushed_to_every_resource() {
    let mut h = with_rfc_lists();
    let out = set(&mut h, "edit1", EDITED);
    assert_eq!(out[0], result("edit1"));
    assert_eq!(out.len(), 3, "{out:?}");
    let push = |line: &str, conn: &str, resource: &str| {
        let id = line
            .split("id='")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            line,
            format!(
                "client {conn} <iq id='{id}' to='romeo@example.net/{resource}' type='set'>\
                 <query xmlns='jabber:iq:privacy'><list name='public'/></query></iq>"
            )
        );
        id
    };
    // Resources in name order: home, then orchard.
    let home_id = push(&out[1], "c2", "home");
    let orchard_id = push(&out[2], "c1", "orchard");
    assert_ne!(home_id, orchard_id);
    // The resources acknowledge the pushes; nothing more happens.
    assert!(iq_result(&mut h, HOME, &home_id).is_empty());
    assert!(iq_result(&mut h, ORCHARD, &orchard_id).is_empty());
    let served = get(&mut h, "g", "<list name='public'/>");
    assert!(served[0].contains(
        "<item action='deny' order='5' type='jid' value='paris@example.org'/>\
         <item action='allow' order='68'/></list>"
    ));
}

fn iq_result(h: &mut Harness, conn: ConnId, id: &str) -> Vec<String> {
    render(&h.send(conn, &format!("<iq type='result' id='{id}'/>")))
}

#[test]
fn adding_a_list_with_the_name_of_another_overwrites_it() {
    let mut h = with_rfc_lists();
    let out = set(
        &mut h,
        "add",
        "<list name='special'><item action='allow' order='1'/></list>",
    );
    assert_eq!(out[0], result("add"));
    assert!(out[1].contains("<list name='special'/>"));
    assert_eq!(
        get(&mut h, "g", "<list name='special'/>"),
        vec!["client c1 <iq id='g' to='romeo@example.net/orchard' type='result'>\
              <query xmlns='jabber:iq:privacy'><list name='special'><item action='allow' order='1'/></list>\
              </query></iq>"]
    );
}

// ----- §10.8 Removing a Privacy List -----

#[test]
fn remove1_a_list_is_removed() {
    let mut h = with_rfc_lists();
    // 'private' is orchard's own active list: orchard may remove it.
    let out = set(&mut h, "remove1", "<list name='private'/>");
    // orchard falls back on the default list, then the pushes.
    assert_eq!(out[..4], after_leaving_private("remove1")[..]);
    assert_eq!(out.len(), 6);
    assert!(out[4..]
        .iter()
        .all(|l| l.contains("<list name='private'/>")));
    assert_eq!(
        get(&mut h, "g", ""),
        vec![
            "client c1 <iq id='g' to='romeo@example.net/orchard' type='result'>\
              <query xmlns='jabber:iq:privacy'><default name='public'/>\
              <list name='public'/><list name='special'/></query></iq>"
        ]
    );
}

#[test]
fn removing_a_list_another_resource_applies_is_a_conflict() {
    let mut h = with_home_on_its_own_list();
    // 'special' is home's active list.
    let out = set(&mut h, "rm", "<list name='special'/>");
    assert_eq!(
        out,
        vec![error("rm", "<list name='special'/>", "cancel", "conflict")]
    );
    assert!(get(&mut h, "g", "<list name='special'/>")[0].contains("type='result'"));
    // The default list while home has no active list of its own.
    iq(&mut h, HOME, "set", "a", "<active/>");
    let out = set(&mut h, "rm2", "<list name='public'/>");
    assert_eq!(
        out,
        vec![error("rm2", "<list name='public'/>", "cancel", "conflict")]
    );
}

#[test]
fn removing_a_list_that_does_not_exist_is_item_not_found() {
    let mut h = with_rfc_lists();
    assert_eq!(
        set(&mut h, "rm", "<list name='The Empty Set'/>"),
        vec![error(
            "rm",
            "<list name='The Empty Set'/>",
            "cancel",
            "item-not-found"
        )]
    );
}

#[test]
fn removing_more_than_one_list_is_bad_request() {
    let mut h = with_rfc_lists();
    let out = set(&mut h, "rm", "<list name='special'/><list name='private'/>");
    assert_eq!(out.len(), 1);
    assert!(out[0].contains("<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"));
    assert_eq!(get(&mut h, "g", "")[0].matches("<list ").count(), 3);
}

// ----- §10.9 Blocking Messages -----

fn message_from(h: &mut Harness, from: &str) -> Vec<String> {
    let out = h.peer_sends(&format!(
        "<message from='{from}' to='romeo@example.net/orchard' type='chat'><body>hi</body></message>"
    ));
    let mut lines = render(&out);
    lines.extend(drop_reasons(&out).iter().map(|r| format!("dropped {r}")));
    lines
}

fn delivered_message(from: &str) -> Vec<String> {
    vec![format!(
        "client c1 <message from='{from}' to='romeo@example.net/orchard' type='chat'><body>hi</body></message>"
    )]
}

/// A message list applied to orchard: messages from `blocked` are dropped
/// silently (§10.14), from `allowed` delivered; home is not affected.
fn assert_messages(list: &str, blocked: &str, allowed: &str) {
    let mut h = romeo();
    assert_eq!(apply(&mut h, list), vec![result("apply")]);
    assert_eq!(message_from(&mut h, blocked), vec!["dropped privacy"]);
    assert_eq!(message_from(&mut h, allowed), delivered_message(allowed));
    let out = render(&h.peer_sends(&format!(
        "<message from='{blocked}' to='romeo@example.net/home' type='chat'/>"
    )));
    assert_eq!(out.len(), 1, "home has no active list: {out:?}");
}

#[test]
fn msg1_blocks_messages_by_jid() {
    assert_messages(
        "<list name='message-jid-example'><item type='jid' value='tybalt@example.com' action='deny' order='3'><message/></item></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn msg2_blocks_messages_by_roster_group() {
    assert_messages(
        "<list name='message-group-example'><item type='group' value='Enemies' action='deny' order='4'><message/></item></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn msg3_blocks_messages_by_subscription_type() {
    // 'none' includes entities not in the roster at all.
    assert_messages(
        "<list name='message-sub-example'><item type='subscription' value='none' action='deny' order='5'><message/></item></list>",
        "paris@example.org/ball",
        "tybalt@example.com/pda",
    );
}

#[test]
fn msg4_blocks_messages_globally() {
    let list = "<list name='message-global-example'><item action='deny' order='6'><message/></item></list>";
    assert_messages(list, "juliet@example.com/balcony", "romeo@example.net/home");
}

// ----- §10.10 Blocking Inbound Presence Notifications -----

/// Presence from `from` to romeo's bare JID reaches home only when
/// orchard's list blocks it, both when it does not; subscription requests
/// are not notifications and are not blocked.
fn assert_presence_in(list: &str, blocked: &str, allowed: &str) {
    let mut h = romeo();
    let out = apply(&mut h, list);
    assert_eq!(out.last().unwrap(), &result("apply"));
    let presence = |from: &str, to: &str| format!("<presence from='{from}' to='{to}'/>");
    let out = h.peer_sends(&presence(blocked, "romeo@example.net"));
    assert_eq!(
        render(&out),
        vec![format!(
            "client c2 {}",
            presence(blocked, "romeo@example.net")
        )]
    );
    assert_eq!(drop_reasons(&out), vec!["privacy"]);
    let out = render(&h.peer_sends(&presence(allowed, "romeo@example.net")));
    assert_eq!(out.len(), 2, "{out:?}");
    // Directed to orchard's full JID: dropped.
    let out = h.peer_sends(&presence(blocked, "romeo@example.net/orchard"));
    assert_eq!(render(&out), Vec::<String>::new());
    assert_eq!(drop_reasons(&out), vec!["privacy"]);
}

#[test]
fn presin1_blocks_inbound_presence_by_jid() {
    assert_presence_in(
        "<list name='presin-jid-example'><item type='jid' value='tybalt@example.com' action='deny' order='7'><presence-in/></item></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn presin2_blocks_inbound_presence_by_roster_group() {
    assert_presence_in(
        "<list name='presin-group-example'><item type='group' value='Enemies' action='deny' order='8'><presence-in/></item></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn presin3_blocks_inbound_presence_by_subscription_type() {
    assert_presence_in(
        "<list name='presin-sub-example'><item type='subscription' value='to' action='deny' order='9'><presence-in/></item></list>",
        "benvolio@example.org/study",
        "juliet@example.com/balcony",
    );
}

#[test]
fn presin4_blocks_inbound_presence_globally() {
    let list = "<list name='presin-global-example'><item action='deny' order='11'><presence-in/></item></list>";
    assert_presence_in(list, "juliet@example.com/balcony", "romeo@example.net/home");
}

#[test]
fn inbound_presence_blocking_leaves_subscription_requests_alone() {
    let mut h = romeo();
    apply(
        &mut h,
        "<list name='x'><item action='deny' order='1'><presence-in/></item></list>",
    );
    let out = render(&h.peer_sends(
        "<presence from='paris@example.org' to='romeo@example.net' type='subscribe'/>",
    ));
    assert!(out
        .iter()
        .any(|l| l.starts_with("client c1 <presence from='paris@example.org'")));
}

// ----- §10.11 Blocking Outbound Presence Notifications -----

const UNAVAILABLE_TO: fn(&str) -> String = |to| {
    let domain = to.split('@').nth(1).unwrap();
    format!(
        "peer {domain} <presence from='romeo@example.net/orchard' to='{to}' type='unavailable'/>"
    )
};

/// Applying the list sends unavailable presence to the subscribers it
/// denies (XEP-0016 §2.10); orchard's next broadcast skips them.
fn assert_presence_out(list: &str, denied: &[&str], reached: &[&str]) {
    let mut h = romeo();
    let mut expected: Vec<String> = denied.iter().map(|to| UNAVAILABLE_TO(to)).collect();
    expected.push(result("apply"));
    assert_eq!(apply(&mut h, list), expected);
    let out = h.send(ORCHARD, "<presence><show>away</show></presence>");
    let lines = render(&out);
    // The presence comes back to orchard itself (RFC 6121 §4.4.2).
    assert!(lines[0].starts_with("client c1 <presence from='romeo@example.net/orchard'>"));
    let recipients: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(" to='").nth(1).unwrap().split('\'').next().unwrap())
        .collect();
    let mut want = vec!["romeo@example.net/home"];
    want.extend(reached);
    assert_eq!(recipients, want);
    assert_eq!(drop_reasons(&out), vec!["privacy"; denied.len()]);
}

#[test]
fn presout1_blocks_outbound_presence_by_jid() {
    assert_presence_out(
        "<list name='presout-jid-example'><item type='jid' value='tybalt@example.com' action='deny' order='13'><presence-out/></item></list>",
        &["tybalt@example.com"],
        &["juliet@example.com", "mercutio@example.org"],
    );
}

#[test]
fn presout2_blocks_outbound_presence_by_roster_group() {
    assert_presence_out(
        "<list name='presout-group-example'><item type='group' value='Enemies' action='deny' order='15'><presence-out/></item></list>",
        &["tybalt@example.com"],
        &["juliet@example.com", "mercutio@example.org"],
    );
}

#[test]
fn presout3_blocks_outbound_presence_by_subscription_type() {
    assert_presence_out(
        "<list name='presout-sub-example'><item type='subscription' value='from' action='deny' order='17'><presence-out/></item></list>",
        &["mercutio@example.org"],
        &["juliet@example.com", "tybalt@example.com"],
    );
}

#[test]
fn presout4_blocks_outbound_presence_globally() {
    // The user's own resources still see each other.
    assert_presence_out(
        "<list name='presout-global-example'><item action='deny' order='23'><presence-out/></item></list>",
        &["juliet@example.com", "mercutio@example.org", "tybalt@example.com"],
        &[],
    );
}

#[test]
fn a_probe_from_a_contact_denied_presence_out_gets_no_answer() {
    let mut h = romeo();
    set(
        &mut h,
        "l",
        "<list name='x'><item type='jid' value='tybalt@example.com' action='deny' order='1'><presence-out/></item></list>",
    );
    iq(&mut h, HOME, "set", "a", "<active name='x'/>");
    set(&mut h, "a", "<active name='x'/>");
    let out =
        h.peer_sends("<presence from='tybalt@example.com' to='romeo@example.net' type='probe'/>");
    assert_eq!(render(&out), Vec::<String>::new());
    assert_eq!(drop_reasons(&out), vec!["privacy", "privacy"]);
}

// ----- §10.12 Blocking IQ Stanzas -----

/// iq get/set from a blocked entity to orchard is answered
/// `service-unavailable` (§10.14); results are dropped.
fn assert_iqs(list: &str, blocked: &str, allowed: &str) {
    let mut h = romeo();
    assert_eq!(apply(&mut h, list), vec![result("apply")]);
    let request = |from: &str| {
        format!("<iq type='get' id='v1' from='{from}' to='romeo@example.net/orchard'><query xmlns='jabber:iq:version'/></iq>")
    };
    let domain = blocked
        .split('@')
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert_eq!(
        render(&h.peer_sends(&request(blocked))),
        vec![format!(
            "peer {domain} <iq from='romeo@example.net/orchard' id='v1' to='{blocked}' type='error'>\
             <query xmlns='jabber:iq:version'/><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        )]
    );
    let out = h.peer_sends(&format!(
        "<iq type='result' id='v2' from='{blocked}' to='romeo@example.net/orchard'/>"
    ));
    assert_eq!(drop_reasons(&out), vec!["privacy"]);
    let out = render(&h.peer_sends(&request(allowed)));
    assert!(out[0].starts_with("client c1 <iq "), "{out:?}");
}

#[test]
fn iq1_blocks_iq_stanzas_by_jid() {
    assert_iqs(
        "<list name='iq-jid-example'><item type='jid' value='tybalt@example.com' action='deny' order='29'><iq/></item></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn iq2_blocks_iq_stanzas_by_roster_group() {
    assert_iqs(
        "<list name='iq-group-example'><item type='group' value='Enemies' action='deny' order='31'><iq/></item></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn iq3_blocks_iq_stanzas_by_subscription_type() {
    assert_iqs(
        "<list name='iq-sub-example'><item type='subscription' value='none' action='deny' order='17'><iq/></item></list>",
        "paris@example.org/ball",
        "tybalt@example.com/pda",
    );
}

#[test]
fn iq4_blocks_iq_stanzas_globally() {
    let list = "<list name='iq-global-example'><item action='deny' order='1'><iq/></item></list>";
    assert_iqs(list, "juliet@example.com/balcony", "romeo@example.net/home");
}

// ----- §10.13 Blocking All Communication -----

/// Nothing from `blocked` reaches orchard, subscription requests
/// included, and orchard can send it nothing: `not-acceptable`
/// (XEP-0016 §2.13).
fn assert_all(list: &str, blocked: &str, allowed: &str) {
    let mut h = romeo();
    apply(&mut h, list);
    assert_eq!(message_from(&mut h, blocked), vec!["dropped privacy"]);
    assert_eq!(message_from(&mut h, allowed), delivered_message(allowed));
    let bare = blocked.split('/').next().unwrap();
    let out = render(&h.send(
        ORCHARD,
        &format!(
            "<message to='{bare}' id='m1' type='chat'><body>Can you hear me now?</body></message>"
        ),
    ));
    assert_eq!(
        out,
        vec![format!(
            "client c1 <message from='{bare}' id='m1' to='romeo@example.net/orchard' type='error'>\
             <error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )]
    );
    let out = render(&h.send(
        ORCHARD,
        &format!("<presence to='{bare}' type='subscribe'/>"),
    ));
    assert!(out[0].contains("<not-acceptable"), "{out:?}");
}

#[test]
fn all1_blocks_all_communication_by_jid() {
    assert_all(
        "<list name='all-jid-example'><item type='jid' value='tybalt@example.com' action='deny' order='23'/></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn all2_blocks_all_communication_by_roster_group() {
    assert_all(
        "<list name='all-group-example'><item type='group' value='Enemies' action='deny' order='13'/></list>",
        "tybalt@example.com/pda",
        "juliet@example.com/balcony",
    );
}

#[test]
fn all3_blocks_all_communication_by_subscription_type() {
    assert_all(
        "<list name='all-sub-example'><item type='subscription' value='none' action='deny' order='11'/></list>",
        "paris@example.org/ball",
        "juliet@example.com/balcony",
    );
}

#[test]
fn all4_blocks_all_communication_globally() {
    let list = "<list name='all-global-example'><item action='deny' order='7'/></list>";
    assert_all(list, "juliet@example.com/balcony", "romeo@example.net/home");
}

// ----- §10.14 Blocked Entity Attempts to Communicate with User -----

#[test]
fn probing1_an_iq_get_from_a_blocked_entity_gets_service_unavailable() {
    // A `jid` item denying everything in the default list is a block-list
    // entry (XEP-0191 §6): refusals are recorded as `blocked`. Messages
    // are dropped as §10.14 says when the server does not bounce them
    // (Prosody's `bounce_blocked_messages`, off here).
    let mut config = ServerConfig::new("example.net");
    config.bounce_blocked_messages = false;
    let mut h = romeo_with(config);
    set(
        &mut h,
        "l",
        "<list name='public'><item type='jid' value='tybalt@example.com' action='deny' order='1'/></list>",
    );
    set(&mut h, "d", "<default name='public'/>");
    let out = render(&h.peer_sends(
        "<iq type='get' to='romeo@example.net' from='tybalt@example.com/pda' id='probing1'>\
         <query xmlns='jabber:iq:version'/></iq>",
    ));
    assert_eq!(
        out,
        vec!["peer example.com <iq from='romeo@example.net' id='probing1' to='tybalt@example.com/pda' type='error'>\
              <query xmlns='jabber:iq:version'/><error type='cancel'>\
              <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"]
    );
    // Presence and messages are dropped without an error.
    for stanza in [
        "<presence from='tybalt@example.com/pda' to='romeo@example.net'/>",
        "<presence from='tybalt@example.com/pda' to='romeo@example.net' type='probe'/>",
        "<presence from='tybalt@example.com/pda' to='romeo@example.net' type='subscribe'/>",
        "<message from='tybalt@example.com/pda' to='romeo@example.net'><body>x</body></message>",
        "<iq type='error' id='e' from='tybalt@example.com/pda' to='romeo@example.net'/>",
    ] {
        let out = h.peer_sends(stanza);
        assert_eq!(render(&out), Vec::<String>::new(), "{stanza}");
        assert_eq!(drop_reasons(&out), vec!["blocked"], "{stanza}");
    }
}

// ----- §10.15 Higher-Level Heuristics -----

#[test]
fn heuristic1_blocks_everyone_not_in_the_roster() {
    let mut h = romeo();
    apply(
        &mut h,
        "<list name='heuristic-example'><item type='subscription' value='none' action='deny' order='437'/></list>",
    );
    assert_eq!(
        message_from(&mut h, "paris@example.org/ball"),
        vec!["dropped privacy"]
    );
    for contact in [
        "tybalt@example.com/pda",
        "benvolio@example.org/study",
        "mercutio@example.org/x",
    ] {
        assert_eq!(message_from(&mut h, contact), delivered_message(contact));
    }
}

// ----- Malformed requests: the exact error, nothing applied -----

#[test]
fn malformed_lists_are_refused_whole() {
    let mut h = with_rfc_lists();
    let cases = [
        // §10.1: unique orders.
        (
            "<list name='public'><item action='deny' order='1'/><item action='allow' order='1'/></list>",
            "modify",
            "bad-request",
        ),
        ("<list name='public'><item action='deny'/></list>", "modify", "bad-request"),
        ("<list name='public'><item order='1'/></list>", "modify", "bad-request"),
        ("<list name='public'><item action='deny' order='-3'/></list>", "modify", "bad-request"),
        (
            "<list name='public'><item type='jid' value='a@b@c' action='deny' order='1'/></list>",
            "modify",
            "jid-malformed",
        ),
        (
            "<list name='public'><item type='jid' action='deny' order='1'/></list>",
            "modify",
            "bad-request",
        ),
        // §10.1: a group that is not in the roster.
        (
            "<list name='public'><item type='group' value='Lovers' action='deny' order='1'/></list>",
            "cancel",
            "item-not-found",
        ),
        (
            "<list name='public'><item type='subscription' value='all' action='deny' order='1'/></list>",
            "modify",
            "bad-request",
        ),
        ("<list><item action='deny' order='1'/></list>", "modify", "bad-request"),
        // §10.1: one child in a set.
        ("<active name='public'/><default name='public'/>", "modify", "bad-request"),
        ("", "modify", "bad-request"),
        ("<other name='public'/>", "modify", "bad-request"),
    ];
    for (query, type_, condition) in cases {
        let out = set(&mut h, "bad", query);
        assert_eq!(out.len(), 1, "{query}: {out:?}");
        assert!(
            out[0].starts_with(
                "client c1 <iq id='bad' to='romeo@example.net/orchard' type='error'>\
                 <query xmlns='jabber:iq:privacy'"
            ),
            "{query}: {out:?}"
        );
        let error = format!(
            "<error type='{type_}'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        );
        assert!(out[0].contains(&error), "{query}: {out:?}");
        // 'public' is unchanged.
        assert_eq!(
            get(&mut h, "g", "<list name='public'/>"),
            vec![list_result("g", PUBLIC)],
            "{query}"
        );
    }
}

// ----- Roster changes (§10.2 rule 9) -----

#[test]
fn moving_a_contact_into_a_denied_group_sends_unavailable() {
    let mut h = romeo();
    apply(
        &mut h,
        "<list name='x'><item type='group' value='Enemies' action='deny' order='1'><presence-out/></item></list>",
    );
    let out = render(&h.send(
        ORCHARD,
        "<iq type='set' id='r1'><query xmlns='jabber:iq:roster'>\
         <item jid='juliet@example.com'><group>Enemies</group></item></query></iq>",
    ));
    assert_eq!(out[0], UNAVAILABLE_TO("juliet@example.com"));
    assert_eq!(out[1], result("r1"));
    // And back out of it: the current presence again.
    let out = render(&h.send(
        ORCHARD,
        "<iq type='set' id='r2'><query xmlns='jabber:iq:roster'>\
         <item jid='juliet@example.com'><group>Friends</group></item></query></iq>",
    ));
    assert!(
        out[0].starts_with("peer example.com <presence from='romeo@example.net/orchard' to='juliet@example.com'><delay "),
        "{out:?}"
    );
}

#[test]
fn a_new_subscriber_the_list_denies_gets_no_presence() {
    let mut h = romeo();
    apply(
        &mut h,
        "<list name='x'><item type='subscription' value='from' action='deny' order='1'><presence-out/></item></list>",
    );
    // paris subscribes and romeo approves: paris becomes a 'from' contact.
    h.peer_sends("<presence from='paris@example.org' to='romeo@example.net' type='subscribe'/>");
    let out = h.send(
        ORCHARD,
        "<presence to='paris@example.org' type='subscribed'/>",
    );
    let lines = render(&out);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("peer example.org <presence from='romeo@example.net' to='paris@example.org' type='subscribed'/>")));
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("from='romeo@example.net/orchard' to='paris@example.org'")),
        "{lines:?}"
    );
    // home, without a list, sends its presence.
    assert!(lines
        .iter()
        .any(|l| l.contains("from='romeo@example.net/home' to='paris@example.org'")));
}

// ----- The block list is the default list (XEP-0191 §6) -----

fn block(h: &mut Harness, conn: ConnId, jid: &str) -> Vec<String> {
    render(&h.send(
        conn,
        &format!("<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='{jid}'/></block></iq>"),
    ))
}

#[test]
fn blocking_makes_a_default_list_of_deny_items() {
    let mut h = romeo();
    // orchard uses privacy lists; home uses the block list.
    get(&mut h, "g", "");
    iq_blocklist(&mut h, HOME);
    let out = block(&mut h, HOME, "tybalt@example.com");
    assert_eq!(
        out,
        vec![
            "client c2 <iq id='b' to='romeo@example.net/home' type='result'/>",
            "peer example.com <presence from='romeo@example.net/home' to='tybalt@example.com' type='unavailable'/>",
            "peer example.com <presence from='romeo@example.net/orchard' to='tybalt@example.com' type='unavailable'/>",
            "client c2 <iq id='blocklist-push' to='romeo@example.net/home' type='set'>\
             <block xmlns='urn:xmpp:blocking'><item jid='tybalt@example.com'/></block></iq>",
            &format!(
                "client c1 <iq id='{}' to='romeo@example.net/orchard' type='set'>\
                 <query xmlns='jabber:iq:privacy'><list name='blocklist'/></query></iq>",
                out[4].split("id='").nth(1).unwrap().split('\'').next().unwrap()
            ),
        ]
    );
    assert_eq!(
        get(&mut h, "g", ""),
        vec!["client c1 <iq id='g' to='romeo@example.net/orchard' type='result'>\
              <query xmlns='jabber:iq:privacy'><default name='blocklist'/><list name='blocklist'/></query></iq>"]
    );
    assert_eq!(
        get(&mut h, "g", "<list name='blocklist'/>"),
        vec!["client c1 <iq id='g' to='romeo@example.net/orchard' type='result'>\
              <query xmlns='jabber:iq:privacy'><list name='blocklist'>\
              <item action='deny' order='0' type='jid' value='tybalt@example.com'/></list></query></iq>"]
    );
    // Unblocking empties the default list, which goes; orchard hears of it.
    let out = render(&h.send(
        HOME,
        "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/></iq>",
    ));
    let push = out.last().unwrap();
    assert!(
        push.starts_with("client c1 <iq id='")
            && push.ends_with(
                "to='romeo@example.net/orchard' type='set'>\
                 <query xmlns='jabber:iq:privacy'><list name='blocklist'/></query></iq>"
            ),
        "{out:?}"
    );
    assert_eq!(
        get(&mut h, "g", ""),
        vec![
            "client c1 <iq id='g' to='romeo@example.net/orchard' type='result'>\
              <query xmlns='jabber:iq:privacy'/></iq>"
        ]
    );
}

fn iq_blocklist(h: &mut Harness, conn: ConnId) -> Vec<String> {
    render(&h.send(
        conn,
        "<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>",
    ))
}

#[test]
fn deny_items_of_the_default_list_show_in_the_block_list() {
    let mut h = romeo();
    iq_blocklist(&mut h, HOME);
    iq(&mut h, HOME, "set", "a", "<active/>");
    set(
        &mut h,
        "l",
        "<list name='mine'>\
         <item type='jid' value='paris@example.org' action='deny' order='1'/>\
         <item type='jid' value='tybalt@example.com' action='deny' order='2'><message/></item>\
         <item action='allow' order='3'/></list>",
    );
    let out = set(&mut h, "d", "<default name='mine'/>");
    // Only the item that denies everything is a block-list entry.
    assert!(out.contains(
        &"client c2 <iq id='blocklist-push' to='romeo@example.net/home' type='set'>\
          <block xmlns='urn:xmpp:blocking'><item jid='paris@example.org'/></block></iq>"
            .to_string()
    ));
    assert_eq!(
        iq_blocklist(&mut h, HOME),
        vec!["client c2 <iq id='bl' to='romeo@example.net/home' type='result'>\
              <blocklist xmlns='urn:xmpp:blocking'><item jid='paris@example.org'/></blocklist></iq>"]
    );
    // Unblocking through XEP-0191 removes the item from the list.
    render(&h.send(
        HOME,
        "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'><item jid='paris@example.org'/></unblock></iq>",
    ));
    let served = get(&mut h, "g", "<list name='mine'/>");
    assert!(!served[0].contains("paris"), "{served:?}");
    assert!(served[0].contains("tybalt"), "{served:?}");
}

#[test]
fn a_session_with_its_own_active_list_is_not_governed_by_the_block_list() {
    let mut h = romeo();
    set(
        &mut h,
        "l",
        "<list name='open'><item action='allow' order='1'/></list>",
    );
    set(&mut h, "a", "<active name='open'/>");
    block(&mut h, HOME, "tybalt@example.com");
    assert_eq!(
        message_from(&mut h, "tybalt@example.com/pda"),
        delivered_message("tybalt@example.com/pda")
    );
    let out = h.peer_sends(
        "<message from='tybalt@example.com/pda' to='romeo@example.net/home' type='chat'/>",
    );
    assert_eq!(render(&out), Vec::<String>::new());
    assert_eq!(drop_reasons(&out), vec!["blocked"]);
}
