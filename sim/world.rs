//! The simulator: one event loop that owns the clock, the network, the
//! server engines and the client agents.
//!
//! Every event is processed at its virtual time, in (time, sequence) order.
//! Servers and agents see only the messages that reach them and the time;
//! faults are operations on the network and on nodes. Everything that
//! happens is written to the [`Trace`].

use std::collections::BTreeMap;
use std::sync::Arc;

use compact_str::CompactString;
use presim_engine::minidom::Element;
use presim_engine::stanza::{Kind, Stanza};
use presim_engine::store::Store;
use presim_engine::xml;
use presim_engine::{
    ConnId, Input, Output, PeerFailure, Server, ServerConfig, Time, Timer as EngineTimer,
};

use crate::agent::{Act, Agent, Timer};
use crate::model::{FaultSpec, Model, NodeRef, ScriptAction, ScriptStep, When};
use crate::net::{LinkId, LinkKind, Network, NodeId, NodeKind, Transmit};
use crate::prefetch;
use crate::queue::{self, EventQueue};
use crate::rng::{self, Stream};

use crate::trace::{Record, SendRoute, Shown, Trace, TraceSummary, SCHEMA_VERSION};

mod events;
mod faults;
mod s2s;

/// What travels on a link.
#[derive(Debug)]
enum Wire {
    /// Client: open (or restart) the stream.
    Open,
    /// Client: a top-level element.
    Element(Box<Element>),
    /// Client: `</stream:stream>`.
    Close,
    /// Server to client: a stanza or stream-level element.
    ToClient(Stanza),
    /// Server to client: close the stream, with an error condition.
    CloseStream(Option<&'static str>),
    /// Server to server: a stanza.
    Peer(Stanza),
    /// Server to server: the initiator's stream header.
    PeerOpen(Box<str>),
    /// Server to server: the answering stream header and features.
    PeerAccept(Box<str>),
}

impl Wire {
    /// Appends what goes over the wire to `out`. True if the bytes are
    /// known to need no JSON escapes (false if unknown).
    fn write_xml(&self, out: &mut Vec<u8>) -> bool {
        let text: &str = match self {
            Wire::ToClient(s) | Wire::Peer(s) => return s.write_xml(out),
            Wire::Open => "<stream:stream>",
            Wire::Close | Wire::CloseStream(None) => "</stream:stream>",
            Wire::Element(el) => &xml::to_string(el),
            Wire::PeerOpen(header) | Wire::PeerAccept(header) => header,
            Wire::CloseStream(Some(cond)) => &format!(
                "<stream:error><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
                 </stream:error></stream:stream>"
            ),
        };
        out.extend_from_slice(text.as_bytes());
        false
    }
}

/// How an endpoint learned that a connection broke.
#[derive(Debug, Clone, Copy)]
enum How {
    Keepalive,
    WriteTimeout,
}

impl How {
    fn as_str(self) -> &'static str {
        match self {
            How::Keepalive => "keepalive-timeout",
            How::WriteTimeout => "write-timeout",
        }
    }
}

#[derive(Debug)]
enum Ev {
    Arrive {
        link: LinkId,
        side: u8,
        epoch: u32,
        msg: u64,
        wire: Wire,
    },
    Detect {
        link: LinkId,
        side: u8,
        epoch: u32,
        how: How,
    },
    Timer {
        client: u32,
        generation: u32,
        timer: Timer,
    },
    ConnectFailed {
        client: u32,
        reason: &'static str,
    },
    Script(u32),
    Fault(u32),
    FlapDown(u32),
    FlapUp(u32),
    LinkUp(LinkId),
    ServerRestart(u32),
    ClientRestart(u32),
    SpikeEnd(LinkId, u64),
    Heal(u32),
    /// A server's attempt to open a peer stream failed.
    PeerFailed {
        server: u32,
        incarnation: u32,
        domain: presim_engine::Domain,
        failure: PeerFailure,
    },
    /// A peer stream handshake started by `side` got no answer in time.
    HandshakeTimeout {
        link: LinkId,
        side: u8,
        epoch: u32,
    },
    /// A timer an engine set.
    EngineTimer {
        server: u32,
        incarnation: u32,
        timer: EngineTimer,
    },
}

struct ServerNode {
    node: NodeId,
    config: ServerConfig,
    engine: Option<Server>,
    /// The durable store while the server is down.
    store: Option<Store>,
    /// Client connections: conn → (client, connection epoch).
    conns: Conns,
    /// The same, by (client, epoch).
    by_client: BTreeMap<(usize, u32), ConnId>,
    /// Bumped at every restart: timers and answers for an earlier run of
    /// the process are void.
    incarnation: u32,
}

impl ServerNode {
    fn attach(&mut self, conn: ConnId, client: usize, epoch: u32, link: LinkId) {
        self.conns.insert(conn, client, epoch, link);
        self.by_client.insert((client, epoch), conn);
    }

    fn detach(&mut self, conn: ConnId) -> Option<(usize, u32)> {
        let entry = self.conns.remove(conn)?;
        self.by_client.remove(&entry);
        Some(entry)
    }

    fn conn_of(&self, client: usize, epoch: u32) -> Option<ConnId> {
        self.by_client.get(&(client, epoch)).copied()
    }
}

/// A server's client connections, by connection id. The world numbers
/// connections from 1 up, so a vector indexed by id is dense: one read
/// per delivery, where a hash map would be two. Each entry also names the
/// client's link, so that a stanza for the client is sent without reading
/// the client.
#[derive(Default)]
struct Conns(Vec<Option<ConnEntry>>);

#[derive(Clone, Copy)]
struct ConnEntry {
    client: u32,
    epoch: u32,
    link: LinkId,
}

impl Conns {
    /// The client and connection epoch of `conn`.
    fn get(&self, conn: ConnId) -> Option<(usize, u32)> {
        self.entry(conn).map(|e| (e.client as usize, e.epoch))
    }

    /// The link and connection epoch of `conn`.
    fn link(&self, conn: ConnId) -> Option<(LinkId, u32)> {
        self.entry(conn).map(|e| (e.link, e.epoch))
    }

    fn entry(&self, conn: ConnId) -> Option<ConnEntry> {
        *self.0.get(usize::try_from(conn.0).ok()?)?
    }

    fn insert(&mut self, conn: ConnId, client: usize, epoch: u32, link: LinkId) {
        let i = usize::try_from(conn.0).expect("connection ids fit in memory");
        if self.0.len() <= i {
            self.0.resize(i + 1, None);
        }
        let client = u32::try_from(client).expect("client indices fit in 32 bits");
        self.0[i] = Some(ConnEntry {
            client,
            epoch,
            link,
        });
    }

    fn remove(&mut self, conn: ConnId) -> Option<(usize, u32)> {
        let entry = self.get(conn)?;
        self.0[conn.0 as usize] = None;
        Some(entry)
    }

    fn clear(&mut self) {
        self.0.fill(None);
    }
}

/// The length of each account's roster, by server and localpart: what a
/// session's view of its contacts is made with room for (see
/// [`Agent::view_capacity`]).
fn roster_lengths(model: &Model) -> Vec<rustc_hash::FxHashMap<&str, usize>> {
    model
        .servers
        .iter()
        .map(|server| {
            server
                .accounts
                .iter()
                .map(|a| (a.user.as_str(), a.roster.len()))
                .collect()
        })
        .collect()
}

/// A client agent and where it sits in the network.
pub struct ClientNode {
    /// Boxed: an agent is large, and the fields below are read on every
    /// message to or from the client.
    pub agent: Box<Agent>,
    node: NodeId,
    server: usize,
    link: LinkId,
    /// The current connection and its epoch on the link.
    conn: Option<(ConnId, u32)>,
}

/// Counters for the run summary.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub events: u64,
    pub sent: u64,
    pub delivered: u64,
    /// Stanzas delivered to clients (server → client, after binding).
    pub delivered_to_clients: u64,
    pub dropped: BTreeMap<String, u64>,
    pub faults: u64,
    pub sessions: u64,
    pub truth_changes: u64,
    pub view_changes: u64,
    /// Things clients received that they must never receive.
    pub violations: u64,
}

/// How many client sends of one engine input ahead of the current one the
/// world asks memory for their links: enough to overlap their misses,
/// few enough to stay within the processor's outstanding-miss buffers.
const SENDS_AHEAD: usize = 4;

/// How many client sends ahead the world asks memory for the random
/// streams of links that will draw latencies: a second stage, after the
/// link's first line (asked for `SENDS_AHEAD` sends ahead) has come in.
const DRAWS_AHEAD: usize = 2;

/// A running simulation.
pub struct World {
    now: u64,
    end: u64,
    queue: EventQueue<Ev>,
    net: Network,
    servers: Vec<ServerNode>,
    pub clients: Vec<ClientNode>,
    domains: BTreeMap<String, usize>,
    /// The server at each node, by node index.
    node_server: Vec<Option<usize>>,
    /// The link between each pair of servers, if any.
    peer_links: Vec<Vec<Option<LinkId>>>,
    /// Times at which each end's detection is already scheduled, by link.
    detect_at: Vec<[u64; 2]>,
    /// Peer stream handshakes awaiting their answer: the connection epoch,
    /// by link and initiating side.
    handshake: Vec<[Option<u32>; 2]>,
    script: Vec<ScriptStep>,
    faults: Vec<(FaultSpec, Stream)>,
    /// Links each partition took down.
    partitions: Vec<Vec<LinkId>>,
    /// What each online full JID publishes, to record only changes (a hash
    /// map: looked up for every presence a client sends; sorted before it
    /// is iterated into the trace).
    truth: rustc_hash::FxHashMap<CompactString, Shown>,
    trace: Trace,
    next_msg: u64,
    next_conn: u64,
    pub stats: Stats,
    outputs: Vec<Output>,
    /// How many of the next events a pass of `touch_peer_arrivals` has
    /// already covered.
    touched_ahead: usize,
    /// The connections of the client sends among `outputs`, in order.
    client_sends: Vec<ConnId>,
    acts: Vec<Act>,
    /// The addressing of `send` records, by link and sending side.
    routes: Vec<[SendRoute; 2]>,
}

impl World {
    /// Builds the world for a model, writing the trace to `trace`.
    pub fn new(model: &Model, trace: Trace) -> World {
        let mut net = Network::default();
        let mut servers = Vec::new();
        let mut domains = BTreeMap::new();
        for (i, spec) in model.servers.iter().enumerate() {
            let node = net.add_node(spec.config.domain.clone(), NodeKind::Server);
            let mut engine = Server::new(spec.config.clone());
            for account in &spec.accounts {
                let a = engine.store_mut().create(&account.user, &account.password);
                a.roster.items = account.roster.iter().cloned().collect();
            }
            domains.insert(spec.config.domain.clone(), i);
            servers.push(ServerNode {
                node,
                config: spec.config.clone(),
                engine: Some(engine),
                store: None,
                conns: Conns::default(),
                by_client: BTreeMap::new(),
                incarnation: 0,
            });
        }
        let muc_nodes: Vec<NodeId> = model
            .mucs
            .iter()
            .map(|m| net.add_node(m.clone(), NodeKind::Muc))
            .collect();
        let client_nodes: Vec<NodeId> = model
            .clients
            .iter()
            .map(|c| net.add_node(c.name.clone(), NodeKind::Client))
            .collect();
        let node_of = |r: NodeRef| match r {
            NodeRef::Server(i) => servers[i].node,
            NodeRef::Muc(i) => muc_nodes[i],
            NodeRef::Client(i) => client_nodes[i],
        };
        let mut client_link = vec![usize::MAX; model.clients.len()];
        for spec in &model.links {
            let ends = [node_of(spec.ends[0]), node_of(spec.ends[1])];
            let stream = rng::stream(model.seed, &format!("link:{}", spec.name));
            let client = match spec.ends {
                [NodeRef::Client(c), _] if spec.kind == LinkKind::C2s => Some(c),
                _ => None,
            };
            let link = net.add_link(
                spec.name.clone(),
                spec.kind,
                ends,
                spec.model.clone(),
                stream,
                client.map(|c| u32::try_from(c).expect("client indices fit in 32 bits")),
            );
            if let Some(c) = client {
                client_link[c] = link.index();
            }
        }
        let roster_lengths = roster_lengths(model);
        let mut clients = Vec::new();
        for (i, spec) in model.clients.iter().enumerate() {
            let link = LinkId::new(client_link[i]);
            let stream = rng::stream(model.seed, &format!("client:{}", spec.name));
            let mut agent = Agent::new(
                spec.name.clone(),
                spec.user.clone(),
                model.servers[spec.server].config.domain.clone(),
                spec.password.clone(),
                spec.resource.clone(),
                spec.behaviour.clone(),
                stream,
            );
            agent.features = spec.features.clone();
            agent.view_capacity = roster_lengths[spec.server]
                .get(spec.user.as_str())
                .copied()
                .unwrap_or(0);
            if spec.record {
                agent.log = Some(Vec::new());
                agent.view_log = Some(Vec::new());
            }
            clients.push(ClientNode {
                agent: Box::new(agent),
                node: client_nodes[i],
                server: spec.server,
                link,
                conn: None,
            });
        }
        let faults = model
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| (f.clone(), rng::stream(model.seed, &format!("fault:{i}"))))
            .collect();
        let peer_links = servers
            .iter()
            .map(|a| {
                servers
                    .iter()
                    .map(|b| net.link_between(a.node, b.node))
                    .collect()
            })
            .collect();
        let mut node_server = vec![None; net.node_count()];
        for (i, s) in servers.iter().enumerate() {
            node_server[s.node.index()] = Some(i);
        }
        let routes = (0..net.link_count())
            .map(|l| {
                let link = net.link(LinkId::new(l));
                let [a, b] = link.ends.map(|n| net.node(n).name.as_str());
                [
                    SendRoute::new(&link.name, a, b),
                    SendRoute::new(&link.name, b, a),
                ]
            })
            .collect();
        let mut world = World {
            routes,
            node_server,
            peer_links,
            now: 0,
            end: model.duration,
            queue: EventQueue::default(),
            detect_at: vec![[u64::MAX; 2]; net.link_count()],
            handshake: vec![[None; 2]; net.link_count()],
            net,
            servers,
            clients,
            domains,
            script: model.script.clone(),
            faults,
            partitions: Vec::new(),
            truth: Default::default(),
            trace,
            next_msg: 0,
            next_conn: 0,
            stats: Stats::default(),
            outputs: Vec::new(),
            touched_ahead: 0,
            client_sends: Vec::new(),
            acts: Vec::new(),
        };
        world.start(model);
        world
    }

    /// Writes the header and topology, and schedules the initial events.
    fn start(&mut self, model: &Model) {
        self.trace.record(
            0,
            &Record::Header {
                schema: SCHEMA_VERSION,
                scenario: &model.name,
                seed: model.seed,
            },
        );
        for i in 0..self.net.node_count() {
            let node = self.net.node(NodeId::new(i));
            self.trace.record(
                0,
                &Record::Node {
                    name: &node.name,
                    kind: node.kind.as_str(),
                },
            );
        }
        for l in self.net.links() {
            let link = self.net.link(l);
            self.trace.record(
                0,
                &Record::Link {
                    name: &link.name,
                    kind: link.kind.as_str(),
                    a: &self.net.node(link.ends[0]).name,
                    b: &self.net.node(link.ends[1]).name,
                },
            );
        }
        for spec in &model.servers {
            let domain = &spec.config.domain;
            for account in &spec.accounts {
                let user = format!("{}@{domain}", account.user);
                for (contact, item) in &account.roster {
                    let state = presim_engine::roster::SubState {
                        subscription: item.subscription,
                        pending_out: item.ask,
                        pending_in: false,
                    };
                    self.trace.record(
                        0,
                        &Record::Roster {
                            node: domain,
                            user: &user,
                            contact: contact.as_str(),
                            subscription: state.name(),
                        },
                    );
                }
            }
        }
        for (i, spec) in model.clients.iter().enumerate() {
            if let Some(at) = spec.connect_at {
                self.queue.push(
                    at,
                    Ev::Timer {
                        client: i as u32,
                        generation: 0,
                        timer: Timer::Connect,
                    },
                );
            }
        }
        for (i, step) in self.script.iter().enumerate() {
            self.queue.push(step.at, Ev::Script(i as u32));
        }
        for i in 0..self.faults.len() {
            let (spec, stream) = &mut self.faults[i];
            let first = match &spec.when {
                When::At(at) => Some(*at),
                When::Random { every, from, until } => {
                    let at = from + every.sample(stream);
                    (at < *until).then_some(at)
                }
            };
            if let Some(at) = first {
                self.queue.push(at, Ev::Fault(i as u32));
            }
        }
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Runs every event up to and including time `until`.
    pub fn run_until(&mut self, until: u64) {
        while let Some(at) = self.queue.peek_time() {
            if at > until {
                break;
            }
            let (at, ev) = self.queue.pop().expect("peeked");
            self.prefetch_ahead();
            self.touch_peer_arrivals(&ev);
            self.now = at;
            self.stats.events += 1;
            self.handle(ev);
        }
        self.now = self.now.max(until.min(self.end));
    }

    /// The queue hint of an arrival: its link and the side that sent it.
    fn arrival_hint(link: LinkId, side: usize) -> u32 {
        (link.index() as u32) << 1 | side as u32
    }

    /// Asks memory for what the next arrivals read first, in stages: each
    /// stage reads only what the stage before it, one event earlier,
    /// brought into cache, and asks for what that points to. Four events
    /// ahead: the link and the event; three: the client node and the
    /// sender's address; two: the agent and the stanza's payload; one: the
    /// slot of the agent's view the sender's presence goes to. In a large
    /// run each of these lines was last touched milliseconds ago, so
    /// without this every arrival stalls on each of them in turn.
    fn prefetch_ahead(&self) {
        for distance in 1..=queue::LOOKAHEAD {
            let Some(hint) = self.queue.hint(distance) else {
                continue;
            };
            let (link, side) = (LinkId::new((hint >> 1) as usize), hint & 1);
            if distance == queue::LOOKAHEAD {
                self.net.link(link).prefetch();
                self.queue.prefetch_slot(distance);
                continue;
            }
            // Only arrivals at clients go further.
            if side == 0 {
                continue;
            }
            let Some(client) = self.net.link(link).client() else {
                continue;
            };
            let stanza = match self.queue.event(distance) {
                Some(Ev::Arrive {
                    wire: Wire::ToClient(stanza),
                    ..
                }) => stanza,
                _ => continue,
            };
            let from = stanza.from.as_ref().map(|j| j.as_str());
            match distance {
                3 => {
                    prefetch::prefetch(&self.clients[client]);
                    if let Some(from) = from {
                        prefetch::prefetch(from.as_ptr());
                    }
                }
                2 => {
                    let agent: &Agent = &self.clients[client].agent;
                    prefetch::prefetch_bytes(agent, Agent::HOT_BYTES);
                    prefetch::prefetch(Arc::as_ptr(stanza.payload()));
                }
                _ => {
                    if let Some(from) = from {
                        self.clients[client].agent.view.prefetch(from);
                    }
                }
            }
        }
    }

    /// Stanzas arriving at servers over s2s links, this event's and those
    /// of the next few: has each receiving server read what their
    /// deliveries read first, in one pass, so that the cache misses of
    /// several are outstanding together instead of one arrival's after
    /// another's. A pass covers the events the queue shows ahead, so the
    /// next one comes when those have been handled.
    fn touch_peer_arrivals(&mut self, ev: &Ev) {
        if self.touched_ahead > 0 {
            self.touched_ahead -= 1;
            return;
        }
        let Some((server, first)) = self.peer_arrival(ev) else {
            return;
        };
        let Some(engine) = self.servers[server].engine.as_ref() else {
            return;
        };
        let mut batch = [first; queue::LOOKAHEAD];
        let mut n = 1;
        for distance in 1..queue::LOOKAHEAD {
            let next = self
                .queue
                .event(distance)
                .and_then(|e| self.peer_arrival(e));
            if let Some((_, stanza)) = next.filter(|(s, _)| *s == server) {
                batch[n] = stanza;
                n += 1;
            }
        }
        engine.touch_deliveries(&batch[..n], |conn| self.prefetch_client_send(server, conn));
        self.touched_ahead = queue::LOOKAHEAD - 1;
    }

    /// The receiving server and the stanza of an arrival over an s2s link.
    fn peer_arrival<'e>(&self, ev: &'e Ev) -> Option<(usize, &'e Stanza)> {
        let Ev::Arrive {
            link,
            side,
            wire: Wire::Peer(stanza),
            ..
        } = ev
        else {
            return None;
        };
        let receiver = self.net.link(*link).ends[1 - *side as usize];
        Some((self.server_at(receiver)?, stanza))
    }

    /// Runs to the end of the scenario and closes the trace.
    pub fn finish(mut self) -> (TraceSummary, Stats, Vec<ClientNode>) {
        self.run_until(self.end);
        self.now = self.end;
        let events = self.stats.events;
        let in_flight = self.net.in_flight();
        self.trace.record(
            self.end,
            &Record::End {
                events,
                in_flight: &in_flight,
            },
        );
        (self.trace.finish(), self.stats, self.clients)
    }

    /// Schedules a scripted action for a client at `at` (≥ now).
    pub fn schedule(&mut self, at: u64, client: usize, action: ScriptAction) {
        self.script.push(ScriptStep { at, client, action });
        self.queue
            .push(at.max(self.now), Ev::Script((self.script.len() - 1) as u32));
    }

    /// The time of the next pending event.
    pub fn next_event_time(&self) -> Option<u64> {
        self.queue.peek_time()
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive {
                link,
                side,
                epoch,
                msg,
                wire,
            } => self.arrive(link, side as usize, epoch, msg, wire),
            Ev::Detect {
                link,
                side,
                epoch,
                how,
            } => self.detect(link, side as usize, epoch, how),
            Ev::Timer {
                client,
                generation,
                timer,
            } => {
                let c = client as usize;
                let agent = &self.clients[c].agent;
                let valid = timer == Timer::Connect || agent.generation == generation;
                if valid && !agent.crashed {
                    let mut acts = std::mem::take(&mut self.acts);
                    self.clients[c].agent.timer(self.now, timer, &mut acts);
                    self.apply(c, acts);
                }
            }
            Ev::ConnectFailed { client, reason } => {
                let c = client as usize;
                let link = self.clients[c].link;
                self.trace.record(
                    self.now,
                    &Record::ConnectFailed {
                        link: &self.net.link(link).name,
                        node: &self.clients[c].agent.name,
                        reason,
                    },
                );
                let mut acts = std::mem::take(&mut self.acts);
                self.clients[c].agent.connect_failed(&mut acts);
                self.apply(c, acts);
            }
            Ev::Script(i) => self.script_step(i as usize),
            Ev::Fault(i) => self.fault(i as usize),
            Ev::FlapDown(i) => self.flap(i as usize, true),
            Ev::FlapUp(i) => self.flap(i as usize, false),
            Ev::LinkUp(link) => self.link_up(link),
            Ev::ServerRestart(s) => self.server_restart(s as usize),
            Ev::ClientRestart(c) => self.client_restart(c as usize),
            Ev::SpikeEnd(link, extra) => {
                let l = self.net.link_mut(link);
                l.extra_latency = l.extra_latency.saturating_sub(extra);
            }
            Ev::Heal(p) => self.heal(p as usize),
            Ev::PeerFailed {
                server,
                incarnation,
                domain,
                failure,
            } => {
                let s = server as usize;
                if self.servers[s].incarnation == incarnation {
                    self.engine_input(s, Input::PeerFailed { domain, failure });
                }
            }
            Ev::HandshakeTimeout { link, side, epoch } => {
                self.handshake_timeout(link, side as usize, epoch)
            }
            Ev::EngineTimer {
                server,
                incarnation,
                timer,
            } => {
                let s = server as usize;
                if self.servers[s].incarnation == incarnation {
                    self.engine_input(s, Input::TimerFired { timer });
                }
            }
        }
    }

    // ----- the network -----

    fn node_name(&self, node: NodeId) -> &str {
        &self.net.node(node).name
    }

    /// Writes `wire` to `link` from end `side`, on connection `epoch`.
    fn send(&mut self, link: LinkId, side: usize, epoch: u32, wire: Wire) {
        let msg = self.next_msg;
        self.next_msg += 1;
        self.stats.sent += 1;
        let route = &self.routes[link.index()][side];
        let len = self
            .trace
            .send_written(self.now, msg, route, |out| wire.write_xml(out));
        let l = self.net.link(link);
        let from = l.ends[side];
        let result = if l.epoch == epoch {
            self.net.transmit(link, side, self.now, len, msg)
        } else {
            Transmit::Lost
        };
        match result {
            Transmit::Arrives { at, epoch } => self.queue.push_hinted(
                at,
                Ev::Arrive {
                    link,
                    side: side as u8,
                    epoch,
                    msg,
                    wire,
                },
                Self::arrival_hint(link, side),
            ),
            Transmit::Lost => {
                self.drop_msg(from, msg, "connection-broken");
                self.write_failed(link, side, epoch);
            }
        }
    }

    fn count_drop(&mut self, reason: &str) {
        match self.stats.dropped.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.stats.dropped.insert(reason.to_string(), 1);
            }
        }
    }

    fn drop_msg(&mut self, node: NodeId, msg: u64, reason: &'static str) {
        self.count_drop(reason);
        self.trace.record(
            self.now,
            &Record::Drop {
                node: &self.net.node(node).name,
                reason,
                msg: Some(msg),
                xml: None,
            },
        );
    }

    /// Records a drop whose XML `write` appends straight into the record.
    fn drop_written(
        &mut self,
        node: NodeId,
        reason: &str,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) {
        self.count_drop(reason);
        let node = &self.net.node(node).name;
        self.trace.drop_written(self.now, node, reason, write);
    }

    /// A write on a broken connection: the writer notices after its write
    /// timeout, unless it notices sooner another way.
    fn write_failed(&mut self, link: LinkId, side: usize, epoch: u32) {
        let timeout = self.net.link(link).detection(side).write_timeout;
        self.schedule_detect(link, side, epoch, self.now + timeout, How::WriteTimeout);
    }

    /// Schedules `side` of `link` to notice the break at `at`, unless it
    /// already will sooner.
    fn schedule_detect(&mut self, link: LinkId, side: usize, epoch: u32, at: u64, how: How) {
        if at < self.detect_at[link.index()][side] {
            self.detect_at[link.index()][side] = at;
            let side = side as u8;
            self.queue.push(
                at,
                Ev::Detect {
                    link,
                    side,
                    epoch,
                    how,
                },
            );
        }
    }

    /// The connection on `link` broke: record what was lost and schedule
    /// each live end's keepalive detection.
    fn broke(&mut self, link: LinkId, lost: Vec<u64>, alive: [bool; 2]) {
        let epoch = self.net.link(link).epoch;
        for msg in lost {
            let l = self.net.link(link);
            // The receiving end never gets it; attribute the loss to the link's end 0.
            let node = l.ends[0];
            self.drop_msg(node, msg, "lost-in-flight");
        }
        for (side, alive) in alive.into_iter().enumerate() {
            if !alive {
                continue;
            }
            let detection = self.net.link(link).detection(side);
            if let Some(at) = detection.keepalive_notices(self.now) {
                self.schedule_detect(link, side, epoch, at, How::Keepalive);
            }
        }
    }

    fn arrive(&mut self, link: LinkId, side: usize, epoch: u32, msg: u64, wire: Wire) {
        if !self.net.arrive(link, side, epoch) {
            return; // recorded as lost when the connection broke
        }
        self.stats.delivered += 1;
        self.trace.record(self.now, &Record::Deliver { msg });
        let l = self.net.link(link);
        match l.kind {
            LinkKind::C2s => {
                let client = l.client().expect("c2s link has a client");
                if side == 0 {
                    self.client_to_server(client, epoch, wire);
                } else {
                    self.server_to_client(client, wire);
                }
            }
            LinkKind::S2s | LinkKind::Component => self.peer_arrive(link, side, epoch, wire),
        }
    }

    fn server_at(&self, node: NodeId) -> Option<usize> {
        self.node_server[node.index()]
    }

    fn detect(&mut self, link: LinkId, side: usize, epoch: u32, how: How) {
        if self.detect_at[link.index()][side] <= self.now {
            self.detect_at[link.index()][side] = u64::MAX;
        }
        let l = self.net.link(link);
        let node = l.ends[side];
        match (l.kind, l.client()) {
            (LinkKind::C2s, Some(client)) if side == 1 => {
                let server = self.clients[client].server;
                let Some(conn) = self.servers[server].conn_of(client, epoch) else {
                    return;
                };
                self.record_detect(link, node, how);
                self.servers[server].detach(conn);
                let reason = match how {
                    How::Keepalive => "Connection timed out (no reply to ping)",
                    How::WriteTimeout => "Connection timed out (write failed)",
                };
                self.engine_input(
                    server,
                    Input::ClientBroken {
                        conn,
                        reason: reason.to_string(),
                    },
                );
            }
            (LinkKind::C2s, Some(client)) => {
                if self.clients[client].conn.map(|(_, e)| e) != Some(epoch) {
                    return;
                }
                self.record_detect(link, node, how);
                self.clients[client].conn = None;
                self.net.link_mut(link).believed[0] = false;
                let mut acts = std::mem::take(&mut self.acts);
                self.clients[client].agent.disconnected(&mut acts);
                self.apply(client, acts);
            }
            _ => {
                let l = self.net.link(link);
                if l.epoch != epoch || !l.believed[side] || l.alive {
                    return;
                }
                self.net.link_mut(link).believed[side] = false;
                self.record_detect(link, node, how);
                self.peer_detected(link, side, how);
            }
        }
    }

    fn record_detect(&mut self, link: LinkId, node: NodeId, how: How) {
        self.trace.record(
            self.now,
            &Record::Detect {
                link: &self.net.link(link).name,
                node: &self.net.node(node).name,
                how: how.as_str(),
            },
        );
    }

    // ----- clients -----

    fn apply(&mut self, client: usize, mut acts: Vec<Act>) {
        for act in acts.drain(..) {
            self.act(client, act);
        }
        self.acts = acts;
    }

    fn act(&mut self, c: usize, act: Act) {
        let link = self.clients[c].link;
        match act {
            Act::Connect => self.connect(c),
            Act::OpenStream => self.client_send(c, Wire::Open),
            Act::Send(el) => self.client_send(c, Wire::Element(Box::new(el))),
            Act::Close => {
                self.client_send(c, Wire::Close);
                self.clients[c].conn = None;
                self.net.link_mut(link).believed[0] = false;
            }
            Act::Timer(delay, timer) => {
                let generation = self.clients[c].agent.generation;
                self.queue.push(
                    self.now + delay,
                    Ev::Timer {
                        client: c as u32,
                        generation,
                        timer,
                    },
                );
            }
            Act::Truth(shown) => {
                if let Some(full) = self.clients[c].agent.full_jid.clone() {
                    self.set_truth(&full, shown);
                }
            }
            Act::Violation(what, xml) => {
                self.stats.violations += 1;
                self.trace.record(
                    self.now,
                    &Record::Violation {
                        node: &self.clients[c].agent.name,
                        what,
                        xml: &xml,
                    },
                );
            }
            Act::View(contact, shown) => {
                self.stats.view_changes += 1;
                let observer = self.clients[c].agent.full_jid.as_deref().unwrap_or("");
                self.trace.record(
                    self.now,
                    &Record::View {
                        observer,
                        contact: &contact,
                        presence: &shown,
                    },
                );
            }
        }
    }

    fn client_send(&mut self, c: usize, wire: Wire) {
        let Some((_, epoch)) = self.clients[c].conn else {
            return;
        };
        self.send(self.clients[c].link, 0, epoch, wire);
    }

    fn set_truth(&mut self, full: &str, shown: Shown) {
        let unchanged = match self.truth.get(full) {
            Some(current) => *current == shown,
            None => shown == Shown::UNAVAILABLE,
        };
        if unchanged {
            return;
        }
        self.stats.truth_changes += 1;
        self.trace.record(
            self.now,
            &Record::Truth {
                jid: full,
                presence: &shown,
            },
        );
        if shown.available {
            self.truth.insert(CompactString::from(full), shown);
        } else {
            self.truth.remove(full);
        }
    }

    /// Opens a connection to the client's server, or fails after the
    /// client's connect timeout (its write timeout).
    fn connect(&mut self, c: usize) {
        let link = self.clients[c].link;
        let server = self.clients[c].server;
        let reason = if self.servers[server].engine.is_none() {
            Some("server-down")
        } else if !self.net.link(link).up {
            Some("link-down")
        } else {
            None
        };
        if let Some(reason) = reason {
            let timeout = self.net.link(link).detection(0).write_timeout;
            self.queue.push(
                self.now + timeout,
                Ev::ConnectFailed {
                    client: c as u32,
                    reason,
                },
            );
            return;
        }
        self.net.open(link);
        self.detect_at[link.index()] = [u64::MAX; 2];
        let epoch = self.net.link(link).epoch;
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.clients[c].conn = Some((conn, epoch));
        self.servers[server].attach(conn, c, epoch, link);
        self.trace.record(
            self.now,
            &Record::Connect {
                link: &self.net.link(link).name,
                node: &self.clients[c].agent.name,
            },
        );
        let mut acts = std::mem::take(&mut self.acts);
        self.clients[c].agent.connected(self.now, &mut acts);
        self.apply(c, acts);
    }

    fn client_to_server(&mut self, client: usize, epoch: u32, wire: Wire) {
        let server = self.clients[client].server;
        let Some(conn) = self.servers[server].conn_of(client, epoch) else {
            // The server closed this stream; it reads nothing more from it.
            let node = self.servers[server].node;
            self.drop_written(node, "connection-gone", |out| wire.write_xml(out));
            return;
        };
        match wire {
            Wire::Open => self.engine_input(server, Input::ClientOpened { conn }),
            Wire::Element(element) => self.engine_input(
                server,
                Input::ClientElement {
                    conn,
                    element: *element,
                },
            ),
            Wire::Close => {
                self.servers[server].detach(conn);
                self.engine_input(server, Input::ClientClosed { conn });
                let link = self.clients[client].link;
                self.trace.record(
                    self.now,
                    &Record::Disconnect {
                        link: &self.net.link(link).name,
                        node: &self.clients[client].agent.name,
                    },
                );
                let lost = self.net.break_connection(link);
                self.broke(link, lost, [false, false]);
            }
            _ => {}
        }
    }

    fn server_to_client(&mut self, c: usize, wire: Wire) {
        let mut acts = std::mem::take(&mut self.acts);
        match wire {
            Wire::ToClient(stanza) => {
                if self.clients[c].agent.is_online() && stanza.kind() != Kind::Other {
                    self.stats.delivered_to_clients += 1;
                }
                let now = self.now;
                self.clients[c].agent.receive(now, &stanza, &mut acts);
            }
            Wire::CloseStream(_) => {
                self.clients[c].conn = None;
                let link = self.clients[c].link;
                self.net.link_mut(link).believed[0] = false;
                self.clients[c].agent.disconnected(&mut acts);
                let lost = self.net.break_connection(link);
                self.broke(link, lost, [false, false]);
            }
            _ => {}
        }
        self.apply(c, acts);
    }

    fn script_step(&mut self, i: usize) {
        let step = self.script[i].clone();
        let c = step.client;
        if self.clients[c].agent.crashed {
            return;
        }
        let mut acts = std::mem::take(&mut self.acts);
        match step.action {
            ScriptAction::Connect => {
                if self.clients[c].agent.state == crate::agent::State::Offline {
                    acts.push(Act::Connect);
                }
            }
            ScriptAction::Disconnect => self.clients[c].agent.logout(&mut acts),
            ScriptAction::Send(el) => {
                if self.clients[c].conn.is_some() {
                    self.clients[c].agent.send(self.now, el, &mut acts);
                }
            }
        }
        self.apply(c, acts);
    }

    // ----- servers -----

    fn engine_input(&mut self, s: usize, input: Input) {
        let Some(engine) = self.servers[s].engine.as_mut() else {
            return;
        };
        let mut outputs = std::mem::take(&mut self.outputs);
        engine.handle_into(Time(self.now), input, &mut outputs);
        let mut sends = std::mem::take(&mut self.client_sends);
        sends.clear();
        sends.extend(outputs.iter().filter_map(|o| match o {
            Output::ToClient { conn, .. } => Some(*conn),
            _ => None,
        }));
        for &conn in sends.iter().take(SENDS_AHEAD) {
            self.prefetch_client_send(s, conn);
        }
        let mut ahead = sends.iter().skip(SENDS_AHEAD);
        let mut nearer = sends.iter().skip(DRAWS_AHEAD);
        for output in outputs.drain(..) {
            if matches!(output, Output::ToClient { .. }) {
                if let Some(&conn) = ahead.next() {
                    self.prefetch_client_send(s, conn);
                }
                if let Some(&conn) = nearer.next() {
                    self.prefetch_client_draws(s, conn);
                }
            }
            self.output(s, output);
        }
        self.outputs = outputs;
        self.client_sends = sends;
    }

    /// Asks memory for what sending to `conn` reads: its link's first
    /// lines and the trace route of the link's server-to-client direction.
    /// Done `SENDS_AHEAD` client sends ahead, so that a broadcast's sends
    /// overlap.
    fn prefetch_client_send(&self, s: usize, conn: ConnId) {
        if let Some((link, _)) = self.servers[s].conns.link(conn) {
            self.net.link(link).prefetch();
            self.routes[link.index()][1].prefetch();
        }
    }

    /// Asks memory for the latency model and random stream of the link to
    /// `conn` if its next send draws latencies: done `DRAWS_AHEAD` client
    /// sends ahead, when the link's first line asked for earlier is there
    /// to say.
    fn prefetch_client_draws(&self, s: usize, conn: ConnId) {
        if let Some((link, _)) = self.servers[s].conns.link(conn) {
            self.net.link(link).prefetch_draws();
        }
    }

    fn output(&mut self, s: usize, output: Output) {
        match output {
            Output::ToClient { conn, stanza } => {
                self.send_to_client(s, conn, Wire::ToClient(stanza))
            }
            Output::CloseClient { conn, error } => {
                self.send_to_client(s, conn, Wire::CloseStream(error.map(|e| e.condition)));
                if let Some((c, _)) = self.servers[s].detach(conn) {
                    // The close travels to the client like any data; the
                    // client tears the connection down when it reads it.
                    let link = self.clients[c].link;
                    self.net.link_mut(link).believed[1] = false;
                }
            }
            Output::ConnectPeer { domain } => self.connect_peer(s, &domain),
            Output::ToPeer { domain, stanza } => self.send_to_peer(s, &domain, stanza),
            Output::ClosePeer { domain, error } => self.close_peer(s, &domain, error),
            Output::SetTimer { at, timer } => {
                let incarnation = self.servers[s].incarnation;
                self.queue.push(
                    at.as_micros().max(self.now),
                    Ev::EngineTimer {
                        server: s as u32,
                        incarnation,
                        timer,
                    },
                );
            }
            Output::Event(event) => self.engine_event(s, event),
        }
    }

    fn send_to_client(&mut self, s: usize, conn: ConnId, wire: Wire) {
        let Some((link, epoch)) = self.servers[s].conns.link(conn) else {
            let node = self.servers[s].node;
            self.drop_written(node, "connection-gone", |out| wire.write_xml(out));
            return;
        };
        self.send(link, 1, epoch, wire);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_by_id() {
        let mut conns = Conns::default();
        assert_eq!(conns.get(ConnId(3)), None);
        let (l3, l1) = (LinkId::new(30), LinkId::new(10));
        conns.insert(ConnId(3), 7, 1, l3);
        conns.insert(ConnId(1), 2, 4, l1);
        assert_eq!(conns.get(ConnId(3)), Some((7, 1)));
        assert_eq!(conns.link(ConnId(3)), Some((l3, 1)));
        assert_eq!(conns.link(ConnId(1)), Some((l1, 4)));
        assert_eq!(conns.get(ConnId(1)), Some((2, 4)));
        assert_eq!(conns.get(ConnId(2)), None);
        assert_eq!(conns.get(ConnId(u64::MAX)), None);
        conns.insert(ConnId(3), 7, 2, l3);
        assert_eq!(conns.get(ConnId(3)), Some((7, 2)));
        assert_eq!(conns.remove(ConnId(3)), Some((7, 2)));
        assert_eq!(conns.remove(ConnId(3)), None);
        assert_eq!(conns.link(ConnId(3)), None);
        assert_eq!(conns.remove(ConnId(9)), None);
        conns.clear();
        assert_eq!(conns.get(ConnId(1)), None);
    }
}
