//! Scansion scripts: Prosody's stanza-level test format, run on the
//! simulator. [`script`] parses `.scs` files, [`matcher`] implements the
//! matching rules, [`runner`] builds a world for a script and drives it.

pub mod matcher;
pub mod runner;
pub mod script;

pub use runner::{run, run_traced, Failure, Options, Outcome};
pub use script::{parse, Script, ScriptError};
