//! The server value: inputs, outputs, events, and stanza routing
//! (RFC 6120 §10, RFC 6121 §8).
//!
//! A [`Server`] changes only inside [`Server::handle`]. It never reads a
//! clock, performs I/O or draws random numbers; every effect is an
//! [`Output`] for the driver to act on, in a defined order.

use crate::name::NameStr;
use std::collections::BTreeMap;
use std::sync::Arc;

use compact_str::CompactString;
use jid::{BareJid, Jid};
use minidom::Element;
use rustc_hash::FxHashMap;

use crate::config::ServerConfig;
use crate::roster::SubState;
use crate::session::{Conn, Session};
use crate::stanza::{Kind, Payload, Stanza, StanzaError, StreamError};
use crate::store::Store;
use crate::time::{xep0082_datetime, Time};
use crate::xml::{self, NS_DELAY};

/// Identifies one client connection; chosen by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A peer server's domain, as the interface names it: most domains fit
/// in the value itself, so the stanzas that cross a server-to-server
/// stream, each of which names its peer, allocate nothing for it.
pub type Domain = CompactString;

/// Something that happened to the server.
#[derive(Debug, Clone)]
pub enum Input {
    /// A client opened a stream (or restarted it after authentication).
    ClientOpened { conn: ConnId },
    /// A top-level element arrived on a client stream.
    ClientElement { conn: ConnId, element: Element },
    /// The client closed its stream cleanly (`</stream>`).
    ClientClosed { conn: ConnId },
    /// The server detected that the client connection broke.
    ClientBroken { conn: ConnId, reason: String },
    /// The stream with a peer domain is established: one the server asked
    /// for with [`Output::ConnectPeer`], or one the peer opened.
    PeerConnected { domain: Domain },
    /// An attempt to open a stream to a peer domain failed.
    PeerFailed {
        domain: Domain,
        failure: PeerFailure,
    },
    /// The established stream with a peer domain is gone: the driver
    /// detected the break, or the peer closed it.
    PeerClosed { domain: Domain, reason: String },
    /// A stanza arrived on the stream with peer `domain`.
    PeerStanza { domain: Domain, stanza: Stanza },
    /// A timer the server set with [`Output::SetTimer`] fired.
    TimerFired { timer: Timer },
}

/// Why a connection attempt to a peer failed (RFC 6120 §8.3.3.14–15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerFailure {
    /// The peer could not be reached: `remote-server-not-found`.
    NotFound(String),
    /// The attempt timed out: `remote-server-timeout`.
    Timeout(String),
}

/// Timers the server sets; the driver hands them back when they fire.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Try again to open the stream to a peer domain deemed unavailable.
    S2sRetry(Domain),
    /// A hibernating session's time is up (XEP-0198 §5).
    Hibernation(ConnId),
}

/// Something the server wants done, or wants recorded.
#[derive(Debug, Clone)]
pub enum Output {
    /// Write an element to a client stream.
    ToClient { conn: ConnId, stanza: Stanza },
    /// Close a client stream, with a stream error if given.
    CloseClient {
        conn: ConnId,
        error: Option<StreamError>,
    },
    /// Open a stream to the server of `domain`; the driver answers with
    /// [`Input::PeerConnected`] or [`Input::PeerFailed`].
    ConnectPeer { domain: Domain },
    /// Send a stanza on the established stream with `domain`.
    ToPeer { domain: Domain, stanza: Stanza },
    /// Close the stream with `domain`, with a stream error if given.
    ClosePeer {
        domain: Domain,
        error: Option<StreamError>,
    },
    /// Hand `timer` back as [`Input::TimerFired`] at time `at`.
    SetTimer { at: Time, timer: Timer },
    /// A typed record for the trace.
    Event(Event),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The client closed its stream.
    Closed,
    /// The connection broke (detected by the driver).
    Broken(String),
    /// Another connection bound the same resource.
    Replaced,
    /// The server closed the stream with a stream error.
    StreamError(&'static str),
    /// The session hibernated longer than the server keeps it (XEP-0198).
    HibernationExpired,
}

/// Why a stanza went nowhere. Every such stanza is reported with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Presence or headline for an account with no available resource.
    NoAvailableResource,
    /// Presence or an iq result/error for a full JID that is not online.
    SessionNotFound,
    /// An error or result that could not be delivered; RFC 6120 §8.3.1
    /// forbids answering an error with an error.
    UndeliverableError,
    /// A subscription stanza that changes no state (RFC 3921 §9 tables).
    NoStateChange,
    /// Presence for an account that does not exist.
    NoSuchUser,
    /// Input for a connection the server does not know.
    UnknownConnection,
    /// A stanza addressed to the server that it has no use for.
    Unhandled,
    /// A subscription notification for an account none of whose sessions
    /// has fetched the roster; the roster push carries the change.
    NoInterestedResource,
    /// An outbound `subscribed` with no request pending: stored as a
    /// pre-approval (RFC 6121 §3.4) instead of being routed.
    PreApproved,
    /// A stanza waiting for a peer stream that could not be opened; it is
    /// bounced with `remote-server-not-found` or `remote-server-timeout`.
    PeerUnavailable,
    /// More stanzas waiting for a peer stream than the queue holds; bounced
    /// with `resource-constraint`.
    PeerQueueFull,
    /// A peer stanza without `from` or `to` (RFC 6120 §8.1.1.2): the
    /// stream is closed with `improper-addressing`.
    ImproperAddressing,
    /// A peer stanza whose `from` is not of the peer's domain (RFC 6120
    /// §8.1.2.1): the stream is closed with `invalid-from`.
    InvalidFrom,
    /// A peer stanza for a domain this server does not host: the stream is
    /// closed with `host-unknown`.
    HostUnknown,
    /// A presence carrying a XEP-0310 annotation for a session that did
    /// not ask for annotations: it holds nothing the session lacks.
    AnnotationNotRequested,
    /// A disco#info answer to a caps query that does not match the
    /// verification string it was asked for (XEP-0115 §5.4).
    CapsNotVerified,
    /// A stanza for a hibernating session pushed out of its full
    /// stream-management queue before it could be written (XEP-0198).
    SmQueueFull,
    /// A stanza a session never acknowledged when it ended, that is an
    /// error or its own, so neither stored nor bounced (XEP-0198).
    Unacknowledged,
    /// From a JID the recipient blocked, or presence the server would have
    /// sent on a user's behalf to a JID the user blocked (XEP-0191).
    Blocked,
    /// Refused by a privacy list of the recipient, or presence the server
    /// would have sent on a user's behalf that the user's privacy list
    /// denies (RFC 3921 §10).
    Privacy,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NoAvailableResource => "no-available-resource",
            DropReason::SessionNotFound => "session-not-found",
            DropReason::UndeliverableError => "undeliverable-error",
            DropReason::NoStateChange => "no-state-change",
            DropReason::NoSuchUser => "no-such-user",
            DropReason::UnknownConnection => "unknown-connection",
            DropReason::Unhandled => "unhandled",
            DropReason::NoInterestedResource => "no-interested-resource",
            DropReason::PreApproved => "pre-approved",
            DropReason::PeerUnavailable => "peer-unavailable",
            DropReason::PeerQueueFull => "peer-queue-full",
            DropReason::ImproperAddressing => "improper-addressing",
            DropReason::InvalidFrom => "invalid-from",
            DropReason::HostUnknown => "host-unknown",
            DropReason::AnnotationNotRequested => "annotation-not-requested",
            DropReason::CapsNotVerified => "caps-not-verified",
            DropReason::SmQueueFull => "sm-queue-full",
            DropReason::Unacknowledged => "unacknowledged",
            DropReason::Blocked => "blocked",
            DropReason::Privacy => "privacy",
        }
    }
}

/// A typed record of what the server did, for the trace.
#[derive(Debug, Clone)]
pub enum Event {
    /// Session `jid` went invisible or visible (XEP-0186).
    Invisibility {
        jid: Jid,
        invisible: bool,
    },
    /// What session `session`'s privacy list decides about presence to
    /// (`outbound`) or from `contact` changed: `denied` or not (RFC 3921
    /// §10.10, §10.11). Only members of the session's presence audience
    /// (subscribers, directed recipients) and sources (contacts it
    /// follows, senders it refused) are reported; a presence-in decision
    /// about a full JID with no event of its own is its bare JID's.
    Privacy {
        session: Jid,
        contact: Jid,
        outbound: bool,
        denied: bool,
    },
    /// `user` blocked or unblocked `jid` (XEP-0191).
    Blocklist {
        user: BareJid,
        jid: String,
        blocked: bool,
    },
    Authenticated {
        conn: ConnId,
        user: BareJid,
    },
    AuthFailed {
        conn: ConnId,
        condition: &'static str,
    },
    SessionBound {
        conn: ConnId,
        jid: Jid,
    },
    SessionEnded {
        conn: ConnId,
        jid: Jid,
        reason: EndReason,
    },
    /// A resumable session lost its connection and hibernates (XEP-0198).
    SessionPaused {
        conn: ConnId,
        jid: Jid,
        reason: String,
    },
    /// A session was resumed on connection `conn` (XEP-0198 §5).
    SessionResumed {
        conn: ConnId,
        previous: ConnId,
        jid: Jid,
    },
    SubscriptionChanged {
        user: BareJid,
        contact: BareJid,
        before: SubState,
        after: SubState,
    },
    OfflineStored {
        user: BareJid,
        stanza: Stanza,
    },
    Dropped {
        stanza: Stanza,
        reason: DropReason,
    },
    /// The server's view of its stream with a peer domain changed.
    Peer {
        domain: String,
        state: PeerStatus,
        reason: Option<String>,
    },
    /// Session `from` sent available presence directly to `to`, not its
    /// subscriber (RFC 6121 §4.6), or ended that with unavailable presence.
    Directed {
        from: Jid,
        to: Jid,
        available: bool,
    },
    /// A session opted in to XEP-0310 annotations (its caps name
    /// `urn:xmpp:psa`).
    PsaEnabled {
        jid: Jid,
    },
    /// A XEP-0310 annotation was sent: `to` now holds `about`'s presence
    /// with this annotation (`None`: the empty annotation that clears it).
    Annotated {
        to: Jid,
        about: Jid,
        annotation: Option<Annotation>,
    },
}

/// A peer stream's state as the server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerStatus {
    Connecting,
    Established,
    /// Failed or broken; the server deems the peer unavailable.
    Unavailable,
}

impl PeerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::Connecting => "connecting",
            PeerStatus::Established => "established",
            PeerStatus::Unavailable => "unavailable",
        }
    }
}

pub use crate::psa::Annotation;

/// Connections of one account, as [`Server::account_conns`] lists them.
pub(crate) type ConnList = smallvec::SmallVec<[ConnId; 2]>;

/// One XMPP server: the domain's sessions, rosters and routing.
pub struct Server {
    pub(crate) config: ServerConfig,
    pub(crate) domain: BareJid,
    pub(crate) domain_jid: Jid,
    pub(crate) store: Store,
    /// Connections; a hash map (a lookup per delivery), iterated only sorted.
    pub(crate) conns: FxHashMap<ConnId, Conn>,
    /// Bound sessions by account localpart, then resource. The outer map is
    /// a hash map (a lookup per delivery) and is never iterated.
    pub(crate) online: FxHashMap<crate::name::Name, crate::session::Resources>,
    pub(crate) now: Time,
    pub(crate) out: Vec<Output>,
    /// A session being ended and its active privacy list, which judges
    /// the unavailable presence it leaves with (it is no longer bound).
    pub(crate) ending: Option<(Jid, String)>,
    /// Reused buffer for recipient lists on the delivery path.
    pub(crate) scratch: Vec<ConnId>,
    /// Streams with peer domains (RFC 6120 §4, server-to-server).
    pub(crate) peers: BTreeMap<Domain, crate::s2s::Peer>,
    /// XEP-0115 caps: what each verification string advertises, and the
    /// disco#info queries in flight.
    pub(crate) caps: crate::caps::CapsCache,
    /// XEP-0198 resumption ids of resumable sessions, to their connection.
    pub(crate) resumable: BTreeMap<String, ConnId>,
    /// Ids and `h` of sessions that hibernated too long, per account
    /// (the last few, for the `h` of a late `<failed/>`).
    pub(crate) sm_expired: FxHashMap<String, std::collections::VecDeque<(String, u32)>>,
    /// Streams to send an `<r/>` on at the end of the current input.
    pub(crate) sm_want_ack: Vec<ConnId>,
    /// The stream features before and after authentication, built once.
    pub(crate) stream_features: [Stanza; 2],
    next_id: u64,
}

impl Server {
    /// A server with an empty store. Panics if `config.domain` is not a valid
    /// XMPP domain (configuration is validated by the caller).
    pub fn new(config: ServerConfig) -> Server {
        Server::with_store(config, Store::default())
    }

    /// A server starting from an existing store (e.g. after a crash).
    pub fn with_store(config: ServerConfig, store: Store) -> Server {
        let domain = BareJid::new(&config.domain).expect("server domain must be a valid JID");
        assert!(
            domain.node().is_none(),
            "server domain must not have a localpart"
        );
        Server {
            stream_features: crate::session::stream_features(config.stream_management),
            domain_jid: Jid::from(domain.clone()),
            domain,
            config,
            store,
            conns: FxHashMap::default(),
            online: FxHashMap::default(),
            now: Time::ZERO,
            out: Vec::new(),
            ending: None,
            scratch: Vec::new(),
            peers: BTreeMap::new(),
            caps: Default::default(),
            resumable: BTreeMap::new(),
            sm_expired: FxHashMap::default(),
            sm_want_ack: Vec::new(),
            next_id: 0,
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn domain(&self) -> &str {
        self.domain.as_str()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The durable store, for provisioning accounts and rosters.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Consumes the server, keeping only what a crash would keep.
    pub fn into_store(self) -> Store {
        self.store
    }

    /// Full JIDs of the bound sessions, in a defined order.
    pub fn sessions(&self) -> impl Iterator<Item = (ConnId, &Jid)> {
        let mut sessions: Vec<(ConnId, &Jid)> = self
            .conns
            .iter()
            .filter_map(|(c, conn)| conn.session.as_ref().map(|s| (*c, &s.full)))
            .collect();
        sessions.sort_unstable_by_key(|(c, _)| *c);
        sessions.into_iter()
    }

    /// Handles one input and returns the outputs it caused, in order.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        self.handle_into(now, input, &mut out);
        out
    }

    /// Reads, and changes nothing, what handing this server each of
    /// `stanzas` (from peers; at most eight) will read first when it is for
    /// a local account: the account's online resources, the connection
    /// entry of its first, and what that session holds of the sender; for
    /// a probe, also the account's roster, which the answer asks about the
    /// prober. One step at a time for all of them, so that their cache
    /// misses are outstanding together rather than one delivery's after
    /// another's. A driver that knows which stanzas come next calls it
    /// before handing over the first; no output depends on it. `conn` is
    /// told each connection found, for the driver to fetch its own state
    /// of it too.
    pub fn touch_deliveries(&self, stanzas: &[&Stanza], mut conn: impl FnMut(ConnId)) {
        let mut sessions: [Option<(&Session, &str)>; 8] = [None; 8];
        let mut rosters: [Option<&crate::roster::Roster>; 8] = [None; 8];
        for ((stanza, at), roster) in stanzas.iter().zip(sessions.iter_mut()).zip(&mut rosters) {
            let (Some(to), Some(from)) = (stanza.to.as_ref(), stanza.from.as_ref()) else {
                continue;
            };
            let node = to.node().map_or("", |n| n.as_str());
            if stanza.type_() == Some("probe") {
                *roster = self.store.account(node).map(|a| &a.roster);
            }
            if let Some(&id) = self
                .online
                .get(NameStr::new(node))
                .and_then(|r| r.values().next())
            {
                *at = self.session(id).map(|s| (s, from.as_str()));
                conn(id);
            }
        }
        for roster in rosters.iter().flatten() {
            roster.items.prefetch();
        }
        for (session, from) in sessions.iter().flatten() {
            std::hint::black_box(session.held.contains_key(NameStr::new(from)));
        }
    }

    /// Like [`Server::handle`], appending to a buffer the caller reuses.
    pub fn handle_into(&mut self, now: Time, input: Input, out: &mut Vec<Output>) {
        self.now = now;
        std::mem::swap(&mut self.out, out);
        match input {
            Input::ClientOpened { conn } => self.client_opened(conn),
            Input::ClientElement { conn, element } => self.client_element(conn, element),
            Input::ClientClosed { conn } => self.client_closed(conn),
            Input::ClientBroken { conn, reason } => self.client_broken(conn, reason),
            Input::PeerConnected { domain } => self.peer_connected(&domain),
            Input::PeerFailed { domain, failure } => self.peer_failed(&domain, failure),
            Input::PeerClosed { domain, reason } => self.peer_closed(&domain, reason),
            Input::PeerStanza { domain, stanza } => self.peer_stanza(&domain, stanza),
            Input::TimerFired { timer } => self.timer_fired(timer),
        }
        self.sm_request_acks();
        std::mem::swap(&mut self.out, out);
    }

    fn timer_fired(&mut self, timer: Timer) {
        match timer {
            Timer::S2sRetry(domain) => self.retry_peer(domain),
            Timer::Hibernation(conn) => self.hibernation_expired(conn),
        }
    }

    // ----- helpers shared by the protocol modules -----

    pub(crate) fn emit(&mut self, output: Output) {
        self.out.push(output);
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.out.push(Output::Event(event));
    }

    pub(crate) fn dropped(&mut self, stanza: Stanza, reason: DropReason) {
        self.event(Event::Dropped { stanza, reason });
    }

    /// Writes a stanza to a client stream; with stream management it is
    /// also kept until acknowledged, and only kept while the session
    /// hibernates.
    pub(crate) fn send_to_client(&mut self, conn: ConnId, stanza: Stanza) {
        if self.sm_track_outbound(conn, &stanza) {
            self.out.push(Output::ToClient { conn, stanza });
        }
    }

    /// The bare JID of the local account `node`.
    pub(crate) fn bare_of(&self, node: &str) -> BareJid {
        BareJid::new(&format!("{node}@{}", self.domain)).expect("a valid localpart")
    }

    /// A fresh id for server-generated stanzas; deterministic per server.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn session(&self, conn: ConnId) -> Option<&Session> {
        self.conns.get(&conn).and_then(|c| c.session.as_ref())
    }

    pub(crate) fn session_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        self.conns.get_mut(&conn).and_then(|c| c.session.as_mut())
    }

    /// Connections of the account's bound sessions, by resource (inline
    /// for the usual one or two: a broadcast asks this of its sender).
    pub(crate) fn account_conns(&self, node: &str) -> ConnList {
        self.online
            .get(NameStr::new(node))
            .map(|r| r.values().copied().collect())
            .unwrap_or_default()
    }

    /// The session bound to this full JID on this server.
    pub(crate) fn conn_for_full(&self, jid: &Jid) -> Option<ConnId> {
        let node = jid.node()?;
        let resource = jid.resource()?;
        self.online
            .get(NameStr::new(node.as_str()))?
            .get(resource.as_str())
            .copied()
    }

    pub(crate) fn is_local(&self, jid: &Jid) -> bool {
        // `domain` is the server's domain alone, so its text is the domain.
        crate::bytes::eq(
            jid.domain().as_str().as_bytes(),
            self.domain.as_str().as_bytes(),
        )
    }

    /// Whether the account exists or would be created on demand.
    pub(crate) fn account_exists(&self, node: &str) -> bool {
        self.store.exists(node) || self.online.contains_key(NameStr::new(node))
    }

    /// `<delay xmlns='urn:xmpp:delay' from=… stamp=…/>` (XEP-0203),
    /// stamped `at`.
    pub(crate) fn delay_element(&self, from: &str, at: Time) -> Element {
        let stamp = xep0082_datetime(self.config.epoch_unix_secs, at);
        xml::element("delay", NS_DELAY, &[("from", from), ("stamp", &stamp)])
    }

    /// The available presence stored for `session`, with its delay stamp
    /// (RFC 6121 §4.2; XEP-0203), if it has sent one.
    pub(crate) fn stored_presence(&self, session: &Session) -> Option<Arc<Payload>> {
        let stored = session.presence.as_ref()?;
        Some(stored.stamped(|at| self.delay_element(self.domain.as_str(), at)))
    }

    /// Answers a stanza with an error, unless it is itself an error or result.
    pub(crate) fn bounce(&mut self, stanza: &Stanza, error: StanzaError) {
        if stanza.is_error_or_result() {
            self.dropped(stanza.clone(), DropReason::UndeliverableError);
            return;
        }
        let reply = stanza.error_reply(&error);
        self.route(reply);
    }

    /// Routes a stanza to its `to` address: a local account, this server, or
    /// another domain.
    pub(crate) fn route(&mut self, stanza: Stanza) {
        if let Some(reason) = self.presence_refused_on_route(&stanza) {
            return self.dropped(stanza, reason);
        }
        self.route_unchecked(stanza)
    }

    /// Routes a stanza without the check of the sender's privacy lists:
    /// for the unavailable presence sent to a JID as it is denied.
    pub(crate) fn route_unchecked(&mut self, stanza: Stanza) {
        let Some(to) = stanza.to.as_ref() else {
            self.dropped(stanza, DropReason::Unhandled);
            return;
        };
        if !self.is_local(to) {
            self.route_remote(stanza);
        } else if to.node().is_none() {
            self.deliver_to_host(stanza);
        } else {
            self.deliver_local(stanza);
        }
    }

    /// A stanza for a local account (bare or full JID).
    fn deliver_local(&mut self, stanza: Stanza) {
        let Some(stanza) = self.privacy_inbound(stanza) else {
            return;
        };
        match stanza.kind() {
            Kind::Presence => self.inbound_presence(stanza),
            Kind::Message => {
                let to = stanza.to.clone().expect("routed");
                self.inbound_message(stanza, &to)
            }
            Kind::Iq => {
                let to = stanza.to.clone().expect("routed");
                self.inbound_iq(stanza, &to)
            }
            Kind::Other => self.dropped(stanza, DropReason::Unhandled),
        }
    }

    /// Sends `stanza` to each connection in `conns`: copies to all but the
    /// last, which gets the stanza itself.
    pub(crate) fn send_to_each(&mut self, conns: &[ConnId], stanza: Stanza) {
        let Some((last, rest)) = conns.split_last() else {
            return;
        };
        for conn in rest {
            self.send_to_client(*conn, stanza.clone());
        }
        self.send_to_client(*last, stanza);
    }

    /// A stanza addressed to the server's own domain.
    fn deliver_to_host(&mut self, stanza: Stanza) {
        match stanza.kind() {
            Kind::Presence => self.host_presence(stanza),
            Kind::Iq => self.host_iq(stanza),
            Kind::Message => {
                // RFC 6120 §10.5.3.1 leaves messages to the server to the
                // server's discretion; this server has no use for them.
                self.dropped(stanza, DropReason::Unhandled)
            }
            Kind::Other => self.dropped(stanza, DropReason::Unhandled),
        }
    }
}
