//! Helpers for driving one engine server through its public inputs.

#![allow(dead_code)]

use presim_engine::caps;
use presim_engine::session::encode_plain;
use presim_engine::xml::{self, NS_BIND, NS_CLIENT, NS_ROSTER, NS_SASL};
use presim_engine::{ConnId, Domain, Event, Input, Output, Server, ServerConfig, Stanza, Time};

/// Makes `a@localhost` and `b@localhost` `both` contacts of each other.
pub fn befriend(h: &mut Harness, a: &str, b: &str) {
    for (node, contact) in [(a, b), (b, a)] {
        let account = h.server.store_mut().create(node, "pw");
        let item =
            presim_engine::roster::RosterItem::new(presim_engine::roster::Subscription::Both);
        let contact = presim_engine::jid::BareJid::new(&format!("{contact}@localhost")).unwrap();
        account.roster.items.insert(contact, item);
    }
}

pub const CAPS_NODE: &str = "https://presim.example/client";

/// disco#info of a client that asks for XEP-0310 annotations.
pub fn psa_info() -> String {
    "<query xmlns='http://jabber.org/protocol/disco#info'>\
     <identity category='client' type='pc' name='presim'/>\
     <feature var='http://jabber.org/protocol/disco#info'/>\
     <feature var='urn:xmpp:psa'/></query>"
        .to_string()
}

/// The XEP-0115 verification string of a disco#info `<query/>`.
pub fn ver_of(info: &str) -> String {
    let el = xml::parse_fragment(info, &[]).unwrap().remove(0);
    caps::ver(&el).unwrap()
}

/// An available presence advertising `info` in XEP-0115 caps.
pub fn caps_presence(info: &str) -> String {
    format!(
        "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{CAPS_NODE}' ver='{}'/></presence>",
        ver_of(info)
    )
}

/// The typed events among outputs.
pub fn events(out: &[Output]) -> Vec<&Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Reasons of the stanzas recorded as dropped among outputs.
pub fn drop_reasons(out: &[Output]) -> Vec<&'static str> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Dropped { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect()
}

pub struct Harness {
    pub server: Server,
    pub now: Time,
    /// Answer every `ConnectPeer` at once with `PeerConnected`, as if the
    /// stream opened instantly.
    pub auto_connect_peers: bool,
}

impl Harness {
    pub fn new(domain: &str, federation: bool) -> Harness {
        let mut config = ServerConfig::new(domain);
        config.federation = federation;
        Harness {
            server: Server::new(config),
            now: Time::from_secs(1),
            auto_connect_peers: false,
        }
    }

    pub fn with_config(config: ServerConfig) -> Harness {
        Harness {
            server: Server::new(config),
            now: Time::from_secs(1),
            auto_connect_peers: false,
        }
    }

    pub fn input(&mut self, input: Input) -> Vec<Output> {
        let mut out = self.server.handle(self.now, input);
        if self.auto_connect_peers {
            let mut i = 0;
            while i < out.len() {
                if let Output::ConnectPeer { domain } = &out[i] {
                    let domain = domain.clone();
                    let more = self
                        .server
                        .handle(self.now, Input::PeerConnected { domain });
                    out.extend(more);
                }
                i += 1;
            }
        }
        out
    }

    pub fn send(&mut self, conn: ConnId, xml_text: &str) -> Vec<Output> {
        let element = xml::parse_client_xml(xml_text).expect("test XML");
        self.input(Input::ClientElement { conn, element })
    }

    pub fn peer_sends(&mut self, xml_text: &str) -> Vec<Output> {
        let element = xml::parse_client_xml(xml_text).expect("test XML");
        let stanza = Stanza::from_element(element).expect("test addresses");
        let domain = stanza
            .from
            .as_ref()
            .map(|f| Domain::from(f.domain().as_str()))
            .unwrap_or_default();
        self.input(Input::PeerStanza { domain, stanza })
    }

    /// The stream with `domain` is established.
    pub fn peer_connected(&mut self, domain: &str) -> Vec<Output> {
        let domain = Domain::from(domain);
        self.input(Input::PeerConnected { domain })
    }

    /// The stream with `domain` closed, for `reason`.
    pub fn peer_closed(&mut self, domain: &str, reason: &str) -> Vec<Output> {
        let (domain, reason) = (Domain::from(domain), reason.to_string());
        self.input(Input::PeerClosed { domain, reason })
    }

    /// A stanza on the stream with `domain`, whatever its `from` says.
    pub fn peer_sends_on(&mut self, domain: &str, xml_text: &str) -> Vec<Output> {
        let element = xml::parse_client_xml(xml_text).expect("test XML");
        let stanza = Stanza::from_element(element).expect("test addresses");
        let domain = Domain::from(domain);
        self.input(Input::PeerStanza { domain, stanza })
    }

    /// Connects, authenticates and binds `node@domain/resource`.
    pub fn login(&mut self, conn: ConnId, node: &str, resource: &str) {
        self.input(Input::ClientOpened { conn });
        let mut auth = xml::element("auth", NS_SASL, &[("mechanism", "PLAIN")]);
        auth.append_text(encode_plain(node, "pw"));
        self.input(Input::ClientElement {
            conn,
            element: auth,
        });
        self.input(Input::ClientOpened { conn });
        let bind = format!("<iq type='set' id='b'><bind xmlns='{NS_BIND}'><resource>{resource}</resource></bind></iq>");
        let out = self.send(conn, &bind);
        assert!(
            render(&out).iter().any(|l| l.contains("<jid>")),
            "bind failed: {:?}",
            render(&out)
        );
    }

    /// Answers the server's caps disco#info query to `conn` among `out`,
    /// if there is one, with `info`.
    pub fn answer_caps_query(&mut self, conn: ConnId, out: &[Output], info: &str) -> Vec<Output> {
        let query = out.iter().find_map(|o| match o {
            Output::ToClient { conn: c, stanza }
                if *c == conn && stanza.child("query", xml::NS_DISCO_INFO).is_some() =>
            {
                Some(stanza.clone())
            }
            _ => None,
        });
        let Some(query) = query else {
            return Vec::new();
        };
        let answer = format!(
            "<iq type='result' id='{}' to='{}'>{info}</iq>",
            query.id().unwrap(),
            self.server.domain()
        );
        self.send(conn, &answer)
    }

    /// Logs in, fetches the roster (interested) and sends initial presence.
    pub fn online(&mut self, conn: ConnId, node: &str, resource: &str) {
        self.login(conn, node, resource);
        self.send(
            conn,
            &format!("<iq type='get' id='r'><query xmlns='{NS_ROSTER}'/></iq>"),
        );
        self.send(conn, "<presence/>");
    }
}

/// A SASL `<auth/>` element with the given mechanism and payload.
pub fn sasl_auth(mechanism: &str, payload: &str) -> presim_engine::minidom::Element {
    let mut auth = xml::element("auth", NS_SASL, &[("mechanism", mechanism)]);
    auth.append_text(payload);
    auth
}

/// Renders outputs as lines: `client cN <xml>`, `push cN <item/>`,
/// `peer DOMAIN <xml>`, `close cN <condition>`, `connect DOMAIN`,
/// `close-peer DOMAIN <condition>`, `timer AT TIMER`; events are left out.
pub fn render(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::ToClient { conn, stanza } => {
                let is_push = stanza.type_() == Some("set")
                    && stanza.payload().is("iq", NS_CLIENT)
                    && stanza.child("query", NS_ROSTER).is_some();
                if is_push {
                    let item = stanza
                        .child("query", NS_ROSTER)
                        .and_then(|q| q.children().next())
                        .expect("push item");
                    Some(format!("push {conn} {}", xml::to_string(item)))
                } else {
                    Some(format!("client {conn} {}", stanza.to_xml()))
                }
            }
            Output::ToPeer { domain, stanza } => Some(format!("peer {domain} {}", stanza.to_xml())),
            Output::CloseClient { conn, error } => Some(format!(
                "close {conn} {}",
                error.as_ref().map(|e| e.condition).unwrap_or("-")
            )),
            Output::ConnectPeer { domain } => Some(format!("connect {domain}")),
            Output::ClosePeer { domain, error } => Some(format!(
                "close-peer {domain} {}",
                error.as_ref().map(|e| e.condition).unwrap_or("-")
            )),
            Output::SetTimer { at, timer } => Some(format!("timer {at} {timer:?}")),
            Output::Event(_) => None,
        })
        .collect()
}
