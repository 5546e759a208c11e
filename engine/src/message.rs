//! Message routing (RFC 6121 §8.5): full JIDs to their session, bare JIDs
//! to the highest non-negative-priority available resources, offline
//! storage when none is available, errors where the RFC demands them.

use jid::Jid;

use crate::server::{ConnId, DropReason, Server};
use crate::stanza::{Stanza, StanzaError};

impl Server {
    /// A message sent by a bound session. A message without `to` is for the
    /// sender's own bare JID (RFC 6120 §10.3).
    pub(crate) fn client_message(&mut self, conn: ConnId, mut stanza: Stanza) {
        if stanza.to.is_none() {
            let bare = self.session(conn).expect("bound").bare.clone();
            stanza.to = Some(Jid::from(bare));
        }
        if !self.refuse_outbound(conn, &stanza) {
            self.route(stanza);
        }
    }

    /// A message arriving for a local account.
    pub(crate) fn inbound_message(&mut self, stanza: Stanza, to: &Jid) {
        if to.is_full() {
            if let Some(conn) = self.conn_for_full(to) {
                return self.send_to_client(conn, stanza);
            }
        }
        self.message_to_bare(stanza, to)
    }

    /// RFC 6121 §8.5.2 (and §8.5.3.2 for an unavailable full JID).
    fn message_to_bare(&mut self, stanza: Stanza, to: &Jid) {
        let node = to
            .node()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        match stanza.type_().unwrap_or("normal") {
            "error" => self.dropped(stanza, DropReason::UndeliverableError),
            "groupchat" => self.bounce(&stanza, StanzaError::service_unavailable()),
            "headline" => {
                let recipients = if to.is_bare() {
                    self.available_conns(&node, 0)
                } else {
                    Vec::new()
                };
                if recipients.is_empty() {
                    return self.dropped(stanza, DropReason::NoAvailableResource);
                }
                let mut recipients = recipients;
                self.privacy_fan_out(&stanza, &mut recipients);
                self.send_to_each(&recipients, stanza);
            }
            _ => {
                let recipients = self.top_resources(&node);
                if recipients.is_empty() {
                    // Judged by the default list if sessions had lists
                    // of their own (otherwise it was already).
                    let Some(stanza) = self.privacy_offline(stanza) else {
                        return;
                    };
                    return self.store_offline_or_bounce(&node, stanza);
                }
                let mut recipients = recipients;
                self.privacy_fan_out(&stanza, &mut recipients);
                self.send_to_each(&recipients, stanza);
            }
        }
    }

    /// Available sessions of `node` with priority of at least `min`.
    fn available_conns(&self, node: &str, min: i8) -> Vec<ConnId> {
        self.account_conns(node)
            .into_iter()
            .filter(|c| {
                self.session(*c)
                    .is_some_and(|s| s.available() && s.priority >= min)
            })
            .collect()
    }

    /// The available sessions sharing the highest non-negative priority.
    pub(crate) fn top_resources(&self, node: &str) -> Vec<ConnId> {
        let candidates = self.available_conns(node, 0);
        let best = candidates
            .iter()
            .filter_map(|c| self.session(*c))
            .map(|s| s.priority)
            .max();
        candidates
            .into_iter()
            .filter(|c| self.session(*c).map(|s| s.priority) == best)
            .collect()
    }
}
