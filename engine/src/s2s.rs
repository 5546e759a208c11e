//! Server-to-server streams (RFC 6120 §4 and §13.3–§13.4 for the stream,
//! §8.1.1.2 and §8.1.2.1 for the checks on inbound stanzas, §8.3.3.14–15
//! for the errors of an unreachable peer).
//!
//! A stanza for another domain goes over the stream with that domain's
//! server. The stream is opened on demand: the first stanza makes the
//! server ask the driver to connect ([`Output::ConnectPeer`]) and waits in a
//! queue with those that follow, until the driver reports the stream
//! established or failed. One stream per peer carries both directions
//! (as with XEP-0288 bidirectional streams): a stream the peer opened is
//! used for our stanzas too.
//!
//! The fate of every stanza for a peer is stated:
//! - stream established: written to it ([`Output::ToPeer`]); what the
//!   network loses after that is the driver's to record;
//! - attempt failed: each queued stanza is recorded as dropped
//!   ([`DropReason::PeerUnavailable`]) and bounced with
//!   `remote-server-not-found` (cancel) or `remote-server-timeout` (wait)
//!   and the text "Server-to-server connection failed: REASON", as Prosody
//!   does; errors and results are not bounced (RFC 6120 §8.3.1);
//! - queue full: bounced with `resource-constraint` (wait).
//!
//! A stanza that arrives while the peer is deemed unavailable starts a new
//! attempt. When a stream fails or breaks, the server deems the peer
//! unavailable: sessions that asked for XEP-0310 annotations get the
//! presence they hold from that domain annotated `server-unavailable`
//! ([`crate::psa`]). With `s2s_retry_after` set, the server retries after
//! that delay, again after each failed attempt, for as long as an online
//! user holds presence from the domain or has a contact there. When the
//! stream is back, annotated sessions get the empty annotation, queued
//! stanzas are sent, pending subscription requests to that domain are sent
//! again (one written to a stream that broke may have been lost), and every
//! online user's contacts at that domain (`to`/`both`) are probed again so
//! that views catch up with what was missed (XEP-0310 §3.1 "MAY
//! subsequently attempt to refresh this presence by reprobing").
//!
//! A peer stanza without `from` or `to`, from a domain other than the
//! peer's, or for a domain this server does not host, closes the stream with
//! `improper-addressing`, `invalid-from` or `host-unknown` (RFC 3920 §8.3,
//! RFC 6120 §4.9.3); the stanza is recorded as dropped with that reason.

use std::collections::BTreeSet;

use jid::{BareJid, Jid};

use crate::presence;
use crate::server::{Domain, DropReason, Event, Output, PeerFailure, PeerStatus, Server, Timer};
use crate::stanza::{ErrorType, Stanza, StanzaError, StreamError};

/// What the server knows of its stream with one peer domain.
#[derive(Debug, Default)]
pub(crate) struct Peer {
    state: State,
    /// Deemed unavailable since a failure or break and not back since: the
    /// presence held from this domain may be stale.
    unavailable: bool,
    /// A retry timer is set.
    retry_set: bool,
}

#[derive(Debug, Default)]
enum State {
    /// No stream and no attempt under way.
    #[default]
    Idle,
    /// An attempt is under way; these stanzas wait for it.
    Connecting(Vec<Stanza>),
    Established,
}

impl PeerFailure {
    fn error(&self) -> StanzaError {
        let (type_, condition, reason) = match self {
            PeerFailure::NotFound(r) => (ErrorType::Cancel, "remote-server-not-found", r),
            PeerFailure::Timeout(r) => (ErrorType::Wait, "remote-server-timeout", r),
        };
        StanzaError::new(type_, condition)
            .with_text(format!("Server-to-server connection failed: {reason}"))
    }

    fn reason(&self) -> &str {
        match self {
            PeerFailure::NotFound(r) | PeerFailure::Timeout(r) => r,
        }
    }
}

impl Server {
    /// Routes a stanza to another domain's server.
    pub(crate) fn route_remote(&mut self, stanza: Stanza) {
        if !self.config.federation {
            let error = StanzaError::new(ErrorType::Cancel, "remote-server-not-found")
                .with_text("Server-to-server connections are disabled");
            return self.bounce_or_drop(stanza, error);
        }
        let domain = stanza.to.as_ref().expect("routed").domain().as_str();
        let limit = self.config.s2s_queue_limit;
        let Some(peer) = self.peers.get_mut(domain) else {
            let domain = Domain::from(domain);
            return self.connect_peer(domain, vec![stanza]);
        };
        match &mut peer.state {
            State::Established => {
                let domain = Domain::from(domain);
                self.emit(Output::ToPeer { domain, stanza });
            }
            State::Connecting(queue) if queue.len() < limit => queue.push(stanza),
            State::Connecting(_) => {
                self.dropped(stanza.clone(), DropReason::PeerQueueFull);
                let error = StanzaError::new(ErrorType::Wait, "resource-constraint")
                    .with_text("Too many stanzas waiting for the server-to-server connection");
                self.bounce_or_drop(stanza, error);
            }
            State::Idle => {
                let domain = Domain::from(domain);
                self.connect_peer(domain, vec![stanza]);
            }
        }
    }

    /// Bounces a stanza from a local entity; one from elsewhere (an error
    /// would go back to another server) is recorded as undeliverable.
    fn bounce_or_drop(&mut self, stanza: Stanza, error: StanzaError) {
        if stanza.from.as_ref().is_some_and(|f| self.is_local(f)) {
            self.bounce(&stanza, error);
        } else {
            self.dropped(stanza, DropReason::UndeliverableError);
        }
    }

    fn connect_peer(&mut self, domain: Domain, queue: Vec<Stanza>) {
        let peer = self.peers.entry(domain.clone()).or_default();
        peer.state = State::Connecting(queue);
        self.peer_event(&domain, PeerStatus::Connecting, None);
        self.emit(Output::ConnectPeer { domain });
    }

    fn peer_event(&mut self, domain: &str, state: PeerStatus, reason: Option<String>) {
        self.event(Event::Peer {
            domain: domain.to_owned(),
            state,
            reason,
        });
    }

    pub(crate) fn peer_connected(&mut self, domain: &str) {
        let peer = self.peers.entry(Domain::from(domain)).or_default();
        let queue = match std::mem::replace(&mut peer.state, State::Established) {
            State::Connecting(queue) => queue,
            State::Idle => Vec::new(),
            // Both servers opened at once: the second stream changes nothing.
            State::Established => return,
        };
        let was_unavailable = std::mem::take(&mut peer.unavailable);
        self.peer_event(domain, PeerStatus::Established, None);
        if was_unavailable {
            self.psa_server_available(domain);
        }
        for stanza in queue {
            let domain = Domain::from(domain);
            self.emit(Output::ToPeer { domain, stanza });
        }
        if was_unavailable {
            self.resend_requests(domain);
            self.reprobe(domain);
        }
    }

    pub(crate) fn peer_failed(&mut self, domain: &str, failure: PeerFailure) {
        let Some(peer) = self.peers.get_mut(domain) else {
            return;
        };
        let queue = match std::mem::take(&mut peer.state) {
            State::Connecting(queue) => queue,
            other => {
                // Not an attempt of ours (any more): the state stands.
                peer.state = other;
                return;
            }
        };
        self.bounce_queue(queue, &failure.error());
        self.peer_unavailable(domain, failure.reason().to_string());
    }

    pub(crate) fn peer_closed(&mut self, domain: &str, reason: String) {
        let Some(peer) = self.peers.get_mut(domain) else {
            return;
        };
        match std::mem::take(&mut peer.state) {
            State::Idle => {}
            State::Connecting(queue) => {
                self.bounce_queue(queue, &PeerFailure::Timeout(reason.clone()).error());
                self.peer_unavailable(domain, reason);
            }
            State::Established => self.peer_unavailable(domain, reason),
        }
    }

    fn bounce_queue(&mut self, queue: Vec<Stanza>, error: &StanzaError) {
        for stanza in queue {
            self.dropped(stanza.clone(), DropReason::PeerUnavailable);
            self.bounce_or_drop(stanza, error.clone());
        }
    }

    /// The server now deems the peer unavailable.
    fn peer_unavailable(&mut self, domain: &str, reason: String) {
        self.peer_event(domain, PeerStatus::Unavailable, Some(reason));
        let peer = self.peers.get_mut(domain).expect("known peer");
        if !std::mem::replace(&mut peer.unavailable, true) {
            self.psa_server_unavailable(domain);
        }
        self.schedule_retry(domain);
    }

    fn schedule_retry(&mut self, domain: &str) {
        let Some(after) = self.config.s2s_retry_after else {
            return;
        };
        if self.peers.get(domain).is_none_or(|p| p.retry_set) || !self.wants_peer(domain) {
            return;
        }
        self.peers.get_mut(domain).expect("known peer").retry_set = true;
        let at = self.now.saturating_add_micros(after.as_micros());
        let timer = Timer::S2sRetry(Domain::from(domain));
        self.emit(Output::SetTimer { at, timer });
    }

    pub(crate) fn retry_peer(&mut self, domain: Domain) {
        let Some(peer) = self.peers.get_mut(&domain) else {
            return;
        };
        peer.retry_set = false;
        let idle = matches!(peer.state, State::Idle);
        if idle && peer.unavailable && self.wants_peer(&domain) {
            self.connect_peer(domain, Vec::new());
        }
    }

    /// Whether an online session holds presence from `domain`, or its user
    /// has a contact there whose presence it is subscribed to or has asked
    /// for.
    fn wants_peer(&self, domain: &str) -> bool {
        let wanted = |s: &crate::session::Session| {
            let contacts = self
                .store
                .account(&s.node)
                .into_iter()
                .flat_map(|a| a.roster.items.iter());
            s.held.keys().any(|j| crate::psa::domain_of(j) == domain)
                || contacts
                    .filter(|(j, _)| j.domain().as_str() == domain)
                    .any(|(_, item)| item.subscription.has_to() || item.ask)
        };
        self.conns
            .values()
            .filter_map(|c| c.session.as_ref())
            .any(wanted)
    }

    /// Contacts of `node` at `domain` with a `to`/`both` subscription.
    fn remote_contacts<'a>(
        &'a self,
        node: &str,
        domain: &'a str,
    ) -> impl Iterator<Item = &'a BareJid> + 'a {
        self.store
            .account(node)
            .into_iter()
            .flat_map(|a| a.roster.items.iter())
            .filter(move |(jid, item)| {
                jid.domain().as_str() == domain && item.subscription.has_to()
            })
            .map(|(jid, _)| jid)
    }

    /// Re-sends every account's pending subscription requests to contacts
    /// at `domain`: a request written to a stream that then broke may never
    /// have arrived (RFC 6121 §3.1.1 lets a server re-send them; receiving
    /// servers ignore duplicates of a pending request).
    fn resend_requests(&mut self, domain: &str) {
        let mut requests: Vec<(BareJid, Jid)> = Vec::new();
        for (node, account) in self.store.accounts() {
            let Ok(user) = BareJid::new(&format!("{node}@{}", self.domain)) else {
                continue;
            };
            let asked = account
                .roster
                .items
                .iter()
                .filter(|(jid, item)| item.ask && jid.domain().as_str() == domain);
            requests.extend(asked.map(|(jid, _)| (user.clone(), Jid::from(jid.clone()))));
        }
        for (user, contact) in requests {
            self.route(presence::presence(&user, &contact, Some("subscribe")));
        }
    }

    /// Probes, from each online user's bare JID, that user's contacts at
    /// `domain`, in user and roster order.
    fn reprobe(&mut self, domain: &str) {
        let users: BTreeSet<(String, BareJid)> = self
            .conns
            .values()
            .filter_map(|c| c.session.as_ref())
            .filter(|s| s.available())
            .map(|s| (s.node.clone(), s.bare.clone()))
            .collect();
        for (node, user) in users {
            let contacts: Vec<Jid> = self
                .remote_contacts(&node, domain)
                .map(|j| Jid::from(j.clone()))
                .collect();
            for contact in contacts {
                self.route(presence::presence(&user, &contact, Some("probe")));
            }
        }
    }

    /// A stanza on the stream with `domain`, checked before it is routed.
    pub(crate) fn peer_stanza(&mut self, domain: &str, stanza: Stanza) {
        let rejected = match (&stanza.from, &stanza.to) {
            (None, _) | (_, None) => Some(DropReason::ImproperAddressing),
            (Some(from), _) if from.domain().as_str() != domain => Some(DropReason::InvalidFrom),
            (_, Some(to)) if !self.is_local(to) => Some(DropReason::HostUnknown),
            _ => None,
        };
        let Some(reason) = rejected else {
            return self.route(stanza);
        };
        self.dropped(stanza, reason);
        let error = StreamError::new(reason.as_str());
        self.emit(Output::ClosePeer {
            domain: Domain::from(domain),
            error: Some(error),
        });
        let closed = format!("closed with stream error {}", reason.as_str());
        self.peer_closed(domain, closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_rfc_6120_conditions() {
        let not_found = PeerFailure::NotFound("connection refused".into()).error();
        assert_eq!(not_found.condition, "remote-server-not-found");
        assert_eq!(not_found.type_, ErrorType::Cancel);
        assert_eq!(
            not_found.text.as_deref(),
            Some("Server-to-server connection failed: connection refused")
        );
        let timeout = PeerFailure::Timeout("timed out".into()).error();
        assert_eq!(timeout.condition, "remote-server-timeout");
        assert_eq!(timeout.type_, ErrorType::Wait);
    }
}
