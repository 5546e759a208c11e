//! XEP-0115 Entity Capabilities, as the server uses them to learn which
//! sessions want XEP-0310 annotations.
//!
//! A client's available presence carries `<c xmlns='http://jabber.org/protocol/caps'
//! hash='sha-1' node=N ver=V/>`. The first time the server sees a
//! verification string it asks that session for `disco#info` on node
//! `N#V`; it checks the answer against V with the algorithm of §5.1 (and
//! the duplicate checks of §5.4) and caches the features by V, so further
//! sessions with the same V are served from the cache. A session whose
//! features include `urn:xmpp:psa` gets annotations. Answers that do not
//! verify are not cached and enable nothing.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use jid::Jid;
use minidom::Element;
use sha1::{Digest, Sha1};

use crate::psa::NS_PSA;
use crate::server::{ConnId, DropReason, Event, Server};
use crate::stanza::Stanza;
use crate::xml::{self, NS_CLIENT, NS_DISCO_INFO};

pub const NS_CAPS: &str = "http://jabber.org/protocol/caps";
const NS_DATA: &str = "jabber:x:data";

/// The verification string S of XEP-0115 §5.1 for a disco#info result, or
/// `None` if the result has duplicate identities, features or forms (§5.4).
pub fn verification_string(info: &Element) -> Option<String> {
    let mut identities = Vec::new();
    let mut features = Vec::new();
    let mut forms = Vec::new();
    for child in info.children() {
        match (child.name(), child.ns().as_str()) {
            ("identity", NS_DISCO_INFO) => identities.push(format!(
                "{}/{}/{}/{}",
                child.attr("category").unwrap_or(""),
                child.attr("type").unwrap_or(""),
                child
                    .attr_ns(minidom::rxml::Namespace::xml(), "lang")
                    .unwrap_or(""),
                child.attr("name").unwrap_or(""),
            )),
            ("feature", NS_DISCO_INFO) => {
                features.push(child.attr("var").unwrap_or("").to_string())
            }
            ("x", NS_DATA) if child.attr("type") == Some("result") => {
                forms.push(form_string(child)?)
            }
            _ => {}
        }
    }
    let mut s = String::new();
    forms.sort_unstable();
    if forms.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    for part in [&mut identities, &mut features] {
        part.sort_unstable();
        if part.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
    }
    for item in identities.iter().chain(&features) {
        s.push_str(item);
        s.push('<');
    }
    for (_, form) in forms {
        s.push_str(&form);
    }
    Some(s)
}

/// An extended form's part of S, keyed by its FORM_TYPE for sorting.
fn form_string(form: &Element) -> Option<(String, String)> {
    let values = |field: &Element| -> Vec<String> {
        let mut v: Vec<String> = field
            .children()
            .filter(|c| c.name() == "value")
            .map(|c| c.text())
            .collect();
        v.sort_unstable();
        v
    };
    let mut form_type = None;
    let mut fields = Vec::new();
    for field in form.children().filter(|c| c.name() == "field") {
        let var = field.attr("var")?.to_string();
        if var == "FORM_TYPE" {
            form_type = values(field).into_iter().next();
        } else {
            fields.push((var, values(field)));
        }
    }
    let form_type = form_type?;
    fields.sort_unstable();
    let mut s = format!("{form_type}<");
    for (var, values) in fields {
        s.push_str(&var);
        s.push('<');
        for value in values {
            s.push_str(&value);
            s.push('<');
        }
    }
    Some((form_type, s))
}

/// The `ver` of a disco#info result: base64 of the SHA-1 of S.
pub fn ver(info: &Element) -> Option<String> {
    let s = verification_string(info)?;
    Some(base64::engine::general_purpose::STANDARD.encode(Sha1::digest(s.as_bytes())))
}

/// Features learned per verification string, and the queries in flight.
#[derive(Debug, Default)]
pub(crate) struct CapsCache {
    known: BTreeMap<String, BTreeSet<String>>,
    /// By iq id.
    pending: BTreeMap<String, Query>,
}

#[derive(Debug)]
struct Query {
    ver: String,
    /// The session asked, whose answer is awaited.
    asked: Jid,
    /// Sessions that advertised this `ver` meanwhile.
    waiting: Vec<ConnId>,
}

impl Server {
    /// Looks at the caps of an available presence from a session.
    pub(crate) fn caps_presence(&mut self, conn: ConnId, stanza: &Stanza) {
        let Some(c) = stanza.child("c", NS_CAPS) else {
            return;
        };
        let (Some("sha-1"), Some(node), Some(ver)) =
            (c.attr("hash"), c.attr("node"), c.attr("ver"))
        else {
            return;
        };
        if let Some(features) = self.caps.known.get(ver) {
            let psa = features.contains(NS_PSA);
            return self.set_psa(conn, psa);
        }
        if let Some(q) = self.caps.pending.values_mut().find(|q| q.ver == ver) {
            if !q.waiting.contains(&conn) {
                q.waiting.push(conn);
            }
            return;
        }
        let Some(asked) = self.session(conn).map(|s| s.full.clone()) else {
            return;
        };
        let id = format!("caps{}", self.next_id());
        let mut iq = xml::element("iq", NS_CLIENT, &[("type", "get"), ("id", &id)]);
        let node_ver = format!("{node}#{ver}");
        iq.append_child(xml::element("query", NS_DISCO_INFO, &[("node", &node_ver)]));
        let query = Stanza::new(Some(self.domain_jid.clone()), Some(asked.clone()), iq);
        self.caps.pending.insert(
            id,
            Query {
                ver: ver.to_string(),
                asked,
                waiting: vec![conn],
            },
        );
        self.send_to_client(conn, query);
    }

    /// An iq result or error addressed to the server: the answer to a caps
    /// query, if it is one. Returns the stanza if it is not.
    pub(crate) fn caps_answer(&mut self, stanza: Stanza) -> Option<Stanza> {
        let id = stanza.id()?;
        let from_asked = self
            .caps
            .pending
            .get(id)
            .is_some_and(|q| stanza.from.as_ref() == Some(&q.asked));
        if !from_asked {
            return Some(stanza);
        }
        let query = self.caps.pending.remove(id).expect("pending");
        let info = stanza
            .child("query", NS_DISCO_INFO)
            .filter(|_| stanza.type_() == Some("result"));
        let verified = info.filter(|i| ver(i).as_deref() == Some(query.ver.as_str()));
        let Some(info) = verified else {
            self.dropped(stanza, DropReason::CapsNotVerified);
            return None;
        };
        let features: BTreeSet<String> = info
            .children()
            .filter(|c| c.is("feature", NS_DISCO_INFO))
            .filter_map(|c| c.attr("var").map(str::to_string))
            .collect();
        let psa = features.contains(NS_PSA);
        self.caps.known.insert(query.ver, features);
        for conn in query.waiting {
            self.set_psa(conn, psa);
        }
        None
    }

    fn set_psa(&mut self, conn: ConnId, psa: bool) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        if session.psa == psa {
            return;
        }
        session.psa = psa;
        if psa {
            let jid = session.full.clone();
            self.event(Event::PsaEnabled { jid });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_fragment;

    fn info(xml_text: &str) -> Element {
        parse_fragment(xml_text, &[]).unwrap().remove(0)
    }

    #[test]
    fn simple_generation_example_of_xep_0115_5_2() {
        let result = info(
            "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='client' name='Exodus 0.9.1' type='pc'/>\
             <feature var='http://jabber.org/protocol/caps'/>\
             <feature var='http://jabber.org/protocol/disco#info'/>\
             <feature var='http://jabber.org/protocol/disco#items'/>\
             <feature var='http://jabber.org/protocol/muc'/></query>",
        );
        assert_eq!(
            verification_string(&result).unwrap(),
            "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
             http://jabber.org/protocol/muc<"
        );
        assert_eq!(ver(&result).unwrap(), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    #[test]
    fn complex_generation_example_of_xep_0115_5_3() {
        let result = info(
            "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\
             <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>\
             <feature var='http://jabber.org/protocol/disco#info'/>\
             <feature var='http://jabber.org/protocol/disco#items'/>\
             <feature var='http://jabber.org/protocol/muc'/>\
             <feature var='http://jabber.org/protocol/caps'/>\
             <x xmlns='jabber:x:data' type='result'>\
             <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
             <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>\
             <field var='os'><value>Mac</value></field>\
             <field var='os_version'><value>10.5.1</value></field>\
             <field var='software'><value>Psi</value></field>\
             <field var='software_version'><value>0.11</value></field></x></query>",
        );
        assert_eq!(ver(&result).unwrap(), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
    }

    #[test]
    fn duplicate_features_do_not_verify() {
        let result = info(
            "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='client' type='pc'/>\
             <feature var='urn:xmpp:psa'/><feature var='urn:xmpp:psa'/></query>",
        );
        assert_eq!(verification_string(&result), None);
    }
}
