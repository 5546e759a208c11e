//! Service discovery (XEP-0030 disco#info and disco#items) for the server
//! and for accounts: identities and the features this engine implements.

use minidom::Element;

use crate::xml::{self, NS_DISCO_INFO, NS_DISCO_ITEMS};

/// Features the server advertises, sorted.
pub const SERVER_FEATURES: &[&str] = &[
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    crate::invisibility::NS_INVISIBILITY,
    crate::privacy::NS_PRIVACY,
    "jabber:iq:roster",
    "msgoffline",
    crate::blocking::NS_BLOCKING,
    "urn:xmpp:delay",
    "urn:xmpp:ping",
];

/// Features an account advertises on its bare JID, sorted.
pub const ACCOUNT_FEATURES: &[&str] = &[NS_DISCO_INFO, NS_DISCO_ITEMS];

fn info(category: &str, type_: &str, name: Option<&str>, features: &[&str]) -> Element {
    let mut q = Element::bare("query", NS_DISCO_INFO);
    let mut identity = xml::element(
        "identity",
        NS_DISCO_INFO,
        &[("category", category), ("type", type_)],
    );
    if let Some(name) = name {
        xml::set_attr(&mut identity, "name", name);
    }
    q.append_child(identity);
    for var in features {
        q.append_child(xml::element("feature", NS_DISCO_INFO, &[("var", var)]));
    }
    q
}

/// disco#info of the server (XEP-0030 §3.1); with annotations on, it also
/// advertises `urn:xmpp:psa` (XEP-0310).
pub fn server_info(psa: bool) -> Element {
    let mut features = SERVER_FEATURES.to_vec();
    if psa {
        features.push(crate::psa::NS_PSA);
        features.sort_unstable();
    }
    info("server", "im", Some("presim"), &features)
}

/// disco#info of an account's bare JID (XEP-0030 §3.1, category "account").
pub fn account_info() -> Element {
    info("account", "registered", None, ACCOUNT_FEATURES)
}

/// An empty disco#items result.
pub fn no_items() -> Element {
    Element::bare("query", NS_DISCO_ITEMS)
}
