//! The roster of one account (RFC 6121 §2): items with their subscription
//! state, pending inbound subscription requests, and the roster version.
//!
//! The version is a save counter (as Prosody keeps it): every change to an
//! item or to the pending requests is a save and increments it. A roster that
//! was never saved reports version 1, and so does its first push.

mod items;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use items::RosterItems;

use jid::BareJid;
use minidom::Element;

use crate::server::{ConnId, Event, Server};
use crate::stanza::{ErrorType, Kind, Payload, Stanza, StanzaError};
use crate::xml::{self, NS_ROSTER};

/// The `subscription` attribute of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Subscription {
    #[default]
    None,
    To,
    From,
    Both,
}

impl Subscription {
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Subscription> {
        Some(match s {
            "none" => Subscription::None,
            "to" => Subscription::To,
            "from" => Subscription::From,
            "both" => Subscription::Both,
            _ => return None,
        })
    }

    /// The user receives the contact's presence.
    pub fn has_to(self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    /// The contact receives the user's presence.
    pub fn has_from(self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }

    pub fn from_parts(to: bool, from: bool) -> Subscription {
        match (to, from) {
            (false, false) => Subscription::None,
            (true, false) => Subscription::To,
            (false, true) => Subscription::From,
            (true, true) => Subscription::Both,
        }
    }

    pub fn with_to(self, to: bool) -> Subscription {
        Subscription::from_parts(to, self.has_from())
    }

    pub fn with_from(self, from: bool) -> Subscription {
        Subscription::from_parts(self.has_to(), from)
    }
}

/// One roster item.
///
/// An item is 16 bytes: the name and groups a user gave the contact are
/// behind one pointer, null when there are none, because a presence
/// broadcast reads every item of the sender's roster for its subscription
/// and never reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterItem {
    pub subscription: Subscription,
    /// An outbound subscription request is pending ("ask='subscribe'").
    pub ask: bool,
    /// The user pre-approved the contact's subscription (RFC 6121 §3.4).
    /// Never shown to clients, as in Prosody.
    pub approved: bool,
    /// `None` when the item has neither name nor group, so that two items
    /// with the same fields are equal.
    labels: Option<Box<Labels>>,
}

/// The item's `name` attribute and `<group/>` children (RFC 6121 §2.1.2.4,
/// §2.1.2.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Labels {
    name: Option<String>,
    groups: Vec<String>,
}

impl RosterItem {
    /// An item with this subscription, no pending request, no name and no
    /// group.
    pub fn new(subscription: Subscription) -> RosterItem {
        RosterItem {
            subscription,
            ..RosterItem::default()
        }
    }

    /// The item with `ask` set as given.
    pub fn with_ask(mut self, ask: bool) -> RosterItem {
        self.ask = ask;
        self
    }

    /// The item with this name and these groups.
    pub fn with_labels(mut self, name: Option<String>, groups: Vec<String>) -> RosterItem {
        self.set_labels(name, groups);
        self
    }

    /// The name the user gave the contact.
    pub fn name(&self) -> Option<&str> {
        self.labels.as_ref()?.name.as_deref()
    }

    /// The groups the contact is in, in the order the user gave them.
    pub fn groups(&self) -> &[String] {
        self.labels.as_ref().map_or(&[], |l| l.groups.as_slice())
    }

    /// Replaces the item's name and groups.
    pub fn set_labels(&mut self, name: Option<String>, groups: Vec<String>) {
        self.labels =
            (name.is_some() || !groups.is_empty()).then(|| Box::new(Labels { name, groups }));
    }
}

/// The nine subscription states of RFC 3921 §9.1, from the user's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubState {
    pub subscription: Subscription,
    pub pending_out: bool,
    pub pending_in: bool,
}

impl SubState {
    /// The state's name as RFC 3921 §9 writes it ("None + Pending Out",
    /// "Both"), with the sixteen combinations the fields allow.
    pub fn name(&self) -> &'static str {
        const NAMES: [[&str; 4]; 4] = [
            [
                "None",
                "None + Pending Out",
                "None + Pending In",
                "None + Pending Out/In",
            ],
            [
                "To",
                "To + Pending Out",
                "To + Pending In",
                "To + Pending Out/In",
            ],
            [
                "From",
                "From + Pending Out",
                "From + Pending In",
                "From + Pending Out/In",
            ],
            [
                "Both",
                "Both + Pending Out",
                "Both + Pending In",
                "Both + Pending Out/In",
            ],
        ];
        let row = match self.subscription {
            Subscription::None => 0,
            Subscription::To => 1,
            Subscription::From => 2,
            Subscription::Both => 3,
        };
        NAMES[row][usize::from(self.pending_out) | usize::from(self.pending_in) << 1]
    }
}

impl std::fmt::Display for SubState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A pending inbound subscription request: the full stanza as received
/// (Prosody #689), so its extension children can be replayed.
pub type PendingRequest = Arc<Payload>;

/// The roster of one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    saves: u64,
    pub items: RosterItems,
    pub pending_in: BTreeMap<BareJid, PendingRequest>,
}

impl Roster {
    /// The current version string.
    pub fn version(&self) -> u64 {
        self.saves.max(1)
    }

    /// Records a save: any change to items or pending requests.
    pub fn save(&mut self) {
        self.saves += 1;
    }

    /// The RFC 3921 §9.1 state of the relation with `contact`.
    pub fn state(&self, contact: &BareJid) -> SubState {
        let item = self.items.get(contact);
        SubState {
            subscription: item.map(|i| i.subscription).unwrap_or_default(),
            pending_out: item.is_some_and(|i| i.ask),
            pending_in: self.pending_in.contains_key(contact),
        }
    }

    pub fn subscription(&self, contact: &BareJid) -> Subscription {
        self.items
            .get(contact)
            .map(|i| i.subscription)
            .unwrap_or_default()
    }

    /// The contact is subscribed to the user's presence (`from` or `both`).
    pub fn contact_subscribed(&self, contact: &BareJid) -> bool {
        self.subscription(contact).has_from()
    }

    /// [`Roster::contact_subscribed`] for the contact's bare JID as text.
    pub fn contact_subscribed_text(&self, contact: &str) -> bool {
        self.items
            .get_text(contact)
            .is_some_and(|i| i.subscription.has_from())
    }

    /// The user is subscribed to the contact's presence (`to` or `both`).
    pub fn user_subscribed(&self, contact: &BareJid) -> bool {
        self.subscription(contact).has_to()
    }

    pub fn item_mut_or_new(&mut self, contact: &BareJid) -> &mut RosterItem {
        self.items.get_or_insert_default(contact)
    }
}

/// The `<item/>` element of a roster result or push (RFC 6121 §2.1.2).
pub fn item_element(jid: &BareJid, item: Option<&RosterItem>) -> Element {
    let Some(item) = item else {
        return xml::element(
            "item",
            NS_ROSTER,
            &[("jid", jid.as_str()), ("subscription", "remove")],
        );
    };
    let mut el = xml::element(
        "item",
        NS_ROSTER,
        &[
            ("jid", jid.as_str()),
            ("subscription", item.subscription.as_str()),
        ],
    );
    if let Some(name) = item.name() {
        xml::set_attr(&mut el, "name", name);
    }
    if item.ask {
        xml::set_attr(&mut el, "ask", "subscribe");
    }
    for group in item.groups() {
        el.append_child(xml::text_element("group", NS_ROSTER, group));
    }
    el
}

/// The result of a roster get that holds every item, as text: byte for
/// byte what `iq::result` with the [`query_element`] of each
/// [`item_element`] serializes to, without building those elements (a
/// login's roster is its largest stanza, and its client reads no more of
/// it than its id). `None` if a value holds a character XML cannot hold,
/// which the elements' own serialization deals with.
fn roster_result_text(id: Option<&str>, version: u64, items: &RosterItems) -> Option<String> {
    let mut out = String::with_capacity(80 + 64 * items.len());
    out.push_str("<iq");
    let mut ok = id.is_none_or(|id| xml::attribute(&mut out, "id", id));
    ok &= xml::attribute(&mut out, "type", "result");
    out.push_str("><query xmlns='");
    out.push_str(NS_ROSTER);
    out.push('\'');
    ok &= xml::attribute(&mut out, "ver", &version.to_string());
    if items.is_empty() {
        out.push_str("/></iq>");
        return ok.then_some(out);
    }
    out.push('>');
    for (jid, item) in items.iter() {
        out.push_str("<item");
        if item.ask {
            ok &= xml::attribute(&mut out, "ask", "subscribe");
        }
        ok &= xml::attribute(&mut out, "jid", jid.as_str());
        if let Some(name) = item.name() {
            ok &= xml::attribute(&mut out, "name", name);
        }
        ok &= xml::attribute(&mut out, "subscription", item.subscription.as_str());
        if item.groups().is_empty() {
            out.push_str("/>");
            continue;
        }
        out.push('>');
        for group in item.groups() {
            out.push_str("<group>");
            ok &= xml::escape(group, false, &mut out);
            out.push_str("</group>");
        }
        out.push_str("</item>");
    }
    out.push_str("</query></iq>");
    ok.then_some(out)
}

/// `<query xmlns='jabber:iq:roster' ver='N'/>` holding the given items.
pub fn query_element(version: u64, items: impl IntoIterator<Item = Element>) -> Element {
    let mut q = xml::element("query", NS_ROSTER, &[("ver", &version.to_string())]);
    for item in items {
        q.append_child(item);
    }
    q
}

// ----- jabber:iq:roster requests and pushes (RFC 6121 §2) -----

/// What a roster set asks for, once validated.
enum RosterSet {
    Update {
        jid: BareJid,
        name: Option<String>,
        groups: Vec<String>,
    },
    Remove {
        jid: BareJid,
    },
}

/// Validates a roster set's `<query/>` (RFC 6121 §2.3.3, §2.5.3).
fn parse_roster_set(query: &Element, own: &BareJid) -> Result<RosterSet, StanzaError> {
    let mut items = query.children().filter(|c| c.is("item", NS_ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(StanzaError::new(ErrorType::Modify, "bad-request"));
    };
    if query.children().count() != 1 {
        return Err(StanzaError::new(ErrorType::Modify, "bad-request"));
    }
    let jid = item
        .attr("jid")
        .and_then(|j| jid::Jid::new(j).ok())
        .filter(|j| j.is_bare())
        .map(|j| j.to_bare())
        .ok_or_else(|| StanzaError::new(ErrorType::Modify, "bad-request"))?;
    if &jid == own {
        return Err(StanzaError::new(ErrorType::Cancel, "not-allowed"));
    }
    if item.attr("subscription") == Some("remove") {
        return Ok(RosterSet::Remove { jid });
    }
    let mut groups: Vec<String> = Vec::new();
    for group in item.children().filter(|c| c.is("group", NS_ROSTER)) {
        let name = group.text();
        if name.is_empty() {
            return Err(
                StanzaError::new(ErrorType::Modify, "not-acceptable").with_text("Empty group name")
            );
        }
        if groups.contains(&name) {
            return Err(
                StanzaError::new(ErrorType::Modify, "bad-request").with_text("Duplicate group")
            );
        }
        groups.push(name);
    }
    let name = item
        .attr("name")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Ok(RosterSet::Update { jid, name, groups })
}

impl Server {
    /// A roster get or set from the account's own session.
    pub(crate) fn roster_iq(&mut self, conn: ConnId, stanza: Stanza) {
        let session = self.session(conn).expect("bound");
        let (node, bare) = (session.node.clone(), session.bare.clone());
        if stanza.type_() == Some("get") {
            return self.roster_get(conn, &node, &stanza);
        }
        let query = stanza.payload().children().next().expect("validated");
        match parse_roster_set(query, &bare) {
            Err(error) => self.reply_error(conn, &stanza, error),
            Ok(RosterSet::Remove { jid }) => self.roster_remove(conn, &node, &stanza, &jid),
            Ok(RosterSet::Update { jid, name, groups }) => {
                self.store.create(&node, "");
                // A group change can change privacy decisions (RFC 3921
                // §10.2 rule 9).
                self.with_privacy_effects(&node, |server| {
                    let roster = &mut server.store.create(&node, "").roster;
                    let item = roster.item_mut_or_new(&jid);
                    item.set_labels(name, groups);
                    roster.save();
                });
                self.send_to_client(conn, crate::iq::result(&stanza, None, None));
                self.push_item(&node, &jid);
            }
        }
    }

    /// Roster get with versioning (RFC 6121 §2.6): an unchanged version gets
    /// an empty result. Marks the session interested in pushes.
    fn roster_get(&mut self, conn: ConnId, node: &str, stanza: &Stanza) {
        if let Some(session) = self.session_mut(conn) {
            session.interested = true;
        }
        let roster = &self.store.create(node, "").roster;
        let version = roster.version();
        let client_ver = stanza
            .payload()
            .children()
            .next()
            .and_then(|q| q.attr("ver"));
        let reply = if client_ver == Some(version.to_string().as_str()) {
            crate::iq::result(stanza, None, None)
        } else if let Some(text) = roster_result_text(stanza.id(), version, &roster.items) {
            let payload = Payload::from_text(text, Kind::Iq, Some("result"));
            Stanza::shared(None, stanza.from.clone(), Arc::new(payload))
        } else {
            let items = roster
                .items
                .iter()
                .map(|(jid, item)| item_element(jid, Some(item)));
            let query = query_element(version, items);
            crate::iq::result(stanza, None, Some(query))
        };
        self.send_to_client(conn, reply);
    }

    /// Roster remove (RFC 6121 §2.5): cancels subscriptions, deletes the
    /// item, answers, then pushes the removal.
    fn roster_remove(&mut self, conn: ConnId, node: &str, stanza: &Stanza, jid: &BareJid) {
        let exists = self
            .store
            .account(node)
            .is_some_and(|a| a.roster.items.contains_key(jid));
        if !exists {
            return self.reply_error(
                conn,
                stanza,
                StanzaError::new(ErrorType::Modify, "item-not-found"),
            );
        }
        self.cancel_subscriptions_on_removal(conn, node, jid);
        let roster = &mut self.store.create(node, "").roster;
        let before = roster.state(jid);
        roster.items.remove(jid);
        roster.pending_in.remove(jid);
        roster.save();
        let after = roster.state(jid);
        let user = self.session(conn).expect("bound").bare.clone();
        if before != after {
            self.event(Event::SubscriptionChanged {
                user,
                contact: jid.clone(),
                before,
                after,
            });
            self.privacy_subscription_changed(node, jid, before.subscription);
        }
        self.send_to_client(conn, crate::iq::result(stanza, None, None));
        self.push_item(node, jid);
    }

    /// Sends a roster push for one item to the account's interested
    /// sessions (RFC 6121 §2.1.6).
    pub(crate) fn push_item(&mut self, node: &str, jid: &BareJid) {
        let Some(roster) = self.store.account(node).map(|a| &a.roster) else {
            return;
        };
        let query = query_element(roster.version(), [item_element(jid, roster.items.get(jid))]);
        let interested: Vec<ConnId> = self
            .account_conns(node)
            .into_iter()
            .filter(|c| self.session(*c).is_some_and(|s| s.interested))
            .collect();
        if interested.is_empty() {
            return;
        }
        let mut iq = xml::element("iq", crate::xml::NS_CLIENT, &[("type", "set")]);
        xml::set_attr(&mut iq, "id", format!("push{}", self.next_id()));
        iq.append_child(query);
        let push = Stanza::new(None, None, iq);
        for conn in interested {
            self.send_to_client(conn, push.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_starts_at_one_and_counts_saves() {
        let mut r = Roster::default();
        assert_eq!(r.version(), 1);
        r.save();
        assert_eq!(r.version(), 1);
        r.save();
        assert_eq!(r.version(), 2);
    }

    /// The roster result written as text is what the elements serialize
    /// to, for items with and without names, groups and pending requests,
    /// values XML escapes, an empty roster and a request without an id;
    /// a value XML cannot hold leaves the result to the elements.
    #[test]
    fn roster_result_text_is_the_elements_serialized() {
        let mut items = RosterItems::default();
        let odd = [
            "J & R",
            "it's <b>",
            "\"quoted\"",
            "tab\there",
            "caf\u{e9} \u{2603}",
        ];
        for (i, name) in odd.iter().enumerate() {
            let jid = BareJid::new(&format!("contact{i}@example.com")).unwrap();
            let mut item = RosterItem::new(
                [
                    Subscription::None,
                    Subscription::To,
                    Subscription::From,
                    Subscription::Both,
                ][i % 4],
            )
            .with_ask(i % 2 == 0)
            .with_labels(
                (i % 4 != 3).then(|| name.to_string()),
                odd[..i].iter().map(|g| g.to_string()).collect(),
            );
            item.approved = i % 3 == 0;
            items.insert(jid, item);
        }
        let by_elements = |id: Option<&str>, items: &RosterItems| {
            let mut iq = xml::element("iq", crate::xml::NS_CLIENT, &[("type", "result")]);
            if let Some(id) = id {
                xml::set_attr(&mut iq, "id", id);
            }
            iq.append_child(query_element(
                7,
                items
                    .iter()
                    .map(|(jid, item)| item_element(jid, Some(item))),
            ));
            xml::to_string(&iq)
        };
        for id in [Some("roster1"), Some("a'b&c"), None] {
            for roster in [&items, &RosterItems::default()] {
                assert_eq!(
                    roster_result_text(id, 7, roster).as_deref(),
                    Some(by_elements(id, roster).as_str())
                );
            }
        }
        let jid = BareJid::new("x@example.com").unwrap();
        let mut unwritable = RosterItems::default();
        let item = RosterItem::default().with_labels(Some("bell\u{7}".into()), Vec::new());
        unwritable.insert(jid, item);
        assert_eq!(roster_result_text(Some("r"), 1, &unwritable), None);
    }

    /// Each of the sixteen states is named as RFC 3921 §9 names it: the
    /// subscription, then the pending requests.
    #[test]
    fn sub_state_names() {
        for (subscription, base) in [
            (Subscription::None, "None"),
            (Subscription::To, "To"),
            (Subscription::From, "From"),
            (Subscription::Both, "Both"),
        ] {
            for (pending_out, pending_in, suffix) in [
                (false, false, ""),
                (true, false, " + Pending Out"),
                (false, true, " + Pending In"),
                (true, true, " + Pending Out/In"),
            ] {
                let state = SubState {
                    subscription,
                    pending_out,
                    pending_in,
                };
                assert_eq!(state.name(), format!("{base}{suffix}"));
                assert_eq!(state.to_string(), state.name());
            }
        }
    }

    /// Name and groups read back as set; an item set to have neither is
    /// equal to one that never had any, and an item is 16 bytes.
    #[test]
    fn labels_read_back_and_empty_labels_are_none() {
        let item = RosterItem::new(Subscription::Both)
            .with_labels(Some("Nurse".into()), vec!["Family".into(), "Verona".into()]);
        assert_eq!(item.name(), Some("Nurse"));
        assert_eq!(item.groups(), ["Family", "Verona"]);
        let named = RosterItem::new(Subscription::To).with_labels(Some("N".into()), Vec::new());
        assert_eq!((named.name(), named.groups()), (Some("N"), &[][..]));
        let grouped = RosterItem::new(Subscription::To).with_labels(None, vec!["G".into()]);
        assert_eq!(
            (grouped.name(), grouped.groups()),
            (None, &["G".to_string()][..])
        );
        let mut cleared = item.clone();
        cleared.set_labels(None, Vec::new());
        assert_eq!(cleared, RosterItem::new(Subscription::Both));
        assert_eq!((cleared.name(), cleared.groups()), (None, &[][..]));
        assert_ne!(item, RosterItem::new(Subscription::Both));
        assert_eq!(std::mem::size_of::<RosterItem>(), 16);
    }

    #[test]
    fn item_element_hides_approval_and_shows_ask() {
        let jid = BareJid::new("juliet@example.com").unwrap();
        let mut item = RosterItem::default()
            .with_ask(true)
            .with_labels(Some("J".into()), vec!["Friends".into()]);
        item.approved = true;
        assert_eq!(
            xml::to_string(&item_element(&jid, Some(&item))),
            "<item xmlns='jabber:iq:roster' ask='subscribe' jid='juliet@example.com' \
             name='J' subscription='none'><group>Friends</group></item>"
        );
    }

    #[test]
    fn state_names_follow_rfc3921() {
        let s = SubState {
            subscription: Subscription::None,
            pending_out: true,
            pending_in: true,
        };
        assert_eq!(s.to_string(), "None + Pending Out/In");
    }
}
