//! IQ handling (RFC 6120 §8.2.3): validation of client IQs, routing to full
//! JIDs, and the requests the server answers itself, for the account
//! (`iq/self`: roster, disco), for another account's bare JID (disco), and
//! for the domain (disco, XEP-0199 ping).

use jid::Jid;
use minidom::Element;

use crate::blocking::NS_BLOCKING;
use crate::disco;
use crate::invisibility::NS_INVISIBILITY;
use crate::privacy::NS_PRIVACY;
use crate::server::{ConnId, DropReason, Server};
use crate::stanza::{ErrorType, Stanza, StanzaError};
use crate::xml::{self, NS_CLIENT, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_ROSTER, NS_SESSION};

/// The single payload child of a get/set IQ.
fn payload(stanza: &Stanza) -> Option<&Element> {
    stanza.payload().children().next()
}

/// A result for `request` holding `child` (if any), addressed back.
pub(crate) fn result(request: &Stanza, from: Option<Jid>, child: Option<Element>) -> Stanza {
    let mut el = xml::element("iq", NS_CLIENT, &[("type", "result")]);
    if let Some(id) = request.id() {
        xml::set_attr(&mut el, "id", id);
    }
    if let Some(child) = child {
        el.append_child(child);
    }
    Stanza::new(from, request.from.clone(), el)
}

impl Server {
    /// An IQ sent by a bound session, checked as Prosody's c2s does.
    pub(crate) fn client_iq(&mut self, conn: ConnId, stanza: Stanza) {
        let type_ = stanza.type_();
        if !matches!(type_, Some("get" | "set" | "result" | "error")) {
            return self.reply_error(conn, &stanza, StanzaError::bad_request("Invalid IQ type"));
        }
        if stanza.id().is_none() {
            return self.reply_error(
                conn,
                &stanza,
                StanzaError::bad_request("Missing required 'id' attribute"),
            );
        }
        let is_request = matches!(type_, Some("get" | "set"));
        if is_request && stanza.payload().children().count() != 1 {
            let error = StanzaError::bad_request("Incorrect number of children for IQ stanza");
            return self.reply_error(conn, &stanza, error);
        }
        let bare = self.session(conn).expect("bound").bare.clone();
        let to_self = stanza
            .to
            .as_ref()
            .is_none_or(|to| to.is_bare() && to.to_bare() == bare);
        if to_self {
            self.self_iq(conn, stanza);
        } else if !self.refuse_outbound(conn, &stanza) {
            self.route(stanza);
        }
    }

    /// An IQ a user sends to their own account.
    fn self_iq(&mut self, conn: ConnId, stanza: Stanza) {
        if !matches!(stanza.type_(), Some("get" | "set")) {
            return self.dropped(stanza, DropReason::Unhandled);
        }
        let child = payload(&stanza).expect("validated");
        let (name, ns) = (child.name().to_string(), child.ns());
        match (name.as_str(), ns.as_str()) {
            ("query", NS_ROSTER) => self.roster_iq(conn, stanza),
            ("blocklist" | "block" | "unblock", NS_BLOCKING) => self.blocking_iq(conn, stanza),
            ("query", NS_PRIVACY) => self.privacy_iq(conn, stanza),
            ("invisible" | "visible", NS_INVISIBILITY) => self.invisibility_iq(conn, stanza),
            ("query", NS_DISCO_INFO) if stanza.type_() == Some("get") => {
                let reply = result(&stanza, None, Some(disco::account_info()));
                self.send_to_client(conn, reply);
            }
            ("query", NS_DISCO_ITEMS) if stanza.type_() == Some("get") => {
                let reply = result(&stanza, None, Some(disco::no_items()));
                self.send_to_client(conn, reply);
            }
            ("session", NS_SESSION) if stanza.type_() == Some("set") => {
                let reply = result(&stanza, None, None);
                self.send_to_client(conn, reply);
            }
            _ => self.reply_error(conn, &stanza, StanzaError::service_unavailable()),
        }
    }

    /// An IQ arriving for a local account, from anyone (RFC 6121 §8.5).
    pub(crate) fn inbound_iq(&mut self, stanza: Stanza, to: &Jid) {
        let is_request = matches!(stanza.type_(), Some("get" | "set"));
        if to.is_full() {
            return match self.conn_for_full(to) {
                Some(conn) => self.send_to_client(conn, stanza),
                None if is_request => self.bounce(&stanza, StanzaError::service_unavailable()),
                None => self.dropped(stanza, DropReason::SessionNotFound),
            };
        }
        if !is_request {
            return self.dropped(stanza, DropReason::Unhandled);
        }
        let node = to
            .node()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        if !self.account_exists(&node) {
            return self.bounce(&stanza, StanzaError::service_unavailable());
        }
        let Some(child) = payload(&stanza) else {
            return self.bounce(
                &stanza,
                StanzaError::bad_request("Incorrect number of children for IQ stanza"),
            );
        };
        let (name, ns) = (child.name().to_string(), child.ns());
        let requester = stanza.from.as_ref().map(|f| f.to_bare());
        let subscribed = requester.is_some_and(|r| {
            self.store
                .account(&node)
                .is_some_and(|a| a.roster.contact_subscribed(&r))
        });
        match (name.as_str(), ns.as_str(), stanza.type_()) {
            // RFC 6121 §2.1.5: only the user may touch the roster.
            ("query", NS_ROSTER, _) => {
                self.bounce(&stanza, StanzaError::new(ErrorType::Auth, "forbidden"))
            }
            ("query", NS_DISCO_INFO, Some("get")) if subscribed => {
                let reply = result(&stanza, Some(to.clone()), Some(disco::account_info()));
                self.route(reply);
            }
            ("query", NS_DISCO_ITEMS, Some("get")) if subscribed => {
                let reply = result(&stanza, Some(to.clone()), Some(disco::no_items()));
                self.route(reply);
            }
            _ => self.bounce(&stanza, StanzaError::service_unavailable()),
        }
    }

    /// An IQ addressed to the server's domain.
    pub(crate) fn host_iq(&mut self, stanza: Stanza) {
        if !matches!(stanza.type_(), Some("get" | "set")) {
            if let Some(stanza) = self.caps_answer(stanza) {
                self.dropped(stanza, DropReason::Unhandled);
            }
            return;
        }
        let Some(child) = payload(&stanza) else {
            return self.bounce(
                &stanza,
                StanzaError::bad_request("Incorrect number of children for IQ stanza"),
            );
        };
        let (name, ns, node) = (
            child.name().to_string(),
            child.ns(),
            child.attr("node").is_some(),
        );
        let from = Some(self.domain_jid.clone());
        let reply = match (name.as_str(), ns.as_str(), stanza.type_()) {
            ("query", NS_DISCO_INFO, Some("get")) if !node => {
                result(&stanza, from, Some(disco::server_info(self.config.psa)))
            }
            ("query", NS_DISCO_ITEMS, Some("get")) if !node => {
                result(&stanza, from, Some(disco::no_items()))
            }
            ("query", NS_DISCO_INFO | NS_DISCO_ITEMS, Some("get")) => {
                return self.bounce(
                    &stanza,
                    StanzaError::new(ErrorType::Cancel, "item-not-found"),
                );
            }
            ("ping", NS_PING, Some("get")) => result(&stanza, from, None),
            _ => return self.bounce(&stanza, StanzaError::service_unavailable()),
        };
        self.route(reply);
    }
}
