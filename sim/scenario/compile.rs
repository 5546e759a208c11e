//! Validation and compilation of a parsed scenario into a [`Model`].

use std::collections::{BTreeMap, BTreeSet};

use presim_engine::jid::{BareJid, Jid};
use presim_engine::roster::{RosterItem, Subscription};
use presim_engine::xml;
use presim_engine::ServerConfig;

use super::file::*;
use super::population;
use super::LoadError;
use crate::agent::Behaviour;
use crate::dist::Dist;
use crate::duration;
use crate::model::*;
use crate::net::{Detection, LinkKind, LinkModel};

/// Collects every problem with its field path.
pub(super) struct Ctx<'a> {
    file: &'a str,
    problems: Vec<String>,
    /// The run's `duration` as written and in µs, once it has parsed: the
    /// instants of the scenario must not come after it.
    end: Option<(&'a str, u64)>,
}

impl Ctx<'_> {
    pub(super) fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub(super) fn problem(&mut self, path: &str, message: impl std::fmt::Display) {
        self.problems
            .push(format!("{}: {path}: {message}", self.file));
    }

    fn dur(&mut self, path: &str, d: &Dur) -> u64 {
        duration::parse(&d.0).unwrap_or_else(|e| {
            self.problem(path, e);
            0
        })
    }

    /// An instant of the run: a duration from its start, at or before its
    /// end. Something scheduled after the end would silently never happen,
    /// and an expectation about a time after it checks nothing simulated.
    fn instant(&mut self, path: &str, d: &Dur) -> u64 {
        let at = self.dur(path, d);
        if let Some((written, end)) = self.end {
            if at > end {
                self.problem(
                    path,
                    format!(
                        "'{}' is after the end of the run (duration '{written}')",
                        d.0
                    ),
                );
            }
        }
        at
    }

    pub(super) fn dist(&mut self, path: &str, d: &DistFile) -> Dist {
        let result = match d {
            DistFile::Constant(v) => Ok(Dist::Constant(self.dur(&format!("{path}.Constant"), v))),
            DistFile::Uniform { min, max } => {
                let lo = self.dur(&format!("{path}.Uniform.min"), min);
                let hi = self.dur(&format!("{path}.Uniform.max"), max);
                if lo > hi {
                    Err(format!("min ({}) is greater than max ({})", min.0, max.0))
                } else {
                    Ok(Dist::uniform(lo, hi))
                }
            }
            DistFile::Normal { mean, sd } => {
                let m = self.dur(&format!("{path}.Normal.mean"), mean);
                let s = self.dur(&format!("{path}.Normal.sd"), sd);
                Ok(Dist::normal(m, s))
            }
            DistFile::LogNormal { median, sigma } => {
                let m = self.dur(&format!("{path}.LogNormal.median"), median);
                Dist::log_normal(m.max(1), *sigma)
            }
            DistFile::Pareto { scale, shape } => {
                let s = self.dur(&format!("{path}.Pareto.scale"), scale);
                Dist::pareto(s.max(1), *shape)
            }
            DistFile::Exponential { mean } => {
                let m = self.dur(&format!("{path}.Exponential.mean"), mean);
                if m == 0 {
                    Err("the mean must be positive".to_string())
                } else {
                    Dist::exponential(m)
                }
            }
        };
        result.unwrap_or_else(|e| {
            self.problem(path, e);
            Dist::Constant(0)
        })
    }

    /// A distribution of the gaps between events that repeat (presence
    /// changes, reconnections, random faults, a flapping link's up and down
    /// times): one that can only draw 0 would repeat them forever at one
    /// instant, and the run would never end.
    pub(super) fn gap(&mut self, path: &str, d: &DistFile) -> Dist {
        let reported = self.problems.len();
        let dist = self.dist(path, d);
        // A distribution already refused stands in as `Constant(0)`.
        if dist.always_zero() && self.problems.len() == reported {
            self.problem(
                path,
                "must be able to draw a positive duration: the events it spaces would repeat \
                 forever at one instant",
            );
        }
        dist
    }

    fn detection(&mut self, path: &str, d: &DetectionFile) -> Detection {
        let interval = d
            .keepalive_interval
            .as_ref()
            .map(|i| self.dur(&format!("{path}.keepalive_interval"), i));
        if interval == Some(0) {
            self.problem(
                &format!("{path}.keepalive_interval"),
                "must be positive (or None)",
            );
        }
        Detection {
            write_timeout: self.dur(&format!("{path}.write_timeout"), &d.write_timeout),
            keepalive_interval: interval.filter(|i| *i > 0),
            keepalive_timeout: self.dur(&format!("{path}.keepalive_timeout"), &d.keepalive_timeout),
        }
    }

    pub(super) fn link_model(&mut self, path: &str, m: &LinkModelFile) -> LinkModel {
        let a = self.detection(&format!("{path}.detection"), &m.detection);
        let b = match &m.detection_b {
            Some(d) => self.detection(&format!("{path}.detection_b"), d),
            None => a,
        };
        if let Some(bandwidth) = m.bandwidth {
            self.check_bandwidth(path, bandwidth);
        }
        LinkModel {
            latency: self.dist(&format!("{path}.latency"), &m.latency),
            bandwidth: m.bandwidth.filter(|b| *b > 0),
            detection: [a, b],
        }
    }

    /// The model of link `l` (at `path`): the default s2s model (`file` as
    /// written, `compiled` as checked at `defaults.s2s`) with the fields
    /// the link sets in its place, each checked where it is written. As in
    /// a model, end b's detection is end a's unless set (by the link, or
    /// else by the default).
    fn link_override(
        &mut self,
        path: &str,
        l: &LinkFile,
        file: &LinkModelFile,
        compiled: &LinkModel,
    ) -> LinkModel {
        let mut m = compiled.clone();
        if let Some(latency) = &l.latency {
            m.latency = self.dist(&format!("{path}.latency"), latency);
        }
        if let Some(bandwidth) = l.bandwidth {
            self.check_bandwidth(path, bandwidth);
            m.bandwidth = Some(bandwidth).filter(|b| *b > 0);
        }
        let a = match &l.detection {
            Some(d) => self.detection(&format!("{path}.detection"), d),
            None => compiled.detection[0],
        };
        m.detection = match &l.detection_b {
            Some(d) => [a, self.detection(&format!("{path}.detection_b"), d)],
            None if file.detection_b.is_some() => [a, compiled.detection[1]],
            None => [a, a],
        };
        m
    }

    fn check_bandwidth(&mut self, path: &str, bandwidth: u64) {
        if bandwidth == 0 {
            self.problem(
                &format!("{path}.bandwidth"),
                "must be positive (bits per second) or None",
            );
        }
    }

    pub(super) fn behaviour(&mut self, path: &str, b: &BehaviourFile) -> Behaviour {
        let field = |name: &str| format!("{path}.{name}");
        Behaviour {
            initial_presence: b.initial_presence,
            presence_changes: (b.presence_changes.as_ref())
                .map(|d| self.gap(&field("presence_changes"), d)),
            session_length: (b.session_length.as_ref())
                .map(|d| self.dist(&field("session_length"), d)),
            reconnect_after: (b.reconnect_after.as_ref())
                .map(|d| self.gap(&field("reconnect_after"), d)),
            shows: b.shows.clone(),
            statuses: b.statuses.clone(),
            answer_iq: b.answer_iq,
            accept_subscriptions: b.accept_subscriptions,
            stream_management: b.stream_management,
        }
    }
}

/// The scenario's defaults, compiled once.
pub(super) struct DefaultModels {
    pub(super) c2s: LinkModel,
    pub(super) s2s: LinkModel,
    pub(super) behaviour: Behaviour,
}

/// Names of nodes, for link and fault references.
#[derive(Default)]
pub(super) struct Names {
    pub(super) nodes: BTreeMap<String, NodeRef>,
}

pub(super) fn compile(file: &str, s: &Scenario) -> Result<Model, LoadError> {
    let mut cx = Ctx {
        file,
        problems: Vec::new(),
        end: None,
    };
    if s.name.trim().is_empty() {
        cx.problem(
            "name",
            "must not be empty: the trace, the summary and the analysis name the run by it",
        );
    }
    let duration = cx.dur("duration", &s.duration);
    if duration == 0 && duration::parse(&s.duration.0).is_ok() {
        cx.problem("duration", "must be positive");
    }
    if duration > 0 {
        cx.end = Some((&s.duration.0, duration));
    }
    let mut names = Names::default();
    let servers = servers(&mut cx, s, &mut names);
    for (i, m) in s.mucs.iter().enumerate() {
        let path = format!("mucs[{i}]");
        if let Some(problem) = domain_problem(m) {
            cx.problem(&path, problem);
        }
        if names.nodes.insert(m.clone(), NodeRef::Muc(i)).is_some() {
            cx.problem(&path, format!("node name '{m}' is used twice"));
        }
    }
    let mut model = Model {
        name: s.name.clone(),
        seed: s.seed,
        duration,
        servers,
        mucs: s.mucs.clone(),
        clients: Vec::new(),
        links: Vec::new(),
        script: Vec::new(),
        faults: Vec::new(),
        expectations: Vec::new(),
    };
    users(&mut cx, s, &mut model);
    let connected_by_script: BTreeSet<&str> = s
        .script
        .iter()
        .filter(|st| matches!(st.action, ActionFile::Connect))
        .map(|st| st.client.as_str())
        .collect();
    let defaults = DefaultModels {
        c2s: cx.link_model("defaults.c2s", &s.defaults.c2s),
        s2s: cx.link_model("defaults.s2s", &s.defaults.s2s),
        behaviour: cx.behaviour("defaults.behaviour", &s.defaults.behaviour),
    };
    clients(
        &mut cx,
        s,
        &mut model,
        &mut names,
        &connected_by_script,
        &defaults,
    );
    population::generate(&mut cx, s, &mut model, &mut names, &defaults);
    links(&mut cx, s, &mut model, &names, &defaults);
    script(&mut cx, s, &mut model, &names);
    faults(&mut cx, s, &mut model, &names);
    expectations(&mut cx, s, &mut model, &names);
    if cx.problems.is_empty() {
        Ok(model)
    } else {
        Err(LoadError {
            problems: cx.problems,
        })
    }
}

fn servers(cx: &mut Ctx, s: &Scenario, names: &mut Names) -> Vec<ServerSpec> {
    if s.servers.is_empty() {
        cx.problem("servers", "a scenario needs at least one server");
    }
    let mut out = Vec::new();
    for (i, f) in s.servers.iter().enumerate() {
        let path = format!("servers[{i}].domain");
        if let Some(problem) = domain_problem(&f.domain) {
            cx.problem(&path, problem);
            continue;
        }
        if names
            .nodes
            .insert(f.domain.clone(), NodeRef::Server(i))
            .is_some()
        {
            cx.problem(&path, format!("server '{}' is defined twice", f.domain));
        }
        let mut config = ServerConfig::new(f.domain.clone());
        config.federation = f.federation;
        config.offline_storage = f.offline_storage;
        config.ignore_presence_priority = f.ignore_presence_priority;
        config.auto_create_accounts = f.auto_create_accounts;
        config.check_passwords = f.check_passwords;
        config.psa = f.psa;
        config.s2s_retry_after = f.s2s_retry_after.as_ref().map(|d| {
            let path = format!("servers[{i}].s2s_retry_after");
            presim_engine::Time(cx.dur(&path, d))
        });
        config.stream_management = f.stream_management;
        let path = format!("servers[{i}].hibernation_time");
        config.hibernation_time = presim_engine::Time(cx.dur(&path, &f.hibernation_time));
        out.push(ServerSpec {
            config,
            accounts: Vec::new(),
        });
    }
    out
}

/// Why `domain` cannot name a server or MUC service, if it cannot: it must
/// be a domain, written as JIDs write it (RFC 7622 §3.2 normalizes case and
/// drops a final dot), or no JID of the scenario would ever match it.
fn domain_problem(domain: &str) -> Option<String> {
    match BareJid::new(domain) {
        Ok(jid) if jid.node().is_some() => Some(format!("'{domain}' is not a valid domain")),
        Ok(jid) if jid.as_str() != domain => Some(format!(
            "'{domain}' is written '{}' in a JID (domains are compared in that form); write it so",
            jid.as_str()
        )),
        Ok(_) => None,
        Err(_) => Some(format!("'{domain}' is not a valid domain")),
    }
}

pub(super) fn server_index(model: &Model, domain: &str) -> Option<usize> {
    model.servers.iter().position(|s| s.config.domain == domain)
}

fn users(cx: &mut Ctx, s: &Scenario, model: &mut Model) {
    let mut seen = BTreeSet::new();
    for (i, u) in s.users.iter().enumerate() {
        let path = format!("users[{i}].jid");
        let Some(jid) = BareJid::new(&u.jid).ok().filter(|j| j.node().is_some()) else {
            cx.problem(
                &path,
                format!("'{}' is not a bare JID of a user (user@domain)", u.jid),
            );
            continue;
        };
        let Some(server) = server_index(model, jid.domain().as_str()) else {
            cx.problem(
                &path,
                format!("no server has the domain '{}'", jid.domain()),
            );
            continue;
        };
        if !seen.insert(jid.clone()) {
            cx.problem(&path, format!("user '{jid}' is defined twice"));
            continue;
        }
        let mut roster = Vec::new();
        for (k, item) in u.roster.iter().enumerate() {
            let path = format!("users[{i}].roster[{k}].jid");
            let Ok(contact) = BareJid::new(&item.jid) else {
                cx.problem(&path, format!("'{}' is not a valid bare JID", item.jid));
                continue;
            };
            if server_index(model, contact.domain().as_str()).is_none() {
                cx.problem(
                    &path,
                    format!("no server has the domain '{}'", contact.domain()),
                );
                continue;
            }
            if roster.iter().any(|(j, _)| *j == contact) {
                cx.problem(&path, format!("'{contact}' is in the roster twice"));
                continue;
            }
            let subscription = match item.subscription {
                SubscriptionFile::None => Subscription::None,
                SubscriptionFile::To => Subscription::To,
                SubscriptionFile::From => Subscription::From,
                SubscriptionFile::Both => Subscription::Both,
            };
            roster.push((
                contact,
                RosterItem::new(subscription)
                    .with_ask(item.ask)
                    .with_labels(item.name.clone(), item.groups.clone()),
            ));
        }
        model.servers[server].accounts.push(AccountSpec {
            user: jid.node().expect("checked").as_str().to_string(),
            password: u.password.clone(),
            roster,
        });
    }
}

fn clients(
    cx: &mut Ctx,
    s: &Scenario,
    model: &mut Model,
    names: &mut Names,
    connected_by_script: &BTreeSet<&str>,
    defaults: &DefaultModels,
) {
    for (i, c) in s.clients.iter().enumerate() {
        let path = format!("clients[{i}]");
        if c.name.trim().is_empty() {
            cx.problem(
                &format!("{path}.name"),
                "must not be empty: faults, expectations and the trace name the client by it",
            );
            continue;
        }
        if names.nodes.contains_key(&c.name) {
            cx.problem(
                &format!("{path}.name"),
                format!("node name '{}' is used twice", c.name),
            );
            continue;
        }
        let Some(jid) = Jid::new(&c.jid).ok().filter(|j| j.node().is_some()) else {
            cx.problem(
                &format!("{path}.jid"),
                format!("'{}' is not the JID of a user", c.jid),
            );
            continue;
        };
        let Some(server) = server_index(model, jid.domain().as_str()) else {
            cx.problem(
                &format!("{path}.jid"),
                format!("no server has the domain '{}'", jid.domain()),
            );
            continue;
        };
        let user = jid.node().expect("checked").as_str().to_string();
        let listed = model.servers[server]
            .accounts
            .iter()
            .find(|a| a.user == user);
        let password = c
            .password
            .clone()
            .or_else(|| listed.map(|a| a.password.clone()))
            .unwrap_or_else(|| "password".to_string());
        let behaviour = match &c.behaviour {
            Some(b) => cx.behaviour(&format!("{path}.behaviour"), b),
            None => defaults.behaviour.clone(),
        };
        let connect_at = match &c.connect_at {
            Some(d) => Some(cx.instant(&format!("{path}.connect_at"), d)),
            None if connected_by_script.contains(c.name.as_str()) => None,
            None => Some(0),
        };
        // The default model was checked once, at `defaults.c2s`.
        let link = match &c.link {
            Some(m) => cx.link_model(&format!("{path}.link"), m),
            None => defaults.c2s.clone(),
        };
        add_client(
            model,
            names,
            ClientSpec {
                name: c.name.clone(),
                user,
                server,
                password,
                resource: jid.resource().map(|r| r.as_str().to_string()),
                features: c.features.clone(),
                behaviour,
                connect_at,
                record: false,
            },
            link,
        );
    }
}

/// Adds a client and its c2s link, named `c2s:NAME`.
pub(super) fn add_client(model: &mut Model, names: &mut Names, spec: ClientSpec, link: LinkModel) {
    let i = model.clients.len();
    names.nodes.insert(spec.name.clone(), NodeRef::Client(i));
    model.links.push(LinkSpec {
        name: format!("c2s:{}", spec.name),
        kind: LinkKind::C2s,
        ends: [NodeRef::Client(i), NodeRef::Server(spec.server)],
        model: link,
    });
    model.clients.push(spec);
}

pub(super) use Names as NodeNames;

fn links(cx: &mut Ctx, s: &Scenario, model: &mut Model, names: &Names, defaults: &DefaultModels) {
    let mut explicit = BTreeSet::new();
    for (i, l) in s.links.iter().enumerate() {
        let path = format!("links[{i}]");
        let mut end = |field: &str, name: &str| -> Option<NodeRef> {
            let r = names.nodes.get(name).copied();
            if r.is_none() {
                cx.problem(
                    &format!("{path}.{field}"),
                    format!("no node is named '{name}'"),
                );
            }
            r
        };
        let (Some(a), Some(b)) = (end("a", &l.a), end("b", &l.b)) else {
            continue;
        };
        let kind = match (a, b) {
            (NodeRef::Server(x), NodeRef::Server(y)) if x != y => LinkKind::S2s,
            (NodeRef::Server(_), NodeRef::Muc(_)) | (NodeRef::Muc(_), NodeRef::Server(_)) => {
                LinkKind::Component
            }
            (NodeRef::Client(_), _) | (_, NodeRef::Client(_)) => {
                cx.problem(&path, "clients are linked to their server automatically; set the client's `link` instead");
                continue;
            }
            _ => {
                cx.problem(&path, format!("cannot link '{}' to '{}'", l.a, l.b));
                continue;
            }
        };
        let name = l
            .name
            .clone()
            .unwrap_or_else(|| format!("{}--{}", l.a, l.b));
        if name.trim().is_empty() {
            cx.problem(
                &format!("{path}.name"),
                "must not be empty: faults and the trace name the link by it",
            );
            continue;
        }
        if !explicit.insert(pair(a, b)) {
            cx.problem(
                &path,
                format!(
                    "'{}' and '{}' are linked twice (one link joins two nodes)",
                    l.a, l.b
                ),
            );
            continue;
        }
        if model.links.iter().any(|x| x.name == name) {
            cx.problem(&path, format!("link '{name}' is defined twice"));
            continue;
        }
        let model_ = cx.link_override(&path, l, &s.defaults.s2s, &defaults.s2s);
        model.links.push(LinkSpec {
            name,
            kind,
            ends: [a, b],
            model: model_,
        });
    }
    // Every pair of federating servers without an explicit link gets one
    // with the default s2s model.
    let n = model.servers.len();
    for x in 0..n {
        for y in x + 1..n {
            let (sx, sy) = (&model.servers[x].config, &model.servers[y].config);
            if !(sx.federation && sy.federation) {
                continue;
            }
            if explicit.contains(&pair(NodeRef::Server(x), NodeRef::Server(y))) {
                continue;
            }
            let name = format!("{}--{}", sx.domain, sy.domain);
            model.links.push(LinkSpec {
                name,
                kind: LinkKind::S2s,
                ends: [NodeRef::Server(x), NodeRef::Server(y)],
                model: defaults.s2s.clone(),
            });
        }
    }
}

fn pair(a: NodeRef, b: NodeRef) -> (String, String) {
    let (a, b) = (format!("{a:?}"), format!("{b:?}"));
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

fn client_ref(cx: &mut Ctx, path: &str, names: &Names, name: &str) -> Option<usize> {
    match names.nodes.get(name) {
        Some(NodeRef::Client(i)) => Some(*i),
        _ => {
            cx.problem(path, format!("no client is named '{name}'"));
            None
        }
    }
}

fn server_ref(cx: &mut Ctx, path: &str, names: &Names, name: &str) -> Option<usize> {
    match names.nodes.get(name) {
        Some(NodeRef::Server(i)) => Some(*i),
        _ => {
            cx.problem(path, format!("no server is named '{name}'"));
            None
        }
    }
}

fn link_ref(cx: &mut Ctx, path: &str, model: &Model, name: &str) -> Option<usize> {
    let reversed = name
        .split_once("--")
        .map(|(a, b)| format!("{b}--{a}"))
        .unwrap_or_default();
    let found = model
        .links
        .iter()
        .position(|l| l.name == name || l.name == reversed);
    if found.is_none() {
        let known: Vec<&str> = model
            .links
            .iter()
            .map(|l| l.name.as_str())
            .take(8)
            .collect();
        cx.problem(
            path,
            format!("no link is named '{name}' (links: {})", known.join(", ")),
        );
    }
    found
}

fn stanza(cx: &mut Ctx, path: &str, text: &str) -> Option<presim_engine::minidom::Element> {
    match xml::parse_client_xml(text) {
        Ok(el) => Some(el),
        Err(e) => {
            cx.problem(path, format!("invalid XML: {}", e.0));
            None
        }
    }
}

fn script(cx: &mut Ctx, s: &Scenario, model: &mut Model, names: &Names) {
    for (i, st) in s.script.iter().enumerate() {
        let path = format!("script[{i}]");
        let at = cx.instant(&format!("{path}.at"), &st.at);
        let client = client_ref(cx, &format!("{path}.client"), names, &st.client);
        let action = match &st.action {
            ActionFile::Connect => Some(ScriptAction::Connect),
            ActionFile::Disconnect => Some(ScriptAction::Disconnect),
            ActionFile::Send(text) => {
                stanza(cx, &format!("{path}.action.Send"), text).map(ScriptAction::Send)
            }
        };
        if let (Some(client), Some(action)) = (client, action) {
            model.script.push(ScriptStep { at, client, action });
        }
    }
}

fn faults(cx: &mut Ctx, s: &Scenario, model: &mut Model, names: &Names) {
    for (i, f) in s.faults.iter().enumerate() {
        let path = format!("faults[{i}]");
        let when = match (&f.at, &f.every) {
            (Some(at), None) => {
                if f.from.is_some() || f.until.is_some() {
                    cx.problem(&path, "`from` and `until` go with `every`, not with `at`");
                }
                When::At(cx.instant(&format!("{path}.at"), at))
            }
            (None, Some(every)) => {
                let every = cx.gap(&format!("{path}.every"), every);
                let from = f
                    .from
                    .as_ref()
                    .map_or(0, |d| cx.instant(&format!("{path}.from"), d));
                let until = f
                    .until
                    .as_ref()
                    .map_or(model.duration, |d| cx.dur(&format!("{path}.until"), d));
                if until < from {
                    let written =
                        |d: &Option<Dur>| d.as_ref().map_or("", |d| d.0.as_str()).to_string();
                    cx.problem(
                        &format!("{path}.until"),
                        format!(
                            "'{}' is before `from` ('{}'): no fault would be drawn",
                            written(&f.until),
                            written(&f.from)
                        ),
                    );
                }
                When::Random { every, from, until }
            }
            _ => {
                cx.problem(
                    &path,
                    "give exactly one of `at` (a scheduled fault) or `every` (random faults)",
                );
                continue;
            }
        };
        let p = format!("{path}.fault");
        let action = fault_action(cx, &p, &f.fault, model, names);
        if let Some(FaultAction::Flap { until, .. }) = &action {
            let start = match when {
                When::At(at) => at,
                When::Random { from, .. } => from,
            };
            if *until <= start {
                cx.problem(
                    &format!("{p}.until"),
                    "is not after the fault starts: the link would not flap",
                );
            }
        }
        if let Some(action) = action {
            model.faults.push(FaultSpec { when, action });
        }
    }
}

fn fault_action(
    cx: &mut Ctx,
    p: &str,
    f: &FaultKindFile,
    model: &Model,
    names: &Names,
) -> Option<FaultAction> {
    use FaultKindFile as F;
    let field = |name: &str| format!("{p}.{name}");
    Some(match f {
        F::LinkDown { link } => FaultAction::LinkDown(link_ref(cx, &field("link"), model, link)?),
        F::LinkUp { link } => FaultAction::LinkUp(link_ref(cx, &field("link"), model, link)?),
        F::LinkOutage { link, duration } => {
            let duration = cx.dist(&field("duration"), duration);
            FaultAction::LinkOutage {
                link: link_ref(cx, &field("link"), model, link)?,
                duration,
            }
        }
        F::Partition { nodes, duration } => {
            let mut refs = Vec::new();
            for (k, n) in nodes.iter().enumerate() {
                match names.nodes.get(n) {
                    Some(r) => refs.push(*r),
                    None => cx.problem(
                        &format!("{p}.nodes[{k}]"),
                        format!("no node is named '{n}'"),
                    ),
                }
            }
            if nodes.is_empty() {
                cx.problem(&field("nodes"), "a partition needs at least one node");
            }
            let duration = duration.as_ref().map(|d| cx.dist(&field("duration"), d));
            FaultAction::Partition {
                nodes: refs,
                duration,
            }
        }
        F::Heal => FaultAction::Heal,
        F::Flap {
            link,
            mtbf,
            mttr,
            until,
        } => FaultAction::Flap {
            mtbf: cx.gap(&field("mtbf"), mtbf),
            mttr: cx.gap(&field("mttr"), mttr),
            until: cx.dur(&field("until"), until),
            link: link_ref(cx, &field("link"), model, link)?,
        },
        F::ServerCrash {
            server,
            restart_after,
        } => FaultAction::ServerCrash {
            restart_after: restart_after
                .as_ref()
                .map(|d| cx.dist(&field("restart_after"), d)),
            server: server_ref(cx, &field("server"), names, server)?,
        },
        F::ServerRestart { server } => {
            FaultAction::ServerRestart(server_ref(cx, &field("server"), names, server)?)
        }
        F::ClientCrash {
            client,
            restart_after,
        } => FaultAction::ClientCrash {
            restart_after: restart_after
                .as_ref()
                .map(|d| cx.dist(&field("restart_after"), d)),
            client: client_ref(cx, &field("client"), names, client)?,
        },
        F::ClientRestart { client } => {
            FaultAction::ClientRestart(client_ref(cx, &field("client"), names, client)?)
        }
        F::ClientNetworkLoss { client, duration } => FaultAction::ClientNetworkLoss {
            duration: cx.dist(&field("duration"), duration),
            client: client_ref(cx, &field("client"), names, client)?,
        },
        F::LatencySpike {
            link,
            extra,
            duration,
        } => FaultAction::LatencySpike {
            extra: cx.dist(&field("extra"), extra),
            duration: cx.dist(&field("duration"), duration),
            link: link_ref(cx, &field("link"), model, link)?,
        },
    })
}

fn expectations(cx: &mut Ctx, s: &Scenario, model: &mut Model, names: &Names) {
    for (i, e) in s.expect.iter().enumerate() {
        let path = format!("expect[{i}]");
        let check = match e {
            ExpectFile::Receives {
                client,
                stanza: text,
                from,
                until,
            }
            | ExpectFile::ReceivesNone {
                client,
                stanza: text,
                from,
                until,
            } => {
                let client = client_ref(cx, &format!("{path}.client"), names, client);
                let el = stanza(cx, &format!("{path}.stanza"), text);
                let from = cx.instant(&format!("{path}.from"), from);
                let until = cx.dur(&format!("{path}.until"), until);
                if from > until {
                    cx.problem(&path, "`from` is after `until`");
                }
                let (Some(client), Some(stanza)) = (client, el) else {
                    continue;
                };
                if matches!(e, ExpectFile::Receives { .. }) {
                    Check::Receives {
                        client,
                        stanza,
                        from,
                        until,
                    }
                } else {
                    Check::ReceivesNone {
                        client,
                        stanza,
                        from,
                        until,
                    }
                }
            }
            ExpectFile::View {
                client,
                contact,
                at,
                is,
            } => {
                let client = client_ref(cx, &format!("{path}.client"), names, client);
                let at = cx.instant(&format!("{path}.at"), at);
                let Some(jid) = Jid::new(contact).ok().filter(|j| j.resource().is_some()) else {
                    cx.problem(
                        &format!("{path}.contact"),
                        format!("'{contact}' is not a full JID (user@domain/resource)"),
                    );
                    continue;
                };
                // A contact of no domain of the scenario is never seen, and
                // `Unavailable` would hold for it whatever happens.
                let domain = jid.domain().as_str();
                if server_index(model, domain).is_none() && !model.mucs.iter().any(|m| m == domain)
                {
                    cx.problem(
                        &format!("{path}.contact"),
                        format!("no server or MUC service has the domain '{domain}'"),
                    );
                    continue;
                }
                let Some(client) = client else { continue };
                let expect = match is {
                    ViewFile::Unavailable => ViewExpect::Unavailable,
                    ViewFile::Available {
                        show,
                        status,
                        annotation,
                    } => ViewExpect::Available {
                        show: show.clone(),
                        status: status.clone(),
                        annotation: annotation.as_deref().and_then(|a| {
                            let known = match a {
                                "none" => Some(None),
                                "server-unavailable" => Some(Some("server-unavailable")),
                                "connection-paused" => Some(Some("connection-paused")),
                                _ => None,
                            };
                            if known.is_none() {
                                cx.problem(
                                    &format!("{path}.is.annotation"),
                                    format!("'{a}' is not one of none, server-unavailable, connection-paused"),
                                );
                            }
                            known
                        }),
                    },
                };
                Check::View {
                    client,
                    contact: contact.clone(),
                    at,
                    expect,
                }
            }
        };
        let client = match &check {
            Check::Receives { client, .. }
            | Check::ReceivesNone { client, .. }
            | Check::View { client, .. } => *client,
        };
        model.clients[client].record = true;
        model.expectations.push(Expectation { label: path, check });
    }
}
