//! What the servers' engines report (`Output::Event`), written to the
//! trace: sessions bound, ended, paused and resumed (the last two
//! XEP-0198), directed presence, invisibility (XEP-0186), privacy-list
//! decisions (RFC 3921 §10), block-list changes (XEP-0191), subscription
//! states (RFC 6121 §3), offline storage, peer streams, XEP-0310
//! annotations, and stanzas dropped with their reason. A session that
//! ends also ends its user's published presence (the truth).

use presim_engine::{EndReason, Event};

use super::World;
use crate::net::NodeId;
use crate::trace::{Record, Shown};

impl World {
    /// Acts on an event of server `s`'s engine.
    pub(super) fn engine_event(&mut self, s: usize, event: Event) {
        let node = self.servers[s].node;
        match event {
            Event::SessionBound { conn, jid } => {
                self.stats.sessions += 1;
                let client = self.servers[s].conns.get(conn).map(|(c, _)| c);
                self.session_record_of(node, jid.as_str(), "bound", None, client);
            }
            Event::SessionEnded { jid, reason, .. } => {
                let jid = jid.to_string();
                let reason = match reason {
                    EndReason::Closed => "closed".to_string(),
                    EndReason::Broken(r) => format!("broken: {r}"),
                    EndReason::Replaced => "replaced".to_string(),
                    EndReason::StreamError(c) => format!("stream-error: {c}"),
                    EndReason::HibernationExpired => "hibernation-expired".to_string(),
                };
                self.session_record(node, &jid, "ended", Some(&reason));
                self.set_truth(&jid, Shown::UNAVAILABLE);
            }
            Event::SessionPaused { jid, reason, .. } => {
                let reason = format!("broken: {reason}");
                self.session_record(node, jid.as_str(), "paused", Some(&reason));
            }
            Event::SessionResumed { jid, .. } => {
                self.session_record(node, jid.as_str(), "resumed", None);
            }
            Event::Dropped { stanza, reason } => {
                self.drop_written(node, reason.as_str(), |out| stanza.write_xml(out));
            }
            Event::Directed { .. }
            | Event::Invisibility { .. }
            | Event::Privacy { .. }
            | Event::Blocklist { .. }
            | Event::SubscriptionChanged { .. }
            | Event::OfflineStored { .. }
            | Event::Peer { .. }
            | Event::PsaEnabled { .. }
            | Event::Annotated { .. } => self.event_record(node, &event),
            Event::Authenticated { .. } | Event::AuthFailed { .. } => {}
        }
    }

    /// The record of an event that the world only writes down.
    fn event_record(&mut self, node: NodeId, event: &Event) {
        let name = self.net.node(node).name.as_str();
        let states: (String, String);
        let record = match event {
            Event::Directed {
                from,
                to,
                available,
            } => Record::Directed {
                node: name,
                from: from.as_str(),
                to: to.as_str(),
                available: *available,
            },
            Event::Invisibility { jid, invisible } => Record::Invisibility {
                node: name,
                jid: jid.as_str(),
                invisible: *invisible,
            },
            Event::Privacy {
                session,
                contact,
                outbound,
                denied,
            } => Record::Privacy {
                node: name,
                jid: session.as_str(),
                contact: contact.as_str(),
                flow: if *outbound {
                    "presence-out"
                } else {
                    "presence-in"
                },
                denied: *denied,
            },
            Event::Blocklist { user, jid, blocked } => Record::Block {
                node: name,
                user: user.as_str(),
                jid,
                blocked: *blocked,
            },
            Event::SubscriptionChanged {
                user,
                contact,
                before,
                after,
            } => {
                states = (before.to_string(), after.to_string());
                Record::Subscription {
                    node: name,
                    user: user.as_str(),
                    contact: contact.as_str(),
                    before: &states.0,
                    after: &states.1,
                }
            }
            Event::OfflineStored { user, .. } => Record::OfflineStored {
                node: name,
                user: user.as_str(),
            },
            Event::Peer {
                domain,
                state,
                reason,
            } => Record::Peer {
                node: name,
                peer: domain,
                state: state.as_str(),
                reason: reason.as_deref(),
            },
            Event::PsaEnabled { jid } => Record::PsaEnabled {
                node: name,
                jid: jid.as_str(),
            },
            Event::Annotated {
                to,
                about,
                annotation,
            } => Record::Annotation {
                node: name,
                to: to.as_str(),
                about: about.as_str(),
                annotation: annotation.map_or("clear", |a| a.as_str()),
            },
            // Acted on by `engine_event` itself.
            _ => return,
        };
        self.trace.record(self.now, &record);
    }

    fn session_record(&mut self, node: NodeId, jid: &str, state: &str, reason: Option<&str>) {
        self.session_record_of(node, jid, state, reason, None);
    }

    fn session_record_of(
        &mut self,
        node: NodeId,
        jid: &str,
        state: &str,
        reason: Option<&str>,
        client: Option<usize>,
    ) {
        let name = &self.net.node(node).name;
        let client = client.map(|c| self.clients[c].agent.name.as_str());
        self.trace.record(
            self.now,
            &Record::Session {
                node: name,
                jid,
                state,
                reason,
                client,
            },
        );
    }
}
