//! XEP-0186 Invisible Command (version 0.4, namespace
//! `http://jabber.org/protocol/invisibility`): a session goes invisible and
//! visible at will; the state is the session's own and never carried over
//! to another session.
//!
//! - `<invisible/>`: the result, then, if the session had sent available
//!   presence, the unavailable presence it would send itself: to the user's
//!   other resources, to `from`/`both` contacts and to directed-presence
//!   recipients (§3.2). The directed list starts afresh.
//! - While invisible, undirected presence is reflected to the session and
//!   broadcast to no one; directed presence is delivered and remembered
//!   (even to a contact); undirected unavailable goes only to those
//!   remembered. Probe answers, copies to the user's new resources and
//!   XEP-0310 annotations leave the session out, except toward the entities
//!   it sent directed presence to. Inbound stanzas are delivered as ever.
//! - `<visible/>`: the result; the session is as before its initial
//!   presence (§3.3). Its next available presence is broadcast as an
//!   initial presence, to the entities it sent directed presence to while
//!   invisible as well.

use jid::Jid;

use crate::iq;
use crate::server::{ConnId, Event, Server};
use crate::stanza::{Stanza, StanzaError};

pub const NS_INVISIBILITY: &str = "http://jabber.org/protocol/invisibility";

impl Server {
    /// `<invisible/>` or `<visible/>` sent by a session to its account.
    pub(crate) fn invisibility_iq(&mut self, conn: ConnId, stanza: Stanza) {
        let child = stanza.payload().children().next().expect("validated");
        match (child.name(), stanza.type_()) {
            ("invisible", Some("set")) => self.go_invisible(conn, &stanza),
            ("visible", Some("set")) => self.go_visible(conn, &stanza),
            _ => self.reply_error(conn, &stanza, StanzaError::service_unavailable()),
        }
    }

    fn go_invisible(&mut self, conn: ConnId, stanza: &Stanza) {
        self.send_to_client(conn, iq::result(stanza, None, None));
        let session = self.session_mut(conn).expect("bound");
        if session.invisible {
            return;
        }
        session.invisible = true;
        let (full, node, available) = (
            session.full.clone(),
            session.node.clone(),
            session.available(),
        );
        let directed = std::mem::take(&mut session.directed);
        self.event(Event::Invisibility {
            jid: full.clone(),
            invisible: true,
        });
        if available {
            // Undirected: each recipient's address is set as it is sent.
            let mut unavailable = crate::presence::presence_from(&full, &full, Some("unavailable"));
            unavailable.to = None;
            self.broadcast_presence(conn, &node, &full, &unavailable);
            self.presence_to_directed(&full, &unavailable, directed);
        }
    }

    fn go_visible(&mut self, conn: ConnId, stanza: &Stanza) {
        self.send_to_client(conn, iq::result(stanza, None, None));
        let session = self.session_mut(conn).expect("bound");
        if !session.invisible {
            return;
        }
        session.invisible = false;
        session.presence = None;
        session.priority = 0;
        session.rejoin = session.directed.clone();
        let full = session.full.clone();
        self.event(Event::Invisibility {
            jid: full,
            invisible: false,
        });
    }

    /// Whether the session at `conn` shows its presence to `to`: it is
    /// visible, or `to` got directed presence from it.
    pub(crate) fn shows_presence_to(&self, conn: ConnId, to: &Jid) -> bool {
        self.session(conn).is_some_and(|s| {
            !s.invisible || s.directed.contains(to) || s.directed.contains(&Jid::from(to.to_bare()))
        })
    }

    /// After the first available presence of a session that was invisible:
    /// the entities it sent directed presence to while invisible get the
    /// broadcast as well (§3.3), unless they got it already as contacts.
    pub(crate) fn presence_to_rejoined(&mut self, conn: ConnId, stanza: &Stanza) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let rejoin = std::mem::take(&mut session.rejoin);
        let (full, node) = (session.full.clone(), session.node.clone());
        let contacts = self.contacts_where(&node, |s| s.has_from());
        for to in rejoin {
            if contacts.contains(&Jid::from(to.to_bare())) {
                continue;
            }
            // They get it as directed presence, and hear of its end.
            if let Some(session) = self.session_mut(conn) {
                session.directed.insert(to.clone());
            }
            self.event(Event::Directed {
                from: full.clone(),
                to: to.clone(),
                available: true,
            });
            self.route(stanza.readdressed(Some(full.clone()), Some(to)));
        }
    }
}
