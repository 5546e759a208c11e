//! A validated, compiled scenario: what the simulator runs.
//!
//! Scenario files ([`crate::scenario`]) are text with names and durations as
//! strings; a [`Model`] has indices, microseconds, parsed JIDs and stanzas.
//! Everything here has already been checked, so building and running a
//! world from it cannot fail.

use presim_engine::jid::BareJid;
use presim_engine::minidom::Element;
use presim_engine::roster::RosterItem;
use presim_engine::ServerConfig;

use crate::agent::Behaviour;
use crate::dist::Dist;
use crate::net::{LinkKind, LinkModel};

/// A node, by kind and index into the model's list of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRef {
    Server(usize),
    Muc(usize),
    Client(usize),
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub seed: u64,
    /// The run stops at this virtual time (µs).
    pub duration: u64,
    pub servers: Vec<ServerSpec>,
    /// MUC service nodes (addresses); they host nothing yet.
    pub mucs: Vec<String>,
    pub clients: Vec<ClientSpec>,
    /// Every link, c2s links of clients included; a link's index here is its
    /// index in the network.
    pub links: Vec<LinkSpec>,
    pub script: Vec<ScriptStep>,
    pub faults: Vec<FaultSpec>,
    pub expectations: Vec<Expectation>,
}

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub config: ServerConfig,
    pub accounts: Vec<AccountSpec>,
}

#[derive(Debug, Clone)]
pub struct AccountSpec {
    pub user: String,
    pub password: String,
    pub roster: Vec<(BareJid, RosterItem)>,
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: String,
    pub user: String,
    /// Index of the client's server.
    pub server: usize,
    pub password: String,
    pub resource: Option<String>,
    pub features: Vec<String>,
    pub behaviour: Behaviour,
    /// First connection attempt; `None`: only when the script says.
    pub connect_at: Option<u64>,
    /// Keep every received stanza and view change (for expectations).
    pub record: bool,
}

#[derive(Debug, Clone)]
pub struct LinkSpec {
    pub name: String,
    pub kind: LinkKind,
    pub ends: [NodeRef; 2],
    pub model: LinkModel,
}

#[derive(Debug, Clone)]
pub struct ScriptStep {
    pub at: u64,
    pub client: usize,
    pub action: ScriptAction,
}

#[derive(Debug, Clone)]
pub enum ScriptAction {
    Connect,
    Disconnect,
    Send(Element),
}

#[derive(Debug, Clone)]
pub struct FaultSpec {
    pub when: When,
    pub action: FaultAction,
}

/// When a fault happens.
#[derive(Debug, Clone)]
pub enum When {
    At(u64),
    /// Repeatedly, with gaps drawn from `every`, between `from` and `until`.
    Random {
        every: Dist,
        from: u64,
        until: u64,
    },
}

/// What a fault does. Links are indices into [`Model::links`].
#[derive(Debug, Clone)]
pub enum FaultAction {
    LinkDown(usize),
    LinkUp(usize),
    LinkOutage {
        link: usize,
        duration: Dist,
    },
    Partition {
        nodes: Vec<NodeRef>,
        duration: Option<Dist>,
    },
    Heal,
    Flap {
        link: usize,
        mtbf: Dist,
        mttr: Dist,
        until: u64,
    },
    ServerCrash {
        server: usize,
        restart_after: Option<Dist>,
    },
    ServerRestart(usize),
    ClientCrash {
        client: usize,
        restart_after: Option<Dist>,
    },
    ClientRestart(usize),
    ClientNetworkLoss {
        client: usize,
        duration: Dist,
    },
    LatencySpike {
        link: usize,
        extra: Dist,
        duration: Dist,
    },
}

/// A check made at the end of a run.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Where it was written, for the failure report (e.g. `expect[2]`).
    pub label: String,
    pub check: Check,
}

#[derive(Debug, Clone)]
pub enum Check {
    /// The client received a stanza matching `stanza` (scansion rules)
    /// between `from` and `until`.
    Receives {
        client: usize,
        stanza: Element,
        from: u64,
        until: u64,
    },
    /// The client received no stanza matching `stanza` in that window.
    ReceivesNone {
        client: usize,
        stanza: Element,
        from: u64,
        until: u64,
    },
    /// The client's view of `contact` (a full JID) at `at`.
    View {
        client: usize,
        contact: String,
        at: u64,
        expect: ViewExpect,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewExpect {
    Unavailable,
    /// Available; `show`/`status`/`annotation` are checked when given
    /// (annotation `Some(None)`: none).
    Available {
        show: Option<String>,
        status: Option<String>,
        annotation: Option<Option<&'static str>>,
    },
}
