//! The scenario file format: RON, read through serde. Every type here is
//! what a user writes; `scenario::compile` turns it into a [`crate::model::Model`].
//! docs/scenarios.md documents each field with an example.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// A duration as written: `"250ms"`, `"15s"`, or a number of seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Dur(pub String);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"250ms\", \"15s\", \"2m\" or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                Ok(Dur(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(format!("{v}s")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Ok(Dur(format!("{v}s")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Ok(Dur(format!("{v}s")))
            }
        }
        d.deserialize_any(V)
    }
}

fn dur(s: &str) -> Dur {
    Dur(s.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    pub duration: Dur,
    #[serde(default)]
    pub defaults: Defaults,
    pub servers: Vec<ServerFile>,
    #[serde(default)]
    pub mucs: Vec<String>,
    #[serde(default)]
    pub links: Vec<LinkFile>,
    #[serde(default)]
    pub users: Vec<UserFile>,
    #[serde(default)]
    pub clients: Vec<ClientFile>,
    #[serde(default)]
    pub populations: Vec<PopulationFile>,
    #[serde(default)]
    pub script: Vec<StepFile>,
    #[serde(default)]
    pub faults: Vec<FaultFile>,
    #[serde(default)]
    pub expect: Vec<ExpectFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default = "LinkModelFile::c2s")]
    pub c2s: LinkModelFile,
    #[serde(default = "LinkModelFile::s2s")]
    pub s2s: LinkModelFile,
    #[serde(default)]
    pub behaviour: BehaviourFile,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            c2s: LinkModelFile::c2s(),
            s2s: LinkModelFile::s2s(),
            behaviour: BehaviourFile::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkModelFile {
    pub latency: DistFile,
    #[serde(default)]
    pub bandwidth: Option<u64>,
    #[serde(default)]
    pub detection: DetectionFile,
    /// Detection at end b, if different from end a.
    #[serde(default)]
    pub detection_b: Option<DetectionFile>,
}

impl LinkModelFile {
    fn c2s() -> Self {
        LinkModelFile {
            latency: DistFile::Constant(dur("20ms")),
            bandwidth: None,
            detection: DetectionFile::default(),
            detection_b: None,
        }
    }

    fn s2s() -> Self {
        LinkModelFile {
            latency: DistFile::Constant(dur("40ms")),
            ..Self::c2s()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionFile {
    #[serde(default = "DetectionFile::write_timeout")]
    pub write_timeout: Dur,
    #[serde(default = "DetectionFile::keepalive_interval")]
    pub keepalive_interval: Option<Dur>,
    #[serde(default = "DetectionFile::keepalive_timeout")]
    pub keepalive_timeout: Dur,
}

impl DetectionFile {
    fn write_timeout() -> Dur {
        dur("30s")
    }
    fn keepalive_interval() -> Option<Dur> {
        Some(dur("60s"))
    }
    fn keepalive_timeout() -> Dur {
        dur("15s")
    }
}

impl Default for DetectionFile {
    fn default() -> Self {
        DetectionFile {
            write_timeout: Self::write_timeout(),
            keepalive_interval: Self::keepalive_interval(),
            keepalive_timeout: Self::keepalive_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum DistFile {
    Constant(Dur),
    Uniform { min: Dur, max: Dur },
    Normal { mean: Dur, sd: Dur },
    LogNormal { median: Dur, sigma: f64 },
    Pareto { scale: Dur, shape: f64 },
    Exponential { mean: Dur },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub domain: String,
    /// Route stanzas to other domains over s2s (default: true).
    #[serde(default = "yes")]
    pub federation: bool,
    #[serde(default = "yes")]
    pub offline_storage: bool,
    #[serde(default)]
    pub ignore_presence_priority: bool,
    #[serde(default = "yes")]
    pub auto_create_accounts: bool,
    #[serde(default)]
    pub check_passwords: bool,
    /// XEP-0310 annotations for clients that advertise urn:xmpp:psa
    /// (default: true).
    #[serde(default = "yes")]
    pub psa: bool,
    /// Retry a failed or broken s2s stream after this long, while users
    /// hold presence from that domain (default: "30s"; None: only on demand).
    #[serde(default = "retry_default")]
    pub s2s_retry_after: Option<Dur>,
    /// Offer XEP-0198 stream management to clients (default: true).
    #[serde(default = "yes")]
    pub stream_management: bool,
    /// How long a resumable session whose connection broke is kept for
    /// resumption (default: "600s", Prosody's).
    #[serde(default = "hibernation_default")]
    pub hibernation_time: Dur,
}

fn hibernation_default() -> Dur {
    dur("600s")
}

fn retry_default() -> Option<Dur> {
    Some(dur("30s"))
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    pub a: String,
    pub b: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub latency: Option<DistFile>,
    #[serde(default)]
    pub bandwidth: Option<u64>,
    #[serde(default)]
    pub detection: Option<DetectionFile>,
    #[serde(default)]
    pub detection_b: Option<DetectionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFile {
    pub jid: String,
    #[serde(default = "password")]
    pub password: String,
    #[serde(default)]
    pub roster: Vec<ItemFile>,
}

fn password() -> String {
    "password".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemFile {
    pub jid: String,
    #[serde(default = "SubscriptionFile::both")]
    pub subscription: SubscriptionFile,
    /// An outbound request is pending (`ask='subscribe'`).
    #[serde(default)]
    pub ask: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub enum SubscriptionFile {
    None,
    To,
    From,
    Both,
}

impl SubscriptionFile {
    fn both() -> Self {
        SubscriptionFile::Both
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    pub name: String,
    /// Bare JID, or full JID to request that resource.
    pub jid: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub features: Vec<String>,
    /// First connection; absent: connect at 0s unless the script connects.
    #[serde(default)]
    pub connect_at: Option<Dur>,
    #[serde(default)]
    pub behaviour: Option<BehaviourFile>,
    /// The client's c2s link model (default: `defaults.c2s`).
    #[serde(default)]
    pub link: Option<LinkModelFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourFile {
    #[serde(default = "yes")]
    pub initial_presence: bool,
    #[serde(default)]
    pub presence_changes: Option<DistFile>,
    #[serde(default = "BehaviourFile::shows")]
    pub shows: Vec<String>,
    #[serde(default)]
    pub statuses: Vec<String>,
    #[serde(default)]
    pub session_length: Option<DistFile>,
    #[serde(default = "BehaviourFile::reconnect_after")]
    pub reconnect_after: Option<DistFile>,
    #[serde(default = "yes")]
    pub answer_iq: bool,
    #[serde(default = "yes")]
    pub accept_subscriptions: bool,
    /// Enable XEP-0198 stream management with resumption when the server
    /// offers it, and resume after losing the connection (default: false).
    #[serde(default)]
    pub stream_management: bool,
}

impl BehaviourFile {
    fn shows() -> Vec<String> {
        vec![
            String::new(),
            "away".into(),
            "xa".into(),
            "dnd".into(),
            "chat".into(),
        ]
    }
    fn reconnect_after() -> Option<DistFile> {
        Some(DistFile::Constant(dur("5s")))
    }
}

impl Default for BehaviourFile {
    fn default() -> Self {
        BehaviourFile {
            initial_presence: true,
            presence_changes: None,
            shows: Self::shows(),
            statuses: Vec::new(),
            session_length: None,
            reconnect_after: Self::reconnect_after(),
            answer_iq: true,
            accept_subscriptions: true,
            stream_management: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationFile {
    pub server: String,
    pub users: usize,
    #[serde(default = "PopulationFile::prefix")]
    pub prefix: String,
    #[serde(default = "password")]
    pub password: String,
    pub roster_size: CountFile,
    /// Share of each roster drawn from other servers' populations, 0 to 1.
    #[serde(default)]
    pub remote_share: f64,
    /// When each user first connects.
    #[serde(default = "PopulationFile::login")]
    pub login: DistFile,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub behaviour: Option<BehaviourFile>,
    #[serde(default)]
    pub link: Option<LinkModelFile>,
}

impl PopulationFile {
    fn prefix() -> String {
        "user".to_string()
    }
    fn login() -> DistFile {
        DistFile::Constant(dur("0s"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum CountFile {
    Constant(usize),
    Uniform { min: usize, max: usize },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub at: Dur,
    pub client: String,
    pub action: ActionFile,
}

#[derive(Debug, Deserialize)]
pub enum ActionFile {
    Connect,
    Disconnect,
    Send(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    #[serde(default)]
    pub at: Option<Dur>,
    /// Random faults: gaps between occurrences.
    #[serde(default)]
    pub every: Option<DistFile>,
    #[serde(default)]
    pub from: Option<Dur>,
    #[serde(default)]
    pub until: Option<Dur>,
    pub fault: FaultKindFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FaultKindFile {
    LinkDown {
        link: String,
    },
    LinkUp {
        link: String,
    },
    LinkOutage {
        link: String,
        duration: DistFile,
    },
    Partition {
        nodes: Vec<String>,
        #[serde(default)]
        duration: Option<DistFile>,
    },
    Heal,
    Flap {
        link: String,
        mtbf: DistFile,
        mttr: DistFile,
        until: Dur,
    },
    ServerCrash {
        server: String,
        #[serde(default)]
        restart_after: Option<DistFile>,
    },
    ServerRestart {
        server: String,
    },
    ClientCrash {
        client: String,
        #[serde(default)]
        restart_after: Option<DistFile>,
    },
    ClientRestart {
        client: String,
    },
    ClientNetworkLoss {
        client: String,
        duration: DistFile,
    },
    LatencySpike {
        link: String,
        extra: DistFile,
        duration: DistFile,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ExpectFile {
    Receives {
        client: String,
        stanza: String,
        from: Dur,
        until: Dur,
    },
    ReceivesNone {
        client: String,
        stanza: String,
        from: Dur,
        until: Dur,
    },
    View {
        client: String,
        contact: String,
        at: Dur,
        is: ViewFile,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ViewFile {
    Unavailable,
    Available {
        #[serde(default)]
        show: Option<String>,
        #[serde(default)]
        status: Option<String>,
        /// The XEP-0310 annotation on it: "none", "server-unavailable" or
        /// "connection-paused"; not checked when absent.
        #[serde(default)]
        annotation: Option<String>,
    },
}
