//! Offline message storage (XEP-0160 behaviour, as Prosody's mod_offline):
//! chat and normal messages for an account with no available resource are
//! kept with a `urn:xmpp:delay` stamp and delivered when a session of the
//! account sends initial presence with non-negative priority.

use crate::server::{ConnId, Event, Server};
use crate::stanza::{Stanza, StanzaError};

impl Server {
    pub(crate) fn store_offline_or_bounce(&mut self, node: &str, stanza: Stanza) {
        let room = self
            .store
            .account(node)
            .map(|a| a.offline.len() < self.config.max_offline_messages);
        if !self.config.offline_storage || room != Some(true) {
            return self.bounce(&stanza, StanzaError::service_unavailable());
        }
        let mut payload = (**stanza.payload()).clone();
        payload.append_child(self.delay_element(self.domain.as_str(), self.now));
        let stored = Stanza::new(stanza.from.clone(), stanza.to.clone(), payload);
        let user = stanza.to.as_ref().expect("routed").to_bare();
        if let Some(account) = self.store.account_mut(node) {
            account.offline.push(stored.clone());
        }
        self.event(Event::OfflineStored {
            user,
            stanza: stored,
        });
    }

    pub(crate) fn deliver_offline(&mut self, conn: ConnId, node: &str) {
        let messages = match self.store.account_mut(node) {
            Some(account) => std::mem::take(&mut account.offline),
            None => return,
        };
        for message in messages {
            self.send_to_client(conn, message);
        }
    }
}
