//! Scansion scripts: Prosody's stanza-level test format, run against the
//! presim engine. [`script`] parses `.scs` files, [`matcher`] implements the
//! matching rules, [`runner`] drives a server through a script.

pub mod matcher;
pub mod runner;
pub mod script;

pub use runner::{run, Failure, Options, Outcome};
pub use script::{parse, Script, ScriptError};
