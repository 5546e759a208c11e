//! Faults: the operations on the network and its nodes that a scenario
//! schedules or draws at random (link down and up, partitions and their
//! healing, flapping, server and client crashes and restarts, client
//! network loss, latency spikes), each written to the trace as a `fault`
//! record with what was drawn for it, so that a run can be read without
//! running it again.
//!
//! A fault acts only on the network and on node state; servers and agents
//! learn of it the way they would of a real one (a broken stream detected,
//! a connection that does not come back).

use presim_engine::Server;

use super::{Ev, World};
use crate::model::{FaultAction, NodeRef, When};
use crate::net::{LinkId, LinkKind, NodeId};
use crate::trace::{Record, Shown};

impl World {
    fn fault_record(
        &mut self,
        fault: &str,
        target: &str,
        duration: Option<u64>,
        extra: Option<u64>,
    ) {
        self.stats.faults += 1;
        self.trace.record(
            self.now,
            &Record::Fault {
                fault,
                target,
                duration,
                extra_latency: extra,
            },
        );
    }

    pub(super) fn fault(&mut self, i: usize) {
        let action = self.faults[i].0.action.clone();
        self.apply_fault(i, &action);
        if let When::Random { every, until, .. } = &self.faults[i].0.when {
            let until = *until;
            let gap = every.clone().sample(&mut self.faults[i].1);
            if self.now + gap < until {
                self.queue.push(self.now + gap, Ev::Fault(i as u32));
            }
        }
    }

    fn draw(&mut self, i: usize, dist: &crate::dist::Dist) -> u64 {
        dist.sample(&mut self.faults[i].1)
    }

    fn link_name(&self, link: LinkId) -> String {
        self.net.link(link).name.clone()
    }

    fn apply_fault(&mut self, i: usize, action: &FaultAction) {
        match action {
            FaultAction::LinkDown(l) => {
                let link = LinkId::new(*l);
                self.fault_record("link-down", &self.link_name(link), None, None);
                self.link_down(link);
            }
            FaultAction::LinkUp(l) => {
                let link = LinkId::new(*l);
                self.fault_record("link-up", &self.link_name(link), None, None);
                self.link_up(link);
            }
            FaultAction::LinkOutage { link, duration } => {
                let link = LinkId::new(*link);
                let d = self.draw(i, duration);
                let name = self.link_name(link);
                let fault = Timed::new("link-outage", &name, Some(d));
                self.timed_fault(fault, |w| w.link_down(link), Ev::LinkUp(link));
            }
            FaultAction::Partition { nodes, duration } => {
                self.partition(i, nodes, duration.as_ref())
            }
            FaultAction::Heal => {
                self.fault_record("heal", "*", None, None);
                for p in 0..self.partitions.len() {
                    self.heal(p);
                }
            }
            FaultAction::Flap { link, .. } => {
                let link = LinkId::new(*link);
                self.fault_record("flapping", &self.link_name(link), None, None);
                self.flap(i, false);
            }
            FaultAction::ServerCrash {
                server,
                restart_after,
            } => {
                let d = restart_after.as_ref().map(|d| self.draw(i, d));
                let name = self.servers[*server].config.domain.clone();
                let fault = Timed::new("server-crash", &name, d);
                let restart = Ev::ServerRestart(*server as u32);
                self.timed_fault(fault, |w| w.server_crash(*server), restart);
            }
            FaultAction::ServerRestart(server) => self.server_restart(*server),
            FaultAction::ClientCrash {
                client,
                restart_after,
            } => {
                let d = restart_after.as_ref().map(|d| self.draw(i, d));
                let name = self.clients[*client].agent.name.clone();
                let fault = Timed::new("client-crash", &name, d);
                let restart = Ev::ClientRestart(*client as u32);
                self.timed_fault(fault, |w| w.client_crash(*client), restart);
            }
            FaultAction::ClientRestart(client) => self.client_restart(*client),
            FaultAction::ClientNetworkLoss { client, duration } => {
                let d = self.draw(i, duration);
                let link = self.clients[*client].link;
                let name = self.clients[*client].agent.name.clone();
                let fault = Timed::new("client-network-loss", &name, Some(d));
                self.timed_fault(fault, |w| w.link_down(link), Ev::LinkUp(link));
            }
            FaultAction::LatencySpike {
                link,
                extra,
                duration,
            } => {
                let link = LinkId::new(*link);
                let extra = self.draw(i, extra);
                let d = self.draw(i, duration);
                let name = self.link_name(link);
                let fault = Timed {
                    extra: Some(extra),
                    ..Timed::new("latency-spike", &name, Some(d))
                };
                let spike = |w: &mut Self| w.net.link_mut(link).extra_latency += extra;
                self.timed_fault(fault, spike, Ev::SpikeEnd(link, extra));
            }
        }
    }

    /// Records `fault` with the values drawn for it, applies it, and,
    /// when it lasts a drawn time, schedules `end` after that time. (The
    /// trace's order: the record, what applying it records, the end.)
    fn timed_fault(&mut self, fault: Timed, apply: impl FnOnce(&mut Self), end: Ev) {
        self.fault_record(fault.kind, fault.target, fault.duration, fault.extra);
        apply(self);
        if let Some(d) = fault.duration {
            self.queue.push(self.now + d, end);
        }
    }

    fn link_down(&mut self, link: LinkId) {
        let Some(lost) = self.net.down(link) else {
            return;
        };
        let l = self.net.link(link);
        self.trace.record(
            self.now,
            &Record::LinkState {
                link: &l.name,
                state: "down",
                lost: Some(lost.len()),
            },
        );
        let alive = self.ends_alive(link);
        self.broke(link, lost, alive);
    }

    /// Whether each end of a link is a running node that believes in the
    /// link's connection.
    fn ends_alive(&self, link: LinkId) -> [bool; 2] {
        let l = self.net.link(link);
        let mut alive = [false; 2];
        for (side, a) in alive.iter_mut().enumerate() {
            let node = l.ends[side];
            let running = match self.server_at(node) {
                Some(s) => self.servers[s].engine.is_some(),
                None => true,
            };
            let believes = match (l.kind, l.client()) {
                (LinkKind::C2s, Some(c)) if side == 0 => self.clients[c].conn.is_some(),
                (LinkKind::C2s, Some(c)) => {
                    let server = self.clients[c].server;
                    self.servers[server]
                        .by_client
                        .range((c, 0)..=(c, u32::MAX))
                        .next()
                        .is_some()
                }
                _ => l.believed[side],
            };
            *a = running && believes;
        }
        alive
    }

    pub(super) fn link_up(&mut self, link: LinkId) {
        if !self.net.up(link) {
            return;
        }
        self.trace.record(
            self.now,
            &Record::LinkState {
                link: &self.net.link(link).name,
                state: "up",
                lost: None,
            },
        );
    }

    fn partition(&mut self, i: usize, nodes: &[NodeRef], duration: Option<&crate::dist::Dist>) {
        let ids: Vec<NodeId> = nodes.iter().map(|r| self.node_id(*r)).collect();
        let d = duration.map(|d| self.draw(i, d));
        let names: Vec<&str> = ids.iter().map(|n| self.node_name(*n)).collect();
        let target = names.join(",");
        self.fault_record("partition", &target, d, None);
        let cut: Vec<LinkId> = self
            .net
            .cut(&ids)
            .into_iter()
            .filter(|l| self.net.link(*l).up)
            .collect();
        for &link in &cut {
            self.link_down(link);
        }
        self.partitions.push(cut);
        if let Some(d) = d {
            self.queue
                .push(self.now + d, Ev::Heal((self.partitions.len() - 1) as u32));
        }
    }

    pub(super) fn heal(&mut self, p: usize) {
        for link in std::mem::take(&mut self.partitions[p]) {
            self.link_up(link);
        }
    }

    fn node_id(&self, r: NodeRef) -> NodeId {
        match r {
            NodeRef::Server(i) => self.servers[i].node,
            NodeRef::Client(i) => self.clients[i].node,
            NodeRef::Muc(i) => NodeId::new(self.servers.len() + i),
        }
    }

    pub(super) fn flap(&mut self, i: usize, going_down: bool) {
        let FaultAction::Flap {
            link,
            mtbf,
            mttr,
            until,
        } = self.faults[i].0.action.clone()
        else {
            return;
        };
        let link = LinkId::new(link);
        if going_down {
            let d = self.draw(i, &mttr);
            self.fault_record("flap-down", &self.link_name(link), Some(d), None);
            self.link_down(link);
            self.queue.push(self.now + d, Ev::FlapUp(i as u32));
        } else {
            self.link_up(link);
            let up_for = self.draw(i, &mtbf);
            if self.now + up_for < until {
                self.queue.push(self.now + up_for, Ev::FlapDown(i as u32));
            }
        }
    }

    fn server_crash(&mut self, s: usize) {
        let Some(engine) = self.servers[s].engine.take() else {
            return;
        };
        self.servers[s].store = Some(engine.into_store());
        let node = self.servers[s].node;
        self.servers[s].conns.clear();
        self.servers[s].by_client.clear();
        self.servers[s].incarnation += 1;
        let links: Vec<LinkId> = self
            .net
            .links()
            .filter(|l| self.net.link(*l).ends.contains(&node))
            .collect();
        for link in links {
            let side = self.net.side_of(link, node);
            self.handshake[link.index()][side] = None;
            self.crash_break(link, side, "server-crash");
        }
        // Sessions vanish with the process: their presence is no longer true.
        let suffix = format!("@{}", self.servers[s].config.domain);
        let mut jids: Vec<compact_str::CompactString> = self
            .truth
            .keys()
            .filter(|j| j.split('/').next().is_some_and(|b| b.ends_with(&suffix)))
            .cloned()
            .collect();
        jids.sort_unstable();
        for jid in jids {
            self.set_truth(&jid, Shown::UNAVAILABLE);
        }
    }

    pub(super) fn server_restart(&mut self, s: usize) {
        let Some(store) = self.servers[s].store.take() else {
            return;
        };
        let name = self.servers[s].config.domain.clone();
        self.fault_record("server-restart", &name, None, None);
        self.servers[s].engine = Some(Server::with_store(self.servers[s].config.clone(), store));
    }

    fn client_crash(&mut self, c: usize) {
        let mut acts = std::mem::take(&mut self.acts);
        self.clients[c].agent.crash(&mut acts);
        self.apply(c, acts);
        let link = self.clients[c].link;
        if self.clients[c].conn.take().is_some() {
            self.crash_break(link, 0, "client-crash");
        }
    }

    /// The endpoint at `dead_side` of `link` crashed: its connection breaks
    /// without a close, and the other end learns of it by detection.
    fn crash_break(&mut self, link: LinkId, dead_side: usize, cause: &str) {
        let mut alive = self.ends_alive(link);
        alive[dead_side] = false;
        self.net.link_mut(link).believed[dead_side] = false;
        let lost = self.net.break_connection(link);
        if !lost.is_empty() || alive.contains(&true) {
            self.trace.record(
                self.now,
                &Record::ConnectionBroken {
                    link: &self.net.link(link).name,
                    lost: lost.len(),
                    cause,
                },
            );
        }
        self.broke(link, lost, alive);
    }

    pub(super) fn client_restart(&mut self, c: usize) {
        if !self.clients[c].agent.crashed {
            return;
        }
        let name = self.clients[c].agent.name.clone();
        self.fault_record("client-restart", &name, None, None);
        self.clients[c].agent.crashed = false;
        self.connect(c);
    }
}

/// A fault that lasts a drawn time (an outage, a crash with a restart, a
/// latency spike), as its `fault` record gives it.
struct Timed<'a> {
    kind: &'static str,
    target: &'a str,
    /// How long it lasts; `None`: until something else ends it.
    duration: Option<u64>,
    /// The latency a spike adds.
    extra: Option<u64>,
}

impl<'a> Timed<'a> {
    fn new(kind: &'static str, target: &'a str, duration: Option<u64>) -> Timed<'a> {
        Timed {
            kind,
            target,
            duration,
            extra: None,
        }
    }
}
