//! The client side of XEP-0198 stream management: enable with resumption,
//! count and acknowledge what arrives, keep what was sent until the server
//! acknowledges it, and resume the session on a new connection.

use std::collections::VecDeque;

use presim_engine::minidom::Element;
use presim_engine::xml;

use super::{Act, Agent, State, Timer};

pub use presim_engine::stream_management::NS_SM;

/// A client's stream management state.
#[derive(Debug, Default)]
pub struct ClientSm {
    /// The server answered `<enabled/>`: counting has started.
    enabled: bool,
    /// The resumption id the server gave, if any.
    id: Option<String>,
    /// Stanzas received since enabling: the client's `h`.
    handled: u32,
    /// Stanzas sent since enabling and not acknowledged, oldest first.
    unacked: VecDeque<Element>,
    /// Stanzas the server has acknowledged: its last `h`.
    acked: u32,
    /// An `<r/>` is out and its `<a/>` has not come back.
    awaiting_ack: bool,
}

/// Whether stream features offer `<sm xmlns='urn:xmpp:sm:3'/>`.
pub fn offered(features: &Element) -> bool {
    features.has_child("sm", NS_SM)
}

fn sm_element(name: &str, attrs: &[(&str, &str)]) -> Element {
    xml::element(name, NS_SM, attrs)
}

impl ClientSm {
    /// Applies the server's `h`: the first stanzas of the queue arrived.
    fn acknowledge(&mut self, h: u32) {
        let newly = h.wrapping_sub(self.acked) as usize;
        self.unacked.drain(..newly.min(self.unacked.len()));
        self.acked = h;
    }
}

impl Agent {
    /// Whether a session is there to resume.
    pub(super) fn can_resume(&self) -> bool {
        self.sm.as_ref().is_some_and(|sm| sm.id.is_some()) && self.full_jid.is_some()
    }

    /// `<enable resume='true'/>` right after binding (§3).
    pub(super) fn enable_sm(&mut self, out: &mut Vec<Act>) {
        self.sm = Some(ClientSm::default());
        out.push(Act::Send(sm_element("enable", &[("resume", "true")])));
    }

    /// `<resume previd h/>` for the session to resume (§5).
    pub(super) fn resume_request(&self) -> Element {
        let sm = self.sm.as_ref().expect("resumable");
        let id = sm.id.as_deref().unwrap_or_default();
        sm_element("resume", &[("previd", id), ("h", &sm.handled.to_string())])
    }

    /// Writes a stanza; with stream management it is kept until the server
    /// acknowledges it, and an `<r/>` asks for that.
    pub(super) fn send_stanza(&mut self, element: Element, out: &mut Vec<Act>) {
        let Some(sm) = self.sm.as_mut() else {
            out.push(Act::Send(element));
            return;
        };
        sm.unacked.push_back(element.clone());
        out.push(Act::Send(element));
        if sm.enabled && !sm.awaiting_ack {
            sm.awaiting_ack = true;
            out.push(Act::Send(sm_element("r", &[])));
        }
    }

    /// Counts a stanza received on a stream with stream management.
    pub(super) fn sm_count_inbound(&mut self) {
        if let Some(sm) = self.sm.as_mut().filter(|sm| sm.enabled) {
            sm.handled = sm.handled.wrapping_add(1);
        }
    }

    /// `<enabled/>`, `<failed/>`, `<r/>` or `<a/>` on an open session.
    pub(super) fn sm_element(&mut self, element: &Element, out: &mut Vec<Act>) {
        let Some(sm) = self.sm.as_mut() else { return };
        match element.name() {
            "enabled" => {
                sm.enabled = true;
                sm.id = element.attr("id").map(str::to_string);
                if !sm.unacked.is_empty() && !sm.awaiting_ack {
                    sm.awaiting_ack = true;
                    out.push(Act::Send(sm_element("r", &[])));
                }
            }
            "failed" => self.sm = None,
            "r" => {
                let h = sm.handled.to_string();
                out.push(Act::Send(sm_element("a", &[("h", &h)])));
            }
            "a" => {
                sm.awaiting_ack = false;
                if let Some(h) = element.attr("h").and_then(|h| h.parse().ok()) {
                    sm.acknowledge(h);
                }
                if !sm.unacked.is_empty() {
                    sm.awaiting_ack = true;
                    out.push(Act::Send(sm_element("r", &[])));
                }
            }
            _ => {}
        }
    }

    /// The answer to `<resume/>`: `<resumed/>` continues the session (its
    /// unacknowledged stanzas are sent again); `<failed/>` starts a new one.
    pub(super) fn resume_answer(&mut self, now: u64, element: &Element, out: &mut Vec<Act>) {
        match (element.name(), element.has_ns(NS_SM)) {
            ("resumed", true) => self.resumed(now, element, out),
            ("failed", true) => {
                self.new_session(now);
                self.bind(out);
            }
            _ => {
                self.negotiation_error = Some(format!(
                    "expected <resumed/> or <failed/>, got {}",
                    xml::to_string(element)
                ));
                self.logout(out);
            }
        }
    }

    fn resumed(&mut self, now: u64, element: &Element, out: &mut Vec<Act>) {
        self.state = State::Online;
        let sm = self.sm.as_mut().expect("resuming");
        if let Some(h) = element.attr("h").and_then(|h| h.parse().ok()) {
            sm.acknowledge(h);
        }
        for stanza in sm.unacked.iter() {
            out.push(Act::Send(stanza.clone()));
        }
        sm.awaiting_ack = !sm.unacked.is_empty();
        if sm.awaiting_ack {
            out.push(Act::Send(sm_element("r", &[])));
        }
        if self.published.available && !self.invisible {
            out.push(Act::Truth(self.published.clone()));
        }
        self.schedule_presence_change(out);
        if let Some(at) = self.logout_at {
            out.push(Act::Timer(at.saturating_sub(now), Timer::Logout));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_forgets_the_stanzas_it_counts() {
        let mut sm = ClientSm::default();
        for _ in 0..3 {
            sm.unacked
                .push_back(Element::bare("message", "jabber:client"));
        }
        sm.acknowledge(2);
        assert_eq!((sm.unacked.len(), sm.acked), (1, 2));
        sm.acknowledge(2);
        assert_eq!(sm.unacked.len(), 1);
        sm.acknowledge(3);
        assert!(sm.unacked.is_empty());
    }
}
