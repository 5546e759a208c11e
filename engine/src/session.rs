//! Client sessions (RFC 6120 §4–§7): stream negotiation with SASL PLAIN
//! (RFC 4616), resource binding, stanza intake with RFC 6120 validation, and
//! the end of a session (clean close, broken connection, resource conflict).

use crate::name::{Name, NameStr};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use compact_str::CompactString;
use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::server::{ConnId, DropReason, EndReason, Event, Output, Server};
use crate::stanza::{Kind, Payload, Stanza, StanzaError, StreamError};
use crate::stream_management::{StreamManagement, NS_SM};
use crate::time::Time;
use crate::xml::{self, NS_BIND, NS_CLIENT, NS_PREAPPROVAL, NS_ROSTERVER, NS_SASL, NS_SESSION};

/// A client connection: negotiating, authenticated, or bound to a session.
///
/// `repr(C)`, session first: what a delivery reads of the session then
/// sits at the start of the connection's entry in `Server::conns`.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Conn {
    pub session: Option<Session>,
    /// The authenticated account, once SASL succeeded.
    pub node: Option<String>,
}

/// The bound resources of one account and their connections, in resource
/// order. Most accounts have one resource, which is kept inline: reaching
/// it from the account's entry in `Server::online` follows no pointer.
#[derive(Debug, Default)]
pub(crate) struct Resources(SmallVec<[(CompactString, ConnId); 1]>);

impl Resources {
    pub fn get(&self, resource: &str) -> Option<&ConnId> {
        let i = self.find(resource).ok()?;
        Some(&self.0[i].1)
    }

    /// Binds `resource` to `conn`, replacing its earlier connection.
    pub fn insert(&mut self, resource: CompactString, conn: ConnId) {
        match self.find(&resource) {
            Ok(i) => self.0[i].1 = conn,
            Err(i) => self.0.insert(i, (resource, conn)),
        }
    }

    pub fn remove(&mut self, resource: &str) -> Option<ConnId> {
        let i = self.find(resource).ok()?;
        Some(self.0.remove(i).1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The connections, in resource order.
    pub fn values(&self) -> impl Iterator<Item = &ConnId> {
        self.0.iter().map(|(_, conn)| conn)
    }

    fn find(&self, resource: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(r, _)| r.as_str().cmp(resource))
    }
}

/// A bound resource of an account (RFC 6120 §7).
///
/// `repr(C)`: the fields every delivery to the session reads come first,
/// in the first two cache lines, so a delivery touches those and not the
/// whole session.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Session {
    /// The available presence the server keeps, once the session has
    /// sent initial presence (RFC 6121 §4.2).
    pub presence: Option<StoredPresence>,
    /// XEP-0198 stream management, once enabled.
    pub sm: Option<Box<StreamManagement>>,
    /// The last presence delivered from each remote full JID, available or
    /// not: what annotations are made of, keyed by the full JID's text. (A
    /// hash map with inline keys: written on every remote presence
    /// delivered, so a lookup must not follow a pointer to compare a key;
    /// iterated only sorted.)
    pub held: FxHashMap<Name, Arc<Payload>>,
    /// Remote full JIDs whose held presence the session has with a
    /// `server-unavailable` annotation that is not cleared yet.
    pub annotated: BTreeSet<Jid>,
    /// Asked for XEP-0310 annotations (its caps name `urn:xmpp:psa`).
    pub psa: bool,
    /// XEP-0186: the session is invisible.
    pub invisible: bool,
    pub priority: i8,
    /// Fetched the roster, so gets roster pushes (RFC 6121 §2.1.6).
    pub interested: bool,
    /// Fetched the block list, so gets its pushes (XEP-0191 §3.2).
    pub blocklist_interested: bool,
    // Read on fewer stanzas.
    pub full: Jid,
    pub bare: BareJid,
    pub node: String,
    pub resource: String,
    /// Its active privacy list and what its privacy events said.
    pub privacy: crate::privacy::SessionPrivacy,
    /// Directed-presence recipients of the time it was invisible, who get
    /// its next broadcast after it became visible (XEP-0186 §3.3).
    pub rejoin: BTreeSet<Jid>,
    /// Entities that received directed presence (RFC 6121 §4.6).
    pub directed: BTreeSet<Jid>,
}

impl Session {
    pub fn available(&self) -> bool {
        self.presence.is_some()
    }
}

/// A session's last available presence, as the server keeps it to send
/// again (to a probe, to a new resource of the account, to a contact that
/// may see it again): what the session sent, and a copy stamped with a
/// XEP-0203 delay element of when it was sent, as Prosody keeps it.
#[derive(Debug)]
pub(crate) struct StoredPresence {
    sent: Arc<Payload>,
    /// The stamped copy, made when first needed: most presences are
    /// replaced by the session's next one before anything asks for them
    /// again, and the copy would be built and freed for nothing.
    stamped: OnceLock<Arc<Payload>>,
    at: Time,
}

impl StoredPresence {
    pub fn new(sent: &Arc<Payload>, at: Time) -> StoredPresence {
        StoredPresence {
            sent: Arc::clone(sent),
            stamped: OnceLock::new(),
            at,
        }
    }

    /// The presence as the session sent it.
    pub fn sent(&self) -> &Arc<Payload> {
        &self.sent
    }

    /// The presence with the delay element `delay` makes for the time it
    /// was sent, `from` the server's domain (XEP-0203 §3).
    pub fn stamped(&self, delay: impl FnOnce(Time) -> Element) -> Arc<Payload> {
        let stamped = self.stamped.get_or_init(|| {
            let mut copy = self.sent.element().clone();
            copy.append_child(delay(self.at));
            Arc::new(Payload::new(copy))
        });
        Arc::clone(stamped)
    }
}

/// The stream features a server offers before authentication (SASL,
/// RFC 6120 §6) and after it (resource binding and the session, RFC 6120
/// §7 and RFC 6121 §1; roster versioning and pre-approval, RFC 6121 §2.6
/// and §3.4; stream management, XEP-0198 §3 when enabled). They are the
/// same for every stream of a server, so they are built once, with the
/// server, and every stream gets a copy sharing the payload.
pub(crate) fn stream_features(stream_management: bool) -> [Stanza; 2] {
    let mut before = Element::bare("features", xml::NS_STREAMS);
    let mut mechs = Element::bare("mechanisms", NS_SASL);
    mechs.append_child(xml::text_element("mechanism", NS_SASL, "PLAIN"));
    before.append_child(mechs);
    let mut after = Element::bare("features", xml::NS_STREAMS);
    after.append_child(Element::bare("bind", NS_BIND));
    let mut session = Element::bare("session", NS_SESSION);
    session.append_child(Element::bare("optional", NS_SESSION));
    after.append_child(session);
    after.append_child(Element::bare("ver", NS_ROSTERVER));
    after.append_child(Element::bare("sub", NS_PREAPPROVAL));
    if stream_management {
        let mut sm = Element::bare("sm", NS_SM);
        sm.append_child(Element::bare("optional", NS_SM));
        after.append_child(sm);
    }
    [before, after].map(|features| Stanza::new(None, None, features))
}

impl Server {
    pub(crate) fn client_opened(&mut self, conn: ConnId) {
        let state = self.conns.entry(conn).or_default();
        if state.session.is_some() {
            self.stream_error(
                conn,
                StreamError::new("invalid-xml").with_text("Stream already open"),
            );
            return;
        }
        let authenticated = state.node.is_some();
        let features = self.stream_features[usize::from(authenticated)].clone();
        self.send_to_client(conn, features);
    }

    pub(crate) fn client_element(&mut self, conn: ConnId, element: Element) {
        let Some(state) = self.conns.get(&conn) else {
            let stanza = Stanza::new(None, None, element);
            self.dropped(stanza, DropReason::UnknownConnection);
            return;
        };
        if state.node.is_some() && element.has_ns(NS_SM) {
            self.stream_management(conn, element);
        } else if state.session.is_some() {
            self.session_element(conn, element);
        } else if state.node.is_some() {
            self.bind_element(conn, element);
        } else if element.is("auth", NS_SASL) {
            self.sasl_auth(conn, &element);
        } else {
            self.stream_error(conn, StreamError::new("not-authorized"));
        }
    }

    pub(crate) fn client_closed(&mut self, conn: ConnId) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.end_session(conn, EndReason::Closed);
        self.emit(Output::CloseClient { conn, error: None });
    }

    /// Closes a client stream with a stream error and ends its session.
    pub(crate) fn stream_error(&mut self, conn: ConnId, error: StreamError) {
        let condition = error.condition;
        self.emit(Output::CloseClient {
            conn,
            error: Some(error),
        });
        self.end_session(conn, EndReason::StreamError(condition));
    }

    fn sasl_auth(&mut self, conn: ConnId, auth: &Element) {
        if auth.attr("mechanism") != Some("PLAIN") {
            return self.sasl_failure(conn, "invalid-mechanism");
        }
        let Some((node, password)) = decode_plain(&auth.text()) else {
            return self.sasl_failure(conn, "malformed-request");
        };
        let Ok(user) = BareJid::new(&format!("{node}@{}", self.domain)) else {
            return self.sasl_failure(conn, "not-authorized");
        };
        let Some(node) = user.node().map(|n| n.as_str().to_string()) else {
            return self.sasl_failure(conn, "not-authorized");
        };
        let accepted = match self.store.account(&node) {
            Some(account) => !self.config.check_passwords || account.password == password,
            None if self.config.auto_create_accounts => {
                self.store.create(&node, &password);
                true
            }
            None => false,
        };
        if !accepted {
            return self.sasl_failure(conn, "not-authorized");
        }
        if let Some(state) = self.conns.get_mut(&conn) {
            state.node = Some(node);
        }
        self.event(Event::Authenticated { conn, user });
        self.send_to_client(
            conn,
            Stanza::new(None, None, Element::bare("success", NS_SASL)),
        );
    }

    fn sasl_failure(&mut self, conn: ConnId, condition: &'static str) {
        let mut failure = Element::bare("failure", NS_SASL);
        failure.append_child(Element::bare(condition, NS_SASL));
        self.event(Event::AuthFailed { conn, condition });
        self.send_to_client(conn, Stanza::new(None, None, failure));
    }

    /// Resource binding (RFC 6120 §7) on an authenticated stream.
    fn bind_element(&mut self, conn: ConnId, element: Element) {
        let is_bind_iq = element.is("iq", NS_CLIENT)
            && element.attr("type") == Some("set")
            && xml::child(&element, "bind", NS_BIND).is_some();
        if !is_bind_iq {
            return self.stream_error(conn, StreamError::new("not-authorized"));
        }
        let id = element.attr("id").unwrap_or_default().to_string();
        let requested = xml::child(&element, "bind", NS_BIND)
            .and_then(|b| xml::child(b, "resource", NS_BIND))
            .map(|r| r.text())
            .filter(|r| !r.trim().is_empty());
        let resource = match requested {
            Some(r) => r,
            None => format!("presim-{}", self.next_id()),
        };
        let node = self.conns[&conn]
            .node
            .clone()
            .expect("bind only after auth");
        let Ok(full) = FullJid::new(&format!("{node}@{}/{resource}", self.domain)) else {
            let iq =
                Stanza::from_element(element).unwrap_or_else(|bad| Stanza::new(None, None, bad.0));
            let reply = iq.error_reply(&StanzaError::bad_request("Invalid resource"));
            return self.send_to_client(conn, reply.readdressed(None, None));
        };
        let resource = full.resource().as_str().to_string();
        if let Some(old) = self
            .online
            .get(NameStr::new(node.as_str()))
            .and_then(|r| r.get(resource.as_str()))
            .copied()
        {
            // A hibernating session has no connection left to close.
            let hibernating = self
                .session(old)
                .and_then(|s| s.sm.as_ref())
                .is_some_and(|sm| sm.hibernating.is_some());
            if !hibernating {
                self.emit(Output::CloseClient {
                    conn: old,
                    error: Some(
                        StreamError::new("conflict").with_text("Replaced by new connection"),
                    ),
                });
            }
            self.end_session(old, EndReason::Replaced);
        }
        let full = Jid::from(full);
        let session = Session {
            bare: full.to_bare(),
            full: full.clone(),
            node: node.clone(),
            resource: resource.clone(),
            presence: None,
            priority: 0,
            interested: false,
            blocklist_interested: false,
            privacy: Default::default(),
            invisible: false,
            rejoin: BTreeSet::new(),
            directed: BTreeSet::new(),
            psa: false,
            held: FxHashMap::default(),
            annotated: BTreeSet::new(),
            sm: None,
        };
        if let Some(state) = self.conns.get_mut(&conn) {
            state.session = Some(session);
        }
        self.online
            .entry(Name::from(node.as_str()))
            .or_default()
            .insert(CompactString::from(resource), conn);
        let mut result = xml::element("iq", NS_CLIENT, &[("type", "result"), ("id", &id)]);
        let mut bind = Element::bare("bind", NS_BIND);
        bind.append_child(xml::text_element("jid", NS_BIND, full.as_str()));
        result.append_child(bind);
        self.event(Event::SessionBound { conn, jid: full });
        self.send_to_client(conn, Stanza::new(None, None, result));
        self.privacy_session_bound(conn);
    }

    /// An element on a bound stream: a stanza, checked and dispatched.
    fn session_element(&mut self, conn: ConnId, element: Element) {
        if !element.has_ns(NS_CLIENT) || !matches!(element.name(), "message" | "presence" | "iq") {
            return self.stream_error(conn, StreamError::new("unsupported-stanza-type"));
        }
        self.sm_count_inbound(conn);
        let full = self.session(conn).expect("bound").full.clone();
        let stanza = match Stanza::from_element(element) {
            Ok(mut s) => {
                s.from = Some(full);
                s
            }
            Err(bad) => {
                let (el, attr) = *bad;
                return self.bad_address(conn, el, attr, full);
            }
        };
        match stanza.kind() {
            Kind::Presence => self.client_presence(conn, stanza),
            Kind::Message => self.client_message(conn, stanza),
            Kind::Iq => self.client_iq(conn, stanza),
            Kind::Other => unreachable!("checked above"),
        }
    }

    /// A stanza whose `to` (or `from`) is not a valid JID: `jid-malformed`
    /// (RFC 6120 §8.3.3.8), with Prosody's text for a bad destination.
    fn bad_address(&mut self, conn: ConnId, mut el: Element, attr: &str, full: Jid) {
        let value = el.attr(attr).unwrap_or_default().to_string();
        xml::remove_attr(&mut el, "from");
        xml::remove_attr(&mut el, "to");
        let stanza = Stanza::new(Some(full), None, el);
        if stanza.is_error_or_result() {
            return self.dropped(stanza, DropReason::UndeliverableError);
        }
        let text = if attr == "to" {
            format!("The destination address is invalid: {value}")
        } else {
            format!("The source address is invalid: {value}")
        };
        let error =
            StanzaError::new(crate::stanza::ErrorType::Modify, "jid-malformed").with_text(text);
        self.send_to_client(conn, stanza.error_reply(&error));
    }

    /// Ends a session: removes it from routing first (so it gets no echo),
    /// then sends unavailable presence where its presence went (RFC 6121
    /// §4.5.2 and §4.6.3, Prosody's resource-unbind handling).
    pub(crate) fn end_session(&mut self, conn: ConnId, reason: EndReason) {
        let Some(state) = self.conns.remove(&conn) else {
            return;
        };
        let Some(mut session) = state.session else {
            return;
        };
        if let Some(resources) = self.online.get_mut(NameStr::new(session.node.as_str())) {
            resources.remove(session.resource.as_str());
            if resources.is_empty() {
                self.online.remove(NameStr::new(session.node.as_str()));
            }
        }
        if let Some(sm) = session.sm.take() {
            self.sm_unacked_at_end(&session.full, &session.node, *sm);
        }
        let status = match &reason {
            EndReason::Closed => None,
            EndReason::Broken(why) => Some(format!("Disconnected: {why}")),
            EndReason::Replaced => Some("Disconnected: Replaced by new connection".to_string()),
            EndReason::StreamError(condition) => Some(format!("Disconnected: {condition}")),
            EndReason::HibernationExpired => Some("Disconnected: Hibernating too long".to_string()),
        };
        let mut unavailable = xml::element("presence", NS_CLIENT, &[("type", "unavailable")]);
        if let Some(status) = status {
            unavailable.append_child(xml::text_element("status", NS_CLIENT, &status));
        }
        let jid = session.full.clone();
        // The session's own privacy list judges its last presence.
        self.ending = session
            .privacy
            .active
            .take()
            .map(|name| (jid.clone(), name));
        if session.available() && !session.invisible {
            let stanza = Stanza::new(Some(jid.clone()), None, unavailable);
            self.broadcast_presence(conn, &session.node, &jid, &stanza);
            let directed = std::mem::take(&mut session.directed);
            self.presence_to_directed(&jid, &stanza, directed);
        } else if !session.directed.is_empty() {
            let stanza = Stanza::new(Some(jid.clone()), None, unavailable);
            let directed = std::mem::take(&mut session.directed);
            self.presence_to_directed(&jid, &stanza, directed);
        }
        self.ending = None;
        self.event(Event::SessionEnded { conn, jid, reason });
    }
}

/// Decodes a SASL PLAIN message (RFC 4616): `[authzid] NUL authcid NUL passwd`.
fn decode_plain(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let bytes = if text == "=" {
        Vec::new()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    let message = String::from_utf8(bytes).ok()?;
    let mut parts = message.split('\0');
    let _authzid = parts.next()?;
    let authcid = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || authcid.is_empty() {
        return None;
    }
    Some((authcid.to_string(), password.to_string()))
}

/// Encodes a SASL PLAIN message for `user` and `password` (for drivers).
pub fn encode_plain(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trip() {
        let text = encode_plain("juliet", "secret");
        assert_eq!(
            decode_plain(&text),
            Some(("juliet".into(), "secret".into()))
        );
        assert_eq!(decode_plain("not base64!"), None);
        assert_eq!(decode_plain("="), None);
    }

    #[test]
    fn resources_keep_resource_order_and_one_connection_each() {
        let mut r = Resources::default();
        assert!(r.is_empty());
        r.insert("phone".into(), ConnId(1));
        r.insert("balcony".into(), ConnId(2));
        r.insert("orchard".into(), ConnId(3));
        assert_eq!(
            r.values().copied().collect::<Vec<_>>(),
            [ConnId(2), ConnId(3), ConnId(1)]
        );
        r.insert("orchard".into(), ConnId(4));
        assert_eq!(r.get("orchard"), Some(&ConnId(4)));
        assert_eq!(r.get("garden"), None);
        assert_eq!(r.remove("balcony"), Some(ConnId(2)));
        assert_eq!(r.remove("balcony"), None);
        assert_eq!(
            r.values().copied().collect::<Vec<_>>(),
            [ConnId(4), ConnId(1)]
        );
        r.remove("orchard");
        r.remove("phone");
        assert!(r.is_empty());
    }
}

#[cfg(test)]
mod layout {
    use super::*;
    use std::mem::offset_of;

    /// What every delivery reads of a session sits in its first two cache
    /// lines, and the session leads its connection.
    #[test]
    fn delivery_fields_lead_the_session() {
        assert_eq!(offset_of!(Conn, session), 0);
        for (name, offset) in [
            ("presence", offset_of!(Session, presence)),
            ("sm", offset_of!(Session, sm)),
            ("held", offset_of!(Session, held)),
            ("annotated", offset_of!(Session, annotated)),
            ("psa", offset_of!(Session, psa)),
            ("invisible", offset_of!(Session, invisible)),
        ] {
            assert!(offset < 128, "{name} at {offset}");
        }
    }
}
