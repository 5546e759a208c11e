//! XEP-0191 Blocking Command, as Prosody's mod_blocklist does it
//! (PROSODY-NOTES §1.12), on top of privacy lists (XEP-0191 §6).
//!
//! - **Where the list lives:** the block list is the default privacy
//!   list's `jid`/`deny` items that name no stanza kind (`privacy.rs`).
//!   Blocking adds such items ahead of the others, making a default list
//!   named `blocklist` if there is none; unblocking removes them, and a
//!   default list left empty is removed. A session with an active list of
//!   its own is not governed by the block list (XEP-0191 §6). What a
//!   privacy-list client does to the default list's block items shows in
//!   the block list, with pushes to the sessions that fetched it.
//! - `<blocklist/>` get returns it and marks the session for pushes;
//!   `<block/>` / `<unblock/>` set edit it and push the request to those
//!   sessions (`id='blocklist-push'`). An empty `<unblock/>` clears it.
//!   Sessions that used privacy lists get a privacy list push.
//! - Blocking and unblocking act as any change of privacy decisions
//!   does: a subscriber newly blocked gets unavailable presence from each
//!   session, one unblocked gets the current presence, a contact followed
//!   is probed when unblocked. Pending subscription requests from blocked
//!   JIDs are deleted (Prosody).
//! - What the block list refuses is refused as privacy lists refuse it,
//!   with XEP-0191's errors: a client's stanza to a blocked JID gets
//!   `not-acceptable` "You have blocked this JID" `<blocked/>` (its
//!   subscription stanzas still go out, as Prosody's mod_presence routes
//!   them before the check); chat/normal messages from a blocked JID to
//!   the bare JID are bounced with `service-unavailable` if
//!   `bounce_blocked_messages` is on. JID matching follows XEP-0191 §6 (the
//!   XEP-0016 order: full, bare, `domain/resource`, domain); a user's own
//!   resources never block each other.

use std::collections::BTreeSet;

use jid::{BareJid, Jid};
use minidom::Element;

use crate::iq;
use crate::server::{ConnId, Event, Server};
use crate::stanza::{ErrorType, Stanza, StanzaError};
use crate::xml::{self, NS_CLIENT};

pub const NS_BLOCKING: &str = "urn:xmpp:blocking";
pub const NS_BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";

/// The error for a stanza a user sends to a JID they blocked (XEP-0191
/// §3.4, with Prosody's text).
pub(crate) fn blocked_error() -> StanzaError {
    let mut error = StanzaError::new(ErrorType::Cancel, "not-acceptable")
        .with_text("You have blocked this JID");
    error.app = Some(Box::new(Element::bare("blocked", NS_BLOCKING_ERRORS)));
    error
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

/// The edit as pushed to interested sessions: `<block/>` or `<unblock/>`
/// with the JIDs prepped.
fn push_element<'a>(name: &str, jids: impl IntoIterator<Item = &'a String>) -> Element {
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
        let child = stanza.payload().children().next().expect("validated");
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
        let jids = self.blocklist_of(&node);
        self.session_mut(conn).expect("bound").blocklist_interested = true;
        let reply = iq::result(stanza, None, Some(push_element("blocklist", &jids)));
        self.send_to_client(conn, reply);
    }

    fn edit_blocklist(&mut self, conn: ConnId, stanza: &Stanza, edit: Edit) {
        let node = self.session(conn).expect("bound").node.clone();
        self.store.create(&node, "");
        let before = self.blocklist_of(&node);
        let default_before = self.default_list_name(&node);
        self.send_to_client(conn, iq::result(stanza, None, None));
        self.with_privacy_effects(&node, |server| {
            let lists = server.store.privacy_mut(&node).expect("exists");
            match &edit {
                Edit::Block(jids) => lists.default_list_mut().block(jids),
                Edit::Unblock(jids) => lists.default_list_edit(|l| l.unblock(Some(jids))),
                Edit::UnblockAll => lists.default_list_edit(|l| l.unblock(None)),
            }
            lists.drop_empty_default();
        });
        let after = self.blocklist_of(&node);
        self.blocklist_events(&node, &before, &after);
        if let Edit::Block(_) = edit {
            self.drop_requests_from_blocked(&node, &after);
        }
        let push = match &edit {
            Edit::Block(jids) => push_element("block", jids),
            Edit::Unblock(jids) => push_element("unblock", jids),
            Edit::UnblockAll => push_element("unblock", &[]),
        };
        self.push_blocklist(&node, push);
        // The default list changed (made, edited, or removed with its last
        // item): its name is pushed.
        let changed = self.default_list_name(&node).or(default_before);
        if let (true, Some(name)) = (before != after, changed) {
            self.push_privacy_list(&node, &name, true);
        }
    }

    fn default_list_name(&self, node: &str) -> Option<String> {
        self.store
            .account(node)
            .and_then(|a| a.privacy().default.clone())
    }

    /// Pending subscription requests from blocked JIDs are deleted.
    fn drop_requests_from_blocked(&mut self, node: &str, list: &BTreeSet<String>) {
        let account = self.store.account_mut(node).expect("exists");
        let pending: Vec<BareJid> = account
            .roster
            .pending_in
            .keys()
            .filter(|j| {
                let jid = Jid::from((*j).clone());
                list.iter().any(|v| crate::privacy::jid_matches(v, &jid))
            })
            .cloned()
            .collect();
        if !pending.is_empty() {
            for j in &pending {
                account.roster.pending_in.remove(j);
            }
            account.roster.save();
        }
    }

    /// A `block` event for each JID that entered or left the block list.
    fn blocklist_events(
        &mut self,
        node: &str,
        before: &BTreeSet<String>,
        after: &BTreeSet<String>,
    ) {
        let user = self.bare_of(node);
        for (jid, blocked) in after
            .difference(before)
            .map(|j| (j, true))
            .chain(before.difference(after).map(|j| (j, false)))
        {
            self.event(Event::Blocklist {
                user: user.clone(),
                jid: jid.clone(),
                blocked,
            });
        }
    }

    /// The block list changed through privacy lists (XEP-0191 §6): the
    /// events, and pushes of what changed to the sessions that fetched it.
    pub(crate) fn blocklist_changed(
        &mut self,
        node: &str,
        before: &BTreeSet<String>,
        after: &BTreeSet<String>,
    ) {
        if before == after {
            return;
        }
        self.blocklist_events(node, before, after);
        let blocked: Vec<&String> = after.difference(before).collect();
        let unblocked: Vec<&String> = before.difference(after).collect();
        if !blocked.is_empty() {
            self.push_blocklist(node, push_element("block", blocked));
        }
        if !unblocked.is_empty() {
            self.push_blocklist(node, push_element("unblock", unblocked));
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
