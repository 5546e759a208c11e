//! XML helpers over `minidom`: namespace constants, attribute editing,
//! parsing of stanzas written without a stream context, and serialization.
//!
//! Stanzas on a real stream inherit the stream's default namespace
//! (`jabber:client`); a stanza handed to the engine outside a stream is parsed
//! as if it sat inside one, which is what [`parse_client_xml`] does.

use minidom::rxml::{Namespace, NcName};
use minidom::Element;

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
pub const NS_ROSTER: &str = "jabber:iq:roster";
pub const NS_ROSTERVER: &str = "urn:xmpp:features:rosterver";
pub const NS_PREAPPROVAL: &str = "urn:xmpp:features:pre-approval";
pub const NS_DELAY: &str = "urn:xmpp:delay";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const NS_PING: &str = "urn:xmpp:ping";

/// Error from parsing XML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XmlError {}

/// Turns a static or parsed attribute name into the name type minidom wants.
///
/// Returns `None` for strings that are not XML NCNames.
pub fn ncname(name: &str) -> Option<NcName> {
    NcName::try_from(name.to_string()).ok()
}

/// Sets (or replaces) an attribute without a namespace.
pub fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    let name = ncname(name).expect("attribute names used by the engine are valid NCNames");
    el.attrs_mut().insert(Namespace::NONE, name, value.into());
}

/// Removes an attribute without a namespace, if present.
pub fn remove_attr(el: &mut Element, name: &str) {
    el.attrs_mut().remove(&Namespace::NONE, name);
}

/// Builds an element with the given name, namespace and attributes.
pub fn element(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut el = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut el, k, *v);
    }
    el
}

/// Builds an element holding one text node.
pub fn text_element(name: &str, ns: &str, text: &str) -> Element {
    let mut el = Element::bare(name, ns);
    el.append_text(text);
    el
}

/// Parses one or more top-level elements written as they would appear inside
/// a client stream (default namespace `jabber:client`). Extra namespace
/// prefixes may be declared by the caller through `prefixes`.
pub fn parse_fragment(text: &str, prefixes: &[(&str, &str)]) -> Result<Vec<Element>, XmlError> {
    let mut wrapped = String::with_capacity(text.len() + 96);
    wrapped.push_str("<presim-fragment xmlns='");
    wrapped.push_str(NS_CLIENT);
    wrapped.push('\'');
    for (prefix, ns) in prefixes {
        wrapped.push_str(" xmlns:");
        wrapped.push_str(prefix);
        wrapped.push_str("='");
        wrapped.push_str(ns);
        wrapped.push('\'');
    }
    wrapped.push('>');
    wrapped.push_str(text);
    wrapped.push_str("</presim-fragment>");
    let root: Element = wrapped
        .parse()
        .map_err(|e: minidom::Error| XmlError(e.to_string()))?;
    Ok(root.children().cloned().collect())
}

/// Parses exactly one element in the client namespace.
pub fn parse_client_xml(text: &str) -> Result<Element, XmlError> {
    let mut elements = parse_fragment(text, &[])?;
    match elements.len() {
        1 => Ok(elements.pop().expect("length checked")),
        0 => Err(XmlError("no element found".into())),
        n => Err(XmlError(format!("expected one element, found {n}"))),
    }
}

/// Serializes an element; the `jabber:client` namespace of a top-level
/// stanza is implied by the stream and therefore left out.
pub fn to_string(el: &Element) -> String {
    let mut buf = Vec::with_capacity(128);
    el.write_to(&mut buf)
        .expect("writing to a Vec cannot fail and minidom elements are well-formed");
    let s = String::from_utf8(buf).expect("minidom writes UTF-8");
    let implied = " xmlns='jabber:client'";
    match s.find(implied) {
        Some(pos) if pos < s.find('>').unwrap_or(usize::MAX) => {
            let mut out = String::with_capacity(s.len());
            out.push_str(&s[..pos]);
            out.push_str(&s[pos + implied.len()..]);
            out
        }
        _ => s,
    }
}

/// The first child element with this name and namespace.
pub fn child<'a>(el: &'a Element, name: &str, ns: &str) -> Option<&'a Element> {
    el.children().find(|c| c.is(name, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_inherits_client_namespace() {
        let el = parse_client_xml("<presence><status>hi</status></presence>").unwrap();
        assert_eq!(el.ns(), NS_CLIENT);
        assert_eq!(el.children().next().unwrap().ns(), NS_CLIENT);
    }

    #[test]
    fn serialization_omits_implied_client_namespace() {
        let el =
            parse_client_xml("<presence type='unavailable'><x xmlns='urn:x'/></presence>").unwrap();
        assert_eq!(
            to_string(&el),
            "<presence type='unavailable'><x xmlns='urn:x'/></presence>"
        );
    }

    #[test]
    fn attributes_can_be_set_and_removed() {
        let mut el = element("iq", NS_CLIENT, &[("type", "get")]);
        set_attr(&mut el, "type", "set");
        set_attr(&mut el, "id", "a");
        remove_attr(&mut el, "id");
        assert_eq!(el.attr("type"), Some("set"));
        assert_eq!(el.attr("id"), None);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(parse_client_xml("<presence>").is_err());
        assert!(parse_client_xml("").is_err());
    }
}
