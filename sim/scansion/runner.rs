//! Runs a parsed scansion script on the simulator.
//!
//! The script becomes a small world: one server per domain its clients
//! use (federating over s2s links when there are several), and one scripted
//! client agent per `[Client]` on its own c2s link. Links have constant
//! latency and never fail, so a run is deterministic. Action `i` happens at
//! virtual second `i + 1`; the world then runs for the rest of that second,
//! so every stanza the action causes has arrived before the next one.
//!
//! Ordering rule (PROSODY-NOTES §3.5): each client's received, unconsumed
//! stanzas form its buffer. Stanzas caused by the latest action that was
//! not a `receives` are "in flight" when a `receives` step starts; older
//! ones were "already queued". A `receives` looks through the queued
//! stanzas for the first match, skipping the ones before it; if none
//! matches, the first in-flight stanza must match. With `strict_order`, the
//! very next stanza must match. `receives: nothing` passes when the buffer
//! is empty.

use std::io::Write;

use presim_engine::jid::Jid;
use presim_engine::minidom::Element;
use presim_engine::xml;
use presim_engine::ServerConfig;

use super::matcher::{self, Captures};
use super::script::{self, Script, ScriptError, Variable, Verb};
use crate::agent::{Behaviour, State};
use crate::dist::Dist;
use crate::model::{ClientSpec, LinkSpec, Model, NodeRef, ScriptAction, ServerSpec};
use crate::net::{Detection, LinkKind, LinkModel};
use crate::trace::{Trace, TraceSummary};
use crate::world::World;

/// Options of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Each `receives` must match the very next stanza.
    pub strict_order: bool,
}

/// A failed step, with everything needed to understand it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub file: String,
    pub line: usize,
    pub client: String,
    pub message: String,
    pub expected: Option<String>,
    pub received: Option<String>,
    pub skipped: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.client, self.message
        )?;
        if let Some(expected) = &self.expected {
            writeln!(f, "  expected: {expected}")?;
        }
        if self.expected.is_some() || self.received.is_some() {
            writeln!(
                f,
                "  received: {}",
                self.received.as_deref().unwrap_or("nothing")
            )?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "  skipped:")?;
            for s in &self.skipped {
                writeln!(f, "    {s}")?;
            }
        }
        Ok(())
    }
}

/// The outcome of a script that could be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed { steps: usize },
    Failed(Box<Failure>),
}

/// One virtual second per action.
const STEP: u64 = 1_000_000;
/// One-way latency of every c2s link.
const C2S_LATENCY: u64 = 1_000;
/// One-way latency of every s2s link.
const S2S_LATENCY: u64 = 5_000;

struct Run<'a> {
    script: &'a Script,
    world: World,
    /// Per client: how much of its received-stanza log is consumed.
    consumed: Vec<usize>,
    captures: Captures,
    step: usize,
    /// Index of the latest action that was not a `receives`.
    last_stimulus: usize,
    options: Options,
}

/// Runs a script. `Err` is a script error (bad input), `Ok` the outcome.
pub fn run(script: &Script, options: Options) -> Result<Outcome, ScriptError> {
    run_traced(script, options, None).map(|(outcome, _)| outcome)
}

/// Runs a script, writing the simulator's trace to `sink`.
pub fn run_traced(
    script: &Script,
    options: Options,
    sink: Option<Box<dyn Write>>,
) -> Result<(Outcome, TraceSummary), ScriptError> {
    let model = model_of(script)?;
    let mut run = Run {
        script,
        world: World::new(&model, Trace::new(sink)),
        consumed: vec![0; script.clients.len()],
        captures: Captures::new(),
        step: 0,
        last_stimulus: 0,
        options,
    };
    let mut outcome = Outcome::Passed {
        steps: script.actions.len(),
    };
    for (i, action) in script.actions.iter().enumerate() {
        run.step = i;
        if !matches!(action.verb, Verb::Receives(_) | Verb::ReceivesNothing) {
            run.last_stimulus = i;
        }
        if let Err(failure) = run.action(action)? {
            outcome = Outcome::Failed(failure);
            break;
        }
    }
    let (trace, _, _) = run.world.finish();
    Ok((outcome, trace))
}

/// The world a script runs in.
fn model_of(script: &Script) -> Result<Model, ScriptError> {
    let mut domains: Vec<String> = Vec::new();
    let mut clients = Vec::new();
    for c in &script.clients {
        let jid = Jid::new(&c.jid).map_err(|e| ScriptError {
            file: script.file.clone(),
            line: c.line,
            message: format!("client '{}': bad JID '{}': {e}", c.name, c.jid),
        })?;
        let domain = jid.domain().as_str().to_string();
        let server = match domains.iter().position(|d| *d == domain) {
            Some(i) => i,
            None => {
                domains.push(domain);
                domains.len() - 1
            }
        };
        clients.push(ClientSpec {
            name: c.name.clone(),
            user: jid
                .node()
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
            server,
            password: c.password.clone(),
            resource: c
                .resource
                .clone()
                .or_else(|| jid.resource().map(|r| r.as_str().to_string())),
            features: Vec::new(),
            behaviour: Behaviour::scripted(),
            connect_at: None,
            record: true,
        });
    }
    let federation = domains.len() > 1;
    let servers = domains
        .iter()
        .map(|d| {
            // Accounts are created on first login, as in Prosody's test setup.
            let mut config = ServerConfig::new(d.clone());
            config.federation = federation;
            ServerSpec {
                config,
                accounts: Vec::new(),
            }
        })
        .collect();
    let mut links: Vec<LinkSpec> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| LinkSpec {
            name: format!("c2s:{}", c.name),
            kind: LinkKind::C2s,
            ends: [NodeRef::Client(i), NodeRef::Server(c.server)],
            model: link_model(C2S_LATENCY),
        })
        .collect();
    for a in 0..domains.len() {
        for b in a + 1..domains.len() {
            links.push(LinkSpec {
                name: format!("{}--{}", domains[a], domains[b]),
                kind: LinkKind::S2s,
                ends: [NodeRef::Server(a), NodeRef::Server(b)],
                model: link_model(S2S_LATENCY),
            });
        }
    }
    Ok(Model {
        name: script.file.clone(),
        seed: 0,
        duration: (script.actions.len() as u64 + 2) * STEP,
        servers,
        mucs: Vec::new(),
        clients,
        links,
        script: Vec::new(),
        faults: Vec::new(),
        expectations: Vec::new(),
    })
}

fn link_model(latency: u64) -> LinkModel {
    let detection = Detection {
        write_timeout: 30 * STEP,
        keepalive_interval: None,
        keepalive_timeout: 0,
    };
    LinkModel {
        latency: Dist::Constant(latency),
        bandwidth: None,
        detection: [detection; 2],
    }
}

type StepResult = Result<Result<(), Box<Failure>>, ScriptError>;

impl Run<'_> {
    fn failure(&self, client: usize, message: impl Into<String>) -> Box<Failure> {
        let action = &self.script.actions[self.step];
        Box::new(Failure {
            file: self.script.file.clone(),
            line: action.line,
            client: self.script.clients[client].name.clone(),
            message: message.into(),
            expected: None,
            received: None,
            skipped: Vec::new(),
        })
    }

    fn script_error(&self, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: self.script.file.clone(),
            line: self.script.actions[self.step].line,
            message: message.into(),
        }
    }

    /// Starts of step `i`'s second, and the world's stanzas it caused.
    fn act(&mut self, client: usize, action: ScriptAction) {
        let at = (self.step as u64 + 1) * STEP;
        self.world.schedule(at, client, action);
        self.world.run_until(at + STEP - 1);
    }

    fn agent(&self, c: usize) -> &crate::agent::Agent {
        &self.world.clients[c].agent
    }

    fn online(&self, c: usize) -> bool {
        self.agent(c).state == State::Online
    }

    /// Forgets what a client received so far (a new or closed session).
    fn clear_buffer(&mut self, c: usize) {
        self.consumed[c] = self.agent(c).log.as_ref().map_or(0, Vec::len);
    }

    fn action(&mut self, action: &script::Action) -> StepResult {
        let c = action.client;
        match &action.verb {
            Verb::Connects => Ok(self.connect(c)),
            Verb::Disconnects => {
                if self.online(c) {
                    self.act(c, ScriptAction::Disconnect);
                    self.clear_buffer(c);
                }
                Ok(Ok(()))
            }
            Verb::Sends(text) => {
                if !self.online(c) {
                    return Ok(Ok(())); // as in scansion: sending after disconnecting has no effect
                }
                let element = self.stanza(text)?;
                self.act(c, ScriptAction::Send(element));
                Ok(Ok(()))
            }
            Verb::Receives(text) => {
                let expected = self.stanza(text)?;
                Ok(self.receive(c, &expected))
            }
            Verb::ReceivesNothing => Ok(self.receive_nothing(c)),
        }
    }

    fn stanza(&self, text: &str) -> Result<Element, ScriptError> {
        let text = script::substitute(text, &self.script.clients, |var| match var {
            Variable::Jid(i) => Jid::new(&self.script.clients[i].jid)
                .map(|j| j.to_bare().to_string())
                .map_err(|e| e.to_string()),
            Variable::FullJid(i) => self
                .agent(i)
                .full_jid
                .as_ref()
                .map(|j| j.to_string())
                .ok_or_else(|| {
                    format!(
                        "'{}' has no full JID yet: it has not connected",
                        self.script.clients[i].name
                    )
                }),
        })
        .map_err(|m| self.script_error(m))?;
        script::parse_stanza(&text).map_err(|m| self.script_error(m))
    }

    /// Opens a stream, authenticates with SASL PLAIN and binds a resource.
    fn connect(&mut self, c: usize) -> Result<(), Box<Failure>> {
        if self.agent(c).state != State::Offline {
            return Err(self.failure(c, "connects while already connected"));
        }
        self.act(c, ScriptAction::Connect);
        self.clear_buffer(c);
        if self.online(c) {
            return Ok(());
        }
        let why = match &self.agent(c).negotiation_error {
            Some(error) => format!("connect failed: {error}"),
            None => format!(
                "connect failed: no session within a second (stream state: {:?})",
                self.agent(c).state
            ),
        };
        Err(self.failure(c, why))
    }

    /// The stanzas client `c` received and has not consumed, with the step
    /// whose second each arrived in.
    fn receive(&mut self, c: usize, expected: &Element) -> Result<(), Box<Failure>> {
        let mut skipped = Vec::new();
        let mut last = None;
        let mut taken = 0;
        let mut matched = false;
        for (cause, element) in unconsumed(&self.world, c, self.consumed[c]) {
            taken += 1;
            match matcher::matches(expected, element, &mut self.captures) {
                Ok(()) => {
                    matched = true;
                    break;
                }
                Err(mismatch) => {
                    let text = xml::to_string(element);
                    if cause < self.last_stimulus && !self.options.strict_order {
                        skipped.push(text);
                        continue;
                    }
                    last = Some((text, mismatch.0));
                    break;
                }
            }
        }
        self.consumed[c] += taken;
        if matched {
            return Ok(());
        }
        let mut failure = self.failure(
            c,
            match &last {
                Some((_, why)) => format!("received stanza does not match: {why}"),
                None if !self.online(c) => {
                    "expected a stanza, but the client is not connected".to_string()
                }
                None => "expected a stanza, but nothing arrived".to_string(),
            },
        );
        failure.expected = Some(xml::to_string(expected));
        failure.received = last.map(|(text, _)| text);
        failure.skipped = skipped;
        Err(failure)
    }

    fn receive_nothing(&mut self, c: usize) -> Result<(), Box<Failure>> {
        let first = unconsumed(&self.world, c, self.consumed[c]).next();
        let Some(received) = first.map(|(_, e)| xml::to_string(e)) else {
            return Ok(());
        };
        self.consumed[c] += 1;
        let mut failure = self.failure(c, "expected nothing, but a stanza arrived");
        failure.received = Some(received);
        Err(failure)
    }
}

/// Client `c`'s received stanzas from index `from` on, each with the step
/// whose second it arrived in.
fn unconsumed(world: &World, c: usize, from: usize) -> impl Iterator<Item = (usize, &Element)> {
    let log = world.clients[c].agent.log.as_deref().unwrap_or(&[]);
    log[from..]
        .iter()
        .map(|(at, element)| ((at / STEP).saturating_sub(1) as usize, element))
}
