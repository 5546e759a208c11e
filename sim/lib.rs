//! presim: a deterministic discrete-event simulator for XMPP presence.
//!
//! This crate is the driver side of presim: virtual time and the event
//! queue, the fault-injectable network, client agents, scenario files, the
//! trace, and the scansion runner. The XMPP server core is
//! [`presim_engine`], re-exported as [`engine`]. See ARCHITECTURE.md.

pub use presim_engine as engine;

pub mod agent;
pub mod allocator;
pub mod analysis;

pub mod diff;
pub mod dist;
pub mod duration;
pub mod model;
pub mod net;
use presim_engine::prefetch;
pub mod queue;
pub mod replay;
pub mod rng;
pub mod run;
pub mod scansion;
pub mod scenario;
pub mod sweep;
pub mod trace;
pub mod world;
