//! Privacy lists (RFC 3921 §10, XEP-0016): the `jabber:iq:privacy`
//! protocol, the decision for each stanza, and what a change of lists,
//! roster or sessions does to presence. The lists as data are in [`list`].
//!
//! - **Which list applies** (§10.2 rules 1–3): a session's active list,
//!   else the account's default list, else none (everything allowed). A
//!   stanza for a bound full JID is judged by that session's list; one for
//!   the bare JID (or an unbound resource) by the default list, except that
//!   presence notifications and messages the server fans out to sessions
//!   are judged per session when some session has an active list of its
//!   own. A user's own resources are never blocked (XEP-0016 §2.1).
//! - **Inbound** (§10.14): from a denied entity, presence and messages are
//!   dropped silently and iq get/set answered `service-unavailable`.
//! - **Outbound**: a client's stanza to a denied entity is answered
//!   `not-acceptable` (XEP-0016 §2.13); presence the server sends on the
//!   user's behalf (broadcasts, probes, probe answers, annotations) is
//!   recorded as dropped (`privacy`).
//! - **Changes**: when a list, the default, an active list, a roster item
//!   (rule 9) or the block list changes what is decided, a contact newly
//!   denied the user's presence gets unavailable presence (XEP-0016
//!   §2.10), one newly allowed gets the current presence, and a contact
//!   the user follows whose presence is newly allowed in is probed. Each
//!   change of a decision about a session's presence audience or sources
//!   is an [`Event::Privacy`] for the trace.
//! - **Blocking** (XEP-0191 §6): the block list is the default list's
//!   `jid`/`deny` items that name no stanza kind; a stanza such an item
//!   denies gets the XEP-0191 treatment (`Verdict::Block`, see
//!   `blocking.rs`).
//! - Pushes (rule 10) go to every bound session, and the list name only;
//!   a block-list edit pushes the default list's name to the sessions that
//!   used this protocol.

pub mod list;

use crate::name::NameStr;
use std::collections::{BTreeMap, BTreeSet};

use jid::{BareJid, Jid};
use minidom::Element;

pub use list::{
    jid_matches, Counterpart, Item, Match, PrivacyList, PrivacyLists, Stanzas, Traffic, NS_PRIVACY,
};

use crate::presence::SUBSCRIPTION_TYPES;
use crate::roster::Subscription;
use crate::server::{ConnId, DropReason, Event, Server};
use crate::stanza::{ErrorType, Kind, Stanza, StanzaError};
use crate::xml::{self, NS_CLIENT};

/// What the lists decide for one stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    /// Denied by a privacy-list item.
    Deny,
    /// Denied by a block item of the default list: the XEP-0191 block list.
    Block,
}

impl Verdict {
    fn drop_reason(self) -> DropReason {
        match self {
            Verdict::Block => DropReason::Blocked,
            _ => DropReason::Privacy,
        }
    }
}

/// A session's privacy state.
#[derive(Debug, Default)]
pub(crate) struct SessionPrivacy {
    /// The name of its active list (§10.4).
    pub active: Option<String>,
    /// It used this protocol, so hears of block-list edits as list pushes.
    pub interested: bool,
    /// Senders whose presence its list refused: they may hold nothing the
    /// contacts it follows do not, but what it shows of them is stale by
    /// its own choice.
    pub refused: BTreeSet<Jid>,
    /// What the last [`Event::Privacy`] said per presence flow and JID.
    pub reported: BTreeMap<(Traffic, Jid), bool>,
}

/// A presence notification (RFC 3921 §10): no `type`, or `unavailable`.
fn is_notification(stanza: &Stanza) -> bool {
    stanza.kind() == Kind::Presence && matches!(stanza.type_(), None | Some("unavailable"))
}

fn is_subscription(stanza: &Stanza) -> bool {
    stanza.kind() == Kind::Presence
        && stanza
            .type_()
            .is_some_and(|t| SUBSCRIPTION_TYPES.contains(&t))
}

/// What a stanza is to the user it is addressed to.
fn inbound_traffic(stanza: &Stanza) -> Traffic {
    match stanza.kind() {
        Kind::Message => Traffic::Message,
        Kind::Iq => Traffic::Iq,
        _ if is_notification(stanza) => Traffic::PresenceIn,
        _ => Traffic::Other,
    }
}

/// What a stanza is to the user who sends it.
fn outbound_traffic(stanza: &Stanza) -> Traffic {
    if is_notification(stanza) {
        Traffic::PresenceOut
    } else {
        Traffic::Other
    }
}

/// Per session (in resource order), per presence flow and JID: whether
/// the list denies it.
type Statuses = Vec<(ConnId, BTreeMap<(Traffic, Jid), bool>)>;

/// A contact whose subscription just changed, with the subscription it
/// had: decisions are computed as they were before the change.
type SubscriptionBefore<'a> = Option<(&'a BareJid, Subscription)>;

impl Server {
    // ----- the decision (§10.2) -----

    /// The decision for `traffic` between local `user` (a full JID: its
    /// session's list; a bare or unbound one: the default list) and `other`.
    pub(crate) fn privacy_verdict(&self, user: &Jid, other: &Jid, traffic: Traffic) -> Verdict {
        self.verdict_with(user, other, traffic, None)
    }

    fn verdict_with(
        &self,
        user: &Jid,
        other: &Jid,
        traffic: Traffic,
        before: SubscriptionBefore,
    ) -> Verdict {
        let Some((list, is_default)) = self.list_for(user) else {
            return Verdict::Allow;
        };
        let node = user.node().map(|n| n.as_str()).unwrap_or_default();
        if other.node().map(|n| n.as_str()) == Some(node) && self.is_local(other) {
            return Verdict::Allow;
        }
        let account = self.store.account(node).expect("has lists");
        let mut who = Counterpart::in_roster(other, &account.roster);
        if let Some((contact, subscription)) = before {
            if other.to_bare() == *contact {
                who.subscription = subscription;
            }
        }
        match list.decide(&who, traffic) {
            Some(item) if !item.allow && item.is_block() && is_default => Verdict::Block,
            Some(item) if !item.allow => Verdict::Deny,
            _ => Verdict::Allow,
        }
    }

    /// The list that applies to `user`, and whether it is the default list.
    fn list_for(&self, user: &Jid) -> Option<(&PrivacyList, bool)> {
        if !self.store.lists_seen() {
            return None;
        }
        let node = user.node()?.as_str();
        let lists = &self.store.account(node)?.privacy();
        if lists.lists.is_empty() {
            return None;
        }
        let active = user
            .is_full()
            .then(|| self.conn_for_full(user))
            .flatten()
            .and_then(|c| self.session(c))
            .and_then(|s| s.privacy.active.as_ref())
            .or_else(|| match &self.ending {
                Some((jid, name)) if jid == user => Some(name),
                _ => None,
            });
        let name = active.or(lists.default.as_ref())?;
        Some((lists.lists.get(name)?, Some(name) == lists.default.as_ref()))
    }

    /// Whether privacy lists can matter to `node` now: it has lists, or a
    /// session has privacy events to take back.
    fn privacy_in_use(&self, node: &str) -> bool {
        self.has_lists(node)
            || self.account_conns(node).into_iter().any(|c| {
                self.session(c)
                    .is_some_and(|s| !s.privacy.reported.is_empty())
            })
    }

    /// Whether a session of `node` has an active list: then stanzas fanned
    /// out to its sessions are judged one session at a time.
    fn any_active_list(&self, node: &str) -> bool {
        self.online
            .get(NameStr::new(node))
            .is_some_and(|resources| {
                resources
                    .values()
                    .any(|c| self.session(*c).is_some_and(|s| s.privacy.active.is_some()))
            })
    }

    /// Whether the account `node` has privacy lists (the fast path of
    /// every delivery is its absence).
    fn has_lists(&self, node: &str) -> bool {
        self.store.lists_seen()
            && self
                .store
                .account(node)
                .is_some_and(|a| !a.privacy().lists.is_empty())
    }

    // ----- the gates -----

    /// A stanza a client sends: if the lists deny it, it is answered with
    /// `not-acceptable` (XEP-0016 §2.13; for the block list, XEP-0191 §3.4's
    /// error), or dropped if it is an error or result, and `true` returned.
    /// Subscription stanzas pass the block list (Prosody routes them before
    /// its check), not a privacy list (§10.13).
    pub(crate) fn refuse_outbound(&mut self, conn: ConnId, stanza: &Stanza) -> bool {
        let Some(to) = stanza.to.as_ref() else {
            return false;
        };
        let user = self.session(conn).expect("bound").full.clone();
        let verdict = self.privacy_verdict(&user, to, outbound_traffic(stanza));
        let error = match verdict {
            Verdict::Allow => return false,
            Verdict::Block if is_subscription(stanza) => return false,
            Verdict::Block => crate::blocking::blocked_error(),
            Verdict::Deny => StanzaError::new(ErrorType::Cancel, "not-acceptable"),
        };
        if stanza.is_error_or_result() {
            self.dropped(stanza.clone(), verdict.drop_reason());
        } else {
            self.send_to_client(conn, stanza.error_reply(&error));
        }
        true
    }

    /// Presence the server routes from a local user (a broadcast, probe,
    /// probe answer, annotation or directed unavailable): why it must not
    /// go, if the lists deny it. Subscription stanzas were judged when the
    /// client sent them.
    pub(crate) fn presence_refused_on_route(&self, stanza: &Stanza) -> Option<DropReason> {
        // On every routed presence: while no account has lists, no list
        // can refuse it, whatever its addresses.
        if !self.store.lists_seen() || stanza.kind() != Kind::Presence || is_subscription(stanza) {
            return None;
        }
        let (Some(from), Some(to)) = (stanza.from.as_ref(), stanza.to.as_ref()) else {
            return None;
        };
        if from.node().is_none() || !self.is_local(from) {
            return None;
        }
        match self.privacy_verdict(from, to, outbound_traffic(stanza)) {
            Verdict::Allow => None,
            verdict => Some(verdict.drop_reason()),
        }
    }

    /// Presence of `from` the server would hand local session `to` itself
    /// (an XEP-0310 annotation of what it holds): why it must not, if the
    /// session's list refuses `from`'s presence.
    pub(crate) fn presence_refused_on_delivery(&self, to: &Jid, from: &Jid) -> Option<DropReason> {
        match self.privacy_verdict(to, from, Traffic::PresenceIn) {
            Verdict::Allow => None,
            verdict => Some(verdict.drop_reason()),
        }
    }

    /// A stanza for a local account from someone else: refused here
    /// (dropped or bounced, §10.14) and `None` returned, or given back.
    /// Stanzas fanned out to sessions with lists of their own are judged
    /// by [`Server::privacy_fan_out`] instead.
    pub(crate) fn privacy_inbound(&mut self, stanza: Stanza) -> Option<Stanza> {
        let node = stanza.to.as_ref().and_then(|t| t.node());
        if !node.is_some_and(|n| self.has_lists(n.as_str())) {
            return Some(stanza);
        }
        let (Some(from), Some(to)) = (stanza.from.clone(), stanza.to.clone()) else {
            return Some(stanza);
        };
        let traffic = inbound_traffic(&stanza);
        let node = to.node().map(|n| n.as_str()).unwrap_or_default();
        let to_session = self.conn_for_full(&to);
        let fanned_out = to_session.is_none()
            && matches!(traffic, Traffic::Message | Traffic::PresenceIn)
            && self.any_active_list(node);
        if fanned_out {
            return Some(stanza);
        }
        let verdict = self.privacy_verdict(&to, &from, traffic);
        if verdict == Verdict::Allow {
            return Some(stanza);
        }
        if traffic == Traffic::PresenceIn {
            let refusing = match to_session {
                Some(conn) => smallvec::smallvec![conn],
                None => self.account_conns(node),
            };
            self.note_refused(&refusing, &from);
        }
        self.refuse_inbound(stanza, verdict);
        None
    }

    /// Keeps in `targets` the sessions whose lists admit `stanza`, for a
    /// stanza fanned out to an account's sessions when some of them have
    /// active lists. With none left, the stanza is refused (by the verdict
    /// of the first session).
    pub(crate) fn privacy_fan_out(&mut self, stanza: &Stanza, targets: &mut Vec<ConnId>) {
        if !self.store.lists_seen() {
            return;
        }
        let (Some(from), Some(to)) = (stanza.from.as_ref(), stanza.to.as_ref()) else {
            return;
        };
        let node = to.node().map(|n| n.as_str()).unwrap_or_default();
        // On the delivery path: the account lookup first, which ends it for
        // accounts without lists.
        if to.is_full() || !self.has_lists(node) || !self.any_active_list(node) {
            return;
        }
        let traffic = inbound_traffic(stanza);
        let mut admitted = Vec::new();
        let mut refused = Vec::new();
        let mut first = Verdict::Allow;
        for &conn in targets.iter() {
            let user = self.session(conn).expect("target").full.clone();
            match self.privacy_verdict(&user, from, traffic) {
                Verdict::Allow => admitted.push(conn),
                verdict => {
                    refused.push(conn);
                    if first == Verdict::Allow {
                        first = verdict;
                    }
                }
            }
        }
        if traffic == Traffic::PresenceIn && !refused.is_empty() {
            self.note_refused(&refused, from);
        }
        if admitted.is_empty() {
            self.refuse_inbound(stanza.clone(), first);
        } else {
            // The copies refused are recorded, addressed to their session.
            for conn in refused {
                let to = self.session(conn).expect("target").full.clone();
                let copy = stanza.readdressed(stanza.from.clone(), Some(to));
                self.dropped(copy, DropReason::Privacy);
            }
        }
        *targets = admitted;
    }

    /// A message for an account with no available resource, which
    /// [`Server::privacy_inbound`] left to the fan-out: judged by the
    /// default list (rule 2).
    pub(crate) fn privacy_offline(&mut self, stanza: Stanza) -> Option<Stanza> {
        let (Some(from), Some(to)) = (stanza.from.as_ref(), stanza.to.as_ref()) else {
            return Some(stanza);
        };
        let node = to.node().map(|n| n.as_str()).unwrap_or_default();
        if !self.any_active_list(node) {
            return Some(stanza);
        }
        let bare = Jid::from(to.to_bare());
        match self.privacy_verdict(&bare, from, inbound_traffic(&stanza)) {
            Verdict::Allow => Some(stanza),
            verdict => {
                self.refuse_inbound(stanza, verdict);
                None
            }
        }
    }

    /// Refuses a stanza for a local account (§10.14; XEP-0191 §3.5 for
    /// the block list): iq get/set get `service-unavailable`; chat and
    /// normal messages to the bare JID are bounced if the block list
    /// refused them and `bounce_blocked_messages` is on; everything else
    /// is dropped.
    fn refuse_inbound(&mut self, stanza: Stanza, verdict: Verdict) {
        let to_session = stanza
            .to
            .as_ref()
            .is_some_and(|to| self.conn_for_full(to).is_some());
        let (bounce, echo) = match (stanza.kind(), stanza.type_()) {
            (Kind::Iq, Some("get" | "set")) => (true, true),
            (Kind::Message, None | Some("chat" | "normal")) => (
                verdict == Verdict::Block && self.config.bounce_blocked_messages && !to_session,
                false,
            ),
            _ => (false, false),
        };
        match (bounce, echo) {
            (true, true) => {
                let reply = stanza.error_reply_echoing(&StanzaError::service_unavailable());
                self.route(reply);
            }
            (true, false) => self.bounce(&stanza, StanzaError::service_unavailable()),
            _ => self.dropped(stanza, verdict.drop_reason()),
        }
    }

    /// Sessions whose lists refused `from`'s presence: it joins what their
    /// privacy events report on.
    fn note_refused(&mut self, conns: &[ConnId], from: &Jid) {
        for &conn in conns {
            let Some(session) = self.session_mut(conn) else {
                continue;
            };
            if session.privacy.refused.insert(from.clone()) {
                let node = session.node.clone();
                self.report_session_privacy(&node, conn);
            }
        }
    }

    /// Reports the decisions of the session at `conn` of account `node`.
    fn report_session_privacy(&mut self, node: &str, conn: ConnId) {
        let statuses = self.privacy_statuses(node, None);
        if let Some((_, members)) = statuses.iter().find(|(c, _)| *c == conn) {
            self.report_privacy(conn, members);
        }
    }

    // ----- what a change does (XEP-0016 §2.10, rule 9) -----

    /// Runs `change` to the account `node`'s lists or roster, then acts on
    /// what it changed (see the module docs).
    pub(crate) fn with_privacy_effects<R>(
        &mut self,
        node: &str,
        change: impl FnOnce(&mut Server) -> R,
    ) -> R {
        let before = self.privacy_statuses(node, None);
        let result = change(self);
        self.privacy_effects(node, before);
        result
    }

    /// After `contact`'s subscription changed from `before` (rule 9).
    pub(crate) fn privacy_subscription_changed(
        &mut self,
        node: &str,
        contact: &BareJid,
        before: Subscription,
    ) {
        if self.privacy_in_use(node) {
            let statuses = self.privacy_statuses(node, Some((contact, before)));
            self.privacy_effects(node, statuses);
        }
    }

    /// A session was bound: its privacy events start from the default list.
    pub(crate) fn privacy_session_bound(&mut self, conn: ConnId) {
        let Some(node) = self.session(conn).map(|s| s.node.clone()) else {
            return;
        };
        if self.privacy_in_use(&node) {
            self.report_session_privacy(&node, conn);
        }
    }

    /// Each session's presence audience (its subscribers and directed
    /// recipients, as presence is addressed to them) and presence sources
    /// (the contacts it follows, senders it refused, and the addresses of
    /// those contacts that its list names with a resource), each with the
    /// decision of the session's list.
    fn privacy_statuses(&self, node: &str, before: SubscriptionBefore) -> Statuses {
        let mut statuses = Statuses::new();
        let Some(account) = self.store.account(node) else {
            return statuses;
        };
        if !self.privacy_in_use(node) {
            return statuses;
        }
        let (mut subscribers, mut followed) = (Vec::new(), Vec::new());
        for (jid, item) in &account.roster.items {
            let subscription = match before {
                Some((contact, s)) if contact == jid => s,
                _ => item.subscription,
            };
            if subscription.has_from() {
                subscribers.push(Jid::from(jid.clone()));
            }
            if subscription.has_to() {
                followed.push(Jid::from(jid.clone()));
            }
        }
        for conn in self.account_conns(node) {
            let Some(session) = self.session(conn) else {
                continue;
            };
            let user = &session.full;
            let audience: BTreeSet<&Jid> = subscribers.iter().chain(&session.directed).collect();
            let mut sources: BTreeSet<Jid> = followed.iter().cloned().collect();
            sources.extend(session.privacy.refused.iter().cloned());
            sources.extend(
                session
                    .privacy
                    .reported
                    .keys()
                    .filter(|(t, _)| *t == Traffic::PresenceIn)
                    .map(|(_, j)| j.clone()),
            );
            if let Some((list, _)) = self.list_for(user) {
                sources.extend(resource_addresses(list, &followed));
            }
            let mut members = BTreeMap::new();
            for jid in audience {
                let verdict = self.verdict_with(user, jid, Traffic::PresenceOut, before);
                members.insert(
                    (Traffic::PresenceOut, jid.clone()),
                    verdict != Verdict::Allow,
                );
            }
            for jid in sources {
                let verdict = self.verdict_with(user, &jid, Traffic::PresenceIn, before);
                members.insert((Traffic::PresenceIn, jid), verdict != Verdict::Allow);
            }
            statuses.push((conn, members));
        }
        statuses
    }

    /// Acts on the decisions that changed from `before` to now, for
    /// members there both times: unavailable to those newly denied, then
    /// probes to contacts newly allowed in, then the current presence to
    /// those newly allowed out (sessions in resource order). Then reports
    /// every session's decisions.
    fn privacy_effects(&mut self, node: &str, before: Statuses) {
        let after = self.privacy_statuses(node, None);
        let (mut denied_out, mut allowed_out, mut probes) =
            (Vec::new(), Vec::new(), BTreeSet::new());
        let mut unrefused = Vec::new();
        for (conn, members) in &after {
            // No statuses before: the account had no lists, so everything
            // was allowed.
            let old = before.iter().find(|(c, _)| c == conn).map(|(_, m)| m);
            for (key, &denied) in members {
                let was = match old {
                    Some(old) => old.get(key).copied(),
                    None => Some(false),
                };
                match (key.0, was, denied) {
                    (Traffic::PresenceOut, Some(false), true) => denied_out.push((*conn, &key.1)),
                    (Traffic::PresenceOut, Some(true), false) => allowed_out.push((*conn, &key.1)),
                    (Traffic::PresenceIn, Some(true), false) => {
                        if key.1.is_bare() {
                            probes.insert(&key.1);
                        }
                        unrefused.push((*conn, &key.1));
                    }
                    _ => {}
                }
            }
        }
        for (conn, to) in denied_out {
            self.presence_out_denied(conn, to);
        }
        for (conn, from) in unrefused {
            self.presence_in_allowed(conn, from);
        }
        let following = self.contacts_where(node, |s| s.has_to());
        let user = self.bare_of(node);
        for contact in probes.into_iter().filter(|c| following.contains(c)) {
            self.route(crate::presence::presence(&user, contact, Some("probe")));
        }
        for (conn, to) in allowed_out {
            self.presence_out_allowed(conn, to);
        }
        for (conn, members) in &after {
            self.report_privacy(*conn, members);
        }
    }

    /// `to` may no longer have the presence of the session at `conn`: it
    /// gets unavailable presence, and leaves the directed recipients (no
    /// later presence could end it). The unavailable goes even from a
    /// session that is unavailable: it may have sent `to` directed
    /// presence since, which a subscriber's is not remembered as.
    fn presence_out_denied(&mut self, conn: ConnId, to: &Jid) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let directed = session.directed.remove(to);
        let full = session.full.clone();
        if directed {
            self.event(Event::Directed {
                from: full.clone(),
                to: to.clone(),
                available: false,
            });
        }
        let unavailable = crate::presence::presence_from(&full, to, Some("unavailable"));
        self.route_unchecked(unavailable);
    }

    /// The session at `conn` may have `from`'s presence again. If its list
    /// refused presence from `from`, what it shows of `from` is stale and
    /// no one else can tell it: the server sends it unavailable presence
    /// from `from` (the contacts it follows are probed after this).
    fn presence_in_allowed(&mut self, conn: ConnId, from: &Jid) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        if !session.privacy.refused.remove(from) {
            return;
        }
        let to = session.full.clone();
        self.route_unchecked(crate::presence::presence_from(
            from,
            &to,
            Some("unavailable"),
        ));
    }

    /// `to` may have the presence of the session at `conn` again: it gets
    /// the current presence (as a probe would), if the session shows it.
    fn presence_out_allowed(&mut self, conn: ConnId, to: &Jid) {
        if !self.shows_presence_to(conn, to) {
            return;
        }
        let Some((full, Some(payload))) = self
            .session(conn)
            .map(|s| (s.full.clone(), self.stored_presence(s)))
        else {
            return;
        };
        self.route(Stanza::shared(Some(full), Some(to.clone()), payload));
        self.psa_if_paused(conn, to);
    }

    /// Emits a privacy event for each decision of the session at `conn`
    /// that differs from what its events said so far (`reported`, which
    /// mirrors what a reader of the trace knows). A presence-in decision
    /// about a full JID that no event named is read from its bare JID's,
    /// so an event names the full JID only where the two differ.
    fn report_privacy(&mut self, conn: ConnId, members: &BTreeMap<(Traffic, Jid), bool>) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let mut reported = std::mem::take(&mut session.privacy.reported);
        let full = session.full.clone();
        let mut keys: Vec<(Traffic, Jid)> =
            members.keys().chain(reported.keys()).cloned().collect();
        // Bare JIDs first: a full JID's decision may be read from its bare JID's.
        keys.sort_by_key(|(t, j)| (*t, j.to_bare(), j.is_full(), j.to_string()));
        keys.dedup();
        let mut events = Vec::new();
        for key in keys {
            let denied = members.get(&key).copied().unwrap_or(false);
            if said(&reported, &key) != denied {
                events.push(Event::Privacy {
                    session: full.clone(),
                    contact: key.1.clone(),
                    outbound: key.0 == Traffic::PresenceOut,
                    denied,
                });
                reported.insert(key, denied);
            }
        }
        if let Some(session) = self.session_mut(conn) {
            session.privacy.reported = reported;
        }
        for event in events {
            self.event(event);
        }
    }

    // ----- the protocol (§10.3–§10.8) -----

    /// A `jabber:iq:privacy` get or set from the account's own session.
    pub(crate) fn privacy_iq(&mut self, conn: ConnId, stanza: Stanza) {
        if let Some(session) = self.session_mut(conn) {
            session.privacy.interested = true;
        }
        let node = self.session(conn).expect("bound").node.clone();
        let query = stanza.payload().children().next().expect("validated");
        let children: Vec<Element> = query.children().cloned().collect();
        let blocklist = self.blocklist_of(&node);
        let (answer, changed) = match stanza.type_() {
            Some("get") => (self.privacy_get(conn, &children), None),
            _ => match self.privacy_set(conn, &children) {
                Ok(changed) => (Ok(None), changed),
                Err(error) => (Err(error), None),
            },
        };
        let reply = match answer {
            Ok(child) => crate::iq::result(&stanza, None, child),
            Err(error) => stanza.error_reply_echoing(&error),
        };
        self.send_to_client(conn, reply);
        if let Some(name) = changed {
            self.push_privacy_list(&node, &name, false);
        }
        let after = self.blocklist_of(&node);
        self.blocklist_changed(&node, &blocklist, &after);
    }

    /// The names of the lists, the active and the default list (§10.3), or
    /// one list.
    fn privacy_get(
        &mut self,
        conn: ConnId,
        children: &[Element],
    ) -> Result<Option<Element>, StanzaError> {
        let session = self.session(conn).expect("bound");
        let lists = self
            .store
            .account(&session.node)
            .map(|a| a.privacy().clone())
            .unwrap_or_default();
        let mut query = Element::bare("query", NS_PRIVACY);
        match children {
            [] => {
                if let Some(active) = &session.privacy.active {
                    query.append_child(xml::element("active", NS_PRIVACY, &[("name", active)]));
                }
                if let Some(default) = &lists.default {
                    query.append_child(xml::element("default", NS_PRIVACY, &[("name", default)]));
                }
                for name in lists.lists.keys() {
                    query.append_child(xml::element("list", NS_PRIVACY, &[("name", name)]));
                }
            }
            [list] if list.is("list", NS_PRIVACY) => {
                let name = list_name(list)?;
                let found = lists.lists.get(name).ok_or_else(item_not_found)?;
                query.append_child(list::list_element(name, Some(found)));
            }
            _ => return Err(StanzaError::bad_request("Retrieve one list at a time")),
        }
        Ok(Some(query))
    }

    /// `<active/>`, `<default/>` or `<list/>`: exactly one (§10.1). The
    /// changes are applied before the result (§10.4); the name of a list
    /// edited or removed is returned for the pushes that follow it.
    fn privacy_set(
        &mut self,
        conn: ConnId,
        children: &[Element],
    ) -> Result<Option<String>, StanzaError> {
        let [child] = children else {
            return Err(StanzaError::bad_request("Exactly one element expected"));
        };
        let node = self.session(conn).expect("bound").node.clone();
        self.store.create(&node, "");
        let name = child.attr("name");
        match (child.name(), child.has_ns(NS_PRIVACY)) {
            ("active", true) => self.set_active(conn, &node, name).map(|()| None),
            ("default", true) => self.set_default(conn, &node, name).map(|()| None),
            ("list", true) if child.children().next().is_none() => {
                let name = list_name(child)?;
                self.remove_list(conn, &node, name)?;
                Ok(Some(name.to_string()))
            }
            ("list", true) => self.edit_list(&node, child).map(Some),
            _ => Err(StanzaError::bad_request("Unexpected element")),
        }
    }

    /// §10.4: a session's active list, or none.
    fn set_active(
        &mut self,
        conn: ConnId,
        node: &str,
        name: Option<&str>,
    ) -> Result<(), StanzaError> {
        self.check_exists(node, name)?;
        self.with_privacy_effects(node, |server| {
            if let Some(session) = server.session_mut(conn) {
                session.privacy.active = name.map(str::to_string);
            }
        });
        Ok(())
    }

    /// §10.5: the default list, or none; `conflict` while another session
    /// uses the current default.
    fn set_default(
        &mut self,
        conn: ConnId,
        node: &str,
        name: Option<&str>,
    ) -> Result<(), StanzaError> {
        self.check_exists(node, name)?;
        let current = self
            .store
            .account(node)
            .and_then(|a| a.privacy().default.clone());
        if current.as_deref() == name {
            return Ok(());
        }
        if current.is_some() && self.default_used_elsewhere(conn, node) {
            return Err(conflict());
        }
        self.with_privacy_effects(node, |server| {
            let lists = server.store.privacy_mut(node).expect("exists");
            lists.default = name.map(str::to_string);
        });
        Ok(())
    }

    /// §10.6–§10.7: a list is created or replaced.
    fn edit_list(&mut self, node: &str, el: &Element) -> Result<String, StanzaError> {
        let name = list_name(el)?.to_string();
        let roster = &self.store.account(node).expect("exists").roster;
        let items = list::parse_items(el, roster)?;
        let new = PrivacyList::new(items)?;
        self.with_privacy_effects(node, |server| {
            let lists = server.store.privacy_mut(node).expect("exists");
            lists.lists.insert(name.clone(), new);
        });
        Ok(name)
    }

    /// §10.8: a list is removed; `conflict` if it applies to another
    /// session.
    fn remove_list(&mut self, conn: ConnId, node: &str, name: &str) -> Result<(), StanzaError> {
        self.check_exists(node, Some(name))?;
        let is_default = self
            .store
            .account(node)
            .and_then(|a| a.privacy().default.as_deref())
            == Some(name);
        let active_elsewhere = self.account_conns(node).into_iter().any(|c| {
            c != conn
                && self
                    .session(c)
                    .is_some_and(|s| s.privacy.active.as_deref() == Some(name))
        });
        if active_elsewhere || (is_default && self.default_used_elsewhere(conn, node)) {
            return Err(conflict());
        }
        self.with_privacy_effects(node, |server| {
            if let Some(session) = server.session_mut(conn) {
                if session.privacy.active.as_deref() == Some(name) {
                    session.privacy.active = None;
                }
            }
            let lists = server.store.privacy_mut(node).expect("exists");
            lists.lists.remove(name);
            if is_default {
                lists.default = None;
            }
        });
        Ok(())
    }

    fn check_exists(&self, node: &str, name: Option<&str>) -> Result<(), StanzaError> {
        let exists = |n: &str| {
            self.store
                .account(node)
                .is_some_and(|a| a.privacy().lists.contains_key(n))
        };
        match name {
            Some(n) if !exists(n) => Err(item_not_found()),
            _ => Ok(()),
        }
    }

    /// Whether a session other than `conn` has no active list, so that
    /// the default list applies to it.
    fn default_used_elsewhere(&self, conn: ConnId, node: &str) -> bool {
        self.account_conns(node)
            .into_iter()
            .any(|c| c != conn && self.session(c).is_some_and(|s| s.privacy.active.is_none()))
    }

    pub(crate) fn blocklist_of(&self, node: &str) -> BTreeSet<String> {
        self.store
            .account(node)
            .map(|a| a.privacy().blocklist())
            .unwrap_or_default()
    }

    /// A privacy list push (rule 10): the list's name to every bound
    /// session, or with `interested_only`, to those that used this
    /// protocol (for an edit the blocking command made).
    pub(crate) fn push_privacy_list(&mut self, node: &str, name: &str, interested_only: bool) {
        for conn in self.account_conns(node) {
            let Some(full) = self
                .session(conn)
                .filter(|s| !interested_only || s.privacy.interested)
                .map(|s| s.full.clone())
            else {
                continue;
            };
            let mut iq = xml::element("iq", NS_CLIENT, &[("type", "set")]);
            xml::set_attr(&mut iq, "id", format!("push{}", self.next_id()));
            let mut query = Element::bare("query", NS_PRIVACY);
            query.append_child(list::list_element(name, None));
            iq.append_child(query);
            self.send_to_client(conn, Stanza::new(None, Some(full), iq));
        }
    }
}

/// The addresses with a resource that `list` names and that belong to a
/// contact in `followed`: a full JID, or `domain/resource` made into each
/// contact's full JID at that domain.
fn resource_addresses(list: &PrivacyList, followed: &[Jid]) -> Vec<Jid> {
    let mut found = Vec::new();
    for value in list.resource_values(Traffic::PresenceIn) {
        let Ok(jid) = Jid::new(value) else {
            continue;
        };
        let resource = jid.resource().map(|r| r.as_str().to_string());
        for contact in followed {
            let full = match (jid.node(), &resource) {
                (Some(_), _) if contact.to_bare() == jid.to_bare() => Some(jid.clone()),
                (None, Some(r)) if contact.domain() == jid.domain() => {
                    Jid::new(&format!("{contact}/{r}")).ok()
                }
                _ => None,
            };
            found.extend(full);
        }
    }
    found
}

/// What the events so far say of `key`: its own last event, or for a
/// full JID's presence-in with none, its bare JID's; else not denied.
fn said(reported: &BTreeMap<(Traffic, Jid), bool>, key: &(Traffic, Jid)) -> bool {
    let (traffic, jid) = key;
    reported
        .get(key)
        .or_else(|| {
            (*traffic == Traffic::PresenceIn && jid.is_full())
                .then(|| reported.get(&(Traffic::PresenceIn, Jid::from(jid.to_bare()))))
                .flatten()
        })
        .copied()
        .unwrap_or(false)
}

fn list_name(el: &Element) -> Result<&str, StanzaError> {
    el.attr("name")
        .ok_or_else(|| StanzaError::bad_request("Missing list name"))
}

fn item_not_found() -> StanzaError {
    StanzaError::new(ErrorType::Cancel, "item-not-found")
}

fn conflict() -> StanzaError {
    StanzaError::new(ErrorType::Cancel, "conflict")
}
