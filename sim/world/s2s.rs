//! Server-to-server streams over s2s links: the driver side of the engine's
//! `ConnectPeer` / `ToPeer` / `ClosePeer` outputs.
//!
//! Opening a stream is a handshake on the link: the initiator writes a
//! stream header, the peer's engine learns of the inbound stream when the
//! header arrives (`PeerConnected`) and answers with its own, and the
//! initiator's engine learns that the stream is established when that
//! answer arrives. One connection carries both directions; a live one is
//! reused for a new stream.
//!
//! An attempt fails the way a TCP connect does: with the link down it times
//! out after the initiator's connect timeout (its write timeout) with
//! `remote-server-timeout`; with the link up but the peer's server down it
//! is refused after a round trip (`remote-server-not-found`); a handshake
//! that gets no answer times out. A stream that breaks is reported to each
//! engine only when its own detection notices (`PeerClosed`), and a stream
//! closed with a stream error is reported to the other end when the close
//! arrives.

use presim_engine::{Domain, Input, PeerFailure, Stanza, StreamError};

use super::{Ev, How, Wire, World};
use crate::net::LinkId;
use crate::trace::Record;

impl World {
    /// The link between servers `s` and `p`, and `s`'s side of it.
    fn peer_link(&self, s: usize, p: usize) -> Option<(LinkId, usize)> {
        let link = self.peer_links[s][p]?;
        Some((link, self.net.side_of(link, self.servers[s].node)))
    }

    /// Tells server `s` at `at` that its attempt to reach `domain` failed.
    fn fail_attempt_at(&mut self, at: u64, s: usize, domain: &str, failure: PeerFailure) {
        let incarnation = self.servers[s].incarnation;
        self.queue.push(
            at,
            Ev::PeerFailed {
                server: s as u32,
                incarnation,
                domain: Domain::from(domain),
                failure,
            },
        );
    }

    pub(super) fn connect_peer(&mut self, s: usize, domain: &str) {
        let from = self.servers[s].node;
        let peer = self.domains.get(domain).copied();
        let Some((p, (link, side))) = peer.and_then(|p| Some((p, self.peer_link(s, p)?))) else {
            // No server of that name in the world, or no link to it.
            let failure = PeerFailure::NotFound(format!("no route to {domain}"));
            self.fail_attempt_at(self.now, s, domain, failure);
            return;
        };
        let l = self.net.link(link);
        let reusable = l.alive && l.believed == [true, true];
        if !reusable {
            let timeout = l.detection(side).write_timeout;
            if !l.up {
                self.connect_failed_record(link, from, "link-down");
                let failure = PeerFailure::Timeout("connection timed out".into());
                self.fail_attempt_at(self.now + timeout, s, domain, failure);
                return;
            }
            if self.servers[p].engine.is_none() {
                self.connect_failed_record(link, from, "server-down");
                let rtt = 2 * self.net.sample_latency(link);
                let failure = PeerFailure::NotFound("connection refused".into());
                self.fail_attempt_at(self.now + rtt, s, domain, failure);
                return;
            }
            self.net.open(link);
            self.detect_at[link.index()] = [u64::MAX; 2];
            self.handshake[link.index()] = [None; 2];
            self.trace.record(
                self.now,
                &Record::Connect {
                    link: &self.net.link(link).name,
                    node: &self.net.node(from).name,
                },
            );
        }
        let epoch = self.net.link(link).epoch;
        self.handshake[link.index()][side] = Some(epoch);
        let timeout = self.net.link(link).detection(side).write_timeout;
        self.queue.push(
            self.now + timeout,
            Ev::HandshakeTimeout {
                link,
                side: side as u8,
                epoch,
            },
        );
        let header = self.stream_header(s, p, false);
        self.send(link, side, epoch, Wire::PeerOpen(header));
    }

    fn stream_header(&self, s: usize, p: usize, features: bool) -> Box<str> {
        let (from, to) = (
            &self.servers[s].config.domain,
            &self.servers[p].config.domain,
        );
        let tail = if features { "<stream:features/>" } else { "" };
        format!("<stream:stream from='{from}' to='{to}' version='1.0'>{tail}").into()
    }

    fn connect_failed_record(&mut self, link: LinkId, node: crate::net::NodeId, reason: &str) {
        self.trace.record(
            self.now,
            &Record::ConnectFailed {
                link: &self.net.link(link).name,
                node: &self.net.node(node).name,
                reason,
            },
        );
    }

    pub(super) fn send_to_peer(&mut self, s: usize, domain: &str, stanza: Stanza) {
        let from = self.servers[s].node;
        let route = self.domains.get(domain).and_then(|&p| self.peer_link(s, p));
        let Some((link, side)) = route else {
            self.drop_written(from, "no-s2s-link", |out| stanza.write_xml(out));
            return;
        };
        let epoch = self.net.link(link).epoch;
        self.send(link, side, epoch, Wire::Peer(stanza));
    }

    pub(super) fn close_peer(&mut self, s: usize, domain: &str, error: Option<StreamError>) {
        let route = self.domains.get(domain).and_then(|&p| self.peer_link(s, p));
        let Some((link, side)) = route else {
            return;
        };
        let epoch = self.net.link(link).epoch;
        self.send(
            link,
            side,
            epoch,
            Wire::CloseStream(error.map(|e| e.condition)),
        );
        self.net.link_mut(link).believed[side] = false;
        self.handshake[link.index()][side] = None;
    }

    /// The servers at end `side` of `link` and at its other end.
    fn link_servers(&self, link: LinkId, side: usize) -> Option<(usize, usize)> {
        let ends = self.net.link(link).ends;
        Some((self.server_at(ends[side])?, self.server_at(ends[1 - side])?))
    }

    /// Something arrived at server `r` on s2s link `link`, sent by `side`.
    pub(super) fn peer_arrive(&mut self, link: LinkId, side: usize, epoch: u32, wire: Wire) {
        let Some((s, r)) = self.link_servers(link, side) else {
            return;
        };
        let domain = Domain::from(self.servers[s].config.domain.as_str());
        match wire {
            Wire::Peer(stanza) => self.engine_input(r, Input::PeerStanza { domain, stanza }),
            Wire::PeerOpen(_) => {
                self.engine_input(r, Input::PeerConnected { domain });
                let header = self.stream_header(r, s, true);
                self.send(link, 1 - side, epoch, Wire::PeerAccept(header));
            }
            Wire::PeerAccept(_) => {
                let pending = &mut self.handshake[link.index()][1 - side];
                if *pending == Some(epoch) {
                    *pending = None;
                    self.engine_input(r, Input::PeerConnected { domain });
                }
            }
            Wire::CloseStream(condition) => {
                self.handshake[link.index()][1 - side] = None;
                self.net.link_mut(link).believed[1 - side] = false;
                let reason = match condition {
                    Some(c) => format!("closed by peer with stream error {c}"),
                    None => "closed by peer".to_string(),
                };
                self.engine_input(r, Input::PeerClosed { domain, reason });
                let lost = self.net.break_connection(link);
                self.broke(link, lost, [false, false]);
            }
            _ => {}
        }
    }

    /// Server at `side` of s2s link `link` detected that its connection broke.
    pub(super) fn peer_detected(&mut self, link: LinkId, side: usize, how: How) {
        self.handshake[link.index()][side] = None;
        let Some((s, p)) = self.link_servers(link, side) else {
            return;
        };
        let domain = Domain::from(self.servers[p].config.domain.as_str());
        let reason = how.as_str().to_string();
        self.engine_input(s, Input::PeerClosed { domain, reason });
    }

    /// The handshake server `side` started on `link` got no answer in time.
    pub(super) fn handshake_timeout(&mut self, link: LinkId, side: usize, epoch: u32) {
        if self.handshake[link.index()][side] != Some(epoch) {
            return;
        }
        self.handshake[link.index()][side] = None;
        let Some((s, p)) = self.link_servers(link, side) else {
            return;
        };
        let domain = Domain::from(self.servers[p].config.domain.as_str());
        let failure = PeerFailure::Timeout("connection timed out".into());
        self.engine_input(s, Input::PeerFailed { domain, failure });
    }
}
