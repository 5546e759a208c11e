//! The no-leak property (DESIGN.md): whatever users do (subscribe and
//! unsubscribe, change presence, block and unblock, edit, activate and
//! remove privacy lists, go invisible and visible, send directed
//! presence, log out and back in), no observer ever
//! holds an available view of a contact who is not entitled to show it to
//! them for longer than the lag threshold.
//!
//! Each case is a random sequence of actions by three users on two
//! federated servers, one action a second, run on the simulator. The
//! analysis follows every record of the trace, so a leak at any moment
//! between two steps is found, not only at the end; proptest shrinks a
//! failing sequence to a minimal one.

#[path = "support/proptest_seed.rs"]
mod proptest_seed;

use proptest::prelude::*;

use presim::analysis::{self, Options};
use presim::{run, scenario};

const USERS: [&str; 3] = ["u0@a.lit", "u1@a.lit", "u2@b.lit"];

#[derive(Debug, Clone)]
enum Action {
    Subscribe(usize, usize),
    Unsubscribe(usize, usize),
    /// Revokes the other's subscription (`unsubscribed`).
    Revoke(usize, usize),
    Presence(usize, &'static str),
    Unavailable(usize),
    Block(usize, usize),
    BlockDomain(usize, usize),
    Unblock(usize, usize),
    UnblockAll(usize),
    Invisible(usize),
    Visible(usize),
    Directed(usize, usize),
    DirectedUnavailable(usize, usize),
    Logout(usize),
    Login(usize),
    /// Sets privacy list 'p' to one rule and makes it the active list.
    PrivacyList(usize, Rule),
    /// Makes 'p' the default list.
    PrivacyDefault(usize),
    /// Declines the active list.
    PrivacyDecline(usize),
    /// Removes list 'p'.
    PrivacyRemove(usize),
}

/// One privacy-list item: whom it matches, which stanzas, allow or deny.
#[derive(Debug, Clone)]
struct Rule {
    matches: Matches,
    stanzas: &'static str,
    allow: bool,
}

#[derive(Debug, Clone)]
enum Matches {
    Jid(usize),
    Domain(usize),
    Subscription(&'static str),
    Everyone,
}

impl Rule {
    fn item(&self) -> String {
        let what = match &self.matches {
            Matches::Jid(u) => format!(" type='jid' value='{}'", USERS[*u]),
            Matches::Domain(u) => format!(" type='jid' value='{}'", domain(*u)),
            Matches::Subscription(s) => format!(" type='subscription' value='{s}'"),
            Matches::Everyone => String::new(),
        };
        let action = if self.allow { "allow" } else { "deny" };
        format!(
            "<item{what} action='{action}' order='1'>{}</item>",
            self.stanzas
        )
    }
}

fn privacy(query: &str) -> String {
    format!("Send(\"<iq type='set' id='p'><query xmlns='jabber:iq:privacy'>{query}</query></iq>\")")
}

fn domain(u: usize) -> &'static str {
    USERS[u].split('@').nth(1).unwrap()
}

fn blocking(kind: &str, item: Option<&str>) -> String {
    let item = item
        .map(|j| format!("<item jid='{j}'/>"))
        .unwrap_or_default();
    format!(
        "Send(\"<iq type='set' id='b'><{kind} xmlns='urn:xmpp:blocking'>{item}</{kind}></iq>\")"
    )
}

fn invisibility(kind: &str) -> String {
    format!("Send(\"<iq type='set' id='i'><{kind} xmlns='http://jabber.org/protocol/invisibility'/></iq>\")")
}

impl Action {
    /// The acting user and the scenario's script actions.
    fn script(&self) -> (usize, Vec<String>) {
        match self {
            Action::PrivacyList(a, rule) => {
                let list = format!("<list name='p'>{}</list>", rule.item());
                (*a, vec![privacy(&list), privacy("<active name='p'/>")])
            }
            Action::PrivacyDefault(a) => (*a, vec![privacy("<default name='p'/>")]),
            Action::PrivacyDecline(a) => (*a, vec![privacy("<active/>")]),
            Action::PrivacyRemove(a) => (*a, vec![privacy("<list name='p'/>")]),
            _ => {
                let (user, action) = self.single();
                (user, vec![action])
            }
        }
    }

    /// The acting user and the script action of the other actions.
    fn single(&self) -> (usize, String) {
        let send = |xml: String| format!("Send(\"{xml}\")");
        match *self {
            Action::Subscribe(a, b) => (
                a,
                send(format!("<presence to='{}' type='subscribe'/>", USERS[b])),
            ),
            Action::Unsubscribe(a, b) => (
                a,
                send(format!("<presence to='{}' type='unsubscribe'/>", USERS[b])),
            ),
            Action::Revoke(a, b) => (
                a,
                send(format!("<presence to='{}' type='unsubscribed'/>", USERS[b])),
            ),
            Action::Presence(a, show) => {
                (a, send(format!("<presence><show>{show}</show></presence>")))
            }
            Action::Unavailable(a) => (a, send("<presence type='unavailable'/>".into())),
            Action::Block(a, b) => (a, blocking("block", Some(USERS[b]))),
            Action::BlockDomain(a, b) => (a, blocking("block", Some(domain(b)))),
            Action::Unblock(a, b) => (a, blocking("unblock", Some(USERS[b]))),
            Action::UnblockAll(a) => (a, blocking("unblock", None)),
            Action::Invisible(a) => (a, invisibility("invisible")),
            Action::Visible(a) => (a, invisibility("visible")),
            Action::Directed(a, b) => (a, send(format!("<presence to='{}'/>", USERS[b]))),
            Action::DirectedUnavailable(a, b) => (
                a,
                send(format!("<presence to='{}' type='unavailable'/>", USERS[b])),
            ),
            Action::Logout(a) => (a, "Disconnect".into()),
            Action::Login(a) => (a, "Connect".into()),
            _ => unreachable!("privacy actions are scripted by script()"),
        }
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    let matches = prop_oneof![
        (0..USERS.len()).prop_map(Matches::Jid),
        (0..USERS.len()).prop_map(Matches::Domain),
        prop::sample::select(vec!["none", "to", "from", "both"]).prop_map(Matches::Subscription),
        Just(Matches::Everyone),
    ];
    let stanzas = prop::sample::select(vec![
        "",
        "<presence-out/>",
        "<presence-in/>",
        "<presence-in/><presence-out/>",
        "<message/>",
    ]);
    (matches, stanzas, prop::bool::weighted(0.25)).prop_map(|(matches, stanzas, allow)| Rule {
        matches,
        stanzas,
        allow,
    })
}

fn action() -> impl Strategy<Value = Action> {
    let user = 0..USERS.len();
    let pair = (0..USERS.len(), 0..USERS.len()).prop_filter("two users", |(a, b)| a != b);
    prop_oneof![
        3 => pair.clone().prop_map(|(a, b)| Action::Subscribe(a, b)),
        1 => pair.clone().prop_map(|(a, b)| Action::Unsubscribe(a, b)),
        1 => pair.clone().prop_map(|(a, b)| Action::Revoke(a, b)),
        3 => (user.clone(), prop::sample::select(vec!["away", "dnd", "xa", "chat"]))
            .prop_map(|(a, show)| Action::Presence(a, show)),
        1 => user.clone().prop_map(Action::Unavailable),
        2 => pair.clone().prop_map(|(a, b)| Action::Block(a, b)),
        1 => pair.clone().prop_map(|(a, b)| Action::BlockDomain(a, b)),
        2 => pair.clone().prop_map(|(a, b)| Action::Unblock(a, b)),
        1 => user.clone().prop_map(Action::UnblockAll),
        2 => user.clone().prop_map(Action::Invisible),
        2 => user.clone().prop_map(Action::Visible),
        2 => pair.clone().prop_map(|(a, b)| Action::Directed(a, b)),
        1 => pair.prop_map(|(a, b)| Action::DirectedUnavailable(a, b)),
        1 => user.clone().prop_map(Action::Logout),
        1 => user.clone().prop_map(Action::Login),
        3 => (user.clone(), rule()).prop_map(|(a, r)| Action::PrivacyList(a, r)),
        1 => user.clone().prop_map(Action::PrivacyDefault),
        1 => user.clone().prop_map(Action::PrivacyDecline),
        1 => user.prop_map(Action::PrivacyRemove),
    ]
}

/// A scenario: the three users' clients connect at 1 s, then one action a
/// second from 2 s, and 5 s more to let the last one settle.
fn scenario_text(actions: &[Action]) -> String {
    let script: Vec<String> = actions
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            let (user, actions) = a.script();
            actions.into_iter().map(move |action| {
                format!(
                    "(at: \"{}s\", client: \"c{user}\", action: {action})",
                    i + 2
                )
            })
        })
        .collect();
    let clients: Vec<String> = USERS
        .iter()
        .enumerate()
        .map(|(i, u)| format!("(name: \"c{i}\", jid: \"{u}/r\", connect_at: \"1s\")"))
        .collect();
    let users: Vec<String> = USERS.iter().map(|u| format!("(jid: \"{u}\")")).collect();
    format!(
        "Scenario(name: \"no_leak\", seed: 1, duration: \"{}s\",
            defaults: (c2s: (latency: Constant(\"5ms\")), s2s: (latency: Constant(\"10ms\")),
                       behaviour: (reconnect_after: None)),
            servers: [(domain: \"a.lit\"), (domain: \"b.lit\")],
            users: [{}],
            clients: [{}],
            script: [{}])",
        actions.len() + 7,
        users.join(", "),
        clients.join(", "),
        script.join(", ")
    )
}

/// Runs the actions and returns the leaks the analysis found.
fn leaks(actions: &[Action]) -> Vec<String> {
    let text = scenario_text(actions);
    let model = scenario::load("no_leak.ron", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let (result, trace) = run::run_captured(&model);
    assert!(result.failures.is_empty(), "{:?}", result.failures);
    let report = analysis::analyze(trace.as_slice(), Options::default()).unwrap();
    report
        .leaks
        .iter()
        .map(|l| {
            format!(
                "{} saw {} from {} to {}",
                l.observer, l.contact, l.start, l.end
            )
        })
        .collect()
}

proptest! {
    // The same cases on every run (support/proptest_seed.rs).
    #![proptest_config(proptest_seed::fixed_seed(256, 20_261_121))]

    #[test]
    fn no_observer_holds_presence_it_is_not_entitled_to(actions in prop::collection::vec(action(), 1..24)) {
        let found = leaks(&actions);
        prop_assert!(found.is_empty(), "leaks: {found:?}");
    }
}

#[test]
fn the_property_sees_a_block_take_effect() {
    // u0 and u1 subscribe to each other; u0 blocks u1, changes presence,
    // unblocks: no leak, and u1's view follows (checked by the analysis:
    // no leak while blocked, no stale interval left after the unblock).
    let actions = [
        Action::Subscribe(0, 1),
        Action::Subscribe(1, 0),
        Action::Block(0, 1),
        Action::Presence(0, "away"),
        Action::Unblock(0, 1),
        Action::Invisible(0),
        Action::Directed(0, 2),
        Action::Visible(0),
        Action::Presence(0, "chat"),
    ];
    assert_eq!(leaks(&actions), Vec::<String>::new());
}
