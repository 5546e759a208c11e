//! Runs a parsed scansion script against one server.
//!
//! The driver is deterministic: each action happens at its own virtual
//! second, and every stanza the server emits is in the recipient's
//! buffer before the next action starts.
//!
//! Ordering rule (PROSODY-NOTES §3.5): each client keeps a buffer of
//! received, unconsumed stanzas. Stanzas caused by the latest action that
//! was not a `receives` are "in flight" when a `receives` step starts; older
//! ones were "already queued". A `receives` looks through the queued
//! stanzas for the first match, skipping the ones before it; if none
//! matches, the first in-flight stanza must match. With `strict_order`, the
//! very next stanza must match. `receives: nothing` passes when the buffer
//! is empty.

use std::collections::VecDeque;

use presim_engine::minidom::Element;
use presim_engine::session::encode_plain;
use presim_engine::xml::{self, NS_BIND, NS_CLIENT, NS_SASL};
use presim_engine::{ConnId, Input, Output, Server, ServerConfig, Time};

use super::matcher::{self, Captures};
use super::script::{self, Script, ScriptError, Variable, Verb};

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

/// One received stanza and the action that caused it.
struct Received {
    element: Element,
    cause: usize,
}

struct ClientState {
    conn: ConnId,
    connected: bool,
    full_jid: Option<String>,
    buffer: VecDeque<Received>,
}

struct Run<'a> {
    script: &'a Script,
    server: Server,
    clients: Vec<ClientState>,
    captures: Captures,
    now: Time,
    step: usize,
    /// Index of the latest action that was not a `receives`.
    last_stimulus: usize,
    options: Options,
    /// Stream-level elements received during negotiation, per client.
    negotiation: Vec<VecDeque<Element>>,
    next_conn: u64,
}

/// Runs a script. `Err` is a script error (bad input), `Ok` the outcome.
pub fn run(script: &Script, options: Options) -> Result<Outcome, ScriptError> {
    let domain = domain_of(script)?;
    let mut config = ServerConfig::new(domain);
    config.federation = false;
    let clients = std::iter::repeat_n(ConnId(0), script.clients.len())
        .map(|conn| ClientState {
            conn,
            connected: false,
            full_jid: None,
            buffer: VecDeque::new(),
        })
        .collect();
    let mut run = Run {
        script,
        server: Server::new(config),
        clients,
        captures: Captures::new(),
        now: Time::ZERO,
        step: 0,
        last_stimulus: 0,
        options,
        negotiation: vec![VecDeque::new(); script.clients.len()],
        next_conn: 0,
    };
    for (i, action) in script.actions.iter().enumerate() {
        run.step = i;
        run.now = Time::from_secs(i as u64 + 1);
        if !matches!(action.verb, Verb::Receives(_) | Verb::ReceivesNothing) {
            run.last_stimulus = i;
        }
        if let Err(failure) = run.action(action)? {
            return Ok(Outcome::Failed(failure));
        }
    }
    Ok(Outcome::Passed {
        steps: script.actions.len(),
    })
}

fn domain_of(script: &Script) -> Result<String, ScriptError> {
    let domains: Vec<String> = script
        .clients
        .iter()
        .map(|c| {
            presim_engine::jid::Jid::new(&c.jid)
                .map(|j| j.domain().as_str().to_string())
                .unwrap_or_default()
        })
        .collect();
    let first = domains[0].clone();
    if let Some((i, other)) = domains.iter().enumerate().find(|(_, d)| **d != first) {
        return Err(ScriptError {
            file: script.file.clone(),
            line: script.clients[i].line,
            message: format!(
                "client '{}' is on domain '{other}', but the runner hosts one domain ('{first}')",
                script.clients[i].name
            ),
        });
    }
    Ok(first)
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

    fn action(&mut self, action: &script::Action) -> StepResult {
        let c = action.client;
        match &action.verb {
            Verb::Connects => Ok(self.connect(c)),
            Verb::Disconnects => {
                if self.clients[c].connected {
                    self.input(Input::ClientClosed {
                        conn: self.clients[c].conn,
                    });
                    self.clients[c].connected = false;
                    self.clients[c].buffer.clear();
                }
                Ok(Ok(()))
            }
            Verb::Sends(text) => {
                if !self.clients[c].connected {
                    return Ok(Ok(())); // as in scansion: sending after disconnecting has no effect
                }
                let element = self.stanza(text)?;
                self.input(Input::ClientElement {
                    conn: self.clients[c].conn,
                    element,
                });
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
            Variable::Jid(i) => presim_engine::jid::Jid::new(&self.script.clients[i].jid)
                .map(|j| j.to_bare().to_string())
                .map_err(|e| e.to_string()),
            Variable::FullJid(i) => self.clients[i].full_jid.clone().ok_or_else(|| {
                format!(
                    "'{}' has no full JID yet: it has not connected",
                    self.script.clients[i].name
                )
            }),
        })
        .map_err(|m| self.script_error(m))?;
        script::parse_stanza(&text).map_err(|m| self.script_error(m))
    }

    /// Feeds an input to the server and distributes its outputs.
    fn input(&mut self, input: Input) {
        for output in self.server.handle(self.now, input) {
            match output {
                Output::ToClient { conn, stanza } => {
                    let Some(i) = self.clients.iter().position(|c| c.conn == conn) else {
                        continue;
                    };
                    let element = stanza.to_element();
                    if self.clients[i].full_jid.is_none() {
                        self.negotiation[i].push_back(element);
                    } else {
                        self.clients[i].buffer.push_back(Received {
                            element,
                            cause: self.step,
                        });
                    }
                }
                Output::CloseClient { conn, .. } => {
                    if let Some(c) = self.clients.iter_mut().find(|c| c.conn == conn) {
                        c.connected = false;
                    }
                }
                Output::ToPeer { .. } | Output::Event(_) => {}
            }
        }
    }

    fn next_negotiation(
        &mut self,
        c: usize,
        name: &str,
        ns: &str,
    ) -> Result<Element, Box<Failure>> {
        match self.negotiation[c].pop_front() {
            Some(el) if el.name() == name && el.ns() == ns => Ok(el),
            Some(el) => Err(self.failure(
                c,
                format!(
                    "connect failed: expected <{name}/>, got {}",
                    xml::to_string(&el)
                ),
            )),
            None => Err(self.failure(
                c,
                format!("connect failed: expected <{name}/>, got nothing"),
            )),
        }
    }

    /// Opens a stream, authenticates with SASL PLAIN and binds a resource.
    fn connect(&mut self, c: usize) -> Result<(), Box<Failure>> {
        let client = &self.script.clients[c];
        if self.clients[c].connected {
            return Err(self.failure(c, "connects while already connected"));
        }
        let jid = presim_engine::jid::Jid::new(&client.jid).expect("validated by the parser");
        let node = jid
            .node()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        let resource = client
            .resource
            .clone()
            .or_else(|| jid.resource().map(|r| r.as_str().to_string()));
        self.next_conn += 1;
        self.clients[c].conn = ConnId(self.next_conn);
        self.clients[c].full_jid = None;
        self.clients[c].buffer.clear();
        self.negotiation[c].clear();
        let conn = self.clients[c].conn;
        self.clients[c].connected = true;
        self.input(Input::ClientOpened { conn });
        self.next_negotiation(c, "features", xml::NS_STREAMS)?;
        let mut auth = xml::element("auth", NS_SASL, &[("mechanism", "PLAIN")]);
        auth.append_text(encode_plain(&node, &client.password));
        self.input(Input::ClientElement {
            conn,
            element: auth,
        });
        self.next_negotiation(c, "success", NS_SASL)?;
        self.input(Input::ClientOpened { conn });
        self.next_negotiation(c, "features", xml::NS_STREAMS)?;
        let mut bind = Element::bare("bind", NS_BIND);
        if let Some(resource) = resource {
            bind.append_child(xml::text_element("resource", NS_BIND, &resource));
        }
        let mut iq = xml::element("iq", NS_CLIENT, &[("type", "set"), ("id", "bind")]);
        iq.append_child(bind);
        self.input(Input::ClientElement { conn, element: iq });
        let result = self.next_negotiation(c, "iq", NS_CLIENT)?;
        let bound = xml::child(&result, "bind", NS_BIND)
            .and_then(|b| xml::child(b, "jid", NS_BIND))
            .map(|j| j.text());
        match bound {
            Some(full) => {
                self.clients[c].full_jid = Some(full);
                Ok(())
            }
            None => Err(self.failure(
                c,
                format!("resource binding failed: {}", xml::to_string(&result)),
            )),
        }
    }

    fn receive(&mut self, c: usize, expected: &Element) -> Result<(), Box<Failure>> {
        let mut skipped = Vec::new();
        let mut last = None;
        while let Some(received) = self.clients[c].buffer.pop_front() {
            let queued = received.cause < self.last_stimulus;
            match matcher::matches(expected, &received.element, &mut self.captures) {
                Ok(()) => return Ok(()),
                Err(mismatch) => {
                    let text = xml::to_string(&received.element);
                    if queued && !self.options.strict_order {
                        skipped.push(text);
                        continue;
                    }
                    last = Some((text, mismatch.0));
                    break;
                }
            }
        }
        let mut failure = self.failure(
            c,
            match &last {
                Some((_, why)) => format!("received stanza does not match: {why}"),
                None if !self.clients[c].connected => {
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
        match self.clients[c].buffer.pop_front() {
            None => Ok(()),
            Some(received) => {
                let mut failure = self.failure(c, "expected nothing, but a stanza arrived");
                failure.received = Some(xml::to_string(&received.element));
                Err(failure)
            }
        }
    }
}
