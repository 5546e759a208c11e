//! XEP-0198 Stream Management on client streams: acknowledgements,
//! hibernation of a session whose connection broke, and resumption.
//!
//! The server offers `<sm xmlns='urn:xmpp:sm:3'/>` after authentication. A
//! bound session enables it with `<enable/>` (§3); from then on both sides
//! count the stanzas they handle. The server keeps every stanza it sends
//! until the client acknowledges it with `<a h='N'/>` (§4), and asks for an
//! acknowledgement with `<r/>` after each burst of stanzas it sends.
//!
//! With `resume='true'` the session can be resumed (§5). If its connection
//! breaks (not a clean `</stream>`), the session *hibernates*: it stays bound
//! and available, stanzas for it are queued, and contacts see no change.
//! The client may resume it on a new connection with `<resume previd h/>`
//! before resource binding; the server answers `<resumed/>` and re-sends
//! what the client has not acknowledged, each message and presence with a
//! `urn:xmpp:delay` stamp of when it was first sent. After
//! [`crate::ServerConfig::hibernation_time`] the session ends with
//! "Hibernating too long", and contacts get unavailable presence.
//!
//! When a session ends with stanzas unacknowledged, chat and normal
//! messages go to offline storage if it was the account's last session;
//! other stanzas are bounced with `recipient-unavailable`, except errors
//! and the session's own stanzas, which are recorded as dropped.
//!
//! While a session hibernates, XEP-0310 §3.2 applies: every entity that
//! holds its presence and asked for annotations gets it annotated
//! `<connection-paused/>` (`Server::psa_session_paused`); on resumption,
//! an empty annotation.
//!
//! The rules follow Prosody's mod_smacks (counters, errors and their
//! texts, the queue limit, the old-session memory for expired ids).

use crate::name::NameStr;
use std::collections::{BTreeSet, VecDeque};

use compact_str::CompactString;
use jid::Jid;
use minidom::Element;

use crate::server::{ConnId, DropReason, EndReason, Event, Output, Server, Timer};
use crate::stanza::{ErrorType, Kind, Stanza, StanzaError, StreamError};
use crate::time::{xep0082_datetime, Time};
use crate::xml::{self, NS_DELAY, NS_STANZAS};

pub const NS_SM: &str = "urn:xmpp:sm:3";

/// Expired resumption ids remembered per account, as Prosody's
/// `smacks_max_old_sessions`.
const MAX_OLD_SESSIONS: usize = 10;

/// Stream management state of one session.
#[derive(Debug, Default)]
pub(crate) struct StreamManagement {
    /// Stanzas received from the client since enabling: the server's `h`.
    pub handled: u32,
    /// Stanzas sent and not yet acknowledged, oldest first, with when each
    /// was first sent.
    pub unacked: VecDeque<(Time, Stanza)>,
    /// Stanzas sent since enabling.
    pub sent: u32,
    /// Stanzas the client has acknowledged: its last `h`.
    pub acked: u32,
    /// An `<r/>` is out and its `<a/>` has not come back.
    pub awaiting_ack: bool,
    /// The connection is queued for an `<r/>` at the end of this input.
    pub ack_wanted: bool,
    /// The resumption id, if the client asked for resumption.
    pub resume_id: Option<String>,
    /// When the session went into hibernation, while it hibernates.
    pub hibernating: Option<Time>,
    /// Who received the session's presence annotated `connection-paused`.
    pub paused_to: BTreeSet<Jid>,
}

/// `<NAME xmlns='urn:xmpp:sm:3' …/>`
fn sm_element(name: &str, attrs: &[(&str, &str)]) -> Element {
    xml::element(name, NS_SM, attrs)
}

/// `<failed xmlns='urn:xmpp:sm:3'><CONDITION/></failed>` with `h` if given.
fn failed(condition: &str, h: Option<u32>) -> Element {
    let h = h.map(|h| h.to_string());
    let attrs: Vec<(&str, &str)> = h.iter().map(|h| ("h", h.as_str())).collect();
    let mut el = sm_element("failed", &attrs);
    el.append_child(Element::bare(condition, NS_STANZAS));
    el
}

fn parse_h(el: &Element) -> Option<u32> {
    el.attr("h")?.parse().ok()
}

impl Server {
    fn send_nonza(&mut self, conn: ConnId, element: Element) {
        self.emit(Output::ToClient {
            conn,
            stanza: Stanza::new(None, None, element),
        });
    }

    fn sm_mut(&mut self, conn: ConnId) -> Option<&mut StreamManagement> {
        self.session_mut(conn)?.sm.as_deref_mut()
    }

    /// A stream management element on an authenticated stream, bound or
    /// not.
    pub(crate) fn stream_management(&mut self, conn: ConnId, element: Element) {
        let bound = self.session(conn).is_some();
        match element.name() {
            "enable" if bound && self.config.stream_management => self.sm_enable(conn, &element),
            "enable" => self.send_nonza(conn, failed("unexpected-request", None)),
            "resume" if !bound && self.config.stream_management => self.sm_resume(conn, &element),
            "resume" => self.send_nonza(conn, failed("unexpected-request", None)),
            "r" if self.sm_mut(conn).is_some() => self.sm_answer_request(conn),
            "a" if self.sm_mut(conn).is_some() => self.sm_acknowledged(conn, &element),
            _ => self.dropped(Stanza::new(None, None, element), DropReason::Unhandled),
        }
    }

    /// §3: `<enable/>` on a bound session.
    fn sm_enable(&mut self, conn: ConnId, element: &Element) {
        if self.sm_mut(conn).is_some() {
            return self.send_nonza(conn, failed("unexpected-request", None));
        }
        let resume = matches!(element.attr("resume"), Some("true" | "1"));
        let id = resume.then(|| format!("sm{}", self.next_id()));
        let mut sm = Box::<StreamManagement>::default();
        sm.resume_id = id.clone();
        self.session_mut(conn).expect("bound").sm = Some(sm);
        let max = self.config.hibernation_time.as_micros() / 1_000_000;
        let enabled = match &id {
            Some(id) => {
                self.resumable.insert(id.clone(), conn);
                sm_element(
                    "enabled",
                    &[("id", id), ("resume", "true"), ("max", &max.to_string())],
                )
            }
            None => sm_element("enabled", &[]),
        };
        self.send_nonza(conn, enabled);
    }

    /// §4: `<r/>` is answered with the count of stanzas handled.
    fn sm_answer_request(&mut self, conn: ConnId) {
        let h = self.sm_mut(conn).expect("enabled").handled;
        self.send_nonza(conn, sm_element("a", &[("h", &h.to_string())]));
    }

    /// §4: `<a h='N'/>` acknowledges the first stanzas of the queue.
    fn sm_acknowledged(&mut self, conn: ConnId, element: &Element) {
        let Some(h) = parse_h(element) else {
            return self.stream_error(
                conn,
                StreamError::new("invalid-xml").with_text("Missing or invalid 'h' attribute"),
            );
        };
        let sm = self.sm_mut(conn).expect("enabled");
        sm.awaiting_ack = false;
        if let Err(error) = acknowledge(sm, h) {
            return self.stream_error(conn, error);
        }
        if !sm.unacked.is_empty() {
            self.want_ack(conn);
        }
    }

    /// Counts a stanza received on a session with stream management.
    pub(crate) fn sm_count_inbound(&mut self, conn: ConnId) {
        if let Some(sm) = self.sm_mut(conn) {
            sm.handled = sm.handled.wrapping_add(1);
        }
    }

    /// Keeps a stanza sent to a session with stream management until it is
    /// acknowledged. Returns false if the session hibernates, so the
    /// stanza must not be written.
    pub(crate) fn sm_track_outbound(&mut self, conn: ConnId, stanza: &Stanza) -> bool {
        let (now, limit) = (self.now, self.config.sm_queue_limit);
        let Some(sm) = self.sm_mut(conn) else {
            return true;
        };
        if stanza.kind() == Kind::Other {
            return true;
        }
        sm.sent = sm.sent.wrapping_add(1);
        sm.unacked.push_back((now, stanza.clone()));
        let forgotten = (sm.unacked.len() > limit)
            .then(|| sm.unacked.pop_front())
            .flatten();
        let hibernating = sm.hibernating.is_some();
        if let (Some((_, lost)), true) = (forgotten, hibernating) {
            // Never written and now forgotten: recorded, not silently lost.
            self.dropped(lost, DropReason::SmQueueFull);
        }
        if !hibernating {
            self.want_ack(conn);
        }
        !hibernating
    }

    /// Queues an `<r/>` for the end of the current input.
    fn want_ack(&mut self, conn: ConnId) {
        let Some(sm) = self.sm_mut(conn) else { return };
        if sm.awaiting_ack || sm.ack_wanted {
            return;
        }
        sm.ack_wanted = true;
        self.sm_want_ack.push(conn);
    }

    /// Sends `<r/>` on each stream that got stanzas during this input and
    /// has none outstanding (Prosody requests on each drain of the buffer).
    pub(crate) fn sm_request_acks(&mut self) {
        let mut wanted = std::mem::take(&mut self.sm_want_ack);
        for conn in wanted.drain(..) {
            let Some(sm) = self.sm_mut(conn) else {
                continue;
            };
            sm.ack_wanted = false;
            if sm.awaiting_ack || sm.hibernating.is_some() || sm.unacked.is_empty() {
                continue;
            }
            sm.awaiting_ack = true;
            self.send_nonza(conn, sm_element("r", &[]));
        }
        self.sm_want_ack = wanted;
    }

    /// The connection of a session broke: a resumable session hibernates,
    /// any other ends.
    pub(crate) fn client_broken(&mut self, conn: ConnId, reason: String) {
        let (now, time) = (self.now, self.config.hibernation_time);
        let resumable = self
            .sm_mut(conn)
            .filter(|sm| sm.resume_id.is_some() && sm.hibernating.is_none());
        let Some(sm) = resumable else {
            return self.end_session(conn, EndReason::Broken(reason));
        };
        sm.hibernating = Some(now);
        sm.awaiting_ack = false;
        let jid = self.session(conn).expect("bound").full.clone();
        self.emit(Output::SetTimer {
            at: now.saturating_add_micros(time.as_micros()),
            timer: Timer::Hibernation(conn),
        });
        self.event(Event::SessionPaused { conn, jid, reason });
        self.psa_session_paused(conn);
    }

    /// The hibernation timer of the session at `conn` fired.
    pub(crate) fn hibernation_expired(&mut self, conn: ConnId) {
        let (now, time) = (self.now, self.config.hibernation_time);
        let Some(sm) = self.sm_mut(conn) else { return };
        // A session resumed and paused again has a later timer of its own.
        let due = |since: Time| since.saturating_add_micros(time.as_micros());
        if sm.hibernating.is_none_or(|since| due(since) > now) {
            return;
        }
        let (id, h) = (sm.resume_id.clone(), sm.handled);
        let node = self.session(conn).expect("bound").node.clone();
        if let Some(id) = id {
            let old = self.sm_expired.entry(node).or_default();
            old.push_back((id, h));
            if old.len() > MAX_OLD_SESSIONS {
                old.pop_front();
            }
        }
        self.end_session(conn, EndReason::HibernationExpired);
    }

    /// §5: `<resume previd h/>` on an authenticated stream before binding.
    fn sm_resume(&mut self, conn: ConnId, element: &Element) {
        let node = self.conns[&conn].node.clone().expect("authenticated");
        let previd = element.attr("previd").unwrap_or_default().to_string();
        let Some(h_client) = parse_h(element) else {
            return self.stream_error(
                conn,
                StreamError::new("invalid-xml").with_text("Missing or invalid 'h' attribute"),
            );
        };
        let old = self
            .resumable
            .get(&previd)
            .copied()
            .filter(|old| self.session(*old).is_some_and(|s| s.node == node));
        let Some(old) = old else {
            let expired_h = self.forget_expired(&node, &previd);
            return self.send_nonza(conn, failed("item-not-found", expired_h));
        };
        self.move_session(old, conn);
        let sm = self.sm_mut(conn).expect("enabled");
        let h = sm.handled.to_string();
        let outcome = acknowledge(sm, h_client).and_then(|()| {
            if overflowed(sm) {
                Err(StreamError::new("resource-constraint")
                    .with_text("Too many unacked stanzas remaining, session can't be resumed"))
            } else {
                Ok(())
            }
        });
        if let Err(error) = outcome {
            let failed = sm_element("failed", &[("h", &h), ("previd", &previd)]);
            self.send_nonza(conn, failed);
            return self.stream_error(conn, error);
        }
        let sm = self.sm_mut(conn).expect("enabled");
        sm.hibernating = None;
        sm.awaiting_ack = true;
        let resend: Vec<(Time, Stanza)> = sm.unacked.iter().cloned().collect();
        self.send_nonza(
            conn,
            sm_element("resumed", &[("h", &h), ("previd", &previd)]),
        );
        let bare = self.session(conn).expect("bound").bare.to_string();
        for (sent, stanza) in resend {
            let stanza = self.delayed(stanza, &bare, sent);
            self.emit(Output::ToClient { conn, stanza });
        }
        self.send_nonza(conn, sm_element("r", &[]));
        let jid = self.session(conn).expect("bound").full.clone();
        self.event(Event::SessionResumed {
            conn,
            previous: old,
            jid,
        });
        self.psa_session_resumed(conn);
    }

    /// The `h` of an expired session with this id, forgotten once asked.
    fn forget_expired(&mut self, node: &str, id: &str) -> Option<u32> {
        let old = self.sm_expired.get_mut(node)?;
        let i = old.iter().position(|(old_id, _)| old_id == id)?;
        old.remove(i).map(|(_, h)| h)
    }

    /// Moves the session at `from` to the connection `to`, closing the old
    /// connection if the server still believes in it.
    fn move_session(&mut self, from: ConnId, to: ConnId) {
        let mut state = self.conns.remove(&from).expect("resumable session");
        let session = state.session.take().expect("bound");
        let hibernating = session
            .sm
            .as_ref()
            .is_some_and(|sm| sm.hibernating.is_some());
        if !hibernating {
            self.emit(Output::CloseClient {
                conn: from,
                error: None,
            });
        }
        if let Some(id) = session.sm.as_ref().and_then(|sm| sm.resume_id.clone()) {
            self.resumable.insert(id, to);
        }
        if let Some(r) = self.online.get_mut(NameStr::new(session.node.as_str())) {
            r.insert(CompactString::from(session.resource.as_str()), to);
        }
        if let Some(state) = self.conns.get_mut(&to) {
            state.session = Some(session);
        }
    }

    /// A queued stanza as re-sent: messages and presence carry a delay
    /// stamp of when they were first sent, from the user's bare JID.
    fn delayed(&self, stanza: Stanza, from: &str, sent: Time) -> Stanza {
        if stanza.kind() == Kind::Iq || stanza.child("delay", NS_DELAY).is_some() {
            return stanza;
        }
        let stamp = xep0082_datetime(self.config.epoch_unix_secs, sent);
        let mut payload = (**stanza.payload()).clone();
        payload.append_child(xml::element(
            "delay",
            NS_DELAY,
            &[("from", from), ("stamp", &stamp)],
        ));
        Stanza::new(stanza.from, stanza.to, payload)
    }

    /// The stanzas a session never acknowledged, at its end: messages to
    /// offline storage if it was the account's last session, bounces for
    /// the rest, except errors and the session's own stanzas.
    pub(crate) fn sm_unacked_at_end(&mut self, full: &Jid, node: &str, sm: StreamManagement) {
        if let Some(id) = &sm.resume_id {
            self.resumable.remove(id);
        }
        let last_session = !self.online.contains_key(NameStr::new(node));
        for (_, stanza) in sm.unacked {
            let is_message = stanza.kind() == Kind::Message
                && matches!(stanza.type_().unwrap_or("normal"), "chat" | "normal");
            if is_message && last_session && self.config.offline_storage {
                self.store_offline_or_bounce(node, stanza);
            } else if stanza.type_() == Some("error") || stanza.from.as_ref() == Some(full) {
                self.dropped(stanza, DropReason::Unacknowledged);
            } else {
                let error = StanzaError::new(ErrorType::Cancel, "recipient-unavailable");
                self.bounce(&stanza, error);
            }
        }
    }
}

/// Applies the client's `h` to the queue (§4), or says why it cannot.
/// Counters are modulo 2^32 (§4).
fn acknowledge(sm: &mut StreamManagement, h: u32) -> Result<(), StreamError> {
    if (h.wrapping_sub(sm.acked) as i32) < 0 {
        return Err(StreamError::new("undefined-condition")
            .with_text("Client acknowledged less stanzas than already acknowledged"));
    }
    if (sm.sent.wrapping_sub(h) as i32) < 0 {
        return Err(StreamError::new("undefined-condition")
            .with_text("Client acknowledged more stanzas than sent by server"));
    }
    let still_unacked = sm.sent.wrapping_sub(h) as usize;
    let n = sm.unacked.len().saturating_sub(still_unacked);
    sm.unacked.drain(..n);
    sm.acked = h;
    Ok(())
}

/// Whether the queue lost stanzas that are still unacknowledged, so the
/// session cannot be resumed.
fn overflowed(sm: &StreamManagement) -> bool {
    (sm.sent.wrapping_sub(sm.acked) as usize) > sm.unacked.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(n: usize) -> StreamManagement {
        let mut sm = StreamManagement::default();
        for _ in 0..n {
            let el = xml::parse_client_xml("<message/>").unwrap();
            sm.unacked
                .push_back((Time::ZERO, Stanza::new(None, None, el)));
            sm.sent += 1;
        }
        sm
    }

    #[test]
    fn an_ack_removes_the_stanzas_it_counts() {
        let mut sm = queue(3);
        acknowledge(&mut sm, 2).unwrap();
        assert_eq!((sm.unacked.len(), sm.acked), (1, 2));
        acknowledge(&mut sm, 2).unwrap();
        assert_eq!((sm.unacked.len(), sm.acked), (1, 2));
        acknowledge(&mut sm, 3).unwrap();
        assert_eq!((sm.unacked.len(), sm.acked), (0, 3));
    }

    #[test]
    fn an_ack_beyond_what_was_sent_or_behind_the_last_is_an_error() {
        let mut sm = queue(2);
        let err = acknowledge(&mut sm, 3).unwrap_err();
        assert_eq!(err.condition, "undefined-condition");
        assert_eq!(
            err.text.as_deref(),
            Some("Client acknowledged more stanzas than sent by server")
        );
        acknowledge(&mut sm, 2).unwrap();
        let err = acknowledge(&mut sm, 1).unwrap_err();
        assert_eq!(
            err.text.as_deref(),
            Some("Client acknowledged less stanzas than already acknowledged")
        );
    }

    #[test]
    fn counters_wrap_at_two_to_the_32() {
        let mut sm = queue(2);
        sm.acked = u32::MAX;
        sm.sent = 1;
        acknowledge(&mut sm, 1).unwrap();
        assert_eq!((sm.unacked.len(), sm.acked), (0, 1));
    }

    #[test]
    fn a_queue_that_lost_unacked_stanzas_cannot_resume() {
        let mut sm = queue(3);
        assert!(!overflowed(&sm));
        sm.unacked.pop_front();
        assert!(overflowed(&sm));
        acknowledge(&mut sm, 1).unwrap();
        assert!(!overflowed(&sm));
        assert_eq!(sm.unacked.len(), 2);
    }

    #[test]
    fn failed_carries_h_only_when_known() {
        assert_eq!(
            xml::to_string(&failed("item-not-found", Some(7))),
            "<failed xmlns='urn:xmpp:sm:3' h='7'>\
             <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        );
        assert_eq!(
            xml::to_string(&failed("unexpected-request", None)),
            "<failed xmlns='urn:xmpp:sm:3'>\
             <unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        );
    }
}
