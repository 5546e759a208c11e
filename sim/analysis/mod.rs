//! Stale presence and XEP-0310 annotations, computed from a trace alone
//! (docs/analysis.md has the definitions and the decisions taken where
//! DESIGN.md leaves a choice).
//!
//! The trace is read once, in order. The analysis keeps, per session, its
//! truth; per observer and contact, the view and whether the observer is
//! entitled to it; and per pair that is stale right now, the interval
//! being built. Memory grows with the number of pairs and intervals, not
//! with the length of the trace.
//!
//! - **Truth(E)**: the `truth` records of session E.
//! - **View(O, E)**: the `view` records of observer O about E; empty when
//!   O's session is (re)bound.
//! - **Entitled(O, E)**: O's user has a `to`/`both` subscription to E's
//!   user (`roster` and `subscription` records at O's server), or both are
//!   the same user, or E sent O directed presence (`directed` records).
//! - **Stale**: O's session is active (bound and available), O is entitled,
//!   and View(O, E) differs from Truth(E) in availability, show or status.
//!   Intervals no longer than the lag threshold are propagation lag,
//!   counted apart.
//! - **Leak**: O's session is active, O is not entitled, and View(O, E)
//!   shows E available for longer than the lag threshold.

pub mod chart;
pub mod read;
mod record;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use rustc_hash::{FxHashMap, FxHashSet};

use read::{Line, TraceError, TraceInfo};
pub use report::{Cause, Interval, Leak, Mark, MarkKind, NotConverged, Outage, Report};

/// Parameters of the analysis.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Stale intervals (and leaks) no longer than this are propagation lag.
    pub lag_threshold: u64,
    /// Convergence is checked this long after the last fault healed.
    pub settle: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lag_threshold: 1_000_000,
            settle: 60_000_000,
        }
    }
}

/// How much of a trace file to read at once: a trace of a large run is
/// hundreds of megabytes, read in a few hundred large reads rather than
/// tens of thousands of small ones.
pub const READ_BUFFER: usize = 1 << 20;

/// Analyses a trace read from `input`.
pub fn analyze(input: impl BufRead, options: Options) -> Result<Report, TraceError> {
    let mut a = Analyzer::new(options);
    let info = read::read_trace(input, |line| a.record(line))?;
    Ok(a.finish(info))
}

type Id = u32;
type Pair = (Id, Id);

#[derive(Default)]
struct Interner {
    ids: FxHashMap<String, Id>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> Id {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as Id;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn name(&self, id: Id) -> &str {
        &self.names[id as usize]
    }
}

/// Availability, show and status: what staleness compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Presence {
    available: bool,
    show: Option<String>,
    status: Option<String>,
}

impl Presence {
    fn of(line: &Line) -> Presence {
        let available = line.available.unwrap_or(false);
        Presence {
            available,
            show: line.show.as_deref().filter(|_| available).map(String::from),
            status: line
                .status
                .as_deref()
                .filter(|_| available)
                .map(String::from),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct View {
    presence: Presence,
    annotation: Option<String>,
}

struct SessionInfo {
    user: Id,
    /// The server node it is bound at.
    server: Id,
    domain: Id,
    client: Option<Id>,
    /// Bound at its server (a paused session is still bound).
    bound: bool,
    /// Opted in to XEP-0310 annotations.
    psa: bool,
}

/// A stale interval being built.
struct Open {
    start: u64,
    cause: Cause,
    annotated_since: Option<u64>,
    /// Closed annotated parts, `[from, to)`.
    annotated_spans: Vec<[u64; 2]>,
    /// The observer's server could know the view is stale.
    knowable: bool,
}

struct Analyzer {
    options: Options,
    names: Interner,
    sessions: FxHashMap<Id, SessionInfo>,
    /// Bound sessions of each user.
    user_sessions: FxHashMap<Id, BTreeSet<Id>>,
    /// Users subscribed to each contact, and contacts each user is
    /// subscribed to, as the contact's server records it (`from`/`both`
    /// on the contact's roster): the contact's consent decides.
    subscribers: FxHashMap<Id, BTreeSet<Id>>,
    following: FxHashMap<Id, BTreeSet<Id>>,
    truth: FxHashMap<Id, Presence>,
    views: FxHashMap<Pair, View>,
    /// Observers holding a view of each contact, and the reverse.
    viewers: FxHashMap<Id, BTreeSet<Id>>,
    viewed: FxHashMap<Id, BTreeSet<Id>>,
    /// Per session, its privacy list's decisions about presence to
    /// (`true`) or from (`false`) a JID: denied or not (`privacy` records).
    privacy: FxHashMap<Id, FxHashMap<(Id, bool), bool>>,
    /// Directed presence: (sender, target as addressed).
    directed: FxHashSet<Pair>,
    directed_to: FxHashMap<Id, BTreeSet<Id>>,
    /// Stale intervals and leaks still open, by (observer, contact); hash
    /// maps, iterated into an output only sorted.
    open: FxHashMap<Pair, Open>,
    open_leaks: FxHashMap<Pair, u64>,
    /// The contacts of each observer with a stale interval open.
    open_of: FxHashMap<Id, Vec<Id>>,
    // Conditions that make presence go stale.
    servers_down: FxHashSet<Id>,
    clients_crashed: FxHashSet<Id>,
    paused: FxHashSet<Id>,
    /// Links whose connection broke (link down, an end crashed) and has
    /// not been replaced by a new one: what is written to them is lost.
    links_broken: FxHashSet<Id>,
    /// (server node, peer domain) the server deems unavailable.
    peers_unavailable: FxHashSet<Pair>,
    /// The link between two nodes, keyed by the ordered pair of node ids.
    link_between: FxHashMap<Pair, Id>,
    /// Each client node's c2s link.
    client_link: FxHashMap<Id, Id>,
    link_up_at: FxHashMap<Id, u64>,
    restarted_at: FxHashMap<Id, u64>,
    resumed_at: FxHashMap<Id, u64>,
    /// Fault conditions in force, by (kind, target), since when.
    open_outages: BTreeMap<(&'static str, Id), u64>,
    last_fault_end: u64,
    now: u64,
    // Results.
    intervals: Vec<Interval>,
    lag: Vec<u64>,
    leaks: Vec<Leak>,
    revocation_lag: Vec<u64>,
    annotation_latency: Vec<u64>,
    clear_latency: Vec<u64>,
    spurious: u64,
    marks: Vec<Mark>,
    outages: Vec<Outage>,
}

/// `ids` in ascending order, each once: the order in which pairs are
/// evaluated (and so their intervals found).
fn in_order(mut ids: Vec<Id>) -> Vec<Id> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn ordered(a: Id, b: Id) -> Pair {
    (a.min(b), a.max(b))
}

/// `user@domain` of a full JID, and the domain.
fn bare_and_domain(jid: &str) -> (&str, &str) {
    let bare = jid.split('/').next().unwrap_or(jid);
    let domain = bare.rsplit('@').next().unwrap_or(bare);
    (bare, domain)
}

impl Analyzer {
    fn new(options: Options) -> Analyzer {
        Analyzer {
            options,
            names: Interner::default(),
            sessions: FxHashMap::default(),
            user_sessions: FxHashMap::default(),
            subscribers: FxHashMap::default(),
            following: FxHashMap::default(),
            truth: FxHashMap::default(),
            views: FxHashMap::default(),
            viewers: FxHashMap::default(),
            viewed: FxHashMap::default(),
            privacy: FxHashMap::default(),
            directed: FxHashSet::default(),
            directed_to: FxHashMap::default(),
            open: FxHashMap::default(),
            open_leaks: FxHashMap::default(),
            open_of: FxHashMap::default(),
            servers_down: FxHashSet::default(),
            clients_crashed: FxHashSet::default(),
            paused: FxHashSet::default(),
            links_broken: FxHashSet::default(),
            peers_unavailable: FxHashSet::default(),
            link_between: FxHashMap::default(),
            client_link: FxHashMap::default(),
            link_up_at: FxHashMap::default(),
            restarted_at: FxHashMap::default(),
            resumed_at: FxHashMap::default(),
            open_outages: BTreeMap::new(),
            last_fault_end: 0,
            now: 0,
            intervals: Vec::new(),
            lag: Vec::new(),
            leaks: Vec::new(),
            revocation_lag: Vec::new(),
            annotation_latency: Vec::new(),
            clear_latency: Vec::new(),
            spurious: 0,
            marks: Vec::new(),
            outages: Vec::new(),
        }
    }

    fn record(&mut self, line: &Line) -> Result<(), String> {
        self.now = line.t;
        match &*line.ev {
            "link" => self.link(line)?,
            "roster" => {
                let sub = line.need(&line.subscription, "subscription")?;
                let user = line.need(&line.user, "user")?;
                let contact = line.need(&line.contact, "contact")?;
                self.set_subscription(user, contact, sub);
            }
            "subscription" => {
                let after = line.need(&line.after, "after")?;
                let user = line.need(&line.user, "user")?;
                let contact = line.need(&line.contact, "contact")?;
                self.set_subscription(user, contact, after);
            }
            "session" => self.session(line)?,
            "truth" => self.truth(line)?,
            "view" => self.view(line)?,
            "directed" => self.directed(line)?,
            "privacy" => self.privacy(line)?,
            "link-state" => self.link_state(line)?,
            "connection-broken" => {
                let link = self.names.id(line.need(&line.link, "link")?);
                self.links_broken.insert(link);
                self.conditions_changed();
            }
            "connect" => {
                let link = self.names.id(line.need(&line.link, "link")?);
                self.links_broken.remove(&link);
            }
            "fault" => self.fault(line)?,
            "peer" => self.peer(line)?,
            "psa-enabled" => {
                let jid = self.names.id(line.need(&line.jid, "jid")?);
                if let Some(s) = self.sessions.get_mut(&jid) {
                    s.psa = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn link(&mut self, line: &Line) -> Result<(), String> {
        let name = self.names.id(line.need(&line.name, "name")?);
        let a = self.names.id(line.need(&line.a, "a")?);
        let b = self.names.id(line.need(&line.b, "b")?);
        self.link_between.insert(ordered(a, b), name);
        if line.kind.as_deref() == Some("c2s") {
            self.client_link.insert(a, name);
        }
        Ok(())
    }

    /// A roster item of `user` about `contact` at `user`'s server: with
    /// `from`/`both`, `user` lets `contact` see its presence.
    fn set_subscription(&mut self, user: &str, contact: &str, state: &str) {
        // The observer is the contact, the presence is the user's.
        let (e, o) = (self.names.id(user), self.names.id(contact));
        let from = state.starts_with("From") || state.starts_with("Both");
        let changed = if from {
            self.subscribers.entry(e).or_default().insert(o);
            self.following.entry(o).or_default().insert(e)
        } else {
            if let Some(s) = self.subscribers.get_mut(&e) {
                s.remove(&o);
            }
            self.following.get_mut(&o).is_some_and(|s| s.remove(&e))
        };
        if changed {
            let (u, c) = (o, e);
            let observers: Vec<Id> = self.sessions_of(u).collect();
            let contacts: Vec<Id> = self.sessions_of(c).collect();
            for &o in &observers {
                let mut es: BTreeSet<Id> = contacts.iter().copied().collect();
                es.extend(self.viewed_of_user(o, c));
                for e in es {
                    self.evaluate(o, e);
                }
            }
        }
    }

    /// The bound sessions of `user`, in order.
    fn sessions_of(&self, user: Id) -> impl Iterator<Item = Id> + '_ {
        self.user_sessions.get(&user).into_iter().flatten().copied()
    }

    /// Contacts of `user` that observer `o` holds a view of.
    fn viewed_of_user(&self, o: Id, user: Id) -> Vec<Id> {
        let Some(viewed) = self.viewed.get(&o) else {
            return Vec::new();
        };
        viewed
            .iter()
            .copied()
            .filter(|e| self.sessions.get(e).is_some_and(|s| s.user == user))
            .collect()
    }

    fn session(&mut self, line: &Line) -> Result<(), String> {
        let jid_text = line.need(&line.jid, "jid")?;
        let state = line.need(&line.state, "state")?;
        let node = line.need(&line.node, "node")?;
        let jid = self.names.id(jid_text);
        match state {
            "bound" => {
                let (bare, domain) = bare_and_domain(jid_text);
                let info = SessionInfo {
                    user: self.names.id(bare),
                    server: self.names.id(node),
                    domain: self.names.id(domain),
                    client: line.client.as_deref().map(|c| self.names.id(c)),
                    bound: true,
                    psa: false,
                };
                self.user_sessions.entry(info.user).or_default().insert(jid);
                self.sessions.insert(jid, info);
                self.privacy.remove(&jid);
                // A new session starts with an empty view.
                self.forget_views(jid);
                self.paused.remove(&jid);
            }
            "paused" => {
                self.paused.insert(jid);
                self.outage_begins("session-paused", jid);
                self.conditions_changed();
            }
            "resumed" => {
                self.paused.remove(&jid);
                self.resumed_at.insert(jid, line.t);
                self.outage_ends("session-paused", jid);
            }
            "ended" => {
                self.paused.remove(&jid);
                self.privacy.remove(&jid);
                self.outage_ends("session-paused", jid);
                if let Some(s) = self.sessions.get_mut(&jid) {
                    s.bound = false;
                    let user = s.user;
                    if let Some(s) = self.user_sessions.get_mut(&user) {
                        s.remove(&jid);
                    }
                }
            }
            _ => {}
        }
        if matches!(state, "bound" | "ended") {
            self.evaluate_observer(jid);
        }
        Ok(())
    }

    /// An observer sees presence while its session is bound and available
    /// (RFC 6121 §4.2: presence goes to available resources only).
    fn active(&self, o: Id) -> bool {
        self.sessions.get(&o).is_some_and(|s| s.bound) && self.truth.contains_key(&o)
    }

    fn forget_views(&mut self, o: Id) {
        for e in self.viewed.remove(&o).unwrap_or_default() {
            self.views.remove(&(o, e));
            if let Some(v) = self.viewers.get_mut(&e) {
                v.remove(&o);
            }
        }
    }

    /// Every pair in which `o` observes something it holds or may hold.
    fn evaluate_observer(&mut self, o: Id) {
        let Some(user) = self.sessions.get(&o).map(|s| s.user) else {
            return;
        };
        let mut contacts: Vec<Id> = self.viewed.get(&o).into_iter().flatten().copied().collect();
        let subscribed = self.following.get(&user).into_iter().flatten();
        for &c in subscribed.chain([&user]) {
            contacts.extend(self.sessions_of(c));
        }
        contacts.extend(self.open_of.get(&o).into_iter().flatten());
        for e in in_order(contacts) {
            if e != o {
                self.evaluate(o, e);
            }
        }
    }

    /// Every observer that may hold `e`'s presence.
    fn evaluate_contact(&mut self, e: Id) {
        let Some(user) = self.sessions.get(&e).map(|s| s.user) else {
            return;
        };
        let mut observers: Vec<Id> = self
            .viewers
            .get(&e)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let subscribers = self.subscribers.get(&user).into_iter().flatten();
        for &u in subscribers.chain([&user]) {
            observers.extend(self.sessions_of(u));
        }
        // Directed presence went to a full JID (a session) or a bare one.
        for &target in self.directed_to.get(&e).into_iter().flatten() {
            if self.sessions.contains_key(&target) {
                observers.push(target);
            }
            observers.extend(self.sessions_of(target));
        }
        for o in in_order(observers) {
            if o != e {
                self.evaluate(o, e);
            }
        }
    }

    /// A session the trace names before any server bound it (or whose
    /// binding it does not show): known by its JID alone.
    fn known_session(&mut self, id: Id, jid: &str) {
        if self.sessions.contains_key(&id) {
            return;
        }
        let (bare, domain) = bare_and_domain(jid);
        let info = SessionInfo {
            user: self.names.id(bare),
            server: self.names.id(domain),
            domain: self.names.id(domain),
            client: None,
            bound: false,
            psa: false,
        };
        self.sessions.insert(id, info);
    }

    fn truth(&mut self, line: &Line) -> Result<(), String> {
        let jid_text = line.need(&line.jid, "jid")?;
        let e = self.names.id(jid_text);
        let presence = Presence::of(line);
        self.known_session(e, jid_text);
        let was_available = self.truth.contains_key(&e);
        if presence.available {
            self.truth.insert(e, presence);
        } else {
            self.truth.remove(&e);
        }
        self.evaluate_contact(e);
        if was_available != self.truth.contains_key(&e) {
            // It starts or stops observing.
            self.evaluate_observer(e);
        }
        Ok(())
    }

    fn view(&mut self, line: &Line) -> Result<(), String> {
        let o = self.names.id(line.need(&line.observer, "observer")?);
        let e_text = line.need(&line.contact, "contact")?;
        let e = self.names.id(e_text);
        self.known_session(e, e_text);
        let view = View {
            presence: Presence::of(line),
            annotation: line.annotation.as_deref().map(String::from),
        };
        let held = self.views.get(&(o, e));
        let before = held.and_then(|v| v.annotation.clone());
        if held.is_none() {
            // A pair seen for the first time. Who views whom changes only
            // with `views`: here, and all of an observer's in
            // `forget_views`.
            self.viewers.entry(e).or_default().insert(o);
            self.viewed.entry(o).or_default().insert(e);
        }
        let annotated = view.annotation.is_some();
        let mark = match (&before, &view.annotation) {
            (None, Some(a)) => Some(MarkKind::Annotated(a.clone())),
            (Some(b), Some(a)) if a != b => Some(MarkKind::Annotated(a.clone())),
            (Some(_), None) => Some(MarkKind::Cleared),
            _ => None,
        };
        self.views.insert((o, e), view);
        if let Some(kind) = mark {
            self.marks.push(Mark {
                observer: self.names.name(o).to_string(),
                contact: e_text.to_string(),
                t: self.now,
                kind,
            });
        }
        if before.is_some() && !annotated {
            self.cleared(o, e, before.as_deref());
        }
        self.evaluate(o, e);
        if annotated && before.is_none() && !self.open.contains_key(&(o, e)) {
            // Annotated while fresh: spurious unless an outage explains it.
            if self.condition(o, e).is_none() && !self.knowable(o, e) {
                self.spurious += 1;
            }
        }
        Ok(())
    }

    /// O's view of E lost its annotation: the clear latency is measured
    /// from the heal that allowed it.
    fn cleared(&mut self, o: Id, e: Id, annotation: Option<&str>) {
        let healed = match annotation {
            Some("connection-paused") => self.resumed_at.get(&e).copied(),
            _ => self.healed_at(o, e),
        };
        if let Some(healed) = healed.filter(|h| *h <= self.now) {
            self.clear_latency.push(self.now - healed);
        }
    }

    /// When the path between O's server and E's server last came back.
    fn healed_at(&self, o: Id, e: Id) -> Option<u64> {
        let (so, se) = (self.sessions.get(&o)?, self.sessions.get(&e)?);
        let link = self.link_between.get(&ordered(so.server, se.domain));
        let up = link.and_then(|l| self.link_up_at.get(l)).copied();
        let restart = self.restarted_at.get(&se.domain).copied();
        up.max(restart)
    }

    fn directed(&mut self, line: &Line) -> Result<(), String> {
        let from = self.names.id(line.need(&line.from, "from")?);
        let to = self.names.id(line.need(&line.to, "to")?);
        if line.available == Some(true) {
            self.directed.insert((from, to));
            self.directed_to.entry(from).or_default().insert(to);
        } else {
            self.directed.remove(&(from, to));
            if let Some(t) = self.directed_to.get_mut(&from) {
                t.remove(&to);
            }
        }
        let mut observers = vec![to];
        observers.extend(self.sessions_of(to));
        for o in observers {
            if o != from && self.sessions.contains_key(&o) {
                self.evaluate(o, from);
            }
        }
        Ok(())
    }

    /// A `privacy` record: what session `jid`'s privacy list decides
    /// about presence to or from `contact` (block lists included).
    fn privacy(&mut self, line: &Line) -> Result<(), String> {
        let session = self.names.id(line.need(&line.jid, "jid")?);
        let contact = self.names.id(line.need(&line.contact, "contact")?);
        let outbound = match line.need(&line.flow, "flow")? {
            "presence-out" => true,
            "presence-in" => false,
            other => return Err(format!("unknown privacy flow '{other}'")),
        };
        let denied = line
            .denied
            .ok_or_else(|| "'privacy' record without 'denied'".to_string())?;
        self.privacy
            .entry(session)
            .or_default()
            .insert((contact, outbound), denied);
        if outbound {
            self.evaluate_contact(session);
        } else {
            self.evaluate_observer(session);
        }
        Ok(())
    }

    /// Session `e`'s privacy list denies its presence to `to` (a JID as
    /// presence is addressed to it: a subscriber's bare JID or a directed
    /// recipient).
    fn denied_out(&self, e: Id, to: Id) -> bool {
        self.privacy
            .get(&e)
            .and_then(|p| p.get(&(to, true)))
            .copied()
            .unwrap_or(false)
    }

    /// O's privacy list refuses E's presence (its own record, else its
    /// bare JID's): O's choice, so what O holds of E is neither stale nor
    /// a leak.
    fn observer_refuses(&self, o: Id, e: Id) -> bool {
        let Some(p) = self.privacy.get(&o) else {
            return false;
        };
        let bare = self.sessions.get(&e).map(|s| s.user);
        p.get(&(e, false))
            .or_else(|| bare.and_then(|b| p.get(&(b, false))))
            .copied()
            .unwrap_or(false)
    }

    fn link_state(&mut self, line: &Line) -> Result<(), String> {
        let link = self.names.id(line.need(&line.link, "link")?);
        match line.need(&line.state, "state")? {
            "down" => {
                self.links_broken.insert(link);
                self.outage_begins("link-down", link);
            }
            _ => {
                self.link_up_at.insert(link, line.t);
                self.last_fault_end = self.last_fault_end.max(line.t);
                self.outage_ends("link-down", link);
            }
        }
        self.conditions_changed();
        Ok(())
    }

    fn fault(&mut self, line: &Line) -> Result<(), String> {
        let fault = line.need(&line.fault, "fault")?;
        let target = self.names.id(line.need(&line.target, "target")?);
        let end = line.t + line.duration.unwrap_or(0);
        self.last_fault_end = self.last_fault_end.max(end);
        match fault {
            "server-crash" => {
                self.servers_down.insert(target);
                self.outage_begins("server-down", target);
            }
            "server-restart" => {
                self.servers_down.remove(&target);
                self.restarted_at.insert(target, line.t);
                self.outage_ends("server-down", target);
            }
            "client-crash" => {
                self.clients_crashed.insert(target);
                self.outage_begins("client-crash", target);
            }
            "client-restart" => {
                self.clients_crashed.remove(&target);
                self.outage_ends("client-crash", target);
            }
            "latency-spike" => {
                self.outage_begins("latency-spike", target);
                self.outage_ends_at("latency-spike", target, end);
            }
            _ => {}
        }
        self.conditions_changed();
        Ok(())
    }

    fn peer(&mut self, line: &Line) -> Result<(), String> {
        let node = self.names.id(line.need(&line.node, "node")?);
        let peer = self.names.id(line.need(&line.peer, "peer")?);
        match line.need(&line.state, "state")? {
            "unavailable" => {
                self.peers_unavailable.insert((node, peer));
            }
            "established" => {
                self.peers_unavailable.remove(&(node, peer));
            }
            _ => {}
        }
        self.conditions_changed();
        Ok(())
    }

    /// A fault condition (kind, target) comes into force now.
    fn outage_begins(&mut self, kind: &'static str, target: Id) {
        self.open_outages.entry((kind, target)).or_insert(self.now);
    }

    fn outage_ends(&mut self, kind: &'static str, target: Id) {
        self.outage_ends_at(kind, target, self.now);
    }

    fn outage_ends_at(&mut self, kind: &'static str, target: Id, end: u64) {
        if let Some(start) = self.open_outages.remove(&(kind, target)) {
            self.outages.push(Outage {
                kind,
                target: self.names.name(target).to_string(),
                start,
                end,
            });
        }
    }

    /// A fault condition changed: open intervals of unknown cause may now
    /// have one, and the observer's server may now know.
    fn conditions_changed(&mut self) {
        // Each interval is updated on its own: the order does not matter.
        let pairs: Vec<Pair> = self.open.keys().copied().collect();
        for (o, e) in pairs {
            let condition = self.condition(o, e);
            let knowable = self.knowable(o, e);
            let open = self.open.get_mut(&(o, e)).expect("open");
            // A cause appears: an interval that began as propagation had
            // its update caught by the fault; a connection loss of the
            // contact that its server then pauses is a paused session.
            match (open.cause, condition) {
                (Cause::Propagation, Some(c)) => open.cause = c,
                (Cause::LinkDown, Some(Cause::PausedSession)) => open.cause = Cause::PausedSession,
                _ => {}
            }
            open.knowable |= knowable;
        }
    }

    /// The fault condition that keeps E's presence from O, if any.
    fn condition(&self, o: Id, e: Id) -> Option<Cause> {
        let se = self.sessions.get(&e)?;
        let so = self.sessions.get(&o)?;
        if self.servers_down.contains(&se.domain) {
            return Some(Cause::ServerDown);
        }
        if se.client.is_some_and(|c| self.clients_crashed.contains(&c)) {
            return Some(Cause::Crash);
        }
        if self.paused.contains(&e) || self.paused.contains(&o) {
            return Some(Cause::PausedSession);
        }
        // The contact's own connection, or the observer's.
        let c2s_down = [se.client, so.client]
            .into_iter()
            .flatten()
            .filter_map(|c| self.client_link.get(&c))
            .any(|l| self.links_broken.contains(l));
        let s2s_down = so.server != se.domain
            && (self
                .link_between
                .get(&ordered(so.server, se.domain))
                .is_some_and(|l| self.links_broken.contains(l))
                || self.peers_unavailable.contains(&(so.server, se.domain))
                || self.peers_unavailable.contains(&(se.domain, so.domain)));
        (c2s_down || s2s_down).then_some(Cause::LinkDown)
    }

    /// Whether O's server could know that what O holds of E may be stale:
    /// it deems E's server unavailable, or E's session is paused.
    fn knowable(&self, o: Id, e: Id) -> bool {
        let (Some(so), Some(se)) = (self.sessions.get(&o), self.sessions.get(&e)) else {
            return false;
        };
        self.paused.contains(&e) || self.peers_unavailable.contains(&(so.server, se.domain))
    }

    fn entitled(&self, o: Id, e: Id) -> bool {
        let (Some(so), Some(se)) = (self.sessions.get(&o), self.sessions.get(&e)) else {
            return false;
        };
        let subscribed = self
            .following
            .get(&so.user)
            .is_some_and(|c| c.contains(&se.user));
        so.user == se.user
            || (subscribed && !self.denied_out(e, so.user))
            || (self.directed.contains(&(e, o)) && !self.denied_out(e, o))
            || (self.directed.contains(&(e, so.user)) && !self.denied_out(e, so.user))
    }

    /// Re-evaluates the pair (O, E) now: opens or closes a stale interval
    /// or a leak, and follows the annotation on O's view.
    fn evaluate(&mut self, o: Id, e: Id) {
        let active = self.active(o);
        let entitled = self.entitled(o, e);
        let unavailable = View::default();
        let view = self.views.get(&(o, e)).unwrap_or(&unavailable);
        let truth = self.truth.get(&e).unwrap_or(&unavailable.presence);
        let active = active && !self.observer_refuses(o, e);
        let stale = active && entitled && view.presence != *truth;
        let leaking = active && !entitled && view.presence.available;
        let annotated = view.annotation.is_some();
        let now = self.now;
        match (self.open.get_mut(&(o, e)), stale) {
            (None, true) => {
                let open = Open {
                    start: now,
                    cause: self.condition(o, e).unwrap_or(Cause::Propagation),
                    annotated_since: annotated.then_some(now),
                    annotated_spans: Vec::new(),
                    knowable: self.knowable(o, e),
                };
                self.open.insert((o, e), open);
                self.open_of.entry(o).or_default().push(e);
            }
            (Some(open), true) => match (open.annotated_since, annotated) {
                (None, true) => open.annotated_since = Some(now),
                (Some(since), false) => {
                    open.annotated_spans.push([since, now]);
                    open.annotated_since = None;
                }
                _ => {}
            },
            (Some(_), false) => self.close(o, e),
            (None, false) => {}
        }
        match (self.open_leaks.get(&(o, e)), leaking) {
            (None, true) => {
                self.open_leaks.insert((o, e), now);
            }
            (Some(_), false) => self.close_leak(o, e),
            _ => {}
        }
    }

    fn close(&mut self, o: Id, e: Id) {
        let Some(mut open) = self.open.remove(&(o, e)) else {
            return;
        };
        if let Some(contacts) = self.open_of.get_mut(&o) {
            if let Some(at) = contacts.iter().position(|c| *c == e) {
                contacts.swap_remove(at);
            }
        }
        let now = self.now;
        if let Some(since) = open.annotated_since {
            open.annotated_spans.push([since, now]);
        }
        let duration = now - open.start;
        if duration <= self.options.lag_threshold {
            self.lag.push(duration);
            return;
        }
        let first_annotated = open.annotated_spans.first().map(|s| s[0]);
        if let Some(first) = first_annotated {
            self.annotation_latency.push(first - open.start);
        }
        let opted_in = self.sessions.get(&o).is_some_and(|s| s.psa);
        self.intervals.push(Interval {
            observer: self.names.name(o).to_string(),
            contact: self.names.name(e).to_string(),
            start: open.start,
            end: now,
            duration,
            cause: open.cause,
            annotated_at: first_annotated,
            annotated: open.annotated_spans.iter().map(|s| s[1] - s[0]).sum(),
            annotated_spans: open.annotated_spans,
            server_could_know: open.knowable,
            observer_opted_in: opted_in,
        });
    }

    fn close_leak(&mut self, o: Id, e: Id) {
        let Some(start) = self.open_leaks.remove(&(o, e)) else {
            return;
        };
        let duration = self.now - start;
        if duration <= self.options.lag_threshold {
            self.revocation_lag.push(duration);
            return;
        }
        self.leaks.push(Leak {
            observer: self.names.name(o).to_string(),
            contact: self.names.name(e).to_string(),
            start,
            end: self.now,
        });
    }

    fn finish(mut self, info: TraceInfo) -> Report {
        self.now = info.end;
        let not_converged = self.convergence(&info);
        let mut pairs: Vec<Pair> = self.open.keys().copied().collect();
        pairs.sort_unstable();
        for (o, e) in pairs {
            self.close(o, e);
        }
        let mut leaks: Vec<Pair> = self.open_leaks.keys().copied().collect();
        leaks.sort_unstable();
        for (o, e) in leaks {
            self.close_leak(o, e);
        }
        let outages: Vec<(&'static str, Id)> = self.open_outages.keys().copied().collect();
        for (kind, target) in outages {
            self.outage_ends(kind, target);
        }
        let settle_at = self.last_fault_end + self.options.settle;
        report::build(report::Parts {
            info,
            options: self.options,
            pairs: self.views.len() as u64,
            intervals: self.intervals,
            lag: self.lag,
            leaks: self.leaks,
            revocation_lag: self.revocation_lag,
            annotation_latency: self.annotation_latency,
            clear_latency: self.clear_latency,
            spurious: self.spurious,
            marks: self.marks,
            outages: self.outages,
            settle_at,
            not_converged,
        })
    }

    /// Pairs whose view differs from the truth, or is still annotated, at
    /// the end of the trace; `None` if the trace ends before the settle time.
    fn convergence(&self, info: &TraceInfo) -> Option<Vec<NotConverged>> {
        if info.end < self.last_fault_end + self.options.settle {
            return None;
        }
        // Still stale, or still annotated. A pair stale no longer than the
        // lag threshold has an update in flight, not a failure to converge.
        let mut pairs: BTreeSet<Pair> = self
            .open
            .iter()
            .filter(|(_, open)| info.end - open.start > self.options.lag_threshold)
            .map(|(p, _)| *p)
            .collect();
        pairs.extend(
            self.views
                .iter()
                .filter(|(&(o, _), v)| self.active(o) && v.annotation.is_some())
                .map(|(p, _)| *p),
        );
        let describe = |p: &Presence| {
            if !p.available {
                return "unavailable".to_string();
            }
            let mut s = "available".to_string();
            for part in [&p.show, &p.status].into_iter().flatten() {
                s.push_str(&format!(" '{part}'"));
            }
            s
        };
        let failures = pairs.into_iter().map(|(o, e)| {
            let view = self.views.get(&(o, e)).cloned().unwrap_or_default();
            let truth = self.truth.get(&e).cloned().unwrap_or_default();
            NotConverged {
                observer: self.names.name(o).to_string(),
                contact: self.names.name(e).to_string(),
                view: describe(&view.presence),
                truth: describe(&truth),
                annotation: view.annotation,
            }
        });
        Some(failures.collect())
    }
}
