//! Populations: N generated users per server with mutual (`both`) rosters,
//! a share of them remote, each with one client following a behaviour.
//!
//! Users are `PREFIX<i>@SERVER`, clients are named `PREFIX<i>@SERVER` too.
//! Rosters are drawn from the stream `population:<index>` of the seed:
//! for each user in order, contacts are added until its drawn roster size
//! is reached, picking remote users (of other populations' servers) with
//! probability `remote_share`; a pick that is the user itself, already a
//! contact, or full is retried a few times and then skipped, so sizes are
//! targets, not guarantees.
//!
//! A population is bounded so that a typo cannot ask for more memory than
//! a machine has: at most [`MAX_USERS`] generated users in all, at most
//! [`MAX_ROSTER_SIZE`] contacts per user, and at most
//! [`MAX_ROSTER_ITEMS`] roster items in all (users × the largest roster
//! size, summed over populations; each item costs a few hundred bytes in
//! the engine and the agents).

use presim_engine::jid::BareJid;
use presim_engine::roster::{RosterItem, Subscription};
use rustc_hash::FxHashSet;

use super::compile::{add_client, server_index, Ctx, DefaultModels, NodeNames};
use super::file::{CountFile, Scenario};
use crate::model::{AccountSpec, ClientSpec, Model};
use crate::rng::{self, Rng};

/// Generated users over all populations.
pub const MAX_USERS: usize = 1_000_000;
/// Contacts of one generated user.
pub const MAX_ROSTER_SIZE: usize = 10_000;
/// Roster items over all populations.
pub const MAX_ROSTER_ITEMS: usize = 20_000_000;

struct Member {
    server: usize,
    user: String,
    /// `user@domain`, checked once here and cloned into every roster that
    /// lists the user.
    jid: BareJid,
    target: usize,
    contacts: Vec<usize>,
}

pub(super) fn generate(
    cx: &mut Ctx,
    s: &Scenario,
    model: &mut Model,
    names: &mut NodeNames,
    defaults: &DefaultModels,
) {
    let mut members: Vec<Member> = Vec::new();
    let listed: Vec<std::collections::BTreeSet<String>> = model
        .servers
        .iter()
        .map(|s| s.accounts.iter().map(|a| a.user.clone()).collect())
        .collect();
    let mut valid = Vec::new();
    if !within_limits(cx, s) {
        return;
    }
    for (p, pop) in s.populations.iter().enumerate() {
        let path = format!("populations[{p}]");
        let Some(server) = server_index(model, &pop.server) else {
            cx.problem(
                &format!("{path}.server"),
                format!("no server is named '{}'", pop.server),
            );
            continue;
        };
        if !(0.0..=1.0).contains(&pop.remote_share) {
            cx.problem(&format!("{path}.remote_share"), "must be between 0 and 1");
        }
        if let CountFile::Uniform { min, max } = pop.roster_size {
            if min > max {
                cx.problem(&format!("{path}.roster_size"), "min is greater than max");
            }
        }
        if pop.users == 0 {
            cx.problem(&format!("{path}.users"), "must be at least 1");
        }
        if pop.prefix.is_empty()
            || BareJid::new(&format!("{}0@{}", pop.prefix, pop.server)).is_err()
        {
            cx.problem(
                &format!("{path}.prefix"),
                format!("'{}' does not make valid user names", pop.prefix),
            );
            continue;
        }
        let mut stream = rng::stream(model.seed, &format!("population:{p}"));
        for i in 0..pop.users {
            let user = format!("{}{i}", pop.prefix);
            if listed[server].contains(&user) {
                cx.problem(
                    &path,
                    format!("user '{user}@{}' is defined twice", pop.server),
                );
                break;
            }
            let domain = &model.servers[server].config.domain;
            let jid = match BareJid::new(&format!("{user}@{domain}")) {
                Ok(jid) => jid,
                Err(e) => {
                    cx.problem(
                        &format!("{path}.prefix"),
                        format!(
                            "the name of user {i} (the prefix followed by '{i}', at '{domain}') \
                             is not a valid JID: {e}"
                        ),
                    );
                    break;
                }
            };
            let target = match pop.roster_size {
                CountFile::Constant(n) => n,
                CountFile::Uniform { min, max } if min <= max => stream.random_range(min..=max),
                CountFile::Uniform { .. } => 0,
            };
            members.push(Member {
                server,
                user,
                jid,
                target,
                contacts: Vec::new(),
            });
            valid.push(p);
        }
    }
    if !cx_ok(cx) {
        return;
    }
    link_rosters(s, model.seed, &mut members, &valid);
    for (m, &p) in members.iter().zip(&valid) {
        let pop = &s.populations[p];
        let roster = m
            .contacts
            .iter()
            .map(|&c| (members[c].jid.clone(), RosterItem::new(Subscription::Both)))
            .collect();
        model.servers[m.server].accounts.push(AccountSpec {
            user: m.user.clone(),
            password: pop.password.clone(),
            roster,
        });
    }
    let compiled: Vec<_> = s
        .populations
        .iter()
        .enumerate()
        .map(|(p, pop)| {
            let path = format!("populations[{p}]");
            let login = cx.dist(&format!("{path}.login"), &pop.login);
            let behaviour = match &pop.behaviour {
                Some(b) => cx.behaviour(&format!("{path}.behaviour"), b),
                None => defaults.behaviour.clone(),
            };
            let link = match &pop.link {
                Some(l) => cx.link_model(&format!("{path}.link"), l),
                None => defaults.c2s.clone(),
            };
            (login, behaviour, link)
        })
        .collect();
    for (m, &p) in members.iter().zip(&valid) {
        let pop = &s.populations[p];
        let path = format!("populations[{p}]");
        let name = format!("{}@{}", m.user, pop.server);
        let mut login = rng::stream(model.seed, &format!("login:{name}"));
        let (login_dist, behaviour, link) = &compiled[p];
        if names.nodes.contains_key(&name) {
            cx.problem(&path, format!("node name '{name}' is used twice"));
            return;
        }
        add_client(
            model,
            names,
            ClientSpec {
                name,
                user: m.user.clone(),
                server: m.server,
                password: pop.password.clone(),
                resource: Some("sim".to_string()),
                features: pop.features.clone(),
                behaviour: behaviour.clone(),
                connect_at: Some(login_dist.sample(&mut login)),
                record: false,
            },
            link.clone(),
        );
    }
}

fn cx_ok(cx: &Ctx) -> bool {
    cx.is_clean()
}

/// Checks the sizes against the module's limits before anything is
/// generated; says which field is too large and by how much.
fn within_limits(cx: &mut Ctx, s: &Scenario) -> bool {
    let mut users = 0usize;
    let mut items = 0usize;
    let mut ok = true;
    for (p, pop) in s.populations.iter().enumerate() {
        let path = format!("populations[{p}]");
        if pop.users > MAX_USERS {
            cx.problem(
                &format!("{path}.users"),
                format!(
                    "{} users is more than the {MAX_USERS} a run can generate",
                    pop.users
                ),
            );
            ok = false;
        }
        let largest = match pop.roster_size {
            CountFile::Constant(n) => n,
            CountFile::Uniform { min, max } => min.max(max),
        };
        if largest > MAX_ROSTER_SIZE {
            cx.problem(
                &format!("{path}.roster_size"),
                format!("{largest} contacts is more than the {MAX_ROSTER_SIZE} a generated user can have"),
            );
            ok = false;
        }
        users = users.saturating_add(pop.users);
        items = items.saturating_add(pop.users.saturating_mul(largest));
    }
    if ok && users > MAX_USERS {
        cx.problem(
            "populations",
            format!("{users} users in all is more than the {MAX_USERS} a run can generate"),
        );
        ok = false;
    }
    if ok && items > MAX_ROSTER_ITEMS {
        cx.problem(
            "populations",
            format!(
                "up to {items} roster items in all (users × roster size) is more than the {MAX_ROSTER_ITEMS} a run can generate"
            ),
        );
        ok = false;
    }
    ok
}

fn link_rosters(s: &Scenario, seed: u64, members: &mut [Member], pops: &[usize]) {
    let n = members.len();
    let servers = members.iter().map(|m| m.server).max().map_or(0, |m| m + 1);
    let pools: Vec<(Vec<usize>, Vec<usize>)> = (0..servers)
        .map(|srv| {
            let (local, remote): (Vec<usize>, Vec<usize>) =
                (0..n).partition(|&v| members[v].server == srv);
            (local, remote)
        })
        .collect();
    // Who is whose contact, for the membership test: a roster's vector
    // would make each test as long as the roster.
    let mut linked: FxHashSet<(usize, usize)> = FxHashSet::default();
    for u in 0..n {
        let p = pops[u];
        let share = s.populations[p].remote_share;
        let mut stream = rng::stream(seed, &format!("population:{p}:rosters:{u}"));
        let (local, remote) = &pools[members[u].server];
        let mut attempts = 0;
        while members[u].contacts.len() < members[u].target && attempts < members[u].target * 8 {
            attempts += 1;
            let pool = if !remote.is_empty() && stream.random_bool(share) {
                remote
            } else {
                local
            };
            let v = pool[stream.random_range(0..pool.len())];
            if v == u
                || linked.contains(&(u.min(v), u.max(v)))
                || members[v].contacts.len() >= members[v].target
            {
                continue;
            }
            linked.insert((u.min(v), u.max(v)));
            members[u].contacts.push(v);
            members[v].contacts.push(u);
        }
    }
}
