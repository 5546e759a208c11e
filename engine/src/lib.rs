//! presim-engine: the XMPP server core that runs at every server node of
//! the presim simulator.
//!
//! The engine is sans-IO. A [`Server`] changes only when
//! [`Server::handle`] is called with the current virtual [`Time`] and an
//! [`Input`]; it returns [`Output`]s for the driver to act on. It never reads
//! a clock, blocks, performs I/O or draws random numbers, so the same input
//! sequence always gives the same output sequence.
//!
//! One module per protocol area:
//!
//! | module | specification |
//! |---|---|
//! | [`session`] | RFC 6120 §4–§7: streams, SASL PLAIN, resource binding |
//! | [`roster`] | RFC 6121 §2: roster items, versioning, get/set/push |
//! | [`subscription`] | RFC 6121 §3, RFC 3921 §9: the subscription state machine |
//! | [`presence`] | RFC 6121 §4: broadcast, probes, directed presence |
//! | [`message`] | RFC 6121 §8.5: message routing |
//! | [`offline`] | offline storage with XEP-0203 delay |
//! | [`iq`] | RFC 6120 §8.2.3: IQ validation and routing |
//! | [`disco`] | XEP-0030 service discovery |
//! | [`caps`] | XEP-0115 entity capabilities: which sessions want annotations |
//! | [`s2s`] | RFC 6120 §4: streams with peer servers, opened on demand |
//! | [`psa`] | XEP-0310 presence state annotations |
//! | [`privacy`] | RFC 3921 §10, XEP-0016: privacy lists |
//! | [`blocking`] | XEP-0191: the block list, on the default privacy list |
//! | [`invisibility`] | XEP-0186: invisible sessions |
//! | [`stream_management`] | XEP-0198 acknowledgements, hibernation, resumption |
//! | [`stanza`] | RFC 6120 §8: stanzas, shared payloads, stanza and stream errors |
//! | [`store`] | durable state kept across a crash |
//!
//! Where the RFCs leave a choice the engine behaves as Prosody does.

pub mod blocking;
pub mod bytes;
pub mod caps;
pub mod config;
pub mod disco;
pub mod invisibility;
pub mod iq;
pub mod message;
pub mod name;
pub mod offline;
pub mod prefetch;
pub mod presence;
pub mod privacy;
pub mod psa;
pub mod roster;
pub mod s2s;
pub mod scan;
pub mod server;
pub mod session;
pub mod stanza;
pub mod store;
pub mod stream_management;
pub mod subscription;
pub mod time;
pub mod xml;

pub use config::ServerConfig;
pub use server::{
    Annotation, ConnId, Domain, DropReason, EndReason, Event, Input, Output, PeerFailure,
    PeerStatus, Server, Timer,
};
pub use stanza::{ErrorType, Kind, Payload, Stanza, StanzaError, StreamError};
pub use time::Time;

pub use jid;
pub use minidom;
