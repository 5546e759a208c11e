//! XEP-0191 Blocking Command, as Prosody's mod_blocklist does it
//! (PROSODY-NOTES §1.12), with two changes where the XEP asks for more:
//! the block list matches `domain/resource` entries too (XEP-0191 §6, the
//! XEP-0016 order), and blocking or unblocking a domain or a full JID acts
//! on every roster contact it matches, not only on a roster item of exactly
//! that JID.
//!
//! - The list (`Account::blocklist`) is durable: it survives sessions and
//!   server restarts.
//! - `<blocklist/>` get returns it and marks the session for pushes;
//!   `<block/>` / `<unblock/>` set edit it and push the change to those
//!   sessions (`id='blocklist-push'`). An empty `<unblock/>` clears it.
//! - Blocking a contact who receives the user's presence sends them
//!   unavailable presence from each available resource; unblocking sends
//!   them the current presence (as the answer to a probe from them).
//! - Inbound, nothing from a blocked JID reaches the user: presence is
//!   dropped, iq get/set get `service-unavailable`, chat/normal messages to
//!   the bare JID are bounced with `service-unavailable` if
//!   `bounce_blocked_messages` is on, everything else is dropped.
//! - Outbound, a client's stanza to a blocked JID is answered with
//!   `not-acceptable` "You have blocked this JID" `<blocked/>`; errors and
//!   results are dropped. Subscription stanzas still go out (Prosody's
//!   mod_presence routes them before the check). Presence the server sends
//!   on the user's behalf (broadcasts, probes, probe answers, annotations)
//!   is not sent to a blocked JID: it is recorded as dropped (`blocked`),
//!   with no error to the user.
//! - A user's own resources never block each other (XEP-0191 §6).

use std::collections::BTreeSet;

use jid::{BareJid, Jid};
use minidom::Element;

use crate::iq;
use crate::presence::SUBSCRIPTION_TYPES;
use crate::roster::Subscription;
use crate::server::{ConnId, DropReason, Event, Server};
use crate::stanza::{ErrorType, Kind, Stanza, StanzaError};
use crate::xml::{self, NS_CLIENT};

pub const NS_BLOCKING: &str = "urn:xmpp:blocking";
pub const NS_BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";

/// Whether `list` blocks `jid`: its full JID, bare JID, `domain/resource`
/// or domain is on the list (XEP-0191 §6, in the XEP-0016 order).
pub(crate) fn blocks(list: &BTreeSet<String>, jid: &Jid) -> bool {
    if list.is_empty() {
        return false;
    }
    let domain = jid.domain().as_str();
    let resource = jid.resource().map(|r| r.as_str());
    list.contains(jid.to_bare().as_str())
        || list.contains(domain)
        || (jid.is_full() && list.contains(&jid.to_string()))
        || resource.is_some_and(|r| list.contains(&format!("{domain}/{r}")))
}

/// The block-list edit a client asked for.
enum Edit {
    Block(Vec<String>),
    Unblock(Vec<String>),
    UnblockAll,
}

/// Reads a `<block/>` or `<unblock/>` element: the prepped JIDs, or the
/// error that rejects the whole request (nothing is applied then).
fn parse_edit(action: &Element) -> Result<Edit, StanzaError> {
    let mut jids = Vec::new();
    for item in action.children().filter(|c| c.is("item", NS_BLOCKING)) {
        let jid = item
            .attr("jid")
            .and_then(|j| Jid::new(j).ok())
            .ok_or_else(|| StanzaError::new(ErrorType::Modify, "jid-malformed"))?;
        jids.push(jid.to_string());
    }
    match (action.name(), jids.is_empty()) {
        ("block", true) => Err(StanzaError::new(ErrorType::Modify, "bad-request")),
        ("block", false) => Ok(Edit::Block(jids)),
        (_, true) => Ok(Edit::UnblockAll),
        (_, false) => Ok(Edit::Unblock(jids)),
    }
}

/// The edit as pushed to interested sessions: the request's element with
/// the JIDs prepped.
fn push_element(name: &str, jids: &[String]) -> Element {
    let mut el = Element::bare(name, NS_BLOCKING);
    for jid in jids {
        el.append_child(xml::element("item", NS_BLOCKING, &[("jid", jid)]));
    }
    el
}

impl Server {
    /// `<blocklist/>`, `<block/>` or `<unblock/>` sent by a user to their
    /// own account.
    pub(crate) fn blocking_iq(&mut self, conn: ConnId, stanza: Stanza) {
        let child = stanza.payload.children().next().expect("validated");
        match (child.name(), stanza.type_()) {
            ("blocklist", Some("get")) => self.blocklist_get(conn, &stanza),
            ("block" | "unblock", Some("set")) => match parse_edit(child) {
                Ok(edit) => self.edit_blocklist(conn, &stanza, edit),
                Err(error) => self.reply_error(conn, &stanza, error),
            },
            _ => self.reply_error(conn, &stanza, StanzaError::service_unavailable()),
        }
    }

    fn blocklist_get(&mut self, conn: ConnId, stanza: &Stanza) {
        let node = self.session(conn).expect("bound").node.clone();
        let jids: Vec<String> = self
            .store
            .account(&node)
            .map(|a| a.blocklist.iter().cloned().collect())
            .unwrap_or_default();
        self.session_mut(conn).expect("bound").blocklist_interested = true;
        let reply = iq::result(stanza, None, Some(push_element("blocklist", &jids)));
        self.send_to_client(conn, reply);
    }

    fn edit_blocklist(&mut self, conn: ConnId, stanza: &Stanza, edit: Edit) {
        let (node, bare) = {
            let s = self.session(conn).expect("bound");
            (s.node.clone(), s.bare.clone())
        };
        let Some(account) = self.store.account_mut(&node) else {
            return;
        };
        let before = account.blocklist.clone();
        let (push, changed) = match &edit {
            Edit::Block(jids) => {
                account.blocklist.extend(jids.iter().cloned());
                let new: Vec<String> = jids
                    .iter()
                    .filter(|j| !before.contains(*j))
                    .cloned()
                    .collect();
                (push_element("block", jids), new)
            }
            Edit::Unblock(jids) => {
                let gone: Vec<String> = jids
                    .iter()
                    .filter(|j| before.contains(*j))
                    .cloned()
                    .collect();
                for j in jids {
                    account.blocklist.remove(j);
                }
                (push_element("unblock", jids), gone)
            }
            Edit::UnblockAll => {
                account.blocklist.clear();
                (
                    push_element("unblock", &[]),
                    before.iter().cloned().collect(),
                )
            }
        };
        let blocking = matches!(edit, Edit::Block(_));
        for jid in &changed {
            self.event(Event::Blocklist {
                user: bare.clone(),
                jid: jid.clone(),
                blocked: blocking,
            });
        }
        self.send_to_client(conn, iq::result(stanza, None, None));
        if blocking {
            self.after_block(&node, &before);
        } else {
            self.after_unblock(&node, &bare, &before);
        }
        self.push_blocklist(&node, push);
    }

    /// Contacts whose subscription satisfies `pred` that `list` blocks and
    /// `other` does not: those a block-list edit blocked or unblocked.
    fn blocked_by_only(
        &self,
        node: &str,
        list: &BTreeSet<String>,
        other: &BTreeSet<String>,
        pred: impl Fn(Subscription) -> bool,
    ) -> Vec<Jid> {
        let mut contacts = self.contacts_where(node, pred);
        contacts.retain(|c| blocks(list, c) && !blocks(other, c));
        contacts
    }

    /// Newly blocked subscribers get unavailable presence from each of
    /// the user's sessions; pending requests from blocked JIDs are dropped.
    fn after_block(&mut self, node: &str, before: &BTreeSet<String>) {
        let list = self.store.account(node).expect("exists").blocklist.clone();
        for contact in self.blocked_by_only(node, &list, before, |s| s.has_from()) {
            for conn in self.account_conns(node) {
                // Every session, available or not: one that is unavailable
                // may have sent the contact directed presence since.
                let Some(full) = self.session(conn).map(|s| s.full.clone()) else {
                    continue;
                };
                let unavailable =
                    crate::presence::presence_from(&full, &contact, Some("unavailable"));
                self.route_past_blocklist(unavailable);
            }
        }
        self.end_directed_presence_to_blocked(node, &list);
        let account = self.store.account_mut(node).expect("exists");
        let pending: Vec<BareJid> = account
            .roster
            .pending_in
            .keys()
            .filter(|j| blocks(&list, &Jid::from((*j).clone())))
            .cloned()
            .collect();
        if !pending.is_empty() {
            for j in &pending {
                account.roster.pending_in.remove(j);
            }
            account.roster.save();
        }
    }

    /// Entities that got directed presence and are now blocked get
    /// unavailable presence, as subscribers do, and leave the directed
    /// list: no later presence could reach them to end it.
    fn end_directed_presence_to_blocked(&mut self, node: &str, list: &BTreeSet<String>) {
        for conn in self.account_conns(node) {
            let Some(session) = self.session_mut(conn) else {
                continue;
            };
            let blocked: Vec<Jid> = session
                .directed
                .iter()
                .filter(|to| blocks(list, to))
                .cloned()
                .collect();
            for to in &blocked {
                session.directed.remove(to);
            }
            let full = session.full.clone();
            for to in blocked {
                self.event(Event::Directed {
                    from: full.clone(),
                    to: to.clone(),
                    available: false,
                });
                let unavailable = crate::presence::presence_from(&full, &to, Some("unavailable"));
                self.route_past_blocklist(unavailable);
            }
        }
    }

    /// Subscribers no longer blocked get the user's current presence: the
    /// server answers a probe from each, as Prosody does. Contacts the user
    /// is subscribed to are probed in turn: their presence was refused
    /// while they were blocked.
    fn after_unblock(&mut self, node: &str, bare: &BareJid, before: &BTreeSet<String>) {
        let list = self.store.account(node).expect("exists").blocklist.clone();
        for contact in self.blocked_by_only(node, before, &list, |s| s.has_to()) {
            self.route(crate::presence::presence(bare, &contact, Some("probe")));
        }
        for contact in self.blocked_by_only(node, before, &list, |s| s.has_from()) {
            let probe = crate::presence::presence(
                &contact.to_bare(),
                &Jid::from(bare.clone()),
                Some("probe"),
            );
            self.inbound_presence(probe);
        }
    }

    fn push_blocklist(&mut self, node: &str, action: Element) {
        for conn in self.account_conns(node) {
            let Some(full) = self
                .session(conn)
                .filter(|s| s.blocklist_interested)
                .map(|s| s.full.clone())
            else {
                continue;
            };
            let mut push = xml::element(
                "iq",
                NS_CLIENT,
                &[("type", "set"), ("id", "blocklist-push")],
            );
            push.append_child(action.clone());
            self.send_to_client(conn, Stanza::new(None, Some(full), push));
        }
    }

    /// Whether the account `node` blocks `jid` (never one of its own).
    pub(crate) fn is_blocked(&self, node: &str, jid: &Jid) -> bool {
        let Some(account) = self.store.account(node) else {
            return false;
        };
        let own = jid.node().is_some_and(|n| n.as_str() == node) && self.is_local(jid);
        !own && blocks(&account.blocklist, jid)
    }

    /// A stanza a client sends: if its user blocked the recipient, it is
    /// answered with `not-acceptable` (errors and results are dropped) and
    /// `true` is returned.
    pub(crate) fn refuse_outbound(&mut self, conn: ConnId, stanza: &Stanza) -> bool {
        let Some(to) = stanza.to.as_ref() else {
            return false;
        };
        let node = &self.session(conn).expect("bound").node;
        if !self.is_blocked(node, to) {
            return false;
        }
        if stanza.is_error_or_result() {
            self.dropped(stanza.clone(), DropReason::Blocked);
        } else {
            let mut error = StanzaError::new(ErrorType::Cancel, "not-acceptable")
                .with_text("You have blocked this JID");
            error.app = Some(Box::new(Element::bare("blocked", NS_BLOCKING_ERRORS)));
            self.send_to_client(conn, stanza.error_reply(&error));
        }
        true
    }

    /// Presence the server routes on a user's behalf to a JID the user
    /// blocked; the user's own subscription stanzas are exempt.
    pub(crate) fn presence_to_blocked(&self, stanza: &Stanza) -> bool {
        if stanza.kind() != Kind::Presence
            || stanza
                .type_()
                .is_some_and(|t| SUBSCRIPTION_TYPES.contains(&t))
        {
            return false;
        }
        let (Some(from), Some(to)) = (stanza.from.as_ref(), stanza.to.as_ref()) else {
            return false;
        };
        match from.node() {
            Some(node) if self.is_local(from) => self.is_blocked(node.as_str(), to),
            _ => false,
        }
    }

    /// A stanza for a local account from a JID the account blocked: handled
    /// here (dropped or bounced) and `None` returned, or given back.
    pub(crate) fn refuse_inbound(&mut self, stanza: Stanza) -> Option<Stanza> {
        let (Some(from), Some(to)) = (stanza.from.as_ref(), stanza.to.as_ref()) else {
            return Some(stanza);
        };
        let Some(node) = to.node() else {
            return Some(stanza);
        };
        if !self.is_blocked(node.as_str(), from) {
            return Some(stanza);
        }
        let bounce = match (stanza.kind(), stanza.type_()) {
            (Kind::Iq, Some("get" | "set")) => true,
            (Kind::Message, None | Some("chat" | "normal")) => {
                self.config.bounce_blocked_messages && self.conn_for_full(to).is_none()
            }
            _ => false,
        };
        if bounce {
            self.bounce(&stanza, StanzaError::service_unavailable());
        } else {
            self.dropped(stanza, DropReason::Blocked);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    #[test]
    fn a_bare_entry_blocks_every_resource() {
        let l = list(&["juliet@capulet.lit"]);
        assert!(blocks(&l, &jid("juliet@capulet.lit")));
        assert!(blocks(&l, &jid("juliet@capulet.lit/balcony")));
        assert!(!blocks(&l, &jid("nurse@capulet.lit")));
    }

    #[test]
    fn a_full_entry_blocks_that_resource_only() {
        let l = list(&["juliet@capulet.lit/balcony"]);
        assert!(blocks(&l, &jid("juliet@capulet.lit/balcony")));
        assert!(!blocks(&l, &jid("juliet@capulet.lit/chamber")));
        assert!(!blocks(&l, &jid("juliet@capulet.lit")));
    }

    #[test]
    fn a_domain_entry_blocks_everyone_there() {
        let l = list(&["capulet.lit"]);
        assert!(blocks(&l, &jid("juliet@capulet.lit/balcony")));
        assert!(blocks(&l, &jid("capulet.lit")));
        assert!(!blocks(&l, &jid("romeo@montague.lit")));
    }

    #[test]
    fn a_domain_resource_entry_blocks_that_resource_of_anyone() {
        let l = list(&["capulet.lit/balcony"]);
        assert!(blocks(&l, &jid("juliet@capulet.lit/balcony")));
        assert!(blocks(&l, &jid("capulet.lit/balcony")));
        assert!(!blocks(&l, &jid("juliet@capulet.lit/chamber")));
    }

    #[test]
    fn edits_are_parsed_whole_or_refused() {
        let el = |xml: &str| xml.parse::<Element>().unwrap();
        let e = parse_edit(&el("<block xmlns='urn:xmpp:blocking'/>"))
            .err()
            .unwrap();
        assert_eq!((e.type_, e.condition), (ErrorType::Modify, "bad-request"));
        let e = parse_edit(&el(
            "<block xmlns='urn:xmpp:blocking'><item jid='a@b'/><item jid='@@bad'/></block>",
        ))
        .err()
        .unwrap();
        assert_eq!(e.condition, "jid-malformed");
        let e = parse_edit(&el("<block xmlns='urn:xmpp:blocking'><item/></block>"))
            .err()
            .unwrap();
        assert_eq!(e.condition, "jid-malformed");
        match parse_edit(&el(
            "<unblock xmlns='urn:xmpp:blocking'><item jid='Juliet@Capulet.LIT'/></unblock>",
        )) {
            Ok(Edit::Unblock(jids)) => assert_eq!(jids, vec!["juliet@capulet.lit".to_string()]),
            _ => panic!("an unblock of one JID"),
        }
        assert!(matches!(
            parse_edit(&el("<unblock xmlns='urn:xmpp:blocking'/>")),
            Ok(Edit::UnblockAll)
        ));
    }
}
