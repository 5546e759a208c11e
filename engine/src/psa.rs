//! XEP-0310 Presence State Annotations: telling a client that presence it
//! holds may be stale.
//!
//! A session asks for annotations by advertising `urn:xmpp:psa` in its
//! XEP-0115 caps ([`crate::caps`]). For every session the server keeps what
//! it has delivered of each remote full JID's presence, the last presence,
//! available or not (`Session::held`). When the server deems a peer domain
//! unavailable ([`crate::s2s`]) it re-sends to every opted-in session the
//! held *available* presence of each full JID of that domain, annotated
//! (XEP-0310 §3.1):
//!
//! ```xml
//! <presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit/lane'>
//!   <status>Available</status>
//!   <state-annotation xmlns='urn:xmpp:psa' from='montague.lit'>
//!     <server-unavailable/>
//!     <description>The capulet.lit server is no longer available</description>
//!   </state-annotation>
//! </presence>
//! ```
//!
//! When the peer is back, each presence so annotated is sent again with an
//! empty annotation (`<state-annotation xmlns='urn:xmpp:psa'
//! from='montague.lit'/>`). Unavailable and error presence and
//! subscription requests are never annotated, and only what a session has
//! already received is re-sent, so an annotation reveals nothing the
//! session was not given.
//!
//! When a local session is paused (its connection broke and it hibernates,
//! XEP-0198, [`crate::stream_management`]), XEP-0310 §3.2: everyone who
//! holds its presence (the account's other resources, `from`/`both`
//! contacts, directed-presence recipients, and whoever probes it while it
//! is paused) gets that presence annotated `<connection-paused/>`, routed
//! like a presence broadcast, so that remote contacts' servers deliver it to
//! their sessions that asked for annotations. On resumption they get the
//! empty annotation; on expiry, ordinary unavailable presence.
//!
//! XEP-0310 §3.3 (a MUC service loses contact with an occupant's server) is
//! the MUC service's to do: when it deems an occupant's server unavailable,
//! it annotates that occupant's room presence to each occupant that asked,
//! with [`annotation_element`] and [`Annotation::ServerUnavailable`], as
//! `Server::psa_server_unavailable` does for contacts.
//!
//! Safety rules of this engine: a client cannot annotate (annotations in
//! presence it sends are removed); a presence carrying an annotation, from
//! a peer or from this server, is not delivered to a session that did not
//! opt in; and when a user's subscription to a contact loses its `to` part,
//! the user's sessions forget what they hold of that contact, so an
//! annotation never re-sends presence the user is no longer entitled to.

use crate::name::{Name, NameStr};
use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;

use crate::server::{ConnId, DropReason, Event, Server};
use crate::session::Session;
use crate::stanza::{Payload, Stanza};
use crate::xml;

pub const NS_PSA: &str = "urn:xmpp:psa";

/// What an annotation says about the presence it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Annotation {
    /// The link to the entity's server is unavailable (XEP-0310 §3.1).
    ServerUnavailable,
    /// The entity's session is paused (XEP-0310 §3.2).
    ConnectionPaused,
}

impl Annotation {
    /// The name of the annotation's child element.
    pub fn as_str(self) -> &'static str {
        match self {
            Annotation::ServerUnavailable => "server-unavailable",
            Annotation::ConnectionPaused => "connection-paused",
        }
    }
}

/// `<state-annotation xmlns='urn:xmpp:psa' from=ANNOTATOR>`, holding the
/// annotation and its description, or empty (the annotation is cleared).
pub fn annotation_element(annotator: &str, annotation: Option<(Annotation, &str)>) -> Element {
    let mut el = xml::element("state-annotation", NS_PSA, &[("from", annotator)]);
    if let Some((annotation, description)) = annotation {
        el.append_child(Element::bare(annotation.as_str(), NS_PSA));
        el.append_child(xml::text_element("description", NS_PSA, description));
    }
    el
}

/// Whether a payload carries a state annotation.
pub fn has_annotation(payload: &Element) -> bool {
    payload.has_child("state-annotation", NS_PSA)
}

/// The payload without any state annotation.
pub fn without_annotation(payload: &Element) -> Element {
    let mut el = payload.clone();
    while el.remove_child("state-annotation", NS_PSA).is_some() {}
    el
}

/// The payload with `annotation` in place of any annotation it carried.
pub fn annotated(payload: &Element, annotation: Element) -> Element {
    let mut el = without_annotation(payload);
    el.append_child(annotation);
    el
}

/// The annotation a presence carries, if any: `Some(None)` for an empty
/// annotation.
pub fn annotation_of(payload: &Element) -> Option<Option<Annotation>> {
    let el = xml::child(payload, "state-annotation", NS_PSA)?;
    let kind = [Annotation::ServerUnavailable, Annotation::ConnectionPaused]
        .into_iter()
        .find(|a| el.has_child(a.as_str(), NS_PSA));
    Some(kind)
}

impl Server {
    /// A presence from a local session, without annotations of its own.
    pub(crate) fn strip_client_annotation(stanza: Stanza) -> Stanza {
        if !stanza.payload().annotated() {
            return stanza;
        }
        let payload = without_annotation(stanza.payload());
        Stanza::new(stanza.from, stanza.to, payload)
    }

    /// Delivers a presence that comes from a remote entity or carries an
    /// annotation to a session: refuses annotations to a session that did
    /// not ask for them, records those delivered, and keeps a remote
    /// sender's presence as the session's view of it.
    pub(crate) fn presence_to_session(&mut self, conn: ConnId, stanza: Stanza, remote: bool) {
        let annotation = if stanza.payload().annotated() {
            annotation_of(stanza.payload())
        } else {
            None
        };
        let Some(session) = self.session_mut(conn) else {
            return self.dropped(stanza, DropReason::SessionNotFound);
        };
        if annotation.is_some() && !session.psa {
            return self.dropped(stanza, DropReason::AnnotationNotRequested);
        }
        let from = stanza.from.as_ref().expect("presence has a sender");
        if remote {
            hold(session, from, &stanza);
        }
        if let Some(annotation) = annotation {
            let (to, about) = (session.full.clone(), from.clone());
            self.event(Event::Annotated {
                to,
                about,
                annotation,
            });
        }
        self.send_to_client(conn, stanza);
    }

    /// `user` is no longer subscribed to `contact`'s presence: its sessions
    /// forget what they hold of it, so that no annotation re-sends it.
    pub(crate) fn forget_held(&mut self, user: &BareJid, contact: &BareJid) {
        let Some(node) = user.node() else { return };
        for conn in self.account_conns(node.as_str()) {
            if let Some(session) = self.session_mut(conn) {
                session
                    .held
                    .retain(|jid, _| bare_of(jid) != contact.as_str());
                session
                    .annotated
                    .retain(|jid| bare_of(jid.as_str()) != contact.as_str());
            }
        }
    }

    /// Opted-in sessions holding available presence from `domain`, with
    /// those full JIDs: `(conn, session JID, [(entity, held presence)])`.
    fn holders(&self, domain: &str, annotated_only: bool) -> Vec<(ConnId, Jid, Vec<HeldPresence>)> {
        let mut holders: Vec<_> = self
            .conns
            .iter()
            .filter_map(|(conn, c)| Some((*conn, c.session.as_ref()?)))
            .filter(|(_, s)| s.psa)
            .map(|(conn, s)| {
                let mut held: Vec<HeldPresence> = s
                    .held
                    .iter()
                    .filter(|(jid, p)| domain_of(jid) == domain && p.attr("type").is_none())
                    .filter_map(|(jid, p)| Some((Jid::new(jid).ok()?, Arc::clone(p))))
                    .filter(|(jid, _)| !annotated_only || s.annotated.contains(jid))
                    .collect();
                held.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
                (conn, s.full.clone(), held)
            })
            .filter(|(_, _, held)| !held.is_empty())
            .collect();
        holders.sort_unstable_by_key(|(conn, _, _)| *conn);
        holders
    }

    /// XEP-0310 §3.1: the peer `domain` is deemed unavailable.
    pub(crate) fn psa_server_unavailable(&mut self, domain: &str) {
        if !self.config.psa {
            return;
        }
        let description = format!("The {domain} server is no longer available");
        let annotation = Some((Annotation::ServerUnavailable, description.as_str()));
        for (conn, to, held) in self.holders(domain, false) {
            for (about, payload) in held {
                self.annotate(conn, &to, about, &payload, annotation);
            }
        }
    }

    /// XEP-0310 §3.1: the peer `domain` is available again.
    pub(crate) fn psa_server_available(&mut self, domain: &str) {
        if !self.config.psa {
            return;
        }
        for (conn, to, held) in self.holders(domain, true) {
            for (about, payload) in held {
                self.annotate(conn, &to, about, &payload, None);
            }
        }
    }

    /// Sends `about`'s held presence to the session at `conn` with the
    /// annotation (or the empty one), and records it.
    fn annotate(
        &mut self,
        conn: ConnId,
        to: &Jid,
        about: Jid,
        payload: &Element,
        annotation: Option<(Annotation, &str)>,
    ) {
        let element = annotation_element(self.domain.as_str(), annotation);
        let stanza = Stanza::new(
            Some(about.clone()),
            Some(to.clone()),
            annotated(payload, element),
        );
        // The session's privacy list may refuse `about`'s presence now.
        if let Some(reason) = self.presence_refused_on_delivery(to, &about) {
            return self.dropped(stanza, reason);
        }
        if let Some(session) = self.session_mut(conn) {
            if annotation.is_some() {
                session.annotated.insert(about.clone());
            } else {
                session.annotated.remove(&about);
            }
        }
        self.send_to_client(conn, stanza);
        self.event(Event::Annotated {
            to: to.clone(),
            about,
            annotation: annotation.map(|(a, _)| a),
        });
    }
}

type HeldPresence = (Jid, Arc<Payload>);

impl Server {
    /// Who holds the presence of the local session at `conn`: the
    /// account's other available resources, its contacts with a
    /// `from`/`both` subscription, and its directed-presence recipients.
    fn presence_recipients(&self, conn: ConnId) -> Vec<Jid> {
        let Some(session) = self.session(conn) else {
            return Vec::new();
        };
        if session.invisible {
            return session.directed.iter().cloned().collect();
        }
        let mut to: Vec<Jid> = self
            .account_conns(&session.node)
            .into_iter()
            .filter(|c| *c != conn)
            .filter_map(|c| self.session(c).filter(|s| s.available()))
            .map(|s| s.full.clone())
            .collect();
        to.extend(self.contacts_where(&session.node, |s| s.has_from()));
        to.extend(session.directed.iter().cloned());
        to
    }

    /// The session's presence annotated (or with the empty annotation),
    /// without the delay stamp the server keeps on it.
    fn paused_presence(&self, conn: ConnId, paused: bool) -> Option<Stanza> {
        let session = self.session(conn)?;
        let mut payload = (**session.presence.as_ref()?.sent()).clone();
        while payload
            .remove_child("delay", crate::xml::NS_DELAY)
            .is_some()
        {}
        let description = format!("{}'s session has been paused", session.node);
        let annotation = paused.then_some((Annotation::ConnectionPaused, description.as_str()));
        let element = annotation_element(self.domain.as_str(), annotation);
        let payload = annotated(&payload, element);
        Some(Stanza::new(Some(session.full.clone()), None, payload))
    }

    /// XEP-0310 §3.2: the session at `conn` is paused (it hibernates).
    /// Everyone who holds its presence gets it annotated; their servers
    /// deliver it to the sessions that asked for annotations.
    pub(crate) fn psa_session_paused(&mut self, conn: ConnId) {
        if !self.config.psa {
            return;
        }
        let Some(stanza) = self.paused_presence(conn, true) else {
            return;
        };
        let recipients = self.presence_recipients(conn);
        for to in &recipients {
            self.route(stanza.readdressed(stanza.from.clone(), Some(to.clone())));
        }
        if let Some(sm) = self.session_mut(conn).and_then(|s| s.sm.as_mut()) {
            sm.paused_to = recipients.into_iter().collect();
        }
    }

    /// XEP-0310 §3.2: the paused session at `conn` was resumed: an empty
    /// annotation to each entity that got the paused one and still holds
    /// the session's presence.
    pub(crate) fn psa_session_resumed(&mut self, conn: ConnId) {
        let Some(sm) = self.session_mut(conn).and_then(|s| s.sm.as_mut()) else {
            return;
        };
        let paused_to = std::mem::take(&mut sm.paused_to);
        let Some(stanza) = self.paused_presence(conn, false) else {
            return;
        };
        for to in self.presence_recipients(conn) {
            if paused_to.contains(&to) {
                self.route(stanza.readdressed(stanza.from.clone(), Some(to)));
            }
        }
    }

    /// `to` was just given the presence of the session at `conn`; if that
    /// session is paused, `to` gets the annotated presence as well.
    pub(crate) fn psa_if_paused(&mut self, conn: ConnId, to: &Jid) {
        let paused = self
            .session(conn)
            .and_then(|s| s.sm.as_ref())
            .is_some_and(|sm| sm.hibernating.is_some());
        if !paused || !self.config.psa {
            return;
        }
        let Some(stanza) = self.paused_presence(conn, true) else {
            return;
        };
        self.route(stanza.readdressed(stanza.from.clone(), Some(to.clone())));
        if let Some(sm) = self.session_mut(conn).and_then(|s| s.sm.as_mut()) {
            sm.paused_to.insert(to.clone());
        }
    }
}

/// Keeps a remote sender's presence as what `session` holds of it.
fn hold(session: &mut Session, from: &Jid, stanza: &Stanza) {
    if from.is_full() {
        let payload = Arc::clone(stanza.payload());
        match session.held.get_mut(NameStr::new(from.as_str())) {
            Some(held) => *held = payload,
            None => {
                session.held.insert(Name::from(from.as_str()), payload);
            }
        }
        if !session.annotated.is_empty() {
            session.annotated.remove(from);
        }
    } else if stanza.type_() == Some("unavailable") {
        // Unavailable from a bare JID: every resource is (RFC 6121 §4.5.3).
        for (jid, held) in session.held.iter_mut() {
            if bare_of(jid) == from.as_str() {
                *held = Arc::clone(stanza.payload());
            }
        }
        session
            .annotated
            .retain(|jid| bare_of(jid.as_str()) != from.as_str());
    }
}

/// The bare JID part of a JID's text: everything before the first `/`
/// (neither localpart nor domainpart may contain one, RFC 7622 §3).
pub(crate) fn bare_of(jid: &str) -> &str {
    // A plain loop: addresses are short, and a probe asks this of each.
    match jid.bytes().position(|b| b == b'/') {
        Some(slash) => &jid[..slash],
        None => jid,
    }
}

/// The domainpart of a JID's text.
pub(crate) fn domain_of(jid: &str) -> &str {
    let bare = bare_of(jid);
    match bare.bytes().position(|b| b == b'@') {
        Some(at) => &bare[at + 1..],
        None => bare,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_client_xml;

    #[test]
    fn the_bare_and_domain_parts_of_a_jids_text() {
        assert_eq!(
            bare_of("juliet@capulet.lit/balcony/a@b"),
            "juliet@capulet.lit"
        );
        assert_eq!(bare_of("juliet@capulet.lit"), "juliet@capulet.lit");
        assert_eq!(domain_of("juliet@capulet.lit/balcony/a@b"), "capulet.lit");
        assert_eq!(domain_of("capulet.lit/res@x"), "capulet.lit");
        assert_eq!(domain_of("capulet.lit"), "capulet.lit");
    }

    #[test]
    fn the_annotation_of_xep_0310_example_2() {
        let el = annotation_element(
            "montague.lit",
            Some((
                Annotation::ServerUnavailable,
                "The capulet.lit server is no longer available",
            )),
        );
        assert_eq!(
            xml::to_string(&el),
            "<state-annotation xmlns='urn:xmpp:psa' from='montague.lit'><server-unavailable/>\
             <description>The capulet.lit server is no longer available</description></state-annotation>"
        );
        assert_eq!(
            xml::to_string(&annotation_element("montague.lit", None)),
            "<state-annotation xmlns='urn:xmpp:psa' from='montague.lit'/>"
        );
    }

    #[test]
    fn an_annotation_replaces_the_one_a_presence_carried() {
        let paused = parse_client_xml(
            "<presence><status>x</status><state-annotation xmlns='urn:xmpp:psa' from='a'>\
             <connection-paused/></state-annotation></presence>",
        )
        .unwrap();
        assert_eq!(
            annotation_of(&paused),
            Some(Some(Annotation::ConnectionPaused))
        );
        let cleared = annotated(&paused, annotation_element("b", None));
        assert_eq!(annotation_of(&cleared), Some(None));
        assert_eq!(
            xml::to_string(&cleared),
            "<presence><status>x</status>\
             <state-annotation xmlns='urn:xmpp:psa' from='b'/></presence>"
        );
        assert!(!has_annotation(&without_annotation(&paused)));
        assert_eq!(annotation_of(&without_annotation(&paused)), None);
    }
}
