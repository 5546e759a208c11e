//! Presence (RFC 6121 §4) and subscription stanzas (RFC 6121 §3).
//!
//! - broadcast of a session's presence: echo, the account's other available
//!   resources, contacts with a `from`/`both` subscription (§4.2, §4.4);
//! - initial presence: probes, other resources' presence, replay of pending
//!   inbound requests, re-sent outbound requests, offline messages (§4.2);
//! - directed presence and the unavailable sent to its recipients (§4.6);
//! - probes and their answers with the stored presence (§4.3);
//! - subscription stanzas in both directions, driving
//!   [`crate::subscription`] and turning its transitions into roster pushes
//!   and routed stanzas.
//!
//! Order of fan-out is the order of the roster (by JID) and of resources (by
//! name), so the same inputs always give the same outputs.

use crate::name::NameStr;
use jid::{BareJid, Jid};
use minidom::Element;
use std::sync::Arc;

use std::sync::OnceLock;

use crate::server::{ConnId, DropReason, Event, Server};
use crate::session::StoredPresence;
use crate::stanza::{Stanza, StanzaError};
use crate::subscription::{self, Approval, SubscribeAction, Transition};
use crate::xml::{self, NS_CLIENT};

pub(crate) const SUBSCRIPTION_TYPES: [&str; 4] =
    ["subscribe", "subscribed", "unsubscribe", "unsubscribed"];

fn presence_element(type_: Option<&str>) -> Element {
    match type_ {
        Some(t) => xml::element("presence", NS_CLIENT, &[("type", t)]),
        None => Element::bare("presence", NS_CLIENT),
    }
}

/// Payloads of the bare presences the server itself sends (probe answers,
/// subscription replies): built once and shared by every copy.
const SHARED_TYPES: [Option<&str>; 7] = [
    None,
    Some("unavailable"),
    Some("probe"),
    Some("subscribe"),
    Some("subscribed"),
    Some("unsubscribe"),
    Some("unsubscribed"),
];

/// A bare presence stanza of the given type, unaddressed: for the shared
/// types, a copy of one made once, whose payload every copy shares.
fn bare_presence(type_: Option<&str>) -> Stanza {
    static TEMPLATES: OnceLock<Vec<Stanza>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        SHARED_TYPES
            .iter()
            .map(|t| Stanza::new(None, None, presence_element(*t)))
            .collect()
    });
    match SHARED_TYPES.iter().position(|t| *t == type_) {
        Some(i) => templates[i].clone(),
        None => Stanza::new(None, None, presence_element(type_)),
    }
}

/// A bare presence stanza of the given type.
pub(crate) fn presence(from: &BareJid, to: &Jid, type_: Option<&str>) -> Stanza {
    presence_from(&Jid::from(from.clone()), to, type_)
}

/// A bare presence stanza of the given type from a full JID.
pub(crate) fn presence_from(from: &Jid, to: &Jid, type_: Option<&str>) -> Stanza {
    let mut stanza = bare_presence(type_);
    stanza.from = Some(from.clone());
    stanza.to = Some(to.clone());
    stanza
}

/// The bare JID of `jid`.
fn bare(jid: &Jid) -> Jid {
    if jid.is_bare() {
        jid.clone()
    } else {
        Jid::from(jid.clone().into_bare())
    }
}

/// The `<priority/>` of a presence (RFC 6121 §4.7.2.3), clamped to an i8;
/// missing or invalid counts as 0.
pub(crate) fn parse_priority(stanza: &Stanza) -> i8 {
    stanza
        .child("priority", NS_CLIENT)
        .and_then(|p| p.text().trim().parse::<i64>().ok())
        .map(|p| p.clamp(-128, 127) as i8)
        .unwrap_or(0)
}

impl Server {
    /// Presence sent by a bound session.
    pub(crate) fn client_presence(&mut self, conn: ConnId, stanza: Stanza) {
        let mut stanza = Server::strip_client_annotation(stanza);
        let bare = self.session(conn).expect("bound").bare.clone();
        let type_ = stanza.type_().map(str::to_string);
        let to_self = stanza
            .to
            .as_ref()
            .is_none_or(|to| to.is_bare() && to.to_bare() == bare);
        if to_self {
            stanza.to = None;
            return match type_.as_deref() {
                None | Some("unavailable") => self.normal_presence(conn, stanza),
                _ => self.reply_error(
                    conn,
                    &stanza,
                    StanzaError::bad_request("Invalid presence type"),
                ),
            };
        }
        // Privacy lists come first (RFC 3921 §10.2 rule 4); the block list
        // lets subscription stanzas through.
        if self.refuse_outbound(conn, &stanza) {
            return;
        }
        match type_.as_deref() {
            Some(t) if SUBSCRIPTION_TYPES.contains(&t) => self.outbound_subscription(conn, stanza),
            Some("probe") => self.route(stanza),
            None | Some("unavailable") | Some("error") => {
                self.track_directed(conn, &stanza);
                self.route(stanza);
            }
            _ => self.reply_error(
                conn,
                &stanza,
                StanzaError::bad_request("Invalid presence type"),
            ),
        }
    }

    /// Sends an error reply straight to the session that sent `stanza`.
    pub(crate) fn reply_error(&mut self, conn: ConnId, stanza: &Stanza, error: StanzaError) {
        if stanza.is_error_or_result() {
            return self.dropped(stanza.clone(), DropReason::UndeliverableError);
        }
        self.send_to_client(conn, stanza.error_reply(&error));
    }

    /// Directed presence bookkeeping (RFC 6121 §4.6): available presence to
    /// an entity that is not a `from`/`both` contact adds it to the list;
    /// unavailable or error removes it.
    fn track_directed(&mut self, conn: ConnId, stanza: &Stanza) {
        let Some(to) = stanza.to.clone() else { return };
        let session = self.session(conn).expect("bound");
        let node = session.node.clone();
        let subscribed = self
            .store
            .account(&node)
            .is_some_and(|a| a.roster.contact_subscribed(&to.to_bare()));
        // An invisible session's contacts get no broadcast: what it sends
        // them is remembered like any directed presence (XEP-0186 §3.2).
        if subscribed && !session.invisible {
            return;
        }
        let available = stanza.type_().is_none();
        let session = self.session_mut(conn).expect("bound");
        let changed = if available {
            session.directed.insert(to.clone())
        } else {
            session.directed.remove(&to)
        };
        if changed {
            let from = session.full.clone();
            self.event(Event::Directed {
                from,
                to,
                available,
            });
        }
    }

    /// Undirected available or unavailable presence from a session
    /// (Prosody's handle_normal_presence).
    fn normal_presence(&mut self, conn: ConnId, stanza: Stanza) {
        let priority = if self.config.ignore_presence_priority {
            0
        } else {
            parse_priority(&stanza)
        };
        let session = self.session_mut(conn).expect("bound");
        let (full, node, initial) = (
            session.full.clone(),
            session.node.clone(),
            !session.available(),
        );
        let unavailable = stanza.type_() == Some("unavailable");
        if !unavailable && self.config.psa {
            self.caps_presence(conn, &stanza);
        }
        self.send_to_client(conn, stanza.readdressed(Some(full.clone()), None));
        let session = self.session(conn).expect("bound");
        let (invisible, rejoined) = (session.invisible, !session.rejoin.is_empty());
        if !invisible {
            self.broadcast_presence(conn, &node, &full, &stanza);
            if rejoined && !unavailable {
                self.presence_to_rejoined(conn, &stanza);
            }
        }
        if unavailable {
            let session = self.session_mut(conn).expect("bound");
            session.presence = None;
            session.priority = 0;
            let directed = std::mem::take(&mut session.directed);
            self.presence_to_directed(&full, &stanza, directed);
            return;
        }
        let now = self.now;
        let session = self.session_mut(conn).expect("bound");
        session.priority = priority;
        // Marked available before the initial-presence work, as Prosody does.
        session.presence = Some(StoredPresence::new(stanza.payload(), now));
        if initial {
            self.initial_presence(conn, &node, &full, priority);
        }
    }

    /// Sends a presence to the account's other available resources and to
    /// every contact with a `from`/`both` subscription (RFC 6121 §4.2.2, §4.4.2).
    pub(crate) fn broadcast_presence(
        &mut self,
        exclude: ConnId,
        node: &str,
        full: &Jid,
        stanza: &Stanza,
    ) {
        for other in self.account_conns(node) {
            if other == exclude {
                continue;
            }
            if let Some(s) = self.session(other).filter(|s| s.available()) {
                let to = s.full.clone();
                self.route(stanza.readdressed(Some(full.clone()), Some(to)));
            }
        }
        let contacts = self.contacts_where(node, |s| s.has_from());
        self.touch_local_sessions(&contacts);
        for contact in contacts {
            self.route(stanza.readdressed(Some(full.clone()), Some(contact)));
        }
    }

    /// Reads the connection entries of the local contacts' sessions, each
    /// lookup independent of the others, so that the processor waits for
    /// their cache misses together rather than one delivery after another.
    /// Changes nothing: the deliveries that follow find them in cache.
    fn touch_local_sessions(&self, contacts: &[Jid]) {
        for contact in contacts {
            let Some(node) = contact.node().filter(|_| self.is_local(contact)) else {
                continue;
            };
            for conn in self
                .online
                .get(NameStr::new(node.as_str()))
                .into_iter()
                .flat_map(|r| r.values())
            {
                std::hint::black_box(self.session(*conn).is_some());
            }
        }
    }

    /// Reads what answering a probe reads first of each local contact, the
    /// roster and the connection entries of the sessions, all lookups of
    /// a step before any of the next, as [`Server::touch_local_sessions`]
    /// does. Changes nothing.
    fn touch_probed(&self, contacts: &[Jid]) {
        for contact in contacts.iter().filter(|c| self.is_local(c)) {
            let node = contact.node().map_or("", |n| n.as_str());
            if let Some(account) = self.store.account(node) {
                account.roster.items.prefetch();
            }
        }
        self.touch_local_sessions(contacts);
    }

    /// Roster contacts whose subscription satisfies `pred`, in roster order.
    pub(crate) fn contacts_where(
        &self,
        node: &str,
        pred: impl Fn(crate::roster::Subscription) -> bool,
    ) -> Vec<Jid> {
        let Some(account) = self.store.account(node) else {
            return Vec::new();
        };
        let items = &account.roster.items;
        // Sized for the whole roster: one allocation, never grown.
        let mut contacts = Vec::with_capacity(items.len());
        contacts.extend(
            items
                .iter()
                .filter(|(_, item)| pred(item.subscription))
                .map(|(jid, _)| Jid::from(jid.clone())),
        );
        contacts
    }

    /// Sends an unavailable presence to each directed-presence recipient.
    pub(crate) fn presence_to_directed(
        &mut self,
        full: &Jid,
        stanza: &Stanza,
        directed: std::collections::BTreeSet<Jid>,
    ) {
        for target in directed {
            self.event(Event::Directed {
                from: full.clone(),
                to: target.clone(),
                available: false,
            });
            self.route(stanza.readdressed(Some(full.clone()), Some(target)));
        }
    }

    /// The work done on a session's first available presence (RFC 6121 §4.2).
    fn initial_presence(&mut self, conn: ConnId, node: &str, full: &Jid, priority: i8) {
        let probe = Stanza::new(Some(full.clone()), None, presence_element(Some("probe")));
        let contacts = self.contacts_where(node, |s| s.has_to());
        self.touch_probed(&contacts);
        for contact in contacts {
            self.route(probe.readdressed(Some(full.clone()), Some(contact)));
        }
        for other in self.account_conns(node) {
            let Some(s) = self
                .session(other)
                .filter(|s| other != conn && s.available())
                .filter(|_| self.shows_presence_to(other, full))
            else {
                continue;
            };
            let copy = Stanza::shared(
                Some(s.full.clone()),
                Some(full.clone()),
                self.stored_presence(s).expect("available"),
            );
            self.send_to_client(conn, copy);
            self.psa_if_paused(other, full);
        }
        let bare = full.to_bare();
        let (pending, asked) = match self.store.account(node) {
            Some(a) => (
                a.roster
                    .pending_in
                    .iter()
                    .map(|(j, p)| (j.clone(), Arc::clone(p)))
                    .collect(),
                a.roster
                    .items
                    .iter()
                    .filter(|(_, i)| i.ask)
                    .map(|(j, _)| j.clone())
                    .collect(),
            ),
            None => (Vec::new(), Vec::<BareJid>::new()),
        };
        for (contact, request) in pending {
            let replay = Stanza::shared(
                Some(Jid::from(contact)),
                Some(Jid::from(bare.clone())),
                request,
            );
            self.send_to_client(conn, replay);
        }
        for contact in asked {
            self.route(presence(&bare, &Jid::from(contact), Some("subscribe")));
        }
        if priority >= 0 {
            self.deliver_offline(conn, node);
        }
    }

    /// Sends the stored presence of each available resource of `node` to
    /// `to`, or `template` from each if given. Returns how many were sent.
    pub(crate) fn send_available_presences(
        &mut self,
        node: &str,
        to: &Jid,
        template: Option<&Stanza>,
    ) -> usize {
        let mut sent = 0;
        for conn in self.account_conns(node) {
            // A template is a revocation (unavailable): it goes from every
            // session, as one that is unavailable now may have sent
            // directed presence since.
            let shown = |s: &crate::session::Session| {
                template.is_some() || (s.available() && self.shows_presence_to(conn, to))
            };
            let Some(s) = self.session(conn).filter(|s| shown(s)) else {
                continue;
            };
            let payload = match template {
                Some(t) => Arc::clone(t.payload()),
                None => self.stored_presence(s).expect("available"),
            };
            let stanza = Stanza::shared(Some(s.full.clone()), Some(to.clone()), payload);
            self.route(stanza);
            if template.is_none() {
                self.psa_if_paused(conn, to);
            }
            sent += 1;
        }
        sent
    }

    /// Presence arriving for a local account.
    pub(crate) fn inbound_presence(&mut self, stanza: Stanza) {
        match stanza.type_() {
            Some("probe") => self.inbound_probe(stanza),
            Some(t) if SUBSCRIPTION_TYPES.contains(&t) => {
                let to = stanza.to.clone().expect("routed");
                self.inbound_subscription(stanza, &to)
            }
            None | Some("unavailable") | Some("error") => self.deliver_presence(stanza),
            _ => self.bounce(&stanza, StanzaError::bad_request("Invalid presence type")),
        }
    }

    /// Available/unavailable/error presence: to every available resource for
    /// a bare JID, to the session for a full JID (RFC 6121 §4.3–§4.5, §8.5).
    /// This is the hot path of a broadcast: it allocates nothing but the
    /// copies for accounts with several available resources.
    fn deliver_presence(&mut self, stanza: Stanza) {
        let to = stanza.to.as_ref().expect("routed");
        let remote = stanza.from.as_ref().is_some_and(|f| !self.is_local(f));
        // Each session must be looked at: to keep what it holds of a remote
        // sender, or to check that it asked for annotations.
        let per_session = remote || stanza.payload().annotated();
        if to.is_full() {
            return match self.conn_for_full(to) {
                Some(conn) if per_session => self.presence_to_session(conn, stanza, remote),
                Some(conn) => self.send_to_client(conn, stanza),
                None => self.dropped(stanza, DropReason::SessionNotFound),
            };
        }
        let node = to.node().map(|n| n.as_str()).unwrap_or_default();
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        if let Some(resources) = self.online.get(NameStr::new(node)) {
            targets.extend(resources.values().filter(|c| {
                self.conns
                    .get(c)
                    .and_then(|c| c.session.as_ref())
                    .is_some_and(|s| s.available())
            }));
        }
        if targets.is_empty() {
            let reason = if self.account_exists(node) {
                DropReason::NoAvailableResource
            } else {
                DropReason::NoSuchUser
            };
            self.dropped(stanza, reason);
        } else {
            self.privacy_fan_out(&stanza, &mut targets);
            if per_session {
                // The last session gets the stanza itself, not a copy.
                if let Some((&last, rest)) = targets.split_last() {
                    for &conn in rest {
                        self.presence_to_session(conn, stanza.clone(), remote);
                    }
                    self.presence_to_session(last, stanza, remote);
                }
            } else {
                self.send_to_each(&targets, stanza);
            }
        }
        self.scratch = targets;
    }

    /// Presence addressed to the server's domain: probes are answered with
    /// the server's own availability, subscriptions are approved (Prosody's
    /// presence/host handler).
    pub(crate) fn host_presence(&mut self, stanza: Stanza) {
        let Some(from) = stanza.from.as_ref().map(|f| Jid::from(f.to_bare())) else {
            return self.dropped(stanza, DropReason::Unhandled);
        };
        let reply = |type_: Option<&str>| {
            let mut el = presence_element(type_);
            if let Some(id) = stanza.id() {
                xml::set_attr(&mut el, "id", id);
            }
            Stanza::new(Some(self.domain_jid.clone()), Some(from.clone()), el)
        };
        match stanza.type_() {
            Some("probe") => self.route(reply(None)),
            Some("subscribe") => {
                let (subscribed, available) = (reply(Some("subscribed")), reply(None));
                self.route(subscribed);
                self.route(available);
            }
            _ => self.dropped(stanza, DropReason::Unhandled),
        }
    }

    fn record(&mut self, user: &BareJid, contact: &BareJid, t: Transition) {
        if t.changed() {
            self.event(Event::SubscriptionChanged {
                user: user.clone(),
                contact: contact.clone(),
                before: t.before,
                after: t.after,
            });
        }
        if t.before.subscription.has_to() && !t.after.subscription.has_to() {
            self.forget_held(user, contact);
        }
        if t.before.subscription != t.after.subscription {
            let node = user
                .node()
                .map(|n| n.as_str().to_string())
                .unwrap_or_default();
            self.privacy_subscription_changed(&node, contact, t.before.subscription);
        }
    }

    /// Subscription stanzas sent by a local user (RFC 6121 §3, outbound).
    fn outbound_subscription(&mut self, conn: ConnId, stanza: Stanza) {
        let session = self.session(conn).expect("bound");
        let (node, user) = (session.node.clone(), session.bare.clone());
        let contact = stanza.to.as_ref().expect("directed").to_bare();
        let stanza = stanza.readdressed(
            Some(Jid::from(user.clone())),
            Some(Jid::from(contact.clone())),
        );
        let roster = &mut self.store.create(&node, "").roster;
        match stanza.type_() {
            Some("subscribe") => {
                let t = subscription::outbound_subscribe(roster, &contact);
                self.record(&user, &contact, t);
                self.push_item(&node, &contact);
                self.route(stanza);
            }
            Some("unsubscribe") => {
                let t = subscription::outbound_unsubscribe(roster, &contact);
                self.record(&user, &contact, t);
                self.push_item(&node, &contact);
                self.route(stanza);
            }
            Some("subscribed") => self.approve(&node, &user, &contact, stanza),
            _ => self.deny(&node, &user, &contact, stanza),
        }
    }

    /// The user sends (or the server sends on the user's behalf) `subscribed`.
    fn approve(&mut self, node: &str, user: &BareJid, contact: &BareJid, stanza: Stanza) {
        let roster = &mut self.store.create(node, "").roster;
        let (t, approval) = subscription::outbound_subscribed(roster, contact);
        self.record(user, contact, t);
        if t.saved {
            self.push_item(node, contact);
        }
        match approval {
            Approval::Approved => {
                let contact_jid = Jid::from(contact.clone());
                self.route(stanza);
                self.send_available_presences(node, &contact_jid, None);
                let user_subscribed = self
                    .store
                    .account(node)
                    .is_some_and(|a| a.roster.user_subscribed(contact));
                if user_subscribed {
                    self.route(presence(user, &contact_jid, Some("probe")));
                }
            }
            Approval::PreApproved => self.dropped(stanza, DropReason::PreApproved),
            Approval::Unchanged => self.dropped(stanza, DropReason::NoStateChange),
        }
    }

    /// The user sends `unsubscribed`: denies a request or cancels the
    /// contact's subscription, then sends unavailable presence (RFC 6121 §3.2.2).
    fn deny(&mut self, node: &str, user: &BareJid, contact: &BareJid, stanza: Stanza) {
        let roster = &mut self.store.create(node, "").roster;
        let (t, c) = subscription::outbound_unsubscribed(roster, contact);
        self.record(user, contact, t);
        if c.was_subscribed {
            self.push_item(node, contact);
            self.route(stanza);
            let unavailable = presence(user, &Jid::from(contact.clone()), Some("unavailable"));
            self.send_available_presences(node, &Jid::from(contact.clone()), Some(&unavailable));
        } else if c.was_pending {
            self.route(stanza);
        } else if t.saved {
            self.push_item(node, contact);
            self.dropped(stanza, DropReason::PreApproved);
        } else {
            self.dropped(stanza, DropReason::NoStateChange);
        }
    }

    /// A probe arriving for a local user (RFC 6121 §4.3.2): the stored
    /// presence of each of the user's available resources goes back to
    /// the prober's full JID, `unavailable` if none is available, and
    /// `unsubscribed` to its bare JID if it is not subscribed or there is
    /// no such user. The probe itself goes no further. Every probe a
    /// login sends comes here, so nothing is copied that a reply does not
    /// need.
    fn inbound_probe(&mut self, stanza: Stanza) {
        let (Some(from), Some(to)) = (stanza.from.as_ref(), stanza.to.as_ref()) else {
            return self.dropped(stanza, DropReason::Unhandled);
        };
        let node = to.node().map_or("", |n| n.as_str());
        let contact = crate::psa::bare_of(from.as_str());
        // Whether the prober is subscribed; `None` if there is no such user.
        let subscribed = match self.store.account(node) {
            Some(account) => Some(account.roster.contact_subscribed_text(contact)),
            None if self.online.contains_key(NameStr::new(node)) => {
                // Online without a stored account: made on demand, as any
                // subscription stanza makes it, with an empty roster.
                self.store.create(node, "");
                Some(false)
            }
            None => None,
        };
        if subscribed == Some(true) {
            if self.send_available_presences(node, from, None) == 0 {
                self.route(presence_from(&bare(to), from, Some("unavailable")));
            }
            return;
        }
        self.route(presence_from(&bare(to), &bare(from), Some("unsubscribed")));
        if subscribed.is_none() {
            self.dropped(stanza, DropReason::NoSuchUser);
        }
    }

    /// Subscription stanzas arriving for a local user (RFC 6121 §3
    /// inbound). Addresses are reduced to bare JIDs.
    fn inbound_subscription(&mut self, stanza: Stanza, to: &Jid) {
        let Some(original_from) = stanza.from.clone() else {
            return self.dropped(stanza, DropReason::Unhandled);
        };
        let contact = original_from.to_bare();
        let user = to.to_bare();
        let node = user
            .node()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        let contact_jid = Jid::from(contact.clone());
        if !self.account_exists(&node) {
            // RFC 6121 §3.1.3: no such account.
            if stanza.type_() == Some("subscribe") {
                self.route(presence(&user, &contact_jid, Some("unsubscribed")));
            }
            return self.dropped(stanza, DropReason::NoSuchUser);
        }
        let stanza = stanza.readdressed(Some(contact_jid.clone()), Some(Jid::from(user.clone())));
        let roster = &mut self.store.create(&node, "").roster;
        match stanza.type_() {
            Some("subscribe") => {
                let (t, action) =
                    subscription::inbound_subscribe(roster, &contact, Arc::clone(stanza.payload()));
                self.record(&user, &contact, t);
                self.on_subscribe(&node, &user, &contact, stanza, action);
            }
            Some("unsubscribe") => {
                // As Prosody: no unavailable presence goes back; the contact
                // unsubscribed itself and knows the presence stops.
                let t = subscription::inbound_unsubscribe(roster, &contact);
                self.record(&user, &contact, t);
                self.notify_change(&node, &contact, stanza, t);
            }
            Some("subscribed") => {
                let t = subscription::inbound_subscribed(roster, &contact);
                self.record(&user, &contact, t);
                self.notify_change(&node, &contact, stanza, t);
            }
            _ => {
                let t = subscription::inbound_unsubscribed(roster, &contact);
                self.record(&user, &contact, t);
                self.notify_change(&node, &contact, stanza, t);
            }
        }
    }

    fn on_subscribe(
        &mut self,
        node: &str,
        user: &BareJid,
        contact: &BareJid,
        stanza: Stanza,
        action: SubscribeAction,
    ) {
        let contact_jid = Jid::from(contact.clone());
        match action {
            SubscribeAction::AlreadySubscribed => {
                self.route(presence(user, &contact_jid, Some("subscribed")));
                if self.send_available_presences(node, &contact_jid, None) == 0 {
                    self.route(presence(user, &contact_jid, Some("unavailable")));
                }
                self.dropped(stanza, DropReason::NoStateChange);
            }
            SubscribeAction::AutoApprove => {
                let approval = presence(user, &contact_jid, Some("subscribed"));
                self.approve(node, user, contact, approval);
            }
            SubscribeAction::AlreadyPendingApproved => {
                self.dropped(stanza, DropReason::NoStateChange)
            }
            SubscribeAction::Deliver => {
                // Prosody acknowledges receipt with an unavailable presence.
                self.route(presence(user, &contact_jid, Some("unavailable")));
                self.deliver_presence(stanza);
            }
            SubscribeAction::Duplicate => {
                self.route(presence(user, &contact_jid, Some("unavailable")));
                self.dropped(stanza, DropReason::NoStateChange);
            }
        }
    }

    /// Delivers a subscription notification to interested resources and
    /// pushes the item, if the stanza changed the state (RFC 3921 §9.3).
    fn notify_change(&mut self, node: &str, contact: &BareJid, stanza: Stanza, t: Transition) {
        if !t.saved {
            return self.dropped(stanza, DropReason::NoStateChange);
        }
        let mut delivered = false;
        for conn in self.account_conns(node) {
            if self.session(conn).is_some_and(|s| s.interested) {
                self.send_to_client(conn, stanza.clone());
                delivered = true;
            }
        }
        if !delivered {
            self.dropped(stanza, DropReason::NoInterestedResource);
        }
        self.push_item(node, contact);
    }

    /// Roster removal (RFC 6121 §2.5.2): cancel both directions before the
    /// item is deleted, with unavailable presence to the contact (Prosody's
    /// fix for its issue 1121, extended to every contact that could see the
    /// user so that no contact keeps a stale available view).
    pub(crate) fn cancel_subscriptions_on_removal(
        &mut self,
        conn: ConnId,
        node: &str,
        contact: &BareJid,
    ) {
        let full = self.session(conn).expect("bound").full.clone();
        let user = full.to_bare();
        let Some(roster) = self.store.account(node).map(|a| &a.roster) else {
            return;
        };
        let sub = roster.subscription(contact);
        let ask = roster.items.get(contact).is_some_and(|i| i.ask);
        let pending = roster.pending_in.contains_key(contact);
        let contact_jid = Jid::from(contact.clone());
        if sub.has_from() || pending {
            let mut s = presence(&user, &contact_jid, Some("unsubscribed"));
            s.from = Some(full.clone());
            self.route(s);
        }
        if sub.has_from() || sub.has_to() || ask {
            let unavailable = presence(&user, &contact_jid, Some("unavailable"));
            self.send_available_presences(node, &contact_jid, Some(&unavailable));
        }
        if sub.has_to() || ask {
            let mut s = presence(&user, &contact_jid, Some("unsubscribe"));
            s.from = Some(full);
            self.route(s);
        }
    }
}
