//! The network: a petgraph graph of nodes (clients, servers, MUC services)
//! and links (c2s, s2s, component).
//!
//! A link carries one connection at a time: a TCP-like ordered stream in
//! each direction. A stanza's arrival time is its send time plus the
//! transmission time (if the link has a bandwidth) plus a latency drawn from
//! the link's model, but never earlier than the previous arrival in the same
//! direction, so a stream never reorders.
//!
//! Faults are operations on links: [`Network::down`] breaks the connection
//! (what is in flight is lost with it) and [`Network::up`] lets a new one be
//! opened. Neither endpoint is told: each learns of a break only through its
//! own [`Detection`], which the simulator schedules.

use std::collections::VecDeque;

use petgraph::graph::{EdgeIndex, NodeIndex, UnGraph};

use crate::dist::Dist;
use crate::rng::Stream;

pub type NodeId = NodeIndex<u32>;
pub type LinkId = EdgeIndex<u32>;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Client,
    Server,
    Muc,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Client => "client",
            NodeKind::Server => "server",
            NodeKind::Muc => "muc",
        }
    }
}

/// What a link connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    C2s,
    S2s,
    Component,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::C2s => "c2s",
            LinkKind::S2s => "s2s",
            LinkKind::Component => "component",
        }
    }
}

/// How one endpoint notices that its connection broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// A write on a broken connection fails after this long.
    pub write_timeout: u64,
    /// The endpoint pings at every multiple of this interval (µs of virtual
    /// time) while the connection is idle or not; `None`: no keepalive.
    pub keepalive_interval: Option<u64>,
    /// An unanswered ping counts as a break after this long.
    pub keepalive_timeout: u64,
}

impl Detection {
    /// When a keepalive notices a break that happened at `broke`: the first
    /// ping sent after the break, plus the timeout.
    pub fn keepalive_notices(&self, broke: u64) -> Option<u64> {
        let interval = self.keepalive_interval?;
        let ping = broke.div_ceil(interval) * interval;
        let ping = if ping == broke { ping + interval } else { ping };
        Some(ping + self.keepalive_timeout)
    }
}

/// A link's latency, bandwidth and detection parameters.
#[derive(Debug, Clone)]
pub struct LinkModel {
    pub latency: Dist,
    /// Bits per second; `None` for unlimited.
    pub bandwidth: Option<u64>,
    /// Detection parameters of end 0 and end 1.
    pub detection: [Detection; 2],
}

/// A node of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
}

/// One direction of a link's connection.
#[derive(Debug, Default)]
#[repr(C, align(64))]
struct Direction {
    /// Arrival time of the latest stanza sent this way.
    last_arrival: u64,
    /// When the sender's end has finished transmitting (bandwidth).
    busy_until: u64,
    /// The oldest message on the wire, kept apart from the others: a
    /// direction rarely carries more than one at a time, and then a send
    /// and an arrival read nothing but this line.
    first_in_flight: Option<u64>,
    /// The messages on the wire after the first, in order.
    more_in_flight: VecDeque<u64>,
}

impl Direction {
    fn push(&mut self, msg: u64) {
        if self.first_in_flight.is_none() {
            self.first_in_flight = Some(msg);
        } else {
            self.more_in_flight.push_back(msg);
        }
    }

    fn pop(&mut self) {
        self.first_in_flight = self.more_in_flight.pop_front();
    }

    fn clear(&mut self) {
        self.first_in_flight = None;
        self.more_in_flight.clear();
    }

    /// The messages on the wire, oldest first.
    fn in_flight(&self) -> impl Iterator<Item = u64> + '_ {
        self.first_in_flight
            .iter()
            .copied()
            .chain(self.more_in_flight.iter().copied())
    }

    fn drain(&mut self) -> impl Iterator<Item = u64> + '_ {
        self.first_in_flight
            .take()
            .into_iter()
            .chain(self.more_in_flight.drain(..))
    }
}

/// How many latencies a link draws ahead of its messages.
const DRAWN_AHEAD: usize = 3;

/// One link and the connection it carries.
///
/// What every message reads comes first, in this order (`repr(C)`): the
/// ends, the connection state, the kind and client, the bandwidth and the
/// next latencies, all in the first cache line; then each direction in a
/// line of its own. The latency model and its random stream, read once
/// every `DRAWN_AHEAD` messages, and the name, read only for the trace,
/// come last.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Link {
    pub ends: [NodeId; 2],
    /// Generation of the current connection; a message of an older one
    /// never arrives.
    pub epoch: u32,
    /// Physical state.
    pub up: bool,
    /// Whether the current connection still carries data.
    pub alive: bool,
    /// Whether each end believes the connection is open.
    pub believed: [bool; 2],
    pub kind: LinkKind,
    /// How many of `drawn` are still unused (the unused ones are last).
    drawn_left: u8,
    /// The client of a c2s link (`u32::MAX`: none), for whoever drives it.
    client: u32,
    /// Extra latency of an ongoing latency spike.
    pub extra_latency: u64,
    /// The model's bandwidth in bit/s; 0 for unlimited.
    bits_per_second: u64,
    /// Latencies drawn from `model` with `rng` ahead of the messages that
    /// will use them, in draw order. The stream serves nothing else and
    /// the model does not change during a run, so the n-th message on the
    /// link still gets the n-th draw.
    drawn: [u64; DRAWN_AHEAD],
    dirs: [Direction; 2],
    /// Private, and never changed once the link is added: `bits_per_second`
    /// and `drawn` are taken from it.
    model: LinkModel,
    rng: Stream,
    pub name: String,
}

impl Link {
    /// The client of a c2s link, as given to [`Network::add_link`].
    pub fn client(&self) -> Option<usize> {
        (self.client != u32::MAX).then_some(self.client as usize)
    }

    /// Asks memory for what a message reads of the link: its first line
    /// and the lines of its two directions.
    #[inline]
    pub fn prefetch(&self) {
        crate::prefetch::prefetch_lines(self, 3);
    }

    /// Asks memory for what the link's next message reads beyond
    /// [`Link::prefetch`]: the latency model and the random stream, when
    /// its latencies drawn ahead are used up. Reads `drawn_left`, so it
    /// is worth calling once the first line has been asked for a while.
    #[inline]
    pub fn prefetch_draws(&self) {
        if self.drawn_left == 0 {
            crate::prefetch::prefetch_bytes(&self.model, std::mem::size_of::<LinkModel>());
            crate::prefetch::prefetch_bytes(&self.rng, std::mem::size_of::<Stream>());
        }
    }

    /// How end `side` notices that the connection broke.
    pub fn detection(&self, side: usize) -> Detection {
        self.model.detection[side]
    }

    /// The next latency of the link's model, plus any spike.
    fn next_latency(&mut self) -> u64 {
        if self.drawn_left == 0 {
            for latency in &mut self.drawn {
                *latency = self.model.latency.sample(&mut self.rng);
            }
            self.drawn_left = DRAWN_AHEAD as u8;
        }
        let latency = self.drawn[DRAWN_AHEAD - self.drawn_left as usize];
        self.drawn_left -= 1;
        latency + self.extra_latency
    }
}

/// The result of writing a message to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    /// The message will arrive at the other end at this time.
    Arrives { at: u64, epoch: u32 },
    /// The connection is broken; the message is lost.
    Lost,
}

/// The graph of nodes and links.
#[derive(Default)]
pub struct Network {
    graph: UnGraph<Node, Link>,
}

impl Network {
    pub fn add_node(&mut self, name: impl Into<String>, kind: NodeKind) -> NodeId {
        self.graph.add_node(Node {
            name: name.into(),
            kind,
        })
    }

    pub fn add_link(
        &mut self,
        name: impl Into<String>,
        kind: LinkKind,
        ends: [NodeId; 2],
        model: LinkModel,
        rng: Stream,
        client: Option<u32>,
    ) -> LinkId {
        let link = Link {
            name: name.into(),
            kind,
            drawn_left: 0,
            client: client.unwrap_or(u32::MAX),
            ends,
            bits_per_second: model.bandwidth.unwrap_or(0),
            drawn: [0; DRAWN_AHEAD],
            model,
            up: true,
            epoch: 0,
            alive: false,
            believed: [false, false],
            extra_latency: 0,
            dirs: Default::default(),
            rng,
        };
        self.graph.add_edge(ends[0], ends[1], link)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph[id]
    }

    pub fn link(&self, id: LinkId) -> &Link {
        &self.graph[id]
    }

    pub fn link_mut(&mut self, id: LinkId) -> &mut Link {
        &mut self.graph[id]
    }

    pub fn links(&self) -> impl Iterator<Item = LinkId> {
        self.graph.edge_indices()
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn link_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The link between two nodes, if any (the first one added).
    pub fn link_between(&self, a: NodeId, b: NodeId) -> Option<LinkId> {
        self.graph
            .edges_connecting(a, b)
            .map(|e| petgraph::visit::EdgeRef::id(&e))
            .min()
    }

    /// Links with exactly one end in `set`: those a partition of `set` cuts.
    pub fn cut(&self, set: &[NodeId]) -> Vec<LinkId> {
        self.graph
            .edge_indices()
            .filter(|&l| {
                let [a, b] = self.graph[l].ends;
                set.contains(&a) != set.contains(&b)
            })
            .collect()
    }

    /// Opens a new connection on an up link; both ends believe it open.
    /// Returns false if the link is down.
    pub fn open(&mut self, id: LinkId) -> bool {
        let link = &mut self.graph[id];
        if !link.up {
            return false;
        }
        link.epoch += 1;
        link.alive = true;
        link.believed = [true, true];
        for dir in &mut link.dirs {
            dir.clear();
        }
        true
    }

    /// A latency drawn from the link's model (a round trip is two).
    pub fn sample_latency(&mut self, id: LinkId) -> u64 {
        self.graph[id].next_latency()
    }

    /// Writes message `msg` of `bytes` bytes from end `side` at `now`.
    #[inline]
    pub fn transmit(
        &mut self,
        id: LinkId,
        side: usize,
        now: u64,
        bytes: usize,
        msg: u64,
    ) -> Transmit {
        let link = &mut self.graph[id];
        if !link.alive {
            return Transmit::Lost;
        }
        let latency = link.next_latency();
        let bps = link.bits_per_second;
        let dir = &mut link.dirs[side];
        let start = now.max(dir.busy_until);
        let sent = match bps {
            0 => start,
            bps => start + (bytes as u64 * 8 * 1_000_000).div_ceil(bps),
        };
        dir.busy_until = sent;
        let at = (sent + latency).max(dir.last_arrival);
        dir.last_arrival = at;
        dir.push(msg);
        Transmit::Arrives {
            at,
            epoch: link.epoch,
        }
    }

    /// A message sent by end `side` reached the other end. Returns false if
    /// it was lost on the way (the connection broke after it was sent).
    #[inline]
    pub fn arrive(&mut self, id: LinkId, side: usize, epoch: u32) -> bool {
        let link = &mut self.graph[id];
        if link.epoch != epoch || !link.alive {
            return false;
        }
        link.dirs[side].pop();
        true
    }

    /// Breaks the current connection without changing the link's state
    /// (an endpoint crashed). Returns the lost in-flight messages, end 0's
    /// first. Each end still believes the connection open.
    pub fn break_connection(&mut self, id: LinkId) -> Vec<u64> {
        let link = &mut self.graph[id];
        if !link.alive {
            return Vec::new();
        }
        link.alive = false;
        link.dirs.iter_mut().flat_map(Direction::drain).collect()
    }

    /// Takes the link down: the connection breaks. Returns the lost
    /// messages, or `None` if the link was already down.
    pub fn down(&mut self, id: LinkId) -> Option<Vec<u64>> {
        if !self.graph[id].up {
            return None;
        }
        let lost = self.break_connection(id);
        self.graph[id].up = false;
        Some(lost)
    }

    /// Every message on the wire of any link, in ascending order.
    pub fn in_flight(&self) -> Vec<u64> {
        let mut msgs: Vec<u64> = self
            .graph
            .edge_weights()
            .flat_map(|link| link.dirs.iter().flat_map(Direction::in_flight))
            .collect();
        msgs.sort_unstable();
        msgs
    }

    /// Brings the link back up. Returns false if it was up already.
    pub fn up(&mut self, id: LinkId) -> bool {
        let link = &mut self.graph[id];
        let was_down = !link.up;
        link.up = true;
        was_down
    }

    /// The end of `link` at `node`: 0 or 1.
    pub fn side_of(&self, id: LinkId, node: NodeId) -> usize {
        usize::from(self.graph[id].ends[1] == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn net(latency: Dist, bandwidth: Option<u64>) -> (Network, LinkId) {
        let mut net = Network::default();
        let a = net.add_node("a", NodeKind::Server);
        let b = net.add_node("b", NodeKind::Server);
        let det = Detection {
            write_timeout: 30,
            keepalive_interval: Some(60),
            keepalive_timeout: 15,
        };
        let model = LinkModel {
            latency,
            bandwidth,
            detection: [det, det],
        };
        let l = net.add_link("a--b", LinkKind::S2s, [a, b], model, stream(1, "l"), None);
        (net, l)
    }

    #[test]
    fn constant_latency_and_order() {
        let (mut net, l) = net(Dist::Constant(100), None);
        assert!(net.open(l));
        assert_eq!(
            net.transmit(l, 0, 10, 50, 1),
            Transmit::Arrives { at: 110, epoch: 1 }
        );
        assert_eq!(
            net.transmit(l, 1, 10, 50, 2),
            Transmit::Arrives { at: 110, epoch: 1 }
        );
        assert!(net.arrive(l, 0, 1));
    }

    #[test]
    fn streams_never_reorder() {
        let (mut net, l) = net(Dist::uniform(0, 1000), None);
        net.open(l);
        let mut last = 0;
        for i in 0..1000 {
            let Transmit::Arrives { at, .. } = net.transmit(l, 0, i, 10, i) else {
                panic!("lost")
            };
            assert!(at >= last);
            last = at;
        }
    }

    #[test]
    fn bandwidth_serialises_transmissions() {
        // 8000 bit/s: 100 bytes take 100 ms.
        let (mut net, l) = net(Dist::Constant(0), Some(8_000));
        net.open(l);
        assert_eq!(
            net.transmit(l, 0, 0, 100, 1),
            Transmit::Arrives {
                at: 100_000,
                epoch: 1
            }
        );
        assert_eq!(
            net.transmit(l, 0, 0, 100, 2),
            Transmit::Arrives {
                at: 200_000,
                epoch: 1
            }
        );
        // The other direction has its own transmitter.
        assert_eq!(
            net.transmit(l, 1, 0, 100, 3),
            Transmit::Arrives {
                at: 100_000,
                epoch: 1
            }
        );
    }

    #[test]
    fn down_loses_in_flight_and_old_epochs_never_arrive() {
        let (mut net, l) = net(Dist::Constant(100), None);
        net.open(l);
        net.transmit(l, 0, 0, 1, 7);
        net.transmit(l, 1, 0, 1, 8);
        assert_eq!(net.down(l), Some(vec![7, 8]));
        assert_eq!(net.down(l), None);
        assert!(!net.arrive(l, 0, 1));
        assert_eq!(net.transmit(l, 0, 5, 1, 9), Transmit::Lost);
        assert!(!net.open(l));
        assert!(net.up(l));
        assert!(net.open(l));
        assert_eq!(net.link(l).epoch, 2);
        assert!(!net.arrive(l, 0, 1));
    }

    #[test]
    fn a_message_reads_the_first_line_of_its_link_and_one_line_per_direction() {
        assert_eq!(std::mem::offset_of!(Link, dirs), 64);
        assert_eq!(std::mem::size_of::<Direction>(), 64);
        assert_eq!(std::mem::align_of::<Link>(), 64);
    }

    #[test]
    fn in_flight_messages_beyond_the_first_keep_their_order() {
        let (mut net, l) = net(Dist::Constant(100), None);
        net.open(l);
        for msg in [4, 5, 6] {
            net.transmit(l, 0, 0, 1, msg);
        }
        net.transmit(l, 1, 0, 1, 7);
        assert!(net.arrive(l, 0, 1));
        net.transmit(l, 0, 1, 1, 8);
        assert_eq!(net.break_connection(l), vec![5, 6, 8, 7]);
        assert_eq!(net.break_connection(l), Vec::<u64>::new());
        assert!(net.open(l));
        net.transmit(l, 0, 2, 1, 9);
        assert_eq!(net.down(l), Some(vec![9]));
    }

    #[test]
    fn latencies_drawn_ahead_are_the_stream_s_draws_in_order() {
        let dist = Dist::uniform(0, 1_000_000);
        let (mut net, l) = net(dist.clone(), None);
        net.open(l);
        let mut rng = stream(1, "l");
        for msg in 0..10 {
            // Ten seconds apart: no arrival waits for the one before.
            let now = msg * 10_000_000;
            let expected = dist.sample(&mut rng) + net.link(l).extra_latency;
            let latency = if msg % 4 == 3 {
                net.sample_latency(l)
            } else {
                let Transmit::Arrives { at, .. } = net.transmit(l, 0, now, 1, msg) else {
                    panic!("lost")
                };
                assert!(net.arrive(l, 0, 1));
                at - now
            };
            assert_eq!(latency, expected, "message {msg}");
            net.link_mut(l).extra_latency = msg * 1_000;
        }
    }

    #[test]
    fn keepalive_detection_time() {
        let det = Detection {
            write_timeout: 30,
            keepalive_interval: Some(60),
            keepalive_timeout: 15,
        };
        assert_eq!(det.keepalive_notices(0), Some(75));
        assert_eq!(det.keepalive_notices(59), Some(75));
        assert_eq!(det.keepalive_notices(60), Some(135));
        let none = Detection {
            keepalive_interval: None,
            ..det
        };
        assert_eq!(none.keepalive_notices(10), None);
    }

    #[test]
    fn cuts_of_a_partition() {
        let mut net = Network::default();
        let n: Vec<_> = (0..3)
            .map(|i| net.add_node(format!("n{i}"), NodeKind::Server))
            .collect();
        let det = Detection {
            write_timeout: 1,
            keepalive_interval: None,
            keepalive_timeout: 1,
        };
        let model = LinkModel {
            latency: Dist::Constant(1),
            bandwidth: None,
            detection: [det, det],
        };
        let l01 = net.add_link(
            "01",
            LinkKind::S2s,
            [n[0], n[1]],
            model.clone(),
            stream(1, "a"),
            None,
        );
        let l12 = net.add_link(
            "12",
            LinkKind::S2s,
            [n[1], n[2]],
            model,
            stream(1, "b"),
            None,
        );
        assert_eq!(net.cut(&[n[0]]), vec![l01]);
        assert_eq!(net.cut(&[n[1]]), vec![l01, l12]);
        assert_eq!(net.link_between(n[2], n[1]), Some(l12));
        assert_eq!(net.side_of(l12, n[2]), 1);
    }
}
