//! presim: a deterministic discrete-event simulator for XMPP presence.
//!
//! This crate holds the driver side: the scansion script runner (and, as it
//! grows, the simulator, scenarios, trace and analysis). The XMPP server
//! core is [`presim_engine`], re-exported as [`engine`].

pub use presim_engine as engine;

pub mod scansion;
