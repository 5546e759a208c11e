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

/// Reads a file people write (a scenario, a regression corpus, a scansion
/// script) as text. A UTF-8 byte order mark, which some editors put at the
/// start, is not part of the text: the parsers would report it as a
/// syntax error at 1:1 that the editor does not show.
pub fn read_source(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}
