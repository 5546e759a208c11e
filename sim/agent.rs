//! Client agents: the simulated XMPP clients.
//!
//! An agent negotiates its stream (SASL PLAIN, resource binding), sends
//! scripted stanzas, follows its behaviour model (presence changes as a
//! Poisson process, session lengths, reconnects), answers disco#info with
//! its configured features, and keeps its view of every contact's presence:
//! the last presence it received from each full JID, with the XEP-0310
//! annotation on it.
//!
//! A client with features advertises them in XEP-0115 caps on every
//! available presence it composes, so a server learns from one disco#info
//! query per feature set whether it wants annotations (`urn:xmpp:psa`). A
//! client that did not ask for annotations and receives one reports a
//! violation.
//!
//! A client whose behaviour asks for it enables XEP-0198 stream management
//! with resumption (`agent::stream_management`): it acknowledges what it
//! receives, and after losing its connection it resumes the session on the
//! next one, keeping its view.
//!
//! Like the engine, an agent never touches the network or the clock: each
//! call takes the virtual time and pushes [`Act`]s for the simulator.

use compact_str::CompactString;

use presim_engine::blocking::NS_BLOCKING;
use presim_engine::caps::{self, NS_CAPS};
use presim_engine::invisibility::NS_INVISIBILITY;
use presim_engine::minidom::Element;
use presim_engine::psa::{self, NS_PSA};
use presim_engine::session::encode_plain;
use presim_engine::xml::{self, NS_BIND, NS_CLIENT, NS_DISCO_INFO, NS_ROSTER, NS_SASL, NS_STREAMS};
use presim_engine::{Kind, Stanza};

use crate::dist::Dist;
use crate::rng::{Rng, Stream};
use crate::trace::Shown;

mod stream_management;
mod view;

use stream_management::ClientSm;
pub use view::View;

/// How a client behaves on its own.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Fetch the roster and send initial presence after binding.
    pub initial_presence: bool,
    /// Gaps between presence changes (a Poisson process: exponential gaps).
    pub presence_changes: Option<Dist>,
    /// `show` values to pick from for a change ("" for none).
    pub shows: Vec<String>,
    /// `status` texts to pick from for a change (empty list: no status).
    pub statuses: Vec<String>,
    /// Session length before a clean logout; `None`: stays online.
    pub session_length: Option<Dist>,
    /// Delay before reconnecting after a session ends or a connection
    /// fails; `None`: stays offline.
    pub reconnect_after: Option<Dist>,
    /// Answer iq requests (disco#info, roster pushes, others with an error).
    pub answer_iq: bool,
    /// Approve incoming subscription requests.
    pub accept_subscriptions: bool,
    /// Enable XEP-0198 stream management with resumption, and resume
    /// after a lost connection.
    pub stream_management: bool,
}

impl Behaviour {
    /// A client that does only what it is told: the scansion runner's.
    pub fn scripted() -> Behaviour {
        Behaviour {
            initial_presence: false,
            presence_changes: None,
            shows: Vec::new(),
            statuses: Vec::new(),
            session_length: None,
            reconnect_after: None,
            answer_iq: false,
            accept_subscriptions: false,
            stream_management: false,
        }
    }
}

/// Timers an agent sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    Connect,
    PresenceChange,
    Logout,
}

/// What an agent wants the simulator to do.
#[derive(Debug)]
pub enum Act {
    /// Open a connection to the server and a stream on it.
    Connect,
    /// Open (or restart) the stream on the current connection.
    OpenStream,
    /// Write an element to the server.
    Send(Element),
    /// Close the stream and the connection cleanly.
    Close,
    /// Fire `timer` after this many microseconds (for this session).
    Timer(u64, Timer),
    /// The presence this session publishes changed.
    Truth(Shown),
    /// The agent's view of a contact's full JID changed.
    View(CompactString, Shown),
    /// The client received what it must never receive.
    Violation(&'static str, String),
}

/// Where the agent's stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Offline,
    /// Waiting for stream features before authentication.
    AwaitFeatures,
    AwaitSuccess,
    /// Waiting for stream features after authentication.
    AwaitBindFeatures,
    AwaitBind,
    /// Waiting for the answer to `<resume/>` (XEP-0198 §5).
    AwaitResume,
    Online,
}

/// One simulated client.
///
/// `repr(C)`, with what every stanza received reads first: the world asks
/// memory for these [`Agent::HOT_BYTES`] a few events before a stanza
/// arrives (see `World::prefetch_ahead`).
#[repr(C)]
pub struct Agent {
    pub state: State,
    pub crashed: bool,
    /// The session asked to be invisible (XEP-0186): its truth is
    /// unavailable whatever it publishes.
    invisible: bool,
    /// The server offered XEP-0198 stream management on this stream.
    server_offers_sm: bool,
    /// Bumped at every new connection; timers of older sessions are void.
    pub generation: u32,
    /// Last presence received from each full JID; whoever iterates it
    /// sorts first (determinism).
    pub view: View,
    pub full_jid: Option<CompactString>,
    /// Stanzas received while online, with their arrival times, if kept.
    pub log: Option<Vec<(u64, Element)>>,
    /// View changes with their times, if kept.
    pub view_log: Option<Vec<(u64, String, Shown)>>,
    /// XEP-0198 state of the session, once enabled; kept across a lost
    /// connection while the session can be resumed.
    sm: Option<ClientSm>,
    // Read on fewer stanzas, or on the agent's own actions.
    pub name: String,
    /// Account localpart and domain.
    pub user: String,
    pub domain: String,
    pub password: String,
    pub resource: Option<String>,
    /// disco#info features this client advertises.
    pub features: Vec<String>,
    pub behaviour: Behaviour,
    pub rng: Stream,
    /// Why the latest stream negotiation gave up, if it did.
    pub negotiation_error: Option<String>,
    /// The XEP-0115 verification string of `features` (computed on first use).
    caps_ver: Option<String>,
    /// The presence this session last published (its truth while online
    /// and visible).
    published: Shown,
    /// When the session is due to log out, if its length is limited.
    logout_at: Option<u64>,
    /// How many contact resources a session's view is made with room
    /// for (the roster's length, say; at most [`View::MOST_MADE_ROOM_FOR`]),
    /// so that it does not grow as their presences arrive.
    pub view_capacity: usize,
    next_id: u64,
}

/// The caps node presim's clients advertise.
pub const CAPS_NODE: &str = "https://presim.example/client";

impl Agent {
    pub fn new(
        name: String,
        user: String,
        domain: String,
        password: String,
        resource: Option<String>,
        behaviour: Behaviour,
        rng: Stream,
    ) -> Agent {
        Agent {
            name,
            user,
            domain,
            password,
            resource,
            features: Vec::new(),
            behaviour,
            rng,
            state: State::Offline,
            generation: 0,
            full_jid: None,
            crashed: false,
            view: View::default(),
            log: None,
            view_log: None,
            negotiation_error: None,
            caps_ver: None,
            server_offers_sm: false,
            sm: None,
            published: Shown::UNAVAILABLE,
            invisible: false,
            logout_at: None,
            view_capacity: 0,
            next_id: 0,
        }
    }

    /// The leading bytes of an agent that every stanza received reads.
    pub const HOT_BYTES: usize = std::mem::offset_of!(Agent, name);

    pub fn is_online(&self) -> bool {
        self.state == State::Online
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// The connection is open: start the stream.
    pub fn connected(&mut self, now: u64, out: &mut Vec<Act>) {
        self.generation += 1;
        self.state = State::AwaitFeatures;
        self.negotiation_error = None;
        // A session to resume keeps its JID and view; a new one starts empty.
        if !self.can_resume() {
            self.new_session(now);
        }
        out.push(Act::OpenStream);
    }

    /// Forgets the previous session: its JID, its view, its stream state.
    fn new_session(&mut self, now: u64) {
        self.full_jid = None;
        self.sm = None;
        let old = std::mem::replace(&mut self.view, View::with_capacity(self.view_capacity));
        if let Some(log) = &mut self.view_log {
            let mut cleared: Vec<String> = old.available().map(String::from).collect();
            cleared.sort_unstable();
            log.extend(cleared.into_iter().map(|c| (now, c, Shown::UNAVAILABLE)));
        }
    }

    /// The connection attempt failed; retry later if the behaviour says so.
    pub fn connect_failed(&mut self, out: &mut Vec<Act>) {
        self.schedule_reconnect(out);
    }

    /// The connection is gone (closed by the server, or detected broken).
    pub fn disconnected(&mut self, out: &mut Vec<Act>) {
        if self.state == State::Offline {
            return;
        }
        let was_online = self.state == State::Online;
        self.state = State::Offline;
        self.generation += 1;
        if was_online {
            out.push(Act::Truth(Shown::UNAVAILABLE));
        }
        self.schedule_reconnect(out);
    }

    /// The client process died: no stream close, no reconnect.
    pub fn crash(&mut self, out: &mut Vec<Act>) {
        if self.state == State::Online {
            out.push(Act::Truth(Shown::UNAVAILABLE));
        }
        self.state = State::Offline;
        self.generation += 1;
        self.crashed = true;
        // The process's memory is gone, and the session with it.
        self.sm = None;
    }

    fn schedule_reconnect(&mut self, out: &mut Vec<Act>) {
        if let Some(delay) = &self.behaviour.reconnect_after {
            let delay = delay.sample(&mut self.rng);
            out.push(Act::Timer(delay, Timer::Connect));
        }
    }

    /// Closes the session cleanly, as a user logging out does.
    pub fn logout(&mut self, out: &mut Vec<Act>) {
        if self.state == State::Offline {
            return;
        }
        if self.state == State::Online {
            out.push(Act::Truth(Shown::UNAVAILABLE));
        }
        self.state = State::Offline;
        self.generation += 1;
        // A clean close ends the session: there is nothing to resume.
        self.sm = None;
        out.push(Act::Close);
        self.schedule_reconnect(out);
    }

    /// A scripted or behavioural stanza. Undirected presence changes the
    /// truth this session publishes, unless it is invisible; going
    /// invisible makes it unavailable, and going visible is as before
    /// initial presence (XEP-0186 §3).
    pub fn send(&mut self, now: u64, element: Element, out: &mut Vec<Act>) {
        if element.name() == "presence" && element.attr("to").is_none() {
            let published = match element.attr("type") {
                None => Some(shown_of(&element)),
                Some("unavailable") => Some(Shown::UNAVAILABLE),
                Some(_) => None,
            };
            if let Some(shown) = published {
                if !shown.available {
                    self.forget_presence(now, out);
                }
                self.published = shown.clone();
                if !self.invisible {
                    out.push(Act::Truth(shown));
                }
            }
        }
        if element.name() == "presence" && element.attr("type") == Some("unsubscribe") {
            // The contact's presence stops here (RFC 3921 §8.4): its
            // server sends no unavailable, so the client shows it offline.
            let bare = element.attr("to").unwrap_or_default();
            let bare = bare.split('/').next().unwrap_or(bare).to_string();
            self.all_resources_unavailable(now, &bare, out);
        }
        if element.name() == "iq" && element.attr("type") == Some("set") {
            if let Some(block) = element.get_child("block", NS_BLOCKING) {
                // A blocked JID's presence no longer arrives: the client
                // shows it offline.
                for item in block.children() {
                    let blocked = item.attr("jid").unwrap_or_default().to_string();
                    self.forget_presence_of(now, &blocked, out);
                }
            }
            if element.get_child("invisible", NS_INVISIBILITY).is_some() {
                self.invisible = true;
                out.push(Act::Truth(Shown::UNAVAILABLE));
            } else if element.get_child("visible", NS_INVISIBILITY).is_some() {
                self.invisible = false;
                self.published = Shown::UNAVAILABLE;
                self.forget_presence(now, out);
            }
        }
        self.send_stanza(element, out);
    }

    /// A timer set by this agent fired.
    pub fn timer(&mut self, now: u64, timer: Timer, out: &mut Vec<Act>) {
        match timer {
            Timer::Connect => {
                if self.state == State::Offline && !self.crashed {
                    out.push(Act::Connect);
                }
            }
            Timer::PresenceChange => {
                if self.state == State::Online {
                    let presence = self.random_presence();
                    let presence = self.with_caps(presence);
                    self.send(now, presence, out);
                    self.schedule_presence_change(out);
                }
            }
            Timer::Logout => self.logout(out),
        }
    }

    fn schedule_presence_change(&mut self, out: &mut Vec<Act>) {
        if let Some(gap) = &self.behaviour.presence_changes {
            let gap = gap.sample(&mut self.rng);
            out.push(Act::Timer(gap, Timer::PresenceChange));
        }
    }

    /// Adds the XEP-0115 `<c/>` naming this client's features, if it has any.
    fn with_caps(&mut self, mut presence: Element) -> Element {
        if self.features.is_empty() {
            return presence;
        }
        if self.caps_ver.is_none() {
            self.caps_ver = caps::ver(&self.disco_info(None));
        }
        if let Some(ver) = &self.caps_ver {
            presence.append_child(xml::element(
                "c",
                NS_CAPS,
                &[("hash", "sha-1"), ("node", CAPS_NODE), ("ver", ver)],
            ));
        }
        presence
    }

    /// Whether this client asked for XEP-0310 annotations.
    pub fn wants_annotations(&self) -> bool {
        self.features.iter().any(|f| f == NS_PSA)
    }

    fn random_presence(&mut self) -> Element {
        let mut p = Element::bare("presence", NS_CLIENT);
        let shows = &self.behaviour.shows;
        if !shows.is_empty() {
            let show = &shows[self.rng.random_range(0..shows.len())];
            if !show.is_empty() {
                p.append_child(xml::text_element("show", NS_CLIENT, show));
            }
        }
        let statuses = &self.behaviour.statuses;
        if !statuses.is_empty() {
            let status = &statuses[self.rng.random_range(0..statuses.len())];
            p.append_child(xml::text_element("status", NS_CLIENT, status));
        }
        p
    }

    /// A stanza or stream-level element arrived from the server.
    pub fn receive(&mut self, now: u64, stanza: &Stanza, out: &mut Vec<Act>) {
        if self.state == State::Online && stanza.kind() != Kind::Other {
            // Stanzas (message, presence, iq) are never stream management
            // elements, and what an agent reads of them it reads itself.
            self.sm_count_inbound();
            return self.stanza(now, stanza, out);
        }
        let element = stanza.element();
        let sm = element.has_ns(stream_management::NS_SM);
        if sm && self.state != State::Offline {
            // Kept like stanzas, so expectations can check them.
            if let Some(log) = &mut self.log {
                log.push((now, element.clone()));
            }
        }
        match self.state {
            State::Offline => {}
            State::AwaitFeatures => self.expect(
                element,
                "features",
                NS_STREAMS,
                |a, out| {
                    let mut auth = xml::element("auth", NS_SASL, &[("mechanism", "PLAIN")]);
                    auth.append_text(encode_plain(&a.user, &a.password));
                    a.state = State::AwaitSuccess;
                    out.push(Act::Send(auth));
                },
                out,
            ),
            State::AwaitSuccess => self.expect(
                element,
                "success",
                NS_SASL,
                |a, out| {
                    a.state = State::AwaitBindFeatures;
                    out.push(Act::OpenStream);
                },
                out,
            ),
            State::AwaitBindFeatures => self.expect(
                element,
                "features",
                NS_STREAMS,
                |a, out| {
                    a.server_offers_sm = stream_management::offered(element);
                    if a.can_resume() && a.server_offers_sm {
                        a.state = State::AwaitResume;
                        out.push(Act::Send(a.resume_request()));
                    } else {
                        a.new_session(now);
                        a.bind(out);
                    }
                },
                out,
            ),
            State::AwaitBind => self.bind_result(now, element, out),
            State::AwaitResume => self.resume_answer(now, element, out),
            State::Online if sm => self.sm_element(element, out),
            State::Online => {
                self.sm_count_inbound();
                self.stanza(now, stanza, out)
            }
        }
    }

    /// Negotiation: the next element must be `name`; otherwise give up
    /// this connection.
    fn expect(
        &mut self,
        element: &Element,
        name: &str,
        ns: &str,
        then: impl FnOnce(&mut Agent, &mut Vec<Act>),
        out: &mut Vec<Act>,
    ) {
        if element.is(name, ns) {
            then(self, out);
        } else {
            self.negotiation_error = Some(format!(
                "expected <{name}/>, got {}",
                xml::to_string(element)
            ));
            self.logout(out);
        }
    }

    /// Asks to bind a resource (RFC 6120 §7).
    fn bind(&mut self, out: &mut Vec<Act>) {
        let mut bind = Element::bare("bind", NS_BIND);
        if let Some(resource) = &self.resource {
            bind.append_child(xml::text_element("resource", NS_BIND, resource));
        }
        let mut iq = xml::element("iq", NS_CLIENT, &[("type", "set"), ("id", "bind")]);
        iq.append_child(bind);
        self.state = State::AwaitBind;
        out.push(Act::Send(iq));
    }

    fn bind_result(&mut self, now: u64, element: &Element, out: &mut Vec<Act>) {
        let bound = xml::child(element, "bind", NS_BIND)
            .and_then(|b| xml::child(b, "jid", NS_BIND))
            .map(|j| j.text());
        let Some(full) = bound else {
            self.negotiation_error = Some(format!(
                "resource binding failed: {}",
                xml::to_string(element)
            ));
            self.logout(out);
            return;
        };
        self.state = State::Online;
        self.full_jid = Some(CompactString::from(full));
        self.published = Shown::UNAVAILABLE;
        self.invisible = false;
        if self.behaviour.stream_management && self.server_offers_sm {
            self.enable_sm(out);
        }
        if self.behaviour.initial_presence {
            let id = self.id("roster");
            let mut get = xml::element("iq", NS_CLIENT, &[("type", "get"), ("id", &id)]);
            get.append_child(Element::bare("query", NS_ROSTER));
            self.send_stanza(get, out);
            let presence = self.with_caps(Element::bare("presence", NS_CLIENT));
            self.send(now, presence, out);
        }
        self.schedule_presence_change(out);
        self.logout_at = self.behaviour.session_length.clone().map(|length| {
            let length = length.sample(&mut self.rng);
            out.push(Act::Timer(length, Timer::Logout));
            now + length
        });
    }

    fn stanza(&mut self, now: u64, stanza: &Stanza, out: &mut Vec<Act>) {
        match stanza.kind() {
            Kind::Presence => self.presence(now, stanza, out),
            Kind::Iq if self.behaviour.answer_iq => self.answer_iq(stanza, out),
            _ => {}
        }
        if let Some(log) = &mut self.log {
            log.push((now, stanza.to_element()));
        }
    }

    fn presence(&mut self, now: u64, stanza: &Stanza, out: &mut Vec<Act>) {
        let Some(sender) = stanza.from.as_ref() else {
            return;
        };
        let from = sender.as_str();
        let element = stanza.element();
        let annotation = if stanza.payload().annotated() {
            psa::annotation_of(element)
        } else {
            None
        };
        if annotation.is_some() && !self.wants_annotations() {
            let xml = stanza.to_xml();
            out.push(Act::Violation("unrequested-annotation", xml));
        }
        let shown = match stanza.type_() {
            None => Shown {
                annotation: annotation.flatten().map(|a| a.as_str()),
                ..shown_of(element)
            },
            Some("unavailable") => Shown::UNAVAILABLE,
            Some("subscribe") => {
                if self.behaviour.accept_subscriptions {
                    let reply = xml::element(
                        "presence",
                        NS_CLIENT,
                        &[("to", from), ("type", "subscribed")],
                    );
                    self.send_stanza(reply, out);
                }
                return;
            }
            Some(_) => return,
        };
        if self
            .full_jid
            .as_deref()
            .is_some_and(|own| presim_engine::bytes::eq(own.as_bytes(), from.as_bytes()))
        {
            return;
        }
        if !sender.is_full() {
            if !shown.available {
                self.all_resources_unavailable(now, from, out);
            }
            return;
        }
        self.set_view(now, from, shown, out);
    }

    /// The session sent unavailable presence, or became visible (XEP-0186
    /// §3.3): it gets no presence until its next initial presence, which
    /// brings everyone's anew, so it shows every contact unavailable.
    fn forget_presence(&mut self, now: u64, out: &mut Vec<Act>) {
        self.show_offline(now, out, |_| true);
    }

    /// Shows offline every contact resource a block-list entry matches
    /// (full or bare JID, or domain).
    fn forget_presence_of(&mut self, now: u64, entry: &str, out: &mut Vec<Act>) {
        self.show_offline(now, out, |jid| {
            let bare = jid.split('/').next().unwrap_or(jid);
            let domain = bare.rsplit('@').next().unwrap_or(bare);
            jid == entry || bare == entry || domain == entry
        });
    }

    /// Unavailable presence from a bare JID: every resource of that account
    /// is unavailable (RFC 6121 §4.5.3).
    fn all_resources_unavailable(&mut self, now: u64, bare: &str, out: &mut Vec<Act>) {
        self.show_offline(now, out, |jid| {
            jid.strip_prefix(bare)
                .is_some_and(|rest| rest.starts_with('/'))
        });
    }

    /// Sets unavailable every available view whose JID `which` picks, in
    /// JID order.
    fn show_offline(&mut self, now: u64, out: &mut Vec<Act>, which: impl Fn(&str) -> bool) {
        let mut gone: Vec<String> = self
            .view
            .available()
            .filter(|jid| which(jid))
            .map(String::from)
            .collect();
        gone.sort_unstable();
        for jid in gone {
            self.set_view(now, &jid, Shown::UNAVAILABLE, out);
        }
    }

    fn set_view(&mut self, now: u64, from: &str, shown: Shown, out: &mut Vec<Act>) {
        if !self.view.set(from, &shown) {
            return;
        }
        if let Some(log) = &mut self.view_log {
            log.push((now, from.to_string(), shown.clone()));
        }
        out.push(Act::View(CompactString::from(from), shown));
    }

    fn answer_iq(&mut self, stanza: &Stanza, out: &mut Vec<Act>) {
        let type_ = stanza.type_().unwrap_or("");
        if type_ != "get" && type_ != "set" {
            return;
        }
        let iq = stanza.element();
        let mut reply = xml::element("iq", NS_CLIENT, &[("type", "result")]);
        if let Some(id) = iq.attr("id") {
            xml::set_attr(&mut reply, "id", id);
        }
        if let Some(from) = &stanza.from {
            xml::set_attr(&mut reply, "to", from.as_str());
        }
        let query = iq.children().next();
        match query.map(|q| (q.name(), q.ns())) {
            Some(("query", ns)) if ns == NS_DISCO_INFO && type_ == "get" => {
                let node = query.and_then(|q| q.attr("node"));
                reply.append_child(self.disco_info(node));
            }
            Some(("query", ns)) if ns == NS_ROSTER && type_ == "set" => {}
            _ => {
                xml::set_attr(&mut reply, "type", "error");
                let mut error = xml::element("error", NS_CLIENT, &[("type", "cancel")]);
                error.append_child(Element::bare("service-unavailable", xml::NS_STANZAS));
                reply.append_child(error);
            }
        }
        self.send_stanza(reply, out);
    }

    /// disco#info of this client, for `node` if asked (XEP-0115 §6.2).
    fn disco_info(&self, node: Option<&str>) -> Element {
        let mut query = Element::bare("query", NS_DISCO_INFO);
        if let Some(node) = node {
            xml::set_attr(&mut query, "node", node);
        }
        query.append_child(xml::element(
            "identity",
            NS_DISCO_INFO,
            &[("category", "client"), ("type", "pc"), ("name", "presim")],
        ));
        let mut features: Vec<&str> = self.features.iter().map(String::as_str).collect();
        features.push(NS_DISCO_INFO);
        features.sort_unstable();
        features.dedup();
        for var in features {
            query.append_child(xml::element("feature", NS_DISCO_INFO, &[("var", var)]));
        }
        query
    }
}

/// The show and status of an available presence.
pub fn shown_of(presence: &Element) -> Shown {
    let text = |name: &str| {
        presence
            .children()
            .find(|c| presim_engine::bytes::eq(c.name().as_bytes(), name.as_bytes()))
            .map(|c| c.texts().collect::<CompactString>())
    };
    Shown {
        available: true,
        show: text("show"),
        status: text("status"),
        annotation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a received stanza reads first fits in the few lines the world
    /// prefetches: at most four cache lines from the agent's start.
    #[test]
    fn hot_fields_lead_the_agent() {
        assert_eq!(std::mem::offset_of!(Agent, state), 0);
        const { assert!(Agent::HOT_BYTES <= 4 * 64) };
        for offset in [
            std::mem::offset_of!(Agent, view),
            std::mem::offset_of!(Agent, full_jid),
            std::mem::offset_of!(Agent, sm),
            std::mem::offset_of!(Agent, view_log),
        ] {
            assert!(offset < Agent::HOT_BYTES);
        }
    }
}
